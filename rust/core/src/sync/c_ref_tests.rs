//! Differential tests against C's `ip_vs_sync.c`.
//!
//! `testdata/c_sync.txt` was produced by `testdata/cref/driver.c`, which compiles functions
//! cut *unmodified* out of Linux 6.12's `ip_vs_sync.c` (the wire structs, the buffer
//! constructors, `ip_vs_sync_conn_needed()`, `ip_vs_sync_conn()`, `ip_vs_sync_conn_v0()`,
//! `ip_vs_process_message()` down to `ip_vs_proc_conn()`) in user space against a shim whose
//! sync queue and connection table the driver programs and observes. With a fixed seed it
//! writes:
//! * master groups: random connections (IPv4/IPv6, TCP/UDP/SCTP/AH, templates and control
//!   chains, sequence options, `ONE_PACKET`) and sysctls (`sync_version`, threshold, period,
//!   refresh period, retries, persist mode, `sync_maxlen`), a run of `ip_vs_sync_conn()`
//!   calls, every message C sent and every connection's `old_state` / `sync_endtime` /
//!   `in_pkts` afterwards. Replayed through [`master_step`], [`master_after_commit`],
//!   [`controller_pkts`] and [`MesgBuilder`], the messages must be byte-for-byte equal and
//!   the connections equal;
//! * backup datagrams: the master's messages and crafted version 1 messages with options,
//!   mutated (bit flips, truncation, counts, stray bytes, sizes, syncids), each with C's log
//!   lines and the connections `ip_vs_proc_conn()` created. Replayed through
//!   [`parse_message`], the accepted entries must be the ones C created, with the same
//!   fields, flags and timeout, and every drop must be at the same entry for the same
//!   reason (C's log line; `ip_vs_proc_sync_conn()`'s return value);
//! * backup datagrams against an existing connection (same or another destination, with or
//!   without a destination, active or not): what [`backup_decision`] says must be what C
//!   did (expire, ignore, update the flags and `activeconns`, bind).
//!
//! Not covered by C here: persistence-engine data on the master (ipvs-rs has none), a kernel
//! without IPv6 (the shim has `CONFIG_IP_VS_IPV6`), and the `cmpxchg()` race that `force`
//! covers (the driver is single-threaded).
//!
//! Regenerate (any C compiler, awk, the kernel *source* tree in `KSRC`):
//!
//! ```text
//! KSRC=/path/to/linux-6.12 src/sync/testdata/cref/build.sh /tmp/ipvs-sync-cref
//! /tmp/ipvs-sync-cref/driver > src/sync/testdata/c_sync.txt
//! ```

use super::decode::{parse_message, DecodedConn, DropReason, MesgError, RecvConfig};
use super::encode::{MesgBuilder, PushError};
use super::policy::{
    apply_common, backup_decision, controller_pkts, master_after_commit, master_step, ActiveChange,
    AfterCommit, BackupDecision, ControllerPkts, Existing, MasterConn, MasterSettings, MasterStep,
};
use super::{ConnEntry, Protocols, SeqOptions, Version};
use crate::netlink::ipvs::conn_flags as cf;
use crate::proto::sctp::SctpState;
use crate::proto::tcp::TcpState;
use crate::proto::udp::UdpState;
use crate::proto::TimeoutTables;
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

const FIXTURE: &str = include_str!("testdata/c_sync.txt");
const HZ: u64 = 250;
/// The backup's `sync_threshold` in the driver.
const BACKUP_THRESHOLD: i32 = 3;

fn num<T: core::str::FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

fn hex32(s: &str) -> u32 {
    u32::from_str_radix(s, 16).unwrap_or_else(|_| panic!("not hex: {s}"))
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn tohex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".to_string();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn addr(s: &str) -> [u8; 16] {
    let mut a = [0u8; 16];
    let b = unhex(s);
    a[..b.len()].copy_from_slice(&b);
    a
}

