/* Differential trace generator: drives the unmodified Linux 6.12 IPVS schedulers
 * (net/netfilter/ipvs/ip_vs_{rr,wrr,lc,wlc,sh,mh}.c, then
 * ip_vs_{dh,sed,nq,fo,ovf,twos,lblc,lblcr}.c, compiled against shim/shim.h)
 * through random scenarios the way ip_vs_ctl.c does, and prints every operation and
 * every scheduling result. The Rust side replays the script and must agree exactly.
 *
 * usage: driver <seed> <scenarios-per-kind> [<scenarios-per-new-kind>]
 *
 * The first six schedulers run first, with the RNG exactly as before the other eight were
 * added (so their part of the trace is unchanged); the eight follow (scenario2()).
 *
 * Script lines (indices are list positions, 0 = first after the list head):
 *   S <kind> <param> <af> <flags>   new service, scheduler bound with no dests
 *   A <addr-hex32> <port> <weight>  add dest (list_add_rcu: at the head, index 0)
 *   D <idx>                         delete dest
 *   U <idx> <weight>                edit dest weight
 *   O <idx> <0|1>                   set/clear IP_VS_DEST_F_OVERLOAD (no scheduler hook)
 *   C <idx> <active> <total>        set activeconns/totalconns
 *   F <flags>                       change svc->flags (no scheduler hook)
 *   I                               rebind the scheduler (done_service + init_service)
 *   P <addr-hex32> <proto> <sport> <result>   schedule one packet; result = idx or -1
 *   T <len> <fnv64-hex> [idx...]    lookup table (sh/mh/dh) as dest indices, -1 = NULL;
 *                                   the entries are listed when len <= 16
 *
 * Only in the scenarios of the eight later schedulers (destinations have ids 0, 1, ... in
 * the order of their A lines within a scenario; a deleted one stays in a trash, as C's
 * ip_vs_dest_trash keeps a destination something still holds):
 *   S <kind> <param> <af> <flags> <jiffies> <expiration>   new service (jiffies at bind,
 *                                   lblc_expiration = lblcr_expiration in jiffies)
 *   P ... <result> [rand...]        as above; the address is both saddr and daddr; twos
 *                                   lists the get_random_u32_below() results it drew
 *   R <id> <weight>                 revive a deleted dest from the trash (add at the head)
 *   K <id> <active> <total>         set the counters of a deleted dest
 *   J <dt>                          advance jiffies by dt; the timers that fall due print:
 *   X <jiffies>                     the service's periodic timer ran (check_expire) at jiffies
 *   Y <expiration>                  set lblc_expiration and lblcr_expiration (jiffies)
 *   L <entries> <walked> <rover> <counter> <fnv64-hex>   lblc/lblcr table after a P, X or I
 *                                   (tbl->entries, entries found in the buckets, rover,
 *                                   counter, FNV-1a of every entry in bucket/list order:
 *                                   see build.sh)
 */
#include "shim.h"
#include <stdio.h>
#include <inttypes.h>

struct ip_vs_scheduler *cref_rr(void), *cref_wrr(void), *cref_lc(void), *cref_wlc(void);
struct ip_vs_scheduler *cref_sh_b4(void), *cref_sh_b8(void), *cref_sh_b10(void);
struct ip_vs_scheduler *cref_mh_i8(void), *cref_mh_i12(void), *cref_mh_i16(void);
int cref_sh_b4_size(void), cref_sh_b8_size(void), cref_sh_b10_size(void);
int cref_mh_i8_size(void), cref_mh_i12_size(void), cref_mh_i16_size(void);
struct ip_vs_dest *cref_sh_b4_slot(struct ip_vs_service *, int);
struct ip_vs_dest *cref_sh_b8_slot(struct ip_vs_service *, int);
struct ip_vs_dest *cref_sh_b10_slot(struct ip_vs_service *, int);
struct ip_vs_dest *cref_mh_i8_slot(struct ip_vs_service *, int);
struct ip_vs_dest *cref_mh_i12_slot(struct ip_vs_service *, int);
struct ip_vs_dest *cref_mh_i16_slot(struct ip_vs_service *, int);

