//! The `net.ipv4.vs.*` sysctls, and the kernel's integer parser most of them use.
//!
//! C IPVS registers `vs_vars[]` (`net/netfilter/ipvs/ip_vs_ctl.c`) under `net/ipv4/vs` in
//! every namespace, and the lblc/lblcr schedulers add `lblc_expiration` / `lblcr_expiration`
//! there. [`SPECS`] and [`LOCALITY_SPECS`] are those tables, entry for entry: name, order,
//! mode, default and handler (`proc_dointvec` for most: any `int` is stored and the data
//! path interprets it; `proc_dointvec_minmax` with C's bounds; `proc_dointvec_jiffies`; and
//! C's own handlers, whose checks are [`sync_threshold_ok`], [`sync_ports_ok`],
//! [`est_nice_ok`] and [`crate::defense`]). The kernel glue registers them;
//! [`parse_dointvec`] is a model of the kernel's `proc_dointvec()` write path
//! (`kernel/sysctl.c`) that host tests exercise and that a KUnit case checks against the
//! real handler inside the kernel.

/// One `net/ipv4/vs` sysctl: everything the glue needs to build a `struct ctl_table` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Which knob this is.
    pub knob: Knob,
    /// Entry name under `/proc/sys/net/ipv4/vs/`.
    pub name: &'static str,
    /// The same name, NUL-terminated, for the C table.
    pub c_name: &'static [u8],
    /// Value a new network namespace starts with (as in C).
    pub default: Initial,
    /// Permission bits of the proc file.
    pub mode: u16,
    /// Permission bits in a namespace owned by a non-initial user namespace: C makes the
    /// global-resource knobs (`sync_qlen_max`, `sync_sock_size`, `run_estimation`,
    /// `est_cpulist`, `est_nice`) read-only there.
    pub unpriv_mode: u16,
    /// Not registered at all in a namespace owned by a non-initial user namespace (C's
    /// `lblc_expiration` / `lblcr_expiration`: "Don't export sysctls to unprivileged users").
    pub hidden_unpriv: bool,
    /// The proc handler C uses for it.
    pub handler: Handler,
}

/// The value a namespace starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initial {
    /// A plain `int`.
    Int(i32),
    /// Seconds, stored in jiffies (`x * HZ`).
    Secs(i32),
    /// `sync_threshold`'s two `int`s (`DEFAULT_SYNC_THRESHOLD`, `DEFAULT_SYNC_PERIOD`).
    Pair(i32, i32),
    /// `sync_qlen_max`: `nr_free_buffer_pages() / 32`, computed when the namespace starts.
    FreeBufferPagesBy32,
    /// `est_cpulist`: not set; reads show the housekeeping CPUs of kthreads.
    HousekeepingCpus,
}

/// Which `proc_handler` an entry has in C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `proc_dointvec`: any `int` ([`parse_dointvec`]).
    DoIntVec,
    /// `proc_dointvec_minmax` with `extra1 = &min`, `extra2 = &max`: out of range is `EINVAL`.
    MinMax {
        /// `*extra1`.
        min: i32,
        /// `*extra2`.
        max: i32,
    },
    /// `proc_dointvec_jiffies`: seconds in, jiffies stored.
    Jiffies,
    /// `proc_doulongvec_minmax` without bounds on an `unsigned long`.
    ULongVec,
    /// `proc_do_defense_mode`: 0..=3, a change runs `update_defense_level()`
    /// ([`crate::defense::write_mode`]).
    DefenseMode,
    /// `proc_do_sync_threshold`: two `int`s, both >= 0 and the first below the second unless
    /// the second is 0 ([`sync_threshold_ok`]).
    SyncThreshold,
    /// `proc_do_sync_ports`: a power of two >= 1 ([`sync_ports_ok`]); writing the current
    /// value is accepted whatever it is.
    SyncPorts,
    /// `ipvs_proc_run_estimation`: any `int`; a change restarts the estimators.
    RunEstimation,
    /// `ipvs_proc_est_cpulist`: a CPU list (`cpulist_parse()`), masked with the writer's
    /// allowed CPUs.
    EstCpulist,
    /// `ipvs_proc_est_nice`: `MIN_NICE..=MAX_NICE` ([`est_nice_ok`]).
    EstNice,
}

