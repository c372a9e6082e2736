// SPDX-License-Identifier: GPL-2.0
//! ipvs_rs: the IP Virtual Server core, in Rust.
//!
//! A drop-in for the C IPVS (`net/netfilter/ipvs/`): same sysctls, and in later work the
//! same netlink family, proc files and data path, driven by the tools operators already use.
//! Policy lives in the host-tested `ipvs_core` crate; `glue` is the only code that touches C.

// `try_pin_init!` of `DestShared` (18 fields) expands deeper than the default 128.
#![recursion_limit = "256"]

use kernel::prelude::*;

mod ctl;
mod dp;
mod glue;
/// KUnit suites: compiled only into the test build (`IPVS_RS_KUNIT=y`, see Kbuild), so the
/// production module neither needs `CONFIG_KUNIT` nor runs tests at insmod.
#[cfg(ipvs_rs_kunit)]
mod kunit_tests;

module! {
    type: IpvsRs,
    name: "ipvs_rs",
    author: "ipvs-rs developers",
    description: "IP Virtual Server core in Rust",
    license: "GPL",
}

// The C op table of the IPVS family calls the control plane's handlers.
genl_handlers!(ctl::genl::Ops);
// The netfilter hooks find the data path's state in the control plane's per-namespace slot.
dp_hook!(ctl::NetState);

struct IpvsRs {
    // Fields drop in declaration order: the `ipvs` xtables match and netlink first (no new
    // rules, no new requests), then namespaces, then the claim on the IPVS names.
    _xt_ipvs: glue::xtables::IpvsMatchRegistration,
    _genl: glue::genetlink::Family,
    _netns: glue::pernet::Registration<ctl::NetState>,
    // After every namespace has flushed its connections.
    _conn_tab: dp::conn::TableAlloc,
    // After every destination (and its route cache) is gone.
    _dst_caches: glue::skb::DstCaches,
    _exclusion: glue::modnotify::Exclusion,
}

impl kernel::Module for IpvsRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let exclusion = glue::modnotify::Exclusion::claim()?;
        let conn_tab = dp::conn::TableAlloc::new()?;
        let dst_caches = glue::skb::DstCaches::register()?;
        let netns = ctl::register().inspect_err(|e| {
            pr_err!("per-netns setup failed: {:?}\n", e);
        })?;
        let genl = glue::genetlink::Family::register().inspect_err(|e| {
            pr_err!(
                "registering the IPVS generic netlink family failed: {:?}\n",
                e
            );
        })?;
        let xt_ipvs = glue::xtables::IpvsMatchRegistration::register::<dp::xt_ipvs::XtIpvs>()
            .inspect_err(|e| {
                pr_err!("registering the ipvs xtables match failed: {:?}\n", e);
            })?;
        pr_info!("loaded; sysctls net.ipv4.vs.* in every netns\n");
        Ok(IpvsRs {
            _xt_ipvs: xt_ipvs,
            _genl: genl,
            _netns: netns,
            _conn_tab: conn_tab,
            _dst_caches: dst_caches,
            _exclusion: exclusion,
        })
    }
}

impl Drop for IpvsRs {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
