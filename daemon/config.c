/*
 * The INI config: read a file, validate it completely, build one immutable,
 * refcounted struct config (the interface and the key reference are in
 * config.h).
 *
 * A load runs in phases, and none of them stops at the first problem:
 *
 *   1. read      inih splits "key = value" lines. A line reader in front of
 *                it counts lines (Debian's inih does not pass line numbers),
 *                owns the [section] headers (inih truncates long ones and
 *                never reports empty ones) and notices lines inih rejected.
 *                Raw values are kept with their line.
 *   2. parse     one table per section, {key, parser, offset, flags,
 *                default}, drives parsing, defaults, inheritance from [mesh]
 *                and the required-key check.
 *   3. validate  checks between keys and sections (ports, identities, uids,
 *                intercepts).
 *   4. VIPs      fixed ones, then the previous ones (stable across reloads),
 *                then a hash of the name with linear probing.
 *
 * Every problem becomes one "file:line: key: reason" line; they are sorted
 * by line. This file never logs: the caller decides what to say. A loaded
 * config has its identities and services sorted by name (lookups bisect).
 *
 * Two reading rules inih does not give by itself:
 *   - An indented line continues the previous key's value (for long lists),
 *     unless it looks like "key = ...": then it is a key of its own, so
 *     indenting keys under their section works.
 *   - `allow` names are only checked for syntax: callers live on other hosts,
 *     so an identity allowed here need not be defined in this file.
 */
#include "config.h"
#include "hash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHY_MAX     256
#define MAX_KEYS    32
#define CUR_NONE    (-1)   /* before the first section header */
#define CUR_VOID    (-2)   /* inside an invalid section: keys are skipped */

/* ---- small helpers ---------------------------------------------------- */

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_lower(char ch) { return ch >= 'a' && ch <= 'z'; }
static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '\v'; }

static const char *skip_space(const char *s)
{
	while (is_space(*s))
		s++;
	return s;
}

/* [a-z0-9-]{1,63} */
static bool is_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!is_lower(s[n]) && !is_digit(s[n]) && s[n] != '-')
			return false;
	return n >= 1 && n <= CFG_NAME_MAX;
}

/* Decimal digits only, no sign, no spaces, value <= max. */
static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
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

/* Next token of a list separated by commas and/or whitespace, or NULL. */
static char *next_token(char **cursor)
{
	char *p = *cursor, *start;

	while (*p == ',' || is_space(*p))
		p++;
	if (!*p) {
		*cursor = p;
		return NULL;
	}
	start = p;
	while (*p && *p != ',' && !is_space(*p))
		p++;
	if (*p)
		*p++ = '\0';
	*cursor = p;
	return start;
}

static bool addr_eq(const struct cfg_addr *a, const struct cfg_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static uint16_t addr_port(const struct cfg_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_port);
	return 0;
}

/* Room for one more element of a list being parsed: the array doubled
 * (from 4), or NULL (the old array is still valid) when out of memory. */
static void *grow(void *arr, unsigned *cap, size_t size)
{
	unsigned nc = *cap ? *cap * 2 : 4;
	void *p = realloc(arr, (size_t)nc * size);
	if (p)
		*cap = nc;
	return p;
}

static char *join3(const char *a, const char *b, const char *c)
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

/* ---- pure helpers shared with the daemon ------------------------------ */

int config_parse_addr(const char *text, struct cfg_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	unsigned long p;
	size_t hl;

	if (!text || !out)
		return -1;
	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		struct sockaddr_in6 *sin6 = (void *)&out->ss;

		if (!end || end[1] != ':')
			return -1;
		hl = (size_t)(end - text - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, text + 1, hl);
		host[hl] = '\0';
		port = end + 2;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		if (!parse_ulong(port, 65535, &p) || p == 0)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		out->len = sizeof(*sin6);
		return 0;
	} else {
		const char *colon = strchr(text, ':');
		struct sockaddr_in *sin = (void *)&out->ss;

		if (!colon || strchr(colon + 1, ':'))
			return -1;
		hl = (size_t)(colon - text);
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, text, hl);
		host[hl] = '\0';
		port = colon + 1;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		if (!parse_ulong(port, 65535, &p) || p == 0)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		out->len = sizeof(*sin);
		return 0;
	}
}

int config_parse_duration(const char *text, double *seconds)
{
	const char *p = text;
	double v = 0, mul, scale = 0.1;
	int digits = 0, frac = 0;

	if (!text || !seconds)
		return -1;
	for (; is_digit(*p); p++) {
		if (++digits > 12)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (digits == 0)
		return -1;
	if (*p == '.') {
		for (p++; is_digit(*p); p++, scale /= 10) {
			if (++frac > 9)
				return -1;
			v += (*p - '0') * scale;
		}
		if (frac == 0)
			return -1;
	}
	if (*p == '\0' || strcmp(p, "s") == 0)
		mul = 1;
	else if (strcmp(p, "ms") == 0)
		mul = 0.001;
	else if (strcmp(p, "m") == 0)
		mul = 60;
	else if (strcmp(p, "h") == 0)
		mul = 3600;
	else
		return -1;
	v *= mul;
	if (!(v > 0))
		return -1;
	*seconds = v;
	return 0;
}

const char *config_addr_str(const struct cfg_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!buf || len == 0)
		return "";
	if (a && a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&a->ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
	} else if (a && a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)&a->ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

/* ---- load state ------------------------------------------------------- */

enum sec_kind { SEC_MESH, SEC_IDENTITY, SEC_SERVICE };

/* What the current line asked inih to do, so a missing handler call can be
 * recognised as a line inih rejected. */
enum line_kind { LINE_OTHER, LINE_KV, LINE_CONT };

struct raw_kv {
	char *key;
	char *val;
	int   line;
};

struct raw_sec {
	char          *name;   /* between the brackets: "service.web" */
	const char    *sub;    /* after the dot: "web" (points into name) */
	enum sec_kind  kind;
	int            line;
	struct raw_kv *kv;
	unsigned       nkv, capkv;
};

struct load_err {
	int       line;
	unsigned  seq;
	char     *msg;
};

enum key_state { KEY_UNSET = 0, KEY_OK, KEY_BAD };

/* Where each table key was written and whether it parsed. */
struct key_meta {
	int           line[MAX_KEYS];
	unsigned char state[MAX_KEYS];
};

struct load {
	const char     *path;       /* as the caller wrote it, for messages */
	char           *dir;        /* absolute directory of the file */
	FILE           *fp;
	char           *buf;
	size_t          bufcap;
	int             lineno;
	enum line_kind  kind;
	bool            handled;
	char            snippet[48];
	struct raw_sec *secs;
	unsigned        nsecs, capsecs;
	int             cur;        /* index into secs, CUR_NONE or CUR_VOID */
	int             last_kv;    /* key that continuation lines extend, or -1 */
	bool            prev_key;   /* mirrors inih's prev_name: a key since the header */
	struct load_err *errs;
	unsigned        nerrs, caperrs;
	bool            oom;
	struct config  *c;
};

__attribute__((format(printf, 4, 5)))
static void add_error(struct load *L, int line, const char *key, const char *fmt, ...)
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

static char *ld_strdup(struct load *L, const char *s)
{
	char *d = strdup(s);

	if (!d)
		L->oom = true;
	return d;
}

/* "[service.web]" for section-level messages. */
static const char *sec_label(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "[%s]", name);
	return buf;
}

/* ---- phase 1: reading ------------------------------------------------- */

/* inih rejected the previous line if it was a key line and no handler ran. */
static void finish_line(struct load *L)
{
	if (L->kind == LINE_KV && !L->handled)
		add_error(L, L->lineno, L->snippet, "malformed line, expected \"key = value\"");
	L->kind = LINE_OTHER;
}

/* An indented line is a key of its own when it reads "identifier =" (or ':',
 * inih's other separator); otherwise it continues the previous value. */
static bool looks_like_key(const char *t)
{
	if (!is_lower(*t) && !(*t >= 'A' && *t <= 'Z') && *t != '_')
		return false;
	while (is_lower(*t) || (*t >= 'A' && *t <= 'Z') || is_digit(*t) || *t == '_')
		t++;
	t = skip_space(t);
	return *t == '=' || *t == ':';
}

