/*
 * core.h - what every hookd source file needs: return codes, small macros.
 *
 * Within a layer functions return HK_OK, HK_ERROR or HK_AGAIN (try again
 * later: not an error, not done).  Errors are logged where the cause is known,
 * once, with the failing syscall named.
 */
#ifndef HK_CORE_H
#define HK_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "version.h"	/* HK_VERSION */

#define HK_OK      0
#define HK_ERROR  -1
#define HK_AGAIN  -2

#define HK_NELEM(a)     (sizeof(a) / sizeof((a)[0]))
#define HK_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define HK_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define HK_UNUSED(x)    ((void)(x))

#include "version.h"	/* HK_VERSION, hk_version_commit */

/* Exit status of a child that must not be respawned (nginx's convention). */
#define HK_EXIT_FATAL_CONFIG  2

#endif /* HK_CORE_H */
