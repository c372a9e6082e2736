//! One received IPVS genl message → a typed [`Request`] or the kernel's errno.
//!
//! C: `genl_family_rcv_msg()`, `genl_header_check()`, `genl_family_rcv_msg_doit()`,
//! `genl_start()` (`net/netlink/genetlink.c`); `ip_vs_genl_set_cmd()`,
//! `ip_vs_genl_get_cmd()`, `ip_vs_genl_set_daemon()`, `ip_vs_genl_dump_dests()`
//! (`net/netfilter/ipvs/ip_vs_ctl.c`).
//!
//! Everything C decides from the message alone is decided here, in C's order. Where C
//! consults state *between* two message checks, the later check's outcome is carried in the
//! request instead of failing it: NEW_DEST with an unknown service answers `-ESRCH` before
//! its destination is even parsed, so [`Request::NewDest`] holds the service key and the
//! destination's own `Result`. [`Request::deferred_error`] gives that second errno.

use super::config::TimeoutUpdate;
use super::daemon::{self, DaemonRepr};
use super::dest::{DestKey, DestRepr};
use super::ipvs::{cmd, cmd_attr, lookup_op, AttrParsing, CMD_POLICY, RESV_START_OP};
use super::policy::{self, AttrTable, Sink};
use super::service::{ServiceKey, ServiceRepr};
use super::{Diag, Env, Errno};

/// `GENL_HDRLEN`: size of `struct genlmsghdr` (cmd, version, reserved u16).
pub const GENL_HDRLEN: usize = 4;
/// `NLMSG_HDRLEN`.
pub const NLMSG_HDRLEN: usize = 16;
/// Offset of the first attribute from the `nlmsghdr`, for `NLMSGERR_ATTR_OFFS`.
pub const ATTRS_OFFSET_IN_NLMSG: usize = NLMSG_HDRLEN + GENL_HDRLEN;

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x01;
/// `NLM_F_ACK`.
pub const NLM_F_ACK: u16 = 0x04;
/// `NLM_F_ECHO`.
pub const NLM_F_ECHO: u16 = 0x08;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;

/// `"genlmsghdr.reserved field is not 0"` (only for commands >= `resv_start_op`).
pub const MSG_RESERVED: &str = "genlmsghdr.reserved field is not 0";
/// `"ambiguous or reserved bits set in nlmsg_flags"` (only for commands >= `resv_start_op`).
pub const MSG_FLAGS: &str = "ambiguous or reserved bits set in nlmsg_flags";

const CMD_N: usize = cmd_attr::MAX as usize + 1;

/// A request IPVS would act on, with everything C checks before touching state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// No `NLM_F_REQUEST`: `netlink_rcv_skb()` acknowledges without calling genetlink.
    Ignored,
    /// NEW_SERVICE. State-dependent answers: `-EEXIST`, then [`ServiceRepr::check`].
    NewService(ServiceRepr),
    /// SET_SERVICE. State-dependent answers: `-ESRCH`, then [`ServiceRepr::check`].
    SetService(ServiceRepr),
    /// DEL_SERVICE. State-dependent answer: `-ESRCH`.
    DelService(ServiceKey),
    /// GET_SERVICE without `NLM_F_DUMP`. State-dependent answer: `-ESRCH`.
    GetService(ServiceKey),
    /// GET_SERVICE dump: all services, the request's attributes are ignored.
    DumpServices,
    /// NEW_DEST: `-ESRCH` if the service is missing, else the destination's result, then
    /// [`DestRepr::resolve_af`], [`DestRepr::check`].
    NewDest {
        /// The service.
        service: ServiceKey,
        /// The destination, or the `-EINVAL` C returns once the service was found.
        dest: Result<DestRepr, Errno>,
    },
    /// SET_DEST: as [`Request::NewDest`].
    SetDest {
        /// The service.
        service: ServiceKey,
        /// The destination, or the `-EINVAL` C returns once the service was found.
        dest: Result<DestRepr, Errno>,
    },
    /// DEL_DEST: `-ESRCH`, then the destination's result, then [`DestKey::resolve_af`].
    DelDest {
        /// The service.
        service: ServiceKey,
        /// The destination key, or the `-EINVAL` C returns once the service was found.
        dest: Result<DestKey, Errno>,
    },
    /// GET_DEST dump. `None`: C dumps nothing and ends the dump without error (the request's
    /// attributes did not parse or name no service). An extack message left in the [`Diag`]
    /// travels in the `NLMSG_DONE` message (`netlink_dump_done()`), with errno 0.
    DumpDests {
        /// The service whose destinations to dump.
        service: Option<ServiceKey>,
    },
    /// NEW_DAEMON; then [`DaemonRepr::check_start`].
    NewDaemon(DaemonRepr),
    /// DEL_DAEMON; then [`daemon::check_stop`].
    DelDaemon {
        /// `IPVS_DAEMON_ATTR_STATE`.
        state: u32,
    },
    /// GET_DAEMON dump: one entry per running daemon (none in ipvs-rs).
    DumpDaemons,
    /// SET_CONFIG; then [`TimeoutUpdate::apply`].
    SetConfig(TimeoutUpdate),
    /// GET_CONFIG.
    GetConfig,
    /// GET_INFO.
    GetInfo,
    /// ZERO: one service (`-ESRCH` if missing) or, without a SERVICE attribute, all.
    Zero(Option<ServiceKey>),
    /// FLUSH.
    Flush,
}

