// SPDX-License-Identifier: GPL-2.0
//! KUnit suites of ipvs_rs, run by KUnit each time the module is loaded.
//!
//! They check what only the running kernel can tell: that the core's model of the sysctl
//! parser agrees with the kernel's real `proc_dointvec`, that the tables registered in a
//! namespace are the ones the core specifies, and that writes reach the data path's view.

use crate::ctl::NetState;
use crate::glue::bindings;
use crate::glue::genetlink::Nest;
use crate::glue::kunit::Test;
use crate::glue::kunit_ctl::{
    dointvec_write, kernel_parse_nested, sync_qlen_max_default, RegisteredEntry, NEST_TABLE_LEN,
};
use crate::glue::modnotify::c_ipvs_loaded;
use crate::glue::pernet::Net;
use crate::{kunit_expect, kunit_expect_eq, kunit_suite};
use core::sync::atomic::{AtomicI32, Ordering};
use ipvs_core::sysctl::{
    parse_dointvec, Handler, Initial, Settings, Spec, Write, LOCALITY_SPECS, SPECS,
};
use kernel::error::code::EINVAL;

kunit_suite!(ipvs_rs_sysctl:
    init_net_has_c_defaults,
    registered_table_matches_core_spec,
    writes_reach_settings,
    core_parser_agrees_with_proc_dointvec_fixed,
    core_parser_agrees_with_proc_dointvec_random,
);

kunit_suite!(ipvs_rs_module: c_ipvs_is_not_loaded);

kunit_suite!(ipvs_rs_netlink: core_nested_parser_agrees_with_kernel);

kunit_suite!(ipvs_rs_ctl: service_lifecycle, dest_trash_revives_counters, weight_zero_dest_stays,
    service_table_at_scale, packet_lookup_precedence, real_server_table_follows_dests,
    real_server_chain_unlinks_anywhere, estimator_batches_visit_each_once);
kunit_suite!(ipvs_rs_conn: conn_found_both_ways_and_expires, held_conn_outlives_its_timer, template_outlives_controlled,
    dying_entry_is_never_rearmed, controlled_expiry_drops_template_at_once, held_template_survives_the_drop,
    invalidated_template_is_not_found, one_packet_entry_expires_on_put);
kunit_suite!(ipvs_rs_reuse: reuse_decision_in_kernel, nodest_work_expires_removed_dests_conns);

fn init_net_state(t: &mut Test) -> Option<&'static NetState> {
    let state = NetState::of(Net::init_net());
    kunit_expect!(
        t,
        state.is_some(),
        "ipvs_rs per-netns state missing in init_net"
    );
    state
}

fn init_net_has_c_defaults(t: &mut Test) {
    if let Some(state) = init_net_state(t) {
        kunit_expect_eq!(t, state.dp.settings(), Settings::default());
        let hz = crate::glue::rcu::hz();
        for spec in SPECS.iter().chain(LOCALITY_SPECS.iter()) {
            match spec.default {
                Initial::Int(_) | Initial::Secs(_) => {
                    kunit_expect_eq!(
                        t,
                        state.dp.int(spec.knob),
                        spec.knob.default_int(hz),
                        "{}",
                        spec.name
                    )
                }
                Initial::Pair(a, b) => kunit_expect_eq!(t, state.dp.sync_threshold(), (a, b)),
                Initial::FreeBufferPagesBy32 => {
                    kunit_expect_eq!(t, state.dp.sync_qlen_max(), sync_qlen_max_default())
                }
                Initial::HousekeepingCpus => {}
            }
        }
    }
}

/// The kernel function C IPVS uses as the handler of `h` (ours for C's static ones).
fn c_handler(h: Handler) -> *const () {
    match h {
        Handler::DoIntVec => bindings::proc_dointvec as *const (),
        Handler::MinMax { .. } => bindings::proc_dointvec_minmax as *const (),
        Handler::Jiffies => bindings::proc_dointvec_jiffies as *const (),
        Handler::ULongVec => bindings::proc_doulongvec_minmax as *const (),
        Handler::SyncThreshold => bindings::ipvs_rs_proc_do_sync_threshold as *const (),
        Handler::SyncPorts => bindings::ipvs_rs_proc_do_sync_ports as *const (),
        Handler::RunEstimation => bindings::ipvs_rs_proc_run_estimation as *const (),
        Handler::EstCpulist => bindings::ipvs_rs_proc_est_cpulist as *const (),
        Handler::EstNice => bindings::ipvs_rs_proc_est_nice as *const (),
        // ipvs_rs's own proc_do_defense_mode: none of the above.
        Handler::DefenseMode => core::ptr::null(),
    }
}

/// C's `maxlen` for an entry with handler `h`.
fn c_maxlen(h: Handler) -> usize {
    match h {
        Handler::SyncThreshold => 2 * core::mem::size_of::<i32>(),
        Handler::ULongVec => core::mem::size_of::<kernel::ffi::c_ulong>(),
        Handler::EstCpulist => bindings::IPVS_RS_NR_CPUS as usize,
        _ => core::mem::size_of::<i32>(),
    }
}

fn check_table<'a>(
    t: &mut Test,
    entries: impl ExactSizeIterator<Item = RegisteredEntry<'a>>,
    specs: &[Spec],
) {
    kunit_expect_eq!(t, entries.len(), specs.len());
    let others: [*const (); 9] = [
        c_handler(Handler::DoIntVec),
        c_handler(Handler::MinMax { min: 0, max: 0 }),
        c_handler(Handler::Jiffies),
        c_handler(Handler::ULongVec),
        c_handler(Handler::SyncThreshold),
        c_handler(Handler::SyncPorts),
        c_handler(Handler::RunEstimation),
        c_handler(Handler::EstCpulist),
        c_handler(Handler::EstNice),
    ];
    for (registered, spec) in entries.zip(specs.iter()) {
        let entry = registered.raw();
        kunit_expect_eq!(t, registered.name().to_bytes(), spec.name.as_bytes());
        kunit_expect_eq!(t, entry.mode, spec.mode, "{}", spec.name);
        kunit_expect_eq!(
            t,
            entry.maxlen as usize,
            c_maxlen(spec.handler),
            "{}",
            spec.name
        );
        kunit_expect!(t, !entry.data.is_null(), "{} has no data", spec.name);
        let f = entry.proc_handler.map(|f| f as *const ());
        match spec.handler {
            Handler::DefenseMode => {
                kunit_expect!(
                    t,
                    f.is_some_and(|f| !others.contains(&f)),
                    "{}: handler",
                    spec.name
                );
                kunit_expect!(t, !entry.extra2.is_null(), "{}: no callback", spec.name);
            }
            h => kunit_expect!(t, f == Some(c_handler(h)), "{}: handler", spec.name),
        }
        match spec.handler {
            Handler::MinMax { min, max } => {
                kunit_expect!(
                    t,
                    !entry.extra1.is_null() && !entry.extra2.is_null(),
                    "{}: no bounds",
                    spec.name
                );
                if let Some((lo, hi)) = registered.bounds() {
                    kunit_expect_eq!(t, (lo, hi), (min, max), "{}", spec.name);
                }
            }
            Handler::DefenseMode => {}
            _ => kunit_expect!(
                t,
                entry.extra1.is_null() && entry.extra2.is_null(),
                "{}: extra",
                spec.name
            ),
        }
    }
}

fn registered_table_matches_core_spec(t: &mut Test) {
    if init_net_state(t).is_none() {
        return;
    }
    match NetState::sysctl_table(Net::init_net()) {
        Some(table) => check_table(t, table.registered(), &SPECS),
        None => kunit_expect!(t, false, "no sysctl table registered in init_net"),
    }
    match NetState::locality_sysctl_table(Net::init_net()) {
        Some(table) => check_table(t, table.registered(), &LOCALITY_SPECS),
        None => kunit_expect!(
            t,
            false,
            "no lblc/lblcr sysctl table registered in init_net"
        ),
    }
}

/// Call the entry's own handler as the sysctl core does; `write` false reads into `out`.
fn proc_call(
    entry: RegisteredEntry<'_>,
    write: bool,
    input: &[u8],
    out: &mut [u8; 64],
) -> (Result<(), kernel::error::Error>, usize) {
    entry.call(write, input, out)
}

fn write_entry(entry: RegisteredEntry<'_>, input: &[u8]) -> Result<(), kernel::error::Error> {
    let mut buf = [0u8; 64];
    proc_call(entry, true, input, &mut buf).0
}

