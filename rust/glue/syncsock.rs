// SPDX-License-Identifier: GPL-2.0
//! Sockets and threads of IPVS connection synchronization (C 6.12: `ip_vs_sync.c`'s
//! `make_send_sock()`, `make_receive_sock()`, `ip_vs_send_async()`, `ip_vs_receive()`, the
//! daemons' waits and `start_sync_thread()`/`stop_sync_thread()`'s thread handling).
//!
//! C headers: include/linux/net.h, include/net/sock.h, include/linux/igmp.h,
//! include/linux/kthread.h (wrapped in rust/sync_glue.c, declared in include/ipvs_rs_sync.h)
//!
//! A [`McastSocket`] is a kernel UDP socket of one namespace, made as C makes the master's
//! (sending) and the backup's (receiving) sockets, released when dropped; it cannot outlive
//! the namespace it was made in (its lifetime is the `&Net` it was made with).
//!
//! A [`SyncThreads<T>`] is a field of `T` (declared with
//! [`impl_has_sync_threads!`](crate::impl_has_sync_threads)), like
//! [`KThread`](super::kthread::KThread): the per-namespace glue readies it
//! ([`Slot::init_sync_threads`](super::pernet::Slot::init_sync_threads)) and stops its
//! threads, waiting for them to end, before the state holding it is dropped. In between
//! [`SyncThreads::start`] runs up to [`SYNC_PORTS_MAX`] threads per role (master, backup),
//! thread `id` owning its own socket on port `port + id` and running
//! [`SyncDaemon::run`] on the `T` until asked to stop; [`SyncThreads::stop`] stops a role's
//! threads. Start and stop are serialised by the set's mutex (C: `ipvs->sync_mutex`).
//!
//! Lock order: the set's mutex, then RTNL (the socket constructors and `sock_release()`
//! take it). Nothing here may be called under RTNL, and a thread body must not start or stop
//! threads of its own set (the stop waits for it under the mutex).

use super::bindings;
use super::pernet::Net;
use super::rcu::{self, RcuReadGuard};
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// `IPVS_SYNC_PORTS_MAX`: the most threads (and sockets, ports) of one role.
pub(crate) const SYNC_PORTS_MAX: usize = 1 << 6;

/// `IP_VS_SYNC_GROUP` (224.0.0.81): the group C uses when none is given.
pub(crate) const DEFAULT_GROUP: McastGroup = McastGroup::V4([224, 0, 0, 81]);

/// `IP_VS_SYNC_PORT`: the port C uses when none is given.
pub(crate) const DEFAULT_PORT: u16 = 8848;

/// `IP_VS_IFNAME_MAXLEN` (`IFNAMSIZ`): a device name and its NUL.
const IFNAME_MAXLEN: usize = 16;

/// A multicast group, in network order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum McastGroup {
    /// An IPv4 group (`AF_INET`).
    V4([u8; 4]),
    /// An IPv6 group (`AF_INET6`).
    V6([u8; 16]),
}

impl McastGroup {
    /// `AF_INET` or `AF_INET6`.
    fn af(&self) -> kernel::ffi::c_int {
        match self {
            McastGroup::V4(_) => bindings::AF_INET as _,
            McastGroup::V6(_) => bindings::AF_INET6 as _,
        }
    }

    /// The address bytes (4 or 16).
    fn bytes(&self) -> &[u8] {
        match self {
            McastGroup::V4(a) => &a[..],
            McastGroup::V6(a) => &a[..],
        }
    }
}

/// A device name as C holds it (`mcast_ifn`): at most 15 bytes and a NUL.
///
/// # Invariants
///
/// The last byte is 0.
struct IfName([u8; IFNAME_MAXLEN]);

