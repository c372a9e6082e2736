#!/usr/bin/python3
"""TAP report of tests/vm/dp/matrix.sh: reads the outputs matrix-cells.sh left per run and
prints "ok - ..." / "not ok - ..." lines with "# " details, and a summary table.

Usage: matrix-report.py --plan PLAN --summary FILE LABEL=MODULE=DIR...
The first LABEL is the reference the others are compared with.

Per run and cell ("matrix LABEL CELL"):
  - every connection round-tripped byte-correct (dpgen client: ok == N, no failure);
  - per destination, the client's count (which server answered), the servers' count (what
    each served in this cell) and ipvsadm --stats Conns are equal;
  - ActiveConn + InActConn of `ipvsadm -L -n` add up to N (every connection still has its
    entry: TIME_WAIT 120 s, the others an hour (matrix.sh), cells take seconds);
  - full cells: /proc/net/ip_vs_conn lists N entries for the service (and, for the cells
    with FULL=2, `ipvsadm -L -n -c` the same entries), in a listing taken while the table
    was stable, by a cell shorter than its entries' lifetime (listing_notes());
  - rr: the counts differ by at most 1; wrr: each is within 1 of N * weight / 6; every
    destination got some connection.
Per further run and cell ("matrix LABEL vs REF CELL"):
  - rr, wrr, sh, mh, and lc/wlc over UDP (every UDP entry is inactive) or over TCP one
    connection at a time: identical per-destination counts (client, servers, Conns),
    ActiveConn and InActConn; full cells: identical number of entries per (state,
    destination) in /proc/net/ip_vs_conn; full sh/mh cells: every client address (UDP: address
    and port) went to the same destination;
  - lc, wlc over TCP with connections in parallel (which ones are established when the next
    is scheduled is timing): identical totals (full cells: also of entries per state in
    /proc/net/ip_vs_conn), each destination's counts within LC_BOUND_PCT (6) percent of N of
    the reference's, see README.md.
"""
import argparse
import collections
import ipaddress
import os
import re
import sys

WEIGHTS = (1, 2, 3)
LC_BOUND_PCT = float(os.environ.get("DP_LC_BOUND_PCT", "6"))
EXACT = ("rr", "wrr", "sh", "mh")
# Timeouts of the states the full cells' entries end in (matrix.sh: ipvsadm --set 3600 3600 3600;
# TIME_WAIT is fixed in C).
TIME_WAIT_S = 120
OTHER_TIMEOUT_S = 3600


def dest_index(addr):
    """10.0.1.12:8080 -> 2, [fd00:1::13]:8080 -> 3 (real server N is 10.0.1.1N, fd00:1::1N)."""
    a = re.sub(r":\d+$", "", addr).rstrip("]")
    return int(a[-1])


class Cell:
    def __init__(self, line):
        f = line.split()
        self.k, self.mode, self.proto, self.fam, self.sched = int(f[0]), f[1], f[2], f[3], f[4]
        self.n, self.full, self.conc, self.vip, self.svc = int(f[5]), f[6] != "0", int(f[7]), f[8], f[9]
        self.lnc_check = f[6] == "2"
        self.name = f"{self.mode} {self.proto} v{self.fam} {self.sched}"
        # Deterministic unless the choice depends on which TCP connections are established
        # right now: lc/wlc with connections in parallel (UDP entries are all inactive).
        self.exact = self.sched in EXACT or self.proto == "udp" or self.conc == 1


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def per_dest(d):
    return tuple(d.get(i, 0) for i in (1, 2, 3))