/* jiffies, the one armed timer, and the recorded random numbers (shim.h) */
unsigned long jiffies;
struct net init_net;
int init_user_ns;
static struct timer_list *armed_timer;
void cref_timer_armed(struct timer_list *t) { armed_timer = t; }
void cref_timer_shutdown(struct timer_list *t) { if (armed_timer == t) armed_timer = NULL; }
static u32 rand_log[8];
static int rand_n;
static uint64_t rnd(void);
u32 cref_random_u32_below(u32 ceil)
{
	u32 v = ceil ? (u32)(rnd() % ceil) : 0;

	if (rand_n < 8)
		rand_log[rand_n++] = v;
	return v;
}
u64 cref_fnv(u64 h, const void *p, int n)
{
	const unsigned char *b = p;

	for (int i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}
static unsigned below(unsigned n) { return n ? (unsigned)(rnd() % n) : 0; }

static struct ip_vs_service svc;
static struct netns_ipvs ns;
static int next_id;
static struct ip_vs_scheduler *sched;
static int (*tab_size)(void);
static struct ip_vs_dest *(*tab_slot)(struct ip_vs_service *, int);

static int index_of(struct ip_vs_dest *d)
{
	struct ip_vs_dest *p;
	int i = 0;

	if (!d)
		return -1;
	list_for_each_entry(p, &svc.destinations, n_list) {
		if (p == d)
			return i;
		i++;
	}
	return -2; /* not in the list: stale */
}

static struct ip_vs_dest *at(int idx)
{
	struct ip_vs_dest *p;
	int i = 0;

	list_for_each_entry(p, &svc.destinations, n_list)
		if (i++ == idx)
			return p;
	abort();
}

static void hex(const unsigned char *b)
{
	for (int i = 0; i < 16; i++)
		printf("%02x", b[i]);
}

static void dump_table(void)
{
	int n, i;
	uint64_t h = 0xcbf29ce484222325ULL;

	if (!tab_size)
		return;
	n = tab_size();
	for (i = 0; i < n; i++) {
		int32_t v = index_of(tab_slot(&svc, i));
		for (int k = 0; k < 4; k++) {
			h ^= (uint8_t)((uint32_t)v >> (8 * k));
			h *= 0x100000001b3ULL;
		}
	}
	printf("T %d %016" PRIx64, n, h);
	if (n <= 16)
		for (i = 0; i < n; i++)
			printf(" %d", index_of(tab_slot(&svc, i)));
	printf("\n");
}

static void rand_addr(union nf_inet_addr *a, int af, int mixed_ok)
{
	memset(a, 0, sizeof(*a));
	if (af == AF_INET6 || (mixed_ok && below(8) == 0)) {
		for (int i = 0; i < 16; i++)
			a->bytes[i] = rnd();
		if (below(2)) {	/* a "typical" 2001:db8::x address */
			memset(a->bytes, 0, 16);
			a->bytes[0] = 0x20; a->bytes[1] = 0x01; a->bytes[2] = 0x0d; a->bytes[3] = 0xb8;
			a->bytes[15] = below(64);
		}
	} else {
		if (below(2)) {
			a->bytes[0] = 10; a->bytes[1] = 0; a->bytes[2] = below(4); a->bytes[3] = below(256);
		} else {
			for (int i = 0; i < 4; i++)
				a->bytes[i] = rnd();
		}
	}
}

static int rand_weight(void)
{
	switch (below(10)) {
	case 0: return 0;
	case 1: return below(65536);
	case 2: return 1 << below(20);
	case 3: return below(4) * 6;
	default: return 1 + below(8);
	}
}

static void op_add(int w)
{
	struct ip_vs_dest *d = calloc(1, sizeof(*d));
	int af = svc.af;

	rand_addr(&d->addr, af, 1);
	d->af = af;
	d->id = next_id++;
	d->cflags = IP_VS_DEST_CF_AVAILABLE;
	d->port = htons(below(4) ? 80 : below(65536));
	/* __ip_vs_update_dest(add = 1) */
	atomic_set(&d->last_weight, w);
	atomic_set(&d->weight, w);
	list_add_rcu(&d->n_list, &svc.destinations);
	svc.num_dests++;
	if (sched->add_dest)
		sched->add_dest(&svc, d);
	printf("A ");
	hex(d->addr.bytes);
	printf(" %u %d\n", ntohs(d->port), w);
}

static void op_upd(int idx, int w)
{
	struct ip_vs_dest *d = at(idx);

	if (w != 0)
		atomic_set(&d->last_weight, w);
	atomic_set(&d->weight, w);
	if (sched->upd_dest)
		sched->upd_dest(&svc, d);
	printf("U %d %d\n", idx, w);
}

static void op_del(int idx)
{
	struct ip_vs_dest *d = at(idx);

	list_del_rcu(&d->n_list);
	d->cflags &= ~IP_VS_DEST_CF_AVAILABLE;
	svc.num_dests--;
	if (sched->del_dest)
		sched->del_dest(&svc, d);
	printf("D %d\n", idx);
	/* d is leaked on purpose: tables may still point at it until reassigned */
}

static void op_packet(void)
{
	union nf_inet_addr a;
	struct ip_vs_iphdr iph;
	unsigned char ports[4];
	struct sk_buff skb = { ports };
	static const int protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, 1, 58 };
	int proto = protos[below(5)];
	unsigned sport = below(65536);
	struct ip_vs_dest *d;

	rand_addr(&a, svc.af, 0);
	if (svc.af == AF_INET)	/* only .ip is meaningful for IPv4: fill the rest with junk */
		for (int i = 4; i < 16; i++)
			a.bytes[i] = rnd();
	memset(&iph, 0, sizeof(iph));
	iph.saddr = a;
	iph.protocol = proto;
	iph.len = 0;
	ports[0] = sport >> 8; ports[1] = sport; ports[2] = 0; ports[3] = 80;
	d = sched->schedule(&svc, &skb, &iph);
	printf("P ");
	hex(a.bytes);
	printf(" %d %u %d\n", proto, sport, index_of(d));
}

