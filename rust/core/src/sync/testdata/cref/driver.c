/* Drives functions cut unmodified out of ip_vs_sync.c (see build.sh) and prints what they
 * did; ../../c_ref_tests.rs replays the output against ipvs_core::sync. Fixed seed, so the
 * output is reproducible. Records ('#' = comment):
 *
 * Master groups, ip_vs_sync_conn() over a set of connections:
 *   M <ver> <threshold> <period> <refresh> <retries> <persist_mode> <syncid> <sync_maxlen>
 *     <jiffies>
 *   C <id> <control id|-1> <4|6> <proto> <flags> <state> <old_state> <timeout> <sync_endtime>
 *     <in_pkts> <cport> <vport> <dport> <fwmark> <caddr> <vaddr> <daddr> <6 seq words>
 *   S <id> <pkts> <jiffies>          ip_vs_sync_conn(ipvs, conn id, pkts)
 *   Q <hex>                          a message sb_queue_tail() sent (and, after the last
 *                                    S, the buffer still being filled)
 *   A <id> <old_state> <sync_endtime> <in_pkts>     every connection afterwards
 *   E
 * Backup datagrams, ip_vs_process_message() with an empty connection table (R), or with
 * one connection the lookups find (B):
 *   R <bcfg.syncid> <hex datagram>
 *   B <syncid> <flags> <dport> <daddr hex> <has dest> <hex datagram>
 * followed by what happened, in order:
 *   L <message>                      IP_VS_DBG / IP_VS_ERR_RL text
 *   X                                ip_vs_conn_expire_now() of the found connection
 *   G                                __ip_vs_conn_put() of the found connection
 *   T                                ip_vs_try_bind_dest()
 *   N <af> <proto> <flags> <cport> <vport> <dport> <fwmark> <caddr> <vaddr> <daddr> <pe data|-> <pe name|->
 *                                    ip_vs_conn_new() (ip_vs_find_dest() finds none)
 *   P <flags> <state> <old_state> <in_pkts> <timeout> <6 seq words> <activeconns delta>
 *                                    ip_vs_conn_put(): the connection as left
 *   E
 * Numbers are decimal except flags, addresses and seq words (hex). Timeouts in jiffies
 * (HZ=250); the backup's sync_threshold is 3, its protocol timeout tables are TCP (100 + s) s, UDP 300 s, SCTP
 * (200 + s) s for state s.
 */
#include "shim.h"

unsigned long jiffies;
int cref_sync_conn_needed(struct netns_ipvs *ipvs, struct ip_vs_conn *cp, int pkts);
void cref_process_message(struct netns_ipvs *ipvs, __u8 *buffer, size_t buflen);

static u64 rng = 0x2545f4914f6cdd1dull;
static u32 rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (u32)(rng >> 16); }
static u32 pick(u32 n) { return rnd() % n; }

void cref_log(const char *fmt, ...)
{
	char b[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	size_t n = strlen(b);
	while (n && b[n - 1] == '\n')
		b[--n] = 0;
	printf("L %s\n", b);
}

static void hex(const void *p, size_t n)
{
	const u8 *b = p;
	if (!n)
		printf("-");
	while (n--)
		printf("%02x", *b++);
}

/* ---- the master side ---- */

static struct netns_ipvs ipvs;
static struct ipvs_master_sync_state ms;

struct ip_vs_sync_buff {	/* the layout is ip_vs_sync.c's; only these are read here */
	struct list_head list;
	unsigned long firstuse;
	void *mesg;
	unsigned char *head;
	unsigned char *end;
};

static void print_buff(struct ip_vs_sync_buff *sb)
{
	u8 *m = sb->mesg;
	printf("Q ");
	hex(m, (size_t)(m[2] << 8 | m[3]));
	printf("\n");
	free(sb->mesg);
	free(sb);
}

void sb_queue_tail(struct netns_ipvs *ipvs, struct ipvs_master_sync_state *ms)
{
	print_buff(ms->sync_buff);
}

#define NCONN 48
static struct ip_vs_conn conns[NCONN];
static int nconn;

static void rnd_addr(union nf_inet_addr *a, int af)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < (af == AF_INET6 ? 4 : 1); i++)
		a->all[i] = rnd() ^ rnd() << 16;
}

