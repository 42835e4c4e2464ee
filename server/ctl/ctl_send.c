/*
 * ctl_send.c - hookctl send: post a correctly signed test webhook.
 *
 * The request is signed the way the source's provider would sign it, with
 * the source's first secret, by the same code the unit tests hold to
 * verify.c (sign.h).  So a 202 here means the source's configuration, the
 * secret and the gateway agree; a 401 means they do not.  Headers given with
 * --header replace generated ones of the same name, which is how to send a
 * deliberately bad signature.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "clock.h"
#include "core.h"
#include "ctl.h"
#include "sign.h"
#include "uuid.h"

#define HK_CTL_SEND_TIMEOUT_MS	10000
#define HK_CTL_SEND_MAX_HEADERS	64
#define HK_CTL_SEND_ANSWER_MAX	(1024 * 1024)	/* kept of the answer */

struct hk_ctl_send {
	const struct hk_conf_source *src;
	const char *user[HK_CTL_SEND_MAX_HEADERS];	/* "Name: value" */
	int         nuser;
	const char *url;
	const char *ctype;
	const char *data;		/* --data, NULL for the default body */
	int         verbose;
	struct curl_slist *hdrs;
	int         failed;		/* an allocation failed */
	char        status[256];	/* the answer's status line */
	char       *answer;
	size_t      alen;
};

/* hk_ctl_send_has - did the user give a header called name? */
static int
hk_ctl_send_has(const struct hk_ctl_send *s, const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; i < s->nuser; i++)
		if (strncasecmp(s->user[i], name, n) == 0
		    && s->user[i][n] == ':')
			return 1;
	return 0;
}

/* hk_ctl_send_line - add one "Name: value" line to the request. */
static int
hk_ctl_send_line(struct hk_ctl_send *s, const char *line)
{
	struct curl_slist *l = curl_slist_append(s->hdrs, line);

	if (l == NULL) {
		s->failed = 1;
		return HK_ERROR;
	}
	s->hdrs = l;
	return HK_OK;
}

/* hk_ctl_send_add - add "name: value" to the request. */
static int
hk_ctl_send_add(struct hk_ctl_send *s, const char *name, const char *value)
{
	char *line;
	int rc;

	if (asprintf(&line, "%s: %s", name, value) < 0) {
		s->failed = 1;
		return HK_ERROR;
	}
	rc = hk_ctl_send_line(s, line);
	free(line);
	return rc;
}

/* hk_ctl_send_emit - take a header from the signer, unless overridden. */
static int
hk_ctl_send_emit(void *ctx, const char *name, const char *value)
{
	struct hk_ctl_send *s = ctx;

	if (hk_ctl_send_has(s, name))
		return HK_OK;
	return hk_ctl_send_add(s, name, value);
}

/* hk_ctl_send_emitted - has name been added, by the signer or the user? */
static int
hk_ctl_send_emitted(const struct hk_ctl_send *s, const char *name)
{
	size_t n = strlen(name);

	for (const struct curl_slist *l = s->hdrs; l != NULL; l = l->next)
		if (strncasecmp(l->data, name, n) == 0 && l->data[n] == ':')
			return 1;
	return hk_ctl_send_has(s, name);
}

/* hk_ctl_send_body - the body to send, malloc'ed; NULL after saying why. */
static char *
hk_ctl_send_body(const char *data, size_t *len)
{
	char ts[40], *buf = NULL, *p;
	FILE *fp;
	size_t cap = 0, n;
	int oom = 0;

	if (data == NULL) {
		hk_clock_iso8601(hk_clock_real_us(), ts, sizeof(ts));
		if (asprintf(&buf, "{\"hello\":\"from hookctl\",\"sent_at\":"
		    "\"%s\"}", ts) < 0)
			return NULL;
		*len = strlen(buf);
		return buf;
	}
	if (data[0] != '@') {
		*len = strlen(data);
		return strdup(data);
	}
	fp = strcmp(data, "@-") == 0 ? stdin : fopen(data + 1, "rb");
	if (fp == NULL) {
		fprintf(stderr, "hookctl: cannot open %s: %s\n", data + 1,
		    strerror(errno));
		return NULL;
	}
	for (*len = 0; ; *len += n) {
		if (cap - *len < 4096) {
			if ((p = realloc(buf, cap * 2 + 8192)) == NULL) {
				oom = 1;
				break;
			}
			buf = p;
			cap = cap * 2 + 8192;
		}
		if ((n = fread(buf + *len, 1, cap - *len, fp)) == 0)
			break;
	}
	if (ferror(fp) || oom) {
		fprintf(stderr, "hookctl: cannot read %s: %s\n", data + 1,
		    oom ? "out of memory" : strerror(errno));
		free(buf);
		buf = NULL;
	}
	if (fp != stdin)
		fclose(fp);
	return buf;
}

