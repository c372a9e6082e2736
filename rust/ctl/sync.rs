// SPDX-License-Identifier: GPL-2.0
//! The sync daemons of a namespace: `start_sync_thread()`, `stop_sync_thread()` and what
//! GET_DAEMON lists (`ipvs->mcfg`, `ipvs->bcfg`), in C's order of checks and with its
//! defaults. The threads are the glue's ([`SyncThreads`]); what they do is the data path's
//! (`dp::sync`).

use super::NetState;
use crate::dp::sync as dp_sync;
use crate::glue::pernet::Net;
use crate::glue::syncsock::{
    self, McastGroup, SyncConfig, SyncDaemon, SyncRole, SyncThread, SyncThreads,
};
use ipvs_core::netlink::daemon::{self, DaemonRepr, McastGroup as ReprGroup};
use ipvs_core::netlink::ipvs::daemon_state;
use ipvs_core::netlink::reply::DaemonInfo;
use ipvs_core::netlink::Errno;
use ipvs_core::sync::max_mesg_size;
use ipvs_core::sysctl::Knob;
use kernel::prelude::*;

/// `IP_VS_IFNAME_MAXLEN`.
const IFNAME_MAXLEN: usize = 16;

/// A running daemon's configuration, defaults filled in (`struct ipvs_sync_daemon_cfg`).
#[derive(Clone, Copy)]
pub(crate) struct DaemonCfg {
    ifn: [u8; IFNAME_MAXLEN],
    ifn_len: usize,
    syncid: u32,
    sync_maxlen: u16,
    port: u16,
    ttl: u8,
    group: McastGroup,
}

impl DaemonCfg {
    fn ifn(&self) -> &[u8] {
        self.ifn.get(..self.ifn_len).unwrap_or_default()
    }

    /// `ip_vs_genl_fill_daemon()`'s view.
    pub(crate) fn info(&self, state: u32) -> DaemonInfo<'_> {
        DaemonInfo {
            state,
            mcast_ifn: self.ifn(),
            syncid: self.syncid,
            sync_maxlen: self.sync_maxlen,
            mcast_port: self.port,
            mcast_ttl: self.ttl,
            mcast_group: match self.group {
                McastGroup::V4(a) => ReprGroup::V4(a),
                McastGroup::V6(a) => ReprGroup::V6(a),
            },
        }
    }
}

/// The daemons of a namespace (C: `ipvs->mcfg`, `ipvs->bcfg`, `threads_mask`), under
/// [`NetState`]'s sync mutex (C: `ipvs->sync_mutex`).
#[derive(Default)]
pub(crate) struct SyncCtl {
    pub(crate) master: Option<DaemonCfg>,
    pub(crate) backup: Option<DaemonCfg>,
    /// Threads per daemon (`threads_mask + 1`), fixed while any daemon runs.
    threads: usize,
}

fn errno(e: Errno) -> Error {
    Error::from_errno(e.to_errno())
}

/// The threads run the data path's loops.
impl SyncDaemon for NetState {
    fn run(ns: &Self, t: &SyncThread) {
        match t.role() {
            SyncRole::Master => dp_sync::master_run(&ns.dp, t),
            SyncRole::Backup => dp_sync::backup_run(&ns.dp, t),
        }
    }
}

