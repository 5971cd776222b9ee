/*
 * test_deflate.c - permessage-deflate (RFC 7692): negotiation of offers
 * and answers, the RFC's example frames, round trips in both directions
 * with every parameter, fragmentation, limits (a zip bomb), corrupt input,
 * memory, and allocation failures.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ws.h"
#include "testutil.h"

#define FIN	0x80
#define RSV1	0x40
#define RSV2	0x20
#define OP_CONT	0x0
#define OP_TEXT	0x1
#define OP_BIN	0x2
#define OP_PING	0x9

static struct ws_deflate
dconf(void)
{
	struct ws_deflate d;

	ws_deflate_default(&d);
	return d;
}

/* The value of header name in an HTTP head, copied into out; 0 if none. */
static int
head_value(const char *head, size_t len, const char *name, char *out,
    size_t cap)
{
	char *h = strndup(head, len), *p, *e;
	size_t n = strlen(name);
	int found = 0;

	ck_assert_ptr_nonnull(h);
	out[0] = '\0';
	for (p = h; (p = strstr(p, "\r\n")) != NULL; p += 2) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			p += 3 + n;
			while (*p == ' ')
				p++;
			e = strstr(p, "\r\n");
			ck_assert_ptr_nonnull(e);
			ck_assert_uint_lt((size_t)(e - p), cap);
			memcpy(out, p, (size_t)(e - p));
			out[e - p] = '\0';
			found = 1;
			break;
		}
	}
	free(h);
	return found;
}

/*
 * A server with settings s (NULL: no deflate) gets a request carrying
 * the given extension header lines; returns the connection, OPEN, with
 * its answer's Sec-WebSocket-Extensions in ext ("" if none).
 */
static struct ws_conn *
server_answer(const char *lines, const struct ws_deflate *s, char *ext,
    size_t cap)
{
	char req[2048];
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct tu_rec r = { 0 };
	uint8_t *out;
	size_t n;

	ck_assert_ptr_nonnull(c);
	if (s != NULL)
		ck_assert_int_eq(ws_conn_set_deflate(c, s), WS_OK);
	snprintf(req, sizeof(req), "GET /chat HTTP/1.1\r\nHost: localhost\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n%s\r\n", lines);
	tu_feed(c, req, strlen(req), 0, &r, 1);
	ck_assert_int_eq(r.status, 0);
	tu_rec_reset(&r);
	ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
	out = tu_drain(c, &n);
	head_value((const char *)out, n, "Sec-WebSocket-Extensions", ext, cap);
	free(out);
	return c;
}

static void
expect_answer(const char *lines, const struct ws_deflate *s,
    const char *want)
{
	char ext[256];
	struct ws_conn *c = server_answer(lines, s, ext, sizeof(ext));

	ck_assert_msg(strcmp(ext, want) == 0, "offer \"%s\": answer \"%s\", "
	    "want \"%s\"", lines, ext, want);
	ck_assert_int_eq(ws_conn_deflate(c, 0), want[0] != '\0' && s != NULL);
	ws_conn_free(c);
}

START_TEST(test_answer_plain)
{
	struct ws_deflate d = dconf(), p;
	char ext[256];
	struct ws_conn *c;

	c = server_answer("Sec-WebSocket-Extensions: permessage-deflate\r\n",
	    &d, ext, sizeof(ext));
	ck_assert_str_eq(ext, "permessage-deflate");
	ck_assert_int_eq(ws_conn_deflate_params(c, &p), 1);
	ck_assert_int_eq(p.server_max_window_bits, 15);
	ck_assert_int_eq(p.client_max_window_bits, 15);
	ck_assert_int_eq(p.server_no_context_takeover, 0);
	ck_assert_int_eq(p.client_no_context_takeover, 0);
	ws_conn_free(c);
}
END_TEST

START_TEST(test_answer_client_bits)
{
	struct ws_deflate d = dconf(), p;
	char ext[256];
	struct ws_conn *c;

	d.client_max_window_bits = 10;
	/* The client allows a limit: the server sets it. */
	c = server_answer("Sec-WebSocket-Extensions: permessage-deflate; "
	    "client_max_window_bits\r\n", &d, ext, sizeof(ext));
	ck_assert_str_eq(ext, "permessage-deflate; client_max_window_bits=10");
	ck_assert_int_eq(ws_conn_deflate_params(c, &p), 1);
	ck_assert_int_eq(p.client_max_window_bits, 10);
	ws_conn_free(c);
	/* It promised 9 already: nothing to say. */
	expect_answer("Sec-WebSocket-Extensions: permessage-deflate; "
	    "client_max_window_bits=9\r\n", &d, "permessage-deflate");
	/* Without the parameter the server may not send it (7.1.2.2). */
	c = server_answer("Sec-WebSocket-Extensions: permessage-deflate\r\n",
	    &d, ext, sizeof(ext));
	ck_assert_str_eq(ext, "permessage-deflate");
	ck_assert_int_eq(ws_conn_deflate_params(c, &p), 1);
	ck_assert_int_eq(p.client_max_window_bits, 15);
	ws_conn_free(c);
}
END_TEST

START_TEST(test_answer_server_bits)
{
	struct ws_deflate d = dconf();

	expect_answer("Sec-WebSocket-Extensions: permessage-deflate; "
	    "server_max_window_bits=10\r\n", &d,
	    "permessage-deflate; server_max_window_bits=10");
	d.server_max_window_bits = 9;
	expect_answer("Sec-WebSocket-Extensions: permessage-deflate; "
	    "server_max_window_bits=10\r\n", &d,
	    "permessage-deflate; server_max_window_bits=9");
	d.server_max_window_bits = 12;
	expect_answer("Sec-WebSocket-Extensions: permessage-deflate\r\n", &d,
	    "permessage-deflate; server_max_window_bits=12");
	expect_answer("Sec-WebSocket-Extensions: permessage-deflate; "
	    "server_max_window_bits=\"8\"\r\n", &d,
	    "permessage-deflate; server_max_window_bits=8");
}
END_TEST

