/*
 * test_handshake.c - the opening handshake (RFC 6455 section 4) through a
 * ws_conn, server and client roles, tested against the contract in ws.h.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "http.h"
#include "testutil.h"

#define RFC_KEY		"dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define FIXED_KEY	"QkJCQkJCQkJCQkJCQkJCQg=="	/* 16 x 0x42 */

/* -------------------------------------------------------------- helpers */

static int
str_eq(struct ws_str s, const char *lit)
{
	return s.len == strlen(lit) && (s.len == 0 ||
	    memcmp(s.p, lit, s.len) == 0);
}

#define ck_assert_str_is(s, lit) \
	ck_assert_msg(str_eq((s), (lit)), "got \"%.*s\", want \"%s\"", \
	    (int)(s).len, (s).p != NULL ? (s).p : "", (lit))

/* All of c's output as a NUL-terminated string (*len bytes before it). */
static char *
drain_str(struct ws_conn *c, size_t *len)
{
	uint8_t *out = tu_drain(c, len);
	char *s = malloc(*len + 1);

	ck_assert_ptr_nonnull(s);
	if (*len > 0)
		memcpy(s, out, *len);
	s[*len] = '\0';
	free(out);
	return s;
}

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Decode standard base64 with padding; -1 if not valid. */
static int
b64_value(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

static int
b64_decode(struct ws_str s, uint8_t *out, size_t max)
{
	size_t i, n = 0, pad = 0;
	uint32_t acc = 0;
	int v;

	if (s.len == 0 || s.len % 4 != 0)
		return -1;
	if (s.p[s.len - 1] == '=')
		pad++;
	if (s.p[s.len - 2] == '=')
		pad++;
	for (i = 0; i < s.len; i++) {
		if (i >= s.len - pad)
			v = 0;
		else if ((v = b64_value((unsigned char)s.p[i])) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			if (n + 3 > max)
				return -1;
			out[n++] = (uint8_t)(acc >> 16);
			out[n++] = (uint8_t)(acc >> 8);
			out[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	return (int)(n - pad);
}

/* Guarded input buffers kept mapped until the test is done with them. */
struct hold {
	uint8_t **buf;
	size_t *len;
	size_t n;
};

static uint8_t *
hold_copy(struct hold *h, const void *data, size_t len)
{
	h->buf = realloc(h->buf, (h->n + 1) * sizeof(*h->buf));
	h->len = realloc(h->len, (h->n + 1) * sizeof(*h->len));
	ck_assert_ptr_nonnull(h->buf);
	ck_assert_ptr_nonnull(h->len);
	h->buf[h->n] = tu_guard_copy(data, len);
	h->len[h->n] = len;
	return h->buf[h->n++];
}

static void
hold_free(struct hold *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		tu_guard_free(h->buf[i], h->len[i]);
	free(h->buf);
	free(h->len);
	memset(h, 0, sizeof(*h));
}

static void
rec_add(struct tu_rec *r, const struct ws_event *ev)
{
	struct tu_event *e;

	ck_assert_uint_lt(r->n, sizeof(r->ev) / sizeof(r->ev[0]));
	e = &r->ev[r->n++];
	e->type = ev->type;
	e->len = ev->len;
	e->code = ev->code;
	e->data = malloc(ev->len + 1);
	ck_assert_ptr_nonnull(e->data);
	if (ev->len > 0)
		memcpy(e->data, ev->data, ev->len);
	e->data[ev->len] = '\0';
}

/*
 * Like tu_feed() without accepting, but every buffer given to ws_recv()
 * stays valid (in h) so that ws_conn_request() may be looked at and
 * ws_accept()/ws_reject() called afterwards.  Returns the bytes left
 * unconsumed.
 */
static size_t
feed_hold(struct ws_conn *c, const void *data, size_t len, size_t chunk,
    struct hold *h, struct tu_rec *r)
{
	const uint8_t *src = data;
	size_t off = 0, avail = 0;

	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	while (avail < len) {
		uint8_t *buf;
		size_t n, pos = 0;

		avail = len - avail < chunk ? len : avail + chunk;
		n = avail - off;
		buf = hold_copy(h, src + off, n);
		for (;;) {
			struct ws_event ev;
			ssize_t k = ws_recv(c, buf + pos, n - pos, &ev);

			if (k == WS_AGAIN)
				break;
			if (k < 0) {
				r->status = (int)k;
				return len - off;
			}
			ck_assert_uint_le((size_t)k, n - pos);
			pos += (size_t)k;
			off += (size_t)k;
			r->consumed += (size_t)k;
			if (ev.type != WS_EV_NONE)
				rec_add(r, &ev);
			if (k == 0 && ev.type == WS_EV_NONE)
				break;
		}
	}
	return len - off;
}

/* A request: tu_request with its header lines replaced by hdrs. */
static char *
mkreq(const char *reqline, const char *hdrs)
{
	size_t n = strlen(reqline) + strlen(hdrs) + 8;
	char *s = malloc(n);

	ck_assert_ptr_nonnull(s);
	snprintf(s, n, "%s\r\n%s\r\n", reqline, hdrs);
	return s;
}

#define H_HOST		"Host: localhost\r\n"
#define H_UPGRADE	"Upgrade: websocket\r\n"
#define H_CONN		"Connection: Upgrade\r\n"
#define H_KEY		"Sec-WebSocket-Key: " RFC_KEY "\r\n"
#define H_VERSION	"Sec-WebSocket-Version: 13\r\n"
#define H_ALL		H_HOST H_UPGRADE H_CONN H_KEY H_VERSION

/*
 * Feed a request that the server must refuse; check the status, the
 * HTTP status and the status line queued, and that the connection is
 * done.  Returns the output (free it).
 */
static char *
refuse_chunk(const char *req, size_t len, size_t chunk, int want,
    int want_http)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct tu_rec r = { 0 };
	struct ws_http_head h;
	struct ws_header hdrs[32];
	struct ws_event ev;
	uint8_t junk[4] = { 0x81, 0x80, 0, 0 };
	char line[32];
	size_t n;
	char *out;
	int hl, http;

	ck_assert_ptr_nonnull(c);
	tu_feed(c, req, len, chunk, &r, 1);
	ck_assert_msg(r.status == want, "chunk %zu: status %d, want %d",
	    chunk, r.status, want);
	ck_assert_uint_eq(r.n, 0);
	http = ws_http_status(c);
	if (want_http != 0)
		ck_assert_int_eq(http, want_http);
	else
		ck_assert_msg(http == 400 || http == 405,
		    "http status %d, want 400 or 405", http);
	ck_assert_int_eq(ws_status_class(r.status), WS_CLASS_HANDSHAKE);
	ck_assert_int_eq(ws_close_expected(c), 1);
	ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
	ck_assert_ptr_null(ws_conn_request(c));
	ck_assert_str_ne(ws_error(c), "");
	out = drain_str(c, &n);
	snprintf(line, sizeof(line), "HTTP/1.1 %d ", http);
	ck_assert_msg(starts_with(out, line), "response \"%.40s\", want %s",
	    out, line);
	memset(&h, 0, sizeof(h));
	hl = ws_http_parse_response(out, n, n + 1, &h, hdrs, 32);
	ck_assert_int_gt(hl, 0);
	ck_assert_int_eq(h.status, http);
	ck_assert_int_eq(h.minor_version, 1);
	/* Nothing more is read. */
	ck_assert_int_eq(ws_recv(c, junk, sizeof(junk), &ev), WS_E_CLOSED);
	ws_conn_free(c);
	tu_rec_reset(&r);
	return out;
}

static void
refuse(const char *req, int want, int want_http)
{
	size_t len = strlen(req);

	free(refuse_chunk(req, len, 0, want, want_http));
	free(refuse_chunk(req, len, len > 1000 ? 1000 : 1, want, want_http));
}

static void
refuse_free(char *req, int want, int want_http)
{
	refuse(req, want, want_http);
	free(req);
}

/* Feed a request the server must accept; returns the 101 output. */
static char *
accept_req(const char *req, struct tu_rec *r)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	size_t n, left;
	char *out;

	ck_assert_ptr_nonnull(c);
	left = tu_feed(c, req, strlen(req), 0, r, 1);
	ck_assert_msg(r->status == 0, "status %d, http %d (%s)", r->status,
	    ws_http_status(c), ws_error(c));
	ck_assert_uint_eq(left, 0);
	ck_assert_uint_eq(r->n, 1);
	ck_assert_int_eq(r->ev[0].type, WS_EV_REQUEST);
	ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
	ck_assert_int_eq(ws_http_status(c), 101);
	out = drain_str(c, &n);
	ck_assert(starts_with(out, "HTTP/1.1 101 "));
	ws_conn_free(c);
	return out;
}

static void
accept_ok(const char *req)
{
	struct tu_rec r = { 0 };

	free(accept_req(req, &r));
	tu_rec_reset(&r);
}

/* ---------------------------------------------------------- accept key */

START_TEST(test_accept_key_rfc)
{
	char out[29];

	memset(out, 'x', sizeof(out));
	ws_accept_key(RFC_KEY, strlen(RFC_KEY), out);
	ck_assert_str_eq(out, RFC_ACCEPT);
	ck_assert_int_eq(out[28], '\0');
}
END_TEST

START_TEST(test_accept_key_other)
{
	static const char key[] = "x3JJHMbDL1EzLkh9GBhXDw==XXXX";
	char out[29];

	/* Only keylen bytes of the key are used. */
	ws_accept_key(key, 24, out);
	ck_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}
END_TEST

/* ------------------------------------------------------ server: accept */

START_TEST(test_server_101)
{
	struct tu_rec r = { 0 };
	struct ws_http_head h;
	struct ws_header hdrs[32];
	char *out = accept_req(tu_request, &r);
	size_t n = strlen(out);

	ck_assert_uint_eq(r.ev[0].len, strlen(tu_request));
	ck_assert_mem_eq(r.ev[0].data, tu_request, strlen(tu_request));
	ck_assert(starts_with(out, "HTTP/1.1 101 "));
	ck_assert_ptr_nonnull(strstr(out,
	    "\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nUpgrade: websocket\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nConnection: Upgrade\r\n"));
	ck_assert_uint_ge(n, 4);
	ck_assert_str_eq(out + n - 4, "\r\n\r\n");
	/* One well-formed head and nothing else; no subprotocol or
	   extension was chosen. */
	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(ws_http_parse_response(out, n, n + 1, &h, hdrs, 32),
	    (int)n);
	ck_assert_int_eq(h.status, 101);
	ck_assert_int_eq(h.minor_version, 1);
	ck_assert_ptr_null(ws_header_get(hdrs, h.nheaders,
	    "Sec-WebSocket-Protocol"));
	ck_assert_ptr_null(ws_header_get(hdrs, h.nheaders,
	    "Sec-WebSocket-Extensions"));
	free(out);
	tu_rec_reset(&r);
}
END_TEST

START_TEST(test_server_request_chunked)
{
	size_t len = strlen(tu_request), chunk;

	for (chunk = 1; chunk <= len; chunk++) {
		struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
		const struct ws_request *q;
		struct ws_response resp;
		struct tu_rec r = { 0 };
		struct hold h = { 0 };
		size_t left;

		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(ws_http_status(c), 0);
		left = feed_hold(c, tu_request, len, chunk, &h, &r);
		ck_assert_msg(r.status == 0, "chunk %zu: status %d", chunk,
		    r.status);
		ck_assert_uint_eq(left, 0);
		ck_assert_msg(r.n == 1, "chunk %zu: %zu events", chunk, r.n);
		ck_assert_int_eq(r.ev[0].type, WS_EV_REQUEST);
		ck_assert_uint_eq(r.consumed, len);
		ck_assert_int_eq(ws_conn_state(c), WS_CONNECTING);
		q = ws_conn_request(c);
		ck_assert_ptr_nonnull(q);
		ck_assert_str_is(q->method, "GET");
		ck_assert_str_is(q->target, "/chat");
		ck_assert_str_is(q->path, "/chat");
		ck_assert_uint_eq(q->query.len, 0);
		ck_assert_int_eq(q->minor_version, 1);
		ck_assert_str_is(q->host, "localhost");
		ck_assert_uint_eq(q->origin.len, 0);
		ck_assert_str_is(q->key, RFC_KEY);
		ck_assert_uint_eq(q->nheaders, 5);
		ck_assert_ptr_nonnull(ws_header_get(q->headers, q->nheaders,
		    "sec-websocket-version"));
		ws_response_init(&resp);
		ck_assert_int_eq(ws_accept(c, &resp), WS_OK);
		ck_assert_ptr_null(ws_conn_request(c));
		ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
		hold_free(&h);
		tu_rec_reset(&r);
		ws_conn_free(c);
	}
}
END_TEST

START_TEST(test_server_request_fields)
{
	static const char req[] =
	    "GET /chat?x=1&y HTTP/1.1\r\n"
	    "Host: example.com:8080\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	    "Origin: http://example.com\r\n"
	    "Sec-WebSocket-Protocol: chat, superchat\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n";
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	const struct ws_request *q;
	struct tu_rec r = { 0 };
	struct hold h = { 0 };
	struct ws_str p[4];

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(ws_conn_request(c));
	ck_assert_uint_eq(feed_hold(c, req, strlen(req), 0, &h, &r), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_REQUEST);
	q = ws_conn_request(c);
	ck_assert_ptr_nonnull(q);
	ck_assert_str_is(q->target, "/chat?x=1&y");
	ck_assert_str_is(q->path, "/chat");
	ck_assert_str_is(q->query, "x=1&y");
	ck_assert_str_is(q->host, "example.com:8080");
	ck_assert_str_is(q->origin, "http://example.com");
	ck_assert_str_is(q->key, RFC_KEY);
	ck_assert_uint_eq(q->nheaders, 7);
	memset(p, 0, sizeof(p));
	ck_assert_uint_eq(ws_header_list(q->headers, q->nheaders,
	    "Sec-WebSocket-Protocol", p, 4), 2);
	ck_assert_str_is(p[0], "chat");
	ck_assert_str_is(p[1], "superchat");
	hold_free(&h);
	tu_rec_reset(&r);
	ws_conn_free(c);
}
END_TEST

START_TEST(test_server_empty_query)
{
	char *req = mkreq("GET /a/b? HTTP/1.1", H_ALL);
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	const struct ws_request *q;
	struct tu_rec r = { 0 };
	struct hold h = { 0 };

	ck_assert_ptr_nonnull(c);
	feed_hold(c, req, strlen(req), 0, &h, &r);
	ck_assert_int_eq(r.status, 0);
	q = ws_conn_request(c);
	ck_assert_ptr_nonnull(q);
	ck_assert_str_is(q->target, "/a/b?");
	ck_assert_str_is(q->path, "/a/b");
	ck_assert_uint_eq(q->query.len, 0);
	hold_free(&h);
	tu_rec_reset(&r);
	ws_conn_free(c);
	free(req);
}
END_TEST

START_TEST(test_server_wait_for_accept)
{
	uint8_t buf[512];
	size_t hl = strlen(tu_request), fl;
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct ws_response resp;
	struct ws_event ev;
	ssize_t k;

	ck_assert_ptr_nonnull(c);
	memcpy(buf, tu_request, hl);
	fl = tu_client_frame(buf + hl, 0x81, "hi", 2);
	k = ws_recv(c, buf, hl + fl, &ev);
	ck_assert_int_eq(k, (ssize_t)hl);
	ck_assert_int_eq(ev.type, WS_EV_REQUEST);
	ck_assert_uint_eq(ev.len, hl);
	/* Waiting for ws_accept(): nothing consumed. */
	k = ws_recv(c, buf + hl, fl, &ev);
	ck_assert_int_eq(k, WS_AGAIN);
	ck_assert_ptr_nonnull(ws_conn_request(c));
	ws_response_init(&resp);
	ck_assert_int_eq(ws_accept(c, &resp), WS_OK);
	ck_assert_ptr_null(ws_conn_request(c));
	ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
	k = ws_recv(c, buf + hl, fl, &ev);
	ck_assert_int_eq(k, (ssize_t)fl);
	ck_assert_int_eq(ev.type, WS_EV_TEXT);
	ck_assert_uint_eq(ev.len, 2);
	ck_assert_mem_eq(ev.data, "hi", 2);
	ws_conn_free(c);
}
END_TEST

START_TEST(test_server_frame_same_packet)
{
	uint8_t buf[512];
	size_t hl = strlen(tu_request), fl, chunk;

	memcpy(buf, tu_request, hl);
	fl = tu_client_frame(buf + hl, 0x81, "hi", 2);
	for (chunk = 0; chunk <= hl + fl; chunk++) {
		struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
		struct tu_rec r = { 0 };

		ck_assert_ptr_nonnull(c);
		ck_assert_uint_eq(tu_feed(c, buf, hl + fl, chunk, &r, 1), 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_msg(r.n == 2, "chunk %zu: %zu events", chunk, r.n);
		ck_assert_int_eq(r.ev[0].type, WS_EV_REQUEST);
		ck_assert_int_eq(r.ev[1].type, WS_EV_TEXT);
		ck_assert_uint_eq(r.ev[1].len, 2);
		ck_assert_mem_eq(r.ev[1].data, "hi", 2);
		ck_assert_uint_eq(r.consumed, hl + fl);
		tu_rec_reset(&r);
		ws_conn_free(c);
	}
}
END_TEST

START_TEST(test_server_variants_accepted)
{
	char *req;

	req = mkreq("GET /chat HTTP/1.1", H_HOST H_UPGRADE
	    "Connection: keep-alive, Upgrade\r\n" H_KEY H_VERSION);
	accept_ok(req);
	free(req);
	req = mkreq("GET /chat HTTP/1.1", H_HOST "Upgrade: WebSocket\r\n"
	    H_CONN H_KEY H_VERSION);
	accept_ok(req);
	free(req);
	req = mkreq("GET /chat HTTP/1.1", "host: localhost\r\n"
	    "upgrade: WEBSOCKET\r\nconnection: upgrade\r\n"
	    "sec-websocket-key: " RFC_KEY "\r\n"
	    "sec-websocket-version: 13\r\n");
	accept_ok(req);
	free(req);
	/* LF-only line endings. */
	accept_ok("GET /chat HTTP/1.1\nHost: localhost\nUpgrade: websocket\n"
	    "Connection: Upgrade\nSec-WebSocket-Key: " RFC_KEY "\n"
	    "Sec-WebSocket-Version: 13\n\n");
	/* Origin and unknown headers are the caller's business. */
	req = mkreq("GET /chat HTTP/1.1", H_ALL "Origin: null\r\n"
	    "X-Whatever: 1\r\n");
	accept_ok(req);
	free(req);
}
END_TEST

START_TEST(test_server_head_limits_ok)
{
	char *req, *pad;
	size_t base = strlen(tu_request), i, off;

	/* A head of exactly 8192 bytes. */
	pad = malloc(8192);
	ck_assert_ptr_nonnull(pad);
	memcpy(pad, "X-Pad: ", 7);
	memset(pad + 7, 'p', 8192 - base - 9);
	pad[8192 - base - 2] = '\0';
	req = malloc(8193);
	ck_assert_ptr_nonnull(req);
	snprintf(req, 8193, "%.*s%s\r\n\r\n", (int)(base - 2), tu_request,
	    pad);
	ck_assert_uint_eq(strlen(req), 8192);
	accept_ok(req);
	free(req);
	free(pad);

	/* Exactly 100 header lines. */
	req = malloc(8192);
	ck_assert_ptr_nonnull(req);
	off = base - 2;
	memcpy(req, tu_request, off);
	for (i = 5; i < 100; i++)
		off += (size_t)sprintf(req + off, "X-H%zu: v\r\n", i);
	memcpy(req + off, "\r\n", 3);
	accept_ok(req);
	free(req);
}
END_TEST

/* ------------------------------------------------------ server: refuse */

START_TEST(test_refuse_post)
{
	char *out;
	char *req = mkreq("POST /chat HTTP/1.1", H_ALL);

	out = refuse_chunk(req, strlen(req), 0, WS_E_HANDSHAKE, 0);
	/* RFC 9110 15.5.6: a 405 must list the allowed methods. */
	if (starts_with(out, "HTTP/1.1 405 "))
		ck_assert_ptr_nonnull(strstr(out, "\r\nAllow: GET"));
	free(out);
	refuse_free(req, WS_E_HANDSHAKE, 0);
}
END_TEST

START_TEST(test_refuse_http10)
{
	refuse_free(mkreq("GET /chat HTTP/1.0", H_ALL), WS_E_HANDSHAKE, 400);
}
END_TEST

START_TEST(test_refuse_no_host)
{
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_UPGRADE H_CONN H_KEY H_VERSION), WS_E_HANDSHAKE, 400);
}
END_TEST

START_TEST(test_refuse_upgrade)
{
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_CONN H_KEY H_VERSION), WS_E_HANDSHAKE, 400);
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST "Upgrade: h2c\r\n" H_CONN H_KEY H_VERSION),
	    WS_E_HANDSHAKE, 400);
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST "Upgrade: websockets\r\n" H_CONN H_KEY H_VERSION),
	    WS_E_HANDSHAKE, 400);
}
END_TEST

