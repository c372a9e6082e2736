//! Host tests: C-derived errno table, round trips, emitter limits, property tests.
//!
//! Line numbers cite Linux 6.12.117 (`linux-6.12.117-1~deb12u1`): `nlattr.c` is
//! `lib/nlattr.c`, `ctl.c` is `net/netfilter/ipvs/ip_vs_ctl.c`, `sync.c` is
//! `net/netfilter/ipvs/ip_vs_sync.c`, `genetlink.c` is `net/netlink/genetlink.c`.

use super::config::{TimeoutUpdate, Timeouts};
use super::daemon::{self, DaemonRepr, McastGroup};
use super::dest::{DestKey, DestRepr};
use super::ipvs::*;
use super::nla::{Emitter, Nla, NlaError, NlaIter, Pad64, NLA_F_NESTED};
use super::policy::{self, NlaPolicy, NlaType, Sink, Validate, MSG_LEFTOVER, MSG_POLICY};
use super::reply::{emit_config, emit_info, DaemonInfo, DestInfo, ServiceInfo, Stats};
use super::request::{
    parse_genl, parse_request, Request, MSG_RESERVED, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use super::service::{FlagsUpdate, ServiceKey, ServiceRepr};
use super::{parse_any, Diag, Env, Errno};
use std::vec::Vec;
use std::{format, vec};

// ---- message builder -------------------------------------------------------------------

/// An attribute with a correct header and padding.
fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(payload);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

/// A header with an arbitrary `nla_len`, followed by `payload` verbatim.
fn raw(nla_len: u16, kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&nla_len.to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(payload);
    v
}

fn nest(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
    attr(kind, &parts.concat())
}

fn a_u8(kind: u16, v: u8) -> Vec<u8> {
    attr(kind, &[v])
}
fn a_u16(kind: u16, v: u16) -> Vec<u8> {
    attr(kind, &v.to_ne_bytes())
}
fn a_be16(kind: u16, v: u16) -> Vec<u8> {
    attr(kind, &v.to_be_bytes())
}
fn a_u32(kind: u16, v: u32) -> Vec<u8> {
    attr(kind, &v.to_ne_bytes())
}
fn a_str(kind: u16, s: &[u8]) -> Vec<u8> {
    attr(kind, &[s, &[0]].concat())
}
fn a_flags(flags: u32, mask: u32) -> Vec<u8> {
    attr(
        svc_attr::FLAGS,
        &[flags.to_ne_bytes(), mask.to_ne_bytes()].concat(),
    )
}
fn addr4(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&a);
    x
}

/// af=INET, TCP, 10.0.0.1:80.
fn svc_key_attrs() -> Vec<Vec<u8>> {
    vec![
        a_u16(svc_attr::AF, AF_INET),
        a_u16(svc_attr::PROTOCOL, 6),
        attr(svc_attr::ADDR, &addr4([10, 0, 0, 1])),
        a_be16(svc_attr::PORT, 80),
    ]
}

/// The key plus sched "wlc", flags {0, ~0}, timeout 0, netmask 255.255.255.255.
fn svc_full_attrs() -> Vec<Vec<u8>> {
    let mut v = svc_key_attrs();
    v.push(a_str(svc_attr::SCHED_NAME, b"wlc"));
    v.push(a_flags(0, u32::MAX));
    v.push(a_u32(svc_attr::TIMEOUT, 0));
    v.push(attr(svc_attr::NETMASK, &[255; 4]));
    v
}

/// 192.168.1.2:8080, direct routing, weight 1, thresholds 0.
fn dest_full_attrs() -> Vec<Vec<u8>> {
    vec![
        attr(dest_attr::ADDR, &addr4([192, 168, 1, 2])),
        a_be16(dest_attr::PORT, 8080),
        a_u32(dest_attr::FWD_METHOD, conn_flags::DROUTE),
        a_u32(dest_attr::WEIGHT, 1),
        a_u32(dest_attr::U_THRESH, 0),
        a_u32(dest_attr::L_THRESH, 0),
    ]
}

fn daemon_attrs() -> Vec<Vec<u8>> {
    vec![
        a_u32(daemon_attr::STATE, daemon_state::MASTER),
        a_str(daemon_attr::MCAST_IFN, b"eth0"),
        a_u32(daemon_attr::SYNC_ID, 7),
    ]
}

fn svc(parts: &[Vec<u8>]) -> Vec<u8> {
    nest(cmd_attr::SERVICE, parts)
}
fn dst(parts: &[Vec<u8>]) -> Vec<u8> {
    nest(cmd_attr::DEST, parts)
}
fn dmn(parts: &[Vec<u8>]) -> Vec<u8> {
    nest(cmd_attr::DAEMON, parts)
}
fn with(mut base: Vec<Vec<u8>>, extra: Vec<u8>) -> Vec<Vec<u8>> {
    base.push(extra);
    base
}
fn without(base: Vec<Vec<u8>>, kind: u16) -> Vec<Vec<u8>> {
    base.into_iter()
        .filter(|a| u16::from_ne_bytes([a[2], a[3]]) != kind)
        .collect()
}

/// The final answer C gives when every state lookup succeeds: the parse error, or the
/// deferred destination error.
fn outcome(r: Result<Request, Errno>) -> Result<(), Errno> {
    match r {
        Ok(req) => req.deferred_error().map_or(Ok(()), Err),
        Err(e) => Err(e),
    }
}

fn run(cmd: u8, dump: bool, payload: &[u8], env: &Env) -> (Result<Request, Errno>, Diag) {
    let mut diag = Diag::default();
    let r = parse_request(cmd, dump, payload, env, &mut diag);
    (r, diag)
}

// ---- the errno table ----------------------------------------------------------------------

struct Case {
    name: &'static str,
    cmd: u8,
    dump: bool,
    env: Env,
    payload: Vec<u8>,
    /// `outcome()` of the parse.
    want: Result<(), Errno>,
    /// `extack->_msg` after the request.
    msg: Option<&'static str>,
    /// `extack->bad_attr` as an offset into the attribute stream.
    bad_attr: Option<usize>,
    /// Where in C the expectation comes from.
    #[allow(dead_code)]
    cite: &'static str,
}

fn case(
    name: &'static str,
    cmd: u8,
    payload: Vec<u8>,
    want: Result<(), Errno>,
    cite: &'static str,
) -> Case {
    Case {
        name,
        cmd,
        dump: false,
        env: Env::default(),
        payload,
        want,
        msg: None,
        bad_attr: None,
        cite,
    }
}

impl Case {
    fn msg(mut self, msg: &'static str, bad_attr: Option<usize>) -> Self {
        self.msg = Some(msg);
        self.bad_attr = bad_attr;
        self
    }
    fn dump(mut self) -> Self {
        self.dump = true;
        self
    }
    fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }
}

use Errno::{
    Eafnosupport as EAFNOSUPPORT, Einval as EINVAL, Eopnotsupp as EOPNOTSUPP, Erange as ERANGE,
};

