// SPDX-License-Identifier: GPL-2.0
//! The transmitters of `ip_vs_xmit.c`: NAT (masquerading), direct routing and IP-in-IP
//! tunnelling, chosen by the connection's forwarding method. Header rewriting is the core's
//! (`ipvs_core::wire::nat`); routing and output are the glue's.

use super::conn::Conn;
use super::DropCounters;
use crate::glue::pernet::Net;
use crate::glue::skb::{self, rt_mode, Skb, Tunnel, Verdict};
use core::sync::atomic::Ordering::Relaxed;
use ipvs_core::netlink::ipvs::conn_flags;
use ipvs_core::sysctl::Settings;
use ipvs_core::wire::nat::{self, ChecksumMode, L4Update};
use ipvs_core::wire::sctp::{self, SctpCsum};
use ipvs_core::wire::{self, Family, Headers, Malformed};
use kernel::str::CStr;

/// `cp->packet_xmit`: send a request on its way to the real server. Consumes the packet
/// unless the verdict is `Accept` (local real server). `settings`: the namespace's knobs as
/// the hook read them for this packet.
pub(crate) fn xmit(
    net: &Net,
    drops: &DropCounters,
    settings: &Settings,
    cp: &Conn,
    skb: Skb,
    h: &Headers,
) -> Verdict {
    match cp.fwd_method() {
        conn_flags::MASQ => nat_xmit(net, drops, cp, skb, h),
        conn_flags::DROUTE => dr_xmit(net, drops, cp, skb, h),
        conn_flags::TUNNEL => tunnel_xmit(net, drops, settings.pmtu_disc != 0, cp, skb, h),
        // ip_vs_null_xmit(): the local node serves it.
        conn_flags::LOCALNODE => Verdict::Accept,
        conn_flags::BYPASS => bypass_xmit(net, drops, cp, skb, h),
        // No other method exists (the control plane refuses others).
        _ => Verdict::Accept,
    }
}

fn notrack(cp: &Conn) -> bool {
    cp.flags() & conn_flags::NFCT == 0
}

/// "From world but DNAT to loopback address?" of `ip_vs_nat_xmit(_v6)()` and
/// `ip_vs_icmp_xmit(_v6)()`: a packet from another host routed to a local loopback real
/// server is refused (`from_world`: [`Skb::is_from_world`] before routing), so that remote
/// clients never reach listeners bound to 127.0.0.1 or ::1. Logs the refusal (`func`: the C
/// transmitter's name, as C's debug message has it); the caller drops the packet, counted in
/// `nat_loopback`.
pub(crate) fn refuse_dnat_to_loopback(
    cp: &Conn,
    from_world: bool,
    local: bool,
    func: &'static CStr,
) -> bool {
    if !(local && from_world && cp.daddr.is_loopback(cp.family)) {
        return false;
    }
    skb::log_dnat_loopback(func, cp.family, &cp.daddr.0);
    true
}

/// The route cache of the connection's real server, when the connection goes to its address
/// (C passes `cp->dest` to `__ip_vs_get_out_rt()`; a synced connection may have none).
pub(crate) fn dst_cache(cp: &Conn) -> Option<&crate::glue::skb::DstCache> {
    cp.dest
        .as_deref()
        .filter(|d| d.addr == cp.daddr)
        .map(|d| &d.dst)
}

/// `ip_vs_nat_xmit()` / `ip_vs_nat_xmit_v6()`.
fn nat_xmit(net: &Net, drops: &DropCounters, cp: &Conn, mut skb: Skb, h: &Headers) -> Verdict {
    let first = !h.is_non_first_fragment();
    let mode = rt_mode::LOCAL | rt_mode::NON_LOCAL | rt_mode::RDR;
    let from_world = skb.is_from_world(cp.family);
    let Ok(route) = skb.route(
        net,
        cp.family,
        cp.family,
        &cp.daddr.0,
        mode,
        0,
        false,
        first,
        dst_cache(cp),
    ) else {
        return skb.drop(&drops.no_route);
    };
    let func = match cp.family {
        Family::Ipv4 => kernel::c_str!("ip_vs_nat_xmit"),
        Family::Ipv6 => kernel::c_str!("ip_vs_nat_xmit_v6"),
    };
    if refuse_dnat_to_loopback(cp, from_world, route.local, func) {
        return skb.drop(&drops.nat_loopback);
    }
    let rewritten = if h.protocol == wire::IPPROTO_SCTP {
        rewrite_sctp(&mut skb, h, Side::Destination, &cp.daddr, cp.dport())
    } else {
        rewrite(&mut skb, h, |buf, h, mode| {
            nat::dnat_parsed(buf, h, &cp.daddr, cp.dport(), mode)
        })
    };
    if rewritten.is_err() {
        return skb.drop(&drops.nat_failed);
    }
    update_conntrack(cp, &mut skb, true);
    let same_end = cp.vport() == cp.dport() && cp.vaddr == cp.daddr;
    skb.send_or_cont(
        net,
        cp.family,
        route.local,
        notrack(cp),
        !route.local || !same_end,
    )
}

