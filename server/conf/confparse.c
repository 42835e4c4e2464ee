/*
 * confparse.c - apply a table of keys to a libconfig tree.
 *
 * Values reach a struct along two roads: from a libconfig setting, whose
 * type must match the key's, or from text (a default, an environment
 * variable), which must parse.  Both end in the same store functions, which
 * hold the bounds and call the key's syntax check, so a value is judged the
 * same wherever it came from.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confparse.h"
#include "core.h"

/* How far a misspelt key may be from a declared one to be suggested. */
#define HK_CONFPARSE_SUGGEST	2

void
hk_confparse_init(struct hk_confparse_obj *obj,
    const struct hk_confparse_key *keys, size_t nkeys, void *base)
{
	memset(obj, 0, sizeof(*obj));
	obj->keys = keys;
	obj->nkeys = HK_MIN(nkeys, (size_t)HK_CONFPARSE_KEYS_MAX);
	obj->base = base;
}

int
hk_confparse_err(struct hk_confparse_ctx *ctx, const config_setting_t *s,
    const char *fmt, ...)
{
	const char *file = NULL;
	char msg[512];
	va_list ap;
	int line = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s != NULL) {
		line = (int)config_setting_source_line(s);
		file = config_setting_source_file(s);	/* @include */
	}
	if (file == NULL)
		file = ctx->file;
	if (ctx->env != NULL)
		snprintf(ctx->err, ctx->errlen, "environment %s: %s%s",
		    ctx->env, ctx->what, msg);
	else if (line > 0)
		snprintf(ctx->err, ctx->errlen, "%s:%d: %s%s", file, line,
		    ctx->what, msg);
	else
		snprintf(ctx->err, ctx->errlen, "%s: %s%s", file, ctx->what,
		    msg);
	return HK_ERROR;
}

