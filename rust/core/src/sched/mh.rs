//! Maglev-hashing scheduling (`mh`).
//!
//! C source: `net/netfilter/ipvs/ip_vs_mh.c`; Kconfig `IP_VS_MH_TAB_INDEX` (default 12).
//!
//! The lookup table has a prime number of entries: `primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]`
//! of {251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071}, so **4093** with the
//! default index 12 (65521 needs index 16). Each destination gets a permutation of the
//! table positions: it starts at `offset` and steps by `skip`, both derived from
//! `hsiphash()` of its folded address + port under two fixed keys. The table is populated
//! round-robin in list order, each destination claiming its next free preferred position
//! `turns` times per round, where `turns` is its `last_weight` divided by the GCD of all
//! positive last weights, shifted right so the largest fits in `CONFIG_IP_VS_MH_TAB_INDEX / 2`
//! bits (`ip_vs_mh_populate()`, `ip_vs_mh_permutate()`, `ip_vs_mh_shift_weight()`).
//! Destinations with last weight 0 get no entries. Using `last_weight` rather than `weight`
//! keeps a quiesced (weight 0) destination in the table, so quiescing does not remap other
//! clients; lookups just treat it as unavailable.
//!
//! A client maps to entry `hsiphash(port + addr_fold) % size` (`ip_vs_mh_hashkey()`; the
//! port only with [`IP_VS_SVC_F_SCHED_MH_PORT`]). With [`IP_VS_SVC_F_SCHED_MH_FALLBACK`] an
//! unavailable destination makes the lookup re-hash with offsets `(k + ihash) % size`,
//! k = 0, 1, ..., until it finds an available one or an empty entry.
//!
//! Storage is the caller's: the table (`&mut [u32]` of [`Maglev::table_len`] destination
//! indices or [`EMPTY`]) and, while reassigning, one [`DestSetup`] per destination (C
//! allocates both; the kernel side can keep them in a `KVec`).

use core::num::NonZeroU32;

use super::siphash::{hsiphash, HsiphashKey};
use super::{
    gcd_of_positive, usable, Dest, Family, InetAddr, IP_VS_SVC_F_SCHED_MH_FALLBACK,
    IP_VS_SVC_F_SCHED_MH_PORT,
};

/// The table sizes `CONFIG_IP_VS_MH_TAB_INDEX` 8..=17 select (`primes[]` in ip_vs_mh.c).
pub const PRIMES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];
/// `CONFIG_IP_VS_MH_TAB_INDEX` default (`net/netfilter/ipvs/Kconfig`, also the fallback in
/// ip_vs_mh.c).
pub const DEFAULT_TAB_INDEX: u32 = 12;
/// Table size with the default index: `PRIMES[12 - 8]`.
pub const DEFAULT_TAB_SIZE: usize = 4093;
const _: () =
    assert!(PRIMES[(DEFAULT_TAB_INDEX - MIN_TAB_INDEX) as usize] as usize == DEFAULT_TAB_SIZE);
/// Smallest `CONFIG_IP_VS_MH_TAB_INDEX` Kconfig allows.
pub const MIN_TAB_INDEX: u32 = 8;
/// Largest `CONFIG_IP_VS_MH_TAB_INDEX` Kconfig allows.
pub const MAX_TAB_INDEX: u32 = 17;
/// A table entry with no destination (C: `NULL`; when no destination has a last weight).
pub const EMPTY: u32 = u32::MAX;

/// `generate_hash_secret()`: the key for lookups and for a destination's `offset`. Both
/// words are 2654435761 (0x9e3779b1), as `unsigned long`s.
pub const HASH1: HsiphashKey = HsiphashKey([2_654_435_761, 2_654_435_761]);
/// `generate_hash_secret()`: the key for a destination's `skip` (2654446892 = 0x9e37a52c).
pub const HASH2: HsiphashKey = HsiphashKey([2_654_446_892, 2_654_446_892]);