/// The sysctls under `net/ipv4/vs`, identified independently of their table position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    /// `amemthresh`: below this many free pages the automatic defenses turn on.
    AmemThresh,
    /// `am_droprate`: `drop_packet` mode 3 refuses one new connection in this many.
    AmDropRate,
    /// `drop_entry`: randomly delete flood-like entries (0 off, 1/2 automatic, 3 always).
    DropEntry,
    /// `drop_packet`: refuse some new connections (0 off, 1/2 automatic, 3 always).
    DropPacket,
    /// `conntrack`: keep netfilter conntrack entries for IPVS connections.
    Conntrack,
    /// `secure_tcp`: the TCP state table for floods (0 off, 1/2 automatic, 3 always).
    SecureTcp,
    /// `snat_reroute`: re-route NAT replies after the source rewrite.
    SnatReroute,
    /// `sync_version` (connection sync).
    SyncVersion,
    /// `sync_ports` (connection sync).
    SyncPorts,
    /// `sync_persist_mode` (connection sync).
    SyncPersistMode,
    /// `sync_qlen_max` (connection sync, `unsigned long`).
    SyncQlenMax,
    /// `sync_sock_size` (connection sync).
    SyncSockSize,
    /// `cache_bypass`: forward to the original destination when no real server is there.
    CacheBypass,
    /// `expire_nodest_conn`: expire connections whose destination is gone or quiescent.
    ExpireNodestConn,
    /// `sloppy_tcp`: any TCP packet (not only a SYN) may create a connection.
    SloppyTcp,
    /// `sloppy_sctp`: any SCTP packet (not only an INIT) may create a connection.
    SloppySctp,
    /// `expire_quiescent_template`: persistence templates of weight-0 destinations are
    /// invalid.
    ExpireQuiescentTemplate,
    /// `sync_threshold` (connection sync, two `int`s).
    SyncThreshold,
    /// `sync_refresh_period` (connection sync, jiffies).
    SyncRefreshPeriod,
    /// `sync_retries` (connection sync, 0..=3).
    SyncRetries,
    /// `nat_icmp_send`: answer real servers' replies without connection with ICMP.
    NatIcmpSend,
    /// `pmtu_disc`: path MTU discovery for tunnelled packets.
    PmtuDisc,
    /// `backup_only` (connection sync).
    BackupOnly,
    /// `conn_reuse_mode`: non-zero enables rescheduling on port reuse, bit 1 extends it to
    /// FIN_WAIT entries that saw no output (direct routing).
    ConnReuseMode,
    /// `schedule_icmp`: ICMP errors without connection may be scheduled.
    ScheduleIcmp,
    /// `ignore_tunneled`: leave packets that came in through a tunnel alone.
    IgnoreTunneled,
    /// `run_estimation`: run the rate estimator.
    RunEstimation,
    /// `est_cpulist`: CPUs of the estimator kthreads (a string).
    EstCpulist,
    /// `est_nice`: nice value of the estimator kthreads.
    EstNice,
    /// `conn_reuse_old_conntrack` (ipvs-rs only, default 0 = C's behaviour): when a reused
    /// port finds an old entry whose conntrack is confirmed, retire that conntrack and
    /// reschedule the SYN instead of dropping it.
    ConnReuseOldConntrack,
    /// `lblc_expiration` (C: ip_vs_lblc.c's own table, jiffies).
    LblcExpiration,
    /// `lblcr_expiration` (C: ip_vs_lblcr.c's own table, jiffies).
    LblcrExpiration,
}

const fn spec(
    knob: Knob,
    name: &'static str,
    c_name: &'static [u8],
    default: Initial,
    handler: Handler,
) -> Spec {
    Spec {
        knob,
        name,
        c_name,
        default,
        mode: 0o644,
        unpriv_mode: 0o644,
        hidden_unpriv: false,
        handler,
    }
}

#[inline]
const fn int(knob: Knob, name: &'static str, c_name: &'static [u8], default: i32) -> Spec {
    spec(knob, name, c_name, Initial::Int(default), Handler::DoIntVec)
}

#[inline]
const fn defense(knob: Knob, name: &'static str, c_name: &'static [u8]) -> Spec {
    spec(knob, name, c_name, Initial::Int(0), Handler::DefenseMode)
}

/// Read-only in namespaces of unprivileged users.
#[inline]
const fn global(s: Spec) -> Spec {
    Spec {
        unpriv_mode: 0o444,
        ..s
    }
}

/// `DEFAULT_EXPIRATION` of ip_vs_lblc.c / ip_vs_lblcr.c: 24 hours.
pub const LOCALITY_EXPIRATION_SECS: i32 = crate::sched::locality::DEFAULT_EXPIRATION_SECS as i32;

