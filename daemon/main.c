/*
 * meshd: start-up, signals, config check (-t), reload and drain.
 *
 *   meshd -c FILE         run in the foreground
 *   meshd -t -c FILE      check FILE, print every error, exit 0/1
 *   meshd -V | --version  version and the OpenSSL in use
 *
 * SIGHUP reloads (a bad file is rejected and the running config keeps
 * serving; POST /reload on the admin listener runs the same reload and
 * answers what it said), SIGTERM/SIGINT drain (stop accepting, let connections finish up
 * to drain_timeout, then exit 0), SIGUSR1 reopens the traffic log.
 *
 * At start meshd raises its descriptor limit to the hard limit (bounds.h)
 * and refuses to run on files and directories other users control
 * (check_paths, pathsafe.h): `meshd -t` makes the same check, and a reload
 * onto unsafe paths is rejected. check_paths also runs what startcheck.h
 * checks without binding what a running meshd holds (certificates' dates,
 * services that carry nothing, vip_range); start-up and -t add the
 * snapshot directory and the mesh port (and -t the admin address).
 */
#include "gen.h"
#include "worker.h"
#include "listener.h"
#include "shimctl.h"
#include "snapshot_pub.h"
#include "tls.h"
#include "bounds.h"
#include "log.h"
#include "pathsafe.h"
#include "vip.h"
#include "route6.h"
#include "container.h"
#include "version.h"
#include "startcheck.h"
#include "admin.h"
#include "dns_serve.h"
#include "metrics.h"
#include "lock.h"
#include "discover.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <openssl/crypto.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static void usage(FILE *f)
{
	fprintf(f,
	        "usage: meshd -c FILE [-t] [-v]\n"
	        "       meshd -V\n"
	        "  -c FILE  configuration (INI)\n"
	        "  -t       check the configuration and exit\n"
	        "  -v       debug messages on stderr\n"
	        "  -V, --version  print the version and exit\n");
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
	log_info(
		"limits: max_connections_per_uid %u%s, max_connections_per_peer %u%s "
		"(descriptor limit %u)",
		bounds_auto(c->max_conns_per_uid), c->max_conns_per_uid ? "" : " (auto)",
		bounds_auto(c->max_conns_per_peer), c->max_conns_per_peer ? "" : " (auto)",
		bounds_nofile());
}

/* Append "line\n" to *buf, unless the same line is there already (the
 * snapshot and the control socket usually share one directory). */
static void add_line(char **buf, const char *line)
{
	startcheck_add(buf, "%s", line);
}

/* Say each line of buf (which it consumes; NULL: nothing to say). */
enum say { SAY_STDERR, SAY_INFO, SAY_WARN, SAY_ERROR, SAY_ERROR_INDENTED };
static void say_lines(char *buf, enum say how)
{
	if (!buf)
		return;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		switch (how) {
		case SAY_STDERR:
			fprintf(stderr, "meshd: %s\n", line);
			break;
		case SAY_INFO:
			log_info("%s", line);
			break;
		case SAY_WARN:
			log_warn("%s", line);
			break;
		case SAY_ERROR:
			log_error("%s", line);
			break;
		case SAY_ERROR_INDENTED:
			log_error("  %s", line);
			break;
		}
	}
}

static void judge(char **errs, char **warns, const char *what, const char *path,
                  enum pathsafe_verdict v, const char *why)
{
	char line[8192];
	if (v == PATHSAFE_OK)
		return;
	snprintf(line, sizeof line, "%s: %s %s: %s", v == PATHSAFE_UNSAFE ? "unsafe" : "warning",
	         what, path, why);
	add_line(v == PATHSAFE_UNSAFE ? errs : warns, line);
}

/*
 * Who else controls the files meshd relies on (rules in pathsafe.c): the
 * config, CA, certificates and keys it believes, and the directories it
 * creates the snapshot, lock, control socket and traffic log in. "unsafe:"
 * lines go to *errs (start-up and -t fail, a reload is rejected),
 * "warning:" lines to *warns. Start-up, -t and reload all call this, so -t
 * catches what start-up would refuse.
 */
