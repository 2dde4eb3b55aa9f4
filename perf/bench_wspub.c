/* ringcast-bench --pub-ws: publishing over WebSocket instead of UDP.
 *
 * For servers without UDP ingest (nchan), each channel gets one client
 * connection to the server's publisher location, and every message goes out
 * as one masked binary frame. The connection itself (buffering, backlog,
 * writes) is bench_pub.c's; this file is the WebSocket part: the upgrade,
 * the frame header and the server's replies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* Same fixed key as the subscribers use (bench_conn.c): a load tool gains
 * nothing from random keys. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define HS_MAX 4096
#define MASK_HDR 4
#define FRAME_HDR_MAX (RC_WS_SERVER_HEADER_MAX + MASK_HDR)
#define REPLY_MAX (UINT64_C(1) << 20)	/* longest reply message the parser accepts */

/* A fixed, non-zero masking key, so the server does its real unmasking work. */
static const uint8_t pub_mask[MASK_HDR] = { 0x37, 0xa1, 0x5c, 0xe2 };

/* Appends one masked frame. The caller checked the backlog. */
static int append_frame(struct bench_pub *p, unsigned opcode, const uint8_t *data, size_t len)
{
	uint8_t *f;
	size_t h;
	int err = bench_pub_reserve(p, FRAME_HDR_MAX + len);

	if (err < 0)
		return err;
	f = p->out + p->len;
	h = rc_ws_header_encode(f, opcode, true, len);
	f[1] |= 0x80;	/* MASK: every client frame is masked (RFC 6455 5.3) */
	memcpy(f + h, pub_mask, MASK_HDR);
	h += MASK_HDR;
	for (size_t i = 0; i < len; i++)
		f[h + i] = data[i] ^ pub_mask[i & 3];
	p->len += h + len;
	return 0;
}

static int ws_append(struct bench_pub *p, const uint8_t *payload, size_t len)
{
	return append_frame(p, RC_WS_OP_BINARY, payload, len);
}

/* Upgrade request and 101 on the blocking fd. Bytes the server sent after
 * the 101 are fed to the reply parser. */
static int ws_handshake(struct bench *b, unsigned ch, int fd, const char **what)
{
	const struct bench_config *c = &b->cfg;
	struct bench_pub *p = &b->pubs[ch];
	char req[512], *resp = NULL;
	size_t have = 0;
	const char *end;
	ssize_t w;
	int n, err;

	rc_ws_parser_init(&p->rx.ws, false, REPLY_MAX);
	n = snprintf(req, sizeof(req),
		     "GET %s%s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: " WS_KEY "\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "User-Agent: ringcast-bench\r\n"
		     "\r\n",
		     c->pub_ws, c->channel[ch], c->ws_host);
	w = write(fd, req, (size_t)n);
	if (w != n) {
		*what = "write upgrade request";
		return w < 0 ? -errno : -EIO;
	}
	resp = malloc(HS_MAX);
	if (resp == NULL) {
		*what = "malloc";
		return -ENOMEM;
	}
	/* Bounded by HS_MAX bytes and the receive timeout. */
	while ((end = memmem(resp, have, "\r\n\r\n", 4)) == NULL) {
		ssize_t r;

		if (have == HS_MAX) {
			*what = "upgrade response head too long";
			err = -EMSGSIZE;
			goto fail;
		}
		r = read(fd, resp + have, HS_MAX - have);
		if (r <= 0) {
			*what = r == 0 ? "closed during handshake" : "read upgrade response";
			err = r == 0 ? -ECONNRESET : -errno;
			goto fail;
		}
		have += (size_t)r;
	}
	if (have < 12 || memcmp(resp, "HTTP/1.1 101", 12) != 0) {
		/* Show the status line: it says what the server disliked. */
		size_t line = strcspn(resp, "\r");

		fprintf(stderr, "ringcast-bench: %s%s answered: %.*s\n", c->pub_ws, c->channel[ch],
			(int)(line < 80 ? line : 80), resp);
		*what = "publisher upgrade refused (no 101)";
		err = -EPROTO;
		goto fail;
	}
	if (memmem(resp, (size_t)(end - resp), WS_ACCEPT, sizeof(WS_ACCEPT) - 1) == NULL) {
		*what = "wrong Sec-WebSocket-Accept";
		err = -EPROTO;
		goto fail;
	}
	{
		size_t head = (size_t)(end - resp) + 4;
		struct rc_ws_event ev;
		size_t off = head;

		/* Early replies are dropped like later ones; bounded by the
		 * bytes present, each pass consuming at least one. */
		while (off < have) {
			size_t used = rc_ws_parse(&p->rx.ws, (uint8_t *)resp + off, have - off, &ev);

			if (used == 0)
				break;
			off += used;
		}
	}
	free(resp);
	return 0;

fail:
	free(resp);
	return err;
}

/* Reads and drops the server's replies (nchan answers each publish with
 * channel info); pings get a pong, a close frame ends the publisher. */
static void ws_input(struct bench *b, unsigned ch, uint8_t *data, size_t len)
{
	struct bench_pub *p = &b->pubs[ch];
	size_t off = 0;

	/* Each event consumes at least one byte or ends the loop. */
	while (off < len && p->fd >= 0) {
		struct rc_ws_event ev;
		size_t used = rc_ws_parse(&p->rx.ws, data + off, len - off, &ev);
		char what[48];

		off += used;
		if (ev.type == RC_WS_EV_PING) {
			if (append_frame(p, RC_WS_OP_PONG, ev.data, ev.len) == 0)
				bench_pub_flush(b, ch);
		} else if (ev.type == RC_WS_EV_CLOSE) {
			snprintf(what, sizeof(what), "server sent close %u", ev.close_code);
			bench_pub_drop(b, ch, what, 0);
		} else if (ev.type == RC_WS_EV_ERROR) {
			snprintf(what, sizeof(what), "reply parse error (close %u)", ev.close_code);
			bench_pub_drop(b, ch, what, 0);
		} else if (used == 0) {
			break;
		}
	}
}

const struct bench_pub_ops bench_wspub_ops = {
	.name = "WebSocket",
	.handshake = ws_handshake,
	.append = ws_append,
	.input = ws_input,
};