impl IfName {
    /// `name` without its NUL; a longer one names no device (`ENODEV`, as
    /// C's `__dev_get_by_name()` finds none). Like C's `char[]`, a name
    /// ends at its first NUL.
    fn new(name: &[u8]) -> Result<Self> {
        let mut buf = [0u8; IFNAME_MAXLEN];
        let dst = buf.get_mut(..name.len()).ok_or(ENODEV)?;
        dst.copy_from_slice(name);
        if buf[IFNAME_MAXLEN - 1] != 0 {
            return Err(ENODEV);
        }
        // INVARIANT: checked above.
        Ok(IfName(buf))
    }

    fn as_ptr(&self) -> *const kernel::ffi::c_char {
        self.0.as_ptr().cast()
    }
}

/// The MTU of the device `ifname` of `net` (`start_sync_thread()` sizes the messages from
/// it: `dev->mtu`), or `ENODEV`.
pub(crate) fn dev_mtu(net: &Net, ifname: &[u8]) -> Result<u32> {
    let name = IfName::new(ifname)?;
    // SAFETY: `net` is alive (type invariant of `Net`); `name` is NUL-terminated (type
    // invariant of `IfName`).
    let mtu = unsafe { bindings::ipvs_rs_sync_dev_mtu(net.as_ptr(), name.as_ptr()) };
    u32::try_from(mtu).map_err(|_| Error::from_errno(mtu))
}

/// A byte count or a negative errno, as the socket helpers return them.
fn len_or_errno(ret: kernel::ffi::c_int) -> Result<usize> {
    usize::try_from(ret).map_err(|_| Error::from_errno(ret))
}

/// A UDP socket of the namespace `'net` lives in, sending to or receiving from a multicast
/// group: the socket of one sync thread.
///
/// # Invariants
///
/// `sock` is a socket made by `ipvs_rs_sync_send_sock()` or `ipvs_rs_sync_recv_sock()` in a
/// namespace alive for `'net`, owned by this value (released by its `Drop`, once).
pub(crate) struct McastSocket<'net> {
    sock: NonNull<bindings::socket>,
    _net: PhantomData<&'net Net>,
}

// SAFETY: the socket is owned (type invariant); kernel socket calls lock the socket
// themselves, so it may be used and released from any thread.
unsafe impl Send for McastSocket<'_> {}
// SAFETY: as for `Send`: `send`, `recv` and the waits may run concurrently on one socket.
unsafe impl Sync for McastSocket<'_> {}

impl<'net> McastSocket<'net> {
    /// `make_send_sock()`: a socket sending to `group`:`port` out of the device `ifname`
    /// (`ENODEV` if `net` has none), with TTL (IPv6: hop limit) `ttl`, multicast loop off,
    /// no PMTU discovery (fragments allowed), `SO_SNDBUF` `sock_size` if positive (C:
    /// `sync_sock_size`), bound (IPv4) to the device's address and connected. Process
    /// context; not under RTNL.
    pub(crate) fn sender(
        net: &'net Net,
        group: McastGroup,
        port: u16,
        ifname: &[u8],
        ttl: u8,
        sock_size: i32,
    ) -> Result<Self> {
        let name = IfName::new(ifname)?;
        let mut sock: *mut bindings::socket = core::ptr::null_mut();
        // SAFETY: `net` is alive (type invariant of `Net`); `group` has the bytes of its
        // family; `name` is NUL-terminated; `sock` is written only on success.
        to_result(unsafe {
            bindings::ipvs_rs_sync_send_sock(
                net.as_ptr(),
                group.af(),
                group.bytes().as_ptr().cast(),
                port,
                name.as_ptr(),
                ttl,
                sock_size,
                &mut sock,
            )
        })?;
        Self::own(sock)
    }

    /// `make_receive_sock()`: a socket bound to the device `ifname` (`ENODEV` if `net` has
    /// none) and to `group`:`port`, with `SO_REUSEADDR`, `SO_RCVBUF` `sock_size` if positive,
    /// member of `group` on the device. Process context; not under RTNL.
    pub(crate) fn receiver(
        net: &'net Net,
        group: McastGroup,
        port: u16,
        ifname: &[u8],
        sock_size: i32,
    ) -> Result<Self> {
        let name = IfName::new(ifname)?;
        let mut sock: *mut bindings::socket = core::ptr::null_mut();
        // SAFETY: as in `sender`.
        to_result(unsafe {
            bindings::ipvs_rs_sync_recv_sock(
                net.as_ptr(),
                group.af(),
                group.bytes().as_ptr().cast(),
                port,
                name.as_ptr(),
                sock_size,
                &mut sock,
            )
        })?;
        Self::own(sock)
    }

