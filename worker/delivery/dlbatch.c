/*
 * dlbatch.c - rows collected into array parameters (see dlbatch.h).
 *
 * A batch in the making is a flight: one growing buffer per column, each
 * holding the array's header space and then its elements in the binary
 * form PostgreSQL reads (array_recv), so that sending is writing the
 * headers and nothing is formatted or escaped.  The flight keeps its
 * buffers until the result is in, which is what the split after a failure
 * reads its rows back from.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "dlbatch.h"
#include "log.h"

/* A batch is sent once its parameters reach this size, whatever its row
 * count: large bodies make few rows a statement. */
#define HK_DLBATCH_BYTES         (8u << 20)
#define HK_DLBATCH_OID_TEXTARR   1009
#define HK_DLBATCH_OID_BYTEAARR  1001

struct hk_dlbatch_col {
	unsigned char *buf;	/* HK_DLBATCH_HEAD bytes, then elements */
	size_t         len, cap;
	int            hasnull;
};

struct hk_dlbatch_row {
	hk_dlstore_cb  cb;
	void          *arg;
};

struct hk_dlbatch_flight {
	struct hk_dlbatch     *b;
	int                    nrows, maxrows;
	size_t                 bytes;
	struct hk_dlbatch_col  col[HK_DLBATCH_COLS];
	struct hk_dlbatch_row  row[];
};

struct hk_dlbatch {
	const char               *sql;
	const char               *alt;	/* sql with ON CONFLICT, or NULL */
	int                       ncols, maxrows;
	Oid                       elem[HK_DLBATCH_COLS];
	struct hk_dlbatch_flight *cur;	/* rows waiting; NULL: none */
};

static void hk_dlbatch_done(void *arg, const PGresult *res);

void
hk_dlbatch_head(unsigned char *buf, Oid elem, int n, int hasnull)
{
	uint32_t h[5] = { htonl(1), htonl(hasnull ? 1 : 0), htonl(elem),
	    htonl((uint32_t)n), htonl(1) };

	memcpy(buf, h, sizeof(h));
}

static struct hk_dlbatch_flight *
hk_dlbatch_flight_new(struct hk_dlbatch *b, int maxrows)
{
	struct hk_dlbatch_flight *f;

	f = calloc(1, sizeof(*f) + (size_t)maxrows * sizeof(f->row[0]));
	if (f == NULL)
		return NULL;
	f->b = b;
	f->maxrows = maxrows;
	for (int k = 0; k < b->ncols; k++)
		f->col[k].len = HK_DLBATCH_HEAD;
	return f;
}

static void
hk_dlbatch_flight_free(struct hk_dlbatch_flight *f)
{
	for (int k = 0; k < HK_DLBATCH_COLS; k++)
		free(f->col[k].buf);
	free(f);
}

/* hk_dlbatch_put - one element onto the end of column c. */
static int
hk_dlbatch_put(struct hk_dlbatch_col *c, const char *v, int len)
{
	size_t need = c->len + 4 + (v != NULL ? (size_t)len : 0), cap;
	uint32_t n = htonl(v != NULL ? (uint32_t)len : UINT32_MAX);
	unsigned char *p;

	if (need > c->cap) {
		cap = HK_MAX(need, HK_MAX(c->cap * 2, (size_t)4096));
		if ((p = realloc(c->buf, cap)) == NULL)
			return HK_ERROR;
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, &n, 4);
	if (v != NULL)
		memcpy(c->buf + c->len + 4, v, (size_t)len);
	else
		c->hasnull = 1;
	c->len = need;
	return HK_OK;
}

static int
hk_dlbatch_append(struct hk_dlbatch_flight *f, const char *const *vals,
    const int *lens, hk_dlstore_cb cb, void *arg)
{
	size_t was[HK_DLBATCH_COLS];
	int k;

	for (k = 0; k < f->b->ncols; k++) {
		was[k] = f->col[k].len;
		if (hk_dlbatch_put(&f->col[k], vals[k], lens[k]) != HK_OK)
			break;
	}
	if (k < f->b->ncols) {
		while (k-- > 0)		/* no half rows */
			f->col[k].len = was[k];
		return HK_ERROR;
	}
	for (k = 0; k < f->b->ncols; k++)
		f->bytes += f->col[k].len - was[k];
	f->row[f->nrows].cb = cb;
	f->row[f->nrows].arg = arg;
	f->nrows++;
	return HK_OK;
}

/* hk_dlbatch_send - the flight as one statement; its rows' callbacks run
 * when it is committed or given up. */
