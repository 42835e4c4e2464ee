/*
 * hookbench.c - an HTTP/1.1 load generator for hookd's ingest port.
 *
 *   hookbench -u http://127.0.0.1:8080/webhooks/SOURCE [-c CONNS]
 *             [--rate R] [-d SECONDS] [-n COUNT] [-w SECONDS] [--json] ...
 *
 * Two modes.  Closed loop (the default): every connection sends its next
 * request as soon as the answer to the previous one is in, which finds the
 * peak throughput.  Open loop (--rate R): request k is due at t0 + k/R,
 * whatever happened to the requests before it, and its latency is measured
 * from that moment, not from when it could be written.  A closed-loop
 * generator stops sending while the server stalls, so the stall shows up in
 * one request instead of in every request that should have been sent during
 * it ("coordinated omission"); scheduling requests and charging the wait to
 * them is the remedy wrk2 popularised.  When every connection is busy, due
 * requests queue here and their latency grows, as a real sender's would.
 *
 * One thread, one libevent base, plain nonblocking sockets (no evhttp, no
 * bufferevents: each request is one writev of a prebuilt head and the body,
 * each answer one or two reads).  One request in flight per connection, no
 * pipelining.  Only loopback targets are accepted: this is a tool to
 * measure a gateway on its own machine, not to load somebody else's.
 *
 * Exit status: 0 the run completed (errors are reported, not fatal), 1 no
 * answer at all or a runtime failure, 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "histogram.h"
#include "sign.h"
#include "sockaddr.h"
#include "verify.h"

#define HB_EXIT_OK       0
#define HB_EXIT_FAIL     1
#define HB_EXIT_USAGE    2

#define HB_MAX_CONNS     10000
#define HB_HEAD_MAX      4096		/* request line and headers */
#define HB_IN_INITIAL    4096
#define HB_IN_MAX        (1 << 20)	/* an answer larger than this is an error */
#define HB_TICK_MS       10
#define HB_RECONNECT_MS  50
#define HB_BODY_DEFAULT  1024
#define HB_STATUS_MAX    600
#define HB_NS            1000000000ull

enum hb_state {
	HB_DOWN,			/* no socket, waiting to reconnect */
	HB_CONNECTING,
	HB_IDLE,			/* connected, no request */
	HB_BUSY,			/* a request written or being written */
};

enum hb_keys {
	HB_KEYS_NONE,			/* no idempotency key header */
	HB_KEYS_UNIQUE,
	HB_KEYS_REPEAT,
};

/* The socket errors, counted apart from HTTP statuses. */
enum hb_err {
	HB_ERR_CONNECT,
	HB_ERR_READ,			/* reset, or closed before the answer */
	HB_ERR_WRITE,
	HB_ERR_TIMEOUT,
	HB_ERR_PROTOCOL,		/* an answer we cannot parse */
	HB_ERR_COUNT
};

static const char *const hb_err_names[HB_ERR_COUNT] = {
	"connect", "read", "write", "timeout", "protocol"
};

struct hb_conn {
	int            fd;
	int            state;		/* enum hb_state */
	struct event  *rev;
	struct event  *wev;
	struct event  *retry;		/* reconnect timer */
	char           head[HB_HEAD_MAX];
	size_t         head_len;
	size_t         written;		/* of head + body */
	char          *in;
	size_t         in_len;
	size_t         in_cap;
	size_t         in_scanned;	/* bytes searched for the head's end */
	uint64_t       start_ns;	/* due (open loop) or sent (closed) */
	uint64_t       sent_ns;		/* for the timeout */
	int            measured;	/* started after the warm-up */
};

/* What parsing an answer found. */
struct hb_resp {
	int            status;
	size_t         head_len;
	size_t         body_len;
	int            close;		/* the server will close after it */
};

static struct {
	/* options */
	const char    *url;
	int            nconns;
	double         rate;		/* 0: closed loop */
	double         duration_s;	/* 0: none */
	uint64_t       count;		/* 0: none */
	double         warmup_s;	/* < 0: the default */
	double         timeout_s;
	int            json;
	int            keys;		/* enum hb_keys */
	const char    *key_header;
	const char    *ctype;
	struct hk_verify_key src;
	char          *secret;

	/* target */
	struct sockaddr_storage addr;
	socklen_t      addrlen;
	char           hostport[300];
	char           path[1024];

	/* request pieces */
	unsigned char *body;
	size_t         body_len;
	char           prefix[HB_HEAD_MAX / 2];	/* line, Host, type, length */
	size_t         prefix_len;
	char           sig[HB_HEAD_MAX / 2];	/* cached signature headers */
	size_t         sig_len;
	time_t         sig_time;		/* when sig was made (-1: never) */
	int            sig_per_second;		/* the scheme signs a timestamp */
	int            sig_per_request;		/* the scheme signs the key */
	char           run_id[17];
	uint64_t       key_seq;

	/* run */
	struct event_base *base;
	struct hb_conn *conns;
	struct event  *tick;
	struct event  *sched;		/* open loop: next due request */
	struct event  *sigint;
	int           *idle;		/* open loop: idle connections, a stack */
	int            nidle;
	int            nbusy;		/* connections with a request */
	int            nconnected;	/* connections that connected once */
	int            started;		/* t0 is set */
	int            stopping;	/* no new requests */
	int            interrupted;
	int            failed;
	uint64_t       t0, t_warm, t_stop, t_drain;
	uint64_t       issued;		/* requests started (k of the schedule) */
	uint64_t       due_at_stop;
	uint64_t       completed;	/* answers received */
	uint64_t       measured;	/* of them, started after the warm-up */
	uint64_t       ok2xx;
	uint64_t       status[HB_STATUS_MAX];
	uint64_t       errs[HB_ERR_COUNT];
	uint64_t       reconnects;
	uint64_t       last_done_ns;
	struct hk_hist hist;
	int            last_errno;
} hb;

static void hb_conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void hb_conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void hb_conn_retry_cb(evutil_socket_t fd, short what, void *arg);
static void hb_dispatch(struct hb_conn *c);
static void hb_maybe_finish(void);

/* ---------------------------------------------------------------------- */
/* Options */

