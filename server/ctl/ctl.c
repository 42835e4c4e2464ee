/*
 * ctl.c - what every hookctl command shares: the configuration, the
 * segment, and a few ways of saying time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "core.h"
#include "ctl.h"
#include "segment.h"

/* hk_ctl_conf - load the configuration, once, for commands that need it. */
const struct hk_conf *
hk_ctl_conf(struct hk_ctl *ctl)
{
	char err[1024];

	if (ctl->conf != NULL)
		return ctl->conf;
	if (ctl->conf_file == NULL) {
		fprintf(stderr, "hookctl: this command needs the configuration: "
		    "give -c FILE (no %s)\n", HK_CTL_DEFAULT_CONF);
		return NULL;
	}
	if ((ctl->conf = hk_conf_load(ctl->conf_file, err, sizeof(err))) == NULL)
		fprintf(stderr, "hookctl: %s\n", err);
	return ctl->conf;
}

/* hk_ctl_attach - map the segment of the instance named by -i or -c. */
int
hk_ctl_attach(struct hk_ctl *ctl)
{
	char err[512];

	if (ctl->seg.hdr != NULL)
		return HK_OK;
	if (ctl->instance == NULL) {
		if (ctl->conf_file != NULL && hk_ctl_conf(ctl) == NULL)
			return HK_ERROR;
		ctl->instance = ctl->conf ? ctl->conf->instance : "hookd";
	}
	if (hk_segment_attach(&ctl->seg, ctl->instance, err, sizeof(err))
	    != HK_OK) {
		fprintf(stderr, "hookctl: %s\n", err);
		return HK_ERROR;
	}
	return HK_OK;
}

int
hk_ctl_follow(struct hk_ctl *ctl)
{
	struct hk_segment seg;
	char err[512];

	if (ctl->seg.hdr == NULL || hk_segment_replaced(&ctl->seg) != 1)
		return 0;
	/* The old mapping stays until the new one is there. */
	if (hk_segment_attach(&seg, ctl->instance, err, sizeof(err)) != HK_OK)
		return 0;
	hk_segment_detach(&ctl->seg);
	ctl->seg = seg;
	return 1;
}

void
hk_ctl_duration(char *buf, size_t len, uint64_t us)
{
	uint64_t s = us / 1000000u;

	if (us < 1000)
		snprintf(buf, len, "%lluus", (unsigned long long)us);
	else if (us < 1000000)
		snprintf(buf, len, "%.1fms", (double)us / 1000.0);
	else if (s < 60)
		snprintf(buf, len, "%.1fs", (double)us / 1e6);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
		    (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
		    (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
		    (unsigned long long)(s % 86400 / 3600));
}

/* hk_ctl_sleep_us - sleep, resuming after signals that did not kill us. */
void
hk_ctl_sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000u),
	    (long)(us % 1000000u) * 1000 };

	while (nanosleep(&ts, &ts) == -1)
		;
}
