// SPDX-License-Identifier: GPL-2.0
//! Virtual services as the packet path sees them: a per-namespace RCU hash table
//! (`ip_vs_svc_table` / `ip_vs_svc_fwm_table` of `ip_vs_ctl.c`, made per namespace and
//! resizable as upstream's newest design does) and, per service, the scheduler state under
//! the service's own lock (`svc->sched_lock`).
//!
//! The packet path never takes a namespace-wide lock: it finds a service under RCU
//! ([`SvcTable::find_for_packet`]), then locks only that service to pick a destination
//! ([`Svc::schedule`]). Writers (the control plane) are serialised by the namespace's
//! configuration mutex, which the [`SvcWriter`] token stands for: only its holder can insert,
//! remove or resize.
//!
//! The table is a glue [`ArcTable`] (resizable without stopping readers; see there).

use super::dest::{DestShared, StatsCells};
use crate::glue::arc_table::{impl_has_links, ArcTable, ArcTableWriter, Links};
use crate::glue::rcu::{self, RcuReadGuard};
use crate::glue::sync::BhLock;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use ipvs_core::netlink::ipvs::AF_INET6;
use ipvs_core::netlink::service::ServiceKey;
use ipvs_core::netlink::Errno;
use ipvs_core::sched::lblc::LblcEntry;
use ipvs_core::sched::lblcr::{LblcrEntry, SetElem};
use ipvs_core::sched::locality::{Slot, SlotSlab, SlotVec};
use ipvs_core::sched::{self, SchedulerKind};
use ipvs_core::sysctl::LocalityExpiration;
use ipvs_core::wire::{Family, InetAddr};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Buckets of a new table (C: `IP_VS_SVC_TAB_SIZE`, 256).
const MIN_BUCKETS: usize = 256;
/// The table doubles when it holds more than this many services per bucket.
const LOAD_FACTOR: usize = 2;

/// Significant bytes of an address of family `af` (`ip_vs_addr_equal()` compares only these).
pub(crate) fn addr_len(af: u16) -> usize {
    if af == AF_INET6 {
        16
    } else {
        4
    }
}

/// A real server as the scheduler sees it.
pub(crate) struct SchedDest(pub(crate) Arc<DestShared>);

impl sched::Dest for SchedDest {
    fn weight(&self) -> i32 {
        sched::Dest::weight(&*self.0)
    }
    fn last_weight(&self) -> i32 {
        sched::Dest::last_weight(&*self.0)
    }
    fn active_conns(&self) -> i32 {
        sched::Dest::active_conns(&*self.0)
    }
    fn total_conns(&self) -> i32 {
        sched::Dest::total_conns(&*self.0)
    }
    fn overloaded(&self) -> bool {
        sched::Dest::overloaded(&*self.0)
    }
    fn addr(&self) -> InetAddr {
        self.0.addr
    }
    fn port(&self) -> u16 {
        self.0.port
    }
}

fn table(len: usize) -> Result<KVec<u32>, Errno> {
    let mut t = KVec::with_capacity(len, GFP_ATOMIC).map_err(|_| Errno::Enomem)?;
    for _ in 0..len {
        t.push(0, GFP_ATOMIC).map_err(|_| Errno::Enomem)?;
    }
    Ok(t)
}

/// `svc->sched_data` of the scheduler bound to a service.
pub(crate) enum SchedState {
    None,
    Rr(sched::rr::RoundRobin),
    Wrr(sched::wrr::WeightedRoundRobin),
    Lc,
    Wlc,
    Sh(sched::sh::SourceHash, KVec<u32>),
    Mh(sched::mh::Maglev, KVec<u32>),
    Dh(sched::dh::DestinationHash),
    Sed,
    Nq,
    Fo,
    Ovf,
    Twos,
    Lblc(
        sched::lblc::Lblc,
        KVec<u32>,
        SlotSlab<KSlots<LblcEntry<Arc<DestShared>>>>,
    ),
    Lblcr(
        sched::lblcr::Lblcr,
        KVec<u32>,
        SlotSlab<KSlots<LblcrEntry>>,
        SlotSlab<KSlots<SetElem<Arc<DestShared>>>>,
    ),
}

