#!/usr/bin/env python3
"""Report of `make bench` (tests/vm/bench/run.sh): table, JSON, TAP, PNG plots.

Usage: report.py [--plan PLAN] [--mods "c rs"] [--rounds R] [--tap FILE] [--json FILE]
                 [--png-dir DIR] [--meta K=V ...] SAMPLES_TSV

SAMPLES_TSV: "metric<TAB>module<TAB>round<TAB>value|NA<TAB>note" lines (module c, rs or direct).
Prints a table: per metric the unit, whether more or less is better, min/median/max of C and of
ipvs_rs, the direct path's median where there is one, and rs/C of the medians. A metric without
a value for a module prints "missing" with the reason. --plan (PLAN: "metric mods|direct" lines)
lists what was asked for: a planned metric with no sample at all is reported missing.
--tap writes one TAP line per planned metric: ok iff every module of --mods (or direct, for the
direct-only metrics) produced a value in each of --rounds rounds. No timing thresholds.
--json writes every sample, note and summary. --png-dir draws (matplotlib) metrics.png (C, rs,
direct per metric), services.png (cost against the number of services), entries.png (cost
against the number of connection entries). Exit status 0 (1 if --tap found a metric missing).
"""
import argparse
import json
import math
import re
import statistics
import sys

# metric pattern -> (unit, better: "higher"|"lower"|None, direct metric or None, description)
KINDS = [
    (r"connrate_ct(\d)_svc(\d+)", "conn/s", "higher", "connrate_direct",
     "new TCP connections/s through a NAT VIP, conntrack={0}, {1} services"),
    (r"connfail_ct(\d)_svc(\d+)", "failed", "lower", None,
     "failed connections of that run (conntrack={0}, {1} services)"),
    (r"connrate_direct", "conn/s", "higher", None, "new TCP connections/s, no load balancer"),
    (r"connrate_1cpu_ct0_svc1", "conn/s", "higher", "connrate_1cpu_direct",
     "new TCP connections/s through a NAT VIP, 1 service, the guest's second vCPU offline"),
    (r"connrate_1cpu_direct", "conn/s", "higher", None,
     "new TCP connections/s, no load balancer, the guest's second vCPU offline"),
    (r"connscale_ct0_svc1", "x", "higher", None,
     "connrate_ct0_svc1 over connrate_1cpu_ct0_svc1: from 1 to 2 vCPUs, per round"),
    (r"ctl_add_nth_svc(\d+)", "ms", "lower", None, "ipvsadm -A of the {0}-th service"),
    (r"ctl_ipvsadm_v", "s", "lower", None, "ipvsadm -v (process start and one request)"),
    (r"ctl_restore_svc(\d+)", "s", "lower", None, "ipvsadm -R of {0} services (empty table)"),
    (r"ctl_dump_svc(\d+)", "s", "lower", None, "ipvsadm -Ln of {0} services"),
    (r"ctl_dump_stats_svc(\d+)", "s", "lower", None, "ipvsadm -Ln --stats of {0} services"),
    (r"ctl_flush_svc(\d+)", "s", "lower", None, "ipvsadm -C of {0} services"),
    (r"udp_pps_(nat|dr)", "pps", "higher", "udp_pps_direct", "UDP 18-byte datagrams/s, one flow, {0}"),
    (r"tcp_bulk_(nat|dr)", "MB/s", "higher", "tcp_bulk_direct", "TCP bulk, one connection, {0}"),
    (r"udp_pps_direct", "pps", "higher", None, "UDP 18-byte datagrams/s, one flow, no load balancer"),
    (r"tcp_bulk_direct", "MB/s", "higher", None, "TCP bulk, one connection, no load balancer"),
    (r"tab_entries", "entries", None, None, "connection entries reached by the flood"),
    (r"tab_bytes_per_entry", "B", "lower", None, "Slab bytes per connection entry"),
    (r"tab_create_rate", "entries/s", "higher", None, "connection entries created/s (spoofed UDP flows)"),
    (r"tab_expire_rate", "entries/s", "higher", None, "connection entries expired/s"),
    (r"tab_udp_pps_1k", "pps", "higher", None, "UDP pps of one flow, 1k entries in the table"),
    (r"tab_udp_pps_full", "pps", "higher", None, "UDP pps of one flow, full table"),
    (r"reuse_p(50|99)_(.+)", "ms", "lower", None, "port-reuse cell {1}: connect p{0}"),
]


