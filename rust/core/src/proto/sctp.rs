//! The SCTP state machine of IPVS: states, the chunk → event mapping, the transition tables,
//! activity accounting, per-state timeouts, and which packets may create a connection.
//!
//! C source: `net/netfilter/ipvs/ip_vs_proto_sctp.c` (Linux 6.12): `sctp_events[]`,
//! `sctp_states[]`, `set_sctp_state()`, `sctp_timeouts[]`, `sctp_state_name_table[]`,
//! `sctp_state_name()`, `sctp_conn_schedule()`; states from `include/net/ip_vs.h`
//! (`IP_VS_SCTP_S_*`), chunk types from `include/linux/sctp.h` (`SCTP_CID_*`).
//!
//! As for TCP, IPVS does not track SCTP: it guesses the association's state from the
//! packets it forwards, one table lookup per packet, keyed by
//!
//! * the direction, after [`effective_direction`] has folded in `IP_VS_CONN_F_NOOUTPUT`
//!   (the same rule as TCP's);
//! * the [`Event`] of the packet: the type of its *first* chunk, mapped by
//!   [`Event::of_chunk_type`] (unknown types count as DATA), except that a COOKIE ECHO or
//!   COOKIE ACK immediately followed by an ABORT counts as the ABORT ([`packet_event`]);
//! * the current state.
//!
//! There is one table (no secure variant) and nothing user space can tune: `ipvsadm --set`
//! changes TCP and UDP timeouts only. Unlike TCP, only ESTABLISHED counts as active.
//!
//! [`transition`] is all of `set_sctp_state()`: the new state, the connection's new flags,
//! the change to its destination's `activeconns`, whether to assure the controlling
//! template, and the timeout to arm.

pub use super::tcp::{effective_direction, CounterChange};
pub use super::Direction;
use crate::netlink::ipvs::conn_flags::INACTIVE;
use crate::wire::packet::read_array;
use crate::wire::sctp::{chunk_type, CHUNK_HEADER_LEN, HEADER_LEN};
use crate::wire::PacketRead;

/// An SCTP connection state (`IP_VS_SCTP_S_*`), as seen from the real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SctpState {
    /// `IP_VS_SCTP_S_NONE`: a connection that has seen no packet yet (or only its creator).
    None,
    /// `IP_VS_SCTP_S_INIT1`: the client's first INIT was forwarded (short timeout: an INIT
    /// the server drops does not hold the entry long).
    Init1,
    /// `IP_VS_SCTP_S_INIT`: a further client INIT was forwarded.
    Init,
    /// `IP_VS_SCTP_S_COOKIE_SENT`: the server answered with INIT ACK.
    CookieSent,
    /// `IP_VS_SCTP_S_COOKIE_REPLIED`: the client sent COOKIE ECHO.
    CookieReplied,
    /// `IP_VS_SCTP_S_COOKIE_WAIT`: the server sent an INIT (association opened by the
    /// server side).
    CookieWait,
    /// `IP_VS_SCTP_S_COOKIE`: the client answered the server's INIT with INIT ACK.
    Cookie,
    /// `IP_VS_SCTP_S_COOKIE_ECHOED`: the server sent COOKIE ECHO.
    CookieEchoed,
    /// `IP_VS_SCTP_S_ESTABLISHED`.
    Established,
    /// `IP_VS_SCTP_S_SHUTDOWN_SENT`: the server sent SHUTDOWN.
    ShutdownSent,
    /// `IP_VS_SCTP_S_SHUTDOWN_RECEIVED`: the client sent SHUTDOWN.
    ShutdownReceived,
    /// `IP_VS_SCTP_S_SHUTDOWN_ACK_SENT`: the server sent SHUTDOWN ACK.
    ShutdownAckSent,
    /// `IP_VS_SCTP_S_REJECTED`: an INIT was answered with ABORT (short timeout).
    Rejected,
    /// `IP_VS_SCTP_S_CLOSED`.
    Closed,
}

/// Number of SCTP states (`IP_VS_SCTP_S_LAST`).
const NSTATES: usize = 14;

impl SctpState {
    /// All states, in C's numbering order (`ALL[i].as_c() == i`).
    pub const ALL: [SctpState; NSTATES] = [
        SctpState::None,
        SctpState::Init1,
        SctpState::Init,
        SctpState::CookieSent,
        SctpState::CookieReplied,
        SctpState::CookieWait,
        SctpState::Cookie,
        SctpState::CookieEchoed,
        SctpState::Established,
        SctpState::ShutdownSent,
        SctpState::ShutdownReceived,
        SctpState::ShutdownAckSent,
        SctpState::Rejected,
        SctpState::Closed,
    ];

