// SPDX-License-Identifier: GPL-2.0
//! Read-only `/proc/net/*` files of a network namespace.
//!
//! C headers: include/linux/proc_fs.h, include/linux/seq_file.h
//!
//! Small files are `proc_create_net_single()` entries whose show callback renders the whole
//! text with `core::fmt` into the seq_file ([`SeqWriter`]); seq_file retries with a larger
//! buffer when the text does not fit. Tables (the connection entries, which may be
//! millions) are `proc_create_net()` entries iterated by position ([`SeqTable`]), so a
//! read never holds more than a user buffer's worth and never walks the whole table under
//! one RCU read-side section.

use super::bindings;
use super::pernet::Net;
use super::rcu::RcuReadGuard;
use core::fmt;
use core::ptr;

/// A show callback as the kernel calls it.
pub(crate) type ShowFn =
    unsafe extern "C" fn(*mut bindings::seq_file, *mut core::ffi::c_void) -> kernel::ffi::c_int;

/// `fmt::Write` into a seq_file being shown.
///
/// # Invariants
///
/// `seq` is the seq_file of a running show callback.
pub(crate) struct SeqWriter {
    seq: *mut bindings::seq_file,
}

impl SeqWriter {
    /// # Safety
    ///
    /// `seq` is the argument of a running show callback, and the writer does not outlive it.
    pub(crate) unsafe fn new(seq: *mut bindings::seq_file) -> (SeqWriter, &'static Net) {
        // SAFETY: a single-net proc file's seq_file holds a reference on its namespace while
        // open; `'static` is narrowed by the caller to the callback (documented contract).
        let net = unsafe { Net::from_raw(bindings::ipvs_rs_seq_net(seq)) };
        // INVARIANT: guaranteed by the caller.
        (SeqWriter { seq }, net)
    }
}

impl fmt::Write for SeqWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `seq` is valid during the show callback (type invariant); `s` is readable.
        unsafe { bindings::ipvs_rs_seq_write(self.seq, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// A `/proc/net` file iterated by position (`seq_operations`, C: `proc_create_net()`), for
/// tables too large to render in one show call: seq_file asks for items one at a time and
/// resumes at a position after each user read.
///
/// The callbacks run inside one RCU read-side section, from `start` to `stop` (C:
/// `ip_vs_conn_seq_start()` `__acquires(RCU)`); `seek`/`seek_next` may leave it for a moment
/// between items (`cond_resched_rcu()`), so an item is used only until the next of them.
pub(crate) trait SeqTable: Sized {
    /// Where a reader is, kept between reads; the default is the start of the table.
    type Cursor: Copy + Default;
    /// What one line shows.
    type Item: 'static;
    /// The first line.
    const HEADER: &'static str;

    /// The item at `cur`, or the first after it (moving `cur` there); `None` at the end.
    /// Runs inside `rcu`'s read-side section, which it may leave for a moment
    /// ([`RcuReadGuard::cond_resched`]); the item is valid while the section is held.
    fn seek<'g>(
        rcu: &'g mut RcuReadGuard,
        net: &Net,
        cur: &mut Self::Cursor,
    ) -> Option<&'g Self::Item>;

    /// The item after `item`, which `seek` or `seek_next` returned at `cur` in the same
    /// read-side section.
    fn seek_next<'g>(
        rcu: &'g mut RcuReadGuard,
        net: &Net,
        cur: &mut Self::Cursor,
        item: &Self::Item,
    ) -> Option<&'g Self::Item>;

    /// Write `item`'s line.
    fn show(w: &mut SeqWriter, net: &Net, item: &Self::Item);

    /// The operations the kernel calls.
    const OPS: bindings::seq_operations = bindings::seq_operations {
        start: Some(seq_start::<Self>),
        stop: Some(seq_stop),
        next: Some(seq_next::<Self>),
        show: Some(seq_show::<Self>),
    };
}

/// The per-reader state of a [`SeqTable`] file (zeroed at open).
///
/// # Invariants
///
/// `cursor` is initialised whenever `pos` is not 0: it is where the item at position `pos`
/// was found.
#[repr(C)]
struct SeqState<C> {
    pos: i64,
    cursor: C,
}

/// `SEQ_START_TOKEN`: position 0, the header.
const SEQ_START_TOKEN: *mut core::ffi::c_void = 1 as *mut core::ffi::c_void;

/// The state and namespace of a [`SeqTable`] reader.
///
/// # Safety
///
/// `seq` is the seq_file of a file created with `T`'s operations ([`seq_kind`]),
/// inside one of its callbacks; the references do not outlive it.
unsafe fn seq_parts<'a, T: SeqTable>(
    seq: *mut bindings::seq_file,
) -> (&'a mut SeqState<T::Cursor>, &'a Net) {
    // SAFETY: the file was created with `size_of::<SeqState<T::Cursor>>()` bytes of state,
    // pointer-aligned and owned by this reader (seq_file serialises its callbacks); an
    // open file holds a reference on its namespace.
    unsafe {
        (
            &mut *bindings::ipvs_rs_seq_state(seq).cast::<SeqState<T::Cursor>>(),
            Net::from_raw(bindings::ipvs_rs_seq_file_net(seq)),
        )
    }
}

fn item_ptr<I>(item: &I) -> *mut core::ffi::c_void {
    ptr::from_ref(item).cast_mut().cast()
}

