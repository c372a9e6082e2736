// SPDX-License-Identifier: GPL-2.0
//! The netfilter hooks of `ip_vs_core.c`: `ip_vs_in_hook()` (requests: look up, decide about
//! port reuse, check the destination, schedule, transmit) and `ip_vs_out_hook()` (NAT
//! replies: look up, de-NAT).
//!
//! `ip_vs_in_hook()` is laid out as C's, in one place, so the reuse policy of
//! `ipvs_core::reuse` sits between the lookup and the scheduling:
//!
//! ```text
//! lookup (in_get) → reuse decision (ipvs_core::reuse::decide) → destination availability
//!                 → schedule (try_to_schedule) → stats, state → transmit (xmit.rs)
//! ```

use super::conn::{self, Conn, ConnParams, ConnRef, Lookup, CTPL_S_ASSURED};
use super::svc::Svc;
use super::xmit;
use super::{DpNet, DropCounters, PerNet};
use crate::glue::netfilter::{HookKind, NF_INET_FORWARD, NF_INET_LOCAL_OUT};
use crate::glue::pernet::Net;
use crate::glue::rcu::RcuReadGuard;
use crate::glue::skb::{family_of, Gathered, HeadedSkb, Skb, SkbFacts, SkbView, Verdict};
use core::sync::atomic::Ordering::Relaxed;
use ipvs_core::netlink::ipvs::{conn_flags, svc_flags};
use ipvs_core::persist;
use ipvs_core::proto::sctp;
use ipvs_core::proto::tcp::{self, TcpFlags, TcpState};
use ipvs_core::proto::{udp, Direction};
use ipvs_core::reuse::{self, ConnState, Decision, Entry, Header, ReuseInput};
use ipvs_core::sysctl::Knob;
use ipvs_core::wire::{self, Family, Headers, InetAddr, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use kernel::prelude::*;

const FTPPORT: u16 = 21;
const FTPDATA: u16 = 20;

/// The hook function of every ipvs_rs netfilter hook (see rust/dp_glue.c), finding the
/// namespace's state through `P`. [`dp_hook!`](crate::dp_hook) makes it the function the C
/// trampolines call (through the glue's [`nf_hook_entry!`](crate::nf_hook_entry)).
pub(crate) fn entry<P: PerNet>(
    kind: HookKind,
    af: u32,
    hooknum: u32,
    net: &Net,
    skb: HeadedSkb,
) -> Verdict {
    let Some(family) = family_of(af) else {
        return Verdict::Accept;
    };
    // Already marked as IPVS request or reply? (Every hook's first test: the packets IPVS
    // sent on pass its LOCAL_OUT hooks again. The trampolines test it before the call too.)
    if skb.facts().ipvs_property() {
        return Verdict::Accept;
    }
    let Some(ns) = P::dp_of(net) else {
        return Verdict::Accept;
    };
    match kind {
        HookKind::In | HookKind::ForwardIcmp if ns.backup_only() => Verdict::Accept,
        HookKind::In => in_hook(ns, net, family, hooknum, skb),
        HookKind::Out => out_hook(ns, net, family, hooknum, skb),
        HookKind::ForwardIcmp => forward_icmp(ns, net, family, hooknum, skb),
    }
}

/// Define `ipvs_rs_dp_hook`, the symbol the netfilter trampolines of rust/dp_glue.c call,
/// for the [`PerNet`] `$p` (the owner of the per-namespace slot, which the data path does
/// not name). Invoked once, by the module.
///
/// ```ignore
/// dp_hook!(ctl::NetState);
/// ```
#[macro_export]
macro_rules! dp_hook {
    ($p:ty) => {
        $crate::nf_hook_entry!($crate::dp::hook::entry::<$p>);
    };
}

/// A parsed TCP/UDP/SCTP packet.
struct Packet {
    /// The headers as [`wire::parse_packet`] read them: `total_len` is the skb's length.
    h: Headers,
    ports: [u16; 2],
    /// TCP flags (`None` for UDP and SCTP).
    tcp: Option<TcpFlags>,
    /// SCTP's chunks as C reads them (`None` for TCP and UDP).
    sctp: Option<SctpChunks>,
    len: usize,
}

/// What IPVS reads of an SCTP packet's chunks.
#[derive(Clone, Copy)]
struct SctpChunks {
    /// The first chunk's type (`None`: its header is not in the packet).
    first: Option<u8>,
    /// The state machine's event ([`sctp::packet_event`]; `None` leaves the entry alone).
    event: Option<sctp::Event>,
}

impl Packet {
    /// The packet may open a connection where an entry exists (`is_new_conn()`): a TCP SYN
    /// or an SCTP INIT.
    fn opens(&self) -> bool {
        self.tcp.is_some_and(|f| f.contains(TcpFlags::SYN))
            || self
                .sctp
                .is_some_and(|c| c.first == Some(wire::sctp::chunk_type::INIT))
    }

    /// The header the reuse decision reads.
    fn reuse_header(&self) -> Header {
        match (self.tcp, self.sctp) {
            (Some(f), _) => Header::Tcp(Some(f)),
            (None, Some(c)) => Header::Sctp(c.first),
            (None, None) => Header::Udp,
        }
    }
}

enum Parsed {
    /// TCP or UDP with its transport header.
    Packet(Packet),
    /// ICMP or ICMPv6: maybe an error about a connection.
    Icmp,
    /// Something IPVS leaves alone: other protocols, IPv6 non-first fragments (C:
    /// `ip_vs_try_to_schedule()` does not schedule them), and packets whose IP layer
    /// cannot be read (C: `ipv6_find_hdr()` fails, the protocol is unknown, accept).
    NotOurs,
    /// TCP or UDP without its fixed transport header: C's `tcp_conn_schedule()` /
    /// `udp_conn_schedule()` return `NF_DROP` (the hooks count it as malformed).
    Bad,
}

/// `ip_vs_fill_iph_skb()` and the protocol's header fetch: the headers are read where they
/// lie (`skb_header_pointer()`), nothing is pulled or linearised, the IPv6 extension-header
/// chain is walked to the end of the packet, and the packet's length is the skb's (BIG
/// TCP's IPv4 total length / IPv6 payload length of 0 are not malformed).
/// Inlined into the hooks: every packet that reaches them is parsed, and the usual one
/// ([`wire::parse_packet`]'s in-place path) then costs no call and no copy of its headers.
#[inline(always)]
fn parse(view: &SkbView<'_>, family: Family) -> Parsed {
    let Ok(info) = wire::parse_packet(view, family) else {
        return Parsed::NotOurs;
    };
    let h = info.headers;
    if h.protocol == wire::IPPROTO_ICMP && family == Family::Ipv4
        || h.protocol == wire::IPPROTO_ICMPV6 && family == Family::Ipv6
    {
        return Parsed::Icmp;
    }
    if !matches!(h.protocol, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP) || h.is_non_first_fragment()
    {
        return Parsed::NotOurs;
    }
    let Some(ports) = h.ports else {
        return Parsed::Bad;
    };
    // (`if`, not `bool::then`: at the kernel's opt-level "s" that is a call per packet.)
    let tcp = if h.protocol == IPPROTO_TCP {
        Some(TcpFlags::from_bits(info.tcp_flags))
    } else {
        None
    };
    let sctp = if h.protocol == IPPROTO_SCTP {
        Some(SctpChunks {
            first: sctp::first_chunk_type(view, h.l4_off),
            event: sctp::packet_event(view, h.l4_off),
        })
    } else {
        None
    };
    Parsed::Packet(Packet {
        h,
        ports,
        tcp,
        sctp,
        len: h.total_len,
    })
}

/// The protocols whose IPv4 fragments `ip_vs_out_hook()` gathers: those with an IPVS
/// protocol handler (none sets `dont_defrag`), and ICMP (`ip_vs_out_icmp()`).
const GATHER_OUT: &[u8] = &[
    IPPROTO_TCP,
    IPPROTO_UDP,
    wire::IPPROTO_SCTP,
    wire::IPPROTO_ICMP,
];
/// `ip_vs_in_hook()` gathers only ICMP errors (`ip_vs_in_icmp()`): at LOCAL_IN the stack has
/// reassembled IPv4 already, and locally generated packets are not fragmented yet.
const GATHER_ICMP: &[u8] = &[wire::IPPROTO_ICMP];

/// Whether C gathers the packet (`facts`) before reading it: an IPv4 fragment of one of
/// `protocols` (IPv6: nf_defrag_ipv6, enabled with the first IPv6 service, reassembles
/// before us).
fn gathers(facts: SkbFacts, protocols: &[u8]) -> bool {
    facts
        .ipv4_fragment_protocol()
        .is_some_and(|p| protocols.contains(&p))
}

/// `ip_vs_gather_frags()` where C calls it ([`gathers`]): the IPv4 fragment is reassembled
/// before IPVS reads it (at FORWARD nothing else does: without this a reply's fragments
/// would leave with the real server's address). `Err` carries the verdict when the kernel
/// took the fragment (queued, or freed and counted in `frag_reasm`).
#[inline(never)]
fn gather(ns: &DpNet, net: &Net, hooknum: u32, skb: Skb) -> Result<Skb, Verdict> {
    match skb.gather_frags(net, hooknum) {
        Gathered::Whole(skb) => Ok(skb),
        Gathered::Queued => {
            DropCounters::count(&ns.drops.frag_queued);
            Err(Verdict::Stolen)
        }
        Gathered::Failed => {
            DropCounters::count(&ns.drops.frag_reasm);
            Err(Verdict::Stolen)
        }
    }
}

/// The packet parsed, after its fragments are gathered where C gathers them
/// (`protocols`, [`gathers`]). The usual packet is read where its hook's trampoline found it
/// ([`HeadedSkb`]), with no further call into C.
#[inline(always)]
fn gather_and_parse(
    ns: &DpNet,
    net: &Net,
    family: Family,
    hooknum: u32,
    skb: HeadedSkb,
    protocols: &[u8],
) -> Result<(Skb, Parsed), Verdict> {
    if gathers(skb.facts(), protocols) {
        let skb = gather(ns, net, hooknum, skb.into_skb())?;
        let parsed = parse(&skb.view(), family);
        return Ok((skb, parsed));
    }
    let parsed = parse(&skb.view(), family);
    Ok((skb.into_skb(), parsed))
}

fn hz() -> u64 {
    u64::from(crate::glue::rcu::hz())
}

/// The stats objects a packet of `cp` counts in: its destination's, its service's and the
/// namespace's (`ip_vs_in_stats()` / `ip_vs_out_stats()` / `ip_vs_conn_stats()`).
fn each_stats(ns: &DpNet, cp: &Conn, f: impl Fn(&super::dest::StatsCells)) {
    if let Some(d) = &cp.dest {
        f(&d.stats);
    }
    if let Some(s) = &cp.svc_stats {
        f(s);
    }
    f(&ns.tot_stats);
}

/// `ip_vs_in_stats()`.
fn in_stats(ns: &DpNet, cp: &Conn, len: usize) {
    each_stats(ns, cp, |s| s.count_in(len));
}

/// `ip_vs_out_stats()`.
fn out_stats(ns: &DpNet, cp: &Conn, len: usize) {
    each_stats(ns, cp, |s| s.count_out(len));
}

/// `ip_vs_set_state()`: the protocol's state machine for one packet.
fn set_state(ns: &DpNet, cp: &Conn, dir: Direction, pkt: &Packet) {
    let assure = match pkt.tcp {
        Some(flags) => {
            let _g = cp.lock_state();
            let state = TcpState::from_c(cp.state.load(Relaxed)).unwrap_or(TcpState::None);
            let old_flags = cp.flags();
            let tr = tcp::transition(
                ns.defense.tcp_table(),
                &ns.tcp_timeout_of(),
                dir,
                flags,
                tcp::Conn {
                    state,
                    flags: old_flags,
                    has_dest: cp.dest.is_some(),
                },
            );
            cp.state.store(tr.state.as_c(), Relaxed);
            let moved = conn_flags::NOOUTPUT | conn_flags::INACTIVE;
            cp.flags
                .store((old_flags & !moved) | (tr.flags & moved), Relaxed);
            if let Some(d) = &cp.dest {
                d.activeconns.fetch_add(tr.counters.active_delta(), Relaxed);
            }
            cp.set_timeout(u64::from(tr.timeout) * hz());
            tr.assure_ct
        }
        None => match pkt.sctp {
            // set_sctp_state(): a packet without a chunk header leaves the entry alone.
            Some(SctpChunks { event: None, .. }) => return,
            Some(SctpChunks {
                event: Some(event), ..
            }) => {
                let _g = cp.lock_state();
                let state = sctp::SctpState::from_c(cp.state.load(Relaxed))
                    .unwrap_or(sctp::SctpState::None);
                let old_flags = cp.flags();
                let tr = sctp::transition(
                    // No interface changes SCTP's table (C 6.12 neither).
                    &sctp::Timeouts::DEFAULT,
                    dir,
                    event,
                    sctp::Conn {
                        state,
                        flags: old_flags,
                        has_dest: cp.dest.is_some(),
                    },
                );
                cp.state.store(tr.state.as_c(), Relaxed);
                let moved = conn_flags::NOOUTPUT | conn_flags::INACTIVE;
                cp.flags
                    .store((old_flags & !moved) | (tr.flags & moved), Relaxed);
                if let Some(d) = &cp.dest {
                    d.activeconns.fetch_add(tr.counters.active_delta(), Relaxed);
                }
                cp.set_timeout(u64::from(tr.timeout) * hz());
                tr.assure_ct
            }
            None => {
                let tr = udp::transition(&ns.udp_timeouts(), dir);
                cp.set_timeout(u64::from(tr.timeout) * hz());
                tr.assure_ct
            }
        },
    };
    if assure {
        // ip_vs_control_assure_ct()
        if let Some(ct) = cp.control() {
            ct.state.fetch_or(CTPL_S_ASSURED, Relaxed);
        }
    }
}

fn entry_of(cp: &Conn) -> Entry {
    let state = match cp.protocol {
        IPPROTO_TCP => {
            ConnState::Tcp(TcpState::from_c(cp.state.load(Relaxed)).unwrap_or(TcpState::None))
        }
        IPPROTO_SCTP => ConnState::Sctp(
            sctp::SctpState::from_c(cp.state.load(Relaxed)).unwrap_or(sctp::SctpState::None),
        ),
        _ => ConnState::Other,
    };
    Entry {
        state,
        controlled: cp.control().is_some(),
        n_control: cp.n_control.load(Relaxed).max(0) as u32,
        flags: cp.flags(),
        dest: cp.dest.as_deref().map(|d| reuse::Dest {
            weight: d.weight.load(Relaxed),
            available: d.available.load(Relaxed),
        }),
    }
}

/// Which end of its connection a packet comes from.
#[derive(Clone, Copy)]
enum Sender {
    /// A request: the client sent it (to the virtual service).
    Client,
    /// A reply: it goes to the client.
    Server,
}

/// The lookup key of a TCP/UDP packet, by which end sent it.
fn packet_key<'a>(ns: &DpNet, family: Family, pkt: &'a Packet, from: Sender) -> Lookup<'a> {
    let (client, far) = match from {
        Sender::Client => ((&pkt.h.saddr, pkt.ports[0]), (&pkt.h.daddr, pkt.ports[1])),
        Sender::Server => ((&pkt.h.daddr, pkt.ports[1]), (&pkt.h.saddr, pkt.ports[0])),
    };
    Lookup {
        net: ns.net_id(),
        family,
        protocol: pkt.h.protocol,
        caddr: client.0,
        cport: client.1,
        addr: far.0,
        port: far.1,
    }
}

