/* GET/HEAD of a static file: the answer to every path no other route
 * claims. The files were read at start-up (static_files.c); serving one
 * queues the head and points the body at that memory, no copy and no
 * file system access. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "http.h"
#include "state.h"
#include "static_files.h"

int rc_static_setup(struct rc_process *proc)
{
	char err[256];
	int ret;

	proc->statics = calloc(1, sizeof(*proc->statics));
	if (!proc->statics)
		return -ENOMEM;
	for (size_t i = 0; i < proc->cfg.nstatic; i++) {
		const struct rc_static_mount *m = &proc->cfg.statics[i];

		ret = rc_static_load(proc->statics, m->prefix, m->dir, err, sizeof(err));
		if (ret == -ENOENT && m->optional) {
			rc_log_info("static: %s not there, /%s not served%s", m->dir, m->prefix,
				    m->prefix[0] ? " (run `npm ci` in the source tree)" : "");
			continue;
		}
		if (ret < 0)
			goto fail;
	}
	ret = rc_static_finish(proc->statics, err, sizeof(err));
	if (ret < 0)
		goto fail;
	return 0;
fail:
	rc_log_error("%s", err);
	rc_static_teardown(proc);
	return ret;
}

void rc_static_teardown(struct rc_process *proc)
{
	if (!proc->statics)
		return;
	rc_static_free(proc->statics);
	free(proc->statics);
	proc->statics = NULL;
}

void rc_static_serve(struct rc_conn *c, const char *path, size_t path_len, bool head,
		     bool keep_alive)
{
	struct rc_server *srv = c->st.srv;
	const struct rc_static_file *f;
	char name[RC_STATIC_PATH_MAX + 1];
	size_t name_len;
	char hdr[512];
	uint8_t *out;
	int hl;

	if (rc_static_path_clean(path, path_len, name, sizeof(name), &name_len) < 0) {
		/* Traversal attempts and junk: refused before any lookup. */
		srv->stats.static_rejected++;
		rc_http_respond(c, 400, "text/plain", NULL, "bad path\n", 9, !keep_alive);
		return;
	}
	f = rc_static_find(srv->proc->statics, name, name_len);
	if (!f) {
		rc_http_respond(c, 404, "text/plain", NULL, NULL, 0, !keep_alive);
		return;
	}
	/* no-cache: the browser revalidates, so an edited page shows after a
	 * restart; nosniff: the type is ours, not the browser's guess. */
	hl = snprintf(hdr, sizeof(hdr),
		      "HTTP/1.1 200 OK\r\n"
		      "Server: ringcast\r\n"
		      "Content-Type: %s\r\n"
		      "Content-Length: %zu\r\n"
		      "Cache-Control: no-cache\r\n"
		      "X-Content-Type-Options: nosniff\r\n"
		      "%s\r\n",
		      f->type, f->len, keep_alive ? "" : "Connection: close\r\n");
	out = hl > 0 && (size_t)hl < sizeof(hdr) ? malloc((size_t)hl) : NULL;
	if (!out) {
		rc_conn_close(c);
		return;
	}
	memcpy(out, hdr, (size_t)hl);
	if (!keep_alive)
		c->st.close_after_send = true;
	srv->stats.static_served++;
	/* The files outlive every connection (freed by rc_process_fini,
	 * after every loop), so the body can be queued by reference. */
	if (rc_sendq_push_heap(&c->st.q, out, (uint32_t)hl) < 0 ||
	    (!head && f->len && rc_sendq_push_static(&c->st.q, f->data, (uint32_t)f->len) < 0))
		rc_conn_close(c);
}