START_TEST(test_answer_context_takeover)
{
	struct ws_deflate d = dconf(), p;
	char ext[256];
	struct ws_conn *c;

	expect_answer("Sec-WebSocket-Extensions: permessage-deflate; "
	    "server_no_context_takeover\r\n", &d,
	    "permessage-deflate; server_no_context_takeover");
	/* The client's hint binds it once the answer says it back. */
	expect_answer("Sec-WebSocket-Extensions: permessage-deflate; "
	    "client_no_context_takeover\r\n", &d,
	    "permessage-deflate; client_no_context_takeover");
	d.server_no_context_takeover = 1;
	d.client_no_context_takeover = 1;
	c = server_answer("Sec-WebSocket-Extensions: permessage-deflate\r\n",
	    &d, ext, sizeof(ext));
	ck_assert_str_eq(ext, "permessage-deflate; server_no_context_takeover; "
	    "client_no_context_takeover");
	ck_assert_int_eq(ws_conn_deflate_params(c, &p), 1);
	ck_assert_int_eq(p.server_no_context_takeover, 1);
	ck_assert_int_eq(p.client_no_context_takeover, 1);
	ws_conn_free(c);
}
END_TEST

/* Offers a server must decline (RFC 7692 section 5). */
static const char *const bad_offers[] = {
	"permessage-deflate; foo",
	"permessage-deflate; server_no_context_takeover; "
	    "server_no_context_takeover",
	"permessage-deflate; client_max_window_bits; client_max_window_bits=9",
	"permessage-deflate; server_max_window_bits",
	"permessage-deflate; server_max_window_bits=7",
	"permessage-deflate; server_max_window_bits=16",
	"permessage-deflate; server_max_window_bits=08",
	"permessage-deflate; server_max_window_bits=1 0",
	"permessage-deflate; client_max_window_bits=abc",
	"permessage-deflate; client_max_window_bits=\"9",
	"permessage-deflate; server_no_context_takeover=1",
	"permessage-deflate; client_no_context_takeover=\"\"",
	"permessage-deflate;",
	"permessage-deflate; ;",
	"permessage-deflate x",
	"permessage-deflate; =9",
};

START_TEST(test_answer_declined)
{
	struct ws_deflate d = dconf();
	char lines[256];

	snprintf(lines, sizeof(lines), "Sec-WebSocket-Extensions: %s\r\n",
	    bad_offers[_i]);
	expect_answer(lines, &d, "");
	/* A valid offer after it is taken. */
	snprintf(lines, sizeof(lines), "Sec-WebSocket-Extensions: %s, "
	    "permessage-deflate; client_max_window_bits=12\r\n", bad_offers[_i]);
	expect_answer(lines, &d, strchr(bad_offers[_i], ',') != NULL ? "" :
	    "permessage-deflate");
}
END_TEST

START_TEST(test_answer_list)
{
	struct ws_deflate d = dconf();

	d.client_max_window_bits = 11;
	/* The first acceptable offer wins, across header lines. */
	expect_answer("Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"
	    "Sec-WebSocket-Extensions: permessage-deflate; "
	    "client_max_window_bits, permessage-deflate\r\n", &d,
	    "permessage-deflate; client_max_window_bits=11");
	expect_answer("Sec-WebSocket-Extensions: permessage-deflate; "
	    "server_max_window_bits=10; client_max_window_bits,"
	    " permessage-deflate\r\n", &d,
	    "permessage-deflate; server_max_window_bits=10; "
	    "client_max_window_bits=11");
	expect_answer("Sec-WebSocket-Extensions: PerMessage-Deflate ;  "
	    "Server_No_Context_Takeover\r\n", &d,
	    "permessage-deflate; server_no_context_takeover");
	expect_answer("Sec-WebSocket-Extensions: foo, bar; baz=1\r\n", &d, "");
	expect_answer("", &d, "");
	/* A server that does not compress ignores the offer. */
	expect_answer("Sec-WebSocket-Extensions: permessage-deflate\r\n", NULL,
	    "");
}
END_TEST

START_TEST(test_settings_checked)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	struct ws_deflate d = dconf();

	d.server_max_window_bits = 7;
	ck_assert_int_eq(ws_conn_set_deflate(c, &d), WS_E_INVAL);
	d = dconf();
	d.client_max_window_bits = 16;
	ck_assert_int_eq(ws_conn_set_deflate(c, &d), WS_E_INVAL);
	d = dconf();
	d.mem_level = 0;
	ck_assert_int_eq(ws_conn_set_deflate(c, &d), WS_E_INVAL);
	d = dconf();
	d.level = 10;
	ck_assert_int_eq(ws_conn_set_deflate(c, &d), WS_E_INVAL);
	d = dconf();
	ck_assert_int_eq(ws_conn_set_deflate(c, &d), WS_OK);
	ck_assert_int_eq(ws_conn_set_deflate(c, NULL), WS_OK);
	ck_assert_int_eq(ws_conn_deflate(c, 100), 0);
	ws_conn_free(c);
}
END_TEST

/* --------------------------------------------------------------- client */

/* A client with settings d; returns its request's extension offer. */
static struct ws_conn *
client_offer(const struct ws_deflate *d, char *ext, size_t cap,
    char *key, size_t keycap)
{
	struct ws_client_request req = { 0 };
	struct ws_conn *c = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	const uint8_t *out;
	size_t n;

	ck_assert_ptr_nonnull(c);
	if (d != NULL)
		ck_assert_int_eq(ws_conn_set_deflate(c, d), WS_OK);
	req.host = "localhost";
	ck_assert_int_eq(ws_connect(c, &req), WS_OK);
	out = ws_output(c, &n);
	head_value((const char *)out, n, "Sec-WebSocket-Extensions", ext, cap);
	ck_assert_int_eq(head_value((const char *)out, n, "Sec-WebSocket-Key",
	    key, keycap), 1);
	ws_output_consume(c, n);
	ck_assert_int_eq(ws_conn_set_deflate(c, d), WS_E_STATE);
	return c;
}

START_TEST(test_client_offer)
{
	struct ws_deflate d = dconf();
	char ext[256], key[64];
	struct ws_conn *c;

	c = client_offer(&d, ext, sizeof(ext), key, sizeof(key));
	ck_assert_str_eq(ext, "permessage-deflate; client_max_window_bits");
	ws_conn_free(c);
	d.client_max_window_bits = 9;
	d.server_max_window_bits = 10;
	d.server_no_context_takeover = 1;
	d.client_no_context_takeover = 1;
	c = client_offer(&d, ext, sizeof(ext), key, sizeof(key));
	ck_assert_str_eq(ext, "permessage-deflate; client_max_window_bits=9; "
	    "server_max_window_bits=10; server_no_context_takeover; "
	    "client_no_context_takeover");
	ws_conn_free(c);
	c = client_offer(NULL, ext, sizeof(ext), key, sizeof(key));
	ck_assert_str_eq(ext, "");
	ws_conn_free(c);
}
END_TEST