    /// The socket a constructor helper returned with 0.
    fn own(sock: *mut bindings::socket) -> Result<Self> {
        // A helper that returned 0 wrote the socket; null would be its bug.
        let sock = NonNull::new(sock).ok_or(EINVAL)?;
        // INVARIANT: made by a constructor helper in the namespace borrowed for `'net`, and
        // owned by nobody else.
        Ok(McastSocket {
            sock,
            _net: PhantomData,
        })
    }

    /// `ip_vs_send_async()`: send `buf` as one datagram without blocking. The bytes sent,
    /// `EAGAIN` when the send buffer is full (wait with [`McastSocket::wait_writable`]), or
    /// another error (C's master logs it and drops the message).
    pub(crate) fn send(&self, buf: &[u8]) -> Result<usize> {
        // SAFETY: `sock` is a live socket (type invariant); `buf` is readable for its length
        // for the duration of the call.
        len_or_errno(unsafe {
            bindings::ipvs_rs_sync_send(self.sock.as_ptr(), buf.as_ptr().cast(), buf.len())
        })
    }

    /// `ip_vs_receive()`: one datagram into `buf` without blocking (a longer one is
    /// truncated, as in C). Its length, `EAGAIN` when none is queued, or another error.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: `sock` is a live socket (type invariant); `buf` is writable for its length
        // for the duration of the call.
        len_or_errno(unsafe {
            bindings::ipvs_rs_sync_recv(self.sock.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        })
    }

    /// `sync_thread_backup()`'s wait: sleep (interruptibly, not counted in the load) until a
    /// datagram is queued, the calling sync thread is asked to stop, or `timeout` jiffies
    /// passed. Whether a datagram is queued. Process context.
    pub(crate) fn wait_readable(&self, timeout: u64) -> bool {
        // SAFETY: `sock` is a live socket (type invariant); process context (caller).
        unsafe { bindings::ipvs_rs_sync_wait_readable(self.sock.as_ptr(), jiffies(timeout)) }
    }

    /// `sync_thread_master()`'s wait after `EAGAIN`: until the socket is writeable, the
    /// calling sync thread is asked to stop, or `timeout` jiffies passed. Whether it is
    /// writeable. Process context.
    pub(crate) fn wait_writable(&self, timeout: u64) -> bool {
        // SAFETY: as in `wait_readable`.
        unsafe { bindings::ipvs_rs_sync_wait_writable(self.sock.as_ptr(), jiffies(timeout)) }
    }
}

impl Drop for McastSocket<'_> {
    fn drop(&mut self) {
        // SAFETY: `sock` is live and ours (type invariant), released once, here, while its
        // namespace is alive (`'net`); `sock_release()` takes RTNL, which the lock order
        // allows (nothing here runs under RTNL).
        unsafe { bindings::ipvs_rs_sync_sock_release(self.sock.as_ptr()) };
    }
}

/// A timeout in jiffies as the C side takes it (longer ones are clamped there to "forever").
fn jiffies(timeout: u64) -> kernel::ffi::c_ulong {
    kernel::ffi::c_ulong::try_from(timeout).unwrap_or(kernel::ffi::c_ulong::MAX)
}

/// The role of a sync daemon (C: `IP_VS_STATE_MASTER`, `IP_VS_STATE_BACKUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncRole {
    /// Sends the connections of this director (`ipvs-m:<gen>:<id>`, [`McastSocket::sender`]).
    Master,
    /// Receives another director's (`ipvs-b:<gen>:<id>`, [`McastSocket::receiver`]).
    Backup,
}

