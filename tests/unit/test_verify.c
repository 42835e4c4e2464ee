/*
 * test_verify.c - every signature scheme, verified and signed.
 *
 * The expected signatures were computed outside this code base, with
 * Python's hmac module or the openssl command line; each constant carries
 * the command that produced it.  Where a provider publishes an example
 * (GitHub, Slack, Standard Webhooks) it is checked as published, and those
 * examples were re-derived with Python before being trusted.
 *
 * Most vectors sign BODY = {"id":"evt_1","type":"ping"} at T = 1700000000.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "core.h"
#include "sign.h"
#include "unit.h"
#include "verify.h"

#define BODY	"{\"id\":\"evt_1\",\"type\":\"ping\"}"
#define TAMPERED "{\"id\":\"evt_2\",\"type\":\"ping\"}"
#define T	1700000000

/*
 * python3 -c 'import hmac,hashlib;print(hmac.new(b"hk_test_secret_one",
 *   b"{\"id\":\"evt_1\",\"type\":\"ping\"}",hashlib.sha256).hexdigest())'
 * (also: printf '%s' "$BODY" | openssl dgst -sha256 -hmac hk_test_secret_one)
 */
#define HEX_ONE	"ccd50cd7a52b55645ba678823484330e788d7e574bdba3801c9dce00dc3e5253"
/* the same with b"hk_test_secret_two" */
#define HEX_TWO	"166e8d878d91cba7738075bfb6c9b046fb7200803d5b07f5527a81618cff8ae9"
/*
 * python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(
 *   b"hk_test_secret_one",b"{\"id\":\"evt_1\",\"type\":\"ping\"}",
 *   hashlib.sha256).digest()).decode())'
 */
#define B64_ONE	"zNUM16UrVWRbpniCNIQzDniNfldL26OAHJ3OANw+UlM="
/* the same with b"hk_test_secret_two" */
#define B64_TWO	"Fm6Nh42Ry6dzgHW/tsmwRvtyAIA9Wwf1UnqBYYz/iuk="
/*
 * python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec_stripe_one",
 *   b"1700000000.{\"id\":\"evt_1\",\"type\":\"ping\"}",
 *   hashlib.sha256).hexdigest())'
 */
#define STRIPE_ONE "4c5541670be872957172926ef0988a4391660223da4b537e7890eecdd4ffe641"
/* the same with b"whsec_stripe_two" */
#define STRIPE_TWO "bcadc55bfcedf294dc8d96b9bf34baba87736908c2de2e77a7548f531206ce9f"
/*
 * python3 -c 'import base64;print("whsec_"+base64.b64encode(
 *   b"hookd standard webhooks key two!").decode())'
 */
#define STD_KEY_TWO "whsec_aG9va2Qgc3RhbmRhcmQgd2ViaG9va3Mga2V5IHR3byE="
/*
 * python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(
 *   b"hookd standard webhooks key two!",
 *   b"msg_hookd_1.1700000000.{\"id\":\"evt_1\",\"type\":\"ping\"}",
 *   hashlib.sha256).digest()).decode())'
 */
#define STD_SIG_TWO "v1,DzKyumrpWZToJj+FqKNVVdlicftAQKf3mNEGetnuYaU="
/*
 * python3 -c 'import hmac,hashlib;print(hmac.new(b"hk_test_secret_one",
 *   b"v0:1700000000:{\"id\":\"evt_1\",\"type\":\"ping\"}",
 *   hashlib.sha256).hexdigest())'
 */
#define SLACK_ONE "v0=f3ec3e29443b8e7301de0e5147bdb9ea975a87dd271ebf37a2cbcdfd5985447f"
/* the same with b"hk_test_secret_two" */
#define SLACK_TWO "v0=61c2e50e119a855a3d7989217f0fd22e43c4c4485e148c3be737f708f90f8241"

/*
 * Standard Webhooks' published test vector (the reference libraries' tests);
 * python3 -c 'import hmac,hashlib,base64;k=base64.b64decode(
 *   "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");print(base64.b64encode(hmac.new(k,
 *   b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}",
 *   hashlib.sha256).digest()).decode())'
 * prints g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
 */
#define STD_PUB_KEY	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define STD_PUB_ID	"msg_p5jXN8AQM9LWM0D4loKWxJek"
#define STD_PUB_TS	1614265330
#define STD_PUB_BODY	"{\"test\": 2432232314}"
#define STD_PUB_SIG	"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/*
 * Slack's documented example ("Verifying requests from Slack");
 * python3 -c 'import hmac,hashlib;print(hmac.new(
 *   b"8f742231b10e8888abcd99yyyzzz85a5",b"v0:1531420618:"+BODY,
 *   hashlib.sha256).hexdigest())' reproduces it.
 */
