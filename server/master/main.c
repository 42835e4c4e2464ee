/*
 * main.c - hookd's command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "master.h"

#define HK_DEFAULT_CONF "/etc/hookd/hookd.conf"

static void
hk_main_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: hookd [-dhtv] [-c FILE]\n"
	    "  -c FILE  configuration file (default " HK_DEFAULT_CONF ")\n"
	    "  -t       check the configuration and exit\n"
	    "  -d       run in the background, writing pid_file\n"
	    "  -v       print the version and build commit and exit "
	    "(also --version)\n"
	    "  -h       print this help and exit (also --help)\n");
}

static void
hk_main_version(void)
{
	printf("hookd %s (commit %s)\n", HK_VERSION, hk_version_commit);
}

int
main(int argc, char **argv)
{
	const char *file = HK_DEFAULT_CONF;
	struct hk_conf *conf;
	char err[1024];
	int ch, test = 0, daemonize = 0;

	/* The two long options people try first; getopt() knows no others. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			hk_main_version();
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0) {
			hk_main_usage(stdout);
			return 0;
		}
	}
	while ((ch = getopt(argc, argv, "c:dhtv")) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'd': daemonize = 1; break;
		case 't': test = 1; break;
		case 'v': hk_main_version(); return 0;
		case 'h': hk_main_usage(stdout); return 0;
		default:  hk_main_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		hk_main_usage(stderr);
		return 2;
	}
	if ((conf = hk_conf_load(file, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (test) {
		printf("%s: ok\n", file);
		hk_conf_free(conf);
		return 0;
	}
	hk_log_setup(conf->log.level, conf->log.format, conf->log.file);
	return hk_master_main(conf, daemonize);
}
