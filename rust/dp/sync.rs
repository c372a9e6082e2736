// SPDX-License-Identifier: GPL-2.0
//! Connection synchronization, the data path's half (`ip_vs_sync.c`): what a master puts
//! into sync messages after a packet (`ip_vs_sync_conn()`), the master threads' messages
//! (`ms->sync_buff`, `ms->sync_queue`) and what they send, and what a backup does with a
//! message it received (`ip_vs_process_message()`, `ip_vs_proc_conn()`).
//!
//! The wire format and both decisions are the core's (`ipvs_core::sync`); the sockets and
//! threads are the glue's (`glue::syncsock`); the control plane starts and stops the
//! daemons ([`SyncDp::set_master`], [`SyncDp::set_backup`]) and runs [`master_run`] and
//! [`backup_run`] in their threads.
//!
//! Concurrency: the masters' messages are under one bottom-half lock (C: `sync_buff_lock`
//! and `sync_lock`), taken by the packet path for the length of one entry's copy and by the
//! master threads to take what is ready (sent after unlocking). The backup threads create
//! and update connections as the packet path does, under RCU and the entries' own locks.
//!
//! Differences from C, none visible on the wire: a master thread looks at its queue every
//! 20 ms while it has a message in progress or queued, and every second otherwise (C: the
//! packet path wakes it 20 ms after its queue got a first message, `IPVS_SYNC_SEND_DELAY`,
//! and at every 8th; otherwise it checks every second); a message holds at most 255 entries (C's count is a byte);
//! sequence-number options are never sent (ipvs_rs has no application helpers that shift
//! sequence numbers) and persistence-engine data neither (no persistence engines). A synced
//! connection whose real server the backup does not have stays unbound, as in C, but is not
//! bound later when the real server appears (C: `ip_vs_try_bind_dest()`); an entry whose
//! expiry is put off (held, or controlling others) is not synced then (C: `ip_vs_conn_expire()`).

use super::conn::{self, Conn, ConnParams, Lookup};
use super::DpNet;
use crate::glue::kvec;
use crate::glue::rcu::{self, RcuReadGuard};
use crate::glue::sync::BhLock;
use crate::glue::syncsock::SyncThread;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};
use ipvs_core::netlink::ipvs::conn_flags;
use ipvs_core::persist;
use ipvs_core::sync::decode::{self, DecodedConn, DropReason, MesgError, RecvConfig};
use ipvs_core::sync::encode::{MesgBuilder, MesgState, PushError, MIN_BUFFER_LEN};
use ipvs_core::sync::policy::{self, AfterCommit, ControllerPkts, MasterStep};
use ipvs_core::sync::{ConnEntry, Protocols, SeqOptions, Version};
use ipvs_core::sysctl::Knob;
use ipvs_core::wire::{Family, InetAddr};
use kernel::alloc::KVec;
use kernel::prelude::*;

/// `IP_VS_STATE_MASTER`.
pub(crate) const STATE_MASTER: u32 = 1;
/// `IP_VS_STATE_BACKUP`.
pub(crate) const STATE_BACKUP: u32 = 2;

/// `IPVS_SYNC_FLUSH_TIME` (seconds): a message is not held longer than this.
const FLUSH_TIME_SECS: u64 = 2;

/// A message being filled (C: `struct ip_vs_sync_buff`).
struct Buff {
    data: KVec<u8>,
    st: MesgState,
    /// `sb->firstuse`: jiffies when the message got its first entry.
    firstuse: u64,
}

/// One master thread's messages (C: `struct ipvs_master_sync_state`).
struct MasterQueue {
    /// `ms->sync_buff`: the message entries go into.
    cur: Option<Buff>,
    /// `ms->sync_queue`: complete messages, oldest first.
    queue: KVec<Buff>,
}

/// The masters' messages and configuration (C: `ipvs->ms`, `ipvs->mcfg`).
struct Masters {
    /// One per master thread; empty while no master runs.
    qs: KVec<MasterQueue>,
    /// `mcfg.syncid`.
    syncid: u8,
    /// `mcfg.sync_maxlen`.
    maxlen: u16,
}

