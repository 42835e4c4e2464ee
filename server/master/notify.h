/*
 * notify.h - the service manager's readiness protocol (sd_notify), spoken
 * by the master without libsystemd.
 *
 * When hookd runs under systemd with Type=notify, $NOTIFY_SOCKET names a
 * unix datagram socket (a path, or "@name" in the abstract namespace).  The
 * master sends one datagram per change of state: "READY=1" once the
 * listening sockets are open and every child of the running generation
 * serves; "RELOADING=1" when HUP starts a reload and "READY=1" again when
 * the new generation serves (or the reload failed and the old one goes on);
 * "STOPPING=1" when a stop begins.  Without $NOTIFY_SOCKET every call does
 * nothing.
 */
#ifndef HK_NOTIFY_H
#define HK_NOTIFY_H

/* Read $NOTIFY_SOCKET and open the socket; HK_OK also when there is none. */
int  hk_notify_init(void);
/* Send state ("READY=1\nSTATUS=..."), best effort: HK_OK or HK_ERROR. */
int  hk_notify_send(const char *state);
void hk_notify_close(void);

#endif /* HK_NOTIFY_H */
