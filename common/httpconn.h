/*
 * httpconn.h - HTTP/1.1 connections: the ingest port's, and the admin
 * port's in the stats process (one server per process).
 *
 * The connection layer owns sockets, buffers, deadlines and framing; the
 * layer above sees complete requests and answers them, possibly later (the
 * ingest worker after Redis replied).  A connection handles one request at a time: it
 * stops reading while a request is being answered, so pipelined requests
 * wait in the buffer, in order.
 *
 * Deadlines are totals, not inactivity timers: the head must arrive within
 * header_timeout_ms of its first byte (or of the connection, or of the last
 * answer on a kept-alive connection), the body within body_timeout_ms of the
 * head.  A client that trickles one byte a second is cut at the deadline.
 */
#ifndef HK_HTTPCONN_H
#define HK_HTTPCONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "http.h"

struct event;
struct event_base;
struct hk_httpconn;

enum hk_httpconn_phase {
	HK_HTTPCONN_IDLE,		/* waiting for a request's first byte */
	HK_HTTPCONN_HEAD,
	HK_HTTPCONN_BODY,
	HK_HTTPCONN_BUSY,		/* handed to the ingest layer */
	HK_HTTPCONN_WRITING,
	HK_HTTPCONN_CLOSING,	/* write the answer, then close */
};

struct hk_httpconn_ops {
	/* The head is parsed: answer now (with hk_httpconn_error) to refuse
	 * the request before its body is read, or return to go on.  May be
	 * NULL. */
	void (*head)(struct hk_httpconn *c);
	/* The request is complete; answer with hk_httpconn_respond, now or
	 * later. */
	void (*request)(struct hk_httpconn *c);
	/* An answer was queued: status, for records and counters.  May be
	 * NULL. */
	void (*done)(struct hk_httpconn *c, int status);
};

struct hk_httpconn {
	TAILQ_ENTRY(hk_httpconn) link;
	int       fd;
	int       phase;
	struct event *rev, *wev, *tev;
	char     *in;			/* request bytes */
	size_t    in_len, in_cap;
	char     *out;			/* answer bytes not yet written */
	size_t    out_len, out_pos, out_cap;
	struct hk_http_req req;
	struct hk_http_chunked chunk;
	char     *body;			/* points into in */
	size_t    body_len;
	int       responded;		/* an answer for this request is queued */
	int       keep_alive;
	int       sent_continue;
	uint64_t  t_start_ns;		/* first byte, or accept */
	uint64_t  t_head_ns;
	uint64_t  t_body_ns;
	uint64_t  t_respond_ns;		/* answer queued */
	void     *data;			/* the ingest layer's request state */
};

struct hk_httpconn_server {
	struct event_base *base;
	struct event *accept_ev;
	int       fd;
	int       nconns, max_conns;
	size_t    max_head, max_body;
	int       header_timeout_ms, body_timeout_ms;
	int       accepting;
	const struct hk_httpconn_ops *ops;
	TAILQ_HEAD(, hk_httpconn) conns;
};

int  hk_httpconn_server_init(struct hk_httpconn_server *srv,
    struct event_base *base, int fd, const struct hk_httpconn_ops *ops);
/*
 * Stop accepting.  Every answer from now on says "Connection: close"; idle
 * kept-alive connections get a short grace to send a last request before
 * they are closed, so that a request already on the wire is answered, not
 * reset.  The server is drained when nconns reaches 0.
 */
void hk_httpconn_server_stop(struct hk_httpconn_server *srv);
void hk_httpconn_server_free(struct hk_httpconn_server *srv);

/* Queue an answer: status, extra header lines ("Name: value\r\n"...) or
 * NULL, and a JSON body.  To a HEAD request the body is not sent. */
void hk_httpconn_respond(struct hk_httpconn *c, int status,
    const char *headers, const char *body, size_t body_len);
/* The same with another content type, e.g. "text/plain; version=0.0.4". */
void hk_httpconn_respond_type(struct hk_httpconn *c, int status,
    const char *ctype, const char *headers, const char *body,
    size_t body_len);
/* Queue {"error":code,"message":message}; closes the connection after it
 * when the request's body was not read. */
void hk_httpconn_error(struct hk_httpconn *c, int status, const char *code,
    const char *message, const char *headers);

#endif
