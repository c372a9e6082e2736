//! Virtual services in requests: `IPVS_CMD_ATTR_SERVICE`.
//!
//! C: `ip_vs_genl_parse_service()` (parse, `full_entry`), `ip_vs_add_service()` and
//! `ip_vs_edit_service()` (the checks that follow), `net/netfilter/ipvs/ip_vs_ctl.c`.

use super::ipvs::{svc_attr, svc_flags, Name, AF_INET6, IPPROTO_TCP, SVC_POLICY};
use super::nla::Attr;
use super::policy::{parse_nested_deprecated, AttrTable, Sink};
use super::{Diag, Env, Errno};

const SVC_N: usize = svc_attr::MAX as usize + 1;

/// What identifies a service: C's `ip_vs_service_user_kern` key fields after
/// `ip_vs_genl_parse_service(..., full_entry = false, ...)`.
///
/// Either a firewall-mark service (`fwmark` attribute present: `protocol` is forced to
/// `IPPROTO_TCP`, `addr` and `port` are zero) or an address service (`fwmark == 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    /// Address family (`AF_INET` or `AF_INET6`), validated.
    pub af: u16,
    /// IP protocol number. Not range-checked by the netlink path (only the sockopt path
    /// restricts it to TCP/UDP/SCTP).
    pub protocol: u16,
    /// `union nf_inet_addr`: IPv4 in the first 4 bytes, network order; shorter attributes are
    /// zero-padded (`nla_memcpy()`).
    pub addr: [u8; 16],
    /// Port in host order (the attribute is network order).
    pub port: u16,
    /// Firewall mark, or 0.
    pub fwmark: u32,
}

impl ServiceKey {
    /// C looks the service up by mark (`__ip_vs_svc_fwm_find()`) iff this is non-zero; a
    /// `FWMARK` attribute of value 0 thus means "TCP, 0.0.0.0:0".
    pub fn by_fwmark(&self) -> bool {
        self.fwmark != 0
    }

    /// Parses the key of `IPVS_CMD_ATTR_SERVICE` (`full_entry == false`), as done for every
    /// command but NEW_SERVICE / SET_SERVICE.
    pub fn parse(nla: Option<Attr<'_>>, env: &Env, diag: &mut Diag) -> Result<ServiceKey, Errno> {
        let tb = parse_attrs(nla, diag)?;
        key_from(&tb, env)
    }
}

/// `struct ip_vs_flags`: which flag bits to change (`mask`) and to what (`flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlagsUpdate {
    /// New values.
    pub flags: u32,
    /// Bits to take from `flags`.
    pub mask: u32,
}

impl FlagsUpdate {
    /// `(old & ~mask) | (flags & mask)`, `old` being the existing service's flags or 0.
    pub fn apply(self, old: u32) -> u32 {
        (old & !self.mask) | (self.flags & self.mask)
    }
}

/// A full service specification, as NEW_SERVICE and SET_SERVICE require
/// (`ip_vs_genl_parse_service(..., full_entry = true, ...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceRepr {
    /// The identifying part.
    pub key: ServiceKey,
    /// Scheduler name (`"none"` means no scheduler). At most 15 bytes.
    pub sched_name: Name,
    /// Persistence engine name, if the attribute was present; empty means none. At most 16.
    pub pe_name: Option<Name>,
    /// Flags update; apply with [`ServiceRepr::flags_for_add`] / [`ServiceRepr::flags_for_edit`].
    pub flags: FlagsUpdate,
    /// Persistence timeout in seconds.
    pub timeout: u32,
    /// The 4 bytes of `IPVS_SVC_ATTR_NETMASK` as C's `__be32` holds them: a network-order
    /// mask for IPv4, a prefix length written as a host-order u32 for IPv6.
    pub netmask: [u8; 4],
}

impl ServiceRepr {
    /// Parses a full service entry. Error order is C's: the key first (`-EINVAL`,
    /// `-EAFNOSUPPORT`), then the four additional attributes (`-EINVAL`).
    pub fn parse(nla: Option<Attr<'_>>, env: &Env, diag: &mut Diag) -> Result<ServiceRepr, Errno> {
        let tb = parse_attrs(nla, diag)?;
        let key = key_from(&tb, env)?;
        let (Some(sched), Some(flags), Some(timeout), Some(netmask)) = (
            tb.get(svc_attr::SCHED_NAME),
            tb.get(svc_attr::FLAGS),
            tb.get(svc_attr::TIMEOUT),
            tb.get(svc_attr::NETMASK),
        ) else {
            return Err(Errno::Einval);
        };
        let raw: [u8; 8] = flags.memcpy();
        let [f0, f1, f2, f3, m0, m1, m2, m3] = raw;
        Ok(ServiceRepr {
            key,
            // The policy guarantees a NUL within the first 16 (sched) / 17 (pe) bytes.
            sched_name: Name::from_c(sched.payload()).ok_or(Errno::Einval)?,
            pe_name: match tb.get(svc_attr::PE_NAME) {
                Some(pe) => Some(Name::from_c(pe.payload()).ok_or(Errno::Einval)?),
                None => None,
            },
            flags: FlagsUpdate {
                flags: u32::from_ne_bytes([f0, f1, f2, f3]),
                mask: u32::from_ne_bytes([m0, m1, m2, m3]),
            },
            timeout: timeout.get_u32().unwrap_or(0),
            netmask: netmask.get_raw32().unwrap_or([0; 4]),
        })
    }

