// SPDX-License-Identifier: GPL-2.0
//! The data path: hooks (`ip_vs_core.c`), the connection table (`ip_vs_conn.c`) and the
//! transmitters (`ip_vs_xmit.c`). Policy comes from the core: header views and NAT rewrite
//! (`ipvs_core::wire`), protocol state machines (`ipvs_core::proto`), schedulers
//! (`ipvs_core::sched`), the port-reuse decision (`ipvs_core::reuse`).
//!
//! [`DpNet`] is what the packet path knows of a namespace: its sysctl values, tables and
//! counters. The control plane embeds it in its own per-namespace state and writes into it
//! (sysctls, timeouts, services); the hooks find it through [`PerNet`], which the layer
//! owning the per-namespace slot implements (see [`dp_hook!`](crate::dp_hook)).

pub(crate) mod conn;
pub(crate) mod dest;
pub(crate) mod hook;
pub(crate) mod realsvc;
pub(crate) mod svc;
pub(crate) mod sync;
pub(crate) mod xmit;
pub(crate) mod xt_ipvs;

use crate::glue::pernet::Net;
use crate::glue::skb::Verdict;
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed,
};
use dest::StatsCells;
use ipvs_core::defense;
use ipvs_core::proto::{tcp, udp, TimeoutTables};
use ipvs_core::reuse;
use ipvs_core::sysctl::{
    Initial, Knob, LocalityExpiration, Settings, LOCALITY_SPECS, N_KNOBS, SPECS,
};
use kernel::prelude::*;

const NSTATES: usize = tcp::TcpState::ALL.len();

/// How the hooks find the data-path state of a namespace: implemented by the layer that owns
/// the per-namespace slot, which the module names in [`dp_hook!`](crate::dp_hook).
pub(crate) trait PerNet {
    /// The data-path state of `net`, if ipvs_rs is set up there.
    fn dp_of(net: &Net) -> Option<&DpNet>;
}

/// The data-path state of one namespace (the packet-path fields of `struct netns_ipvs`).
///
/// It stays in place while started (it lives in a per-namespace slot): connections point to
/// it, so its owner unregisters the hooks ([`DpNet::unregister_all_hooks`]) and flushes the
/// connections ([`conn::flush`]) before dropping it. It is built in place, inside its
/// owner's initializer ([`DpNet::new`]), and pinned there.
#[pin_data]
pub(crate) struct DpNet {
    /// The `int` sysctls, by [`Knob::index`] (C: the `sysctl_*` fields of `struct
    /// netns_ipvs`); the cells of `sync_threshold`, `sync_qlen_max` and `est_cpulist` are
    /// unused. The control plane's sysctl tables write them.
    ints: [AtomicI32; N_KNOBS],
    /// `sync_threshold`: threshold and period.
    sync_threshold: [AtomicI32; 2],
    /// `sync_qlen_max` (`unsigned long`).
    sync_qlen_max: AtomicUsize,
    /// The namespace (`struct net *`, as a number: connection keys).
    net: usize,
    /// `ipvs->conn_count`.
    pub(crate) conn_count: crate::glue::ref_table::Census,
    /// `ipvs->tot_stats`.
    #[pin]
    pub(crate) tot_stats: StatsCells,
    /// The protocols' timeout tables, seconds (C: per-netns `pd->timeout_table`).
    tcp_timeouts: [AtomicU32; NSTATES],
    udp_timeout: AtomicU32,
    /// `ipvs->hooks_afmask`: bit 0 IPv4, bit 1 IPv6. Changed under the namespace's
    /// configuration mutex only.
    hooks_afmask: AtomicU32,
    /// Why packets were dropped (`/proc/net/ip_vs_drops`).
    pub(crate) drops: DropCounters,
    /// `/proc/net/ip_vs_reuse`.
    pub(crate) reuse: ReuseCounters,
    /// What the flood defenses decided last (`update_defense_level()`).
    pub(crate) defense: Defense,
    /// The services, for lookups under RCU (the control plane holds the table's writer).
    pub(crate) services: kernel::sync::Arc<svc::SvcTable>,
    /// The real servers by address and port (`rs_table`; the control plane holds the
    /// writer).
    pub(crate) reals: kernel::sync::Arc<realsvc::RealTable>,
    /// Connection synchronization: the daemons' state and the masters' messages.
    #[pin]
    pub(crate) sync: sync::SyncDp,
}

/// The data path's side of the flood defenses (C: `ipvs->dropentry`, `drop_rate`,
/// `drop_counter` and the protocol's `tcp_state_table`), written by the control plane's
/// `update_defense_level()`, read per packet.
#[derive(Default)]
pub(crate) struct Defense {
    dropentry: AtomicBool,
    drop_rate: AtomicI32,
    drop_counter: AtomicI32,
    secure_tcp_table: AtomicBool,
}

