/*
 * dlscan.h - claims due deliveries from PostgreSQL (retries, deliveries
 * left to it by a full queue or an open breaker, rows whose lease ran out)
 * and keeps the set of disabled destinations fresh.  Part of dispatch: it
 * shares dispatch's state (verdict.h).
 */
#ifndef HK_DLSCAN_H
#define HK_DLSCAN_H

int  hk_dlscan_init(void);
void hk_dlscan_shutdown(void);

#endif
