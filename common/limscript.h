/*
 * limscript.h - the Lua script behind every limit that holds for the whole
 * deployment: a source's or a destination's rate (a token bucket shared by
 * every worker on every host) and a destination's concurrency (slots
 * shared the same way).  The ingest workers call it for their sources, the
 * delivery workers for their destinations, always with EVALSHA of
 * hk_limscript_sha, and with EVAL (which caches it again) after NOSCRIPT.
 *
 * Tokens are leased, not taken one by one: a worker asks for a few at a
 * time and spends them locally, so the hot path pays a round trip only
 * once per lease.  The bucket is GCRA over Redis's own clock (TIME), so the
 * hosts' clocks do not matter: the key <prefix>rate:{src,dst}:<name> holds
 * the theoretical arrival time (TAT) in microseconds and expires when the
 * bucket is full again.
 *
 * KEYS[1]: the rate key.  KEYS[2], when there: the concurrency key
 * <prefix>conc:dst:<name>, a hash holder -> "held:want:expires_ms".
 *
 * ARGV: rate_per_s (0: no rate), burst, tokens wanted, debt (tokens the
 * worker already spent on credit: charged whatever the bucket holds);
 * then, with KEYS[2]: holder, concurrency, slots wanted, slots in use,
 * ttl_ms (a holder that has not called for this long is gone, and its
 * slots with it).
 *
 * Returns {tokens granted, ms until a token is due (0 when all were
 * granted), slots granted (-1 without KEYS[2])}.
 */
#ifndef HK_LIMSCRIPT_H
#define HK_LIMSCRIPT_H

#include <stddef.h>

extern const char   hk_limscript[];
extern const size_t hk_limscript_len;	/* without the NUL */

/* The script's SHA-1 in hex, for EVALSHA; "" if it could not be hashed. */
const char *hk_limscript_sha(void);

/*
 * hk_limscript_command - the first two arguments of a call: "EVALSHA" and
 * the SHA-1, or (eval set, after NOSCRIPT) "EVAL" and the script.  Returns
 * how many it wrote (2); numkeys, the keys and ARGV follow.
 */
int hk_limscript_command(const char **argv, size_t *lens, int eval);

/*
 * hk_limscript_lease - how many tokens a worker leases at a time for a
 * rate of rate_per_s: about 2% of a second's worth, at least 1.  Every
 * worker holds at most this many unspent, so the deployment's excess over
 * the bucket is bounded by workers x lease.
 */
int hk_limscript_lease(double rate_per_s);

#endif /* HK_LIMSCRIPT_H */