/// The main table, exactly C IPVS's `vs_vars[]` (with `CONFIG_IP_VS_NFCT`, without
/// `CONFIG_IP_VS_DEBUG`) in its order, with the defaults `ip_vs_control_net_init_sysctl()`
/// sets, then ipvs-rs's own `conn_reuse_old_conntrack`.
pub const SPECS: [Spec; 30] = [
    int(Knob::AmemThresh, "amemthresh", b"amemthresh\0", 1024),
    int(Knob::AmDropRate, "am_droprate", b"am_droprate\0", 10),
    defense(Knob::DropEntry, "drop_entry", b"drop_entry\0"),
    defense(Knob::DropPacket, "drop_packet", b"drop_packet\0"),
    int(Knob::Conntrack, "conntrack", b"conntrack\0", 0),
    defense(Knob::SecureTcp, "secure_tcp", b"secure_tcp\0"),
    int(Knob::SnatReroute, "snat_reroute", b"snat_reroute\0", 1),
    spec(
        Knob::SyncVersion,
        "sync_version",
        b"sync_version\0",
        Initial::Int(1),
        Handler::MinMax { min: 0, max: 1 },
    ),
    spec(
        Knob::SyncPorts,
        "sync_ports",
        b"sync_ports\0",
        Initial::Int(1),
        Handler::SyncPorts,
    ),
    int(
        Knob::SyncPersistMode,
        "sync_persist_mode",
        b"sync_persist_mode\0",
        0,
    ),
    global(spec(
        Knob::SyncQlenMax,
        "sync_qlen_max",
        b"sync_qlen_max\0",
        Initial::FreeBufferPagesBy32,
        Handler::ULongVec,
    )),
    global(int(
        Knob::SyncSockSize,
        "sync_sock_size",
        b"sync_sock_size\0",
        0,
    )),
    int(Knob::CacheBypass, "cache_bypass", b"cache_bypass\0", 0),
    int(
        Knob::ExpireNodestConn,
        "expire_nodest_conn",
        b"expire_nodest_conn\0",
        0,
    ),
    int(Knob::SloppyTcp, "sloppy_tcp", b"sloppy_tcp\0", 0),
    int(Knob::SloppySctp, "sloppy_sctp", b"sloppy_sctp\0", 0),
    int(
        Knob::ExpireQuiescentTemplate,
        "expire_quiescent_template",
        b"expire_quiescent_template\0",
        0,
    ),
    spec(
        Knob::SyncThreshold,
        "sync_threshold",
        b"sync_threshold\0",
        Initial::Pair(3, 50),
        Handler::SyncThreshold,
    ),
    spec(
        Knob::SyncRefreshPeriod,
        "sync_refresh_period",
        b"sync_refresh_period\0",
        Initial::Secs(0),
        Handler::Jiffies,
    ),
    spec(
        Knob::SyncRetries,
        "sync_retries",
        b"sync_retries\0",
        Initial::Int(0),
        Handler::MinMax { min: 0, max: 3 },
    ),
    int(Knob::NatIcmpSend, "nat_icmp_send", b"nat_icmp_send\0", 0),
    int(Knob::PmtuDisc, "pmtu_disc", b"pmtu_disc\0", 1),
    int(Knob::BackupOnly, "backup_only", b"backup_only\0", 0),
    int(
        Knob::ConnReuseMode,
        "conn_reuse_mode",
        b"conn_reuse_mode\0",
        1,
    ),
    int(Knob::ScheduleIcmp, "schedule_icmp", b"schedule_icmp\0", 0),
    int(
        Knob::IgnoreTunneled,
        "ignore_tunneled",
        b"ignore_tunneled\0",
        0,
    ),
    global(spec(
        Knob::RunEstimation,
        "run_estimation",
        b"run_estimation\0",
        Initial::Int(1),
        Handler::RunEstimation,
    )),
    global(spec(
        Knob::EstCpulist,
        "est_cpulist",
        b"est_cpulist\0",
        Initial::HousekeepingCpus,
        Handler::EstCpulist,
    )),
    global(spec(
        Knob::EstNice,
        "est_nice",
        b"est_nice\0",
        Initial::Int(0),
        Handler::EstNice,
    )),
    int(
        Knob::ConnReuseOldConntrack,
        "conn_reuse_old_conntrack",
        b"conn_reuse_old_conntrack\0",
        0,
    ),
];

const fn locality(knob: Knob, name: &'static str, c_name: &'static [u8]) -> Spec {
    Spec {
        hidden_unpriv: true,
        ..spec(
            knob,
            name,
            c_name,
            Initial::Secs(LOCALITY_EXPIRATION_SECS),
            Handler::Jiffies,
        )
    }
}

