/*
 * master.c - the master process.
 *
 * The master owns the configuration, the listening sockets and the shared
 * memory segment, and forks every other process from one role table.  It
 * does no request work: it sleeps in sigsuspend() and wakes for signals,
 * whose handlers only set flags, and for a 100 ms tick that drives the
 * watchdog, respawn throttles and drain deadlines.
 *
 * Peers: every child, through signals and its shm slot (child.h documents
 * the protocol).  Signals: TERM/INT graceful stop, QUIT fast stop, HUP
 * reload, USR1 reopen logs (passed on to the children), CHLD reap.
 * In shm it owns the header and slot identities; slot 0 is its own.
 * Under systemd it reports readiness, reloads and stops (notify.c).
 *
 * The mechanics of the children (fork, reap, respawn throttle, watchdog,
 * signalling a generation) are in proc.c, which shares the state in
 * master.h; this file is the cycle.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "core.h"
#include "listen.h"
#include "log.h"
#include "master.h"
#include "migrate.h"
#include "notify.h"
#include "proc.h"
#include "ratelimit.h"

#define HK_MASTER_TICK_MS      100

_Static_assert(2 * HK_CONF_MAX_CHILDREN < HK_SHM_SLOTS,
    "two generations and the master fit in the segment");

/* The sockets a configuration needs that are not open yet. */
struct hk_master_plan {
	struct hk_sockset ingest;	/* a whole new set, or the extra ones */
	int       new_addr;		/* ingest replaces the running set */
	int       new_admin;
	int       admin_fd;
};

static int  hk_master_one(const struct hk_conf *conf);
static int  hk_master_ingest_count(const struct hk_conf *conf);
static int  hk_master_delivery_count(const struct hk_conf *conf);
static void hk_master_signals(sigset_t *blocked);
static int  hk_master_daemonize(void);
static int  hk_master_setup(struct hk_conf *conf);
static int  hk_master_plan_sockets(const struct hk_conf *conf,
    const char *old_admin, struct hk_master_plan *pl);
static void hk_master_use_sockets(const struct hk_master_plan *pl);
static int  hk_master_slots_free(void);
static int  hk_master_children(const struct hk_conf *conf);
static void hk_master_claim_buckets(const struct hk_conf *conf);
static int  hk_master_write_pid(const char *path);
static void hk_master_tick(void);
static int  hk_master_start_generation(void);
static void hk_master_reload(void);
static void hk_master_begin_stop(int fast);
static void hk_master_retire_old(void);
static void hk_master_close_extra(void);
static void hk_master_cleanup(void);
static int  hk_master_serving(void);
static void hk_master_notify_ready(void);
static void hk_master_notify_reloading(uint64_t now_ns);

/* The role table: every child process the master runs. */
static const struct hk_role_def {
	const char       *title;
	int               role;
	int             (*count)(const struct hk_conf *conf);
	hk_child_main_fn  main;
} hk_roles[] = {
	{ "ingest",   HK_ROLE_INGEST,   hk_master_ingest_count,   hk_ingest_main },
	{ "delivery", HK_ROLE_DELIVERY, hk_master_delivery_count, hk_delivery_main },
	{ "stats",    HK_ROLE_STATS,    hk_master_one,            hk_stats_main },
};

static volatile sig_atomic_t hk_sig_term, hk_sig_quit, hk_sig_hup,
    hk_sig_usr1, hk_sig_chld, hk_sig_alrm;

/* Not static: proc.c works on the process table in it (master.h). */
struct hk_master hk_master;

/* READY=1 is owed to the service manager once the generation serves. */
static int hk_master_ready_owed;