static void
hb_usage(FILE *f)
{
	fprintf(f,
"usage: hookbench -u URL [options]\n"
"  -u, --url URL          http://HOST:PORT/webhooks/SOURCE (loopback only)\n"
"  -c, --connections N    keep-alive connections (default 16)\n"
"  -r, --rate R           open loop: R requests/s on a fixed schedule, latency\n"
"                         measured from when each request was due\n"
"  -d, --duration S       stop after S seconds (default 10 without -n)\n"
"  -n, --requests N       stop after N requests (with -d: whichever first)\n"
"  -w, --warmup S         leave the first S seconds out of rate and latency\n"
"                         (default 0.5 with -d, 0 with -n alone)\n"
"  -t, --timeout S        an answer later than S seconds is an error (10)\n"
"  -b, --body FILE        request body (default a generated 1 KB JSON)\n"
"      --content-type T   (default application/json)\n"
"      --scheme S         sign: github, stripe, standard, shopify, slack,\n"
"                         hmac-sha256 (with --header, --encoding, --prefix)\n"
"      --secret S         the signing secret\n"
"      --header NAME      hmac-sha256: the signature header\n"
"      --encoding E       hmac-sha256: hex (default) or base64\n"
"      --prefix P         hmac-sha256: text before the signature\n"
"      --unique-keys      a different idempotency key on every request\n"
"      --repeat-keys      the same idempotency key on every request\n"
"      --key-header NAME  the key's header (default by scheme: X-GitHub-Delivery,\n"
"                         X-Shopify-Webhook-Id, webhook-id; else Idempotency-Key)\n"
"  -j, --json             JSON output\n"
"  -h, --help\n");
}

static int
hb_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
	    v < min || v > max)
		return HK_ERROR;
	*out = v;
	return HK_OK;
}

static void hb_die_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* hb_die_usage - a usage error: say what is wrong and exit 2. */
static void
hb_die_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "hookbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(HB_EXIT_USAGE);
}

/* Header text from the command line must not smuggle in CR or LF. */
static int
hb_printable(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static const char *
hb_options(int argc, char **argv)
{
	enum { O_SCHEME = 256, O_SECRET, O_HEADER, O_ENCODING, O_PREFIX,
	    O_UNIQUE, O_REPEAT, O_KEYHDR, O_CTYPE };
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "connections", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "requests", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "body", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "scheme", required_argument, NULL, O_SCHEME },
		{ "secret", required_argument, NULL, O_SECRET },
		{ "header", required_argument, NULL, O_HEADER },
		{ "encoding", required_argument, NULL, O_ENCODING },
		{ "prefix", required_argument, NULL, O_PREFIX },
		{ "unique-keys", no_argument, NULL, O_UNIQUE },
		{ "repeat-keys", no_argument, NULL, O_REPEAT },
		{ "key-header", required_argument, NULL, O_KEYHDR },
		{ "content-type", required_argument, NULL, O_CTYPE },
		{ NULL, 0, NULL, 0 }
	};
	const char *body_file = NULL;
	double v;
	int ch;

	hb.nconns = 16;
	hb.warmup_s = -1;
	hb.timeout_s = 10;
	hb.ctype = "application/json";
	hb.src.scheme = HK_VERIFY_NONE;
	hb.src.encoding = HK_ENC_HEX;

	while ((ch = getopt_long(argc, argv, "u:c:r:d:n:w:t:b:jh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'u':
			hb.url = optarg;
			break;
		case 'c':
			if (hb_parse_double(optarg, 1, HB_MAX_CONNS, &v) != HK_OK ||
			    v != floor(v))
				hb_die_usage("-c: a whole number from 1 to 10000, "
				    "not \"%s\"", optarg);
			hb.nconns = (int)v;
			break;
		case 'r':
			if (hb_parse_double(optarg, 0.001, 1e7, &hb.rate) != HK_OK)
				hb_die_usage("--rate: requests per second, "
				    "not \"%s\"", optarg);
			break;
		case 'd':
			if (hb_parse_double(optarg, 0.001, 86400,
			    &hb.duration_s) != HK_OK)
				hb_die_usage("-d: seconds, not \"%s\"", optarg);
			break;
		case 'n':
			if (hb_parse_double(optarg, 1, 1e15, &v) != HK_OK ||
			    v != floor(v))
				hb_die_usage("-n: a positive whole number, "
				    "not \"%s\"", optarg);
			hb.count = (uint64_t)v;
			break;
		case 'w':
			if (hb_parse_double(optarg, 0, 3600, &hb.warmup_s) !=
			    HK_OK)
				hb_die_usage("-w: seconds, not \"%s\"", optarg);
			break;
		case 't':
			if (hb_parse_double(optarg, 0.001, 3600,
			    &hb.timeout_s) != HK_OK)
				hb_die_usage("-t: seconds, not \"%s\"", optarg);
			break;
		case 'b':
			body_file = optarg;
			break;
		case 'j':
			hb.json = 1;
			break;
		case 'h':
			hb_usage(stdout);
			exit(HB_EXIT_OK);
		case O_SCHEME:
			if ((hb.src.scheme = hk_verify_scheme_parse(optarg)) < 0)
				hb_die_usage("--scheme: unknown scheme \"%s\"",
				    optarg);
			break;
		case O_SECRET:
			hb.secret = optarg;
			break;
		case O_HEADER:
			hb.src.header = optarg;
			break;
		case O_ENCODING:
			if (strcmp(optarg, "hex") == 0)
				hb.src.encoding = HK_ENC_HEX;
			else if (strcmp(optarg, "base64") == 0)
				hb.src.encoding = HK_ENC_BASE64;
			else
				hb_die_usage("--encoding: hex or base64, "
				    "not \"%s\"", optarg);
			break;
		case O_PREFIX:
			hb.src.prefix = optarg;
			break;
		case O_UNIQUE:
			hb.keys = HB_KEYS_UNIQUE;
			break;
		case O_REPEAT:
			hb.keys = HB_KEYS_REPEAT;
			break;
		case O_KEYHDR:
			hb.key_header = optarg;
			break;
		case O_CTYPE:
			hb.ctype = optarg;
			break;
		default:
			hb_usage(stderr);
			exit(HB_EXIT_USAGE);
		}
	}
	if (optind != argc)
		hb_die_usage("unexpected argument \"%s\"", argv[optind]);
	if (hb.url == NULL)
		hb_die_usage("%s", "-u URL is required (see --help)");
	if (hb.src.scheme != HK_VERIFY_NONE && hb.secret == NULL)
		hb_die_usage("--scheme %s needs --secret", hk_verify_scheme_name(
		    hb.src.scheme));
	if (hb.src.scheme == HK_VERIFY_HMAC_SHA256 &&
	    (hb.src.header == NULL || hb.src.header[0] == '\0'))
		hb_die_usage("%s", "--scheme hmac-sha256 needs --header NAME");
	if (hb.duration_s == 0 && hb.count == 0)
		hb.duration_s = 10;
	if (hb.warmup_s < 0)
		hb.warmup_s = hb.duration_s > 0 ? 0.5 : 0;
	if (hb.duration_s > 0 && hb.warmup_s >= hb.duration_s)
		hb_die_usage("%s", "-w: the warm-up must be shorter than -d");
	if (!hb_printable(hb.ctype) || !hb_printable(hb.key_header) ||
	    !hb_printable(hb.src.header) || !hb_printable(hb.src.prefix))
		hb_die_usage("%s", "control characters in a header option");
	if (hb.secret != NULL) {
		hb.src.secrets[0] = hb.secret;
		hb.src.nsecrets = 1;
	}
	return body_file;
}

