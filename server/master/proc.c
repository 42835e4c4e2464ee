/*
 * proc.c - the master's children: fork one into its slot, reap it, throttle
 * its respawn, kill it when its heartbeat stops, signal a generation.
 *
 * master.c decides when (the role table, the tick, reloads and stops); this
 * file is the how, on m->procs.  It runs in the master, except
 * hk_proc_child, which runs in a freshly forked child until the child
 * becomes its role.
 *
 * Slots: a process keeps its slot for life and a respawned one takes the
 * same slot, so its ring continues where the dead one stopped.  A reload
 * starts a new generation in free slots while the old one drains, which is
 * why the segment has room for two generations.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "core.h"
#include "log.h"
#include "master.h"
#include "proc.h"

#define HK_PROC_QUICK_DEATH_NS  (1000ull * 1000000u)	/* died within 1 s */
#define HK_PROC_MAX_THROTTLE_MS 30000

/* hk_proc_child - in the forked child: become the role, never return. */
static void
hk_proc_child(struct hk_master *m, unsigned slot)
{
	struct hk_proc *p = &m->procs[slot];
	struct hk_child c;
	sigset_t mask;
	int rc;

	/*
	 * Children handle signals through their event loops.  TERM, QUIT and
	 * USR1 stay blocked (as the master had them) until the role's loop
	 * has its handlers (hk_child_loop_setup): one sent while the child
	 * starts waits for them instead of killing it with the default action.
	 */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* Ctrl-C or a hangup in a terminal signals the whole process group:
	 * only the master acts on them, and stops the children gracefully. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);

	hk_log_identity(hk_segment_role_name(p->role), p->index);

	/* Keep only the descriptor this child owns, so that when the master
	 * closes a socket it is really closed. */
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < m->ingest[s].n; i++)
			if (m->ingest[s].fds[i] != p->fd)
				close(m->ingest[s].fds[i]);
	if (m->admin_fd != p->fd && m->admin_fd != -1)
		close(m->admin_fd);
	if (m->old_admin_fd != p->fd && m->old_admin_fd != -1)
		close(m->old_admin_fd);

	memset(&c, 0, sizeof(c));
	c.conf = m->conf;
	c.seg = &m->seg;
	c.slot = hk_segment_slot(&m->seg, slot);
	c.slot_index = slot;
	c.role = p->role;
	c.index = p->index;
	c.generation = p->generation;
	c.fd = p->fd;
	c.master_pid = m->pid;
	atomic_store_explicit(&c.slot->pid, (int32_t)getpid(),
	    memory_order_relaxed);

	rc = p->main(&c);
	exit(rc);
}

/* hk_proc_spawn - fork the process of slot; HK_ERROR if fork failed. */
int
hk_proc_spawn(struct hk_master *m, unsigned slot)
{
	struct hk_proc *p = &m->procs[slot];
	struct hk_shm_slot *s = hk_segment_slot(&m->seg, slot);
	uint64_t now = hk_clock_mono_ns();
	pid_t pid;

	/* The identity is written before fork, so the child never races
	 * the master for these fields. */
	s->role = (uint8_t)p->role;
	s->index = (uint16_t)p->index;
	s->generation = p->generation;
	s->start_us = hk_clock_real_us();
	s->spawn_mono_ns = now;
	atomic_store_explicit(&s->heartbeat_ns, now, memory_order_relaxed);
	atomic_store_explicit(&s->state, HK_SLOT_STARTING, memory_order_relaxed);

	pid = fork();
	if (pid == -1) {
		hk_log_errno("fork() for %s %d", hk_segment_role_name(p->role),
		    p->index);
		p->state = HK_PROC_RESPAWN;
		p->respawn_ns = now + 1000000000ull;
		atomic_store_explicit(&s->state, HK_SLOT_DEAD,
		    memory_order_relaxed);
		return HK_ERROR;
	}
	if (pid == 0)
		hk_proc_child(m, slot);

	p->pid = pid;
	p->state = HK_PROC_RUNNING;
	p->spawn_ns = now;
	p->kill_ns = 0;
	atomic_store_explicit(&s->pid, (int32_t)pid, memory_order_relaxed);
	hk_log_info("started %s %d pid %d slot %u generation %u",
	    hk_segment_role_name(p->role), p->index, (int)pid, slot,
	    p->generation);
	return HK_OK;
}

