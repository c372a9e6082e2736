//! The two decisions of connection synchronization, as pure functions.
//!
//! Master: which connections a packet makes `ip_vs_sync_conn()` send
//! (`ip_vs_sync_conn_needed()`, the `IP_VS_CONN_F_ONE_PACKET` and address-family filters, and
//! the walk up `cp->control`). Backup: what `ip_vs_proc_conn()` does with an entry
//! [`super::decode`] accepted.
//!
//! # The master's walk
//!
//! C syncs the connection the packet belongs to, then its controller (the persistence
//! template, or the FTP control connection and then its template), each under the same
//! rules. The data path does it with these functions, starting with `cp` and `pkts` (the
//! incremented `cp->in_pkts`, or `sync_threshold` for a `ONE_PACKET` connection or one
//! about to expire):
//!
//! ```text
//! controller = false
//! loop {
//!     match master_step(&view(cp), pkts, &settings, now, controller) {
//!         Stop => break,
//!         Controller => {}
//!         Commit(c) => {
//!             cp.old_state = c.old_state;
//!             let ok = cmpxchg(&cp.sync_endtime, c.endtime_expected, c.endtime_new) succeeded;
//!             match master_after_commit(settings.version, c.needed(ok), view(cp).pe_data_invalid) {
//!                 Stop => break,
//!                 Controller => {}
//!                 Send => { if not master { break } ; builder.push(entry(cp)) ... }
//!             }
//!         }
//!     }
//!     cp = cp.control else break;
//!     pkts = match controller_pkts(cp.flags, &settings) { IncInPkts => ++cp.in_pkts, Threshold(t) => t };
//!     controller = true;
//! }
//! ```

use super::decode::DecodedConn;
use super::Version;
use crate::netlink::ipvs::conn_flags;
use crate::proto::sctp::SctpState;
use crate::proto::tcp::TcpState;
use crate::proto::udp::UdpState;
use crate::proto::TimeoutTables;

/// `IPPROTO_TCP`.
const TCP: u8 = 6;
/// `IPPROTO_UDP`.
const UDP: u8 = 17;
/// `IPPROTO_SCTP`.
const SCTP: u8 = 132;

/// The master's sysctls (`net.ipv4.vs.sync_*`) and the kernel's `HZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MasterSettings {
    /// `sync_version`.
    pub version: Version,
    /// `sync_threshold[0]` (`sysctl_sync_threshold()`).
    pub sync_threshold: i32,
    /// `sync_threshold[1]` (`sysctl_sync_period()`).
    pub sync_period: i32,
    /// `sync_refresh_period`, in jiffies.
    pub sync_refresh_period: u32,
    /// `sync_retries` (0 to 3).
    pub sync_retries: i32,
    /// `sync_persist_mode`.
    pub sync_persist_mode: i32,
    /// `HZ`.
    pub hz: u32,
}

/// What `ip_vs_sync_conn()` reads of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MasterConn {
    /// `cp->af == AF_INET6`.
    pub v6: bool,
    /// `cp->protocol`.
    pub protocol: u8,
    /// `cp->flags`.
    pub flags: u32,
    /// `cp->state`.
    pub state: u16,
    /// `cp->old_state`: the state when the connection was last synced.
    pub old_state: u16,
    /// `cp->timeout`, jiffies.
    pub timeout: u64,
    /// `READ_ONCE(cp->sync_endtime)`: when the last sync's information runs out (jiffies,
    /// rounded down to a multiple of 4; the low two bits count the retries).
    pub sync_endtime: u64,
    /// `in_persistence(cp)`: some connection up the `cp->control` chain is a template.
    pub in_persistence: bool,
    /// `cp->pe_data_len && (!cp->pe_data || !cp->dest)`: C refuses to sync it (and its
    /// controllers). Always `false` without persistence engines.
    pub pe_data_invalid: bool,
}

/// The writes `ip_vs_sync_conn_needed()` makes once it decided to try (its `set:` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Commit {
    /// Store into `cp->old_state` (the current state).
    pub old_state: u16,
    /// `cmpxchg(&cp->sync_endtime, orig, n)`: the value read...
    pub endtime_expected: u64,
    /// ...and the one to store.
    pub endtime_new: u64,
    /// The state changed: sync even if the `cmpxchg()` lost (another CPU synced it).
    pub force: bool,
}

