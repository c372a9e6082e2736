// SPDX-License-Identifier: GPL-2.0
//! The connection table: `ip_vs_conn.c`.
//!
//! One table for all namespaces, as in C (`ip_vs_conn_tab`, `conn_tab_bits` buckets, keyed
//! with the namespace). Every connection is hashed by its client end (address, port), so the
//! request direction (`ip_vs_conn_in_get()`: client → virtual address) and the reply
//! direction (`ip_vs_conn_out_get()`: real server → client) find it in the same bucket.
//!
//! Concurrency, as in C: the table is a [`RefTable`] (`crate::glue::ref_table`, whose module
//! doc has the lifetime protocol: RCU readers, bucket-locked writers, the table's reference
//! owned by the entry's timer, unlink with a 1 → 0 exchange of `refcnt`, free by
//! `call_rcu()`). What is left here is the policy:
//! - every `ConnRef` dropped re-arms the timer with the entry's current timeout
//!   (`ip_vs_conn_put()`), so an entry lives `timeout` after its last packet;
//! - the expiry ([`expire`]) keeps an entry someone holds or that controls others, and
//!   otherwise unlinks it, drops its controlling template when that was its last use,
//!   its conntrack entry, and its destination's counters.

use super::dest::{DestShared, StatsCells};
use super::DpNet;
use crate::glue::rcu::{self, RcuReadGuard};
use crate::glue::ref_table::{
    self, Cursor as TableCursor, Link, Node, NodeRef, RefEntry, RefTable, TableAlloc as Buckets,
};
use core::ptr;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use ipvs_core::netlink::ipvs::conn_flags;
use ipvs_core::persist;
use ipvs_core::wire::{Family, InetAddr};
use kernel::prelude::*;
use kernel::sync::Arc;

/// `IP_VS_CONN_F_TEMPLATE`.
pub(crate) const F_TEMPLATE: u32 = conn_flags::TEMPLATE;
/// `IP_VS_CONN_F_HASHED` (kept by the table, see [`Node::is_hashed`]).
const F_HASHED: u32 = conn_flags::HASHED;
/// `IP_VS_CTPL_S_ASSURED`: a template whose connection got established (state of templates).
pub(crate) const CTPL_S_ASSURED: u32 = 0x0001;

/// What identifies a connection and what it is bound to, for [`create`].
pub(crate) struct ConnParams {
    pub(crate) family: Family,
    pub(crate) protocol: u8,
    pub(crate) caddr: InetAddr,
    pub(crate) cport: u16,
    pub(crate) vaddr: InetAddr,
    pub(crate) vport: u16,
    pub(crate) daddr: InetAddr,
    pub(crate) dport: u16,
    pub(crate) fwmark: u32,
    /// Flags before the destination's (`IP_VS_CONN_F_TEMPLATE`, `NO_CPORT`, …).
    pub(crate) flags: u32,
    pub(crate) dest: Option<Arc<DestShared>>,
    pub(crate) svc_stats: Option<Arc<StatsCells>>,
}

/// What a connection entry is (`struct ip_vs_conn` without the table's links, counts and
/// timer, which [`Node`] puts around it).
pub(crate) struct ConnInfo {
    /// The namespace (`struct net *`), for matching only.
    net: usize,
    pub(crate) family: Family,
    pub(crate) protocol: u8,
    pub(crate) caddr: InetAddr,
    pub(crate) cport: u16,
    pub(crate) vaddr: InetAddr,
    /// Atomic: [`invalidate_template`] rewrites it in place (C's rehash with port 0xffff).
    vport: AtomicU16,
    pub(crate) daddr: InetAddr,
    /// Atomic, as `vport`.
    dport: AtomicU16,
    /// C's `cp->fwmark` (the sync protocol's); nothing reads it yet.
    #[allow(dead_code)]
    pub(crate) fwmark: u32,
    pub(crate) flags: AtomicU32,
    /// Protocol state (C numbering), or `IP_VS_CTPL_S_*` for a template.
    pub(crate) state: AtomicU32,
    /// `cp->old_state`: the state when the connection was last synced (connection sync).
    pub(crate) old_state: AtomicU32,
    /// `cp->sync_endtime`: when the last sync's information runs out (jiffies, a multiple of
    /// 4 whose low two bits count the retries; connection sync).
    pub(crate) sync_endtime: AtomicU64,
    /// Jiffies.
    timeout: AtomicU64,
    pub(crate) dest: Option<Arc<DestShared>>,
    pub(crate) svc_stats: Option<Arc<StatsCells>>,
    pub(crate) in_pkts: AtomicU32,
}