/// Every entry, through its own handler: accepted values reach what the data path reads,
/// values C refuses are refused with C's errno and change nothing, then the default is back.
fn writes_reach_settings(t: &mut Test) {
    let Some(state) = init_net_state(t) else {
        return;
    };
    let net = Net::init_net();
    let (Some(table), Some(locality)) = (
        NetState::sysctl_table(net),
        NetState::locality_sysctl_table(net),
    ) else {
        return;
    };
    let hz = crate::glue::rcu::hz() as i32;
    let einval = Err(EINVAL);
    let all = table
        .registered()
        .zip(SPECS.iter())
        .chain(locality.registered().zip(LOCALITY_SPECS.iter()));
    for (entry, spec) in all {
        let knob = spec.knob;
        let name = spec.name;
        let mut text = [0u8; 16];
        match spec.handler {
            Handler::DoIntVec | Handler::RunEstimation => {
                kunit_expect!(t, write_entry(entry, b"7\n").is_ok(), "writing {}", name);
                kunit_expect_eq!(t, state.dp.int(knob), 7, "{}", name);
                kunit_expect_eq!(t, write_entry(entry, b"x\n"), einval, "{}", name);
                kunit_expect_eq!(t, state.dp.int(knob), 7, "{}", name);
                let _ = write_entry(entry, fmt_i32(knob.default_int(0), &mut text));
            }
            Handler::MinMax { min, max } => {
                kunit_expect!(
                    t,
                    write_entry(entry, fmt_i32(max, &mut text)).is_ok(),
                    "{}",
                    name
                );
                kunit_expect_eq!(t, state.dp.int(knob), max, "{}", name);
                kunit_expect_eq!(
                    t,
                    write_entry(entry, fmt_i32(max + 1, &mut text)),
                    einval,
                    "{}",
                    name
                );
                kunit_expect_eq!(
                    t,
                    write_entry(entry, fmt_i32(min - 1, &mut text)),
                    einval,
                    "{}",
                    name
                );
                kunit_expect_eq!(t, state.dp.int(knob), max, "{}", name);
                let _ = write_entry(entry, fmt_i32(knob.default_int(0), &mut text));
            }
            Handler::Jiffies => {
                kunit_expect!(t, write_entry(entry, b"7\n").is_ok(), "{}", name);
                kunit_expect_eq!(t, state.dp.int(knob), 7 * hz, "{}", name);
                let _ = write_entry(entry, fmt_i32(knob.default_int(hz as u32) / hz, &mut text));
            }
            Handler::ULongVec => {
                let before = state.dp.sync_qlen_max();
                kunit_expect!(t, write_entry(entry, b"123\n").is_ok(), "{}", name);
                kunit_expect_eq!(t, state.dp.sync_qlen_max(), 123, "{}", name);
                let mut big = [0u8; 16];
                let _ = write_entry(
                    entry,
                    fmt_i32(i32::try_from(before).unwrap_or(i32::MAX), &mut big),
                );
                kunit_expect_eq!(t, state.dp.sync_qlen_max(), before, "{}", name);
            }
            Handler::SyncPorts => {
                kunit_expect!(t, write_entry(entry, b"4\n").is_ok(), "{}", name);
                kunit_expect_eq!(t, state.dp.int(knob), 4, "{}", name);
                for bad in [&b"3\n"[..], b"0\n", b"-2\n"] {
                    kunit_expect_eq!(t, write_entry(entry, bad), einval, "{}", name);
                }
                kunit_expect_eq!(t, state.dp.int(knob), 4, "{}", name);
                let _ = write_entry(entry, b"1\n");
            }
            Handler::SyncThreshold => {
                kunit_expect!(t, write_entry(entry, b"10 20\n").is_ok(), "{}", name);
                kunit_expect_eq!(t, state.dp.sync_threshold(), (10, 20));
                kunit_expect!(t, write_entry(entry, b"10 0\n").is_ok(), "{}", name);
                for bad in [&b"20 10\n"[..], b"5 5\n", b"-1 5\n"] {
                    kunit_expect_eq!(t, write_entry(entry, bad), einval, "{}", name);
                }
                kunit_expect_eq!(t, state.dp.sync_threshold(), (10, 0));
                let _ = write_entry(entry, b"3 50\n");
            }
            Handler::EstNice => {
                kunit_expect!(t, write_entry(entry, b"-20\n").is_ok(), "{}", name);
                kunit_expect_eq!(t, state.dp.int(knob), -20);
                kunit_expect_eq!(t, write_entry(entry, b"20\n"), einval, "{}", name);
                kunit_expect_eq!(t, write_entry(entry, b"-21\n"), einval, "{}", name);
                kunit_expect_eq!(t, state.dp.int(knob), -20);
                let _ = write_entry(entry, b"0\n");
            }
            Handler::EstCpulist => {
                // Reading gives the housekeeping CPUs (CPU 0 is one); a bad list is refused.
                let mut out = [0u8; 64];
                let (res, len) = proc_call(entry, false, b"", &mut out);
                kunit_expect!(
                    t,
                    res.is_ok() && len >= 2 && out[0] == b'0',
                    "{}: read {:?}",
                    name,
                    kernel::str::BStr::from_bytes(&out[..len])
                );
                kunit_expect!(t, write_entry(entry, b"abc\n").is_err(), "{}", name);
            }
            Handler::DefenseMode => {}
        }
        if !matches!(
            spec.handler,
            Handler::EstCpulist | Handler::DefenseMode | Handler::ULongVec | Handler::SyncThreshold
        ) {
            kunit_expect_eq!(
                t,
                state.dp.int(knob),
                knob.default_int(hz as u32),
                "{} restored",
                name
            );
        }
    }
    kunit_expect_eq!(t, state.dp.settings(), Settings::default());
    kunit_expect_eq!(t, state.dp.sync_threshold(), (3, 50));
}

fn fmt_i32(v: i32, out: &mut [u8; 16]) -> &[u8] {
    let mut tmp = [0u8; 16];
    let mut n = 0;
    let mut m = (v as i64).unsigned_abs();
    loop {
        tmp[n] = b'0' + (m % 10) as u8;
        n += 1;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    let mut len = 0;
    if v < 0 {
        out[0] = b'-';
        len = 1;
    }
    for i in (0..n).rev() {
        out[len] = tmp[i];
        len += 1;
    }
    &out[..len]
}

/// Compare the core's model with the kernel on one input; `what` names the input in failures.
fn check_parser(t: &mut Test, input: &[u8]) {
    const SENTINEL: i32 = 12345;
    let value = AtomicI32::new(SENTINEL);
    let (res, len) = dointvec_write(&value, input);
    let stored = value.load(Ordering::Relaxed);
    let kernel = match res {
        Err(e) => Err(e.to_errno()),
        Ok(()) if len == 0 => Ok(Write::Empty),
        Ok(()) => Ok(Write::Stored {
            value: stored,
            consumed: len,
        }),
    };
    let model = parse_dointvec(input).map_err(|_| kernel::error::code::EINVAL.to_errno());
    kunit_expect!(
        t,
        kernel == model,
        "input {:?}: kernel {:?}, core {:?}",
        kernel::str::BStr::from_bytes(input),
        kernel,
        model
    );
    if model.is_err() || model == Ok(Write::Empty) {
        kunit_expect_eq!(t, stored, SENTINEL);
    }
}

fn core_parser_agrees_with_proc_dointvec_fixed(t: &mut Test) {
    const INPUTS: &[&[u8]] = &[
        b"2\n",
        b"0",
        b"  -5 \n",
        b"0x10\n",
        b"0X1f",
        b"010",
        b"08",
        b"2147483647",
        b"-2147483648",
        b"2147483648",
        b"-2147483649",
        b"abc",
        b"1a",
        b"",
        b"   ",
        b"\n",
        b"1 2",
        b"0x",
        b"+1",
        b"-",
        b"--1",
        b"- 1",
        b"99999999999999999999999",
        b"1.5",
        b"7\t",
        b"\xa0 3",
        b"3\xa0",
        b"3\0",
        b"000000000000000000001",
        b"00000000000000000001",
        b"12345678901234567890\n",
        b"18446744073709551616",
        b"0xffffffff",
        b"0x7fffffff",
        b"-0x80000000",
        b"1\r",
        b"\x0b4",
    ];
    for input in INPUTS {
        check_parser(t, input);
    }
}

fn core_parser_agrees_with_proc_dointvec_random(t: &mut Test) {
    const ALPHABET: &[u8] = b"0123456789012345xX-- \t\n\r\xa0abfz+.\0";
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = [0u8; 32];
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 26) as usize;
        let mut s = seed;
        for b in buf.iter_mut().take(len) {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = ALPHABET[(s >> 33) as usize % ALPHABET.len()];
        }
        check_parser(t, &buf[..len]);
    }
}

fn c_ipvs_is_not_loaded(t: &mut Test) {
    kunit_expect!(
        t,
        !c_ipvs_loaded(),
        "C ip_vs is live while ipvs_rs is loaded"
    );
}

/// Build a nested attribute (`type | NLA_F_NESTED`) around `inner` in 4-byte aligned storage;
/// returns its bytes (the storage's, of which the first `n` are the attribute) and `n`.
fn nest(storage: &mut [u32; 96], inner: &[u8]) -> ([u8; 384], usize) {
    let total = 4 + inner.len();
    let bytes = storage.len() * 4;
    let n = total.min(bytes);
    let mut buf = [0u8; 384];
    buf[..2].copy_from_slice(&(total as u16).to_ne_bytes());
    buf[2..4].copy_from_slice(&(1u16 | 0x8000).to_ne_bytes());
    buf[4..n].copy_from_slice(&inner[..n - 4]);
    for (i, w) in storage.iter_mut().enumerate() {
        *w = u32::from_ne_bytes([buf[4 * i], buf[4 * i + 1], buf[4 * i + 2], buf[4 * i + 3]]);
    }
    (buf, n)
}

