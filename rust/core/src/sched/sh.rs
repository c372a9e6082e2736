//! Source-hashing scheduling (`sh`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_sh.c`; Kconfig `IP_VS_SH_TAB_BITS` (default 8).
//!
//! A table of `1 << bits` buckets (256 by default) is tiled with the destinations in list
//! order, each taking `weight` consecutive buckets (at least one, even with weight 0), over
//! and over until the table is full (`ip_vs_sh_reassign()`). A client is mapped to bucket
//! `hash_32(port + addr_fold, bits)` (`ip_vs_sh_hashkey()`; the port only with
//! [`IP_VS_SVC_F_SCHED_SH_PORT`]). If that destination is overloaded or has weight <= 0 the
//! client gets nothing, unless [`IP_VS_SVC_F_SCHED_SH_FALLBACK`] is set: then the buckets
//! `(2 * ihash + k) mod size` for k = 0, 1, ... are tried in turn (C re-hashes with offset
//! `(k + ihash) % size`, and the offset is added to the hash once more), stopping at an
//! empty bucket.
//!
//! The table is caller storage: `&mut [u32]` of [`SourceHash::table_len`] entries, each the
//! index of a destination or [`EMPTY`].

use super::{
    usable, Dest, Family, InetAddr, IP_VS_SVC_F_SCHED_SH_FALLBACK, IP_VS_SVC_F_SCHED_SH_PORT,
};

/// `CONFIG_IP_VS_SH_TAB_BITS` default (`net/netfilter/ipvs/Kconfig`, also the fallback in
/// ip_vs_sh.c).
pub const DEFAULT_TAB_BITS: u32 = 8;
/// Table size with the default: 256 buckets.
pub const DEFAULT_TAB_SIZE: usize = 1 << DEFAULT_TAB_BITS;
/// Smallest `CONFIG_IP_VS_SH_TAB_BITS` Kconfig allows.
pub const MIN_TAB_BITS: u32 = 4;
/// Largest `CONFIG_IP_VS_SH_TAB_BITS` Kconfig allows.
pub const MAX_TAB_BITS: u32 = 20;
/// A bucket with no destination (C: `NULL`; only when the service has none).
pub const EMPTY: u32 = u32::MAX;

/// `GOLDEN_RATIO_32` of `include/linux/hash.h` (6.12; older kernels used 0x9e370001).
const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// `hash_32()`: the top `bits` bits of `val * GOLDEN_RATIO_32`, for `bits` in 1..=32 (no
/// architecture ipvs-rs targets overrides the generic version, and overrides must agree
/// with it). Wrapping shifts: no overflow-check panic path; they are exact in that range.
#[inline]
pub(crate) fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(GOLDEN_RATIO_32)
        .wrapping_shr(32u32.wrapping_sub(bits))
}

/// The table size is wrong for this configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSizeError;

/// Per-service configuration of `sh`: the table geometry and the service's address family.
/// The state itself is the caller's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceHash {
    /// `svc->af`: how client addresses are folded.
    family: Family,
    /// `IP_VS_SH_TAB_BITS`. Invariant: within `MIN_TAB_BITS..=MAX_TAB_BITS`.
    bits: u32,
}

impl SourceHash {
    /// `sh` with the default table (256 buckets) for a service of `family`.
    #[inline]
    pub const fn new(family: Family) -> Self {
        SourceHash {
            family,
            bits: DEFAULT_TAB_BITS,
        }
    }

    /// `sh` as built with `CONFIG_IP_VS_SH_TAB_BITS = bits`; `None` outside Kconfig's 4..=20.
    #[inline]
    pub const fn with_tab_bits(family: Family, bits: u32) -> Option<Self> {
        if bits < MIN_TAB_BITS || bits > MAX_TAB_BITS {
            return None;
        }
        // INVARIANT: checked just above.
        Some(SourceHash { family, bits })
    }

    /// Number of buckets (`IP_VS_SH_TAB_SIZE`): the length the table must have.
    #[inline]
    pub const fn table_len(&self) -> usize {
        1usize.wrapping_shl(self.bits)
    }

    /// `ip_vs_sh_hashkey()`: bucket for a client, with `offset` added before masking.
    #[inline]
    fn bucket(&self, addr: &InetAddr, port: u16, offset: u32) -> usize {
        // bits <= 20 (invariant): the shift is exact.
        let mask = 1u32.wrapping_shl(self.bits).wrapping_sub(1);
        let h = hash_32(
            u32::from(port).wrapping_add(addr.fold(self.family)),
            self.bits,
        );
        (offset.wrapping_add(h) & mask) as usize
    }

