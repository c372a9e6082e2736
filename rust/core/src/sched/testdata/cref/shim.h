/* Userspace shim: just enough of the kernel for the unmodified
 * ip_vs_{rr,wrr,lc,wlc,sh,mh,dh,sed,nq,fo,ovf,twos,lblc,lblcr}.c,
 * include/linux/hash.h, include/linux/siphash.h and lib/siphash.c to compile and run. */
#ifndef CREF_SHIM_H
#define CREF_SHIM_H
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

typedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32; typedef uint64_t u64;
typedef int32_t s32; typedef int64_t s64;
typedef uint8_t __u8; typedef uint16_t __u16; typedef uint32_t __u32; typedef uint64_t __u64;
typedef int64_t __s64;
typedef uint16_t __be16; typedef uint32_t __be32; typedef uint32_t __le32; typedef uint64_t __le64;
#define __force
#define __rcu
#define __init
#define __exit
#define __always_inline inline __attribute__((always_inline))
#define fallthrough __attribute__((fallthrough))
#define EXPORT_SYMBOL(x)
#define BITS_PER_LONG 64
#define CONFIG_64BIT 1
#define CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS 1
#define CONFIG_IP_VS_IPV6 1
#define IS_ENABLED(x) (x)
#define IS_ALIGNED(x, a) (((x) & ((typeof(x))(a) - 1)) == 0)
#define unlikely(x) (x)
#define likely(x) (x)
#define ENOMEM 12
#define EINVAL 22
#define AF_INET 2
#define AF_INET6 10
#define GFP_KERNEL 0
#define KMSG_COMPONENT_UNUSED
#define pr_fmt(fmt) fmt
#define pr_err(...) do {} while (0)
#define MODULE_LICENSE(x)
#define MODULE_DESCRIPTION(x)
#define MODULE_AUTHOR(x)
#define THIS_MODULE NULL
#define module_init(f) static int (*cref_init_##f)(void) __attribute__((unused)) = f
#define module_exit(f) static void (*cref_exit_##f)(void) __attribute__((unused)) = f
#define synchronize_rcu() do {} while (0)
#define rcu_barrier() do {} while (0)
#define IP_VS_DBG(...) do {} while (0)
#define IP_VS_DBG_BUF(...) do {} while (0)

static inline u64 rol64(u64 w, unsigned s) { return (w << s) | (w >> (64 - s)); }
static inline u32 rol32(u32 w, unsigned s) { return (w << s) | (w >> (32 - s)); }
static inline u32 le32_to_cpu(u32 x) { return x; }         /* x86-64 host */
static inline u64 le64_to_cpu(u64 x) { return x; }
static inline u32 get_unaligned_le32(const void *p) { u32 v; memcpy(&v, p, 4); return v; }
static inline u16 get_unaligned_le16(const void *p) { u16 v; memcpy(&v, p, 2); return v; }
static inline u64 get_unaligned_le64(const void *p) { u64 v; memcpy(&v, p, 8); return v; }
static inline u32 le32_to_cpup(const void *p) { return get_unaligned_le32(p); }
static inline u16 le16_to_cpup(const void *p) { return get_unaligned_le16(p); }
static inline u64 le64_to_cpup(const void *p) { return get_unaligned_le64(p); }

static inline int fls(unsigned int x) { return x ? 32 - __builtin_clz(x) : 0; }
static inline unsigned long gcd(unsigned long a, unsigned long b)
{ while (b) { unsigned long t = a % b; a = b; b = t; } return a; }

typedef struct { int counter; } atomic_t;
#define ATOMIC_INIT(i) { (i) }
static inline int atomic_read(const atomic_t *v) { return v->counter; }
static inline void atomic_set(atomic_t *v, int i) { v->counter = i; }
typedef struct { int refs; } refcount_t;
static inline int refcount_read(const refcount_t *r) { return r->refs; }
typedef int spinlock_t;
#define spin_lock_bh(l) do {} while (0)
#define spin_unlock_bh(l) do {} while (0)
struct rcu_head { void *next; };

struct list_head { struct list_head *next, *prev; };
#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(ptr, type, member) list_entry((ptr)->next, type, member)
#define list_next_entry(pos, member) list_entry((pos)->member.next, typeof(*(pos)), member)
#define list_entry_is_head(pos, head, member) (&pos->member == (head))
#define list_for_each_entry(pos, head, member) \
	for (pos = list_first_entry(head, typeof(*pos), member); \
	     !list_entry_is_head(pos, head, member); pos = list_next_entry(pos, member))
#define list_for_each_entry_rcu(pos, head, member) list_for_each_entry(pos, head, member)
#define list_for_each_entry_continue_rcu(pos, head, member) \
	for (pos = list_next_entry(pos, member); &pos->member != (head); \
	     pos = list_next_entry(pos, member))
