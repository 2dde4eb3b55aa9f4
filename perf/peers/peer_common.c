/* Shared pieces of the benchmark peers, see peer_common.h. */
#include "peer_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"	/* rc_channel_name_valid(): core/channel_name.c, linked alone */

_Static_assert(PEER_CHANNEL_MAX == RC_CHANNEL_NAME_MAX, "the peers take ringcast's channel names");

#define NOFILE_WANTED 65536

/* Parses a decimal port 0..65535 (0: the kernel picks one). */
static int parse_port(const char *s, size_t len)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535 ? (int)v : -EINVAL;
}

/* Numeric "A.B.C.D:PORT" or "[V6]:PORT" from s[0..len). Names are not
 * resolved: the peers only ever serve benchmarks on loopback. */
static int parse_addr(const char *s, size_t len, struct sockaddr_storage *out, socklen_t *out_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	size_t hlen;
	int port;

	memset(out, 0, sizeof(*out));
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL || close + 1 >= s + len || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - s - 1);
		colon = close + 1;
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
	} else {
		colon = memrchr(s, ':', len);
		if (colon == NULL)
			return -EINVAL;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
	}
	host[hlen] = '\0';
	port = parse_port(colon + 1, (size_t)(s + len - colon - 1));
	if (port < 0)
		return port;
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*out_len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)out;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*out_len = sizeof(*a4);
	}
	return 0;
}

/* "ADDR:PORT=CHANNEL" */
static int parse_udp(const char *s, struct peer_udp_spec *u)
{
	const char *eq = strrchr(s, '=');
	size_t clen;
	int err;

	if (eq == NULL)
		return -EINVAL;
	clen = strlen(eq + 1);
	if (!rc_channel_name_valid(eq + 1, clen))
		return -EINVAL;
	err = parse_addr(s, (size_t)(eq - s), &u->addr, &u->addr_len);
	if (err < 0)
		return err;
	memcpy(u->channel, eq + 1, clen + 1);
	return 0;
}

static void usage(FILE *f, const char *prog, bool with_mode)
{
	fprintf(f, "usage: %s [--listen ADDR:PORT] [--udp ADDR:PORT=CHANNEL]...%s\n"
		   "\n"
		   "A benchmark peer of ringcast: every UDP datagram on a --udp port becomes one\n"
		   "binary WebSocket message to every subscriber of GET /ws/CHANNEL.\n"
		   "  --listen ADDR:PORT         HTTP/WebSocket listener (default 127.0.0.1:8080;\n"
		   "                             numeric address, [V6]:PORT for IPv6, port 0 = any)\n"
		   "  --udp ADDR:PORT=CHANNEL    UDP ingest port and its channel, repeatable\n"
		   "                             (default 127.0.0.1:9000=live)\n",
		prog, with_mode ? " [--mode naive|batched]" : "");
	if (with_mode)
		fprintf(f, "  --mode naive|batched       naive: recvfrom + one send per message per\n"
			   "                             subscriber; batched: recvmmsg (64) + one writev\n"
			   "                             per subscriber (default batched)\n");
	fprintf(f, "Prints 'listen http ADDR', 'listen udp ADDR CHANNEL' per port, then 'ready';\n"
		   "logs go to stderr; SIGINT/SIGTERM exit 0.\n");
}

int peer_parse_args(int argc, char **argv, const char *prog, bool with_mode,
		    struct peer_args *a)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "udp", required_argument, NULL, 'u' },
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *lst = "127.0.0.1:8080";
	int opt;

	memset(a, 0, sizeof(*a));
	a->prog = prog;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			lst = optarg;
			break;
		case 'u':
			if (a->nudp == PEER_MAX_PORTS) {
				fprintf(stderr, "%s: at most %d --udp ports\n", prog, PEER_MAX_PORTS);
				return -EINVAL;
			}
			if (parse_udp(optarg, &a->udp[a->nudp]) < 0) {
				fprintf(stderr, "%s: bad --udp '%s' (want ADDR:PORT=CHANNEL, "
					"numeric address, channel of 1-64 A-Z a-z 0-9 . _ -)\n",
					prog, optarg);
				return -EINVAL;
			}
			a->nudp++;
			break;
		case 'm':
			if (!with_mode)
				goto bad;
			a->mode = optarg;
			break;
		case 'h':
			usage(stdout, prog, with_mode);
			return 1;
		default:
			goto bad;
		}
	}
	if (optind < argc)
		goto bad;
	if (parse_addr(lst, strlen(lst), &a->listen, &a->listen_len) < 0) {
		fprintf(stderr, "%s: bad --listen '%s' (want ADDR:PORT, numeric)\n", prog, lst);
		return -EINVAL;
	}
	if (a->nudp == 0) {
		int err = parse_udp("127.0.0.1:9000=live", &a->udp[0]);

		if (err < 0)
			return err;
		a->nudp = 1;
	}
	return 0;
