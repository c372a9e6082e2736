// SPDX-License-Identifier: GPL-2.0
//! Packets at a netfilter hook.
//!
//! C headers: include/linux/skbuff.h, include/linux/netfilter.h, include/net/ip.h (the
//! helpers are in rust/dp_glue.c).
//!
//! An [`Skb`] is the packet a hook function was called with. It is borrowed from netfilter
//! for the duration of the call: methods that hand it on (send, tunnel, free) consume the
//! `Skb` and return the verdict the hook must give ([`Verdict::Stolen`]), so no code can
//! touch a packet that was passed on.

use super::bindings;
use super::pernet::Net;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use ipvs_core::wire::{Family, PacketRead};

/// A netfilter verdict (`NF_DROP`, `NF_ACCEPT`, `NF_STOLEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Drop,
    Accept,
    /// The packet was consumed (sent or freed) by ipvs_rs.
    Stolen,
}

impl Verdict {
    pub(crate) fn as_c(self) -> u32 {
        match self {
            Verdict::Drop => 0,
            Verdict::Accept => 1,
            Verdict::Stolen => 2,
        }
    }
}

/// The encapsulation of a tunnelled destination, for [`Skb::tunnel_xmit`].
pub(crate) struct Tunnel {
    /// `IP_VS_CONN_F_TUNNEL_TYPE_*`.
    pub(crate) tun_type: u8,
    /// The GUE port, host order.
    pub(crate) port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*`.
    pub(crate) flags: u16,
    /// The GUE/GRE header length (`ipvs_core::tunnel::encap_len` of the above).
    pub(crate) encap_len: u32,
}

/// `AF_INET` / `AF_INET6` of a family.
pub(crate) fn af_of(family: Family) -> i32 {
    match family {
        Family::Ipv4 => bindings::AF_INET as i32,
        Family::Ipv6 => bindings::AF_INET6 as i32,
    }
}

/// The family of `AF_INET` / `AF_INET6` (`None` for any other address family).
pub(crate) fn family_of(af: u32) -> Option<Family> {
    match af {
        bindings::AF_INET => Some(Family::Ipv4),
        bindings::AF_INET6 => Some(Family::Ipv6),
        _ => None,
    }
}

/// The rate-limited debug message of a NAT to a loopback address refused for a packet from
/// another host (`func`: the C transmitter that logs it; `daddr`: 4 or 16 bytes by family).
pub(crate) fn log_dnat_loopback(
    func: &'static kernel::str::CStr,
    family: Family,
    daddr: &[u8; 16],
) {
    // SAFETY: `func` is NUL-terminated and static; `daddr` holds 16 bytes (4 read for IPv4).
    unsafe {
        bindings::ipvs_rs_log_dnat_loopback(
            func.as_char_ptr(),
            af_of(family),
            daddr.as_ptr().cast(),
        )
    }
}

/// `ip_vs_addr_is_unicast()`: for IPv4 an address whose route type in `net` is unicast (not
/// this host's, not broadcast or multicast), for IPv6 a unicast address.
pub(crate) fn addr_is_unicast(net: &Net, family: Family, addr: &[u8; 16]) -> bool {
    // SAFETY: `net` is a live namespace; `addr` holds 16 bytes (4 read for IPv4).
    unsafe { bindings::ipvs_rs_addr_is_unicast(net.as_ptr(), af_of(family), addr.as_ptr().cast()) }
}

/// Route modes of `__ip_vs_get_out_rt()` (`IP_VS_RT_MODE_*`).
pub(crate) mod rt_mode {
    pub(crate) const LOCAL: i32 = 0x0001;
    pub(crate) const NON_LOCAL: i32 = 0x0002;
    pub(crate) const RDR: i32 = 0x0004;
    pub(crate) const CONNECT: i32 = 0x0008;
    pub(crate) const KNOWN_NH: i32 = 0x0010;
    pub(crate) const TUNNEL: i32 = 0x0020;
    /// ipvs_rs's own: the namespace's `pmtu_disc` is 0.
    pub(crate) const NO_PMTU_DISC: i32 = 0x0100;
}

/// Where a routed packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    /// The destination is an address of this host: the packet keeps its route and continues
    /// up the stack.
    pub(crate) local: bool,
    /// The route's source address (4 or 16 significant bytes).
    pub(crate) saddr: [u8; 16],
}

/// What [`Skb::gather_frags`] did with an IPv4 fragment.
pub(crate) enum Gathered {
    /// The fragment completed the datagram: the packet is now the whole datagram.
    Whole(Skb),
    /// The fragment was queued until the others arrive (the kernel owns it now).
    Queued,
    /// Reassembly failed; the kernel freed the fragment.
    Failed,
}

/// The packet a hook function was called with.
///
/// # Invariants
///
/// `ptr` is a live `struct sk_buff` owned by netfilter for as long as this value exists; its
/// network header is the IP header of family the hook was registered for.
pub(crate) struct Skb {
    ptr: NonNull<bindings::sk_buff>,
}

impl Skb {
    /// # Safety
    ///
    /// `ptr` is the skb passed to a netfilter hook function that is running, and the `Skb`
    /// does not outlive that call; nothing else uses the skb meanwhile.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::sk_buff) -> Option<Skb> {
        // INVARIANT: per the caller.
        NonNull::new(ptr).map(|ptr| Skb { ptr })
    }

    fn raw(&self) -> *mut bindings::sk_buff {
        self.ptr.as_ptr()
    }

    /// `ip_vs_checksum_common_check()` of the ICMP or ICMPv6 message at `toff` (from the IP
    /// header): `true` if it verifies or needs no check (already validated, locally
    /// generated). Reads the message where it lies; nothing is linearised.
    pub(crate) fn icmp_csum_ok(&mut self, toff: usize, family: Family) -> bool {
        let Ok(toff) = u32::try_from(toff) else {
            return false;
        };
        // SAFETY: the skb is live (invariant); `nf_checksum()` may only cache the sum in it.
        unsafe { bindings::ipvs_rs_icmp_csum_ok(self.raw(), toff, af_of(family)) }
    }

    /// The first `len` bytes from the IP header made linear and private to this skb
    /// (`skb_ensure_writable()`), for rewriting: the slice is those bytes, no more (the rest
    /// of the linear area may still be shared with a clone), or fewer if the packet is
    /// shorter.
    pub(crate) fn writable(&mut self, len: usize) -> Option<&mut [u8]> {
        let mut lin: u32 = 0;
        let len = u32::try_from(len).ok()?;
        // SAFETY: the skb is live (invariant).
        let p = unsafe { bindings::ipvs_rs_skb_writable(self.raw(), len, &mut lin) };
        if p.is_null() {
            return None;
        }
        // SAFETY: after skb_ensure_writable(len) the first `len` linear bytes from the
        // network header are this skb's own (`lin` of them exist); nothing else accesses
        // them while `&mut self` is borrowed.
        Some(unsafe { core::slice::from_raw_parts_mut(p, lin.min(len) as usize) })
    }

    /// Bytes from the IP header to the end of the packet.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_pkt_len(self.raw()) as usize }
    }

    pub(crate) fn set_ipvs_property(&mut self) {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_set_ipvs_property(self.raw()) }
    }

    /// `skb->mark` (fwmark services).
    pub(crate) fn mark(&self) -> u32 {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_mark(self.raw()) }
    }

    /// `skb->ip_summed == CHECKSUM_PARTIAL`.
    pub(crate) fn csum_partial(&self) -> bool {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_csum_partial(self.raw()) }
    }

    /// `skb_is_gso()`.
    pub(crate) fn is_gso(&self) -> bool {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_is_gso(self.raw()) }
    }

    /// The device of the packet's route computes SCTP CRCs (`NETIF_F_SCTP_CRC`).
    pub(crate) fn dst_sctp_crc(&self) -> bool {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_dst_sctp_crc(self.raw()) }
    }

    /// After a rewrite: `CHECKSUM_COMPLETE` no longer holds.
    pub(crate) fn csum_invalidate(&mut self) {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_csum_invalidate(self.raw()) }
    }

    /// The transport checksum was recomputed in full.
    pub(crate) fn csum_unnecessary(&mut self) {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_csum_unnecessary(self.raw()) }
    }

    /// Sent by a local raw IPv4 socket with `IP_NODEFRAG` (C leaves those alone).
    pub(crate) fn is_from_nodefrag_socket(&self) -> bool {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_nodefrag_sk(self.raw()) }
    }

    /// `ip_vs_conn_uses_old_conntrack()`: the packet's conntrack entry exists and is
    /// confirmed.
    pub(crate) fn ct_confirmed(&self) -> bool {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_ct_confirmed(self.raw()) }
    }

    /// `ip_vs_update_conntrack()`: the unconfirmed conntrack of the packet gets `addr:port`
    /// as the far end of its reply tuple (the real server for a request, `outin`; the
    /// virtual service for a reply).
    pub(crate) fn update_conntrack(
        &mut self,
        family: Family,
        addr: &[u8; 16],
        port: u16,
        outin: bool,
    ) {
        // SAFETY: the skb is live (invariant); `addr` holds 16 bytes.
        unsafe {
            bindings::ipvs_rs_update_conntrack(
                self.raw(),
                af_of(family),
                addr.as_ptr().cast(),
                port.to_be(),
                outin,
            )
        }
    }

    /// Kill the packet's confirmed conntrack entry, detach it and let conntrack give the
    /// packet a fresh one (`conn_reuse_old_conntrack`).
    pub(crate) fn retire_conntrack(&mut self, net: &Net, family: Family) -> bool {
        // SAFETY: the skb is live (invariant) and `net` is its namespace.
        unsafe { bindings::ipvs_rs_retire_conntrack(self.raw(), net.as_ptr(), af_of(family)) }
    }

    /// `ip_vs_notrack()`: detach the packet from conntrack.
    pub(crate) fn notrack(&mut self) {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_notrack(self.raw()) }
    }

    /// ICMP port unreachable to the packet's sender (`ip_vs_leave()`).
    pub(crate) fn icmp_port_unreachable(&mut self, family: Family, net: &Net) {
        // SAFETY: the skb is live (invariant) and `net` is its namespace.
        unsafe { bindings::ipvs_rs_icmp_port_unreach(self.raw(), af_of(family), net.as_ptr()) }
    }

    /// `ip_vs_route_me_harder()` for a NAT reply; `Err` means drop.
    pub(crate) fn route_me_harder(
        &mut self,
        net: &Net,
        family: Family,
        hooknum: u32,
    ) -> Result<(), ()> {
        // SAFETY: the skb is live (invariant) and `net` is its namespace.
        match unsafe {
            bindings::ipvs_rs_route_me_harder(net.as_ptr(), af_of(family), self.raw(), hooknum)
        } {
            0 => Ok(()),
            _ => Err(()),
        }
    }

    /// Routes the packet (of family `skb_family`) to `daddr` (of family `family`: another
    /// for mixed-family tunnels; see `ipvs_rs_route()`); `Err` means drop. `cache`, when
    /// given, must be the route cache of the real server whose address `daddr` is: the route
    /// it gives is attached without a reference, valid while the caller's RCU read-side
    /// section lasts (netfilter runs hooks under RCU and the packet is sent before the hook
    /// returns).
    // The parameters are those of C's `__ip_vs_get_out_rt()`, which the C side mirrors.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn route(
        &mut self,
        net: &Net,
        family: Family,
        skb_family: Family,
        daddr: &[u8; 16],
        mode: i32,
        overhead: u32,
        icmp: bool,
        first_frag: bool,
        cache: Option<&DstCache>,
    ) -> Result<Route, ()> {
        let mut saddr = [0u8; 16];
        let cache = cache.map_or(core::ptr::null_mut(), |c| c.ptr);
        // SAFETY: the skb is live (invariant); `daddr` holds 16 bytes (4 read for IPv4) and
        // `saddr` has room for 16; `cache` is null or a live cache (`DstCache`'s invariant)
        // for `daddr`, per this method's contract.
        let r = unsafe {
            bindings::ipvs_rs_route(
                net.as_ptr(),
                self.raw(),
                af_of(family),
                af_of(skb_family),
                daddr.as_ptr().cast(),
                mode,
                overhead,
                icmp,
                first_frag,
                saddr.as_mut_ptr().cast(),
                cache,
            )
        };
        match r {
            0 => Ok(Route {
                local: false,
                saddr,
            }),
            1 => Ok(Route { local: true, saddr }),
            _ => Err(()),
        }
    }

    /// `ip_vs_(nat_)send_or_cont()`: a local destination continues up the stack
    /// ([`Verdict::Accept`]); otherwise the packet goes out through LOCAL_OUT and the route.
    pub(crate) fn send_or_cont(
        self,
        net: &Net,
        family: Family,
        local: bool,
        notrack: bool,
        drop_demux: bool,
    ) -> Verdict {
        // SAFETY: the skb is live (invariant) and routed; when the helper sends it, it is
        // consumed, and `self` is consumed here too.
        match unsafe {
            bindings::ipvs_rs_send_or_cont(
                net.as_ptr(),
                self.raw(),
                af_of(family),
                local,
                notrack,
                drop_demux,
            )
        } {
            1 => Verdict::Accept,
            _ => Verdict::Stolen,
        }
    }

    /// Encapsulates in an `outer` header from `saddr` to `daddr` (IPIP, IPv6-in-IPv6 or
    /// mixed, behind the GUE or GRE header `tunnel` asks for) and sends; the outer IPv4
    /// header copies the inner one's DF only with `pmtu_disc`. Consumes the packet;
    /// when the encapsulation fails (no memory, conntrack) it is freed and counted in
    /// `failed`.
    // The parameters are those `ip_vs_tunnel_xmit(_v6)()` takes from the connection and its
    // route, passed one by one to the C side.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tunnel_xmit(
        self,
        net: &Net,
        outer: Family,
        inner: Family,
        saddr: &[u8; 16],
        daddr: &[u8; 16],
        nfct: bool,
        tunnel: &Tunnel,
        pmtu_disc: bool,
        failed: &AtomicU64,
    ) -> Verdict {
        // SAFETY: the skb is live and routed (invariant); the helper consumes it, as does
        // this method; the addresses hold 16 bytes.
        let ret = unsafe {
            bindings::ipvs_rs_tunnel_xmit(
                net.as_ptr(),
                self.raw(),
                af_of(outer),
                af_of(inner),
                saddr.as_ptr().cast(),
                daddr.as_ptr().cast(),
                nfct,
                i32::from(tunnel.tun_type),
                tunnel.port.to_be(),
                tunnel.flags,
                tunnel.encap_len,
                pmtu_disc,
            )
        };
        if ret != 0 {
            failed.fetch_add(1, Relaxed);
        }
        Verdict::Stolen
    }

    /// `ip_vs_gather_frags()`: hands an IPv4 fragment to `ip_defrag()`, which either
    /// completes the datagram in this skb or takes the fragment. Consumes the `Skb`: only
    /// [`Gathered::Whole`] gives it back, so a queued or freed fragment cannot be touched.
    /// The hook must return [`Verdict::Stolen`] for the other outcomes.
    pub(crate) fn gather_frags(self, net: &Net, hooknum: u32) -> Gathered {
        // SAFETY: the skb is live (invariant), an IPv4 fragment of `net`; ip_defrag() either
        // reassembles the datagram into it (0) or owns it from now on, and `self` is
        // consumed here, only rebuilt for the first case.
        match unsafe { bindings::ipvs_rs_gather_frags(net.as_ptr(), self.raw(), hooknum) } {
            // INVARIANT: after reassembly the skb is still netfilter's packet of this hook,
            // with an IPv4 network header.
            0 => Gathered::Whole(self),
            1 => Gathered::Queued,
            _ => Gathered::Failed,
        }
    }

    /// `!skb->dev || skb->dev->flags & IFF_LOOPBACK`: this host generated the packet.
    pub(crate) fn is_from_local_stack(&self) -> bool {
        // SAFETY: the skb is live (invariant).
        unsafe { bindings::ipvs_rs_skb_from_local_stack(self.raw()) }
    }

    /// `ip_vs_bypass_xmit(_v6)()` after routing: the IPv4 header checksum is recomputed
    /// and the packet may be fragmented without "fragmentation needed" (`ignore_df`).
    pub(crate) fn bypass_prepare(&mut self, family: Family) {
        // SAFETY: the skb is live (invariant) and routed; routing made its IP header
        // writable (the TTL decrement).
        unsafe { bindings::ipvs_rs_bypass_prepare(self.raw(), af_of(family)) }
    }

    /// The packet came from another host (the `was_input` of `ip_vs_nat_xmit()`; for IPv6
    /// a device other than loopback).
    pub(crate) fn is_from_world(&self, family: Family) -> bool {
        // SAFETY: the skb is live (invariant) and has a route (the hooks only handle routed
        // packets).
        unsafe { bindings::ipvs_rs_skb_from_world(self.raw(), af_of(family)) }
    }

    /// Drops the packet, counted in `reason` (a drop counter of the namespace): frees it
    /// (C's `kfree_skb(); return NF_STOLEN`). The only way the data path frees a packet,
    /// so that no drop goes uncounted.
    pub(crate) fn drop(self, reason: &AtomicU64) -> Verdict {
        reason.fetch_add(1, Relaxed);
        // SAFETY: the skb is live (invariant); it is consumed here.
        unsafe { bindings::ipvs_rs_kfree_skb(self.raw()) };
        Verdict::Stolen
    }
}

/// A packet as the hooks first see it: the skb, its [`SkbFacts`] and its [`SkbView`], read
/// by the hook's C trampoline (rust/dp_glue.c) before the call, so at no call into C. It lends the skb out only immutably, so the view
/// stays valid; [`HeadedSkb::into_skb`] gives it back for changes.
///
/// # Invariants
///
/// `lin` describes `skb` ([`Lin`]'s invariant).
pub(crate) struct HeadedSkb {
    skb: Skb,
    facts: SkbFacts,
    lin: Lin,
}

impl HeadedSkb {
    /// The packet of a hook call with what its trampoline read of it (`ipv4`: an IPv4 hook).
    ///
    /// # Safety
    ///
    /// `h` was filled by the trampoline's `skb_head()` for this skb and this family, and the
    /// skb has not changed since.
    #[inline(always)]
    pub(crate) unsafe fn from_hook(skb: Skb, ipv4: bool, h: &bindings::ipvs_rs_skb_head) -> Self {
        // INVARIANT: `h.lin`, `h.lin_len`, `h.len` are `ipvs_rs_skb_view()`'s values for
        // this skb (the caller's contract); the `HeadedSkb` owns the skb and lends it out
        // only immutably, so they stay true.
        HeadedSkb {
            facts: SkbFacts {
                flags: h.flags,
                v4_proto: if ipv4 { Some(h.v4_proto) } else { None },
            },
            lin: Lin::new(h.lin, h.lin_len, h.len),
            skb,
        }
    }

    /// What the hooks read of the packet first.
    pub(crate) fn facts(&self) -> SkbFacts {
        self.facts
    }

    /// The skb, to read.
    pub(crate) fn skb(&self) -> &Skb {
        &self.skb
    }

    /// The packet's view for the core's parsers.
    pub(crate) fn view(&self) -> SkbView<'_> {
        // INVARIANT: `HeadedSkb`'s invariant; the view borrows `self`, so the skb.
        SkbView {
            skb: &self.skb,
            lin: self.lin,
        }
    }

    /// The skb, to change or hand on.
    pub(crate) fn into_skb(self) -> Skb {
        self.skb
    }
}

/// A look at an skb for the core's parsers, as C's `skb_header_pointer()` reads: bytes in
/// the linear area are copied from there by the caller's own code (no call per header),
/// others through `skb_copy_bits()` ([`Skb`]'s [`PacketRead`]). It borrows the skb, so no
/// change to the skb (which may move or free its data) can happen while it lives.
///
/// # Invariants
///
/// `lin` describes the borrowed skb ([`Lin`]'s invariant).
pub(crate) struct SkbView<'a> {
    skb: &'a Skb,
    lin: Lin,
}

/// Where an skb's packet lies, as `ipvs_rs_skb_view()` / the trampolines' `skb_head()` read it.
///
/// # Invariants
///
/// For the skb it describes, as long as that skb is not changed: `ptr` is null, or its
/// network header, followed by `lin_len` bytes of its linear area (0 when `ptr` is null);
/// `len` is the packet's length from the network header.
#[derive(Clone, Copy)]
struct Lin {
    ptr: *const u8,
    lin_len: usize,
    len: usize,
}

impl Lin {
    /// The helpers' values: `lin_len` means nothing when `ptr` is null.
    fn new(ptr: *const u8, lin_len: u32, len: u32) -> Self {
        Lin {
            ptr,
            lin_len: if ptr.is_null() { 0 } else { lin_len as usize },
            len: len as usize,
        }
    }
}

/// What the hooks read of every packet first ([`HeadedSkb::facts`]): a copy, borrowing nothing.
#[derive(Clone, Copy)]
pub(crate) struct SkbFacts {
    flags: u32,
    /// `Some(protocol)` for an IPv4 packet.
    v4_proto: Option<u8>,
}

impl SkbFacts {
    fn has(self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// `skb->ipvs_property`: IPVS handled the packet already.
    pub(crate) fn ipvs_property(self) -> bool {
        self.has(bindings::IPVS_RS_SKB_IPVS_PROPERTY)
    }

    /// `skb->pkt_type == PACKET_HOST`.
    pub(crate) fn pkt_host(self) -> bool {
        self.has(bindings::IPVS_RS_SKB_PKT_HOST)
    }

    /// The packet has a route attached.
    pub(crate) fn has_dst(self) -> bool {
        self.has(bindings::IPVS_RS_SKB_HAS_DST)
    }

    /// An IPv4 packet's protocol (`None` for IPv6).
    pub(crate) fn ipv4_protocol(self) -> Option<u8> {
        self.v4_proto
    }

    /// The protocol of an IPv4 fragment (`ip_is_fragment()`; `None` for a whole packet
    /// and for IPv6).
    pub(crate) fn ipv4_fragment_protocol(self) -> Option<u8> {
        self.v4_proto
            .filter(|_| self.has(bindings::IPVS_RS_SKB_V4_FRAGMENT))
    }
}

impl Skb {
    /// The view the core's parsers read the packet through (one call into C).
    pub(crate) fn view(&self) -> SkbView<'_> {
        let (mut lin_len, mut len) = (0u32, 0u32);
        // SAFETY: the skb is live (invariant); the helper only reads it.
        let lin = unsafe { bindings::ipvs_rs_skb_view(self.raw(), &mut lin_len, &mut len) };
        // INVARIANT: as the helper returns them; the borrow of `self` keeps the skb (and
        // so its data) unchanged while the view lives.
        SkbView {
            skb: self,
            lin: Lin::new(lin, lin_len, len),
        }
    }
}

impl PacketRead for SkbView<'_> {
    #[inline]
    fn packet_len(&self) -> usize {
        self.lin.len
    }

    #[inline]
    fn read(&self, off: usize, out: &mut [u8]) -> bool {
        match off.checked_add(out.len()) {
            Some(end) if end <= self.lin.lin_len => {
                // SAFETY: `off..end` is within the `lin.lin_len` linear bytes at `lin.ptr` (type
                // invariant), which nothing changes while the skb is borrowed; `out` is a
                // distinct, writable buffer of `out.len()` bytes.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        self.lin.ptr.add(off),
                        out.as_mut_ptr(),
                        out.len(),
                    )
                };
                true
            }
            _ => self.skb.read(off, out),
        }
    }

    #[inline]
    fn in_place(&self) -> &[u8] {
        if self.lin.ptr.is_null() {
            return &[];
        }
        // SAFETY: `lin.ptr` is non-null and followed by `lin.lin_len` linear bytes of the borrowed
        // skb (type invariant), which nothing changes while the view lives.
        unsafe { core::slice::from_raw_parts(self.lin.ptr, self.lin.lin_len) }
    }
}

/// `skb_header_pointer()`: the core's parsers read an skb's headers where they lie (linear
/// area or page fragments), copying only the bytes asked for.
impl PacketRead for Skb {
    fn packet_len(&self) -> usize {
        self.len()
    }

    fn read(&self, off: usize, out: &mut [u8]) -> bool {
        let (Ok(off), Ok(len)) = (u32::try_from(off), u32::try_from(out.len())) else {
            return false;
        };
        // SAFETY: the skb is live (invariant); the helper writes at most `len` bytes to
        // `out`, which has room for them.
        unsafe { bindings::ipvs_rs_skb_read(self.raw(), off, out.as_mut_ptr().cast(), len) == 0 }
    }
}

/// The route cache of one real server (C: `dest->dest_dst`): [`Skb::route`] to that
/// server's address looks the route up once and then reuses it while it stays valid; a
/// device going down drops the routes cached through it ([`DstCaches`]).
///
/// # Invariants
///
/// `ptr` is null (no memory: routes are looked up every time) or an allocation of
/// `ipvs_rs_dst_cache_alloc()` owned by this value.
pub(crate) struct DstCache {
    ptr: *mut bindings::ipvs_rs_dst_cache,
}

// SAFETY: the C side serialises writers with the cache's own lock; readers use RCU.
unsafe impl Send for DstCache {}
// SAFETY: as for `Send`.
unsafe impl Sync for DstCache {}

impl DstCache {
    /// Process context. Needs the module's [`DstCaches`] registered.
    pub(crate) fn new() -> Self {
        // SAFETY: plain allocation call; null on failure is a valid (uncached) state.
        let ptr = unsafe { bindings::ipvs_rs_dst_cache_alloc() };
        DstCache { ptr }
    }

    /// `__ip_vs_dst_cache_reset()`: forget the cached route (the server's settings changed).
    pub(crate) fn reset(&self) {
        if !self.ptr.is_null() {
            // SAFETY: owned live cache (invariant).
            unsafe { bindings::ipvs_rs_dst_cache_reset(self.ptr) };
        }
    }
}

impl Drop for DstCache {
    fn drop(&mut self) {
        // SAFETY: owned (invariant), freed once. Its owner, the destination, is being
        // dropped: every packet routing with this cache held the destination (a connection
        // bound to it), so none is left.
        unsafe { bindings::ipvs_rs_dst_cache_free(self.ptr) };
    }
}

/// The netdevice notifier of every [`DstCache`] (C: `ip_vs_dst_notifier`), for the module's
/// lifetime: it must outlive every destination, and its drop waits for the routes that
/// resets released.
pub(crate) struct DstCaches(());

impl DstCaches {
    /// Process context.
    pub(crate) fn register() -> Result<Self, kernel::error::Error> {
        // SAFETY: plain registration of the glue's static notifier, once per module load.
        kernel::error::to_result(unsafe { bindings::ipvs_rs_dst_caches_register() })?;
        Ok(DstCaches(()))
    }
}

impl Drop for DstCaches {
    fn drop(&mut self) {
        // SAFETY: registered by `register` (the only constructor), unregistered once.
        unsafe { bindings::ipvs_rs_dst_caches_unregister() };
    }
}
