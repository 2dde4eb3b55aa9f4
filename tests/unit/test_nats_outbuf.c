/* The NATS connection's outbound buffers (gateway/cluster/nats_outbuf.c):
 * the bound over both, the swap that keeps in-flight bytes still, resumed
 * short writes, the memory charge. */
#include <criterion/criterion.h>
#include <string.h>

#include "mem.h"
#include "nats_outbuf.h"

static void put(struct rc_nats_outbuf *o, const char *s, uint64_t msgs)
{
	char *p = rc_nats_outbuf_reserve(o, strlen(s));

	cr_assert_not_null(p);
	memcpy(p, s, strlen(s));
	rc_nats_outbuf_commit(o, strlen(s), msgs);
}

Test(nats_outbuf, bytes_leave_in_order_across_the_swap_and_short_writes)
{
	struct rc_nats_outbuf o;
	size_t before = rc_mem_used();
	uint64_t msgs = 99;

	rc_nats_outbuf_init(&o, 1 << 20);
	cr_assert_not(rc_nats_outbuf_take(&o), "nothing to send");
	put(&o, "PUB a 1\r\nx\r\n", 1);
	cr_assert(rc_nats_outbuf_take(&o));
	/* Appending while the flight is out goes to the other buffer. */
	put(&o, "PING\r\n", 0);
	cr_assert_not(rc_nats_outbuf_take(&o), "one flight at a time");
	cr_assert_eq(memcmp(o.flight.data, "PUB a 1\r\nx\r\n", 12), 0);
	cr_assert_not(rc_nats_outbuf_sent(&o, 5, &msgs), "a short write resumes");
	cr_assert_eq(o.off, 5);
	cr_assert(rc_nats_outbuf_sent(&o, 7, &msgs));
	cr_assert_eq(msgs, 1);
	cr_assert(rc_nats_outbuf_take(&o));
	cr_assert_eq(o.flight.len, 6);
	cr_assert_eq(memcmp(o.flight.data, "PING\r\n", 6), 0);
	cr_assert_gt(rc_mem_used(), before, "the buffers are charged");
	rc_nats_outbuf_fini(&o);
	cr_assert_eq(rc_mem_used(), before, "and uncharged");
}

Test(nats_outbuf, the_bound_covers_both_buffers)
{
	struct rc_nats_outbuf o;
	char *p;

	rc_nats_outbuf_init(&o, 10000);
	p = rc_nats_outbuf_reserve(&o, 6000);
	cr_assert_not_null(p);
	memset(p, 'a', 6000);
	rc_nats_outbuf_commit(&o, 6000, 1);
	cr_assert(rc_nats_outbuf_take(&o));
	cr_assert_eq(o.flight.cap, 8192);
	cr_assert_null(rc_nats_outbuf_reserve(&o, 4001), "6000 in flight + 4001 > 10000");
	cr_assert_null(rc_nats_outbuf_reserve(&o, 1809), "8192 allocated + 1809 > 10000");
	cr_assert_not_null(rc_nats_outbuf_reserve(&o, 1808));
	cr_assert_leq(o.fill.cap + o.flight.cap, 10000, "the capacity of both is bounded");
	cr_assert_null(rc_nats_outbuf_reserve(&o, 20000));
	/* The flight may pass the bound (control lines have slack): then
	 * nothing more fits, instead of the subtraction wrapping. */
	o.flight.len = 10001;
	cr_assert_null(rc_nats_outbuf_reserve(&o, 1));
	o.flight.len = 6000;
	cr_assert_eq(rc_nats_outbuf_clear(&o), 1, "a lost connection drops what was queued");
	cr_assert_eq(o.fill.len + o.flight.len, 0);
	rc_nats_outbuf_fini(&o);
}

Test(nats_outbuf, clear_keeps_the_memory_a_send_may_still_read)
{
	struct rc_nats_outbuf o;
	size_t before = rc_mem_used();
	char *p, *flight;

	rc_nats_outbuf_init(&o, 1 << 20);
	p = rc_nats_outbuf_reserve(&o, 200000);
	cr_assert_not_null(p);
	memset(p, 'a', 200000);
	rc_nats_outbuf_commit(&o, 200000, 1);
	cr_assert(rc_nats_outbuf_take(&o));
	flight = o.flight.data;
	cr_assert_eq(rc_nats_outbuf_clear(&o), 1);
	cr_assert_eq(o.flight.data, flight, "a send in flight may still read it");
	cr_assert_eq(o.flight.len, 0);
	rc_nats_outbuf_trim(&o);
	cr_assert_null(o.flight.data, "large and empty: given back once no send is out");
	cr_assert_eq(rc_mem_used(), before);
	rc_nats_outbuf_fini(&o);
}