    /// The state for a C `IP_VS_SCTP_S_*` value (`cp->state`).
    pub const fn from_c(state: u32) -> Option<SctpState> {
        match state {
            0 => Some(SctpState::None),
            1 => Some(SctpState::Init1),
            2 => Some(SctpState::Init),
            3 => Some(SctpState::CookieSent),
            4 => Some(SctpState::CookieReplied),
            5 => Some(SctpState::CookieWait),
            6 => Some(SctpState::Cookie),
            7 => Some(SctpState::CookieEchoed),
            8 => Some(SctpState::Established),
            9 => Some(SctpState::ShutdownSent),
            10 => Some(SctpState::ShutdownReceived),
            11 => Some(SctpState::ShutdownAckSent),
            12 => Some(SctpState::Rejected),
            13 => Some(SctpState::Closed),
            _ => None,
        }
    }

    /// The C `IP_VS_SCTP_S_*` value.
    pub const fn as_c(self) -> u32 {
        self as u32
    }

    /// The name `/proc/net/ip_vs_conn` and `ipvsadm -L -c` print
    /// (`sctp_state_name_table[]`).
    pub const fn name(self) -> &'static str {
        match self {
            SctpState::None => "NONE",
            SctpState::Init1 => "INIT1",
            SctpState::Init => "INIT",
            SctpState::CookieSent => "C-SENT",
            SctpState::CookieReplied => "C-REPLIED",
            SctpState::CookieWait => "C-WAIT",
            SctpState::Cookie => "COOKIE",
            SctpState::CookieEchoed => "C-ECHOED",
            SctpState::Established => "ESTABLISHED",
            SctpState::ShutdownSent => "S-SENT",
            SctpState::ShutdownReceived => "S-RECEIVED",
            SctpState::ShutdownAckSent => "S-ACK-SENT",
            SctpState::Rejected => "REJECTED",
            SctpState::Closed => "CLOSED",
        }
    }

    /// `sctp_state_name()` of a raw `cp->state`: the state's name, or `"ERR!"` from
    /// `IP_VS_SCTP_S_LAST` on. (The table has no holes, so C's `"?"` never shows, and its
    /// `"BUG!"` entry for `IP_VS_SCTP_S_LAST` is unreachable behind the `>=` test.)
    pub const fn c_name(state: u32) -> &'static str {
        match SctpState::from_c(state) {
            Some(s) => s.name(),
            None => "ERR!",
        }
    }

    /// Whether a connection in this state counts in its destination's `activeconns`:
    /// ESTABLISHED only (`set_sctp_state()` compares with `IP_VS_SCTP_S_ESTABLISHED`; SCTP
    /// has no `state_active` table).
    pub const fn is_active(self) -> bool {
        matches!(self, SctpState::Established)
    }
}

/// The row of the state table a packet selects (C's `enum ipvs_sctp_event_t`; rows in C's
/// order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// `IP_VS_SCTP_DATA`: DATA, SACK, HEARTBEAT, HEARTBEAT ACK, ECNE, CWR and every chunk
    /// type C does not list (AUTH, I-DATA, FORWARD TSN, ASCONF, RE-CONFIG, PAD, ...).
    Data,
    /// `IP_VS_SCTP_INIT`.
    Init,
    /// `IP_VS_SCTP_INIT_ACK`.
    InitAck,
    /// `IP_VS_SCTP_COOKIE_ECHO`.
    CookieEcho,
    /// `IP_VS_SCTP_COOKIE_ACK`.
    CookieAck,
    /// `IP_VS_SCTP_SHUTDOWN`.
    Shutdown,
    /// `IP_VS_SCTP_SHUTDOWN_ACK`.
    ShutdownAck,
    /// `IP_VS_SCTP_SHUTDOWN_COMPLETE`.
    ShutdownComplete,
    /// `IP_VS_SCTP_ERROR`.
    Error,
    /// `IP_VS_SCTP_ABORT`.
    Abort,
}

/// Number of events (`IP_VS_SCTP_EVENT_LAST`).
const NEVENTS: usize = 10;

