/*
 * Control-socket line protocol between libmesh.so and meshd: the codec only
 * (pure: no I/O, no allocation, no locale, no libc but memcpy), shared by
 * both sides so that the two parsers of these untrusted lines are one.
 *
 *   shim -> meshd   W <client a.b.c.d:port> <vip a.b.c.d:port> <inode>
 *   meshd -> shim   V <client a.b.c.d:port> <vip a.b.c.d:port> <inode> <word>
 *
 * or, for a connection to an IPv6 VIP, both host:ports as [v6]:port, the
 * address in the one spelling inet_ntop writes (RFC 5952: lowercase, no
 * leading zeros, the longest run of two or more zero groups as "::", the
 * first of equal runs); forms inet_ntop would write with a dotted IPv4
 * tail (::a.b.c.d, ::ffff:a.b.c.d) are not IPv6 tuples and are refused.
 *
 * <inode> is the st_ino of the shim's socket (decimal), so an answer names
 * the very socket that asked, not only a tuple the kernel may reuse; a
 * question's is never 0 (no socket has inode 0, and meshd's tables use 0
 * for a connection whose inode it could not learn, which matches any); <word>
 * is a result word ([a-z0-9_], 1..CTLPROTO_WORD_MAX). One space between
 * fields, nothing before or after, each line ends with '\n' on the wire;
 * the parsers take a line without its '\n'. Every field has exactly one
 * spelling (no leading zeros, octets 0..255, ports 1..65535, inode in
 * 64 bits): what parses formats back to the same bytes, so either side may
 * use the text of a tuple as a key.
 */
#ifndef LIBMESH_CTLPROTO_H
#define LIBMESH_CTLPROTO_H

#include <stddef.h>
#include <stdint.h>

#define CTLPROTO_WORD_MAX 31
/* Longest line with its '\n': "V " + 2 x "255.255.255.255:65535 " + a
 * 20-digit inode + " " + a word + "\n". */
#define CTLPROTO_LINE_MAX (2 + 2 * CTLPROTO_HOSTPORT_MAX + 20 + 1 + CTLPROTO_WORD_MAX + 1)
/* "[" + 39 characters of IPv6 + "]:65535" + " " */
#define CTLPROTO_HOSTPORT_MAX 48

struct ctlproto_tuple {
	uint32_t caddr; /* client address, network order (IPv4) */
	uint16_t cport; /* client port, network order */
	uint32_t vaddr; /* VIP, network order (IPv4) */
	uint16_t vport; /* VIP port, network order */
	uint64_t inode; /* the asking socket's inode */
	uint8_t v6;     /* 1: the addresses are caddr6 and vaddr6 */
	uint8_t caddr6[16];
	uint8_t vaddr6[16];
};

/* Parse a question (line without '\n', len bytes, need not be
 * NUL-terminated). Returns 0, or -1 if it is not exactly one question
 * (inode 0 included). */
int ctlproto_parse_question(const char *line, size_t len, struct ctlproto_tuple *q);

/* Parse an answer; word receives the result word, NUL-terminated. Returns
 * 0, or -1. */
int ctlproto_parse_answer(const char *line, size_t len, struct ctlproto_tuple *a,
                          char word[CTLPROTO_WORD_MAX + 1]);

/* Format a question or an answer, with its '\n', into out (no NUL).
 * Return the length, or 0 when cap is too small (CTLPROTO_LINE_MAX always
 * suffices), a port is 0, a question's inode is 0 or the word is not a
 * valid result word: what the parsers would refuse is never written. */
size_t ctlproto_format_question(char *out, size_t cap, const struct ctlproto_tuple *q);
size_t ctlproto_format_answer(char *out, size_t cap, const struct ctlproto_tuple *a,
                              const char *word);

#endif
