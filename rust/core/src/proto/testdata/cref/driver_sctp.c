/* Drives the unmodified ip_vs_proto_sctp.c (with include/net/sctp/checksum.h) through its
 * input space and prints what it did; ../../c_ref_sctp_tests.rs replays the output against
 * the Rust SCTP state machine, scheduling check, CRC32c and NAT handlers. Every packet is
 * printed in hex from its SCTP common header on; the driver puts 20 bytes (zeros, or
 * random bytes standing for an IP header) in front of it and passes iph->len = 20.
 * Format, one record per line ('#' = comment):
 *
 *   NSTATES <n>                               pp->num_states
 *   NAME <raw state> <name>                   sctp_state_name()
 *   TIMEOUT <state> <seconds>                 sctp_timeouts[] (incl. _LAST)
 *   TIMEOUT_CHANGE <0|1>                      pp->timeout_change is set
 *   NEXT <dir> <hex> <14 states>              new cp->state from each state (cp->flags 0, no
 *                                             dest); '-' when the connection was not touched
 *                                             (state, flags and timeout as before)
 *   STEP <dir> <cp->flags> <dest> <hex> <14 x state/flags/activedelta/timeout/assure>
 *                                             full set_sctp_state() result from each state,
 *                                             timeout_table[s] = (2000 + 11 s) * HZ
 *   SCHED <sloppy> <icmp> <256 x L|A|D>       sctp_conn_schedule() of a 16-byte packet whose
 *                                             first chunk has type 0x00..0xff: L = looked
 *                                             for a service, A = NF_ACCEPT without, D = NF_DROP
 *   SCHEDLEN <sloppy> <icmp> <len> <L|A|D>    the same for an INIT packet cut to <len> bytes
 *   CKSUM <hex> <crc>                         sctp_compute_cksum() (the __le32 as a number)
 *   CKSUMLONG <len> <crc>                     the same for a long packet whose byte k is
 *                                             (k * 131 + 7) & 0xff
 *   NAT s|d <ip_summed> <gso> <devcrc> <port> <hex> <ret> <ip_summed after> <hex after>
 *                                             sctp_snat_handler() (cp->vport = port) /
 *                                             sctp_dnat_handler() (cp->dport = port)
 *   NATFRAG s|d <hex> <ret> <ip_summed after> <untouched>
 *                                             the same for an IPv6 non-first fragment
 */
#include "shim.h"
#include <stdio.h>

int cref_assure_calls, cref_service_lookups;

void cref_sctp_transition(struct ip_vs_conn *cp, int dir, const struct sk_buff *skb, struct ip_vs_proto_data *pd,
			  unsigned int iph_len);
const char *cref_sctp_state_name(int s);
int cref_sctp_default_timeout(int s);
int cref_sctp_init(struct netns_ipvs *ipvs, struct ip_vs_proto_data *pd);
int cref_sctp_num_states(void);
int cref_sctp_has_timeout_change(void);
int cref_sctp_conn_schedule(struct netns_ipvs *ipvs, struct sk_buff *skb, struct ip_vs_proto_data *pd,
			    int *verdict, struct ip_vs_conn **cpp, struct ip_vs_iphdr *iph);
int cref_sctp_snat(struct sk_buff *skb, struct ip_vs_conn *cp, struct ip_vs_iphdr *iph);
int cref_sctp_dnat(struct sk_buff *skb, struct ip_vs_conn *cp, struct ip_vs_iphdr *iph);
u32 cref_sctp_compute_cksum(const struct sk_buff *skb, unsigned int off);

#define IPH 20
static struct netns_ipvs ipvs;
static struct ip_vs_proto_data pd;

static u64 rng = 0x2545f4914f6cdd1dull;
static u32 rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (u32)(rng >> 16); }

/* The packet: IPH bytes, then the SCTP packet of length n. */
static unsigned char buf[IPH + 70000];
static unsigned int n;