static u16 rnd_state(int proto)
{
	switch (proto) {
	case IPPROTO_TCP: return pick(IP_VS_TCP_S_LAST);
	case IPPROTO_SCTP: return pick(IP_VS_SCTP_S_LAST);
	default: return 0;
	}
}

static struct ip_vs_conn *new_conn(int tpl)
{
	static const int protos[] = { IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, 50 };
	struct ip_vs_conn *cp = &conns[nconn];
	memset(cp, 0, sizeof(*cp));
	cp->id = nconn++;
	cp->af = pick(5) ? AF_INET : AF_INET6;
	cp->protocol = protos[pick(6)];
	cp->flags = pick(5) | (pick(2) ? IP_VS_CONN_F_HASHED : 0) | (pick(3) ? 0 : IP_VS_CONN_F_NOOUTPUT) |
		    (pick(3) ? 0 : IP_VS_CONN_F_INACTIVE) | (pick(4) ? 0 : (pick(3) + 1) << 9) |
		    (pick(8) ? 0 : IP_VS_CONN_F_NO_CPORT) | (pick(10) ? 0 : IP_VS_CONN_F_ONE_PACKET) |
		    (pick(4) ? 0 : IP_VS_CONN_F_NFCT) | (pick(20) ? 0 : IP_VS_CONN_F_SYNC);
	if (tpl)
		cp->flags |= IP_VS_CONN_F_TEMPLATE;
	cp->state = tpl ? pick(2) : rnd_state(cp->protocol);
	cp->old_state = pick(2) ? cp->state : (tpl ? pick(2) : rnd_state(cp->protocol));
	cp->timeout = (unsigned long)(1 + pick(pick(2) ? 1000 : 20)) * HZ;
	switch (pick(4)) {
	case 0: cp->sync_endtime = 0; break;
	case 1: cp->sync_endtime = ((jiffies + cp->timeout) & ~3UL) - 4 * pick(2000) + pick(4); break;
	case 2: cp->sync_endtime = jiffies + (u64)rnd() * HZ; break;
	default: cp->sync_endtime = (u64)rnd() << 32 | rnd(); break;
	}
	cp->in_pkts.counter = pick(4) ? pick(100) : (int)rnd();
	cp->cport = rnd(); cp->vport = rnd(); cp->dport = rnd();
	cp->fwmark = pick(2) ? 0 : rnd();
	rnd_addr(&cp->caddr, cp->af);
	rnd_addr(&cp->vaddr, cp->af);
	rnd_addr(&cp->daddr, cp->af);
	u32 *seq = (u32 *)&cp->sync_conn_opt;
	for (int i = 0; i < 6; i++)
		seq[i] = rnd();
	return cp;
}

static void print_conn(struct ip_vs_conn *cp)
{
	u32 *seq = (u32 *)&cp->sync_conn_opt;
	printf("C %d %d %d %u %x %u %u %lu %lu %d %u %u %u %u ", cp->id, cp->control ? cp->control->id : -1,
	       cp->af == AF_INET6 ? 6 : 4, cp->protocol, cp->flags, cp->state, cp->old_state, cp->timeout,
	       cp->sync_endtime, cp->in_pkts.counter, ntohs(cp->cport), ntohs(cp->vport), ntohs(cp->dport),
	       cp->fwmark);
	int n = cp->af == AF_INET6 ? 16 : 4;
	hex(&cp->caddr, n); printf(" "); hex(&cp->vaddr, n); printf(" "); hex(&cp->daddr, n);
	for (int i = 0; i < 6; i++)
		printf(" %x", seq[i]);
	printf("\n");
}

