/*
 * clock.h - monotonic and wall clocks in integer units.
 */
#ifndef HK_CLOCK_H
#define HK_CLOCK_H

#include <stdint.h>

uint64_t hk_clock_mono_ns(void);	/* CLOCK_MONOTONIC, for durations */
uint64_t hk_clock_real_us(void);	/* CLOCK_REALTIME, for timestamps */
uint64_t hk_clock_real_ms(void);
/* "2026-11-22T10:00:00.123456Z" into buf (at least 28 bytes). */
void     hk_clock_iso8601(uint64_t real_us, char *buf, size_t len);

#endif
