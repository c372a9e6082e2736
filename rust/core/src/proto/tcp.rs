//! The TCP state machine of IPVS: states, the two transition tables, activity accounting and
//! per-state timeouts.
//!
//! C source: `net/netfilter/ipvs/ip_vs_proto_tcp.c` (Linux 6.12): `tcp_states[]`,
//! `tcp_states_dos[]`, `tcp_state_idx()`, `set_tcp_state()`, `tcp_timeouts[]`,
//! `tcp_state_name_table[]`, `tcp_state_active_table[]`, `tcp_timeout_change()`,
//! `tcp_conn_schedule()`; states from `include/net/ip_vs.h`.
//!
//! IPVS does not track TCP: it guesses a connection's state from the flags of the packets it
//! forwards, one table lookup per packet. The lookup is keyed by
//!
//! * the table: [`TableKind::Normal`], or [`TableKind::Secure`] while the `secure_tcp`
//!   defense is on;
//! * the direction, after [`effective_direction`] has folded in `IP_VS_CONN_F_NOOUTPUT`;
//! * the *one* flag that counts ([`TcpFlags::event`]): RST, else SYN, else FIN, else ACK;
//! * the current state.
//!
//! A packet with none of the four flags does not leave the state alone: C starts from
//! `new_state = IP_VS_TCP_S_CLOSE` and skips the lookup, so such a packet closes the
//! connection ([`next_state`] returns [`TcpState::Close`]).
//!
//! [`transition`] is all of `set_tcp_state()`: the new state, the connection's new flags,
//! the change to its destination's `activeconns`, whether to assure the controlling
//! template, and the timeout to arm.

pub use super::Direction;
use crate::netlink::ipvs::conn_flags::{INACTIVE, NOOUTPUT};

/// A TCP connection state (`IP_VS_TCP_S_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// `IP_VS_TCP_S_NONE`: a connection that has seen no packet yet (or only its creator).
    None,
    /// `IP_VS_TCP_S_ESTABLISHED`.
    Established,
    /// `IP_VS_TCP_S_SYN_SENT`: the server side sent a SYN (active open from the server).
    SynSent,
    /// `IP_VS_TCP_S_SYN_RECV`: a client SYN was forwarded.
    SynRecv,
    /// `IP_VS_TCP_S_FIN_WAIT`.
    FinWait,
    /// `IP_VS_TCP_S_TIME_WAIT`.
    TimeWait,
    /// `IP_VS_TCP_S_CLOSE`.
    Close,
    /// `IP_VS_TCP_S_CLOSE_WAIT`.
    CloseWait,
    /// `IP_VS_TCP_S_LAST_ACK`.
    LastAck,
    /// `IP_VS_TCP_S_LISTEN`: set only by `ip_vs_tcp_conn_listen()` (the FTP helper's
    /// expected data connections, with the LISTEN timeout), never by a table from another
    /// state.
    Listen,
    /// `IP_VS_TCP_S_SYNACK`: reachable only through the secure table.
    SynAck,
}

/// Number of TCP states (`IP_VS_TCP_S_LAST`).
const NSTATES: usize = 11;

impl TcpState {
    /// All states, in C's numbering order (`ALL[i].as_c() == i`).
    pub const ALL: [TcpState; NSTATES] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    /// The state for a C `IP_VS_TCP_S_*` value (`cp->state`).
    pub const fn from_c(state: u32) -> Option<TcpState> {
        match state {
            0 => Some(TcpState::None),
            1 => Some(TcpState::Established),
            2 => Some(TcpState::SynSent),
            3 => Some(TcpState::SynRecv),
            4 => Some(TcpState::FinWait),
            5 => Some(TcpState::TimeWait),
            6 => Some(TcpState::Close),
            7 => Some(TcpState::CloseWait),
            8 => Some(TcpState::LastAck),
            9 => Some(TcpState::Listen),
            10 => Some(TcpState::SynAck),
            _ => None,
        }
    }

    /// The C `IP_VS_TCP_S_*` value.
    #[inline]
    pub const fn as_c(self) -> u32 {
        self as u32
    }

