/* ringcast-token: mints a subscriber token for a channel whose
 * --channel NAME:token-secret-file=... (or token-secret=) is set. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "num.h"
#include "channel.h"
#include "config.h"
#include "token.h"

#define EXIT_USAGE 2
#define EXIT_SECRET 3

static void usage(void)
{
	printf("NAME\n"
	       "    ringcast-token - mint a subscriber token for a ringcast channel\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    ringcast-token --channel NAME (--secret-file PATH | --secret S)\n"
	       "                   [--ttl SECONDS | --expiry UNIX] [--client ID] [--uplink]\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Prints one token (EXPIRY.CLIENT.MAC, HMAC-SHA256, base64url) and a newline.\n"
	       "    ringcast admits it on channel NAME when that channel's token secret is the\n"
	       "    same, until EXPIRY. Present it as ?token=TOKEN on /ws/NAME, /stream/NAME or\n"
	       "    /sse/NAME, as the WebSocket subprotocol 'ringcast-token.TOKEN', or in\n"
	       "    {\"sub\":\"NAME\",\"token\":\"TOKEN\"} on /ws.\n"
	       "\n"
	       "OPTIONS\n"
	       "    --channel NAME      the channel (1-64 of A-Z a-z 0-9 . _ -)\n"
	       "    --secret-file PATH  read the secret from PATH (its final newline is not\n"
	       "                        part of it): the same file as ringcast's\n"
	       "                        token-secret-file=. Preferred over --secret.\n"
	       "    --secret S          the secret itself. Other local users can read it in\n"
	       "                        the process list; use --secret-file.\n"
	       "    --ttl SECONDS       valid for this long from now (default 3600)\n"
	       "    --expiry UNIX       valid until this unix time instead\n"
	       "    --client ID         a client id carried in the token (0-64 of\n"
	       "                        A-Z a-z 0-9 _ -; default none)\n"
	       "    --uplink            a token that also lets its holder send to the\n"
	       "                        channel's publisher (a channel with uplink=on and a\n"
	       "                        token secret takes uplink only with such a token)\n"
	       "    --help              show this text\n"
	       "\n"
	       "EXIT STATUS\n"
	       "    0  the token was printed\n"
	       "    2  usage error (missing or bad option)\n"
	       "    3  the secret could not be read or is not 16-256 bytes\n"
	       "\n"
	       "EXAMPLE\n"
	       "    head -c 32 /dev/urandom | base64 > /etc/ringcast/live.secret\n"
	       "    ringcast --channel live:token-secret-file=/etc/ringcast/live.secret\n"
	       "    ringcast-token --channel live --secret-file /etc/ringcast/live.secret --ttl 600\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	return rc_num_parse_u64(s, 0, UINT64_MAX, out);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "channel", required_argument, NULL, 'c' },
		{ "secret-file", required_argument, NULL, 'f' },
		{ "secret", required_argument, NULL, 's' },
		{ "ttl", required_argument, NULL, 't' },
		{ "expiry", required_argument, NULL, 'e' },
		{ "client", required_argument, NULL, 'i' },
		{ "uplink", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *channel = NULL, *secret_file = NULL, *secret = NULL, *client = "";
	uint8_t key[RC_TOKEN_SECRET_MAX];
	char tok[RC_TOKEN_MAX + 1];
	uint64_t ttl = 3600, expiry = 0;
	bool have_expiry = false;
	enum rc_token_scope scope = RC_TOKEN_SUBSCRIBE;
	int key_len, n, c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': channel = optarg; break;
		case 'f': secret_file = optarg; break;
		case 's': secret = optarg; break;
		case 'i': client = optarg; break;
		case 'u': scope = RC_TOKEN_UPLINK; break;
		case 't':
			if (parse_u64(optarg, &ttl) < 0 || ttl == 0 || ttl > 100ull * 365 * 86400) {
				fprintf(stderr, "ringcast-token: --ttl: expected 1 to %llu seconds\n",
					100ull * 365 * 86400);
				return EXIT_USAGE;
			}
			break;
		case 'e':
			if (parse_u64(optarg, &expiry) < 0 || expiry >= 10000000000000000000ull) {
				fprintf(stderr, "ringcast-token: --expiry: expected unix seconds\n");
				return EXIT_USAGE;
			}
			have_expiry = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			fprintf(stderr, "ringcast-token: unknown or incomplete option '%s'\n"
				"Try 'ringcast-token --help'.\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc || !channel || !rc_channel_name_valid(channel, strlen(channel)) ||
	    (!secret_file == !secret)) {
		fprintf(stderr, "ringcast-token: need --channel NAME (a valid channel name) and one "
			"of --secret-file PATH or --secret S\nTry 'ringcast-token --help'.\n");
		return EXIT_USAGE;
	}
	if (secret_file) {
		key_len = rc_config_read_secret(secret_file, key, sizeof(key));
		if (key_len < 0) {
			fprintf(stderr, "ringcast-token: %s: %s\n", secret_file,
				key_len == -EFBIG ? "longer than 256 bytes" : strerror(-key_len));
			return EXIT_SECRET;
		}
	} else {
		key_len = strlen(secret) <= sizeof(key) ? (int)strlen(secret) : (int)sizeof(key) + 1;
		if (key_len <= (int)sizeof(key))
			memcpy(key, secret, (size_t)key_len);
	}
	if (key_len < RC_TOKEN_SECRET_MIN || key_len > RC_TOKEN_SECRET_MAX) {
		fprintf(stderr, "ringcast-token: a token secret is 16-256 bytes\n");
		return EXIT_SECRET;
	}
	if (!have_expiry)
		expiry = (uint64_t)time(NULL) + ttl;
	n = rc_token_mint_scope(scope, tok, sizeof(tok), key, (size_t)key_len, channel,
				strlen(channel), expiry, client, strlen(client));
	explicit_bzero(key, sizeof(key));
	if (n < 0) {
		fprintf(stderr, "ringcast-token: --client: 0-64 of A-Z a-z 0-9 _ -\n");
		return EXIT_USAGE;
	}
	printf("%s\n", tok);
	return 0;
}
