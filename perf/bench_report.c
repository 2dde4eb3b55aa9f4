/* ringcast-bench figures: /proc readers, the human table and the JSON file. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "rc_version.h"

int bench_proc_cpu(pid_t pid, double *secs)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	long tck = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm (field 2) may contain spaces and parentheses; the fields after
	 * the last ')' are fixed: state is field 3, utime 14, stime 15. */
	p = strrchr(buf, ')');
	if (p == NULL || tck <= 0)
		return -EINVAL;
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		   &utime, &stime) != 2)
		return -EINVAL;
	*secs = (double)(utime + stime) / (double)tck;
	return 0;
}

int bench_proc_sched(pid_t pid, double *run, double *wait)
{
	char dir[64], path[400], line[128];
	unsigned long long r, w;
	double run_sum = 0, wait_sum = 0;
	struct dirent *de;
	DIR *d;
	int found = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (d == NULL)
		return -errno;
	/* Thread count is bounded by the process; 65536 entries is far more
	 * than a gateway or this bench ever has. */
	for (int i = 0; i < 65536 && (de = readdir(d)) != NULL; i++) {
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/%s/schedstat", dir, de->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;	/* the thread just exited */
		if (fgets(line, sizeof(line), f) != NULL &&
		    sscanf(line, "%llu %llu", &r, &w) == 2) {
			run_sum += (double)r / 1e9;
			wait_sum += (double)w / 1e9;
			found++;
		}
		fclose(f);
	}
	closedir(d);
	if (found == 0)
		return -ENOENT;
	*run = run_sum;
	*wait = wait_sum;
	return 0;
}

