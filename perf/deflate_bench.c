/* deflate-bench: which Debian library compresses one WebSocket message
 * fastest for permessage-deflate with server_no_context_takeover (RFC 7692),
 * zlib or libdeflate?
 *
 * ringcast will compress each message once, on its own, for every
 * subscriber of its channel, so what counts is the cost of one whole
 * message from a fresh state, not streaming throughput. Two payloads:
 *   game:  a demo game state, {"t":N,"players":[{"id":..,"x":..,"y":..},..]}
 *          with 8..16 players (about 200..600 bytes);
 *   state: a JSON state of about 10 KB.
 * Each is a pool of different messages (the same numbers in a different
 * order would be an unfair gift to a branch predictor), compressed in turn.
 *
 * Compressors (every one emits a payload an RFC 7692 receiver accepts):
 *   zlib-reset L:   one raw deflate stream (windowBits -15, memLevel 8),
 *                   deflateReset() before each message, Z_SYNC_FLUSH, the
 *                   00 00 ff ff tail removed (RFC 7692 7.2.1);
 *   zlib-init L:    deflateInit2() + deflate() + deflateEnd() per message;
 *   libdeflate L:   one compressor, libdeflate_deflate_compress() per
 *                   message (a final block, BFINAL=1) and one 0x00 byte
 *                   after it (RFC 7692 7.2.3.4's form).
 * Decompressors (the client direction: a browser's message is a sync-
 * flushed stream without its tail, here zlib-reset 6's output):
 *   zlib:       one inflater, inflateReset() per message, the payload and
 *               then the 00 00 ff ff tail as a second piece of input;
 *   libdeflate: the payload copied into a scratch buffer with the tail and
 *               a final empty stored block after it (libdeflate needs the
 *               whole stream in one buffer and a BFINAL block to end it);
 *               the copy is timed too.
 * Every compressor's output is checked by inflating it with zlib before it
 * is timed.
 *
 * Output: one line per run and point ("run R PAYLOAD OP LIB ns/msg N MB/s M
 * ratio Q"), then a Markdown table with min-max and the median over the
 * runs. MB/s counts uncompressed bytes (10^6 per MB) on both directions;
 * ratio is compressed/uncompressed bytes over the pool.
 *
 *   deflate-bench [-r RUNS] [-t SECONDS_PER_POINT]
 * Pin it (taskset -c 1): the figures are per CPU. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libdeflate.h>
#include <zlib.h>

#define POOL 64
#define MAX_MSG (16 * 1024)
#define OUT_CAP (MAX_MSG + 1024)
#define MAX_RUNS 32

static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };
/* An empty stored block with BFINAL=1, byte aligned (what follows an
 * empty stored block always is): header bits 1,00 then LEN 0, NLEN ~0. */
static const uint8_t final_block[5] = { 0x01, 0x00, 0x00, 0xff, 0xff };

struct msg {
	uint8_t *p;
	size_t len;
};

struct pool {
	const char *name;
	struct msg m[POOL];
	size_t total;
	/* zlib-reset 6's output of each, the inflate benchmarks' input */
	struct msg z[POOL];
};

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "deflate-bench: %s\n", what);
	exit(1);
}

static void put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= cap - *n)
		die("message larger than MAX_MSG");
	*n += (size_t)w;
}

/* A demo game's state: a tick and 8..16 players at positions in quarter
 * units, as a game server would publish them. */
static size_t game_state(char *buf, size_t cap, uint32_t tick)
{
	unsigned players = 8 + rnd() % 9;
	size_t n = 0;

	put(buf, cap, &n, "{\"t\":%u,\"players\":[", 123456 + tick);
	for (unsigned i = 0; i < players; i++)
		put(buf, cap, &n, "%s{\"id\":%u,\"x\":%.2f,\"y\":%.2f}", i ? "," : "", i + 1,
		    (double)(rnd() % 4000) / 4.0, (double)(rnd() % 4000) / 4.0);
	put(buf, cap, &n, "]}");
	return n;
}

/* About 10 KB: a larger game's state with names, scores and a few fields
 * more per player, until the size is reached. */
