// SPDX-License-Identifier: GPL-2.0
//! Per-namespace control state: the counterpart of `ip_vs_ctl.c`'s `struct netns_ipvs`
//! sysctl fields and `ip_vs_control_net_init_sysctl()`.
//!
//! Each namespace gets C's whole `/proc/sys/net/ipv4/vs/` table (`vs_vars[]`, then
//! `lblc_expiration` and `lblcr_expiration` as a second table, as C's scheduler modules
//! register them), with C's defaults, modes and handlers (`ipvs_core::sysctl::SPECS`). The
//! values live in the data path's [`DpNet`], which reads them per packet. What the values mean
//! is decided in the core ([`ipvs_core::sysctl::Settings`], [`ipvs_core::defense`]); the
//! defense work (`defense_work_handler()`) runs here every second.

pub(crate) mod genl;
mod proc;
pub(crate) mod service;
pub(crate) mod sync;

use crate::dp::{DpNet, PerNet};
use crate::glue::kthread::{self, impl_has_kthread, KThread, KThreadItem};
use crate::glue::pernet::{Net, Pernet, PernetData, Registration, Slot};
use crate::glue::rcu::hz;
use crate::glue::syncsock::{impl_has_sync_threads, SyncThreads};
use crate::glue::sysctl::{CpuList, Data, Entry, OnChange, Proc, SysctlOnChange, Table};
use crate::glue::workqueue::{DelayedWork, DelayedWorkItem};
use crate::impl_has_delayed_work;
use core::sync::atomic::Ordering;
use ipvs_core::defense;
use ipvs_core::sysctl::{Handler, Knob, LOCALITY_SPECS, SPECS};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Mutex;
use service::CtlState;

/// Where the sysctls live, as in C IPVS.
const SYSCTL_PATH: &CStr = c_str!("net/ipv4/vs");

/// The works of a [`NetState`] (the `ID`s of its [`DelayedWork`]s).
mod work {
    /// `defense_work_handler()`.
    pub(super) const DEFENSE: u64 = 0;
    /// `expire_nodest_conn_handler()`.
    pub(super) const NODEST: u64 = 2;
    /// Frees the destinations the trash let go (`ip_vs_dest_trash_expire()`'s frees).
    pub(super) const TRASH: u64 = 3;
}

/// ipvs_rs state of one network namespace.
///
/// Its sysctl tables, `/proc/net` files and works are registered through the per-namespace
/// glue ([`PernetData::register`]), which cancels the works, removes the files (waiting for
/// their readers, which use `ctl`) and unregisters the tables before the state is dropped.
///
/// It is built in place in the namespace's slot ([`PernetData::init`]) and pinned there:
/// connections point to its `dp` (their census), the works and sysctl tables into it.
#[pin_data]
pub(crate) struct NetState {
    /// `est_cpulist`.
    est_cpulist: CpuList,
    /// Serialises `update_defense_level()` (sysctl writes and the work; C: its three
    /// spinlocks) and holds what the defenses remember between runs.
    #[pin]
    defense: Mutex<DefenseMemory>,
    /// `ipvs->defense_work`: `defense_work_handler()` every second.
    defense_work: DelayedWork<NetState, { work::DEFENSE }>,
    /// Services, destinations, timeouts, per namespace, under C's `__ip_vs_mutex`: the
    /// control plane only (process context). The packet path never takes it: it reads the
    /// services from their RCU table (`dp.services`) and locks one service to schedule.
    #[pin]
    ctl: Mutex<CtlState>,
    /// The packet path's per-namespace state, sysctl values included (the sysctl tables,
    /// kept by the glue, point into it).
    #[pin]
    pub(crate) dp: DpNet,
    /// The rate estimator's kthread (C: the estimation kthreads), started with the first
    /// service.
    est_thread: KThread<NetState>,
    /// `ipvs->expire_nodest_conn_work`: expires the connections of removed destinations
    /// (upstream fix "ipvs: queue delayed work to expire no destination connections if
    /// expire_nodest_conn=1").
    nodest_work: DelayedWork<NetState, { work::NODEST }>,
    trash_work: DelayedWork<NetState, { work::TRASH }>,
    /// The sync daemons' configuration (C: `ipvs->sync_mutex` and what it guards).
    #[pin]
    sync_ctl: Mutex<sync::SyncCtl>,
    /// The sync daemons' threads (stopped by the per-namespace glue before the state goes).
    #[pin]
    sync_threads: SyncThreads<NetState>,
}

