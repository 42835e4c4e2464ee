/*
 * redolog.c - events kept to be put back into an emptied Redis (see
 * redolog.h).
 *
 * One allocation per event holds the copy; entries are in the order they
 * were stored, so expiry only ever looks at the head.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "redolog.h"

static struct {
	TAILQ_HEAD(, hk_redolog_entry) q;
	int       inited;
	int       n;
	size_t    bytes;
	int       full_logged;
} hk_redolog;

static void
hk_redolog_expire(uint64_t now_ns, size_t room)
{
	struct hk_redolog_entry *e;
	uint64_t keep = (uint64_t)HK_REDOLOG_KEEP_MS * 1000000u;
	int fresh;

	while ((e = TAILQ_FIRST(&hk_redolog.q)) != NULL) {
		fresh = now_ns - e->kept_ns < keep;
		if (fresh && hk_redolog.bytes + room <= HK_REDOLOG_MAX_BYTES)
			break;
		if (fresh && !hk_redolog.full_logged) {
			hk_log_warn("redo log: %u MB reached; events stored "
			    "less than %d ms ago are no longer all kept",
			    HK_REDOLOG_MAX_BYTES >> 20, HK_REDOLOG_KEEP_MS);
			hk_redolog.full_logged = 1;
		}
		hk_redolog_free(hk_redolog_take());
	}
}

/* hk_redolog_copy - put s[0..n) at *p, NUL-terminated; return the copy. */
static const char *
hk_redolog_copy(char **p, const char *s, size_t n)
{
	char *d = *p;

	if (n > 0)
		memcpy(d, s, n);
	d[n] = '\0';
	*p += n + 1;
	return d;
}

void
hk_redolog_add(const struct hk_enqueue_event *ev, uint64_t now_ns)
{
	struct hk_redolog_entry *e;
	size_t size;
	char *p;

	if (!hk_redolog.inited) {
		TAILQ_INIT(&hk_redolog.q);
		hk_redolog.inited = 1;
	}
	size = sizeof(*e) + ev->idem_len + ev->content_type_len
	    + ev->headers_len + ev->body_len + 4;
	hk_redolog_expire(now_ns, size);
	if (size > HK_REDOLOG_MAX_BYTES || (e = malloc(size)) == NULL)
		return;
	e->kept_ns = now_ns;
	e->size = size;
	e->ev = *ev;
	p = e->data;
	e->ev.idem_key = ev->idem_key ? hk_redolog_copy(&p, ev->idem_key,
	    ev->idem_len) : NULL;
	e->ev.content_type = hk_redolog_copy(&p, ev->content_type ?
	    ev->content_type : "", ev->content_type ? ev->content_type_len : 0);
	e->ev.headers_json = hk_redolog_copy(&p, ev->headers_json ?
	    ev->headers_json : "", ev->headers_json ? ev->headers_len : 0);
	e->ev.body = hk_redolog_copy(&p, ev->body ? ev->body : "",
	    ev->body_len);
	TAILQ_INSERT_TAIL(&hk_redolog.q, e, link);
	hk_redolog.n++;
	hk_redolog.bytes += size;
	if (hk_redolog.full_logged && hk_redolog.bytes < HK_REDOLOG_MAX_BYTES / 2)
		hk_redolog.full_logged = 0;
}

struct hk_redolog_entry *
hk_redolog_take(void)
{
	struct hk_redolog_entry *e;

	if (!hk_redolog.inited || (e = TAILQ_FIRST(&hk_redolog.q)) == NULL)
		return NULL;
	TAILQ_REMOVE(&hk_redolog.q, e, link);
	hk_redolog.n--;
	hk_redolog.bytes -= e->size;
	return e;
}

void
hk_redolog_free(struct hk_redolog_entry *e)
{
	free(e);
}

int
hk_redolog_count(void)
{
	return hk_redolog.n;
}

void
hk_redolog_clear(void)
{
	struct hk_redolog_entry *e;

	while ((e = hk_redolog_take()) != NULL)
		hk_redolog_free(e);
}
