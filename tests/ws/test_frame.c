/*
 * test_frame.c - the RFC 6455 frame codec (frame.h) and the frame-level
 * rules a ws_conn enforces on what it receives and sends.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "frame.h"
#include "utf8.h"
#include "testutil.h"

static const uint8_t rfc_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* ------------------------------------------------------------ helpers */

/*
 * Parse p[0..n) from a guarded copy ending exactly at p + n, so that a
 * parser reading past the bytes it was given faults.
 */
static int
guarded_parse(const uint8_t *p, size_t n, struct ws_frame *f)
{
	uint8_t *g = tu_guard_copy(p, n);
	int r;

	r = ws_frame_parse(g, n, f);
	tu_guard_free(g, n);
	return r;
}

/* Every proper prefix of a header must ask for more. */
static void
check_truncations(const uint8_t *hdr, size_t hlen)
{
	struct ws_frame f;
	size_t k;

	for (k = 0; k < hlen; k++) {
		memset(&f, 0, sizeof(f));
		ck_assert_msg(guarded_parse(hdr, k, &f) == WS_AGAIN,
		    "prefix of %zu of a %zu-byte header: not WS_AGAIN", k,
		    hlen);
	}
}

static void
check_fields(const struct ws_frame *f, unsigned fin, unsigned rsv,
    unsigned opcode, const uint8_t *mask, uint64_t len)
{
	ck_assert_uint_eq(f->fin, fin);
	ck_assert_uint_eq(f->rsv, rsv);
	ck_assert_uint_eq(f->opcode, opcode);
	ck_assert_uint_eq(f->masked, mask != NULL);
	if (mask != NULL)
		ck_assert_mem_eq(f->mask, mask, 4);
	ck_assert_msg(f->len == len, "len %llu, want %llu",
	    (unsigned long long)f->len, (unsigned long long)len);
}

static void
ref_mask(uint8_t *p, size_t n, const uint8_t key[4], size_t offset)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] ^= key[(offset + i) % 4];
}

/* Deterministic pseudo-random bytes (xorshift32). */
static void
fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed ? seed : 0x9e3779b9u;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)(x >> 11);
	}
}

/*
 * The connection's output must be exactly one close frame carrying code
 * (unmasked for a server, masked for a client), and the connection must
 * be done with the transport.
 */
static void
check_close_output(struct ws_conn *c, uint16_t code, int masked)
{
	uint8_t *out, *pl;
	size_t n, o = 0;
	struct ws_frame f;
	int h;

	ck_assert_uint_eq(ws_close_code_sent(c), code);
	ck_assert_int_eq(ws_close_expected(c), 1);
	out = tu_drain(c, &n);
	ck_assert_msg(n >= 4, "close frame missing from output (%zu bytes)",
	    n);
	/* Pongs for pings received before the error may come first. */
	for (;;) {
		h = ws_frame_parse(out + o, n - o, &f);
		ck_assert_int_gt(h, 0);
		if (f.opcode != WS_OP_PONG)
			break;
		ck_assert_uint_ge(n - o, (size_t)h + f.len);
		o += (size_t)h + (size_t)f.len;
	}
	n -= o;
	memmove(out, out + o, n);
	ck_assert_uint_eq(f.fin, 1);
	ck_assert_uint_eq(f.rsv, 0);
	ck_assert_uint_eq(f.opcode, WS_OP_CLOSE);
	ck_assert_uint_eq(f.masked, masked);
	ck_assert_msg(f.len >= 2 && f.len <= 125, "close payload %llu",
	    (unsigned long long)f.len);
	ck_assert_uint_eq((size_t)h + f.len, n);
	pl = out + h;
	if (f.masked)
		ref_mask(pl, (size_t)f.len, f.mask, 0);
	ck_assert_uint_eq(((unsigned)pl[0] << 8) | pl[1], code);
	ck_assert_uint_eq(ws_utf8_validate(WS_UTF8_ACCEPT, pl + 2,
	    (size_t)f.len - 2), WS_UTF8_ACCEPT);
	free(out);
}

/*
 * Feed data to a fresh server connection (limits l) in chunks of chunk
 * bytes and expect the failure status with close code, no event, and the
 * close frame queued.
 */
static void
expect_server_fail(const uint8_t *data, size_t len, size_t chunk,
    const struct ws_limits *l, int status, uint16_t code)
{
	struct ws_conn *s = tu_server_open(l, NULL);
	struct tu_rec r = { 0 };

	tu_feed(s, data, len, chunk, &r, 0);
	ck_assert_msg(r.status == status,
	    "first byte 0x%02x, %zu bytes, chunk %zu: status %d, want %d",
	    data[0], len, chunk, r.status, status);
	ck_assert_uint_eq(r.n, 0);
	check_close_output(s, code, 0);
	tu_rec_reset(&r);
	ws_conn_free(s);
}

static void
expect_server_fail_all_chunks(const uint8_t *data, size_t len,
    const struct ws_limits *l, int status, uint16_t code)
{
	expect_server_fail(data, len, 0, l, status, code);
	expect_server_fail(data, len, 1, l, status, code);
	expect_server_fail(data, len, 3, l, status, code);
}

/* --------------------------------------------- RFC 6455 section 5.7 */

struct rfc_example {
	const char *name;
	uint8_t hdr[14];
	size_t hlen;
	unsigned fin, opcode;
	int masked;
	const char *payload;	/* NULL: len bytes, content free */
	uint64_t len;
};

