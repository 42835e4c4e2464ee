/*
 * verdict.c - an attempt's outcome: what it means (the table in dispatch.h),
 * the rows that record it, the breaker, and the timing record.
 *
 * Every attempt writes one statement: its attempts row (ON CONFLICT DO
 * NOTHING: the same attempt sent again after a lost reply, or by a worker
 * that took over an expired lease, is recorded once) and, in the same
 * statement, the delivery's new state, guarded by "attempts < this
 * attempt" so that a repeated or late update never moves a delivery
 * backwards.  The job ends (hk_dispatch_job_free), and may release its
 * stream entry's ack, only when they are committed.
 *
 * Attempts come here from dlqueue.c's outbound callback; jobs the queue
 * never sends (open breaker, disabled destination) come to
 * hk_verdict_reschedule.
 *
 * A 410 disables the destination (destination_state, disabled_by 'gone')
 * and holds its deliveries: the one that got the 410 stays retrying, due
 * at once, and the scanner claims nothing of a disabled destination, so
 * they all wait in PostgreSQL until an operator enables it again (or
 * retention drops them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "dispatch.h"
#include "dlbatch.h"
#include "dllimit.h"
#include "dlstore.h"
#include "log.h"
#include "ring.h"

/*
 * Attempts and their deliveries' new state, a batch of attempts in one
 * statement (dlbatch.c).  Per attempt: event, destination, attempt,
 * started_at, duration, status code, attempt error, response excerpt, new
 * status, delay (NULL: no next attempt), last_error, the event's
 * received_at.  The attempts guard makes a repeated statement change
 * nothing.  received_at is part of both tables' keys (they are partitioned
 * by it, sql/003_partitions.sql): it names the row and lets PostgreSQL
 * look in one partition only.
 */
static const char hk_verdict_outcome_sql[] =
    "WITH u AS (SELECT id::uuid AS id, dest, att::int AS att,"
    "  started::timestamptz AS started, dur::bigint AS dur, code::int AS code,"
    "  aerr, resp, st, delay::bigint AS delay, lerr,"
    "  rcv::timestamptz AS rcv"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    "  $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],"
    "  $10::text[], $11::text[], $12::text[])"
    "  AS u(id, dest, att, started, dur, code, aerr, resp, st, delay, lerr,"
    "  rcv)),"
    " a AS (INSERT INTO attempts (event_id, destination, attempt,"
    "  received_at, started_at, duration_us, status_code, error, response)"
    "  SELECT id, dest, att, rcv, started, dur, code, aerr, resp FROM u"
    "  ON CONFLICT (event_id, destination, attempt, received_at)"
    "  DO NOTHING) "
    "UPDATE deliveries d SET status = u.st, attempts = u.att,"
    " next_attempt_at = now() + u.delay * interval '1 microsecond',"
    " last_status = u.code, last_error = u.lerr, updated_at = now()"
    " FROM u WHERE d.event_id = u.id AND d.destination = u.dest"
    "  AND d.received_at = u.rcv AND d.attempts < u.att";

#define HK_VERDICT_BATCH  512	/* attempts a statement, at most */

/*
 * Events attempted first (see dlroute.c): the event, each delivery in its
 * state after the attempt, and the attempt, one row per delivery, the
 * event's columns on its first row only (NULL on the others).  Only
 * inserts, so the plan is kept (dlstore.h).  Written twice: optimistic,
 * without ON CONFLICT, since a new event's rows are almost never there
 * yet; and with it (_safe), sent in its place when the first meets a row
 * that was (a prompt copy of the entry that another worker stored:
 * hk_dlstore_submit_alt).  There, a delivery row that exists already takes
 * this outcome only if it is ahead of it, as hk_verdict_outcome_sql would.
 */
