// SPDX-License-Identifier: GPL-2.0
/*
 * reuse-load: one cell of the port-reuse scenario (tests/vm/reuse/run.sh), in one process,
 * because every fork+exec costs ~0.25 s in the TCG guest.
 *
 * The topology (network namespaces, addresses, nft rules, IPVS service) is set up by run.sh.
 * This program
 *   - forks one TCP server per real-server namespace (setns, listen on :80); each answers
 *     "REQ <nonce> <size>\n" with "rs<K> <nonce> <size>\n" + <size> payload bytes derived from
 *     the nonce, waits for the client's "BYE\n", then closes with FIN or, with --close rst,
 *     with RST (SO_LINGER 0); each logs the time and peer of every accepted connection;
 *   - runs the client in the client namespace: --concurrency connections at a time, each
 *     bound to one of --ports source ports (SO_REUSEADDR; a port that is still busy,
 *     EADDRINUSE/EADDRNOTAVAIL, is skipped for the next one), timing connect(), checking the
 *     response byte for byte;
 *   - drives the change in three phases of --phases N1,N2,N3 connections: after N1 the
 *     --weight0 destination gets weight 0, after N2 it is deleted, after N3 the --fixb
 *     destination is deleted with no traffic running and its entries are watched for 2 s
 *     (fix B: expire_nodest_conn=1 expires them from delayed work, not on the next packet);
 *     between phases no connection is in flight, so every accept after a change is caused by
 *     the scheduling that followed it;
 *   - watches the director's /proc/net/ip_vs (ActiveConn+InActConn of the weight-0
 *     destination) and /proc/net/ip_vs_conn through files opened in its namespace, reads the
 *     nft SYN counters (run.sh's table inet reuse_count), the client's TCP retransmit
 *     counters and, when the module has it, /proc/net/ip_vs_reuse at every phase boundary
 *     and after the fix B step;
 *   - with --pair-port P, sends every other round of connections to VIP:P, a second service
 *     with the same destinations whose servers close the other way (FIN for RST): a reference
 *     flow measured at the same time as the main one, under the same host load (run.sh uses
 *     it for the conn_reuse_old_conntrack cells, whose p99 is compared with FIN-closing
 *     traffic); the weight change and the deletions apply to both services;
 *   - first exchanges one request with each server directly (neighbour resolution; see
 *     warm_up());
 *   - stops early when --max-consecutive-errors connections in a row failed (a module that
 *     loses every connection would otherwise make a cell last N times the connect timeout),
 *     recording where ("aborted_after");
 *   - writes everything as one JSON object (--out).
 *
 * Times are CLOCK_MONOTONIC, which all namespaces of the guest share.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERVERS 8
#define MAX_PORTS 256
#define MAX_SLOTS 64
#define MAX_SRV_CONNS 256
#define MAX_PAYLOAD 2048

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "reuse-load: ");
	vfprintf(stderr, fmt, ap);
	if (errno)
		fprintf(stderr, ": %s", strerror(errno));
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double ms_since(int64_t t0, int64_t t)
{
	return (double)(t - t0) / 1e6;
}

static int netns_fd(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s", path);
	return fd;
}

static void enter_ns(int fd)
{
	if (setns(fd, CLONE_NEWNET) < 0)
		die("setns");
}

/* The payload byte i of a response to nonce n: cheap to check, different for every nonce. */
static unsigned char payload_byte(uint32_t nonce, unsigned int i)
{
	return (unsigned char)(nonce * 2654435761u + i * 40503u + (i >> 8));
}

static unsigned int payload_size(uint32_t nonce)
{
	return 1 + (nonce * 7919u) % 1200;
}

/* ---- server ---------------------------------------------------------------------------- */

struct srv_conn {
	int fd;
	int rst; /* close with RST: the listener's mode */
	int state; /* 0 read request, 1 wait for BYE */
	char buf[64];
	size_t len;
};

struct accept_rec {
	int64_t t;
	uint32_t peer;
	uint16_t port, local_port;
};

static volatile sig_atomic_t stop_server;

static void on_term(int sig)
{
	(void)sig;
	stop_server = 1;
}

static void srv_close(struct srv_conn *c, int rst)
{
	if (rst) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(c->fd);
	c->fd = -1;
}

/* Serves port 80, closing with RST if rst, and pair_port (if not 0) closing the other way,
 * until SIGTERM; then writes one line per accepted connection to logpath. */
