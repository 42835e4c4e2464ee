/*
 * ctl.h - hookctl's commands and what they share.
 */
#ifndef HK_CTL_H
#define HK_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "segment.h"

/* Command results: the process exit status. */
#define HK_CTL_OK     0
#define HK_CTL_FAIL   1
#define HK_CTL_USAGE  2

struct hk_ctl {
	const char     *conf_file;
	const char     *instance;
	struct hk_conf *conf;
	struct hk_segment seg;
};

const struct hk_conf *hk_ctl_conf(struct hk_ctl *ctl);
int  hk_ctl_attach(struct hk_ctl *ctl);
/* A restarted hookd has a new segment: map it instead.  1 when it did. */
int  hk_ctl_follow(struct hk_ctl *ctl);
void hk_ctl_duration(char *buf, size_t len, uint64_t us);

/* ctl_status.c */
int hk_ctl_status(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_stats.c: the command, and snapshot helpers for top */
struct hk_snapshot;
struct hk_snap_group;
int  hk_ctl_stats(struct hk_ctl *ctl, int argc, char **argv);
struct hk_snapshot *hk_ctl_snapshot(struct hk_ctl *ctl);
const struct hk_snap_group *hk_ctl_snap_find(const struct hk_snapshot *s,
    int scope, int kind);
void hk_ctl_stats_head(const struct hk_snapshot *s, uint64_t now_us);
void hk_ctl_stats_stages(const struct hk_snap_group *g, unsigned w1,
    unsigned w2);
void hk_ctl_sleep_us(uint64_t us);

/* ctl_top.c */
int hk_ctl_top(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_tail.c */
int hk_ctl_tail(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_send.c */
int hk_ctl_send(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_db.c */
int hk_ctl_events(struct hk_ctl *ctl, int argc, char **argv);
int hk_ctl_event(struct hk_ctl *ctl, int argc, char **argv);
int hk_ctl_replay(struct hk_ctl *ctl, int argc, char **argv);
int hk_ctl_dlq(struct hk_ctl *ctl, int argc, char **argv);

#endif
