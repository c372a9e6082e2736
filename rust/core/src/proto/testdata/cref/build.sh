#!/bin/sh
# Build the C reference: the unmodified Linux IPVS TCP, UDP and SCTP protocol handlers (and
# the timeout setter/getter of ip_vs_ctl.c, and include/net/sctp/checksum.h), compiled for
# user space.
#
#   KSRC=/path/to/linux-6.12 ./build.sh [outdir]
#
# Produces <outdir>/driver and <outdir>/driver_sctp, which print everything the Rust side
# checks (see driver.c / driver_sctp.c and ../../c_ref_tests.rs / ../../c_ref_sctp_tests.rs). Needs a C compiler, awk, and the kernel source tree (not a build
# tree): only .c/.h files are read, and none is modified.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
KSRC=${KSRC:-/root/.cache/ipvs-rs/src/linux-6.12.117-1~deb12u1}
out=${1:-/tmp/ipvs-proto-cref}
CC=${CC:-cc}
ipvs=$KSRC/net/netfilter/ipvs
[ -f "$ipvs/ip_vs_proto_tcp.c" ] || { echo "KSRC=$KSRC is not a kernel source tree" >&2; exit 1; }
mkdir -p "$out/shim/linux" "$out/shim/net"
cp "$here/shim.h" "$out/shim/shim.h"
# Every kernel header the sources include resolves to the shim...
mkdir -p "$out/shim/net/sctp"
for h in linux/kernel.h linux/ip.h linux/tcp.h linux/udp.h linux/in.h linux/types.h \
	linux/netfilter.h linux/netfilter_ipv4.h linux/indirect_call_wrapper.h \
	linux/sctp.h linux/crc32c.h linux/crc32.h \
	net/ip.h net/tcp.h net/ip6_checksum.h net/ip_vs.h; do
	echo '#include "shim.h"' > "$out/shim/$h"
done
# ...except the SCTP checksum, which is the kernel's header as is (over the shim's skb and
# crc32c()),
printf '#include "%s/include/net/sctp/checksum.h"\n' "$KSRC" > "$out/shim/net/sctp/checksum.h"
# the SCTP header structs and chunk types, cut out of include/linux/sctp.h,
awk '/^struct sctphdr \{/ || /^struct sctp_chunkhdr \{/ || /^enum sctp_cid \{/ { p = 1 }
     p { print } p && /^\};/ { p = 0 }' "$KSRC/include/linux/sctp.h" > "$out/shim/sctp_defs.h"
[ "$(grep -c -e '^struct sctphdr {' -e '^struct sctp_chunkhdr {' -e '^enum sctp_cid {' "$out/shim/sctp_defs.h")" = 3 ] ||
	{ echo "sctp.h extraction failed" >&2; exit 1; }
# ...which takes the IPVS constants from the kernel: the uapi header as is,
printf '#include "%s/include/uapi/linux/ip_vs.h"\n' "$KSRC" > "$out/shim/uapi_ip_vs.h"
# and the state and direction enums cut out of include/net/ip_vs.h.
awk '/^enum (ip_vs_sctp_states )?\{/ { buf = $0; inb = 1; next }
     inb { buf = buf "\n" $0
           if ($0 ~ /^\};/) { if (buf ~ /IP_VS_TCP_S_NONE|IP_VS_UDP_S_NORMAL|IP_VS_SCTP_S_NONE|IP_VS_DIR_INPUT =/) print buf; inb = 0 } }' \
	"$KSRC/include/net/ip_vs.h" > "$out/shim/ip_vs_enums.h"
[ "$(grep -c '^enum {' "$out/shim/ip_vs_enums.h")" = 3 ] && grep -q IP_VS_SCTP_S_CLOSED "$out/shim/ip_vs_enums.h" || { echo "enum extraction failed" >&2; exit 1; }
# ip_vs_set_timeout() and __ip_vs_get_timeouts(), cut out of ip_vs_ctl.c unchanged.
{
	echo '#include "shim.h"'
	awk '/^static int ip_vs_set_timeout\(/ { p = 1 } p { print } p && /^}/ { p = 0 }' "$ipvs/ip_vs_ctl.c"
	awk '/^__ip_vs_get_timeouts\(/ { p = 1; print prev } p { print } p && /^}/ { p = 0 } { prev = $0 }' "$ipvs/ip_vs_ctl.c"
	cat <<'C'
int cref_set_timeout(struct netns_ipvs *ipvs, struct ip_vs_timeout_user *u) { return ip_vs_set_timeout(ipvs, u); }
void cref_get_timeouts(struct netns_ipvs *ipvs, struct ip_vs_timeout_user *u) { __ip_vs_get_timeouts(ipvs, u); }
C
} > "$out/tu_ctl.c"
grep -q 'pd->timeout_table\[IP_VS_TCP_S_FIN_WAIT\]' "$out/tu_ctl.c" || { echo "ctl extraction failed" >&2; exit 1; }