/// What the flood defenses remember between runs, under [`NetState`]'s defense lock.
#[derive(Default)]
struct DefenseMemory {
    /// `ipvs->old_secure_tcp`.
    old_secure_tcp: i32,
    /// `todrop_entry()`'s counters (see [`crate::dp::conn::random_dropentry`]).
    todrop: defense::EntryCounters,
}

impl_has_delayed_work!(impl HasDelayedWork<{ work::DEFENSE }> for NetState { defense_work });
impl_has_kthread!(NetState, est_thread);
impl_has_sync_threads!(NetState, sync_threads);
impl_has_delayed_work!(impl HasDelayedWork<{ work::NODEST }> for NetState { nodest_work });
impl_has_delayed_work!(impl HasDelayedWork<{ work::TRASH }> for NetState { trash_work });

static PERNET: Pernet<NetState> = Pernet::new();

impl NetState {
    /// C's `est_stopped` as the sysctls make it: `run_estimation` is 0, or `est_cpulist` was
    /// set to no CPU (the estimation thread keeps running, idle, where C stops its threads).
    fn est_stopped(&self) -> bool {
        self.dp.int(Knob::RunEstimation) == 0 || self.est_cpulist.set_and_empty()
    }

    /// The entry of `spec` in the namespace's tables, backed by this state.
    fn entry<'a>(
        &'a self,
        spec: &'static ipvs_core::sysctl::Spec,
        unpriv: bool,
        on_change: OnChange<'a>,
        cpus: &'a CpuList,
    ) -> Entry<'a> {
        let data = match spec.knob {
            Knob::SyncThreshold => Data::IntPair(self.dp.sync_threshold_cells()),
            Knob::SyncQlenMax => Data::ULong(self.dp.sync_qlen_max_cell()),
            Knob::EstCpulist => Data::CpuList(cpus),
            knob => Data::Int(self.dp.cell(knob)),
        };
        let proc_ = match spec.handler {
            Handler::DoIntVec => Proc::DoIntVec,
            Handler::MinMax { min, max } => Proc::MinMax(min, max),
            Handler::Jiffies => Proc::Jiffies,
            Handler::ULongVec => Proc::ULongVec,
            Handler::DefenseMode => Proc::DefenseMode(on_change),
            Handler::SyncThreshold => Proc::SyncThreshold,
            Handler::SyncPorts => Proc::SyncPorts,
            Handler::RunEstimation => Proc::RunEstimation,
            Handler::EstCpulist => Proc::EstCpulist,
            Handler::EstNice => Proc::EstNice,
        };
        Entry {
            // Every name is NUL-terminated (checked by the core's tests and `start`).
            name: CStr::from_bytes_with_nul(spec.c_name).unwrap_or(c_str!("")),
            data,
            mode: if unpriv { spec.unpriv_mode } else { spec.mode },
            proc_,
        }
    }

    /// `update_defense_level()`: read the free memory, let the core decide, store the modes
    /// it rewrote (1 ↔ 2) and the data path's defense state.
    pub(crate) fn update_defense_level(&self) {
        let avail_pages = crate::glue::mem::free_and_buffer_pages();
        let mut memory = self.defense.lock();
        let load = |knob| self.dp.int(knob);
        let modes = defense::Modes {
            drop_entry: load(Knob::DropEntry),
            drop_packet: load(Knob::DropPacket),
            secure_tcp: load(Knob::SecureTcp),
            old_secure_tcp: memory.old_secure_tcp,
        };
        let u = defense::update_defense_level(&defense::Input {
            avail_pages,
            amemthresh: load(Knob::AmemThresh),
            am_droprate: load(Knob::AmDropRate),
            modes,
        });
        // A value written meanwhile wins (its writer runs this update again right after).
        let store = |knob, old: i32, new: i32| {
            if old != new {
                let _ = self.dp.cell(knob).compare_exchange(
                    old,
                    new,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        };
        store(Knob::DropEntry, modes.drop_entry, u.modes.drop_entry);
        store(Knob::DropPacket, modes.drop_packet, u.modes.drop_packet);
        store(Knob::SecureTcp, modes.secure_tcp, u.modes.secure_tcp);
        memory.old_secure_tcp = u.modes.old_secure_tcp;
        self.dp.defense.apply(&u);
    }

    /// The registered sysctl table of `net` (absent only while the namespace is being set
    /// up, or when ipvs_rs is not registered).
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn sysctl_table(net: &Net) -> Option<&Table> {
        PERNET.sysctl_tables(net)?.first()
    }

    /// The registered `lblc_expiration` / `lblcr_expiration` table of `net`.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn locality_sysctl_table(net: &Net) -> Option<&Table> {
        PERNET.sysctl_tables(net)?.get(1)
    }

    /// The control-plane state, locked.
    pub(crate) fn ctl(&self) -> Guard<'_, CtlState, MutexBackend> {
        self.ctl.lock()
    }

    /// The sync daemons' configuration, locked.
    pub(crate) fn sync_ctl(&self) -> Guard<'_, sync::SyncCtl, MutexBackend> {
        self.sync_ctl.lock()
    }

    /// The state of `net`, if ipvs_rs is registered.
    pub(crate) fn of(net: &Net) -> Option<&NetState> {
        PERNET.try_get(net)
    }
}