int bench_proc_rss(pid_t pid, long *kb)
{
	char path[64], line[256];
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	/* /proc/PID/status has a few dozen lines; 200 is a generous bound. */
	for (int i = 0; i < 200 && fgets(line, sizeof(line), f) != NULL; i++) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			*kb = strtol(line + 6, NULL, 10);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/* Finds `key` in a /proc/net/snmp style pair of lines ("Udp: names..." then
 * "Udp: values..."). Returns 0 or negative errno. */
static int snmp_value(const char *path, const char *prefix, const char *key, uint64_t *out)
{
	char names[2048], values[2048];
	FILE *f = fopen(path, "r");
	int err = -ENOENT;

	if (f == NULL)
		return -errno;
	for (int i = 0; i < 100 && fgets(names, sizeof(names), f) != NULL; i++) {
		char *sn, *sv, *tn, *tv;

		if (strncmp(names, prefix, strlen(prefix)) != 0)
			continue;
		if (fgets(values, sizeof(values), f) == NULL)
			break;
		tn = strtok_r(names, " \n", &sn);
		tv = strtok_r(values, " \n", &sv);
		/* Each line has under 100 columns. */
		for (int col = 0; col < 100 && tn != NULL && tv != NULL; col++) {
			if (strcmp(tn, key) == 0) {
				*out = strtoull(tv, NULL, 10);
				err = 0;
				break;
			}
			tn = strtok_r(NULL, " \n", &sn);
			tv = strtok_r(NULL, " \n", &sv);
		}
		break;
	}
	fclose(f);
	return err;
}

int bench_udp_rcvbuf_errors(uint64_t *count)
{
	uint64_t v4 = 0, v6 = 0;
	char line[256];
	FILE *f;
	int err;

	err = snmp_value("/proc/net/snmp", "Udp:", "RcvbufErrors", &v4);
	if (err < 0)
		return err;
	/* /proc/net/snmp6 is "name value" per line instead. */
	f = fopen("/proc/net/snmp6", "r");
	if (f != NULL) {
		for (int i = 0; i < 500 && fgets(line, sizeof(line), f) != NULL; i++) {
			if (strncmp(line, "Udp6RcvbufErrors", 16) == 0) {
				v6 = strtoull(line + 16, NULL, 10);
				break;
			}
		}
		fclose(f);
	}
	*count = v4 + v6;
	return 0;
}

/* Share of the run spent runnable-but-waiting above which the report warns. */
#define CONTENTION_SHARE 0.05
/* Share of one core used by the bench above which the report warns. */
#define BENCH_SATURATED 0.9

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

void bench_print_result(const struct bench *b, const char *title, const struct bench_result *r)
{
	const struct bench_config *c = &b->cfg;
	double win = r->window_secs > 0 ? r->window_secs : 1;
	double self = r->self_user + r->self_sys;

	printf("== %s ==\n", title);
	printf("  %-22s %u open of %u requested, %u channel%s, %zu-byte messages\n",
	       "subscribers", r->subscribers_start, c->requested, c->nchannels,
	       c->nchannels == 1 ? "" : "s", c->size);
	printf("  %-22s %" PRIu64 " msg in %.2f s (target %.0f/s, achieved %.0f/s) over %s\n",
	       "published", r->published, r->send_secs, r->target_rate,
	       r->send_secs > 0 ? (double)r->published / r->send_secs : 0.0,
	       c->pub_kind == BENCH_PUB_WS ? "WebSocket" :
	       c->pub_kind == BENCH_PUB_TCP ? "TCP (framed)" : "UDP");
	if (r->send_skipped || r->send_errors)
		printf("  %-22s %" PRIu64 " slots skipped (sender behind), %" PRIu64 " send errors\n",
		       "publisher issues", r->send_skipped, r->send_errors);
	printf("  %-22s %" PRIu64 " of %" PRIu64 " expected\n", "deliveries",
	       r->received, r->expected);
	printf("  %-22s %.0f/s, %.2f MB/s (payload, over %.2f s)\n", "delivery rate",
	       (double)r->received / win, (double)r->rx_bytes / win / 1e6, win);
	if (r->zmsgs)
		printf("  %-22s %" PRIu64 " messages, %" PRIu64 " payload bytes on the wire\n",
		       "compressed", r->zmsgs, r->zbytes);
	printf("  %-22s %" PRIu64 " (%.4f %%)\n", "loss", r->lost, r->loss_pct);
	printf("  %-22s %" PRIu64 "\n", "reordered", r->reordered);
	if (r->late || r->bad_msgs)
		printf("  %-22s %" PRIu64 " late from an earlier run, %" PRIu64 " malformed/unknown\n",
		       "ignored deliveries", r->late, r->bad_msgs);
	if (r->disconnects)
		printf("  %-22s %u (first: %s)\n", "disconnects", r->disconnects,
		       b->run_close_reason[0] ? b->run_close_reason : "?");
	if (r->lat.total)
		printf("  %-22s p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f  (min %.0f, mean %.0f)\n",
		       "latency us", us(r->p50), us(r->p90), us(r->p99), us(r->p999), us(r->max),
		       us(r->min), r->mean / 1000.0);
	else
		printf("  %-22s no deliveries\n", "latency us");
	printf("  %-22s user %.2f s + sys %.2f s = %.1f %% of one core", "bench cpu",
	       r->self_user, r->self_sys, 100.0 * self / win);
	if (r->self_wait_ok)
		printf(", %.2f s waiting for a CPU", r->self_wait);
	printf("\n");
	if (r->server_ok) {
		printf("  %-22s %.2f s = %.1f %% of one core, VmRSS %ld kB", "server cpu",
		       r->server_cpu, 100.0 * r->server_cpu / win, r->server_rss_kb);
		if (r->server_wait_ok)
			printf(", %.2f s waiting for a CPU", r->server_wait);
		printf("\n");
	} else if (c->server_pid > 0) {
		printf("  %-22s unavailable (pid %d)\n", "server cpu", (int)c->server_pid);
	}
	/* A saturated bench batches several frames per read, so its latency
	 * figures then include its own queueing. On loopback part of its sys
	 * time is the server's TCP work (ACK processing, and transmits an ACK
	 * releases) that the kernel runs in the reader's context. */
	if (self > BENCH_SATURATED * win)
		printf("  %-22s the bench used > %.0f %% of its core: it may be the bottleneck\n"
		       "  %-22s (latency includes its own queueing)\n",
		       "WARNING", 100.0 * BENCH_SATURATED, "");
	/* Run-queue wait means something else competed for the CPU: the
	 * latency figures then measure the machine, not the gateway. */
	if ((r->self_wait_ok && r->self_wait > CONTENTION_SHARE * win) ||
	    (r->server_wait_ok && r->server_wait > CONTENTION_SHARE * win))
		printf("  %-22s bench or server waited > %.0f %% of the run for a CPU: other load\n"
		       "  %-22s on this machine inflates latency and deflates throughput\n",
		       "WARNING", 100.0 * CONTENTION_SHARE, "");
	if (r->udp_drops_ok)
		printf("  %-22s %" PRIu64 " (host-wide RcvbufErrors during the run)\n",
		       "udp receive drops", r->udp_drops);
	if (b->failed)
		printf("  %-22s %u subscribers never opened (first: %s: %s)\n", "NOTE", b->failed,
		       b->first_fail_what ? b->first_fail_what : "?", strerror(b->first_fail_err));
}

void bench_print_ramp(const struct bench *b, const struct bench_result *r, unsigned n,
		      int best, const char *why)
{
	(void)b;
	printf("== ramp ==\n");
	printf("  %10s %11s %13s %8s %9s %9s %6s %6s\n", "target/s", "published/s",
	       "deliveries/s", "loss %", "p99 us", "max us", "bench%", "srv%");
	for (unsigned i = 0; i < n; i++) {
		double win = r[i].window_secs > 0 ? r[i].window_secs : 1;
		char srv[16] = "-";

		if (r[i].server_ok)
			snprintf(srv, sizeof(srv), "%.0f", 100.0 * r[i].server_cpu / win);
		printf("  %10.0f %11.0f %13.0f %8.4f %9.0f %9.0f %6.0f %6s%s\n", r[i].target_rate,
		       r[i].send_secs > 0 ? (double)r[i].published / r[i].send_secs : 0.0,
		       (double)r[i].received / win, r[i].loss_pct, us(r[i].p99), us(r[i].max),
		       100.0 * (r[i].self_user + r[i].self_sys) / win, srv,
		       (int)i == best ? "  <- max sustained" : "");
	}
	printf("  stopped: %s\n", why);
	if (n > 0 && r[n - 1].self_user + r[n - 1].self_sys >
	    BENCH_SATURATED * (r[n - 1].window_secs > 0 ? r[n - 1].window_secs : 1))
		printf("  note: the bench itself was CPU-bound in the last step; the limit may be "
		       "the bench's, not the server's\n");
	if (best >= 0) {
		const struct bench_result *m = &r[best];
		double win = m->window_secs > 0 ? m->window_secs : 1;

		printf("  max sustained: %.0f msg/s published, %.0f deliveries/s, p99 %.0f us, loss %.4f %%\n",
		       m->send_secs > 0 ? (double)m->published / m->send_secs : 0.0,
		       (double)m->received / win, us(m->p99), m->loss_pct);
	} else {
		printf("  max sustained: none (the first step already failed)\n");
	}
}

/* Writes a string with JSON escaping (close reasons come from strerror and
 * our own text, but a channel name is user input). */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (size_t i = 0; s[i] != '\0' && i < 4096; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_result(FILE *f, const struct bench_result *r, const char *indent)
{
	double win = r->window_secs > 0 ? r->window_secs : 1;

	fprintf(f, "{\n");
	fprintf(f, "%s  \"target_rate\": %.3f,\n", indent, r->target_rate);
	fprintf(f, "%s  \"send_secs\": %.6f,\n", indent, r->send_secs);
	fprintf(f, "%s  \"window_secs\": %.6f,\n", indent, r->window_secs);
	fprintf(f, "%s  \"drain_secs\": %.6f,\n", indent, r->drain_secs);
	fprintf(f, "%s  \"published\": %" PRIu64 ",\n", indent, r->published);
	fprintf(f, "%s  \"published_per_sec\": %.3f,\n", indent,
		r->send_secs > 0 ? (double)r->published / r->send_secs : 0.0);
	fprintf(f, "%s  \"send_skipped\": %" PRIu64 ",\n", indent, r->send_skipped);
	fprintf(f, "%s  \"send_errors\": %" PRIu64 ",\n", indent, r->send_errors);
	fprintf(f, "%s  \"subscribers_start\": %u,\n", indent, r->subscribers_start);
	fprintf(f, "%s  \"subscribers_end\": %u,\n", indent, r->subscribers_open);
	fprintf(f, "%s  \"disconnects\": %u,\n", indent, r->disconnects);
	fprintf(f, "%s  \"expected\": %" PRIu64 ",\n", indent, r->expected);
	fprintf(f, "%s  \"received\": %" PRIu64 ",\n", indent, r->received);
	fprintf(f, "%s  \"deliveries_per_sec\": %.3f,\n", indent, (double)r->received / win);
	fprintf(f, "%s  \"delivered_mb_per_sec\": %.6f,\n", indent, (double)r->rx_bytes / win / 1e6);
	fprintf(f, "%s  \"compressed\": %" PRIu64 ",\n", indent, r->zmsgs);
	fprintf(f, "%s  \"compressed_bytes\": %" PRIu64 ",\n", indent, r->zbytes);
	fprintf(f, "%s  \"lost\": %" PRIu64 ",\n", indent, r->lost);
	fprintf(f, "%s  \"loss_pct\": %.6f,\n", indent, r->loss_pct);
	fprintf(f, "%s  \"reordered\": %" PRIu64 ",\n", indent, r->reordered);
	fprintf(f, "%s  \"late\": %" PRIu64 ",\n", indent, r->late);
	fprintf(f, "%s  \"malformed\": %" PRIu64 ",\n", indent, r->bad_msgs);
	fprintf(f, "%s  \"latency_us\": { \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
		"\"p99_9\": %.3f, \"max\": %.3f, \"min\": %.3f, \"mean\": %.3f, \"count\": %" PRIu64 " },\n",
		indent, us(r->p50), us(r->p90), us(r->p99), us(r->p999), us(r->max), us(r->min),
		r->mean / 1000.0, r->lat.total);
	/* The latency distribution at fixed percentiles, for CDF charts. */
	{
		static const double pct[] = { 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99,
					      99.5, 99.9, 99.95, 99.99, 100 };

		fprintf(f, "%s  \"latency_cdf_us\": [", indent);
		for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++)
			fprintf(f, "%s[%g, %.3f]", i ? ", " : "", pct[i],
				r->lat.total ? us(pct[i] >= 100 ? r->max : hist_percentile(&r->lat, pct[i]))
					     : 0.0);
		fprintf(f, "],\n");
	}
	fprintf(f, "%s  \"bench_cpu_secs\": { \"user\": %.3f, \"sys\": %.3f },\n", indent,
		r->self_user, r->self_sys);
	fprintf(f, "%s  \"bench_cpu_pct_of_core\": %.2f,\n", indent,
		100.0 * (r->self_user + r->self_sys) / win);
	if (r->self_wait_ok)
		fprintf(f, "%s  \"bench_runqueue_wait_secs\": %.3f,\n", indent, r->self_wait);
	if (r->server_ok) {
		fprintf(f, "%s  \"server\": { \"cpu_secs\": %.3f, \"cpu_pct_of_core\": %.2f, "
			"\"vmrss_kb\": %ld", indent, r->server_cpu, 100.0 * r->server_cpu / win,
			r->server_rss_kb);
		if (r->server_wait_ok)
			fprintf(f, ", \"runqueue_wait_secs\": %.3f", r->server_wait);
		fprintf(f, " },\n");
	}
	else
		fprintf(f, "%s  \"server\": null,\n", indent);
	if (r->udp_drops_ok)
		fprintf(f, "%s  \"udp_rcvbuf_errors\": %" PRIu64 "\n", indent, r->udp_drops);
	else
		fprintf(f, "%s  \"udp_rcvbuf_errors\": null\n", indent);
	fprintf(f, "%s}", indent);
}

int bench_write_json(const struct bench *b, const char *path, const struct bench_result *r,
		     unsigned n, bool ramp, int best, const char *why)
{
	const struct bench_config *c = &b->cfg;
	FILE *f = fopen(path, "w");
	int err = 0;

	if (f == NULL)
		return -errno;
	fprintf(f, "{\n  \"tool\": \"ringcast-bench\",\n  \"version\": \"%s\",\n", RC_VERSION);
	fprintf(f, "  \"config\": { \"subscribers_requested\": %u, \"subscribers_attempted\": %u, "
		"\"subscribers_opened\": %u, "
		"\"channels\": %u, \"size\": %zu, \"rate\": %.3f, \"duration\": %.3f, "
		"\"drain\": %.3f, \"src_addrs\": %u, \"ramp\": %s, \"publisher\": \"%s\" },\n",
		c->requested, c->subscribers, c->subscribers - b->failed, c->nchannels, c->size, c->rate,
		c->duration, c->drain, c->src_addrs, ramp ? "true" : "false",
		c->pub_kind == BENCH_PUB_WS ? "websocket" :
		c->pub_kind == BENCH_PUB_TCP ? "tcp" : "udp");
	if (b->failed) {
		fprintf(f, "  \"connect_failures\": { \"count\": %u, \"first\": ", b->failed);
		json_str(f, b->first_fail_what ? b->first_fail_what : "?");
		fprintf(f, ", \"errno\": ");
		json_str(f, strerror(b->first_fail_err));
		fprintf(f, " },\n");
	}
	if (!ramp) {
		fprintf(f, "  \"result\": ");
		json_result(f, &r[0], "  ");
		fprintf(f, "\n}\n");
	} else {
		fprintf(f, "  \"steps\": [\n");
		for (unsigned i = 0; i < n; i++) {
			fprintf(f, "    ");
			json_result(f, &r[i], "    ");
			fprintf(f, "%s\n", i + 1 < n ? "," : "");
		}
		fprintf(f, "  ],\n  \"stopped\": ");
		json_str(f, why);
		if (best >= 0) {
			const struct bench_result *m = &r[best];
			double win = m->window_secs > 0 ? m->window_secs : 1;

			fprintf(f, ",\n  \"max_sustained\": { \"step\": %d, \"target_rate\": %.3f, "
				"\"published_per_sec\": %.3f, \"deliveries_per_sec\": %.3f, "
				"\"p99_us\": %.3f, \"loss_pct\": %.6f }\n}\n", best, m->target_rate,
				m->send_secs > 0 ? (double)m->published / m->send_secs : 0.0,
				(double)m->received / win, us(m->p99), m->loss_pct);
		} else {
			fprintf(f, ",\n  \"max_sustained\": null\n}\n");
		}
	}
	if (ferror(f))
		err = -EIO;
	if (fclose(f) != 0 && err == 0)
		err = -errno;
	return err;
}
