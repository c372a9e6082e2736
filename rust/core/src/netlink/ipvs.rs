//! The IPVS genetlink family: uapi numbers, policy tables, ops table.
//!
//! C headers: `include/uapi/linux/ip_vs.h`; C source: `net/netfilter/ipvs/ip_vs_ctl.c`
//! (`ip_vs_cmd_policy`, `ip_vs_daemon_policy`, `ip_vs_svc_policy`, `ip_vs_dest_policy`,
//! `ip_vs_genl_ops`, `ip_vs_genl_family`).

use super::policy::{NlaPolicy, NlaType, Validate};
use super::Errno;

/// `IPVS_GENL_NAME`, NUL-terminated for `struct genl_family.name`.
pub const GENL_NAME: &[u8] = b"IPVS\0";
/// `IPVS_GENL_VERSION`.
pub const GENL_VERSION: u8 = 1;
/// `IP_VS_VERSION_CODE` (1.2.1), reported by GET_INFO.
pub const VERSION_CODE: u32 = 0x010201;

/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;
/// `IPPROTO_TCP`: the protocol C records for firewall-mark services.
pub const IPPROTO_TCP: u16 = 6;

/// `IP_VS_SCHEDNAME_MAXLEN` (NUL included).
pub const SCHEDNAME_MAXLEN: usize = 16;
/// `IP_VS_PENAME_MAXLEN` (the policy allows this many characters *plus* a NUL).
pub const PENAME_MAXLEN: usize = 16;
/// `IP_VS_IFNAME_MAXLEN` (NUL included).
pub const IFNAME_MAXLEN: usize = 16;

/// `IPVS_CMD_*`: generic netlink commands.
pub mod cmd {
    /// `IPVS_CMD_UNSPEC`.
    pub const UNSPEC: u8 = 0;
    /// `IPVS_CMD_NEW_SERVICE`: add a service.
    pub const NEW_SERVICE: u8 = 1;
    /// `IPVS_CMD_SET_SERVICE`: modify a service.
    pub const SET_SERVICE: u8 = 2;
    /// `IPVS_CMD_DEL_SERVICE`: delete a service.
    pub const DEL_SERVICE: u8 = 3;
    /// `IPVS_CMD_GET_SERVICE`: get one service (do) or all (dump).
    pub const GET_SERVICE: u8 = 4;
    /// `IPVS_CMD_NEW_DEST`: add a destination.
    pub const NEW_DEST: u8 = 5;
    /// `IPVS_CMD_SET_DEST`: modify a destination.
    pub const SET_DEST: u8 = 6;
    /// `IPVS_CMD_DEL_DEST`: delete a destination.
    pub const DEL_DEST: u8 = 7;
    /// `IPVS_CMD_GET_DEST`: dump the destinations of a service.
    pub const GET_DEST: u8 = 8;
    /// `IPVS_CMD_NEW_DAEMON`: start a sync daemon.
    pub const NEW_DAEMON: u8 = 9;
    /// `IPVS_CMD_DEL_DAEMON`: stop a sync daemon.
    pub const DEL_DAEMON: u8 = 10;
    /// `IPVS_CMD_GET_DAEMON`: dump the running sync daemons.
    pub const GET_DAEMON: u8 = 11;
    /// `IPVS_CMD_SET_CONFIG`: set timeouts.
    pub const SET_CONFIG: u8 = 12;
    /// `IPVS_CMD_GET_CONFIG`: get timeouts.
    pub const GET_CONFIG: u8 = 13;
    /// `IPVS_CMD_SET_INFO`: only used as the GET_INFO reply command.
    pub const SET_INFO: u8 = 14;
    /// `IPVS_CMD_GET_INFO`: version and connection table size.
    pub const GET_INFO: u8 = 15;
    /// `IPVS_CMD_ZERO`: zero the counters of one or all services.
    pub const ZERO: u8 = 16;
    /// `IPVS_CMD_FLUSH`: delete all services.
    pub const FLUSH: u8 = 17;
    /// `IPVS_CMD_MAX`.
    pub const MAX: u8 = FLUSH;
}