/// The kernel's `nla_parse_nested_deprecated()` with C's IPVS policies and the core's model
/// of it must agree on random, mostly malformed nested attributes: same verdict, same
/// attributes found. This is what makes ipvs_rs answer malformed requests like C.
fn core_nested_parser_agrees_with_kernel(t: &mut Test) {
    use ipvs_core::netlink::ipvs::{DAEMON_POLICY, DEST_POLICY, SVC_POLICY};
    use ipvs_core::netlink::nla::Attr;
    use ipvs_core::netlink::policy::{parse_nested_deprecated, Sink};
    use ipvs_core::netlink::Diag;

    const LENS: [usize; 12] = [0, 1, 2, 3, 4, 5, 6, 8, 15, 16, 17, 20];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut mismatches = 0;
    for round in 0..3000u32 {
        let (policy, set): (&[_], _) = match round % 3 {
            0 => (&SVC_POLICY[..], Nest::Service),
            1 => (&DEST_POLICY[..], Nest::Dest),
            _ => (&DAEMON_POLICY[..], Nest::Daemon),
        };
        // Build 1..5 attributes, some with lying lengths.
        let mut inner = [0u8; 300];
        let mut len = 0;
        for _ in 0..(1 + next() % 5) {
            let r = next();
            let ty = (r % 18) as u16 | if r & 0x100 != 0 { 0x8000 } else { 0 };
            let plen = LENS[(r >> 12) as usize % LENS.len()];
            let mut nla_len = (4 + plen) as u16;
            if r & 0x3000 == 0x3000 {
                nla_len = (r >> 20) as u16 % 40; // may be < 4 or past the end
            }
            if len + 4 + plen + 3 > 280 {
                break;
            }
            inner[len..len + 2].copy_from_slice(&nla_len.to_ne_bytes());
            inner[len + 2..len + 4].copy_from_slice(&ty.to_ne_bytes());
            for b in inner[len + 4..len + 4 + plen].iter_mut() {
                let v = (next() & 0xff) as u8;
                *b = if v < 64 { 0 } else { v };
            }
            len += (4 + plen + 3) & !3;
        }
        if next() % 4 == 0 {
            len -= (next() % 3) as usize; // trailing garbage shorter than a header
        }
        let mut storage = [0u32; 96];
        let (raw, n) = nest(&mut storage, &inner[..len]);
        let bytes = &raw[..n];

        let (kernel_ret, tb) = kernel_parse_nested(set, &storage);

        let mut diag = Diag::default();
        let outer = Attr::from_bytes(bytes, 0);
        let model = outer.ok().map(|a| {
            parse_nested_deprecated::<NEST_TABLE_LEN>(
                &a,
                policy,
                &mut Sink {
                    diag: &mut diag,
                    extack: false,
                },
            )
        });
        let Some(model) = model else {
            kunit_expect!(
                t,
                false,
                "round {}: core rejected the outer attribute",
                round
            );
            continue;
        };
        let model_ret = match &model {
            Ok(_) => 0,
            Err(e) => e.to_errno(),
        };
        let mut same = model_ret == kernel_ret;
        if let (Ok(table), 0) = (&model, kernel_ret) {
            for (ty, &k) in tb.iter().enumerate().take(policy.len()) {
                same &= table.get(ty as u16).is_some() == k;
            }
        }
        if !same {
            mismatches += 1;
            if mismatches <= 5 {
                kunit_expect!(
                    t,
                    false,
                    "round {}: kernel {} vs core {} on {:?}",
                    round,
                    kernel_ret,
                    model_ret,
                    kernel::str::BStr::from_bytes(bytes)
                );
            }
        }
    }
    kunit_expect_eq!(t, mismatches, 0);
}

mod ctl_fixtures {
    use ipvs_core::netlink::dest::{DestKey, DestRepr};
    use ipvs_core::netlink::ipvs::Name;
    use ipvs_core::netlink::service::{FlagsUpdate, ServiceKey, ServiceRepr};

    pub(super) fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0u8; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    pub(super) fn svc(port: u16, sched: &[u8]) -> ServiceRepr {
        ServiceRepr {
            key: ServiceKey {
                af: 2,
                protocol: 6,
                addr: v4([10, 0, 0, 1]),
                port,
                fwmark: 0,
            },
            sched_name: Name::from_c(sched).unwrap_or_default(),
            pe_name: None,
            flags: FlagsUpdate {
                flags: 0,
                mask: u32::MAX,
            },
            timeout: 0,
            netmask: [255; 4],
        }
    }

    /// Services `base..base + n` on port `base + i` (rr), each with destination 1 and, where
    /// `also2(i)`, destination 2. `Err(i)`: adding service `i` or its destinations failed.
    pub(super) fn add_services(
        ctl: &mut crate::ctl::service::CtlState,
        env: &ipvs_core::netlink::Env,
        base: u16,
        n: u16,
        also2: impl Fn(u16) -> bool,
    ) -> Result<(), u16> {
        for i in 0..n {
            let r = svc(base + i, b"rr");
            let add = |ctl: &mut crate::ctl::service::CtlState, last| {
                ctl.find(&r.key)
                    .is_some_and(|x| ctl.add_dest(x, &dest(last, 1), 2, |_, _| Ok(())) == Ok(()))
            };
            let ok =
                ctl.add_service(&r, env) == Ok(()) && add(ctl, 1) && (!also2(i) || add(ctl, 2));
            if !ok {
                return Err(i);
            }
        }
        Ok(())
    }

    pub(super) fn dest(last: u8, weight: i32) -> DestRepr {
        DestRepr {
            key: DestKey {
                addr: v4([192, 0, 2, last]),
                port: 80,
                af: 2,
            },
            conn_flags: 0,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
        }
    }
}

fn service_lifecycle(t: &mut Test) {
    use crate::ctl::service::CtlState;
    use ctl_fixtures::*;
    use ipvs_core::netlink::{Env, Errno};
    let env = Env::default();
    let Ok(mut ctl) = CtlState::new() else {
        kunit_expect!(t, false, "CtlState::new failed");
        return;
    };
    kunit_expect_eq!(t, ctl.add_service(&svc(80, b"rr"), &env), Ok(()));
    kunit_expect_eq!(
        t,
        ctl.add_service(&svc(81, b"nosuch"), &env),
        Err(Errno::Enoent)
    );
    kunit_expect_eq!(t, ctl.add_service(&svc(82, b"none"), &env), Ok(()));
    kunit_expect_eq!(t, ctl.services.len(), 2);
    let idx = ctl.find(&svc(80, b"").key);
    kunit_expect_eq!(t, idx, Some(0));
    let Some(idx) = idx else { return };
    kunit_expect_eq!(t, ctl.edit_service(idx, &svc(80, b"wlc"), &env), Ok(()));
    kunit_expect!(
        t,
        ctl.services[idx].sched.map(|n| n.as_bytes() == b"wlc") == Some(true)
    );
    // HASHED is kept across edits, as C's ip_vs_edit_service() sets it.
    kunit_expect!(
        t,
        ctl.services[idx].flags() & ipvs_core::netlink::ipvs::svc_flags::HASHED != 0
    );
    ctl.del_service(idx);
    kunit_expect_eq!(t, ctl.find(&svc(80, b"").key), None);
    ctl.flush();
    kunit_expect_eq!(t, ctl.services.len(), 0);
}

fn dest_trash_revives_counters(t: &mut Test) {
    use crate::ctl::service::CtlState;
    use ctl_fixtures::*;
    use ipvs_core::netlink::{Env, Errno};
    let env = Env::default();
    let ok = |_: u16, _: &[u8; 16]| Ok(());
    let Ok(mut ctl) = CtlState::new() else {
        kunit_expect!(t, false, "CtlState::new failed");
        return;
    };
    kunit_expect_eq!(t, ctl.add_service(&svc(80, b"rr"), &env), Ok(()));
    kunit_expect_eq!(t, ctl.add_dest(0, &dest(1, 3), 2, ok), Ok(()));
    kunit_expect_eq!(t, ctl.add_dest(0, &dest(1, 3), 2, ok), Err(Errno::Eexist));
    kunit_expect_eq!(t, ctl.add_dest(0, &dest(2, 1), 2, ok), Ok(()));
    // Newest first, as C's list_add_rcu().
    kunit_expect_eq!(t, ctl.services[0].dests[0].addr(), &v4([192, 0, 2, 2]));
    // A destination still referenced by connections is parked, and revived with its counters.
    ctl.services[0].dests[1].shared.bind(false, false);
    for _ in 0..42 {
        ctl.services[0].dests[1].shared.stats.count_conn();
    }
    kunit_expect_eq!(t, ctl.del_dest(0, &dest(1, 0).key, 2), Ok(()));
    kunit_expect_eq!(t, ctl.del_dest(0, &dest(1, 0).key, 2), Err(Errno::Enoent));
    let refuse = |_: u16, _: &[u8; 16]| Err(Errno::Einval);
    // Revival does not re-run ip_vs_new_dest()'s address check.
    kunit_expect_eq!(t, ctl.add_dest(0, &dest(1, 5), 2, refuse), Ok(()));
    ctl.services[0].dests[0].shared.stats.estimate();
    kunit_expect_eq!(
        t,
        ctl.services[0].dests[0].shared.stats.snapshot().conns,
        42
    );
    kunit_expect_eq!(t, ctl.services[0].dests[0].weight(), 5);
    // A new destination does.
    kunit_expect_eq!(
        t,
        ctl.add_dest(0, &dest(9, 1), 2, refuse),
        Err(Errno::Einval)
    );
    kunit_expect_eq!(t, ctl.add_dest(0, &dest(3, -1), 2, ok), Err(Errno::Erange));
}

fn weight_zero_dest_stays(t: &mut Test) {
    use crate::ctl::service::CtlState;
    use ctl_fixtures::*;
    use ipvs_core::netlink::Env;
    let env = Env::default();
    let Ok(mut ctl) = CtlState::new() else {
        kunit_expect!(t, false, "CtlState::new failed");
        return;
    };
    kunit_expect_eq!(t, ctl.add_service(&svc(80, b"wrr"), &env), Ok(()));
    kunit_expect_eq!(t, ctl.add_dest(0, &dest(1, 4), 2, |_, _| Ok(())), Ok(()));
    kunit_expect_eq!(t, ctl.edit_dest(0, &dest(1, 0), 2), Ok(()));
    let d = &ctl.services[0].dests[0];
    kunit_expect_eq!(
        t,
        (d.weight(), d.shared.last_weight.load(Ordering::Relaxed)),
        (0, 4)
    );
    kunit_expect_eq!(t, ctl.services[0].dests.len(), 1);
}