static const struct rfc_example rfc_examples[] = {
	{ "unmasked text", { 0x81, 0x05 }, 2, 1, 1, 0, "Hello", 5 },
	{ "masked text", { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d }, 6, 1, 1, 1,
	    "Hello", 5 },
	{ "fragment 1", { 0x01, 0x03 }, 2, 0, 1, 0, "Hel", 3 },
	{ "fragment 2", { 0x80, 0x02 }, 2, 1, 0, 0, "lo", 2 },
	{ "ping", { 0x89, 0x05 }, 2, 1, 9, 0, "Hello", 5 },
	{ "masked pong", { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d }, 6, 1, 10, 1,
	    "Hello", 5 },
	{ "256 binary", { 0x82, 0x7e, 0x01, 0x00 }, 4, 1, 2, 0, NULL, 256 },
	{ "64K binary", { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0, 0 }, 10, 1, 2, 0,
	    NULL, 65536 },
};

START_TEST(rfc_example_parse)
{
	const struct rfc_example *e = &rfc_examples[_i];
	struct ws_frame f;
	uint8_t wire[64];
	size_t n = e->hlen;

	/* Header alone, guarded: must not read past it. */
	memset(&f, 0xee, sizeof(f));
	ck_assert_int_eq(guarded_parse(e->hdr, e->hlen, &f), (int)e->hlen);
	check_fields(&f, e->fin, 0, e->opcode, e->masked ? rfc_key : NULL,
	    e->len);
	check_truncations(e->hdr, e->hlen);

	/* Header followed by the payload: the same, payload unmasks. */
	if (e->payload != NULL) {
		memcpy(wire, e->hdr, e->hlen);
		memcpy(wire + n, e->payload, (size_t)e->len);
		if (e->masked)
			ref_mask(wire + n, (size_t)e->len, rfc_key, 0);
		ck_assert_int_eq(ws_frame_parse(wire, n + (size_t)e->len, &f),
		    (int)e->hlen);
		check_fields(&f, e->fin, 0, e->opcode,
		    e->masked ? rfc_key : NULL, e->len);
		if (f.masked)
			ws_mask(wire + n, (size_t)f.len, f.mask, 0);
		ck_assert_mem_eq(wire + n, e->payload, (size_t)e->len);
	}
}
END_TEST

START_TEST(rfc_example_build)
{
	const struct rfc_example *e = &rfc_examples[_i];
	uint8_t out[WS_FRAME_HEADER_MAX + 8];
	uint8_t pl[8];
	size_t h;

	memset(out, 0xee, sizeof(out));
	h = ws_frame_header(out, e->opcode, e->fin, 0, e->len,
	    e->masked ? rfc_key : NULL);
	ck_assert_uint_eq(h, e->hlen);
	ck_assert_mem_eq(out, e->hdr, e->hlen);
	ck_assert_uint_eq(ws_frame_header_len(e->len, e->masked), e->hlen);
	/* Nothing written beyond the header it reported. */
	ck_assert_uint_eq(out[WS_FRAME_HEADER_MAX], 0xee);

	if (e->payload != NULL && e->masked) {
		static const uint8_t want[5] = {
			0x7f, 0x9f, 0x4d, 0x51, 0x58
		};

		memcpy(pl, e->payload, (size_t)e->len);
		ws_mask(pl, (size_t)e->len, rfc_key, 0);
		ck_assert_mem_eq(pl, want, 5);
	}
}
END_TEST

/* RFC section 5.7 frames, masked "Hello", the payload bytes checked too. */
START_TEST(rfc_masked_hello_bytes)
{
	static const uint8_t wire[] = {
		0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51,
		0x58
	};
	static const uint8_t pong[] = {
		0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51,
		0x58
	};
	uint8_t built[sizeof(wire)];
	uint8_t *g;
	struct ws_frame f;
	size_t h;

	h = ws_frame_header(built, WS_OP_TEXT, 1, 0, 5, rfc_key);
	ck_assert_uint_eq(h, 6);
	memcpy(built + h, "Hello", 5);
	ws_mask(built + h, 5, rfc_key, 0);
	ck_assert_mem_eq(built, wire, sizeof(wire));

	h = ws_frame_header(built, WS_OP_PONG, 1, 0, 5, rfc_key);
	ck_assert_uint_eq(h, 6);
	memcpy(built + h, "Hello", 5);
	ws_mask(built + h, 5, rfc_key, 0);
	ck_assert_mem_eq(built, pong, sizeof(pong));

	/* Unmask in place at the end of a guarded buffer. */
	g = tu_guard_copy(wire, sizeof(wire));
	ck_assert_int_eq(ws_frame_parse(g, sizeof(wire), &f), 6);
	ws_mask(g + 6, 5, f.mask, 0);
	ck_assert_mem_eq(g + 6, "Hello", 5);
	tu_guard_free(g, sizeof(wire));
}
END_TEST

/* ---------------------------------------------------- length encodings */

static const uint64_t boundary_lens[] = {
	0, 1, 125, 126, 127, 65535, 65536, 0xffffffffULL, 0x100000000ULL,
	0x7fffffffffffffffULL
};

static size_t
expected_hlen(uint64_t len, int masked)
{
	size_t h = len < 126 ? 2 : len < 65536 ? 4 : 10;

	return h + (masked ? 4 : 0);
}

