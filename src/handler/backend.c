/*
 * backend.c - one connection to a backend service per WebSocket
 * connection (the job websockify does).  The backend is connected before
 * the handshake is answered: refused gives 502, a timeout 504.  Modes:
 *   binary  message payloads to the backend; backend bytes as binary
 *           messages, as they arrive
 *   text    the same with text messages; backend bytes are sent in whole
 *           UTF-8 sequences only
 *   line    a message is a line to the backend; each line from it (LF or
 *           CRLF) is a text message; max_line bounds a line
 *   base64  websockify's: text messages carry base64 of the bytes, both
 *           ways
 *   subprotocol  the mode named by the subprotocol chosen for the
 *           connection ("binary", "base64", "text" or "line"; binary when
 *           none was chosen)
 * Watermarks hold back whichever side writes faster than the other reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "handler/handler.h"
#include "net/session.h"
#include "net/tls.h"
#include "net/upstream.h"
#include "utf8.h"

enum { MODE_BINARY, MODE_TEXT, MODE_LINE, MODE_BASE64, MODE_SUBPROTOCOL };

/* Backend bytes per base64 message: a multiple of 3, so each decodes
   alone. */
#define B64_CHUNK (48 * 1024)

struct backend_conf {
	char *backend;
	int mode;
	long long connect_timeout;
	long long max_line;
	int tls;
	char *tls_ca;
	char *tls_server_name;
	int tls_verify;
	struct upstream_addr addr;
	struct upstream_tls utls;	/* with tls: the context and name */
};

static const char *const mode_choices[] = { "binary", "text", "line",
    "base64", "subprotocol", NULL };

#define BK(f) offsetof(struct backend_conf, f)
static const struct opt backend_opts[] = {
	{ "backend", OPT_STRING, 0, 0, 0, NULL, NULL, BK(backend),
	    OPT_REQUIRED, NULL },	/* "host:port" or "unix:/path" */
	{ "mode", OPT_ENUM, 0, 0, MODE_BINARY, NULL, mode_choices, BK(mode), 0,
	    NULL },
	{ "connect_timeout", OPT_INT, 1, 600, 10, NULL, NULL,
	    BK(connect_timeout), 0, "seconds" },
	{ "max_line", OPT_INT, 1, 1LL << 30, 65536, NULL, NULL, BK(max_line),
	    0, "bytes" },
	{ "tls", OPT_BOOL, 0, 1, 0, NULL, NULL, BK(tls), 0, NULL },
	{ "tls_ca", OPT_STRING, 0, 0, 0, NULL, NULL, BK(tls_ca), 0, NULL },
	{ "tls_server_name", OPT_STRING, 0, 0, 0, NULL, NULL,
	    BK(tls_server_name), 0, NULL },
	{ "tls_verify", OPT_BOOL, 0, 1, 1, NULL, NULL, BK(tls_verify), 0,
	    NULL },
	{ NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL }
};

/* One relay between a session and its upstream. */
struct relay {
	struct session *s;
	struct upstream *u;
	const struct backend_conf *c;
	const struct route_limits *l;
	int mode;		/* in force: never MODE_SUBPROTOCOL */
	int eof;		/* the backend closed its side */
	char *b64;		/* base64: encoding buffer */
};

static int
backend_conf_check(void *conf, char *err, size_t errlen, const char **key)
{
	struct backend_conf *c = conf;

	*key = "backend";
	if (upstream_addr_parse(c->backend, &c->addr, err, errlen) != 0)
		return -1;
	if (!c->tls) {
		*key = c->tls_ca != NULL ? "tls_ca" : "tls_server_name";
		if (c->tls_ca == NULL && c->tls_server_name == NULL)
			return 0;
		snprintf(err, errlen, "'%s' needs 'tls = true'", *key);
		return -1;
	}
	c->utls.name = c->tls_server_name != NULL ? c->tls_server_name :
	    c->addr.host;
	c->utls.verify = c->tls_verify;
	if (*c->utls.name == '\0' && c->tls_verify) {
		*key = "tls";
		snprintf(err, errlen, "a Unix socket backend over TLS needs "
		    "'tls_server_name' (or 'tls_verify = false')");
		return -1;
	}
	*key = "tls_ca";
	c->utls.ctx = tls_client_ctx(c->tls_ca, c->tls_verify, err, errlen);
	return c->utls.ctx != NULL ? 0 : -1;
}

