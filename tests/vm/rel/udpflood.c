// SPDX-License-Identifier: GPL-2.0
/*
 * udpflood: sends N one-datagram UDP "flows" to VIP:PORT from spoofed sources, through a raw
 * socket (IP_HDRINCL), so that a load balancer creates N connection entries without N client
 * sockets. Compiled in the guest (cc -O2), run inside the test's client namespace only.
 *
 *   udpflood -d VIP -p PORT -n N [-b BASE] [-P PORTS] [-r PPS] [-T SECS]
 *
 * Flow i comes from BASE + i / PORTS, port 1024 + i % PORTS (BASE default 198.18.0.1: the
 * benchmarking range, 198.18.0.0/15, which the test topology blackholes), so N may be up to
 * 2^17 * PORTS. -r paces to about PPS datagrams per second (0: as fast as sendto() goes).
 * -T stops after SECS seconds at the latest. Prints "sent N". Exit 0 iff every datagram was handed to the kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint16_t csum(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;

	while (len > 1) {
		sum += (uint32_t)b[0] << 8 | b[1];
		b += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)b[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int main(int argc, char **argv)
{
	struct in_addr vip = { 0 }, base;
	unsigned long n = 0, ports = 50000, pps = 0, secs = 0, i, sent = 0;
	int port = 8080, o, fd, one = 1;
	struct {
		struct iphdr ip;
		struct udphdr udp;
		char data[16];
	} __attribute__((packed)) pkt;
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct timespec t0, t;

	inet_pton(AF_INET, "198.18.0.1", &base);
	while ((o = getopt(argc, argv, "d:p:n:b:P:r:T:")) != -1) {
		switch (o) {
		case 'd': if (inet_pton(AF_INET, optarg, &vip) != 1) return 2; break;
		case 'p': port = atoi(optarg); break;
		case 'n': n = strtoul(optarg, NULL, 0); break;
		case 'b': if (inet_pton(AF_INET, optarg, &base) != 1) return 2; break;
		case 'P': ports = strtoul(optarg, NULL, 0); break;
		case 'r': pps = strtoul(optarg, NULL, 0); break;
		case 'T': secs = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: udpflood -d VIP -p PORT -n N [-b BASE] [-P PORTS] [-r PPS] [-T SECS]\n");
			return 2;
		}
	}
	if (!vip.s_addr || !n || !ports || ports > 64000) {
		fprintf(stderr, "udpflood: need -d VIP and -n N (PORTS 1..64000)\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) < 0) {
		perror("udpflood: raw socket");
		return 2;
	}
	to.sin_addr = vip;
	memset(&pkt, 0, sizeof(pkt));
	memcpy(pkt.data, "udpflood-entry!", 16);
	pkt.ip.version = 4;
	pkt.ip.ihl = 5;
	pkt.ip.ttl = 64;
	pkt.ip.protocol = IPPROTO_UDP;
	pkt.ip.tot_len = htons(sizeof(pkt));
	pkt.ip.daddr = vip.s_addr;
	pkt.udp.dest = htons(port);
	pkt.udp.len = htons(sizeof(pkt) - sizeof(pkt.ip));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		uint32_t src = ntohl(base.s_addr) + i / ports;
		uint8_t pseudo[12];
		uint32_t sum = 0;
		size_t k;

		pkt.ip.saddr = htonl(src);
		pkt.ip.id = htons(i);
		pkt.ip.check = 0;
		pkt.ip.check = htons(csum(&pkt.ip, sizeof(pkt.ip), 0));
		pkt.udp.source = htons(1024 + i % ports);
		pkt.udp.check = 0;
		memcpy(pseudo, &pkt.ip.saddr, 8);
		pseudo[8] = 0;
		pseudo[9] = IPPROTO_UDP;
		memcpy(pseudo + 10, &pkt.udp.len, 2);
		for (k = 0; k < 12; k += 2)
			sum += (uint32_t)pseudo[k] << 8 | pseudo[k + 1];
		pkt.udp.check = htons(csum(&pkt.udp, sizeof(pkt) - sizeof(pkt.ip), sum));
		if (!pkt.udp.check)
			pkt.udp.check = 0xffff;
		while (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
				perror("udpflood: sendto");
				printf("sent %lu\n", sent);
				return 1;
			}
			usleep(1000);
		}
		sent++;
		if (i % 64 == 63 && (pps || secs)) {
			double want, el;

			clock_gettime(CLOCK_MONOTONIC, &t);
			el = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
			if (secs && el >= secs)
				break;
			want = pps ? (double)(i + 1) / pps : 0;
			if (want > el)
				usleep((useconds_t)((want - el) * 1e6));
		}
	}
	printf("sent %lu\n", sent);
	return 0;
}
