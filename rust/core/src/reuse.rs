//! What `ip_vs_in_hook()` does with the connection entry its lookup found, before it
//! forwards a client packet: keep it, expire it and schedule the packet anew (port reuse,
//! weight-0 or unavailable destination), or drop the packet so the client retransmits.
//!
//! C source (Linux 6.12, `net/netfilter/ipvs/ip_vs_core.c`): `ip_vs_in_hook()`, the two
//! blocks between `cp = INDIRECT_CALL_1(pp->conn_in_get, ...)` and
//! `if (unlikely(!cp)) { ... ip_vs_try_to_schedule(...) }`, with `is_new_conn()`,
//! `is_new_conn_expected()` and, from `include/net/ip_vs.h`,
//! `ip_vs_conn_uses_old_conntrack()`.
//!
//! # Model
//!
//! C reads the packet, the entry (`cp`), its destination and the sysctls, and acts on `cp`
//! (clears `IP_VS_CONN_F_NFCT`, calls `ip_vs_conn_expire_now()`, drops its reference with
//! `__ip_vs_conn_put()`) before it returns `NF_DROP` or goes on. Here the same decision is a
//! pure function of values ([`decide`], made of the two C blocks [`port_reuse`] and
//! [`nodest_check`]) returning a [`Decision`]; the data path performs the side effects the
//! decision names, in the order C does them.
//!
//! Two inputs stand for what C reads from kernel objects:
//! * the packet's head ([`Header`], plus whether it is a later IPv6 fragment, C's
//!   `iph.fragoffs`), from which [`is_new_conn`] is computed here;
//! * `old_ct` ([`ReuseInput::ct_confirmed`]): C's `ip_vs_conn_uses_old_conntrack(cp, skb)`,
//!   which despite its name looks only at the packet: the skb carries a conntrack entry
//!   (`nf_ct_get()`) and that entry is confirmed (`nf_ct_is_confirmed()`). It is `false`
//!   when the kernel lacks `CONFIG_IP_VS_NFCT`. Neither `cp->flags & IP_VS_CONN_F_NFCT` nor
//!   the `conntrack` sysctl enters the decision.

use crate::netlink::ipvs::conn_flags::{NFCT, NOOUTPUT};
use crate::proto::sctp::SctpState;
use crate::proto::tcp::{TcpFlags, TcpState};
use crate::sysctl::Settings;

/// `SCTP_CID_INIT`: the chunk type of an SCTP INIT chunk (`include/linux/sctp.h`).
pub const SCTP_CID_INIT: u8 = crate::wire::sctp::chunk_type::INIT;

/// The transport head of the packet as `is_new_conn()` reads it (`iph->protocol` and the
/// bytes after the transport header's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Header {
    /// `IPPROTO_TCP`: the flags byte of the TCP header, or `None` when fewer than the 20
    /// bytes of a `struct tcphdr` are there (`skb_header_pointer()` fails).
    Tcp(Option<TcpFlags>),
    /// `IPPROTO_UDP`.
    Udp,
    /// `IPPROTO_SCTP`: the type of the first chunk after the 12-byte common header, or
    /// `None` when the 4-byte chunk header is not there (`skb_header_pointer()` fails):
    /// [`crate::proto::sctp::first_chunk_type`].
    Sctp(Option<u8>),
    /// Any other protocol IPVS handles (AH/ESP).
    Other,
}

/// The connection entry's protocol and state (`cp->protocol`, `cp->state`), as far as
/// `is_new_conn_expected()` distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// `IPPROTO_TCP` with this `IP_VS_TCP_S_*` state.
    Tcp(TcpState),
    /// `IPPROTO_SCTP` with this `IP_VS_SCTP_S_*` state.
    Sctp(SctpState),
    /// `IPPROTO_UDP`, or any other protocol (the state is not looked at).
    Other,
}

/// The destination of the entry (`cp->dest`), as `ip_vs_in_hook()` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dest {
    /// `atomic_read(&cp->dest->weight)`.
    pub weight: i32,
    /// `cp->dest->cflags & IP_VS_DEST_CF_AVAILABLE`: the destination is still in its
    /// service (cleared when it is removed and moved to the trash list).
    pub available: bool,
}

/// The connection entry the lookup found (`cp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    /// `cp->protocol` and `cp->state`.
    pub state: ConnState,
    /// `cp->control != NULL`: the entry is controlled by a template (persistence) or by a
    /// controlling connection (FTP data).
    pub controlled: bool,
    /// `atomic_read(&cp->n_control)`: how many entries this one controls.
    pub n_control: u32,
    /// `cp->flags` (`IP_VS_CONN_F_*`); only `IP_VS_CONN_F_NOOUTPUT` is read.
    pub flags: u32,
    /// `cp->dest`, `None` for a NULL destination.
    pub dest: Option<Dest>,
}

