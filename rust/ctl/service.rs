// SPDX-License-Identifier: GPL-2.0
//! Virtual services, their destinations and the destination trash of one namespace: the
//! tables and update rules of `ip_vs_ctl.c` (`ip_vs_add_service()`, `ip_vs_edit_service()`,
//! `ip_vs_add_dest()`, `ip_vs_edit_dest()`, `ip_vs_del_dest()`, `__ip_vs_update_dest()`,
//! `ip_vs_trash_get_dest()`, `ip_vs_flush()`, `ip_vs_zero_*()`).
//!
//! Requests arrive here parsed and message-checked by the core (`ipvs_core::netlink`); this
//! file applies them to the state, with C's lookups and C's errnos for what depends on state.
//! Callers hold the namespace's control mutex.

use crate::dp::dest::{DestShared, StatsCells};
use crate::glue::kvec;
use core::sync::atomic::Ordering::Relaxed;
use ipvs_core::sched::{self as sched, SchedulerKind};
use ipvs_core::wire::{Family, InetAddr};
use kernel::sync::Arc;
use ipvs_core::netlink::config::Timeouts;
use ipvs_core::netlink::dest::{DestKey, DestRepr};
use ipvs_core::netlink::ipvs::{conn_flags, svc_flags, Name, AF_INET6};
use ipvs_core::netlink::reply::{DestInfo, ServiceInfo};
use ipvs_core::netlink::service::{ServiceKey, ServiceRepr};
use ipvs_core::netlink::{Env, Errno};
use kernel::prelude::*;

/// Default protocol timeouts in seconds (`tcp_timeouts[]`/`udp_timeouts[]`): ESTABLISHED,
/// FIN_WAIT, UDP NORMAL.
pub(crate) const DEFAULT_TIMEOUTS: Timeouts = Timeouts { tcp: 15 * 60, tcp_fin: 2 * 60, udp: 5 * 60 };

/// Significant bytes of an address of family `af` (`ip_vs_addr_equal()` compares only these).
fn addr_len(af: u16) -> usize {
    if af == AF_INET6 {
        16
    } else {
        4
    }
}