/// `ip_vs_has_real_service()` over the real-server table: a masquerading destination is found
/// by address, port and protocol while it is in its service with that method; not as a
/// direct-routing one, not after its removal or a flush; again when revived from the trash.
fn real_server_table_follows_dests(t: &mut Test) {
    use crate::ctl::service::CtlState;
    use crate::glue::rcu::RcuReadGuard;
    use ctl_fixtures::*;
    use ipvs_core::netlink::ipvs::conn_flags;
    use ipvs_core::netlink::Env;
    use ipvs_core::wire::{Family, InetAddr};
    let env = Env::default();
    let Ok(mut ctl) = CtlState::new() else {
        kunit_expect!(t, false, "CtlState::new failed");
        return;
    };
    let reals = ctl.reals_table();
    let has = |proto: u8, last: u8, port: u16| {
        let rcu = RcuReadGuard::new();
        reals.has_masq(
            &rcu,
            Family::Ipv4,
            proto,
            &InetAddr(v4([192, 0, 2, last])),
            port,
        )
    };
    kunit_expect_eq!(t, ctl.add_service(&svc(80, b"rr"), &env), Ok(()));
    kunit_expect_eq!(t, ctl.add_dest(0, &dest(1, 1), 2, |_, _| Ok(())), Ok(()));
    kunit_expect!(t, has(6, 1, 80), "masquerading destination found");
    kunit_expect!(t, !has(17, 1, 80), "not for another protocol");
    kunit_expect!(t, !has(6, 1, 81), "not on another port");
    kunit_expect!(t, !has(6, 2, 80), "not at another address");
    let mut dr = dest(1, 1);
    dr.conn_flags = conn_flags::DROUTE;
    kunit_expect_eq!(t, ctl.edit_dest(0, &dr, 2), Ok(()));
    kunit_expect!(
        t,
        !has(6, 1, 80),
        "a direct-routing destination has no real service"
    );
    kunit_expect_eq!(t, ctl.edit_dest(0, &dest(1, 2), 2), Ok(()));
    kunit_expect!(t, has(6, 1, 80), "masquerading again");
    kunit_expect_eq!(t, ctl.del_dest(0, &dest(1, 2).key, 2), Ok(()));
    kunit_expect!(t, !has(6, 1, 80), "gone with the destination");
    kunit_expect_eq!(t, ctl.add_dest(0, &dest(1, 1), 2, |_, _| Ok(())), Ok(()));
    kunit_expect!(t, has(6, 1, 80), "back when revived from the trash");
    ctl.flush();
    kunit_expect!(t, !has(6, 1, 80), "gone after a flush");
}

/// Hundreds of services forwarding to the same real server put as many equal-keyed entries
/// in one chain of the real-server table (which grows, and so reorders chains, on the way):
/// deleting them from the middle, the head and the tail of that chain, by service and by
/// destination, keeps every other one findable and leaves nothing behind.
fn real_server_chain_unlinks_anywhere(t: &mut Test) {
    use crate::ctl::service::CtlState;
    use crate::glue::rcu::RcuReadGuard;
    use ctl_fixtures::*;
    use ipvs_core::netlink::Env;
    use ipvs_core::wire::{Family, InetAddr};
    let env = Env::default();
    let Ok(mut ctl) = CtlState::new() else {
        kunit_expect!(t, false, "CtlState::new failed");
        return;
    };
    let reals = ctl.reals_table();
    let has = |last: u8| {
        let rcu = RcuReadGuard::new();
        reals.has_masq(&rcu, Family::Ipv4, 6, &InetAddr(v4([192, 0, 2, last])), 80)
    };
    const N: u16 = 300;
    if let Err(i) = add_services(&mut ctl, &env, 2000, N, |i| i % 3 == 0) {
        kunit_expect!(t, false, "adding service {} or its destinations failed", i);
        return;
    }
    kunit_expect!(t, has(1) && has(2), "both real servers found");
    // Delete in an order that is neither the chain's nor its reverse: every 7th service's
    // destination 1 first, then the services from the middle outwards.
    let mut left1 = usize::from(N);
    for i in (0..N).step_by(7) {
        let Some(x) = ctl.find(&svc(2000 + i, b"rr").key) else {
            kunit_expect!(t, false, "service {} lost", i);
            return;
        };
        kunit_expect_eq!(t, ctl.del_dest(x, &dest(1, 1).key, 2), Ok(()));
        left1 -= 1;
    }
    kunit_expect!(t, has(1), "still found with {} left", left1);
    let order = (0..N / 2).flat_map(|k| [N / 2 + k, N / 2 - 1 - k]);
    let mut left2 = (0..N).filter(|i| i % 3 == 0).count();
    for i in order {
        let Some(x) = ctl.find(&svc(2000 + i, b"rr").key) else {
            kunit_expect!(t, false, "service {} lost", i);
            return;
        };
        ctl.del_service(x);
        if i % 7 != 0 {
            left1 -= 1;
        }
        if i % 3 == 0 {
            left2 -= 1;
        }
        if has(1) != (left1 > 0) || has(2) != (left2 > 0) {
            kunit_expect!(
                t,
                false,
                "after deleting service {}: found {}/{}, {}/{} left",
                i,
                has(1),
                has(2),
                left1,
                left2
            );
            return;
        }
    }
    kunit_expect!(t, !has(1) && !has(2), "nothing left");
    ctl.flush();
}

/// The estimator's batched walk visits every service's and destination's statistics once
/// per round; a deletion between two batches may make it miss the service moved into the
/// deleted slot, never visit one twice.
fn estimator_batches_visit_each_once(t: &mut Test) {
    use crate::ctl::service::CtlState;
    use crate::dp::dest::StatsCells;
    use ctl_fixtures::*;
    use ipvs_core::netlink::Env;
    use ipvs_core::sysctl::LocalityExpiration;
    use kernel::prelude::{KVec, GFP_KERNEL};
    let env = Env::default();
    let Ok(mut ctl) = CtlState::new() else {
        kunit_expect!(t, false, "CtlState::new failed");
        return;
    };
    const N: u16 = 300;
    if let Err(i) = add_services(&mut ctl, &env, 3000, N, |_| false) {
        kunit_expect!(t, false, "adding service {} failed", i);
        return;
    }
    let exp = LocalityExpiration {
        lblc: 24 * 60 * 60,
        lblcr: 24 * 60 * 60,
    };
    // Objects are told apart by address; count the visits of each.
    fn visit(seen: &mut KVec<(usize, u32)>, s: &StatsCells) {
        let a = core::ptr::from_ref(s) as usize;
        match seen.iter_mut().find(|(p, _)| *p == a) {
            Some((_, n)) => *n += 1,
            None => {
                let _ = seen.push((a, 1), GFP_KERNEL);
            }
        }
    }
    let mut seen: KVec<(usize, u32)> = KVec::new();
    let mut next = Some(0);
    let mut batches = 0;
    while let Some(start) = next {
        next = ctl.for_each_stats_from(start, 128, exp, |s| visit(&mut seen, s));
        batches += 1;
    }
    kunit_expect_eq!(t, batches, 3);
    kunit_expect_eq!(t, seen.len(), 2 * usize::from(N));
    kunit_expect!(t, seen.iter().all(|(_, n)| *n == 1), "each visited once");
    let mut seen: KVec<(usize, u32)> = KVec::new();
    // The same with the first service deleted after the first batch: the last one moves
    // into slot 0, which was visited, and is missed; nothing is visited twice.
    let mut next = Some(0);
    while let Some(start) = next {
        next = ctl.for_each_stats_from(start, 128, exp, |s| visit(&mut seen, s));
        if start == 0 {
            ctl.del_service(0);
        }
    }
    kunit_expect_eq!(t, seen.len(), 2 * usize::from(N) - 2);
    kunit_expect!(t, seen.iter().all(|(_, n)| *n == 1), "none visited twice");
    ctl.flush();
}

/// Thousands of services: the table grows several times while every service stays findable
/// by key (control plane) and by packet (RCU lookup), deletions keep the slots right, and a
/// flush leaves nothing behind.
fn service_table_at_scale(t: &mut Test) {
    use crate::ctl::service::CtlState;
    use crate::glue::rcu::RcuReadGuard;
    use ctl_fixtures::*;
    use ipvs_core::netlink::Env;
    let env = Env::default();
    let Ok(mut ctl) = CtlState::new() else {
        kunit_expect!(t, false, "CtlState::new failed");
        return;
    };
    let table = ctl.table();
    const N: u16 = 3000;
    let key_of = |i: u16| {
        let mut r = svc(1000 + i, b"rr");
        r.key.addr = v4([10, 1, (i >> 8) as u8, i as u8]);
        r
    };
    for i in 0..N {
        if ctl.add_service(&key_of(i), &env) != Ok(()) {
            kunit_expect!(t, false, "add_service failed");
            return;
        }
    }
    kunit_expect_eq!(t, ctl.services.len(), usize::from(N));
    let found_all = |ctl: &CtlState, pred: &dyn Fn(u16) -> bool| {
        let rcu = RcuReadGuard::new();
        (0..N).all(|i| {
            let r = key_of(i);
            let by_key = ctl.find(&r.key).map(|x| ctl.services[x].key.port);
            let by_pkt = table
                .find_for_packet(&rcu, 2, 6, &r.key.addr, r.key.port, 0)
                .map(|s| s.key.port);
            let want = pred(i).then_some(r.key.port);
            by_key == want && by_pkt == want
        })
    };
    kunit_expect!(
        t,
        found_all(&ctl, &|_| true),
        "every service found after growing"
    );
    // Delete the even ones (each deletion moves the last service into the hole).
    for i in (0..N).step_by(2) {
        match ctl.find(&key_of(i).key) {
            Some(x) => ctl.del_service(x),
            None => kunit_expect!(t, false, "service to delete not found"),
        }
    }
    kunit_expect_eq!(t, ctl.services.len(), usize::from(N / 2));
    kunit_expect!(
        t,
        found_all(&ctl, &|i| i % 2 == 1),
        "odd services found, even ones gone"
    );
    ctl.flush();
    kunit_expect_eq!(t, ctl.services.len(), 0);
    kunit_expect!(
        t,
        found_all(&ctl, &|_| false),
        "nothing found after the flush"
    );
    kunit_expect!(t, !ctl.has_af(2), "no IPv4 service left");
}

