#!/usr/bin/env bash
# Guest side of `make demo`: the port-reuse scenario (tests/vm/reuse/run.sh) on its headline
# cells, C ip_vs and ipvs_rs in this boot, printed side by side.
# Usage: tests/vm/demo.sh [MOD...]   (default: c rs; REUSE_CELLS picks the cells, default demo)
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -gt 0 ] || set -- c rs

cat <<EOF
== ipvs-rs demo on $(uname -sr): port reuse under short connections ==

A kube-proxy-like topology in network namespaces: a client, a director with the VIP on a dummy
device, an IPVS NAT service (rr) with nft MASQUERADE towards three real servers, each a TCP
server. The client makes short connections from 8 source ports, 4 at a time, so every port is
reused while IPVS and conntrack still hold the previous connection. After a first phase of
connections destination 3 gets weight 0 (what kube-proxy does to a terminating pod), after a
second one it is deleted, and a third phase runs without it. A cell is
m<conn_reuse_mode>-e<expire_nodest_conn>-ct<conntrack>-<fin|rst>[-old1]; each runs against: $*.
The headline cells (REUSE_CELLS=${REUSE_CELLS:-demo}):

  m1-e0-ct1-fin       conn_reuse_mode=1, conntrack=1, servers close with FIN: no stalls
  m1-e0-ct1-rst       the same, servers close with RST: C drops the first SYN of every reused
                      port (its old conntrack is still confirmed), the client waits 1 s
  m1-e0-ct1-rst-old1  ipvs_rs with net.ipv4.vs.conn_reuse_old_conntrack=1: no drop, no stall
  m0-e0-ct1-fin       conn_reuse_mode=0: no stalls, but the weight-0 server keeps getting new
                      connections, never drains, and its ports are blackholed once deleted
EOF
echo
REUSE_CELLS=${REUSE_CELLS:-demo} "$TOP/tests/vm/reuse/run.sh" "$@"
