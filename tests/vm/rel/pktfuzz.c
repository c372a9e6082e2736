// SPDX-License-Identifier: GPL-2.0
/*
 * pktfuzz: mutated IPv4/IPv6 TCP/UDP/ICMP/ICMPv6 frames injected at the director
 * (tests/vm/rel/pktfuzz.sh). Compiled in the guest at test time (cc -O2), plain libc.
 *
 *   pktfuzz -i IFNAME -m DSTMAC [-t] -T SECS [-r PPS] [-S SEED] -4 VIP,... -6 VIP,...
 *           [-p PORT] [-c CONNFILE] [-o STATSFILE] [-w CORPUS -n COUNT] [-k KIND]
 *
 * Without -t: an AF_PACKET socket sends Ethernet frames out of IFNAME (a veth end whose peer is
 * the director's interface, or a bridge port towards it). With -t: IFNAME is an existing tap
 * device created with vnet_hdr (`ip tuntap add dev X mode tap vnet_hdr`), attached to a bridge
 * towards the director; every frame is preceded by a struct virtio_net_hdr, so that the kernel
 * builds non-linear skbs and GSO skbs (TCPV4, TCPV6, UDP_L4) with honest or bogus
 * gso_size/hdr_len/csum_start.
 *
 * Every packet's source is spoofed from 198.18.0.0/15 (IPv4) or 2001:2::/48 (IPv6), which the
 * director blackholes, so accounting rules can tell fuzz from real traffic. Destinations are
 * the VIPs given (the services under test). CONNFILE, if given, lists real connections
 * ("tcp|udp CIP CPORT VIP VPORT RIP RPORT" per line) whose tuples ICMP errors quote.
 *
 * -k KIND: only that mutation kind (the names of the output's "sent" lines).
 * With -w, nothing is sent: COUNT packets are written to CORPUS instead (per packet a
 * little-endian u32 length, a byte 4 or 6, then the IP packet), for host-side parser tests.
 *
 * Output (stdout and STATSFILE): "sent KIND N" per mutation kind, "send_errors N",
 * "total N".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Newer than the userspace headers of Debian 12 (Linux 6.1). */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#define MAXPKT 65000
#define MAXVIP 16
#define MAXCONN 4096

enum kind {
	K_VALID, K_TRUNC, K_IPLEN, K_IPOPT, K_EXTHDR, K_EXTHDR_LONG, K_FRAG_FIRST, K_FRAG_LATER,
	K_FRAG_OVERLAP, K_L4BAD, K_BITFLIP, K_ICMP_GARBAGE, K_ICMP_CONN, K_ICMP_FWD, K_GSO,
	K_NONLINEAR, K_NKINDS
};
static const char *kind_name[K_NKINDS] = {
	"valid", "truncated", "bad_ip_length", "ip_options", "ext_headers", "ext_headers_long",
	"frag_first", "frag_later", "frag_overlap", "bad_l4_header", "bitflip", "icmp_garbage",
	"icmp_conn", "icmp_fwd_conn", "gso", "nonlinear",
};
static unsigned long sent[K_NKINDS], send_errors;

struct conn {
	int udp, v6;
	uint8_t caddr[16], vaddr[16], raddr[16];
	uint16_t cport, vport, rport;
};

static struct in_addr vip4[MAXVIP];
static struct in6_addr vip6[MAXVIP];
static int nvip4, nvip6;
static struct conn conns[MAXCONN];
static int nconns;
static uint16_t port = 8080;
static uint8_t dstmac[6], srcmac[6] = { 0x02, 0x00, 0x5e, 0xf0, 0x00, 0x01 };
static int tap;
static uint64_t rng;