/// Growable slot storage for the lblc/lblcr tables (C: one `kmalloc(GFP_ATOMIC)` per entry).
pub(crate) struct KSlots<T>(KVec<Slot<T>>);

impl<T> SlotVec<T> for KSlots<T> {
    fn slots(&self) -> &[Slot<T>] {
        &self.0
    }
    fn slots_mut(&mut self) -> &mut [Slot<T>] {
        &mut self.0
    }
    fn push_slot(&mut self, s: Slot<T>) -> bool {
        self.0.push(s, GFP_ATOMIC).is_ok()
    }
}

fn slab<T>() -> SlotSlab<KSlots<T>> {
    SlotSlab::new(KSlots(KVec::new()))
}

/// `ip_vs_dest_hold()` for lblc/lblcr entries: the destination's shared state, by reference.
impl sched::HoldDest for SchedDest {
    type Target = DestShared;
    type Held = Arc<DestShared>;
    fn hold(&self) -> Arc<DestShared> {
        self.0.clone()
    }
    fn is(&self, held: &Arc<DestShared>) -> bool {
        Arc::ptr_eq(&self.0, held)
    }
}

impl SchedState {
    /// `init_service()` of the scheduler `kind` for a service of `family`.
    pub(crate) fn bind(
        kind: Option<SchedulerKind>,
        family: Family,
        dests: &[SchedDest],
    ) -> Result<SchedState, Errno> {
        let Some(kind) = kind else {
            return Ok(SchedState::None);
        };
        let mut st = match kind {
            SchedulerKind::Rr => SchedState::Rr(sched::rr::RoundRobin::new()),
            SchedulerKind::Wrr => SchedState::Wrr(sched::wrr::WeightedRoundRobin::new(dests)),
            SchedulerKind::Lc => SchedState::Lc,
            SchedulerKind::Wlc => SchedState::Wlc,
            SchedulerKind::Sh => {
                let sh = sched::sh::SourceHash::new(family);
                SchedState::Sh(sh, table(sh.table_len())?)
            }
            SchedulerKind::Mh => {
                let mh = sched::mh::Maglev::new(family);
                SchedState::Mh(mh, table(mh.table_len())?)
            }
            SchedulerKind::Dh => SchedState::Dh(sched::dh::DestinationHash::new(family)),
            SchedulerKind::Sed => SchedState::Sed,
            SchedulerKind::Nq => SchedState::Nq,
            SchedulerKind::Fo => SchedState::Fo,
            SchedulerKind::Ovf => SchedState::Ovf,
            SchedulerKind::Twos => SchedState::Twos,
            SchedulerKind::Lblc => {
                let l = sched::lblc::Lblc::new(family, rcu::hz(), rcu::jiffies());
                let mut heads = table(l.table_len())?;
                l.clear_heads(&mut heads);
                SchedState::Lblc(l, heads, slab())
            }
            SchedulerKind::Lblcr => {
                let l = sched::lblcr::Lblcr::new(family, rcu::hz(), rcu::jiffies());
                let mut heads = table(l.table_len())?;
                l.clear_heads(&mut heads);
                SchedState::Lblcr(l, heads, slab(), slab())
            }
        };
        st.dests_changed(dests);
        Ok(st)
    }

