/* Links: liveness. A host that goes away without a word (power, cable, a
 * firewall that drops) leaves its links open and silent, and TCP would
 * notice only after minutes of retransmissions. So every link, caller and
 * receiver alike, sends a PING when it has heard nothing for a third of
 * link_timeout, and ends (result timeout) when nothing at all arrives for
 * link_timeout after that PING: any byte read is life, the PONG is only
 * the answer that comes when nothing else does. A stream opened on a
 * quiet link probes it at once, so that the connection waiting on it
 * learns within its own connect timeout whether anyone is there
 * (link_heard_since), and link_get hands out no link whose PING has gone
 * unanswered for several round trips (link_live_suspect).
 *
 * A peer's PINGs cost us one PONG per flush at most (the latest payload
 * wins), and none while the output queue is over LINK_OUT_HIGH, so a PING
 * flood cannot make us queue more than one frame. PINGs and PONGs touch
 * neither the idle timer (a link without streams still closes after its
 * idle time) nor any stream. */
#include "gen.h"
#include "worker.h"
#include "link_int.h"
#include "log.h"
#include "container.h"

#include "net.h"
#include "sbuf.h"

#include <errno.h>
#include <stdio.h>

static void live_cb(struct ev_loop *loop, ev_timer *w, int revents);

static ev_tstamp now_of(const struct link *l)
{
	return ev_now(l->m->loop);
}

/* Our PING is out and nothing has been heard since it left. */
static bool awaiting(const struct link *l)
{
	return l->ping_at > 0 && l->heard <= l->ping_at;
}

/* When the timer must look again: the PING's deadline while one is
 * awaited; otherwise when the silence calls for a PING (sooner while a
 * stream waits to hear from the peer). */
static void live_arm(struct link *l)
{
	if (!l->pings)
		return; /* a libmesh/2 peer: no PING to send or await, no timer */
	double t = l->timeout;
	ev_tstamp at;
	if (awaiting(l))
		at = l->ping_at + t;
	else {
		at = l->heard + t / 3;
		if (l->want > l->heard && l->heard + LINK_PROBE < at)
			at = l->heard + LINK_PROBE;
	}
	double d = at - now_of(l);
	if (d < 0.001)
		d = 0.001;
	ev_timer_stop(l->m->loop, &l->live);
	ev_timer_set(&l->live, d, 0.);
	ev_timer_start(l->m->loop, &l->live);
}

static void send_ping(struct link *l)
{
	if (!l->pings)
		return; /* a libmesh/2 peer: TCP keepalive only */
	unsigned char v[PROTO_PING_LEN];
	l->ping_seq++;
	proto_ping_encode(v, l->ping_seq);
	/* One at a time (none while one is awaited), so they stay few;
	 * past LINK_OUT_HARD the queue refuses it and the link ends. */
	if (link_queue(l, PROTO_FRAME_PING, 0, v, sizeof v) == 0)
		l->ping_at = now_of(l);
}

void link_live_init(struct link *l)
{
	ev_init(&l->live, live_cb);
	l->born = ev_now(l->m->loop);
}

void link_live_start(struct link *l)
{
	l->timeout = l->gen->cfg->link_timeout;
	l->heard = now_of(l);
	/* The handshake took a few round trips: a generous first estimate,
	 * until a PONG measures one. */
	l->srtt = l->heard - l->born;
	live_arm(l);
}

void link_live_stop(struct link *l)
{
	ev_timer_stop(l->m->loop, &l->live);
}

static void live_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct link *l = container_of(w, struct link, live);
	if (l->state != L_UP)
		return;
	ev_tstamp now = now_of(l);
	double t = l->timeout;
	if (awaiting(l)) {
		/* Not reading (our queue is full: LINK_OUT_STOP) is our own
		 * silence; the stall timer watches that case. */
		if (now - l->ping_at >= t - 0.001 && !l->read_paused) {
			log_warn("link %s %s: no answer to PING within %gs; closing",
			         l->receiver ? "from" : "to", l->addr, t);
			link_fail(l, RESULT_TIMEOUT, "link %s %s: no answer to PING within %g s",
			          l->receiver ? "from" : "to", l->addr, t);
			return;
		}
		if (now - l->ping_at >= t - 0.001)
			l->ping_at = 0; /* paused: look again a while later */
	} else if (now - l->heard >= t / 3 - 0.001 ||
	           (l->want > l->heard && now - l->heard >= LINK_PROBE - 0.001)) {
		send_ping(l);
	}
	live_arm(l);
}

