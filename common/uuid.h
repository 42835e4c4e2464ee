/*
 * uuid.h - UUIDv7 event ids (RFC 9562).
 *
 * A v7 id starts with the Unix time in milliseconds, so ids sort by arrival
 * and index well as a PostgreSQL primary key.  Within one process every id
 * is greater than the one before it, even when the wall clock steps back.
 * The generator keeps per-process state without a lock: every hookd process
 * is single-threaded, and a forked child starts a state of its own.
 */
#ifndef HK_UUID_H
#define HK_UUID_H

#include <stdint.h>

#define HK_UUID_LEN	16
#define HK_UUID_STRLEN	37	/* 36 characters and the NUL */

/* A new id.  HK_ERROR only when the random generator fails. */
int	hk_uuid_v7(uint8_t out[HK_UUID_LEN]);
/* "01890a5d-ac96-774b-bcce-b302099a8057": lower case, hyphens. */
void	hk_uuid_format(const uint8_t in[HK_UUID_LEN], char out[HK_UUID_STRLEN]);
/* The 8-4-4-4-12 form in either case; HK_OK or HK_ERROR. */
int	hk_uuid_parse(const char *s, uint8_t out[HK_UUID_LEN]);
/* Milliseconds since the epoch carried by a v7 id. */
uint64_t hk_uuid_time_ms(const uint8_t in[HK_UUID_LEN]);

#endif /* HK_UUID_H */