/// What the sync daemons count (`/proc/net/ip_vs_sync`; C counts none of it).
#[derive(Default)]
pub(crate) struct SyncCounters {
    /// Master: entries put into messages.
    pub(crate) conns_sent: AtomicU64,
    /// Master: messages queued for sending.
    pub(crate) msgs_queued: AtomicU64,
    /// Master: messages sent.
    pub(crate) msgs_sent: AtomicU64,
    /// Master: messages dropped because the queue held `sync_qlen_max` (C drops them too).
    pub(crate) msgs_dropped_qlen: AtomicU64,
    /// Master: entries not synced for want of memory.
    pub(crate) no_mem: AtomicU64,
    /// Backup: datagrams received.
    pub(crate) msgs_received: AtomicU64,
    /// Backup: datagrams refused whole (too short, bad size, another sync id).
    pub(crate) msgs_refused: AtomicU64,
    /// Backup: entries refused (malformed, unknown protocol or state, bad options, ...).
    pub(crate) conns_refused: AtomicU64,
    /// Backup: connections created.
    pub(crate) conns_created: AtomicU64,
    /// Backup: connections updated.
    pub(crate) conns_updated: AtomicU64,
    /// Backup: entries ignored (the expiry notice of a connection already replaced).
    pub(crate) conns_ignored: AtomicU64,
    /// Backup: entries the backup could not create (no memory).
    pub(crate) conns_failed: AtomicU64,
}

impl SyncCounters {
    /// The counters as `/proc/net/ip_vs_sync` lists them.
    pub(crate) fn lines(&self) -> [(&'static str, u64); 12] {
        [
            ("master_conns_sent", self.conns_sent.load(Relaxed)),
            ("master_msgs_queued", self.msgs_queued.load(Relaxed)),
            ("master_msgs_sent", self.msgs_sent.load(Relaxed)),
            (
                "master_msgs_dropped_qlen",
                self.msgs_dropped_qlen.load(Relaxed),
            ),
            ("master_no_mem", self.no_mem.load(Relaxed)),
            ("backup_msgs_received", self.msgs_received.load(Relaxed)),
            ("backup_msgs_refused", self.msgs_refused.load(Relaxed)),
            ("backup_conns_refused", self.conns_refused.load(Relaxed)),
            ("backup_conns_created", self.conns_created.load(Relaxed)),
            ("backup_conns_updated", self.conns_updated.load(Relaxed)),
            ("backup_conns_ignored", self.conns_ignored.load(Relaxed)),
            ("backup_conns_failed", self.conns_failed.load(Relaxed)),
        ]
    }
}

fn count(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// The sync state of a namespace's data path.
#[pin_data]
pub(crate) struct SyncDp {
    /// `ipvs->sync_state`: [`STATE_MASTER`] and [`STATE_BACKUP`] bits.
    state: AtomicU32,
    #[pin]
    masters: BhLock<Masters>,
    /// `bcfg.syncid`.
    backup_syncid: AtomicI32,
    /// `bcfg.sync_maxlen`: the backup's receive buffer.
    backup_maxlen: AtomicU32,
    pub(crate) counters: SyncCounters,
}

impl SyncDp {
    /// No daemon running.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(SyncDp {
            state: AtomicU32::new(0),
            masters <- crate::new_bh_lock!(
                Masters {
                    qs: KVec::new(),
                    syncid: 0,
                    maxlen: 0,
                },
                "ipvs_rs_sync_masters"
            ),
            backup_syncid: AtomicI32::new(0),
            backup_maxlen: AtomicU32::new(0),
            counters: SyncCounters::default(),
        })
    }

    /// `ipvs->sync_state`.
    pub(crate) fn state(&self) -> u32 {
        self.state.load(Relaxed)
    }

    /// A master daemon runs.
    pub(crate) fn is_master(&self) -> bool {
        self.state() & STATE_MASTER != 0
    }

    /// Become a master with `threads` threads (`start_sync_thread()` before it starts them):
    /// the queues exist before the state says master, so the packet path finds them.
    /// Process context.
    pub(crate) fn set_master(&self, threads: usize, syncid: u8, maxlen: u16) -> Result {
        let mut qs = KVec::with_capacity(threads, GFP_KERNEL)?;
        for _ in 0..threads {
            qs.push(
                MasterQueue {
                    cur: None,
                    queue: KVec::new(),
                },
                GFP_KERNEL,
            )?;
        }
        {
            let mut m = self.masters.lock();
            m.qs = qs;
            m.syncid = syncid;
            m.maxlen = maxlen;
        }
        self.state.fetch_or(STATE_MASTER, Relaxed);
        Ok(())
    }

    /// Stop being a master (after its threads stopped): the messages still queued are
    /// dropped, as C's threads drop them when they stop.
    pub(crate) fn clear_master(&self) {
        self.state.fetch_and(!STATE_MASTER, Relaxed);
        let qs = core::mem::take(&mut self.masters.lock().qs);
        drop(qs);
    }

    /// Become a backup for `syncid` (0: any), receiving up to `maxlen` bytes per datagram.
    pub(crate) fn set_backup(&self, syncid: i32, maxlen: u16) {
        self.backup_syncid.store(syncid, Relaxed);
        self.backup_maxlen.store(u32::from(maxlen), Relaxed);
        self.state.fetch_or(STATE_BACKUP, Relaxed);
    }

    /// Stop being a backup.
    pub(crate) fn clear_backup(&self) {
        self.state.fetch_and(!STATE_BACKUP, Relaxed);
    }
}