static void check_paths(const struct config *c, char **errs, char **warns)
{
	char why[1024], p[4200];
	struct stat st;
	judge(errs, warns, "configuration", c->path,
	      pathsafe_check_file(c->path, PATHSAFE_READ, why, sizeof why), why);
	judge(errs, warns, "CA", c->ca, pathsafe_check_file(c->ca, PATHSAFE_READ, why, sizeof why),
	      why);
	for (unsigned i = 0; i < c->nidentities; i++) {
		const struct cfg_identity *id = &c->identities[i];
		judge(errs, warns, "certificate", id->cert,
		      pathsafe_check_file(id->cert, PATHSAFE_READ, why, sizeof why), why);
		judge(errs, warns, "private key", id->key,
		      pathsafe_check_file(id->key, PATHSAFE_SECRET, why, sizeof why), why);
	}
	judge(errs, warns, "route snapshot", c->snapshot,
	      pathsafe_check_dir_of(c->snapshot, why, sizeof why), why);
	judge(errs, warns, "control socket", c->control,
	      pathsafe_check_dir_of(c->control, why, sizeof why), why);
	vip_file_path(c->snapshot, p, sizeof p);
	if (lstat(p, &st) == 0)
		judge(errs, warns, "previous VIPs", p,
		      pathsafe_check_file(p, PATHSAFE_READ, why, sizeof why), why);
	if (strcmp(c->log, "-") != 0) {
		judge(errs, warns, "traffic log", c->log,
		      pathsafe_check_dir_of(c->log, why, sizeof why), why);
		if (lstat(c->log, &st) == 0)
			judge(errs, warns, "traffic log", c->log,
			      pathsafe_check_file(c->log, PATHSAFE_APPEND, why, sizeof why), why);
	}
	/* take_lock replaces an unsafe lock rather than failing: say so. */
	lock_path(c, p, sizeof p);
	if (lstat(p, &st) == 0 && !lock_file_safe(&st, why, sizeof why)) {
		char line[8192];
		snprintf(line, sizeof line, "warning: lock %s %s; meshd will replace it at start",
		         p, why);
		add_line(warns, line);
	}
	/* What start-up needs beyond the files' owners and modes. */
	startcheck_certs(c, (double)time(NULL), errs, warns);
	startcheck_services(c, warns);
	startcheck_vip_range(c, errs);
}

/* The whole daemon, as the main thread sees it. */
struct daemon {
	const char *conf_path;
	struct ev_loop *loop;
	struct gen *gen; /* newest generation */
	uint64_t generation;
	struct worker *w; /* workers; w[0] runs on this thread */
	unsigned nw;
	struct shimctl *ctl;
	bool draining;
	int lock_fd;
	struct admin *admin;          /* NULL: admin = off */
	struct dns_serve *dns;        /* NULL: dns = off */
	struct admin_running running; /* the restart-only keys as started */
	struct route6_state route6;   /* the IPv6 VIP range's local route */
	struct discover *disc;        /* dns: and srv: endpoints */
};

static bool w0_holds(const struct cfg_service *s, void *arg)
{
	return listener_service_held(arg, s);
}

/*
 * Publish the routes of the generation worker 0 has just applied. A
 * service is published only when worker 0 holds every VIP:port of it
 * (another process may have bound one while meshd was down; listener_sync
 * has logged who): its name must not send programs to that process. The
 * control socket learns the same set, and answers "unknown" at once for a
 * VIP:port meshd does not hold. Returns the number of services left out.
 */