static void
hk_dlbatch_send(struct hk_dlbatch_flight *f)
{
	const struct hk_dlbatch *b = f->b;
	const char *v[HK_DLBATCH_COLS];
	int l[HK_DLBATCH_COLS];
	Oid t[HK_DLBATCH_COLS];

	for (int k = 0; k < b->ncols; k++) {
		hk_dlbatch_head(f->col[k].buf, b->elem[k], f->nrows,
		    f->col[k].hasnull);
		v[k] = (const char *)f->col[k].buf;
		l[k] = (int)f->col[k].len;
		t[k] = b->elem[k] == HK_DLSTORE_OID_BYTEA
		    ? HK_DLBATCH_OID_BYTEAARR : HK_DLBATCH_OID_TEXTARR;
	}
	if (hk_dlstore_submit_alt(b->sql, b->alt, b->ncols, v, l, t,
	    hk_dlbatch_done, f) == HK_OK)
		return;
	hk_log_error("delivery: out of memory queueing %d rows for "
	    "PostgreSQL", f->nrows);
	for (int i = 0; i < f->nrows; i++)
		f->row[i].cb(f->row[i].arg, NULL);
	hk_dlbatch_flight_free(f);
}

/* hk_dlbatch_flush - dlstore.c builds a pipeline: the rows go with it. */
static void
hk_dlbatch_flush(void *arg)
{
	struct hk_dlbatch *b = arg;
	struct hk_dlbatch_flight *f = b->cur;

	if (f == NULL)
		return;
	b->cur = NULL;
	hk_dlstore_rows(-f->nrows);
	hk_dlbatch_send(f);
}

/* hk_dlbatch_split - a failed batch again, one statement a row. */
static void
hk_dlbatch_split(struct hk_dlbatch_flight *f)
{
	struct hk_dlbatch *b = f->b;
	struct hk_dlbatch_flight *one;
	const char *v[HK_DLBATCH_COLS];
	size_t at[HK_DLBATCH_COLS];
	int l[HK_DLBATCH_COLS];
	uint32_t n;

	hk_log_warn("postgres: a batch of %d rows failed; sending them one "
	    "by one", f->nrows);
	for (int k = 0; k < b->ncols; k++)
		at[k] = HK_DLBATCH_HEAD;
	for (int i = 0; i < f->nrows; i++) {
		for (int k = 0; k < b->ncols; k++) {
			memcpy(&n, f->col[k].buf + at[k], 4);
			n = ntohl(n);
			at[k] += 4;
			v[k] = n == UINT32_MAX ? NULL
			    : (const char *)f->col[k].buf + at[k];
			l[k] = n == UINT32_MAX ? 0 : (int)n;
			at[k] += (size_t)l[k];
		}
		one = hk_dlbatch_flight_new(b, 1);
		if (one == NULL || hk_dlbatch_append(one, v, l, f->row[i].cb,
		    f->row[i].arg) != HK_OK) {
			if (one != NULL)
				hk_dlbatch_flight_free(one);
			f->row[i].cb(f->row[i].arg, NULL);
			continue;
		}
		hk_dlbatch_send(one);
	}
	hk_dlbatch_flight_free(f);
}

static void
hk_dlbatch_done(void *arg, const PGresult *res)
{
	struct hk_dlbatch_flight *f = arg;

	if (res == NULL && f->nrows > 1) {
		hk_dlbatch_split(f);
		return;
	}
	for (int i = 0; i < f->nrows; i++)
		f->row[i].cb(f->row[i].arg, res);
	hk_dlbatch_flight_free(f);
}

int
hk_dlbatch_add(struct hk_dlbatch *b, const char *const *vals,
    const int *lens, hk_dlstore_cb cb, void *arg)
{
	if (b->cur == NULL
	    && (b->cur = hk_dlbatch_flight_new(b, b->maxrows)) == NULL)
		return HK_ERROR;
	if (hk_dlbatch_append(b->cur, vals, lens, cb, arg) != HK_OK)
		return HK_ERROR;
	hk_dlstore_rows(1);
	if (b->cur->nrows == b->maxrows || b->cur->bytes >= HK_DLBATCH_BYTES)
		hk_dlbatch_flush(b);
	return HK_OK;
}

struct hk_dlbatch *
hk_dlbatch_new(const char *sql, const char *alt, int ncols, const Oid *elem,
    int maxrows, int keep_plan)
{
	struct hk_dlbatch *b;

	if (ncols < 1 || ncols > HK_DLBATCH_COLS || maxrows < 1)
		return NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->sql = sql;
	b->alt = alt;
	b->ncols = ncols;
	b->maxrows = maxrows;
	memcpy(b->elem, elem, (size_t)ncols * sizeof(Oid));
	if ((keep_plan && (hk_dlstore_keep_plan(sql) != HK_OK
	    || (alt != NULL && hk_dlstore_keep_plan(alt) != HK_OK)))
	    || hk_dlstore_batcher(hk_dlbatch_flush, b, 1) != HK_OK) {
		free(b);
		return NULL;
	}
	return b;
}

/* hk_dlbatch_free - rows still waiting are dropped uncalled, as dlstore.c
 * drops its queue at shutdown. */
void
hk_dlbatch_free(struct hk_dlbatch *b)
{
	if (b == NULL)
		return;
	hk_dlstore_batcher(hk_dlbatch_flush, b, 0);
	if (b->cur != NULL) {
		hk_dlstore_rows(-b->cur->nrows);
		hk_dlbatch_flight_free(b->cur);
	}
	free(b);
}