START_TEST(length_roundtrip)
{
	uint64_t len = boundary_lens[_i];
	static const uint8_t key[4] = { 0xa1, 0x00, 0xff, 0x5c };
	uint8_t out[WS_FRAME_HEADER_MAX];
	struct ws_frame f;
	unsigned op;
	int masked, fin;
	size_t h, want, i;

	for (masked = 0; masked <= 1; masked++)
	for (fin = 0; fin <= 1; fin++)
	for (op = 0; op < 16; op += 5) {
		want = expected_hlen(len, masked);
		h = ws_frame_header(out, op, fin, 0, len,
		    masked ? key : NULL);
		ck_assert_uint_eq(h, want);
		ck_assert_uint_eq(ws_frame_header_len(len, masked), want);

		/* The minimal encoding, big-endian (RFC 6455 5.2). */
		ck_assert_uint_eq(out[0], (fin ? 0x80 : 0) | op);
		if (len < 126)
			ck_assert_uint_eq(out[1], (masked ? 0x80 : 0) | len);
		else if (len < 65536) {
			ck_assert_uint_eq(out[1], (masked ? 0x80 : 0) | 126);
			ck_assert_uint_eq(out[2], len >> 8);
			ck_assert_uint_eq(out[3], len & 0xff);
		} else {
			ck_assert_uint_eq(out[1], (masked ? 0x80 : 0) | 127);
			for (i = 0; i < 8; i++)
				ck_assert_uint_eq(out[2 + i],
				    (len >> (56 - 8 * i)) & 0xff);
		}
		if (masked)
			ck_assert_mem_eq(out + want - 4, key, 4);

		memset(&f, 0xee, sizeof(f));
		ck_assert_int_eq(guarded_parse(out, h, &f), (int)h);
		check_fields(&f, fin, 0, op, masked ? key : NULL, len);
		check_truncations(out, h);
	}
}
END_TEST