static unsigned publish(struct daemon *d)
{
	char *err = NULL;
	unsigned left = 0;
	void *bytes = NULL;
	size_t nbytes = 0;
	shimctl_configure(d->ctl, &d->w[0]);
	if (snapshot_publish_keep(d->gen->cfg, shimctl_path(d->ctl), d->generation, w0_holds,
	                          &d->w[0], &left, &bytes, &nbytes, &err) == -1) {
		log_error("%s; programs will not resolve mesh names", err);
		free(err);
		dns_serve_set_routes(d->dns, NULL, 0);
		return d->gen->cfg->nservices;
	}
	dns_serve_set_routes(d->dns, bytes, nbytes); /* the names the shim answers */
	if (left)
		log_warn(
			"routes %s: %u of %u services left out (their VIP:ports are not ours); "
			"a reload (SIGHUP) tries again",
			d->gen->cfg->snapshot, left, d->gen->cfg->nservices);
	char why[96];
	snprintf(why, sizeof why, "%u of %u services not published", left, d->gen->cfg->nservices);
	admin_set_ready(d->admin, left == 0 && !d->draining, d->draining ? "draining" : why);
	return left;
}

/* Every worker to g (consumed; it becomes the newest generation), then
 * the routes. What went wrong goes to *warns. */
static void switch_gen(struct daemon *d, struct gen *g, bool snap_moved, char **warns)
{
	struct gen *old = d->gen;
	d->gen = g;
	g->cfg->generation = ++d->generation;
	for (unsigned i = 0; i < d->nw; i++)
		worker_post_gen(&d->w[i], g);
	/* New VIPs must be listening before the snapshot names them. */
	if (worker_wait_applied(d->w, d->nw, d->generation, 5.0) == -1)
		startcheck_add(warns, "a worker is slow to apply generation %llu",
		               (unsigned long long)d->generation);
	if (snap_moved)
		snapshot_unpublish(old->cfg);
	unsigned left = publish(d); /* which logs why */
	if (left)
		startcheck_add(warns, "%u of %u services not published (the log says why)", left,
		               g->cfg->nservices);
	for (unsigned i = 0; i < g->cfg->nservices; i++)
		if (g->cfg->services[i].dns_dropped)
			startcheck_add(warns,
			               "service %s: %u discovered endpoints left out (at most %d)",
			               g->cfg->services[i].name, g->cfg->services[i].dns_dropped,
			               CFG_MAX_ENDPOINTS);
	gen_unref(old);
	admin_set_gen(d->admin, g);
}

/*
 * Discovery changed an entry's endpoints: the generation in force again,
 * from the text it was loaded from (not the file: an edit in progress does
 * not go live because DNS changed), with what discovery found; applied as
 * a reload is, without cutting a connection.
 */
static void discovered(void *arg)
{
	struct daemon *d = arg;
	char *errs = NULL, *warns = NULL;
	if (d->draining)
		return;
	struct gen *g = gen_derive(d->gen, discover_found, d->disc, &errs);
	if (!g) {
		log_error("discovered endpoints not applied:");
		say_lines(errs, SAY_ERROR_INDENTED);
		free(errs);
		return;
	}
	switch_gen(d, g, false, &warns);
	log_info("discovered endpoints applied (generation %llu)",
	         (unsigned long long)d->generation);
	say_lines(warns, SAY_WARN);
	free(warns);
}

/* At start, before the workers: discovery's thread, and its first answers
 * (at most two question timeouts' wait) in the generation they start with. */
static int discovery_start(struct daemon *d)
{
	char err[256];
	if (!(d->disc = discover_new(d->loop, discovered, d, err, sizeof err))) {
		log_error("%s", err);
		return -1;
	}
	discover_configure(d->disc, d->gen->cfg);
	discover_wait_first(d->disc, 2 * d->gen->cfg->dns_timeout + 0.5);
	if (!discover_collect(d->disc))
		return 0;
	char *errs = NULL;
	struct gen *g = gen_derive(d->gen, discover_found, d->disc, &errs);
	if (!g) {
		log_error("discovered endpoints not applied:");
		say_lines(errs, SAY_ERROR_INDENTED);
		free(errs);
		return 0;
	}
	g->cfg->generation = d->generation;
	gen_unref(d->gen);
	d->gen = g;
	return 0;
}

/* Copy of a line list (say_lines consumes its argument). */
static char *lines_dup(const char *lines)
{
	return lines ? strdup(lines) : NULL;
}