/// A connection entry in the table (`struct ip_vs_conn`).
pub(crate) type Conn = Node<ConnInfo>;
/// A counted reference to a connection (`ip_vs_conn_get()` … `ip_vs_conn_put()`).
pub(crate) type ConnRef = NodeRef<ConnInfo>;
/// Where a reader of `/proc/net/ip_vs_conn` is.
pub(crate) type Cursor = TableCursor;

/// The connection table (`ip_vs_conn_tab`), one for all namespaces.
static TABLE: RefTable<ConnInfo> = RefTable::new();

impl RefEntry for ConnInfo {
    fn table() -> &'static RefTable<ConnInfo> {
        &TABLE
    }

    fn expire(node: &Conn) {
        expire(node);
    }

    /// `ip_vs_conn_put()`: the entry expires `timeout` after its last user.
    fn put(c: &ConnRef) {
        c.arm_timer(rcu::jiffies().wrapping_add(c.timeout()));
    }
}

impl ConnInfo {
    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// The virtual port (`cp->vport`, host order).
    pub(crate) fn vport(&self) -> u16 {
        self.vport.load(Ordering::Relaxed)
    }

    /// The real server's port (`cp->dport`, host order).
    pub(crate) fn dport(&self) -> u16 {
        self.dport.load(Ordering::Relaxed)
    }

    /// The entry as the core's persistence model sees it (`struct ip_vs_conn_param`).
    fn param(&self) -> persist::ConnParam {
        persist::ConnParam {
            af: self.family.af(),
            protocol: u16::from(self.protocol),
            caddr: self.caddr,
            cport: self.cport,
            vaddr: self.vaddr,
            vport: self.vport(),
        }
    }

    pub(crate) fn is_template(&self) -> bool {
        self.flags() & F_TEMPLATE != 0
    }

    pub(crate) fn fwd_method(&self) -> u32 {
        self.flags() & conn_flags::FWD_MASK
    }

    pub(crate) fn set_timeout(&self, jiffies: u64) {
        self.timeout.store(jiffies, Ordering::Relaxed);
    }

    pub(crate) fn timeout(&self) -> u64 {
        self.timeout.load(Ordering::Relaxed)
    }
}

