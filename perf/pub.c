/* ringcast-pub: paced UDP publisher for trying a ringcast gateway by hand.
 *
 * Sends generated payloads (or the contents of a file / standard input) as
 * UDP datagrams at a steady rate. Pacing uses absolute CLOCK_MONOTONIC
 * deadlines so sleep overshoot never accumulates into rate drift, and a
 * bounded catch-up so a stalled process (Ctrl-Z, a slow pipe) does not dump
 * its whole backlog into the gateway at once. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hostport.h"
#include "payload.h"
#include "rc_version.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

#define DEFAULT_DEST "127.0.0.1:9000"
#define DEFAULT_RATE 100.0
#define DEFAULT_SIZE 200
#define MAX_UDP_PAYLOAD 65507	/* IPv4 limit; also fits IPv6 */
#define MAX_BATCH 64
#define BATCH_BYTES (4u << 20)	/* memory for one sendmmsg batch */
/* Upper bound on main-loop iterations: far beyond any real run (it allows
 * 10^6 datagrams/s for more than a year) but keeps the loop finite even when
 * neither --count nor --duration is given. */
#define MAX_ITERATIONS (UINT64_C(1) << 45)

enum pattern { PAT_SEQ, PAT_RANDOM, PAT_TEXT };
enum source { SRC_PATTERN, SRC_FILE, SRC_STDIN };

struct pub_opts {
	const char *dest;
	double rate;		/* datagrams per second; 0 = unpaced */
	size_t size;
	uint64_t count;		/* 0 = unbounded */
	double duration;	/* seconds; 0 = unbounded */
	enum source source;
	const char *path;
	bool loop;
	enum pattern pattern;
};