/// `IPVS_CMD_ATTR_*`: first-level attributes.
pub mod cmd_attr {
    /// `IPVS_CMD_ATTR_SERVICE`: nested service.
    pub const SERVICE: u16 = 1;
    /// `IPVS_CMD_ATTR_DEST`: nested destination.
    pub const DEST: u16 = 2;
    /// `IPVS_CMD_ATTR_DAEMON`: nested sync daemon.
    pub const DAEMON: u16 = 3;
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP`: u32 seconds.
    pub const TIMEOUT_TCP: u16 = 4;
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN`: u32 seconds.
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    /// `IPVS_CMD_ATTR_TIMEOUT_UDP`: u32 seconds.
    pub const TIMEOUT_UDP: u16 = 6;
    /// `IPVS_CMD_ATTR_MAX`.
    pub const MAX: u16 = TIMEOUT_UDP;
}

/// `IPVS_SVC_ATTR_*`: attributes inside `IPVS_CMD_ATTR_SERVICE`.
pub mod svc_attr {
    /// `IPVS_SVC_ATTR_AF`: u16, host order.
    pub const AF: u16 = 1;
    /// `IPVS_SVC_ATTR_PROTOCOL`: u16, host order.
    pub const PROTOCOL: u16 = 2;
    /// `IPVS_SVC_ATTR_ADDR`: up to 16 raw bytes (`union nf_inet_addr`).
    pub const ADDR: u16 = 3;
    /// `IPVS_SVC_ATTR_PORT`: u16, network order.
    pub const PORT: u16 = 4;
    /// `IPVS_SVC_ATTR_FWMARK`: u32, host order.
    pub const FWMARK: u16 = 5;
    /// `IPVS_SVC_ATTR_SCHED_NAME`: NUL-terminated string.
    pub const SCHED_NAME: u16 = 6;
    /// `IPVS_SVC_ATTR_FLAGS`: `struct ip_vs_flags` (two host-order u32).
    pub const FLAGS: u16 = 7;
    /// `IPVS_SVC_ATTR_TIMEOUT`: u32 seconds, host order.
    pub const TIMEOUT: u16 = 8;
    /// `IPVS_SVC_ATTR_NETMASK`: 4 raw bytes (IPv4 mask, or IPv6 prefix length as a host u32).
    pub const NETMASK: u16 = 9;
    /// `IPVS_SVC_ATTR_STATS`: nested 32-bit statistics.
    pub const STATS: u16 = 10;
    /// `IPVS_SVC_ATTR_PE_NAME`: NUL-terminated string.
    pub const PE_NAME: u16 = 11;
    /// `IPVS_SVC_ATTR_STATS64`: nested 64-bit statistics.
    pub const STATS64: u16 = 12;
    /// `IPVS_SVC_ATTR_MAX`.
    pub const MAX: u16 = STATS64;
}

