/* libwebsockets subscriber pool; see lws_subs.h. */
#include "lws_subs.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* lws_service() sleeps in poll() until the next scheduled lws event, which
 * can be far away when nothing is pending; a self-rearming timer makes it
 * return at least this often so deadlines in our loops are honoured. */
#define TICK_US (20 * LWS_US_PER_MS)

/* Reassembly cap: ringcast payloads are datagrams, so anything larger
 * means framing went wrong. */
#define MSG_MAX (256 * 1024)

struct pool_tick {
	lws_sorted_usec_list_t sul;
	struct sub_pool *pool;
};

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct pool_tick *t = lws_container_of(sul, struct pool_tick, sul);

	lws_sul_schedule(t->pool->ctx, 0, &t->sul, tick_cb, TICK_US);
}

const char *sub_state_name(enum sub_state st)
{
	switch (st) {
	case SUB_IDLE:
		return "idle";
	case SUB_CONNECTING:
		return "connecting";
	case SUB_OPEN:
		return "open";
	case SUB_CLOSED:
		return "closed";
	case SUB_FAILED:
		return "failed";
	}
	return "?";
}

const char *sub_describe(const struct sub *s, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "sub %d (chan %u): state=%s count=%llu next_seq=%llu "
		 "mismatches=%llu skipped=%llu text=%llu compressed=%llu "
		 "first_bad_seq=%lld first_bad_len=%zu close_code=%d err='%s'",
		 s->idx, s->chan, sub_state_name(s->state),
		 (unsigned long long)s->count,
		 (unsigned long long)s->next_seq,
		 (unsigned long long)s->mismatches,
		 (unsigned long long)s->skipped,
		 (unsigned long long)s->text_msgs,
		 (unsigned long long)s->compressed, (long long)s->first_bad_seq,
		 s->first_bad_len, s->close_code, s->err);
	return buf;
}

/* A complete message arrived: it should be payload (chan, next_seq). */
static void sub_verify(struct sub *s)
{
	struct sub_pool *p = s->pool;
	uint64_t seq = s->next_seq;
	unsigned tchan;
	uint64_t tseq;

	s->count++;
	s->bytes += s->msg_len;
	if (!s->msg_binary)
		s->text_msgs++;
	if (s->msg_compressed)
		s->compressed++;
	if (p->match(s->chan, seq, p->size_of(seq), s->msg, s->msg_len)) {
		s->next_seq = seq + 1;
		return;
	}
	s->mismatches++;
	if (s->first_bad_seq < 0) {
		s->first_bad_seq = (int64_t)seq;
		s->first_bad_len = s->msg_len;
	}
	/* resynchronise on the tag so one lost message shows up as one
	 * mismatch plus a skip count, not as everything after it failing */
	if (payload_tag(s->msg, s->msg_len, &tchan, &tseq) == 0 &&
	    tchan == s->chan && tseq > seq &&
	    p->match(s->chan, tseq, p->size_of(tseq), s->msg, s->msg_len)) {
		s->skipped += tseq - seq;
		s->next_seq = tseq + 1;
		return;
	}
	s->next_seq = seq + 1;
}

static void sub_receive(struct sub *s, struct lws *wsi, const void *in,
			size_t len)
{
	if (lws_is_first_fragment(wsi)) {
		s->msg_len = 0;
		s->msg_binary = lws_frame_is_binary(wsi);
		/* RSV1 of the message's first frame: compressed (RFC 7692 6) */
		s->msg_compressed = !!(lws_get_reserved_bits(wsi) & 0x40);
	}
	if (s->msg_len + len > MSG_MAX) {
		/* keep counting but do not grow without bound */
		s->msg_len = MSG_MAX + 1;
	} else if (len) {
		if (s->msg_len + len > s->msg_cap) {
			size_t nc = s->msg_cap ? s->msg_cap : 2048;
			unsigned char *nm;

			while (nc < s->msg_len + len)
				nc *= 2;
			nm = realloc(s->msg, nc);
			if (!nm) {
				s->msg_len = MSG_MAX + 1;
				return;
			}
			s->msg = nm;
			s->msg_cap = nc;
		}
		memcpy(s->msg + s->msg_len, in, len);
		s->msg_len += len;
	}
	if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
		if (s->msg_len > MSG_MAX) {
			/* oversized: certainly not an expected payload */
			s->count++;
			s->mismatches++;
			if (s->first_bad_seq < 0) {
				s->first_bad_seq = (int64_t)s->next_seq;
				s->first_bad_len = s->msg_len;
			}
			s->next_seq++;
		} else {
			sub_verify(s);
		}
		s->msg_len = 0;
	}
}

