#!/usr/bin/env python3
"""Connect-latency CDF of the port-reuse runs as a PNG, with nothing but the standard library.

Usage: plot.py MATRIX_JSON OUT_PNG [CELL...]   (default: every cell in the matrix)

One curve per run and cell (C dashed, ipvs_rs solid, one colour per cell), x = connect time in
ms on a log axis, y = fraction of all connections of the run connected by then (failed connects
never arrive, so such a curve ends below 1). The PNG is written by hand (zlib + struct) with a
5x7 bitmap font: matplotlib is not among the project's dependencies.
"""
import json
import math
import struct
import sys
import zlib

W, H = 1000, 620
LEFT, RIGHT, TOP, BOTTOM = 80, 330, 50, 70
X0, X1 = -1.0, math.log10(5000.0)  # 0.1 ms .. 5 s
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14),
           (23, 190, 207), (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34)]

FONT = {
    "0": [14, 17, 19, 21, 25, 17, 14], "1": [4, 12, 4, 4, 4, 4, 14], "2": [14, 17, 1, 2, 4, 8, 31],
    "3": [31, 2, 4, 2, 1, 17, 14], "4": [2, 6, 10, 18, 31, 2, 2], "5": [31, 16, 30, 1, 1, 17, 14],
    "6": [6, 8, 16, 30, 17, 17, 14], "7": [31, 1, 2, 4, 8, 8, 8], "8": [14, 17, 17, 14, 17, 17, 14],
    "9": [14, 17, 17, 15, 1, 2, 12], "A": [14, 17, 17, 17, 31, 17, 17], "B": [30, 17, 17, 30, 17, 17, 30],
    "C": [14, 17, 16, 16, 16, 17, 14], "D": [28, 18, 17, 17, 17, 18, 28], "E": [31, 16, 16, 30, 16, 16, 31],
    "F": [31, 16, 16, 30, 16, 16, 16], "G": [14, 17, 16, 23, 17, 17, 15], "H": [17, 17, 17, 31, 17, 17, 17],
    "I": [14, 4, 4, 4, 4, 4, 14], "J": [7, 2, 2, 2, 2, 18, 12], "K": [17, 18, 20, 24, 20, 18, 17],
    "L": [16, 16, 16, 16, 16, 16, 31], "M": [17, 27, 21, 21, 17, 17, 17], "N": [17, 17, 25, 21, 19, 17, 17],
    "O": [14, 17, 17, 17, 17, 17, 14], "P": [30, 17, 17, 30, 16, 16, 16], "Q": [14, 17, 17, 17, 21, 18, 13],
    "R": [30, 17, 17, 30, 20, 18, 17], "S": [15, 16, 16, 14, 1, 1, 30], "T": [31, 4, 4, 4, 4, 4, 4],
    "U": [17, 17, 17, 17, 17, 17, 14], "V": [17, 17, 17, 17, 17, 10, 4], "W": [17, 17, 17, 21, 21, 21, 10],
    "X": [17, 17, 10, 4, 10, 17, 17], "Y": [17, 17, 17, 10, 4, 4, 4], "Z": [31, 1, 2, 4, 8, 16, 31],
    " ": [0] * 7, ".": [0, 0, 0, 0, 0, 12, 12], "-": [0, 0, 0, 31, 0, 0, 0], "=": [0, 0, 31, 0, 31, 0, 0],
    "/": [0, 1, 2, 4, 8, 16, 0], "(": [2, 4, 8, 8, 8, 4, 2], ")": [8, 4, 2, 2, 2, 4, 8],
    ":": [0, 12, 12, 0, 12, 12, 0], "%": [24, 25, 2, 4, 8, 19, 3], "_": [0, 0, 0, 0, 0, 0, 31],
    ",": [0, 0, 0, 0, 12, 4, 8], ">": [8, 4, 2, 1, 2, 4, 8], "<": [2, 4, 8, 16, 8, 4, 2],
    "+": [0, 4, 4, 31, 4, 4, 0],
}


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def dot(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(c)

    def line(self, x0, y0, x1, y1, c, width=1, dash=None, phase=0.0):
        """Straight line; dash=(on, off) in pixels, phase carries the pattern across segments.
        Returns the new phase."""
        n = max(abs(x1 - x0), abs(y1 - y0), 1)
        step = math.hypot(x1 - x0, y1 - y0) / n
        for k in range(int(n) + 1):
            if dash is None or (phase % (dash[0] + dash[1])) < dash[0]:
                x = int(round(x0 + (x1 - x0) * k / n))
                y = int(round(y0 + (y1 - y0) * k / n))
                for dx in range(width):
                    for dy in range(width):
                        self.dot(x + dx, y + dy, c)
            phase += step
        return phase

    def text(self, x, y, s, c=(0, 0, 0), scale=2):
        for ch in s:
            rows = FONT.get(ch.upper(), FONT[" "])
            for r, bits in enumerate(rows):
                for col in range(5):
                    if bits & (16 >> col):
                        for dx in range(scale):
                            for dy in range(scale):
                                self.dot(x + col * scale + dx, y + r * scale + dy, c)
            x += 6 * scale

    def png(self):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3]) for y in range(self.h))

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def xpix(ms):
    v = min(max(math.log10(max(ms, 10 ** X0)), X0), X1)
    return LEFT + (v - X0) / (X1 - X0) * (W - LEFT - RIGHT)


