/*
 * traceparent.h - the W3C Trace Context "traceparent" header.
 *
 * An ingest request's traceparent travels with the event (in its stored
 * headers) and is sent on every delivery attempt of it, so a trace that
 * starts at the provider goes on at the receiver.  Only a well-formed one
 * travels: a malformed header is ignored, as the specification asks.
 */
#ifndef HK_TRACEPARENT_H
#define HK_TRACEPARENT_H

#include <stddef.h>

/* Version 00 is exactly 55 bytes; later versions may append "-..." fields. */
#define HK_TRACEPARENT_MAX  128

/*
 * Is s[0..len) a traceparent hookd forwards?  "VV-<32 hex>-<16 hex>-FF",
 * lower-case hex; version ff, an all-zero trace id or parent id are
 * invalid; version 00 has nothing after the flags, a later version only
 * "-" and more fields; at most HK_TRACEPARENT_MAX - 1 bytes.
 */
int hk_traceparent_valid(const char *s, size_t len);

#endif /* HK_TRACEPARENT_H */
