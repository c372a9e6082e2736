// SPDX-License-Identifier: GPL-2.0
//! Per-network-namespace state.
//!
//! C headers: include/net/net_namespace.h, include/net/netns/generic.h
//!
//! A [`Pernet<T>`] is a `struct pernet_operations` with `.id`/`.size`: the kernel allocates a
//! zeroed slot in every namespace (existing ones at registration, new ones as they appear),
//! and we build a `T` in it, next to the registrations made for it ([`Slot`]: delayed works,
//! sysctl tables, `/proc/net` files). The glue undoes those before `T` is dropped, in the
//! namespace's exit callback, before the kernel frees the slot: so they may point into `T`,
//! and no code above the glue has to keep them in the right order, or at all.

use super::bindings;
use super::kthread::{self, KThreadItem};
use super::proc::ProcKind;
use super::procnet::ProcEntry;
use super::syncsock::{self, SyncDaemon};
use super::sysctl::{Entry, OnChange, SysctlOnChange, Table};
use super::workqueue::{self, DelayedWorkItem, HasDelayedWork};
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::types::Opaque;

/// A network namespace (`struct net`).
///
/// # Invariants
///
/// Only ever handed out by reference, for a namespace that is alive for that reference's
/// lifetime.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// # Safety
    ///
    /// `ptr` points to a `struct net` that stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Net {
        // SAFETY: `Net` is a transparent wrapper of `struct net`; the caller guarantees it
        // lives for `'a`.
        unsafe { &*ptr.cast::<Net>() }
    }

    /// The initial network namespace, which lives as long as the kernel.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn init_net() -> &'static Net {
        // SAFETY: `init_net` is never freed.
        unsafe { Net::from_raw(bindings::ipvs_rs_init_net()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }

    /// Whether the namespace belongs to a user namespace other than the initial one (C:
    /// `net->user_ns != &init_user_ns`, which hides sysctls from unprivileged users).
    pub(crate) fn unprivileged(&self) -> bool {
        // SAFETY: `self` is a live namespace (type invariant).
        unsafe { bindings::ipvs_rs_net_unpriv(self.as_ptr()) }
    }
}

/// State that ipvs_rs keeps in each network namespace.
pub(crate) trait PernetData: Sized + Send + Sync + 'static {
    /// The state of the namespace `net`, which has just appeared: what may fail is done
    /// first (the `Err` case), then the returned initializer builds the state in its final
    /// slot, where it stays (pinned) until it is dropped. No side effects outside the state:
    /// if the initializer or `register` fails, the state is dropped (after `stop`, if it was
    /// built).
    fn init(net: &Net) -> Result<impl PinInit<Self, Error> + '_>;
    /// Register what points into the state (works, sysctls, `/proc/net` files) through
    /// `slot`; called once, after the state is built. The glue undoes every registration before the
    /// state is dropped.
    fn register<'s>(&'s self, _slot: &mut Slot<'s, Self>) -> Result {
        Ok(())
    }
    /// The namespace goes away (or the module unloads, or `register` failed): undo what the
    /// state's life did (hooks, connections). Runs after the state's works were cancelled, before its sysctls and
    /// `/proc/net` files are removed and before it is dropped.
    fn stop(&self, _net: &Net) {}
    /// The one static registration record of this type (the C callbacks get no `&self`).
    fn pernet() -> &'static Pernet<Self>;
}

/// What the glue registered for one namespace's state; undone before the state is dropped.
struct Regs {
    /// Ready sync thread sets (`SyncThreads` fields of the state), stopped first, at
    /// `pre_exit` already (C: `ip_vs_sync_net_cleanup()`, from a pernet_device exit, before
    /// the namespace's devices go: the sockets hold device state).
    sync: KVec<syncsock::SyncThreadsHandle>,
    /// Ready kthread slots (`KThread` fields of the state), stopped next.
    threads: KVec<kthread::KThreadHandle>,
    /// Initialised works (`DelayedWork` fields of the state), cancelled next.
    works: KVec<workqueue::WorkHandle>,
    /// `/proc/net` files, removed next (removal waits for their readers).
    proc: KVec<ProcEntry>,
    /// sysctl tables, unregistered last.
    sysctls: KVec<Table>,
}