/// `IPVS_DEST_ATTR_*`: attributes inside `IPVS_CMD_ATTR_DEST`.
pub mod dest_attr {
    /// `IPVS_DEST_ATTR_ADDR`: up to 16 raw bytes.
    pub const ADDR: u16 = 1;
    /// `IPVS_DEST_ATTR_PORT`: u16, network order.
    pub const PORT: u16 = 2;
    /// `IPVS_DEST_ATTR_FWD_METHOD`: u32 connection flags (only `& IP_VS_CONN_F_FWD_MASK` used).
    pub const FWD_METHOD: u16 = 3;
    /// `IPVS_DEST_ATTR_WEIGHT`: u32 read as `int`.
    pub const WEIGHT: u16 = 4;
    /// `IPVS_DEST_ATTR_U_THRESH`: u32.
    pub const U_THRESH: u16 = 5;
    /// `IPVS_DEST_ATTR_L_THRESH`: u32.
    pub const L_THRESH: u16 = 6;
    /// `IPVS_DEST_ATTR_ACTIVE_CONNS`: u32 (replies only).
    pub const ACTIVE_CONNS: u16 = 7;
    /// `IPVS_DEST_ATTR_INACT_CONNS`: u32 (replies only).
    pub const INACT_CONNS: u16 = 8;
    /// `IPVS_DEST_ATTR_PERSIST_CONNS`: u32 (replies only).
    pub const PERSIST_CONNS: u16 = 9;
    /// `IPVS_DEST_ATTR_STATS`: nested 32-bit statistics.
    pub const STATS: u16 = 10;
    /// `IPVS_DEST_ATTR_ADDR_FAMILY`: u16.
    pub const ADDR_FAMILY: u16 = 11;
    /// `IPVS_DEST_ATTR_STATS64`: nested 64-bit statistics.
    pub const STATS64: u16 = 12;
    /// `IPVS_DEST_ATTR_TUN_TYPE`: u8.
    pub const TUN_TYPE: u16 = 13;
    /// `IPVS_DEST_ATTR_TUN_PORT`: u16, network order.
    pub const TUN_PORT: u16 = 14;
    /// `IPVS_DEST_ATTR_TUN_FLAGS`: u16, host order.
    pub const TUN_FLAGS: u16 = 15;
    /// `IPVS_DEST_ATTR_MAX`.
    pub const MAX: u16 = TUN_FLAGS;
}

/// `IPVS_DAEMON_ATTR_*`: attributes inside `IPVS_CMD_ATTR_DAEMON`.
pub mod daemon_attr {
    /// `IPVS_DAEMON_ATTR_STATE`: u32, master or backup.
    pub const STATE: u16 = 1;
    /// `IPVS_DAEMON_ATTR_MCAST_IFN`: NUL-terminated interface name.
    pub const MCAST_IFN: u16 = 2;
    /// `IPVS_DAEMON_ATTR_SYNC_ID`: u32.
    pub const SYNC_ID: u16 = 3;
    /// `IPVS_DAEMON_ATTR_SYNC_MAXLEN`: u16.
    pub const SYNC_MAXLEN: u16 = 4;
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP`: IPv4 address, network order.
    pub const MCAST_GROUP: u16 = 5;
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP6`: IPv6 address.
    pub const MCAST_GROUP6: u16 = 6;
    /// `IPVS_DAEMON_ATTR_MCAST_PORT`: u16, host order (sic: `nla_get_u16`).
    pub const MCAST_PORT: u16 = 7;
    /// `IPVS_DAEMON_ATTR_MCAST_TTL`: u8.
    pub const MCAST_TTL: u16 = 8;
    /// `IPVS_DAEMON_ATTR_MAX`.
    pub const MAX: u16 = MCAST_TTL;
}

/// `IPVS_STATS_ATTR_*`: attributes inside the statistics nests.
pub mod stats_attr {
    /// `IPVS_STATS_ATTR_CONNS`.
    pub const CONNS: u16 = 1;
    /// `IPVS_STATS_ATTR_INPKTS`.
    pub const INPKTS: u16 = 2;
    /// `IPVS_STATS_ATTR_OUTPKTS`.
    pub const OUTPKTS: u16 = 3;
    /// `IPVS_STATS_ATTR_INBYTES`.
    pub const INBYTES: u16 = 4;
    /// `IPVS_STATS_ATTR_OUTBYTES`.
    pub const OUTBYTES: u16 = 5;
    /// `IPVS_STATS_ATTR_CPS`.
    pub const CPS: u16 = 6;
    /// `IPVS_STATS_ATTR_INPPS`.
    pub const INPPS: u16 = 7;
    /// `IPVS_STATS_ATTR_OUTPPS`.
    pub const OUTPPS: u16 = 8;
    /// `IPVS_STATS_ATTR_INBPS`.
    pub const INBPS: u16 = 9;
    /// `IPVS_STATS_ATTR_OUTBPS`.
    pub const OUTBPS: u16 = 10;
    /// `IPVS_STATS_ATTR_PAD`: alignment padding for 64-bit counters.
    pub const PAD: u16 = 11;
    /// `IPVS_STATS_ATTR_MAX`.
    pub const MAX: u16 = PAD;
}