/// `ip_vs_addr_copy()` into a zeroed union: IPv4 keeps only its first 4 bytes.
fn normalized(af: u16, addr: &[u8; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = addr_len(af);
    out[..n].copy_from_slice(&addr[..n]);
    out
}

fn same_service(a: &ServiceKey, b: &ServiceKey) -> bool {
    if a.fwmark != 0 || b.fwmark != 0 {
        // __ip_vs_svc_fwm_find(): mark and family.
        return a.fwmark == b.fwmark && a.af == b.af;
    }
    let n = addr_len(a.af);
    a.af == b.af && a.protocol == b.protocol && a.port == b.port && a.addr[..n] == b.addr[..n]
}

/// A real server of a service (`struct ip_vs_dest`, control-plane part).
pub(crate) struct Dest {
    pub(crate) af: u16,
    pub(crate) addr: [u8; 16],
    /// Host order.
    pub(crate) port: u16,
    pub(crate) conn_flags: u32,
    pub(crate) weight: i32,
    /// Latest non-zero weight (C's `last_weight`), for quiescent handling.
    pub(crate) last_weight: i32,
    pub(crate) u_threshold: u32,
    pub(crate) l_threshold: u32,
    pub(crate) tun_type: u8,
    pub(crate) tun_port: u16,
    pub(crate) tun_flags: u16,
    /// What connections and the packet path see of this destination.
    pub(crate) shared: Arc<DestShared>,
}

impl sched::Dest for Dest {
    fn weight(&self) -> i32 {
        sched::Dest::weight(&*self.shared)
    }
    fn last_weight(&self) -> i32 {
        sched::Dest::last_weight(&*self.shared)
    }
    fn active_conns(&self) -> i32 {
        sched::Dest::active_conns(&*self.shared)
    }
    fn total_conns(&self) -> i32 {
        sched::Dest::total_conns(&*self.shared)
    }
    fn overloaded(&self) -> bool {
        sched::Dest::overloaded(&*self.shared)
    }
    fn addr(&self) -> InetAddr {
        InetAddr(self.addr)
    }
    fn port(&self) -> u16 {
        self.port
    }
}

impl Dest {
    fn matches(&self, af: u16, addr: &[u8; 16], port: u16) -> bool {
        let n = addr_len(af);
        self.af == af && self.port == port && self.addr[..n] == addr[..n]
    }

    /// `__ip_vs_update_dest()`: everything a NEW_DEST or SET_DEST sets.
    fn update(&mut self, r: &DestRepr, af: u16, add: bool) {
        if add || r.weight != 0 {
            self.last_weight = r.weight;
        }
        self.weight = r.weight;
        self.conn_flags = r.dest_conn_flags();
        self.tun_type = r.tun_type;
        self.tun_port = r.tun_port;
        self.tun_flags = r.tun_flags;
        self.u_threshold = r.u_threshold;
        self.l_threshold = r.l_threshold;
        self.af = af;
        let sh = &self.shared;
        sh.conn_flags.store(self.conn_flags, Relaxed);
        sh.weight.store(self.weight, Relaxed);
        sh.last_weight.store(self.last_weight, Relaxed);
        sh.tun_type.store(u32::from(self.tun_type), Relaxed);
        sh.set_thresholds(self.u_threshold, self.l_threshold);
        sh.available.store(true, Relaxed);
    }

    fn new(r: &DestRepr, af: u16) -> Result<Dest, Errno> {
        let family = if af == AF_INET6 { Family::Ipv6 } else { Family::Ipv4 };
        let addr = normalized(af, &r.key.addr);
        let shared = Arc::new(DestShared::new(family, InetAddr(addr), r.key.port), GFP_ATOMIC).map_err(|_| Errno::Enomem)?;
        let mut d = Dest {
            af,
            addr: normalized(af, &r.key.addr),
            port: r.key.port,
            conn_flags: 0,
            weight: 0,
            last_weight: 0,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
            shared,
        };
        d.update(r, af, true);
        Ok(d)
    }

    /// Whether anything still references this destination (connections, templates).
    fn in_use(&self) -> bool {
        self.shared.in_use()
    }

    pub(crate) fn info(&self) -> DestInfo {
        DestInfo {
            addr: self.addr,
            port: self.port,
            conn_flags: self.conn_flags,
            weight: self.weight,
            tun_type: self.tun_type,
            tun_port: self.tun_port,
            tun_flags: self.tun_flags,
            u_threshold: self.u_threshold,
            l_threshold: self.l_threshold,
            activeconns: self.shared.activeconns.load(Relaxed) as u32,
            inactconns: self.shared.inactconns() as u32,
            persistconns: self.shared.persistconns.load(Relaxed) as u32,
            af: self.af,
            stats: self.shared.stats.snapshot(),
        }
    }
}

/// A virtual service (`struct ip_vs_service`, control-plane part).
pub(crate) struct Service {
    pub(crate) key: ServiceKey,
    /// Bound scheduler; `None` is C's "none".
    pub(crate) sched: Option<Name>,
    pub(crate) pe: Option<Name>,
    pub(crate) flags: u32,
    pub(crate) timeout_jiffies: u32,
    pub(crate) netmask: [u8; 4],
    /// In C's list order: newest first (`list_add_rcu()` at the head).
    pub(crate) dests: KVec<Dest>,
    pub(crate) stats: Arc<StatsCells>,
    /// The bound scheduler's per-service state (`svc->sched_data`).
    sched_state: SchedState,
}

/// `svc->sched_data` of the scheduler bound to a service.
enum SchedState {
    None,
    Rr(sched::rr::RoundRobin),
    Wrr(sched::wrr::WeightedRoundRobin),
    Lc,
    Wlc,
    Sh(sched::sh::SourceHash, KVec<u32>),
    Mh(sched::mh::Maglev, KVec<u32>),
}

fn table(len: usize) -> Result<KVec<u32>, Errno> {
    let mut t = KVec::with_capacity(len, GFP_ATOMIC).map_err(|_| Errno::Enomem)?;
    for _ in 0..len {
        t.push(0, GFP_ATOMIC).map_err(|_| Errno::Enomem)?;
    }
    Ok(t)
}

impl SchedState {
    /// `init_service()` of the scheduler `name` for a service of `family`.
    fn bind(name: Option<&Name>, family: Family, dests: &[Dest]) -> Result<SchedState, Errno> {
        let Some(kind) = name.and_then(|n| SchedulerKind::from_name(n.as_bytes())) else {
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
        };
        st.dests_changed(dests);
        Ok(st)
    }

    /// The `add_dest`/`upd_dest`/`del_dest` hooks for the tables and weights.
    fn dests_changed(&mut self, dests: &[Dest]) {
        match self {
            SchedState::Wrr(w) => w.dests_changed(dests),
            SchedState::Sh(sh, t) => {
                let _ = sh.reassign(dests, t);
            }
            SchedState::Mh(mh, t) => {
                let mut setup = KVec::new();
                for _ in 0..dests.len() {
                    if setup.push(sched::mh::DestSetup::default(), GFP_ATOMIC).is_err() {
                        return;
                    }
                }
                // C ignores a failed reassign on add/edit/delete (the old table stays).
                let _ = mh.reassign(dests, t, &mut setup);
            }
            SchedState::None | SchedState::Rr(_) | SchedState::Lc | SchedState::Wlc => {}
        }
    }

    fn dest_added(&mut self, index: usize, dests: &[Dest]) {
        if let SchedState::Rr(rr) = self {
            rr.dest_added(index);
        }
        self.dests_changed(dests);
    }

    fn dest_removed(&mut self, index: usize, dests: &[Dest]) {
        if let SchedState::Rr(rr) = self {
            rr.dest_removed(index);
        }
        self.dests_changed(dests);
    }

    /// `sched->schedule()`: index of the chosen destination.
    fn schedule(&mut self, flags: u32, dests: &[Dest], client: &InetAddr, port: u16) -> Option<usize> {
        match self {
            SchedState::None => None,
            SchedState::Rr(rr) => rr.schedule(dests),
            SchedState::Wrr(w) => w.schedule(dests),
            SchedState::Lc => sched::lc::schedule(dests),
            SchedState::Wlc => sched::wlc::schedule(dests),
            SchedState::Sh(sh, t) => sh.schedule(flags, dests, t, client, port),
            SchedState::Mh(mh, t) => mh.schedule(flags, dests, t, client, port),
        }
    }
}

/// What a packet needs of the service that scheduled it.
pub(crate) struct Scheduled {
    pub(crate) dest: Arc<DestShared>,
    pub(crate) svc_stats: Arc<StatsCells>,
}

/// A service as the packet path matches it.
#[derive(Clone, Copy)]
pub(crate) struct SvcMatch {
    pub(crate) idx: usize,
    pub(crate) flags: u32,
    pub(crate) port: u16,
    pub(crate) fwmark: u32,
    pub(crate) timeout_jiffies: u32,
    pub(crate) netmask: [u8; 4],
    pub(crate) af: u16,
    pub(crate) addr: [u8; 16],
}

impl Service {
    pub(crate) fn info(&self, hz: u32) -> ServiceInfo<'_> {
        ServiceInfo {
            af: self.key.af,
            protocol: self.key.protocol,
            addr: self.key.addr,
            port: self.key.port,
            fwmark: self.key.fwmark,
            sched_name: self.sched.as_ref().map(Name::as_bytes),
            pe_name: self.pe.as_ref().map(Name::as_bytes),
            flags: self.flags,
            timeout: self.timeout_jiffies / hz.max(1),
            netmask: self.netmask,
            stats: self.stats.snapshot(),
        }
    }

    fn find_dest(&self, af: u16, addr: &[u8; 16], port: u16) -> Option<usize> {
        self.dests.iter().position(|d| d.matches(af, addr, port))
    }

    fn zero(&mut self) {
        self.stats.zero();
        for d in self.dests.iter() {
            d.shared.stats.zero();
        }
    }

    fn family(&self) -> Family {
        if self.key.af == AF_INET6 {
            Family::Ipv6
        } else {
            Family::Ipv4
        }
    }
}

