/*
 * hooksink.c - the benchmark's receiving end for hookd's deliveries.
 *
 *   hooksink --listen 127.0.0.1:PORT [--quiet]
 *
 * It answers every webhook 200, counts requests, distinct webhook-ids,
 * duplicates and requests without an id, and measures end-to-end latency:
 * a webhook-id is the event's UUIDv7, whose first 48 bits are the Unix time
 * in milliseconds at which hookd received the event, so "now minus that",
 * taken when an id is first seen, is the time from the provider's request
 * to this delivery.  The control paths are those of perf/sink.py, with the
 * same names and meaning, so that the benchmark reads either:
 *
 *   GET  /_stats    counters and latency percentiles, as JSON
 *   POST /_reset    zero the counters and forget every id; answers the stats
 *
 * Any other GET or HEAD answers 200 {} (a health check) and is not counted.
 *
 * Why not sink.py: at 10 000 deliveries a second an asyncio sink takes
 * 10-16% of a 2-CPU machine, CPU that the gateway it measures then lacks.
 * This one does nothing per request but parse the head (hookd's own parser,
 * common/http.c), one hash-set lookup and one histogram update; answers to
 * pipelined requests go out in one write.  sink.py remains the demo
 * receiver, with signature checks and failure modes this one does not have.
 *
 * One thread, one libevent base, plain nonblocking sockets.  Only loopback
 * addresses may be listened on: it is a measuring tool, not a server.
 * Requests are HTTP/1.x with Content-Length (keep-alive, pipelining,
 * Expect: 100-continue); a chunked body is answered 411, since hookd always
 * sends a length.  A head over 64 KiB is answered 431 and a body over
 * 64 MiB 413, and the connection closed.  SIGINT and SIGTERM stop it after
 * a summary line on stderr (not with --quiet).
 *
 * Memory grows with the number of distinct ids seen since the last reset,
 * about 100 bytes each, and with nothing else but connections.
 *
 * Exit status: 0 stopped by a signal, 1 a runtime failure (cannot listen),
 * 2 a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "histogram.h"
#include "http.h"
#include "sockaddr.h"
#include "uuid.h"

#define HS_EXIT_OK        0
#define HS_EXIT_FAIL      1
#define HS_EXIT_USAGE     2

#define HS_HEAD_MAX       (64 * 1024)
#define HS_BODY_MAX       (64 * 1024 * 1024)
#define HS_IN_INITIAL     4096
#define HS_READ_MIN       4096		/* free space wanted before a read */
#define HS_OUT_HIGH       (256 * 1024)	/* stop parsing until flushed */
#define HS_SET_INITIAL    1024		/* slots, a power of two */
#define HS_POOL_INITIAL   (64 * 1024)
#define HS_ACCEPT_PAUSE_MS 100		/* after EMFILE */
#define HS_STATS_MAX      1024
#define HS_LINGER_MS      2000

/*
 * The set of ids seen since the last reset: open addressing with linear
 * probing over slots of 16 bytes, the id bytes in one growing pool.  A slot
 * holds the id's hash (compared first, so a probe rarely touches the pool)
 * and a reference (offset << 16 | length).  An id is never empty and never
 * longer than a head (64 KiB), so a zero reference marks a free slot and
 * the length fits in 16 bits.  The table doubles at half full; nothing is
 * ever removed but by a reset, which frees it all.
 */
struct hs_slot {
	uint64_t  hash;
	uint64_t  ref;
};

struct hs_set {
	struct hs_slot *slot;
	size_t    mask;			/* slots - 1 */
	size_t    used;
	char     *pool;
	size_t    pool_len;
	size_t    pool_cap;
};

struct hs_conn {
	int            fd;
	struct event  *rev;
	struct event  *wev;
	char          *in;
	size_t         in_len;
	size_t         in_off;		/* parsed up to here */
	size_t         in_cap;
	size_t         need;		/* bytes of the request at in_off, or 0 */
	char          *out;
	size_t         out_len;
	size_t         out_off;		/* written up to here */
	size_t         out_cap;
	int            continued;	/* 100 Continue sent for the request */
	int            closing;		/* close once out is written */
	int            lingering;	/* closing: reading until the client does */
	struct event  *linger;		/* ... for at most HS_LINGER_MS */
	struct hs_conn *prev, *next;
};