static uint32_t rnd(void)
{
	/* xorshift64*: reproducible from -S. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 2685821657736338717ULL) >> 32);
}
static uint32_t below(uint32_t n) { return n ? rnd() % n : 0; }
static int chance(int pct) { return (int)below(100) < pct; }
static void fill(uint8_t *p, size_t n)
{
	while (n--)
		*p++ = (uint8_t)rnd();
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	while (n > 1) {
		s += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		n -= 2;
	}
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}
static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, (uint16_t)v); }

static void die(const char *m)
{
	perror(m);
	exit(2);
}

/* --- transport headers ------------------------------------------------------------------ */

/* A TCP, UDP or ICMP(v6) echo header plus payload at p; returns its length. */
static size_t l4(uint8_t *p, int proto, int v6, size_t paylen, uint16_t sport, uint16_t dport)
{
	size_t hl;
	if (proto == IPPROTO_TCP) {
		int optlen = chance(30) ? 4 * (int)below(11) : 0;
		static const uint8_t flagset[] = { 0x02, 0x02, 0x02, 0x10, 0x18, 0x11, 0x04, 0x14,
						   0x12, 0x03, 0x06, 0x3f, 0x00, 0x01, 0xc2 };
		hl = 20 + optlen;
		put16(p, sport);
		put16(p + 2, dport);
		put32(p + 4, rnd());
		put32(p + 8, rnd());
		p[12] = (uint8_t)((hl / 4) << 4);
		p[13] = chance(10) ? (uint8_t)rnd() : flagset[below(sizeof(flagset))];
		put16(p + 14, 65535);
		put16(p + 16, 0);
		put16(p + 18, 0);
		if (optlen) {
			/* MSS, window scale, SACK-permitted, timestamps or garbage */
			if (chance(50)) {
				fill(p + 20, optlen);
			} else {
				memset(p + 20, 1, optlen);
				if (optlen >= 4) {
					p[20] = 2; p[21] = 4; put16(p + 22, (uint16_t)below(65536));
				}
			}
		}
	} else if (proto == IPPROTO_UDP) {
		hl = 8;
		put16(p, sport);
		put16(p + 2, dport);
		put16(p + 4, (uint16_t)(8 + paylen));
		put16(p + 6, 0);
	} else {
		hl = 8;
		p[0] = v6 ? 128 : 8; /* echo request */
		p[1] = 0;
		put16(p + 2, 0);
		put32(p + 4, rnd());
	}
	fill(p + hl, paylen);
	return hl + paylen;
}

/* The transport checksum (TCP/UDP/ICMPv6 with the pseudo header, ICMP without). */
static void l4_csum(uint8_t *l3, size_t l3len, uint8_t *l4p, size_t l4len, int proto, int v6)
{
	uint32_t s = 0;
	int off = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
	if ((size_t)off + 2 > l4len)
		return;
	put16(l4p + off, 0);
	if (proto != IPPROTO_ICMP) {
		if (v6) {
			s = sum16(l3 + 8, 32, 0);
		} else {
			s = sum16(l3 + 12, 8, 0);
		}
		s += proto + (uint32_t)l4len;
	}
	(void)l3len;
	put16(l4p + off, fold(sum16(l4p, l4len, s)));
}

/* --- network headers ---------------------------------------------------------------------- */

static void ip4_csum(uint8_t *ip)
{
	size_t hl = (ip[0] & 15) * 4u;
	put16(ip + 10, 0);
	put16(ip + 10, fold(sum16(ip, hl < 20 ? 20 : hl, 0)));
}

static void src4(uint8_t *a)
{
	a[0] = 198;
	a[1] = (uint8_t)(18 + below(2));
	a[2] = (uint8_t)rnd();
	a[3] = (uint8_t)(1 + below(254));
}
static void src6(uint8_t *a)
{
	static const uint8_t pfx[6] = { 0x20, 0x01, 0x00, 0x02, 0x00, 0x00 };
	memcpy(a, pfx, 6);
	fill(a + 6, 10);
}

/* IPv4 options of olen bytes (a multiple of 4): NOPs, EOL, RR, timestamps, LSRR or garbage. */
static void ip4_options(uint8_t *o, size_t olen)
{
	size_t i = 0;
	if (chance(30)) {
		fill(o, olen);
		return;
	}
	while (i < olen) {
		size_t left = olen - i, l;
		switch (below(5)) {
		case 0: o[i++] = 1; break; /* NOP */
		case 1: o[i++] = 0; memset(o + i, 0, left - 1); return; /* EOL */
		case 2: case 3: /* RR / LSRR / TS with a pointer that may lie */
			if (left < 3) { o[i++] = 1; break; }
			l = 3 + below((unsigned)left - 2);
			o[i] = (uint8_t[]){ 7, 131, 137, 68, 148 }[below(5)];
			o[i + 1] = chance(80) ? (uint8_t)l : (uint8_t)rnd();
			o[i + 2] = (uint8_t)(chance(70) ? 4 : rnd());
			fill(o + i + 3, l - 3);
			i += l;
			break;
		default: o[i++] = (uint8_t)rnd(); break;
		}
	}
}

/*
 * One IPv4 packet at p (after the Ethernet header): kind-specific mutation. Returns its
 * length. *proto_out is the transport protocol.
 */
static size_t build4(uint8_t *p, enum kind k, size_t max)
{
	int proto = (int[]){ IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDP, IPPROTO_ICMP }[below(5)];
	size_t optlen = 0, hl, l4len, paylen = below(chance(80) ? 200 : 1400);
	struct in_addr d = vip4[below(nvip4)];
	uint16_t dport = chance(85) ? port : (uint16_t)rnd();
	uint16_t frag = chance(50) ? 0x4000 : 0; /* DF */

	if (k == K_IPOPT)
		optlen = 4 * (1 + below(10));
	hl = 20 + optlen;
	if (hl + 60 + paylen > max)
		paylen = 0;
	l4len = l4(p + hl, proto, 0, paylen, (uint16_t)(1024 + below(64000)), dport);
	memset(p, 0, 20);
	p[0] = (uint8_t)(0x40 | hl / 4);
	p[1] = chance(10) ? (uint8_t)rnd() : 0;
	put16(p + 2, (uint16_t)(hl + l4len));
	put16(p + 4, (uint16_t)rnd());
	p[8] = 64;
	p[9] = (uint8_t)proto;
	src4(p + 12);
	memcpy(p + 16, &d, 4);
	if (optlen)
		ip4_options(p + 20, optlen);
	if (!chance(10))
		l4_csum(p, hl, p + hl, l4len, proto, 0);
	size_t len = hl + l4len;

	switch (k) {
	case K_TRUNC: {
		/* cut inside the transport header or payload; the IP length follows (mostly) */
		size_t cut = hl + below((unsigned)(l4len < 40 ? l4len : 40) + 1);
		len = cut;
		if (chance(85))
			put16(p + 2, (uint16_t)len);
		break;
	}
	case K_IPLEN: {
		static const uint16_t odd[] = { 0, 1, 19, 20, 21, 28, 40, 0xffff };
		put16(p + 2, chance(50) ? odd[below(8)] : (uint16_t)(below((unsigned)len + 16)));
		if (chance(20))
			p[0] = (uint8_t)(0x40 | below(16)); /* bad IHL */
		break;
	}
	case K_FRAG_FIRST:
		frag = 0x2000; /* MF, offset 0 */
		if (chance(40)) { /* tiny first fragment: cuts the transport header */
			len = hl + 8 * below(3);
			put16(p + 2, (uint16_t)len);
		}
		break;
	case K_FRAG_LATER:
		frag = (uint16_t)((chance(50) ? 0x2000 : 0) | (1 + below(0x1fff)));
		break;
	case K_FRAG_OVERLAP:
		frag = (uint16_t)((chance(50) ? 0x2000 : 0) | below(4));
		put16(p + 4, 0x4242); /* same id across packets: they overlap each other */
		break;
	case K_L4BAD:
		if (proto == IPPROTO_TCP && l4len >= 20) {
			p[hl + 12] = (uint8_t)(below(16) << 4); /* data offset 0..15 */
		} else if (proto == IPPROTO_UDP) {
			static const uint16_t ul[] = { 0, 1, 7, 8, 9, 0xffff };
			put16(p + hl + 4, ul[below(6)]);
		} else {
			p[hl] = (uint8_t)rnd();
		}
		break;
	case K_BITFLIP: {
		int n = 1 + (int)below(6);
		while (n--)
			p[20 + below((unsigned)(len - 20))] ^= (uint8_t)(1u << below(8));
		break;
	}
	default:
		break;
	}
	put16(p + 6, frag);
	if (k != K_IPLEN || chance(50))
		ip4_csum(p);
	return len;
}

/*
 * An IPv6 extension-header chain at p: n random headers, then (frag >= 0) a fragment header
 * with offset/M word `frag`, then next header `last`. Returns its length; *first is the
 * first header's type (to put in the IPv6 header).
 */
static size_t ext_chain(uint8_t *p, int n, int last, int *first, int allow_long, size_t max, int frag)
{
	static const uint8_t types[] = { 0, 60, 43, 44, 60, 60, 51, 135, 139, 140 };
	uint8_t t[66];
	size_t off = 0;
	int i, m;
	if (n > 64)
		n = 64;
	for (i = 0; i < n; i++)
		t[i] = (i == 0 && chance(50)) ? 0 : types[below(sizeof(types))];
	m = n;
	if (frag >= 0)
		t[m++] = 44;
	*first = m ? t[0] : last;
	for (i = 0; i < m; i++) {
		int next = i + 1 < m ? t[i + 1] : last;
		int is_ours = frag >= 0 && i == m - 1;
		size_t l;
		if (t[i] == 44) { /* fragment header: 8 bytes */
			l = 8;
			if (off + l > max)
				break;
			p[off] = (uint8_t)next;
			p[off + 1] = 0;
			if (is_ours)
				put16(p + off + 2, (uint16_t)frag);
			else
				put16(p + off + 2, (uint16_t)(chance(60) ? 0 : (below(0x2000) << 3 | below(2))));
			put32(p + off + 4, chance(50) || is_ours ? 0x4242 : rnd());
		} else if (t[i] == 51) { /* AH: length in 4-byte units minus 2 */
			l = 4 * (2 + below(allow_long ? 60 : 4));
			if (off + l > max)
				break;
			p[off] = (uint8_t)next;
			p[off + 1] = (uint8_t)(l / 4 - 2);
			fill(p + off + 2, l - 2);
		} else {
			l = 8 * (1 + below(allow_long ? 32 : 3));
			if (off + l > max)
				break;
			p[off] = (uint8_t)next;
			p[off + 1] = (uint8_t)(l / 8 - 1);
			if (t[i] == 43) { /* routing: type, segments left */
				p[off + 2] = (uint8_t)below(5);
				p[off + 3] = chance(70) ? 0 : (uint8_t)below(4);
				fill(p + off + 4, l - 4);
			} else { /* HBH / destination options: one PadN, sometimes junk options */
				p[off + 2] = 1;
				p[off + 3] = (uint8_t)(l - 4);
				memset(p + off + 4, 0, l - 4);
				if (chance(20))
					fill(p + off + 2, l - 2);
			}
		}
		if (chance(3))
			p[off + 1] = (uint8_t)rnd(); /* a lying length */
		off += l;
	}
	if (i < m) { /* out of room: no chain at all */
		*first = last;
		return 0;
	}
	return off;
}

static size_t build6(uint8_t *p, enum kind k, size_t max)
{
	int proto = (int[]){ IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDP, IPPROTO_ICMPV6 }[below(5)];
	size_t ext = 0, l4len, paylen = below(chance(80) ? 200 : 1200);
	uint16_t dport = chance(85) ? port : (uint16_t)rnd();
	int first = proto, frag = -1, n = 0;

	memset(p, 0, 40);
	switch (k) {
	case K_EXTHDR: n = 1 + (int)below(4); break;
	case K_EXTHDR_LONG: n = 4 + (int)below(30); break;
	case K_FRAG_FIRST: n = (int)below(3); frag = 1; break;
	case K_FRAG_LATER: n = (int)below(3); frag = (int)((1 + below(0x1fff)) << 3 | below(2)); break;
	case K_FRAG_OVERLAP: n = (int)below(3); frag = (int)(below(4) << 3 | below(2)); break;
	default: break;
	}
	if (n || frag >= 0)
		ext = ext_chain(p + 40, n, proto, &first, k == K_EXTHDR_LONG, max - 40 - 1400, frag);
	if (40 + ext + 60 + paylen > max)
		paylen = 0;
	p[0] = 0x60;
	p[6] = (uint8_t)first;
	p[7] = 64;
	src6(p + 8);
	memcpy(p + 24, &vip6[below(nvip6)], 16);
	l4len = l4(p + 40 + ext, proto, 1, paylen, (uint16_t)(1024 + below(64000)), dport);
	if (!chance(10))
		l4_csum(p, 40, p + 40 + ext, l4len, proto, 1);
	size_t len = 40 + ext + l4len;
	put16(p + 4, (uint16_t)(ext + l4len));
	switch (k) {
	case K_TRUNC:
		len = 40 + ext + below((unsigned)(l4len < 40 ? l4len : 40) + 1);
		if (chance(85))
			put16(p + 4, (uint16_t)(len - 40));
		break;
	case K_IPLEN:
		put16(p + 4, chance(50) ? 0 : (uint16_t)below((unsigned)len + 16));
		break;
	case K_L4BAD:
		if (proto == IPPROTO_TCP && l4len >= 20)
			p[40 + ext + 12] = (uint8_t)(below(16) << 4);
		else if (proto == IPPROTO_UDP)
			put16(p + 40 + ext + 4, (uint16_t[]){ 0, 1, 7, 8, 9, 0xffff }[below(6)]);
		else
			p[40 + ext] = (uint8_t)rnd();
		break;
	case K_BITFLIP: {
		int nb = 1 + (int)below(6);
		while (nb--)
			p[40 + below((unsigned)(len - 40))] ^= (uint8_t)(1u << below(8));
		break;
	}
	default:
		break;
	}
	return len;
}

/* --- ICMP errors --------------------------------------------------------------------------- */

/* A quoted packet at q: garbage, or the headers of a real connection in direction `dir`
 * (0: VIP -> client, as a reply the director sent; 1: client -> real server). */
static size_t quote(uint8_t *q, int v6, int garbage, int dir, const struct conn *c, size_t max)
{
	size_t hl = v6 ? 40 : 20, l4len, len;
	int proto = c ? (c->udp ? IPPROTO_UDP : IPPROTO_TCP) : (chance(50) ? IPPROTO_TCP : IPPROTO_UDP);
	if (garbage) {
		len = below(chance(50) ? 48 : 600);
		if (len > max)
			len = max;
		fill(q, len);
		if (len && chance(70))
			q[0] = (uint8_t)(v6 ? 0x60 : 0x45 + below(11));
		if (len > 9 && !v6 && chance(70))
			q[9] = (uint8_t)proto;
		if (len > 6 && v6 && chance(70))
			q[6] = (uint8_t)(chance(30) ? 44 : proto);
		return len;
	}
	memset(q, 0, hl);
	if (v6) {
		q[0] = 0x60;
		q[6] = (uint8_t)proto;
		q[7] = 64;
	} else {
		q[0] = 0x45;
		q[8] = 64;
		q[9] = (uint8_t)proto;
	}
	uint16_t sport, dport;
	const uint8_t *sa, *da;
	if (dir == 0) {
		sa = c->vaddr; sport = c->vport; da = c->caddr; dport = c->cport;
	} else {
		sa = c->caddr; sport = c->cport; da = c->raddr; dport = c->rport;
	}
	memcpy(q + (v6 ? 8 : 12), sa, v6 ? 16 : 4);
	memcpy(q + (v6 ? 24 : 16), da, v6 ? 16 : 4);
	l4len = l4(q + hl, proto, v6, below(40), sport, dport);
	if (chance(50))
		l4len = below((unsigned)l4len + 1); /* the 8 bytes RFC 792 promises, or fewer */
	if (v6)
		put16(q + 4, (uint16_t)(chance(80) ? l4len : rnd()));
	else {
		put16(q + 2, (uint16_t)(chance(80) ? hl + l4len : rnd()));
		ip4_csum(q);
	}
	return hl + l4len;
}

/* An ICMP/ICMPv6 error; `fwd`: addressed to the client (forwarded by the director). */
static size_t build_icmp(uint8_t *p, enum kind k, int v6, size_t max)
{
	const struct conn *c = NULL;
	int i;
	size_t hl = v6 ? 40 : 20, qlen;
	uint8_t *ic = p + hl;
	int fwd = k == K_ICMP_FWD;

	if (k != K_ICMP_GARBAGE && nconns) {
		for (i = 0; i < 8; i++) {
			c = &conns[below(nconns)];
			if (c->v6 == v6 && !(fwd && c->udp))
				break;
			c = NULL;
		}
	}
	if (!c)
		k = K_ICMP_GARBAGE;
	memset(p, 0, hl + 8);
	if (v6) {
		static const uint8_t t6[] = { 1, 1, 2, 3, 4 };
		ic[0] = t6[below(sizeof(t6))];
		ic[1] = (uint8_t)below(8);
		put32(ic + 4, ic[0] == 2 ? (uint32_t[]){ 0, 1280, 1279, 65535, 0xffffffffu }[below(5)] : (ic[0] == 4 ? below(200) : 0));
	} else {
		static const uint8_t t4[] = { 3, 3, 3, 11, 12, 4, 5 };
		ic[0] = t4[below(sizeof(t4))];
		ic[1] = (uint8_t)below(16);
		if (ic[0] == 3 && ic[1] == 4)
			put16(ic + 6, (uint16_t[]){ 0, 68, 576, 1400, 65535 }[below(5)]);
	}
	qlen = quote(ic + 8, v6, k == K_ICMP_GARBAGE, fwd, c, max - hl - 8);
	/* outer header */
	if (v6) {
		p[0] = 0x60;
		p[6] = IPPROTO_ICMPV6;
		p[7] = 64;
		src6(p + 8);
		if (c)
			memcpy(p + 24, fwd ? c->caddr : c->vaddr, 16);
		else
			memcpy(p + 24, &vip6[below(nvip6)], 16);
		put16(p + 4, (uint16_t)(8 + qlen));
	} else {
		p[0] = 0x45;
		p[8] = 64;
		p[9] = IPPROTO_ICMP;
		src4(p + 12);
		if (c)
			memcpy(p + 16, fwd ? c->caddr : c->vaddr, 4);
		else
			memcpy(p + 16, &vip4[below(nvip4)], 4);
		put16(p + 2, (uint16_t)(20 + 8 + qlen));
		ip4_csum(p);
	}
	if (!chance(5))
		l4_csum(p, hl, ic, 8 + qlen, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, v6);
	return hl + 8 + qlen;
}

/* --- GSO / non-linear (tap) ---------------------------------------------------------------- */

/* A large TCP or UDP packet with a virtio_net_hdr describing it honestly or not. */
static size_t build_gso(uint8_t *p, struct virtio_net_hdr *vh, int v6, int gso)
{
	int udp = chance(35);
	int proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
	size_t hl = v6 ? 40 : 20, paylen = gso ? 1000 + below(20000) : 1200 + below(200);
	size_t l4len, len;
	uint16_t dport = chance(90) ? port : (uint16_t)rnd();

	memset(p, 0, hl);
	l4len = l4(p + hl, proto, v6, paylen, (uint16_t)(1024 + below(64000)), dport);
	len = hl + l4len;
	if (v6) {
		p[0] = 0x60;
		p[6] = (uint8_t)proto;
		p[7] = 64;
		src6(p + 8);
		memcpy(p + 24, &vip6[below(nvip6)], 16);
		put16(p + 4, (uint16_t)(chance(85) ? l4len : 0)); /* 0: BIG TCP style */
	} else {
		p[0] = 0x45;
		p[8] = 64;
		p[9] = (uint8_t)proto;
		src4(p + 12);
		memcpy(p + 16, &vip4[below(nvip4)], 4);
		put16(p + 2, (uint16_t)(chance(85) && len < 65536 ? len : 0));
		ip4_csum(p);
	}
	if (udp && l4len > 0xffff)
		put16(p + hl + 4, 0);
	memset(vh, 0, sizeof(*vh));
	if (chance(80)) {
		/* partial checksum: the kernel (or the output device) finishes it */
		uint32_t s = v6 ? sum16(p + 8, 32, 0) : sum16(p + 12, 8, 0);
		s += proto + (uint32_t)l4len;
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = (uint16_t)(14 + hl);
		vh->csum_offset = udp ? 6 : 16;
		put16(p + hl + vh->csum_offset, (uint16_t)~fold(s));
		if (chance(5))
			vh->csum_start = (uint16_t)rnd();
		if (chance(5))
			vh->csum_offset = (uint16_t)rnd();
	} else {
		l4_csum(p, hl, p + hl, l4len, proto, v6);
	}
	if (gso) {
		vh->gso_type = udp ? VIRTIO_NET_HDR_GSO_UDP_L4 : v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		if (chance(5))
			vh->gso_type = (uint8_t)(rnd() & 0x87);
		static const uint16_t sizes[] = { 0, 1, 8, 100, 536, 1400, 1448, 9000, 65535 };
		vh->gso_size = chance(70) ? 1400 : sizes[below(sizeof(sizes) / 2)];
		vh->hdr_len = (uint16_t)(chance(70) ? 14 + hl + (udp ? 8 : 20) : rnd() % 300);
	} else {
		vh->gso_type = VIRTIO_NET_HDR_GSO_NONE;
		vh->hdr_len = (uint16_t)(chance(50) ? 14 + hl + (udp ? 8 : 20) : below(200));
	}
	return len;
}

/* --- main ---------------------------------------------------------------------------------- */

static int parse_mac(const char *s, uint8_t *m)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6 ? 0 : -1;
}