#define HK_VERDICT_FRESH(ev_conflict, att_conflict, dl_conflict)	\
    "WITH t AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]," \
    "  $4::text[], $5::text[], $6::bytea[], $7::text[], $8::text[],"	\
    "  $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],"	\
    "  $14::text[], $15::text[], $16::text[], $17::text[], $18::text[])" \
    "  AS t(id, rcv, src, ct, h, b, k, ty, d, st, us, att, code, lerr, sa," \
    "  dur, aerr, resp)),"						\
    " e AS (INSERT INTO events (id, source, idempotency_key, received_at," \
    "  content_type, headers, body, event_type)"			\
    "  SELECT id::uuid, src, k, rcv::timestamptz, ct, h::jsonb, b, ty"	\
    "  FROM t WHERE src IS NOT NULL" ev_conflict "),"			\
    " a AS (INSERT INTO attempts (event_id, destination, attempt,"	\
    "  received_at, started_at, duration_us, status_code, error, response)" \
    "  SELECT id::uuid, d, 1, rcv::timestamptz, sa::timestamptz,"	\
    "  dur::bigint, code::int, aerr, resp FROM t WHERE att = '1'"	\
    att_conflict ") "							\
    "INSERT INTO deliveries AS x (event_id, destination, received_at,"	\
    " status, attempts, next_attempt_at, last_status, last_error)"	\
    " SELECT id::uuid, d, rcv::timestamptz, st, att::int,"		\
    "  now() + us::bigint * interval '1 microsecond', code::int, lerr"	\
    " FROM t" dl_conflict

static const char hk_verdict_fresh_sql[] = HK_VERDICT_FRESH("", "", "");
static const char hk_verdict_fresh_safe_sql[] = HK_VERDICT_FRESH(
    "  ON CONFLICT (id, received_at) DO NOTHING",
    "  ON CONFLICT (event_id, destination, attempt, received_at)"
    "  DO NOTHING",
    " ON CONFLICT (event_id, destination, received_at) DO UPDATE"
    " SET status = EXCLUDED.status, attempts = EXCLUDED.attempts,"
    "  next_attempt_at = EXCLUDED.next_attempt_at,"
    "  last_status = EXCLUDED.last_status,"
    "  last_error = EXCLUDED.last_error, updated_at = now()"
    " WHERE x.attempts < EXCLUDED.attempts");

#define HK_VERDICT_FRESH_COLS  18

static struct {
	struct hk_dlbatch *outcome_b;	/* attempts and their verdicts */
	struct hk_dlbatch *fresh_b;	/* events attempted first */
} hk_verdict;

static const char hk_verdict_resched_sql[] =
    "UPDATE deliveries SET next_attempt_at = now() + $3::bigint"
    "  * interval '1 microsecond', updated_at = now()"
    " WHERE event_id = $1::uuid AND destination = $2"
    "  AND received_at = $4::timestamptz"
    "  AND status IN ('pending', 'retrying')";

static const char hk_verdict_disable_sql[] =
    "INSERT INTO destination_state (destination, disabled, disabled_at,"
    "  reason, disabled_by) VALUES ($1, true, now(), $2, 'gone')"
    " ON CONFLICT (destination) DO UPDATE SET disabled = true,"
    "  disabled_at = now(), reason = EXCLUDED.reason, disabled_by = 'gone'";