static struct {
	const char    *listen;
	int            quiet;

	struct event_base *base;
	int            lfd;
	struct event  *lev;
	struct event  *lpause;		/* accepting again after EMFILE */
	struct event  *sigint;
	struct event  *sigterm;
	struct hs_conn *conns;

	/* counters, since start or the last reset */
	uint64_t       since_ns;
	uint64_t       requests;
	uint64_t       unique;
	uint64_t       duplicates;
	uint64_t       missing_id;
	uint64_t       bytes;
	struct hk_hist lat;		/* microseconds */
	struct hs_set  ids;
} hs;

static void hs_conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void hs_conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void hs_conn_close(struct hs_conn *c);
static void hs_conn_process(struct hs_conn *c);
static void hs_conn_linger_cb(evutil_socket_t fd, short what, void *arg);

/* ---------------------------------------------------------------------- */
/* Options and the listening socket */

static void
hs_usage(FILE *f)
{
	fprintf(f,
"usage: hooksink [--listen HOST:PORT] [--quiet]\n"
"  -l, --listen HOST:PORT  loopback address to listen on (127.0.0.1:3001)\n"
"  -q, --quiet             no summary line on exit\n"
"  -h, --help\n");
}

static void hs_die_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* hs_die_usage - a usage error: say what is wrong and exit 2. */
static void
hs_die_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "hooksink: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(HS_EXIT_USAGE);
}

static void
hs_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	hs.listen = "127.0.0.1:3001";
	while ((ch = getopt_long(argc, argv, "l:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			hs.listen = optarg;
			break;
		case 'q':
			hs.quiet = 1;
			break;
		case 'h':
			hs_usage(stdout);
			exit(HS_EXIT_OK);
		default:
			hs_usage(stderr);
			exit(HS_EXIT_USAGE);
		}
	}
	if (optind != argc)
		hs_die_usage("unexpected argument \"%s\"", argv[optind]);
}

/*
 * hs_resolve - HOST:PORT or [V6]:PORT to an address, which must be
 * loopback.  As in hookbench, names other than localhost are refused
 * without a lookup.
 */