/// A deleted destination kept for reuse while it may still be referenced
/// (`ipvs->dest_trash`); re-adding the same destination to the same service revives it.
struct Trashed {
    service: ServiceKey,
    dest: Dest,
}

/// Scheduler names ipvs_rs provides (`ip_vs_scheduler_get()` succeeds for these).
pub(crate) fn scheduler_exists(name: &[u8]) -> bool {
    ipvs_core::sched::SchedulerKind::from_name(name).is_some()
}

/// Persistence engines ipvs_rs provides: none (C's only one, `sip`, is a separate module).
fn pe_exists(_name: &[u8]) -> bool {
    false
}

/// Everything the control plane keeps per namespace.
pub(crate) struct CtlState {
    /// Services in creation order.
    pub(crate) services: KVec<Service>,
    trash: KVec<Trashed>,
    pub(crate) timeouts: Timeouts,
}

impl CtlState {
    pub(crate) fn new() -> Self {
        CtlState { services: KVec::new(), trash: KVec::new(), timeouts: DEFAULT_TIMEOUTS }
    }

    /// `ip_vs_service_find()`: a service for a packet to `vaddr:vport` (`protocol`, family
    /// `af`) carrying `mark`: by fwmark first, then by address and port, then the port-zero
    /// service of the address.
    pub(crate) fn find_for_packet(&self, af: u16, protocol: u8, vaddr: &[u8; 16], vport: u16, mark: u32) -> Option<SvcMatch> {
        let n = addr_len(af);
        let by = |pred: &dyn Fn(&Service) -> bool| self.services.iter().position(|s| pred(s));
        let idx = (if mark != 0 { by(&|s| s.key.fwmark == mark && s.key.af == af) } else { None })
            .or_else(|| {
                by(&|s| {
                    s.key.fwmark == 0
                        && s.key.af == af
                        && s.key.protocol == u16::from(protocol)
                        && s.key.port == vport
                        && s.key.addr[..n] == vaddr[..n]
                })
            })
            .or_else(|| {
                by(&|s| {
                    s.key.fwmark == 0
                        && s.key.af == af
                        && s.key.protocol == u16::from(protocol)
                        && s.key.port == 0
                        && s.key.addr[..n] == vaddr[..n]
                })
            })?;
        let s = &self.services[idx];
        Some(SvcMatch {
            idx,
            flags: s.flags,
            port: s.key.port,
            fwmark: s.key.fwmark,
            timeout_jiffies: s.timeout_jiffies,
            netmask: s.netmask,
            af: s.key.af,
            addr: s.key.addr,
        })
    }