static inline void INIT_LIST_HEAD(struct list_head *l) { l->next = l; l->prev = l; }
static inline int list_empty(const struct list_head *h) { return h->next == h; }
static inline void list_add_rcu(struct list_head *n, struct list_head *head)
{ n->next = head->next; n->prev = head; head->next->prev = n; head->next = n; }
#define LIST_POISON2 ((void *)0x122)
static inline void list_del_rcu(struct list_head *e)
{ e->next->prev = e->prev; e->prev->next = e->next; e->prev = LIST_POISON2; }

struct hlist_node { struct hlist_node *next, **pprev; };
struct hlist_head { struct hlist_node *first; };
#define INIT_HLIST_HEAD(h) ((h)->first = NULL)
#define hlist_entry(ptr, type, member) container_of(ptr, type, member)
#define hlist_entry_safe(ptr, type, member) \
	({ typeof(ptr) ____ptr = (ptr); ____ptr ? hlist_entry(____ptr, type, member) : NULL; })
#define hlist_for_each_entry(pos, head, member) \
	for (pos = hlist_entry_safe((head)->first, typeof(*(pos)), member); pos; \
	     pos = hlist_entry_safe((pos)->member.next, typeof(*(pos)), member))
#define hlist_for_each_entry_rcu(pos, head, member) hlist_for_each_entry(pos, head, member)
#define hlist_for_each_entry_safe(pos, n, head, member) \
	for (pos = hlist_entry_safe((head)->first, typeof(*pos), member); \
	     pos && ({ n = pos->member.next; 1; }); \
	     pos = hlist_entry_safe(n, typeof(*pos), member))
static inline void hlist_add_head_rcu(struct hlist_node *n, struct hlist_head *h)
{ struct hlist_node *first = h->first; n->next = first; n->pprev = &h->first;
  if (first) first->pprev = &n->next; h->first = n; }
static inline void hlist_del_rcu(struct hlist_node *n)
{ struct hlist_node *next = n->next, **pprev = n->pprev; *pprev = next;
  if (next) next->pprev = pprev; n->pprev = LIST_POISON2; }
#define list_for_each_entry_continue(pos, head, member) \
	list_for_each_entry_continue_rcu(pos, head, member)
#define list_for_each_entry_safe(pos, n, head, member) \
	for (pos = list_first_entry(head, typeof(*pos), member), n = list_next_entry(pos, member); \
	     !list_entry_is_head(pos, head, member); pos = n, n = list_next_entry(n, member))

/* Time: the harness owns jiffies and runs the one timer a service has. */
#define HZ 250
extern unsigned long jiffies;
#define time_after(a, b) ((long)((b) - (a)) < 0)
#define time_before(a, b) time_after(b, a)
struct timer_list { unsigned long expires; void (*function)(struct timer_list *); int armed; };
#define timer_setup(t, f, fl) ((t)->function = (f), (t)->armed = 0)
void cref_timer_armed(struct timer_list *t);
static inline int mod_timer(struct timer_list *t, unsigned long expires)
{ t->expires = expires; t->armed = 1; cref_timer_armed(t); return 0; }
void cref_timer_shutdown(struct timer_list *t);
static inline int timer_shutdown_sync(struct timer_list *t) { t->armed = 0; cref_timer_shutdown(t); return 0; }
#define from_timer(var, t, field) container_of(t, typeof(*var), field)
#define spin_lock(l) do {} while (0)
#define spin_unlock(l) do {} while (0)
#define GFP_ATOMIC 0
#define atomic_inc(v) ((v)->counter++)
#define atomic_dec(v) ((v)->counter--)
/* twos: every random number goes through the harness, which records it. */
u32 cref_random_u32_below(u32 ceil);
#define get_random_u32_below(c) cref_random_u32_below(c)
/* The sysctl registration of lblc/lblcr: compiled, never called. */
struct ctl_table { const char *procname; void *data; int maxlen; int mode; void *proc_handler; };
#define proc_dointvec_jiffies NULL
#define CONFIG_SYSCTL 1
struct net { void *user_ns; };
extern struct net init_net;
extern int init_user_ns;
#define net_eq(a, b) ((a) == (b))
#define net_ipvs(n) ((struct netns_ipvs *)NULL)
#define kmemdup(p, s, g) memcpy(malloc(s), p, s)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define register_net_sysctl_sz(n, p, t, s) ((void *)(t))
#define unregister_net_sysctl_table(h) do {} while (0)
#define __net_init
#define __net_exit
#define ENOENT 2
struct pernet_operations { int (*init)(struct net *); void (*exit)(struct net *); };
#define register_pernet_subsys(o) 0
#define unregister_pernet_subsys(o) do {} while (0)

#define rcu_dereference(p) (p)
#define rcu_dereference_protected(p, c) (p)
#define RCU_INIT_POINTER(p, v) ((p) = (v))
#define rcu_assign_pointer(p, v) ((p) = (v))
#define kmalloc(s, g) malloc(s)
#define kzalloc(s, g) calloc(1, s)
#define kcalloc(n, s, g) calloc(n, s)
#define kfree(p) free(p)
#define kfree_rcu(p, f) free(p)
#define call_rcu(h, f) f(h)
static inline unsigned long *bitmap_zalloc(unsigned int n, int g)
{ return calloc((n + 63) / 64, 8); }
static inline void bitmap_free(unsigned long *b) { free(b); }
static inline int test_bit(long n, const unsigned long *b) { return (b[n / 64] >> (n % 64)) & 1; }
static inline void __set_bit(long n, unsigned long *b) { b[n / 64] |= 1UL << (n % 64); }

