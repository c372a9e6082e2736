#!/usr/bin/env python3
"""insns.py INSNS_DIR RES_DIR: the instruction profiles of `BENCH_INSNS=1 make bench`.

INSNS_DIR holds, per profiled measurement NAME (METRIC-MOD-rROUND), the block counts of
tools/qemu-tbcount.c before (NAME.start.tb) and after (NAME.tb) it, and the guest's
/proc/kallsyms (NAME.kallsyms). The difference, summed by function, is what the guest
executed during the measurement, exactly (QEMU counts every instruction of every block it
runs). It is divided by the measurement's units where samples.tsv says how many there were
("ok=N": connections; "of N sent": datagrams, each of which the load balancer handled).

Writes RES_DIR/insns-NAME.txt (by module, then the top functions and every function of the
load balancer) and RES_DIR/insns-summary.txt (per metric and round: instructions per unit in
all, and in the load balancer's own functions, C against ipvs_rs), which it also prints.

insns.py --blocks INSNS_DIR RES_DIR NAME FUNCTION: where FUNCTION's count comes from, block by
block: each translation block's offset in the function, its instructions, its executions per
unit and their product, in address order. The executions tell how often each path of the
function ran (calls per connection at its entry, iterations of a loop), and the offsets
match `llvm-objdump -d --disassemble-symbols=FUNCTION` of the module the guest loaded.
"""
import bisect
import collections
import glob
import os
import re
import sys

LB_MODULES = {"c": ("ip_vs",), "rs": ("ipvs_rs",)}


def load_blocks(path):
    """(vaddr, insns) -> executions; a block translated twice has two entries."""
    d = collections.Counter()
    with open(path) as f:
        for line in f:
            a, n, c = line.split()
            d[(int(a, 16), int(n))] += int(c)
    return d


def load_syms(path):
    syms = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 3 or p[1] not in "tTwW":
                continue
            mod = p[3].strip("[]") if len(p) > 3 else "vmlinux"
            syms.append((int(p[0], 16), p[2], mod))
    syms.sort()
    return syms


def units_of(res, name):
    """(count, what) from samples.tsv for NAME = METRIC-MOD-rROUND, or (None, None)."""
    m = re.match(r"(.+)-([a-z]+)-r(\d+)$", name)
    if not m:
        return None, None
    metric, mod, rnd = m.groups()
    try:
        rows = open(os.path.join(res, "samples.tsv")).read().splitlines()
    except OSError:
        return None, None
    for row in rows:
        f = row.split("\t")
        if len(f) >= 5 and f[0] == metric and f[1] == mod and f[2] == rnd:
            if (u := re.search(r"\bok=(\d+)", f[4])) and int(u.group(1)) > 0:
                return int(u.group(1)), "connection"
            # Every datagram sent passes the load balancer; how many the receiving socket
            # then drops varies from run to run: count the ones sent.
            if (u := re.search(r"\bof (\d+) sent", f[4])) and int(u.group(1)) > 0:
                return int(u.group(1)), "datagram sent"
    return None, None


def profile(insns, name):
    s = load_blocks(os.path.join(insns, name + ".start.tb"))
    e = load_blocks(os.path.join(insns, name + ".tb"))
    syms = load_syms(os.path.join(insns, name + ".kallsyms"))
    addrs = [x[0] for x in syms]
    by_fn, by_mod = collections.Counter(), collections.Counter()
    for (a, n), c in e.items():
        d = (c - s.get((a, n), 0)) * n
        if d <= 0:
            continue
        if a < 0xFFFF800000000000:
            key = ("user", "(user space)")
        else:
            i = bisect.bisect_right(addrs, a) - 1
            key = (syms[i][2], syms[i][1]) if i >= 0 else ("?", "?")
        by_fn[key] += d
        by_mod[key[0]] += d
    return by_fn, by_mod


def blocks(insns, res, name, func):
    s = load_blocks(os.path.join(insns, name + ".start.tb"))
    e = load_blocks(os.path.join(insns, name + ".tb"))
    syms = load_syms(os.path.join(insns, name + ".kallsyms"))
    starts = [a for a, f, _ in syms if f == func]
    if not starts:
        sys.exit(f"insns.py: no function {func} in {name}.kallsyms")
    start = starts[0]
    end = min((a for a, _, _ in syms if a > start), default=start + (1 << 20))
    n, what = units_of(res, name)
    div, unit = (n, "per " + what) if n else (1, "in all")
    print(f"# {name}: {func}, executions {unit}")
    total = 0.0
    for (a, k), c in sorted(e.items()):
        d = c - s.get((a, k), 0)
        if start <= a < end and d > 0:
            total += d * k / div
            print(f"+{a - start:#07x} {k:4d} insns x {d / div:10.2f} = {d * k / div:10.1f}")
    print(f"# total {total:.1f}")


def main():
    if sys.argv[1:2] == ["--blocks"] and len(sys.argv) == 6:
        blocks(*sys.argv[2:6])
        return
    insns, res = sys.argv[1], sys.argv[2]
    names = sorted(os.path.basename(p)[: -len(".start.tb")]
                   for p in glob.glob(os.path.join(insns, "*.start.tb")))
    summary = {}
    for name in names:
        if not os.path.exists(os.path.join(insns, name + ".tb")):
            continue
        by_fn, by_mod = profile(insns, name)
        n, what = units_of(res, name)
        div, unit = (n, "per " + what) if n else (1, "in all")
        mod = re.match(r".+-([a-z]+)-r\d+$", name)
        mod = mod.group(1) if mod else ""
        lb = sum(v for (m, _), v in by_fn.items() if m.startswith(LB_MODULES.get(mod, ("-",))))
        total = sum(by_mod.values())
        summary[name] = (total / div, lb / div, unit)
        with open(os.path.join(res, f"insns-{name}.txt"), "w") as out:
            print(f"# {name}: guest instructions {unit} (units: {n or '-'}), "
                  f"exact (QEMU block counts)", file=out)
            print(f"# total {total / div:.0f}; load balancer's own functions {lb / div:.0f}",
                  file=out)
            for m, v in by_mod.most_common(12):
                print(f"# module {m:18s} {v / div:12.1f}", file=out)
            print("## top 60", file=out)
            for (m, f), v in by_fn.most_common(60):
                print(f"{v / div:12.1f}  {m:10s} {f}", file=out)
            print("## the load balancer's functions", file=out)
            for (m, f), v in by_fn.most_common():
                if m.startswith(LB_MODULES.get(mod, ("-",))):
                    print(f"{v / div:12.1f}  {m:10s} {f}", file=out)
    lines = ["# instructions per unit, exact (BENCH_INSNS=1): all the guest did, and the load "
             "balancer's own functions (C: ip_vs*, rs: ipvs_rs)",
             f"{'measurement':40s} {'unit':16s} {'total':>10s} {'load bal.':>10s}"]
    for name, (t, lb, unit) in summary.items():
        lines.append(f"{name:40s} {unit:16s} {t:10.0f} {lb:10.0f}")
    with open(os.path.join(res, "insns-summary.txt"), "w") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
