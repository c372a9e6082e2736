// SPDX-License-Identifier: GPL-2.0
//! `/proc/net/ip_vs`, `/proc/net/ip_vs_stats`, `/proc/net/ip_vs_conn` of a namespace, in C's
//! format (`ipvs_core::procfs` renders; this file only gathers the state).

use crate::dp::conn::tab_size as conn_tab_size;
use super::NetState;
use crate::glue::bindings;
use crate::glue::pernet::Net;
use crate::dp::conn::{self, Conn, Cursor};
use crate::glue::rcu::RcuReadGuard;
use crate::glue::proc::{seq_kind, ProcFiles, ProcKind, SeqTable, SeqWriter};
use core::fmt::{self, Write};
use ipvs_core::procfs::{self, DestLine, ServiceLine};
use kernel::c_str;
use kernel::prelude::*;

/// The files, in creation order.
pub(crate) fn files() -> [(&'static CStr, ProcKind); 8] {
    use ProcKind::Single;
    [
        (c_str!("ip_vs"), Single(show_ip_vs)),
        (c_str!("ip_vs_stats"), Single(show_stats)),
        (c_str!("ip_vs_stats_percpu"), Single(show_stats_percpu)),
        (c_str!("ip_vs_conn"), seq_kind::<ConnFile>()),
        (c_str!("ip_vs_conn_sync"), seq_kind::<ConnSyncFile>()),
        (c_str!("ip_vs_app"), Single(show_app)),
        // ipvs-rs only: what port reuse and removed destinations did.
        (c_str!("ip_vs_reuse"), Single(show_reuse)),
        // ipvs-rs only: why the data path dropped packets.
        (c_str!("ip_vs_drops"), Single(show_drops)),
    ]
}

/// Create them in `net`.
///
/// # Safety
///
/// `net` outlives the returned value.
pub(crate) unsafe fn create(net: &Net) -> Result<ProcFiles<8>> {
    // SAFETY: forwarded from the caller.
    unsafe { ProcFiles::create(net, files()) }
}

fn render_ip_vs(w: &mut impl Write, net: &Net) -> fmt::Result {
    procfs::write_info_header(w, conn_tab_size())?;
    let Some(ctl) = NetState::of(net) else { return Ok(()) };
    let Ok(ctl) = ctl.ctl() else { return Ok(()) };
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
                    af: d.af,
                    addr: &d.addr,
                    port: d.port,
                    conn_flags: d.conn_flags,
                    weight: d.weight,
                    activeconns: d.shared.activeconns.load(core::sync::atomic::Ordering::Relaxed),
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
    NetState::of(net).map(|ns| ns.dp.tot_stats.snapshot()).unwrap_or_default()
}

unsafe extern "C" fn show_stats_percpu(seq: *mut bindings::seq_file, _v: *mut core::ffi::c_void) -> kernel::ffi::c_int {
    // SAFETY: called by seq_file as the show callback of a single-net file.
    let (mut w, net) = unsafe { SeqWriter::new(seq) };
    let total = total_stats(net);
    // SAFETY: reads a kernel variable fixed at boot.
    let cpus = unsafe { bindings::ipvs_rs_nr_cpu_ids() };
    // ipvs_rs keeps one set of counters, not per-CPU ones: they are shown on CPU 0.
    let _ = procfs::write_stats_percpu(&mut w, cpus, |cpu| if cpu == 0 { total } else { Default::default() }, &total);
    0
}

/// The namespace id entries are keyed with, for a reader of `net`'s files (0, matching no
/// entry, if ipvs_rs has no state there).
fn reader_net(net: &Net) -> usize {
    NetState::of(net).map_or(0, |ns| ns.dp.net_id())
}

/// `/proc/net/ip_vs_conn`: one line per entry of the reader's namespace (templates
/// included), walked by position as `ip_vs_conn_seq_start()`/`_next()` do.
struct ConnFile;
/// `/proc/net/ip_vs_conn_sync`: the same entries with their origin.
struct ConnSyncFile;

impl SeqTable for ConnFile {
    type Cursor = Cursor;
    type Item = Conn;
    const HEADER: &'static str = procfs::CONN_HEADER;

    fn seek<'g>(rcu: &'g mut RcuReadGuard, net: &Net, cur: &mut Cursor) -> Option<&'g Conn> {
        conn::seek(rcu, reader_net(net), cur)
    }

    fn seek_next<'g>(rcu: &'g mut RcuReadGuard, net: &Net, cur: &mut Cursor, c: &Conn) -> Option<&'g Conn> {
        conn::seek_next(rcu, reader_net(net), cur, c)
    }

    fn show(w: &mut SeqWriter, _net: &Net, c: &Conn) {
        let _ = procfs::write_conn(w, &conn_view(c));
    }
}