static void master_group(void)
{
	static const unsigned long nows[] = { 300000, 4294967296UL - 75000, -75000UL, 123456789012UL };
	static const int maxlens[] = { 1472, 1452, 1472, 100, 200, 1 };
	int i, n;

	ipvs.sync_state = IP_VS_STATE_MASTER;
	ipvs.ms = &ms;
	ms.sync_buff = NULL;
	ipvs.sysctl_sync_ver = pick(3) ? 1 : 0;
	ipvs.sysctl_sync_threshold[0] = pick(6);
	ipvs.sysctl_sync_threshold[1] = pick(3) ? 50 : pick(10);
	if (ipvs.sysctl_sync_threshold[1] && ipvs.sysctl_sync_threshold[0] >= ipvs.sysctl_sync_threshold[1])
		ipvs.sysctl_sync_threshold[0] = ipvs.sysctl_sync_threshold[1] - 1;
	ipvs.sysctl_sync_refresh_period = pick(2) ? 0 : pick(3) ? 1 + pick(1000 * HZ) : 1 + pick(30 * HZ);
	ipvs.sysctl_sync_retries = pick(4);
	ipvs.sysctl_sync_persist_mode = pick(3) == 0;
	ipvs.mcfg.syncid = pick(300);
	ipvs.mcfg.sync_maxlen = maxlens[pick(6)];
	jiffies = nows[pick(4)] + pick(1000);
	printf("M %d %d %d %u %d %d %d %d %lu\n", ipvs.sysctl_sync_ver, ipvs.sysctl_sync_threshold[0],
	       ipvs.sysctl_sync_threshold[1], ipvs.sysctl_sync_refresh_period, ipvs.sysctl_sync_retries,
	       ipvs.sysctl_sync_persist_mode, ipvs.mcfg.syncid, ipvs.mcfg.sync_maxlen, jiffies);

	nconn = 0;
	n = 4 + pick(20);
	for (i = 0; i < n; i++) {
		struct ip_vs_conn *cp = new_conn(0);
		if (pick(3) == 0 && nconn < NCONN - 2) {
			struct ip_vs_conn *ctl = new_conn(pick(4) != 0);
			cp->control = ctl;
			if (!(ctl->flags & IP_VS_CONN_F_TEMPLATE) && pick(2))
				ctl->control = new_conn(1);
		}
		if (nconn >= NCONN - 3)
			break;
	}
	for (i = 0; i < nconn; i++)
		print_conn(&conns[i]);
	n = 1 + pick(40);
	for (i = 0; i < n; i++) {
		struct ip_vs_conn *cp = &conns[pick(nconn)];
		int t = ipvs.sysctl_sync_threshold[0], p = ipvs.sysctl_sync_threshold[1];
		int pkts = pick(2) ? t : pick(2) ? t + p * (int)pick(5) : pick(3) ? (int)pick(200) : (int)rnd();
		printf("S %d %d %lu\n", cp->id, pkts, jiffies);
		ip_vs_sync_conn(&ipvs, cp, pkts);
		jiffies += pick(3) ? 0 : pick(100 * HZ);
	}
	if (ms.sync_buff)
		print_buff(ms.sync_buff);
	ms.sync_buff = NULL;
	for (i = 0; i < nconn; i++)
		printf("A %d %u %lu %d\n", i, conns[i].old_state, conns[i].sync_endtime, conns[i].in_pkts.counter);
	printf("E\n");
}

/* ---- the backup side ---- */

static struct ip_vs_conn *existing;
static struct ip_vs_dest exist_dest;
static int exist_active0;
static struct module sip_module;
static struct ip_vs_pe sip_pe = { "sip", &sip_module };

struct ip_vs_pe *__ip_vs_pe_getbyname(const char *name)
{
	return strcmp(name, "sip") ? NULL : &sip_pe;
}

static struct ip_vs_protocol protos[] = {
	{ "TCP", IPPROTO_TCP, IP_VS_TCP_S_LAST }, { "UDP", IPPROTO_UDP, IP_VS_UDP_S_LAST },
	{ "SCTP", IPPROTO_SCTP, IP_VS_SCTP_S_LAST }, { "AH", 51, 1 }, { "ESP", 50, 1 },
};
struct ip_vs_protocol *ip_vs_proto_get(unsigned short proto)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].protocol == proto)
			return &protos[i];
	return NULL;
}