/* ---------------------------------------------------------------------- */
/* The target */

/*
 * hb_target - split http://HOST[:PORT]/PATH and resolve HOST, which must
 * be a loopback address or "localhost".  Names other than localhost are
 * refused without a lookup: the answer could change between the check and
 * the connect, and a benchmark has no business resolving anything else.
 */
static void
hb_target(void)
{
	struct addrinfo hints, *res, *ai;
	const char *p = hb.url, *host, *hend, *slash;
	char hostbuf[256], port[8] = "80";
	size_t hlen;
	int rc;

	if (strncasecmp(p, "http://", 7) != 0)
		hb_die_usage("-u: only http:// URLs, not \"%s\"", hb.url);
	p += 7;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	if (*p == '[') {
		host = p + 1;
		if ((hend = memchr(host, ']', (size_t)(slash - host))) == NULL)
			hb_die_usage("-u: bad IPv6 address in \"%s\"", hb.url);
		p = hend + 1;
	} else {
		host = p;
		hend = memchr(p, ':', (size_t)(slash - p));
		if (hend == NULL)
			hend = slash;
		p = hend;
	}
	if (*p == ':') {
		size_t n = (size_t)(slash - p - 1);

		if (n == 0 || n >= sizeof(port) ||
		    strspn(p + 1, "0123456789") < n)
			hb_die_usage("-u: bad port in \"%s\"", hb.url);
		memcpy(port, p + 1, n);
		port[n] = '\0';
	} else if (p != slash)
		hb_die_usage("-u: cannot parse \"%s\"", hb.url);
	hlen = (size_t)(hend - host);
	if (hlen == 0 || hlen >= sizeof(hostbuf))
		hb_die_usage("-u: no host in \"%s\"", hb.url);
	memcpy(hostbuf, host, hlen);
	hostbuf[hlen] = '\0';
	snprintf(hb.path, sizeof(hb.path), "%s", *slash ? slash : "/");
	if (strlen(slash) >= sizeof(hb.path) ||
	    strcspn(hb.path, " \r\n\t") != strlen(hb.path))
		hb_die_usage("-u: bad path in \"%s\"", hb.url);
	if (host != hb.url && host[-1] == '[')
		snprintf(hb.hostport, sizeof(hb.hostport), "[%s]:%s",
		    hostbuf, port);
	else
		snprintf(hb.hostport, sizeof(hb.hostport), "%s:%s", hostbuf,
		    port);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (strcasecmp(hostbuf, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
	if ((rc = getaddrinfo(hostbuf, port, &hints, &res)) != 0) {
		if (rc == EAI_NONAME && (hints.ai_flags & AI_NUMERICHOST))
			hb_die_usage("refusing \"%s\": only loopback "
			    "addresses (127.0.0.0/8, ::1, localhost)", hostbuf);
		fprintf(stderr, "hookbench: %s: %s\n", hostbuf,
		    gai_strerror(rc));
		exit(HB_EXIT_USAGE);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (!hk_sockaddr_loopback(ai->ai_addr)) {
			freeaddrinfo(res);
			hb_die_usage("refusing \"%s\": not a loopback address; "
			    "hookbench only loads servers on this machine",
			    hostbuf);
		}
	memcpy(&hb.addr, res->ai_addr, res->ai_addrlen);
	hb.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

/* ---------------------------------------------------------------------- */
/* Requests */

/*
 * hb_default_body - about 1 KB of JSON shaped like a provider's event: a
 * few nested objects and strings, padded to HB_BODY_DEFAULT bytes exactly.
 */
static void
hb_default_body(void)
{
	static const char head[] =
	    "{\"action\":\"opened\",\"number\":4242,\"sender\":{\"login\":"
	    "\"octocat\",\"id\":583231,\"type\":\"User\",\"site_admin\":false},"
	    "\"repository\":{\"id\":1296269,\"full_name\":\"octocat/Hello-World\","
	    "\"private\":false,\"default_branch\":\"main\",\"topics\":[\"webhooks\","
	    "\"benchmark\"]},\"pull_request\":{\"title\":\"Make the ingest path "
	    "faster\",\"state\":\"open\",\"draft\":false,\"additions\":120,"
	    "\"deletions\":37,\"labels\":[{\"name\":\"performance\"},{\"name\":"
	    "\"needs-review\"}]},\"padding\":\"";
	static const char tail[] = "\"}";
	size_t n = HB_BODY_DEFAULT, pad, i;

	hb.body = malloc(n + 1);
	if (hb.body == NULL) {
		perror("hookbench: malloc");
		exit(HB_EXIT_FAIL);
	}
	pad = n - (sizeof(head) - 1) - (sizeof(tail) - 1);
	memcpy(hb.body, head, sizeof(head) - 1);
	for (i = 0; i < pad; i++)
		hb.body[sizeof(head) - 1 + i] =
		    (unsigned char)"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36];
	memcpy(hb.body + n - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
	hb.body[n] = '\0';
	hb.body_len = n;
}

static void
hb_load_body(const char *file)
{
	struct stat st;
	ssize_t r;
	size_t off = 0;
	int fd;

	if (file == NULL) {
		hb_default_body();
		return;
	}
	if ((fd = open(file, O_RDONLY)) < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "hookbench: %s: %s\n", file, strerror(errno));
		exit(HB_EXIT_USAGE);
	}
	if (st.st_size > 64 * 1024 * 1024) {
		fprintf(stderr, "hookbench: %s: larger than 64 MiB\n", file);
		exit(HB_EXIT_USAGE);
	}
	hb.body_len = (size_t)st.st_size;
	if ((hb.body = malloc(hb.body_len + 1)) == NULL) {
		perror("hookbench: malloc");
		exit(HB_EXIT_FAIL);
	}
	while (off < hb.body_len) {
		r = read(fd, hb.body + off, hb.body_len - off);
		if (r <= 0) {
			fprintf(stderr, "hookbench: read %s: %s\n", file,
			    r < 0 ? strerror(errno) : "file shrank");
			exit(HB_EXIT_FAIL);
		}
		off += (size_t)r;
	}
	close(fd);
}

/* The header that carries the idempotency key, by scheme. */
static const char *
hb_key_header(void)
{
	if (hb.key_header != NULL)
		return hb.key_header;
	switch (hb.src.scheme) {
	case HK_VERIFY_GITHUB:
		return "X-GitHub-Delivery";
	case HK_VERIFY_SHOPIFY:
		return "X-Shopify-Webhook-Id";
	case HK_VERIFY_STANDARD:
		return "webhook-id";		/* emitted by the signer */
	default:
		return "Idempotency-Key";
	}
}

static void
hb_requests_setup(void)
{
	unsigned char rnd[8];
	size_t i;
	int n;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = hk_clock_mono_ns() ^ ((uint64_t)getpid() << 32);

		memcpy(rnd, &t, sizeof(rnd));
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(hb.run_id + 2 * i, 3, "%02x", rnd[i]);

	n = snprintf(hb.prefix, sizeof(hb.prefix),
	    "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hookbench/"
	    HK_VERSION "\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
	    hb.path, hb.hostport, hb.ctype, hb.body_len);
	if (n < 0 || (size_t)n >= sizeof(hb.prefix))
		hb_die_usage("%s", "the URL or content type is too long");
	hb.prefix_len = (size_t)n;

	/*
	 * The signature is made once and reused while what it signs stays the
	 * same: the body alone for github, shopify and hmac-sha256, plus the
	 * second for stripe and slack, plus the message id for standard.  The
	 * id headers that github and shopify carry are added per request.
	 */
	hb.sig_time = -1;
	hb.sig_per_second = hb.src.scheme == HK_VERIFY_STRIPE ||
	    hb.src.scheme == HK_VERIFY_SLACK ||
	    hb.src.scheme == HK_VERIFY_STANDARD;
	hb.sig_per_request = hb.src.scheme == HK_VERIFY_STANDARD;
	/* Standard Webhooks requires webhook-id, so it always has a key. */
	if (hb.src.scheme == HK_VERIFY_STANDARD && hb.keys == HB_KEYS_NONE)
		hb.keys = HB_KEYS_UNIQUE;
}

struct hb_emit {
	char   *buf;
	size_t  cap;
	size_t  len;
};

static int
hb_emit_header(void *ctx, const char *name, const char *value)
{
	struct hb_emit *e = ctx;
	int n;

	n = snprintf(e->buf + e->len, e->cap - e->len, "%s: %s\r\n", name,
	    value);
	if (n < 0 || (size_t)n >= e->cap - e->len)
		return HK_ERROR;
	e->len += (size_t)n;
	return HK_OK;
}

/* hb_sign - refresh the cached signature headers if they went stale. */
static int
hb_sign(const char *key)
{
	struct hb_emit e = { hb.sig, sizeof(hb.sig), 0 };
	time_t now;

	if (hb.src.scheme == HK_VERIFY_NONE)
		return HK_OK;
	now = hb.sig_per_second ? time(NULL) : 0;
	if (hb.sig_time >= 0 && !hb.sig_per_request && now == hb.sig_time)
		return HK_OK;
	if (hk_sign_request(&hb.src, hb.secret, hb.body, hb.body_len,
	    hb.sig_per_second ? now : time(NULL),
	    hb.sig_per_request ? key : NULL, hb_emit_header, &e) != HK_OK) {
		fprintf(stderr, "hookbench: cannot sign with scheme %s (is the "
		    "secret right for it?)\n",
		    hk_verify_scheme_name(hb.src.scheme));
		return HK_ERROR;
	}
	hb.sig_len = e.len;
	hb.sig_time = now;
	return HK_OK;
}

/* hb_build - the head of the next request into c->head. */
static int
hb_build(struct hb_conn *c)
{
	char key[64];
	size_t len;
	int n;

	key[0] = '\0';
	if (hb.keys == HB_KEYS_UNIQUE)
		snprintf(key, sizeof(key), "hb-%s-%llu", hb.run_id,
		    (unsigned long long)hb.key_seq++);
	else if (hb.keys == HB_KEYS_REPEAT)
		snprintf(key, sizeof(key), "hb-%s-repeat", hb.run_id);
	if (hb_sign(key) != HK_OK)
		return HK_ERROR;

	memcpy(c->head, hb.prefix, hb.prefix_len);
	len = hb.prefix_len;
	if (hb.sig_len + len >= sizeof(c->head))
		return HK_ERROR;
	memcpy(c->head + len, hb.sig, hb.sig_len);
	len += hb.sig_len;
	if (key[0] != '\0' && !hb.sig_per_request) {
		n = snprintf(c->head + len, sizeof(c->head) - len,
		    "%s: %s\r\n", hb_key_header(), key);
		if (n < 0 || (size_t)n >= sizeof(c->head) - len)
			return HK_ERROR;
		len += (size_t)n;
	}
	if (len + 2 > sizeof(c->head))
		return HK_ERROR;
	memcpy(c->head + len, "\r\n", 2);
	c->head_len = len + 2;
	return HK_OK;
}

/* ---------------------------------------------------------------------- */
/* Connections */

static void
hb_fail(enum hb_err err, int eno)
{
	hb.errs[err]++;
	if (eno != 0)
		hb.last_errno = eno;
}

static void
hb_idle_remove(struct hb_conn *c)
{
	int i, idx = (int)(c - hb.conns);

	for (i = 0; i < hb.nidle; i++)
		if (hb.idle[i] == idx) {
			hb.idle[i] = hb.idle[--hb.nidle];
			return;
		}
}

/*
 * hb_conn_close - drop the socket; a request in flight is lost (the caller
 * counted why).  Unless the run is stopping, a new connection follows after
 * delay_ms.
 */
static void
hb_conn_close(struct hb_conn *c, int delay_ms)
{
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };

	if (c->state == HB_BUSY)
		hb.nbusy--;
	else if (c->state == HB_IDLE)
		hb_idle_remove(c);
	if (c->rev != NULL) {
		event_free(c->rev);
		c->rev = NULL;
	}
	if (c->wev != NULL) {
		event_free(c->wev);
		c->wev = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = HB_DOWN;
	if (!hb.stopping)
		evtimer_add(c->retry, &tv);
	hb_maybe_finish();
}

static int
hb_conn_open(struct hb_conn *c)
{
	int one = 1;

	c->fd = socket(hb.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "hookbench: socket: %s\n", strerror(errno));
		return HK_ERROR;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->rev = event_new(hb.base, c->fd, EV_READ | EV_PERSIST,
	    hb_conn_read_cb, c);
	c->wev = event_new(hb.base, c->fd, EV_WRITE | EV_PERSIST,
	    hb_conn_write_cb, c);
	if (c->rev == NULL || c->wev == NULL) {
		fprintf(stderr, "hookbench: event_new failed\n");
		return HK_ERROR;
	}
	c->state = HB_CONNECTING;
	c->in_len = 0;
	if (connect(c->fd, (struct sockaddr *)&hb.addr, hb.addrlen) < 0 &&
	    errno != EINPROGRESS) {
		hb_fail(HB_ERR_CONNECT, errno);
		hb_conn_close(c, HB_RECONNECT_MS);
		return HK_OK;
	}
	event_add(c->wev, NULL);
	return HK_OK;
}

static void
hb_conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hb_conn *c = arg;

	if (hb.stopping || c->state != HB_DOWN)
		return;
	hb.reconnects++;
	if (hb_conn_open(c) != HK_OK) {
		hb.failed = 1;
		event_base_loopbreak(hb.base);
	}
}

/* hb_conn_write - write what is left of the request; HK_ERROR closed c. */
static int
hb_conn_write(struct hb_conn *c)
{
	struct iovec iov[2];
	ssize_t n;
	int niov;

	for (;;) {
		size_t total = c->head_len + hb.body_len;

		if (c->written >= total) {
			event_del(c->wev);
			return HK_OK;
		}
		niov = 0;
		if (c->written < c->head_len) {
			iov[niov].iov_base = c->head + c->written;
			iov[niov++].iov_len = c->head_len - c->written;
			iov[niov].iov_base = hb.body;
			iov[niov++].iov_len = hb.body_len;
		} else {
			iov[niov].iov_base = hb.body + (c->written -
			    c->head_len);
			iov[niov++].iov_len = total - c->written;
		}
		n = writev(c->fd, iov, niov);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				event_add(c->wev, NULL);
				return HK_OK;
			}
			hb_fail(HB_ERR_WRITE, errno);
			hb_conn_close(c, 0);
			return HK_ERROR;
		}
		c->written += (size_t)n;
	}
}

static void
hb_conn_connected(struct hb_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		hb_fail(HB_ERR_CONNECT, err);
		hb_conn_close(c, HB_RECONNECT_MS);
		return;
	}
	event_del(c->wev);
	event_add(c->rev, NULL);
	c->state = HB_IDLE;
	hb.nconnected++;
	if (hb.started)
		hb_dispatch(c);
}

