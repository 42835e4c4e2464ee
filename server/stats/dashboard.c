/*
 * dashboard.c - the dashboard's paths on the admin port (dashboard.h).
 *
 * The admin port has answered only JSON and text so far; this is its one
 * HTML page, so its answers carry what a browser needs to keep a page with
 * a token in it to itself: a content security policy that runs only the
 * scripts of this port and lets them talk only to it, no framing, no type
 * sniffing, no referrer.  The page takes the token from a form, keeps it in
 * sessionStorage and sends it in the Authorization header: never in a URL,
 * which would land in logs and history.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "admin.h"
#include "core.h"
#include "dashboard.h"
#include "dashdata.h"
#include "httpconn.h"
#include "log.h"

#define HK_DASHBOARD_CHARTJS_MAX (8 * 1024 * 1024)

/* Headers of every dashboard answer.  hk_httpconn_respond_type writes them
 * as they are, so each line ends with CRLF. */
static const char hk_dashboard_headers[] =
    "Cache-Control: no-store\r\n"
    "Content-Security-Policy: default-src 'none'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n";

static const char *const hk_dashboard_chartjs[] = {
	HK_DASHBOARD_CHARTJS_DIR "chart.min.js",
	HK_DASHBOARD_CHARTJS_DIR "chart.js",
};

/* hk_dashboard_file - the embedded file served at path, or NULL. */
static const struct hk_dashboard_file *
hk_dashboard_file(const char *path)
{
	const struct hk_dashboard_file *f;

	if (strcmp(path, "/") == 0)
		path = "/dashboard";
	for (f = hk_dashboard_files; f->path != NULL; f++)
		if (strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

int
hk_dashboard_route(const char *path)
{
	if (strcmp(path, "/dashboard/data") == 0)
		return HK_DASHBOARD_DATA;
	if (strcmp(path, "/dashboard/chart.js") == 0
	    || hk_dashboard_file(path) != NULL)
		return HK_DASHBOARD_FILE;
	return HK_DASHBOARD_NONE;
}

/* hk_dashboard_read - read a whole regular file into b; 0 or an errno. */
static int
hk_dashboard_read(const char *file, struct evbuffer *b)
{
	struct stat st;
	int fd, n = 0, err = 0;
	size_t got = 0;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
		return errno;
	if (fstat(fd, &st) == -1)
		err = errno;
	else if (!S_ISREG(st.st_mode) || st.st_size > HK_DASHBOARD_CHARTJS_MAX)
		err = EFBIG;
	else {
		/* evbuffer_read takes a few KiB at a time. */
		while (got < (size_t)st.st_size && (n = evbuffer_read(b, fd,
		    (int)((size_t)st.st_size - got))) > 0)
			got += (size_t)n;
		if (got != (size_t)st.st_size)
			err = n < 0 ? errno : EIO;
	}
	close(fd);
	if (err != 0)
		evbuffer_drain(b, evbuffer_get_length(b));
	return err;
}

/*
 * hk_dashboard_get_chartjs - Chart.js from the package.  Read at each
 * request, a few hundred KiB from the page cache when someone opens the
 * page: no copy to keep, and an upgraded package is served at once.
 */
static void
hk_dashboard_get_chartjs(struct hk_httpconn *c, struct evbuffer *b)
{
	static int warned;	/* once: a page reload is no news */
	const char *body;
	size_t i;
	int err = ENOENT;

	for (i = 0; i < HK_NELEM(hk_dashboard_chartjs); i++)
		if ((err = hk_dashboard_read(hk_dashboard_chartjs[i], b)) == 0)
			break;
	if (err != 0) {
		if (!warned)
			hk_log_warn("admin: cannot serve Chart.js from %s: "
			    "%s; the dashboard shows its tables without "
			    "charts (Debian package libjs-chart.js)",
			    hk_dashboard_chartjs[0], strerror(err));
		warned = 1;
		hk_httpconn_error(c, 404, "not_found", "Chart.js is not "
		    "installed: the charts need Debian's libjs-chart.js",
		    hk_dashboard_headers);
		return;
	}
	if ((body = (const char *)evbuffer_pullup(b, -1)) == NULL) {
		hk_httpconn_error(c, 500, "internal", "out of memory", NULL);
		return;
	}
	hk_httpconn_respond_type(c, 200, "text/javascript; charset=utf-8",
	    hk_dashboard_headers, body, evbuffer_get_length(b));
}

void
hk_dashboard_get(const struct hk_admin *a, struct hk_httpconn *c,
    struct evbuffer *b, const char *path, const char *query)
{
	const struct hk_dashboard_file *f;
	const char *body;
	int status;

	if (strcmp(path, "/dashboard/chart.js") == 0) {
		hk_dashboard_get_chartjs(c, b);
		return;
	}
	if ((f = hk_dashboard_file(path)) != NULL) {
		hk_httpconn_respond_type(c, 200, f->type, hk_dashboard_headers,
		    f->body, f->len);
		return;
	}
	status = hk_dashdata_json(a, query, b);
	if ((body = (const char *)evbuffer_pullup(b, -1)) == NULL) {
		hk_httpconn_error(c, 500, "internal", "out of memory", NULL);
		return;
	}
	hk_httpconn_respond_type(c, status, "application/json",
	    hk_dashboard_headers, body, evbuffer_get_length(b));
}
