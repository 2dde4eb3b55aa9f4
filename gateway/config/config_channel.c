/* Per-channel settings, all in one place: the table of what --channel
 * NAME:key=value,... accepts, its parser, the lookups that fall back to the
 * global options, and the demo channels' settings. Access control's values
 * are read and checked by config_security.c, which calls nothing here. */
#include "config.h"
#include "config_table.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "num.h"

/* One key of --channel. */
struct channel_setting {
	const char *name;
	const char *form;	/* how the list of keys in the error shows it */
	enum rc_config_kind kind;	/* NUM, CHOICE or CALL */
	size_t offset, size;	/* the field in struct rc_channel_cfg */
	uint64_t min, max;
	const struct rc_config_choice *choices;
	/* RC_CONFIG_CALL: applies val to channel c of cfg. Returns 0, or
	 * -EINVAL, with the reason in why when it has one more precise than
	 * the list of keys. */
	int (*set)(struct rc_config *cfg, struct rc_channel_cfg *c, const char *val, char *why,
		   size_t whylen);
	const char *range_why;	/* RC_CONFIG_NUM: the reason for a bad number, or NULL */
};

#define FIELD(f) .offset = offsetof(struct rc_channel_cfg, f), \
	.size = sizeof(((struct rc_channel_cfg *)0)->f)

static int set_type(struct rc_config *cfg, struct rc_channel_cfg *c, const char *val, char *why,
		    size_t whylen)
{
	(void)why;
	(void)whylen;
	return rc_config_type_add(cfg, c->channel, strlen(c->channel), val) ? 0 : -EINVAL;
}

/* cache=last:N|bytes:N|ts, spelt with ':' so that it fits in a --channel
 * list; --cache spells the same policies with '='. */
static int set_cache(struct rc_config *cfg, struct rc_channel_cfg *c, const char *val, char *why,
		     size_t whylen)
{
	char spec[RC_CHANNEL_NAME_MAX + 64];
	const char *sep = strchr(val, ':');

	(void)why;
	(void)whylen;
	if ((!sep && strcmp(val, "ts")) || strlen(val) > 40)
		return -EINVAL;
	snprintf(spec, sizeof(spec), "%s:%s", c->channel, val);
	if (sep)
		spec[strlen(c->channel) + 1 + (size_t)(sep - val)] = '=';
	return rc_config_cache_add(cfg, spec) ? 0 : -EINVAL;
}

static int set_key(struct rc_config *cfg, struct rc_channel_cfg *c, const char *val, char *why,
		   size_t whylen)
{
	(void)cfg;
	return rc_config_key_read(val, false, c->key, why, whylen);
}

static int set_key_file(struct rc_config *cfg, struct rc_channel_cfg *c, const char *val,
			char *why, size_t whylen)
{
	(void)cfg;
	return rc_config_key_read(val, true, c->key, why, whylen);
}

static int set_token_secret(struct rc_config *cfg, struct rc_channel_cfg *c, const char *val,
			    char *why, size_t whylen)
{
	(void)cfg;
	return rc_config_token_secret_read(val, false, c->token_secret, &c->token_secret_len, why,
					   whylen);
}

static int set_token_secret_file(struct rc_config *cfg, struct rc_channel_cfg *c,
				 const char *val, char *why, size_t whylen)
{
	(void)cfg;
	return rc_config_token_secret_read(val, true, c->token_secret, &c->token_secret_len, why,
					   whylen);
}

/* uplink-to=ADDR:PORT: where a UDP publisher's uplink datagrams go. */
static int set_uplink_to(struct rc_config *cfg, struct rc_channel_cfg *c, const char *val,
			 char *why, size_t whylen)
{
	(void)cfg;
	if (rc_config_parse_addr(val, strlen(val), &c->uplink_to) < 0) {
		snprintf(why, whylen, "uplink-to: expected ADDR:PORT, got '%s'", val);
		return -EINVAL;
	}
	return 0;
}

static const struct rc_config_choice compress_choices[] = {
	{ "off", RC_COMPRESS_OFF },
	{ "auto", RC_COMPRESS_AUTO },
	{ "on", RC_COMPRESS_ON },
	{ NULL, 0 },
};

static const struct rc_config_choice on_off_choices[] = {
	{ "on", 1 },
	{ "off", 0 },
	{ NULL, 0 },
};

static const struct rc_config_choice frames_choices[] = {
	{ "binary", 0 },
	{ "text", 1 },
	{ NULL, 0 },
};

static const struct rc_config_choice yes_choice[] = {
	{ "yes", 1 },
	{ NULL, 0 },
};

