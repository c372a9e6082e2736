//! Destinations (real servers) in requests: `IPVS_CMD_ATTR_DEST`.
//!
//! C: `ip_vs_genl_parse_dest()`, the destination part of `ip_vs_genl_set_cmd()`,
//! `ip_vs_add_dest()`, `ip_vs_edit_dest()`, `__ip_vs_update_dest()` in
//! `net/netfilter/ipvs/ip_vs_ctl.c`.

use super::ipvs::{conn_flags, dest_attr, tunnel_type, DEST_POLICY};
use super::nla::Attr;
use super::policy::{parse_nested_deprecated, AttrTable, Sink};
use super::{Diag, Env, Errno};

const DEST_N: usize = dest_attr::MAX as usize + 1;

/// What identifies a destination within a service (`full_entry == false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestKey {
    /// `union nf_inet_addr`, zero-padded if the attribute is shorter.
    pub addr: [u8; 16],
    /// Port in host order (the attribute is network order).
    pub port: u16,
    /// `IPVS_DEST_ATTR_ADDR_FAMILY`, or 0 when absent (then the service's family applies,
    /// see [`DestKey::resolve_af`]).
    pub af: u16,
}

impl DestKey {
    /// Parses the key of `IPVS_CMD_ATTR_DEST`, as DEL_DEST does.
    pub fn parse(nla: Option<Attr<'_>>, diag: &mut Diag) -> Result<DestKey, Errno> {
        let tb = parse_attrs(nla, diag)?;
        key_from(&tb)
    }

    /// `ip_vs_genl_set_cmd()`: a missing family means the service's (old userspace could not
    /// send one), and the result must be a family IPVS supports (`-EAFNOSUPPORT`).
    pub fn resolve_af(&self, svc_af: u16, env: &Env) -> Result<u16, Errno> {
        let af = if self.af == 0 { svc_af } else { self.af };
        if env.af_valid(af) {
            Ok(af)
        } else {
            Err(Errno::Eafnosupport)
        }
    }
}

