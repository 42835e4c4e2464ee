/*
 * sign.h - produce the headers a signature scheme expects.
 *
 * The mirror of verify.h: hookctl send signs a test webhook the way the
 * source's provider would, and the delivery worker signs outbound requests
 * with Standard Webhooks.  What hk_sign_request() emits, hk_verify() accepts;
 * the unit tests hold the two to that.
 */
#ifndef HK_SIGN_H
#define HK_SIGN_H

#include <stddef.h>
#include <time.h>

#include "codec.h"
#include "verify.h"

/* Room for a "v1,<base64>" webhook-signature value, NUL included. */
#define HK_SIGN_STANDARD_SIZE	(3 + HK_CODEC_B64_SIZE(HK_CODEC_SHA256_LEN))

/*
 * Receives one header to add to the request.  Both strings are only valid
 * during the call.  Anything but HK_OK stops signing and is returned.
 */
typedef int (*hk_sign_emit_fn)(void *ctx, const char *name,
    const char *value);

/*
 * Sign body[0..len) for key at time now with secret (NULL: the key's
 * first secret) and emit the headers its scheme carries:
 *   hmac-sha256  <key->header>: <key->prefix><hex or base64>
 *   github       X-Hub-Signature-256: sha256=<hex>, X-GitHub-Event: ping,
 *                X-GitHub-Delivery: <msg_id>
 *   stripe       Stripe-Signature: t=<now>,v1=<hex>
 *   standard     webhook-id: <msg_id>, webhook-timestamp: <now>,
 *                webhook-signature: v1,<base64>
 *   shopify      X-Shopify-Hmac-Sha256: <base64>, X-Shopify-Webhook-Id
 *   slack        X-Slack-Request-Timestamp: <now>, X-Slack-Signature: v0=<hex>
 *   none         nothing
 * msg_id may be NULL except for standard, which needs it; the id headers are
 * then left out.  Returns HK_OK or HK_ERROR (no secret, a whsec_ secret that
 * is not base64, libcrypto failure) or whatever emit returned.
 */
int	hk_sign_request(const struct hk_verify_key *key, const char *secret,
	    const unsigned char *body, size_t len, time_t now,
	    const char *msg_id, hk_sign_emit_fn emit, void *ctx);

/*
 * The Standard Webhooks "v1,<base64>" value for webhook-signature: HMAC-SHA256
 * of "<msg_id>.<ts>.<body>" under the key whsec_secret encodes.  out needs
 * HK_SIGN_STANDARD_SIZE bytes.  HK_OK or HK_ERROR.
 */
int	hk_sign_standard(const char *whsec_secret, const char *msg_id,
	    time_t ts, const unsigned char *body, size_t len, char *out,
	    size_t outlen);

#endif /* HK_SIGN_H */