/// Ownership of the bucket array: created at module load, dropped at unload after every
/// namespace has flushed its connections.
pub(crate) struct TableAlloc(#[allow(dead_code)] Buckets<ConnInfo>);

impl TableAlloc {
    pub(crate) fn new() -> Result<TableAlloc> {
        Ok(TableAlloc(TABLE.alloc(ref_table::conn_tab_bits())?))
    }

    pub(crate) fn size() -> usize {
        TABLE.size()
    }
}

/// `ip_vs_conn_tab_size`, as GET_INFO and /proc/net/ip_vs report it.
pub(crate) fn tab_size() -> u32 {
    TableAlloc::size() as u32
}

/// `ip_vs_conn_hashkey()`: namespace, family, protocol and one end of the connection.
fn hashkey(net: usize, family: Family, protocol: u8, addr: &InetAddr, port: u16) -> u32 {
    let mut h = TABLE.seed() ^ (net as u32) ^ ((net as u64 >> 32) as u32);
    let words = match family {
        Family::Ipv4 => 1,
        Family::Ipv6 => 4,
    };
    for w in addr.0.chunks_exact(4).take(words) {
        h = (h ^ u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
            .wrapping_mul(0x9e37_79b1)
            .rotate_left(13);
    }
    h ^= (u32::from(protocol) << 16) | u32::from(port);
    // murmur3's finaliser
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn addr_eq(family: Family, a: &InetAddr, b: &InetAddr) -> bool {
    match family {
        Family::Ipv4 => a.0[..4] == b.0[..4],
        Family::Ipv6 => a.0 == b.0,
    }
}

/// The lookup key of a packet: its family and protocol, the client end and the far end.
#[derive(Clone, Copy)]
pub(crate) struct Lookup<'a> {
    pub(crate) net: usize,
    pub(crate) family: Family,
    pub(crate) protocol: u8,
    pub(crate) caddr: &'a InetAddr,
    pub(crate) cport: u16,
    /// The virtual address (request) or the real server's (reply).
    pub(crate) addr: &'a InetAddr,
    pub(crate) port: u16,
}

/// Which end of an entry a lookup's far end (`addr:port`) is compared with.
#[derive(Clone, Copy)]
enum FarEnd {
    /// The virtual service (requests).
    Virtual,
    /// The real server (replies).
    Dest,
}

/// The walk behind the two connection lookups (templates: [`template_get`]): same
/// namespace, family, protocol and client end, the far end on the given side, not a
/// template.
fn lookup(k: &Lookup<'_>, far: FarEnd) -> Option<ConnRef> {
    let hash = hashkey(k.net, k.family, k.protocol, k.caddr, k.cport);
    TABLE.find(hash, |c| {
        let (addr, port) = match far {
            FarEnd::Virtual => (&c.vaddr, c.vport()),
            FarEnd::Dest => (&c.daddr, c.dport()),
        };
        // The client port first: it tells most entries of a chain apart (C's order too),
        // and a long chain is walked at the cost of this first test per entry.
        c.cport == k.cport
            && port == k.port
            && addr_eq(k.family, &c.caddr, k.caddr)
            && c.net == k.net
            && c.family == k.family
            && c.protocol == k.protocol
            && !c.is_template()
            && addr_eq(k.family, addr, k.addr)
    })
}

/// `ip_vs_conn_in_get()`: the entry of a request from client `caddr:cport` to the virtual
/// `addr:port`.
pub(crate) fn in_get(k: &Lookup<'_>) -> Option<ConnRef> {
    lookup(k, FarEnd::Virtual)
}

/// `ip_vs_conn_out_get()`: the entry of a reply from real server `addr:port` to client
/// `caddr:cport`.
pub(crate) fn out_get(k: &Lookup<'_>) -> Option<ConnRef> {
    lookup(k, FarEnd::Dest)
}

/// `ip_vs_ct_in_get()`: the persistence template with the key `p` in namespace `net`,
/// matched as the core's [`persist::ConnParam::matches_template`] says (a fwmark template's
/// virtual "address" is the mark, compared on its first four bytes).
pub(crate) fn template_get(net: usize, p: &persist::ConnParam) -> Option<ConnRef> {
    let family = Family::from_af(p.af)?;
    let protocol = u8::try_from(p.protocol).ok()?;
    let hash = hashkey(net, family, protocol, &p.caddr, p.cport);
    TABLE.find(hash, |c| {
        c.net == net && p.matches_template(&c.param(), c.flags())
    })
}

/// `ip_vs_check_template()`'s rehash of a template it found unusable: the template takes
/// the key the core's [`persist::invalidated_template`] gives it (virtual and destination
/// port 0xffff) so that lookups stop finding it while its timer runs out. The client port,
/// which with the address decides the bucket, stays 0 (templates are created with client
/// port 0 and the core keeps it), so the entry is rewritten in place, in its bucket; a
/// concurrent lookup sees the old or the new port, as under C's bucket lock it would find
/// the entry before or not after. A template C would leave as it is (virtual port already
/// 0xffff) is left too.
pub(crate) fn invalidate_template(ct: &Conn) {
    let Some((key, dport)) = persist::invalidated_template(&ct.param()) else {
        return;
    };
    if key.cport != ct.cport {
        // Not a template this module created (its client port would move it to another
        // bucket); C's rehash would move it, this table cannot: leave it to its timer.
        return;
    }
    ct.vport.store(key.vport, Ordering::Relaxed);
    ct.dport.store(dport, Ordering::Relaxed);
}

/// `ip_vs_conn_new()` + `ip_vs_bind_dest()` + `ip_vs_conn_hash()`: a new entry, in the
/// table, referenced by the caller; `control` becomes its controlling template.
pub(crate) fn create(
    ns: &DpNet,
    net: usize,
    p: ConnParams,
    control: Option<&ConnRef>,
) -> Result<ConnRef> {
    if TABLE.size() == 0 {
        return Err(ENODEV);
    }
    let dest_flags = p
        .dest
        .as_ref()
        .map_or(0, |d| d.conn_flags.load(Ordering::Relaxed));
    let mut flags = p.flags;
    if p.dest.is_some() {
        // ip_vs_bind_dest(): connections inherit the forwarding method (and the other
        // per-destination flags) from the destination; new ones start inactive.
        let mut df = dest_flags | conn_flags::INACTIVE;
        if df & conn_flags::FWD_MASK != conn_flags::MASQ {
            df |= conn_flags::NOOUTPUT;
        }
        if flags & (conn_flags::SYNC | F_TEMPLATE) == conn_flags::SYNC {
            // A connection a backup creates from a sync message keeps the activity the
            // master sent (C: "preserve the activity flag").
            df &= !conn_flags::INACTIVE;
        }
        flags = (flags & !(conn_flags::FWD_MASK | conn_flags::NOOUTPUT)) | df;
    }
    let hash = hashkey(net, p.family, p.protocol, &p.caddr, p.cport);
    // ip_vs_conn_new(): "proto should only be IPPROTO_IP if p->vaddr is a fwmark", and then
    // only its first four bytes are kept (ip_vs_addr_set(AF_UNSPEC, ...)). A backup creating
    // an IPv6 firewall-mark template from a sync message keeps the mark, not the rest.
    let vaddr = if p.protocol == 0 {
        let [a, b, c, d, ..] = p.vaddr.0;
        InetAddr([a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    } else {
        p.vaddr
    };
    let conn = ConnInfo {
        net,
        family: p.family,
        protocol: p.protocol,
        caddr: p.caddr,
        cport: p.cport,
        vaddr,
        vport: AtomicU16::new(p.vport),
        daddr: p.daddr,
        dport: AtomicU16::new(p.dport),
        fwmark: p.fwmark,
        flags: AtomicU32::new(flags),
        state: AtomicU32::new(0),
        old_state: AtomicU32::new(0),
        sync_endtime: AtomicU64::new(0),
        timeout: AtomicU64::new(
            u64::from(ipvs_core::proto::NEW_CONN_TIMEOUT_SECS) * u64::from(crate::glue::rcu::hz()),
        ),
        dest: p.dest,
        svc_stats: p.svc_stats,
        in_pkts: AtomicU32::new(0),
    };
    // ip_vs_conn_hash(): one-packet connections stay out of the table; the last put
    // expires them (see `ref_table::Link::Unlinked`).
    let link = if flags & conn_flags::ONE_PACKET != 0 {
        Link::Unlinked
    } else {
        Link::Chained
    };
    TABLE.insert(&ns.conn_count, hash, link, conn, control, |c| {
        if let Some(d) = &c.dest {
            d.bind(flags & F_TEMPLATE != 0, flags & conn_flags::INACTIVE != 0);
        }
    })
}

/// `ip_vs_conn_expire()`: unlink and free the entry if nobody holds or needs it, else try
/// again in a minute. Runs from the timer, or from whoever deleted the pending timer
/// ([`del`]); either way inside an RCU read-side section (softirq, or the caller's walk),
/// so `c` stays readable until this returns even once it is queued for freeing.
pub(crate) fn expire(c: &Conn) {
    // A template still controlling connections, or an entry someone holds, lives on.
    if c.n_control.load(Ordering::Relaxed) == 0 {
        // The unlink deletes the timer too: a holder that dropped its reference just before
        // may have re-armed it.
        if let Some(mut gone) = c.unlink() {
            if let Some(ct) = c.control() {
                // Take a reference on the template before giving up the control count that
                // kept it alive (C: `has_ref = !cp->timeout && __ip_vs_conn_get(ct)`).
                let held = if c.timeout() == 0 { ct.try_get() } else { None };
                // ip_vs_control_del()
                let left = gone.control_del().unwrap_or(0);
                if let Some(held) = held {
                    // Drop the controlling connection, or a template nobody needs any more
                    // that never saw an established connection.
                    if left == 0
                        && (!ct.is_template()
                            || ct.state.load(Ordering::Relaxed) & CTPL_S_ASSURED == 0)
                    {
                        del_put(ct, held);
                    } else {
                        held.put_no_rearm();
                    }
                }
            }
            let f = c.flags();
            if f & conn_flags::NFCT != 0 && f & conn_flags::ONE_PACKET == 0 {
                // ip_vs_conn_drop_conntrack(): the conntrack entry goes with the connection.
                c.census().drop_conntrack(
                    crate::glue::skb::af_of(c.family),
                    c.protocol,
                    &c.caddr.0,
                    c.cport,
                    &c.vaddr.0,
                    c.vport(),
                );
            }
            if let Some(d) = &c.dest {
                d.unbind(f & F_TEMPLATE != 0, f & conn_flags::INACTIVE != 0);
            }
            // Queue the free after a grace period, then take the entry off the namespace's
            // count: only now may the flush see the count drop: it then waits with
            // rcu_barrier() for the callback just queued, so the free never runs after the
            // module is gone (C decrements after call_rcu() too). The timer callback
            // returning into module text after this is covered the same way: rcu_barrier()
            // waits for a grace period after the callback was queued, which waits for this
            // softirq (an RCU reader).
            drop(gone);
            return;
        }
    }
    // expire_later: try again in a minute (C: cp->timeout = 60*HZ), re-arming only while
    // holding a reference. If none can be taken the entry is dying: another path (the
    // nodest work or the flush calling `del`, racing with this timer run) unlinked it and
    // deleted its timer, which must stay deleted.
    let Some(held) = c.try_get() else { return };
    let hz = u64::from(crate::glue::rcu::hz());
    held.set_timeout(60 * hz);
    held.arm_timer(rcu::jiffies().wrapping_add(60 * hz));
    held.put_no_rearm();
}

/// `ip_vs_conn_del_put()`: expire `ct` now if its timer is pending, giving up the
/// reference `held` the caller took on it.
fn del_put(ct: &Conn, held: ConnRef) {
    if ct.delete_timer() {
        // Drop the controlling chain too.
        if ct.control().is_some() {
            ct.set_timeout(0);
        }
        held.put_no_rearm();
        // `expire`'s callers run inside an RCU read-side section, so `ct` stays readable
        // until it returns; deleting the pending timer made this the only expiry under way.
        expire(ct);
    } else {
        held.put_no_rearm();
    }
}

/// Calls `f` on every entry of namespace `net`, one bucket per RCU read-side section, and
/// lets others run between buckets (C: `cond_resched_rcu()`). Process context only (the
/// flushes).
pub(crate) fn for_each(net: usize, f: impl FnMut(&Conn)) {
    TABLE.for_each(|c| c.net == net, f);
}

/// The entry of namespace `net` at `cur`, or, when its bucket has no more, the first one
/// of a following bucket (`cur` moves there). `None` at the end of the table. May leave the
/// read-side section between buckets (`cond_resched_rcu()`).
pub(crate) fn seek<'g>(
    rcu: &'g mut RcuReadGuard,
    net: usize,
    cur: &mut Cursor,
) -> Option<&'g Conn> {
    TABLE.seek(rcu, cur, |c| c.net == net)
}

/// The entry of namespace `net` after `c`, which [`seek`] or [`seek_next`] returned at `cur`
/// within the same read-side section.
pub(crate) fn seek_next<'g>(
    rcu: &'g mut RcuReadGuard,
    net: usize,
    cur: &mut Cursor,
    c: &Conn,
) -> Option<&'g Conn> {
    TABLE.seek_next(rcu, cur, c, |n| n.net == net)
}