#define SLACK_PUB_SECRET "8f742231b10e8888abcd99yyyzzz85a5"
#define SLACK_PUB_TS	1531420618
#define SLACK_PUB_BODY	"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&" \
    "team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&" \
    "user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&" \
    "text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F" \
    "T1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&" \
    "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
#define SLACK_PUB_SIG \
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

/*
 * GitHub's documented example ("Validating webhook deliveries");
 * python3 -c 'import hmac,hashlib;print(hmac.new(
 *   b"It'"'"'s a Secret to Everybody",b"Hello, World!",
 *   hashlib.sha256).hexdigest())' reproduces it.
 */
#define GH_PUB_SECRET	"It's a Secret to Everybody"
#define GH_PUB_SIG \
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static char secret_one[] = "hk_test_secret_one";
static char secret_two[] = "hk_test_secret_two";
static char stripe_one[] = "whsec_stripe_one";
static char stripe_two[] = "whsec_stripe_two";
static char std_pub[] = STD_PUB_KEY;
static char std_two[] = STD_KEY_TWO;
static char slack_pub[] = SLACK_PUB_SECRET;
static char gh_pub[] = GH_PUB_SECRET;
static char hdr_sig[] = "X-Signature";
static char prefix_sha[] = "sha256=";

/* A request's headers, looked up the way evhttp does: ignoring case. */
struct hdrs {
	int	n;
	char	name[8][64];
	char	value[8][4200];
};

static const char *
hdr_get(void *ctx, const char *name)
{
	struct hdrs *h = ctx;

	for (int i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

static int
hdr_set(void *ctx, const char *name, const char *value)
{
	struct hdrs *h = ctx;
	int i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			break;
	if (i == 8)
		return HK_ERROR;
	if (i == h->n)
		h->n++;
	snprintf(h->name[i], sizeof(h->name[i]), "%s", name);
	snprintf(h->value[i], sizeof(h->value[i]), "%s", value);
	return HK_OK;
}

static void
hdr_del(struct hdrs *h, const char *name)
{
	for (int i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			h->name[i][0] = '\0';
}

static struct hdrs *
hdrs1(const char *name, const char *value)
{
	static struct hdrs h;

	memset(&h, 0, sizeof(h));
	hdr_set(&h, name, value);
	return &h;
}

static struct hk_verify_key
source(int scheme, char *s0, char *s1)
{
	struct hk_verify_key src;

	memset(&src, 0, sizeof(src));
	src.scheme = scheme;
	if (s0 != NULL)
		src.secrets[src.nsecrets++] = s0;
	if (s1 != NULL)
		src.secrets[src.nsecrets++] = s1;
	src.tolerance_s = 300;
	return src;
}

static const char *last_why;

static int
verify(const struct hk_verify_key *src, struct hdrs *h, const char *body,
    time_t now)
{
	int rc;

	last_why = NULL;
	rc = hk_verify(src, hdr_get, h, (const unsigned char *)body,
	    strlen(body), now, &last_why);
	HK_CHECK(last_why != NULL && last_why[0] != '\0');
	return rc;
}

static void
test_none(void)
{
	struct hk_verify_key src = source(HK_VERIFY_NONE, NULL, NULL);
	struct hdrs h = { 0 };

	HK_CHECK(verify(&src, &h, BODY, T) == HK_VERIFY_OK);
}

static void
test_github(void)
{
	struct hk_verify_key pub = source(HK_VERIFY_GITHUB, gh_pub, NULL);
	struct hk_verify_key one = source(HK_VERIFY_GITHUB, secret_one, NULL);
	struct hk_verify_key two = source(HK_VERIFY_GITHUB, secret_two, NULL);
	struct hk_verify_key both = source(HK_VERIFY_GITHUB, secret_one,
	    secret_two);
	const char *h = "X-Hub-Signature-256";

	HK_CHECK(verify(&pub, hdrs1(h, GH_PUB_SIG), "Hello, World!", T) ==
	    HK_VERIFY_OK);
	HK_CHECK(verify(&pub, hdrs1(h, GH_PUB_SIG), "Hello, World?", T) ==
	    HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&one, hdrs1(h, "sha256=" HEX_ONE), BODY, T) ==
	    HK_VERIFY_OK);
	/* Header names are matched without regard to case. */
	HK_CHECK(verify(&one, hdrs1("x-hub-signature-256", "sha256=" HEX_ONE),
	    BODY, T) == HK_VERIFY_OK);
	HK_CHECK(verify(&two, hdrs1(h, "sha256=" HEX_ONE), BODY, T) ==
	    HK_VERIFY_MISMATCH);
	HK_CHECK_STR(last_why, "the X-Hub-Signature-256 signature does not match");
	HK_CHECK(verify(&one, hdrs1(h, "sha256=" HEX_ONE), TAMPERED, T) ==
	    HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&both, hdrs1(h, "sha256=" HEX_TWO), BODY, T) ==
	    HK_VERIFY_OK);
	HK_CHECK(verify(&both, hdrs1(h, "sha256=" HEX_ONE), BODY, T) ==
	    HK_VERIFY_OK);
	HK_CHECK(verify(&one, hdrs1("X-Hub-Signature", "sha256=" HEX_ONE),
	    BODY, T) == HK_VERIFY_MISSING);
	HK_CHECK_STR(last_why, "the X-Hub-Signature-256 header is missing");
	HK_CHECK(verify(&one, hdrs1(h, "sha1=" HEX_ONE), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, HEX_ONE), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, "sha256=" HEX_ONE "00"), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, "sha256=zz"
	    "d50cd7a52b55645ba678823484330e788d7e574bdba3801c9dce00dc3e5253"),
	    BODY, T) == HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, ""), BODY, T) == HK_VERIFY_MISSING);
	/* Blanks around a value are not part of it. */
	HK_CHECK(verify(&one, hdrs1(h, "  sha256=" HEX_ONE " "), BODY, T) ==
	    HK_VERIFY_OK);
	/* Upper-case hex is the same signature. */
	HK_CHECK(verify(&one, hdrs1(h, "sha256="
	    "CCD50CD7A52B55645BA678823484330E788D7E574BDBA3801C9DCE00DC3E5253"),
	    BODY, T) == HK_VERIFY_OK);
}

