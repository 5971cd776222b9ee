/*
 * test_conn.c - message-level behaviour of struct ws_conn (RFC 6455):
 * reassembly in every chunking, fragmentation, size limits, control
 * frames, the closing handshake in both directions, sending, whole
 * in-memory sessions and the zero-copy header path.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "frame.h"
#include "testutil.h"

#define FIN	0x80
#define OP_TEXT	0x1
#define OP_BIN	0x2
#define OP_CLOSE 0x8
#define OP_PING	0x9
#define OP_PONG	0xa

#define HUGE_LEN (1024 * 1024 - 16)


static const size_t big_chunks[] = { 0, 1, 7, 4096, 65537 };
#define NBIG_CHUNKS (sizeof(big_chunks) / sizeof(big_chunks[0]))

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + seed + (i >> 9));
}

static void
fill_text(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(' ' + (i * 7 + seed) % 95);
}

static size_t
out_len(struct ws_conn *c)
{
	size_t n = 12345;
	const uint8_t *p = ws_output(c, &n);

	if (p == NULL)
		ck_assert_uint_eq(n, 0);
	return n;
}

/* Drain c's output and parse it; frames must be masked iff c is a client. */
static size_t
take_frames(struct ws_conn *c, struct tu_frame *f, size_t max)
{
	uint8_t *out;
	size_t n, nf, i;

	out = tu_drain(c, &n);
	nf = tu_parse_frames(out, n, f, max);
	free(out);
	for (i = 0; i < nf; i++) {
		ck_assert_int_eq(f[i].masked,
		    ws_conn_role(c) == WS_ROLE_CLIENT);
		ck_assert_int_eq(f[i].rsv, 0);
	}
	return nf;
}

/* A well-formed close frame; returns its code (1005 when empty). */
static unsigned
close_frame_code(const struct tu_frame *f)
{
	unsigned code;

	ck_assert_int_eq(f->op, OP_CLOSE);
	ck_assert_int_eq(f->fin, 1);
	ck_assert_uint_le(f->len, 125);
	if (f->len == 0)
		return 1005;
	ck_assert_uint_ge(f->len, 2);
	code = (unsigned)f->data[0] << 8 | f->data[1];
	ck_assert_msg(ws_close_code_valid(code), "close code %u", code);
	return code;
}

static uint8_t *
xmalloc(size_t n)
{
	uint8_t *p = malloc(n > 0 ? n : 1);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* Raw ws_recv() on a guarded copy of data. */
static ssize_t
recv_once(struct ws_conn *c, const void *data, size_t len,
    struct ws_event *ev)
{
	uint8_t *buf = tu_guard_copy(data, len);
	ssize_t k;

	memset(ev, 0, sizeof(*ev));
	k = ws_recv(c, buf, len, ev);
	tu_guard_free(buf, len);
	return k;
}

static const uint8_t *
expect_event(const struct tu_rec *r, size_t i, enum ws_event_type type,
    const void *data, size_t len)
{
	ck_assert_uint_gt(r->n, i);
	ck_assert_msg(r->ev[i].type == type, "event %zu: type %d, want %d",
	    i, (int)r->ev[i].type, (int)type);
	ck_assert_msg(r->ev[i].len == len, "event %zu: len %zu, want %zu", i,
	    r->ev[i].len, len);
	ck_assert_msg(len == 0 || memcmp(r->ev[i].data, data, len) == 0,
	    "event %zu: payload differs", i);
	return r->ev[i].data;
}

/*
 * Feed one client frame stream to a fresh server in the given chunking and
 * expect exactly one data message with the given payload.
 */
static void
check_single(const uint8_t *in, size_t inlen, size_t chunk,
    enum ws_event_type type, const uint8_t *payload, size_t plen)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	size_t left;

	left = tu_feed(s, in, inlen, chunk, &r, 0);
	ck_assert_msg(r.status == 0, "chunk %zu: status %d (%s)", chunk,
	    r.status, ws_strstatus(r.status));
	ck_assert_msg(left == 0, "chunk %zu: %zu bytes left", chunk, left);
	ck_assert_uint_eq(r.consumed, inlen);
	ck_assert_msg(r.n == 1, "chunk %zu: %zu events", chunk, r.n);
	ck_assert_msg(r.ev[0].type == type, "chunk %zu: event %d", chunk,
	    (int)r.ev[0].type);
	ck_assert_msg(r.ev[0].len == plen, "chunk %zu: len %zu, want %zu",
	    chunk, r.ev[0].len, plen);
	ck_assert_msg(plen == 0 || memcmp(r.ev[0].data, payload, plen) == 0,
	    "chunk %zu: payload differs", chunk);
	ck_assert_uint_eq(out_len(s), 0);
	ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
	ck_assert_int_eq(ws_close_expected(s), 0);
	tu_rec_reset(&r);
	ws_conn_free(s);
}

/*
 * Feed in to a fresh server (limits l) and expect it to fail with status
 * and a close frame carrying code, after delivering nevents events.
 */
static void
check_fail(const struct ws_limits *l, const uint8_t *in, size_t inlen,
    size_t chunk, int status, uint16_t code, size_t nevents)
{
	struct ws_conn *s = tu_server_open(l, NULL);
	struct tu_rec r = { 0 };
	struct tu_frame f[8];
	struct ws_event ev;
	size_t nf;

	tu_feed(s, in, inlen, chunk, &r, 0);
	ck_assert_msg(r.status == status, "chunk %zu: status %d (%s), want %d",
	    chunk, r.status, ws_strstatus(r.status), status);
	ck_assert_int_eq(ws_status_class(r.status), WS_CLASS_PROTOCOL);
	ck_assert_uint_eq(r.n, nevents);
	ck_assert_uint_eq(ws_close_code_sent(s), code);
	nf = take_frames(s, f, 8);
	ck_assert_uint_ge(nf, 1);
	ck_assert_uint_eq(close_frame_code(&f[nf - 1]), code);
	tu_free_frames(f, nf);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
	ck_assert_int_eq(ws_close_expected(s), 1);
	/* A failed connection reads nothing more. */
	ck_assert_int_eq(recv_once(s, in, inlen, &ev), WS_E_CLOSED);
	tu_rec_reset(&r);
	ws_conn_free(s);
}

/* ------------------------------------------------- single messages */

struct msgcase {
	uint8_t op;
	size_t len;
	int text;		/* printable ASCII (else binary pattern) */
	const char *literal;	/* or this literal payload */
};

static const struct msgcase small_cases[] = {
	{ OP_TEXT, 0, 1, "Hello" },
	{ OP_TEXT, 0, 1,
	    "h\xc3\xa9llo \xe2\x98\x83 w\xc3\xb6rld \xf0\x9d\x84\x9e!" },
	{ OP_BIN, 0, 0, "\x00\x01\xff\xfe\x80\x7f" },
	{ OP_TEXT, 0, 1, "" },
	{ OP_BIN, 0, 0, "" },
	{ OP_BIN, 125, 0, NULL },
	{ OP_BIN, 126, 0, NULL },
	{ OP_TEXT, 125, 1, NULL },
	{ OP_TEXT, 126, 1, NULL },
};
#define NSMALL (sizeof(small_cases) / sizeof(small_cases[0]))

/* Build case i's payload into p (returns its length). */
static size_t
case_payload(const struct msgcase *m, uint8_t *p)
{
	size_t n;

	if (m->literal != NULL) {
		n = m->op == OP_BIN && m->literal[0] == '\0' ? 0 :
		    m->op == OP_BIN ? 6 : strlen(m->literal);
		memcpy(p, m->literal, n);
		return n;
	}
	if (m->text)
		fill_text(p, m->len, (unsigned)m->len);
	else
		fill(p, m->len, (unsigned)m->len);
	return m->len;
}

START_TEST(test_small_every_chunking)
{
	const struct msgcase *m = &small_cases[_i];
	uint8_t payload[256], frame[300];
	size_t plen, flen, chunk;

	plen = case_payload(m, payload);
	flen = tu_client_frame(frame, FIN | m->op, payload, plen);
	for (chunk = 0; chunk <= flen; chunk++)
		check_single(frame, flen, chunk,
		    m->op == OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY, payload,
		    plen);
}
END_TEST

/* All small messages back to back as one stream, in every chunking. */
START_TEST(test_small_stream_every_chunking)
{
	uint8_t payload[NSMALL][256], stream[NSMALL * 300];
	size_t plen[NSMALL], n = 0, i, chunk;

	for (i = 0; i < NSMALL; i++) {
		plen[i] = case_payload(&small_cases[i], payload[i]);
		n += tu_client_frame(stream + n, FIN | small_cases[i].op,
		    payload[i], plen[i]);
	}
	for (chunk = 0; chunk <= n; chunk++) {
		struct ws_conn *s = tu_server_open(NULL, NULL);
		struct tu_rec r = { 0 };

		ck_assert_uint_eq(tu_feed(s, stream, n, chunk, &r, 0), 0);
		ck_assert_msg(r.status == 0, "chunk %zu: status %d", chunk,
		    r.status);
		ck_assert_uint_eq(r.n, NSMALL);
		for (i = 0; i < NSMALL; i++) {
			ck_assert_int_eq(r.ev[i].type,
			    small_cases[i].op == OP_TEXT ? WS_EV_TEXT :
			    WS_EV_BINARY);
			ck_assert_uint_eq(r.ev[i].len, plen[i]);
			ck_assert(plen[i] == 0 ||
			    memcmp(r.ev[i].data, payload[i], plen[i]) == 0);
		}
		ck_assert_uint_eq(out_len(s), 0);
		tu_rec_reset(&r);
		ws_conn_free(s);
	}
}
END_TEST