/* hk_verdict_utf8 - make s valid UTF-8 without NUL, in place ('?'). */
static void
hk_verdict_utf8(char *s, size_t len)
{
	unsigned char *p = (unsigned char *)s;
	size_t i = 0, n, k;

	while (i < len) {
		if (p[i] >= 0x20 || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
			n = p[i] < 0x80 ? 1 : p[i] >= 0xc2 && p[i] <= 0xdf ? 2
			    : p[i] >= 0xe0 && p[i] <= 0xef ? 3
			    : p[i] >= 0xf0 && p[i] <= 0xf4 ? 4 : 0;
		else
			n = 0;
		for (k = 1; n > 1 && k < n; k++)
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				n = 0;
		/* Overlong forms and surrogates: PostgreSQL refuses them. */
		if (n == 3 && ((p[i] == 0xe0 && p[i + 1] < 0xa0)
		    || (p[i] == 0xed && p[i + 1] >= 0xa0)))
			n = 0;
		if (n == 4 && ((p[i] == 0xf0 && p[i + 1] < 0x90)
		    || (p[i] == 0xf4 && p[i + 1] >= 0x90)))
			n = 0;
		if (n == 0) {
			p[i++] = '?';
			continue;
		}
		i += n;
	}
}

/* hk_verdict_record - the attempt's timing record and counters. */
static void
hk_verdict_record(const struct hk_dl_job *j, int success)
{
	struct hk_shm_slot *slot = hk_dispatch.child->slot;
	const struct hk_dl_event *ev = j->ev;
	uint64_t now_us = hk_clock_real_us();
	struct hk_rec rec;

#define HK_US(v) ((uint32_t)HK_MIN((uint64_t)(v), (uint64_t)UINT32_MAX))
	atomic_fetch_add_explicit(&slot->counters.requests, 1,
	    memory_order_relaxed);
	if (!success)
		atomic_fetch_add_explicit(&slot->counters.errors, 1,
		    memory_order_relaxed);
	atomic_fetch_add_explicit(&slot->counters.bytes, ev->body_len,
	    memory_order_relaxed);
	if (!hk_dispatch.conf->metrics.enabled)
		return;
	memset(&rec, 0, sizeof(rec));
	rec.ts_us = j->res.started_us;
	rec.kind = HK_REC_DELIVERY;
	rec.flags = (uint8_t)((success ? 0 : HK_REC_ERROR)
	    | (j->dead ? HK_REC_DEAD : 0));
	rec.status = (uint16_t)j->res.status;
	rec.source = UINT16_MAX;
	for (int i = 0; i < hk_dispatch.conf->nsources; i++)
		if (strcmp(hk_dispatch.conf->sources[i].name, ev->source) == 0)
			rec.source = (uint16_t)i;
	rec.dest = (uint16_t)j->dest;
	rec.bytes = (uint32_t)HK_MIN(ev->body_len, UINT32_MAX);
	memcpy(rec.id, ev->idb, sizeof(rec.id));
	if (ev->picked_us > ev->received_us)
		rec.stage_us[HK_STAGE_QUEUE] = HK_US(ev->picked_us
		    - ev->received_us);
	rec.stage_us[HK_STAGE_STORE] = HK_US(j->store_us);
	rec.stage_us[HK_STAGE_CONNECT] = HK_US(j->res.connect_us);
	rec.stage_us[HK_STAGE_TTFB] = HK_US(j->res.ttfb_us);
	rec.stage_us[HK_STAGE_ATTEMPT] = HK_US(j->res.total_us ? j->res.total_us
	    : (j->end_ns - j->sent_ns) / 1000u);
	rec.stage_us[HK_STAGE_ACK] = HK_US((hk_clock_mono_ns() - j->end_ns)
	    / 1000u);
	if (success && now_us > ev->received_us)
		rec.stage_us[HK_STAGE_E2E] = HK_US(now_us - ev->received_us);
	hk_ring_push(&slot->ring, &rec);
#undef HK_US
}

/* hk_verdict_committed - the attempt's rows are in: the job is over. */
static void
hk_verdict_committed(void *arg, const PGresult *res)
{
	struct hk_dl_job *j = arg;

	if (res == NULL)
		hk_log_error("delivery: the outcome of attempt %d of event %s "
		    "to %s could not be written; it will be retried",
		    j->attempt, j->ev->id,
		    hk_dispatch.conf->dests[j->dest].name);
	else if (j->recorded)
		hk_verdict_record(j, !j->failed);
	hk_dispatch_job_free(j, res != NULL);
}

/* hk_verdict_delay_us - when to try again after failed attempt j. */
static uint64_t
hk_verdict_delay_us(const struct hk_dl_job *j)
{
	const struct hk_conf *conf = hk_dispatch.conf;
	const int *sch = conf->delivery.retry_schedule;
	int n = conf->delivery.nretry, st = j->res.status;
	double s, r;

	if ((st == 429 || st == 503) && j->res.retry_after_s >= 0) {
		s = (double)HK_MAX(sch[0], HK_MIN(j->res.retry_after_s,
		    sch[n - 1]));
		return (uint64_t)(s * 1e6);
	}
	s = sch[j->attempt - 1];
	r = (double)rand_r(&hk_dispatch.seed) / RAND_MAX * 2 - 1;
	s *= 1 + conf->delivery.jitter * r;
	return (uint64_t)(HK_MAX(s, 0.001) * 1e6);
}

/* hk_verdict_disable - 410: stop delivering to this destination. */
static void
hk_verdict_disable(int d)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];
	const char *name = hk_dispatch.conf->dests[d].name;
	const char *why = "destination answered 410 Gone";
	const char *v[2] = { name, why };
	int l[2] = { (int)strlen(name), (int)strlen(why) };

	if (dd->disabled)
		return;
	dd->disabled = 1;
	hk_log_error("delivery: destination %s answered 410 Gone: disabled, "
	    "its deliveries are held until \"hookctl enable %s\"", name,
	    name);
	hk_dlstore_submit(hk_verdict_disable_sql, 2, v, l, NULL, NULL, NULL);
}

