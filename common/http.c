/*
 * http.c - strict HTTP/1.1 request head parser and chunked decoder.
 */
#include <string.h>
#include <strings.h>

#include "core.h"
#include "http.h"

/* RFC 9110 token characters, for header names. */
static int
hk_http_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	    || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
hk_http_ieq(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

/* Does the comma-separated list v contain token tok? */
static int
hk_http_has_token(const char *v, size_t len, const char *tok)
{
	size_t i = 0, start, end;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end > start && hk_http_ieq(v + start, end - start, tok))
			return 1;
	}
	return 0;
}

/*
 * hk_http_absolute - an absolute-form target ("http://host/path?q", RFC 9112
 * 3.2.2), which a server must accept: keep its path and query.  The host
 * part is not checked against Host; hookd serves any.
 */
static int
hk_http_absolute(struct hk_http_req *req)
{
	const char *t = req->target, *end = t + req->target_len, *path;
	size_t skip;

	if (req->target_len > 7 && hk_http_ieq(t, 7, "http://"))
		skip = 7;
	else if (req->target_len > 8 && hk_http_ieq(t, 8, "https://"))
		skip = 8;
	else
		return HK_ERROR;
	for (path = t + skip; path < end && *path != '/' && *path != '?';
	    path++)
		;
	if (path == t + skip)
		return HK_ERROR;	/* no host */
	/*
	 * "http://h" and "http://h?q" mean the path "/", which is nowhere in
	 * the buffer, and the target must point into it (the connection
	 * terminates and moves it in place).  No resource of hookd's is "/",
	 * so such a request is refused rather than answered 404.
	 */
	if (path == end || *path == '?')
		return HK_ERROR;
	req->target = path;
	req->target_len = (size_t)(end - path);
	return HK_OK;
}

static int
hk_http_request_line(const char *p, size_t n, struct hk_http_req *req,
    int *status, const char **why)
{
	const char *sp1, *sp2, *end = p + n;

	sp1 = memchr(p, ' ', n);
	if (sp1 == NULL || sp1 == p)
		goto bad;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1)
		goto bad;
	if (hk_http_ieq(p, (size_t)(sp1 - p), "POST"))
		req->method = HK_HTTP_POST;
	else if (hk_http_ieq(p, (size_t)(sp1 - p), "GET"))
		req->method = HK_HTTP_GET;
	else if (hk_http_ieq(p, (size_t)(sp1 - p), "HEAD"))
		req->method = HK_HTTP_HEAD;
	else
		req->method = HK_HTTP_OTHER;
	for (const char *m = p; m < sp1; m++)
		if (!hk_http_tchar((unsigned char)*m))
			goto bad;
	req->target = sp1 + 1;
	req->target_len = (size_t)(sp2 - sp1 - 1);
	if (req->target[0] != '/' && hk_http_absolute(req) != HK_OK)
		goto bad;
	for (size_t i = 0; i < req->target_len; i++)
		if ((unsigned char)req->target[i] <= ' '
		    || req->target[i] == 0x7f)
			goto bad;
	if (end - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		*status = 505;
		*why = "only HTTP/1.0 and HTTP/1.1 are supported";
		return HK_ERROR;
	}
	if (sp2[8] != '0' && sp2[8] != '1') {
		*status = 505;
		*why = "only HTTP/1.0 and HTTP/1.1 are supported";
		return HK_ERROR;
	}
	req->minor = sp2[8] - '0';
	return HK_OK;
bad:
	*status = 400;
	*why = "the request line is malformed";
	return HK_ERROR;
}

static int
hk_http_content_length(const char *v, size_t len, int64_t *out)
{
	int64_t n = 0;

	if (len == 0 || len > 15)
		return HK_ERROR;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return HK_ERROR;
		n = n * 10 + (v[i] - '0');
	}
	*out = n;
	return HK_OK;
}

