// SPDX-License-Identifier: GPL-2.0
/*
 * flood: spoofed SYN flood and legitimate-client probe for tests/vm/rel/flood.sh.
 * Compiled in the guest (cc -O2); plain libc.
 *
 *   flood syn -d VIP -p PORT -n COUNT -r PPS [-t SECONDS] [-S SEED]
 *       Sends at most COUNT TCP SYNs to VIP:PORT through a raw IPv4 socket (IP_HDRINCL),
 *       each from a random source address in 198.18.0.0/15 (RFC 2544 benchmarking space,
 *       which the director blackholes) and a random source port, at about PPS packets a
 *       second, for at most SECONDS. Prints "sent N secs S".
 *
 *   flood probe -d VIP -p PORT -s SRC -k NSRC [-i INTERVAL_MS] [-t SECONDS] [-w TIMEOUT_MS]
 *       A legitimate client: every INTERVAL_MS it opens a TCP connection to VIP:PORT from
 *       SRC + (i % NSRC) (IP_FREEBIND, like dpgen), sends one dpgen request (tests/vm/dp/
 *       dpgen.c wire format, server closes after answering) and waits for the answer, at most
 *       TIMEOUT_MS in all. Prints one line per attempt, in start order:
 *       "START_MS LATENCY_MS ok|timeout|error" (START_MS from the probe's start).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *msg)
{
	perror(msg);
	exit(2);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static int cmd_syn(int argc, char **argv)
{
	struct in_addr vip = { 0 };
	int port = 8080, opt, one = 1, fd;
	long count = 1000, pps = 1000, secs = 60;
	int64_t t0, deadline;
	long sent = 0;

	while ((opt = getopt(argc, argv, "d:p:n:r:t:S:")) != -1) {
		switch (opt) {
		case 'd': if (inet_pton(AF_INET, optarg, &vip) != 1) die("vip"); break;
		case 'p': port = atoi(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'r': pps = atol(optarg); break;
		case 't': secs = atol(optarg); break;
		case 'S': rng_state = strtoull(optarg, NULL, 0) | 1; break;
		default: fprintf(stderr, "usage: flood syn -d VIP -p PORT -n COUNT -r PPS [-t SECS]\n"); return 2;
		}
	}
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0)
		die("socket(SOCK_RAW)");
	if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) < 0)
		die("IP_HDRINCL");
	t0 = now_us();
	deadline = t0 + secs * 1000000;
	while (sent < count) {
		uint8_t pkt[40];
		struct iphdr *ip = (struct iphdr *)pkt;
		struct tcphdr *th = (struct tcphdr *)(pkt + 20);
		struct sockaddr_in dst = { .sin_family = AF_INET, .sin_addr = vip };
		uint32_t src = 0xc6120000u | (rnd() & 0x1ffff); /* 198.18.0.0/15 */
		uint8_t pseudo[12];
		uint32_t sum;
		int64_t now = now_us();

		if (now >= deadline)
			break;
		/* Pace: never ahead of PPS; sleep when more than 1 ms ahead. */
		if (sent > (now - t0) * pps / 1000000) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		memset(pkt, 0, sizeof(pkt));
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(sizeof(pkt));
		ip->id = htons(rnd());
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		ip->saddr = htonl(src);
		ip->daddr = vip.s_addr;
		th->source = htons(1024 + rnd() % 64000);
		th->dest = htons(port);
		th->seq = htonl(rnd());
		th->doff = 5;
		th->syn = 1;
		th->window = htons(64240);
		memcpy(pseudo, &ip->saddr, 4);
		memcpy(pseudo + 4, &ip->daddr, 4);
		pseudo[8] = 0;
		pseudo[9] = IPPROTO_TCP;
		pseudo[10] = 0;
		pseudo[11] = 20;
		sum = csum_add(0, pseudo, 12);
		sum = csum_add(sum, th, 20);
		th->check = htons(csum_fold(sum));
		/* The kernel fills in the IP checksum for IP_HDRINCL. */
		if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
			if (errno == ENOBUFS || errno == EAGAIN) {
				struct timespec ts = { 0, 1000000 };

				nanosleep(&ts, NULL);
				continue;
			}
			die("sendto");
		}
		sent++;
	}
	printf("sent %ld secs %.1f\n", sent, (now_us() - t0) / 1e6);
	return 0;
}

/* One probe connection. */
struct probe {
	int fd;
	int64_t start;
	int sent;
	size_t got;
	uint8_t buf[64];
	int done; /* 1 ok, 2 timeout, 3 error */
	int64_t end;
};

