/*
 * Endpoints from DNS: the discovery thread and what the main thread keeps
 * of its answers (see discover.h). The entries are shared under one lock:
 * the thread reads what to ask and when, and writes when next; the answers
 * kept (found) and what has been said about failures are the main
 * thread's alone. Results travel in a queue under the same lock, with an
 * ev_async to wake the main loop; an entry is named by its text in a
 * result, so that a reload may drop the entry meanwhile. Each
 * discover_configure (start-up, every reload) begins an epoch: an answer
 * to a question asked in an earlier one is dropped when it comes, as are
 * the answers still queued when the reload comes, since they may be from
 * resolvers the reload no longer names; the reload made every entry due
 * at once, so each is asked again with the new resolvers and bounds.
 */
#include "discover.h"
#include "dns_client.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "record.h"
#include "startcheck.h"
#include "thread.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Seconds between two generations made for discovered endpoints. */
#define DISCOVER_APPLY_MIN 1.0

struct entry {
	char *text, *name;
	enum cfg_dns_kind kind;
	uint16_t port;
	/* under the lock */
	double due;       /* monotonic: when to ask next */
	bool asked;       /* a result since the last configure */
	unsigned backoff; /* failures in a row, for the thread's delays */
	/* main thread */
	bool have; /* found holds an answer (ok or empty) */
	struct cfg_found *found;
	unsigned nfound;
	unsigned fails;  /* in a row, as said */
	char **services; /* the services that use it (records) */
	unsigned nservices;
};

struct dresult {
	char *text;
	struct dns_result r; /* large: results are few and short-lived */
	struct dresult *next;
};