/* Hex; a run of 8 or more equal bytes as "(<byte>x<count>)"; "_" for no bytes. */
static void hex(const unsigned char *p, unsigned int len)
{
	unsigned int i, r;
	if (!len)
		putchar('_');
	for (i = 0; i < len; i += r) {
		for (r = 1; i + r < len && p[i + r] == p[i]; r++)
			;
		if (r >= 8) {
			printf("(%02xx%u)", p[i], r);
		} else {
			r = 1;
			printf("%02x", p[i]);
		}
	}
}

/* A packet with one chunk header of type t and length field len. */
static void one_chunk(int t, int len)
{
	memset(buf, 0, IPH + 16);
	buf[IPH + 0] = 0x0b; buf[IPH + 1] = 0x59;	/* 2905 -> 3868 */
	buf[IPH + 2] = 0x0f; buf[IPH + 3] = 0x1c;
	buf[IPH + 12] = t;
	buf[IPH + 14] = len >> 8; buf[IPH + 15] = len & 0xff;
	n = 16;
}

/* Random packets that exercise the COOKIE ECHO / COOKIE ACK look-ahead for ABORT. */
static void random_packet(void)
{
	static const int types[] = { 10, 11, 10, 11, 0, 1, 6, 14, 2, 9 };
	unsigned int i, clen, at;
	n = 12 + rnd() % 44;
	for (i = 0; i < IPH; i++)
		buf[i] = 0;
	for (i = 0; i < n; i++)
		buf[IPH + i] = rnd();
	if (n >= 16) {
		buf[IPH + 12] = rnd() % 4 ? types[rnd() % 10] : rnd();
		clen = rnd() % 4 ? rnd() % 32 : rnd() & 0xffff;
		buf[IPH + 14] = clen >> 8; buf[IPH + 15] = clen & 0xff;
		at = 12 + ((clen + 3) & ~3u);
		if (rnd() % 2 && at < n)
			buf[IPH + at] = 6;	/* ABORT */
	}
}

static const int cp_flags[] = {
	0,
	IP_VS_CONN_F_INACTIVE,
	IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT,
	IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_INACTIVE,
	IP_VS_CONN_F_TUNNEL | IP_VS_CONN_F_NFCT,
	IP_VS_CONN_F_TUNNEL | IP_VS_CONN_F_NFCT | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_INACTIVE,
};

static void next_record(int d)
{
	struct sk_buff skb = { .data = buf, .len = IPH + n };
	int s;
	printf("NEXT %d ", d);
	hex(buf + IPH, n);
	for (s = 0; s < IP_VS_SCTP_S_LAST; s++) {
		struct ip_vs_conn cp = { .state = s, .timeout = 12345 };
		cref_sctp_transition(&cp, d, &skb, &pd, IPH);
		if (cp.timeout == 12345 && cp.state == s && cp.flags == 0)
			printf(" -");
		else
			printf(" %d", cp.state);
	}
	putchar('\n');
}

static void step_records(void)
{
	int d, i, has_dest, s;
	for (d = 0; d < IP_VS_DIR_LAST; d++)
		for (i = 0; i < (int)(sizeof(cp_flags) / sizeof(cp_flags[0])); i++)
			for (has_dest = 0; has_dest < 2; has_dest++) {
				struct sk_buff skb = { .data = buf, .len = IPH + n };
				printf("STEP %d %x %d ", d, cp_flags[i], has_dest);
				hex(buf + IPH, n);
				for (s = 0; s < IP_VS_SCTP_S_LAST; s++) {
					struct ip_vs_dest dest = { .activeconns = { 100 } };
					struct ip_vs_conn cp = { .state = s, .flags = cp_flags[i],
								 .dest = has_dest ? &dest : NULL, .timeout = 12345 * HZ };
					cref_assure_calls = 0;
					cref_sctp_transition(&cp, d, &skb, &pd, IPH);
					printf(" %d/%x/%d/%lu/%d", cp.state, cp.flags,
					       atomic_read(&dest.activeconns) - 100, cp.timeout / HZ, cref_assure_calls);
				}
				putchar('\n');
			}
}