impl Regs {
    /// Cancel the works, remove the files, unregister the tables, in that order, calling
    /// `stop` in between (see [`PernetData::stop`]).
    fn undo(&mut self, stop: impl FnOnce()) {
        self.stop_sync();
        for t in self.threads.iter() {
            // SAFETY: every listed slot was readied by `Slot::init_kthread` in the state next
            // to these registrations, which has not been dropped; process context.
            unsafe { t.stop() };
        }
        self.threads = KVec::new();
        for w in self.works.iter() {
            // SAFETY: every listed work was initialised by `Slot::init_work` in the state
            // next to these registrations, which has not been dropped; net exit and failed
            // init run in process context.
            unsafe { w.disable_and_cancel() };
        }
        self.works = KVec::new();
        stop();
        self.proc = KVec::new();
        self.sysctls = KVec::new();
    }
}

impl Regs {
    /// Stop the sync thread sets and release their sockets (once: the list is emptied).
    fn stop_sync(&mut self) {
        for s in self.sync.iter() {
            // SAFETY: every listed set was readied by `Slot::init_sync_threads` in the state
            // next to these registrations, which has not been dropped; process context (net
            // pre-exit and exit, failed init), not under RTNL.
            unsafe { s.stop_all() };
        }
        self.sync = KVec::new();
    }
}

/// The memory of one namespace's slot: the registrations, then the state.
struct SlotMem<T> {
    regs: Regs,
    data: T,
}

/// The registrar [`PernetData::register`] gets: registrations made here point into the
/// state (borrowed for `'s`) and stay valid because the glue undoes them before the state is
/// dropped, and before its namespace goes away.
///
/// # Invariants
///
/// `data` is the built state of the slot whose registrations are `regs`, in the live
/// namespace `net`; it stays in place until the glue has undone `regs`.
pub(crate) struct Slot<'s, T> {
    data: &'s T,
    net: &'s Net,
    regs: &'s mut Regs,
}

