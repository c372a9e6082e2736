//! Reply attribute streams, byte-for-byte as C writes them.
//!
//! C: `ip_vs_genl_fill_stats()`, `ip_vs_genl_fill_stats64()`, `ip_vs_genl_fill_service()`,
//! `ip_vs_genl_fill_dest()`, `ip_vs_genl_fill_daemon()` and the GET_CONFIG / GET_INFO cases of
//! `ip_vs_genl_get_cmd()` in `net/netfilter/ipvs/ip_vs_ctl.c`.
//!
//! Each function writes the attributes only (the caller puts the `nlmsghdr`/`genlmsghdr`:
//! the reply command is [`reply_cmd`]). On `-EMSGSIZE` nothing of the failed nest remains
//! (`nla_nest_cancel()`), so a dump can end the message at the previous entry.
//!
//! Byte order: counters, af, protocol, fwmark, flags, timeouts, weight, thresholds,
//! connection counts, tunnel flags and the daemon's port are host order; service/dest ports
//! and the tunnel port are network order; addresses and the netmask are raw bytes.

use super::config::Timeouts;
use super::daemon::McastGroup;
use super::ipvs::{
    cmd, cmd_attr, conn_flags, daemon_attr, dest_attr, info_attr, stats_attr, svc_attr,
    VERSION_CODE,
};
use super::nla::{Attr, Emitter};
use super::Errno;

/// The command of the reply to a request (`ip_vs_genl_get_cmd()`, the dump functions):
/// GET_SERVICE → NEW_SERVICE, GET_DEST → NEW_DEST, GET_DAEMON → NEW_DAEMON,
/// GET_CONFIG → SET_CONFIG, GET_INFO → SET_INFO.
pub fn reply_cmd(request: u8) -> Option<u8> {
    match request {
        cmd::GET_SERVICE => Some(cmd::NEW_SERVICE),
        cmd::GET_DEST => Some(cmd::NEW_DEST),
        cmd::GET_DAEMON => Some(cmd::NEW_DAEMON),
        cmd::GET_CONFIG => Some(cmd::SET_CONFIG),
        cmd::GET_INFO => Some(cmd::SET_INFO),
        _ => None,
    }
}

/// `struct ip_vs_kstats`: the counters and rate estimates of a service or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Connection rate.
    pub cps: u64,
    /// Incoming packet rate.
    pub inpps: u64,
    /// Outgoing packet rate.
    pub outpps: u64,
    /// Incoming byte rate.
    pub inbps: u64,
    /// Outgoing byte rate.
    pub outbps: u64,
}

impl Stats {
    /// `ip_vs_genl_fill_stats()`: a nest of type `container` with CONNS, INPKTS, OUTPKTS as
    /// u32 (truncated), INBYTES, OUTBYTES as u64, then the five rates as u32 (truncated).
    pub fn emit32(&self, e: &mut Emitter<'_>, container: u16) -> Result<(), Errno> {
        e.nested(container, |e| {
            e.put_u32(stats_attr::CONNS, self.conns as u32)?;
            e.put_u32(stats_attr::INPKTS, self.inpkts as u32)?;
            e.put_u32(stats_attr::OUTPKTS, self.outpkts as u32)?;
            e.put_u64_64bit(stats_attr::INBYTES, self.inbytes, stats_attr::PAD)?;
            e.put_u64_64bit(stats_attr::OUTBYTES, self.outbytes, stats_attr::PAD)?;
            e.put_u32(stats_attr::CPS, self.cps as u32)?;
            e.put_u32(stats_attr::INPPS, self.inpps as u32)?;
            e.put_u32(stats_attr::OUTPPS, self.outpps as u32)?;
            e.put_u32(stats_attr::INBPS, self.inbps as u32)?;
            e.put_u32(stats_attr::OUTBPS, self.outbps as u32)
        })
    }

    /// `ip_vs_genl_fill_stats64()`: the ten counters, all u64, in the same order.
    pub fn emit64(&self, e: &mut Emitter<'_>, container: u16) -> Result<(), Errno> {
        e.nested(container, |e| {
            for (kind, v) in self.fields() {
                e.put_u64_64bit(kind, v, stats_attr::PAD)?;
            }
            Ok(())
        })
    }

    fn fields(&self) -> [(u16, u64); 10] {
        [
            (stats_attr::CONNS, self.conns),
            (stats_attr::INPKTS, self.inpkts),
            (stats_attr::OUTPKTS, self.outpkts),
            (stats_attr::INBYTES, self.inbytes),
            (stats_attr::OUTBYTES, self.outbytes),
            (stats_attr::CPS, self.cps),
            (stats_attr::INPPS, self.inpps),
            (stats_attr::OUTPPS, self.outpps),
            (stats_attr::INBPS, self.inbps),
            (stats_attr::OUTBPS, self.outbps),
        ]
    }