/* Feed a 101 with extension line ext to a client with settings d. */
static struct ws_conn *
client_response(const struct ws_deflate *d, const char *ext, int *status)
{
	char off[256], key[64], accept[29], resp[1024];
	struct ws_conn *c = client_offer(d, off, sizeof(off), key,
	    sizeof(key));
	struct tu_rec r = { 0 };

	ws_accept_key(key, strlen(key), accept);
	snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n%s\r\n", accept, ext);
	tu_feed(c, resp, strlen(resp), 0, &r, 0);
	*status = r.status;
	tu_rec_reset(&r);
	return c;
}

static const struct {
	const char *ext;
	int ok;
	int smwb, cmwb, snct, cnct;	/* ours, as agreed (0: any) */
} responses[] = {
	{ "Sec-WebSocket-Extensions: permessage-deflate\r\n", 1, 15, 15, 0, 0 },
	{ "Sec-WebSocket-Extensions: permessage-deflate; "
	  "server_max_window_bits=10\r\n", 1, 10, 15, 0, 0 },
	{ "Sec-WebSocket-Extensions: permessage-deflate; "
	  "client_max_window_bits=9\r\n", 1, 15, 9, 0, 0 },
	{ "Sec-WebSocket-Extensions: permessage-deflate; "
	  "server_no_context_takeover; client_no_context_takeover\r\n",
	  1, 15, 15, 1, 1 },
	{ "", 1, 0, 0, 0, 0 },
	{ "Sec-WebSocket-Extensions: x-foo\r\n", 0, 0, 0, 0, 0 },
	{ "Sec-WebSocket-Extensions: permessage-deflate; foo\r\n", 0, 0, 0, 0, 0 },
	{ "Sec-WebSocket-Extensions: permessage-deflate; "
	  "client_max_window_bits\r\n", 0, 0, 0, 0, 0 },
	{ "Sec-WebSocket-Extensions: permessage-deflate; "
	  "server_max_window_bits=16\r\n", 0, 0, 0, 0, 0 },
	{ "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n",
	  0, 0, 0, 0, 0 },
	{ "Sec-WebSocket-Extensions: permessage-deflate\r\n"
	  "Sec-WebSocket-Extensions: x-foo\r\n", 0, 0, 0, 0, 0 },
};

START_TEST(test_client_response)
{
	struct ws_deflate d = dconf(), p;
	struct ws_conn *c;
	int st;

	c = client_response(&d, responses[_i].ext, &st);
	if (!responses[_i].ok) {
		ck_assert_msg(st == WS_E_HANDSHAKE, "%s: status %d",
		    responses[_i].ext, st);
		ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
		ws_conn_free(c);
		return;
	}
	ck_assert_msg(st == 0, "%s: %s", responses[_i].ext, ws_error(c));
	ck_assert_int_eq(ws_conn_state(c), WS_OPEN);
	if (responses[_i].smwb == 0) {
		ck_assert_int_eq(ws_conn_deflate_params(c, &p), 0);
		ck_assert_int_eq(ws_conn_deflate(c, 1000), 0);
	} else {
		ck_assert_int_eq(ws_conn_deflate_params(c, &p), 1);
		ck_assert_int_eq(p.server_max_window_bits, responses[_i].smwb);
		ck_assert_int_eq(p.client_max_window_bits, responses[_i].cmwb);
		ck_assert_int_eq(p.server_no_context_takeover,
		    responses[_i].snct);
		ck_assert_int_eq(p.client_no_context_takeover,
		    responses[_i].cnct);
	}
	ws_conn_free(c);
}
END_TEST

START_TEST(test_client_requirements)
{
	struct ws_deflate d = dconf();
	struct ws_conn *c;
	int st;

	/* Asked for, not granted: refused. */
	d.server_no_context_takeover = 1;
	c = client_response(&d, "Sec-WebSocket-Extensions: "
	    "permessage-deflate\r\n", &st);
	ck_assert_int_eq(st, WS_E_HANDSHAKE);
	ws_conn_free(c);
	d = dconf();
	d.server_max_window_bits = 10;
	c = client_response(&d, "Sec-WebSocket-Extensions: "
	    "permessage-deflate\r\n", &st);
	ck_assert_int_eq(st, WS_E_HANDSHAKE);
	ws_conn_free(c);
	c = client_response(&d, "Sec-WebSocket-Extensions: "
	    "permessage-deflate; server_max_window_bits=11\r\n", &st);
	ck_assert_int_eq(st, WS_E_HANDSHAKE);
	ws_conn_free(c);
	c = client_response(&d, "Sec-WebSocket-Extensions: "
	    "permessage-deflate; server_max_window_bits=9\r\n", &st);
	ck_assert_int_eq(st, 0);
	ws_conn_free(c);
	/* Nothing offered: any extension is refused. */
	c = client_response(NULL, "Sec-WebSocket-Extensions: "
	    "permessage-deflate\r\n", &st);
	ck_assert_int_eq(st, WS_E_HANDSHAKE);
	ws_conn_free(c);
}
END_TEST

/* --------------------------------------------------------------- data */

/* A client and a server that negotiated with settings cd and sd. */
static void
pair_open(const struct ws_deflate *cd, const struct ws_deflate *sd,
    const struct ws_limits *l, const struct ws_allocator *a,
    struct ws_conn **client, struct ws_conn **server)
{
	struct ws_client_request req = { 0 };
	struct tu_rec r = { 0 };