static int tcp_table[IP_VS_TCP_S_LAST + 1], udp_table[IP_VS_UDP_S_LAST + 1], sctp_table[IP_VS_SCTP_S_LAST + 1];
static struct ip_vs_proto_data tcp_pd = { tcp_table }, udp_pd = { udp_table }, sctp_pd = { sctp_table }, ah_pd = { NULL };
struct ip_vs_proto_data *ip_vs_proto_data_get(struct netns_ipvs *ipvs, unsigned short proto)
{
	switch (proto) {
	case IPPROTO_TCP: return &tcp_pd;
	case IPPROTO_UDP: return &udp_pd;
	case IPPROTO_SCTP: return &sctp_pd;
	case 50: case 51: return &ah_pd;
	default: return NULL;
	}
}

struct ip_vs_conn *ip_vs_conn_in_get(const struct ip_vs_conn_param *p) { return existing; }
struct ip_vs_conn *ip_vs_ct_in_get(const struct ip_vs_conn_param *p) { return existing; }
void ip_vs_conn_expire_now(struct ip_vs_conn *cp) { printf("X\n"); }
void __ip_vs_conn_put(struct ip_vs_conn *cp) { printf("G\n"); }
void ip_vs_try_bind_dest(struct ip_vs_conn *cp) { printf("T\n"); }
struct ip_vs_dest *ip_vs_find_dest(struct netns_ipvs *ipvs, int svc_af, int dest_af,
	const union nf_inet_addr *daddr, __be16 dport, const union nf_inet_addr *vaddr,
	__be16 vport, __u16 protocol, __u32 fwmark, __u32 flags) { return NULL; }

static struct ip_vs_conn newconn;
struct ip_vs_conn *ip_vs_conn_new(const struct ip_vs_conn_param *p, int dest_af,
	const union nf_inet_addr *daddr, __be16 dport, unsigned int flags,
	struct ip_vs_dest *dest, __u32 fwmark)
{
	int n = p->af == AF_INET6 ? 16 : 4;
	printf("N %d %u %x %u %u %u %u ", p->af == AF_INET6 ? 6 : 4, p->protocol, flags, ntohs(p->cport),
	       ntohs(p->vport), ntohs(dport), fwmark);
	hex(p->caddr, n); printf(" "); hex(p->vaddr, n); printf(" "); hex(daddr, n); printf(" ");
	if (p->pe_data) {
		hex(p->pe_data, p->pe_data_len); printf(" %s\n", p->pe->name);
	} else {
		printf("- -\n");
	}
	memset(&newconn, 0, sizeof(newconn));
	newconn.flags = flags;
	newconn.id = -1;
	return &newconn;
}

void ip_vs_conn_put(struct ip_vs_conn *cp)
{
	u32 *seq = (u32 *)&cp->sync_conn_opt;
	printf("P %x %u %u %d %lu", cp->flags, cp->state, cp->old_state, cp->in_pkts.counter, cp->timeout);
	for (int i = 0; i < 6; i++)
		printf(" %x", seq[i]);
	printf(" %d\n", cp == existing ? atomic_read(&exist_dest.activeconns) - exist_active0 : 0);
	if (cp == &newconn && cp->pe_data && cp->pe_data != (char *)-1) {
		free(cp->pe_data);
	}
}

static u8 *seeds[4096];
static size_t seed_len[4096];
static int nseeds;

static void add_seed(const u8 *m, size_t n)
{
	if (nseeds < 4096) {
		seeds[nseeds] = malloc(n);
		memcpy(seeds[nseeds], m, n);
		seed_len[nseeds++] = n;
	}
}

static void put16(u8 *p, unsigned v) { p[0] = v >> 8; p[1] = v; }
static void put32(u8 *p, u32 v) { put16(p, v >> 16); put16(p + 2, v); }