cat > "$out/tu_tcp.c" <<C
#include "$ipvs/ip_vs_proto_tcp.c"
void cref_tcp_transition(struct ip_vs_conn *cp, int dir, const struct sk_buff *skb, struct ip_vs_proto_data *pd)
{ tcp_state_transition(cp, dir, skb, pd, 0); }
const char *cref_tcp_state_name(int s) { return tcp_state_name(s); }
int cref_tcp_state_active(int s) { return tcp_state_active(s); }
int cref_tcp_default_timeout(int s) { return tcp_timeouts[s]; }
int cref_tcp_init(struct netns_ipvs *ipvs, struct ip_vs_proto_data *pd) { pd->pp = &ip_vs_protocol_tcp; return __ip_vs_tcp_init(ipvs, pd); }
void cref_tcp_timeout_change(struct ip_vs_proto_data *pd, int flags) { tcp_timeout_change(pd, flags); }
int cref_tcp_table(struct ip_vs_proto_data *pd)
{ return pd->tcp_state_table == tcp_states ? 'N' : pd->tcp_state_table == tcp_states_dos ? 'S' : '?'; }
int cref_tcp_conn_schedule(struct netns_ipvs *ipvs, struct sk_buff *skb, struct ip_vs_proto_data *pd,
			   int *verdict, struct ip_vs_conn **cpp, struct ip_vs_iphdr *iph)
{ return tcp_conn_schedule(ipvs, 2, skb, pd, verdict, cpp, iph); }
int cref_tcp_num_states(void) { return ip_vs_protocol_tcp.num_states; }
C
cat > "$out/tu_udp.c" <<C
#include "$ipvs/ip_vs_proto_udp.c"
void cref_udp_transition(struct ip_vs_conn *cp, int dir, const struct sk_buff *skb, struct ip_vs_proto_data *pd)
{ udp_state_transition(cp, dir, skb, pd, 0); }
const char *cref_udp_state_name(int s) { return udp_state_name(s); }
int cref_udp_default_timeout(int s) { return udp_timeouts[s]; }
int cref_udp_init(struct netns_ipvs *ipvs, struct ip_vs_proto_data *pd) { pd->pp = &ip_vs_protocol_udp; return __udp_init(ipvs, pd); }
int cref_udp_num_states(void) { return ip_vs_protocol_udp.num_states; }
C
cat > "$out/tu_sctp.c" <<C
#include "$ipvs/ip_vs_proto_sctp.c"
void cref_sctp_transition(struct ip_vs_conn *cp, int dir, const struct sk_buff *skb, struct ip_vs_proto_data *pd,
			  unsigned int iph_len)
{ sctp_state_transition(cp, dir, skb, pd, iph_len); }
const char *cref_sctp_state_name(int s) { return sctp_state_name(s); }
int cref_sctp_default_timeout(int s) { return sctp_timeouts[s]; }
int cref_sctp_init(struct netns_ipvs *ipvs, struct ip_vs_proto_data *pd) { pd->pp = &ip_vs_protocol_sctp; return __ip_vs_sctp_init(ipvs, pd); }
int cref_sctp_num_states(void) { return ip_vs_protocol_sctp.num_states; }
int cref_sctp_has_timeout_change(void) { return ip_vs_protocol_sctp.timeout_change != NULL; }
int cref_sctp_conn_schedule(struct netns_ipvs *ipvs, struct sk_buff *skb, struct ip_vs_proto_data *pd,
			    int *verdict, struct ip_vs_conn **cpp, struct ip_vs_iphdr *iph)
{ return sctp_conn_schedule(ipvs, 2, skb, pd, verdict, cpp, iph); }
int cref_sctp_snat(struct sk_buff *skb, struct ip_vs_conn *cp, struct ip_vs_iphdr *iph)
{ return sctp_snat_handler(skb, &ip_vs_protocol_sctp, cp, iph); }
int cref_sctp_dnat(struct sk_buff *skb, struct ip_vs_conn *cp, struct ip_vs_iphdr *iph)
{ return sctp_dnat_handler(skb, &ip_vs_protocol_sctp, cp, iph); }
u32 cref_sctp_compute_cksum(const struct sk_buff *skb, unsigned int off) { return sctp_compute_cksum(skb, off); }
C
cd "$out"
for t in tcp udp ctl sctp; do
	$CC -O1 -w -Ishim -c "tu_$t.c" -o "tu_$t.o"
done
$CC -O1 -w -Ishim "$here/driver.c" tu_tcp.o tu_udp.o tu_ctl.o -o driver
$CC -O1 -w -Ishim "$here/driver_sctp.c" tu_sctp.o -o driver_sctp
echo "built $out/driver $out/driver_sctp"
