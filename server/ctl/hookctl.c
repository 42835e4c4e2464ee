/*
 * hookctl.c - look at a running hookd and act on it.
 *
 * hookctl maps the instance's shared-memory segment read-only; it needs no
 * daemon of its own and never writes to the segment.  Commands that need
 * the configuration (send) or the database (events, event, replay, dlq,
 * storage, purge, destinations, disable, enable) read the configuration
 * file.
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
	  "events [--source S] [--status STATUS] [--type T] [--limit N] "
	  "[--json]" },
	{ "event",  hk_ctl_event,  "event ID [--json]" },
	{ "replay", hk_ctl_replay, "replay ID... [--destination D]\n"
	  "  replay --since T [--until T] [--destination D] "
	  "[--status dead|failed|all]\n"
	  "         [--source S] [--type T] [--dry-run] [--json]" },
	{ "destinations", hk_ctl_destinations, "destinations [--json]" },
	{ "disable", hk_ctl_disable, "disable DESTINATION [--reason TEXT]" },
	{ "enable", hk_ctl_enable, "enable DESTINATION" },
	{ "dlq",    hk_ctl_dlq,
	  "dlq [--destination D] [--limit N] [--json]" },
	{ "storage", hk_ctl_storage, "storage [--json]" },
	{ "purge",  hk_ctl_purge,
	  "purge --before TIME|now [--dry-run] [--json]" },
};

static void
hk_ctl_usage(FILE *fp)
{
	fprintf(fp, "usage: hookctl [-c FILE | -i INSTANCE] COMMAND [ARGS]\n"
	    "commands:\n");
	for (size_t i = 0; i < HK_NELEM(hk_ctl_cmds); i++)
		fprintf(fp, "  %s\n", hk_ctl_cmds[i].usage);
}

int
main(int argc, char **argv)
{
	struct hk_ctl ctl;
	int ch, rc;

	memset(&ctl, 0, sizeof(ctl));
	/* --help as well as -h: people type it first. */
	if (argc > 1 && (strcmp(argv[1], "--help") == 0
	    || strcmp(argv[1], "help") == 0)) {
		hk_ctl_usage(stdout);
		return 0;
	}
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