static void
check_big(uint8_t op, size_t len)
{
	uint8_t *payload = xmalloc(len), *frame = xmalloc(len + 14);
	size_t flen, i;

	if (op == OP_TEXT)
		fill_text(payload, len, 3);
	else
		fill(payload, len, 5);
	flen = tu_client_frame(frame, FIN | op, payload, len);
	ck_assert_uint_eq(flen, len + (len < 65536 ? 8 : 14));
	for (i = 0; i < NBIG_CHUNKS; i++)
		check_single(frame, flen, big_chunks[i],
		    op == OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY, payload, len);
	free(payload);
	free(frame);
}

START_TEST(test_binary_65535)
{
	check_big(OP_BIN, 65535);
}
END_TEST

START_TEST(test_binary_65536)
{
	check_big(OP_BIN, 65536);
}
END_TEST

START_TEST(test_text_65536)
{
	check_big(OP_TEXT, 65536);
}
END_TEST

START_TEST(test_binary_huge)
{
	/* Just under the default 1 MiB message and frame limits. */
	check_big(OP_BIN, HUGE_LEN);
}
END_TEST

/* --------------------------------------------------- fragmentation */

START_TEST(test_frag_basic)
{
	uint8_t in[128];
	size_t n = 0, chunk;

	n += tu_client_frame(in + n, OP_TEXT, "Hel", 3);
	n += tu_client_frame(in + n, 0x00, "lo, ", 4);
	n += tu_client_frame(in + n, FIN | 0x00, "world", 5);
	for (chunk = 0; chunk <= n; chunk++)
		check_single(in, n, chunk, WS_EV_TEXT,
		    (const uint8_t *)"Hello, world", 12);
}
END_TEST

START_TEST(test_frag_binary)
{
	uint8_t a[300], in[400];
	size_t n = 0, chunk;

	fill(a, sizeof(a), 9);
	n += tu_client_frame(in + n, OP_BIN, a, 200);
	n += tu_client_frame(in + n, FIN | 0x00, a + 200, 100);
	for (chunk = 0; chunk <= n; chunk++)
		check_single(in, n, chunk, WS_EV_BINARY, a, sizeof(a));
}
END_TEST

START_TEST(test_frag_utf8_split)
{
	/* "aé☃" with both multi-byte sequences split between fragments. */
	uint8_t in[128];
	size_t n = 0, chunk;

	n += tu_client_frame(in + n, OP_TEXT, "a\xc3", 2);
	n += tu_client_frame(in + n, 0x00, "\xa9\xe2\x98", 3);
	n += tu_client_frame(in + n, FIN | 0x00, "\x83", 1);
	for (chunk = 0; chunk <= n; chunk++)
		check_single(in, n, chunk, WS_EV_TEXT,
		    (const uint8_t *)"a\xc3\xa9\xe2\x98\x83", 6);
}
END_TEST

START_TEST(test_frag_ping_between)
{
	uint8_t in[128];
	size_t n = 0, chunk, nf;

	n += tu_client_frame(in + n, OP_TEXT, "ab", 2);
	n += tu_client_frame(in + n, FIN | OP_PING, "p!", 2);
	n += tu_client_frame(in + n, FIN | 0x00, "cd", 2);
	for (chunk = 0; chunk <= n; chunk++) {
		struct ws_conn *s = tu_server_open(NULL, NULL);
		struct tu_rec r = { 0 };
		struct tu_frame f[4];

		ck_assert_uint_eq(tu_feed(s, in, n, chunk, &r, 0), 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 2);
		ck_assert_int_eq(r.ev[0].type, WS_EV_PING);
		ck_assert_uint_eq(r.ev[0].len, 2);
		ck_assert_mem_eq(r.ev[0].data, "p!", 2);
		ck_assert_int_eq(r.ev[1].type, WS_EV_TEXT);
		ck_assert_uint_eq(r.ev[1].len, 4);
		ck_assert_mem_eq(r.ev[1].data, "abcd", 4);
		nf = take_frames(s, f, 4);
		ck_assert_uint_eq(nf, 1);
		ck_assert_int_eq(f[0].op, OP_PONG);
		ck_assert_int_eq(f[0].fin, 1);
		ck_assert_int_eq(f[0].masked, 0);
		ck_assert_uint_eq(f[0].len, 2);
		ck_assert_mem_eq(f[0].data, "p!", 2);
		tu_free_frames(f, nf);
		tu_rec_reset(&r);
		ws_conn_free(s);
	}
}
END_TEST

START_TEST(test_frag_empty_fragments)
{
	uint8_t in[128];
	size_t n = 0, chunk;

	n += tu_client_frame(in + n, OP_TEXT, "", 0);
	n += tu_client_frame(in + n, 0x00, "", 0);
	n += tu_client_frame(in + n, 0x00, "x", 1);
	n += tu_client_frame(in + n, FIN | 0x00, "", 0);
	for (chunk = 0; chunk <= n; chunk++)
		check_single(in, n, chunk, WS_EV_TEXT,
		    (const uint8_t *)"x", 1);

	/* A message made only of empty fragments. */
	n = 0;
	n += tu_client_frame(in + n, OP_BIN, "", 0);
	n += tu_client_frame(in + n, FIN | 0x00, "", 0);
	for (chunk = 0; chunk <= n; chunk++)
		check_single(in, n, chunk, WS_EV_BINARY, NULL, 0);
}
END_TEST

START_TEST(test_frag_new_message_inside)
{
	static const uint8_t firsts[] = { OP_TEXT, OP_BIN, FIN | OP_TEXT,
	    FIN | OP_BIN };
	uint8_t in[128];
	size_t i, n;

	for (i = 0; i < sizeof(firsts); i++) {
		n = 0;
		n += tu_client_frame(in + n, OP_TEXT, "ab", 2);
		n += tu_client_frame(in + n, firsts[i], "cd", 2);
		check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
		check_fail(NULL, in, n, 1, WS_E_PROTOCOL, 1002, 0);

		/* The same inside a fragmented binary message. */
		n = 0;
		n += tu_client_frame(in + n, OP_BIN, "ab", 2);
		n += tu_client_frame(in + n, 0x00, "cd", 2);
		n += tu_client_frame(in + n, firsts[i], "ef", 2);
		check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	}
}
END_TEST

START_TEST(test_cont_without_message)
{
	uint8_t in[128];
	size_t n;

	n = tu_client_frame(in, FIN | 0x00, "xy", 2);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	n = tu_client_frame(in, 0x00, "xy", 2);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);

	/* After a complete message, there is none to continue either. */
	n = tu_client_frame(in, FIN | OP_TEXT, "ok", 2);
	n += tu_client_frame(in + n, FIN | 0x00, "xy", 2);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 1);
	n = tu_client_frame(in, OP_TEXT, "o", 1);
	n += tu_client_frame(in + n, FIN | 0x00, "k", 1);
	n += tu_client_frame(in + n, 0x00, "xy", 2);
	check_fail(NULL, in, n, 1, WS_E_PROTOCOL, 1002, 1);
}
END_TEST

/* A close may come between fragments; the unfinished message is dropped. */
START_TEST(test_frag_close_between)
{
	uint8_t in[128];
	size_t n, chunk, nf;

	n = tu_client_frame(in, OP_TEXT, "ab", 2);
	n += tu_client_frame(in + n, FIN | OP_CLOSE, "\x03\xe8", 2);
	for (chunk = 0; chunk <= n; chunk++) {
		struct ws_conn *s = tu_server_open(NULL, NULL);
		struct tu_rec r = { 0 };
		struct tu_frame f[4];

		ck_assert_uint_eq(tu_feed(s, in, n, chunk, &r, 0), 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 1);
		ck_assert_int_eq(r.ev[0].type, WS_EV_CLOSE);
		ck_assert_uint_eq(r.ev[0].code, 1000);
		ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
		nf = take_frames(s, f, 4);
		ck_assert_uint_eq(nf, 1);
		ck_assert_uint_eq(close_frame_code(&f[0]), 1000);
		tu_free_frames(f, nf);
		tu_rec_reset(&r);
		ws_conn_free(s);
	}
}
END_TEST