static void
backend_conf_free(void *conf)
{
	struct backend_conf *c = conf;

	SSL_CTX_free(c->utls.ctx);
	c->utls.ctx = NULL;
}

static int
over_high(const struct relay *r)
{
	return session_output_pending(r->s) > (size_t)r->l->output_high;
}

/* Length of the longest prefix of p[0..n) that ends on a UTF-8 boundary. */
static size_t
utf8_whole(const uint8_t *p, size_t n)
{
	size_t i, back;

	for (back = 1; back <= 4 && back <= n; back++) {
		i = n - back;
		if ((p[i] & 0xc0) != 0x80) {
			size_t need = p[i] < 0x80 ? 1 : p[i] >= 0xf0 ? 4 :
			    p[i] >= 0xe0 ? 3 : 2;

			return back >= need ? n : i;
		}
	}
	return n;
}

/* Send what the backend sent, as far as the client keeps up. */
static void
relay_out(struct relay *r)
{
	const uint8_t *p;
	size_t n, k;
	long nl;

	while (session_is_open(r->s) && upstream_input_length(r->u) > 0) {
		if (over_high(r)) {
			upstream_pause(r->u);
			return;
		}
		switch (r->mode) {
		case MODE_BASE64:
			p = upstream_peek(r->u, B64_CHUNK, &n);
			if (p == NULL)
				return;
			k = r->eof ? n : n - n % 3;
			if (k == 0)
				return;		/* wait for a whole group */
			k = (size_t)EVP_EncodeBlock((unsigned char *)r->b64, p,
			    (int)k);
			(void)session_send(r->s, 0, r->b64, k, 1);
			upstream_drain(r->u, r->eof ? n : n - n % 3);
			break;
		case MODE_BINARY:
			p = upstream_peek(r->u, 65536, &n);
			if (p == NULL)
				return;
			(void)session_send(r->s, 1, p, n, 0);
			upstream_drain(r->u, n);
			break;
		case MODE_TEXT:
			p = upstream_peek(r->u, 65536, &n);
			if (p == NULL)
				return;
			k = r->eof ? n : utf8_whole(p, n);
			if (k == 0)
				return;		/* wait for the rest */
			if (ws_utf8_validate(WS_UTF8_ACCEPT, p, k) !=
			    WS_UTF8_ACCEPT) {
				session_close(r->s, 1014,
				    "backend sent invalid UTF-8");
				return;
			}
			(void)session_send(r->s, 0, p, k, 1);
			upstream_drain(r->u, k);
			break;
		default:
			nl = upstream_find(r->u, '\n',
			    (size_t)r->c->max_line + 2);
			if (nl < 0) {
				n = upstream_input_length(r->u);
				if (n > (size_t)r->c->max_line + 1) {
					session_close(r->s, 1009,
					    "backend line too long");
					return;
				}
				if (!r->eof)
					return;
				nl = (long)n;	/* a last line without LF */
			}
			p = upstream_peek(r->u, (size_t)nl + 1, &n);
			if (p == NULL)
				return;
			k = (size_t)nl;
			if (k > 0 && p[k - 1] == '\r')
				k--;
			if (ws_utf8_validate(WS_UTF8_ACCEPT, p, k) !=
			    WS_UTF8_ACCEPT) {
				session_close(r->s, 1014,
				    "backend sent a line that is not UTF-8");
				return;
			}
			(void)session_send(r->s, 0, p, k, 1);
			upstream_drain(r->u, n < (size_t)nl + 1 ? n :
			    (size_t)nl + 1);
			break;
		}
	}
	if (r->eof && upstream_input_length(r->u) == 0)
		session_close(r->s, 1000, "backend closed the connection");
}

static void
up_connected(void *arg)
{
	struct relay *r = arg;

	session_accept(r->s);
}

static void
up_readable(void *arg)
{
	relay_out(arg);
}

static void
up_eof(void *arg)
{
	struct relay *r = arg;

	r->eof = 1;
	relay_out(r);
}