static void server_main(int id, int rst, int pair_port, int ready_fd, const char *logpath)
{
	static struct srv_conn conns[MAX_SRV_CONNS];
	static struct accept_rec *recs;
	size_t nrecs = 0, caprecs = 4096;
	struct pollfd pfd[MAX_SRV_CONNS + 2];
	int lfd[2], lport[2] = { 80, pair_port }, nl = pair_port ? 2 : 1, one = 1, i;
	FILE *log;

	recs = malloc(caprecs * sizeof(*recs));
	for (i = 0; i < MAX_SRV_CONNS; i++)
		conns[i].fd = -1;
	signal(SIGTERM, on_term);
	for (int l = 0; l < nl; l++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(lport[l]) };

		lfd[l] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (lfd[l] < 0)
			die("server socket");
		setsockopt(lfd[l], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(lfd[l], (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd[l], 512) < 0)
			die("server %d bind/listen :%d", id, lport[l]);
	}
	if (write(ready_fd, "r", 1) != 1)
		die("server ready");
	close(ready_fd);

	while (!stop_server) {
		int n = 0, map[MAX_SRV_CONNS + 2];

		for (int l = 0; l < nl; l++) {
			pfd[n].fd = lfd[l];
			pfd[n].events = POLLIN;
			map[n++] = -1;
		}
		for (i = 0; i < MAX_SRV_CONNS; i++) {
			if (conns[i].fd < 0)
				continue;
			pfd[n].fd = conns[i].fd;
			pfd[n].events = POLLIN;
			map[n++] = i;
		}
		if (poll(pfd, n, 200) < 0)
			continue;
		for (int l = 0; l < nl; l++) {
			if (!(pfd[l].revents & POLLIN))
				continue;
			for (;;) {
				struct sockaddr_in peer;
				socklen_t pl = sizeof(peer);
				int fd = accept4(lfd[l], (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd < 0)
					break;
				if (nrecs == caprecs) {
					caprecs *= 2;
					recs = realloc(recs, caprecs * sizeof(*recs));
				}
				recs[nrecs++] = (struct accept_rec){ now_ns(), peer.sin_addr.s_addr, ntohs(peer.sin_port),
								     lport[l] };
				for (i = 0; i < MAX_SRV_CONNS && conns[i].fd >= 0; i++)
					;
				if (i == MAX_SRV_CONNS) {
					close(fd);
					continue;
				}
				conns[i] = (struct srv_conn){ .fd = fd, .rst = l == 0 ? rst : !rst };
			}
		}
		for (int k = nl; k < n; k++) {
			struct srv_conn *c = &conns[map[k]];
			ssize_t r;

			if (!pfd[k].revents)
				continue;
			r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				srv_close(c, c->rst); /* the client went away */
				continue;
			}
			c->len += r;
			c->buf[c->len] = 0;
			if (!strchr(c->buf, '\n')) {
				if (c->len >= sizeof(c->buf) - 1)
					srv_close(c, 1);
				continue;
			}
			if (c->state == 0) {
				static char out[MAX_PAYLOAD + 64];
				unsigned int nonce, size, j;
				int hl;

				if (sscanf(c->buf, "REQ %u %u", &nonce, &size) != 2 || size > MAX_PAYLOAD) {
					srv_close(c, 1);
					continue;
				}
				hl = snprintf(out, sizeof(out), "rs%d %u %u\n", id, nonce, size);
				for (j = 0; j < size; j++)
					out[hl + j] = payload_byte(nonce, j);
				/* Small and the socket is fresh: one write fits the send buffer. */
				if (write(c->fd, out, hl + size) != (ssize_t)(hl + size)) {
					srv_close(c, 1);
					continue;
				}
				c->state = 1;
				c->len = 0;
			} else {
				/* "BYE": the client has the whole response, so an RST loses nothing. */
				srv_close(c, c->rst);
			}
		}
	}
	log = fopen(logpath, "w");
	if (!log)
		die("open %s", logpath);
	for (size_t k = 0; k < nrecs; k++) {
		struct in_addr a = { recs[k].peer };

		fprintf(log, "%lld %s %u %u\n", (long long)recs[k].t, inet_ntoa(a), recs[k].port, recs[k].local_port);
	}
	fclose(log);
	exit(0);
}

/* ---- director observation -------------------------------------------------------------- */

/* Re-reads a /proc seq file opened in the director's namespace (the namespace is the one
 * of the opener, so one open file serves for the whole run). */
static char procbuf[1 << 20];

static const char *reread(int fd)
{
	size_t len = 0;
	ssize_t r;

	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return NULL;
	while (len < sizeof(procbuf) - 1 && (r = read(fd, procbuf + len, sizeof(procbuf) - 1 - len)) > 0)
		len += r;
	procbuf[len] = 0;
	return procbuf;
}

/* ActiveConn+InActConn of destination hexaddr ("0A000B02:0050") in /proc/net/ip_vs,
 * or -1 if it is not listed. */
static int dest_conns(int fd, const char *hexdest)
{
	const char *s = reread(fd), *p;
	int w, a, i;
	char fwd[16];

	if (!s || !(p = strstr(s, hexdest)))
		return -1;
	if (sscanf(p + strlen(hexdest), " %15s %d %d %d", fwd, &w, &a, &i) != 4)
		return -1;
	return a + i;
}

/* Entries in /proc/net/ip_vs_conn whose destination is hexaddr ("0A000B02"). */
static int conn_entries(int fd, const char *hexaddr)
{
	const char *s = reread(fd), *line;
	int n = 0;

	if (!s)
		return -1;
	for (line = s; *line; ) {
		const char *end = strchr(line, '\n');
		char pro[8], fa[40], fp[8], ta[40], tp[8], da[40];

		if (sscanf(line, "%7s %39s %7s %39s %7s %39s", pro, fa, fp, ta, tp, da) == 6 &&
		    strcasecmp(da, hexaddr) == 0)
			n++;
		if (!end)
			break;
		line = end + 1;
	}
	return n;
}

/* ---- counters snapshot ------------------------------------------------------------------ */

