/* permessage-deflate (RFC 7692) negotiation: which of a client's offers
 * in Sec-WebSocket-Extensions ringcast accepts, and the answer it sends.
 *
 * ringcast compresses each message once for every subscriber of its
 * channel, so it accepts an offer only where that is possible: the server
 * keeps no context between messages (it always answers
 * server_no_context_takeover, which RFC 7692 7.1.1.1 lets a server add to
 * any offer) and uses the full 32 KiB window, so an offer that limits the
 * server's window (server_max_window_bits below 15) is declined and the
 * next offer is tried (one that asks for 15 is accepted, and the answer
 * says server_max_window_bits=15, as RFC 7692 7.1.2.1 requires). The client is asked to keep no context either
 * (client_no_context_takeover, 7.1.1.2), so each message a client sends
 * decompresses on its own. client_max_window_bits in an offer only says
 * the client could take a limit; ringcast sets none.
 *
 * Pure and allocation-free: reads exactly the bytes it is given. */
#ifndef RC_WS_DEFLATE_OFFER_H
#define RC_WS_DEFLATE_OFFER_H

#include <stdbool.h>
#include <stddef.h>

/* The answer's longest form, with its line end. */
#define RC_WS_DEFLATE_RESPONSE_MAX 160

/* What was agreed for one connection. */
struct rc_ws_deflate {
	bool on;		/* permessage-deflate in use */
	/* The accepted offer named server_max_window_bits (=15): the answer
	 * must name it too (RFC 7692 7.1.2.1). */
	bool server_max_window_bits;
};

/* Reads the value of one Sec-WebSocket-Extensions header, v[0..len) (the
 * values of several such headers joined with ", " read the same), and
 * takes the first permessage-deflate offer ringcast can accept. *out says
 * whether one was. Returns 0 (whether or not an offer was taken), or
 * -EINVAL when the header breaks RFC 6455's grammar (out->on is false
 * then: the caller answers without the extension). An offer with an
 * unknown, repeated or malformed parameter is declined, not an error
 * (RFC 7692 5: the server declines offers it does not understand). */
int rc_ws_deflate_negotiate(const char *v, size_t len, struct rc_ws_deflate *out);

/* Writes the answer's header line for d ("Sec-WebSocket-Extensions: ...
 * \r\n"; nothing when d->on is false) into buf[0..cap). Returns its length
 * or -ENOSPC. */
int rc_ws_deflate_response(const struct rc_ws_deflate *d, char *buf, size_t cap);

#endif
