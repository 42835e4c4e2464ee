/*
 * version.h - hookd's version, and the commit it was built from.
 *
 * The one place both live: `hookd -v`, the User-Agent of deliveries and
 * hookd_build_info on /metrics all read them from here.  The makefile
 * passes HK_COMMIT (git rev-parse --short HEAD); a build outside a git
 * checkout says "unknown".
 */
#ifndef HK_VERSION_H
#define HK_VERSION_H

#define HK_VERSION      "0.1.0"

#ifndef HK_COMMIT
#define HK_COMMIT       "unknown"
#endif

#endif /* HK_VERSION_H */
