#!/bin/sh
# Build the C reference for the sync codec: functions cut unmodified out of Linux 6.12's
# net/netfilter/ipvs/ip_vs_sync.c (and ip_vs_conn_fill_param() out of include/net/ip_vs.h),
# compiled for user space against shim.h.
#
#   KSRC=/path/to/linux-6.12 ./build.sh [outdir]
#
# Produces <outdir>/driver, which prints what ../../c_ref_tests.rs replays (see driver.c).
# Needs a C compiler, awk and the kernel source tree; no file of it is modified.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
KSRC=${KSRC:-/root/.cache/ipvs-rs/src/linux-6.12.117-1~deb12u1}
out=${1:-/tmp/ipvs-sync-cref}
CC=${CC:-cc}
sync_c=$KSRC/net/netfilter/ipvs/ip_vs_sync.c
[ -f "$sync_c" ] || { echo "KSRC=$KSRC is not a kernel source tree" >&2; exit 1; }
mkdir -p "$out/shim/linux"
cp "$here/shim.h" "$out/shim/shim.h"
# The uapi header's <linux/types.h> resolves to the shim's types.
echo '#include "shim.h"' > "$out/shim/linux/types.h"
printf '#include "%s/include/uapi/linux/ip_vs.h"\n' "$KSRC" > "$out/shim/uapi_ip_vs.h"
# The state enums and the template states of include/net/ip_vs.h.
{
	awk '/^enum (ip_vs_sctp_states )?\{/ { buf = $0; inb = 1; next }
	     inb { buf = buf "\n" $0
	           if ($0 ~ /^\};/) { if (buf ~ /IP_VS_TCP_S_NONE|IP_VS_UDP_S_NORMAL|IP_VS_SCTP_S_NONE/) print buf; inb = 0 } }' \
		"$KSRC/include/net/ip_vs.h"
	grep '^#define IP_VS_CTPL_S_' "$KSRC/include/net/ip_vs.h"
} > "$out/shim/ip_vs_enums.h"
grep -q IP_VS_SCTP_S_LAST "$out/shim/ip_vs_enums.h" && grep -q IP_VS_CTPL_S_LAST "$out/shim/ip_vs_enums.h" ||
	{ echo "ip_vs.h extraction failed" >&2; exit 1; }

# cut FILE NAME: the function NAME (its definition starts on the line naming it, or its
# return type is alone on the line before), up to its closing brace.
cut() {
	awk -v name="$2" '
		!p && ($0 ~ "^" name "\\(" || $0 ~ "^[a-z_][a-z_ 0-9]*[ *]" name "\\(") {
			p = 1; if ($0 ~ "^" name "\\(") print prev
		}
		p { print } p && /^}/ { exit }
		{ prev = $0 }' "$1"
}
{
	echo '#include "shim.h"'
	# The wire structs and constants: the top of the file, up to sb_dequeue().
	awk '/^#define IP_VS_SYNC_GROUP/ { p = 1 }
	     /^sb_dequeue\(/ { exit }
	     p { if (held != "") print held; held = $0 }' "$sync_c"
	cut "$KSRC/include/net/ip_vs.h" ip_vs_conn_fill_param
	for f in ip_vs_sync_buff_create ip_vs_sync_buff_create_v0 in_persistence \
		ip_vs_sync_conn_needed ip_vs_sync_conn_v0 ip_vs_sync_conn ip_vs_conn_fill_param_sync \
		ip_vs_proc_conn ip_vs_sync_validate_flags ip_vs_process_message_v0 \
		ip_vs_proc_seqopt ip_vs_proc_str ip_vs_proc_sync_conn ip_vs_process_message; do
		cut "$sync_c" $f
	done
	cat <<'C'
int cref_sync_conn_needed(struct netns_ipvs *ipvs, struct ip_vs_conn *cp, int pkts)
{ return ip_vs_sync_conn_needed(ipvs, cp, pkts); }
void cref_process_message(struct netns_ipvs *ipvs, __u8 *buffer, size_t buflen)
{ ip_vs_process_message(ipvs, buffer, buflen); }
C
} > "$out/tu_sync.c"
for f in ip_vs_sync_buff_create_v0 ip_vs_sync_conn_needed ip_vs_proc_conn ip_vs_process_message_v0 \
	ip_vs_proc_sync_conn ip_vs_conn_fill_param_sync 'struct ip_vs_sync_v6 {' 'struct ip_vs_sync_mesg {'; do
	grep -q "^[a-z].*$f\|^$f" "$out/tu_sync.c" || { echo "extraction of $f failed" >&2; exit 1; }
done
cd "$out"
$CC -O1 -w -Ishim -c tu_sync.c -o tu_sync.o
$CC -O1 -w -Ishim "$here/driver.c" tu_sync.o -o driver
echo "built $out/driver"
