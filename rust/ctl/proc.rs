// SPDX-License-Identifier: GPL-2.0
//! `/proc/net/ip_vs`, `/proc/net/ip_vs_stats`, `/proc/net/ip_vs_conn` of a namespace, in C's
//! format (`ipvs_core::procfs` renders; this file only gathers the state).

use super::NetState;
use crate::dp::conn::tab_size as conn_tab_size;
use crate::dp::conn::{self, Conn, Cursor};
use crate::glue::pernet::Net;
use crate::glue::proc::{seq_kind, ProcKind, SeqTable, SeqWriter};
use crate::glue::procnet::{single, ShowNet};
use crate::glue::rcu::RcuReadGuard;
use core::fmt::{self, Write};
use ipvs_core::procfs::{self, DestLine, ServiceLine};
use kernel::c_str;
use kernel::prelude::*;

/// The files, in creation order.
pub(crate) fn files() -> [(&'static CStr, ProcKind); 9] {
    [
        (c_str!("ip_vs"), single::<IpVsFile>()),
        (c_str!("ip_vs_stats"), single::<StatsFile>()),
        (c_str!("ip_vs_stats_percpu"), single::<StatsPercpuFile>()),
        (c_str!("ip_vs_conn"), seq_kind::<ConnFile<false>>()),
        (c_str!("ip_vs_conn_sync"), seq_kind::<ConnFile<true>>()),
        (c_str!("ip_vs_app"), single::<AppFile>()),
        // ipvs-rs only: what port reuse and removed destinations did.
        (c_str!("ip_vs_reuse"), single::<ReuseFile>()),
        // ipvs-rs only: why the data path dropped packets.
        (c_str!("ip_vs_drops"), single::<DropsFile>()),
        // ipvs-rs only: what the sync daemons sent, received and refused.
        (c_str!("ip_vs_sync"), single::<SyncFile>()),
    ]
}

/// `/proc/net/ip_vs`: the services and their destinations.
struct IpVsFile;
/// `/proc/net/ip_vs_stats`.
struct StatsFile;
/// `/proc/net/ip_vs_stats_percpu`.
struct StatsPercpuFile;
/// `/proc/net/ip_vs_app`: no application helpers, the header only.
struct AppFile;
/// `/proc/net/ip_vs_reuse`.
struct ReuseFile;
/// `/proc/net/ip_vs_drops`.
struct DropsFile;
/// `/proc/net/ip_vs_sync`.
struct SyncFile;

fn render_ip_vs(w: &mut impl Write, net: &Net) -> fmt::Result {
    procfs::write_info_header(w, conn_tab_size())?;
    let Some(ctl) = NetState::of(net) else {
        return Ok(());
    };
    let ctl = ctl.ctl();
    for svc in ctl.services.iter() {
        procfs::write_service(
            w,
            &ServiceLine {
                af: svc.key.af,
                protocol: svc.key.protocol,
                addr: &svc.key.addr,
                port: svc.key.port,
                fwmark: svc.key.fwmark,
                sched_name: svc.sched.as_ref().map_or(&b"none"[..], |n| n.as_bytes()),
                flags: svc.flags(),
                timeout_jiffies: svc.timeout_jiffies(),
                netmask: svc.netmask(),
            },
        )?;
        for d in svc.dests.iter() {
            procfs::write_dest(
                w,
                &DestLine {
                    af: d.af(),
                    addr: d.addr(),
                    port: d.port(),
                    conn_flags: d.conn_flags(),
                    weight: d.weight(),
                    activeconns: d
                        .shared
                        .activeconns
                        .load(core::sync::atomic::Ordering::Relaxed),
                    inactconns: d.shared.inactconns(),
                },
            )?;
        }
    }
    Ok(())
}

fn render_stats(w: &mut impl Write, net: &Net) -> fmt::Result {
    procfs::write_stats(w, &total_stats(net))
}

fn total_stats(net: &Net) -> ipvs_core::netlink::reply::Stats {
    NetState::of(net)
        .map(|ns| ns.dp.tot_stats.snapshot())
        .unwrap_or_default()
}

impl ShowNet for StatsPercpuFile {
    fn show(w: &mut SeqWriter, net: &Net) -> fmt::Result {
        let total = total_stats(net);
        let cpus = crate::glue::percpu::nr_cpu_ids();
        // ipvs_rs keeps one set of counters, not per-CPU ones: they are shown on CPU 0.
        procfs::write_stats_percpu(
            w,
            cpus,
            |cpu| if cpu == 0 { total } else { Default::default() },
            &total,
        )
    }
}

/// The namespace id entries are keyed with, for a reader of `net`'s files (0, matching no
/// entry, if ipvs_rs has no state there).
fn reader_net(net: &Net) -> usize {
    NetState::of(net).map_or(0, |ns| ns.dp.net_id())
}

/// `/proc/net/ip_vs_conn` (`SYNC = false`): one line per entry of the reader's namespace
/// (templates included), walked by position as `ip_vs_conn_seq_start()`/`_next()` do;
/// `/proc/net/ip_vs_conn_sync` (`SYNC = true`): the same entries with their origin.
struct ConnFile<const SYNC: bool>;

impl<const SYNC: bool> SeqTable for ConnFile<SYNC> {
    type Cursor = Cursor;
    type Item = Conn;
    const HEADER: &'static str = if SYNC {
        procfs::CONN_SYNC_HEADER
    } else {
        procfs::CONN_HEADER
    };

    fn seek<'g>(rcu: &'g mut RcuReadGuard, net: &Net, cur: &mut Cursor) -> Option<&'g Conn> {
        conn::seek(rcu, reader_net(net), cur)
    }

    fn seek_next<'g>(
        rcu: &'g mut RcuReadGuard,
        net: &Net,
        cur: &mut Cursor,
        c: &Conn,
    ) -> Option<&'g Conn> {
        conn::seek_next(rcu, reader_net(net), cur, c)
    }

    fn show(w: &mut SeqWriter, _net: &Net, c: &Conn) {
        let v = conn_view(c);
        let _ = if SYNC {
            procfs::write_conn_sync(w, &v)
        } else {
            procfs::write_conn(w, &v)
        };
    }
}

