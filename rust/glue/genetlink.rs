// SPDX-License-Identifier: GPL-2.0
//! The IPVS generic netlink family: registration, requests, replies and dumps.
//!
//! C headers: include/net/genetlink.h, include/net/netlink.h; the family itself (policies and
//! op table, as data) is in rust/ipvs_genl.c.
//!
//! The kernel validates every request against the C IPVS policies before we see it, so
//! malformed messages get exactly the errnos and extack messages C IPVS gives. Handlers see a
//! [`Request`] or a [`Dump`] and write reply attributes into plain byte buffers (the skb's
//! tailroom) with the core's attribute emitter; nothing else here knows about IPVS.

use super::bindings;
use super::pernet::Net;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::prelude::*;

/// Nested attribute sets with a C policy (`enum ipvs_rs_nest`).
#[derive(Clone, Copy)]
pub(crate) enum Nest {
    Service,
    Dest,
    Daemon,
}

/// The registered family; unregistered on drop.
pub(crate) struct Family(());

impl Family {
    pub(crate) fn register() -> Result<Family> {
        // SAFETY: registers the static family of rust/ipvs_genl.c, at most once (one `Family`
        // per module instance, created in module init).
        to_result(unsafe { bindings::ipvs_rs_genl_register() })?;
        Ok(Family(()))
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // SAFETY: registered in `register()`; waits for running handlers to finish.
        unsafe { bindings::ipvs_rs_genl_unregister() };
    }
}

/// One attribute of a request, validated by the kernel against the family policy.
#[derive(Clone, Copy)]
pub(crate) struct Attr<'a> {
    nla: NonNull<bindings::nlattr>,
    _req: PhantomData<&'a ()>,
}

impl<'a> Attr<'a> {
    /// # Safety
    ///
    /// `nla` is null or points to an attribute, validated for its length, that lives for `'a`.
    unsafe fn from_raw(nla: *const bindings::nlattr) -> Option<Attr<'a>> {
        NonNull::new(nla.cast_mut()).map(|nla| Attr {
            nla,
            _req: PhantomData,
        })
    }

    /// The attribute's payload.
    pub(crate) fn payload(&self) -> &'a [u8] {
        let mut len: kernel::ffi::c_int = 0;
        // SAFETY: `nla` is a valid attribute for 'a (type invariant via `from_raw`).
        let data = unsafe { bindings::ipvs_rs_nla_payload(self.nla.as_ptr(), &mut len) };
        // SAFETY: the kernel validated that the payload of `len` bytes lies within the message,
        // which outlives 'a.
        unsafe { core::slice::from_raw_parts(data.cast::<u8>(), len.max(0) as usize) }
    }

    /// The whole attribute, header included (`nla_len` bytes).
    pub(crate) fn bytes(&self) -> &'a [u8] {
        // SAFETY: `nla` is valid; the kernel validated that `nla_len` bytes lie within the
        // message, which outlives 'a.
        unsafe {
            let len = (*self.nla.as_ptr()).nla_len;
            core::slice::from_raw_parts(self.nla.as_ptr().cast::<u8>(), usize::from(len))
        }
    }

    /// Validate this nested attribute with the C policy of `set`, as C IPVS's parse functions
    /// do, and return its payload (the nested attributes) for the core to decode. `req` gets
    /// the validation message where C passes the request's extack (the daemon set only).
    pub(crate) fn nested(&self, set: Nest, req: Option<&Request<'_>>) -> Result<&'a [u8]> {
        let set = match set {
            Nest::Service => bindings::ipvs_rs_nest_IPVS_RS_NEST_SERVICE,
            Nest::Dest => bindings::ipvs_rs_nest_IPVS_RS_NEST_DEST,
            Nest::Daemon => bindings::ipvs_rs_nest_IPVS_RS_NEST_DAEMON,
        };
        let mut tb =
            [core::ptr::null::<bindings::nlattr>(); bindings::IPVS_RS_NEST_MAX as usize + 1];
        let extack = match (set, req) {
            // SAFETY: `info` is valid for the request's call (type invariant of `Request`).
            (bindings::ipvs_rs_nest_IPVS_RS_NEST_DAEMON, Some(req)) => unsafe {
                bindings::ipvs_rs_genl_info_extack(req.info)
            },
            _ => core::ptr::null_mut(),
        };
        // SAFETY: `tb` has room for every attribute index of every nested set; `nla` is valid;
        // `extack` is null or the running request's.
        to_result(unsafe {
            bindings::ipvs_rs_parse_nested(tb.as_mut_ptr(), set, self.nla.as_ptr(), extack)
        })?;
        Ok(self.payload())
    }
}

/// A `doit` request.
///
/// # Invariants
///
/// `skb` and `info` are the arguments of a running `doit` call and outlive `'a`.
pub(crate) struct Request<'a> {
    skb: *mut bindings::sk_buff,
    info: *mut bindings::genl_info,
    _call: PhantomData<&'a ()>,
}

