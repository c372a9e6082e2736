#!/usr/bin/python3
"""TAP report of tests/vm/dp/expire.sh for one run.

Usage: expire-report.py LABEL MODULE DIR < SCENARIOS
SCENARIOS: "NAME MODE PROTO PORT CLIENT-ADDRESS STATE SECONDS gone|stays OPTIONS..." lines.
DIR holds NAME.client (dpgen client -v output: "exchanged INDEX WALL_MS", "result ... end=WALL_MS"),
polls.txt ("@ EPOCH" lines, each followed by `ipvsadm -L -n -c`), timeouts.txt, in-charge.

Per scenario, the connection's entry (the only one from CLIENT-ADDRESS) must
  - be listed, its last listed state being STATE;
  - when first listed in STATE, show an expire time within 2 s (below) / 1.5 s (above) of
    SECONDS minus the time since the connection's last packet (the "exchanged" time, or the
    client's end when it got no answer: the refused ones) when the table was read;
  - gone: go away between SECONDS - EARLY and SECONDS + LATE after the last packet;
    stays: still be listed at the last poll.

When a poll read the table is known only to within the poll: after its "@" time and before
the next poll's (`ipvsadm -L -n -c` takes longer on a slower kernel, so the polls spread out).
The checks use those bounds, so that they hold whatever the spacing of the polls: an entry
fails "too late" when a poll that started after SECONDS + LATE still listed it, "too early"
when a poll that ended before SECONDS - EARLY no longer did, and the expire time is compared
with the range the read time allows. A coarser kernel gets no looser bound, only a wider
uncertainty about when it read; where that uncertainty (from the last poll listing the entry
to the end of the first one not listing it) exceeds MAX_GAP s the polls cannot tell an entry
expiring on time from one expiring seconds off (CLOSE's 10 s from ESTABLISHED's 5 s), and
the entry fails as not judged.
"""
import ipaddress
import os
import sys

