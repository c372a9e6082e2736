//! Protocol state machines and their timeouts: what a packet does to a connection's state.
//!
//! C sources (Linux 6.12): `net/netfilter/ipvs/ip_vs_proto_tcp.c`, `ip_vs_proto_udp.c`,
//! `ip_vs_proto_sctp.c`, `ip_vs_proto.c` (`ip_vs_protocol_timeout_change()`), `ip_vs_ctl.c`
//! (`ip_vs_set_timeout()`, `__ip_vs_get_timeouts()`), `include/net/ip_vs.h`
//! (`IP_VS_TCP_S_*`, `IP_VS_UDP_S_*`, `IP_VS_SCTP_S_*`, `IP_VS_DIR_*`).
//!
//! # Model
//!
//! C's `pp->state_transition(cp, direction, skb, pd)` reads the packet, looks up the state
//! table in `pd`, and writes `cp->state`, `cp->flags`, `cp->timeout` and the destination's
//! `activeconns` under `cp->lock`. Here the same decision is a pure function of values
//! ([`tcp::transition`], [`udp::transition`], [`sctp::transition`]) returning a transition
//! record; the data path takes the connection lock, calls it, and stores the record's
//! fields back. Everything is plain data, so the whole state space can be (and is) compared
//! with the C code. (SCTP reads more of the packet than one header byte: the data path
//! gets the event with [`sctp::packet_event`] over the skb, before taking the lock.)
//!
//! Per network namespace the data path keeps one [`TimeoutTables`] (C: the `timeout_table` of
//! each `struct ip_vs_proto_data`) and one [`tcp::TableKind`] (C: `pd->tcp_state_table`).
//! Timeouts are kept in seconds: every value C can hold is a whole number of seconds times
//! `HZ` (the defaults, and `ipvsadm --set` which multiplies by `HZ`), so the kernel side
//! converts with `secs * HZ` when it arms `cp->timeout`.

pub mod sctp;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod c_ref_sctp_tests;
#[cfg(test)]
mod c_ref_tests;

use crate::netlink::config;
use crate::netlink::Errno;

/// `cp->timeout` of a connection `ip_vs_conn_new()` just created, before its first packet
/// runs the state machine: 3 seconds (`3*HZ` in `ip_vs_conn.c`).
pub const NEW_CONN_TIMEOUT_SECS: u32 = 3;

/// Which way a packet travels relative to the connection (`IP_VS_DIR_*`), as the data path
/// passes it to the protocol.
///
/// `ip_vs_in_hook()` passes [`Direction::Input`] (client to virtual service),
/// `handle_response()` passes [`Direction::Output`] (real server reply seen by IPVS, i.e. NAT).
/// No C caller passes [`Direction::InputOnly`]; TCP switches to it by itself for connections
/// flagged `IP_VS_CONN_F_NOOUTPUT` (direct routing and tunnelling, where replies bypass
/// IPVS), see [`tcp::effective_direction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `IP_VS_DIR_INPUT`: client to server.
    Input,
    /// `IP_VS_DIR_OUTPUT`: server to client.
    Output,
    /// `IP_VS_DIR_INPUT_ONLY`: client to server, on a connection whose replies IPVS never
    /// sees.
    InputOnly,
}

impl Direction {
    /// All directions, in C's order.
    pub const ALL: [Direction; 3] = [Direction::Input, Direction::Output, Direction::InputOnly];

    /// The direction for a C `IP_VS_DIR_*` value.
    #[inline]
    pub const fn from_c(dir: u32) -> Option<Direction> {
        match dir {
            0 => Some(Direction::Input),
            1 => Some(Direction::Output),
            2 => Some(Direction::InputOnly),
            _ => None,
        }
    }

    /// The C `IP_VS_DIR_*` value.
    #[inline]
    pub const fn as_c(self) -> u32 {
        match self {
            Direction::Input => 0,
            Direction::Output => 1,
            Direction::InputOnly => 2,
        }
    }
}

/// The per-namespace timeout tables of the protocols ipvs-rs serves (C: the `timeout_table`
/// of the TCP, UDP and SCTP `struct ip_vs_proto_data`), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TimeoutTables {
    /// TCP, one timeout per state.
    pub tcp: tcp::Timeouts,
    /// UDP.
    pub udp: udp::Timeouts,
    /// SCTP, one timeout per state. No user-space interface changes it in C 6.12
    /// (`ip_vs_set_timeout()` knows TCP and UDP only), so it stays at `sctp_timeouts[]`.
    pub sctp: sctp::Timeouts,
}

impl TimeoutTables {
    /// The tables a new network namespace starts with (`tcp_timeouts[]`, `udp_timeouts[]`,
    /// `sctp_timeouts[]`).
    pub const DEFAULT: TimeoutTables = TimeoutTables {
        tcp: tcp::Timeouts::DEFAULT,
        udp: udp::Timeouts::DEFAULT,
        sctp: sctp::Timeouts::DEFAULT,
    };

