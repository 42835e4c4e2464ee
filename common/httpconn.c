/*
 * httpconn.c - HTTP/1.1 connections of the ingest and admin ports (see
 * httpconn.h).
 *
 * Buffers: a connection reads into one buffer that grows to what the
 * request needs (head, then Content-Length or the chunked body decoded in
 * place) and never past the configured limits; the answer is formatted into
 * a second buffer and written at once, which for a few hundred bytes almost
 * always completes in one write(2).
 *
 * A refused request whose body was not read ends in a lingering close: the
 * answer is written, our side shut down, and what the client still sends is
 * read and dropped for a while, so that closing with unread data does not
 * reset the connection before the client has read the answer.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "fmt.h"
#include "httpconn.h"
#include "jsonscan.h"
#include "log.h"

#define HK_HTTPCONN_INITIAL_BUF  4096
#define HK_HTTPCONN_LINGER_MS    2000
#define HK_HTTPCONN_IDLE_GRACE_MS 1000	/* for idle connections at a stop */
#define HK_HTTPCONN_MSG_MAX      512	/* bytes of an error message kept */
#define HK_HTTPCONN_CODE_MAX     40	/* and of its code */
#define HK_HTTPCONN_LINGERING    (HK_HTTPCONN_CLOSING + 1)
#define HK_HTTPCONN_DEAD         (HK_HTTPCONN_CLOSING + 2)	/* close on next turn */

static void hk_httpconn_read_cb(evutil_socket_t fd, short what, void *arg);
static void hk_httpconn_write_cb(evutil_socket_t fd, short what, void *arg);
static void hk_httpconn_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void hk_httpconn_process(struct hk_httpconn *c);
static void hk_httpconn_close(struct hk_httpconn *c);

/* The server of a connection; one per worker process. */
static struct hk_httpconn_server *hk_httpconn_srv;

static void
hk_httpconn_arm(struct hk_httpconn *c, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(c->tev, &tv);
}

/*
 * hk_httpconn_rebase - the buffer moved to p, and so does everything the
 * parsed head points at, the target, header names and values, and the
 * body.  Offsets, not the old pointers, which may no longer be used.
 */
static void
hk_httpconn_rebase(struct hk_httpconn *c, char *p, const size_t *off)
{
	struct hk_http_req *r = &c->req;
	int i;

	r->target = p + off[0];
	for (i = 0; i < r->nheaders; i++) {
		r->headers[i].name = p + off[1 + 2 * i];
		r->headers[i].value = p + off[2 + 2 * i];
	}
	c->body = p + off[1 + 2 * HK_HTTP_MAX_HEADERS];
}

static int
hk_httpconn_grow(struct hk_httpconn *c, size_t need)
{
	struct hk_http_req *r = &c->req;
	size_t cap = c->in_cap, off[2 + 2 * HK_HTTP_MAX_HEADERS];
	int i, parsed = c->body != NULL;
	char *p;

	if (need <= cap)
		return HK_OK;
	while (cap < need)
		cap *= 2;
	/* The head is parsed once the body pointer is set. */
	if (parsed) {
		off[0] = (size_t)(r->target - c->in);
		for (i = 0; i < r->nheaders; i++) {
			off[1 + 2 * i] = (size_t)(r->headers[i].name - c->in);
			off[2 + 2 * i] = (size_t)(r->headers[i].value - c->in);
		}
		off[1 + 2 * HK_HTTP_MAX_HEADERS] = (size_t)(c->body - c->in);
	}
	if ((p = realloc(c->in, cap)) == NULL) {
		hk_log_error("out of memory for a %zu-byte request buffer", cap);
		return HK_ERROR;
	}
	if (parsed)
		hk_httpconn_rebase(c, p, off);
	c->in = p;
	c->in_cap = cap;
	return HK_OK;
}

static void
hk_httpconn_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct hk_httpconn_server *srv = arg;
	struct hk_httpconn *c;
	int fd, one = 1;

	while (srv->nconns < srv->max_conns) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR
			    && errno != ECONNABORTED)
				hk_log_errno("accept4()");
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL
		    || (c->in = malloc(HK_HTTPCONN_INITIAL_BUF)) == NULL) {
			hk_log_error("out of memory for a connection");
			free(c);
			close(fd);
			return;
		}
		c->fd = fd;
		c->in_cap = HK_HTTPCONN_INITIAL_BUF;
		c->phase = HK_HTTPCONN_IDLE;
		c->t_start_ns = hk_clock_mono_ns();
		c->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST,
		    hk_httpconn_read_cb, c);
		c->wev = event_new(srv->base, fd, EV_WRITE | EV_PERSIST,
		    hk_httpconn_write_cb, c);
		c->tev = evtimer_new(srv->base, hk_httpconn_timeout_cb, c);
		TAILQ_INSERT_TAIL(&srv->conns, c, link);
		srv->nconns++;
		event_add(c->rev, NULL);
		hk_httpconn_arm(c, srv->header_timeout_ms);
	}
	/* At the limit: stop accepting, so new connections wait in the
	 * kernel's queue instead of costing us memory. */
	if (srv->accepting) {
		event_del(srv->accept_ev);
		srv->accepting = 0;
	}
}

