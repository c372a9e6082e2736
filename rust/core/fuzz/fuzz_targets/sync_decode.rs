//! Fuzz target: the backup's reading of a sync datagram (`ipvs_core::sync::decode`).
//!
//! Input: byte 0 picks the backup's configuration (bit 0: IPv6 support, bit 1: AH/ESP,
//! bits 2-3: syncid 0, 1, the datagram's own or 300); the rest is the datagram, whose size
//! field is fixed up when bit 4 is set (so the entries are reached more often).
//! Invariants checked: nothing panics; the iterator yields at most `nr_conns` items and
//! nothing after an aborting reason; accepted entries carry only backup flags plus
//! `IP_VS_CONN_F_SYNC` and a state valid for their protocol; an accepted entry sent again
//! (version 1, or version 0 for IPv4) reads back the same; the backup's decisions on it do
//! not panic.
#![no_main]

use ipvs_core::netlink::ipvs::conn_flags as cf;
use ipvs_core::proto::TimeoutTables;
use ipvs_core::sync::decode::{parse_message, RecvConfig};
use ipvs_core::sync::encode::MesgBuilder;
use ipvs_core::sync::policy::{backup_decision, backup_timeout, Existing};
use ipvs_core::sync::{ConnEntry, Protocols, SeqOptions, Version, CTPL_S_LAST};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut m = rest.to_vec();
    if ctl & 0x10 != 0 && m.len() >= 4 {
        let n = u16::try_from(m.len()).unwrap_or(u16::MAX).to_be_bytes();
        m[2..4].copy_from_slice(&n);
    }
    let syncid = match (ctl >> 2) & 3 {
        0 => 0,
        1 => 1,
        2 => i32::from(m.get(1).copied().unwrap_or(0)),
        _ => 300,
    };
    let protocols = Protocols {
        ah_esp: ctl & 2 != 0,
    };
    let cfg = RecvConfig {
        syncid,
        ipv6: ctl & 1 != 0,
        protocols,
        pe_names: &[b"sip"],
    };
    let Ok(it) = parse_message(&m, &cfg) else {
        return;
    };
    let (nr, v1) = (it.nr_conns(), it.is_v1());
    let mut count = 0usize;
    let mut stopped = false;
    for r in it {
        assert!(!stopped);
        count += 1;
        let c = match r {
            Ok(c) => c,
            Err(e) => {
                stopped = e.aborts_message();
                continue;
            }
        };
        assert_eq!(c.flags & !(cf::BACKUP_MASK | cf::SYNC), 0);
        assert_ne!(c.flags & cf::SYNC, 0);
        if c.is_template() {
            assert!(c.state < CTPL_S_LAST);
        } else {
            assert!(c.state < protocols.num_states(c.protocol).unwrap_or(0));
        }
        let _ = backup_timeout(&c, &TimeoutTables::DEFAULT);
        let ex = Existing {
            flags: u32::from(ctl) << 4,
            dport: c.dport ^ u16::from(ctl & 0x20),
            daddr: c.daddr,
            daf_v6: c.v6,
            has_dest: ctl & 0x40 != 0,
        };
        let _ = backup_decision(&c, None);
        let _ = backup_decision(&c, Some(&ex));

        // Send it again: it reads back the same (without the options it came with when
        // they were not sequence data, and with them when the flags ask for them).
        let version = if v1 { Version::V1 } else { Version::V0 };
        let e = ConnEntry {
            v6: c.v6,
            protocol: c.protocol,
            flags: c.flags,
            state: c.state,
            cport: c.cport,
            vport: c.vport,
            dport: c.dport,
            fwmark: c.fwmark,
            timeout_secs: c.timeout_secs,
            caddr: c.caddr,
            vaddr: c.vaddr,
            daddr: c.daddr,
            seq: c.seq.unwrap_or(SeqOptions::default()),
        };
        let mut buf = [0u8; 256];
        let mut b = MesgBuilder::new(&mut buf, version, 0, 1500).expect("header fits");
        b.push(&e).expect("one entry fits");
        let again = b.finish();
        let back = parse_message(again, &cfg)
            .expect("own message")
            .next()
            .expect("one entry")
            .expect("accepted");
        assert_eq!(back.flags, c.flags);
        assert_eq!(
            (back.v6, back.protocol, back.state),
            (c.v6, c.protocol, c.state)
        );
        assert_eq!(
            (back.cport, back.vport, back.dport),
            (c.cport, c.vport, c.dport)
        );
        assert_eq!(
            (back.caddr, back.vaddr, back.daddr),
            (c.caddr, c.vaddr, c.daddr)
        );
        assert_eq!((back.fwmark, back.timeout_secs), (c.fwmark, c.timeout_secs));
        if e.sends_seq() {
            assert_eq!(back.seq, Some(e.seq));
        } else {
            assert_eq!(back.seq, None);
        }
    }
    assert!(count <= usize::from(nr));
});
