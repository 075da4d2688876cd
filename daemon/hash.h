/*
 * FNV-1a, 32 bits: the one string hash of the daemon. It places VIPs
 * (vip.c: the value is part of the VIP a name gets, so it must never
 * change).
 */
#ifndef MESHD_HASH_H
#define MESHD_HASH_H

#include <stdint.h>

static inline uint32_t hash_fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

#endif