/* A version 1 message with 1-3 entries carrying random options. */
static size_t crafted(u8 *m)
{
	static const int protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, 50, 51, 99 };
	size_t len = 8;
	int n = 1 + pick(3), i;
	memset(m, 0, 8);
	m[1] = pick(4); m[4] = n; m[5] = 1;
	for (i = 0; i < n; i++) {
		u8 *e;
		int v6 = pick(3) == 0, fixed = v6 ? 72 : 36, k, nopt = pick(4);
		len = (len + 3) & ~3UL;
		e = m + len;
		for (k = 0; k < fixed; k++)
			e[k] = rnd();
		e[0] = v6 ? 1 : 0;
		e[1] = protos[pick(6)];
		put32(e + 4, (pick(5) | (pick(2) ? IP_VS_CONN_F_INACTIVE : 0) | (pick(5) ? 0 : IP_VS_CONN_F_TEMPLATE) |
			      (pick(10) ? 0 : IP_VS_CONN_F_ONE_PACKET) | (pick(10) ? 0 : IP_VS_CONN_F_NO_CPORT) |
			      (pick(2) ? 0 : rnd() & 0xffff0000u)));
		put16(e + 8, pick(3) ? pick(3) : pick(16));
		size_t at = fixed;
		for (k = 0; k < nopt; k++) {
			static const char *names[] = { "sip", "sipx", "si", "si\0p", "0123456789abcdefg" };
			int t = pick(8), l;
			switch (t) {
			case 0: case 1:
				e[at] = 1 | (pick(4) ? 0 : 0x40); e[at + 1] = pick(5) ? 24 : pick(30);
				break;
			case 2: case 3:
				e[at] = 2; e[at + 1] = pick(5) ? 1 + pick(20) : 0;
				break;
			case 4: case 5: {
				const char *nm = names[pick(5)];
				l = pick(5) == 0 ? 4 : (int)strlen(nm);
				if (nm == names[4]) l = 16 + pick(2);
				e[at] = 3; e[at + 1] = l;
				memcpy(e + at + 2, nm, l);
				break;
			}
			default:
				e[at] = pick(256); e[at + 1] = pick(6);
				break;
			}
			l = e[at + 1];
			for (int q = 0; q < l && (t < 4 || t > 5); q++)
				e[at + 2 + q] = rnd();
			if (t == 0 || t == 1) memset(e + at + 2, 0, l > 4 ? 4 : l);
			at += 2 + l;
		}
		if (pick(8) == 0)
			at += pick(3);	/* trailing bytes: an option header cut short */
		memset(e + at, 0, 4);
		put16(e + 2, at);
		len += at;
	}
	put16(m + 2, len);
	return len;
}

static int backup_syncid;

static void run_backup(const u8 *m, size_t len)
{
	u8 *buf = calloc(1, len + 64);	/* zeros past the end: see decode.rs on 4..7 byte datagrams */
	memcpy(buf, m, len);
	ipvs.bcfg.syncid = backup_syncid;
	cref_process_message(&ipvs, buf, len);
	free(buf);
	printf("E\n");
}

static void receive(const u8 *m0, size_t n0)
{
	u8 m[2048];
	size_t len = n0 > 1900 ? 1900 : n0, i;
	memcpy(m, m0, len);
	switch (pick(8)) {
	case 0:
		break;
	case 1: case 2:
		for (i = 1 + pick(3); i; i--)
			m[4 + pick(len > 4 ? len - 4 : 1)] ^= 1 << pick(8);
		break;
	case 3:
		len = pick(len + 1);
		break;
	case 4:
		if (len > 4) m[len > 8 && pick(2) ? 4 : 0] = pick(8);
		break;
	case 5:
		for (i = pick(40); i; i--)
			m[len++] = pick(2) ? 0 : rnd();
		break;
	case 6: {
		static const u8 vals[] = { 0, 1, 2, 3, 0x40, 0x41, 0x43, 0xff, 24, 36, 72, 0x10 };
		if (len > 4) m[4 + pick(len - 4)] = vals[pick(12)];
		break;
	}
	default:
		if (len > 8) m[pick(8)] = pick(4);
		break;
	}
	if (pick(12) && len >= 4)
		put16(m + 2, len);
	backup_syncid = pick(4) ? 0 : pick(2) && len > 1 ? m[1] : pick(300);
	printf("R %d ", backup_syncid);
	hex(m, len);
	printf("\n");
	run_backup(m, len);
}