impl Defense {
    /// Store what `update_defense_level()` changed.
    pub(crate) fn apply(&self, u: &defense::Update) {
        if let Some(d) = u.dropentry {
            self.dropentry.store(d, Relaxed);
        }
        if let Some(c) = u.drop_counter {
            self.drop_counter.store(c, Relaxed);
        }
        if let Some(r) = u.drop_rate {
            self.drop_rate.store(r, Relaxed);
        }
        if let Some(t) = u.tcp_table {
            self.secure_tcp_table
                .store(t == tcp::TableKind::Secure, Relaxed);
        }
    }

    /// `drop_entry` is active: the defense work deletes flood-like entries.
    pub(crate) fn dropentry(&self) -> bool {
        self.dropentry.load(Relaxed)
    }

    /// The TCP state table in force (C: `pd->tcp_state_table`).
    pub(crate) fn tcp_table(&self) -> tcp::TableKind {
        if self.secure_tcp_table.load(Relaxed) {
            tcp::TableKind::Secure
        } else {
            tcp::TableKind::Normal
        }
    }

    /// `ip_vs_todrop()`: refuse this new connection (`drop_packet`). Like C, the counter is
    /// updated without a lock: concurrent packets may shift which one is dropped, not how
    /// many roughly are.
    pub(crate) fn todrop(&self) -> bool {
        let rate = self.drop_rate.load(Relaxed);
        if rate == 0 {
            return false;
        }
        let (drop, counter) = defense::todrop(rate, self.drop_counter.load(Relaxed));
        self.drop_counter.store(counter, Relaxed);
        drop
    }
}

/// What port reuse and removed destinations did in a namespace (`/proc/net/ip_vs_reuse`;
/// C has no such counters: operators find the 1 s stalls with tcpdump).
#[derive(Default)]
pub(crate) struct ReuseCounters {
    /// A SYN found an entry and was sent to that entry's destination.
    pub(crate) reused_same_dest: AtomicU64,
    /// An entry was expired and the packet scheduled anew (port reuse, weight 0 with
    /// `expire_nodest_conn`, removed destination, or a retired old conntrack).
    pub(crate) rescheduled: AtomicU64,
    /// A SYN was dropped because the old connection's conntrack is confirmed (C's 1 s stall).
    pub(crate) dropped_old_conntrack: AtomicU64,
    /// An entry of a removed destination was expired by a packet that found it.
    pub(crate) expired_nodest_packet: AtomicU64,
    /// An entry of a removed destination was expired by the delayed work (fix B).
    pub(crate) expired_nodest_work: AtomicU64,
    /// `conn_reuse_old_conntrack`: an old confirmed conntrack was retired instead of dropping.
    pub(crate) retired_old_conntrack: AtomicU64,
}

impl ReuseCounters {
    /// Count what `decision` does; `syn_hit`: a SYN found an entry.
    pub(crate) fn count(&self, decision: reuse::Decision, syn_hit: bool) {
        use reuse::Decision as D;
        let inc = |c: &AtomicU64| {
            c.fetch_add(1, Relaxed);
        };
        match decision {
            D::NoEntry => {}
            D::UseExisting => {
                if syn_hit {
                    inc(&self.reused_same_dest)
                }
            }
            D::ReuseResched { .. } => inc(&self.rescheduled),
            D::ReuseRetireConntrack { .. } => {
                inc(&self.rescheduled);
                inc(&self.retired_old_conntrack);
            }
            D::ReuseDrop { .. } => inc(&self.dropped_old_conntrack),
            D::NodestResched => {
                inc(&self.rescheduled);
                inc(&self.expired_nodest_packet);
            }
            D::NodestExpireDrop => {
                inc(&self.dropped_old_conntrack);
                inc(&self.expired_nodest_packet);
            }
            D::NodestDrop => {}
        }
    }