static const struct channel_setting settings[] = {
	{ "type", "type=", RC_CONFIG_CALL, .set = set_type },
	{ "cache", "cache=last:N|bytes:N|ts", RC_CONFIG_CALL, .set = set_cache },
	{ "slow", "slow=drop|close", RC_CONFIG_CHOICE, FIELD(slow),
	  .choices = rc_config_slow_choices },
	{ "max-queue", "max-queue=", RC_CONFIG_NUM, FIELD(max_queue), .min = 1024,
	  .max = 1ull << 40 },
	{ "max-message", "max-message=", RC_CONFIG_NUM, FIELD(max_message), .min = 1,
	  .max = 64u << 20 },
	{ "frames", "frames=binary|text", RC_CONFIG_CHOICE, FIELD(text_frames),
	  .choices = frames_choices },
	{ "multi-publisher", "multi-publisher=yes", RC_CONFIG_CHOICE, FIELD(multi_publisher),
	  .choices = yes_choice },
	{ "compress", "compress=auto|on|off", RC_CONFIG_CHOICE, FIELD(compress),
	  .choices = compress_choices },
	{ "compress-min", "compress-min=", RC_CONFIG_NUM, FIELD(compress_min), .min = 1,
	  .max = 64u << 20, .range_why = "compress-min: expected 1-67108864 bytes" },
	{ "uplink", "uplink=on|off", RC_CONFIG_CHOICE, FIELD(uplink), .choices = on_off_choices },
	{ "uplink-max", "uplink-max=", RC_CONFIG_NUM, FIELD(uplink_max), .min = 1,
	  .max = RC_UPLINK_MAX_LIMIT, .range_why = "uplink-max: expected 1-65000 bytes" },
	{ "uplink-rate", "uplink-rate=", RC_CONFIG_NUM, FIELD(uplink_rate), .min = 1,
	  .max = 100000, .range_why = "uplink-rate: expected 1-100000 messages per second" },
	{ "uplink-to", "uplink-to=ADDR:PORT", RC_CONFIG_CALL, .set = set_uplink_to },
	/* Access control. */
	{ "key", "key=", RC_CONFIG_CALL, .set = set_key },
	{ "key-file", "key-file=", RC_CONFIG_CALL, .set = set_key_file },
	{ "token-secret", "token-secret=", RC_CONFIG_CALL, .set = set_token_secret },
	{ "token-secret-file", "token-secret-file=", RC_CONFIG_CALL, .set = set_token_secret_file },
	{ "max-subscribers", "max-subscribers=", RC_CONFIG_NUM, FIELD(max_subscribers), .min = 1,
	  .max = 10000000, .range_why = "max-subscribers: expected 1-10000000" },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct rc_channel_cfg *channel_cfg(const struct rc_config *cfg, const char *channel)
{
	for (size_t i = 0; i < cfg->nchans; i++)
		if (strcmp(cfg->chans[i].channel, channel) == 0)
			return &cfg->chans[i];
	return NULL;
}

/* Applies key=val to c. Returns 0 or -EINVAL, with a reason in why when
 * there is one more precise than the list of keys. */
static int apply(struct rc_config *cfg, struct rc_channel_cfg *c, const char *key,
		 const char *val, char *why, size_t whylen)
{
	const struct rc_config_choice *choice;
	uint64_t v;

	for (const struct channel_setting *s = settings; s < settings + NSETTINGS; s++) {
		if (strcmp(s->name, key) != 0)
			continue;
		switch (s->kind) {
		case RC_CONFIG_NUM:
			if (rc_num_parse_u64(val, s->min, s->max, &v) < 0) {
				if (s->range_why)
					snprintf(why, whylen, "%s", s->range_why);
				return -EINVAL;
			}
			rc_config_store((char *)c + s->offset, s->size, v);
			return 0;
		case RC_CONFIG_CHOICE:
			choice = rc_config_choose(s->choices, val);
			if (!choice)
				return -EINVAL;
			rc_config_store((char *)c + s->offset, s->size, (uint64_t)choice->value);
			return 0;
		default:
			return s->set(cfg, c, val, why, whylen);
		}
	}
	return -EINVAL;
}

/* The error for a setting that is not one of the keys or not a value it
 * takes: the argument, and every key. */
static int bad_setting(const char *arg, char *err, size_t errlen)
{
	char keys[640];
	size_t used = 0;

	keys[0] = '\0';
	for (size_t i = 0; i < NSETTINGS && used < sizeof(keys); i++) {
		int n = snprintf(keys + used, sizeof(keys) - used, "%s%s", i ? ", " : "",
				 settings[i].form);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	snprintf(err, errlen, "--channel %s: bad setting (keys: %s)", arg, keys);
	return -EINVAL;
}

int rc_config_channel_parse(struct rc_config *cfg, const char *arg, char *err, size_t errlen)
{
	const char *colon = strchr(arg, ':');
	char name[RC_CHANNEL_NAME_MAX + 1];
	char item[512];
	char why[200];
	struct rc_channel_cfg *c;
	const char *p;

	if (!colon || !rc_channel_name_valid(arg, (size_t)(colon - arg))) {
		snprintf(err, errlen, "--channel: expected NAME:key=value[,...], got '%s'", arg);
		return -EINVAL;
	}
	memcpy(name, arg, (size_t)(colon - arg));
	name[colon - arg] = '\0';
	c = (struct rc_channel_cfg *)channel_cfg(cfg, name);
	if (!c) {
		if (cfg->nchans == RC_CONFIG_MAX_CHANNEL_CFG) {
			snprintf(err, errlen, "--channel: at most %d channels", RC_CONFIG_MAX_CHANNEL_CFG);
			return -EINVAL;
		}
		c = &cfg->chans[cfg->nchans++];
		memset(c, 0, sizeof(*c));
		strcpy(c->channel, name);
		c->slow = -1;
		c->text_frames = -1;
		c->compress = -1;
	}
	for (p = colon + 1; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *val;

		if (n == 0 || n >= sizeof(item))
			goto bad;
		memcpy(item, p, n);
		item[n] = '\0';
		p += n + (end ? 1 : 0);
		val = strchr(item, '=');
		if (!val)
			goto bad;
		*val++ = '\0';
		why[0] = '\0';
		if (apply(cfg, c, item, val, why, sizeof(why)) < 0) {
			if (!why[0])
				goto bad;
			snprintf(err, errlen, "--channel %s: %s", name, why);
			return -EINVAL;
		}
	}
	return 0;
bad:
	return bad_setting(arg, err, errlen);
}

const char *rc_config_content_type(const struct rc_config *cfg, const char *channel)
{
	for (size_t i = 0; i < cfg->ntypes; i++)
		if (strcmp(cfg->types[i].channel, channel) == 0)
			return cfg->types[i].type;
	return "application/octet-stream";
}

const struct rc_cache_policy *rc_config_cache(const struct rc_config *cfg, const char *channel)
{
	const struct rc_cache_policy *all = NULL;

	for (size_t i = 0; i < cfg->ncaches; i++) {
		if (strcmp(cfg->caches[i].channel, channel) == 0)
			return &cfg->caches[i];
		if (!cfg->caches[i].channel[0])
			all = &cfg->caches[i];
	}
	return all;
}

enum rc_slow_policy rc_config_slow(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->slow >= 0 ? (enum rc_slow_policy)c->slow : cfg->slow;
}

size_t rc_config_max_queue(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->max_queue ? c->max_queue : cfg->max_queue;
}

uint32_t rc_config_max_message(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->max_message ? c->max_message : cfg->max_message;
}

bool rc_config_text_frames(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->text_frames == 1;
}

bool rc_config_compress(const struct rc_config *cfg, const char *channel, uint32_t *min)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);
	int mode = c && c->compress >= 0 ? c->compress : RC_COMPRESS_AUTO;

	*min = c && c->compress_min ? c->compress_min : RC_COMPRESS_MIN_DEFAULT;
	if (mode == RC_COMPRESS_AUTO)
		return rc_config_text_frames(cfg, channel);
	return mode == RC_COMPRESS_ON;
}