struct snap {
	double t_ms;
	long long syn_in, syn_out; /* nft counters on the director; -1 if unreadable */
	long long syn_retrans, retrans_segs; /* client namespace */
	char reuse[512]; /* /proc/net/ip_vs_reuse as a JSON object body, "" if absent */
};

static long long netstat_field(const char *file, const char *prefix, const char *field)
{
	char hdr[4096], val[4096], *save1, *save2, *h, *v;
	FILE *f = fopen(file, "r");
	long long out = -1;

	if (!f)
		return -1;
	while (fgets(hdr, sizeof(hdr), f) && fgets(val, sizeof(val), f)) {
		if (strncmp(hdr, prefix, strlen(prefix)))
			continue;
		h = strtok_r(hdr, " \n", &save1);
		v = strtok_r(val, " \n", &save2);
		while (h && v) {
			if (!strcmp(h, field))
				out = atoll(v);
			h = strtok_r(NULL, " \n", &save1);
			v = strtok_r(NULL, " \n", &save2);
		}
	}
	fclose(f);
	return out;
}

static int ns_cli = -1, ns_lb = -1;

/* Runs a shell command in the director's namespace; returns its exit status. */
static int lb_system(const char *cmd)
{
	int rc;

	enter_ns(ns_lb);
	rc = system(cmd);
	enter_ns(ns_cli);
	return rc;
}

static long long nft_counter(const char *text, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "counter %s {", name);
	p = strstr(text, key);
	if (!p || !(p = strstr(p, "packets ")))
		return -1;
	return atoll(p + 8);
}

static int fd_reuse = -1;

static void take_snap(struct snap *s, int64_t t0)
{
	static char text[8192];
	size_t len = 0;
	FILE *f;
	const char *r;

	enter_ns(ns_lb);
	f = popen("nft list table inet reuse_count 2>/dev/null", "r");
	enter_ns(ns_cli);
	text[0] = 0;
	if (f) {
		size_t k;

		while (len < sizeof(text) - 1 && (k = fread(text + len, 1, sizeof(text) - 1 - len, f)) > 0)
			len += k;
		text[len] = 0;
		pclose(f);
	}
	s->syn_in = nft_counter(text, "syn_in");
	s->syn_out = nft_counter(text, "syn_out");
	s->syn_retrans = netstat_field("/proc/self/net/netstat", "TcpExt:", "TCPSynRetrans");
	s->retrans_segs = netstat_field("/proc/self/net/snmp", "Tcp:", "RetransSegs");
	s->reuse[0] = 0;
	r = reread(fd_reuse);
	if (r) {
		/* Lines "name value" into "\"name\": value, ...". */
		char name[64];
		long long v;
		int off = 0, used;

		while (sscanf(r, "%63s %lld%n", name, &v, &used) == 2) {
			off += snprintf(s->reuse + off, sizeof(s->reuse) - off, "%s\"%s\": %lld",
					off ? ", " : "", name, v);
			r += used;
			if (off >= (int)sizeof(s->reuse) - 80)
				break;
		}
	}
	s->t_ms = ms_since(t0, now_ns());
}

/* ---- client ------------------------------------------------------------------------------ */

enum err {
	E_OK,
	E_CONNECT_TIMEOUT,	/* no SYN-ACK within --connect-timeout */
	E_CONNECT_REFUSED,	/* RST or ICMP error in answer to the SYN */
	E_RESET,		/* RST before the response was complete */
	E_EOF,			/* FIN before the response was complete */
	E_BAD_RESPONSE,		/* a byte that is not what the server must have sent */
	E_IO_TIMEOUT,		/* connected, but the exchange did not finish in time */
	E_OTHER,
};
static const char *const err_name[] = {
	"ok", "connect_timeout", "connect_refused", "reset", "eof", "bad_response", "io_timeout", "other",
};

enum slot_state { S_FREE, S_CONNECTING, S_READING, S_CLOSING };

struct rec {
	int phase, flow, port, server, err, syn_retrans, close_rst;
	double t_start_ms, connect_ms, total_ms;
};

struct slot {
	int state, fd, port;
	int64_t t_start, t_conn, deadline;
	uint32_t nonce;
	unsigned int size, hdr_len, got;
	char hdr[64];
	struct rec *rec;
};

static struct {
	const char *cli_ns, *lb_ns, *srv_ns[MAX_SERVERS], *srv_addr[MAX_SERVERS];
	int nsrv;
	const char *vip, *cli_addr, *out, *workdir, *label;
	int vport, pair_port, port_base, nports, concurrency, phases[3], weight0, fixb, rst;
	int connect_timeout_ms, conn_timeout_ms, max_consecutive_errors;
	const char *extra_json;
} opt = {
	.vport = 80, .port_base = 40000, .nports = 8, .concurrency = 4,
	.phases = { 100, 100, 50 }, .weight0 = 3, .fixb = 2,
	.connect_timeout_ms = 3500, .conn_timeout_ms = 8000, .max_consecutive_errors = 16,
	.workdir = "/tmp", .label = "cell", .extra_json = "{}",
};

static struct rec *recs;
static int nrecs;
static int port_in_use[MAX_PORTS];
static int64_t port_busy_until[MAX_PORTS];
static int port_cursor;
static long port_busy_events;
static int consecutive_errors;
static struct sockaddr_in vip_sa, pair_sa, cli_sa;