/// `ip_vs_in_hook()`.
#[inline(never)]
fn in_hook(ns: &DpNet, net: &Net, family: Family, hooknum: u32, skb: HeadedSkb) -> Verdict {
    let facts = skb.facts();
    // Remote clients: only PACKET_HOST; and a route is needed.
    if (!facts.pkt_host() && hooknum != NF_INET_LOCAL_OUT) || !facts.has_dst() {
        return Verdict::Accept;
    }
    // Do not break raw sockets.
    if hooknum == NF_INET_LOCAL_OUT && family == Family::Ipv4 && skb.skb().is_from_nodefrag_socket()
    {
        return Verdict::Accept;
    }
    let (mut skb, parsed) = match gather_and_parse(ns, net, family, hooknum, skb, GATHER_ICMP) {
        Ok(r) => r,
        Err(v) => return v,
    };
    // (Borrowed, not moved out: the packet's headers are not copied again.)
    let pkt = match &parsed {
        Parsed::Packet(p) => p,
        Parsed::Icmp => return in_icmp(ns, net, family, hooknum, skb).unwrap_or(Verdict::Accept),
        Parsed::NotOurs => return no_protocol_handler(ns, family, skb),
        Parsed::Bad => return DropCounters::drop(&ns.drops.malformed),
    };
    let key = packet_key(ns, family, pkt, Sender::Client);
    let mut cp = conn::in_get(&key);
    let settings = ns.settings();

    // The port-reuse decision and the destination check (ipvs_core::reuse).
    let ct_confirmed = skb.ct_confirmed();
    let decision = reuse::decide_beyond_c(&ReuseInput {
        header: pkt.reuse_header(),
        later_fragment: pkt.h.is_non_first_fragment(),
        entry: cp.as_deref().map(entry_of),
        ct_confirmed,
        settings,
    });
    ns.reuse.count(decision, cp.is_some() && pkt.opens());
    // (`Option::take_if` would say it shorter, but it is rustc 1.80+; Linux 6.12 accepts 1.78.)
    let old = if decision.puts_entry() {
        cp.take()
    } else {
        None
    };
    if let Some(old) = old {
        if decision.clears_nfct() {
            old.flags.fetch_and(!conn_flags::NFCT, Relaxed);
        }
        if decision.expires() {
            old.expire_now();
        }
        old.put_no_rearm();
        if decision.drops() {
            return DropCounters::drop(&ns.drops.reuse);
        }
        if decision.retires_conntrack() && !skb.retire_conntrack(net, family) {
            // conntrack refused the packet (e.g. out of memory): what C does, a drop.
            return DropCounters::drop(&ns.drops.conntrack);
        }
    }
    debug_assert!(cp.is_some() == matches!(decision, Decision::UseExisting));

    let cp = match cp {
        Some(cp) => cp,
        None => match try_to_schedule(ns, net, family, &mut skb, pkt, &settings, Origin::Packet) {
            Ok(cp) => cp,
            Err(v) => return v,
        },
    };

    in_stats(ns, &cp, pkt.len);
    set_state(ns, &cp, Direction::Input, pkt);
    let v = xmit::xmit(net, &ns.drops, &settings, &cp, skb, &pkt.h);
    // The packet count, and the master's sync of the connection (ip_vs_sync_conn()).
    super::sync::after_packet(ns, &cp);
    drop(cp);
    v
}

