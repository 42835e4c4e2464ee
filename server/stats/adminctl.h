/*
 * adminctl.h - the destination controls on the admin port (the same
 * operations as hookctl destinations, disable, enable and replay --since,
 * with the statements of common/control.h):
 *
 *   GET  /destinations                 every destination and its state
 *   POST /destinations/{name}/disable  body {"reason": "..."}, optional
 *   POST /destinations/{name}/enable
 *   POST /replay                       body {"since": ..., "until": ...,
 *                                      "destination", "status", "source",
 *                                      "type", "dry_run": true|false}
 *
 * admin.c checks the bearer token first (all four need it) and hands the
 * request over.  PostgreSQL is reached on a nonblocking connection of its
 * own (common/pgconn.c), one request at a time in arrival order, so the
 * stats process's loop never waits for it; the breakers are read from
 * Redis on the sampler's connection.
 */
#ifndef HK_ADMINCTL_H
#define HK_ADMINCTL_H

#include "admin.h"
#include "httpconn.h"

/* Is path one of the control paths above? */
int  hk_adminctl_path(const char *path);
/* Answer the authorized request c for path, now or when PostgreSQL has. */
void hk_adminctl_request(struct hk_admin *a, struct hk_httpconn *c,
    const char *path);
/* Drop the queue unanswered and close the connection (the stats process
 * is leaving; its connections are closed next). */
void hk_adminctl_free(void);

#endif /* HK_ADMINCTL_H */
