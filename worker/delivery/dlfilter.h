/*
 * dlfilter.h - which destinations want an event: its type against the
 * destination's types, then each condition of its filter (config.h).
 */
#ifndef HK_DLFILTER_H
#define HK_DLFILTER_H

#include "config.h"
#include "dispatch.h"

/* Does destination d want ev?  Its source is checked by the caller. */
int hk_dlfilter_wants(const struct hk_conf_dest *d,
    const struct hk_dl_event *ev);

#endif
