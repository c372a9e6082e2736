// SPDX-License-Identifier: GPL-2.0
//! The connection table: `ip_vs_conn.c`.
//!
//! One table for all namespaces, as in C (`ip_vs_conn_tab`, `conn_tab_bits` buckets, keyed
//! with the namespace). Every connection is hashed by its client end (address, port), so the
//! request direction (`ip_vs_conn_in_get()`: client → virtual address) and the reply
//! direction (`ip_vs_conn_out_get()`: real server → client) find it in the same bucket.
//!
//! Concurrency, as in C:
//! - readers (the hooks, /proc) walk a bucket under RCU without locks, and take a reference
//!   with an increment-if-not-zero;
//! - writers (insert, unlink) hold the bucket's lock (`BucketLock`, `spin_lock_bh`);
//! - the table holds one reference; the entry's timer owns the table's reference: when it
//!   fires and nobody else holds one (`refcnt` 1 → 0), it unlinks the entry, undoes the
//!   destination's counters and frees the entry after a grace period (`call_rcu`);
//! - every `ConnRef` dropped re-arms the timer with the entry's current timeout
//!   (`ip_vs_conn_put()`), so an entry lives `timeout` after its last packet.

use super::dest::{DestShared, StatsCells};
use crate::ctl::NetState;
use crate::glue::bindings;
use crate::glue::rcu::{self, BhGuard, BucketLock, RcuHead, RcuReadGuard, Timer};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use ipvs_core::netlink::ipvs::conn_flags;
use ipvs_core::wire::{Family, InetAddr};
use kernel::prelude::*;
use kernel::sync::Arc;

/// `IP_VS_CONN_F_TEMPLATE`.
pub(crate) const F_TEMPLATE: u32 = 0x1000;
/// `IP_VS_CONN_F_HASHED`.
const F_HASHED: u32 = 0x0040;
/// `IP_VS_CONN_F_NO_CPORT`.
pub(crate) const F_NO_CPORT: u32 = 0x0800;
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

/// A connection entry (`struct ip_vs_conn`).
///
/// # Invariants
///
/// Allocated by [`create`] as a `KBox` whose pointer is leaked into the table; freed only by
/// the RCU callback queued after it was unlinked with `refcnt` 0. `ns` points to the
/// namespace state, which flushes its connections (waits for them all to be unlinked, then
/// for the RCU callbacks) before it goes away.
#[repr(C)]
pub(crate) struct Conn {
    timer: Timer,
    rcu: RcuHead,
    next: AtomicPtr<Conn>,
    refcnt: AtomicU32,
    hash: u32,
    /// The namespace (`struct net *`), for matching only.
    net: usize,
    ns: *const NetState,
    pub(crate) family: Family,
    pub(crate) protocol: u8,
    pub(crate) caddr: InetAddr,
    pub(crate) cport: u16,
    pub(crate) vaddr: InetAddr,
    pub(crate) vport: u16,
    pub(crate) daddr: InetAddr,
    pub(crate) dport: u16,
    pub(crate) fwmark: u32,
    pub(crate) flags: AtomicU32,
    /// Protocol state (C numbering), or `IP_VS_CTPL_S_*` for a template.
    pub(crate) state: AtomicU32,
    /// Jiffies.
    timeout: AtomicU64,
    pub(crate) dest: Option<Arc<DestShared>>,
    pub(crate) svc_stats: Option<Arc<StatsCells>>,
    /// The template controlling this connection (persistence). Valid while this entry
    /// exists: a template is not unlinked while `n_control` > 0.
    control: AtomicPtr<Conn>,
    pub(crate) n_control: AtomicI32,
    pub(crate) in_pkts: AtomicU32,
    /// `cp->lock`: serialises protocol state changes.
    state_lock: AtomicBool,
}

/// `spin_lock_bh(&cp->lock)` … `spin_unlock_bh()`.
pub(crate) struct StateGuard<'a> {
    lock: &'a AtomicBool,
    _bh: BhGuard,
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        self.lock.store(false, Ordering::Release);
    }
}