/* hk_verdict_breaker - count the outcome into the destination's breaker. */
static void
hk_verdict_breaker(struct hk_dl_job *j)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[j->dest];
	const char *name = hk_dispatch.conf->dests[j->dest].name;

	if (j->probe)
		dd->probing = 0;
	if (!j->failed) {
		if (dd->open_until_ns != 0) {
			hk_log_info("delivery: destination %s answers again; "
			    "circuit closed", name);
			hk_dllimit_breaker_closed(j->dest);
		}
		dd->fails = 0;
		dd->open_until_ns = 0;
		return;
	}
	dd->fails++;
	if (j->probe || (dd->open_until_ns == 0
	    && dd->fails >= HK_DISPATCH_TRIP)) {
		if (!j->probe)
			hk_log_warn("delivery: destination %s failed %d times in "
			    "a row; circuit open for %d s", name, dd->fails,
			    HK_DISPATCH_OPEN_S);
		dd->open_until_ns = hk_clock_mono_ns()
		    + (uint64_t)HK_DISPATCH_OPEN_S * 1000000000u;
		/* Every worker of every host holds back while the key lives. */
		hk_dllimit_breaker_open(j->dest, HK_DISPATCH_OPEN_S * 1000u);
	}
}

/* hk_verdict_judge - status, delay and error of the delivery after j. */
static const char *
hk_verdict_judge(struct hk_dl_job *j, uint64_t *delay, char *err, size_t len)
{
	int st = j->res.status;

	*delay = 0;
	err[0] = '\0';
	if (j->res.error[0])
		snprintf(err, len, "%s", j->res.error);
	else if (st >= 200 && st < 300)
		return "succeeded";
	else if (st == 410)
		snprintf(err, len, "HTTP 410 Gone: destination disabled, "
		    "delivery held");
	else if (st >= 300 && st < 400)
		snprintf(err, len, "HTTP %d: redirects are not followed", st);
	else
		snprintf(err, len, "HTTP %d", st);
	j->failed = 1;
	/* Held: due at once, but nobody claims a disabled destination's
	 * rows until it is enabled. */
	if (st == 410 && !j->res.error[0])
		return "retrying";
	if (j->attempt > hk_dispatch.conf->delivery.nretry) {
		j->dead = 1;
		return "dead";
	}
	*delay = hk_verdict_delay_us(j);
	return "retrying";
}

/*
 * hk_verdict_fresh_row - the row of fresh job j (see hk_verdict_fresh_sql)
 * into the batch; first: it carries the event's columns.
 */