    /// The `add_dest`/`upd_dest`/`del_dest` hooks for the tables and weights.
    pub(crate) fn dests_changed(&mut self, dests: &[SchedDest]) {
        match self {
            SchedState::Wrr(w) => w.dests_changed(dests),
            SchedState::Sh(sh, t) => {
                let _ = sh.reassign(dests, t);
            }
            SchedState::Mh(mh, t) => {
                let mut setup = KVec::new();
                for _ in 0..dests.len() {
                    if setup
                        .push(sched::mh::DestSetup::default(), GFP_ATOMIC)
                        .is_err()
                    {
                        return;
                    }
                }
                // C ignores a failed reassign on add/edit/delete (the old table stays).
                let _ = mh.reassign(dests, t, &mut setup);
            }
            SchedState::None
            | SchedState::Rr(_)
            | SchedState::Lc
            | SchedState::Wlc
            | SchedState::Dh(_)
            | SchedState::Sed
            | SchedState::Nq
            | SchedState::Fo
            | SchedState::Ovf
            | SchedState::Twos
            | SchedState::Lblc(..)
            | SchedState::Lblcr(..) => {}
        }
    }

    pub(crate) fn dest_added(&mut self, index: usize, dests: &[SchedDest]) {
        if let SchedState::Rr(rr) = self {
            rr.dest_added(index);
        }
        self.dests_changed(dests);
    }

    pub(crate) fn dest_removed(&mut self, index: usize, dests: &[SchedDest]) {
        if let SchedState::Rr(rr) = self {
            rr.dest_removed(index);
        }
        self.dests_changed(dests);
    }

    /// `sched->schedule()`: index of the chosen destination. `client:port` is the client's
    /// end (sh, mh), `daddr` the packet's destination (dh).
    /// `exp`: the namespace's `lblc_expiration` / `lblcr_expiration` (C reads them through
    /// `svc->ipvs`).
    fn schedule(
        &mut self,
        flags: u32,
        dests: &[SchedDest],
        client: &InetAddr,
        port: u16,
        daddr: &InetAddr,
        exp: LocalityExpiration,
    ) -> Option<usize> {
        match self {
            SchedState::None => None,
            SchedState::Rr(rr) => rr.schedule(dests),
            SchedState::Wrr(w) => w.schedule(dests),
            SchedState::Lc => sched::lc::schedule(dests),
            SchedState::Wlc => sched::wlc::schedule(dests),
            SchedState::Sh(sh, t) => sh.schedule(flags, dests, t, client, port),
            SchedState::Mh(mh, t) => mh.schedule(flags, dests, t, client, port),
            SchedState::Dh(dh) => dh.schedule(dests, daddr),
            SchedState::Sed => sched::sed::schedule(dests),
            SchedState::Nq => sched::nq::schedule(dests),
            SchedState::Fo => sched::fo::schedule(dests),
            SchedState::Ovf => sched::ovf::schedule(dests),
            SchedState::Twos => sched::twos::schedule(dests, crate::glue::random::u32_below),
            SchedState::Lblc(l, heads, slab) => {
                l.schedule(heads, slab, dests, daddr, rcu::jiffies())
            }
            SchedState::Lblcr(l, heads, slab, elems) => {
                l.schedule(heads, slab, elems, dests, daddr, rcu::jiffies(), exp.lblcr)
            }
        }
    }
}

/// What the scheduler of a service works on: its destinations, in C's list order (newest
/// first), and the scheduler's state.
pub(crate) struct SvcSched {
    pub(crate) dests: KVec<SchedDest>,
    pub(crate) state: SchedState,
}

/// What a packet needs of the service that scheduled it.
pub(crate) struct Scheduled {
    pub(crate) dest: Arc<DestShared>,
    pub(crate) svc_stats: Arc<StatsCells>,
}

/// A virtual service, packet-path half (`struct ip_vs_service`). The key never changes; the
/// fields `ip_vs_edit_service()` changes are atomics, read without locks as C reads them.
#[pin_data]
pub(crate) struct Svc {
    /// Normalised (`ip_vs_addr_copy()`: an IPv4 address keeps only its first 4 bytes).
    pub(crate) key: ServiceKey,
    /// The table's chain links (of its generations 0 and 1), RCU head and key hash.
    links: Links<Svc>,
    pub(crate) flags: AtomicU32,
    pub(crate) timeout_jiffies: AtomicU32,
    /// IPv4: the netmask's bytes; IPv6: the prefix length (native-endian u32, as C's union).
    netmask: AtomicU32,
    pub(crate) stats: Arc<StatsCells>,
    /// C: `svc->sched_lock`.
    #[pin]
    pub(crate) sched: BhLock<SvcSched>,
    /// The control plane's slot for this service (its index in the namespace's list), so
    /// that a lookup by key gives the control plane's record in O(1).
    pub(crate) ctl_slot: AtomicUsize,
}