/// What [`SyncThreads::start`] needs of a daemon's configuration (C: `struct
/// ipvs_sync_daemon_cfg`, after `start_sync_thread()` filled in its defaults).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncConfig<'a> {
    /// `mcast_group` (its family is `mcast_af`).
    pub(crate) group: McastGroup,
    /// `mcast_port`: thread `id` uses `port + id` (C: `get_mcast_sockaddr()`).
    pub(crate) port: u16,
    /// `mcast_ifn`, without its NUL.
    pub(crate) ifname: &'a [u8],
    /// `mcast_ttl` (the master's sockets).
    pub(crate) ttl: u8,
    /// `sync_sock_size` (`SO_SNDBUF` of the master's sockets, `SO_RCVBUF` of the backup's),
    /// applied if positive.
    pub(crate) sock_size: i32,
    /// How many threads: 1 to [`SYNC_PORTS_MAX`] (C: `threads_mask + 1`, from `sync_ports`).
    pub(crate) threads: usize,
}

/// One running sync thread, as its body sees it.
///
/// # Invariants
///
/// Lives in a [`ThreadRec`] of a started [`SyncThreads`] until that thread ended.
pub(crate) struct SyncThread {
    role: SyncRole,
    id: u32,
    // Made in the set's namespace, which outlives the set's threads and sockets (type
    // invariant of `Inner`); borrowed out only for as long as the thread is.
    sock: McastSocket<'static>,
}

impl SyncThread {
    /// The thread's role.
    pub(crate) fn role(&self) -> SyncRole {
        self.role
    }

    /// The thread's id: 0 to the configured count - 1 (C: `tinfo->id`, the master's queue).
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The thread's own socket (a sender for masters, a receiver for backups).
    pub(crate) fn socket(&self) -> &McastSocket<'_> {
        &self.sock
    }

    /// Whether the thread was asked to stop (`kthread_should_stop()`): the body returns then.
    pub(crate) fn should_stop(&self) -> bool {
        // SAFETY: no precondition (false outside a kthread).
        unsafe { bindings::ipvs_rs_sync_should_stop() }
    }

    /// Sleep `timeout` jiffies (interruptibly, as C's master between checks of its queue)
    /// unless `ready()` (C's master: `sb_dequeue()` finds a buffer) or the thread is asked to
    /// stop; [`SyncThreads::wake_master`] ends a master's sleep early. `ready` runs after the
    /// task was marked sleeping, so a wake that follows a change `ready` would see is not
    /// lost: whoever queues work for master `id` makes it visible to `ready`, then wakes `id`.
    /// `ready` must not sleep (a spinlock is fine, a mutex is not). Process context.
    pub(crate) fn sleep_unless(&self, timeout: u64, ready: impl FnOnce() -> bool) {
        // SAFETY: called by the thread's body (process context); paired with the finish
        // below, which sets the task running again.
        unsafe { bindings::ipvs_rs_sync_sleep_prepare() };
        let sleep = !ready();
        // SAFETY: after the prepare above, in the same task.
        unsafe { bindings::ipvs_rs_sync_sleep_finish(jiffies(timeout), sleep) };
    }
}

/// A type holding a [`SyncThreads<Self>`] field: implement with
/// [`impl_has_sync_threads!`](crate::impl_has_sync_threads), never by hand.
///
/// # Safety
///
/// `sync_threads` returns a field of `self` (not of another object).
pub(crate) unsafe trait HasSyncThreads: Sized {
    /// The field.
    fn sync_threads(&self) -> &SyncThreads<Self>;
}

/// Implement [`HasSyncThreads`] for `$t` whose field `$field` is a `SyncThreads<$t>`.
///
/// ```ignore
/// impl_has_sync_threads!(NetState, sync);
/// ```
#[macro_export]
macro_rules! impl_has_sync_threads {
    ($t:ty, $field:ident) => {
        // SAFETY: `sync_threads` returns the field `$field` of `self`.
        unsafe impl $crate::glue::syncsock::HasSyncThreads for $t {
            fn sync_threads(&self) -> &$crate::glue::syncsock::SyncThreads<$t> {
                &self.$field
            }
        }
    };
}

