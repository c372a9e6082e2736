// SPDX-License-Identifier: GPL-2.0
/*
 * benchgen: server and load generators of `make bench` (tests/vm/bench/run.sh). Compiled in the
 * guest (cc -O2 -pthread); plain libc and threads, so that the generator costs little under
 * TCG (no interpreter, no fork per connection).
 *
 *   benchgen server -p PORT [-j THREADS]
 *       TCP on [::]:PORT (IPv4 too): THREADS threads block in accept(). Per connection the
 *       first byte says what follows: 'c' (a short connection: answer one byte 'k' and close)
 *       or 'b' (bulk: read until EOF, answer the byte count as 8 bytes big-endian, close).
 *       UDP on [::]:PORT: one thread drains datagrams (recvmmsg); the count is the namespace's
 *       Udp InDatagrams counter, which the caller reads.
 *
 *   benchgen conn -d ADDR -p PORT -T SECS [-j THREADS] [-s SRC -k NSRC] [-w TIMEOUT_MS]
 *       THREADS threads open short connections for SECS seconds: connect (non-blocking, at most
 *       TIMEOUT_MS, default 3000), send 'c', wait for 'k' and the server's close, close. Source
 *       address SRC + (n % NSRC), bound with IP_FREEBIND (an AnyIP prefix routed to lo), port
 *       from the kernel. Prints
 *         "conn ok=N fail=F secs=S rate=R fail_connect=.. fail_timeout=.. fail_reply=.."
 *       (rate = ok / S). Exit 0 unless the generator itself failed (socket() etc.).
 *
 *   benchgen bulk -d ADDR -p PORT -T SECS
 *       One TCP connection: sends 64 KiB writes for SECS seconds, half-closes and waits for the
 *       server's byte count. Prints "bulk bytes=B secs=S mbytes_per_s=R" (B as counted by the
 *       server; S until its answer came). Exit 1 if the connection failed.
 *
 *   benchgen udp -d ADDR -p PORT -T SECS [-j THREADS] [-l LEN] [-s SRC]
 *       THREADS connected UDP sockets (one flow each: source port from the kernel) send LEN-byte
 *       (default 18) datagrams in batches of 64 (sendmmsg) for SECS seconds. Prints
 *       "udp sent=N secs=S". The receiver's count is read by the caller.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void __attribute__((noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "benchgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (%s)\n", strerror(errno));
	va_end(ap);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *opt_addr;
static const char *opt_src;
static int opt_port = 8080, opt_threads = 4, opt_nsrc = 1, opt_len = 18, opt_timeout_ms = 3000;
static double opt_secs = 5;

/* An address family/sockaddr for ADDR:PORT. */
static socklen_t mkaddr(const char *s, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		return sizeof(*a4);
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return sizeof(*a6);
	}
	errno = EINVAL;
	die("bad address '%s'", s);
}

/* SRC + n (the last 32 bits for IPv6). */
static socklen_t src_nth(unsigned n, struct sockaddr_storage *ss)
{
	socklen_t len = mkaddr(opt_src, 0, ss);

	if (ss->ss_family == AF_INET) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_addr.s_addr = htonl(ntohl(a4->sin_addr.s_addr) + n);
	} else {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		uint32_t w;

		memcpy(&w, &a6->sin6_addr.s6_addr[12], 4);
		w = htonl(ntohl(w) + n);
		memcpy(&a6->sin6_addr.s6_addr[12], &w, 4);
	}
	return len;
}

/* ------------------------------------------------------------------------------------ */
/* Server                                                                               */

static int lfd, ufd;

static void serve_conn(int fd)
{
	char b[65536], k = 'k';
	uint64_t n = 0, be;
	ssize_t r;
	int i;

	if (read(fd, b, 1) != 1)
		goto out;
	if (b[0] == 'c') {
		if (write(fd, &k, 1) != 1)
			goto out;
	} else if (b[0] == 'b') {
		while ((r = read(fd, b, sizeof(b))) > 0)
			n += r;
		for (i = 0, be = 0; i < 8; i++)
			((uint8_t *)&be)[i] = n >> (56 - 8 * i);
		if (write(fd, &be, 8) != 8)
			goto out;
	}
out:
	close(fd);
}

static void *accept_loop(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
				continue;
			die("accept");
		}
		serve_conn(fd);
	}
	return NULL;
}