def kind(metric):
    for pat, unit, better, direct, desc in KINDS:
        m = re.fullmatch(pat, metric)
        if m:
            return unit, better, direct, desc.format(*m.groups())
    return "", None, None, metric


def order_key(metric):
    for i, k in enumerate(KINDS):
        m = re.fullmatch(k[0], metric)
        if m:
            nums = [int(g) if g.isdigit() else g for g in m.groups()]
            return (i, [(0, n) if isinstance(n, int) else (1, n) for n in nums])
    return (len(KINDS), [(1, metric)])


def load(path):
    data = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            metric, mod, rnd, val = parts[:4]
            note = parts[4] if len(parts) > 4 else ""
            d = data.setdefault(metric, {}).setdefault(mod, {"values": [], "missing": [], "notes": []})
            if val == "NA":
                d["missing"].append({"round": int(rnd), "reason": note})
            else:
                d["values"].append({"round": int(rnd), "value": float(val), "note": note})
    return data


def derive_scaling(data):
    """connscale_ct0_svc1: per module and round, the 2-vCPU connection rate over the 1-vCPU
    one of the same round (both measured back to back)."""
    two = data.get("connrate_ct0_svc1", {})
    one = data.get("connrate_1cpu_ct0_svc1", {})
    for mod in sorted(set(two) & set(one)):
        r2 = {x["round"]: x["value"] for x in two[mod]["values"]}
        r1 = {x["round"]: x["value"] for x in one[mod]["values"]}
        d = data.setdefault("connscale_ct0_svc1", {}).setdefault(mod, {"values": [], "missing": [], "notes": []})
        for rnd in sorted(set(r2) | set(r1)):
            if rnd in r2 and rnd in r1 and r1[rnd] > 0:
                d["values"].append({"round": rnd, "value": r2[rnd] / r1[rnd], "note": "derived"})
            else:
                d["missing"].append({"round": rnd, "reason": "a rate of this round is missing"})


def summary(vals):
    if not vals:
        return None
    return {"n": len(vals), "min": min(vals), "median": statistics.median(vals), "max": max(vals)}