    /// Decodes a STATS or STATS64 nest (u32 or u64 counters, PAD and unknown types skipped),
    /// e.g. to read a C reply in a differential test.
    pub fn parse(nest: &Attr<'_>) -> Stats {
        let mut s = Stats::default();
        for a in nest.nested() {
            let v = match a.payload().len() {
                4 => a.get_u32().map(u64::from),
                8 => a.get_u64(),
                _ => None,
            };
            let Some(v) = v else { continue };
            let slot = match a.kind() {
                stats_attr::CONNS => &mut s.conns,
                stats_attr::INPKTS => &mut s.inpkts,
                stats_attr::OUTPKTS => &mut s.outpkts,
                stats_attr::INBYTES => &mut s.inbytes,
                stats_attr::OUTBYTES => &mut s.outbytes,
                stats_attr::CPS => &mut s.cps,
                stats_attr::INPPS => &mut s.inpps,
                stats_attr::OUTPPS => &mut s.outpps,
                stats_attr::INBPS => &mut s.inbps,
                stats_attr::OUTBPS => &mut s.outbps,
                _ => continue,
            };
            *slot = v;
        }
        s
    }
}

/// What `ip_vs_genl_fill_service()` reads from a `struct ip_vs_service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceInfo<'n> {
    /// Address family.
    pub af: u16,
    /// Protocol (not emitted for firewall-mark services).
    pub protocol: u16,
    /// Address (not emitted for firewall-mark services).
    pub addr: [u8; 16],
    /// Port, host order (not emitted for firewall-mark services).
    pub port: u16,
    /// Firewall mark; non-zero selects the FWMARK form.
    pub fwmark: u32,
    /// Bound scheduler, `None` emits `"none"`.
    pub sched_name: Option<&'n [u8]>,
    /// Bound persistence engine, emitted only if present.
    pub pe_name: Option<&'n [u8]>,
    /// `svc->flags` (emitted with mask `~0`).
    pub flags: u32,
    /// Persistence timeout in seconds (`svc->timeout / HZ`).
    pub timeout: u32,
    /// `svc->netmask`, raw.
    pub netmask: [u8; 4],
    /// Counters.
    pub stats: Stats,
}

impl ServiceInfo<'_> {
    /// `ip_vs_genl_fill_service()`: the `IPVS_CMD_ATTR_SERVICE` nest.
    pub fn emit(&self, e: &mut Emitter<'_>) -> Result<(), Errno> {
        e.nested(cmd_attr::SERVICE, |e| {
            e.put_u16(svc_attr::AF, self.af)?;
            if self.fwmark != 0 {
                e.put_u32(svc_attr::FWMARK, self.fwmark)?;
            } else {
                e.put_u16(svc_attr::PROTOCOL, self.protocol)?;
                e.put(svc_attr::ADDR, &self.addr)?;
                e.put_be16(svc_attr::PORT, self.port)?;
            }
            e.put_string(svc_attr::SCHED_NAME, self.sched_name.unwrap_or(b"none"))?;
            if let Some(pe) = self.pe_name {
                e.put_string(svc_attr::PE_NAME, pe)?;
            }
            let mut flags = [0u8; 8];
            flags[..4].copy_from_slice(&self.flags.to_ne_bytes());
            flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
            e.put(svc_attr::FLAGS, &flags)?;
            e.put_u32(svc_attr::TIMEOUT, self.timeout)?;
            e.put_raw32(svc_attr::NETMASK, self.netmask)?;
            self.stats.emit32(e, svc_attr::STATS)?;
            self.stats.emit64(e, svc_attr::STATS64)
        })
    }
}

/// What `ip_vs_genl_fill_dest()` reads from a `struct ip_vs_dest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DestInfo {
    /// Address, raw.
    pub addr: [u8; 16],
    /// Port, host order.
    pub port: u16,
    /// `dest->conn_flags` (only the forwarding method is emitted).
    pub conn_flags: u32,
    /// Weight.
    pub weight: i32,
    /// `dest->tun_type` (emitted as u8).
    pub tun_type: u8,
    /// Tunnel port, host order.
    pub tun_port: u16,
    /// Tunnel flags.
    pub tun_flags: u16,
    /// Upper threshold.
    pub u_threshold: u32,
    /// Lower threshold.
    pub l_threshold: u32,
    /// Active connections.
    pub activeconns: u32,
    /// Inactive connections (`ip_vs_dest_inactconns()`).
    pub inactconns: u32,
    /// Persistent connections (templates).
    pub persistconns: u32,
    /// Address family of `addr`.
    pub af: u16,
    /// Counters.
    pub stats: Stats,
}