static char sched_one(int icmp)
{
	struct sk_buff skb = { .data = buf, .len = IPH + n };
	struct ip_vs_iphdr iph = { .len = IPH, .protocol = IPPROTO_SCTP, .hdr_flags = icmp ? 2 : 0 };
	struct ip_vs_conn *cp = NULL;
	int verdict = -1, ret;
	cref_service_lookups = 0;
	ret = cref_sctp_conn_schedule(&ipvs, &skb, &pd, &verdict, &cp, &iph);
	if (cp)
		exit(2);
	if (ret == 0 && verdict == NF_DROP && !cref_service_lookups)
		return 'D';
	if (ret == 1 && verdict == -1)
		return cref_service_lookups ? 'L' : 'A';
	exit(3);
}

static const char *csum_name(int s) { return s == 0 ? "0" : s == 1 ? "1" : s == 2 ? "2" : "3"; }

static void nat_record(int snat, int frag)
{
	static unsigned char before[IPH + 200];
	struct net_device dev = { .features = rnd() % 2 ? NETIF_F_SCTP_CRC : 0 };
	struct dst_entry dst = { .dev = &dev };
	struct sk_buff skb = { .data = buf, .len = IPH + n, .ip_summed = rnd() % 4, .gso = rnd() % 4 == 0,
			       .dst = &dst };
	struct ip_vs_iphdr iph = { .len = IPH, .protocol = IPPROTO_SCTP, .fragoffs = frag ? 8 : 0 };
	struct ip_vs_conn cp = { .af = frag ? AF_INET6 : AF_INET };
	unsigned int port = rnd() % 2 ? rnd() & 0xffff : n >= 4 ? (snat ? buf[IPH] << 8 | buf[IPH + 1]
								    : buf[IPH + 2] << 8 | buf[IPH + 3]) : 0;
	int in_summed = skb.ip_summed, ret;
	cp.vport = htons(port);
	cp.dport = htons(port);
	memcpy(before, buf, IPH + n);
	ret = snat ? cref_sctp_snat(&skb, &cp, &iph) : cref_sctp_dnat(&skb, &cp, &iph);
	if (frag) {
		printf("NATFRAG %c ", snat ? 's' : 'd');
		hex(before + IPH, n);
		printf(" %d %d %d\n", ret, skb.ip_summed == in_summed, !memcmp(before, buf, IPH + n));
		return;
	}
	if (memcmp(before, buf, IPH))
		exit(4);	/* the IP header is not the handler's business */
	printf("NAT %c %s %d %d %u ", snat ? 's' : 'd', csum_name(in_summed), skb.gso, dev.features != 0, port);
	hex(before + IPH, n);
	printf(" %d %s ", ret, csum_name(skb.ip_summed));
	hex(buf + IPH, n);
	putchar('\n');
}