START_TEST(test_refuse_connection)
{
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE H_KEY H_VERSION), WS_E_HANDSHAKE, 400);
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE "Connection: keep-alive\r\n" H_KEY H_VERSION),
	    WS_E_HANDSHAKE, 400);
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE "Connection: upgraded, close\r\n" H_KEY
	    H_VERSION), WS_E_HANDSHAKE, 400);
}
END_TEST

START_TEST(test_refuse_key)
{
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE H_CONN H_VERSION), WS_E_HANDSHAKE, 400);
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE H_CONN "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!"
	    "!!!!!!==\r\n" H_VERSION), WS_E_HANDSHAKE, 400);
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE H_CONN "Sec-WebSocket-Key: not a key\r\n"
	    H_VERSION), WS_E_HANDSHAKE, 400);
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE H_CONN "Sec-WebSocket-Key: \r\n"
	    H_VERSION), WS_E_HANDSHAKE, 400);
	/* 15 bytes */
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE H_CONN "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"
	    "\r\n" H_VERSION), WS_E_HANDSHAKE, 400);
	/* 17 bytes */
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE H_CONN "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"
	    "AAA=\r\n" H_VERSION), WS_E_HANDSHAKE, 400);
	/* 24 characters, but not 16 bytes of base64 */
	refuse_free(mkreq("GET /chat HTTP/1.1",
	    H_HOST H_UPGRADE H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2"
	    "5jZQ=A\r\n" H_VERSION), WS_E_HANDSHAKE, 400);
}
END_TEST

