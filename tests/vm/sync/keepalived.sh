#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/sync/keepalived.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/sync tools/vm.sh --timeout 900 -- tests/vm/sync/keepalived.sh c rs
#
# keepalived's own sync-daemon handling (Debian's keepalived, its libipvs netlink code):
# `lvs_sync_daemon eth0 VI_1 id 9` in director A of common.sh's topology with one VRRP
# instance VI_1 (state MASTER, the VIP). keepalived starts the backup daemon, then on
# becoming VRRP master switches it to the master daemon, and stops it when it exits.
# Checks (TAP "sync-keepalived MOD: ..."): keepalived reaches VRRP MASTER; ipvsadm -L --daemon
# lists the master daemon keepalived started (for rs: as for c); SIGTERM stops keepalived and
# its daemon; no IPVS error in keepalived's log; the module unloads.
# Files: $VM_OUT/sync-keepalived-<MOD>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
KA=$(command -v keepalived || echo /usr/sbin/keepalived)

run_ka() {
	local m=$1 l=ka d=$WORK/sync-keepalived-$1 i pid
	mkdir -p "$d"
	load_ipvs "$m" || { tap_fail "sync-keepalived $m: load $m"; return; }
	sy_down "$l"
	sy_up "$l"
	in_ns "sy-da-$l" ip addr del "$VIP/32" dev eth0
	cat >"$d/keepalived.conf" <<-EOF
		global_defs {
		    router_id sync-$m
		    lvs_sync_daemon eth0 VI_1 id 9
		}
		vrrp_instance VI_1 {
		    state MASTER
		    interface eth0
		    virtual_router_id 51
		    priority 150
		    advert_int 1
		    virtual_ipaddress {
		        $VIP/32 dev eth0
		    }
		}
	EOF
	# ip netns exec itself (not in_ns, a function: backgrounded it is a subshell), so that $!
	# is keepalived's pid.
	ip netns exec "sy-da-$l" "$KA" --vrrp --dont-fork --log-console --log-detail --use-file "$d/keepalived.conf" \
		--pid "$d/ka.pid" --vrrp_pid "$d/vrrp.pid" >"$d/keepalived.log" 2>&1 &
	pid=$!
	for i in $(seq 40); do
		grep -q "Entering MASTER STATE" "$d/keepalived.log" && break
		sleep 0.5
	done
	if grep -q "Entering MASTER STATE" "$d/keepalived.log"; then
		tap_ok "sync-keepalived $m: keepalived reaches VRRP MASTER"
	else
		tap_fail "sync-keepalived $m: keepalived reaches VRRP MASTER" "$(tail -n 10 "$d/keepalived.log")"
	fi
	for i in $(seq 20); do
		in_ns "sy-da-$l" ipvsadm -L --daemon >"$d/daemon.txt" 2>&1
		grep -q "^master sync daemon" "$d/daemon.txt" && break
		sleep 0.5
	done
	if grep -q "^master sync daemon (mcast=eth0, syncid=9" "$d/daemon.txt"; then
		tap_ok "sync-keepalived $m: keepalived started the master sync daemon ($(head -n 1 "$d/daemon.txt"))"
	else
		tap_fail "sync-keepalived $m: keepalived started the master sync daemon" "$(cat "$d/daemon.txt")" \
			"$(grep -i -E 'sync|ipvs' "$d/keepalived.log" | tail -n 10)"
	fi
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	local rc=$?
	in_ns "sy-da-$l" ipvsadm -L --daemon >"$d/daemon-after.txt" 2>&1
	if [ "$rc" = 0 ] && ! [ -s "$d/daemon-after.txt" ]; then
		tap_ok "sync-keepalived $m: SIGTERM stops keepalived and its sync daemon"
	else
		tap_fail "sync-keepalived $m: SIGTERM stops keepalived and its sync daemon" "exit $rc" \
			"$(cat "$d/daemon-after.txt")"
	fi
	if grep -iE "ipvs.*(error|fail)|(error|fail).*ipvs|sync daemon.*(error|fail)" "$d/keepalived.log" >"$d/errors.txt"; then
		tap_fail "sync-keepalived $m: no IPVS error in keepalived's log" "$(head -n 5 "$d/errors.txt")"
	else
		tap_ok "sync-keepalived $m: no IPVS error in keepalived's log"
	fi
	pkill -f "keepalived.*$d/keepalived.conf" 2>/dev/null
	sy_down "$l"
	check "sync-keepalived $m: $m unloads" unload_ipvs "$m"
	publish "sync-keepalived-$m"
}

if ! [ -x "$KA" ]; then
	tap_fail "sync-keepalived: keepalived is installed ($KA)"
	finish
	exit
fi
for m in "$@"; do
	run_ka "$m"
done
if [ -f "$OUT/sync-keepalived-c/daemon.txt" ] && [ -f "$OUT/sync-keepalived-rs/daemon.txt" ]; then
	if cmp -s "$OUT/sync-keepalived-c/daemon.txt" "$OUT/sync-keepalived-rs/daemon.txt"; then
		tap_ok "sync-keepalived: rs lists keepalived's daemon as c does"
	else
		tap_fail "sync-keepalived: rs lists keepalived's daemon as c does" \
			"$(diff "$OUT/sync-keepalived-c/daemon.txt" "$OUT/sync-keepalived-rs/daemon.txt")"
	fi
fi
finish