/// Why [`Maglev::reassign`] left the table untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReassignError {
    /// The table does not have [`Maglev::table_len`] entries.
    TableSize,
    /// Fewer [`DestSetup`] slots than destinations.
    SetupTooSmall,
    /// More destinations than table entries: C's `-EINVAL` from `ip_vs_mh_reassign()`
    /// (which fails service creation, and is ignored by the add/edit/delete paths, leaving
    /// the old table).
    TooManyDests,
}

/// `struct ip_vs_mh_dest_setup`: one destination's place in the population, scratch space
/// for [`Maglev::reassign`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DestSetup {
    /// `offset`: first preferred position.
    offset: u32,
    /// `skip`: step between preferred positions, in `1..size`.
    skip: u32,
    /// `perm`: the next position to try.
    perm: u32,
    /// `turns`: entries claimed per round (`last_weight / gcd >> rshift`, at least 1 if the
    /// last weight is not 0).
    turns: i32,
}

/// Per-service configuration of `mh`: table size and the service's address family. The
/// state is the caller's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maglev {
    /// `svc->af`: how addresses are folded.
    family: Family,
    /// `IP_VS_MH_TAB_SIZE`: one of [`PRIMES`]. Non-zero types make `%` panic-free.
    size: NonZeroU32,
    /// `IP_VS_MH_TAB_SIZE - 1`: the modulus for `skip`.
    size_less_one: NonZeroU32,
    /// `IP_VS_MH_TAB_BITS` = `CONFIG_IP_VS_MH_TAB_INDEX / 2`.
    bits: u32,
}

impl Maglev {
    /// `mh` with the default table (4093 entries) for a service of `family`.
    pub const fn new(family: Family) -> Self {
        const SIZE: NonZeroU32 = match NonZeroU32::new(DEFAULT_TAB_SIZE as u32) {
            Some(n) => n,
            None => panic!("table size is 0"),
        };
        const SIZE_LESS_ONE: NonZeroU32 = match NonZeroU32::new(DEFAULT_TAB_SIZE as u32 - 1) {
            Some(n) => n,
            None => panic!("table size is 1"),
        };
        Maglev {
            family,
            size: SIZE,
            size_less_one: SIZE_LESS_ONE,
            bits: DEFAULT_TAB_INDEX / 2,
        }
    }

    /// `mh` as built with `CONFIG_IP_VS_MH_TAB_INDEX = index`; `None` outside Kconfig's
    /// 8..=17.
    pub const fn with_tab_index(family: Family, index: u32) -> Option<Self> {
        if index < MIN_TAB_INDEX || index > MAX_TAB_INDEX {
            return None;
        }
        let prime = PRIMES[(index - MIN_TAB_INDEX) as usize];
        match (
            NonZeroU32::new(prime),
            NonZeroU32::new(prime.wrapping_sub(1)),
        ) {
            (Some(size), Some(size_less_one)) => Some(Maglev {
                family,
                size,
                size_less_one,
                bits: index / 2,
            }),
            _ => None,
        }
    }

    /// Number of table entries (`IP_VS_MH_TAB_SIZE`): the length the table must have.
    #[inline]
    pub const fn table_len(&self) -> usize {
        self.size.get() as usize
    }

    /// `ip_vs_mh_hashkey()`: `hsiphash()` of the 4 bytes of the `unsigned int`
    /// `offset + port + addr_fold`, in the CPU's byte order as C hashes `&v`.
    #[inline]
    fn hashkey(&self, addr: &InetAddr, port: u16, key: &HsiphashKey, offset: u32) -> u32 {
        let v = offset
            .wrapping_add(u32::from(port))
            .wrapping_add(addr.fold(self.family));
        hsiphash(key, &v.to_ne_bytes())
    }

