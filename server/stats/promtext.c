/*
 * promtext.c - the /metrics body of the admin port: the Prometheus text
 * format, or the same samples as JSON.
 *
 * /metrics is written straight from the stats process's aggregates, not
 * from the snapshot: Prometheus wants cumulative histogram buckets, which
 * the snapshot (percentile summaries only) does not carry.  Both come from
 * the same counters, so the counts agree.  One writer (struct
 * hk_promtext) produces either the text format or JSON, so the two cannot
 * drift apart.
 *
 * The slot fields read here (state, pid, heartbeat, restarts, generation)
 * are display values that the master and the slot owners store relaxed:
 * every load of them below is relaxed, pairs with nothing, and is used
 * for nothing but the number it shows.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "admin.h"
#include "clock.h"
#include "core.h"
#include "histogram.h"
#include "procstat.h"
#include "promtext.h"
#include "version.h"

/* A metrics writer: Prometheus text, or the same samples as JSON. */
struct hk_promtext {
	struct evbuffer *b;
	int      json;
	int      nfam;			/* families begun */
	int      nsamp;			/* samples in the current family */
};

/* hk_promtext_label - a label value, escaped for the text format. */
void
hk_promtext_label(struct evbuffer *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*v == '"')
			evbuffer_add(b, "\\\"", 2);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

/* hk_promtext_json_str - a JSON string literal, escaped. */
void
hk_promtext_json_str(struct evbuffer *b, const char *v)
{
	evbuffer_add(b, "\"", 1);
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, v, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
hk_promtext_end_family(struct hk_promtext *p)
{
	if (p->json && p->nfam > 0)
		evbuffer_add_printf(p->b, "]}");
}

static void
hk_promtext_family(struct hk_promtext *p, const char *name, const char *type,
    const char *help)
{
	hk_promtext_end_family(p);
	if (p->json) {
		evbuffer_add_printf(p->b, "%s{\"name\":\"%s\",\"type\":\"%s\","
		    "\"help\":", p->nfam ? "," : "", name, type);
		hk_promtext_json_str(p->b, help);
		evbuffer_add_printf(p->b, ",\"samples\":[");
	} else {
		evbuffer_add_printf(p->b, "# HELP %s %s\n# TYPE %s %s\n", name,
		    help, name, type);
	}
	p->nfam++;
	p->nsamp = 0;
}

/*
 * hk_promtext_sample - one sample; labels is { name, value, ..., NULL }, value
 * is already formatted (an integer, a float, "+Inf", "NaN").
 */
static void
hk_promtext_sample(struct hk_promtext *p, const char *name,
    const char *const *labels, const char *value)
{
	int i;

	if (p->json) {
		evbuffer_add_printf(p->b, "%s{\"name\":\"%s\",\"labels\":{",
		    p->nsamp ? "," : "", name);
		for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
			evbuffer_add_printf(p->b, "%s\"%s\":", i ? "," : "",
			    labels[i]);
			hk_promtext_json_str(p->b, labels[i + 1]);
		}
		/* JSON has no NaN or infinity: those travel as strings. */
		if (strcmp(value, "NaN") == 0 || strchr(value, 'I') != NULL)
			evbuffer_add_printf(p->b, "},\"value\":\"%s\"}", value);
		else
			evbuffer_add_printf(p->b, "},\"value\":%s}", value);
	} else {
		evbuffer_add_printf(p->b, "%s", name);
		for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
			evbuffer_add_printf(p->b, "%s%s=\"", i ? "," : "{",
			    labels[i]);
			hk_promtext_label(p->b, labels[i + 1]);
			evbuffer_add(p->b, "\"", 1);
		}
		evbuffer_add_printf(p->b, "%s %s\n", i ? "}" : "", value);
	}
	p->nsamp++;
}

static void
hk_promtext_u64(struct hk_promtext *p, const char *name,
    const char *const *labels, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	hk_promtext_sample(p, name, labels, buf);
}

static void
hk_promtext_f64(struct hk_promtext *p, const char *name,
    const char *const *labels, double v)
{
	char buf[64];

	/* 15 significant digits: a Unix time keeps its 10 µs, where 9 would
	 * round it to 10 s; 0.1 still prints as 0.1. */
	snprintf(buf, sizeof(buf), "%.15g", v);
	hk_promtext_sample(p, name, labels, buf);
}

