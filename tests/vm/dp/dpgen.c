// SPDX-License-Identifier: GPL-2.0
/*
 * dpgen: echo server and traffic generator for the data-path scenarios (tests/vm/dp).
 * Compiled in the guest at test time (cc -O2); plain libc, one poll() loop per process, so
 * that thousands of connections cost little under TCG (a fork or a Python interpreter per
 * connection would dominate there).
 *
 *   dpgen server -i ID -p PORT -s STATSFILE
 *       Serves TCP and UDP on PORT, IPv4 and IPv6, any address. Every request is answered with
 *       its own bytes, the server's ID and a checksum of what the server received, so that the
 *       client checks the round trip byte by byte AND learns which real server answered.
 *       UDP replies leave from the address the request was sent to (IP_PKTINFO), which is the
 *       VIP under DR and TUN. SIGUSR1 writes STATSFILE: "CELL tcp|udp UNIQUE_CONNECTIONS"
 *       lines (a connection is counted once per (cell, index), whatever retransmits do).
 *
 *   dpgen client -4|-6 -t|-u -d VIP [options]     (see usage())
 *       Opens N connections (C at a time) to VIP:PORT from source addresses SRC+0..SRC+K-1
 *       (connection i uses SRC + i % K; bound with IP_FREEBIND so that an AnyIP prefix routed
 *       to lo works as a pool of client addresses), R request/response rounds each, and checks
 *       every reply. Prints "server ID COUNT" per answering server, then
 *       "result ok=.. fail=.. retries=.. ms=.. end=.. dups=..". Exit 0 iff every connection
 *       succeeded. A UDP answer to a retransmitted request of an earlier round is a duplicate
 *       (counted in dups=), not an error.
 *
 * Wire format (network byte order):
 *   request  = magic "DPQ1" | cell u32 | index u32 | round u16 | flags u16 | hold_ms u32 |
 *              len u32 | payload[len]
 *   response = magic "DPR1" | server id u32 | index u32 | round u16 | flags u16 |
 *              fnv1a32(request) u32 | len u32 | payload[len]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HDR_LEN 24
#define MAX_PAYLOAD 4096
#define MAX_CELLS 1024
#define MAX_INDEX 65536
#define MAGIC_REQ 0x44505131u /* "DPQ1" */
#define MAGIC_RESP 0x44505231u /* "DPR1" */

/* Request flags: how the server ends a TCP connection. */
#define F_SERVER_CLOSE 1 /* close right after answering (server closes first) */
#define F_HOLD 2 /* on EOF keep our side open hold_ms longer (client half-closed) */

