/*
 * sockaddr.h - small facts about socket addresses.
 */
#ifndef HK_SOCKADDR_H
#define HK_SOCKADDR_H

struct sockaddr;

/* Is sa on this host's loopback: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z? */
int hk_sockaddr_loopback(const struct sockaddr *sa);

#endif
