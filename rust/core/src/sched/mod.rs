//! IPVS scheduling: the fourteen schedulers of Linux 6.12 and the registry that names them.
//!
//! C sources (Linux 6.12): `net/netfilter/ipvs/ip_vs_{rr,wrr,lc,wlc,sh,mh}.c`,
//! `ip_vs_{dh,sed,nq,fo,ovf,twos,lblc,lblcr}.c`,
//! `net/netfilter/ipvs/ip_vs_sched.c`, `include/net/ip_vs.h`, `include/uapi/linux/ip_vs.h`.
//!
//! # Model
//!
//! C schedulers walk `svc->destinations`, a linked list, and keep pointers into it. Here the
//! data path hands every scheduler a slice `&[D]` of its destinations *in list order* and gets
//! back an index into that slice. Scheduler state holds indices, never references, so it has
//! no lifetime tie to the destinations and is plain data.
//!
//! List order matters (ties, round-robin order, the sh and mh tables all depend on it), and
//! it is **not** insertion order: `__ip_vs_update_dest()` links a new destination with
//! `list_add_rcu(&dest->n_list, &svc->destinations)`, i.e. at the *head*. A data path that
//! wants C's choices must insert new destinations at index 0 (and tell the schedulers, see
//! below). Editing a destination keeps its position; deleting it closes the gap.
//!
//! C calls scheduler hooks when the list changes; the slice model needs the same calls:
//!
//! | C hook (ip_vs_ctl.c) | rr | wrr | lc, wlc, sed, nq, fo, ovf, twos | sh, mh | dh | lblc, lblcr |
//! |---|---|---|---|---|---|---|
//! | `init_service` (bind) | [`rr::RoundRobin::new`] | [`wrr::WeightedRoundRobin::new`] | – | `reassign` | `new` | `new(now)`, `clear_heads` |
//! | `add_dest` | [`rr::RoundRobin::dest_added`] | [`wrr::WeightedRoundRobin::dests_changed`] | – | `reassign` | – | – |
//! | `del_dest` | [`rr::RoundRobin::dest_removed`] | `dests_changed` | – | `reassign` | – | – |
//! | `upd_dest` (edit) | – | `dests_changed` | – | `reassign` | – | – |
//! | timer | – | – | – | – | – | `check_expire` / `expire_if_due` every 60 s |
//!
//! Overload flags and connection counters change without hooks, as in C. dh needs no hook:
//! its C table is always "bucket b → destination b mod n" of the current list. lblc and
//! lblcr have no destination hooks in C either: their entries hold destinations
//! ([`HoldDest`]), not list positions.
//!
//! Most schedulers look at the client's address (`saddr`, or `daddr` for a reverse-direction
//! packet: sh, mh); dh, lblc and lblcr look at the packet's *destination* address
//! (`iph->daddr`) always. twos takes its random numbers from the caller.
//!
//! Nothing here allocates: sh and mh tables (and mh's per-destination scratch) are caller
//! storage, sized by [`sh::SourceHash::table_len`] and [`mh::Maglev::table_len`], so the kernel
//! can allocate them with `KVec`/`KBox`; lblc and lblcr keep their entries in caller
//! [`locality::Slab`]s. Nothing panics on any input either: a table of the wrong size, a
//! stale index or an empty slice yields "no destination" (`None`), which the data path
//! reports the way `ip_vs_scheduler_err()` does.

pub mod dh;
pub mod fo;
pub mod lblc;
pub mod lblcr;
pub mod lc;
pub mod locality;
pub mod mh;
pub mod nq;
pub mod ovf;
pub mod rr;
pub mod sed;
pub mod sh;
pub mod siphash;
pub mod twos;
pub mod wlc;
pub mod wrr;

#[cfg(test)]
mod c_trace_tests;
#[cfg(test)]
mod testdest;

