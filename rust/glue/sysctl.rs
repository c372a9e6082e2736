// SPDX-License-Identifier: GPL-2.0
//! Per-namespace sysctl tables.
//!
//! C headers: include/linux/sysctl.h, include/net/net_namespace.h (`register_net_sysctl_sz`)
//!
//! Each entry is handled by the kernel handler C IPVS uses for it (`proc_dointvec`,
//! `proc_dointvec_minmax`, `proc_dointvec_jiffies`, `proc_doulongvec_minmax`), or by a copy
//! of C's own handler where ip_vs_ctl.c keeps it static (rust/helpers.c; the defense modes
//! here), so parsing, permissions and the errors `sysctl -w` reports are exactly those of C
//! IPVS. Integer values live in atomics owned by the caller: the handlers store them
//! (`WRITE_ONCE` or plain stores of an aligned `int`) and the data path reads them with a
//! relaxed load, the same pairing C uses. Entries with an [`OnChange`] are C's
//! `proc_do_defense_mode` entries: values 0..=3 only, and a change calls back.

use super::bindings;
use super::pernet::Net;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use kernel::prelude::*;

/// What a state that owns mode entries does when one changed (C: `update_defense_level()`).
pub(crate) trait SysctlOnChange: Sync {
    /// Called in process context, after the new value is stored.
    fn sysctl_changed(&self);
}

/// What a mode entry (C: `proc_do_defense_mode`) calls after a write changed its value: the
/// [`SysctlOnChange`] of the state it was made for
/// ([`Slot::on_change`](super::pernet::Slot::on_change)).
///
/// # Invariants
///
/// `ctx` points to a live `T` for `'s` (and until every table holding this is
/// unregistered), and `call` is `call_changed::<T>` for that `T`.
#[derive(Clone, Copy)]
pub(crate) struct OnChange<'s> {
    call: unsafe fn(*const c_void),
    /// The state (C: `table->extra2 = ipvs`).
    ctx: *const c_void,
    _state: PhantomData<&'s ()>,
}

impl<'s> OnChange<'s> {
    /// # Safety
    ///
    /// `state` outlives every table this is registered in.
    pub(super) unsafe fn new<T: SysctlOnChange>(state: &'s T) -> Self {
        // INVARIANT: `ctx` is `state`, alive for `'s` and, per the caller, while registered.
        OnChange {
            call: call_changed::<T>,
            ctx: core::ptr::from_ref(state).cast(),
            _state: PhantomData,
        }
    }

    /// Run the callback.
    fn call(&self) {
        // SAFETY: `call` matches `ctx`'s type and `ctx` is alive (type invariant).
        unsafe { (self.call)(self.ctx) }
    }
}

/// # Safety
///
/// `ctx` points to a live `T`.
unsafe fn call_changed<T: SysctlOnChange>(ctx: *const c_void) {
    // SAFETY: per the caller.
    unsafe { &*ctx.cast::<T>() }.sysctl_changed();
}

/// Storage of `est_cpulist` (C: `ipvs->sysctl_est_cpulist` and `est_cpulist_valid`), owned
/// by C code (rust/helpers.c), which alone reads and writes it under its mutex.
///
/// # Invariants
///
/// `ptr` is a live allocation of `ipvs_rs_est_cpulist_alloc()`, freed only by `Drop`.
pub(crate) struct CpuList {
    ptr: NonNull<bindings::ipvs_rs_est_cpulist>,
}

// SAFETY: the C side serialises every access with its mutex.
unsafe impl Send for CpuList {}
// SAFETY: as for `Send`.
unsafe impl Sync for CpuList {}

