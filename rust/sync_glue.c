// SPDX-License-Identifier: GPL-2.0
/*
 * Sockets and threads of IPVS connection synchronization: see include/ipvs_rs_sync.h. The
 * socket set-up is C's net/netfilter/ipvs/ip_vs_sync.c of Linux 6.12, kept as it is (same
 * options, same order, same errnos and messages), with the device looked up by name here
 * (C: start_sync_thread(), under RTNL, as here) instead of passed in. No IPVS policy lives
 * here: which sockets, ports and threads exist is the Rust side's business
 * (rust/glue/syncsock.rs).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/igmp.h>
#include <linux/inetdevice.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/udp.h>
#include <linux/wait.h>
#include <net/sock.h>
#include <net/inet_sock.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/udp.h>
#include "../include/ipvs_rs.h"

#define IPVS_RS_IPV6 IS_ENABLED(CONFIG_IPV6)

union ipvs_rs_sockaddr {
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

int ipvs_rs_sync_dev_mtu(struct net *net, const char *ifname)
{
	struct net_device *dev;
	int mtu = -ENODEV;

	rcu_read_lock();
	dev = dev_get_by_name_rcu(net, ifname);
	if (dev)
		mtu = READ_ONCE(dev->mtu);
	rcu_read_unlock();
	return mtu;
}

/* set_sock_size(): sndbuf (mode=1) or rcvbuf (mode=0) */
static void set_sock_size(struct sock *sk, int mode, int val)
{
	/* setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &val, sizeof(val)); */
	/* setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &val, sizeof(val)); */
	lock_sock(sk);
	if (mode) {
		val = clamp_t(int, val, (SOCK_MIN_SNDBUF + 1) / 2,
			      READ_ONCE(sysctl_wmem_max));
		sk->sk_sndbuf = val * 2;
		sk->sk_userlocks |= SOCK_SNDBUF_LOCK;
	} else {
		val = clamp_t(int, val, (SOCK_MIN_RCVBUF + 1) / 2,
			      READ_ONCE(sysctl_rmem_max));
		sk->sk_rcvbuf = val * 2;
		sk->sk_userlocks |= SOCK_RCVBUF_LOCK;
	}
	release_sock(sk);
}

/* set_mcast_loop() */
static void set_mcast_loop(struct sock *sk, u_char loop)
{
	/* setsockopt(sock, SOL_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)); */
	inet_assign_bit(MC_LOOP, sk, loop);
#if IPVS_RS_IPV6
	if (READ_ONCE(sk->sk_family) == AF_INET6) {
		/* IPV6_MULTICAST_LOOP */
		inet6_assign_bit(MC6_LOOP, sk, loop);
	}
#endif
}

/* set_mcast_ttl() */
static void set_mcast_ttl(struct sock *sk, u_char ttl)
{
	struct inet_sock *inet = inet_sk(sk);

	/* setsockopt(sock, SOL_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)); */
	lock_sock(sk);
	WRITE_ONCE(inet->mc_ttl, ttl);
#if IPVS_RS_IPV6
	if (sk->sk_family == AF_INET6) {
		struct ipv6_pinfo *np = inet6_sk(sk);

		/* IPV6_MULTICAST_HOPS */
		WRITE_ONCE(np->mcast_hops, ttl);
	}
#endif
	release_sock(sk);
}

/* set_mcast_pmtudisc() */
static void set_mcast_pmtudisc(struct sock *sk, int val)
{
	struct inet_sock *inet = inet_sk(sk);

	/* setsockopt(sock, SOL_IP, IP_MTU_DISCOVER, &val, sizeof(val)); */
	lock_sock(sk);
	WRITE_ONCE(inet->pmtudisc, val);
#if IPVS_RS_IPV6
	if (sk->sk_family == AF_INET6) {
		struct ipv6_pinfo *np = inet6_sk(sk);

		/* IPV6_MTU_DISCOVER */
		WRITE_ONCE(np->pmtudisc, val);
	}
#endif
	release_sock(sk);
}