// SAFETY: all mutable fields are atomics or kernel objects (timer, rcu head) designed for
// concurrent use; the raw pointers refer to objects whose lifetime the table protocol
// guarantees (type invariants).
unsafe impl Send for Conn {}
// SAFETY: see `Send`.
unsafe impl Sync for Conn {}

impl Conn {
    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    pub(crate) fn is_template(&self) -> bool {
        self.flags() & F_TEMPLATE != 0
    }

    pub(crate) fn fwd_method(&self) -> u32 {
        self.flags() & conn_flags::FWD_MASK
    }

    /// Lock the protocol state (bottom halves off, so the packet path on this CPU cannot
    /// spin on a lock its own interrupted context holds).
    pub(crate) fn lock_state(&self) -> StateGuard<'_> {
        let bh = BhGuard::new();
        while self.state_lock.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        StateGuard { lock: &self.state_lock, _bh: bh }
    }

    pub(crate) fn set_timeout(&self, jiffies: u64) {
        self.timeout.store(jiffies, Ordering::Relaxed);
    }

    pub(crate) fn timeout(&self) -> u64 {
        self.timeout.load(Ordering::Relaxed)
    }

    /// When the entry expires (jiffies), for /proc.
    pub(crate) fn expires(&self) -> u64 {
        self.timer.expires()
    }

    /// The template controlling this connection.
    pub(crate) fn control(&self) -> Option<&Conn> {
        // SAFETY: a controlling template outlives its controlled entries (type invariant).
        unsafe { self.control.load(Ordering::Acquire).as_ref() }
    }

    /// `ip_vs_conn_expire_now()`: if the timer is pending and due later, make it due now.
    ///
    /// `mod_timer_pending()`, as in C: a timer that is not pending is never armed, so an
    /// entry whose final expiry already deleted its timer (it is dying, to be freed after a
    /// grace period) is never re-armed. Callable without a reference under RCU.
    pub(crate) fn expire_now(&self) {
        let now = rcu::jiffies();
        // time_after(timer.expires, now)
        if self.timer.pending() && (now.wrapping_sub(self.timer.expires()) as i64) < 0 {
            self.timer.modify_pending(now);
        }
    }

    /// Whether the timer is armed (for tests).
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn timer_pending(&self) -> bool {
        self.timer.pending()
    }

    /// Disarm the timer (for tests that found it wrongly armed, so the kernel survives them).
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn disarm_timer(&self) -> bool {
        self.timer.delete()
    }

    /// `ip_vs_control_add()`: `self` becomes controlled by template `ct`.
    fn set_control(&self, ct: &Conn) {
        ct.n_control.fetch_add(1, Ordering::Relaxed);
        self.control.store(ptr::from_ref(ct).cast_mut(), Ordering::Release);
    }

    /// Try to take a reference (`__ip_vs_conn_get()`): fails once the entry is dying (and,
    /// rather than overflow, at `u32::MAX` references).
    fn try_get(&self) -> bool {
        self.refcnt
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |r| if r == 0 { None } else { r.checked_add(1) })
            .is_ok()
    }
}

/// A counted reference to a connection (`ip_vs_conn_get()` … `ip_vs_conn_put()`).
///
/// # Invariants
///
/// Holds one of the entry's references, so the entry is not unlinked or freed meanwhile.
pub(crate) struct ConnRef(NonNull<Conn>);

// SAFETY: a reference to a `Sync` entry.
unsafe impl Send for ConnRef {}

impl core::ops::Deref for ConnRef {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        // SAFETY: the reference keeps the entry alive (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl ConnRef {
    /// `__ip_vs_conn_put()`: drop the reference without re-arming the timer (after
    /// [`Conn::expire_now`]).
    pub(crate) fn put_no_rearm(self) {
        self.refcnt.fetch_sub(1, Ordering::Release);
        core::mem::forget(self);
    }
}

impl Drop for ConnRef {
    /// `ip_vs_conn_put()`: the entry expires `timeout` after its last user.
    fn drop(&mut self) {
        self.timer.modify(rcu::jiffies().wrapping_add(self.timeout()));
        self.refcnt.fetch_sub(1, Ordering::Release);
    }
}