/* hk_http_semantics - framing and connection rules from the headers. */
static int
hk_http_semantics(struct hk_http_req *req, int *status, const char **why)
{
	int ncl = 0, nte = 0, conn_close = 0, conn_keep = 0;

	for (int i = 0; i < req->nheaders; i++) {
		const struct hk_http_header *h = &req->headers[i];

		if (hk_http_ieq(h->name, h->name_len, "content-length")) {
			if (++ncl > 1) {
				*why = "the request has more than one "
				    "Content-Length header";
				goto bad;
			}
			if (hk_http_content_length(h->value, h->value_len,
			    &req->content_length) != HK_OK) {
				*why = "the Content-Length header is not a number";
				goto bad;
			}
		} else if (hk_http_ieq(h->name, h->name_len,
		    "transfer-encoding")) {
			if (++nte > 1 || !hk_http_ieq(h->value, h->value_len,
			    "chunked")) {
				*status = 501;
				*why = "only Transfer-Encoding: chunked is "
				    "supported";
				return HK_ERROR;
			}
			req->chunked = 1;
		} else if (hk_http_ieq(h->name, h->name_len, "connection")) {
			conn_close |= hk_http_has_token(h->value, h->value_len,
			    "close");
			conn_keep |= hk_http_has_token(h->value, h->value_len,
			    "keep-alive");
		} else if (hk_http_ieq(h->name, h->name_len, "expect")) {
			if (!hk_http_ieq(h->value, h->value_len, "100-continue")) {
				*status = 417;
				*why = "only Expect: 100-continue is supported";
				return HK_ERROR;
			}
			req->expect_continue = req->minor >= 1;
		}
	}
	if (ncl && nte) {
		*why = "the request has both Content-Length and "
		    "Transfer-Encoding";
		goto bad;
	}
	req->keep_alive = req->minor >= 1 ? !conn_close : conn_keep && !conn_close;
	return HK_OK;
bad:
	*status = 400;
	return HK_ERROR;
}

/* hk_http_bare_lf - does buf[0..n) hold an LF not preceded by CR? */
static int
hk_http_bare_lf(const char *buf, size_t n)
{
	const char *p = buf, *lf;

	while ((lf = memchr(p, '\n', n - (size_t)(p - buf))) != NULL) {
		if (lf == buf || lf[-1] != '\r')
			return 1;
		p = lf + 1;
	}
	return 0;
}

/*
 * hk_http_find - the first "\r\n" (crlf2: "\r\n\r\n") in buf[0..n), or
 * NULL.  memchr for the CR and a look at what follows: glibc's memmem
 * cost more than the rest of the head's parsing.
 */
static const char *
hk_http_find(const char *buf, size_t n, int crlf2)
{
	const char *p = buf, *end = buf + n;
	size_t need = crlf2 ? 4 : 2;

	while ((p = memchr(p, '\r', (size_t)(end - p))) != NULL) {
		if ((size_t)(end - p) < need)
			return NULL;
		if (p[1] == '\n' && (!crlf2 || (p[2] == '\r' && p[3] == '\n')))
			return p;
		p++;
	}
	return NULL;
}

int
hk_http_parse_head(const char *buf, size_t len, size_t max_head,
    struct hk_http_req *req, int *status, const char **why)
{
	const char *p = buf, *end, *eol, *colon, *v, *ve;
	size_t scan = len < max_head ? len : max_head;

	/* Find the end of the head first: most calls end here, cheaply. */
	end = hk_http_find(buf, scan, 1);
	if (end == NULL) {
		/* A client that ends its lines with a bare LF would otherwise
		 * wait for the header deadline: refuse it as soon as seen. */
		if (hk_http_bare_lf(buf, scan)) {
			*status = 400;
			*why = "lines must end with CRLF";
			return HK_ERROR;
		}
		if (len >= max_head) {
			*status = 431;
			*why = "the request headers are too large";
			return HK_ERROR;
		}
		return HK_AGAIN;
	}
	end += 2;			/* the head's last CRLF ends at end+2 */
	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	req->head_len = (size_t)(end - buf) + 2;

	eol = hk_http_find(p, (size_t)(end - p), 0);
	if (hk_http_request_line(p, (size_t)(eol - p), req, status, why)
	    != HK_OK)
		return HK_ERROR;
	for (p = eol + 2; p < end; p = eol + 2) {
		eol = hk_http_find(p, (size_t)(end - p), 0);
		if (memchr(p, '\r', (size_t)(eol - p)) != NULL
		    || memchr(p, '\0', (size_t)(eol - p)) != NULL
		    || memchr(p, '\n', (size_t)(eol - p)) != NULL
		    || *p == ' ' || *p == '\t') {
			*status = 400;
			*why = "a header line is malformed";
			return HK_ERROR;
		}
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon == p) {
			*status = 400;
			*why = "a header line has no name";
			return HK_ERROR;
		}
		for (const char *c = p; c < colon; c++)
			if (!hk_http_tchar((unsigned char)*c)) {
				*status = 400;
				*why = "a header name has invalid characters";
				return HK_ERROR;
			}
		if (req->nheaders == HK_HTTP_MAX_HEADERS) {
			*status = 431;
			*why = "the request has too many headers";
			return HK_ERROR;
		}
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		req->headers[req->nheaders++] = (struct hk_http_header){
			p, (size_t)(colon - p), v, (size_t)(ve - v)
		};
	}
	return hk_http_semantics(req, status, why);
}