static void __attribute__((noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "dpgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return ntohs(v);
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ------------------------------------------------------------------------------------ */
/* Server                                                                               */

struct sconn {
	int fd;
	uint8_t rbuf[HDR_LEN + MAX_PAYLOAD];
	size_t rlen;
	uint8_t *wbuf;
	size_t wlen, woff;
	int close_after_write; /* F_SERVER_CLOSE seen */
	int hold; /* F_HOLD seen: on EOF, wait until hold_until */
	uint32_t hold_ms;
	int64_t hold_until; /* when a held connection is closed */
	int eof; /* the client half-closed */
};

static uint32_t server_id;
static volatile sig_atomic_t dump_requested;
/* seen[cell][proto]: bitmap of connection indexes already counted; count[cell][proto]. */
static uint8_t *seen[MAX_CELLS][2];
static uint32_t count[MAX_CELLS][2];

static void on_usr1(int sig)
{
	(void)sig;
	dump_requested = 1;
}

static void count_conn(uint32_t cell, uint32_t index, int udp)
{
	if (cell >= MAX_CELLS || index >= MAX_INDEX)
		return;
	if (!seen[cell][udp]) {
		seen[cell][udp] = calloc(MAX_INDEX / 8, 1);
		if (!seen[cell][udp])
			die("out of memory");
	}
	if (seen[cell][udp][index / 8] & (1 << (index % 8)))
		return;
	seen[cell][udp][index / 8] |= 1 << (index % 8);
	count[cell][udp]++;
}

static void dump_stats(const char *path)
{
	char tmp[4096];
	FILE *f;
	int c;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	for (c = 0; c < MAX_CELLS; c++) {
		if (count[c][0])
			fprintf(f, "%d tcp %u\n", c, count[c][0]);
		if (count[c][1])
			fprintf(f, "%d udp %u\n", c, count[c][1]);
	}
	fclose(f);
	rename(tmp, path);
}

/*
 * Builds the response to the complete request at req (HDR_LEN + len bytes) into out, which
 * has room for HDR_LEN + MAX_PAYLOAD + 4. Returns its length, or 0 for a malformed request.
 */
static size_t answer(const uint8_t *req, size_t n, uint8_t *out, int udp, uint16_t *flags,
		     uint32_t *hold_ms)
{
	uint32_t len;

	if (n < HDR_LEN || get32(req) != MAGIC_REQ)
		return 0;
	len = get32(req + 20);
	if (len > MAX_PAYLOAD || n != HDR_LEN + len)
		return 0;
	count_conn(get32(req + 4), get32(req + 8), udp);
	*flags = get16(req + 14);
	*hold_ms = get32(req + 16);
	put32(out, MAGIC_RESP);
	put32(out + 4, server_id);
	memcpy(out + 8, req + 8, 8); /* index, round, flags */
	put32(out + 16, fnv1a(req, n));
	put32(out + 20, len);
	memcpy(out + HDR_LEN, req + HDR_LEN, len);
	return HDR_LEN + len;
}

static int listen_on(int family, int type, int port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd, one = 1;

	fd = socket(family, type, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The VIPs are an AnyIP prefix (a local route, no address): IPv6 accepts one as the
	 * source of a UDP reply (IPV6_PKTINFO) only from a "free bind" socket. */
	setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
		if (type == SOCK_DGRAM)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
		if (type == SOCK_DGRAM)
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		die("bind port %d: %s", port, strerror(errno));
	if (type == SOCK_STREAM && listen(fd, 4096) < 0)
		die("listen: %s", strerror(errno));
	set_nonblock(fd);
	return fd;
}

/* Answers every queued datagram on fd, from the address each was sent to. */
static void serve_udp(int fd)
{
	uint8_t in[HDR_LEN + MAX_PAYLOAD], out[HDR_LEN + MAX_PAYLOAD];
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_storage peer;
	uint32_t hold_ms;
	uint16_t flags;

	for (;;) {
		struct iovec iov = { in, sizeof(in) };
		struct msghdr mh = { &peer, sizeof(peer), &iov, 1, ctl.buf, sizeof(ctl.buf), 0 };
		struct cmsghdr *cm;
		ssize_t n;
		size_t rn;

		n = recvmsg(fd, &mh, 0);
		if (n < 0)
			return;
		rn = answer(in, n, out, 1, &flags, &hold_ms);
		if (!rn)
			continue;
		/* Reply with the request's destination as source: keep only that cmsg. */
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(cm);

				pi->ipi_spec_dst = pi->ipi_addr;
				pi->ipi_ifindex = 0;
			} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				((struct in6_pktinfo *)CMSG_DATA(cm))->ipi6_ifindex = 0;
			}
		}
		iov.iov_base = out;
		iov.iov_len = rn;
		mh.msg_flags = 0;
		sendmsg(fd, &mh, 0);
	}
}

static void sconn_close(struct sconn *c)
{
	close(c->fd);
	free(c->wbuf);
	c->fd = -1;
	c->wbuf = NULL;
}

/* Reads what fd has, answers complete requests; returns 0 when c was closed. */
static int sconn_read(struct sconn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);

		if (n == 0) {
			c->eof = 1;
			if (c->hold) {
				c->hold_until = now_ms() + c->hold_ms;
				return 1;
			}
			if (c->wlen) {
				c->close_after_write = 1;
				return 1;
			}
			sconn_close(c);
			return 0;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			sconn_close(c);
			return 0;
		}
		c->rlen += n;
		while (c->rlen >= HDR_LEN) {
			uint32_t len = get32(c->rbuf + 20), hold_ms;
			size_t need = HDR_LEN + len, rn;
			uint16_t flags;
			uint8_t *nb;

			if (get32(c->rbuf) != MAGIC_REQ || len > MAX_PAYLOAD) {
				sconn_close(c);
				return 0;
			}
			if (c->rlen < need)
				break;
			nb = realloc(c->wbuf, c->wlen + HDR_LEN + MAX_PAYLOAD);
			if (!nb)
				die("out of memory");
			c->wbuf = nb;
			rn = answer(c->rbuf, need, c->wbuf + c->wlen, 0, &flags, &hold_ms);
			c->wlen += rn;
			if (flags & F_SERVER_CLOSE)
				c->close_after_write = 1;
			if (flags & F_HOLD) {
				c->hold = 1;
				c->hold_ms = hold_ms;
			}
			memmove(c->rbuf, c->rbuf + need, c->rlen - need);
			c->rlen -= need;
		}
	}
}