static size_t big_state(char *buf, size_t cap, uint32_t tick)
{
	static const char *const names[] = { "ada", "bob", "cyd", "dee", "eve", "fay",
					     "gus", "hal", "ivy", "jon", "kim", "lou" };
	static const char *const teams[] = { "red", "blue", "green", "gold" };
	size_t n = 0;

	put(buf, cap, &n, "{\"t\":%u,\"map\":\"harbour\",\"round\":%u,\"players\":[",
	    123456 + tick, 1 + tick % 7);
	for (unsigned i = 0; n < 10 * 1024 - 160; i++)
		put(buf, cap, &n,
		    "%s{\"id\":%u,\"name\":\"%s%u\",\"team\":\"%s\",\"x\":%.2f,\"y\":%.2f,"
		    "\"hp\":%u,\"score\":%u,\"alive\":%s}",
		    i ? "," : "", i + 1, names[rnd() % 12], rnd() % 100, teams[rnd() % 4],
		    (double)(rnd() % 4000) / 4.0, (double)(rnd() % 4000) / 4.0, rnd() % 101,
		    rnd() % 5000, rnd() % 8 ? "true" : "false");
	put(buf, cap, &n, "]}");
	return n;
}

/* zlib, one raw stream reused: reset, compress with a sync flush, drop the
 * 00 00 ff ff that the flush's empty stored block ends with. */
static size_t zlib_reset(z_stream *zs, const struct msg *in, uint8_t *out, size_t cap)
{
	if (deflateReset(zs) != Z_OK)
		die("deflateReset");
	zs->next_in = in->p;
	zs->avail_in = (uInt)in->len;
	zs->next_out = out;
	zs->avail_out = (uInt)cap;
	if (deflate(zs, Z_SYNC_FLUSH) != Z_OK || zs->avail_in != 0 || zs->avail_out == 0)
		die("deflate");
	size_t n = cap - zs->avail_out;

	if (n < 4 || memcmp(out + n - 4, tail, 4) != 0)
		die("no sync-flush tail");
	return n - 4;
}

static size_t zlib_init(int level, const struct msg *in, uint8_t *out, size_t cap)
{
	z_stream zs;
	size_t n;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		die("deflateInit2");
	zs.next_in = in->p;
	zs.avail_in = (uInt)in->len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_SYNC_FLUSH) != Z_OK || zs.avail_in != 0 || zs.avail_out == 0)
		die("deflate");
	n = cap - zs.avail_out;
	deflateEnd(&zs);
	if (n < 4 || memcmp(out + n - 4, tail, 4) != 0)
		die("no sync-flush tail");
	return n - 4;
}

static size_t ld_compress(struct libdeflate_compressor *c, const struct msg *in, uint8_t *out,
			  size_t cap)
{
	size_t n = libdeflate_deflate_compress(c, in->p, in->len, out, cap - 1);

	if (!n)
		die("libdeflate_deflate_compress");
	out[n] = 0x00;	/* the empty stored block's header bits, RFC 7692 7.2.3.4 */
	return n + 1;
}

/* Inflates payload + 00 00 ff ff with zlib: the reference every output is
 * checked with, and the zlib side of the inflate benchmark. */
static size_t zlib_inflate(z_stream *zs, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	int ret;

	if (inflateReset(zs) != Z_OK)
		die("inflateReset");
	zs->next_out = out;
	zs->avail_out = (uInt)cap;
	zs->next_in = (uint8_t *)in;
	zs->avail_in = (uInt)len;
	ret = inflate(zs, Z_SYNC_FLUSH);
	if (ret == Z_STREAM_END)
		return cap - zs->avail_out;
	if (ret != Z_OK || zs->avail_in != 0)
		die("inflate (payload)");
	zs->next_in = (uint8_t *)tail;
	zs->avail_in = sizeof(tail);
	ret = inflate(zs, Z_SYNC_FLUSH);
	if (ret != Z_OK && ret != Z_STREAM_END)
		die("inflate (tail)");
	return cap - zs->avail_out;
}

static size_t ld_inflate(struct libdeflate_decompressor *d, const uint8_t *in, size_t len,
			 uint8_t *scratch, uint8_t *out, size_t cap)
{
	size_t n;

	memcpy(scratch, in, len);
	memcpy(scratch + len, tail, sizeof(tail));
	memcpy(scratch + len + sizeof(tail), final_block, sizeof(final_block));
	if (libdeflate_deflate_decompress(d, scratch, len + sizeof(tail) + sizeof(final_block), out,
					  cap, &n) != LIBDEFLATE_SUCCESS)
		die("libdeflate_deflate_decompress");
	return n;
}

