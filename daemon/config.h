/*
 * The INI config: one immutable, refcounted table per load.
 *
 * config_load() parses a file with inih into a fresh struct config, validates
 * it completely and collects every problem as "file:line: key: reason".
 * Nothing is half-applied: a reload builds the new config fully and the
 * caller swaps pointers; connections keep a reference to the config they
 * started with (config_ref/config_unref).
 *
 * Sections and keys (defaults in brackets) -- README.md "Configuration" is
 * the user-facing reference and must match this table, and this table must
 * match the key tables of config_keys.c, which are what the loader does
 * (tests/unit/test_config_keys.c checks every key and default):
 *
 * [mesh]
 *   trust_domain   = example.org          [required]
 *   host           = name of this host    [gethostname()]
 *   ca             = PEM file of the mesh CA            [required]
 *   inbound        = ADDR:PORT mesh (mTLS) listener     [0.0.0.0:15443]
 *                    "off" disables inbound
 *   admin          = ADDR:PORT admin listener           [127.0.0.1:15000]
 *                    "off" disables it
 *   dns            = DNS for mesh names (dns_msg.h): off, on
 *                    (127.0.0.1:53), PORT (127.0.0.1:PORT) or
 *                    ADDR:PORT, loopback only        [off]
 *   log            = traffic log path, "-" for stdout   [/var/log/libmesh/traffic.log]
 *   vip_range      = CIDR for service VIPs              [127.77.0.0/16]
 *   vip6_range     = IPv6 CIDR inside fc00::/7 (/64../120)
 *                    for IPv6 VIPs, "off" for none       [off]
 *   snapshot       = route snapshot path for the shim   [/run/libmesh/routes]
 *   control        = control socket for the shim (connect
 *                    verdicts, caller pid)                [SNAPSHOT.ctl]
 *   suffix         = optional name suffix               [mesh]  ("" = none)
 *   connect_timeout= default per service                [1s]
 *   retries        = default per service                [2]
 *   idle_timeout   = default per service                [1h]
 *   lb             = balancer, default per service: p2c_ewma,
 *                    least_conn or round_robin          [p2c_ewma]
 *   ewma_decay     = p2c_ewma's latency memory, default per service [10s]
 *   drain_timeout  = on SIGTERM                         [30s]
 *   workers        = number of event loops, or "auto"   [1]
 *   handshake_timeout = a mesh-port TLS handshake       [3s]
 *   link_timeout   = a silent host-to-host link is dead
 *                    after this (PING unanswered), 500ms..5m [3s]
 *   max_handshakes = concurrent mesh-port handshakes    [256]
 *   max_handshakes_per_source = the same per peer address [32]
 *   max_streams_per_link = open streams a peer may have on one link [512]
 *   max_connections_per_uid = open VIP connections per local uid
 *                    ("auto": a quarter of the descriptor limit) [auto]
 *   max_connections_per_peer = open inbound streams per peer identity
 *                    ("auto": a quarter of the descriptor limit) [auto]
 *   max_control_per_uid = control-socket connections per uid [128]
 *   max_pending_per_control = unanswered questions per control connection [1024]
 *   max_pending_per_uid = unanswered questions per uid  [8192]
 *   consecutive_failures = default per service           [5]
 *   base_ejection  = default per service                 [30s]
 *   max_ejection   = default per service                 [5m]
 *   max_ejection_percent = default per service           [50]
 *   retry_budget   = default per service                 [20%]
 *   retry_min_per_s = default per service                [10]
 *   progress_interval = a "progress" traffic record for each open
 *                    connection this often, 1s..1h, or "off" [10s]
 *   open_records   = an "open" traffic record when a connection is
 *                    carried: on or off                   [off]
 *   resolvers      = DNS servers for dns: and srv: endpoints, ADDR or
 *                    ADDR:PORT, at most 8  [the nameservers of /etc/resolv.conf]
 *   dns_ttl_min    = a discovered answer is asked again after its TTL,
 *                    at least this, 1s..1h               [5s]
 *   dns_ttl_max    = ... and at most this, 1s..1d        [5m]
 *   dns_timeout    = one DNS question to one server, 100ms..30s [2s]
 *
 * [identity.NAME]   NAME: [a-z0-9-]{1,63}; SAN spiffe://TD/svc/NAME
 *   uids           = list of uids or user names, "*", or "none"
 *                    (an identity that only serves)       [required]
 *   cert           = PEM certificate                     [required]
 *   key            = PEM private key                     [required]
 *
 * [service.NAME]    NAME: [a-z0-9-]{1,63}
 *   ports          = list of TCP ports                   [required, 1..16]
 *   endpoints      = list of HOST:PORT of peer meshd, or "local"
 *                    each may carry a weight: 10.0.0.2:15443*3   [none]
 *                    at most 256; groups separated by '|' are failover
 *                    tiers: a later group only while no endpoint of an
 *                    earlier one is healthy (a, b | c)
 *                    dns:NAME:PORT (A and AAAA) and srv:NAME (SRV:
 *                    priorities are tiers within the group, weights
 *                    weights) are resolved in the background (discover.c)
 *   intercept      = list of legacy ADDR:PORT sent to this service [none]
 *                    the port must be one of `ports`
 *   vip            = fixed VIP inside vip_range           [derived from name]
 *   vip6           = fixed IPv6 VIP inside vip6_range     [derived from name]
 *   connect_timeout, retries, idle_timeout                [from [mesh]]
 *   consecutive_failures = failed attempts in a row that eject an
 *                    endpoint; 0: never eject          [from [mesh]]
 *   base_ejection  = the first ejection; the n-th lasts n times as long
 *                                                       [from [mesh]]
 *   max_ejection   = the longest ejection (>= base_ejection) [from [mesh]]
 *   max_ejection_percent = of the endpoints ejected at once (at least
 *                    one may be)                        [from [mesh]]
 *   retry_budget   = extra attempts at most this share of the first
 *                    attempts of the last 10 s ...      [from [mesh]]
 *   retry_min_per_s = ... plus this many per second      [from [mesh]]
 *   lb, ewma_decay                                        [from [mesh]]
 *   identity       = identity that serves the service     [NAME]
 *                    (what callers expect the peer to present, and which
 *                     certificate the serving meshd presents for it)
 *   upstream       = local address that serves the service on this host:
 *                    ADDR:PORT (all ports), or a list of PORT=ADDR:PORT [none]
 *   allow          = identities that may call it, or "*"  [none: deny all]
 *   max_connections= open connections to it from this host, beyond which
 *                    new ones are refused (result overflow); "none" or 0
 *                    for no limit                          [none]
 *
 * Lists are separated by commas and/or spaces. Durations accept ms, s, m, h
 * (a bare number is seconds). Addresses are IPv4 or [IPv6] with a port.
 * Unknown sections and keys are errors.
 */