static void
test_generic(void)
{
	struct hk_verify_key hex = source(HK_VERIFY_HMAC_SHA256, secret_one,
	    secret_two);
	struct hk_verify_key b64 = hex, wrong;

	hex.header = hdr_sig;
	hex.prefix = prefix_sha;
	hex.encoding = HK_ENC_HEX;
	b64.header = hdr_sig;
	b64.encoding = HK_ENC_BASE64;

	HK_CHECK(verify(&hex, hdrs1("X-Signature", "sha256=" HEX_ONE), BODY,
	    T) == HK_VERIFY_OK);
	HK_CHECK(verify(&hex, hdrs1("X-Signature", "sha256=" HEX_TWO), BODY,
	    T) == HK_VERIFY_OK);
	HK_CHECK(verify(&hex, hdrs1("X-Signature", "sha256=" HEX_ONE),
	    TAMPERED, T) == HK_VERIFY_MISMATCH);
	/* A configured prefix must be there. */
	HK_CHECK(verify(&hex, hdrs1("X-Signature", HEX_ONE), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK_STR(last_why,
	    "the X-Signature header does not start with \"sha256=\"");
	HK_CHECK(verify(&hex, hdrs1("X-Other", "sha256=" HEX_ONE), BODY, T) ==
	    HK_VERIFY_MISSING);
	HK_CHECK_STR(last_why, "the X-Signature header is missing");

	HK_CHECK(verify(&b64, hdrs1("X-Signature", B64_ONE), BODY, T) ==
	    HK_VERIFY_OK);
	HK_CHECK(verify(&b64, hdrs1("X-Signature", B64_TWO), BODY, T) ==
	    HK_VERIFY_OK);
	HK_CHECK(verify(&b64, hdrs1("X-Signature", HEX_ONE), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&b64, hdrs1("X-Signature", B64_ONE), TAMPERED, T) ==
	    HK_VERIFY_MISMATCH);

	wrong = b64;
	wrong.nsecrets = 1;
	wrong.secrets[0] = stripe_one;
	HK_CHECK(verify(&wrong, hdrs1("X-Signature", B64_ONE), BODY, T) ==
	    HK_VERIFY_MISMATCH);
	/* Without a header name nothing can pass. */
	wrong.header = NULL;
	HK_CHECK(verify(&wrong, hdrs1("X-Signature", B64_ONE), BODY, T) ==
	    HK_VERIFY_MISMATCH);
}

static void
test_stripe(void)
{
	struct hk_verify_key one = source(HK_VERIFY_STRIPE, stripe_one, NULL);
	struct hk_verify_key two = source(HK_VERIFY_STRIPE, stripe_two, NULL);
	struct hk_verify_key both = source(HK_VERIFY_STRIPE, stripe_one,
	    stripe_two);
	const char *h = "Stripe-Signature";
	const char *good = "t=1700000000,v1=" STRIPE_ONE;

	HK_CHECK(verify(&one, hdrs1(h, good), BODY, T) == HK_VERIFY_OK);
	HK_CHECK(verify(&one, hdrs1(h, good), BODY, T + 300) == HK_VERIFY_OK);
	HK_CHECK(verify(&one, hdrs1(h, good), BODY, T - 300) == HK_VERIFY_OK);
	HK_CHECK(verify(&one, hdrs1(h, good), BODY, T + 301) ==
	    HK_VERIFY_EXPIRED);
	HK_CHECK_STR(last_why,
	    "the signature timestamp is outside the 300 s tolerance");
	HK_CHECK(verify(&one, hdrs1(h, good), BODY, T - 301) ==
	    HK_VERIFY_EXPIRED);
	HK_CHECK(verify(&two, hdrs1(h, good), BODY, T) == HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&one, hdrs1(h, good), TAMPERED, T) ==
	    HK_VERIFY_MISMATCH);
	/* A forgery is a mismatch, whatever its age. */
	HK_CHECK(verify(&one, hdrs1(h, good), TAMPERED, T + 9999) ==
	    HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&both, hdrs1(h, "t=1700000000,v1=" STRIPE_TWO), BODY,
	    T) == HK_VERIFY_OK);
	/* While Stripe rolls a secret it sends one v1 per secret, and v0. */
	HK_CHECK(verify(&two, hdrs1(h, "t=1700000000,v1=" STRIPE_ONE ",v1="
	    STRIPE_TWO ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba8"
	    "16edb039989a39"), BODY, T) == HK_VERIFY_OK);
	HK_CHECK(verify(&one, hdrs1(h, "v1=" STRIPE_ONE ", t=1700000000"),
	    BODY, T) == HK_VERIFY_OK);
	HK_CHECK(verify(&one, hdrs1(h, "t=1700000000,v1=nothex,v1=" STRIPE_ONE),
	    BODY, T) == HK_VERIFY_OK);
	HK_CHECK(verify(&one, hdrs1("Stripe-Sig", good), BODY, T) ==
	    HK_VERIFY_MISSING);
	HK_CHECK(verify(&one, hdrs1(h, "v1=" STRIPE_ONE), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, "t=17e8,v1=" STRIPE_ONE), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, "t=-1700000000,v1=" STRIPE_ONE), BODY,
	    T) == HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, "t=1700000000"), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, "t=1700000000,t=1700000000,v1="
	    STRIPE_ONE), BODY, T) == HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, "t=1700000000,v1=abcd"), BODY, T) ==
	    HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&one, hdrs1(h, "garbage"), BODY, T) ==
	    HK_VERIFY_MALFORMED);
}