    /// `ip_vs_mh_reassign()`: rebuild `table` for `dests`, with `setup` (at least
    /// `dests.len()` entries) as scratch. Call it when the service is bound (`init_service`;
    /// an error there fails the bind, as in C) and whenever a destination is added, removed
    /// or edited (the C `add_dest`, `del_dest`, `upd_dest` hooks). On error nothing is
    /// written.
    ///
    /// The result does not depend on what `table` held before: C overwrites every entry too.
    pub fn reassign<D: Dest>(
        &self,
        dests: &[D],
        table: &mut [u32],
        setup: &mut [DestSetup],
    ) -> Result<(), ReassignError> {
        if table.len() != self.table_len() {
            return Err(ReassignError::TableSize);
        }
        if dests.len() > self.table_len() {
            return Err(ReassignError::TooManyDests);
        }
        let Some(setup) = setup.get_mut(..dests.len()) else {
            return Err(ReassignError::SetupTooSmall);
        };
        // ip_vs_mh_gcd_weight(), ip_vs_mh_shift_weight().
        let gcd = gcd_of_positive(dests.iter().map(Dest::last_weight));
        if gcd < 1 {
            // No destination has a last weight: ip_vs_mh_reset().
            table.fill(EMPTY);
            return Ok(());
        }
        let rshift = self.shift_weight(dests, gcd);
        self.permutate(dests, setup, gcd, rshift);
        self.populate(table, setup);
        Ok(())
    }

    /// `ip_vs_mh_shift_weight()`: how far to shift `last_weight / gcd` so that the largest
    /// fits in `IP_VS_MH_TAB_BITS` bits.
    #[inline]
    fn shift_weight<D: Dest>(&self, dests: &[D], gcd: i32) -> u32 {
        let max = dests.iter().map(Dest::last_weight).fold(0, i32::max);
        // gcd >= 1 and max >= gcd: mw >= 1.
        let mw = max.checked_div(gcd).unwrap_or(0);
        let fls = u32::BITS - mw.unsigned_abs().leading_zeros();
        fls.saturating_sub(self.bits)
    }

    /// `ip_vs_mh_permutate()`: offset, skip and turns of every destination.
    fn permutate<D: Dest>(&self, dests: &[D], setup: &mut [DestSetup], gcd: i32, rshift: u32) {
        for (d, ds) in dests.iter().zip(setup.iter_mut()) {
            let (addr, port) = (d.addr(), d.port());
            let offset = self.hashkey(&addr, port, &HASH1, 0) % self.size;
            // In 1..size: no overflow.
            let skip = (self.hashkey(&addr, port, &HASH2, 0) % self.size_less_one).wrapping_add(1);
            let lw = d.last_weight();
            // gcd >= 1 (no division by zero or overflow) and rshift <= 31 - bits: the
            // fallbacks never apply.
            let turns = lw
                .checked_div(gcd)
                .unwrap_or(0)
                .checked_shr(rshift)
                .unwrap_or(0);
            let turns = if turns != 0 {
                turns
            } else {
                i32::from(lw != 0)
            };
            *ds = DestSetup {
                offset,
                skip,
                perm: offset,
                turns,
            };
        }
    }