/// `ip_vs_update_conntrack()` for a NAT connection that keeps conntrack (`conntrack=1`): a
/// request (`outin`) points the reply tuple at the real server, a reply at the virtual
/// service. One-packet connections expect no reply and are left alone.
pub(crate) fn update_conntrack(cp: &Conn, skb: &mut Skb, outin: bool) {
    let f = cp.flags();
    if f & conn_flags::NFCT == 0
        || f & conn_flags::ONE_PACKET != 0
        || f & conn_flags::FWD_MASK != conn_flags::MASQ
    {
        return;
    }
    if outin {
        skb.update_conntrack(cp.family, &cp.daddr.0, cp.dport(), true);
    } else {
        skb.update_conntrack(cp.family, &cp.vaddr.0, cp.vport(), false);
    }
}

/// `ip_vs_dr_xmit()` / `ip_vs_dr_xmit_v6()`: the packet goes unchanged to the real server's
/// MAC (the real server has the virtual address on a non-ARPing interface).
fn dr_xmit(net: &Net, drops: &DropCounters, cp: &Conn, mut skb: Skb, h: &Headers) -> Verdict {
    let first = !h.is_non_first_fragment();
    let mode = rt_mode::LOCAL | rt_mode::NON_LOCAL | rt_mode::KNOWN_NH;
    let Ok(route) = skb.route(
        net,
        cp.family,
        cp.family,
        &cp.daddr.0,
        mode,
        0,
        false,
        first,
        dst_cache(cp),
    ) else {
        return skb.drop(&drops.no_route);
    };
    skb.send_or_cont(net, cp.family, route.local, notrack(cp), true)
}

/// `ip_vs_bypass_xmit()` / `ip_vs_bypass_xmit_v6()`: a cache-bypass connection's packet
/// goes on unchanged to the address it was sent to, which is not this host's.
fn bypass_xmit(net: &Net, drops: &DropCounters, cp: &Conn, mut skb: Skb, h: &Headers) -> Verdict {
    let first = !h.is_non_first_fragment();
    let Ok(route) = skb.route(
        net,
        cp.family,
        cp.family,
        &h.daddr.0,
        rt_mode::NON_LOCAL,
        0,
        false,
        first,
        None,
    ) else {
        return skb.drop(&drops.no_route);
    };
    skb.bypass_prepare(cp.family);
    skb.send_or_cont(net, cp.family, route.local, notrack(cp), true)
}

/// `ip_vs_tunnel_xmit()` / `ip_vs_tunnel_xmit_v6()`: the packet in an outer header of the
/// real server's family (IPIP, IPv6-in-IPv6, or the one in the other), behind the GUE or GRE
/// header of the destination's tunnel type (`ipvs_core::tunnel`). Without `pmtu_disc` an
/// IPv4 packet too big for the tunnel is fragmented rather than refused, and the outer
/// header never has DF.
fn tunnel_xmit(
    net: &Net,
    drops: &DropCounters,
    pmtu_disc: bool,
    cp: &Conn,
    mut skb: Skb,
    h: &Headers,
) -> Verdict {
    let Some(dest) = cp.dest.as_deref() else {
        return skb.drop(&drops.no_dest);
    };
    // Stored from `u8`/`u16`s by the control plane.
    let tun_type = dest.tunnel.kind.load(Relaxed) as u8;
    let tun_flags = dest.tunnel.flags.load(Relaxed) as u16;
    let encap_len = ipvs_core::tunnel::encap_len(tun_type, tun_flags, skb.csum_partial());
    let first = !h.is_non_first_fragment();
    let outer_len = match dest.family {
        Family::Ipv4 => 20,
        Family::Ipv6 => 40,
    };
    let overhead = outer_len + encap_len as u32;
    let mut mode = rt_mode::LOCAL | rt_mode::NON_LOCAL | rt_mode::CONNECT | rt_mode::TUNNEL;
    if !pmtu_disc {
        mode |= rt_mode::NO_PMTU_DISC;
    }
    let Ok(route) = skb.route(
        net,
        dest.family,
        cp.family,
        &cp.daddr.0,
        mode,
        overhead,
        false,
        first,
        dst_cache(cp),
    ) else {
        return skb.drop(&drops.no_route);
    };
    if route.local {
        return skb.send_or_cont(net, cp.family, true, notrack(cp), false);
    }
    let tunnel = Tunnel {
        tun_type,
        port: dest.tunnel.port.load(Relaxed) as u16,
        flags: tun_flags,
        encap_len: encap_len as u32,
    };
    skb.tunnel_xmit(
        net,
        dest.family,
        cp.family,
        &route.saddr,
        &cp.daddr.0,
        !notrack(cp),
        &tunnel,
        pmtu_disc,
        &drops.xmit_failed,
    )
}