/* Writes what is pending; returns 0 when c was closed. */
static int sconn_write(struct sconn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			sconn_close(c);
			return 0;
		}
		c->woff += n;
	}
	c->woff = c->wlen = 0;
	if (c->close_after_write) {
		sconn_close(c);
		return 0;
	}
	return 1;
}

static int run_server(int argc, char **argv)
{
	const char *stats = NULL;
	int port = 0, opt, i, nconn = 0, cap = 1024;
	int lfd[4];
	struct sconn *conns;
	struct pollfd *pfd;

	while ((opt = getopt(argc, argv, "i:p:s:")) != -1) {
		switch (opt) {
		case 'i': server_id = atoi(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 's': stats = optarg; break;
		default: die("usage: dpgen server -i ID -p PORT -s STATSFILE");
		}
	}
	if (!port || !stats)
		die("usage: dpgen server -i ID -p PORT -s STATSFILE");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, on_usr1);
	lfd[0] = listen_on(AF_INET, SOCK_STREAM, port);
	lfd[1] = listen_on(AF_INET6, SOCK_STREAM, port);
	lfd[2] = listen_on(AF_INET, SOCK_DGRAM, port);
	lfd[3] = listen_on(AF_INET6, SOCK_DGRAM, port);
	conns = calloc(cap, sizeof(*conns));
	pfd = calloc(cap + 4, sizeof(*pfd));
	if (!conns || !pfd)
		die("out of memory");
	dump_stats(stats);
	for (;;) {
		int64_t t = now_ms();
		int timeout = 1000;

		if (dump_requested) {
			dump_requested = 0;
			dump_stats(stats);
		}
		for (i = 0; i < 4; i++) {
			pfd[i].fd = lfd[i];
			pfd[i].events = POLLIN;
		}
		/* Compact closed connections away; expire held ones. */
		for (i = 0; i < nconn;) {
			struct sconn *c = &conns[i];

			if (c->fd >= 0 && c->hold_until && t >= c->hold_until)
				sconn_close(c);
			if (c->fd < 0) {
				conns[i] = conns[--nconn];
				continue;
			}
			if (c->hold_until && c->hold_until - t < timeout)
				timeout = c->hold_until - t;
			pfd[4 + i].fd = c->fd;
			pfd[4 + i].events = (c->eof ? 0 : POLLIN) | (c->wlen ? POLLOUT : 0);
			i++;
		}
		if (poll(pfd, 4 + nconn, timeout) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (i = 0; i < nconn; i++) {
			struct sconn *c = &conns[i];
			short re = pfd[4 + i].revents;

			if (c->fd < 0 || !re)
				continue;
			if ((re & (POLLIN | POLLERR | POLLHUP)) && !c->eof && !sconn_read(c))
				continue;
			if (c->wlen)
				sconn_write(c);
			/* Peer gone while we held our side: nothing more to wait for. */
			if (c->fd >= 0 && c->hold_until && (re & (POLLERR | POLLHUP)))
				sconn_close(c);
		}
		for (i = 0; i < 2; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			for (;;) {
				int fd = accept4(lfd[i], NULL, NULL, SOCK_NONBLOCK);

				if (fd < 0)
					break;
				if (nconn == cap) {
					cap *= 2;
					conns = realloc(conns, cap * sizeof(*conns));
					pfd = realloc(pfd, (cap + 4) * sizeof(*pfd));
					if (!conns || !pfd)
						die("out of memory");
				}
				memset(&conns[nconn], 0, sizeof(conns[nconn]));
				conns[nconn++].fd = fd;
			}
		}
		for (i = 2; i < 4; i++)
			if (pfd[i].revents & POLLIN)
				serve_udp(lfd[i]);
	}
}

/* ------------------------------------------------------------------------------------ */
/* Client                                                                               */

enum cstate { C_IDLE, C_CONNECTING, C_SENDING, C_READING, C_WAIT_EOF, C_PAUSE, C_HOLD };

struct cconn {
	int fd;
	enum cstate st;
	uint32_t index;
	uint16_t round;
	uint32_t server; /* id that answered round 0 */
	uint8_t req[HDR_LEN + MAX_PAYLOAD];
	size_t reqlen, off;
	uint8_t resp[HDR_LEN + MAX_PAYLOAD];
	size_t resplen, roff;
	int64_t deadline; /* this step fails after it */
	int64_t next_send; /* C_PAUSE: next round; UDP: retransmit time */
	int tries;
};

static struct {
	int family, udp, conc, rounds, maxlen, timeout_ms, maxerr, retries, interval_ms;
	uint32_t n, cell, nsrc;
	int port, udp_port_base, rst, half_close, linger_ms, quiet, verbose, any_server;
	uint16_t flags;
	uint32_t hold_ms;
	int64_t duration_ms;
	struct sockaddr_storage vip, src;
} opt;

static uint32_t per_server[256];
static uint32_t ok, failed, retransmits, dups;
static int errors_shown;

static void conn_error(struct cconn *c, const char *fmt, ...)
{
	va_list ap;

	/* Quiet runs still show their first errors: a failure must say why. */
	if (errors_shown++ < (opt.quiet ? 3 : 10)) {
		va_start(ap, fmt);
		fprintf(stderr, "dpgen: connection %u round %u: ", c->index, c->round);
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
}

static socklen_t make_addr(struct sockaddr_storage *out, const struct sockaddr_storage *base,
			   uint32_t offset, int port)
{
	*out = *base;
	if (out->ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)out;

		s4->sin_addr.s_addr = htonl(ntohl(s4->sin_addr.s_addr) + offset);
		s4->sin_port = htons(port);
		return sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
		uint32_t lo;

		memcpy(&lo, &s6->sin6_addr.s6_addr[12], 4);
		lo = htonl(ntohl(lo) + offset);
		memcpy(&s6->sin6_addr.s6_addr[12], &lo, 4);
		s6->sin6_port = htons(port);
		return sizeof(*s6);
	}
}

static void parse_addr(const char *s, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)out)->sin_addr) == 1)
		out->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)out)->sin6_addr) == 1)
		out->ss_family = AF_INET6;
	else
		die("bad address '%s'", s);
}