/* Invalid UTF-8 in a text message fails with 1007 (RFC 6455 8.1). */
START_TEST(test_text_invalid_utf8)
{
	static const char *const bad[] = {
		"\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"abc\xc3", "\xe2\x98"
	};
	uint8_t in[128];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = tu_client_frame(in, FIN | OP_TEXT, bad[i], strlen(bad[i]));
		check_fail(NULL, in, n, 0, WS_E_UTF8, 1007, 0);
		check_fail(NULL, in, n, 1, WS_E_UTF8, 1007, 0);
	}
	/* A fragmented message that ends inside a sequence. */
	n = tu_client_frame(in, OP_TEXT, "a\xc3", 2);
	n += tu_client_frame(in + n, FIN | 0x00, "", 0);
	check_fail(NULL, in, n, 0, WS_E_UTF8, 1007, 0);
	/* Invalid bytes in a later fragment. */
	n = tu_client_frame(in, OP_TEXT, "ok", 2);
	n += tu_client_frame(in + n, FIN | 0x00, "\xc3\x28", 2);
	check_fail(NULL, in, n, 0, WS_E_UTF8, 1007, 0);
}
END_TEST

/* Frames RFC 6455 5.1-5.5 forbids. */
START_TEST(test_protocol_violations)
{
	uint8_t in[300], big[126];
	size_t n;

	memset(big, 'p', sizeof(big));
	/* Unmasked frame to a server. */
	n = tu_server_frame(in, FIN | OP_TEXT, "hi", 2);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	/* RSV bits with no extension negotiated. */
	n = tu_client_frame(in, FIN | 0x40 | OP_TEXT, "hi", 2);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	n = tu_client_frame(in, FIN | 0x10 | OP_BIN, "hi", 2);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	/* Reserved opcodes. */
	n = tu_client_frame(in, FIN | 0x3, "hi", 2);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	n = tu_client_frame(in, FIN | 0xb, "hi", 2);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	/* Control frames: fragmented, or over 125 bytes. */
	n = tu_client_frame(in, OP_PING, "hi", 2);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	n = tu_client_frame(in, FIN | OP_PING, big, 126);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	n = tu_client_frame(in, FIN | OP_PONG, big, 126);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	n = tu_client_frame(in, FIN | OP_CLOSE, big, 126);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	/* A 64-bit length with the most significant bit set (5.2). */
	memcpy(in, "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01"
	    "\x37\xfa\x21\x3d", 14);
	check_fail(NULL, in, 14, 0, WS_E_PROTOCOL, 1002, 0);
	check_fail(NULL, in, 14, 1, WS_E_PROTOCOL, 1002, 0);
	/* A huge (valid) length is over the limit: 1009 on the header. */
	in[2] = 0x00;
	in[3] = 0x01;
	check_fail(NULL, in, 14, 0, WS_E_TOO_BIG, 1009, 0);
}
END_TEST

/* A client fails on a masked frame from the server (RFC 6455 5.1). */
START_TEST(test_client_rejects_masked)
{
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	uint8_t in[64];
	size_t n;

	tu_pair_open(&c, &s, NULL);
	n = tu_client_frame(in, FIN | OP_TEXT, "hi", 2);
	tu_feed(c, in, n, 0, &r, 0);
	ck_assert_int_eq(r.status, WS_E_PROTOCOL);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_uint_eq(ws_close_code_sent(c), 1002);
	ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
	tu_rec_reset(&r);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

/* ----------------------------------------------------- message size */

static void
limits_1000(struct ws_limits *l)
{
	ws_limits_default(l);
	l->max_message_size = 1000;
}

START_TEST(test_limits_default)
{
	struct ws_limits l;

	memset(&l, 0xa5, sizeof(l));
	ws_limits_default(&l);
	ck_assert_uint_eq(l.max_head_bytes, WS_DEFAULT_MAX_HEAD_BYTES);
	ck_assert_uint_eq(l.max_headers, WS_DEFAULT_MAX_HEADERS);
	ck_assert_uint_eq(l.max_message_size, WS_DEFAULT_MAX_MESSAGE_SIZE);
	ck_assert_uint_eq(l.max_frame_size, 1024 * 1024);
}
END_TEST

START_TEST(test_too_big_single_frame)
{
	struct ws_limits l;
	uint8_t *frame = xmalloc(1001 + 14), payload[1001];
	size_t n, hlen;

	limits_1000(&l);
	fill(payload, sizeof(payload), 1);
	n = tu_client_frame(frame, FIN | OP_BIN, payload, 1001);
	hlen = n - 1001;
	ck_assert_uint_eq(hlen, 8);
	/* The header alone is enough to refuse it. */
	check_fail(&l, frame, hlen, 0, WS_E_TOO_BIG, 1009, 0);
	check_fail(&l, frame, hlen, 1, WS_E_TOO_BIG, 1009, 0);
	check_fail(&l, frame, n, 0, WS_E_TOO_BIG, 1009, 0);
	free(frame);
}
END_TEST

START_TEST(test_too_big_fragments)
{
	struct ws_limits l;
	uint8_t payload[1001], in[1200];
	size_t n1, n2, chunk;

	limits_1000(&l);
	fill_text(payload, sizeof(payload), 2);
	n1 = tu_client_frame(in, OP_TEXT, payload, 600);
	n2 = n1 + tu_client_frame(in + n1, 0x00, payload + 600, 300);
	ck_assert_uint_eq(tu_client_frame(in + n2, FIN | 0x00, payload + 900,
	    101), 6 + 101);
	for (chunk = 0; chunk < 10; chunk++) {
		struct ws_conn *s = tu_server_open(&l, NULL);
		struct tu_rec r = { 0 };
		struct tu_frame f[4];
		size_t nf;

		/* 900 bytes so far: fine. */
		ck_assert_uint_eq(tu_feed(s, in, n2, chunk, &r, 0), 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 0);
		/* The header of the fragment that crosses 1000. */
		tu_feed(s, in + n2, 6, chunk, &r, 0);
		ck_assert_msg(r.status == WS_E_TOO_BIG, "chunk %zu: status %d",
		    chunk, r.status);
		ck_assert_uint_eq(r.n, 0);
		ck_assert_uint_eq(ws_close_code_sent(s), 1009);
		nf = take_frames(s, f, 4);
		ck_assert_uint_eq(nf, 1);
		ck_assert_uint_eq(close_frame_code(&f[0]), 1009);
		tu_free_frames(f, nf);
		ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
		tu_rec_reset(&r);
		ws_conn_free(s);
	}
	/* Two fragments, 600 + 401, the same in one go. */
	n2 = n1 + tu_client_frame(in + n1, FIN | 0x00, payload + 600, 401);
	ck_assert_uint_eq(n2 - n1, 8 + 401);
	check_fail(&l, in, n1 + 8, 0, WS_E_TOO_BIG, 1009, 0);
	check_fail(&l, in, n1 + 8, 1, WS_E_TOO_BIG, 1009, 0);
	check_fail(&l, in, n2, 1, WS_E_TOO_BIG, 1009, 0);
}
END_TEST

START_TEST(test_exact_limit)
{
	struct ws_limits l;
	uint8_t payload[1000], in[1200];
	size_t n, chunk;
	struct ws_conn *s;
	struct tu_rec r = { 0 };

	limits_1000(&l);
	fill(payload, sizeof(payload), 4);
	n = tu_client_frame(in, FIN | OP_BIN, payload, 1000);
	for (chunk = 0; chunk < 20; chunk += 3) {
		s = tu_server_open(&l, NULL);
		ck_assert_uint_eq(tu_feed(s, in, n, chunk, &r, 0), 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 1);
		ck_assert_uint_eq(r.ev[0].len, 1000);
		ck_assert_mem_eq(r.ev[0].data, payload, 1000);
		tu_rec_reset(&r);
		ws_conn_free(s);
	}
	fill_text(payload, sizeof(payload), 4);
	n = tu_client_frame(in, OP_TEXT, payload, 500);
	n += tu_client_frame(in + n, 0x00, payload + 500, 0);
	n += tu_client_frame(in + n, FIN | 0x00, payload + 500, 500);
	s = tu_server_open(&l, NULL);
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_TEXT);
	ck_assert_uint_eq(r.ev[0].len, 1000);
	ck_assert_mem_eq(r.ev[0].data, payload, 1000);
	/* The limit is per message: a second message of 1000 is fine. */
	tu_rec_reset(&r);
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.ev[0].len, 1000);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_frame_size_limit)
{
	struct ws_limits l;
	uint8_t payload[200], in[300];
	struct ws_conn *s;
	struct tu_rec r = { 0 };
	size_t n;

	ws_limits_default(&l);
	l.max_frame_size = 100;
	fill(payload, sizeof(payload), 6);
	/* 100-byte frames are fine, a 101-byte one is too big. */
	n = tu_client_frame(in, OP_BIN, payload, 100);
	n += tu_client_frame(in + n, FIN | 0x00, payload + 100, 100);
	s = tu_server_open(&l, NULL);
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	expect_event(&r, 0, WS_EV_BINARY, payload, 200);
	tu_rec_reset(&r);
	ws_conn_free(s);
	n = tu_client_frame(in, FIN | OP_BIN, payload, 101);
	check_fail(&l, in, n - 101, 0, WS_E_TOO_BIG, 1009, 0);
}
END_TEST

/* ---------------------------------------------------------- control */

