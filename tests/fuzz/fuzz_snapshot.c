/*
 * fuzz_snapshot: the route snapshot as libmesh.so reads it (shim/snapshot.c):
 * snapshot_view on the bytes, then the lookups every hook makes on a view
 * it accepted. Each input is tried twice: as it is (most mutations then
 * die at the checksum, which is the point of the checksum) and sealed with
 * snapshot_seal (the checksum recomputed, as a writer that means harm would
 * do), so mutations reach every bounds check behind it.
 *
 * On an accepted view it checks what the hooks rely on without checking
 * again: every VIP is one the shim may answer (snapshot_vip_ok, inside
 * 127.0.0.0/8), names fit the hooks' fixed buffers (a service name in
 * SNAP_MAX_NAME bytes, the suffix in 255, name.suffix in resolve.c's
 * FQDN_MAX), every intercept names an existing service, and each lookup
 * answers only entries of the view (find_vip: one with the VIP asked).
 * IPv6 VIPs: each is none or one the shim may answer (snapshot_vip6_ok,
 * inside fc00::/7), and find_vip6 answers one with the address asked.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "snapshot.h"
#include "fuzz.h"

/* As shim/resolve.c sizes its reverse answers. */
#define FQDN_MAX (SNAP_MAX_NAME + 1 + 255 + 1)

static void lookups(const struct snap_view *v, const uint8_t *tail, size_t tlen)
{
	const struct snap_hdr *h = v->hdr;
	CHECK(snapshot_vip_ok(v, h->vip_net));
	CHECK(h->suffix_len <= 255);
	const char *suffix = snapshot_suffix(v);
	CHECK(strlen(suffix) == h->suffix_len);
	const char *ctl = snapshot_control(v);
	CHECK(!ctl || strlen(ctl) == h->control_len);

	for (uint32_t i = 0; i < h->nservices; i++) {
		const struct snap_svc *s = &v->svcs[i];
		CHECK(snapshot_vip_ok(v, s->vip));
		CHECK(s->nports <= SNAP_MAX_PORTS);
		CHECK(s->name_len <= SNAP_MAX_NAME);
		const char *name = snapshot_svc_name(v, s);
		CHECK(strlen(name) == s->name_len);

		/* What mesh_reverse builds: name, '.', suffix, NUL. */
		char *fqdn = malloc(FQDN_MAX);
		if (!fqdn)
			return;
		size_t n = s->name_len;
		memcpy(fqdn, name, n);
		if (h->suffix_len) {
			fqdn[n++] = '.';
			memcpy(fqdn + n, suffix, h->suffix_len);
			n += h->suffix_len;
		}
		fqdn[n] = '\0';
		/* A hostile table need not be sorted, lowercase or free of
		 * dots, so a lookup may miss or land on another entry (the
		 * query is lowercased, a trailing dot and the suffix cut): it
		 * must only ever answer an entry of the view. */
		const struct snap_svc *f = snapshot_find_name(v, name);
		CHECK(!f || (f >= v->svcs && f < v->svcs + h->nservices));
		f = snapshot_find_name(v, fqdn);
		CHECK(!f || (f >= v->svcs && f < v->svcs + h->nservices));
		free(fqdn);

		f = snapshot_find_vip(v, s->vip);
		CHECK(f && f->vip == s->vip && f <= s);
		uint8_t a6[16];
		static const uint8_t zero[16];
		if (memcmp(s->vip6, zero, 16) != 0) {
			CHECK(snapshot_has_vip6(v) && snapshot_vip6_ok(v, s->vip6));
			CHECK(snapshot_svc_vip6(v, s, a6) && memcmp(a6, s->vip6, 16) == 0);
			f = snapshot_find_vip6(v, s->vip6);
			CHECK(f && memcmp(f->vip6, s->vip6, 16) == 0 && f <= s);
		} else {
			CHECK(!snapshot_svc_vip6(v, s, a6));
		}
	}
	for (uint32_t i = 0; i < h->nintercepts; i++) {
		const struct snap_icpt *ic = &v->icpts[i];
		CHECK(ic->svc < h->nservices);
		int fam = ic->family == AF_INET ? AF_INET : AF_INET6;
		const struct snap_icpt *f = snapshot_find_intercept(v, fam, ic->addr, ic->port);
		CHECK(!f || (f >= v->icpts && f < v->icpts + h->nintercepts &&
		             f->port == ic->port && f->svc < h->nservices));
	}

	/* The input's last bytes as a name a program might ask for, and as an
	 * address it might connect to. */
	char q[300];
	size_t ql = tlen < sizeof q - 1 ? tlen : sizeof q - 1;
	memcpy(q, tail + (tlen - ql), ql);
	q[ql] = '\0';
	const struct snap_svc *f = snapshot_find_name(v, q);
	CHECK(!f || (f >= v->svcs && f < v->svcs + h->nservices && snapshot_vip_ok(v, f->vip)));
	if (tlen >= 18) {
		uint16_t port;
		memcpy(&port, tail + tlen - 18, 2);
		const struct snap_icpt *ic =
			snapshot_find_intercept(v, AF_INET6, tail + tlen - 16, port);
		CHECK(!ic || ic->svc < h->nservices);
		ic = snapshot_find_intercept(v, AF_INET, tail + tlen - 4, port);
		CHECK(!ic || ic->svc < h->nservices);
		uint32_t a;
		memcpy(&a, tail + tlen - 4, 4);
		f = snapshot_find_vip(v, a);
		CHECK(!f || f->vip == a);
		f = snapshot_find_vip6(v, tail + tlen - 16);
		CHECK(!f ||
		      (memcmp(f->vip6, tail + tlen - 16, 16) == 0 && snapshot_vip6_ok(v, f->vip6)));
	}
}

static void one(uint8_t *buf, size_t size)
{
	struct snap_view v;
	if (snapshot_view(&v, buf, size) == 0) {
		CHECK(v.base == buf && v.len == size);
		lookups(&v, buf, size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* malloc is aligned as the shim's page-aligned copy is; exact size, so
	 * a read one past the end is an ASan report. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	one(buf, size);
	snapshot_seal(buf, size);
	one(buf, size);
	free(buf);
	return 0;
}
