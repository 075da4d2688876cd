/*
 * meshd's threads (thread.c): the workers, the admin listener, the DNS
 * listener and discovery each run a loop of their own; signals are the
 * main thread's alone.
 */
#ifndef MESHD_THREAD_H
#define MESHD_THREAD_H

#include <pthread.h>

/* Start fn(arg) on a new thread with every signal blocked, so that
 * SIGHUP, SIGTERM, SIGUSR1 and SIGCHLD reach the main thread's loop only.
 * The caller's mask is left as it was. Returns pthread_create's result
 * (0, or an errno value for strerror). */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