START_TEST(test_ping_autopong)
{
	uint8_t payload[125], in[200];
	size_t lens[] = { 0, 5, 124, 125 };
	size_t i, n, chunk, nf;

	fill(payload, sizeof(payload), 7);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		n = tu_client_frame(in, FIN | OP_PING, payload, lens[i]);
		for (chunk = 0; chunk <= n; chunk++) {
			struct ws_conn *s = tu_server_open(NULL, NULL);
			struct tu_rec r = { 0 };
			struct tu_frame f[4];

			ck_assert_uint_eq(tu_feed(s, in, n, chunk, &r, 0), 0);
			ck_assert_int_eq(r.status, 0);
			ck_assert_uint_eq(r.n, 1);
			ck_assert_int_eq(r.ev[0].type, WS_EV_PING);
			ck_assert_uint_eq(r.ev[0].len, lens[i]);
			ck_assert(lens[i] == 0 ||
			    memcmp(r.ev[0].data, payload, lens[i]) == 0);
			nf = take_frames(s, f, 4);
			ck_assert_uint_eq(nf, 1);
			ck_assert_int_eq(f[0].op, OP_PONG);
			ck_assert_int_eq(f[0].fin, 1);
			ck_assert_uint_eq(f[0].len, lens[i]);
			ck_assert(lens[i] == 0 ||
			    memcmp(f[0].data, payload, lens[i]) == 0);
			tu_free_frames(f, nf);
			ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
			tu_rec_reset(&r);
			ws_conn_free(s);
		}
	}
}
END_TEST

START_TEST(test_unsolicited_pong)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	uint8_t in[64];
	size_t n;

	n = tu_client_frame(in, FIN | OP_PONG, "beat", 4);
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_PONG);
	ck_assert_uint_eq(r.ev[0].len, 4);
	ck_assert_mem_eq(r.ev[0].data, "beat", 4);
	ck_assert_uint_eq(out_len(s), 0);
	ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

/* ------------------------------------------- close received by server */

static size_t
close_payload(uint8_t *p, unsigned code, const char *reason)
{
	size_t n = strlen(reason);

	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	memcpy(p + 2, reason, n);
	return n + 2;
}

START_TEST(test_close_received)
{
	uint8_t pl[16], in[64];
	size_t n, chunk, nf;

	n = tu_client_frame(in, FIN | OP_CLOSE, pl,
	    close_payload(pl, 1000, "bye"));
	for (chunk = 0; chunk <= n; chunk++) {
		struct ws_conn *s = tu_server_open(NULL, NULL);
		struct tu_rec r = { 0 };
		struct tu_frame f[4];

		ck_assert_uint_eq(tu_feed(s, in, n, chunk, &r, 0), 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 1);
		ck_assert_int_eq(r.ev[0].type, WS_EV_CLOSE);
		ck_assert_uint_eq(r.ev[0].code, 1000);
		ck_assert_uint_eq(r.ev[0].len, 3);
		ck_assert_mem_eq(r.ev[0].data, "bye", 3);
		ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
		ck_assert_int_eq(ws_close_expected(s), 1);
		ck_assert_uint_eq(ws_close_code_received(s), 1000);
		ck_assert_uint_eq(ws_close_code_sent(s), 1000);
		nf = take_frames(s, f, 4);
		ck_assert_uint_eq(nf, 1);
		ck_assert_uint_eq(close_frame_code(&f[0]), 1000);
		tu_free_frames(f, nf);
		tu_rec_reset(&r);
		ws_conn_free(s);
	}
}
END_TEST

START_TEST(test_close_received_empty)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	struct tu_frame f[4];
	uint8_t in[64];
	size_t n, nf;
	unsigned code;

	n = tu_client_frame(in, FIN | OP_CLOSE, "", 0);
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_CLOSE);
	ck_assert_uint_eq(r.ev[0].code, 1005);
	ck_assert_uint_eq(r.ev[0].len, 0);
	ck_assert_uint_eq(ws_close_code_received(s), 1005);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
	ck_assert_int_eq(ws_close_expected(s), 1);
	nf = take_frames(s, f, 4);
	ck_assert_uint_eq(nf, 1);
	code = close_frame_code(&f[0]);
	ck_assert_msg(code == 1005 || code == 1000, "reply code %u", code);
	tu_free_frames(f, nf);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_close_one_byte)
{
	uint8_t in[64];
	size_t n;

	n = tu_client_frame(in, FIN | OP_CLOSE, "\x03", 1);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
}
END_TEST

static const unsigned bad_codes[] = { 0, 999, 1004, 1005, 1006, 1015, 1016,
    2999, 5000, 65535 };
static const unsigned good_codes[] = { 1000, 1001, 1002, 1003, 1007, 1008,
    1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999 };

START_TEST(test_close_invalid_code)
{
	uint8_t pl[16], in[64];
	size_t n;

	n = tu_client_frame(in, FIN | OP_CLOSE, pl,
	    close_payload(pl, bad_codes[_i], ""));
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
	n = tu_client_frame(in, FIN | OP_CLOSE, pl,
	    close_payload(pl, bad_codes[_i], "why"));
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
}
END_TEST

START_TEST(test_close_valid_code)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	struct tu_frame f[4];
	uint8_t pl[16], in[64];
	size_t n, nf;

	n = tu_client_frame(in, FIN | OP_CLOSE, pl,
	    close_payload(pl, good_codes[_i], "r"));
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_msg(r.status == 0, "code %u: status %d", good_codes[_i],
	    r.status);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_CLOSE);
	ck_assert_uint_eq(r.ev[0].code, good_codes[_i]);
	ck_assert_uint_eq(r.ev[0].len, 1);
	ck_assert_uint_eq(ws_close_code_received(s), good_codes[_i]);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
	ck_assert_int_eq(ws_close_expected(s), 1);
	nf = take_frames(s, f, 4);
	ck_assert_uint_eq(nf, 1);
	(void)close_frame_code(&f[0]);
	tu_free_frames(f, nf);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

/* A close reason must be UTF-8 (RFC 6455 5.5.1, 8.1). */
START_TEST(test_close_reason_invalid_utf8)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	uint8_t pl[16], in[64];
	size_t n;

	n = tu_client_frame(in, FIN | OP_CLOSE, pl,
	    close_payload(pl, 1000, "a\xff"));
	tu_feed(s, in, n, 0, &r, 0);
	ck_assert_int_eq(ws_status_class(r.status), WS_CLASS_PROTOCOL);
	ck_assert_uint_eq(r.n, 0);
	ck_assert(ws_close_code_sent(s) == 1007 ||
	    ws_close_code_sent(s) == 1002);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_close_max_reason)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	char reason[124];
	uint8_t pl[140], in[160];
	size_t n;

	memset(reason, 'r', 123);
	reason[123] = '\0';
	n = tu_client_frame(in, FIN | OP_CLOSE, pl,
	    close_payload(pl, 1001, reason));
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.ev[0].code, 1001);
	ck_assert_uint_eq(r.ev[0].len, 123);
	ck_assert_mem_eq(r.ev[0].data, reason, 123);
	tu_rec_reset(&r);
	ws_conn_free(s);

	/* One more byte makes a 126-byte control frame. */
	pl[0] = 0x03;
	pl[1] = 0xe9;
	memset(pl + 2, 'r', 124);
	n = tu_client_frame(in, FIN | OP_CLOSE, pl, 126);
	check_fail(NULL, in, n, 0, WS_E_PROTOCOL, 1002, 0);
}
END_TEST

START_TEST(test_close_code_valid_all)
{
	unsigned code;
	int want;

	for (code = 0; code <= 65535; code++) {
		want = (code >= 1000 && code <= 1003) ||
		    (code >= 1007 && code <= 1014) ||
		    (code >= 3000 && code <= 4999);
		ck_assert_msg(!!ws_close_code_valid(code) == want,
		    "ws_close_code_valid(%u) = %d", code,
		    ws_close_code_valid(code));
	}
	ck_assert_int_eq(ws_close_code_valid(65536 + 1000), 0);
}
END_TEST

/* --------------------------------------------- server starts the close */