static void parse_list(char *s, int v6)
{
	char *tok, *save = NULL;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (v6 && nvip6 < MAXVIP && inet_pton(AF_INET6, tok, &vip6[nvip6]) == 1)
			nvip6++;
		else if (!v6 && nvip4 < MAXVIP && inet_pton(AF_INET, tok, &vip4[nvip4]) == 1)
			nvip4++;
		else {
			fprintf(stderr, "pktfuzz: bad address '%s'\n", tok);
			exit(2);
		}
	}
}

static void read_conns(const char *file)
{
	FILE *f = fopen(file, "r");
	char proto[8], ca[64], va[64], ra[64];
	unsigned cp, vp, rp;
	if (!f)
		die(file);
	while (nconns < MAXCONN && fscanf(f, "%7s %63s %u %63s %u %63s %u", proto, ca, &cp, va, &vp, ra, &rp) == 7) {
		struct conn *c = &conns[nconns];
		c->udp = !strcmp(proto, "udp");
		c->v6 = strchr(ca, ':') != NULL;
		int af = c->v6 ? AF_INET6 : AF_INET;
		if (inet_pton(af, ca, c->caddr) != 1 || inet_pton(af, va, c->vaddr) != 1 ||
		    inet_pton(af, ra, c->raddr) != 1)
			continue;
		c->cport = (uint16_t)cp;
		c->vport = (uint16_t)vp;
		c->rport = (uint16_t)rp;
		nconns++;
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *stats = NULL, *connfile = NULL, *corpus = NULL;
	unsigned long count = 0;
	int only = -1;
	FILE *cf = NULL;
	double secs = 10;
	long pps = 2000;
	uint64_t seed = (uint64_t)time(NULL);
	int opt, fd;
	struct sockaddr_ll sll;
	static uint8_t frame[sizeof(struct virtio_net_hdr) + 14 + MAXPKT];

	while ((opt = getopt(argc, argv, "i:m:tT:r:S:4:6:p:c:o:w:n:k:")) != -1) {
		switch (opt) {
		case 'i': ifname = optarg; break;
		case 'm': if (parse_mac(optarg, dstmac)) { fprintf(stderr, "bad MAC\n"); return 2; } break;
		case 't': tap = 1; break;
		case 'T': secs = atof(optarg); break;
		case 'r': pps = atol(optarg); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case '4': parse_list(optarg, 0); break;
		case '6': parse_list(optarg, 1); break;
		case 'p': port = (uint16_t)atoi(optarg); break;
		case 'c': connfile = optarg; break;
		case 'o': stats = optarg; break;
		case 'w': corpus = optarg; break;
		case 'n': count = strtoul(optarg, NULL, 0); break;
		case 'k':
			for (int i = 0; i < K_NKINDS; i++)
				if (!strcmp(optarg, kind_name[i]))
					only = i;
			if (only < 0) { fprintf(stderr, "pktfuzz: unknown kind '%s'\n", optarg); return 2; }
			break;
		default:
			fprintf(stderr, "usage: pktfuzz -i IF -m DSTMAC [-t] -T SECS [-r PPS] [-S SEED] -4 VIPS -6 VIPS [-p PORT] [-c CONNS] [-o STATS]\n");
			return 2;
		}
	}
	if (corpus) {
		cf = fopen(corpus, "wb");
		if (!cf)
			die(corpus);
		ifname = "-";
		secs = 1e9;
		pps = 0;
	}
	if (!ifname || !nvip4 || !nvip6) {
		fprintf(stderr, "pktfuzz: -i, -4 and -6 are required\n");
		return 2;
	}
	rng = seed * 0x9E3779B97F4A7C15ULL + 1;
	if (connfile)
		read_conns(connfile);
	printf("seed %llu conns %d\n", (unsigned long long)seed, nconns);

	if (corpus) {
		fd = -1;
	} else if (tap) {
		struct ifreq ifr;
		fd = open("/dev/net/tun", O_RDWR);
		if (fd < 0)
			die("/dev/net/tun");
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
		if (ioctl(fd, TUNSETIFF, &ifr) < 0)
			die("TUNSETIFF");
		int hs = sizeof(struct virtio_net_hdr);
		if (ioctl(fd, TUNSETVNETHDRSZ, &hs) < 0)
			die("TUNSETVNETHDRSZ");
		unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;
		if (ioctl(fd, TUNSETOFFLOAD, off) < 0 && ioctl(fd, TUNSETOFFLOAD, off & ~(TUN_F_USO4 | TUN_F_USO6)) < 0)
			die("TUNSETOFFLOAD");
	} else {
		fd = socket(AF_PACKET, SOCK_RAW, 0);
		if (fd < 0)
			die("socket(AF_PACKET)");
		memset(&sll, 0, sizeof(sll));
		sll.sll_family = AF_PACKET;
		sll.sll_ifindex = (int)if_nametoindex(ifname);
		if (!sll.sll_ifindex)
			die(ifname);
		sll.sll_halen = 6;
		memcpy(sll.sll_addr, dstmac, 6);
	}

	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned long n = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
		if (el >= secs)
			break;
		if (pps > 0 && (double)n > el * (double)pps) {
			usleep(1000);
			continue;
		}
		size_t vhl = tap ? sizeof(struct virtio_net_hdr) : 0;
		struct virtio_net_hdr *vh = (struct virtio_net_hdr *)frame;
		uint8_t *eth = frame + vhl, *ip = eth + 14;
		int v6 = chance(50);
		enum kind k;
		size_t len;
		if (tap)
			memset(vh, 0, sizeof(*vh));
		do
			k = only >= 0 ? (enum kind)only : (enum kind)below(K_NKINDS);
		while (!tap && (k == K_GSO || k == K_NONLINEAR) && only < 0);
		if (k == K_GSO || k == K_NONLINEAR)
			len = build_gso(ip, vh, v6, k == K_GSO);
		else if (k == K_ICMP_GARBAGE || k == K_ICMP_CONN || k == K_ICMP_FWD)
			len = build_icmp(ip, k, v6, 3000);
		else if (v6)
			len = build6(ip, k, 3000);
		else
			len = build4(ip, k, 3000);
		memcpy(eth, dstmac, 6);
		memcpy(eth + 6, srcmac, 6);
		put16(eth + 12, v6 ? ETH_P_IPV6 : ETH_P_IP);
		ssize_t r;
		if (cf) {
			uint32_t l32 = (uint32_t)len;
			uint8_t fam = v6 ? 6 : 4;
			fwrite(&l32, 4, 1, cf);
			fwrite(&fam, 1, 1, cf);
			fwrite(ip, 1, len, cf);
			sent[k]++;
			if (++n >= count)
				break;
			continue;
		}
		if (tap)
			r = write(fd, frame, vhl + 14 + len);
		else
			r = sendto(fd, eth, 14 + len, 0, (struct sockaddr *)&sll, sizeof(sll));
		if (r < 0)
			send_errors++;
		else
			sent[k]++;
		n++;
	}

	FILE *out = stats ? fopen(stats, "w") : NULL;
	unsigned long total = 0;
	for (int i = 0; i < K_NKINDS; i++) {
		if (!tap && (i == K_GSO || i == K_NONLINEAR))
			continue;
		printf("sent %s %lu\n", kind_name[i], sent[i]);
		if (out)
			fprintf(out, "sent %s %lu\n", kind_name[i], sent[i]);
		total += sent[i];
	}
	printf("send_errors %lu\ntotal %lu\n", send_errors, total);
	if (out) {
		fprintf(out, "send_errors %lu\ntotal %lu\n", send_errors, total);
		fclose(out);
	}
	if (cf)
		fclose(cf);
	if (fd >= 0)
		close(fd);
	return 0;
}
