/* pbuf_inc_probe.c: what an incremental provided-buffer ring
 * (IOU_PBUF_RING_INC, Linux 6.12) does with datagrams. Four 128 KiB buffers,
 * one multishot recvmsg, eight datagrams of mixed sizes sent first; prints
 * each completion: res (header + payload bytes the kernel wrote), the
 * buffer id and whether the buffer will be used again (IORING_CQE_F_BUF_MORE).
 * Run once without the flag and once with it. Kept as the record of the
 * measurement in docs/ARCHITECTURE.md ("Datagrams of any size"); not built
 * by meson (only core/ uses liburing in the product).
 *
 *   gcc -O1 -o pbuf_inc_probe pbuf_inc_probe.c -luring
 *   ./pbuf_inc_probe; ./pbuf_inc_probe inc
 */
#include <arpa/inet.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NBUF 4
#define BUF_SIZE (128 * 1024)
#define PBUF_RING_INC 2		/* IOU_PBUF_RING_INC; liburing 2.3 lacks it */
#define CQE_BUF_MORE (1U << 4)	/* IORING_CQE_F_BUF_MORE */

int main(int argc, char **argv)
{
	static const int sizes[] = { 1000, 65000, 65000, 1000, 60000, 500, 65507, 65507 };
	static char payload[65507];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct io_uring_buf_reg reg;
	struct io_uring_buf_ring *br;
	struct msghdr tmpl;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int inc = argc > 1 && argv[1][0];
	int rcvbuf = 4 << 20;
	char *slab;
	int rx, tx, ret;

	if (io_uring_queue_init(64, &ring, 0) < 0)
		return 1;
	rx = socket(AF_INET, SOCK_DGRAM, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (bind(rx, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(rx, (struct sockaddr *)&a, &alen) < 0)
		return 1;
	br = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	slab = malloc((size_t)NBUF * BUF_SIZE);
	if (br == MAP_FAILED || !slab)
		return 1;
	io_uring_buf_ring_init(br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = NBUF;
	reg.bgid = 1;
	reg.pad = inc ? PBUF_RING_INC : 0;	/* the flags field in newer headers */
	ret = io_uring_register(ring.ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1);
	printf("incremental %s: register %d\n", inc ? "on" : "off", ret);
	for (int i = 0; i < NBUF; i++)
		io_uring_buf_ring_add(br, slab + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
				      NBUF - 1, i);
	io_uring_buf_ring_advance(br, NBUF);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(payload, 'a' + (int)i, (size_t)sizes[i]);
		sendto(tx, payload, (size_t)sizes[i], 0, (struct sockaddr *)&a, sizeof(a));
	}
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.msg_namelen = sizeof(struct sockaddr_in6);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recvmsg_multishot(sqe, rx, &tmpl, MSG_TRUNC);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 1;
	io_uring_submit(&ring);
	for (int n = 0; n < 10; n++) {
		struct __kernel_timespec ts = { 0, 200000000 };
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) < 0)
			break;
		printf("datagram %d (%d bytes + 44 of header): res %d, bid %u, more %d, buf_more %d\n",
		       n, n < 8 ? sizes[n] : -1, cqe->res, cqe->flags >> 16,
		       !!(cqe->flags & IORING_CQE_F_MORE), !!(cqe->flags & CQE_BUF_MORE));
		io_uring_cqe_seen(&ring, cqe);
	}
	close(rx);
	close(tx);
	io_uring_queue_exit(&ring);
	return 0;
}