impl<'s, T: PernetData> Slot<'s, T> {
    /// The namespace.
    pub(crate) fn net(&self) -> &'s Net {
        self.net
    }

    /// Initialise the state's `ID` work (its callback: [`DelayedWorkItem::run`]); it is
    /// cancelled before the state is dropped. Fails with `EBUSY` if already initialised.
    pub(crate) fn init_work<const ID: u64>(&mut self) -> Result
    where
        T: DelayedWorkItem<ID>,
    {
        // SAFETY: `data` is a live `T`.
        let work = unsafe { &*<T as HasDelayedWork<ID>>::raw_get_work(self.data) };
        if work.is_ready() {
            return Err(EBUSY);
        }
        // Room first: once initialised, the work must be on the list to be cancelled.
        self.regs.works.reserve(1, GFP_KERNEL)?;
        // SAFETY: the `ID` work of our `T` (reached through `raw_get_work`), not initialised
        // yet; the state stays in place until `Regs::undo` disabled and cancelled it (type
        // invariant).
        unsafe { work.init() };
        self.regs.works.push(work.handle(), GFP_KERNEL)?;
        Ok(())
    }

    /// Ready the state's kthread slot: [`KThread::start`](kthread::KThread::start) may start
    /// its thread from now on; it is stopped before the state is dropped.
    pub(crate) fn init_kthread(&mut self) -> Result
    where
        T: KThreadItem,
    {
        // Room first: once ready, the slot must be on the list to be stopped.
        self.regs.threads.reserve(1, GFP_KERNEL)?;
        let k = self.data.kthread();
        // SAFETY: the slot is a field of our `T` (`HasKThread`), which stays in place until
        // `Regs::undo` stopped it (type invariant).
        unsafe { k.make_ready() };
        self.regs.threads.push(k.handle(), GFP_KERNEL)?;
        Ok(())
    }

    /// Ready the state's sync thread set: [`SyncThreads::start`](syncsock::SyncThreads::start)
    /// may start threads, with sockets in this namespace, from now on; they are stopped and
    /// their sockets released before the state is dropped.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites (so far)
    pub(crate) fn init_sync_threads(&mut self) -> Result
    where
        T: SyncDaemon,
    {
        // Room first: once ready, the set must be on the list to be stopped.
        self.regs.sync.reserve(1, GFP_KERNEL)?;
        let set = self.data.sync_threads();
        if self.regs.sync.iter().any(|h| h.is(set)) {
            return Err(EBUSY);
        }
        // SAFETY: the set is a field of our `T` (`HasSyncThreads`) of the namespace `net`,
        // which stays in place until `Regs::undo` stopped it, in the namespace's exit
        // callback or a failed init, before the namespace goes (type invariant).
        unsafe { set.make_ready(self.net) };
        self.regs.sync.push(set.handle(), GFP_KERNEL)?;
        Ok(())
    }

    /// What a mode sysctl (C: `proc_do_defense_mode`) calls after a write changed it: the
    /// state's [`SysctlOnChange::sysctl_changed`].
    pub(crate) fn on_change(&self) -> OnChange<'s>
    where
        T: SysctlOnChange,
    {
        // SAFETY: `data` outlives every table registered through this slot (type invariant).
        unsafe { OnChange::new(self.data) }
    }

    /// Register the first `visible` of `entries` (all when `visible >= N`) as
    /// `/proc/sys/<path>/<name>`; see [`Table`].
    pub(crate) fn register_sysctl<const N: usize>(
        &mut self,
        path: &'static CStr,
        entries: [Entry<'s>; N],
        visible: usize,
    ) -> Result {
        self.regs.sysctls.reserve(1, GFP_KERNEL)?;
        // SAFETY: the entries' data and hooks live for `'s`, that is until the state is
        // dropped or longer, and the table is unregistered before that (`Regs::undo`), while
        // the namespace is alive (type invariant).
        let table = unsafe { Table::register(self.net, path, &entries, visible)? };
        self.regs.sysctls.push(table, GFP_KERNEL)?;
        Ok(())
    }

    /// Create `/proc/net/<name>` in the namespace; removed before the state is dropped.
    pub(crate) fn create_proc(&mut self, name: &'static CStr, kind: ProcKind) -> Result {
        self.regs.proc.reserve(1, GFP_KERNEL)?;
        // SAFETY: the entry is removed in `Regs::undo`, in the namespace's exit callback,
        // while the namespace is alive.
        let entry = unsafe { ProcEntry::create(self.net, name, kind)? };
        self.regs.proc.push(entry, GFP_KERNEL)?;
        Ok(())
    }
}

/// Registration record for per-netns state of type `T`; lives in a `static`.
///
/// # Invariants
///
/// While registered (a [`Registration`] exists), `ops.id` points to `self.id` and every live
/// namespace's generic slot `id` holds a built `T`.
pub(crate) struct Pernet<T: PernetData> {
    ops: UnsafeCell<bindings::pernet_operations>,
    id: UnsafeCell<kernel::ffi::c_uint>,
    registered: AtomicBool,
    _data: PhantomData<T>,
}

// SAFETY: the cells are only written in `register()` before the kernel sees them and read by
// the kernel under its own pernet lock afterwards; `T` is `Sync`.
unsafe impl<T: PernetData> Sync for Pernet<T> {}