    /// The name `/proc/net/ip_vs_conn` and `ipvsadm -L -c` print (`tcp_state_name()`).
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }

    /// `tcp_state_name()` of a raw `cp->state`: the state's name, or `"ERR!"` for a value
    /// that is not a TCP state.
    #[inline]
    pub const fn c_name(state: u32) -> &'static str {
        match TcpState::from_c(state) {
            Some(s) => s.name(),
            None => "ERR!",
        }
    }

    /// `tcp_state_active()`: whether a connection in this state counts in its destination's
    /// `activeconns`. In 6.12 (`tcp_state_active_table[]`) that is every state of an opening
    /// or open connection (ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK), not ESTABLISHED alone
    /// as in older kernels.
    #[inline]
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::SynSent | TcpState::SynRecv | TcpState::SynAck
        )
    }
}

/// The flags byte of a TCP header (byte 13: CWR ECE URG ACK PSH RST SYN FIN, high to low).
/// Only RST, SYN, FIN and ACK steer the state machine; the others are kept so that a value
/// read from a packet round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No flag.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// The flags of header byte 13, all eight bits kept.
    #[inline]
    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits)
    }

    /// The flags of a TCP header that starts at `hdr[0]`, or `None` if fewer than the 20
    /// bytes of a `struct tcphdr` are there (then C's `skb_header_pointer()` fails and the
    /// packet does not touch the state).
    #[inline]
    pub fn from_header(hdr: &[u8]) -> Option<TcpFlags> {
        if hdr.len() < 20 {
            return None;
        }
        hdr.get(13).map(|&b| TcpFlags(b))
    }

    /// Header byte 13.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `tcp_state_idx()`: the flag that picks the table row. RST wins over SYN, SYN over
    /// FIN, FIN over ACK; `None` when none of the four is set.
    #[inline]
    pub const fn event(self) -> Option<Event> {
        if self.contains(TcpFlags::RST) {
            Some(Event::Rst)
        } else if self.contains(TcpFlags::SYN) {
            Some(Event::Syn)
        } else if self.contains(TcpFlags::FIN) {
            Some(Event::Fin)
        } else if self.contains(TcpFlags::ACK) {
            Some(Event::Ack)
        } else {
            None
        }
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// The row of a state table a packet selects (C's `state_idx`; rows in C's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// SYN set, RST clear (SYN+ACK is a SYN).
    Syn,
    /// FIN set, RST and SYN clear.
    Fin,
    /// ACK set, nothing else that counts.
    Ack,
    /// RST set, whatever else is.
    Rst,
}

/// Which transition table a network namespace uses (C: `pd->tcp_state_table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TableKind {
    /// `tcp_states[]`: the default.
    #[default]
    Normal,
    /// `tcp_states_dos[]`: in force while the `secure_tcp` defense is on. It keeps
    /// connections that have only seen client packets in SYN_RECV / SYNACK (short timeouts)
    /// instead of trusting a client ACK to establish them.
    Secure,
}

impl TableKind {
    /// The table after `update_defense_level()` has run: `ip_vs_protocol_timeout_change()`
    /// is called with `sysctl_secure_tcp > 1` and `tcp_timeout_change()` selects the secure
    /// table when that is true. `level` is `sysctl_secure_tcp` *after* the update (1 and 2
    /// flip with memory pressure, 3 is always on, 0 always off).
    #[inline]
    pub const fn for_secure_tcp(level: i32) -> TableKind {
        if level > 1 {
            TableKind::Secure
        } else {
            TableKind::Normal
        }
    }
}

type Table = [[[TcpState; NSTATES]; 4]; 3];

// Short names as in the C source, so the tables below read like `tcp_states[]`.
// (No transition leads to NONE, so it has no short name here.)
const ES: TcpState = TcpState::Established;
const SS: TcpState = TcpState::SynSent;
const SR: TcpState = TcpState::SynRecv;
const FW: TcpState = TcpState::FinWait;
const TW: TcpState = TcpState::TimeWait;
const CL: TcpState = TcpState::Close;
const CW: TcpState = TcpState::CloseWait;
const LA: TcpState = TcpState::LastAck;
const LI: TcpState = TcpState::Listen;
const SA: TcpState = TcpState::SynAck;

