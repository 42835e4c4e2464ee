/*
 * promtext.h - the /metrics body of the admin port: the Prometheus text
 * format 0.0.4, or the same samples as JSON (promtext.c).
 */
#ifndef HK_PROMTEXT_H
#define HK_PROMTEXT_H

#include <stdint.h>

#define HK_PROMTEXT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct evbuffer;
struct hk_admin;
struct hk_shm_slot;

/* Append every metric to b: the text format, or JSON when json. */
void hk_promtext_metrics(const struct hk_admin *a, struct evbuffer *b,
    int json);
/* A Prometheus label value with \, " and newline escaped. */
void hk_promtext_label(struct evbuffer *b, const char *v);
/* A JSON string literal, escaped. */
void hk_promtext_json_str(struct evbuffer *b, const char *v);

/* What hookd_process_up and the heartbeat age report; /health/detailed
 * shows the same, so the two cannot disagree. */
int    hk_promtext_proc_alive(const struct hk_shm_slot *s);
double hk_promtext_beat_age(const struct hk_shm_slot *s, uint64_t now_ns);
uint64_t hk_promtext_missed(const struct hk_admin *a);

#endif /* HK_PROMTEXT_H */
