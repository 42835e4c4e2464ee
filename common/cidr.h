/*
 * cidr.h - address blocks: "10.0.0.0/8", "fd00::/8", a bare address for one
 * host.
 *
 * The configuration checks delivery.allow and delivery.deny with
 * hk_cidr_parse at load; the delivery worker parses the same strings with
 * the same function and matches every address it connects to, so what
 * "-t" accepted is exactly what the guard enforces.
 */
#ifndef HK_CIDR_H
#define HK_CIDR_H

#include <stddef.h>

struct hk_cidr {
	int           family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* 4 or 16 bytes, network order */
	int           bits;
};

/*
 * Parse s into out.  HK_OK, or HK_ERROR with a short phrase in why.  Host
 * bits set below the prefix length are an error, since "10.0.0.1/8" is
 * more likely a typo than an intent.
 */
int hk_cidr_parse(const char *s, struct hk_cidr *out, char *why,
    size_t whylen);
/* 1 if the address a (AF_INET: 4 bytes, AF_INET6: 16) lies inside c. */
int hk_cidr_match(const struct hk_cidr *c, int family,
    const unsigned char *a);

/*
 * The outbound guard: why the address a (AF_INET: 4 bytes, AF_INET6: 16)
 * may not be connected to, or NULL when it may.  An address is first
 * taken for what it reaches: an IPv4-mapped (::ffff:0:0/96) or NAT64
 * (64:ff9b::/96) address for the IPv4 address it carries, and the
 * unspecified 0.0.0.0/8 and :: for the local host they connect to
 * (127.0.0.1, ::1).  Link-local (169.254.0.0/16 with the cloud metadata
 * services, fe80::/10) is always refused; an address in deny is refused
 * unless allow has it.
 */
const char *hk_cidr_guard(const struct hk_cidr *allow, int nallow,
    const struct hk_cidr *deny, int ndeny, int family,
    const unsigned char *a);

#endif /* HK_CIDR_H */