START_TEST(test_server_close)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	struct tu_frame f[4];
	uint8_t pl[16], in[256];
	size_t n, nf, i;

	ck_assert_int_eq(ws_can_send(s), 1);
	ck_assert_int_eq(ws_close(s, 1001, "going", 5), WS_OK);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSING);
	ck_assert_int_eq(ws_close_expected(s), 0);
	ck_assert_uint_eq(ws_close_code_sent(s), 1001);
	ck_assert_uint_eq(ws_close_code_received(s), 0);
	ck_assert_int_eq(ws_can_send(s), 0);
	nf = take_frames(s, f, 4);
	ck_assert_uint_eq(nf, 1);
	ck_assert_uint_eq(close_frame_code(&f[0]), 1001);
	ck_assert_uint_eq(f[0].len, 7);
	ck_assert_mem_eq(f[0].data + 2, "going", 5);
	tu_free_frames(f, nf);

	/* No data and no second close once a close is sent. */
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_send(s, WS_OP_BINARY, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_TEXT, 0, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_send(s, WS_OP_PING, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_close(s, 1000, "", 0), WS_E_STATE);
	ck_assert_int_eq(ws_close(s, 0, NULL, 0), WS_E_STATE);
	ck_assert_uint_eq(out_len(s), 0);

	/* Data still arriving from the client is discarded. */
	n = tu_client_frame(in, FIN | OP_TEXT, "late", 4);
	n += tu_client_frame(in + n, FIN | OP_BIN, "\x01\x02", 2);
	n += tu_client_frame(in + n, OP_TEXT, "fr", 2);
	n += tu_client_frame(in + n, FIN | 0x00, "ag", 2);
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSING);
	/* A ping is accepted (whether it is answered is not asserted). */
	n = tu_client_frame(in, FIN | OP_PING, "pp", 2);
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	for (i = 0; i < r.n; i++)
		ck_assert_int_eq(r.ev[i].type, WS_EV_PING);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSING);
	nf = take_frames(s, f, 4);
	for (i = 0; i < nf; i++)
		ck_assert_int_eq(f[i].op, OP_PONG);
	tu_free_frames(f, nf);
	tu_rec_reset(&r);

	/* The client's close completes the handshake. */
	n = tu_client_frame(in, FIN | OP_CLOSE, pl,
	    close_payload(pl, 1001, "ok"));
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_CLOSE);
	ck_assert_uint_eq(r.ev[0].code, 1001);
	ck_assert_uint_eq(r.ev[0].len, 2);
	ck_assert_mem_eq(r.ev[0].data, "ok", 2);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
	ck_assert_int_eq(ws_close_expected(s), 1);
	ck_assert_uint_eq(ws_close_code_received(s), 1001);
	ck_assert_uint_eq(ws_close_code_sent(s), 1001);
	/* No second close frame is sent. */
	ck_assert_uint_eq(out_len(s), 0);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_send(s, WS_OP_PING, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_close(s, 1000, "", 0), WS_E_STATE);
	ck_assert_int_eq(ws_recv_eof(s), WS_OK);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_server_close_no_code)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_frame f[4];
	size_t nf;

	ck_assert_int_eq(ws_close(s, 0, NULL, 0), WS_OK);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSING);
	nf = take_frames(s, f, 4);
	ck_assert_uint_eq(nf, 1);
	ck_assert_int_eq(f[0].op, OP_CLOSE);
	ck_assert_uint_eq(f[0].len, 0);
	tu_free_frames(f, nf);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_close_bad_args)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	char reason[125];
	size_t i;

	for (i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
		if (bad_codes[i] == 0)	/* 0 means "no code" here */
			continue;
		ck_assert_msg(ws_close(s, (uint16_t)bad_codes[i], "", 0) ==
		    WS_E_INVAL, "ws_close(%u)", bad_codes[i]);
	}
	ck_assert_int_eq(ws_close(s, 1005, "", 0), WS_E_INVAL);
	ck_assert_int_eq(ws_close(s, 999, "", 0), WS_E_INVAL);
	memset(reason, 'r', sizeof(reason));
	ck_assert_int_eq(ws_close(s, 1000, reason, 124), WS_E_INVAL);
	ck_assert_int_eq(ws_close(s, 1000, "bad\xff", 4), WS_E_INVAL);
	ck_assert_int_eq(ws_close(s, 1000, "cut\xe2\x98", 5), WS_E_INVAL);
	ck_assert_int_eq(ws_close(s, 1000, "\xc0\xaf", 2), WS_E_INVAL);
	/* Nothing changed. */
	ck_assert_uint_eq(out_len(s), 0);
	ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
	ck_assert_uint_eq(ws_close_code_sent(s), 0);
	/* 123 bytes of UTF-8 reason is the maximum. */
	ck_assert_int_eq(ws_close(s, 4999, reason, 123), WS_OK);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSING);
	ck_assert_uint_eq(out_len(s), 2 + 2 + 123);
	ws_conn_free(s);
}
END_TEST

/* ------------------------------------------------------------- eof */

START_TEST(test_eof_open)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct ws_event ev;
	uint8_t in[64];
	size_t n;

	ck_assert_int_eq(ws_recv_eof(s), WS_E_CLOSED);
	ck_assert_uint_eq(ws_close_code_received(s), 1006);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
	n = tu_client_frame(in, FIN | OP_TEXT, "hi", 2);
	ck_assert_int_eq(recv_once(s, in, n, &ev), WS_E_CLOSED);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "x", 1), WS_E_STATE);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_eof_connecting)
{
	struct ws_conn *s = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(ws_recv_eof(s), WS_E_CLOSED);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_eof_closing)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);

	ck_assert_int_eq(ws_close(s, 1000, "", 0), WS_OK);
	ck_assert_int_eq(ws_recv_eof(s), WS_E_CLOSED);
	ck_assert_uint_eq(ws_close_code_received(s), 1006);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_eof_after_handshake)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	struct ws_event ev;
	uint8_t pl[16], in[64];
	size_t n;

	n = tu_client_frame(in, FIN | OP_CLOSE, pl,
	    close_payload(pl, 1000, ""));
	ck_assert_uint_eq(tu_feed(s, in, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
	/* Nothing more is read once CLOSED. */
	n = tu_client_frame(in, FIN | OP_TEXT, "more", 4);
	ck_assert_int_eq(recv_once(s, in, n, &ev), WS_E_CLOSED);
	ck_assert_int_eq(ws_recv_eof(s), WS_OK);
	ck_assert_uint_eq(ws_close_code_received(s), 1000);
	ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

/* --------------------------------------------------------- sending */

START_TEST(test_send_not_open)
{
	struct ws_conn *s = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(ws_conn_state(s), WS_CONNECTING);
	ck_assert_int_eq(ws_can_send(s), 0);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_send(s, WS_OP_PING, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_BINARY, 1, "x", 1),
	    WS_E_STATE);
	ck_assert_uint_eq(out_len(s), 0);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_send_basic)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_frame f[8];
	uint8_t big[70000];
	size_t nf;

	fill(big, sizeof(big), 8);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "h\xc3\xa9", 3), WS_OK);
	ck_assert_int_eq(ws_send(s, WS_OP_BINARY, big, sizeof(big)), WS_OK);
	ck_assert_int_eq(ws_send(s, WS_OP_BINARY, big, 126), WS_OK);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "", 0), WS_OK);
	ck_assert_int_eq(ws_send(s, WS_OP_PING, big, 125), WS_OK);
	ck_assert_int_eq(ws_send(s, WS_OP_PONG, "", 0), WS_OK);
	nf = take_frames(s, f, 8);
	ck_assert_uint_eq(nf, 6);
	ck_assert_int_eq(f[0].op, OP_TEXT);
	ck_assert_int_eq(f[0].fin, 1);
	ck_assert_uint_eq(f[0].len, 3);
	ck_assert_mem_eq(f[0].data, "h\xc3\xa9", 3);
	ck_assert_int_eq(f[1].op, OP_BIN);
	ck_assert_int_eq(f[1].fin, 1);
	ck_assert_uint_eq(f[1].len, sizeof(big));
	ck_assert(memcmp(f[1].data, big, sizeof(big)) == 0);
	ck_assert_int_eq(f[2].op, OP_BIN);
	ck_assert_uint_eq(f[2].len, 126);
	ck_assert_int_eq(f[3].op, OP_TEXT);
	ck_assert_uint_eq(f[3].len, 0);
	ck_assert_int_eq(f[4].op, OP_PING);
	ck_assert_uint_eq(f[4].len, 125);
	ck_assert_mem_eq(f[4].data, big, 125);
	ck_assert_int_eq(f[5].op, OP_PONG);
	ck_assert_int_eq(f[5].fin, 1);
	tu_free_frames(f, nf);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_send_invalid)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	uint8_t big[126];

	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "ab\xff", 3), WS_E_INVAL);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "ab\xc3", 3), WS_E_INVAL);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "\xed\xa0\x80", 3),
	    WS_E_INVAL);
	ck_assert_int_eq(ws_send(s, WS_OP_PING, big, 126), WS_E_INVAL);
	ck_assert_int_eq(ws_send(s, WS_OP_PONG, big, 126), WS_E_INVAL);
	ck_assert_uint_eq(out_len(s), 0);
	ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
	ck_assert_int_eq(ws_can_send(s), 1);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_send_fragments)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_frame f[8];
	size_t nf;

	ck_assert_int_eq(ws_can_send(s), 1);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_TEXT, 0, "one ", 4), WS_OK);
	ck_assert_int_eq(ws_can_send(s), 0);
	/* No whole message and no new message while one is open. */
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_send(s, WS_OP_BINARY, "x", 1), WS_E_STATE);
	ck_assert_int_eq(ws_status_class(
	    ws_send_frame(s, WS_OP_BINARY, 1, "x", 1)), WS_CLASS_USAGE);
	/* Control frames may go between fragments. */
	ck_assert_int_eq(ws_send(s, WS_OP_PING, "pi", 2), WS_OK);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_CONT, 0, "two ", 4), WS_OK);
	ck_assert_int_eq(ws_can_send(s), 0);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_CONT, 1, "three", 5), WS_OK);
	ck_assert_int_eq(ws_can_send(s), 1);
	/* No fragment to continue now. */
	ck_assert_int_eq(ws_status_class(
	    ws_send_frame(s, WS_OP_CONT, 1, "x", 1)), WS_CLASS_USAGE);
	nf = take_frames(s, f, 8);
	ck_assert_uint_eq(nf, 4);
	ck_assert_int_eq(f[0].op, OP_TEXT);
	ck_assert_int_eq(f[0].fin, 0);
	ck_assert_mem_eq(f[0].data, "one ", 4);
	ck_assert_int_eq(f[1].op, OP_PING);
	ck_assert_int_eq(f[1].fin, 1);
	ck_assert_int_eq(f[2].op, 0);
	ck_assert_int_eq(f[2].fin, 0);
	ck_assert_mem_eq(f[2].data, "two ", 4);
	ck_assert_int_eq(f[3].op, 0);
	ck_assert_int_eq(f[3].fin, 1);
	ck_assert_uint_eq(f[3].len, 5);
	ck_assert_mem_eq(f[3].data, "three", 5);
	tu_free_frames(f, nf);

	/* Binary: the same shape, and a whole message works afterwards. */
	ck_assert_int_eq(ws_send_frame(s, WS_OP_BINARY, 0, "\x00", 1), WS_OK);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_CONT, 1, "\x01", 1), WS_OK);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "x", 1), WS_OK);
	nf = take_frames(s, f, 8);
	ck_assert_uint_eq(nf, 3);
	ck_assert_int_eq(f[0].op, OP_BIN);
	ck_assert_int_eq(f[0].fin, 0);
	ck_assert_int_eq(f[1].op, 0);
	ck_assert_int_eq(f[1].fin, 1);
	ck_assert_int_eq(f[2].op, OP_TEXT);
	ck_assert_int_eq(f[2].fin, 1);
	tu_free_frames(f, nf);
	ws_conn_free(s);
}
END_TEST