int
hk_httpconn_server_init(struct hk_httpconn_server *srv, struct event_base *base,
    int fd, const struct hk_httpconn_ops *ops)
{
	srv->base = base;
	srv->fd = fd;
	srv->ops = ops;
	TAILQ_INIT(&srv->conns);
	srv->accept_ev = event_new(base, fd, EV_READ | EV_PERSIST,
	    hk_httpconn_accept_cb, srv);
	if (srv->accept_ev == NULL || event_add(srv->accept_ev, NULL) == -1)
		return HK_ERROR;
	srv->accepting = 1;
	hk_httpconn_srv = srv;
	return HK_OK;
}

void
hk_httpconn_server_stop(struct hk_httpconn_server *srv)
{
	struct hk_httpconn *c, *next;

	if (srv->accept_ev != NULL) {
		event_free(srv->accept_ev);
		srv->accept_ev = NULL;
	}
	/* Only this process's copy: a socket the next generation shares
	 * stays open, and one that nobody will accept on again leaves the
	 * SO_REUSEPORT group once the master closes its copy too, instead
	 * of having connections queued on it until this process exits. */
	if (srv->fd != -1) {
		close(srv->fd);
		srv->fd = -1;
	}
	srv->accepting = 0;
	srv->max_conns = 0;		/* draining: every answer closes */
	/*
	 * An idle kept-alive connection is not closed at once: its client may
	 * be sending a request right now, and closing under it would reset
	 * that request.  It gets a grace to send one, which is answered with
	 * "Connection: close"; one that stays silent is closed after it.
	 */
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->phase == HK_HTTPCONN_IDLE && c->in_len == 0)
			hk_httpconn_arm(c, HK_HTTPCONN_IDLE_GRACE_MS);
	}
}

void
hk_httpconn_server_free(struct hk_httpconn_server *srv)
{
	struct hk_httpconn *c;

	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		hk_httpconn_close(c);
	if (srv->accept_ev != NULL)
		event_free(srv->accept_ev);
	srv->accept_ev = NULL;
}

static void
hk_httpconn_close(struct hk_httpconn *c)
{
	struct hk_httpconn_server *srv = hk_httpconn_srv;

	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->tev);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	if (!srv->accepting && srv->accept_ev != NULL
	    && srv->nconns < srv->max_conns) {
		event_add(srv->accept_ev, NULL);
		srv->accepting = 1;
	}
}

/*
 * hk_httpconn_close_soon - close from the event loop, not from under a caller
 * that still holds the connection (hk_httpconn_respond's callers do).
 */
static void
hk_httpconn_close_soon(struct hk_httpconn *c)
{
	struct timeval zero = { 0, 0 };

	c->phase = HK_HTTPCONN_DEAD;
	event_del(c->rev);
	event_del(c->wev);
	evtimer_add(c->tev, &zero);
}

/* hk_httpconn_linger - stop writing, drain what the client still sends. */
static void
hk_httpconn_linger(struct hk_httpconn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->phase = HK_HTTPCONN_LINGERING;
	event_del(c->wev);
	event_add(c->rev, NULL);
	hk_httpconn_arm(c, HK_HTTPCONN_LINGER_MS);
}