/// `ip_vs_in_hook()`'s "Protocol supported?" for a packet IPVS leaves alone: with
/// `ignore_tunneled`, one of a protocol without an IPVS handler (IPIP, GRE, ...; C's test
/// kernel has TCP, UDP and SCTP handlers) is marked as IPVS's, so that what a tunnel
/// decapsulates from it passes IPVS untouched when it comes back through the hooks.
fn no_protocol_handler(ns: &DpNet, family: Family, mut skb: Skb) -> Verdict {
    if ns.int(Knob::IgnoreTunneled) != 0 {
        if let Ok(info) = wire::parse_packet(&skb, family) {
            if !matches!(
                info.headers.protocol,
                IPPROTO_TCP | IPPROTO_UDP | wire::IPPROTO_SCTP
            ) {
                skb.set_ipvs_property();
            }
        }
    }
    Verdict::Accept
}

/// What [`try_to_schedule`] schedules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A packet from the client.
    Packet,
    /// The packet quoted by an ICMP error from the client, a reply of the service that no
    /// connection knows (C's header with `IP_VS_HDR_INVERSE | IP_VS_HDR_ICMP`), handed over
    /// with its addresses and ports swapped back into the request's direction and without
    /// transport flags (C reads only the ports of a quoted header).
    IcmpQuote,
}