    /// `ip_vs_sh_reassign()`: fill `table` from `dests`. Call it when the service is bound
    /// (`init_service`) and whenever a destination is added, removed or edited (the C
    /// `add_dest`, `del_dest`, `upd_dest` hooks).
    pub fn reassign<D: Dest>(&self, dests: &[D], table: &mut [u32]) -> Result<(), TableSizeError> {
        if table.len() != self.table_len() {
            return Err(TableSizeError);
        }
        if dests.is_empty() {
            table.fill(EMPTY);
            return Ok(());
        }
        let mut cur = 0usize;
        let mut filled: i32 = 0;
        for bucket in table.iter_mut() {
            let Some(d) = dests.get(cur) else {
                // Unreachable: `cur` wraps below `dests.len()`.
                *bucket = EMPTY;
                continue;
            };
            // A table index fits: there are at most 2^20 buckets, so at most that many
            // destinations are ever reached.
            *bucket = cur as u32;
            // Don't move to the next destination until it has `weight` buckets (at least
            // one: the count is compared after incrementing). Wrapping adds: `filled` stays
            // below the table size, `cur` below `dests.len()`.
            filled = filled.wrapping_add(1);
            if filled >= d.weight() {
                filled = 0;
                cur = cur.wrapping_add(1);
                if cur == dests.len() {
                    cur = 0;
                }
            }
        }
        Ok(())
    }

    /// `ip_vs_sh_schedule()`: the destination for a client at `addr` (the packet's source, or
    /// its destination for a reverse-direction packet), `port` as [`super::hash_port`] gives
    /// it (used only with `IP_VS_SVC_F_SCHED_SH_PORT` in `flags`, the service's flags).
    ///
    /// `None` if the bucket's destination is unavailable (overloaded or weight <= 0) and
    /// there is no fallback or the fallback finds nothing; also if `table` has the wrong
    /// length or holds indices `dests` does not have (a table not reassigned after a change).
    pub fn schedule<D: Dest>(
        &self,
        flags: u32,
        dests: &[D],
        table: &[u32],
        addr: &InetAddr,
        port: u16,
    ) -> Option<usize> {
        if table.len() != self.table_len() {
            return None;
        }
        let port = if flags & IP_VS_SVC_F_SCHED_SH_PORT != 0 {
            port
        } else {
            0
        };
        let at = |bucket: usize| {
            let i = *table.get(bucket)? as usize;
            dests.get(i).map(|d| (i, d))
        };
        let ihash = self.bucket(addr, port, 0);
        let (i, d) = at(ihash)?;
        if usable(d) {
            return Some(i);
        }
        if flags & IP_VS_SVC_F_SCHED_SH_FALLBACK == 0 {
            return None;
        }
        // Loop around the table from the original hash (to stay deterministic). The size is
        // a power of two: `% size` is `& mask`.
        let mask = self.table_len().wrapping_sub(1);
        for offset in 0..self.table_len() {
            let roffset = (offset.wrapping_add(ihash) & mask) as u32;
            let (i, d) = at(self.bucket(addr, port, roffset))?;
            if usable(d) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DestInfo, IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2};
    use super::*;
    use std::vec::Vec;

    const FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
    const PORT: u32 = IP_VS_SVC_F_SCHED2;

    fn dests(weights: &[i32]) -> Vec<DestInfo> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| DestInfo::new(InetAddr::from_ipv4([10, 0, 0, i as u8 + 1]), 80, w))
            .collect()
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> InetAddr {
        InetAddr::from_ipv4([a, b, c, d])
    }

    #[test]
    fn geometry() {
        assert_eq!(SourceHash::new(Family::Ipv4).table_len(), 256);
        assert_eq!(DEFAULT_TAB_SIZE, 256);
        assert_eq!(
            SourceHash::with_tab_bits(Family::Ipv4, 4).map(|s| s.table_len()),
            Some(16)
        );
        assert_eq!(
            SourceHash::with_tab_bits(Family::Ipv4, 20).map(|s| s.table_len()),
            Some(1 << 20)
        );
        assert_eq!(SourceHash::with_tab_bits(Family::Ipv4, 3), None);
        assert_eq!(SourceHash::with_tab_bits(Family::Ipv4, 21), None);
    }

    #[test]
    fn hash_32_values() {
        // hash_32(x, 8) = (x * 0x61C88647) >> 24, worked by hand.
        assert_eq!(hash_32(0, 8), 0);
        assert_eq!(hash_32(1, 8), 0x61);
        assert_eq!(
            hash_32(0xc0a8_010a, 8),
            ((0xc0a8_010au64 * 0x61C8_8647) as u32 >> 24)
        );
    }