/// `ip_vs_service_find()`'s order: fwmark service first (when the packet has a mark), then
/// address and port, then the port-zero service of the address.
fn packet_lookup_precedence(t: &mut Test) {
    use crate::ctl::service::CtlState;
    use crate::glue::rcu::RcuReadGuard;
    use ctl_fixtures::*;
    use ipvs_core::netlink::Env;
    let env = Env::default();
    let Ok(mut ctl) = CtlState::new() else {
        kunit_expect!(t, false, "CtlState::new failed");
        return;
    };
    let table = ctl.table();
    let mut fwm = svc(0, b"rr");
    fwm.key.fwmark = 7;
    fwm.key.addr = [0; 16];
    kunit_expect_eq!(t, ctl.add_service(&svc(80, b"rr"), &env), Ok(()));
    kunit_expect_eq!(t, ctl.add_service(&svc(0, b"rr"), &env), Ok(()));
    kunit_expect_eq!(t, ctl.add_service(&fwm, &env), Ok(()));
    let vip = v4([10, 0, 0, 1]);
    let rcu = RcuReadGuard::new();
    let look = |port, mark| {
        table
            .find_for_packet(&rcu, 2, 6, &vip, port, mark)
            .map(|s| (s.key.port, s.key.fwmark))
    };
    kunit_expect_eq!(t, look(80, 0), Some((80, 0)));
    kunit_expect_eq!(t, look(81, 0), Some((0, 0)));
    kunit_expect_eq!(t, look(80, 7), Some((0, 7)));
    kunit_expect_eq!(t, look(80, 8), Some((80, 0)));
    // Other protocol, other family: nothing.
    kunit_expect!(t, table.find_for_packet(&rcu, 2, 17, &vip, 80, 0).is_none());
    kunit_expect!(t, table.find_for_packet(&rcu, 10, 6, &vip, 80, 0).is_none());
    drop(rcu);
    ctl.flush();
}

mod conn_fixtures {
    use crate::ctl::NetState;
    use crate::dp::conn::{self, ConnParams, ConnRef};
    use crate::dp::dest::DestShared;
    use ipvs_core::wire::{Family, InetAddr};
    use kernel::sync::Arc;

    pub(super) fn v4(a: [u8; 4]) -> InetAddr {
        InetAddr::from_ipv4(a)
    }

    /// A NAT destination 10.9.9.N:8080 that belongs to no service.
    pub(super) fn dest(n: u8) -> Arc<DestShared> {
        let d = DestShared::new(Family::Ipv4, v4([10, 9, 9, n]), 8080).expect("alloc");
        d.weight.store(1, core::sync::atomic::Ordering::Relaxed);
        d
    }

    /// Client 192.0.2.C:cport → virtual 198.51.100.1:80, UDP (so no TCP state moves).
    pub(super) fn conn(
        ns: &NetState,
        c: u8,
        cport: u16,
        d: &Arc<DestShared>,
        flags: u32,
        control: Option<&ConnRef>,
    ) -> ConnRef {
        let p = ConnParams {
            family: Family::Ipv4,
            protocol: 17,
            caddr: v4([192, 0, 2, c]),
            cport,
            vaddr: v4([198, 51, 100, 1]),
            vport: 80,
            daddr: d.addr,
            dport: d.port,
            fwmark: 0,
            flags,
            dest: Some(d.clone()),
            svc_stats: None,
        };
        conn::create(&ns.dp, ns.dp.net_id(), p, control).expect("conn")
    }

    /// Let go of `cp` and make it expire now, robustly: `expire_now()` then a put would leave
    /// an entry re-armed for a minute when its timer fires in between (the holder still
    /// counted; C behaves the same), which a slow kernel hits. Put first (re-arming it with
    /// its timeout), then `expire_now()` without a reference, under RCU, as the flush does.
    pub(super) fn expire_soon(cp: ConnRef) {
        let rcu = crate::glue::rcu::RcuReadGuard::new();
        // Inside the read-side section the entry is not freed, even if it expired.
        cp.put_under(&rcu).expire_now();
    }

    /// Waits (up to 2 s) until `cond` holds.
    pub(super) fn eventually(cond: impl Fn() -> bool) -> bool {
        for _ in 0..200 {
            if cond() {
                return true;
            }
            crate::glue::rcu::msleep(10);
        }
        cond()
    }
}

/// The key `ip_vs_ct_in_get()` finds the template `tpl` (a fixture's, UDP, IPv4) with.
fn template_key(tpl: &crate::dp::conn::Conn) -> ipvs_core::persist::ConnParam {
    ipvs_core::persist::ConnParam {
        af: ipvs_core::netlink::ipvs::AF_INET,
        protocol: 17,
        caddr: tpl.caddr,
        cport: 0,
        vaddr: tpl.vaddr,
        vport: tpl.vport(),
    }
}

fn lookup_key<'a>(
    ns: &NetState,
    c: &'a ipvs_core::wire::InetAddr,
    cport: u16,
    addr: &'a ipvs_core::wire::InetAddr,
    port: u16,
) -> crate::dp::conn::Lookup<'a> {
    crate::dp::conn::Lookup {
        net: ns.dp.net_id(),
        family: ipvs_core::wire::Family::Ipv4,
        protocol: 17,
        caddr: c,
        cport,
        addr,
        port,
    }
}

fn conn_found_both_ways_and_expires(t: &mut Test) {
    use crate::dp::conn;
    use conn_fixtures::*;
    let Some(ns) = init_net_state(t) else { return };
    let before = conn::count(&ns.dp);
    let d = dest(1);
    let cp = conn(ns, 7, 40000, &d, 0, None);
    kunit_expect_eq!(t, conn::count(&ns.dp), before + 1);
    // ip_vs_bind_dest(): a new connection counts as inactive.
    kunit_expect_eq!(
        t,
        (d.activeconns.load(Ordering::Relaxed), d.inactconns()),
        (0, 1)
    );
    kunit_expect!(t, conn::is_hashed(&cp));
    drop(cp);
    let (c, v) = (v4([192, 0, 2, 7]), v4([198, 51, 100, 1]));
    kunit_expect!(
        t,
        conn::in_get(&lookup_key(ns, &c, 40000, &v, 80)).is_some()
    );
    kunit_expect!(
        t,
        conn::in_get(&lookup_key(ns, &c, 40001, &v, 80)).is_none()
    );
    kunit_expect!(
        t,
        conn::in_get(&lookup_key(ns, &c, 40000, &v, 81)).is_none()
    );
    // The reply direction: real server → client.
    let r = d.addr;
    let found = conn::out_get(&lookup_key(ns, &c, 40000, &r, 8080));
    kunit_expect!(t, found.is_some());
    if let Some(cp) = found {
        kunit_expect!(t, conn::has_dest(&cp, &d));
        expire_soon(cp);
    }
    kunit_expect!(t, eventually(|| conn::count(&ns.dp) == before));
    kunit_expect!(
        t,
        conn::in_get(&lookup_key(ns, &c, 40000, &v, 80)).is_none()
    );
    kunit_expect_eq!(t, d.totalconns.load(Ordering::Relaxed), 0);
}

fn held_conn_outlives_its_timer(t: &mut Test) {
    use crate::dp::conn;
    use conn_fixtures::*;
    let Some(ns) = init_net_state(t) else { return };
    let before = conn::count(&ns.dp);
    let d = dest(2);
    let cp = conn(ns, 8, 40000, &d, 0, None);
    // Arm the timer to fire at once while we still hold the entry: it must survive.
    cp.set_timeout(0);
    let held = conn::in_get(&lookup_key(ns, &cp.caddr, cp.cport, &cp.vaddr, cp.vport()));
    kunit_expect!(t, held.is_some());
    drop(cp);
    crate::glue::rcu::msleep(50);
    kunit_expect_eq!(t, conn::count(&ns.dp), before + 1);
    if let Some(h) = held {
        kunit_expect!(t, conn::is_hashed(&h));
        expire_soon(h);
    }
    // Re-armed for a minute by the failed expiry; expire it for good.
    if let Some(h) = conn::in_get(&lookup_key(
        ns,
        &v4([192, 0, 2, 8]),
        40000,
        &v4([198, 51, 100, 1]),
        80,
    )) {
        expire_soon(h);
    }
    kunit_expect!(t, eventually(|| conn::count(&ns.dp) == before));
}

