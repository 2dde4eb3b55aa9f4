/* ringcast-sub: a command-line WebSocket subscriber for a ringcast gateway.
 *
 * Connects to ws://HOST[:PORT]/ws/CHANNEL with libwebsockets (the same
 * independent client the integration tests use) and, per message, prints it
 * (text as text, binary as a one-line hex summary), writes its raw bytes to
 * a file or standard output (--out), or only counts it (--stats prints a
 * line per second). One thread, one connection; everything it needs lives
 * in struct sub, passed to lws as the connection's opaque user data. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "rc_version.h"
#include "num.h"
#include "url.h"

#define EXIT_OK 0
#define EXIT_FAILED 1	/* connection failed, abnormal close, output error */
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3	/* --timeout passed before --count messages */

/* lws_service() sleeps until its next scheduled event; this self-rearming
 * timer makes it return at least this often so signals, --timeout and the
 * --stats clock are looked at. */
#define TICK_US (50 * LWS_US_PER_MS)
/* After we start a close, how long the close handshake may take. */
#define CLOSE_WAIT_MS 2000
#define HEX_BYTES 16	/* bytes shown of a binary message */
#define RX_BUFFER 65536

enum sub_phase { PH_CONNECTING, PH_OPEN, PH_CLOSING, PH_DONE };

/* Why the run ended; decides the exit status. */
enum sub_end {
	END_NONE,
	END_COUNT,		/* --count reached */
	END_SIGNAL,		/* Ctrl-C / SIGTERM */
	END_TIMEOUT,		/* --timeout */
	END_READER_GONE,	/* stdout's reader went away (EPIPE) */
	END_OUTPUT_ERROR,
	END_PEER_CLOSED,	/* close frame from the server */
	END_LOST,		/* connection dropped without a close frame */
	END_CONNECT_FAILED,
};

struct sub_opts {
	const char *url;
	uint64_t count;		/* 0 = until closed */
	bool stats;
	const char *out_path;	/* NULL: print messages; "-": stdout */
	double timeout;		/* seconds; 0 = none */
};

struct sub {
	const struct sub_opts *o;
	struct url url;
	struct lws_context *ctx;
	struct lws *wsi;
	lws_sorted_usec_list_t tick;
	enum sub_phase phase;
	enum sub_end end;
	FILE *out;		/* payloads or printed messages; NULL with --stats alone */
	FILE *info;		/* --stats lines */
	/* the message being received */
	bool msg_binary;
	uint64_t msg_len;
	unsigned char head[HEX_BYTES];
	/* counters */
	uint64_t msgs, bytes;
	uint64_t last_msgs, last_bytes;	/* at the previous stats line */
	int64_t start_ms, last_ms;
	int close_code;		/* from the server's close frame; -1: none */
	char err[200];
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage_short(FILE *f)
{
	fprintf(f, "usage: ringcast-sub URL [--count N] [--stats] [--out FILE|-] [--timeout SEC]\n"
		   "                    [--help] [--version]\n");
}

static void usage_long(void)
{
	usage_short(stdout);
	printf("\n"
	       "NAME\n"
	       "    ringcast-sub - subscribe to a ringcast channel over WebSocket\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Connects to URL, ws://HOST[:PORT]/ws/CHANNEL (port 80 when not given;\n"
	       "    IPv6 as ws://[::1]:8080/ws/live; wss:// is not supported, ringcast\n"
	       "    serves plain WebSocket), and handles every message the channel carries:\n"
	       "    by default a text message is printed as it is, followed by a newline,\n"
	       "    and a binary message as one line \"binary N bytes: \" plus the hex of\n"
	       "    its first %d bytes. Runs until --count messages arrived, the server\n"
	       "    closes the connection, --timeout passes, or Ctrl-C (which closes the\n"
	       "    connection with 1000).\n"
	       "\n"
	       "OPTIONS\n"
	       "    -c, --count N         exit after N messages\n"
	       "    -s, --stats           print one line per second instead of the messages:\n"
	       "                          t=SECONDS, messages/s, kB/s (1 kB = 1000 bytes)\n"
	       "                          over that second, and the totals; a last line\n"
	       "                          with the totals at exit\n"
	       "    -o, --out FILE|-      write each message's payload bytes, text and\n"
	       "                          binary alike, to FILE (created or truncated) or,\n"
	       "                          with -, to standard output with nothing else on\n"
	       "                          it (--stats lines then go to standard error), e.g.\n"
	       "                          ringcast-sub ws://127.0.0.1:8080/ws/live --out - | ffplay -\n"
	       "    -t, --timeout SEC     give up after SEC seconds (fractions allowed)\n"
	       "    -h, --help            show this help and exit\n"
	       "    -V, --version         show the version and exit\n"
	       "\n"
	       "    When the reader of standard output goes away (the player was closed)\n"
	       "    ringcast-sub closes the connection and exits quietly with 0.\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0   --count messages arrived, the server closed the connection cleanly\n"
	       "        (close code 1000, or 1001 when it shuts down), Ctrl-C, --timeout\n"
	       "        without --count, or the reader of standard output went away\n"
	       "    1   the connection failed (name not resolved, refused, handshake\n"
	       "        refused e.g. 404 for a path that is not /ws/...), it closed\n"
	       "        abnormally (another close code, or no close frame), or writing\n"
	       "        the output failed\n"
	       "    2   usage error, including a URL that is not ws://HOST[:PORT]/PATH\n"
	       "    3   --timeout passed before --count messages arrived\n"
	       "\n"
	       "EXAMPLES\n"
	       "    ringcast-sub ws://127.0.0.1:8080/ws/game --count 10\n"
	       "    ringcast-sub ws://127.0.0.1:8080/ws/live --stats\n"
	       "    ringcast-sub ws://127.0.0.1:8080/ws/live --out capture.ts --timeout 60\n",
	       HEX_BYTES);
}

/* Returns 0 when the options are usable, EXIT_USAGE after printing why not,
 * or -1 when --help/--version already did the job. */
static int parse_args(int argc, char **argv, struct sub_opts *o, struct url *u)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "stats", no_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c, r;