impl<'a> Request<'a> {
    /// The namespace of the requesting socket.
    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: the request's socket holds a reference on its namespace for the call.
        unsafe { Net::from_raw(bindings::ipvs_rs_skb_net(self.skb)) }
    }

    pub(crate) fn cmd(&self) -> u8 {
        // SAFETY: `info` is valid for the call (type invariant).
        unsafe { bindings::ipvs_rs_genl_info_cmd(self.info) }
    }

    /// Top-level attribute `ty`, if present.
    pub(crate) fn attr(&self, ty: u16) -> Option<Attr<'a>> {
        // SAFETY: `info` is valid; the attribute table entries point into the request message,
        // validated by the kernel, which lives for the call.
        unsafe { Attr::from_raw(bindings::ipvs_rs_genl_info_attr(self.info, ty.into())) }
    }

    /// Send a reply message `cmd` whose attributes `fill` writes (see [`Writer`]).
    pub(crate) fn reply(&self, cmd: u8, fill: impl FnOnce(&mut [u8]) -> Result<usize>) -> Result {
        let mut hdr: *mut c_void = core::ptr::null_mut();
        // SAFETY: `info` is valid; on success `msg` is a fresh skb we own, `hdr` its header.
        let msg = unsafe { bindings::ipvs_rs_reply_start(self.info, cmd, &mut hdr) };
        let msg = NonNull::new(msg).ok_or(ENOMEM)?;
        // SAFETY: we own `msg` until it is sent or freed below.
        if let Err(e) = unsafe { fill_tail(msg.as_ptr(), fill) } {
            // SAFETY: not sent; we still own it.
            unsafe { bindings::ipvs_rs_msg_free(msg.as_ptr()) };
            return Err(e);
        }
        // SAFETY: `msg`/`hdr` form a started reply; sending consumes `msg` in all cases.
        to_result(unsafe { bindings::ipvs_rs_reply_send(msg.as_ptr(), hdr, self.info) })
    }
}

/// Write attributes with `fill` into the tailroom of `skb` and commit what it wrote.
///
/// # Safety
///
/// The caller owns `skb` (nobody else reads or writes it meanwhile).
unsafe fn fill_tail(
    skb: *mut bindings::sk_buff,
    fill: impl FnOnce(&mut [u8]) -> Result<usize>,
) -> Result {
    let mut room: kernel::ffi::c_uint = 0;
    // SAFETY: `skb` is owned by the caller; the tail pointer and tailroom describe writable
    // memory of the skb's data buffer.
    let tail = unsafe { bindings::ipvs_rs_skb_tail(skb, &mut room) };
    // SAFETY: see above; the slice ends before the caller touches the skb again.
    let buf = unsafe { core::slice::from_raw_parts_mut(tail, room as usize) };
    let used = fill(buf)?;
    if used > room as usize {
        return Err(Error::from_errno(-90 /* EMSGSIZE */));
    }
    // SAFETY: `used` bytes of tailroom were written.
    unsafe { bindings::ipvs_rs_skb_put(skb, used as _) };
    Ok(())
}

/// A `dumpit` call: fills one skb with as many messages as fit; `args` carry the position.
///
/// # Invariants
///
/// `skb` and `cb` are the arguments of a running `dumpit` call.
pub(crate) struct Dump<'a> {
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
    _call: PhantomData<&'a ()>,
}