/* hk_promtext_is - is group i of the scope kind (sources or destinations)? */
static int
hk_promtext_is(const struct hk_admin *a, unsigned i, int kind)
{
	int scope = hk_aggr_scope(a->aggr, i);

	if (kind == HK_REC_INGEST)
		return scope == HK_SNAP_SOURCE || scope == HK_SNAP_UNKNOWN;
	return scope == HK_SNAP_DEST;
}

static void
hk_promtext_histograms(const struct hk_admin *a, struct hk_promtext *p,
    int kind)
{
	const char *fam = kind == HK_REC_INGEST ? "hookd_ingest_stage_seconds"
	    : "hookd_delivery_stage_seconds";
	const char *key = kind == HK_REC_INGEST ? "source" : "destination";
	const struct hk_aggr_group *g;
	uint64_t cum[HK_HIST_PROM_BOUNDS];
	char name[96];
	unsigned i, s, j;

	hk_promtext_family(p, fam, "histogram", kind == HK_REC_INGEST
	    ? "Time spent in each stage of an ingest request."
	    : "Time spent in each stage of a delivery attempt.");
	for (i = 0; i < a->aggr->ngroups; i++) {
		if (!hk_promtext_is(a, i, kind)
		    || (g = hk_aggr_get(a->aggr, i)) == NULL)
			continue;
		for (s = 0; s < g->nstages; s++) {
			const struct hk_hist *h = &g->stage[s].all;
			const char *labels[] = { "stage",
			    hk_snapshot_stage_name(kind, s), key, g->name,
			    "le", NULL, NULL };

			if (hk_hist_count(h) == 0)
				continue;
			hk_hist_prom(h, cum);
			snprintf(name, sizeof(name), "%s_bucket", fam);
			for (j = 0; j < HK_HIST_PROM_BOUNDS; j++) {
				labels[5] = hk_hist_prom_le(j);
				hk_promtext_u64(p, name, labels, cum[j]);
			}
			labels[4] = NULL;
			snprintf(name, sizeof(name), "%s_sum", fam);
			hk_promtext_f64(p, name, labels,
			    (double)hk_hist_sum(h) / 1e6);
			snprintf(name, sizeof(name), "%s_count", fam);
			hk_promtext_u64(p, name, labels, hk_hist_count(h));
		}
	}
}

/* hk_promtext_by_status - a counter by group and exact status code. */
static void
hk_promtext_by_status(const struct hk_admin *a, struct hk_promtext *p, int kind,
    const char *fam, const char *help)
{
	const char *key = kind == HK_REC_INGEST ? "source" : "destination";
	const struct hk_aggr_group *g;
	char code[8];
	unsigned i, c;

	hk_promtext_family(p, fam, "counter", help);
	for (i = 0; i < a->aggr->ngroups; i++) {
		if (!hk_promtext_is(a, i, kind)
		    || (g = hk_aggr_get(a->aggr, i)) == NULL)
			continue;
		for (c = 0; c < HK_AGGR_CODES; c++) {
			const char *labels[] = { key, g->name, "status", code,
			    NULL };

			if (g->codes[c] == 0)
				continue;
			snprintf(code, sizeof(code), "%u", c);
			hk_promtext_u64(p, fam, labels, g->codes[c]);
		}
	}
}

/* hk_promtext_counter - one counter per configured group of a kind. */
static void
hk_promtext_counter(const struct hk_admin *a, struct hk_promtext *p, int kind,
    const char *fam, const char *help, unsigned ctr)
{
	const char *key = kind == HK_REC_INGEST ? "source" : "destination";
	const struct hk_aggr_group *g;
	unsigned i;

	hk_promtext_family(p, fam, "counter", help);
	for (i = 0; i < a->aggr->ngroups; i++) {
		const char *labels[] = { key, hk_aggr_name(a->aggr, i), NULL };

		if (!hk_promtext_is(a, i, kind))
			continue;
		g = hk_aggr_get(a->aggr, i);
		/* Unknown sources appear once there are some. */
		if (g == NULL && hk_aggr_scope(a->aggr, i) == HK_SNAP_UNKNOWN)
			continue;
		hk_promtext_u64(p, fam, labels, g ? g->ctr.total[ctr] : 0);
	}
}

