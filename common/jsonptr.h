/*
 * jsonptr.h - RFC 6901 JSON Pointer lookup on jansson values.
 *
 * Sources name their idempotency key with "json:/pointer"; the ingest
 * worker looks it up in the parsed body with these.
 */
#ifndef HK_JSONPTR_H
#define HK_JSONPTR_H

#include <stddef.h>

#include <jansson.h>

/*
 * The value ptr points to inside root (borrowed, not a new reference), or
 * NULL when it does not exist or ptr is not a valid pointer.  "" is root
 * itself; "/a~1b/0" is member "a/b", then element 0.  Array indexes are
 * decimal without leading zeros; "-" (one past the end) never exists.
 */
json_t *hk_jsonptr_get(json_t *root, const char *ptr);

/*
 * The value at ptr as idempotency-key text in out: a string as it is, an
 * integer in decimal.  HK_ERROR when the value is missing, of another type
 * (a real, an object, true, null...), an empty string, a string holding a
 * NUL, or longer than outlen - 1 bytes.  An empty key would make every such
 * event a duplicate of the first, so it counts as missing.
 */
int	hk_jsonptr_key(json_t *root, const char *ptr, char *out,
	    size_t outlen);

#endif /* HK_JSONPTR_H */
