/*
 * Blocking DNS questions for discovery's thread (see dns_client.h). The
 * answers are parsed by dns_answer.c; here are the sockets, the deadlines
 * and the bounds on what a server may make us do: one answer of at most
 * 64 KiB per question, DNS_JUNK_MAX datagrams that are not it, records
 * kept per answer (dns_answer.h), target lookups per srv: entry.
 */
#include "dns_client.h"
#include "dns_answer.h"
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

unsigned dns_client_resolv_conf(const char *path, struct cfg_addr *out, unsigned max)
{
	FILE *f = fopen(path, "re");
	char line[512];
	unsigned n = 0;
	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof line, f)) {
		char addr[256], with[300];
		if (sscanf(line, " nameserver %255s", addr) != 1)
			continue;
		char *pct = strchr(addr, '%'); /* fe80::1%eth0: no scope here */
		if (pct)
			continue;
		snprintf(with, sizeof with, strchr(addr, ':') ? "[%s]:53" : "%s:53", addr);
		if (net_parse_addr(with, &out[n]) == 0)
			n++;
	}
	fclose(f);
	return n;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for fd (events) until deadline: 1 ready, 0 timeout, -1 stopped or
 * error (why). */
static int wait_fd(const struct dns_client *c, int fd, short events, double deadline, char *why,
                   size_t whylen)
{
	for (;;) {
		double left = deadline - mono();
		if (left <= 0)
			return 0;
		struct pollfd p[2] = { { .fd = fd, .events = events },
			               { .fd = c->stop_fd, .events = POLLIN } };
		int rc = poll(p, c->stop_fd >= 0 ? 2 : 1, (int)(left * 1000) + 1);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1) {
			snprintf(why, whylen, "poll: %s", strerror(errno));
			return -1;
		}
		if (rc > 0 && c->stop_fd >= 0 && p[1].revents) {
			snprintf(why, whylen, "stopped");
			return -1;
		}
		if (rc > 0)
			return 1;
	}
}

/* Over TCP: the answer (at most 64 KiB: its length is 16 bits) into buf. */
static int ask_tcp(const struct dns_client *c, const struct cfg_addr *srv, const unsigned char *q,
                   size_t qlen, unsigned char *buf, size_t *len, double deadline, char *why,
                   size_t whylen)
{
	int fd = socket(srv->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unsigned char pre[2] = { (unsigned char)(qlen >> 8), (unsigned char)qlen };
	size_t got = 0, want = 2;
	if (fd == -1) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&srv->ss, srv->len) == -1 &&
	    errno != EINPROGRESS) {
		snprintf(why, whylen, "tcp connect: %s", strerror(errno));
		goto fail;
	}
	int rc = wait_fd(c, fd, POLLOUT, deadline, why, whylen), err = 0;
	socklen_t el = sizeof err;
	if (rc == 0)
		snprintf(why, whylen, "timeout (tcp connect)");
	if (rc <= 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1 || err) {
		snprintf(why, whylen, "tcp connect: %s", strerror(err ? err : errno));
		goto fail;
	}
	/* The question is small: one send each (a full send buffer on a fresh
	 * connection is not a case worth a loop). */
	if (send(fd, pre, 2, MSG_NOSIGNAL | MSG_MORE) != 2 ||
	    send(fd, q, qlen, MSG_NOSIGNAL) != (ssize_t)qlen) {
		snprintf(why, whylen, "tcp send: %s", strerror(errno));
		goto fail;
	}
	while (got < want) {
		rc = wait_fd(c, fd, POLLIN, deadline, why, whylen);
		if (rc == 0)
			snprintf(why, whylen, "timeout (tcp)");
		if (rc <= 0)
			goto fail;
		ssize_t n = recv(fd, buf + got, want - got, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "tcp: %s", n == 0 ? "closed early" : strerror(errno));
			goto fail;
		}
		got += (size_t)n;
		if (got == 2 && want == 2) {
			want = (size_t)buf[0] << 8 | buf[1];
			if (want < 12) {
				snprintf(why, whylen, "tcp answer of %zu bytes", want);
				goto fail;
			}
			got = 0;
		}
	}
	close(fd);
	*len = got;
	return 0;
fail:
	close(fd);
	return -1;
}

