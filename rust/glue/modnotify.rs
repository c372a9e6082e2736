// SPDX-License-Identifier: GPL-2.0
//! Mutual exclusion with the C IPVS module.
//!
//! C headers: include/linux/module.h, include/linux/notifier.h
//!
//! ipvs_rs and `ip_vs.ko` claim the same user-visible names (`net/ipv4/vs` sysctls, and in
//! later work the `IPVS` generic netlink family and `/proc/net/ip_vs*`). Rather than let the
//! second one fail half-way with a confusing "sysctl duplicate entry", each direction is
//! refused up front with `EBUSY` and a dmesg line that says what to do:
//! - loading ipvs_rs while `ip_vs` is live: [`Exclusion::claim`] fails;
//! - loading `ip_vs` while ipvs_rs is live: a module notifier vetoes it in
//!   `MODULE_STATE_COMING`, before its init runs (`prepare_coming_module()` turns the
//!   notifier's errno into the load's result).

use super::bindings;
use core::cell::UnsafeCell;
use core::ffi::CStr as CoreCStr;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;

/// Name of the C IPVS core module.
const C_IPVS: &CoreCStr = c"ip_vs";

struct NotifierBlock(UnsafeCell<bindings::notifier_block>);

// SAFETY: the block is handed to the kernel's notifier chain, which serialises its use.
unsafe impl Sync for NotifierBlock {}

static BLOCK: NotifierBlock = NotifierBlock(UnsafeCell::new(bindings::notifier_block {
    notifier_call: Some(on_module_event),
    next: core::ptr::null_mut(),
    priority: 0,
}));

/// The module notifier's callback: refuses C IPVS's modules while ipvs_rs is loaded.
///
/// # Safety
///
/// Called by the module notifier chain only, with the `struct module` of the event as `data`.
unsafe extern "C" fn on_module_event(
    _nb: *mut bindings::notifier_block,
    action: c_ulong,
    data: *mut c_void,
) -> c_int {
    if action != bindings::module_state_MODULE_STATE_COMING as c_ulong {
        return bindings::NOTIFY_DONE as c_int;
    }
    // SAFETY: module notifiers are called with `data` pointing to the module concerned, whose
    // name is a NUL-terminated array inside it.
    let name = unsafe { CoreCStr::from_ptr(bindings::ipvs_rs_module_name(data.cast()).cast()) };
    if name != C_IPVS {
        return bindings::NOTIFY_DONE as c_int;
    }
    pr_err!(
        "refusing to load the C IPVS module ip_vs while ipvs_rs is loaded (rmmod ipvs_rs first)\n"
    );
    // SAFETY: pure arithmetic helper.
    unsafe { bindings::ipvs_rs_notifier_from_errno(EBUSY.to_errno()) }
}

/// Whether the C IPVS module is loaded and live.
pub(crate) fn c_ipvs_loaded() -> bool {
    // SAFETY: no preconditions; takes and drops a module reference internally.
    unsafe { bindings::ipvs_rs_c_ipvs_loaded() }
}

/// Held while ipvs_rs owns the IPVS names; dropping it lets `ip_vs` load again.
pub(crate) struct Exclusion(());

impl Exclusion {
    /// Veto future `ip_vs` loads, then refuse if it is already loaded. In this order there is
    /// no window in which both could come up.
    pub(crate) fn claim() -> Result<Self> {
        // SAFETY: `BLOCK` is static and registered at most once (one `Exclusion` per module
        // instance, created in module init).
        kernel::error::to_result(unsafe { bindings::register_module_notifier(BLOCK.0.get()) })?;
        let claim = Exclusion(());
        if c_ipvs_loaded() {
            pr_err!("the C IPVS module ip_vs is loaded; unload it first (rmmod ip_vs and its schedulers)\n");
            return Err(EBUSY); // `claim` is dropped: the notifier goes away again.
        }
        Ok(claim)
    }
}

impl Drop for Exclusion {
    fn drop(&mut self) {
        // SAFETY: registered in `claim()`.
        unsafe { bindings::unregister_module_notifier(BLOCK.0.get()) };
    }
}