    /// `sched->schedule()` of service `idx` for a client at `client:port`.
    pub(crate) fn schedule(&mut self, idx: usize, client: &InetAddr, port: u16) -> Option<Scheduled> {
        let svc = self.services.get_mut(idx)?;
        let i = svc.sched_state.schedule(svc.flags, &svc.dests, client, port)?;
        let d = svc.dests.get(i)?;
        Some(Scheduled { dest: d.shared.clone(), svc_stats: svc.stats.clone() })
    }

    /// The destination of service `idx` at `addr:port` if it is still usable, for a
    /// persistence template (`ip_vs_check_template()` reads availability and weight).
    pub(crate) fn svc_stats(&self, idx: usize) -> Option<Arc<StatsCells>> {
        self.services.get(idx).map(|s| s.stats.clone())
    }

    pub(crate) fn find(&self, key: &ServiceKey) -> Option<usize> {
        self.services.iter().position(|s| same_service(&s.key, key))
    }

    pub(crate) fn service(&self, key: &ServiceKey) -> Result<&Service, Errno> {
        self.find(key).map(|i| &self.services[i]).ok_or(Errno::Esrch)
    }

    /// `ip_vs_add_service()` (the caller has answered `-EEXIST`).
    pub(crate) fn add_service(&mut self, r: &ServiceRepr, env: &Env) -> Result<(), Errno> {
        r.check(env, scheduler_exists, pe_exists)?;
        let mut key = r.key;
        key.addr = normalized(key.af, &key.addr);
        let svc = Service {
            key,
            sched: r.scheduler().and_then(Name::from_c),
            pe: r.pe().and_then(Name::from_c),
            // ip_vs_svc_hash() sets HASHED once the service is in the table.
            flags: r.flags_for_add() | svc_flags::HASHED,
            timeout_jiffies: r.timeout_jiffies(super::genl::hz()),
            netmask: r.netmask,
            dests: KVec::new(),
            stats: Arc::new(StatsCells::new(), GFP_ATOMIC).map_err(|_| Errno::Enomem)?,
            sched_state: SchedState::None,
        };
        let mut svc = svc;
        svc.sched_state = SchedState::bind(svc.sched.as_ref(), svc.family(), &svc.dests)?;
        self.services.push(svc, GFP_ATOMIC).map_err(|_| Errno::Enomem)
    }

    /// `ip_vs_edit_service()`.
    pub(crate) fn edit_service(&mut self, idx: usize, r: &ServiceRepr, env: &Env) -> Result<(), Errno> {
        r.check(env, scheduler_exists, pe_exists)?;
        let svc = &mut self.services[idx];
        let sched = r.scheduler().and_then(Name::from_c);
        if sched.as_ref().map(Name::as_bytes) != svc.sched.as_ref().map(Name::as_bytes) {
            // ip_vs_edit_service(): unbind the old scheduler, bind the new one.
            svc.sched_state = SchedState::bind(sched.as_ref(), svc.family(), &svc.dests)?;
        }
        svc.sched = sched;
        svc.flags = r.flags_for_edit(svc.flags);
        svc.timeout_jiffies = r.timeout_jiffies(super::genl::hz());
        svc.netmask = r.netmask;
        svc.pe = r.pe().and_then(Name::from_c);
        Ok(())
    }