static void
up_error(void *arg, int connecting, int timeout, const char *why)
{
	struct relay *r = arg;
	char body[256];

	if (connecting) {
		snprintf(body, sizeof(body), "Backend %s: %s.\n",
		    r->c->addr.name, why);
		session_reject(r->s, timeout ? 504 : 502, body);
		return;
	}
	session_close(r->s, 1011, "backend connection failed");
}

static void
up_drained(void *arg)
{
	struct relay *r = arg;

	session_resume(r->s, SESSION_PAUSE_HANDLER);
}

static const struct upstream_cbs relay_cbs = {
	up_connected, up_readable, up_eof, up_error, up_drained
};

static int
backend_start(struct session *s)
{
	const struct route *rt = session_route(s);
	struct relay *r;
	char err[256];

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return 503;
	r->s = s;
	r->c = rt->hconf;
	r->l = &rt->limits;
	r->mode = r->c->mode;
	if (r->mode == MODE_SUBPROTOCOL) {
		const char *sp = session_subprotocol(s);
		int i;

		r->mode = MODE_BINARY;
		for (i = 0; sp != NULL && i < MODE_SUBPROTOCOL; i++)
			if (strcmp(sp, mode_choices[i]) == 0)
				r->mode = i;
	}
	if (r->mode == MODE_BASE64 &&
	    (r->b64 = malloc(B64_CHUNK / 3 * 4 + 1)) == NULL) {
		free(r);
		return 503;
	}
	r->u = upstream_connect(s, &r->c->addr, r->c->tls ? &r->c->utls :
	    NULL, (int)r->c->connect_timeout,
	    (size_t)r->l->output_low, &relay_cbs, r, err, sizeof(err));
	if (r->u == NULL) {
		free(r);
		return 502;
	}
	session_set_data(s, r);
	return HANDLER_PENDING;
}

static void
backend_message(struct session *s, int binary, const uint8_t *data,
    size_t len)
{
	struct relay *r = session_data(s);

	if (r->mode == MODE_BASE64) {
		int k;
		size_t pad = 0;
		uint8_t *bytes;

		/* Text holding base64 of what goes to the backend. */
		if (binary || len % 4 != 0) {
			session_close(s, binary ? 1003 : 1007, binary ?
			    "base64 mode takes text messages" :
			    "not base64: the length is not a multiple of 4");
			return;
		}
		if (len > 0 && data[len - 1] == '=')
			pad = len > 1 && data[len - 2] == '=' ? 2 : 1;
		if ((bytes = malloc(len / 4 * 3 + 1)) == NULL) {
			session_close(s, 1011, "out of memory");
			return;
		}
		k = EVP_DecodeBlock(bytes, data, (int)len);
		if (k < 0) {
			free(bytes);
			session_close(s, 1007, "not base64");
			return;
		}
		if (upstream_write(r->u, bytes, (size_t)k - pad) != 0) {
			free(bytes);
			session_close(s, 1011, "out of memory");
			return;
		}
		free(bytes);
	} else if (r->mode == MODE_LINE) {
		if (memchr(data, '\n', len) != NULL) {
			session_close(s, 1003, "a line-mode message holds "
			    "a newline");
			return;
		}
		if (upstream_write(r->u, data, len) != 0 ||
		    upstream_write(r->u, "\n", 1) != 0) {
			session_close(s, 1011, "out of memory");
			return;
		}
	} else if (upstream_write(r->u, data, len) != 0) {
		session_close(s, 1011, "out of memory");
		return;
	}
	if (upstream_output_pending(r->u) > (size_t)r->l->output_high)
		session_pause(s, SESSION_PAUSE_HANDLER);
}

static void
backend_drained(struct session *s)
{
	struct relay *r = session_data(s);

	if (r != NULL && r->u != NULL) {
		upstream_resume(r->u);
		relay_out(r);
	}
}

static void
backend_end(struct session *s)
{
	struct relay *r = session_data(s);

	if (r == NULL)
		return;
	upstream_close(r->u);
	free(r->b64);
	free(r);
	session_set_data(s, NULL);
}

const struct handler handler_backend = {
	"backend", backend_opts, sizeof(struct backend_conf),
	backend_conf_check, backend_conf_free,
	backend_start, backend_message, backend_drained, backend_end
};