/// `seq_operations.start` of a [`SeqTable`] file: enters the RCU read-side section the walk
/// runs in and seeks to `*pos`.
///
/// # Safety
///
/// Called by seq_file only, with a `seq_file` whose private data this module set up for `T`
/// and its position.
unsafe extern "C" fn seq_start<T: SeqTable>(
    seq: *mut bindings::seq_file,
    pos: *mut bindings::loff_t,
) -> *mut core::ffi::c_void {
    // Released by `seq_stop`, which seq_file calls after every `start`.
    // SAFETY: plain call; process context.
    unsafe { bindings::ipvs_rs_rcu_read_lock() };
    // SAFETY: seq_file passes its position.
    let want = unsafe { *pos };
    if want == 0 {
        return SEQ_START_TOKEN;
    }
    // SAFETY: a callback of a `T` file.
    let (st, net) = unsafe { seq_parts::<T>(seq) };
    // SAFETY: inside the read-side section taken above, held until `seq_stop`, after the
    // guard and the items found under it are gone (they go back to seq_file as pointers,
    // which it uses only until `seq_stop`).
    let mut rcu = unsafe { RcuReadGuard::assume_held() };
    let item = if st.pos == want {
        // Where the previous read stopped: walk one bucket, not the table.
        T::seek(&mut rcu, net, &mut st.cursor).map(item_ptr)
    } else {
        // A seek in the file: count from the top, as C does.
        st.cursor = T::Cursor::default();
        let mut item = T::seek(&mut rcu, net, &mut st.cursor).map(item_ptr);
        let mut at = 1;
        while at < want {
            let Some(i) = item else { break };
            // SAFETY: `i` was returned in this section, which is still held.
            let i = unsafe { &*i.cast::<T::Item>() };
            item = T::seek_next(&mut rcu, net, &mut st.cursor, i).map(item_ptr);
            at += 1;
        }
        item
    };
    // INVARIANT: `cursor` is where the item at `want` was found.
    st.pos = if item.is_some() { want } else { 0 };
    item.unwrap_or(ptr::null_mut())
}

/// `seq_operations.next`: the item after `v`, inside the section `seq_start` entered.
///
/// # Safety
///
/// Called by seq_file only, between `seq_start` and `seq_stop` of a `T` file, with the item
/// the previous call returned (or `SEQ_START_TOKEN`) and the position.
unsafe extern "C" fn seq_next<T: SeqTable>(
    seq: *mut bindings::seq_file,
    v: *mut core::ffi::c_void,
    pos: *mut bindings::loff_t,
) -> *mut core::ffi::c_void {
    // SAFETY: seq_file passes its position.
    let at = unsafe {
        *pos = (*pos).wrapping_add(1);
        *pos
    };
    // SAFETY: a callback of a `T` file.
    let (st, net) = unsafe { seq_parts::<T>(seq) };
    // SAFETY: between `seq_start` and `seq_stop`, inside the read-side section `seq_start`
    // took (see there).
    let mut rcu = unsafe { RcuReadGuard::assume_held() };
    let item = if v == SEQ_START_TOKEN {
        st.cursor = T::Cursor::default();
        T::seek(&mut rcu, net, &mut st.cursor).map(item_ptr)
    } else {
        // SAFETY: `v` is the item `seq_start` or `seq_next` returned in this section.
        let prev = unsafe { &*v.cast::<T::Item>() };
        T::seek_next(&mut rcu, net, &mut st.cursor, prev).map(item_ptr)
    };
    // INVARIANT: `cursor` is where the item at `at` was found.
    st.pos = if item.is_some() { at } else { 0 };
    item.unwrap_or(ptr::null_mut())
}

/// `seq_operations.stop`: leaves the RCU read-side section `seq_start` entered.
///
/// # Safety
///
/// Called by seq_file only, once after each `seq_start`.
unsafe extern "C" fn seq_stop(_seq: *mut bindings::seq_file, _v: *mut core::ffi::c_void) {
    // SAFETY: pairs with the lock in `seq_start`.
    unsafe { bindings::ipvs_rs_rcu_read_unlock() };
}

/// `seq_operations.show`: writes the line of item `v` (or the header).
///
/// # Safety
///
/// Called by seq_file only, between `seq_start` and `seq_stop` of a `T` file, with an item
/// `seq_start`/`seq_next` returned or `SEQ_START_TOKEN`.
unsafe extern "C" fn seq_show<T: SeqTable>(
    seq: *mut bindings::seq_file,
    v: *mut core::ffi::c_void,
) -> kernel::ffi::c_int {
    // SAFETY: a callback of a `T` file.
    let (_, net) = unsafe { seq_parts::<T>(seq) };
    // INVARIANT: `seq` is the seq_file of a running show callback.
    let mut w = SeqWriter { seq };
    if v == SEQ_START_TOKEN {
        let _ = fmt::Write::write_str(&mut w, T::HEADER);
    } else {
        // SAFETY: `v` is the item `seq_start` or `seq_next` returned in this section.
        T::show(&mut w, net, unsafe { &*v.cast::<T::Item>() });
    }
    0
}

/// How one `/proc/net` file is produced.
#[derive(Clone, Copy)]
pub(crate) enum ProcKind {
    /// Rendered whole by one show call (small files).
    Single(ShowFn),
    /// Iterated by position: [`SeqTable::OPS`] and the size of its per-reader state.
    Seq(&'static bindings::seq_operations, usize),
}

/// The [`ProcKind`] of a [`SeqTable`].
pub(crate) fn seq_kind<T: SeqTable>() -> ProcKind {
    ProcKind::Seq(&T::OPS, core::mem::size_of::<SeqState<T::Cursor>>())
}