/// `tcp_states[]`, indexed `[direction][event][current state]`.
#[rustfmt::skip]
static NORMAL: Table = [
    // INPUT      NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [/* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
     /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
     /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
     /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR]],
    // OUTPUT     NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [/* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
     /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
     /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
     /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL]],
    // INPUT_ONLY NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [/* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
     /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
     /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
     /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL]],
];

/// `tcp_states_dos[]`, indexed like [`NORMAL`].
#[rustfmt::skip]
static SECURE: Table = [
    // INPUT      NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [/* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
     /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
     /* ack */ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
     /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL]],
    // OUTPUT     NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [/* syn */ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
     /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
     /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
     /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL]],
    // INPUT_ONLY NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [/* syn */ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
     /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
     /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
     /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL]],
];

/// The table lookup of `set_tcp_state()`, for a direction that is already effective (see
/// [`effective_direction`]): the state a packet with `flags` moves a connection in `current`
/// to. Flags without RST, SYN, FIN or ACK give [`TcpState::Close`], as in C.
#[inline]
pub fn next_state(
    table: TableKind,
    dir: Direction,
    flags: TcpFlags,
    current: TcpState,
) -> TcpState {
    let Some(event) = flags.event() else {
        return TcpState::Close;
    };
    let table = match table {
        TableKind::Normal => &NORMAL,
        TableKind::Secure => &SECURE,
    };
    // Every index is an enum discriminant below its array's length: no bounds can fail.
    table[dir as usize][event as usize][current as usize]
}

/// The direction whose rows `set_tcp_state()` uses, and the connection flags afterwards.
///
/// A connection flagged `IP_VS_CONN_F_NOOUTPUT` (set for every forwarding method but NAT)
/// is read with the INPUT_ONLY rows for any packet that is not output; the first output
/// packet clears the flag for good (even one that matches no row) and is read with the
/// OUTPUT rows. Without the flag the direction is used as given.
#[inline]
pub fn effective_direction(dir: Direction, conn_flags: u32) -> (Direction, u32) {
    if conn_flags & NOOUTPUT == 0 {
        (dir, conn_flags)
    } else if dir == Direction::Output {
        (Direction::Output, conn_flags & !NOOUTPUT)
    } else {
        (Direction::InputOnly, conn_flags)
    }
}

/// What a connection state change does to its destination's connection counters.
///
/// Linux 6.12 keeps only `activeconns` and `totalconns` per destination; "inactive"
/// connections are derived (`ip_vs_dest_inactconns()` = total − active). So
/// [`CounterChange::Deactivate`] decrements `activeconns` and thereby increments the
/// inactive count; [`CounterChange::active_delta`] is all that needs storing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterChange {
    /// No counter moves.
    Unchanged,
    /// Active → inactive: `atomic_dec(&dest->activeconns)`, `IP_VS_CONN_F_INACTIVE` set.
    Deactivate,
    /// Inactive → active: `atomic_inc(&dest->activeconns)`, `IP_VS_CONN_F_INACTIVE` cleared.
    Activate,
}

impl CounterChange {
    /// Change to `dest->activeconns`.
    #[inline]
    pub const fn active_delta(self) -> i32 {
        match self {
            CounterChange::Unchanged => 0,
            CounterChange::Deactivate => -1,
            CounterChange::Activate => 1,
        }
    }

    /// Change to the derived inactive count (`ip_vs_dest_inactconns()`); `totalconns` does
    /// not move, so this is always `-active_delta()`.
    #[inline]
    pub const fn inactive_delta(self) -> i32 {
        -self.active_delta()
    }
}

/// The connection fields `set_tcp_state()` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conn {
    /// `cp->state`.
    pub state: TcpState,
    /// `cp->flags` (`IP_VS_CONN_F_*`); only `NOOUTPUT` and `INACTIVE` are looked at and
    /// changed, the rest passes through.
    pub flags: u32,
    /// `cp->dest != NULL`: the connection is bound to a destination whose counters follow
    /// it. Without one, neither the counters nor `IP_VS_CONN_F_INACTIVE` change.
    pub has_dest: bool,
}

