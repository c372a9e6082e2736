/* Userspace shim: just enough of the kernel for functions cut unmodified out of
 * net/netfilter/ipvs/ip_vs_sync.c (the message structs, the master's ip_vs_sync_conn(),
 * ip_vs_sync_conn_v0(), ip_vs_sync_conn_needed(), the buffer constructors, and the backup's
 * ip_vs_process_message() down to ip_vs_proc_conn()) and ip_vs_conn_fill_param() from
 * include/net/ip_vs.h to compile and run. build.sh pulls include/uapi/linux/ip_vs.h in as
 * is and the IP_VS_TCP_S_* / IP_VS_UDP_S_* / IP_VS_SCTP_S_* enums and the IP_VS_CTPL_S_*
 * defines out of include/net/ip_vs.h. The kernel objects the cut functions reach (the
 * connection table, destinations, persistence engines, the sync queue) are stand-ins that
 * driver.c programs and observes. */
#ifndef CREF_SYNC_SHIM_H
#define CREF_SYNC_SHIM_H
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>

typedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32; typedef uint64_t u64;
typedef int8_t s8; typedef int32_t s32; typedef int64_t s64;
typedef uint8_t __u8; typedef uint16_t __u16; typedef uint32_t __u32; typedef uint64_t __u64;
typedef int8_t __s8; typedef int32_t __s32; typedef int64_t __s64; typedef int16_t __s16;
typedef uint16_t __be16; typedef uint32_t __be32;

#include "uapi_ip_vs.h"		/* the kernel's include/uapi/linux/ip_vs.h */
#include "ip_vs_enums.h"	/* enums and IP_VS_CTPL_S_* from include/net/ip_vs.h */

#define HZ 250
#define CONFIG_IP_VS_IPV6 1
#define KMSG_COMPONENT "IPVS"
#define __force
#define __rcu
#define unlikely(x) (x)
#define likely(x) (x)
#define GFP_ATOMIC 0
#define ENOMEM 12
#define EINVAL 22
#define MAX_SCHEDULE_TIMEOUT LONG_MAX
#define READ_ONCE(x) (x)
#define max(a, b) ((a) > (b) ? (a) : (b))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max_t(t, a, b) ((t)(a) > (t)(b) ? (t)(a) : (t)(b))
#define min_t(t, a, b) ((t)(a) < (t)(b) ? (t)(a) : (t)(b))
/* The kernel is built with -fno-strict-overflow: abs(LONG_MIN) stays LONG_MIN. */
static inline long cref_abs(long x) { return x < 0 ? (long)(0UL - (unsigned long)x) : x; }
#define abs(x) cref_abs(x)
#define time_before(a, b) ((long)((a) - (b)) < 0)
#define time_after_eq(a, b) ((long)((a) - (b)) >= 0)
/* Single-threaded: the exchange always succeeds when the value is unchanged. */
#define cmpxchg(p, o, n) ({ __typeof__(*(p)) __old = *(p); if (__old == (o)) *(p) = (n); __old; })

/* Log lines: what the drops look like from outside (driver.c prints them). */
void cref_log(const char *fmt, ...);
#define IP_VS_DBG(level, ...) cref_log(__VA_ARGS__)
#define IP_VS_ERR_RL(...) cref_log(__VA_ARGS__)
#define pr_err(...) cref_log(__VA_ARGS__)

typedef struct { int counter; } atomic_t;
static inline int atomic_read(const atomic_t *v) { return v->counter; }
static inline void atomic_set(atomic_t *v, int i) { v->counter = i; }
static inline void atomic_inc(atomic_t *v) { v->counter++; }
static inline void atomic_dec(atomic_t *v) { v->counter--; }
static inline int atomic_inc_return(atomic_t *v) { return (int)((unsigned)v->counter++ + 1u); }
typedef int spinlock_t;
#define spin_lock_bh(l) do {} while (0)
#define spin_unlock_bh(l) do {} while (0)
#define spin_lock(l) do {} while (0)
#define spin_unlock(l) do {} while (0)
#define rcu_read_lock() do {} while (0)
#define rcu_read_unlock() do {} while (0)
#define kmalloc(n, g) malloc(n)
#define kfree(p) free(p)
static inline void *kmemdup(const void *p, size_t n, int g) { void *d = malloc(n); memcpy(d, p, n); return d; }

struct list_head { struct list_head *next, *prev; };
struct lock_class_key { int dummy; };
struct task_struct;
struct socket;

extern unsigned long jiffies;

static inline u32 get_unaligned_be32(const void *p)
{ const u8 *b = p; return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3]; }
static inline void put_unaligned_be32(u32 v, void *p)
{ u8 *b = p; b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = v; }

union nf_inet_addr { __u32 all[4]; __be32 ip; __be32 ip6[4]; struct in_addr in; struct in6_addr in6; };

struct ip_vs_seq { __u32 init_seq, delta, previous_delta; };

struct module { int refs; };
static inline void module_put(struct module *m) { m->refs--; }
struct ip_vs_pe { const char *name; struct module *module; };
struct ip_vs_pe *__ip_vs_pe_getbyname(const char *name);
#define ip_vs_pe_put(pe) if (pe && pe->module) module_put(pe->module);