/// The master's sysctls, as the core's policy takes them.
fn master_settings(ns: &DpNet) -> policy::MasterSettings {
    let (threshold, period) = ns.sync_threshold();
    policy::MasterSettings {
        version: Version::from_sysctl(ns.int(Knob::SyncVersion)),
        sync_threshold: threshold,
        sync_period: period,
        sync_refresh_period: ns.int(Knob::SyncRefreshPeriod) as u32,
        sync_retries: ns.int(Knob::SyncRetries),
        sync_persist_mode: ns.int(Knob::SyncPersistMode),
        hz: rcu::hz(),
    }
}

/// `in_persistence()`: a template up the control chain.
fn in_persistence(c: &Conn) -> bool {
    let mut cur = Some(c);
    while let Some(x) = cur {
        if x.is_template() {
            return true;
        }
        cur = x.control();
    }
    false
}

fn master_view(c: &Conn) -> policy::MasterConn {
    policy::MasterConn {
        v6: c.family == Family::Ipv6,
        protocol: c.protocol,
        flags: c.flags(),
        state: c.state.load(Relaxed) as u16,
        old_state: c.old_state.load(Relaxed) as u16,
        timeout: c.timeout(),
        sync_endtime: c.sync_endtime.load(Relaxed),
        in_persistence: in_persistence(c),
        pe_data_invalid: false,
    }
}

fn entry_of(c: &Conn) -> ConnEntry {
    let hz = u64::from(rcu::hz()).max(1);
    ConnEntry {
        v6: c.family == Family::Ipv6,
        protocol: c.protocol,
        flags: c.flags(),
        state: c.state.load(Relaxed) as u16,
        cport: c.cport,
        vport: c.vport(),
        dport: c.dport(),
        fwmark: c.fwmark,
        timeout_secs: u32::try_from(c.timeout() / hz).unwrap_or(u32::MAX),
        caddr: c.caddr.0,
        vaddr: c.vaddr.0,
        daddr: c.daddr.0,
        seq: SeqOptions::default(),
    }
}

/// The tail of `ip_vs_in_hook()` for a packet of `cp`: its packet count, and with a master
/// running, `ip_vs_sync_conn()`.
pub(crate) fn after_packet(ns: &DpNet, cp: &Conn) {
    let one_packet = cp.flags() & conn_flags::ONE_PACKET != 0;
    let pkts = if one_packet {
        ns.sync_threshold().0
    } else {
        cp.in_pkts.fetch_add(1, Relaxed).wrapping_add(1) as i32
    };
    if ns.sync.is_master() {
        sync_conn(ns, cp, pkts);
    } else if one_packet {
        if let Some(ct) = cp.control() {
            ct.in_pkts.fetch_add(1, Relaxed);
        }
    }
}