    /// The lines of `/proc/net/ip_vs_reuse`, in order.
    pub(crate) fn lines(&self) -> [(&'static str, u64); 6] {
        let get = |c: &AtomicU64| c.load(Relaxed);
        [
            ("reused_same_dest", get(&self.reused_same_dest)),
            ("rescheduled", get(&self.rescheduled)),
            ("dropped_old_conntrack", get(&self.dropped_old_conntrack)),
            ("expired_nodest_packet", get(&self.expired_nodest_packet)),
            ("expired_nodest_work", get(&self.expired_nodest_work)),
            ("retired_old_conntrack", get(&self.retired_old_conntrack)),
        ]
    }
}

/// Why the data path dropped packets it did not forward (`/proc/net/ip_vs_drops`, per
/// namespace, `name value` per line; ipvs-rs only: C counts none of these). Every packet the
/// hooks and transmitters drop or free is counted in exactly one of these, so a fuzzer can
/// account for what it sent: the hooks drop only through [`DropCounters::drop`] and
/// `Skb::drop` (which take the reason), never with a bare `Verdict::Drop` or a free. Counting
/// is one relaxed atomic add, on the drop path only.
#[derive(Default)]
pub(crate) struct DropCounters {
    /// TCP/UDP packets whose headers were malformed or truncated, and the ICMP packets C
    /// drops before any lookup: no ICMP header, an ICMPv6 error behind a fragment header.
    pub(crate) malformed: AtomicU64,
    /// NAT to a loopback address refused for a packet from another host (C's "stopping DNAT
    /// to loopback address").
    pub(crate) nat_loopback: AtomicU64,
    /// IPv4 fragments `ip_defrag()` refused (out of memory, overlaps, too many queues): the
    /// kernel freed them (its own `ReasmFails` counts them too).
    pub(crate) frag_reasm: AtomicU64,
    /// IPv4 fragments `ip_defrag()` queued (`ip_vs_gather_frags()`): not lost, the datagram
    /// goes on as one packet once complete (or the queue times out), but each fragment
    /// taken is a packet that does not leave the hook.
    pub(crate) frag_queued: AtomicU64,
    /// New connections refused by the `drop_packet` defense (`ip_vs_todrop()`).
    pub(crate) drop_packet: AtomicU64,
    /// The port-reuse decision dropped the packet (a SYN for an entry whose conntrack is
    /// confirmed: C's 1 s stall; also counted in `/proc/net/ip_vs_reuse`).
    pub(crate) reuse: AtomicU64,
    /// conntrack refused to retire an old connection's entry (`conn_reuse_old_conntrack`).
    pub(crate) conntrack: AtomicU64,
    /// No memory for a connection entry (`ip_vs_conn_new()` failed).
    pub(crate) no_mem: AtomicU64,
    /// A service with no available destination, or a port it does not serve: the client
    /// was sent ICMP port unreachable (`ip_vs_leave()`).
    pub(crate) unreachable: AtomicU64,
    /// A persistence template without a destination.
    pub(crate) no_dest: AtomicU64,
    /// An ICMP error about a NAT connection with a bad checksum.
    pub(crate) icmp_csum: AtomicU64,
    /// The NAT rewrite failed: the packet could not be made writable (no memory) or its
    /// headers could not be rewritten.
    pub(crate) nat_failed: AtomicU64,
    /// No usable route to the real server (or back to the client for a NAT reply), or the
    /// packet is too big for it (C sends ICMP "fragmentation needed" / "packet too big").
    pub(crate) no_route: AtomicU64,
    /// The transmitter failed after routing (encapsulation out of memory, conntrack).
    pub(crate) xmit_failed: AtomicU64,
    /// With `nat_icmp_send`: a packet from a masquerading real server's address and port
    /// that no connection explains (not a TCP RST or SCTP ABORT); the real server was sent
    /// ICMP port unreachable.
    pub(crate) nat_icmp_send: AtomicU64,
}

impl DropCounters {
    /// Count one drop in `c` (one of `self`'s fields).
    pub(crate) fn count(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    /// Count one drop in `reason` (one of `self`'s fields) and give the verdict that drops
    /// the packet (`NF_DROP`: netfilter frees it).
    pub(crate) fn drop(reason: &AtomicU64) -> Verdict {
        Self::count(reason);
        Verdict::Drop
    }

    /// The lines of `/proc/net/ip_vs_drops`, in order.
    pub(crate) fn lines(&self) -> [(&'static str, u64); 15] {
        let get = |c: &AtomicU64| c.load(Relaxed);
        [
            ("malformed", get(&self.malformed)),
            ("nat_loopback", get(&self.nat_loopback)),
            ("frag_reasm", get(&self.frag_reasm)),
            ("frag_queued", get(&self.frag_queued)),
            ("drop_packet", get(&self.drop_packet)),
            ("reuse", get(&self.reuse)),
            ("conntrack", get(&self.conntrack)),
            ("no_mem", get(&self.no_mem)),
            ("unreachable", get(&self.unreachable)),
            ("no_dest", get(&self.no_dest)),
            ("icmp_csum", get(&self.icmp_csum)),
            ("nat_failed", get(&self.nat_failed)),
            ("no_route", get(&self.no_route)),
            ("xmit_failed", get(&self.xmit_failed)),
            ("nat_icmp_send", get(&self.nat_icmp_send)),
        ]
    }
}

fn af_bit(af: u16) -> u32 {
    if af == 10 {
        2
    } else {
        1
    }
}

impl DpNet {
    /// The state of the namespace `net`, with C's defaults and the service table
    /// `services` and the real-server table `reals`, built in place. Process context
    /// (allocates the per-CPU counters).
    pub(crate) fn new(
        net: &Net,
        services: kernel::sync::Arc<svc::SvcTable>,
        reals: kernel::sync::Arc<realsvc::RealTable>,
    ) -> impl PinInit<Self, Error> {
        let d = TimeoutTables::DEFAULT;
        let hz = crate::glue::rcu::hz();
        // In Knob::index order: SPECS, then LOCALITY_SPECS (N_KNOBS entries in all).
        let mut specs = Iterator::chain(SPECS.iter(), LOCALITY_SPECS.iter());
        let ints =
            [(); N_KNOBS].map(|()| AtomicI32::new(specs.next().map_or(0, |s| s.default_int(hz))));
        let (threshold, period) = match Knob::SyncThreshold.spec().default {
            Initial::Pair(a, b) => (a, b),
            _ => (0, 0),
        };
        let conn_count = crate::glue::ref_table::Census::new(net);
        let net = net.as_ptr() as usize;
        try_pin_init!(DpNet {
            ints,
            sync_threshold: [AtomicI32::new(threshold), AtomicI32::new(period)],
            sync_qlen_max: AtomicUsize::new(crate::glue::mem::sync_qlen_max_default()),
            net,
            conn_count,
            tot_stats <- StatsCells::new(),
            tcp_timeouts: tcp::TcpState::ALL.map(|s| AtomicU32::new(d.tcp.get(s))),
            udp_timeout: AtomicU32::new(d.udp.get(udp::UdpState::Normal)),
            hooks_afmask: AtomicU32::new(0),
            drops: DropCounters::default(),
            reuse: ReuseCounters::default(),
            defense: Defense::default(),
            services,
            reals,
            sync <- sync::SyncDp::new(),
        })
    }

    /// `sysctl_backup_only()`: a backup daemon runs and `backup_only` is set, so the
    /// director forwards nothing (C's `ip_vs_in_hook()` and `ip_vs_forward_icmp()` let every
    /// packet pass).
    pub(crate) fn backup_only(&self) -> bool {
        self.sync.state() & sync::STATE_BACKUP != 0 && self.int(Knob::BackupOnly) != 0
    }

    /// `struct net *` of this namespace, as a number (connection keys).
    pub(crate) fn net_id(&self) -> usize {
        self.net
    }

    /// The cell of an `int` knob (the sysctl tables and the defenses write it).
    pub(crate) fn cell(&self, knob: Knob) -> &AtomicI32 {
        &self.ints[knob.index()]
    }

    /// The cells of `sync_threshold` (threshold, period).
    pub(crate) fn sync_threshold_cells(&self) -> &[AtomicI32; 2] {
        &self.sync_threshold
    }

    /// The cell of `sync_qlen_max`.
    pub(crate) fn sync_qlen_max_cell(&self) -> &AtomicUsize {
        &self.sync_qlen_max
    }

    /// The current value of an `int` knob.
    pub(crate) fn int(&self, knob: Knob) -> i32 {
        self.cell(knob).load(Relaxed)
    }

    /// `sync_threshold` as stored (threshold, period).
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // no sync daemon reads it yet
    pub(crate) fn sync_threshold(&self) -> (i32, i32) {
        (
            self.sync_threshold[0].load(Relaxed),
            self.sync_threshold[1].load(Relaxed),
        )
    }

    /// `sync_qlen_max` as stored.
    #[cfg_attr(not(ipvs_rs_kunit), allow(dead_code))] // no sync daemon reads it yet
    pub(crate) fn sync_qlen_max(&self) -> usize {
        self.sync_qlen_max.load(Relaxed)
    }

    /// The locality schedulers' expirations (`lblc_expiration`, `lblcr_expiration`).
    pub(crate) fn locality_expiration(&self) -> LocalityExpiration {
        LocalityExpiration {
            lblc: self.int(Knob::LblcExpiration),
            lblcr: self.int(Knob::LblcrExpiration),
        }
    }

    /// Current values, as the data path should read them (once per packet).
    pub(crate) fn settings(&self) -> Settings {
        let load = |knob| self.int(knob);
        Settings {
            conn_reuse_mode: load(Knob::ConnReuseMode),
            expire_nodest_conn: load(Knob::ExpireNodestConn),
            conntrack: load(Knob::Conntrack),
            conn_reuse_old_conntrack: load(Knob::ConnReuseOldConntrack),
            expire_quiescent_template: load(Knob::ExpireQuiescentTemplate),
            sloppy_tcp: load(Knob::SloppyTcp),
            sloppy_sctp: load(Knob::SloppySctp),
            snat_reroute: load(Knob::SnatReroute),
            schedule_icmp: load(Knob::ScheduleIcmp),
            pmtu_disc: load(Knob::PmtuDisc),
            nat_icmp_send: load(Knob::NatIcmpSend),
            cache_bypass: load(Knob::CacheBypass),
        }
    }

    /// The timeout tables as they are now.
    pub(crate) fn timeouts(&self) -> TimeoutTables {
        TimeoutTables {
            tcp: self.tcp_timeouts(),
            udp: self.udp_timeouts(),
            ..TimeoutTables::DEFAULT
        }
    }

    /// The TCP timeouts as [`tcp::transition`] reads them per packet: each state's live
    /// value, read when asked (no copy of the table).
    pub(crate) fn tcp_timeout_of(&self) -> LiveTcpTimeouts<'_> {
        LiveTcpTimeouts(&self.tcp_timeouts)
    }

    /// The TCP table as it is now (for the control plane's answers).
    pub(crate) fn tcp_timeouts(&self) -> tcp::Timeouts {
        let mut t = tcp::Timeouts::DEFAULT;
        for (s, v) in tcp::TcpState::ALL.iter().zip(self.tcp_timeouts.iter()) {
            t.set(*s, v.load(Relaxed));
        }
        t
    }

    /// The UDP table as it is now.
    pub(crate) fn udp_timeouts(&self) -> udp::Timeouts {
        let mut t = udp::Timeouts::DEFAULT;
        t.set(udp::UdpState::Normal, self.udp_timeout.load(Relaxed));
        t
    }

    /// Store new tables (`ipvsadm --set`).
    pub(crate) fn set_timeouts(&self, t: &TimeoutTables) {
        for (s, v) in tcp::TcpState::ALL.iter().zip(self.tcp_timeouts.iter()) {
            v.store(t.tcp.get(*s), Relaxed);
        }
        self.udp_timeout
            .store(t.udp.get(udp::UdpState::Normal), Relaxed);
    }

    /// `ip_vs_register_hooks()`: hook family `af` in `net` if it is not hooked yet.
    /// Caller holds the namespace's configuration mutex.
    pub(crate) fn register_hooks(&self, net: &Net, af: u16) -> Result {
        let bit = af_bit(af);
        if self.hooks_afmask.load(Relaxed) & bit != 0 {
            return Ok(());
        }
        // Unregistered by `unregister_hooks`, at the latest from the namespace's exit
        // (`unregister_all_hooks`), before the module can unload.
        crate::glue::netfilter::register_hooks(net, af)?;
        if af == 10 {
            // As C does for IPv6 services: IPVS needs reassembled IPv6 packets.
            let _ = crate::glue::netfilter::defrag_ipv6_enable(net);
        }
        self.hooks_afmask.fetch_or(bit, Relaxed);
        Ok(())
    }

    /// `ip_vs_unregister_hooks()`. Caller holds the configuration mutex (or is the
    /// namespace's exit).
    pub(crate) fn unregister_hooks(&self, net: &Net, af: u16) {
        let bit = af_bit(af);
        if self.hooks_afmask.load(Relaxed) & bit == 0 {
            return;
        }
        // Registered by `register_hooks` in this namespace (the mask says so).
        crate::glue::netfilter::unregister_hooks(net, af);
        self.hooks_afmask.fetch_and(!bit, Relaxed);
    }

    pub(crate) fn unregister_all_hooks(&self, net: &Net) {
        self.unregister_hooks(net, 2);
        self.unregister_hooks(net, 10);
    }
}

/// A namespace's TCP timeouts, read one state at a time ([`DpNet::tcp_timeout_of`]).
pub(crate) struct LiveTcpTimeouts<'a>(&'a [AtomicU32; NSTATES]);

impl tcp::TimeoutOf for LiveTcpTimeouts<'_> {
    #[inline]
    fn timeout_of(&self, state: tcp::TcpState) -> u32 {
        // `TcpState` is C's index (`as_c()` < NSTATES); the table is indexed the same way
        // (`TcpState::ALL` is in that order).
        self.0
            .get(state.as_c() as usize)
            .map_or(0, |t| t.load(Relaxed))
    }
}
