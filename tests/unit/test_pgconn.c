/*
 * test_pgconn.c - the reconnection delay (common/backoff.c) and the
 * PostgreSQL connection (common/pgconn.c): failure and retry against a
 * closed port always; with HK_TEST_PG_URL, results and Syncs in order
 * from a real server, a failed statement and the ones it aborts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "backoff.h"
#include "core.h"
#include "pgconn.h"
#include "unit.h"
#include "unitnet.h"

static struct event_base *base;
static struct hk_pgconn conn;
static int ups, downs, syncs;
static char seen[64];		/* one letter per result: o ok, e error, a aborted */

static void
test_backoff(void)
{
	struct hk_backoff b;
	int want[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000 };
	int ms;

	hk_backoff_init(&b, 100, 5000, 0);
	for (size_t i = 0; i < HK_NELEM(want); i++)
		HK_CHECK(hk_backoff_next(&b) == want[i]);
	hk_backoff_reset(&b);
	HK_CHECK(hk_backoff_next(&b) == 100);
	hk_backoff_init(&b, 100, 5000, 1);
	for (int i = 0; i < 100; i++) {
		hk_backoff_reset(&b);
		ms = hk_backoff_next(&b);
		HK_CHECK(ms >= 85 && ms <= 100);
	}
}

static void
test_why(void)
{
	char buf[64], tiny[6];

	HK_CHECK_STR(hk_pgconn_why(buf, sizeof(buf), "server closed the "
	    "connection unexpectedly\n\tThis probably means\n"), "server closed "
	    "the connection unexpectedly This probably means");
	HK_CHECK_STR(hk_pgconn_why(buf, sizeof(buf), ""), "connection failed");
	HK_CHECK_STR(hk_pgconn_why(buf, sizeof(buf), NULL), "connection failed");
	HK_CHECK_STR(hk_pgconn_why(tiny, sizeof(tiny), "abcdefgh"), "abcde");
}

static void
on_up(void *arg)
{
	ups++;
	event_base_loopbreak(base);
}

static void
on_result(void *arg, PGresult *res)
{
	size_t n = strlen(seen);
	ExecStatusType st = PQresultStatus(res);

	if (n + 1 < sizeof(seen)) {
		seen[n] = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ? 'o'
		    : st == PGRES_PIPELINE_ABORTED ? 'a' : 'e';
		seen[n + 1] = '\0';
	}
	PQclear(res);
}

static void
on_sync(void *arg)
{
	if (++syncs == 2)
		event_base_loopbreak(base);
}

static void
on_down(void *arg)
{
	if (++downs == 3)
		event_base_loopbreak(base);
}

static const struct hk_pgconn_ops ops = {
	.name = "test", .appname = "hookd test", .down_note = "testing",
	.query_ms = 5000, .on_up = on_up, .on_result = on_result,
	.on_sync = on_sync, .on_down = on_down,
};

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

/* run_for - the loop until a callback breaks it, or ms at most. */
static void
run_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *stop = evtimer_new(base, stop_cb, NULL);

	evtimer_add(stop, &tv);
	event_base_dispatch(base);
	event_free(stop);
}

/* Nobody listens: down at once, then again after 100 and 200 ms. */
static void
test_refused_then_retried(void)
{
	char url[96];

	snprintf(url, sizeof(url), "postgresql://hookd@127.0.0.1:%d/hookd",
	    hk_unit_closed_port());
	ups = downs = 0;
	HK_CHECK(hk_pgconn_init(&conn, base, url, &ops, NULL) == HK_OK);
	HK_CHECK(hk_pgconn_starting(&conn));
	hk_pgconn_start(&conn);
	run_for(3000);
	HK_CHECK(downs == 3);
	HK_CHECK(ups == 0);
	HK_CHECK(!hk_pgconn_up(&conn));
	HK_CHECK(!hk_pgconn_starting(&conn));
	HK_CHECK(hk_pgconn_send_params(&conn, "SELECT 1", 0, NULL, NULL, NULL,
	    NULL) == HK_ERROR);
	HK_CHECK(hk_pgconn_sync(&conn) == HK_ERROR);
	hk_pgconn_close(&conn);
}

static int
send_sql(const char *sql)
{
	return hk_pgconn_send_params(&conn, sql, 0, NULL, NULL, NULL, NULL);
}

/* Two pipelines: results in order, one per statement, then each Sync. */
static void
test_pipeline(void)
{
	const char *url = getenv("HK_TEST_PG_URL");

	ups = downs = syncs = 0;
	seen[0] = '\0';
	HK_CHECK(hk_pgconn_init(&conn, base, url, &ops, NULL) == HK_OK);
	hk_pgconn_start(&conn);
	run_for(5000);
	HK_CHECK(ups == 1 && hk_pgconn_up(&conn));
	HK_CHECK(send_sql("SELECT 1") == HK_OK && send_sql("SELECT 2") == HK_OK);
	HK_CHECK(hk_pgconn_sync(&conn) == HK_OK);
	HK_CHECK(send_sql("SELECT 1/0") == HK_OK && send_sql("SELECT 3") == HK_OK);
	HK_CHECK(hk_pgconn_send_prepare(&conn, "t1", "SELECT $1::int", 1,
	    NULL) == HK_OK);
	HK_CHECK(hk_pgconn_sync(&conn) == HK_OK);
	run_for(5000);
	HK_CHECK(syncs == 2);
	HK_CHECK_STR(seen, "ooeaa");
	HK_CHECK(downs == 0 && hk_pgconn_up(&conn));
	hk_pgconn_drop(&conn, "test");
	HK_CHECK(downs == 1 && !hk_pgconn_up(&conn));
	run_for(3000);
	HK_CHECK(ups == 2 && hk_pgconn_up(&conn));
	hk_pgconn_close(&conn);
}

int
main(void)
{
	base = event_base_new();
	HK_RUN(test_backoff);
	HK_RUN(test_why);
	HK_RUN(test_refused_then_retried);
	if (getenv("HK_TEST_PG_URL") != NULL)
		HK_RUN(test_pipeline);
	else
		printf("SKIP test_pipeline: HK_TEST_PG_URL not set\n");
	event_base_free(base);
	return hk_unit_done();
}
