/*
 * container_of: from the address of a member (an ev_io, an ev_timer inside
 * a session or a listener) back to the struct that holds it, as libev's
 * callbacks hand us the watcher. One definition for the whole daemon.
 */
#ifndef MESHD_CONTAINER_H
#define MESHD_CONTAINER_H

#include <stddef.h>

/* The parentheses around offsetof keep clang-format from taking "(p)" for
 * a cast. */
#define container_of(p, T, m) ((T *)((char *)(p) - (offsetof(T, m))))

#endif