class Run:
    """The results of one run (one module) of every cell."""

    def __init__(self, label, module, directory, cells):
        self.label, self.module, self.dir = label, module, directory
        self.not_run = (read(os.path.join(directory, "not-run")) or "").strip()
        self.in_charge = (read(os.path.join(directory, "in-charge")) or "").strip()
        self.unloaded = (read(os.path.join(directory, "unloaded")) or "").strip()
        self.stats = self._parse_stats(read(os.path.join(directory, "stats.txt")) or "")
        self.servers = collections.defaultdict(dict)  # (k, proto) -> {server: count}
        for i in (1, 2, 3):
            for line in (read(os.path.join(directory, f"servers-{i}.txt")) or "").splitlines():
                c, proto, cnt = line.split()
                self.servers[(int(c), proto)][i] = int(cnt)
        self.timing = {}
        for line in (read(os.path.join(directory, "timing.txt")) or "").splitlines():
            k, *t = line.split()
            t = [float(x) for x in t]
            self.timing[int(k)] = [t[i + 1] - t[i] for i in range(len(t) - 1)]
        self.res = {c.k: self._cell(c) for c in cells}

    @staticmethod
    def _parse_stats(text):
        """ipvsadm -L -n --stats --exact: {"TCP svc": {dest: conns}}."""
        out, cur = {}, None
        for line in text.splitlines():
            f = line.split()
            if len(f) >= 3 and f[0] in ("TCP", "UDP"):
                cur = out.setdefault(f"{f[0]} {f[1]}", {})
            elif len(f) >= 3 and f[0] == "->" and cur is not None and f[1][0] in "0123456789[":
                cur[dest_index(f[1])] = int(f[2])
        return out

    def _cell(self, c):
        r = {"skip": self.not_run}
        base = os.path.join(self.dir, f"cell-{c.k}")
        if not r["skip"]:
            r["skip"] = (read(base + ".skip") or "").strip()
        if r["skip"]:
            return r
        client = read(base + ".client") or ""
        counts, result = {}, {}
        for line in client.splitlines():
            f = line.split()
            if f[:1] == ["server"]:
                counts[int(f[1])] = int(f[2])
            elif f[:1] == ["result"]:
                result = dict(x.split("=") for x in f[1:])
        r["client"] = per_dest(counts)
        for key in ("ok", "fail", "notrun", "retries", "ms"):
            r[key] = int(result.get(key, 0 if key != "notrun" else c.n))
        r["err"] = (read(base + ".err") or "").strip().splitlines()[:6]
        r["servers"] = per_dest(self.servers.get((c.k, c.proto), {}))
        r["conns"] = per_dest(self.stats.get(f"{c.proto.upper()} {c.svc}", {}))
        act, ina = {}, {}
        for line in (read(base + ".list") or "").splitlines():
            f = line.split()
            if len(f) >= 6 and f[0] == "->" and f[1][0] in "0123456789[":
                act[dest_index(f[1])], ina[dest_index(f[1])] = int(f[4]), int(f[5])
        r["active"], r["inact"] = per_dest(act), per_dest(ina)
        if c.full:
            self._conns(c, base, r)
            # How matrix-cells.sh listed the table: "tries=N seconds=S stable=0|1 settled=0|1 ...".
            r["listing"] = dict(x.split("=", 1) for x in (read(base + ".listing") or "").split() if "=" in x)
        return r

    @staticmethod
    def _conns(c, base, r):
        """The service's entries of /proc/net/ip_vs_conn, kept as cell-K.conns in the format
        of `ipvsadm -L -n -c`, normalized; FULL=2 cells: compared with ipvsadm's listing."""
        mine = proc_entries(read(base + ".proc") or "", c.vip, int(c.svc.rsplit(":", 1)[1]))
        with open(base + ".conns", "w") as f:
            f.write("IPVS connection entries (from /proc/net/ip_vs_conn)\n"
                    "pro expire state       source             virtual            destination\n")
            f.writelines(f"{p} {e // 60:02d}:{e % 60:02d}  {st:11} {src:18} {v:18} {d}\n"
                         for p, e, st, src, v, d in mine)
        r["lnc"] = len(mine)
        states = collections.Counter()
        mapping = set()
        for pro, _expire, state, src, _virt, dst in mine:
            states[(pro, state, dest_index(dst))] += 1
            if c.proto == "tcp":
                src = re.sub(r":\d+$", "", src)  # the kernel's port choice
            mapping.add((src, dest_index(dst)))
        r["states"] = sorted(states.items())
        r["map"] = sorted(mapping) if c.sched in ("sh", "mh") else None
        with open(base + ".states", "w") as f:
            f.writelines(f"{p} {s} dest{d} {n}\n" for (p, s, d), n in r["states"])
        lnc_lines = []
        if c.lnc_check:
            listed = []
            lines = (read(base + ".lnc") or "").splitlines()
            lnc_lines = lines[:2]
            for line in lines[2:]:
                g = line.split()
                if len(g) >= 6 and g[4] == c.svc:
                    listed.append((g[0], g[2], g[3], g[4], g[5]))
                    lnc_lines.append(line)
            proc = sorted((p, st, src, v, d) for p, _e, st, src, v, d in mine)
            r["lnc_diff"] = (len(set(proc) - set(listed)), len(set(listed) - set(proc)), len(listed))
        # The whole tables are big (every cell's entries); what is kept is the service's part.
        if not os.environ.get("DP_KEEP_RAW"):
            if os.path.exists(base + ".proc"):
                os.unlink(base + ".proc")
            if lnc_lines:
                with open(base + ".lnc", "w") as f:
                    f.write("\n".join(lnc_lines) + "\n")


def hostport(addr, port):
    """ipvsadm's spelling: 10.0.0.1:80, [fd00::1]:80."""
    return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"


def proc_addr(text):
    """/proc/net/ip_vs_conn addresses: IPv4 as 8 hex digits, IPv6 as %pI6."""
    if ":" in text:
        return ipaddress.IPv6Address(text)
    return ipaddress.IPv4Address(int(text, 16))