static void section_header(struct load *L, const char *t)
{
	const char *close = strchr(t, ']'), *rest, *s, *e;
	char label[CFG_NAME_MAX + 32];
	struct raw_sec *sec;
	enum sec_kind kind;
	char *name;
	size_t n;

	L->prev_key = false;
	L->last_kv = -1;
	L->cur = CUR_VOID;
	if (!close) {
		add_error(L, L->lineno, L->snippet, "malformed section header, missing ']'");
		return;
	}
	s = skip_space(t + 1);
	e = close;
	while (e > s && is_space(e[-1]))
		e--;
	n = (size_t)(e - s);
	name = malloc(n + 1);
	if (!name) {
		L->oom = true;
		return;
	}
	memcpy(name, s, n);
	name[n] = '\0';
	sec_label(name, label, sizeof(label));

	rest = skip_space(close + 1);
	if (*rest && *rest != ';' && *rest != '#')
		add_error(L, L->lineno, label, "unexpected text after ']'");

	if (strcmp(name, "mesh") == 0) {
		kind = SEC_MESH;
	} else if (strncmp(name, "identity.", 9) == 0) {
		kind = SEC_IDENTITY;
	} else if (strncmp(name, "service.", 8) == 0) {
		kind = SEC_SERVICE;
	} else if (strcmp(name, "identity") == 0 || strcmp(name, "service") == 0) {
		add_error(L, L->lineno, label, "section needs a name: [%s.NAME]", name);
		free(name);
		return;
	} else {
		add_error(L, L->lineno, label,
		          "unknown section (expected [mesh], [identity.NAME] or [service.NAME])");
		free(name);
		return;
	}
	for (unsigned i = 0; i < L->nsecs; i++) {
		if (strcmp(L->secs[i].name, name) == 0) {
			add_error(L, L->lineno, label, "duplicate section (first at line %d)",
			          L->secs[i].line);
			free(name);
			return;
		}
	}
	if (L->nsecs == L->capsecs) {
		unsigned cap = L->capsecs ? L->capsecs * 2 : 8;
		struct raw_sec *ns = realloc(L->secs, cap * sizeof(*ns));
		if (!ns) {
			free(name);
			L->oom = true;
			return;
		}
		L->secs = ns;
		L->capsecs = cap;
	}
	sec = &L->secs[L->nsecs];
	memset(sec, 0, sizeof(*sec));
	sec->name = name;
	sec->kind = kind;
	sec->line = L->lineno;
	sec->sub = kind == SEC_MESH ? name : strchr(name, '.') + 1;
	if (kind != SEC_MESH && !is_name(sec->sub))
		add_error(L, L->lineno, label,
		          "invalid name '%.64s' (1..63 characters of a-z, 0-9, '-')", sec->sub);
	L->cur = (int)L->nsecs++;
}

static char *blank_line(char *str, int num)
{
	if (num >= 2) {
		str[0] = '\n';
		str[1] = '\0';
	} else if (num >= 1) {
		str[0] = '\0';
	}
	return str;
}

/* The ini_reader in front of inih: one physical line per call. */
static char *line_reader(char *str, int num, void *stream)
{
	struct load *L = stream;
	const char *t;
	bool cont;
	ssize_t got;
	size_t len, tl;
	char *s;

	finish_line(L);
	got = getline(&L->buf, &L->bufcap, L->fp);
	if (got == -1)
		return NULL;
	L->lineno++;
	L->handled = false;
	s = L->buf;
	len = (size_t)got;
	if (len && s[len - 1] == '\n')
		s[--len] = '\0';
	if (len && s[len - 1] == '\r')
		s[--len] = '\0';
	if (L->lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		len -= 3;
	}
	t = skip_space(s);
	snprintf(L->snippet, sizeof(L->snippet), "%s", t);
	if (strlen(s) != len) {
		add_error(L, L->lineno, "line", "contains a NUL byte");
		L->last_kv = -1;
		return blank_line(str, num);
	}
	if (*t == '\0' || *t == '#' || *t == ';')
		return blank_line(str, num);
	if (*t == '[') {
		section_header(L, t);
		return blank_line(str, num);
	}
	cont = t > s && L->prev_key && !looks_like_key(t);
	if (cont) {
		/* inih strips "  ; comment" from key lines only; do the same for
		 * continuation lines. */
		char *w = s + (t - s); /* t points into our own line buffer */
		for (char *c = w + 1; *c; c++) {
			if ((*c == ';' || *c == '#') && (c[-1] == ' ' || c[-1] == '\t')) {
				*c = '\0';
				break;
			}
		}
		char *e = w + strlen(w);
		while (e > w && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*t == '\0')
			return blank_line(str, num);
	}
	tl = strlen(t);
	if (tl + 3 > (size_t)num) {
		add_error(L, L->lineno, "line",
		          "too long (at most %d characters); continue long lists on indented lines",
		          num - 3);
		L->prev_key = true;   /* swallow its continuation lines */
		L->last_kv = -1;
		return blank_line(str, num);
	}
	/* Hand inih a de-indented key line, or a continuation with one space of
	 * indentation (all inih needs to see it as one). */
	L->kind = cont ? LINE_CONT : LINE_KV;
	len = 0;
	if (cont)
		str[len++] = ' ';
	memcpy(str + len, t, tl);
	len += tl;
	str[len++] = '\n';
	str[len] = '\0';
	return str;
}

static int add_kv(struct load *L, struct raw_sec *sec, const char *key, const char *val)
{
	struct raw_kv *kv;

	if (sec->nkv == sec->capkv) {
		unsigned cap = sec->capkv ? sec->capkv * 2 : 8;
		struct raw_kv *nk = realloc(sec->kv, cap * sizeof(*nk));
		if (!nk) {
			L->oom = true;
			return -1;
		}
		sec->kv = nk;
		sec->capkv = cap;
	}
	kv = &sec->kv[sec->nkv];
	kv->key = ld_strdup(L, key);
	kv->val = ld_strdup(L, val);
	kv->line = L->lineno;
	if (!kv->key || !kv->val) {
		free(kv->key);
		free(kv->val);
		return -1;
	}
	return (int)sec->nkv++;
}

#if INI_HANDLER_LINENO
static int ini_handler_fn(void *user, const char *section, const char *name,
                          const char *value, int lineno)
#else
static int ini_handler_fn(void *user, const char *section, const char *name,
                          const char *value)
#endif
{
	struct load *L = user;
	struct raw_sec *sec;

	(void)section;    /* we track sections ourselves, untruncated */
#if INI_HANDLER_LINENO
	(void)lineno;
#endif
	L->handled = true;
	if (!name)        /* builds with INI_CALL_HANDLER_ON_NEW_SECTION */
		return 1;
	if (!value)
		value = "";
	if (L->kind == LINE_CONT) {
		if (L->cur >= 0 && L->last_kv >= 0) {
			struct raw_kv *kv = &L->secs[L->cur].kv[L->last_kv];
			char *joined = join3(kv->val, " ", value);
			if (!joined) {
				L->oom = true;
				return 1;
			}
			free(kv->val);
			kv->val = joined;
		}
		return 1;
	}
	L->prev_key = true;
	L->last_kv = -1;
	if (L->cur == CUR_VOID)
		return 1;
	if (L->cur == CUR_NONE) {
		add_error(L, L->lineno, name, "key outside of any section");
		return 1;
	}
	if (!*name) {
		add_error(L, L->lineno, L->snippet, "missing key name before '='");
		return 1;
	}
	sec = &L->secs[L->cur];
	for (unsigned i = 0; i < sec->nkv; i++) {
		if (strcmp(sec->kv[i].key, name) == 0) {
			add_error(L, L->lineno, name, "duplicate key (first at line %d)",
			          sec->kv[i].line);
			return 1;
		}
	}
	L->last_kv = add_kv(L, sec, name, value);
	return 1;
}

/* ---- phase 2: the tables ---------------------------------------------- */

struct cfg_key;
typedef int (*cfg_parse_fn)(struct load *L, void *obj, const struct cfg_key *k,
                            const char *val, char *why, size_t whylen);

#define CFG_F_REQUIRED  0x1u   /* missing key is an error at the section line */
#define CFG_F_INHERIT   0x2u   /* unset: copy the [mesh] value at `inherit` */
#define CFG_F_LOOPBACK  0x4u   /* address must be a loopback address */

struct cfg_key {
	const char   *name;
	cfg_parse_fn  parse;
	size_t        off;      /* field in the section's struct */
	size_t        aux;      /* second field for parsers that need one */
	unsigned      flags;
	const char   *def;      /* default, parsed by `parse`; NULL: none or special */
	size_t        inherit;  /* CFG_F_INHERIT: field in struct config */
	size_t        size;     /* CFG_F_INHERIT: bytes to copy */
};

#define FIELD(obj, off, type) ((type *)(void *)((char *)(obj) + (off)))