impl DestInfo {
    /// `ip_vs_genl_fill_dest()`: the `IPVS_CMD_ATTR_DEST` nest. Note C's order: TUN_* come
    /// right after WEIGHT, ADDR_FAMILY after the connection counts.
    pub fn emit(&self, e: &mut Emitter<'_>) -> Result<(), Errno> {
        e.nested(cmd_attr::DEST, |e| {
            e.put(dest_attr::ADDR, &self.addr)?;
            e.put_be16(dest_attr::PORT, self.port)?;
            e.put_u32(
                dest_attr::FWD_METHOD,
                self.conn_flags & conn_flags::FWD_MASK,
            )?;
            e.put_u32(dest_attr::WEIGHT, self.weight as u32)?;
            e.put_u8(dest_attr::TUN_TYPE, self.tun_type)?;
            e.put_be16(dest_attr::TUN_PORT, self.tun_port)?;
            e.put_u16(dest_attr::TUN_FLAGS, self.tun_flags)?;
            e.put_u32(dest_attr::U_THRESH, self.u_threshold)?;
            e.put_u32(dest_attr::L_THRESH, self.l_threshold)?;
            e.put_u32(dest_attr::ACTIVE_CONNS, self.activeconns)?;
            e.put_u32(dest_attr::INACT_CONNS, self.inactconns)?;
            e.put_u32(dest_attr::PERSIST_CONNS, self.persistconns)?;
            e.put_u16(dest_attr::ADDR_FAMILY, self.af)?;
            self.stats.emit32(e, dest_attr::STATS)?;
            self.stats.emit64(e, dest_attr::STATS64)
        })
    }
}

/// What `ip_vs_genl_fill_daemon()` reads from `struct ipvs_sync_daemon_cfg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonInfo<'n> {
    /// `IP_VS_STATE_MASTER` or `IP_VS_STATE_BACKUP`.
    pub state: u32,
    /// Interface name.
    pub mcast_ifn: &'n [u8],
    /// Sync ID.
    pub syncid: u32,
    /// Sync message size.
    pub sync_maxlen: u16,
    /// Multicast port, host order.
    pub mcast_port: u16,
    /// Multicast TTL.
    pub mcast_ttl: u8,
    /// Group; [`McastGroup::Default`] emits none (C: `mcast_af` neither INET nor INET6).
    pub mcast_group: McastGroup,
}

impl DaemonInfo<'_> {
    /// `ip_vs_genl_fill_daemon()`: the `IPVS_CMD_ATTR_DAEMON` nest.
    pub fn emit(&self, e: &mut Emitter<'_>) -> Result<(), Errno> {
        e.nested(cmd_attr::DAEMON, |e| {
            e.put_u32(daemon_attr::STATE, self.state)?;
            e.put_string(daemon_attr::MCAST_IFN, self.mcast_ifn)?;
            e.put_u32(daemon_attr::SYNC_ID, self.syncid)?;
            e.put_u16(daemon_attr::SYNC_MAXLEN, self.sync_maxlen)?;
            e.put_u16(daemon_attr::MCAST_PORT, self.mcast_port)?;
            e.put_u8(daemon_attr::MCAST_TTL, self.mcast_ttl)?;
            match self.mcast_group {
                McastGroup::V6(a) => e.put(daemon_attr::MCAST_GROUP6, &a),
                McastGroup::V4(a) => e.put_raw32(daemon_attr::MCAST_GROUP, a),
                McastGroup::Default => Ok(()),
            }
        })
    }
}

/// GET_CONFIG reply: TIMEOUT_TCP, TIMEOUT_TCP_FIN, TIMEOUT_UDP as u32 (not nested).
pub fn emit_config(e: &mut Emitter<'_>, t: &Timeouts) -> Result<(), Errno> {
    let mark = e.mark();
    let r = e
        .put_u32(cmd_attr::TIMEOUT_TCP, t.tcp as u32)
        .and_then(|()| e.put_u32(cmd_attr::TIMEOUT_TCP_FIN, t.tcp_fin as u32))
        .and_then(|()| e.put_u32(cmd_attr::TIMEOUT_UDP, t.udp as u32));
    if r.is_err() {
        e.rollback(mark);
    }
    r
}

/// GET_INFO reply: VERSION ([`VERSION_CODE`]) and CONN_TAB_SIZE as u32 (not nested).
pub fn emit_info(e: &mut Emitter<'_>, conn_tab_size: u32) -> Result<(), Errno> {
    let mark = e.mark();
    let r = e
        .put_u32(info_attr::VERSION, VERSION_CODE)
        .and_then(|()| e.put_u32(info_attr::CONN_TAB_SIZE, conn_tab_size));
    if r.is_err() {
        e.rollback(mark);
    }
    r
}
