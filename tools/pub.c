/* ringcast-pub: paced publisher for trying a ringcast gateway by hand.
 *
 * Sends generated payloads, the contents of a file / standard input, or a
 * toy game's state (--demo game) to a gateway over UDP (one datagram per
 * message), its TCP ingest port, or HTTP POST /pub/<channel>; pub_sink.c
 * has the transports. Pacing uses absolute CLOCK_MONOTONIC deadlines so
 * sleep overshoot never accumulates into rate drift, and a bounded catch-up
 * so a stalled process (Ctrl-Z, a slow pipe) does not dump its whole backlog
 * into the gateway at once. */
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
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "num.h"
#include "payload.h"
#include "pub_demo.h"
#include "pub_uplink.h"
#include "pub_sink.h"
#include "rc_version.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

#define DEFAULT_DEST "127.0.0.1:9000"
#define DEFAULT_RATE 100.0
#define DEFAULT_SIZE 200
#define MAX_UDP_PAYLOAD 65507	/* IPv4 limit; also fits IPv6 */
#define MAX_STREAM_PAYLOAD (1u << 20)	/* the gateway's default --max-message */
#define MAX_BATCH 64
#define BATCH_BYTES (4u << 20)	/* memory for one batch */
/* --bitrate: how far the schedule may fall behind before it slips rather
 * than catching up in a burst. */
#define BITRATE_SLACK_NS UINT64_C(100000000)
/* Upper bound on main-loop iterations: far beyond any real run (it allows
 * 10^6 datagrams/s for more than a year) but keeps the loop finite even when
 * neither --count nor --duration is given. */
#define MAX_ITERATIONS (UINT64_C(1) << 45)

enum pattern { PAT_SEQ, PAT_RANDOM, PAT_TEXT };
enum source { SRC_PATTERN, SRC_FILE, SRC_STDIN, SRC_DEMO };

struct pub_opts {
	enum sink_kind transport;
	const char *dest;	/* --udp / --tcp HOST:PORT, or the --http URL */
	const char *channel;	/* --channel (TCP, HTTP) */
	bool framed;
	double rate;		/* messages per second; 0 = unpaced */
	bool rate_set;
	double bitrate;		/* bits per second; 0 = pace by --rate */
	size_t size;
	bool size_set;
	uint64_t count;		/* 0 = unbounded */
	double duration;	/* seconds; 0 = unbounded */
	enum source source;
	const char *path;
	bool loop;
	enum pattern pattern;
	bool pattern_set;
	unsigned dots;
	bool dots_set;
};