/// `IPVS_INFO_ATTR_*`: attributes of the GET_INFO reply.
pub mod info_attr {
    /// `IPVS_INFO_ATTR_VERSION`: u32.
    pub const VERSION: u16 = 1;
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE`: u32.
    pub const CONN_TAB_SIZE: u16 = 2;
    /// `IPVS_INFO_ATTR_MAX`.
    pub const MAX: u16 = CONN_TAB_SIZE;
}

/// `IP_VS_SVC_F_*`: service flags.
pub mod svc_flags {
    /// `IP_VS_SVC_F_PERSISTENT`.
    pub const PERSISTENT: u32 = 0x0001;
    /// `IP_VS_SVC_F_HASHED`: kernel-internal, cleared on add and set on edit.
    pub const HASHED: u32 = 0x0002;
    /// `IP_VS_SVC_F_ONEPACKET`.
    pub const ONEPACKET: u32 = 0x0004;
    /// `IP_VS_SVC_F_SCHED1`.
    pub const SCHED1: u32 = 0x0008;
    /// `IP_VS_SVC_F_SCHED2`.
    pub const SCHED2: u32 = 0x0010;
    /// `IP_VS_SVC_F_SCHED3`.
    pub const SCHED3: u32 = 0x0020;
}

/// `IP_VS_CONN_F_*`: connection flags (the module asserts them equal to the kernel's
/// `include/uapi/linux/ip_vs.h`).
pub mod conn_flags {
    /// `IP_VS_CONN_F_FWD_MASK`.
    pub const FWD_MASK: u32 = 0x0007;
    /// `IP_VS_CONN_F_MASQ`: NAT.
    pub const MASQ: u32 = 0x0000;
    /// `IP_VS_CONN_F_LOCALNODE`.
    pub const LOCALNODE: u32 = 0x0001;
    /// `IP_VS_CONN_F_TUNNEL`.
    pub const TUNNEL: u32 = 0x0002;
    /// `IP_VS_CONN_F_DROUTE`: direct routing.
    pub const DROUTE: u32 = 0x0003;
    /// `IP_VS_CONN_F_BYPASS`.
    pub const BYPASS: u32 = 0x0004;
    /// `IP_VS_CONN_F_SYNC`: the entry was created by the sync daemon.
    pub const SYNC: u32 = 0x0020;
    /// `IP_VS_CONN_F_HASHED`: the entry is in the connection table.
    pub const HASHED: u32 = 0x0040;
    /// `IP_VS_CONN_F_NOOUTPUT`.
    pub const NOOUTPUT: u32 = 0x0080;
    /// `IP_VS_CONN_F_INACTIVE`.
    pub const INACTIVE: u32 = 0x0100;
    /// `IP_VS_CONN_F_OUT_SEQ`: output sequence numbers need adjusting (application helper).
    pub const OUT_SEQ: u32 = 0x0200;
    /// `IP_VS_CONN_F_IN_SEQ`: input sequence numbers need adjusting (application helper).
    pub const IN_SEQ: u32 = 0x0400;
    /// `IP_VS_CONN_F_SEQ_MASK`: either sequence adjustment; the sync messages then carry the
    /// connection's `in_seq` / `out_seq`.
    pub const SEQ_MASK: u32 = OUT_SEQ | IN_SEQ;
    /// `IP_VS_CONN_F_NO_CPORT`: the client port is not known yet (FTP data, templates).
    pub const NO_CPORT: u32 = 0x0800;
    /// `IP_VS_CONN_F_TEMPLATE`: a persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    /// `IP_VS_CONN_F_ONE_PACKET`.
    pub const ONE_PACKET: u32 = 0x2000;
    /// `IP_VS_CONN_F_NFCT`.
    pub const NFCT: u32 = 1 << 16;
    /// `IP_VS_CONN_F_DEST_MASK`: what `__ip_vs_update_dest()` keeps of the user's flags.
    pub const DEST_MASK: u32 = FWD_MASK | ONE_PACKET | NFCT;
    /// `IP_VS_CONN_F_BACKUP_MASK`: the flags a backup keeps of a synced connection's.
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
    /// `IP_VS_CONN_F_BACKUP_UPD_MASK`: the flags a sync message may change on a backup's
    /// existing connection.
    pub const BACKUP_UPD_MASK: u32 = INACTIVE | SEQ_MASK;
}

/// `IP_VS_CONN_F_TUNNEL_TYPE_*`.
pub mod tunnel_type {
    /// `IP_VS_CONN_F_TUNNEL_TYPE_IPIP`.
    pub const IPIP: u8 = 0;
    /// `IP_VS_CONN_F_TUNNEL_TYPE_GUE`: needs a non-zero tunnel port.
    pub const GUE: u8 = 1;
    /// `IP_VS_CONN_F_TUNNEL_TYPE_GRE`.
    pub const GRE: u8 = 2;
    /// `IP_VS_CONN_F_TUNNEL_TYPE_MAX`.
    pub const MAX: u8 = 3;
}

/// `IP_VS_TUNNEL_ENCAP_FLAG_*`.
pub mod tunnel_flags {
    /// `IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM`.
    pub const NOCSUM: u16 = 0;
    /// `IP_VS_TUNNEL_ENCAP_FLAG_CSUM`.
    pub const CSUM: u16 = 1 << 0;
    /// `IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM`.
    pub const REMCSUM: u16 = 1 << 1;
}

/// `IP_VS_STATE_*`: sync daemon states.
pub mod daemon_state {
    /// `IP_VS_STATE_NONE`.
    pub const NONE: u32 = 0;
    /// `IP_VS_STATE_MASTER`.
    pub const MASTER: u32 = 1;
    /// `IP_VS_STATE_BACKUP`.
    pub const BACKUP: u32 = 2;
}

use NlaType::{Binary, Nested, NulString, Unspec, U16, U32, U8};

/// `ip_vs_cmd_policy[IPVS_CMD_ATTR_MAX + 1]`; also the family policy (`.policy`).
pub const CMD_POLICY: [NlaPolicy; cmd_attr::MAX as usize + 1] = [
    NlaPolicy::UNSPEC,
    NlaPolicy::of(Nested), // SERVICE
    NlaPolicy::of(Nested), // DEST
    NlaPolicy::of(Nested), // DAEMON
    NlaPolicy::of(U32),    // TIMEOUT_TCP
    NlaPolicy::of(U32),    // TIMEOUT_TCP_FIN
    NlaPolicy::of(U32),    // TIMEOUT_UDP
];

/// `ip_vs_daemon_policy[IPVS_DAEMON_ATTR_MAX + 1]`.
pub const DAEMON_POLICY: [NlaPolicy; daemon_attr::MAX as usize + 1] = [
    NlaPolicy::UNSPEC,
    NlaPolicy::of(U32),                                       // STATE
    NlaPolicy::with_len(NulString, IFNAME_MAXLEN as u16 - 1), // MCAST_IFN
    NlaPolicy::of(U32),                                       // SYNC_ID
    NlaPolicy::of(U16),                                       // SYNC_MAXLEN
    NlaPolicy::of(U32),                                       // MCAST_GROUP
    NlaPolicy::with_len(Unspec, 16), // MCAST_GROUP6: { .len = sizeof(struct in6_addr) }
    NlaPolicy::of(U16),              // MCAST_PORT
    NlaPolicy::of(U8),               // MCAST_TTL
];

/// `ip_vs_svc_policy[IPVS_SVC_ATTR_MAX + 1]`. `STATS64` has no entry in C (zero: unspec).
pub const SVC_POLICY: [NlaPolicy; svc_attr::MAX as usize + 1] = [
    NlaPolicy::UNSPEC,
    NlaPolicy::of(U16),                                          // AF
    NlaPolicy::of(U16),                                          // PROTOCOL
    NlaPolicy::with_len(Binary, 16),                             // ADDR: sizeof(union nf_inet_addr)
    NlaPolicy::of(U16),                                          // PORT
    NlaPolicy::of(U32),                                          // FWMARK
    NlaPolicy::with_len(NulString, SCHEDNAME_MAXLEN as u16 - 1), // SCHED_NAME
    NlaPolicy::with_len(Binary, 8), // FLAGS: sizeof(struct ip_vs_flags)
    NlaPolicy::of(U32),             // TIMEOUT
    NlaPolicy::of(U32),             // NETMASK
    NlaPolicy::of(Nested),          // STATS
    NlaPolicy::with_len(NulString, PENAME_MAXLEN as u16), // PE_NAME (sic: no - 1)
    NlaPolicy::UNSPEC,              // STATS64
];

/// `ip_vs_dest_policy[IPVS_DEST_ATTR_MAX + 1]`. `STATS64` has no entry in C (zero: unspec).
pub const DEST_POLICY: [NlaPolicy; dest_attr::MAX as usize + 1] = [
    NlaPolicy::UNSPEC,
    NlaPolicy::with_len(Binary, 16), // ADDR
    NlaPolicy::of(U16),              // PORT
    NlaPolicy::of(U32),              // FWD_METHOD
    NlaPolicy::of(U32),              // WEIGHT
    NlaPolicy::of(U32),              // U_THRESH
    NlaPolicy::of(U32),              // L_THRESH
    NlaPolicy::of(U32),              // ACTIVE_CONNS
    NlaPolicy::of(U32),              // INACT_CONNS
    NlaPolicy::of(U32),              // PERSIST_CONNS
    NlaPolicy::of(Nested),           // STATS
    NlaPolicy::of(U16),              // ADDR_FAMILY
    NlaPolicy::UNSPEC,               // STATS64
    NlaPolicy::of(U8),               // TUN_TYPE
    NlaPolicy::of(U16),              // TUN_PORT
    NlaPolicy::of(U16),              // TUN_FLAGS
];

/// `struct genl_family.resv_start_op` of IPVS: `IPVS_CMD_FLUSH + 1`. Commands below it keep
/// the legacy rules: no `genlmsghdr.reserved`/`nlmsg_flags` check and, for ops without their
/// own policy, the family policy instead of "reject all attributes".
pub const RESV_START_OP: u8 = cmd::FLUSH + 1;

/// `GENL_DONT_VALIDATE_STRICT`: `doit` attributes validated liberally.
pub const GENL_DONT_VALIDATE_STRICT: u8 = 1 << 0;
/// `GENL_DONT_VALIDATE_DUMP`: `dumpit` gets no attribute parsing from genetlink.
pub const GENL_DONT_VALIDATE_DUMP: u8 = 1 << 1;
/// `GENL_DONT_VALIDATE_DUMP_STRICT`: `dumpit` attributes validated liberally.
pub const GENL_DONT_VALIDATE_DUMP_STRICT: u8 = 1 << 2;

/// One entry of `ip_vs_genl_ops[]` (`struct genl_small_ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenlOp {
    /// `.cmd`.
    pub cmd: u8,
    /// `.validate` (`GENL_DONT_VALIDATE_*` bits).
    pub validate: u8,
    /// `.flags & GENL_ADMIN_PERM`: needs `CAP_NET_ADMIN` (`-EPERM` otherwise).
    pub admin_perm: bool,
    /// Has a `.doit`.
    pub doit: bool,
    /// Has a `.dumpit`.
    pub dumpit: bool,
}

const fn op(cmd: u8, doit: bool, dumpit: bool) -> GenlOp {
    GenlOp {
        cmd,
        validate: GENL_DONT_VALIDATE_STRICT | GENL_DONT_VALIDATE_DUMP,
        admin_perm: true,
        doit,
        dumpit,
    }
}

/// `ip_vs_genl_ops[]`, in C's order. Every op is admin-only and sets
/// `GENL_DONT_VALIDATE_STRICT | GENL_DONT_VALIDATE_DUMP`.
pub const OPS: [GenlOp; 16] = [
    op(cmd::NEW_SERVICE, true, false),
    op(cmd::SET_SERVICE, true, false),
    op(cmd::DEL_SERVICE, true, false),
    op(cmd::GET_SERVICE, true, true),
    op(cmd::NEW_DEST, true, false),
    op(cmd::SET_DEST, true, false),
    op(cmd::DEL_DEST, true, false),
    op(cmd::GET_DEST, false, true),
    op(cmd::NEW_DAEMON, true, false),
    op(cmd::DEL_DAEMON, true, false),
    op(cmd::GET_DAEMON, false, true),
    op(cmd::SET_CONFIG, true, false),
    op(cmd::GET_CONFIG, true, false),
    op(cmd::GET_INFO, true, false),
    op(cmd::ZERO, true, false),
    op(cmd::FLUSH, true, false),
];

/// How genetlink treats the attributes of one received IPVS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrParsing {
    /// `genl_family_rcv_msg_doit()`: `__nlmsg_parse()` against [`CMD_POLICY`] with this
    /// strictness before the handler runs.
    Doit(Validate),
    /// `genl_start()` with `maxattr == 0` (`GENL_DONT_VALIDATE_DUMP`): no parsing at all.
    DumpUnparsed,
    /// `genl_start()` with the family policy and this strictness.
    Dump(Validate),
}