def fmt(v):
    if v is None:
        return "-"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3g" % v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan")
    ap.add_argument("--mods", default="c rs")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--tap")
    ap.add_argument("--json")
    ap.add_argument("--png-dir")
    ap.add_argument("--meta", action="append", default=[])
    ap.add_argument("samples")
    a = ap.parse_args()
    mods = a.mods.split()
    data = load(a.samples)
    derive_scaling(data)
    plan = []
    if a.plan:
        with open(a.plan) as f:
            plan = [l.split() for l in f if l.strip()]
    for metric, who in plan:
        data.setdefault(metric, {})
    metrics = sorted(data, key=order_key)

    out = {"meta": dict(kv.split("=", 1) for kv in a.meta), "modules": mods, "rounds": a.rounds, "metrics": {}}
    for m in metrics:
        unit, better, direct, desc = kind(m)
        e = {"unit": unit, "better": better, "description": desc, "direct_metric": direct, "modules": {}}
        for mod, d in data[m].items():
            e["modules"][mod] = {"samples": d["values"], "missing": d["missing"],
                                 "summary": summary([x["value"] for x in d["values"]])}
        sc = e["modules"].get("c", {}).get("summary")
        sr = e["modules"].get("rs", {}).get("summary")
        e["ratio_rs_c"] = (sr["median"] / sc["median"]) if sc and sr and sc["median"] else None
        out["metrics"][m] = e
    for m, e in out["metrics"].items():
        if e["direct_metric"] and e["direct_metric"] in out["metrics"]:
            e["direct"] = out["metrics"][e["direct_metric"]]["modules"].get("direct", {}).get("summary")

    # The table.
    rows = [("metric", "unit", "better", "C min/med/max", "rs min/med/max", "direct", "rs/C")]
    notes = []
    for m in metrics:
        e = out["metrics"][m]
        if m.endswith("_direct"):
            continue
        cells = []
        for mod in ("c", "rs"):
            s = e["modules"].get(mod, {}).get("summary")
            miss = e["modules"].get(mod, {}).get("missing", [])
            if s:
                cells.append("%s/%s/%s" % (fmt(s["min"]), fmt(s["median"]), fmt(s["max"]))
                             + ("" if not miss else " (+%d missing)" % len(miss)))
            else:
                cells.append("missing")
            for x in miss:
                notes.append("%s %s round %d: missing: %s" % (m, mod, x["round"], x["reason"]))
            if not s and not miss and mod in mods:
                notes.append("%s %s: missing: never measured (the run stopped before it)" % (m, mod))
        d = e.get("direct")
        if m == "connrate_direct":
            continue
        rows.append((m, e["unit"], {"higher": "more", "lower": "less"}.get(e["better"], ""), cells[0], cells[1],
                     fmt(d["median"]) if d else "", fmt(e["ratio_rs_c"]) if e["ratio_rs_c"] is not None else "-"))
    for dm in ("connrate_direct", "udp_pps_direct", "tcp_bulk_direct"):
        e = out["metrics"].get(dm)
        if e is not None:
            s = e["modules"].get("direct", {}).get("summary")
            rows.append((dm, e["unit"], "more", "", "", "%s/%s/%s" % (fmt(s["min"]), fmt(s["median"]), fmt(s["max"])) if s else "missing", ""))
            for x in e["modules"].get("direct", {}).get("missing", []):
                notes.append("%s round %d: missing: %s" % (dm, x["round"], x["reason"]))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w[j]) if j < 3 else c.rjust(w[j]) for j, c in enumerate(r)).rstrip())
        if i == 0:
            print("  ".join("-" * x for x in w))
    print("(min/median/max over the rounds; rs/C = ratio of the medians; direct = no load balancer, median)")
    for n in notes:
        print("# " + n)

    # TAP: every planned metric produced by every module in every round.
    rc = 0
    if a.tap:
        with open(a.tap, "w") as tap:
            for metric, who in plan:
                want = ["direct"] if who == "direct" else mods
                got = {mod: len(data[metric].get(mod, {}).get("values", [])) for mod in want}
                ok = all(got[mod] >= a.rounds for mod in want)
                line = "%s - bench: %s (%s)" % ("ok" if ok else "not ok", metric,
                                                ", ".join("%s %d/%d" % (mod, got[mod], a.rounds) for mod in want))
                tap.write(line + "\n")
                if not ok:
                    rc = 1
                    for mod in want:
                        for x in data[metric].get(mod, {}).get("missing", []):
                            tap.write("#   %s round %d: %s\n" % (mod, x["round"], x["reason"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
    if a.png_dir:
        plots(out, a.png_dir)
    return rc


COLOURS = {"c": "tab:blue", "rs": "tab:red", "direct": "tab:gray"}
LABELS = {"c": "C ip_vs", "rs": "ipvs_rs", "direct": "direct (no LB)"}


def errbar(s):
    return [[s["median"] - s["min"]], [s["max"] - s["median"]]]


def plots(out, d):
    import os
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(d, exist_ok=True)
    meta = out["meta"]
    title_tail = " (%s)" % ", ".join("%s %s" % kv for kv in sorted(meta.items())) if meta else ""
    ms = [m for m, e in out["metrics"].items() if not m.endswith("_direct") and not m.startswith("connfail")]
    # 1. Per metric: C, rs, direct (median bars, min..max whiskers).
    ncol = 5
    nrow = max(1, math.ceil(len(ms) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
    for ax, m in zip(axes.flat, ms):
        e = out["metrics"][m]
        bars = [(mod, e["modules"].get(mod, {}).get("summary")) for mod in ("c", "rs")]
        if e.get("direct"):
            bars.append(("direct", e["direct"]))
        for i, (mod, s) in enumerate(bars):
            if s:
                ax.bar(i, s["median"], color=COLOURS[mod], yerr=errbar(s), capsize=3)
            else:
                ax.text(i, 0, "missing", rotation=90, ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(bars)), [("C" if b == "c" else b) for b, _ in bars], fontsize=7)
        r = e["ratio_rs_c"]
        ax.set_title("%s\n%s%s" % (m, e["unit"] + (" (%s is better)" % e["better"] if e["better"] else ""),
                                   "" if r is None else ", rs/C %.2f" % r), fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(ms):]:
        ax.axis("off")
    fig.suptitle("make bench: C ip_vs vs ipvs_rs vs direct, median and min..max over rounds" + title_tail, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "metrics.png"), dpi=90)
    plt.close(fig)

    # 2. Cost against the number of services.
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for ct, style in (("0", "-"), ("1", "--")):
        for mod in ("c", "rs"):
            pts = sorted((int(re.fullmatch(r"connrate_ct\d_svc(\d+)", m).group(1)), e["modules"].get(mod, {}).get("summary"))
                         for m, e in out["metrics"].items() if re.fullmatch(r"connrate_ct%s_svc\d+" % ct, m))
            pts = [(n, s) for n, s in pts if s]
            if pts:
                a1.errorbar([n for n, _ in pts], [s["median"] for _, s in pts],
                            yerr=[[s["median"] - s["min"] for _, s in pts], [s["max"] - s["median"] for _, s in pts]],
                            color=COLOURS[mod], linestyle=style, marker="o", capsize=3,
                            label="%s conntrack=%s" % (LABELS[mod], ct))
    dm = out["metrics"].get("connrate_direct", {}).get("modules", {}).get("direct", {}).get("summary")
    if dm:
        a1.axhline(dm["median"], color=COLOURS["direct"], linestyle=":", label=LABELS["direct"])
    a1.set_xscale("log")
    a1.set_xlabel("services")
    a1.set_ylabel("new TCP connections/s (NAT)")
    a1.set_ylim(bottom=0)
    a1.legend(fontsize=7)
    a1.set_title("connection rate against services", fontsize=9)
    for mod in ("c", "rs"):
        pts = sorted((int(re.fullmatch(r"ctl_add_nth_svc(\d+)", m).group(1)), e["modules"].get(mod, {}).get("summary"))
                     for m, e in out["metrics"].items() if re.fullmatch(r"ctl_add_nth_svc\d+", m))
        pts = [(n, s) for n, s in pts if s]
        if pts:
            a2.errorbar([n for n, _ in pts], [s["median"] for _, s in pts],
                        yerr=[[s["median"] - s["min"] for _, s in pts], [s["max"] - s["median"] for _, s in pts]],
                        color=COLOURS[mod], marker="o", capsize=3, label=LABELS[mod])
    a2.set_xscale("log")
    a2.set_xlabel("services")
    a2.set_ylabel("adding the N-th service over netlink (ms)")
    a2.set_ylim(bottom=0)
    a2.legend(fontsize=7)
    a2.set_title("adding a service against services", fontsize=9)
    fig.suptitle("cost against the number of services" + title_tail, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "services.png"), dpi=90)
    plt.close(fig)

    # 3. Cost against the number of connection entries: µs per packet of one UDP flow.
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for mod in ("c", "rs"):
        ent = out["metrics"].get("tab_entries", {}).get("modules", {}).get(mod, {}).get("summary")
        p1 = out["metrics"].get("tab_udp_pps_1k", {}).get("modules", {}).get(mod, {}).get("summary")
        pf = out["metrics"].get("tab_udp_pps_full", {}).get("modules", {}).get(mod, {}).get("summary")
        xs, ys, lo, hi = [], [], [], []
        for n, s in ((1000, p1), (ent["median"] if ent else None, pf)):
            if n and s:
                xs.append(n)
                ys.append(1e6 / s["median"])
                lo.append(1e6 / s["median"] - 1e6 / s["max"])
                hi.append(1e6 / s["min"] - 1e6 / s["median"])
        if xs:
            a1.errorbar(xs, ys, yerr=[lo, hi], color=COLOURS[mod], marker="o", capsize=3, label=LABELS[mod])
    a1.set_xscale("log")
    a1.set_xlabel("connection entries")
    a1.set_ylabel("µs per UDP packet of one flow (1/pps)")
    a1.set_ylim(bottom=0)
    a1.legend(fontsize=7)
    a1.set_title("per-packet cost against entries", fontsize=9)
    names = ["tab_bytes_per_entry", "tab_create_rate", "tab_expire_rate"]
    for i, m in enumerate(names):
        e = out["metrics"].get(m)
        for j, mod in enumerate(("c", "rs")):
            s = e and e["modules"].get(mod, {}).get("summary")
            if s:
                ref = None
                for mod2 in ("c", "rs"):
                    s2 = e["modules"].get(mod2, {}).get("summary")
                    if s2:
                        ref = max(ref or 0, s2["max"])
                a2.bar(i + 0.4 * j - 0.2, s["median"] / ref, width=0.4, color=COLOURS[mod],
                       yerr=[[(s["median"] - s["min"]) / ref], [(s["max"] - s["median"]) / ref]], capsize=3,
                       label=LABELS[mod] if i == 0 else None)
                a2.text(i + 0.4 * j - 0.2, s["median"] / ref, fmt(s["median"]), ha="center", va="bottom", fontsize=7)
    a2.set_xticks(range(len(names)), ["bytes/entry (less)", "created/s (more)", "expired/s (more)"], fontsize=8)
    a2.set_ylabel("relative to the larger of the two")
    a2.legend(fontsize=7)
    a2.set_title("connection table", fontsize=9)
    fig.suptitle("cost against the number of connection entries" + title_tail, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "entries.png"), dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