    /// `ip_vs_mh_populate()`: fill every entry, taking destinations round-robin in list
    /// order, each claiming `turns` entries per round at its next free preferred positions.
    ///
    /// C tracks taken entries in a bitmap; here the table itself is that bitmap (cleared to
    /// [`EMPTY`] first). C overwrites every entry as well, so the outcome is the same.
    fn populate(&self, table: &mut [u32], setup: &mut [DestSetup]) {
        table.fill(EMPTY);
        // Some destination has turns >= 1 (its last weight is positive since gcd >= 1);
        // checking it here makes termination obvious.
        if !setup.iter().any(|ds| ds.turns >= 1) {
            return;
        }
        let size = self.size.get();
        let n = setup.len();
        let mut cur = 0usize;
        let mut claimed_this_turn = 0i32;
        let mut filled = 0u32;
        // Round-robin over the destinations; wrapping: `cur < n`.
        let next = |cur: usize| {
            if cur.wrapping_add(1) == n {
                0
            } else {
                cur.wrapping_add(1)
            }
        };
        while filled < size {
            let Some(ds) = setup.get_mut(cur) else {
                return; // Unreachable: `cur` wraps below `n`.
            };
            // Ignore servers with zero weight.
            if ds.turns < 1 {
                cur = next(cur);
                continue;
            }
            // Next free position on this destination's permutation. The size is prime and
            // 1 <= skip < size, so `size` steps visit every position, and one is free.
            let mut free = None;
            for _ in 0..size {
                if table.get(ds.perm as usize) == Some(&EMPTY) {
                    free = Some(ds.perm as usize);
                    break;
                }
                // perm < size and skip < size: no overflow, and one subtraction wraps it.
                ds.perm = ds.perm.wrapping_add(ds.skip);
                if ds.perm >= size {
                    ds.perm = ds.perm.wrapping_sub(size);
                }
            }
            let Some(entry) = free.and_then(|pos| table.get_mut(pos)) else {
                return; // Unreachable, see above.
            };
            // There are at most `size` destinations: the index fits.
            *entry = cur as u32;
            // Wrapping: `filled < size`, `claimed_this_turn < turns`.
            filled = filled.wrapping_add(1);
            claimed_this_turn = claimed_this_turn.wrapping_add(1);
            if claimed_this_turn >= ds.turns {
                claimed_this_turn = 0;
                cur = next(cur);
            }
        }
    }