impl Request {
    /// The errno C returns after a successful service lookup, carried inside destination
    /// requests (see the module docs).
    pub fn deferred_error(&self) -> Option<Errno> {
        match self {
            Request::NewDest { dest: Err(e), .. } | Request::SetDest { dest: Err(e), .. } => {
                Some(*e)
            }
            Request::DelDest { dest: Err(e), .. } => Some(*e),
            _ => None,
        }
    }
}

/// Parses the attributes of one IPVS request given its command and whether `NLM_F_DUMP` was
/// set. `attrs` starts right after the `genlmsghdr`. The extack and log lines C would
/// produce are left in `diag` (also on success: a warning).
pub fn parse_request(
    cmd: u8,
    dump: bool,
    attrs: &[u8],
    env: &Env,
    diag: &mut Diag,
) -> Result<Request, Errno> {
    let (_op, parsing) = lookup_op(cmd, dump)?;
    let tb: AttrTable<'_, CMD_N> = match parsing {
        AttrParsing::DumpUnparsed => return Ok(dump_request(cmd, attrs, env, diag)),
        AttrParsing::Dump(v) => {
            policy::parse::<CMD_N>(attrs, 0, &CMD_POLICY, v, &mut Sink { diag, extack: true })?;
            return Ok(dump_request(cmd, attrs, env, diag));
        }
        AttrParsing::Doit(v) => {
            policy::parse(attrs, 0, &CMD_POLICY, v, &mut Sink { diag, extack: true })?
        }
    };
    let service = tb.get(cmd_attr::SERVICE);
    Ok(match cmd {
        cmd::NEW_SERVICE => Request::NewService(ServiceRepr::parse(service, env, diag)?),
        cmd::SET_SERVICE => Request::SetService(ServiceRepr::parse(service, env, diag)?),
        cmd::DEL_SERVICE => Request::DelService(ServiceKey::parse(service, env, diag)?),
        cmd::GET_SERVICE => Request::GetService(ServiceKey::parse(service, env, diag)?),
        cmd::NEW_DEST | cmd::SET_DEST => {
            let service = ServiceKey::parse(service, env, diag)?;
            let dest = DestRepr::parse(tb.get(cmd_attr::DEST), diag);
            if cmd == cmd::NEW_DEST {
                Request::NewDest { service, dest }
            } else {
                Request::SetDest { service, dest }
            }
        }
        cmd::DEL_DEST => {
            let service = ServiceKey::parse(service, env, diag)?;
            Request::DelDest {
                service,
                dest: DestKey::parse(tb.get(cmd_attr::DEST), diag),
            }
        }
        cmd::NEW_DAEMON => {
            Request::NewDaemon(DaemonRepr::parse(tb.get(cmd_attr::DAEMON), env, diag)?)
        }
        cmd::DEL_DAEMON => Request::DelDaemon {
            state: daemon::parse_del(tb.get(cmd_attr::DAEMON), diag)?,
        },
        cmd::SET_CONFIG => Request::SetConfig(TimeoutUpdate::from_table(&tb)),
        cmd::GET_CONFIG => Request::GetConfig,
        cmd::GET_INFO => Request::GetInfo,
        cmd::ZERO => match service {
            None => Request::Zero(None),
            Some(_) => Request::Zero(Some(ServiceKey::parse(service, env, diag)?)),
        },
        cmd::FLUSH => Request::Flush,
        // lookup_op() only lets IPVS commands through; C's handlers answer -EINVAL to
        // anything else they are called with.
        _ => return Err(Errno::Einval),
    })
}