struct pub_stats {
	uint64_t sent;
	uint64_t bytes;
	uint64_t refused;	/* ICMP port unreachable reported by the kernel */
	uint64_t dropped;	/* ENOBUFS / EAGAIN: the local stack had no room */
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage_short(FILE *f)
{
	fprintf(f, "usage: ringcast-pub [--udp HOST:PORT] [--rate N/s] [--size BYTES] [--count N]\n"
		   "                    [--duration SEC] [--file PATH [--loop] | --stdin]\n"
		   "                    [--pattern seq|random|text] [--help] [--version]\n");
}

static void usage_long(void)
{
	usage_short(stdout);
	printf("\n"
	       "NAME\n"
	       "    ringcast-pub - send paced UDP datagrams to a ringcast gateway\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Publishes datagrams to the UDP ingest port of a ringcast gateway, which\n"
	       "    fans each one out to the WebSocket subscribers of the port's channel.\n"
	       "    Runs until --count datagrams are sent, --duration elapses, the input\n"
	       "    file or standard input ends, or Ctrl-C; then prints a one-line summary\n"
	       "    (datagrams, bytes, achieved rate) to standard output.\n"
	       "\n"
	       "OPTIONS\n"
	       "    -u, --udp HOST:PORT   destination (default %s); IPv6 as [::1]:9000\n"
	       "    -r, --rate N[/s]      datagrams per second (default %.0f); 0 sends as\n"
	       "                          fast as possible\n"
	       "    -s, --size BYTES      payload bytes per datagram, 1..%d (default %d)\n"
	       "    -c, --count N         stop after N datagrams\n"
	       "    -d, --duration SEC    stop after SEC seconds (fractions allowed)\n"
	       "    -f, --file PATH       send the file's bytes, cut into --size pieces (the\n"
	       "                          last one may be shorter); for MPEG-TS use\n"
	       "                          --size 1316 (7 x 188) so every datagram carries\n"
	       "                          whole 188-byte TS packets\n"
	       "        --loop            with --file: start over at end of file\n"
	       "        --stdin           like --file, reading standard input until EOF\n"
	       "    -p, --pattern NAME    generated payload when no file is given:\n"
	       "                          seq    (default) bytes 0-7 big-endian u64 sequence\n"
	       "                                 number from 0, bytes 8-15 big-endian u64\n"
	       "                                 CLOCK_REALTIME send time in ns, then the\n"
	       "                                 filler byte i = (i*31+7) mod 256; the same\n"
	       "                                 layout ringcast-bench uses (needs size >= 16\n"
	       "                                 for the header)\n"
	       "                          random pseudo-random bytes (fixed seed)\n"
	       "                          text   printable ASCII: \"seq=N \" then letters,\n"
	       "                                 ending in a newline\n"
	       "    -h, --help            show this help and exit\n"
	       "    -V, --version         show the version and exit\n"
	       "\n"
	       "    Pacing follows absolute deadlines; after a stall at most 10 ms worth of\n"
	       "    datagrams (at least 4) are sent at once and the rest of the backlog is\n"
	       "    skipped, so the achieved rate can come out below --rate.\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0   finished (also after Ctrl-C)\n"
	       "    1   runtime error (socket, file or send failure)\n"
	       "    2   usage error\n"
	       "\n"
	       "EXAMPLES\n"
	       "    ringcast-pub --udp 127.0.0.1:9000 --rate 50/s --count 500\n"
	       "    ringcast-pub --udp [::1]:9000 --file clip.ts --size 1316 --rate 1000\n"
	       "    echo hello | ringcast-pub --stdin\n",
	       DEFAULT_DEST, DEFAULT_RATE, MAX_UDP_PAYLOAD, DEFAULT_SIZE);
}

/* Parses a non-negative number that must fill the whole string (after an
 * optional `suffix`). Returns 0 or -EINVAL. */
static int parse_double(const char *s, const char *suffix, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !isfinite(v) || v < 0)
		return -EINVAL;
	if (*end != '\0' && (suffix == NULL || strcmp(end, suffix) != 0))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

/* Returns 0 when the options are usable, EXIT_USAGE after printing why not,
 * or -1 when --help/--version already did the job. */
static int parse_args(int argc, char **argv, struct pub_opts *o)
{
	enum { OPT_STDIN = 256, OPT_LOOP };
	static const struct option longopts[] = {
		{ "udp", required_argument, NULL, 'u' },
		{ "rate", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "stdin", no_argument, NULL, OPT_STDIN },
		{ "loop", no_argument, NULL, OPT_LOOP },
		{ "pattern", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t u;
	int c;

	*o = (struct pub_opts){ .dest = DEFAULT_DEST, .rate = DEFAULT_RATE,
				.size = DEFAULT_SIZE, .source = SRC_PATTERN,
				.pattern = PAT_SEQ };
	while ((c = getopt_long(argc, argv, "u:r:s:c:d:f:p:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o->dest = optarg;
			break;
		case 'r':
			if (parse_double(optarg, "/s", &o->rate) < 0 || o->rate > 1e8) {
				fprintf(stderr, "ringcast-pub: bad --rate '%s' (0..1e8, e.g. 500 or 500/s)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (parse_u64(optarg, &u) < 0 || u < 1 || u > MAX_UDP_PAYLOAD) {
				fprintf(stderr, "ringcast-pub: bad --size '%s' (1..%d)\n", optarg, MAX_UDP_PAYLOAD);
				return EXIT_USAGE;
			}
			o->size = (size_t)u;
			break;
		case 'c':
			if (parse_u64(optarg, &o->count) < 0 || o->count == 0) {
				fprintf(stderr, "ringcast-pub: bad --count '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'd':
			if (parse_double(optarg, "s", &o->duration) < 0 || o->duration <= 0 ||
			    o->duration > 1e7) {
				fprintf(stderr, "ringcast-pub: bad --duration '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'f':
			if (o->source == SRC_STDIN)
				goto both_sources;
			o->source = SRC_FILE;
			o->path = optarg;
			break;
		case OPT_STDIN:
			if (o->source == SRC_FILE)
				goto both_sources;
			o->source = SRC_STDIN;
			break;
		case OPT_LOOP:
			o->loop = true;
			break;
		case 'p':
			if (strcmp(optarg, "seq") == 0) {
				o->pattern = PAT_SEQ;
			} else if (strcmp(optarg, "random") == 0) {
				o->pattern = PAT_RANDOM;
			} else if (strcmp(optarg, "text") == 0) {
				o->pattern = PAT_TEXT;
			} else {
				fprintf(stderr, "ringcast-pub: unknown --pattern '%s' (seq, random, text)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage_long();
			return -1;
		case 'V':
			printf("ringcast-pub %s\n", RC_VERSION);
			return -1;
		default:
			usage_short(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringcast-pub: unexpected argument '%s'\n", argv[optind]);
		usage_short(stderr);
		return EXIT_USAGE;
	}
	if (o->loop && o->source != SRC_FILE) {
		fprintf(stderr, "ringcast-pub: --loop needs --file\n");
		return EXIT_USAGE;
	}
	return 0;

both_sources:
	fprintf(stderr, "ringcast-pub: --file and --stdin exclude each other\n");
	return EXIT_USAGE;
}

/* xorshift64*: fast, good enough to make payloads incompressible, and
 * reproducible run to run because the seed is fixed. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545F4914F6CDD1D);
}

static void fill_generated(const struct pub_opts *o, uint8_t *buf, uint64_t seq, uint64_t *rng)
{
	switch (o->pattern) {
	case PAT_SEQ:
		/* The filler was written once at start-up; only the header
		 * changes from datagram to datagram. */
		payload_stamp(buf, o->size, seq, payload_now_ns(CLOCK_REALTIME));
		break;
	case PAT_RANDOM:
		for (size_t i = 0; i < o->size; i += 8) {
			uint64_t r = rng_next(rng);
			size_t n = o->size - i < 8 ? o->size - i : 8;

			memcpy(buf + i, &r, n);
		}
		break;
	case PAT_TEXT: {
		char head[32];
		int hl = snprintf(head, sizeof(head), "seq=%" PRIu64 " ", seq);
		size_t n = (size_t)hl < o->size ? (size_t)hl : o->size;

		memcpy(buf, head, n);
		for (size_t i = n; i < o->size; i++)
			buf[i] = (uint8_t)('a' + (i - n) % 26);
		if (o->size > 1)
			buf[o->size - 1] = '\n';
		break;
	}
	}
}

/* Reads up to cap bytes, retrying short reads so datagrams are full-size
 * except at end of input (pipes deliver in arbitrary pieces). With `loop`,
 * end of file rewinds once per call. Returns the byte count (0 at end of
 * input) or negative errno. */
static ssize_t read_chunk(int fd, uint8_t *buf, size_t cap, bool loop)
{
	size_t have = 0;
	bool rewound = false;

	/* Each pass either adds bytes, rewinds once, or returns, so cap + 2
	 * passes always suffice. */
	for (size_t pass = 0; have < cap && pass < cap + 2; pass++) {
		ssize_t r = read(fd, buf + have, cap - have);

		if (r < 0) {
			if (errno == EINTR && !g_stop)
				continue;
			if (errno == EINTR)
				break;
			return -errno;
		}
		if (r == 0) {
			if (!loop || rewound || have > 0)
				break;
			if (lseek(fd, 0, SEEK_SET) < 0)
				return -errno;
			rewound = true;
			continue;
		}
		have += (size_t)r;
	}
	return (ssize_t)have;
}

static uint64_t mono_ns(void)
{
	return payload_now_ns(CLOCK_MONOTONIC);
}

static void sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / 1000000000u),
		.tv_nsec = (long)(deadline_ns % 1000000000u),
	};

	/* EINTR (Ctrl-C) just returns early; the caller checks g_stop. */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* Sends msgs[0..n). Errors that concern single datagrams (refused, no
 * buffer space) are counted and skipped so a missing gateway does not end
 * the run. Returns 0 or negative errno for anything else. */
static int send_batch(int fd, struct mmsghdr *msgs, unsigned n, struct pub_stats *st)
{
	unsigned off = 0;

	/* Every pass consumes at least one datagram, except EINTR which is
	 * retried a bounded number of times. */
	for (unsigned pass = 0; off < n && pass < 2 * n + 2; pass++) {
		int r = sendmmsg(fd, msgs + off, n - off, 0);

		if (r < 0) {
			if (errno == EINTR) {
				if (g_stop)
					return 0;
				continue;
			}
			if (errno == ECONNREFUSED) {
				if (st->refused == 0)
					fprintf(stderr, "ringcast-pub: warning: destination refused "
						"datagrams (nothing listening?)\n");
				st->refused++;
			} else if (errno == ENOBUFS || errno == EAGAIN) {
				st->dropped++;
			} else {
				return -errno;
			}
			off++;
			continue;
		}
		for (int i = 0; i < r; i++) {
			st->sent++;
			st->bytes += msgs[off + i].msg_hdr.msg_iov->iov_len;
		}
		off += (unsigned)r;
	}
	return 0;
}

/* Main loop. Returns 0 or negative errno. */
static int publish(const struct pub_opts *o, int sock, int in_fd, struct pub_stats *st)
{
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	uint8_t *bufs = NULL;
	unsigned batch = MAX_BATCH;
	uint64_t rng = UINT64_C(0x9E3779B97F4A7C15);
	uint64_t start, end = UINT64_MAX, sched = 0, seq = 0;
	uint64_t max_burst;
	bool eof = false;
	int err = 0;

	if (o->size * batch > BATCH_BYTES)
		batch = (unsigned)(BATCH_BYTES / o->size) ? (unsigned)(BATCH_BYTES / o->size) : 1;
	bufs = malloc(o->size * batch);
	if (bufs == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < batch; i++)
		payload_fill(bufs + (size_t)i * o->size, 0, o->size);

	/* Bounded catch-up: 10 ms worth, at least a few datagrams. */
	max_burst = (uint64_t)(o->rate / 100.0);
	if (max_burst < 4)
		max_burst = 4;

	start = mono_ns();
	if (o->duration > 0)
		end = start + (uint64_t)(o->duration * 1e9);

	for (uint64_t iter = 0; iter < MAX_ITERATIONS && !g_stop && !eof; iter++) {
		uint64_t now = mono_ns();
		uint64_t due = batch;
		unsigned n = 0;

		if (now >= end)
			break;
		if (o->count > 0 && seq >= o->count)
			break;
		if (o->rate > 0) {
			/* Slot k is due at start + k/rate, so the first datagram
			 * goes out at once and floor(elapsed * rate) + 1 are due. */
			uint64_t target = (uint64_t)((double)(now - start) * o->rate / 1e9) + 1;

			if (target > sched + max_burst)
				sched = target - max_burst;	/* drop the backlog beyond the bound */
			due = target > sched ? target - sched : 0;
			if (due == 0) {
				uint64_t next = start + (uint64_t)((double)sched * 1e9 / o->rate);

				sleep_until(next < end ? next : end);
				continue;
			}
		}
		if (due > batch)
			due = batch;
		if (o->count > 0 && due > o->count - seq)
			due = o->count - seq;

		for (n = 0; n < due; n++) {
			uint8_t *b = bufs + (size_t)n * o->size;
			size_t len = o->size;

			if (o->source == SRC_PATTERN) {
				fill_generated(o, b, seq, &rng);
			} else {
				ssize_t r = read_chunk(in_fd, b, o->size, o->loop);

				if (r < 0) {
					err = (int)r;
					goto fail;
				}
				if (r == 0) {
					eof = true;
					break;
				}
				len = (size_t)r;
			}
			iov[n] = (struct iovec){ .iov_base = b, .iov_len = len };
			memset(&msgs[n], 0, sizeof(msgs[n]));
			msgs[n].msg_hdr.msg_iov = &iov[n];
			msgs[n].msg_hdr.msg_iovlen = 1;
			seq++;
		}
		sched += n;
		if (n > 0) {
			err = send_batch(sock, msgs, n, st);
			if (err < 0)
				goto fail;
		}
	}
	free(bufs);
	return 0;

fail:
	free(bufs);
	return err;
}

int main(int argc, char **argv)
{
	struct pub_opts o;
	struct pub_stats st = { 0 };
	struct sockaddr_storage dst;
	socklen_t dst_len = 0;
	struct sigaction sa;
	char where[80];
	uint64_t t0, t1;
	double secs;
	int sock = -1, in_fd = -1, r;

	r = parse_args(argc, argv, &o);
	if (r < 0)
		return 0;
	if (r > 0)
		return r;
	r = hostport_parse(o.dest, 0, &dst, &dst_len);
	if (r < 0) {
		fprintf(stderr, "ringcast-pub: bad --udp '%s': %s (want HOST:PORT or [V6]:PORT)\n",
			o.dest, strerror(-r));
		return EXIT_USAGE;
	}
	hostport_format(&dst, where, sizeof(where));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: blocking reads must see EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (o.source == SRC_FILE) {
		struct stat sb;
		uint8_t first;

		in_fd = open(o.path, O_RDONLY | O_CLOEXEC);
		if (in_fd < 0) {
			fprintf(stderr, "ringcast-pub: %s: %s\n", o.path, strerror(errno));
			goto fail;
		}
		if (fstat(in_fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0) {
			fprintf(stderr, "ringcast-pub: %s: file is empty\n", o.path);
			goto fail;
		}
		/* 0x47 is the MPEG-TS sync byte; a gentle hint saves a person
		 * from splitting TS packets across datagrams. */
		if (pread(in_fd, &first, 1, 0) == 1 && first == 0x47 && o.size % 188 != 0)
			fprintf(stderr, "ringcast-pub: note: %s looks like MPEG-TS; "
				"--size 1316 keeps 188-byte packets whole\n", o.path);
	} else if (o.source == SRC_STDIN) {
		in_fd = STDIN_FILENO;
	}

	sock = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		fprintf(stderr, "ringcast-pub: socket: %s\n", strerror(errno));
		goto fail;
	}
	/* Connected, so the kernel reports ICMP port-unreachable as
	 * ECONNREFUSED and the person learns nothing is listening. */
	if (connect(sock, (struct sockaddr *)&dst, dst_len) < 0) {
		fprintf(stderr, "ringcast-pub: connect %s: %s\n", where, strerror(errno));
		goto fail;
	}

	t0 = mono_ns();
	r = publish(&o, sock, in_fd, &st);
	t1 = mono_ns();
	secs = (double)(t1 - t0) / 1e9;
	printf("ringcast-pub: sent %" PRIu64 " datagrams, %" PRIu64 " bytes to %s in %.3f s "
	       "(%.1f datagrams/s, %.3f MB/s); %" PRIu64 " refused, %" PRIu64 " dropped locally\n",
	       st.sent, st.bytes, where, secs, secs > 0 ? (double)st.sent / secs : 0.0,
	       secs > 0 ? (double)st.bytes / secs / 1e6 : 0.0, st.refused, st.dropped);
	fflush(stdout);
	if (r < 0) {
		fprintf(stderr, "ringcast-pub: %s: %s\n",
			o.source == SRC_PATTERN ? "send" : "send/read", strerror(-r));
		goto fail;
	}
	close(sock);
	if (in_fd > STDIN_FILENO)
		close(in_fd);
	return 0;

fail:
	if (sock >= 0)
		close(sock);
	if (in_fd > STDIN_FILENO)
		close(in_fd);
	return EXIT_RUNTIME;
}