	*client = ws_conn_new(WS_ROLE_CLIENT, l, a);
	*server = ws_conn_new(WS_ROLE_SERVER, l, a);
	ck_assert_ptr_nonnull(*client);
	ck_assert_ptr_nonnull(*server);
	ck_assert_int_eq(ws_conn_set_deflate(*client, cd), WS_OK);
	ck_assert_int_eq(ws_conn_set_deflate(*server, sd), WS_OK);
	req.host = "localhost";
	ck_assert_int_eq(ws_connect(*client, &req), WS_OK);
	tu_pump(*client, *server, &r, 0);
	ck_assert_int_eq(r.status, 0);
	tu_rec_reset(&r);
	tu_pump(*server, *client, &r, 0);
	ck_assert_int_eq(r.status, 0);
	tu_rec_reset(&r);
	ck_assert_int_eq(ws_conn_state(*client), WS_OPEN);
	ck_assert_int_eq(ws_conn_state(*server), WS_OPEN);
}

static void
fill_text(uint8_t *p, size_t n, unsigned seed)
{
	static const char *const words[] = { "relay ", "socket ", "frame ",
	    "deflate ", "window ", "\xc3\xa9t\xc3\xa9 ", "\xe2\x82\xac ",
	    "\xf0\x9f\x98\x80 " };
	size_t i = 0, k;

	while (i < n) {
		const char *w = words[(i / 3 + seed) % 8];

		k = strlen(w);
		if (k > n - i) {
			memset(p + i, 'x', n - i);
			break;
		}
		memcpy(p + i, w, k);
		i += k;
	}
}

static void
fill_binary(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)((i % 251) * seed + (i >> 7));
}

/* Send one message from a to b; check it arrives whole; returns the
   wire length of its frames and whether the first had RSV1. */
static size_t
roundtrip(struct ws_conn *a, struct ws_conn *b, int text, const uint8_t *m,
    size_t len, size_t chunk, int *rsv1)
{
	struct tu_frame f[4];
	struct tu_rec r = { 0 };
	uint8_t *out;
	size_t n, nf;

	ck_assert_int_eq(ws_send(a, text ? WS_OP_TEXT : WS_OP_BINARY, m, len),
	    WS_OK);
	out = tu_drain(a, &n);
	nf = tu_parse_frames(out, n, f, 4);
	ck_assert_uint_eq(nf, 1);
	*rsv1 = (f[0].rsv & 4) != 0;
	ck_assert_int_eq(f[0].rsv & 3, 0);
	tu_free_frames(f, nf);
	tu_feed(b, out, n, chunk, &r, 0);
	free(out);
	ck_assert_msg(r.status == 0, "len %zu chunk %zu: status %d: %s", len,
	    chunk, r.status, ws_error(b));
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, text ? WS_EV_TEXT : WS_EV_BINARY);
	ck_assert_msg(r.ev[0].len == len, "len %zu chunk %zu: got %zu", len,
	    chunk, r.ev[0].len);
	ck_assert(len == 0 || memcmp(r.ev[0].data, m, len) == 0);
	tu_rec_reset(&r);
	return n;
}

static struct ws_deflate
variant(int i)
{
	struct ws_deflate d = dconf();

	switch (i) {
	case 1:
		d.server_no_context_takeover = 1;
		d.client_no_context_takeover = 1;
		break;
	case 2:
		d.server_max_window_bits = 8;
		d.client_max_window_bits = 8;
		break;
	case 3:
		d.server_max_window_bits = 9;
		d.client_max_window_bits = 10;
		d.mem_level = 1;
		break;
	case 4:
		d.level = 0;
		break;
	case 5:
		d.level = 9;
		d.mem_level = 9;
		break;
	default:
		break;
	}
	return d;
}

#define NVARIANTS 6