impl Event {
    /// All events, in C's order.
    pub const ALL: [Event; NEVENTS] = [
        Event::Data,
        Event::Init,
        Event::InitAck,
        Event::CookieEcho,
        Event::CookieAck,
        Event::Shutdown,
        Event::ShutdownAck,
        Event::ShutdownComplete,
        Event::Error,
        Event::Abort,
    ];

    /// `sctp_events[]`, and `IP_VS_SCTP_DATA` for a chunk type past its end
    /// (`chunk_type < sizeof(sctp_events) ? sctp_events[chunk_type] : IP_VS_SCTP_DATA`).
    pub const fn of_chunk_type(t: u8) -> Event {
        match t {
            chunk_type::INIT => Event::Init,
            chunk_type::INIT_ACK => Event::InitAck,
            chunk_type::ABORT => Event::Abort,
            chunk_type::SHUTDOWN => Event::Shutdown,
            chunk_type::SHUTDOWN_ACK => Event::ShutdownAck,
            chunk_type::ERROR => Event::Error,
            chunk_type::COOKIE_ECHO => Event::CookieEcho,
            chunk_type::COOKIE_ACK => Event::CookieAck,
            chunk_type::SHUTDOWN_COMPLETE => Event::ShutdownComplete,
            // DATA, SACK, HEARTBEAT, HEARTBEAT_ACK, ECN_ECNE, ECN_CWR, and the rest.
            _ => Event::Data,
        }
    }
}

/// The packet reading of `set_sctp_state()`: the event of the SCTP packet whose common
/// header starts at `l4_off` (C's `iph_len`), or `None` when the first chunk header is not
/// in the packet (`skb_header_pointer()` fails: the connection is left alone, flags,
/// state and timeout included).
///
/// The event is that of the first chunk's type, except for a first chunk COOKIE ECHO or
/// COOKIE ACK whose length field is at least 4: then the chunk header at the next
/// 4-aligned offset (`cofs + ALIGN(clen, 4)`) is read too, and if it is there and an ABORT,
/// the packet counts as an ABORT. No other bundling is looked at (a DATA chunk followed by
/// an ABORT is DATA), and the chunk lengths are not checked against the packet.
pub fn packet_event<P: PacketRead + ?Sized>(pkt: &P, l4_off: usize) -> Option<Event> {
    let cofs = l4_off.checked_add(HEADER_LEN)?;
    let first: [u8; CHUNK_HEADER_LEN] = read_array(pkt, cofs)?;
    let [mut t, _flags, l0, l1] = first;
    if t == chunk_type::COOKIE_ECHO || t == chunk_type::COOKIE_ACK {
        let clen = usize::from(u16::from_be_bytes([l0, l1]));
        if clen >= CHUNK_HEADER_LEN {
            // ALIGN(clen, 4): at most 65536, and cofs + that cannot overflow a packet
            // offset that read_array accepted (checked_add anyway).
            let next = cofs.checked_add((clen + 3) & !3);
            if let Some([next_type, ..]) =
                next.and_then(|at| read_array::<P, CHUNK_HEADER_LEN>(pkt, at))
            {
                if next_type == chunk_type::ABORT {
                    t = next_type;
                }
            }
        }
    }
    Some(Event::of_chunk_type(t))
}

/// The type of the first chunk of the SCTP packet at `l4_off`, as `sctp_conn_schedule()`
/// and `is_new_conn()` read it: `None` unless the 12-byte common header and the 4-byte
/// chunk header after it are both in the packet.
pub fn first_chunk_type<P: PacketRead + ?Sized>(pkt: &P, l4_off: usize) -> Option<u8> {
    let at = l4_off.checked_add(HEADER_LEN)?;
    let [t, ..] = read_array::<P, CHUNK_HEADER_LEN>(pkt, at)?;
    Some(t)
}

/// `is_sctp_abort()` (`ip_vs_core.c`): whether the first chunk of the SCTP packet at
/// `l4_off` is an ABORT. `ip_vs_out_hook()` uses it with `nat_icmp_send`: a packet from a
/// real server that matches no connection gets an ICMP port unreachable unless it is a TCP
/// RST or an SCTP ABORT. (No COOKIE look-ahead here, unlike [`packet_event`].)
pub fn is_abort<P: PacketRead + ?Sized>(pkt: &P, l4_off: usize) -> bool {
    first_chunk_type(pkt, l4_off) == Some(chunk_type::ABORT)
}

type Table = [[[SctpState; NSTATES]; NEVENTS]; 3];