START_TEST(length_msb_set)
{
	uint8_t hdr[14] = { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	struct ws_frame f;

	ck_assert_int_eq(guarded_parse(hdr, 10, &f), WS_E_PROTOCOL);
	memset(hdr + 2, 0xff, 8);
	ck_assert_int_eq(guarded_parse(hdr, 10, &f), WS_E_PROTOCOL);
	/* Masked: the same verdict once the whole header is there. */
	hdr[1] = 0xff;
	memcpy(hdr + 10, rfc_key, 4);
	ck_assert_int_eq(guarded_parse(hdr, 14, &f), WS_E_PROTOCOL);
	hdr[2] = 0x80;
	memset(hdr + 3, 0, 7);
	ck_assert_int_eq(guarded_parse(hdr, 14, &f), WS_E_PROTOCOL);
	/* 2^63 - 1 is the largest allowed. */
	hdr[2] = 0x7f;
	memset(hdr + 3, 0xff, 7);
	ck_assert_int_eq(guarded_parse(hdr, 14, &f), 14);
	ck_assert(f.len == 0x7fffffffffffffffULL);
}
END_TEST

/* The codec judges nothing but the MSB: non-minimal lengths parse. */
START_TEST(length_nonminimal_parses)
{
	static const uint8_t h16[] = { 0x82, 0x7e, 0x00, 0x05 };
	static const uint8_t h64[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x7d };
	struct ws_frame f;

	ck_assert_int_eq(guarded_parse(h16, sizeof(h16), &f), 4);
	ck_assert(f.len == 5);
	ck_assert_int_eq(guarded_parse(h64, sizeof(h64), &f), 10);
	ck_assert(f.len == 125);
}
END_TEST

START_TEST(header_len_values)
{
	ck_assert_uint_eq(ws_frame_header_len(0, 0), 2);
	ck_assert_uint_eq(ws_frame_header_len(125, 0), 2);
	ck_assert_uint_eq(ws_frame_header_len(126, 0), 4);
	ck_assert_uint_eq(ws_frame_header_len(65535, 0), 4);
	ck_assert_uint_eq(ws_frame_header_len(65536, 0), 10);
	ck_assert_uint_eq(ws_frame_header_len(UINT64_C(1) << 32, 0), 10);
	ck_assert_uint_eq(ws_frame_header_len(0, 1), 6);
	ck_assert_uint_eq(ws_frame_header_len(125, 1), 6);
	ck_assert_uint_eq(ws_frame_header_len(126, 1), 8);
	ck_assert_uint_eq(ws_frame_header_len(65535, 1), 8);
	ck_assert_uint_eq(ws_frame_header_len(65536, 1), 14);
	ck_assert_uint_eq(ws_frame_header_len(0x7fffffffffffffffULL, 1), 14);
}
END_TEST

/* ----------------------------------------------- opcodes and RSV bits */

START_TEST(all_opcodes_rsv_parse)
{
	static const uint8_t key[4] = { 1, 2, 3, 4 };
	unsigned op, rsv, fin, masked;
	uint8_t hdr[6], built[WS_FRAME_HEADER_MAX];
	struct ws_frame f;
	size_t h;

	for (op = 0; op < 16; op++)
	for (rsv = 0; rsv < 8; rsv++)
	for (fin = 0; fin <= 1; fin++)
	for (masked = 0; masked <= 1; masked++) {
		hdr[0] = (uint8_t)(fin << 7 | rsv << 4 | op);
		hdr[1] = (uint8_t)(masked << 7 | 7);
		memcpy(hdr + 2, key, 4);
		h = masked ? 6 : 2;
		memset(&f, 0xee, sizeof(f));
		ck_assert_msg(guarded_parse(hdr, h, &f) == (int)h,
		    "0x%02x 0x%02x not parsed", hdr[0], hdr[1]);
		check_fields(&f, fin, rsv, op, masked ? key : NULL, 7);

		ck_assert_uint_eq(ws_frame_header(built, op, (int)fin, rsv, 7,
		    masked ? key : NULL), h);
		ck_assert_mem_eq(built, hdr, h);
	}
}
END_TEST

START_TEST(opcode_valid)
{
	unsigned op;

	for (op = 0; op < 16; op++)
		ck_assert_msg(ws_opcode_valid(op) == (op <= 2 ||
		    (op >= 8 && op <= 10)), "opcode %u", op);
	ck_assert_int_eq(ws_opcode_valid(16), 0);
	ck_assert_int_eq(ws_opcode_valid(0x11), 0);
	ck_assert_int_eq(ws_opcode_valid(0x81), 0);
	ck_assert_int_eq(ws_opcode_valid(0x101), 0);
	ck_assert_int_eq(ws_opcode_valid(~0u), 0);
}
END_TEST

/* -------------------------------------------------------------- ws_mask */

static const uint8_t mask_keys[][4] = {
	{ 0x37, 0xfa, 0x21, 0x3d },
	{ 0x00, 0x00, 0x00, 0x00 },
	{ 0xff, 0x00, 0xaa, 0x55 },
	{ 0x01, 0x02, 0x04, 0x80 },
};

static void
check_mask_one(size_t n, size_t align, size_t offset, const uint8_t key[4],
    uint32_t seed)
{
	uint8_t *src, *want, *g;
	size_t total = align + n;

	src = malloc(total + 1);
	want = malloc(total + 1);
	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(want);
	fill_random(src, total, seed);
	memcpy(want, src, total);
	ref_mask(want + align, n, key, offset);

	/* The buffer ends at a guard page: no over-read past p + n. */
	g = tu_guard_copy(src, total);
	ws_mask(g + align, n, key, offset);
	ck_assert_msg(memcmp(g, want, total) == 0,
	    "ws_mask n %zu align %zu offset %zu differs from reference", n,
	    align, offset);
	/* Masking twice restores the input. */
	ws_mask(g + align, n, key, offset);
	ck_assert_msg(memcmp(g, src, total) == 0,
	    "ws_mask twice n %zu align %zu offset %zu", n, align, offset);
	tu_guard_free(g, total);
	free(src);
	free(want);
}

START_TEST(mask_reference_small)
{
	static const size_t aligns[] = { 0, 1, 3, 4, 7 };
	size_t n = (size_t)_i, a, off, k;

	for (k = 0; k < sizeof(mask_keys) / sizeof(mask_keys[0]); k++)
	for (a = 0; a < sizeof(aligns) / sizeof(aligns[0]); a++)
	for (off = 0; off < 8; off++)
		check_mask_one(n, aligns[a], off, mask_keys[k],
		    (uint32_t)(n * 131 + off * 7 + a + 1));
}
END_TEST

START_TEST(mask_reference_large)
{
	static const size_t lens[] = { 4096 + 3, 65536 + 1, 65536 + 7 };
	static const size_t aligns[] = { 0, 1, 3 };
	size_t l, a, off;

	for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
	for (a = 0; a < sizeof(aligns) / sizeof(aligns[0]); a++)
	for (off = 0; off < 8; off++)
		check_mask_one(lens[l], aligns[a], off, mask_keys[0],
		    (uint32_t)(l * 17 + a * 3 + off + 5));
	/* A large offset is taken mod 4. */
	check_mask_one(1000, 1, (size_t)1000003, mask_keys[2], 77);
	check_mask_one(1000, 3, SIZE_MAX, mask_keys[2], 78);
}
END_TEST

START_TEST(mask_split_running_offset)
{
	static const size_t cuts[][6] = {
		{ 1, 1, 1, 1, 1, 0 },
		{ 3, 5, 7, 11, 13, 0 },
		{ 8, 16, 1, 31, 2, 0 },
		{ 0, 0, 64, 3, 0, 0 },
		{ 127, 1, 2, 200, 9, 0 },
	};
	uint8_t src[1500], whole[1500], *g;
	size_t c, i, pos, piece, off;
	size_t n = sizeof(src);

	fill_random(src, n, 4242);
	for (off = 0; off < 4; off++)
	for (c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		memcpy(whole, src, n);
		ws_mask(whole, n, rfc_key, off);

		g = tu_guard_copy(src, n);
		pos = 0;
		for (i = 0; pos < n; i++) {
			piece = i < 6 && cuts[c][i] != 0 ? cuts[c][i] :
			    (size_t)(i * 37 % 101) + 1;
			if (piece > n - pos)
				piece = n - pos;
			ws_mask(g + pos, piece, rfc_key, off + pos);
			pos += piece;
		}
		ck_assert_msg(memcmp(g, whole, n) == 0,
		    "split masking differs (cuts %zu, offset %zu)", c, off);
		tu_guard_free(g, n);
		/* And the whole equals the reference. */
		memcpy(whole, src, n);
		ref_mask(whole, n, rfc_key, off);
		g = tu_guard_copy(src, n);
		ws_mask(g, n, rfc_key, off);
		ck_assert_mem_eq(g, whole, n);
		tu_guard_free(g, n);
	}
}
END_TEST

/* Every split point of a 200-byte buffer, masked as two pieces. */
START_TEST(mask_split_every_point)
{
	uint8_t src[200], whole[200], buf[200];
	size_t cut, off;

	fill_random(src, sizeof(src), 99);
	for (off = 0; off < 4; off++) {
		memcpy(whole, src, sizeof(src));
		ref_mask(whole, sizeof(whole), mask_keys[2], off);
		for (cut = 0; cut <= sizeof(src); cut++) {
			memcpy(buf, src, sizeof(src));
			ws_mask(buf, cut, mask_keys[2], off);
			ws_mask(buf + cut, sizeof(buf) - cut, mask_keys[2],
			    off + cut);
			ck_assert_msg(memcmp(buf, whole, sizeof(buf)) == 0,
			    "cut %zu offset %zu", cut, off);
		}
	}
}
END_TEST

/* ------------------------------------- server: frame-level violations */

START_TEST(server_unmasked_client_frame)
{
	uint8_t buf[64];
	size_t n;

	n = tu_server_frame(buf, 0x81, "Hello", 5);
	expect_server_fail_all_chunks(buf, n, NULL, WS_E_PROTOCOL,
	    WS_CLOSE_PROTOCOL);
	n = tu_server_frame(buf, 0x82, "", 0);
	expect_server_fail_all_chunks(buf, n, NULL, WS_E_PROTOCOL,
	    WS_CLOSE_PROTOCOL);
	n = tu_server_frame(buf, 0x89, "p", 1);
	expect_server_fail_all_chunks(buf, n, NULL, WS_E_PROTOCOL,
	    WS_CLOSE_PROTOCOL);
	/* Decided from the header alone: two bytes are enough. */
	n = tu_server_frame(buf, 0x82, "Hello", 5);
	expect_server_fail(buf, 2, 0, NULL, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL);
}
END_TEST

START_TEST(server_rsv_bits)
{
	unsigned rsv = (unsigned)_i + 1;	/* 1..7 */
	uint8_t buf[64];
	size_t n;

	n = tu_client_frame(buf, (uint8_t)(0x80 | rsv << 4 | WS_OP_TEXT),
	    "Hello", 5);
	expect_server_fail_all_chunks(buf, n, NULL, WS_E_PROTOCOL,
	    WS_CLOSE_PROTOCOL);
	n = tu_client_frame(buf, (uint8_t)(0x80 | rsv << 4 | WS_OP_BINARY),
	    "", 0);
	expect_server_fail_all_chunks(buf, n, NULL, WS_E_PROTOCOL,
	    WS_CLOSE_PROTOCOL);
	n = tu_client_frame(buf, (uint8_t)(0x80 | rsv << 4 | WS_OP_PING),
	    "x", 1);
	expect_server_fail_all_chunks(buf, n, NULL, WS_E_PROTOCOL,
	    WS_CLOSE_PROTOCOL);
}
END_TEST

START_TEST(server_reserved_opcodes)
{
	static const unsigned ops[] = {
		3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf
	};
	uint8_t buf[64];
	size_t i, n;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		n = tu_client_frame(buf, (uint8_t)(0x80 | ops[i]), "abc", 3);
		expect_server_fail_all_chunks(buf, n, NULL, WS_E_PROTOCOL,
		    WS_CLOSE_PROTOCOL);
		n = tu_client_frame(buf, (uint8_t)ops[i], "", 0);
		expect_server_fail(buf, n, 0, NULL, WS_E_PROTOCOL,
		    WS_CLOSE_PROTOCOL);
	}
}
END_TEST

