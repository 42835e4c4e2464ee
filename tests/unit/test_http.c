/*
 * test_http.c - the strict HTTP/1.1 parser and the chunked decoder.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "http.h"
#include "unit.h"

static int
parse(const char *s, struct hk_http_req *r, int *status, const char **why)
{
	return hk_http_parse_head(s, strlen(s), 16384, r, status, why);
}

static void
test_simple_post(void)
{
	struct hk_http_req r;
	const char *why, *v;
	const char *s = "POST /webhooks/github HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type:  application/json \r\nContent-Length: 13\r\n\r\n"
	    "{\"a\":1}";
	int status;
	size_t len;

	HK_CHECK(parse(s, &r, &status, &why) == HK_OK);
	HK_CHECK(r.method == HK_HTTP_POST);
	HK_CHECK(r.target_len == 16 && memcmp(r.target, "/webhooks/github",
	    16) == 0);
	HK_CHECK(r.minor == 1 && r.keep_alive);
	HK_CHECK(r.content_length == 13 && !r.chunked);
	HK_CHECK(r.nheaders == 3);
	v = hk_http_header(&r, "CONTENT-TYPE", &len);
	HK_CHECK(v != NULL && len == 16 && memcmp(v, "application/json",
	    16) == 0);
	HK_CHECK(r.head_len == strlen(s) - 7);
}

static void
test_incomplete(void)
{
	struct hk_http_req r;
	const char *why;
	int status;

	HK_CHECK(parse("POST / HTTP/1.1\r\nHost: x\r\n", &r, &status, &why)
	    == HK_AGAIN);
	HK_CHECK(parse("", &r, &status, &why) == HK_AGAIN);
}

static void
test_smuggling_refused(void)
{
	struct hk_http_req r;
	const char *why;
	int status;

	HK_CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n", &r, &status, &why) == HK_ERROR);
	HK_CHECK(status == 400 && strstr(why, "Content-Length") != NULL);
	HK_CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", &r, &status, &why)
	    == HK_ERROR);
	HK_CHECK(status == 400);
	HK_CHECK(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
	    &r, &status, &why) == HK_ERROR && status == 501);
	HK_CHECK(parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
	    &r, &status, &why) == HK_ERROR && status == 400);
	HK_CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
	    &r, &status, &why) == HK_ERROR && status == 400);
	/* Obsolete line folding and bare CR. */
	HK_CHECK(parse("POST / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
	    &r, &status, &why) == HK_ERROR && status == 400);
	HK_CHECK(parse("POST / HTTP/1.1\r\nA: b\rc\r\n\r\n",
	    &r, &status, &why) == HK_ERROR && status == 400);
	HK_CHECK(parse("POST / HTTP/1.1\r\nA b: c\r\n\r\n",
	    &r, &status, &why) == HK_ERROR && status == 400);
}