/* What the main loop works with. */
struct pub_run {
	const struct pub_opts *o;
	struct pub_sink *sink;
	int in_fd;
	struct pub_demo *demo;	/* --demo only */
	struct pub_uplink *uplink;	/* --demo over UDP or framed TCP: players' input */
	bool uplink_broken;		/* its stream could not be followed any more */
	size_t stride;		/* buffer bytes per message */
	uint64_t rng;
	uint64_t start_ns;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage_short(FILE *f)
{
	fprintf(f, "usage: ringcast-pub [--udp HOST:PORT | --tcp HOST:PORT --channel CH [--framed]\n"
		   "                    | --http URL] [--rate N/s | --bitrate BITS/s] [--size BYTES]\n"
		   "                    [--count N] [--duration SEC]\n"
		   "                    [--file PATH [--loop] | --stdin | --pattern seq|random|text\n"
		   "                    | --demo game [--dots N]] [--help] [--version]\n");
}

static void usage_long(void)
{
	usage_short(stdout);
	printf("\n"
	       "NAME\n"
	       "    ringcast-pub - send paced messages to a ringcast gateway\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Publishes messages to a ringcast gateway, which fans each one out to the\n"
	       "    subscribers of a channel: as UDP datagrams to an ingest port (the port\n"
	       "    decides the channel; the default), over the gateway's TCP ingest port\n"
	       "    (--tcp), or as an HTTP POST /pub/CHANNEL with a chunked body (--http).\n"
	       "    Runs until --count messages are sent, --duration elapses, the input\n"
	       "    file or standard input ends, or Ctrl-C; then prints a one-line summary\n"
	       "    (messages, bytes, achieved rate) to standard output.\n"
	       "\n"
	       "TRANSPORT (one of)\n"
	       "    -u, --udp HOST:PORT   one datagram per message (default %s);\n"
	       "                          IPv6 as [::1]:9000\n"
	       "    -t, --tcp HOST:PORT   the gateway's TCP ingest port (ringcast --tcp):\n"
	       "                          sends \"PUB CHANNEL raw|framed\", waits for \"OK\";\n"
	       "                          an \"ERR ...\" answer is printed and ends the run\n"
	       "                          (exit 1). Needs --channel\n"
	       "        --framed          with --tcp: each message goes as a 4-byte\n"
	       "                          big-endian length + payload, so the gateway keeps\n"
	       "                          message boundaries; without it (raw) the byte\n"
	       "                          stream is cut into messages as it arrives\n"
	       "    -H, --http URL        POST to URL (http://HOST[:PORT]/pub/CHANNEL, or\n"
	       "                          http://HOST[:PORT] with --channel), one chunk per\n"
	       "                          message; the gateway publishes each piece as it\n"
	       "                          arrives, so boundaries may not survive. A refusal\n"
	       "                          (409 busy, 400, ...) is printed (exit 1); at the\n"
	       "                          end the gateway's answer is printed\n"
	       "    -C, --channel NAME    channel for --tcp and --http\n"
	       "\n"
	       "PACING\n"
	       "    -r, --rate N[/s]      messages per second (default %.0f, %.0f with --demo);\n"
	       "                          0 sends as fast as possible\n"
	       "    -b, --bitrate BITS[/s]\n"
	       "                          pace by bytes instead: a message starting at byte\n"
	       "                          offset B goes out B*8/BITS seconds after the start.\n"
	       "                          k, M and G multiply by 10^3, 10^6, 10^9 (2M = 2\n"
	       "                          Mbit/s). Meant for --file: give an MPEG-TS file's\n"
	       "                          average bitrate (ffprobe shows it) and it plays out\n"
	       "                          at about its real speed. The pacing is by bytes,\n"
	       "                          not by the stream's PCR clock, so a variable-bitrate\n"
	       "                          file runs ahead in simple scenes and behind in\n"
	       "                          busy ones. Falling more than 100 ms behind shifts\n"
	       "                          the schedule rather than bursting\n"
	       "    -c, --count N         stop after N messages\n"
	       "    -d, --duration SEC    stop after SEC seconds (fractions allowed)\n"
	       "\n"
	       "    Pacing follows absolute deadlines; after a stall at most 10 ms worth of\n"
	       "    messages (at least 4) are sent at once and the rest of the backlog is\n"
	       "    skipped, so the achieved rate can come out below --rate.\n"
	       "\n"
	       "PAYLOAD (one of)\n"
	       "    -p, --pattern NAME    generated payload (the default source):\n"
	       "                          seq    (default) bytes 0-7 big-endian u64 sequence\n"
	       "                                 number from 0, bytes 8-15 big-endian u64\n"
	       "                                 CLOCK_REALTIME send time in ns, then the\n"
	       "                                 filler byte i = (i*31+7) mod 256; the same\n"
	       "                                 layout ringcast-bench uses (needs size >= 16\n"
	       "                                 for the header)\n"
	       "                          random pseudo-random bytes (fixed seed)\n"
	       "                          text   printable ASCII: \"seq=N \" then letters,\n"
	       "                                 ending in a newline\n"
	       "    -s, --size BYTES      payload bytes per message, 1..%d over UDP,\n"
	       "                          1..%u over TCP and HTTP (default %d)\n"
	       "    -f, --file PATH       send the file's bytes, cut into --size pieces (the\n"
	       "                          last one may be shorter); for MPEG-TS use\n"
	       "                          --size 1316 (7 x 188) so every datagram carries\n"
	       "                          whole 188-byte TS packets\n"
	       "        --loop            with --file: start over at end of file\n"
	       "        --stdin           like --file, reading standard input until EOF\n"
	       "        --demo game       a toy game's state, one UTF-8 JSON text message per\n"
	       "                          tick (%.0f Hz unless --rate says otherwise):\n"
	       "                          {\"seq\":N,\"t\":MS,\"w\":%d,\"h\":%d,\"dots\":[[X,Y,HUE],...]}\n"
	       "                          seq from 0, t = milliseconds since the start,\n"
	       "                          integer X in 0..w and Y in 0..h moving in straight\n"
	       "                          lines and bouncing off the edges, HUE 0..359 fixed\n"
	       "                          per dot. With --tcp it is sent framed. It reads\n"
	       "                          its players' input from the channel's uplink\n"
	       "                          (UDP, or --tcp framed; the channel needs\n"
	       "                          uplink=on): \"left\", \"right\", \"up\", \"down\" (or\n"
	       "                          ArrowLeft, ...) move dot 0 by %d pixels\n"
	       "        --dots N          with --demo: number of dots, 1..%d (default %d).\n"
	       "                          A dot takes up to 14 bytes: over UDP, more than\n"
	       "                          about 140 dots exceed the gateway's default\n"
	       "                          2048-byte --buf-size and the datagrams are dropped\n"
	       "\n"
	       "    -h, --help            show this help and exit\n"
	       "    -V, --version         show the version and exit\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0   finished (also after Ctrl-C)\n"
	       "    1   runtime error: socket, file or send failure, connection refused,\n"
	       "        the gateway answered ERR (--tcp) or an HTTP status other than 2xx\n"
	       "        (--http)\n"
	       "    2   usage error\n"
	       "\n"
	       "EXAMPLES\n"
	       "    ringcast-pub --udp 127.0.0.1:9000 --rate 50/s --count 500\n"
	       "    ringcast-pub --udp [::1]:9000 --file clip.ts --size 1316 --bitrate 1.5M\n"
	       "    ringcast-pub --tcp 127.0.0.1:9100 --channel game --framed --demo game\n"
	       "    ringcast-pub --http http://127.0.0.1:8080/pub/live --file clip.ts \\\n"
	       "                 --size 1316 --bitrate 1.5M\n"
	       "    echo hello | ringcast-pub --stdin\n",
	       DEFAULT_DEST, DEFAULT_RATE, DEMO_DEFAULT_RATE, MAX_UDP_PAYLOAD, MAX_STREAM_PAYLOAD,
	       DEFAULT_SIZE, DEMO_DEFAULT_RATE, DEMO_W, DEMO_H, DEMO_STEP, DEMO_MAX_DOTS, DEMO_DEFAULT_DOTS);
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

/* Parses a bitrate: a number with an optional k, M or G multiplier and an
 * optional "/s". Returns 0 or -EINVAL. */
static int parse_bitrate(const char *s, double *out)
{
	char num[64];
	size_t n = strlen(s);
	double mul = 1.0;

	if (n >= 2 && strcmp(s + n - 2, "/s") == 0)
		n -= 2;
	if (n > 0 && strchr("kKMG", s[n - 1]) != NULL) {
		mul = s[n - 1] == 'G' ? 1e9 : s[n - 1] == 'M' ? 1e6 : 1e3;
		n--;
	}
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_double(num, NULL, out) < 0)
		return -EINVAL;
	*out *= mul;
	return 0;
}

/* The gateway's rule for channel names (1..64 of A-Z a-z 0-9 . _ -),
 * checked here too so a typo is a usage error rather than an ERR later. */
static bool channel_ok(const char *c)
{
	size_t n = strlen(c);

	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z') ||
		      (c[i] >= '0' && c[i] <= '9') || c[i] == '.' || c[i] == '_' || c[i] == '-'))
			return false;
	return true;
}