static struct addrinfo *
hs_resolve(void)
{
	struct addrinfo hints, *res, *ai;
	const char *s = hs.listen, *colon, *host, *hend;
	char hostbuf[256], port[8];
	size_t n;
	int rc;

	colon = strrchr(s, ':');
	if (colon == NULL)
		hs_die_usage("--listen takes HOST:PORT, not \"%s\"", s);
	host = s;
	hend = colon;
	if (*s == '[') {
		if (colon == s || colon[-1] != ']')
			hs_die_usage("--listen: bad IPv6 address in \"%s\"", s);
		host = s + 1;
		hend = colon - 1;
	}
	n = strlen(colon + 1);
	if (n == 0 || n >= sizeof(port) || strspn(colon + 1, "0123456789") != n
	    || atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		hs_die_usage("--listen: bad port in \"%s\"", s);
	memcpy(port, colon + 1, n + 1);
	if (hend - host <= 0 || (size_t)(hend - host) >= sizeof(hostbuf))
		hs_die_usage("--listen: no host in \"%s\"", s);
	memcpy(hostbuf, host, (size_t)(hend - host));
	hostbuf[hend - host] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (strcasecmp(hostbuf, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
	if ((rc = getaddrinfo(hostbuf, port, &hints, &res)) != 0) {
		if (rc == EAI_NONAME && (hints.ai_flags & AI_NUMERICHOST))
			hs_die_usage("refusing \"%s\": only loopback "
			    "addresses (127.0.0.0/8, ::1, localhost)", hostbuf);
		hs_die_usage("%s: %s", hostbuf, gai_strerror(rc));
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (!hk_sockaddr_loopback(ai->ai_addr)) {
			freeaddrinfo(res);
			hs_die_usage("refusing \"%s\": not a loopback address; "
			    "hooksink only listens on this machine", hostbuf);
		}
	return res;
}

static int
hs_listen(void)
{
	struct addrinfo *res;
	int one = 1;

	res = hs_resolve();
	hs.lfd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (hs.lfd < 0) {
		fprintf(stderr, "hooksink: socket: %s\n", strerror(errno));
		freeaddrinfo(res);
		return HK_ERROR;
	}
	setsockopt(hs.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(hs.lfd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(hs.lfd, 1024) < 0) {
		fprintf(stderr, "hooksink: cannot listen on %s: %s\n",
		    hs.listen, strerror(errno));
		freeaddrinfo(res);
		return HK_ERROR;
	}
	freeaddrinfo(res);
	return HK_OK;
}

/* ---------------------------------------------------------------------- */
/* The id set */

/* FNV-1a, then a murmur3 finaliser so that the low bits index well. */
static uint64_t
hs_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static void
hs_set_free(struct hs_set *s)
{
	free(s->slot);
	free(s->pool);
	memset(s, 0, sizeof(*s));
}

static int
hs_set_init(struct hs_set *s)
{
	memset(s, 0, sizeof(*s));
	s->slot = calloc(HS_SET_INITIAL, sizeof(*s->slot));
	s->pool = malloc(HS_POOL_INITIAL);
	if (s->slot == NULL || s->pool == NULL) {
		hs_set_free(s);
		return HK_ERROR;
	}
	s->mask = HS_SET_INITIAL - 1;
	s->pool_cap = HS_POOL_INITIAL;
	return HK_OK;
}

static int
hs_set_grow(struct hs_set *s)
{
	struct hs_slot *old = s->slot, *slot;
	size_t n = (s->mask + 1) * 2, i, j;

	if ((slot = calloc(n, sizeof(*slot))) == NULL)
		return HK_ERROR;
	for (i = 0; i <= s->mask; i++) {
		if (old[i].ref == 0)
			continue;
		for (j = old[i].hash & (n - 1); slot[j].ref != 0;
		    j = (j + 1) & (n - 1))
			;
		slot[j] = old[i];
	}
	free(old);
	s->slot = slot;
	s->mask = n - 1;
	return HK_OK;
}

/*
 * hs_set_add - add id; 1 when it is new, 0 when it was there, HK_ERROR out
 * of memory (the id is then not recorded).
 */
static int
hs_set_add(struct hs_set *s, const char *id, size_t len)
{
	uint64_t h = hs_hash(id, len);
	size_t i, cap;
	char *p;

	/* A reset that ran out of memory left no table: try again. */
	if (s->slot == NULL && hs_set_init(s) != HK_OK)
		return HK_ERROR;
	for (i = h & s->mask; s->slot[i].ref != 0; i = (i + 1) & s->mask) {
		uint64_t ref = s->slot[i].ref;

		if (s->slot[i].hash == h && (ref & 0xffff) == len &&
		    memcmp(s->pool + (ref >> 16), id, len) == 0)
			return 0;
	}
	if (s->pool_len + len > s->pool_cap) {
		for (cap = s->pool_cap; cap < s->pool_len + len; cap *= 2)
			;
		if ((p = realloc(s->pool, cap)) == NULL)
			return HK_ERROR;
		s->pool = p;
		s->pool_cap = cap;
	}
	memcpy(s->pool + s->pool_len, id, len);
	s->slot[i].hash = h;
	s->slot[i].ref = (uint64_t)s->pool_len << 16 | len;
	s->pool_len += len;
	if (++s->used * 2 > s->mask + 1 && hs_set_grow(s) != HK_OK)
		return HK_ERROR;
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Counting */

static int
hs_reset(void)
{
	hs_set_free(&hs.ids);
	hk_hist_reset(&hs.lat);
	hs.requests = hs.unique = hs.duplicates = hs.missing_id = 0;
	hs.bytes = 0;
	hs.since_ns = hk_clock_mono_ns();
	return hs_set_init(&hs.ids);
}

/* hs_uuid7_ms - the milliseconds of a canonical UUIDv7 id, or -1. */
static int64_t
hs_uuid7_ms(const char *id, size_t len)
{
	char s[HK_UUID_STRLEN];
	uint8_t b[HK_UUID_LEN];

	if (len != HK_UUID_STRLEN - 1)
		return -1;
	memcpy(s, id, len);
	s[len] = '\0';
	if (hk_uuid_parse(s, b) != HK_OK || b[6] >> 4 != 7)
		return -1;
	return (int64_t)hk_uuid_time_ms(b);
}

/* hs_webhook - count one webhook request. */
static void
hs_webhook(const struct hk_http_req *req, size_t body_len)
{
	const char *id;
	size_t len;
	int64_t ms;
	uint64_t now_us, ts_us;
	int rc;

	hs.requests++;
	hs.bytes += body_len;
	id = hk_http_header(req, "webhook-id", &len);
	if (id == NULL || len == 0) {
		hs.missing_id++;
		return;
	}
	if ((rc = hs_set_add(&hs.ids, id, len)) == 0) {
		hs.duplicates++;
		return;
	}
	if (rc == HK_ERROR) {
		/* Counted all the same: a figure off by one id beats none. */
		fprintf(stderr, "hooksink: out of memory for the id set\n");
	}
	hs.unique++;
	if ((ms = hs_uuid7_ms(id, len)) < 0)
		return;
	now_us = hk_clock_real_us();
	ts_us = (uint64_t)ms * 1000;
	/* A clock that stepped back (or an id from the future) counts as 0. */
	hk_hist_record(&hs.lat, now_us > ts_us ? now_us - ts_us : 0);
}

static int
hs_stats_json(char *buf, size_t cap, int reset)
{
	double elapsed = (double)(hk_clock_mono_ns() - hs.since_ns) / 1e9;
	uint64_t n = hk_hist_count(&hs.lat);
	char lat[256], resp[64] = "";
	int len;

	if (elapsed < 1e-9)
		elapsed = 1e-9;
	if (n == 0)
		snprintf(lat, sizeof(lat), "{\"count\":0,\"mean\":null,"
		    "\"p50\":null,\"p90\":null,\"p99\":null,\"max\":null}");
	else
		snprintf(lat, sizeof(lat), "{\"count\":%llu,\"mean\":%.3f,"
		    "\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
		    (unsigned long long)n,
		    (double)hk_hist_sum(&hs.lat) / (double)n / 1e3,
		    (double)hk_hist_percentile(&hs.lat, 50) / 1e3,
		    (double)hk_hist_percentile(&hs.lat, 90) / 1e3,
		    (double)hk_hist_percentile(&hs.lat, 99) / 1e3,
		    (double)hk_hist_max(&hs.lat) / 1e3);
	/* Every webhook is answered 200. */
	if (hs.requests > 0)
		snprintf(resp, sizeof(resp), "\"200\":%llu",
		    (unsigned long long)hs.requests);
	/*
	 * sink.py's keys, so that either sink can be read the same way; the
	 * ones about signatures and retries are always 0 here.
	 */
	len = snprintf(buf, cap, "{%s\"requests\":%llu,\"accepted\":%llu,"
	    "\"unique\":%llu,\"duplicates\":%llu,\"retries\":0,"
	    "\"bad_signature\":0,\"missing_id\":%llu,\"bytes\":%llu,"
	    "\"responses\":{%s},\"latency_ms\":%s,\"elapsed_s\":%.3f,"
	    "\"rate_per_s\":%.1f}\n",
	    reset ? "\"reset\":true," : "",
	    (unsigned long long)hs.requests, (unsigned long long)hs.requests,
	    (unsigned long long)hs.unique, (unsigned long long)hs.duplicates,
	    (unsigned long long)hs.missing_id, (unsigned long long)hs.bytes,
	    resp, lat, elapsed, (double)hs.requests / elapsed);
	return len < 0 || (size_t)len >= cap ? HK_ERROR : len;
}

/* ---------------------------------------------------------------------- */
/* Answers */

/* hs_out_reserve - room for n more bytes in c->out. */
static int
hs_out_reserve(struct hs_conn *c, size_t n)
{
	size_t cap;
	char *p;

	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_cap - c->out_len >= n)
		return HK_OK;
	for (cap = c->out_cap ? c->out_cap : 1024; cap - c->out_len < n;
	    cap *= 2)
		;
	if ((p = realloc(c->out, cap)) == NULL)
		return HK_ERROR;
	c->out = p;
	c->out_cap = cap;
	return HK_OK;
}

static int
hs_out_add(struct hs_conn *c, const char *s, size_t n)
{
	if (hs_out_reserve(c, n) != HK_OK)
		return HK_ERROR;
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	return HK_OK;
}

/* hs_answer - queue an answer; without keep_alive, the last one. */
static int
hs_answer(struct hs_conn *c, int status, const char *body, size_t len,
    int keep_alive, int minor, int head_only)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
	    status, hk_http_reason(status), len,
	    !keep_alive ? "Connection: close\r\n" :
	    minor == 0 ? "Connection: keep-alive\r\n" : "");
	if (!keep_alive)
		c->closing = 1;
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    hs_out_add(c, head, (size_t)n) != HK_OK ||
	    (!head_only && hs_out_add(c, body, len) != HK_OK))
		return HK_ERROR;
	return HK_OK;
}

/* hs_error - answer a request that cannot be framed, and close. */
static void
hs_error(struct hs_conn *c, int status, const char *why)
{
	char body[256];
	int n;

	n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", why);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = 0;
	hs_answer(c, status, body, (size_t)n, 0, 1, 0);
}

/* hs_route - answer one complete request. */
static int
hs_route(struct hs_conn *c, const struct hk_http_req *req, size_t body_len)
{
	static const char ok[] = "{\"ok\":true}\n";
	char stats[HS_STATS_MAX];
	const char *q;
	size_t plen = req->target_len;
	int n, reset = 0;

	if ((q = memchr(req->target, '?', plen)) != NULL)
		plen = (size_t)(q - req->target);
#define HS_PATH_IS(p) (plen == sizeof(p) - 1 && memcmp(req->target, p, plen) == 0)
	if (req->method == HK_HTTP_POST && HS_PATH_IS("/_reset"))
		reset = 1;
	if (reset || (req->method == HK_HTTP_GET && HS_PATH_IS("/_stats"))) {
		if (reset && hs_reset() != HK_OK)
			return HK_ERROR;
		if ((n = hs_stats_json(stats, sizeof(stats), reset)) < 0)
			return HK_ERROR;
		return hs_answer(c, 200, stats, (size_t)n, req->keep_alive,
		    req->minor, 0);
	}
#undef HS_PATH_IS
	if (req->method == HK_HTTP_GET || req->method == HK_HTTP_HEAD)
		return hs_answer(c, 200, "{}\n", 3, req->keep_alive,
		    req->minor, req->method == HK_HTTP_HEAD);
	hs_webhook(req, body_len);
	return hs_answer(c, 200, ok, sizeof(ok) - 1, req->keep_alive,
	    req->minor, 0);
}

/*
 * hs_request - handle the request at c->in_off if it is all there: HK_OK
 * (consumed), HK_AGAIN (wait for more bytes), HK_ERROR (answered with an
 * error, or out of memory; the connection is closing either way).
 */
static int
hs_request(struct hs_conn *c)
{
	struct hk_http_req req;
	const char *buf = c->in + c->in_off, *why;
	size_t len = c->in_len - c->in_off;
	int status, rc;

	/* The body of a head already parsed is still coming: do not reparse. */
	if (c->need > 0 && len < c->need)
		return HK_AGAIN;
	rc = hk_http_parse_head(buf, len, HS_HEAD_MAX, &req, &status, &why);
	if (rc == HK_AGAIN)
		return HK_AGAIN;
	if (rc == HK_ERROR) {
		hs_error(c, status, why);
		return HK_ERROR;
	}
	if (req.chunked) {
		hs_error(c, 411, "chunked bodies are not supported: "
		    "send Content-Length");
		return HK_ERROR;
	}
	if (req.content_length > HS_BODY_MAX) {
		hs_error(c, 413, "the body is larger than 64 MiB");
		return HK_ERROR;
	}
	if (req.content_length < 0)
		req.content_length = 0;
	c->need = req.head_len + (size_t)req.content_length;
	if (len < c->need) {
		if (req.expect_continue && !c->continued) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

			c->continued = 1;
			return hs_out_add(c, cont, sizeof(cont) - 1) == HK_OK ?
			    HK_AGAIN : HK_ERROR;
		}
		return HK_AGAIN;
	}
	if (hs_route(c, &req, (size_t)req.content_length) != HK_OK) {
		c->closing = 1;
		return HK_ERROR;
	}
	c->in_off += c->need;
	c->need = 0;
	c->continued = 0;
	return HK_OK;
}

/* ---------------------------------------------------------------------- */
/* Connections */

/*
 * hs_conn_linger - the last answer is out: half-close and wait for the
 * client to close.  Closing at once with unread bytes in the socket (the
 * rest of a head too large, say) would send a reset, which can destroy the
 * answer before the client reads it.
 */
static void
hs_conn_linger(struct hs_conn *c)
{
	struct timeval tv = { HS_LINGER_MS / 1000, HS_LINGER_MS % 1000 * 1000 };

	shutdown(c->fd, SHUT_WR);
	c->lingering = 1;
	event_del(c->wev);
	if ((c->linger = evtimer_new(hs.base, hs_conn_linger_cb, c)) == NULL) {
		hs_conn_close(c);
		return;
	}
	evtimer_add(c->linger, &tv);
	event_add(c->rev, NULL);
}

static void
hs_conn_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	hs_conn_close(arg);
}

