/*
 * dashdata.h - the figures of the dashboard (GET /dashboard/data), as one
 * JSON object built from what the stats process already holds:
 *
 *   "stats"      the snapshot, exactly as GET /stats answers it
 *   "processes"  the slots, as GET /health/detailed lists them, with
 *                their CPU, memory and descriptors (procstat.h)
 *   "redis"      the queue sample (sampler.h)
 *   "postgres"   the storage sample (pgsampler.h)
 *   "destination_state"  per destination: breaker open, disabled
 *   "history"    one point per complete second after ?since=SEC (at most
 *                the last HK_WINDOW_SECONDS), for ingest and delivery:
 *                counts and, per stage, p50/p90/p99 in ms
 *   "sec"        the last complete second, to pass as since next time
 *
 * The points come from the per-second histograms of the sliding windows
 * (window.h), so the page can draw the last minute as soon as it opens,
 * and asking for the newest second only keeps each refresh to a few
 * histogram merges.  Nothing here touches the rings or the workers.
 */
#ifndef HK_DASHDATA_H
#define HK_DASHDATA_H

struct evbuffer;
struct hk_admin;

/* Append the object to b: 200, or 503 with an error body when the stats
 * process has published no snapshot yet. */
int hk_dashdata_json(const struct hk_admin *a, const char *query,
    struct evbuffer *b);

#endif /* HK_DASHDATA_H */
