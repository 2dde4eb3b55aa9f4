/* sendzc-bench: is IORING_OP_SEND_ZC (registered buffer) cheaper than a
 * copying send on this machine, and from which message size on?
 *
 * One TCP connection over loopback; a child process pinned to another CPU
 * reads and discards. The parent, pinned to its own CPU, sends messages of
 * each size for a fixed time with one send in flight (ringcast's rule for a
 * socket), first with IORING_OP_SEND and then with SEND_ZC from a registered
 * buffer, and reports messages/s, MB/s and the sender's CPU time per message.
 * Both modes run back to back in the same process, so their ratio is the
 * figure to read. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define REGION (1u << 20)

struct run {
	struct rc_io io;
	struct rc_loop *loop;
	int fd;
	uint8_t *region;
	size_t size;
	bool zc;
	bool inflight;
	uint64_t sent_msgs;
	uint64_t sent_bytes;
	uint64_t notifs_pending;
	uint64_t copied;
	uint64_t notifs;
	uint64_t deadline_ns;
	int error;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void submit_one(struct run *r)
{
	int ret;

	if (r->zc)
		ret = rc_loop_send_zc(r->loop, &r->io, r->fd, r->region, r->size, 0, 0);
	else
		ret = rc_loop_send(r->loop, &r->io, r->fd, r->region, r->size, 0);
	if (ret < 0) {
		r->error = ret;
		rc_loop_stop(r->loop);
		return;
	}
	r->inflight = true;
	if (r->zc)
		r->notifs_pending++;
}

static void on_cqe(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct run *r = (struct run *)io;

	if (cqe->flags & RC_CQE_NOTIF) {
		r->notifs_pending--;
		r->notifs++;
		if ((uint32_t)cqe->res & RC_ZC_COPIED)
			r->copied++;
	} else {
		/* A ZC send without MORE posts no notification. */
		if (r->zc && !(cqe->flags & RC_CQE_MORE))
			r->notifs_pending--;
		r->inflight = false;
		if (cqe->res < 0) {
			r->error = cqe->res;
			rc_loop_stop(loop);
			return;
		}
		r->sent_msgs++;
		r->sent_bytes += (uint64_t)cqe->res;
		/* A short send would resume in ringcast; here the next message
		 * simply follows, since the reader discards everything. */
		if (now_ns() < r->deadline_ns) {
			submit_one(r);
			return;
		}
	}
	if (!r->inflight && !r->notifs_pending)
		rc_loop_stop(loop);
}

static int run_mode(struct rc_loop *loop, int fd, uint8_t *region, size_t size, bool zc,
		    double seconds, struct run *out)
{
	double c0;
	uint64_t t0;

	memset(out, 0, sizeof(*out));
	out->io.fn = on_cqe;
	out->loop = loop;
	out->fd = fd;
	out->region = region;
	out->size = size;
	out->zc = zc;
	t0 = now_ns();
	out->deadline_ns = t0 + (uint64_t)(seconds * 1e9);
	c0 = cpu_s();
	submit_one(out);
	if (rc_loop_run(loop) < 0 || out->error)
		return out->error ? out->error : -EIO;
	double wall = (double)(now_ns() - t0) / 1e9;
	double cpu = cpu_s() - c0;

	printf("%-8zu %-8s %12.0f %10.1f %12.3f %8.0f%%  %s\n", size, zc ? "send_zc" : "send",
	       (double)out->sent_msgs / wall, (double)out->sent_bytes / wall / 1e6,
	       cpu / (double)out->sent_msgs * 1e6, cpu / wall * 100.0,
	       zc ? (out->copied == out->notifs ? "kernel copied every ZC send"
						: out->copied ? "kernel copied some" : "true zero-copy")
		  : "");
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 256, 1024, 1400, 4096, 16384, 65536 };
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct rc_loop *loop;
	uint8_t *region;
	int lfd, fd, err = 0, one = 1;
	pid_t child;

	if (seconds <= 0 || seconds > 60) {
		fprintf(stderr, "usage: sendzc-bench [SECONDS per run, 0-60]\n");
		return 2;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		perror("listen");
		return 1;
	}
	child = fork();
	if (child == 0) {
		static char sink[1 << 20];
		int c = socket(AF_INET, SOCK_STREAM, 0);

		pin(1);
		if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
			_exit(1);
		while (read(c, sink, sizeof(sink)) > 0)
			;
		_exit(0);
	}
	pin(0);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		perror("accept");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	loop = rc_loop_create(NULL, &err);
	if (!loop)
		return 1;
	region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(region, 'x', REGION);
	err = rc_loop_register_buffer(loop, region, REGION);
	if (err < 0) {
		fprintf(stderr, "registering the buffer failed: %s (RLIMIT_MEMLOCK?)\n", strerror(-err));
		return 1;
	}
	printf("# sendzc-bench: one TCP loopback connection, one send in flight, %.1f s per run\n",
	       seconds);
	printf("%-8s %-8s %12s %10s %12s %9s\n", "size", "mode", "msgs/s", "MB/s", "cpu_us/msg",
	       "cpu");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct run r;

		if (run_mode(loop, fd, region, sizes[i], false, seconds, &r) < 0 ||
		    run_mode(loop, fd, region, sizes[i], true, seconds, &r) < 0) {
			fprintf(stderr, "send failed: %s\n", strerror(-r.error));
			break;
		}
	}
	close(fd);
	waitpid(child, NULL, 0);
	rc_loop_destroy(loop);
	return 0;
}
