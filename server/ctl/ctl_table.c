/*
 * ctl_table.c - hookctl's aligned columns, and text made safe for a
 * terminal.
 *
 * Output for people is aligned columns under a header; the cells come from
 * the database, where anything may have been stored, so they pass through
 * hk_ctl_table_printable first.  Times are printed in UTC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "ctl.h"

/* hk_ctl_table_row - add one row; cells are copied, NULL prints as "-". */
int
hk_ctl_table_row(struct hk_ctl_table *t, const char *const *cells)
{
	size_t n = (size_t)t->ncols;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * n * sizeof(*p));

		if (p == NULL)
			return HK_ERROR;
		t->cells = p;
		t->cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		char *c = strdup(cells[i] != NULL ? cells[i] : "-");

		if (c == NULL) {
			while (i-- > 0)
				free(t->cells[t->nrows * n + i]);
			return HK_ERROR;
		}
		t->cells[t->nrows * n + i] = c;
	}
	t->nrows++;
	return HK_OK;
}

/* hk_ctl_table_print - the header and every row, indented by indent spaces. */
void
hk_ctl_table_print(const struct hk_ctl_table *t, int indent)
{
	size_t n = (size_t)t->ncols, w[16] = { 0 };

	for (size_t c = 0; c < n && c < HK_NELEM(w); c++) {
		w[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++)
			w[c] = HK_MAX(w[c], strlen(t->cells[r * n + c]));
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		printf("%*s", indent, "");
		for (size_t c = 0; c < n; c++) {
			const char *s = r == 0 ? t->head[c]
			    : t->cells[(r - 1) * n + c];
			int last = c + 1 == n;

			if (t->right & (1u << c))
				printf("%*s", (int)w[c], s);
			else
				printf("%-*s", last ? 0 : (int)w[c], s);
			printf("%s", last ? "\n" : "  ");
		}
	}
}

void
hk_ctl_table_free(struct hk_ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/*
 * hk_ctl_table_printable - len bytes of s made safe for a terminal into out
 * (outlen bytes): valid UTF-8 stays, other control characters and invalid
 * bytes become '.'; newlines and tabs stay when keep_lines.  Stops early
 * rather than overflow out.  Returns out.
 */
char *
hk_ctl_table_printable(const unsigned char *s, size_t len, int keep_lines,
    char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < len && o + 5 < outlen) {
		unsigned char c = s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2
		    : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		/* Overlong forms, surrogates and values past U+10FFFF are
		 * invalid UTF-8, and jansson refuses them. */
		int ok = n > 0 && i + n <= len && !(n == 2 && c < 0xc2)
		    && !(n == 4 && c > 0xf4)
		    && !(c == 0xe0 && i + 1 < len && s[i + 1] < 0xa0)
		    && !(c == 0xed && i + 1 < len && s[i + 1] >= 0xa0)
		    && !(c == 0xf0 && i + 1 < len && s[i + 1] < 0x90)
		    && !(c == 0xf4 && i + 1 < len && s[i + 1] >= 0x90);

		for (size_t k = 1; ok && k < n; k++)
			ok = (s[i + k] & 0xc0) == 0x80;
		if (n == 1 && (c < 0x20 || c == 0x7f))
			ok = keep_lines && (c == '\n' || c == '\t');
		if (!ok) {
			out[o++] = '.';
			i++;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return out;
}

/*
 * hk_ctl_table_line - the first line of s, shortened to
 * HK_CTL_TABLE_CELL_MAX.
 */
const char *
hk_ctl_table_line(const char *s, char *buf, size_t len)
{
	size_t n;

	if (s == NULL)
		return NULL;
	n = strcspn(s, "\r\n");
	hk_ctl_table_printable((const unsigned char *)s,
	    HK_MIN(n, (size_t)HK_CTL_TABLE_CELL_MAX), 0, buf, len);
	if (n > HK_CTL_TABLE_CELL_MAX || s[n] != '\0') {
		size_t o = strlen(buf);

		if (o + 4 < len)
			memcpy(buf + o, "...", 4);
	}
	return buf;
}

/* hk_ctl_table_when - "2026-11-22 10:00:00.123" from the ISO form, or NULL. */
const char *
hk_ctl_table_when(const char *iso, char *buf, size_t len)
{
	if (iso == NULL)
		return NULL;
	snprintf(buf, len, "%.23s", iso);
	if (strlen(buf) > 10 && buf[10] == 'T')
		buf[10] = ' ';
	return buf;
}
