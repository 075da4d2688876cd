/*
 * The IPv6 VIP range as AnyIP (see route6.h): a `local` route on lo in the
 * local table, as `ip -6 route add local RANGE dev lo` makes, by
 * rtnetlink. One request and its acknowledgement each, synchronously, at
 * start-up, reload and exit (never in a worker's loop).
 */
#include "route6.h"
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct rt_req {
	struct nlmsghdr nlh;
	struct rtmsg rtm;
	char attrs[64];
};

static void add_attr(struct rt_req *r, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->nlh.nlmsg_len));
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->nlh.nlmsg_len = NLMSG_ALIGN(r->nlh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/*
 * Send r and read the answer: 0 (an ack, or for RTM_GETROUTE the route
 * into *got), or a positive errno.
 */
static int talk(struct rt_req *r, struct rtmsg *got)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1)
		return errno;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	int e = 0;
	r->nlh.nlmsg_seq = 1;
	if (sendto(fd, r, r->nlh.nlmsg_len, 0, (struct sockaddr *)&nl, sizeof nl) == -1) {
		e = errno;
		close(fd);
		return e;
	}
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	union {
		char buf[8192];
		struct nlmsghdr align;
	} u;
	ssize_t n;
	do
		n = recv(fd, u.buf, sizeof u.buf, 0);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		e = errno;
		close(fd);
		return e;
	}
	e = EPROTO;
	for (struct nlmsghdr *h = &u.align; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *err = NLMSG_DATA(h);
			e = -err->error;
			break;
		}
		if (h->nlmsg_type == RTM_NEWROUTE && got) {
			memcpy(got, NLMSG_DATA(h), sizeof *got);
			e = 0;
			break;
		}
	}
	close(fd);
	return e;
}

static void req_init(struct rt_req *r, unsigned short type, unsigned short flags)
{
	memset(r, 0, sizeof *r);
	r->nlh.nlmsg_len = NLMSG_LENGTH(sizeof r->rtm);
	r->nlh.nlmsg_type = type;
	r->nlh.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | flags);
	r->rtm.rtm_family = AF_INET6;
}

/* The type of the route the kernel would use for a (RTN_LOCAL, ...), or
 * -1 with *e. */
static int route_type(const struct in6_addr *a, int *e)
{
	struct rt_req r;
	struct rtmsg got;
	req_init(&r, RTM_GETROUTE, 0);
	r.rtm.rtm_dst_len = 128;
	add_attr(&r, RTA_DST, a, sizeof *a);
	*e = talk(&r, &got);
	return *e ? -1 : got.rtm_type;
}

static void range_ends(const struct in6_addr *net, unsigned prefix, struct in6_addr *first,
                       struct in6_addr *last)
{
	*first = *net;
	*last = *net;
	for (unsigned bit = prefix; bit < 128; bit++)
		last->s6_addr[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
}

/* Both ends of the range are delivered locally. 1, 0, or -1 with err. */
static int range_local(const struct in6_addr *net, unsigned prefix, char *err, size_t len)
{
	struct in6_addr first, last;
	int e;
	range_ends(net, prefix, &first, &last);
	int t1 = route_type(&first, &e);
	int t2 = t1 == RTN_LOCAL ? route_type(&last, &e) : t1;
	if (t1 == RTN_LOCAL && t2 == RTN_LOCAL)
		return 1;
	/* No route at all (ENETUNREACH, EHOSTUNREACH) is a plain "no". */
	if ((t1 == -1 || t2 == -1) && e != ENETUNREACH && e != EHOSTUNREACH && e != ESRCH) {
		snprintf(err, len, "cannot ask the kernel for its route: %s", strerror(e));
		return -1;
	}
	return 0;
}

static int route_change(unsigned short type, unsigned short flags, const struct in6_addr *net,
                        unsigned prefix)
{
	struct rt_req r;
	unsigned lo = if_nametoindex("lo");
	if (!lo)
		return errno ? errno : ENODEV;
	req_init(&r, type, (unsigned short)(NLM_F_ACK | flags));
	r.rtm.rtm_dst_len = (unsigned char)prefix;
	r.rtm.rtm_table = RT_TABLE_LOCAL;
	r.rtm.rtm_protocol = RTPROT_STATIC;
	r.rtm.rtm_scope = RT_SCOPE_HOST;
	r.rtm.rtm_type = RTN_LOCAL;
	add_attr(&r, RTA_DST, net, sizeof *net);
	add_attr(&r, RTA_OIF, &lo, sizeof lo);
	return talk(&r, NULL);
}

static void range_str(const struct in6_addr *net, unsigned prefix, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, net, a, sizeof a);
	snprintf(out, len, "%s/%u", a, prefix);
}

int route6_ensure(const struct in6_addr *net, unsigned prefix, bool *added, char *err, size_t len)
{
	char range[INET6_ADDRSTRLEN + 8];
	*added = false;
	int rc = range_local(net, prefix, err, len);
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	range_str(net, prefix, range, sizeof range);
	int e = route_change(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, net, prefix);
	if (e == EPERM || e == EACCES) {
		snprintf(err, len,
		         "vip6_range %s: cannot add the local route (ip -6 route add local %s "
		         "dev lo): %s; meshd needs CAP_NET_ADMIN for it, or the route must "
		         "exist before meshd starts (ExecStartPre=)",
		         range, range, strerror(e));
		return -1;
	}
	if (e) {
		snprintf(err, len, "vip6_range %s: cannot add the local route on lo: %s", range,
		         strerror(e));
		return -1;
	}
	*added = true;
	return 0;
}

void route6_remove(const struct in6_addr *net, unsigned prefix)
{
	(void)route_change(RTM_DELROUTE, 0, net, prefix);
}

int route6_check(const struct in6_addr *net, unsigned prefix, char *err, size_t len)
{
	char range[INET6_ADDRSTRLEN + 8];
	int rc = range_local(net, prefix, err, len);
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	range_str(net, prefix, range, sizeof range);
	if (!route6_can_add()) {
		snprintf(err, len,
		         "vip6_range %s: no local route for it (ip -6 route add local %s dev lo) "
		         "and meshd would lack CAP_NET_ADMIN to add one",
		         range, range);
		return -1;
	}
	return 0;
}

bool route6_can_add(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	bool can = false;
	if (!f)
		return false;
	while (fgets(line, sizeof line, f)) {
		unsigned long long caps;
		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			can = caps & (1ull << 12); /* CAP_NET_ADMIN */
			break;
		}
	}
	fclose(f);
	return can;
}

int route6_apply(struct route6_state *st, const struct config *c, char *err, size_t len)
{
	bool same = st->on && c->vip6_on && st->prefix == c->vip6_prefix &&
	            memcmp(&st->net, &c->vip6_net, sizeof st->net) == 0;
	if (same || (!st->on && !c->vip6_on))
		return 0;
	struct route6_state next = { .on = c->vip6_on };
	if (c->vip6_on) {
		next.net = c->vip6_net;
		next.prefix = c->vip6_prefix;
		if (route6_ensure(&next.net, next.prefix, &next.added, err, len) == -1)
			return -1;
	}
	route6_stop(st);
	*st = next;
	return 0;
}

void route6_stop(struct route6_state *st)
{
	if (st->on && st->added)
		route6_remove(&st->net, st->prefix);
	st->added = false;
	st->on = false;
}
