#!/usr/bin/env python3
"""Long-lived, byte-checked TCP streams for the sync failover scenarios.

  stream.py server PORT NAME       echo server: sends "ID NAME\\n" on accept, then echoes
  stream.py client HOST PORT N STOP OUT
                                   N connections to HOST:PORT, each sending 64 random bytes
                                   every 200 ms and checking the echo, until the file STOP
                                   exists; then OUT gets one line per connection
                                   ("conn I server NAME ok|fail SENT_BYTES REASON") and a
                                   summary line ("total N ok K"). Exit 0 if every connection
                                   stayed correct.
  stream.py once HOST PORT         one connection: prints the server's NAME

While the client runs, STOP.progress holds "T ALIVE BYTES" (rewritten every 0.5 s): the
connections still running without error and the bytes echoed so far, so that a scenario can
see the streams move again after a failover.
"""
import os
import socket
import sys
import threading
import time

TIMEOUT = 120.0


def serve(port, name):
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind(("::", port))
    ls.listen(256)

    def handle(c):
        try:
            c.sendall(("ID %s\n" % name).encode())
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def read_line(s):
    b = b""
    while not b.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            raise OSError("closed before the server's id")
        b += d
    return b.decode().strip()


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise OSError("closed by the peer")
        b += d
    return b


class Conn(threading.Thread):
    def __init__(self, i, host, port, stop):
        super().__init__(daemon=True)
        self.i, self.host, self.port, self.stop = i, host, port, stop
        self.server, self.ok, self.sent, self.reason = "-", False, 0, "not started"

    def run(self):
        try:
            s = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
            s.settimeout(TIMEOUT)
            self.server = read_line(s).split(" ", 1)[1]
            self.reason = "running"
            while not os.path.exists(self.stop):
                data = os.urandom(64)
                s.sendall(data)
                back = recv_exact(s, len(data))
                if back != data:
                    self.reason = "echo differs after %d bytes" % self.sent
                    return
                self.sent += len(data)
                time.sleep(0.2)
            s.close()
            self.ok, self.reason = True, "-"
        except (OSError, IndexError) as e:
            self.reason = "%s after %d bytes" % (e, self.sent)


def client(host, port, n, stop, out):
    conns = [Conn(i, host, port, stop) for i in range(n)]
    # The first connection alone, until its server answered: its SYN creates the persistence
    # template that the others then find. Concurrent first SYNs on two CPUs may each miss the
    # template and create one (C's ip_vs_sched_persist() does the same: lookup, then insert),
    # which would send the client to two real servers and make the scenarios' expectations
    # (one template, persistence after failover) a matter of timing.
    conns[0].start()
    deadline = time.time() + TIMEOUT
    while conns[0].is_alive() and conns[0].reason == "not started" and time.time() < deadline:
        time.sleep(0.05)
    for c in conns[1:]:
        c.start()
        time.sleep(0.02)
    prog = stop + ".progress"
    while any(c.is_alive() for c in conns):
        alive = sum(1 for c in conns if c.is_alive() and c.reason == "running")
        with open(prog + ".tmp", "w") as f:
            f.write("%.1f %d %d\n" % (time.time(), alive, sum(c.sent for c in conns)))
        os.replace(prog + ".tmp", prog)
        time.sleep(0.5)
    for c in conns:
        c.join()
    ok = sum(1 for c in conns if c.ok)
    with open(out, "w") as f:
        for c in conns:
            f.write("conn %d server %s %s %d %s\n" % (c.i, c.server, "ok" if c.ok else "fail", c.sent, c.reason))
        f.write("total %d ok %d\n" % (n, ok))
    return 0 if ok == n else 1


def once(host, port):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    print(read_line(s).split(" ", 1)[1])
    s.close()
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "server":
        serve(int(argv[2]), argv[3])
        return 0
    if len(argv) == 7 and argv[1] == "client":
        return client(argv[2], int(argv[3]), int(argv[4]), argv[5], argv[6])
    if len(argv) == 4 and argv[1] == "once":
        return once(argv[2], int(argv[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
