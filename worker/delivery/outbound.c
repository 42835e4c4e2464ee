/*
 * outbound.c - HTTP attempts with libcurl multi on libevent (see outbound.h).
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * its next timeout is due (CURLMOPT_TIMERFUNCTION); libevent tells libcurl
 * when either happens (curl_multi_socket_action).  Each watched socket has
 * one persistent event, kept with curl_multi_assign so that a change of
 * interest only re-adds it.  Finished transfers are collected after every
 * action and called back from a zero-timeout event, so a callback never
 * runs inside libcurl and may start a new attempt.
 *
 * The SSRF guard sits in CURLOPT_OPENSOCKETFUNCTION: it sees the resolved
 * address curl is about to connect to, so a hostname that resolves to the
 * metadata service is caught as surely as a literal one.  A refusal makes
 * curl fail with COULDNTCONNECT; the attempt then carries our reason.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "cidr.h"
#include "clock.h"
#include "core.h"
#include "log.h"
#include "outbound.h"
#include "sign.h"

#define HK_OUTBOUND_IDLE  256

/* One attempt in flight. */
struct hk_outbound_xfer {
	TAILQ_ENTRY(hk_outbound_xfer) link;	/* the done list */
	TAILQ_ENTRY(hk_outbound_xfer) all;	/* every transfer in flight */
	CURL         *easy;
	struct curl_slist *headers;
	hk_outbound_cb cb;
	void         *arg;
	int           done;
	char          refused[160];	/* the SSRF guard said no */
	char          errbuf[CURL_ERROR_SIZE];
	struct hk_outbound_res res;
};

static struct {
	struct event_base *base;
	CURLM        *multi;
	struct event *timer_ev;
	struct event *done_ev;
	struct hk_cidr allow[HK_CONF_MAX_LIST];
	int           nallow;
	struct hk_cidr deny[HK_CONF_MAX_LIST];
	int           ndeny;
	int           inflight;
	/* Easy handles of finished transfers, kept with their shared
	 * options (hk_outbound_easy): making one allocates and clears several
	 * kilobytes, every attempt. */
	CURL         *idle[HK_OUTBOUND_IDLE];
	int           nidle;
	TAILQ_HEAD(, hk_outbound_xfer) done;
	TAILQ_HEAD(, hk_outbound_xfer) xfers;
} hk_outbound;

static void hk_outbound_collect(void);

int
hk_outbound_inflight(void)
{
	return hk_outbound.inflight;
}

/* hk_outbound_event_cb - a watched socket is ready, or libcurl's timer. */
static void
hk_outbound_event_cb(evutil_socket_t fd, short what, void *arg)
{
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(hk_outbound.multi, fd, flags, &running);
	hk_outbound_collect();
}

static void
hk_outbound_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	int running;

	curl_multi_socket_action(hk_outbound.multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	hk_outbound_collect();
}

/*
 * hk_outbound_sock_cb - libcurl wants a socket watched differently.  The
 * socket's event is kept and re-armed rather than made anew: a transfer on
 * a reused connection asks for writing, then reading, for every attempt.
 */
static int
hk_outbound_sock_cb(CURL *e, curl_socket_t s, int what, void *userp,
    void *sockp)
{
	struct event *ev = sockp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		curl_multi_assign(hk_outbound.multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev != NULL && event_get_events(ev) == kind)
		return 0;
	if (ev == NULL) {
		ev = event_new(hk_outbound.base, s, kind, hk_outbound_event_cb,
		    NULL);
		if (ev == NULL)
			return -1;
		curl_multi_assign(hk_outbound.multi, s, ev);
	} else {
		event_del(ev);
		event_assign(ev, hk_outbound.base, s, kind,
		    hk_outbound_event_cb, NULL);
	}
	event_add(ev, NULL);
	return 0;
}