/* hk_httpconn_next - the answer is out: next request, or close. */
static void
hk_httpconn_next(struct hk_httpconn *c)
{
	size_t consumed;

	if (c->phase == HK_HTTPCONN_CLOSING) {
		hk_httpconn_linger(c);
		return;
	}
	if (hk_httpconn_srv->max_conns == 0) {
		/* Draining: the answer said "Connection: close"; a request the
		 * client pipelined behind it is drained, not reset. */
		hk_httpconn_linger(c);
		return;
	}
	if (!c->keep_alive) {
		hk_httpconn_close_soon(c);
		return;
	}
	consumed = c->req.head_len + (c->req.chunked ? c->chunk.raw
	    : (size_t)HK_MAX(c->req.content_length, 0));
	memmove(c->in, c->in + consumed, c->in_len - consumed);
	c->in_len -= consumed;
	c->body = NULL;
	c->body_len = 0;
	c->responded = 0;
	c->sent_continue = 0;
	c->data = NULL;
	memset(&c->chunk, 0, sizeof(c->chunk));
	c->phase = HK_HTTPCONN_IDLE;
	c->req.method = HK_HTTP_OTHER;	/* no HEAD left from the last one */
	c->t_start_ns = hk_clock_mono_ns();
	c->t_head_ns = c->t_body_ns = c->t_respond_ns = 0;
	event_add(c->rev, NULL);
	/*
	 * A pipelined request is taken up from the loop (the timer, at once),
	 * not from here: one answered at once would call us again, and a
	 * client pipelining thousands of them would grow the stack by a frame
	 * each until it overflowed.
	 */
	hk_httpconn_arm(c, c->in_len > 0 ? 0
	    : hk_httpconn_srv->header_timeout_ms);
}

/* hk_httpconn_flush - write what is queued; HK_AGAIN when the socket is full. */
static int
hk_httpconn_flush(struct hk_httpconn *c)
{
	ssize_t n;

	while (c->out_pos < c->out_len) {
		n = write(c->fd, c->out + c->out_pos, c->out_len - c->out_pos);
		if (n > 0) {
			c->out_pos += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return HK_AGAIN;
		return HK_ERROR;
	}
	c->out_len = c->out_pos = 0;
	return HK_OK;
}

static void
hk_httpconn_send(struct hk_httpconn *c)
{
	switch (hk_httpconn_flush(c)) {
	case HK_OK:
		event_del(c->wev);
		hk_httpconn_next(c);
		return;
	case HK_AGAIN:
		event_add(c->wev, NULL);
		hk_httpconn_arm(c, hk_httpconn_srv->body_timeout_ms);
		return;
	default:
		hk_httpconn_close_soon(c);
		return;
	}
}

static void
hk_httpconn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_httpconn_send(arg);
}

void
hk_httpconn_respond(struct hk_httpconn *c, int status, const char *headers,
    const char *body, size_t body_len)
{
	hk_httpconn_respond_type(c, status, "application/json", headers, body,
	    body_len);
}

void
hk_httpconn_respond_type(struct hk_httpconn *c, int status,
    const char *ctype, const char *headers, const char *body,
    size_t body_len)
{
	uint64_t now = hk_clock_mono_ns(), us;
	size_t need;
	char *p;
	int n;

	if (c->t_respond_ns == 0)
		c->t_respond_ns = now;
	if (!c->keep_alive && c->phase != HK_HTTPCONN_CLOSING)
		c->phase = HK_HTTPCONN_WRITING;
	need = 512 + strlen(ctype) + (headers ? strlen(headers) : 0)
	    + body_len;
	if (need > c->out_cap) {
		free(c->out);
		if ((c->out = malloc(need)) == NULL) {
			hk_log_error("out of memory for an answer");
			c->out_cap = 0;
			hk_httpconn_close_soon(c);
			return;
		}
		c->out_cap = need;
	}
	/* Written by hand: snprintf cost more than the rest of the answer. */
	us = (c->t_respond_ns - c->t_start_ns) / 1000u;
	p = HK_FMT_LIT(c->out, "HTTP/1.1 ");
	p = hk_fmt_u64(p, (uint64_t)status);
	*p++ = ' ';
	p = hk_fmt_str(p, hk_http_reason(status));
	p = HK_FMT_LIT(p, "\r\nContent-Type: ");
	p = hk_fmt_str(p, ctype);
	p = HK_FMT_LIT(p, "\r\nContent-Length: ");
	p = hk_fmt_u64(p, body_len);
	p = HK_FMT_LIT(p, "\r\nX-Response-Time: ");
	p = hk_fmt_u64(p, us / 1000u);
	*p++ = '.';
	p = hk_fmt_u64w(p, us % 1000u, 3);
	p = HK_FMT_LIT(p, "ms\r\n");
	if (!(c->keep_alive && c->phase != HK_HTTPCONN_CLOSING
	    && hk_httpconn_srv->max_conns > 0))
		p = HK_FMT_LIT(p, "Connection: close\r\n");
	if (headers != NULL)
		p = hk_fmt_str(p, headers);
	p = HK_FMT_LIT(p, "\r\n");
	n = (int)(p - c->out);
	/* HEAD: the GET's head, Content-Length included, without the body. */
	if (c->req.method == HK_HTTP_HEAD)
		body_len = 0;
	memcpy(c->out + n, body, body_len);
	c->out_len = (size_t)n + body_len;
	c->out_pos = 0;
	c->responded = 1;
	if (c->phase != HK_HTTPCONN_CLOSING)
		c->phase = HK_HTTPCONN_WRITING;
	if (hk_httpconn_srv->ops->done != NULL)
		hk_httpconn_srv->ops->done(c, status);
	hk_httpconn_send(c);
}