static const size_t sizes[] = { 0, 1, 125, 126, 1000, 65536, 300000 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

START_TEST(test_roundtrip)
{
	struct ws_deflate d = variant(_i), p;
	struct ws_conn *c, *s;
	size_t i, k, max = 300000;
	uint8_t *m = malloc(max);
	int rsv1, text;

	ck_assert_ptr_nonnull(m);
	pair_open(&d, &d, NULL, NULL, &c, &s);
	ck_assert_int_eq(ws_conn_deflate_params(s, &p), 1);
	ck_assert_int_eq(p.server_no_context_takeover,
	    d.server_no_context_takeover);
	ck_assert_int_eq(p.client_max_window_bits, d.client_max_window_bits);
	/* Several messages each way share (or reset) the contexts. */
	for (k = 0; k < 2; k++)
		for (i = 0; i < NSIZES; i++) {
			text = (int)((i + k) & 1);
			if (text)
				fill_text(m, sizes[i], (unsigned)(i + k));
			else
				fill_binary(m, sizes[i], (unsigned)(i + 3 * k));
			roundtrip(c, s, text, m, sizes[i], sizes[i] < 2000 ?
			    1 : 4096, &rsv1);
			ck_assert_int_eq(rsv1, 1);
			roundtrip(s, c, text, m, sizes[i], sizes[i] < 2000 ?
			    1 : 0, &rsv1);
			ck_assert_int_eq(rsv1, 1);
		}
	free(m);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_compresses_and_takeover)
{
	struct ws_deflate d = dconf(), r = dconf();
	struct ws_conn *c, *s;
	uint8_t m[10000];
	size_t first, second, i;
	uint32_t x = 1;
	int rsv1;

	/* Words in a random order: it compresses, but not to nothing. */
	for (i = 0; i + 8 <= sizeof(m); i += 8) {
		x = x * 1103515245 + 12345;
		fill_text(m + i, 8, x >> 16);
	}
	memset(m + i, 'z', sizeof(m) - i);
	pair_open(&d, &d, NULL, NULL, &c, &s);
	first = roundtrip(s, c, 1, m, sizeof(m), 0, &rsv1);
	second = roundtrip(s, c, 1, m, sizeof(m), 0, &rsv1);
	ck_assert_uint_lt(first, sizeof(m) / 2);
	/* The second refers back to the first. */
	ck_assert_uint_lt(second, first * 9 / 10);
	first = roundtrip(c, s, 1, m, sizeof(m), 0, &rsv1);
	second = roundtrip(c, s, 1, m, sizeof(m), 0, &rsv1);
	ck_assert_uint_lt(second, first * 9 / 10);
	ws_conn_free(c);
	ws_conn_free(s);

	r.server_no_context_takeover = 1;
	r.client_no_context_takeover = 1;
	pair_open(&d, &r, NULL, NULL, &c, &s);
	first = roundtrip(s, c, 1, m, sizeof(m), 0, &rsv1);
	second = roundtrip(s, c, 1, m, sizeof(m), 0, &rsv1);
	ck_assert_uint_eq(second, first);
	first = roundtrip(c, s, 1, m, sizeof(m), 0, &rsv1);
	second = roundtrip(c, s, 1, m, sizeof(m), 0, &rsv1);
	ck_assert_uint_eq(second, first);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_min_size)
{
	struct ws_deflate d = dconf();
	struct ws_conn *c, *s;
	uint8_t m[300];
	int rsv1;

	d.min_size = 100;
	fill_text(m, sizeof(m), 2);
	pair_open(&d, &d, NULL, NULL, &c, &s);
	ck_assert_int_eq(ws_conn_deflate(s, 99), 0);
	ck_assert_int_eq(ws_conn_deflate(s, 100), 1);
	roundtrip(s, c, 1, m, 99, 0, &rsv1);
	ck_assert_int_eq(rsv1, 0);
	roundtrip(s, c, 1, m, 100, 0, &rsv1);
	ck_assert_int_eq(rsv1, 1);
	roundtrip(c, s, 0, m, 50, 0, &rsv1);
	ck_assert_int_eq(rsv1, 0);
	roundtrip(c, s, 0, m, 300, 0, &rsv1);
	ck_assert_int_eq(rsv1, 1);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

/* RFC 7692 section 7.2.3: the example frames, received by a client. */
static const struct {
	const char *what;
	uint8_t bytes[32];
	size_t len;
	const char *text;
} examples[] = {
	{ "7.2.3.1 one frame", { 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9,
	  0x07, 0x00 }, 9, "Hello" },
	{ "7.2.3.1 fragmented", { 0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04,
	  0xc9, 0xc9, 0x07, 0x00 }, 11, "Hello" },
	{ "7.2.3.3 no compression", { 0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa,
	  0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00 }, 13, "Hello" },
	{ "7.2.3.4 BFINAL", { 0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07,
	  0x00, 0x00 }, 10, "Hello" },
	{ "7.2.3.5 two blocks", { 0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00,
	  0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00 }, 15, "Hello" },
	{ "7.2.3.6 empty", { 0xc1, 0x01, 0x00 }, 3, "" },
};
#define NEXAMPLES (sizeof(examples) / sizeof(examples[0]))

static struct ws_conn *
client_with(const char *ext)
{
	struct ws_deflate d = dconf();
	struct ws_conn *c;
	int st;

	c = client_response(&d, ext, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_int_eq(ws_conn_deflate(c, 0), 1);
	return c;
}

START_TEST(test_rfc_examples)
{
	struct tu_rec r = { 0 };
	struct ws_conn *c;
	size_t chunk;

	for (chunk = 0; chunk <= examples[_i].len; chunk++) {
		c = client_with("Sec-WebSocket-Extensions: "
		    "permessage-deflate\r\n");
		tu_feed(c, examples[_i].bytes, examples[_i].len, chunk, &r, 0);
		ck_assert_msg(r.status == 0, "%s: %s", examples[_i].what,
		    ws_error(c));
		ck_assert_uint_eq(r.n, 1);
		ck_assert_int_eq(r.ev[0].type, WS_EV_TEXT);
		ck_assert_uint_eq(r.ev[0].len, strlen(examples[_i].text));
		ck_assert(memcmp(r.ev[0].data, examples[_i].text,
		    r.ev[0].len) == 0);
		tu_rec_reset(&r);
		ws_conn_free(c);
	}
}
END_TEST

START_TEST(test_rfc_shared_window)
{
	/* 7.2.3.2: the second "Hello" refers to the first. */
	static const uint8_t two[] = { 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9,
	    0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00 };
	struct tu_rec r = { 0 };
	struct ws_conn *c = client_with("Sec-WebSocket-Extensions: "
	    "permessage-deflate\r\n");
	struct ws_conn *s;
	struct ws_deflate d = dconf();
	struct tu_frame f[2];
	uint8_t *out;
	size_t n;

	tu_feed(c, two, sizeof(two), 1, &r, 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.ev[1].len, 5);
	ck_assert(memcmp(r.ev[1].data, "Hello", 5) == 0);
	tu_rec_reset(&r);
	ws_conn_free(c);

	/* And our compressor writes exactly these frames. */
	pair_open(&d, &d, NULL, NULL, &c, &s);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "Hello", 5), WS_OK);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "Hello", 5), WS_OK);
	out = tu_drain(s, &n);
	ck_assert_uint_eq(n, sizeof(two));
	ck_assert(memcmp(out, two, n) == 0);
	ck_assert_uint_eq(tu_parse_frames(out, n, f, 2), 2);
	tu_free_frames(f, 2);
	free(out);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

/* A BFINAL message, then one that refers back to it. */
START_TEST(test_bfinal_keeps_window)
{
	uint8_t raw[64], frame[80], in[] = "Hello, Hello";
	struct tu_rec r = { 0 };
	struct ws_conn *c = client_with("Sec-WebSocket-Extensions: "
	    "permessage-deflate\r\n");
	z_stream z;
	size_t n, fl;

	/* First message: a whole stream, ended with Z_FINISH. */
	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = in;
	z.avail_in = 5;
	z.next_out = raw;
	z.avail_out = sizeof(raw);
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	n = sizeof(raw) - z.avail_out;
	fl = tu_server_frame(frame, FIN | RSV1 | OP_TEXT, raw, n);
	/* Second: a new stream with the first as its dictionary. */
	ck_assert_int_eq(deflateReset(&z), Z_OK);
	ck_assert_int_eq(deflateSetDictionary(&z, in, 5), Z_OK);
	z.next_in = in;
	z.avail_in = 12;
	z.next_out = raw;
	z.avail_out = sizeof(raw);
	ck_assert_int_eq(deflate(&z, Z_SYNC_FLUSH), Z_OK);
	n = sizeof(raw) - z.avail_out - 4;
	deflateEnd(&z);
	fl += tu_server_frame(frame + fl, FIN | RSV1 | OP_TEXT, raw, n);
	tu_feed(c, frame, fl, 0, &r, 0);
	ck_assert_msg(r.status == 0, "%s", ws_error(c));
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.ev[0].len, 5);
	ck_assert_uint_eq(r.ev[1].len, 12);
	ck_assert(memcmp(r.ev[1].data, in, 12) == 0);
	tu_rec_reset(&r);
	ws_conn_free(c);
}
END_TEST