/// The backup's timeout tables in the driver: TCP (100 + s) s, UDP 300 s, SCTP (200 + s) s.
fn tables() -> TimeoutTables {
    let mut t = TimeoutTables::DEFAULT;
    for s in TcpState::ALL {
        t.tcp.set(s, 100 + s.as_c());
    }
    t.udp.set(UdpState::Normal, 300);
    for s in SctpState::ALL {
        t.sctp.set(s, 200 + s.as_c());
    }
    t
}

#[derive(Debug, Clone)]
struct SimConn {
    control: Option<usize>,
    e: ConnEntry,
    old_state: u16,
    timeout: u64,
    sync_endtime: u64,
    in_pkts: i32,
}

fn parse_conn(f: &[&str]) -> SimConn {
    let ctl: i64 = num(f[2]);
    let timeout: u64 = num(f[8]);
    let seq: Vec<u32> = f[18..24].iter().map(|w| hex32(w)).collect();
    let mut w = [0u32; 6];
    w.copy_from_slice(&seq);
    SimConn {
        control: usize::try_from(ctl).ok(),
        e: ConnEntry {
            v6: f[3] == "6",
            protocol: num(f[4]),
            flags: hex32(f[5]),
            state: num(f[6]),
            cport: num(f[11]),
            vport: num(f[12]),
            dport: num(f[13]),
            fwmark: num(f[14]),
            // htonl(cp->timeout / HZ)
            timeout_secs: (timeout / HZ) as u32,
            caddr: addr(f[15]),
            vaddr: addr(f[16]),
            daddr: addr(f[17]),
            seq: SeqOptions::from_words(w),
        },
        old_state: num(f[7]),
        timeout,
        sync_endtime: num(f[9]),
        in_pkts: num(f[10]),
    }
}

/// The master's messages: entries of the message being filled, and the ones sent.
struct Master {
    version: Version,
    syncid: u8,
    max_len: u16,
    pending: Vec<ConnEntry>,
    sent: Vec<Vec<u8>>,
}

impl Master {
    fn build(&self, entries: &[ConnEntry]) -> Result<Vec<u8>, PushError> {
        let mut buf = vec![0u8; 70000];
        let mut b = MesgBuilder::new(&mut buf, self.version, self.syncid, self.max_len).unwrap();
        for e in entries {
            b.push(e)?;
        }
        Ok(b.finish().to_vec())
    }