static int
hk_verdict_fresh_row(struct hk_dl_job *j, int first)
{
	const struct hk_dl_event *ev = j->ev;
	const char *v[HK_VERDICT_FRESH_COLS];
	int l[HK_VERDICT_FRESH_COLS];
	char us[24], code[16], started[40], dur[24];
	int tried = j->recorded;

	snprintf(us, sizeof(us), "%llu", (unsigned long long)j->delay_us);
	snprintf(code, sizeof(code), "%d", j->res.status);
	hk_clock_iso8601(j->res.started_us, started, sizeof(started));
	snprintf(dur, sizeof(dur), "%llu", (unsigned long long)
	    ((j->end_ns - j->sent_ns) / 1000u));
	v[0] = ev->id, v[1] = ev->received_at;
	v[2] = first ? ev->source : NULL;
	v[3] = first ? ev->ctype : NULL;
	v[4] = first ? ev->headers : NULL;
	v[5] = first ? ev->body : NULL;
	v[6] = first && ev->idem_key[0] ? ev->idem_key : NULL;
	v[7] = first && ev->event_type[0] ? ev->event_type : NULL;
	v[8] = hk_dispatch.conf->dests[j->dest].name;
	v[9] = j->status;
	v[10] = j->has_delay ? us : NULL;
	v[11] = tried ? "1" : "0";
	v[12] = tried && j->res.status ? code : NULL;
	v[13] = j->err[0] ? j->err : NULL;
	v[14] = tried ? started : NULL;
	v[15] = tried ? dur : NULL;
	v[16] = tried && j->res.error[0] ? j->res.error : NULL;
	v[17] = tried ? j->res.excerpt : NULL;
	for (int k = 0; k < HK_VERDICT_FRESH_COLS; k++)
		l[k] = v[k] == NULL ? 0 : k == 3 ? (int)ev->ctype_len
		    : k == 4 ? (int)ev->headers_len : k == 5 ? (int)ev->body_len
		    : (int)strlen(v[k]);
	return hk_dlbatch_add(hk_verdict.fresh_b, v, l, hk_verdict_committed,
	    j);
}

/*
 * hk_verdict_fresh_done - fresh job j has its outcome (an attempt, or held
 * back); once every job of its event has one, the event, its deliveries
 * and attempts go to PostgreSQL together.  Each job ends when that is
 * committed, and the last releases the entry's ack.
 */
static void
hk_verdict_fresh_done(struct hk_dl_job *j)
{
	struct hk_dl_event *ev = j->ev;
	struct hk_dl_job *jobs[HK_CONF_MAX_DESTS], *x;
	int n = 0;

	if (--ev->fresh_left > 0)
		return;
	/* A row's callback may end its job (a failed add, at once): the
	 * list is copied first. */
	TAILQ_FOREACH(x, &ev->fresh_jobs, evlink)
		jobs[n++] = x;
	TAILQ_INIT(&ev->fresh_jobs);
	for (int i = 0; i < n; i++)
		if (hk_verdict_fresh_row(jobs[i], i == 0) != HK_OK)
			hk_verdict_committed(jobs[i], NULL);
}