static int tcp_total_retrans(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return ti.tcpi_total_retrans;
}

static void finish(struct slot *s, int err, int close_rst)
{
	int64_t t = now_ns();
	struct rec *r = s->rec;

	r->err = err;
	consecutive_errors = err == E_OK ? 0 : consecutive_errors + 1;
	r->close_rst = close_rst;
	r->total_ms = ms_since(s->t_start, t);
	if (r->syn_retrans < 0 && s->fd >= 0)
		r->syn_retrans = tcp_total_retrans(s->fd);
	if (s->fd >= 0) {
		if (err != E_OK) {
			/* Abort: no TIME_WAIT or FIN_WAIT left holding the port. */
			struct linger l = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(s->fd);
	}
	port_in_use[s->port - opt.port_base] = 0;
	s->state = S_FREE;
	s->fd = -1;
}

/* Starts a connection of flow 0 (VIP:80) or 1 (VIP:pair_port) on a free slot; returns 0 if
 * no port is free right now. */
static int start_conn(struct slot *s, int phase, int flow, uint32_t nonce, int64_t t0)
{
	const struct sockaddr_in *dst = flow ? &pair_sa : &vip_sa;

	int64_t t = now_ns();

	for (int tries = 0; tries < opt.nports; tries++) {
		int i = (port_cursor + tries) % opt.nports, fd, one = 1;

		if (port_in_use[i] || port_busy_until[i] > t)
			continue;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		cli_sa.sin_port = htons(opt.port_base + i);
		if (bind(fd, (struct sockaddr *)&cli_sa, sizeof(cli_sa)) < 0) {
			if (errno != EADDRINUSE)
				die("bind");
			goto busy;
		}
		s->t_start = now_ns();
		if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS) {
			/* The 4-tuple is still taken (LAST_ACK, TIME_WAIT): the next port. */
			if (errno != EADDRNOTAVAIL && errno != EADDRINUSE)
				die("connect");
			goto busy;
		}
		port_in_use[i] = 1;
		port_cursor = (i + 1) % opt.nports;
		*s = (struct slot){
			.state = S_CONNECTING, .fd = fd, .port = opt.port_base + i,
			.t_start = s->t_start, .nonce = nonce, .size = payload_size(nonce),
			.deadline = s->t_start + (int64_t)opt.connect_timeout_ms * 1000000,
			.rec = &recs[nrecs++],
		};
		*s->rec = (struct rec){ .phase = phase, .flow = flow, .port = s->port, .syn_retrans = -1,
					.t_start_ms = ms_since(t0, s->t_start), .connect_ms = -1 };
		return 1;
busy:
		close(fd);
		port_busy_until[i] = t + 20 * 1000000;
		port_busy_events++;
	}
	return 0;
}

/* Advances a slot after poll reported its socket ready (or its deadline passed). */
static void step(struct slot *s, short revents)
{
	int64_t t = now_ns();

	if (s->state == S_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);
		char req[64];
		int n;

		if (!revents) {
			if (t >= s->deadline)
				finish(s, E_CONNECT_TIMEOUT, 0);
			return;
		}
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			finish(s, err == ECONNREFUSED || err == ECONNRESET || err == EHOSTUNREACH ||
				       err == ENETUNREACH ? E_CONNECT_REFUSED : E_OTHER, 0);
			return;
		}
		s->t_conn = t;
		s->rec->connect_ms = ms_since(s->t_start, t);
		s->rec->syn_retrans = tcp_total_retrans(s->fd);
		n = snprintf(req, sizeof(req), "REQ %u %u\n", s->nonce, s->size);
		if (write(s->fd, req, n) != n) {
			finish(s, E_OTHER, 0);
			return;
		}
		s->state = S_READING;
		s->deadline = s->t_start + (int64_t)opt.conn_timeout_ms * 1000000;
		return;
	}
	if (!revents) {
		if (t >= s->deadline)
			finish(s, E_IO_TIMEOUT, 0);
		return;
	}
	for (;;) {
		char buf[4096];
		ssize_t r = read(s->fd, buf, sizeof(buf));

		if (r < 0 && errno == EAGAIN)
			return;
		if (s->state == S_CLOSING) {
			/* After BYE: the server closes, with FIN (EOF) or RST (ECONNRESET). */
			if (r == 0)
				finish(s, E_OK, 0);
			else if (r < 0 && errno == ECONNRESET)
				finish(s, E_OK, 1);
			else if (r < 0)
				finish(s, E_OTHER, 0);
			else
				finish(s, E_BAD_RESPONSE, 0); /* nothing may follow the payload */
			return;
		}
		if (r <= 0) {
			finish(s, r == 0 ? E_EOF : errno == ECONNRESET ? E_RESET : E_OTHER, 0);
			return;
		}
		for (ssize_t k = 0; k < r; k++) {
			unsigned char b = buf[k];

			if (!s->hdr_len || s->hdr[s->hdr_len - 1] != '\n') {
				unsigned int nonce, size;
				int id;

				if (s->hdr_len >= sizeof(s->hdr) - 1) {
					finish(s, E_BAD_RESPONSE, 0);
					return;
				}
				s->hdr[s->hdr_len++] = b;
				if (b != '\n')
					continue;
				s->hdr[s->hdr_len] = 0;
				if (sscanf(s->hdr, "rs%d %u %u\n", &id, &nonce, &size) != 3 ||
				    nonce != s->nonce || size != s->size || id < 1 || id > opt.nsrv) {
					finish(s, E_BAD_RESPONSE, 0);
					return;
				}
				s->rec->server = id;
				continue;
			}
			if (s->got >= s->size || b != payload_byte(s->nonce, s->got)) {
				finish(s, E_BAD_RESPONSE, 0);
				return;
			}
			s->got++;
		}
		if (s->hdr_len && s->hdr[s->hdr_len - 1] == '\n' && s->got == s->size) {
			if (write(s->fd, "BYE\n", 4) != 4) {
				finish(s, E_OTHER, 0);
				return;
			}
			s->state = S_CLOSING;
		}
	}
}