START_TEST(test_refuse_version)
{
	static const char *const hdrs[] = {
		H_HOST H_UPGRADE H_CONN H_KEY "Sec-WebSocket-Version: 8\r\n",
		H_HOST H_UPGRADE H_CONN H_KEY,
		H_HOST H_UPGRADE H_CONN H_KEY "Sec-WebSocket-Version: 14\r\n"
	};
	size_t i;

	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		char *req = mkreq("GET /chat HTTP/1.1", hdrs[i]);
		char *out;
		struct ws_http_head h;
		struct ws_header hh[32];
		const struct ws_str *v;

		refuse(req, WS_E_HANDSHAKE, 426);
		out = refuse_chunk(req, strlen(req), 0, WS_E_HANDSHAKE, 426);
		memset(&h, 0, sizeof(h));
		ck_assert_int_gt(ws_http_parse_response(out, strlen(out),
		    strlen(out) + 1, &h, hh, 32), 0);
		v = ws_header_get(hh, h.nheaders, "Sec-WebSocket-Version");
		ck_assert_msg(v != NULL, "no Sec-WebSocket-Version in 426");
		ck_assert_str_is(*v, "13");
		ck_assert_ptr_nonnull(strstr(out,
		    "\r\nSec-WebSocket-Version: 13\r\n"));
		free(out);
		free(req);
	}
}
END_TEST

START_TEST(test_refuse_too_large)
{
	char *req, *pad;
	size_t base = strlen(tu_request), i, off;

	/* A head of 8193 bytes. */
	pad = malloc(8192);
	ck_assert_ptr_nonnull(pad);
	memcpy(pad, "X-Pad: ", 7);
	memset(pad + 7, 'p', 8193 - base - 9);
	pad[8193 - base - 2] = '\0';
	req = malloc(8194);
	ck_assert_ptr_nonnull(req);
	snprintf(req, 8194, "%.*s%s\r\n\r\n", (int)(base - 2), tu_request,
	    pad);
	ck_assert_uint_eq(strlen(req), 8193);
	refuse(req, WS_E_HTTP_TOO_LARGE, 431);
	free(req);
	free(pad);

	/* Much larger, no end in sight. */
	req = malloc(20001);
	ck_assert_ptr_nonnull(req);
	memcpy(req, tu_request, base - 2);
	memset(req + base - 2, 'a', 20000 - (base - 2));
	memcpy(req + base - 2, "X-Long: ", 8);
	req[20000] = '\0';
	refuse(req, WS_E_HTTP_TOO_LARGE, 431);

	/* 101 header lines. */
	off = base - 2;
	for (i = 5; i < 101; i++)
		off += (size_t)sprintf(req + off, "X-H%zu: v\r\n", i);
	memcpy(req + off, "\r\n", 3);
	refuse(req, WS_E_HTTP_TOO_LARGE, 431);
	free(req);
}
END_TEST

START_TEST(test_refuse_malformed)
{
	refuse_free(mkreq("GET /chat HTTP/1.1", H_ALL "Bad Header\r\n"),
	    WS_E_HTTP, 400);
	refuse_free(mkreq("GET /chat HTTP/1.1", H_HOST " folded\r\n"
	    H_UPGRADE H_CONN H_KEY H_VERSION), WS_E_HTTP, 400);
	refuse_free(mkreq("GET /chat HTTP/1.1", H_ALL "X: a\x01\r\n"),
	    WS_E_HTTP, 400);
	refuse_free(mkreq("GET /chat HTTP/2.0", H_ALL), WS_E_HTTP, 400);
	refuse_free(mkreq("GET /chat", H_ALL), WS_E_HTTP, 400);
}
END_TEST

START_TEST(test_refuse_nul)
{
	char *req = mkreq("GET /chat HTTP/1.1", H_ALL "X: a_b\r\n");
	size_t len = strlen(req);

	*strchr(req, '_') = '\0';
	free(refuse_chunk(req, len, 0, WS_E_HTTP, 400));
	free(refuse_chunk(req, len, 1, WS_E_HTTP, 400));
	free(req);
}
END_TEST

START_TEST(test_refuse_duplicates)
{
	/* RFC 9112 3.2: more than one Host is a 400. */
	refuse_free(mkreq("GET /chat HTTP/1.1", H_ALL "Host: other\r\n"),
	    WS_E_HANDSHAKE, 400);
	/* RFC 6455 11.3.1: Sec-WebSocket-Key must not appear twice. */
	refuse_free(mkreq("GET /chat HTTP/1.1", H_ALL
	    "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"),
	    WS_E_HANDSHAKE, 400);
}
END_TEST