bad:
	usage(stderr, prog, with_mode);
	return -EINVAL;
}

int peer_target_channel(const char *target, size_t target_len, const char **name, size_t *len)
{
	const char *q;
	size_t n;

	if (target_len < 4 || memcmp(target, "/ws/", 4) != 0)
		return -ENOENT;
	q = memchr(target + 4, '?', target_len - 4);
	n = q ? (size_t)(q - target - 4) : target_len - 4;
	if (!rc_channel_name_valid(target + 4, n))
		return -ENOENT;
	*name = target + 4;
	*len = n;
	return 0;
}

int peer_listen_tcp(const struct sockaddr_storage *addr, socklen_t len)
{
	int one = 1, fd, err;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, len) < 0 || listen(fd, 4096) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

int peer_bind_udp(const struct sockaddr_storage *addr, socklen_t len)
{
	int one = 1, rcvbuf = PEER_UDP_RCVBUF, fd, err;

	fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Same buffer as ringcast's ingest port, so bursts are absorbed alike;
	 * FORCE needs CAP_NET_ADMIN, plain RCVBUF is capped by rmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (const struct sockaddr *)addr, len) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

int peer_signalfd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int peer_ports_open(const struct peer_args *a, struct peer_chans *cs, struct peer_port *ports,
		    unsigned *n)
{
	int err = 0;

	*n = 0;
	for (unsigned i = 0; i < a->nudp; i++) {
		const char *name = a->udp[i].channel;
		struct peer_port *p = &ports[i];

		p->ch = peer_chan_get(cs, name, strlen(name), true);
		if (p->ch == NULL) {
			err = -ENOSPC;
			break;
		}
		p->fd = peer_bind_udp(&a->udp[i].addr, a->udp[i].addr_len);
		if (p->fd < 0) {
			err = p->fd;
			fprintf(stderr, "%s: udp bind for channel %s: %s\n", a->prog, name,
				strerror(-err));
			break;
		}
		(*n)++;
	}
	if (err < 0) {
		while (*n > 0)
			close(ports[--*n].fd);
	}
	return err;
}

void peer_announce(const char *http_addr, const struct peer_port *ports, unsigned n)
{
	char addr[80];

	printf("listen http %s\n", http_addr);
	for (unsigned i = 0; i < n; i++)
		printf("listen udp %s %s\n", peer_local_addr(ports[i].fd, addr, sizeof(addr)),
		       ports[i].ch->name);
	printf("ready\n");
	fflush(stdout);
}

const char *peer_format_addr(const struct sockaddr_storage *addr, uint16_t port,
			     char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (addr->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, port);
	}
	return buf;
}

const char *peer_local_addr(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint16_t port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(buf, cap, "?");
		return buf;
	}
	if (ss.ss_family == AF_INET6)
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return peer_format_addr(&ss, port, buf, cap);
}

void peer_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur >= NOFILE_WANTED || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max < NOFILE_WANTED ? rl.rlim_max : NOFILE_WANTED;
	setrlimit(RLIMIT_NOFILE, &rl);
}

void peer_set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int peer_chans_init(struct peer_chans *cs)
{
	cs->v = calloc(PEER_MAX_CHANNELS, sizeof(*cs->v));
	cs->n = 0;
	return cs->v ? 0 : -ENOMEM;
}

void peer_chans_free(struct peer_chans *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		free(cs->v[i].subs);
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

struct peer_chan *peer_chan_get(struct peer_chans *cs, const char *name, size_t len, bool create)
{
	struct peer_chan *ch;

	/* A linear scan: channels are looked up per subscriber and per port
	 * at set-up, never per message. */
	for (size_t i = 0; i < cs->n; i++) {
		if (strlen(cs->v[i].name) == len && memcmp(cs->v[i].name, name, len) == 0)
			return &cs->v[i];
	}
	if (!create || cs->n == PEER_MAX_CHANNELS || len > PEER_CHANNEL_MAX)
		return NULL;
	ch = &cs->v[cs->n++];
	memcpy(ch->name, name, len);
	ch->name[len] = '\0';
	return ch;
}

long peer_chan_add(struct peer_chan *ch, void *sub)
{
	if (ch->nsubs == ch->cap) {
		size_t cap = ch->cap ? ch->cap * 2 : 64;
		void **v = realloc(ch->subs, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		ch->subs = v;
		ch->cap = cap;
	}
	ch->subs[ch->nsubs] = sub;
	return (long)ch->nsubs++;
}

void *peer_chan_remove(struct peer_chan *ch, size_t idx)
{
	if (idx >= ch->nsubs)
		return NULL;
	ch->nsubs--;
	if (idx == ch->nsubs)
		return NULL;
	ch->subs[idx] = ch->subs[ch->nsubs];
	return ch->subs[idx];
}

uint64_t peer_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