static void scenario(const char *kind, int param, struct ip_vs_scheduler *s,
		     int (*sz)(void), struct ip_vs_dest *(*sl)(struct ip_vs_service *, int))
{
	int nops = 50 + below(250);
	int maxd = 1 + below(below(4) ? 8 : 40);

	memset(&svc, 0, sizeof(svc));
	INIT_LIST_HEAD(&svc.destinations);
	next_id = 0;
	svc.af = below(3) ? AF_INET : AF_INET6;
	svc.flags = below(8) << 3;
	sched = s;
	tab_size = sz;
	tab_slot = sl;
	printf("S %s %d %d %u\n", kind, param, svc.af == AF_INET ? 4 : 6, svc.flags);
	if (sched->init_service)
		sched->init_service(&svc);
	dump_table();

	for (int i = 0; i < nops; i++) {
		int r = below(100);
		int n = svc.num_dests;

		if (n == 0 || (r < 12 && n < maxd)) {
			op_add(rand_weight());
			dump_table();
		} else if (r < 16) {
			op_del(below(n));
			dump_table();
		} else if (r < 24) {
			op_upd(below(n), rand_weight());
			dump_table();
		} else if (r < 30) {
			int idx = below(n), on = below(3) == 0;
			struct ip_vs_dest *d = at(idx);

			d->flags = on ? IP_VS_DEST_F_OVERLOAD : 0;
			printf("O %d %d\n", idx, on);
		} else if (r < 36) {
			int idx = below(n);
			struct ip_vs_dest *d = at(idx);
			int act = below(4) ? below(20) : (int)rnd();
			int tot = below(4) ? act + below(50) : (int)rnd();

			atomic_set(&d->activeconns, act);
			atomic_set(&d->totalconns, tot);
			printf("C %d %d %d\n", idx, act, tot);
		} else if (r < 38) {
			svc.flags = below(8) << 3;
			printf("F %u\n", svc.flags);
		} else if (r < 39) {
			if (sched->done_service)
				sched->done_service(&svc);
			if (sched->init_service)
				sched->init_service(&svc);
			printf("I\n");
			dump_table();
		} else {
			op_packet();
		}
	}
	printf("E\n");
}