/* ---- the run ----------------------------------------------------------------------------- */

/* One exchange with each server directly (not through the VIP, so no IPVS entry), from an
 * ephemeral port: the first packets to a server wait for neighbour resolution on the
 * director, which made the first connections of a run the slowest by 5-10 ms under TCG,
 * whichever module. Returns the number of servers that did not answer. */
static int warm_up(void)
{
	int failed = 0;

	for (int k = 0; k < opt.nsrv; k++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
		struct timeval tv = { .tv_sec = 3 };
		char buf[256];
		size_t got = 0;
		ssize_t r;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;

		inet_pton(AF_INET, opt.srv_addr[k], &sa.sin_addr);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && write(fd, "REQ 7 1\n", 8) == 8) {
			/* The header line and the one payload byte, then BYE and the server's close. */
			while (got < sizeof(buf) && (r = read(fd, buf + got, sizeof(buf) - got)) > 0) {
				char *nl;

				got += r;
				nl = memchr(buf, '\n', got);
				if (nl && (size_t)(nl - buf) + 1 < got) {
					ok = write(fd, "BYE\n", 4) == 4;
					break;
				}
			}
			while (ok && read(fd, buf, sizeof(buf)) > 0)
				;
		}
		close(fd);
		failed += !ok;
	}
	return failed;
}

static void hexaddr(const char *dotted, char *out, size_t n)
{
	struct in_addr a;

	if (inet_pton(AF_INET, dotted, &a) != 1)
		die("bad address %s", dotted);
	snprintf(out, n, "%08X", ntohl(a.s_addr));
}

static void usage(void)
{
	fprintf(stderr,
		"usage: reuse-load --cli NS --cli-addr A --lb NS --vip A --server NS=ADDR ... --out F\n"
		"  [--ports BASE:N] [--concurrency C] [--phases N1,N2,N3] [--close fin|rst]\n"
		"  [--weight0 K] [--fixb K] [--connect-timeout-ms T] [--conn-timeout-ms T]\n"
		"  [--max-consecutive-errors N] [--pair-port P]\n"
		"  [--workdir D] [--label L] [--extra-json '{...}']\n");
	exit(2);
}

/* "ipvsadm OP -t VIP:80 -r DEST:80 ARGS" and, with a pair flow, the same for its service (a
 * terminating endpoint leaves every service port at once). */
static void dest_cmd(char *cmd, size_t n, const char *op, const char *args, int server)
{
	const char *a = opt.srv_addr[server - 1];
	int off = snprintf(cmd, n, "ipvsadm %s -t %s:%d -r %s:%d %s", op, opt.vip, opt.vport, a, opt.vport, args);

	if (opt.pair_port)
		snprintf(cmd + off, n - off, " && ipvsadm %s -t %s:%d -r %s:%d %s", op, opt.vip, opt.pair_port, a,
			 opt.pair_port, args);
}

static void json_snap(FILE *f, const char *name, const struct snap *s)
{
	fprintf(f, "\"%s\": {\"t_ms\": %.3f, \"syn_in\": %lld, \"syn_out\": %lld, "
		"\"client_syn_retrans\": %lld, \"client_retrans_segs\": %lld, \"reuse\": %s%s%s}",
		name, s->t_ms, s->syn_in, s->syn_out, s->syn_retrans, s->retrans_segs,
		s->reuse[0] || fd_reuse >= 0 ? "{" : "null", s->reuse, s->reuse[0] || fd_reuse >= 0 ? "}" : "");
}