START_TEST(test_refuse_duplicate_version)
{
	/*
	 * RFC 6455 11.3.5: Sec-WebSocket-Version must not appear more than
	 * once in a request; such a request does not match section 4.1, so
	 * the server refuses it (4.2.1: "such as 400"; 426 names a version
	 * it does not support).
	 */
	char *req = mkreq("GET /chat HTTP/1.1", H_ALL
	    "Sec-WebSocket-Version: 8\r\n");
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct tu_rec r = { 0 };

	ck_assert_ptr_nonnull(c);
	tu_feed(c, req, strlen(req), 0, &r, 1);
	ck_assert_int_eq(r.status, WS_E_HANDSHAKE);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_msg(ws_http_status(c) == 400 || ws_http_status(c) == 426,
	    "http status %d", ws_http_status(c));
	tu_rec_reset(&r);
	ws_conn_free(c);
	free(req);
}
END_TEST

START_TEST(test_refuse_method_case)
{
	/* RFC 9110 9.1: the method token is case-sensitive; "get" is not
	   GET (RFC 6455 4.2.1 requires a GET). */
	char *req = mkreq("get /chat HTTP/1.1", H_ALL);
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct tu_rec r = { 0 };
	int http;

	ck_assert_ptr_nonnull(c);
	tu_feed(c, req, strlen(req), 0, &r, 1);
	ck_assert_msg(r.status == WS_E_HANDSHAKE,
	    "status %d, %zu events: \"get\" accepted as GET", r.status, r.n);
	ck_assert_uint_eq(r.n, 0);
	http = ws_http_status(c);
	ck_assert_msg(http == 400 || http == 405 || http == 501,
	    "http status %d", http);
	tu_rec_reset(&r);
	ws_conn_free(c);
	free(req);
}
END_TEST

START_TEST(test_server_split_list_headers)
{
	char *req;

	/*
	 * RFC 9110 5.3: field lines with the same name form one
	 * comma-separated list; the upgrade token may be in the second
	 * Connection line.
	 */
	req = mkreq("GET /chat HTTP/1.1", H_HOST H_UPGRADE
	    "Connection: keep-alive\r\n" "Connection: Upgrade\r\n" H_KEY
	    H_VERSION);
	accept_ok(req);
	free(req);
}
END_TEST

START_TEST(test_server_http11_plus)
{
	/* RFC 6455 4.2.1: HTTP/1.1 or higher. */
	accept_ok("GET /chat HTTP/1.2\r\n" H_ALL "\r\n");
}
END_TEST

START_TEST(test_server_limits)
{
	struct ws_limits l;
	struct ws_conn *c;
	struct tu_rec r = { 0 };
	char *out;
	size_t n, len = strlen(tu_request);

	ws_limits_default(&l);
	ck_assert_uint_eq(l.max_head_bytes, WS_DEFAULT_MAX_HEAD_BYTES);
	ck_assert_uint_eq(l.max_headers, WS_DEFAULT_MAX_HEADERS);
	/* A head of exactly max_head_bytes is accepted. */
	l.max_head_bytes = len;
	c = ws_conn_new(WS_ROLE_SERVER, &l, NULL);
	ck_assert_ptr_nonnull(c);
	tu_feed(c, tu_request, len, 1, &r, 1);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
	tu_rec_reset(&r);
	ws_conn_free(c);
	/* One byte less: 431. */
	l.max_head_bytes = len - 1;
	c = ws_conn_new(WS_ROLE_SERVER, &l, NULL);
	ck_assert_ptr_nonnull(c);
	tu_feed(c, tu_request, len, 1, &r, 1);
	ck_assert_int_eq(r.status, WS_E_HTTP_TOO_LARGE);
	ck_assert_int_eq(ws_http_status(c), 431);
	out = drain_str(c, &n);
	ck_assert(starts_with(out, "HTTP/1.1 431 "));
	free(out);
	tu_rec_reset(&r);
	ws_conn_free(c);
	/* tu_request has 5 header lines. */
	ws_limits_default(&l);
	l.max_headers = 5;
	c = ws_conn_new(WS_ROLE_SERVER, &l, NULL);
	ck_assert_ptr_nonnull(c);
	tu_feed(c, tu_request, len, 0, &r, 1);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	tu_rec_reset(&r);
	ws_conn_free(c);
	l.max_headers = 4;
	c = ws_conn_new(WS_ROLE_SERVER, &l, NULL);
	ck_assert_ptr_nonnull(c);
	tu_feed(c, tu_request, len, 0, &r, 1);
	ck_assert_int_eq(r.status, WS_E_HTTP_TOO_LARGE);
	ck_assert_int_eq(ws_http_status(c), 431);
	tu_rec_reset(&r);
	ws_conn_free(c);
}
END_TEST

/* ------------------------------------------------------ server: reject */

static struct ws_conn *
server_with_request(struct hold *h, const char *req)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct tu_rec r = { 0 };

	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(feed_hold(c, req, strlen(req), 0, h, &r), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_REQUEST);
	ck_assert_ptr_nonnull(ws_conn_request(c));
	tu_rec_reset(&r);
	return c;
}

START_TEST(test_reject_404)
{
	static const char body[] = "no such route\n";
	struct hold hd = { 0 };
	struct ws_conn *c = server_with_request(&hd, tu_request);
	struct ws_http_head h;
	struct ws_header hdrs[32];
	struct ws_response resp;
	const struct ws_str *v;
	char *out;
	size_t n;
	int hl;

	ck_assert_int_eq(ws_reject(c, 404, NULL, body, NULL), WS_OK);
	ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
	ck_assert_int_eq(ws_close_expected(c), 1);
	ck_assert_int_eq(ws_http_status(c), 404);
	ck_assert_ptr_null(ws_conn_request(c));
	out = drain_str(c, &n);
	ck_assert(starts_with(out, "HTTP/1.1 404 Not Found\r\n"));
	memset(&h, 0, sizeof(h));
	hl = ws_http_parse_response(out, n, n + 1, &h, hdrs, 32);
	ck_assert_int_gt(hl, 0);
	ck_assert_int_eq(h.status, 404);
	ck_assert_str_is(h.reason, "Not Found");
	v = ws_header_get(hdrs, h.nheaders, "Content-Type");
	ck_assert_ptr_nonnull(v);
	ck_assert(v->len >= 10 && memcmp(v->p, "text/plain", 10) == 0);
	v = ws_header_get(hdrs, h.nheaders, "Content-Length");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "14");
	v = ws_header_get(hdrs, h.nheaders, "Connection");
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(ws_http_list_has(*v, "close"), 1);
	ck_assert_uint_eq(n - (size_t)hl, strlen(body));
	ck_assert_str_eq(out + hl, body);
	free(out);

	ws_response_init(&resp);
	ck_assert_int_eq(ws_accept(c, &resp), WS_E_STATE);
	ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
	ck_assert_ptr_null(ws_output(c, &n));
	ck_assert_uint_eq(n, 0);
	ws_conn_free(c);
	hold_free(&hd);
}
END_TEST

START_TEST(test_reject_headers_reason)
{
	static const char *const extra[] = { "Retry-After: 5", NULL };
	struct hold hd = { 0 };
	struct ws_conn *c = server_with_request(&hd, tu_request);
	char *out;
	size_t n;

	ck_assert_int_eq(ws_reject(c, 503, "Busy Now", NULL, extra), WS_OK);
	ck_assert_int_eq(ws_http_status(c), 503);
	out = drain_str(c, &n);
	ck_assert(starts_with(out, "HTTP/1.1 503 Busy Now\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nRetry-After: 5\r\n"));
	ck_assert_str_eq(out + n - 4, "\r\n\r\n");
	free(out);
	/* Once is enough. */
	ck_assert_int_eq(ws_reject(c, 400, NULL, NULL, NULL), WS_E_STATE);
	ws_conn_free(c);
	hold_free(&hd);
}
END_TEST

START_TEST(test_reject_before_request)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	char *out;
	size_t n;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(ws_reject(c, 503, NULL, "busy\n", NULL), WS_OK);
	ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
	ck_assert_int_eq(ws_close_expected(c), 1);
	out = drain_str(c, &n);
	ck_assert(starts_with(out, "HTTP/1.1 503 Service Unavailable\r\n"));
	free(out);
	ws_conn_free(c);
}
END_TEST

