#!/usr/bin/env bash
# Usage: tools/vm.sh [--timeout SEC] [--dmesg FILE] [--kernel DIR] -- CMD [ARGS...]
#
# Boots the test kernel (tools/kernel.sh) in QEMU with virtme-ng, the host's root filesystem
# shared read-only, and runs CMD as root in the guest, from the repository top directory.
# CMD's stdout/stderr are shown live; its stdin is /dev/null; its environment is that of
# virtme-ng's init plus VM_OUT and the host's PATH. Exit status: CMD's, except
#   124  the guest did not finish within --timeout (it is killed),
#   125  the guest ended without reporting CMD's exit status (kernel panic, crash, boot failure),
#   1    CMD succeeded but the kernel log shows a problem (tools/dmesg-check.sh; a failing
#        CMD keeps its own status).
#
# Options (defaults):
#   --timeout SEC  900; covers boot, CMD and power-off.
#   --kernel DIR   the build dir of tools/kernel.sh ($KDIR if set, else kernel_dir from env.sh).
#   --dmesg FILE   where the guest's kernel log is copied: $VM_OUT/dmesg.txt if VM_OUT was
#                  given, else $CACHE_DIR/last-dmesg.txt.
# Environment:
#   VM_OUT  host directory, mounted read-write at the same path in the guest and exported to
#           CMD as VM_OUT (default: a new mktemp directory, printed at the end). vm.sh writes
#           there: dmesg.txt (full `dmesg` after CMD), exit-code, console.txt (kernel console,
#           kept for panics and hangs) and .vm-run.sh (the guest-side wrapper).
#   VM_KVM  auto (default): use KVM if a probe VM runs under it, else TCG; 1: force KVM; 0: TCG.
#   VM_ICOUNT  QEMU -icount options (e.g. shift=0,sleep=off; implies TCG): the guest's clock
#           then counts executed instructions (2^shift ns each), so what the guest times is an
#           instruction count, the same however busy the host is. icount runs the vCPUs in
#           turn on one host thread: a cost measure, not a parallel speed.
#   VM_TBCOUNT  a built tools/qemu-tbcount.c (a QEMU TCG plugin; implies TCG, and VM_ICOUNT
#           should be set so the counts are exact): the guest writes a name into
#           $VM_OUT/tb-trigger and the plugin writes its block counts to $VM_OUT/insns/NAME.tb.
#
# In the guest, /lib/modules/$(uname -r) is $KDIR/modroot/lib/modules/<release> (the kernel's
# `make modules_install`), so `modprobe ip_vs` works; that is virtme-ng's own mechanism: the
# virtme_link_mods= boot option makes its init mount a tmpfs on /lib/modules and symlink the
# release to that directory (vng --skip-modules keeps vng from preparing $KDIR/.virtme_mods).
# shellcheck source=tools/env.sh
. "$(dirname "$0")/env.sh"

usage() { sed -n 's/^# \{0,1\}//; 2p' "$0" >&2; exit 2; }

