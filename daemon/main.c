/*
 * meshd: start-up, signals, config check (-t), reload and drain.
 *
 *   meshd -c FILE         run in the foreground
 *   meshd -t -c FILE      check FILE, print every error, exit 0/1
 *
 * SIGHUP reloads (a bad file is rejected and the running config keeps
 * serving), SIGTERM/SIGINT drain (stop accepting, let connections finish up
 * to drain_timeout, then exit 0), SIGUSR1 reopens the traffic log.
 */
#include "mesh.h"
#include "log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

static void usage(FILE *f)
{
	fprintf(f, "usage: meshd -c FILE [-t] [-v]\n"
	           "  -c FILE  configuration (INI)\n"
	           "  -t       check the configuration and exit\n"
	           "  -v       debug messages on stderr\n");
}

static void print_errors(const char *errs)
{
	fputs(errs, stderr);
	if (*errs && errs[strlen(errs) - 1] != '\n')
		fputc('\n', stderr);
}

static uint32_t prev_from_config(const char *name, void *arg)
{
	const struct cfg_service *s = config_service(arg, name);
	return s ? s->vip.s_addr : 0;
}

/* Build a complete generation from the file, or NULL with *errs. */
static const char *snapshot_vips_path(const struct config *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s.vips", c->snapshot);
	return buf;
}

static struct gen *gen_load(const char *path, const struct config *cur, char **errs)
{
	char vips[4200];
	struct config *c = config_load(path, cur ? prev_from_config : NULL, (void *)cur, errs);
	if (c && !cur && access(snapshot_vips_path(c, vips, sizeof vips), R_OK) == 0) {
		/* First start: keep the VIPs a previous run handed out. */
		char *snap = strdup(c->snapshot);
		config_unref(c);
		c = snap ? config_load(path, snapshot_prev_vip, snap, errs) : NULL;
		free(snap);
	}
	if (!c)
		return NULL;
	struct gen *g = calloc(1, sizeof *g);
	if (!g) {
		config_unref(c);
		*errs = strdup("out of memory");
		return NULL;
	}
	g->refs = 1;
	g->cfg = c;
	g->cursors = calloc(c->nservices ? c->nservices : 1, sizeof *g->cursors);
	char *terr = NULL;
	g->tls = tls_env_new(c, &terr);
	if (!g->tls || !g->cursors) {
		size_t n = strlen(path) + (terr ? strlen(terr) : 20) + 16;
		*errs = malloc(n);
		if (*errs)
			snprintf(*errs, n, "%s:0: tls: %s", path, terr ? terr : "out of memory");
		free(terr);
		gen_unref(g);
		return NULL;
	}
	return g;
}

static void publish(struct meshd *m)
{
	char *err = NULL;
	if (snapshot_publish(m->gen->cfg, control_path(m), m->generation, &err) == -1) {
		log_error("%s; programs will not resolve mesh names", err);
		free(err);
	}
}

/* The control socket follows the config's path; without it the shim
 * still works, connects just cannot fail faithfully. */
static void sync_control(struct meshd *m)
{
	const char *want = m->gen->cfg->control;
	const char *have = control_path(m);
	if (have && strcmp(have, want) == 0)
		return;
	control_close(m);
	char err[256];
	if (control_open(m, want, err, sizeof err) == -1)
		log_error("%s; connects to VIPs will not report upstream failures", err);
}

static void sync_listeners(struct meshd *m)
{
	char *err = NULL;
	if (listener_sync(m, m->gen->cfg, &err) > 0) {
		for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
			log_error("%s", line);
	}
	free(err);
}

static void reload(struct meshd *m)
{
	char *errs = NULL;
	struct gen *g = gen_load(m->conf_path, m->gen->cfg, &errs);
	if (!g) {
		log_error("reload rejected, keeping the running configuration:");
		for (char *line = strtok(errs, "\n"); line; line = strtok(NULL, "\n"))
			log_error("  %s", line);
		free(errs);
		return;
	}
	struct gen *old = m->gen;
	bool log_moved = strcmp(old->cfg->log, g->cfg->log) != 0;
	bool snap_moved = strcmp(old->cfg->snapshot, g->cfg->snapshot) != 0;
	m->gen = g;
	g->cfg->generation = ++m->generation;
	pool_flush(m); /* parked tunnels were made with the old certificates */
	sync_listeners(m);
	sync_control(m);
	if (log_moved && traffic_reopen(g->cfg->log) == -1)
		log_error("cannot open traffic log %s: %m; still writing to %s", g->cfg->log,
		          old->cfg->log);
	if (snap_moved)
		snapshot_unpublish(old->cfg);
	publish(m);
	log_info("reloaded %s (generation %llu): %u services, %u identities",
	         m->conf_path, (unsigned long long)m->generation, g->cfg->nservices,
	         g->cfg->nidentities);
	gen_unref(old);
}