static void
hb_conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hb_conn *c = arg;

	if (c->state == HB_CONNECTING)
		hb_conn_connected(c);
	else if (c->state == HB_BUSY)
		hb_conn_write(c);
	else
		event_del(c->wev);
}

/* ---------------------------------------------------------------------- */
/* Answers */

/*
 * hb_parse - is a whole answer in buf?  HK_OK with r filled, HK_AGAIN for
 * more, HK_ERROR when it is not an HTTP/1.x answer we can frame (chunked
 * bodies are not supported: neither hookd nor nginx's return send them).
 */
static int
hb_parse(struct hb_conn *c, struct hb_resp *r)
{
	const char *buf = c->in, *end, *line, *eol, *v;
	size_t from = c->in_scanned > 3 ? c->in_scanned - 3 : 0;
	int have_len = 0, http10;

	end = memmem(buf + from, c->in_len - from, "\r\n\r\n", 4);
	if (end == NULL) {
		c->in_scanned = c->in_len;
		return HK_AGAIN;
	}
	r->head_len = (size_t)(end - buf) + 4;
	if (r->head_len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
	    buf[8] != ' ' || buf[9] < '1' || buf[9] > '5' ||
	    buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
		return HK_ERROR;
	r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 +
	    (buf[11] - '0');
	http10 = buf[7] == '0';
	r->close = http10;
	r->body_len = 0;
	line = (const char *)memchr(buf, '\n', r->head_len) + 1;
	while (line < end + 2) {
		eol = memchr(line, '\r', (size_t)(end + 2 - line));
		if (eol == NULL)
			break;
		if (eol - line > 15 && strncasecmp(line, "content-length:",
		    15) == 0) {
			char *e;

			v = line + 15;
			while (*v == ' ' || *v == '\t')
				v++;
			r->body_len = strtoull(v, &e, 10);
			if (e == v)
				return HK_ERROR;
			have_len = 1;
		} else if (eol - line > 11 && strncasecmp(line, "connection:",
		    11) == 0) {
			size_t n = (size_t)(eol - line) - 11;

			if (memmem(line + 11, n, "close", 5) != NULL)
				r->close = 1;
			else if (http10 && memmem(line + 11, n, "eep-alive",
			    9) != NULL)
				r->close = 0;
		} else if (eol - line > 18 && strncasecmp(line,
		    "transfer-encoding:", 18) == 0)
			return HK_ERROR;
		line = eol + 2;
	}
	if (!have_len && r->status != 204 && r->status != 304 &&
	    r->status >= 200)
		return HK_ERROR;	/* framed by close: not for keep-alive */
	if (r->body_len > HB_IN_MAX)
		return HK_ERROR;
	if (c->in_len < r->head_len + r->body_len)
		return HK_AGAIN;
	if (c->in_len > r->head_len + r->body_len)
		return HK_ERROR;	/* we never pipeline */
	return HK_OK;
}

static void
hb_done(struct hb_conn *c, const struct hb_resp *r)
{
	uint64_t now = hk_clock_mono_ns();

	hb.completed++;
	hb.status[r->status < HB_STATUS_MAX ? r->status : 0]++;
	if (r->status >= 200 && r->status < 300)
		hb.ok2xx++;
	if (c->measured) {
		hk_hist_record(&hb.hist, (now - c->start_ns) / 1000);
		hb.measured++;
		hb.last_done_ns = now;
	}
	c->in_len = 0;
	c->in_scanned = 0;
	/* Answered before the body was out: the rest cannot follow. */
	if (r->close || c->written < c->head_len + hb.body_len) {
		hb_conn_close(c, 0);
		return;
	}
	hb.nbusy--;
	c->state = HB_IDLE;
	hb_dispatch(c);
	hb_maybe_finish();
}

static void
hb_conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hb_conn *c = arg;
	struct hb_resp r;
	ssize_t n;
	int rc;

	if (c->in_cap - c->in_len < 512) {
		size_t cap = c->in_cap ? c->in_cap * 2 : HB_IN_INITIAL;
		char *p;

		if (cap > 2 * HB_IN_MAX || (p = realloc(c->in, cap)) == NULL) {
			hb_fail(HB_ERR_PROTOCOL, 0);
			hb_conn_close(c, 0);
			return;
		}
		c->in = p;
		c->in_cap = cap;
	}
	n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		/* The server closing an idle keep-alive connection is normal. */
		if (c->state == HB_BUSY)
			hb_fail(HB_ERR_READ, n < 0 ? errno : ECONNRESET);
		hb_conn_close(c, 0);
		return;
	}
	if (c->state != HB_BUSY) {
		hb_fail(HB_ERR_PROTOCOL, 0);	/* an answer to nothing */
		hb_conn_close(c, 0);
		return;
	}
	c->in_len += (size_t)n;
	rc = hb_parse(c, &r);
	if (rc == HK_AGAIN)
		return;
	if (rc == HK_ERROR) {
		hb_fail(HB_ERR_PROTOCOL, 0);
		hb_conn_close(c, 0);
		return;
	}
	hb_done(c, &r);
}

