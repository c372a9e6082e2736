/* Fixed-client golden values for sh.rs / mh.rs unit tests, from the unmodified C. */
#include "shim.h"
#include <stdio.h>
struct ip_vs_scheduler *cref_sh_b8(void), *cref_mh_i12(void);
struct ip_vs_dest *cref_mh_i12_slot(struct ip_vs_service *, int);
static struct ip_vs_service svc;
static struct ip_vs_dest dests[8];
static int idx(struct ip_vs_dest *d) {
	struct ip_vs_dest *p; int i = 0;
	if (!d) return -1;
	list_for_each_entry(p, &svc.destinations, n_list) { if (p == d) return i; i++; }
	return -2;
}
static void setup(struct ip_vs_scheduler *s, int n, const int *w) {
	memset(&svc, 0, sizeof(svc)); INIT_LIST_HEAD(&svc.destinations); svc.af = AF_INET;
	s->init_service(&svc);
	/* list order 0..n-1: add in reverse (list_add_rcu puts each at the head) */
	for (int i = n - 1; i >= 0; i--) {
		struct ip_vs_dest *d = &dests[i]; memset(d, 0, sizeof(*d));
		d->addr.bytes[0] = 10; d->addr.bytes[3] = i + 1; d->port = htons(80);
		atomic_set(&d->weight, w[i]); atomic_set(&d->last_weight, w[i]);
		list_add_rcu(&d->n_list, &svc.destinations); svc.num_dests++;
		s->add_dest(&svc, d);
	}
}
static int q(struct ip_vs_scheduler *s, unsigned char a, unsigned char b, unsigned char c, unsigned char e, unsigned port) {
	struct ip_vs_iphdr iph; unsigned char ports[4] = { port >> 8, port, 0, 80 }; struct sk_buff skb = { ports };
	memset(&iph, 0, sizeof(iph)); iph.protocol = IPPROTO_TCP;
	iph.saddr.bytes[0] = a; iph.saddr.bytes[1] = b; iph.saddr.bytes[2] = c; iph.saddr.bytes[3] = e;
	return idx(s->schedule(&svc, &skb, &iph));
}
static const unsigned char cl[5][4] = { {192,168,1,10}, {10,0,0,1}, {172,16,5,4}, {8,8,8,8}, {203,0,113,77} };
static void run(const char *name, struct ip_vs_scheduler *s) {
	static const int w[3] = { 1, 2, 3 };
	setup(s, 3, w);
	printf("%s plain:", name); for (int i = 0; i < 5; i++) printf(" %d", q(s, cl[i][0], cl[i][1], cl[i][2], cl[i][3], 12345)); printf("\n");
	svc.flags = IP_VS_SVC_F_SCHED2;
	printf("%s port 12345:", name); for (int i = 0; i < 5; i++) printf(" %d", q(s, cl[i][0], cl[i][1], cl[i][2], cl[i][3], 12345)); printf("\n");
	svc.flags = 0; dests[2].flags = IP_VS_DEST_F_OVERLOAD;
	printf("%s dest2 overloaded:", name); for (int i = 0; i < 5; i++) printf(" %d", q(s, cl[i][0], cl[i][1], cl[i][2], cl[i][3], 12345)); printf("\n");
	svc.flags = IP_VS_SVC_F_SCHED1;
	printf("%s dest2 overloaded, fallback:", name); for (int i = 0; i < 5; i++) printf(" %d", q(s, cl[i][0], cl[i][1], cl[i][2], cl[i][3], 12345)); printf("\n");
	dests[2].flags = 0;
}
int main(void) {
	run("sh", cref_sh_b8());
	run("mh", cref_mh_i12());
	int c[3] = {0};
	for (int i = 0; i < 4093; i++) c[idx(cref_mh_i12_slot(&svc, i))]++;
	printf("mh counts: %d %d %d; first 12 entries:", c[0], c[1], c[2]);
	for (int i = 0; i < 12; i++) printf(" %d", idx(cref_mh_i12_slot(&svc, i)));
	printf("\n");
	return 0;
}