static void drain_check(struct meshd *m)
{
	if (m->draining && m->nsessions == 0)
		ev_break(m->loop, EVBREAK_ALL);
}

static void drain_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct meshd *m = container_of(w, struct meshd, drain_timer);
	log_warn("drain timeout: closing %u remaining connection(s)", m->nsessions);
	session_abort_all(m);
	drain_check(m);
}

static void start_drain(struct meshd *m, const char *why)
{
	if (m->draining)
		return;
	m->draining = true;
	listener_close_all(m);
	pool_flush(m);
	/* Tunnels idle between streams carry no connection: close them now. */
	for (struct session *s = m->sessions, *next; s; s = next) {
		next = s->next;
		if (s->quiet)
			session_end(s, "ok", false);
	}
	snapshot_unpublish(m->gen->cfg);
	log_info("%s: draining %u connection(s), at most %.0f s", why, m->nsessions,
	         m->gen->cfg->drain_timeout);
	ev_timer_init(&m->drain_timer, drain_timeout_cb, m->gen->cfg->drain_timeout, 0.);
	ev_timer_start(m->loop, &m->drain_timer);
	drain_check(m);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	struct meshd *m = w->data;
	switch (w->signum) {
	case SIGHUP:
		if (!m->draining)
			reload(m);
		break;
	case SIGUSR1:
		if (traffic_reopen(m->gen->cfg->log) == -1)
			log_error("cannot reopen traffic log %s: %m", m->gen->cfg->log);
		else
			log_info("reopened traffic log %s", m->gen->cfg->log);
		break;
	default:
		start_drain(m, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
		break;
	}
}

static void reaper_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	struct meshd *m = container_of(w, struct meshd, reaper);
	session_reap(m);
	drain_check(m);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	bool test = false;
	int opt;
	while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}

	char *errs = NULL;
	struct meshd md;
	memset(&md, 0, sizeof md);
	struct meshd *m = &md;
	m->conf_path = path;
	m->gen = gen_load(path, NULL, &errs);
	if (!m->gen) {
		print_errors(errs ? errs : "unknown error\n");
		if (test)
			fprintf(stderr, "meshd: configuration file %s test failed\n", path);
		free(errs);
		return 1;
	}
	if (test) {
		printf("meshd: configuration file %s test is successful\n", path);
		gen_unref(m->gen);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);

	m->loop = ev_default_loop(EVFLAG_AUTO);
	m->gen->cfg->generation = m->generation = 1;
	if (traffic_open(m->gen->cfg->log) == -1) {
		log_error("cannot open traffic log %s: %m", m->gen->cfg->log);
		return 1;
	}
	sync_listeners(m);
	if (!m->listeners && !m->inbound && (m->gen->cfg->nservices || m->gen->cfg->inbound_on)) {
		log_error("no listener could be opened; exiting");
		return 1;
	}

	sync_control(m);

	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };
	ev_signal sw[4];
	for (int i = 0; i < 4; i++) {
		ev_signal_init(&sw[i], signal_cb, sigs[i]);
		sw[i].data = m;
		ev_signal_start(m->loop, &sw[i]);
	}
	ev_prepare_init(&m->reaper, reaper_cb);
	ev_prepare_start(m->loop, &m->reaper);

	publish(m);
	char ib[64] = "off";
	if (m->gen->cfg->inbound_on)
		config_addr_str(&m->gen->cfg->inbound, ib, sizeof ib);
	log_info("meshd %s ready: host %s, %u services, mesh port %s, routes %s, log %s",
	         "0.1", m->gen->cfg->host, m->gen->cfg->nservices, ib, m->gen->cfg->snapshot,
	         m->gen->cfg->log);

	ev_run(m->loop, 0);

	session_abort_all(m);
	listener_close_all(m);
	pool_free(m);
	control_close(m);
	snapshot_unpublish(m->gen->cfg);
	log_info("stopped");
	traffic_close();
	gen_unref(m->gen);
	return 0;
}
