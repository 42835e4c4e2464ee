/*
 * dashboard.h - the live dashboard on the admin port: a page that draws
 * what the stats process already knows and asks for it again every second.
 *
 *   GET /, /dashboard                  the page (dashboard.html)
 *   GET /dashboard/dashboard.js        its script, .../dashboard.css its style
 *   GET /dashboard/chart.js            Chart.js, read from Debian's
 *                                      libjs-chart.js at each request
 *   GET /dashboard/data[?since=SEC]    the figures as JSON (dashdata.h)
 *
 * The page, script and style are files of this folder that the build turns
 * into hk_dashboard_files (scripts/embed-dashboard.sh), so the binary needs no
 * files beside it; Chart.js is the one file read at run time, from the
 * package, so that Debian's updates of it apply without a rebuild.
 *
 * This header includes nothing: the generated table includes it too, and is
 * built without the stats process's include paths.
 */
#ifndef HK_DASHBOARD_H
#define HK_DASHBOARD_H

#include <stddef.h>

/* What hk_dashboard_route says of a path. */
#define HK_DASHBOARD_NONE  0
#define HK_DASHBOARD_FILE  1	/* the page and what it loads: public */
#define HK_DASHBOARD_DATA  2	/* the figures: the admin token, if set */

/* Where Debian's libjs-chart.js installs Chart.js, minified first. */
#define HK_DASHBOARD_CHARTJS_DIR "/usr/share/javascript/chart.js/"

struct evbuffer;
struct hk_admin;
struct hk_httpconn;

/* A file of the page, embedded at build time; the table ends with a NULL
 * path. */
struct hk_dashboard_file {
	const char *path;
	const char *type;
	const char *body;
	size_t      len;
};

extern const struct hk_dashboard_file hk_dashboard_files[];

int  hk_dashboard_route(const char *path);
/* Answer a GET or HEAD of a path hk_dashboard_route knows; b is scratch. */
void hk_dashboard_get(const struct hk_admin *a, struct hk_httpconn *c,
    struct evbuffer *b, const char *path, const char *query);

#endif /* HK_DASHBOARD_H */