/// Everything the decision reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReuseInput {
    /// The packet's transport head.
    pub header: Header,
    /// `iph.fragoffs != 0`: an IPv6 fragment other than the first (never true for IPv4,
    /// whose non-first fragments are reassembled before IPVS sees them).
    pub later_fragment: bool,
    /// The entry the lookup found (`cp`), or `None` for `cp == NULL`.
    pub entry: Option<Entry>,
    /// `ip_vs_conn_uses_old_conntrack(cp, skb)`: the packet has a conntrack entry and it is
    /// confirmed (always `false` without `CONFIG_IP_VS_NFCT`).
    pub ct_confirmed: bool,
    /// The namespace's sysctls; `conn_reuse_mode` and `expire_nodest_conn` are read,
    /// `conntrack` is not.
    pub settings: Settings,
}

/// `is_new_conn()`: whether the packet opens a connection.
///
/// TCP: the SYN bit, whatever else is set (`return th->syn;` — a SYN+ACK or SYN+RST counts
/// too). SCTP: the first chunk is INIT (`sch->type == SCTP_CID_INIT`). A truncated header
/// and every other protocol: `false`.
#[inline]
pub const fn is_new_conn(header: Header) -> bool {
    match header {
        Header::Tcp(Some(flags)) => flags.contains(TcpFlags::SYN),
        Header::Sctp(Some(chunk_type)) => chunk_type == SCTP_CID_INIT,
        Header::Tcp(None) | Header::Sctp(None) | Header::Udp | Header::Other => false,
    }
}

/// `is_new_conn_expected()`: whether the entry is finished, so that a new connection on the
/// same ports is expected and may be scheduled anew.
///
/// `false` for a controlled entry (`if (cp->control) return false;`). TCP: TIME_WAIT or
/// CLOSE, and with `conn_reuse_mode & 2` also FIN_WAIT when `IP_VS_CONN_F_NOOUTPUT` is set.
/// SCTP: CLOSED. Other protocols: `false`.
pub const fn is_new_conn_expected(entry: &Entry, conn_reuse_mode: i32) -> bool {
    if entry.controlled {
        return false;
    }
    match entry.state {
        ConnState::Tcp(TcpState::TimeWait) | ConnState::Tcp(TcpState::Close) => true,
        ConnState::Tcp(TcpState::FinWait) => {
            conn_reuse_mode & 2 != 0 && entry.flags & NOOUTPUT != 0
        }
        ConnState::Tcp(_) => false,
        ConnState::Sctp(SctpState::Closed) => true,
        ConnState::Sctp(_) | ConnState::Other => false,
    }
}

/// The outcome of the port-reuse block
/// (`if (!iph.fragoffs && is_new_conn(skb, &iph) && cp) { ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReuseStep {
    /// `resched` stayed `false` (or the block was not entered): `cp` is kept and goes on to
    /// the destination check ([`nodest_check`]).
    Keep,
    /// `resched && !old_ct`: `cp->flags &= ~IP_VS_CONN_F_NFCT;`, then
    /// `if (!atomic_read(&cp->n_control)) ip_vs_conn_expire_now(cp);`,
    /// `__ip_vs_conn_put(cp);`, `cp = NULL;` — the packet is scheduled anew.
    Resched {
        /// `ip_vs_conn_expire_now(cp)` is called (`n_control == 0`).
        expire_now: bool,
    },
    /// `resched && old_ct`: `if (!atomic_read(&cp->n_control)) ip_vs_conn_expire_now(cp);`,
    /// `__ip_vs_conn_put(cp);`, `return NF_DROP;` — the client retransmits its SYN/INIT
    /// once the old entry (and its confirmed conntrack) is gone.
    Drop {
        /// `ip_vs_conn_expire_now(cp)` is called (`n_control == 0`).
        expire_now: bool,
    },
}