static int set_string(void *obj, size_t off, const char *val, char *why, size_t whylen)
{
	char *d = strdup(val);

	if (!d) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	free(*FIELD(obj, off, char *));
	*FIELD(obj, off, char *) = d;
	return 0;
}

static int p_host(struct load *L, void *obj, const struct cfg_key *k,
                  const char *val, char *why, size_t whylen)
{
	(void)L;
	if (!*val || strlen(val) > 255) {
		snprintf(why, whylen, "host must be 1..255 characters");
		return -1;
	}
	for (const char *p = val; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(why, whylen, "host '%.64s' contains whitespace or control characters", val);
			return -1;
		}
	}
	return set_string(obj, k->off, val, why, whylen);
}

/* A path meshd writes (traffic log, route snapshot); relative paths are
 * relative to the config file like every other path, "-" stays as is. */
static int p_outpath(struct load *L, void *obj, const struct cfg_key *k,
                     const char *val, char *why, size_t whylen)
{
	if (!*val) {
		snprintf(why, whylen, "empty value");
		return -1;
	}
	if (val[0] == '/' || strcmp(val, "-") == 0)
		return set_string(obj, k->off, val, why, whylen);
	char *abs = join3(L->dir, "/", val);
	if (!abs) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	int rc = set_string(obj, k->off, abs, why, whylen);
	free(abs);
	return rc;
}

/* A readable regular file; relative paths are relative to the config file. */
static int p_file(struct load *L, void *obj, const struct cfg_key *k,
                  const char *val, char *why, size_t whylen)
{
	struct stat st;
	char *abs;

	if (!*val) {
		snprintf(why, whylen, "empty value");
		return -1;
	}
	abs = val[0] == '/' ? strdup(val) : join3(L->dir, "/", val);
	if (!abs) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (access(abs, R_OK) == -1 || stat(abs, &st) == -1) {
		snprintf(why, whylen, "cannot read '%.160s': %s", abs, strerror(errno));
		free(abs);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "'%.160s' is not a regular file", abs);
		free(abs);
		return -1;
	}
	free(*FIELD(obj, k->off, char *));
	*FIELD(obj, k->off, char *) = abs;
	return 0;
}

/* [a-z0-9.-]+ */
static int p_trust_domain(struct load *L, void *obj, const struct cfg_key *k,
                          const char *val, char *why, size_t whylen)
{
	(void)L;
	if (!*val || strlen(val) > 255) {
		snprintf(why, whylen, "trust domain must be 1..255 characters");
		return -1;
	}
	for (const char *p = val; *p; p++) {
		if (!is_lower(*p) && !is_digit(*p) && *p != '.' && *p != '-') {
			snprintf(why, whylen, "invalid trust domain '%.64s' (use a-z, 0-9, '.', '-')", val);
			return -1;
		}
	}
	return set_string(obj, k->off, val, why, whylen);
}

/* [a-z0-9.-]*, no leading or trailing dot; "" (or a literal "") is none. */
static int p_suffix(struct load *L, void *obj, const struct cfg_key *k,
                    const char *val, char *why, size_t whylen)
{
	size_t n;

	(void)L;
	if (strcmp(val, "\"\"") == 0)
		val = "";
	n = strlen(val);
	if (n > 253) {
		snprintf(why, whylen, "suffix longer than 253 characters");
		return -1;
	}
	for (const char *p = val; *p; p++) {
		if (!is_lower(*p) && !is_digit(*p) && *p != '.' && *p != '-') {
			snprintf(why, whylen, "invalid suffix '%.64s' (use a-z, 0-9, '.', '-')", val);
			return -1;
		}
	}
	if (n && (val[0] == '.' || val[n - 1] == '.' || strstr(val, ".."))) {
		snprintf(why, whylen, "invalid suffix '%.64s' (no leading, trailing or double dot)", val);
		return -1;
	}
	return set_string(obj, k->off, val, why, whylen);
}

static bool is_loopback(const struct cfg_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
	if (a->ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_addr);
	return false;
}

/* ADDR:PORT or "off"; `aux` is the bool that says whether it is on. */
static int p_listen(struct load *L, void *obj, const struct cfg_key *k,
                    const char *val, char *why, size_t whylen)
{
	struct cfg_addr a;

	(void)L;
	if (strcmp(val, "off") == 0) {
		memset(FIELD(obj, k->off, struct cfg_addr), 0, sizeof(a));
		*FIELD(obj, k->aux, bool) = false;
		return 0;
	}
	if (config_parse_addr(val, &a) == -1) {
		snprintf(why, whylen, "invalid address '%.64s' (expected IPv4:PORT, [IPv6]:PORT or off)", val);
		return -1;
	}
	if ((k->flags & CFG_F_LOOPBACK) && !is_loopback(&a)) {
		snprintf(why, whylen, "'%.64s' is not a loopback address (the %s listener stays local)",
		         val, k->name);
		return -1;
	}
	*FIELD(obj, k->off, struct cfg_addr) = a;
	*FIELD(obj, k->aux, bool) = true;
	return 0;
}

/* IPv4 CIDR, prefix 8..30, host bits clear; `aux` is the prefix. */
static int p_cidr(struct load *L, void *obj, const struct cfg_key *k,
                  const char *val, char *why, size_t whylen)
{
	const char *slash = strchr(val, '/');
	char host[INET_ADDRSTRLEN];
	struct in_addr net;
	unsigned long prefix;
	uint32_t mask;
	size_t n;

	(void)L;
	n = slash ? (size_t)(slash - val) : 0;
	if (!slash || n == 0 || n >= sizeof(host)) {
		snprintf(why, whylen, "invalid range '%.64s' (expected IPv4 CIDR like 127.77.0.0/16)", val);
		return -1;
	}
	memcpy(host, val, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &net) != 1 || !parse_ulong(slash + 1, 32, &prefix)) {
		snprintf(why, whylen, "invalid range '%.64s' (expected IPv4 CIDR like 127.77.0.0/16)", val);
		return -1;
	}
	if (prefix < 8 || prefix > 30) {
		snprintf(why, whylen, "prefix /%lu out of range (8..30)", prefix);
		return -1;
	}
	mask = ~0u << (32 - prefix);
	if (ntohl(net.s_addr) & ~mask) {
		struct in_addr fixed = { .s_addr = htonl(ntohl(net.s_addr) & mask) };
		char buf[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &fixed, buf, sizeof(buf));
		snprintf(why, whylen, "host bits set in '%.64s' (network address is %s/%lu)",
		         val, buf, prefix);
		return -1;
	}
	if ((ntohl(net.s_addr) >> 24) != 127) {
		/* VIPs are loopback addresses (meshd listens on them, and the
		 * shim never answers a name with anything else). */
		snprintf(why, whylen, "'%.64s' is not inside 127.0.0.0/8 (VIPs are loopback addresses)",
		         val);
		return -1;
	}
	*FIELD(obj, k->off, struct in_addr) = net;
	*FIELD(obj, k->aux, unsigned) = (unsigned)prefix;
	return 0;
}

static int p_duration(struct load *L, void *obj, const struct cfg_key *k,
                      const char *val, char *why, size_t whylen)
{
	double s;

	(void)L;
	if (config_parse_duration(val, &s) == -1) {
		snprintf(why, whylen, "invalid duration '%.64s' (a number > 0 with ms, s, m or h; bare = seconds)",
		         val);
		return -1;
	}
	*FIELD(obj, k->off, double) = s;
	return 0;
}

static int p_retries(struct load *L, void *obj, const struct cfg_key *k,
                     const char *val, char *why, size_t whylen)
{
	unsigned long v;

	(void)L;
	if (!parse_ulong(val, 10, &v)) {
		snprintf(why, whylen, "invalid retries '%.64s' (0..10)", val);
		return -1;
	}
	*FIELD(obj, k->off, unsigned) = (unsigned)v;
	return 0;
}

static int p_workers(struct load *L, void *obj, const struct cfg_key *k,
                     const char *val, char *why, size_t whylen)
{
	unsigned long v;

	(void)L;
	if (strcmp(val, "auto") == 0) {
		*FIELD(obj, k->off, unsigned) = 0;
		return 0;
	}
	if (!parse_ulong(val, 64, &v) || v == 0) {
		snprintf(why, whylen, "invalid workers '%.64s' (1..64 or auto)", val);
		return -1;
	}
	*FIELD(obj, k->off, unsigned) = (unsigned)v;
	return 0;
}