START_TEST(test_fragmented_send)
{
	struct ws_deflate d = dconf();
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	struct tu_frame f[8];
	uint8_t hdr[WS_FRAME_HEADER_MAX], *out;
	size_t n, nf;

	pair_open(&d, &d, NULL, NULL, &c, &s);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_TEXT, 0, "Hel", 3), WS_OK);
	ck_assert_int_eq(ws_send(s, WS_OP_PING, "p", 1), WS_OK);
	/* The zero-copy path cannot continue a compressed message. */
	ck_assert_int_eq(ws_send_header(s, WS_OP_CONT, 1, "x", 1, 0, hdr),
	    WS_E_STATE);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_CONT, 0, "lo w", 4), WS_OK);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_CONT, 1, "orld", 4), WS_OK);
	out = tu_drain(s, &n);
	nf = tu_parse_frames(out, n, f, 8);
	ck_assert_uint_eq(nf, 4);
	ck_assert_int_eq(f[0].rsv, 4);
	ck_assert_int_eq(f[0].op, OP_TEXT);
	ck_assert_int_eq(f[1].rsv, 0);	/* control frames never */
	ck_assert_int_eq(f[1].op, OP_PING);
	ck_assert_int_eq(f[2].rsv, 0);
	ck_assert_int_eq(f[3].rsv, 0);
	tu_free_frames(f, nf);
	tu_feed(c, out, n, 1, &r, 0);
	free(out);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_int_eq(r.ev[0].type, WS_EV_PING);
	ck_assert_int_eq(r.ev[1].type, WS_EV_TEXT);
	ck_assert_uint_eq(r.ev[1].len, 11);
	ck_assert(memcmp(r.ev[1].data, "Hello world", 11) == 0);
	tu_rec_reset(&r);
	/* Then an uncompressed zero-copy message, and a close. */
	ck_assert_int_eq(ws_send_header(s, WS_OP_BINARY, 1, "ab", 2, 0, hdr),
	    2);
	ck_assert_int_eq(hdr[0], FIN | OP_BIN);
	ck_assert_int_eq(ws_close(s, 1000, NULL, 0), WS_OK);
	out = tu_drain(s, &n);
	nf = tu_parse_frames(out, n, f, 8);
	ck_assert_uint_eq(nf, 1);
	ck_assert_int_eq(f[0].rsv, 0);
	tu_free_frames(f, nf);
	free(out);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

/* A server that agreed to deflate gets the client frame f (masked). */
static int
server_gets(const uint8_t *payload, size_t len, uint8_t first,
    const struct ws_limits *l, uint16_t *code)
{
	struct ws_deflate d = dconf();
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	uint8_t *frame = malloc(len + 16);
	size_t n;
	int st;

	ck_assert_ptr_nonnull(frame);
	pair_open(&d, &d, l, NULL, &c, &s);
	n = tu_client_frame(frame, first, payload, len);
	tu_feed(s, frame, n, 0, &r, 0);
	st = r.status;
	tu_rec_reset(&r);
	free(frame);
	*code = ws_close_code_sent(s);
	ws_conn_free(c);
	ws_conn_free(s);
	return st;
}

START_TEST(test_rsv_errors)
{
	static const uint8_t hello[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07,
	    0x00 };
	struct ws_conn *s;
	struct tu_rec r = { 0 };
	uint8_t frame[64];
	char ext[64];
	uint16_t code;
	size_t n;

	ck_assert_int_eq(server_gets(hello, sizeof(hello), FIN | RSV1 | OP_TEXT,
	    NULL, &code), 0);
	ck_assert_int_eq(server_gets(hello, 3, FIN | RSV1 | OP_PING, NULL,
	    &code), WS_E_PROTOCOL);
	ck_assert_int_eq(code, 1002);
	ck_assert_int_eq(server_gets(hello, sizeof(hello), FIN | RSV2 | OP_TEXT,
	    NULL, &code), WS_E_PROTOCOL);
	ck_assert_int_eq(code, 1002);
	/* RSV1 on a continuation frame. */
	n = tu_client_frame(frame, RSV1 | OP_TEXT, hello, 3);
	n += tu_client_frame(frame + n, FIN | RSV1 | OP_CONT, hello + 3, 4);
	s = server_answer("Sec-WebSocket-Extensions: permessage-deflate\r\n",
	    (const struct ws_deflate[]){ dconf() }, ext, sizeof(ext));
	tu_feed(s, frame, n, 0, &r, 0);
	ck_assert_int_eq(r.status, WS_E_PROTOCOL);
	ck_assert_int_eq(ws_close_code_sent(s), 1002);
	ws_conn_free(s);
	/* Not negotiated: RSV1 is a reserved bit. */
	tu_rec_reset(&r);
	s = server_answer("", (const struct ws_deflate[]){ dconf() }, ext,
	    sizeof(ext));
	n = tu_client_frame(frame, FIN | RSV1 | OP_TEXT, hello, sizeof(hello));
	tu_feed(s, frame, n, 0, &r, 0);
	ck_assert_int_eq(r.status, WS_E_PROTOCOL);
	ck_assert_int_eq(ws_close_code_sent(s), 1002);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_corrupt)
{
	/* BTYPE 11 is reserved. */
	static const uint8_t bad[] = { 0xff, 0xff, 0xff };
	/* A stored block whose LEN and NLEN disagree. */
	static const uint8_t badlen[] = { 0x00, 0x05, 0x00, 0x00, 0x00, 'H' };
	/* "\xff" compressed: not UTF-8. */
	uint8_t raw[64];
	uint16_t code;
	z_stream z;
	size_t n;

	ck_assert_int_eq(server_gets(bad, sizeof(bad), FIN | RSV1 | OP_BIN,
	    NULL, &code), WS_E_INFLATE);
	ck_assert_int_eq(code, 1007);
	ck_assert_int_eq(server_gets(badlen, sizeof(badlen),
	    FIN | RSV1 | OP_BIN, NULL, &code), WS_E_INFLATE);
	ck_assert_int_eq(code, 1007);
	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)"ok \xff ok \xe2\x82";
	z.avail_in = 9;
	z.next_out = raw;
	z.avail_out = sizeof(raw);
	ck_assert_int_eq(deflate(&z, Z_SYNC_FLUSH), Z_OK);
	n = sizeof(raw) - z.avail_out - 4;
	deflateEnd(&z);
	ck_assert_int_eq(server_gets(raw, n, FIN | RSV1 | OP_TEXT, NULL,
	    &code), WS_E_UTF8);
	ck_assert_int_eq(code, 1007);
	ck_assert_int_eq(server_gets(raw, n, FIN | RSV1 | OP_BIN, NULL,
	    &code), 0);
}
END_TEST