/// The port-reuse block of `ip_vs_in_hook()`, for an entry the lookup found.
///
/// ```c
/// if (!iph.fragoffs && is_new_conn(skb, &iph) && cp) {
///     if (unlikely(sysctl_expire_nodest_conn(ipvs)) && cp->dest &&
///         unlikely(!atomic_read(&cp->dest->weight))) {
///         resched = true;
///         old_ct = ip_vs_conn_uses_old_conntrack(cp, skb);
///     } else if (conn_reuse_mode && is_new_conn_expected(cp, conn_reuse_mode)) {
///         old_ct = ip_vs_conn_uses_old_conntrack(cp, skb);
///         if (!atomic_read(&cp->n_control)) resched = true;
///         else resched = !old_ct;
///     }
///     ...
/// ```
///
/// Note that `conn_reuse_mode` is tested as a whole (any non-zero value, including 2 alone
/// and negative values), not as `& 1`.
pub const fn port_reuse(
    header: Header,
    later_fragment: bool,
    entry: &Entry,
    ct_confirmed: bool,
    settings: &Settings,
) -> ReuseStep {
    if later_fragment || !is_new_conn(header) {
        return ReuseStep::Keep;
    }
    let weight_zero = match entry.dest {
        Some(dest) => dest.weight == 0,
        None => false,
    };
    let resched = if settings.expire_nodest_conn != 0 && weight_zero {
        true
    } else if settings.conn_reuse_mode != 0 && is_new_conn_expected(entry, settings.conn_reuse_mode)
    {
        // Do not reschedule a controlling connection that uses a confirmed conntrack while
        // controlled connections still reference it.
        entry.n_control == 0 || !ct_confirmed
    } else {
        false
    };
    if !resched {
        return ReuseStep::Keep;
    }
    let expire_now = entry.n_control == 0;
    if ct_confirmed {
        ReuseStep::Drop { expire_now }
    } else {
        ReuseStep::Resched { expire_now }
    }
}

/// The outcome of the server-status block
/// (`if (cp && cp->dest && !(cp->dest->cflags & IP_VS_DEST_CF_AVAILABLE)) { ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodestStep {
    /// No destination, or it is available: `cp` is used.
    Keep,
    /// `expire_nodest_conn` and `!old_ct`: `cp->flags &= ~IP_VS_CONN_F_NFCT;`,
    /// `ip_vs_conn_expire_now(cp);`, `__ip_vs_conn_put(cp);`, `cp = NULL;` — the packet is
    /// scheduled anew (whatever its flags, not only a new connection's first packet).
    ExpireResched,
    /// `expire_nodest_conn` and `old_ct`: `ip_vs_conn_expire_now(cp);`,
    /// `__ip_vs_conn_put(cp);`, `return NF_DROP;`.
    ExpireDrop,
    /// `expire_nodest_conn == 0`: `__ip_vs_conn_put(cp); return NF_DROP;` — the entry stays
    /// until it times out.
    Drop,
}

/// The server-status block of `ip_vs_in_hook()`, for an entry the port-reuse block kept.
///
/// ```c
/// if (cp && cp->dest && !(cp->dest->cflags & IP_VS_DEST_CF_AVAILABLE)) {
///     if (sysctl_expire_nodest_conn(ipvs)) {
///         bool old_ct = ip_vs_conn_uses_old_conntrack(cp, skb);
///         if (!old_ct) cp->flags &= ~IP_VS_CONN_F_NFCT;
///         ip_vs_conn_expire_now(cp);
///         __ip_vs_conn_put(cp);
///         if (old_ct) return NF_DROP;
///         cp = NULL;
///     } else {
///         __ip_vs_conn_put(cp);
///         return NF_DROP;
///     }
/// }
/// ```
///
/// Unlike the port-reuse block, `ip_vs_conn_expire_now()` is called whatever `n_control`.
pub const fn nodest_check(
    dest: Option<Dest>,
    ct_confirmed: bool,
    settings: &Settings,
) -> NodestStep {
    match dest {
        Some(Dest {
            available: false, ..
        }) => {
            if settings.expire_nodest_conn != 0 {
                if ct_confirmed {
                    NodestStep::ExpireDrop
                } else {
                    NodestStep::ExpireResched
                }
            } else {
                NodestStep::Drop
            }
        }
        Some(Dest {
            available: true, ..
        })
        | None => NodestStep::Keep,
    }
}

/// What `ip_vs_in_hook()` does with the looked-up entry before forwarding the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The lookup found no entry (`cp == NULL`): `ip_vs_try_to_schedule()`.
    NoEntry,
    /// The entry is used: `ip_vs_in_stats(cp, skb); ip_vs_set_state(...); packet_xmit`.
    UseExisting,
    /// Port reuse (or weight-0 destination with `expire_nodest_conn`) reschedules:
    /// [`ReuseStep::Resched`], then `ip_vs_try_to_schedule()`.
    ReuseResched {
        /// `ip_vs_conn_expire_now(cp)` is called (`n_control == 0`).
        expire_now: bool,
    },
    /// Port reuse (or weight-0 destination with `expire_nodest_conn`) with a confirmed
    /// conntrack: [`ReuseStep::Drop`], `NF_DROP`.
    ReuseDrop {
        /// `ip_vs_conn_expire_now(cp)` is called (`n_control == 0`).
        expire_now: bool,
    },
    /// Unavailable destination, `expire_nodest_conn`, no confirmed conntrack:
    /// [`NodestStep::ExpireResched`], then `ip_vs_try_to_schedule()`.
    NodestResched,
    /// Unavailable destination, `expire_nodest_conn`, confirmed conntrack:
    /// [`NodestStep::ExpireDrop`], `NF_DROP`.
    NodestExpireDrop,
    /// Unavailable destination, `expire_nodest_conn == 0`: [`NodestStep::Drop`], `NF_DROP`.
    NodestDrop,
    /// ipvs-rs beyond C (`conn_reuse_old_conntrack=1`, see [`decide_beyond_c`]): where C
    /// would return [`Decision::ReuseDrop`], the packet's confirmed conntrack (the old
    /// connection's) is retired instead and the SYN is scheduled anew, as for
    /// [`Decision::ReuseResched`].
    ReuseRetireConntrack {
        /// `ip_vs_conn_expire_now(cp)` is called (`n_control == 0`).
        expire_now: bool,
    },
}