/* A limit: a count 1..10000000; k->aux != 0 also takes "auto" (stored as
 * 0, resolved at start-up from the descriptor limit). */
static int p_limit(struct load *L, void *obj, const struct cfg_key *k,
                   const char *val, char *why, size_t whylen)
{
	unsigned long v;

	(void)L;
	if (k->aux && strcmp(val, "auto") == 0) {
		*FIELD(obj, k->off, unsigned) = 0;
		return 0;
	}
	if (!parse_ulong(val, 10000000, &v) || v == 0) {
		snprintf(why, whylen, "invalid %s '%.64s' (1..10000000%s)", k->name, val,
		         k->aux ? " or auto" : "");
		return -1;
	}
	*FIELD(obj, k->off, unsigned) = (unsigned)v;
	return 0;
}

/* A service's max_connections: a count, or 0 / "none" for no limit. */
static int p_maxconn(struct load *L, void *obj, const struct cfg_key *k,
                     const char *val, char *why, size_t whylen)
{
	unsigned long v;

	(void)L;
	if (strcmp(val, "none") == 0) {
		*FIELD(obj, k->off, unsigned) = 0;
		return 0;
	}
	if (!parse_ulong(val, 10000000, &v)) {
		snprintf(why, whylen, "invalid max_connections '%.64s' (0..10000000 or none)", val);
		return -1;
	}
	*FIELD(obj, k->off, unsigned) = (unsigned)v;
	return 0;
}

static int p_lb(struct load *L, void *obj, const struct cfg_key *k,
                const char *val, char *why, size_t whylen)
{
	(void)L;
	if (strcmp(val, "round_robin") == 0) {
		*FIELD(obj, k->off, enum cfg_lb) = CFG_LB_ROUND_ROBIN;
		return 0;
	}
	snprintf(why, whylen, "unknown lb '%.64s' (accepted: round_robin)", val);
	return -1;
}

static int p_name(struct load *L, void *obj, const struct cfg_key *k,
                  const char *val, char *why, size_t whylen)
{
	(void)L;
	if (!is_name(val)) {
		snprintf(why, whylen, "invalid name '%.64s' (1..63 characters of a-z, 0-9, '-')", val);
		return -1;
	}
	return set_string(obj, k->off, val, why, whylen);
}

static int p_vip(struct load *L, void *obj, const struct cfg_key *k,
                 const char *val, char *why, size_t whylen)
{
	struct cfg_service *s = obj;
	struct in_addr a;

	(void)L;
	(void)k;
	if (inet_pton(AF_INET, val, &a) != 1) {
		snprintf(why, whylen, "invalid vip '%.64s' (expected an IPv4 address)", val);
		return -1;
	}
	s->vip = a;
	s->vip_fixed = true;
	return 0;
}

/* 0 found, 1 no such user, -1 lookup failed (errno set). */
static int lookup_user(const char *name, uid_t *uid)
{
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	struct passwd pw, *res = NULL;
	char *buf = NULL;
	int rc;

	if (sz < 1024)
		sz = 16384;
	for (;;) {
		char *nb = realloc(buf, (size_t)sz);
		if (!nb) {
			free(buf);
			errno = ENOMEM;
			return -1;
		}
		buf = nb;
		rc = getpwnam_r(name, &pw, buf, (size_t)sz, &res);
		if (rc != ERANGE || sz > (1L << 20))
			break;
		sz *= 2;
	}
	free(buf);
	if (res) {
		*uid = pw.pw_uid;
		return 0;
	}
	if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)
		return 1;
	errno = rc;
	return -1;
}

/*
 * The token loop every list key shares. Each token of val goes to `one`,
 * with the element it may fill (zeroed) and the n elements kept so far (for
 * duplicate checks); `one` returns 1 to keep the element, 0 to skip the
 * token (a '*'), -1 on error (why filled, nothing of the element left to
 * free). On success *out holds the n elements and *ntok the tokens seen;
 * on failure `drop` (NULL: plain free) frees the elements kept.
 */
typedef int (*list_elem_fn)(char *tok, const void *kept, unsigned n, void *elem, void *ctx,
                            char *why, size_t whylen);

static int parse_list(const char *val, size_t size, list_elem_fn one, void *ctx,
                      void (*drop)(void *, unsigned), void **out, unsigned *nout,
                      unsigned *ntok, char *why, size_t whylen)
{
	char *copy = strdup(val), *cur = copy, *tok;
	unsigned char *arr = NULL;
	unsigned n = 0, cap = 0, count = 0;

	if (!copy)
		goto oom;
	while ((tok = next_token(&cur))) {
		count++;
		if (n == cap) {
			void *g = grow(arr, &cap, size);
			if (!g)
				goto oom;
			arr = g;
		}
		memset(arr + (size_t)n * size, 0, size);
		int rc = one(tok, arr, n, arr + (size_t)n * size, ctx, why, whylen);
		if (rc < 0)
			goto fail;
		n += (unsigned)rc;
	}
	free(copy);
	*out = arr;
	*nout = n;
	if (ntok)
		*ntok = count;
	return 0;
oom:
	snprintf(why, whylen, "out of memory");
fail:
	free(copy);
	if (drop)
		drop(arr, n);
	else
		free(arr);
	return -1;
}

/* uids: numbers, user names, or '*' (ctx: bool *any). */
static int uid_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx,
                    char *why, size_t whylen)
{
	const uid_t *uids = kept;
	uid_t u;
	unsigned long v;

	if (strcmp(tok, "*") == 0) {
		*(bool *)ctx = true;
		return 0;
	}
	if (is_digit(tok[0])) {
		if (!parse_ulong(tok, (unsigned long)(uid_t)-2, &v)) {
			snprintf(why, whylen, "invalid uid '%.64s'", tok);
			return -1;
		}
		u = (uid_t)v;
	} else {
		int rc = lookup_user(tok, &u);
		if (rc == 1) {
			snprintf(why, whylen, "unknown user '%.64s'", tok);
			return -1;
		}
		if (rc == -1) {
			snprintf(why, whylen, "cannot look up user '%.64s': %s", tok, strerror(errno));
			return -1;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (uids[i] == u) {
			snprintf(why, whylen, "uid %lu listed twice", (unsigned long)u);
			return -1;
		}
	}
	*(uid_t *)elem = u;
	return 1;
}

static int p_uids(struct load *L, void *obj, const struct cfg_key *k,
                  const char *val, char *why, size_t whylen)
{
	struct cfg_identity *id = obj;
	void *uids;
	unsigned n, ntok;
	bool any = false;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(uid_t), uid_elem, &any, NULL, &uids, &n, &ntok, why,
	               whylen) == -1)
		return -1;
	if (ntok == 0 || (any && n)) {
		snprintf(why, whylen, ntok == 0 ? "empty list (give uids, user names or '*')"
		                                : "'*' cannot be combined with other uids");
		free(uids);
		return -1;
	}
	free(id->uids);
	id->uids = uids;
	id->nuids = n;
	id->any_uid = any;
	return 0;
}

static int port_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx,
                     char *why, size_t whylen)
{
	const uint16_t *ports = kept;
	unsigned long p;

	(void)ctx;
	if (!parse_ulong(tok, 65535, &p) || p == 0) {
		snprintf(why, whylen, "invalid port '%.64s' (1..65535)", tok);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (ports[i] == p) {
			snprintf(why, whylen, "port %lu listed twice", p);
			return -1;
		}
	}
	if (n == CFG_MAX_PORTS) {
		snprintf(why, whylen, "more than %d ports", CFG_MAX_PORTS);
		return -1;
	}
	*(uint16_t *)elem = (uint16_t)p;
	return 1;
}

static int p_ports(struct load *L, void *obj, const struct cfg_key *k,
                   const char *val, char *why, size_t whylen)
{
	struct cfg_service *s = obj;
	void *ports;
	unsigned n;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(uint16_t), port_elem, NULL, NULL, &ports, &n, NULL, why,
	               whylen) == -1)
		return -1;
	if (n == 0) {
		snprintf(why, whylen, "no ports given (1..%d)", CFG_MAX_PORTS);
		free(ports);
		return -1;
	}
	memcpy(s->ports, ports, n * sizeof(uint16_t));
	s->nports = n;
	free(ports);
	return 0;
}

static void free_endpoints(struct cfg_endpoint *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(e[i].text);
	free(e);
}

static void drop_endpoints(void *e, unsigned n)
{
	free_endpoints(e, n);
}