/*
 * hs_conn_flush - write what is queued.  HK_OK: all written, or the rest
 * waits for the socket (c->out_len > 0); HK_ERROR: c is closed or
 * lingering, and serves no more requests.
 */
static int
hs_conn_flush(struct hs_conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				event_add(c->wev, NULL);
				return HK_OK;
			}
			hs_conn_close(c);
			return HK_ERROR;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	event_del(c->wev);
	if (c->closing) {
		hs_conn_linger(c);
		return HK_ERROR;
	}
	return HK_OK;
}

/*
 * hs_conn_process - answer every complete request in the buffer, then
 * write the answers in one go.  A client that pipelines faster than it
 * reads is held back: past HS_OUT_HIGH of unwritten answers, reading stops
 * until the socket has taken them all.
 */
static void
hs_conn_process(struct hs_conn *c)
{
	int rc;

	for (;;) {
		rc = HK_AGAIN;
		while (!c->closing && c->out_len - c->out_off < HS_OUT_HIGH)
			if ((rc = hs_request(c)) != HK_OK)
				break;
		if (rc == HK_ERROR)
			c->closing = 1;
		if (hs_conn_flush(c) != HK_OK)
			return;
		if (c->out_len > 0) {
			if (c->closing || c->out_len - c->out_off >= HS_OUT_HIGH)
				event_del(c->rev);
			return;
		}
		if (!event_pending(c->rev, EV_READ, NULL))
			event_add(c->rev, NULL);
		if (rc != HK_OK)
			return;		/* waiting for more of a request */
	}
}

