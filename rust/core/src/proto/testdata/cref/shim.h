/* Userspace shim: just enough of the kernel for the unmodified ip_vs_proto_tcp.c,
 * ip_vs_proto_udp.c, ip_vs_proto_sctp.c (with include/net/sctp/checksum.h) and two
 * functions cut out of ip_vs_ctl.c (ip_vs_set_timeout(), __ip_vs_get_timeouts()) to compile
 * and run. The IPVS constants are the kernel's own: build.sh pulls
 * include/uapi/linux/ip_vs.h in as is and extracts the IP_VS_TCP_S_*, IP_VS_UDP_S_*,
 * IP_VS_SCTP_S_* and IP_VS_DIR_* enums from include/net/ip_vs.h into ip_vs_enums.h, and
 * struct sctphdr, struct sctp_chunkhdr and enum sctp_cid from include/linux/sctp.h into
 * sctp_defs.h. TCP/UDP packet NAT and checksum helpers are stubbed: they are compiled,
 * never called. The SCTP NAT handlers run, on a linear skb, with a bitwise CRC32c. */
#ifndef CREF_SHIM_H
#define CREF_SHIM_H
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <arpa/inet.h>

typedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32; typedef uint64_t u64;
typedef int32_t s32; typedef int64_t s64;
typedef uint8_t __u8; typedef uint16_t __u16; typedef uint32_t __u32; typedef uint64_t __u64;
typedef int32_t __s32; typedef int64_t __s64; typedef int16_t __s16;
typedef uint16_t __be16; typedef uint32_t __be32; typedef uint16_t __sum16; typedef uint32_t __wsum;
typedef uint32_t __le32;
#define cpu_to_le32(x) ((__le32)(x))	/* x86-64 host */
#define ALIGN(x, a) (((x) + (a) - 1) & ~((typeof(x))(a) - 1))

#include "uapi_ip_vs.h"		/* the kernel's include/uapi/linux/ip_vs.h */
#include "ip_vs_enums.h"	/* enums extracted from include/net/ip_vs.h */
#include "sctp_defs.h"	/* extracted from include/linux/sctp.h */

#define HZ 250
#define CONFIG_IP_VS_IPV6 1
#define CONFIG_IP_VS_PROTO_TCP 1
#define CONFIG_IP_VS_PROTO_UDP 1
#define CONFIG_IP_VS_PROTO_SCTP 1
#define __force
#define __rcu
#define __init
#define __exit
#define unlikely(x) (x)
#define likely(x) (x)
#define INDIRECT_CALLABLE_SCOPE
#define EEXIST 17
#define ENOMEM 12
#define EINVAL 22
#define GFP_KERNEL 0
#define NF_DROP 0
#define NF_ACCEPT 1
#define CHECKSUM_NONE 0
#define CHECKSUM_UNNECESSARY 1
#define CHECKSUM_COMPLETE 2
#define CHECKSUM_PARTIAL 3
#define CSUM_MANGLED_0 ((__sum16)0xffff)
#define pr_err(...) do {} while (0)
#define IP_VS_DBG(...) do {} while (0)
#define IP_VS_DBG_BUF(...) do {} while (0)
#define IP_VS_DBG_RL_PKT(...) do {} while (0)
#define IP_VS_DBG_ADDR(af, a) ""
#define IP_VS_FWD_METHOD(cp)  (cp->flags & IP_VS_CONN_F_FWD_MASK)

typedef struct { int counter; } atomic_t;
static inline int atomic_read(const atomic_t *v) { return v->counter; }
static inline void atomic_inc(atomic_t *v) { v->counter++; }
static inline void atomic_dec(atomic_t *v) { v->counter--; }
typedef struct { int refs; } refcount_t;
static inline int refcount_read(const refcount_t *r) { return r->refs; }
typedef int spinlock_t;
#define spin_lock_bh(l) do {} while (0)
#define spin_unlock_bh(l) do {} while (0)

struct list_head { struct list_head *next, *prev; };
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(ptr, type, member) list_entry((ptr)->next, type, member)
#define list_next_entry(pos, member) list_entry((pos)->member.next, typeof(*(pos)), member)
#define list_entry_is_head(pos, head, member) (&pos->member == (head))
#define list_for_each_entry(pos, head, member) \
	for (pos = list_first_entry(head, typeof(*pos), member); \
	     !list_entry_is_head(pos, head, member); pos = list_next_entry(pos, member))
#define list_for_each_entry_rcu(pos, head, member) list_for_each_entry(pos, head, member)
static inline void list_add_rcu(struct list_head *n, struct list_head *head)
{ n->next = head->next; n->prev = head; head->next->prev = n; head->next = n; }
static inline void list_del_rcu(struct list_head *e)
{ e->next->prev = e->prev; e->prev->next = e->next; }
#define kfree(p) free(p)

