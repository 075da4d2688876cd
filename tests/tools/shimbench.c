/*
 * shimbench: what libmesh.so adds to a program's calls that are not the
 * mesh's (the pass-through path, issue 3's "under one microsecond"). Times,
 * in ns per call:
 *   gai      getaddrinfo("localhost", "80", AF_INET) + freeaddrinfo
 *            (answered by glibc from /etc/hosts: no network)
 *   connect  socket + connect to 127.0.0.1:PORT (nothing listens: refused
 *            by the kernel at once) + close
 *   send     send(fd, buf, 0, 0) on a unix socketpair
 * Run it with and without LD_PRELOAD=libmesh.so and subtract; scripts/
 * bench.sh does, interleaving the two, and reports medians.
 *
 *   shimbench gai|connect|send [N] [PORT]
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: shimbench gai|connect|send [N] [PORT]\n");
		return 2;
	}
	long n = argc > 2 ? atol(argv[2]) : 100000;
	int port = argc > 3 ? atoi(argv[3]) : 9;
	double t0, t1;
	if (strcmp(argv[1], "gai") == 0) {
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (getaddrinfo("localhost", "80", &hints, &res) != 0) {
				fprintf(stderr, "getaddrinfo failed\n");
				return 1;
			}
			freeaddrinfo(res);
		}
		t1 = now_ns();
	} else if (strcmp(argv[1], "connect") == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
			                  .sin_port = htons((uint16_t)port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
				fprintf(stderr, "expected a refused connect to 127.0.0.1:%d\n",
				        port);
				return 1;
			}
			close(fd);
		}
		t1 = now_ns();
	} else if (strcmp(argv[1], "send") == 0) {
		int sv[2];
		char c = 0;
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			return 1;
		t0 = now_ns();
		for (long i = 0; i < n; i++)
			if (send(sv[0], &c, 0, 0) == -1)
				return 1;
		t1 = now_ns();
	} else {
		fprintf(stderr, "unknown test %s\n", argv[1]);
		return 2;
	}
	printf("%.1f\n", (t1 - t0) / (double)n);
	return 0;
}
