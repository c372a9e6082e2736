#!/bin/sh
# Build the C reference: the unmodified Linux IPVS schedulers, compiled for user space.
#
#   KSRC=/path/to/linux-6.12 ./build.sh [outdir]
#
# Produces <outdir>/driver (random differential traces, see driver.c) and <outdir>/query
# (the fixed-client golden values in sh.rs and mh.rs). Needs a C compiler and the kernel
# source tree (not a build tree): only .c/.h files are read.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
KSRC=${KSRC:-/root/.cache/ipvs-rs/src/linux-6.12.117-1~deb12u1}
out=${1:-/tmp/ipvs-cref}
CC=${CC:-cc}
[ -f "$KSRC/net/netfilter/ipvs/ip_vs_mh.c" ] || { echo "KSRC=$KSRC is not a kernel source tree" >&2; exit 1; }
mkdir -p "$out/shim/linux" "$out/shim/net" "$out/shim/asm"
cp "$here/shim.h" "$out/shim/shim.h"
# Every kernel header the sources include resolves to the shim...
for h in linux/module.h linux/kernel.h linux/slab.h linux/ip.h linux/skbuff.h linux/net.h \
	linux/gcd.h linux/bitops.h net/tcp.h linux/udp.h linux/sctp.h linux/types.h \
	linux/unaligned.h linux/compiler.h asm/types.h net/ip_vs.h \
	linux/jiffies.h linux/fs.h linux/sysctl.h linux/random.h linux/list.h net/net_namespace.h; do
	echo '#include "shim.h"' > "$out/shim/$h"
done
# ...except these two, which are the kernel's own.
printf '#include "shim.h"\n#include "%s/include/linux/siphash.h"\n' "$KSRC" > "$out/shim/linux/siphash.h"
printf '#include "%s/include/linux/hash.h"\n' "$KSRC" > "$out/shim/linux/hash.h"
cd "$out"
objs=
tu() { # name, source, extra defines/accessors
	printf '%s\n#include "%s"\n%s\n' "$3" "$2" "$4" > "tu_$1.c"
	$CC -O1 -w -Ishim -c "tu_$1.c" -o "tu_$1.o"
	objs="$objs tu_$1.o"
}
for s in rr wrr lc wlc sed nq fo ovf twos; do
	tu $s "$KSRC/net/netfilter/ipvs/ip_vs_$s.c" "" \
		"struct ip_vs_scheduler *cref_$s(void) { return &ip_vs_${s}_scheduler; }"
done
for b in 4 8 10; do
	tu sh_b$b "$KSRC/net/netfilter/ipvs/ip_vs_sh.c" "#define CONFIG_IP_VS_SH_TAB_BITS $b" "
struct ip_vs_scheduler *cref_sh_b$b(void) { return &ip_vs_sh_scheduler; }
int cref_sh_b${b}_size(void) { return IP_VS_SH_TAB_SIZE; }
struct ip_vs_dest *cref_sh_b${b}_slot(struct ip_vs_service *svc, int i)
{ return ((struct ip_vs_sh_state *)svc->sched_data)->buckets[i].dest; }"
done
for x in 8 12 16; do
	tu mh_i$x "$KSRC/net/netfilter/ipvs/ip_vs_mh.c" "#define CONFIG_IP_VS_MH_TAB_INDEX $x" "
struct ip_vs_scheduler *cref_mh_i$x(void) { return &ip_vs_mh_scheduler; }
int cref_mh_i${x}_size(void) { return IP_VS_MH_TAB_SIZE; }
struct ip_vs_dest *cref_mh_i${x}_slot(struct ip_vs_service *svc, int i)
{ return ((struct ip_vs_mh_state *)svc->sched_data)->lookup[i].dest; }"
done
for b in 4 8; do
	tu dh_b$b "$KSRC/net/netfilter/ipvs/ip_vs_dh.c" "#define CONFIG_IP_VS_DH_TAB_BITS $b" "
