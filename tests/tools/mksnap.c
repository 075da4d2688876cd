/*
 * mksnap: write a route snapshot file from the command line, so the shim can
 * be tested without meshd. Publishes like meshd does (temp file, rename), so
 * a running program sees either the old or the new file, never a torn one.
 *
 *   mksnap OUT SUFFIX [SPEC...]
 *     SUFFIX                    mesh suffix without the dot, "-" for none
 *     NAME=VIP[:PORT[,PORT...]] a service (VIP IPv4)
 *     icpt=ADDR:PORT=NAME       intercepted address; ADDR IPv4 or [IPv6]
 *     vip6=NAME=ADDR            IPv6 VIP of service NAME (given before)
 *   MKSNAP_GENERATION=N         generation number (default 1)
 *   MKSNAP_CONTROL=PATH         control socket path to publish (default none)
 *   MKSNAP_RANGE6=ADDR/N        IPv6 VIP range (default none)
 *
 * Build: cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Ishim -o build/mksnap
 *        tests/tools/mksnap.c shim/snapshot.c
 */
#include "snapshot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SPECS 256

static struct snap_svc_in svcs[MAX_SPECS];
/* One spare port so that the encoder's own limit check can be exercised. */
static uint16_t ports[MAX_SPECS][SNAP_MAX_PORTS + 1];
static struct snap_icpt_in icpts[MAX_SPECS];
static char *icpt_names[MAX_SPECS];

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* NAME=VIP[:PORT[,PORT...]] ; modifies s */
static int parse_svc(char *s, struct snap_svc_in *out, uint16_t *pbuf)
{
	char *eq = strchr(s, '=');
	if (!eq)
		return -1;
	*eq = '\0';
	out->name = s;
	char *addr = eq + 1;
	char *colon = strchr(addr, ':');
	if (colon)
		*colon = '\0';
	struct in_addr a;
	if (inet_pton(AF_INET, addr, &a) != 1)
		return -1;
	out->vip = a.s_addr;
	out->ports = pbuf;
	out->nports = 0;
	if (!colon)
		return 0;
	for (char *tok = strtok(colon + 1, ","); tok; tok = strtok(NULL, ",")) {
		if (out->nports > SNAP_MAX_PORTS || parse_port(tok, &pbuf[out->nports]))
			return -1;
		out->nports++;
	}
	return 0;
}

/* ADDR:PORT=NAME ; modifies s */
static int parse_icpt(char *s, struct snap_icpt_in *out, char **name)
{
	char *eq = strrchr(s, '=');
	if (!eq)
		return -1;
	*eq = '\0';
	*name = eq + 1;
	char *colon = strrchr(s, ':');
	if (!colon || parse_port(colon + 1, &out->port))
		return -1;
	*colon = '\0';
	memset(out->addr, 0, sizeof out->addr);
	if (s[0] == '[') {
		size_t n = strlen(s);
		if (n < 2 || s[n - 1] != ']')
			return -1;
		s[n - 1] = '\0';
		out->family = AF_INET6;
		return inet_pton(AF_INET6, s + 1, out->addr) == 1 ? 0 : -1;
	}
	out->family = AF_INET;
	return inet_pton(AF_INET, s, out->addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned ns = 0, ni = 0;

	if (argc < 3) {
		fprintf(stderr,
		        "usage: mksnap OUT SUFFIX|- [NAME=VIP[:PORT,...]] "
		        "[icpt=ADDR:PORT=NAME]...\n");
		return 2;
	}
	const char *suffix = strcmp(argv[2], "-") == 0 ? "" : argv[2];
	for (int i = 3; i < argc; i++) {
		if (ns >= MAX_SPECS || ni >= MAX_SPECS) {
			fprintf(stderr, "mksnap: too many specs\n");
			return 2;
		}
		if (strncmp(argv[i], "vip6=", 5) == 0) {
			char *n = argv[i] + 5, *eq = strchr(n, '=');
			unsigned k = 0;
			if (eq) {
				*eq = '\0';
				for (k = 0; k < ns && strcmp(svcs[k].name, n) != 0; k++)
					;
			}
			if (!eq || k == ns || inet_pton(AF_INET6, eq + 1, svcs[k].vip6) != 1) {
				fprintf(stderr, "mksnap: bad vip6 spec: %s\n", argv[i]);
				return 2;
			}
		} else if (strncmp(argv[i], "icpt=", 5) == 0) {
			if (parse_icpt(argv[i] + 5, &icpts[ni], &icpt_names[ni])) {
				fprintf(stderr, "mksnap: bad intercept: %s\n", argv[i]);
				return 2;
			}
			ni++;
		} else if (parse_svc(argv[i], &svcs[ns], ports[ns])) {
			fprintf(stderr, "mksnap: bad service: %s\n", argv[i]);
			return 2;
		} else {
			ns++;
		}
	}
	for (unsigned i = 0; i < ni; i++) {
		unsigned k;
		for (k = 0; k < ns; k++)
			if (strcmp(svcs[k].name, icpt_names[i]) == 0)
				break;
		if (k == ns) {
			fprintf(stderr, "mksnap: intercept names unknown service %s\n",
			        icpt_names[i]);
			return 2;
		}
		icpts[i].svc = k;
	}

	const char *g = getenv("MKSNAP_GENERATION");
	uint64_t gen = g ? strtoull(g, NULL, 10) : 1;
	void *buf;
	size_t len;
	/* The VIP range: MKSNAP_RANGE=a.b.c.d/N, or all of 127.0.0.0/8. */
	uint32_t vnet = htonl(0x7f000000u);
	unsigned vprefix = 8;
	const char *r = getenv("MKSNAP_RANGE");
	if (r && *r) {
		char host[32];
		const char *slash = strchr(r, '/');
		struct in_addr a;
		if (!slash || (size_t)(slash - r) >= sizeof host) {
			fprintf(stderr, "mksnap: bad MKSNAP_RANGE %s\n", r);
			return 2;
		}
		memcpy(host, r, (size_t)(slash - r));
		host[slash - r] = '\0';
		if (inet_pton(AF_INET, host, &a) != 1) {
			fprintf(stderr, "mksnap: bad MKSNAP_RANGE %s\n", r);
			return 2;
		}
		vnet = a.s_addr;
		vprefix = (unsigned)atoi(slash + 1);
	}
	uint8_t net6[16] = { 0 };
	unsigned prefix6 = 0;
	const char *r6 = getenv("MKSNAP_RANGE6");
	if (r6 && *r6) {
		char host[64];
		const char *slash = strchr(r6, '/');
		if (!slash || (size_t)(slash - r6) >= sizeof host) {
			fprintf(stderr, "mksnap: bad MKSNAP_RANGE6 %s\n", r6);
			return 2;
		}
		memcpy(host, r6, (size_t)(slash - r6));
		host[slash - r6] = '\0';
		if (inet_pton(AF_INET6, host, net6) != 1) {
			fprintf(stderr, "mksnap: bad MKSNAP_RANGE6 %s\n", r6);
			return 2;
		}
		prefix6 = (unsigned)atoi(slash + 1);
	}
	if (snapshot_encode(suffix, getenv("MKSNAP_CONTROL"), gen, vnet, vprefix, net6, prefix6,
	                    svcs, ns, icpts, ni, &buf, &len) == -1) {
		perror("mksnap: encode");
		return 1;
	}

	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", argv[1], (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write(fd, buf, len) != (ssize_t)len || close(fd) == -1 ||
	    rename(tmp, argv[1]) == -1) {
		perror("mksnap: write");
		unlink(tmp);
		return 1;
	}
	free(buf);
	return 0;
}