/// The dump handlers: only `ip_vs_genl_dump_dests()` looks at the request, parsing it itself
/// (`nlmsg_parse_deprecated()`, liberal, with extack) and dumping nothing on any error.
fn dump_request(cmd: u8, attrs: &[u8], env: &Env, diag: &mut Diag) -> Request {
    match cmd {
        cmd::GET_DEST => {
            let tb = policy::parse::<CMD_N>(
                attrs,
                0,
                &CMD_POLICY,
                policy::Validate::LIBERAL,
                &mut Sink { diag, extack: true },
            );
            let service = tb
                .ok()
                .and_then(|tb| ServiceKey::parse(tb.get(cmd_attr::SERVICE), env, diag).ok());
            Request::DumpDests { service }
        }
        cmd::GET_DAEMON => Request::DumpDaemons,
        _ => Request::DumpServices,
    }
}

/// Parses a whole generic netlink message payload: `genl` is what follows the `nlmsghdr`
/// (`nlmsg_len - NLMSG_HDRLEN` bytes: `genlmsghdr` then attributes), `nlmsg_flags` the
/// header's flags. Adds to [`parse_request`] the checks of `netlink_rcv_skb()` (requests
/// only) and `genl_family_rcv_msg()` (`-EINVAL` for a short header; header checks for
/// commands at or above `resv_start_op`). Capability checks (`-EPERM`) are the glue's.
pub fn parse_genl(
    nlmsg_flags: u16,
    genl: &[u8],
    env: &Env,
    diag: &mut Diag,
) -> Result<Request, Errno> {
    if nlmsg_flags & NLM_F_REQUEST == 0 {
        return Ok(Request::Ignored);
    }
    let Some((hdr, attrs)) = genl.split_first_chunk::<GENL_HDRLEN>() else {
        return Err(Errno::Einval);
    };
    let [cmd, _version, r0, r1] = *hdr;
    if cmd >= RESV_START_OP {
        if u16::from_ne_bytes([r0, r1]) != 0 {
            diag.extack.msg = Some(MSG_RESERVED);
            return Err(Errno::Einval);
        }
        let mut flags = nlmsg_flags;
        if flags & NLM_F_DUMP == NLM_F_DUMP {
            flags &= !NLM_F_DUMP;
        }
        if flags & !(NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO) != 0 {
            diag.extack.msg = Some(MSG_FLAGS);
            return Err(Errno::Einval);
        }
    }
    parse_request(
        cmd,
        nlmsg_flags & NLM_F_DUMP == NLM_F_DUMP,
        attrs,
        env,
        diag,
    )
}

/// Fuzz entry point: the attributes `payload` of command `cmd`, as a `doit` request, or as a
/// dump for the dump-only commands GET_DEST and GET_DAEMON; default [`Env`]. Never panics.
pub fn parse_any(cmd: u8, payload: &[u8]) -> Result<Request, Errno> {
    let dump = matches!(cmd, cmd::GET_DEST | cmd::GET_DAEMON);
    parse_request(cmd, dump, payload, &Env::default(), &mut Diag::default())
}
