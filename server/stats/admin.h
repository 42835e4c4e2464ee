/*
 * admin.h - the admin HTTP port, served by the stats process on the same
 * connection layer as the ingest port (httpconn.c), with its limits and
 * total deadlines.
 *
 *   GET  /metrics            Prometheus text format 0.0.4
 *   GET  /metrics?format=json  the same samples as JSON
 *   GET  /stats              the live snapshot as JSON (= hookctl stats --json)
 *   GET  /health             {"status":"ok"}
 *   GET  /health/detailed    processes, heartbeats, Redis, ring misses
 *   POST /stats/reset        forget all statistics; needs the admin token
 *   GET  /, /dashboard       the live dashboard page (dashboard.h); its
 *                            figures need the token when one is set
 *   GET  /destinations, POST /destinations/{name}/disable|enable,
 *   POST /replay             the destination controls (adminctl.c); all
 *                            need the admin token
 *
 * Anything that changes state needs "Authorization: Bearer <admin.token>":
 * 401 without it or with a wrong one, 403 when admin.token is empty (such
 * requests are then disabled, not open).
 */
#ifndef HK_ADMIN_H
#define HK_ADMIN_H

#include <stdint.h>

#include "aggr.h"
#include "config.h"
#include "httpconn.h"
#include "pgsampler.h"
#include "procstat.h"
#include "sampler.h"
#include "segment.h"
#include "snapshot.h"
#include "typecount.h"

struct event_base;

/* What the stats process lends the admin port; it owns all of it. */
struct hk_admin {
	const struct hk_conf *conf;
	struct hk_segment    *seg;
	struct hk_aggr       *aggr;
	const struct hk_typecount *types;	/* routing counters */
	struct hk_sampler    *sampler;
	struct hk_pgsampler  *pgsampler;
	struct hk_procstat   *procstat;
	const struct hk_snapshot *snap;	/* the last one published */
	const uint64_t       *missed;	/* per slot, since start or reset */
	void                (*reset)(void);

	struct hk_httpconn_server srv;
};

int  hk_admin_init(struct hk_admin *a, struct event_base *base, int fd);
void hk_admin_free(struct hk_admin *a);

#endif /* HK_ADMIN_H */
