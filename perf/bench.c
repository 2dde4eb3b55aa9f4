/* ringcast-bench: WebSocket fan-out load generator and meter.
 *
 * Opens N subscribers, publishes paced UDP datagrams carrying a sequence
 * number and a CLOCK_MONOTONIC send time, and measures what every subscriber
 * receives: counts, loss, reordering and latency, plus CPU of both sides.
 * Options and their defaults are listed in usage_long(). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include "bench.h"
#include "bench_ramp.h"
#include "hostport.h"
#include "payload.h"
#include "rc_version.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define RX_BUF (256u << 10)
#define FD_RESERVE 32		/* fds besides subscribers: epoll, UDP, stdio, /proc files */
#define RAMP_MAX_STEPS 60

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage_short(FILE *f)
{
	fprintf(f, "usage: ringcast-bench --port WSPORT\n"
		   "                      --udp-port PORT | --udp-ports P0,P1,... | --pub-ws PREFIX\n"
		   "                      | --pub-tcp PORT\n"
		   "                      [--host HOST] [-n SUBSCRIBERS] [--channels K | --channel NAME]\n"
		   "                      [--rate MSG/S] [--duration SEC] [--size BYTES] [--drain SEC]\n"
		   "                      [--ramp [--step-duration SEC]] [--server-pid PID]\n"
		   "                      [--json FILE] [--help] [--version]\n");
}

static void usage_long(void)
{
	usage_short(stdout);
	printf("\n"
	       "NAME\n"
	       "    ringcast-bench - measure a ringcast gateway's fan-out throughput and latency\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Opens SUBSCRIBERS WebSocket connections to ws://HOST:WSPORT/ws/<channel>,\n"
	       "    then publishes UDP datagrams (with --pub-ws: WebSocket frames, with\n"
	       "    --pub-tcp: framed TCP messages) to the gateway at a fixed rate and\n"
	       "    counts what every subscriber receives. Each payload starts with a\n"
	       "    big-endian u64 sequence number (per channel) and a big-endian u64\n"
	       "    CLOCK_MONOTONIC send time in ns; latency is receive time minus send time\n"
	       "    (same host).\n"
	       "    Runs in one thread with epoll; its own CPU use is reported.\n"
	       "\n"
	       "OPTIONS\n"
	       "    --host HOST            gateway address for WebSocket, UDP and TCP (default\n"
	       "                           127.0.0.1)\n"
	       "    --port PORT            WebSocket (HTTP) port, required\n"
	       "    --udp-port PORT        UDP ingest port of the single channel\n"
	       "    --udp-ports P0,P1,...  one UDP port per channel, in channel order\n"
	       "    --pub-ws PREFIX        publish over WebSocket instead of UDP, for servers\n"
	       "                           without UDP ingest (nchan): one connection per channel\n"
	       "                           to ws://HOST:WSPORT/PREFIX<channel> (PREFIX starts with\n"
	       "                           /, e.g. /pub/), each message one masked binary frame\n"
	       "                           with the same payload; the server's replies are\n"
	       "                           read and dropped\n"
	       "    --pub-tcp PORT         publish over ringcast's TCP ingest (ringcast --tcp)\n"
	       "                           instead of UDP: one connection per channel to\n"
	       "                           HOST:PORT, opened with 'PUB <channel> framed' and\n"
	       "                           publishing only after ringcast's 'OK' (an 'ERR ...'\n"
	       "                           answer ends the tool with exit 1, showing it); each\n"
	       "                           message one framed message (4-byte big-endian\n"
	       "                           length, then the same payload)\n"
	       "    -n, --subscribers N    WebSocket subscribers (default 100, max %d)\n"
	       "    --channels K           spread subscribers round-robin over channels\n"
	       "                           bench0..bench<K-1> (default 1); needs --udp-ports\n"
	       "                           (or --pub-ws, --pub-tcp) when K > 1\n"
	       "    --channel NAME         use one channel named NAME (default bench0)\n"
	       "    --tagged               each subscriber also joins a silent channel, so ringcast\n"
	       "                           labels every message (the cost of labelling)\n"
	       "    --meta                 subscribe with ?meta=1: ringcast sends each message's\n"
	       "                           position label before it (the cost of positions)\n"
	       "    --deflate              offer permessage-deflate and inflate what comes\n"
	       "                           compressed (the cost of compression)\n"
	       "    --payload-file FILE    payload bytes from FILE (its first --size bytes, the\n"
	       "                           first 16 replaced by sequence and time) instead of the\n"
	       "                           filler: real messages, e.g. JSON, for compression\n"
	       "    --src-addrs M          bind subscribers to 127.0.0.1..127.0.0.M (IPv4 only;\n"
	       "                           default: enough that each has < %d connections)\n"
	       "    --rate R               messages/s over all channels, round-robin\n"
	       "                           (default 1000); with --ramp the first step's rate\n"
	       "    --duration SEC         publishing time (default 10, max %.0f)\n"
	       "    --size BYTES           payload size, 16..65507 (default 64)\n"
	       "    --drain SEC            wait for in-flight messages after publishing\n"
	       "                           (default 2)\n"
	       "    --ramp                 runs of --step-duration at rising rates (x1.5 per\n"
	       "                           step) until --ramp-patience steps in a row fail\n"
	       "                           (loss >= --max-loss or p99 >= --max-p99-ms);\n"
	       "                           reports the highest rate that met both\n"
	       "    --step-duration SEC    ramp step length (default 3)\n"
	       "    --ramp-factor F        rate multiplier per step (default 1.5)\n"
	       "    --ramp-refine N        after the climb ends, N more steps at the\n"
	       "                           geometric middle of the best pass and the lowest\n"
	       "                           failure above it (default 2; 0: none)\n"
	       "    --ramp-patience N      failing steps in a row that end the climb (default 2;\n"
	       "                           1: the first failure). With many subscribers a\n"
	       "                           server can fail at a low rate, where every send\n"
	       "                           carries one message, and pass at a higher one\n"
	       "    --max-loss PCT         ramp loss limit in percent (default 0.1)\n"
	       "    --max-p99-ms MS        ramp p99 latency limit (default 50)\n"
	       "    --server-pid PID       report the server's CPU time and VmRSS from /proc\n"
	       "    --connect-parallel N   connects/handshakes in flight (default 256)\n"
	       "    --connect-timeout SEC  limit for opening all subscribers (default 60)\n"
	       "    --settle SEC           pause between connecting and publishing (default 0.5)\n"
	       "    --json FILE            also write the figures as JSON\n"
	       "    -h, --help, -V, --version\n"
	       "\n"
	       "OUTPUT\n"
	       "    published messages and achieved rate; deliveries (summed over\n"
	       "    subscribers), deliveries/s and payload MB/s over the window from first\n"
	       "    send to last delivery; loss = sum over subscribers of (messages published\n"
	       "    on its channel - messages it received); reordered = deliveries older than\n"
	       "    one already received; latency percentiles (log-linear histogram, < 0.8 %%\n"
	       "    error); CPU of the bench and (--server-pid) of the server.\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0 run completed, 1 runtime error (no subscriber could connect, ...), 2 usage\n",
	       BENCH_MAX_SUBSCRIBERS, BENCH_PORTS_PER_SRC, BENCH_MAX_DURATION);
}

