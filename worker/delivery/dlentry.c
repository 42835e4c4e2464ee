/*
 * dlentry.c - a stream entry as ingest wrote it (id, source, received_at,
 * content_type, headers, body, idempotency_key, event_type), decoded into
 * the event the dispatcher delivers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "core.h"
#include "dispatch.h"
#include "dlentry.h"
#include "evfield.h"
#include "jsonscan.h"
#include "traceparent.h"
#include "uuid.h"

/* hk_dlentry_field - the value of field name in [field, value, ...]. */
const redisReply *
hk_dlentry_field(const redisReply *f, const char *name)
{
	for (size_t i = 0; i + 1 < f->elements; i += 2)
		if (f->element[i]->type == REDIS_REPLY_STRING
		    && strcmp(f->element[i]->str, name) == 0
		    && f->element[i + 1]->type == REDIS_REPLY_STRING)
			return f->element[i + 1];
	return NULL;
}

/* hk_dlentry_num - n digits at s into *v; 0 when one is not a digit. */
static int
hk_dlentry_num(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

/*
 * hk_dlentry_time_us - "2026-11-22T10:00:00.123456Z" (ingest's form, the
 * fraction 0 to 6 digits) in microseconds; 0 when s is not that.
 */
static uint64_t
hk_dlentry_time_us(const char *s)
{
	struct tm tm;
	uint64_t us = 0;
	size_t i;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < 19 || !hk_dlentry_num(s, 4, &tm.tm_year) || s[4] != '-'
	    || !hk_dlentry_num(s + 5, 2, &tm.tm_mon) || s[7] != '-'
	    || !hk_dlentry_num(s + 8, 2, &tm.tm_mday) || s[10] != 'T'
	    || !hk_dlentry_num(s + 11, 2, &tm.tm_hour) || s[13] != ':'
	    || !hk_dlentry_num(s + 14, 2, &tm.tm_min) || s[16] != ':'
	    || !hk_dlentry_num(s + 17, 2, &tm.tm_sec))
		return 0;
	/* ".5" is 500000 us: the digits, padded to six. */
	s += 19;
	if (*s == '.')
		s++;
	for (i = 0; i < 6; i++)
		us = us * 10 + (uint64_t)(s[0] >= '0' && s[0] <= '9'
		    ? *s++ - '0' : 0);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (uint64_t)timegm(&tm) * 1000000u + us;
}

/*
 * hk_dlentry_headers - is s a JSON object PostgreSQL takes as jsonb (the
 * headers field: no \u0000)?  And its traceparent into tp when it has a
 * valid one, else "".  One scan and one walk, no tree: this runs for
 * every event.
 */
static int
hk_dlentry_headers(const char *s, size_t len, char *tp, size_t tplen)
{
	static struct hk_evfield field;
	size_t off, i = 0;
	const char *why;

	tp[0] = '\0';
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'
	    || s[i] == '\r'))
		i++;
	if (i == len || s[i] != '{' || hk_jsonscan(s, len, &off, &why)
	    != HK_OK || memmem(s, len, "\\u0000", 6) != NULL)
		return 0;
	if (field.kind == HK_EVFIELD_NONE
	    && hk_evfield_compile("header:traceparent", &field) != HK_OK)
		return 1;
	if (hk_evfield_json(s, len, &field, tp, tplen) != HK_OK
	    || !hk_traceparent_valid(tp, strlen(tp)))
		tp[0] = '\0';
	return 1;
}

/*
 * hk_dlentry_decode - the event in the fields f of stream entry id (the
 * caller made sure id fits ev->entry): HK_OK and *evp (one reference);
 * HK_ERROR when the entry is malformed, HK_AGAIN when there is no memory
 * for it now.
 */
int
hk_dlentry_decode(const redisReply *id, const redisReply *f,
    struct hk_dl_event **evp)
{
	const redisReply *eid, *src, *at, *ct, *hd, *body, *key, *type;
	struct hk_dl_event *ev;
	char tp[HK_TRACEPARENT_MAX] = "";
	uint8_t idb[16];

	eid = hk_dlentry_field(f, "id");
	src = hk_dlentry_field(f, "source");
	at = hk_dlentry_field(f, "received_at");
	ct = hk_dlentry_field(f, "content_type");
	hd = hk_dlentry_field(f, "headers");
	body = hk_dlentry_field(f, "body");
	key = hk_dlentry_field(f, "idempotency_key");
	type = hk_dlentry_field(f, "event_type");
	if (eid == NULL || src == NULL || at == NULL || body == NULL
	    || eid->len >= sizeof(ev->id) || src->len >= sizeof(ev->source)
	    || at->len >= sizeof(ev->received_at)
	    || hk_uuid_parse(eid->str, idb) != HK_OK)
		return HK_ERROR;
	/* What PostgreSQL would refuse must not make a poison entry that is
	 * claimed again and again: ingest never writes such headers. */
	if (hd != NULL && !hk_dlentry_headers(hd->str, hd->len, tp, sizeof(tp)))
		hd = NULL;
	ev = hk_dispatch_event_new(ct ? ct->len : 0, hd ? hd->len : 2,
	    body->len);
	if (ev == NULL)
		return HK_AGAIN;
	memcpy(ev->ctype, ct ? ct->str : "", ev->ctype_len);
	memcpy(ev->headers, hd ? hd->str : "{}", ev->headers_len);
	memcpy(ev->body, body->str, body->len);
	memcpy(ev->entry, id->str, id->len);
	memcpy(ev->id, eid->str, eid->len);
	memcpy(ev->source, src->str, src->len);
	memcpy(ev->received_at, at->str, at->len);
	/* Ingest keeps keys short and UTF-8; anything else is not its own. */
	if (key != NULL && key->len < sizeof(ev->idem_key)
	    && hk_jsonscan_utf8_ok(key->str, key->len))
		memcpy(ev->idem_key, key->str, key->len);
	if (type != NULL && type->len < sizeof(ev->event_type)
	    && hk_jsonscan_utf8_ok(type->str, type->len))
		memcpy(ev->event_type, type->str, type->len);
	memcpy(ev->idb, idb, sizeof(idb));
	memcpy(ev->traceparent, tp, sizeof(tp));
	ev->picked_us = hk_clock_real_us();
	if ((ev->received_us = hk_dlentry_time_us(ev->received_at)) == 0) {
		ev->received_us = ev->picked_us;
		hk_clock_iso8601(ev->picked_us, ev->received_at,
		    sizeof(ev->received_at));
	}
	ev->picked_ns = hk_clock_mono_ns();
	*evp = ev;
	return HK_OK;
}