pub(crate) use impl_has_sync_threads;

/// What the sync threads of a [`SyncThreads<Self>`] do.
pub(crate) trait SyncDaemon: HasSyncThreads + Sync + 'static {
    /// The body of `thread` (C: `sync_thread_master()` / `sync_thread_backup()`): process
    /// context, may sleep; loops until [`SyncThread::should_stop`], then returns. It must
    /// not start or stop threads of this set.
    fn run(this: &Self, thread: &SyncThread);
}

/// What one thread gets: its state and the `T` it works for.
///
/// # Invariants
///
/// `owner` is the `T` whose set holds this record; it outlives the record (the set is a
/// field of it and is stopped before it is dropped).
struct ThreadRec<T> {
    owner: *const T,
    thread: SyncThread,
}

/// A started sync thread (a task reference): dropping it stops the thread and waits for it
/// to end.
///
/// # Invariants
///
/// `task` is a kthread started by `ipvs_rs_sync_thread_run()`, with a reference we own.
struct Task(NonNull<bindings::task_struct>);

impl Task {
    /// Start a thread running `T::run` on `rec`.
    ///
    /// # Safety
    ///
    /// `rec` stays alive, in place and unchanged until the returned `Task` is dropped.
    unsafe fn run<T: SyncDaemon>(rec: *const ThreadRec<T>, gen: u32, id: u32) -> Result<Self> {
        // SAFETY: `rec` is live (caller).
        let backup = unsafe { (*rec).thread.role } == SyncRole::Backup;
        let mut task: *mut bindings::task_struct = core::ptr::null_mut();
        // SAFETY: `rec` is live until the thread is stopped (caller), which `Drop` does
        // before the `Task` goes; `thread_fn::<T>` takes a `ThreadRec<T>`.
        to_result(unsafe {
            bindings::ipvs_rs_sync_thread_run(
                Some(thread_fn::<T>),
                rec.cast_mut().cast(),
                backup,
                gen,
                id,
                &mut task,
            )
        })?;
        let task = NonNull::new(task).ok_or(EINVAL)?;
        // INVARIANT: started by the helper, which took a reference for us.
        Ok(Task(task))
    }

    fn as_ptr(&self) -> *mut bindings::task_struct {
        self.0.as_ptr()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: a started kthread we hold a reference to (type invariant), stopped once;
        // process context (start and stop run there).
        unsafe { bindings::ipvs_rs_sync_thread_stop(self.0.as_ptr()) };
    }
}

// SAFETY: a task reference may be dropped (the thread stopped) from any thread.
unsafe impl Send for Task {}

/// The thread's body: `T::run` on its record.
///
/// # Safety
///
/// `data` is a `ThreadRec<T>` alive until the thread is stopped.
unsafe extern "C" fn thread_fn<T: SyncDaemon>(data: *mut c_void) -> kernel::ffi::c_int {
    // SAFETY: per the function's contract.
    let rec = unsafe { &*data.cast_const().cast::<ThreadRec<T>>() };
    // SAFETY: the owner outlives its set's records (type invariant of `ThreadRec`).
    let owner = unsafe { &*rec.owner };
    T::run(owner, &rec.thread);
    0
}

/// The threads of one role.
///
/// # Invariants
///
/// Task `i` runs on record `i` (or there are fewer tasks: a start that failed). `tasks` is
/// declared first, so that dropping stops the threads before their records (and sockets) go.
struct RoleThreads<T> {
    tasks: KVec<Task>,
    recs: KVec<KBox<ThreadRec<T>>>,
}

impl<T> RoleThreads<T> {
    const fn new() -> Self {
        RoleThreads {
            tasks: KVec::new(),
            recs: KVec::new(),
        }
    }

