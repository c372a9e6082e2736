#!/usr/bin/env python3
"""Connect-latency CDF of the port-reuse runs as a PNG (matplotlib, Debian's python3-matplotlib).

Usage: plot.py MATRIX_JSON OUT_PNG [CELL...]   (default: every cell in the matrix)

One curve per run and cell (C dashed, ipvs_rs solid, one colour per cell), x = connect time in
ms on a log axis (0.1 ms .. 5 s), y = fraction of all connections of the run connected by then
(failed connects never arrive, so such a curve ends below 1). A dashed line marks 900 ms: a
connect that slow waited for a SYN retransmission.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

X0, X1 = 0.1, 5000.0


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    m = json.load(open(sys.argv[1]))
    cells = sys.argv[3:] or m["cells"]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(10, 6.2))
    for ci, cell in enumerate(cells):
        colour = colours[ci % len(colours)]
        for run in sorted(m["runs"]):
            r = m["runs"][run].get(cell)
            if not r:
                continue
            raw = r["raw"]["conns"]
            flow = raw.get("flow") or [0] * len(raw["connect_ms"])
            # The cell's own flow only (an old1 RST cell carries a FIN flow alongside).
            conns = [x for x, f in zip(raw["connect_ms"], flow) if f == 0]
            lat = sorted(min(max(x, X0), X1) for x in conns if x >= 0)
            n = len(conns)
            if not n:
                continue
            xs = [X0] + lat + [X1]
            ys = [0.0] + [(i + 1) / n for i in range(len(lat))] + [len(lat) / n]
            ax.step(xs, ys, where="post", color=colour, linewidth=1.8,
                    linestyle="--" if run.startswith("c") else "-", label="%s %s" % (run, cell))
    ax.axvline(900, color="#f4a0a0", linestyle=(0, (4, 4)), linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(X0, X1)
    ax.set_ylim(0, 1.02)
    ax.set_xticks([0.1, 1, 10, 100, 1000], ["0.1", "1", "10", "100", "1000"])
    ax.grid(True, color="#dddddd")
    ax.set_xlabel("connect time (ms); 900 ms line = SYN retransmit")
    ax.set_ylabel("fraction of the run's connections")
    ax.set_title("Connect latency CDF (ms, log) - C dashed, ipvs_rs solid")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