void link_live_heard(struct link *l)
{
	bool was = awaiting(l);
	l->heard = now_of(l);
	/* The timer waits for the PING's deadline: the next PING is due a
	 * third of the timeout from now instead. Only the first read after a
	 * PING moves it; the rest find the timer right (it looks again when
	 * it fires). */
	if (was)
		live_arm(l);
}

void link_live_opened(struct link *l)
{
	if (l->state != L_UP)
		return; /* a new link: its handshake will say */
	ev_tstamp now = now_of(l);
	l->want = now;
	if (!awaiting(l) && now - l->heard >= LINK_PROBE)
		send_ping(l);
	live_arm(l);
}

void link_live_frame(struct link *l)
{
	uint64_t v;
	bool ping = l->ftype == PROTO_FRAME_PING;
	if (proto_ping_decode(l->small, l->flen, &v) != 0) {
		link_protocol_error(l, "%s of %u bytes", ping ? "PING" : "PONG", l->flen);
		return;
	}
	if (ping) {
		/* Answered at the next flush, with the latest payload:
		 * however many arrive meanwhile, one PONG leaves. */
		l->pong_seq = v;
		l->pong_pending = true;
		link_mark_dirty(l);
		return;
	}
	if (l->ping_at <= 0 || v != l->ping_seq)
		return; /* unsolicited or late: it was life all the same */
	double rtt = now_of(l) - l->ping_at;
	l->srtt = l->srtt > 0 ? 0.875 * l->srtt + 0.125 * rtt : rtt;
	l->ping_at = 0;
}

void link_live_flush(struct link *l)
{
	if (!l->pong_pending || l->olen - l->ooff > LINK_OUT_HIGH)
		return; /* the queue drains first; link_flush looks again */
	unsigned char v[PROTO_PING_LEN];
	proto_ping_encode(v, l->pong_seq);
	if (link_queue(l, PROTO_FRAME_PONG, 0, v, sizeof v) == 0)
		l->pong_pending = false;
}

bool link_live_suspect(struct link *l, char *err, size_t len)
{
	if (l->state != L_UP || !awaiting(l))
		return false;
	double limit = 4 * l->srtt, silent = now_of(l) - l->ping_at;
	if (limit < LINK_SUSPECT_MIN)
		limit = LINK_SUSPECT_MIN;
	if (silent <= limit)
		return false;
	/* Being found dead: its PING deadline ends it (and the streams it
	 * has); nothing new waits on it meanwhile. */
	snprintf(err, len, "link to %s is not answering (PING unanswered for %.0f ms)", l->addr,
	         silent * 1000);
	link_retire(l);
	errno = ETIMEDOUT;
	return true;
}

void link_live_socket(int fd, double timeout, const char *addr)
{
	char why[96];
	/* A failure leaves the socket as it was: PINGs still watch it. */
	if (net_keepalive(fd, timeout, why, sizeof why) == -1)
		log_debug("link with %s: no TCP keepalive: %s", addr, why);
}

bool link_heard_since(const struct link *l, double t)
{
	return l->heard > t;
}

/* ---- the admin API's view ---- */

void link_view(struct worker *m, struct sbuf *out)
{
	static const char *const states[] = { "connecting", "handshake", "up", "dead" };
	bool first = true;
	for (struct link *l = m->links; l; l = l->next) {
		const char *state = l->state <= L_DEAD ? states[l->state] : "?";
		if (l->state == L_UP && (l->retired || l->closing))
			state = "retiring";
		sbuf_printf(out,
		            "%s{\"worker\":%u,\"direction\":\"%s\",\"peer\":", first ? "" : ",",
		            m->index, l->receiver ? "in" : "out");
		sbuf_json_str(out, l->peer[0] ? l->peer : NULL);
		sbuf_puts(out, ",\"address\":");
		sbuf_json_str(out, l->addr);
		sbuf_printf(out, ",\"alpn\":%s,\"streams\":%u,\"age_s\":%.3f,\"rtt_ms\":",
		            l->state != L_UP ? "null"
		            : l->callers     ? "\"" PROTO_ALPN "\""
		            : l->pings       ? "\"" PROTO_ALPN_V3 "\""
		                             : "\"" PROTO_ALPN_PREV "\"",
		            l->nstreams, now_of(l) - l->born);
		if (l->pings && l->srtt > 0)
			sbuf_printf(out, "%.3f", l->srtt * 1e3);
		else
			sbuf_puts(out, "null");
		sbuf_printf(out, ",\"state\":\"%s\"}", state);
		first = false;
	}
}