/* hs_conn_room - compact the input and make room for a read. */
static int
hs_conn_room(struct hs_conn *c)
{
	size_t want, cap;
	char *p;

	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	want = c->in_len + HS_READ_MIN;
	if (c->need > want)
		want = c->need;
	if (c->in_cap >= want)
		return HK_OK;
	for (cap = c->in_cap ? c->in_cap : HS_IN_INITIAL; cap < want; cap *= 2)
		;
	if ((p = realloc(c->in, cap)) == NULL)
		return HK_ERROR;
	c->in = p;
	c->in_cap = cap;
	return HK_OK;
}

static void
hs_conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hs_conn *c = arg;
	char discard[4096];
	ssize_t n;

	if (c->lingering) {
		n = read(c->fd, discard, sizeof(discard));
		if (n == 0 || (n < 0 && errno != EAGAIN &&
		    errno != EWOULDBLOCK && errno != EINTR))
			hs_conn_close(c);
		return;
	}
	if (hs_conn_room(c) != HK_OK) {
		fprintf(stderr, "hooksink: out of memory for a request\n");
		hs_conn_close(c);
		return;
	}
	n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		hs_conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	hs_conn_process(c);
}

static void
hs_conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hs_conn *c = arg;

	if (hs_conn_flush(c) == HK_OK && c->out_len == 0)
		hs_conn_process(c);
}