impl<'a> Dump<'a> {
    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: the dump's socket holds a reference on its namespace for the call.
        unsafe { Net::from_raw(bindings::ipvs_rs_skb_net(self.skb)) }
    }

    pub(crate) fn cmd(&self) -> u8 {
        // SAFETY: `cb` is valid for the call (type invariant).
        unsafe { bindings::ipvs_rs_dump_cmd(self.cb) }
    }

    /// The six `cb->args` slots, kept by the kernel between calls of one dump.
    pub(crate) fn args(&mut self) -> &mut [kernel::ffi::c_long; 6] {
        // SAFETY: `cb->args` is an array of six longs owned by this dump for the call.
        unsafe { &mut *bindings::ipvs_rs_dump_args(self.cb).cast::<[kernel::ffi::c_long; 6]>() }
    }

    /// Top-level attribute `ty` of the dump request (validated with the family policy).
    pub(crate) fn attr(&self, ty: u16) -> Result<Option<Attr<'a>>> {
        let mut tb =
            [core::ptr::null::<bindings::nlattr>(); bindings::IPVS_RS_NEST_MAX as usize + 1];
        // SAFETY: `tb` has room for every command attribute; `cb` is valid.
        to_result(unsafe { bindings::ipvs_rs_dump_parse(tb.as_mut_ptr(), self.cb) })?;
        // SAFETY: the entries point into the request message, which lives for the dump.
        Ok(tb
            .get(usize::from(ty))
            .and_then(|&nla| unsafe { Attr::from_raw(nla) }))
    }

    /// Append one message `cmd` (NLM_F_MULTI) whose attributes `fill` writes. `EMSGSIZE` means
    /// the skb is full: stop, remember the position, and let the kernel call again.
    pub(crate) fn put(&mut self, cmd: u8, fill: impl FnOnce(&mut [u8]) -> Result<usize>) -> Result {
        // SAFETY: `skb`/`cb` are valid for the call.
        let hdr = unsafe { bindings::ipvs_rs_dump_start(self.skb, self.cb, cmd) };
        if hdr.is_null() {
            return Err(Error::from_errno(-90 /* EMSGSIZE */));
        }
        // SAFETY: the dump skb is ours to fill during the call.
        match unsafe { fill_tail(self.skb, fill) } {
            Ok(()) => {
                // SAFETY: `hdr` was started above on this skb.
                unsafe { bindings::ipvs_rs_dump_end(self.skb, hdr) };
                Ok(())
            }
            Err(e) => {
                // SAFETY: `hdr` was started above on this skb; cancel trims it off again.
                unsafe { bindings::ipvs_rs_dump_cancel(self.skb, hdr) };
                Err(e)
            }
        }
    }

    /// Bytes in the skb so far: what `dumpit` returns to continue (0 ends the dump).
    pub(crate) fn len(&self) -> kernel::ffi::c_int {
        // SAFETY: `skb` is valid for the call.
        unsafe { bindings::ipvs_rs_skb_len(self.skb) }
    }
}

/// Handlers of the family, implemented by the control plane; [`genl_handlers!`] connects
/// them to the C op table.
///
/// [`genl_handlers!`]: crate::genl_handlers
pub(crate) trait Handlers {
    fn doit(req: &Request<'_>) -> Result;
    /// Returns what `dumpit` returns: `dump.len()` to continue/finish, or an error.
    fn dumpit(dump: &mut Dump<'_>) -> Result<kernel::ffi::c_int>;
}

/// `doit` of the op table: run `H::doit` on the request.
///
/// # Safety
///
/// `skb` and `info` are the arguments of a running genetlink `doit` call.
pub(crate) unsafe fn doit<H: Handlers>(
    skb: *mut bindings::sk_buff,
    info: *mut bindings::genl_info,
) -> kernel::ffi::c_int {
    // INVARIANT: the caller passes the running call's skb and info.
    let req = Request {
        skb,
        info,
        _call: PhantomData,
    };
    match H::doit(&req) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `dumpit` of the op table: run `H::dumpit` on the dump.
///
/// # Safety
///
/// `skb` and `cb` are the arguments of a running genetlink `dumpit` call.
pub(crate) unsafe fn dumpit<H: Handlers>(
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
) -> kernel::ffi::c_int {
    // INVARIANT: the caller passes the running call's skb and callback state.
    let mut dump = Dump {
        skb,
        cb,
        _call: PhantomData,
    };
    match H::dumpit(&mut dump) {
        Ok(n) => n,
        Err(e) => e.to_errno(),
    }
}

/// Define the two symbols the C op table (rust/ipvs_genl.c) calls, `ipvs_rs_genl_doit` and
/// `ipvs_rs_genl_dumpit`, for the [`Handlers`] `$h`. Invoked once, by the module, which
/// knows the layer that implements the handlers (glue does not name the layers above it).
///
/// ```ignore
/// genl_handlers!(ctl::genl::Ops);
/// ```
#[macro_export]
macro_rules! genl_handlers {
    ($h:ty) => {
        /// The op table's `doit` (rust/ipvs_genl.c).
        ///
        /// # Safety
        ///
        /// Called by genetlink with the request's skb and info.
        #[no_mangle]
        unsafe extern "C" fn ipvs_rs_genl_doit(
            skb: *mut $crate::glue::bindings::sk_buff,
            info: *mut $crate::glue::bindings::genl_info,
        ) -> kernel::ffi::c_int {
            // SAFETY: genetlink calls this with a running request's skb and info.
            unsafe { $crate::glue::genetlink::doit::<$h>(skb, info) }
        }

        /// The op table's `dumpit` (rust/ipvs_genl.c).
        ///
        /// # Safety
        ///
        /// Called by genetlink with the dump's skb and callback state.
        #[no_mangle]
        unsafe extern "C" fn ipvs_rs_genl_dumpit(
            skb: *mut $crate::glue::bindings::sk_buff,
            cb: *mut $crate::glue::bindings::netlink_callback,
        ) -> kernel::ffi::c_int {
            // SAFETY: genetlink calls this with a running dump's skb and callback state.
            unsafe { $crate::glue::genetlink::dumpit::<$h>(skb, cb) }
        }
    };
}