impl Origin {
    /// The address the schedulers that hash the destination (dh, lblc, lblcr) read: C's
    /// `iph->daddr`, which for a quoted reply is the client.
    fn sched_daddr(self, pkt: &Packet) -> &InetAddr {
        match self {
            Origin::Packet => &pkt.h.daddr,
            Origin::IcmpQuote => &pkt.h.saddr,
        }
    }
}

/// `IP_VS_CONN_F_ONE_PACKET` for a new connection of a one-packet service (`svc_flags`)
/// when the packet is UDP (`ip_vs_schedule()`, `ip_vs_leave()`).
fn one_packet_flag(svc_flags: u32, pkt: &Packet) -> u32 {
    if svc_flags & svc_flags::ONEPACKET != 0 && pkt.h.protocol == IPPROTO_UDP {
        conn_flags::ONE_PACKET
    } else {
        0
    }
}

/// `IP_VS_CONN_F_NFCT` for a new connection when the namespace keeps conntrack
/// (`ip_vs_conn_new()`).
fn nfct_flag(settings: &ipvs_core::sysctl::Settings) -> u32 {
    if settings.conntrack != 0 {
        conn_flags::NFCT
    } else {
        0
    }
}

/// `ip_vs_try_to_schedule()` with `tcp_conn_schedule()` / `udp_conn_schedule()` /
/// `sctp_conn_schedule()` and `ip_vs_schedule()`: `Err` carries the verdict when no
/// connection is created.
fn try_to_schedule(
    ns: &DpNet,
    net: &Net,
    family: Family,
    skb: &mut Skb,
    pkt: &Packet,
    settings: &ipvs_core::sysctl::Settings,
    origin: Origin,
) -> Result<ConnRef, Verdict> {
    let sched_daddr = origin.sched_daddr(pkt);
    if let Some(flags) = pkt.tcp {
        // tcp_conn_schedule(): a SYN without RST schedules; with sloppy_tcp any non-RST.
        if !tcp::starts_connection(flags, settings.sloppy_tcp != 0) {
            return Err(Verdict::Accept);
        }
    }
    if let Some(chunks) = pkt.sctp {
        // sctp_conn_schedule(): an INIT schedules (with sloppy_sctp any chunk but ABORT);
        // without a chunk header the packet is dropped.
        match sctp::schedule_check(chunks.first, false, true, settings.sloppy_sctp != 0) {
            sctp::ScheduleCheck::Drop => return Err(DropCounters::drop(&ns.drops.malformed)),
            sctp::ScheduleCheck::Accept => return Err(Verdict::Accept),
            sctp::ScheduleCheck::Lookup => {}
        }
    }
    let af = crate::glue::skb::af_of(family) as u16;
    let [cport, vport] = pkt.ports;
    let table = &*ns.services;
    let rcu = RcuReadGuard::new();
    let Some(svc) =
        table.find_for_packet(&rcu, af, pkt.h.protocol, &pkt.h.daddr.0, vport, skb.mark())
    else {
        return Err(Verdict::Accept);
    };
    let svc_flags = svc.flags();
    let svc_port = svc.key.port;
    // tcp_conn_schedule() / udp_conn_schedule(): "It seems that we are very loaded."
    if ns.defense.todrop() {
        return Err(DropCounters::drop(&ns.drops.drop_packet));
    }
    // Never schedule Active FTPDATA connections from a real server.
    if cport == FTPDATA {
        return Err(Verdict::Accept);
    }
    // Do not schedule replies from a local real server (ip_vs_schedule()).
    if skb.is_from_local_stack() && is_reply_of_existing(ns, family, pkt) {
        return Err(Verdict::Accept);
    }
    let one_packet = one_packet_flag(svc_flags, pkt);
    let nfct = nfct_flag(settings);
    let net_id = ns.net_id();

    if svc_flags & svc_flags::PERSISTENT != 0 {
        return sched_persist(ns, settings, svc, family, pkt, origin, nfct, skb, net);
    }
    if svc.key.fwmark == 0 && vport != svc_port {
        if svc_port == 0 {
            pr_err!("Schedule: port zero only supported in persistent services, check your ipvs configuration\n");
        }
        return leave(ns, net, family, skb, svc, pkt, settings, origin);
    }
    let Some(chosen) = svc.schedule(
        &pkt.h.saddr,
        pkt.ports[0],
        sched_daddr,
        ns.locality_expiration(),
    ) else {
        return leave(ns, net, family, skb, svc, pkt, settings, origin);
    };
    drop(rcu);
    let dport = if chosen.dest.port != 0 {
        chosen.dest.port
    } else {
        vport
    };
    let params = ConnParams {
        family,
        protocol: pkt.h.protocol,
        caddr: pkt.h.saddr,
        cport,
        vaddr: pkt.h.daddr,
        vport,
        daddr: chosen.dest.addr,
        dport,
        fwmark: skb.mark(),
        flags: one_packet | nfct,
        dest: Some(chosen.dest.clone()),
        svc_stats: Some(chosen.svc_stats.clone()),
    };
    let cp =
        conn::create(ns, net_id, params, None).map_err(|_| DropCounters::drop(&ns.drops.no_mem))?;
    conn_stats(ns, &cp);
    Ok(cp)
}

