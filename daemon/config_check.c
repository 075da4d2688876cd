/*
 * Phase 3 of a config load: the checks between keys and sections that no
 * single parser can make (uids owned by two identities, a serving identity
 * with no certificate here, 'local' without an upstream, upstream and
 * intercept ports that are not the service's, an address intercepted twice).
 * A key that did not parse is skipped (its key_meta state) or left its
 * field empty, so one typo gives one error, not a cascade.
 */
#include "config_check.h"
#include "config_state.h"

#include <string.h>

static const struct cfg_identity *find_identity(const struct config *c, const char *name)
{
	for (unsigned i = 0; i < c->nidentities; i++)
		if (c->identities[i].name && strcmp(c->identities[i].name, name) == 0)
			return &c->identities[i];
	return NULL;
}

static bool has_port(const struct cfg_service *s, uint16_t port)
{
	for (unsigned i = 0; i < s->nports; i++)
		if (s->ports[i] == port)
			return true;
	return false;
}

void config_check_identities(struct load *L, const struct key_meta *im)
{
	struct config *c = L->c;
	const struct cfg_identity *any = NULL;

	for (unsigned i = 0; i < c->nidentities; i++) {
		const struct cfg_identity *id = &c->identities[i];
		int line = im[i].line[IK_UIDS];
		bool reported = false;

		if (im[i].state[IK_UIDS] != KEY_OK)
			continue;
		if (id->any_uid) {
			if (any)
				cfg_error(L, line, "uids", "'*' is already used by identity '%s'",
				          any->name);
			else
				any = id;
		}
		for (unsigned u = 0; u < id->nuids && !reported; u++) {
			for (unsigned j = 0; j < i && !reported; j++) {
				const struct cfg_identity *o = &c->identities[j];
				for (unsigned v = 0; v < o->nuids; v++) {
					if (o->uids[v] == id->uids[u]) {
						cfg_error(
							L, line, "uids",
							"uid %lu already belongs to identity '%s'",
							(unsigned long)id->uids[u], o->name);
						reported = true;
						break;
					}
				}
			}
		}
	}
}

void config_check_services(struct load *L, const struct key_meta *sm)
{
	struct config *c = L->c;
	char a[64];

	for (unsigned i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		const struct key_meta *m = &sm[i];
		bool ports_ok = m->state[SK_PORTS] == KEY_OK;

		if (m->state[SK_BASE_EJECTION] != KEY_BAD && m->state[SK_MAX_EJECTION] != KEY_BAD &&
		    s->max_ejection < s->base_ejection)
			cfg_error(L,
			          m->line[SK_MAX_EJECTION]    ? m->line[SK_MAX_EJECTION]
			          : m->line[SK_BASE_EJECTION] ? m->line[SK_BASE_EJECTION]
			                                      : s->line,
			          m->line[SK_MAX_EJECTION] ? "max_ejection" : "base_ejection",
			          "max_ejection (%gs) is shorter than base_ejection (%gs)",
			          s->max_ejection, s->base_ejection);
		if (s->identity && s->nupstreams && !find_identity(c, s->identity))
			cfg_error(
				L, m->line[SK_IDENTITY], "identity",
				"no [identity.%s] in this file; this host serves '%s' (upstream) and must present that identity's certificate",
				s->identity, s->name);
		if (m->state[SK_ENDPOINTS] == KEY_OK && m->state[SK_UPSTREAM] != KEY_BAD &&
		    !s->nupstreams) {
			for (unsigned e = 0; e < s->nendpoints; e++) {
				if (s->endpoints[e].local) {
					cfg_error(L, m->line[SK_ENDPOINTS], "endpoints",
					          "'local' needs an upstream in [service.%s]",
					          s->name);
					break;
				}
			}
		}
		if (ports_ok) {
			for (unsigned u = 0; u < s->nupstreams; u++)
				if (s->upstreams[u].port && !has_port(s, s->upstreams[u].port))
					cfg_error(L, m->line[SK_UPSTREAM], "upstream",
					          "port %u is not one of ports",
					          (unsigned)s->upstreams[u].port);
			for (unsigned x = 0; x < s->nintercepts; x++) {
				uint16_t p = net_addr_port(&s->intercepts[x]);
				if (!has_port(s, p))
					cfg_error(L, m->line[SK_INTERCEPT], "intercept",
					          "%s: port %u is not one of ports",
					          net_addr_str(&s->intercepts[x], a, sizeof(a)),
					          (unsigned)p);
			}
		}
		/* An intercepted address routes to exactly one service. */
		for (unsigned x = 0; x < s->nintercepts; x++) {
			for (unsigned j = 0; j < i; j++) {
				const struct cfg_service *o = &c->services[j];
				for (unsigned y = 0; y < o->nintercepts; y++) {
					if (net_addr_eq(&o->intercepts[y], &s->intercepts[x])) {
						cfg_error(
							L, m->line[SK_INTERCEPT], "intercept",
							"%s is already intercepted by service '%s'",
							net_addr_str(&s->intercepts[x], a,
						                     sizeof(a)),
							o->name);
					}
				}
			}
		}
	}
}