int
hk_master_main(struct hk_conf *conf, int daemonize)
{
	struct hk_shm_slot *self;
	sigset_t blocked, none;
	uint64_t now;

	hk_master.conf = conf;
	hk_master.admin_fd = -1;
	hk_master.old_admin_fd = -1;
	hk_log_identity("master", 0);
	if (daemonize)
		hk_master_daemonize();
	hk_master_signals(&blocked);
	hk_master.pid = getpid();
	hk_notify_init();

	if (hk_master_setup(conf) != HK_OK) {
		if (hk_master.seg.hdr != NULL) {
			hk_segment_unlink(&hk_master.seg);
			hk_segment_detach(&hk_master.seg);
		}
		return 1;
	}
	if (daemonize && hk_master_write_pid(conf->pid_file) != HK_OK)
		return 1;
	hk_log_info("hookd %s starting: instance \"%s\", %d ingest workers on "
	    "%s, %d delivery workers, admin on %s", HK_VERSION, conf->instance,
	    conf->nworkers, conf->listen, conf->delivery.workers,
	    conf->admin.listen);
	hk_master_start_generation();
	hk_master_ready_owed = 1;
	hk_master_tick();
	self = hk_segment_slot(&hk_master.seg, 0);
	sigemptyset(&none);

	for (;;) {
		sigsuspend(&none);
		now = hk_clock_mono_ns();
		atomic_store_explicit(&self->heartbeat_ns, now,
		    memory_order_relaxed);

		if (hk_sig_chld) {
			hk_sig_chld = 0;
			hk_proc_reap(&hk_master);
		}
		if (hk_sig_quit) {
			hk_sig_quit = 0;
			hk_master_begin_stop(1);
		}
		if (hk_sig_term) {
			hk_sig_term = 0;
			hk_master_begin_stop(0);
		}
		if (hk_master.stopping) {
			if (hk_proc_alive(&hk_master, ~0u) == 0)
				break;
			if (now >= hk_master.stop_deadline_ns)
				hk_proc_signal_all(&hk_master, SIGKILL, ~0u, 0);
			hk_proc_watchdog(&hk_master, now);
			continue;
		}
		if (hk_sig_hup) {
			hk_sig_hup = 0;
			hk_master_reload();
			/* Ready again once the new generation serves, or at
			 * once when the reload failed and the old one goes on. */
			hk_master_ready_owed = 1;
		}
		if (hk_sig_usr1) {
			hk_sig_usr1 = 0;
			if (hk_log_reopen() == HK_OK)
				hk_log_info("log reopened");
			hk_proc_signal_all(&hk_master, SIGUSR1, ~0u, 0);
		}
		hk_sig_alrm = 0;
		hk_proc_respawn_due(&hk_master, now);
		hk_proc_watchdog(&hk_master, now);
		hk_master_retire_old();
		hk_master_notify_ready();
	}
	hk_log_info("stopped");
	hk_master_cleanup();
	return 0;
}

/* hk_master_setup - everything before the first fork. */
static int
hk_master_setup(struct hk_conf *conf)
{
	struct hk_master_plan plan;
	struct hk_shm_slot *s;
	char err[1024];

	if (hk_segment_create(&hk_master.seg, conf->instance, err, sizeof(err))
	    != HK_OK) {
		hk_log_error("%s", err);
		return HK_ERROR;
	}
	hk_master.generation = 1;
	atomic_store_explicit(&hk_master.seg.hdr->generation, 1,
	    memory_order_relaxed);
	s = hk_segment_slot(&hk_master.seg, 0);
	s->role = HK_ROLE_MASTER;
	s->start_us = hk_clock_real_us();
	s->generation = 1;
	atomic_store_explicit(&s->pid, (int32_t)getpid(), memory_order_relaxed);
	atomic_store_explicit(&s->state, HK_SLOT_RUNNING, memory_order_relaxed);
	hk_master.procs[0].state = HK_PROC_RUNNING;	/* never reused */
	hk_master_claim_buckets(conf);

	if (conf->postgres.migrate && hk_migrate_run(conf, 30) != HK_OK)
		return HK_ERROR;
	if (hk_master_plan_sockets(conf, NULL, &plan) != HK_OK)
		return HK_ERROR;
	hk_master_use_sockets(&plan);
	return HK_OK;
}

static void
hk_master_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:  hk_sig_term = 1; break;
	case SIGQUIT: hk_sig_quit = 1; break;
	case SIGHUP:  hk_sig_hup = 1; break;
	case SIGUSR1: hk_sig_usr1 = 1; break;
	case SIGCHLD: hk_sig_chld = 1; break;
	case SIGALRM: hk_sig_alrm = 1; break;
	}
}

