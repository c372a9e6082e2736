//! Host tests of the sync codec and decisions: hand-checked layouts, round trips, and
//! robustness on arbitrary bytes. The comparison with C is in `c_ref_tests.rs`.

use super::decode::{parse_message, DecodedConn, DropReason, MesgError, RecvConfig};
use super::encode::{entry_len, MesgBuilder, PushError, MIN_BUFFER_LEN};
use super::policy::{
    backup_decision, backup_timeout, master_after_commit, master_step, sync_conn_needed,
    ActiveChange, AfterCommit, BackupDecision, Existing, MasterConn, MasterSettings, MasterStep,
};
use super::*;
use crate::netlink::ipvs::conn_flags as cf;
use crate::proto::TimeoutTables;
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

const CFG: RecvConfig<'static> = RecvConfig {
    syncid: 0,
    ipv6: true,
    protocols: Protocols { ah_esp: true },
    pe_names: &[b"sip"],
};

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&a);
    x
}

fn entry() -> ConnEntry {
    ConnEntry {
        v6: false,
        protocol: 6,
        flags: cf::DROUTE | cf::HASHED | cf::NOOUTPUT,
        state: 1,
        cport: 40000,
        vport: 80,
        dport: 8080,
        fwmark: 7,
        timeout_secs: 900,
        caddr: v4([10, 0, 0, 1]),
        vaddr: v4([192, 168, 0, 1]),
        daddr: v4([172, 16, 0, 9]),
        seq: SeqOptions::default(),
    }
}

fn build(version: Version, entries: &[ConnEntry], max_len: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 70000];
    let mut b = MesgBuilder::new(&mut buf, version, 5, max_len).unwrap();
    for e in entries {
        b.push(e).unwrap();
    }
    b.finish().to_vec()
}

fn decode_all<'a>(buf: &'a [u8], cfg: &RecvConfig<'a>) -> Vec<Result<DecodedConn<'a>, DropReason>> {
    parse_message(buf, cfg).unwrap().collect()
}

/// What the backup should receive for `e` sent with `version`.
fn expected(version: Version, e: &ConnEntry) -> DecodedConn<'static> {
    let (fwmark, timeout_secs, flags) = match version {
        Version::V0 => (0, 0, e.flags & 0xffff),
        Version::V1 => (e.fwmark, e.timeout_secs, e.flags),
    };
    let addr = |a: &[u8; 16]| {
        if e.v6 {
            *a
        } else {
            v4([a[0], a[1], a[2], a[3]])
        }
    };
    DecodedConn {
        v6: e.v6,
        protocol: e.protocol,
        flags: (flags & cf::BACKUP_MASK) | cf::SYNC,
        state: e.state,
        cport: e.cport,
        vport: e.vport,
        dport: e.dport,
        fwmark,
        timeout_secs,
        caddr: addr(&e.caddr),
        vaddr: addr(&e.vaddr),
        daddr: addr(&e.daddr),
        seq: e.sends_seq().then_some(e.seq),
        pe: None,
    }
}

#[test]
fn v1_layout() {
    let mut e = entry();
    e.flags |= cf::IN_SEQ;
    e.seq.in_seq.init_seq = 0x01020304;
    let m = build(Version::V1, &[e], 1472);
    let mut want = vec![0, 5, 0, 8 + 62, 1, 1, 0, 0];
    want.extend_from_slice(&[0, 6, 0, 62]); // type, protocol, ver_size
    want.extend_from_slice(&(cf::DROUTE | cf::NOOUTPUT | cf::IN_SEQ).to_be_bytes());
    want.extend_from_slice(&[0, 1, 0x9c, 0x40, 0, 80, 0x1f, 0x90]);
    want.extend_from_slice(&[0, 0, 0, 7, 0, 0, 3, 0x84]);
    want.extend_from_slice(&[10, 0, 0, 1, 192, 168, 0, 1, 172, 16, 0, 9]);
    want.extend_from_slice(&[1, 24, 1, 2, 3, 4]);
    want.extend_from_slice(&[0; 20]);
    assert_eq!(m, want);
}

#[test]
fn v0_layout() {
    let m = build(Version::V0, &[entry()], 1472);
    let mut want = vec![1, 5, 0, 28];
    want.extend_from_slice(&[0, 6, 0x9c, 0x40, 0, 80, 0x1f, 0x90]);
    want.extend_from_slice(&[10, 0, 0, 1, 192, 168, 0, 1, 172, 16, 0, 9]);
    want.extend_from_slice(&[0, 0x83, 0, 1]);
    assert_eq!(m, want);
}