/// `ip_vs_sync_conn()` (and `ip_vs_sync_conn_v0()`): `cp` and, up its control chain, its
/// controllers, each when the core's policy says so. Also called for an entry about to
/// expire, with `pkts` the threshold.
pub(crate) fn sync_conn(ns: &DpNet, cp: &Conn, mut pkts: i32) {
    let s = master_settings(ns);
    let now = rcu::jiffies();
    let mut c = cp;
    let mut controller = false;
    loop {
        let view = master_view(c);
        match policy::master_step(&view, pkts, &s, now, controller) {
            MasterStep::Stop => return,
            MasterStep::Controller => {}
            MasterStep::Commit(cm) => {
                c.old_state.store(u32::from(cm.old_state), Relaxed);
                let won = c
                    .sync_endtime
                    .compare_exchange(cm.endtime_expected, cm.endtime_new, Relaxed, Relaxed)
                    .is_ok();
                match policy::master_after_commit(s.version, cm.needed(won), view.pe_data_invalid) {
                    AfterCommit::Stop => return,
                    AfterCommit::Controller => {}
                    AfterCommit::Send => {
                        if !queue_entry(ns, c, s.version) {
                            return;
                        }
                    }
                }
            }
        }
        let Some(ct) = c.control() else {
            return;
        };
        pkts = match policy::controller_pkts(ct.flags(), &s) {
            ControllerPkts::IncInPkts => ct.in_pkts.fetch_add(1, Relaxed).wrapping_add(1) as i32,
            ControllerPkts::Threshold(t) => t,
        };
        c = ct;
        controller = true;
    }
}

/// `select_master_thread_id()`: connections spread over the master threads by address.
fn master_id(c: &Conn, threads: usize) -> usize {
    if threads <= 1 {
        return 0;
    }
    // C hashes the entry's address (`(unsigned long)cp >> (1 + ilog2(sizeof(*cp)))`).
    let a = c as *const Conn as usize;
    (a >> 8) & (threads - 1)
}

/// The entry-adding half of `ip_vs_sync_conn()`, under the masters' lock: into the thread's
/// current message, which goes to the queue first when the entry does not fit (or is of
/// the other version). `false` when no master runs any more (C returns).
fn queue_entry(ns: &DpNet, c: &Conn, version: Version) -> bool {
    let e = entry_of(c);
    let sync = &ns.sync;
    let mut m = sync.masters.lock();
    if !sync.is_master() || m.qs.is_empty() {
        return false;
    }
    let id = master_id(c, m.qs.len());
    let (syncid, maxlen) = (m.syncid, m.maxlen);
    let qlen_max = ns.sync_qlen_max();
    let Some(q) = m.qs.get_mut(id) else {
        return false;
    };
    for _attempt in 0..2 {
        if q.cur.is_none() {
            let size = usize::from(maxlen).max(MIN_BUFFER_LEN);
            let Ok(mut data) = kvec::zeroed(size, GFP_ATOMIC) else {
                count(&sync.counters.no_mem);
                return true;
            };
            let Some(b) = MesgBuilder::new(&mut data, version, syncid, maxlen) else {
                return true;
            };
            let st = b.state();
            q.cur = Some(Buff {
                data,
                st,
                firstuse: rcu::jiffies(),
            });
        }
        let Some(cur) = q.cur.as_mut() else {
            return true;
        };
        let pushed = if cur.st.version() != version {
            Err(PushError::Full)
        } else {
            match MesgBuilder::resume(&mut cur.data, cur.st) {
                Some(mut b) => {
                    let r = b.push(&e);
                    cur.st = b.state();
                    r
                }
                None => Err(PushError::BufferTooSmall),
            }
        };
        match pushed {
            Ok(()) => {
                count(&sync.counters.conns_sent);
                break;
            }
            Err(PushError::Full) if !cur.st.is_empty() => {
                // sb_queue_tail(): the full message goes to the queue, a new one takes the
                // entry.
                if let Some(full) = q.cur.take() {
                    enqueue(sync, q, full, qlen_max);
                }
            }
            Err(_) => break,
        }
    }
    true
}

/// `sb_queue_tail()`: `b` joins the queue unless it holds `qlen_max` messages already.
fn enqueue(sync: &SyncDp, q: &mut MasterQueue, b: Buff, qlen_max: usize) {
    if q.queue.len() >= qlen_max {
        count(&sync.counters.msgs_dropped_qlen);
    } else if q.queue.push(b, GFP_ATOMIC).is_err() {
        count(&sync.counters.no_mem);
    } else {
        count(&sync.counters.msgs_queued);
    }
}

