/*
 * dlentry.h - a stream entry, as ingest wrote it, decoded into a struct
 * hk_dl_event (dispatch.h) for the dispatcher.
 */
#ifndef HK_DLENTRY_H
#define HK_DLENTRY_H

struct redisReply;
struct hk_dl_event;

/* The value of field name in a reply [field, value, ...], or NULL. */
const struct redisReply *hk_dlentry_field(const struct redisReply *f,
    const char *name);
int  hk_dlentry_decode(const struct redisReply *id,
    const struct redisReply *f, struct hk_dl_event **evp);

#endif