/* ---- the eight later schedulers ---- */

static void (*state_dump)(struct ip_vs_service *);
static struct ip_vs_dest *trash[512];
static int ntrash;
static int pool;

static void op_del2(int idx)
{
	struct ip_vs_dest *d = at(idx);

	op_del(idx);
	if (ntrash < 512)
		trash[ntrash++] = d;
}

/* ip_vs_add_dest() finding the dest in the trash: __ip_vs_update_dest(add = 1) */
static void op_revive(int t, int w)
{
	struct ip_vs_dest *d = trash[t];

	trash[t] = trash[--ntrash];
	atomic_set(&d->last_weight, w);
	atomic_set(&d->weight, w);
	d->cflags |= IP_VS_DEST_CF_AVAILABLE;
	list_add_rcu(&d->n_list, &svc.destinations);
	svc.num_dests++;
	if (sched->add_dest)
		sched->add_dest(&svc, d);
	printf("R %d %d\n", d->id, w);
}

static void dump_state(void)
{
	if (state_dump)
		state_dump(&svc);
}

static void op_packet2(void)
{
	union nf_inet_addr a;
	struct ip_vs_iphdr iph;
	unsigned char ports[4];
	struct sk_buff skb = { ports };
	static const int protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, 1, 58 };
	int proto = protos[below(5)];
	unsigned sport = below(65536);
	struct ip_vs_dest *d;

	if (pool && below(8)) {	/* a recurring destination address */
		int k = below(pool);

		memset(&a, 0, sizeof(a));
		if (svc.af == AF_INET) {
			a.bytes[0] = 10; a.bytes[1] = 1; a.bytes[2] = k >> 8; a.bytes[3] = k;
		} else {
			a.bytes[0] = 0x20; a.bytes[1] = 0x01; a.bytes[2] = 0x0d; a.bytes[3] = 0xb8;
			a.bytes[14] = k >> 8; a.bytes[15] = k;
		}
	} else {
		rand_addr(&a, svc.af, 0);
	}
	if (svc.af == AF_INET)	/* only .ip is meaningful for IPv4: fill the rest with junk */
		for (int i = 4; i < 16; i++)
			a.bytes[i] = rnd();
	memset(&iph, 0, sizeof(iph));
	iph.saddr = a;
	iph.daddr = a;
	iph.protocol = proto;
	ports[0] = sport >> 8; ports[1] = sport; ports[2] = 0; ports[3] = 80;
	rand_n = 0;
	d = sched->schedule(&svc, &skb, &iph);
	printf("P ");
	hex(a.bytes);
	printf(" %d %u %d", proto, sport, index_of(d));
	for (int i = 0; i < rand_n; i++)
		printf(" %u", rand_log[i]);
	printf("\n");
	dump_state();
}

/* Time passes: the service's timer runs whenever it falls due, at its expiry time. */
static void op_time(unsigned long dt)
{
	unsigned long target = jiffies + dt;

	printf("J %lu\n", dt);
	while (armed_timer && (long)(target - armed_timer->expires) >= 0) {
		struct timer_list *t = armed_timer;

		jiffies = t->expires;
		armed_timer = NULL;
		t->armed = 0;
		t->function(t);
		printf("X %lu\n", jiffies);
		dump_state();
	}
	jiffies = target;
}