#[test]
fn v1_padding_between_entries() {
    let mut a = entry();
    a.flags = cf::OUT_SEQ; // 36 + 26 = 62 bytes: the next entry starts 2 bytes later
    let m = build(Version::V1, &[a, entry()], 1472);
    assert_eq!(m.len(), 8 + 62 + 2 + 36);
    assert_eq!(&m[70..72], &[0, 0]);
    let got = decode_all(&m, &CFG);
    assert_eq!(
        got,
        vec![
            Ok(expected(Version::V1, &a)),
            Ok(expected(Version::V1, &entry()))
        ]
    );
}

#[test]
fn builder_limits() {
    let mut buf = [0u8; 200];
    let mut b = MesgBuilder::new(&mut buf, Version::V1, 1, 80).unwrap();
    b.push(&entry()).unwrap(); // 44
    b.push(&entry()).unwrap(); // 80
    assert_eq!(b.push(&entry()), Err(PushError::Full));
    assert_eq!(b.nr_conns(), 2);
    // The first entry goes in however small the limit.
    let mut b = MesgBuilder::new(&mut buf, Version::V1, 1, 1).unwrap();
    b.push(&entry()).unwrap();
    assert_eq!(b.push(&entry()), Err(PushError::Full));
    // ...if the buffer holds it.
    let mut small = [0u8; 40];
    let mut b = MesgBuilder::new(&mut small, Version::V1, 1, 1).unwrap();
    assert_eq!(b.push(&entry()), Err(PushError::BufferTooSmall));
    assert!(b.is_empty());
    assert_eq!(b.as_bytes(), &[0, 1, 0, 8, 0, 1, 0, 0]);
    // v0 refuses IPv6.
    let mut b = MesgBuilder::new(&mut buf, Version::V0, 1, 1000).unwrap();
    let mut e6 = entry();
    e6.v6 = true;
    assert_eq!(b.push(&e6), Err(PushError::Ipv6InV0));
    assert!(MesgBuilder::new(&mut [0u8; 7], Version::V1, 0, 100).is_none());
    // 255 entries at most.
    let mut big = vec![0u8; 65535];
    let mut b = MesgBuilder::new(&mut big, Version::V0, 1, 65507).unwrap();
    for _ in 0..255 {
        b.push(&entry()).unwrap();
    }
    assert_eq!(b.push(&entry()), Err(PushError::Full));
    assert_eq!(decode_all(b.as_bytes(), &CFG).len(), 255);
    let mut e = entry();
    e.v6 = true;
    e.flags |= cf::SEQ_MASK;
    assert_eq!(MESG_HEADER_LEN + entry_len(Version::V1, &e), MIN_BUFFER_LEN);
}

#[test]
fn max_mesg_size_like_start_sync_thread() {
    assert_eq!(max_mesg_size(9000, 0, false, false), 1472);
    assert_eq!(max_mesg_size(9000, 0, true, false), 1452);
    assert_eq!(max_mesg_size(9000, 0, false, true), 8972);
    assert_eq!(max_mesg_size(100, 0, false, true), 1472);
    assert_eq!(max_mesg_size(100_000, 0, true, true), 65487);
    assert_eq!(max_mesg_size(1500, 1, false, false), 1);
    assert_eq!(max_mesg_size(1500, 1, false, true), 1024);
    assert_eq!(max_mesg_size(1500, 65535, false, true), 65507);
    assert_eq!(max_mesg_size(1500, 65535, true, false), 65487);
}

#[test]
fn header_checks() {
    let m = build(Version::V1, &[entry()], 1472);
    assert_eq!(
        parse_message(&m[..3], &CFG).err(),
        Some(MesgError::TooShort)
    );
    assert_eq!(
        parse_message(&m[..20], &CFG).err(),
        Some(MesgError::SizeMismatch)
    );
    let cfg = RecvConfig { syncid: 6, ..CFG };
    assert_eq!(
        parse_message(&m, &cfg).err(),
        Some(MesgError::SyncIdMismatch)
    );
    let cfg = RecvConfig { syncid: 5, ..CFG };
    assert!(parse_message(&m, &cfg).unwrap().is_v1());
    let cfg = RecvConfig {
        syncid: 256 + 5,
        ..CFG
    };
    assert_eq!(
        parse_message(&m, &cfg).err(),
        Some(MesgError::SyncIdMismatch)
    );
    // A non-zero spare makes it an old-format message.
    let mut m2 = m.clone();
    m2[7] = 1;
    assert!(!parse_message(&m2, &CFG).unwrap().is_v1());
}

