/* Access control at the gateway's doors: subscriber tokens, publisher
 * stream keys, subscriber limits. Each check counts its refusals in the
 * counters it is given (a loop's, exported as
 * ringcast_access_refused_total). */
#ifndef RC_ACCESS_H
#define RC_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_config;
struct rc_hub;
struct rc_http_request;

enum rc_refuse {
	RC_REFUSE_TOKEN_MISSING,	/* 401 / {"error":"token required"} */
	RC_REFUSE_TOKEN_INVALID,	/* 403 / {"error":"invalid token"} */
	RC_REFUSE_TOKEN_EXPIRED,	/* 403 / {"error":"token expired"} */
	RC_REFUSE_KEY_MISSING,		/* 401 / ERR forbidden */
	RC_REFUSE_KEY_INVALID,		/* 403 / ERR forbidden */
	RC_REFUSE_ORIGIN,		/* 403 on a WebSocket upgrade */
	RC_REFUSE_PER_IP,		/* 503: --max-conns-per-ip */
	RC_REFUSE_SUBSCRIBERS,		/* 503 / 1013: max-subscribers */
	RC_REFUSE_UDP_SOURCE,		/* datagram from outside --udp-allow (summed from the ports) */
	RC_REFUSE_MUX_KEY,		/* mux datagram without the channel's key */
	RC_REFUSE_REASONS,
	RC_ACCESS_OK = -1,
};

/* What the checks read and where they count: the configuration, a loop's
 * hub (for subscriber counts) and its refusal counters. */
struct rc_access {
	const struct rc_config *cfg;
	struct rc_hub *hub;
	uint64_t *refused;	/* RC_REFUSE_REASONS counters */
};

/* The label of a refusal in /metrics. */
const char *rc_refuse_name(int reason);

/* Token check for subscribing to channel name[0..len): RC_ACCESS_OK when
 * the channel needs no token or tok[0..tok_len) is valid now (a plain
 * token, or an uplink one: token.h); otherwise the (counted) refusal. tok
 * NULL: none was presented. *uplink (may be NULL) says whether the
 * subscriber may also send to the channel's publisher: no token needed, or
 * an uplink token. */
int rc_access_token(const struct rc_access *a, const char *name, size_t len, const char *tok,
		    size_t tok_len, bool *uplink);

/* Stream key check for publishing to name[0..len); key NULL: none given.
 * RC_ACCESS_OK, or RC_REFUSE_KEY_MISSING / _INVALID (counted). */
int rc_access_key(const struct rc_access *a, const char *name, size_t len, const char *key,
		  size_t key_len);

/* True (and counted) when channel name[0..len) already has its
 * max-subscribers. */
bool rc_access_full(const struct rc_access *a, const char *name, size_t len);

/* The token a WebSocket client offered as a subprotocol
 * "ringcast-token.<TOKEN>" in Sec-WebSocket-Protocol, and whether it also
 * offered "ringcast". Returns true when a token entry was found. */
bool rc_access_protocol_token(const struct rc_http_request *req, const char **tok, size_t *len,
			      bool *offered_ringcast);

#define RC_ACCESS_PROTOCOL "ringcast"
#define RC_ACCESS_PROTOCOL_TOKEN "ringcast-token."

#endif
