//! The `net.ipv4.vs.*` sysctls ipvs-rs owns, and the kernel's integer parser they use.
//!
//! C IPVS (`net/netfilter/ipvs/ip_vs_ctl.c`, `vs_vars[]`) registers `conn_reuse_mode`,
//! `expire_nodest_conn`, `conntrack`, `amemthresh` and `am_droprate` under `net/ipv4/vs` with
//! `proc_dointvec`: any `int` is accepted and stored, and the data path interprets it
//! (`conn_reuse_mode` as bits, the others as booleans or numbers). `drop_entry`,
//! `drop_packet` and `secure_tcp` use `proc_do_defense_mode` (0..=3, see
//! [`crate::defense`]). We keep exactly that contract: [`SPECS`] is the table the
//! kernel glue registers, and [`parse_dointvec`] is a model of the kernel's
//! `proc_dointvec()` write path (`kernel/sysctl.c`) that host tests exercise and that a KUnit
//! case checks against the real handler inside the kernel.

/// One ipvs-rs sysctl: everything the glue needs to build a `struct ctl_table` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Which knob this is.
    pub knob: Knob,
    /// Entry name under `/proc/sys/net/ipv4/vs/`.
    pub name: &'static str,
    /// The same name, NUL-terminated, for the C table.
    pub c_name: &'static [u8],
    /// Value a new network namespace starts with (as in C).
    pub default: i32,
    /// Permission bits of the proc file.
    pub mode: u16,
    /// The proc handler C uses for it.
    pub handler: Handler,
}

/// Which `proc_handler` an entry has in C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `proc_dointvec`: any `int` ([`parse_dointvec`]).
    DoIntVec,
    /// `proc_do_defense_mode`: 0..=3, a change runs `update_defense_level()`
    /// ([`crate::defense::write_mode`]).
    DefenseMode,
}

/// The sysctls ipvs-rs registers, identified independently of their table position.
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
    /// `secure_tcp`: the TCP state table for floods (0 off, 1/2 automatic, 3 always).
    SecureTcp,
    /// `conn_reuse_mode`: non-zero enables rescheduling on port reuse, bit 1 extends it to
    /// FIN_WAIT entries that saw no output (direct routing).
    ConnReuseMode,
    /// `expire_nodest_conn`: expire connections whose destination is gone or quiescent.
    ExpireNodestConn,
    /// `conntrack`: keep netfilter conntrack entries for IPVS connections.
    Conntrack,
    /// `conn_reuse_old_conntrack` (ipvs-rs only, default 0 = C's behaviour): when a reused
    /// port finds an old entry whose conntrack is confirmed, retire that conntrack and
    /// reschedule the SYN instead of dropping it.
    ConnReuseOldConntrack,
}

const fn int(knob: Knob, name: &'static str, c_name: &'static [u8], default: i32) -> Spec {
    Spec { knob, name, c_name, default, mode: 0o644, handler: Handler::DoIntVec }
}

const fn defense(knob: Knob, name: &'static str, c_name: &'static [u8]) -> Spec {
    Spec { knob, name, c_name, default: 0, mode: 0o644, handler: Handler::DefenseMode }
}

/// The table, in the order the entries appear in C IPVS's `vs_vars[]` (amemthresh,
/// am_droprate, drop_entry, drop_packet, conntrack, secure_tcp, …, expire_nodest_conn, …,
/// conn_reuse_mode), then ipvs-rs's own. Defaults as `ip_vs_control_net_init_sysctl()`
/// sets them (amemthresh 1024 pages, am_droprate 10).
pub const SPECS: [Spec; 9] = [
    int(Knob::AmemThresh, "amemthresh", b"amemthresh\0", 1024),
    int(Knob::AmDropRate, "am_droprate", b"am_droprate\0", 10),
    defense(Knob::DropEntry, "drop_entry", b"drop_entry\0"),
    defense(Knob::DropPacket, "drop_packet", b"drop_packet\0"),
    int(Knob::Conntrack, "conntrack", b"conntrack\0", 0),
    defense(Knob::SecureTcp, "secure_tcp", b"secure_tcp\0"),
    int(Knob::ExpireNodestConn, "expire_nodest_conn", b"expire_nodest_conn\0", 0),
    int(Knob::ConnReuseMode, "conn_reuse_mode", b"conn_reuse_mode\0", 1),
    int(Knob::ConnReuseOldConntrack, "conn_reuse_old_conntrack", b"conn_reuse_old_conntrack\0", 0),
];

