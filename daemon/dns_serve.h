/*
 * meshd's DNS listener (dns_serve.c): UDP and TCP on `dns = ADDR:PORT`
 * (loopback only), on a thread of its own with its own libev loop, so
 * that no query ever waits on a worker or the main thread, nor they on
 * it. It answers from the encoded route snapshot the main thread hands
 * it at each publish (dns_serve_set_routes): the same bytes the shim maps,
 * so a name resolves by DNS exactly when it resolves through the shim.
 * Answers are dns_msg.c's.
 *
 * Bounds (what a local user can make it hold or do):
 *   UDP: datagrams of at most DNS_QUERY_MAX bytes, read in batches
 *        (recvmmsg), each answered and sent at once, at most DNS_UDP_BATCH
 *        per loop turn; nothing is kept between datagrams (an answer that
 *        cannot be sent at once is dropped, as a network would). Each
 *        source (address and port: a flooding socket keeps its port, a
 *        stub resolver takes a new one per query) gets DNS_UDP_RATE
 *        answers a second, bursts of DNS_UDP_BURST; what is over is
 *        dropped unanswered, cheaply, so that the socket is drained faster
 *        than a flood can fill it and other programs' queries get through.
 *        The receive queue is DNS_UDP_RCVBUF bytes (kernel memory).
 *   TCP: DNS_TCP_MAX_CONNS connections, DNS_TCP_MAX_PER_UID of one user
 *        (the caller socket's owner, by sock_diag), DNS_TCP_MAX_OTHERS of
 *        all users but root and meshd's own together (an owner that
 *        cannot be told is one of these); more are closed at once. Each
 *        reads messages of at most DNS_QUERY_MAX bytes (2-byte length
 *        prefix, RFC 7766), answers them in order one at a time (it stops
 *        reading while an answer is unsent: one answer is its whole write
 *        queue), at most DNS_TCP_MAX_QUERIES of them, and is closed when
 *        no whole query arrives for DNS_TCP_IDLE seconds or DNS_TCP_LIFETIME
 *        after it was accepted, whatever it sends.
 * Refused connections are counted and logged at most once a minute.
 */
#ifndef MESHD_DNS_SERVE_H
#define MESHD_DNS_SERVE_H

#include <stddef.h>
#include <stdint.h>

struct cfg_addr;
struct dns_serve;

#define DNS_UDP_BATCH 256
#define DNS_UDP_RATE 200u /* answers a second to one source */
#define DNS_UDP_BURST 200.0
#define DNS_UDP_RCVBUF (4 << 20) /* the UDP socket's receive queue, bytes */
#define DNS_TCP_MAX_CONNS 64
#define DNS_TCP_MAX_PER_UID 16
#define DNS_TCP_MAX_OTHERS 48 /* 16 stay for root and meshd's user */
#define DNS_TCP_IDLE 5.0      /* seconds without a whole query */
#define DNS_TCP_LIFETIME 10.0 /* seconds from accept */
#define DNS_TCP_MAX_QUERIES 100

/* What the listener did since it started (any thread may read). */
struct dns_stats {
	uint64_t udp_queries, tcp_queries;
	uint64_t noerror, nxdomain, refused, formerr, notimp, other;
	uint64_t truncated;
	uint64_t dropped;      /* not answered: no header, a response, too long */
	uint64_t rate_limited; /* not answered: the source is over DNS_UDP_RATE */
	uint64_t tcp_refused;  /* connections over the bounds */
	uint64_t tcp_timeouts; /* connections cut at a deadline */
};

/* Bind UDP and TCP on addr (the caller says what failing means). NULL
 * with err. */
struct dns_serve *dns_serve_open(const struct cfg_addr *addr, char *err, size_t errlen);
/* Start serving on a thread of its own. -1 with err. */
int dns_serve_start(struct dns_serve *d, char *err, size_t errlen);
/* Stop the thread, close everything, free. NULL: nothing. */
void dns_serve_stop(struct dns_serve *d);
/*
 * The routes to answer from from now on: buf is an encoded snapshot
 * (snapshot_encode's malloc'd bytes), which d owns from here; NULL: none
 * (meshd is draining, or publishing failed): every query is REFUSED. Any
 * thread; it never waits for a query being answered. NULL d: buf is freed.
 */
void dns_serve_set_routes(struct dns_serve *d, void *buf, size_t len);
void dns_serve_stats(struct dns_serve *d, struct dns_stats *out);
/* The same as metrics.h's extra counters, into out (at most max); the
 * number filled. NULL d: none. */
struct metrics_extra;
unsigned dns_serve_metrics(struct dns_serve *d, struct metrics_extra *out, unsigned max);

#endif