static int endpoint_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx,
                         char *why, size_t whylen)
{
	const struct cfg_endpoint *eps = kept;
	struct cfg_endpoint e = { .weight = 1 };
	char *star = strrchr(tok, '*');
	unsigned long w;

	(void)ctx;
	if (star) {
		*star = '\0';
		if (!parse_ulong(star + 1, 1000, &w) || w == 0) {
			snprintf(why, whylen, "invalid weight '%.32s' in '%.64s*%.32s' (1..1000)",
			         star + 1, tok, star + 1);
			return -1;
		}
		e.weight = (unsigned)w;
	}
	if (strcmp(tok, "local") == 0) {
		e.local = true;
	} else if (config_parse_addr(tok, &e.addr) == -1) {
		snprintf(why, whylen,
		         "invalid endpoint '%.64s' (expected IPv4:PORT, [IPv6]:PORT or local, optional *WEIGHT)",
		         tok);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (eps[i].local == e.local && (e.local || addr_eq(&eps[i].addr, &e.addr))) {
			snprintf(why, whylen, "endpoint '%.64s' listed twice", tok);
			return -1;
		}
	}
	if (!(e.text = strdup(tok))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	*(struct cfg_endpoint *)elem = e;
	return 1;
}

static int p_endpoints(struct load *L, void *obj, const struct cfg_key *k,
                       const char *val, char *why, size_t whylen)
{
	struct cfg_service *s = obj;
	void *eps;
	unsigned n;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(struct cfg_endpoint), endpoint_elem, NULL, drop_endpoints,
	               &eps, &n, NULL, why, whylen) == -1)
		return -1;
	free_endpoints(s->endpoints, s->nendpoints);
	s->endpoints = eps;
	s->nendpoints = n;
	return 0;
}

static int intercept_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx,
                          char *why, size_t whylen)
{
	const struct cfg_addr *as = kept;
	struct cfg_addr *a = elem;

	(void)ctx;
	if (config_parse_addr(tok, a) == -1) {
		snprintf(why, whylen, "invalid address '%.64s' (expected IPv4:PORT or [IPv6]:PORT)", tok);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (addr_eq(&as[i], a)) {
			snprintf(why, whylen, "'%.64s' listed twice", tok);
			return -1;
		}
	}
	return 1;
}

static int p_intercepts(struct load *L, void *obj, const struct cfg_key *k,
                        const char *val, char *why, size_t whylen)
{
	struct cfg_service *s = obj;
	void *as;
	unsigned n;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(struct cfg_addr), intercept_elem, NULL, NULL, &as, &n, NULL,
	               why, whylen) == -1)
		return -1;
	free(s->intercepts);
	s->intercepts = as;
	s->nintercepts = n;
	return 0;
}

/* ADDR:PORT for every port, and/or PORT=ADDR:PORT for one. */
static int upstream_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx,
                         char *why, size_t whylen)
{
	const struct cfg_upstream *ups = kept;
	struct cfg_upstream *u = elem;
	char *eq = strchr(tok, '='), *addr = tok;
	unsigned long p;

	(void)ctx;
	if (eq) {
		*eq = '\0';
		addr = eq + 1;
		if (!parse_ulong(tok, 65535, &p) || p == 0) {
			snprintf(why, whylen, "invalid port '%.64s' before '=' (1..65535)", tok);
			return -1;
		}
		u->port = (uint16_t)p;
	}
	if (config_parse_addr(addr, &u->addr) == -1) {
		snprintf(why, whylen,
		         "invalid upstream '%.64s' (expected ADDR:PORT or PORT=ADDR:PORT)", addr);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (ups[i].port == u->port) {
			if (u->port)
				snprintf(why, whylen, "port %u given twice", (unsigned)u->port);
			else
				snprintf(why, whylen, "more than one upstream for every port");
			return -1;
		}
	}
	return 1;
}

static int p_upstream(struct load *L, void *obj, const struct cfg_key *k,
                      const char *val, char *why, size_t whylen)
{
	struct cfg_service *s = obj;
	void *ups;
	unsigned n;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(struct cfg_upstream), upstream_elem, NULL, NULL, &ups, &n,
	               NULL, why, whylen) == -1)
		return -1;
	if (n == 0) {
		snprintf(why, whylen, "empty value");
		free(ups);
		return -1;
	}
	free(s->upstreams);
	s->upstreams = ups;
	s->nupstreams = n;
	return 0;
}