/* hk_ctl_send_is - are the len bytes at s exactly word? */
static int
hk_ctl_send_is(const char *s, int len, const char *word)
{
	return (size_t)len == strlen(word) && memcmp(s, word, (size_t)len) == 0;
}

/*
 * hk_ctl_send_url - http://host:port/webhooks/SOURCE for the listen address;
 * a wildcard address is reached on loopback.
 */
static void
hk_ctl_send_url(const struct hk_conf *conf, const char *source, char *buf,
    size_t len)
{
	const char *listen = conf->listen ? conf->listen : "";
	const char *colon = strrchr(listen, ':');
	int hlen = colon ? (int)(colon - listen) : (int)strlen(listen);
	const char *port = colon ? colon + 1 : "8080";

	if (hlen == 0 || hk_ctl_send_is(listen, hlen, "0.0.0.0")
	    || hk_ctl_send_is(listen, hlen, "*"))
		snprintf(buf, len, "http://127.0.0.1:%s/webhooks/%s", port,
		    source);
	else if (hk_ctl_send_is(listen, hlen, "[::]")
	    || hk_ctl_send_is(listen, hlen, "::"))
		snprintf(buf, len, "http://[::1]:%s/webhooks/%s", port, source);
	else
		snprintf(buf, len, "http://%.*s:%s/webhooks/%s", hlen, listen,
		    port, source);
}

/* hk_ctl_send_header_cb - keep the status line of the final answer. */
static size_t
hk_ctl_send_header_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct hk_ctl_send *s = arg;
	size_t len = size * n;

	/* A 100 Continue comes first; the last status line wins. */
	if (len > 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		while (len > 0 && (ptr[len - 1] == '\r'
		    || ptr[len - 1] == '\n'))
			len--;
		snprintf(s->status, sizeof(s->status), "%.*s", (int)len, ptr);
	}
	return size * n;
}

static size_t
hk_ctl_send_write_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct hk_ctl_send *s = arg;
	size_t len = size * n, keep;
	char *p;

	keep = HK_MIN(len, HK_CTL_SEND_ANSWER_MAX - s->alen);
	if (keep == 0)
		return len;
	if ((p = realloc(s->answer, s->alen + keep + 1)) == NULL)
		return 0;
	memcpy(p + s->alen, ptr, keep);
	s->alen += keep;
	p[s->alen] = '\0';
	s->answer = p;
	return len;
}

/* hk_ctl_send_headers - the signer's headers, the user's, the defaults. */
static int
hk_ctl_send_headers(struct hk_ctl_send *s, const char *body, size_t len)
{
	uint8_t uuid[HK_UUID_LEN];
	char id[HK_UUID_STRLEN];
	const char *idem = NULL;

	if (hk_uuid_v7(uuid) != HK_OK) {
		fprintf(stderr, "hookctl: cannot make an id: the random "
		    "generator failed\n");
		return HK_ERROR;
	}
	hk_uuid_format(uuid, id);
	if (hk_sign_request(&s->src->verify, NULL,
	    (const unsigned char *)body, len, time(NULL), id, hk_ctl_send_emit, s) != HK_OK) {
		if (!s->failed)
			fprintf(stderr, "hookctl: cannot sign for source %s "
			    "(scheme %s): check its secrets\n", s->src->name,
			    hk_verify_scheme_name(s->src->verify.scheme));
		return HK_ERROR;
	}
	/* A fresh key per send, so that sending twice is two events. */
	if (s->src->idem_kind == HK_IDEM_DEFAULT)
		idem = "Idempotency-Key";
	else if (s->src->idem_kind == HK_IDEM_HEADER)
		idem = s->src->idem_arg;
	if (idem != NULL && !hk_ctl_send_emitted(s, idem)
	    && hk_ctl_send_add(s, idem, id) != HK_OK)
		return HK_ERROR;
	for (int i = 0; i < s->nuser; i++)
		if (hk_ctl_send_line(s, s->user[i]) != HK_OK)
			return HK_ERROR;
	if (!hk_ctl_send_has(s, "Content-Type")
	    && hk_ctl_send_add(s, "Content-Type", s->ctype) != HK_OK)
		return HK_ERROR;
	/* Expect: 100-continue would cost a round trip for nothing. */
	if (!hk_ctl_send_has(s, "Expect"))
		return hk_ctl_send_line(s, "Expect:");
	return HK_OK;
}