fn cases() -> Vec<Case> {
    let no_v6 = Env {
        ipv6_mod_enabled: false,
        ..Env::default()
    };
    let full_svc = svc(&svc_full_attrs());
    let key_svc = svc(&svc_key_attrs());
    vec![
        // --- genetlink dispatch ---
        case(
            "cmd 0 has no op",
            0,
            vec![],
            Err(EOPNOTSUPP),
            "genetlink.c:1180-1181 genl_get_cmd() fails",
        ),
        case(
            "SET_INFO is reply-only",
            cmd::SET_INFO,
            vec![],
            Err(EOPNOTSUPP),
            "ctl.c:4191-4289 no op for 14",
        ),
        case(
            "cmd 18 unknown",
            18,
            vec![],
            Err(EOPNOTSUPP),
            "genetlink.c:1180-1181",
        ),
        case(
            "GET_DEST has no doit",
            cmd::GET_DEST,
            key_svc.clone(),
            Err(EOPNOTSUPP),
            "ctl.c:4236-4240; genetlink.c:263-267",
        ),
        case(
            "GET_DAEMON has no doit",
            cmd::GET_DAEMON,
            vec![],
            Err(EOPNOTSUPP),
            "ctl.c:4254-4258",
        ),
        case(
            "NEW_SERVICE has no dumpit",
            cmd::NEW_SERVICE,
            full_svc.clone(),
            Err(EOPNOTSUPP),
            "genetlink.c:263-267",
        )
        .dump(),
        // --- top-level policy (liberal, extack passed) ---
        case(
            "TIMEOUT_TCP of 2 bytes",
            cmd::SET_CONFIG,
            attr(cmd_attr::TIMEOUT_TCP, &[1, 0]),
            Err(ERANGE),
            "nlattr.c:560-566,598-601 minlen 4",
        )
        .msg(MSG_POLICY, Some(0)),
        case(
            "TIMEOUT_UDP empty",
            cmd::SET_CONFIG,
            attr(cmd_attr::TIMEOUT_UDP, &[]),
            Err(ERANGE),
            "nlattr.c:565-566",
        )
        .msg(MSG_POLICY, Some(0)),
        case(
            "bad TIMEOUT_TCP_FIN after a good attr, on GET_INFO",
            cmd::GET_INFO,
            [
                a_u32(cmd_attr::TIMEOUT_TCP, 5),
                attr(cmd_attr::TIMEOUT_TCP_FIN, &[1, 2, 3]),
            ]
            .concat(),
            Err(ERANGE),
            "genetlink.c:1093-1097 validates before any doit",
        )
        .msg(MSG_POLICY, Some(8)),
        case(
            "SERVICE nest of 2 bytes",
            cmd::NEW_SERVICE,
            attr(cmd_attr::SERVICE, &[0, 0]),
            Err(ERANGE),
            "nlattr.c:505-510",
        )
        .msg(MSG_POLICY, Some(0)),
        case(
            "DAEMON nest of 3 bytes on FLUSH",
            cmd::FLUSH,
            attr(cmd_attr::DAEMON, &[0, 0, 0]),
            Err(ERANGE),
            "nlattr.c:509-510; validation precedes ip_vs_flush()",
        )
        .msg(MSG_POLICY, Some(0)),
        case(
            "TIMEOUT_TCP of 8 bytes is accepted (liberal)",
            cmd::SET_CONFIG,
            attr(cmd_attr::TIMEOUT_TCP, &[1, 0, 0, 0, 2, 0, 0, 0]),
            Ok(()),
            "nlattr.c:413-420 warning only without NL_VALIDATE_STRICT_ATTRS",
        ),
        case(
            "unknown top-level types are ignored (liberal)",
            cmd::FLUSH,
            [attr(0, &[1]), attr(99, &[]), attr(0x3fff, &[1, 2, 3, 4, 5])].concat(),
            Ok(()),
            "nlattr.c:624-631 only NL_VALIDATE_MAXTYPE rejects",
        ),
        case(
            "trailing bytes: success with an extack warning",
            cmd::DEL_SERVICE,
            [key_svc.clone(), vec![1, 2, 3]].concat(),
            Ok(()),
            "nlattr.c:646-651",
        )
        .msg(MSG_LEFTOVER, None),
        case(
            "nla_len < 4 ends the stream: SERVICE never seen",
            cmd::DEL_SERVICE,
            [raw(2, 7, &[0, 0]), key_svc.clone()].concat(),
            Err(EINVAL),
            "netlink.h:1278-1283 nla_ok(); nlattr.c:649; ctl.c:3501-3502",
        )
        .msg(MSG_LEFTOVER, None),
        case(
            "nla_len beyond the buffer drops the attribute",
            cmd::DEL_SERVICE,
            raw(200, cmd_attr::SERVICE, &key_svc[4..]),
            Err(EINVAL),
            "netlink.h:1282; ctl.c:3501-3502",
        )
        .msg(MSG_LEFTOVER, None),
        case(
            "truncated header (3 bytes)",
            cmd::DEL_SERVICE,
            vec![8, 0, 1],
            Err(EINVAL),
            "netlink.h:1280; ctl.c:3501",
        )
        .msg(MSG_LEFTOVER, None),
        case(
            "NLA_F_NESTED on SERVICE is accepted and masked",
            cmd::DEL_SERVICE,
            nest(cmd_attr::SERVICE | NLA_F_NESTED, &svc_key_attrs()),
            Ok(()),
            "netlink.h nla_type(); NL_VALIDATE_NESTED not set",
        ),
        // --- ip_vs_genl_parse_service() ---
        case(
            "NEW_SERVICE without SERVICE",
            cmd::NEW_SERVICE,
            vec![],
            Err(EINVAL),
            "ctl.c:3501-3502 nla == NULL",
        ),
        case(
            "empty SERVICE nest",
            cmd::NEW_SERVICE,
            svc(&[]),
            Err(EINVAL),
            "ctl.c:3510-3511",
        ),
        case(
            "service without AF",
            cmd::DEL_SERVICE,
            svc(&without(svc_key_attrs(), svc_attr::AF)),
            Err(EINVAL),
            "ctl.c:3510-3511",
        ),
        case(
            "service without PORT and without FWMARK",
            cmd::GET_SERVICE,
            svc(&without(svc_key_attrs(), svc_attr::PORT)),
            Err(EINVAL),
            "ctl.c:3510-3511",
        ),
        case(
            "fwmark service needs only AF + FWMARK",
            cmd::DEL_SERVICE,
            svc(&[a_u16(svc_attr::AF, AF_INET), a_u32(svc_attr::FWMARK, 5)]),
            Ok(()),
            "ctl.c:3510",
        ),
        case(
            "AF 7 unsupported",
            cmd::DEL_SERVICE,
            svc(&with(
                without(svc_key_attrs(), svc_attr::AF),
                a_u16(svc_attr::AF, 7),
            )),
            Err(EAFNOSUPPORT),
            "ctl.c:3515-3517",
        ),
        case(
            "AF_INET6 with ipv6 disabled",
            cmd::DEL_SERVICE,
            svc(&with(
                without(svc_key_attrs(), svc_attr::AF),
                a_u16(svc_attr::AF, AF_INET6),
            )),
            Err(EAFNOSUPPORT),
            "ctl.c:3479-3486 ipv6_mod_enabled()",
        )
        .env(no_v6),
        case(
            "NEW_SERVICE without SCHED_NAME",
            cmd::NEW_SERVICE,
            svc(&without(svc_full_attrs(), svc_attr::SCHED_NAME)),
            Err(EINVAL),
            "ctl.c:3550-3551",
        ),
        case(
            "SET_SERVICE without NETMASK",
            cmd::SET_SERVICE,
            svc(&without(svc_full_attrs(), svc_attr::NETMASK)),
            Err(EINVAL),
            "ctl.c:3550-3551",
        ),
        case(
            "AF checked before the full-entry fields",
            cmd::NEW_SERVICE,
            svc(&[a_u16(svc_attr::AF, 7), a_u32(svc_attr::FWMARK, 1)]),
            Err(EAFNOSUPPORT),
            "ctl.c:3516-3517 precede 3550-3551",
        ),
        case(
            "DEL_SERVICE needs no full entry",
            cmd::DEL_SERVICE,
            key_svc.clone(),
            Ok(()),
            "ctl.c:3993-3996 need_full_svc only for NEW/SET",
        ),
        case(
            "AF of 1 byte: inner -ERANGE becomes -EINVAL, no extack",
            cmd::DEL_SERVICE,
            svc(&with(
                without(svc_key_attrs(), svc_attr::AF),
                attr(svc_attr::AF, &[2]),
            )),
            Err(EINVAL),
            "nlattr.c:565-566; ctl.c:3500-3502 (extack NULL)",
        ),
        case(
            "ADDR of 17 bytes",
            cmd::DEL_SERVICE,
            svc(&with(
                without(svc_key_attrs(), svc_attr::ADDR),
                attr(svc_attr::ADDR, &[1; 17]),
            )),
            Err(EINVAL),
            "nlattr.c:499-500; ctl.c:3501-3502",
        ),
        case(
            "ADDR of 4 bytes is fine",
            cmd::DEL_SERVICE,
            svc(&with(
                without(svc_key_attrs(), svc_attr::ADDR),
                attr(svc_attr::ADDR, &[10, 0, 0, 1]),
            )),
            Ok(()),
            "nlattr.c:499 only an upper bound",
        ),
        case(
            "SCHED_NAME without NUL",
            cmd::NEW_SERVICE,
            svc(&with(
                without(svc_full_attrs(), svc_attr::SCHED_NAME),
                attr(svc_attr::SCHED_NAME, b"wlc"),
            )),
            Err(EINVAL),
            "nlattr.c:471-479",
        ),
        case(
            "SCHED_NAME of 16 chars + NUL",
            cmd::NEW_SERVICE,
            svc(&with(
                without(svc_full_attrs(), svc_attr::SCHED_NAME),
                a_str(svc_attr::SCHED_NAME, b"0123456789abcdef"),
            )),
            Err(EINVAL),
            "nlattr.c:471-479 no NUL in the first len+1=16 bytes",
        ),
        case(
            "SCHED_NAME 'abc\\0' + 13 junk bytes",
            cmd::NEW_SERVICE,
            svc(&with(
                without(svc_full_attrs(), svc_attr::SCHED_NAME),
                attr(svc_attr::SCHED_NAME, &[&b"abc\0"[..], &[b'x'; 13]].concat()),
            )),
            Err(EINVAL),
            "nlattr.c:487-494 -ERANGE (17 > 15), collapsed by ctl.c:3501-3502",
        ),
        case(
            "SCHED_NAME of 15 chars + NUL is the maximum",
            cmd::NEW_SERVICE,
            svc(&with(
                without(svc_full_attrs(), svc_attr::SCHED_NAME),
                a_str(svc_attr::SCHED_NAME, b"0123456789abcde"),
            )),
            Ok(()),
            "ctl.c:3267-3268 len = IP_VS_SCHEDNAME_MAXLEN - 1",
        ),
        case(
            "PE_NAME of 16 chars + NUL is accepted",
            cmd::NEW_SERVICE,
            svc(&with(
                svc_full_attrs(),
                a_str(svc_attr::PE_NAME, b"0123456789abcdef"),
            )),
            Ok(()),
            "ctl.c:3269-3270 len = IP_VS_PENAME_MAXLEN (no - 1)",
        ),
        case(
            "PE_NAME of 17 chars + NUL",
            cmd::NEW_SERVICE,
            svc(&with(
                svc_full_attrs(),
                a_str(svc_attr::PE_NAME, b"0123456789abcdefg"),
            )),
            Err(EINVAL),
            "nlattr.c:471-479",
        ),
        case(
            "FLAGS of 12 bytes",
            cmd::NEW_SERVICE,
            svc(&with(
                without(svc_full_attrs(), svc_attr::FLAGS),
                attr(svc_attr::FLAGS, &[0; 12]),
            )),
            Err(EINVAL),
            "nlattr.c:499-500",
        ),
        case(
            "STATS nest of 2 bytes inside SERVICE",
            cmd::DEL_SERVICE,
            svc(&with(svc_key_attrs(), attr(svc_attr::STATS, &[0, 0]))),
            Err(EINVAL),
            "nlattr.c:509-510 inside ctl.c:3501",
        ),
        case(
            "STATS64 of any size inside SERVICE (no policy entry)",
            cmd::DEL_SERVICE,
            svc(&with(svc_key_attrs(), attr(svc_attr::STATS64, &[0, 0, 0]))),
            Ok(()),
            "ctl.c:3261-3277 no [IPVS_SVC_ATTR_STATS64]: NLA_UNSPEC, len 0",
        ),
        case(
            "trailing junk inside SERVICE: no extack (NULL), accepted",
            cmd::DEL_SERVICE,
            svc(&with(svc_key_attrs(), vec![9, 9])),
            Ok(()),
            "nlattr.c:646-651 with extack NULL (ctl.c:3501)",
        ),
        // --- destinations ---
        case(
            "NEW_DEST without SERVICE",
            cmd::NEW_DEST,
            dst(&dest_full_attrs()),
            Err(EINVAL),
            "ctl.c:3501-3502",
        ),
        case(
            "NEW_DEST without DEST",
            cmd::NEW_DEST,
            key_svc.clone(),
            Err(EINVAL),
            "ctl.c:3703-3704 (after -ESRCH, ctl.c:4002-4004)",
        ),
        case(
            "NEW_DEST without WEIGHT",
            cmd::NEW_DEST,
            [
                key_svc.clone(),
                dst(&without(dest_full_attrs(), dest_attr::WEIGHT)),
            ]
            .concat(),
            Err(EINVAL),
            "ctl.c:3737-3738",
        ),
        case(
            "DEL_DEST needs only ADDR + PORT",
            cmd::DEL_DEST,
            [key_svc.clone(), dst(&dest_full_attrs()[..2])].concat(),
            Ok(()),
            "ctl.c:4012-4017 need_full_dest false",
        ),
        case(
            "dest without PORT",
            cmd::DEL_DEST,
            [key_svc.clone(), dst(&dest_full_attrs()[..1])].concat(),
            Err(EINVAL),
            "ctl.c:3710-3711",
        ),
        case(
            "dest TUN_TYPE empty",
            cmd::NEW_DEST,
            [
                key_svc.clone(),
                dst(&with(dest_full_attrs(), attr(dest_attr::TUN_TYPE, &[]))),
            ]
            .concat(),
            Err(EINVAL),
            "nlattr.c:565-566; ctl.c:3703-3704",
        ),
        case(
            "dest ADDR_FAMILY of 1 byte",
            cmd::DEL_DEST,
            [
                key_svc.clone(),
                dst(&with(dest_full_attrs(), attr(dest_attr::ADDR_FAMILY, &[2]))),
            ]
            .concat(),
            Err(EINVAL),
            "nlattr.c:565-566; ctl.c:3703-3704",
        ),
        case(
            "service key errors come before dest errors",
            cmd::NEW_DEST,
            [
                svc(&[a_u16(svc_attr::AF, 7), a_u32(svc_attr::FWMARK, 1)]),
                dst(&[]),
            ]
            .concat(),
            Err(EAFNOSUPPORT),
            "ctl.c:3995-3999 before 4015-4019",
        ),
        // --- daemons ---
        case(
            "NEW_DAEMON without DAEMON",
            cmd::NEW_DAEMON,
            vec![],
            Err(EINVAL),
            "ctl.c:3947-3951 ret = -EINVAL",
        ),
        case(
            "DAEMON STATE of 2 bytes: extack passed",
            cmd::NEW_DAEMON,
            dmn(&with(
                without(daemon_attrs(), daemon_attr::STATE),
                attr(daemon_attr::STATE, &[1, 0]),
            )),
            Err(EINVAL),
            "nlattr.c:565-566,600; ctl.c:3949-3951 (info->extack)",
        )
        // Offsets: DAEMON header (4), MCAST_IFN "eth0\0" (4+5→12), SYNC_ID (8), then STATE.
        .msg(MSG_POLICY, Some(4 + 12 + 8)),
        case(
            "NEW_DAEMON without SYNC_ID",
            cmd::NEW_DAEMON,
            dmn(&without(daemon_attrs(), daemon_attr::SYNC_ID)),
            Err(EINVAL),
            "ctl.c:3853-3856",
        ),
        case(
            "NEW_DAEMON with unicast IPv4 group",
            cmd::NEW_DAEMON,
            dmn(&with(
                daemon_attrs(),
                attr(daemon_attr::MCAST_GROUP, &[10, 0, 0, 1]),
            )),
            Err(EINVAL),
            "ctl.c:3865-3870",
        ),
        case(
            "NEW_DAEMON with unicast IPv6 group",
            cmd::NEW_DAEMON,
            dmn(&with(
                daemon_attrs(),
                attr(
                    daemon_attr::MCAST_GROUP6,
                    &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                ),
            )),
            Err(EINVAL),
            "ctl.c:3874-3881",
        ),
        case(
            "MCAST_GROUP6 of 8 bytes",
            cmd::NEW_DAEMON,
            dmn(&with(
                daemon_attrs(),
                attr(daemon_attr::MCAST_GROUP6, &[0xff; 8]),
            )),
            Err(EINVAL),
            "nlattr.c:555-556 (NLA_UNSPEC, .len 16); ctl.c:3949-3951",
        )
        .msg(MSG_POLICY, Some(4 + 8 + 12 + 8)),
        case(
            "MCAST_IFN of 16 chars, no NUL",
            cmd::NEW_DAEMON,
            dmn(&with(
                without(daemon_attrs(), daemon_attr::MCAST_IFN),
                attr(daemon_attr::MCAST_IFN, b"abcdefghijklmnop"),
            )),
            Err(EINVAL),
            "nlattr.c:471-479; ctl.c:3949-3951",
        )
        .msg(MSG_POLICY, Some(4 + 8 + 8)),
        case(
            "DEL_DAEMON without STATE",
            cmd::DEL_DAEMON,
            dmn(&daemon_attrs()[1..]),
            Err(EINVAL),
            "ctl.c:3911-3912",
        ),
        case(
            "leftover inside DAEMON: success with warning",
            cmd::DEL_DAEMON,
            dmn(&with(daemon_attrs(), vec![0, 0])),
            Ok(()),
            "nlattr.c:646-651 with info->extack",
        )
        .msg(MSG_LEFTOVER, None),
        // --- dumps ---
        case(
            "GET_SERVICE dump ignores garbage",
            cmd::GET_SERVICE,
            vec![1, 2, 3, 4, 5],
            Ok(()),
            "genetlink.c:280-283 maxattr 0",
        )
        .dump(),
        case(
            "GET_DEST dump: policy error means an empty dump, not an error",
            cmd::GET_DEST,
            attr(cmd_attr::TIMEOUT_TCP, &[1]),
            Ok(()),
            "ctl.c:3667-3668 goto out_err; return skb->len",
        )
        .dump()
        .msg(MSG_POLICY, Some(0)),
    ]
}