/// The bucket array, allocated at module load.
struct Table {
    buckets: AtomicPtr<AtomicPtr<Conn>>,
    len: AtomicUsize,
    seed: AtomicU32,
}

static TABLE: Table = Table { buckets: AtomicPtr::new(ptr::null_mut()), len: AtomicUsize::new(0), seed: AtomicU32::new(0) };

/// Ownership of the bucket array: created at module load, dropped at unload after every
/// namespace has flushed its connections.
pub(crate) struct TableAlloc(());

impl TableAlloc {
    pub(crate) fn new() -> Result<TableAlloc> {
        rcu::init_locks();
        // SAFETY: a plain read of the module parameter.
        let bits = unsafe { bindings::ipvs_rs_conn_tab_bits() } as u32;
        let len = 1usize << bits;
        let mut v: KVVec<AtomicPtr<Conn>> = KVVec::with_capacity(len, GFP_KERNEL)?;
        for _ in 0..len {
            v.push(AtomicPtr::new(ptr::null_mut()), GFP_KERNEL)?;
        }
        let (p, _, _) = v.into_raw_parts();
        // SAFETY: plain call.
        TABLE.seed.store(unsafe { bindings::ipvs_rs_random_u32() }, Ordering::Relaxed);
        TABLE.len.store(len, Ordering::Relaxed);
        TABLE.buckets.store(p, Ordering::Release);
        Ok(TableAlloc(()))
    }

    pub(crate) fn size() -> usize {
        TABLE.len.load(Ordering::Relaxed)
    }
}

impl Drop for TableAlloc {
    fn drop(&mut self) {
        let p = TABLE.buckets.swap(ptr::null_mut(), Ordering::AcqRel);
        let len = TABLE.len.swap(0, Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: `p`/`len` came from `into_raw_parts` of a `KVVec` of exactly `len`
            // elements and capacity `len`; all namespaces are gone, so no entry and no
            // reader is left.
            drop(unsafe { KVVec::from_raw_parts(p, len, len) });
        }
    }
}

fn buckets() -> &'static [AtomicPtr<Conn>] {
    let p = TABLE.buckets.load(Ordering::Acquire);
    if p.is_null() {
        return &[];
    }
    // SAFETY: set in `TableAlloc::new` to an array of `len` buckets that lives until the
    // module unloads, after every user is gone.
    unsafe { core::slice::from_raw_parts(p, TABLE.len.load(Ordering::Relaxed)) }
}

