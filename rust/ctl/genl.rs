// SPDX-License-Identifier: GPL-2.0
//! The IPVS generic netlink commands: `ip_vs_genl_set_cmd()`, `ip_vs_genl_get_cmd()`,
//! `ip_vs_genl_set_daemon()` and the dump functions of `ip_vs_ctl.c`, in C's order of checks.
//!
//! The kernel has already validated the top-level attributes against C's policy (and checked
//! CAP_NET_ADMIN: every op is `GENL_ADMIN_PERM`); nested attributes are validated by the
//! kernel with C's policies too (`Attr::nested`), then decoded by the core.

use super::service::CtlState;
use super::NetState;
use crate::dp::conn::tab_size as conn_tab_size;
use crate::glue::genetlink::{Attr, Dump, Handlers, Nest, Request};
use crate::glue::pernet::Net;
use crate::glue::rcu::hz;
use ipvs_core::netlink::config::TimeoutUpdate;
use ipvs_core::netlink::daemon::{self, DaemonRepr};
use ipvs_core::netlink::dest::{DestKey, DestRepr};
use ipvs_core::netlink::ipvs::{cmd, cmd_attr, daemon_state};
use ipvs_core::netlink::nla::{self, Emitter};
use ipvs_core::netlink::reply;
use ipvs_core::netlink::service::{ServiceKey, ServiceRepr};
use ipvs_core::netlink::{Diag, Env, Errno};
use kernel::prelude::*;

pub(crate) struct Ops;

fn env() -> Env {
    // The test and target kernels have IPv6 and CONFIG_IP_VS_IPV6-equivalent support built in.
    Env::default()
}

pub(crate) fn errno(e: Errno) -> Error {
    Error::from_errno(e.to_errno())
}

/// The core's view of a kernel-validated nested attribute.
fn core_attr<'a>(
    attr: Option<Attr<'a>>,
    set: Nest,
    req: Option<&Request<'_>>,
) -> Result<Option<nla::Attr<'a>>> {
    let Some(attr) = attr else { return Ok(None) };
    // C: `nla_parse_nested_deprecated(...) != 0` → -EINVAL in every parse function.
    attr.nested(set, req).map_err(|_| EINVAL)?;
    nla::Attr::from_bytes(attr.bytes(), 0)
        .map(Some)
        .map_err(|_| EINVAL)
}

fn state(net: &Net) -> Result<&NetState> {
    NetState::of(net).ok_or(ENODEV)
}

