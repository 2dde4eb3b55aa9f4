/* Chunked transfer coding decoder. See http_chunked.h. */
#include "http_chunked.h"

#include <string.h>

#include "num.h"

enum {
	ST_SIZE,	/* hex digits of the chunk size */
	ST_EXT,		/* chunk extensions, ignored up to CR LF */
	ST_SIZE_LF,	/* CR seen after the size line */
	ST_DATA,
	ST_DATA_CR,	/* CR LF after a chunk's data */
	ST_DATA_LF,
	ST_TRAILER,	/* a trailer line (or the final empty line) */
	ST_TRAILER_LF,
	ST_DONE,
};

void rc_chunked_init(struct rc_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = ST_SIZE;
}

static size_t fail(struct rc_chunked *c, size_t used)
{
	c->failed = true;
	return used;
}

/* The size line ended: a data chunk follows, or the last chunk did. */
static void size_done(struct rc_chunked *c)
{
	c->line = 0;
	c->state = c->left ? ST_DATA : ST_TRAILER;
}

size_t rc_chunked_feed(struct rc_chunked *c, const uint8_t *in, size_t len, const uint8_t **data,
		       size_t *data_len)
{
	size_t i = 0;

	*data = NULL;
	*data_len = 0;
	if (c->failed || c->done)
		return 0;
	while (i < len) {
		uint8_t ch = in[i];

		switch (c->state) {
		case ST_SIZE: {
			int h = rc_num_hex_digit((char)ch);

			if (h >= 0) {
				/* 15 hex digits keep the size below 2^60. */
				if (++c->digits > 15)
					return fail(c, i);
				c->left = c->left << 4 | (uint64_t)h;
				i++;
				break;
			}
			if (!c->digits)
				return fail(c, i);
			if (ch == '\r') {
				c->state = ST_SIZE_LF;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = ST_EXT;
			} else {
				return fail(c, i);
			}
			i++;
			break;
		}
		case ST_EXT:
			if (++c->line > RC_CHUNKED_LINE_MAX)
				return fail(c, i);
			if (ch == '\r')
				c->state = ST_SIZE_LF;
			else if (ch < 0x20 && ch != '\t')
				return fail(c, i);
			i++;
			break;
		case ST_SIZE_LF:
			if (ch != '\n')
				return fail(c, i);
			i++;
			size_done(c);
			break;
		case ST_DATA: {
			size_t take = len - i;

			if (take > c->left)
				take = (size_t)c->left;
			*data = in + i;
			*data_len = take;
			c->left -= take;
			i += take;
			if (!c->left) {
				c->state = ST_DATA_CR;
				c->digits = 0;
			}
			return i;
		}
		case ST_DATA_CR:
			if (ch != '\r')
				return fail(c, i);
			c->state = ST_DATA_LF;
			i++;
			break;
		case ST_DATA_LF:
			if (ch != '\n')
				return fail(c, i);
			c->state = ST_SIZE;
			i++;
			break;
		case ST_TRAILER:
			if (ch == '\r') {
				c->state = ST_TRAILER_LF;
			} else if (++c->line > RC_CHUNKED_LINE_MAX ||
				   ++c->trailer > RC_CHUNKED_TRAILER_MAX) {
				return fail(c, i);
			}
			i++;
			break;
		case ST_TRAILER_LF:
			if (ch != '\n')
				return fail(c, i);
			i++;
			if (c->line == 0) {
				c->state = ST_DONE;
				c->done = true;
				return i;
			}
			c->line = 0;
			c->state = ST_TRAILER;
			break;
		default:
			return fail(c, i);
		}
	}
	return i;
}