START_TEST(test_reject_bad_args)
{
	static const char *const bad[] = { "X-A: b\r\nX-C: d", NULL };
	struct hold hd = { 0 };
	struct ws_conn *c = server_with_request(&hd, tu_request);
	size_t n;

	ck_assert_int_eq(ws_reject(c, 200, NULL, NULL, NULL), WS_E_INVAL);
	ck_assert_int_eq(ws_reject(c, 399, NULL, NULL, NULL), WS_E_INVAL);
	ck_assert_int_eq(ws_reject(c, 600, NULL, NULL, NULL), WS_E_INVAL);
	ck_assert_int_eq(ws_reject(c, 400, "Bad\r\nX: y", NULL, NULL),
	    WS_E_INVAL);
	ck_assert_int_eq(ws_reject(c, 400, NULL, NULL, bad), WS_E_INVAL);
	/* Nothing changed. */
	ck_assert_int_eq(ws_conn_state(c), WS_CONNECTING);
	ck_assert_ptr_nonnull(ws_conn_request(c));
	ck_assert_ptr_null(ws_output(c, &n));
	ck_assert_int_eq(ws_reject(c, 400, NULL, NULL, NULL), WS_OK);
	ws_conn_free(c);
	hold_free(&hd);
}
END_TEST

START_TEST(test_reject_when_open)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);

	ck_assert_int_eq(ws_reject(s, 400, NULL, NULL, NULL), WS_E_STATE);
	ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
	ws_conn_free(s);
}
END_TEST

/* ------------------------------------------------------ server: accept */

static const char req_protos[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: localhost\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: " RFC_KEY "\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

START_TEST(test_accept_subprotocol)
{
	struct hold hd = { 0 };
	struct ws_conn *c = server_with_request(&hd, req_protos);
	struct ws_response resp;
	char *out;
	size_t n;

	ws_response_init(&resp);
	ck_assert_ptr_null(resp.subprotocol);
	ck_assert_ptr_null(resp.extensions);
	ck_assert_uint_eq(resp.nheaders, 0);
	resp.subprotocol = "other";
	ck_assert_int_eq(ws_accept(c, &resp), WS_E_INVAL);
	resp.subprotocol = "cha";
	ck_assert_int_eq(ws_accept(c, &resp), WS_E_INVAL);
	ck_assert_int_eq(ws_conn_state(c), WS_CONNECTING);
	ck_assert_ptr_nonnull(ws_conn_request(c));
	ck_assert_ptr_null(ws_output(c, &n));
	resp.subprotocol = "chat";
	ck_assert_int_eq(ws_accept(c, &resp), WS_OK);
	ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
	ck_assert_ptr_nonnull(ws_conn_subprotocol(c));
	ck_assert_str_eq(ws_conn_subprotocol(c), "chat");
	out = drain_str(c, &n);
	ck_assert(starts_with(out, "HTTP/1.1 101 "));
	ck_assert_ptr_nonnull(strstr(out,
	    "\r\nSec-WebSocket-Protocol: chat\r\n"));
	ck_assert_ptr_nonnull(strstr(out,
	    "\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n"));
	free(out);
	/* Once. */
	ck_assert_int_eq(ws_accept(c, &resp), WS_E_STATE);
	ws_conn_free(c);
	hold_free(&hd);
}
END_TEST

START_TEST(test_accept_subprotocol_none_offered)
{
	struct hold hd = { 0 };
	struct ws_conn *c = server_with_request(&hd, tu_request);
	struct ws_response resp;

	ws_response_init(&resp);
	resp.subprotocol = "chat";
	ck_assert_int_eq(ws_accept(c, &resp), WS_E_INVAL);
	ck_assert_int_eq(ws_conn_state(c), WS_CONNECTING);
	resp.subprotocol = NULL;
	ck_assert_int_eq(ws_accept(c, &resp), WS_OK);
	ck_assert_ptr_null(ws_conn_subprotocol(c));
	ws_conn_free(c);
	hold_free(&hd);
}
END_TEST

START_TEST(test_accept_no_request)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct ws_response resp;

	ck_assert_ptr_nonnull(c);
	ws_response_init(&resp);
	ck_assert_int_eq(ws_accept(c, &resp), WS_E_STATE);
	ck_assert_int_eq(ws_conn_state(c), WS_CONNECTING);
	ws_conn_free(c);
}
END_TEST

START_TEST(test_response_headers)
{
	struct hold hd = { 0 };
	struct ws_conn *c = server_with_request(&hd, tu_request);
	struct ws_response resp;
	char *out;
	size_t n;

	ws_response_init(&resp);
	ck_assert_int_eq(ws_response_add_header(&resp, "X-Foo", "bar"),
	    WS_OK);
	ck_assert_uint_eq(resp.nheaders, 1);
	ck_assert_int_eq(ws_response_add_header(&resp, "X-Bad", "a\r\nb"),
	    WS_E_INVAL);
	ck_assert_int_eq(ws_response_add_header(&resp, "X-Bad", "a\nb"),
	    WS_E_INVAL);
	ck_assert_int_eq(ws_response_add_header(&resp, "X-Bad", "a\rb"),
	    WS_E_INVAL);
	ck_assert_int_eq(ws_response_add_header(&resp, "X\r\nY", "b"),
	    WS_E_INVAL);
	ck_assert_uint_eq(resp.nheaders, 1);
	ck_assert_int_eq(ws_accept(c, &resp), WS_OK);
	out = drain_str(c, &n);
	ck_assert(starts_with(out, "HTTP/1.1 101 "));
	ck_assert_ptr_nonnull(strstr(out, "\r\nX-Foo: bar\r\n"));
	ck_assert_ptr_null(strstr(out, "X-Bad"));
	ck_assert_str_eq(out + n - 4, "\r\n\r\n");
	free(out);
	ws_conn_free(c);
	hold_free(&hd);
}
END_TEST

START_TEST(test_response_headers_full)
{
	struct ws_response resp;
	char name[WS_RESPONSE_MAX_HEADERS][16];
	size_t i;

	ws_response_init(&resp);
	for (i = 0; i < WS_RESPONSE_MAX_HEADERS; i++) {
		snprintf(name[i], sizeof(name[i]), "X-H%zu", i);
		ck_assert_int_eq(ws_response_add_header(&resp, name[i], "v"),
		    WS_OK);
	}
	ck_assert_uint_eq(resp.nheaders, WS_RESPONSE_MAX_HEADERS);
	ck_assert_int_eq(ws_response_add_header(&resp, "X-More", "v"),
	    WS_E_INVAL);
	ck_assert_uint_eq(resp.nheaders, WS_RESPONSE_MAX_HEADERS);
}
END_TEST

START_TEST(test_accept_split_header)
{
	struct hold hd = { 0 };
	struct ws_conn *c = server_with_request(&hd, tu_request);
	struct ws_response resp;
	size_t n;

	/* Set by hand, past ws_response_add_header(). */
	ws_response_init(&resp);
	resp.headers[0].name = "X-Foo";
	resp.headers[0].value = "a\r\nSet-Cookie: x=y";
	resp.nheaders = 1;
	ck_assert_int_eq(ws_accept(c, &resp), WS_E_INVAL);
	ck_assert_int_eq(ws_conn_state(c), WS_CONNECTING);
	ck_assert_ptr_null(ws_output(c, &n));
	resp.headers[0].value = "ok";
	ck_assert_int_eq(ws_accept(c, &resp), WS_OK);
	ws_conn_free(c);
	hold_free(&hd);
}
END_TEST

/* ------------------------------------------------------------- client */

static int
fixed_random(uint8_t *buf, size_t len, void *ud)
{
	int *calls = ud;

	if (calls != NULL)
		(*calls)++;
	memset(buf, 0x42, len);
	return 0;
}

/* Parse the request a client queued; returns its text (free it). */
static char *
client_request(struct ws_conn *c, struct ws_http_head *h,
    struct ws_header *hdrs, size_t maxh)
{
	size_t n;
	char *out = drain_str(c, &n);

	memset(h, 0, sizeof(*h));
	ck_assert_int_eq(ws_http_parse_request(out, n, n + 1, h, hdrs, maxh),
	    (int)n);
	return out;
}

START_TEST(test_client_request)
{
	static const char *const protos[] = { "chat", "superchat" };
	static const char *const extra[] = { "Authorization: Bearer x",
	    "X-Trace: 1" };
	struct ws_conn *c = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	struct ws_client_request req;
	struct ws_http_head h;
	struct ws_header hdrs[32];
	const struct ws_str *v;
	struct ws_str list[4];
	uint8_t key[32];
	char *out;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(ws_conn_role(c), WS_ROLE_CLIENT);
	ck_assert_int_eq(ws_conn_state(c), WS_CONNECTING);
	memset(&req, 0, sizeof(req));
	req.host = "example.com:8080";
	req.target = "/chat?x=1";
	req.origin = "http://example.com";
	req.subprotocols = protos;
	req.nsubprotocols = 2;
	req.headers = extra;
	req.nheaders = 2;
	ck_assert_int_eq(ws_connect(c, &req), WS_OK);
	ck_assert_int_eq(ws_conn_state(c), WS_CONNECTING);
	out = client_request(c, &h, hdrs, 32);
	ck_assert_str_is(h.method, "GET");
	ck_assert_str_is(h.target, "/chat?x=1");
	ck_assert_int_eq(h.minor_version, 1);
	v = ws_header_get(hdrs, h.nheaders, "Host");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "example.com:8080");
	v = ws_header_get(hdrs, h.nheaders, "Upgrade");
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(ws_str_ieq(*v, "websocket"), 1);
	v = ws_header_get(hdrs, h.nheaders, "Connection");
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(ws_http_list_has(*v, "upgrade"), 1);
	v = ws_header_get(hdrs, h.nheaders, "Sec-WebSocket-Version");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "13");
	v = ws_header_get(hdrs, h.nheaders, "Sec-WebSocket-Key");
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->len, 24);
	ck_assert_int_eq(b64_decode(*v, key, sizeof(key)), 16);
	v = ws_header_get(hdrs, h.nheaders, "Origin");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "http://example.com");
	memset(list, 0, sizeof(list));
	ck_assert_uint_eq(ws_header_list(hdrs, h.nheaders,
	    "Sec-WebSocket-Protocol", list, 4), 2);
	ck_assert_str_is(list[0], "chat");
	ck_assert_str_is(list[1], "superchat");
	v = ws_header_get(hdrs, h.nheaders, "Authorization");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "Bearer x");
	v = ws_header_get(hdrs, h.nheaders, "X-Trace");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "1");
	ck_assert_ptr_null(ws_header_get(hdrs, h.nheaders,
	    "Sec-WebSocket-Extensions"));
	free(out);
	/* Once. */
	ck_assert_int_eq(ws_connect(c, &req), WS_E_STATE);
	ck_assert_ptr_null(ws_output(c, &(size_t){ 0 }));
	ws_conn_free(c);
}
END_TEST