/// What a master thread takes to send: the queued messages, else the current one once it
/// is `FLUSH_TIME_SECS` old (`next_sync_buff()`), or with `all` whatever it has (the stop).
fn take_ready(sync: &SyncDp, id: usize, all: bool) -> KVec<Buff> {
    let now = rcu::jiffies();
    let flush = FLUSH_TIME_SECS * u64::from(rcu::hz());
    let mut m = sync.masters.lock();
    let Some(q) = m.qs.get_mut(id) else {
        return KVec::new();
    };
    let mut ready = core::mem::take(&mut q.queue);
    let due = q
        .cur
        .as_ref()
        .is_some_and(|b| all || now.wrapping_sub(b.firstuse) >= flush);
    if (ready.is_empty() || all) && due {
        if let Some(b) = q.cur.take() {
            // With no room for it, it is dropped (as when the queue is full).
            if ready.push(b, GFP_ATOMIC).is_err() {
                count(&sync.counters.no_mem);
            }
        }
    }
    ready
}

/// Whether master `id` has a message queued (its sleep's condition), and whether it has one
/// in progress.
fn pending(sync: &SyncDp, id: usize) -> (bool, bool) {
    let m = sync.masters.lock();
    m.qs.get(id)
        .map_or((false, false), |q| (!q.queue.is_empty(), q.cur.is_some()))
}

/// `sync_thread_master()`: send what is ready, then sleep 20 ms while a message is in
/// progress, else a second.
pub(crate) fn master_run(ns: &DpNet, t: &SyncThread) {
    let id = t.id() as usize;
    let sync = &ns.sync;
    while !t.should_stop() {
        let ready = take_ready(sync, id, false);
        if ready.is_empty() {
            let hz = u64::from(rcu::hz());
            let nap = if pending(sync, id).1 { hz / 50 + 1 } else { hz };
            t.sleep_unless(nap, || pending(sync, id).0);
            continue;
        }
        for b in ready.iter() {
            let Some(msg) = b.data.get(..b.st.len()) else {
                continue;
            };
            // ip_vs_send_sync_msg(): a full socket makes the thread wait until it can send.
            loop {
                match t.socket().send(msg) {
                    Ok(_) => {
                        count(&sync.counters.msgs_sent);
                        break;
                    }
                    Err(e) if e == EAGAIN => {
                        if t.should_stop() {
                            return;
                        }
                        t.socket().wait_writable(u64::from(rcu::hz()) / 10 + 1);
                    }
                    // C logs and drops the message.
                    Err(_) => break,
                }
            }
        }
    }
}

/// `sync_thread_backup()`: receive and process datagrams until asked to stop.
pub(crate) fn backup_run(ns: &DpNet, t: &SyncThread) {
    let maxlen = (ns.sync.backup_maxlen.load(Relaxed) as usize).max(MIN_BUFFER_LEN);
    let Ok(mut buf) = kvec::zeroed(maxlen, GFP_KERNEL) else {
        return;
    };
    while !t.should_stop() {
        if !t.socket().wait_readable(u64::from(rcu::hz())) {
            continue;
        }
        // Until the socket is empty (EAGAIN; C logs other errors and waits again too).
        while let Ok(n) = t.socket().recv(&mut buf) {
            if let Some(msg) = buf.get(..n) {
                process_message(ns, msg);
            }
            if t.should_stop() {
                return;
            }
        }
    }
}

/// `ip_vs_process_message()`: the entries of one datagram.
pub(crate) fn process_message(ns: &DpNet, msg: &[u8]) {
    let c = &ns.sync.counters;
    count(&c.msgs_received);
    let cfg = RecvConfig {
        syncid: ns.sync.backup_syncid.load(Relaxed),
        ipv6: true,
        protocols: Protocols { ah_esp: false },
        pe_names: &[],
    };
    let entries = match decode::parse_message(msg, &cfg) {
        Ok(e) => e,
        Err(MesgError::TooShort | MesgError::SizeMismatch | MesgError::SyncIdMismatch) => {
            count(&c.msgs_refused);
            return;
        }
    };
    if entries.nr_conns() == 0 {
        return;
    }
    for e in entries {
        match e {
            Ok(e) => proc_conn(ns, &e),
            Err(r) => {
                count(&c.conns_refused);
                if DropReason::aborts_message(r) {
                    break;
                }
            }
        }
    }
}

fn family_of(e: &DecodedConn<'_>) -> Family {
    if e.v6 {
        Family::Ipv6
    } else {
        Family::Ipv4
    }
}