/// `ip_vs_schedule()`'s test for replies from a local real server: the packet, read in the
/// reverse direction (`IP_VS_HDR_INVERSE`: its destination is the client), belongs to a
/// connection. Such a packet (a local server answering from the virtual address, e.g. under
/// DR, where `ip_vs_out_hook()` finds no entry) must go out unchanged, not become a new
/// connection from the client's side.
fn is_reply_of_existing(ns: &DpNet, family: Family, pkt: &Packet) -> bool {
    let key = packet_key(ns, family, pkt, Sender::Server);
    match conn::in_get(&key) {
        Some(cp) => {
            cp.put_no_rearm();
            true
        }
        None => false,
    }
}

/// `ip_vs_conn_stats()`.
fn conn_stats(ns: &DpNet, cp: &Conn) {
    each_stats(ns, cp, |s| s.count_conn());
}

/// `ip_vs_leave()`: no real server for the packet of `svc`. With `cache_bypass`, a client's
/// packet (not an ICMP error's quote) for a firewall-mark service, addressed to a unicast
/// address that is not this host's, gets a bypass connection (no destination, C's
/// `IP_VS_CONN_F_BYPASS`) and goes on to that address: `Ok`, and the caller transmits it as
/// any connection's packet ([`xmit::xmit`]'s bypass transmitter), as its later packets will
/// be. Otherwise `Err`: the client is told the port is unreachable and the packet dropped;
/// packets to other ports of a virtual FTP service's address pass.
#[allow(clippy::too_many_arguments)]
fn leave(
    ns: &DpNet,
    net: &Net,
    family: Family,
    skb: &mut Skb,
    svc: &Svc,
    pkt: &Packet,
    settings: &ipvs_core::sysctl::Settings,
    origin: Origin,
) -> Result<ConnRef, Verdict> {
    if settings.cache_bypass != 0
        && svc.key.fwmark != 0
        && origin == Origin::Packet
        && crate::glue::skb::addr_is_unicast(net, family, &pkt.h.daddr.0)
    {
        let [cport, vport] = pkt.ports;
        let params = ConnParams {
            family,
            protocol: pkt.h.protocol,
            caddr: pkt.h.saddr,
            cport,
            vaddr: pkt.h.daddr,
            vport,
            daddr: InetAddr([0; 16]),
            dport: 0,
            fwmark: skb.mark(),
            flags: conn_flags::BYPASS | one_packet_flag(svc.flags(), pkt) | nfct_flag(settings),
            dest: None,
            svc_stats: None,
        };
        return conn::create(ns, ns.net_id(), params, None)
            .map_err(|_| DropCounters::drop(&ns.drops.no_mem));
    }
    // The service's port as the packet has it (the destination port; for a quoted reply,
    // swapped back, the same).
    let dport = pkt.ports[1];
    if svc.key.port == FTPPORT && dport != FTPPORT {
        return Err(Verdict::Accept);
    }
    skb.icmp_port_unreachable(family, net);
    Err(DropCounters::drop(&ns.drops.unreachable))
}