timeout=900
dmesg_out=
kdir=
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--dmesg) [ $# -ge 2 ] || usage; dmesg_out=$2; shift 2 ;;
	--kernel) [ $# -ge 2 ] || usage; kdir=$2; shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ $# -gt 0 ] || usage
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout wants a number of seconds, got '$timeout'"

kdir=$(realpath -- "${kdir:-$(kernel_dir)}")
[ -f "$kdir/arch/x86/boot/bzImage" ] || die "no kernel image in $kdir (build it: tools/kernel.sh)"
release=$(cat "$kdir/include/config/kernel.release") || die "no kernel.release in $kdir"
moddir="$kdir/modroot/lib/modules/$release"
[ -f "$moddir/modules.dep" ] || die "no installed modules at $moddir (tools/kernel.sh runs modules_install)"

if [ -n "${VM_OUT:-}" ]; then
	mkdir -p -- "$VM_OUT"
	dmesg_out=${dmesg_out:-$VM_OUT/dmesg.txt}
else
	VM_OUT=$(mktemp -d "${TMPDIR:-/tmp}/ipvs-rs-vm.XXXXXX")
	dmesg_out=${dmesg_out:-$CACHE_DIR/last-dmesg.txt}
fi
VM_OUT=$(realpath -- "$VM_OUT")
# vng pastes --rwdir/--qemu-opts/--append into a shell command line unquoted.
for p in "$VM_OUT" "$moddir"; do
	[[ $p =~ ^[[:alnum:]/._+,@%=-]+$ ]] || die "path not usable by virtme-ng (special characters): $p"
done
rm -f -- "$VM_OUT/exit-code" "$VM_OUT/dmesg.txt" "$VM_OUT/console.txt"

# KVM: /dev/kvm may exist while nested KVM cannot run vng's "-cpu host" guest: QEMU aborts
# ("failed to set MSR 0x10a") or the guest hangs silently. Probe by booting the kernel under
# test with that CPU until it panics for want of a root filesystem (a second or two when KVM
# works; -no-reboot and panic=-1 make QEMU exit then).
kvm_works() {
	[ -w /dev/kvm ] || return 1
	local out rc=0
	out=$(mktemp)
	# (A subshell that is not exec'd into, so that a QEMU abort is not reported here.)
	(timeout -k 2 20 qemu-system-x86_64 -machine q35,accel=kvm -cpu host,topoext=on -m 256M \
		-nodefaults -display none -no-reboot -serial "file:$out" \
		-kernel "$kdir/arch/x86/boot/bzImage" -append "console=ttyS0 panic=-1 loglevel=1" \
		|| exit $?) >/dev/null 2>&1 || rc=$?
	grep -q 'Kernel panic' "$out" || rc=1
	rm -f -- "$out"
	[ "$rc" = 0 ]
}
icount=${VM_ICOUNT:-}
[ -z "$icount" ] || [[ $icount =~ ^[[:alnum:]=,]+$ ]] || die "VM_ICOUNT: QEMU -icount options like shift=0,sleep=off (got '$icount')"
tbcount=${VM_TBCOUNT:-}
if [ -n "$tbcount" ]; then
	[ -f "$tbcount" ] || die "VM_TBCOUNT: no plugin at '$tbcount'"
	tbcount=$(realpath -- "$tbcount")
	[[ $tbcount =~ ^[[:alnum:]/._+-]+$ ]] || die "VM_TBCOUNT: a path without spaces or commas (got '$tbcount')"
	mkdir -p -- "$VM_OUT/insns"
	rm -f -- "$VM_OUT/tb-trigger"
fi
case ${VM_KVM:-auto} in
1) [ -z "$icount$tbcount" ] || die "VM_ICOUNT and VM_TBCOUNT need TCG (VM_KVM=1 given)"; accel=kvm ;;
0) accel=tcg ;;
auto) if [ -z "$icount$tbcount" ] && kvm_works; then accel=kvm; else accel=tcg; fi ;;
*) die "VM_KVM must be auto, 0 or 1 (got '$VM_KVM')" ;;
esac