/* ---------------------------------------------------------------------- */
/* Schedule */

/* When request k of the open-loop schedule is due. */
static uint64_t
hb_due(uint64_t k)
{
	return hb.t0 + (uint64_t)((double)k * 1e9 / hb.rate);
}

static void
hb_stop(uint64_t now)
{
	uint64_t due, end;

	if (hb.stopping)
		return;
	hb.stopping = 1;
	hb.t_drain = now + (uint64_t)(hb.timeout_s * 1e9);
	if (hb.rate > 0) {
		/* How many requests fell due before the end of the run. */
		end = HK_MIN(now, hb.t_stop);
		due = end >= hb.t0 ? (uint64_t)ceil((double)(end - hb.t0) *
		    hb.rate / 1e9) : 0;
		if (hb.count > 0 && due > hb.count)
			due = hb.count;
		hb.due_at_stop = HK_MAX(due, hb.issued);
		event_del(hb.sched);
	}
	hb_maybe_finish();
}

static void
hb_maybe_finish(void)
{
	if (hb.stopping && hb.nbusy == 0)
		event_base_loopbreak(hb.base);
}

/*
 * hb_can_issue - may another request start?  Stops the run if not.  In the
 * open loop what counts is when the request fell due, not when a
 * connection could take it: a request due before the end is part of the
 * run even when it goes out late.
 */