fn template_outlives_controlled(t: &mut Test) {
    use crate::dp::conn;
    use conn_fixtures::*;
    let Some(ns) = init_net_state(t) else { return };
    let before = conn::count(&ns.dp);
    let d = dest(3);
    let tpl = conn(ns, 9, 0, &d, conn::F_TEMPLATE, None);
    kunit_expect_eq!(t, d.persistconns.load(Ordering::Relaxed), 1);
    let cp = conn(ns, 9, 40000, &d, 0, Some(&tpl));
    kunit_expect_eq!(t, tpl.n_control.load(Ordering::Relaxed), 1);
    // An assured template (its connection got established) outlives its connections.
    tpl.state.fetch_or(conn::CTPL_S_ASSURED, Ordering::Relaxed);
    // A template controlling a connection does not expire.
    tpl.set_timeout(0);
    drop(tpl);
    crate::glue::rcu::msleep(50);
    kunit_expect_eq!(t, conn::count(&ns.dp), before + 2);
    // Once the controlled connection is gone, it does.
    cp.set_timeout(0);
    expire_soon(cp);
    kunit_expect!(t, eventually(|| conn::count(&ns.dp) == before + 1));
    let c = v4([192, 0, 2, 9]);
    let v = v4([198, 51, 100, 1]);
    let key = ipvs_core::persist::ConnParam {
        af: ipvs_core::netlink::ipvs::AF_INET,
        protocol: 17,
        caddr: c,
        cport: 0,
        vaddr: v,
        vport: 80,
    };
    if let Some(tp) = conn::template_get(ns.dp.net_id(), &key) {
        kunit_expect_eq!(t, tp.n_control.load(Ordering::Relaxed), 0);
        expire_soon(tp);
    } else {
        kunit_expect!(t, false);
    }
    kunit_expect!(t, eventually(|| conn::count(&ns.dp) == before));
    kunit_expect_eq!(t, d.persistconns.load(Ordering::Relaxed), 0);
}

/// Issue 9.1: an expiry that loses the race with another path (the nodest work's or the
/// flush's `del()`, which unlinked the entry first) must leave the dying entry's timer
/// disarmed: it is freed after a grace period, and a timer armed on it would fire into freed
/// memory. Sequentially: the second `expire()` is the timer run that lost.
fn dying_entry_is_never_rearmed(t: &mut Test) {
    use crate::dp::conn;
    use conn_fixtures::*;
    let Some(ns) = init_net_state(t) else { return };
    let before = conn::count(&ns.dp);
    let d = dest(11);
    let cp = conn(ns, 11, 42000, &d, 0, None);
    {
        // Keeps the entry readable after its expiry queued it for freeing, as the timer
        // softirq and the table walks do.
        let rcu = crate::glue::rcu::RcuReadGuard::new();
        let c = cp.put_no_rearm_under(&rcu);
        // The path that wins: unlinked, queued for freeing.
        conn::expire(c);
        kunit_expect!(t, !conn::is_hashed(c));
        kunit_expect_eq!(t, conn::count(&ns.dp), before);
        // The timer run that lost: "try again in a minute" must not re-arm it.
        conn::expire(c);
        let armed = c.timer_pending();
        kunit_expect!(t, !armed);
        if armed {
            c.delete_timer();
        }
        // ip_vs_conn_expire_now() (the flush, a packet) on it: never arms a timer.
        c.expire_now();
        let armed = c.timer_pending();
        kunit_expect!(t, !armed);
        if armed {
            c.delete_timer();
        }
    }
    kunit_expect_eq!(t, d.totalconns.load(Ordering::Relaxed), 0);
}

/// Issue 9.1: expiring the last connection of a non-assured template drops the template
/// (C: `ip_vs_conn_del_put(ct)` under a reference taken before the control count goes),
/// at once, not by re-arming a timer of an entry that may be dying meanwhile.
fn controlled_expiry_drops_template_at_once(t: &mut Test) {
    use crate::dp::conn;
    use conn_fixtures::*;
    let Some(ns) = init_net_state(t) else { return };
    let before = conn::count(&ns.dp);
    let d = dest(12);
    let tpl = conn(ns, 12, 0, &d, conn::F_TEMPLATE, None);
    let cp = conn(ns, 12, 42001, &d, 0, Some(&tpl));
    {
        // Inside the read-side section neither is freed even once expired.
        let rcu = crate::glue::rcu::RcuReadGuard::new();
        // Both armed with their (long) timeouts.
        let tp = tpl.put_under(&rcu);
        let c = cp.put_under(&rcu);
        kunit_expect_eq!(t, conn::count(&ns.dp), before + 2);
        // What the flush and the nodest work do: delete the controlled entry, dropping the
        // controlling chain with it.
        conn::del(c);
        kunit_expect!(t, !conn::is_hashed(c));
        kunit_expect!(t, !conn::is_hashed(tp));
        kunit_expect!(t, !tp.timer_pending());
    }
    kunit_expect_eq!(t, conn::count(&ns.dp), before);
    kunit_expect_eq!(t, d.persistconns.load(Ordering::Relaxed), 0);
    kunit_expect_eq!(t, d.totalconns.load(Ordering::Relaxed), 0);
}

/// The same drop while someone holds the template (a packet being scheduled with it): the
/// template lives on, re-armed for a minute under a reference of its own, and expires
/// once its holder lets it.
fn held_template_survives_the_drop(t: &mut Test) {
    use crate::dp::conn;
    use conn_fixtures::*;
    let Some(ns) = init_net_state(t) else { return };
    let before = conn::count(&ns.dp);
    let d = dest(13);
    let tpl = conn(ns, 13, 0, &d, conn::F_TEMPLATE, None);
    let cp = conn(ns, 13, 42002, &d, 0, Some(&tpl));
    // Armed, and held by someone else.
    let held = conn::template_get(ns.dp.net_id(), &template_key(&tpl));
    kunit_expect!(t, held.is_some());
    {
        // Not freed inside the read-side section.
        let rcu = crate::glue::rcu::RcuReadGuard::new();
        drop(tpl);
        conn::del(cp.put_under(&rcu));
    }
    kunit_expect_eq!(t, conn::count(&ns.dp), before + 1);
    if let Some(h) = held {
        kunit_expect!(t, conn::is_hashed(&h));
        kunit_expect!(t, h.timer_pending());
        kunit_expect_eq!(t, h.n_control.load(Ordering::Relaxed), 0);
        // The holder lets go: the template expires by its own timer.
        h.set_timeout(0);
        expire_soon(h);
    }
    kunit_expect!(t, eventually(|| conn::count(&ns.dp) == before));
    kunit_expect_eq!(t, d.persistconns.load(Ordering::Relaxed), 0);
}

/// `ip_vs_check_template()`'s invalidation: the template takes virtual and destination port
/// 0xffff in place, the lookup stops finding it, it stays in the table (listed, timer armed)
/// until it expires, and a second invalidation leaves it as it is.
fn invalidated_template_is_not_found(t: &mut Test) {
    use crate::dp::conn;
    use conn_fixtures::*;
    let Some(ns) = init_net_state(t) else { return };
    let before = conn::count(&ns.dp);
    let d = dest(14);
    let tpl = conn(ns, 14, 0, &d, conn::F_TEMPLATE, None);
    let key = template_key(&tpl);
    let found = conn::template_get(ns.dp.net_id(), &key);
    kunit_expect!(t, found.is_some());
    if let Some(f) = found {
        f.put_no_rearm();
    }
    conn::invalidate_template(&tpl);
    kunit_expect_eq!(t, tpl.vport(), 0xffff);
    kunit_expect_eq!(t, tpl.dport(), 0xffff);
    kunit_expect!(t, conn::is_hashed(&tpl));
    let again = conn::template_get(ns.dp.net_id(), &key);
    kunit_expect!(t, again.is_none());
    // Found under its new key, and left as it is by a second invalidation.
    let moved = conn::template_get(ns.dp.net_id(), &template_key(&tpl));
    kunit_expect!(t, moved.is_some());
    if let Some(m) = moved {
        conn::invalidate_template(&m);
        kunit_expect_eq!(t, m.vport(), 0xffff);
        m.put_no_rearm();
    }
    kunit_expect_eq!(t, conn::count(&ns.dp), before + 1);
    tpl.set_timeout(0);
    expire_soon(tpl);
    kunit_expect!(t, eventually(|| conn::count(&ns.dp) == before));
    kunit_expect_eq!(t, d.persistconns.load(Ordering::Relaxed), 0);
}

/// A one-packet connection (`IP_VS_CONN_F_ONE_PACKET`): counted and bound to its
/// destination while held, found by no lookup, never listed as hashed, and gone with its
/// destination's counters as soon as its holder lets it go (C: not hashed, and
/// `ip_vs_conn_put()` expires it at once).
fn one_packet_entry_expires_on_put(t: &mut Test) {
    use crate::dp::conn;
    use conn_fixtures::*;
    use ipvs_core::netlink::ipvs::conn_flags;
    let Some(ns) = init_net_state(t) else { return };
    let before = conn::count(&ns.dp);
    let d = dest(15);
    let cp = conn(ns, 15, 42003, &d, conn_flags::ONE_PACKET, None);
    kunit_expect_eq!(t, conn::count(&ns.dp), before + 1);
    kunit_expect_eq!(t, d.totalconns.load(Ordering::Relaxed), 1);
    kunit_expect!(t, !conn::is_hashed(&cp));
    let c = v4([192, 0, 2, 15]);
    let v = v4([198, 51, 100, 1]);
    let found = conn::in_get(&lookup_key(ns, &c, 42003, &v, 80));
    kunit_expect!(t, found.is_none());
    drop(found);
    drop(cp);
    kunit_expect!(t, eventually(|| conn::count(&ns.dp) == before));
    kunit_expect_eq!(t, d.totalconns.load(Ordering::Relaxed), 0);
}

