/*
 * What the files of one config load share (config.c, config_keys.c,
 * config_check.c, vip.c): the load's state, the raw sections phase 1 reads,
 * where each key was written, the error list. Internal to the loader: the
 * rest of the daemon sees config.h only.
 */
#ifndef MESHD_CONFIG_STATE_H
#define MESHD_CONFIG_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define WHY_MAX 256
#define MAX_KEYS 48   /* keys of the largest section ([mesh]); checked below */
#define CUR_NONE (-1) /* before the first section header */
#define CUR_VOID (-2) /* inside an invalid section: keys are skipped */

enum sec_kind { SEC_MESH, SEC_IDENTITY, SEC_SERVICE };

/* What the current line asked inih to do, so a missing handler call can be
 * recognised as a line inih rejected. */
enum line_kind { LINE_OTHER, LINE_KV, LINE_CONT };

struct raw_kv {
	char *key;
	char *val;
	int line;
};

struct raw_sec {
	char *name;      /* between the brackets: "service.web" */
	const char *sub; /* after the dot: "web" (points into name) */
	enum sec_kind kind;
	int line;
	struct raw_kv *kv;
	unsigned nkv, capkv;
};

struct load_err {
	int line;
	unsigned seq;
	char *msg;
};

/* Each section's keys by index (the row of config_keys.c's table, also the
 * index into struct key_meta), for the phases that name a key. */
enum {
	MK_TRUST_DOMAIN,
	MK_HOST,
	MK_CA,
	MK_INBOUND,
	MK_ADMIN,
	MK_LOG,
	MK_VIP_RANGE,
	MK_VIP6_RANGE,
	MK_SNAPSHOT,
	MK_SUFFIX,
	MK_CONNECT_TIMEOUT,
	MK_RETRIES,
	MK_IDLE_TIMEOUT,
	MK_LB,
	MK_EWMA_DECAY,
	MK_DRAIN_TIMEOUT,
	MK_WORKERS,
	MK_CONTROL,
	MK_HANDSHAKE_TIMEOUT,
	MK_MAX_HANDSHAKES,
	MK_MAX_HANDSHAKES_PER_SOURCE,
	MK_MAX_STREAMS_PER_LINK,
	MK_MAX_CONNS_PER_UID,
	MK_MAX_CONNS_PER_PEER,
	MK_MAX_CONTROL_PER_UID,
	MK_MAX_PENDING_PER_CONTROL,
	MK_MAX_PENDING_PER_UID,
	MK_CONSECUTIVE_FAILURES,
	MK_BASE_EJECTION,
	MK_MAX_EJECTION,
	MK_MAX_EJECTION_PERCENT,
	MK_RETRY_BUDGET,
	MK_RETRY_MIN_PER_S,
	MK_LINK_TIMEOUT,
	MK_PROGRESS_INTERVAL,
	MK_OPEN_RECORDS,
	MK_DNS,
	MK_RESOLVERS,
	MK_DNS_TTL_MIN,
	MK_DNS_TTL_MAX,
	MK_DNS_TIMEOUT,
	MK_COUNT
};

enum { IK_UIDS, IK_CERT, IK_KEY, IK_COUNT };

enum {
	SK_PORTS,
	SK_ENDPOINTS,
	SK_INTERCEPT,
	SK_VIP,
	SK_VIP6,
	SK_CONNECT_TIMEOUT,
	SK_RETRIES,
	SK_IDLE_TIMEOUT,
	SK_LB,
	SK_EWMA_DECAY,
	SK_IDENTITY,
	SK_UPSTREAM,
	SK_ALLOW,
	SK_MAX_CONNECTIONS,
	SK_CONSECUTIVE_FAILURES,
	SK_BASE_EJECTION,
	SK_MAX_EJECTION,
	SK_MAX_EJECTION_PERCENT,
	SK_RETRY_BUDGET,
	SK_RETRY_MIN_PER_S,
	SK_COUNT
};

_Static_assert(MK_COUNT <= MAX_KEYS && IK_COUNT <= MAX_KEYS && SK_COUNT <= MAX_KEYS,
               "struct key_meta holds a line and a state for every key of a section");

enum key_state { KEY_UNSET = 0, KEY_OK, KEY_BAD };

/* Where each table key was written and whether it parsed. */
struct key_meta {
	int line[MAX_KEYS];
	unsigned char state[MAX_KEYS];
};

struct load {
	const char *path; /* as the caller wrote it, for messages */
	char *dir;        /* absolute directory of the file */
	FILE *fp;
	char *buf;
	size_t bufcap;
	int lineno;
	enum line_kind kind;
	bool handled;
	char snippet[48];
	struct raw_sec *secs;
	unsigned nsecs, capsecs;
	int cur;       /* index into secs, CUR_NONE or CUR_VOID */
	int last_kv;   /* key that continuation lines extend, or -1 */
	bool prev_key; /* mirrors inih's prev_name: a key since the header */
	struct load_err *errs;
	unsigned nerrs, caperrs;
	bool oom;
	struct config *c;
	config_found_fn found; /* what discovery found (NULL: nothing yet) */
	void *found_arg;
	unsigned ndns; /* dns: and srv: entries so far (CFG_MAX_DNS) */
};

/* ---- small helpers ---------------------------------------------------- */

static inline bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}
static inline bool is_lower(char ch)
{
	return ch >= 'a' && ch <= 'z';
}
static inline bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '\v';
}

/* [a-z0-9-]{1,63} */
bool cfg_is_name(const char *s);
/* Decimal digits only, no sign, no spaces, value <= max. */
bool cfg_parse_ulong(const char *s, unsigned long max, unsigned long *out);
/* a, b and c in one malloc'ed string, or NULL. */
char *cfg_join3(const char *a, const char *b, const char *c);

/* ---- the error list --------------------------------------------------- */

/* One "file:line: key: reason" (reason from fmt); out of memory sets L->oom. */
void cfg_error(struct load *L, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* strdup that sets L->oom when it fails. */
char *cfg_strdup(struct load *L, const char *s);

#endif