static int cmd_probe(int argc, char **argv)
{
	struct in_addr vip = { 0 }, src = { 0 };
	int port = 8080, opt, nsrc = 1, interval_ms = 50, timeout_ms = 3000;
	long secs = 10, n = 0, i, cap;
	struct probe *pr;
	int64_t t0, next, stop;
	long reported = 0;

	while ((opt = getopt(argc, argv, "d:p:s:k:i:t:w:")) != -1) {
		switch (opt) {
		case 'd': if (inet_pton(AF_INET, optarg, &vip) != 1) die("vip"); break;
		case 'p': port = atoi(optarg); break;
		case 's': if (inet_pton(AF_INET, optarg, &src) != 1) die("src"); break;
		case 'k': nsrc = atoi(optarg); break;
		case 'i': interval_ms = atoi(optarg); break;
		case 't': secs = atol(optarg); break;
		case 'w': timeout_ms = atoi(optarg); break;
		default: fprintf(stderr, "usage: flood probe -d VIP -p PORT -s SRC -k NSRC\n"); return 2;
		}
	}
	cap = secs * 1000 / interval_ms + 2;
	pr = calloc(cap, sizeof(*pr));
	if (!pr)
		die("calloc");
	t0 = now_us();
	next = t0;
	stop = t0 + secs * 1000000;
	for (;;) {
		struct pollfd pfd[4096];
		long idx[4096];
		int np = 0, one = 1;
		int64_t now = now_us();

		if (now >= next && now < stop && n < cap) {
			struct probe *p = &pr[n];
			struct sockaddr_in sa = { .sin_family = AF_INET };

			p->start = now;
			p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (p->fd < 0) {
				p->done = 3;
				p->end = now;
			} else {
				setsockopt(p->fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
				sa.sin_addr.s_addr = htonl(ntohl(src.s_addr) + n % nsrc);
				if (bind(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
					p->done = 3;
					p->end = now;
				} else {
					sa.sin_addr = vip;
					sa.sin_port = htons(port);
					if (connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
						p->done = 3;
						p->end = now;
					}
				}
			}
			n++;
			next += (int64_t)interval_ms * 1000;
		}
		for (i = reported; i < n && np < 4096; i++) {
			struct probe *p = &pr[i];

			if (p->done)
				continue;
			if (now - p->start > (int64_t)timeout_ms * 1000) {
				p->done = 2;
				p->end = now;
				continue;
			}
			pfd[np].fd = p->fd;
			pfd[np].events = p->sent ? POLLIN : POLLOUT;
			idx[np++] = i;
		}
		/* Report finished probes in start order; close their sockets. */
		while (reported < n && pr[reported].done) {
			struct probe *p = &pr[reported];

			if (p->fd >= 0)
				close(p->fd);
			printf("%lld %lld %s\n", (long long)((p->start - t0) / 1000),
			       (long long)((p->end - p->start) / 1000),
			       p->done == 1 ? "ok" : p->done == 2 ? "timeout" : "error");
			reported++;
		}
		if (now >= stop && reported == n)
			break;
		if (poll(pfd, np, 5) < 0 && errno != EINTR)
			die("poll");
		now = now_us();
		for (i = 0; i < np; i++) {
			struct probe *p = &pr[idx[i]];

			if (!pfd[i].revents)
				continue;
			if (!p->sent) {
				uint8_t req[32] = { 'D', 'P', 'Q', '1' };
				int err = 0;
				socklen_t l = sizeof(err);

				getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &l);
				if (err) {
					/* Refused or unreachable: a failure, counted as such. */
					p->done = 3;
					p->end = now;
					continue;
				}
				/* cell 900, index, round 0, flags F_SERVER_CLOSE, hold 0, len 8 */
				req[4] = 0; req[5] = 0; req[6] = 0x03; req[7] = 0x84;
				req[8] = idx[i] >> 24; req[9] = idx[i] >> 16; req[10] = idx[i] >> 8; req[11] = idx[i];
				req[15] = 1;
				req[23] = 8;
				if (write(p->fd, req, sizeof(req)) != sizeof(req)) {
					p->done = 3;
					p->end = now;
					continue;
				}
				p->sent = 1;
			} else {
				ssize_t r = read(p->fd, p->buf + p->got, sizeof(p->buf) - p->got);

				if (r > 0)
					p->got += r;
				if (p->got >= 32 && !memcmp(p->buf, "DPR1", 4)) {
					p->done = 1;
					p->end = now;
				} else if (r == 0 || (r < 0 && errno != EAGAIN)) {
					p->done = 3;
					p->end = now;
				}
			}
		}
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "syn"))
		return cmd_syn(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "probe"))
		return cmd_probe(argc - 1, argv + 1);
	fprintf(stderr, "usage: flood syn|probe ...\n");
	return 2;
}
