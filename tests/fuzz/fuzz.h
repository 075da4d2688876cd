/*
 * What every fuzz target shares: CHECK(c) traps (libFuzzer reports a
 * crash with the input) when a property of the code under test fails.
 */
#ifndef LIBMESH_FUZZ_H
#define LIBMESH_FUZZ_H

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

#endif
