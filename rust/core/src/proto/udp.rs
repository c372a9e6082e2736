//! UDP "state machine" of IPVS: one state, one timeout.
//!
//! C source: `net/netfilter/ipvs/ip_vs_proto_udp.c` (Linux 6.12): `udp_timeouts[]`,
//! `udp_state_name_table[]`, `udp_state_transition()`; states from `include/net/ip_vs.h`.
//!
//! Every packet re-arms the connection's timeout with the NORMAL timeout and nothing else
//! changes. UDP never touches the destination counters: a UDP connection is created
//! flagged `IP_VS_CONN_F_INACTIVE` (all destinations' `conn_flags` carry it) and stays so,
//! which is why `ipvsadm -L` shows UDP connections under InActConn only.

use super::Direction;

/// A UDP connection state (`IP_VS_UDP_S_*`): there is only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdpState {
    /// `IP_VS_UDP_S_NORMAL`.
    Normal,
}

impl UdpState {
    /// All states, in C's numbering order.
    pub const ALL: [UdpState; 1] = [UdpState::Normal];

    /// The state for a C `IP_VS_UDP_S_*` value (`cp->state`).
    #[inline]
    pub const fn from_c(state: u32) -> Option<UdpState> {
        match state {
            0 => Some(UdpState::Normal),
            _ => None,
        }
    }

    /// The C `IP_VS_UDP_S_*` value.
    #[inline]
    pub const fn as_c(self) -> u32 {
        self as u32
    }

    /// The name `/proc/net/ip_vs_conn` and `ipvsadm -L -c` print (`udp_state_name()`): the
    /// one state is called `"UDP"`.
    #[inline]
    pub const fn name(self) -> &'static str {
        match self {
            UdpState::Normal => "UDP",
        }
    }

    /// `udp_state_name()` of a raw `cp->state`: `"UDP"`, or `"ERR!"` for anything else.
    #[inline]
    pub const fn c_name(state: u32) -> &'static str {
        match UdpState::from_c(state) {
            Some(s) => s.name(),
            None => "ERR!",
        }
    }
}

/// Per-state UDP timeouts in seconds (C: `pd->timeout_table`, in jiffies there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeouts {
    normal: u32,
}

impl Timeouts {
    /// `udp_timeouts[]`: 5 minutes.
    pub const DEFAULT: Timeouts = Timeouts { normal: 5 * 60 };

    /// The timeout of `state`.
    #[inline]
    pub const fn get(&self, state: UdpState) -> u32 {
        match state {
            UdpState::Normal => self.normal,
        }
    }

    /// Sets the timeout of `state` (C does it through `ipvsadm --set`'s third value, see
    /// [`super::TimeoutTables::apply_set`]).
    #[inline]
    pub fn set(&mut self, state: UdpState, secs: u32) {
        match state {
            UdpState::Normal => self.normal = secs,
        }
    }
}

impl Default for Timeouts {
    #[inline]
    fn default() -> Self {
        Timeouts::DEFAULT
    }
}

/// What `udp_state_transition()` does to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// New `cp->timeout` in seconds: always the NORMAL timeout (`cp->state` is not written).
    pub timeout: u32,
    /// Call `ip_vs_control_assure_ct(cp)`: a reply (output packet) assures the controlling
    /// template, the UDP stand-in for "established".
    pub assure_ct: bool,
}

/// `udp_state_transition()` for one packet travelling in `dir`.
#[inline]
pub const fn transition(timeouts: &Timeouts, dir: Direction) -> Transition {
    Transition {
        timeout: timeouts.get(UdpState::Normal),
        assure_ct: matches!(dir, Direction::Output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_state() {
        assert_eq!(UdpState::from_c(0), Some(UdpState::Normal));
        assert_eq!(UdpState::Normal.as_c(), 0);
        assert_eq!(UdpState::from_c(1), None);
        assert_eq!(UdpState::Normal.name(), "UDP");
        assert_eq!(UdpState::c_name(0), "UDP");
        assert_eq!(UdpState::c_name(1), "ERR!");
    }

    #[test]
    fn default_timeout_is_cs() {
        assert_eq!(Timeouts::DEFAULT.get(UdpState::Normal), 300);
        assert_eq!(Timeouts::default(), Timeouts::DEFAULT);
    }

    #[test]
    fn every_packet_rearms_normal() {
        let mut t = Timeouts::DEFAULT;
        t.set(UdpState::Normal, 42);
        for d in Direction::ALL {
            let tr = transition(&t, d);
            assert_eq!(tr.timeout, 42);
            assert_eq!(tr.assure_ct, d == Direction::Output);
        }
    }
}