int main(int argc, char **argv)
{
	static struct slot slots[MAX_SLOTS];
	static struct pollfd pfd[MAX_SLOTS];
	pid_t srv_pid[MAX_SERVERS];
	char w0hex[32], w0dest[40], fbhex[32], cmd[512];
	int fd_ipvs, fd_conn, phase = 0, started = 0, total, goal;
	int64_t t0, t_w0 = 0, t_del = 0, drain_at = -1, last_poll = 0;
	struct snap snaps[5];
	int w0_at_change = -1, w0_at_delete = -1, w0_entries_at_delete = -1, aborted_after = -1, warmup_failed;
	double series_t[4096];
	int series_v[4096], nseries = 0, last_v = -2;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--cli"))
			opt.cli_ns = v;
		else if (!strcmp(a, "--cli-addr"))
			opt.cli_addr = v;
		else if (!strcmp(a, "--lb"))
			opt.lb_ns = v;
		else if (!strcmp(a, "--vip"))
			opt.vip = v;
		else if (!strcmp(a, "--server")) {
			char *eq = strchr(v, '=');

			if (!eq || opt.nsrv == MAX_SERVERS)
				usage();
			opt.srv_ns[opt.nsrv] = strndup(v, eq - v);
			opt.srv_addr[opt.nsrv++] = eq + 1;
		} else if (!strcmp(a, "--out"))
			opt.out = v;
		else if (!strcmp(a, "--ports")) {
			if (sscanf(v, "%d:%d", &opt.port_base, &opt.nports) != 2 || opt.nports < 1 ||
			    opt.nports > MAX_PORTS)
				usage();
		} else if (!strcmp(a, "--concurrency"))
			opt.concurrency = atoi(v);
		else if (!strcmp(a, "--phases")) {
			if (sscanf(v, "%d,%d,%d", &opt.phases[0], &opt.phases[1], &opt.phases[2]) != 3)
				usage();
		} else if (!strcmp(a, "--close"))
			opt.rst = !strcmp(v, "rst");
		else if (!strcmp(a, "--pair-port"))
			opt.pair_port = atoi(v);
		else if (!strcmp(a, "--weight0"))
			opt.weight0 = atoi(v);
		else if (!strcmp(a, "--fixb"))
			opt.fixb = atoi(v);
		else if (!strcmp(a, "--connect-timeout-ms"))
			opt.connect_timeout_ms = atoi(v);
		else if (!strcmp(a, "--conn-timeout-ms"))
			opt.conn_timeout_ms = atoi(v);
		else if (!strcmp(a, "--max-consecutive-errors"))
			opt.max_consecutive_errors = atoi(v);
		else if (!strcmp(a, "--workdir"))
			opt.workdir = v;
		else if (!strcmp(a, "--label"))
			opt.label = v;
		else if (!strcmp(a, "--extra-json"))
			opt.extra_json = v;
		else
			usage();
	}
	if (!opt.cli_ns || !opt.lb_ns || !opt.vip || !opt.cli_addr || !opt.out || opt.nsrv < 2 ||
	    opt.weight0 < 1 || opt.weight0 > opt.nsrv || opt.fixb < 1 || opt.fixb > opt.nsrv ||
	    opt.fixb == opt.weight0 || opt.concurrency < 1 || opt.concurrency > MAX_SLOTS ||
	    opt.concurrency > opt.nports)
		usage();
	total = opt.phases[0] + opt.phases[1] + opt.phases[2];
	recs = calloc(total, sizeof(*recs));
	vip_sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(opt.vport) };
	pair_sa = vip_sa;
	pair_sa.sin_port = htons(opt.pair_port);
	cli_sa = (struct sockaddr_in){ .sin_family = AF_INET };
	if (inet_pton(AF_INET, opt.vip, &vip_sa.sin_addr) != 1 || inet_pton(AF_INET, opt.cli_addr, &cli_sa.sin_addr) != 1)
		usage();
	pair_sa.sin_addr = vip_sa.sin_addr;
	hexaddr(opt.srv_addr[opt.weight0 - 1], w0hex, sizeof(w0hex));
	snprintf(w0dest, sizeof(w0dest), "%s:%04X", w0hex, opt.vport);
	hexaddr(opt.srv_addr[opt.fixb - 1], fbhex, sizeof(fbhex));
	signal(SIGPIPE, SIG_IGN);

	ns_cli = netns_fd(opt.cli_ns);
	ns_lb = netns_fd(opt.lb_ns);

	/* Servers: one child each, in its namespace. */
	for (int k = 0; k < opt.nsrv; k++) {
		int p[2];
		char c, logpath[512];

		if (pipe(p) < 0)
			die("pipe");
		snprintf(logpath, sizeof(logpath), "%s/server%d.log", opt.workdir, k + 1);
		srv_pid[k] = fork();
		if (srv_pid[k] < 0)
			die("fork");
		if (srv_pid[k] == 0) {
			close(p[0]);
			enter_ns(netns_fd(opt.srv_ns[k]));
			server_main(k + 1, opt.rst, opt.pair_port, p[1], logpath);
		}
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			die("server %d did not start", k + 1);
		close(p[0]);
	}

	enter_ns(ns_lb);
	fd_ipvs = open("/proc/net/ip_vs", O_RDONLY | O_CLOEXEC);
	fd_conn = open("/proc/net/ip_vs_conn", O_RDONLY | O_CLOEXEC);
	fd_reuse = open("/proc/net/ip_vs_reuse", O_RDONLY | O_CLOEXEC);
	if (fd_ipvs < 0 || fd_conn < 0)
		die("open /proc/net/ip_vs* in %s", opt.lb_ns);
	enter_ns(ns_cli);

	warmup_failed = warm_up();
	t0 = now_ns();
	take_snap(&snaps[0], t0);
	goal = opt.phases[0];
	for (int i = 0; i < opt.concurrency; i++)
		slots[i].fd = -1;

	for (;;) {
		int active = 0, n = 0, map[MAX_SLOTS], timeout = 20;

		for (int i = 0; i < opt.concurrency; i++)
			if (slots[i].state != S_FREE)
				active++;
		/* A module that loses every connection would make the cell last N x the connect
		 * timeout: stop, and say so (the results are then incomplete, not a pass). */
		if (aborted_after < 0 && consecutive_errors >= opt.max_consecutive_errors)
			aborted_after = started;
		if (aborted_after >= 0 && active == 0) {
			for (int k = phase + 1; k <= 3; k++)
				take_snap(&snaps[k], t0);
			if (!t_w0)
				t_w0 = now_ns();
			if (!t_del)
				t_del = now_ns();
			break;
		}
		/* Phase boundary: nothing in flight any more. */
		if (started == goal && active == 0) {
			take_snap(&snaps[phase + 1], t0);
			if (phase == 0) {
				w0_at_change = dest_conns(fd_ipvs, w0dest);
				dest_cmd(cmd, sizeof(cmd), "-e", "-m -w 0", opt.weight0);
				if (lb_system(cmd))
					die("%s failed", cmd);
				t_w0 = now_ns();
				series_t[nseries] = ms_since(t_w0, t_w0);
				series_v[nseries++] = last_v = dest_conns(fd_ipvs, w0dest);
				if (last_v == 0)
					drain_at = t_w0;
			} else if (phase == 1) {
				w0_at_delete = dest_conns(fd_ipvs, w0dest);
				w0_entries_at_delete = conn_entries(fd_conn, w0hex);
				dest_cmd(cmd, sizeof(cmd), "-d", "", opt.weight0);
				if (lb_system(cmd))
					die("%s failed", cmd);
				t_del = now_ns();
			} else {
				break;
			}
			phase++;
			goal += opt.phases[phase];
			continue;
		}
		while (started < goal && aborted_after < 0) {
			struct slot *s = NULL;

			for (int i = 0; i < opt.concurrency && !s; i++)
				if (slots[i].state == S_FREE)
					s = &slots[i];
			/* With a pair flow, every other round of --ports connections goes to it: each
			 * flow keeps cycling through every port (alternating single connections would
			 * give each flow half of the ports, and an entry of the other half, left by a
			 * skipped busy port, would never be reused and so never drain). */
			if (!s || !start_conn(s, phase, opt.pair_port ? started / opt.nports % 2 : 0,
					      0x9e3779b9u * (started + 1) ^ (uint32_t)t0, t0))
				break;
			started++;
		}
		for (int i = 0; i < opt.concurrency; i++) {
			if (slots[i].state == S_FREE)
				continue;
			pfd[n].fd = slots[i].fd;
			pfd[n].events = slots[i].state == S_CONNECTING ? POLLOUT : POLLIN;
			map[n++] = i;
		}
		poll(pfd, n, timeout);
		for (int k = 0; k < n; k++)
			step(&slots[map[k]], pfd[k].revents);
		/* The weight-0 destination's ActiveConn+InActConn while it is still listed. */
		if (phase == 1 && now_ns() - last_poll >= 10 * 1000000) {
			int v = dest_conns(fd_ipvs, w0dest);

			last_poll = now_ns();

			if (v != last_v && nseries < 4096) {
				series_t[nseries] = ms_since(t_w0, now_ns());
				series_v[nseries++] = v;
				last_v = v;
			}
			if (v == 0 && drain_at < 0)
				drain_at = now_ns();
		}
	}

	/* Fix B: delete another destination with no traffic, watch its entries for 2 s. */
	int fb_before = conn_entries(fd_conn, fbhex), fb_after_ipvsadm = -1;
	double fb_cleared_ms = -1, fb_ipvsadm_ms = -1;
	int64_t t_fb;

	dest_cmd(cmd, sizeof(cmd), "-d", "", opt.fixb);
	if (aborted_after < 0 && lb_system(cmd))
		die("%s failed", cmd);
	t_fb = now_ns();
	while (aborted_after < 0 && now_ns() - t_fb < 1800LL * 1000000) {
		if (fb_cleared_ms < 0 && conn_entries(fd_conn, fbhex) == 0)
			fb_cleared_ms = ms_since(t_fb, now_ns());
		usleep(20000);
	}
	/* The check proper, as an operator would make it: ipvsadm -L -n -c at ~2 s (the spawn
	 * takes ~0.2 s under TCG; the time it returned is recorded). */
	if (aborted_after < 0) {
		char line[512], pat[64];

		snprintf(pat, sizeof(pat), " %s:", opt.srv_addr[opt.fixb - 1]);
		enter_ns(ns_lb);
		f = popen("ipvsadm -L -n -c", "r");
		enter_ns(ns_cli);
		if (f) {
			fb_after_ipvsadm = 0;
			while (fgets(line, sizeof(line), f)) {
				line[strcspn(line, "\n")] = 0;
				strcat(line, " ");
				if (strstr(line, pat))
					fb_after_ipvsadm++;
			}
			if (pclose(f) != 0)
				fb_after_ipvsadm = -1;
		}
		fb_ipvsadm_ms = ms_since(t_fb, now_ns());
		if (fb_cleared_ms < 0 && conn_entries(fd_conn, fbhex) == 0)
			fb_cleared_ms = fb_ipvsadm_ms;
	}

	take_snap(&snaps[4], t0);

	for (int k = 0; k < opt.nsrv; k++)
		kill(srv_pid[k], SIGTERM);
	for (int k = 0; k < opt.nsrv; k++)
		waitpid(srv_pid[k], NULL, 0);

	/* Accepts per server and phase, from the servers' own logs, of the main flow (port 80)
	 * and of the pair flow. */
	int accepts[MAX_SERVERS][3] = { 0 }, accepts_pair[MAX_SERVERS][3] = { 0 };

	for (int k = 0; k < opt.nsrv; k++) {
		char logpath[512], addr[64];
		long long ts;
		unsigned int port, lport;

		snprintf(logpath, sizeof(logpath), "%s/server%d.log", opt.workdir, k + 1);
		f = fopen(logpath, "r");
		if (!f)
			die("open %s", logpath);
		while (fscanf(f, "%lld %63s %u %u", &ts, addr, &port, &lport) == 4)
			(lport == 80 ? accepts : accepts_pair)[k][ts < t_w0 ? 0 : ts < t_del ? 1 : 2]++;
		fclose(f);
	}

	f = fopen(opt.out, "w");
	if (!f)
		die("open %s", opt.out);
	fprintf(f, "{\"label\": \"%s\", \"extra\": %s,\n", opt.label, opt.extra_json);
	fprintf(f, "\"params\": {\"pair_port\": %d, \"ports\": %d, \"port_base\": %d, \"concurrency\": %d, \"phases\": [%d, %d, %d], "
		"\"close\": \"%s\", \"servers\": %d, \"weight0\": %d, \"fixb\": %d, "
		"\"connect_timeout_ms\": %d, \"conn_timeout_ms\": %d},\n",
		opt.pair_port, opt.nports, opt.port_base, opt.concurrency, opt.phases[0], opt.phases[1], opt.phases[2],
		opt.rst ? "rst" : "fin", opt.nsrv, opt.weight0, opt.fixb, opt.connect_timeout_ms,
		opt.conn_timeout_ms);
	fprintf(f, "\"snaps\": {");
	json_snap(f, "start", &snaps[0]);
	fprintf(f, ", ");
	json_snap(f, "weight0", &snaps[1]);
	fprintf(f, ", ");
	json_snap(f, "delete", &snaps[2]);
	fprintf(f, ", ");
	json_snap(f, "end", &snaps[3]);
	fprintf(f, ", ");
	json_snap(f, "fixb", &snaps[4]);
	fprintf(f, "},\n\"t_weight0_ms\": %.3f, \"t_delete_ms\": %.3f, \"port_busy_events\": %ld, "
		"\"aborted_after\": %d, \"warmup_failed\": %d,\n", ms_since(t0, t_w0), ms_since(t0, t_del), port_busy_events,
		aborted_after, warmup_failed);
	fprintf(f, "\"weight0\": {\"conns_at_change\": %d, \"conns_at_delete\": %d, "
		"\"entries_at_delete\": %d, \"drain_ms\": ",
		w0_at_change, w0_at_delete, w0_entries_at_delete);
	if (drain_at >= 0)
		fprintf(f, "%.3f", ms_since(t_w0, drain_at));
	else
		fprintf(f, "null");
	fprintf(f, ", \"series\": [");
	for (int i = 0; i < nseries; i++)
		fprintf(f, "%s[%.1f, %d]", i ? ", " : "", series_t[i], series_v[i]);
	fprintf(f, "]},\n\"accepts\": [");
	for (int k = 0; k < opt.nsrv; k++)
		fprintf(f, "%s[%d, %d, %d]", k ? ", " : "", accepts[k][0], accepts[k][1], accepts[k][2]);
	fprintf(f, "],\n\"accepts_pair\": [");
	for (int k = 0; k < opt.nsrv; k++)
		fprintf(f, "%s[%d, %d, %d]", k ? ", " : "", accepts_pair[k][0], accepts_pair[k][1], accepts_pair[k][2]);
	fprintf(f, "],\n\"fixb\": {\"entries_before\": %d, \"entries_ipvsadm\": %d, \"ipvsadm_ms\": %.1f, "
		"\"cleared_ms\": ", fb_before, fb_after_ipvsadm, fb_ipvsadm_ms);
	if (fb_cleared_ms >= 0)
		fprintf(f, "%.1f", fb_cleared_ms);
	else
		fprintf(f, "null");
	fprintf(f, "},\n\"conns\": {");
#define COL(name, fmtstr, expr) do { \
		fprintf(f, "%s\"%s\": [", first ? "" : ",\n ", name); \
		for (int i = 0; i < nrecs; i++) \
			fprintf(f, i ? ", " fmtstr : fmtstr, expr); \
		fprintf(f, "]"); \
		first = 0; \
	} while (0)
	{
		int first = 1;

		COL("phase", "%d", recs[i].phase);
		COL("flow", "%d", recs[i].flow);
		COL("port", "%d", recs[i].port);
		COL("server", "%d", recs[i].server);
		COL("err", "\"%s\"", err_name[recs[i].err]);
		COL("syn_retrans", "%d", recs[i].syn_retrans);
		COL("close_rst", "%d", recs[i].close_rst);
		COL("t_start_ms", "%.1f", recs[i].t_start_ms);
		COL("connect_ms", "%.3f", recs[i].connect_ms);
		COL("total_ms", "%.3f", recs[i].total_ms);
	}
	fprintf(f, "}}\n");
	fclose(f);
	return 0;
}
