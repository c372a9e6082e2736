//! Sync daemon requests: `IPVS_CMD_ATTR_DAEMON`.
//!
//! C: `ip_vs_genl_set_daemon()`, `ip_vs_genl_new_daemon()`, `ip_vs_genl_del_daemon()` in
//! `net/netfilter/ipvs/ip_vs_ctl.c`; `start_sync_thread()`, `stop_sync_thread()` in
//! `ip_vs_sync.c`. ipvs-rs runs no sync daemon; these model C's answers when none runs.

use super::ipvs::{daemon_attr, daemon_state, Name, DAEMON_POLICY};
use super::nla::Attr;
use super::policy::{parse_nested_deprecated, AttrTable, Sink};
use super::{Diag, Env, Errno};

const DAEMON_N: usize = daemon_attr::MAX as usize + 1;

/// The multicast group a daemon uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum McastGroup {
    /// Neither attribute: `start_sync_thread()` defaults to 224.0.0.81.
    Default,
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP`, network order (takes precedence over the IPv6 one).
    V4([u8; 4]),
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP6`.
    V6([u8; 16]),
}

/// A NEW_DAEMON request after `ip_vs_genl_new_daemon()`'s own checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DaemonRepr {
    /// `IP_VS_STATE_MASTER` or `IP_VS_STATE_BACKUP` (anything else fails later).
    pub state: u32,
    /// Multicast interface, at most 15 bytes.
    pub mcast_ifn: Name,
    /// Sync ID (C's `int`).
    pub syncid: u32,
    /// Maximum sync message payload, 0 for the default.
    pub sync_maxlen: u16,
    /// Multicast group.
    pub mcast_group: McastGroup,
    /// Multicast port, host order (`nla_get_u16`), 0 for the default 8848.
    pub mcast_port: u16,
    /// Multicast TTL, 0 for the default 1.
    pub mcast_ttl: u8,
}

/// `!attrs[IPVS_CMD_ATTR_DAEMON] || nla_parse_nested_deprecated(..., info->extack)` →
/// `-EINVAL`. Unlike services and destinations, the extack *is* passed here, so the inner
/// validation message reaches the requester (with `-EINVAL` as the errno).
fn parse_attrs<'a>(
    nla: Option<Attr<'a>>,
    diag: &mut Diag,
) -> Result<AttrTable<'a, DAEMON_N>, Errno> {
    let nla = nla.ok_or(Errno::Einval)?;
    parse_nested_deprecated(&nla, &DAEMON_POLICY, &mut Sink { diag, extack: true })
        .map_err(|_| Errno::Einval)
}

/// `ipv4_is_multicast()`: 224.0.0.0/4.
fn ipv4_is_multicast(a: [u8; 4]) -> bool {
    a[0] & 0xf0 == 0xe0
}

impl DaemonRepr {
    /// Parses NEW_DAEMON: `-EINVAL` without STATE, MCAST_IFN and SYNC_ID, or with a group that
    /// is not multicast; `-EAFNOSUPPORT` for an IPv6 group without `CONFIG_IP_VS_IPV6`.
    pub fn parse(nla: Option<Attr<'_>>, env: &Env, diag: &mut Diag) -> Result<DaemonRepr, Errno> {
        let tb = parse_attrs(nla, diag)?;
        let (Some(state), Some(ifn), Some(syncid)) = (
            tb.get(daemon_attr::STATE),
            tb.get(daemon_attr::MCAST_IFN),
            tb.get(daemon_attr::SYNC_ID),
        ) else {
            return Err(Errno::Einval);
        };
        let mcast_group = if let Some(g) = tb.get(daemon_attr::MCAST_GROUP) {
            let ip = g.get_raw32().unwrap_or([0; 4]);
            if !ipv4_is_multicast(ip) {
                return Err(Errno::Einval);
            }
            McastGroup::V4(ip)
        } else if let Some(g) = tb.get(daemon_attr::MCAST_GROUP6) {
            if !env.ip_vs_ipv6 {
                return Err(Errno::Eafnosupport);
            }
            let ip: [u8; 16] = g.memcpy();
            // ipv6_addr_type() & IPV6_ADDR_MULTICAST: ff00::/8.
            if ip[0] != 0xff {
                return Err(Errno::Einval);
            }
            McastGroup::V6(ip)
        } else {
            McastGroup::Default
        };
        Ok(DaemonRepr {
            state: state.get_u32().unwrap_or(0),
            // strscpy() into a 16-byte buffer; the policy keeps the name within 15 bytes.
            mcast_ifn: Name::from_c(ifn.payload()).ok_or(Errno::Einval)?,
            syncid: syncid.get_u32().unwrap_or(0),
            sync_maxlen: tb
                .get(daemon_attr::SYNC_MAXLEN)
                .and_then(|a| a.get_u16())
                .unwrap_or(0),
            mcast_group,
            mcast_port: tb
                .get(daemon_attr::MCAST_PORT)
                .and_then(|a| a.get_u16())
                .unwrap_or(0),
            mcast_ttl: tb
                .get(daemon_attr::MCAST_TTL)
                .and_then(|a| a.get_u8())
                .unwrap_or(0),
        })
    }

    /// What C answers after parsing, in its order: `-EINVAL` when a destination of another
    /// family than its service exists (`ipvs->mixed_address_family_dests > 0`), then in
    /// `start_sync_thread()`: `-ENODEV` for an unknown interface, `-EEXIST` when a daemon of
    /// that state already runs, `-EINVAL` for a state that is neither master nor backup.
    pub fn check_start(
        &self,
        mixed_af_dests: bool,
        ifn_exists: bool,
        master_running: bool,
        backup_running: bool,
    ) -> Result<(), Errno> {
        if mixed_af_dests {
            return Err(Errno::Einval);
        }
        if !ifn_exists {
            return Err(Errno::Enodev);
        }
        match self.state {
            daemon_state::MASTER if master_running => Err(Errno::Eexist),
            daemon_state::BACKUP if backup_running => Err(Errno::Eexist),
            daemon_state::MASTER | daemon_state::BACKUP => Ok(()),
            _ => Err(Errno::Einval),
        }
    }
}

/// Parses DEL_DAEMON: the state to stop (`-EINVAL` without `IPVS_DAEMON_ATTR_STATE`).
pub fn parse_del(nla: Option<Attr<'_>>, diag: &mut Diag) -> Result<u32, Errno> {
    let tb = parse_attrs(nla, diag)?;
    let state = tb.get(daemon_attr::STATE).ok_or(Errno::Einval)?;
    Ok(state.get_u32().unwrap_or(0))
}

/// `stop_sync_thread()`: `-ESRCH` for a master/backup daemon that is not running, `-EINVAL`
/// for any other state.
pub fn check_stop(state: u32, master_running: bool, backup_running: bool) -> Result<(), Errno> {
    match state {
        daemon_state::MASTER if master_running => Ok(()),
        daemon_state::BACKUP if backup_running => Ok(()),
        daemon_state::MASTER | daemon_state::BACKUP => Err(Errno::Esrch),
        _ => Err(Errno::Einval),
    }
}