/* hk_verdict_attempt_done - judge attempt j and write its outcome. */
void
hk_verdict_attempt_done(struct hk_dl_job *j)
{
	const char *dname = hk_dispatch.conf->dests[j->dest].name;
	char att[16], started[40], dur[24], code[16], delay_s[24], err[300];
	const char *status, *v[12];
	uint64_t delay;
	int l[12];

	j->recorded = 1;
	if (j->res.status == 410)
		hk_verdict_disable(j->dest);
	status = hk_verdict_judge(j, &delay, err, sizeof(err));
	/* A 410 is not a failure to back off from: the destination is
	 * disabled, and once enabled its held deliveries go out at once. */
	if (j->res.status == 410 && !j->res.error[0]) {
		if (j->probe)
			hk_dispatch.dests[j->dest].probing = 0;
	} else
		hk_verdict_breaker(j);
	/* An open breaker holds the retry back until it probes again. */
	if (j->failed && !j->dead)
		delay = HK_MAX(delay, hk_dispatch_open_left_us(j->dest,
		    hk_clock_mono_ns()));
	if (strncmp(j->res.error, "address ", 8) == 0)
		hk_log_warn("delivery: %s: %s", dname, j->res.error);
	else if (j->dead)
		hk_log_warn("delivery: event %s to %s is dead after %d "
		    "attempts: %s", j->ev->id, dname, j->attempt, err);
	hk_verdict_utf8(j->res.excerpt, j->res.excerpt_len);
	if (j->fresh) {
		j->status = status;
		j->delay_us = delay;
		j->has_delay = j->failed && !j->dead;
		snprintf(j->err, sizeof(j->err), "%s", err);
		hk_verdict_fresh_done(j);
		return;
	}
	snprintf(att, sizeof(att), "%d", j->attempt);
	hk_clock_iso8601(j->res.started_us, started, sizeof(started));
	snprintf(dur, sizeof(dur), "%llu", (unsigned long long)
	    ((j->end_ns - j->sent_ns) / 1000u));
	snprintf(code, sizeof(code), "%d", j->res.status);
	snprintf(delay_s, sizeof(delay_s), "%llu", (unsigned long long)delay);

	v[0] = j->ev->id, v[1] = dname, v[2] = att, v[3] = started;
	v[4] = dur, v[5] = j->res.status ? code : NULL;
	v[6] = j->res.error[0] ? j->res.error : NULL;
	v[7] = j->res.excerpt;
	v[8] = status;
	v[9] = j->dead || !j->failed ? NULL : delay_s;
	v[10] = err[0] ? err : NULL;
	v[11] = j->ev->received_at;
	for (int k = 0; k < 12; k++)
		l[k] = v[k] != NULL ? (int)strlen(v[k]) : 0;
	if (hk_dlbatch_add(hk_verdict.outcome_b, v, l, hk_verdict_committed,
	    j) != HK_OK)
		hk_verdict_committed(j, NULL);
}

void
hk_verdict_reschedule(struct hk_dl_job *j, uint64_t delay_us)
{
	const char *dname = hk_dispatch.conf->dests[j->dest].name;
	char us[24];
	const char *v[4] = { j->ev->id, dname, us, j->ev->received_at };
	int l[4];

	if (j->fresh) {		/* no row yet: written pending, due then */
		j->status = "pending";
		j->delay_us = delay_us;
		j->has_delay = 1;
		j->err[0] = '\0';
		hk_verdict_fresh_done(j);
		return;
	}

	snprintf(us, sizeof(us), "%llu", (unsigned long long)delay_us);
	for (int k = 0; k < 4; k++)
		l[k] = (int)strlen(v[k]);
	if (hk_dlstore_submit(hk_verdict_resched_sql, 4, v, l, NULL,
	    hk_verdict_committed, j) != HK_OK)
		hk_verdict_committed(j, NULL);
}

int
hk_verdict_init(void)
{
	Oid text[12], fresh[HK_VERDICT_FRESH_COLS];

	for (int k = 0; k < 12; k++)
		text[k] = HK_DLSTORE_OID_TEXT;
	for (int k = 0; k < HK_VERDICT_FRESH_COLS; k++)
		fresh[k] = k == 5 ? HK_DLSTORE_OID_BYTEA : HK_DLSTORE_OID_TEXT;
	/* The UPDATE joins the batch with deliveries: planned each time. */
	hk_verdict.outcome_b = hk_dlbatch_new(hk_verdict_outcome_sql, NULL,
	    12, text, HK_VERDICT_BATCH, 0);
	hk_verdict.fresh_b = hk_dlbatch_new(hk_verdict_fresh_sql,
	    hk_verdict_fresh_safe_sql, HK_VERDICT_FRESH_COLS, fresh,
	    HK_VERDICT_BATCH, 1);
	return hk_verdict.outcome_b != NULL && hk_verdict.fresh_b != NULL
	    ? HK_OK : HK_ERROR;
}

void
hk_verdict_shutdown(void)
{
	hk_dlbatch_free(hk_verdict.outcome_b);
	hk_dlbatch_free(hk_verdict.fresh_b);
	hk_verdict.outcome_b = hk_verdict.fresh_b = NULL;
}
