/*
 * The state one config_load() carries through its phases (struct load in
 * config_state.h), the error list every phase adds to, and the small text
 * helpers more than one phase uses. Nothing here logs: errors are collected
 * as "file:line: key: reason" and the loader hands them back.
 */
#include "config_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* [a-z0-9-]{1,63} */
bool cfg_is_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!is_lower(s[n]) && !is_digit(s[n]) && s[n] != '-')
			return false;
	return n >= 1 && n <= CFG_NAME_MAX;
}

/* Decimal digits only, no sign, no spaces, value <= max. */
bool cfg_parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (!is_digit(*s))
			return false;
		if (v > (max - (unsigned long)(*s - '0')) / 10)
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*out = v;
	return true;
}

char *cfg_join3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	if (!s)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc + 1);
	return s;
}

void cfg_error(struct load *L, int line, const char *key, const char *fmt, ...)
{
	char why[WHY_MAX + 64];
	struct load_err *e;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (L->nerrs == L->caperrs) {
		unsigned cap = L->caperrs ? L->caperrs * 2 : 16;
		struct load_err *ne = realloc(L->errs, cap * sizeof(*ne));
		if (!ne) {
			L->oom = true;
			return;
		}
		L->errs = ne;
		L->caperrs = cap;
	}
	e = &L->errs[L->nerrs];
	n = snprintf(NULL, 0, "%s:%d: %s: %s", L->path, line, key, why);
	e->msg = n < 0 ? NULL : malloc((size_t)n + 1);
	if (!e->msg) {
		L->oom = true;
		return;
	}
	snprintf(e->msg, (size_t)n + 1, "%s:%d: %s: %s", L->path, line, key, why);
	e->line = line;
	e->seq = L->nerrs++;
}

char *cfg_strdup(struct load *L, const char *s)
{
	char *d = strdup(s);

	if (!d)
		L->oom = true;
	return d;
}