impl PerNet for NetState {
    fn dp_of(net: &Net) -> Option<&DpNet> {
        NetState::of(net).map(|ns| &ns.dp)
    }
}

impl PernetData for NetState {
    fn init(net: &Net) -> Result<impl PinInit<Self, Error> + '_> {
        for spec in Iterator::chain(SPECS.iter(), LOCALITY_SPECS.iter()) {
            CStr::from_bytes_with_nul(spec.c_name)?;
        }
        let ctl = CtlState::new().map_err(genl::errno)?;
        let services = ctl.table();
        let reals = ctl.reals_table();
        let est_cpulist = CpuList::new()?;
        // The defense lock before the sysctls (`register`): a write may run the update at
        // once.
        Ok(try_pin_init!(NetState {
            est_cpulist,
            defense <- kernel::new_mutex!(DefenseMemory::default(), "ipvs_rs_defense"),
            defense_work: DelayedWork::new(),
            ctl <- kernel::new_mutex!(ctl, "ipvs_rs_ctl"),
            dp <- DpNet::new(net, services, reals),
            est_thread: KThread::new(),
            nodest_work: DelayedWork::new(),
            trash_work: DelayedWork::new(),
            sync_ctl <- kernel::new_mutex!(sync::SyncCtl::default(), "ipvs_rs_sync"),
            sync_threads <- SyncThreads::new(),
        }))
    }

    fn register<'s>(&'s self, slot: &mut Slot<'s, Self>) -> Result {
        // C: ip_vs_control_net_init_sysctl() and the lblc/lblcr pernet init.
        let unpriv = slot.net().unprivileged();
        let on_change = slot.on_change();
        let cpus = &self.est_cpulist;
        let entries = SPECS
            .each_ref()
            .map(|spec| self.entry(spec, unpriv, on_change, cpus));
        let locality = LOCALITY_SPECS
            .each_ref()
            .map(|spec| self.entry(spec, unpriv, on_change, cpus));
        slot.register_sysctl(SYSCTL_PATH, entries, SPECS.len())?;
        // C: "Don't export sysctls to unprivileged users" (an empty table).
        let visible = if unpriv { 0 } else { LOCALITY_SPECS.len() };
        slot.register_sysctl(SYSCTL_PATH, locality, visible)?;
        slot.init_kthread()?;
        slot.init_sync_threads()?;
        slot.init_work::<{ work::NODEST }>()?;
        slot.init_work::<{ work::TRASH }>()?;
        slot.init_work::<{ work::DEFENSE }>()?;
        self.defense_work.queue(defense_period());
        for (name, kind) in proc::files() {
            slot.create_proc(name, kind)?;
        }
        Ok(())
    }

    /// The namespace goes away (or the module unloads): its works are cancelled; unhook,
    /// then expire and free every connection (`ip_vs_conn_net_cleanup()`), before the
    /// `/proc/net` files, the sysctls and the fields the connections use go.
    fn stop(&self, net: &Net) {
        self.dp.unregister_all_hooks(net);
        crate::dp::conn::flush(&self.dp, self.dp.net_id());
    }

    fn pernet() -> &'static Pernet<Self> {
        &PERNET
    }
}

