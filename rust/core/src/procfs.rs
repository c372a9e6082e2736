//! The text of `/proc/net/ip_vs`, `/proc/net/ip_vs_stats` and `/proc/net/ip_vs_conn`.
//!
//! C: `ip_vs_info_seq_show()`, `ip_vs_stats_show()` (`ip_vs_ctl.c`), `ip_vs_conn_seq_show()`
//! (`ip_vs_conn.c`), `ip_vs_proto_name()` (`ip_vs_core.c`). Tools parse these files, so the
//! format is reproduced to the byte: column widths, upper-case hex, the kernel's `%pI6`
//! (eight 4-digit groups, never compressed), and the service flags C shows.

use crate::netlink::ipvs::{conn_flags, svc_flags, AF_INET6};
use crate::netlink::reply::Stats;
use core::fmt::{self, Write};

/// `IP_VS_VERSION_CODE` as `NVERSION()` prints it.
const VERSION: &str = "1.2.1";

/// Header of `/proc/net/ip_vs_conn` (all there is until the data path creates connections).
pub const CONN_HEADER: &str =
    "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";

/// Header of `/proc/net/ip_vs_conn_sync`.
pub const CONN_SYNC_HEADER: &str =
    "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\n";

/// Header of `/proc/net/ip_vs_app` (application helpers such as FTP; ipvs_rs has none).
pub const APP_HEADER: &str = "prot port    usecnt name\n";

/// `ip_vs_proto_name()`.
pub struct ProtoName(pub u16);

impl fmt::Display for ProtoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("IP"),
            17 => f.write_str("UDP"),
            6 => f.write_str("TCP"),
            132 => f.write_str("SCTP"),
            1 => f.write_str("ICMP"),
            58 => f.write_str("ICMPv6"),
            p => write!(f, "IP_{p}"),
        }
    }
}

/// `%pI6`: `2001:0db8:0000:0000:0000:0000:0000:0001`.
pub struct Ipv6Full<'a>(pub &'a [u8; 16]);

impl fmt::Display for Ipv6Full<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks_exact(2).enumerate() {
            if i != 0 {
                f.write_char(':')?;
            }
            write!(f, "{:02x}{:02x}", pair[0], pair[1])?;
        }
        Ok(())
    }
}

/// `ip_vs_fwd_name()`.
pub fn fwd_name(flags: u32) -> &'static str {
    match flags & conn_flags::FWD_MASK {
        conn_flags::LOCALNODE => "Local",
        conn_flags::TUNNEL => "Tunnel",
        conn_flags::DROUTE => "Route",
        _ => "Masq",
    }
}

fn ipv4_hex(addr: &[u8; 16]) -> u32 {
    u32::from_be_bytes([addr[0], addr[1], addr[2], addr[3]])
}

/// The three header lines of `/proc/net/ip_vs`.
pub fn write_info_header(w: &mut impl Write, conn_tab_size: u32) -> fmt::Result {
    write!(w, "IP Virtual Server version {VERSION} (size={conn_tab_size})\n")?;
    w.write_str("Prot LocalAddress:Port Scheduler Flags\n")?;
    w.write_str("  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n")
}

/// What a service line shows.
pub struct ServiceLine<'a> {
    /// Address family.
    pub af: u16,
    /// Protocol number.
    pub protocol: u16,
    /// Address, raw.
    pub addr: &'a [u8; 16],
    /// Port, host order.
    pub port: u16,
    /// Firewall mark (non-zero: an FWM line).
    pub fwmark: u32,
    /// Scheduler name, `"none"` when unbound.
    pub sched_name: &'a [u8],
    /// `svc->flags`.
    pub flags: u32,
    /// `svc->timeout`, in jiffies as C prints it.
    pub timeout_jiffies: u32,
    /// `svc->netmask`, raw.
    pub netmask: [u8; 4],
}

/// One service line (`ip_vs_info_seq_show()`).
pub fn write_service(w: &mut impl Write, s: &ServiceLine<'_>) -> fmt::Result {
    let sched = core::str::from_utf8(s.sched_name).unwrap_or("?");
    let ops = if s.flags & svc_flags::ONEPACKET != 0 { "ops " } else { "" };
    if s.fwmark != 0 {
        write!(w, "FWM  {:08X} {} {}", s.fwmark, sched, ops)?;
    } else if s.af == AF_INET6 {
        write!(w, "{}  [{}]:{:04X} {} ", ProtoName(s.protocol), Ipv6Full(s.addr), s.port, sched)?;
    } else {
        write!(w, "{}  {:08X}:{:04X} {} {} ", ProtoName(s.protocol), ipv4_hex(s.addr), s.port, sched, ops)?;
    }
    if s.flags & svc_flags::PERSISTENT != 0 {
        write!(w, "persistent {} {:08X}\n", s.timeout_jiffies as i32, u32::from_be_bytes(s.netmask))
    } else {
        w.write_char('\n')
    }
}

/// What a destination line shows.
pub struct DestLine<'a> {
    /// Address family of the destination.
    pub af: u16,
    /// Address, raw.
    pub addr: &'a [u8; 16],
    /// Port, host order.
    pub port: u16,
    /// `dest->conn_flags`.
    pub conn_flags: u32,
    /// Weight.
    pub weight: i32,
    /// Active connections.
    pub activeconns: i32,
    /// Inactive connections.
    pub inactconns: i32,
}