static void
hs_conn_close(struct hs_conn *c)
{
	event_free(c->rev);
	event_free(c->wev);
	if (c->linger != NULL)
		event_free(c->linger);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		hs.conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->in);
	free(c->out);
	free(c);
}

static void
hs_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	event_add(hs.lev, NULL);
}

static void
hs_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval pause = { 0, HS_ACCEPT_PAUSE_MS * 1000 };
	struct hs_conn *c;
	int cfd, one = 1;

	for (;;) {
		cfd = accept4(hs.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Level-triggered: without a pause this spins. */
				fprintf(stderr, "hooksink: accept4: %s\n",
				    strerror(errno));
				event_del(hs.lev);
				evtimer_add(hs.lpause, &pause);
			}
			return;
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->rev = event_new(hs.base, cfd, EV_READ | EV_PERSIST,
		    hs_conn_read_cb, c);
		c->wev = event_new(hs.base, cfd, EV_WRITE | EV_PERSIST,
		    hs_conn_write_cb, c);
		if (c->rev == NULL || c->wev == NULL) {
			if (c->rev != NULL)
				event_free(c->rev);
			if (c->wev != NULL)
				event_free(c->wev);
			close(cfd);
			free(c);
			continue;
		}
		c->next = hs.conns;
		if (hs.conns != NULL)
			hs.conns->prev = c;
		hs.conns = c;
		event_add(c->rev, NULL);
	}
}

