/*
 * redisev.c - hiredis on libevent, one write per turn (see redisev.h).
 *
 * hiredis asks for a write event each time a command is queued.  The stock
 * adapter arms EV_WRITE on the socket for it, one epoll_ctl(2), and since
 * its events are not persistent, another when the event fires, and two
 * more for the read event around every reply.  Waiting for writability
 * buys nothing when the socket has room, which is almost always: here a
 * queued command only activates the flush, an event without a descriptor
 * that libevent runs after the callbacks already due in this turn and
 * before it waits again.  Every command queued in the turn goes out with
 * one redisAsyncHandleWrite, one write(2), and none is left in the buffer
 * while the loop sleeps.
 *
 *   command queued --> flush active --> write(2) --> all out: done
 *                                                \-> short: EV_WRITE armed
 *                                                    until the buffer drains
 *
 * EV_WRITE on the socket is armed only while it means something: while
 * connect(2) is in progress, since hiredis learns that it finished from
 * the first write event, and after a short write, until everything is out.
 * The read event is persistent and stays added for the life of the
 * context.
 *
 * hiredis may free the context, and these events with it, inside any call
 * into it: an I/O error, or a reply callback that frees it.  Nothing here
 * touches the context or its events after redisAsyncHandleRead or
 * redisAsyncHandleWrite returns.
 */
#include <stdlib.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "core.h"
#include "redisev.h"

/* The events of one context; ac->ev.data. */
struct hk_redisev {
	redisAsyncContext *ac;
	struct event      *rev;		/* EV_READ, persistent */
	struct event      *wev;		/* EV_WRITE, persistent, see above */
	struct event      *fev;		/* the flush: activated, no descriptor */
	int                reading;	/* rev is added */
	int                writing;	/* wev is added */
};

/*
 * The context being written.  From inside redisAsyncHandleWrite, hiredis
 * asks for a write event only when the write was short: that request must
 * arm EV_WRITE, where a flush would spin on EAGAIN.  A static, not a member,
 * because the context may be gone when the write returns.
 */
static struct hk_redisev *hk_redisev_writer;

static void
hk_redisev_write(struct hk_redisev *e)
{
	hk_redisev_writer = e;
	redisAsyncHandleWrite(e->ac);
	hk_redisev_writer = NULL;
}

static void
hk_redisev_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_redisev *e = arg;

	redisAsyncHandleRead(e->ac);
}

static void
hk_redisev_write_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_redisev_write(arg);
}

static void
hk_redisev_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_redisev *e = arg;

	/* A full socket: the write event sends everything once it drains. */
	if (e->writing)
		return;
	hk_redisev_write(e);
}

static void
hk_redisev_add_read(void *arg)
{
	struct hk_redisev *e = arg;

	if (!e->reading && event_add(e->rev, NULL) == 0)
		e->reading = 1;
}

static void
hk_redisev_del_read(void *arg)
{
	struct hk_redisev *e = arg;

	if (e->reading) {
		event_del(e->rev);
		e->reading = 0;
	}
}

static void
hk_redisev_add_write(void *arg)
{
	struct hk_redisev *e = arg;

	if (e->writing)
		return;
	if (e == hk_redisev_writer || !(e->ac->c.flags & REDIS_CONNECTED)) {
		if (event_add(e->wev, NULL) == 0)
			e->writing = 1;
		return;
	}
	/* Already active: the commands queued since join the same write. */
	event_active(e->fev, EV_WRITE, 1);
}

static void
hk_redisev_del_write(void *arg)
{
	struct hk_redisev *e = arg;

	if (e->writing) {
		event_del(e->wev);
		e->writing = 0;
	}
}

/*
 * hk_redisev_cleanup - the context is being freed.  The hooks go too, so
 * that whatever hiredis still calls on its way out reaches no freed memory.
 */
static void
hk_redisev_cleanup(void *arg)
{
	struct hk_redisev *e = arg;
	redisAsyncContext *ac = e->ac;

	if (e->rev != NULL)
		event_free(e->rev);
	if (e->wev != NULL)
		event_free(e->wev);
	if (e->fev != NULL)
		event_free(e->fev);
	free(e);
	ac->ev.data = NULL;
	ac->ev.addRead = ac->ev.delRead = NULL;
	ac->ev.addWrite = ac->ev.delWrite = NULL;
	ac->ev.cleanup = NULL;
}

int
hk_redisev_attach(redisAsyncContext *ac, struct event_base *base)
{
	struct hk_redisev *e;
	int fd = ac->c.fd;

	if (ac->ev.data != NULL || (e = calloc(1, sizeof(*e))) == NULL)
		return HK_ERROR;
	e->ac = ac;
	e->rev = event_new(base, fd, EV_READ | EV_PERSIST, hk_redisev_read_cb,
	    e);
	e->wev = event_new(base, fd, EV_WRITE | EV_PERSIST,
	    hk_redisev_write_cb, e);
	e->fev = event_new(base, -1, 0, hk_redisev_flush_cb, e);
	ac->ev.data = e;
	ac->ev.cleanup = hk_redisev_cleanup;
	if (e->rev == NULL || e->wev == NULL || e->fev == NULL
	    || event_add(e->rev, NULL) == -1 || event_add(e->wev, NULL) == -1) {
		hk_redisev_cleanup(e);
		return HK_ERROR;
	}
	/* Both armed: the write event tells hiredis that connect(2) is done. */
	e->reading = e->writing = 1;
	ac->ev.addRead = hk_redisev_add_read;
	ac->ev.delRead = hk_redisev_del_read;
	ac->ev.addWrite = hk_redisev_add_write;
	ac->ev.delWrite = hk_redisev_del_write;
	return HK_OK;
}