int
hk_confparse_find(const struct hk_confparse_obj *obj, const char *name)
{
	for (size_t i = 0; i < obj->nkeys; i++)
		if (strcmp(obj->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

config_setting_t *
hk_confparse_at(const struct hk_confparse_obj *obj, const char *name)
{
	int k = hk_confparse_find(obj, name);

	return k < 0 ? NULL : obj->at[k];
}

/* hk_confparse_is_group - some key of the table lies under "name.". */
static int
hk_confparse_is_group(const struct hk_confparse_obj *obj, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < obj->nkeys; i++)
		if (strncmp(obj->keys[i].name, name, n) == 0
		    && obj->keys[i].name[n] == '.')
			return 1;
	return 0;
}

/* hk_confparse_found - what the file wrote, for a type error. */
static const char *
hk_confparse_found(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:	return "an integer";
	case CONFIG_TYPE_FLOAT:	return "a floating-point number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL:	return "a boolean";
	case CONFIG_TYPE_GROUP:	return "a group";
	case CONFIG_TYPE_ARRAY:	return "an array";
	case CONFIG_TYPE_LIST:	return "a list";
	default:		return "something else";
	}
}

/* hk_confparse_want - what a key (elem: one of its elements) must be. */
static const char *
hk_confparse_want(const struct hk_confparse_key *k, int elem)
{
	switch (k->type) {
	case HK_T_INT:
	case HK_T_LONG:		return "an integer";
	case HK_T_DOUBLE:	return "a number";
	case HK_T_BOOL:		return "true or false";
	case HK_T_STR:
	case HK_T_ENUM:		return "a string";
	case HK_T_INTS:
		return elem ? "an integer" : "an array of integers";
	case HK_T_STRS:
		return elem ? "a string" : "an array of strings";
	default:		return "a list of groups";
	}
}

static int
hk_confparse_badtype(struct hk_confparse_ctx *ctx,
    const struct hk_confparse_key *k, const char *label,
    const config_setting_t *s, int elem)
{
	return hk_confparse_err(ctx, s, "%s: expected %s, found %s", label,
	    hk_confparse_want(k, elem), hk_confparse_found(s));
}

/* hk_confparse_int - bound v and store it (INTS elements are int). */
static int
hk_confparse_int(struct hk_confparse_ctx *ctx,
    const struct hk_confparse_key *k, const char *label,
    const config_setting_t *s, long long v, void *dst)
{
	if (v < k->min || v > k->max)
		return hk_confparse_err(ctx, s, "%s: %lld is out of range "
		    "(%lld..%lld)", label, v, k->min, k->max);
	if (k->type == HK_T_LONG)
		*(long *)dst = (long)v;
	else
		*(int *)dst = (int)v;
	return HK_OK;
}

static int
hk_confparse_double(struct hk_confparse_ctx *ctx,
    const struct hk_confparse_key *k, const config_setting_t *s, double v,
    void *dst)
{
	if (!(v >= (double)k->min && v <= (double)k->max))	/* and NaN */
		return hk_confparse_err(ctx, s, "%s: %g is out of range "
		    "(%lld..%lld)", k->name, v, k->min, k->max);
	*(double *)dst = v;
	return HK_OK;
}

/*
 * hk_confparse_str - check str against the key and store it: a copy for a
 * string, the parsed value for an enum.
 */
static int
hk_confparse_str(struct hk_confparse_ctx *ctx,
    const struct hk_confparse_key *k, const char *label,
    const config_setting_t *s, const char *str, void *dst)
{
	size_t n = strlen(str);
	char why[256], *copy;
	int v;

	if (k->type == HK_T_ENUM) {
		if ((v = k->parse(str)) < 0)
			return hk_confparse_err(ctx, s, "%s: \"%s\" is not "
			    "one of %s", label, str, k->choices);
		*(int *)dst = v;
		return HK_OK;
	}
	if (n == 0 && k->min > 0)
		return hk_confparse_err(ctx, s, "%s: must not be empty",
		    label);
	if ((long long)n > k->max)
		return hk_confparse_err(ctx, s, "%s: too long (%zu "
		    "characters, at most %lld)", label, n, k->max);
	if (n > 0 && k->check != NULL
	    && k->check(str, why, sizeof(why)) != HK_OK)
		return hk_confparse_err(ctx, s, "%s: %s", label, why);
	if ((copy = strdup(str)) == NULL)
		return hk_confparse_err(ctx, s, "%s: out of memory", label);
	free(*(char **)dst);
	*(char **)dst = copy;
	return HK_OK;
}

/* hk_confparse_clear - empty an array key, freeing its strings. */
static void
hk_confparse_clear(void *base, const struct hk_confparse_key *k)
{
	int *n = (int *)((char *)base + k->noff);
	char **v = (char **)((char *)base + k->off);

	if (k->type == HK_T_STRS)
		for (int i = 0; i < *n; i++) {
			free(v[i]);
			v[i] = NULL;
		}
	*n = 0;
}

/* hk_confparse_elem - store element i of an array key from the file. */
static int
hk_confparse_elem(struct hk_confparse_ctx *ctx, void *base,
    const struct hk_confparse_key *k, int i, config_setting_t *e)
{
	char *arr = (char *)base + k->off, label[128];
	int t = config_setting_type(e);

	snprintf(label, sizeof(label), "%s[%d]", k->name, i);
	if (k->type == HK_T_INTS) {
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return hk_confparse_badtype(ctx, k, label, e, 1);
		return hk_confparse_int(ctx, k, label, e,
		    config_setting_get_int64(e), arr + (size_t)i * sizeof(int));
	}
	if (t != CONFIG_TYPE_STRING)
		return hk_confparse_badtype(ctx, k, label, e, 1);
	return hk_confparse_str(ctx, k, label, e, config_setting_get_string(e),
	    arr + (size_t)i * sizeof(char *));
}

/* hk_confparse_array - an array key from the file, replacing the default. */
static int
hk_confparse_array(struct hk_confparse_ctx *ctx, void *base,
    const struct hk_confparse_key *k, config_setting_t *s)
{
	int *count = (int *)((char *)base + k->noff);
	int t = config_setting_type(s), n = config_setting_length(s);

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return hk_confparse_badtype(ctx, k, k->name, s, 0);
	if (n < k->nmin || n > k->nmax)
		return hk_confparse_err(ctx, s, "%s: has %d element%s, "
		    "expected %d..%d", k->name, n, n == 1 ? "" : "s", k->nmin,
		    k->nmax);
	hk_confparse_clear(base, k);
	for (int i = 0; i < n; i++) {
		if (hk_confparse_elem(ctx, base, k, i,
		    config_setting_get_elem(s, (unsigned)i)) != HK_OK)
			return HK_ERROR;
		*count = i + 1;		/* a later error frees it */
	}
	return HK_OK;
}

/* hk_confparse_setting - store key k from setting s of the file. */
static int
hk_confparse_setting(struct hk_confparse_ctx *ctx, void *base,
    const struct hk_confparse_key *k, config_setting_t *s)
{
	void *dst = (char *)base + k->off;
	int t = config_setting_type(s);
	int isint = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;

	switch (k->type) {
	case HK_T_INT:
	case HK_T_LONG:
		if (!isint)
			return hk_confparse_badtype(ctx, k, k->name, s, 0);
		return hk_confparse_int(ctx, k, k->name, s,
		    config_setting_get_int64(s), dst);
	case HK_T_DOUBLE:
		if (!isint && t != CONFIG_TYPE_FLOAT)
			return hk_confparse_badtype(ctx, k, k->name, s, 0);
		return hk_confparse_double(ctx, k, s, isint ?
		    (double)config_setting_get_int64(s) :
		    config_setting_get_float(s), dst);
	case HK_T_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			return hk_confparse_badtype(ctx, k, k->name, s, 0);
		*(int *)dst = config_setting_get_bool(s) ? 1 : 0;
		return HK_OK;
	case HK_T_STR:
	case HK_T_ENUM:
		if (t != CONFIG_TYPE_STRING)
			return hk_confparse_badtype(ctx, k, k->name, s, 0);
		return hk_confparse_str(ctx, k, k->name, s,
		    config_setting_get_string(s), dst);
	case HK_T_INTS:
	case HK_T_STRS:
		return hk_confparse_array(ctx, base, k, s);
	default:
		return HK_OK;	/* lists: the caller loads them */
	}
}

/* hk_confparse_text_array - an array key from "a, b, c" (defaults). */
static int
hk_confparse_text_array(struct hk_confparse_ctx *ctx, void *base,
    const struct hk_confparse_key *k, const char *text)
{
	char *copy, *tok, *save, label[128], *arr = (char *)base + k->off;
	int *count = (int *)((char *)base + k->noff), rc = HK_OK;

	if ((copy = strdup(text)) == NULL)
		return hk_confparse_err(ctx, NULL, "%s: out of memory",
		    k->name);
	hk_confparse_clear(base, k);
	for (tok = strtok_r(copy, ", ", &save); tok != NULL && rc == HK_OK;
	    tok = strtok_r(NULL, ", ", &save)) {
		snprintf(label, sizeof(label), "%s[%d]", k->name, *count);
		if (*count >= k->nmax)
			rc = hk_confparse_err(ctx, NULL, "%s: too many "
			    "elements", k->name);
		else if (k->type == HK_T_INTS)
			rc = hk_confparse_int(ctx, k, label, NULL, atoll(tok),
			    arr + (size_t)*count * sizeof(int));
		else
			rc = hk_confparse_str(ctx, k, label, NULL, tok,
			    arr + (size_t)*count * sizeof(char *));
		if (rc == HK_OK)
			(*count)++;
	}
	free(copy);
	return rc;
}

/*
 * hk_confparse_value - store key k from text.  Text has no type of its
 * own, so here a number that does not parse is the error a wrong type is
 * in the file.
 */
static int
hk_confparse_value(struct hk_confparse_ctx *ctx, void *base,
    const struct hk_confparse_key *k, const char *text)
{
	void *dst = (char *)base + k->off;
	char *end;
	long long v;
	double d;

	switch (k->type) {
	case HK_T_INT:
	case HK_T_LONG:
		errno = 0;
		v = strtoll(text, &end, 10);
		if (end == text || *end != '\0' || errno != 0)
			return hk_confparse_err(ctx, NULL, "%s: \"%s\" is not "
			    "an integer", k->name, text);
		return hk_confparse_int(ctx, k, k->name, NULL, v, dst);
	case HK_T_DOUBLE:
		d = strtod(text, &end);
		if (end == text || *end != '\0')
			return hk_confparse_err(ctx, NULL, "%s: \"%s\" is not "
			    "a number", k->name, text);
		return hk_confparse_double(ctx, k, NULL, d, dst);
	case HK_T_BOOL:
		if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
			return hk_confparse_err(ctx, NULL, "%s: \"%s\" is "
			    "neither true nor false", k->name, text);
		*(int *)dst = text[0] == 't';
		return HK_OK;
	case HK_T_STR:
	case HK_T_ENUM:
		return hk_confparse_str(ctx, k, k->name, NULL, text, dst);
	case HK_T_INTS:
	case HK_T_STRS:
		return hk_confparse_text_array(ctx, base, k, text);
	default:
		return HK_OK;
	}
}

/* hk_confparse_text - key k from text; forget any line the file gave it. */
int
hk_confparse_text(struct hk_confparse_ctx *ctx, struct hk_confparse_obj *obj,
    int k, const char *text)
{
	obj->at[k] = NULL;
	return hk_confparse_value(ctx, obj->base, &obj->keys[k], text);
}

int
hk_confparse_defaults(struct hk_confparse_ctx *ctx,
    struct hk_confparse_obj *obj)
{
	for (size_t i = 0; i < obj->nkeys; i++)
		if (obj->keys[i].dflt != NULL && hk_confparse_value(ctx,
		    obj->base, &obj->keys[i], obj->keys[i].dflt) != HK_OK)
			return HK_ERROR;
	return HK_OK;
}

/*
 * hk_confparse_distance - the edit distance between a and b, or max + 1
 * when it is larger: "listne" is 2 away from "listen".
 */
static int
hk_confparse_distance(const char *a, const char *b, int max)
{
	int row[64], la = (int)strlen(a), lb = (int)strlen(b), prev, tmp;

	if (la >= 64 || lb >= 64 || abs(la - lb) > max)
		return max + 1;
	for (int j = 0; j <= lb; j++)
		row[j] = j;
	for (int i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (int j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = HK_MIN(HK_MIN(row[j], row[j - 1]) + 1,
			    prev + (a[i - 1] != b[j - 1]));
			prev = tmp;
		}
	}
	return HK_MIN(row[lb], max + 1);
}

/* hk_confparse_unknown - refuse a key, suggesting the closest one. */
static int
hk_confparse_unknown(struct hk_confparse_ctx *ctx,
    const struct hk_confparse_obj *obj, const config_setting_t *s,
    const char *path)
{
	const char *best = NULL;
	int d, bestd = HK_CONFPARSE_SUGGEST + 1;

	for (size_t i = 0; i < obj->nkeys; i++) {
		d = hk_confparse_distance(path, obj->keys[i].name,
		    HK_CONFPARSE_SUGGEST);
		if (d < bestd) {
			bestd = d;
			best = obj->keys[i].name;
		}
	}
	if (best != NULL)
		return hk_confparse_err(ctx, s, "unknown key \"%s\"; did you "
		    "mean \"%s\"?", path, best);
	return hk_confparse_err(ctx, s, "unknown key \"%s\"", path);
}

int
hk_confparse_walk(struct hk_confparse_ctx *ctx, struct hk_confparse_obj *obj,
    config_setting_t *group, const char *prefix)
{
	config_setting_t *s;
	char path[160];
	int k, rc;

	for (int i = 0; i < config_setting_length(group); i++) {
		s = config_setting_get_elem(group, (unsigned)i);
		snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] ? "." : "", config_setting_name(s));
		if ((k = hk_confparse_find(obj, path)) >= 0) {
			obj->at[k] = s;
			rc = hk_confparse_setting(ctx, obj->base,
			    &obj->keys[k], s);
		} else if (!hk_confparse_is_group(obj, path)) {
			rc = hk_confparse_unknown(ctx, obj, s, path);
		} else if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			rc = hk_confparse_err(ctx, s, "%s: expected a group "
			    "{ ... }, found %s", path, hk_confparse_found(s));
		} else {
			rc = hk_confparse_walk(ctx, obj, s, path);
		}
		if (rc != HK_OK)
			return rc;
	}
	return HK_OK;
}