/* One question to one server: 0 with *a (any rcode), -1 with why. */
static int ask_one(const struct dns_client *c, const struct cfg_addr *srv, const char *name,
                   uint16_t qtype, struct dns_answer *a, unsigned char *buf, char *why,
                   size_t whylen)
{
	unsigned char q[DNS_QUERY_MAX];
	uint16_t id;
	if (getrandom(&id, sizeof id, 0) != sizeof id)
		id = (uint16_t)(mono() * 1e6);
	int qlen = dns_query_build(q, sizeof q, id, name, qtype);
	if (qlen == -1) {
		snprintf(why, whylen, "cannot ask for '%.120s'", name);
		return -1;
	}
	double deadline = mono() + c->timeout;
	int fd = socket(srv->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Connected: the kernel drops datagrams from any other address. */
	if (connect(fd, (const struct sockaddr *)&srv->ss, srv->len) == -1 ||
	    send(fd, q, (size_t)qlen, 0) != qlen) {
		snprintf(why, whylen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	char perr[128] = "";
	for (unsigned junk = 0; junk < DNS_JUNK_MAX;) {
		int rc = wait_fd(c, fd, POLLIN, deadline, why, whylen);
		if (rc == 0)
			snprintf(why, whylen, "timeout%s%s", *perr ? " after " : "", perr);
		if (rc <= 0)
			break;
		ssize_t n = recv(fd, buf, DNS_ANSWER_MAX, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n == -1) {
			snprintf(why, whylen, "%s", strerror(errno));
			break;
		}
		if (dns_answer_parse(buf, (size_t)n, id, name, qtype, a, perr, sizeof perr) == -1) {
			junk++; /* not ours, or garbage: keep waiting, within bounds */
			if (junk == DNS_JUNK_MAX)
				snprintf(why, whylen, "%u datagrams that are not the answer (%s)",
				         junk, perr);
			continue;
		}
		close(fd);
		if (!a->truncated)
			return 0;
		size_t len = 0;
		if (ask_tcp(c, srv, q, (size_t)qlen, buf, &len, deadline, why, whylen) == -1)
			return -1;
		if (dns_answer_parse(buf, len, id, name, qtype, a, perr, sizeof perr) == -1) {
			snprintf(why, whylen, "tcp: %s", perr);
			return -1;
		}
		if (a->truncated) { /* TC over TCP too: no answer, not an empty one */
			snprintf(why, whylen, "tcp: the answer is truncated too");
			return -1;
		}
		return 0;
	}
	close(fd);
	return -1;
}

/* Each server in turn until one answers NOERROR or NXDOMAIN: 0, or -1 with
 * why naming the last server's failure. */
static int ask(const struct dns_client *c, const char *name, uint16_t qtype, struct dns_answer *a,
               unsigned char *buf, char *why, size_t whylen)
{
	char one[200], rc[32], who[64];
	if (c->n == 0) {
		snprintf(why, whylen, "no resolvers (none in the config or /etc/resolv.conf)");
		return -1;
	}
	for (unsigned i = 0; i < c->n; i++) {
		net_addr_str(&c->servers[i], who, sizeof who);
		if (ask_one(c, &c->servers[i], name, qtype, a, buf, one, sizeof one) == -1) {
			snprintf(why, whylen, "%.180s from %.60s", one, who);
			if (strcmp(one, "stopped") == 0)
				return -1;
			continue;
		}
		if (a->rcode == DNS_RCODE_NOERROR || a->rcode == DNS_RCODE_NXDOMAIN)
			return 0;
		snprintf(why, whylen, "%.30s from %.60s", dns_rcode_str(a->rcode, rc, sizeof rc),
		         who);
	}
	return -1;
}

static void min_ttl(struct dns_result *r, bool *have, const struct dns_answer *a)
{
	if (a->have_ttl && (!*have || a->min_ttl < r->ttl))
		r->ttl = a->min_ttl;
	*have = *have || a->have_ttl;
}

static bool found_has(const struct dns_result *r, const struct cfg_addr *x)
{
	for (unsigned i = 0; i < r->nfound; i++)
		if (net_addr_eq(&r->found[i].addr, x))
			return true;
	return false;
}

/* addr:port into r's list (rank, weight), unless there already or full. */
static void add(struct dns_result *r, int family, const unsigned char *addr, uint16_t port,
                unsigned weight, unsigned rank)
{
	struct cfg_addr x;
	memset(&x, 0, sizeof x);
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&x.ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, addr, 4);
		x.len = sizeof *s4;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&x.ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, addr, 16);
		x.len = sizeof *s6;
	}
	if (found_has(r, &x))
		return;
	if (r->nfound == CFG_MAX_ENDPOINTS) {
		r->dropped++;
		return;
	}
	r->found[r->nfound++] = (struct cfg_found){ .addr = x, .weight = weight, .rank = rank };
}

/* A and AAAA of name: the addresses with port into r. 0, 1 when the name
 * has none (r->error says why), -1 failed. */
static int addresses(const struct dns_client *c, const char *name, uint16_t port, unsigned weight,
                     unsigned rank, struct dns_answer *a, unsigned char *buf, struct dns_result *r,
                     bool *have_ttl)
{
	static const uint16_t types[2] = { DNS_T_A, DNS_T_AAAA };
	unsigned before = r->nfound, naddr = 0;
	bool nx = false;
	for (unsigned t = 0; t < 2; t++) {
		if (ask(c, name, types[t], a, buf, r->error, sizeof r->error) == -1)
			return -1;
		nx = nx || a->rcode == DNS_RCODE_NXDOMAIN;
		min_ttl(r, have_ttl, a);
		r->dropped += a->dropped;
		for (unsigned i = 0; i < a->naddr; i++)
			add(r, a->addr[i].family, a->addr[i].addr, port, weight, rank);
		naddr += a->naddr;
	}
	if (naddr == 0) {
		snprintf(r->error, sizeof r->error, "%s", nx ? "NXDOMAIN" : "no A or AAAA records");
		return 1;
	}
	(void)before;
	return 0;
}