/// `ip_vs_find_dest()`: the backup's real server for the entry, and its service's
/// counters.
fn find_dest(
    ns: &DpNet,
    e: &DecodedConn<'_>,
) -> Option<(
    kernel::sync::Arc<super::dest::DestShared>,
    kernel::sync::Arc<super::dest::StatsCells>,
)> {
    let rcu_guard = RcuReadGuard::new();
    let family = family_of(e);
    let svc = ns.services.find_for_packet(
        &rcu_guard,
        family.af(),
        e.protocol,
        &e.vaddr,
        e.vport,
        e.fwmark,
    )?;
    let port = if e.fwmark != 0 && e.flags & conn_flags::FWD_MASK != conn_flags::MASQ {
        0
    } else {
        e.dport
    };
    let addr_len = match family {
        Family::Ipv4 => 4,
        Family::Ipv6 => 16,
    };
    let same = |d: &super::dest::DestShared, p: u16| {
        d.family == family && d.port == p && d.addr.0.get(..addr_len) == e.daddr.get(..addr_len)
    };
    let sched = svc.sched.lock();
    let found = sched
        .dests
        .iter()
        .find(|d| same(&d.0, port))
        .or_else(|| sched.dests.iter().find(|d| same(&d.0, port ^ e.dport)))
        .map(|d| d.0.clone());
    drop(sched);
    found.map(|d| (d, svc.stats.clone()))
}

/// `ip_vs_proc_conn()`: create or update the connection of one accepted entry.
fn proc_conn(ns: &DpNet, e: &DecodedConn<'_>) {
    let c = &ns.sync.counters;
    let family = family_of(e);
    let net = ns.net_id();
    let template = e.flags & conn_flags::TEMPLATE != 0;
    let caddr = InetAddr(e.caddr);
    let vaddr = InetAddr(e.vaddr);
    let found = if template {
        conn::template_get(
            net,
            &persist::ConnParam {
                af: family.af(),
                protocol: u16::from(e.protocol),
                caddr,
                cport: e.cport,
                vaddr,
                vport: e.vport,
            },
        )
    } else {
        conn::in_get(&Lookup {
            net,
            family,
            protocol: e.protocol,
            caddr: &caddr,
            cport: e.cport,
            addr: &vaddr,
            port: e.vport,
        })
    };
    let existing = found.as_ref().map(|cp| policy::Existing {
        flags: cp.flags(),
        dport: cp.dport(),
        daddr: cp.daddr.0,
        daf_v6: cp.family == Family::Ipv6,
        has_dest: cp.dest.is_some(),
    });
    let cp = match policy::backup_decision(e, existing.as_ref()) {
        policy::BackupDecision::Ignore => {
            count(&c.conns_ignored);
            return;
        }
        policy::BackupDecision::Update { flags, active, .. } => {
            let Some(cp) = found else {
                return;
            };
            {
                let _g = cp.lock_state();
                if let Some(d) = &cp.dest {
                    match active {
                        policy::ActiveChange::Inc => {
                            d.activeconns.fetch_add(1, Relaxed);
                        }
                        policy::ActiveChange::Dec => {
                            d.activeconns.fetch_sub(1, Relaxed);
                        }
                        policy::ActiveChange::None => {}
                    }
                }
                cp.flags.store(flags, Relaxed);
            }
            count(&c.conns_updated);
            cp
        }
        policy::BackupDecision::Create {
            expire_existing,
            flags,
        } => {
            if let Some(old) = found {
                if expire_existing {
                    old.expire_now();
                }
            }
            let (dest, svc_stats) = match find_dest(ns, e) {
                Some((d, s)) => (Some(d), Some(s)),
                None => (None, None),
            };
            let params = ConnParams {
                family,
                protocol: e.protocol,
                caddr,
                cport: e.cport,
                vaddr,
                vport: e.vport,
                daddr: InetAddr(e.daddr),
                dport: e.dport,
                fwmark: e.fwmark,
                flags,
                dest,
                svc_stats,
            };
            match conn::create(ns, net, params, None) {
                Ok(cp) => {
                    count(&c.conns_created);
                    cp
                }
                Err(_) => {
                    count(&c.conns_failed);
                    return;
                }
            }
        }
    };
    let common = policy::apply_common(e, ns.sync_threshold().0, &ns.timeouts());
    cp.in_pkts.store(common.in_pkts as u32, Relaxed);
    cp.state.store(u32::from(common.state), Relaxed);
    cp.old_state.store(u32::from(common.state), Relaxed);
    cp.set_timeout(u64::from(common.timeout_secs) * u64::from(rcu::hz()));
    // Dropping the reference arms the timer with that timeout (ip_vs_conn_put()).
    drop(cp);
}