enum kind { ZLIB_RESET, ZLIB_INIT, LIBDEFLATE, INF_ZLIB, INF_LIBDEFLATE };

struct point {
	const char *op, *lib;
	enum kind kind;
	int level;
	double ns[MAX_RUNS], mbs[MAX_RUNS];
	double ratio;
};

struct ctx {
	z_stream def[10];	/* by level */
	z_stream inf;
	struct libdeflate_compressor *ld[10];
	struct libdeflate_decompressor *ldd;
	uint8_t out[OUT_CAP], check[OUT_CAP], scratch[OUT_CAP];
};

static size_t one(struct ctx *c, const struct point *pt, const struct pool *p, unsigned i)
{
	switch (pt->kind) {
	case ZLIB_RESET:
		return zlib_reset(&c->def[pt->level], &p->m[i], c->out, sizeof(c->out));
	case ZLIB_INIT:
		return zlib_init(pt->level, &p->m[i], c->out, sizeof(c->out));
	case LIBDEFLATE:
		return ld_compress(c->ld[pt->level], &p->m[i], c->out, sizeof(c->out));
	case INF_ZLIB:
		return zlib_inflate(&c->inf, p->z[i].p, p->z[i].len, c->out, sizeof(c->out));
	case INF_LIBDEFLATE:
		return ld_inflate(c->ldd, p->z[i].p, p->z[i].len, c->scratch, c->out, sizeof(c->out));
	}
	return 0;
}

/* Compressed size over the pool, after checking that zlib inflates every
 * message back to what it was (compressors) or that the output is the
 * message (decompressors). */
static double verify(struct ctx *c, const struct point *pt, const struct pool *p)
{
	size_t in = 0, out = 0;

	for (unsigned i = 0; i < POOL; i++) {
		size_t n = one(c, pt, p, i);

		if (pt->kind == INF_ZLIB || pt->kind == INF_LIBDEFLATE) {
			if (n != p->m[i].len || memcmp(c->out, p->m[i].p, n) != 0)
				die("inflate gave something else");
			in += p->z[i].len;
		} else {
			size_t back = zlib_inflate(&c->inf, c->out, n, c->check, sizeof(c->check));

			if (back != p->m[i].len || memcmp(c->check, p->m[i].p, back) != 0)
				die("compressed output does not inflate back");
			in += n;
		}
		out += p->m[i].len;
	}
	return (double)in / (double)out;
}