START_TEST(test_client_request_minimal)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	struct ws_client_request req;
	struct ws_http_head h;
	struct ws_header hdrs[32];
	const struct ws_str *v;
	char *out;

	ck_assert_ptr_nonnull(c);
	memset(&req, 0, sizeof(req));
	req.host = "localhost";
	req.extensions = "permessage-deflate";
	ck_assert_int_eq(ws_connect(c, &req), WS_OK);
	out = client_request(c, &h, hdrs, 32);
	ck_assert_str_is(h.target, "/");
	ck_assert_ptr_null(ws_header_get(hdrs, h.nheaders, "Origin"));
	ck_assert_ptr_null(ws_header_get(hdrs, h.nheaders,
	    "Sec-WebSocket-Protocol"));
	v = ws_header_get(hdrs, h.nheaders, "Sec-WebSocket-Extensions");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "permessage-deflate");
	free(out);
	ws_conn_free(c);
}
END_TEST

START_TEST(test_client_connect_inval)
{
	static const char *const badproto[] = { "chat\r\nX: y" };
	static const char *const badhdr[] = { "X-A: b\r\nX-C: d" };
	struct ws_conn *c = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	struct ws_conn *s = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct ws_client_request req;
	size_t n;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(s);
	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(ws_connect(c, &req), WS_E_INVAL);
	req.host = "a\r\nX: y";
	ck_assert_int_eq(ws_connect(c, &req), WS_E_INVAL);
	req.host = "localhost";
	req.target = "/\r\nX: y";
	ck_assert_int_eq(ws_connect(c, &req), WS_E_INVAL);
	req.target = NULL;
	req.origin = "http://a\r\nX: y";
	ck_assert_int_eq(ws_connect(c, &req), WS_E_INVAL);
	req.origin = NULL;
	req.subprotocols = badproto;
	req.nsubprotocols = 1;
	ck_assert_int_eq(ws_connect(c, &req), WS_E_INVAL);
	req.subprotocols = NULL;
	req.nsubprotocols = 0;
	req.headers = badhdr;
	req.nheaders = 1;
	ck_assert_int_eq(ws_connect(c, &req), WS_E_INVAL);
	req.headers = NULL;
	req.nheaders = 0;
	req.extensions = "x\r\nY: z";
	ck_assert_int_eq(ws_connect(c, &req), WS_E_INVAL);
	req.extensions = NULL;
	/* Nothing changed. */
	ck_assert_ptr_null(ws_output(c, &n));
	ck_assert_int_eq(ws_conn_state(c), WS_CONNECTING);
	/* Not a client. */
	ck_assert_int_eq(ws_status_class(ws_connect(s, &req)),
	    WS_CLASS_USAGE);
	ck_assert_ptr_null(ws_output(s, &n));
	ck_assert_int_eq(ws_connect(c, &req), WS_OK);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

static struct ws_str
request_key(const char *out, struct ws_http_head *h, struct ws_header *hdrs)
{
	const struct ws_str *v;

	memset(h, 0, sizeof(*h));
	ck_assert_int_gt(ws_http_parse_request(out, strlen(out),
	    strlen(out) + 1, h, hdrs, 32), 0);
	v = ws_header_get(hdrs, h->nheaders, "Sec-WebSocket-Key");
	ck_assert_ptr_nonnull(v);
	return *v;
}

START_TEST(test_client_keys_differ)
{
	struct ws_conn *a = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	struct ws_conn *b = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	struct ws_client_request req;
	struct ws_http_head ha, hb;
	struct ws_header xa[32], xb[32];
	struct ws_str ka, kb;
	char *oa, *ob;
	size_t n;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	memset(&req, 0, sizeof(req));
	req.host = "localhost";
	ck_assert_int_eq(ws_connect(a, &req), WS_OK);
	ck_assert_int_eq(ws_connect(b, &req), WS_OK);
	oa = drain_str(a, &n);
	ob = drain_str(b, &n);
	ka = request_key(oa, &ha, xa);
	kb = request_key(ob, &hb, xb);
	ck_assert_uint_eq(ka.len, 24);
	ck_assert_uint_eq(kb.len, 24);
	ck_assert_msg(memcmp(ka.p, kb.p, 24) != 0, "same key twice: %.24s",
	    ka.p);
	free(oa);
	free(ob);
	ws_conn_free(a);
	ws_conn_free(b);
}
END_TEST

START_TEST(test_client_fixed_random)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	struct ws_client_request req;
	struct ws_http_head h;
	struct ws_header hdrs[32];
	struct ws_str k;
	int calls = 0;
	char *out;
	size_t n;

	ck_assert_ptr_nonnull(c);
	ws_conn_set_random(c, fixed_random, &calls);
	memset(&req, 0, sizeof(req));
	req.host = "localhost";
	ck_assert_int_eq(ws_connect(c, &req), WS_OK);
	ck_assert_int_ge(calls, 1);
	out = drain_str(c, &n);
	k = request_key(out, &h, hdrs);
	ck_assert_str_is(k, FIXED_KEY);
	free(out);
	ws_conn_free(c);
}
END_TEST

/*
 * A client with a deterministic key that has sent its request; the
 * Sec-WebSocket-Accept its server must send is put in accept.
 */
static struct ws_conn *
client_start(const char *const *protos, size_t nprotos, char accept[29])
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	struct ws_client_request req;
	struct ws_http_head h;
	struct ws_header hdrs[32];
	struct ws_str k;
	char *out;
	size_t n;

	ck_assert_ptr_nonnull(c);
	ws_conn_set_random(c, fixed_random, NULL);
	memset(&req, 0, sizeof(req));
	req.host = "localhost";
	req.target = "/chat";
	req.subprotocols = protos;
	req.nsubprotocols = nprotos;
	ck_assert_int_eq(ws_connect(c, &req), WS_OK);
	out = drain_str(c, &n);
	k = request_key(out, &h, hdrs);
	ck_assert_str_is(k, FIXED_KEY);
	ws_accept_key(k.p, k.len, accept);
	free(out);
	ck_assert_int_eq(ws_http_status(c), 0);
	return c;
}

static char *
mkresp(const char *statusline, const char *hdrs)
{
	size_t n = strlen(statusline) + strlen(hdrs) + 8;
	char *s = malloc(n);

	ck_assert_ptr_nonnull(s);
	snprintf(s, n, "%s\r\n%s\r\n", statusline, hdrs);
	return s;
}

static char *
valid_101(const char *accept, const char *more)
{
	char hdrs[1024];

	snprintf(hdrs, sizeof(hdrs), "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s",
	    accept, more);
	return mkresp("HTTP/1.1 101 Switching Protocols", hdrs);
}

START_TEST(test_client_response_ok)
{
	char accept[29];
	size_t chunk, len;
	char *resp;

	ws_accept_key(FIXED_KEY, 24, accept);
	resp = valid_101(accept, "");
	len = strlen(resp);
	for (chunk = 0; chunk <= len; chunk++) {
		struct ws_conn *c = client_start(NULL, 0, accept);
		struct tu_rec r = { 0 };
		size_t n;

		ck_assert_uint_eq(tu_feed(c, resp, len, chunk, &r, 0), 0);
		ck_assert_msg(r.status == 0, "chunk %zu: status %d (%s)",
		    chunk, r.status, ws_error(c));
		ck_assert_uint_eq(r.n, 1);
		ck_assert_int_eq(r.ev[0].type, WS_EV_RESPONSE);
		ck_assert_uint_eq(r.ev[0].len, len);
		ck_assert_mem_eq(r.ev[0].data, resp, len);
		ck_assert_uint_eq(r.consumed, len);
		ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
		ck_assert_int_eq(ws_http_status(c), 101);
		ck_assert_ptr_null(ws_conn_subprotocol(c));
		ck_assert_str_eq(ws_error(c), "");
		ck_assert_int_eq(ws_close_expected(c), 0);
		ck_assert_ptr_null(ws_output(c, &n));
		ck_assert_int_eq(ws_can_send(c), 1);
		tu_rec_reset(&r);
		ws_conn_free(c);
	}
	free(resp);
}
END_TEST