	*o = (struct sub_opts){ 0 };
	while ((c = getopt_long(argc, argv, "c:so:t:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (rc_num_parse_u64(optarg, 1, UINT64_MAX, &o->count) < 0) {
				fprintf(stderr, "ringcast-sub: bad --count '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			o->stats = true;
			break;
		case 'o':
			if (*optarg == '\0') {
				fprintf(stderr, "ringcast-sub: --out needs a file name or -\n");
				return EXIT_USAGE;
			}
			o->out_path = optarg;
			break;
		case 't':
			errno = 0;
			o->timeout = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || errno != 0 || !isfinite(o->timeout) ||
			    o->timeout <= 0 || o->timeout > 1e7) {
				fprintf(stderr, "ringcast-sub: bad --timeout '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage_long();
			return -1;
		case 'V':
			printf("ringcast-sub %s\n", RC_VERSION);
			return -1;
		default:
			usage_short(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ringcast-sub: no URL given\n");
		usage_short(stderr);
		return EXIT_USAGE;
	}
	if (argc - optind > 1) {
		fprintf(stderr, "ringcast-sub: unexpected argument '%s'\n", argv[optind + 1]);
		usage_short(stderr);
		return EXIT_USAGE;
	}
	o->url = argv[optind];
	r = url_parse(o->url, "ws", 80, u);
	if (r == -EPROTONOSUPPORT && strncasecmp(o->url, "wss://", 6) == 0) {
		fprintf(stderr, "ringcast-sub: wss:// (TLS) is not supported; ringcast serves "
			"ws://, put TLS in a proxy in front of it\n");
		return EXIT_USAGE;
	}
	if (r < 0) {
		fprintf(stderr, "ringcast-sub: bad URL '%s' (want ws://HOST[:PORT]/ws/CHANNEL)\n",
			o->url);
		return EXIT_USAGE;
	}
	return 0;
}

/* Notes an output failure: a reader that went away ends the run quietly,
 * anything else is reported. */
static void output_failed(struct sub *s)
{
	if (errno == EPIPE) {
		s->end = END_READER_GONE;
	} else {
		fprintf(stderr, "ringcast-sub: writing %s: %s\n",
			s->o->out_path && strcmp(s->o->out_path, "-") ? s->o->out_path
								       : "standard output",
			strerror(errno));
		s->end = END_OUTPUT_ERROR;
	}
}

/* Asks lws for a writeable callback, where the close frame goes out. */
static void start_close(struct sub *s, enum sub_end why)
{
	if (s->end == END_NONE)
		s->end = why;
	if (s->phase == PH_OPEN && s->wsi) {
		s->phase = PH_CLOSING;
		lws_callback_on_writable(s->wsi);
	} else if (s->phase == PH_CONNECTING) {
		s->phase = PH_DONE;	/* nothing to close politely */
	}
}

static void stats_line(struct sub *s, int64_t now, bool final)
{
	double secs = (double)(now - s->last_ms) / 1000.0;
	double total = (double)(now - s->start_ms) / 1000.0;

	if (final)
		fprintf(s->info, "total %" PRIu64 " msgs %" PRIu64 " bytes in %.1f s\n", s->msgs,
			s->bytes, total);
	else
		fprintf(s->info, "t=%.0fs %.1f msg/s %.1f kB/s total %" PRIu64 " msgs %" PRIu64
			" bytes\n", total, secs > 0 ? (double)(s->msgs - s->last_msgs) / secs : 0.0,
			secs > 0 ? (double)(s->bytes - s->last_bytes) / secs / 1000.0 : 0.0, s->msgs,
			s->bytes);
	if (fflush(s->info) != 0 && s->info == stdout)
		output_failed(s);
	s->last_ms = now;
	s->last_msgs = s->msgs;
	s->last_bytes = s->bytes;
}

/* True when stdout is a pipe or socket whose reader has gone away. A
 * write would say so too, but a quiet channel may not write for a long
 * time, and a closed player should not leave us running. */
static bool reader_gone(void)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct sub *s = lws_container_of(sul, struct sub, tick);
	int64_t now = now_ms();

	if (s->out == stdout && s->end == END_NONE && reader_gone()) {
		s->end = END_READER_GONE;
		start_close(s, s->end);
	}
	if (s->o->stats && s->phase == PH_OPEN && now - s->last_ms >= 1000)
		stats_line(s, now, false);
	lws_sul_schedule(s->ctx, 0, &s->tick, tick_cb, TICK_US);
}

/* Prints a finished binary message in the default mode. */
static int print_binary(struct sub *s)
{
	uint64_t shown = s->msg_len < HEX_BYTES ? s->msg_len : HEX_BYTES;

	if (fprintf(s->out, "binary %" PRIu64 " bytes:", s->msg_len) < 0)
		return -1;
	for (uint64_t i = 0; i < shown; i++)
		if (fprintf(s->out, " %02x", s->head[i]) < 0)
			return -1;
	return fputs(s->msg_len > shown ? " ...\n" : "\n", s->out) < 0 ? -1 : 0;
}

/* One piece of a message arrived. Pieces are written as they come (no
 * reassembly), so a message of any size costs no memory. */
static void on_receive(struct sub *s, struct lws *wsi, const void *in, size_t len)
{
	bool raw = s->o->out_path != NULL;

	if (s->end != END_NONE)
		return;	/* past --count, or closing: nothing more is output */
	if (lws_is_first_fragment(wsi)) {
		s->msg_binary = lws_frame_is_binary(wsi);
		s->msg_len = 0;
	}
	if (s->out && len > 0) {
		if (raw || !s->msg_binary) {
			if (fwrite(in, 1, len, s->out) != len)
				goto fail;
		} else if (s->msg_len < HEX_BYTES) {
			size_t take = HEX_BYTES - s->msg_len < len ? HEX_BYTES - s->msg_len : len;

			memcpy(s->head + s->msg_len, in, take);
		}
	}
	s->msg_len += len;
	s->bytes += len;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
		return;
	s->msgs++;
	if (s->out) {
		if (!raw && (s->msg_binary ? print_binary(s) : (fputc('\n', s->out) == EOF ? -1 : 0)))
			goto fail;
		/* Per message, so a player downstream gets data as it comes. */
		if (fflush(s->out) != 0)
			goto fail;
	}
	if (s->o->count && s->msgs >= s->o->count)
		start_close(s, END_COUNT);
	return;
fail:
	output_failed(s);
	start_close(s, s->end);
}

static int sub_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct sub *s = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	if (s == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->phase = PH_OPEN;
		s->start_ms = s->last_ms = now_ms();
		if (s->end != END_NONE)	/* a signal came while connecting */
			start_close(s, s->end);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		on_receive(s, wsi, in, len);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* RFC 6455 7.1.5: no status in the frame reads as 1005. */
		s->close_code = len >= 2 && in ? (((const unsigned char *)in)[0] << 8) |
							 ((const unsigned char *)in)[1]
					       : 1005;
		if (s->end == END_NONE)
			s->end = END_PEER_CLOSED;
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (s->phase == PH_CLOSING) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(s->err, sizeof(s->err), "%s", in ? (const char *)in : "connection error");
		if (s->end == END_NONE || s->end == END_SIGNAL)
			s->end = END_CONNECT_FAILED;
		s->phase = PH_DONE;
		s->wsi = NULL;
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (s->end == END_NONE)
			s->end = END_LOST;
		s->phase = PH_DONE;
		s->wsi = NULL;
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (s->wsi == wsi || s->wsi == NULL) {
			if (s->phase == PH_CONNECTING && s->end == END_NONE) {
				s->end = END_CONNECT_FAILED;
				if (!s->err[0])
					snprintf(s->err, sizeof(s->err), "connection closed");
			} else if (s->end == END_NONE) {
				s->end = END_LOST;
			}
			s->phase = PH_DONE;
			s->wsi = NULL;
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ .name = "ringcast-sub", .callback = sub_cb, .rx_buffer_size = RX_BUFFER },
	{ .name = NULL, .callback = NULL },
};

/* Creates the lws context and starts connecting. Returns 0 or -1 after
 * printing why. */
static int sub_connect(struct sub *s)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;

	/* lws's own log lines would interleave with ours; our messages say
	 * what went wrong. */
	lws_set_log_level(0, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	s->ctx = lws_create_context(&info);
	if (s->ctx == NULL) {
		fprintf(stderr, "ringcast-sub: cannot create the libwebsockets context\n");
		return -1;
	}
	lws_sul_schedule(s->ctx, 0, &s->tick, tick_cb, TICK_US);

	memset(&ci, 0, sizeof(ci));
	ci.context = s->ctx;
	ci.address = s->url.host;
	ci.port = s->url.port;
	ci.path = s->url.path;
	ci.host = s->url.authority;
	ci.origin = s->url.authority;
	/* No subprotocol: ringcast negotiates none, and asking for one would
	 * make lws refuse the handshake. */
	ci.protocol = NULL;
	ci.local_protocol_name = protocols[0].name;
	ci.ietf_version_or_minus_one = -1;
	ci.opaque_user_data = s;
	ci.pwsi = &s->wsi;
	s->phase = PH_CONNECTING;
	if (lws_client_connect_via_info(&ci) == NULL && s->phase == PH_CONNECTING) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;

		s->phase = PH_DONE;
		s->end = END_CONNECT_FAILED;
		/* lws does not say why; the usual reason is a name that does
		 * not resolve, so check that to give a useful message. */
		if (getaddrinfo(s->url.host, NULL, &hints, &res) != 0)
			snprintf(s->err, sizeof(s->err), "cannot resolve '%.150s'", s->url.host);
		else if (!s->err[0])
			snprintf(s->err, sizeof(s->err), "cannot start the connection");
		if (res)
			freeaddrinfo(res);
	}
	return 0;
}

/* Services the connection until the run ends. */
static void sub_run(struct sub *s)
{
	int64_t deadline = s->o->timeout > 0 ? now_ms() + (int64_t)(s->o->timeout * 1000) : 0;
	int64_t close_by = 0;

	/* Each lws_service() returns within TICK_US, so the clock checks
	 * bound this; the count is a backstop only. */
	for (uint64_t iter = 0; iter < (UINT64_C(1) << 40) && s->phase != PH_DONE; iter++) {
		int64_t now = now_ms();

		if (g_stop && s->end == END_NONE)
			start_close(s, END_SIGNAL);
		if (deadline && now >= deadline && s->end == END_NONE) {
			if (s->phase == PH_CONNECTING) {
				snprintf(s->err, sizeof(s->err), "no connection within --timeout");
				s->end = END_CONNECT_FAILED;
				break;
			}
			start_close(s, END_TIMEOUT);
		}
		if (s->phase == PH_CLOSING || s->end == END_READER_GONE) {
			if (close_by == 0)
				close_by = now + CLOSE_WAIT_MS;
			else if (now >= close_by)
				break;	/* the server did not finish the close */
		}
		if (s->phase == PH_DONE || lws_service(s->ctx, 0) < 0)
			break;
	}
}

/* The exit status for how the run ended, after saying why when it is not
 * obvious. */
static int sub_verdict(const struct sub *s)
{
	switch (s->end) {
	case END_COUNT:
	case END_SIGNAL:
	case END_READER_GONE:
		return EXIT_OK;
	case END_TIMEOUT:
		if (s->o->count == 0)
			return EXIT_OK;
		fprintf(stderr, "ringcast-sub: --timeout after %" PRIu64 " of %" PRIu64
			" messages\n", s->msgs, s->o->count);
		return EXIT_TIMEOUT;
	case END_PEER_CLOSED:
		if (s->close_code == 1000 || s->close_code == 1001) {
			fprintf(stderr, "ringcast-sub: the server closed the connection (%d) after %"
				PRIu64 " messages\n", s->close_code, s->msgs);
			return EXIT_OK;
		}
		fprintf(stderr, "ringcast-sub: the server closed the connection with code %d "
			"after %" PRIu64 " messages\n", s->close_code, s->msgs);
		return EXIT_FAILED;
	case END_LOST:
	case END_NONE:
		fprintf(stderr, "ringcast-sub: connection lost without a close frame after %"
			PRIu64 " messages\n", s->msgs);
		return EXIT_FAILED;
	case END_CONNECT_FAILED:
		fprintf(stderr, "ringcast-sub: %s: %s\n", s->o->url, s->err);
		return EXIT_FAILED;
	case END_OUTPUT_ERROR:
		return EXIT_FAILED;
	}
	return EXIT_FAILED;
}

int main(int argc, char **argv)
{
	struct sub_opts o;
	struct sub *s;
	struct sigaction sa;
	int r, ret = EXIT_FAILED;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		fprintf(stderr, "ringcast-sub: out of memory\n");
		return EXIT_FAILED;
	}
	r = parse_args(argc, argv, &o, &s->url);
	if (r != 0) {
		free(s);
		return r < 0 ? EXIT_OK : r;
	}
	s->o = &o;
	s->close_code = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: poll() must return */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A reader that goes away shows up as EPIPE from the write. */
	signal(SIGPIPE, SIG_IGN);

	s->info = stdout;
	if (o.out_path && strcmp(o.out_path, "-") == 0) {
		s->out = stdout;
		s->info = stderr;	/* stdout carries payload bytes only */
	} else if (o.out_path) {
		s->out = fopen(o.out_path, "wb");
		if (s->out == NULL) {
			fprintf(stderr, "ringcast-sub: %s: %s\n", o.out_path, strerror(errno));
			goto out;
		}
	} else if (!o.stats) {
		s->out = stdout;
	}

	if (sub_connect(s) == 0) {
		sub_run(s);
		if (o.stats && s->start_ms && s->end != END_READER_GONE)
			stats_line(s, now_ms(), true);
		ret = sub_verdict(s);
	}
	if (s->ctx)
		lws_context_destroy(s->ctx);
	if (s->out && s->out != stdout && fclose(s->out) != 0 && ret == EXIT_OK) {
		fprintf(stderr, "ringcast-sub: %s: %s\n", o.out_path, strerror(errno));
		ret = EXIT_FAILED;
	}
out:
	free(s);
	return ret;
}