/* Reads FILE (at most 65,507 bytes are used) into c->payload_src. The
 * buffer lives as long as the process. Returns 0 or -1. */
static int read_payload_file(const char *path, struct bench_config *c)
{
	static uint8_t buf[65507];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n < PAYLOAD_HDR_LEN)
		return -1;
	c->payload_src = buf;
	c->payload_src_len = n;
	return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int set_udp_ports(struct bench_config *c, const char *list, unsigned *nports)
{
	char buf[BENCH_MAX_CHANNELS * 6 + 1];
	char *save, *tok;
	unsigned n = 0;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		int p = hostport_parse_port(tok);

		if (p < 0 || n >= BENCH_MAX_CHANNELS)
			return -EINVAL;
		/* the address part is filled in once --host is known */
		((struct sockaddr_in *)&c->udp_addr[n])->sin_port = htons((uint16_t)p);
		n++;
	}
	*nports = n;
	return n > 0 ? 0 : -EINVAL;
}

/* Returns 0 when usable, EXIT_USAGE after printing why, -1 after --help. */
static int parse_args(int argc, char **argv, struct bench_config *c)
{
	enum {
		O_TAGGED = 250, O_META, O_DEFLATE, O_PAYLOAD,
		O_HOST = 256, O_PORT, O_UDP_PORT, O_UDP_PORTS, O_CHANNELS, O_CHANNEL, O_SRC,
		O_RATE, O_DURATION, O_SIZE, O_DRAIN, O_JSON, O_RAMP, O_STEP, O_FACTOR, O_REFINE, O_PATIENCE,
		O_MAXLOSS, O_MAXP99, O_PID, O_PAR, O_CTIMEOUT, O_SETTLE, O_PUB_WS, O_PUB_TCP,
	};
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, O_HOST },
		{ "port", required_argument, NULL, O_PORT },
		{ "udp-port", required_argument, NULL, O_UDP_PORT },
		{ "udp-ports", required_argument, NULL, O_UDP_PORTS },
		{ "pub-ws", required_argument, NULL, O_PUB_WS },
		{ "pub-tcp", required_argument, NULL, O_PUB_TCP },
		{ "subscribers", required_argument, NULL, 'n' },
		{ "channels", required_argument, NULL, O_CHANNELS },
		{ "channel", required_argument, NULL, O_CHANNEL },
		{ "src-addrs", required_argument, NULL, O_SRC },
		{ "tagged", no_argument, NULL, O_TAGGED },
		{ "meta", no_argument, NULL, O_META },
		{ "deflate", no_argument, NULL, O_DEFLATE },
		{ "payload-file", required_argument, NULL, O_PAYLOAD },
		{ "rate", required_argument, NULL, O_RATE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "size", required_argument, NULL, O_SIZE },
		{ "drain", required_argument, NULL, O_DRAIN },
		{ "json", required_argument, NULL, O_JSON },
		{ "ramp", no_argument, NULL, O_RAMP },
		{ "step-duration", required_argument, NULL, O_STEP },
		{ "ramp-factor", required_argument, NULL, O_FACTOR },
		{ "ramp-refine", required_argument, NULL, O_REFINE },
		{ "ramp-patience", required_argument, NULL, O_PATIENCE },
		{ "max-loss", required_argument, NULL, O_MAXLOSS },
		{ "max-p99-ms", required_argument, NULL, O_MAXP99 },
		{ "server-pid", required_argument, NULL, O_PID },
		{ "connect-parallel", required_argument, NULL, O_PAR },
		{ "connect-timeout", required_argument, NULL, O_CTIMEOUT },
		{ "settle", required_argument, NULL, O_SETTLE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host = "127.0.0.1", *channel = NULL;
	int ws_port = -1, udp_port = -1, tcp_port = -1;
	unsigned nports = 0, channels = 1;
	double v;
	int opt;

	*c = (struct bench_config){
		.subscribers = 100, .rate = 1000, .duration = 10, .size = 64, .drain = 2,
		.step_duration = 3, .ramp_factor = 1.5, .ramp_refine = 2, .ramp_patience = 2, .max_loss_pct = 0.1, .max_p99_ms = 50,
		.connect_parallel = 256, .connect_timeout = 60, .settle = 0.5,
	};
	while ((opt = getopt_long(argc, argv, "n:hV", longopts, NULL)) != -1) {
		const char *bad = NULL;

		switch (opt) {
		case O_HOST: host = optarg; break;
		case O_PORT:
			if ((ws_port = hostport_parse_port(optarg)) < 0)
				bad = "--port";
			break;
		case O_UDP_PORT:
			if ((udp_port = hostport_parse_port(optarg)) < 0)
				bad = "--udp-port";
			break;
		case O_UDP_PORTS:
			if (set_udp_ports(c, optarg, &nports) < 0)
				bad = "--udp-ports";
			break;
		case O_PUB_WS:
			/* Goes into the request line: a path, nothing that
			 * could end or bend it. */
			if (optarg[0] != '/' || strlen(optarg) >= BENCH_PUB_PATH_MAX ||
			    strpbrk(optarg, " ?#%\r\n\t") != NULL)
				bad = "--pub-ws";
			c->pub_ws = optarg;
			break;
		case O_PUB_TCP:
			/* A port on --host, as --udp-port is: one gateway. */
			if ((tcp_port = hostport_parse_port(optarg)) < 0)
				bad = "--pub-tcp";
			break;
		case 'n':
			if (parse_num(optarg, 1, BENCH_MAX_SUBSCRIBERS, &v) < 0)
				bad = "--subscribers";
			c->subscribers = (unsigned)v;
			break;
		case O_CHANNELS:
			if (parse_num(optarg, 1, BENCH_MAX_CHANNELS, &v) < 0)
				bad = "--channels";
			channels = (unsigned)v;
			break;
		case O_CHANNEL:
			if (strlen(optarg) == 0 || strlen(optarg) >= BENCH_CHANNEL_NAME_MAX ||
			    strpbrk(optarg, " /?#%\r\n\t") != NULL)
				bad = "--channel";
			channel = optarg;
			break;
		case O_TAGGED:
			c->tagged = true;
			break;
		case O_META:
			c->meta = true;
			break;
		case O_DEFLATE:
			c->deflate = true;
			break;
		case O_PAYLOAD:
			if (read_payload_file(optarg, c) < 0)
				bad = "--payload-file";
			break;
		case O_SRC:
			if (parse_num(optarg, 1, 65000, &v) < 0)
				bad = "--src-addrs";
			c->src_addrs = (unsigned)v;
			break;
		case O_RATE:
			if (parse_num(optarg, 0.1, 1e8, &c->rate) < 0)
				bad = "--rate";
			break;
		case O_DURATION:
			if (parse_num(optarg, 0.1, BENCH_MAX_DURATION, &c->duration) < 0)
				bad = "--duration";
			break;
		case O_SIZE:
			if (parse_num(optarg, PAYLOAD_HDR_LEN, 65507, &v) < 0)
				bad = "--size";
			c->size = (size_t)v;
			break;
		case O_DRAIN:
			if (parse_num(optarg, 0, 60, &c->drain) < 0)
				bad = "--drain";
			break;
		case O_JSON: c->json_path = optarg; break;
		case O_RAMP: c->ramp = true; break;
		case O_STEP:
			if (parse_num(optarg, 0.5, 60, &c->step_duration) < 0)
				bad = "--step-duration";
			break;
		case O_FACTOR:
			if (parse_num(optarg, 1.01, 10, &c->ramp_factor) < 0)
				bad = "--ramp-factor";
			break;
		case O_REFINE:
			if (parse_num(optarg, 0, 10, &v) < 0)
				bad = "--ramp-refine";
			c->ramp_refine = (unsigned)v;
			break;
		case O_PATIENCE:
			if (parse_num(optarg, 1, 10, &v) < 0)
				bad = "--ramp-patience";
			c->ramp_patience = (unsigned)v;
			break;
		case O_MAXLOSS:
			if (parse_num(optarg, 0, 100, &c->max_loss_pct) < 0)
				bad = "--max-loss";
			break;
		case O_MAXP99:
			if (parse_num(optarg, 0.001, 60000, &c->max_p99_ms) < 0)
				bad = "--max-p99-ms";
			break;
		case O_PID:
			if (parse_num(optarg, 1, 1 << 30, &v) < 0)
				bad = "--server-pid";
			c->server_pid = (pid_t)v;
			break;
		case O_PAR:
			if (parse_num(optarg, 1, 100000, &v) < 0)
				bad = "--connect-parallel";
			c->connect_parallel = (unsigned)v;
			break;
		case O_CTIMEOUT:
			if (parse_num(optarg, 0.1, BENCH_MAX_DURATION, &c->connect_timeout) < 0)
				bad = "--connect-timeout";
			break;
		case O_SETTLE:
			if (parse_num(optarg, 0, 60, &c->settle) < 0)
				bad = "--settle";
			break;
		case 'h':
			usage_long();
			return -1;
		case 'V':
			printf("ringcast-bench %s\n", RC_VERSION);
			return -1;
		default:
			usage_short(stderr);
			return EXIT_USAGE;
		}
		if (bad != NULL) {
			fprintf(stderr, "ringcast-bench: bad %s '%s'\n", bad, optarg);
			return EXIT_USAGE;
		}
	}
	if (c->payload_src && c->size > c->payload_src_len) {
		fprintf(stderr, "ringcast-bench: --size %zu is more than --payload-file has (%zu)\n",
			c->size, c->payload_src_len);
		return EXIT_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "ringcast-bench: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (ws_port < 0) {
		fprintf(stderr, "ringcast-bench: --port (WebSocket port) is required\n");
		return EXIT_USAGE;
	}
	if (channel != NULL && channels > 1) {
		fprintf(stderr, "ringcast-bench: --channel and --channels K>1 exclude each other\n");
		return EXIT_USAGE;
	}
	if (udp_port > 0 && nports > 0) {
		fprintf(stderr, "ringcast-bench: give --udp-port or --udp-ports, not both\n");
		return EXIT_USAGE;
	}
	if (c->pub_ws != NULL && tcp_port > 0) {
		fprintf(stderr, "ringcast-bench: give --pub-ws or --pub-tcp, not both\n");
		return EXIT_USAGE;
	}
	if ((c->pub_ws != NULL || tcp_port > 0) && (udp_port > 0 || nports > 0)) {
		fprintf(stderr, "ringcast-bench: %s publishes without UDP: drop --udp-port(s)\n",
			c->pub_ws != NULL ? "--pub-ws" : "--pub-tcp");
		return EXIT_USAGE;
	}
	c->pub_kind = c->pub_ws != NULL ? BENCH_PUB_WS : tcp_port > 0 ? BENCH_PUB_TCP : BENCH_PUB_UDP;
	if (udp_port > 0) {
		((struct sockaddr_in *)&c->udp_addr[0])->sin_port = htons((uint16_t)udp_port);
		nports = 1;
	}
	if (nports == 0 && c->pub_kind == BENCH_PUB_UDP) {
		fprintf(stderr, "ringcast-bench: --udp-port, --udp-ports, --pub-ws or --pub-tcp is "
			"required\n");
		return EXIT_USAGE;
	}
	/* One UDP port maps to exactly one channel on the gateway, so the
	 * port list must name one port per channel. */
	if (c->pub_kind == BENCH_PUB_UDP && nports != channels) {
		fprintf(stderr, "ringcast-bench: %u channel%s need%s %u UDP port%s, got %u\n",
			channels, channels == 1 ? "" : "s", channels == 1 ? "s" : "", channels,
			channels == 1 ? "" : "s", nports);
		return EXIT_USAGE;
	}
	c->nchannels = channels;
	c->channel = calloc(channels, sizeof(*c->channel));
	if (c->channel == NULL) {
		fprintf(stderr, "ringcast-bench: out of memory\n");
		return EXIT_RUNTIME;
	}
	for (unsigned i = 0; i < channels; i++) {
		if (channel != NULL)
			snprintf(c->channel[i], BENCH_CHANNEL_NAME_MAX, "%s", channel);
		else
			snprintf(c->channel[i], BENCH_CHANNEL_NAME_MAX, "bench%u", i);
	}

	{
		char bracketed[160];
		int err;

		/* --host takes no port, so a bare IPv6 address is unambiguous;
		 * bracket it for the HOST:PORT parser. */
		if (strchr(host, ':') != NULL && host[0] != '[' &&
		    (size_t)snprintf(bracketed, sizeof(bracketed), "[%s]", host) < sizeof(bracketed))
			host = bracketed;
		err = hostport_parse(host, (uint16_t)ws_port, &c->ws_addr, &c->ws_addr_len);

		if (err < 0) {
			fprintf(stderr, "ringcast-bench: bad --host '%s': %s\n", host, strerror(-err));
			return EXIT_USAGE;
		}
		hostport_format(&c->ws_addr, c->ws_host, sizeof(c->ws_host));
	}
	/* --pub-ws publishers go where the subscribers do, --pub-tcp ones to
	 * the same host's TCP ingest port. */
	memcpy(&c->pub_addr, &c->ws_addr, sizeof(c->ws_addr));
	c->pub_addr_len = c->ws_addr_len;
	if (tcp_port > 0) {
		if (c->pub_addr.ss_family == AF_INET)
			((struct sockaddr_in *)&c->pub_addr)->sin_port = htons((uint16_t)tcp_port);
		else
			((struct sockaddr_in6 *)&c->pub_addr)->sin6_port = htons((uint16_t)tcp_port);
	}
	/* Every UDP destination is the gateway host with the channel's port. */
	for (unsigned i = 0; i < channels; i++) {
		uint16_t port = ((struct sockaddr_in *)&c->udp_addr[i])->sin_port;

		memcpy(&c->udp_addr[i], &c->ws_addr, sizeof(c->ws_addr));
		if (c->ws_addr.ss_family == AF_INET)
			((struct sockaddr_in *)&c->udp_addr[i])->sin_port = port;
		else
			((struct sockaddr_in6 *)&c->udp_addr[i])->sin6_port = port;
	}
	c->udp_addr_len = c->ws_addr_len;
	return 0;
}