/// Everything `set_tcp_state()` does to a connection, for the data path to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// New `cp->state`.
    pub state: TcpState,
    /// New `cp->flags`.
    pub flags: u32,
    /// What to do to `cp->dest->activeconns` (always [`CounterChange::Unchanged`] without a
    /// destination).
    pub counters: CounterChange,
    /// Call `ip_vs_control_assure_ct(cp)`: the connection just became ESTABLISHED, so its
    /// controlling template (persistence) is marked assured.
    pub assure_ct: bool,
    /// New `cp->timeout`, in seconds: the timeout of the new state, re-armed on every packet
    /// even when the state does not change.
    pub timeout: u32,
}

/// `tcp_state_transition()` / `set_tcp_state()` for one packet with TCP `flags` travelling
/// in `dir` over `conn`, with the namespace's `table` and `timeouts`.
///
/// Counters change only when the state does: a connection leaving the active states
/// ([`TcpState::is_active`]) while not flagged inactive is deactivated, one entering them
/// while flagged inactive is activated. A new connection comes from `ip_vs_bind_dest()`
/// flagged inactive in [`TcpState::None`] (the destination's `conn_flags` always carry
/// `IP_VS_CONN_F_INACTIVE`), so the flag and the state agree from the start.
#[inline]
pub fn transition<T: TimeoutOf + ?Sized>(
    table: TableKind,
    timeouts: &T,
    dir: Direction,
    flags: TcpFlags,
    conn: Conn,
) -> Transition {
    let (dir, mut conn_flags) = effective_direction(dir, conn.flags);
    let state = next_state(table, dir, flags, conn.state);
    let mut counters = CounterChange::Unchanged;
    let changed = state != conn.state;
    if changed && conn.has_dest {
        let inactive = conn_flags & INACTIVE != 0;
        if !inactive && !state.is_active() {
            counters = CounterChange::Deactivate;
            conn_flags |= INACTIVE;
        } else if inactive && state.is_active() {
            counters = CounterChange::Activate;
            conn_flags &= !INACTIVE;
        }
    }
    Transition {
        state,
        flags: conn_flags,
        counters,
        assure_ct: changed && state == TcpState::Established,
        timeout: timeouts.timeout_of(state),
    }
}

/// Where [`transition`] reads the new state's timeout: a [`Timeouts`] table, or a table
/// the caller keeps in another form (the kernel module reads its namespace's live values
/// one state at a time instead of copying the whole table per packet).
pub trait TimeoutOf {
    /// The timeout of `state`, in seconds.
    fn timeout_of(&self, state: TcpState) -> u32;
}

impl TimeoutOf for Timeouts {
    #[inline]
    fn timeout_of(&self, state: TcpState) -> u32 {
        self.get(state)
    }
}

/// `tcp_conn_schedule()`'s first test: whether a packet that matches no connection may
/// create one (be scheduled). A RST never does; otherwise a SYN does, and with the
/// `sloppy_tcp` sysctl any packet does (so connections can be picked up mid-stream, e.g.
/// after a director fail-over). ICMP errors skip this test in C.
#[inline]
pub const fn starts_connection(flags: TcpFlags, sloppy_tcp: bool) -> bool {
    !flags.contains(TcpFlags::RST) && (sloppy_tcp || flags.contains(TcpFlags::SYN))
}

/// Per-state TCP timeouts in seconds (C: `pd->timeout_table`, in jiffies there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeouts([u32; NSTATES]);

impl Timeouts {
    /// `tcp_timeouts[]`.
    pub const DEFAULT: Timeouts = Timeouts([
        2,       // NONE
        15 * 60, // ESTABLISHED
        2 * 60,  // SYN_SENT
        60,      // SYN_RECV
        2 * 60,  // FIN_WAIT
        2 * 60,  // TIME_WAIT
        10,      // CLOSE
        60,      // CLOSE_WAIT
        30,      // LAST_ACK
        2 * 60,  // LISTEN
        120,     // SYNACK
    ]);

    /// The timeout of `state`.
    #[inline]
    pub const fn get(&self, state: TcpState) -> u32 {
        self.0[state as usize]
    }

    /// Sets the timeout of `state` (C changes only ESTABLISHED and FIN_WAIT, through
    /// [`super::TimeoutTables::apply_set`]).
    #[inline]
    pub fn set(&mut self, state: TcpState, secs: u32) {
        self.0[state as usize] = secs;
    }
}