#[test]
fn entry_checks() {
    let one = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut m = build(Version::V1, &[entry()], 1472);
        f(&mut m);
        let n = m.len() as u16;
        m[2..4].copy_from_slice(&n.to_be_bytes());
        decode_all(&m, &CFG)
            .into_iter()
            .map(|r| r.map(|_| ()))
            .collect::<Vec<_>>()
    };
    assert_eq!(one(&|_| {}), vec![Ok(())]);
    assert_eq!(one(&|m| m[8] = 2), vec![Err(DropReason::BadType)]);
    assert_eq!(one(&|m| m[11] = 35), vec![Err(DropReason::EntryTooShort)]);
    assert_eq!(one(&|m| m[11] = 37), vec![Err(DropReason::EntryOverrun)]);
    assert_eq!(
        one(&|m| m[10] = 0x10),
        vec![Err(DropReason::UnknownVersion(1))]
    );
    assert_eq!(one(&|m| m[4] = 2), vec![Ok(()), Err(DropReason::TooSmall)]);
    assert_eq!(
        one(&|m| m[9] = 99),
        vec![Err(DropReason::UnsupportedProtocol)]
    );
    assert_eq!(one(&|m| m[17] = 11), vec![Err(DropReason::InvalidState)]);
    assert_eq!(one(&|m| m[14] |= 0x20), vec![Err(DropReason::InvalidFlags)]);
    assert_eq!(one(&|m| m[14] |= 0x10), vec![Ok(())]);
    let opts = |o: &'static [u8]| {
        move |m: &mut Vec<u8>| {
            m.extend_from_slice(o);
            m[11] += o.len() as u8;
        }
    };
    assert_eq!(one(&opts(&[0x7f, 2, 0, 0])), vec![Ok(())]);
    assert_eq!(
        one(&opts(&[0x3f, 1, 0, 0])),
        vec![Err(DropReason::UnknownMandatoryOption(0x3f))]
    );
    assert_eq!(one(&opts(&[0x7f])), vec![Err(DropReason::OptionHeader)]);
    assert_eq!(one(&opts(&[0x7f, 0])), vec![Err(DropReason::OptionLength)]);
    assert_eq!(
        one(&opts(&[0x7f, 3, 0])),
        vec![Err(DropReason::OptionLength)]
    );
    assert_eq!(one(&opts(&[1, 2, 0, 0])), vec![Err(DropReason::SeqOption)]);
    assert_eq!(
        one(&opts(&[2, 1, 0, 2, 1, 0])),
        vec![Err(DropReason::PeData)]
    );
    assert_eq!(one(&opts(&[2, 1, 0])), vec![Err(DropReason::PeParams)]);
    assert_eq!(
        one(&opts(&[2, 1, 0, 3, 3, b's', b'i', b'x'])),
        vec![Err(DropReason::PeNotFound)]
    );
    assert_eq!(one(&opts(&[2, 1, 0, 3, 3, b's', b'i', b'p'])), vec![Ok(())]);
    assert_eq!(
        one(&opts(&[
            3, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ])),
        vec![Err(DropReason::PeName)]
    );
    // A name alone is ignored.
    assert_eq!(one(&opts(&[3, 3, b'x', b'y', b'z'])), vec![Ok(())]);
    let no6 = RecvConfig { ipv6: false, ..CFG };
    let mut e6 = entry();
    e6.v6 = true;
    let m = build(Version::V1, &[e6, entry()], 1472);
    let got: Vec<_> = decode_all(&m, &no6)
        .into_iter()
        .map(|r| r.map(|c| c.v6))
        .collect();
    assert_eq!(got, vec![Err(DropReason::Ipv6Unsupported), Ok(false)]);
}