impl Decision {
    /// `ip_vs_in_hook()` returns `NF_DROP` here.
    #[inline]
    pub const fn drops(self) -> bool {
        matches!(
            self,
            Decision::ReuseDrop { .. } | Decision::NodestExpireDrop | Decision::NodestDrop
        )
    }

    /// The packet goes to `ip_vs_try_to_schedule()` (`cp` is, or became, NULL).
    #[inline]
    pub const fn schedules(self) -> bool {
        matches!(
            self,
            Decision::NoEntry
                | Decision::ReuseResched { .. }
                | Decision::NodestResched
                | Decision::ReuseRetireConntrack { .. }
        )
    }

    /// `ip_vs_conn_expire_now(cp)` is called on the entry.
    #[inline]
    pub const fn expires(self) -> bool {
        match self {
            Decision::ReuseResched { expire_now }
            | Decision::ReuseDrop { expire_now }
            | Decision::ReuseRetireConntrack { expire_now } => expire_now,
            Decision::NodestResched | Decision::NodestExpireDrop => true,
            Decision::NoEntry | Decision::UseExisting | Decision::NodestDrop => false,
        }
    }

    /// `cp->flags &= ~IP_VS_CONN_F_NFCT` is done on the entry (before any expiry), so that
    /// expiring it does not kill a conntrack entry the new connection will use.
    #[inline]
    pub const fn clears_nfct(self) -> bool {
        matches!(
            self,
            Decision::ReuseResched { .. }
                | Decision::NodestResched
                | Decision::ReuseRetireConntrack { .. }
        )
    }

    /// The packet's (confirmed, old) conntrack entry is killed and detached from the packet
    /// before it is scheduled, so that conntrack gives the new connection a fresh entry.
    #[inline]
    pub const fn retires_conntrack(self) -> bool {
        matches!(self, Decision::ReuseRetireConntrack { .. })
    }

    /// The entry's reference is dropped here (`__ip_vs_conn_put(cp)`): every outcome that
    /// does not use the entry.
    #[inline]
    pub const fn puts_entry(self) -> bool {
        !matches!(self, Decision::NoEntry | Decision::UseExisting)
    }

    /// `flags` with what this decision does to `cp->flags` applied.
    #[inline]
    pub const fn apply_flags(self, flags: u32) -> u32 {
        if self.clears_nfct() {
            flags & !NFCT
        } else {
            flags
        }
    }
}

/// Both blocks of `ip_vs_in_hook()` in C's order: [`port_reuse`], then, if it kept the
/// entry, [`nodest_check`].
pub const fn decide(input: &ReuseInput) -> Decision {
    let entry = match &input.entry {
        Some(entry) => entry,
        None => return Decision::NoEntry,
    };
    match port_reuse(
        input.header,
        input.later_fragment,
        entry,
        input.ct_confirmed,
        &input.settings,
    ) {
        ReuseStep::Resched { expire_now } => return Decision::ReuseResched { expire_now },
        ReuseStep::Drop { expire_now } => return Decision::ReuseDrop { expire_now },
        ReuseStep::Keep => {}
    }
    match nodest_check(entry.dest, input.ct_confirmed, &input.settings) {
        NodestStep::Keep => Decision::UseExisting,
        NodestStep::ExpireResched => Decision::NodestResched,
        NodestStep::ExpireDrop => Decision::NodestExpireDrop,
        NodestStep::Drop => Decision::NodestDrop,
    }
}