static void free_strv(char **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void drop_strv(void *v, unsigned n)
{
	free_strv(v, n);
}

/* Identity names or '*' (ctx: bool *any). Syntax only: callers are defined
 * on their hosts. */
static int allow_elem(char *tok, const void *kept, unsigned n, void *elem, void *ctx,
                      char *why, size_t whylen)
{
	char *const *names = kept;

	if (strcmp(tok, "*") == 0) {
		*(bool *)ctx = true;
		return 0;
	}
	if (!is_name(tok)) {
		snprintf(why, whylen, "invalid identity name '%.64s' (1..63 characters of a-z, 0-9, '-')",
		         tok);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(names[i], tok) == 0) {
			snprintf(why, whylen, "'%.64s' listed twice", tok);
			return -1;
		}
	}
	if (!(*(char **)elem = strdup(tok))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 1;
}

static int p_allow(struct load *L, void *obj, const struct cfg_key *k,
                   const char *val, char *why, size_t whylen)
{
	struct cfg_service *s = obj;
	void *names;
	unsigned n;
	bool any = false;

	(void)L;
	(void)k;
	if (parse_list(val, sizeof(char *), allow_elem, &any, drop_strv, &names, &n, NULL, why,
	               whylen) == -1)
		return -1;
	if (any && n) {
		snprintf(why, whylen, "'*' cannot be combined with names");
		free_strv(names, n);
		return -1;
	}
	free_strv(s->allow, s->nallow);
	s->allow = names;
	s->nallow = n;
	s->allow_any = any;
	return 0;
}

#define CO(f)  offsetof(struct config, f)
#define IO(f)  offsetof(struct cfg_identity, f)
#define SO(f)  offsetof(struct cfg_service, f)

enum { MK_TRUST_DOMAIN, MK_HOST, MK_CA, MK_INBOUND, MK_ADMIN, MK_LOG, MK_VIP_RANGE,
       MK_SNAPSHOT, MK_SUFFIX, MK_CONNECT_TIMEOUT, MK_RETRIES, MK_IDLE_TIMEOUT,
       MK_DRAIN_TIMEOUT, MK_WORKERS, MK_CONTROL, MK_HANDSHAKE_TIMEOUT, MK_MAX_HANDSHAKES,
       MK_MAX_HANDSHAKES_PER_SOURCE, MK_MAX_STREAMS_PER_LINK, MK_MAX_CONNS_PER_UID,
       MK_MAX_CONNS_PER_PEER, MK_MAX_CONTROL_PER_UID, MK_MAX_PENDING_PER_CONTROL,
       MK_MAX_PENDING_PER_UID, MK_COUNT };

static const struct cfg_key mesh_keys[MK_COUNT] = {
	[MK_TRUST_DOMAIN]    = { "trust_domain", p_trust_domain, CO(trust_domain), 0, CFG_F_REQUIRED, NULL, 0, 0 },
	[MK_HOST]            = { "host", p_host, CO(host), 0, 0, NULL /* gethostname() */, 0, 0 },
	[MK_CA]              = { "ca", p_file, CO(ca), 0, CFG_F_REQUIRED, NULL, 0, 0 },
	[MK_INBOUND]         = { "inbound", p_listen, CO(inbound), CO(inbound_on), 0, "0.0.0.0:15443", 0, 0 },
	[MK_ADMIN]           = { "admin", p_listen, CO(admin), CO(admin_on), CFG_F_LOOPBACK, "127.0.0.1:15000", 0, 0 },
	[MK_LOG]             = { "log", p_outpath, CO(log), 0, 0, "/var/log/libmesh/traffic.log", 0, 0 },
	[MK_VIP_RANGE]       = { "vip_range", p_cidr, CO(vip_net), CO(vip_prefix), 0, "127.77.0.0/16", 0, 0 },
	[MK_SNAPSHOT]        = { "snapshot", p_outpath, CO(snapshot), 0, 0, "/run/libmesh/routes", 0, 0 },
	[MK_SUFFIX]          = { "suffix", p_suffix, CO(suffix), 0, 0, "mesh", 0, 0 },
	[MK_CONNECT_TIMEOUT] = { "connect_timeout", p_duration, CO(connect_timeout), 0, 0, "1s", 0, 0 },
	[MK_RETRIES]         = { "retries", p_retries, CO(retries), 0, 0, "2", 0, 0 },
	[MK_IDLE_TIMEOUT]    = { "idle_timeout", p_duration, CO(idle_timeout), 0, 0, "1h", 0, 0 },
	[MK_DRAIN_TIMEOUT]   = { "drain_timeout", p_duration, CO(drain_timeout), 0, 0, "30s", 0, 0 },
	[MK_WORKERS]         = { "workers", p_workers, CO(workers), 0, 0, "1", 0, 0 },
	[MK_CONTROL]         = { "control", p_outpath, CO(control), 0, 0, NULL /* SNAPSHOT.ctl */, 0, 0 },
	[MK_HANDSHAKE_TIMEOUT] = { "handshake_timeout", p_duration, CO(handshake_timeout), 0, 0, "3s", 0, 0 },
	[MK_MAX_HANDSHAKES]  = { "max_handshakes", p_limit, CO(max_handshakes), 0, 0, "256", 0, 0 },
	[MK_MAX_HANDSHAKES_PER_SOURCE] = { "max_handshakes_per_source", p_limit,
	                         CO(max_handshakes_per_source), 0, 0, "32", 0, 0 },
	[MK_MAX_STREAMS_PER_LINK] = { "max_streams_per_link", p_limit, CO(max_streams_per_link), 0, 0,
	                         "512", 0, 0 },
	[MK_MAX_CONNS_PER_UID] = { "max_connections_per_uid", p_limit, CO(max_conns_per_uid), 1, 0,
	                         "auto", 0, 0 },
	[MK_MAX_CONNS_PER_PEER] = { "max_connections_per_peer", p_limit, CO(max_conns_per_peer), 1, 0,
	                         "auto", 0, 0 },
	[MK_MAX_CONTROL_PER_UID] = { "max_control_per_uid", p_limit, CO(max_control_per_uid), 0, 0,
	                         "128", 0, 0 },
	[MK_MAX_PENDING_PER_CONTROL] = { "max_pending_per_control", p_limit,
	                         CO(max_pending_per_control), 0, 0, "1024", 0, 0 },
	[MK_MAX_PENDING_PER_UID] = { "max_pending_per_uid", p_limit, CO(max_pending_per_uid), 0, 0,
	                         "8192", 0, 0 },
};

enum { IK_UIDS, IK_CERT, IK_KEY, IK_COUNT };

static const struct cfg_key identity_keys[IK_COUNT] = {
	[IK_UIDS] = { "uids", p_uids, IO(uids), 0, CFG_F_REQUIRED, NULL, 0, 0 },
	[IK_CERT] = { "cert", p_file, IO(cert), 0, CFG_F_REQUIRED, NULL, 0, 0 },
	[IK_KEY]  = { "key", p_file, IO(key), 0, CFG_F_REQUIRED, NULL, 0, 0 },
};

enum { SK_PORTS, SK_ENDPOINTS, SK_INTERCEPT, SK_VIP, SK_CONNECT_TIMEOUT, SK_RETRIES,
       SK_IDLE_TIMEOUT, SK_LB, SK_IDENTITY, SK_UPSTREAM, SK_ALLOW, SK_MAX_CONNECTIONS, SK_COUNT };

static const struct cfg_key service_keys[SK_COUNT] = {
	[SK_PORTS]           = { "ports", p_ports, SO(ports), 0, CFG_F_REQUIRED, NULL, 0, 0 },
	[SK_ENDPOINTS]       = { "endpoints", p_endpoints, SO(endpoints), 0, 0, NULL, 0, 0 },
	[SK_INTERCEPT]       = { "intercept", p_intercepts, SO(intercepts), 0, 0, NULL, 0, 0 },
	[SK_VIP]             = { "vip", p_vip, SO(vip), 0, 0, NULL /* assigned */, 0, 0 },
	[SK_CONNECT_TIMEOUT] = { "connect_timeout", p_duration, SO(connect_timeout), 0, CFG_F_INHERIT, NULL,
	                         CO(connect_timeout), sizeof(double) },
	[SK_RETRIES]         = { "retries", p_retries, SO(retries), 0, CFG_F_INHERIT, NULL,
	                         CO(retries), sizeof(unsigned) },
	[SK_IDLE_TIMEOUT]    = { "idle_timeout", p_duration, SO(idle_timeout), 0, CFG_F_INHERIT, NULL,
	                         CO(idle_timeout), sizeof(double) },
	[SK_LB]              = { "lb", p_lb, SO(lb), 0, 0, "round_robin", 0, 0 },
	[SK_IDENTITY]        = { "identity", p_name, SO(identity), 0, 0, NULL /* service name */, 0, 0 },
	[SK_UPSTREAM]        = { "upstream", p_upstream, SO(upstreams), 0, 0, NULL, 0, 0 },
	[SK_ALLOW]           = { "allow", p_allow, SO(allow), 0, 0, NULL /* deny all */, 0, 0 },
	[SK_MAX_CONNECTIONS] = { "max_connections", p_maxconn, SO(max_connections), 0, 0, "none", 0, 0 },
};

/* Parse one section through its table: values, unknown keys, defaults,
 * required keys, inheritance from [mesh]. */
static void apply_table(struct load *L, const struct cfg_key *tab, unsigned ntab,
                        const struct raw_sec *sec, const char *secname, int secline,
                        void *obj, struct key_meta *meta)
{
	char why[WHY_MAX];

	memset(meta, 0, sizeof(*meta));
	for (unsigned i = 0; sec && i < sec->nkv; i++) {
		const struct raw_kv *kv = &sec->kv[i];
		unsigned j;

		for (j = 0; j < ntab; j++)
			if (strcmp(tab[j].name, kv->key) == 0)
				break;
		if (j == ntab) {
			add_error(L, kv->line, kv->key, "unknown key in [%s]", secname);
			continue;
		}
		meta->line[j] = kv->line;
		why[0] = '\0';
		if (tab[j].parse(L, obj, &tab[j], kv->val, why, sizeof(why)) == 0) {
			meta->state[j] = KEY_OK;
		} else {
			meta->state[j] = KEY_BAD;
			add_error(L, kv->line, kv->key, "%s", why);
		}
	}
	for (unsigned j = 0; j < ntab; j++) {
		if (meta->state[j] != KEY_UNSET)
			continue;
		meta->line[j] = secline;
		if (tab[j].flags & CFG_F_REQUIRED) {
			meta->state[j] = KEY_BAD;
			add_error(L, secline, tab[j].name, "missing (required in [%s])", secname);
		} else if (tab[j].flags & CFG_F_INHERIT) {
			memcpy((char *)obj + tab[j].off, (char *)L->c + tab[j].inherit, tab[j].size);
		} else if (tab[j].def &&
		           tab[j].parse(L, obj, &tab[j], tab[j].def, why, sizeof(why)) == -1) {
			add_error(L, secline, tab[j].name, "default '%s': %s", tab[j].def, why);
		}
	}
}

/* ---- phase 3: validation across keys and sections --------------------- */

static const struct cfg_identity *find_identity(const struct config *c, const char *name)
{
	for (unsigned i = 0; i < c->nidentities; i++)
		if (c->identities[i].name && strcmp(c->identities[i].name, name) == 0)
			return &c->identities[i];
	return NULL;
}

static bool has_port(const struct cfg_service *s, uint16_t port)
{
	for (unsigned i = 0; i < s->nports; i++)
		if (s->ports[i] == port)
			return true;
	return false;
}

static void validate_identities(struct load *L, const struct key_meta *im)
{
	struct config *c = L->c;
	const struct cfg_identity *any = NULL;

	for (unsigned i = 0; i < c->nidentities; i++) {
		const struct cfg_identity *id = &c->identities[i];
		int line = im[i].line[IK_UIDS];
		bool reported = false;

		if (im[i].state[IK_UIDS] != KEY_OK)
			continue;
		if (id->any_uid) {
			if (any)
				add_error(L, line, "uids", "'*' is already used by identity '%s'", any->name);
			else
				any = id;
		}
		for (unsigned u = 0; u < id->nuids && !reported; u++) {
			for (unsigned j = 0; j < i && !reported; j++) {
				const struct cfg_identity *o = &c->identities[j];
				for (unsigned v = 0; v < o->nuids; v++) {
					if (o->uids[v] == id->uids[u]) {
						add_error(L, line, "uids", "uid %lu already belongs to identity '%s'",
						          (unsigned long)id->uids[u], o->name);
						reported = true;
						break;
					}
				}
			}
		}
	}
}

static void validate_services(struct load *L, const struct key_meta *sm)
{
	struct config *c = L->c;
	char a[64];

	for (unsigned i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		const struct key_meta *m = &sm[i];
		bool ports_ok = m->state[SK_PORTS] == KEY_OK;

		if (s->identity && s->nupstreams && !find_identity(c, s->identity))
			add_error(L, m->line[SK_IDENTITY], "identity",
			          "no [identity.%s] in this file; this host serves '%s' (upstream) and must present that identity's certificate",
			          s->identity, s->name);
		if (m->state[SK_ENDPOINTS] == KEY_OK && m->state[SK_UPSTREAM] != KEY_BAD &&
		    !s->nupstreams) {
			for (unsigned e = 0; e < s->nendpoints; e++) {
				if (s->endpoints[e].local) {
					add_error(L, m->line[SK_ENDPOINTS], "endpoints",
					          "'local' needs an upstream in [service.%s]", s->name);
					break;
				}
			}
		}
		if (ports_ok) {
			for (unsigned u = 0; u < s->nupstreams; u++)
				if (s->upstreams[u].port && !has_port(s, s->upstreams[u].port))
					add_error(L, m->line[SK_UPSTREAM], "upstream",
					          "port %u is not one of ports", (unsigned)s->upstreams[u].port);
			for (unsigned x = 0; x < s->nintercepts; x++) {
				uint16_t p = addr_port(&s->intercepts[x]);
				if (!has_port(s, p))
					add_error(L, m->line[SK_INTERCEPT], "intercept",
					          "%s: port %u is not one of ports",
					          config_addr_str(&s->intercepts[x], a, sizeof(a)), (unsigned)p);
			}
		}
		/* An intercepted address routes to exactly one service. */
		for (unsigned x = 0; x < s->nintercepts; x++) {
			for (unsigned j = 0; j < i; j++) {
				const struct cfg_service *o = &c->services[j];
				for (unsigned y = 0; y < o->nintercepts; y++) {
					if (addr_eq(&o->intercepts[y], &s->intercepts[x])) {
						add_error(L, m->line[SK_INTERCEPT], "intercept",
						          "%s is already intercepted by service '%s'",
						          config_addr_str(&s->intercepts[x], a, sizeof(a)), o->name);
					}
				}
			}
		}
	}
}

/* ---- phase 4: VIPs ---------------------------------------------------- */

static int cmp_svc_name(const void *a, const void *b)
{
	const struct cfg_service *x = *(const struct cfg_service *const *)a;
	const struct cfg_service *y = *(const struct cfg_service *const *)b;

	return strcmp(x->name, y->name);
}

struct vip_pool {
	uint32_t  net;     /* host order */
	uint32_t  size;    /* addresses in the range */
	uint32_t  usable;  /* size - 3: not network, not broadcast, not .1 */
	uint32_t  free;
	uint8_t  *taken;   /* bit per offset */
};

/* Offset into the range of a usable address, or 0. */
static uint32_t vip_offset(const struct vip_pool *p, struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr), off;

	if (h - p->net >= p->size)
		return 0;
	off = h - p->net;
	return off >= 2 && off <= p->size - 2 ? off : 0;
}