static int cmp_prio(const void *x, const void *y)
{
	const struct dns_srv_rec *a = x, *b = y;
	return a->prio != b->prio ? (a->prio < b->prio ? -1 : 1) : 0;
}

static void resolve_srv(const struct dns_client *c, const char *name, struct dns_answer *a,
                        unsigned char *buf, struct dns_result *r)
{
	bool have = false;
	if (ask(c, name, DNS_T_SRV, a, buf, r->error, sizeof r->error) == -1) {
		r->kind = DNS_RES_FAILED;
		return;
	}
	min_ttl(r, &have, a);
	r->dropped += a->dropped;
	if (a->nsrv == 0) {
		r->kind = DNS_RES_EMPTY;
		snprintf(r->error, sizeof r->error, "%s",
		         a->rcode == DNS_RCODE_NXDOMAIN ? "NXDOMAIN" : "no SRV records");
		return;
	}
	/* The answer is overwritten by target lookups: keep its records. */
	unsigned nsrv = a->nsrv, nadd = a->naddr, lookups = 0;
	struct dns_srv_rec *srv = malloc(nsrv * sizeof *srv);
	struct dns_addr_rec *add_recs = malloc((nadd ? nadd : 1) * sizeof *add_recs);
	if (!srv || !add_recs) {
		free(srv);
		free(add_recs);
		r->kind = DNS_RES_FAILED;
		snprintf(r->error, sizeof r->error, "out of memory");
		return;
	}
	memcpy(srv, a->srv, nsrv * sizeof *srv);
	memcpy(add_recs, a->addr, nadd * sizeof *add_recs);
	qsort(srv, nsrv, sizeof *srv, cmp_prio);
	unsigned rank = 0;
	r->kind = DNS_RES_OK;
	for (unsigned i = 0; i < nsrv; i++) {
		if (i && srv[i].prio != srv[i - 1].prio)
			rank++;
		if (!srv[i].target[0])
			continue; /* "." : no service there (RFC 2782) */
		unsigned weight = srv[i].weight ? srv[i].weight : 1, k = 0;
		for (unsigned j = 0; j < nadd; j++) {
			if (strcmp(add_recs[j].name, srv[i].target) != 0)
				continue;
			add(r, add_recs[j].family, add_recs[j].addr, srv[i].port, weight, rank);
			if (!have || add_recs[j].ttl < r->ttl)
				r->ttl = add_recs[j].ttl;
			have = true;
			k++;
		}
		if (k)
			continue;
		/* The same target for another port or priority: asked once
		 * would do, but asking again is cheaper than a cache here, and
		 * bounded all the same. */
		if (lookups == DNS_TARGET_LOOKUPS) {
			r->dropped++;
			continue;
		}
		lookups++;
		int rc = addresses(c, srv[i].target, srv[i].port, weight, rank, a, buf, r, &have);
		if (rc == -1) {
			char e[sizeof r->error];
			snprintf(e, sizeof e, "%s", r->error);
			snprintf(r->error, sizeof r->error, "target %.100s: %.140s", srv[i].target,
			         e);
			r->kind = DNS_RES_FAILED;
			break;
		}
	}
	free(srv);
	free(add_recs);
	if (r->kind == DNS_RES_OK && r->nfound == 0) {
		r->kind = DNS_RES_EMPTY;
		snprintf(r->error, sizeof r->error, "no addresses for the SRV targets");
	} else if (r->kind == DNS_RES_OK) {
		r->error[0] = '\0';
	}
}

void dns_resolve(const struct dns_client *c, enum cfg_dns_kind kind, const char *name,
                 uint16_t port, struct dns_result *r)
{
	memset(r, 0, offsetof(struct dns_result, found));
	struct dns_answer *a = malloc(sizeof *a);
	unsigned char *buf = malloc(DNS_ANSWER_MAX + 1);
	if (!a || !buf) {
		r->kind = DNS_RES_FAILED;
		snprintf(r->error, sizeof r->error, "out of memory");
	} else if (kind == CFG_DNS_SRV) {
		resolve_srv(c, name, a, buf, r);
	} else {
		bool have = false;
		int rc = addresses(c, name, port, 1, 0, a, buf, r, &have);
		r->kind = rc == -1 ? DNS_RES_FAILED : rc == 1 ? DNS_RES_EMPTY : DNS_RES_OK;
		if (rc == 0)
			r->error[0] = '\0';
	}
	free(a);
	free(buf);
}
