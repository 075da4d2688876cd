/*
 * fuzz_config: meshd's INI loader (daemon/config.c config_load, through
 * inih). The config is root's file, but it is still parsed from bytes: a
 * typo, a truncated copy or a bad merge must give an error list, never a
 * crash, a hang or a leak. Each input is written to a file in a scratch
 * directory made once per process (config_load reads a path, resolves
 * relative paths against the file's directory, and checks that cert, key
 * and ca files are readable regular files, so the directory holds empty
 * ones under the names the seeds use). Checks: a failed load gives an
 * error text, a successful one none; every service's VIP lies inside
 * vip_range, in 127.0.0.0/8; everything is freed (LeakSanitizer).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char dir[256];
static char ini[300];

static void cleanup(void)
{
	char cmd[300];
	if (dir[0] && snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) < (int)sizeof cmd) {
		int rc = system(cmd);
		(void)rc;
	}
}

static void touch(const char *rel)
{
	char p[400];
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd != -1);
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/fuzz_config.XXXXXX", t && *t ? t : "/tmp");
	CHECK(mkdtemp(dir));
	atexit(cleanup);
	char certs[300];
	snprintf(certs, sizeof certs, "%s/certs", dir);
	CHECK(mkdir(certs, 0700) == 0);
	static const char *const files[] = {
		"ca.pem",           "cert.pem",         "key.pem",         "certs/ca.pem",
		"certs/web.pem",    "certs/web.key",    "certs/batch.pem", "certs/batch.key",
		"certs/client.pem", "certs/client.key", "certs/hello.pem", "certs/hello.key",
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		touch(files[i]);
	snprintf(ini, sizeof ini, "%s/fuzz.ini", dir);
	return 0;
}

/* A VIP a previous generation "had" for some names, to reach the code that
 * keeps VIPs across reloads; some outside any sane range on purpose. */
static uint32_t prev_vip(const char *name, void *arg, struct in6_addr *vip6)
{
	(void)arg;
	uint32_t h = 2166136261u;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	/* An IPv6 VIP in fd6d:6573:6800::/64 for some, anything for others. */
	memset(vip6, 0, sizeof *vip6);
	vip6->s6_addr[0] = (h & 1) ? 0xfd : (uint8_t)h;
	vip6->s6_addr[1] = 0x6d;
	vip6->s6_addr[2] = 0x65;
	vip6->s6_addr[3] = 0x73;
	vip6->s6_addr[4] = 0x68;
	memcpy(&vip6->s6_addr[12], &h, 4);
	switch (h % 4) {
	case 0:
		return 0;
	case 1:
		return htonl(0x7f4d0000u | (h >> 16)); /* 127.77.x.y */
	case 2:
		return htonl(0x7f000000u | (h & 0xffffffu)); /* 127.x.y.z */
	default:
		return htonl(h); /* anything */
	}
}

/* The VIP lies in the config's vip_range, which lies in 127.0.0.0/8. */
static int in_range(uint32_t vip, const struct config *c)
{
	unsigned p = c->vip_prefix;
	if (p < 8 || p > 32)
		return 0;
	uint32_t mask = 0xffffffffu << (32 - p);
	uint32_t net = ntohl(c->vip_net.s_addr);
	return (net >> 24) == 127 && (net & ~mask) == 0 && (ntohl(vip) & mask) == net;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = open(ini, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd != -1);
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		CHECK(n > 0);
		off += (size_t)n;
	}
	close(fd);

	char *errors = NULL;
	struct config *c = config_load(ini, size % 2 ? prev_vip : NULL, NULL, &errors);
	if (!c) {
		CHECK(errors && errors[0]);
		free(errors);
		return 0;
	}
	CHECK(!errors);
	for (size_t i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		CHECK(in_range(s->vip.s_addr, c));
		CHECK(config_service(c, s->name) == s);
	}
	config_unref(c);
	return 0;
}