START_TEST(test_send_fragments_utf8)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_frame f[8];
	size_t before, nf;

	/* A sequence split across fragments is fine. */
	ck_assert_int_eq(ws_send_frame(s, WS_OP_TEXT, 0, "a\xe2", 2), WS_OK);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_CONT, 0, "\x98", 1), WS_OK);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_CONT, 1, "\x83z", 2), WS_OK);
	nf = take_frames(s, f, 8);
	ck_assert_uint_eq(nf, 3);
	tu_free_frames(f, nf);

	/* A message may not end inside one. */
	ck_assert_int_eq(ws_send_frame(s, WS_OP_TEXT, 0, "b", 1), WS_OK);
	before = out_len(s);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_CONT, 1, "\xc3", 1),
	    WS_E_INVAL);
	ck_assert_uint_eq(out_len(s), before);
	/* Nor may a fragment hold invalid bytes. */
	ck_assert_int_eq(ws_send_frame(s, WS_OP_CONT, 0, "\xff", 1),
	    WS_E_INVAL);
	ck_assert_uint_eq(out_len(s), before);
	ws_conn_free(s);

	/* A single text frame with fin that ends inside a sequence. */
	s = tu_server_open(NULL, NULL);
	ck_assert_int_eq(ws_send_frame(s, WS_OP_TEXT, 1, "a\xc3", 2),
	    WS_E_INVAL);
	ck_assert_uint_eq(out_len(s), 0);
	ck_assert_int_eq(ws_can_send(s), 1);
	ws_conn_free(s);
}
END_TEST

/*
 * The output may be taken a little at a time, with more queued in
 * between; the bytes come out in order.
 */
START_TEST(test_output_partial)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_frame f[16];
	uint8_t *all = xmalloc(1 << 20), big[3000];
	const uint8_t *p;
	size_t n = 0, k, nf, i, step;

	fill(big, sizeof(big), 13);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "first", 5), WS_OK);
	ck_assert_int_eq(ws_send(s, WS_OP_BINARY, big, sizeof(big)), WS_OK);
	for (i = 0, step = 1; (p = ws_output(s, &k)) != NULL; i++) {
		ck_assert_uint_gt(k, 0);
		if (step > k)
			step = k;
		memcpy(all + n, p, step);
		n += step;
		ws_output_consume(s, step);
		if (i == 3)
			ck_assert_int_eq(ws_send(s, WS_OP_PING, "mid", 3),
			    WS_OK);
		if (i == 10)
			ck_assert_int_eq(ws_send(s, WS_OP_BINARY, big, 1000),
			    WS_OK);
		step += 37;
	}
	ck_assert_uint_eq(k, 0);
	ck_assert_uint_gt(i, 10);
	nf = tu_parse_frames(all, n, f, 16);
	ck_assert_uint_eq(nf, 4);
	ck_assert_mem_eq(f[0].data, "first", 5);
	ck_assert_uint_eq(f[1].len, sizeof(big));
	ck_assert(memcmp(f[1].data, big, sizeof(big)) == 0);
	ck_assert_int_eq(f[2].op, OP_PING);
	ck_assert_mem_eq(f[2].data, "mid", 3);
	ck_assert_uint_eq(f[3].len, 1000);
	ck_assert(memcmp(f[3].data, big, 1000) == 0);
	tu_free_frames(f, nf);
	free(all);
	ws_conn_free(s);
}
END_TEST

/* ------------------------------------------------ in-memory sessions */

static const size_t session_chunks[] = { 0, 1, 7 };

START_TEST(test_session)
{
	size_t chunk = session_chunks[_i / 2];
	int server_closes = _i % 2;
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	uint8_t *big = xmalloc(200 * 1024), bin[300];
	size_t i;

	fill(big, 200 * 1024, 11);
	fill(bin, sizeof(bin), 12);
	tu_pair_open(&c, &s, NULL);
	ck_assert_int_eq(ws_conn_role(c), WS_ROLE_CLIENT);
	ck_assert_int_eq(ws_conn_role(s), WS_ROLE_SERVER);

	/* Client to server. */
	ck_assert_int_eq(ws_send(c, WS_OP_TEXT, "hello \xe2\x98\x83", 9),
	    WS_OK);
	ck_assert_int_eq(ws_send(c, WS_OP_BINARY, bin, sizeof(bin)), WS_OK);
	ck_assert_int_eq(ws_send(c, WS_OP_BINARY, big, 200 * 1024), WS_OK);
	ck_assert_int_eq(ws_send_frame(c, WS_OP_TEXT, 0, "frag-", 5), WS_OK);
	ck_assert_int_eq(ws_send_frame(c, WS_OP_CONT, 0, "ment", 4), WS_OK);
	ck_assert_int_eq(ws_send_frame(c, WS_OP_CONT, 1, "ed", 2), WS_OK);
	ck_assert_int_eq(ws_send(c, WS_OP_PING, "p1", 2), WS_OK);
	tu_pump(c, s, &r, chunk);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 5);
	expect_event(&r, 0, WS_EV_TEXT, "hello \xe2\x98\x83", 9);
	expect_event(&r, 1, WS_EV_BINARY, bin, sizeof(bin));
	expect_event(&r, 2, WS_EV_BINARY, big, 200 * 1024);
	expect_event(&r, 3, WS_EV_TEXT, "frag-mented", 11);
	expect_event(&r, 4, WS_EV_PING, "p1", 2);

	/* The server echoes each message. */
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(ws_send(s, r.ev[i].type == WS_EV_TEXT ?
		    WS_OP_TEXT : WS_OP_BINARY, r.ev[i].data, r.ev[i].len),
		    WS_OK);
	tu_rec_reset(&r);
	tu_pump(s, c, &r, chunk);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 5);
	expect_event(&r, 0, WS_EV_PONG, "p1", 2);
	expect_event(&r, 1, WS_EV_TEXT, "hello \xe2\x98\x83", 9);
	expect_event(&r, 2, WS_EV_BINARY, bin, sizeof(bin));
	expect_event(&r, 3, WS_EV_BINARY, big, 200 * 1024);
	expect_event(&r, 4, WS_EV_TEXT, "frag-mented", 11);
	tu_rec_reset(&r);

	/* Client ping, server pong. */
	ck_assert_int_eq(ws_send(c, WS_OP_PING, "cping", 5), WS_OK);
	tu_pump(c, s, &r, chunk);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	expect_event(&r, 0, WS_EV_PING, "cping", 5);
	tu_rec_reset(&r);
	tu_pump(s, c, &r, chunk);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	expect_event(&r, 0, WS_EV_PONG, "cping", 5);
	tu_rec_reset(&r);

	if (!server_closes) {
		ck_assert_int_eq(ws_close(c, 1000, "done", 4), WS_OK);
		ck_assert_int_eq(ws_conn_state(c), WS_CLOSING);
		ck_assert_int_eq(ws_close_expected(c), 0);
		tu_pump(c, s, &r, chunk);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 1);
		expect_event(&r, 0, WS_EV_CLOSE, "done", 4);
		ck_assert_uint_eq(r.ev[0].code, 1000);
		ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
		ck_assert_int_eq(ws_close_expected(s), 1);
		tu_rec_reset(&r);
		tu_pump(s, c, &r, chunk);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 1);
		ck_assert_int_eq(r.ev[0].type, WS_EV_CLOSE);
		ck_assert_uint_eq(r.ev[0].code, 1000);
		ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
		ck_assert_int_eq(ws_close_expected(c), 1);
		ck_assert_uint_eq(ws_close_code_received(c), 1000);
		ck_assert_uint_eq(ws_close_code_received(s), 1000);
	} else {
		ck_assert_int_eq(ws_close(s, 1001, "bye", 3), WS_OK);
		ck_assert_int_eq(ws_conn_state(s), WS_CLOSING);
		ck_assert_int_eq(ws_close_expected(s), 0);
		tu_pump(s, c, &r, chunk);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 1);
		expect_event(&r, 0, WS_EV_CLOSE, "bye", 3);
		ck_assert_uint_eq(r.ev[0].code, 1001);
		ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
		ck_assert_int_eq(ws_close_expected(c), 1);
		tu_rec_reset(&r);
		tu_pump(c, s, &r, chunk);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 1);
		ck_assert_int_eq(r.ev[0].type, WS_EV_CLOSE);
		ck_assert(r.ev[0].code == 1001 || r.ev[0].code == 1000 ||
		    r.ev[0].code == 1005);
		ck_assert_int_eq(ws_conn_state(s), WS_CLOSED);
		ck_assert_int_eq(ws_close_expected(s), 1);
		ck_assert_uint_eq(ws_close_code_received(c), 1001);
	}
	tu_rec_reset(&r);
	/* Nothing more to send in either direction. */
	ck_assert_uint_eq(out_len(c), 0);
	ck_assert_uint_eq(out_len(s), 0);
	ck_assert_int_eq(ws_recv_eof(c), WS_OK);
	ck_assert_int_eq(ws_recv_eof(s), WS_OK);
	free(big);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

