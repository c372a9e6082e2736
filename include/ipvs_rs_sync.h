/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sockets and threads of IPVS connection synchronization (rust/sync_glue.c): C's
 * net/netfilter/ipvs/ip_vs_sync.c of Linux 6.12 (make_send_sock(), make_receive_sock(),
 * ip_vs_send_async(), ip_vs_receive(), the backup thread's wait, start_sync_thread()'s
 * device MTU and kthread_run()), with the same socket options and errnos. What is sent and
 * what a received message means is decided on the Rust side (rust/glue/syncsock.rs).
 *
 * Lock order: the Rust side's per-namespace sync mutex, then RTNL (taken here to look the
 * interface up, join the group and, inside sock_release(), leave it). None of these is
 * called under RTNL.
 */
#ifndef IPVS_RS_SYNC_H
#define IPVS_RS_SYNC_H

#include <linux/types.h>

struct net;
struct socket;
struct task_struct;

/* The MTU of the device @ifname (NUL-terminated) of @net, or -ENODEV (start_sync_thread()
 * sizes messages from it). */
int ipvs_rs_sync_dev_mtu(struct net *net, const char *ifname);

/*
 * make_send_sock(): a UDP socket of family @af (AF_INET or AF_INET6) in @net, sending
 * multicasts out of the device @ifname (-ENODEV if @net has none) with TTL/hops @ttl, no
 * loopback, no PMTU discovery, a send buffer of @sock_size (if > 0, clamped as
 * SO_SNDBUF), bound (IPv4) to the device's address, connected to @group (4 or 16 bytes,
 * network order) port @port (host order). 0 and *@sock, or a negative errno.
 */
int ipvs_rs_sync_send_sock(struct net *net, int af, const void *group, __u16 port,
			   const char *ifname, __u8 ttl, int sock_size, struct socket **sock);
/*
 * make_receive_sock(): a UDP socket of family @af in @net, SO_REUSEADDR, a receive buffer
 * of @sock_size (if > 0), bound to the device @ifname (-ENODEV if @net has none) and to
 * @group port @port, member of @group on that device. 0 and *@sock, or a negative errno.
 */
int ipvs_rs_sync_recv_sock(struct net *net, int af, const void *group, __u16 port,
			   const char *ifname, int sock_size, struct socket **sock);
/* sock_release() (leaves the group: takes RTNL). */
void ipvs_rs_sync_sock_release(struct socket *sock);
/* ip_vs_send_async(): one datagram of @len bytes, MSG_DONTWAIT: the bytes sent, -EAGAIN
 * when the send buffer is full, or another negative errno. */
int ipvs_rs_sync_send(struct socket *sock, const void *buf, size_t len);
/* ip_vs_receive(): one datagram into @buf (truncated to @len), MSG_DONTWAIT: its length,
 * -EAGAIN when none is queued, or another negative errno. */
int ipvs_rs_sync_recv(struct socket *sock, void *buf, size_t len);
/* sync_thread_backup()'s wait: sleep (interruptibly, as C) on the socket's wait queue until
 * a datagram is queued, the calling kthread is asked to stop, or @timeout jiffies passed.
 * Whether a datagram is queued. */
bool ipvs_rs_sync_wait_readable(struct socket *sock, unsigned long timeout);
/* sync_thread_master()'s wait after -EAGAIN: until sock_writeable(), a stop request or
 * @timeout jiffies. Whether the socket is writeable. */
bool ipvs_rs_sync_wait_writable(struct socket *sock, unsigned long timeout);

/*
 * start_sync_thread()'s kthread_run(): a thread running @fn(@data), named "ipvs-b:@gen:@id"
 * (@backup) or "ipvs-m:@gen:@id", started; *@task holds a reference to it. 0 or a negative
 * errno.
 */
int ipvs_rs_sync_thread_run(int (*fn)(void *), void *data, bool backup, unsigned int gen,
			    unsigned int id, struct task_struct **task);
/* kthread_stop(): wake the thread, wait for it to end, drop the reference; its result. */
int ipvs_rs_sync_thread_stop(struct task_struct *task);
/* kthread_should_stop() in a kthread, false in any other task. */
bool ipvs_rs_sync_should_stop(void);
/*
 * sync_thread_master()'s sleep, in two steps so that the Rust side checks its queue in
 * between (C: sb_dequeue() under the sync lock): _prepare() sets the task
 * TASK_INTERRUPTIBLE; _finish() sleeps up to @timeout jiffies if @sleep and the calling
 * kthread is not asked to stop, and sets it running again. A wake_up_process() after
 * _prepare() (ipvs_rs_sync_wake(), kthread_stop()) is not lost: the sleep ends at once.
 */
void ipvs_rs_sync_sleep_prepare(void);
void ipvs_rs_sync_sleep_finish(unsigned long timeout, bool sleep);
/* wake_up_process() (C: master_wakeup_work_handler()); any context. */
void ipvs_rs_sync_wake(struct task_struct *task);

#endif /* IPVS_RS_SYNC_H */