#[test]
fn errno_table_matches_c() {
    let cases = cases();
    assert!(cases.len() >= 25);
    for c in cases {
        let (r, diag) = run(c.cmd, c.dump, &c.payload, &c.env);
        assert_eq!(outcome(r), c.want, "{}: errno", c.name);
        assert_eq!(diag.extack.msg, c.msg, "{}: extack message", c.name);
        assert_eq!(
            diag.extack.bad_attr, c.bad_attr,
            "{}: extack offset",
            c.name
        );
    }
}

#[test]
fn extack_policy_is_reported_with_attribute_errors() {
    let (_, diag) = run(
        cmd::SET_CONFIG,
        false,
        &attr(cmd_attr::TIMEOUT_TCP, &[1]),
        &Env::default(),
    );
    assert_eq!(diag.extack.policy, Some(NlaPolicy::of(NlaType::U32)));
}

#[test]
fn dump_dests_names_its_service() {
    let (r, _) = run(cmd::GET_DEST, true, &svc(&svc_key_attrs()), &Env::default());
    let Ok(Request::DumpDests { service: Some(k) }) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (k.af, k.protocol, k.port, &k.addr[..4]),
        (AF_INET, 6, 80, &[10, 0, 0, 1][..])
    );
    // A service that does not parse: empty dump, still no error, and no extack (NULL).
    let (r, diag) = run(cmd::GET_DEST, true, &svc(&[]), &Env::default());
    assert_eq!(r, Ok(Request::DumpDests { service: None }));
    assert_eq!(diag.extack.msg, None);
}

