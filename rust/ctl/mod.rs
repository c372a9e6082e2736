// SPDX-License-Identifier: GPL-2.0
//! Per-namespace control state: the counterpart of `ip_vs_ctl.c`'s `struct netns_ipvs`
//! sysctl fields and `ip_vs_control_net_init_sysctl()`.
//!
//! Each namespace gets its own `conn_reuse_mode`, `expire_nodest_conn`, `conntrack` and the
//! flood defenses (`amemthresh`, `am_droprate`, `drop_entry`, `drop_packet`, `secure_tcp`)
//! under `/proc/sys/net/ipv4/vs/`, with C's defaults and C's parsers. What the values mean
//! is decided in the core ([`ipvs_core::sysctl::Settings`], [`ipvs_core::defense`]); the
//! defense work (`defense_work_handler()`) runs here every second.

pub(crate) mod genl;
mod proc;
pub(crate) mod service;

use crate::dp::DpNet;
use crate::glue::pernet::{Net, Pernet, PernetData, Registration};
use crate::glue::rcu::DelayedWork;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Mutex;
use service::CtlState;
use crate::glue::sysctl::{IntEntry, OnChange, Table};
use core::sync::atomic::{AtomicI32, Ordering};
use ipvs_core::defense;
use ipvs_core::sysctl::{Handler, Knob, Settings, SPECS};
use kernel::c_str;
use kernel::prelude::*;

/// Where the sysctls live, as in C IPVS.
const SYSCTL_PATH: &CStr = c_str!("net/ipv4/vs");

/// ipvs_rs state of one network namespace.
pub(crate) struct NetState {
    // Dropped first: removing the proc files waits for their readers, which use `ctl`.
    proc: Option<crate::glue::proc::ProcFiles<8>>,
    conntrack: AtomicI32,
    expire_nodest_conn: AtomicI32,
    conn_reuse_mode: AtomicI32,
    conn_reuse_old_conntrack: AtomicI32,
    amemthresh: AtomicI32,
    am_droprate: AtomicI32,
    drop_entry: AtomicI32,
    drop_packet: AtomicI32,
    secure_tcp: AtomicI32,
    sysctl: Option<Table<{ SPECS.len() }>>,
    /// Serialises `update_defense_level()` (sysctl writes and the work; C: its three
    /// spinlocks) and holds `ipvs->old_secure_tcp`.
    defense: Option<Pin<KBox<Mutex<i32>>>>,
    /// `ipvs->defense_work`: `defense_work_handler()` every second.
    defense_work: DelayedWork,
    /// Services, destinations, timeouts, per namespace, under C's `__ip_vs_mutex`: the
    /// control plane only (process context). The packet path never takes it: it reads the
    /// services from their RCU table (`dp.services`) and locks one service to schedule.
    ctl: Option<Pin<KBox<Mutex<CtlState>>>>,
    /// The packet path's per-namespace state.
    pub(crate) dp: DpNet,
    /// The namespace (`struct net *`), set by `start`.
    net: usize,
    /// The rate estimator, every period, in process context (C: the estimation kthreads).
    est_work: DelayedWork,
    /// `ipvs->expire_nodest_conn_work`: expires the connections of removed destinations
    /// (upstream fix "ipvs: queue delayed work to expire no destination connections if
    /// expire_nodest_conn=1").
    nodest_work: DelayedWork,
}

static PERNET: Pernet<NetState> = Pernet::new();

impl NetState {
    fn cell(&self, knob: Knob) -> &AtomicI32 {
        match knob {
            Knob::Conntrack => &self.conntrack,
            Knob::ExpireNodestConn => &self.expire_nodest_conn,
            Knob::ConnReuseMode => &self.conn_reuse_mode,
            Knob::ConnReuseOldConntrack => &self.conn_reuse_old_conntrack,
            Knob::AmemThresh => &self.amemthresh,
            Knob::AmDropRate => &self.am_droprate,
            Knob::DropEntry => &self.drop_entry,
            Knob::DropPacket => &self.drop_packet,
            Knob::SecureTcp => &self.secure_tcp,
        }
    }