/*
 * hk_promtext_proc_slot - the slot to report for each (role, index): the one
 * of the newest generation, a running one before a dead one.  During a
 * reload two generations share a (role, index); one series each is what
 * Prometheus accepts.
 */
static int
hk_promtext_proc_slot(const struct hk_admin *a, unsigned i)
{
	const struct hk_shm_slot *s = hk_segment_slot(a->seg, i), *o;
	uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);

	if (st == HK_SLOT_FREE)
		return 0;
	for (unsigned j = 0; j < HK_SHM_SLOTS; j++) {
		uint32_t ost;

		o = hk_segment_slot(a->seg, j);
		ost = atomic_load_explicit(&o->state, memory_order_relaxed);
		if (j == i || ost == HK_SLOT_FREE || o->role != s->role
		    || o->index != s->index)
			continue;
		if (o->generation > s->generation
		    || (o->generation == s->generation
		    && (st == HK_SLOT_DEAD) > (ost == HK_SLOT_DEAD))
		    || (o->generation == s->generation
		    && (st == HK_SLOT_DEAD) == (ost == HK_SLOT_DEAD) && j < i))
			return 0;
	}
	return 1;
}

/* hk_promtext_proc_alive - the slot's process runs (its state says so and
 * the pid exists). */
int
hk_promtext_proc_alive(const struct hk_shm_slot *s)
{
	uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
	int pid = atomic_load_explicit(&s->pid, memory_order_relaxed);

	if (st == HK_SLOT_FREE || st == HK_SLOT_DEAD || pid <= 0)
		return 0;
	return kill(pid, 0) == 0;
}

double
hk_promtext_beat_age(const struct hk_shm_slot *s, uint64_t now_ns)
{
	/* Relaxed: a display value (child.c stores it relaxed too). */
	uint64_t beat = atomic_load_explicit(&s->heartbeat_ns,
	    memory_order_relaxed);

	return now_ns > beat ? (double)(now_ns - beat) / 1e9 : 0.0;
}

static void
hk_promtext_processes(const struct hk_admin *a, struct hk_promtext *p)
{
	static const struct {
		const char *name, *type, *help;
	} fams[3] = {
		{ "hookd_process_up", "gauge",
		  "1 when the process of this role and index runs." },
		{ "hookd_process_heartbeat_age_seconds", "gauge",
		  "Time since the process last beat its heartbeat." },
		{ "hookd_process_restarts_total", "counter",
		  "Times the master respawned a process into this slot." },
	};
	uint64_t now_ns = hk_clock_mono_ns();
	char idx[16];
	unsigned f, i;

	for (f = 0; f < 3; f++) {
		hk_promtext_family(p, fams[f].name, fams[f].type, fams[f].help);
		for (i = 0; i < HK_SHM_SLOTS; i++) {
			const struct hk_shm_slot *s =
			    hk_segment_slot(a->seg, i);
			const char *labels[] = { "role",
			    hk_segment_role_name(s->role), "index", idx, NULL };

			if (!hk_promtext_proc_slot(a, i))
				continue;
			snprintf(idx, sizeof(idx), "%u", (unsigned)s->index);
			if (f == 0)
				hk_promtext_u64(p, fams[f].name, labels,
				    (uint64_t)hk_promtext_proc_alive(s));
			else if (f == 1)
				hk_promtext_f64(p, fams[f].name, labels,
				    hk_promtext_beat_age(s, now_ns));
			else
				hk_promtext_u64(p, fams[f].name, labels,
				    atomic_load_explicit(&s->restarts,
				    memory_order_relaxed));
		}
	}
}

/* hk_promtext_proc_figure - figure f of a process's /proc sample. */
static double
hk_promtext_proc_figure(const struct hk_procstat_proc *pr, unsigned f)
{
	switch (f) {
	case 0:  return pr->cpu_s;
	case 1:  return (double)pr->rss_bytes;
	case 2:  return (double)pr->fds;
	default: return pr->start_s;
	}
}