#ifndef MESHD_CONFIG_H
#define MESHD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "net.h"

#define CFG_MAX_PORTS 16
#define CFG_MAX_ENDPOINTS 256 /* per service */
#define CFG_NAME_MAX 63
#define CFG_MAX_DNS 64 /* dns: and srv: entries per config */
#define CFG_MAX_RESOLVERS 8

enum cfg_lb {
	CFG_LB_ROUND_ROBIN = 0, /* lb_rr.c */
	CFG_LB_P2C_EWMA,        /* lb_p2c.c */
	CFG_LB_LEAST_CONN,      /* lb_leastconn.c */
};

struct cfg_identity {
	char *name;
	char *spiffe; /* spiffe://TD/svc/NAME */
	char *cert;
	char *key;
	uid_t *uids;
	unsigned nuids;
	bool any_uid; /* uids = * */
	int line;     /* line of the section header */
};

struct cfg_endpoint {
	bool local;           /* "local": connect the service's upstream directly */
	struct cfg_addr addr; /* peer meshd inbound address (when !local) */
	char *text;           /* as written, for records: "127.0.0.2:15443" or "local" */
	unsigned weight;      /* >= 1, default 1 */
	unsigned tier;        /* failover group, 0 first ('|' in the list) */
	char *source;         /* the dns:/srv: entry that found it; NULL: written */
};

enum cfg_dns_kind { CFG_DNS_A, CFG_DNS_SRV };

/* A dns: or srv: entry of a service's endpoints. */
struct cfg_dns {
	char *text; /* "dns:api.service.consul:15443", "srv:_api._tcp.example.com" */
	char *name; /* the name asked, lower case, no trailing dot */
	enum cfg_dns_kind kind;
	uint16_t port;   /* dns: */
	unsigned weight; /* dns:'s *WEIGHT, for each address */
	unsigned group;  /* the '|' group it is written in */
};

/* What discovery found for one entry (config_load_with's callback): the
 * addresses with their weights, and for srv: the rank of their priority
 * among the answer's priorities (0: the lowest number, tried first). */
struct cfg_found {
	struct cfg_addr addr;
	unsigned weight;
	unsigned rank;
};
typedef unsigned (*config_found_fn)(void *arg, const char *source, const struct cfg_found **found);

struct cfg_upstream {
	uint16_t port; /* service port it serves; 0 = every port */
	struct cfg_addr addr;
};