static bool vip_taken(const struct vip_pool *p, uint32_t off)
{
	return p->taken[off >> 3] & (1u << (off & 7));
}

static void vip_take(struct vip_pool *p, struct cfg_service *s, uint32_t off)
{
	p->taken[off >> 3] |= (uint8_t)(1u << (off & 7));
	p->free--;
	s->vip.s_addr = htonl(p->net + off);
}

/* Fixed VIPs first, then each service's previous VIP, then FNV-1a of the
 * name with linear probing, in name order so file order does not matter. */
static void assign_vips(struct load *L, config_prev_vip_fn prev, void *prev_arg,
                        const struct key_meta *sm)
{
	struct config *c = L->c;
	struct vip_pool pool;
	struct cfg_service **order = NULL;
	char range[INET_ADDRSTRLEN], vbuf[INET_ADDRSTRLEN];

	pool.net = ntohl(c->vip_net.s_addr);
	pool.size = 1u << (32 - c->vip_prefix);
	pool.usable = pool.size - 3;
	pool.free = pool.usable;
	pool.taken = calloc(pool.size / 8 + 1, 1);
	order = c->nservices ? calloc(c->nservices, sizeof(*order)) : NULL;
	if (!pool.taken || (c->nservices && !order)) {
		L->oom = true;
		goto out;
	}
	inet_ntop(AF_INET, &c->vip_net, range, sizeof(range));

	for (unsigned i = 0; i < c->nservices; i++) {
		struct cfg_service *s = &c->services[i];
		uint32_t off;

		if (!s->vip_fixed || sm[i].state[SK_VIP] != KEY_OK)
			continue;
		inet_ntop(AF_INET, &s->vip, vbuf, sizeof(vbuf));
		off = vip_offset(&pool, s->vip);
		if (!off) {
			if (ntohl(s->vip.s_addr) - pool.net >= pool.size)
				add_error(L, sm[i].line[SK_VIP], "vip", "%s is outside vip_range %s/%u",
				          vbuf, range, c->vip_prefix);
			else
				add_error(L, sm[i].line[SK_VIP], "vip",
				          "%s is reserved in vip_range %s/%u (network, broadcast or first address)",
				          vbuf, range, c->vip_prefix);
			continue;
		}
		if (vip_taken(&pool, off)) {
			const char *owner = "?";
			for (unsigned j = 0; j < i; j++)
				if (c->services[j].vip_fixed && c->services[j].vip.s_addr == s->vip.s_addr)
					owner = c->services[j].name;
			add_error(L, sm[i].line[SK_VIP], "vip", "%s is already used by service '%s'",
			          vbuf, owner);
			continue;
		}
		vip_take(&pool, s, off);
	}

	for (unsigned i = 0; i < c->nservices; i++)
		order[i] = &c->services[i];
	if (c->nservices)
		qsort(order, c->nservices, sizeof(*order), cmp_svc_name);

	if (prev) {
		for (unsigned i = 0; i < c->nservices; i++) {
			struct cfg_service *s = order[i];
			struct in_addr was;
			uint32_t off;

			if (s->vip_fixed)
				continue;
			was.s_addr = prev(s->name, prev_arg);
			if (!was.s_addr)
				continue;
			off = vip_offset(&pool, was);
			if (off && !vip_taken(&pool, off))
				vip_take(&pool, s, off);
		}
	}

	for (unsigned i = 0; i < c->nservices; i++) {
		struct cfg_service *s = order[i];
		uint32_t h;

		if (s->vip_fixed || s->vip.s_addr)
			continue;
		if (!pool.free) {
			char label[CFG_NAME_MAX + 32];

			snprintf(label, sizeof(label), "[service.%s]", s->name);
			add_error(L, s->line, label,
			          "no free VIP: vip_range %s/%u is full (%u usable addresses)",
			          range, c->vip_prefix, pool.usable);
			continue;
		}
		h = hash_fnv1a(s->name) % pool.usable;
		for (uint32_t n = 0; n < pool.usable; n++) {
			uint32_t off = 2 + (h + n) % pool.usable;
			if (!vip_taken(&pool, off)) {
				vip_take(&pool, s, off);
				break;
			}
		}
	}
out:
	free(order);
	free(pool.taken);
}

/* ---- load, ref counting, lookups -------------------------------------- */

static void free_identity(struct cfg_identity *id)
{
	free(id->name);
	free(id->spiffe);
	free(id->cert);
	free(id->key);
	free(id->uids);
}

static void free_service(struct cfg_service *s)
{
	free(s->name);
	free_endpoints(s->endpoints, s->nendpoints);
	free(s->intercepts);
	free(s->identity);
	free(s->peer_spiffe);
	free(s->upstreams);
	free_strv(s->allow, s->nallow);
}

static void config_free(struct config *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nidentities; i++)
		free_identity(&c->identities[i]);
	free(c->identities);
	for (unsigned i = 0; i < c->nservices; i++)
		free_service(&c->services[i]);
	free(c->services);
	free(c->path);
	free(c->trust_domain);
	free(c->host);
	free(c->ca);
	free(c->log);
	free(c->snapshot);
	free(c->control);
	free(c->suffix);
	free(c);
}

static void free_load(struct load *L)
{
	for (unsigned i = 0; i < L->nsecs; i++) {
		for (unsigned j = 0; j < L->secs[i].nkv; j++) {
			free(L->secs[i].kv[j].key);
			free(L->secs[i].kv[j].val);
		}
		free(L->secs[i].kv);
		free(L->secs[i].name);
	}
	free(L->secs);
	for (unsigned i = 0; i < L->nerrs; i++)
		free(L->errs[i].msg);
	free(L->errs);
	free(L->buf);
	free(L->dir);
}