/* hk_promtext_proc_costs - what each process costs, from procstat.c. */
static void
hk_promtext_proc_costs(const struct hk_admin *a, struct hk_promtext *p)
{
	static const struct {
		const char *name, *type, *help;
	} fams[4] = {
		{ "hookd_process_cpu_seconds_total", "counter",
		  "User and system CPU time the process used." },
		{ "hookd_process_resident_memory_bytes", "gauge",
		  "Resident memory of the process." },
		{ "hookd_process_open_fds", "gauge",
		  "File descriptors the process holds open." },
		{ "hookd_process_start_time_seconds", "gauge",
		  "When the process started, in seconds since the Unix "
		  "epoch." },
	};
	const struct hk_procstat_proc *pr;
	char idx[16];
	unsigned f, i;

	for (f = 0; f < 4; f++) {
		hk_promtext_family(p, fams[f].name, fams[f].type, fams[f].help);
		for (i = 0; i < HK_SHM_SLOTS; i++) {
			const struct hk_shm_slot *s =
			    hk_segment_slot(a->seg, i);
			const char *labels[] = { "role",
			    hk_segment_role_name(s->role), "index", idx, NULL };

			if (!hk_promtext_proc_slot(a, i)
			    || (pr = hk_procstat_get(a->procstat, i)) == NULL
			    || (f == 2 && pr->fds < 0)
			    || (f == 3 && pr->start_s < 0))
				continue;
			snprintf(idx, sizeof(idx), "%u", (unsigned)s->index);
			hk_promtext_f64(p, fams[f].name, labels,
			    hk_promtext_proc_figure(pr, f));
		}
	}
}

uint64_t
hk_promtext_missed(const struct hk_admin *a)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < HK_SHM_SLOTS; i++)
		n += a->missed[i];
	return n;
}

/* hk_promtext_storage - PostgreSQL and what it stores (pgsampler.c). */
static void
hk_promtext_storage(const struct hk_admin *a, struct hk_promtext *p)
{
	const struct hk_pgsampler *ps = a->pgsampler;

	hk_promtext_family(p, "hookd_postgres_up", "gauge",
	    "1 when PostgreSQL answered the stats process's last sample.");
	hk_promtext_u64(p, "hookd_postgres_up", NULL, ps->up == 1);
	hk_promtext_family(p, "hookd_storage_bytes", "gauge",
	    "Bytes a table holds in PostgreSQL, partitions, indexes and TOAST "
	    "included; -1 when unknown.");
	for (int t = 0; t < HK_PGSAMPLER_TABLES; t++) {
		const char *labels[] = { "table", hk_pgsampler_tables[t],
		    NULL };

		hk_promtext_f64(p, "hookd_storage_bytes", labels,
		    (double)ps->bytes[t]);
	}
	hk_promtext_family(p, "hookd_storage_oldest_event_timestamp_seconds",
	    "gauge", "When the oldest event kept was received (0: none; -1: "
	    "unknown).");
	hk_promtext_f64(p, "hookd_storage_oldest_event_timestamp_seconds", NULL,
	    ps->oldest_s);
	hk_promtext_family(p, "hookd_storage_partitions_kept", "gauge",
	    "Day partitions past postgres.retention_days kept because "
	    "deliveries in them are still pending or retrying; -1 when "
	    "unknown.");
	hk_promtext_f64(p, "hookd_storage_partitions_kept", NULL,
	    (double)ps->kept_days);
	hk_promtext_family(p, "hookd_dlq_deliveries", "gauge",
	    "Deliveries given up (dead), as hookctl dlq lists them; -1 when "
	    "unknown.");
	hk_promtext_f64(p, "hookd_dlq_deliveries", NULL, (double)ps->dead);
	hk_promtext_family(p, "hookd_deliveries_overdue", "gauge",
	    "Deliveries pending or retrying, due for more than a minute (a "
	    "disabled destination's held ones left out); -1 when unknown.");
	hk_promtext_f64(p, "hookd_deliveries_overdue", NULL,
	    (double)ps->overdue);
	hk_promtext_family(p, "hookd_inbox_rows", "gauge",
	    "Events in the PostgreSQL inbox, waiting for Redis; -1 when "
	    "unknown.");
	hk_promtext_f64(p, "hookd_inbox_rows", NULL, (double)ps->inbox);
}

/*
 * hk_promtext_dests - per configured destination: breaker open (Redis,
 * sampler.c) and disabled (destination_state, pgsampler.c); -1 while
 * unknown.
 */