/* hk_ctl_send_post - one POST; HK_CTL_OK on a 2xx answer. */
static int
hk_ctl_send_post(struct hk_ctl_send *s, const char *url, int own,
    const char *body, size_t len)
{
	char err[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURLcode cc;
	CURL *c;

	if ((c = curl_easy_init()) == NULL)
		return HK_CTL_FAIL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HK_CTL_SEND_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "hookctl/" HK_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hk_ctl_send_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hk_ctl_send_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	/* The gateway's own address is never reached through a proxy. */
	if (own)
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (s->verbose) {
		fprintf(stderr, "> POST %s\n", url);
		for (const struct curl_slist *l = s->hdrs; l; l = l->next)
			if (strcmp(l->data, "Expect:") != 0)
				fprintf(stderr, "> %s\n", l->data);
	}
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		fprintf(stderr, "hookctl: POST %s: %s\n", url,
		    err[0] ? err : curl_easy_strerror(cc));
		return HK_CTL_FAIL;
	}
	printf("%s\n", s->status[0] ? s->status : "(no status line)");
	if (s->alen > 0)
		printf("%s%s", s->answer,
		    s->answer[s->alen - 1] == '\n' ? "" : "\n");
	return code >= 200 && code <= 299 ? HK_CTL_OK : HK_CTL_FAIL;
}

/* hk_ctl_send_args - parse the command line into s; HK_CTL_* */
static int
hk_ctl_send_args(struct hk_ctl_send *s, int argc, char **argv,
    const char **source)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			s->verbose = 1;
			continue;
		}
		if (a[0] != '-') {
			if (*source != NULL)
				return HK_CTL_USAGE;
			*source = a;
			continue;
		}
		if (i + 1 >= argc)
			return HK_CTL_USAGE;
		if (strcmp(a, "--data") == 0)
			s->data = argv[++i];
		else if (strcmp(a, "--url") == 0)
			s->url = argv[++i];
		else if (strcmp(a, "--content-type") == 0)
			s->ctype = argv[++i];
		else if (strcmp(a, "--header") == 0) {
			const char *h = argv[++i], *colon = strchr(h, ':');

			if (colon == NULL || colon == h
			    || s->nuser == HK_CTL_SEND_MAX_HEADERS
			    || strpbrk(h, "\r\n") != NULL) {
				fprintf(stderr, "hookctl: --header takes "
				    "'Name: value' (at most %d)\n",
				    HK_CTL_SEND_MAX_HEADERS);
				return HK_CTL_USAGE;
			}
			s->user[s->nuser++] = h;
		} else
			return HK_CTL_USAGE;
	}
	return *source != NULL ? HK_CTL_OK : HK_CTL_USAGE;
}

/* hk_ctl_send - sign a test webhook for SOURCE, post it, print the answer. */
int
hk_ctl_send(struct hk_ctl *ctl, int argc, char **argv)
{
	struct hk_ctl_send s;
	const struct hk_conf *conf;
	const char *source = NULL;
	char url[1024], *body;
	size_t len;
	int rc;

	memset(&s, 0, sizeof(s));
	s.ctype = "application/json";
	if ((rc = hk_ctl_send_args(&s, argc, argv, &source)) != HK_CTL_OK)
		return rc;
	if (ctl->conf_file == NULL) {
		fprintf(stderr, "hookctl: send signs with the source's secret "
		    "from hookd's configuration: give -c FILE\n");
		return HK_CTL_FAIL;
	}
	if ((conf = hk_ctl_conf(ctl)) == NULL)
		return HK_CTL_FAIL;
	if ((s.src = hk_conf_source(conf, source, strlen(source))) == NULL) {
		fprintf(stderr, "hookctl: no source \"%s\" in %s\n", source,
		    conf->file ? conf->file : "the configuration");
		return HK_CTL_FAIL;
	}
	if ((body = hk_ctl_send_body(s.data, &len)) == NULL)
		return HK_CTL_FAIL;
	if (s.url == NULL)
		hk_ctl_send_url(conf, source, url, sizeof(url));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(body);
		return HK_CTL_FAIL;
	}
	rc = HK_CTL_FAIL;
	if (hk_ctl_send_headers(&s, body, len) == HK_OK)
		rc = hk_ctl_send_post(&s, s.url ? s.url : url, s.url == NULL,
		    body, len);
	else if (s.failed)
		fprintf(stderr, "hookctl: out of memory\n");
	curl_slist_free_all(s.hdrs);
	curl_global_cleanup();
	free(s.answer);
	free(body);
	return rc;
}