impl CpuList {
    /// An unset list (reads show the housekeeping CPUs, as in C).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no precondition.
        let ptr = NonNull::new(unsafe { bindings::ipvs_rs_est_cpulist_alloc() }).ok_or(ENOMEM)?;
        // INVARIANT: just allocated.
        Ok(CpuList { ptr })
    }

    /// The C object, for the kthread helpers (which take the sysctls' mutex).
    pub(super) fn as_ptr(&self) -> *mut bindings::ipvs_rs_est_cpulist {
        self.ptr.as_ptr()
    }

    /// C's `est_stopped` condition on the list: set, and empty.
    pub(crate) fn set_and_empty(&self) -> bool {
        // SAFETY: `ptr` is live (invariant).
        unsafe { bindings::ipvs_rs_est_cpulist_empty(self.ptr.as_ptr()) }
    }
}

impl Drop for CpuList {
    fn drop(&mut self) {
        // SAFETY: `ptr` is live (invariant) and no table refers to it any more (tables
        // holding it are dropped first: `Entry` borrows it).
        unsafe { bindings::ipvs_rs_est_cpulist_free(self.ptr.as_ptr()) };
    }
}

/// Where an entry's value lives.
pub(crate) enum Data<'a> {
    /// One `int`.
    Int(&'a AtomicI32),
    /// Two `int`s (`sync_threshold`).
    IntPair(&'a [AtomicI32; 2]),
    /// One `unsigned long`.
    ULong(&'a AtomicUsize),
    /// A CPU list.
    CpuList(&'a CpuList),
}

/// Which handler an entry has.
#[derive(Clone, Copy)]
pub(crate) enum Proc<'s> {
    /// `proc_dointvec`.
    DoIntVec,
    /// `proc_dointvec_minmax` with these bounds (`extra1`, `extra2`).
    MinMax(i32, i32),
    /// `proc_dointvec_jiffies`.
    Jiffies,
    /// `proc_doulongvec_minmax` without bounds.
    ULongVec,
    /// C's `proc_do_defense_mode` (here) calling back.
    DefenseMode(OnChange<'s>),
    /// C's `proc_do_sync_threshold` (rust/helpers.c).
    SyncThreshold,
    /// C's `proc_do_sync_ports` (rust/helpers.c).
    SyncPorts,
    /// C's `ipvs_proc_run_estimation` (rust/helpers.c).
    RunEstimation,
    /// C's `ipvs_proc_est_cpulist` (rust/helpers.c).
    EstCpulist,
    /// C's `ipvs_proc_est_nice` (rust/helpers.c).
    EstNice,
}

/// The `proc_handler` type of `struct ctl_table`.
pub(crate) type ProcHandler = unsafe extern "C" fn(
    *const bindings::ctl_table,
    kernel::ffi::c_int,
    *mut c_void,
    *mut usize,
    *mut bindings::loff_t,
) -> kernel::ffi::c_int;

impl Proc<'_> {
    /// The C function the sysctl core calls for this handler.
    pub(crate) fn handler(&self) -> ProcHandler {
        match self {
            Proc::DoIntVec => bindings::proc_dointvec,
            Proc::MinMax(..) => bindings::proc_dointvec_minmax,
            Proc::Jiffies => bindings::proc_dointvec_jiffies,
            Proc::ULongVec => bindings::proc_doulongvec_minmax,
            Proc::DefenseMode(_) => proc_do_defense_mode,
            Proc::SyncThreshold => bindings::ipvs_rs_proc_do_sync_threshold,
            Proc::SyncPorts => bindings::ipvs_rs_proc_do_sync_ports,
            Proc::RunEstimation => bindings::ipvs_rs_proc_run_estimation,
            Proc::EstCpulist => bindings::ipvs_rs_proc_est_cpulist,
            Proc::EstNice => bindings::ipvs_rs_proc_est_nice,
        }
    }
}

/// One entry: name, backing value, proc permissions and handler.
pub(crate) struct Entry<'a> {
    pub(crate) name: &'static CStr,
    pub(crate) data: Data<'a>,
    pub(crate) mode: u16,
    pub(crate) proc_: Proc<'a>,
}

/// The `struct ctl_table` for `entry`; `hook` is where its [`OnChange`] lives and `bounds`
/// where its `extra1`/`extra2` point, while the table is registered.
fn ctl_table(
    entry: &Entry<'_>,
    hook: &Option<OnChange<'_>>,
    bounds: &[i32; 2],
) -> bindings::ctl_table {
    let (data, maxlen): (*mut c_void, usize) = match entry.data {
        Data::Int(v) => (v.as_ptr().cast(), core::mem::size_of::<i32>()),
        Data::IntPair(v) => (
            v.as_ptr().cast_mut().cast(),
            2 * core::mem::size_of::<i32>(),
        ),
        Data::ULong(v) => (
            v.as_ptr().cast(),
            core::mem::size_of::<kernel::ffi::c_ulong>(),
        ),
        // C: `.maxlen = NR_CPUS /* unused */`.
        Data::CpuList(c) => (c.ptr.as_ptr().cast(), bindings::IPVS_RS_NR_CPUS as usize),
    };
    let (extra1, extra2): (*mut c_void, *mut c_void) = match entry.proc_ {
        Proc::MinMax(..) => (
            core::ptr::from_ref(&bounds[0]).cast_mut().cast(),
            core::ptr::from_ref(&bounds[1]).cast_mut().cast(),
        ),
        Proc::DefenseMode(_) => (
            core::ptr::null_mut(),
            hook.as_ref().map_or(core::ptr::null_mut(), |h| {
                core::ptr::from_ref(h).cast_mut().cast()
            }),
        ),
        _ => (core::ptr::null_mut(), core::ptr::null_mut()),
    };
    bindings::ctl_table {
        procname: entry.name.as_char_ptr(),
        data,
        maxlen: maxlen as kernel::ffi::c_int,
        mode: entry.mode,
        proc_handler: Some(entry.proc_.handler()),
        extra1,
        extra2,
        ..Default::default()
    }
}

/// C's `proc_do_defense_mode()`: `proc_dointvec` into a copy; if the copy differs from the
/// value, refuse it (`EINVAL`) unless it is 0..=3, else store it and call the entry's
/// [`OnChange`] (C: `update_defense_level()`). A write of the current value changes nothing
/// and calls nothing, as in C. (Model: `ipvs_core::defense::write_mode`.)
///
/// # Safety
///
/// Called by the sysctl core for an entry built by [`ctl_table`] with a hook, whose
/// `data` and `extra2` point to live values (the [`Table`]'s invariant).
unsafe extern "C" fn proc_do_defense_mode(
    table: *const bindings::ctl_table,
    write: kernel::ffi::c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> kernel::ffi::c_int {
    // SAFETY: the sysctl core passes the registered entry.
    let table = unsafe { &*table };
    // SAFETY: `data` is the entry's `AtomicI32` (built by `ctl_table`), alive while the
    // table is registered.
    let valp = unsafe { &*table.data.cast::<AtomicI32>() };
    let mut val = valp.load(Ordering::Relaxed);
    let tmp = bindings::ctl_table {
        data: core::ptr::from_mut(&mut val).cast(),
        maxlen: core::mem::size_of::<i32>() as kernel::ffi::c_int,
        mode: table.mode,
        ..Default::default()
    };
    // SAFETY: `tmp` describes one `int` on our stack; the buffer and pointers are the
    // caller's, passed on unchanged.
    let mut rc = unsafe { bindings::proc_dointvec(&tmp, write, buffer, lenp, ppos) };
    if write != 0 && valp.load(Ordering::Relaxed) != val {
        if !(0..=3).contains(&val) {
            rc = EINVAL.to_errno();
        } else {
            valp.store(val, Ordering::Relaxed);
            // SAFETY: `extra2` points to the entry's `OnChange` in its `Table`, which stays
            // registered (and so alive) while this handler runs.
            let hook = unsafe { &*table.extra2.cast::<OnChange<'_>>() };
            hook.call();
        }
    }
    rc
}

/// A registered table under `/proc/sys/<path>` of one namespace, kept by the per-namespace
/// glue ([`Slot::register_sysctl`](super::pernet::Slot::register_sysctl)).
///
/// # Invariants
///
/// `header` is the live registration of the first `visible` of `entries`; the buffers of
/// `entries`, `hooks` and `bounds` (which the entries' `extra1`/`extra2` point into) do not
/// move or change while registered (they are never pushed to or handed out mutably).
pub(crate) struct Table {
    header: NonNull<bindings::ctl_table_header>,
    // Owned here for as long as the table is registered; read only by the KUnit suites.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))]
    entries: KVec<bindings::ctl_table>,
    /// How many of `entries` were registered.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))]
    visible: usize,
    #[allow(dead_code)] // Referenced from `entries` only.
    hooks: KVec<Option<OnChange<'static>>>,
    #[allow(dead_code)] // Referenced from `entries` only.
    bounds: KVec<[i32; 2]>,
}

// SAFETY: the header is only used to unregister, which the kernel allows from any context
// that may sleep; the table is immutable while registered; the hooks' context pointers are
// only used by the handler, under the caller's contract of `register`.
unsafe impl Send for Table {}
// SAFETY: `&Table` gives no access to anything mutable.
unsafe impl Sync for Table {}

impl Table {
    /// Register the first `visible` of `entries` (all when `visible >= entries.len()`; none
    /// leaves an empty directory, as C's lblc does for unprivileged users) as
    /// `/proc/sys/<path>/<name>` in `net`.
    ///
    /// Fails with `EEXIST`-like errors (the kernel logs "sysctl duplicate entry") when another
    /// table already owns one of the names in that namespace.
    ///
    /// # Safety
    ///
    /// Every entry's data and [`OnChange`] context must outlive the returned `Table`, and
    /// `net` must outlive it too.
    pub(super) unsafe fn register(
        net: &Net,
        path: &'static CStr,
        entries: &[Entry<'_>],
        visible: usize,
    ) -> Result<Self> {
        let n = entries.len();
        let mut hooks = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut bounds = KVec::with_capacity(n, GFP_KERNEL)?;
        for e in entries {
            let hook = match e.proc_ {
                // The lifetime is the caller's contract from here on.
                Proc::DefenseMode(h) => Some(OnChange {
                    call: h.call,
                    ctx: h.ctx,
                    _state: PhantomData,
                }),
                _ => None,
            };
            hooks.push(hook, GFP_KERNEL)?;
            bounds.push(
                match e.proc_ {
                    Proc::MinMax(min, max) => [min, max],
                    _ => [0, 0],
                },
                GFP_KERNEL,
            )?;
        }
        // `hooks` and `bounds` are complete: their buffers stay where they are from here on.
        let mut table = KVec::with_capacity(n, GFP_KERNEL)?;
        // Entry i gets hook i and bounds i (all have `n` elements).
        let mut aux = hooks.iter().zip(bounds.iter());
        for e in entries {
            let (h, b) = aux.next().ok_or(EINVAL)?;
            table.push(ctl_table(e, h, b), GFP_KERNEL)?;
        }
        let visible = visible.min(n);
        // SAFETY: `path` is a static C string; `table` holds `n` valid entries and stays at
        // this address (its buffer is never reallocated) until `Drop` unregisters it; the
        // values it points to outlive `Self` (caller's contract).
        let header = unsafe {
            bindings::register_net_sysctl_sz(
                net.as_ptr(),
                path.as_char_ptr(),
                table.as_mut_ptr(),
                visible,
            )
        };
        // The kernel returns NULL on any failure and has already logged why.
        let header = NonNull::new(header).ok_or(ENOMEM)?;
        // INVARIANT: `header` is the registration of `table`.
        Ok(Table {
            header,
            entries: table,
            visible,
            hooks,
            bounds,
        })
    }

    /// The entries as registered (for tests comparing them with the specification).
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // used by the KUnit suites
    pub(crate) fn entries(&self) -> &[bindings::ctl_table] {
        &self.entries[..self.visible]
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // SAFETY: `header` is a live registration (type invariant); after this call the
        // kernel no longer references `entries`, which are freed right after.
        unsafe { bindings::unregister_net_sysctl_table(self.header.as_ptr()) };
    }
}