/* set_mcast_if(): default interface for outgoing multicasts */
static int set_mcast_if(struct sock *sk, struct net_device *dev)
{
	struct inet_sock *inet = inet_sk(sk);

	if (sk->sk_bound_dev_if && dev->ifindex != sk->sk_bound_dev_if)
		return -EINVAL;

	lock_sock(sk);
	inet->mc_index = dev->ifindex;
	/*  inet->mc_addr  = 0; */
#if IPVS_RS_IPV6
	if (sk->sk_family == AF_INET6) {
		struct ipv6_pinfo *np = inet6_sk(sk);

		/* IPV6_MULTICAST_IF */
		WRITE_ONCE(np->mcast_oif, dev->ifindex);
	}
#endif
	release_sock(sk);

	return 0;
}

/* join_mcast_group(); RTNL held (ip_mc_join_group() asserts it) */
static int join_mcast_group(struct sock *sk, struct in_addr *addr, struct net_device *dev)
{
	struct ip_mreqn mreq;
	int ret;

	memset(&mreq, 0, sizeof(mreq));
	memcpy(&mreq.imr_multiaddr, addr, sizeof(struct in_addr));

	if (sk->sk_bound_dev_if && dev->ifindex != sk->sk_bound_dev_if)
		return -EINVAL;

	mreq.imr_ifindex = dev->ifindex;

	lock_sock(sk);
	ret = ip_mc_join_group(sk, &mreq);
	release_sock(sk);

	return ret;
}

#if IPVS_RS_IPV6
/* join_mcast_group6(); RTNL held */
static int join_mcast_group6(struct sock *sk, struct in6_addr *addr, struct net_device *dev)
{
	int ret;

	if (sk->sk_bound_dev_if && dev->ifindex != sk->sk_bound_dev_if)
		return -EINVAL;

	lock_sock(sk);
	ret = ipv6_sock_mc_join(sk, dev->ifindex, addr);
	release_sock(sk);

	return ret;
}
#endif

/* bind_mcastif_addr() */
static int bind_mcastif_addr(struct socket *sock, struct net_device *dev)
{
	__be32 addr;
	struct sockaddr_in sin;

	addr = inet_select_addr(dev, 0, RT_SCOPE_UNIVERSE);
	if (!addr)
		pr_err("You probably need to specify IP address on multicast interface.\n");

	/* Now bind the socket with the address of multicast interface */
	sin.sin_family	     = AF_INET;
	sin.sin_addr.s_addr  = addr;
	sin.sin_port         = 0;

	return kernel_bind(sock, (struct sockaddr *)&sin, sizeof(sin));
}