impl Default for Timeouts {
    #[inline]
    fn default() -> Self {
        Timeouts::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    const DR: u32 = crate::netlink::ipvs::conn_flags::DROUTE;

    #[test]
    fn names_and_c_values() {
        let names = [
            "NONE",
            "ESTABLISHED",
            "SYN_SENT",
            "SYN_RECV",
            "FIN_WAIT",
            "TIME_WAIT",
            "CLOSE",
            "CLOSE_WAIT",
            "LAST_ACK",
            "LISTEN",
            "SYNACK",
        ];
        for (i, s) in TcpState::ALL.into_iter().enumerate() {
            assert_eq!(s.as_c(), i as u32);
            assert_eq!(TcpState::from_c(i as u32), Some(s));
            assert_eq!(s.name(), names[i]);
            assert_eq!(TcpState::c_name(i as u32), names[i]);
        }
        assert_eq!(TcpState::from_c(11), None);
        assert_eq!(TcpState::c_name(11), "ERR!");
        assert_eq!(TcpState::c_name(u32::MAX), "ERR!");
    }

    #[test]
    fn default_timeouts_are_cs() {
        let want = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
        for (s, w) in TcpState::ALL.into_iter().zip(want) {
            assert_eq!(Timeouts::DEFAULT.get(s), w, "{s:?}");
            assert_eq!(Timeouts::default().get(s), w, "{s:?}");
        }
    }

    #[test]
    fn flag_priority() {
        use TcpFlags as F;
        assert_eq!(F::NONE.event(), None);
        assert_eq!((F::PSH | F::URG | F::ECE | F::CWR).event(), None);
        assert_eq!((F::SYN | F::ACK).event(), Some(Event::Syn));
        assert_eq!((F::FIN | F::ACK).event(), Some(Event::Fin));
        assert_eq!((F::SYN | F::FIN).event(), Some(Event::Syn));
        assert_eq!(
            (F::RST | F::SYN | F::FIN | F::ACK).event(),
            Some(Event::Rst)
        );
        assert_eq!((F::ACK | F::PSH).event(), Some(Event::Ack));
        let mut hdr = [0u8; 20];
        hdr[13] = 0x12;
        assert_eq!(TcpFlags::from_header(&hdr), Some(F::SYN | F::ACK));
        assert_eq!(TcpFlags::from_header(&hdr[..19]), None);
        assert_eq!(TcpFlags::from_header(&[]), None);
    }

    #[test]
    fn flagless_packet_closes() {
        for s in TcpState::ALL {
            for d in Direction::ALL {
                assert_eq!(
                    next_state(TableKind::Normal, d, TcpFlags::PSH, s),
                    TcpState::Close
                );
            }
        }
    }

    #[test]
    fn nat_handshake_and_close() {
        let t = Timeouts::DEFAULT;
        let mut c = Conn {
            state: TcpState::None,
            flags: INACTIVE,
            has_dest: true,
        };
        let mut active = 0;
        let steps = [
            (Direction::Input, TcpFlags::SYN, TcpState::SynRecv, 1),
            (
                Direction::Output,
                TcpFlags::SYN | TcpFlags::ACK,
                TcpState::SynRecv,
                0,
            ),
            (Direction::Input, TcpFlags::ACK, TcpState::Established, 0),
            (
                Direction::Input,
                TcpFlags::FIN | TcpFlags::ACK,
                TcpState::CloseWait,
                -1,
            ),
            (
                Direction::Output,
                TcpFlags::FIN | TcpFlags::ACK,
                TcpState::TimeWait,
                0,
            ),
            (Direction::Input, TcpFlags::ACK, TcpState::TimeWait, 0),
        ];
        for (d, f, want, delta) in steps {
            let tr = transition(TableKind::Normal, &t, d, f, c);
            assert_eq!(
                (tr.state, tr.counters.active_delta()),
                (want, delta),
                "{d:?} {f:?} from {:?}",
                c.state
            );
            assert_eq!(tr.timeout, t.get(want));
            assert_eq!(tr.flags & INACTIVE != 0, !want.is_active());
            active += tr.counters.active_delta();
            c = Conn {
                state: tr.state,
                flags: tr.flags,
                ..c
            };
        }
        assert_eq!(active, 0);
    }

    #[test]
    fn direct_routing_uses_input_only_until_output() {
        let t = Timeouts::DEFAULT;
        let flags = DR | NOOUTPUT | INACTIVE;
        let est = Conn {
            state: TcpState::Established,
            flags: flags & !INACTIVE,
            has_dest: true,
        };
        // A client FIN on an input-only connection: FIN_WAIT, not CLOSE_WAIT.
        let tr = transition(TableKind::Normal, &t, Direction::Input, TcpFlags::FIN, est);
        assert_eq!(tr.state, TcpState::FinWait);
        assert_eq!(tr.flags, flags, "NOOUTPUT stays, INACTIVE is set");
        // The first reply clears NOOUTPUT, even when it selects no row.
        let tr = transition(TableKind::Normal, &t, Direction::Output, TcpFlags::PSH, est);
        assert_eq!(tr.flags & NOOUTPUT, 0);
        assert_eq!(tr.state, TcpState::Close);
        assert_eq!(
            effective_direction(Direction::InputOnly, 0),
            (Direction::InputOnly, 0)
        );
        assert_eq!(
            effective_direction(Direction::Input, NOOUTPUT),
            (Direction::InputOnly, NOOUTPUT)
        );
    }

    #[test]
    fn no_dest_no_counters() {
        let c = Conn {
            state: TcpState::None,
            flags: INACTIVE,
            has_dest: false,
        };
        let tr = transition(
            TableKind::Normal,
            &Timeouts::DEFAULT,
            Direction::Input,
            TcpFlags::SYN,
            c,
        );
        assert_eq!(tr.state, TcpState::SynRecv);
        assert_eq!(tr.counters, CounterChange::Unchanged);
        assert_eq!(tr.flags, INACTIVE);
    }

    #[test]
    fn assure_only_on_change_to_established() {
        let t = Timeouts::DEFAULT;
        let c = Conn {
            state: TcpState::SynRecv,
            flags: 0,
            has_dest: true,
        };
        assert!(transition(TableKind::Normal, &t, Direction::Input, TcpFlags::ACK, c).assure_ct);
        let c = Conn {
            state: TcpState::Established,
            ..c
        };
        assert!(!transition(TableKind::Normal, &t, Direction::Input, TcpFlags::ACK, c).assure_ct);
    }

    #[test]
    fn sloppy_tcp() {
        for b in 0..=255u8 {
            let f = TcpFlags::from_bits(b);
            let rst = b & 0x04 != 0;
            let syn = b & 0x02 != 0;
            assert_eq!(starts_connection(f, false), !rst && syn, "{b:#x}");
            assert_eq!(starts_connection(f, true), !rst, "{b:#x}");
        }
    }

    #[test]
    fn secure_tcp_level() {
        assert_eq!(TableKind::for_secure_tcp(0), TableKind::Normal);
        assert_eq!(TableKind::for_secure_tcp(1), TableKind::Normal);
        assert_eq!(TableKind::for_secure_tcp(2), TableKind::Secure);
        assert_eq!(TableKind::for_secure_tcp(3), TableKind::Secure);
        assert_eq!(TableKind::for_secure_tcp(-1), TableKind::Normal);
        assert_eq!(TableKind::default(), TableKind::Normal);
    }

    fn state() -> impl Strategy<Value = TcpState> {
        (0usize..NSTATES).prop_map(|i| TcpState::ALL[i])
    }
    fn dir() -> impl Strategy<Value = Direction> {
        (0usize..3).prop_map(|i| Direction::ALL[i])
    }
    fn table() -> impl Strategy<Value = TableKind> {
        any::<bool>().prop_map(|s| {
            if s {
                TableKind::Secure
            } else {
                TableKind::Normal
            }
        })
    }

    /// One destination, many connections, random packets: `activeconns` as C keeps it.
    #[derive(Debug, Clone)]
    enum Op {
        /// `ip_vs_conn_new()` + `ip_vs_bind_dest()`: state NONE, dest's conn_flags.
        New { dr: bool },
        /// A packet on connection `i % live`.
        Packet { i: usize, dir: Direction, flags: u8 },
        /// `ip_vs_unbind_dest()` on expiry.
        Expire { i: usize },
        /// A namespace switching tables (secure_tcp defense toggling).
        Table(TableKind),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => any::<bool>().prop_map(|dr| Op::New { dr }),
            12 => (any::<usize>(), dir(), any::<u8>()).prop_map(|(i, dir, flags)| Op::Packet { i, dir, flags }),
            12 => (any::<usize>(), dir(), prop::sample::select(std::vec![0x02u8, 0x12, 0x10, 0x11, 0x04, 0x14, 0x01, 0x18, 0x00]))
                .prop_map(|(i, dir, flags)| Op::Packet { i, dir, flags }),
            2 => any::<usize>().prop_map(|i| Op::Expire { i }),
            1 => table().prop_map(Op::Table),
        ]
    }