/// `ip_vs_sched_persist()`: find or create the client's template, then the connection. The
/// keys, ports and flags are the core's ([`persist::sched_persist`]); the decision whether
/// a found template may be used ([`persist::template_usable`]) and how an unusable one is
/// taken out of the way ([`conn::invalidate_template`]) too. What stays here is the table
/// work and the scheduler call.
#[allow(clippy::too_many_arguments)]
fn sched_persist(
    ns: &DpNet,
    settings: &ipvs_core::sysctl::Settings,
    svc: &Svc,
    family: Family,
    pkt: &Packet,
    origin: Origin,
    nfct: u32,
    skb: &mut Skb,
    net: &Net,
) -> Result<ConnRef, Verdict> {
    let sched_daddr = origin.sched_daddr(pkt);
    let [cport, vport] = pkt.ports;
    let svc_port = svc.key.port;
    let keys = persist::sched_persist(
        &persist::PersistService {
            af: family.af(),
            port: svc_port,
            fwmark: svc.key.fwmark,
            netmask: svc.netmask(),
            flags: svc.flags(),
        },
        &persist::PersistPacket {
            protocol: u16::from(pkt.h.protocol),
            caddr: pkt.h.saddr,
            cport,
            vaddr: pkt.h.daddr,
            vport,
        },
    );
    let net_id = ns.net_id();
    // ip_vs_ct_in_get() + ip_vs_check_template().
    let found = conn::template_get(net_id, &keys.template).and_then(|ct| {
        let dest = ct.dest.as_deref().map(|d| persist::TemplateDest {
            available: d.available.load(Relaxed),
            weight: d.weight.load(Relaxed),
        });
        if persist::template_usable(dest, settings.expire_quiescent()) {
            Some(ct)
        } else {
            conn::invalidate_template(&ct);
            ct.put_no_rearm();
            None
        }
    });
    let ct = match found {
        Some(ct) => ct,
        None => {
            let Some(chosen) =
                svc.schedule(&pkt.h.saddr, cport, sched_daddr, ns.locality_expiration())
            else {
                return leave(ns, net, family, skb, svc, pkt, settings, origin);
            };
            let t = &keys.template;
            let params = ConnParams {
                family,
                protocol: proto_u8(t.protocol),
                caddr: t.caddr,
                cport: t.cport,
                vaddr: t.vaddr,
                vport: t.vport,
                daddr: chosen.dest.addr,
                dport: keys.template_dport(chosen.dest.port),
                fwmark: skb.mark(),
                // C's ip_vs_sched_persist(): IP_VS_CONN_F_TEMPLATE only (a backup, C's or
                // ours, refuses a synced template with NO_CPORT).
                flags: persist::CONN_F_TEMPLATE,
                dest: Some(chosen.dest.clone()),
                svc_stats: Some(chosen.svc_stats.clone()),
            };
            let ct = conn::create(ns, net_id, params, None)
                .map_err(|_| DropCounters::drop(&ns.drops.no_mem))?;
            ct.set_timeout(u64::from(svc.timeout_jiffies.load(Relaxed)));
            ct
        }
    };
    let Some(dest) = ct.dest.clone() else {
        return Err(DropCounters::drop(&ns.drops.no_dest));
    };
    let c = &keys.conn;
    let params = ConnParams {
        family,
        protocol: proto_u8(c.protocol),
        caddr: c.caddr,
        cport: c.cport,
        vaddr: c.vaddr,
        vport: c.vport,
        daddr: dest.addr,
        dport: keys.conn_dport(dest.port),
        fwmark: skb.mark(),
        flags: keys.conn_flags | nfct,
        dest: Some(dest),
        svc_stats: Some(svc.stats.clone()),
    };
    let cp = conn::create(ns, net_id, params, Some(&ct))
        .map_err(|_| DropCounters::drop(&ns.drops.no_mem))?;
    drop(ct);
    conn_stats(ns, &cp);
    Ok(cp)
}

/// A protocol number of the core's model as the table keeps it: the core widens `u8`
/// protocols (`IPPROTO_IP` included), so the value always fits.
fn proto_u8(protocol: u16) -> u8 {
    u8::try_from(protocol).unwrap_or(u8::MAX)
}

/// `ip_vs_out_hook()` + `handle_response()`.
#[inline(never)]
fn out_hook(ns: &DpNet, net: &Net, family: Family, hooknum: u32, skb: HeadedSkb) -> Verdict {
    if hooknum == NF_INET_LOCAL_OUT && family == Family::Ipv4 && skb.skb().is_from_nodefrag_socket()
    {
        return Verdict::Accept;
    }
    if !skb.facts().has_dst() {
        return Verdict::Accept;
    }
    // Reassemble IPv4 fragments (C: for the protocols it handles, ICMP in ip_vs_out_icmp()).
    let (mut skb, parsed) = match gather_and_parse(ns, net, family, hooknum, skb, GATHER_OUT) {
        Ok(r) => r,
        Err(v) => return v,
    };
    let pkt = match &parsed {
        Parsed::Packet(p) => p,
        Parsed::Icmp => return out_icmp(ns, net, family, hooknum, skb).unwrap_or(Verdict::Accept),
        // Replies IPVS cannot read are not IPVS's to drop.
        Parsed::NotOurs | Parsed::Bad => return Verdict::Accept,
    };
    let key = packet_key(ns, family, pkt, Sender::Server);
    let Some(cp) = conn::out_get(&key) else {
        return reply_without_connection(ns, net, family, &mut skb, pkt);
    };
    // handle_response()
    if cp.fwd_method() == conn_flags::MASQ {
        if xmit::snat_reply(&cp, &mut skb, &pkt.h).is_err() {
            drop(cp);
            return skb.drop(&ns.drops.nat_failed);
        }
        // ip_vs_route_me_harder(): only with snat_reroute.
        if ns.int(Knob::SnatReroute) != 0 && skb.route_me_harder(net, family, hooknum).is_err() {
            drop(cp);
            return skb.drop(&ns.drops.no_route);
        }
    }
    out_stats(ns, &cp, pkt.len);
    set_state(ns, &cp, Direction::Output, pkt);
    skb.set_ipvs_property();
    if cp.flags() & conn_flags::NFCT == 0 {
        skb.notrack();
    } else {
        xmit::update_conntrack(&cp, &mut skb, false);
    }
    drop(cp);
    Verdict::Accept
}

