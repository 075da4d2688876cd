/*
 * The INI config: read a file, validate it completely, build one immutable,
 * refcounted struct config (the interface and the key reference are in
 * config.h).
 *
 * A load runs in phases, and none of them stops at the first problem:
 *
 *   1. read      (here) inih splits "key = value" lines. A line reader in
 *                front of it counts lines (Debian's inih does not pass line
 *                numbers), owns the [section] headers (inih truncates long
 *                ones and never reports empty ones) and notices lines inih
 *                rejected. Raw values are kept with their line.
 *   2. parse     (config_keys.c, config_lists.c) one table per section,
 *                {key, parser, offset, flags, default}, drives parsing,
 *                defaults, inheritance from [mesh] and the required-key
 *                check.
 *   3. validate  (config_check.c) checks between keys and sections (ports,
 *                identities, uids, intercepts).
 *   4. VIPs      (vip.c) fixed ones, then the previous ones (stable across
 *                reloads), then a hash of the name with linear probing.
 *
 * build() below runs phases 2 to 4; the state they share, struct load, and
 * the error list are in config_state.c. Every problem becomes one
 * "file:line: key: reason" line; they are sorted by line. No config file
 * logs: the caller decides what to say. A loaded config has its identities
 * and services sorted by name (lookups bisect).
 *
 * Two reading rules inih does not give by itself:
 *   - An indented line continues the previous key's value (for long lists),
 *     unless it looks like "key = ...": then it is a key of its own, so
 *     indenting keys under their section works.
 *   - `allow` names are only checked for syntax: callers live on other hosts,
 *     so an identity allowed here need not be defined in this file.
 */
#include "config.h"
#include "config_check.h"
#include "config_dns.h"
#include "config_keys.h"
#include "config_lists.h"
#include "config_state.h"
#include "vip.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- phase 1: reading ------------------------------------------------- */

static const char *skip_space(const char *s)
{
	while (is_space(*s))
		s++;
	return s;
}

/* "[service.web]" for section-level messages. */
static const char *sec_label(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "[%s]", name);
	return buf;
}

/* inih rejected the previous line if it was a key line and no handler ran. */
static void finish_line(struct load *L)
{
	if (L->kind == LINE_KV && !L->handled)
		cfg_error(L, L->lineno, L->snippet, "malformed line, expected \"key = value\"");
	L->kind = LINE_OTHER;
}

/* An indented line is a key of its own when it reads "identifier =" (or ':',
 * inih's other separator); otherwise it continues the previous value. */