impl SeqTable for ConnSyncFile {
    type Cursor = Cursor;
    type Item = Conn;
    const HEADER: &'static str = procfs::CONN_SYNC_HEADER;

    fn seek<'g>(rcu: &'g mut RcuReadGuard, net: &Net, cur: &mut Cursor) -> Option<&'g Conn> {
        conn::seek(rcu, reader_net(net), cur)
    }

    fn seek_next<'g>(rcu: &'g mut RcuReadGuard, net: &Net, cur: &mut Cursor, c: &Conn) -> Option<&'g Conn> {
        conn::seek_next(rcu, reader_net(net), cur, c)
    }

    fn show(w: &mut SeqWriter, _net: &Net, c: &Conn) {
        let _ = procfs::write_conn_sync(w, &conn_view(c));
    }
}

/// What `ip_vs_conn_seq_show()` prints of an entry.
fn conn_view(c: &Conn) -> procfs::ConnView<'static> {
    let af = crate::glue::skb::af_of(c.family) as u16;
    let daf = c.dest.as_deref().map_or(af, |d| crate::glue::skb::af_of(d.family) as u16);
    let now = crate::glue::rcu::jiffies();
    procfs::ConnView {
        af,
        daf,
        protocol: u16::from(c.protocol),
        caddr: c.caddr,
        cport: c.cport,
        vaddr: c.vaddr,
        vport: c.vport,
        daddr: c.daddr,
        dport: c.dport,
        state: c.state.load(core::sync::atomic::Ordering::Relaxed) as u16,
        flags: conn::user_flags(c),
        expires_secs: procfs::expires_secs(c.expires().wrapping_sub(now) as i64, crate::glue::rcu::hz()),
        pe: None,
    }
}

unsafe extern "C" fn show_app(seq: *mut bindings::seq_file, _v: *mut core::ffi::c_void) -> kernel::ffi::c_int {
    // SAFETY: called by seq_file as the show callback of a single-net file.
    let (mut w, _net) = unsafe { SeqWriter::new(seq) };
    let _ = w.write_str(procfs::APP_HEADER);
    0
}

unsafe extern "C" fn show_ip_vs(seq: *mut bindings::seq_file, _v: *mut core::ffi::c_void) -> kernel::ffi::c_int {
    // SAFETY: called by seq_file as the show callback of a single-net file.
    let (mut w, net) = unsafe { SeqWriter::new(seq) };
    let _ = render_ip_vs(&mut w, net);
    0
}

unsafe extern "C" fn show_stats(seq: *mut bindings::seq_file, _v: *mut core::ffi::c_void) -> kernel::ffi::c_int {
    // SAFETY: called by seq_file as the show callback of a single-net file.
    let (mut w, net) = unsafe { SeqWriter::new(seq) };
    let _ = render_stats(&mut w, net);
    0
}

unsafe extern "C" fn show_reuse(seq: *mut bindings::seq_file, _v: *mut core::ffi::c_void) -> kernel::ffi::c_int {
    // SAFETY: called by seq_file as the show callback of a single-net file.
    let (mut w, net) = unsafe { SeqWriter::new(seq) };
    if let Some(ns) = NetState::of(net) {
        for (name, value) in ns.dp.reuse.lines() {
            let _ = writeln!(w, "{name} {value}");
        }
    }
    0
}

unsafe extern "C" fn show_drops(seq: *mut bindings::seq_file, _v: *mut core::ffi::c_void) -> kernel::ffi::c_int {
    // SAFETY: called by seq_file as the show callback of a single-net file.
    let (mut w, net) = unsafe { SeqWriter::new(seq) };
    if let Some(ns) = NetState::of(net) {
        for (name, value) in ns.dp.drops.lines() {
            let _ = writeln!(w, "{name} {value}");
        }
    }
    0
}
