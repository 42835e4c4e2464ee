/*
 * confparse.h - apply a table of keys to a libconfig tree.
 *
 * A table declares each key once: its dotted name, its type, where in a
 * struct it is stored, its default written as it would be in the file, and
 * its bounds (nginx's directive tables, Postfix's {name, default, target,
 * min, max}).  hk_confparse_defaults() stores every default,
 * hk_confparse_walk() then stores what the file says and refuses what the
 * table does not declare, each with the type and bounds the table gives,
 * and hk_confparse_text() stores a value given as text (an environment
 * variable) through the same checks.  config.c holds hookd's tables and the
 * rules that relate one key to another; confcheck.c the syntax of single
 * values.
 *
 * Every error is written by hk_confparse_err() as "FILE:LINE: " (or
 * "environment VAR: "), then ctx->what ("source \"github\": "), then a
 * sentence that starts with the key's name.
 */
#ifndef HK_CONFPARSE_H
#define HK_CONFPARSE_H

#include <stddef.h>

#include <libconfig.h>

#include "confcheck.h"

enum hk_confparse_type {
	HK_T_INT,		/* int */
	HK_T_LONG,		/* long */
	HK_T_DOUBLE,		/* double; an integer in the file is fine */
	HK_T_BOOL,		/* int, 0 or 1 */
	HK_T_STR,		/* char *, owned by the struct */
	HK_T_ENUM,		/* int, what parse() makes of a string */
	HK_T_INTS,		/* int[], element count at noff */
	HK_T_STRS,		/* char *[], element count at noff */
	HK_T_LIST,		/* a list of groups, loaded by the caller */
};

#define HK_F_REQUIRED		0x01

/* Keys in one table, at most. */
#define HK_CONFPARSE_KEYS_MAX	64

/*
 * One key.  min and max bound a number, the length of a string, or each
 * element of an array; nmin and nmax bound the element count.  A NULL
 * default means absent: either the key is required or the caller works out
 * its value from others once the file has been read.
 */
struct hk_confparse_key {
	const char      *name;		/* dotted path inside its table */
	int              type;		/* enum hk_confparse_type */
	size_t           off;
	const char      *dflt;		/* arrays: "a, b, c" */
	long long        min, max;
	int              nmin, nmax;
	size_t           noff;
	hk_confcheck_fn  check;		/* skipped for an empty string */
	int            (*parse)(const char *); /* HK_T_ENUM; -1: bad */
	const char      *choices;	/* HK_T_ENUM, for the message */
	int              flags;		/* HK_F_* */
};

/* Where a load is: the file, the error buffer, what is being read. */
struct hk_confparse_ctx {
	const char  *file;
	char        *err;
	size_t       errlen;
	const char  *env;		/* the variable being applied */
	char         what[96];		/* "" or "source \"github\": " */
};

/* One table applied to one struct, and where the file set each key. */
struct hk_confparse_obj {
	const struct hk_confparse_key *keys;
	size_t            nkeys;
	void             *base;
	config_setting_t *at[HK_CONFPARSE_KEYS_MAX];	/* NULL: not set */
};

void	hk_confparse_init(struct hk_confparse_obj *obj,
	    const struct hk_confparse_key *keys, size_t nkeys, void *base);
/* Write the error (s may be NULL: no line) and return HK_ERROR. */
int	hk_confparse_err(struct hk_confparse_ctx *ctx,
	    const config_setting_t *s, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* The index of key name in the table, or -1; where the file set it. */
int	hk_confparse_find(const struct hk_confparse_obj *obj,
	    const char *name);
config_setting_t *hk_confparse_at(const struct hk_confparse_obj *obj,
	    const char *name);

int	hk_confparse_defaults(struct hk_confparse_ctx *ctx,
	    struct hk_confparse_obj *obj);
int	hk_confparse_walk(struct hk_confparse_ctx *ctx,
	    struct hk_confparse_obj *obj, config_setting_t *group,
	    const char *prefix);
int	hk_confparse_text(struct hk_confparse_ctx *ctx,
	    struct hk_confparse_obj *obj, int k, const char *text);

/* Check that s is a list of groups (or "[]") of at most max entries. */
int	hk_confparse_list(struct hk_confparse_ctx *ctx, config_setting_t *s,
	    const char *key, int max);
/*
 * Element i of such a list into obj: defaults, the walk, required keys.
 * Leaves ctx->what naming it ("source \"github\": ") for the caller's own
 * checks; the caller clears it.
 */
int	hk_confparse_group(struct hk_confparse_ctx *ctx,
	    struct hk_confparse_obj *obj, const char *kind, int i,
	    config_setting_t *e);

/* Free the strings the table stored into base. */
void	hk_confparse_release(const struct hk_confparse_key *keys,
	    size_t nkeys, void *base);

#endif /* HK_CONFPARSE_H */