impl<T: PernetData> Pernet<T> {
    pub(crate) const fn new() -> Self {
        // SAFETY: `pernet_operations` is a plain C struct for which all-zero is valid
        // (null list pointers and absent callbacks).
        let mut ops: bindings::pernet_operations = unsafe { core::mem::zeroed() };
        ops.init = Some(Self::net_init);
        ops.pre_exit = Some(Self::net_pre_exit);
        ops.exit = Some(Self::net_exit);
        ops.size = core::mem::size_of::<SlotMem<T>>();
        Pernet {
            ops: UnsafeCell::new(ops),
            id: UnsafeCell::new(0),
            registered: AtomicBool::new(false),
            _data: PhantomData,
        }
    }

    /// Create `T` in every namespace, now and for namespaces created later.
    pub(crate) fn register(&'static self) -> Result<Registration<T>> {
        // SAFETY: not registered yet (the only `Registration` would own it), so nobody else
        // reads `ops`; `self` is static, so `id` outlives the registration.
        unsafe { (*self.ops.get()).id = self.id.get() };
        // SAFETY: `ops` is a valid, static `pernet_operations` with callbacks of the right type.
        to_result(unsafe { bindings::register_pernet_subsys(self.ops.get()) })?;
        self.registered.store(true, Ordering::Release);
        // INVARIANT: registered above with `id` pointing to `self.id`.
        Ok(Registration { pernet: self })
    }

    /// The state of `net`, or `None` when not registered.
    ///
    /// Callers run in contexts that finish before the registration is dropped (KUnit cases,
    /// and later hooks and netlink handlers that are unregistered first), so the state cannot
    /// go away under the returned reference.
    pub(crate) fn try_get<'a>(&'static self, net: &'a Net) -> Option<&'a T> {
        self.slot(net).map(|s| &s.data)
    }

