/* What a receiver knows of one origin's messages on one channel: the
 * newest number seen and which of the 63 before it were seen, so that it
 * delivers each message once, in whatever order NATS hands them over, and
 * can tell a gap (numbers skipped) from a late message (a skipped one that
 * shows up after all) and from a duplicate. Pure; no clock, no I/O.
 *
 * Why a window and not just "the next number": one node's publishers of a
 * channel may sit on several workers, each with its own NATS connection;
 * NATS keeps order per connection only, so numbers from one origin can
 * cross by a few. */
#ifndef RC_SEQWIN_H
#define RC_SEQWIN_H

#include <stdbool.h>
#include <stdint.h>

#define RC_SEQWIN_SPAN 64
/* A number this far from the newest (either way) is no gap or repeat but
 * another history: NATS is a trusted boundary, yet one bogus number must
 * not make every real one look old for ever. */
#define RC_SEQWIN_JUMP_MAX 65536

enum rc_seqwin_verdict {
	RC_SEQWIN_NEXT,		/* newer than every number seen: deliver */
	RC_SEQWIN_LATE,		/* one counted missing before, here now: deliver */
	RC_SEQWIN_DUP,		/* seen already, or older than the window: drop */
	RC_SEQWIN_RESTART,	/* a new history (another epoch, or a jump of
				 * more than RC_SEQWIN_JUMP_MAX): deliver */
};

struct rc_seqwin {
	uint64_t epoch;
	uint64_t high;		/* newest number seen (0: none yet) */
	uint64_t seen;		/* bit i: number high - i was seen */
	/* Counters of this origin on this channel. */
	uint64_t gaps;		/* times numbers were skipped */
	uint64_t missing;	/* numbers skipped, when skipped */
	uint64_t late;		/* of those, delivered later after all */
	uint64_t dups;		/* dropped as seen already or too old */
	uint64_t restarts;	/* new histories after the first */
};

/* Takes message number seq (from 1) of history epoch. The first message
 * ever starts the window wherever it is: what came before a receiver
 * joined is not missing. *skipped gets the numbers this one skips (NEXT
 * only; 0 otherwise). */
enum rc_seqwin_verdict rc_seqwin_take(struct rc_seqwin *w, uint64_t epoch, uint64_t seq,
				      uint64_t *skipped);

/* Forgets where the window was, keeping its counters: the messages of
 * the next connection start it afresh. Not used for a reconnect, whose gap
 * is what the window must count. */
void rc_seqwin_reset(struct rc_seqwin *w);

#endif
