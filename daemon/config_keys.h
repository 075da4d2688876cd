/*
 * The key tables of config_keys.c (phase 2 of a config load), for the
 * loader: the row type, the tables (indexed by the MK_*, IK_*, SK_* of
 * config_state.h) and how a table is applied to a section. Internal to the
 * loader.
 */
#ifndef MESHD_CONFIG_KEYS_H
#define MESHD_CONFIG_KEYS_H

#include <stddef.h>

#include "config.h"
#include "config_state.h"

struct load;
struct raw_sec;
struct key_meta;

struct cfg_key;
typedef int (*cfg_parse_fn)(struct load *L, void *obj, const struct cfg_key *k, const char *val,
                            char *why, size_t whylen);

#define CFG_F_REQUIRED 0x1u /* missing key is an error at the section line */
#define CFG_F_INHERIT 0x2u  /* unset: copy the [mesh] value at `inherit` */
#define CFG_F_LOOPBACK 0x4u /* address must be a loopback address */

/*
 * One key of a section. Its default is exactly one of: CFG_F_REQUIRED (none,
 * the key must be given), CFG_F_INHERIT (the [mesh] value), `def` (a value
 * `parse` reads as if it had been written), or `def_doc` (said in words:
 * `fill` computes it, or the field stays empty). config.h's key reference
 * shows the same default (tests/unit/test_config_keys.c checks it).
 */
struct cfg_key {
	const char *name;
	cfg_parse_fn parse;
	size_t off; /* field in the section's struct */
	size_t aux; /* second field for parsers that need one */
	unsigned flags;
	unsigned long min, max; /* counts (p_count): the range; durations
	                         * (p_duration_in): milliseconds */
	const char *zero;       /* counts: a word that stands for 0 ("auto", "none") */
	const char *def;        /* default, parsed by `parse` */
	/* Unset and no `def`: computes the default from keys parsed before
	 * (runs after every other default of the section). */
	void (*fill)(struct load *L, void *obj);
	const char *def_doc; /* the default in words, where `def` cannot say it */
	size_t inherit;      /* CFG_F_INHERIT: field in struct config */
	size_t size;         /* CFG_F_INHERIT: bytes to copy */
};


extern const struct cfg_key cfg_mesh_keys[MK_COUNT];
extern const struct cfg_key cfg_identity_keys[IK_COUNT];
extern const struct cfg_key cfg_service_keys[SK_COUNT];

/* Parse one section through its table: values, unknown keys, defaults,
 * required keys, inheritance from [mesh]. */
void cfg_apply_table(struct load *L, const struct cfg_key *tab, unsigned ntab,
                     const struct raw_sec *sec, const char *secname, int secline, void *obj,
                     struct key_meta *meta);

#endif