/* Client frames are masked, each with its own key material from the
   random source. */
START_TEST(test_client_frames_masked)
{
	struct ws_conn *c, *s;
	struct tu_frame f[4];
	size_t nf;

	tu_pair_open(&c, &s, NULL);
	ck_assert_int_eq(ws_send(c, WS_OP_TEXT, "abc", 3), WS_OK);
	ck_assert_int_eq(ws_send(c, WS_OP_PING, "", 0), WS_OK);
	nf = take_frames(c, f, 4);
	ck_assert_uint_eq(nf, 2);
	ck_assert_int_eq(f[0].masked, 1);
	ck_assert_mem_eq(f[0].data, "abc", 3);
	ck_assert_int_eq(f[1].masked, 1);
	ck_assert_int_eq(f[1].op, OP_PING);
	tu_free_frames(f, nf);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

/* ------------------------------------------------------- zero-copy */

START_TEST(test_send_header)
{
	static const size_t lens[] = { 0, 1, 125, 126, 65535, 65536, 70000 };
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	uint8_t hdr[WS_FRAME_HEADER_MAX], *payload, *buf;
	size_t i, len;
	int h;

	payload = xmalloc(70000);
	buf = xmalloc(70000 + WS_FRAME_HEADER_MAX);
	tu_pair_open(&c, &s, NULL);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i];
		fill(payload, len, (unsigned)i);
		h = ws_send_header(s, WS_OP_BINARY, 1, payload, len, 0, hdr);
		ck_assert_int_eq(h, (int)(2 + (len < 126 ? 0 :
		    len < 65536 ? 2 : 8)));
		ck_assert_uint_eq(out_len(s), 0);
		memcpy(buf, hdr, (size_t)h);
		memcpy(buf + h, payload, len);
		ck_assert_uint_eq(tu_feed(c, buf, (size_t)h + len, 0, &r, 0),
		    0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 1);
		expect_event(&r, 0, WS_EV_BINARY, payload, len);
		tu_rec_reset(&r);
	}

	/* Text, fragmented, with and without validation. */
	h = ws_send_header(s, WS_OP_TEXT, 0, "caf\xc3", 4, 0, hdr);
	ck_assert_int_eq(h, 2);
	ck_assert_int_eq(ws_can_send(s), 0);
	memcpy(buf, hdr, 2);
	memcpy(buf + 2, "caf\xc3", 4);
	ck_assert_int_eq(ws_send_header(s, WS_OP_CONT, 0, "\xff", 1, 0, hdr),
	    WS_E_INVAL);
	h = ws_send_header(s, WS_OP_CONT, 1, "\xa9!", 2, 0, hdr);
	ck_assert_int_eq(h, 2);
	ck_assert_int_eq(ws_can_send(s), 1);
	memcpy(buf + 6, hdr, 2);
	memcpy(buf + 8, "\xa9!", 2);
	ck_assert_uint_eq(tu_feed(c, buf, 10, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	expect_event(&r, 0, WS_EV_TEXT, "caf\xc3\xa9!", 6);
	tu_rec_reset(&r);

	ck_assert_int_eq(ws_send_header(s, WS_OP_TEXT, 1, "\xff", 1, 0, hdr),
	    WS_E_INVAL);
	h = ws_send_header(s, WS_OP_TEXT, 1, "ok", 2, 1, hdr);
	ck_assert_int_eq(h, 2);
	ck_assert_int_eq(hdr[0], FIN | OP_TEXT);
	ck_assert_int_eq(hdr[1], 2);
	ck_assert_int_eq(ws_send_header(s, WS_OP_PING, 1, payload, 126, 0,
	    hdr), WS_E_INVAL);

	/* Not after a close. */
	ck_assert_int_eq(ws_close(s, 1000, "", 0), WS_OK);
	ck_assert_int_eq(ws_send_header(s, WS_OP_BINARY, 1, "x", 1, 0, hdr),
	    WS_E_STATE);
	ws_conn_free(c);
	ws_conn_free(s);
	free(payload);
	free(buf);
}
END_TEST

/* ------------------------------------------------------------ main */

/* ------------------------------------------------------- in-place mode */

static void
inplace_roundtrip(uint8_t first, const uint8_t *payload, size_t len,
    size_t chunk)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	size_t flen;
	uint8_t *frame = malloc(len + 14);

	ck_assert_ptr_nonnull(frame);
	ws_conn_set_inplace(s, len + 14);
	flen = tu_client_frame(frame, first, payload, len);
	ck_assert_uint_eq(tu_feed(s, frame, flen, chunk, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, (first & 0xf) == 1 ? WS_EV_TEXT :
	    WS_EV_BINARY);
	ck_assert_uint_eq(r.ev[0].len, len);
	ck_assert(len == 0 || memcmp(r.ev[0].data, payload, len) == 0);
	tu_rec_reset(&r);
	ws_conn_free(s);
	free(frame);
}

START_TEST(test_inplace_every_chunking)
{
	uint8_t text[300];
	size_t i, chunk;

	for (i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)('a' + i % 26);
	/* "é" straddles many chunk boundaries. */
	for (i = 5; i + 1 < sizeof(text); i += 37) {
		text[i] = 0xc3;
		text[i + 1] = 0xa9;
	}
	for (chunk = 1; chunk <= sizeof(text) + 8; chunk++) {
		inplace_roundtrip(0x81, text, sizeof(text), chunk);
		inplace_roundtrip(0x82, text, sizeof(text), chunk);
	}
}
END_TEST

START_TEST(test_inplace_large)
{
	static const size_t chunks[] = { 1, 7, 4096, 65537, 0 };
	size_t len = 70000, i;
	uint8_t *p = malloc(len);

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		inplace_roundtrip(0x82, p, len, chunks[i]);
	free(p);
}
END_TEST

/* Whole frames are delivered from the caller's buffer, and the hint
   says how much to wait for. */
START_TEST(test_inplace_hint_and_zero_copy)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	uint8_t payload[1000], frame[1014], buf[1014];
	struct ws_event ev;
	size_t flen;
	ssize_t n;

	memset(payload, 'x', sizeof(payload));
	flen = tu_client_frame(frame, 0x82, payload, sizeof(payload));
	ws_conn_set_inplace(s, 4096);
	memcpy(buf, frame, flen);
	n = ws_recv(s, buf, 1, &ev);
	ck_assert_int_eq(n, WS_AGAIN);
	ck_assert_uint_eq(ws_recv_hint(s), WS_FRAME_HEADER_MAX);
	n = ws_recv(s, buf, 500, &ev);
	ck_assert_int_eq(n, WS_AGAIN);
	ck_assert_uint_eq(ws_recv_hint(s), flen);
	/* The first 500 - 8 payload bytes are unmasked in place already. */
	ck_assert_int_eq(buf[8], 'x');
	ck_assert_int_eq(buf[499], 'x');
	n = ws_recv(s, buf, flen, &ev);
	ck_assert_int_eq(n, (ssize_t)flen);
	ck_assert_int_eq(ev.type, WS_EV_BINARY);
	ck_assert_ptr_eq(ev.data, buf + 8);
	ck_assert_uint_eq(ev.len, sizeof(payload));
	ck_assert(memcmp(ev.data, payload, sizeof(payload)) == 0);
	ws_conn_free(s);
}
END_TEST