/* get_mcast_sockaddr(), with the port already C's mcast_port + id. */
static int get_mcast_sockaddr(union ipvs_rs_sockaddr *sa, int *salen, int af, const void *group,
			      u16 port)
{
	if (af == AF_INET6) {
		sa->in6 = (struct sockaddr_in6) {
			.sin6_family = AF_INET6,
			.sin6_port = htons(port),
		};
		memcpy(&sa->in6.sin6_addr, group, sizeof(sa->in6.sin6_addr));
		*salen = sizeof(sa->in6);
	} else if (af == AF_INET) {
		sa->in = (struct sockaddr_in) {
			.sin_family = AF_INET,
			.sin_port = htons(port),
		};
		memcpy(&sa->in.sin_addr, group, sizeof(sa->in.sin_addr));
		*salen = sizeof(sa->in);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

/* What both constructors check first: the family, then the device (C: start_sync_thread()). */
static int check_af(int af)
{
	if (af == AF_INET || (IPVS_RS_IPV6 && af == AF_INET6))
		return 0;
	return -EAFNOSUPPORT;
}

/* make_send_sock() */
int ipvs_rs_sync_send_sock(struct net *net, int af, const void *group, __u16 port,
			   const char *ifname, __u8 ttl, int sock_size, struct socket **sock_ret)
{
	union ipvs_rs_sockaddr mcast_addr;
	struct socket *sock = NULL;
	struct net_device *dev;
	int result, salen;

	result = check_af(af);
	if (result < 0)
		return result;
	result = get_mcast_sockaddr(&mcast_addr, &salen, af, group, port);
	if (result < 0)
		return result;

	rtnl_lock();
	dev = __dev_get_by_name(net, ifname);
	if (!dev) {
		result = -ENODEV;
		goto out;
	}

	/* First create a socket */
	result = sock_create_kern(net, af, SOCK_DGRAM, IPPROTO_UDP, &sock);
	if (result < 0) {
		pr_err("Error during creation of socket; terminating\n");
		sock = NULL;
		goto out;
	}
	result = set_mcast_if(sock->sk, dev);
	if (result < 0) {
		pr_err("Error setting outbound mcast interface\n");
		goto out;
	}

	set_mcast_loop(sock->sk, 0);
	set_mcast_ttl(sock->sk, ttl);
	/* Allow fragmentation if MTU changes */
	set_mcast_pmtudisc(sock->sk, IP_PMTUDISC_DONT);
	if (sock_size > 0)
		set_sock_size(sock->sk, 1, sock_size);

	if (af == AF_INET)
		result = bind_mcastif_addr(sock, dev);
	else
		result = 0;
	if (result < 0) {
		pr_err("Error binding address of the mcast interface\n");
		goto out;
	}

	result = kernel_connect(sock, (struct sockaddr *)&mcast_addr, salen, 0);
	if (result < 0) {
		pr_err("Error connecting to the multicast addr\n");
		goto out;
	}
out:
	/* C releases the sockets of a failed start after dropping RTNL: sock_release() takes
	 * it to leave multicast groups. */
	rtnl_unlock();
	if (result < 0) {
		if (sock)
			sock_release(sock);
		return result;
	}
	*sock_ret = sock;
	return 0;
}

/* make_receive_sock() */
int ipvs_rs_sync_recv_sock(struct net *net, int af, const void *group, __u16 port,
			   const char *ifname, int sock_size, struct socket **sock_ret)
{
	union ipvs_rs_sockaddr mcast_addr;
	struct socket *sock = NULL;
	struct net_device *dev;
	int result, salen;

	result = check_af(af);
	if (result < 0)
		return result;
	result = get_mcast_sockaddr(&mcast_addr, &salen, af, group, port);
	if (result < 0)
		return result;

	rtnl_lock();
	dev = __dev_get_by_name(net, ifname);
	if (!dev) {
		result = -ENODEV;
		goto out;
	}

	/* First create a socket */
	result = sock_create_kern(net, af, SOCK_DGRAM, IPPROTO_UDP, &sock);
	if (result < 0) {
		pr_err("Error during creation of socket; terminating\n");
		sock = NULL;
		goto out;
	}
	/* it is equivalent to the REUSEADDR option in user-space */
	sock->sk->sk_reuse = SK_CAN_REUSE;
	if (sock_size > 0)
		set_sock_size(sock->sk, 0, sock_size);

	sock->sk->sk_bound_dev_if = dev->ifindex;
	result = kernel_bind(sock, (struct sockaddr *)&mcast_addr, salen);
	if (result < 0) {
		pr_err("Error binding to the multicast addr\n");
		goto out;
	}

	/* join the multicast group */
#if IPVS_RS_IPV6
	if (af == AF_INET6)
		result = join_mcast_group6(sock->sk, &mcast_addr.in6.sin6_addr, dev);
	else
#endif
		result = join_mcast_group(sock->sk, &mcast_addr.in.sin_addr, dev);
	if (result < 0) {
		pr_err("Error joining to the multicast group\n");
		goto out;
	}
out:
	rtnl_unlock();
	if (result < 0) {
		if (sock)
			sock_release(sock);
		return result;
	}
	*sock_ret = sock;
	return 0;
}

void ipvs_rs_sync_sock_release(struct socket *sock)
{
	sock_release(sock);
}

/* ip_vs_send_async() */
int ipvs_rs_sync_send(struct socket *sock, const void *buf, size_t len)
{
	struct msghdr msg = {.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL};
	struct kvec iov;

	iov.iov_base = (void *)buf;
	iov.iov_len = len;

	return kernel_sendmsg(sock, &msg, &iov, 1, len);
}

/* ip_vs_receive() */
int ipvs_rs_sync_recv(struct socket *sock, void *buf, size_t len)
{
	struct msghdr msg = {NULL,};
	struct kvec iov = {buf, len};

	/* Receive a packet */
	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &iov, 1, len);
	return sock_recvmsg(sock, &msg, MSG_DONTWAIT);
}

/* sync_thread_backup()'s condition: a datagram is queued (UDP moves them in batches to its
 * reader queue). */
static bool sync_sock_readable(struct sock *sk)
{
	return !skb_queue_empty_lockless(&sk->sk_receive_queue) ||
	       !skb_queue_empty_lockless(&udp_sk(sk)->reader_queue);
}

/* kthread_should_stop() of a kthread, false in any other task: kthread_should_stop() expects a
 * task made by kthread_create() (KUnit cases run in one, but the waits need not know that);
 * kthread_func() tells, without that assumption (kthread_should_stop_or_park() would too, but
 * is not exported). */
static bool stop_requested(void)
{
	return kthread_func(current) && kthread_should_stop();
}

bool ipvs_rs_sync_should_stop(void)
{
	return stop_requested();
}

static long clamp_timeout(unsigned long timeout)
{
	return timeout > MAX_SCHEDULE_TIMEOUT ? MAX_SCHEDULE_TIMEOUT : (long)timeout;
}

bool ipvs_rs_sync_wait_readable(struct socket *sock, unsigned long timeout)
{
	struct sock *sk = sock->sk;

	/* (Ab)use interruptible sleep to avoid increasing the load avg (C: the same). */
	wait_event_interruptible_timeout(*sk_sleep(sk), sync_sock_readable(sk) || stop_requested(),
					 clamp_timeout(timeout));
	return sync_sock_readable(sk);
}

bool ipvs_rs_sync_wait_writable(struct socket *sock, unsigned long timeout)
{
	struct sock *sk = sock->sk;

	wait_event_interruptible_timeout(*sk_sleep(sk), sock_writeable(sk) || stop_requested(),
					 clamp_timeout(timeout));
	return sock_writeable(sk);
}

int ipvs_rs_sync_thread_run(int (*fn)(void *), void *data, bool backup, unsigned int gen,
			    unsigned int id, struct task_struct **task)
{
	struct task_struct *t;

	/* start_sync_thread(): kthread_run(threadfn, tinfo, name, ipvs->gen, id) */
	t = kthread_create(fn, data, backup ? "ipvs-b:%u:%u" : "ipvs-m:%u:%u", gen, id);
	if (IS_ERR(t))
		return PTR_ERR(t);
	/* Our reference: kthread_stop() may then follow a thread that ended on its own. */
	get_task_struct(t);
	*task = t;
	wake_up_process(t);
	return 0;
}

int ipvs_rs_sync_thread_stop(struct task_struct *task)
{
	int ret = kthread_stop(task);

	put_task_struct(task);
	return ret;
}

void ipvs_rs_sync_sleep_prepare(void)
{
	/* sync_thread_master(): sb_dequeue() sets TASK_INTERRUPTIBLE when the queue is empty */
	set_current_state(TASK_INTERRUPTIBLE);
}

void ipvs_rs_sync_sleep_finish(unsigned long timeout, bool sleep)
{
	if (sleep && !stop_requested())
		schedule_timeout(clamp_timeout(timeout));
	__set_current_state(TASK_RUNNING);
}

void ipvs_rs_sync_wake(struct task_struct *task)
{
	wake_up_process(task);
}