    /// The sysctl tables registered for `net`'s state, in registration order.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn sysctl_tables<'a>(&'static self, net: &'a Net) -> Option<&'a [Table]> {
        self.slot(net).map(|s| &s.regs.sysctls[..])
    }

    fn slot<'a>(&'static self, net: &'a Net) -> Option<&'a SlotMem<T>> {
        if !self.registered.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: registered, so `id` is assigned and stable, and every live namespace's slot
        // holds a built `SlotMem<T>` until its exit callback (`registered` is set after
        // the namespaces present at registration were set up; later ones are not reachable
        // before their init returned); `net` is alive for 'a.
        Some(unsafe {
            &*bindings::ipvs_rs_net_generic(net.as_ptr(), *self.id.get()).cast::<SlotMem<T>>()
        })
    }

    /// `pernet_operations.init`: build the state in `net`'s slot, register for it.
    ///
    /// # Safety
    ///
    /// Called by the kernel only, with a namespace being set up, whose slot for our id is
    /// allocated and zeroed.
    unsafe extern "C" fn net_init(net: *mut bindings::net) -> kernel::ffi::c_int {
        // SAFETY: the kernel calls `init` with a live namespace whose generic slot for our id
        // is allocated, zeroed, `size_of::<SlotMem<T>>()` bytes and suitably aligned
        // (kzalloc), and owned by us until `exit`.
        let (net, slot) = unsafe {
            let slot = bindings::ipvs_rs_net_generic(net, *Self::ops_id()).cast::<SlotMem<T>>();
            (Net::from_raw(net), slot)
        };
        let regs = Regs {
            sync: KVec::new(),
            threads: KVec::new(),
            works: KVec::new(),
            proc: KVec::new(),
            sysctls: KVec::new(),
        };
        // SAFETY: `slot` is valid for writes (see above) and holds nothing yet.
        unsafe { core::ptr::addr_of_mut!((*slot).regs).write(regs) };
        let built = T::init(net).and_then(|init| {
            // SAFETY: the `data` field of the slot is valid for writes and holds nothing; it
            // stays in place until dropped below or in `net_exit` (the slot is freed only
            // after `exit`), so the pinned state never moves.
            unsafe { init.__pinned_init(core::ptr::addr_of_mut!((*slot).data)) }
        });
        if let Err(e) = built {
            // SAFETY: `regs` was written above and is empty; `data` was not built (a failed
            // initializer leaves nothing to drop); `exit` is not called for a namespace whose
            // `init` failed.
            unsafe { core::ptr::drop_in_place(core::ptr::addr_of_mut!((*slot).regs)) };
            return e.to_errno();
        }
        // SAFETY: `slot` now holds a `SlotMem<T>` that nobody else references; the state is
        // only borrowed shared (it is pinned), the registrations exclusively.
        let (regs, data) = unsafe { (&mut (*slot).regs, &(*slot).data) };
        // INVARIANT: `data` is built, in its final place, next to `regs`, in the live `net`;
        // it is dropped only after `regs` are undone (below, or in `net_exit`).
        let mut reg = Slot {
            data,
            net,
            regs: &mut *regs,
        };
        match data.register(&mut reg) {
            Ok(()) => 0,
            Err(e) => {
                regs.undo(|| data.stop(net));
                // SAFETY: `slot` holds a `SlotMem<T>` that is not used again; `exit` is not
                // called for a namespace whose `init` failed.
                unsafe { core::ptr::drop_in_place(slot) };
                e.to_errno()
            }
        }
    }

    /// `pernet_operations.pre_exit`: stop the sync threads and release their sockets while
    /// the namespace's devices are still there (pre-exits all run before any exit: C stops
    /// them from its pernet_device exit, which runs before loopback's); `exit` does the rest.
    ///
    /// # Safety
    ///
    /// Called by the kernel only, once, before `exit`, for a namespace whose `init`
    /// succeeded.
    unsafe extern "C" fn net_pre_exit(net: *mut bindings::net) {
        // SAFETY: as in `net_exit`: the slot holds the `SlotMem<T>` written by `init`; only
        // the glue touches its registrations.
        let regs = unsafe {
            let slot = bindings::ipvs_rs_net_generic(net, *Self::ops_id()).cast::<SlotMem<T>>();
            &mut (*slot).regs
        };
        regs.stop_sync();
    }

    /// `pernet_operations.exit`: undo the registrations, stop and drop the state.
    ///
    /// # Safety
    ///
    /// Called by the kernel only, once, for a namespace whose `init` succeeded, while it is
    /// still alive.
    unsafe extern "C" fn net_exit(net: *mut bindings::net) {
        // SAFETY: `exit` runs once, after a successful `init`, with the namespace still alive;
        // the slot holds the `SlotMem<T>` written there, no longer reachable by anyone else.
        let (net, slot) = unsafe {
            let slot = bindings::ipvs_rs_net_generic(net, *Self::ops_id()).cast::<SlotMem<T>>();
            (Net::from_raw(net), slot)
        };
        // SAFETY: see above: the slot holds a live `SlotMem<T>`; only the glue touches its
        // registrations, and the state is only borrowed shared until dropped below.
        let (regs, data) = unsafe { (&mut (*slot).regs, &(*slot).data) };
        regs.undo(|| data.stop(net));
        // SAFETY: the registrations pointing into the state are undone; dropped once.
        unsafe { core::ptr::drop_in_place(slot) };
    }

    /// Our id, as the callbacks see it (they get no `&self`).
    fn ops_id() -> *const kernel::ffi::c_uint {
        T::pernet().id.get()
    }
}

/// A live registration; dropping it destroys the state in every namespace.
pub(crate) struct Registration<T: PernetData> {
    pernet: &'static Pernet<T>,
}

impl<T: PernetData> Drop for Registration<T> {
    fn drop(&mut self) {
        self.pernet.registered.store(false, Ordering::Release);
        // SAFETY: registered (type invariant of `Pernet`); this runs `exit` for every namespace.
        unsafe { bindings::unregister_pernet_subsys(self.pernet.ops.get()) };
    }
}