#[test]
fn timeouts_and_backup_decision() {
    let t = TimeoutTables::DEFAULT;
    let mut e = expected(Version::V0, &entry());
    assert_eq!(backup_timeout(&e, &t), 900);
    e.state = 4; // FIN_WAIT
    assert_eq!(backup_timeout(&e, &t), 120);
    e.flags |= cf::TEMPLATE;
    assert_eq!(backup_timeout(&e, &t), 180);
    e.timeout_secs = 7;
    assert_eq!(backup_timeout(&e, &t), 7);
    e.protocol = 50;
    e.flags &= !cf::TEMPLATE;
    e.timeout_secs = 0;
    assert_eq!(backup_timeout(&e, &t), 180);

    let e = expected(Version::V1, &entry());
    assert_eq!(
        backup_decision(&e, None),
        BackupDecision::Create {
            expire_existing: false,
            flags: e.flags
        }
    );
    let same = Existing {
        flags: cf::INACTIVE | cf::HASHED,
        dport: e.dport,
        daddr: e.daddr,
        daf_v6: false,
        has_dest: true,
    };
    assert_eq!(
        backup_decision(&e, Some(&same)),
        BackupDecision::Update {
            flags: cf::HASHED | (e.flags & cf::BACKUP_UPD_MASK),
            active: ActiveChange::Inc,
            bind_dest: false
        }
    );
    let other = Existing { dport: 1, ..same };
    assert_eq!(
        backup_decision(&e, Some(&other)),
        BackupDecision::Create {
            expire_existing: true,
            flags: e.flags
        }
    );
    let mut ei = e;
    ei.flags |= cf::INACTIVE;
    assert_eq!(backup_decision(&ei, Some(&other)), BackupDecision::Ignore);
    let active = Existing {
        flags: 0,
        has_dest: false,
        ..same
    };
    assert_eq!(
        backup_decision(&ei, Some(&active)),
        BackupDecision::Update {
            flags: cf::INACTIVE,
            active: ActiveChange::None,
            bind_dest: true
        }
    );
    let with_dest = Existing {
        has_dest: true,
        ..active
    };
    assert!(matches!(
        backup_decision(&ei, Some(&with_dest)),
        BackupDecision::Update {
            active: ActiveChange::Dec,
            ..
        }
    ));
}

fn settings(version: Version) -> MasterSettings {
    MasterSettings {
        version,
        sync_threshold: 3,
        sync_period: 50,
        sync_refresh_period: 0,
        sync_retries: 0,
        sync_persist_mode: 0,
        hz: 250,
    }
}

fn mconn() -> MasterConn {
    MasterConn {
        v6: false,
        protocol: 6,
        flags: 0,
        state: 1,
        old_state: 1,
        timeout: 900 * 250,
        sync_endtime: 0,
        in_persistence: false,
        pe_data_invalid: false,
    }
}

#[test]
fn master_threshold_and_period() {
    let s = settings(Version::V1);
    let c = mconn();
    assert!(sync_conn_needed(&c, 3, &s, 1000).is_some());
    assert!(sync_conn_needed(&c, 53, &s, 1000).is_some());
    assert!(sync_conn_needed(&c, 4, &s, 1000).is_none());
    // SYN_RECV is never synced; a change to FIN_WAIT is forced.
    assert_eq!(
        master_step(&MasterConn { state: 3, ..c }, 3, &s, 0, false),
        MasterStep::Controller
    );
    let fin = MasterConn { state: 4, ..c };
    match master_step(&fin, 4, &s, 1000, false) {
        MasterStep::Commit(k) => {
            assert!(k.force && k.needed(false));
            assert_eq!(k.endtime_new, (1000 + 900 * 250) & !3);
        }
        other => panic!("{other:?}"),
    }
    // ONE_PACKET: v1 skips to the controller, v0 stops; v0 stops on IPv6 too.
    let op = MasterConn {
        flags: cf::ONE_PACKET,
        ..c
    };
    assert_eq!(master_step(&op, 3, &s, 0, false), MasterStep::Controller);
    assert!(matches!(
        master_step(&op, 3, &s, 0, true),
        MasterStep::Commit(_)
    ));
    assert_eq!(
        master_step(&op, 3, &settings(Version::V0), 0, true),
        MasterStep::Stop
    );
    assert_eq!(
        master_step(
            &MasterConn { v6: true, ..c },
            3,
            &settings(Version::V0),
            0,
            false
        ),
        MasterStep::Stop
    );
    assert_eq!(
        master_after_commit(Version::V1, true, true),
        AfterCommit::Stop
    );
    assert_eq!(
        master_after_commit(Version::V1, false, true),
        AfterCommit::Controller
    );
    assert_eq!(
        master_after_commit(Version::V0, false, false),
        AfterCommit::Stop
    );
    assert_eq!(
        master_after_commit(Version::V0, true, false),
        AfterCommit::Send
    );
}