/// `ip_vs_conn_hashkey()`: namespace, family, protocol and one end of the connection.
fn hashkey(net: usize, family: Family, protocol: u8, addr: &InetAddr, port: u16) -> u32 {
    let mut h = TABLE.seed.load(Ordering::Relaxed) ^ (net as u32) ^ ((net as u64 >> 32) as u32);
    let words = match family {
        Family::Ipv4 => 1,
        Family::Ipv6 => 4,
    };
    for w in addr.0.chunks_exact(4).take(words) {
        h = (h ^ u32::from_ne_bytes([w[0], w[1], w[2], w[3]])).wrapping_mul(0x9e37_79b1).rotate_left(13);
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

/// Walk the bucket of `hash` under RCU, returning a reference to the first entry `pred`
/// accepts that is still alive.
fn find(hash: u32, pred: impl Fn(&Conn) -> bool) -> Option<ConnRef> {
    let b = buckets();
    let bucket = b.get(hash as usize & b.len().wrapping_sub(1))?;
    let _rcu = RcuReadGuard::new();
    let mut p = bucket.load(Ordering::Acquire);
    // SAFETY: (loop) entries reachable from a bucket under RCU are not freed before the
    // read-side section ends (they are unlinked first, freed after a grace period).
    while let Some(c) = unsafe { p.as_ref() } {
        if pred(c) && c.try_get() {
            // INVARIANT: `try_get` took a reference.
            return Some(ConnRef(NonNull::from(c)));
        }
        p = c.next.load(Ordering::Acquire);
    }
    None
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
    /// The virtual service (requests, templates).
    Virtual,
    /// The real server (replies).
    Dest,
}

/// The one walk behind the three lookups: same namespace, family, protocol and client end,
/// the far end on the given side, and a template or not.
fn lookup(k: &Lookup<'_>, far: FarEnd, template: bool) -> Option<ConnRef> {
    let hash = hashkey(k.net, k.family, k.protocol, k.caddr, k.cport);
    find(hash, |c| {
        let (addr, port) = match far {
            FarEnd::Virtual => (&c.vaddr, c.vport),
            FarEnd::Dest => (&c.daddr, c.dport),
        };
        c.net == k.net
            && c.family == k.family
            && c.protocol == k.protocol
            && c.cport == k.cport
            && port == k.port
            && c.is_template() == template
            && addr_eq(k.family, &c.caddr, k.caddr)
            && addr_eq(k.family, addr, k.addr)
    })
}

/// `ip_vs_conn_in_get()`: the entry of a request from client `caddr:cport` to the virtual
/// `addr:port`.
pub(crate) fn in_get(k: &Lookup<'_>) -> Option<ConnRef> {
    lookup(k, FarEnd::Virtual, false)
}

/// `ip_vs_conn_out_get()`: the entry of a reply from real server `addr:port` to client
/// `caddr:cport`.
pub(crate) fn out_get(k: &Lookup<'_>) -> Option<ConnRef> {
    lookup(k, FarEnd::Dest, false)
}

/// `ip_vs_ct_in_get()`: a persistence template (`addr`/`port` are the template's virtual
/// end, which for fwmark services encodes the mark).
pub(crate) fn template_get(k: &Lookup<'_>) -> Option<ConnRef> {
    lookup(k, FarEnd::Virtual, true)
}

/// `ip_vs_conn_new()` + `ip_vs_bind_dest()` + `ip_vs_conn_hash()`: a new entry, in the
/// table, referenced by the caller; `control` becomes its controlling template.
pub(crate) fn create(ns: &NetState, net: usize, p: ConnParams, control: Option<&Conn>) -> Result<ConnRef> {
    let b = buckets();
    if b.is_empty() {
        return Err(ENODEV);
    }
    let dest_flags = p.dest.as_ref().map_or(0, |d| d.conn_flags.load(Ordering::Relaxed));
    let mut flags = p.flags;
    if p.dest.is_some() {
        // ip_vs_bind_dest(): connections inherit the forwarding method (and the other
        // per-destination flags) from the destination; new ones start inactive.
        let mut df = dest_flags | conn_flags::INACTIVE;
        if df & conn_flags::FWD_MASK != conn_flags::MASQ {
            df |= conn_flags::NOOUTPUT;
        }
        flags = (flags & !(conn_flags::FWD_MASK | conn_flags::NOOUTPUT)) | df;
    }
    let hash = hashkey(net, p.family, p.protocol, &p.caddr, p.cport);
    let conn = KBox::new(
        Conn {
            timer: Timer::new(),
            rcu: RcuHead::new(),
            next: AtomicPtr::new(ptr::null_mut()),
            // The caller's reference and the table's.
            refcnt: AtomicU32::new(2),
            hash,
            net,
            ns: ptr::from_ref(ns),
            family: p.family,
            protocol: p.protocol,
            caddr: p.caddr,
            cport: p.cport,
            vaddr: p.vaddr,
            vport: p.vport,
            daddr: p.daddr,
            dport: p.dport,
            fwmark: p.fwmark,
            flags: AtomicU32::new(flags | F_HASHED),
            state: AtomicU32::new(0),
            timeout: AtomicU64::new(u64::from(ipvs_core::proto::NEW_CONN_TIMEOUT_SECS) * u64::from(crate::glue::rcu::hz())),
            dest: p.dest,
            svc_stats: p.svc_stats,
            control: AtomicPtr::new(ptr::null_mut()),
            n_control: AtomicI32::new(0),
            in_pkts: AtomicU32::new(0),
            state_lock: AtomicBool::new(false),
        },
        GFP_ATOMIC,
    )?;
    let conn = NonNull::from(KBox::leak(conn));
    // SAFETY: just allocated; not shared yet.
    let c = unsafe { conn.as_ref() };
    // SAFETY: first use of the timer, which lives as long as the entry; the callback
    // recovers the entry from it.
    unsafe { c.timer.setup(conn_timer) };
    if let Some(d) = &c.dest {
        d.bind(flags & F_TEMPLATE != 0, flags & conn_flags::INACTIVE != 0);
    }
    if let Some(ct) = control {
        c.set_control(ct);
    }
    ns.dp.conn_count.fetch_add(1, Ordering::Relaxed);
    let bucket = &b[hash as usize & (b.len() - 1)];
    {
        let _lock = BucketLock::lock(hash);
        c.next.store(bucket.load(Ordering::Relaxed), Ordering::Relaxed);
        // Publish the initialised entry (rcu_assign_pointer()).
        bucket.store(conn.as_ptr(), Ordering::Release);
    }
    // INVARIANT: refcnt includes the caller's reference.
    Ok(ConnRef(conn))
}

/// Unlinks `c` if nobody but the table holds it (`ip_vs_conn_unlink()`).
fn unlink(c: &Conn) -> bool {
    let b = buckets();
    let Some(bucket) = b.get(c.hash as usize & b.len().wrapping_sub(1)) else { return false };
    let _lock = BucketLock::lock(c.hash);
    if c.flags() & F_HASHED == 0 || c.refcnt.compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return false;
    }
    let me = ptr::from_ref(c).cast_mut();
    let mut link = bucket;
    loop {
        let p = link.load(Ordering::Relaxed);
        if p.is_null() {
            break;
        }
        if p == me {
            link.store(c.next.load(Ordering::Relaxed), Ordering::Release);
            break;
        }
        // SAFETY: entries in the chain are alive while we hold the bucket lock (only
        // unlinking, under this lock, starts their end).
        link = unsafe { &(*p).next };
    }
    c.flags.fetch_and(!F_HASHED, Ordering::Relaxed);
    true
}

/// The timer callback: `ip_vs_conn_expire()`.
unsafe extern "C" fn conn_timer(t: *mut bindings::timer_list) {
    let off = core::mem::offset_of!(Conn, timer);
    // SAFETY: the timer is the `timer` field of a live `Conn` (`create` set it up; an entry
    // is freed only after its timer can no longer run).
    let c = unsafe { &*t.cast::<u8>().sub(off).cast::<Conn>() };
    expire(c);
}

/// `ip_vs_conn_expire()`: unlink and free the entry if nobody holds or needs it, else try
/// again in a minute. Runs from the timer, or from whoever deleted the pending timer
/// ([`del`]); either way inside an RCU read-side section (softirq, or the caller's walk),
/// so `c` stays readable until this returns even once it is queued for freeing.
pub(crate) fn expire(c: &Conn) {
    // A template still controlling connections, or an entry someone holds, lives on.
    if c.n_control.load(Ordering::Relaxed) == 0 && unlink(c) {
        // A holder that dropped its reference just before the unlink may have re-armed it.
        c.timer.delete();
        if let Some(ct) = c.control() {
            // Take a reference on the template before giving up the control count that
            // kept it alive (C: `has_ref = !cp->timeout && __ip_vs_conn_get(ct)`).
            let held = if c.timeout() == 0 && ct.try_get() {
                // INVARIANT: `try_get` took a reference.
                Some(ConnRef(NonNull::from(ct)))
            } else {
                None
            };
            // ip_vs_control_del()
            let left = ct.n_control.fetch_sub(1, Ordering::Relaxed) - 1;
            if let Some(ct) = held {
                // Drop the controlling connection, or a template nobody needs any more
                // that never saw an established connection.
                if left == 0 && (!ct.is_template() || ct.state.load(Ordering::Relaxed) & CTPL_S_ASSURED == 0) {
                    del_put(ct);
                } else {
                    ct.put_no_rearm();
                }
            }
        }
        let f = c.flags();
        if f & conn_flags::NFCT != 0 && f & conn_flags::ONE_PACKET == 0 {
            // ip_vs_conn_drop_conntrack(): the conntrack entry goes with the connection.
            // SAFETY: the namespace outlives its connections (type invariant); the helper
            // reads 16 bytes from each address.
            unsafe {
                bindings::ipvs_rs_drop_conntrack(
                    c.net as *mut bindings::net,
                    crate::glue::skb::af_of(c.family),
                    c.protocol,
                    c.caddr.0.as_ptr().cast(),
                    c.cport.to_be(),
                    c.vaddr.0.as_ptr().cast(),
                    c.vport.to_be(),
                )
            };
        }
        if let Some(d) = &c.dest {
            d.unbind(f & F_TEMPLATE != 0, f & conn_flags::INACTIVE != 0);
        }
        let ns = c.ns;
        // SAFETY: unlinked with refcnt 0: no new reader can find it and nobody holds it;
        // the callback frees it after the readers that might still see it are done.
        unsafe { c.rcu.call(conn_free) };
        // Only now may the flush see the count drop: it then waits with rcu_barrier() for
        // the callback just queued, so `conn_free` never runs after the module is gone
        // (C decrements after call_rcu() too). The timer callback returning into module
        // text after this is covered the same way: rcu_barrier() waits for a grace period
        // after the callback was queued, which waits for this softirq (an RCU reader).
        // SAFETY: `ns` outlives its connections (type invariant): the flush waits for this
        // decrement before the namespace state goes.
        unsafe { &*ns }.dp.conn_count.fetch_sub(1, Ordering::Release);
        return;
    }
    // expire_later: try again in a minute (C: cp->timeout = 60*HZ), re-arming only while
    // holding a reference. If none can be taken the entry is dying: another path (the
    // nodest work or the flush calling `del`, racing with this timer run) unlinked it and
    // deleted its timer, which must stay deleted.
    if !c.try_get() {
        return;
    }
    // INVARIANT: `try_get` took a reference.
    let held = ConnRef(NonNull::from(c));
    let hz = u64::from(crate::glue::rcu::hz());
    held.set_timeout(60 * hz);
    held.timer.modify(rcu::jiffies().wrapping_add(60 * hz));
    held.put_no_rearm();
}

/// `ip_vs_conn_del_put()`: expire `ct` now if its timer is pending, giving up the
/// reference the caller held.
fn del_put(ct: ConnRef) {
    let p = ct.0;
    if ct.timer.delete() {
        // Drop the controlling chain too.
        if ct.control().is_some() {
            ct.set_timeout(0);
        }
        ct.put_no_rearm();
        // SAFETY: `expire`'s callers run inside an RCU read-side section, so the entry
        // stays readable until it returns; deleting the pending timer made this the only
        // expiry under way.
        expire(unsafe { p.as_ref() });
    } else {
        ct.put_no_rearm();
    }
}

unsafe extern "C" fn conn_free(head: *mut bindings::callback_head) {
    let off = core::mem::offset_of!(Conn, rcu);
    // SAFETY: `head` is the `rcu` field of an entry leaked from a `KBox` in `create` and
    // unlinked for good; this is its only release.
    drop(unsafe { KBox::from_raw(head.cast::<u8>().sub(off).cast::<Conn>()) });
}

/// Calls `f` on every entry of namespace `net`, one bucket per RCU read-side section, and
/// lets others run between buckets (C: `cond_resched_rcu()`), so a table of millions of
/// entries does not stall a CPU. Process context only (the flushes).
pub(crate) fn for_each(net: usize, mut f: impl FnMut(&Conn)) {
    for bucket in buckets() {
        {
            let _rcu = RcuReadGuard::new();
            let mut p = bucket.load(Ordering::Acquire);
            // SAFETY: see `find`.
            while let Some(c) = unsafe { p.as_ref() } {
                if c.net == net {
                    f(c);
                }
                p = c.next.load(Ordering::Acquire);
            }
        }
        rcu::cond_resched();
    }
}

/// Where a reader of `/proc/net/ip_vs_conn` is: the bucket, and how many of its
/// namespace's entries in that bucket it has passed. Resuming from it after the RCU read
/// lock was dropped walks one bucket, not the table (entries added or removed in that
/// bucket meanwhile may make one line show twice or not at all, as in C).
#[derive(Clone, Copy, Default)]
pub(crate) struct Cursor {
    bucket: usize,
    offset: usize,
}

/// The entry of namespace `net` at `cur`, or, when its bucket has no more, the first one
/// of a following bucket (`cur` moves there). `None` at the end of the table.
///
/// # Safety
///
/// The caller holds the RCU read lock, and may use the returned entry only until it
/// releases it; this function may leave the read-side section between buckets
/// (`cond_resched_rcu()`), so no entry found earlier may be used after it returns.
pub(crate) unsafe fn seek(net: usize, cur: &mut Cursor) -> Option<&'static Conn> {
    let b = buckets();
    while let Some(bucket) = b.get(cur.bucket) {
        let mut seen = 0;
        let mut p = bucket.load(Ordering::Acquire);
        // SAFETY: see `find`; the caller holds the RCU read lock.
        while let Some(c) = unsafe { p.as_ref() } {
            if c.net == net {
                if seen == cur.offset {
                    return Some(c);
                }
                seen = seen.wrapping_add(1);
            }
            p = c.next.load(Ordering::Acquire);
        }
        cur.bucket = cur.bucket.wrapping_add(1);
        cur.offset = 0;
        // SAFETY: plain call; the caller holds the RCU read lock and uses no entry found
        // before (this function's contract).
        unsafe { bindings::ipvs_rs_cond_resched_rcu() };
    }
    None
}