/* ---------------------------------------------------------------------- */
/* Exit */

static void
hs_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(hs.base);
}

static void
hs_summary(void)
{
	uint64_t n = hk_hist_count(&hs.lat);

	if (n == 0) {
		fprintf(stderr, "hooksink: %llu requests, %llu unique, %llu "
		    "duplicates, %llu missing id; no latency samples\n",
		    (unsigned long long)hs.requests,
		    (unsigned long long)hs.unique,
		    (unsigned long long)hs.duplicates,
		    (unsigned long long)hs.missing_id);
		return;
	}
	fprintf(stderr, "hooksink: %llu requests, %llu unique, %llu "
	    "duplicates, %llu missing id; e2e p50 %.3f p90 %.3f p99 %.3f "
	    "max %.3f ms\n", (unsigned long long)hs.requests,
	    (unsigned long long)hs.unique, (unsigned long long)hs.duplicates,
	    (unsigned long long)hs.missing_id,
	    (double)hk_hist_percentile(&hs.lat, 50) / 1e3,
	    (double)hk_hist_percentile(&hs.lat, 90) / 1e3,
	    (double)hk_hist_percentile(&hs.lat, 99) / 1e3,
	    (double)hk_hist_max(&hs.lat) / 1e3);
}

int
main(int argc, char **argv)
{
	hs_options(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (hs_listen() != HK_OK)
		return HS_EXIT_FAIL;
	if (hs_reset() != HK_OK) {
		fprintf(stderr, "hooksink: out of memory\n");
		return HS_EXIT_FAIL;
	}
	if ((hs.base = event_base_new()) == NULL) {
		fprintf(stderr, "hooksink: cannot create the event base\n");
		return HS_EXIT_FAIL;
	}
	hs.lev = event_new(hs.base, hs.lfd, EV_READ | EV_PERSIST, hs_accept_cb,
	    NULL);
	hs.lpause = evtimer_new(hs.base, hs_accept_resume_cb, NULL);
	hs.sigint = evsignal_new(hs.base, SIGINT, hs_signal_cb, NULL);
	hs.sigterm = evsignal_new(hs.base, SIGTERM, hs_signal_cb, NULL);
	if (hs.lev == NULL || hs.lpause == NULL || hs.sigint == NULL ||
	    hs.sigterm == NULL) {
		fprintf(stderr, "hooksink: out of memory\n");
		return HS_EXIT_FAIL;
	}
	event_add(hs.lev, NULL);
	event_add(hs.sigint, NULL);
	event_add(hs.sigterm, NULL);
	if (!hs.quiet)
		fprintf(stderr, "hooksink: listening on http://%s/\n",
		    hs.listen);

	event_base_dispatch(hs.base);

	while (hs.conns != NULL)
		hs_conn_close(hs.conns);
	close(hs.lfd);
	event_free(hs.lev);
	event_free(hs.lpause);
	event_free(hs.sigint);
	event_free(hs.sigterm);
	event_base_free(hs.base);
	if (!hs.quiet)
		hs_summary();
	hs_set_free(&hs.ids);
	return HS_EXIT_OK;
}
