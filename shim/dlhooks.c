/*
 * dlopen/dlmopen: the shim keeps its hooks in libraries loaded with
 * RTLD_DEEPBIND.
 *
 * A library opened with RTLD_DEEPBIND looks up its symbols in its own
 * dependencies first, libc among them, and only then in the global scope
 * where the preloaded libmesh.so sits: its getaddrinfo and connect would be
 * libc's. PHP opens every extension that way (curl.so -> libcurl), so its
 * curl functions bypassed the mesh. These hooks drop RTLD_DEEPBIND from the
 * flags (MESH_DEEPBIND=keep leaves it): the library then binds like any
 * other, global scope first. The trade-off: where the program (or another
 * preloaded library) defines a symbol that the library's own dependencies
 * define too, the library now gets the program's, which is what DEEPBIND
 * was protecting it from (PHP inside a server that bundles other versions
 * of the same libraries). PHP built with AddressSanitizer runs without
 * DEEPBIND for the same reason, so its extensions are known to work so.
 *
 * glibc's dlopen takes the caller from its return address: that object's
 * RUNPATH, RPATH and $ORIGIN find a library given by bare name, and its
 * namespace is the one loaded into. A wrapper that called the real dlopen
 * would make libmesh.so the caller (no RUNPATH): so each hook ends in a
 * tail call (a jump: the return address stays the program's), with no
 * local whose address escapes and the decision in a function of its own.
 * (SHIM_TAILCALLER below), and tests/unit/check_tailcall.sh checks the
 * built library.
 *
 * dlmopen into a namespace other than LM_ID_BASE is passed through as it
 * is: the preload is not loaded into new namespaces at all, so whatever is
 * loaded there resolves names and connects without the shim (MESH_DEBUG
 * says so), DEEPBIND or not.
 *
 * The real functions are resolved with the others in do_init (libmesh.c),
 * before a program can call either hook; a hook reached while this very
 * thread is inside that initialisation (an allocator's dlsym calling back)
 * looks the symbol up itself: dlsym's lock is recursive, so this cannot
 * deadlock.
 */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void *(*real_dlopen)(const char *, int);
void *(*real_dlmopen)(Lmid_t, const char *, int);

static int deepbind_keep;

/* The hooks' tail calls: musttail where the compiler has it (clang, gcc
 * 15); gcc 12 has not, and makes sibling calls from -O2 on only, so the
 * two hooks are compiled at -O2 whatever the build's level (at -O0 and -O1
 * they would otherwise call, and return through, the real function). */
#if defined(__has_attribute)
#if __has_attribute(musttail)
#define SHIM_MUSTTAIL __attribute__((musttail))
#define SHIM_TAILCALLER
#endif
#endif
#ifndef SHIM_MUSTTAIL
#define SHIM_MUSTTAIL
#define SHIM_TAILCALLER __attribute__((optimize("O2")))
#endif

void dlhooks_init(void)
{
	real_dlopen = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	real_dlmopen = (void *(*)(Lmid_t, const char *, int))dlsym(RTLD_NEXT, "dlmopen");
	const char *k = secure_getenv("MESH_DEEPBIND");
	deepbind_keep = k && strcmp(k, "keep") == 0;
}

/* The real dlopen when init has not resolved it (yet): never NULL in a
 * process where libc has dlopen. */
__attribute__((noinline)) static void *(*open_fn(void))(const char *, int)
{
	if (shim_init() == 0 && real_dlopen)
		return real_dlopen;
	int saved = errno;
	void *(*fn)(const char *, int) = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	errno = saved;
	return fn;
}

__attribute__((noinline)) static void *(*mopen_fn(void))(Lmid_t, const char *, int)
{
	if (shim_init() == 0 && real_dlmopen)
		return real_dlmopen;
	int saved = errno;
	void *(*fn)(Lmid_t, const char *, int) =
		(void *(*)(Lmid_t, const char *, int))dlsym(RTLD_NEXT, "dlmopen");
	errno = saved;
	return fn;
}

static void say(const char *call, const char *file, const char *what)
{
	struct shim_line l;
	shim_line_start(&l);
	shim_line_str(&l, call);
	shim_line_str(&l, " ");
	shim_line_str(&l, file ? file : "(main program)");
	shim_line_str(&l, ": ");
	shim_line_str(&l, what);
	shim_line_end(&l);
}

/* The flags to pass on for a dlopen (or a dlmopen into LM_ID_BASE) that
 * asked for RTLD_DEEPBIND. Out of line: the hook must stay a tail call. */
__attribute__((noinline)) static int deepbind_mode(const char *call, const char *file, int mode)
{
	if (shim_init() == -1)
		return mode & ~RTLD_DEEPBIND; /* this thread is in init: no debug yet */
	if (deepbind_keep) {
		if (shim_debug)
			say(call, file,
			    "RTLD_DEEPBIND kept (MESH_DEEPBIND=keep): the library binds to "
			    "libc ahead of the shim");
		return mode;
	}
	if (shim_debug)
		say(call, file,
		    "RTLD_DEEPBIND dropped, so that the library binds to the shim's hooks "
		    "(MESH_DEEPBIND=keep keeps it)");
	return mode & ~RTLD_DEEPBIND;
}

__attribute__((noinline)) static void other_namespace(const char *file)
{
	if (shim_init() == 0 && shim_debug)
		say("dlmopen", file,
		    "into a namespace other than the base one: the shim is not loaded "
		    "there, so that library's lookups and connects bypass the mesh");
}

SHIM_EXPORT SHIM_TAILCALLER void *dlopen(const char *file, int mode)
{
	void *(*fn)(const char *, int) = real_dlopen;
	if (__builtin_expect(fn == NULL, 0))
		fn = open_fn();
	if (mode & RTLD_DEEPBIND)
		mode = deepbind_mode("dlopen", file, mode);
	SHIM_MUSTTAIL return fn(file, mode);
}

SHIM_EXPORT SHIM_TAILCALLER void *dlmopen(Lmid_t lmid, const char *file, int mode)
{
	void *(*fn)(Lmid_t, const char *, int) = real_dlmopen;
	if (__builtin_expect(fn == NULL, 0))
		fn = mopen_fn();
	if (lmid != LM_ID_BASE)
		other_namespace(file);
	else if (mode & RTLD_DEEPBIND)
		mode = deepbind_mode("dlmopen", file, mode);
	SHIM_MUSTTAIL return fn(lmid, file, mode);
}