/// The schedulers' entries: C registers each from its scheduler module (`lblc_expiration`
/// from ip_vs_lblc.ko, `lblcr_expiration` from ip_vs_lblcr.ko) in the same directory;
/// ipvs-rs has the schedulers built in and registers both with the namespace, as a second
/// table (so they can be left out for unprivileged users, as C does).
pub const LOCALITY_SPECS: [Spec; 2] = [
    locality(
        Knob::LblcExpiration,
        "lblc_expiration",
        b"lblc_expiration\0",
    ),
    locality(
        Knob::LblcrExpiration,
        "lblcr_expiration",
        b"lblcr_expiration\0",
    ),
];

/// Number of knobs ([`SPECS`] then [`LOCALITY_SPECS`]); [`Knob::index`] is below it.
pub const N_KNOBS: usize = SPECS.len() + LOCALITY_SPECS.len();

impl Knob {
    /// Position of the knob in [`SPECS`] followed by [`LOCALITY_SPECS`].
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The table entry of this knob.
    #[inline]
    pub const fn spec(self) -> &'static Spec {
        let i = self.index();
        if i < SPECS.len() {
            &SPECS[i]
        } else {
            &LOCALITY_SPECS[i - SPECS.len()]
        }
    }

    /// The `int` a namespace starts with, `hz` ticks per second (the first `int` for
    /// `sync_threshold`; 0 for the knobs that are not an `int` or have a run-time default).
    #[inline]
    pub const fn default_int(self, hz: u32) -> i32 {
        self.spec().default_int(hz)
    }
}

impl Spec {
    /// The `int` a namespace starts with, `hz` ticks per second (the first `int` for
    /// `sync_threshold`; 0 for the knobs that are not an `int` or have a run-time default).
    #[inline]
    pub const fn default_int(&self, hz: u32) -> i32 {
        match self.default {
            Initial::Int(v) | Initial::Pair(v, _) => v,
            Initial::Secs(s) => secs_to_jiffies(s, hz),
            Initial::FreeBufferPagesBy32 | Initial::HousekeepingCpus => 0,
        }
    }
}

/// `s * HZ` as C computes `DEFAULT_EXPIRATION` (fits an `int` for any HZ up to 24855).
#[inline]
pub const fn secs_to_jiffies(s: i32, hz: u32) -> i32 {
    let j = s as i64 * hz as i64;
    if j > i32::MAX as i64 {
        i32::MAX
    } else {
        j as i32
    }
}

/// `proc_do_sync_threshold()`'s test on the two new values.
#[inline]
pub const fn sync_threshold_ok(threshold: i32, period: i32) -> bool {
    !(threshold < 0 || period < 0 || (threshold >= period && period != 0))
}

/// `proc_do_sync_ports()`'s test on a new (changed) value: `val >= 1 && is_power_of_2(val)`.
#[inline]
pub const fn sync_ports_ok(v: i32) -> bool {
    v >= 1 && (v & (v - 1)) == 0
}

/// `ipvs_proc_est_nice()`'s test: `MIN_NICE..=MAX_NICE`.
#[inline]
pub const fn est_nice_ok(v: i32) -> bool {
    v >= -20 && v <= 19
}

/// Values of the knobs the data path reads, for one network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `conn_reuse_mode`, raw.
    pub conn_reuse_mode: i32,
    /// `expire_nodest_conn`, raw.
    pub expire_nodest_conn: i32,
    /// `conntrack`, raw.
    pub conntrack: i32,
    /// `conn_reuse_old_conntrack`, raw (ipvs-rs only).
    pub conn_reuse_old_conntrack: i32,
    /// `expire_quiescent_template`, raw.
    pub expire_quiescent_template: i32,
    /// `sloppy_tcp`, raw.
    pub sloppy_tcp: i32,
    /// `sloppy_sctp`, raw (see [`crate::proto::sctp::schedule_check`]).
    pub sloppy_sctp: i32,
    /// `snat_reroute`, raw.
    pub snat_reroute: i32,
    /// `schedule_icmp`, raw: an ICMP error from a client about a reply of no connection
    /// schedules one (`ip_vs_in_icmp()`), so that it reaches a real server.
    pub schedule_icmp: i32,
    /// `pmtu_disc`, raw: 0 lets tunnelled IPv4 packets be fragmented (outer DF clear, no
    /// "fragmentation needed") as C's `ensure_mtu_is_adequate()` and
    /// `ip_vs_tunnel_xmit()` do.
    pub pmtu_disc: i32,
    /// `nat_icmp_send`, raw: a packet from a masquerading real server's address and port
    /// that no connection explains is answered with ICMP "port unreachable" and dropped
    /// (`ip_vs_out_hook()`).
    pub nat_icmp_send: i32,
    /// `cache_bypass`, raw: a packet of a firewall-mark service without an available real
    /// server goes on to the address it was sent to (`ip_vs_leave()`).
    pub cache_bypass: i32,
}