/// One destination line.
pub fn write_dest(w: &mut impl Write, d: &DestLine<'_>) -> fmt::Result {
    let fwd = fwd_name(d.conn_flags);
    if d.af == AF_INET6 {
        write!(w, "  -> [{}]:{:04X}      ", Ipv6Full(d.addr), d.port)?;
    } else {
        write!(w, "  -> {:08X}:{:04X}      ", ipv4_hex(d.addr), d.port)?;
    }
    write!(w, "{:<7} {:<6} {:<10} {:<10}\n", fwd, d.weight, d.activeconns, d.inactconns)
}

/// `/proc/net/ip_vs_stats` (`ip_vs_stats_show()`).
pub fn write_stats(w: &mut impl Write, s: &Stats) -> fmt::Result {
    w.write_str("   Total Incoming Outgoing         Incoming         Outgoing\n")?;
    w.write_str("   Conns  Packets  Packets            Bytes            Bytes\n")?;
    write!(w, "{:8X} {:8X} {:8X} {:16X} {:16X}\n\n", s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes)?;
    w.write_str(" Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n")?;
    write!(w, "{:8X} {:8X} {:8X} {:16X} {:16X}\n", s.cps, s.inpps, s.outpps, s.inbps, s.outbps)
}

/// `/proc/net/ip_vs_stats_percpu` (`ip_vs_stats_percpu_show()`): one row per possible CPU
/// with that CPU's counters (`per_cpu(cpu)`), then the totals and rates.
pub fn write_stats_percpu(w: &mut impl Write, cpus: u32, per_cpu: impl Fn(u32) -> Stats, total: &Stats) -> fmt::Result {
    w.write_str("       Total Incoming Outgoing         Incoming         Outgoing\n")?;
    w.write_str("CPU    Conns  Packets  Packets            Bytes            Bytes\n")?;
    for cpu in 0..cpus {
        let s = per_cpu(cpu);
        write!(w, "{:3X} {:8X} {:8X} {:8X} {:16X} {:16X}\n", cpu, s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes)?;
    }
    let t = total;
    write!(w, "  ~ {:8X} {:8X} {:8X} {:16X} {:16X}\n\n", t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes)?;
    w.write_str("     Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n")?;
    write!(w, "    {:8X} {:8X} {:8X} {:16X} {:16X}\n", t.cps, t.inpps, t.outpps, t.inbps, t.outbps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0u8; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    #[test]
    fn header_is_c_s() {
        let mut s = String::new();
        write_info_header(&mut s, 4096).unwrap();
        assert_eq!(
            s,
            "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
        );
    }

    #[test]
    fn ipv4_service_and_dest_lines() {
        let addr = v4([10, 0, 0, 1]);
        let mut s = String::new();
        let line = ServiceLine {
            af: 2,
            protocol: 6,
            addr: &addr,
            port: 80,
            fwmark: 0,
            sched_name: b"rr",
            flags: svc_flags::HASHED,
            timeout_jiffies: 0,
            netmask: [255; 4],
        };
        write_service(&mut s, &line).unwrap();
        assert_eq!(s, "TCP  0A000001:0050 rr  \n");
        let daddr = v4([10, 0, 1, 2]);
        let mut d = String::new();
        write_dest(&mut d, &DestLine { af: 2, addr: &daddr, port: 8080, conn_flags: 0, weight: 3, activeconns: 0, inactconns: 0 }).unwrap();
        assert_eq!(d, "  -> 0A000102:1F90      Masq    3      0          0         \n");
    }

    #[test]
    fn persistent_fwmark_and_ipv6() {
        let zero = [0u8; 16];
        let mut s = String::new();
        let line = ServiceLine {
            af: 2,
            protocol: 6,
            addr: &zero,
            port: 0,
            fwmark: 7,
            sched_name: b"mh",
            flags: svc_flags::PERSISTENT | svc_flags::ONEPACKET,
            timeout_jiffies: 300 * 250,
            netmask: [255, 255, 255, 0],
        };
        write_service(&mut s, &line).unwrap();
        assert_eq!(s, "FWM  00000007 mh ops persistent 75000 FFFFFF00\n");
        let mut a6 = [0u8; 16];
        a6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a6[15] = 1;
        let mut s = String::new();
        let line = ServiceLine { af: AF_INET6, protocol: 17, addr: &a6, port: 53, fwmark: 0, sched_name: b"wlc", flags: 0, timeout_jiffies: 0, netmask: [0, 0, 0, 128] };
        write_service(&mut s, &line).unwrap();
        assert_eq!(s, "UDP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0035 wlc \n");
    }

    #[test]
    fn stats_layout() {
        let mut s = String::new();
        write_stats(&mut s, &Stats { conns: 0x1f, inbytes: 0xabc, ..Stats::default() }).unwrap();
        assert_eq!(
            s,
            "   Total Incoming Outgoing         Incoming         Outgoing\n   Conns  Packets  Packets            Bytes            Bytes\n      1F        0        0              ABC                0\n\n Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n       0        0        0                0                0\n"
        );
    }

    #[test]
    fn proto_names() {
        let mut s = String::new();
        write!(s, "{} {} {} {}", ProtoName(6), ProtoName(17), ProtoName(132), ProtoName(99)).unwrap();
        assert_eq!(s, "TCP UDP SCTP IP_99");
    }
}