    /// `update_defense_level()`: read the free memory, let the core decide, store the modes
    /// it rewrote (1 ↔ 2) and the data path's defense state.
    pub(crate) fn update_defense_level(&self) {
        let Some(lock) = self.defense.as_deref() else { return };
        let avail_pages = crate::glue::mem::free_and_buffer_pages();
        let mut old_secure_tcp = lock.lock();
        let load = |knob| self.cell(knob).load(Ordering::Relaxed);
        let modes = defense::Modes {
            drop_entry: load(Knob::DropEntry),
            drop_packet: load(Knob::DropPacket),
            secure_tcp: load(Knob::SecureTcp),
            old_secure_tcp: *old_secure_tcp,
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
                let _ = self.cell(knob).compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed);
            }
        };
        store(Knob::DropEntry, modes.drop_entry, u.modes.drop_entry);
        store(Knob::DropPacket, modes.drop_packet, u.modes.drop_packet);
        store(Knob::SecureTcp, modes.secure_tcp, u.modes.secure_tcp);
        *old_secure_tcp = u.modes.old_secure_tcp;
        self.dp.defense.apply(&u);
    }

    /// Current values, as the data path should read them (once per packet).
    pub(crate) fn settings(&self) -> Settings {
        let load = |knob| self.cell(knob).load(Ordering::Relaxed);
        Settings {
            conn_reuse_mode: load(Knob::ConnReuseMode),
            expire_nodest_conn: load(Knob::ExpireNodestConn),
            conntrack: load(Knob::Conntrack),
            conn_reuse_old_conntrack: load(Knob::ConnReuseOldConntrack),
        }
    }

    /// The registered sysctl table (absent only while the namespace is being set up).
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn sysctl_table(&self) -> Option<&Table<{ SPECS.len() }>> {
        self.sysctl.as_ref()
    }

    /// The control-plane state, locked. Every started namespace has it (`start()` fails
    /// otherwise), and only started states are reachable through [`NetState::of`]; `ENODEV`
    /// is defensive.
    pub(crate) fn ctl(&self) -> Result<Guard<'_, CtlState, MutexBackend>> {
        Ok(self.ctl.as_deref().ok_or(ENODEV)?.lock())
    }

    /// `struct net *` of this namespace, as a number (connection keys).
    pub(crate) fn net_id(&self) -> usize {
        self.net
    }

    /// The state of `net`, if ipvs_rs is registered.
    pub(crate) fn of(net: &Net) -> Option<&NetState> {
        PERNET.try_get(net)
    }
}

impl PernetData for NetState {
    fn new() -> Self {
        let default = |knob: Knob| AtomicI32::new(knob.spec().default);
        NetState {
            conntrack: default(Knob::Conntrack),
            expire_nodest_conn: default(Knob::ExpireNodestConn),
            conn_reuse_mode: default(Knob::ConnReuseMode),
            conn_reuse_old_conntrack: default(Knob::ConnReuseOldConntrack),
            amemthresh: default(Knob::AmemThresh),
            am_droprate: default(Knob::AmDropRate),
            drop_entry: default(Knob::DropEntry),
            drop_packet: default(Knob::DropPacket),
            secure_tcp: default(Knob::SecureTcp),
            sysctl: None,
            defense: None,
            defense_work: DelayedWork::new(),
            ctl: None,
            proc: None,
            dp: DpNet::new(),
            net: 0,
            est_work: DelayedWork::new(),
            nodest_work: DelayedWork::new(),
        }
    }

    fn start(&mut self, net: &Net) -> Result {
        // Before the sysctls: a write may run the update at once.
        self.defense = Some(KBox::pin_init(kernel::new_mutex!(0, "ipvs_rs_defense"), GFP_KERNEL)?);
        let me: *const NetState = self;
        let on_change = OnChange { f: defense_mode_changed, ctx: me.cast() };
        let mut entries = SPECS.map(|spec| IntEntry {
            name: c_str!(""),
            value: self.cell(spec.knob),
            mode: spec.mode,
            on_change: (spec.handler == Handler::DefenseMode).then_some(on_change),
        });
        for (entry, spec) in entries.iter_mut().zip(SPECS.iter()) {
            entry.name = CStr::from_bytes_with_nul(spec.c_name)?;
        }
        // SAFETY: the values are fields of `self`, which (per `PernetData::start`) stays in
        // its slot until dropped, and `self.sysctl` is dropped with `self` — before the
        // fields' storage is freed and before the namespace goes away. `on_change` is called
        // with `self`, alive as long as the table.
        let table = unsafe { Table::register(net, SYSCTL_PATH, entries)? };
        self.sysctl = Some(table);
        self.dp.tot_stats = crate::dp::dest::StatsCells::new()?;
        let ctl = CtlState::new().map_err(genl::errno)?;
        self.dp.services = Some(ctl.table());
        self.ctl = Some(KBox::pin_init(kernel::new_mutex!(ctl, "ipvs_rs_ctl"), GFP_KERNEL)?);
        self.net = net.as_ptr() as usize;
        // SAFETY: a field of `self`, which stays in place until dropped; `drop` cancels it
        // synchronously first.
        unsafe { self.est_work.init(est_work_handler) };
        // SAFETY: a field of `self`, which stays in place until dropped; `drop` cancels it
        // synchronously first.
        unsafe { self.nodest_work.init(expire_nodest_conn_handler) };
        // SAFETY: as for `nodest_work`.
        unsafe { self.defense_work.init(defense_work_handler) };
        self.defense_work.queue(defense_period());
        self.est_work.queue(est_period());
        // SAFETY: the files are removed when `self` is dropped, in the namespace's exit
        // callback, while the namespace is still alive.
        self.proc = Some(unsafe { proc::create(net)? });
        Ok(())
    }