/// The decision the data path uses, evaluated inside the kernel build (overflow checks on) for
/// the cases the port-reuse suite exercises end to end.
fn reuse_decision_in_kernel(t: &mut Test) {
    use ipvs_core::proto::tcp::{TcpFlags, TcpState};
    use ipvs_core::reuse::{
        decide, decide_beyond_c, ConnState, Decision, Dest, Entry, Header, ReuseInput,
    };
    let syn = Header::Tcp(Some(TcpFlags::SYN));
    let entry = |state, weight, available| Entry {
        state: ConnState::Tcp(state),
        controlled: false,
        n_control: 0,
        flags: 0,
        dest: Some(Dest { weight, available }),
    };
    let input = |e, ct_confirmed, mode, nodest, old| ReuseInput {
        header: syn,
        later_fragment: false,
        entry: Some(e),
        ct_confirmed,
        settings: Settings {
            conn_reuse_mode: mode,
            expire_nodest_conn: nodest,
            conn_reuse_old_conntrack: old,
            ..Settings::default()
        },
    };
    let tw = entry(TcpState::TimeWait, 1, true);
    // Fix A: an unconfirmed conntrack reschedules without a drop.
    kunit_expect_eq!(
        t,
        decide(&input(tw, false, 1, 0, 0)),
        Decision::ReuseResched { expire_now: true }
    );
    // A confirmed one makes C drop the SYN ...
    kunit_expect_eq!(
        t,
        decide(&input(tw, true, 1, 0, 0)),
        Decision::ReuseDrop { expire_now: true }
    );
    kunit_expect_eq!(
        t,
        decide_beyond_c(&input(tw, true, 1, 0, 0)),
        Decision::ReuseDrop { expire_now: true }
    );
    // ... and conn_reuse_old_conntrack=1 retire the conntrack instead.
    kunit_expect_eq!(
        t,
        decide_beyond_c(&input(tw, true, 1, 0, 1)),
        Decision::ReuseRetireConntrack { expire_now: true }
    );
    // conn_reuse_mode=0 keeps the old entry (and its weight-0 destination).
    let quiesced = entry(TcpState::TimeWait, 0, true);
    kunit_expect_eq!(
        t,
        decide(&input(quiesced, false, 0, 0, 0)),
        Decision::UseExisting
    );
    // expire_nodest_conn reschedules a SYN for a weight-0 destination even in ESTABLISHED.
    let est0 = entry(TcpState::Established, 0, true);
    kunit_expect_eq!(
        t,
        decide(&input(est0, false, 0, 1, 0)),
        Decision::ReuseResched { expire_now: true }
    );
    // A removed destination: dropped without expire_nodest_conn, rescheduled with it.
    let gone = entry(TcpState::Established, 1, false);
    kunit_expect_eq!(
        t,
        decide(&input(gone, false, 1, 0, 0)),
        Decision::NodestDrop
    );
    kunit_expect_eq!(
        t,
        decide(&input(gone, false, 1, 1, 0)),
        Decision::NodestResched
    );
}

/// Fix B inside the kernel: with expire_nodest_conn=1, the delayed work expires the entries of
/// a destination that left its service, and leaves the others alone.
fn nodest_work_expires_removed_dests_conns(t: &mut Test) {
    use crate::dp::conn;
    use conn_fixtures::*;
    let Some(ns) = init_net_state(t) else { return };
    let Some(table) = NetState::sysctl_table(Net::init_net()) else {
        return;
    };
    let idx = SPECS
        .iter()
        .position(|s| s.knob == ipvs_core::sysctl::Knob::ExpireNodestConn)
        .unwrap_or(0);
    let before = conn::count(&ns.dp);
    let work_before = ns.dp.reuse.expired_nodest_work.load(Ordering::Relaxed);
    let (removed, kept) = (dest(4), dest(5));
    let a = conn(ns, 10, 41000, &removed, 0, None);
    let b = conn(ns, 10, 41001, &kept, 0, None);
    drop(a);
    drop(b);
    kunit_expect_eq!(t, conn::count(&ns.dp), before + 2);
    removed.available.store(false, Ordering::Relaxed);
    // With the sysctl at 0 (default) nothing is queued.
    ns.enqueue_expire_nodest_conns();
    crate::glue::rcu::msleep(50);
    kunit_expect_eq!(t, conn::count(&ns.dp), before + 2);
    let Some(entry) = table.registered().nth(idx) else {
        return;
    };
    let res = write_entry(entry, b"1\n");
    kunit_expect!(t, res.is_ok());
    ns.enqueue_expire_nodest_conns();
    kunit_expect!(t, eventually(|| conn::count(&ns.dp) == before + 1));
    kunit_expect_eq!(
        t,
        ns.dp.reuse.expired_nodest_work.load(Ordering::Relaxed),
        work_before + 1
    );
    kunit_expect_eq!(t, removed.totalconns.load(Ordering::Relaxed), 0);
    kunit_expect_eq!(t, kept.totalconns.load(Ordering::Relaxed), 1);
    let res = write_entry(entry, b"0\n");
    kunit_expect!(t, res.is_ok());
    // Clean up the kept one.
    if let Some(c) = conn::in_get(&lookup_key(
        ns,
        &v4([192, 0, 2, 10]),
        41001,
        &v4([198, 51, 100, 1]),
        80,
    )) {
        expire_soon(c);
    }
    kunit_expect!(t, eventually(|| conn::count(&ns.dp) == before));
}

