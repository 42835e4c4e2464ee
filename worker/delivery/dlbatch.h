/*
 * dlbatch.h - one statement for many rows: the delivery worker's hot
 * inserts and updates, sent to PostgreSQL as arrays.
 *
 * A batcher collects rows of one statement whose every parameter is a
 * one-dimensional array (column k of every row becomes element i of
 * parameter k; the SQL unnests them).  Rows wait until dlstore.c builds its
 * next pipeline, so a batch is whatever arrived while the previous one was
 * in flight, up to a row count or 8 MiB of parameters.  PostgreSQL then
 * pays for statement setup, executor start and end and one protocol
 * message once a batch instead of once a row.  A batch statement that
 * joins its arrays with a table is planned each time, for the rows it
 * carries; one that only inserts them keeps its plan (keep_plan, see
 * hk_dlstore_keep_plan).
 *
 * Every row's callback runs once, with the whole statement's result (a
 * row finds its own RETURNING rows in it) or NULL.  A batch that failed
 * HK_DLSTORE_TRIES times is sent again row by row, so that one row
 * PostgreSQL refuses costs only that row.
 */
#ifndef HK_DLBATCH_H
#define HK_DLBATCH_H

#include <stddef.h>

#include "dlstore.h"

#define HK_DLBATCH_COLS  18

struct hk_dlbatch;

/*
 * sql takes parameter k as an array of elem[k] (HK_DLSTORE_OID_TEXT or
 * HK_DLSTORE_OID_BYTEA); at most HK_DLBATCH_COLS columns.  alt: NULL, or
 * sql with ON CONFLICT, sql being an optimistic insert without it (see
 * hk_dlstore_submit_alt).
 */
struct hk_dlbatch *hk_dlbatch_new(const char *sql, const char *alt,
    int ncols, const Oid *elem, int maxrows, int keep_plan);
/* One row: ncols values (NULL is SQL NULL), copied. */
int  hk_dlbatch_add(struct hk_dlbatch *b, const char *const *vals,
    const int *lens, hk_dlstore_cb cb, void *arg);
void hk_dlbatch_free(struct hk_dlbatch *b);

/*
 * The binary form of a one-dimensional array (PostgreSQL's array_recv):
 * its 20-byte header written into buf, for n elements of type elem that
 * follow it, each as a 4-byte big-endian length (-1: NULL) and its bytes.
 */
#define HK_DLBATCH_HEAD  20
void hk_dlbatch_head(unsigned char *buf, Oid elem, int n, int hasnull);

#endif
