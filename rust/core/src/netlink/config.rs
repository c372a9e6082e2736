//! Protocol timeouts: SET_CONFIG / GET_CONFIG.
//!
//! C: `ip_vs_genl_set_config()`, `ip_vs_set_timeout()`, `__ip_vs_get_timeouts()` in
//! `net/netfilter/ipvs/ip_vs_ctl.c` (with `CONFIG_IP_VS_PROTO_TCP` and `_UDP`).

use super::ipvs::cmd_attr;
use super::policy::AttrTable;
use super::Errno;

/// `struct ip_vs_timeout_user`: timeouts in seconds, as C's `int`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timeouts {
    /// TCP ESTABLISHED.
    pub tcp: i32,
    /// TCP FIN_WAIT.
    pub tcp_fin: i32,
    /// UDP.
    pub udp: i32,
}

/// The timeouts a SET_CONFIG carries; absent ones keep their value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TimeoutUpdate {
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP`.
    pub tcp: Option<u32>,
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN`.
    pub tcp_fin: Option<u32>,
    /// `IPVS_CMD_ATTR_TIMEOUT_UDP`.
    pub udp: Option<u32>,
}

impl TimeoutUpdate {
    /// Reads the three timeouts of a validated top-level table.
    pub fn from_table<const N: usize>(tb: &AttrTable<'_, N>) -> TimeoutUpdate {
        TimeoutUpdate {
            tcp: tb.get(cmd_attr::TIMEOUT_TCP).and_then(|a| a.get_u32()),
            tcp_fin: tb.get(cmd_attr::TIMEOUT_TCP_FIN).and_then(|a| a.get_u32()),
            udp: tb.get(cmd_attr::TIMEOUT_UDP).and_then(|a| a.get_u32()),
        }
    }

    /// `ip_vs_genl_set_config()` + `ip_vs_set_timeout()`: starts from `current`, overrides
    /// what the request carries (the u32 stored into an `int`), rejects any value `< 0` or
    /// `> INT_MAX / HZ` with `-EINVAL` (nothing is changed then), and otherwise returns the
    /// timeouts in effect afterwards — a 0 means "leave unchanged", as in C.
    pub fn apply(&self, current: Timeouts, hz: u32) -> Result<Timeouts, Errno> {
        let pick = |new: Option<u32>, old: i32| new.map_or(old, |v| v as i32);
        let t = Timeouts {
            tcp: pick(self.tcp, current.tcp),
            tcp_fin: pick(self.tcp_fin, current.tcp_fin),
            udp: pick(self.udp, current.udp),
        };
        let max = i32::MAX / i32::try_from(hz.max(1)).unwrap_or(i32::MAX);
        for v in [t.tcp, t.tcp_fin, t.udp] {
            if v < 0 || v > max {
                return Err(Errno::Einval);
            }
        }
        let keep = |v: i32, old: i32| if v != 0 { v } else { old };
        Ok(Timeouts {
            tcp: keep(t.tcp, current.tcp),
            tcp_fin: keep(t.tcp_fin, current.tcp_fin),
            udp: keep(t.udp, current.udp),
        })
    }
}
