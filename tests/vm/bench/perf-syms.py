#!/usr/bin/env python3
"""Name the ipvs_rs addresses of BENCH_PERF's profiles (host side, after the guest run).

Usage: perf-syms.py KO FILE...

The guest's perf cannot name ipvs_rs's functions (the out-of-tree module's symbols are not
in the guest's /proc/kallsyms), so its samples appear as `[k] 0x<offset>`, the offset into
the module's text (its only text section, .text, comes first in the module's memory). This
rewrites each such line of FILE in place with the demangled function of KO that holds the
offset, keeping the original address in brackets; other lines are left as they are.
"""
import bisect
import re
import subprocess
import sys


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


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    syms = text_symbols(sys.argv[1])
    starts = [s[0] for s in syms]
    pat = re.compile(r"^(\s*[0-9.]+%\s+\[k\] )0x([0-9a-f]+)\s*$")
    for path in sys.argv[2:]:
        with open(path) as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            m = pat.match(line)
            sym = m and name(syms, starts, int(m.group(2), 16))
            if sym:
                sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
                out.append(f"{m.group(1)}[ipvs_rs] {sym[:160]} [0x{m.group(2)}]")
            else:
                out.append(line)
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