static int
hb_can_issue(uint64_t now)
{
	uint64_t start = hb.rate > 0 ? hb_due(hb.issued) : now;

	if (hb.stopping)
		return 0;
	if ((hb.count > 0 && hb.issued >= hb.count) || start >= hb.t_stop) {
		hb_stop(now);
		return 0;
	}
	return 1;
}

static void
hb_issue(struct hb_conn *c, uint64_t start)
{
	if (hb_build(c) != HK_OK) {
		hb.failed = 1;
		event_base_loopbreak(hb.base);
		return;
	}
	c->start_ns = start;
	c->sent_ns = hb.rate > 0 ? hk_clock_mono_ns() : start;
	c->measured = start >= hb.t_warm;
	c->written = 0;
	c->state = HB_BUSY;
	hb.nbusy++;
	hb.issued++;
	hb_conn_write(c);
}

/* hb_sched_arm - wake up when the next request falls due (or the run ends). */
static void
hb_sched_arm(uint64_t now)
{
	uint64_t at = HK_MIN(hb_due(hb.issued), hb.t_stop);
	uint64_t wait = at > now ? at - now : 0;
	struct timeval tv = { (time_t)(wait / HB_NS),
	    (suseconds_t)(wait % HB_NS / 1000) };

	evtimer_add(hb.sched, &tv);
}

/*
 * hb_dispatch - c is idle: give it the next request.  Closed loop: at once.
 * Open loop: the oldest request that is due, charged from when it was due;
 * if none is due yet, c waits on the idle stack for the schedule timer.
 */
static void
hb_dispatch(struct hb_conn *c)
{
	uint64_t now = hk_clock_mono_ns(), due;

	if (!hb_can_issue(now))
		return;
	if (hb.rate <= 0) {
		hb_issue(c, now);
		return;
	}
	due = hb_due(hb.issued);
	if (due <= now) {
		hb_issue(c, due);
		return;
	}
	hb.idle[hb.nidle++] = (int)(c - hb.conns);
	if (hb.nidle == 1)
		hb_sched_arm(now);
}

