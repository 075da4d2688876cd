/*
 * gai_connect: an HTTP/1.0 GET by name, the way an ordinary C program does
 * it: getaddrinfo(AF_UNSPEC, SOCK_STREAM), a blocking connect() to each
 * answer in turn, write the request, read until EOF. Used by the
 * transparency tests (tests/integration/transparency/) under libmesh.so.
 *
 *   gai_connect threads N HOST PORT PATH
 *       N threads, released together by a barrier, each resolving HOST and
 *       connecting at the same moment. Exit 0 when all N got "200".
 *   gai_connect fork HOST PORT PATH
 *       resolve HOST in the parent first (so any state the resolver keeps
 *       exists before fork), then fork; the child resolves, connects and
 *       fetches; the parent waits. Exit 0 when the child got "200".
 *
 * One line per fetch on stdout:
 *   fetch I pid P peer ADDR:PORT status CODE sent S received R body BODY
 * where S and R are the bytes written to and read from the socket, BODY the
 * response body's first line. Errors go to stderr as "fetch I: ...".
 *
 * Build: cc -O2 -Wall -pthread -o gai_connect tests/tools/gai_connect.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *host, *port, *path;
static pthread_barrier_t start;
static int use_barrier;

static void peer_str(int fd, char *out, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned p = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, a, sizeof a);
			p = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof a);
			p = ntohs(in6->sin6_port);
		}
	}
	snprintf(out, n, "%s:%u", a, p);
}

/* One fetch; returns 0 when the response status is 200. */
static int fetch(int i)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, rc;
	char req[512], peer[80], buf[65536];
	size_t got = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "fetch %d: getaddrinfo %s: %s\n", i, host, gai_strerror(rc));
		return 1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		fprintf(stderr, "fetch %d: connect: %s\n", i, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		fprintf(stderr, "fetch %d: no address of %s connected\n", i, host);
		return 1;
	}
	peer_str(fd, peer, sizeof peer);

	int len = snprintf(req, sizeof req,
	                   "GET %s HTTP/1.0\r\nHost: %s:%s\r\n"
	                   "User-Agent: gai_connect\r\n\r\n",
	                   path, host, port);
	for (int off = 0; off < len;) {
		ssize_t w = write(fd, req + off, (size_t)(len - off));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "fetch %d: write: %s\n", i, strerror(errno));
			close(fd);
			return 1;
		}
		off += (int)w;
	}
	for (;;) {
		ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "fetch %d: read: %s\n", i, strerror(errno));
			close(fd);
			return 1;
		}
		if (r == 0 || got + (size_t)r >= sizeof buf - 1) {
			got += (size_t)r;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';

	int code = 0;
	sscanf(buf, "HTTP/%*s %d", &code);
	const char *body = strstr(buf, "\r\n\r\n");
	body = body ? body + 4 : "";
	int blen = (int)strcspn(body, "\r\n");
	printf("fetch %d pid %d peer %s status %d sent %d received %zu body %.*s\n", i,
	       (int)getpid(), peer, code, len, got, blen, body);
	fflush(stdout);
	return code == 200 ? 0 : 1;
}

static void *worker(void *arg)
{
	int i = (int)(long)arg;
	if (use_barrier)
		pthread_barrier_wait(&start);
	return (void *)(long)fetch(i);
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: gai_connect threads N HOST PORT PATH\n"
	        "       gai_connect fork HOST PORT PATH\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && strcmp(argv[1], "threads") == 0) {
		int n = atoi(argv[2]), bad = 0;
		if (n < 1 || n > 1024)
			return usage();
		host = argv[3], port = argv[4], path = argv[5];
		pthread_t *t = calloc((size_t)n, sizeof *t);
		if (!t)
			return 1;
		use_barrier = 1;
		pthread_barrier_init(&start, NULL, (unsigned)n);
		for (int i = 0; i < n; i++) {
			int e = pthread_create(&t[i], NULL, worker, (void *)(long)i);
			if (e) {
				fprintf(stderr, "pthread_create: %s\n", strerror(e));
				return 1; /* the barrier would never open */
			}
		}
		for (int i = 0; i < n; i++) {
			void *r;
			pthread_join(t[i], &r);
			bad += r != NULL;
		}
		printf("threads %d ok %d\n", n, n - bad);
		free(t);
		return bad ? 1 : 0;
	}
	if (argc == 5 && strcmp(argv[1], "fork") == 0) {
		host = argv[2], port = argv[3], path = argv[4];
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		int rc = getaddrinfo(host, port, &hints, &res);
		if (rc != 0) {
			fprintf(stderr, "parent: getaddrinfo %s: %s\n", host, gai_strerror(rc));
			return 1;
		}
		freeaddrinfo(res);
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(fetch(0));
		int st;
		if (waitpid(pid, &st, 0) != pid) {
			perror("waitpid");
			return 1;
		}
		printf("child %d exited %d\n", (int)pid,
		       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
	}
	return usage();
}