#[test]
fn genl_header_checks() {
    let env = Env::default();
    let mut d = Diag::default();
    // Reserved field set: ignored below resv_start_op (all IPVS commands)...
    let msg = [&[cmd::FLUSH, 1, 0xff, 0xff][..]].concat();
    assert_eq!(
        parse_genl(NLM_F_REQUEST, &msg, &env, &mut d),
        Ok(Request::Flush)
    );
    // ...checked above it (genetlink.c:1133-1139), before the op lookup.
    let msg = [RESV_START_OP, 1, 1, 0];
    assert_eq!(parse_genl(NLM_F_REQUEST, &msg, &env, &mut d), Err(EINVAL));
    assert_eq!(d.extack.msg, Some(MSG_RESERVED));
    let mut d = Diag::default();
    assert_eq!(
        parse_genl(
            NLM_F_REQUEST | 0x20,
            &[RESV_START_OP, 1, 0, 0],
            &env,
            &mut d
        ),
        Err(EINVAL)
    );
    assert_eq!(
        parse_genl(
            NLM_F_REQUEST | NLM_F_ACK,
            &[RESV_START_OP, 1, 0, 0],
            &env,
            &mut d
        ),
        Err(EOPNOTSUPP)
    );
    // Short genl header (genetlink.c:1128-1129).
    assert_eq!(
        parse_genl(NLM_F_REQUEST, &[cmd::FLUSH, 1], &env, &mut d),
        Err(EINVAL)
    );
    // Not a request: acknowledged without processing (af_netlink.c netlink_rcv_skb()).
    assert_eq!(parse_genl(0, &[0xff], &env, &mut d), Ok(Request::Ignored));
    // NLM_F_DUMP selects the dumpit.
    assert_eq!(
        parse_genl(
            NLM_F_REQUEST | NLM_F_DUMP,
            &[cmd::GET_SERVICE, 1, 0, 0],
            &env,
            &mut d
        ),
        Ok(Request::DumpServices)
    );
}

#[test]
fn every_ipvs_op_is_liberal_and_below_resv_start_op() {
    for op in OPS {
        assert!(op.cmd < RESV_START_OP);
        assert!(op.admin_perm);
        if op.doit {
            assert_eq!(
                lookup_op(op.cmd, false),
                Ok((op, AttrParsing::Doit(Validate::LIBERAL)))
            );
        }
        if op.dumpit {
            assert_eq!(lookup_op(op.cmd, true), Ok((op, AttrParsing::DumpUnparsed)));
        }
    }
    assert_eq!(RESV_START_OP, 18);
}

// ---- semantics of parsed values -----------------------------------------------------------

#[test]
fn liberal_u32_reads_the_first_four_bytes_and_logs() {
    let (r, diag) = run(
        cmd::SET_CONFIG,
        false,
        &attr(cmd_attr::TIMEOUT_TCP, &[1, 0, 0, 0, 2, 0, 0, 0]),
        &Env::default(),
    );
    let Ok(Request::SetConfig(t)) = r else {
        panic!()
    };
    assert_eq!(t.tcp, Some(u32::from_ne_bytes([1, 0, 0, 0])));
    assert_eq!(
        (diag.log.invalid_length, diag.log.first_invalid_length_type),
        (1, Some(cmd_attr::TIMEOUT_TCP))
    );
    assert_eq!(diag.extack.msg, None);
}

#[test]
fn last_duplicate_wins() {
    let parts = with(svc_key_attrs(), a_be16(svc_attr::PORT, 443));
    let (r, _) = run(cmd::DEL_SERVICE, false, &svc(&parts), &Env::default());
    assert!(matches!(r, Ok(Request::DelService(k)) if k.port == 443));
}

#[test]
fn fwmark_overrides_tuple() {
    let parts = with(svc_key_attrs(), a_u32(svc_attr::FWMARK, 9));
    let (r, _) = run(cmd::DEL_SERVICE, false, &svc(&parts), &Env::default());
    let want = ServiceKey {
        af: AF_INET,
        protocol: IPPROTO_TCP,
        addr: [0; 16],
        port: 0,
        fwmark: 9,
    };
    assert_eq!(r, Ok(Request::DelService(want)));
    // FWMARK 0 is still the fwmark form, looked up as TCP 0.0.0.0:0 (ctl.c:3519-3521,3530).
    let (r, _) = run(
        cmd::DEL_SERVICE,
        false,
        &svc(&[a_u16(svc_attr::AF, 2), a_u32(svc_attr::FWMARK, 0)]),
        &Env::default(),
    );
    assert!(matches!(r, Ok(Request::DelService(k)) if !k.by_fwmark() && k.protocol == IPPROTO_TCP));
}

#[test]
fn flags_semantics() {
    // A FLAGS attribute of 4 bytes: nla_memcpy() zero-fills the mask, so nothing changes.
    let parts = with(
        without(svc_full_attrs(), svc_attr::FLAGS),
        attr(svc_attr::FLAGS, &0xffu32.to_ne_bytes()),
    );
    let (r, _) = run(cmd::SET_SERVICE, false, &svc(&parts), &Env::default());
    let Ok(Request::SetService(s)) = r else {
        panic!()
    };
    assert_eq!(
        s.flags,
        FlagsUpdate {
            flags: 0xff,
            mask: 0
        }
    );
    assert_eq!(
        s.flags_for_edit(svc_flags::PERSISTENT),
        svc_flags::PERSISTENT | svc_flags::HASHED
    );
    let u = FlagsUpdate {
        flags: svc_flags::ONEPACKET | svc_flags::HASHED,
        mask: svc_flags::ONEPACKET | svc_flags::HASHED,
    };
    assert_eq!(
        u.apply(svc_flags::PERSISTENT),
        svc_flags::PERSISTENT | svc_flags::ONEPACKET | svc_flags::HASHED
    );
    let s = ServiceRepr { flags: u, ..s };
    assert_eq!(s.flags_for_add(), svc_flags::ONEPACKET);
}