static int cmp_err(const void *a, const void *b)
{
	const struct load_err *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static char *join_errors(struct load *L)
{
	size_t total = 1, off = 0;
	char *out;

	if (L->oom) {
		int n = snprintf(NULL, 0, "%s:0: config: out of memory\n", L->path);
		out = malloc((size_t)n + 1);
		if (out)
			snprintf(out, (size_t)n + 1, "%s:0: config: out of memory\n", L->path);
		return out;
	}
	qsort(L->errs, L->nerrs, sizeof(*L->errs), cmp_err);
	for (unsigned i = 0; i < L->nerrs; i++)
		total += strlen(L->errs[i].msg) + 1;
	out = malloc(total);
	if (!out)
		return NULL;
	for (unsigned i = 0; i < L->nerrs; i++) {
		size_t n = strlen(L->errs[i].msg);
		memcpy(out + off, L->errs[i].msg, n);
		off += n;
		out[off++] = '\n';
	}
	out[off] = '\0';
	return out;
}

static int cmp_identity(const void *a, const void *b)
{
	return strcmp(((const struct cfg_identity *)a)->name, ((const struct cfg_identity *)b)->name);
}

static int cmp_service(const void *a, const void *b)
{
	return strcmp(((const struct cfg_service *)a)->name, ((const struct cfg_service *)b)->name);
}

/* Absolute path of the file and of its directory. */
static int resolve_paths(struct load *L, const char *path)
{
	char *abs = realpath(path, NULL), *slash;

	if (!abs)
		return -1;
	L->c->path = abs;
	L->dir = strdup(abs);
	if (!L->dir)
		return -1;
	slash = strrchr(L->dir, '/');
	if (slash == L->dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	return 0;
}

/* spiffe://TD/svc/NAME, or NULL while either part is missing (load fails). */
static char *make_spiffe(struct load *L, const char *td, const char *name)
{
	size_t n;
	char *s;

	if (!td || !name)
		return NULL;
	n = strlen("spiffe://") + strlen(td) + strlen("/svc/") + strlen(name) + 1;
	s = malloc(n);
	if (!s) {
		L->oom = true;
		return NULL;
	}
	snprintf(s, n, "spiffe://%s/svc/%s", td, name);
	return s;
}

static void build(struct load *L, config_prev_vip_fn prev, void *prev_arg)
{
	struct config *c = L->c;
	const struct raw_sec *mesh = NULL;
	struct key_meta mm, *im = NULL, *sm = NULL;
	unsigned nid = 0, nsvc = 0;

	for (unsigned i = 0; i < L->nsecs; i++) {
		if (L->secs[i].kind == SEC_MESH)
			mesh = &L->secs[i];
		else if (L->secs[i].kind == SEC_IDENTITY)
			nid++;
		else
			nsvc++;
	}
	if (!mesh)
		add_error(L, 0, "[mesh]", "missing section (trust_domain and ca are required)");
	apply_table(L, mesh_keys, MK_COUNT, mesh, "mesh", mesh ? mesh->line : 0, c, &mm);
	if (mm.state[MK_HOST] == KEY_UNSET) {
		char h[256];
		if (gethostname(h, sizeof(h)) == -1) {
			add_error(L, 0, "host", "gethostname: %s", strerror(errno));
		} else {
			h[sizeof(h) - 1] = '\0';
			c->host = ld_strdup(L, h);
		}
	}
	if (mm.state[MK_CONTROL] == KEY_UNSET && c->snapshot) {
		/* The control socket sits next to the snapshot, which names it. */
		char *ctl = join3(c->snapshot, ".ctl", "");
		if (!ctl)
			L->oom = true;
		c->control = ctl;
	}

	c->identities = nid ? calloc(nid, sizeof(*c->identities)) : NULL;
	c->services = nsvc ? calloc(nsvc, sizeof(*c->services)) : NULL;
	im = calloc(nid + 1, sizeof(*im));
	sm = calloc(nsvc + 1, sizeof(*sm));
	if ((nid && !c->identities) || (nsvc && !c->services) || !im || !sm) {
		L->oom = true;
		goto out;
	}
	for (unsigned i = 0; i < L->nsecs; i++) {
		const struct raw_sec *sec = &L->secs[i];

		if (sec->kind == SEC_IDENTITY) {
			struct cfg_identity *id = &c->identities[c->nidentities];
			struct key_meta *m = &im[c->nidentities++];

			id->line = sec->line;
			id->name = ld_strdup(L, sec->sub);
			apply_table(L, identity_keys, IK_COUNT, sec, sec->name, sec->line, id, m);
			id->spiffe = make_spiffe(L, c->trust_domain, id->name);
		} else if (sec->kind == SEC_SERVICE) {
			struct cfg_service *s = &c->services[c->nservices];
			struct key_meta *m = &sm[c->nservices++];

			s->line = sec->line;
			s->name = ld_strdup(L, sec->sub);
			apply_table(L, service_keys, SK_COUNT, sec, sec->name, sec->line, s, m);
			if (m->state[SK_IDENTITY] == KEY_UNSET && s->name)
				s->identity = ld_strdup(L, s->name);
			s->peer_spiffe = make_spiffe(L, c->trust_domain, s->identity);
		}
	}
	if (L->oom)
		goto out;
	validate_identities(L, im);
	validate_services(L, sm);
	if (mm.state[MK_VIP_RANGE] != KEY_BAD)
		assign_vips(L, prev, prev_arg, sm);
out:
	free(im);
	free(sm);
}

struct config *config_load(const char *path, config_prev_vip_fn prev,
                           void *prev_arg, char **errors)
{
	struct load L = { .cur = CUR_NONE, .last_kv = -1 };
	struct config *c = NULL;
	int rc;

	if (errors)
		*errors = NULL;
	L.path = path ? path : "(null)";
	L.c = c = calloc(1, sizeof(*c));
	if (!c) {
		L.oom = true;
		goto fail;
	}
	c->refs = 1;
	if (!path || !(L.fp = fopen(path, "re"))) {
		add_error(&L, 0, "file", "cannot open: %s", path ? strerror(errno) : "no path");
		goto fail;
	}
	if (resolve_paths(&L, path) == -1) {
		add_error(&L, 0, "file", "cannot resolve path: %s", strerror(errno));
		goto fail;
	}
	rc = ini_parse_stream(line_reader, &L, ini_handler_fn, &L);
	finish_line(&L);
	if (rc == -2)
		L.oom = true;
	if (ferror(L.fp))
		add_error(&L, L.lineno, "file", "read error: %s", strerror(errno));
	fclose(L.fp);
	L.fp = NULL;
	if (L.oom)
		goto fail;

	build(&L, prev, prev_arg);
	if (L.nerrs || L.oom)
		goto fail;

	/* Sorted by name: lookups bisect. Lines stay with their entries. */
	if (c->nidentities)
		qsort(c->identities, c->nidentities, sizeof(*c->identities), cmp_identity);
	if (c->nservices)
		qsort(c->services, c->nservices, sizeof(*c->services), cmp_service);
	free_load(&L);
	return c;
fail:
	if (L.fp)
		fclose(L.fp);
	if (errors)
		*errors = join_errors(&L);
	config_free(c);
	free_load(&L);
	return NULL;
}

struct config *config_ref(struct config *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void config_unref(struct config *c)
{
	if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(c);
}

const struct cfg_service *config_service(const struct config *c, const char *name)
{
	struct cfg_service key;

	if (!c || !name || !c->nservices)
		return NULL;
	key.name = (char *)name;
	return bsearch(&key, c->services, c->nservices, sizeof(key), cmp_service);
}

const struct cfg_identity *config_identity(const struct config *c, const char *name)
{
	struct cfg_identity key;

	if (!c || !name || !c->nidentities)
		return NULL;
	key.name = (char *)name;
	return bsearch(&key, c->identities, c->nidentities, sizeof(key), cmp_identity);
}

/* The entry for this port wins over the one for every port. */
const struct cfg_upstream *config_upstream(const struct cfg_service *s, uint16_t port)
{
	const struct cfg_upstream *all = NULL;

	if (!s)
		return NULL;
	for (unsigned i = 0; i < s->nupstreams; i++) {
		if (s->upstreams[i].port == port && port)
			return &s->upstreams[i];
		if (s->upstreams[i].port == 0)
			all = &s->upstreams[i];
	}
	return all;
}