/// `ip_vs_conn_flush()`: expire every entry of a namespace whose hooks are gone, and wait
/// until they are all freed. Process context.
pub(crate) fn flush(ns: &DpNet, net: usize) {
    loop {
        for_each(net, |c| {
            // Controlled entries first; templates once nothing uses them.
            c.set_timeout(0);
            c.expire_now();
        });
        if ns.conn_count.count() <= 0 {
            break;
        }
        rcu::msleep(10);
    }
    // The RCU callbacks of the freed entries (and the timer callbacks that queued them).
    rcu::barrier();
}

/// Number of entries of a namespace (`ipvs->conn_count`).
#[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
pub(crate) fn count(ns: &DpNet) -> i32 {
    ns.conn_count.count()
}

/// Whether `c` still is in the table (for tests).
#[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
pub(crate) fn is_hashed(c: &Conn) -> bool {
    c.is_hashed()
}

/// `IP_VS_CONN_F_HASHED` must not leak into what users see.
pub(crate) fn user_flags(c: &Conn) -> u32 {
    c.flags() & !F_HASHED
}

/// The entry was created by a destination that has this `Arc`.
#[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
pub(crate) fn has_dest(c: &Conn, d: &DestShared) -> bool {
    c.dest.as_deref().is_some_and(|x| ptr::eq(x, d))
}