const char *
hk_http_header(const struct hk_http_req *req, const char *name, size_t *len)
{
	for (int i = 0; i < req->nheaders; i++) {
		const struct hk_http_header *h = &req->headers[i];

		if (hk_http_ieq(h->name, h->name_len, name)) {
			if (len != NULL)
				*len = h->value_len;
			return h->value;
		}
	}
	return NULL;
}

enum {
	HK_CH_SIZE,		/* hex digits */
	HK_CH_EXT,		/* chunk extension, up to CRLF */
	HK_CH_SIZE_LF,
	HK_CH_DATA,
	HK_CH_DATA_CR,
	HK_CH_DATA_LF,
	HK_CH_TRAILER,		/* start of a trailer line, or the final CRLF */
	HK_CH_TRAILER_LINE,
	HK_CH_TRAILER_LF,
	HK_CH_FINAL_LF,
	HK_CH_DONE,
};

static int
hk_http_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
hk_http_chunked_decode(struct hk_http_chunked *st, char *buf, size_t len,
    size_t max_body, int *too_large)
{
	int d;

	*too_large = 0;
	while (st->raw < len && st->state != HK_CH_DONE) {
		unsigned char c = (unsigned char)buf[st->raw];

		switch (st->state) {
		case HK_CH_SIZE:
			if ((d = hk_http_hex(c)) >= 0) {
				if (st->left > (UINT64_C(1) << 40))
					return HK_ERROR;
				st->left = st->left * 16 + (uint64_t)d;
				st->digits++;
			} else if (st->digits == 0) {
				/* RFC 9112 7.1: chunk-size = 1*HEXDIG; an empty
				 * size is not the last chunk. */
				return HK_ERROR;
			} else if (c == ';' || c == ' ' || c == '\t') {
				st->state = HK_CH_EXT;
			} else if (c == '\r') {
				st->state = HK_CH_SIZE_LF;
			} else {
				return HK_ERROR;
			}
			st->raw++;
			break;
		case HK_CH_EXT:
			if (c == '\r')
				st->state = HK_CH_SIZE_LF;
			else if (c == '\n')
				return HK_ERROR;
			st->raw++;
			break;
		case HK_CH_SIZE_LF:
			if (c != '\n')
				return HK_ERROR;
			st->raw++;
			if (st->left == 0) {
				st->state = HK_CH_TRAILER;
			} else if (st->out + st->left > max_body) {
				*too_large = 1;
				return HK_ERROR;
			} else {
				st->state = HK_CH_DATA;
			}
			break;
		case HK_CH_DATA: {
			size_t n = len - st->raw;

			if (n > st->left)
				n = (size_t)st->left;
			memmove(buf + st->out, buf + st->raw, n);
			st->out += n;
			st->raw += n;
			st->left -= n;
			if (st->left == 0)
				st->state = HK_CH_DATA_CR;
			break;
		}
		case HK_CH_DATA_CR:
			if (c != '\r')
				return HK_ERROR;
			st->state = HK_CH_DATA_LF;
			st->raw++;
			break;
		case HK_CH_DATA_LF:
			if (c != '\n')
				return HK_ERROR;
			st->state = HK_CH_SIZE;
			st->digits = 0;
			st->raw++;
			break;
		case HK_CH_TRAILER:
			/* As in the head, a bare LF ends no line: a proxy
			 * that took it for one would see the body end here. */
			if (c == '\n')
				return HK_ERROR;
			st->state = c == '\r' ? HK_CH_FINAL_LF : HK_CH_TRAILER_LINE;
			st->raw++;
			break;
		case HK_CH_TRAILER_LINE:
			if (c == '\r')
				st->state = HK_CH_TRAILER_LF;
			else if (c == '\n')
				return HK_ERROR;
			st->raw++;
			break;
		case HK_CH_TRAILER_LF:
			if (c != '\n')
				return HK_ERROR;
			st->state = HK_CH_TRAILER;
			st->raw++;
			break;
		case HK_CH_FINAL_LF:
			if (c != '\n')
				return HK_ERROR;
			st->state = HK_CH_DONE;
			st->raw++;
			break;
		}
	}
	return st->state == HK_CH_DONE ? HK_OK : HK_AGAIN;
}

const char *
hk_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}
