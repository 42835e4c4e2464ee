/*
 * fuzz_http.c - the request head parser and the chunked decoder.
 *
 * The input is parsed as a request head, once with the default head limit
 * and once with a limit shorter than the input.  What follows a complete
 * head (the whole input when there is none) goes through the chunked
 * decoder twice: in one call, and in pieces whose sizes the input picks, in
 * a buffer grown to exactly what has arrived so far so that AddressSanitizer
 * catches a read past it.  The decoder keeps its state between calls, so
 * both runs must end with the same result and the same decoded bytes, and
 * an accepted body must have no bare LF in its trailer lines.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "http.h"

#define FUZZ_MAX_HEAD	16384
#define FUZZ_MAX_BODY	65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_http: %s\n", what);
	abort();
}

static int
fuzz_inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

/* fuzz_check_req - what a parsed head promises its caller. */
static void
fuzz_check_req(const struct hk_http_req *req, const char *buf, size_t len)
{
	char name[FUZZ_MAX_HEAD + 1];
	const char *v;
	size_t vlen;

	if (req->head_len < 4 || req->head_len > len
	    || memcmp(buf + req->head_len - 4, "\r\n\r\n", 4) != 0)
		fuzz_fail("head_len does not end at CRLFCRLF");
	if (req->target_len == 0 || req->target[0] != '/'
	    || (!fuzz_inside(req->target, req->target_len, buf, req->head_len)
	    && strcmp(req->target, "/") != 0))
		fuzz_fail("target outside the head");
	if (req->nheaders < 0 || req->nheaders > HK_HTTP_MAX_HEADERS)
		fuzz_fail("nheaders out of range");
	if (req->content_length < -1 || (req->content_length >= 0
	    && req->chunked))
		fuzz_fail("content_length and chunked together");
	for (int i = 0; i < req->nheaders; i++) {
		const struct hk_http_header *h = &req->headers[i];

		if (h->name_len == 0
		    || !fuzz_inside(h->name, h->name_len, buf, req->head_len)
		    || !fuzz_inside(h->value, h->value_len, buf, req->head_len))
			fuzz_fail("header outside the head");
		/* The lookup finds the first header of that name. */
		memcpy(name, h->name, h->name_len);
		name[h->name_len] = '\0';
		v = hk_http_header(req, name, &vlen);
		if (v == NULL)
			fuzz_fail("a parsed header is not found by name");
		for (int j = 0; j <= i; j++)
			if (req->headers[j].name_len == h->name_len
			    && strncasecmp(req->headers[j].name, name,
			    h->name_len) == 0) {
				if (v != req->headers[j].value
				    || vlen != req->headers[j].value_len)
					fuzz_fail("lookup is not the first "
					    "header of its name");
				break;
			}
	}
}

/* fuzz_head - parse buf[0..len); the result, *head_len when HK_OK. */
static int
fuzz_head(const char *buf, size_t len, size_t max_head, size_t *head_len,
    int *status)
{
	struct hk_http_req req;
	const char *why = NULL;
	int rc;

	*status = 0;
	*head_len = 0;
	rc = hk_http_parse_head(buf, len, max_head, &req, status, &why);
	if (rc == HK_AGAIN) {
		if (len >= max_head)
			fuzz_fail("HK_AGAIN with a head over its limit");
		return rc;
	}
	if (rc == HK_ERROR) {
		if (why == NULL || why[0] == '\0'
		    || strcmp(hk_http_reason(*status), "Unknown") == 0)
			fuzz_fail("an error without status or reason");
		return rc;
	}
	if (rc != HK_OK)
		fuzz_fail("unknown result");
	if (req.head_len > max_head)
		fuzz_fail("a head over its limit accepted");
	fuzz_check_req(&req, buf, len);
	*head_len = req.head_len;
	return rc;
}

/* fuzz_rand - xorshift, so that piece sizes follow from the input. */
static uint32_t
fuzz_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * fuzz_trailer_lf - does the trailer section of an accepted chunked body
 * raw[0..len) hold an LF without its CR?  Walks the chunks the decoder
 * accepted: size line, data, CRLF, up to the last chunk.
 */