/* Times whole passes over the pool for about secs seconds. */
static void measure(struct ctx *c, struct point *pt, const struct pool *p, double secs, int run)
{
	uint64_t msgs = 0, bytes = 0;
	volatile size_t sink = 0;
	double t0 = now_s(), t;

	do {
		for (unsigned i = 0; i < POOL; i++)
			sink += one(c, pt, p, i);
		msgs += POOL;
		bytes += p->total;
		t = now_s() - t0;
	} while (t < secs);
	(void)sink;
	pt->ns[run] = t * 1e9 / (double)msgs;
	pt->mbs[run] = (double)bytes / t / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void stats(const double *v, int n, double *min, double *med, double *max)
{
	double s[MAX_RUNS];

	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	*min = s[0];
	*max = s[n - 1];
	*med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void fill(struct pool *p, struct ctx *c, const char *name,
		 size_t (*gen)(char *, size_t, uint32_t))
{
	char buf[MAX_MSG];

	p->name = name;
	p->total = 0;
	for (unsigned i = 0; i < POOL; i++) {
		size_t n = gen(buf, sizeof(buf), i), z;

		p->m[i].p = malloc(n);
		if (!p->m[i].p)
			die("out of memory");
		memcpy(p->m[i].p, buf, n);
		p->m[i].len = n;
		p->total += n;
		z = zlib_reset(&c->def[6], &p->m[i], c->out, sizeof(c->out));
		p->z[i].p = malloc(z);
		if (!p->z[i].p)
			die("out of memory");
		memcpy(p->z[i].p, c->out, z);
		p->z[i].len = z;
	}
}

int main(int argc, char **argv)
{
	static struct ctx c;
	static struct pool pools[2];
	static struct point points[2][8];
#define P(o, l, k, lv) { .op = o, .lib = l, .kind = k, .level = lv }
	static const struct point proto[8] = {
		P("deflate", "zlib-reset", ZLIB_RESET, 1), P("deflate", "zlib-reset", ZLIB_RESET, 6),
		P("deflate", "zlib-init", ZLIB_INIT, 1),   P("deflate", "zlib-init", ZLIB_INIT, 6),
		P("deflate", "libdeflate", LIBDEFLATE, 1), P("deflate", "libdeflate", LIBDEFLATE, 6),
		P("inflate", "zlib", INF_ZLIB, 0),	   P("inflate", "libdeflate", INF_LIBDEFLATE, 0),
	};
#undef P
	int runs = 5, opt;
	double secs = 0.5;

	while ((opt = getopt(argc, argv, "r:t:")) != -1) {
		switch (opt) {
		case 'r':
			runs = atoi(optarg);
			break;
		case 't':
			secs = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-r RUNS] [-t SECONDS_PER_POINT]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS || !(secs > 0))
		die("RUNS must be 1..32 and SECONDS above 0");

	for (int l = 1; l <= 6; l += 5) {
		if (deflateInit2(&c.def[l], l, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			die("deflateInit2");
		c.ld[l] = libdeflate_alloc_compressor(l);
		if (!c.ld[l])
			die("libdeflate_alloc_compressor");
	}
	if (inflateInit2(&c.inf, -15) != Z_OK)
		die("inflateInit2");
	c.ldd = libdeflate_alloc_decompressor();
	if (!c.ldd)
		die("libdeflate_alloc_decompressor");

	fill(&pools[0], &c, "game", game_state);
	fill(&pools[1], &c, "state", big_state);
	printf("# zlib %s, libdeflate %s; pool of %d messages per payload, %.2f s per point, %d runs\n",
	       zlibVersion(), LIBDEFLATE_VERSION_STRING, POOL, secs, runs);
	for (int k = 0; k < 2; k++) {
		size_t lo = SIZE_MAX, hi = 0;

		for (unsigned i = 0; i < POOL; i++) {
			lo = pools[k].m[i].len < lo ? pools[k].m[i].len : lo;
			hi = pools[k].m[i].len > hi ? pools[k].m[i].len : hi;
		}
		printf("# %s: %zu..%zu bytes, mean %zu\n", pools[k].name, lo, hi, pools[k].total / POOL);
	}
	for (int k = 0; k < 2; k++)
		for (int j = 0; j < 8; j++) {
			points[k][j] = proto[j];
			points[k][j].ratio = verify(&c, &points[k][j], &pools[k]);
		}
	/* Runs interleave the points, so that a slow spell of the machine
	 * lands on all of them rather than on one. */
	for (int r = 0; r < runs; r++)
		for (int k = 0; k < 2; k++)
			for (int j = 0; j < 8; j++) {
				struct point *pt = &points[k][j];

				measure(&c, pt, &pools[k], secs, r);
				printf("run %d %s %s %s%s%.0d ns/msg %.1f MB/s %.1f ratio %.3f\n", r + 1,
				       pools[k].name, pt->op, pt->lib, pt->level ? "-L" : "", pt->level,
				       pt->ns[r], pt->mbs[r], pt->ratio);
				fflush(stdout);
			}
	printf("\n| payload | op | library | ns/msg median (min–max) | MB/s median (min–max) | ratio |\n");
	printf("|---|---|---|---|---|---|\n");
	for (int k = 0; k < 2; k++)
		for (int j = 0; j < 8; j++) {
			struct point *pt = &points[k][j];
			double n0, n1, n2, m0, m1, m2;
			char lib[32];

			stats(pt->ns, runs, &n0, &n1, &n2);
			stats(pt->mbs, runs, &m0, &m1, &m2);
			snprintf(lib, sizeof(lib), "%s%s%.0d", pt->lib, pt->level ? " L" : "", pt->level);
			printf("| %s | %s | %s | %.0f (%.0f–%.0f) | %.1f (%.1f–%.1f) | %.3f |\n",
			       pools[k].name, pt->op, lib, n1, n0, n2, m1, m0, m2, pt->ratio);
		}
	return 0;
}
