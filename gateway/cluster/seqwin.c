#include "seqwin.h"

enum rc_seqwin_verdict rc_seqwin_take(struct rc_seqwin *w, uint64_t epoch, uint64_t seq,
				      uint64_t *skipped)
{
	uint64_t d;

	*skipped = 0;
	d = seq > w->high ? seq - w->high : w->high - seq;
	if (!w->high || epoch != w->epoch || d > RC_SEQWIN_JUMP_MAX) {
		bool restart = w->high != 0;

		w->epoch = epoch;
		w->high = seq;
		w->seen = 1;
		if (restart)
			w->restarts++;
		return restart ? RC_SEQWIN_RESTART : RC_SEQWIN_NEXT;
	}
	if (seq > w->high) {
		d = seq - w->high;
		if (d > 1) {
			w->gaps++;
			w->missing += d - 1;
			*skipped = d - 1;
		}
		w->seen = d >= RC_SEQWIN_SPAN ? 1 : w->seen << d | 1;
		w->high = seq;
		return RC_SEQWIN_NEXT;
	}
	d = w->high - seq;
	if (d >= RC_SEQWIN_SPAN || (w->seen >> d & 1)) {
		w->dups++;
		return RC_SEQWIN_DUP;
	}
	w->seen |= 1ull << d;
	w->late++;
	return RC_SEQWIN_LATE;
}

void rc_seqwin_reset(struct rc_seqwin *w)
{
	w->high = 0;
	w->seen = 0;
}