/*
 * The one reload, SIGHUP's and POST /reload's: load and check the file,
 * switch the workers to it, publish. What it said is logged as always and
 * returned in r (errors when rejected, warnings), for the admin API; the
 * metrics and /config hear the outcome.
 */
static void reload_run(struct daemon *d, struct admin_reload_result *r)
{
	char *errs = NULL, *unsafe = NULL, *warns = NULL;
	memset(r, 0, sizeof *r);
	r->generation = d->generation;
	if (d->draining) {
		/* Not a rejected config: nothing was read, so nothing is
		 * recorded (metrics, /config's last_reload). */
		r->refused = true;
		r->errors = strdup("meshd is draining: no reload\n");
		return;
	}
	struct gen *g = gen_load(d->conf_path, d->gen->cfg, discover_found, d->disc, &errs);
	if (g) {
		check_paths(g->cfg, &unsafe, &warns);
		if (unsafe) {
			say_lines(warns, SAY_WARN);
			free(warns);
			warns = NULL;
			errs = unsafe;
			gen_unref(g);
			g = NULL;
		}
	}
	char r6[512]; /* a new vip6_range must be local before it is used */
	if (g && route6_apply(&d->route6, g->cfg, r6, sizeof r6) == -1) {
		startcheck_add(&errs, "%s", r6);
		say_lines(warns, SAY_WARN);
		free(warns);
		warns = NULL;
		gen_unref(g);
		g = NULL;
	}
	if (!g) {
		log_error("reload rejected, keeping the running configuration:");
		r->errors = lines_dup(errs ? errs : "unknown error\n");
		say_lines(errs, SAY_ERROR_INDENTED);
		free(errs);
		r->generation = d->generation;
		metrics_reload(false, d->generation);
		admin_note_reload(d->admin, r);
		return;
	}
	struct gen *old = d->gen;
	if (old->cfg->max_conns_per_uid != g->cfg->max_conns_per_uid ||
	    old->cfg->max_conns_per_peer != g->cfg->max_conns_per_peer)
		log_limits(g->cfg);
	bool log_moved = strcmp(old->cfg->log, g->cfg->log) != 0;
	bool snap_moved = strcmp(old->cfg->snapshot, g->cfg->snapshot) != 0;
	const char *pend[ADMIN_RESTART_KEYS];
	unsigned npend = admin_pending_restart(&d->running, g->cfg, pend);
	for (unsigned i = 0; i < npend; i++) {
		char now[PATH_MAX], then[PATH_MAX];
		startcheck_add(&warns,
		               "%s = %s takes effect at the next restart; %s stays in force",
		               pend[i],
		               admin_restart_value(pend[i], NULL, g->cfg, then, sizeof then),
		               admin_restart_value(pend[i], &d->running, g->cfg, now, sizeof now));
	}
	/* Before any other thread sees g: a log that cannot be opened keeps
	 * the old path in this generation too, so that /config and SIGUSR1's
	 * reopen name the file written to, and the next reload tries again. */
	if (log_moved && traffic_reopen(g->cfg->log) == -1) {
		int e = errno;
		char *keep = strdup(old->cfg->log);
		startcheck_add(&warns, "cannot open traffic log %s: %s; still writing to %s",
		               g->cfg->log, strerror(e), old->cfg->log);
		if (keep) {
			free(g->cfg->log);
			g->cfg->log = keep;
		}
	}
	switch_gen(d, g, snap_moved, &warns);
	discover_configure(d->disc, g->cfg); /* and ask again */
	log_info("reloaded %s (generation %llu): %u services, %u identities", d->conf_path,
	         (unsigned long long)d->generation, g->cfg->nservices, g->cfg->nidentities);
	r->accepted = true;
	r->generation = d->generation;
	r->warnings = lines_dup(warns);
	say_lines(warns, SAY_WARN);
	free(warns);
	metrics_reload(true, d->generation);
	admin_note_reload(d->admin, r);
}

