//! Generic-netlink codecs of the `IPVS` family, as pure functions over byte slices.
//!
//! C headers: `include/uapi/linux/ip_vs.h`, `include/net/netlink.h`; C sources:
//! `lib/nlattr.c`, `net/netlink/genetlink.c`, `net/netfilter/ipvs/ip_vs_ctl.c` (Linux 6.12).
//!
//! Layers, bottom up:
//! - [`nla`]: a typed view of one `struct nlattr`, an iterator with exactly the kernel's
//!   `nla_for_each_attr()` stopping rule, and an emitter into a caller-provided buffer that
//!   reports `-EMSGSIZE` like `nla_put()` on a full skb.
//! - [`policy`]: `struct nla_policy` tables and a model of `__nla_validate_parse()` that
//!   returns the kernel's errno and leaves the kernel's extack message in a [`Diag`].
//! - [`ipvs`]: the uapi numbers, the four IPVS policy tables, the genl ops table.
//! - [`service`], [`dest`], [`daemon`], [`config`]: typed `Repr`s parsed with the semantics
//!   of `ip_vs_genl_parse_service()`, `ip_vs_genl_parse_dest()`, the daemon and config
//!   handlers, plus the range checks C does later (`ip_vs_add_dest()` …) as separate steps.
//! - [`reply`]: the attribute streams of GET_SERVICE / GET_DEST / GET_DAEMON / GET_CONFIG /
//!   GET_INFO replies, byte-for-byte in C's order.
//! - [`request`]: one entry point per received message ([`parse_request`], [`parse_genl`],
//!   and the fuzz target [`parse_any`]).
//!
//! Validation mode, decided by the genl ops table of 6.12 (`ip_vs_genl_ops[]`): every IPVS op
//! sets `GENL_DONT_VALIDATE_STRICT | GENL_DONT_VALIDATE_DUMP` and the family's
//! `resv_start_op` is `IPVS_CMD_FLUSH + 1` (18), above every IPVS command, so every `doit`
//! validates the top level *liberally* against `ip_vs_cmd_policy` (unknown types ignored,
//! over-long fixed-size attributes accepted with a log line, trailing bytes ignored), dumps
//! are not validated by genetlink at all, and the nested sets are parsed by IPVS itself with
//! `nla_parse_nested_deprecated()`, also liberal.

pub mod config;
pub mod daemon;
pub mod dest;
pub mod ipvs;
pub mod nla;
pub mod policy;
pub mod reply;
pub mod request;
pub mod service;

#[cfg(test)]
mod tests;

pub use request::{parse_any, parse_genl, parse_request, Request};

/// An errno the kernel would return (positive here; [`Errno::to_errno`] gives the negative
/// value C functions return). Values are the asm-generic numbers used by x86 and arm64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Errno {
    /// `EPERM` (1): missing `CAP_NET_ADMIN` (`GENL_ADMIN_PERM`).
    Eperm,
    /// `ENOENT` (2): unknown scheduler / persistence engine, destination not found.
    Enoent,
    /// `ESRCH` (3): service not found, sync daemon not running.
    Esrch,
    /// `ENOMEM` (12).
    Enomem,
    /// `EEXIST` (17): service or destination already exists.
    Eexist,
    /// `ENODEV` (19): unknown sync daemon interface.
    Enodev,
    /// `EINVAL` (22).
    Einval,
    /// `ERANGE` (34): attribute too short/long for its policy, weight or thresholds out of range.
    Erange,
    /// `EMSGSIZE` (90): no room left in the reply buffer.
    Emsgsize,
    /// `ENOPROTOOPT` (92): IPVS is being unloaded.
    Enoprotoopt,
    /// `EOPNOTSUPP` (95): no such genl command (or no `doit`/`dumpit` for it).
    Eopnotsupp,
    /// `EAFNOSUPPORT` (97): address family neither `AF_INET` nor a usable `AF_INET6`.
    Eafnosupport,
}

impl Errno {
    /// The positive errno number.
    pub const fn code(self) -> i32 {
        match self {
            Errno::Eperm => 1,
            Errno::Enoent => 2,
            Errno::Esrch => 3,
            Errno::Enomem => 12,
            Errno::Eexist => 17,
            Errno::Enodev => 19,
            Errno::Einval => 22,
            Errno::Erange => 34,
            Errno::Emsgsize => 90,
            Errno::Enoprotoopt => 92,
            Errno::Eopnotsupp => 95,
            Errno::Eafnosupport => 97,
        }
    }

    /// The negative value a kernel function returns (`-EINVAL` …).
    pub const fn to_errno(self) -> i32 {
        -self.code()
    }
}

/// What the kernel leaves in `struct netlink_ext_ack` (`include/linux/netlink.h`).
///
/// `bad_attr` is the offset of the offending attribute's header from the start of the
/// attribute stream given to the parser (for a genl request: the first byte after the
/// `genlmsghdr`); the kernel reports `NLMSGERR_ATTR_OFFS` relative to the `nlmsghdr`, i.e.
/// `bad_attr + `[`request::ATTRS_OFFSET_IN_NLMSG`]. The kernel sends `msg` also with a
/// successful ACK (as a warning), but `bad_attr`/`policy` only with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extack {
    /// `extack->_msg`.
    pub msg: Option<&'static str>,
    /// `extack->bad_attr`, as an offset (see above).
    pub bad_attr: Option<usize>,
    /// `extack->policy`: the policy entry of the offending attribute, when C reports it
    /// (`NL_SET_ERR_MSG_ATTR_POL`); the ACK then carries `NLMSGERR_ATTR_POLICY`.
    pub policy: Option<policy::NlaPolicy>,
}

/// Kernel log lines (`pr_warn_ratelimited`) the C validator would have printed; they go to
/// dmesg, not to the requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Log {
    /// How many `netlink: '<comm>': attribute type %d has an invalid length.` lines.
    pub invalid_length: u32,
    /// The attribute type printed in the first of those lines.
    pub first_invalid_length_type: Option<u16>,
    /// How many `netlink: %d bytes leftover after parsing attributes in process `<comm>'.`
    /// lines.
    pub leftover: u32,
    /// The byte count printed in the last of those lines.
    pub last_leftover_bytes: usize,
}

/// Side channels of one request: the extack the requester sees and the kernel log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Diag {
    /// The extended ACK content.
    pub extack: Extack,
    /// Kernel log lines.
    pub log: Log,
}

/// What the running kernel offers; C decides these at build time or boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Env {
    /// `CONFIG_IP_VS_IPV6`.
    pub ip_vs_ipv6: bool,
    /// `ipv6_mod_enabled()`: IPv6 not disabled with `ipv6.disable=1`.
    pub ipv6_mod_enabled: bool,
}

impl Default for Env {
    /// The ipvs-rs test kernel: IPv6 built in and enabled.
    fn default() -> Self {
        Env {
            ip_vs_ipv6: true,
            ipv6_mod_enabled: true,
        }
    }
}

impl Env {
    /// `ip_vs_is_af_valid()`: `AF_INET`, or `AF_INET6` when IPVS has IPv6 and it is enabled.
    pub fn af_valid(&self, af: u16) -> bool {
        af == ipvs::AF_INET || (af == ipvs::AF_INET6 && self.ip_vs_ipv6 && self.ipv6_mod_enabled)
    }
}