static bool looks_like_key(const char *t)
{
	const char *start = t;
	if (!is_lower(*t) && !(*t >= 'A' && *t <= 'Z') && *t != '_')
		return false;
	while (is_lower(*t) || (*t >= 'A' && *t <= 'Z') || is_digit(*t) || *t == '_')
		t++;
	/* "dns:NAME:PORT" and "srv:NAME" continue an endpoints list. */
	if (*t == ':' && t - start == 3 &&
	    (strncmp(start, "dns", 3) == 0 || strncmp(start, "srv", 3) == 0))
		return false;
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
		cfg_error(L, L->lineno, L->snippet, "malformed section header, missing ']'");
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
		cfg_error(L, L->lineno, label, "unexpected text after ']'");

	if (strcmp(name, "mesh") == 0) {
		kind = SEC_MESH;
	} else if (strncmp(name, "identity.", 9) == 0) {
		kind = SEC_IDENTITY;
	} else if (strncmp(name, "service.", 8) == 0) {
		kind = SEC_SERVICE;
	} else if (strcmp(name, "identity") == 0 || strcmp(name, "service") == 0) {
		cfg_error(L, L->lineno, label, "section needs a name: [%s.NAME]", name);
		free(name);
		return;
	} else {
		cfg_error(L, L->lineno, label,
		          "unknown section (expected [mesh], [identity.NAME] or [service.NAME])");
		free(name);
		return;
	}
	for (unsigned i = 0; i < L->nsecs; i++) {
		if (strcmp(L->secs[i].name, name) == 0) {
			cfg_error(L, L->lineno, label, "duplicate section (first at line %d)",
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
	if (kind != SEC_MESH && !cfg_is_name(sec->sub))
		cfg_error(L, L->lineno, label,
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
		cfg_error(L, L->lineno, "line", "contains a NUL byte");
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
		cfg_error(L, L->lineno, "line",
		          "too long (at most %d characters); continue long lists on indented lines",
		          num - 3);
		L->prev_key = true; /* swallow its continuation lines */
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
	kv->key = cfg_strdup(L, key);
	kv->val = cfg_strdup(L, val);
	kv->line = L->lineno;
	if (!kv->key || !kv->val) {
		free(kv->key);
		free(kv->val);
		return -1;
	}
	return (int)sec->nkv++;
}

#if INI_HANDLER_LINENO
static int ini_handler_fn(void *user, const char *section, const char *name, const char *value,
                          int lineno)
#else
static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
#endif
{
	struct load *L = user;
	struct raw_sec *sec;

	(void)section; /* we track sections ourselves, untruncated */
#if INI_HANDLER_LINENO
	(void)lineno;
#endif
	L->handled = true;
	if (!name) /* builds with INI_CALL_HANDLER_ON_NEW_SECTION */
		return 1;
	if (!value)
		value = "";
	if (L->kind == LINE_CONT) {
		if (L->cur >= 0 && L->last_kv >= 0) {
			struct raw_kv *kv = &L->secs[L->cur].kv[L->last_kv];
			char *joined = cfg_join3(kv->val, " ", value);
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
		cfg_error(L, L->lineno, name, "key outside of any section");
		return 1;
	}
	if (!*name) {
		cfg_error(L, L->lineno, L->snippet, "missing key name before '='");
		return 1;
	}
	sec = &L->secs[L->cur];
	for (unsigned i = 0; i < sec->nkv; i++) {
		if (strcmp(sec->kv[i].key, name) == 0) {
			cfg_error(L, L->lineno, name, "duplicate key (first at line %d)",
			          sec->kv[i].line);
			return 1;
		}
	}
	L->last_kv = add_kv(L, sec, name, value);
	return 1;
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
	cfg_free_endpoints(s->endpoints, s->nendpoints);
	cfg_free_dns(s->dns, s->ndns);
	free(s->intercepts);
	free(s->identity);
	free(s->peer_spiffe);
	free(s->upstreams);
	cfg_free_strv(s->allow, s->nallow);
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
	free(c->text);
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
	return strcmp(((const struct cfg_identity *)a)->name,
	              ((const struct cfg_identity *)b)->name);
}

static int cmp_service(const void *a, const void *b)
{
	return strcmp(((const struct cfg_service *)a)->name, ((const struct cfg_service *)b)->name);
}

/* Absolute path of the file and of its directory (known: path is a
 * running config's, already absolute, and the file may have moved since). */
static int resolve_paths(struct load *L, const char *path, bool known)
{
	char *abs = known ? strdup(path) : realpath(path, NULL), *slash;

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

/* The whole file into c->text: a later load from the same text (discovery,
 * config_load_with) reads what this one read, whatever the file says by
 * then. Config files are small; 16 MiB is a file that is not one. */
static int slurp(struct load *L, FILE *f)
{
	size_t cap = 8192, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		char *nb = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;
		if (!nb) {
			free(buf);
			return -1;
		}
		buf = nb;
		cap *= 2;
	}
	if (!buf || ferror(f)) {
		free(buf);
		return -1;
	}
	L->c->text = buf;
	L->c->textlen = n;
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
		cfg_error(L, 0, "[mesh]", "missing section (trust_domain and ca are required)");
	cfg_apply_table(L, cfg_mesh_keys, MK_COUNT, mesh, "mesh", mesh ? mesh->line : 0, c, &mm);
	if (mm.state[MK_DNS_TTL_MIN] != KEY_BAD && mm.state[MK_DNS_TTL_MAX] != KEY_BAD &&
	    c->dns_ttl_max < c->dns_ttl_min)
		cfg_error(L,
		          mm.line[MK_DNS_TTL_MAX] ? mm.line[MK_DNS_TTL_MAX]
		                                  : mm.line[MK_DNS_TTL_MIN],
		          mm.line[MK_DNS_TTL_MAX] ? "dns_ttl_max" : "dns_ttl_min",
		          "dns_ttl_max (%gs) is shorter than dns_ttl_min (%gs)", c->dns_ttl_max,
		          c->dns_ttl_min);

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
			id->name = cfg_strdup(L, sec->sub);
			cfg_apply_table(L, cfg_identity_keys, IK_COUNT, sec, sec->name, sec->line,
			                id, m);
			id->spiffe = make_spiffe(L, c->trust_domain, id->name);
		} else if (sec->kind == SEC_SERVICE) {
			struct cfg_service *s = &c->services[c->nservices];
			struct key_meta *m = &sm[c->nservices++];

			s->line = sec->line;
			s->name = cfg_strdup(L, sec->sub);
			cfg_apply_table(L, cfg_service_keys, SK_COUNT, sec, sec->name, sec->line, s,
			                m);
			s->peer_spiffe = make_spiffe(L, c->trust_domain, s->identity);
		}
	}
	if (L->oom)
		goto out;
	config_check_identities(L, im);
	config_check_services(L, sm);
	if (mm.state[MK_VIP_RANGE] != KEY_BAD)
		vip_assign(L, prev, prev_arg, sm);
out:
	free(im);
	free(sm);
}

struct config *config_load(const char *path, config_prev_vip_fn prev, void *prev_arg, char **errors)
{
	return config_load_with(path, NULL, 0, prev, prev_arg, NULL, NULL, errors);
}

struct config *config_load_with(const char *path, const char *text, size_t len,
                                config_prev_vip_fn prev, void *prev_arg, config_found_fn found,
                                void *found_arg, char **errors)
{
	struct load L = { .cur = CUR_NONE, .last_kv = -1, .found = found, .found_arg = found_arg };
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
	if (text) {
		if (!(c->text = malloc(len ? len : 1))) {
			L.oom = true;
			goto fail;
		}
		memcpy(c->text, text, len);
		c->textlen = len;
	} else {
		FILE *f = path ? fopen(path, "re") : NULL;
		if (!f) {
			cfg_error(&L, 0, "file", "cannot open: %s",
			          path ? strerror(errno) : "no path");
			goto fail;
		}
		rc = slurp(&L, f);
		fclose(f);
		if (rc == -1) {
			cfg_error(&L, 0, "file", "cannot read: %s", strerror(errno));
			goto fail;
		}
	}
	if (resolve_paths(&L, path, text != NULL) == -1) {
		cfg_error(&L, 0, "file", "cannot resolve path: %s", strerror(errno));
		goto fail;
	}
	/* An empty file: fmemopen wants a size of at least 1. */
	L.fp = c->textlen ? fmemopen(c->text, c->textlen, "r") : fopen("/dev/null", "re");
	if (!L.fp) {
		cfg_error(&L, 0, "file", "cannot read: %s", strerror(errno));
		goto fail;
	}
	rc = ini_parse_stream(line_reader, &L, ini_handler_fn, &L);
	finish_line(&L);
	if (rc == -2)
		L.oom = true;
	if (ferror(L.fp))
		cfg_error(&L, L.lineno, "file", "read error: %s", strerror(errno));
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
