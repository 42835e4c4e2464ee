/*
 * version.c - the commit hookd was built from (see version.h).
 */
#include "version.h"

#ifndef HK_COMMIT
#define HK_COMMIT       "unknown"
#endif

const char hk_version_commit[] = HK_COMMIT;
