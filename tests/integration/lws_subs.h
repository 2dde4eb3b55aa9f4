/* A pool of libwebsockets client subscribers sharing one lws context, all
 * serviced from the calling thread. Every subscriber checks each message it
 * receives against the payload it expects next (see payload_fill), so a
 * test can assert exact, in-order, byte-identical delivery afterwards. */
#ifndef RC_IT_LWS_SUBS_H
#define RC_IT_LWS_SUBS_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

struct lws;
struct lws_context;
struct sub_pool;

enum sub_state {
	SUB_IDLE,
	SUB_CONNECTING,
	SUB_OPEN,
	SUB_CLOSED,
	SUB_FAILED,
};

#define SUB_NO_CLOSE (-1)	/* no close frame received */

struct sub {
	struct sub_pool *pool;
	struct lws *wsi;
	int idx;
	unsigned chan;			/* payload channel index to verify */
	enum sub_state state;
	uint64_t next_seq;		/* seq of the message expected next */
	uint64_t count;			/* complete messages received */
	uint64_t bytes;			/* payload bytes received */
	uint64_t mismatches;		/* messages that were not the next one */
	uint64_t skipped;		/* expected messages jumped over */
	uint64_t text_msgs;		/* messages not sent as binary */
	uint64_t compressed;		/* messages that came with RSV1 set
					 * (permessage-deflate pools only) */
	int64_t first_bad_seq;		/* expected seq at the first mismatch */
	size_t first_bad_len;
	int close_code;			/* from the server's close frame */
	int local_port;			/* our end of the connection, once open */
	char err[160];			/* connection error text from lws */
	int want_close;
	unsigned char *msg;		/* reassembly of fragmented messages */
	size_t msg_len, msg_cap;
	int msg_binary;
	int msg_compressed;
};

struct sub_pool {
	struct lws_context *ctx;
	struct sub *subs;
	int n;
	/* size of message seq; payload_size unless a test overrides it */
	size_t (*size_of)(uint64_t seq);
	/* whether buf/len is message seq of channel chan, of size want;
	 * payload_match unless a test overrides it (e.g. with payloads that
	 * compress) */
	int (*match)(unsigned chan, uint64_t seq, size_t want,
		     const unsigned char *buf, size_t len);
	void *tick;			/* lws_sorted_usec_list_t, opaque here */
};

/* Creates a context for n subscribers (none connected yet). NULL on error. */
struct sub_pool *sub_pool_new(int n);
/* As sub_pool_new, with lws's permessage-deflate client extension offered
 * on every connection ("permessage-deflate; client_max_window_bits"), so
 * the subscribers get compressed messages inflated by lws itself. */
struct sub_pool *sub_pool_new_deflate(int n);
void sub_pool_free(struct sub_pool *p);

/* Starts connecting subscriber i to ws://ep/ws/<channel>; it will verify
 * messages as payloads of channel index chan starting at first_seq.
 * Returns 0 when the attempt started. */
int sub_connect(struct sub_pool *p, int i, const struct rc_endpoint *ep,
		const char *channel, unsigned chan, uint64_t first_seq);
/* As sub_connect, with the request path given whole (e.g.
 * "/ws/live?token=...") and, when protocol is not NULL, a
 * Sec-WebSocket-Protocol list to offer (e.g. "ringcast,ringcast-token.T");
 * lws checks that the server selects one of them. */
int sub_connect_path(struct sub_pool *p, int i, const struct rc_endpoint *ep,
		     const char *path, const char *protocol, unsigned chan,
		     uint64_t first_seq);
/* Asks subscriber i to close with 1000. */
void sub_close(struct sub_pool *p, int i);

/* Services the context until cond(p, arg) is true or timeout_ms passes.
 * Returns 1 when cond became true. */
int sub_pool_service_until(struct sub_pool *p,
			   int (*cond)(struct sub_pool *, void *), void *arg,
			   int timeout_ms);
/* Services for about ms milliseconds (for use as an idle callback). */
void sub_pool_service_for(struct sub_pool *p, int ms);
/* idle hook for rc_wait_metric: arg is the pool */
void sub_pool_idle(void *pool);

/* Waits until no subscriber is still connecting. Returns how many are
 * open. */
int sub_pool_wait_open(struct sub_pool *p, int timeout_ms);
/* Waits until every open subscriber on channel index c has next_seq >=
 * expect[c] (nchan entries). Subscribers that closed or failed stop being
 * waited for; the caller's final checks catch them. Returns 1 on success. */
int sub_pool_wait_seq(struct sub_pool *p, const uint64_t *expect, int nchan,
		      int timeout_ms);
/* Waits until every subscriber is closed or failed. */
int sub_pool_wait_closed(struct sub_pool *p, int timeout_ms);

/* One line describing subscriber s, for assertion messages. */
const char *sub_describe(const struct sub *s, char *buf, size_t cap);
const char *sub_state_name(enum sub_state st);

#endif
