#!/usr/bin/env bash
# VM smoke scenario: load ipvs_rs, exercise the three sysctls in two network namespaces,
# check the mutual exclusion with the C ip_vs module in both directions, unload cleanly.
# Runs inside the test VM (tools/vm.sh) as root. KUnit runs when the module is loaded; its
# KTAP is saved to $VM_OUT/kunit-dmesg.txt for tools/ktap.sh.
. "$(dirname "$0")/lib.sh"

vs=net.ipv4.vs
# The production build (plain `make`: no KUnit), which tools/check.sh leaves in $VM_OUT.
PROD_KO=${PROD_KO:-${VM_OUT:-/tmp}/ipvs_rs-prod.ko}
if [ -f "$PROD_KO" ]; then
	dmesg -C
	check "insmod the production ipvs_rs.ko" insmod "$PROD_KO"
	refuse "the production module runs no KUnit suite at insmod" sh -c 'dmesg | grep -qE "KTAP version|# Subtest: ipvs_rs"'
	equals "production module: init netns conn_reuse_mode is 1" 1 sysctl -n $vs.conn_reuse_mode
	check "rmmod the production ipvs_rs" rmmod ipvs_rs
else
	_report "not ok - production module present for the smoke test ($PROD_KO)"
	failures=$((failures + 1))
fi
# Built against another kernel first, then this one (tools/kswitch-check.sh, FLAVOR=debug):
# its bindings must be this kernel's, or the new namespace's sysctls read garbage.
KSWITCH_KO=${KSWITCH_KO:-${VM_OUT:-/tmp}/ipvs_rs-kswitch.ko}
if [ -f "$KSWITCH_KO" ]; then
	check "insmod the module built after a kernel switch" insmod "$KSWITCH_KO"
	ip netns add smoke_k
	equals "kernel switch: a new netns reads its defaults" "1 0 0" \
		sh -c "ip netns exec smoke_k sysctl -n $vs.conn_reuse_mode $vs.expire_nodest_conn $vs.conntrack | xargs"
	ip netns del smoke_k
	check "rmmod the module built after a kernel switch" rmmod ipvs_rs
fi
dmesg -C
check "insmod ipvs_rs.ko" insmod "$KO"
check "the test build ran its KUnit suites at insmod" sh -c 'dmesg | grep -q "# Subtest: ipvs_rs"'

dmesg >"$VM_OUT/kunit-dmesg.txt"
check "ipvs_rs listed in /proc/modules" grep -q '^ipvs_rs ' /proc/modules
check "load message in dmesg" sh -c 'dmesg | grep -q "ipvs_rs: loaded"'

equals "init netns: conn_reuse_mode defaults to 1" 1 sysctl -n $vs.conn_reuse_mode
equals "init netns: expire_nodest_conn defaults to 0" 0 sysctl -n $vs.expire_nodest_conn
equals "init netns: conntrack defaults to 0" 0 sysctl -n $vs.conntrack
equals "sysctl files are mode 0644" "644 644 644" \
	sh -c 'stat -c %a /proc/sys/net/ipv4/vs/conn_reuse_mode /proc/sys/net/ipv4/vs/expire_nodest_conn /proc/sys/net/ipv4/vs/conntrack | xargs'

ip netns add smoke_a
ip netns add smoke_b
equals "new netns gets its own defaults" "1 0 0" \
	sh -c "ip netns exec smoke_a sysctl -n $vs.conn_reuse_mode $vs.expire_nodest_conn $vs.conntrack | xargs"
check "sysctl -w conn_reuse_mode=2 in netns a" in_ns smoke_a sysctl -w $vs.conn_reuse_mode=2
equals "conn_reuse_mode=2 sticks in netns a" 2 in_ns smoke_a sysctl -n $vs.conn_reuse_mode
equals "netns b still has conn_reuse_mode=1" 1 in_ns smoke_b sysctl -n $vs.conn_reuse_mode
equals "init netns still has conn_reuse_mode=1" 1 sysctl -n $vs.conn_reuse_mode
check "expire_nodest_conn=1 and conntrack=1 in netns b" in_ns smoke_b sysctl -w $vs.expire_nodest_conn=1 $vs.conntrack=1
equals "netns b reads them back" "1 1" sh -c "ip netns exec smoke_b sysctl -n $vs.expire_nodest_conn $vs.conntrack | xargs"
equals "netns a unaffected" "0 0" sh -c "ip netns exec smoke_a sysctl -n $vs.expire_nodest_conn $vs.conntrack | xargs"
refuse "non-numeric value is rejected" sysctl -w $vs.conntrack=abc
refuse "value beyond int is rejected" sysctl -w $vs.conn_reuse_mode=2147483648
equals "rejected writes change nothing" "1 0" sh -c "sysctl -n $vs.conn_reuse_mode $vs.conntrack | xargs"
check "hex is parsed like proc_dointvec" sh -c "echo 0x3 > /proc/sys/net/ipv4/vs/conn_reuse_mode && [ \$(cat /proc/sys/net/ipv4/vs/conn_reuse_mode) = 3 ]"
sysctl -qw $vs.conn_reuse_mode=1
check "deleting a netns while loaded" ip netns del smoke_b

refuse "modprobe ip_vs fails while ipvs_rs is loaded" modprobe ip_vs
check "ip_vs refusal explained in dmesg" sh -c 'dmesg | grep -q "refusing to load the C IPVS module ip_vs"'
refuse "ip_vs is not loaded" grep -q '^ip_vs ' /proc/modules

check "rmmod ipvs_rs" rmmod ipvs_rs
refuse "no sysctls left in init netns" test -e /proc/sys/net/ipv4/vs/conn_reuse_mode
refuse "no sysctls left in netns a" in_ns smoke_a test -e /proc/sys/net/ipv4/vs/conn_reuse_mode

check "modprobe ip_vs works once ipvs_rs is gone" modprobe ip_vs
refuse "insmod ipvs_rs fails while ip_vs is loaded" insmod "$KO"
check "ipvs_rs refusal explained in dmesg" sh -c 'dmesg | grep -q "C IPVS module ip_vs is loaded; unload it first"'
equals "C ip_vs keeps its own sysctls" 1 sysctl -n $vs.conn_reuse_mode
check "modprobe -r ip_vs" modprobe -r ip_vs

check "insmod ipvs_rs again (new netns sees state)" insmod "$KO"
equals "netns a got fresh defaults on reload" 1 in_ns smoke_a sysctl -n $vs.conn_reuse_mode
check "rmmod ipvs_rs again" rmmod ipvs_rs
ip netns del smoke_a
finish
