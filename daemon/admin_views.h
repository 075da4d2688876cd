/*
 * The admin API's views (admin_views.c): the JSON of /config,
 * /connections, /endpoints, /links and /failures, and what the status
 * page reads, rendered from one snapshot of the daemon's state (struct admin_ctx)
 * that the admin thread takes per request.
 */
#ifndef MESHD_ADMIN_VIEWS_H
#define MESHD_ADMIN_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct sbuf;
struct worker;
struct gen;

/*
 * The keys a reload cannot change (admin, control, workers, dns) as meshd
 * started with them: what is in force whatever a later generation's file
 * says. /config shows these and lists the keys whose file value differs
 * as "pending_restart".
 */
struct admin_running {
	bool admin_on;
	struct cfg_addr admin;
	const char *control; /* lives as long as the process */
	unsigned workers;    /* as configured: 0 = auto */
	bool dns_on;
	struct cfg_addr dns;
};
#define ADMIN_RESTART_KEYS 4

/* The restart-only keys whose value in c differs from the running one,
 * into names[] (at most ADMIN_RESTART_KEYS); returns how many. */
unsigned admin_pending_restart(const struct admin_running *run, const struct config *c,
                               const char *names[ADMIN_RESTART_KEYS]);
/* One key's value in c, or the running one (run != NULL), as /config
 * shows it ("127.0.0.1:15000", "off", "auto", "2", a path), into buf. */
const char *admin_restart_value(const char *key, const struct admin_running *run,
                                const struct config *c, char *buf, size_t len);

struct admin_ctx {
	struct worker *w;
	unsigned nw;
	struct gen *gen; /* in force; the caller holds a reference */
	double start_time, now;
	bool ready;
	const char *not_ready; /* why, when !ready */
	/* the last reload (SIGHUP or POST /reload) */
	bool reloaded;
	double reload_time;
	bool reload_accepted;
	const char *reload_errors;   /* lines, or NULL */
	const char *reload_warnings; /* lines, or NULL */
	const struct admin_running *running;
	uint64_t refused; /* admin connections over the bound */
};

#define ADMIN_CONN_LIMIT_DEFAULT 1000
#define ADMIN_CONN_LIMIT_MAX 10000
#define ADMIN_FAILURES_DEFAULT 20
#define ADMIN_FAILURES_MAX 1024
/* Of an answer's ceiling, what /connections keeps for all but the
 * workers' objects (the head, the tail); the rest is shared between the
 * workers. */
#define ADMIN_VIEW_RESERVE (64u << 10)

void admin_view_config(struct sbuf *out, const struct admin_ctx *c);
/* At most limit connections, and within out's ceiling: too many, or too
 * many bytes, is "truncated": true, never a full buffer. */
void admin_view_connections(struct sbuf *out, const struct admin_ctx *c, unsigned limit);
void admin_view_endpoints(struct sbuf *out, const struct admin_ctx *c);
void admin_view_links(struct sbuf *out, const struct admin_ctx *c);
/* The last failed connections of all workers, newest first, up to limit. */
void admin_view_failures(struct sbuf *out, const struct admin_ctx *c, unsigned limit);
/* Lines as a JSON array of strings ("a\nb\n" -> ["a","b"]); NULL: []. */
void admin_json_lines(struct sbuf *out, const char *lines);

/* The [mesh] keys /config shows, by name, for the test that every key of
 * the loader's table is among them. */
extern const unsigned admin_mesh_key_count;
const char *admin_mesh_key_name(unsigned i);

#endif
