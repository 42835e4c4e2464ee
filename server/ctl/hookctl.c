/*
 * hookctl.c - look at a running hookd and act on it.
 *
 * hookctl maps the instance's shared-memory segment read-only; it needs no
 * daemon of its own and never writes to the segment.  Commands that need
 * the configuration (send) or the database (events, event, replay, dlq)
 * read the configuration file.
 *
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "core.h"
#include "ctl.h"
#include "segment.h"

#define HK_CTL_DEFAULT_CONF "/etc/hookd/hookd.conf"

static const struct hk_ctl_cmd {
	const char *name;
	int       (*fn)(struct hk_ctl *ctl, int argc, char **argv);
	const char *usage;
} hk_ctl_cmds[] = {
	{ "status", hk_ctl_status, "status [--json]" },
	{ "stats",  hk_ctl_stats,  "stats [--json] [--follow [SECONDS]]" },
	{ "top",    hk_ctl_top,    "top [-n COUNT] [-d SECONDS]" },
	{ "tail",   hk_ctl_tail,
	  "tail [--slow MS] [--source S] [--json] [-n COUNT]" },
	{ "send",   hk_ctl_send,
	  "send SOURCE [--data JSON|@FILE] [--header 'Name: value']... "
	  "[--url URL] [--content-type T] [-v]" },
	{ "events", hk_ctl_events,
	  "events [--source S] [--status STATUS] [--limit N] [--json]" },
	{ "event",  hk_ctl_event,  "event ID [--json]" },
	{ "replay", hk_ctl_replay, "replay ID... [--destination D]" },
	{ "dlq",    hk_ctl_dlq,
	  "dlq [--destination D] [--limit N] [--json]" },
};

static void
hk_ctl_usage(FILE *fp)
{
	fprintf(fp, "usage: hookctl [-c FILE | -i INSTANCE] COMMAND [ARGS]\n"
	    "commands:\n");
	for (size_t i = 0; i < HK_NELEM(hk_ctl_cmds); i++)
		fprintf(fp, "  %s\n", hk_ctl_cmds[i].usage);
}

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

int
main(int argc, char **argv)
{
	struct hk_ctl ctl;
	int ch, rc;

	memset(&ctl, 0, sizeof(ctl));
	while ((ch = getopt(argc, argv, "+c:i:h")) != -1) {
		switch (ch) {
		case 'c': ctl.conf_file = optarg; break;
		case 'i': ctl.instance = optarg; break;
		case 'h': hk_ctl_usage(stdout); return 0;
		default:  hk_ctl_usage(stderr); return 2;
		}
	}
	if (ctl.conf_file == NULL && ctl.instance == NULL
	    && access(HK_CTL_DEFAULT_CONF, R_OK) == 0)
		ctl.conf_file = HK_CTL_DEFAULT_CONF;
	if ((ctl.instance == NULL || ctl.conf_file == NULL)
	    && getenv("HOOKD_INSTANCE") != NULL && ctl.instance == NULL)
		ctl.instance = getenv("HOOKD_INSTANCE");
	if (optind >= argc) {
		hk_ctl_usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < HK_NELEM(hk_ctl_cmds); i++) {
		if (strcmp(argv[optind], hk_ctl_cmds[i].name) != 0)
			continue;
		optind++;
		rc = hk_ctl_cmds[i].fn(&ctl, argc - optind + 1,
		    argv + optind - 1);
		if (rc == HK_CTL_USAGE)
			fprintf(stderr, "usage: hookctl %s\n",
			    hk_ctl_cmds[i].usage);
		hk_segment_detach(&ctl.seg);
		hk_conf_free(ctl.conf);
		return rc;
	}
	fprintf(stderr, "hookctl: unknown command \"%s\"\n", argv[optind]);
	hk_ctl_usage(stderr);
	return 2;
}