static int
fuzz_trailer_lf(const char *raw, size_t len)
{
	size_t pos = 0, size;
	const char *lf;

	for (;;) {
		for (size = 0; pos < len && isxdigit((unsigned char)raw[pos]);
		    pos++)
			size = size * 16 + (size_t)(isdigit((unsigned char)
			    raw[pos]) ? raw[pos] - '0'
			    : (raw[pos] | 0x20) - 'a' + 10);
		if ((lf = memchr(raw + pos, '\n', len - pos)) == NULL)
			return 0;
		pos = (size_t)(lf - raw) + 1;
		if (size == 0)
			break;
		pos += size + 2;
	}
	for (size_t i = pos; i < len; i++)
		if (raw[i] == '\n' && (i == pos || raw[i - 1] != '\r'))
			return 1;
	return 0;
}

static void
fuzz_chunked(const char *raw, size_t len, uint32_t seed)
{
	struct hk_http_chunked one, inc;
	char *a, *b = NULL, *nb;
	size_t have = 0, piece;
	int rc1, rc2 = HK_AGAIN, big1, big2 = 0;

	if ((a = malloc(len + 1)) == NULL)
		return;
	memcpy(a, raw, len);
	memset(&one, 0, sizeof(one));
	rc1 = hk_http_chunked_decode(&one, a, len, FUZZ_MAX_BODY, &big1);

	memset(&inc, 0, sizeof(inc));
	while (have < len && rc2 == HK_AGAIN) {
		piece = 1 + fuzz_rand(&seed) % (fuzz_rand(&seed) % 4 == 0
		    ? len - have : 8);
		if (piece > len - have)
			piece = len - have;
		if ((nb = realloc(b, have + piece)) == NULL)
			goto out;
		b = nb;
		memcpy(b + have, raw + have, piece);
		have += piece;
		rc2 = hk_http_chunked_decode(&inc, b, have, FUZZ_MAX_BODY,
		    &big2);
		if (inc.out > inc.raw || inc.raw > have)
			fuzz_fail("decoder positions out of order");
	}
	if (len == 0)
		rc2 = hk_http_chunked_decode(&inc, a, 0, FUZZ_MAX_BODY, &big2);
	if (rc1 != rc2)
		fuzz_fail("pieces and one call disagree on the result");
	if (rc1 == HK_ERROR && big1 != big2)
		fuzz_fail("pieces and one call disagree on too_large");
	if (rc1 == HK_OK && (one.raw != inc.raw || one.out != inc.out
	    || memcmp(a, b, one.out) != 0))
		fuzz_fail("pieces and one call decode differently");
	if (rc1 == HK_OK && one.out > FUZZ_MAX_BODY)
		fuzz_fail("a body over max_body accepted");
	/* As in the head, a bare LF ends no line: a proxy that reads it as
	 * one would see the message end elsewhere. */
	if (rc1 == HK_OK && fuzz_trailer_lf(raw, one.raw))
		fuzz_fail("a trailer line with a bare LF accepted");
out:
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	uint32_t seed = 2463534242u ^ (uint32_t)size;
	size_t body, small_len;
	int rc, small_rc, status, small_status;

	if (size > FUZZ_MAX_HEAD)
		return 0;
	rc = fuzz_head(buf, size, FUZZ_MAX_HEAD, &body, &status);
	/* A head that fits a smaller limit is judged alike under it. */
	if (size > 1) {
		small_rc = fuzz_head(buf, size, size / 2, &small_len,
		    &small_status);
		if (rc == HK_OK && body <= size / 2 && (small_rc != rc
		    || small_len != body))
			fuzz_fail("a head within both limits judged apart");
		if (rc == HK_ERROR && small_rc == HK_OK)
			fuzz_fail("a head accepted only under the smaller limit");
	}
	if (rc != HK_OK || body == size)
		body = 0;
	if (size > 0)
		seed ^= (uint32_t)data[size - 1] << 24;
	fuzz_chunked(buf + body, size - body, seed ? seed : 1);
	return 0;
}
