#!/usr/bin/env bash
# Network namespace isolation of the control plane: configuration made in one namespace is
# invisible in another, and deleting a namespace (or unloading ipvs_rs) with services and
# destinations configured frees everything (debug kernels: kmemleak scans afterwards).
. "$(dirname "$0")/lib.sh"

check "insmod ipvs_rs.ko" insmod "$KO"
for ns in iso_a iso_b iso_c; do ip netns add $ns; done

check "netns a: add TCP service with two destinations" in_ns iso_a sh -c \
	'ipvsadm -A -t 10.0.0.1:80 -s wrr && ipvsadm -a -t 10.0.0.1:80 -r 192.0.2.1:80 -m -w 2 && ipvsadm -a -t 10.0.0.1:80 -r 192.0.2.2:80 -m'
check "netns b: add fwmark service" in_ns iso_b sh -c 'ipvsadm -A -f 9 -s sh && ipvsadm -a -f 9 -r 192.0.2.9 -g'
equals "netns a sees only its service" "TCP 10.0.0.1:80 wrr" \
	sh -c "ip netns exec iso_a ipvsadm -L -n | grep -E '^(TCP|UDP|FWM)' | xargs"
equals "netns b sees only its service" "FWM 9 sh" \
	sh -c "ip netns exec iso_b ipvsadm -L -n | grep -E '^(TCP|UDP|FWM)' | xargs"
equals "init netns sees no service" "" sh -c "ipvsadm -L -n | grep -E '^(TCP|UDP|FWM)'"
equals "netns c /proc/net/ip_vs has only the header" 3 sh -c "ip netns exec iso_c cat /proc/net/ip_vs | wc -l"
refuse "netns c cannot delete netns a's service" in_ns iso_c ipvsadm -D -t 10.0.0.1:80
equals "netns c has its own timeouts" "Timeout (tcp tcpfin udp): 900 120 300" sh -c \
	"ip netns exec iso_a ipvsadm --set 10 20 30 && ip netns exec iso_c ipvsadm -L --timeout"
check "delete netns a with services configured" ip netns del iso_a
check "netns b unaffected" sh -c "ip netns exec iso_b ipvsadm -L -n | grep -q '^FWM  9 sh'"
check "rmmod ipvs_rs with services configured in netns b" rmmod ipvs_rs
# (Not ipvsadm: finding no IPVS family, it would modprobe the C ip_vs.)
refuse "no /proc/net/ip_vs left after rmmod" in_ns iso_b test -e /proc/net/ip_vs
check "insmod again" insmod "$KO"
equals "netns b starts empty after reload" "" sh -c "ip netns exec iso_b ipvsadm -L -n | grep -E '^(TCP|UDP|FWM)'"
check "rmmod ipvs_rs" rmmod ipvs_rs
ip netns del iso_b
ip netns del iso_c
finish