int main(void)
{
	int s, d, t, i, sloppy, icmp;

	printf("# generated by rust/core/src/proto/testdata/cref (driver_sctp.c) from unmodified Linux IPVS C\n");
	if (cref_sctp_init(&ipvs, &pd))
		return 1;
	ipvs.sctp_pd = &pd;

	printf("NSTATES %d\n", cref_sctp_num_states());
	for (s = 0; s <= IP_VS_SCTP_S_LAST + 1; s++)
		printf("NAME %d %s\n", s, cref_sctp_state_name(s));
	for (s = 0; s <= IP_VS_SCTP_S_LAST; s++)
		printf("TIMEOUT %d %d\n", s, cref_sctp_default_timeout(s) / HZ);
	printf("TIMEOUT_CHANGE %d\n", cref_sctp_has_timeout_change());

	/* Every first-chunk type, then short packets, then look-ahead cases, then random. */
	for (d = 0; d < IP_VS_DIR_LAST; d++)
		for (t = 0; t < 256; t++) {
			one_chunk(t, 4);
			next_record(d);
		}
	for (d = 0; d < IP_VS_DIR_LAST; d++)
		for (i = 0; i < 16; i++) {
			one_chunk(1, 4);
			n = i;
			next_record(d);
		}
	{
		static const int firsts[] = { 10, 11, 0, 1, 6, 14 };
		static const int clens[] = { 0, 1, 3, 4, 5, 7, 8, 9, 12, 13, 16, 65535 };
		static const int seconds[] = { 6, 0, 14, 10 };
		int f, c, sec, cut;
		for (f = 0; f < 6; f++)
			for (c = 0; c < 12; c++)
				for (sec = 0; sec < 4; sec++)
					for (cut = 0; cut < 2; cut++) {
						unsigned int at = 12 + ((clens[c] + 3) & ~3);
						one_chunk(firsts[f], clens[c]);
						memset(buf + IPH + 16, 0x5a, at + 4);
						buf[IPH + at] = seconds[sec];
						n = at + 4 - cut;	/* cut: the second header one byte short */
						for (d = 0; d < IP_VS_DIR_LAST; d++)
							next_record(d);
					}
	}
	for (i = 0; i < 300; i++) {
		random_packet();
		for (d = 0; d < IP_VS_DIR_LAST; d++)
			next_record(d);
	}

	for (s = 0; s < IP_VS_SCTP_S_LAST; s++)
		pd.timeout_table[s] = (2000 + 11 * s) * HZ;
	{
		static const int types[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x40, 0x80, 0xc1, 0xff };
		for (i = 0; i < 20; i++) {
			one_chunk(types[i], 4);
			step_records();
		}
		/* COOKIE ECHO + ABORT, COOKIE ACK + ABORT, and a packet without a chunk header. */
		one_chunk(10, 6);
		buf[IPH + 20] = 6;
		n = 24;
		step_records();
		one_chunk(11, 4);
		buf[IPH + 16] = 6;
		n = 20;
		step_records();
		one_chunk(1, 4);
		n = 15;
		step_records();
	}
	cref_sctp_init(&ipvs, &pd);

	for (sloppy = 0; sloppy < 2; sloppy++)
		for (icmp = 0; icmp < 2; icmp++) {
			ipvs.sysctl_sloppy_sctp = sloppy;
			printf("SCHED %d %d ", sloppy, icmp);
			for (t = 0; t < 256; t++) {
				one_chunk(t, 4);
				putchar(sched_one(icmp));
			}
			putchar('\n');
			for (i = 0; i <= 16; i++) {
				one_chunk(1, 4);
				n = i;
				printf("SCHEDLEN %d %d %d %c\n", sloppy, icmp, i, sched_one(icmp));
			}
		}
	ipvs.sysctl_sloppy_sctp = 0;

	for (i = 0; i < 200; i++) {
		struct sk_buff skb = { .data = buf };
		unsigned int k;
		n = i < 40 ? (unsigned)i : 12 + rnd() % (i < 190 ? 200 : 70000 - 12);
		for (k = 0; k < n; k++)
			buf[IPH + k] = n < 300 ? rnd() : (k * 131 + 7) & 0xff;
		if (n < 12)
			continue;	/* sctp_compute_cksum() needs the header */
		skb.len = IPH + n;
		if (n < 300) {
			printf("CKSUM ");
			hex(buf + IPH, n);
		} else {
			printf("CKSUMLONG %u", n);	/* byte k is (k * 131 + 7) & 0xff */
		}
		printf(" %08x\n", cref_sctp_compute_cksum(&skb, IPH));
	}

	for (i = 0; i < 800; i++) {
		unsigned int k;
		n = i < 40 ? (unsigned)(i % 20) : 12 + rnd() % 90;
		for (k = 0; k < IPH + n; k++)
			buf[k] = rnd();
		nat_record(i % 2, 0);
	}
	for (i = 0; i < 8; i++) {
		unsigned int k;
		n = 12 + rnd() % 20;
		for (k = 0; k < IPH + n; k++)
			buf[k] = rnd();
		nat_record(i % 2, 1);
	}
	return 0;
}