#[test]
fn name_semantics() {
    // C reads sched_name through char *: up to the first NUL.
    let parts = with(
        without(svc_full_attrs(), svc_attr::SCHED_NAME),
        attr(svc_attr::SCHED_NAME, b"rr\0junk"),
    );
    let (r, _) = run(cmd::NEW_SERVICE, false, &svc(&parts), &Env::default());
    let Ok(Request::NewService(s)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(s.sched_name.as_bytes(), b"rr");
    assert_eq!(s.scheduler(), Some(&b"rr"[..]));
    assert_eq!(s.pe(), None);
    let none = ServiceRepr {
        sched_name: Name::from_c(b"none").unwrap(),
        pe_name: Name::from_c(b""),
        ..s
    };
    assert_eq!((none.scheduler(), none.pe()), (None, None));
}

#[test]
fn service_checks() {
    let env = Env::default();
    let (r, _) = run(cmd::NEW_SERVICE, false, &svc(&svc_full_attrs()), &env);
    let Ok(Request::NewService(s)) = r else {
        panic!()
    };
    assert_eq!(s.check(&env, |n| n == b"wlc", |_| false), Ok(()));
    // ctl.c:1431-1438 unknown scheduler.
    assert_eq!(s.check(&env, |_| false, |_| true), Err(Errno::Enoent));
    let pe = ServiceRepr {
        pe_name: Name::from_c(b"sip"),
        ..s
    };
    // ctl.c:1441-1448 unknown persistence engine.
    assert_eq!(pe.check(&env, |_| true, |_| false), Err(Errno::Enoent));
    // ctl.c:1451-1458: IPv6 prefix length 1..=128, read as a host u32.
    let v6 = |plen: u32| ServiceRepr {
        key: ServiceKey {
            af: AF_INET6,
            ..s.key
        },
        netmask: plen.to_ne_bytes(),
        ..s
    };
    assert_eq!(v6(0).check(&env, |_| true, |_| true), Err(EINVAL));
    assert_eq!(v6(129).check(&env, |_| true, |_| true), Err(EINVAL));
    assert_eq!(v6(1).check(&env, |_| true, |_| true), Ok(()));
    assert_eq!(v6(128).check(&env, |_| true, |_| true), Ok(()));
    // Scheduler lookup precedes the netmask check.
    assert_eq!(v6(0).check(&env, |_| false, |_| true), Err(Errno::Enoent));
    // The persistence timeout is not range-checked; C multiplies by HZ in unsigned int.
    let t = ServiceRepr {
        timeout: u32::MAX,
        ..s
    };
    assert_eq!(t.timeout_jiffies(250), u32::MAX.wrapping_mul(250));
}

#[test]
fn dest_checks() {
    let env = Env::default();
    let base = {
        let (r, _) = run(
            cmd::NEW_DEST,
            false,
            &[svc(&svc_key_attrs()), dst(&dest_full_attrs())].concat(),
            &env,
        );
        let Ok(Request::NewDest { dest: Ok(d), .. }) = r else {
            panic!("{r:?}")
        };
        d
    };
    assert_eq!(base.check(), Ok(()));
    // ctl.c:1177-1179 / 1250-1252: weight read as int.
    assert_eq!(DestRepr { weight: -1, ..base }.check(), Err(ERANGE));
    assert_eq!(
        DestRepr {
            weight: i32::MAX,
            ..base
        }
        .check(),
        Ok(())
    );
    // ctl.c:1182-1185: l_threshold > u_threshold.
    assert_eq!(
        DestRepr {
            l_threshold: 2,
            u_threshold: 1,
            ..base
        }
        .check(),
        Err(ERANGE)
    );
    // ctl.c:1188-1189: u_threshold > INT_MAX.
    assert_eq!(
        DestRepr {
            u_threshold: 1 << 31,
            ..base
        }
        .check(),
        Err(EINVAL)
    );
    // ctl.c:1191-1195: GUE needs a port.
    assert_eq!(
        DestRepr {
            tun_type: tunnel_type::GUE,
            ..base
        }
        .check(),
        Err(EINVAL)
    );
    assert_eq!(
        DestRepr {
            tun_type: tunnel_type::GUE,
            tun_port: 6080,
            ..base
        }
        .check(),
        Ok(())
    );
    // Order: weight before thresholds.
    assert_eq!(
        DestRepr {
            weight: -1,
            u_threshold: 1 << 31,
            ..base
        }
        .check(),
        Err(ERANGE)
    );
    // Unknown forwarding methods 5..=7 are not rejected by C.
    assert_eq!(
        DestRepr {
            conn_flags: 7,
            ..base
        }
        .check(),
        Ok(())
    );

    // ctl.c:4027-4052: family resolution.
    assert_eq!(base.resolve_af(AF_INET, &env, false), Ok(AF_INET));
    let v6 = DestRepr {
        key: DestKey {
            af: AF_INET6,
            ..base.key
        },
        ..base
    };
    assert_eq!(
        v6.resolve_af(AF_INET, &env, false),
        Err(EINVAL),
        "mixed family needs tunnelling"
    );
    let v6tun = DestRepr {
        conn_flags: conn_flags::TUNNEL,
        ..v6
    };
    assert_eq!(v6tun.resolve_af(AF_INET, &env, false), Ok(AF_INET6));
    assert_eq!(
        v6tun.resolve_af(AF_INET, &env, true),
        Err(EINVAL),
        "not while a sync daemon runs"
    );
    let bad = DestRepr {
        key: DestKey { af: 3, ..base.key },
        ..base
    };
    assert_eq!(bad.resolve_af(AF_INET, &env, false), Err(EAFNOSUPPORT));
    // DEL_DEST only resolves the family.
    assert_eq!(v6.key.resolve_af(AF_INET, &env), Ok(AF_INET6));

    // __ip_vs_update_dest(): stored flags and the default lower threshold.
    assert_eq!(
        base.dest_conn_flags(),
        conn_flags::DROUTE | conn_flags::INACTIVE | conn_flags::NOOUTPUT
    );
    assert_eq!(
        DestRepr {
            conn_flags: 0,
            ..base
        }
        .dest_conn_flags(),
        conn_flags::INACTIVE
    );
    assert_eq!(
        DestRepr {
            u_threshold: 100,
            l_threshold: 0,
            ..base
        }
        .l_threshold_val(),
        75
    );
}

#[test]
fn fwd_method_is_masked() {
    let parts = with(
        without(dest_full_attrs(), dest_attr::FWD_METHOD),
        a_u32(dest_attr::FWD_METHOD, 0xfff3),
    );
    let (r, _) = run(
        cmd::SET_DEST,
        false,
        &[svc(&svc_key_attrs()), dst(&parts)].concat(),
        &Env::default(),
    );
    assert!(matches!(r, Ok(Request::SetDest { dest: Ok(d), .. }) if d.conn_flags == 3));
}

#[test]
fn config_checks() {
    let cur = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
    let hz = 250;
    let up = |tcp, fin, udp| TimeoutUpdate {
        tcp,
        tcp_fin: fin,
        udp,
    };
    assert_eq!(up(None, None, None).apply(cur, hz), Ok(cur));
    assert_eq!(
        up(Some(10), None, Some(0)).apply(cur, hz),
        Ok(Timeouts { tcp: 10, ..cur })
    );
    // ctl.c:2636-2645: negative as int, or above INT_MAX / HZ.
    assert_eq!(up(Some(u32::MAX), None, None).apply(cur, hz), Err(EINVAL));
    assert_eq!(
        up(None, None, Some((i32::MAX / 250) as u32 + 1)).apply(cur, hz),
        Err(EINVAL)
    );
    assert_eq!(
        up(None, Some((i32::MAX / 250) as u32), None)
            .apply(cur, hz)
            .map(|t| t.tcp_fin),
        Ok(i32::MAX / 250)
    );
}

#[test]
fn daemon_checks() {
    let env = Env::default();
    let (r, _) = run(cmd::NEW_DAEMON, false, &dmn(&daemon_attrs()), &env);
    let Ok(Request::NewDaemon(d)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(d.mcast_ifn.as_bytes(), b"eth0");
    assert_eq!(d.mcast_group, McastGroup::Default);
    // sync.c:1810-1814 unknown interface; 1829-1848 state.
    assert_eq!(d.check_start(false, true, false, false), Ok(()));
    assert_eq!(
        d.check_start(true, true, false, false),
        Err(EINVAL),
        "ctl.c:3897-3900 mixed families"
    );
    assert_eq!(
        d.check_start(false, false, false, false),
        Err(Errno::Enodev)
    );
    assert_eq!(d.check_start(false, true, true, false), Err(Errno::Eexist));
    assert_eq!(
        DaemonRepr { state: 3, ..d }.check_start(false, true, false, false),
        Err(EINVAL)
    );
    // sync.c:1957-2026 stop: -ESRCH when not running, -EINVAL for other states.
    assert_eq!(
        daemon::check_stop(daemon_state::MASTER, false, false),
        Err(Errno::Esrch)
    );
    assert_eq!(
        daemon::check_stop(daemon_state::BACKUP, false, false),
        Err(Errno::Esrch)
    );
    assert_eq!(daemon::check_stop(0, false, false), Err(EINVAL));
    assert_eq!(
        daemon::check_stop(daemon_state::BACKUP, false, true),
        Ok(())
    );
    // MCAST_GROUP wins over MCAST_GROUP6 (ctl.c:3864-3874); 224/4 is multicast.
    let parts = with(
        with(daemon_attrs(), attr(daemon_attr::MCAST_GROUP6, &[0x20; 16])),
        attr(daemon_attr::MCAST_GROUP, &[239, 1, 2, 3]),
    );
    let (r, _) = run(cmd::NEW_DAEMON, false, &dmn(&parts), &env);
    assert!(
        matches!(r, Ok(Request::NewDaemon(d)) if d.mcast_group == McastGroup::V4([239, 1, 2, 3]))
    );
    // IPv6 group without CONFIG_IP_VS_IPV6 (ctl.c:3882-3883).
    let parts = with(daemon_attrs(), attr(daemon_attr::MCAST_GROUP6, &[0xff; 16]));
    let no_v6 = Env {
        ip_vs_ipv6: false,
        ..env
    };
    assert_eq!(
        run(cmd::NEW_DAEMON, false, &dmn(&parts), &no_v6).0,
        Err(EAFNOSUPPORT)
    );
    assert!(matches!(
        run(cmd::NEW_DAEMON, false, &dmn(&parts), &env).0,
        Ok(Request::NewDaemon(_))
    ));
}

#[test]
fn zero_with_and_without_service() {
    assert_eq!(parse_any(cmd::ZERO, &[]), Ok(Request::Zero(None)));
    assert!(matches!(
        parse_any(cmd::ZERO, &svc(&svc_key_attrs())),
        Ok(Request::Zero(Some(_)))
    ));
    // An empty SERVICE is still "a service argument" (ctl.c:3983-3984): -EINVAL.
    assert_eq!(parse_any(cmd::ZERO, &svc(&[])), Err(EINVAL));
}

// ---- generic validator in strict mode -----------------------------------------------------

const TEST_POLICY: [NlaPolicy; 4] = [
    NlaPolicy::UNSPEC,
    NlaPolicy::of(NlaType::U32),
    NlaPolicy::of(NlaType::Nested),
    NlaPolicy::with_len(NlaType::Unspec, 2),
];

fn strict(buf: &[u8], v: Validate) -> (Result<(), Errno>, Diag) {
    let mut diag = Diag::default();
    let r = policy::parse::<4>(
        buf,
        0,
        &TEST_POLICY,
        v,
        &mut Sink {
            diag: &mut diag,
            extack: true,
        },
    )
    .map(|_| ());
    (r, diag)
}

#[test]
fn strict_validation_messages() {
    use super::policy::*;
    let s = Validate::STRICT;
    assert_eq!(
        strict(&attr(9, &[]), s),
        (Err(EINVAL), diag_msg(MSG_UNKNOWN_TYPE, Some(0), None))
    );
    assert_eq!(strict(&attr(0, &[]), s).0, Err(EINVAL));
    let (r, d) = strict(&attr(1, &[0; 8]), s);
    assert_eq!(
        (r, d.extack.msg, d.log.invalid_length),
        (Err(EINVAL), Some(MSG_INVALID_LENGTH), 1)
    );
    assert_eq!(
        strict(&attr(2, &[]), s).1.extack.msg,
        Some(MSG_NESTED_MISSING)
    );
    assert_eq!(strict(&attr(2 | NLA_F_NESTED, &[]), s).0, Ok(()));
    assert_eq!(
        strict(&attr(1 | NLA_F_NESTED, &[0; 4]), s).1.extack.msg,
        Some(MSG_NESTED_UNEXPECTED)
    );
    assert_eq!(
        strict(&attr(3, &[0; 2]), s),
        (Err(EINVAL), diag_msg(MSG_UNSUPPORTED, Some(0), None))
    );
    assert_eq!(
        strict(&[attr(1, &[0; 4]), vec![0, 0]].concat(), s).0,
        Err(EINVAL)
    );
    // Deprecated-strict: maxtype and trailing only.
    let ds = Validate::DEPRECATED_STRICT;
    assert_eq!(strict(&attr(1, &[0; 8]), ds).0, Ok(()));
    assert_eq!(strict(&attr(3, &[0; 2]), ds).0, Ok(()));
    assert_eq!(strict(&attr(3, &[0; 1]), ds).0, Err(ERANGE));
    assert_eq!(
        strict(&[attr(1, &[0; 4]), vec![0, 0]].concat(), ds)
            .1
            .extack
            .msg,
        Some(MSG_LEFTOVER)
    );
    // Without an extack, only the errno and the log.
    let mut diag = Diag::default();
    let buf = attr(1, &[0]);
    let r = policy::parse::<4>(
        &buf,
        0,
        &TEST_POLICY,
        s,
        &mut Sink {
            diag: &mut diag,
            extack: false,
        },
    )
    .map(|_| ());
    assert_eq!((r, diag.extack), (Err(EINVAL), Default::default()));
}

fn diag_msg(msg: &'static str, bad_attr: Option<usize>, policy: Option<NlaPolicy>) -> Diag {
    Diag {
        extack: super::Extack {
            msg: Some(msg),
            bad_attr,
            policy,
        },
        log: Default::default(),
    }
}

#[test]
fn nul_string_rules() {
    const P: [NlaPolicy; 3] = [
        NlaPolicy::UNSPEC,
        NlaPolicy::with_len(NlaType::NulString, 3),
        NlaPolicy::of(NlaType::NulString),
    ];
    let v = |payload: &[u8], kind: u16| {
        let mut diag = Diag::default();
        policy::parse::<3>(
            &attr(kind, payload),
            0,
            &P,
            Validate::LIBERAL,
            &mut Sink {
                diag: &mut diag,
                extack: true,
            },
        )
        .map(|_| ())
    };
    assert_eq!(v(b"", 1), Err(EINVAL)); // !minlen
    assert_eq!(v(b"abc\0", 1), Ok(()));
    assert_eq!(v(b"abcd", 1), Err(EINVAL)); // no NUL in first len+1
    assert_eq!(v(b"a\0cde", 1), Err(ERANGE)); // NUL found, 5 > 3
    assert_eq!(v(b"a\0c", 1), Ok(())); // last byte not NUL, 3 <= 3
    assert_eq!(v(b"\0", 1), Ok(()));
    assert_eq!(v(b"any length\0", 2), Ok(())); // len 0: NUL anywhere
    assert_eq!(v(b"no nul", 2), Err(EINVAL));
}

// ---- nla view and iterator ------------------------------------------------------------------

#[test]
fn nla_view() {
    let a = attr(0x8005, &[1, 2, 3]);
    let nla = Nla::new_checked(&a[..]).unwrap();
    assert_eq!(
        (
            nla.len(),
            nla.kind(),
            nla.is_nested(),
            nla.payload(),
            nla.total_len()
        ),
        (7, 5, true, &[1, 2, 3][..], 8)
    );
    assert_eq!(Nla::new_checked(&a[..3]), Err(NlaError::Truncated));
    assert_eq!(
        Nla::new_checked(&raw(3, 1, &[])[..]),
        Err(NlaError::LengthTooSmall)
    );
    assert_eq!(Nla::new_checked(&a[..6]), Err(NlaError::LengthTooLarge));
    // Unchecked views never panic.
    let short = Nla::new_unchecked(&[7u8][..]);
    assert_eq!((short.len(), short.payload()), (0, &[][..]));
    let mut buf = [0u8; 8];
    let mut w = Nla::new_unchecked(&mut buf[..]);
    w.set_len(6);
    w.set_raw_type(3);
    w.payload_mut().copy_from_slice(&[9, 9]);
    assert_eq!(buf, [6, 0, 3, 0, 9, 9, 0, 0]);
}

#[test]
fn iterator_follows_nla_ok() {
    // An unpadded last attribute: rem goes to -3, which is not leftover.
    let buf = [attr(1, &[0; 4]), raw(5, 2, &[7])].concat();
    let mut it = NlaIter::new(&buf);
    assert_eq!(
        it.by_ref()
            .map(|a| (a.offset, a.kind()))
            .collect::<Vec<_>>(),
        vec![(0, 1), (8, 2)]
    );
    assert_eq!(it.leftover(), 0);
    // A bad header stops iteration; everything after it is leftover.
    let buf = [attr(1, &[]), raw(2, 2, &[]), attr(3, &[])].concat();
    let mut it = NlaIter::new(&buf);
    assert_eq!(it.by_ref().count(), 1);
    assert_eq!(it.leftover(), 8);
}

// ---- emitter ------------------------------------------------------------------------------

#[test]
fn emitter_writes_and_reports_emsgsize() {
    let mut buf = [0xaau8; 12];
    let mut e = Emitter::new(&mut buf);
    e.put_u8(1, 5).unwrap();
    assert_eq!(e.put_u32(2, 1), Err(Errno::Emsgsize)); // needs 8, 4 left
    e.put_flag(3).unwrap();
    assert_eq!(e.written(), &[5, 0, 1, 0, 5, 0, 0, 0, 4, 0, 3, 0]);
    assert_eq!(e.put_flag(4), Err(Errno::Emsgsize));
    let mut buf = [0u8; 32];
    let mut e = Emitter::new(&mut buf);
    let n = e.nest_start(1).unwrap();
    e.put_string(2, b"ab").unwrap();
    e.nest_end(n).unwrap();
    assert_eq!(e.written(), &[12, 0, 1, 0, 7, 0, 2, 0, b'a', b'b', 0, 0]);
    let n = e.nest_start(1).unwrap();
    e.put_u32(2, 0).unwrap();
    e.nest_cancel(n);
    assert_eq!(e.len(), 12);
    // A closed nest after a rollback past it does not panic.
    let n = e.nest_start(1).unwrap();
    e.rollback(super::nla::Emitter::new(&mut [0u8; 0]).mark());
    assert_eq!(e.nest_end(n), Err(Errno::Emsgsize));
    // Payload too long for nla_len.
    let big = vec![0u8; 70000];
    let mut buf = vec![0u8; 70010];
    assert_eq!(Emitter::new(&mut buf).put(1, &big), Err(Errno::Emsgsize));
}

#[test]
fn pad64_like_architectures_without_unaligned_access() {
    let mut buf = [0u8; 64];
    let mut e = Emitter::with_pad64(&mut buf, Pad64::WhenAligned { buf_addr_mod8: 0 });
    e.put_u64_64bit(4, 1, stats_attr::PAD).unwrap(); // tail aligned: pad first
    assert_eq!(e.len(), 4 + 12);
    e.put_u64_64bit(5, 1, stats_attr::PAD).unwrap(); // tail at 16: pad again
    assert_eq!(e.len(), 32);
    let mut e = Emitter::with_pad64(&mut buf, Pad64::WhenAligned { buf_addr_mod8: 4 });
    e.put_u64_64bit(4, 1, stats_attr::PAD).unwrap(); // payload already 8-aligned
    assert_eq!(e.len(), 12);
}

fn sample_stats() -> Stats {
    Stats {
        conns: 0x1_0000_0001,
        inpkts: 2,
        outpkts: 3,
        inbytes: 0x1234_5678_9abc,
        outbytes: 5,
        cps: 6,
        inpps: 7,
        outpps: 8,
        inbps: 9,
        outbps: 10,
    }
}

#[test]
fn stats_layout() {
    let mut buf = [0u8; 512];
    let mut e = Emitter::new(&mut buf);
    sample_stats().emit32(&mut e, dest_attr::STATS).unwrap();
    // 8 u32 attributes (8 bytes each) + 2 u64 (12 bytes each) + nest header.
    assert_eq!(e.len(), 4 + 8 * 8 + 2 * 12);
    let n32 = e.len();
    sample_stats().emit64(&mut e, dest_attr::STATS64).unwrap();
    assert_eq!(e.len() - n32, 4 + 10 * 12);
    let w = e.written().to_vec();
    let mut it = NlaIter::new(&w);
    let s32 = it.next().unwrap();
    let s64 = it.next().unwrap();
    let kinds: Vec<u16> = s32.nested().map(|a| a.kind()).collect();
    assert_eq!(kinds, (1..=10).collect::<Vec<u16>>());
    // The 32-bit nest truncates conns; the 64-bit one does not.
    assert_eq!(
        Stats::parse(&s32),
        Stats {
            conns: 1,
            ..sample_stats()
        }
    );
    assert_eq!(Stats::parse(&s64), sample_stats());
}

#[test]
fn dest_reply_golden() {
    let d = DestInfo {
        addr: addr4([10, 1, 2, 3]),
        port: 80,
        conn_flags: conn_flags::DROUTE | conn_flags::INACTIVE | conn_flags::NOOUTPUT,
        weight: 3,
        tun_type: 0,
        tun_port: 0,
        tun_flags: 0,
        u_threshold: 0,
        l_threshold: 0,
        activeconns: 4,
        inactconns: 5,
        persistconns: 6,
        af: AF_INET,
        stats: Stats::default(),
    };
    let mut buf = [0u8; 1024];
    let mut e = Emitter::new(&mut buf);
    d.emit(&mut e).unwrap();
    let w = e.written().to_vec();
    let top = NlaIter::new(&w).next().unwrap();
    assert_eq!(
        (
            top.kind(),
            usize::from(top.nla.len()),
            NlaIter::new(&w).count()
        ),
        (cmd_attr::DEST, w.len(), 1)
    );
    let inner: Vec<(u16, Vec<u8>)> = top
        .nested()
        .map(|a| (a.kind(), a.payload().to_vec()))
        .collect();
    let expect: Vec<(u16, Vec<u8>)> = vec![
        (dest_attr::ADDR, addr4([10, 1, 2, 3]).to_vec()),
        (dest_attr::PORT, vec![0, 80]),
        (dest_attr::FWD_METHOD, 3u32.to_ne_bytes().to_vec()),
        (dest_attr::WEIGHT, 3u32.to_ne_bytes().to_vec()),
        (dest_attr::TUN_TYPE, vec![0]),
        (dest_attr::TUN_PORT, vec![0, 0]),
        (dest_attr::TUN_FLAGS, vec![0, 0]),
        (dest_attr::U_THRESH, vec![0; 4]),
        (dest_attr::L_THRESH, vec![0; 4]),
        (dest_attr::ACTIVE_CONNS, 4u32.to_ne_bytes().to_vec()),
        (dest_attr::INACT_CONNS, 5u32.to_ne_bytes().to_vec()),
        (dest_attr::PERSIST_CONNS, 6u32.to_ne_bytes().to_vec()),
        (dest_attr::ADDR_FAMILY, 2u16.to_ne_bytes().to_vec()),
    ];
    assert_eq!(&inner[..13], &expect[..]);
    assert_eq!(
        (inner[13].0, inner[14].0, inner.len()),
        (dest_attr::STATS, dest_attr::STATS64, 15)
    );
    // 20 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 = 116, + 92 + 124 + 4.
    assert_eq!(w.len(), 116 + 92 + 124 + 4);
}

#[test]
fn service_reply_golden_order() {
    let s = ServiceInfo {
        af: AF_INET,
        protocol: 17,
        addr: addr4([1, 2, 3, 4]),
        port: 53,
        fwmark: 0,
        sched_name: None,
        pe_name: Some(b"sip"),
        flags: svc_flags::HASHED,
        timeout: 300,
        netmask: [255, 255, 255, 0],
        stats: Stats::default(),
    };
    let mut buf = [0u8; 1024];
    let mut e = Emitter::new(&mut buf);
    s.emit(&mut e).unwrap();
    let w = e.written().to_vec();
    let top = NlaIter::new(&w).next().unwrap();
    let kinds: Vec<u16> = top.nested().map(|a| a.kind()).collect();
    use svc_attr::*;
    assert_eq!(
        kinds,
        vec![
            AF, PROTOCOL, ADDR, PORT, SCHED_NAME, PE_NAME, FLAGS, TIMEOUT, NETMASK, STATS, STATS64
        ]
    );
    let sched = top.nested().find(|a| a.kind() == SCHED_NAME).unwrap();
    assert_eq!(sched.payload(), b"none\0");
    let flags = top.nested().find(|a| a.kind() == FLAGS).unwrap();
    assert_eq!(
        flags.payload(),
        &[2u32.to_ne_bytes(), u32::MAX.to_ne_bytes()].concat()[..]
    );
    // fwmark form: AF, FWMARK, then the rest.
    let fw = ServiceInfo { fwmark: 5, ..s };
    let mut e = Emitter::new(&mut buf);
    fw.emit(&mut e).unwrap();
    let w = e.written().to_vec();
    let kinds: Vec<u16> = NlaIter::new(&w)
        .next()
        .unwrap()
        .nested()
        .map(|a| a.kind())
        .take(3)
        .collect();
    assert_eq!(kinds, vec![AF, FWMARK, SCHED_NAME]);
}

#[test]
fn replies_cancel_cleanly_when_short() {
    let s = ServiceInfo {
        af: AF_INET6,
        protocol: 6,
        addr: [0x20; 16],
        port: 443,
        fwmark: 0,
        sched_name: Some(b"wrr"),
        pe_name: None,
        flags: 0,
        timeout: 0,
        netmask: 128u32.to_ne_bytes(),
        stats: sample_stats(),
    };
    let mut full = [0u8; 1024];
    let mut e = Emitter::new(&mut full);
    s.emit(&mut e).unwrap();
    let need = e.len();
    for size in 0..need {
        let mut buf = vec![0u8; size];
        let mut e = Emitter::new(&mut buf);
        assert_eq!(s.emit(&mut e), Err(Errno::Emsgsize), "size {size}");
        assert_eq!(e.len(), 0, "size {size}: nest cancelled");
    }
    for size in [0, 4, 8, 16, 23] {
        let mut buf = vec![0u8; size];
        let mut e = Emitter::new(&mut buf);
        let ok = size >= 24;
        assert_eq!(
            emit_config(
                &mut e,
                &Timeouts {
                    tcp: 900,
                    tcp_fin: 120,
                    udp: 300
                }
            )
            .is_ok(),
            ok
        );
        assert_eq!(e.len(), if ok { 24 } else { 0 });
    }
}

#[test]
fn info_and_config_replies() {
    let mut buf = [0u8; 64];
    let mut e = Emitter::new(&mut buf);
    emit_info(&mut e, 4096).unwrap();
    let w = e.written().to_vec();
    let v: Vec<(u16, Option<u32>)> = NlaIter::new(&w).map(|a| (a.kind(), a.get_u32())).collect();
    assert_eq!(
        v,
        vec![
            (info_attr::VERSION, Some(0x010201)),
            (info_attr::CONN_TAB_SIZE, Some(4096))
        ]
    );
    // GET_CONFIG reply parses back as a SET_CONFIG request.
    let t = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
    let mut e = Emitter::new(&mut buf);
    emit_config(&mut e, &t).unwrap();
    let back = parse_any(cmd::SET_CONFIG, e.written());
    assert_eq!(
        back,
        Ok(Request::SetConfig(TimeoutUpdate {
            tcp: Some(900),
            tcp_fin: Some(120),
            udp: Some(300)
        }))
    );
}

// ---- property tests ---------------------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    fn name(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(1u8..=255, 0..=max)
    }

    fn stats() -> impl Strategy<Value = Stats> {
        proptest::array::uniform10(any::<u64>()).prop_map(|a| Stats {
            conns: a[0],
            inpkts: a[1],
            outpkts: a[2],
            inbytes: a[3],
            outbytes: a[4],
            cps: a[5],
            inpps: a[6],
            outpps: a[7],
            inbps: a[8],
            outbps: a[9],
        })
    }

    fn emit_to_vec(f: impl FnOnce(&mut Emitter<'_>) -> Result<(), Errno>) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let mut e = Emitter::new(&mut buf);
        f(&mut e).unwrap();
        e.written().to_vec()
    }

    /// A random attribute stream, nested up to `depth`, with random (valid or invalid)
    /// lengths: reaches deeper into the parsers than uniform bytes.
    fn stream(depth: u32) -> BoxedStrategy<Vec<u8>> {
        let leaf = (
            0u16..20,
            proptest::collection::vec(any::<u8>(), 0..24),
            any::<bool>(),
        )
            .prop_map(|(k, p, nested)| attr(if nested { k | NLA_F_NESTED } else { k }, &p));
        let junk = proptest::collection::vec(any::<u8>(), 0..6);
        if depth == 0 {
            proptest::collection::vec(prop_oneof![4 => leaf, 1 => junk], 0..8)
                .prop_map(|v| v.concat())
                .boxed()
        } else {
            let inner = (0u16..8, stream(depth - 1)).prop_map(|(k, s)| attr(k, &s));
            proptest::collection::vec(prop_oneof![3 => leaf, 2 => inner, 1 => junk], 0..8)
                .prop_map(|v| v.concat())
                .boxed()
        }
    }

    fn fixtures() -> Vec<(u8, Vec<u8>)> {
        let key = svc(&svc_key_attrs());
        vec![
            (cmd::NEW_SERVICE, svc(&svc_full_attrs())),
            (
                cmd::SET_SERVICE,
                svc(&with(svc_full_attrs(), a_str(svc_attr::PE_NAME, b"sip"))),
            ),
            (cmd::DEL_SERVICE, key.clone()),
            (cmd::GET_SERVICE, key.clone()),
            (
                cmd::NEW_DEST,
                [key.clone(), dst(&dest_full_attrs())].concat(),
            ),
            (
                cmd::SET_DEST,
                [
                    key.clone(),
                    dst(&with(dest_full_attrs(), a_u8(dest_attr::TUN_TYPE, 1))),
                ]
                .concat(),
            ),
            (cmd::DEL_DEST, [key, dst(&dest_full_attrs()[..2])].concat()),
            (cmd::NEW_DAEMON, dmn(&daemon_attrs())),
            (cmd::DEL_DAEMON, dmn(&daemon_attrs()[..1])),
        ]
    }

    #[test]
    fn fixtures_are_valid() {
        for (cmd, msg) in fixtures() {
            assert_eq!(outcome(parse_any(cmd, &msg)), Ok(()), "cmd {cmd}");
        }
    }

    /// Every strict prefix of a valid message with required attributes is rejected: the
    /// truncated top-level attribute fails `nla_ok()` and disappears, and each of these
    /// commands requires every top-level attribute it has.
    #[test]
    fn every_truncation_is_rejected() {
        for (cmd, msg) in fixtures() {
            for len in 0..msg.len() {
                let r = parse_any(cmd, &msg[..len]);
                assert_eq!(outcome(r), Err(EINVAL), "cmd {cmd} truncated to {len}");
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(cmd in 0u8..24, dump: bool, flags: u16, bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let env = Env::default();
            let _ = parse_any(cmd, &bytes);
            let _ = parse_request(cmd, dump, &bytes, &env, &mut Diag::default());
            let _ = parse_genl(flags, &bytes, &env, &mut Diag::default());
            let mut d = Diag::default();
            let _ = policy::parse::<16>(&bytes, 0, &DEST_POLICY, Validate::STRICT, &mut Sink { diag: &mut d, extack: true });
            for a in NlaIter::new(&bytes) {
                let _ = (a.get_u64(), a.memcpy::<16>(), a.nested().count(), Stats::parse(&a));
            }
        }

        #[test]
        fn never_panics_on_streams(cmd in 0u8..20, dump: bool, s in stream(2), v6: bool) {
            let env = Env { ipv6_mod_enabled: v6, ..Env::default() };
            let _ = parse_request(cmd, dump, &s, &env, &mut Diag::default());
            // Also as the contents of each nest type.
            for outer in [cmd_attr::SERVICE, cmd_attr::DEST, cmd_attr::DAEMON] {
                let msg = [svc(&svc_key_attrs()), attr(outer, &s)].concat();
                let _ = parse_request(cmd, dump, &msg, &env, &mut Diag::default());
            }
        }

        #[test]
        fn mutated_fixtures_never_panic(idx in 0usize..9, pos in any::<usize>(), byte: u8, cut in any::<usize>()) {
            let (cmd, mut msg) = fixtures().swap_remove(idx);
            let p = pos % msg.len();
            msg[p] = byte;
            msg.truncate(cut % (msg.len() + 1));
            let _ = parse_any(cmd, &msg);
        }

        #[test]
        fn service_round_trip(
            v6: bool, protocol: u16, addr: [u8; 16], port: u16, fwmark in prop_oneof![Just(0u32), any::<u32>()],
            sched in name(15), pe in proptest::option::of(name(16)), flags: u32, timeout: u32, netmask: [u8; 4],
            st in stats(),
        ) {
            let af = if v6 { AF_INET6 } else { AF_INET };
            let info = ServiceInfo {
                af, protocol, addr, port, fwmark,
                sched_name: Some(&sched), pe_name: pe.as_deref(), flags, timeout, netmask, stats: st,
            };
            let msg = emit_to_vec(|e| info.emit(e));
            let mut diag = Diag::default();
            let r = parse_request(cmd::SET_SERVICE, false, &msg, &Env::default(), &mut diag);
            let Ok(Request::SetService(s)) = r else { panic!("{r:?}") };
            let key = if fwmark != 0 {
                ServiceKey { af, protocol: IPPROTO_TCP, addr: [0; 16], port: 0, fwmark }
            } else {
                ServiceKey { af, protocol, addr, port, fwmark: 0 }
            };
            prop_assert_eq!(s.key, key);
            prop_assert_eq!(s.sched_name.as_bytes(), &sched[..]);
            prop_assert_eq!(s.pe_name.map(|n| n.as_bytes().to_vec()), pe.clone());
            prop_assert_eq!(s.flags, FlagsUpdate { flags, mask: u32::MAX });
            prop_assert_eq!((s.timeout, s.netmask), (timeout, netmask));
            prop_assert_eq!(diag, Diag::default());
            // Emitting what was parsed gives the same bytes back.
            let again = ServiceInfo {
                af: s.key.af, protocol: s.key.protocol, addr: s.key.addr, port: s.key.port, fwmark: s.key.fwmark,
                sched_name: Some(s.sched_name.as_bytes()), pe_name: s.pe_name.as_ref().map(|n| n.as_bytes()),
                flags: s.flags.apply(0), timeout: s.timeout, netmask: s.netmask, stats: st,
            };
            prop_assert_eq!(emit_to_vec(|e| again.emit(e)), msg.clone());
            // The stats nests decode to what was emitted.
            let top = NlaIter::new(&msg).next().unwrap();
            let s64 = top.nested().find(|a| a.kind() == svc_attr::STATS64).unwrap();
            prop_assert_eq!(Stats::parse(&s64), st);
        }

        #[test]
        fn dest_round_trip(
            addr: [u8; 16], port: u16, conn: u32, weight: i32, u_threshold: u32, l_threshold: u32,
            tun_type: u8, tun_port: u16, tun_flags: u16, counts: [u32; 3], af in prop_oneof![Just(AF_INET), Just(AF_INET6)],
            st in stats(),
        ) {
            let info = DestInfo {
                addr, port, conn_flags: conn, weight, tun_type, tun_port, tun_flags, u_threshold, l_threshold,
                activeconns: counts[0], inactconns: counts[1], persistconns: counts[2], af, stats: st,
            };
            let msg = [svc(&svc_key_attrs()), emit_to_vec(|e| info.emit(e))].concat();
            let r = parse_any(cmd::SET_DEST, &msg);
            let want = DestRepr {
                key: DestKey { addr, port, af },
                conn_flags: conn & conn_flags::FWD_MASK,
                weight, u_threshold, l_threshold, tun_type, tun_port, tun_flags,
            };
            prop_assert_eq!(r, Ok(Request::SetDest { service: match parse_any(cmd::DEL_SERVICE, &svc(&svc_key_attrs())) {
                Ok(Request::DelService(k)) => k, other => panic!("{other:?}"),
            }, dest: Ok(want) }));
            let parsed = DestRepr::parse(NlaIter::new(&msg).nth(1), &mut Diag::default());
            prop_assert_eq!(parsed, Ok(want));
        }

        #[test]
        fn daemon_round_trip(
            backup: bool, ifn in proptest::collection::vec(1u8..=255, 0..=15), syncid: u32, maxlen: u16,
            mport: u16, ttl: u8, g4 in any::<[u8; 3]>(), low in 0u8..16, g6 in any::<[u8; 15]>(), which in 0u8..3,
        ) {
            let mcast_group = match which {
                0 => McastGroup::Default,
                1 => McastGroup::V4([0xe0 | low, g4[0], g4[1], g4[2]]),
                _ => { let mut a = [0xffu8; 16]; a[1..].copy_from_slice(&g6); McastGroup::V6(a) }
            };
            let state = if backup { daemon_state::BACKUP } else { daemon_state::MASTER };
            let info = DaemonInfo { state, mcast_ifn: &ifn, syncid, sync_maxlen: maxlen, mcast_port: mport, mcast_ttl: ttl, mcast_group };
            let msg = emit_to_vec(|e| info.emit(e));
            let want = DaemonRepr {
                state, mcast_ifn: Name::from_c(&ifn).unwrap(), syncid, sync_maxlen: maxlen, mcast_group,
                mcast_port: mport, mcast_ttl: ttl,
            };
            prop_assert_eq!(parse_any(cmd::NEW_DAEMON, &msg), Ok(Request::NewDaemon(want)));
            prop_assert_eq!(parse_any(cmd::DEL_DAEMON, &msg), Ok(Request::DelDaemon { state }));
        }

        #[test]
        fn config_round_trip(tcp in 0i32..=i32::MAX, fin in 0i32..=i32::MAX, udp in 0i32..=i32::MAX) {
            let t = Timeouts { tcp, tcp_fin: fin, udp };
            let msg = emit_to_vec(|e| emit_config(e, &t));
            let Ok(Request::SetConfig(u)) = parse_any(cmd::SET_CONFIG, &msg) else { panic!() };
            prop_assert_eq!(u, TimeoutUpdate { tcp: Some(tcp as u32), tcp_fin: Some(fin as u32), udp: Some(udp as u32) });
            let max = i32::MAX / 250;
            let ok = tcp <= max && fin <= max && udp <= max;
            prop_assert_eq!(u.apply(Timeouts { tcp: 1, tcp_fin: 1, udp: 1 }, 250).is_ok(), ok);
        }

        #[test]
        fn emitter_never_overflows(size in 0usize..400, kinds in proptest::collection::vec((any::<u16>(), 0usize..40), 0..20)) {
            let mut buf = vec![0u8; size];
            let mut e = Emitter::new(&mut buf);
            for (k, n) in kinds {
                let before = e.len();
                match e.put(k, &vec![7u8; n]) {
                    Ok(()) => prop_assert_eq!(e.len(), before + super::super::nla::nla_total_size(n)),
                    Err(err) => { prop_assert_eq!(err, Errno::Emsgsize); prop_assert_eq!(e.len(), before); }
                }
            }
            let w = e.written().to_vec();
            prop_assert_eq!(NlaIter::new(&w).map(|a| a.nla.total_len()).sum::<usize>(), w.len());
        }
    }

    #[test]
    fn display_helpers() {
        // Name's Debug shows text.
        assert_eq!(format!("{:?}", Name::from_c(b"wlc\0x").unwrap()), "\"wlc\"");
    }
}

#[test]
fn attr_from_bytes_for_the_glue() {
    let buf = [svc(&svc_key_attrs()), vec![0xee; 8]].concat();
    let a = super::nla::Attr::from_bytes(&buf, 0).unwrap();
    assert_eq!(a.payload().len(), buf.len() - 8 - 4);
    assert!(
        matches!(ServiceKey::parse(Some(a), &Env::default(), &mut Diag::default()), Ok(k) if k.port == 80)
    );
    assert_eq!(
        super::nla::Attr::from_bytes(&buf[..10], 0),
        Err(NlaError::LengthTooLarge)
    );
}