    /// `ip_vs_set_timeout()` (`ipvsadm --set tcp tcpfin udp`, `IP_VS_SO_SET_TIMEOUT`, and the
    /// end of netlink `IPVS_CMD_SET_CONFIG`): a value `< 0` or `> INT_MAX / HZ` anywhere
    /// rejects the whole request with `-EINVAL` and changes nothing; otherwise each non-zero
    /// value replaces one entry, and a 0 leaves it alone:
    ///
    /// | `ip_vs_timeout_user` | entry |
    /// |---|---|
    /// | `tcp_timeout` | TCP `ESTABLISHED` |
    /// | `tcp_fin_timeout` | TCP `FIN_WAIT` |
    /// | `udp_timeout` | UDP `NORMAL` |
    ///
    /// No other state's timeout (and no SCTP timeout) can be changed from user space. `hz` is the kernel's `HZ`
    /// (only the upper bound depends on it; 0 is treated as 1).
    pub fn apply_set(&mut self, u: &config::Timeouts, hz: u32) -> Result<(), Errno> {
        let max = i32::MAX / i32::try_from(hz.max(1)).unwrap_or(i32::MAX);
        let valid = |v: i32| (0..=max).contains(&v);
        if !(valid(u.tcp) && valid(u.tcp_fin) && valid(u.udp)) {
            return Err(Errno::Einval);
        }
        // Validated non-negative just above, so the conversions cannot fail.
        if let Ok(v @ 1..) = u32::try_from(u.tcp) {
            self.tcp.set(tcp::TcpState::Established, v);
        }
        if let Ok(v @ 1..) = u32::try_from(u.tcp_fin) {
            self.tcp.set(tcp::TcpState::FinWait, v);
        }
        if let Ok(v @ 1..) = u32::try_from(u.udp) {
            self.udp.set(udp::UdpState::Normal, v);
        }
        Ok(())
    }

    /// `__ip_vs_get_timeouts()` (`ipvsadm -L --timeout`, `IPVS_CMD_GET_CONFIG`): the three
    /// timeouts user space can see. Values above `i32::MAX` (which [`TimeoutTables::apply_set`]
    /// never stores) saturate.
    #[inline]
    pub fn user_view(&self) -> config::Timeouts {
        let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        config::Timeouts {
            tcp: int(self.tcp.get(tcp::TcpState::Established)),
            tcp_fin: int(self.tcp.get(tcp::TcpState::FinWait)),
            udp: int(self.udp.get(udp::UdpState::Normal)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tcp::TcpState;
    use super::udp::UdpState;
    use super::*;

    fn user(tcp: i32, tcp_fin: i32, udp: i32) -> config::Timeouts {
        config::Timeouts { tcp, tcp_fin, udp }
    }

    #[test]
    fn set_maps_onto_established_fin_wait_and_udp_normal() {
        let mut t = TimeoutTables::DEFAULT;
        assert_eq!(t.user_view(), user(900, 120, 300));
        t.apply_set(&user(7200, 30, 60), 250).unwrap();
        assert_eq!(t.user_view(), user(7200, 30, 60));
        assert_eq!(t.tcp.get(TcpState::Established), 7200);
        assert_eq!(t.tcp.get(TcpState::FinWait), 30);
        assert_eq!(t.udp.get(UdpState::Normal), 60);
        // Nothing else moved.
        assert_eq!(t.sctp, sctp::Timeouts::DEFAULT);
        for s in TcpState::ALL {
            if s != TcpState::Established && s != TcpState::FinWait {
                assert_eq!(t.tcp.get(s), tcp::Timeouts::DEFAULT.get(s), "{s:?}");
            }
        }
    }

    #[test]
    fn set_zero_keeps() {
        let mut t = TimeoutTables::DEFAULT;
        t.apply_set(&user(0, 5, 0), 1000).unwrap();
        assert_eq!(t.user_view(), user(900, 5, 300));
        t.apply_set(&user(0, 0, 0), 1000).unwrap();
        assert_eq!(t.user_view(), user(900, 5, 300));
    }

    #[test]
    fn set_rejects_all_or_nothing() {
        let mut t = TimeoutTables::DEFAULT;
        // A valid tcp value does not get applied when udp is invalid.
        assert_eq!(t.apply_set(&user(10, 0, -1), 250), Err(Errno::Einval));
        assert_eq!(t, TimeoutTables::DEFAULT);
        // INT_MAX / HZ is the largest accepted value.
        let max = i32::MAX / 250;
        assert_eq!(t.apply_set(&user(max + 1, 0, 0), 250), Err(Errno::Einval));
        assert_eq!(t, TimeoutTables::DEFAULT);
        t.apply_set(&user(max, max, max), 250).unwrap();
        assert_eq!(t.user_view(), user(max, max, max));
        assert_eq!(t.apply_set(&user(0, i32::MIN, 0), 0), Err(Errno::Einval));
        // hz 0 behaves as 1: INT_MAX is accepted.
        t.apply_set(&user(i32::MAX, 0, 0), 0).unwrap();
        assert_eq!(t.user_view().tcp, i32::MAX);
    }

    #[test]
    fn composes_with_the_netlink_update() {
        // SET_CONFIG: TimeoutUpdate::apply merges and validates, apply_set stores.
        let mut t = TimeoutTables::DEFAULT;
        let upd = config::TimeoutUpdate {
            tcp: None,
            tcp_fin: Some(45),
            udp: Some(0),
        };
        let eff = upd.apply(t.user_view(), 250).unwrap();
        t.apply_set(&eff, 250).unwrap();
        assert_eq!(t.user_view(), user(900, 45, 300));
    }

    #[test]
    fn direction_c_values() {
        for d in Direction::ALL {
            assert_eq!(Direction::from_c(d.as_c()), Some(d));
        }
        assert_eq!(Direction::from_c(3), None);
        assert_eq!(Direction::from_c(u32::MAX), None);
    }
}