/// ipvs-rs's decision: [`decide`] (exactly C's), then, with `conn_reuse_old_conntrack`
/// set, a port-reuse drop becomes [`Decision::ReuseRetireConntrack`].
///
/// # Why C drops, and why retiring is safe
///
/// C drops the SYN of a reused port when the packet carries a *confirmed* conntrack entry:
/// that entry belongs to the old connection (same 5-tuple, still in conntrack's table, e.g.
/// in TIME_WAIT or CLOSE), and with `conntrack=1` its reply tuple was bound to the old real
/// server (and, under MASQUERADE, to a NAT port). A confirmed entry cannot be re-bound
/// (`nf_conntrack_alter_reply()` only works before confirmation), so scheduling the SYN to a
/// different server would send it out under the old binding; C instead expires the IPVS
/// entry and drops the SYN, and the client's retransmit one second later finds neither the
/// IPVS entry nor (once conntrack has dropped it) the old conntrack entry.
///
/// Retiring does what the retransmit waits for, at once: the old conntrack entry is killed
/// (`nf_ct_kill()`, which removes it and its NAT binding from the tables, so no stale
/// binding survives) and detached from the packet. The SYN is then scheduled like any new
/// connection; it leaves through `NF_HOOK(LOCAL_OUT)` without a conntrack entry, so
/// conntrack creates a fresh one for the translated flow (client → real server), which
/// MASQUERADE binds in POSTROUTING and which the real server's replies match; the reply
/// path (`ip_vs_out`) finds the new IPVS entry by the client's address and port. Only a
/// SYN (TCP) or INIT (SCTP) reaches this decision, and only for an entry C considers
/// finished (TIME_WAIT/CLOSE, FIN_WAIT without output with mode bit 2) or whose destination
/// has weight 0 with `expire_nodest_conn`, so no live connection loses its conntrack.
#[inline]
pub const fn decide_beyond_c(input: &ReuseInput) -> Decision {
    match decide(input) {
        Decision::ReuseDrop { expire_now } if input.settings.conn_reuse_old_conntrack != 0 => {
            Decision::ReuseRetireConntrack { expire_now }
        }
        d => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// What the C code did, recorded as it happens.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Effects {
        dropped: bool,
        scheduled: bool,
        expired: bool,
        put: bool,
        flags_after: u32,
    }

    const IPPROTO_TCP: u8 = 6;
    const IPPROTO_UDP: u8 = 17;
    const IPPROTO_SCTP: u8 = 132;
    const IPPROTO_ESP: u8 = 50;
    const IP_VS_TCP_S_FIN_WAIT: u32 = 4;
    const IP_VS_TCP_S_TIME_WAIT: u32 = 5;
    const IP_VS_TCP_S_CLOSE: u32 = 6;
    const IP_VS_SCTP_S_CLOSED: u32 = 13;
    const IP_VS_CONN_F_NOOUTPUT: u32 = 0x0080;
    const IP_VS_CONN_F_NFCT: u32 = 1 << 16;

    /// C-shaped mirror of the objects: protocol numbers, raw states and raw bits.
    struct CConn {
        protocol: u8,
        state: u32,
        control: bool,
        n_control: u32,
        flags: u32,
        dest: Option<(i32, bool)>,
    }

    struct CSkb {
        protocol: u8,
        th_syn: Option<bool>,
        sch_type: Option<u8>,
        fragoffs: u16,
        ct_confirmed: bool,
    }

    fn c_is_new_conn(skb: &CSkb) -> bool {
        match skb.protocol {
            // th == NULL -> false; else th->syn
            IPPROTO_TCP => skb.th_syn.unwrap_or(false),
            IPPROTO_SCTP => match skb.sch_type {
                None => false,
                Some(t) => t == 1,
            },
            _ => false,
        }
    }

    fn c_is_new_conn_expected(cp: &CConn, conn_reuse_mode: i32) -> bool {
        if cp.control {
            return false;
        }
        match cp.protocol {
            IPPROTO_TCP => {
                (cp.state == IP_VS_TCP_S_TIME_WAIT)
                    || (cp.state == IP_VS_TCP_S_CLOSE)
                    || ((conn_reuse_mode & 2) != 0
                        && (cp.state == IP_VS_TCP_S_FIN_WAIT)
                        && (cp.flags & IP_VS_CONN_F_NOOUTPUT) != 0)
            }
            IPPROTO_SCTP => cp.state == IP_VS_SCTP_S_CLOSED,
            _ => false,
        }
    }

    /// Literal transcription of `ip_vs_in_hook()` from the lookup to
    /// `ip_vs_try_to_schedule()`.
    fn c_in_hook(
        cp_in: Option<CConn>,
        skb: &CSkb,
        reuse_mode_sysctl: i32,
        expire_nodest_conn: i32,
    ) -> Effects {
        let mut fx = Effects {
            dropped: false,
            scheduled: false,
            expired: false,
            put: false,
            flags_after: 0,
        };
        let mut cp = cp_in;
        if let Some(c) = &cp {
            fx.flags_after = c.flags;
        }
        let uses_old_ct = |_cp: &CConn| skb.ct_confirmed;

        if skb.fragoffs == 0 && c_is_new_conn(skb) && cp.is_some() {
            let c = cp.as_ref().unwrap();
            let conn_reuse_mode = reuse_mode_sysctl;
            let mut old_ct = false;
            let mut resched = false;

            if expire_nodest_conn != 0 && c.dest.is_some() && c.dest.unwrap().0 == 0 {
                resched = true;
                old_ct = uses_old_ct(c);
            } else if conn_reuse_mode != 0 && c_is_new_conn_expected(c, conn_reuse_mode) {
                old_ct = uses_old_ct(c);
                if c.n_control == 0 {
                    resched = true;
                } else {
                    resched = !old_ct;
                }
            }

            if resched {
                if !old_ct {
                    fx.flags_after &= !IP_VS_CONN_F_NFCT;
                }
                if c.n_control == 0 {
                    fx.expired = true;
                }
                fx.put = true;
                if old_ct {
                    fx.dropped = true;
                    return fx;
                }
                cp = None;
            }
        }

        if cp.is_some()
            && cp.as_ref().unwrap().dest.is_some()
            && !cp.as_ref().unwrap().dest.unwrap().1
        {
            let c = cp.as_ref().unwrap();
            if expire_nodest_conn != 0 {
                let old_ct = uses_old_ct(c);
                if !old_ct {
                    fx.flags_after &= !IP_VS_CONN_F_NFCT;
                }
                fx.expired = true;
                fx.put = true;
                if old_ct {
                    fx.dropped = true;
                    return fx;
                }
                cp = None;
            } else {
                fx.put = true;
                fx.dropped = true;
                return fx;
            }
        }

        if cp.is_none() {
            fx.scheduled = true;
        }
        fx
    }

    fn effects_of(d: Decision, flags: u32) -> Effects {
        Effects {
            dropped: d.drops(),
            scheduled: d.schedules(),
            expired: d.expires(),
            put: d.puts_entry(),
            flags_after: d.apply_flags(flags),
        }
    }

    fn to_c_skb(h: Header, later_fragment: bool, ct_confirmed: bool) -> CSkb {
        let (protocol, th_syn, sch_type) = match h {
            Header::Tcp(f) => (IPPROTO_TCP, f.map(|f| f.bits() & 0x02 != 0), None),
            Header::Udp => (IPPROTO_UDP, None, None),
            Header::Sctp(t) => (IPPROTO_SCTP, None, t),
            Header::Other => (IPPROTO_ESP, None, None),
        };
        CSkb {
            protocol,
            th_syn,
            sch_type,
            fragoffs: if later_fragment { 8 } else { 0 },
            ct_confirmed,
        }
    }

    fn to_c_conn(e: &Entry) -> CConn {
        let (protocol, state) = match e.state {
            ConnState::Tcp(s) => (IPPROTO_TCP, s.as_c()),
            ConnState::Sctp(s) => (IPPROTO_SCTP, s.as_c()),
            ConnState::Other => (IPPROTO_UDP, 0),
        };
        CConn {
            protocol,
            state,
            control: e.controlled,
            n_control: e.n_control,
            flags: e.flags,
            dest: e.dest.map(|d| (d.weight, d.available)),
        }
    }

    fn headers() -> Vec<Header> {
        let mut v = Vec::new();
        v.push(Header::Tcp(None));
        for bits in 0u8..16 {
            // FIN, SYN, RST and ACK in every combination (ACK is 0x10).
            let b = (bits & 0x07) | if bits & 0x08 != 0 { 0x10 } else { 0 };
            v.push(Header::Tcp(Some(TcpFlags::from_bits(b))));
        }
        v.push(Header::Udp);
        v.push(Header::Sctp(None));
        for t in 0u8..4 {
            v.push(Header::Sctp(Some(t)));
        }
        v.push(Header::Other);
        v
    }

    fn states() -> Vec<ConnState> {
        let mut v: Vec<ConnState> = TcpState::ALL.iter().map(|&s| ConnState::Tcp(s)).collect();
        v.extend(SctpState::ALL.iter().map(|&s| ConnState::Sctp(s)));
        v.push(ConnState::Other);
        v
    }

    fn dests() -> [Option<Dest>; 5] {
        [
            None,
            Some(Dest {
                weight: 1,
                available: true,
            }),
            Some(Dest {
                weight: 0,
                available: true,
            }),
            Some(Dest {
                weight: 1,
                available: false,
            }),
            Some(Dest {
                weight: 0,
                available: false,
            }),
        ]
    }

    fn entries() -> Vec<Option<Entry>> {
        let mut v = std::vec![None];
        for state in states() {
            for controlled in [false, true] {
                for n_control in [0u32, 1, 2] {
                    for flags in [0, NOOUTPUT, NFCT, NOOUTPUT | NFCT] {
                        for dest in dests() {
                            v.push(Some(Entry {
                                state,
                                controlled,
                                n_control,
                                flags,
                                dest,
                            }));
                        }
                    }
                }
            }
        }
        v
    }

    #[test]
    fn exhaustive_against_c_transcription() {
        let headers = headers();
        let entries = entries();
        let mut n = 0u64;
        for &header in &headers {
            for later_fragment in [false, true] {
                for entry in &entries {
                    for ct_confirmed in [false, true] {
                        for conn_reuse_mode in [-1, 0, 1, 2, 3, 4] {
                            for expire_nodest_conn in [0, 1, 2] {
                                for conntrack in [0, 1] {
                                    let settings = Settings {
                                        conn_reuse_mode,
                                        expire_nodest_conn,
                                        conntrack,
                                        ..Settings::default()
                                    };
                                    let input = ReuseInput {
                                        header,
                                        later_fragment,
                                        entry: *entry,
                                        ct_confirmed,
                                        settings,
                                    };
                                    let d = decide(&input);
                                    let flags = entry.map_or(0, |e| e.flags);
                                    let got = effects_of(d, flags);
                                    let want = c_in_hook(
                                        entry.as_ref().map(to_c_conn),
                                        &to_c_skb(header, later_fragment, ct_confirmed),
                                        conn_reuse_mode,
                                        expire_nodest_conn,
                                    );
                                    assert_eq!(got, want, "{input:?} -> {d:?}");
                                    // Internal consistency of the decision.
                                    assert!(!(d.drops() && d.schedules()), "{d:?}");
                                    n += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(n > 1_000_000);
    }

    /// `conn_reuse_old_conntrack`: 0 is exactly C; 1 changes only C's port-reuse drops, into
    /// a reschedule that retires the old conntrack, and never drops a packet C schedules.
    #[test]
    fn beyond_c_changes_only_reuse_drops() {
        let headers = headers();
        let entries = entries();
        let mut changed = 0u64;
        for &header in &headers {
            for entry in &entries {
                for ct_confirmed in [false, true] {
                    for conn_reuse_mode in [0, 1, 2, 3] {
                        for expire_nodest_conn in [0, 1] {
                            for old in [0, 1, -1] {
                                let settings = Settings {
                                    conn_reuse_mode,
                                    expire_nodest_conn,
                                    conn_reuse_old_conntrack: old,
                                    ..Settings::default()
                                };
                                let input = ReuseInput {
                                    header,
                                    later_fragment: false,
                                    entry: *entry,
                                    ct_confirmed,
                                    settings,
                                };
                                let c = decide(&input);
                                let rs = decide_beyond_c(&input);
                                match (c, old) {
                                    (Decision::ReuseDrop { expire_now }, 1 | -1) => {
                                        assert_eq!(
                                            rs,
                                            Decision::ReuseRetireConntrack { expire_now }
                                        );
                                        assert!(ct_confirmed && is_new_conn(header));
                                        assert!(
                                            rs.schedules()
                                                && !rs.drops()
                                                && rs.retires_conntrack()
                                                && rs.puts_entry()
                                        );
                                        assert_eq!(rs.expires(), c.expires());
                                        changed += 1;
                                    }
                                    _ => assert_eq!(rs, c, "{input:?}"),
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(changed > 0);
    }

    #[test]
    fn is_new_conn_matches_c() {
        for h in headers() {
            for later in [false, true] {
                assert_eq!(
                    is_new_conn(h),
                    c_is_new_conn(&to_c_skb(h, later, false)),
                    "{h:?}"
                );
            }
        }
        // SYN counts whatever else is set.
        assert!(is_new_conn(Header::Tcp(Some(
            TcpFlags::SYN | TcpFlags::ACK
        ))));
        assert!(is_new_conn(Header::Tcp(Some(
            TcpFlags::SYN | TcpFlags::RST | TcpFlags::FIN
        ))));
        assert!(!is_new_conn(Header::Tcp(Some(TcpFlags::ACK))));
        assert!(is_new_conn(Header::Sctp(Some(SCTP_CID_INIT))));
        assert!(!is_new_conn(Header::Sctp(Some(0))));
        assert!(!is_new_conn(Header::Udp));
    }

    fn syn_input(
        state: TcpState,
        ct_confirmed: bool,
        conn_reuse_mode: i32,
        conntrack: i32,
    ) -> ReuseInput {
        ReuseInput {
            header: Header::Tcp(Some(TcpFlags::SYN)),
            later_fragment: false,
            entry: Some(Entry {
                state: ConnState::Tcp(state),
                controlled: false,
                n_control: 0,
                flags: NFCT,
                dest: Some(Dest {
                    weight: 1,
                    available: true,
                }),
            }),
            ct_confirmed,
            settings: Settings {
                conn_reuse_mode,
                expire_nodest_conn: 0,
                conntrack,
                ..Settings::default()
            },
        }
    }

    #[test]
    fn reuse_time_wait_with_confirmed_conntrack_drops() {
        let d = decide(&syn_input(TcpState::TimeWait, true, 1, 1));
        assert_eq!(d, Decision::ReuseDrop { expire_now: true });
        assert!(d.drops() && d.expires() && !d.clears_nfct());
        assert_eq!(d.apply_flags(NFCT), NFCT);
    }

    #[test]
    fn reuse_time_wait_with_unconfirmed_conntrack_reschedules() {
        let d = decide(&syn_input(TcpState::TimeWait, false, 1, 1));
        assert_eq!(d, Decision::ReuseResched { expire_now: true });
        assert!(!d.drops() && d.schedules() && d.clears_nfct());
        assert_eq!(d.apply_flags(NFCT | NOOUTPUT), NOOUTPUT);
    }

    #[test]
    fn reuse_mode_zero_uses_existing() {
        for ct in [false, true] {
            assert_eq!(
                decide(&syn_input(TcpState::TimeWait, ct, 0, 1)),
                Decision::UseExisting
            );
        }
    }

    #[test]
    fn reuse_mode_two_alone_still_reschedules_time_wait() {
        // C tests `conn_reuse_mode` as a whole, not bit 0.
        assert_eq!(
            decide(&syn_input(TcpState::TimeWait, false, 2, 0)),
            Decision::ReuseResched { expire_now: true }
        );
    }

    #[test]
    fn established_entry_is_kept() {
        assert_eq!(
            decide(&syn_input(TcpState::Established, false, 3, 0)),
            Decision::UseExisting
        );
    }

    #[test]
    fn fin_wait_needs_mode_bit_two_and_nooutput() {
        let mut input = syn_input(TcpState::FinWait, false, 1, 0);
        assert_eq!(decide(&input), Decision::UseExisting);
        input.settings.conn_reuse_mode = 3;
        assert_eq!(decide(&input), Decision::UseExisting);
        if let Some(e) = input.entry.as_mut() {
            e.flags |= NOOUTPUT;
        }
        assert_eq!(decide(&input), Decision::ReuseResched { expire_now: true });
    }

    #[test]
    fn weight_zero_dest_with_expire_nodest_reschedules() {
        let mut input = syn_input(TcpState::Established, false, 0, 0);
        input.settings.expire_nodest_conn = 1;
        if let Some(e) = input.entry.as_mut() {
            e.dest = Some(Dest {
                weight: 0,
                available: true,
            });
        }
        assert_eq!(decide(&input), Decision::ReuseResched { expire_now: true });
        // Only a new connection's first packet: a plain ACK keeps the entry.
        input.header = Header::Tcp(Some(TcpFlags::ACK));
        assert_eq!(decide(&input), Decision::UseExisting);
        // Without expire_nodest_conn the SYN keeps it too.
        input.header = Header::Tcp(Some(TcpFlags::SYN));
        input.settings.expire_nodest_conn = 0;
        assert_eq!(decide(&input), Decision::UseExisting);
    }

    #[test]
    fn controlling_entry_with_confirmed_conntrack_is_kept() {
        let mut input = syn_input(TcpState::TimeWait, true, 1, 1);
        if let Some(e) = input.entry.as_mut() {
            e.n_control = 1;
        }
        assert_eq!(decide(&input), Decision::UseExisting);
        input.ct_confirmed = false;
        assert_eq!(decide(&input), Decision::ReuseResched { expire_now: false });
    }

    #[test]
    fn unavailable_dest() {
        let mut input = syn_input(TcpState::Established, false, 1, 0);
        input.header = Header::Tcp(Some(TcpFlags::ACK));
        if let Some(e) = input.entry.as_mut() {
            e.dest = Some(Dest {
                weight: 1,
                available: false,
            });
        }
        assert_eq!(decide(&input), Decision::NodestDrop);
        input.settings.expire_nodest_conn = 1;
        assert_eq!(decide(&input), Decision::NodestResched);
        input.ct_confirmed = true;
        assert_eq!(decide(&input), Decision::NodestExpireDrop);
        assert!(Decision::NodestExpireDrop.expires());
    }

    #[test]
    fn no_entry_schedules() {
        let mut input = syn_input(TcpState::TimeWait, true, 1, 1);
        input.entry = None;
        let d = decide(&input);
        assert_eq!(d, Decision::NoEntry);
        assert!(d.schedules() && !d.puts_entry());
    }
}