static void
test_request_line(void)
{
	struct hk_http_req r;
	const char *why;
	int status;

	HK_CHECK(parse("POST / HTTP/2.0\r\n\r\n", &r, &status, &why)
	    == HK_ERROR && status == 505);
	HK_CHECK(parse("POST  / HTTP/1.1\r\n\r\n", &r, &status, &why)
	    == HK_ERROR && status == 400);
	HK_CHECK(parse("POST x HTTP/1.1\r\n\r\n", &r, &status, &why)
	    == HK_ERROR && status == 400);
	HK_CHECK(parse("GET /health HTTP/1.0\r\n\r\n", &r, &status, &why)
	    == HK_OK && r.method == HK_HTTP_GET && !r.keep_alive);
	HK_CHECK(parse("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	    &r, &status, &why) == HK_OK && r.keep_alive);
	HK_CHECK(parse("GET /health HTTP/1.1\r\nConnection: Close\r\n\r\n",
	    &r, &status, &why) == HK_OK && !r.keep_alive);
	HK_CHECK(parse("PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
	    &r, &status, &why) == HK_OK && r.method == HK_HTTP_OTHER
	    && r.expect_continue);
}

/* RFC 9112 3.2.2: a server must accept a target in absolute form. */
static void
test_absolute_form(void)
{
	struct hk_http_req r;
	const char *why;
	int status;
	const char *in = "GET http://gw/health HTTP/1.1\r\n\r\n";

	HK_CHECK(parse("POST http://gw.example:8080/webhooks/x?a=1 HTTP/1.1"
	    "\r\nHost: gw.example:8080\r\n\r\n", &r, &status, &why) == HK_OK);
	HK_CHECK(r.target_len == 15 && memcmp(r.target, "/webhooks/x?a=1",
	    15) == 0);
	HK_CHECK(parse("GET HTTPS://gw/health HTTP/1.1\r\n\r\n", &r, &status,
	    &why) == HK_OK && r.target_len == 7
	    && memcmp(r.target, "/health", 7) == 0);
	/* No path: "/" would not be in the buffer; refused. */
	HK_CHECK(parse("GET http://gw HTTP/1.1\r\n\r\n", &r, &status, &why)
	    == HK_ERROR && status == 400);
	HK_CHECK(parse("GET http://gw?x HTTP/1.1\r\n\r\n", &r, &status, &why)
	    == HK_ERROR && status == 400);
	HK_CHECK(parse("GET http:///x HTTP/1.1\r\n\r\n", &r, &status, &why)
	    == HK_ERROR && status == 400);
	HK_CHECK(parse("GET ftp://gw/x HTTP/1.1\r\n\r\n", &r, &status, &why)
	    == HK_ERROR && status == 400);
	/* The target is always a part of the buffer parsed. */
	HK_CHECK(parse(in, &r, &status, &why) == HK_OK);
	HK_CHECK(r.target >= in && r.target + r.target_len <= in + strlen(in));
}

/* Bare LF line ends are refused at once, not left to the deadline. */
static void
test_bare_lf(void)
{
	struct hk_http_req r;
	const char *why;
	int status;

	HK_CHECK(parse("POST / HTTP/1.1\nHost: x\n\n", &r, &status, &why)
	    == HK_ERROR && status == 400);
	HK_CHECK(parse("POST / HTTP/1.1\r\nHost: x\n", &r, &status, &why)
	    == HK_ERROR && status == 400);
	HK_CHECK(parse("\n", &r, &status, &why) == HK_ERROR && status == 400);
	HK_CHECK(parse("POST / HTTP/1.1\r\nHost: x\r\n", &r, &status, &why)
	    == HK_AGAIN);
}

static void
test_header_limit(void)
{
	struct hk_http_req r;
	const char *why;
	char big[600];
	int status;

	memset(big, 'a', sizeof(big));
	memcpy(big, "POST / HTTP/1.1\r\nX: ", 20);
	HK_CHECK(hk_http_parse_head(big, sizeof(big), 512, &r, &status, &why)
	    == HK_ERROR && status == 431);
	HK_CHECK(hk_http_parse_head(big, 300, 512, &r, &status, &why)
	    == HK_AGAIN);
}

static void
test_chunked(void)
{
	struct hk_http_chunked st;
	char buf[128];
	const char *raw = "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX: y\r\n\r\nNEXT";
	size_t n = strlen(raw);
	int big;

	/* Fed one byte at a time, as a slow client would. */
	memcpy(buf, raw, n);
	memset(&st, 0, sizeof(st));
	for (size_t have = 1; have <= n; have++) {
		int rc = hk_http_chunked_decode(&st, buf, have, 1024, &big);

		if (rc == HK_OK) {
			HK_CHECK(st.out == 12 && memcmp(buf, "hello, world", 12)
			    == 0);
			HK_CHECK(st.raw == n - 4);
			return;
		}
		HK_CHECK(rc == HK_AGAIN);
	}
	HK_CHECK(!"never completed");
}

static void
test_chunked_errors(void)
{
	struct hk_http_chunked st;
	char buf[64];
	int big;

	strcpy(buf, "zz\r\n");
	memset(&st, 0, sizeof(st));
	HK_CHECK(hk_http_chunked_decode(&st, buf, strlen(buf), 1024, &big)
	    == HK_ERROR && !big);
	strcpy(buf, "400\r\n");
	memset(&st, 0, sizeof(st));
	HK_CHECK(hk_http_chunked_decode(&st, buf, strlen(buf), 100, &big)
	    == HK_ERROR && big);
	strcpy(buf, "3\r\nabcX\r\n");
	memset(&st, 0, sizeof(st));
	HK_CHECK(hk_http_chunked_decode(&st, buf, strlen(buf), 100, &big)
	    == HK_ERROR);
	/* A size line without a hex digit is no last chunk (RFC 9112 7.1). */
	static const char *nodigit[] = { "\r\n\r\n", ";x\r\n\r\n",
	    "3\r\nabc\r\n\r\n\r\n", " 0\r\n\r\n" };
	for (size_t i = 0; i < HK_NELEM(nodigit); i++) {
		strcpy(buf, nodigit[i]);
		memset(&st, 0, sizeof(st));
		HK_CHECK(hk_http_chunked_decode(&st, buf, strlen(buf), 100,
		    &big) == HK_ERROR);
	}
	/* A bare LF ends no trailer line either (found by fuzz_http): a
	 * proxy reading "0\r\n\n" as the end would pass what follows on as
	 * the next request, which hookd would take for trailers. */
	static const char *trailer_lf[] = { "0\r\n\n\r\n",
	    "0\r\nX: y\n\r\n", "0\r\nX: y\r\n\nPOST / HTTP/1.1\r\n\r\n" };
	for (size_t i = 0; i < HK_NELEM(trailer_lf); i++) {
		strcpy(buf, trailer_lf[i]);
		memset(&st, 0, sizeof(st));
		HK_CHECK(hk_http_chunked_decode(&st, buf, strlen(buf), 100,
		    &big) == HK_ERROR);
	}
}

int
main(void)
{
	HK_RUN(test_simple_post);
	HK_RUN(test_incomplete);
	HK_RUN(test_smuggling_refused);
	HK_RUN(test_request_line);
	HK_RUN(test_absolute_form);
	HK_RUN(test_bare_lf);
	HK_RUN(test_header_limit);
	HK_RUN(test_chunked);
	HK_RUN(test_chunked_errors);
	return hk_unit_done();
}