/// Write one reply with the core's emitter.
fn emit(buf: &mut [u8], f: impl FnOnce(&mut Emitter<'_>) -> Result<(), Errno>) -> Result<usize> {
    let mut e = Emitter::new(buf);
    f(&mut e).map_err(errno)?;
    Ok(e.len())
}

impl Handlers for Ops {
    fn doit(req: &Request<'_>) -> Result {
        let ns = state(req.net())?;
        let env = env();
        match req.cmd() {
            cmd::GET_SERVICE | cmd::GET_INFO | cmd::GET_CONFIG => get_cmd(req, ns, &env),
            cmd::NEW_DAEMON | cmd::DEL_DAEMON => set_daemon(req, &env),
            c => {
                let mut ctl = ns.ctl();
                let res = set_cmd(req, c, &mut ctl, &env, ns);
                if res.is_ok() && matches!(c, cmd::DEL_DEST | cmd::DEL_SERVICE | cmd::FLUSH) {
                    ns.enqueue_expire_nodest_conns();
                }
                let afs = [(2u16, ctl.has_af(2)), (10u16, ctl.has_af(10))];
                // ip_vs_register_hooks() / ip_vs_unregister_hooks(): a family is hooked
                // while it has services (under the mutex, as in C).
                for (af, has) in afs {
                    if has {
                        if let Err(e) = ns.dp.register_hooks(req.net(), af) {
                            pr_err!("registering netfilter hooks failed: {:?}\n", e);
                        }
                    } else {
                        ns.dp.unregister_hooks(req.net(), af);
                    }
                }
                let has_services = !ctl.services.is_empty();
                let reap = ctl.has_graveyard();
                drop(ctl);
                if has_services {
                    ns.start_estimator();
                }
                if reap {
                    ns.reap_trash();
                }
                res.map_err(errno)
            }
        }
    }

    fn dumpit(dump: &mut Dump<'_>) -> Result<kernel::ffi::c_int> {
        let ns = state(dump.net())?;
        let hz = hz();
        match dump.cmd() {
            cmd::GET_SERVICE => {
                let ctl = ns.ctl();
                dump_from(dump, ctl.services.iter(), cmd::NEW_SERVICE, |svc, e| {
                    svc.info(hz).emit(e)
                });
            }
            cmd::GET_DEST => {
                // ip_vs_genl_dump_dests(): any problem with the service gives an empty dump.
                let ctl = ns.ctl();
                let key = dump
                    .attr(cmd_attr::SERVICE)
                    .ok()
                    .flatten()
                    .and_then(|a| core_attr(Some(a), Nest::Service, None).ok().flatten())
                    .and_then(|a| ServiceKey::parse(Some(a), &env(), &mut Diag::default()).ok());
                if let Some(svc) = key.and_then(|k| ctl.service(&k).ok()) {
                    dump_from(dump, svc.dests.iter(), cmd::NEW_DEST, |d, e| {
                        d.info().emit(e)
                    });
                }
            }
            cmd::GET_DAEMON => {
                // ip_vs_genl_dump_daemons(): the master, then the backup, each once.
                let sc = ns.sync_ctl();
                let daemons = [
                    (0, daemon_state::MASTER, sc.master.as_ref()),
                    (1, daemon_state::BACKUP, sc.backup.as_ref()),
                ];
                for (arg, st, cfg) in daemons {
                    let Some(cfg) = cfg else { continue };
                    if dump.args()[arg] != 0 {
                        continue;
                    }
                    if dump
                        .put(cmd::NEW_DAEMON, |buf| emit(buf, |e| cfg.info(st).emit(e)))
                        .is_err()
                    {
                        break;
                    }
                    dump.args()[arg] = 1;
                }
            }
            _ => {}
        }
        Ok(dump.len())
    }
}

/// One dump pass in C's style: skip the `cb->args[0]` items sent by earlier passes, append
/// one `cmd` message per item until the skb is full, remember how far we got.
fn dump_from<'a, T: 'a>(
    dump: &mut Dump<'_>,
    items: impl Iterator<Item = &'a T>,
    cmd: u8,
    fill: impl Fn(&T, &mut Emitter<'_>) -> Result<(), Errno>,
) {
    let start = dump.args()[0];
    let mut sent = start;
    for item in items.skip(usize::try_from(start).unwrap_or(usize::MAX)) {
        if dump.put(cmd, |buf| emit(buf, |e| fill(item, e))).is_err() {
            break;
        }
        sent += 1;
    }
    dump.args()[0] = sent;
}

/// `ip_vs_genl_get_cmd()`.
fn get_cmd(req: &Request<'_>, ns: &NetState, env: &Env) -> Result {
    // The reply is built under the mutex into a buffer and sent after.
    let mut buf = [0u8; 1024];
    let (len, reply_cmd) = {
        let ctl = ns.ctl();
        match req.cmd() {
            cmd::GET_SERVICE => {
                let nla = core_attr(req.attr(cmd_attr::SERVICE), Nest::Service, None)?;
                let key = ServiceKey::parse(nla, env, &mut Diag::default()).map_err(errno)?;
                let info = ctl.service(&key).map_err(errno)?.info(hz());
                (emit(&mut buf, |e| info.emit(e))?, cmd::NEW_SERVICE)
            }
            cmd::GET_CONFIG => {
                let t = ctl.timeouts;
                (
                    emit(&mut buf, |e| reply::emit_config(e, &t))?,
                    cmd::SET_CONFIG,
                )
            }
            _ => (
                emit(&mut buf, |e| reply::emit_info(e, conn_tab_size()))?,
                cmd::SET_INFO,
            ),
        }
    };
    let bytes = buf.get(..len).ok_or(EINVAL)?;
    req.reply(reply_cmd, |out| {
        let dst = out.get_mut(..bytes.len()).ok_or(ENOMEM)?;
        dst.copy_from_slice(bytes);
        Ok(bytes.len())
    })
}

/// `ip_vs_genl_set_cmd()`.
fn set_cmd(
    req: &Request<'_>,
    c: u8,
    ctl: &mut CtlState,
    env: &Env,
    ns: &NetState,
) -> Result<(), Errno> {
    match c {
        cmd::FLUSH => {
            ctl.flush();
            return Ok(());
        }
        cmd::SET_CONFIG => {
            let u32_attr = |ty| {
                req.attr(ty).and_then(|a| {
                    a.payload()
                        .get(..4)
                        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                })
            };
            let update = TimeoutUpdate {
                tcp: u32_attr(cmd_attr::TIMEOUT_TCP),
                tcp_fin: u32_attr(cmd_attr::TIMEOUT_TCP_FIN),
                udp: u32_attr(cmd_attr::TIMEOUT_UDP),
            };
            ctl.timeouts = update.apply(ctl.timeouts, hz())?;
            let mut t = ns.dp.timeouts();
            t.apply_set(&ctl.timeouts, hz())?;
            ns.dp.set_timeouts(&t);
            return Ok(());
        }
        cmd::ZERO if req.attr(cmd_attr::SERVICE).is_none() => {
            ctl.zero_all();
            ns.dp.tot_stats.zero();
            return Ok(());
        }
        _ => {}
    }

    let svc_attr =
        core_attr(req.attr(cmd_attr::SERVICE), Nest::Service, None).map_err(|_| Errno::Einval)?;
    let mut diag = Diag::default();
    let full = matches!(c, cmd::NEW_SERVICE | cmd::SET_SERVICE);
    let (key, repr) = if full {
        let r = ServiceRepr::parse(svc_attr, env, &mut diag)?;
        (r.key, Some(r))
    } else {
        (ServiceKey::parse(svc_attr, env, &mut diag)?, None)
    };
    let idx = ctl.find(&key);
    let Some(idx) = idx else {
        return match (c, repr) {
            (cmd::NEW_SERVICE, Some(r)) => ctl.add_service(&r, env),
            _ => Err(Errno::Esrch),
        };
    };
    let svc_af = ctl.services[idx].key.af;
    match (c, repr) {
        (cmd::NEW_SERVICE, _) => Err(Errno::Eexist),
        (cmd::SET_SERVICE, Some(r)) => ctl.edit_service(idx, &r, env),
        (cmd::DEL_SERVICE, _) => {
            ctl.del_service(idx);
            Ok(())
        }
        (cmd::ZERO, _) => {
            ctl.zero_service(idx);
            Ok(())
        }
        (cmd::NEW_DEST | cmd::SET_DEST, _) => {
            let nla =
                core_attr(req.attr(cmd_attr::DEST), Nest::Dest, None).map_err(|_| Errno::Einval)?;
            let r = DestRepr::parse(nla, &mut diag)?;
            // C refuses a destination of another family while a sync daemon runs.
            let af = r.resolve_af(svc_af, env, ns.dp.sync.state() != 0)?;
            if c == cmd::NEW_DEST {
                let net = req.net();
                ctl.add_dest(idx, &r, af, |af, addr| dest_addr_check(net, af, addr))
            } else {
                ctl.edit_dest(idx, &r, af)
            }
        }
        (cmd::DEL_DEST, _) => {
            let nla =
                core_attr(req.attr(cmd_attr::DEST), Nest::Dest, None).map_err(|_| Errno::Einval)?;
            let k = DestKey::parse(nla, &mut diag)?;
            let af = k.resolve_af(svc_af, env)?;
            ctl.del_dest(idx, &k, af)
        }
        _ => Err(Errno::Einval),
    }
}

fn dest_addr_check(net: &Net, af: u16, addr: &[u8; 16]) -> Result<(), Errno> {
    if crate::glue::netdev::dest_addr_ok(net, af, addr) {
        Ok(())
    } else {
        Err(Errno::Einval)
    }
}

/// `ip_vs_genl_set_daemon()`: the same validation and errnos as C, then
/// `start_sync_thread()` / `stop_sync_thread()` ([`super::sync`]).
fn set_daemon(req: &Request<'_>, env: &Env) -> Result {
    let mut diag = Diag::default();
    let nla = core_attr(req.attr(cmd_attr::DAEMON), Nest::Daemon, Some(req))?;
    let ns = state(req.net())?;
    if req.cmd() == cmd::NEW_DAEMON {
        let d = DaemonRepr::parse(nla, env, &mut diag).map_err(errno)?;
        super::sync::start(ns, req.net(), &d)
    } else {
        let state = daemon::parse_del(nla, &mut diag).map_err(errno)?;
        super::sync::stop(ns, state)
    }
}