static int rand_expiration(void)
{
	switch (below(6)) {
	case 0: return 24 * 60 * 60 * HZ;	/* DEFAULT_EXPIRATION */
	case 1: return -(int)below(600 * HZ);
	case 2: return below(3);
	default: return below(20 * 60 * HZ);
	}
}

static unsigned long rand_dt(void)
{
	switch (below(8)) {
	case 0: return below(3 * 60 * 60 * HZ);
	case 1: return below(HZ);
	case 2: return 60 * HZ;
	default: return below(6 * 60 * HZ);
	}
}

static void scenario2(const char *kind, int param, struct ip_vs_scheduler *s,
		      int (*sz)(void), struct ip_vs_dest *(*sl)(struct ip_vs_service *, int),
		      void (*dump)(struct ip_vs_service *))
{
	int nops = 50 + below(dump ? 450 : 250);
	int maxd = 1 + below(below(4) ? 8 : 40);

	memset(&svc, 0, sizeof(svc));
	INIT_LIST_HEAD(&svc.destinations);
	svc.ipvs = &ns;
	next_id = 0;
	ntrash = 0;
	armed_timer = NULL;
	pool = below(4) ? 1 + below(below(2) ? 16 : 200) : 0;
	svc.af = below(3) ? AF_INET : AF_INET6;
	svc.flags = below(8) << 3;
	/* 64-bit INITIAL_JIFFIES with HZ=250, or just before the wrap of unsigned long */
	jiffies = below(2) ? 4294892296UL : (unsigned long)0 - below(2000 * HZ);
	ns.sysctl_lblc_expiration = ns.sysctl_lblcr_expiration = rand_expiration();
	sched = s;
	tab_size = sz;
	tab_slot = sl;
	state_dump = dump;
	printf("S %s %d %d %u %lu %d\n", kind, param, svc.af == AF_INET ? 4 : 6, svc.flags,
	       jiffies, ns.sysctl_lblc_expiration);
	if (sched->init_service)
		sched->init_service(&svc);
	dump_table();
	dump_state();

	for (int i = 0; i < nops; i++) {
		int r = below(100);
		int n = svc.num_dests;

		if (n == 0 || (r < 10 && n < maxd)) {
			if (ntrash && below(3) == 0)
				op_revive(below(ntrash), rand_weight());
			else
				op_add(rand_weight());
			dump_table();
		} else if (r < 14) {
			op_del2(below(n));
			dump_table();
		} else if (r < 20) {
			op_upd(below(n), rand_weight());
			dump_table();
		} else if (r < 25) {
			int idx = below(n), on = below(3) == 0;
			struct ip_vs_dest *d = at(idx);

			d->flags = on ? IP_VS_DEST_F_OVERLOAD : 0;
			printf("O %d %d\n", idx, on);
		} else if (r < 33) {
			int idx = below(n);
			struct ip_vs_dest *d = at(idx);
			int act = below(8) ? below(20) : (int)rnd();
			int tot = below(8) ? act + below(50) : (int)rnd();

			atomic_set(&d->activeconns, act);
			atomic_set(&d->totalconns, tot);
			printf("C %d %d %d\n", idx, act, tot);
		} else if (r < 35 && ntrash) {
			struct ip_vs_dest *d = trash[below(ntrash)];
			int act = below(20), tot = act + below(50);

			atomic_set(&d->activeconns, act);
			atomic_set(&d->totalconns, tot);
			printf("K %d %d %d\n", d->id, act, tot);
		} else if (r < 36) {
			svc.flags = below(8) << 3;
			printf("F %u\n", svc.flags);
		} else if (r < 37) {
			if (sched->done_service)
				sched->done_service(&svc);
			if (sched->init_service)
				sched->init_service(&svc);
			printf("I\n");
			dump_table();
			dump_state();
		} else if (r < 42) {
			op_time(rand_dt());
		} else if (r < 43) {
			ns.sysctl_lblc_expiration = ns.sysctl_lblcr_expiration = rand_expiration();
			printf("Y %d\n", ns.sysctl_lblc_expiration);
		} else if (dump && below(12) == 0) {
			/* a burst of packets: fills the table past max_size (2 bits: 64) */
			for (int k = below(80); k >= 0; k--)
				op_packet2();
		} else {
			op_packet2();
		}
	}
	if (sched->done_service)
		sched->done_service(&svc);
	armed_timer = NULL;
	printf("E\n");
}