    /// Stop the threads (waiting for them) and hand back their records (whose sockets the
    /// caller releases, as C, outside the mutex).
    fn stop(&mut self) -> KVec<KBox<ThreadRec<T>>> {
        // Each `Task`'s drop stops its thread (C goes from the highest id down; the order
        // does not matter, the threads share nothing but the owner).
        drop(core::mem::take(&mut self.tasks));
        core::mem::take(&mut self.recs)
    }
}

/// The set's state, under its mutex.
///
/// # Invariants
///
/// While `ready`, `net` is the live namespace of the state holding the set; the glue stops
/// every thread and releases every socket (clearing `ready`) before that namespace's exit
/// completes. Threads and sockets exist only while `ready` (or until such a stop).
struct Inner<T> {
    ready: bool,
    net: *mut bindings::net,
    /// The namespace's number in thread names (C: `ipvs->gen`).
    gen: u32,
    master: RoleThreads<T>,
    backup: RoleThreads<T>,
}

// SAFETY: `net` and the records' owners are only dereferenced under the invariants of
// `Inner` and `ThreadRec`, valid from any thread; tasks and sockets may be stopped and
// released from any thread.
unsafe impl<T> Send for Inner<T> {}

impl<T> Inner<T> {
    fn role(&mut self, role: SyncRole) -> &mut RoleThreads<T> {
        match role {
            SyncRole::Master => &mut self.master,
            SyncRole::Backup => &mut self.backup,
        }
    }
}

/// The numbers of namespaces whose sets were readied (C: `ipvs_netns_cnt` for `ipvs->gen`).
static GEN: AtomicU32 = AtomicU32::new(0);

/// An empty slot of [`SyncThreads`]' `masters`, as the operand of an array repeat (each
/// element a fresh atomic; rustc 1.78 has no `[const { .. }; N]`).
#[allow(clippy::declare_interior_mutable_const)]
const NO_TASK: AtomicPtr<bindings::task_struct> = AtomicPtr::new(core::ptr::null_mut());

/// The sync threads of a `T`: none, or up to [`SYNC_PORTS_MAX`] per role.
///
/// # Invariants
///
/// A non-null `masters[id]` is the task of the running master thread `id`, whose [`Task`]
/// (in `inner`) is dropped only after the slot was cleared and an RCU grace period passed.
#[pin_data]
pub(crate) struct SyncThreads<T> {
    /// C: `ipvs->sync_mutex` and what it guards (`master_tinfo`, `backup_tinfo`).
    #[pin]
    inner: Mutex<Inner<T>>,
    /// The master threads' tasks, for [`SyncThreads::wake_master`] in any context, read
    /// under RCU (C: `ipvs->master_tinfo[id].task`, read under `ipvs->sync_lock`).
    masters: [AtomicPtr<bindings::task_struct>; SYNC_PORTS_MAX],
}

impl<T> SyncThreads<T> {
    /// A set that is not ready: [`SyncThreads::start`] fails until the per-namespace glue
    /// readies it.
    pub(crate) fn new() -> impl PinInit<Self> {
        // INVARIANT: not ready, no thread.
        pin_init!(Self {
            inner <- kernel::new_mutex!(
                Inner {
                    ready: false,
                    net: core::ptr::null_mut(),
                    gen: 0,
                    master: RoleThreads::new(),
                    backup: RoleThreads::new(),
                },
                "ipvs_rs_sync_mutex"
            ),
            masters: [NO_TASK; SYNC_PORTS_MAX],
        })
    }

    /// A handle for the per-namespace glue's list of sets to stop.
    pub(super) fn handle(&self) -> SyncThreadsHandle {
        SyncThreadsHandle {
            set: core::ptr::from_ref(self).cast(),
            stop_all: Self::stop_all_raw,
        }
    }