/* hk_outbound_timerfn - libcurl's next timeout; acted on from the loop. */
static int
hk_outbound_timerfn(CURLM *m, long ms, void *userp)
{
	struct timeval tv;

	if (ms < 0) {
		evtimer_del(hk_outbound.timer_ev);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(hk_outbound.timer_ev, &tv);
	return 0;
}

/* hk_outbound_opensocket - the SSRF guard, on the address curl chose. */
static curl_socket_t
hk_outbound_opensocket(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *sa)
{
	struct hk_outbound_xfer *x = clientp;
	const unsigned char *a = NULL;
	const char *why;
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->family == AF_INET)
		a = (const unsigned char *)&((struct sockaddr_in *)(void *)
		    &sa->addr)->sin_addr;
	else if (sa->family == AF_INET6)
		a = (const unsigned char *)&((struct sockaddr_in6 *)(void *)
		    &sa->addr)->sin6_addr;
	if (a != NULL && (why = hk_cidr_guard(hk_outbound.allow,
	    hk_outbound.nallow, hk_outbound.deny, hk_outbound.ndeny, sa->family,
	    a)) != NULL) {
		inet_ntop(sa->family, a, ip, sizeof(ip));
		snprintf(x->refused, sizeof(x->refused), "address %s refused "
		    "(%s)", ip, why);
		return CURL_SOCKET_BAD;
	}
	return socket(sa->family, sa->socktype, sa->protocol);
}

static size_t
hk_outbound_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct hk_outbound_xfer *x = arg;
	size_t len = size * n, room;

	room = HK_OUTBOUND_EXCERPT - x->res.excerpt_len;
	if (room > 0) {
		memcpy(x->res.excerpt + x->res.excerpt_len, p, HK_MIN(room, len));
		x->res.excerpt_len += HK_MIN(room, len);
	}
	return len;		/* the rest is read and dropped */
}

/* hk_outbound_header_cb - keep Retry-After: seconds or an HTTP-date. */
static size_t
hk_outbound_header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct hk_outbound_xfer *x = arg;
	size_t len = size * n;
	char v[128];
	time_t t;
	char *e;
	long s;

	if (len < 12 || strncasecmp(p, "retry-after:", 12) != 0)
		return len;
	snprintf(v, sizeof(v), "%.*s", (int)HK_MIN(len - 12, 120), p + 12);
	v[strcspn(v, "\r\n")] = '\0';
	s = strtol(v, &e, 10);
	if (e != v && *e == '\0' && s >= 0)
		x->res.retry_after_s = s;
	else if ((t = curl_getdate(v + strspn(v, " \t"), NULL)) > 0)
		x->res.retry_after_s = HK_MAX(0, (long)(t - time(NULL)));
	return len;
}

/* hk_outbound_headers - the request's header list; NULL when out of memory. */
static struct curl_slist *
hk_outbound_headers(const struct hk_outbound_req *r, time_t now)
{
	struct curl_slist *l = NULL, *n;
	char line[512], sig[HK_SIGN_STANDARD_SIZE], *ct;
	char sigs[32 + HK_CONF_MAX_SIGNING * HK_SIGN_STANDARD_SIZE];
	const struct hk_conf_dest *d = r->dest;

#define HK_ADD(s) do {						\
		if ((n = curl_slist_append(l, (s))) == NULL)		\
			goto fail;					\
		l = n;							\
	} while (0)
	if (asprintf(&ct, "Content-Type: %s", r->content_type[0]
	    ? r->content_type : "application/octet-stream") < 0)
		return NULL;
	n = curl_slist_append(l, ct);
	free(ct);
	if ((l = n) == NULL)
		return NULL;
	snprintf(line, sizeof(line), "webhook-id: %s", r->event_id);
	HK_ADD(line);
	snprintf(line, sizeof(line), "webhook-timestamp: %lld",
	    (long long)now);
	HK_ADD(line);
	/* One "v1,<sig>" per key, space-separated (Standard Webhooks), so a
	 * receiver verifies with whichever key it holds during a rotation. */
	if (d->nsigning_secrets > 0) {
		size_t o = (size_t)snprintf(sigs, sizeof(sigs),
		    "webhook-signature:");

		for (int i = 0; i < d->nsigning_secrets; i++) {
			if (hk_sign_standard(d->signing_secrets[i],
			    r->event_id, now, (const unsigned char *)r->body,
			    r->body_len, sig, sizeof(sig)) != HK_OK)
				goto fail;
			o += (size_t)snprintf(sigs + o, sizeof(sigs) - o,
			    " %s", sig);
		}
		HK_ADD(sigs);
	}
	if (r->traceparent != NULL && r->traceparent[0] != '\0') {
		snprintf(line, sizeof(line), "traceparent: %s", r->traceparent);
		HK_ADD(line);
	}
	/* No 100-continue round trip: receivers answer the body anyway. */
	HK_ADD("Expect:");
	for (int i = 0; i < d->nheaders; i++)
		HK_ADD(d->headers[i]);