static void
hk_promtext_dests(const struct hk_admin *a, struct hk_promtext *p)
{
	int d;

	hk_promtext_family(p, "hookd_destination_breaker_open", "gauge",
	    "1 while a delivery worker holds the destination's circuit "
	    "breaker open, 0 when closed; -1 when unknown (Redis down).");
	for (d = 0; d < a->conf->ndests; d++) {
		const char *labels[] = { "destination", a->conf->dests[d].name,
		    NULL };

		hk_promtext_f64(p, "hookd_destination_breaker_open", labels,
		    (double)a->sampler->breaker[d]);
	}
	hk_promtext_family(p, "hookd_destination_disabled", "gauge",
	    "1 when the destination is disabled (after a 410 Gone, or by an "
	    "operator), 0 when not; -1 when unknown.");
	for (d = 0; d < a->conf->ndests; d++) {
		const char *labels[] = { "destination", a->conf->dests[d].name,
		    NULL };

		hk_promtext_f64(p, "hookd_destination_disabled", labels,
		    (double)a->pgsampler->disabled[d]);
	}
}

/* hk_promtext_build_info - the version and commit, as labels of a 1. */
static void
hk_promtext_build_info(struct hk_promtext *p)
{
	const char *labels[] = { "version", HK_VERSION, "commit",
	    hk_version_commit, NULL };

	hk_promtext_family(p, "hookd_build_info", "gauge",
	    "Always 1; the labels say which hookd this is.");
	hk_promtext_u64(p, "hookd_build_info", labels, 1);
}

/*
 * hk_promtext_routing - events by type (the label bounded by
 * metrics.max_event_types per source, the rest "other") and events that no
 * destination wanted.
 */
static void
hk_promtext_routing(const struct hk_admin *a, struct hk_promtext *p)
{
	const struct hk_typecount *t = a->types;
	const char *name;

	if (t == NULL)
		return;

	hk_promtext_family(p, "hookd_events_received_by_type_total", "counter",
	    "New events accepted, by source and event type; types beyond "
	    "metrics.max_event_types per source count as other.");
	for (unsigned i = 0; i < t->ntotal; i++) {
		name = a->conf->sources[t->types[i].source].name;
		hk_promtext_u64(p, "hookd_events_received_by_type_total",
		    (const char *const[]){ "source", name, "type",
		    t->types[i].name, NULL }, t->types[i].count);
	}
	for (unsigned s = 0; s < t->nsources; s++)
		if (t->other[s] > 0)
			hk_promtext_u64(p, "hookd_events_received_by_type_total",
			    (const char *const[]){ "source",
			    a->conf->sources[s].name, "type", "other", NULL },
			    t->other[s]);
	hk_promtext_family(p, "hookd_events_filtered_total", "counter",
	    "Events stored but wanted by none of their source's "
	    "destinations (types and filter).");
	for (unsigned s = 0; s < t->nsources; s++)
		hk_promtext_u64(p, "hookd_events_filtered_total",
		    (const char *const[]){ "source", a->conf->sources[s].name,
		    NULL }, t->filtered[s]);
}

/*
 * hk_promtext_redis_master - which Redis this host uses, how often it
 * followed a new master (Sentinel), and how many hosts' delivery workers
 * read the group: per host, what every host should agree on.
 */
static void
hk_promtext_redis_master(struct hk_promtext *p, const struct hk_sampler *rs)
{
	const char *labels[] = { "addr", rs->addr, NULL };

	hk_promtext_family(p, "hookd_redis_master_info", "gauge",
	    "The Redis master this host's stats process sampled last; 1.");
	if (rs->addr[0] != '\0')
		hk_promtext_u64(p, "hookd_redis_master_info", labels, 1);
	hk_promtext_family(p, "hookd_redis_failovers_total", "counter",
	    "New masters named by the sentinels and followed by the stats "
	    "process.");
	hk_promtext_u64(p, "hookd_redis_failovers_total", NULL,
	    hk_redisloc_switches());
	hk_promtext_family(p, "hookd_redis_consumer_hosts", "gauge",
	    "Hosts and instances (<host>/<instance>) with consumers in the "
	    "group delivery; -1 when unknown.");
	hk_promtext_f64(p, "hookd_redis_consumer_hosts", NULL,
	    (double)rs->consumer_hosts);
	hk_promtext_family(p, "hookd_redis_consumers", "gauge",
	    "Consumers in the group delivery; -1 when unknown.");
	hk_promtext_f64(p, "hookd_redis_consumers", NULL,
	    (double)rs->consumers);
}