START_TEST(server_control_too_long)
{
	static const uint8_t ops[] = { WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE };
	uint8_t payload[126], buf[256];
	size_t i, n;

	memset(payload, 'a', sizeof(payload));
	payload[0] = 0x03;
	payload[1] = 0xe8;	/* a valid close code, for the close case */
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		n = tu_client_frame(buf, (uint8_t)(0x80 | ops[i]), payload,
		    126);
		ck_assert_uint_eq(buf[1], 0x80 | 126);
		expect_server_fail(buf, n, 0, NULL, WS_E_PROTOCOL,
		    WS_CLOSE_PROTOCOL);
		expect_server_fail(buf, n, 1, NULL, WS_E_PROTOCOL,
		    WS_CLOSE_PROTOCOL);
	}
}
END_TEST

START_TEST(server_control_fragmented)
{
	static const uint8_t ops[] = { WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE };
	uint8_t buf[64];
	size_t i, n;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		n = tu_client_frame(buf, ops[i], "\x03\xe8", 2);
		expect_server_fail_all_chunks(buf, n, NULL, WS_E_PROTOCOL,
		    WS_CLOSE_PROTOCOL);
		n = tu_client_frame(buf, ops[i], "", 0);
		expect_server_fail(buf, n, 0, NULL, WS_E_PROTOCOL,
		    WS_CLOSE_PROTOCOL);
	}
}
END_TEST

START_TEST(server_length_msb_set)
{
	uint8_t buf[14] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0x05,
	    0x37, 0xfa, 0x21, 0x3d };

	/* Header only: no payload can ever follow such a length. */
	expect_server_fail_all_chunks(buf, sizeof(buf), NULL, WS_E_PROTOCOL,
	    WS_CLOSE_PROTOCOL);
	memset(buf + 2, 0xff, 8);
	expect_server_fail(buf, sizeof(buf), 0, NULL, WS_E_PROTOCOL,
	    WS_CLOSE_PROTOCOL);
}
END_TEST

START_TEST(server_frame_too_big_header_only)
{
	/* Binary, FIN, masked, 64-bit length 2 MiB, mask key. */
	static const uint8_t hdr[14] = {
		0x82, 0xff, 0, 0, 0, 0, 0, 0x20, 0, 0, 0x37, 0xfa, 0x21, 0x3d
	};
	struct ws_frame f;

	ck_assert_int_eq(ws_frame_parse(hdr, sizeof(hdr), &f), 14);
	ck_assert(f.len == 2 * 1024 * 1024);
	expect_server_fail_all_chunks(hdr, sizeof(hdr), NULL, WS_E_TOO_BIG,
	    WS_CLOSE_TOO_BIG);
}
END_TEST

