#!/usr/bin/env bash
# Guest side of `make demo`: load ipvs_rs and show, step by step, what it does.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
KO=$TOP/ipvs_rs.ko
vs=net.ipv4.vs
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "== ipvs-rs demo on $(uname -sr) =="
dmesg -C
step insmod "$KO" || exit 1
step sh -c "grep '^ipvs_rs ' /proc/modules"
step sh -c "dmesg | grep -E 'ipvs_rs|^ *# (Subtest|ipvs)|ok [0-9]+ ipvs_rs' | sed 's/^\[[ 0-9.]*\] //'"
step sysctl $vs.conn_reuse_mode $vs.expire_nodest_conn $vs.conntrack
step ip netns add demo
step ip netns exec demo sysctl -w $vs.conn_reuse_mode=2
step ip netns exec demo sysctl $vs.conn_reuse_mode
step sysctl $vs.conn_reuse_mode
echo "# each network namespace has its own settings, as with C IPVS"
step ipvsadm -A -t 10.0.0.1:80 -s wrr
step ipvsadm -a -t 10.0.0.1:80 -r 192.0.2.1:80 -m -w 3
step ipvsadm -a -t 10.0.0.1:80 -r 192.0.2.2:80 -m -w 1
step ipvsadm -L -n
step cat /proc/net/ip_vs
echo "# ipvsadm drives ipvs_rs through the same IPVS generic netlink family as the C module"
step ipvsadm -C
step modprobe ip_vs
echo "# refused: the C IPVS cannot load while ipvs_rs owns the IPVS names"
step sh -c "dmesg | grep 'refusing to load' | sed 's/^\[[ 0-9.]*\] //'"
step rmmod ipvs_rs
step ls /proc/sys/net/ipv4/vs
step ip netns del demo
echo
echo "== done: ipvs_rs loaded, served its sysctls per netns and ipvsadm, excluded C ip_vs, unloaded cleanly =="