    fn push(&mut self, e: ConnEntry) {
        let mut with = self.pending.clone();
        with.push(e);
        match self.build(&with) {
            Ok(_) => self.pending = with,
            Err(PushError::Full) => {
                let m = self.build(&self.pending).unwrap();
                self.sent.push(m);
                self.pending = vec![e];
                self.build(&self.pending).unwrap();
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let m = self.build(&self.pending).unwrap();
            self.sent.push(m);
            self.pending.clear();
        }
    }
}

/// `ip_vs_sync_conn(ipvs, conns[id], pkts)` with the core's decisions.
fn sync_conn(
    conns: &mut [SimConn],
    id: usize,
    mut pkts: i32,
    s: &MasterSettings,
    now: u64,
    m: &mut Master,
) {
    let mut cur = id;
    let mut controller = false;
    loop {
        // in_persistence(): a template up the control chain.
        let mut in_persistence = false;
        let mut up = conns[cur].control;
        while let Some(c) = up {
            in_persistence |= conns[c].e.flags & cf::TEMPLATE != 0;
            up = conns[c].control;
        }
        let c = &mut conns[cur];
        let view = MasterConn {
            v6: c.e.v6,
            protocol: c.e.protocol,
            flags: c.e.flags,
            state: c.e.state,
            old_state: c.old_state,
            timeout: c.timeout,
            sync_endtime: c.sync_endtime,
            in_persistence,
            pe_data_invalid: false,
        };
        match master_step(&view, pkts, s, now, controller) {
            MasterStep::Stop => return,
            MasterStep::Controller => {}
            MasterStep::Commit(k) => {
                c.old_state = k.old_state;
                let ok = c.sync_endtime == k.endtime_expected;
                if ok {
                    c.sync_endtime = k.endtime_new;
                }
                match master_after_commit(s.version, k.needed(ok), false) {
                    AfterCommit::Stop => return,
                    AfterCommit::Controller => {}
                    AfterCommit::Send => m.push(c.e),
                }
            }
        }
        let Some(next) = conns[cur].control else {
            return;
        };
        cur = next;
        pkts = match controller_pkts(conns[cur].e.flags, s) {
            ControllerPkts::IncInPkts => {
                conns[cur].in_pkts = conns[cur].in_pkts.wrapping_add(1);
                conns[cur].in_pkts
            }
            ControllerPkts::Threshold(t) => t,
        };
        controller = true;
    }
}

/// A line C printed, and how to match it.
#[derive(Debug)]
enum Want {
    Exact(String),
    OneOf(Vec<String>),
    /// One optional helper line starting with one of these.
    Optional(Vec<String>),
}

fn prefixes(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The lines C logs for a dropped entry.
fn drop_lines(r: DropReason, v1: bool) -> Vec<Want> {
    use DropReason as D;
    let p = if v1 { "L BACKUP, " } else { "L BACKUP v0, " };
    let one = |s: &str| Want::OneOf(vec![format!("{p}{s}")]);
    let detail = match r {
        D::V0Truncated => return vec![Want::Exact("L BACKUP v0, bogus conn".into())],
        D::V0OptionsTruncated => {
            return vec![Want::Exact(
                "L BACKUP v0, Dropping buffer bogus conn options".into(),
            )]
        }
        D::TooSmall => return vec![Want::Exact("L BACKUP, Dropping buffer, too small".into())],
        D::EntryOverrun => {
            return vec![Want::Exact(
                "L BACKUP, Dropping buffer, msg > buffer".into(),
            )]
        }
        D::UnknownVersion(v) => {
            return vec![Want::Exact(format!(
                "L BACKUP, Dropping buffer, Unknown version {v}"
            ))]
        }
        D::InvalidFlags => one("Invalid flags 0x"),
        D::UnsupportedProtocol => one("Unsupported protocol "),
        D::InvalidState => Want::OneOf(
            ["TCP", "UDP", "SCTP", "AH", "ESP"]
                .iter()
                .map(|n| format!("{p}Invalid {n} state "))
                .collect(),
        ),
        D::InvalidTemplateState => one("Invalid tpl state "),
        D::UnknownMandatoryOption(t) => {
            Want::Exact(format!("L BACKUP, Unknown mandatory param {t} found"))
        }
        D::PeParams => Want::Exact("L BACKUP, Invalid PE parameters".into()),
        D::PeNotFound => one("no "),
        D::Ipv6Unsupported => panic!("the driver's C has IPv6"),
        D::SeqOption => Want::Optional(prefixes(&[
            "L BACKUP, bogus conn options length",
            "L BACKUP, conn options found twice",
        ])),
        D::PeData => Want::Optional(prefixes(&["L BACKUP, Par.data found twice 0x2"])),
        D::PeName => Want::Optional(prefixes(&[
            "L BACKUP, bogus par.data len > 16",
            "L BACKUP, Par.data found twice 0x4",
        ])),
        D::BadType | D::EntryTooShort | D::OptionHeader | D::OptionLength => {
            Want::Optional(Vec::new())
        }
    };
    if !v1 {
        return vec![detail];
    }
    let retc = r.c_retc().unwrap();
    let last = if retc < 0 {
        format!("L BACKUP, Dropping buffer, Err: {retc} in decoding")
    } else {
        format!("L BACKUP, Single msg dropped err:{retc}")
    };
    vec![detail, Want::Exact(last)]
}

fn addr_hex(v6: bool, a: &[u8; 16]) -> String {
    tohex(if v6 { &a[..] } else { &a[..4] })
}

fn p_line(flags: u32, c: &DecodedConn<'_>, seq_before: SeqOptions, delta: i32) -> String {
    let t = tables();
    let common = apply_common(c, BACKUP_THRESHOLD, &t);
    let seq = common.seq.unwrap_or(seq_before);
    let w: Vec<String> = seq.words().iter().map(|w| format!("{w:x}")).collect();
    format!(
        "P {:x} {} {} {} {} {} {}",
        flags,
        common.state,
        common.state,
        common.in_pkts,
        u64::from(common.timeout_secs) * HZ,
        w.join(" "),
        delta
    )
}

/// The lines C prints for an accepted entry.
fn conn_lines(c: &DecodedConn<'_>, existing: Option<&Existing>) -> Vec<Want> {
    let mut out = Vec::new();
    match backup_decision(c, existing) {
        BackupDecision::Ignore => out.push(Want::Exact("G".into())),
        BackupDecision::Create {
            expire_existing,
            flags,
        } => {
            if expire_existing {
                out.push(Want::Exact("X".into()));
                out.push(Want::Exact("G".into()));
            }
            let pe = match c.pe {
                Some(pe) => {
                    let name = pe.name.split(|&b| b == 0).next().unwrap();
                    format!("{} {}", tohex(pe.data), std::str::from_utf8(name).unwrap())
                }
                None => "- -".into(),
            };
            out.push(Want::Exact(format!(
                "N {} {} {:x} {} {} {} {} {} {} {} {}",
                if c.v6 { 6 } else { 4 },
                c.protocol,
                flags,
                c.cport,
                c.vport,
                c.dport,
                c.fwmark,
                addr_hex(c.v6, &c.caddr),
                addr_hex(c.v6, &c.vaddr),
                addr_hex(c.v6, &c.daddr),
                pe
            )));
            out.push(Want::Exact(p_line(flags, c, SeqOptions::default(), 0)));
        }
        BackupDecision::Update {
            flags,
            active,
            bind_dest,
        } => {
            if bind_dest {
                out.push(Want::Exact("T".into()));
            }
            let delta = match active {
                ActiveChange::None => 0,
                ActiveChange::Inc => 1,
                ActiveChange::Dec => -1,
            };
            out.push(Want::Exact(p_line(flags, c, SeqOptions::default(), delta)));
        }
    }
    out
}

/// What the core says C prints for `datagram`.
fn expected(datagram: &[u8], syncid: i32, existing: Option<&Existing>) -> Vec<Want> {
    let cfg = RecvConfig {
        syncid,
        ipv6: true,
        protocols: Protocols { ah_esp: true },
        pe_names: &[b"sip"],
    };
    let it = match parse_message(datagram, &cfg) {
        Ok(it) => it,
        Err(MesgError::TooShort) => {
            return vec![Want::Exact("L BACKUP, message header too short".into())]
        }
        Err(MesgError::SizeMismatch) => {
            return vec![Want::Exact("L BACKUP, bogus message size".into())]
        }
        Err(MesgError::SyncIdMismatch) => {
            return vec![Want::Exact(format!(
                "L BACKUP, Ignoring syncid = {}",
                datagram[1]
            ))]
        }
    };
    let v1 = it.is_v1();
    let mut out = Vec::new();
    for r in it {
        match r {
            Ok(c) => out.extend(conn_lines(&c, existing)),
            Err(reason) => out.extend(drop_lines(reason, v1)),
        }
    }
    out
}

fn check(want: &[Want], got: &[&str], ctx: &str) {
    let mut g = got.iter().peekable();
    for w in want {
        match w {
            Want::Exact(s) => {
                let line = g.next().unwrap_or_else(|| panic!("missing {s:?}: {ctx}"));
                assert_eq!(*line, s, "{ctx}");
            }
            Want::OneOf(ps) => {
                let line = g.next().unwrap_or_else(|| panic!("missing {ps:?}: {ctx}"));
                assert!(
                    ps.iter().any(|p| line.starts_with(p.as_str())),
                    "{line:?} is none of {ps:?}: {ctx}"
                );
            }
            Want::Optional(ps) => {
                if let Some(line) = g.peek() {
                    if line.starts_with("L BACKUP, bogus c")
                        || line.starts_with("L BACKUP, conn options")
                        || line.starts_with("L BACKUP, Par.data")
                        || line.starts_with("L BACKUP, bogus par")
                    {
                        assert!(
                            ps.iter().any(|p| line.starts_with(p.as_str())),
                            "{line:?} is none of {ps:?}: {ctx}"
                        );
                        g.next();
                    }
                }
            }
        }
    }
    let rest: Vec<_> = g.collect();
    assert!(rest.is_empty(), "C printed more: {rest:?}: {ctx}");
}

#[test]
fn c_reference() {
    let mut lines = FIXTURE.lines().enumerate().peekable();
    let (mut groups, mut msgs, mut syncs, mut rx, mut bk, mut accepted) = (0, 0, 0, 0, 0, 0);
    while let Some((lineno, line)) = lines.next() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ctx = format!("c_sync.txt line {}", lineno + 1);
        match f.first().copied() {
            None | Some("#") => {}
            Some("M") => {
                groups += 1;
                let s = MasterSettings {
                    version: Version::from_sysctl(num(f[1])),
                    sync_threshold: num(f[2]),
                    sync_period: num(f[3]),
                    sync_refresh_period: num(f[4]),
                    sync_retries: num(f[5]),
                    sync_persist_mode: num(f[6]),
                    hz: HZ as u32,
                };
                let mut m = Master {
                    version: s.version,
                    // sb->mesg->syncid = ipvs->mcfg.syncid: truncated to the byte.
                    syncid: num::<i32>(f[7]) as u8,
                    max_len: num(f[8]),
                    pending: Vec::new(),
                    sent: Vec::new(),
                };
                let mut conns = Vec::new();
                let mut c_msgs = Vec::new();
                for (_, line) in lines.by_ref() {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    match f[0] {
                        "C" => {
                            assert_eq!(num::<usize>(f[1]), conns.len(), "{ctx}");
                            conns.push(parse_conn(&f));
                        }
                        "S" => {
                            syncs += 1;
                            sync_conn(&mut conns, num(f[1]), num(f[2]), &s, num(f[3]), &mut m);
                        }
                        "Q" => c_msgs.push(unhex(f[1])),
                        "A" => {
                            let c = &conns[num::<usize>(f[1])];
                            let got = (c.old_state, c.sync_endtime, c.in_pkts);
                            let want = (num(f[2]), num(f[3]), num(f[4]));
                            assert_eq!(got, want, "{ctx}: conn {}", f[1]);
                        }
                        "E" => break,
                        other => panic!("{ctx}: unexpected {other}"),
                    }
                }
                m.flush();
                msgs += c_msgs.len();
                assert_eq!(m.sent.len(), c_msgs.len(), "{ctx}");
                for (i, (a, b)) in m.sent.iter().zip(&c_msgs).enumerate() {
                    assert_eq!(tohex(a), tohex(b), "{ctx}: message {i}");
                }
            }
            Some(tag @ ("R" | "B")) => {
                let (syncid, existing, datagram) = if tag == "R" {
                    rx += 1;
                    (
                        num::<i32>(f[1]),
                        None,
                        unhex(f.get(2).copied().unwrap_or("-")),
                    )
                } else {
                    bk += 1;
                    let e = Existing {
                        flags: hex32(f[1]),
                        dport: num(f[2]),
                        daddr: addr(f[3]),
                        daf_v6: false,
                        has_dest: f[4] == "1",
                    };
                    (0, Some(e), unhex(f[5]))
                };
                let mut got = Vec::new();
                for (_, line) in lines.by_ref() {
                    if line == "E" {
                        break;
                    }
                    got.push(line);
                }
                accepted += got.iter().filter(|l| l.starts_with('N')).count();
                let want = expected(&datagram, syncid, existing.as_ref());
                check(&want, &got, &format!("{ctx}: {line}"));
            }
            Some(other) => panic!("{ctx}: unexpected {other}"),
        }
    }
    std::println!(
        "{groups} master groups, {syncs} syncs, {msgs} messages; {rx} datagrams, {bk} against a connection, {accepted} conns created"
    );
    assert!(groups >= 50 && msgs >= 250 && rx >= 1800 && bk >= 600 && accepted >= 1500);
}
