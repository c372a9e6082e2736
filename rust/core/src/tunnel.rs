//! IPVS tunnel encapsulations (`IP_VS_CONN_F_TUNNEL`): how many bytes each adds in front of
//! the packet, as `ip_vs_tunnel_xmit()` reserves them and `__ip_vs_get_out_rt()` takes them
//! off the route's MTU.
//!
//! C source (Linux 6.12): `net/netfilter/ipvs/ip_vs_xmit.c` (`__ip_vs_get_out_rt()`,
//! `ip_vs_tunnel_xmit()`, `ipvs_gue_encap()`, `ipvs_gre_encap()`), `include/net/gue.h`,
//! `include/net/gre.h` (`gre_calc_hlen()`).
//!
//! | `tun_type` | after the outer IP header |
//! |---|---|
//! | IPIP (0), or any unknown value | nothing |
//! | GUE (1) | UDP header (8) + GUE header (4), + private flags (4) and remote checksum offload (4) with `REMCSUM` when the packet's checksum is left to the device (`CHECKSUM_PARTIAL`) |
//! | GRE (2) | GRE base header (4), + checksum (4) with `CSUM` |
//!
//! C treats a `tun_type` beyond GRE as IPIP (its branches test GUE and GRE only, and the
//! control plane does not bound the value).

use crate::netlink::ipvs::{tunnel_flags, tunnel_type};

/// `sizeof(struct udphdr)`.
const UDP_HLEN: usize = 8;
/// `sizeof(struct guehdr)`.
const GUE_HLEN: usize = 4;
/// `GUE_LEN_PRIV`: the private flags word.
const GUE_LEN_PRIV: usize = 4;
/// `GUE_PLEN_REMCSUM`: the remote checksum offload field.
const GUE_PLEN_REMCSUM: usize = 4;
/// `gre_calc_hlen()` without flags: `sizeof(struct gre_base_hdr)`.
const GRE_HLEN: usize = 4;
/// `gre_calc_hlen()`'s addition for `TUNNEL_CSUM`.
const GRE_CSUM_LEN: usize = 4;

/// The bytes the encapsulation of `tun_type` with `tun_flags` puts between the outer IP
/// header and the packet (`csum_partial`: `skb->ip_summed == CHECKSUM_PARTIAL`).
pub fn encap_len(tun_type: u8, tun_flags: u16, csum_partial: bool) -> usize {
    match tun_type {
        tunnel_type::GUE => {
            let remcsum = tun_flags & tunnel_flags::REMCSUM != 0 && csum_partial;
            UDP_HLEN
                + GUE_HLEN
                + if remcsum {
                    GUE_LEN_PRIV + GUE_PLEN_REMCSUM
                } else {
                    0
                }
        }
        tunnel_type::GRE => {
            GRE_HLEN
                + if tun_flags & tunnel_flags::CSUM != 0 {
                    GRE_CSUM_LEN
                } else {
                    0
                }
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encapsulation_lengths_as_c() {
        use tunnel_flags::{CSUM, NOCSUM, REMCSUM};
        use tunnel_type::{GRE, GUE, IPIP, MAX};
        // IPIP and unknown types add nothing, whatever the flags.
        for t in [IPIP, MAX, 7, u8::MAX] {
            for f in [NOCSUM, CSUM, REMCSUM, CSUM | REMCSUM] {
                assert_eq!(encap_len(t, f, true), 0);
            }
        }
        // GUE: UDP + GUE header; REMCSUM adds the private word and the offload field only
        // for a packet whose checksum is still to be done.
        assert_eq!(encap_len(GUE, NOCSUM, true), 12);
        assert_eq!(encap_len(GUE, CSUM, true), 12);
        assert_eq!(encap_len(GUE, REMCSUM, false), 12);
        assert_eq!(encap_len(GUE, REMCSUM, true), 20);
        assert_eq!(encap_len(GUE, CSUM | REMCSUM, true), 20);
        // GRE: base header, + checksum with CSUM; REMCSUM means nothing to GRE.
        assert_eq!(encap_len(GRE, NOCSUM, true), 4);
        assert_eq!(encap_len(GRE, REMCSUM, true), 4);
        assert_eq!(encap_len(GRE, CSUM, false), 8);
        assert_eq!(encap_len(GRE, CSUM | REMCSUM, true), 8);
    }
}