static void
hk_master_signals(sigset_t *blocked)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
	    SIGCHLD, SIGALRM };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hk_master_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(blocked);
	for (size_t i = 0; i < HK_NELEM(sigs); i++) {
		if (sigaction(sigs[i], &sa, NULL) == -1)
			hk_fatal("sigaction(%d)", sigs[i]);
		sigaddset(blocked, sigs[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	/* Handlers run only inside sigsuspend(), never between our checks. */
	if (sigprocmask(SIG_BLOCK, blocked, NULL) == -1)
		hk_fatal("sigprocmask");
}

static int
hk_master_daemonize(void)
{
	int fd;

	switch (fork()) {
	case -1: hk_fatal("fork");
	case 0: break;
	default: _exit(0);
	}
	if (setsid() == -1)
		hk_fatal("setsid");
	switch (fork()) {
	case -1: hk_fatal("fork");
	case 0: break;
	default: _exit(0);
	}
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (hk_master.conf->log.file[0] != '\0')
			dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return HK_OK;
}

static int
hk_master_write_pid(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		hk_log_errno("open(\"%s\") for the pid file", path);
		return HK_ERROR;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		hk_log_errno("write(\"%s\")", path);
		close(fd);
		return HK_ERROR;
	}
	close(fd);
	hk_master.pid_written = 1;
	return HK_OK;
}

/* hk_master_sockets - make sure the ingest socket set fits conf. */
/*
 * hk_master_plan_sockets - open the listening sockets conf needs that are
 * not open yet, into pl, touching nothing that runs: a reload that cannot
 * have them changes nothing.  The ingest set is new when the address
 * changed, else the sockets beyond the running set's; the admin socket is
 * new when its address changed.
 */
static int
hk_master_plan_sockets(const struct hk_conf *conf, const char *old_admin,
    struct hk_master_plan *pl)
{
	struct hk_sockset *cur = &hk_master.ingest[hk_master.cur];
	struct hk_sockset *other = &hk_master.ingest[hk_master.cur ^ 1];
	char err[512];
	int fd, have;

	memset(pl, 0, sizeof(*pl));
	pl->admin_fd = -1;
	pl->new_addr = cur->n > 0 && strcmp(cur->addr, conf->listen) != 0;
	pl->new_admin = hk_master.admin_fd == -1 || old_admin == NULL
	    || strcmp(old_admin, conf->admin.listen) != 0;
	if ((pl->new_addr && other->n > 0)
	    || (pl->new_admin && hk_master.old_admin_fd != -1)) {
		hk_log_error("the generation before still listens on the "
		    "previous address; reload again once it has drained");
		return HK_ERROR;
	}
	snprintf(pl->ingest.addr, sizeof(pl->ingest.addr), "%s", conf->listen);
	have = pl->new_addr ? 0 : cur->n;
	while (have + pl->ingest.n < conf->nworkers
	    && pl->ingest.n < HK_MASTER_MAX_SOCKETS) {
		fd = hk_listen_open(conf->listen, 1, 4096, err, sizeof(err));
		if (fd == -1) {
			hk_log_error("%s", err);
			goto fail;
		}
		pl->ingest.fds[pl->ingest.n++] = fd;
	}
	if (pl->new_admin && (pl->admin_fd = hk_listen_open(
	    conf->admin.listen, 1, 128, err, sizeof(err))) == -1) {
		hk_log_error("admin: %s", err);
		goto fail;
	}
	return HK_OK;
fail:
	while (pl->ingest.n > 0)
		close(pl->ingest.fds[--pl->ingest.n]);
	return HK_ERROR;
}

/* hk_master_use_sockets - make the planned sockets the running ones. */
static void
hk_master_use_sockets(const struct hk_master_plan *pl)
{
	struct hk_sockset *cur;

	if (pl->new_addr)
		hk_master.cur ^= 1;	/* the old set closes once drained */
	cur = &hk_master.ingest[hk_master.cur];
	if (pl->new_addr || cur->n == 0)
		memcpy(cur->addr, pl->ingest.addr, sizeof(cur->addr));
	for (int i = 0; i < pl->ingest.n; i++)
		cur->fds[cur->n++] = pl->ingest.fds[i];
	if (pl->new_admin) {
		if (hk_master.admin_fd != -1) {
			hk_master.old_admin_fd = hk_master.admin_fd;
			hk_master.old_admin_gen = hk_master.generation;
		}
		hk_master.admin_fd = pl->admin_fd;
	}
}

/*
 * hk_master_slots_free - process slots a new generation can have: free
 * ones, and those of the running generation waiting to be respawned
 * (retiring it frees them).  Draining generations keep theirs.
 */
static int
hk_master_slots_free(void)
{
	int n = 0;

	for (unsigned i = 1; i < HK_SHM_SLOTS; i++)
		if (hk_master.procs[i].state != HK_PROC_RUNNING
		    && hk_master.procs[i].state != HK_PROC_RETIRED)
			n++;
	return n;
}

/* hk_master_children - processes one generation of conf has. */
static int
hk_master_children(const struct hk_conf *conf)
{
	int n = 0;

	for (size_t r = 0; r < HK_NELEM(hk_roles); r++)
		n += hk_roles[r].count(conf);
	return n;
}

/*
 * hk_master_claim_buckets - give every rate-limited source a bucket in shm.
 * Only the master claims, before it forks, so workers merely look buckets
 * up by name and a bucket keeps its state across reloads.
 */
static void
hk_master_claim_buckets(const struct hk_conf *conf)
{
	struct hk_shm_bucket *b = hk_segment_buckets(&hk_master.seg);

	for (int s = 0; s < conf->nsources; s++)
		if (conf->sources[s].rate_per_s > 0
		    && hk_ratelimit_claim(b, HK_SHM_BUCKETS,
		    conf->sources[s].name) == NULL)
			hk_log_error("no rate-limit bucket left for source "
			    "\"%s\"", conf->sources[s].name);
}

static void
hk_master_tick(void)
{
	struct itimerval it = {
		{ 0, HK_MASTER_TICK_MS * 1000 }, { 0, HK_MASTER_TICK_MS * 1000 }
	};

	if (setitimer(ITIMER_REAL, &it, NULL) == -1)
		hk_fatal("setitimer");
}

static int
hk_master_one(const struct hk_conf *conf)
{
	return 1;
}

static int
hk_master_ingest_count(const struct hk_conf *conf)
{
	return conf->nworkers;
}

static int
hk_master_delivery_count(const struct hk_conf *conf)
{
	return conf->delivery.workers;
}

/* hk_master_start_generation - spawn every child of the role table. */
static int
hk_master_start_generation(void)
{
	const struct hk_conf *conf = hk_master.conf;
	struct hk_proc *p;
	int slot, n;

	for (size_t r = 0; r < HK_NELEM(hk_roles); r++) {
		n = hk_roles[r].count(conf);
		for (int i = 0; i < n; i++) {
			if ((slot = hk_proc_free_slot(&hk_master)) == -1) {
				hk_log_error("no free process slot for %s %d "
				    "(all %u in use)", hk_roles[r].title, i,
				    HK_SHM_SLOTS);
				return HK_ERROR;
			}
			p = &hk_master.procs[slot];
			memset(p, 0, sizeof(*p));
			p->role = hk_roles[r].role;
			p->index = i;
			p->generation = hk_master.generation;
			p->main = hk_roles[r].main;
			p->fd = -1;
			if (p->role == HK_ROLE_INGEST)
				p->fd = hk_master.ingest[hk_master.cur].fds[i];
			else if (p->role == HK_ROLE_STATS)
				p->fd = hk_master.admin_fd;
			hk_proc_spawn(&hk_master, (unsigned)slot);
		}
	}
	return HK_OK;
}

/* hk_master_retire_old - close what the drained old generation used. */
static void
hk_master_retire_old(void)
{
	struct hk_sockset *old = &hk_master.ingest[hk_master.cur ^ 1];

	if (hk_proc_alive(&hk_master, hk_master.generation - 1) > 0)
		return;
	for (int i = 0; i < old->n; i++)
		close(old->fds[i]);
	old->n = 0;
	if (hk_master.old_admin_fd != -1) {
		close(hk_master.old_admin_fd);
		hk_master.old_admin_fd = -1;
	}
}

/*
 * hk_master_close_extra - after a reload that lowered workers, the sockets
 * past the new count: no new worker will accept on them and the old ones
 * have stopped, so they leave the SO_REUSEPORT group now rather than have
 * the kernel queue connections on them until the old generation is gone.
 */
static void
hk_master_close_extra(void)
{
	struct hk_sockset *cur = &hk_master.ingest[hk_master.cur];

	while (cur->n > hk_master.conf->nworkers)
		close(cur->fds[--cur->n]);
}

/* hk_master_reload - HUP: a new generation on a new configuration. */
static void
hk_master_reload(void)
{
	struct hk_conf *conf, *old = hk_master.conf;
	struct hk_master_plan plan;
	uint64_t now = hk_clock_mono_ns();
	char err[1024];
	int need;

	hk_log_info("reloading %s", old->file);
	hk_master_notify_reloading(now);
	if ((conf = hk_conf_load(old->file, err, sizeof(err))) == NULL) {
		hk_log_error("reload failed, keeping the running configuration: "
		    "%s", err);
		return;
	}
	if (strcmp(conf->instance, old->instance) != 0) {
		hk_log_error("reload failed: \"instance\" cannot change on "
		    "reload (%s -> %s); restart instead", old->instance,
		    conf->instance);
		hk_conf_free(conf);
		return;
	}
	if ((need = hk_master_children(conf)) > hk_master_slots_free()) {
		hk_log_error("reload failed, keeping the running configuration: "
		    "the new generation needs %d process slots and %d are "
		    "free (a generation before is still draining?)", need,
		    hk_master_slots_free());
		hk_conf_free(conf);
		return;
	}
	if (hk_master_plan_sockets(conf, old->admin.listen, &plan) != HK_OK) {
		hk_log_error("reload failed, keeping the running configuration");
		hk_conf_free(conf);
		return;
	}
	hk_master.conf = conf;
	hk_master_use_sockets(&plan);
	if (conf->postgres.migrate)
		hk_migrate_run(conf, 5);
	hk_master_claim_buckets(conf);

	/* Retire the running generation, then start the new one. */
	hk_proc_retire(&hk_master, now + (uint64_t)(old->drain_timeout_ms + 2000)
	    * 1000000u);
	hk_master.generation++;
	atomic_store_explicit(&hk_master.seg.hdr->generation,
	    hk_master.generation, memory_order_relaxed);
	atomic_fetch_add_explicit(&hk_master.seg.hdr->reloads, 1,
	    memory_order_relaxed);
	hk_log_setup(conf->log.level, conf->log.format, conf->log.file);
	hk_master_start_generation();
	hk_master_close_extra();
	hk_conf_free(old);
	hk_log_info("reloaded: generation %u", hk_master.generation);
}

static void
hk_master_begin_stop(int fast)
{
	uint64_t now = hk_clock_mono_ns();
	uint64_t grace = fast ? 2000 : (uint64_t)hk_master.conf->drain_timeout_ms
	    + 2000;

	if (hk_master.stopping >= (fast ? 2 : 1))
		return;
	hk_log_info("%s stop", fast ? "fast" : "graceful");
	hk_notify_send("STOPPING=1");
	hk_master_ready_owed = 0;
	hk_master.stopping = fast ? 2 : 1;
	hk_master.stop_deadline_ns = now + grace * 1000000u;
	hk_proc_cancel_respawns(&hk_master);
	hk_proc_signal_all(&hk_master, fast ? SIGQUIT : SIGTERM, ~0u,
	    hk_master.stop_deadline_ns);
}

/*
 * hk_master_serving - does every child of the running generation serve?
 * A child reports HK_SLOT_RUNNING once its event loop is set up on the
 * socket the master opened before forking it.
 */
static int
hk_master_serving(void)
{
	const struct hk_proc *p;
	struct hk_shm_slot *s;
	int n = 0;

	for (unsigned i = 1; i < HK_SHM_SLOTS; i++) {
		p = &hk_master.procs[i];
		if (p->generation != hk_master.generation
		    || p->state == HK_PROC_FREE || p->state == HK_PROC_RETIRED)
			continue;
		if (p->state != HK_PROC_RUNNING)
			return 0;
		s = hk_segment_slot(&hk_master.seg, i);
		/* Relaxed: the state is the whole message; nothing else
		 * the child wrote is read on the strength of it. */
		if (atomic_load_explicit(&s->state, memory_order_relaxed)
		    != HK_SLOT_RUNNING
		    || atomic_load_explicit(&s->pid, memory_order_relaxed)
		    != (int32_t)p->pid)
			return 0;
		n++;
	}
	return n == hk_master_children(hk_master.conf);
}

/* hk_master_notify_ready - READY=1 when owed and the generation serves. */
static void
hk_master_notify_ready(void)
{
	char msg[128];

	if (!hk_master_ready_owed || !hk_master_serving())
		return;
	hk_master_ready_owed = 0;
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=serving, generation %u",
	    hk_master.generation);
	hk_notify_send(msg);
}

/* hk_master_notify_reloading - RELOADING=1, stamped as systemd asks. */
static void
hk_master_notify_reloading(uint64_t now_ns)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)(now_ns / 1000u));
	hk_notify_send(msg);
}

static void
hk_master_cleanup(void)
{
	if (hk_master.pid_written)
		unlink(hk_master.conf->pid_file);
	hk_segment_unlink(&hk_master.seg);
	hk_segment_detach(&hk_master.seg);
	hk_conf_free(hk_master.conf);
	hk_notify_close();
}
