/*
 * Blocking DNS questions for discovery's thread (dns_client.c): one
 * question to the configured servers in turn over UDP (TCP when the answer
 * is truncated), with a deadline per server and a descriptor that, once
 * readable, makes every wait give up (meshd is stopping). dns_resolve turns
 * one dns: or srv: entry into endpoints (for srv:, the targets' addresses
 * from the additional section, else asked for, at most DNS_TARGET_LOOKUPS
 * of them). Never logs: the result says what happened.
 */
#ifndef MESHD_DNS_CLIENT_H
#define MESHD_DNS_CLIENT_H

#include <stdint.h>

#include "config.h"

#define DNS_TARGET_LOOKUPS 16 /* srv: targets asked for, per resolution */
#define DNS_JUNK_MAX 64       /* datagrams that are not our answer, per question */

struct dns_client {
	struct cfg_addr servers[CFG_MAX_RESOLVERS];
	unsigned n;
	double timeout; /* per question and server, seconds */
	int stop_fd;    /* -1: none */
};

enum dns_res_kind { DNS_RES_OK, DNS_RES_EMPTY, DNS_RES_FAILED };

struct dns_result {
	enum dns_res_kind kind;
	char error[256];  /* EMPTY, FAILED: why ("NXDOMAIN", "timeout from ...") */
	uint32_t ttl;     /* the smallest TTL of what was used; 0: none said */
	unsigned dropped; /* records left out (bounds, unusable) */
	unsigned nfound;
	struct cfg_found found[CFG_MAX_ENDPOINTS];
};

/* The nameservers of a resolv.conf (port 53), at most max: how many. */
unsigned dns_client_resolv_conf(const char *path, struct cfg_addr *out, unsigned max);

void dns_resolve(const struct dns_client *c, enum cfg_dns_kind kind, const char *name,
                 uint16_t port, struct dns_result *r);

#endif
