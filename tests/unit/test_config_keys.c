/*
 * The key reference in daemon/config.h against the key tables of
 * daemon/config_keys.c, which are what the loader really does: every row
 * says its default exactly one way, every key of a table is in the
 * reference of its section with that default in brackets, and the reference
 * has no key the table does not know.
 *
 * The reference is read from the source tree (config.h, found beside this
 * file), in the layout it has:
 *
 *   [service.NAME]    ...                   a section
 *     ports          = ...   [required, 1..16]   a key and its default
 *                      ...                   more of the same key
 *     connect_timeout, retries, idle_timeout [from [mesh]]   several keys
 *
 * A key's default is its last bracketed group (brackets nest); "required"
 * may be followed by a comma and more words.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"

#define MAX_DOC 64

struct doc_key {
	char section[32]; /* "mesh", "identity.NAME", "service.NAME" */
	char name[64];
	char def[128]; /* inside the last [...]; "" when there is none */
	bool seen;     /* matched by a table row */
};

static struct doc_key docs[MAX_DOC];
static unsigned ndocs;

/* daemon/config.h of the tree this file is in. */
static FILE *open_config_h(void)
{
	const char *me = __FILE__, *tail = strstr(me, "tests/unit/test_config_keys.c");
	char path[4096];

	snprintf(path, sizeof path, "%.*sdaemon/config.h", tail ? (int)(tail - me) : 0, me);
	return fopen(path, "r");
}

/* The last bracketed group of text, brackets nesting, into out ("" if none). */
static void last_group(const char *text, char *out, size_t len)
{
	const char *start = NULL, *end = NULL;
	int depth = 0;

	out[0] = '\0';
	for (const char *p = text; *p; p++) {
		if (*p == '[') {
			if (depth++ == 0)
				start = p + 1;
		} else if (*p == ']' && depth > 0) {
			if (--depth == 0)
				end = p;
		}
	}
	if (start && end && end > start)
		snprintf(out, len, "%.*s", (int)(end - start), start);
}

/* One entry (a key line and its continuation lines): its keys and default. */
static void add_entry(const char *section, const char *text)
{
	size_t keylen = strcspn(text, "=[");
	char keys[256], def[128], *save = NULL;

	snprintf(keys, sizeof keys, "%.*s", (int)keylen, text);
	last_group(text + keylen, def, sizeof def);
	for (char *k = strtok_r(keys, ", \t", &save); k; k = strtok_r(NULL, ", \t", &save)) {
		assert_true(ndocs < MAX_DOC);
		snprintf(docs[ndocs].section, sizeof docs[ndocs].section, "%s", section);
		snprintf(docs[ndocs].name, sizeof docs[ndocs].name, "%s", k);
		snprintf(docs[ndocs].def, sizeof docs[ndocs].def, "%s", def);
		ndocs++;
	}
}

static void read_reference(void)
{
	FILE *f = open_config_h();
	char line[512], section[32] = "", entry[1024] = "";
	bool in = false;

	if (!f)
		fail_msg("cannot open daemon/config.h from %s", __FILE__);
	ndocs = 0;
	while (fgets(line, sizeof line, f)) {
		const char *t;

		line[strcspn(line, "\n")] = '\0';
		if (!in) {
			in = strstr(line, "Sections and keys") != NULL;
			continue;
		}
		if (strncmp(line, " * Lists are separated", 22) == 0)
			break;
		if (strncmp(line, " *", 2) != 0)
			break;
		t = line + 2;
		/* A key line ("   name ...") or a section ends the entry before it. */
		if (t[0] == ' ' && t[1] == '[') {
			if (entry[0])
				add_entry(section, entry);
			entry[0] = '\0';
			snprintf(section, sizeof section, "%.*s", (int)strcspn(t + 2, "]"), t + 2);
		} else if (strncmp(t, "   ", 3) == 0 && t[3] >= 'a' && t[3] <= 'z') {
			if (entry[0])
				add_entry(section, entry);
			snprintf(entry, sizeof entry, "%s", t + 3);
		} else if (strncmp(t, "    ", 4) == 0 && entry[0]) {
			size_t n = strlen(entry);
			snprintf(entry + n, sizeof entry - n, " %s", t);
		} else {
			if (entry[0])
				add_entry(section, entry);
			entry[0] = '\0';
		}
	}
	if (entry[0])
		add_entry(section, entry);
	fclose(f);
	if (!in)
		fail_msg("daemon/config.h has no \"Sections and keys\" reference");
}

static struct doc_key *find_doc(const char *section, const char *name)
{
	for (unsigned i = 0; i < ndocs; i++)
		if (strcmp(docs[i].section, section) == 0 && strcmp(docs[i].name, name) == 0)
			return &docs[i];
	return NULL;
}

/* What the reference must say in brackets for row k. */
static const char *row_default(const struct cfg_key *k)
{
	if (k->flags & CFG_F_REQUIRED)
		return "required";
	if (k->flags & CFG_F_INHERIT)
		return "from [mesh]";
	return k->def ? k->def : k->def_doc;
}

static void check_table(const char *section, const struct cfg_key *tab, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const struct cfg_key *k = &tab[i];
		int ways = !!(k->flags & CFG_F_REQUIRED) + !!(k->flags & CFG_F_INHERIT) + !!k->def +
		           !!k->def_doc;
		const char *want = row_default(k);
		struct doc_key *d;

		if (!k->name)
			fail_msg("[%s] row %u has no name", section, i);
		if (ways != 1)
			fail_msg(
				"[%s] %s: the row says its default %d ways (want exactly one of "
				"required, inherit, .def, .def_doc)",
				section, k->name, ways);
		if (k->fill && !k->def_doc)
			fail_msg("[%s] %s: a computed default (.fill) needs its .def_doc", section,
			         k->name);
		d = find_doc(section, k->name);
		if (!d)
			fail_msg("[%s] %s is not in config.h's key reference", section, k->name);
		d->seen = true;
		if (k->flags & CFG_F_REQUIRED) {
			size_t w = strlen(want);
			if (strncmp(d->def, want, w) != 0 || (d->def[w] && d->def[w] != ','))
				fail_msg("[%s] %s: config.h says [%s], the table: required",
				         section, k->name, d->def);
		} else if (strcmp(d->def, want) != 0) {
			fail_msg("[%s] %s: config.h says [%s], the table [%s]", section, k->name,
			         d->def, want);
		}
	}
}

static void reference_matches_tables(void **state)
{
	(void)state;
	read_reference();
	assert_true(ndocs > 0);
	check_table("mesh", cfg_mesh_keys, MK_COUNT);
	check_table("identity.NAME", cfg_identity_keys, IK_COUNT);
	check_table("service.NAME", cfg_service_keys, SK_COUNT);
	for (unsigned i = 0; i < ndocs; i++)
		if (!docs[i].seen)
			fail_msg("config.h documents [%s] %s, which no table has", docs[i].section,
			         docs[i].name);
}

/* The reader itself, on the shapes the reference uses. */
static void last_group_nests(void **state)
{
	char out[64];

	(void)state;
	last_group(" = x [a] and [from [mesh]]", out, sizeof out);
	assert_string_equal(out, "from [mesh]");
	last_group(" = optional name suffix   [mesh]  (\"\" = none)", out, sizeof out);
	assert_string_equal(out, "mesh");
	last_group(" = no default given", out, sizeof out);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(last_group_nests),
		cmocka_unit_test(reference_matches_tables),
	};
	return cmocka_run_group_tests_name("config_keys", tests, NULL, NULL);
}