def ypix(frac):
    return H - BOTTOM - frac * (H - TOP - BOTTOM)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    m = json.load(open(sys.argv[1]))
    cells = sys.argv[3:] or m["cells"]
    cv = Canvas(W, H)
    grey, black = (220, 220, 220), (0, 0, 0)
    for ms, label in ((0.1, "0.1"), (1, "1"), (10, "10"), (100, "100"), (1000, "1000")):
        x = int(xpix(ms))
        cv.line(x, TOP, x, H - BOTTOM, grey)
        cv.text(x - len(label) * 6, H - BOTTOM + 8, label)
    for f in (0, 0.25, 0.5, 0.75, 1.0):
        y = int(ypix(f))
        cv.line(LEFT, y, W - RIGHT, y, grey)
        cv.text(LEFT - 50, y - 7, "%.2f" % f)
    x900 = int(xpix(900))
    cv.line(x900, TOP, x900, H - BOTTOM, (250, 180, 180), dash=(4, 4))
    cv.line(LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM, black)
    cv.line(LEFT, TOP, LEFT, H - BOTTOM, black)
    cv.text(LEFT, 14, "CONNECT LATENCY CDF (MS, LOG) - C DASHED, IPVS_RS SOLID")
    cv.text(LEFT + 120, H - 28, "CONNECT TIME (MS); 900 MS LINE = SYN RETRANSMIT")

    ly = TOP
    for ci, cell in enumerate(cells):
        colour = COLOURS[ci % len(COLOURS)]
        for run in sorted(m["runs"]):
            r = m["runs"][run].get(cell)
            if not r:
                continue
            raw = r["raw"]["conns"]
            flow = raw.get("flow") or [0] * len(raw["connect_ms"])
            # The cell's own flow only (an old1 RST cell carries a FIN flow alongside).
            conns = [x for x, f in zip(raw["connect_ms"], flow) if f == 0]
            lat = sorted(x for x in conns if x >= 0)
            n = len(conns)
            if not n:
                continue
            dash = (6, 5) if run.startswith("c") else None
            phase = 0.0
            px, py = xpix(lat[0]) if lat else LEFT, ypix(0)
            for i, v in enumerate(lat):
                x, y = xpix(v), ypix((i + 1) / n)
                phase = cv.line(int(px), int(py), int(x), int(py), colour, 2, dash, phase)
                phase = cv.line(int(x), int(py), int(x), int(y), colour, 2, dash, phase)
                px, py = x, y
            cv.line(int(px), int(py), W - RIGHT, int(py), colour, 2, dash, phase)
            cv.line(W - RIGHT + 15, ly + 7, W - RIGHT + 45, ly + 7, colour, 2, dash)
            cv.text(W - RIGHT + 52, ly, "%s %s" % (run, cell))
            ly += 20
    with open(sys.argv[2], "wb") as f:
        f.write(cv.png())


if __name__ == "__main__":
    main()