static int sub_cb(struct lws *wsi, enum lws_callback_reasons reason,
		  void *user, void *in, size_t len)
{
	struct sub *s = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	if (!s)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED: {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = (int)lws_get_socket_fd(wsi);

		/* the server names its peers by address in its logs */
		if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
			s->local_port = ss.ss_family == AF_INET6 ?
				ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
				ntohs(((struct sockaddr_in *)&ss)->sin_port);
		s->state = SUB_OPEN;
		if (s->want_close)
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_CLIENT_RECEIVE:
		sub_receive(s, wsi, in, len);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* lws has already replaced codes that are illegal on the
		 * wire with 1002; a body shorter than 2 bytes means the
		 * server sent no status (1005 by RFC 6455 7.1.5) */
		if (len >= 2 && in) {
			const unsigned char *b = in;

			s->close_code = (b[0] << 8) | b[1];
		} else {
			s->close_code = 1005;
		}
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (s->want_close) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(s->err, sizeof(s->err), "%s",
			 in ? (const char *)in : "connection error");
		s->state = SUB_FAILED;
		s->wsi = NULL;
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		s->state = SUB_CLOSED;
		s->wsi = NULL;
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (s->wsi == wsi) {
			s->wsi = NULL;
			if (s->state == SUB_CONNECTING) {
				s->state = SUB_FAILED;
				if (!s->err[0])
					snprintf(s->err, sizeof(s->err),
						 "destroyed while connecting");
			} else if (s->state == SUB_OPEN) {
				s->state = SUB_CLOSED;
			}
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols sub_protocols[] = {
	{
		.name = "ringcast-it",
		.callback = sub_cb,
		/* bigger than any datagram, so a message arrives in one
		 * callback in practice; fragments are still handled */
		.rx_buffer_size = 4096,
	},
	{ .name = NULL, .callback = NULL },
};

/* libwebsockets' permessage-deflate client before 4.3.3 (Debian 12 has
 * 4.1.6) loops for ever on a data message that arrives uncompressed (RSV1
 * clear), which RFC 7692 6.1 allows and ringcast sends for messages under
 * compress-min or not smaller compressed. For such a frame the extension's
 * LWS_EXT_CB_PAYLOAD_RX returns PMDR_NOTHING_WE_SHOULD_DO (5, from lws's
 * private enum in lib/core-net/private-lib-core-net.h); the client parser
 * (lib/roles/ws/client-parser-ws.c, lws_ws_client_rx_sm) counts the frame's
 * bytes as used only for PMDR_DID_NOTHING and PMDR_UNKNOWN, so its
 * do { ... } while (pmdrx.eb_in.len ...) hands the same payload to the
 * protocol callback again and again. lws 4.3.3 added the missing case
 * (upstream commit 9202017c2, "pmd: fix ws parser for non pmd packet with
 * pmd ext enabled"). Before that, this wrapper answers such frames with
 * PMDR_UNKNOWN (0), what lws_ext_cb_active() returns when no extension is
 * active, so the frame takes the path of a connection without the
 * extension: delivered once, as it is. Everything else goes to lws's
 * extension unchanged. */
#if (LWS_LIBRARY_VERSION_NUMBER) < 4003003
#define PMD_RX_NOTHING_WE_SHOULD_DO 5
#define PMD_RX_UNKNOWN 0

static int pmd_cb(struct lws_context *ctx, const struct lws_extension *ext,
		  struct lws *wsi, enum lws_extension_callback_reasons reason,
		  void *user, void *in, size_t len)
{
	int r = lws_extension_callback_pm_deflate(ctx, ext, wsi, reason, user,
						  in, len);

	if (reason == LWS_EXT_CB_PAYLOAD_RX &&
	    r == PMD_RX_NOTHING_WE_SHOULD_DO)
		return PMD_RX_UNKNOWN;
	return r;
}
#else
#define pmd_cb lws_extension_callback_pm_deflate
#endif

static const struct lws_extension sub_extensions[] = {
	{
		.name = "permessage-deflate",
		.callback = pmd_cb,
		.client_offer = "permessage-deflate; client_max_window_bits",
	},
	{ .name = NULL, .callback = NULL, .client_offer = NULL },
};

static struct sub_pool *pool_new(int n, int deflate)
{
	struct lws_context_creation_info info;
	struct sub_pool *p = calloc(1, sizeof(*p));
	struct pool_tick *t = calloc(1, sizeof(*t));

	if (!p || !t)
		goto fail;
	p->subs = calloc((size_t)n, sizeof(*p->subs));
	if (!p->subs)
		goto fail;
	p->n = n;
	p->size_of = payload_size;
	p->match = payload_match;
	for (int i = 0; i < n; i++) {
		p->subs[i].pool = p;
		p->subs[i].idx = i;
		p->subs[i].close_code = SUB_NO_CLOSE;
		p->subs[i].first_bad_seq = -1;
	}
	/* lws chatters on connection churn; warnings and errors are enough
	 * to explain a failure */
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = sub_protocols;
	if (deflate)
		info.extensions = sub_extensions;
	info.gid = -1;
	info.uid = -1;
	p->ctx = lws_create_context(&info);
	if (!p->ctx)
		goto fail;
	t->pool = p;
	p->tick = t;
	lws_sul_schedule(p->ctx, 0, &t->sul, tick_cb, TICK_US);
	return p;
fail:
	if (p)
		free(p->subs);
	free(p);
	free(t);
	return NULL;
}

struct sub_pool *sub_pool_new(int n)
{
	return pool_new(n, 0);
}

struct sub_pool *sub_pool_new_deflate(int n)
{
	return pool_new(n, 1);
}

void sub_pool_free(struct sub_pool *p)
{
	if (!p)
		return;
	if (p->ctx)
		lws_context_destroy(p->ctx);
	for (int i = 0; i < p->n; i++)
		free(p->subs[i].msg);
	free(p->subs);
	free(p->tick);
	free(p);
}

int sub_connect(struct sub_pool *p, int i, const struct rc_endpoint *ep,
		const char *channel, unsigned chan, uint64_t first_seq)
{
	char path[128];

	snprintf(path, sizeof(path), "/ws/%s", channel);
	return sub_connect_path(p, i, ep, path, NULL, chan, first_seq);
}

int sub_connect_path(struct sub_pool *p, int i, const struct rc_endpoint *ep,
		     const char *path, const char *protocol, unsigned chan,
		     uint64_t first_seq)
{
	struct lws_client_connect_info ci;
	struct sub *s = &p->subs[i];
	char host[96];

	snprintf(host, sizeof(host), "%s:%d", ep->host, ep->port);
	s->chan = chan;
	s->next_seq = first_seq;
	s->state = SUB_CONNECTING;
	s->err[0] = '\0';
	memset(&ci, 0, sizeof(ci));
	ci.context = p->ctx;
	ci.address = ep->host;
	ci.port = ep->port;
	ci.path = path;
	ci.host = host;
	/* no subprotocol unless asked: ringcast selects only "ringcast" or
	 * a token entry, and lws rejects an answer without one it offered */
	ci.protocol = protocol;
	ci.local_protocol_name = sub_protocols[0].name;
	ci.ietf_version_or_minus_one = -1;
	ci.opaque_user_data = s;
	ci.pwsi = &s->wsi;
	if (!lws_client_connect_via_info(&ci)) {
		if (s->state == SUB_CONNECTING) {
			s->state = SUB_FAILED;
			snprintf(s->err, sizeof(s->err),
				 "lws_client_connect_via_info failed");
		}
		return -1;
	}
	return 0;
}

void sub_close(struct sub_pool *p, int i)
{
	struct sub *s = &p->subs[i];

	s->want_close = 1;
	if (s->wsi && s->state == SUB_OPEN)
		lws_callback_on_writable(s->wsi);
}

int sub_pool_service_until(struct sub_pool *p,
			   int (*cond)(struct sub_pool *, void *), void *arg,
			   int timeout_ms)
{
	int64_t deadline = rc_now_ms() + timeout_ms;

	/* each lws_service() returns within TICK_US, so the time check
	 * bounds this; the count is a backstop only */
	for (long iter = 0; iter < 50000000L; iter++) {
		if (cond && cond(p, arg))
			return 1;
		if (rc_now_ms() >= deadline)
			return cond ? cond(p, arg) : 1;
		lws_service(p->ctx, 0);
	}
	return cond ? cond(p, arg) : 0;
}

void sub_pool_service_for(struct sub_pool *p, int ms)
{
	sub_pool_service_until(p, NULL, NULL, ms);
}

void sub_pool_idle(void *pool)
{
	sub_pool_service_for(pool, 50);
}

static int none_connecting(struct sub_pool *p, void *arg)
{
	(void)arg;
	for (int i = 0; i < p->n; i++)
		if (p->subs[i].state == SUB_CONNECTING)
			return 0;
	return 1;
}

int sub_pool_wait_open(struct sub_pool *p, int timeout_ms)
{
	int open = 0;

	sub_pool_service_until(p, none_connecting, NULL, timeout_ms);
	for (int i = 0; i < p->n; i++)
		open += p->subs[i].state == SUB_OPEN;
	return open;
}

struct seq_goal {
	const uint64_t *expect;
	int nchan;
};

static int caught_up(struct sub_pool *p, void *arg)
{
	const struct seq_goal *g = arg;

	for (int i = 0; i < p->n; i++) {
		const struct sub *s = &p->subs[i];

		if (s->state != SUB_OPEN || (int)s->chan >= g->nchan)
			continue;
		if (s->next_seq < g->expect[s->chan])
			return 0;
	}
	return 1;
}

int sub_pool_wait_seq(struct sub_pool *p, const uint64_t *expect, int nchan,
		      int timeout_ms)
{
	struct seq_goal g = { expect, nchan };

	return sub_pool_service_until(p, caught_up, &g, timeout_ms);
}

static int all_closed(struct sub_pool *p, void *arg)
{
	(void)arg;
	for (int i = 0; i < p->n; i++)
		if (p->subs[i].state == SUB_OPEN ||
		    p->subs[i].state == SUB_CONNECTING)
			return 0;
	return 1;
}

int sub_pool_wait_closed(struct sub_pool *p, int timeout_ms)
{
	return sub_pool_service_until(p, all_closed, NULL, timeout_ms);
}