impl Default for Settings {
    fn default() -> Self {
        let d = |k: Knob| k.default_int(0);
        Settings {
            conn_reuse_mode: d(Knob::ConnReuseMode),
            expire_nodest_conn: d(Knob::ExpireNodestConn),
            conntrack: d(Knob::Conntrack),
            conn_reuse_old_conntrack: d(Knob::ConnReuseOldConntrack),
            expire_quiescent_template: d(Knob::ExpireQuiescentTemplate),
            sloppy_tcp: d(Knob::SloppyTcp),
            sloppy_sctp: d(Knob::SloppySctp),
            snat_reroute: d(Knob::SnatReroute),
            schedule_icmp: d(Knob::ScheduleIcmp),
            pmtu_disc: d(Knob::PmtuDisc),
            nat_icmp_send: d(Knob::NatIcmpSend),
            cache_bypass: d(Knob::CacheBypass),
        }
    }
}

impl Settings {
    /// Port reuse reschedules at all: `ip_vs_in_hook()` tests `conn_reuse_mode` for non-zero,
    /// so a mode of 2 alone also reschedules TIME_WAIT/CLOSE entries.
    #[inline]
    pub fn reuse_reschedules(&self) -> bool {
        self.conn_reuse_mode != 0
    }

    /// FIN_WAIT entries without output count as reusable too (`conn_reuse_mode & 2`,
    /// `is_new_conn_expected()`): the direct-routing case, where IPVS never sees replies.
    #[inline]
    pub fn reuse_fin_wait_without_output(&self) -> bool {
        self.conn_reuse_mode & 2 != 0
    }

    /// Connections to a removed or weight-0 destination are expired (`expire_nodest_conn`).
    #[inline]
    pub fn expire_nodest(&self) -> bool {
        self.expire_nodest_conn != 0
    }

    /// IPVS connections keep their conntrack entries (`conntrack`).
    #[inline]
    pub fn uses_conntrack(&self) -> bool {
        self.conntrack != 0
    }

    /// A persistence template whose destination has weight 0 stops sending new connections
    /// to it (`expire_quiescent_template`, read by `ip_vs_check_template()`; the decision
    /// is [`crate::persist::template_usable`]).
    #[inline]
    pub fn expire_quiescent(&self) -> bool {
        self.expire_quiescent_template != 0
    }
}

/// The locality schedulers' expirations, in jiffies, as `Svc` needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalityExpiration {
    /// `lblc_expiration`.
    pub lblc: i32,
    /// `lblcr_expiration`.
    pub lblcr: i32,
}

/// Why a sysctl write was refused; the kernel answers both with `-EINVAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not a number, trailing garbage, or no value at all.
    Invalid,
    /// A number that does not fit in `int` (or in `unsigned long` while parsing).
    OutOfRange,
}

/// Outcome of a write to a `proc_dointvec` file, as the kernel would produce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A zero-length write: accepted, nothing stored.
    Empty,
    /// `value` stored; the write call returns `consumed` (the kernel may accept a prefix).
    Stored {
        /// The new value.
        value: i32,
        /// How many bytes of the input the kernel reports as written.
        consumed: usize,
    },
}

/// `TMPBUFLEN` in `kernel/sysctl.c`: numbers are parsed from a copy of at most 21 bytes.
const TMPBUFLEN: usize = 22;
/// The kernel caps a sysctl write at one page minus the terminator.
const PAGE_SIZE: usize = 4096;

/// The kernel's `isspace()` (`lib/ctype.c`), which also counts 0xA0 as space.
#[inline]
fn is_kernel_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0)
}

