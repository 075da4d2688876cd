/*
 * Who else controls the files meshd relies on (README "Security model":
 * trusted are files only root can write). A file or directory is safe when
 * only root or meshd's own user can change it or what its name points to.
 *
 * pathsafe_judge() is the rule for one object, from its owner and mode
 * alone (no system calls: unit-tested); the pathsafe_check_* functions stat
 * a path and every directory above it and apply the rule to each. They
 * fill `why` and never log: main.c decides whether `meshd -t` prints it,
 * start-up refuses, or a reload is rejected.
 */
#ifndef MESHD_PATHSAFE_H
#define MESHD_PATHSAFE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What meshd does with the object, which decides who else may control it. */
enum pathsafe_use {
	PATHSAFE_DIR,      /* meshd creates names here: snapshot, lock, control socket, log */
	PATHSAFE_ANCESTOR, /* a directory above one meshd uses */
	PATHSAFE_READ,     /* config, CA, certificate: meshd believes what it says */
	PATHSAFE_SECRET,   /* a private key */
	PATHSAFE_APPEND,   /* the traffic log */
};

enum pathsafe_verdict { PATHSAFE_OK, PATHSAFE_WARN, PATHSAFE_UNSAFE };

/* The rule for one object: owner and st_mode (type bits included) and
 * meshd's euid. */
enum pathsafe_verdict pathsafe_judge(enum pathsafe_use use, uid_t owner, mode_t mode, uid_t euid,
                                     char *why, size_t len);

/* An existing file meshd reads or appends to (READ, SECRET, APPEND), and
 * the directories above it (and above its target when it is a symlink).
 * The worst verdict; why says what and where. */
enum pathsafe_verdict pathsafe_check_file(const char *path, enum pathsafe_use use, char *why,
                                          size_t len);

/* The directory meshd will create `path` in: the nearest existing one
 * above it (meshd makes the missing ones itself, root-owned 0755), judged
 * as DIR, and the directories above that. */
enum pathsafe_verdict pathsafe_check_dir_of(const char *path, char *why, size_t len);

#endif
