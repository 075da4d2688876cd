/*
 * Results: how a connection ended (or, for the shim, what meshd says about
 * a connect), named once. Every place that names a result uses enum result;
 * the word, the status on the wire, the errno the shim gives the program
 * and the metric flag all come from the one list below, so adding a result
 * is one row. Header only and pure (no I/O, no allocation): meshd and
 * libmesh.so both include it (the shim through -Idaemon, for its verdict
 * words), and the shim links nothing of meshd's.
 *
 * Columns:
 *   name    RESULT_<name>
 *   word    the "result" field of traffic records, and the word of the
 *           verdict line (shim/ctlproto.h): [a-z0-9_], under 16 bytes
 *   status  the PROTO_ST_* code that means this result both ways (a
 *           receiver answers it, a caller reads it back as this result),
 *           or -1. A receiver's overflow, drain and protocol_error answer
 *           unavailable / bad_request / bad_version (inbound.c says which),
 *           and a caller reads every status without a row of its own as
 *           refused: the receiver said no, not why (result_from_status).
 *   err     the errno the shim gives the program's connect; 0: the
 *           connection stands (ok; none: meshd has no verdict, the shim
 *           fails open). protocol_error is 0 because the shim's table did
 *           not list it before this list existed: meshd resets such a
 *           connection, and the program sees that reset, not a refused
 *           connect. Kept as it was (no behaviour change in this step).
 *   flag    short and stable, for metric labels (after Envoy's response
 *           flags; "-" is no failure, as there):
 *             -   ok                 UF  upstream failure (refused)
 *             UT  timeout            RS  reset
 *             DI  denied             UO  overflow (a limit was reached)
 *             NR  no route           IE  identity error
 *             TF  TLS failure        PE  protocol error
 *             NC  no such connection NV  no verdict
 *
 * none and unknown are verdict words only (shimctl.c), never in a record.
 */
#ifndef MESHD_RESULT_H
#define MESHD_RESULT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "proto.h"

/* Not for clang-format, down to the matching "on": it would un-align the
 * table's columns and indent what follows each RESULT_LIST() expansion as
 * a continuation. */
/* clang-format off */
/*	name            word              status                err           flag */
#define RESULT_LIST(X) \
	X(OK,             "ok",             PROTO_ST_OK,          0,            "-")  \
	X(REFUSED,        "refused",        PROTO_ST_REFUSED,     ECONNREFUSED, "UF") \
	X(TIMEOUT,        "timeout",        PROTO_ST_TIMEOUT,     ETIMEDOUT,    "UT") \
	X(RESET,          "reset",          -1,                   ECONNREFUSED, "RS") \
	X(DENIED,         "denied",         PROTO_ST_DENIED,      ECONNREFUSED, "DI") \
	X(OVERFLOW,       "overflow",       -1,                   ECONNREFUSED, "UO") \
	X(NO_ENDPOINT,    "no_endpoint",    PROTO_ST_NO_SERVICE,  ECONNREFUSED, "NR") \
	X(IDENTITY_ERROR, "identity_error", -1,                   ECONNREFUSED, "IE") \
	X(TLS_FAILURE,    "tls_failure",    -1,                   ECONNREFUSED, "TF") \
	X(PROTOCOL_ERROR, "protocol_error", -1,                   0,            "PE") \
	X(UNKNOWN,        "unknown",        -1,                   ECONNREFUSED, "NC") \
	X(NONE,           "none",           -1,                   0,            "NV")

enum result {
	RESULT_UNSET = 0,   /* not ended yet (a session's, a verdict's); no word */
#define RESULT_ENUM(name, word, status, err, flag) RESULT_##name,
	RESULT_LIST(RESULT_ENUM)
#undef RESULT_ENUM
	RESULT_COUNT
};

/* The list's columns as one row per result; RESULT_UNSET's row (and any
 * value outside the list) has no word, no status, errno 0 and no flag. */
struct result_row {
	const char *word;
	int         status;
	int         err;
	const char *flag;
};

static const struct result_row result_rows[RESULT_COUNT] = {
	[RESULT_UNSET] = { NULL, -1, 0, NULL },
#define RESULT_ROW(name, word, status, err, flag) [RESULT_##name] = { word, status, err, flag },
	RESULT_LIST(RESULT_ROW)
#undef RESULT_ROW
};

static inline const struct result_row *result_row(enum result r)
{
	return (unsigned)r < RESULT_COUNT ? &result_rows[r] : &result_rows[RESULT_UNSET];
}

/* The word, or NULL for RESULT_UNSET (and anything not in the list). */
static inline const char *result_word(enum result r) { return result_row(r)->word; }
/* The errno for the program's connect; 0 (it stands) for RESULT_UNSET,
 * which is what the shim does with a word it does not know. */
static inline int result_errno(enum result r) { return result_row(r)->err; }
static inline const char *result_flag(enum result r) { return result_row(r)->flag; }
/* The status code (enum proto_status) that means r, or -1. */
static inline int result_status(enum result r) { return result_row(r)->status; }

/* A caller's reading of a receiver's status code: the result whose status
 * it is, else refused (unavailable, bad_request, bad_version: the
 * receiver said no). */
static inline enum result result_from_status(int code)
{
	for (int r = RESULT_UNSET + 1; r < RESULT_COUNT; r++)
		if (code >= 0 && result_status((enum result)r) == code)
			return (enum result)r;
	return RESULT_REFUSED;
}
/* clang-format on */

/* The result a word names, or RESULT_UNSET when it names none. */
static inline enum result result_from_word(const char *w)
{
	for (int r = RESULT_UNSET + 1; w && r < RESULT_COUNT; r++)
		if (strcmp(w, result_word((enum result)r)) == 0)
			return (enum result)r;
	return RESULT_UNSET;
}

/* Does an attempt's result say its endpoint failed: not a refusal by
 * policy (the endpoint is fine), not this host's caller, not "no word"?
 * What counts towards ejection (endpoint.c) and what the balancers
 * penalize. */
static inline bool result_endpoint_failure(enum result r)
{
	switch (r) {
	case RESULT_UNSET:
	case RESULT_OK:
	case RESULT_DENIED:
	case RESULT_IDENTITY_ERROR:
	case RESULT_NONE:
		return false;
	default:
		return true;
	}
}

/* A failed connect's errno (connect(2) or SO_ERROR), on either side, as a
 * result: timed out, reset, and everything else refused. */
static inline enum result result_from_errno(int err)
{
	switch (err) {
	case ETIMEDOUT:
		return RESULT_TIMEOUT;
	case ECONNRESET:
		return RESULT_RESET;
	default:
		return RESULT_REFUSED;
	}
}

#endif