/// Test fixture shared by the scheduler tests: destinations that differ only in weight.
#[cfg(test)]
pub(crate) fn dests_with_weights(weights: &[i32]) -> std::vec::Vec<DestInfo> {
    weights
        .iter()
        .map(|&w| DestInfo {
            weight: w,
            last_weight: w,
            ..DestInfo::default()
        })
        .collect()
}

/// `IP_VS_SVC_F_SCHED1`: first scheduler-private service flag (`include/uapi/linux/ip_vs.h`).
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED2`: second scheduler-private service flag.
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;
/// `IP_VS_SVC_F_SCHED3`: third scheduler-private service flag (no scheduler here uses it).
pub const IP_VS_SVC_F_SCHED3: u32 = 0x0020;
/// `IP_VS_SVC_F_SCHED_SH_FALLBACK` = `IP_VS_SVC_F_SCHED1`: sh looks for another destination
/// when the hashed one is unavailable.
pub const IP_VS_SVC_F_SCHED_SH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
/// `IP_VS_SVC_F_SCHED_SH_PORT` = `IP_VS_SVC_F_SCHED2`: sh hashes the source port too.
pub const IP_VS_SVC_F_SCHED_SH_PORT: u32 = IP_VS_SVC_F_SCHED2;
/// `IP_VS_SVC_F_SCHED_MH_FALLBACK` = `IP_VS_SVC_F_SCHED1` (defined in `ip_vs_mh.c`, not in
/// the uapi header): mh looks for another destination when the hashed one is unavailable.
pub const IP_VS_SVC_F_SCHED_MH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
/// `IP_VS_SVC_F_SCHED_MH_PORT` = `IP_VS_SVC_F_SCHED2` (defined in `ip_vs_mh.c`): mh hashes
/// the source port too.
pub const IP_VS_SVC_F_SCHED_MH_PORT: u32 = IP_VS_SVC_F_SCHED2;

/// `IP_VS_SCHEDNAME_MAXLEN`: size of the scheduler name buffer, NUL included.
pub const IP_VS_SCHEDNAME_MAXLEN: usize = 16;

/// `IPPROTO_TCP`.
const IPPROTO_TCP: u8 = 6;
/// `IPPROTO_UDP`.
const IPPROTO_UDP: u8 = 17;
/// `IPPROTO_SCTP`.
const IPPROTO_SCTP: u8 = 132;

/// Address family of a service (`svc->af`): it decides how sh and mh fold addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `AF_INET`.
    Ipv4,
    /// `AF_INET6`.
    Ipv6,
}

impl Family {
    /// The family for a C `AF_*` value, if it is one IPVS serves.
    pub const fn from_af(af: u16) -> Option<Self> {
        match af {
            2 => Some(Family::Ipv4),
            10 => Some(Family::Ipv6),
            _ => None,
        }
    }

    /// The C `AF_*` value of the family (`svc->af`, `cp->af`).
    pub const fn af(self) -> u16 {
        match self {
            Family::Ipv4 => crate::netlink::ipvs::AF_INET,
            Family::Ipv6 => crate::netlink::ipvs::AF_INET6,
        }
    }
}

/// An address as `union nf_inet_addr` holds it in memory: 16 bytes in network order, an IPv4
/// address in the first four with the rest zero (as `nla_memcpy()` leaves it for a
/// destination added over netlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct InetAddr(pub [u8; 16]);

impl InetAddr {
    /// An IPv4 address, zero-padded like the C union.
    #[inline]
    pub const fn from_ipv4(o: [u8; 4]) -> Self {
        InetAddr([o[0], o[1], o[2], o[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// An IPv6 address.
    #[inline]
    pub const fn from_ipv6(octets: [u8; 16]) -> Self {
        InetAddr(octets)
    }

    /// A loopback address: IPv4 `ipv4_is_loopback()` (127.0.0.0/8), IPv6
    /// `ipv6_addr_type() & IPV6_ADDR_LOOPBACK` (`::1` only).
    pub fn is_loopback(&self, family: Family) -> bool {
        match family {
            Family::Ipv4 => self.0[0] == 127,
            Family::Ipv6 => self.0[..15].iter().all(|&b| b == 0) && self.0[15] == 1,
        }
    }

    /// `ntohl(addr_fold)` of `ip_vs_sh_hashkey()` / `ip_vs_mh_hashkey()`: for an IPv4 service
    /// the first 32-bit word (`addr->ip`), for IPv6 the XOR of the four words
    /// (`addr->ip6[0] ^ ... ^ addr->ip6[3]`), as a host-order number.
    ///
    /// The family is the *service's*: C passes `svc->af` even when hashing a destination of
    /// the other family, so an IPv6 destination of an IPv4 service hashes its first 4 bytes.
    /// (As built with `CONFIG_IP_VS_IPV6=y`; without it C folds only `addr->ip` for both.)
    pub fn fold(&self, family: Family) -> u32 {
        let [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3] = self.0;
        let first = u32::from_be_bytes([a0, a1, a2, a3]);
        match family {
            Family::Ipv4 => first,
            // XOR commutes with the byte swap, so folding host-order words equals ntohl() of
            // the folded network-order words.
            Family::Ipv6 => {
                first
                    ^ u32::from_be_bytes([b0, b1, b2, b3])
                    ^ u32::from_be_bytes([c0, c1, c2, c3])
                    ^ u32::from_be_bytes([d0, d1, d2, d3])
            }
        }
    }
}

/// What a scheduler reads from one destination: the fields of `struct ip_vs_dest` the C
/// schedulers look at. The data path implements it over its own destination type; reads are
/// plain loads (`atomic_read()` in C), so an implementation may read atomics relaxed.
///
/// There is no "available" test: the slice *is* `svc->destinations`, which holds exactly the
/// destinations with `IP_VS_DEST_CF_AVAILABLE` set (`__ip_vs_unlink_dest()` clears it when it
/// unlinks), and no C scheduler looks at that flag. A destination being removed must leave
/// the slice, with the matching hook call.
pub trait Dest {
    /// `atomic_read(&dest->weight)`. 0 quiesces the destination: it keeps its connections
    /// but gets no new ones.
    fn weight(&self) -> i32;

    /// `atomic_read(&dest->last_weight)`: the weight given when the destination was added,
    /// then every non-zero weight it was edited to (`__ip_vs_update_dest()`). Only mh reads
    /// it, so that quiescing a destination does not reshuffle the Maglev table.
    fn last_weight(&self) -> i32;

    /// `atomic_read(&dest->activeconns)`.
    fn active_conns(&self) -> i32;

    /// `atomic_read(&dest->totalconns)`.
    fn total_conns(&self) -> i32;

    /// `dest->flags & IP_VS_DEST_F_OVERLOAD`: the upper connection threshold was reached.
    fn overloaded(&self) -> bool;

    /// `dest->addr`. Only mh reads it (to place the destination in its table).
    fn addr(&self) -> InetAddr;

    /// `ntohs(dest->port)`. Only mh reads it.
    fn port(&self) -> u16;
}

impl<T: Dest + ?Sized> Dest for &T {
    fn weight(&self) -> i32 {
        (**self).weight()
    }
    fn last_weight(&self) -> i32 {
        (**self).last_weight()
    }
    fn active_conns(&self) -> i32 {
        (**self).active_conns()
    }
    fn total_conns(&self) -> i32 {
        (**self).total_conns()
    }
    fn overloaded(&self) -> bool {
        (**self).overloaded()
    }
    fn addr(&self) -> InetAddr {
        (**self).addr()
    }
    fn port(&self) -> u16 {
        (**self).port()
    }
}

/// A destination that lblc and lblcr keep in their tables: C's `struct ip_vs_dest *` taken
/// with `ip_vs_dest_hold()`. It stays readable after the destination leaves the service (C
/// keeps it in the trash while referenced), and tells whether it is still in the service.
pub trait HeldDest: Dest {
    /// `dest->cflags & IP_VS_DEST_CF_AVAILABLE`: the destination is in its service's list
    /// (cleared when it is deleted, set again if the trash revives it).
    fn available(&self) -> bool;
}

/// A destination of the slice that lblc and lblcr can hold: the handle they keep and the
/// identity test C does by comparing pointers.
///
/// The handle is a smart pointer to a [`HeldDest`] (so that the module can use its
/// `Arc<DestShared>` as is and implement [`HeldDest`] on its own `DestShared`); its count is
/// then what C's `refcnt` is for the trash.
pub trait HoldDest: Dest {
    /// What the handle points to.
    type Target: HeldDest + ?Sized;
    /// The handle an entry keeps.
    type Held: core::ops::Deref<Target = Self::Target>;
    /// `ip_vs_dest_hold(dest)`: a handle to this destination.
    fn hold(&self) -> Self::Held;
    /// `held == dest`: the handle designates this destination (the same object, also after
    /// a trip through the trash).
    fn is(&self, held: &Self::Held) -> bool;
}

/// A destination as plain values: for tests, KUnit cases and callers that snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DestInfo {
    /// `weight`.
    pub weight: i32,
    /// `last_weight`.
    pub last_weight: i32,
    /// `activeconns`.
    pub active_conns: i32,
    /// `totalconns`.
    pub total_conns: i32,
    /// `IP_VS_DEST_F_OVERLOAD` is set.
    pub overloaded: bool,
    /// `addr`.
    pub addr: InetAddr,
    /// Port, host order.
    pub port: u16,
}

impl DestInfo {
    /// A freshly added destination (`last_weight == weight`), idle, not overloaded.
    pub const fn new(addr: InetAddr, port: u16, weight: i32) -> Self {
        DestInfo {
            weight,
            last_weight: weight,
            active_conns: 0,
            total_conns: 0,
            overloaded: false,
            addr,
            port,
        }
    }
}

impl Dest for DestInfo {
    fn weight(&self) -> i32 {
        self.weight
    }
    fn last_weight(&self) -> i32 {
        self.last_weight
    }
    fn active_conns(&self) -> i32 {
        self.active_conns
    }
    fn total_conns(&self) -> i32 {
        self.total_conns
    }
    fn overloaded(&self) -> bool {
        self.overloaded
    }
    fn addr(&self) -> InetAddr {
        self.addr
    }
    fn port(&self) -> u16 {
        self.port
    }
}

/// `(index, destination)` from `start` on, like `iter().enumerate().skip(start)` but
/// without `Enumerate`'s overflow-checked counter, which kernel builds
/// (`CONFIG_RUST_OVERFLOW_CHECKS`) would carry as a (dead) panic path. Empty if `start` is
/// past the end.
fn indexed<D>(dests: &[D], start: usize) -> impl Iterator<Item = (usize, &D)> {
    (start..dests.len()).zip(dests.get(start..).unwrap_or(&[]))
}

/// Not overloaded and weight > 0: the test rr uses and the negation of sh's and mh's
/// `is_unavailable()`.
fn usable<D: Dest>(d: &D) -> bool {
    !d.overloaded() && d.weight() > 0
}

/// `ip_vs_dest_conn_overhead()`: `(activeconns << 8) + totalconns` in `int`, wrapping as the
/// kernel's C (built with `-fno-strict-overflow`) does. Linux 6.12 adds *total*, not
/// inactive, connections (so an active connection weighs 257).
fn conn_overhead<D: Dest + ?Sized>(d: &D) -> i32 {
    d.active_conns()
        .wrapping_shl(8)
        .wrapping_add(d.total_conns())
}

/// Greatest common divisor of two positive numbers (`lib/math/gcd.c`; any correct algorithm
/// gives the same value). Iterative: no recursion in kernel code.
fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// GCD of the positive values of `weights` (`ip_vs_wrr_gcd_weight()`,
/// `ip_vs_mh_gcd_weight()` before their fallbacks); 0 if there are none.
fn gcd_of_positive(weights: impl Iterator<Item = i32>) -> i32 {
    let g = weights
        .filter_map(|w| u32::try_from(w).ok())
        .filter(|&w| w > 0)
        .fold(0, gcd);
    // The gcd of i32 values is at most i32::MAX.
    i32::try_from(g).unwrap_or(i32::MAX)
}

/// The port sh and mh hash with their PORT flag (`ip_vs_sh_get_port()`,
/// `ip_vs_mh_get_port()`): for TCP, UDP and SCTP the source port, or the destination port
/// for a packet seen in the reverse direction (`ip_vs_iph_inverse()`, ICMP errors); 0 for
/// other protocols or when the four port bytes are not in the packet (`ports == None`).
/// `ports` are host order, as they appear in the header: `[source, destination]`.
pub fn hash_port(protocol: u8, ports: Option<[u16; 2]>, inverse: bool) -> u16 {
    match (protocol, ports) {
        (IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP, Some([src, dst])) => {
            if inverse {
                dst
            } else {
                src
            }
        }
        _ => 0,
    }
}

/// The schedulers ipvs-rs provides, by their C names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerKind {
    /// `rr`: round robin.
    Rr,
    /// `wrr`: weighted round robin.
    Wrr,
    /// `lc`: least connection.
    Lc,
    /// `wlc`: weighted least connection (the `ipvsadm` default).
    Wlc,
    /// `sh`: source hashing.
    Sh,
    /// `mh`: Maglev hashing.
    Mh,
    /// `dh`: destination hashing.
    Dh,
    /// `sed`: shortest expected delay.
    Sed,
    /// `nq`: never queue.
    Nq,
    /// `lblc`: locality-based least connection.
    Lblc,
    /// `lblcr`: locality-based least connection with replication.
    Lblcr,
    /// `fo`: weighted fail-over.
    Fo,
    /// `ovf`: weighted overflow.
    Ovf,
    /// `twos`: power of two choices.
    Twos,
}

/// A scheduler-private service flag and what a scheduler makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedFlag {
    /// The bit in `svc->flags`.
    pub bit: u32,
    /// The C macro that names it for this scheduler.
    pub c_name: &'static str,
    /// The `ipvsadm -b` name.
    pub ipvsadm_name: &'static str,
    /// What it does.
    pub meaning: FlagMeaning,
}

/// Meaning of a scheduler flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagMeaning {
    /// Look for another destination when the hashed one is unavailable.
    Fallback,
    /// Hash the client port with the address.
    HashPort,
}

const SH_FLAGS: [SchedFlag; 2] = [
    SchedFlag {
        bit: IP_VS_SVC_F_SCHED_SH_FALLBACK,
        c_name: "IP_VS_SVC_F_SCHED_SH_FALLBACK",
        ipvsadm_name: "sh-fallback",
        meaning: FlagMeaning::Fallback,
    },
    SchedFlag {
        bit: IP_VS_SVC_F_SCHED_SH_PORT,
        c_name: "IP_VS_SVC_F_SCHED_SH_PORT",
        ipvsadm_name: "sh-port",
        meaning: FlagMeaning::HashPort,
    },
];

const MH_FLAGS: [SchedFlag; 2] = [
    SchedFlag {
        bit: IP_VS_SVC_F_SCHED_MH_FALLBACK,
        c_name: "IP_VS_SVC_F_SCHED_MH_FALLBACK",
        ipvsadm_name: "mh-fallback",
        meaning: FlagMeaning::Fallback,
    },
    SchedFlag {
        bit: IP_VS_SVC_F_SCHED_MH_PORT,
        c_name: "IP_VS_SVC_F_SCHED_MH_PORT",
        ipvsadm_name: "mh-port",
        meaning: FlagMeaning::HashPort,
    },
];

/// A scheduler name that is neither `none` nor one ipvs-rs provides. C answers `-ENOENT`
/// after logging "Scheduler module ip_vs_%s not found" (`ip_vs_add_service()`,
/// `ip_vs_edit_service()`), having tried `request_module("ip_vs_%s")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownScheduler;