void
hk_httpconn_error(struct hk_httpconn *c, int status, const char *code,
    const char *message, const char *headers)
{
	/* The message is ours, but it may quote configuration or request
	 * bytes (a signature prefix, a header name): escaped, and cut at
	 * HK_HTTPCONN_MSG_MAX, it always makes a JSON body. */
	char body[32 + HK_JSONSCAN_ESCAPED_MAX(HK_HTTPCONN_CODE_MAX)
	    + HK_JSONSCAN_ESCAPED_MAX(HK_HTTPCONN_MSG_MAX)], *p;
	size_t mlen = strlen(message), clen = strlen(code);

	/* A request refused before its body was read cannot be followed by
	 * another on this connection: the rest of the body is in the way. */
	if (c->phase == HK_HTTPCONN_HEAD || c->phase == HK_HTTPCONN_BODY
	    || c->phase == HK_HTTPCONN_IDLE) {
		c->keep_alive = 0;
		c->phase = HK_HTTPCONN_CLOSING;
		event_del(c->rev);
		evtimer_del(c->tev);
	}
	if (clen > HK_HTTPCONN_CODE_MAX)
		clen = HK_HTTPCONN_CODE_MAX;
	if (mlen > HK_HTTPCONN_MSG_MAX)
		mlen = HK_HTTPCONN_MSG_MAX;
	p = body;
	memcpy(p, "{\"error\":\"", 10);
	p = hk_jsonscan_escape_str(p + 10, code, clen);
	memcpy(p, "\",\"message\":\"", 13);
	p = hk_jsonscan_escape_str(p + 13, message, mlen);
	memcpy(p, "\"}", 2);
	hk_httpconn_respond(c, status, headers, body, (size_t)(p + 2 - body));
}

static void
hk_httpconn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_httpconn *c = arg;

	switch (c->phase) {
	case HK_HTTPCONN_HEAD:
		hk_httpconn_error(c, 408, "request_timeout", "the request headers "
		    "did not arrive within the header timeout", NULL);
		return;
	case HK_HTTPCONN_BODY:
		hk_httpconn_error(c, 408, "request_timeout", "the request body did "
		    "not arrive within the body timeout", NULL);
		return;
	case HK_HTTPCONN_IDLE:
		/* A pipelined request, put off by hk_httpconn_next. */
		if (c->in_len > 0) {
			hk_httpconn_process(c);
			return;
		}
		/* Idle past its deadline, or past the drain's grace: a FIN,
		 * then whatever the client still sends is read and dropped. */
		hk_httpconn_linger(c);
		return;
	default:
		/* A client that does not read, or lingering done. */
		hk_httpconn_close(c);
		return;
	}
}

static void
hk_httpconn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_httpconn *c = arg;
	char drop[4096];
	ssize_t n;

	if (c->phase == HK_HTTPCONN_LINGERING) {
		while ((n = read(fd, drop, sizeof(drop))) > 0)
			;
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			hk_httpconn_close(c);
		return;
	}
	/*
	 * A request is being answered.  The read event stays added meanwhile,
	 * because most clients send nothing before they have the answer and
	 * taking it off and on again would cost two epoll_ctl(2) a request.
	 * One that does send (a pipelined request, its FIN) finds its bytes
	 * left in the kernel until the answer is out, as they always were; the
	 * event comes off now, so as not to fire on every turn, and
	 * hk_httpconn_next puts it back.
	 */
	if (c->phase != HK_HTTPCONN_IDLE && c->phase != HK_HTTPCONN_HEAD
	    && c->phase != HK_HTTPCONN_BODY) {
		event_del(c->rev);
		return;
	}
	for (;;) {
		if (c->in_len == c->in_cap
		    && hk_httpconn_grow(c, c->in_cap * 2) != HK_OK) {
			hk_httpconn_close(c);
			return;
		}
		n = read(fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			if (c->in_len < c->in_cap)
				break;
			continue;
		}
		if (n == 0) {
			hk_httpconn_close(c);	/* client closed */
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		hk_httpconn_close(c);
		return;
	}
	hk_httpconn_process(c);
}

static void
hk_httpconn_continue(struct hk_httpconn *c)
{
	static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";

	/* Best effort: a client that gets no 100 sends the body anyway. */
	if (write(c->fd, msg, sizeof(msg) - 1) < 0) {
		/* the read side will notice a dead peer */
	}
	c->sent_continue = 1;
}