#undef HK_ADD
	return l;
fail:
	curl_slist_free_all(l);
	return NULL;
}

/*
 * hk_outbound_easy - a handle from the idle list, or a new one with the
 * options every attempt shares.  A handle goes back to the list as it is,
 * not reset: a reset frees what curl keeps per handle and the next attempt
 * would set it all again (perf/README.md).
 */
static CURL *
hk_outbound_easy(void)
{
	CURL *e;

	if (hk_outbound.nidle > 0)
		return hk_outbound.idle[--hk_outbound.nidle];
	if ((e = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* No proxy, whatever http_proxy and friends say: the guard must judge
	 * the destination's address, not a proxy's. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "hookd/" HK_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, hk_outbound_write_cb);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, hk_outbound_header_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, hk_outbound_opensocket);
	return e;
}

/* hk_outbound_setopts - what differs from one attempt to the next. */
static void
hk_outbound_setopts(struct hk_outbound_xfer *x, const struct hk_outbound_req *r)
{
	CURL *e = x->easy;

	curl_easy_setopt(e, CURLOPT_URL, r->dest->url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->dest->timeout_ms);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
}

int
hk_outbound_send(const struct hk_outbound_req *r, hk_outbound_cb cb, void *arg)
{
	struct hk_outbound_xfer *x;
	time_t now = time(NULL);

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return HK_ERROR;
	x->cb = cb;
	x->arg = arg;
	x->res.retry_after_s = -1;
	x->res.started_us = hk_clock_real_us();
	x->easy = hk_outbound_easy();
	if (x->easy == NULL
	    || (x->headers = hk_outbound_headers(r, now)) == NULL) {
		if (x->easy != NULL)
			curl_easy_cleanup(x->easy);
		free(x);
		return HK_ERROR;
	}
	hk_outbound_setopts(x, r);
	if (curl_multi_add_handle(hk_outbound.multi, x->easy) != CURLM_OK) {
		curl_slist_free_all(x->headers);
		curl_easy_cleanup(x->easy);
		free(x);
		return HK_ERROR;
	}
	hk_outbound.inflight++;
	TAILQ_INSERT_TAIL(&hk_outbound.xfers, x, all);
	return HK_OK;
}

/* hk_outbound_finish - fill the result of a finished transfer. */
static void
hk_outbound_finish(struct hk_outbound_xfer *x, CURLcode rc)
{
	struct hk_outbound_res *res = &x->res;
	curl_off_t t;
	long code = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK)
		res->connect_us = (uint64_t)t;
	if (curl_easy_getinfo(x->easy, CURLINFO_STARTTRANSFER_TIME_T, &t)
	    == CURLE_OK)
		res->ttfb_us = (uint64_t)t;
	if (curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &t) == CURLE_OK)
		res->total_us = (uint64_t)t;
	res->excerpt[res->excerpt_len] = '\0';
	if (rc == CURLE_OK) {
		res->status = (int)code;
		return;
	}
	res->status = 0;
	res->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
	if (x->refused[0])
		snprintf(res->error, sizeof(res->error), "%s", x->refused);
	else if (res->timed_out)
		snprintf(res->error, sizeof(res->error), "timed out: %.200s",
		    x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	else
		snprintf(res->error, sizeof(res->error), "%.250s",
		    x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
}

/* hk_outbound_collect - move finished transfers to the done list. */
static void
hk_outbound_collect(void)
{
	struct hk_outbound_xfer *x;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(hk_outbound.multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		hk_outbound_finish(x, m->data.result);
		curl_multi_remove_handle(hk_outbound.multi, x->easy);
		x->done = 1;
		TAILQ_INSERT_TAIL(&hk_outbound.done, x, link);
		event_active(hk_outbound.done_ev, EV_TIMEOUT, 1);
	}
}

static void
hk_outbound_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_outbound_xfer *x;

	while ((x = TAILQ_FIRST(&hk_outbound.done)) != NULL) {
		TAILQ_REMOVE(&hk_outbound.done, x, link);
		TAILQ_REMOVE(&hk_outbound.xfers, x, all);
		hk_outbound.inflight--;
		x->cb(x->arg, &x->res);
		curl_slist_free_all(x->headers);
		if (hk_outbound.nidle < HK_OUTBOUND_IDLE) {
			/* Nothing of this attempt's is left for curl to see. */
			curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, NULL);
			curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, NULL);
			curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, NULL);
			hk_outbound.idle[hk_outbound.nidle++] = x->easy;
		} else
			curl_easy_cleanup(x->easy);
		free(x);
	}
}