def proc_entries(text, vip, vport):
    """[(proto, expire, state, source, virtual, destination)] of the entries for virtual
    address vip and port vport, in ipvsadm's spelling."""
    a = ipaddress.ip_address(vip)
    # How the kernel prints it (the tables are big, and Python is slow under TCG: filter first).
    key = f" {a.exploded if a.version == 6 else '%08X' % int(a)} {vport:04X} "
    out = []
    for line in text.splitlines()[1:]:
        if key not in line:
            continue
        f = line.split()
        if len(f) < 9:
            continue
        pro, ca, cp, va, vp, da, dp, state, exp = f[:9]
        out.append((pro, int(exp), state, hostport(proc_addr(ca), int(cp, 16)),
                    hostport(proc_addr(va), int(vp, 16)), hostport(proc_addr(da), int(dp, 16))))
    return out


def fmt(t):
    return " ".join(str(x) for x in t)


def listing_notes(run, c):
    """Why a full cell's listing of the connection table cannot be trusted, if it cannot:
    - it was not taken while the table was stable (matrix-cells.sh list_table: every
      destination's ActiveConn/InActConn equal before and after; else an entry went away
      during the listing, which makes the kernel's position-based reader skip others);
    - entries are missing and the cell's own entries may have expired before the listing:
      from the client's start to the end of the listing took longer than the timeout of the
      state its entries end in (NAT TCP: TIME_WAIT 120 s, which --set cannot change; the
      others an hour, matrix.sh). That only explains the failure of the count: the count is
      never loosened."""
    r = run.res[c.k]
    if not c.full or r["skip"]:
        return []
    out = []
    lst = r.get("listing", {})
    if lst.get("stable") != "1":
        out.append("the connection table was not listed while stable: "
                   + (f"it changed during each of {lst.get('tries')} listings over {lst.get('seconds')} s"
                      if lst else "no record of the listing (cell-K.listing)"))
    t = run.timing.get(c.k)
    if t and len(t) >= 4 and r.get("lnc") != c.n:
        took = sum(t[1:4])  # client, settling and list, table
        limit = TIME_WAIT_S if (c.mode, c.proto) == ("NAT", "tcp") else OTHER_TIMEOUT_S
        if took >= limit:
            out.append(f"the cell took {took:.0f} s from its first connection to the end of the listing, "
                       f"not less than the {limit} s its entries live: some may have expired before being "
                       f"listed (lower DP_N_FULL)")
    return out


def verdict(run, c):
    r = run.res[c.k]
    name = f"matrix {run.label} {c.name}"
    if r["skip"]:
        return False, f"{name} (not run: {r['skip']})", []
    notes = []
    if r["ok"] != c.n or r["fail"] or r["notrun"]:
        notes.append(f"client: {r['ok']} of {c.n} connections round-tripped, {r['fail']} failed, "
                     f"{r['notrun']} not started")
        notes += [f"  {e}" for e in r["err"]]
    if r["client"] != r["servers"]:
        notes.append(f"per destination: client saw {fmt(r['client'])}, servers served {fmt(r['servers'])}")
    if r["client"] != r["conns"]:
        notes.append(f"per destination: client saw {fmt(r['client'])}, ipvsadm --stats Conns {fmt(r['conns'])}")
    if sum(r["active"]) + sum(r["inact"]) != c.n:
        notes.append(f"ipvsadm ActiveConn {fmt(r['active'])} + InActConn {fmt(r['inact'])} do not add up to {c.n}")
    if "lnc" in r and r["lnc"] != c.n:
        notes.append(f"/proc/net/ip_vs_conn lists {r['lnc']} entries of the service, want {c.n}")
    notes += listing_notes(run, c)
    if r.get("lnc_diff", (0, 0, c.n))[:2] != (0, 0):
        only_proc, only_lnc, listed = r["lnc_diff"]
        notes.append(f"ipvsadm -L -n -c lists {listed} entries of the service: {only_proc} entries of "
                     f"/proc/net/ip_vs_conn are missing, {only_lnc} are not there")
    got = r["client"]
    if c.n >= 100 and min(got) == 0:
        notes.append(f"a destination got no connection: {fmt(got)}")
    if c.sched == "rr" and max(got) - min(got) > 1:
        notes.append(f"rr: counts {fmt(got)} differ by more than 1")
    if c.sched == "wrr" and any(abs(g - c.n * w / sum(WEIGHTS)) > 1 for g, w in zip(got, WEIGHTS)):
        notes.append(f"wrr: counts {fmt(got)} are not N * weight (1, 2, 3) / 6")
    if notes:
        return False, name, notes
    extra = ""
    if c.full:
        lst = r.get("listing", {})
        extra = f", table listed in {lst.get('tries')} tries, {lst.get('seconds')} s"
    return True, f"{name} ({c.n} connections, per destination {fmt(got)}, {r['ms']} ms{extra})", []