static struct hdrs *
std_hdrs(const char *id, const char *ts, const char *sig)
{
	static struct hdrs h;

	memset(&h, 0, sizeof(h));
	hdr_set(&h, "webhook-id", id);
	hdr_set(&h, "webhook-timestamp", ts);
	hdr_set(&h, "webhook-signature", sig);
	return &h;
}

static void
test_standard(void)
{
	static char bare[] = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	static char junk[] = "whsec_not base64!";
	struct hk_verify_key pub = source(HK_VERIFY_STANDARD, std_pub, NULL);
	struct hk_verify_key two = source(HK_VERIFY_STANDARD, std_two, NULL);
	struct hk_verify_key both = source(HK_VERIFY_STANDARD, std_pub,
	    std_two);
	struct hk_verify_key nopfx = source(HK_VERIFY_STANDARD, bare, NULL);
	struct hk_verify_key bad = source(HK_VERIFY_STANDARD, junk, std_two);
	struct hdrs *h;

	HK_CHECK(verify(&pub, std_hdrs(STD_PUB_ID, "1614265330", STD_PUB_SIG),
	    STD_PUB_BODY, STD_PUB_TS) == HK_VERIFY_OK);
	HK_CHECK(verify(&nopfx, std_hdrs(STD_PUB_ID, "1614265330",
	    STD_PUB_SIG), STD_PUB_BODY, STD_PUB_TS) == HK_VERIFY_OK);
	HK_CHECK(verify(&pub, std_hdrs(STD_PUB_ID, "1614265330",
	    "v1,bm9wZQ== v1a,xxxx " STD_PUB_SIG), STD_PUB_BODY, STD_PUB_TS) ==
	    HK_VERIFY_OK);
	HK_CHECK(verify(&pub, std_hdrs(STD_PUB_ID, "1614265330", STD_PUB_SIG),
	    STD_PUB_BODY, STD_PUB_TS + 301) == HK_VERIFY_EXPIRED);
	HK_CHECK(verify(&pub, std_hdrs(STD_PUB_ID, "1614265330", STD_PUB_SIG),
	    STD_PUB_BODY, STD_PUB_TS - 301) == HK_VERIFY_EXPIRED);
	HK_CHECK(verify(&two, std_hdrs(STD_PUB_ID, "1614265330", STD_PUB_SIG),
	    STD_PUB_BODY, STD_PUB_TS) == HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&pub, std_hdrs(STD_PUB_ID, "1614265330", STD_PUB_SIG),
	    "{\"test\": 2432232315}", STD_PUB_TS) == HK_VERIFY_MISMATCH);
	/* The id and the timestamp are signed too. */
	HK_CHECK(verify(&pub, std_hdrs("msg_other", "1614265330", STD_PUB_SIG),
	    STD_PUB_BODY, STD_PUB_TS) == HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&pub, std_hdrs(STD_PUB_ID, "1614265331", STD_PUB_SIG),
	    STD_PUB_BODY, STD_PUB_TS) == HK_VERIFY_MISMATCH);

	HK_CHECK(verify(&two, std_hdrs("msg_hookd_1", "1700000000",
	    STD_SIG_TWO), BODY, T) == HK_VERIFY_OK);
	HK_CHECK(verify(&both, std_hdrs("msg_hookd_1", "1700000000",
	    STD_SIG_TWO), BODY, T) == HK_VERIFY_OK);
	/* A secret that is not base64 is skipped, not fatal. */
	HK_CHECK(verify(&bad, std_hdrs("msg_hookd_1", "1700000000",
	    STD_SIG_TWO), BODY, T) == HK_VERIFY_OK);
	bad.nsecrets = 1;
	HK_CHECK(verify(&bad, std_hdrs("msg_hookd_1", "1700000000",
	    STD_SIG_TWO), BODY, T) == HK_VERIFY_MISMATCH);

	h = std_hdrs("msg_hookd_1", "1700000000", STD_SIG_TWO);
	hdr_del(h, "webhook-id");
	HK_CHECK(verify(&two, h, BODY, T) == HK_VERIFY_MISSING);
	HK_CHECK_STR(last_why, "the webhook-id header is missing");
	h = std_hdrs("msg_hookd_1", "1700000000", STD_SIG_TWO);
	hdr_del(h, "webhook-timestamp");
	HK_CHECK(verify(&two, h, BODY, T) == HK_VERIFY_MISSING);
	h = std_hdrs("msg_hookd_1", "1700000000", STD_SIG_TWO);
	hdr_del(h, "webhook-signature");
	HK_CHECK(verify(&two, h, BODY, T) == HK_VERIFY_MISSING);

	HK_CHECK(verify(&two, std_hdrs("msg_hookd_1", "soon", STD_SIG_TWO),
	    BODY, T) == HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&two, std_hdrs("msg_hookd_1", "1700000000",
	    "v2,DzKyumrpWZToJj+FqKNVVdlicftAQKf3mNEGetnuYaU="), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&two, std_hdrs("msg_hookd_1", "1700000000",
	    "v1,DzKyumrpWZToJj+FqKNVVdlicftAQKf3mNEGetnuYa"), BODY, T) ==
	    HK_VERIFY_MISMATCH);
}