impl Svc {
    pub(crate) fn new(
        key: ServiceKey,
        flags: u32,
        timeout_jiffies: u32,
        netmask: [u8; 4],
        state: SchedState,
    ) -> Result<Arc<Svc>, Errno> {
        let stats = Arc::pin_init(StatsCells::new(), GFP_KERNEL).map_err(|_| Errno::Enomem)?;
        let hash = key_hash(&key);
        Arc::pin_init(
            pin_init!(Svc {
                key,
                links: Links::new(hash),
                flags: AtomicU32::new(flags),
                timeout_jiffies: AtomicU32::new(timeout_jiffies),
                netmask: AtomicU32::new(u32::from_ne_bytes(netmask)),
                stats,
                sched <- crate::new_bh_lock!(
                    SvcSched {
                        dests: KVec::new(),
                        state,
                    },
                    "ipvs_rs_svc_sched"
                ),
                ctl_slot: AtomicUsize::new(0),
            }),
            GFP_KERNEL,
        )
        .map_err(|_| Errno::Enomem)
    }

    pub(crate) fn netmask(&self) -> [u8; 4] {
        self.netmask.load(Ordering::Relaxed).to_ne_bytes()
    }

    pub(crate) fn set_netmask(&self, m: [u8; 4]) {
        self.netmask.store(u32::from_ne_bytes(m), Ordering::Relaxed);
    }

    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// `sched->schedule()` under the service's own lock (C: the schedulers' `sched_lock` /
    /// RCU walk of `svc->destinations`): the chosen destination, referenced. `exp`: the
    /// namespace's locality expirations (`DpNet::locality_expiration()`).
    pub(crate) fn schedule(
        &self,
        client: &InetAddr,
        port: u16,
        daddr: &InetAddr,
        exp: LocalityExpiration,
    ) -> Option<Scheduled> {
        let flags = self.flags();
        let dest = {
            let mut s = self.sched.lock();
            let SvcSched { dests, state } = &mut *s;
            let i = state.schedule(flags, dests, client, port, daddr, exp)?;
            dests.get(i)?.0.clone()
        };
        Some(Scheduled {
            dest,
            svc_stats: self.stats.clone(),
        })
    }

    /// The lblc/lblcr tables' expiry timer (`ip_vs_lblc_check_expire()`), run from the
    /// periodic work when due.
    /// `exp`: the namespace's `lblc_expiration` / `lblcr_expiration`.
    pub(crate) fn periodic(&self, exp: LocalityExpiration) {
        let mut s = self.sched.lock();
        let now = rcu::jiffies();
        match &mut s.state {
            SchedState::Lblc(l, heads, slab) => {
                l.expire_if_due(heads, slab, now, exp.lblc);
            }
            SchedState::Lblcr(l, heads, slab, elems) => {
                l.expire_if_due(heads, slab, elems, now, exp.lblcr);
            }
            _ => {}
        }
    }

    fn matches_addr(&self, af: u16, protocol: u16, addr: &[u8; 16], port: u16) -> bool {
        let k = &self.key;
        let n = addr_len(af);
        k.fwmark == 0
            && k.af == af
            && k.protocol == protocol
            && k.port == port
            && k.addr[..n] == addr[..n]
    }

    fn matches_fwmark(&self, af: u16, fwmark: u32) -> bool {
        self.key.fwmark == fwmark && self.key.af == af
    }
}

impl_has_links!(Svc, links);