def compare(ref, run, c):
    a, b = ref.res[c.k], run.res[c.k]
    name = f"matrix {run.label} vs {ref.label} {c.name}"
    if a["skip"] or b["skip"]:
        return False, name, [f"{x.label} did not run this cell: {x.res[c.k]['skip']}"
                             for x in (ref, run) if x.res[c.k]["skip"]]
    notes = [f"{x.label}: {n}" for x in (ref, run) for n in listing_notes(x, c)]
    if c.exact:
        for key in ("client", "servers", "conns", "active", "inact"):
            if a[key] != b[key]:
                notes.append(f"{key} per destination: {ref.label} {fmt(a[key])}, {run.label} {fmt(b[key])}")
        for key, what in (("states", "entries per (state, destination) in /proc/net/ip_vs_conn"),
                          ("map", "client address -> destination")):
            if a.get(key) is not None and a.get(key) != b.get(key):
                sa, sb = set(a[key]), set(b.get(key) or [])
                notes.append(f"{what} differ: {len(sa - sb)} only in {ref.label}, {len(sb - sa)} only in {run.label}")
                notes += [f"  {ref.label}: {x}" for x in sorted(sa - sb)[:5]]
                notes += [f"  {run.label}: {x}" for x in sorted(sb - sa)[:5]]
        ok_text = f"identical: {fmt(a['conns'])}"
    else:
        bound = max(2, int(c.n * LC_BOUND_PCT / 100))
        for key in ("client", "servers", "conns"):
            if sum(a[key]) != sum(b[key]):
                notes.append(f"{key} totals: {ref.label} {fmt(a[key])}, {run.label} {fmt(b[key])}")
            for i in range(3):
                if abs(a[key][i] - b[key][i]) > bound:
                    notes.append(f"{key} dest{i + 1}: {ref.label} {a[key][i]}, {run.label} {b[key][i]}, "
                                 f"more than {bound} apart")
        for key in ("active", "inact"):
            if sum(a[key]) != sum(b[key]):
                notes.append(f"{key} totals: {ref.label} {fmt(a[key])}, {run.label} {fmt(b[key])}")
        # Full cells: which destination an entry has is timing here, how many there are in
        # each state is not.
        if a.get("states") is not None:
            sa, sb = collections.Counter(), collections.Counter()
            for (p, st, _d), n in a["states"]:
                sa[(p, st)] += n
            for (p, st, _d), n in b.get("states") or []:
                sb[(p, st)] += n
            if sa != sb:
                notes.append(f"entries per state in /proc/net/ip_vs_conn: {ref.label} {sorted(sa.items())}, "
                             f"{run.label} {sorted(sb.items())}")
        ok_text = f"within {bound}: {ref.label} {fmt(a['conns'])}, {run.label} {fmt(b['conns'])}"
    if notes:
        return False, name, notes
    return True, f"{name} ({ok_text})", []


def emit(ok, line, notes):
    print(("ok - " if ok else "not ok - ") + line)
    for n in notes:
        print("# " + n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("runs", nargs="+", help="LABEL=MODULE=DIR")
    args = ap.parse_args()
    with open(args.plan) as f:
        cells = [Cell(l) for l in f if l.strip()]
    runs = [Run(*spec.split("=", 2), cells) for spec in args.runs]
    for run in runs:
        if run.not_run:
            emit(False, f"matrix {run.label}: set up ({run.not_run})", [])
        for c in cells:
            emit(*verdict(run, c))
        emit(run.in_charge == "yes", f"matrix {run.label}: {run.module} alone provided IPVS throughout",
             [] if run.in_charge == "yes" else [f"/proc/modules: {run.in_charge}"])
        emit(run.unloaded == "yes", f"matrix {run.label}: unload {run.module}", [])
    for run in runs[1:]:
        for c in cells:
            emit(*compare(runs[0], run, c))
    with open(args.summary, "w") as f:
        f.write(f"{'run':6} {'cell':20} {'n':>5} {'ok':>5} {'ms':>6} {'client':14} {'servers':14} "
                f"{'conns':14} {'active':10} {'inact':14} {'table':>5}  seconds: -R client list table\n")
        for run in runs:
            for c in cells:
                r = run.res[c.k]
                if r["skip"]:
                    f.write(f"{run.label:6} {c.name:20} {c.n:5} not run: {r['skip']}\n")
                    continue
                f.write(f"{run.label:6} {c.name:20} {c.n:5} {r['ok']:5} {r['ms']:6} {fmt(r['client']):14} "
                        f"{fmt(r['servers']):14} {fmt(r['conns']):14} {fmt(r['active']):10} "
                        f"{fmt(r['inact']):14} {r.get('lnc', '-'):>5}  "
                        f"{' '.join('%.2f' % x for x in run.timing.get(c.k, []))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