/*
 * hk_httpconn_terminate - NUL-terminate the target and every header name and
 * value in place (over the ':' and the white space or CR after them), so the
 * layers above can use them as C strings.
 */
static void
hk_httpconn_terminate(struct hk_httpconn *c)
{
	struct hk_http_req *r = &c->req;

	c->in[(r->target - c->in) + r->target_len] = '\0';
	for (int i = 0; i < r->nheaders; i++) {
		c->in[(r->headers[i].name - c->in) + r->headers[i].name_len] = '\0';
		c->in[(r->headers[i].value - c->in) + r->headers[i].value_len]
		    = '\0';
	}
}

/* hk_httpconn_too_large - 413, naming the limit. */
static void
hk_httpconn_too_large(struct hk_httpconn *c)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "the request body is larger than this port "
	    "takes (%zu bytes)", hk_httpconn_srv->max_body);
	hk_httpconn_error(c, 413, "payload_too_large", msg, NULL);
}

/* hk_httpconn_head - the head is in: check it, then wait for the body. */
static int
hk_httpconn_head(struct hk_httpconn *c)
{
	struct hk_httpconn_server *srv = hk_httpconn_srv;
	int status;
	const char *why;

	switch (hk_http_parse_head(c->in, c->in_len, srv->max_head, &c->req,
	    &status, &why)) {
	case HK_AGAIN:
		return HK_AGAIN;
	case HK_ERROR:
		hk_httpconn_error(c, status, status == 431 ? "headers_too_large"
		    : "bad_request", why, NULL);
		return HK_ERROR;
	}
	c->t_head_ns = hk_clock_mono_ns();
	hk_httpconn_terminate(c);
	c->keep_alive = c->req.keep_alive;
	c->body = c->in + c->req.head_len;
	if (c->req.content_length > (int64_t)srv->max_body) {
		hk_httpconn_too_large(c);
		return HK_ERROR;
	}
	c->phase = HK_HTTPCONN_BODY;
	if (srv->ops->head != NULL)
		srv->ops->head(c);
	if (c->responded)
		return HK_ERROR;
	if (c->req.content_length > 0 && hk_httpconn_grow(c, c->req.head_len
	    + (size_t)c->req.content_length) != HK_OK) {
		hk_httpconn_close_soon(c);
		return HK_ERROR;
	}
	if (c->req.expect_continue && c->in_len == c->req.head_len)
		hk_httpconn_continue(c);
	hk_httpconn_arm(c, srv->body_timeout_ms);
	return HK_OK;
}

/* hk_httpconn_body - is the body complete?  Decodes chunked bodies in place. */
static int
hk_httpconn_body(struct hk_httpconn *c)
{
	size_t have = c->in_len - c->req.head_len;
	int too_large, rc;

	if (!c->req.chunked) {
		if (have < (size_t)HK_MAX(c->req.content_length, 0))
			return HK_AGAIN;
		c->body_len = (size_t)HK_MAX(c->req.content_length, 0);
		return HK_OK;
	}
	rc = hk_http_chunked_decode(&c->chunk, c->body, have,
	    hk_httpconn_srv->max_body, &too_large);
	if (rc == HK_AGAIN) {
		/* Raw chunked bytes may exceed the body; bound them too. */
		if (c->chunk.raw > 2 * hk_httpconn_srv->max_body + 65536) {
			hk_httpconn_too_large(c);
			return HK_ERROR;
		}
		return HK_AGAIN;
	}
	if (rc == HK_ERROR) {
		if (too_large)
			hk_httpconn_too_large(c);
		else
			hk_httpconn_error(c, 400, "bad_request", "the chunked "
			    "request body is malformed", NULL);
		return HK_ERROR;
	}
	c->body_len = c->chunk.out;
	return HK_OK;
}

static void
hk_httpconn_process(struct hk_httpconn *c)
{
	if (c->phase == HK_HTTPCONN_IDLE) {
		if (c->in_len == 0)
			return;
		c->phase = HK_HTTPCONN_HEAD;
		c->t_start_ns = hk_clock_mono_ns();
		hk_httpconn_arm(c, hk_httpconn_srv->header_timeout_ms);
	}
	if (c->phase == HK_HTTPCONN_HEAD && hk_httpconn_head(c) != HK_OK)
		return;
	if (c->phase != HK_HTTPCONN_BODY || hk_httpconn_body(c) != HK_OK)
		return;
	c->t_body_ns = hk_clock_mono_ns();
	c->phase = HK_HTTPCONN_BUSY;
	evtimer_del(c->tev);
	hk_httpconn_srv->ops->request(c);
}
