/*
 * uuid.c - UUIDv7 with a per-process random pool and a monotonic counter.
 *
 * Layout (RFC 9562 section 5.7):
 *
 *    0                   1                   2                   3
 *   |       unix_ts_ms (48 bits)                                    |
 *   |       unix_ts_ms          | ver=7 | rand_a (12 bits): counter |
 *   |var=10| rand_b (62 bits), fresh random for every id            |
 *   |       rand_b                                                  |
 *
 * Monotonicity follows the RFC's method 1, a fixed-length counter: rand_a
 * holds a 12-bit counter that starts at a random value with its top bit
 * clear (at least 2048 ids per millisecond before it can wrap) and counts up
 * while the millisecond does not change.  When it would wrap, or when the
 * clock goes back, the timestamp is advanced past the last one instead,
 * which the RFC allows; the id then runs slightly ahead of the clock but
 * never out of order.
 *
 * Random bytes come from RAND_bytes in blocks, so a busy worker makes one
 * libcrypto call per few dozen ids.  A forked child inherits the pool, and
 * handing out the parent's bytes would give both processes the same ids, so
 * the pool is dropped in a child.  A child is told by a flag on a page
 * marked MADV_WIPEONFORK, which the kernel hands to every child zeroed,
 * however it forked (an atfork handler would miss a raw clone) and at no
 * cost per id.  Where the kernel refuses the mark, the pool remembers the
 * pid that filled it and getpid() is asked every time instead.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "clock.h"
#include "core.h"
#include "uuid.h"

#define HK_UUID_POOL	512

static struct {
	uint8_t		pool[HK_UUID_POOL];
	size_t		used;		/* bytes of pool handed out */
	pid_t		pid;		/* who filled the pool; 0: empty */
	uint64_t	last_ms;
	unsigned int	counter;	/* 12 bits */
} hk_uuid_state = { .used = HK_UUID_POOL };

/* A page the kernel zeroes in every child: [0] is 1 once this process
 * filled the pool.  NULL: no such page, getpid() decides. */
static volatile uint8_t *hk_uuid_mark;
static int hk_uuid_mark_tried;

/* hk_uuid_inherited - is the pool not this process's own? */
static int
hk_uuid_inherited(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p;

	if (!hk_uuid_mark_tried) {
		hk_uuid_mark_tried = 1;
		p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED && madvise(p, (size_t)pg, MADV_WIPEONFORK)
		    == 0)
			hk_uuid_mark = p;
		else if (p != MAP_FAILED)
			munmap(p, (size_t)pg);
	}
	if (hk_uuid_mark != NULL)
		return hk_uuid_mark[0] == 0;
	return hk_uuid_state.pid != getpid();
}

/* hk_uuid_random - n bytes from the pool, refilled when short or inherited. */
static int
hk_uuid_random(uint8_t *out, size_t n)
{
	if (hk_uuid_inherited()) {
		/* The counter's random start is the parent's too; redraw it. */
		hk_uuid_state.used = HK_UUID_POOL;
		hk_uuid_state.last_ms = 0;
		hk_uuid_state.counter = 0;
	}
	if (HK_UUID_POOL - hk_uuid_state.used < n) {
		if (RAND_bytes(hk_uuid_state.pool, HK_UUID_POOL) != 1)
			return HK_ERROR;
		hk_uuid_state.used = 0;
		hk_uuid_state.pid = getpid();
		if (hk_uuid_mark != NULL)
			hk_uuid_mark[0] = 1;
	}
	memcpy(out, hk_uuid_state.pool + hk_uuid_state.used, n);
	hk_uuid_state.used += n;
	return HK_OK;
}

int
hk_uuid_v7(uint8_t out[HK_UUID_LEN])
{
	uint8_t rnd[10];
	uint64_t now, ms;

	/* Draw first: it resets the counter state in a fresh child. */
	if (hk_uuid_random(rnd, sizeof(rnd)) != HK_OK)
		return HK_ERROR;
	now = hk_clock_real_ms();
	ms = hk_uuid_state.last_ms;
	if (now > ms) {
		ms = now;
		hk_uuid_state.counter = ((unsigned int)rnd[8] << 8 | rnd[9]) &
		    0x7ff;
	} else if (++hk_uuid_state.counter > 0xfff) {
		/* Same or earlier millisecond and the counter is spent. */
		ms++;
		hk_uuid_state.counter = ((unsigned int)rnd[8] << 8 | rnd[9]) &
		    0x7ff;
	}
	hk_uuid_state.last_ms = ms;

	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)(ms >> (40 - 8 * i));
	out[6] = (uint8_t)(0x70 | hk_uuid_state.counter >> 8);
	out[7] = (uint8_t)(hk_uuid_state.counter & 0xff);
	memcpy(out + 8, rnd, 8);
	out[8] = (uint8_t)(0x80 | (out[8] & 0x3f));
	return HK_OK;
}

uint64_t
hk_uuid_time_ms(const uint8_t in[HK_UUID_LEN])
{
	uint64_t ms = 0;

	for (int i = 0; i < 6; i++)
		ms = ms << 8 | in[i];
	return ms;
}

void
hk_uuid_format(const uint8_t in[HK_UUID_LEN], char out[HK_UUID_STRLEN])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < HK_UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[in[i] >> 4];
		out[o++] = hex[in[i] & 0x0f];
	}
	out[o] = '\0';
}

/* hk_uuid_hexval - value of a hex digit, or -1. */
static int
hk_uuid_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hk_uuid_parse(const char *s, uint8_t out[HK_UUID_LEN])
{
	uint8_t tmp[HK_UUID_LEN];
	int hi, lo, n = 0;

	for (int i = 0; i < HK_UUID_STRLEN - 1; ) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return HK_ERROR;
			i++;
			continue;
		}
		/* A NUL ends the loop here, before anything past it is read. */
		if ((hi = hk_uuid_hexval(s[i])) < 0 ||
		    (lo = hk_uuid_hexval(s[i + 1])) < 0)
			return HK_ERROR;
		tmp[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	if (s[HK_UUID_STRLEN - 1] != '\0')
		return HK_ERROR;
	memcpy(out, tmp, sizeof(tmp));
	return HK_OK;
}