int
hk_confparse_list(struct hk_confparse_ctx *ctx, config_setting_t *s,
    const char *key, int max)
{
	int t = config_setting_type(s), n = config_setting_length(s);

	/* "sources = [];" is an empty array, not a list; it means none. */
	if (t != CONFIG_TYPE_LIST && !(t == CONFIG_TYPE_ARRAY && n == 0))
		return hk_confparse_err(ctx, s, "%s: expected a list of "
		    "groups ( { ... }, ... ), found %s", key,
		    hk_confparse_found(s));
	if (n > max)
		return hk_confparse_err(ctx, s, "%s: %d entries, at most %d "
		    "are allowed", key, n, max);
	return HK_OK;
}

int
hk_confparse_group(struct hk_confparse_ctx *ctx, struct hk_confparse_obj *obj,
    const char *kind, int i, config_setting_t *e)
{
	const char *name;

	snprintf(ctx->what, sizeof(ctx->what), "%s #%d: ", kind, i + 1);
	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return hk_confparse_err(ctx, e, "expected a group { ... }, "
		    "found %s", hk_confparse_found(e));
	/* Name it in every message, even those about keys before "name". */
	if (config_setting_lookup_string(e, "name", &name) == CONFIG_TRUE)
		snprintf(ctx->what, sizeof(ctx->what), "%s \"%s\": ", kind,
		    name);
	if (hk_confparse_defaults(ctx, obj) != HK_OK
	    || hk_confparse_walk(ctx, obj, e, "") != HK_OK)
		return HK_ERROR;
	for (size_t k = 0; k < obj->nkeys; k++)
		if ((obj->keys[k].flags & HK_F_REQUIRED) && obj->at[k] == NULL)
			return hk_confparse_err(ctx, e, "%s is required",
			    obj->keys[k].name);
	return HK_OK;
}

void
hk_confparse_release(const struct hk_confparse_key *keys, size_t nkeys,
    void *base)
{
	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i].type == HK_T_STR)
			free(*(char **)((char *)base + keys[i].off));
		else if (keys[i].type == HK_T_STRS)
			hk_confparse_clear(base, &keys[i]);
	}
}
