/* HTTP publishers: POST or PUT /pub/<channel>. The body, as it arrives, is
 * published (each piece one message) through ingest's rc_publish_shared();
 * the answer, at its end, counts what was published. Everything that parses
 * HTTP lives in http/, so the body's framing (Content-Length, chunked) is
 * read here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "http.h"
#include "http_parse.h"
#include "num.h"
#include "publish.h"
#include "state.h"

/* An HTTP publish's message is at most what one receive brings (a client
 * ring buffer), whether its bytes were handled at once or held first. */
#define PIECE_MAX 2048

/* The stream key: "Authorization: Bearer K" (kept out of URLs and so out
 * of access logs), else ?key=K for tools that cannot set headers. */
static void find_key(const struct rc_http_request *req, const struct rc_http_target *t,
		     const char **key, size_t *key_len)
{
	const struct rc_http_header *auth = rc_http_find_header(req, "Authorization");

	if (auth && auth->value_len > 7 && rc_http_equals_nocase(auth->value, 7, "Bearer ")) {
		*key = auth->value + 7;
		*key_len = auth->value_len - 7;
		while (*key_len && **key == ' ') {
			(*key)++;
			(*key_len)--;
		}
	} else {
		rc_http_query_string(t, "key", key, key_len);
	}
}

/* Key and framing checks; answers and returns false on a refusal. */
static bool publish_allowed(struct rc_conn *c, const struct rc_http_request *req,
			    const struct rc_http_target *t, const char *name, size_t name_len,
			    uint64_t *length)
{
	const struct rc_http_header *te = rc_http_find_header(req, "Transfer-Encoding");
	const struct rc_http_header *cl = rc_http_find_header(req, "Content-Length");
	const char *key = NULL;
	size_t key_len = 0;
	int err;

	if (!rc_channel_name_valid(name, name_len)) {
		rc_http_respond(c, 400, "text/plain", NULL, "invalid channel name\n", 21, true);
		return false;
	}
	find_key(req, t, &key, &key_len);
	err = rc_access_key(&c->st.srv->access, name, name_len, key, key_len);
	if (err == RC_REFUSE_KEY_MISSING) {
		rc_http_respond(c, 401, "text/plain", "WWW-Authenticate: Bearer realm=\"ringcast\"\r\n",
				"stream key required\n", 20, true);
		return false;
	}
	if (err != RC_ACCESS_OK) {
		rc_http_respond(c, 403, "text/plain", NULL, "wrong stream key\n", 17, true);
		return false;
	}
	if (rc_http_busy(c))
		return false;
	/* RFC 9112 6.1: both framings at once is a smuggling attempt. */
	if (te && cl) {
		rc_http_respond(c, 400, "text/plain", NULL, NULL, 0, true);
		return false;
	}
	if (te && !rc_http_equals_nocase(te->value, te->value_len, "chunked")) {
		rc_http_respond(c, 501, "text/plain", NULL, "only chunked is supported\n", 26, true);
		return false;
	}
	if (!te && (!cl || rc_num_parse_u64n(cl->value, cl->value_len, 0, (uint64_t)1 << 62,
					      length) < 0)) {
		rc_http_respond(c, cl ? 400 : 411, "text/plain", NULL, NULL, 0, true);
		return false;
	}
	return true;
}