static void
hb_sched_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = hk_clock_mono_ns(), due;
	struct hb_conn *c;

	while (hb.nidle > 0 && hb_can_issue(now)) {
		due = hb_due(hb.issued);
		if (due > now) {
			hb_sched_arm(now);
			return;
		}
		c = &hb.conns[hb.idle[--hb.nidle]];
		hb_issue(c, due);
	}
}

/* hb_begin - every first connect has resolved: the clock starts. */
static void
hb_begin(void)
{
	int i;

	hb.started = 1;
	hb.t0 = hk_clock_mono_ns();
	hb.t_warm = hb.t0 + (uint64_t)(hb.warmup_s * 1e9);
	hb.t_stop = hb.duration_s > 0 ?
	    hb.t0 + (uint64_t)(hb.duration_s * 1e9) : UINT64_MAX;
	for (i = 0; i < hb.nconns && !hb.stopping; i++)
		if (hb.conns[i].state == HB_IDLE)
			hb_dispatch(&hb.conns[i]);
}

static void
hb_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	static unsigned ticks;
	uint64_t now = hk_clock_mono_ns(), limit;
	int i, pending = 0;

	if (!hb.started) {
		for (i = 0; i < hb.nconns; i++)
			if (hb.conns[i].state == HB_CONNECTING)
				pending = 1;
		if (!pending)
			hb_begin();
		return;
	}
	if (hb.nconnected == 0 && now - hb.t0 > (uint64_t)(hb.timeout_s *
	    1e9)) {
		fprintf(stderr, "hookbench: cannot connect to %s: %s\n",
		    hb.hostport, strerror(hb.last_errno));
		hb.failed = 1;
		event_base_loopbreak(hb.base);
		return;
	}
	/*
	 * Past the end, the open loop still sends what fell due before it, for
	 * at most the timeout; what is left then is reported as never sent.
	 */
	if (!hb.stopping && now >= hb.t_stop && (hb.rate <= 0 ||
	    now - hb.t_stop >= (uint64_t)(hb.timeout_s * 1e9)))
		hb_stop(now);
	if (hb.stopping && now >= hb.t_drain) {
		for (i = 0; i < hb.nconns; i++)
			if (hb.conns[i].state == HB_BUSY) {
				hb_fail(HB_ERR_TIMEOUT, 0);
				hb_conn_close(&hb.conns[i], 0);
			}
		event_base_loopbreak(hb.base);
		return;
	}
	/* Answers overdue by the timeout; checked every tenth tick. */
	if (++ticks % 10 != 0)
		return;
	limit = (uint64_t)(hb.timeout_s * 1e9);
	for (i = 0; i < hb.nconns; i++) {
		struct hb_conn *c = &hb.conns[i];

		if (c->state == HB_BUSY && now > c->sent_ns &&
		    now - c->sent_ns > limit) {
			hb_fail(HB_ERR_TIMEOUT, 0);
			hb_conn_close(c, 0);
		}
	}
}

static void
hb_sigint_cb(evutil_socket_t fd, short what, void *arg)
{
	if (hb.interrupted++)
		exit(HB_EXIT_FAIL);
	if (!hb.started) {
		event_base_loopbreak(hb.base);
		return;
	}
	hb_stop(hk_clock_mono_ns());
}

/* ---------------------------------------------------------------------- */
/* Report */

struct hb_summary {
	double   window_s;		/* warm-up end to last measured answer */
	double   rate;			/* measured answers per second */
	uint64_t errors;		/* non-2xx answers and socket errors */
	uint64_t http_errors;
	uint64_t sock_errors;
	uint64_t unsent;		/* open loop: due but never sent */
	double   p[5];			/* ms: p50 p90 p99 p99.9 max */
	double   mean;
};

static const double hb_pcts[4] = { 50, 90, 99, 99.9 };
static const char *const hb_pct_names[5] = {
	"p50", "p90", "p99", "p99.9", "max"
};

static void
hb_summarize(struct hb_summary *s)
{
	int i;

	memset(s, 0, sizeof(*s));
	if (hb.measured > 0 && hb.last_done_ns > hb.t_warm) {
		s->window_s = (double)(hb.last_done_ns - hb.t_warm) / 1e9;
		s->rate = (double)hb.measured / s->window_s;
	}
	s->http_errors = hb.completed - hb.ok2xx;
	for (i = 0; i < HB_ERR_COUNT; i++)
		s->sock_errors += hb.errs[i];
	s->errors = s->http_errors + s->sock_errors;
	if (hb.rate > 0 && hb.due_at_stop > hb.issued)
		s->unsent = hb.due_at_stop - hb.issued;
	for (i = 0; i < 4; i++)
		s->p[i] = (double)hk_hist_percentile(&hb.hist, hb_pcts[i]) /
		    1e3;
	s->p[4] = (double)hk_hist_max(&hb.hist) / 1e3;
	if (hk_hist_count(&hb.hist) > 0)
		s->mean = (double)hk_hist_sum(&hb.hist) /
		    (double)hk_hist_count(&hb.hist) / 1e3;
}