void
hk_promtext_metrics(const struct hk_admin *a, struct evbuffer *b, int json)
{
	const struct hk_sampler *rs = a->sampler;
	struct hk_promtext pt = { b, json, 0, 0 }, *p = &pt;

	if (p->json)
		evbuffer_add_printf(p->b, "{\"metrics\":[");
	hk_promtext_build_info(p);
	hk_promtext_by_status(a, p, HK_REC_INGEST,
	    "hookd_ingest_requests_total",
	    "Ingest requests answered, by source and HTTP status.");
	hk_promtext_counter(a, p, HK_REC_INGEST, "hookd_ingest_errors_total",
	    "Ingest requests answered with 4xx or 5xx.", HK_AGGR_ERRORS);
	hk_promtext_counter(a, p, HK_REC_INGEST,
	    "hookd_ingest_duplicates_total",
	    "Ingest requests answered as duplicates.", HK_AGGR_DUPLICATES);
	hk_promtext_counter(a, p, HK_REC_INGEST, "hookd_ingest_fallback_total",
	    "Events stored in the PostgreSQL inbox while Redis was down.",
	    HK_AGGR_FALLBACK);
	hk_promtext_counter(a, p, HK_REC_INGEST, "hookd_ingest_bytes_total",
	    "Request body bytes received.", HK_AGGR_BYTES);
	hk_promtext_histograms(a, p, HK_REC_INGEST);
	hk_promtext_by_status(a, p, HK_REC_DELIVERY,
	    "hookd_delivery_attempts_total",
	    "Delivery attempts, by destination and HTTP status "
	    "(0: no answer).");
	hk_promtext_counter(a, p, HK_REC_DELIVERY,
	    "hookd_delivery_failures_total",
	    "Delivery attempts that failed.", HK_AGGR_ERRORS);
	hk_promtext_counter(a, p, HK_REC_DELIVERY, "hookd_delivery_dead_total",
	    "Deliveries given up after their last attempt.", HK_AGGR_DEAD);
	hk_promtext_histograms(a, p, HK_REC_DELIVERY);
	hk_promtext_routing(a, p);

	hk_promtext_family(p, "hookd_ring_missed_total", "counter",
	    "Timing records overwritten before the stats process read them.");
	hk_promtext_u64(p, "hookd_ring_missed_total", NULL,
	    hk_promtext_missed(a));
	hk_promtext_family(p, "hookd_ring_records_total", "counter",
	    "Timing records read from the rings.");
	hk_promtext_u64(p, "hookd_ring_records_total", NULL, a->aggr->records);
	hk_promtext_family(p, "hookd_redis_up", "gauge",
	    "1 when Redis answered the last sample, 0 when not.");
	hk_promtext_u64(p, "hookd_redis_up", NULL, rs->up == 1);
	hk_promtext_family(p, "hookd_stream_length", "gauge",
	    "Entries in the Redis stream (XLEN); -1 when unknown.");
	hk_promtext_f64(p, "hookd_stream_length", NULL, (double)rs->length);
	hk_promtext_family(p, "hookd_stream_pending", "gauge",
	    "Entries delivered to the group but not acknowledged; -1 when "
	    "unknown.");
	hk_promtext_f64(p, "hookd_stream_pending", NULL, (double)rs->pending);
	hk_promtext_family(p, "hookd_stream_oldest_pending_age_seconds",
	    "gauge", "Age of the oldest entry delivered to the group but not "
	    "acknowledged (0: none pending; -1: unknown).");
	hk_promtext_f64(p, "hookd_stream_oldest_pending_age_seconds", NULL,
	    rs->oldest_age_s);
	hk_promtext_redis_master(p, rs);
	hk_promtext_storage(a, p);
	hk_promtext_dests(a, p);
	hk_promtext_processes(a, p);
	hk_promtext_proc_costs(a, p);
	hk_promtext_family(p, "hookd_stats_uptime_seconds", "gauge",
	    "Time since the statistics started or were reset.");
	hk_promtext_f64(p, "hookd_stats_uptime_seconds", NULL,
	    (double)(hk_clock_real_us() - a->aggr->started_us) / 1e6);
	hk_promtext_end_family(p);
	if (p->json)
		evbuffer_add_printf(p->b, "]}\n");
}