struct ip_vs_dest { atomic_t activeconns; };

struct ip_vs_conn {
	union nf_inet_addr caddr, vaddr, daddr;
	__be16 cport, vport, dport;
	__u32 fwmark;
	__u16 af, protocol, daf;
	volatile __u32 flags;
	spinlock_t lock;
	unsigned long timeout;
	struct ip_vs_dest *dest;
	atomic_t in_pkts;
	struct ip_vs_conn *control;
	__u16 state, old_state;
	unsigned long sync_endtime;
	union {	/* struct_group(sync_conn_opt, in_seq, out_seq) */
		struct { struct ip_vs_seq in_seq, out_seq; };
		struct { struct ip_vs_seq in_seq, out_seq; } sync_conn_opt;
	};
	const struct ip_vs_pe *pe;
	char *pe_data;
	__u8 pe_data_len;
	int id;			/* the driver's name for it */
};

struct ip_vs_conn_param {
	struct netns_ipvs *ipvs;
	const union nf_inet_addr *caddr;
	const union nf_inet_addr *vaddr;
	__be16 cport;
	__be16 vport;
	__u16 protocol;
	u16 af;
	const struct ip_vs_pe *pe;
	char *pe_data;
	__u8 pe_data_len;
};

struct ip_vs_protocol { const char *name; __u16 protocol; __u16 num_states; };
struct ip_vs_protocol *ip_vs_proto_get(unsigned short proto);
struct ip_vs_proto_data { int *timeout_table; };
struct netns_ipvs;
struct ip_vs_proto_data *ip_vs_proto_data_get(struct netns_ipvs *ipvs, unsigned short proto);

struct ipvs_sync_daemon_cfg { int syncid; u16 sync_maxlen; };
struct ip_vs_sync_buff;
struct ipvs_master_sync_state { struct ip_vs_sync_buff *sync_buff; };
#define IP_VS_STATE_MASTER 1
#define IP_VS_STATE_BACKUP 2
struct netns_ipvs {
	int sync_state;
	spinlock_t sync_buff_lock, sync_lock;
	struct ipvs_sync_daemon_cfg mcfg, bcfg;
	struct ipvs_master_sync_state *ms;
	int threads_mask;
	int sysctl_sync_ver, sysctl_sync_persist_mode, sysctl_sync_retries;
	int sysctl_sync_threshold[2];
	unsigned int sysctl_sync_refresh_period;
};
static inline int sysctl_sync_threshold(struct netns_ipvs *ipvs) { return ipvs->sysctl_sync_threshold[0]; }
static inline int sysctl_sync_period(struct netns_ipvs *ipvs) { return ipvs->sysctl_sync_threshold[1]; }
static inline unsigned int sysctl_sync_refresh_period(struct netns_ipvs *ipvs) { return ipvs->sysctl_sync_refresh_period; }
static inline int sysctl_sync_retries(struct netns_ipvs *ipvs) { return ipvs->sysctl_sync_retries; }
static inline int sysctl_sync_ver(struct netns_ipvs *ipvs) { return ipvs->sysctl_sync_ver; }
static inline int sysctl_sync_persist_mode(struct netns_ipvs *ipvs) { return ipvs->sysctl_sync_persist_mode; }

void ip_vs_sync_conn(struct netns_ipvs *ipvs, struct ip_vs_conn *cp, int pkts);

/* The driver's stand-ins for the sync queue and the connection table. */
static inline int select_master_thread_id(struct netns_ipvs *ipvs, struct ip_vs_conn *cp) { return 0; }
void sb_queue_tail(struct netns_ipvs *ipvs, struct ipvs_master_sync_state *ms);
struct ip_vs_conn *ip_vs_conn_in_get(const struct ip_vs_conn_param *p);
struct ip_vs_conn *ip_vs_ct_in_get(const struct ip_vs_conn_param *p);
void ip_vs_conn_expire_now(struct ip_vs_conn *cp);
void __ip_vs_conn_put(struct ip_vs_conn *cp);
void ip_vs_conn_put(struct ip_vs_conn *cp);
void ip_vs_try_bind_dest(struct ip_vs_conn *cp);
struct ip_vs_dest *ip_vs_find_dest(struct netns_ipvs *ipvs, int svc_af, int dest_af,
	const union nf_inet_addr *daddr, __be16 dport, const union nf_inet_addr *vaddr,
	__be16 vport, __u16 protocol, __u32 fwmark, __u32 flags);
struct ip_vs_conn *ip_vs_conn_new(const struct ip_vs_conn_param *p, int dest_af,
	const union nf_inet_addr *daddr, __be16 dport, unsigned int flags,
	struct ip_vs_dest *dest, __u32 fwmark);
static inline bool ip_vs_addr_equal(int af, const union nf_inet_addr *a, const union nf_inet_addr *b)
{ return af == AF_INET6 ? !memcmp(a->ip6, b->ip6, 16) : a->ip == b->ip; }
#endif
