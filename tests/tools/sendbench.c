/*
 * sendbench: the cost libmesh.so's I/O hooks add on a descriptor it never
 * connected (the common case: every read/write/send of every program).
 * Times N calls of send(fd, buf, 0, 0) on a unix socketpair and prints
 * ns per call; run it with and without LD_PRELOAD and compare.
 *
 *   sendbench [N] [HOST:PORT]
 *     N          calls (default 10000000)
 *     HOST:PORT  connect a TCP socket there first (an intercepted address
 *                or a VIP makes the shim create its per-fd table, so the
 *                hooks then do the full lookup instead of a NULL check)
 *
 * Build: make build/sendbench
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000000L;
	if (argc > 2) {
		char host[64];
		const char *colon = strrchr(argv[2], ':');
		struct sockaddr_in sa = { .sin_family = AF_INET };
		if (!colon || (size_t)(colon - argv[2]) >= sizeof host) {
			fprintf(stderr, "sendbench: bad address %s\n", argv[2]);
			return 2;
		}
		memcpy(host, argv[2], (size_t)(colon - argv[2]));
		host[colon - argv[2]] = '\0';
		sa.sin_port = htons((unsigned short)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
			fprintf(stderr, "sendbench: bad address %s\n", argv[2]);
			return 2;
		}
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s == -1 || connect(s, (struct sockaddr *)&sa, sizeof sa) == -1)
			fprintf(stderr, "sendbench: connect %s: %s (continuing)\n", argv[2],
			        strerror(errno));
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		perror("socketpair");
		return 1;
	}
	char buf[1] = { 0 };
	/* warm up */
	for (long i = 0; i < n / 10; i++)
		send(sv[0], buf, 0, 0);
	double t0 = now_s();
	for (long i = 0; i < n; i++)
		if (send(sv[0], buf, 0, 0) != 0) {
			perror("send");
			return 1;
		}
	double t1 = now_s();
	printf("%.1f ns/call (%ld calls)\n", (t1 - t0) * 1e9 / (double)n, n);
	return 0;
}