impl Knob {
    /// The table entry of this knob.
    pub const fn spec(self) -> &'static Spec {
        match self {
            Knob::AmemThresh => &SPECS[0],
            Knob::AmDropRate => &SPECS[1],
            Knob::DropEntry => &SPECS[2],
            Knob::DropPacket => &SPECS[3],
            Knob::Conntrack => &SPECS[4],
            Knob::SecureTcp => &SPECS[5],
            Knob::ExpireNodestConn => &SPECS[6],
            Knob::ConnReuseMode => &SPECS[7],
            Knob::ConnReuseOldConntrack => &SPECS[8],
        }
    }
}

/// Values of the three knobs for one network namespace, as the data path reads them.
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            conn_reuse_mode: Knob::ConnReuseMode.spec().default,
            expire_nodest_conn: Knob::ExpireNodestConn.spec().default,
            conntrack: Knob::Conntrack.spec().default,
            conn_reuse_old_conntrack: Knob::ConnReuseOldConntrack.spec().default,
        }
    }
}

impl Settings {
    /// Port reuse reschedules at all: `ip_vs_in_hook()` tests `conn_reuse_mode` for non-zero,
    /// so a mode of 2 alone also reschedules TIME_WAIT/CLOSE entries.
    pub fn reuse_reschedules(&self) -> bool {
        self.conn_reuse_mode != 0
    }

    /// FIN_WAIT entries without output count as reusable too (`conn_reuse_mode & 2`,
    /// `is_new_conn_expected()`): the direct-routing case, where IPVS never sees replies.
    pub fn reuse_fin_wait_without_output(&self) -> bool {
        self.conn_reuse_mode & 2 != 0
    }

    /// Connections to a removed or weight-0 destination are expired (`expire_nodest_conn`).
    pub fn expire_nodest(&self) -> bool {
        self.expire_nodest_conn != 0
    }

    /// IPVS connections keep their conntrack entries (`conntrack`).
    pub fn uses_conntrack(&self) -> bool {
        self.conntrack != 0
    }
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
    Ok(Write::Stored { value, consumed: total.min(PAGE_SIZE - 1) - rest.len() })
}

/// `_parse_integer_fixup_radix()` + `_parse_integer()` with base 0 over a NUL-terminated
/// buffer; returns the value and the index just past the digits.
fn strtoul_lenient(s: &[u8; TMPBUFLEN], start: usize) -> Result<(u64, usize), ParseError> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = start;
    let base: u64 = if at(i) == b'0' {
        if at(i + 1).to_ascii_lowercase() == b'x' && at(i + 2).is_ascii_hexdigit() {
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
            _ if (b'a'..=b'f').contains(&c.to_ascii_lowercase()) => u64::from(c.to_ascii_lowercase() - b'a' + 10),
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
        assert_eq!((s.conn_reuse_mode, s.expire_nodest_conn, s.conntrack), (1, 0, 0));
        assert!(s.reuse_reschedules() && !s.reuse_fin_wait_without_output());
        assert!(!s.expire_nodest() && !s.uses_conntrack());
    }

    #[test]
    fn table_is_consistent() {
        for spec in &SPECS {
            assert_eq!(spec.knob.spec(), spec);
            assert_eq!(&spec.c_name[..spec.c_name.len() - 1], spec.name.as_bytes());
            assert_eq!(spec.c_name.last(), Some(&0));
            assert_eq!(spec.mode, 0o644);
        }
        let defense: std::vec::Vec<_> =
            SPECS.iter().filter(|s| s.handler == Handler::DefenseMode).map(|s| s.name).collect();
        assert_eq!(defense, ["drop_entry", "drop_packet", "secure_tcp"]);
        assert_eq!((Knob::AmemThresh.spec().default, Knob::AmDropRate.spec().default), (1024, 10));
    }

    #[test]
    fn reuse_mode_bits() {
        let s = Settings { conn_reuse_mode: 2, ..Settings::default() };
        assert!(s.reuse_reschedules() && s.reuse_fin_wait_without_output());
        let s = Settings { conn_reuse_mode: 0, ..Settings::default() };
        assert!(!s.reuse_reschedules() && !s.reuse_fin_wait_without_output());
        let s = Settings { conn_reuse_mode: 3, ..Settings::default() };
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
        for bad in ["abc", "1a", "2147483648", "-2147483649", "   ", "\n", "-", "+1", "0x", "99999999999999999999999", "1.5"] {
            assert!(parse_dointvec(bad.as_bytes()).is_err(), "{bad:?} must be rejected");
        }
        // "0x" alone is octal 0 followed by 'x': trailing garbage.
        assert_eq!(parse_dointvec(b"0x"), Err(ParseError::Invalid));
    }

    #[test]
    fn second_value_is_left_unconsumed() {
        assert_eq!(parse_dointvec(b"1 2"), Ok(Write::Stored { value: 1, consumed: 2 }));
        assert_eq!(parse_dointvec(b"7\n"), Ok(Write::Stored { value: 7, consumed: 2 }));
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
