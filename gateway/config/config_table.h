/* What the files of gateway/config/ share and the rest of the program does
 * not use: the option table (config_options.c, read by its unit tests too),
 * the per-channel settings (config_channel.c), the value helpers of config.c
 * and the secret readers of config_security.c.
 *
 * The files call downwards only: config_options.c calls config_channel.c,
 * both call config.c, config_channel.c calls config_security.c; config.c
 * and config_security.c call nothing else of config/. */
#ifndef RC_CONFIG_TABLE_H
#define RC_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* One accepted word of an option or setting, and the value it stands for. */
struct rc_config_choice {
	const char *name;
	int value;
};

/* How an option's argument is read and where it goes. */
enum rc_config_kind {
	RC_CONFIG_FLAG,		/* no argument: sets the bool at .offset */
	RC_CONFIG_NUM,		/* a number from .min to .max into the field at .offset */
	RC_CONFIG_CHOICE,	/* one of .choices: its value into the field at .offset */
	RC_CONFIG_ADDR,		/* ADDR:PORT into the struct rc_sockaddr at .offset */
	RC_CONFIG_CALL,		/* .set reads it */
};

/* Extra rules of an RC_CONFIG_NUM option (.rules). */
#define RC_CONFIG_POW2 1u	/* a power of two */
#define RC_CONFIG_OR_0 2u	/* 0 is accepted besides .min to .max */

/* What one pass over a command line or a configuration file remembers. */
struct rc_config_pass {
	bool udp_given;		/* the first --udp/--udp-mux replaced the default ports */
	bool static_given;	/* the first --static replaced the default directories */
};

/* One option: the command line's --NAME, the configuration file's NAME, a
 * paragraph of --help. */
struct rc_config_option {
	const char *name;	/* without the dashes */
	const char *arg;	/* the argument as --help names it; NULL for a flag */
	enum rc_config_kind kind;
	unsigned rules;		/* RC_CONFIG_POW2, RC_CONFIG_OR_0 */
	size_t offset;		/* the field in struct rc_config ... */
	size_t size;		/* ... and its size: 1 (bool), 4 or 8 bytes */
	uint64_t min, max;	/* RC_CONFIG_NUM */
	const struct rc_config_choice *choices;	/* RC_CONFIG_CHOICE; ends with a NULL name */
	/* RC_CONFIG_CALL: applies arg. Returns 0, or -EINVAL with the whole
	 * message ("--NAME: ...") in err. */
	int (*set)(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass, char *err,
		   size_t errlen);
	/* The default as --help shows it, or NULL. Up to its first "; " or
	 * ": " it is an argument the option accepts and that leaves the
	 * defaults as they are (the unit test checks); the rest is a note. */
	const char *def;
	const char *help;	/* one paragraph, wrapped by --help */
};

/* The options in --help's order; *n gets their number. */
const struct rc_config_option *rc_config_option_table(size_t *n);

/* Applies arg (NULL for a flag) to cfg as option opt. Returns 0, or
 * -EINVAL with a reason in err that names the option. */
int rc_config_option_apply(struct rc_config *cfg, const struct rc_config_option *opt,
			   const char *arg, struct rc_config_pass *pass, char *err, size_t errlen);

/* --- config_channel.c --- */

/* Applies one --channel argument, "NAME:key=value[,key=value...]", to cfg.
 * Returns 0, or -EINVAL with the reason in err. Reads the files that
 * key-file= and token-secret-file= name. */
int rc_config_channel_parse(struct rc_config *cfg, const char *arg, char *err, size_t errlen);

/* --- config.c: values the two tables share --- */

/* Stores v in the field at p of size bytes (1: a bool, 4, or 8); the
 * caller's bounds make sure it fits. */
void rc_config_store(void *p, size_t size, uint64_t v);

/* The choice named s, or NULL. */
const struct rc_config_choice *rc_config_choose(const struct rc_config_choice *choices,
						const char *s);

/* Writes "a, b or c", the names of choices, into buf. */
void rc_config_choices_text(const struct rc_config_choice *choices, char *buf, size_t len);

/* The words of --slow and slow=. */
extern const struct rc_config_choice rc_config_slow_choices[];

/* Adds the content type of channel name[0..len); false when the name or
 * the type is not valid, or the table is full. */
bool rc_config_type_add(struct rc_config *cfg, const char *name, size_t len, const char *type);

/* Adds the cache policy "[CHANNEL:]last=N", "[CHANNEL:]bytes=N" or
 * "[CHANNEL:]ts"; false when it is not valid or the table is full. */
bool rc_config_cache_add(struct rc_config *cfg, const char *spec);

/* --- config_security.c: secrets and keys, read and checked --- */

/* A publishers' stream key: val itself, or (from_file) the content of the
 * file val names, 8-128 of A-Z a-z 0-9 . _ ~ -, into key (NUL-terminated).
 * Returns 0, or -EINVAL with the reason in why. */
int rc_config_key_read(const char *val, bool from_file, char key[RC_CONFIG_KEY_MAX + 1],
		       char *why, size_t whylen);

/* A token secret of 16-256 bytes: val itself, or (from_file) the content of
 * the file val names, into secret (*len bytes). Returns 0, or -EINVAL with
 * the reason in why. */
int rc_config_token_secret_read(const char *val, bool from_file,
				uint8_t secret[RC_TOKEN_SECRET_MAX], size_t *len, char *why,
				size_t whylen);

/* --nats-creds FILE: reads the NATS credentials file at path into nats's
 * user and pass, or token (what was there before is replaced). The file is
 * lines "user NAME" and "password PASS", or one line "token TOKEN" (a value
 * is the rest of its line, without the blanks around it; blank lines and
 * lines starting with '#' are skipped), at most RC_CONFIG_NATS_CRED_MAX
 * bytes of UTF-8 without control characters each. A file that others may
 * read or write (mode o+r or o+w), that is not a regular file or is longer
 * than 4 KiB is refused. Returns 0, or -EINVAL with the reason in why. */
int rc_config_nats_creds_read(const char *path, struct rc_config_nats *nats, char *why,
			      size_t whylen);

#endif