# The guest side: run CMD from the repo top, then save the kernel log and CMD's exit status.
runner="$VM_OUT/.vm-run.sh"
cat > "$runner" <<EOF
# Generated by tools/vm.sh; run by virtme-ng's init as root in the guest.
export VM_OUT=$(printf '%q' "$VM_OUT")
export PATH=$(printf '%q' "$PATH:/usr/local/sbin:/usr/sbin:/sbin")
# virtme-ng-init looks for its script I/O ports (virtio-serial ports virtme.*, wired to vng's
# stdout/stderr) under /dev/virtio-ports, links that only udev creates; without udev it runs
# this script on the serial console, which vng discards. Open the ports by name instead,
# and point /dev/stdout and /dev/stderr at their own ports as virtme-ng-init does (a
# virtio-serial port can be open only once).
if [ ! -e /dev/virtio-ports/virtme.stdout ]; then
	for name in /sys/class/virtio-ports/*/name; do
		dev=/dev/\$(basename "\$(dirname "\$name")")
		case \$(cat "\$name" 2>/dev/null) in
		virtme.stdout) exec >"\$dev" ;;
		virtme.stderr) exec 2>"\$dev" ;;
		virtme.dev_stdout) ln -sf "\$dev" /dev/stdout ;;
		virtme.dev_stderr) ln -sf "\$dev" /dev/stderr ;;
		esac
	done
fi
# Debug kernels: no periodic kmemleak scans (kmemleak scans all of the guest's memory every
# 10 min, a vCPU's time under TCG); the scenarios and the end of the run scan when they check.
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
[ -e /sys/kernel/debug/kmemleak ] && echo scan=off > /sys/kernel/debug/kmemleak
rc=0
cd $(printf '%q' "$IPVS_RS_TOP") && $(printf '%q ' "$@")</dev/null || rc=\$?
# Debug kernels: let kmemleak look for leaks now (its reports land in the kernel log).
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
if [ -e /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak; sleep 2; echo scan > /sys/kernel/debug/kmemleak
fi
dmesg > "\$VM_OUT/dmesg.txt"
echo "\$rc" > "\$VM_OUT/exit-code"
sync
EOF

vng_args=(
	--run "$kdir" --skip-modules --force-9p --disable-microvm
	--cpus 2 --memory 2G
	--rwdir "$VM_OUT"
	# Kernel console (everything but debug messages) on a virtio console (hvc0) into
	# console.txt: the kernel log survives a panic or hang. vng's ttyS0 goes to /dev/null.
	--qemu-opts="-device virtio-serial -chardev file,id=klog,path=$VM_OUT/console.txt -device virtconsole,chardev=klog${icount:+ -icount $icount}${tbcount:+ -plugin $tbcount,trigger=$VM_OUT/tb-trigger,out=$VM_OUT/insns}"
	# The 9p root with cache=loose (vng's rootflags plus the cache): the guest only reads the
	# host's tree, which does not change during a run (results go to the --rwdir $VM_OUT, a
	# mount of its own, uncached). Without it every exec and every Python import walks 9p:
	# measured under TCG, `python3 -c 1` 2.3 s -> 0.75 s, the boot to the runner 51 s -> 28 s.
	--append "root=/dev/root"
	--append "rootflags=version=9p2000.L,trans=virtio,access=any,msize=524288,cache=loose"
	--append "virtme_link_mods=$moddir"
	--append "console=hvc0" --append "loglevel=7" --append "log_buf_len=4M"
	--exec "bash $runner"
)
[ "$accel" = kvm ] || vng_args+=(--disable-kvm)

log "booting $release ($accel${icount:+ icount $icount}, 2 cpus, 2G, timeout ${timeout}s), VM_OUT=$VM_OUT"
start=$(date +%s)
# QEMU reopens /proc/self/fd/1 and 2 with O_TRUNC (and makes them non-blocking), which
# would clobber a log file we write to: give it pipes, copied to our stdout/stderr by cat.
exec {out}> >(cat)
out_pid=$!
exec {err}> >(cat >&2)
err_pid=$!
# timeout(1) runs vng in a process group of its own (not --foreground) so that on timeout it
# kills all of vng, virtme-run and qemu; Ctrl-C does not reach that group, hence the trap.
timeout -k 10 "$timeout" vng "${vng_args[@]}" </dev/null >&"$out" 2>&"$err" {out}>&- {err}>&- &
vm_pid=$!
trap 'kill -TERM "$vm_pid" 2>/dev/null; wait "$vm_pid" || true; log "interrupted"; exit 130' INT TERM HUP
vng_rc=0
wait "$vm_pid" || vng_rc=$?
trap - INT TERM HUP
exec {out}>&- {err}>&-
wait "$out_pid" "$err_pid"
elapsed=$(( $(date +%s) - start ))

klog="$VM_OUT/dmesg.txt"
if [ ! -s "$klog" ]; then
	klog="$VM_OUT/console.txt"
	log "the guest saved no dmesg; using the kernel console log instead"
fi
if [ "$(realpath -m -- "$dmesg_out")" != "$klog" ] && [ -f "$klog" ]; then
	mkdir -p -- "$(dirname -- "$dmesg_out")"
	cp -- "$klog" "$dmesg_out"
fi

show_klog_tail() {
	if [ -s "$klog" ]; then
		log "last kernel messages ($klog):"
		tail -n 40 "$klog" >&2
	fi
}
# vng passes CMD's status through, so 124/137 alone do not prove that timeout(1) fired.
timed_out=0
if { [ "$vng_rc" = 124 ] || [ "$vng_rc" = 137 ]; } && [ "$elapsed" -ge "$timeout" ]; then timed_out=1; fi
if rc=$(cat "$VM_OUT/exit-code" 2>/dev/null) && [[ $rc =~ ^[0-9]+$ ]]; then
	if [ "$timed_out" = 1 ]; then
		log "FAIL: the command exited $rc but the guest then hung and was killed after ${timeout}s"
		show_klog_tail
		rc=124
	fi
elif [ "$timed_out" = 1 ]; then
	log "FAIL: the guest did not finish within ${timeout}s and was killed"
	show_klog_tail
	rc=124
else
	log "FAIL: the guest ended without reporting the command's exit status (vng exited $vng_rc)"
	show_klog_tail
	rc=125
fi
# The console log is checked too: it also holds what a long run may have pushed out of the
# dmesg ring buffer (the first log with a problem is reported).
for f in "$VM_OUT/dmesg.txt" "$VM_OUT/console.txt"; do
	if [ -s "$f" ] && ! "$IPVS_RS_TOP/tools/dmesg-check.sh" "$f" >&2; then
		log "FAIL: the kernel log shows a problem (full log: $f)"
		[ "$rc" != 0 ] || rc=1
		break
	fi
done
log "exit $rc after ${elapsed}s; kernel log: $dmesg_out; VM_OUT=$VM_OUT"
exit "$rc"
