#!/usr/bin/python3
"""Time of adding one service over generic netlink, without ipvsadm's process start.

Usage: nladd.py ADDR:PORT [COUNT]   (run in the director's namespace; default COUNT 5)

COUNT times: IPVS_CMD_NEW_SERVICE of TCP ADDR:PORT (rr), timed from the send to its ack (one
request and nlclient.py's sentinel round trip per exchange), then IPVS_CMD_DEL_SERVICE of it
(not timed). Prints "add_us=T1,T2,..." and exits 0 iff every request was acknowledged with 0.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ctl"))
import nlclient as nl  # noqa: E402


def main():
    addr, port = sys.argv[1].rsplit(":", 1)
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    fam, _ = nl.resolve_family("IPVS")
    if fam is None:
        sys.exit("nladd: no IPVS generic netlink family")
    sid = nl.svc_id(addr, int(port))
    times = []
    for _ in range(count):
        new = nl.req(nl.CMD_NEW_SERVICE, nl.svc(*sid, *nl.svc_full("rr")))
        t0 = time.perf_counter()
        res = nl.exchange([new], fam)
        times.append(int((time.perf_counter() - t0) * 1e6))
        if res.errnos != ["0"]:
            sys.exit("nladd: NEW_SERVICE answered %s %s" % (res.errnos, res.extack))
        res = nl.exchange([nl.req(nl.CMD_DEL_SERVICE, nl.svc(*sid))], fam)
        if res.errnos != ["0"]:
            sys.exit("nladd: DEL_SERVICE answered %s %s" % (res.errnos, res.extack))
    print("add_us=" + ",".join(map(str, times)))


if __name__ == "__main__":
    main()
