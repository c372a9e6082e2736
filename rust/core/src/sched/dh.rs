//! Destination-hashing scheduling (`dh`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_dh.c` (`IP_VS_DH_TAB_BITS` = 8; no Kconfig option).
//!
//! C fills a table of 256 buckets with the destinations in list order, one bucket each,
//! round and round (`ip_vs_dh_reassign()`, run at bind and by the `add_dest` and `del_dest`
//! hooks; weights play no part and there is no `upd_dest` hook), and maps a packet to
//! bucket `hash_32(daddr_fold, 8)` of its *destination* address. So bucket `b` always holds
//! destination `b mod n` of the current list, and no table is needed: [`DestinationHash`]
//! computes it. If that destination is overloaded or has weight <= 0 the packet gets
//! nothing (there is no fallback flag).

use super::sh::hash_32;
use super::{Dest, Family, InetAddr};

/// `IP_VS_DH_TAB_BITS`.
pub const DEFAULT_TAB_BITS: u32 = 8;

/// Per-service configuration of `dh`: table size and address family. There is no state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestinationHash {
    /// `svc->af`: how addresses are folded.
    family: Family,
    /// `IP_VS_DH_TAB_BITS`. Invariant: within 1..=20.
    bits: u32,
}

impl DestinationHash {
    /// `dh` as Linux builds it (256 buckets) for a service of `family`.
    #[inline]
    pub const fn new(family: Family) -> Self {
        DestinationHash {
            family,
            bits: DEFAULT_TAB_BITS,
        }
    }

    /// `dh` built with `CONFIG_IP_VS_DH_TAB_BITS = bits` (the C source honours the define;
    /// tests use 4); `None` outside 1..=20.
    #[inline]
    pub const fn with_tab_bits(family: Family, bits: u32) -> Option<Self> {
        if bits < 1 || bits > 20 {
            return None;
        }
        // INVARIANT: checked just above.
        Some(DestinationHash { family, bits })
    }

    /// Number of buckets (`IP_VS_DH_TAB_SIZE`).
    #[inline]
    pub const fn table_len(&self) -> usize {
        1usize.wrapping_shl(self.bits)
    }

    /// `ip_vs_dh_hashkey()`: the bucket of a destination address.
    #[inline]
    pub fn bucket(&self, daddr: &InetAddr) -> usize {
        hash_32(daddr.fold(self.family), self.bits) as usize
    }

    /// The index of the destination C's table holds in `bucket` for a service with
    /// `dests_len` destinations (`None`, C's `NULL`, when it has none).
    #[inline]
    pub fn slot(&self, bucket: usize, dests_len: usize) -> Option<usize> {
        bucket.checked_rem(dests_len)
    }

    /// `ip_vs_dh_schedule()`: the destination for a packet to `daddr` (`iph->daddr`, the
    /// packet's destination address, also for a packet seen in the reverse direction).
    #[inline]
    pub fn schedule<D: Dest>(&self, dests: &[D], daddr: &InetAddr) -> Option<usize> {
        let i = self.slot(self.bucket(daddr), dests.len())?;
        let d = dests.get(i)?;
        if d.weight() <= 0 || d.overloaded() {
            return None;
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::super::dests_with_weights;
    use super::*;

    #[test]
    fn buckets_cycle_through_the_list() {
        let dh = DestinationHash::new(Family::Ipv4);
        assert_eq!(dh.table_len(), 256);
        // 192.168.1.10: hash_32(0xc0a8010a, 8) = 0xf8 = 248 (see sh.rs); 248 mod 3 = 2.
        let a = InetAddr::from_ipv4([192, 168, 1, 10]);
        assert_eq!(dh.bucket(&a), 248);
        let mut v = dests_with_weights(&[1, 1, 1]);
        assert_eq!(dh.schedule(&v, &a), Some(2));
        v[2].overloaded = true;
        assert_eq!(dh.schedule(&v, &a), None);
        v[2].overloaded = false;
        v[2].weight = 0;
        assert_eq!(dh.schedule(&v, &a), None);
        assert_eq!(dh.schedule(&dests_with_weights(&[]), &a), None);
        assert_eq!(DestinationHash::with_tab_bits(Family::Ipv4, 0), None);
    }
}