START_TEST(server_frame_size_limit_boundary)
{
	struct ws_limits l;
	uint8_t payload[201], buf[256];
	struct ws_conn *s;
	struct tu_rec r = { 0 };
	size_t n;

	ws_limits_default(&l);
	ck_assert(l.max_frame_size == 1024 * 1024);
	ck_assert(l.max_message_size == WS_DEFAULT_MAX_MESSAGE_SIZE);
	l.max_frame_size = 200;
	memset(payload, 0xab, sizeof(payload));

	/* Exactly the limit: delivered. */
	s = tu_server_open(&l, NULL);
	n = tu_client_frame(buf, 0x82, payload, 200);
	ck_assert_uint_eq(tu_feed(s, buf, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_BINARY);
	ck_assert_uint_eq(r.ev[0].len, 200);
	ck_assert_mem_eq(r.ev[0].data, payload, 200);
	ck_assert_uint_eq(ws_close_code_sent(s), 0);
	tu_rec_reset(&r);
	ws_conn_free(s);

	/* One more: refused from the 8 header bytes alone. */
	n = tu_client_frame(buf, 0x82, payload, 201);
	ck_assert_uint_eq(n, 8 + 201);
	expect_server_fail(buf, 8, 0, &l, WS_E_TOO_BIG, WS_CLOSE_TOO_BIG);
	expect_server_fail(buf, 8, 1, &l, WS_E_TOO_BIG, WS_CLOSE_TOO_BIG);
	expect_server_fail(buf, n, 0, &l, WS_E_TOO_BIG, WS_CLOSE_TOO_BIG);
	/* A fragment counts as a frame. */
	n = tu_client_frame(buf, 0x02, payload, 201);
	expect_server_fail(buf, 8, 0, &l, WS_E_TOO_BIG, WS_CLOSE_TOO_BIG);
}
END_TEST

/* A valid frame through the same path: no error, so the above can fail. */
START_TEST(server_valid_frames_accepted)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	uint8_t buf[256];
	size_t n = 0;

	n += tu_client_frame(buf + n, 0x81, "Hello", 5);
	n += tu_client_frame(buf + n, 0x01, "Hel", 3);
	n += tu_client_frame(buf + n, 0x89, "ping", 4);
	n += tu_client_frame(buf + n, 0x80, "lo", 2);
	n += tu_client_frame(buf + n, 0x8a, "", 0);
	ck_assert_uint_eq(tu_feed(s, buf, n, 1, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.consumed, n);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_int_eq(r.ev[0].type, WS_EV_TEXT);
	ck_assert_uint_eq(r.ev[0].len, 5);
	ck_assert_mem_eq(r.ev[0].data, "Hello", 5);
	ck_assert_int_eq(r.ev[1].type, WS_EV_PING);
	ck_assert_uint_eq(r.ev[1].len, 4);
	ck_assert_mem_eq(r.ev[1].data, "ping", 4);
	ck_assert_int_eq(r.ev[2].type, WS_EV_TEXT);
	ck_assert_uint_eq(r.ev[2].len, 5);
	ck_assert_mem_eq(r.ev[2].data, "Hello", 5);
	ck_assert_int_eq(r.ev[3].type, WS_EV_PONG);
	ck_assert_uint_eq(r.ev[3].len, 0);
	ck_assert_uint_eq(ws_close_code_sent(s), 0);
	ck_assert_int_eq(ws_close_expected(s), 0);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

/* ------------------------------------------------------- client role */

START_TEST(client_masked_frame_from_server)
{
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	uint8_t buf[64];
	size_t n;

	tu_pair_open(&c, &s, NULL);
	n = tu_client_frame(buf, 0x81, "Hello", 5);
	tu_feed(c, buf, n, 0, &r, 0);
	ck_assert_int_eq(r.status, WS_E_PROTOCOL);
	ck_assert_uint_eq(r.n, 0);
	check_close_output(c, WS_CLOSE_PROTOCOL, 1);
	tu_rec_reset(&r);
	ws_conn_free(c);
	ws_conn_free(s);

	/* The unmasked form is fine for a client. */
	tu_pair_open(&c, &s, NULL);
	n = tu_server_frame(buf, 0x81, "Hello", 5);
	ck_assert_uint_eq(tu_feed(c, buf, n, 1, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_TEXT);
	ck_assert_mem_eq(r.ev[0].data, "Hello", 5);
	tu_rec_reset(&r);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

START_TEST(client_frames_masked_fresh_keys)
{
	struct ws_conn *c, *s;
	struct tu_rec r = { 0 };
	uint8_t keys[8][4];
	uint8_t *out;
	size_t n, i, j;
	struct ws_frame f;
	int h, differ = 0;

	tu_pair_open(&c, &s, NULL);
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(ws_send(c, WS_OP_TEXT, "Hello", 5), WS_OK);
		out = tu_drain(c, &n);
		h = ws_frame_parse(out, n, &f);
		ck_assert_int_eq(h, 6);
		ck_assert_uint_eq(f.masked, 1);
		ck_assert_uint_eq(f.fin, 1);
		ck_assert_uint_eq(f.rsv, 0);
		ck_assert_uint_eq(f.opcode, WS_OP_TEXT);
		ck_assert(f.len == 5);
		ck_assert_uint_eq(n, 11);
		memcpy(keys[i], f.mask, 4);
		ws_mask(out + h, 5, f.mask, 0);
		ck_assert_mem_eq(out + h, "Hello", 5);

		/* The server accepts it. */
		ws_mask(out + h, 5, f.mask, 0);
		tu_feed(s, out, n, 0, &r, 0);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.n, i + 1);
		ck_assert_int_eq(r.ev[i].type, WS_EV_TEXT);
		ck_assert_mem_eq(r.ev[i].data, "Hello", 5);
		free(out);
	}
	for (i = 0; i < 8; i++)
		for (j = i + 1; j < 8; j++)
			if (memcmp(keys[i], keys[j], 4) != 0)
				differ = 1;
	ck_assert_msg(differ, "8 client frames all used the same mask key");

	/* Binary and ping are masked too. */
	ck_assert_int_eq(ws_send(c, WS_OP_BINARY, "\0\1\2", 3), WS_OK);
	ck_assert_int_eq(ws_send(c, WS_OP_PING, "", 0), WS_OK);
	out = tu_drain(c, &n);
	h = ws_frame_parse(out, n, &f);
	ck_assert_int_eq(h, 6);
	ck_assert_uint_eq(f.masked, 1);
	ck_assert_uint_eq(f.opcode, WS_OP_BINARY);
	ck_assert_int_eq(ws_frame_parse(out + 9, n - 9, &f), 6);
	ck_assert_uint_eq(f.masked, 1);
	ck_assert_uint_eq(f.opcode, WS_OP_PING);
	ck_assert_uint_eq(n, 9 + 6);
	free(out);

	tu_rec_reset(&r);
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

struct rnd_log {
	uint8_t bytes[65536];
	size_t n;
	uint8_t next;
	int calls;
};

static int
counting_random(uint8_t *buf, size_t len, void *ud)
{
	struct rnd_log *l = ud;
	size_t i;

	l->calls++;
	for (i = 0; i < len; i++) {
		buf[i] = l->next;
		/* An LCG with full period over the bytes. */
		l->next = (uint8_t)(l->next * 5 + 0x1b);
		if (l->n < sizeof(l->bytes))
			l->bytes[l->n++] = buf[i];
	}
	return 0;
}

/* 1 if key[0..4) occurs in the bytes the source handed out. */
static int
key_from_source(const struct rnd_log *l, const uint8_t key[4])
{
	size_t i;

	for (i = 0; i + 4 <= l->n; i++)
		if (memcmp(l->bytes + i, key, 4) == 0)
			return 1;
	return 0;
}

START_TEST(client_mask_from_random_source)
{
	struct ws_conn *c, *s;
	struct rnd_log lg;
	uint8_t *out, plain[5];
	size_t n, i, before;
	struct ws_frame f;
	uint8_t prev[4];

	tu_pair_open(&c, &s, NULL);
	memset(&lg, 0, sizeof(lg));
	lg.next = 0x42;
	ws_conn_set_random(c, counting_random, &lg);
	for (i = 0; i < 4; i++) {
		before = lg.n;
		ck_assert_int_eq(ws_send(c, WS_OP_BINARY, "Hello", 5), WS_OK);
		out = tu_drain(c, &n);
		ck_assert_int_eq(ws_frame_parse(out, n, &f), 6);
		ck_assert_uint_eq(f.masked, 1);
		ck_assert_msg(key_from_source(&lg, f.mask),
		    "mask %02x%02x%02x%02x not from the random source",
		    f.mask[0], f.mask[1], f.mask[2], f.mask[3]);
		/* The usual case: the last four bytes handed out. */
		if (lg.n - before == 4)
			ck_assert_mem_eq(f.mask, lg.bytes + before, 4);
		memcpy(plain, "Hello", 5);
		ref_mask(plain, 5, f.mask, 0);
		ck_assert_mem_eq(out + 6, plain, 5);
		if (i > 0)
			ck_assert_mem_ne(f.mask, prev, 4);
		memcpy(prev, f.mask, 4);
		free(out);
	}
	ws_conn_free(c);
	ws_conn_free(s);
}
END_TEST

/* --------------------------------------------------- ws_send_header */

START_TEST(send_header_matches_codec)
{
	static const struct {
		enum ws_opcode op;
		int fin;
		size_t len;
	} cases[] = {
		{ WS_OP_TEXT, 1, 0 }, { WS_OP_TEXT, 1, 5 },
		{ WS_OP_TEXT, 1, 125 }, { WS_OP_TEXT, 1, 126 },
		{ WS_OP_TEXT, 1, 65535 }, { WS_OP_TEXT, 1, 65536 },
		{ WS_OP_BINARY, 1, 0 }, { WS_OP_BINARY, 1, 126 },
		{ WS_OP_BINARY, 1, 70000 }, { WS_OP_BINARY, 1, 125 },
	};
	struct ws_conn *s = tu_server_open(NULL, NULL);
	uint8_t *data, hdr[WS_FRAME_HEADER_MAX + 2], want[WS_FRAME_HEADER_MAX];
	size_t i, wn, n;
	int h;

	data = malloc(70000);
	ck_assert_ptr_nonnull(data);
	memset(data, 'a', 70000);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(hdr, 0xee, sizeof(hdr));
		h = ws_send_header(s, cases[i].op, cases[i].fin, data,
		    cases[i].len, 0, hdr);
		wn = ws_frame_header(want, cases[i].op, cases[i].fin, 0,
		    cases[i].len, NULL);
		ck_assert_msg(h == (int)wn, "case %zu: %d, want %zu", i, h,
		    wn);
		ck_assert_mem_eq(hdr, want, wn);
		ck_assert_uint_eq(hdr[WS_FRAME_HEADER_MAX], 0xee);
		/* Only the header, and nothing queued. */
		ck_assert_ptr_null(ws_output(s, &n));
		ck_assert_uint_eq(n, 0);
		ck_assert_int_eq(ws_can_send(s), 1);
	}

	/* A fragmented message, with a ping queued in between. */
	h = ws_send_header(s, WS_OP_TEXT, 0, "Hel", 3, 0, hdr);
	ck_assert_int_eq(h, 2);
	ck_assert_uint_eq(hdr[0], 0x01);
	ck_assert_uint_eq(hdr[1], 0x03);
	ck_assert_int_eq(ws_can_send(s), 0);
	/* A new message may not start inside a fragmented one. */
	ck_assert_int_eq(ws_send_header(s, WS_OP_BINARY, 1, "x", 1, 0, hdr),
	    WS_E_STATE);
	ck_assert_int_eq(ws_send(s, WS_OP_PING, "", 0), WS_OK);
	{
		uint8_t *out = tu_drain(s, &n);

		ck_assert_uint_eq(n, 2);
		ck_assert_uint_eq(out[0], 0x89);
		ck_assert_uint_eq(out[1], 0x00);
		free(out);
	}
	h = ws_send_header(s, WS_OP_CONT, 1, "lo", 2, 0, hdr);
	ck_assert_int_eq(h, 2);
	ck_assert_uint_eq(hdr[0], 0x80);
	ck_assert_uint_eq(hdr[1], 0x02);
	ck_assert_int_eq(ws_can_send(s), 1);

	free(data);
	ws_conn_free(s);
}
END_TEST

START_TEST(send_header_utf8)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	static const char bad[] = "ab\xff";
	static const char surrogate[] = "\xed\xa0\x80";
	static const char good[] =
	    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";

	ck_assert_int_eq(ws_send_header(s, WS_OP_TEXT, 1, bad, 3, 0, hdr),
	    WS_E_INVAL);
	ck_assert_int_eq(ws_send_header(s, WS_OP_TEXT, 1, surrogate, 3, 0,
	    hdr), WS_E_INVAL);
	/* A message may not end inside a sequence. */
	ck_assert_int_eq(ws_send_header(s, WS_OP_TEXT, 1, good, 1, 0, hdr),
	    WS_E_INVAL);
	/* Usage errors change nothing. */
	ck_assert_int_eq(ws_can_send(s), 1);
	ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
	ck_assert_uint_eq(ws_close_code_sent(s), 0);

	ck_assert_int_eq(ws_send_header(s, WS_OP_TEXT, 1, good, 11, 0, hdr),
	    2);
	ck_assert_uint_eq(hdr[0], 0x81);
	ck_assert_uint_eq(hdr[1], 11);
	/* Trusted text is not checked. */
	ck_assert_int_eq(ws_send_header(s, WS_OP_TEXT, 1, bad, 3, 1, hdr), 2);
	ck_assert_uint_eq(hdr[0], 0x81);
	ck_assert_uint_eq(hdr[1], 3);
	/* Binary is never checked. */
	ck_assert_int_eq(ws_send_header(s, WS_OP_BINARY, 1, bad, 3, 0, hdr),
	    2);
	ck_assert_uint_eq(hdr[0], 0x82);

	/* Across fragments: a sequence may straddle them. */
	ck_assert_int_eq(ws_send_header(s, WS_OP_TEXT, 0, good, 1, 0, hdr),
	    2);
	ck_assert_int_eq(ws_send_header(s, WS_OP_CONT, 1, good + 1, 10, 0,
	    hdr), 2);
	ck_assert_uint_eq(hdr[0], 0x80);
	ck_assert_int_eq(ws_can_send(s), 1);
	ws_conn_free(s);
}
END_TEST

START_TEST(send_header_state)
{
	struct ws_conn *c, *s, *n;
	uint8_t hdr[WS_FRAME_HEADER_MAX];

	/* A client may not: its frames must be masked. */
	tu_pair_open(&c, &s, NULL);
	ck_assert_int_eq(ws_send_header(c, WS_OP_BINARY, 1, "x", 1, 0, hdr),
	    WS_E_STATE);
	ck_assert_int_eq(ws_send_header(c, WS_OP_TEXT, 1, "x", 1, 1, hdr),
	    WS_E_STATE);
	ck_assert_int_eq(ws_send_header(s, WS_OP_BINARY, 1, "x", 1, 0, hdr),
	    2);
	ws_conn_free(c);
	ws_conn_free(s);

	/* A server before the handshake. */
	n = ws_conn_new(WS_ROLE_SERVER, NULL, NULL);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(ws_conn_state(n), WS_CONNECTING);
	ck_assert_int_eq(ws_send_header(n, WS_OP_BINARY, 1, "x", 1, 0, hdr),
	    WS_E_STATE);
	ck_assert_int_eq(ws_send_header(n, WS_OP_TEXT, 1, "x", 1, 1, hdr),
	    WS_E_STATE);
	ws_conn_free(n);

	/* A client before the handshake. */
	n = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(ws_send_header(n, WS_OP_BINARY, 1, "x", 1, 0, hdr),
	    WS_E_STATE);
	ws_conn_free(n);

	/* A server after it failed the connection. */
	s = tu_server_open(NULL, NULL);
	{
		uint8_t buf[16];
		size_t len = tu_server_frame(buf, 0x81, "x", 1);
		struct tu_rec r = { 0 };

		tu_feed(s, buf, len, 0, &r, 0);
		ck_assert_int_eq(r.status, WS_E_PROTOCOL);
	}
	ck_assert_int_eq(ws_send_header(s, WS_OP_BINARY, 1, "x", 1, 0, hdr),
	    WS_E_STATE);
	ws_conn_free(s);
}
END_TEST

static Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc;
	int nex = (int)(sizeof(rfc_examples) / sizeof(rfc_examples[0]));
	int nlen = (int)(sizeof(boundary_lens) / sizeof(boundary_lens[0]));

	tc = tcase_create("codec");
	tcase_add_loop_test(tc, rfc_example_parse, 0, nex);
	tcase_add_loop_test(tc, rfc_example_build, 0, nex);
	tcase_add_test(tc, rfc_masked_hello_bytes);
	tcase_add_loop_test(tc, length_roundtrip, 0, nlen);
	tcase_add_test(tc, length_msb_set);
	tcase_add_test(tc, length_nonminimal_parses);
	tcase_add_test(tc, header_len_values);
	tcase_add_test(tc, all_opcodes_rsv_parse);
	tcase_add_test(tc, opcode_valid);
	suite_add_tcase(s, tc);

	tc = tcase_create("mask");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, mask_reference_small, 0, 68);
	tcase_add_test(tc, mask_reference_large);
	tcase_add_test(tc, mask_split_running_offset);
	tcase_add_test(tc, mask_split_every_point);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, server_unmasked_client_frame);
	tcase_add_loop_test(tc, server_rsv_bits, 0, 7);
	tcase_add_test(tc, server_reserved_opcodes);
	tcase_add_test(tc, server_control_too_long);
	tcase_add_test(tc, server_control_fragmented);
	tcase_add_test(tc, server_length_msb_set);
	tcase_add_test(tc, server_frame_too_big_header_only);
	tcase_add_test(tc, server_frame_size_limit_boundary);
	tcase_add_test(tc, server_valid_frames_accepted);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_add_test(tc, client_masked_frame_from_server);
	tcase_add_test(tc, client_frames_masked_fresh_keys);
	tcase_add_test(tc, client_mask_from_random_source);
	suite_add_tcase(s, tc);

	tc = tcase_create("send_header");
	tcase_add_test(tc, send_header_matches_codec);
	tcase_add_test(tc, send_header_utf8);
	tcase_add_test(tc, send_header_state);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(frame_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