EARLY = float(os.environ.get("DP_EXPIRE_EARLY", "1.0"))
LATE = float(os.environ.get("DP_EXPIRE_LATE", "2.5"))
MAX_GAP = float(os.environ.get("DP_EXPIRE_MAX_GAP", "4.0"))


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def polls(text):
    """[(start, end, {client_ip: (proto, state, expire_seconds)})]: each poll of the table,
    read between start and end (None when not stamped: the next poll's start bounds it).
    A poll is /proc/net/ip_vs_conn as the kernel prints it, or `ipvsadm -L -n -c` (IPv4)."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if f[:1] == ["@"]:
            out.append([float(f[1]), None, {}])
        elif f[:1] == ["="] and out:
            out[-1][1] = float(f[1])
        elif out and len(f) >= 9 and f[0] in ("TCP", "UDP") and f[8].isdigit():
            ip = str(ipaddress.IPv4Address(int(f[1], 16))) if ":" not in f[1] else f[1]
            out[-1][2][ip] = (f[0], f[7], int(f[8]))
        elif out and len(f) >= 6 and f[0] in ("TCP", "UDP"):
            mm, ss = f[1].split(":")
            ip = f[3].rsplit(":", 1)[0]
            out[-1][2][ip] = (f[0], f[2], int(mm) * 60 + int(ss))
    return [tuple(p) for p in out]


def last_packet(text):
    """Wall time (s) of the connection's last exchange, or of the client's end."""
    t = None
    for line in text.splitlines():
        f = line.split()
        if f[:1] == ["exchanged"]:
            t = int(f[2]) / 1000
        elif f[:1] == ["result"] and t is None:
            t = int(dict(x.split("=") for x in f[1:])["end"]) / 1000
    return t


def main():
    label, module, d = sys.argv[1:4]
    name0 = f"expire {label}"
    if os.path.exists(os.path.join(d, "not-run")):
        print(f"not ok - {name0}: not run ({read(os.path.join(d, 'not-run')).strip()})")
    t = read(os.path.join(d, "timeouts.txt")).strip()
    print(("ok - " if t == "Timeout (tcp tcpfin udp): 5 3 4" else "not ok - ")
          + f"{name0}: ipvsadm --set 5 3 4 reads back")
    if t != "Timeout (tcp tcpfin udp): 5 3 4":
        print(f"#   got: {t!r}")
    ic = read(os.path.join(d, "in-charge")).strip()
    print(("ok - " if ic == "yes" else "not ok - ") + f"{name0}: {module} alone provided IPVS throughout")
    ps = polls(read(os.path.join(d, "polls.txt")))
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        name, _mode, proto, _port, src, want, secs, kind = f[:8]
        secs = float(secs)
        title = f"{name0} {name}: {proto.upper()} {want}, " + (
            f"gone after {secs:g} s" if kind == "gone" else f"expire {secs:g} s, still listed")
        client = read(os.path.join(d, f"{name}.client"))
        t0 = last_packet(client)
        # Per poll i: the table was read between ps[i][0] and read_end(i).
        spacing = max((b[0] - a[0] for a, b in zip(ps, ps[1:])), default=1.0)

        def read_end(i):
            if ps[i][1] is not None:
                return ps[i][1]
            return ps[i + 1][0] if i + 1 < len(ps) else ps[i][0] + spacing

        seen = [(i, e) for i, (_t, _end, entries) in enumerate(ps) for ip, e in entries.items() if ip == src]
        notes = []
        if t0 is None:
            notes.append("the client reported nothing: " + " | ".join(client.splitlines()[:3]))
        elif not seen:
            notes.append("never listed by ipvsadm -L -n -c")
        else:
            states = []
            for _, e in seen:
                if not states or states[-1] != e[1]:
                    states.append(e[1])
            if seen[-1][1][1] != want:
                notes.append(f"states listed: {' -> '.join(states)}; want {want} last")
            first = next(((i, e) for i, e in seen if e[1] == want and ps[i][0] >= t0), None)
            if first:
                i, e = first
                # Remaining time when read: SECONDS minus the time since the last packet.
                hi = secs - (ps[i][0] - t0) + 1.5
                lo = secs - (read_end(i) - t0) - 2
                if not lo <= e[2] <= hi:
                    notes.append(f"first listed in {want} by a poll {ps[i][0] - t0:.1f}-{read_end(i) - t0:.1f} s "
                                 f"after the last packet with expire {e[2]} s, want {max(lo, 0):.0f}-{hi:.0f} s")
            last_i = seen[-1][0]
            last_seen = ps[last_i][0]
            later = [t for t, _end, _entries in ps[last_i + 1:]]
            if kind == "gone":
                if not later:
                    notes.append(f"still listed at the last poll, {ps[-1][0] - t0:.1f} s after the last packet")
                else:
                    # Listed by a read at or after last_seen; missing from a read before
                    # gone_by: it went away in between.
                    gone_by = read_end(last_i + 1)
                    if last_seen - t0 > secs + LATE:
                        notes.append(f"gone too late: still listed by a poll started {last_seen - t0:.1f} s after "
                                     f"the last packet, want {secs:g} s (+{LATE:g})")
                    if gone_by - t0 < secs - EARLY:
                        notes.append(f"gone too early: missing from a poll ended {gone_by - t0:.1f} s after the last "
                                     f"packet, want {secs:g} s (-{EARLY:g})")
                    if not notes and gone_by - last_seen > MAX_GAP:
                        notes.append(f"cannot judge: the polls around its expiry ({last_seen - t0:.1f} s listed, "
                                     f"{gone_by - t0:.1f} s missing) are more than {MAX_GAP:g} s apart")
                    title += f" (went between {last_seen - t0:.1f} s and {gone_by - t0:.1f} s)"
            elif later:
                notes.append(f"gone {later[0] - t0:.1f} s after the last packet, want it listed throughout")
            else:
                title += f" (listed {len(seen)} times, last {last_seen - t0:.1f} s after the last packet)"
        print(("not ok - " if notes else "ok - ") + title)
        for n in notes:
            print("#   " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