/// Why [`icmp_error`] has no error to look up, when the packet does not simply go on.
enum IcmpSkip {
    /// C drops it before any lookup.
    Drop,
    /// Not an ICMP error ([`wire::IcmpTriage::NotError`]).
    NotError,
}

/// The ICMP error a packet carries, read in place: the ICMP type first, then, for an
/// error, the quoted IP header and ports (nothing else of the message). `Err`: C drops the
/// packet before any lookup (no ICMP header; an ICMPv6 error behind a fragment header:
/// [`wire::IcmpTriage`]), or it is no ICMP error at all. `Ok(None)`: an error IPVS does not
/// relate to a TCP/UDP/SCTP connection.
/// The checksum is checked by the caller once the error is related to a connection
/// (`ip_vs_checksum_common_check()`).
fn icmp_error(skb: &Skb, family: Family) -> Result<Option<(wire::IcmpError, Headers)>, IcmpSkip> {
    let view = skb.view();
    let Ok(outer) = wire::parse_packet(&view, family).map(|i| i.headers) else {
        return Ok(None);
    };
    let err = match wire::IcmpTriage::of_packet(&view, &outer) {
        wire::IcmpTriage::Drop => return Err(IcmpSkip::Drop),
        wire::IcmpTriage::NotError => return Err(IcmpSkip::NotError),
        wire::IcmpTriage::Ignore => return Ok(None),
        wire::IcmpTriage::Error(e) => e,
    };
    if !matches!(err.inner.protocol, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
        || err.inner.ports.is_none()
    {
        return Ok(None);
    }
    Ok(Some((err, outer)))
}

/// `ip_vs_in_icmp()`: an ICMP error from the client side about a reply of a connection
/// (the quoted packet went virtual service → client); with `schedule_icmp`, about a reply
/// no connection knows (e.g. one a DR real server sent straight to the client): the error
/// then schedules a connection, as the request would have, and follows it to a real server.
/// `None`: unrelated, go on.
fn in_icmp(ns: &DpNet, net: &Net, family: Family, hooknum: u32, mut skb: Skb) -> Option<Verdict> {
    let (err, outer) = match icmp_error(&skb, family) {
        Ok(e) => e?,
        Err(IcmpSkip::Drop) => return Some(DropCounters::drop(&ns.drops.malformed)),
        // ip_vs_in_hook()'s "Protocol supported?" after `*related = 0`.
        Err(IcmpSkip::NotError) => return Some(no_protocol_handler(ns, family, skb)),
    };
    let inner = err.inner;
    let ports = inner.ports?;
    // The quoted headers are in reverse order: its destination is the client.
    let key = Lookup {
        net: ns.net_id(),
        family,
        protocol: inner.protocol,
        caddr: &inner.daddr,
        cport: ports[1],
        addr: &inner.saddr,
        port: ports[0],
    };
    let settings = ns.settings();
    let (cp, new_cp) = match conn::in_get(&key) {
        Some(cp) => (cp, false),
        None => {
            if settings.schedule_icmp == 0 {
                return None;
            }
            let quoted = Packet {
                h: Headers {
                    saddr: inner.daddr,
                    daddr: inner.saddr,
                    ..inner
                },
                ports: [ports[1], ports[0]],
                tcp: None,
                sctp: None,
                len: skb.len(),
            };
            match try_to_schedule(
                ns,
                net,
                family,
                &mut skb,
                &quoted,
                &settings,
                Origin::IcmpQuote,
            ) {
                Ok(cp) => (cp, true),
                Err(v) => return Some(v),
            }
        }
    };
    // `__ip_vs_conn_put()` for a found entry; a new one is armed by `ip_vs_conn_put()`
    // (dropping the reference).
    let put = |cp: ConnRef| {
        if new_cp {
            drop(cp);
        } else {
            cp.put_no_rearm();
        }
    };
    // C checks the checksum only for the errors it rewrites (NAT).
    if cp.fwd_method() == conn_flags::MASQ && !skb.icmp_csum_ok(err.offset, family) {
        put(cp);
        return Some(DropCounters::drop(&ns.drops.icmp_csum));
    }
    in_stats(ns, &cp, skb.len());
    let v = if cp.fwd_method() != conn_flags::MASQ {
        // DR, TUN, local node: forwarded unchanged, like the connection's packets.
        xmit::xmit(net, &ns.drops, &settings, &cp, skb, &outer)
    } else {
        icmp_nat_xmit(ns, net, &cp, skb, family, hooknum)
    };
    cp.in_pkts.fetch_add(1, Relaxed);
    put(cp);
    Some(v)
}

/// `ip_vs_icmp_xmit()` for NAT: the error goes to the real server, its quoted packet
/// rewritten to the real server's address and port.
fn icmp_nat_xmit(
    ns: &DpNet,
    net: &Net,
    cp: &Conn,
    mut skb: Skb,
    family: Family,
    hooknum: u32,
) -> Verdict {
    use crate::glue::skb::rt_mode;
    let mode = if hooknum != NF_INET_FORWARD {
        rt_mode::LOCAL | rt_mode::NON_LOCAL | rt_mode::RDR
    } else {
        rt_mode::NON_LOCAL
    };
    let from_world = skb.is_from_world(family);
    let Ok(route) = skb.route(
        net,
        family,
        family,
        &cp.daddr.0,
        mode,
        0,
        true,
        true,
        super::xmit::dst_cache(cp),
    ) else {
        return skb.drop(&ns.drops.no_route);
    };
    let func = match family {
        Family::Ipv4 => kernel::c_str!("ip_vs_icmp_xmit"),
        Family::Ipv6 => kernel::c_str!("ip_vs_icmp_xmit_v6"),
    };
    if xmit::refuse_dnat_to_loopback(cp, from_world, route.local, func) {
        return skb.drop(&ns.drops.nat_loopback);
    }
    let len = skb.len();
    let Some(buf) = skb.writable(len) else {
        return skb.drop(&ns.drops.nat_failed);
    };
    if wire::nat::nat_icmp(
        buf,
        family,
        wire::nat::IcmpDirection::In,
        &cp.daddr,
        cp.dport(),
    )
    .is_err()
    {
        return skb.drop(&ns.drops.nat_failed);
    }
    skb.csum_invalidate();
    let same_end = cp.vport() == cp.dport() && cp.vaddr == cp.daddr;
    skb.send_or_cont(
        net,
        family,
        route.local,
        cp.flags() & conn_flags::NFCT == 0,
        !route.local || !same_end,
    )
}

/// The end of `ip_vs_out_hook()` for a packet no connection explains: with
/// `nat_icmp_send`, one from the address and port of a masquerading real server
/// (`ip_vs_has_real_service()`) is refused with ICMP "port unreachable" to that server
/// unless it is a TCP RST or an SCTP ABORT (the server learns that its peer is gone);
/// anything else goes on.
fn reply_without_connection(
    ns: &DpNet,
    net: &Net,
    family: Family,
    skb: &mut Skb,
    pkt: &Packet,
) -> Verdict {
    // One knob, not the whole Settings: every forwarded packet that is not IPVS's gets here.
    if ns.int(Knob::NatIcmpSend) == 0 || pkt.h.is_non_first_fragment() {
        return Verdict::Accept;
    }
    let rcu = RcuReadGuard::new();
    if !ns
        .reals
        .has_masq(&rcu, family, pkt.h.protocol, &pkt.h.saddr, pkt.ports[0])
    {
        return Verdict::Accept;
    }
    drop(rcu);
    let reset = pkt.tcp.is_some_and(|f| f.contains(TcpFlags::RST));
    let abort = pkt
        .sctp
        .is_some_and(|c| c.first == Some(wire::sctp::chunk_type::ABORT));
    if reset || abort {
        return Verdict::Accept;
    }
    skb.icmp_port_unreachable(family, net);
    DropCounters::drop(&ns.drops.nat_icmp_send)
}

/// `ip_vs_out_icmp()` + `handle_response_icmp()`: an ICMP error from a real server (or a
/// router near it) about a request of a connection (quoted packet: client → real server),
/// going to the client. `None`: unrelated, go on.
fn out_icmp(ns: &DpNet, net: &Net, family: Family, hooknum: u32, mut skb: Skb) -> Option<Verdict> {
    let (err, _outer) = match icmp_error(&skb, family) {
        Ok(e) => e?,
        Err(IcmpSkip::Drop) => return Some(DropCounters::drop(&ns.drops.malformed)),
        Err(IcmpSkip::NotError) => return None,
    };
    let inner = err.inner;
    let ports = inner.ports?;
    let key = Lookup {
        net: ns.net_id(),
        family,
        protocol: inner.protocol,
        caddr: &inner.saddr,
        cport: ports[0],
        addr: &inner.daddr,
        port: ports[1],
    };
    let cp = conn::out_get(&key)?;
    if cp.fwd_method() != conn_flags::MASQ {
        cp.put_no_rearm();
        return Some(Verdict::Accept);
    }
    if !skb.icmp_csum_ok(err.offset, family) {
        cp.put_no_rearm();
        return Some(DropCounters::drop(&ns.drops.icmp_csum));
    }
    // The ICMP checksum covers the whole message: the rewrite needs all of it (an error
    // related to a connection; C's skb_checksum() reads it all too).
    let len = skb.len();
    let ok = match skb.writable(len) {
        Some(buf) => wire::nat::nat_icmp(
            buf,
            family,
            wire::nat::IcmpDirection::Out,
            &cp.vaddr,
            cp.vport(),
        )
        .is_ok(),
        None => false,
    };
    if !ok {
        cp.put_no_rearm();
        return Some(DropCounters::drop(&ns.drops.nat_failed));
    }
    // ip_vs_route_me_harder(): only with snat_reroute.
    if ns.int(Knob::SnatReroute) != 0 && skb.route_me_harder(net, family, hooknum).is_err() {
        cp.put_no_rearm();
        return Some(DropCounters::drop(&ns.drops.no_route));
    }
    skb.csum_invalidate();
    out_stats(ns, &cp, len);
    skb.set_ipvs_property();
    if cp.flags() & conn_flags::NFCT == 0 {
        skb.notrack();
    } else {
        xmit::update_conntrack(&cp, &mut skb, false);
    }
    cp.put_no_rearm();
    Some(Verdict::Accept)
}

/// `ip_vs_forward_icmp()` / `ip_vs_forward_icmp_v6()`: ICMP errors forwarded through the
/// director that relate to IPVS connections.
#[inline(never)]
fn forward_icmp(ns: &DpNet, net: &Net, family: Family, hooknum: u32, skb: HeadedSkb) -> Verdict {
    // C looks at nothing but ICMP here (`ip_hdr(skb)->protocol != IPPROTO_ICMP`): the
    // parse below would find anything else not ICMP too.
    if skb
        .facts()
        .ipv4_protocol()
        .is_some_and(|p| p != wire::IPPROTO_ICMP)
    {
        return Verdict::Accept;
    }
    let (skb, parsed) = match gather_and_parse(ns, net, family, hooknum, skb, GATHER_ICMP) {
        Ok(r) => r,
        Err(v) => return v,
    };
    match parsed {
        Parsed::Icmp => in_icmp(ns, net, family, hooknum, skb).unwrap_or(Verdict::Accept),
        _ => Verdict::Accept,
    }
}