/* Checks the combinations getopt cannot. Returns 0 or EXIT_USAGE after
 * printing why. */
static int check_args(struct pub_opts *o)
{
	const char *why = NULL;

	if (o->loop && o->source != SRC_FILE)
		why = "--loop needs --file";
	else if (o->transport == SINK_TCP && o->channel == NULL)
		why = "--tcp needs --channel";
	else if (o->channel != NULL && !channel_ok(o->channel))
		why = "bad --channel (1-64 of A-Z a-z 0-9 . _ -)";
	else if (o->transport == SINK_UDP && o->channel != NULL)
		why = "--channel needs --tcp or --http (a UDP port's channel is set on the gateway)";
	else if (o->framed && o->transport != SINK_TCP)
		why = "--framed needs --tcp";
	else if (o->rate_set && o->bitrate > 0)
		why = "--rate and --bitrate exclude each other";
	else if (o->dots_set && o->source != SRC_DEMO)
		why = "--dots needs --demo";
	else if (o->source == SRC_DEMO && (o->size_set || o->pattern_set || o->bitrate > 0))
		why = "--demo makes its own messages: no --size, --pattern or --bitrate";
	else if (o->source != SRC_PATTERN && o->pattern_set)
		why = "--pattern is for generated payloads, not --file, --stdin or --demo";
	else if (o->transport == SINK_UDP && o->size > MAX_UDP_PAYLOAD)
		why = "--size over UDP is at most 65507";
	if (why) {
		fprintf(stderr, "ringcast-pub: %s\n", why);
		return EXIT_USAGE;
	}
	if (o->source == SRC_DEMO) {
		if (!o->rate_set)
			o->rate = DEMO_DEFAULT_RATE;
		/* JSON ticks must stay whole messages. */
		if (o->transport == SINK_TCP)
			o->framed = true;
	}
	return 0;
}