union nf_inet_addr {
	__u32 all[4];
	struct in6_addr in6;
	__be32 ip;
	__be32 ip6[4];
	u8 bytes[16];
};

#define IP_VS_DEST_F_OVERLOAD 0x0002
#define IP_VS_DEST_CF_AVAILABLE 0x0001
#define IP_VS_SVC_F_SCHED1 0x0008
#define IP_VS_SVC_F_SCHED2 0x0010
#define IP_VS_SVC_F_SCHED3 0x0020
#define IP_VS_SVC_F_SCHED_SH_FALLBACK IP_VS_SVC_F_SCHED1
#define IP_VS_SVC_F_SCHED_SH_PORT IP_VS_SVC_F_SCHED2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_SCTP 132

struct ip_vs_dest {
	struct list_head n_list;
	u16 af;
	__be16 port;
	union nf_inet_addr addr;
	volatile unsigned int flags;
	volatile unsigned int cflags;
	atomic_t weight;
	atomic_t last_weight;
	refcount_t refcnt;
	atomic_t activeconns;
	atomic_t totalconns;
	int id; /* harness only */
};

/* The per-namespace sysctls lblc and lblcr read (jiffies). */
struct netns_ipvs {
	int sysctl_lblc_expiration;
	int sysctl_lblcr_expiration;
	struct ctl_table *lblc_ctl_table, *lblcr_ctl_table;
	void *lblc_ctl_header, *lblcr_ctl_header;
};

struct ip_vs_service {
	u16 af;
	struct netns_ipvs *ipvs;
	unsigned int flags;
	struct list_head destinations;
	int num_dests;
	spinlock_t sched_lock;
	void *sched_data;
};

struct sk_buff { const unsigned char *data; };
struct ip_vs_iphdr { int hdr_flags; int len; __u16 protocol; union nf_inet_addr saddr, daddr; };
static inline bool ip_vs_iph_inverse(const struct ip_vs_iphdr *iph) { return iph->hdr_flags & 1; }
static inline void *skb_header_pointer(const struct sk_buff *skb, int off, int len, void *buf)
{ memcpy(buf, skb->data + off, len); return buf; }
static inline void ip_vs_scheduler_err(struct ip_vs_service *s, const char *m) {}
static inline void ip_vs_dest_hold(struct ip_vs_dest *d) { d->refcnt.refs++; }
static inline void ip_vs_dest_put(struct ip_vs_dest *d) { d->refcnt.refs--; }
/* The harness never frees destinations (deleted ones stay, like C's trash). */
static inline void ip_vs_dest_put_and_free(struct ip_vs_dest *d) { d->refcnt.refs--; }
static inline void ip_vs_addr_copy(int af, union nf_inet_addr *dst, const union nf_inet_addr *src)
{ if (af == AF_INET6) dst->in6 = src->in6; else dst->ip = src->ip; }
static inline bool ipv6_addr_equal(const struct in6_addr *a, const struct in6_addr *b)
{ return memcmp(a, b, 16) == 0; }
static inline int ip_vs_addr_equal(int af, const union nf_inet_addr *a, const union nf_inet_addr *b)
{ if (af == AF_INET6) return ipv6_addr_equal(&a->in6, &b->in6); return a->ip == b->ip; }

struct ip_vs_scheduler {
	struct list_head n_list;
	char *name;
	atomic_t refcnt;
	void *module;
	int (*init_service)(struct ip_vs_service *svc);
	void (*done_service)(struct ip_vs_service *svc);
	int (*add_dest)(struct ip_vs_service *svc, struct ip_vs_dest *dest);
	int (*del_dest)(struct ip_vs_service *svc, struct ip_vs_dest *dest);
	int (*upd_dest)(struct ip_vs_service *svc, struct ip_vs_dest *dest);
	struct ip_vs_dest *(*schedule)(struct ip_vs_service *svc, const struct sk_buff *skb,
				       struct ip_vs_iphdr *iph);
};
static inline int register_ip_vs_scheduler(struct ip_vs_scheduler *s) { return 0; }
static inline int unregister_ip_vs_scheduler(struct ip_vs_scheduler *s) { return 0; }

/* include/net/ip_vs.h, verbatim */
static inline int
ip_vs_dest_conn_overhead(struct ip_vs_dest *dest)
{
	return (atomic_read(&dest->activeconns) << 8) +
		atomic_read(&dest->totalconns);
}
static inline int
ip_vs_dest_inactconns(const struct ip_vs_dest *dest)
{
	int a = atomic_read(&dest->totalconns) - atomic_read(&dest->activeconns);
	return a > 0 ? a : 0;
}
#define IP_VS_DBG_ADDR(af, a) ""
#include <linux/hash.h>	/* the real one, via the wrapper build.sh writes */
#endif