/// Model of `proc_dointvec()` writing one `int` (`maxlen == sizeof(int)`, position 0).
///
/// Mirrors `__do_proc_dointvec()` + `proc_get_long()` + `strtoul_lenient()`: leading
/// whitespace skipped, an optional `-`, base auto-detection (`0x` hex, leading `0` octal),
/// the number must end at whitespace (space, tab, newline) or the end of the input, and
/// whitespace after it is consumed. Anything after that is left unconsumed but the write
/// still succeeds, exactly as the kernel reports a short write.
pub fn parse_dointvec(input: &[u8]) -> Result<Write, ParseError> {
    if input.is_empty() {
        return Ok(Write::Empty);
    }
    let total = input.len();
    let mut buf = &input[..total.min(PAGE_SIZE - 1)];

    while let Some((&c, rest)) = buf.split_first() {
        if !is_kernel_space(c) {
            break;
        }
        buf = rest;
    }
    if buf.is_empty() {
        return Err(ParseError::Invalid);
    }

    // proc_get_long() works on a NUL-terminated copy of at most TMPBUFLEN - 1 bytes.
    let size = buf.len();
    let mut tmp = [0u8; TMPBUFLEN];
    let len = size.min(TMPBUFLEN - 1);
    tmp[..len].copy_from_slice(&buf[..len]);
    let mut p = 0;
    let neg = tmp[0] == b'-' && size > 1;
    if neg {
        p += 1;
    }
    if !tmp[p].is_ascii_digit() {
        return Err(ParseError::Invalid);
    }
    let (magnitude, end) = strtoul_lenient(&tmp, p)?;
    if end == TMPBUFLEN - 1 {
        return Err(ParseError::Invalid);
    }
    if end < size && !matches!(tmp[end], b' ' | b'\t' | b'\n') {
        return Err(ParseError::Invalid);
    }

    // do_proc_dointvec_conv()
    let value = if neg {
        if magnitude > i32::MAX as u64 + 1 {
            return Err(ParseError::OutOfRange);
        }
        (magnitude as i64).wrapping_neg() as i32
    } else {
        if magnitude > i32::MAX as u64 {
            return Err(ParseError::OutOfRange);
        }
        magnitude as i32
    };

    let mut rest = &buf[end..];
    while let Some((&c, r)) = rest.split_first() {
        if !is_kernel_space(c) {
            break;
        }
        rest = r;
    }
    Ok(Write::Stored {
        value,
        consumed: total.min(PAGE_SIZE - 1) - rest.len(),
    })
}

