#!/usr/bin/python3
"""TAP report of tests/vm/dp/expire.sh for one run.

Usage: expire-report.py LABEL MODULE DIR < SCENARIOS
SCENARIOS: "NAME MODE PROTO PORT CLIENT-ADDRESS STATE SECONDS gone|stays OPTIONS..." lines.
DIR holds NAME.client (dpgen client -v output: "exchanged INDEX WALL_MS", "result ... end=WALL_MS"),
polls.txt ("@ EPOCH" lines, each followed by `ipvsadm -L -n -c`), timeouts.txt, in-charge.

Per scenario, the connection's entry (the only one from CLIENT-ADDRESS) must
  - be listed, its last listed state being STATE;
  - when first listed in STATE, show an expire time within 2 s of SECONDS minus the time since
    the connection's last packet (the "exchanged" time, or the client's end when it got no
    answer: the refused ones);
  - gone: be listed until at least SECONDS - EARLY after the last packet and be gone by
    SECONDS + LATE after it; stays: still be listed at the last poll.
"""
import os
import sys

EARLY = float(os.environ.get("DP_EXPIRE_EARLY", "1.0"))
LATE = float(os.environ.get("DP_EXPIRE_LATE", "2.5"))


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def polls(text):
    """[(time, {client_ip: (proto, state, expire_seconds)})]"""
    out = []
    for line in text.splitlines():
        f = line.split()
        if f[:1] == ["@"]:
            out.append((float(f[1]), {}))
        elif out and len(f) >= 6 and f[0] in ("TCP", "UDP"):
            mm, ss = f[1].split(":")
            ip = f[3].rsplit(":", 1)[0]
            out[-1][1][ip] = (f[0], f[2], int(mm) * 60 + int(ss))
    return out


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
        seen = [(t, e) for t, entries in ps for ip, e in entries.items() if ip == src]
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
            first = next(((t, e) for t, e in seen if e[1] == want and t >= t0), None)
            if first:
                exp = secs - (first[0] - t0)
                if not exp - 2 <= first[1][2] <= exp + 1.5:
                    notes.append(f"first listed in {want} {first[0] - t0:.1f} s after the last packet with "
                                 f"expire {first[1][2]} s, want about {exp:.0f} s")
            last_seen = seen[-1][0]
            later = [t for t, entries in ps if t > last_seen]
            if kind == "gone":
                if not later:
                    notes.append(f"still listed at the last poll, {ps[-1][0] - t0:.1f} s after the last packet")
                else:
                    gone = later[0]
                    if last_seen - t0 < secs - EARLY:
                        notes.append(f"gone too early: last listed {last_seen - t0:.1f} s after the last packet, "
                                     f"want {secs:g} s (-{EARLY:g})")
                    if gone - t0 > secs + LATE:
                        notes.append(f"gone too late: still listed {last_seen - t0:.1f} s after the last packet, "
                                     f"want {secs:g} s (+{LATE:g})")
                    title += f" (listed until {last_seen - t0:.1f} s, gone at {gone - t0:.1f} s)"
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