fn mix(mut h: u32, w: u32) -> u32 {
    h = (h ^ w).wrapping_mul(0x9e37_79b1).rotate_left(13);
    h
}

/// Hash of an address key (without the table's seed, which `bucket` adds).
fn addr_hash(af: u16, protocol: u16, addr: &[u8; 16], port: u16) -> u32 {
    let mut h = mix(0x5356_4331, (u32::from(af) << 16) | u32::from(protocol));
    for w in addr[..addr_len(af)].chunks_exact(4) {
        h = mix(h, u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    mix(h, u32::from(port))
}

fn fwmark_hash(af: u16, fwmark: u32) -> u32 {
    mix(mix(0x4657_4d31, u32::from(af)), fwmark)
}

fn key_hash(k: &ServiceKey) -> u32 {
    if k.fwmark != 0 {
        fwmark_hash(k.af, k.fwmark)
    } else {
        addr_hash(k.af, k.protocol, &k.addr, k.port)
    }
}

/// The services of one namespace, for lookups from the packet path.
pub(crate) type SvcTable = ArcTable<Svc>;

/// The right to change a [`SvcTable`]: one per table, owned by the control plane, whose
/// configuration mutex serialises its users.
pub(crate) struct SvcWriter(ArcTableWriter<Svc>);

impl ArcTable<Svc> {
    /// An empty table and its writer.
    pub(crate) fn new() -> Result<(Arc<SvcTable>, SvcWriter), Errno> {
        let (t, w) = ArcTable::with_buckets(MIN_BUCKETS, LOAD_FACTOR).map_err(|_| Errno::Enomem)?;
        Ok((t, SvcWriter(w)))
    }

    /// `ip_vs_service_find()`: the service for a packet to `vaddr:vport` (`protocol`,
    /// family `af`) carrying `mark`: by fwmark first, then by address and port, then the
    /// port-zero service of the address.
    pub(crate) fn find_for_packet<'a>(
        &'a self,
        rcu: &'a RcuReadGuard,
        af: u16,
        protocol: u8,
        vaddr: &[u8; 16],
        vport: u16,
        mark: u32,
    ) -> Option<&'a Svc> {
        let proto = u16::from(protocol);
        if mark != 0 {
            if let Some(s) = self.find(rcu, fwmark_hash(af, mark), |s| s.matches_fwmark(af, mark)) {
                return Some(s);
            }
        }
        self.find(rcu, addr_hash(af, proto, vaddr, vport), |s| {
            s.matches_addr(af, proto, vaddr, vport)
        })
        .or_else(|| {
            self.find(rcu, addr_hash(af, proto, vaddr, 0), |s| {
                s.matches_addr(af, proto, vaddr, 0)
            })
        })
    }
}

impl SvcWriter {
    /// The service with `key` (`__ip_vs_service_find()` / `__ip_vs_svc_fwm_find()`).
    pub(crate) fn find(&self, key: &ServiceKey) -> Option<&Svc> {
        let b = &self.0;
        if key.fwmark != 0 {
            b.find(fwmark_hash(key.af, key.fwmark), |s| {
                s.matches_fwmark(key.af, key.fwmark)
            })
        } else {
            b.find(addr_hash(key.af, key.protocol, &key.addr, key.port), |s| {
                s.matches_addr(key.af, key.protocol, &key.addr, key.port)
            })
        }
    }

    /// The table the writer changes.
    pub(crate) fn table(&self) -> Arc<SvcTable> {
        self.0.table()
    }

    /// `ip_vs_svc_hash()`: publish `svc` (the table keeps a reference). May sleep (growing
    /// waits for a grace period).
    pub(crate) fn insert(&mut self, svc: &Arc<Svc>) {
        self.0.insert(svc);
    }

    /// `ip_vs_svc_unhash()`: unpublish `svc`; the table's reference is dropped after a
    /// grace period.
    pub(crate) fn remove(&mut self, svc: &Svc) {
        self.0.remove(svc);
    }
}
