/*
 * http.h - a strict HTTP/1.1 request parser, for the ingest port.
 *
 * Pure functions over a byte buffer: no I/O, no allocation.  The parser
 * refuses what request smuggling is made of (two Content-Length headers,
 * Content-Length with Transfer-Encoding, obsolete line folding, bare CR) and
 * reports every refusal as an HTTP status with a human reason.
 */
#ifndef HK_HTTP_H
#define HK_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HK_HTTP_MAX_HEADERS 100

enum hk_http_method {
	HK_HTTP_OTHER,
	HK_HTTP_GET,
	HK_HTTP_HEAD,
	HK_HTTP_POST,
};

struct hk_http_header {
	const char *name;
	size_t      name_len;
	const char *value;		/* without surrounding white space */
	size_t      value_len;
};

struct hk_http_req {
	int         method;		/* enum hk_http_method */
	/* Path and query, always inside the parsed buffer; of an
	 * absolute-form target too ("http://h/p" gives "/p"). */
	const char *target;
	size_t      target_len;
	int         minor;		/* HTTP/1.<minor> */
	struct hk_http_header headers[HK_HTTP_MAX_HEADERS];
	int         nheaders;
	size_t      head_len;		/* bytes up to and including CRLFCRLF */
	int64_t     content_length;	/* -1 when absent */
	int         chunked;
	int         keep_alive;
	int         expect_continue;
};

/*
 * Parse the request head in buf[0..len).  Returns HK_OK with req filled,
 * HK_AGAIN when the head is not complete yet (and len <= max_head), or
 * HK_ERROR with *status (400, 431, 501, 505) and *why set.
 */
int hk_http_parse_head(const char *buf, size_t len, size_t max_head,
    struct hk_http_req *req, int *status, const char **why);

/* The value of header name (case-insensitive), or NULL; *len its length. */
const char *hk_http_header(const struct hk_http_req *req, const char *name,
    size_t *len);

/*
 * Incremental, in-place chunked body decoder.  Raw bytes are read from
 * buf[st->raw..len) and the decoded body is written to buf[0..st->out),
 * which never overtakes the raw position.
 */
struct hk_http_chunked {
	int      state;
	int      digits;		/* of the chunk size read so far */
	uint64_t left;			/* bytes left in the current chunk */
	size_t   raw;			/* raw bytes consumed */
	size_t   out;			/* decoded bytes */
};

/* HK_OK when the body is complete, HK_AGAIN for more, HK_ERROR malformed
 * or (with *too_large set) larger than max_body. */
int hk_http_chunked_decode(struct hk_http_chunked *st, char *buf, size_t len,
    size_t max_body, int *too_large);

/* The reason phrase of a status code. */
const char *hk_http_reason(int status);

#endif