union nf_inet_addr { __u32 all[4]; __be32 ip; __be32 ip6[4]; struct { __u32 a[4]; } in6; };

/* include/uapi/linux/tcp.h, __LITTLE_ENDIAN_BITFIELD (x86-64 host) */
struct tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u16 res1:4, doff:4, fin:1, syn:1, rst:1, psh:1, ack:1, urg:1, ece:1, cwr:1;
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};
struct udphdr { __be16 source, dest, len; __sum16 check; };

struct net_device { u64 features; };
#define NETIF_F_SCTP_CRC (1ull << 40)	/* any bit: only tested against dev->features */
struct dst_entry { struct net_device *dev; };
struct sk_buff {
	unsigned char *data;
	unsigned int len;
	int ip_summed;
	__wsum csum;
	__u32 mark;
	int gso;			/* skb_is_gso() */
	struct dst_entry *dst;		/* skb_dst() */
};
static inline bool skb_is_gso(const struct sk_buff *skb) { return skb->gso; }
static inline struct dst_entry *skb_dst(const struct sk_buff *skb) { return skb->dst; }
/* A linear skb: writable as far as it goes. */
static inline int skb_ensure_writable(struct sk_buff *skb, unsigned int len) { return len > skb->len ? -ENOMEM : 0; }

/* lib/crc32: the kernel's crc32c() is the raw register update (no pre/post inversion);
 * bitwise here, independent of the Rust tables. */
static inline u32 crc32c(u32 crc, const void *p, unsigned int len)
{
	const unsigned char *b = p;
	int k;
	while (len--) {
		crc ^= *b++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & -(crc & 1));
	}
	return crc;
}
static inline u32 __crc32c_le_combine(u32 a, u32 b, size_t len) { abort(); }
struct skb_checksum_ops {
	__wsum (*update)(const void *mem, int len, __wsum wsum);
	__wsum (*combine)(__wsum csum, __wsum csum2, int offset, int len);
};
static inline __wsum __skb_checksum(const struct sk_buff *skb, int offset, int len, __wsum csum,
				   const struct skb_checksum_ops *ops)
{ return ops->update(skb->data + offset, len, csum); }
static inline void *skb_header_pointer(const struct sk_buff *skb, int off, int len, void *buf)
{
	if (off < 0 || (unsigned int)(off + len) > skb->len)
		return NULL;
	memcpy(buf, skb->data + off, len);
	return buf;
}

struct ip_vs_iphdr {
	int hdr_flags;
	int len;
	__u16 fragoffs;
	__s16 protocol;
	__s32 flags;
	union nf_inet_addr saddr, daddr;
};
static inline bool ip_vs_iph_inverse(const struct ip_vs_iphdr *iph) { return iph->hdr_flags & 1; }
static inline bool ip_vs_iph_icmp(const struct ip_vs_iphdr *iph) { return iph->hdr_flags & 2; }

struct ip_vs_dest { atomic_t activeconns; };

struct ip_vs_conn;
struct ip_vs_app {
	struct list_head p_list;
	char *name;
	__be16 port;
	int (*init_conn)(struct ip_vs_app *, struct ip_vs_conn *);
};

struct netns_ipvs;
struct ip_vs_conn {
	struct netns_ipvs *ipvs;
	union nf_inet_addr caddr, vaddr, daddr;
	__be16 cport, vport, dport;
	__u16 af, daf, protocol;
	volatile __u32 flags;
	spinlock_t lock;
	refcount_t refcnt;
	struct ip_vs_dest *dest;
	struct ip_vs_conn *control;
	unsigned long timeout;
	__u16 state;
	struct ip_vs_app *app;
};

struct ip_vs_protocol {
	const char *name;
	__u16 protocol;
	__u16 num_states;
	int dont_defrag;
	void *init, *exit, *init_netns, *exit_netns, *register_app, *unregister_app;
	void *conn_schedule, *conn_in_get, *conn_out_get, *snat_handler, *dnat_handler;
	void *state_name, *state_transition, *app_conn_bind, *debug_packet, *timeout_change;
};

struct tcp_states_t;
struct ip_vs_proto_data {
	struct ip_vs_proto_data *next;
	struct ip_vs_protocol *pp;
	int *timeout_table;
	atomic_t appcnt;
	struct tcp_states_t *tcp_state_table;
};