/* ------------------------------------------------ memory and limits */

/* An allocator that counts live bytes and their peak. */
struct counter {
	size_t live;
	size_t peak;
	struct ws_allocator a;
};

static void *
cnt_malloc(size_t n, void *ud)
{
	struct counter *k = ud;
	size_t *p = malloc(n + sizeof(size_t));

	if (p == NULL)
		return NULL;
	*p = n;
	k->live += n;
	if (k->live > k->peak)
		k->peak = k->live;
	return p + 1;
}

static void *
cnt_realloc(void *old, size_t n, void *ud)
{
	struct counter *k = ud;
	size_t *p = old != NULL ? (size_t *)old - 1 : NULL, was;

	was = p != NULL ? *p : 0;
	if ((p = realloc(p, n + sizeof(size_t))) == NULL)
		return NULL;
	*p = n;
	k->live = k->live - was + n;
	if (k->live > k->peak)
		k->peak = k->live;
	return p + 1;
}

static void
cnt_free(void *old, void *ud)
{
	struct counter *k = ud;
	size_t *p = (size_t *)old - 1;

	k->live -= *p;
	free(p);
}

static void
counter_init(struct counter *k)
{
	memset(k, 0, sizeof(*k));
	k->a.malloc = cnt_malloc;
	k->a.realloc = cnt_realloc;
	k->a.free = cnt_free;
	k->a.ud = k;
}

START_TEST(test_zip_bomb)
{
	struct ws_limits l;
	struct ws_deflate d = dconf();
	struct counter k;
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	size_t zeros = 64u << 20, cap = 128 * 1024, n, fl;
	uint8_t *in = calloc(1, 1 << 20), *raw = malloc(cap), *frame;
	z_stream z;
	int i;

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(raw);
	/* 64 MiB of zeros compress to about 64 KiB. */
	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, -15, 9,
	    Z_DEFAULT_STRATEGY), Z_OK);
	z.next_out = raw;
	z.avail_out = (uInt)cap;
	for (i = 0; i < (int)(zeros >> 20); i++) {
		z.next_in = in;
		z.avail_in = 1 << 20;
		ck_assert_int_eq(deflate(&z, Z_NO_FLUSH), Z_OK);
	}
	ck_assert_int_eq(deflate(&z, Z_SYNC_FLUSH), Z_OK);
	n = cap - z.avail_out - 4;
	deflateEnd(&z);
	ck_assert_uint_lt(n, 100000);
	frame = malloc(n + 16);
	ck_assert_ptr_nonnull(frame);

	ws_limits_default(&l);	/* 1 MiB messages */
	counter_init(&k);
	pair_open(&d, &d, &l, &k.a, &c, &s);
	fl = tu_client_frame(frame, FIN | RSV1 | OP_BIN, raw, n);
	tu_feed(s, frame, fl, 4096, &r, 0);
	ck_assert_int_eq(r.status, WS_E_TOO_BIG);
	ck_assert_int_eq(ws_close_code_sent(s), 1009);
	/* Refused before the memory was spent: the message buffer stopped
	   at the limit (plus the two connections and their zlib state,
	   about 300 KiB each way). */
	ck_assert_uint_le(k.peak, (1u << 20) + 640 * 1024);
	ws_conn_free(c);
	ws_conn_free(s);
	ck_assert_uint_eq(k.live, 0);
	free(frame);
	free(raw);
	free(in);
}
END_TEST

START_TEST(test_limit_exact)
{
	struct ws_limits l;
	struct ws_deflate d = dconf();
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	uint8_t m[5001], *out;
	size_t n;

	ws_limits_default(&l);
	l.max_message_size = 5000;
	fill_text(m, sizeof(m), 4);
	pair_open(&d, &d, &l, NULL, &c, &s);
	ck_assert_int_eq(ws_send(c, WS_OP_BINARY, m, 5000), WS_OK);
	ck_assert_int_eq(ws_send(c, WS_OP_BINARY, m, 5001), WS_OK);
	out = tu_drain(c, &n);
	/* Both are far below the limit on the wire. */
	ck_assert_uint_lt(n, 2000);
	tu_feed(s, out, n, 0, &r, 0);
	free(out);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.ev[0].len, 5000);
	ck_assert_int_eq(r.status, WS_E_TOO_BIG);
	ck_assert_int_eq(ws_close_code_sent(s), 1009);
	tu_rec_reset(&r);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_memory_shrink)
{
	struct ws_deflate d = dconf(), nct = dconf();
	struct counter k;
	struct ws_conn *c, *s;
	uint8_t m[4000];
	size_t idle, small;
	int rsv1;

	fill_text(m, sizeof(m), 5);
	/* Small windows and memLevel 1 cost less than the defaults. */
	counter_init(&k);
	d.server_max_window_bits = 9;
	d.client_max_window_bits = 9;
	d.mem_level = 1;
	pair_open(&d, &d, NULL, &k.a, &c, &s);
	roundtrip(c, s, 1, m, sizeof(m), 0, &rsv1);
	roundtrip(s, c, 1, m, sizeof(m), 0, &rsv1);
	ws_conn_shrink(s);
	ws_conn_shrink(c);
	small = k.live;
	ws_conn_free(c);
	ws_conn_free(s);
	ck_assert_uint_eq(k.live, 0);

	/* Context takeover keeps the windows. */
	counter_init(&k);
	d = dconf();
	pair_open(&d, &d, NULL, &k.a, &c, &s);
	idle = k.live;
	roundtrip(c, s, 1, m, sizeof(m), 0, &rsv1);
	roundtrip(s, c, 1, m, sizeof(m), 0, &rsv1);
	ws_conn_shrink(s);
	ws_conn_shrink(c);
	/* Two compressors of 256 KiB and two inflaters of 32 KiB. */
	ck_assert_uint_gt(k.live, idle + 2 * (256 + 32) * 1024);
	ck_assert_uint_lt(small * 8, k.live - idle);
	ws_conn_free(c);
	ws_conn_free(s);
	ck_assert_uint_eq(k.live, 0);

	/* Without it, they go when the connection is idle. */
	nct.server_no_context_takeover = 1;
	nct.client_no_context_takeover = 1;
	counter_init(&k);
	pair_open(&nct, &nct, NULL, &k.a, &c, &s);
	idle = k.live;
	roundtrip(c, s, 1, m, sizeof(m), 0, &rsv1);
	roundtrip(s, c, 1, m, sizeof(m), 0, &rsv1);
	ck_assert_uint_gt(k.live, idle + 2 * (256 + 32) * 1024);
	ws_conn_shrink(s);
	ws_conn_shrink(c);
	ck_assert_uint_le(k.live, idle);
	/* And come back when needed. */
	roundtrip(c, s, 1, m, sizeof(m), 0, &rsv1);
	roundtrip(s, c, 1, m, sizeof(m), 0, &rsv1);
	ws_conn_free(c);
	ws_conn_free(s);
	ck_assert_uint_eq(k.live, 0);
}
END_TEST