/// The entry of namespace `net` after `c`, which [`seek`] or [`seek_next`] returned at `cur`.
///
/// # Safety
///
/// As for [`seek`]; `c` was returned at `cur` within the same read-side section.
pub(crate) unsafe fn seek_next(net: usize, cur: &mut Cursor, c: &Conn) -> Option<&'static Conn> {
    let mut p = c.next.load(Ordering::Acquire);
    // SAFETY: see `find`; the caller holds the RCU read lock since it got `c`.
    while let Some(n) = unsafe { p.as_ref() } {
        if n.net == net {
            cur.offset = cur.offset.wrapping_add(1);
            return Some(n);
        }
        p = n.next.load(Ordering::Acquire);
    }
    cur.bucket = cur.bucket.wrapping_add(1);
    cur.offset = 0;
    // SAFETY: forwarded from the caller; `c` is not used after this.
    unsafe { seek(net, cur) }
}

/// `ip_vs_conn_flush()`: expire every entry of a namespace whose hooks are gone, and wait
/// until they are all freed. Process context.
pub(crate) fn flush(ns: &NetState, net: usize) {
    loop {
        for_each(net, |c| {
            // Controlled entries first; templates once nothing uses them.
            c.set_timeout(0);
            c.expire_now();
        });
        if ns.dp.conn_count.load(Ordering::Acquire) <= 0 {
            break;
        }
        rcu::msleep(10);
    }
    // The RCU callbacks of the freed entries (and the timer callbacks that queued them).
    rcu::barrier();
}