/* Raises RLIMIT_NOFILE to the hard limit and trims the subscriber count to
 * what fits besides the reserve and the publishers (one connection per
 * channel with --pub-ws or --pub-tcp), saying so. */
static void fit_fd_limit(struct bench_config *c)
{
	struct rlimit rl;
	rlim_t reserve = FD_RESERVE + (c->pub_kind != BENCH_PUB_UDP ? c->nchannels : 0);
	rlim_t need = (rlim_t)c->subscribers + reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need) {
		unsigned fit = rl.rlim_cur > reserve ? (unsigned)(rl.rlim_cur - reserve) : 1;

		fprintf(stderr, "ringcast-bench: RLIMIT_NOFILE hard limit %llu allows only %u of "
			"the %u subscribers requested; raise it (ulimit -Hn) for more\n",
			(unsigned long long)rl.rlim_max, fit, c->subscribers);
		c->subscribers = fit;
	}
}

static double tv_secs(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* Publishes at `rate` for `duration` seconds, drains, and fills r.
 * Returns 0 or negative errno. */
static int run_once(struct bench *b, double rate, double duration, struct bench_result *r)
{
	const struct bench_config *c = &b->cfg;
	struct rusage ru0, ru1;
	double srv0 = 0, srv1 = 0;
	uint64_t udp0 = 0, udp1 = 0, t0, t_end, t_send_end, t_drain_end, now;
	uint64_t drain_ns = (uint64_t)(c->drain * 1e9);
	double sw0 = 0, sw1 = 0, vw0 = 0, vw1 = 0, unused;
	bool srv_ok = false, udp_ok, sw_ok, vw_ok = false;
	unsigned open_start = 0;
	int err;

	memset(r, 0, sizeof(*r));
	r->target_rate = rate;
	bench_conns_reset_run(b);
	hist_reset(b->lat);
	for (unsigned ch = 0; ch < c->nchannels; ch++) {
		b->chan_base[ch] = b->chan_seq[ch];
		b->chan_subs[ch] = 0;
	}
	for (unsigned i = 0; i < c->subscribers; i++) {
		struct bench_conn *cn = &b->conns[i];

		cn->in_run = cn->state == CONN_OPEN;
		if (cn->in_run) {
			b->chan_subs[cn->channel]++;
			open_start++;
		}
	}
	if (c->server_pid > 0)
		srv_ok = bench_proc_cpu(c->server_pid, &srv0) == 0;
	udp_ok = bench_udp_rcvbuf_errors(&udp0) == 0;
	sw_ok = bench_proc_sched(getpid(), &unused, &sw0) == 0;
	if (c->server_pid > 0)
		vw_ok = bench_proc_sched(c->server_pid, &unused, &vw0) == 0;
	getrusage(RUSAGE_SELF, &ru0);

	t0 = bench_now();
	t_end = t0 + (uint64_t)(duration * 1e9);
	bench_sender_start(b, rate, t0);
	b->sending = true;
	/* Publishing phase, bounded by t_end: each pass sends at most one batch
	 * and waits at most until the next message is due. */
	for (now = t0; now < t_end && !g_stop; now = bench_now()) {
		uint64_t next = bench_sender_tick(b, now);
		uint64_t wait;

		if (next > t_end)
			next = t_end;
		now = bench_now();
		wait = next > now ? next - now : 0;
		err = bench_poll(b, wait);
		if (err < 0) {
			b->sending = false;
			return err;
		}
	}
	b->sending = false;
	t_send_end = bench_now();

	for (unsigned ch = 0; ch < c->nchannels; ch++)
		r->expected += (b->chan_seq[ch] - b->chan_base[ch]) * b->chan_subs[ch];
	/* Drain: stop early once everything expected has arrived. A Ctrl-C
	 * shortens it so a stuck gateway cannot hold the report hostage. */
	t_drain_end = t_send_end + (g_stop ? drain_ns / 10 : drain_ns);
	for (now = t_send_end; now < t_drain_end && b->run_received < r->expected;
	     now = bench_now()) {
		err = bench_poll(b, 10000000);
		if (err < 0)
			return err;
	}

	getrusage(RUSAGE_SELF, &ru1);
	if (sw_ok)
		sw_ok = bench_proc_sched(getpid(), &unused, &sw1) == 0;
	if (vw_ok)
		vw_ok = bench_proc_sched(c->server_pid, &unused, &vw1) == 0;
	if (srv_ok)
		srv_ok = bench_proc_cpu(c->server_pid, &srv1) == 0 &&
			 bench_proc_rss(c->server_pid, &r->server_rss_kb) == 0;
	if (udp_ok)
		udp_ok = bench_udp_rcvbuf_errors(&udp1) == 0;

	r->send_secs = (double)(t_send_end - t0) / 1e9;
	r->drain_secs = (double)(now - t_send_end) / 1e9;
	r->window_secs = r->send_secs;
	if (b->last_rx_ns > t0 && (double)(b->last_rx_ns - t0) / 1e9 > r->window_secs)
		r->window_secs = (double)(b->last_rx_ns - t0) / 1e9;
	r->published = b->tx.sent;
	r->send_skipped = b->tx.skipped;
	r->send_errors = b->tx.errors;
	r->subscribers_start = open_start;
	r->subscribers_open = b->open;
	r->disconnects = b->run_disconnects;
	r->received = b->run_received;
	r->rx_bytes = b->run_bytes;
	r->zmsgs = b->run_zmsgs;
	r->zbytes = b->run_zbytes;
	r->reordered = b->run_reordered;
	r->late = b->run_late;
	r->bad_msgs = b->run_bad;
	/* Loss per subscriber, clamped at zero so a duplicate on one
	 * subscriber cannot hide a loss on another. */
	for (unsigned i = 0; i < c->subscribers; i++) {
		const struct bench_conn *cn = &b->conns[i];
		uint64_t exp = b->chan_seq[cn->channel] - b->chan_base[cn->channel];

		if (cn->in_run && cn->received < exp)
			r->lost += exp - cn->received;
	}
	r->loss_pct = r->expected ? 100.0 * (double)r->lost / (double)r->expected : 0.0;
	r->lat = *b->lat;
	r->p50 = hist_percentile(b->lat, 50);
	r->p90 = hist_percentile(b->lat, 90);
	r->p99 = hist_percentile(b->lat, 99);
	r->p999 = hist_percentile(b->lat, 99.9);
	r->max = b->lat->max;
	r->min = b->lat->min;
	r->mean = hist_mean(b->lat);
	r->self_user = tv_secs(&ru1.ru_utime) - tv_secs(&ru0.ru_utime);
	r->self_sys = tv_secs(&ru1.ru_stime) - tv_secs(&ru0.ru_stime);
	r->self_wait_ok = sw_ok;
	r->self_wait = sw1 - sw0;
	r->server_wait_ok = vw_ok;
	r->server_wait = vw1 - vw0;
	r->server_ok = srv_ok;
	r->server_cpu = srv1 - srv0;
	r->udp_drops_ok = udp_ok;
	r->udp_drops = udp1 - udp0;
	return 0;
}

/* Waits `secs` while still servicing sockets (pings, stray frames). */
static int settle(struct bench *b, double secs)
{
	uint64_t end = bench_now() + (uint64_t)(secs * 1e9);
	int err;

	for (uint64_t now = bench_now(); now < end && !g_stop; now = bench_now()) {
		err = bench_poll(b, end - now < 10000000 ? end - now : 10000000);
		if (err < 0)
			return err;
	}
	return 0;
}

static bool step_passes(const struct bench_config *c, const struct bench_result *r)
{
	return r->received > 0 && r->loss_pct < c->max_loss_pct &&
	       (double)r->p99 < c->max_p99_ms * 1e6;
}

/* Ramp: rising rates until --ramp-patience steps in a row fail, then
 * bisection (bench_ramp.c chooses the rates). Fills steps[], returns the
 * count through *n, the best step through *best and the reason through why. */
static int run_ramp(struct bench *b, struct bench_result *steps, unsigned *n, int *best,
		    char *why, size_t why_len)
{
	const struct bench_config *c = &b->cfg;
	uint64_t ramp_end = bench_now() + (uint64_t)(BENCH_MAX_DURATION * 1e9);
	struct bench_ramp ramp;
	int err;

	bench_ramp_init(&ramp, c->rate, c->ramp_factor, c->ramp_refine, c->ramp_patience);
	*n = 0;
	*best = -1;
	for (unsigned i = 0;; i++) {
		struct bench_result *r = &steps[i];
		double rate = ramp.rate, achieved;
		bool passed;

		if (i == RAMP_MAX_STEPS) {
			/* Set here: a failure the climb went past is not why it ended. */
			snprintf(why, why_len, "step limit (%d steps) reached", RAMP_MAX_STEPS);
			break;
		}
		if (bench_now() + (uint64_t)((c->step_duration + c->drain) * 1e9) > ramp_end) {
			snprintf(why, why_len, "time cap of %.0f s reached", BENCH_MAX_DURATION);
			break;
		}
		err = run_once(b, rate, c->step_duration, r);
		if (err < 0)
			return err;
		*n = i + 1;
		achieved = r->send_secs > 0 ? (double)r->published / r->send_secs : 0;
		fprintf(stderr, "ringcast-bench: ramp step %u: %.0f msg/s -> %.0f deliveries/s, "
			"loss %.4f %%, p99 %.0f us\n", i, rate,
			(double)r->received / (r->window_secs > 0 ? r->window_secs : 1),
			r->loss_pct, (double)r->p99 / 1000.0);
		if (g_stop) {
			snprintf(why, why_len, "interrupted");
			break;
		}
		passed = step_passes(c, r);
		if (!passed) {
			if (r->received == 0)
				snprintf(why, why_len, "nothing delivered at %.0f msg/s", rate);
			else if (r->loss_pct >= c->max_loss_pct)
				snprintf(why, why_len, "loss %.4f %% >= %.4f %% at %.0f msg/s",
					 r->loss_pct, c->max_loss_pct, rate);
			else
				snprintf(why, why_len, "p99 %.1f ms >= %.1f ms at %.0f msg/s",
					 (double)r->p99 / 1e6, c->max_p99_ms, rate);
			/* Further steps measure nothing once subscribers are gone. */
			if (b->open < r->subscribers_start)
				break;
		} else if (*best < 0 || r->target_rate > steps[*best].target_rate) {
			*best = (int)i;
		}
		if (passed && !ramp.refining) {
			if (achieved < 0.9 * rate) {
				/* The gateway kept up but this tool could not
				 * publish faster: the figure is a lower bound. */
				snprintf(why, why_len, "publisher reached only %.0f of %.0f msg/s "
					 "(bench-bound; max sustained is a lower bound)", achieved, rate);
				break;
			}
			if (b->open == 0) {
				snprintf(why, why_len, "no subscriber left");
				break;
			}
		}
		if (!bench_ramp_next(&ramp, passed))
			break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench *b = NULL;
	struct bench_result *res = NULL;
	struct sigaction sa;
	char why[160] = "";
	unsigned nres = 0;
	int best = -1, rc = EXIT_RUNTIME, err;

	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return EXIT_RUNTIME;
	b->epfd = -1;
	b->tx.fd = -1;
	err = parse_args(argc, argv, &b->cfg);
	if (err != 0) {
		free(b->cfg.channel);
		free(b);
		return err < 0 ? 0 : err;
	}
	struct bench_config *c = &b->cfg;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* pongs to a closed peer must not kill us */

	c->requested = c->subscribers;
	fit_fd_limit(c);
	if (c->ws_addr.ss_family != AF_INET) {
		if (c->subscribers > BENCH_PORTS_PER_SRC)
			fprintf(stderr, "ringcast-bench: IPv6 uses ::1 only; %u subscribers may "
				"exhaust its ephemeral ports\n", c->subscribers);
		c->src_addrs = 0;
	} else if (c->src_addrs == 0) {
		c->src_addrs = c->subscribers / BENCH_PORTS_PER_SRC + 1;
	}

	b->conns = calloc(c->subscribers, sizeof(*b->conns));
	b->chan_subs = calloc(c->nchannels, sizeof(*b->chan_subs));
	b->chan_seq = calloc(c->nchannels, sizeof(*b->chan_seq));
	b->chan_base = calloc(c->nchannels, sizeof(*b->chan_base));
	b->lat = malloc(sizeof(*b->lat));
	b->rx_cap = RX_BUF;
	b->rx_buf = malloc(b->rx_cap);
	if (c->deflate) {
		z_stream *zs = calloc(1, sizeof(*zs));

		b->zout = malloc(BENCH_ZOUT);
		if (!zs || !b->zout || inflateInit2(zs, -15) != Z_OK) {
			fprintf(stderr, "ringcast-bench: out of memory\n");
			free(zs);
			goto fail;
		}
		b->zs = zs;
	}
	res = calloc(c->ramp ? RAMP_MAX_STEPS : 1, sizeof(*res));
	if (!b->conns || !b->chan_subs || !b->chan_seq || !b->chan_base || !b->lat ||
	    !b->rx_buf || !res) {
		fprintf(stderr, "ringcast-bench: out of memory\n");
		goto fail;
	}
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0) {
		fprintf(stderr, "ringcast-bench: epoll_create1: %s\n", strerror(errno));
		goto fail;
	}
	err = bench_sender_init(b);
	if (err < 0) {
		fprintf(stderr, "ringcast-bench: UDP socket: %s\n", strerror(-err));
		goto fail;
	}
	if (c->pub_kind == BENCH_PUB_WS) {
		if (bench_pub_open(b, &bench_wspub_ops) < 0)
			goto fail;	/* said why */
		fprintf(stderr, "ringcast-bench: %u WebSocket publisher%s open (%s<channel>)\n",
			c->nchannels, c->nchannels == 1 ? "" : "s", c->pub_ws);
	} else if (c->pub_kind == BENCH_PUB_TCP) {
		char addr[64];

		if (bench_pub_open(b, &bench_tcppub_ops) < 0)
			goto fail;	/* said why */
		fprintf(stderr, "ringcast-bench: %u TCP publisher%s open (framed, %s)\n",
			c->nchannels, c->nchannels == 1 ? "" : "s",
			hostport_format(&c->pub_addr, addr, sizeof(addr)));
	}

	err = bench_connect_all(b);
	if (b->failed > 0)
		fprintf(stderr, "ringcast-bench: %u of %u subscribers could not be opened "
			"(first: %s: %s)\n", b->failed, c->subscribers,
			b->first_fail_what ? b->first_fail_what : "?", strerror(b->first_fail_err));
	if (err < 0) {
		fprintf(stderr, "ringcast-bench: no subscriber could be opened\n");
		goto fail;
	}
	err = settle(b, c->settle);
	if (err < 0)
		goto fail_errno;

	if (!c->ramp) {
		char title[160];

		err = run_once(b, c->rate, c->duration, &res[0]);
		if (err < 0)
			goto fail_errno;
		nres = 1;
		snprintf(title, sizeof(title), "ringcast-bench %s: %.0f msg/s for %.1f s",
			 RC_VERSION, c->rate, c->duration);
		bench_print_result(b, title, &res[0]);
	} else {
		err = run_ramp(b, res, &nres, &best, why, sizeof(why));
		if (err < 0)
			goto fail_errno;
		bench_print_ramp(b, res, nres, best, why);
		if (best >= 0) {
			char title[160];

			snprintf(title, sizeof(title), "max sustained step: %.0f msg/s",
				 res[best].target_rate);
			bench_print_result(b, title, &res[best]);
		}
	}
	fflush(stdout);
	if (c->json_path != NULL) {
		err = bench_write_json(b, c->json_path, res, nres, c->ramp, best, why);
		if (err < 0) {
			fprintf(stderr, "ringcast-bench: %s: %s\n", c->json_path, strerror(-err));
			goto fail;
		}
	}
	rc = 0;
	goto out;

fail_errno:
	fprintf(stderr, "ringcast-bench: event loop: %s\n", strerror(-err));
fail:
	rc = EXIT_RUNTIME;
out:
	if (b->conns != NULL)
		bench_conns_close_all(b);
	bench_sender_free(b);
	bench_pub_close(b);
	if (b->epfd >= 0)
		close(b->epfd);
	for (unsigned i = 0; b->conns && i < c->subscribers; i++)
		free(b->conns[i].zbuf);
	free(b->conns);
	free(b->chan_subs);
	free(b->chan_seq);
	free(b->chan_base);
	free(b->lat);
	free(b->rx_buf);
	if (b->zs) {
		inflateEnd(b->zs);
		free(b->zs);
	}
	free(b->zout);
	free(res);
	free(c->channel);
	free(b);
	return rc;
}
