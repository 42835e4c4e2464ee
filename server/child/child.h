/*
 * child.h - what the master hands a child, and the plumbing every child
 * role shares: heartbeat, signals, parent death, slot state.
 *
 * The parent-child protocol, in one place:
 *   - The master fills the child's shm slot (role, index, generation, start
 *     time, heartbeat = now, state STARTING) before fork, then its pid.
 *   - The child beats its heartbeat every HK_CHILD_BEAT_MS from a timer on
 *     its event loop, so a stuck loop stops the beat and the master's
 *     watchdog kills it after watchdog_ms.
 *   - The child sets RUNNING once it serves, DRAINING when told to stop.
 *   - A child starts with TERM, QUIT and USR1 blocked and INT and HUP
 *     ignored; hk_child_loop_setup unblocks the three once its handlers
 *     are in place, so a signal sent while it starts is never fatal.
 *   - SIGTERM: finish in-flight work within drain_timeout_ms, then exit 0.
 *     SIGQUIT: exit now.  SIGUSR1: reopen the log file.
 *   - Exit status HK_EXIT_FATAL_CONFIG (2): the configuration cannot work
 *     for this role; the master does not respawn it.
 *   - When the master dies, the kernel sends the child SIGTERM
 *     (PR_SET_PDEATHSIG), so no orphan holds the sockets.
 */
#ifndef HK_CHILD_H
#define HK_CHILD_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "segment.h"

#define HK_CHILD_BEAT_MS 200

struct event_base;
struct event;

struct hk_child {
	const struct hk_conf *conf;
	struct hk_segment    *seg;
	struct hk_shm_slot   *slot;
	unsigned  slot_index;
	int       role;			/* enum hk_role */
	int       index;		/* within the role */
	unsigned  generation;
	int       fd;			/* ingest: its socket; stats: admin; else -1 */
	pid_t     master_pid;		/* to notice the master's death */

	/* Set by hk_child_loop_setup. */
	struct event_base *base;
	struct event *beat_ev;
	struct event *sig_ev[3];
	void    (*on_stop)(struct hk_child *c, int fast);
	void     *arg;			/* the role's own state */
	int       stopping;
	uint64_t  stop_deadline_ns;
};

/* Entry function of a role; returns the exit status. */
typedef int (*hk_child_main_fn)(struct hk_child *c);

/*
 * The entry function of each child role, named in the master's role table;
 * each lives in the folder of its role.
 */
int  hk_ingest_main(struct hk_child *c);	/* worker/ingest/ingest.c */
int  hk_delivery_main(struct hk_child *c);	/* worker/delivery/delivery.c */
int  hk_stats_main(struct hk_child *c);		/* server/stats/stats.c */

/*
 * Install the heartbeat timer and the TERM/QUIT/USR1 handlers on base.
 * on_stop(c, fast) is called once on TERM (fast 0) or QUIT (fast 1): the
 * role stops taking work and calls event_base_loopexit when done.
 */
int  hk_child_loop_setup(struct hk_child *c, struct event_base *base,
    void (*on_stop)(struct hk_child *c, int fast));
void hk_child_loop_teardown(struct hk_child *c);
void hk_child_set_state(struct hk_child *c, int state);
void hk_child_beat(struct hk_child *c);

/* Milliseconds left until the drain deadline (0 when passed). */
uint64_t hk_child_drain_left_ms(const struct hk_child *c);

#endif