struct netns_ipvs {
	int sysctl_sloppy_tcp;
	int sysctl_sloppy_sctp;
	struct list_head tcp_apps[16];
	struct list_head udp_apps[16];
	struct list_head sctp_apps[16];
	struct ip_vs_proto_data *tcp_pd, *udp_pd, *sctp_pd;
};
#define TCP_APP_TAB_BITS 4
#define TCP_APP_TAB_SIZE (1 << TCP_APP_TAB_BITS)
#define TCP_APP_TAB_MASK (TCP_APP_TAB_SIZE - 1)
#define UDP_APP_TAB_BITS 4
#define UDP_APP_TAB_SIZE (1 << UDP_APP_TAB_BITS)
#define UDP_APP_TAB_MASK (UDP_APP_TAB_SIZE - 1)
#define SCTP_APP_TAB_BITS 4
#define SCTP_APP_TAB_SIZE (1 << SCTP_APP_TAB_BITS)
#define SCTP_APP_TAB_MASK (SCTP_APP_TAB_SIZE - 1)
static inline int sysctl_sloppy_tcp(struct netns_ipvs *ipvs) { return ipvs->sysctl_sloppy_tcp; }
static inline int sysctl_sloppy_sctp(struct netns_ipvs *ipvs) { return ipvs->sysctl_sloppy_sctp; }
static inline struct ip_vs_proto_data *ip_vs_proto_data_get(struct netns_ipvs *ipvs, unsigned short proto)
{ return proto == 6 ? ipvs->tcp_pd : proto == 17 ? ipvs->udp_pd : proto == 132 ? ipvs->sctp_pd : NULL; }
static inline void ip_vs_init_hash_table(struct list_head *t, int n)
{ while (n--) { t[n].next = &t[n]; t[n].prev = &t[n]; } }
static inline int *ip_vs_create_timeout_table(int *table, int size)
{ int *t = malloc(size); memcpy(t, table, size); return t; }

/* What the harness observes: ip_vs_control_assure_ct() calls and scheduling attempts. */
extern int cref_assure_calls, cref_service_lookups;
static inline void ip_vs_control_assure_ct(struct ip_vs_conn *cp) { cref_assure_calls++; }
struct ip_vs_service;
static inline struct ip_vs_service *ip_vs_service_find(struct netns_ipvs *ipvs, int af, __u32 mark,
	__u16 protocol, const union nf_inet_addr *vaddr, __be16 vport)
{ cref_service_lookups++; return NULL; }

/* Never reached from the harness (no service is ever found, no TCP/UDP packet is NATed,
 * no application helper is bound). */
static inline int ip_vs_todrop(struct netns_ipvs *ipvs) { abort(); }
static inline struct ip_vs_conn *ip_vs_schedule(struct ip_vs_service *svc, struct sk_buff *skb,
	struct ip_vs_proto_data *pd, int *ignored, struct ip_vs_iphdr *iph) { abort(); }
static inline int ip_vs_leave(struct ip_vs_service *svc, struct sk_buff *skb,
	struct ip_vs_proto_data *pd, struct ip_vs_iphdr *iph) { abort(); }
static inline int ip_vs_app_pkt_out(struct ip_vs_conn *cp, struct sk_buff *skb, struct ip_vs_iphdr *iph) { abort(); }
static inline int ip_vs_app_pkt_in(struct ip_vs_conn *cp, struct sk_buff *skb, struct ip_vs_iphdr *iph) { abort(); }
static inline int ip_vs_app_inc_get(struct ip_vs_app *inc) { abort(); }
static inline int ip_vs_checksum_needed(struct sk_buff *skb) { abort(); }	/* apps only */
static inline int ip_vs_checksum_common_check(struct sk_buff *skb, unsigned int off, int proto, int af) { abort(); }
static inline __sum16 csum_fold(__wsum c) { abort(); }
static inline __wsum csum_unfold(__sum16 c) { abort(); }
static inline __wsum ip_vs_check_diff2(__be16 o, __be16 n, __wsum c) { abort(); }
static inline __wsum ip_vs_check_diff4(__be32 o, __be32 n, __wsum c) { abort(); }
static inline __wsum ip_vs_check_diff16(const __be32 *o, const __be32 *n, __wsum c) { abort(); }
static inline __wsum skb_checksum(const struct sk_buff *skb, int off, int len, __wsum c) { abort(); }
static inline __sum16 csum_ipv6_magic(const void *s, const void *d, __u32 len, __u8 p, __wsum c) { abort(); }
static inline __sum16 csum_tcpudp_magic(__be32 s, __be32 d, __u32 len, __u8 p, __wsum c) { abort(); }
static inline __wsum csum_partial(const void *b, int len, __wsum c) { abort(); }
static inline bool csum_tcpudp_nofold(void) { abort(); }
/* Only their addresses are taken (the protocol structs). */
static inline void ip_vs_conn_in_get_proto(void) {}
static inline void ip_vs_conn_out_get_proto(void) {}
static inline void ip_vs_tcpudp_debug_packet(void) {}
#endif