/* Returns 0 when the options are usable, EXIT_USAGE after printing why not,
 * or -1 when --help/--version already did the job. */
static int parse_args(int argc, char **argv, struct pub_opts *o)
{
	enum { OPT_STDIN = 256, OPT_LOOP, OPT_FRAMED, OPT_DEMO, OPT_DOTS };
	static const struct option longopts[] = {
		{ "udp", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "http", required_argument, NULL, 'H' },
		{ "channel", required_argument, NULL, 'C' },
		{ "framed", no_argument, NULL, OPT_FRAMED },
		{ "rate", required_argument, NULL, 'r' },
		{ "bitrate", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "stdin", no_argument, NULL, OPT_STDIN },
		{ "loop", no_argument, NULL, OPT_LOOP },
		{ "pattern", required_argument, NULL, 'p' },
		{ "demo", required_argument, NULL, OPT_DEMO },
		{ "dots", required_argument, NULL, OPT_DOTS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool transport_set = false;
	uint64_t u;
	int c;

	*o = (struct pub_opts){ .transport = SINK_UDP, .dest = DEFAULT_DEST,
				.rate = DEFAULT_RATE, .size = DEFAULT_SIZE,
				.source = SRC_PATTERN, .pattern = PAT_SEQ,
				.dots = DEMO_DEFAULT_DOTS };
	while ((c = getopt_long(argc, argv, "u:t:H:C:r:b:s:c:d:f:p:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
		case 't':
		case 'H':
			if (transport_set) {
				fprintf(stderr, "ringcast-pub: --udp, --tcp and --http exclude each other\n");
				return EXIT_USAGE;
			}
			transport_set = true;
			o->transport = c == 'u' ? SINK_UDP : c == 't' ? SINK_TCP : SINK_HTTP;
			o->dest = optarg;
			break;
		case 'C':
			o->channel = optarg;
			break;
		case OPT_FRAMED:
			o->framed = true;
			break;
		case 'r':
			if (parse_double(optarg, "/s", &o->rate) < 0 || o->rate > 1e8) {
				fprintf(stderr, "ringcast-pub: bad --rate '%s' (0..1e8, e.g. 500 or 500/s)\n", optarg);
				return EXIT_USAGE;
			}
			o->rate_set = true;
			break;
		case 'b':
			if (parse_bitrate(optarg, &o->bitrate) < 0 || o->bitrate < 8 || o->bitrate > 1e12) {
				fprintf(stderr, "ringcast-pub: bad --bitrate '%s' (8..1e12 bits/s, e.g. "
					"1500000 or 1.5M)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (rc_num_parse_u64(optarg, 1, MAX_STREAM_PAYLOAD, &u) < 0) {
				fprintf(stderr, "ringcast-pub: bad --size '%s' (1..%d over UDP, 1..%u over "
					"TCP and HTTP)\n", optarg, MAX_UDP_PAYLOAD, MAX_STREAM_PAYLOAD);
				return EXIT_USAGE;
			}
			o->size = (size_t)u;
			o->size_set = true;
			break;
		case 'c':
			if (rc_num_parse_u64(optarg, 1, UINT64_MAX, &o->count) < 0) {
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
		case OPT_STDIN:
		case OPT_DEMO:
			if (o->source != SRC_PATTERN) {
				fprintf(stderr, "ringcast-pub: --file, --stdin and --demo exclude each other\n");
				return EXIT_USAGE;
			}
			if (c == OPT_DEMO && strcmp(optarg, "game") != 0) {
				fprintf(stderr, "ringcast-pub: unknown --demo '%s' (game)\n", optarg);
				return EXIT_USAGE;
			}
			o->source = c == 'f' ? SRC_FILE : c == OPT_STDIN ? SRC_STDIN : SRC_DEMO;
			o->path = c == 'f' ? optarg : NULL;
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
			o->pattern_set = true;
			break;
		case OPT_DOTS:
			if (rc_num_parse_u64(optarg, 1, DEMO_MAX_DOTS, &u) < 0) {
				fprintf(stderr, "ringcast-pub: bad --dots '%s' (1..%d)\n", optarg, DEMO_MAX_DOTS);
				return EXIT_USAGE;
			}
			o->dots = (unsigned)u;
			o->dots_set = true;
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
	return check_args(o);
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

/* Produces message seq into buf (cap bytes). Returns its length, 0 at the
 * end of the input (never for generated messages, which are never empty),
 * or negative errno. */
static ssize_t next_message(struct pub_run *r, uint8_t *buf, size_t cap, uint64_t seq)
{
	const struct pub_opts *o = r->o;
	ssize_t n;

	switch (o->source) {
	case SRC_PATTERN:
		fill_generated(o, buf, seq, &r->rng);
		return (ssize_t)o->size;
	case SRC_DEMO: {
		uint64_t t_ms = (mono_ns() - r->start_ns) / 1000000u;
		size_t len = pub_demo_frame(r->demo, seq, t_ms, (char *)buf, cap);

		if (len == 0)	/* cap comes from pub_demo_frame_max() */
			fprintf(stderr, "ringcast-pub: demo frame does not fit\n");
		return len ? (ssize_t)len : -ENOBUFS;
	}
	case SRC_FILE:
	case SRC_STDIN:
		break;
	}
	n = read_chunk(r->in_fd, buf, o->size, o->loop);
	if (n < 0)
		fprintf(stderr, "ringcast-pub: read %s: %s\n",
			o->source == SRC_FILE ? o->path : "standard input", strerror((int)-n));
	return n;
}

/* --bitrate: one message at a time, each at its byte offset's time.
 * Returns 0 or negative errno. */
static int publish_bitrate(struct pub_run *r, uint8_t *buf, struct sink_stats *st)
{
	const struct pub_opts *o = r->o;
	uint64_t start = r->start_ns, end = UINT64_MAX, offset = 0, seq = 0;
	ssize_t len = 0;
	bool pending = false;

	if (o->duration > 0)
		end = start + (uint64_t)(o->duration * 1e9);
	for (uint64_t iter = 0; iter < MAX_ITERATIONS && !g_stop; iter++) {
		uint64_t now = mono_ns(), due;
		struct iovec iov;
		int err;

		if (now >= end || (o->count > 0 && seq >= o->count))
			break;
		if (!pending) {
			len = next_message(r, buf, r->stride, seq);
			if (len <= 0)
				return (int)len;
			pending = true;
		}
		due = start + (uint64_t)((double)offset * 8e9 / o->bitrate);
		if (now < due) {
			sleep_until(due < end ? due : end);
			continue;
		}
		if (now - due > BITRATE_SLACK_NS)
			start += now - due - BITRATE_SLACK_NS;	/* slip, do not burst */
		iov = (struct iovec){ .iov_base = buf, .iov_len = (size_t)len };
		err = pub_sink_send(r->sink, &iov, 1, st);
		if (err < 0)
			return err;
		offset += (uint64_t)len;
		pending = false;
		seq++;
	}
	return 0;
}

/* One uplink message for --demo game. */
static void demo_input(void *arg, uint32_t id, const uint8_t *data, size_t len)
{
	struct pub_run *r = arg;

	(void)id;
	pub_demo_input(r->demo, data, len, (mono_ns() - r->start_ns) / 1000000u);
}

/* Main loop for --rate pacing. Returns 0 or negative errno. */
static int publish_rate(struct pub_run *r, uint8_t *bufs, unsigned batch, struct sink_stats *st)
{
	const struct pub_opts *o = r->o;
	struct iovec iov[MAX_BATCH];
	uint64_t start = r->start_ns, end = UINT64_MAX, sched = 0, seq = 0;
	uint64_t max_burst;
	bool eof = false;

	/* Bounded catch-up: 10 ms worth, at least a few messages. */
	max_burst = (uint64_t)(o->rate / 100.0);
	if (max_burst < 4)
		max_burst = 4;
	if (o->duration > 0)
		end = start + (uint64_t)(o->duration * 1e9);

	for (uint64_t iter = 0; iter < MAX_ITERATIONS && !g_stop && !eof; iter++) {
		uint64_t now = mono_ns();
		uint64_t due = batch;
		unsigned n = 0;
		int err;

		/* Players' input that came since the last tick moves the game
		 * before its next state goes out. */
		if (r->uplink && !r->uplink_broken && pub_uplink_poll(r->uplink, demo_input, r) < 0)
			r->uplink_broken = true;	/* the stream broke; the sends will tell */

		if (now >= end)
			break;
		if (o->count > 0 && seq >= o->count)
			break;
		if (o->rate > 0) {
			/* Slot k is due at start + k/rate, so the first message
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
			uint8_t *b = bufs + (size_t)n * r->stride;
			ssize_t len = next_message(r, b, r->stride, seq);

			if (len < 0)
				return (int)len;
			if (len == 0) {
				eof = true;
				break;
			}
			iov[n] = (struct iovec){ .iov_base = b, .iov_len = (size_t)len };
			seq++;
		}
		sched += n;
		if (n > 0) {
			err = pub_sink_send(r->sink, iov, n, st);
			if (err < 0)
				return err;
		}
	}
	return 0;
}

/* Sets up buffers and runs the right loop. Returns 0 or negative errno. */
static int publish(struct pub_run *r, struct sink_stats *st)
{
	const struct pub_opts *o = r->o;
	unsigned batch = MAX_BATCH;
	uint8_t *bufs = NULL;
	int err;

	r->stride = o->source == SRC_DEMO ? pub_demo_frame_max(r->demo) : o->size;
	if (r->stride * batch > BATCH_BYTES)
		batch = (unsigned)(BATCH_BYTES / r->stride) ? (unsigned)(BATCH_BYTES / r->stride) : 1;
	bufs = malloc(r->stride * batch);
	if (bufs == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	/* The seq pattern's filler is written once; only headers change. */
	for (unsigned i = 0; i < batch; i++)
		payload_fill(bufs + (size_t)i * r->stride, 0, r->stride);
	r->rng = UINT64_C(0x9E3779B97F4A7C15);
	r->start_ns = mono_ns();
	if (o->bitrate > 0)
		err = publish_bitrate(r, bufs, st);
	else
		err = publish_rate(r, bufs, batch, st);
	if (err < 0)
		goto fail;
	free(bufs);
	return 0;

fail:
	free(bufs);
	return err;
}

/* Opens the input file (--file). Returns the fd or -1 after printing why. */
static int open_input(const struct pub_opts *o)
{
	struct stat sb;
	uint8_t first;
	int fd = open(o->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "ringcast-pub: %s: %s\n", o->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0) {
		fprintf(stderr, "ringcast-pub: %s: file is empty\n", o->path);
		close(fd);
		return -1;
	}
	/* 0x47 is the MPEG-TS sync byte; a gentle hint saves a person from
	 * splitting TS packets across datagrams. */
	if (pread(fd, &first, 1, 0) == 1 && first == 0x47 && o->size % 188 != 0)
		fprintf(stderr, "ringcast-pub: note: %s looks like MPEG-TS; "
			"--size 1316 keeps 188-byte packets whole\n", o->path);
	return fd;
}

static int open_sink(const struct pub_opts *o, struct pub_sink *sink)
{
	switch (o->transport) {
	case SINK_UDP:
		return pub_sink_open_udp(sink, o->dest, &g_stop);
	case SINK_TCP:
		return pub_sink_open_tcp(sink, o->dest, o->channel, o->framed, &g_stop);
	case SINK_HTTP:
		return pub_sink_open_http(sink, o->dest, o->channel, &g_stop);
	}
	return -EINVAL;
}

static void print_summary(const struct pub_opts *o, const struct pub_sink *sink,
			  const struct sink_stats *st, double secs)
{
	double rate = secs > 0 ? (double)st->sent / secs : 0.0;
	double mbs = secs > 0 ? (double)st->bytes / secs / 1e6 : 0.0;

	if (o->transport == SINK_UDP)
		printf("ringcast-pub: sent %" PRIu64 " datagrams, %" PRIu64 " bytes to %s in %.3f s "
		       "(%.1f datagrams/s, %.3f MB/s); %" PRIu64 " refused, %" PRIu64
		       " dropped locally\n",
		       st->sent, st->bytes, sink->where, secs, rate, mbs, st->refused, st->dropped);
	else
		printf("ringcast-pub: sent %" PRIu64 " messages, %" PRIu64 " bytes to %s%s%s in "
		       "%.3f s (%.1f messages/s, %.3f MB/s)%s%s\n",
		       st->sent, st->bytes, sink->where,
		       o->transport == SINK_TCP ? (o->framed ? " framed, channel " : " raw, channel ")
						: "",
		       o->transport == SINK_TCP ? o->channel : "", secs, rate, mbs,
		       sink->answer[0] ? "; gateway: " : "", sink->answer);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct pub_opts o;
	struct pub_run run = { 0 };
	struct sink_stats st = { 0 };
	struct pub_sink sink = { .fd = -1 };
	struct sigaction sa;
	uint64_t t0, t1;
	int in_fd = -1, r, ret = EXIT_RUNTIME;

	r = parse_args(argc, argv, &o);
	if (r < 0)
		return 0;
	if (r > 0)
		return r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: blocking calls must see EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A closed stdout must not kill us before the summary's write fails
	 * quietly; sockets use MSG_NOSIGNAL. */
	signal(SIGPIPE, SIG_IGN);

	run.o = &o;
	run.sink = &sink;
	if (o.source == SRC_FILE) {
		in_fd = open_input(&o);
		if (in_fd < 0)
			goto out;
	} else if (o.source == SRC_STDIN) {
		in_fd = STDIN_FILENO;
	} else if (o.source == SRC_DEMO) {
		run.demo = malloc(sizeof(*run.demo));
		if (run.demo == NULL) {
			fprintf(stderr, "ringcast-pub: out of memory\n");
			goto out;
		}
		pub_demo_init(run.demo, o.dots);
	}
	run.in_fd = in_fd;

	r = open_sink(&o, &sink);
	if (r < 0) {
		ret = r == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
		goto out;
	}

	/* The game reads its players' input from the channel's uplink, where
	 * the gateway has one for this transport (uplink.h in the gateway). */
	if (o.source == SRC_DEMO && (sink.kind == SINK_UDP || (sink.kind == SINK_TCP && sink.framed))) {
		run.uplink = calloc(1, sizeof(*run.uplink));
		if (run.uplink) {
			run.uplink->fd = sink.fd;
			run.uplink->stream = sink.kind == SINK_TCP;
		}
	}
	t0 = mono_ns();
	r = publish(&run, &st);
	if (r == 0)
		r = pub_sink_finish(&sink);
	t1 = mono_ns();
	print_summary(&o, &sink, &st, (double)(t1 - t0) / 1e9);
	if (run.demo && run.demo->inputs)
		printf("ringcast-pub: %" PRIu64 " players' inputs moved dot 0\n", run.demo->inputs);
	if (r < 0)
		goto out;	/* already explained by the sink or the input */
	ret = 0;
out:
	pub_sink_close(&sink);
	if (in_fd > STDIN_FILENO)
		close(in_fd);
	free(run.demo);
	free(run.uplink);
	return ret;
}