/* Invalid UTF-8 fails at once, before the rest of the frame arrives. */
START_TEST(test_inplace_utf8_fails_fast)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	uint8_t payload[1000], frame[1014];
	struct tu_rec r = { 0 };
	size_t flen;
	uint8_t *out;
	size_t olen;

	memset(payload, 'a', sizeof(payload));
	payload[10] = 0xff;
	flen = tu_client_frame(frame, 0x81, payload, sizeof(payload));
	ck_assert_uint_gt(flen, 28);
	ws_conn_set_inplace(s, 4096);
	(void)tu_feed(s, frame, 28, 0, &r, 0);
	ck_assert_int_eq(r.status, WS_E_UTF8);
	ck_assert_uint_eq(ws_close_code_sent(s), 1007);
	out = tu_drain(s, &olen);
	ck_assert_uint_ge(olen, 4);
	ck_assert_int_eq(out[0], 0x88);
	ck_assert_int_eq(out[2] << 8 | out[3], 1007);
	free(out);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

/* Frames over the in-place size, and fragments, still take the copying
   path; both kinds interleave with control frames. */
START_TEST(test_inplace_mixed_stream)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	uint8_t stream[4096], big[600];
	struct tu_rec r = { 0 };
	size_t n = 0, chunk;

	memset(big, 'b', sizeof(big));
	n += tu_client_frame(stream + n, 0x81, "hello", 5);
	n += tu_client_frame(stream + n, 0x82, big, sizeof(big));
	n += tu_client_frame(stream + n, 0x01, "frag", 4);
	n += tu_client_frame(stream + n, 0x89, "p", 1);
	n += tu_client_frame(stream + n, 0x80, "ment", 4);
	ws_conn_free(s);
	for (chunk = 1; chunk <= 64; chunk++) {
		s = tu_server_open(NULL, NULL);
		ws_conn_set_inplace(s, 256);
		ck_assert_uint_eq(tu_feed(s, stream, n, chunk, &r, 0), 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, 4);
		ck_assert_str_eq((char *)r.ev[0].data, "hello");
		ck_assert_uint_eq(r.ev[1].len, sizeof(big));
		ck_assert_int_eq(r.ev[2].type, WS_EV_PING);
		ck_assert_str_eq((char *)r.ev[3].data, "fragment");
		tu_rec_reset(&r);
		ws_conn_free(s);
	}
}
END_TEST

/* ws_conn_shrink() gives back empty buffers and keeps the connection
   working; a message being reassembled is kept. */
START_TEST(test_shrink)
{
	struct tu_failalloc f;
	struct ws_conn *s;
	uint8_t frame[64];
	struct tu_rec r = { 0 };
	size_t n;
	long live;

	tu_failalloc_init(&f, 0);
	s = tu_server_open(NULL, &f.a);
	live = f.live;
	ws_conn_shrink(s);
	ck_assert_int_lt(f.live, live);		/* the 101's output buffer */
	n = tu_client_frame(frame, 0x01, "frag", 4);
	ck_assert_uint_eq(tu_feed(s, frame, n, 0, &r, 0), 0);
	live = f.live;
	ws_conn_shrink(s);
	ck_assert_int_eq(f.live, live);		/* the fragment is kept */
	n = tu_client_frame(frame, 0x80, "ment", 4);
	ck_assert_uint_eq(tu_feed(s, frame, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq((char *)r.ev[0].data, "fragment");
	ws_conn_shrink(s);
	ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "ok", 2), WS_OK);
	ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
	tu_rec_reset(&r);
	ws_conn_free(s);
	ck_assert_int_eq(f.live, 0);
}
END_TEST

/* After our close, data is dropped by default and delivered with
   ws_conn_set_keep_data(); never after the peer's close. */
START_TEST(test_keep_data_after_close)
{
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	int keep;

	for (keep = 0; keep <= 1; keep++) {
		tu_pair_open(&c, &s, NULL);
		ws_conn_set_keep_data(c, keep);
		ck_assert_int_eq(ws_close(c, 1000, NULL, 0), WS_OK);
		/* The server sends data before it reads the client's close. */
		ck_assert_int_eq(ws_send(s, WS_OP_TEXT, "late", 4), WS_OK);
		tu_pump(s, c, &r, 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, (size_t)keep);
		if (keep)
			ck_assert_str_eq((char *)r.ev[0].data, "late");
		tu_rec_reset(&r);
		tu_pump(c, s, &r, 0);		/* the close */
		ck_assert_int_eq(r.ev[r.n - 1].type, WS_EV_CLOSE);
		tu_rec_reset(&r);
		tu_pump(s, c, &r, 0);		/* the reply */
		ck_assert_uint_eq(r.n, 1);
		ck_assert_int_eq(r.ev[0].type, WS_EV_CLOSE);
		ck_assert_int_eq(ws_conn_state(c), WS_CLOSED);
		tu_rec_reset(&r);
		ws_conn_free(c);
		ws_conn_free(s);
	}
}
END_TEST

static Suite *
conn_suite(void)
{
	Suite *su = suite_create("ws_conn");
	TCase *tc;

	tc = tcase_create("messages");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_small_every_chunking, 0, (int)NSMALL);
	tcase_add_test(tc, test_small_stream_every_chunking);
	tcase_add_test(tc, test_binary_65535);
	tcase_add_test(tc, test_binary_65536);
	tcase_add_test(tc, test_text_65536);
	suite_add_tcase(su, tc);

	tc = tcase_create("huge");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_binary_huge);
	suite_add_tcase(su, tc);

	tc = tcase_create("fragments");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_frag_basic);
	tcase_add_test(tc, test_frag_binary);
	tcase_add_test(tc, test_frag_utf8_split);
	tcase_add_test(tc, test_frag_ping_between);
	tcase_add_test(tc, test_frag_empty_fragments);
	tcase_add_test(tc, test_frag_new_message_inside);
	tcase_add_test(tc, test_frag_close_between);
	tcase_add_test(tc, test_cont_without_message);
	tcase_add_test(tc, test_text_invalid_utf8);
	tcase_add_test(tc, test_protocol_violations);
	tcase_add_test(tc, test_client_rejects_masked);
	suite_add_tcase(su, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_limits_default);
	tcase_add_test(tc, test_too_big_single_frame);
	tcase_add_test(tc, test_too_big_fragments);
	tcase_add_test(tc, test_exact_limit);
	tcase_add_test(tc, test_frame_size_limit);
	suite_add_tcase(su, tc);

	tc = tcase_create("control");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ping_autopong);
	tcase_add_test(tc, test_unsolicited_pong);
	suite_add_tcase(su, tc);

	tc = tcase_create("close");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_close_received);
	tcase_add_test(tc, test_close_received_empty);
	tcase_add_test(tc, test_close_one_byte);
	tcase_add_loop_test(tc, test_close_invalid_code, 0,
	    (int)(sizeof(bad_codes) / sizeof(bad_codes[0])));
	tcase_add_loop_test(tc, test_close_valid_code, 0,
	    (int)(sizeof(good_codes) / sizeof(good_codes[0])));
	tcase_add_test(tc, test_close_reason_invalid_utf8);
	tcase_add_test(tc, test_close_max_reason);
	tcase_add_test(tc, test_close_code_valid_all);
	tcase_add_test(tc, test_server_close);
	tcase_add_test(tc, test_server_close_no_code);
	tcase_add_test(tc, test_close_bad_args);
	tcase_add_test(tc, test_eof_open);
	tcase_add_test(tc, test_eof_connecting);
	tcase_add_test(tc, test_eof_closing);
	tcase_add_test(tc, test_eof_after_handshake);
	suite_add_tcase(su, tc);

	tc = tcase_create("send");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_send_not_open);
	tcase_add_test(tc, test_send_basic);
	tcase_add_test(tc, test_send_invalid);
	tcase_add_test(tc, test_send_fragments);
	tcase_add_test(tc, test_send_fragments_utf8);
	tcase_add_test(tc, test_client_frames_masked);
	tcase_add_test(tc, test_output_partial);
	tcase_add_test(tc, test_send_header);
	suite_add_tcase(su, tc);

	tc = tcase_create("inplace");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_inplace_every_chunking);
	tcase_add_test(tc, test_inplace_large);
	tcase_add_test(tc, test_inplace_hint_and_zero_copy);
	tcase_add_test(tc, test_inplace_utf8_fails_fast);
	tcase_add_test(tc, test_inplace_mixed_stream);
	tcase_add_test(tc, test_shrink);
	tcase_add_test(tc, test_keep_data_after_close);
	suite_add_tcase(su, tc);

	tc = tcase_create("session");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_session, 0,
	    (int)(2 * (sizeof(session_chunks) / sizeof(session_chunks[0]))));
	suite_add_tcase(su, tc);

	return su;
}

int
main(void)
{
	SRunner *sr = srunner_create(conn_suite());
	int nfailed;

	srunner_run_all(sr, CK_NORMAL);
	nfailed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