static void reload(struct daemon *d)
{
	struct admin_reload_result r;
	reload_run(d, &r);
	admin_reload_result_free(&r);
}

/* POST /reload, on the main thread (admin.c's ev_async). */
static void admin_reload_cb(void *arg, struct admin_reload_result *r)
{
	reload_run(arg, r);
}

static void start_drain(struct daemon *d, const char *why)
{
	if (d->draining)
		return;
	d->draining = true;
	admin_set_ready(d->admin, false, "draining");
	snapshot_unpublish(d->gen->cfg);
	dns_serve_set_routes(d->dns, NULL, 0);
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


/* The snapshot's and control socket's directories, before the lock is
 * taken in the first (the default /run/libmesh is gone after a reboot). */
static int make_dirs(const struct config *c)
{
	char err[4300], *made = NULL;
	int rc = startcheck_make_dirs(c, &made, err, sizeof err);
	say_lines(made, SAY_INFO);
	free(made);
	if (rc == -1)
		log_error("refusing to start: %s", err);
	return rc;
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
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "c:tvhV", longopts, NULL)) != -1) {
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
		case 'V':
			printf("meshd %s\n%s\n", MESHD_VERSION, OpenSSL_version(OPENSSL_VERSION));
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
	d->gen = gen_load(path, NULL, NULL, NULL, &errs);
	if (!d->gen) {
		print_errors(errs ? errs : "unknown error\n");
		if (test)
			fprintf(stderr, "meshd: configuration file %s test failed\n", path);
		free(errs);
		return 1;
	}
	char *unsafe = NULL, *warns = NULL;
	check_paths(d->gen->cfg, &unsafe, &warns);
	if (test) {
		char *notes = NULL;
		startcheck_dirs(d->gen->cfg, &unsafe, &notes);
		startcheck_binds(d->gen->cfg, true, lock_running_meshd(d->gen->cfg), &unsafe,
		                 &warns);
		const struct config *tc = d->gen->cfg;
		char r6[512];
		if (tc->vip6_on &&
		    route6_check(&tc->vip6_net, tc->vip6_prefix, r6, sizeof r6) == -1)
			startcheck_add(&unsafe, "%s", r6);
		discover_check(d->gen->cfg, &notes, &warns);
		say_lines(notes, SAY_STDERR);
		free(notes);
		say_lines(warns, SAY_STDERR);
		free(warns);
		if (unsafe) {
			say_lines(unsafe, SAY_STDERR);
			fprintf(stderr, "meshd: configuration file %s test failed\n", path);
			free(unsafe);
			gen_unref(d->gen);
			return 1;
		}
		printf("meshd: configuration file %s test is successful\n", path);
		gen_unref(d->gen);
		return 0;
	}
	say_lines(warns, SAY_WARN);
	free(warns);
	warns = NULL;
	if (unsafe) {
		say_lines(unsafe, SAY_ERROR);
		log_error("refusing to start: the configuration cannot serve as it is (above)");
		free(unsafe);
		gen_unref(d->gen);
		return 1;
	}
	if (make_dirs(d->gen->cfg) == -1) {
		gen_unref(d->gen);
		return 1;
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
	char err6[512];
	if ((d->lock_fd = lock_take(c)) == -1)
		return 1;
	/* Before anything is made: a serving host whose mesh port someone
	 * else holds would run and serve no one. */
	startcheck_binds(c, false, 0, &unsafe, &warns);
	say_lines(warns, SAY_WARN);
	free(warns);
	if (unsafe) {
		say_lines(unsafe, SAY_ERROR);
		log_error("refusing to start: the mesh port cannot be bound");
		free(unsafe);
		return 1;
	}
	if (traffic_open(c->log) == -1) {
		log_error("cannot open traffic log %s: %m", c->log);
		return 1;
	}
	/* Before the listeners: an IPv6 VIP no route delivers is no VIP. */
	if (route6_apply(&d->route6, c, err6, sizeof err6) == -1) {
		log_error("%s; refusing to start (vip6_range = off turns IPv6 VIPs off)", err6);
		return 1;
	}
	double start_time = (double)time(NULL);
	char err[256];
	if (c->admin_on && !(d->admin = admin_open(&c->admin, err, sizeof err))) {
		log_error("%s; refusing to start (admin = off turns it off)", err);
		return 1;
	}
	if (c->dns_on && !(d->dns = dns_serve_open(&c->dns, err, sizeof err))) {
		log_error("%s; refusing to start (dns = off turns it off)", err);
		return 1;
	}
	d->running = (struct admin_running){ .admin_on = c->admin_on,
		                             .admin = c->admin,
		                             .control = strdup(c->control),
		                             .workers = c->workers,
		                             .dns_on = c->dns_on,
		                             .dns = c->dns };
	if (!d->running.control) {
		log_error("out of memory");
		return 1;
	}
	d->loop = ev_default_loop(EVFLAG_AUTO);
	if (discovery_start(d) == -1)
		return 1;
	c = d->gen->cfg;
	d->ctl = shimctl_open(d->loop, c->control, err, sizeof err);
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
	if (c->inbound_on && !d->w[0].inbound && startcheck_serving(c)) {
		log_error(
			"refusing to start: this host serves, and its mesh port is not listening");
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

	unsigned unpublished = publish(d);
	/* Before the admin thread, which is handed d->dns: a DNS listener
	 * that fails to start is gone before anyone can ask it. */
	if (d->dns && dns_serve_start(d->dns, err, sizeof err) == -1) {
		log_error("%s", err);
		dns_serve_stop(d->dns);
		d->dns = NULL;
	} else if (d->dns) {
		char da[64];
		log_info("dns: answering mesh names on %s (UDP and TCP)",
		         net_addr_str(&c->dns, da, sizeof da));
	}
	if (d->admin) {
		struct admin_env env = { .w = d->w,
			                 .nw = d->nw,
			                 .main_loop = d->loop,
			                 .reload = admin_reload_cb,
			                 .reload_arg = d,
			                 .start_time = start_time,
			                 .dns = d->dns,
			                 .running = d->running };
		admin_set_gen(d->admin, d->gen);
		if (admin_start(d->admin, &env, err, sizeof err) == -1) {
			log_error("%s", err);
			admin_stop(d->admin);
			d->admin = NULL;
		}
	}
	char ib[64] = "off", nsv[64];
	if (unpublished)
		snprintf(nsv, sizeof nsv, "%u services (%u not published)", c->nservices,
		         unpublished);
	else
		snprintf(nsv, sizeof nsv, "%u services", c->nservices);
	if (c->inbound_on && d->w[0].inbound)
		net_addr_str(&c->inbound, ib, sizeof ib);
	else if (c->inbound_on)
		snprintf(ib, sizeof ib, "NOT LISTENING");
	log_info(
		"meshd %s ready: host %s, %s, %u worker(s), mesh port %s, routes %s, "
		"log %s",
		MESHD_VERSION, c->host, nsv, d->nw, ib, c->snapshot, c->log);

	/* Worker 0's loop; it returns when worker 0 has drained. */
	ev_run(d->loop, 0);
	for (unsigned i = 0; i < 4; i++)
		ev_signal_stop(d->loop, &sw[i]);
	ev_timer_stop(d->loop, &trim);
	/* Worker 0 (this thread) answers no query now: the admin's pending
	 * requests must not wait for it one after another. */
	worker_query_shutdown(&d->w[0]);
	admin_stop(d->admin); /* it asks the workers: before they finish */
	dns_serve_stop(d->dns);
	for (unsigned i = 0; i < d->nw; i++)
		worker_finish(&d->w[i]);
	discover_free(d->disc);
	shimctl_close(d->ctl);
	snapshot_unpublish(d->gen->cfg);
	route6_stop(&d->route6);
	log_info("stopped");
	traffic_close();
	gen_unref(d->gen);
	free(d->w);
	free((char *)d->running.control);
	close(d->lock_fd);
	return 0;
}