    fn pernet() -> &'static Pernet<Self> {
        &PERNET
    }
}

impl NetState {
    /// `ip_vs_enqueue_expire_nodest_conns()`: after a destination was removed, with
    /// `expire_nodest_conn` set, expire its connections from process context soon (one
    /// jiffy), instead of waiting for packets to find them.
    pub(crate) fn enqueue_expire_nodest_conns(&self) {
        if self.settings().expire_nodest_conn != 0 {
            self.nodest_work.queue(1);
        }
    }
}

/// A mode sysctl changed (`proc_do_defense_mode()`): `update_defense_level()`.
fn defense_mode_changed(ctx: *const core::ffi::c_void) {
    // SAFETY: `ctx` is the started `NetState` that registered the table (see `start`), alive
    // while its sysctl handlers run.
    let ns = unsafe { &*ctx.cast::<NetState>() };
    ns.update_defense_level();
}

fn defense_period() -> u64 {
    u64::from(defense::defense_period_jiffies(genl::hz()))
}

/// `defense_work_handler()`: every second, update the defenses and, while `drop_entry` is
/// active, delete some flood-like entries (`ip_vs_random_dropentry()`).
unsafe extern "C" fn defense_work_handler(work: *mut crate::glue::bindings::work_struct) {
    // SAFETY: registered with `defense_work.init` on a started `NetState`.
    let dw = unsafe { DelayedWork::from_work(work) };
    let off = core::mem::offset_of!(NetState, defense_work);
    // SAFETY: `dw` is the `defense_work` field of a started `NetState`, which cancels the
    // work synchronously before it goes away.
    let ns = unsafe { &*core::ptr::from_ref(dw).cast::<u8>().sub(off).cast::<NetState>() };
    ns.update_defense_level();
    if ns.dp.defense.dropentry() {
        crate::dp::conn::random_dropentry(ns);
    }
    ns.defense_work.queue(defense_period());
}

/// `expire_nodest_conn_handler()`.
unsafe extern "C" fn expire_nodest_conn_handler(work: *mut crate::glue::bindings::work_struct) {
    // SAFETY: registered with `nodest_work.init` on a started `NetState`.
    let dw = unsafe { DelayedWork::from_work(work) };
    let off = core::mem::offset_of!(NetState, nodest_work);
    // SAFETY: `dw` is the `nodest_work` field of a started `NetState`, which cancels the
    // work synchronously before it goes away.
    let ns = unsafe { &*core::ptr::from_ref(dw).cast::<u8>().sub(off).cast::<NetState>() };
    crate::dp::conn::expire_nodest_conn_flush(ns);
}

fn est_period() -> u64 {
    u64::from(ipvs_core::est::est_period_jiffies(genl::hz()))
}

/// The estimator: every period, fold the counters of the namespace, its services and their
/// destinations into their rates (`ip_vs_estimation_kthread()`'s work). Process context,
/// off the packet path and yielding the CPU every 1024 services (C runs it in kthreads).
unsafe extern "C" fn est_work_handler(work: *mut crate::glue::bindings::work_struct) {
    // SAFETY: registered with `est_work.init` on a started `NetState`.
    let dw = unsafe { DelayedWork::from_work(work) };
    let off = core::mem::offset_of!(NetState, est_work);
    // SAFETY: `dw` is the `est_work` field of a started `NetState`, which cancels the work
    // synchronously before it goes away.
    let ns = unsafe { &*core::ptr::from_ref(dw).cast::<u8>().sub(off).cast::<NetState>() };
    ns.dp.tot_stats.estimate();
    if let Ok(ctl) = ns.ctl() {
        ctl.for_each_stats(|s| s.estimate());
    }
    ns.est_work.queue(est_period());
}

impl Drop for NetState {
    /// The namespace goes away (or the module unloads): unhook, then expire and free every
    /// connection (`ip_vs_conn_net_cleanup()`), before the fields the connections use go.
    fn drop(&mut self) {
        if self.net != 0 {
            self.est_work.cancel_sync();
            self.nodest_work.cancel_sync();
            self.defense_work.cancel_sync();
            // SAFETY: `net` is the namespace this state was started in; its exit callback
            // (which drops us) runs while it is still alive.
            let net = unsafe { Net::from_raw(self.net as *mut crate::glue::bindings::net) };
            self.dp.unregister_all_hooks(net);
            crate::dp::conn::flush(self, self.net);
        }
    }
}

/// Create the state (and sysctls) in every namespace, present and future.
pub(crate) fn register() -> Result<Registration<NetState>> {
    PERNET.register()
}
