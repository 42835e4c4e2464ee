/*
 * cidr.c - address blocks (see cidr.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "core.h"

/* hk_cidr_bits - one to three decimal digits, 0..max. */
static int
hk_cidr_bits(const char *s, int max, int *bits)
{
	size_t n = strlen(s);

	if (n == 0 || n > 3 || strspn(s, "0123456789") != n)
		return HK_ERROR;
	*bits = atoi(s);
	return *bits <= max ? HK_OK : HK_ERROR;
}

/* hk_cidr_hostbits - 1 if addr has a bit set at or after bit "bits". */
static int
hk_cidr_hostbits(const struct hk_cidr *c, int len)
{
	for (int i = c->bits; i < len * 8; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return 1;
	return 0;
}

int
hk_cidr_parse(const char *s, struct hk_cidr *out, char *why, size_t whylen)
{
	char buf[64], net[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int len;

	memset(out, 0, sizeof(*out));
	if (n >= sizeof(buf)) {
		snprintf(why, whylen, "not an address block");
		return HK_ERROR;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	out->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	len = out->family == AF_INET6 ? 16 : 4;
	if (inet_pton(out->family, buf, out->addr) != 1) {
		snprintf(why, whylen, "\"%s\" is not an IP address", buf);
		return HK_ERROR;
	}
	out->bits = len * 8;
	if (slash != NULL && hk_cidr_bits(slash + 1, len * 8, &out->bits)
	    != HK_OK) {
		snprintf(why, whylen, "the prefix length after \"/\" must be "
		    "0..%d", len * 8);
		return HK_ERROR;
	}
	if (hk_cidr_hostbits(out, len)) {
		for (int i = out->bits; i < len * 8; i++)
			out->addr[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
		inet_ntop(out->family, out->addr, net, sizeof(net));
		snprintf(why, whylen, "\"%s\" has bits set past its prefix; "
		    "did you mean \"%s/%d\"?", s, net, out->bits);
		return HK_ERROR;
	}
	return HK_OK;
}

int
hk_cidr_match(const struct hk_cidr *c, int family, const unsigned char *a)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (family != c->family)
		return 0;
	if (memcmp(c->addr, a, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((c->addr[full] ^ a[full]) & (0xff00 >> rest)) == 0;
}

const char *
hk_cidr_guard(const struct hk_cidr *allow, int nallow,
    const struct hk_cidr *deny, int ndeny, int family, const unsigned char *a)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const unsigned char any6[16], lo6[16] = { [15] = 1 };
	static const unsigned char lo4[4] = { 127, 0, 0, 1 };
	/* fd00:ec2::254, the IPv6 address of EC2's instance metadata. */
	static const unsigned char ec2[16] = { 0xfd, 0, 0x0e, 0xc2,
	    [14] = 0x02, [15] = 0x54 };
	int allowed = 0;

	if (family == AF_INET6 && (memcmp(a, mapped, 12) == 0
	    || memcmp(a, nat64, 12) == 0)) {
		family = AF_INET;
		a += 12;
	}
	if (family == AF_INET && a[0] == 0)
		a = lo4;
	else if (family == AF_INET6 && memcmp(a, any6, 16) == 0)
		a = lo6;
	if (family == AF_INET && a[0] == 169 && a[1] == 254)
		return "link-local/cloud metadata";
	if (family == AF_INET6 && a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "link-local";
	if (family == AF_INET6 && memcmp(a, ec2, 16) == 0)
		return "cloud metadata";
	for (int i = 0; i < nallow && !allowed; i++)
		allowed = hk_cidr_match(&allow[i], family, a);
	if (allowed)
		return NULL;
	for (int i = 0; i < ndeny; i++)
		if (hk_cidr_match(&deny[i], family, a))
			return "in delivery.deny";
	return NULL;
}