/* hk_outbound_cidrs - parse allow or deny as the loader checked them. */
static int
hk_outbound_cidrs(char *const *in, int n, struct hk_cidr *out)
{
	char why[128];

	for (int i = 0; i < n; i++)
		if (hk_cidr_parse(in[i], &out[i], why, sizeof(why))
		    != HK_OK) {
			hk_log_error("delivery: %s: %s", in[i], why);
			return HK_ERROR;
		}
	return HK_OK;
}

int
hk_outbound_init(struct event_base *base, const struct hk_conf *conf)
{
	memset(&hk_outbound, 0, sizeof(hk_outbound));
	TAILQ_INIT(&hk_outbound.done);
	TAILQ_INIT(&hk_outbound.xfers);
	hk_outbound.base = base;
	if (hk_outbound_cidrs(conf->delivery.allow, conf->delivery.nallow,
	    hk_outbound.allow) != HK_OK || hk_outbound_cidrs(
	    conf->delivery.deny, conf->delivery.ndeny, hk_outbound.deny)
	    != HK_OK)
		return HK_ERROR;
	hk_outbound.nallow = conf->delivery.nallow;
	hk_outbound.ndeny = conf->delivery.ndeny;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK
	    || (hk_outbound.multi = curl_multi_init()) == NULL)
		return HK_ERROR;
	hk_outbound.timer_ev = evtimer_new(base, hk_outbound_timer_cb, NULL);
	hk_outbound.done_ev = event_new(base, -1, 0, hk_outbound_done_cb, NULL);
	if (hk_outbound.timer_ev == NULL || hk_outbound.done_ev == NULL)
		return HK_ERROR;
	curl_multi_setopt(hk_outbound.multi, CURLMOPT_SOCKETFUNCTION,
	    hk_outbound_sock_cb);
	curl_multi_setopt(hk_outbound.multi, CURLMOPT_TIMERFUNCTION,
	    hk_outbound_timerfn);
	/* Enough idle connections kept for every destination's concurrency. */
	curl_multi_setopt(hk_outbound.multi, CURLMOPT_MAXCONNECTS,
	    (long)HK_MAX(64, conf->delivery.concurrency));
	return HK_OK;
}

void
hk_outbound_shutdown(void)
{
	struct hk_outbound_xfer *x;

	if (hk_outbound.multi == NULL)
		return;
	/* Transfers still in flight, or finished and not called back: gone
	 * without a callback; their deliveries stay pending elsewhere. */
	while ((x = TAILQ_FIRST(&hk_outbound.xfers)) != NULL) {
		TAILQ_REMOVE(&hk_outbound.xfers, x, all);
		if (!x->done)
			curl_multi_remove_handle(hk_outbound.multi, x->easy);
		curl_slist_free_all(x->headers);
		curl_easy_cleanup(x->easy);
		free(x);
	}
	TAILQ_INIT(&hk_outbound.done);
	while (hk_outbound.nidle > 0)
		curl_easy_cleanup(hk_outbound.idle[--hk_outbound.nidle]);
	curl_multi_cleanup(hk_outbound.multi);
	if (hk_outbound.timer_ev != NULL)
		event_free(hk_outbound.timer_ev);
	if (hk_outbound.done_ev != NULL)
		event_free(hk_outbound.done_ev);
	memset(&hk_outbound, 0, sizeof(hk_outbound));
}
