/*
 * Accept's back-off (accept.h says why): which failures of accept4 pause a
 * listener, the pause itself, and whether the pause is worth a warning,
 * at most one every ACCEPT_WARN_EVERY seconds per *warned the callers keep.
 */
#include "accept.h"
#include "container.h"

#include <errno.h>

#define ACCEPT_PAUSE 0.1
#define ACCEPT_WARN_EVERY 10.0

static void resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct accept_pause *p = container_of(w, struct accept_pause, timer);
	ev_io_start(loop, p->io);
}

void accept_pause_init(struct accept_pause *p, ev_io *io)
{
	ev_init(&p->timer, resume_cb);
	p->io = io;
}

bool accept_warn_due(struct ev_loop *loop, ev_tstamp *warned)
{
	if (ev_now(loop) - *warned <= ACCEPT_WARN_EVERY)
		return false;
	*warned = ev_now(loop);
	return true;
}

enum accept_next accept_failed(struct ev_loop *loop, struct accept_pause *p, ev_tstamp *warned)
{
	int e = errno;
	if (e == EINTR || e == ECONNABORTED)
		return ACCEPT_AGAIN;
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
		return ACCEPT_DONE;
	enum accept_next next = accept_warn_due(loop, warned) ? ACCEPT_PAUSED_WARN : ACCEPT_PAUSED;
	ev_io_stop(loop, p->io);
	ev_timer_set(&p->timer, ACCEPT_PAUSE, 0.);
	ev_timer_start(loop, &p->timer);
	errno = e;
	return next;
}