int
hk_proc_free_slot(struct hk_master *m)
{
	/* Slot 0 is the master's own. */
	for (unsigned i = 1; i < HK_SHM_SLOTS; i++)
		if (m->procs[i].state == HK_PROC_FREE)
			return (int)i;
	return -1;
}

/* hk_proc_throttle - how long to wait before respawning a dead child. */
static uint64_t
hk_proc_throttle(struct hk_proc *p, uint64_t now)
{
	uint64_t ms;

	if (now - p->spawn_ns > HK_PROC_QUICK_DEATH_NS) {
		p->fails = 0;
		return 0;
	}
	p->fails++;
	ms = 100ull << HK_MIN(p->fails - 1, 10);
	if (ms > HK_PROC_MAX_THROTTLE_MS)
		ms = HK_PROC_MAX_THROTTLE_MS;
	if (p->fails >= 3)
		hk_log_warn("%s %d died %d times within a second of start; "
		    "respawning in %llu ms (perhaps the configuration is "
		    "wrong or a dependency is missing)",
		    hk_segment_role_name(p->role), p->index, p->fails,
		    (unsigned long long)ms);
	return ms * 1000000u;
}

static void
hk_proc_log_exit(struct hk_master *m, const struct hk_proc *p, int status)
{
	const char *role = hk_segment_role_name(p->role);

	if (WIFEXITED(status))
		hk_log(WEXITSTATUS(status) == 0 ? HK_LOG_INFO : HK_LOG_ERROR,
		    "%s %d pid %d exited with status %d", role, p->index,
		    (int)p->pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		hk_log(p->state == HK_PROC_RETIRED || m->stopping
		    ? HK_LOG_WARN : HK_LOG_ERROR,
		    "%s %d pid %d killed by signal %d%s", role, p->index,
		    (int)p->pid, WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
}

/* hk_proc_reap - collect dead children and decide what becomes of them. */
void
hk_proc_reap(struct hk_master *m)
{
	struct hk_shm_slot *s;
	struct hk_proc *p;
	uint64_t now;
	unsigned i;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 1; i < HK_SHM_SLOTS; i++)
			if (m->procs[i].pid == pid
			    && (m->procs[i].state == HK_PROC_RUNNING
			    || m->procs[i].state == HK_PROC_RETIRED))
				break;
		if (i == HK_SHM_SLOTS)
			continue;
		p = &m->procs[i];
		s = hk_segment_slot(&m->seg, i);
		hk_proc_log_exit(m, p, status);
		s->exit_status = status;
		atomic_store_explicit(&s->state, HK_SLOT_DEAD,
		    memory_order_relaxed);
		p->pid = 0;
		now = hk_clock_mono_ns();

		if (p->state == HK_PROC_RETIRED || m->stopping) {
			p->state = HK_PROC_FREE;
		} else if (WIFEXITED(status)
		    && WEXITSTATUS(status) == HK_EXIT_FATAL_CONFIG) {
			hk_log_error("%s %d reported a fatal configuration "
			    "error; not respawning it (fix the configuration "
			    "and reload)", hk_segment_role_name(p->role),
			    p->index);
			p->state = HK_PROC_HALTED;
		} else {
			p->state = HK_PROC_RESPAWN;
			p->respawn_ns = now + hk_proc_throttle(p, now);
		}
	}
}

void
hk_proc_respawn_due(struct hk_master *m, uint64_t now)
{
	for (unsigned i = 1; i < HK_SHM_SLOTS; i++) {
		struct hk_proc *p = &m->procs[i];

		if (p->state != HK_PROC_RESPAWN || now < p->respawn_ns)
			continue;
		atomic_fetch_add_explicit(
		    &hk_segment_slot(&m->seg, i)->restarts, 1,
		    memory_order_relaxed);
		hk_proc_spawn(m, i);
	}
}

