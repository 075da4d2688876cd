/*
 * What start-up needs, checked before it is needed (startcheck.c): the
 * certificates' validity, the services that can carry nothing, a vip_range
 * meshd can bind in, the snapshot directory, and the mesh port and admin
 * address. main.c runs them at start, in `meshd -t` and (the ones that do
 * not bind what a running meshd holds) at reload, so -t catches what
 * start-up would refuse.
 *
 * Each check appends one line per finding to *errs (start-up and -t fail,
 * a reload is rejected) or *warns ("warning: ..."); the buffers are
 * malloc'ed, NULL while empty. Nothing here logs.
 */
#ifndef MESHD_STARTCHECK_H
#define MESHD_STARTCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* A certificate that ends within this many days is warned about. */
#define STARTCHECK_SOON_DAYS 7

enum startcheck_validity {
	STARTCHECK_VALID,
	STARTCHECK_EXPIRES_SOON, /* valid now, ends within STARTCHECK_SOON_DAYS */
	STARTCHECK_EXPIRED,
	STARTCHECK_NOT_YET_VALID,
};

/* A certificate valid from not_before to not_after, at now (all seconds
 * since the epoch). Pure. */
enum startcheck_validity startcheck_validity(double now, double not_before, double not_after);

/* Append the printf-formatted line to *buf, unless the same line is there
 * already. */
void startcheck_add(char **buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The CA's and every identity's certificates, at now: expired or not yet
 * valid is an error, ending within STARTCHECK_SOON_DAYS a warning. */
void startcheck_certs(const struct config *c, double now, char **errs, char **warns);

/* Services with neither endpoints nor an upstream here: warned (every
 * connection to them fails). */
void startcheck_services(const struct config *c, char **warns);

/* A probe socket bound on the range's first host address (never handed
 * out as a VIP): an error naming the range when that fails. */
void startcheck_vip_range(const struct config *c, char **errs);

/* Does this host serve (a service with an upstream here)? Then its mesh
 * port is what peers reach it by. */
bool startcheck_serving(const struct config *c);

/* For -t: the directories of the snapshot and the control socket exist, or
 * can be created (a note in *notes says meshd will create them). */
void startcheck_dirs(const struct config *c, char **errs, char **notes);

/* At start: create the missing directories of the snapshot and the
 * control socket, mode 0755 whatever the umask (programs of every user
 * read the snapshot and connect to the socket), owned by meshd's user.
 * -1 with err filled; *made names what was created (malloc'ed lines). */
int startcheck_make_dirs(const struct config *c, char **made, char *err, size_t len);

/* Try to bind the mesh port (-t; and at start, before the workers do) and,
 * when `admin`, the admin and dns addresses. `ours` is the pid of a meshd running
 * with this config's snapshot (0: none): an address it holds is fine.
 * Failing to bind the mesh port is an error on a serving host, a warning
 * otherwise; the admin and dns addresses, an error. */
void startcheck_binds(const struct config *c, bool admin, pid_t ours, char **errs, char **warns);

#endif