static void
client_ok(const char *const *protos, size_t nprotos, const char *resp,
    const char *want_proto)
{
	char accept[29];
	struct ws_conn *c = client_start(protos, nprotos, accept);
	struct tu_rec r = { 0 };
	size_t left;

	left = tu_feed(c, resp, strlen(resp), 0, &r, 0);
	ck_assert_msg(r.status == 0, "status %d (%s) for\n%s", r.status,
	    ws_error(c), resp);
	ck_assert_uint_eq(left, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_RESPONSE);
	ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
	if (want_proto == NULL)
		ck_assert_ptr_null(ws_conn_subprotocol(c));
	else {
		ck_assert_ptr_nonnull(ws_conn_subprotocol(c));
		ck_assert_str_eq(ws_conn_subprotocol(c), want_proto);
	}
	tu_rec_reset(&r);
	ws_conn_free(c);
}

START_TEST(test_client_response_variants)
{
	static const char *const protos[] = { "chat", "superchat" };
	char accept[29], hdrs[512];
	char *resp;

	ws_accept_key(FIXED_KEY, 24, accept);
	snprintf(hdrs, sizeof(hdrs), "upgrade: WebSocket\r\n"
	    "connection: upgrade\r\nsec-websocket-accept: %s\r\n", accept);
	resp = mkresp("HTTP/1.1 101 Switching Protocols", hdrs);
	client_ok(NULL, 0, resp, NULL);
	free(resp);
	snprintf(hdrs, sizeof(hdrs), "Upgrade: websocket\nConnection: "
	    "keep-alive, Upgrade\nSec-WebSocket-Accept: %s\n", accept);
	resp = malloc(1024);
	ck_assert_ptr_nonnull(resp);
	snprintf(resp, 1024, "HTTP/1.1 101 OK\n%s\n", hdrs);
	client_ok(NULL, 0, resp, NULL);
	free(resp);
	resp = valid_101(accept, "Sec-WebSocket-Protocol: superchat\r\n");
	client_ok(protos, 2, resp, "superchat");
	free(resp);
	resp = valid_101(accept, "X-Server: test\r\n");
	client_ok(protos, 2, resp, NULL);
	free(resp);
}
END_TEST