void rc_http_publish_start(struct rc_conn *c, const struct rc_http_request *req,
			   const struct rc_http_target *t, const char *name, size_t name_len,
			   bool keep_alive)
{
	static const uint8_t cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	const struct rc_http_header *expect = rc_http_find_header(req, "Expect");
	bool chunked = rc_http_find_header(req, "Transfer-Encoding") != NULL;
	struct rc_server *srv = c->st.srv;
	struct rc_channel *ch;
	uint64_t length = 0;
	int err = 0;

	if (!publish_allowed(c, req, t, name, name_len, &length))
		return;
	ch = rc_hub_acquire(&srv->hub, name, name_len, &err);
	if (!ch) {
		rc_http_respond(c, err == -ENOSPC ? 503 : 400, "text/plain", NULL, NULL, 0, true);
		return;
	}
	/* Claimed here, before the body is known: a place another publisher
	 * holds is refused now, and an empty body gives it back at once. */
	err = rc_chan_pub_claim(ch, rc_config_multi_publisher(srv->cfg, ch->name));
	if (err == -EBUSY) {
		rc_hub_release(&srv->hub, ch);
		rc_http_respond(c, 409, "text/plain", NULL, "channel has a publisher\n", 24, true);
		return;
	}
	if (err < 0) {
		rc_hub_release(&srv->hub, ch);
		rc_http_respond(c, 503, "text/plain", NULL, "out of memory\n", 14, true);
		return;
	}
	if (!chunked && length == 0) {
		/* An empty body: nothing to publish, answer at once. */
		rc_chan_pub_release(ch);
		rc_hub_release(&srv->hub, ch);
		srv->stats.http_publishes++;
		rc_http_respond(c, 200, "text/plain", NULL, "published 0 messages, 0 bytes\n", 31,
				!keep_alive);
		return;
	}
	c->pub = malloc(sizeof(*c->pub));
	if (!c->pub) {
		rc_chan_pub_release(ch);
		rc_hub_release(&srv->hub, ch);
		rc_http_respond(c, 503, "text/plain", NULL, "out of memory\n", 14, true);
		return;
	}
	*c->pub = (struct rc_conn_pub){ .ch = ch, .chunked_body = chunked, .body_left = length,
					.keep_alive = keep_alive };
	rc_chunked_init(&c->pub->chunked);
	c->state = RC_CONN_PUB;
	rc_stream_account(&c->st);
	srv->stats.http_publishes++;
	/* curl -T waits for this before sending a large body. */
	if (expect && rc_http_equals_nocase(expect->value, expect->value_len, "100-continue"))
		rc_sendq_push_static(&c->st.q, cont, sizeof(cont) - 1);
}

void rc_http_publish_end(struct rc_conn *c)
{
	if (c->state != RC_CONN_PUB || !c->pub)
		return;
	rc_chan_pub_release(c->pub->ch);
	rc_hub_release(&c->st.srv->hub, c->pub->ch);
	free(c->pub);
	c->pub = NULL;
	rc_stream_account(&c->st);
}

/* The body ended: the answer, and the connection reads requests again. */
static void body_done(struct rc_conn *c)
{
	struct rc_conn_pub *pub = c->pub;
	char body[96];
	int bl = snprintf(body, sizeof(body), "published %llu messages, %llu bytes\n",
			  (unsigned long long)pub->msgs, (unsigned long long)pub->bytes);
	bool close = !pub->keep_alive;

	rc_http_publish_end(c);
	c->state = RC_CONN_HTTP;
	c->awaiting = true;
	c->req_ms = (uint32_t)rc_loop_now_ms(c->st.srv->loop);
	rc_http_respond(c, 200, "text/plain", NULL, body, (size_t)bl, close);
}

/* Each piece that arrives is one message, copied once (the client ring's
 * buffer goes back at once) into a shared message that every subscriber's
 * send points at. */
size_t rc_http_publish_body(struct rc_conn *c, const uint8_t *data, size_t len)
{
	struct rc_server *srv = c->st.srv;
	size_t used = 0;

	while (used < len && c->state == RC_CONN_PUB && rc_stream_can_work(&c->st)) {
		struct rc_conn_pub *pub = c->pub;
		size_t avail = len - used < PIECE_MAX ? len - used : PIECE_MAX;
		const uint8_t *piece = data + used;
		size_t plen, n;
		bool end;

		rc_stream_did_work(&c->st);
		if (pub->chunked_body) {
			n = rc_chunked_feed(&pub->chunked, data + used, avail, &piece, &plen);
			if (pub->chunked.failed) {
				srv->stats.pub_bad_bodies++;
				rc_http_publish_end(c);
				c->state = RC_CONN_HTTP;
				rc_http_respond(c, 400, "text/plain", NULL, "malformed chunked body\n", 23,
						true);
				return len;
			}
			end = pub->chunked.done;
		} else {
			plen = avail < pub->body_left ? avail : (size_t)pub->body_left;
			n = plen;
			pub->body_left -= plen;
			end = pub->body_left == 0;
		}
		used += n;
		if (plen) {
			struct rc_shmsg *m = rc_shmsg_new((uint32_t)plen);

			if (!m) {
				rc_conn_close(c);
				return len;
			}
			memcpy(m->data, piece, plen);
			m->len = (uint32_t)plen;
			pub->msgs++;
			pub->bytes += plen;
			rc_publish_shared(srv, pub->ch, m);
		}
		if (end) {
			body_done(c);
			break;
		}
		if (!n)
			break;
	}
	return used;
}