/// NEW_DAEMON after parsing: `ip_vs_genl_new_daemon()`'s mixed-family check, then
/// `start_sync_thread()`.
pub(crate) fn start(ns: &NetState, net: &Net, d: &DaemonRepr) -> Result {
    let mut sc = ns.sync_ctl();
    let mixed = ns.ctl().has_mixed_family_dests();
    let ifn = d.mcast_ifn.as_bytes();
    let mtu = syncsock::dev_mtu(net, ifn);
    if mtu.is_err() && !mixed {
        pr_err!(
            "Unknown mcast interface: {}\n",
            core::str::from_utf8(ifn).unwrap_or("?")
        );
    }
    d.check_start(mixed, mtu.is_ok(), sc.master.is_some(), sc.backup.is_some())
        .map_err(errno)?;
    let mtu = mtu?;
    let role = if d.state == daemon_state::MASTER {
        SyncRole::Master
    } else {
        SyncRole::Backup
    };
    let group = match d.mcast_group {
        ReprGroup::Default => syncsock::DEFAULT_GROUP,
        ReprGroup::V4(a) => McastGroup::V4(a),
        ReprGroup::V6(a) => McastGroup::V6(a),
    };
    let threads = if sc.master.is_none() && sc.backup.is_none() {
        let ports = usize::try_from(ns.dp.int(Knob::SyncPorts)).unwrap_or(1);
        ports.clamp(1, syncsock::SYNC_PORTS_MAX)
    } else {
        sc.threads
    };
    let mut cfg = DaemonCfg {
        ifn: [0; IFNAME_MAXLEN],
        ifn_len: ifn.len().min(IFNAME_MAXLEN - 1),
        syncid: d.syncid,
        sync_maxlen: max_mesg_size(
            mtu,
            d.sync_maxlen,
            matches!(group, McastGroup::V6(_)),
            role == SyncRole::Backup,
        ),
        port: if d.mcast_port == 0 {
            syncsock::DEFAULT_PORT
        } else {
            d.mcast_port
        },
        ttl: if d.mcast_ttl == 0 { 1 } else { d.mcast_ttl },
        group,
    };
    if let Some(dst) = cfg.ifn.get_mut(..cfg.ifn_len) {
        dst.copy_from_slice(ifn.get(..cfg.ifn_len).unwrap_or_default());
    }
    // The data path's state first: a master's queues exist before its threads look.
    match role {
        // C stores the syncid in a byte of each message.
        SyncRole::Master => ns
            .dp
            .sync
            .set_master(threads, cfg.syncid as u8, cfg.sync_maxlen)?,
        SyncRole::Backup => ns.dp.sync.set_backup(cfg.syncid as i32, cfg.sync_maxlen),
    }
    let sc_cfg = SyncConfig {
        group,
        port: cfg.port,
        ifname: cfg.ifn(),
        ttl: cfg.ttl,
        sock_size: ns.dp.int(Knob::SyncSockSize),
        threads,
    };
    if let Err(e) = SyncThreads::start(ns, role, &sc_cfg) {
        match role {
            SyncRole::Master => ns.dp.sync.clear_master(),
            SyncRole::Backup => ns.dp.sync.clear_backup(),
        }
        return Err(e);
    }
    pr_info!(
        "sync thread started: state = {}, mcast_ifn = {}, syncid = {}, threads = {}\n",
        if role == SyncRole::Master {
            "MASTER"
        } else {
            "BACKUP"
        },
        core::str::from_utf8(cfg.ifn()).unwrap_or("?"),
        cfg.syncid,
        threads
    );
    sc.threads = threads;
    match role {
        SyncRole::Master => sc.master = Some(cfg),
        SyncRole::Backup => sc.backup = Some(cfg),
    }
    Ok(())
}

/// DEL_DAEMON after parsing: `stop_sync_thread()`.
pub(crate) fn stop(ns: &NetState, state: u32) -> Result {
    let mut sc = ns.sync_ctl();
    daemon::check_stop(state, sc.master.is_some(), sc.backup.is_some()).map_err(errno)?;
    let role = if state == daemon_state::MASTER {
        SyncRole::Master
    } else {
        SyncRole::Backup
    };
    // The state first, so that the packet path queues nothing more (C clears it under the
    // queues' locks before it stops the threads).
    match role {
        SyncRole::Master => {
            ns.dp.sync.clear_master();
            sc.master = None;
        }
        SyncRole::Backup => {
            ns.dp.sync.clear_backup();
            sc.backup = None;
        }
    }
    let r = SyncThreads::stop(ns, role);
    pr_info!(
        "stopping {} sync threads\n",
        if role == SyncRole::Master {
            "master"
        } else {
            "backup"
        }
    );
    r
}