    #[test]
    fn table_tiling_follows_weights() {
        let sh = SourceHash::with_tab_bits(Family::Ipv4, 4).unwrap();
        let mut t = [0u32; 16];
        sh.reassign(&dests(&[3, 0, 2, -5]), &mut t).unwrap();
        // 3 buckets, then 1 for weight 0, 2, 1 for negative weight, and around again.
        assert_eq!(t, [0, 0, 0, 1, 2, 2, 3, 0, 0, 0, 1, 2, 2, 3, 0, 0]);
        sh.reassign(&dests(&[100]), &mut t).unwrap();
        assert_eq!(t, [0; 16]);
        sh.reassign(&dests(&[]), &mut t).unwrap();
        assert_eq!(t, [EMPTY; 16]);
        assert_eq!(
            sh.reassign(&dests(&[1]), &mut [0u32; 15]),
            Err(TableSizeError)
        );
    }

    /// Clients used for golden values.
    const CLIENTS: [[u8; 4]; 5] = [
        [192, 168, 1, 10],
        [10, 0, 0, 1],
        [172, 16, 5, 4],
        [8, 8, 8, 8],
        [203, 0, 113, 77],
    ];

    /// The default 256-bucket table, weights 1, 2, 3 in list order: what the unmodified C
    /// ip_vs_sh.c answers (testdata/cref/query.c), and one hash worked by hand.
    #[test]
    fn fixed_clients_default_table() {
        let sh = SourceHash::new(Family::Ipv4);
        let mut d = dests(&[1, 2, 3]);
        let mut t = [0u32; 256];
        sh.reassign(&d, &mut t).unwrap();
        // 192.168.1.10: (0xc0a8010a * 0x61c88647) mod 2^32 = 0xf8f385c6 → bucket 0xf8 = 248;
        // 248 mod 6 = 2 in the pattern 0,1,1,2,2,2 → destination 1.
        assert_eq!(0xc0a8_010au32.wrapping_mul(0x61c8_8647), 0xf8f3_85c6);
        assert_eq!(sh.bucket(&v4(192, 168, 1, 10), 0, 0), 248);
        let ask = |flags: u32, d: &[DestInfo]| -> Vec<i64> {
            CLIENTS
                .iter()
                .map(|&a| {
                    sh.schedule(flags, d, &t, &InetAddr::from_ipv4(a), 12345)
                        .map_or(-1, |i| i as i64)
                })
                .collect()
        };
        assert_eq!(ask(0, &d), [1, 2, 0, 1, 2]);
        assert_eq!(ask(PORT, &d), [2, 1, 2, 2, 1]);
        d[2].overloaded = true;
        assert_eq!(ask(0, &d), [1, -1, 0, 1, -1]);
        assert_eq!(ask(FALLBACK, &d), [1, 0, 0, 1, 0]);
    }

    #[test]
    fn unavailable_without_and_with_fallback() {
        let sh = SourceHash::with_tab_bits(Family::Ipv4, 4).unwrap();
        let mut d = dests(&[1, 1]);
        let mut t = [0u32; 16];
        sh.reassign(&d, &mut t).unwrap();
        let client = v4(10, 1, 2, 3);
        let home = sh.schedule(0, &d, &t, &client, 0).unwrap();
        d[home].overloaded = true;
        assert_eq!(sh.schedule(0, &d, &t, &client, 0), None);
        assert_eq!(sh.schedule(FALLBACK, &d, &t, &client, 0), Some(1 - home));
        d[1 - home].weight = 0;
        assert_eq!(sh.schedule(FALLBACK, &d, &t, &client, 0), None);
    }

    #[test]
    fn port_flag_changes_the_key() {
        let sh = SourceHash::new(Family::Ipv4);
        let client = v4(10, 1, 2, 3);
        // hash_32(port + addr): port 1 vs 0 moves the bucket by GOLDEN_RATIO_32 >> 24-ish.
        assert_ne!(sh.bucket(&client, 1, 0), sh.bucket(&client, 0, 0));
        let d = dests(&[1; 7]);
        let mut t = [0u32; 256];
        sh.reassign(&d, &mut t).unwrap();
        let spread: std::collections::BTreeSet<_> = (0..64u16)
            .filter_map(|p| sh.schedule(PORT, &d, &t, &client, p))
            .collect();
        assert!(spread.len() > 1);
    }

