/* ringcast-pub's transports: where a batch of messages goes.
 *
 *   UDP   one datagram per message (sendmmsg), to a connected socket
 *   TCP   the gateway's TCP ingest: "PUB <channel> raw|framed\n", wait for
 *         "OK", then the bytes (raw) or 4-byte big-endian length + payload
 *         per message (framed)
 *   HTTP  POST /pub/<channel> with a chunked body, one chunk per message,
 *         "Expect: 100-continue" so a refusal (409, 400) arrives before the
 *         body is sent
 *
 * Sockets are blocking: TCP flow control is how the gateway slows a
 * publisher down. Sends never raise SIGPIPE (MSG_NOSIGNAL). */
#ifndef RC_PERF_PUB_SINK_H
#define RC_PERF_PUB_SINK_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum sink_kind { SINK_UDP, SINK_TCP, SINK_HTTP };

struct sink_stats {
	uint64_t sent;		/* messages handed to the socket */
	uint64_t bytes;		/* payload bytes of those */
	uint64_t refused;	/* UDP: ICMP port unreachable reported */
	uint64_t dropped;	/* UDP: ENOBUFS / EAGAIN, no room locally */
};

struct pub_sink {
	enum sink_kind kind;
	int fd;
	bool framed;			/* TCP */
	bool cut;			/* a send was interrupted mid-message */
	const volatile sig_atomic_t *stop;	/* set by the signal handler */
	char where[1500];		/* for messages: "tcp 127.0.0.1:9100", the URL */
	char answer[512];		/* HTTP: the final status line and body */
};

/* Opens a UDP sink to dest ("HOST:PORT"). Returns 0 or negative errno with a
 * message already printed on stderr (-EINVAL for a bad address, which the
 * caller reports as a usage error). */
int pub_sink_open_udp(struct pub_sink *s, const char *dest,
		      const volatile sig_atomic_t *stop);

/* Connects to a TCP ingest port at dest ("HOST:PORT") and asks to publish on
 * channel. Returns 0 once the gateway said OK; -EINVAL for a bad address;
 * -EACCES when it answered ERR (the line is printed); another negative
 * errno when the connection failed (printed). */
int pub_sink_open_tcp(struct pub_sink *s, const char *dest, const char *channel, bool framed,
		      const volatile sig_atomic_t *stop);

/* Connects to the gateway of url ("http://HOST[:PORT]/pub/CH", or
 * "http://HOST[:PORT]" plus channel) and starts the POST. Returns 0 once
 * the gateway answered 100 Continue; -EINVAL for a bad URL; -EACCES when it
 * refused (status printed); another negative errno when the connection
 * failed (printed). */
int pub_sink_open_http(struct pub_sink *s, const char *url, const char *channel,
		       const volatile sig_atomic_t *stop);

/* Sends the n messages in iov[0..n). UDP errors about single datagrams are
 * counted in st and skipped; HTTP skips empty messages (an empty chunk
 * would end the body). Returns 0 (also when interrupted by *stop), or
 * negative errno; on a TCP/HTTP failure any ERR line or HTTP answer the
 * gateway sent is printed. */
int pub_sink_send(struct pub_sink *s, const struct iovec *iov, unsigned n,
		  struct sink_stats *st);

/* Ends the stream in order: TCP half-closes and waits (bounded) for the
 * gateway to close; HTTP sends the last chunk and reads the answer into
 * s->answer. Returns 0, -EPROTO when the HTTP answer is not 2xx, or
 * negative errno. */
int pub_sink_finish(struct pub_sink *s);

/* Closes the socket (safe to call twice). */
void pub_sink_close(struct pub_sink *s);

#endif