    /// The scheduler to bind, `None` for `"none"` (`strcmp(u->sched_name, "none")`).
    pub fn scheduler(&self) -> Option<&[u8]> {
        let s = self.sched_name.as_bytes();
        (s != b"none").then_some(s)
    }

    /// The persistence engine to bind: `u->pe_name && *u->pe_name`.
    pub fn pe(&self) -> Option<&[u8]> {
        self.pe_name
            .as_ref()
            .map(Name::as_bytes)
            .filter(|s| !s.is_empty())
    }

    /// For IPv6 services, the prefix length `(__force __u32) u->netmask`.
    pub fn ipv6_prefix_len(&self) -> u32 {
        u32::from_ne_bytes(self.netmask)
    }

    /// The parameter checks of `ip_vs_add_service()` / `ip_vs_edit_service()`, in C's order:
    /// unknown scheduler `-ENOENT`, unknown persistence engine `-ENOENT`, IPv6 prefix length
    /// outside `1..=128` `-EINVAL`. (C's other failures — `-ENOPROTOOPT` while unloading,
    /// hook registration, `-ENOMEM` — belong to the glue.)
    pub fn check(
        &self,
        env: &Env,
        scheduler_exists: impl FnOnce(&[u8]) -> bool,
        pe_exists: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(), Errno> {
        if let Some(s) = self.scheduler() {
            if !scheduler_exists(s) {
                return Err(Errno::Enoent);
            }
        }
        if let Some(pe) = self.pe() {
            if !pe_exists(pe) {
                return Err(Errno::Enoent);
            }
        }
        if env.ip_vs_ipv6 && self.key.af == AF_INET6 && !(1..=128).contains(&self.ipv6_prefix_len())
        {
            return Err(Errno::Einval);
        }
        Ok(())
    }

    /// Flags of a new service: C prefills from an existing service only, which NEW_SERVICE
    /// then refuses with `-EEXIST`; `ip_vs_add_service()` clears `IP_VS_SVC_F_HASHED`.
    pub fn flags_for_add(&self) -> u32 {
        self.flags.apply(0) & !svc_flags::HASHED
    }

    /// Flags after SET_SERVICE on a service whose flags are `old`: prefilled, updated, and
    /// `IP_VS_SVC_F_HASHED` set by `ip_vs_edit_service()`.
    pub fn flags_for_edit(&self, old: u32) -> u32 {
        self.flags.apply(old) | svc_flags::HASHED
    }

    /// `svc->timeout = u->timeout * HZ`: unsigned and unchecked in C, so it wraps.
    pub fn timeout_jiffies(&self, hz: u32) -> u32 {
        self.timeout.wrapping_mul(hz)
    }
}

/// `nla == NULL || nla_parse_nested_deprecated(attrs, IPVS_SVC_ATTR_MAX, nla,
/// ip_vs_svc_policy, NULL)` → `-EINVAL`: any inner validation error becomes `-EINVAL`, and
/// no extack is passed.
fn parse_attrs<'a>(nla: Option<Attr<'a>>, diag: &mut Diag) -> Result<AttrTable<'a, SVC_N>, Errno> {
    let nla = nla.ok_or(Errno::Einval)?;
    parse_nested_deprecated(
        &nla,
        &SVC_POLICY,
        &mut Sink {
            diag,
            extack: false,
        },
    )
    .map_err(|_| Errno::Einval)
}

fn key_from(tb: &AttrTable<'_, SVC_N>, env: &Env) -> Result<ServiceKey, Errno> {
    let af = tb.get(svc_attr::AF);
    let protocol = tb.get(svc_attr::PROTOCOL);
    let addr = tb.get(svc_attr::ADDR);
    let port = tb.get(svc_attr::PORT);
    let fwmark = tb.get(svc_attr::FWMARK);
    let Some(af) = af else {
        return Err(Errno::Einval);
    };
    if fwmark.is_none() && (port.is_none() || protocol.is_none() || addr.is_none()) {
        return Err(Errno::Einval);
    }
    let af = af.get_u16().unwrap_or(0);
    if !env.af_valid(af) {
        return Err(Errno::Eafnosupport);
    }
    Ok(match (fwmark, protocol, addr, port) {
        (Some(mark), ..) => ServiceKey {
            af,
            protocol: IPPROTO_TCP,
            addr: [0; 16],
            port: 0,
            fwmark: mark.get_u32().unwrap_or(0),
        },
        (None, Some(protocol), Some(addr), Some(port)) => ServiceKey {
            af,
            protocol: protocol.get_u16().unwrap_or(0),
            addr: addr.memcpy(),
            port: port.get_be16().unwrap_or(0),
            fwmark: 0,
        },
        _ => return Err(Errno::Einval),
    })
}