/// What `ip_vs_conn_seq_show()` prints of an entry.
fn conn_view(c: &Conn) -> procfs::ConnView<'static> {
    let af = crate::glue::skb::af_of(c.family) as u16;
    let daf = c
        .dest
        .as_deref()
        .map_or(af, |d| crate::glue::skb::af_of(d.family) as u16);
    let now = crate::glue::rcu::jiffies();
    procfs::ConnView {
        af,
        daf,
        protocol: u16::from(c.protocol),
        caddr: c.caddr,
        cport: c.cport,
        vaddr: c.vaddr,
        vport: c.vport(),
        daddr: c.daddr,
        dport: c.dport(),
        state: c.state.load(core::sync::atomic::Ordering::Relaxed) as u16,
        flags: conn::user_flags(c),
        expires_secs: procfs::expires_secs(
            c.expires().wrapping_sub(now) as i64,
            crate::glue::rcu::hz(),
        ),
        pe: None,
    }
}

impl ShowNet for AppFile {
    fn show(w: &mut SeqWriter, _net: &Net) -> fmt::Result {
        w.write_str(procfs::APP_HEADER)
    }
}

impl ShowNet for IpVsFile {
    fn show(w: &mut SeqWriter, net: &Net) -> fmt::Result {
        render_ip_vs(w, net)
    }
}

impl ShowNet for StatsFile {
    fn show(w: &mut SeqWriter, net: &Net) -> fmt::Result {
        render_stats(w, net)
    }
}

impl ShowNet for ReuseFile {
    fn show(w: &mut SeqWriter, net: &Net) -> fmt::Result {
        if let Some(ns) = NetState::of(net) {
            for (name, value) in ns.dp.reuse.lines() {
                writeln!(w, "{name} {value}")?;
            }
        }
        Ok(())
    }
}

impl ShowNet for DropsFile {
    fn show(w: &mut SeqWriter, net: &Net) -> fmt::Result {
        if let Some(ns) = NetState::of(net) {
            for (name, value) in ns.dp.drops.lines() {
                writeln!(w, "{name} {value}")?;
            }
        }
        Ok(())
    }
}

impl ShowNet for SyncFile {
    fn show(w: &mut SeqWriter, net: &Net) -> fmt::Result {
        if let Some(ns) = NetState::of(net) {
            for (name, value) in ns.dp.sync.counters.lines() {
                writeln!(w, "{name} {value}")?;
            }
        }
        Ok(())
    }
}