/// `ip_vs_conn_del()`: expire an entry now, from any context, if its timer is pending
/// (otherwise its expiry is under way already).
pub(crate) fn del(c: &Conn) {
    if c.delete_timer() {
        // Drop the controlling chain too.
        if c.control().is_some() {
            c.set_timeout(0);
        }
        expire(c);
    }
}

/// `ip_vs_expire_nodest_conn_flush()`: expire every entry of the namespace whose destination
/// was removed (and a template left without controlled entries).
pub(crate) fn expire_nodest_conn_flush(ns: &DpNet) {
    let expired = &ns.reuse.expired_nodest_work;
    for_each(ns.net_id(), |c| {
        let Some(d) = c.dest.as_deref() else { return };
        if d.available.load(Ordering::Relaxed) || c.n_control.load(Ordering::Relaxed) != 0 {
            return;
        }
        let ctl = c.control();
        if !c.is_template() {
            expired.fetch_add(1, Ordering::Relaxed);
        }
        del(c);
        if let Some(ct) = ctl {
            if ct.n_control.load(Ordering::Relaxed) == 0 {
                del(ct);
            }
        }
    });
}

/// `ip_vs_random_dropentry()`: while the `drop_entry` defense is active, the defense work
/// visits 1/32 of the table's buckets at random every second and deletes the namespace's
/// flood-like entries: TCP entries in SYN_RECV or SYNACK, unassured templates, and (one in
/// `in_pkts`) entries idle for a minute with at most 8 packets. Process context.
///
/// `counters` are `todrop_entry()`'s. C keeps one function-static `signed char[9]` for all
/// namespaces, updated without a lock; the caller keeps them per namespace, under the
/// namespace's defense lock (the 1-in-N sampling of each namespace is then its own, as it
/// is in C whenever only one namespace is under a flood).
pub(crate) fn random_dropentry(ns: &DpNet, counters: &mut ipvs_core::defense::EntryCounters) {
    use ipvs_core::defense::{self, EntryKind, EntryVerdict};
    use ipvs_core::proto::tcp::TcpState;
    let net = ns.net_id();
    let hz = u64::from(crate::glue::rcu::hz());
    for _ in 0..defense::dropentry_buckets(TABLE.size()) {
        // An entry `del` unlinks keeps its `next` and is freed only after the walk's
        // read-side section.
        TABLE.for_bucket(crate::glue::random::u32() as usize, |c| {
            if c.net != net || c.n_control.load(Ordering::Relaxed) != 0 {
                return;
            }
            let state = c.state.load(Ordering::Relaxed);
            let kind = if c.is_template() {
                // ip_vs_conn_ops_mode(): ipvs-rs does not keep the service's flags with
                // its destinations; one-packet templates are treated as the others.
                EntryKind::Template {
                    ops: false,
                    assured: state & CTPL_S_ASSURED != 0,
                }
            } else if c.protocol == ipvs_core::wire::IPPROTO_TCP {
                EntryKind::Tcp(TcpState::from_c(state).unwrap_or(TcpState::None))
            } else {
                EntryKind::Other
            };
            let drop = match defense::dropentry_verdict(kind) {
                EntryVerdict::Keep => false,
                EntryVerdict::Drop => true,
                EntryVerdict::Maybe => {
                    let young =
                        defense::entry_is_young(c.timeout(), rcu::jiffies(), c.expires(), hz);
                    let in_pkts = c.in_pkts.load(Ordering::Relaxed) as i32;
                    defense::todrop_entry(young, in_pkts, counters)
                }
            };
            if drop {
                del(c);
            }
        });
    }
}