    proptest! {
        #[test]
        fn counters_stay_consistent(ops in proptest::collection::vec(op(), 1..300)) {
            let timeouts = Timeouts::DEFAULT;
            let mut kind = TableKind::Normal;
            let mut conns: Vec<Conn> = Vec::new();
            let (mut active, mut total) = (0i32, 0i32);
            for op in ops {
                match op {
                    Op::New { dr } => {
                        let flags = if dr { DR | NOOUTPUT | INACTIVE } else { INACTIVE };
                        conns.push(Conn { state: TcpState::None, flags, has_dest: true });
                        total += 1;
                    }
                    Op::Packet { i, dir, flags } => {
                        if conns.is_empty() { continue; }
                        let k = i % conns.len();
                        let c = conns[k];
                        let tr = transition(kind, &timeouts, dir, TcpFlags::from_bits(flags), c);
                        prop_assert_eq!(tr.state, next_state(kind, effective_direction(dir, c.flags).0, TcpFlags::from_bits(flags), c.state));
                        prop_assert_eq!(tr.timeout, timeouts.get(tr.state));
                        prop_assert_eq!(tr.flags & !(INACTIVE | NOOUTPUT), c.flags & !(INACTIVE | NOOUTPUT));
                        prop_assert!(tr.flags & NOOUTPUT <= c.flags & NOOUTPUT, "NOOUTPUT is never set");
                        active += tr.counters.active_delta();
                        conns[k] = Conn { state: tr.state, flags: tr.flags, ..c };
                    }
                    Op::Expire { i } => {
                        if conns.is_empty() { continue; }
                        let c = conns.swap_remove(i % conns.len());
                        if c.flags & INACTIVE == 0 { active -= 1; }
                        total -= 1;
                    }
                    Op::Table(k) => kind = k,
                }
                // Invariants: counters match the connections, the flag matches the state.
                let live_active = conns.iter().filter(|c| c.flags & INACTIVE == 0).count() as i32;
                prop_assert!(active >= 0);
                prop_assert!(total - active >= 0);
                prop_assert_eq!(active, live_active);
                prop_assert_eq!(total, conns.len() as i32);
                prop_assert_eq!(active + (total - active), conns.len() as i32);
                for c in &conns {
                    prop_assert_eq!(c.flags & INACTIVE == 0, c.state.is_active(), "{:?}", c);
                }
            }
        }

        #[test]
        fn pure_and_total(t in table(), d in dir(), f in any::<u8>(), s in state(), cf in any::<u32>(), dest in any::<bool>()) {
            // Never panics, always lands on a valid state, ignores non-steering flag bits.
            let flags = TcpFlags::from_bits(f);
            let steering = TcpFlags::from_bits(f & 0x17);
            prop_assert_eq!(next_state(t, d, flags, s), next_state(t, d, steering, s));
            let c = Conn { state: s, flags: cf, has_dest: dest };
            let tr = transition(t, &Timeouts::DEFAULT, d, flags, c);
            prop_assert_eq!(tr, transition(t, &Timeouts::DEFAULT, d, flags, c));
            prop_assert!(TcpState::from_c(tr.state.as_c()).is_some());
            if tr.state == s {
                prop_assert_eq!(tr.counters, CounterChange::Unchanged);
                prop_assert!(!tr.assure_ct);
            }
        }
    }
}