struct cfg_service {
	char *name;
	uint16_t ports[CFG_MAX_PORTS];
	unsigned nports;
	struct cfg_endpoint *endpoints;
	unsigned nendpoints;
	struct cfg_dns *dns; /* the dns: and srv: entries */
	unsigned ndns;
	unsigned dns_dropped; /* found endpoints beyond CFG_MAX_ENDPOINTS, left out */
	struct cfg_addr *intercepts;
	unsigned nintercepts;
	struct in_addr vip;     /* network order; always set after load */
	bool vip_fixed;         /* vip = given in the file */
	struct in6_addr vip6;   /* all zero when vip6_range = off */
	bool vip6_fixed;        /* vip6 = given in the file */
	double connect_timeout; /* seconds */
	unsigned retries;       /* extra attempts after the first */
	double idle_timeout;    /* seconds */
	enum cfg_lb lb;
	double ewma_decay; /* seconds: lb_p2c.c's time constant */
	char *identity;    /* serving identity's name */
	char *peer_spiffe; /* spiffe://TD/svc/<identity> */
	struct cfg_upstream *upstreams;
	unsigned nupstreams;
	char **allow; /* identity names */
	unsigned nallow;
	bool allow_any;
	unsigned max_connections; /* 0 = no limit */
	/* Health (endpoint.c: outlier.h, budget.h) */
	unsigned consecutive_failures; /* 0 = never eject */
	double base_ejection;          /* seconds */
	double max_ejection;           /* seconds */
	unsigned max_ejection_percent;
	double retry_budget; /* a ratio: 0.2 for 20% */
	unsigned retry_min_per_s;
	int line;
};

struct config {
	int refs; /* atomic */
	char *path;
	char *text; /* the file as loaded (config_load_with re-reads it) */
	size_t textlen;
	uint64_t generation; /* set by the caller on swap */

	char *trust_domain;
	char *host;
	char *ca;
	bool inbound_on;
	struct cfg_addr inbound;
	bool admin_on;
	struct cfg_addr admin;
	bool dns_on;
	struct cfg_addr dns;
	char *log;
	struct in_addr vip_net; /* network order */
	unsigned vip_prefix;
	bool vip6_on; /* vip6_range is not off */
	struct in6_addr vip6_net;
	unsigned vip6_prefix;
	char *snapshot;
	char *control; /* unix socket for libmesh.so */
	char *suffix;  /* "" when none */
	double connect_timeout;
	unsigned retries;
	double idle_timeout;
	enum cfg_lb lb;
	double ewma_decay;
	double drain_timeout;
	unsigned workers; /* 0 = auto */
	/* Bounds on what hostile input can make meshd hold (README "Security
	 * model"); 0 in the *_per_uid/_per_peer ones means auto. */
	double handshake_timeout;
	double link_timeout;      /* seconds: no answer to a PING (link_live.c) */
	double progress_interval; /* seconds between progress records; 0: none */
	bool open_records;        /* an "open" record when a connection is carried */
	struct cfg_addr resolvers[CFG_MAX_RESOLVERS]; /* none given: /etc/resolv.conf's */
	unsigned nresolvers;
	double dns_ttl_min, dns_ttl_max, dns_timeout; /* seconds */
	unsigned max_handshakes;
	unsigned max_handshakes_per_source;
	unsigned max_streams_per_link;
	unsigned max_conns_per_uid;
	unsigned max_conns_per_peer;
	unsigned max_control_per_uid;
	unsigned max_pending_per_control;
	unsigned max_pending_per_uid;
	/* [service] defaults for endpoint health */
	unsigned consecutive_failures;
	double base_ejection;
	double max_ejection;
	unsigned max_ejection_percent;
	double retry_budget;
	unsigned retry_min_per_s;

	struct cfg_identity *identities;
	unsigned nidentities;
	struct cfg_service *services;
	unsigned nservices;
};

/*
 * Previous VIP assignments, so that a VIP handed out stays with its service
 * across reloads and restarts. Returns the VIP (network order) that `name`
 * had, or 0 when it had none; *vip6 gets its IPv6 VIP (all zero: none).
 */
typedef uint32_t (*config_prev_vip_fn)(const char *name, void *arg, struct in6_addr *vip6);

/*
 * Parse and validate `path`. On success returns a config with refs = 1 and
 * *errors = NULL. On failure returns NULL and *errors is a malloc'ed string of
 * one "file:line: key: reason" per line (line 0 when no line applies).
 * `prev` may be NULL.
 */
struct config *config_load(const char *path, config_prev_vip_fn prev, void *prev_arg,
                           char **errors);
/* The same, with what discovery found for the dns: and srv: entries
 * (found may be NULL: none yet), and, when text is not NULL, from text
 * (len bytes: a running config's) instead of the file at path (then an
 * absolute path, for messages and relative paths). */
struct config *config_load_with(const char *path, const char *text, size_t len,
                                config_prev_vip_fn prev, void *prev_arg, config_found_fn found,
                                void *found_arg, char **errors);

struct config *config_ref(struct config *c);
void config_unref(struct config *c);

const struct cfg_service *config_service(const struct config *c, const char *name);
const struct cfg_identity *config_identity(const struct config *c, const char *name);
/* The local upstream for service port `port`, or NULL. */
const struct cfg_upstream *config_upstream(const struct cfg_service *s, uint16_t port);

/* Helpers shared with the rest of the daemon (pure, no logging); the
 * address helpers are in net.h. */
int config_parse_duration(const char *text, double *seconds); /* 0 / -1 */

#endif