static void *udp_loop(void *arg)
{
	static char bufs[64][2048];
	struct mmsghdr m[64];
	struct iovec iov[64];
	int i;

	(void)arg;
	memset(m, 0, sizeof(m));
	for (i = 0; i < 64; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	for (;;)
		recvmmsg(ufd, m, 64, 0, NULL);
	return NULL;
}

static int server(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	int one = 1, zero = 0, i, rcv = 4 << 20;
	pthread_t t;

	a.sin6_port = htons(opt_port);
	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	ufd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (lfd < 0 || ufd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(ufd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(ufd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096))
		die("tcp bind/listen port %d", opt_port);
	if (bind(ufd, (struct sockaddr *)&a, sizeof(a)))
		die("udp bind port %d", opt_port);
	if (pthread_create(&t, NULL, udp_loop, NULL))
		die("pthread_create");
	for (i = 1; i < opt_threads; i++)
		if (pthread_create(&t, NULL, accept_loop, NULL))
			die("pthread_create");
	printf("listening %d\n", opt_port);
	fflush(stdout);
	accept_loop(NULL);
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Short connections                                                                    */

struct cstats {
	unsigned long ok, f_connect, f_timeout, f_reply;
	int idx;
};

static double deadline;

/* Waits for EV on FD until the absolute time LIMIT; 1 ready, 0 timed out. */
static int wait_fd(int fd, short ev, double limit)
{
	struct pollfd p = { .fd = fd, .events = ev };

	for (;;) {
		double left = limit - now_s();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 0;
	}
}

static void *conn_loop(void *arg)
{
	struct cstats *st = arg;
	struct sockaddr_storage dst, src;
	socklen_t dlen = mkaddr(opt_addr, opt_port, &dst), slen;
	unsigned n = st->idx;
	int one = 1;

	while (now_s() < deadline) {
		double limit = now_s() + opt_timeout_ms / 1000.0;
		int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
		socklen_t el = sizeof(err);
		char c = 'c';

		if (fd < 0)
			die("socket");
		if (opt_src) {
			slen = src_nth(n % opt_nsrc, &src);
			n += opt_threads;
			setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
			setsockopt(fd, SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one));
			setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
			if (bind(fd, (struct sockaddr *)&src, slen))
				die("bind source");
		}
		if (connect(fd, (struct sockaddr *)&dst, dlen) && errno != EINPROGRESS) {
			st->f_connect++;
			goto next;
		}
		if (!wait_fd(fd, POLLOUT, limit)) {
			st->f_timeout++;
			goto next;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
			st->f_connect++;
			goto next;
		}
		if (write(fd, &c, 1) != 1) {
			st->f_reply++;
			goto next;
		}
		if (!wait_fd(fd, POLLIN, limit) || read(fd, &c, 1) != 1 || c != 'k') {
			st->f_reply++;
			goto next;
		}
		/* The server closes after its answer: wait for that EOF (the server's side then
		 * holds TIME_WAIT), so that the whole connection, both FINs, crossed the balancer. */
		if (!wait_fd(fd, POLLIN, limit) || read(fd, &c, 1) != 0) {
			st->f_reply++;
			goto next;
		}
		st->ok++;
next:
		close(fd);
	}
	return NULL;
}

static int conn(void)
{
	struct cstats *st = calloc(opt_threads, sizeof(*st)), sum = { 0 };
	pthread_t *t = calloc(opt_threads, sizeof(*t));
	double t0;
	int i;

	t0 = now_s();
	deadline = t0 + opt_secs;
	for (i = 0; i < opt_threads; i++) {
		st[i].idx = i;
		if (pthread_create(&t[i], NULL, conn_loop, &st[i]))
			die("pthread_create");
	}
	for (i = 0; i < opt_threads; i++) {
		pthread_join(t[i], NULL);
		sum.ok += st[i].ok;
		sum.f_connect += st[i].f_connect;
		sum.f_timeout += st[i].f_timeout;
		sum.f_reply += st[i].f_reply;
	}
	t0 = now_s() - t0;
	printf("conn ok=%lu fail=%lu secs=%.3f rate=%.1f fail_connect=%lu fail_timeout=%lu fail_reply=%lu\n",
	       sum.ok, sum.f_connect + sum.f_timeout + sum.f_reply, t0, sum.ok / t0, sum.f_connect,
	       sum.f_timeout, sum.f_reply);
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Bulk TCP                                                                             */

static int bulk(void)
{
	struct sockaddr_storage dst;
	socklen_t dlen = mkaddr(opt_addr, opt_port, &dst);
	static char buf[65536];
	uint8_t cnt[8];
	uint64_t n = 0;
	double t0, end;
	ssize_t r;
	size_t got = 0;
	int fd = socket(dst.ss_family, SOCK_STREAM, 0), i;
	struct timeval tv = { .tv_sec = 30 };

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	t0 = now_s();
	if (connect(fd, (struct sockaddr *)&dst, dlen)) {
		fprintf(stderr, "benchgen bulk: connect: %s\n", strerror(errno));
		return 1;
	}
	buf[0] = 'b';
	end = t0 + opt_secs;
	while (now_s() < end) {
		if (write(fd, buf, sizeof(buf)) < 0) {
			fprintf(stderr, "benchgen bulk: write: %s\n", strerror(errno));
			return 1;
		}
		buf[0] = 0;
	}
	shutdown(fd, SHUT_WR);
	while (got < 8 && (r = read(fd, cnt + got, 8 - got)) > 0)
		got += r;
	if (got != 8) {
		fprintf(stderr, "benchgen bulk: no byte count from the server\n");
		return 1;
	}
	for (i = 0; i < 8; i++)
		n = n << 8 | cnt[i];
	t0 = now_s() - t0;
	printf("bulk bytes=%llu secs=%.3f mbytes_per_s=%.2f\n", (unsigned long long)n, t0, n / t0 / 1e6);
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* UDP                                                                                  */

static unsigned long udp_sent[64];

static void *udp_send_loop(void *arg)
{
	long idx = (long)arg;
	struct sockaddr_storage dst, src;
	socklen_t dlen = mkaddr(opt_addr, opt_port, &dst);
	static char payload[1500];
	struct mmsghdr m[64];
	struct iovec iov;
	int fd = socket(dst.ss_family, SOCK_DGRAM, 0), i, one = 1;

	if (fd < 0)
		die("socket");
	if (opt_src) {
		socklen_t slen = src_nth(idx, &src);

		setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, slen))
			die("bind source");
	}
	if (connect(fd, (struct sockaddr *)&dst, dlen))
		die("udp connect");
	iov.iov_base = payload;
	iov.iov_len = opt_len;
	memset(m, 0, sizeof(m));
	for (i = 0; i < 64; i++) {
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	while (now_s() < deadline) {
		int r = sendmmsg(fd, m, 64, 0);

		if (r > 0)
			udp_sent[idx] += r;
		else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR)
			die("sendmmsg");
	}
	close(fd);
	return NULL;
}

static int udp(void)
{
	pthread_t t[64];
	unsigned long sum = 0;
	double t0 = now_s();
	long i;

	if (opt_threads > 64)
		opt_threads = 64;
	deadline = t0 + opt_secs;
	for (i = 0; i < opt_threads; i++)
		if (pthread_create(&t[i], NULL, udp_send_loop, (void *)i))
			die("pthread_create");
	for (i = 0; i < opt_threads; i++) {
		pthread_join(t[i], NULL);
		sum += udp_sent[i];
	}
	printf("udp sent=%lu secs=%.3f\n", sum, now_s() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode;
	int o;

	if (argc < 2) {
		fprintf(stderr, "usage: benchgen server|conn|bulk|udp [options] (see benchgen.c)\n");
		return 2;
	}
	mode = argv[1];
	argv++;
	argc--;
	while ((o = getopt(argc, argv, "d:p:T:j:s:k:w:l:")) != -1) {
		switch (o) {
		case 'd': opt_addr = optarg; break;
		case 'p': opt_port = atoi(optarg); break;
		case 'T': opt_secs = atof(optarg); break;
		case 'j': opt_threads = atoi(optarg); break;
		case 's': opt_src = optarg; break;
		case 'k': opt_nsrc = atoi(optarg); break;
		case 'w': opt_timeout_ms = atoi(optarg); break;
		case 'l': opt_len = atoi(optarg); break;
		default: return 2;
		}
	}
	if (opt_threads < 1 || opt_nsrc < 1 || opt_len < 1 || opt_len > 1400) {
		fprintf(stderr, "benchgen: bad -j, -k or -l\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "server"))
		return server();
	if (!opt_addr) {
		fprintf(stderr, "benchgen: -d ADDR needed\n");
		return 2;
	}
	if (!strcmp(mode, "conn"))
		return conn();
	if (!strcmp(mode, "bulk"))
		return bulk();
	if (!strcmp(mode, "udp"))
		return udp();
	fprintf(stderr, "benchgen: unknown mode %s\n", mode);
	return 2;
}
