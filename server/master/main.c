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
	    "usage: hookd [-dtv] [-c FILE]\n"
	    "  -c FILE  configuration file (default " HK_DEFAULT_CONF ")\n"
	    "  -t       check the configuration and exit\n"
	    "  -d       run in the background, writing pid_file\n"
	    "  -v       print the version and exit\n");
}

int
main(int argc, char **argv)
{
	const char *file = HK_DEFAULT_CONF;
	struct hk_conf *conf;
	char err[1024];
	int ch, test = 0, daemonize = 0;

	while ((ch = getopt(argc, argv, "c:dhtv")) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'd': daemonize = 1; break;
		case 't': test = 1; break;
		case 'v': printf("hookd %s\n", HK_VERSION); return 0;
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
