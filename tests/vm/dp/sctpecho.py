#!/usr/bin/python3
"""SCTP endpoints for tests/vm/dp/sctp.sh (guest side, stdlib only; the kernel's SCTP).

  sctpecho.py server ID PORT READY [ADDR]
      Listen on PORT (one-to-one SOCK_STREAM sockets), on every address (IPv4 and IPv6) or on
      ADDR alone; answer every message with "ID:<message>" and close when the peer does.
      Touch READY once listening. (Under DR and TUN the server must be bound to the virtual
      address: SCTP answers an INIT from the addresses the endpoint is bound to, and the
      client takes an INIT ACK only from the address it sent the INIT to.)
  sctpecho.py client VIP PORT N
      N associations to VIP:PORT one after the other: connect, send "a<i>", read the answer,
      close (SHUTDOWN). Prints one line per association: "i ok SERVER_ID" or "i fail REASON".
"""
import socket
import sys
import threading

# <linux/in6.h>
IPV6_FREEBIND = 78


def serve_one(conn, sid):
    try:
        while True:
            data = conn.recv(4096)
            if not data:
                break
            conn.sendall(sid.encode() + b":" + data)
    except OSError:
        pass
    finally:
        conn.close()


def server(sid, port, ready, addr=None):
    if addr is None or ":" in addr:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if addr is None else 1)
        if addr is not None:
            # The VIP pool is an AnyIP route on lo, not a configured address: IPv6 binds to
            # it only with IPV6_FREEBIND (IPv4 takes the local route as it is).
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr or "::", port))
    s.listen(64)
    open(ready, "w").close()
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve_one, args=(conn, sid), daemon=True).start()


def client(vip, port, n):
    fam = socket.AF_INET6 if ":" in vip else socket.AF_INET
    for i in range(n):
        s = socket.socket(fam, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
        s.settimeout(10)
        try:
            s.connect((vip, port))
            msg = b"a%d" % i
            s.sendall(msg)
            data = s.recv(4096)
            sid, _, echo = data.partition(b":")
            if echo != msg:
                print("%d fail echo %r" % (i, data), flush=True)
            else:
                print("%d ok %s" % (i, sid.decode()), flush=True)
        except OSError as e:
            print("%d fail %s" % (i, e), flush=True)
        finally:
            s.close()


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "server":
        server(a[0], int(a[1]), a[2], a[3] if len(a) > 3 else None)
    elif cmd == "client":
        client(a[0], int(a[1]), int(a[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