/// IPVS connection synchronization's sockets and threads (`glue::syncsock`), on the loopback
/// device of `init_net`: what C's sync daemons do with them, datagrams included.
mod sync {
    use super::conn_fixtures::eventually;
    use crate::glue::kunit::Test;
    use crate::glue::pernet::{Net, Pernet, PernetData, Slot};
    use crate::glue::rcu::hz;
    use crate::glue::syncsock::{
        dev_mtu, impl_has_sync_threads, McastGroup, McastSocket, SyncConfig, SyncDaemon, SyncRole,
        SyncThread, SyncThreads, DEFAULT_GROUP, DEFAULT_PORT, SYNC_PORTS_MAX,
    };
    use crate::{kunit_expect, kunit_expect_eq, kunit_suite};
    use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering::Relaxed};
    use kernel::prelude::*;

    kunit_suite!(ipvs_rs_sync: mcast_v4_on_loopback, mcast_v6_on_loopback, threads_start_stop);

    /// No device of this name exists.
    const NO_DEV: &[u8] = b"ipvsrs-none0";
    /// `ENETUNREACH`: no route to the group out of the device.
    const ENETUNREACH: i32 = 101;

    fn mcast_v4_on_loopback(t: &mut Test) {
        let net = Net::init_net();
        kunit_expect_eq!(t, dev_mtu(net, NO_DEV), Err(ENODEV));
        kunit_expect_eq!(t, dev_mtu(net, b"name-of-16-bytes"), Err(ENODEV));
        match dev_mtu(net, b"lo") {
            Ok(mtu) => kunit_expect!(t, mtu >= 1500, "lo's MTU is {}", mtu),
            Err(e) => kunit_expect!(t, false, "no MTU for lo: {:?}", e),
        }
        // C: start_sync_thread()'s -ENODEV for an unknown interface.
        let none = McastSocket::receiver(net, DEFAULT_GROUP, DEFAULT_PORT, NO_DEV, 0);
        kunit_expect_eq!(t, none.err(), Some(ENODEV));
        let none = McastSocket::sender(net, DEFAULT_GROUP, DEFAULT_PORT, NO_DEV, 1, 0);
        kunit_expect_eq!(t, none.err(), Some(ENODEV));

        // 224.0.0.81:8848, C's defaults, on lo; buffers as `sync_sock_size` = 64 KiB sets them.
        let rx = match McastSocket::receiver(net, DEFAULT_GROUP, DEFAULT_PORT, b"lo", 65536) {
            Ok(s) => s,
            Err(e) => return kunit_expect!(t, false, "receiver on lo: {:?}", e),
        };
        let tx = match McastSocket::sender(net, DEFAULT_GROUP, DEFAULT_PORT, b"lo", 1, 65536) {
            Ok(s) => s,
            Err(e) => return kunit_expect!(t, false, "sender on lo: {:?} (is lo up?)", e),
        };
        let mut buf = [0u8; 64];
        kunit_expect_eq!(t, rx.recv(&mut buf), Err(EAGAIN));
        kunit_expect!(t, !rx.wait_readable(1));
        kunit_expect!(t, tx.wait_writable(1));
        let msg = b"ipvs-rs sync over IPv4 multicast";
        kunit_expect_eq!(t, tx.send(msg), Ok(msg.len()));
        kunit_expect!(
            t,
            rx.wait_readable(u64::from(hz())),
            "nothing arrived on lo"
        );
        match rx.recv(&mut buf) {
            Ok(n) => kunit_expect!(
                t,
                buf.get(..n) == Some(&msg[..]),
                "received {:?}",
                buf.get(..n)
            ),
            Err(e) => kunit_expect!(t, false, "recv: {:?}", e),
        }
        kunit_expect_eq!(t, rx.recv(&mut buf), Err(EAGAIN));
        // A datagram longer than the buffer is truncated to it (C: the same recvmsg).
        kunit_expect_eq!(t, tx.send(msg), Ok(msg.len()));
        let mut short = [0u8; 8];
        if rx.wait_readable(u64::from(hz())) {
            kunit_expect_eq!(t, rx.recv(&mut short), Ok(short.len()));
            kunit_expect_eq!(t, &short[..], &msg[..8]);
        } else {
            kunit_expect!(t, false, "the second datagram did not arrive");
        }
    }

    /// IPv6: the receiver joins an `ff02::` group on lo as on any device. The sender needs a
    /// multicast route out of lo, which lo has not by default (`connect()` then fails with
    /// `ENETUNREACH`, as a user-space socket's), and even with one, Linux does not loop IPv6
    /// multicast on lo back to local listeners: delivery is checked only if it happens.
    fn mcast_v6_on_loopback(t: &mut Test) {
        let net = Net::init_net();
        let group = McastGroup::V6([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81]);
        let rx = match McastSocket::receiver(net, group, DEFAULT_PORT, b"lo", 0) {
            Ok(s) => s,
            Err(e) => return kunit_expect!(t, false, "IPv6 receiver on lo: {:?}", e),
        };
        let none = McastSocket::receiver(net, group, DEFAULT_PORT, NO_DEV, 0);
        kunit_expect_eq!(t, none.err(), Some(ENODEV));
        let tx = match McastSocket::sender(net, group, DEFAULT_PORT, b"lo", 1, 0) {
            Ok(s) => s,
            Err(e) => {
                kunit_expect_eq!(t, e.to_errno(), -ENETUNREACH, "IPv6 sender on lo");
                pr_info!("ipvs_rs_sync: no IPv6 multicast route on lo, delivery not checked\n");
                return;
            }
        };
        let msg = b"ipvs-rs sync over IPv6 multicast";
        kunit_expect_eq!(t, tx.send(msg), Ok(msg.len()));
        let mut buf = [0u8; 64];
        if rx.wait_readable(u64::from(hz()) / 10) {
            match rx.recv(&mut buf) {
                Ok(n) => kunit_expect!(
                    t,
                    buf.get(..n) == Some(&msg[..]),
                    "received {:?}",
                    buf.get(..n)
                ),
                Err(e) => kunit_expect!(t, false, "recv: {:?}", e),
            }
        } else {
            pr_info!("ipvs_rs_sync: IPv6 multicast not looped back on lo\n");
        }
    }

    /// Per-namespace state with a sync thread set, registered only for the test.
    #[pin_data]
    struct SyncTestState {
        #[pin]
        sync: SyncThreads<SyncTestState>,
    }

    impl_has_sync_threads!(SyncTestState, sync);

    static PERNET: Pernet<SyncTestState> = Pernet::new();

    impl PernetData for SyncTestState {
        fn init(_net: &Net) -> Result<impl PinInit<Self, Error> + '_> {
            Ok(try_pin_init!(SyncTestState {
                sync <- SyncThreads::new(),
            }))
        }

        fn register<'s>(&'s self, slot: &mut Slot<'s, Self>) -> Result {
            slot.init_sync_threads()?;
            // A second readying is refused (it would be stopped twice).
            match slot.init_sync_threads() {
                Err(e) if e == EBUSY => Ok(()),
                _ => Err(EINVAL),
            }
        }

        fn pernet() -> &'static Pernet<Self> {
            &PERNET
        }
    }

    /// Running threads by role, datagrams received by backup id, and received ones that
    /// were not their master's (thread `id` of both roles uses port 8848 + `id`).
    static MASTERS: AtomicI32 = AtomicI32::new(0);
    static BACKUPS: AtomicI32 = AtomicI32::new(0);
    static RECEIVED: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
    static WRONG: AtomicU32 = AtomicU32::new(0);
    /// Set (then `wake_master`) for master `id` to send once more.
    static PENDING: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

    /// What master `id` sends.
    fn payload(id: u32) -> [u8; 16] {
        let mut p = *b"ipvs-rs master ?";
        p[15] = b'0'.wrapping_add(id as u8);
        p
    }

    /// The masters send their payload at start and when woken with `PENDING` set (they would
    /// sleep 10 s otherwise); the backups count what they receive.
    impl SyncDaemon for SyncTestState {
        fn run(_this: &Self, thread: &SyncThread) {
            let sock = thread.socket();
            let id = thread.id();
            match thread.role() {
                SyncRole::Master => {
                    MASTERS.fetch_add(1, Relaxed);
                    let msg = payload(id);
                    while !thread.should_stop() {
                        if sock.send(&msg) == Err(EAGAIN) {
                            sock.wait_writable(u64::from(hz()) / 10);
                            continue;
                        }
                        // Until the test asks for another datagram (or the stop).
                        let more = PENDING.get(id as usize);
                        thread.sleep_unless(10 * u64::from(hz()), || {
                            more.is_some_and(|m| m.swap(false, Relaxed))
                        });
                    }
                    MASTERS.fetch_sub(1, Relaxed);
                }
                SyncRole::Backup => {
                    BACKUPS.fetch_add(1, Relaxed);
                    let mut buf = [0u8; 64];
                    while !thread.should_stop() {
                        if !sock.wait_readable(u64::from(hz()) / 10) {
                            continue;
                        }
                        while let Ok(n) = sock.recv(&mut buf) {
                            let ok = buf.get(..n) == Some(&payload(id)[..]);
                            match RECEIVED.get(id as usize) {
                                Some(r) if ok => r.fetch_add(1, Relaxed),
                                _ => WRONG.fetch_add(1, Relaxed),
                            };
                        }
                    }
                    BACKUPS.fetch_sub(1, Relaxed);
                }
            }
        }
    }

    fn threads_start_stop(t: &mut Test) {
        MASTERS.store(0, Relaxed);
        BACKUPS.store(0, Relaxed);
        RECEIVED.iter().for_each(|r| r.store(0, Relaxed));
        WRONG.store(0, Relaxed);
        PENDING.iter().for_each(|p| p.store(false, Relaxed));
        let reg = match PERNET.register() {
            Ok(r) => r,
            Err(e) => return kunit_expect!(t, false, "registering the test state: {:?}", e),
        };
        let Some(state) = PERNET.try_get(Net::init_net()) else {
            return kunit_expect!(t, false, "no test state in init_net");
        };
        let cfg = SyncConfig {
            group: DEFAULT_GROUP,
            port: DEFAULT_PORT,
            ifname: b"lo",
            ttl: 1,
            sock_size: 0,
            threads: 2,
        };
        let start = |role, cfg: &SyncConfig<'_>| SyncThreads::start(state, role, cfg);
        kunit_expect_eq!(t, start(SyncRole::Backup, &cfg), Ok(()));
        kunit_expect_eq!(t, start(SyncRole::Backup, &cfg), Err(EEXIST));
        kunit_expect_eq!(t, SyncThreads::running(state, SyncRole::Backup), 2);
        let none = SyncConfig {
            ifname: NO_DEV,
            ..cfg
        };
        kunit_expect_eq!(t, start(SyncRole::Master, &none), Err(ENODEV));
        for threads in [0, SYNC_PORTS_MAX + 1] {
            let bad = SyncConfig { threads, ..cfg };
            kunit_expect_eq!(t, start(SyncRole::Master, &bad), Err(EINVAL));
        }
        kunit_expect_eq!(t, SyncThreads::running(state, SyncRole::Master), 0);
        kunit_expect_eq!(t, start(SyncRole::Master, &cfg), Ok(()));
        kunit_expect!(
            t,
            eventually(|| MASTERS.load(Relaxed) == 2 && BACKUPS.load(Relaxed) == 2),
            "threads running: {} masters, {} backups",
            MASTERS.load(Relaxed),
            BACKUPS.load(Relaxed)
        );
        kunit_expect!(
            t,
            eventually(|| RECEIVED.iter().all(|r| r.load(Relaxed) > 0)),
            "backups received {:?} datagrams",
            RECEIVED.each_ref().map(|r| r.load(Relaxed))
        );
        // Each master sleeps until woken: a wake (after its work was queued) sends again.
        for (id, pending) in (0u32..).zip(PENDING.iter()) {
            let Some(received) = RECEIVED.get(id as usize) else {
                break;
            };
            let before = received.load(Relaxed);
            pending.store(true, Relaxed);
            SyncThreads::wake_master(state, id);
            kunit_expect!(
                t,
                eventually(|| received.load(Relaxed) > before),
                "master {} woken: backup {} still at {} datagrams",
                id,
                id,
                before
            );
        }
        // Out of range, or a backup's id: nothing to wake.
        SyncThreads::wake_master(state, SYNC_PORTS_MAX as u32);
        SyncThreads::wake_master(state, u32::MAX);
        kunit_expect_eq!(t, WRONG.load(Relaxed), 0);
        // The stop waits for the threads: none runs when it returns.
        kunit_expect_eq!(t, SyncThreads::stop(state, SyncRole::Master), Ok(()));
        kunit_expect_eq!(t, MASTERS.load(Relaxed), 0);
        kunit_expect_eq!(t, SyncThreads::running(state, SyncRole::Master), 0);
        kunit_expect_eq!(t, SyncThreads::stop(state, SyncRole::Master), Err(ESRCH));
        // No master: a wake does nothing.
        SyncThreads::wake_master(state, 0);
        kunit_expect_eq!(t, BACKUPS.load(Relaxed), 2);
        // Restartable after a stop.
        kunit_expect_eq!(t, start(SyncRole::Master, &cfg), Ok(()));
        // The namespace's state goes (as at netns exit or unload): the glue stops both roles
        // before dropping it.
        drop(reg);
        kunit_expect_eq!(t, MASTERS.load(Relaxed), 0);
        kunit_expect_eq!(t, BACKUPS.load(Relaxed), 0);
    }
}
