/*
 * version.h - hookd's version, kept here and nowhere else, and the commit
 * the binary was built from.
 *
 * HK_VERSION is the release; hookd -v and the hookd_build_info gauge of
 * /metrics print it.  The commit is the short hash of the git checkout the
 * build ran in ("unknown" outside one): the makefile passes it with -D to
 * version.c alone, so a new commit recompiles one file.
 */
#ifndef HK_VERSION_H
#define HK_VERSION_H

#define HK_VERSION      "0.1.0"

extern const char hk_version_commit[];

#endif /* HK_VERSION_H */
