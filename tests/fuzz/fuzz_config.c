/*
 * fuzz_config.c - the configuration loader on any file contents.
 *
 * The input is written to a memfd and loaded through /proc/self/fd/N, the
 * way a file on disk would be.  A load that fails must say why; one that
 * succeeds is freed (LeakSanitizer checks both paths).  No HOOKD_*
 * variable may reach the loader, or the same input would load differently
 * on another machine.  Inputs with @include are skipped: libconfig would
 * read whatever file they name, and exits the process on a read error,
 * which is libconfig's behaviour on files only the operator writes.
 *
 * libconfig 1.5 leaks its string buffers when a parse fails after a string
 * (config_destroy() does not reach them); those leaks are suppressed by
 * function name below.  libconfig is built without frame pointers, so the
 * names are only on the stack with the slow unwinder: it costs this target
 * most of its speed, and keeps every other leak of the loader reported.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "core.h"

extern char **environ;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

static int  fuzz_fd = -1;
static char fuzz_path[64];

const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig_yylex\nleak:libconfig_yyparse\n";
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char name[256];
	size_t n;

	/* Unsetting changes environ, so look again from the start. */
	for (int i = 0; environ[i] != NULL; ) {
		if (strncmp(environ[i], "HOOKD_", 6) != 0) {
			i++;
			continue;
		}
		n = strcspn(environ[i], "=");
		snprintf(name, sizeof(name), "%.*s", (int)n, environ[i]);
		unsetenv(name);
		i = 0;
	}
	if ((fuzz_fd = memfd_create("hookd-fuzz.conf", MFD_CLOEXEC)) == -1) {
		perror("fuzz_config: memfd_create");
		exit(1);
	}
	snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
	return 0;
}

static void
fuzz_check(const struct hk_conf *conf)
{
	int ok = conf->nworkers >= 1 && conf->pid_file != NULL
	    && conf->instance != NULL && conf->listen != NULL;

	for (int i = 0; ok && i < conf->nsources; i++)
		ok = conf->sources[i].name != NULL
		    && hk_conf_source(conf, conf->sources[i].name,
		    strlen(conf->sources[i].name)) == &conf->sources[i];
	for (int i = 0; ok && i < conf->ndests; i++)
		for (int j = 0; ok && j < conf->dests[i].nsources; j++)
			ok = hk_conf_source(conf, conf->dests[i].sources[j],
			    strlen(conf->dests[i].sources[j])) != NULL;
	if (!ok) {
		fprintf(stderr, "fuzz_config: a loaded configuration is "
		    "inconsistent\n");
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hk_conf *conf;
	char err[1024];

	if (size > 65536 || memmem(data, size, "@include", 8) != NULL)
		return -1;
	if (ftruncate(fuzz_fd, 0) == -1
	    || pwrite(fuzz_fd, data, size, 0) != (ssize_t)size) {
		perror("fuzz_config: writing the memfd");
		exit(1);
	}
	err[0] = '\0';
	if ((conf = hk_conf_load(fuzz_path, err, sizeof(err))) == NULL) {
		if (err[0] == '\0') {
			fprintf(stderr, "fuzz_config: NULL without an error\n");
			abort();
		}
		return 0;
	}
	fuzz_check(conf);
	hk_conf_free(conf);
	return 0;
}
