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
#include "bounds.h"
#include "log.h"

#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <sys/file.h>
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

/* The per-source connection limits in force, "auto" resolved against the
 * descriptor limit (bounds.h), so that the operator sees the numbers. */
static void log_limits(const struct config *c)
{
	log_info("limits: max_connections_per_uid %u%s, max_connections_per_peer %u%s "
	         "(descriptor limit %u)",
	         bounds_auto(c->max_conns_per_uid), c->max_conns_per_uid ? "" : " (auto)",
	         bounds_auto(c->max_conns_per_peer), c->max_conns_per_peer ? "" : " (auto)",
	         bounds_nofile());
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

/* The whole daemon, as the main thread sees it. */
struct daemon {
	const char     *conf_path;
	struct ev_loop *loop;
	struct gen     *gen;               /* newest generation */
	uint64_t        generation;
	struct meshd   *w;                 /* workers; w[0] runs on this thread */
	unsigned        nw;
	struct control *ctl;
	bool            draining;
	int             lock_fd;
};

static void publish(struct daemon *d)
{
	char *err = NULL;
	if (snapshot_publish(d->gen->cfg, control_path(d->ctl), d->generation, &err) == -1) {
		log_error("%s; programs will not resolve mesh names", err);
		free(err);
	}
}

static void reload(struct daemon *d)
{
	char *errs = NULL;
	struct gen *g = gen_load(d->conf_path, d->gen->cfg, &errs);
	if (!g) {
		log_error("reload rejected, keeping the running configuration:");
		for (char *line = strtok(errs, "\n"); line; line = strtok(NULL, "\n"))
			log_error("  %s", line);
		free(errs);
		return;
	}
	struct gen *old = d->gen;
	if (old->cfg->max_conns_per_uid != g->cfg->max_conns_per_uid ||
	    old->cfg->max_conns_per_peer != g->cfg->max_conns_per_peer)
		log_limits(g->cfg);
	bool log_moved = strcmp(old->cfg->log, g->cfg->log) != 0;
	bool snap_moved = strcmp(old->cfg->snapshot, g->cfg->snapshot) != 0;
	if (strcmp(old->cfg->control, g->cfg->control) != 0 ||
	    (old->cfg->workers != g->cfg->workers))
		log_warn("changes to control and workers take effect at the next restart");
	d->gen = g;
	g->cfg->generation = ++d->generation;
	for (unsigned i = 0; i < d->nw; i++)
		worker_post_gen(&d->w[i], g);
	/* New VIPs must be listening before the snapshot names them. */
	if (worker_wait_applied(d->w, d->nw, d->generation, 5.0) == -1)
		log_warn("a worker is slow to apply generation %llu",
		         (unsigned long long)d->generation);
	if (log_moved && traffic_reopen(g->cfg->log) == -1)
		log_error("cannot open traffic log %s: %m; still writing to %s", g->cfg->log,
		          old->cfg->log);
	if (snap_moved)
		snapshot_unpublish(old->cfg);
	publish(d);
	log_info("reloaded %s (generation %llu): %u services, %u identities",
	         d->conf_path, (unsigned long long)d->generation, g->cfg->nservices,
	         g->cfg->nidentities);
	gen_unref(old);
}

static void start_drain(struct daemon *d, const char *why)
{
	if (d->draining)
		return;
	d->draining = true;
	snapshot_unpublish(d->gen->cfg);
	log_info("%s: draining: no new connections, open ones have at most %.0f s", why,
	         d->gen->cfg->drain_timeout);
	for (unsigned i = 0; i < d->nw; i++)
		worker_post_drain(&d->w[i]);
}

/* After a burst of connections the heap keeps its high-water mark; give
 * whole free pages back so that RSS follows the load down again. */
static void trim_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	malloc_trim(0);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	struct daemon *d = w->data;
	switch (w->signum) {
	case SIGHUP:
		if (!d->draining)
			reload(d);
		break;
	case SIGUSR1:
		if (traffic_reopen(d->gen->cfg->log) == -1)
			log_error("cannot reopen traffic log %s: %m", d->gen->cfg->log);
		else
			log_info("reopened traffic log %s", d->gen->cfg->log);
		break;
	default:
		start_drain(d, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
		break;
	}
}

/* One meshd per snapshot: a second one would share VIP ports with the
 * first through SO_REUSEPORT and split its traffic. */
static int take_lock(struct daemon *d)
{
	char path[4200];
	snprintf(path, sizeof path, "%s.lock", d->gen->cfg->snapshot);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (d->lock_fd == -1) {
		log_error("cannot open %s: %m", path);
		return -1;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		log_error("another meshd is running with routes %s (lock %s held)",
		          d->gen->cfg->snapshot, path);
		return -1;
	}
	return 0;
}

static unsigned worker_count(const struct config *c)
{
	if (c->workers)
		return c->workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
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
	struct daemon dd;
	memset(&dd, 0, sizeof dd);
	struct daemon *d = &dd;
	d->conf_path = path;
	d->gen = gen_load(path, NULL, &errs);
	if (!d->gen) {
		print_errors(errs ? errs : "unknown error\n");
		if (test)
			fprintf(stderr, "meshd: configuration file %s test failed\n", path);
		free(errs);
		return 1;
	}
	if (test) {
		printf("meshd: configuration file %s test is successful\n", path);
		gen_unref(d->gen);
		return 0;
	}
	/* Before any worker starts: the limit is process-wide, and bounds_auto
	 * and the reserve are computed from it. As HAProxy and nginx do, take
	 * what the hard limit allows (systemd's soft default is 1024). */
	char nofile_msg[160];
	bounds_raise_nofile(nofile_msg, sizeof nofile_msg);
	log_info("%s; the last %u kept in reserve for reload and the control socket", nofile_msg,
	         bounds_reserve());
	log_limits(d->gen->cfg);
	signal(SIGPIPE, SIG_IGN);
	const struct config *c = d->gen->cfg;
	d->gen->cfg->generation = d->generation = 1;
	if (take_lock(d) == -1)
		return 1;
	if (traffic_open(c->log) == -1) {
		log_error("cannot open traffic log %s: %m", c->log);
		return 1;
	}
	d->loop = ev_default_loop(EVFLAG_AUTO);
	char err[256];
	d->ctl = control_open(d->loop, c->control, err, sizeof err);
	if (!d->ctl)
		log_error("%s; connects to VIPs will not report upstream failures", err);

	d->nw = worker_count(c);
	d->w = calloc(d->nw, sizeof *d->w);
	if (!d->w) {
		log_error("out of memory");
		return 1;
	}
	for (unsigned i = 0; i < d->nw; i++) {
		struct ev_loop *loop = i == 0 ? d->loop : ev_loop_new(EVFLAG_AUTO);
		if (!loop || worker_init(&d->w[i], i, loop, d->ctl) == -1 ||
		    worker_start(&d->w[i], d->gen) == -1) {
			log_error("cannot start worker %u", i);
			d->nw = i; /* the ones started still stop cleanly below */
			if (i == 0)
				return 1;
			break;
		}
	}
	if (!d->w[0].listeners && !d->w[0].inbound && (c->nservices || c->inbound_on)) {
		log_error("no listener could be opened; exiting");
		return 1;
	}

	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };
	ev_signal sw[4];
	for (int i = 0; i < 4; i++) {
		ev_signal_init(&sw[i], signal_cb, sigs[i]);
		sw[i].data = d;
		ev_signal_start(d->loop, &sw[i]);
	}

	ev_timer trim;
	ev_timer_init(&trim, trim_cb, 10., 10.);
	ev_timer_start(d->loop, &trim);

	publish(d);
	char ib[64] = "off";
	if (c->inbound_on && d->w[0].inbound)
		config_addr_str(&c->inbound, ib, sizeof ib);
	else if (c->inbound_on)
		snprintf(ib, sizeof ib, "NOT LISTENING");
	log_info("meshd %s ready: host %s, %u services, %u worker(s), mesh port %s, routes %s, "
	         "log %s", "0.1", c->host, c->nservices, d->nw, ib, c->snapshot, c->log);

	/* Worker 0's loop; it returns when worker 0 has drained. */
	ev_run(d->loop, 0);
	for (unsigned i = 0; i < 4; i++)
		ev_signal_stop(d->loop, &sw[i]);
	ev_timer_stop(d->loop, &trim);
	for (unsigned i = 0; i < d->nw; i++)
		worker_finish(&d->w[i]);
	control_close(d->ctl);
	snapshot_unpublish(d->gen->cfg);
	log_info("stopped");
	traffic_close();
	gen_unref(d->gen);
	free(d->w);
	close(d->lock_fd);
	return 0;
}