/* hk_proc_watchdog - kill children whose heartbeat stopped. */
void
hk_proc_watchdog(struct hk_master *m, uint64_t now)
{
	uint64_t limit = (uint64_t)m->conf->watchdog_ms * 1000000u;
	uint64_t beat;

	for (unsigned i = 1; i < HK_SHM_SLOTS; i++) {
		struct hk_proc *p = &m->procs[i];

		if (p->state != HK_PROC_RUNNING && p->state != HK_PROC_RETIRED)
			continue;
		if (p->kill_ns != 0 && now >= p->kill_ns) {
			hk_log_warn("%s %d pid %d did not exit in time, killing",
			    hk_segment_role_name(p->role), p->index,
			    (int)p->pid);
			kill(p->pid, SIGKILL);
			p->kill_ns = 0;
			continue;
		}
		beat = atomic_load_explicit(
		    &hk_segment_slot(&m->seg, i)->heartbeat_ns,
		    memory_order_relaxed);
		if (now > beat && now - beat > limit) {
			hk_log_error("%s %d pid %d: no heartbeat for %llu ms "
			    "(watchdog %d ms), killing it",
			    hk_segment_role_name(p->role), p->index,
			    (int)p->pid,
			    (unsigned long long)((now - beat) / 1000000u),
			    m->conf->watchdog_ms);
			kill(p->pid, SIGKILL);
			/* Do not kill again before it is reaped. */
			atomic_store_explicit(
			    &hk_segment_slot(&m->seg, i)->heartbeat_ns,
			    now, memory_order_relaxed);
		}
	}
}

/* hk_proc_signal_all - signal the children of generations <= gen. */
void
hk_proc_signal_all(struct hk_master *m, int sig, unsigned gen, uint64_t kill_ns)
{
	for (unsigned i = 1; i < HK_SHM_SLOTS; i++) {
		struct hk_proc *p = &m->procs[i];

		if (p->generation > gen)
			continue;
		if (p->state == HK_PROC_RUNNING || p->state == HK_PROC_RETIRED) {
			kill(p->pid, sig);
			if (kill_ns != 0 && (p->kill_ns == 0 || kill_ns < p->kill_ns))
				p->kill_ns = kill_ns;
		}
	}
}

/* hk_proc_alive - children of generations <= max_gen not yet reaped. */
int
hk_proc_alive(struct hk_master *m, unsigned max_gen)
{
	int n = 0;

	for (unsigned i = 1; i < HK_SHM_SLOTS; i++) {
		const struct hk_proc *p = &m->procs[i];

		if ((p->state == HK_PROC_RUNNING || p->state == HK_PROC_RETIRED)
		    && p->generation <= max_gen)
			n++;
	}
	return n;
}

/* hk_proc_retire - reload: the running generation drains, nothing respawns. */
void
hk_proc_retire(struct hk_master *m, uint64_t kill_ns)
{
	for (unsigned i = 1; i < HK_SHM_SLOTS; i++) {
		struct hk_proc *p = &m->procs[i];

		if (p->state == HK_PROC_RUNNING) {
			p->state = HK_PROC_RETIRED;
			kill(p->pid, SIGTERM);
			p->kill_ns = kill_ns;
		} else if (p->state != HK_PROC_RETIRED) {
			p->state = HK_PROC_FREE;	/* pending respawns */
		}
	}
}

/* hk_proc_cancel_respawns - stop: pending respawns are cancelled. */
void
hk_proc_cancel_respawns(struct hk_master *m)
{
	for (unsigned i = 1; i < HK_SHM_SLOTS; i++)
		if (m->procs[i].state == HK_PROC_RESPAWN
		    || m->procs[i].state == HK_PROC_HALTED)
			m->procs[i].state = HK_PROC_FREE;
}