/// A full destination specification, as NEW_DEST and SET_DEST require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestRepr {
    /// The identifying part.
    pub key: DestKey,
    /// `IPVS_DEST_ATTR_FWD_METHOD & IP_VS_CONN_F_FWD_MASK` (0..=7; C does not reject 5..=7).
    pub conn_flags: u32,
    /// The u32 attribute as C's `int`.
    pub weight: i32,
    /// Upper connection threshold (0 = none).
    pub u_threshold: u32,
    /// Lower connection threshold (0 = 75% of upper).
    pub l_threshold: u32,
    /// `IPVS_DEST_ATTR_TUN_TYPE`, 0 (IPIP) when absent.
    pub tun_type: u8,
    /// Tunnel port in host order (attribute in network order), 0 when absent.
    pub tun_port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*`, 0 when absent.
    pub tun_flags: u16,
}

impl DestRepr {
    /// Parses a full destination entry: the key (`-EINVAL` if address or port is missing),
    /// then FWD_METHOD, WEIGHT, U_THRESH and L_THRESH (`-EINVAL` if any is missing).
    pub fn parse(nla: Option<Attr<'_>>, diag: &mut Diag) -> Result<DestRepr, Errno> {
        let tb = parse_attrs(nla, diag)?;
        let key = key_from(&tb)?;
        let (Some(fwd), Some(weight), Some(u_thresh), Some(l_thresh)) = (
            tb.get(dest_attr::FWD_METHOD),
            tb.get(dest_attr::WEIGHT),
            tb.get(dest_attr::U_THRESH),
            tb.get(dest_attr::L_THRESH),
        ) else {
            return Err(Errno::Einval);
        };
        Ok(DestRepr {
            key,
            conn_flags: fwd.get_u32().unwrap_or(0) & conn_flags::FWD_MASK,
            weight: weight.get_u32().unwrap_or(0) as i32,
            u_threshold: u_thresh.get_u32().unwrap_or(0),
            l_threshold: l_thresh.get_u32().unwrap_or(0),
            tun_type: tb
                .get(dest_attr::TUN_TYPE)
                .and_then(|a| a.get_u8())
                .unwrap_or(0),
            tun_port: tb
                .get(dest_attr::TUN_PORT)
                .and_then(|a| a.get_be16())
                .unwrap_or(0),
            tun_flags: tb
                .get(dest_attr::TUN_FLAGS)
                .and_then(|a| a.get_u16())
                .unwrap_or(0),
        })
    }

    /// The family checks of `ip_vs_genl_set_cmd()` for NEW_DEST / SET_DEST, in C's order:
    /// [`DestKey::resolve_af`], then for a family other than the service's: `-EINVAL` while a
    /// sync daemon runs (`ipvs->sync_state != 0`), `-EINVAL` unless the forwarding method is
    /// tunnelling. Returns the destination's family.
    pub fn resolve_af(&self, svc_af: u16, env: &Env, sync_running: bool) -> Result<u16, Errno> {
        let af = self.key.resolve_af(svc_af, env)?;
        if af != svc_af {
            if sync_running {
                return Err(Errno::Einval);
            }
            if self.conn_flags != conn_flags::TUNNEL {
                return Err(Errno::Einval);
            }
        }
        Ok(af)
    }

    /// The checks `ip_vs_add_dest()` and `ip_vs_edit_dest()` make before looking the
    /// destination up, in C's order: negative weight `-ERANGE`, lower threshold above upper
    /// `-ERANGE`, upper threshold above `INT_MAX` `-EINVAL`, GUE tunnel without port `-EINVAL`.
    /// (Then C answers `-EEXIST` / `-ENOENT` from the lookup, and `ip_vs_new_dest()` `-EINVAL`
    /// for an address that is not unicast or local: glue.)
    pub fn check(&self) -> Result<(), Errno> {
        if self.weight < 0 {
            return Err(Errno::Erange);
        }
        if self.l_threshold > self.u_threshold {
            return Err(Errno::Erange);
        }
        if self.u_threshold > i32::MAX as u32 {
            return Err(Errno::Einval);
        }
        if self.tun_type == tunnel_type::GUE && self.tun_port == 0 {
            return Err(Errno::Einval);
        }
        Ok(())
    }

    /// `dest->conn_flags` after `__ip_vs_update_dest()`: the user's bits within
    /// `IP_VS_CONN_F_DEST_MASK`, plus `INACTIVE`, plus `NOOUTPUT` unless masquerading.
    pub fn dest_conn_flags(&self) -> u32 {
        let mut f = (self.conn_flags & conn_flags::DEST_MASK) | conn_flags::INACTIVE;
        if f & conn_flags::FWD_MASK != conn_flags::MASQ {
            f |= conn_flags::NOOUTPUT;
        }
        f
    }

    /// `dest->l_threshold_val`: the lower threshold, defaulting to 75% of the upper one.
    pub fn l_threshold_val(&self) -> u32 {
        if self.l_threshold != 0 {
            self.l_threshold
        } else {
            self.u_threshold - (self.u_threshold >> 2)
        }
    }
}

/// `nla == NULL || nla_parse_nested_deprecated(..., ip_vs_dest_policy, NULL)` → `-EINVAL`.
fn parse_attrs<'a>(nla: Option<Attr<'a>>, diag: &mut Diag) -> Result<AttrTable<'a, DEST_N>, Errno> {
    let nla = nla.ok_or(Errno::Einval)?;
    parse_nested_deprecated(
        &nla,
        &DEST_POLICY,
        &mut Sink {
            diag,
            extack: false,
        },
    )
    .map_err(|_| Errno::Einval)
}

fn key_from(tb: &AttrTable<'_, DEST_N>) -> Result<DestKey, Errno> {
    let (Some(addr), Some(port)) = (tb.get(dest_attr::ADDR), tb.get(dest_attr::PORT)) else {
        return Err(Errno::Einval);
    };
    Ok(DestKey {
        addr: addr.memcpy(),
        port: port.get_be16().unwrap_or(0),
        af: tb
            .get(dest_attr::ADDR_FAMILY)
            .and_then(|a| a.get_u16())
            .unwrap_or(0),
    })
}
