/*
 * A listener's back-off when accept fails for lack of descriptors or
 * memory (accept.c). The listeners' watchers are level-triggered: the
 * connection left in the backlog would wake them again at once and the
 * loop would spin. So the watcher stops, a timer starts it again shortly,
 * and the connection waits in the backlog meanwhile.
 */
#ifndef MESHD_ACCEPT_H
#define MESHD_ACCEPT_H

#include <ev.h>
#include <stdbool.h>

/* Beside the listener's ev_io, in the same struct. */
struct accept_pause {
	ev_timer timer;
	ev_io *io; /* the watcher it stops and starts again */
};

/* What the accept loop does after accept4 failed. */
enum accept_next {
	ACCEPT_AGAIN,       /* EINTR, ECONNABORTED: accept the next one */
	ACCEPT_DONE,        /* EAGAIN or another error: wait for the next event */
	ACCEPT_PAUSED,      /* EMFILE, ENFILE, ENOBUFS, ENOMEM: io is paused */
	ACCEPT_PAUSED_WARN, /* paused, and the caller says so (it last did long ago) */
};

void accept_pause_init(struct accept_pause *p, ev_io *io);
/* After accept4 on p->io failed, with its errno (which it keeps). *warned
 * is when the caller last warned of a pause; it becomes now when this
 * returns ACCEPT_PAUSED_WARN. Logs nothing: the caller names the listener. */
enum accept_next accept_failed(struct ev_loop *loop, struct accept_pause *p, ev_tstamp *warned);
/* The same clock for a listener's other complaints about descriptors (the
 * control socket's reserve): true, and *warned becomes now, when the last
 * warning was more than ACCEPT_WARN_EVERY (10 s) ago. */
bool accept_warn_due(struct ev_loop *loop, ev_tstamp *warned);

#endif