const struct rc_channel_cfg *rc_config_uplink(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->uplink ? c : NULL;
}

bool rc_config_multi_publisher(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return cfg->multi_publisher || (c && c->multi_publisher);
}

bool rc_config_ts(const struct rc_config *cfg, const char *channel)
{
	const struct rc_cache_policy *p = rc_config_cache(cfg, channel);

	return (p && p->ts) || strcmp(rc_config_content_type(cfg, channel), "video/mp2t") == 0;
}

const char *rc_config_pub_key(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->key[0] ? c->key : NULL;
}

const uint8_t *rc_config_token_secret(const struct rc_config *cfg, const char *channel,
				      size_t *len)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	if (!c || !c->token_secret_len)
		return NULL;
	*len = c->token_secret_len;
	return c->token_secret;
}

uint32_t rc_config_max_subscribers(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->max_subscribers ? c->max_subscribers : cfg->max_subscribers;
}

void rc_config_finish(struct rc_config *cfg)
{
	char err[160];
	const struct rc_channel_cfg *game;

	if (!cfg->udp_default)
		return;
	/* Appended after what was given, so every lookup (first match wins)
	 * still finds the user's own setting first. */
	if (cfg->ntypes < RC_CONFIG_MAX_TYPES &&
	    strcmp(rc_config_content_type(cfg, "live"), "application/octet-stream") == 0)
		rc_config_channel_parse(cfg, "live:type=video/mp2t", err, sizeof(err));
	if (cfg->ncaches < RC_CONFIG_MAX_CACHES && !rc_config_cache(cfg, "live"))
		rc_config_channel_parse(cfg, "live:cache=ts", err, sizeof(err));
	game = channel_cfg(cfg, "game");
	/* The demo's game reads its players' input (uplink) unless the game
	 * channel has settings of its own. */
	if (!game && cfg->nchans < RC_CONFIG_MAX_CHANNEL_CFG)
		rc_config_channel_parse(cfg, "game:frames=text,uplink=on", err, sizeof(err));
	else if (game && game->text_frames < 0)
		rc_config_channel_parse(cfg, "game:frames=text", err, sizeof(err));
}