impl NetState {
    /// Free the destinations the trash let go, soon and outside the configuration mutex.
    pub(crate) fn reap_trash(&self) {
        self.trash_work.queue(0);
    }

    /// `ip_vs_enqueue_expire_nodest_conns()`: after a destination was removed, with
    /// `expire_nodest_conn` set, expire its connections from process context soon (one
    /// jiffy), instead of waiting for packets to find them.
    pub(crate) fn enqueue_expire_nodest_conns(&self) {
        if self.dp.settings().expire_nodest_conn != 0 {
            self.nodest_work.queue(1);
        }
    }
}

/// A mode sysctl changed (`proc_do_defense_mode()`): `update_defense_level()`.
impl SysctlOnChange for NetState {
    fn sysctl_changed(&self) {
        self.update_defense_level();
    }
}

fn defense_period() -> u64 {
    u64::from(defense::defense_period_jiffies(hz()))
}

/// `defense_work_handler()`: every second, update the defenses and, while `drop_entry` is
/// active, delete some flood-like entries (`ip_vs_random_dropentry()`).
impl DelayedWorkItem<{ work::DEFENSE }> for NetState {
    fn run(ns: &Self) {
        ns.update_defense_level();
        if ns.dp.defense.dropentry() {
            crate::dp::conn::random_dropentry(&ns.dp, &mut ns.defense.lock().todrop);
        }
        ns.defense_work.queue(defense_period());
    }
}

/// `expire_nodest_conn_handler()`.
impl DelayedWorkItem<{ work::NODEST }> for NetState {
    fn run(ns: &Self) {
        crate::dp::conn::expire_nodest_conn_flush(&ns.dp);
    }
}

impl DelayedWorkItem<{ work::TRASH }> for NetState {
    /// Free what the trash let go, without the configuration mutex (taken only to empty
    /// the graveyard).
    fn run(ns: &Self) {
        let mut dead = ns.ctl().take_graveyard();
        let mut n = 0u32;
        while let Some(t) = crate::glue::kvec::pop(&mut dead) {
            drop(t);
            n = n.wrapping_add(1);
            if n % 256 == 0 {
                crate::glue::rcu::cond_resched();
            }
        }
    }
}

/// Services the estimator visits per hold of the configuration mutex.
const EST_BATCH: usize = 128;

fn est_period() -> u64 {
    u64::from(ipvs_core::est::est_period_jiffies(hz()))
}

/// The estimator: every period, fold the counters of the namespace, its services and their
/// destinations into their rates (`ip_vs_estimation_kthread()`'s work), in the namespace's
/// estimation kthread, which follows `est_cpulist` and `est_nice` (C restarts its threads
/// when they change; this one moves itself at its next round). Process context, yielding the
/// CPU and the configuration mutex every [`EST_BATCH`] services.
impl KThreadItem for NetState {
    fn tick(ns: &Self) -> u64 {
        kthread::follow(&ns.est_cpulist, ns.dp.int(Knob::EstNice));
        // C: with `est_stopped` the estimation kthreads stop and the rates stay as they are.
        let estimate = !ns.est_stopped();
        if estimate {
            ns.dp.tot_stats.estimate();
        }
        let expiration = ns.dp.locality_expiration();
        // In batches, the configuration mutex let go between them: 50k services with a
        // destination each took the estimator long enough that every netlink command waited
        // for it (C's estimation kthreads do not take `__ip_vs_mutex`).
        let mut next = Some(0);
        while let Some(start) = next {
            next = ns
                .ctl()
                .for_each_stats_from(start, EST_BATCH, expiration, |s| {
                    if estimate {
                        s.estimate()
                    }
                });
            crate::glue::rcu::cond_resched();
        }
        est_period()
    }
}

impl NetState {
    /// `ip_vs_est_kthread_start()` once the namespace has a service (C: `ipvs->enable`, then
    /// its estimators' threads): the thread runs from then on until the namespace goes.
    pub(crate) fn start_estimator(&self) {
        if let Err(e) = KThread::start(self, &self.est_cpulist, self.dp.int(Knob::EstNice)) {
            pr_err!("starting the estimator thread failed: {:?}\n", e);
        }
    }
}

/// Create the state (and sysctls) in every namespace, present and future.
pub(crate) fn register() -> Result<Registration<NetState>> {
    PERNET.register()
}
