/*
 * test_uuid.c - UUIDv7 layout, ordering, text form, and fork safety.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "core.h"
#include "unit.h"
#include "uuid.h"

#define NIDS	100000
#define NFORK	2000

static void
test_layout(void)
{
	uint8_t id[HK_UUID_LEN];
	uint64_t before, after;

	for (int i = 0; i < 1000; i++) {
		before = hk_clock_real_ms();
		HK_CHECK(hk_uuid_v7(id) == HK_OK);
		after = hk_clock_real_ms();
		HK_CHECK((id[6] >> 4) == 7);		/* version */
		HK_CHECK((id[8] >> 6) == 2);		/* variant 10 */
		/*
		 * The id may run ahead of the clock only when more than 2048
		 * ids share a millisecond; a thousand never do.
		 */
		HK_CHECK(hk_uuid_time_ms(id) >= before - 1);
		HK_CHECK(hk_uuid_time_ms(id) <= after + 1);
	}
}

static void
test_monotonic(void)
{
	uint8_t (*ids)[HK_UUID_LEN] = malloc(sizeof(*ids) * NIDS);
	int bad = 0;

	HK_CHECK(ids != NULL);
	if (ids == NULL)
		return;
	for (int i = 0; i < NIDS; i++)
		HK_CHECK(hk_uuid_v7(ids[i]) == HK_OK);
	/* Strictly increasing as bytes, so also as text and in PostgreSQL. */
	for (int i = 1; i < NIDS; i++)
		if (memcmp(ids[i - 1], ids[i], HK_UUID_LEN) >= 0)
			bad++;
	HK_CHECK(bad == 0);
	/* And never far ahead of the clock, even at full speed. */
	HK_CHECK(hk_uuid_time_ms(ids[NIDS - 1]) <= hk_clock_real_ms() + 1000);
	free(ids);
}

static void
test_format_parse(void)
{
	static const uint8_t known[HK_UUID_LEN] = {
		0x01, 0x89, 0x0a, 0x5d, 0xac, 0x96, 0x77, 0x4b,
		0xbc, 0xce, 0xb3, 0x02, 0x09, 0x9a, 0x80, 0x57 };
	uint8_t id[HK_UUID_LEN], back[HK_UUID_LEN];
	char s[HK_UUID_STRLEN];

	hk_uuid_format(known, s);
	HK_CHECK_STR(s, "01890a5d-ac96-774b-bcce-b302099a8057");
	HK_CHECK(hk_uuid_time_ms(known) == 0x01890a5dac96ULL);
	HK_CHECK(hk_uuid_parse("01890A5D-AC96-774B-BCCE-B302099A8057", back) ==
	    HK_OK);
	HK_CHECK(memcmp(known, back, HK_UUID_LEN) == 0);

	for (int i = 0; i < 100; i++) {
		HK_CHECK(hk_uuid_v7(id) == HK_OK);
		hk_uuid_format(id, s);
		HK_CHECK(strlen(s) == 36);
		HK_CHECK(s[14] == '7');
		HK_CHECK(strchr("89ab", s[19]) != NULL);
		memset(back, 0, sizeof(back));
		HK_CHECK(hk_uuid_parse(s, back) == HK_OK);
		HK_CHECK(memcmp(id, back, HK_UUID_LEN) == 0);
	}

	HK_CHECK(hk_uuid_parse("", back) == HK_ERROR);
	HK_CHECK(hk_uuid_parse("01890a5d-ac96-774b-bcce-b302099a805", back) ==
	    HK_ERROR);
	HK_CHECK(hk_uuid_parse("01890a5d-ac96-774b-bcce-b302099a80577", back) ==
	    HK_ERROR);
	HK_CHECK(hk_uuid_parse("01890a5dac96774bbcceb302099a8057", back) ==
	    HK_ERROR);
	HK_CHECK(hk_uuid_parse("01890a5d-ac96-774b-bcce_b302099a8057", back) ==
	    HK_ERROR);
	HK_CHECK(hk_uuid_parse("01890a5g-ac96-774b-bcce-b302099a8057", back) ==
	    HK_ERROR);
	HK_CHECK(hk_uuid_parse("01890a5d-ac9-6774b-bcce-b302099a8057", back) ==
	    HK_ERROR);
}

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, HK_UUID_LEN);
}

/* cmp_rand - order by rand_b, the last 8 bytes. */
static int
cmp_rand(const void *a, const void *b)
{
	return memcmp((const uint8_t *)a + 8, (const uint8_t *)b + 8, 8);
}

/*
 * test_fork - a child draws from a pool its parent had already filled; if
 * it reused those bytes, parent and child would produce identical ids
 * (same millisecond, same counter, same random bits).
 */
static void
test_fork(void)
{
	uint8_t (*ids)[HK_UUID_LEN] = malloc(sizeof(*ids) * NFORK * 2);
	uint8_t warm[HK_UUID_LEN];
	int fd[2], status, dups = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	HK_CHECK(ids != NULL && pipe(fd) == 0);
	if (ids == NULL)
		return;
	/* Fill the pool and leave most of it unused. */
	HK_CHECK(hk_uuid_v7(warm) == HK_OK);
	if ((pid = fork()) == 0) {
		close(fd[0]);
		for (int i = 0; i < NFORK; i++) {
			uint8_t id[HK_UUID_LEN];

			if (hk_uuid_v7(id) != HK_OK ||
			    write(fd[1], id, sizeof(id)) != sizeof(id))
				_exit(1);
		}
		_exit(0);
	}
	HK_CHECK(pid > 0);
	close(fd[1]);
	for (int i = 0; i < NFORK; i++)
		HK_CHECK(hk_uuid_v7(ids[i]) == HK_OK);
	while (got < (size_t)NFORK * HK_UUID_LEN &&
	    (n = read(fd[0], (uint8_t *)ids[NFORK] + got,
	    (size_t)NFORK * HK_UUID_LEN - got)) > 0)
		got += (size_t)n;
	close(fd[0]);
	HK_CHECK(waitpid(pid, &status, 0) == pid);
	HK_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	HK_CHECK(got == (size_t)NFORK * HK_UUID_LEN);

	qsort(ids, NFORK * 2, HK_UUID_LEN, cmp_id);
	for (int i = 1; i < NFORK * 2; i++)
		if (memcmp(ids[i - 1], ids[i], HK_UUID_LEN) == 0)
			dups++;
	HK_CHECK(dups == 0);
	/*
	 * The random half alone must differ too: unique ids could also come
	 * from a reseeded counter over reused random bytes.
	 */
	qsort(ids, NFORK * 2, HK_UUID_LEN, cmp_rand);
	dups = 0;
	for (int i = 1; i < NFORK * 2; i++)
		if (memcmp(ids[i - 1] + 8, ids[i] + 8, 8) == 0)
			dups++;
	HK_CHECK(dups == 0);
	free(ids);
}

int
main(void)
{
	HK_RUN(test_layout);
	HK_RUN(test_monotonic);
	HK_RUN(test_format_parse);
	HK_RUN(test_fork);
	return hk_unit_done();
}