    /// `ip_vs_mh_schedule()`: the destination for a client at `addr` (the packet's source, or
    /// its destination for a reverse-direction packet), `port` as [`super::hash_port`] gives
    /// it (used only with `IP_VS_SVC_F_SCHED_MH_PORT` in `flags`, the service's flags).
    ///
    /// `None` if the entry's destination is unavailable (overloaded or weight <= 0) and
    /// there is no fallback or the fallback finds nothing; also if `table` has the wrong
    /// length or holds indices `dests` does not have (a table not reassigned after a change).
    ///
    /// Cost: one `hsiphash()`; with fallback up to `table_len()` more.
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
        let port = if flags & IP_VS_SVC_F_SCHED_MH_PORT != 0 {
            port
        } else {
            0
        };
        let at = |entry: u32| {
            let i = *table.get(entry as usize)? as usize;
            dests.get(i).map(|d| (i, d))
        };
        let ihash = self.hashkey(addr, port, &HASH1, 0) % self.size;
        let (i, d) = at(ihash)?;
        if usable(d) {
            return Some(i);
        }
        if flags & IP_VS_SVC_F_SCHED_MH_FALLBACK == 0 {
            return None;
        }
        // Loop around the table starting from ihash.
        for offset in 0..self.size.get() {
            // Both below the size: no overflow.
            let roffset = offset.wrapping_add(ihash) % self.size;
            let (i, d) = at(self.hashkey(addr, port, &HASH1, roffset) % self.size)?;
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

    fn dest(i: usize, w: i32) -> DestInfo {
        DestInfo::new(InetAddr::from_ipv4([10, 0, (i >> 8) as u8, i as u8]), 80, w)
    }

    fn build(mh: &Maglev, d: &[DestInfo]) -> Vec<u32> {
        let mut t = std::vec![0u32; mh.table_len()];
        let mut s = std::vec![DestSetup::default(); d.len()];
        mh.reassign(d, &mut t, &mut s).unwrap();
        t
    }

    fn counts(t: &[u32], n: usize) -> Vec<usize> {
        let mut c = std::vec![0; n];
        for &i in t {
            c[i as usize] += 1;
        }
        c
    }

    #[test]
    fn geometry() {
        assert_eq!(Maglev::new(Family::Ipv4).table_len(), 4093);
        assert_eq!(
            Maglev::with_tab_index(Family::Ipv4, DEFAULT_TAB_INDEX),
            Some(Maglev::new(Family::Ipv4))
        );
        assert_eq!(
            Maglev::with_tab_index(Family::Ipv4, 16).map(|m| m.table_len()),
            Some(65521)
        );
        assert_eq!(
            Maglev::with_tab_index(Family::Ipv4, 8).map(|m| (m.table_len(), m.bits)),
            Some((251, 4))
        );
        assert_eq!(
            Maglev::with_tab_index(Family::Ipv4, 17).map(|m| (m.table_len(), m.bits)),
            Some((131071, 8))
        );
        assert_eq!(Maglev::with_tab_index(Family::Ipv4, 7), None);
        assert_eq!(Maglev::with_tab_index(Family::Ipv4, 18), None);
        for p in PRIMES {
            assert!(
                (2..p).take_while(|k| k * k <= p).all(|k| p % k != 0),
                "{p} is prime"
            );
        }
    }

    #[test]
    fn hash_input_is_the_folded_sum() {
        let mh = Maglev::new(Family::Ipv4);
        let a = InetAddr::from_ipv4([10, 0, 0, 1]);
        // v = offset + port + ntohl(addr) = 3 + 80 + 0x0a000001.
        let v: u32 = 3 + 80 + 0x0a00_0001;
        assert_eq!(
            mh.hashkey(&a, 80, &HASH1, 3),
            hsiphash(&HASH1, &v.to_ne_bytes())
        );
        assert_eq!(
            mh.hashkey(&a, 80, &HASH1, 3),
            mh.hashkey(&InetAddr::from_ipv4([10, 0, 0, 4]), 80, &HASH1, 0)
        );
    }

    /// The default 4093-entry table for 10.0.0.1-3:80 with weights 1, 2, 3 in list order:
    /// what the unmodified C ip_vs_mh.c answers (testdata/cref/query.c).
    #[test]
    fn fixed_clients_default_table() {
        let mh = Maglev::new(Family::Ipv4);
        let mut d: Vec<_> = (0..3)
            .map(|i| DestInfo::new(InetAddr::from_ipv4([10, 0, 0, i as u8 + 1]), 80, i + 1))
            .collect();
        let t = build(&mh, &d);
        // 4093 = 682 rounds of 1 + 2 + 3, plus one entry for the first destination.
        assert_eq!(counts(&t, 3), [683, 1364, 2046]);
        assert_eq!(t[..12], [2, 1, 1, 2, 2, 2, 1, 2, 2, 0, 0, 1]);
        let clients = [
            [192, 168, 1, 10],
            [10, 0, 0, 1],
            [172, 16, 5, 4],
            [8, 8, 8, 8],
            [203, 0, 113, 77],
        ];
        let ask = |flags: u32, d: &[DestInfo]| -> Vec<i64> {
            clients
                .iter()
                .map(|&a| {
                    mh.schedule(flags, d, &t, &InetAddr::from_ipv4(a), 12345)
                        .map_or(-1, |i| i as i64)
                })
                .collect()
        };
        assert_eq!(ask(0, &d), [0, 2, 2, 1, 1]);
        assert_eq!(ask(PORT, &d), [2, 2, 1, 2, 2]);
        d[2].overloaded = true;
        assert_eq!(ask(0, &d), [0, -1, -1, 1, 1]);
        assert_eq!(ask(FALLBACK, &d), [0, 1, 0, 1, 1]);
    }

    #[test]
    fn equal_weights_fill_evenly() {
        let mh = Maglev::with_tab_index(Family::Ipv4, 8).unwrap();
        let d: Vec<_> = (0..5).map(|i| dest(i, 1)).collect();
        let t = build(&mh, &d);
        // 251 = 50 * 5 + 1: one round-robin turn each, the first destination gets the extra.
        assert_eq!(counts(&t, 5), [51, 50, 50, 50, 50]);
    }

    #[test]
    fn weights_turns_and_shift() {
        let mh = Maglev::with_tab_index(Family::Ipv4, 8).unwrap(); // 251 entries, 4 bits
                                                                   // gcd 2: turns 1, 2, 3 → 6 per round; 251 = 41 * 6 + 5: last round 1, 2, 2.
        let d = [dest(0, 2), dest(1, 4), dest(2, 6)];
        assert_eq!(counts(&build(&mh, &d), 3), [42, 84, 125]);
        // max/gcd = 40 needs 6 bits: shift by 2 → turns 0→1 (lw != 0), 40 >> 2 = 10.
        let d = [dest(0, 1), dest(1, 40)];
        let mut s = [DestSetup::default(); 2];
        assert_eq!(mh.shift_weight(&d, 1), 2);
        mh.permutate(&d, &mut s, 1, 2);
        assert_eq!((s[0].turns, s[1].turns), (1, 10));
    }

    #[test]
    fn last_weight_not_weight_decides_the_table() {
        let mh = Maglev::with_tab_index(Family::Ipv4, 8).unwrap();
        let mut d: Vec<_> = (0..3).map(|i| dest(i, 1)).collect();
        let before = build(&mh, &d);
        // Quiesce index 1: weight 0, last_weight stays 1 (ip_vs_ctl keeps the last non-zero).
        d[1].weight = 0;
        assert_eq!(build(&mh, &d), before);
        // Its clients get nothing, or another destination with fallback.
        let client = (0u8..=255)
            .map(|x| InetAddr::from_ipv4([192, 0, 2, x]))
            .find(|a| mh.schedule(0, &d, &before, a, 0).is_none())
            .unwrap();
        let other = mh.schedule(FALLBACK, &d, &before, &client, 0).unwrap();
        assert_ne!(other, 1);
        // A destination added with weight 0 has last_weight 0: no entries.
        d.push(dest(3, 0));
        assert_eq!(counts(&build(&mh, &d), 4)[3], 0);
    }

    #[test]
    fn no_weights_empties_the_table() {
        let mh = Maglev::with_tab_index(Family::Ipv6, 8).unwrap();
        let t = build(&mh, &[dest(0, 0), dest(1, 0)]);
        assert!(t.iter().all(|&e| e == EMPTY));
        assert_eq!(
            mh.schedule(FALLBACK, &[dest(0, 0)], &t, &InetAddr::default(), 0),
            None
        );
        assert!(build(&mh, &[]).iter().all(|&e| e == EMPTY));
    }

    #[test]
    fn reassign_errors_leave_the_table_alone() {
        let mh = Maglev::with_tab_index(Family::Ipv4, 8).unwrap();
        let d: Vec<_> = (0..252).map(|i| dest(i, 1)).collect();
        let mut t = std::vec![7u32; 251];
        let mut s = std::vec![DestSetup::default(); 252];
        assert_eq!(
            mh.reassign(&d, &mut t, &mut s),
            Err(ReassignError::TooManyDests)
        );
        assert_eq!(
            mh.reassign(&d[..3], &mut t[..250], &mut s),
            Err(ReassignError::TableSize)
        );
        assert_eq!(
            mh.reassign(&d[..3], &mut t, &mut s[..2]),
            Err(ReassignError::SetupTooSmall)
        );
        assert!(t.iter().all(|&e| e == 7));
        // Exactly as many destinations as entries is fine: one entry each.
        assert_eq!(mh.reassign(&d[..251], &mut t, &mut s), Ok(()));
        assert_eq!(counts(&t, 251), std::vec![1; 251]);
    }

    #[test]
    fn bad_tables_yield_none() {
        let mh = Maglev::new(Family::Ipv4);
        let d = [dest(0, 1)];
        assert_eq!(
            mh.schedule(FALLBACK, &d, &[0u32; 10], &InetAddr::default(), 0),
            None
        );
        assert_eq!(
            mh.schedule(
                FALLBACK,
                &d,
                &std::vec![5u32; 4093],
                &InetAddr::default(),
                0
            ),
            None
        );
    }

    #[test]
    fn port_flag() {
        let mh = Maglev::new(Family::Ipv4);
        let d: Vec<_> = (0..8).map(|i| dest(i, 1)).collect();
        let t = build(&mh, &d);
        let a = InetAddr::from_ipv4([198, 51, 100, 7]);
        let fixed = mh.schedule(0, &d, &t, &a, 0);
        assert!((0..100).all(|p| mh.schedule(0, &d, &t, &a, p) == fixed));
        let spread: std::collections::BTreeSet<_> = (0..100)
            .filter_map(|p| mh.schedule(PORT, &d, &t, &a, p))
            .collect();
        assert!(spread.len() > 4);
    }

    /// `n` weight-1 destinations with salted addresses, and their default table.
    fn salted(n: usize, salt: u16) -> (Vec<DestInfo>, Vec<u32>) {
        let d: Vec<_> = (0..n)
            .map(|i| {
                DestInfo::new(
                    InetAddr::from_ipv4([10, (salt >> 8) as u8, salt as u8, i as u8]),
                    80,
                    1,
                )
            })
            .collect();
        let t = build(&Maglev::new(Family::Ipv4), &d);
        (d, t)
    }

    /// Remove destination `r` and rebuild. Returns (survivors' entries that changed owner,
    /// entries of `r` that changed owner, entries `r` owned).
    fn removal_disruption(d: &[DestInfo], before: &[u32], r: usize) -> (usize, usize, usize) {
        let mut rest = d.to_vec();
        rest.remove(r);
        let after = build(&Maglev::new(Family::Ipv4), &rest);
        // Owners by identity: indices at or after `r` shifted down by one.
        let new_owner = |e: u32| {
            if (e as usize) >= r {
                e as usize + 1
            } else {
                e as usize
            }
        };
        let changed = |(&b, &a): (&u32, &u32)| b as usize != new_owner(a);
        let pairs = || before.iter().zip(&after);
        let moved_survivors = pairs()
            .filter(|&(&b, _)| b as usize != r)
            .filter(|&p| changed(p))
            .count();
        let moved_gone = pairs()
            .filter(|&(&b, _)| b as usize == r)
            .filter(|&p| changed(p))
            .count();
        let owned_gone = before.iter().filter(|&&b| b as usize == r).count();
        (moved_survivors, moved_gone, owned_gone)
    }

    #[test]
    fn removal_disruption_is_small_on_average() {
        // Deterministic: N = 2..=40, five address sets each, removing the first, second,
        // middle and last destination.
        let (mut moved, mut total) = (0, 0);
        for n in 2..=40 {
            for salt in 0..5 {
                let (d, before) = salted(n, salt);
                let mut rs = std::vec![0, 1, n / 2, n - 1];
                rs.dedup();
                for r in rs {
                    let (survivors, gone, owned) = removal_disruption(&d, &before, r);
                    assert_eq!(gone, owned);
                    moved += survivors;
                    total += before.len();
                }
            }
        }
        // Survivors keep >= 97% of their entries on average (measured: about 98.5%).
        assert!(
            moved * 100 <= total * 3,
            "survivors lost {moved} of {total} entries"
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Turns per destination, computed from the C definitions independently.
        fn ref_turns(lw: &[i32], bits: u32) -> Vec<i64> {
            let g = lw.iter().filter(|&&w| w > 0).fold(0i64, |g, &w| {
                let (mut a, mut b) = (w as i64, g);
                while b != 0 {
                    let t = a % b;
                    a = b;
                    b = t;
                }
                a
            });
            let mw = lw.iter().copied().max().unwrap_or(0) as i64 / g;
            let fls = 64 - (mw as u64).leading_zeros() as i64;
            let shift = (fls - bits as i64).max(0);
            lw.iter()
                .map(|&w| {
                    let t = (w as i64 / g) >> shift;
                    if t != 0 {
                        t
                    } else {
                        (w != 0) as i64
                    }
                })
                .collect()
        }

        /// Entries each destination gets: whole rounds of `turns`, then the partial last
        /// round in list order.
        fn ref_counts(turns: &[i64], size: i64) -> Vec<i64> {
            let per_round: i64 = turns.iter().filter(|&&t| t > 0).sum();
            let rounds = size / per_round;
            let mut rest = size - rounds * per_round;
            turns
                .iter()
                .map(|&t| {
                    if t <= 0 {
                        return 0;
                    }
                    let extra = rest.min(t);
                    rest -= extra;
                    rounds * t + extra
                })
                .collect()
        }

        fn weights() -> impl Strategy<Value = Vec<i32>> {
            proptest::collection::vec(
                prop_oneof![1 => Just(0), 6 => 1i32..20, 1 => 1i32..100_000],
                1..24,
            )
            .prop_filter("some weight", |w| w.iter().any(|&x| x > 0))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn every_entry_owned_by_a_weighted_dest_in_exact_proportion(w in weights(), index in prop_oneof![Just(8u32), Just(12u32)]) {
                let mh = Maglev::with_tab_index(Family::Ipv4, index).unwrap();
                let d: Vec<_> = w.iter().enumerate().map(|(i, &x)| dest(i, x)).collect();
                let t = build(&mh, &d);
                prop_assert!(t.iter().all(|&e| (e as usize) < d.len() && d[e as usize].last_weight > 0));
                let turns = ref_turns(&w, mh.bits);
                let got: Vec<i64> = counts(&t, d.len()).into_iter().map(|c| c as i64).collect();
                let size = mh.table_len() as i64;
                prop_assert_eq!(&got, &ref_counts(&turns, size));
                // So each count is within one round (`turns`) of the exact share of the table.
                let total: i64 = turns.iter().sum();
                for (c, t) in got.iter().zip(&turns) {
                    prop_assert!((c * total - size * t).abs() <= t * total);
                }
            }

            /// Removing one of N equally weighted destinations (M = 4093, N = 2..=40, so
            /// M >= 100 N as the Maglev paper recommends).
            ///
            /// Every entry of the leaving destination must move: that is exact. Entries of
            /// the survivors should mostly stay: a survivor's preference list does not
            /// change, so it re-claims the same positions until a shifted claim by someone
            /// else gets there first. Maglev gives no worst-case bound for this (paper,
            /// section 3.4: "minimal disruption" is a goal, not a guarantee); measured over
            /// 58,500 random removals with this C algorithm, survivors lost at most 13% of
            /// the table and 99.5% of removals moved under 3%. The per-case bound tested is
            /// 25% of the table, which a rehash-everything implementation breaks (it moves
            /// about (N - 2) / N of it, a third or more for N >= 3); the deterministic
            /// `removal_disruption_is_small_on_average` below pins the average at <= 3%.
            #[test]
            fn removal_moves_little(n in 2usize..=40, gone in any::<prop::sample::Index>(), salt in any::<u16>()) {
                let (d, before) = salted(n, salt);
                let r = gone.index(n);
                let (moved_survivors, moved_gone, owned_gone) = removal_disruption(&d, &before, r);
                prop_assert_eq!(moved_gone, owned_gone);
                prop_assert!(moved_survivors * 4 <= before.len(), "n={} r={} salt={} moved {}", n, r, salt, moved_survivors);
            }

            #[test]
            fn lookups_are_deterministic_and_usable(
                w in weights(), over in proptest::collection::vec(proptest::bool::weighted(0.3), 24),
                clients in proptest::collection::vec((any::<[u8; 16]>(), any::<u16>(), 0u32..4), 1..20),
            ) {
                let mh = Maglev::with_tab_index(Family::Ipv6, 8).unwrap();
                let mut d: Vec<_> = w.iter().enumerate().map(|(i, &x)| dest(i, x)).collect();
                for (x, &o) in d.iter_mut().zip(&over) {
                    x.overloaded = o;
                }
                let t = build(&mh, &d);
                for (a, p, f) in &clients {
                    let flags = f << 3;
                    let got = mh.schedule(flags, &d, &t, &InetAddr(*a), *p);
                    prop_assert_eq!(got, mh.schedule(flags, &d, &t, &InetAddr(*a), *p));
                    if let Some(i) = got {
                        prop_assert!(d[i].weight > 0 && !d[i].overloaded);
                    }
                }
            }
        }
    }
}