static void
test_shopify(void)
{
	struct hk_verify_key one = source(HK_VERIFY_SHOPIFY, secret_one, NULL);
	struct hk_verify_key two = source(HK_VERIFY_SHOPIFY, secret_two, NULL);
	struct hk_verify_key both = source(HK_VERIFY_SHOPIFY, secret_one,
	    secret_two);
	const char *h = "X-Shopify-Hmac-Sha256";

	HK_CHECK(verify(&one, hdrs1(h, B64_ONE), BODY, T) == HK_VERIFY_OK);
	HK_CHECK(verify(&two, hdrs1(h, B64_ONE), BODY, T) ==
	    HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&one, hdrs1(h, B64_ONE), TAMPERED, T) ==
	    HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&both, hdrs1(h, B64_TWO), BODY, T) == HK_VERIFY_OK);
	HK_CHECK(verify(&one, hdrs1("X-Shopify-Topic", B64_ONE), BODY, T) ==
	    HK_VERIFY_MISSING);
	HK_CHECK(verify(&one, hdrs1(h, "not base64!"), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, HEX_ONE), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, hdrs1(h, "Zm9v"), BODY, T) ==
	    HK_VERIFY_MALFORMED);
}

static struct hdrs *
slack_hdrs(const char *ts, const char *sig)
{
	static struct hdrs h;

	memset(&h, 0, sizeof(h));
	hdr_set(&h, "X-Slack-Request-Timestamp", ts);
	hdr_set(&h, "X-Slack-Signature", sig);
	return &h;
}

