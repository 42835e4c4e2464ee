/*
 * delivery.h - the delivery worker role.
 */
#ifndef HK_DELIVERY_H
#define HK_DELIVERY_H

#include "child.h"

int hk_delivery_main(struct hk_child *c);

#endif