    #[test]
    fn bad_tables_yield_none() {
        let sh = SourceHash::new(Family::Ipv6);
        let d = dests(&[1, 1]);
        assert_eq!(
            sh.schedule(FALLBACK, &d, &[0u32; 10], &InetAddr::default(), 0),
            None
        );
        // Stale indices (table not reassigned after removals) are treated as empty buckets.
        assert_eq!(
            sh.schedule(FALLBACK, &d, &[7u32; 256], &InetAddr::default(), 0),
            None
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Straightforward transcription of ip_vs_sh_reassign(), ip_vs_sh_hashkey() and
        /// ip_vs_sh_get{,_fallback}() over a Vec, written independently of the code above.
        struct Reference {
            bits: u32,
            buckets: Vec<Option<usize>>,
        }

        impl Reference {
            fn new(bits: u32, d: &[DestInfo]) -> Self {
                let size = 1usize << bits;
                let mut buckets = Vec::new();
                let (mut p, mut count) = (0usize, 0i32);
                for _ in 0..size {
                    if d.is_empty() {
                        buckets.push(None);
                        continue;
                    }
                    buckets.push(Some(p));
                    count += 1;
                    if count >= d[p].weight {
                        p = (p + 1) % d.len();
                        count = 0;
                    }
                }
                Reference { bits, buckets }
            }

            fn hashkey(&self, fam: Family, a: &InetAddr, port: u16, offset: u32) -> usize {
                let b = a.0;
                let w = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
                let fold = match fam {
                    Family::Ipv4 => w(0),
                    Family::Ipv6 => w(0) ^ w(4) ^ w(8) ^ w(12),
                };
                let v = (port as u32).wrapping_add(fold);
                let h = (v as u64 * 0x61C8_8647u64) as u32 >> (32 - self.bits);
                (offset.wrapping_add(h) & ((1 << self.bits) - 1)) as usize
            }

            fn get(
                &self,
                d: &[DestInfo],
                fam: Family,
                flags: u32,
                a: &InetAddr,
                port: u16,
            ) -> Option<usize> {
                let port = if flags & PORT != 0 { port } else { 0 };
                let bad = |i: usize| d[i].weight <= 0 || d[i].overloaded;
                let ihash = self.hashkey(fam, a, port, 0);
                let first = self.buckets[ihash]?;
                if !bad(first) {
                    return Some(first);
                }
                if flags & FALLBACK == 0 {
                    return None;
                }
                let size = self.buckets.len();
                for off in 0..size {
                    let roff = ((off + ihash) % size) as u32;
                    let i = self.buckets[self.hashkey(fam, a, port, roff)]?;
                    if !bad(i) {
                        return Some(i);
                    }
                }
                None
            }
        }

        fn dest() -> impl Strategy<Value = DestInfo> {
            (
                prop_oneof![Just(0), 1i32..5, 1i32..300],
                proptest::bool::weighted(0.25),
            )
                .prop_map(|(w, o)| DestInfo {
                    overloaded: o,
                    ..DestInfo::new(InetAddr::default(), 0, w)
                })
        }

        fn addr() -> impl Strategy<Value = InetAddr> {
            any::<[u8; 16]>().prop_map(InetAddr)
        }

        proptest! {
            #[test]
            fn matches_transcription(
                bits in 4u32..=10,
                d in proptest::collection::vec(dest(), 0..12),
                v6 in any::<bool>(),
                flags in (0u32..8).prop_map(|f| f << 3),
                clients in proptest::collection::vec((addr(), any::<u16>()), 1..30),
            ) {
                let fam = if v6 { Family::Ipv6 } else { Family::Ipv4 };
                let sh = SourceHash::with_tab_bits(fam, bits).unwrap();
                let mut t = std::vec![0u32; sh.table_len()];
                sh.reassign(&d, &mut t).unwrap();
                let r = Reference::new(bits, &d);
                let want: Vec<u32> = r.buckets.iter().map(|b| b.map_or(EMPTY, |i| i as u32)).collect();
                prop_assert_eq!(&t, &want);
                for (a, p) in &clients {
                    let got = sh.schedule(flags, &d, &t, a, *p);
                    prop_assert_eq!(got, r.get(&d, fam, flags, a, *p));
                    // Deterministic, and only ever a usable destination.
                    prop_assert_eq!(got, sh.schedule(flags, &d, &t, a, *p));
                    if let Some(i) = got {
                        prop_assert!(d[i].weight > 0 && !d[i].overloaded);
                    }
                }
            }

            #[test]
            fn fallback_finds_a_usable_dest_when_one_is_in_the_table(
                d in proptest::collection::vec(dest(), 1..8),
                clients in proptest::collection::vec(addr(), 1..20),
            ) {
                let sh = SourceHash::new(Family::Ipv6);
                let mut t = [0u32; 256];
                sh.reassign(&d, &mut t).unwrap();
                // Every bucket is filled (the walk never meets an empty one) and the walk
                // visits every bucket, so fallback fails only if no bucket is usable.
                let any_usable = t.iter().any(|&i| d[i as usize].weight > 0 && !d[i as usize].overloaded);
                for a in &clients {
                    prop_assert_eq!(sh.schedule(FALLBACK, &d, &t, a, 0).is_some(), any_usable);
                }
            }
        }
    }
}
