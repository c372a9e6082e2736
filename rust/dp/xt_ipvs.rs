// SPDX-License-Identifier: GPL-2.0
//! The data path's side of the `ipvs` xtables match (`net/netfilter/xt_ipvs.c`): the
//! decision is `ipvs_core::xt_ipvs::ipvs_mt()`, the connection it asks for is found here in
//! the connection table, with C's `ip_vs_conn_out_get()` ([`conn::out_get_param`]).

use super::conn;
use crate::glue::pernet::Net;
use crate::glue::xtables::{IpvsMatch, MatchSkb};
use ipvs_core::wire::Family;
use ipvs_core::xt_ipvs::{self, ConnView, MtInfo};

/// `ipvs_mt()` over ipvs_rs's connections.
pub(crate) struct XtIpvs;

impl IpvsMatch for XtIpvs {
    fn matches(skb: &MatchSkb<'_>, net: &Net, family: Family, info: &MtInfo) -> bool {
        xt_ipvs::ipvs_mt(
            info,
            family,
            skb.ipvs_property(),
            skb,
            || skb.ct_dir(),
            |p| {
                let cp = conn::out_get_param(net, p)?;
                let view = ConnView {
                    vaddr: cp.vaddr,
                    vport: cp.vport(),
                    flags: cp.flags(),
                    control_vport: cp.control().map(|ct| ct.vport()),
                };
                // __ip_vs_conn_put(): a rule looking at the entry does not extend its life.
                cp.put_no_rearm();
                Some(view)
            },
        )
    }
}