static void
test_slack(void)
{
	struct hk_verify_key pub = source(HK_VERIFY_SLACK, slack_pub, NULL);
	struct hk_verify_key one = source(HK_VERIFY_SLACK, secret_one, NULL);
	struct hk_verify_key two = source(HK_VERIFY_SLACK, secret_two, NULL);
	struct hk_verify_key both = source(HK_VERIFY_SLACK, secret_one,
	    secret_two);
	struct hdrs *h;

	HK_CHECK(verify(&pub, slack_hdrs("1531420618", SLACK_PUB_SIG),
	    SLACK_PUB_BODY, SLACK_PUB_TS) == HK_VERIFY_OK);
	HK_CHECK(verify(&pub, slack_hdrs("1531420618", SLACK_PUB_SIG),
	    SLACK_PUB_BODY, SLACK_PUB_TS + 3600) == HK_VERIFY_EXPIRED);
	HK_CHECK(verify(&one, slack_hdrs("1700000000", SLACK_ONE), BODY, T) ==
	    HK_VERIFY_OK);
	HK_CHECK(verify(&two, slack_hdrs("1700000000", SLACK_ONE), BODY, T) ==
	    HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&one, slack_hdrs("1700000000", SLACK_ONE), TAMPERED,
	    T) == HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&one, slack_hdrs("1700000001", SLACK_ONE), BODY, T) ==
	    HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&both, slack_hdrs("1700000000", SLACK_TWO), BODY, T) ==
	    HK_VERIFY_OK);
	HK_CHECK(verify(&one, slack_hdrs("1700000000", SLACK_ONE), BODY,
	    T + 301) == HK_VERIFY_EXPIRED);

	h = slack_hdrs("1700000000", SLACK_ONE);
	hdr_del(h, "X-Slack-Request-Timestamp");
	HK_CHECK(verify(&one, h, BODY, T) == HK_VERIFY_MISSING);
	h = slack_hdrs("1700000000", SLACK_ONE);
	hdr_del(h, "X-Slack-Signature");
	HK_CHECK(verify(&one, h, BODY, T) == HK_VERIFY_MISSING);
	HK_CHECK_STR(last_why, "the X-Slack-Signature header is missing");
	HK_CHECK(verify(&one, slack_hdrs("1700000000", SLACK_ONE + 3), BODY,
	    T) == HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, slack_hdrs("1700000000", "v1=" HEX_ONE), BODY,
	    T) == HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, slack_hdrs("yesterday", SLACK_ONE), BODY, T) ==
	    HK_VERIFY_MALFORMED);
	HK_CHECK(verify(&one, slack_hdrs("99999999999999999999", SLACK_ONE),
	    BODY, T) == HK_VERIFY_MALFORMED);
}

static void
test_limits(void)
{
	struct hk_verify_key one = source(HK_VERIFY_GITHUB, secret_one, NULL);
	struct hk_verify_key none = source(HK_VERIFY_GITHUB, NULL, NULL);
	struct hk_verify_key odd = source(99, secret_one, NULL);
	struct hk_verify_key dflt = source(HK_VERIFY_STRIPE, stripe_one, NULL);
	struct hdrs *h;
	char big[HK_VERIFY_HEADER_MAX + 2];

	/* A header past the cap is refused before it is decoded. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	h = hdrs1("X-Hub-Signature-256", big);
	HK_CHECK(verify(&one, h, BODY, T) == HK_VERIFY_MALFORMED);
	/* A source without secrets lets nothing in. */
	HK_CHECK(verify(&none, hdrs1("X-Hub-Signature-256", "sha256=" HEX_ONE),
	    BODY, T) == HK_VERIFY_MISMATCH);
	HK_CHECK(verify(&odd, hdrs1("X-Hub-Signature-256", "sha256=" HEX_ONE),
	    BODY, T) == HK_VERIFY_MISMATCH);
	/* tolerance_s 0 means the default window, not "no window". */
	dflt.tolerance_s = 0;
	HK_CHECK(verify(&dflt, hdrs1("Stripe-Signature",
	    "t=1700000000,v1=" STRIPE_ONE), BODY, T + HK_VERIFY_DEFAULT_TOLERANCE)
	    == HK_VERIFY_OK);
	HK_CHECK(verify(&dflt, hdrs1("Stripe-Signature",
	    "t=1700000000,v1=" STRIPE_ONE), BODY,
	    T + HK_VERIFY_DEFAULT_TOLERANCE + 1) == HK_VERIFY_EXPIRED);
	dflt.tolerance_s = 10;
	HK_CHECK(verify(&dflt, hdrs1("Stripe-Signature",
	    "t=1700000000,v1=" STRIPE_ONE), BODY, T + 11) == HK_VERIFY_EXPIRED);
	HK_CHECK_STR(last_why,
	    "the signature timestamp is outside the 10 s tolerance");
	HK_CHECK_STR(hk_verify_result_name(HK_VERIFY_EXPIRED), "expired");
	HK_CHECK_STR(hk_verify_result_name(42), "unknown");
	/* why may be NULL. */
	HK_CHECK(hk_verify(&one, hdr_get, hdrs1("X", "y"), NULL, 0, T, NULL) ==
	    HK_VERIFY_MISSING);
}