static void
hb_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
hb_report_json(const struct hb_summary *s)
{
	int i, first = 1;

	printf("{\"url\":");
	hb_json_string(hb.url);
	printf(",\"mode\":\"%s\",\"connections\":%d,", hb.rate > 0 ?
	    "open" : "closed", hb.nconns);
	if (hb.rate > 0)
		printf("\"target_rate\":%.3f,", hb.rate);
	else
		printf("\"target_rate\":null,");
	printf("\"duration_s\":%.3f,\"warmup_s\":%.3f,\"body_bytes\":%zu,"
	    "\"scheme\":\"%s\",\"keys\":\"%s\",", hb.duration_s, hb.warmup_s,
	    hb.body_len, hk_verify_scheme_name(hb.src.scheme),
	    hb.keys == HB_KEYS_UNIQUE ? "unique" :
	    hb.keys == HB_KEYS_REPEAT ? "repeat" : "none");
	printf("\"sent\":%llu,\"completed\":%llu,\"measured\":%llu,"
	    "\"unsent\":%llu,\"window_s\":%.3f,\"rate\":%.1f,",
	    (unsigned long long)hb.issued, (unsigned long long)hb.completed,
	    (unsigned long long)hb.measured, (unsigned long long)s->unsent,
	    s->window_s, s->rate);
	printf("\"status\":{");
	for (i = 0; i < HB_STATUS_MAX; i++)
		if (hb.status[i] > 0) {
			printf("%s\"%d\":%llu", first ? "" : ",", i,
			    (unsigned long long)hb.status[i]);
			first = 0;
		}
	printf("},\"errors\":{\"total\":%llu,\"http\":%llu",
	    (unsigned long long)s->errors, (unsigned long long)s->http_errors);
	for (i = 0; i < HB_ERR_COUNT; i++)
		printf(",\"%s\":%llu", hb_err_names[i],
		    (unsigned long long)hb.errs[i]);
	printf("},\"reconnects\":%llu,\"latency_ms\":{",
	    (unsigned long long)hb.reconnects);
	for (i = 0; i < 5; i++)
		printf("\"%s\":%.3f,", hb_pct_names[i], s->p[i]);
	printf("\"mean\":%.3f},\"interrupted\":%s}\n", s->mean,
	    hb.interrupted ? "true" : "false");
}

static void
hb_report_table(const struct hb_summary *s)
{
	int i;

	printf("hookbench %s\n", hb.url);
	if (hb.rate > 0)
		printf("  mode        open loop, %.1f req/s scheduled over %d "
		    "connections\n", hb.rate, hb.nconns);
	else
		printf("  mode        closed loop, %d connections\n", hb.nconns);
	printf("  request     %zu-byte body, signature %s, keys %s\n",
	    hb.body_len, hk_verify_scheme_name(hb.src.scheme),
	    hb.keys == HB_KEYS_UNIQUE ? "unique" :
	    hb.keys == HB_KEYS_REPEAT ? "repeated" : "none");
	printf("  requests    %llu sent, %llu completed, %llu measured "
	    "(after %.1f s warm-up)", (unsigned long long)hb.issued,
	    (unsigned long long)hb.completed,
	    (unsigned long long)hb.measured, hb.warmup_s);
	if (s->unsent > 0)
		printf(", %llu due but never sent",
		    (unsigned long long)s->unsent);
	printf("\n  rate        %.1f req/s over %.3f s\n", s->rate,
	    s->window_s);
	printf("  status     ");
	for (i = 0; i < HB_STATUS_MAX; i++)
		if (hb.status[i] > 0)
			printf(" %d: %llu", i,
			    (unsigned long long)hb.status[i]);
	if (hb.completed == 0)
		printf(" none");
	printf("\n  errors      %llu (http %llu", (unsigned long long)s->errors,
	    (unsigned long long)s->http_errors);
	for (i = 0; i < HB_ERR_COUNT; i++)
		printf(", %s %llu", hb_err_names[i],
		    (unsigned long long)hb.errs[i]);
	printf(")\n");
	if (hb.last_errno != 0)
		printf("  last error  %s\n", strerror(hb.last_errno));
	printf("  latency    ");
	for (i = 0; i < 5; i++)
		printf(" %9s", hb_pct_names[i]);
	printf(" %9s\n  %-11s", "mean", hb.rate > 0 ? "ms from due" : "ms");
	for (i = 0; i < 5; i++)
		printf(" %9.3f", s->p[i]);
	printf(" %9.3f\n", s->mean);
	if (hb.interrupted)
		printf("  (interrupted)\n");
}

/* hb_fd_limit - room for every connection: raise the soft limit if needed. */
static void
hb_fd_limit(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)hb.nconns + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ?
	    need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
		fprintf(stderr, "hookbench: warning: %d connections need %llu "
		    "descriptors, the limit is %llu\n", hb.nconns,
		    (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

/* ---------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct event_config *cfg;
	struct hb_summary s;
	struct timeval tick = { 0, HB_TICK_MS * 1000 };
	const char *body_file;
	int i;

	body_file = hb_options(argc, argv);
	hb_target();
	hb_load_body(body_file);
	hb_requests_setup();
	hb_fd_limit();
	signal(SIGPIPE, SIG_IGN);

	/*
	 * A precise timer (timerfd under epoll) for the open-loop schedule:
	 * epoll_wait's millisecond timeout would send requests in bursts.
	 */
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0 ||
	    (hb.base = event_base_new_with_config(cfg)) == NULL) {
		fprintf(stderr, "hookbench: cannot create the event base\n");
		return HB_EXIT_FAIL;
	}
	event_config_free(cfg);
	hb.conns = calloc((size_t)hb.nconns, sizeof(*hb.conns));
	hb.idle = calloc((size_t)hb.nconns, sizeof(*hb.idle));
	hb.tick = event_new(hb.base, -1, EV_PERSIST, hb_tick_cb, NULL);
	hb.sched = evtimer_new(hb.base, hb_sched_cb, NULL);
	hb.sigint = evsignal_new(hb.base, SIGINT, hb_sigint_cb, NULL);
	if (hb.conns == NULL || hb.idle == NULL || hb.tick == NULL ||
	    hb.sched == NULL || hb.sigint == NULL) {
		fprintf(stderr, "hookbench: out of memory\n");
		return HB_EXIT_FAIL;
	}
	event_add(hb.sigint, NULL);
	event_add(hb.tick, &tick);
	hb.t_stop = UINT64_MAX;
	for (i = 0; i < hb.nconns; i++) {
		hb.conns[i].fd = -1;
		hb.conns[i].retry = evtimer_new(hb.base, hb_conn_retry_cb,
		    &hb.conns[i]);
		if (hb.conns[i].retry == NULL || hb_conn_open(&hb.conns[i]) !=
		    HK_OK)
			return HB_EXIT_FAIL;
	}
	event_base_dispatch(hb.base);

	hb_summarize(&s);
	if (hb.json)
		hb_report_json(&s);
	else
		hb_report_table(&s);
	fflush(stdout);
	if (hb.failed || hb.completed == 0)
		return HB_EXIT_FAIL;
	return HB_EXIT_OK;
}
