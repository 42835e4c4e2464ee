/*
 * jsonscan.h - validate JSON without building it.
 *
 * The ingest hot path only needs to know that a body is JSON; building a
 * jansson tree for that cost most of a request's instructions.  This scanner
 * accepts exactly what jansson accepts with JSON_DECODE_ANY | JSON_ALLOW_NUL
 * (RFC 8259, UTF-8, paired surrogates, \u0000 allowed) in one pass, with no
 * allocation.  The unit test holds it to jansson on generated documents.
 */
#ifndef HK_JSONSCAN_H
#define HK_JSONSCAN_H

#include <stddef.h>

#define HK_JSONSCAN_DEPTH 2048	/* jansson's JSON_PARSER_MAX_DEPTH */

/* HK_OK, or HK_ERROR with the byte offset and a reason. */
int hk_jsonscan(const char *buf, size_t len, size_t *err_off,
    const char **why);

/* Length of the valid UTF-8 sequence at p (1 for ASCII), or 0 when the
 * bytes there are not UTF-8: overlong, surrogates, beyond U+10FFFF, cut. */
size_t hk_jsonscan_utf8_len(const unsigned char *p, size_t avail);
/* Is s[0..len) all valid UTF-8? */
int    hk_jsonscan_utf8_ok(const char *s, size_t len);

/*
 * Write s[0..len) into dst as the inside of a JSON string (no quotes):
 * quote, backslash and control characters escaped, bytes that are not
 * UTF-8 replaced by U+FFFD, so the result is valid JSON whatever s holds.
 * dst needs HK_JSONSCAN_ESCAPED_MAX(len) bytes; no NUL is written.  Returns
 * the end of what was written.
 */
#define HK_JSONSCAN_ESCAPED_MAX(len)	(6 * (len))
char  *hk_jsonscan_escape_str(char *dst, const char *s, size_t len);

#endif