START_TEST(test_client_frame_same_packet)
{
	char accept[29];
	uint8_t buf[1024];
	size_t hl, fl, chunk;
	char *resp;

	ws_accept_key(FIXED_KEY, 24, accept);
	resp = valid_101(accept, "");
	hl = strlen(resp);
	memcpy(buf, resp, hl);
	fl = tu_server_frame(buf + hl, 0x81, "hi", 2);
	for (chunk = 0; chunk <= hl + fl; chunk += (chunk < 4 ? 1 : 7)) {
		struct ws_conn *c = client_start(NULL, 0, accept);
		struct tu_rec r = { 0 };

		ck_assert_uint_eq(tu_feed(c, buf, hl + fl, chunk, &r, 0), 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_msg(r.n == 2, "chunk %zu: %zu events", chunk, r.n);
		ck_assert_int_eq(r.ev[0].type, WS_EV_RESPONSE);
		ck_assert_int_eq(r.ev[1].type, WS_EV_TEXT);
		ck_assert_uint_eq(r.ev[1].len, 2);
		ck_assert_mem_eq(r.ev[1].data, "hi", 2);
		tu_rec_reset(&r);
		ws_conn_free(c);
	}
	free(resp);
}
END_TEST

/* Feed a response the client must refuse (want_http -1: any status). */
static void
client_fail(const char *const *protos, size_t nprotos, const char *resp,
    int want, int want_http)
{
	char accept[29];
	struct ws_conn *c = client_start(protos, nprotos, accept);
	struct tu_rec r = { 0 };
	size_t n;

	tu_feed(c, resp, strlen(resp), 0, &r, 0);
	ck_assert_msg(r.status == want, "status %d, want %d, for\n%s",
	    r.status, want, resp);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_int_eq(ws_status_class(r.status), WS_CLASS_HANDSHAKE);
	if (want_http >= 0)
		ck_assert_int_eq(ws_http_status(c), want_http);
	ck_assert_str_ne(ws_error(c), "");
	ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
	ck_assert_int_eq(ws_close_expected(c), 1);
	ck_assert_ptr_null(ws_conn_subprotocol(c));
	/* Never opened: no close frame to send. */
	ck_assert_ptr_null(ws_output(c, &n));
	ck_assert_int_eq(ws_can_send(c), 0);
	tu_rec_reset(&r);
	ws_conn_free(c);
}

START_TEST(test_client_refuse_status)
{
	char accept[29], hdrs[512];
	char *resp;

	ws_accept_key(FIXED_KEY, 24, accept);
	client_fail(NULL, 0, "HTTP/1.1 403 Forbidden\r\n"
	    "Content-Length: 0\r\n\r\n", WS_E_HANDSHAKE, 403);
	client_fail(NULL, 0, "HTTP/1.1 200 OK\r\n\r\n", WS_E_HANDSHAKE, 200);
	/* A 403 that carries the upgrade headers is still a 403. */
	snprintf(hdrs, sizeof(hdrs), "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept);
	resp = mkresp("HTTP/1.1 403 Forbidden", hdrs);
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 403);
	free(resp);
}
END_TEST

START_TEST(test_client_refuse_accept)
{
	char hdrs[512];
	char *resp;

	/* The RFC example's accept is not the one for this key. */
	resp = valid_101(RFC_ACCEPT, "");
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
	snprintf(hdrs, sizeof(hdrs), "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n");
	resp = mkresp("HTTP/1.1 101 Switching Protocols", hdrs);
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
}
END_TEST

START_TEST(test_client_refuse_upgrade_connection)
{
	char accept[29], hdrs[512];
	char *resp;

	ws_accept_key(FIXED_KEY, 24, accept);
	snprintf(hdrs, sizeof(hdrs), "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n", accept);
	resp = mkresp("HTTP/1.1 101 Switching Protocols", hdrs);
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
	snprintf(hdrs, sizeof(hdrs), "Upgrade: h2c\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n", accept);
	resp = mkresp("HTTP/1.1 101 Switching Protocols", hdrs);
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
	snprintf(hdrs, sizeof(hdrs), "Upgrade: websocket\r\n"
	    "Sec-WebSocket-Accept: %s\r\n", accept);
	resp = mkresp("HTTP/1.1 101 Switching Protocols", hdrs);
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
	snprintf(hdrs, sizeof(hdrs), "Upgrade: websocket\r\n"
	    "Connection: keep-alive\r\nSec-WebSocket-Accept: %s\r\n", accept);
	resp = mkresp("HTTP/1.1 101 Switching Protocols", hdrs);
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
}
END_TEST

START_TEST(test_client_refuse_subprotocol)
{
	static const char *const protos[] = { "chat", "superchat" };
	char accept[29];
	char *resp;

	ws_accept_key(FIXED_KEY, 24, accept);
	resp = valid_101(accept, "Sec-WebSocket-Protocol: other\r\n");
	client_fail(protos, 2, resp, WS_E_HANDSHAKE, 101);
	free(resp);
	resp = valid_101(accept, "Sec-WebSocket-Protocol: chat\r\n");
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
	/* Only one may be chosen. */
	resp = valid_101(accept, "Sec-WebSocket-Protocol: chat, superchat"
	    "\r\n");
	client_fail(protos, 2, resp, WS_E_HANDSHAKE, 101);
	free(resp);
}
END_TEST

START_TEST(test_client_refuse_extensions)
{
	char accept[29];
	char *resp;

	ws_accept_key(FIXED_KEY, 24, accept);
	resp = valid_101(accept, "Sec-WebSocket-Extensions: "
	    "permessage-deflate\r\n");
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
	resp = valid_101(accept, "Sec-WebSocket-Extensions: x-foo\r\n");
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
}
END_TEST

START_TEST(test_client_refuse_malformed)
{
	char accept[29], hdrs[512];
	char *resp;

	ws_accept_key(FIXED_KEY, 24, accept);
	snprintf(hdrs, sizeof(hdrs), "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept);
	resp = mkresp("HTTP/1.1 1x1 Switching Protocols", hdrs);
	client_fail(NULL, 0, resp, WS_E_HTTP, 0);
	free(resp);
	resp = mkresp("HTTP/2.0 101 Switching Protocols", hdrs);
	client_fail(NULL, 0, resp, WS_E_HTTP, -1);
	free(resp);
	client_fail(NULL, 0, "garbage\r\n\r\n", WS_E_HTTP, 0);
}
END_TEST

START_TEST(test_client_refuse_too_large)
{
	char accept[29];
	char *more, *resp;

	ws_accept_key(FIXED_KEY, 24, accept);
	more = malloc(9000);
	ck_assert_ptr_nonnull(more);
	memset(more, 'a', 9000);
	memcpy(more, "X-Pad: ", 7);
	memcpy(more + 8997, "\r\n", 3);
	resp = malloc(10000);
	ck_assert_ptr_nonnull(resp);
	snprintf(resp, 10000, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n%s\r\n", accept, more);
	client_fail(NULL, 0, resp, WS_E_HTTP_TOO_LARGE, -1);
	free(resp);
	free(more);
}
END_TEST

START_TEST(test_client_recv_before_connect)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	struct ws_event ev;
	uint8_t buf[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
	ssize_t k;

	ck_assert_ptr_nonnull(c);
	k = ws_recv(c, buf, sizeof(buf) - 1, &ev);
	ck_assert_int_eq(ws_status_class((int)k), WS_CLASS_USAGE);
	ck_assert_int_eq(ev.type, WS_EV_NONE);
	ws_conn_free(c);
}
END_TEST

START_TEST(test_client_split_list_headers)
{
	char accept[29], hdrs[512];
	char *resp;

	/* RFC 9110 5.3: two Connection lines are one list. */
	ws_accept_key(FIXED_KEY, 24, accept);
	snprintf(hdrs, sizeof(hdrs), "Upgrade: websocket\r\n"
	    "Connection: keep-alive\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n", accept);
	resp = mkresp("HTTP/1.1 101 Switching Protocols", hdrs);
	client_ok(NULL, 0, resp, NULL);
	free(resp);
}
END_TEST

START_TEST(test_client_refuse_accept_case)
{
	char accept[29], hdrs[512];
	char *resp;
	size_t i;

	/* base64 is case-sensitive. */
	ws_accept_key(FIXED_KEY, 24, accept);
	for (i = 0; i < 28; i++)
		if (accept[i] >= 'a' && accept[i] <= 'z') {
			accept[i] = (char)(accept[i] - 'a' + 'A');
			break;
		}
	ck_assert_uint_lt(i, 28);
	resp = valid_101(accept, "");
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
	/* RFC 6455 11.3.3: Sec-WebSocket-Accept must not appear twice. */
	ws_accept_key(FIXED_KEY, 24, accept);
	snprintf(hdrs, sizeof(hdrs), "Sec-WebSocket-Accept: %s\r\n",
	    RFC_ACCEPT);
	resp = valid_101(accept, hdrs);
	client_fail(NULL, 0, resp, WS_E_HANDSHAKE, 101);
	free(resp);
}
END_TEST

/* ------------------------------------------------------------ in pairs */

START_TEST(test_pair_open)
{
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };

	tu_pair_open(&c, &s, NULL);
	ck_assert_ptr_null(ws_conn_subprotocol(c));
	ck_assert_ptr_null(ws_conn_subprotocol(s));
	ck_assert_int_eq(ws_http_status(c), 101);
	ck_assert_int_eq(ws_http_status(s), 101);
	ck_assert_int_eq(ws_conn_role(c), WS_ROLE_CLIENT);
	ck_assert_int_eq(ws_conn_role(s), WS_ROLE_SERVER);
	ck_assert_int_eq(ws_send(c, WS_OP_TEXT, "hello", 5), WS_OK);
	tu_pump(c, s, &r, 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_TEXT);
	ck_assert_mem_eq(r.ev[0].data, "hello", 5);
	tu_rec_reset(&r);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_pair_subprotocol)
{
	static const char *const protos[] = { "chat", "superchat" };
	struct ws_conn *c = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	struct ws_conn *s = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct ws_client_request req;
	struct ws_response resp;
	const struct ws_request *q;
	struct tu_rec r = { 0 };
	struct hold hd = { 0 };
	struct ws_str list[4];
	uint8_t *out;
	size_t n;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(ws_conn_subprotocol(c));
	memset(&req, 0, sizeof(req));
	req.host = "localhost";
	req.target = "/chat?room=7";
	req.origin = "https://example.org";
	req.subprotocols = protos;
	req.nsubprotocols = 2;
	ck_assert_int_eq(ws_connect(c, &req), WS_OK);
	out = tu_drain(c, &n);
	ck_assert_uint_eq(feed_hold(s, out, n, 0, &hd, &r), 0);
	free(out);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_REQUEST);
	tu_rec_reset(&r);
	q = ws_conn_request(s);
	ck_assert_ptr_nonnull(q);
	ck_assert_str_is(q->path, "/chat");
	ck_assert_str_is(q->query, "room=7");
	ck_assert_str_is(q->host, "localhost");
	ck_assert_str_is(q->origin, "https://example.org");
	ck_assert_uint_eq(ws_header_list(q->headers, q->nheaders,
	    "Sec-WebSocket-Protocol", list, 4), 2);
	ck_assert_str_is(list[0], "chat");
	ck_assert_str_is(list[1], "superchat");
	ws_response_init(&resp);
	resp.subprotocol = "superchat";
	ck_assert_int_eq(ws_accept(s, &resp), WS_OK);
	hold_free(&hd);
	ck_assert_str_eq(ws_conn_subprotocol(s), "superchat");
	tu_pump(s, c, &r, 1);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_RESPONSE);
	tu_rec_reset(&r);
	ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
	ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
	ck_assert_ptr_nonnull(ws_conn_subprotocol(c));
	ck_assert_str_eq(ws_conn_subprotocol(c), "superchat");
	ck_assert_int_eq(ws_send(s, WS_OP_BINARY, "\x00\x01", 2), WS_OK);
	tu_pump(s, c, &r, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_BINARY);
	ck_assert_uint_eq(r.ev[0].len, 2);
	tu_rec_reset(&r);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

static Suite *
handshake_suite(void)
{
	Suite *s = suite_create("handshake");
	TCase *tc;

	tc = tcase_create("key");
	tcase_add_test(tc, test_accept_key_rfc);
	tcase_add_test(tc, test_accept_key_other);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_server_101);
	tcase_add_test(tc, test_server_request_chunked);
	tcase_add_test(tc, test_server_request_fields);
	tcase_add_test(tc, test_server_empty_query);
	tcase_add_test(tc, test_server_wait_for_accept);
	tcase_add_test(tc, test_server_frame_same_packet);
	tcase_add_test(tc, test_server_variants_accepted);
	tcase_add_test(tc, test_server_head_limits_ok);
	tcase_add_test(tc, test_server_split_list_headers);
	tcase_add_test(tc, test_server_http11_plus);
	tcase_add_test(tc, test_server_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("server_refuse");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_refuse_post);
	tcase_add_test(tc, test_refuse_http10);
	tcase_add_test(tc, test_refuse_no_host);
	tcase_add_test(tc, test_refuse_upgrade);
	tcase_add_test(tc, test_refuse_connection);
	tcase_add_test(tc, test_refuse_key);
	tcase_add_test(tc, test_refuse_version);
	tcase_add_test(tc, test_refuse_too_large);
	tcase_add_test(tc, test_refuse_malformed);
	tcase_add_test(tc, test_refuse_nul);
	tcase_add_test(tc, test_refuse_duplicates);
	tcase_add_test(tc, test_refuse_duplicate_version);
	tcase_add_test(tc, test_refuse_method_case);
	suite_add_tcase(s, tc);

	tc = tcase_create("server_api");
	tcase_add_test(tc, test_reject_404);
	tcase_add_test(tc, test_reject_headers_reason);
	tcase_add_test(tc, test_reject_before_request);
	tcase_add_test(tc, test_reject_bad_args);
	tcase_add_test(tc, test_reject_when_open);
	tcase_add_test(tc, test_accept_subprotocol);
	tcase_add_test(tc, test_accept_subprotocol_none_offered);
	tcase_add_test(tc, test_accept_no_request);
	tcase_add_test(tc, test_response_headers);
	tcase_add_test(tc, test_response_headers_full);
	tcase_add_test(tc, test_accept_split_header);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_client_request);
	tcase_add_test(tc, test_client_request_minimal);
	tcase_add_test(tc, test_client_connect_inval);
	tcase_add_test(tc, test_client_keys_differ);
	tcase_add_test(tc, test_client_fixed_random);
	tcase_add_test(tc, test_client_response_ok);
	tcase_add_test(tc, test_client_response_variants);
	tcase_add_test(tc, test_client_frame_same_packet);
	tcase_add_test(tc, test_client_refuse_status);
	tcase_add_test(tc, test_client_refuse_accept);
	tcase_add_test(tc, test_client_refuse_upgrade_connection);
	tcase_add_test(tc, test_client_refuse_subprotocol);
	tcase_add_test(tc, test_client_refuse_extensions);
	tcase_add_test(tc, test_client_refuse_malformed);
	tcase_add_test(tc, test_client_refuse_too_large);
	tcase_add_test(tc, test_client_recv_before_connect);
	tcase_add_test(tc, test_client_split_list_headers);
	tcase_add_test(tc, test_client_refuse_accept_case);
	suite_add_tcase(s, tc);

	tc = tcase_create("pair");
	tcase_add_test(tc, test_pair_open);
	tcase_add_test(tc, test_pair_subprotocol);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(handshake_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