impl Commit {
    /// C's `return n == orig || force;`: whether the connection is synced, given whether
    /// the `cmpxchg()` succeeded.
    pub const fn needed(&self, cmpxchg_succeeded: bool) -> bool {
        cmpxchg_succeeded || self.force
    }
}

/// `ip_vs_sync_conn_needed()` up to its writes: `None` for `return 0` before them.
///
/// ```c
/// unsigned long n = (now + cp->timeout) & ~3UL;
/// ...
/// set:
///     cp->old_state = cp->state;
///     n = cmpxchg(&cp->sync_endtime, orig, n);
///     return n == orig || force;
/// ```
///
/// `pkts` is the packet count C passes (an `int` that may have wrapped), `now` is
/// `jiffies`.
pub fn sync_conn_needed(
    cp: &MasterConn,
    pkts: i32,
    s: &MasterSettings,
    now: u64,
) -> Option<Commit> {
    let orig = cp.sync_endtime;
    let mut n = now.wrapping_add(cp.timeout) & !3u64;
    let template = cp.flags & conn_flags::TEMPLATE != 0;
    let state = u32::from(cp.state);
    let commit = |n: u64, force: bool| Commit {
        old_state: cp.state,
        endtime_expected: orig,
        endtime_new: n,
        force,
    };

    // Check if we sync in current state
    let force = if template {
        false
    } else if s.sync_persist_mode != 0 && cp.in_persistence {
        return None;
    } else if cp.protocol == TCP {
        let synced = [
            TcpState::Established,
            TcpState::FinWait,
            TcpState::Close,
            TcpState::CloseWait,
            TcpState::TimeWait,
        ];
        if !synced.iter().any(|st| st.as_c() == state) {
            return None;
        }
        let force = cp.state != cp.old_state;
        if force && state != TcpState::Established.as_c() {
            return Some(commit(n, force));
        }
        force
    } else if cp.protocol == SCTP {
        let synced = [
            SctpState::Established,
            SctpState::ShutdownSent,
            SctpState::ShutdownReceived,
            SctpState::ShutdownAckSent,
            SctpState::Closed,
        ];
        if !synced.iter().any(|st| st.as_c() == state) {
            return None;
        }
        let force = cp.state != cp.old_state;
        if force && state != SctpState::Established.as_c() {
            return Some(commit(n, force));
        }
        force
    } else {
        // UDP or another protocol with single state
        false
    };

    let refresh = u64::from(s.sync_refresh_period);
    if refresh > 0 {
        let diff = n.wrapping_sub(orig) as i64;
        let min_diff = (cp.timeout >> 1).max(10 * u64::from(s.hz));
        // min_t(long, sync_refresh_period, min_diff); abs() of LONG_MIN stays negative.
        if diff.wrapping_abs() < (refresh as i64).min(min_diff as i64) {
            let retries = orig & 3;
            if retries as i64 >= i64::from(s.sync_retries) {
                return None;
            }
            // time_before(now, orig - cp->timeout + (sync_refresh_period >> 3))
            let until = orig.wrapping_sub(cp.timeout).wrapping_add(refresh >> 3);
            if (now.wrapping_sub(until) as i64) < 0 {
                return None;
            }
            n |= retries + 1;
        }
    }
    if s.sync_period > 0 {
        if !template && pkts.wrapping_rem(s.sync_period) != s.sync_threshold {
            return None;
        }
    } else if refresh == 0 && pkts != s.sync_threshold {
        return None;
    }
    Some(commit(n, force))
}

/// The first decision of `ip_vs_sync_conn()` (and `ip_vs_sync_conn_v0()`) for one connection
/// of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MasterStep {
    /// Nothing more: neither this connection nor its controllers are synced.
    Stop,
    /// This connection is not synced; go on to its controller.
    Controller,
    /// Make the writes of [`Commit`] (`old_state`, the `cmpxchg()` on `sync_endtime`), then
    /// ask [`master_after_commit`].
    Commit(Commit),
}

