#!/usr/bin/env python3
"""Name the ipvs_rs addresses of BENCH_PERF's profiles and sum them by function (host side,
after the guest run).

Usage: perf-syms.py KO FILE...

The guest's perf cannot name ipvs_rs's functions (the out-of-tree module's symbols are not
in the guest's /proc/kallsyms), so its samples appear as `[k] 0x<offset>`, one line per
sampled address, the offset into the module's text (its only text section, .text, comes
first in the module's memory). Spread over hundreds of lines, none of them reaches the top of
the list, and the module's share looks smaller than it is. This rewrites each FILE in place:
each such address is named with the demangled function of KO that holds it, the lines of
one function are summed into one, the list is sorted again, and a summary line gives the
load balancer's share of the samples (ipvs_rs's functions, or C's `ip_vs` ones in the
profiles of C). Lines of other symbols are kept as they are; the list keeps its TOP
(default 80) first lines.
"""
import bisect
import os
import re
import subprocess
import sys

TOP = int(os.environ.get("TOP", "80"))
LINE = re.compile(r"^\s*([0-9.]+)%\s+\[k\]\s+(.*?)\s*$")


def text_symbols(ko):
    out = subprocess.run(["nm", "-n", "-C", "-S", "--defined-only", ko],
                         capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2] in ("t", "T"):
            syms.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    syms.sort()
    return syms


def name(syms, starts, addr):
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0:
        start, size, sym = syms[i]
        if start <= addr < start + size:
            return sym
    return None


def is_c_ipvs(sym):
    """A function of C's ip_vs modules (named by the guest's perf)."""
    return re.match(r"^_*ip_vs_|^ip_vs|^_*ipvs_", sym) is not None


def rewrite(path, syms, starts):
    with open(path) as f:
        lines = f.read().splitlines()
    head = [line for line in lines if line.startswith("#")]
    if any(line.startswith("# load balancer:") for line in head):
        return  # already rewritten
    totals = {}
    order = []
    lb = 0.0
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2)
        key = sym
        mine = False
        if sym.startswith("0x"):
            fn = name(syms, starts, int(sym, 16))
            if fn:
                key = "[ipvs_rs] " + re.sub(r"::h[0-9a-f]{16}$", "", fn)[:160]
                mine = True
            else:
                key = "[unknown module address]"
        elif is_c_ipvs(sym):
            mine = True
        if key not in totals:
            totals[key] = 0.0
            order.append(key)
        totals[key] += pct
        if mine:
            lb += pct
    ranked = sorted(order, key=lambda k: -totals[k])
    out = head + [f"# load balancer: {lb:.2f}% of the samples (ipvs_rs's functions, or C's ip_vs_*);"
                  f" ipvs_rs's addresses summed by function"]
    out += [f"{totals[k]:9.2f}%  [k] {k}" for k in ranked[:TOP]]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    syms = text_symbols(sys.argv[1])
    starts = [s[0] for s in syms]
    for path in sys.argv[2:]:
        rewrite(path, syms, starts)


if __name__ == "__main__":
    main()