/// `handle_response()`'s rewrite of a NAT reply: the source becomes the virtual service.
/// `Err` means drop.
pub(crate) fn snat_reply(cp: &Conn, skb: &mut Skb, h: &Headers) -> Result<(), ()> {
    if h.protocol == wire::IPPROTO_SCTP {
        return rewrite_sctp(skb, h, Side::Source, &cp.vaddr, cp.vport());
    }
    rewrite(skb, h, |buf, h, mode| {
        nat::snat_parsed(buf, h, &cp.vaddr, cp.vport(), mode)
    })
}

/// Which end of an SCTP packet a NAT rewrite changes.
#[derive(Clone, Copy)]
enum Side {
    /// The source (a reply: `sctp_snat_handler()`).
    Source,
    /// The destination (a request: `sctp_dnat_handler()`).
    Destination,
}

/// The SCTP NAT rewrite (`nat::sctp_dnat_parsed` / `nat::sctp_snat_parsed`): address and
/// port written in the head of the packet made writable (IP header and SCTP common header,
/// as C's `skb_ensure_writable(skb, sctphoff + sizeof(*sctph))`); the CRC32c, when C
/// recomputes it, over the whole packet read in place (`sctp_compute_cksum()` walks the
/// fragments too), then `ip_summed` as C sets it. `Err` means drop.
fn rewrite_sctp(
    skb: &mut Skb,
    h: &Headers,
    side: Side,
    addr: &ipvs_core::wire::InetAddr,
    port: u16,
) -> Result<(), ()> {
    let ctx = sctp::CsumContext {
        partial: skb.csum_partial(),
        gso: skb.is_gso(),
        dev_sctp_crc: skb.dst_sctp_crc(),
        payload_mangled: false,
    };
    let need = if h.is_non_first_fragment() {
        h.l4_off
    } else {
        h.l4_off.saturating_add(sctp::HEADER_LEN)
    };
    let buf = skb.writable(need).ok_or(())?;
    let done = match side {
        Side::Source => nat::sctp_snat_parsed(buf, h, addr, port, ctx),
        Side::Destination => nat::sctp_dnat_parsed(buf, h, addr, port, ctx),
    }
    .map_err(|_| ())?;
    match done.l4 {
        Some(SctpCsum::Recomputed | SctpCsum::Unchanged) => skb.csum_unnecessary(),
        Some(SctpCsum::Pending) => {
            // sctp_nat_csum(): the CRC over the packet as it now is.
            let crc = sctp::checksum_packet(&*skb, h.l4_off).ok_or(())?;
            let buf = skb.writable(need).ok_or(())?;
            let l4 = buf.get_mut(h.l4_off..).ok_or(())?;
            sctp::SctpPacket::new_checked(l4)
                .map_err(|_| ())?
                .set_checksum(crc);
            skb.csum_unnecessary();
        }
        Some(SctpCsum::Gso | SctpCsum::LeftToDevice) | None => {}
    }
    Ok(())
}

/// Runs a NAT rewrite (`nat::dnat_parsed` / `nat::snat_parsed`) on the packet whose headers
/// the hook read (`h`), making writable only what it rewrites: the IP header and the fixed
/// transport header (C: `skb_ensure_writable(skb, tcphoff + sizeof(*tcph))`). Only when
/// the rewrite needs the whole datagram (UDP over IPv6 without checksum, which C computes
/// with `skb_checksum()`) is the whole packet made writable and linear. Then sets
/// `ip_summed` as C does. `Err` means drop.
fn rewrite(
    skb: &mut Skb,
    h: &Headers,
    f: impl Fn(&mut [u8], &Headers, ChecksumMode) -> Result<L4Update, Malformed>,
) -> Result<(), ()> {
    let mode = if skb.csum_partial() {
        ChecksumMode::Partial
    } else {
        ChecksumMode::Full
    };
    let need = if h.is_non_first_fragment() {
        h.l4_off
    } else {
        h.l4_off.saturating_add(h.l4_header_len)
    };
    let mut r = f(skb.writable(need).ok_or(())?, h, mode);
    if r == Err(Malformed::Incomplete) {
        let len = skb.len();
        r = f(skb.writable(len).ok_or(())?, h, mode);
    }
    match r.map_err(|_| ())? {
        L4Update::Recomputed => skb.csum_unnecessary(),
        L4Update::Incremental | L4Update::NoUdpChecksum => skb.csum_invalidate(),
        L4Update::PseudoHeader | L4Update::Fragment => {}
    }
    Ok(())
}