fn arb_entry() -> impl Strategy<Value = ConnEntry> {
    (
        any::<bool>(),
        prop_oneof![Just(6u8), Just(17), Just(132), Just(50), Just(51)],
        any::<u32>(),
        any::<bool>(),
        any::<(u16, u16, u16, u32, u32)>(),
        any::<([u8; 16], [u8; 16], [u8; 16])>(),
        any::<[u32; 6]>(),
    )
        .prop_map(
            |(
                v6,
                protocol,
                flags,
                tpl,
                (cport, vport, dport, fwmark, timeout_secs),
                (caddr, vaddr, daddr),
                seq,
            )| {
                // Flags a backup accepts, states valid for the protocol or template.
                let mut flags = flags & !(cf::ONE_PACKET | cf::TEMPLATE | cf::NO_CPORT);
                let state = if tpl {
                    flags |= cf::TEMPLATE;
                    cport & 1
                } else {
                    let n = Protocols { ah_esp: true }.num_states(protocol).unwrap();
                    vport % n
                };
                ConnEntry {
                    v6,
                    protocol,
                    flags,
                    state,
                    cport,
                    vport,
                    dport,
                    fwmark,
                    timeout_secs,
                    caddr,
                    vaddr,
                    daddr,
                    seq: SeqOptions::from_words(seq),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(entries in proptest::collection::vec(arb_entry(), 0..40), v0 in any::<bool>(), max_len in 1u16..3000) {
        let version = if v0 { Version::V0 } else { Version::V1 };
        let mut buf = vec![0u8; 4000];
        let mut b = MesgBuilder::new(&mut buf, version, 9, max_len).unwrap();
        let mut sent = Vec::new();
        for e in &entries {
            match b.push(e) {
                Ok(()) => sent.push(expected(version, e)),
                Err(PushError::Ipv6InV0) => prop_assert!(v0 && e.v6),
                Err(PushError::Full) => break,
                Err(PushError::BufferTooSmall) => prop_assert!(false),
            }
        }
        let m = b.finish();
        prop_assert!(m.len() <= usize::from(max_len).max(MIN_BUFFER_LEN));
        let cfg = RecvConfig { syncid: 9, ..CFG };
        let it = parse_message(m, &cfg).unwrap();
        prop_assert_eq!(it.is_v1(), !v0);
        let got: Vec<_> = it.collect();
        let want: Vec<_> = sent.into_iter().map(Ok).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), v1 in any::<bool>(), nr in any::<u8>()) {
        let mut m = bytes;
        if v1 && m.len() >= 8 {
            m[0] = 0; m[4] = nr; m[5] = 1; m[6] = 0; m[7] = 0;
        }
        if m.len() >= 4 {
            let n = m.len() as u16;
            m[2..4].copy_from_slice(&n.to_be_bytes());
        }
        if let Ok(it) = parse_message(&m, &CFG) {
            let nr = it.nr_conns();
            let mut count = 0usize;
            let mut aborted = false;
            for r in it {
                prop_assert!(!aborted);
                count += 1;
                if let Err(e) = r { aborted = e.aborts_message(); }
            }
            prop_assert!(count <= usize::from(nr));
        }
    }

    #[test]
    fn decode_mutated(entries in proptest::collection::vec(arb_entry(), 1..8), flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6)) {
        let m0 = build(Version::V1, &entries, 1472);
        let mut m = m0.clone();
        for (at, x) in flips {
            let i = 4 + usize::from(at) % (m.len() - 4);
            m[i] ^= x;
        }
        if let Ok(it) = parse_message(&m, &CFG) {
            for c in it.flatten() {
                prop_assert_eq!(c.flags & !(cf::BACKUP_MASK | cf::SYNC), 0);
                prop_assert!(c.flags & cf::SYNC != 0);
            }
        }
    }
}

#[test]
fn resumed_builder_continues_the_message() {
    let a = entry();
    let mut whole = vec![0u8; 1500];
    let mut b = MesgBuilder::new(&mut whole, Version::V1, 7, 1500).unwrap();
    b.push(&a).unwrap();
    b.push(&a).unwrap();
    let expected = b.as_bytes().to_vec();

    let mut buf = vec![0u8; 1500];
    let st = {
        let mut b = MesgBuilder::new(&mut buf, Version::V1, 7, 1500).unwrap();
        b.push(&a).unwrap();
        b.state()
    };
    let mut b = MesgBuilder::resume(&mut buf, st).unwrap();
    b.push(&a).unwrap();
    assert_eq!(b.as_bytes(), &expected[..]);
    assert_eq!(b.state().nr_conns(), 2);
    // A state that does not fit the buffer is refused.
    let mut small = vec![0u8; 8];
    assert!(MesgBuilder::resume(&mut small, b.state()).is_none());
}