/// `_parse_integer_fixup_radix()` + `_parse_integer()` with base 0 over a NUL-terminated
/// buffer; returns the value and the index just past the digits.
fn strtoul_lenient(s: &[u8; TMPBUFLEN], start: usize) -> Result<(u64, usize), ParseError> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = start;
    let base: u64 = if at(i) == b'0' {
        if at(i + 1).eq_ignore_ascii_case(&b'x') && at(i + 2).is_ascii_hexdigit() {
            i += 2;
            16
        } else {
            8
        }
    } else {
        10
    };
    let mut res: u64 = 0;
    let mut overflow = false;
    loop {
        let c = at(i);
        let digit = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            _ if (b'a'..=b'f').contains(&c.to_ascii_lowercase()) => {
                u64::from(c.to_ascii_lowercase() - b'a' + 10)
            }
            _ => break,
        };
        if digit >= base {
            break;
        }
        match res.checked_mul(base).and_then(|r| r.checked_add(digit)) {
            Some(r) => res = r,
            None => {
                overflow = true;
                res = res.wrapping_mul(base).wrapping_add(digit);
            }
        }
        i += 1;
    }
    if overflow {
        return Err(ParseError::OutOfRange);
    }
    Ok((res, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(s: &str) -> Option<i32> {
        match parse_dointvec(s.as_bytes()) {
            Ok(Write::Stored { value, .. }) => Some(value),
            _ => None,
        }
    }

    #[test]
    fn defaults_match_c_ipvs() {
        let s = Settings::default();
        assert_eq!(
            (s.conn_reuse_mode, s.expire_nodest_conn, s.conntrack),
            (1, 0, 0)
        );
        assert_eq!(
            (s.expire_quiescent_template, s.sloppy_tcp, s.snat_reroute),
            (0, 0, 1)
        );
        assert!(s.reuse_reschedules() && !s.reuse_fin_wait_without_output());
        assert!(!s.expire_nodest() && !s.uses_conntrack());
    }

    /// `vs_vars[]` of 6.12 with CONFIG_IP_VS_NFCT, in order, with each entry's handler and
    /// the default `ip_vs_control_net_init_sysctl()` gives it (transcribed from ip_vs_ctl.c).
    #[test]
    fn table_is_c_vs_vars() {
        let c: &[(&str, &str, &str)] = &[
            ("amemthresh", "proc_dointvec", "1024"),
            ("am_droprate", "proc_dointvec", "10"),
            ("drop_entry", "proc_do_defense_mode", "0"),
            ("drop_packet", "proc_do_defense_mode", "0"),
            ("conntrack", "proc_dointvec", "0"),
            ("secure_tcp", "proc_do_defense_mode", "0"),
            ("snat_reroute", "proc_dointvec", "1"),
            ("sync_version", "proc_dointvec_minmax 0 1", "1"),
            ("sync_ports", "proc_do_sync_ports", "1"),
            ("sync_persist_mode", "proc_dointvec", "0"),
            ("sync_qlen_max", "proc_doulongvec_minmax", "pages/32"),
            ("sync_sock_size", "proc_dointvec", "0"),
            ("cache_bypass", "proc_dointvec", "0"),
            ("expire_nodest_conn", "proc_dointvec", "0"),
            ("sloppy_tcp", "proc_dointvec", "0"),
            ("sloppy_sctp", "proc_dointvec", "0"),
            ("expire_quiescent_template", "proc_dointvec", "0"),
            ("sync_threshold", "proc_do_sync_threshold", "3 50"),
            ("sync_refresh_period", "proc_dointvec_jiffies", "0"),
            ("sync_retries", "proc_dointvec_minmax 0 3", "0"),
            ("nat_icmp_send", "proc_dointvec", "0"),
            ("pmtu_disc", "proc_dointvec", "1"),
            ("backup_only", "proc_dointvec", "0"),
            ("conn_reuse_mode", "proc_dointvec", "1"),
            ("schedule_icmp", "proc_dointvec", "0"),
            ("ignore_tunneled", "proc_dointvec", "0"),
            ("run_estimation", "ipvs_proc_run_estimation", "1"),
            ("est_cpulist", "ipvs_proc_est_cpulist", "housekeeping"),
            ("est_nice", "ipvs_proc_est_nice", "0"),
        ];
        assert_eq!(SPECS.len(), c.len() + 1);
        for (spec, (name, handler, default)) in SPECS.iter().zip(c) {
            assert_eq!(spec.name, *name);
            let h = match spec.handler {
                Handler::DoIntVec => "proc_dointvec".into(),
                Handler::MinMax { min, max } => std::format!("proc_dointvec_minmax {min} {max}"),
                Handler::Jiffies => "proc_dointvec_jiffies".into(),
                Handler::ULongVec => "proc_doulongvec_minmax".into(),
                Handler::DefenseMode => "proc_do_defense_mode".into(),
                Handler::SyncThreshold => "proc_do_sync_threshold".into(),
                Handler::SyncPorts => "proc_do_sync_ports".into(),
                Handler::RunEstimation => "ipvs_proc_run_estimation".into(),
                Handler::EstCpulist => "ipvs_proc_est_cpulist".into(),
                Handler::EstNice => "ipvs_proc_est_nice".into(),
            };
            assert_eq!(h, std::string::String::from(*handler), "{name}");
            let d = match spec.default {
                Initial::Int(v) | Initial::Secs(v) => std::format!("{v}"),
                Initial::Pair(a, b) => std::format!("{a} {b}"),
                Initial::FreeBufferPagesBy32 => "pages/32".into(),
                Initial::HousekeepingCpus => "housekeeping".into(),
            };
            assert_eq!(d, std::string::String::from(*default), "{name}");
            let global = [
                "sync_qlen_max",
                "sync_sock_size",
                "run_estimation",
                "est_cpulist",
                "est_nice",
            ];
            assert_eq!(
                spec.unpriv_mode,
                if global.contains(name) { 0o444 } else { 0o644 },
                "{name}"
            );
            assert!(!spec.hidden_unpriv);
        }
        assert_eq!(SPECS[29].name, "conn_reuse_old_conntrack");
        for l in &LOCALITY_SPECS {
            assert_eq!(
                (l.handler, l.default, l.mode, l.hidden_unpriv),
                (Handler::Jiffies, Initial::Secs(86400), 0o644, true)
            );
        }
        assert_eq!(Knob::LblcExpiration.default_int(250), 86400 * 250);
        assert_eq!(Knob::SyncThreshold.default_int(250), 3);
    }

    #[test]
    fn table_is_consistent() {
        for spec in SPECS.iter().chain(LOCALITY_SPECS.iter()) {
            assert_eq!(spec.knob.spec(), spec);
            assert_eq!(&spec.c_name[..spec.c_name.len() - 1], spec.name.as_bytes());
            assert_eq!(spec.c_name.last(), Some(&0));
            assert_eq!(spec.mode, 0o644);
        }
        let defense: std::vec::Vec<_> = SPECS
            .iter()
            .filter(|s| s.handler == Handler::DefenseMode)
            .map(|s| s.name)
            .collect();
        assert_eq!(defense, ["drop_entry", "drop_packet", "secure_tcp"]);
        assert_eq!(N_KNOBS, 32);
    }

    #[test]
    fn c_validators() {
        // proc_do_sync_threshold
        assert!(sync_threshold_ok(3, 50) && sync_threshold_ok(0, 0) && sync_threshold_ok(5, 0));
        assert!(
            !sync_threshold_ok(50, 3)
                && !sync_threshold_ok(3, 3)
                && !sync_threshold_ok(-1, 5)
                && !sync_threshold_ok(1, -1)
        );
        // proc_do_sync_ports
        assert!(sync_ports_ok(1) && sync_ports_ok(2) && sync_ports_ok(1 << 30));
        assert!(
            !sync_ports_ok(0)
                && !sync_ports_ok(3)
                && !sync_ports_ok(-4)
                && !sync_ports_ok(i32::MIN)
        );
        // ipvs_proc_est_nice
        assert!(est_nice_ok(-20) && est_nice_ok(19) && !est_nice_ok(20) && !est_nice_ok(-21));
    }

    #[test]
    fn quiescent_templates() {
        let off = Settings::default();
        let on = Settings {
            expire_quiescent_template: 1,
            ..Settings::default()
        };
        assert!(!off.expire_quiescent() && on.expire_quiescent());
    }

    #[test]
    fn reuse_mode_bits() {
        let s = Settings {
            conn_reuse_mode: 2,
            ..Settings::default()
        };
        assert!(s.reuse_reschedules() && s.reuse_fin_wait_without_output());
        let s = Settings {
            conn_reuse_mode: 0,
            ..Settings::default()
        };
        assert!(!s.reuse_reschedules() && !s.reuse_fin_wait_without_output());
        let s = Settings {
            conn_reuse_mode: 3,
            ..Settings::default()
        };
        assert!(s.reuse_reschedules() && s.reuse_fin_wait_without_output());
    }

    #[test]
    fn accepts_what_sysctl_w_writes() {
        assert_eq!(stored("2\n"), Some(2));
        assert_eq!(stored("0"), Some(0));
        assert_eq!(stored("  -5 \n"), Some(-5));
        assert_eq!(stored("0x10\n"), Some(16));
        assert_eq!(stored("010"), Some(8));
        assert_eq!(stored("2147483647"), Some(i32::MAX));
        assert_eq!(stored("-2147483648"), Some(i32::MIN));
        assert_eq!(parse_dointvec(b""), Ok(Write::Empty));
    }

    #[test]
    fn rejects_like_the_kernel() {
        for bad in [
            "abc",
            "1a",
            "2147483648",
            "-2147483649",
            "   ",
            "\n",
            "-",
            "+1",
            "0x",
            "99999999999999999999999",
            "1.5",
        ] {
            assert!(
                parse_dointvec(bad.as_bytes()).is_err(),
                "{bad:?} must be rejected"
            );
        }
        // "0x" alone is octal 0 followed by 'x': trailing garbage.
        assert_eq!(parse_dointvec(b"0x"), Err(ParseError::Invalid));
    }

    #[test]
    fn second_value_is_left_unconsumed() {
        assert_eq!(
            parse_dointvec(b"1 2"),
            Ok(Write::Stored {
                value: 1,
                consumed: 2
            })
        );
        assert_eq!(
            parse_dointvec(b"7\n"),
            Ok(Write::Stored {
                value: 7,
                consumed: 2
            })
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use std::format;

        proptest! {
            #[test]
            fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..64)) {
                let _ = parse_dointvec(&input);
            }

            #[test]
            fn decimal_round_trip(v in any::<i32>(), pre in "[ \t\n]{0,3}", post in "[ \t\n]{0,3}") {
                let text = format!("{pre}{v}{post}");
                prop_assert_eq!(
                    parse_dointvec(text.as_bytes()),
                    Ok(Write::Stored { value: v, consumed: text.len() })
                );
            }

            #[test]
            fn hex_round_trip(v in 0..=i32::MAX) {
                let text = format!("{v:#x}\n");
                prop_assert_eq!(parse_dointvec(text.as_bytes()).ok(), Some(Write::Stored { value: v, consumed: text.len() }));
            }
        }
    }
}
