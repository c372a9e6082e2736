//! Host run of the core's packet-path functions (parse_l3l4, IcmpError::parse, checksums, dnat/snat,
//! nat_icmp) over a corpus written by tests/vm/rel/pktfuzz.c -w, each packet also truncated;
//! overflow checks and debug assertions on. Exit 1 if anything panicked. See tests/pktfuzz-core.sh.
use ipvs_core::proto::tcp::TcpFlags;
use ipvs_core::wire::nat::{self, ChecksumMode, IcmpDirection};
use ipvs_core::wire::{self, Family, InetAddr};
use std::panic;

fn run(pkt: &[u8], fam: Family) {
    let head = &pkt[..pkt.len().min(192)];
    if let Ok(h) = wire::parse_l3l4(head, fam) {
        let _ = h.is_complete(head);
        let l4 = h.l4_slice(head);
        let _ = TcpFlags::from_header(l4);
        let _ = wire::l4_checksum_ok(pkt, &h);
        if let Ok(e) = wire::IcmpError::parse(pkt, &h) {
            let _ = e;
        }
        let a = InetAddr([10, 0, 1, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for mode in [ChecksumMode::Full, ChecksumMode::Partial] {
            let mut b = pkt.to_vec();
            let _ = nat::dnat(&mut b, fam, &a, 8080, mode);
            let mut b = pkt.to_vec();
            let _ = nat::snat(&mut b, fam, &a, 8080, mode);
        }
        for d in [IcmpDirection::In, IcmpDirection::Out] {
            let mut b = pkt.to_vec();
            let _ = nat::nat_icmp(&mut b, fam, d, &a, 8080);
        }
    }
    // also the whole packet, as a full parse would see it
    let _ = wire::parse_l3l4(pkt, fam);
}

fn main() {
    let data = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let mut off = 0usize;
    let (mut n, mut panics) = (0u64, 0u64);
    panic::set_hook(Box::new(|_| {}));
    while off + 5 <= data.len() {
        let len = u32::from_le_bytes(data[off..off + 4].try_into().unwrap()) as usize;
        let fam = if data[off + 4] == 6 {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        let pkt = &data[off + 5..off + 5 + len];
        off += 5 + len;
        n += 1;
        // truncations of every packet too
        for cut in [
            pkt.len(),
            pkt.len().saturating_sub(1),
            pkt.len() / 2,
            20,
            40,
        ] {
            let p = &pkt[..cut.min(pkt.len())];
            if let Err(e) = panic::catch_unwind(|| run(p, fam)) {
                panics += 1;
                if panics <= 5 {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or(e.downcast_ref::<&str>().map(|s| s.to_string()));
                    eprintln!(
                        "PANIC on packet {} cut {}: {:?}: {}",
                        n,
                        cut,
                        msg,
                        p.iter().map(|b| format!("{:02x}", b)).collect::<String>()
                    );
                }
            }
        }
    }
    println!("packets {} panics {}", n, panics);
    std::process::exit(if panics == 0 { 0 } else { 1 });
}