/// Number of entries of a namespace (`ipvs->conn_count`).
#[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
pub(crate) fn count(ns: &NetState) -> i32 {
    ns.dp.conn_count.load(Ordering::Relaxed)
}

/// Whether `c` still is in the table (for tests).
#[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
pub(crate) fn is_hashed(c: &Conn) -> bool {
    c.flags() & F_HASHED != 0
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
    if c.timer.delete() {
        // Drop the controlling chain too.
        if c.control().is_some() {
            c.set_timeout(0);
        }
        expire(c);
    }
}

/// `ip_vs_expire_nodest_conn_flush()`: expire every entry of the namespace whose destination
/// was removed (and a template left without controlled entries).
pub(crate) fn expire_nodest_conn_flush(ns: &NetState) {
    let expired = &ns.dp.reuse.expired_nodest_work;
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

/// `todrop_entry()`'s counters (C: a function-static `signed char[9]` shared by every
/// namespace, updated without a lock from the defense work).
static TODROP_COUNTERS: rcu::BhSpin<ipvs_core::defense::EntryCounters> = rcu::BhSpin::new([0; 9]);

/// `ip_vs_random_dropentry()`: while the `drop_entry` defense is active, the defense work
/// visits 1/32 of the table's buckets at random every second and deletes the namespace's
/// flood-like entries: TCP entries in SYN_RECV or SYNACK, unassured templates, and (one in
/// `in_pkts`) entries idle for a minute with at most 8 packets. Process context.
pub(crate) fn random_dropentry(ns: &NetState) {
    use ipvs_core::defense::{self, EntryKind, EntryVerdict};
    use ipvs_core::proto::tcp::TcpState;
    let b = buckets();
    let net = ns.net_id();
    let hz = u64::from(crate::glue::rcu::hz());
    for _ in 0..defense::dropentry_buckets(b.len()) {
        // SAFETY: plain call.
        let hash = unsafe { bindings::ipvs_rs_random_u32() } as usize & b.len().wrapping_sub(1);
        let Some(bucket) = b.get(hash) else { return };
        {
            let _rcu = RcuReadGuard::new();
            let mut p = bucket.load(Ordering::Acquire);
            // SAFETY: (loop) see `find`; an entry `del` unlinks keeps its `next` and is
            // freed only after this read-side section.
            while let Some(c) = unsafe { p.as_ref() } {
                p = c.next.load(Ordering::Acquire);
                if c.net != net || c.n_control.load(Ordering::Relaxed) != 0 {
                    continue;
                }
                let state = c.state.load(Ordering::Relaxed);
                let kind = if c.is_template() {
                    // ip_vs_conn_ops_mode(): ipvs-rs does not keep the service's flags with
                    // its destinations; one-packet templates are treated as the others.
                    EntryKind::Template { ops: false, assured: state & CTPL_S_ASSURED != 0 }
                } else if c.protocol == ipvs_core::wire::IPPROTO_TCP {
                    EntryKind::Tcp(TcpState::from_c(state).unwrap_or(TcpState::None))
                } else {
                    EntryKind::Other
                };
                let drop = match defense::dropentry_verdict(kind) {
                    EntryVerdict::Keep => false,
                    EntryVerdict::Drop => true,
                    EntryVerdict::Maybe => {
                        let young = defense::entry_is_young(c.timeout(), rcu::jiffies(), c.expires(), hz);
                        let in_pkts = c.in_pkts.load(Ordering::Relaxed) as i32;
                        defense::todrop_entry(young, in_pkts, &mut TODROP_COUNTERS.lock())
                    }
                };
                if drop {
                    del(c);
                }
            }
        }
        // SAFETY: plain call; process context, outside the read-side section (C:
        // cond_resched_rcu()).
        unsafe { bindings::ipvs_rs_cond_resched() };
    }
}

/// `ip_vs_conn_out_get()` exactly as C 6.12 has it, for the `ipvs` xtables match
/// (`ipvs_core::xt_ipvs`): the parameter `p` read from a packet of namespace `net`, the
/// entry test [`ipvs_core::xt_ipvs::out_get_hit`] (by forwarding method, templates not
/// skipped). The hooks' [`out_get`] is the lookup of replies as ipvs_rs's `ip_vs_out_hook()`
/// uses it.
pub(crate) fn out_get_param(net: &crate::glue::pernet::Net, p: &ipvs_core::xt_ipvs::ConnParam) -> Option<ConnRef> {
    use ipvs_core::xt_ipvs::{out_get_hit, ConnKey};
    // The table's namespace key (`Conn::net`) is the `struct net` pointer.
    let net = net.as_ptr() as usize;
    let (addr, port) = p.hash_end();
    find(hashkey(net, p.family, p.protocol, addr, port), |c| {
        c.net == net
            && out_get_hit(
                p,
                &ConnKey {
                    family: c.family,
                    protocol: c.protocol,
                    caddr: &c.caddr,
                    cport: c.cport,
                    vaddr: &c.vaddr,
                    vport: c.vport,
                    daddr: &c.daddr,
                    dport: c.dport,
                    flags: c.flags(),
                },
            )
    })
}