struct ip_vs_scheduler *cref_sed(void), *cref_nq(void), *cref_fo(void), *cref_ovf(void),
	*cref_twos(void), *cref_dh_b4(void), *cref_dh_b8(void), *cref_lblc_b2(void),
	*cref_lblc_b10(void), *cref_lblcr_b2(void), *cref_lblcr_b10(void);
int cref_dh_b4_size(void), cref_dh_b8_size(void);
struct ip_vs_dest *cref_dh_b4_slot(struct ip_vs_service *, int);
struct ip_vs_dest *cref_dh_b8_slot(struct ip_vs_service *, int);
void cref_lblc_b2_dump(struct ip_vs_service *), cref_lblc_b10_dump(struct ip_vs_service *);
void cref_lblcr_b2_dump(struct ip_vs_service *), cref_lblcr_b10_dump(struct ip_vs_service *);

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	int per_kind = argc > 2 ? atoi(argv[2]) : 50;
	int per_new = argc > 3 ? atoi(argv[3]) : 0;

	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	for (int k = 0; k < per_kind; k++) {
		scenario("rr", 0, cref_rr(), NULL, NULL);
		scenario("wrr", 0, cref_wrr(), NULL, NULL);
		scenario("lc", 0, cref_lc(), NULL, NULL);
		scenario("wlc", 0, cref_wlc(), NULL, NULL);
		scenario("sh", 8, cref_sh_b8(), cref_sh_b8_size, cref_sh_b8_slot);
		scenario("sh", 4, cref_sh_b4(), cref_sh_b4_size, cref_sh_b4_slot);
		scenario("sh", 10, cref_sh_b10(), cref_sh_b10_size, cref_sh_b10_slot);
		scenario("mh", 12, cref_mh_i12(), cref_mh_i12_size, cref_mh_i12_slot);
		scenario("mh", 8, cref_mh_i8(), cref_mh_i8_size, cref_mh_i8_slot);
		if (k % 8 == 0)
			scenario("mh", 16, cref_mh_i16(), cref_mh_i16_size, cref_mh_i16_slot);
	}
	for (int k = 0; k < 2 * per_new; k++) {
		scenario2("sed", 0, cref_sed(), NULL, NULL, NULL);
		scenario2("nq", 0, cref_nq(), NULL, NULL, NULL);
		scenario2("fo", 0, cref_fo(), NULL, NULL, NULL);
		scenario2("ovf", 0, cref_ovf(), NULL, NULL, NULL);
		scenario2("twos", 0, cref_twos(), NULL, NULL, NULL);
		scenario2("dh", 8, cref_dh_b8(), cref_dh_b8_size, cref_dh_b8_slot, NULL);
		scenario2("dh", 4, cref_dh_b4(), cref_dh_b4_size, cref_dh_b4_slot, NULL);
		if (k % 2)
			continue;
		scenario2("lblc", 2, cref_lblc_b2(), NULL, NULL, cref_lblc_b2_dump);
		scenario2("lblcr", 2, cref_lblcr_b2(), NULL, NULL, cref_lblcr_b2_dump);
		scenario2("lblc", 2, cref_lblc_b2(), NULL, NULL, cref_lblc_b2_dump);
		scenario2("lblcr", 2, cref_lblcr_b2(), NULL, NULL, cref_lblcr_b2_dump);
		scenario2("lblc", 10, cref_lblc_b10(), NULL, NULL, cref_lblc_b10_dump);
		scenario2("lblcr", 10, cref_lblcr_b10(), NULL, NULL, cref_lblcr_b10_dump);
	}
	return 0;
}