struct discover {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;
	int stop_fd;
	struct entry *e;
	unsigned n;
	unsigned long epoch; /* discover_configure calls so far */
	struct dns_client client;
	double ttl_min, ttl_max;
	char host[256];
	struct dresult *head, **tail; /* thread -> main */
	ev_async async;
	ev_timer apply;      /* a change waiting for DISCOVER_APPLY_MIN */
	double last_applied; /* ev_now of the last `changed` call */
	struct ev_loop *loop;
	discover_changed_fn *changed;
	void *arg;
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct entry *find(struct discover *d, const char *text)
{
	for (unsigned i = 0; i < d->n; i++)
		if (d->e[i].text && strcmp(d->e[i].text, text) == 0)
			return &d->e[i]; /* (NULL: moved by discover_configure) */
	return NULL;
}

/* When to ask again after r: its TTL within the bounds; after failures,
 * dns_ttl_min doubled per failure, up to min(dns_ttl_max, 30 s) (but never
 * below dns_ttl_min). */
static double next_delay(const struct discover *d, struct entry *e, const struct dns_result *r)
{
	if (r->kind != DNS_RES_FAILED) {
		e->backoff = 0;
		double t = r->ttl;
		return t < d->ttl_min ? d->ttl_min : t > d->ttl_max ? d->ttl_max : t;
	}
	e->backoff++;
	double cap = d->ttl_max < 30 ? d->ttl_max : 30;
	if (cap < d->ttl_min)
		cap = d->ttl_min;
	double t = d->ttl_min * ldexp(1.0, (int)(e->backoff > 20 ? 20 : e->backoff - 1));
	return t > cap ? cap : t;
}

static void *thread_main(void *arg)
{
	struct discover *d = arg;
	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		struct entry *next = NULL;
		for (unsigned i = 0; i < d->n; i++)
			if (!next || d->e[i].due < next->due)
				next = &d->e[i];
		double now = mono();
		if (!next) {
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		if (next->due > now) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			double until =
				(double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + next->due - now;
			ts.tv_sec = (time_t)until;
			ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
			pthread_cond_timedwait(&d->cond, &d->lock, &ts);
			continue;
		}
		struct dresult *res = calloc(1, sizeof *res);
		char *text = strdup(next->text), *name = strdup(next->name);
		enum cfg_dns_kind kind = next->kind;
		uint16_t port = next->port;
		struct dns_client client = d->client;
		unsigned long epoch = d->epoch;
		if (!res || !text || !name) {
			free(res);
			free(text);
			free(name);
			next->due = now + d->ttl_min; /* out of memory: later */
			continue;
		}
		/* Not asked again while this question runs. */
		next->due = now + 3600;
		pthread_mutex_unlock(&d->lock);
		dns_resolve(&client, kind, name, port, &res->r);
		free(name);
		res->text = text;
		pthread_mutex_lock(&d->lock);
		if (d->epoch != epoch) {
			/* Asked before a reload, perhaps of resolvers it no
			 * longer names: dropped; the reload made the entry due
			 * now, so it is asked again on this turn. */
			free(text);
			free(res);
			continue;
		}
		struct entry *e = find(d, text);
		if (e) {
			e->due = mono() + next_delay(d, e, &res->r);
			e->asked = true;
			pthread_cond_broadcast(&d->cond); /* discover_wait_first */
		}
		*d->tail = res;
		d->tail = &res->next;
		ev_async_send(d->loop, &d->async);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static void apply_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct discover *d = w->data;
	d->last_applied = ev_now(loop);
	d->changed(d->arg);
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)revents;
	struct discover *d = w->data;
	if (!discover_collect(d) || !d->changed || ev_is_active(&d->apply))
		return;
	/* At most one generation per DISCOVER_APPLY_MIN, however many entries
	 * change (a DNS server that changes every answer makes no more). */
	double now = ev_now(loop), next = d->last_applied + DISCOVER_APPLY_MIN;
	if (now >= next) {
		d->last_applied = now;
		d->changed(d->arg);
		return;
	}
	ev_timer_set(&d->apply, next - now, 0.);
	ev_timer_start(loop, &d->apply);
}

struct discover *discover_new(struct ev_loop *main_loop, discover_changed_fn *changed, void *arg,
                              char *err, size_t errlen)
{
	struct discover *d = calloc(1, sizeof *d);
	if (!d) {
		snprintf(err, errlen, "discovery: out of memory");
		return NULL;
	}
	d->tail = &d->head;
	d->loop = main_loop;
	d->changed = changed;
	d->arg = arg;
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (d->stop_fd == -1 || pthread_mutex_init(&d->lock, NULL) != 0 ||
	    pthread_cond_init(&d->cond, &ca) != 0) {
		snprintf(err, errlen, "discovery: %s", strerror(errno));
		pthread_condattr_destroy(&ca);
		if (d->stop_fd != -1)
			close(d->stop_fd);
		free(d);
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	d->client.stop_fd = d->stop_fd;
	ev_async_init(&d->async, async_cb);
	ev_timer_init(&d->apply, apply_cb, 0., 0.);
	d->apply.data = d;
	d->async.data = d;
	ev_async_start(main_loop, &d->async);
	/* The thread starts with the first entry (discover_configure): a
	 * config without dns: or srv: runs none. */
	return d;
}

static void entry_clear(struct entry *e)
{
	free(e->text);
	free(e->name);
	free(e->found);
	for (unsigned i = 0; i < e->nservices; i++)
		free(e->services[i]);
	free(e->services);
}

static bool add_service(struct entry *e, const char *svc)
{
	char **g = realloc(e->services, (e->nservices + 1) * sizeof *g);
	if (!g)
		return false;
	e->services = g;
	if (!(g[e->nservices] = strdup(svc)))
		return false;
	e->nservices++;
	return true;
}

void discover_configure(struct discover *d, const struct config *c)
{
	struct entry *ne = calloc(CFG_MAX_DNS, sizeof *ne);
	unsigned nn = 0;
	if (!ne) {
		log_error("discovery: out of memory; the entries stay as they were");
		return;
	}
	pthread_mutex_lock(&d->lock);
	d->epoch++;       /* a question in flight now is answered in vain */
	while (d->head) { /* and the answers not yet collected are dropped */
		struct dresult *r = d->head;
		d->head = r->next;
		free(r->text);
		free(r);
	}
	d->tail = &d->head;
	double now = mono();
	for (unsigned i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		for (unsigned k = 0; k < s->ndns; k++) {
			const struct cfg_dns *x = &s->dns[k];
			struct entry *e = NULL;
			for (unsigned j = 0; j < nn && !e; j++)
				if (strcmp(ne[j].text, x->text) == 0)
					e = &ne[j];
			if (!e && nn < CFG_MAX_DNS) {
				e = &ne[nn++];
				struct entry *old = find(d, x->text);
				if (old) {
					*e = *old; /* the answer stays; its services anew */
					memset(old, 0, sizeof *old);
					for (unsigned v = 0; v < e->nservices; v++)
						free(e->services[v]);
					free(e->services);
					e->services = NULL;
					e->nservices = 0;
				} else {
					e->text = strdup(x->text);
					e->name = strdup(x->name);
					e->kind = x->kind;
					e->port = x->port;
				}
				if (!e->text || !e->name) {
					log_error("discovery: out of memory; %s is not resolved",
					          x->text);
					entry_clear(e);
					memset(e, 0, sizeof *e);
					nn--;
					continue;
				}
				e->due = now; /* a reload asks again */
				e->asked = false;
				e->backoff = 0;
			}
			if (e && !add_service(e, s->name))
				log_error("discovery: out of memory");
		}
	}
	for (unsigned i = 0; i < d->n; i++)
		entry_clear(&d->e[i]); /* the ones the config no longer has */
	free(d->e);
	d->e = ne;
	d->n = nn;
	/* The resolvers: the config's, or /etc/resolv.conf's, read now. */
	d->client.n = c->nresolvers;
	memcpy(d->client.servers, c->resolvers, sizeof c->resolvers);
	if (!c->nresolvers)
		d->client.n = dns_client_resolv_conf("/etc/resolv.conf", d->client.servers,
		                                     CFG_MAX_RESOLVERS);
	d->client.timeout = c->dns_timeout;
	d->ttl_min = c->dns_ttl_min;
	d->ttl_max = c->dns_ttl_max;
	snprintf(d->host, sizeof d->host, "%s", c->host ? c->host : "");
	pthread_cond_broadcast(&d->cond);
	bool start = nn && !d->started;
	pthread_mutex_unlock(&d->lock);
	if (nn && !d->client.n)
		log_warn(
			"discovery: no resolvers (resolvers is not set and /etc/resolv.conf names "
			"none): %u entr%s cannot be resolved",
			nn, nn == 1 ? "y" : "ies");
	if (start) {
		/* signals stay the main thread's */
		int rc = thread_start(&d->thread, thread_main, d);
		if (rc != 0)
			log_error(
				"discovery: cannot start its thread: %s; dns: and srv: endpoints "
				"stay empty",
				strerror(rc));
		else
			d->started = true;
	}
}

void discover_wait_first(struct discover *d, double secs)
{
	double until = mono() + secs;
	pthread_mutex_lock(&d->lock);
	for (;;) {
		bool all = true;
		for (unsigned i = 0; i < d->n; i++)
			all = all && d->e[i].asked;
		double now = mono();
		if (all || now >= until || !d->started)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (until - now);
		ts.tv_sec = (time_t)t;
		ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	pthread_mutex_unlock(&d->lock);
}

static int cmp_found(const void *x, const void *y)
{
	const struct cfg_found *a = x, *b = y;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->addr.len != b->addr.len)
		return a->addr.len < b->addr.len ? -1 : 1;
	int c = memcmp(&a->addr.ss, &b->addr.ss, a->addr.len);
	if (c)
		return c;
	return a->weight < b->weight ? -1 : a->weight > b->weight;
}

static bool same_found(const struct entry *e, const struct dns_result *r)
{
	if (e->nfound != r->nfound)
		return false;
	for (unsigned i = 0; i < r->nfound; i++)
		if (cmp_found(&e->found[i], &r->found[i]) != 0)
			return false;
	return true;
}

static void say_record(struct discover *d, const struct entry *e, const struct dns_result *r,
                       const char *result)
{
	const char *list[CFG_MAX_ENDPOINTS];
	char(*txt)[64] = calloc(e->nfound ? e->nfound : 1, sizeof *txt);
	unsigned n = 0;
	for (unsigned i = 0; txt && i < e->nfound; i++) {
		net_addr_str(&e->found[i].addr, txt[i], sizeof txt[i]);
		list[n++] = txt[i];
	}
	/* The TTL in force: the answer's, held to the bounds (0 on failure). */
	double ttl = r->ttl < d->ttl_min ? d->ttl_min : r->ttl > d->ttl_max ? d->ttl_max : r->ttl;
	if (r->kind == DNS_RES_FAILED)
		ttl = 0;
	for (unsigned s = 0; s < e->nservices; s++)
		record_discovery(d->host, e->services[s], e->text, list, n, (unsigned)ttl, result,
		                 r->error[0] ? r->error : NULL);
	free(txt);
}

/* One result, on the main thread: true when e's endpoints changed. */
static bool apply(struct discover *d, struct entry *e, struct dns_result *r)
{
	char first[64] = "";
	if (r->kind == DNS_RES_FAILED) {
		metrics_discovery(e->text, METRICS_DISC_FAILED);
		e->fails++;
		/* Aggregated: the first failure, then 2, 4, 8 ... in a row. */
		if ((e->fails & (e->fails - 1)) == 0 && e->have)
			log_warn(
				"discovery %s: %s (%u in a row); keeping the last answer (%u "
				"endpoint%s)",
				e->text, r->error, e->fails, e->nfound, e->nfound == 1 ? "" : "s");
		else if ((e->fails & (e->fails - 1)) == 0)
			log_warn(
				"discovery %s: %s (%u in a row); no answer yet: no endpoints from it",
				e->text, r->error, e->fails);
		if (e->fails == 1)
			say_record(d, e, r, "failed");
		return false;
	}
	metrics_discovery(e->text, r->kind == DNS_RES_OK ? METRICS_DISC_OK : METRICS_DISC_EMPTY);
	if (e->fails)
		log_info("discovery %s: resolved again after %u failure%s", e->text, e->fails,
		         e->fails == 1 ? "" : "s");
	bool was_failing = e->fails > 0;
	e->fails = 0;
	qsort(r->found, r->nfound, sizeof r->found[0], cmp_found);
	if (e->have && same_found(e, r)) {
		if (was_failing)
			say_record(d, e, r, r->kind == DNS_RES_OK ? "ok" : "empty");
		return false;
	}
	struct cfg_found *nf = malloc((r->nfound ? r->nfound : 1) * sizeof *nf);
	if (!nf) {
		log_error("discovery %s: out of memory; keeping the last answer", e->text);
		return false;
	}
	memcpy(nf, r->found, r->nfound * sizeof *nf);
	bool changed = !e->have ? r->nfound > 0 : true;
	free(e->found);
	e->found = nf;
	e->nfound = r->nfound;
	e->have = true;
	if (r->nfound)
		net_addr_str(&nf[0].addr, first, sizeof first);
	if (r->kind == DNS_RES_OK)
		log_info("discovery %s: %u endpoint%s (%s%s), ttl %us%s", e->text, r->nfound,
		         r->nfound == 1 ? "" : "s", first, r->nfound > 1 ? ", ..." : "", r->ttl,
		         r->dropped ? " (some records left out: bounds)" : "");
	else
		log_warn("discovery %s: %s: no endpoints from it now", e->text, r->error);
	say_record(d, e, r, r->kind == DNS_RES_OK ? "ok" : "empty");
	return changed;
}

bool discover_collect(struct discover *d)
{
	pthread_mutex_lock(&d->lock);
	struct dresult *list = d->head;
	d->head = NULL;
	d->tail = &d->head;
	pthread_mutex_unlock(&d->lock);
	bool changed = false;
	while (list) {
		struct dresult *next = list->next;
		/* The entries change only on this thread (configure): no lock
		 * for reading them here. */
		struct entry *e = find(d, list->text);
		if (e && apply(d, e, &list->r))
			changed = true;
		free(list->text);
		free(list);
		list = next;
	}
	return changed;
}

unsigned discover_found(void *arg, const char *source, const struct cfg_found **found)
{
	struct discover *d = arg;
	struct entry *e = d ? find(d, source) : NULL;
	if (!e || !e->have)
		return 0;
	*found = e->found;
	return e->nfound;
}

void discover_free(struct discover *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	uint64_t one = 1;
	if (write(d->stop_fd, &one, sizeof one) == -1) {
		/* A full eventfd already wakes every poll. */
	}
	if (d->started)
		pthread_join(d->thread, NULL);
	ev_async_stop(d->loop, &d->async);
	ev_timer_stop(d->loop, &d->apply);
	while (d->head) {
		struct dresult *next = d->head->next;
		free(d->head->text);
		free(d->head);
		d->head = next;
	}
	for (unsigned i = 0; i < d->n; i++)
		entry_clear(&d->e[i]);
	free(d->e);
	close(d->stop_fd);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void discover_check(const struct config *c, char **notes, char **warns)
{
	struct dns_client client = { .n = c->nresolvers, .timeout = c->dns_timeout, .stop_fd = -1 };
	char via[200] = "", who[64];
	memcpy(client.servers, c->resolvers, sizeof c->resolvers);
	if (!client.n)
		client.n = dns_client_resolv_conf("/etc/resolv.conf", client.servers,
		                                  CFG_MAX_RESOLVERS);
	for (unsigned i = 0; i < client.n; i++) {
		size_t l = strlen(via);
		snprintf(via + l, sizeof via - l, "%s%s", i ? ", " : "",
		         net_addr_str(&client.servers[i], who, sizeof who));
	}
	struct dns_result *r = malloc(sizeof *r);
	if (!r)
		return;
	const char *seen[CFG_MAX_DNS];
	unsigned nseen = 0;
	bool silent = false;
	for (unsigned i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		for (unsigned k = 0; k < s->ndns; k++) {
			const struct cfg_dns *x = &s->dns[k];
			bool dup = false;
			for (unsigned j = 0; j < nseen; j++)
				dup = dup || strcmp(seen[j], x->text) == 0;
			if (dup)
				continue;
			seen[nseen++] = x->text;
			if (!client.n || silent) {
				startcheck_add(
					warns,
					silent ? "warning: discovery: service %s: %s: not tried "
						 "(the resolvers did not answer)"
					       : "warning: discovery: service %s: %s: no resolvers "
						 "(resolvers is not set and /etc/resolv.conf names "
						 "none)",
					s->name, x->text);
				continue;
			}
			dns_resolve(&client, x->kind, x->name, x->port, r);
			/* -t waits for one timeout, not one per entry. */
			silent = r->kind == DNS_RES_FAILED && strstr(r->error, "timeout");
			if (r->kind == DNS_RES_FAILED)
				startcheck_add(
					warns,
					"warning: discovery: service %s: %s via %s: %s (meshd "
					"keeps asking)",
					s->name, x->text, via, r->error);
			else if (r->kind == DNS_RES_EMPTY)
				startcheck_add(notes,
				               "discovery: service %s: %s via %s: %s (none now)",
				               s->name, x->text, via, r->error);
			else
				startcheck_add(
					notes,
					"discovery: service %s: %s via %s: %u endpoint%s, ttl %us",
					s->name, x->text, via, r->nfound, r->nfound == 1 ? "" : "s",
					r->ttl);
		}
	}
	free(r);
}
