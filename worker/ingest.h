/*
 * ingest.h - the ingest worker role.
 */
#ifndef HK_INGEST_H
#define HK_INGEST_H

#include "child.h"

int hk_ingest_main(struct hk_child *c);

#endif