/* One entry against a connection the lookups find. */
static void backup_existing(void)
{
	static struct ip_vs_conn ex;
	u8 m[256];
	size_t len = crafted(m);
	u8 *e = m + 8;
	int same_port, same_addr;

	m[4] = 1;	/* only the first entry */
	if (e[0] & 1)	/* an IPv4 entry, no options */
		return;
	put16(e + 2, 36);
	len = 44;
	put16(m + 2, len);
	if (!pick(3))
		put32(e + 4, get_unaligned_be32(e + 4) & ~(IP_VS_CONN_F_ONE_PACKET | IP_VS_CONN_F_NO_CPORT));
	memset(&ex, 0, sizeof(ex));
	ex.af = AF_INET; ex.daf = AF_INET;
	ex.flags = pick(5) | (pick(2) ? IP_VS_CONN_F_INACTIVE : 0) | (pick(3) ? 0 : IP_VS_CONN_F_SEQ_MASK & rnd()) |
		   IP_VS_CONN_F_HASHED | (pick(3) ? 0 : IP_VS_CONN_F_NOOUTPUT) | (pick(2) ? 0 : IP_VS_CONN_F_NFCT) |
		   (get_unaligned_be32(e + 4) & IP_VS_CONN_F_TEMPLATE);
	same_port = pick(4) != 0; same_addr = pick(4) != 0;
	memcpy(&ex.dport, e + 14, 2);
	if (!same_port) ex.dport ^= htons(1 + pick(100));
	memcpy(&ex.daddr.ip, e + 32, 4);
	if (!same_addr) ex.daddr.ip ^= htonl(1 + pick(100));
	ex.dest = pick(4) ? &exist_dest : NULL;
	ex.state = 3; ex.old_state = 3; ex.timeout = 7;
	exist_dest.activeconns.counter = exist_active0 = 10;
	existing = &ex;
	backup_syncid = 0;
	printf("B %x %u ", ex.flags, ntohs(ex.dport));
	hex(&ex.daddr.ip, 4);
	printf(" %d ", ex.dest != NULL);
	hex(m, len);
	printf("\n");
	run_backup(m, len);
	existing = NULL;
}

int main(void)
{
	int i, s;
	for (s = 0; s <= IP_VS_TCP_S_LAST; s++) tcp_table[s] = (100 + s) * HZ;
	for (s = 0; s <= IP_VS_UDP_S_LAST; s++) udp_table[s] = 300 * HZ;
	for (s = 0; s <= IP_VS_SCTP_S_LAST; s++) sctp_table[s] = (200 + s) * HZ;

	printf("# generated by rust/core/src/sync/testdata/cref (driver.c) from unmodified Linux IPVS C\n");
	/* Master groups; their messages seed the backup's datagrams. */
	for (i = 0; i < 60; i++) {
		fflush(stdout);
		char *out = NULL; size_t outn = 0;
		FILE *saved = stdout, *mem = open_memstream(&out, &outn);
		stdout = mem;
		master_group();
		fclose(mem);
		stdout = saved;
		fputs(out, stdout);
		for (char *l = out; (l = strstr(l, "\nQ ")); l++) {
			u8 msg[70000]; size_t n = 0;
			for (char *h = l + 3; h[0] && h[0] != '\n'; h += 2) {
				unsigned v; sscanf(h, "%2x", &v); msg[n++] = v;
			}
			add_seed(msg, n);
		}
		free(out);
	}
	ipvs.sync_state = IP_VS_STATE_BACKUP;
	ipvs.sysctl_sync_threshold[0] = 3;
	for (i = 0; i < 2000; i++) {
		u8 m[2048];
		if (pick(3) == 0) {
			size_t n = crafted(m);
			receive(m, n);
		} else if (nseeds) {
			int k = pick(nseeds);
			receive(seeds[k], seed_len[k]);
		}
	}
	for (i = 0; i < 1200; i++)
		backup_existing();
	return 0;
}