    /// `ip_vs_del_service()`: its destinations go to the trash.
    pub(crate) fn del_service(&mut self, idx: usize) {
        if let Some(mut svc) = kvec::remove(&mut self.services, idx) {
            while let Some(dest) = kvec::remove(&mut svc.dests, 0) {
                dest.shared.available.store(false, Relaxed);
                self.to_trash(svc.key, dest);
            }
        }
    }

    /// `ip_vs_flush()`.
    pub(crate) fn flush(&mut self) {
        while !self.services.is_empty() {
            self.del_service(0);
        }
    }

    /// `ip_vs_zero_service()`.
    pub(crate) fn zero_service(&mut self, idx: usize) {
        self.services[idx].zero();
    }

    /// `ip_vs_zero_all()`.
    pub(crate) fn zero_all(&mut self) {
        for svc in self.services.iter_mut() {
            svc.zero();
        }
    }

    /// `ip_vs_add_dest()`: checks, `-EEXIST`, revival from the trash, or a new destination
    /// (`ip_vs_new_dest()`, whose address check `addr_ok` performs).
    pub(crate) fn add_dest(
        &mut self,
        idx: usize,
        r: &DestRepr,
        af: u16,
        addr_ok: impl FnOnce(u16, &[u8; 16]) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        r.check()?;
        let addr = normalized(af, &r.key.addr);
        let svc_key = self.services[idx].key;
        if self.services[idx].find_dest(af, &addr, r.key.port).is_some() {
            return Err(Errno::Eexist);
        }
        let revived = self
            .trash
            .iter()
            .position(|t| same_service(&t.service, &svc_key) && t.dest.matches(af, &addr, r.key.port));
        let dest = match revived.and_then(|i| kvec::remove(&mut self.trash, i)) {
            Some(mut t) => {
                t.dest.update(r, af, true);
                t.dest
            }
            None => {
                addr_ok(af, &addr)?;
                Dest::new(r, af)?
            }
        };
        let svc = &mut self.services[idx];
        kvec::push_front(&mut svc.dests, dest, GFP_ATOMIC).map_err(|_| Errno::Enomem)?;
        svc.sched_state.dest_added(0, &svc.dests);
        Ok(())
    }

    /// `ip_vs_edit_dest()`.
    pub(crate) fn edit_dest(&mut self, idx: usize, r: &DestRepr, af: u16) -> Result<(), Errno> {
        r.check()?;
        let addr = normalized(af, &r.key.addr);
        let svc = &mut self.services[idx];
        let d = svc.find_dest(af, &addr, r.key.port).ok_or(Errno::Enoent)?;
        svc.dests[d].update(r, af, false);
        svc.sched_state.dests_changed(&svc.dests);
        Ok(())
    }

    /// `ip_vs_del_dest()`.
    pub(crate) fn del_dest(&mut self, idx: usize, key: &DestKey, af: u16) -> Result<(), Errno> {
        let addr = normalized(af, &key.addr);
        let svc = &mut self.services[idx];
        let d = svc.find_dest(af, &addr, key.port).ok_or(Errno::Enoent)?;
        let svc_key = svc.key;
        if let Some(dest) = kvec::remove(&mut svc.dests, d) {
            svc.sched_state.dest_removed(d, &svc.dests);
            dest.shared.available.store(false, Relaxed);
            self.to_trash(svc_key, dest);
        }
        Ok(())
    }

    /// `__ip_vs_del_dest()`: park a removed destination. Unreferenced entries are dropped at
    /// once here (C drops them at the next trash timer run; nothing can observe the difference
    /// except re-adding within that window, which revives the counters).
    fn to_trash(&mut self, service: ServiceKey, dest: Dest) {
        self.purge_trash();
        // On allocation failure the destination is simply freed, as if the trash expired it.
        let _ = self.trash.push(Trashed { service, dest }, GFP_ATOMIC);
    }

    /// `ip_vs_dest_trash_expire()`: drop what nothing references any more.
    fn purge_trash(&mut self) {
        let mut i = 0;
        while i < self.trash.len() {
            if self.trash[i].dest.in_use() {
                i += 1;
            } else {
                let _ = kvec::remove(&mut self.trash, i);
            }
        }
    }
}

/// The flag bits ipvs_rs reports are C's; keep the compiler honest about the ones we use.
const _: () = assert!(conn_flags::MASQ == 0);