/// What C does with a connection of the chain before it writes anything.
///
/// `controller` is `false` for the connection the packet belongs to and `true` for the ones
/// reached through `cp->control`: version 1 tests `IP_VS_CONN_F_ONE_PACKET` only on the
/// first (`goto sloop` skips it), version 0 on each (it recurses into `ip_vs_sync_conn()`).
/// Version 0 stops the walk at the first connection it does not sync; version 1 goes on.
pub fn master_step(
    cp: &MasterConn,
    pkts: i32,
    s: &MasterSettings,
    now: u64,
    controller: bool,
) -> MasterStep {
    let one_packet = cp.flags & conn_flags::ONE_PACKET != 0;
    match s.version {
        Version::V0 => {
            if cp.v6 || one_packet {
                return MasterStep::Stop;
            }
            match sync_conn_needed(cp, pkts, s, now) {
                Some(c) => MasterStep::Commit(c),
                None => MasterStep::Stop,
            }
        }
        Version::V1 => {
            if one_packet && !controller {
                return MasterStep::Controller;
            }
            match sync_conn_needed(cp, pkts, s, now) {
                Some(c) => MasterStep::Commit(c),
                None => MasterStep::Controller,
            }
        }
    }
}

/// What C does after [`Commit`]'s writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AfterCommit {
    /// Put the connection into the message (if the namespace is still a master: C returns
    /// otherwise), then go on to the controller.
    Send,
    /// Not synced; go on to the controller.
    Controller,
    /// Nothing more.
    Stop,
}

/// The rest of [`master_step`]'s decision, given [`Commit::needed`]: version 0 stops when
/// the connection is not needed, version 1 goes on to the controller; version 1 also stops,
/// after the writes, for a connection with invalid PE data.
pub const fn master_after_commit(
    version: Version,
    needed: bool,
    pe_data_invalid: bool,
) -> AfterCommit {
    match version {
        Version::V0 if needed => AfterCommit::Send,
        Version::V0 => AfterCommit::Stop,
        Version::V1 if !needed => AfterCommit::Controller,
        Version::V1 if pe_data_invalid => AfterCommit::Stop,
        Version::V1 => AfterCommit::Send,
    }
}

/// Where the packet count for a controller comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControllerPkts {
    /// A template: `atomic_inc_return(&cp->in_pkts)`.
    IncInPkts,
    /// Any other controller: `sysctl_sync_threshold(ipvs)`.
    Threshold(i32),
}

/// `pkts` for the controller C walks to (`cp = cp->control`), from its flags.
pub const fn controller_pkts(controller_flags: u32, s: &MasterSettings) -> ControllerPkts {
    if controller_flags & conn_flags::TEMPLATE != 0 {
        ControllerPkts::IncInPkts
    } else {
        ControllerPkts::Threshold(s.sync_threshold)
    }
}

/// The connection the backup's lookup found for an entry: `ip_vs_conn_in_get()` for a
/// connection, `ip_vs_ct_in_get()` for a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Existing {
    /// `cp->flags`.
    pub flags: u32,
    /// `cp->dport`, host order.
    pub dport: u16,
    /// `cp->daddr` (IPv4 in the first four bytes).
    pub daddr: [u8; 16],
    /// `cp->daf == AF_INET6`.
    pub daf_v6: bool,
    /// `cp->dest != NULL`.
    pub has_dest: bool,
}

/// How the destination's `activeconns` moves when an update flips `IP_VS_CONN_F_INACTIVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActiveChange {
    /// No change.
    None,
    /// `atomic_inc(&dest->activeconns)` (the connection became active; C leaves
    /// `inactconns` alone).
    Inc,
    /// `atomic_dec(&dest->activeconns)`.
    Dec,
}

/// `ip_vs_proc_conn()`'s choice.
///
/// Whatever is created or updated, C then sets (in this order, [`apply_common`]): the
/// sequence options if the entry has them, `in_pkts = sync_threshold`, `state` and
/// `old_state` to the entry's state, and the timeout ([`backup_timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackupDecision {
    /// The entry is the expiry notice of a connection the backup already replaced (its
    /// destination differs and it is marked inactive): drop the lookup's reference, do
    /// nothing.
    Ignore,
    /// Create a connection: `ip_vs_find_dest()` (which may find none: the connection is
    /// then unbound), `ip_vs_conn_new(param, af, daddr, dport, flags, dest, fwmark)`.
    Create {
        /// The lookup found a connection to another destination, and the entry is active:
        /// `ip_vs_conn_expire_now()` it (and drop the reference) first.
        expire_existing: bool,
        /// The new connection's flags (the entry's).
        flags: u32,
    },
    /// Update the connection the lookup found, under its lock.
    Update {
        /// The new `cp->flags`: `INACTIVE` and `SEQ_MASK` from the entry, the rest kept.
        flags: u32,
        /// What happens to `cp->dest->activeconns`.
        active: ActiveChange,
        /// The connection has no destination: `ip_vs_try_bind_dest()` after unlocking.
        bind_dest: bool,
    },
}