    /// Mark the set ready, its threads and sockets to be in `net`.
    ///
    /// # Safety
    ///
    /// `self` is the field of a `T` of the namespace `net` that stays in place and alive
    /// until [`SyncThreadsHandle::stop_all`] returned for this set's handle, which happens
    /// before `net`'s exit completes.
    pub(super) unsafe fn make_ready(&self, net: &Net) {
        let mut inner = self.inner.lock();
        // INVARIANT: per the function's contract.
        inner.ready = true;
        inner.net = net.as_ptr();
        inner.gen = GEN.fetch_add(1, Ordering::Relaxed);
    }

    /// Stop every thread and release every socket; no start from now on.
    fn stop_all(&self) {
        let (master, backup) = {
            let mut inner = self.inner.lock();
            inner.ready = false;
            self.unpublish_masters(&inner);
            (inner.master.stop(), inner.backup.stop())
        };
        // C: "No more mutexes, release socks".
        drop(master);
        drop(backup);
    }

    /// Clear `masters` (no new wake reaches the tasks) and wait for the wakes under way, before
    /// the master tasks may be stopped and released (type invariant).
    fn unpublish_masters(&self, inner: &Inner<T>) {
        if inner.master.tasks.is_empty() {
            return;
        }
        for m in self.masters.iter() {
            m.store(core::ptr::null_mut(), Ordering::Relaxed);
        }
        rcu::synchronize();
    }

    /// [`SyncThreads::stop_all`] for a handle.
    ///
    /// # Safety
    ///
    /// `set` is a live `SyncThreads<T>`.
    unsafe fn stop_all_raw(set: *const ()) {
        // SAFETY: per the function's contract.
        unsafe { &*set.cast::<Self>() }.stop_all();
    }
}

impl<T: SyncDaemon> SyncThreads<T> {
    /// `start_sync_thread()`'s threads: `cfg.threads` threads of `role` for `owner`, thread
    /// `id` with its own socket ([`McastSocket::sender`] for masters,
    /// [`McastSocket::receiver`] for backups) on `cfg.port + id`, named
    /// `ipvs-m:<gen>:<id>` / `ipvs-b:<gen>:<id>`, each running [`SyncDaemon::run`].
    /// `EEXIST` if the role runs already, `EINVAL` for a count out of 1 to
    /// [`SYNC_PORTS_MAX`], `EBUSY` if the set is not ready (before registration, after the
    /// stop), or the socket's or thread's error (`ENODEV`: no such device), after stopping
    /// what was started. Process context; not under RTNL.
    pub(crate) fn start(owner: &T, role: SyncRole, cfg: &SyncConfig<'_>) -> Result {
        if cfg.threads == 0 || cfg.threads > SYNC_PORTS_MAX {
            return Err(EINVAL);
        }
        let set = owner.sync_threads();
        let mut inner = set.inner.lock();
        if !inner.ready {
            return Err(EBUSY);
        }
        // SAFETY: ready, so `net` is the live namespace of `owner`'s state, and every socket
        // made here is released by a stop (or below) before that namespace's exit completes
        // (type invariant of `Inner`): the sockets do not outlive it.
        let net: &'static Net = unsafe { Net::from_raw(inner.net) };
        let gen = inner.gen;
        if !inner.role(role).recs.is_empty() {
            return Err(EEXIST);
        }
        // Dropped on error (under the mutex: stopping the threads, then releasing sockets,
        // which the lock order allows).
        let mut new = RoleThreads::new();
        new.tasks.reserve(cfg.threads, GFP_KERNEL)?;
        new.recs.reserve(cfg.threads, GFP_KERNEL)?;
        for id in 0..cfg.threads {
            // `id < SYNC_PORTS_MAX`: it fits both.
            let (id, port_off) = (id as u32, id as u16);
            // C: `htons(c->mcast_port + id)`, wrapping in 16 bits.
            let port = cfg.port.wrapping_add(port_off);
            let sock = match role {
                SyncRole::Master => {
                    McastSocket::sender(net, cfg.group, port, cfg.ifname, cfg.ttl, cfg.sock_size)?
                }
                SyncRole::Backup => {
                    McastSocket::receiver(net, cfg.group, port, cfg.ifname, cfg.sock_size)?
                }
            };
            // INVARIANT: `owner` holds this set (`HasSyncThreads`), which stops the thread
            // before `owner` is dropped.
            let rec = KBox::new(
                ThreadRec {
                    owner: core::ptr::from_ref(owner),
                    thread: SyncThread { role, id, sock },
                },
                GFP_KERNEL,
            )?;
            let ptr: *const ThreadRec<T> = &*rec;
            new.recs.push(rec, GFP_KERNEL)?;
            // SAFETY: the record is boxed (it does not move) and is dropped only after the
            // task (`RoleThreads`' invariant: tasks go first), and never changed meanwhile.
            let task = unsafe { Task::run::<T>(ptr, gen, id)? };
            new.tasks.push(task, GFP_KERNEL)?;
        }
        if role == SyncRole::Master {
            for (slot, task) in set.masters.iter().zip(new.tasks.iter()) {
                // INVARIANT: the task of master `id`, stopped only after `unpublish_masters`.
                slot.store(task.as_ptr(), Ordering::Release);
            }
        }
        // INVARIANT: task `i` runs on record `i`; the set is ready.
        *inner.role(role) = new;
        Ok(())
    }