struct ip_vs_scheduler *cref_dh_b$b(void) { return &ip_vs_dh_scheduler; }
int cref_dh_b${b}_size(void) { return IP_VS_DH_TAB_SIZE; }
struct ip_vs_dest *cref_dh_b${b}_slot(struct ip_vs_service *svc, int i)
{ return ((struct ip_vs_dh_state *)svc->sched_data)->buckets[i].dest; }"
done
# lblc and lblcr: the state dump walks the table in bucket and list order and hashes every
# entry with cref_fnv() (driver.c), printing one line (see driver.c, 'L').
for b in 2 10; do
	tu lblc_b$b "$KSRC/net/netfilter/ipvs/ip_vs_lblc.c" "#define CONFIG_IP_VS_LBLC_TAB_BITS $b" "
#include <stdio.h>
u64 cref_fnv(u64 h, const void *p, int n);
struct ip_vs_scheduler *cref_lblc_b$b(void) { return &ip_vs_lblc_scheduler; }
void cref_lblc_b${b}_dump(struct ip_vs_service *svc)
{
	struct ip_vs_lblc_table *tbl = svc->sched_data;
	struct ip_vs_lblc_entry *en;
	u64 h = 0xcbf29ce484222325ULL;
	int n = 0;

	for (u32 j = 0; j < IP_VS_LBLC_TAB_SIZE; j++)
		hlist_for_each_entry(en, &tbl->bucket[j], list) {
			u32 id = en->dest->id;
			u64 lu = en->lastuse;
			n++;
			h = cref_fnv(h, &j, 4);
			h = cref_fnv(h, en->addr.bytes, en->af == AF_INET6 ? 16 : 4);
			h = cref_fnv(h, &id, 4);
			h = cref_fnv(h, &lu, 8);
		}
	printf(\"L %d %d %d %d %016llx\\n\", atomic_read(&tbl->entries), n, tbl->rover,
	       tbl->counter, (unsigned long long)h);
}"
	tu lblcr_b$b "$KSRC/net/netfilter/ipvs/ip_vs_lblcr.c" "#define CONFIG_IP_VS_LBLCR_TAB_BITS $b" "
#include <stdio.h>
u64 cref_fnv(u64 h, const void *p, int n);
struct ip_vs_scheduler *cref_lblcr_b$b(void) { return &ip_vs_lblcr_scheduler; }
void cref_lblcr_b${b}_dump(struct ip_vs_service *svc)
{
	struct ip_vs_lblcr_table *tbl = svc->sched_data;
	struct ip_vs_lblcr_entry *en;
	struct ip_vs_dest_set_elem *e;
	u64 h = 0xcbf29ce484222325ULL;
	int n = 0;

	for (u32 j = 0; j < IP_VS_LBLCR_TAB_SIZE; j++)
		hlist_for_each_entry(en, &tbl->bucket[j], list) {
			u64 lu = en->lastuse, lm = en->set.lastmod;
			u32 sz = atomic_read(&en->set.size);
			n++;
			h = cref_fnv(h, &j, 4);
			h = cref_fnv(h, en->addr.bytes, en->af == AF_INET6 ? 16 : 4);
			h = cref_fnv(h, &lu, 8);
			h = cref_fnv(h, &sz, 4);
			h = cref_fnv(h, &lm, 8);
			list_for_each_entry(e, &en->set.list, list) {
				u32 id = e->dest->id;
				h = cref_fnv(h, &id, 4);
			}
		}
	printf(\"L %d %d %d %d %016llx\\n\", atomic_read(&tbl->entries), n, tbl->rover,
	       tbl->counter, (unsigned long long)h);
}"
done
tu siphash "$KSRC/lib/siphash.c" "" ""
$CC -O1 -w -Ishim "$here/driver.c" $objs -o driver
# query.c needs only these (the others want the driver's jiffies, timers and RNG).
$CC -O1 -w -Ishim "$here/query.c" tu_sh_b8.o tu_mh_i12.o tu_siphash.o -o query
echo "built $out/driver and $out/query"