/// `genl_get_cmd()` + `genl_cmd_full_to_split()` + the strictness choice of
/// `genl_family_rcv_msg_attrs_parse()`, for IPVS.
///
/// `-EOPNOTSUPP` for a command without an op, or without the requested handler (a GET_DEST
/// without `NLM_F_DUMP`, a NEW_SERVICE with it). In 6.12 this is [`AttrParsing::Doit`] with
/// [`Validate::LIBERAL`] for every doit and [`AttrParsing::DumpUnparsed`] for every dump.
pub fn lookup_op(cmd: u8, dump: bool) -> Result<(GenlOp, AttrParsing), Errno> {
    let op = OPS
        .iter()
        .find(|o| o.cmd == cmd)
        .copied()
        .ok_or(Errno::Eopnotsupp)?;
    if (dump && !op.dumpit) || (!dump && !op.doit) {
        return Err(Errno::Eopnotsupp);
    }
    // genl_op_from_small(): ops below resv_start_op without their own policy keep the
    // family policy; at or above it they would get genl_policy_reject_all.
    let parsing = if dump {
        if op.validate & GENL_DONT_VALIDATE_DUMP != 0 {
            AttrParsing::DumpUnparsed
        } else if op.validate & GENL_DONT_VALIDATE_DUMP_STRICT != 0 {
            AttrParsing::Dump(Validate::LIBERAL)
        } else {
            AttrParsing::Dump(Validate::STRICT)
        }
    } else if op.validate & GENL_DONT_VALIDATE_STRICT != 0 {
        AttrParsing::Doit(Validate::LIBERAL)
    } else {
        AttrParsing::Doit(Validate::STRICT)
    };
    Ok((op, parsing))
}

/// A NUL-free name of at most 16 bytes (scheduler, persistence engine, interface), stored
/// inline so a parsed request can outlive the message buffer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Name {
    buf: [u8; 16],
    len: u8,
}

impl Name {
    /// The bytes up to the first NUL of `s` (what C sees through `char *`), if they fit.
    pub fn from_c(s: &[u8]) -> Option<Name> {
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        let text = &s[..end];
        let mut buf = [0u8; 16];
        buf.get_mut(..text.len())?.copy_from_slice(text);
        Some(Name {
            buf,
            len: text.len() as u8,
        })
    }

    /// The name without terminator.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len).min(16)]
    }

    /// The empty string.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(s) => write!(f, "{s:?}"),
            Err(_) => write!(f, "{:?}", self.as_bytes()),
        }
    }
}