    /// `stop_sync_thread()`: stop `role`'s threads, waiting for them to end, then release
    /// their sockets. `ESRCH` if none runs. Process context; not under RTNL; not from a
    /// thread of this set.
    pub(crate) fn stop(owner: &T, role: SyncRole) -> Result {
        let set = owner.sync_threads();
        let recs = {
            let mut inner = set.inner.lock();
            if inner.role(role).recs.is_empty() {
                return Err(ESRCH);
            }
            if role == SyncRole::Master {
                set.unpublish_masters(&inner);
            }
            inner.role(role).stop()
        };
        // C: "No more mutexes, release socks".
        drop(recs);
        Ok(())
    }

    /// Wake master thread `id` from [`SyncThread::sleep_unless`] (C: the
    /// `wake_up_process()` of `master_wakeup_work_handler()`); nothing if it does not run.
    /// Any context (the packet path included).
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // the KUnit suite's; the masters poll
    pub(crate) fn wake_master(owner: &T, id: u32) {
        let set = owner.sync_threads();
        let Some(slot) = usize::try_from(id).ok().and_then(|i| set.masters.get(i)) else {
            return;
        };
        let _rcu = RcuReadGuard::new();
        let task = slot.load(Ordering::Acquire);
        if !task.is_null() {
            // SAFETY: a task read from `masters` inside this read-side section stays
            // referenced until a grace period after it was cleared (type invariant).
            unsafe { bindings::ipvs_rs_sync_wake(task) };
        }
    }

    /// How many threads of `role` run (0: the daemon is stopped; C: `ipvs->sync_state`).
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // the KUnit suite's
    pub(crate) fn running(owner: &T, role: SyncRole) -> usize {
        owner.sync_threads().inner.lock().role(role).recs.len()
    }
}

/// A ready [`SyncThreads`] as the per-namespace glue lists it, to stop it before the state
/// holding it is dropped.
///
/// # Invariants
///
/// `set` is the `SyncThreads<T>` that `stop_all` was taken from (`stop_all_raw` of that `T`).
pub(super) struct SyncThreadsHandle {
    set: *const (),
    stop_all: unsafe fn(*const ()),
}

impl SyncThreadsHandle {
    /// Whether this is the handle of `set`.
    pub(super) fn is<T>(&self, set: &SyncThreads<T>) -> bool {
        core::ptr::eq(self.set, core::ptr::from_ref(set).cast())
    }

    /// Clear the set's ready flag (no start from now on), stop its threads, waiting for them
    /// to end, and release their sockets.
    ///
    /// # Safety
    ///
    /// The set is still in place and alive; process context, not under RTNL.
    pub(super) unsafe fn stop_all(&self) {
        // SAFETY: `stop_all` is the set's own (type invariant), which is live (caller).
        unsafe { (self.stop_all)(self.set) };
    }
}