impl SchedulerKind {
    /// All of them, in no particular order of preference.
    pub const ALL: [SchedulerKind; 14] = [
        SchedulerKind::Rr,
        SchedulerKind::Wrr,
        SchedulerKind::Lc,
        SchedulerKind::Wlc,
        SchedulerKind::Sh,
        SchedulerKind::Mh,
        SchedulerKind::Dh,
        SchedulerKind::Sed,
        SchedulerKind::Nq,
        SchedulerKind::Lblc,
        SchedulerKind::Lblcr,
        SchedulerKind::Fo,
        SchedulerKind::Ovf,
        SchedulerKind::Twos,
    ];

    /// The C name (`struct ip_vs_scheduler.name`).
    pub const fn name(self) -> &'static str {
        match self {
            SchedulerKind::Rr => "rr",
            SchedulerKind::Wrr => "wrr",
            SchedulerKind::Lc => "lc",
            SchedulerKind::Wlc => "wlc",
            SchedulerKind::Sh => "sh",
            SchedulerKind::Mh => "mh",
            SchedulerKind::Dh => "dh",
            SchedulerKind::Sed => "sed",
            SchedulerKind::Nq => "nq",
            SchedulerKind::Lblc => "lblc",
            SchedulerKind::Lblcr => "lblcr",
            SchedulerKind::Fo => "fo",
            SchedulerKind::Ovf => "ovf",
            SchedulerKind::Twos => "twos",
        }
    }

    /// The name NUL-terminated, for C and netlink.
    pub const fn c_name(self) -> &'static [u8] {
        match self {
            SchedulerKind::Rr => b"rr\0",
            SchedulerKind::Wrr => b"wrr\0",
            SchedulerKind::Lc => b"lc\0",
            SchedulerKind::Wlc => b"wlc\0",
            SchedulerKind::Sh => b"sh\0",
            SchedulerKind::Mh => b"mh\0",
            SchedulerKind::Dh => b"dh\0",
            SchedulerKind::Sed => b"sed\0",
            SchedulerKind::Nq => b"nq\0",
            SchedulerKind::Lblc => b"lblc\0",
            SchedulerKind::Lblcr => b"lblcr\0",
            SchedulerKind::Fo => b"fo\0",
            SchedulerKind::Ovf => b"ovf\0",
            SchedulerKind::Twos => b"twos\0",
        }
    }

    /// The scheduler called `name`, compared like `strcmp()` in `ip_vs_sched_getbyname()`:
    /// exact and case-sensitive, the name ending at the first NUL if there is one.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        let name = name.split(|&b| b == 0).next().unwrap_or(name);
        Self::ALL.into_iter().find(|k| k.name().as_bytes() == name)
    }

    /// What `ip_vs_add_service()` / `ip_vs_edit_service()` make of a scheduler name: `none`
    /// means a service without scheduler (`Ok(None)`), a known name its scheduler, anything
    /// else [`UnknownScheduler`].
    pub fn resolve(name: &[u8]) -> Result<Option<Self>, UnknownScheduler> {
        let bare = name.split(|&b| b == 0).next().unwrap_or(name);
        if bare == b"none" {
            return Ok(None);
        }
        Self::from_name(bare).map(Some).ok_or(UnknownScheduler)
    }

    /// The scheduler-private service flags this scheduler interprets. sh and mh give the same
    /// bits the same meanings under different names (`IP_VS_SVC_F_SCHED1` is both
    /// `..._SH_FALLBACK` and `..._MH_FALLBACK`, `IP_VS_SVC_F_SCHED2` both `..._SH_PORT` and
    /// `..._MH_PORT`); the others (dh included) ignore all three bits, and nobody uses
    /// `IP_VS_SVC_F_SCHED3`.
    pub const fn flags(self) -> &'static [SchedFlag] {
        match self {
            SchedulerKind::Sh => &SH_FLAGS,
            SchedulerKind::Mh => &MH_FLAGS,
            SchedulerKind::Rr
            | SchedulerKind::Wrr
            | SchedulerKind::Lc
            | SchedulerKind::Wlc
            | SchedulerKind::Dh
            | SchedulerKind::Sed
            | SchedulerKind::Nq
            | SchedulerKind::Lblc
            | SchedulerKind::Lblcr
            | SchedulerKind::Fo
            | SchedulerKind::Ovf
            | SchedulerKind::Twos => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        let v4 = |o: [u8; 4]| InetAddr::from_ipv4(o).is_loopback(Family::Ipv4);
        assert!(v4([127, 0, 0, 1]) && v4([127, 255, 1, 2]));
        assert!(!v4([10, 0, 0, 1]) && !v4([128, 0, 0, 1]) && !v4([0, 0, 0, 0]));
        let mut one = [0u8; 16];
        one[15] = 1;
        assert!(InetAddr::from_ipv6(one).is_loopback(Family::Ipv6));
        assert!(!InetAddr::from_ipv6([0; 16]).is_loopback(Family::Ipv6));
        one[0] = 0xfd;
        assert!(!InetAddr::from_ipv6(one).is_loopback(Family::Ipv6));
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12] = 127;
        mapped[15] = 1;
        // ::ffff:127.0.0.1 is not IPV6_ADDR_LOOPBACK for ipv6_addr_type().
        assert!(!InetAddr::from_ipv6(mapped).is_loopback(Family::Ipv6));
    }

    #[test]
    fn names_round_trip() {
        for k in SchedulerKind::ALL {
            assert_eq!(SchedulerKind::from_name(k.name().as_bytes()), Some(k));
            assert_eq!(SchedulerKind::from_name(k.c_name()), Some(k));
            assert_eq!(&k.c_name()[..k.c_name().len() - 1], k.name().as_bytes());
            assert!(k.c_name().len() <= IP_VS_SCHEDNAME_MAXLEN);
        }
        let names: std::vec::Vec<_> = SchedulerKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "rr", "wrr", "lc", "wlc", "sh", "mh", "dh", "sed", "nq", "lblc", "lblcr", "fo",
                "ovf", "twos"
            ]
        );
    }

    #[test]
    fn unknown_names() {
        for bad in [
            &b"RR"[..],
            b"rr ",
            b"",
            b"DH",
            b"lblcrr",
            b"lbl",
            b"twos ",
            b"w",
            b"wlcx",
            b"sip",
        ] {
            assert_eq!(SchedulerKind::from_name(bad), None, "{bad:?}");
            assert_eq!(
                SchedulerKind::resolve(bad),
                Err(UnknownScheduler),
                "{bad:?}"
            );
        }
        assert_eq!(SchedulerKind::from_name(b"none"), None);
        assert_eq!(SchedulerKind::resolve(b"none"), Ok(None));
        assert_eq!(SchedulerKind::resolve(b"none\0junk"), Ok(None));
        assert_eq!(
            SchedulerKind::resolve(b"wlc\0\0\0"),
            Ok(Some(SchedulerKind::Wlc))
        );
    }

    #[test]
    fn flag_aliases() {
        assert_eq!(
            (IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2, IP_VS_SVC_F_SCHED3),
            (0x08, 0x10, 0x20)
        );
        assert_eq!(IP_VS_SVC_F_SCHED_SH_FALLBACK, IP_VS_SVC_F_SCHED_MH_FALLBACK);
        assert_eq!(IP_VS_SVC_F_SCHED_SH_PORT, IP_VS_SVC_F_SCHED_MH_PORT);
        for k in [SchedulerKind::Sh, SchedulerKind::Mh] {
            let f = k.flags();
            assert_eq!(f.len(), 2);
            assert_eq!(
                (f[0].bit, f[0].meaning),
                (IP_VS_SVC_F_SCHED1, FlagMeaning::Fallback)
            );
            assert_eq!(
                (f[1].bit, f[1].meaning),
                (IP_VS_SVC_F_SCHED2, FlagMeaning::HashPort)
            );
            assert!(f
                .iter()
                .all(|fl| fl.c_name.contains(&k.name().to_ascii_uppercase())));
            assert!(f.iter().all(|fl| fl.ipvsadm_name.starts_with(k.name())));
        }
        for k in SchedulerKind::ALL {
            if !matches!(k, SchedulerKind::Sh | SchedulerKind::Mh) {
                assert!(k.flags().is_empty(), "{k:?}");
            }
        }
    }

    #[test]
    fn fold_matches_c() {
        // 192.168.1.10: ntohl(addr->ip).
        let a = InetAddr::from_ipv4([192, 168, 1, 10]);
        assert_eq!(a.fold(Family::Ipv4), 0xc0a8_010a);
        // The zero padding makes the IPv6 fold of an IPv4 address the same number.
        assert_eq!(a.fold(Family::Ipv6), 0xc0a8_010a);
        // IPv4 fold ignores whatever follows the first word.
        let mut junk = a;
        junk.0[4..].fill(0xa5);
        assert_eq!(junk.fold(Family::Ipv4), 0xc0a8_010a);
        // 2001:db8::1 → 0x20010db8 ^ 0 ^ 0 ^ 1.
        let mut v6 = [0u8; 16];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6[15] = 1;
        assert_eq!(InetAddr::from_ipv6(v6).fold(Family::Ipv6), 0x2001_0db9);
        assert_eq!(InetAddr::from_ipv6(v6).fold(Family::Ipv4), 0x2001_0db8);
    }

    #[test]
    fn ports_for_hashing() {
        assert_eq!(hash_port(6, Some([1234, 80]), false), 1234);
        assert_eq!(hash_port(17, Some([1234, 80]), true), 80);
        assert_eq!(hash_port(132, Some([5, 6]), false), 5);
        assert_eq!(hash_port(6, None, false), 0);
        assert_eq!(hash_port(1, Some([1234, 80]), false), 0);
        assert_eq!(hash_port(58, Some([1234, 80]), false), 0);
    }

    #[test]
    fn overhead_is_c_int_arithmetic() {
        let d = |a, t| DestInfo {
            active_conns: a,
            total_conns: t,
            ..DestInfo::default()
        };
        assert_eq!(conn_overhead(&d(3, 10)), 3 * 256 + 10);
        assert_eq!(conn_overhead(&d(0, 0)), 0);
        // 2^23 active connections overflow int: the kernel wraps.
        assert_eq!(conn_overhead(&d(1 << 23, 1)), i32::MIN + 1);
        assert_eq!(conn_overhead(&d(-1, 0)), -256);
    }

    #[test]
    fn gcd_helpers() {
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(0, 7), 7);
        assert_eq!(gcd_of_positive([0, -4, 6, 9].into_iter()), 3);
        assert_eq!(gcd_of_positive([0, 0].into_iter()), 0);
        assert_eq!(gcd_of_positive([i32::MAX].into_iter()), i32::MAX);
    }

    #[test]
    fn family_from_af() {
        assert_eq!(Family::from_af(2), Some(Family::Ipv4));
        assert_eq!(Family::from_af(10), Some(Family::Ipv6));
        assert_eq!(Family::from_af(0), None);
        for f in [Family::Ipv4, Family::Ipv6] {
            assert_eq!(Family::from_af(f.af()), Some(f));
        }
    }
}