// Short names as in the C source, so the table below reads like `sctp_states[]`.
// (No transition leads to NONE, so it has no short name here.)
const I1: SctpState = SctpState::Init1;
const IN: SctpState = SctpState::Init;
const CS: SctpState = SctpState::CookieSent;
const CR: SctpState = SctpState::CookieReplied;
const CW: SctpState = SctpState::CookieWait;
const CO: SctpState = SctpState::Cookie;
const CE: SctpState = SctpState::CookieEchoed;
const ES: SctpState = SctpState::Established;
const SS: SctpState = SctpState::ShutdownSent;
const SR: SctpState = SctpState::ShutdownReceived;
const SA: SctpState = SctpState::ShutdownAckSent;
const RJ: SctpState = SctpState::Rejected;
const CL: SctpState = SctpState::Closed;

/// `sctp_states[]`, indexed `[direction][event][current state]`.
#[rustfmt::skip]
static STATES: Table = [
    // INPUT      NO  I1  IN  CS  CR  CW  CO  CE  ES  SS  SR  SA  RJ  CL
    [/* d   */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* i   */ [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
     /* i_a */ [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_e */ [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_a */ [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
     /* s   */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
     /* s_a */ [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
     /* s_c */ [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
     /* err */ [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
     /* ab  */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL]],
    // OUTPUT     NO  I1  IN  CS  CR  CW  CO  CE  ES  SS  SR  SA  RJ  CL
    [/* d   */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* i   */ [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
     /* i_a */ [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_e */ [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
     /* c_a */ [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
     /* s   */ [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
     /* s_a */ [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
     /* s_c */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* err */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* ab  */ [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL]],
    // INPUT_ONLY NO  I1  IN  CS  CR  CW  CO  CE  ES  SS  SR  SA  RJ  CL
    [/* d   */ [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* i   */ [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
     /* i_a */ [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_e */ [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_a */ [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
     /* s   */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
     /* s_a */ [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
     /* s_c */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
     /* err */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* ab  */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL]],
];

/// The table lookup of `set_sctp_state()`, for a direction that is already effective (see
/// [`effective_direction`]): the state a packet of `event` moves a connection in
/// `current` to.
pub fn next_state(dir: Direction, event: Event, current: SctpState) -> SctpState {
    // Every index is an enum discriminant below its array's length: no bounds can fail.
    STATES[dir as usize][event as usize][current as usize]
}

/// The connection fields `set_sctp_state()` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conn {
    /// `cp->state`.
    pub state: SctpState,
    /// `cp->flags` (`IP_VS_CONN_F_*`); only `NOOUTPUT` and `INACTIVE` are looked at and
    /// changed, the rest passes through.
    pub flags: u32,
    /// `cp->dest != NULL`: the connection is bound to a destination whose counters follow
    /// it. Without one, neither the counters nor `IP_VS_CONN_F_INACTIVE` change.
    pub has_dest: bool,
}

/// Everything `set_sctp_state()` does to a connection, for the data path to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// New `cp->state`.
    pub state: SctpState,
    /// New `cp->flags`.
    pub flags: u32,
    /// What to do to `cp->dest->activeconns` (always [`CounterChange::Unchanged`] without a
    /// destination).
    pub counters: CounterChange,
    /// Call `ip_vs_control_assure_ct(cp)`: the connection just became ESTABLISHED.
    pub assure_ct: bool,
    /// New `cp->timeout`, in seconds: the timeout of the new state, re-armed on every packet
    /// even when the state does not change.
    pub timeout: u32,
}

/// `sctp_state_transition()` / `set_sctp_state()` for one packet of `event` (see
/// [`packet_event`]; a packet without one leaves the connection alone) travelling in `dir`
/// over `conn`, with the namespace's `timeouts`.
///
/// Counters change only when the state does: a connection leaving ESTABLISHED while not
/// flagged inactive is deactivated, one entering it while flagged inactive is activated.
/// Note that C's test is "not flagged inactive and the new state is not ESTABLISHED", so a
/// connection created active (it never is: destinations' `conn_flags` carry
/// `IP_VS_CONN_F_INACTIVE`) would be deactivated by any state change.
pub fn transition(timeouts: &Timeouts, dir: Direction, event: Event, conn: Conn) -> Transition {
    let (dir, mut conn_flags) = effective_direction(dir, conn.flags);
    let state = next_state(dir, event, conn.state);
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
        assure_ct: changed && state == SctpState::Established,
        timeout: timeouts.get(state),
    }
}

/// `sctp_conn_schedule()`'s first test for a packet that is not an ICMP error: whether a
/// packet whose first chunk has type `first_chunk` may create a connection. An ABORT never
/// does; otherwise an INIT does, and with the `sloppy_sctp` sysctl any chunk does.
pub const fn starts_connection(first_chunk: u8, sloppy_sctp: bool) -> bool {
    first_chunk != chunk_type::ABORT && (sloppy_sctp || first_chunk == chunk_type::INIT)
}

/// What `sctp_conn_schedule()` does with a packet that matched no connection, before the
/// service lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleCheck {
    /// `*verdict = NF_DROP; return 0;`: the headers C needs are not in the packet.
    Drop,
    /// `return 1;` (`NF_ACCEPT`) without looking for a service: the packet may not create a
    /// connection ([`starts_connection`] is false).
    Accept,
    /// Look up the service and schedule (then as for TCP: no service is `NF_ACCEPT`, an
    /// overloaded director drops, ...).
    Lookup,
}

/// `sctp_conn_schedule()` up to the service lookup. `first_chunk` is
/// [`first_chunk_type`] of the packet, `icmp` is C's `ip_vs_iph_icmp(iph)` (the packet is
/// the one quoted in an ICMP error, with `schedule_icmp`) and `ports_present` whether the
/// four port bytes are in the packet (only read in the ICMP case).
///
/// Unlike TCP, a packet cut short is *dropped*, not accepted: C leaves `ports` NULL when
/// either the common header or the first chunk header is missing, and that path sets
/// `NF_DROP`. A 12-byte SCTP packet without any chunk is therefore dropped.
pub const fn schedule_check(
    first_chunk: Option<u8>,
    icmp: bool,
    ports_present: bool,
    sloppy_sctp: bool,
) -> ScheduleCheck {
    if icmp {
        return if ports_present {
            ScheduleCheck::Lookup
        } else {
            ScheduleCheck::Drop
        };
    }
    match first_chunk {
        None => ScheduleCheck::Drop,
        Some(t) if starts_connection(t, sloppy_sctp) => ScheduleCheck::Lookup,
        Some(_) => ScheduleCheck::Accept,
    }
}

/// Per-state SCTP timeouts in seconds (C: `pd->timeout_table`, in jiffies there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeouts([u32; NSTATES]);

/// `IP_VS_SCTP_MAX_RTO` in seconds: `(60 + 1) * HZ`.
const MAX_RTO: u32 = 60 + 1;

impl Timeouts {
    /// `sctp_timeouts[]`.
    pub const DEFAULT: Timeouts = Timeouts([
        2,       // NONE
        3 + 1,   // INIT1
        MAX_RTO, // INIT
        MAX_RTO, // COOKIE_SENT
        MAX_RTO, // COOKIE_REPLIED
        MAX_RTO, // COOKIE_WAIT
        MAX_RTO, // COOKIE
        MAX_RTO, // COOKIE_ECHOED
        15 * 60, // ESTABLISHED
        MAX_RTO, // SHUTDOWN_SENT
        MAX_RTO, // SHUTDOWN_RECEIVED
        MAX_RTO, // SHUTDOWN_ACK_SENT
        3 + 1,   // REJECTED
        MAX_RTO, // CLOSED
    ]);

    /// The timeout of `state`.
    pub const fn get(&self, state: SctpState) -> u32 {
        self.0[state as usize]
    }

    /// Sets the timeout of `state`. (Nothing in C 6.12 changes SCTP timeouts after
    /// `__ip_vs_sctp_init()` copied the defaults; this is for tests and a future knob.)
    pub fn set(&mut self, state: SctpState, secs: u32) {
        self.0[state as usize] = secs;
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::ipvs::conn_flags::{DROUTE, NOOUTPUT};
    use proptest::prelude::*;
    use std::vec::Vec;

    /// A 16-byte packet from the SCTP header on: common header, one chunk header.
    fn one_chunk(t: u8, len: u16) -> [u8; 16] {
        let mut p = [0u8; 16];
        p[12] = t;
        p[14..16].copy_from_slice(&len.to_be_bytes());
        p
    }

    #[test]
    fn names_and_c_values() {
        let names = [
            "NONE",
            "INIT1",
            "INIT",
            "C-SENT",
            "C-REPLIED",
            "C-WAIT",
            "COOKIE",
            "C-ECHOED",
            "ESTABLISHED",
            "S-SENT",
            "S-RECEIVED",
            "S-ACK-SENT",
            "REJECTED",
            "CLOSED",
        ];
        for (i, s) in SctpState::ALL.into_iter().enumerate() {
            assert_eq!(s.as_c(), i as u32);
            assert_eq!(SctpState::from_c(i as u32), Some(s));
            assert_eq!(s.name(), names[i]);
            assert_eq!(SctpState::c_name(i as u32), names[i]);
            assert_eq!(s.is_active(), s == SctpState::Established);
        }
        assert_eq!(SctpState::from_c(14), None);
        assert_eq!(SctpState::c_name(14), "ERR!");
        assert_eq!(SctpState::c_name(u32::MAX), "ERR!");
        for (i, e) in Event::ALL.into_iter().enumerate() {
            assert_eq!(e as usize, i);
        }
    }

    #[test]
    fn default_timeouts_are_cs() {
        let want = [2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61];
        for (s, w) in SctpState::ALL.into_iter().zip(want) {
            assert_eq!(Timeouts::DEFAULT.get(s), w, "{s:?}");
            assert_eq!(Timeouts::default().get(s), w, "{s:?}");
        }
    }

    #[test]
    fn chunk_events() {
        let want = [
            (0, Event::Data),
            (1, Event::Init),
            (2, Event::InitAck),
            (3, Event::Data),
            (4, Event::Data),
            (5, Event::Data),
            (6, Event::Abort),
            (7, Event::Shutdown),
            (8, Event::ShutdownAck),
            (9, Event::Error),
            (10, Event::CookieEcho),
            (11, Event::CookieAck),
            (12, Event::Data),
            (13, Event::Data),
            (14, Event::ShutdownComplete),
            (15, Event::Data),
            (0x40, Event::Data),
            (0xc1, Event::Data),
            (0xff, Event::Data),
        ];
        for (t, e) in want {
            assert_eq!(Event::of_chunk_type(t), e, "{t}");
            assert_eq!(packet_event(&one_chunk(t, 4)[..], 0), Some(e), "{t}");
        }
    }

    #[test]
    fn abort_bundled_after_cookie_chunks() {
        // COOKIE ECHO of length 5 (padded to 8), then ABORT.
        let mut p = Vec::from(one_chunk(chunk_type::COOKIE_ECHO, 5));
        p.extend([0, 0, 0, 0, chunk_type::ABORT, 0, 0, 4]);
        assert_eq!(packet_event(&p[..], 0), Some(Event::Abort));
        // Behind a 20-byte network header.
        let mut q = std::vec![0u8; 20];
        q.extend(&p);
        assert_eq!(packet_event(&q[..], 20), Some(Event::Abort));
        // The ABORT's header cut short: the COOKIE ECHO counts.
        assert_eq!(packet_event(&p[..23], 0), Some(Event::CookieEcho));
        // A length below 4 does not look further.
        p[14..16].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(packet_event(&p[..], 0), Some(Event::CookieEcho));
        // COOKIE ACK (length 4) then ABORT.
        let mut a = Vec::from(one_chunk(chunk_type::COOKIE_ACK, 4));
        a.extend([chunk_type::ABORT, 1, 0, 4]);
        assert_eq!(packet_event(&a[..], 0), Some(Event::Abort));
        // DATA then ABORT: DATA (C looks behind the cookie chunks only).
        a[12] = chunk_type::DATA;
        assert_eq!(packet_event(&a[..], 0), Some(Event::Data));
        // No chunk header: no event.
        assert_eq!(packet_event(&a[..15], 0), None);
        assert_eq!(packet_event(&a[..], usize::MAX - 3), None);
        assert_eq!(first_chunk_type(&a[..16], 0), Some(chunk_type::DATA));
        assert_eq!(first_chunk_type(&a[..15], 0), None);
        assert_eq!(first_chunk_type(&a[..], usize::MAX), None);
        assert!(!is_abort(&a[..], 0));
        assert!(is_abort(&one_chunk(chunk_type::ABORT, 4)[..], 0));
        assert!(!is_abort(&one_chunk(chunk_type::ABORT, 4)[..15], 0));
        // A COOKIE ACK + ABORT is an ABORT to the state machine, not to is_sctp_abort().
        let mut ca = Vec::from(one_chunk(chunk_type::COOKIE_ACK, 4));
        ca.extend([chunk_type::ABORT, 0, 0, 4]);
        assert!(!is_abort(&ca[..], 0));
    }

    #[test]
    fn nat_association_and_shutdown() {
        let t = Timeouts::DEFAULT;
        let mut c = Conn {
            state: SctpState::None,
            flags: INACTIVE,
            has_dest: true,
        };
        let mut active = 0;
        let steps = [
            (Direction::Input, Event::Init, SctpState::Init1, 0),
            (Direction::Output, Event::InitAck, SctpState::CookieSent, 0),
            (
                Direction::Input,
                Event::CookieEcho,
                SctpState::CookieReplied,
                0,
            ),
            (
                Direction::Output,
                Event::CookieAck,
                SctpState::Established,
                1,
            ),
            (Direction::Input, Event::Data, SctpState::Established, 0),
            (
                Direction::Input,
                Event::Shutdown,
                SctpState::ShutdownReceived,
                -1,
            ),
            (
                Direction::Output,
                Event::ShutdownAck,
                SctpState::ShutdownAckSent,
                0,
            ),
            (
                Direction::Input,
                Event::ShutdownComplete,
                SctpState::Closed,
                0,
            ),
        ];
        for (d, e, want, delta) in steps {
            let tr = transition(&t, d, e, c);
            assert_eq!(
                (tr.state, tr.counters.active_delta()),
                (want, delta),
                "{d:?} {e:?} from {:?}",
                c.state
            );
            assert_eq!(tr.timeout, t.get(want));
            assert_eq!(
                tr.assure_ct,
                want == SctpState::Established && c.state != want
            );
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
    fn init_answered_by_abort_is_rejected() {
        let t = Timeouts::DEFAULT;
        let c = Conn {
            state: SctpState::Init1,
            flags: INACTIVE,
            has_dest: true,
        };
        let tr = transition(&t, Direction::Output, Event::Abort, c);
        assert_eq!((tr.state, tr.timeout), (SctpState::Rejected, 4));
        // A new INIT from the client leaves REJECTED.
        let c = Conn {
            state: tr.state,
            ..c
        };
        assert_eq!(
            transition(&t, Direction::Input, Event::Init, c).state,
            SctpState::Init
        );
    }

    #[test]
    fn server_opened_association() {
        // INIT from the server side: COOKIE_WAIT from (almost) anywhere, never from
        // ESTABLISHED.
        for s in SctpState::ALL {
            let want = if s == SctpState::Established {
                SctpState::Established
            } else {
                SctpState::CookieWait
            };
            assert_eq!(next_state(Direction::Output, Event::Init, s), want, "{s:?}");
        }
        let t = Timeouts::DEFAULT;
        let mut c = Conn {
            state: SctpState::None,
            flags: INACTIVE,
            has_dest: true,
        };
        for (d, e, want) in [
            (Direction::Output, Event::Init, SctpState::CookieWait),
            (Direction::Input, Event::InitAck, SctpState::Cookie),
            (
                Direction::Output,
                Event::CookieEcho,
                SctpState::CookieEchoed,
            ),
            (Direction::Input, Event::CookieAck, SctpState::Established),
        ] {
            let tr = transition(&t, d, e, c);
            assert_eq!(tr.state, want);
            c = Conn {
                state: tr.state,
                flags: tr.flags,
                ..c
            };
        }
        assert_eq!(c.flags & INACTIVE, 0);
    }

    #[test]
    fn direct_routing_uses_input_only_until_output() {
        let t = Timeouts::DEFAULT;
        let c = Conn {
            state: SctpState::None,
            flags: DROUTE | NOOUTPUT | INACTIVE,
            has_dest: true,
        };
        // Input only: the client's COOKIE ECHO establishes (the server's INIT ACK is unseen).
        let tr = transition(&t, Direction::Input, Event::Init, c);
        assert_eq!(tr.state, SctpState::Init1);
        let c1 = Conn {
            state: tr.state,
            flags: tr.flags,
            ..c
        };
        let tr = transition(&t, Direction::Input, Event::CookieEcho, c1);
        assert_eq!(
            (tr.state, tr.counters),
            (SctpState::Established, CounterChange::Activate)
        );
        assert_eq!(tr.flags, DROUTE | NOOUTPUT);
        // An output packet clears NOOUTPUT for good.
        let tr = transition(&t, Direction::Output, Event::Data, c1);
        assert_eq!(tr.flags & NOOUTPUT, 0);
    }

    #[test]
    fn no_dest_no_counters() {
        let c = Conn {
            state: SctpState::CookieReplied,
            flags: INACTIVE,
            has_dest: false,
        };
        let tr = transition(&Timeouts::DEFAULT, Direction::Output, Event::CookieAck, c);
        assert_eq!(tr.state, SctpState::Established);
        assert_eq!(tr.counters, CounterChange::Unchanged);
        assert_eq!(tr.flags, INACTIVE);
        assert!(tr.assure_ct);
    }

    #[test]
    fn sloppy_sctp() {
        for t in 0..=255u8 {
            let abort = t == chunk_type::ABORT;
            let init = t == chunk_type::INIT;
            assert_eq!(starts_connection(t, false), init, "{t}");
            assert_eq!(starts_connection(t, true), !abort, "{t}");
            for sloppy in [false, true] {
                let want = if starts_connection(t, sloppy) {
                    ScheduleCheck::Lookup
                } else {
                    ScheduleCheck::Accept
                };
                assert_eq!(schedule_check(Some(t), false, true, sloppy), want);
                assert_eq!(
                    schedule_check(Some(t), true, true, sloppy),
                    ScheduleCheck::Lookup
                );
            }
        }
        assert_eq!(schedule_check(None, false, true, true), ScheduleCheck::Drop);
        assert_eq!(
            schedule_check(None, true, true, false),
            ScheduleCheck::Lookup
        );
        assert_eq!(
            schedule_check(None, true, false, false),
            ScheduleCheck::Drop
        );
    }

    fn state() -> impl Strategy<Value = SctpState> {
        (0usize..NSTATES).prop_map(|i| SctpState::ALL[i])
    }
    fn dir() -> impl Strategy<Value = Direction> {
        (0usize..3).prop_map(|i| Direction::ALL[i])
    }
    fn event() -> impl Strategy<Value = Event> {
        (0usize..NEVENTS).prop_map(|i| Event::ALL[i])
    }

    proptest! {
        /// One destination, many connections, random chunks: `activeconns` as C keeps it.
        #[test]
        fn counters_stay_consistent(ops in proptest::collection::vec((0u8..4, any::<usize>(), dir(), event()), 1..300)) {
            let timeouts = Timeouts::DEFAULT;
            let mut conns: Vec<Conn> = Vec::new();
            let (mut active, mut total) = (0i32, 0i32);
            for (op, i, d, e) in ops {
                match op {
                    0 => {
                        let flags = if i % 2 == 0 { DROUTE | NOOUTPUT | INACTIVE } else { INACTIVE };
                        conns.push(Conn { state: SctpState::None, flags, has_dest: true });
                        total += 1;
                    }
                    1 if !conns.is_empty() => {
                        let c = conns.swap_remove(i % conns.len());
                        if c.flags & INACTIVE == 0 { active -= 1; }
                        total -= 1;
                    }
                    _ if !conns.is_empty() => {
                        let k = i % conns.len();
                        let c = conns[k];
                        let tr = transition(&timeouts, d, e, c);
                        prop_assert_eq!(tr.timeout, timeouts.get(tr.state));
                        prop_assert_eq!(tr.flags & !(INACTIVE | NOOUTPUT), c.flags & !(INACTIVE | NOOUTPUT));
                        active += tr.counters.active_delta();
                        conns[k] = Conn { state: tr.state, flags: tr.flags, ..c };
                    }
                    _ => {}
                }
                prop_assert_eq!(active, conns.iter().filter(|c| c.flags & INACTIVE == 0).count() as i32);
                prop_assert_eq!(total, conns.len() as i32);
                for c in &conns {
                    prop_assert_eq!(c.flags & INACTIVE == 0, c.state.is_active(), "{:?}", c);
                }
            }
        }

        #[test]
        fn pure_and_total(d in dir(), e in event(), s in state(), cf in any::<u32>(), dest in any::<bool>()) {
            let c = Conn { state: s, flags: cf, has_dest: dest };
            let tr = transition(&Timeouts::DEFAULT, d, e, c);
            prop_assert_eq!(tr, transition(&Timeouts::DEFAULT, d, e, c));
            if tr.state == s {
                prop_assert_eq!(tr.counters, CounterChange::Unchanged);
                prop_assert!(!tr.assure_ct);
            }
        }

        #[test]
        fn packet_reading_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), off in 0usize..90) {
            let e = packet_event(&bytes[..], off);
            prop_assert_eq!(e.is_some(), bytes.len() >= off + 16);
        }
    }
}