/// `ip_vs_conn_out_get()` exactly as C 6.12 has it, for the `ipvs` xtables match
/// (`ipvs_core::xt_ipvs`): the parameter `p` read from a packet of namespace `net`, the
/// entry test [`ipvs_core::xt_ipvs::out_get_hit`] (by forwarding method, templates not
/// skipped). The hooks' [`out_get`] is the lookup of replies as ipvs_rs's `ip_vs_out_hook()`
/// uses it.
pub(crate) fn out_get_param(
    net: &crate::glue::pernet::Net,
    p: &ipvs_core::xt_ipvs::ConnParam,
) -> Option<ConnRef> {
    use ipvs_core::xt_ipvs::{out_get_hit, ConnKey};
    // The table's namespace key (`ConnInfo::net`) is the `struct net` pointer.
    let net = net.as_ptr() as usize;
    let (addr, port) = p.hash_end();
    TABLE.find(hashkey(net, p.family, p.protocol, addr, port), |c| {
        c.net == net
            && out_get_hit(
                p,
                &ConnKey {
                    family: c.family,
                    protocol: c.protocol,
                    caddr: &c.caddr,
                    cport: c.cport,
                    vaddr: &c.vaddr,
                    vport: c.vport(),
                    daddr: &c.daddr,
                    dport: c.dport(),
                    flags: c.flags(),
                },
            )
    })
}