static void
test_sign_standard(void)
{
	char out[HK_SIGN_STANDARD_SIZE];

	HK_CHECK(hk_sign_standard(STD_PUB_KEY, STD_PUB_ID, STD_PUB_TS,
	    (const unsigned char *)STD_PUB_BODY, strlen(STD_PUB_BODY), out,
	    sizeof(out)) == HK_OK);
	HK_CHECK_STR(out, STD_PUB_SIG);
	HK_CHECK(hk_sign_standard(STD_KEY_TWO, "msg_hookd_1", T,
	    (const unsigned char *)BODY, strlen(BODY), out, sizeof(out)) ==
	    HK_OK);
	HK_CHECK_STR(out, STD_SIG_TWO);
	HK_CHECK(sizeof(out) == strlen(STD_SIG_TWO) + 1);
	HK_CHECK(hk_sign_standard(STD_KEY_TWO, "msg_hookd_1", T,
	    (const unsigned char *)BODY, strlen(BODY), out, sizeof(out) - 1) ==
	    HK_ERROR);
	HK_CHECK(hk_sign_standard("whsec_!!!!", "msg_hookd_1", T,
	    (const unsigned char *)BODY, strlen(BODY), out, sizeof(out)) ==
	    HK_ERROR);
	HK_CHECK(hk_sign_standard(STD_KEY_TWO, NULL, T,
	    (const unsigned char *)BODY, strlen(BODY), out, sizeof(out)) ==
	    HK_ERROR);
}

/* sign - hk_sign_request into a fresh header set. */
static struct hdrs *
sign(const struct hk_verify_key *src, const char *secret, const char *id)
{
	static struct hdrs h;

	memset(&h, 0, sizeof(h));
	HK_CHECK(hk_sign_request(src, secret, (const unsigned char *)BODY,
	    strlen(BODY), T, id, hdr_set, &h) == HK_OK);
	return &h;
}

static void
test_sign_vectors(void)
{
	struct hk_verify_key gh = source(HK_VERIFY_GITHUB, secret_one,
	    secret_two);
	struct hk_verify_key st = source(HK_VERIFY_STRIPE, stripe_one, NULL);
	struct hk_verify_key sw = source(HK_VERIFY_STANDARD, std_two, NULL);
	struct hk_verify_key sh = source(HK_VERIFY_SHOPIFY, secret_one, NULL);
	struct hk_verify_key sl = source(HK_VERIFY_SLACK, secret_one, NULL);
	struct hk_verify_key gx = source(HK_VERIFY_HMAC_SHA256, secret_one,
	    NULL);
	struct hk_verify_key nn = source(HK_VERIFY_NONE, NULL, NULL);
	struct hdrs *h;

	h = sign(&gh, NULL, "msg_hookd_1");
	HK_CHECK(h->n == 3);
	HK_CHECK_STR(hdr_get(h, "X-Hub-Signature-256"), "sha256=" HEX_ONE);
	HK_CHECK_STR(hdr_get(h, "X-GitHub-Event"), "ping");
	HK_CHECK_STR(hdr_get(h, "X-GitHub-Delivery"), "msg_hookd_1");
	h = sign(&gh, secret_two, NULL);
	HK_CHECK(h->n == 2);
	HK_CHECK_STR(hdr_get(h, "X-Hub-Signature-256"), "sha256=" HEX_TWO);

	h = sign(&st, NULL, "msg_hookd_1");
	HK_CHECK(h->n == 1);
	HK_CHECK_STR(hdr_get(h, "Stripe-Signature"),
	    "t=1700000000,v1=" STRIPE_ONE);

	h = sign(&sw, NULL, "msg_hookd_1");
	HK_CHECK(h->n == 3);
	HK_CHECK_STR(hdr_get(h, "webhook-id"), "msg_hookd_1");
	HK_CHECK_STR(hdr_get(h, "webhook-timestamp"), "1700000000");
	HK_CHECK_STR(hdr_get(h, "webhook-signature"), STD_SIG_TWO);

	h = sign(&sh, NULL, "msg_hookd_1");
	HK_CHECK(h->n == 2);
	HK_CHECK_STR(hdr_get(h, "X-Shopify-Hmac-Sha256"), B64_ONE);
	HK_CHECK_STR(hdr_get(h, "X-Shopify-Webhook-Id"), "msg_hookd_1");

	h = sign(&sl, NULL, "msg_hookd_1");
	HK_CHECK(h->n == 2);
	HK_CHECK_STR(hdr_get(h, "X-Slack-Request-Timestamp"), "1700000000");
	HK_CHECK_STR(hdr_get(h, "X-Slack-Signature"), SLACK_ONE);

	gx.header = hdr_sig;
	gx.prefix = prefix_sha;
	gx.encoding = HK_ENC_HEX;
	h = sign(&gx, NULL, "msg_hookd_1");
	HK_CHECK(h->n == 1);
	HK_CHECK_STR(hdr_get(h, "X-Signature"), "sha256=" HEX_ONE);
	gx.prefix = NULL;
	gx.encoding = HK_ENC_BASE64;
	h = sign(&gx, NULL, NULL);
	HK_CHECK_STR(hdr_get(h, "X-Signature"), B64_ONE);

	h = sign(&nn, NULL, "msg_hookd_1");
	HK_CHECK(h->n == 0);
}