/* Deterministic payload: what connection index sends in round r of this cell. */
static void build_request(struct cconn *c)
{
	uint32_t len = opt.maxlen ? 1 + (c->index * 37u + c->round * 11u) % opt.maxlen : 0;
	uint32_t x = opt.cell * 2654435761u ^ (c->index * 40503u + c->round + 1);
	uint32_t i;

	put32(c->req, MAGIC_REQ);
	put32(c->req + 4, opt.cell);
	put32(c->req + 8, c->index);
	put16(c->req + 12, c->round);
	put16(c->req + 14, opt.flags);
	put32(c->req + 16, opt.hold_ms);
	put32(c->req + 20, len);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		c->req[HDR_LEN + i] = x;
	}
	c->reqlen = HDR_LEN + len;
	c->off = 0;
	c->resplen = HDR_LEN + len;
	c->roff = 0;
}

static void finish(struct cconn *c, int success)
{
	if (c->fd >= 0) {
		if (!opt.udp && opt.rst) {
			struct linger l = { 1, 0 };

			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(c->fd);
	}
	c->fd = -1;
	c->st = C_IDLE;
	if (success) {
		ok++;
		per_server[c->server & 255]++;
	} else {
		failed++;
	}
}

/* Checks the complete response in c->resp; returns 0 on success. */
static int check_response(struct cconn *c)
{
	uint32_t sid;

	if (get32(c->resp) != MAGIC_RESP) {
		conn_error(c, "bad response magic %08x", get32(c->resp));
		return -1;
	}
	sid = get32(c->resp + 4);
	if (get32(c->resp + 8) != c->index || get16(c->resp + 12) != c->round) {
		conn_error(c, "response for connection %u round %u", get32(c->resp + 8),
			   get16(c->resp + 12));
		return -1;
	}
	if (get32(c->resp + 16) != fnv1a(c->req, c->reqlen)) {
		conn_error(c, "server %u checksum %08x, sent %08x", sid, get32(c->resp + 16),
			   fnv1a(c->req, c->reqlen));
		return -1;
	}
	if (get32(c->resp + 20) != c->reqlen - HDR_LEN ||
	    memcmp(c->resp + HDR_LEN, c->req + HDR_LEN, c->reqlen - HDR_LEN)) {
		conn_error(c, "server %u echoed different bytes", sid);
		return -1;
	}
	if (c->round == 0) {
		c->server = sid;
	} else if (sid != c->server && !opt.any_server) {
		conn_error(c, "answered by server %u, round 0 by server %u", sid, c->server);
		return -1;
	}
	return 0;
}

static int start_conn(struct cconn *c, uint32_t index)
{
	struct sockaddr_storage src, dst;
	socklen_t sl, dl;
	int one = 1, src_port = 0;

	memset(c, 0, offsetof(struct cconn, req));
	c->index = index;
	c->fd = socket(opt.family, (opt.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(c->fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	if (opt.udp) {
		/* Fixed ports: the tuple of connection i is the same in every run. */
		src_port = opt.udp_port_base + index / opt.nsrc;
		setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	} else {
		setsockopt(c->fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	}
	sl = make_addr(&src, &opt.src, index % opt.nsrc, src_port);
	dl = make_addr(&dst, &opt.vip, 0, opt.port);
	if (bind(c->fd, (struct sockaddr *)&src, sl) < 0) {
		conn_error(c, "bind: %s", strerror(errno));
		finish(c, 0);
		return -1;
	}
	c->deadline = now_ms() + opt.timeout_ms;
	if (connect(c->fd, (struct sockaddr *)&dst, dl) < 0 && errno != EINPROGRESS) {
		conn_error(c, "connect: %s", strerror(errno));
		finish(c, 0);
		return -1;
	}
	build_request(c);
	c->st = opt.udp ? C_SENDING : C_CONNECTING;
	return 0;
}

/* The next round, or the end of the connection after the last one. */
static void round_done(struct cconn *c)
{
	if (++c->round < opt.rounds) {
		build_request(c);
		if (opt.interval_ms) {
			c->st = C_PAUSE;
			c->next_send = now_ms() + opt.interval_ms;
		} else {
			c->st = C_SENDING;
			c->deadline = now_ms() + opt.timeout_ms;
		}
		return;
	}
	if (opt.verbose) {
		printf("exchanged %u %lld\n", c->index, (long long)wall_ms());
		fflush(stdout);
	}
	if (opt.udp) {
		finish(c, 1);
	} else if (opt.linger_ms) {
		/* Keep the connection as it is (open or half-closed) for a while, then close
		 * (with RST under -x). */
		if (opt.half_close)
			shutdown(c->fd, SHUT_WR);
		c->st = C_HOLD;
		c->deadline = now_ms() + opt.linger_ms;
	} else if (opt.rst) {
		finish(c, 1);
	} else {
		/* Client closes first, then waits for the server's FIN so that the final ACK is
		 * on its way when we report: the director sees a finished connection. */
		shutdown(c->fd, SHUT_WR);
		c->st = C_WAIT_EOF;
		c->deadline = now_ms() + opt.timeout_ms;
	}
}

static void step(struct cconn *c, short re)
{
	ssize_t n;

	switch (c->st) {
	case C_CONNECTING: {
		int err = 0;
		socklen_t el = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			conn_error(c, "connect: %s", strerror(err));
			finish(c, 0);
			return;
		}
		c->st = C_SENDING;
	}
		/* fall through */
	case C_SENDING:
		while (c->off < c->reqlen) {
			n = send(c->fd, c->req + c->off, c->reqlen - c->off, 0);
			if (n < 0) {
				if (errno == EAGAIN)
					return;
				conn_error(c, "send: %s", strerror(errno));
				finish(c, 0);
				return;
			}
			c->off += n;
		}
		c->st = C_READING;
		c->next_send = now_ms() + (opt.timeout_ms / (opt.retries + 1));
		return;
	case C_READING:
		if (!(re & (POLLIN | POLLERR | POLLHUP)))
			return;
		if (opt.udp) {
			n = recv(c->fd, c->resp, sizeof(c->resp), 0);
			if (n < 0) {
				if (errno == EAGAIN)
					return;
				conn_error(c, "recv: %s", strerror(errno));
				finish(c, 0);
				return;
			}
			/* The answer to a retransmitted request of an earlier round, after the
			 * first answer ended that round: a duplicate, not an error. Tested before
			 * the length, which is the earlier round's (the rounds' lengths differ). */
			if (n >= HDR_LEN && get32(c->resp) == MAGIC_RESP &&
			    get32(c->resp + 8) == c->index &&
			    (uint16_t)(c->round - get16(c->resp + 12)) - 1u < 0x7fffu) {
				dups++;
				return;
			}
			if ((size_t)n != c->resplen) {
				conn_error(c, "datagram of %zd bytes, want %zu", n, c->resplen);
				finish(c, 0);
				return;
			}
		} else {
			while (c->roff < c->resplen) {
				n = recv(c->fd, c->resp + c->roff, c->resplen - c->roff, 0);
				if (n < 0 && errno == EAGAIN)
					return;
				if (n <= 0) {
					conn_error(c, "recv: %s", n ? strerror(errno) : "EOF");
					finish(c, 0);
					return;
				}
				c->roff += n;
			}
		}
		if (check_response(c)) {
			finish(c, 0);
			return;
		}
		round_done(c);
		return;
	case C_WAIT_EOF: {
		char b[64];

		n = recv(c->fd, b, sizeof(b), 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n != 0) {
			conn_error(c, "expected EOF, got %zd", n);
			finish(c, 0);
			return;
		}
		finish(c, 1);
		return;
	}
	case C_HOLD:
		if (re & (POLLERR | POLLHUP)) {
			/* The server closed while we hold: keep the socket until the deadline. */
		}
		return;
	default:
		return;
	}
}

/* Time-driven transitions: timeouts, UDP retransmits, paced rounds, holds. */
static void tick(struct cconn *c, int64_t t)
{
	if (c->st == C_IDLE)
		return;
	if (c->st == C_PAUSE) {
		if (t >= c->next_send) {
			c->st = C_SENDING;
			c->deadline = t + opt.timeout_ms;
			step(c, 0);
		}
		return;
	}
	if (c->st == C_HOLD) {
		if (t >= c->deadline)
			finish(c, 1);
		return;
	}
	if (opt.udp && c->st == C_READING && t >= c->next_send && t < c->deadline) {
		retransmits++;
		send(c->fd, c->req, c->reqlen, 0);
		c->next_send = t + opt.timeout_ms / (opt.retries + 1);
		return;
	}
	if (t >= c->deadline) {
		conn_error(c, "timeout in state %d", c->st);
		finish(c, 0);
	}
}

static short wanted_events(const struct cconn *c)
{
	switch (c->st) {
	case C_CONNECTING: return POLLOUT;
	case C_SENDING: return POLLOUT;
	case C_READING: return POLLIN;
	case C_WAIT_EOF: return POLLIN;
	default: return 0;
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: dpgen client -4|-6 -t|-u -d VIP -s SRC [-k NSRC] [-p PORT] [-n N] [-c CONC]\n"
		"         [-C CELL] [-r ROUNDS] [-I INTERVAL_MS] [-D DURATION_MS] [-l MAXLEN]\n"
		"         [-w TIMEOUT_MS] [-R RETRIES] [-e MAXERR] [-P UDP_PORT_BASE]\n"
		"         [-f FLAGS] [-H HOLD_MS] [-x] [-L LINGER_MS [-h]] [-q] [-v] [-a]\n"
		"  -a  any server may answer any round (one-packet scheduling); the connection\n"
		"      counts for the server of round 0\n"
		"  -x  end TCP connections with RST (SO_LINGER 0)\n"
		"  -L  after the last round keep the connection open LINGER_MS, then close;\n"
		"      -h half-closes it (shutdown SHUT_WR) first\n"
		"  -f  request flags: 1 server closes after answering, 2 server holds on EOF for -H\n"
		"  -D  stop starting rounds after DURATION_MS (long-running traffic)\n"
		"  -q  no per-connection error messages; -v print \"exchanged INDEX WALL_MS\"\n"
		"      when a connection's last round is answered\n");
	exit(2);
}

static int run_client(int argc, char **argv)
{
	struct cconn *cs;
	struct pollfd *pfd;
	uint32_t next = 0, i;
	int64_t start, t;
	int o, want_family = 0;

	opt.port = 8080;
	opt.n = 1;
	opt.conc = 1;
	opt.rounds = 1;
	opt.maxlen = 200;
	opt.timeout_ms = 3000;
	opt.retries = 2;
	opt.maxerr = 20;
	opt.nsrc = 1;
	opt.udp_port_base = 20000;
	while ((o = getopt(argc, argv, "46tud:s:k:p:n:c:C:r:I:D:l:w:R:e:P:f:H:xL:hqva")) != -1) {
		switch (o) {
		case '4': want_family = AF_INET; break;
		case '6': want_family = AF_INET6; break;
		case 't': opt.udp = 0; break;
		case 'u': opt.udp = 1; break;
		case 'd': parse_addr(optarg, &opt.vip); break;
		case 's': parse_addr(optarg, &opt.src); break;
		case 'k': opt.nsrc = strtoul(optarg, NULL, 0); break;
		case 'p': opt.port = atoi(optarg); break;
		case 'n': opt.n = strtoul(optarg, NULL, 0); break;
		case 'c': opt.conc = atoi(optarg); break;
		case 'C': opt.cell = strtoul(optarg, NULL, 0); break;
		case 'r': opt.rounds = atoi(optarg); break;
		case 'I': opt.interval_ms = atoi(optarg); break;
		case 'D': opt.duration_ms = atoll(optarg); break;
		case 'l': opt.maxlen = atoi(optarg); break;
		case 'w': opt.timeout_ms = atoi(optarg); break;
		case 'R': opt.retries = atoi(optarg); break;
		case 'e': opt.maxerr = atoi(optarg); break;
		case 'P': opt.udp_port_base = atoi(optarg); break;
		case 'f': opt.flags = strtoul(optarg, NULL, 0); break;
		case 'H': opt.hold_ms = strtoul(optarg, NULL, 0); break;
		case 'x': opt.rst = 1; break;
		case 'L': opt.linger_ms = atoi(optarg); break;
		case 'h': opt.half_close = 1; break;
		case 'q': opt.quiet = 1; break;
		case 'v': opt.verbose = 1; break;
		case 'a': opt.any_server = 1; break;
		default: usage();
		}
	}
	if (!opt.vip.ss_family || !opt.src.ss_family || opt.vip.ss_family != opt.src.ss_family ||
	    (want_family && want_family != opt.vip.ss_family) || opt.conc < 1 || opt.nsrc < 1 ||
	    opt.rounds < 1 || opt.maxlen > MAX_PAYLOAD || opt.n > MAX_INDEX)
		usage();
	opt.family = opt.vip.ss_family;
	if (opt.udp && opt.udp_port_base + (opt.n - 1) / opt.nsrc > 65535)
		die("UDP source ports beyond 65535: lower -n or raise -k");
	if ((uint32_t)opt.conc > opt.n)
		opt.conc = opt.n;
	signal(SIGPIPE, SIG_IGN);
	cs = calloc(opt.conc, sizeof(*cs));
	pfd = calloc(opt.conc, sizeof(*pfd));
	if (!cs || !pfd)
		die("out of memory");
	for (o = 0; o < opt.conc; o++)
		cs[o].fd = -1;
	start = now_ms();
	for (;;) {
		int active = 0, stop;

		t = now_ms();
		stop = failed > (uint32_t)opt.maxerr ||
		       (opt.duration_ms && t - start >= opt.duration_ms);
		for (o = 0; o < opt.conc; o++) {
			struct cconn *c = &cs[o];

			if (c->st == C_IDLE && next < opt.n && !stop)
				start_conn(c, next++);
			if (c->st == C_PAUSE && stop)
				finish(c, 1); /* long-running mode: the time is up */
			if (c->st == C_SENDING)
				step(c, 0);
			tick(c, t);
			pfd[o].fd = c->st == C_IDLE ? -1 : c->fd;
			pfd[o].events = c->st == C_IDLE ? 0 : wanted_events(c);
			if (c->st != C_IDLE)
				active++;
		}
		if (!active && (next >= opt.n || stop))
			break;
		if (poll(pfd, opt.conc, 20) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (o = 0; o < opt.conc; o++)
			if (pfd[o].revents && cs[o].st != C_IDLE)
				step(&cs[o], pfd[o].revents);
	}
	for (i = 0; i < 256; i++)
		if (per_server[i])
			printf("server %u %u\n", i, per_server[i]);
	printf("result ok=%u fail=%u notrun=%u retries=%u ms=%lld end=%lld dups=%u\n", ok, failed,
	       opt.n - next, retransmits, (long long)(now_ms() - start), (long long)wall_ms(), dups);
	return failed || next < opt.n ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: dpgen server|client ...");
	if (!strcmp(argv[1], "server"))
		return run_server(argc - 1, argv + 1);
	if (!strcmp(argv[1], "client"))
		return run_client(argc - 1, argv + 1);
	die("unknown command '%s'", argv[1]);
}
