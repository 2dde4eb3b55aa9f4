/* A second, independent NATS client for the cluster tests: the NATS C
 * client (Debian's libnats-dev), used here and never in the server, checks
 * that what ringcast publishes reads as NATS to another implementation and
 * that what another implementation publishes reaches ringcast's
 * subscribers.
 *
 *   libnats-client pub URL SUBJECT PAYLOAD [RC_HEADER]
 *       publishes PAYLOAD, with the header "Rc: RC_HEADER" when given
 *   libnats-client sub URL SUBJECT COUNT TIMEOUT_MS
 *       prints "ready" once subscribed, then one line per message:
 *       "<payload length> <Rc header or -> <payload>" (payloads are text
 *       here); exits 0 after COUNT messages, 1 on a timeout */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: libnats-client pub URL SUBJECT PAYLOAD [RC_HEADER]\n"
			"       libnats-client sub URL SUBJECT COUNT TIMEOUT_MS\n");
	return 2;
}

static int pub(natsConnection *nc, char **argv, int argc)
{
	natsMsg *m = NULL;
	natsStatus s = natsMsg_Create(&m, argv[3], NULL, argv[4], (int)strlen(argv[4]));

	if (s == NATS_OK && argc > 5)
		s = natsMsgHeader_Set(m, "Rc", argv[5]);
	if (s == NATS_OK)
		s = natsConnection_PublishMsg(nc, m);
	if (s == NATS_OK)
		s = natsConnection_Flush(nc);
	natsMsg_Destroy(m);
	return s == NATS_OK ? 0 : 1;
}

static int sub(natsConnection *nc, char **argv)
{
	natsSubscription *sb = NULL;
	long count = strtol(argv[4], NULL, 10), timeout = strtol(argv[5], NULL, 10);
	natsStatus s = natsConnection_SubscribeSync(&sb, nc, argv[3]);
	int ret = 0;

	if (s == NATS_OK)
		s = natsConnection_Flush(nc);
	if (s != NATS_OK)
		return 1;
	printf("ready\n");
	fflush(stdout);
	for (long i = 0; i < count; i++) {
		natsMsg *m = NULL;
		const char *rc = NULL;

		if (natsSubscription_NextMsg(&m, sb, timeout) != NATS_OK) {
			ret = 1;
			break;
		}
		if (natsMsgHeader_Get(m, "Rc", &rc) != NATS_OK)
			rc = "-";
		printf("%d %s %.*s\n", natsMsg_GetDataLength(m), rc, natsMsg_GetDataLength(m),
		       natsMsg_GetData(m));
		fflush(stdout);
		natsMsg_Destroy(m);
	}
	natsSubscription_Destroy(sb);
	return ret;
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	int ret;

	if (argc < 5 || (strcmp(argv[1], "pub") && strcmp(argv[1], "sub")) ||
	    (!strcmp(argv[1], "sub") && argc != 6))
		return usage();
	if (natsConnection_ConnectTo(&nc, argv[2]) != NATS_OK) {
		fprintf(stderr, "libnats-client: cannot connect to %s\n", argv[2]);
		return 1;
	}
	ret = !strcmp(argv[1], "pub") ? pub(nc, argv, argc) : sub(nc, argv);
	natsConnection_Destroy(nc);
	nats_Close();
	return ret;
}