static int
emit_refuse(void *ctx, const char *name, const char *value)
{
	return HK_AGAIN;
}

static void
test_sign_errors(void)
{
	struct hk_verify_key sw = source(HK_VERIFY_STANDARD, std_two, NULL);
	struct hk_verify_key gh = source(HK_VERIFY_GITHUB, NULL, NULL);
	struct hdrs h = { 0 };

	/* Standard Webhooks cannot go without an id. */
	HK_CHECK(hk_sign_request(&sw, NULL, (const unsigned char *)BODY,
	    strlen(BODY), T, NULL, hdr_set, &h) == HK_ERROR);
	HK_CHECK(hk_sign_request(&gh, NULL, (const unsigned char *)BODY,
	    strlen(BODY), T, "x", hdr_set, &h) == HK_ERROR);
	HK_CHECK(h.n == 0);
	/* What emit answers comes back. */
	HK_CHECK(hk_sign_request(&sw, NULL, (const unsigned char *)BODY,
	    strlen(BODY), T, "x", emit_refuse, NULL) == HK_AGAIN);
}

/* Whatever is signed for a scheme, the same scheme verifies. */
static void
test_sign_roundtrip(void)
{
	static const int schemes[] = { HK_VERIFY_HMAC_SHA256, HK_VERIFY_GITHUB,
	    HK_VERIFY_STRIPE, HK_VERIFY_STANDARD, HK_VERIFY_SHOPIFY,
	    HK_VERIFY_SLACK };
	static const unsigned char bin[] = { 0, 1, 2, 0xff, '\r', '\n', 0 };
	struct hk_verify_key src;
	struct hdrs h;
	const char *why;
	int rc;

	for (size_t i = 0; i < HK_NELEM(schemes); i++) {
		for (int enc = HK_ENC_HEX; enc <= HK_ENC_BASE64; enc++) {
			src = source(schemes[i], std_pub, std_two);
			src.header = hdr_sig;
			src.prefix = enc == HK_ENC_HEX ? prefix_sha : NULL;
			src.encoding = enc;
			memset(&h, 0, sizeof(h));
			HK_CHECK(hk_sign_request(&src, std_two, bin,
			    sizeof(bin), T, "msg_rt", hdr_set, &h) == HK_OK);
			rc = hk_verify(&src, hdr_get, &h, bin, sizeof(bin),
			    T + 5, &why);
			if (rc != HK_VERIFY_OK)
				printf("scheme %d enc %d: %s\n", schemes[i],
				    enc, why);
			HK_CHECK(rc == HK_VERIFY_OK);
			rc = hk_verify(&src, hdr_get, &h, bin,
			    sizeof(bin) - 1, T + 5, &why);
			HK_CHECK(rc == HK_VERIFY_MISMATCH);
		}
	}
}

int
main(void)
{
	HK_RUN(test_none);
	HK_RUN(test_github);
	HK_RUN(test_generic);
	HK_RUN(test_stripe);
	HK_RUN(test_standard);
	HK_RUN(test_shopify);
	HK_RUN(test_slack);
	HK_RUN(test_limits);
	HK_RUN(test_sign_standard);
	HK_RUN(test_sign_vectors);
	HK_RUN(test_sign_errors);
	HK_RUN(test_sign_roundtrip);
	return hk_unit_done();
}
