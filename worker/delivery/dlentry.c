/*
 * dlentry.c - a stream entry as ingest wrote it (id, source, received_at,
 * content_type, headers, body, idempotency_key, event_type), decoded into
 * the event the dispatcher delivers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "clock.h"
#include "core.h"
#include "dispatch.h"
#include "dlentry.h"
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

/* hk_dlentry_time_us - "2026-11-22T10:00:00.123456Z" in microseconds. */
static uint64_t
hk_dlentry_time_us(const char *s)
{
	struct tm tm;
	char frac[8] = "";
	uint64_t us = 0;
	size_t i;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%d:%d.%6[0-9]", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, frac) < 6)
		return 0;
	/* ".5" is 500000 us: the digits, padded to six. */
	for (i = 0; i < 6; i++)
		us = us * 10 + (uint64_t)(frac[i] ? frac[i] - '0' : 0);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (uint64_t)timegm(&tm) * 1000000u + us;
}

/*
 * hk_dlentry_headers - is s a JSON object (the headers field)?  And its
 * traceparent into tp when it has a valid one, else "".
 */
static int
hk_dlentry_headers(const char *s, size_t len, char *tp, size_t tplen)
{
	json_t *j = json_loadb(s, len, 0, NULL);
	json_t *v = json_object_get(j, "traceparent");	/* NULL-safe */
	int ok = json_is_object(j);

	tp[0] = '\0';
	if (json_is_string(v) && json_string_length(v) < tplen
	    && hk_traceparent_valid(json_string_value(v),
	    json_string_length(v)))
		memcpy(tp, json_string_value(v), json_string_length(v) + 1);
	json_decref(j);
	return ok;
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
