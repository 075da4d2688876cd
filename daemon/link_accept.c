/* Links: the receiving side's start. A connection accepted on the mesh
 * port becomes a receiver link, unless the descriptor reserve or the
 * handshake quotas (in total and per source address) say no: then it is
 * reset at once, with a record. link.c does the rest. */
#include "gen.h"
#include "worker.h"
#include "net.h"
#include "link_int.h"
#include "tls.h"
#include "bounds.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

/* Close an accepted connection at once, with a RST (no FIN handshake, no
 * TIME_WAIT), and leave a record (aggregated when they come in floods). */
static void refuse_accept(struct worker *m, const struct link_receiver_ops *ops, int fd,
                          const char *addr, const char *why)
{
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
	ops->on_failed(m, addr, "", RESULT_OVERFLOW, why);
}

void link_accept(struct worker *m, int fd, const struct sockaddr_storage *peer,
                 const struct link_receiver_ops *ops)
{
	const struct config *c = m->gen->cfg;
	char addr[64], why[256];
	net_sockaddr_str((const struct sockaddr *)peer, addr, sizeof addr);
	if (!bounds_fd_ok(fd)) {
		snprintf(why, sizeof why,
		         "connection from %s refused: descriptor %d is in the "
		         "reserve (limit %u)",
		         addr, fd, bounds_nofile());
		refuse_accept(m, ops, fd, addr, why);
		return;
	}
	/* A handshake costs a descriptor and TLS state until it ends or times
	 * out, and needs no certificate to start: cap them, and per source
	 * address (without the port) so one source cannot take them all. */
	char ip[64];
	snprintf(ip, sizeof ip, "%s", addr);
	char *colon = strrchr(ip, ':');
	if (colon)
		*colon = '\0';
	uint64_t key = quota_key(ip);
	if (!quota_take(&quota_handshake, 0, c->max_handshakes)) {
		snprintf(why, sizeof why,
		         "connection from %s refused: %u TLS handshakes in "
		         "progress (max_handshakes)",
		         addr, c->max_handshakes);
		refuse_accept(m, ops, fd, addr, why);
		return;
	}
	if (!quota_take(&quota_handshake, key, c->max_handshakes_per_source)) {
		quota_give(&quota_handshake, 0);
		snprintf(why, sizeof why,
		         "connection from %s refused: %u TLS handshakes in "
		         "progress from %s (max_handshakes_per_source)",
		         addr, c->max_handshakes_per_source, ip);
		refuse_accept(m, ops, fd, addr, why);
		return;
	}
	struct link *l = link_new(m, fd, "");
	if (!l) {
		quota_give(&quota_handshake, key);
		quota_give(&quota_handshake, 0);
		log_error("out of memory for an inbound connection; refused");
		close(fd);
		return;
	}
	link_live_socket(fd, c->link_timeout, addr);
	l->hs_held = true;
	l->hs_key = key;
	l->receiver = true;
	l->rops = ops;
	snprintf(l->addr, sizeof l->addr, "%s", addr);
	char err[128];
	l->ssl = tls_server_new(m->gen->tls, fd, err, sizeof err);
	if (!l->ssl) {
		l->state = L_HANDSHAKE;
		link_fail(l, RESULT_TLS_FAILURE, "%s", err);
		return;
	}
	l->state = L_HANDSHAKE;
	link_arm(l, c->handshake_timeout);
	link_handshake(l);
}