/// `ip_vs_addr_equal(cp->daf, &cp->daddr, daddr)`.
fn addr_equal(v6: bool, a: &[u8; 16], b: &[u8; 16]) -> bool {
    if v6 {
        a == b
    } else {
        a.get(..4) == b.get(..4)
    }
}

/// `ip_vs_proc_conn()`: create, update or ignore, for an entry and what the lookup found.
pub fn backup_decision(e: &DecodedConn<'_>, existing: Option<&Existing>) -> BackupDecision {
    let flags = e.flags;
    let template = flags & conn_flags::TEMPLATE != 0;
    let mut expire_existing = false;
    let found = match existing {
        Some(cp)
            if !template
                && (cp.dport != e.dport || !addr_equal(cp.daf_v6, &cp.daddr, &e.daddr)) =>
        {
            if flags & conn_flags::INACTIVE == 0 {
                expire_existing = true;
                None
            } else {
                // This is the expiration message for the connection that was already
                // replaced, so we just ignore it.
                return BackupDecision::Ignore;
            }
        }
        other => other,
    };
    match found {
        Some(cp) => {
            let active =
                if (cp.flags ^ flags) & conn_flags::INACTIVE != 0 && !template && cp.has_dest {
                    if flags & conn_flags::INACTIVE != 0 {
                        ActiveChange::Dec
                    } else {
                        ActiveChange::Inc
                    }
                } else {
                    ActiveChange::None
                };
            BackupDecision::Update {
                flags: (flags & conn_flags::BACKUP_UPD_MASK)
                    | (cp.flags & !conn_flags::BACKUP_UPD_MASK),
                active,
                bind_dest: !cp.has_dest,
            }
        }
        None => BackupDecision::Create {
            expire_existing,
            flags,
        },
    }
}

/// The fields C sets on the created or updated connection after [`backup_decision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Common {
    /// `cp->in_seq` / `cp->out_seq`, when the entry carries them.
    pub seq: Option<super::SeqOptions>,
    /// `atomic_set(&cp->in_pkts, sysctl_sync_threshold(ipvs))`.
    pub in_pkts: i32,
    /// `cp->state` and `cp->old_state`.
    pub state: u16,
    /// `cp->timeout`, in seconds (times `HZ`; see [`backup_timeout`]).
    pub timeout_secs: u32,
}

/// The fields set on every connection `ip_vs_proc_conn()` creates or updates.
pub fn apply_common(e: &DecodedConn<'_>, sync_threshold: i32, tables: &TimeoutTables) -> Common {
    Common {
        seq: e.seq,
        in_pkts: sync_threshold,
        state: e.state,
        timeout_secs: backup_timeout(e, tables),
    }
}

/// The timeout `ip_vs_proc_conn()` arms, in seconds: the entry's (version 1), or with none
/// (version 0, or a version 1 timeout of 0) the protocol's timeout for the state, and for a
/// template or a protocol without a timeout table (AH, ESP) 3 minutes.
///
/// C also caps a carried timeout at `MAX_SCHEDULE_TIMEOUT / HZ` seconds, which on a 64-bit
/// kernel is above any `u32`; the kernel side multiplies by `HZ` in 64 bits.
pub fn backup_timeout(e: &DecodedConn<'_>, tables: &TimeoutTables) -> u32 {
    /// `3*60*HZ`.
    const DEFAULT_SECS: u32 = 3 * 60;
    if e.timeout_secs != 0 {
        return e.timeout_secs;
    }
    if e.flags & conn_flags::TEMPLATE != 0 {
        return DEFAULT_SECS;
    }
    let state = u32::from(e.state);
    let t = match e.protocol {
        TCP => TcpState::from_c(state).map(|s| tables.tcp.get(s)),
        UDP => UdpState::from_c(state).map(|s| tables.udp.get(s)),
        SCTP => SctpState::from_c(state).map(|s| tables.sctp.get(s)),
        _ => None,
    };
    t.unwrap_or(DEFAULT_SECS)
}