/*
 * Move from's output to to, accepting a request; returns the first
 * failure status or 0, and the last message in *last.
 */
static int
move(struct ws_conn *from, struct ws_conn *to, struct ws_event *last)
{
	struct ws_response resp;
	struct ws_event ev;
	uint8_t *out, *p;
	size_t n;
	ssize_t k;
	int st = 0;

	out = tu_drain(from, &n);
	for (p = out; n > 0; p += k, n -= (size_t)k) {
		if ((k = ws_recv(to, p, n, &ev)) < 0) {
			st = (int)k;
			break;
		}
		if (ev.type == WS_EV_REQUEST) {
			ws_response_init(&resp);
			if ((st = ws_accept(to, &resp)) != WS_OK)
				break;
		}
		if (ev.type == WS_EV_TEXT) {
			last->len = ev.len;
			last->data = malloc(ev.len);
			ck_assert_ptr_nonnull(last->data);
			memcpy((uint8_t *)(uintptr_t)last->data, ev.data, ev.len);
		}
	}
	free(out);
	return st;
}

/* Each allocation of a whole compressed session fails in turn. */
static long
deflate_session(long fail_at)
{
	struct ws_deflate d = dconf();
	struct ws_client_request req = { 0 };
	struct ws_event last = { 0 };
	struct tu_failalloc fa;
	struct ws_conn *c, *s;
	uint8_t m[3000];
	int st, dir;

	fill_text(m, sizeof(m), 6);
	d.server_no_context_takeover = (fail_at & 1) != 0;
	tu_failalloc_init(&fa, fail_at);
	c = ws_conn_new(WS_ROLE_CLIENT, NULL, &fa.a);
	s = ws_conn_new(WS_ROLE_SERVER, NULL, &fa.a);
	req.host = "localhost";
	if (c == NULL || s == NULL || ws_conn_set_deflate(c, &d) != WS_OK ||
	    ws_conn_set_deflate(s, &d) != WS_OK ||
	    ws_connect(c, &req) != WS_OK || move(c, s, &last) != 0 ||
	    move(s, c, &last) != 0)
		goto done;
	ck_assert_int_eq(ws_conn_deflate(c, 1), 1);
	ck_assert_int_eq(ws_conn_deflate(s, 1), 1);
	for (dir = 0; dir < 2; dir++) {
		struct ws_conn *a = dir ? s : c, *b = dir ? c : s;

		if (ws_send(a, WS_OP_TEXT, m, sizeof(m)) != WS_OK)
			goto done;
		st = move(a, b, &last);
		if (st != 0) {
			ck_assert_int_eq(st, WS_E_NOMEM);
			ck_assert_int_eq(ws_close_code_sent(b), 1011);
			goto done;
		}
		ck_assert_uint_eq(last.len, sizeof(m));
		ck_assert(memcmp(last.data, m, sizeof(m)) == 0);
		free((void *)(uintptr_t)last.data);
		last.data = NULL;
	}
done:
	free((void *)(uintptr_t)last.data);
	ws_conn_free(c);
	ws_conn_free(s);
	ck_assert_int_eq(fa.live, 0);
	return fa.calls;
}

START_TEST(test_alloc_failures)
{
	long i, n = deflate_session(0);

	ck_assert_int_gt(n, 10);
	for (i = 1; i <= n; i++)
		deflate_session(i);
}
END_TEST

static Suite *
deflate_suite(void)
{
	Suite *s = suite_create("deflate");
	TCase *t;

	t = tcase_create("negotiation");
	tcase_add_test(t, test_answer_plain);
	tcase_add_test(t, test_answer_client_bits);
	tcase_add_test(t, test_answer_server_bits);
	tcase_add_test(t, test_answer_context_takeover);
	tcase_add_loop_test(t, test_answer_declined, 0,
	    sizeof(bad_offers) / sizeof(bad_offers[0]));
	tcase_add_test(t, test_answer_list);
	tcase_add_test(t, test_settings_checked);
	tcase_add_test(t, test_client_offer);
	tcase_add_loop_test(t, test_client_response, 0,
	    sizeof(responses) / sizeof(responses[0]));
	tcase_add_test(t, test_client_requirements);
	suite_add_tcase(s, t);

	t = tcase_create("data");
	tcase_set_timeout(t, 120);
	tcase_add_loop_test(t, test_roundtrip, 0, NVARIANTS);
	tcase_add_test(t, test_compresses_and_takeover);
	tcase_add_test(t, test_min_size);
	tcase_add_loop_test(t, test_rfc_examples, 0, NEXAMPLES);
	tcase_add_test(t, test_rfc_shared_window);
	tcase_add_test(t, test_bfinal_keeps_window);
	tcase_add_test(t, test_fragmented_send);
	tcase_add_test(t, test_rsv_errors);
	tcase_add_test(t, test_corrupt);
	suite_add_tcase(s, t);

	t = tcase_create("limits");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_zip_bomb);
	tcase_add_test(t, test_limit_exact);
	tcase_add_test(t, test_memory_shrink);
	tcase_add_test(t, test_alloc_failures);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(deflate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
