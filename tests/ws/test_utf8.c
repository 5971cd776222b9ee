/*
 * test_utf8.c - incremental UTF-8 validation (utf8.h, RFC 3629) and the
 * text rules a server ws_conn enforces with it (RFC 6455 sections 5.6,
 * 8.1).
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

struct u8case {
	const char *s;
	size_t len;
};

#define U8(lit) { lit, sizeof(lit) - 1 }

/* Valid: the final state is ACCEPT. */
static const struct u8case valid[] = {
	U8(""),
	U8("a"),
	U8("Hello, world"),
	U8("\0"),
	U8("\x7f"),
	U8("\xc2\x80"),			/* U+0080 */
	U8("\xc3\xa9"),			/* U+00E9 */
	U8("\xdf\xbf"),			/* U+07FF */
	U8("\xe0\xa0\x80"),		/* U+0800 */
	U8("\xe2\x82\xac"),		/* U+20AC */
	U8("\xed\x9f\xbf"),		/* U+D7FF */
	U8("\xee\x80\x80"),		/* U+E000 */
	U8("\xef\xbf\xbd"),		/* U+FFFD */
	U8("\xef\xbf\xbf"),		/* U+FFFF */
	U8("\xf0\x90\x80\x80"),		/* U+10000 */
	U8("\xf0\x9d\x84\x9e"),		/* U+1D11E */
	U8("\xf1\x80\x80\x80"),		/* U+40000 */
	U8("\xf3\xbf\xbf\xbf"),		/* U+FFFFF */
	U8("\xf4\x80\x80\x80"),		/* U+100000 */
	U8("\xf4\x8f\xbf\xbf"),		/* U+10FFFF */
	/* Markus Kuhn: kosme */
	U8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
	U8("a\xc2\x80" "b\xdf\xbf" "c\xe0\xa0\x80" "d\xef\xbf\xbf"
	    "e\xf0\x90\x80\x80" "f\xf4\x8f\xbf\xbf" "g\xed\x9f\xbf"
	    "h\xee\x80\x80" "i"),
	U8("\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"),
	U8("0123456789abcdef0123456789abcdef0123456789abcdef0123456\xc3\xa9"
	    "0123456789abcdef0123456789abcdef0123456789abcdef012345\xe2\x82\xac"
	    "xyz"),
};

/* Invalid: the final state is REJECT. */
static const struct u8case invalid[] = {
	/* overlongs */
	U8("\xc0\x80"), U8("\xc0\xaf"), U8("\xc1\xbf"), U8("\xc1\x80"),
	U8("\xe0\x80\x80"), U8("\xe0\x80\xaf"), U8("\xe0\x9f\xbf"),
	U8("\xf0\x80\x80\x80"), U8("\xf0\x80\x80\xaf"),
	U8("\xf0\x8f\xbf\xbf"),
	/* surrogates U+D800..U+DFFF */
	U8("\xed\xa0\x80"), U8("\xed\xad\xbf"), U8("\xed\xae\x80"),
	U8("\xed\xaf\xbf"), U8("\xed\xb0\x80"), U8("\xed\xbe\x80"),
	U8("\xed\xbf\xbf"), U8("\xed\xa0\x80\xed\xb0\x80"),
	/* above U+10FFFF, and lead bytes that never occur */
	U8("\xf4\x90\x80\x80"), U8("\xf4\xbf\xbf\xbf"),
	U8("\xf5\x80\x80\x80"), U8("\xf7\xbf\xbf\xbf"),
	U8("\xf8\x88\x80\x80\x80"), U8("\xfc\x84\x80\x80\x80\x80"),
	U8("\xfe"), U8("\xff"), U8("\xfe\xfe\xff\xff"),
	/* lone and extra continuation bytes */
	U8("\x80"), U8("\xbf"), U8("a\x80"), U8("\xc3\xa9\xa9"),
	U8("\xe2\x82\xac\x80"),
	/* a lead byte followed by something else */
	U8("\xc2\x41"), U8("\xc2\xc2\x80"), U8("\xe1\x41\x80"),
	U8("\xe1\x80\x41"), U8("\xf1\x80\x80\x41"), U8("\xf1\x41\x80\x80"),
	U8("\xe0\xa0\xc0"),
	/* kosme with a byte dropped inside a sequence */
	U8("\xce\xba\xe1\xbd\xcf\x83\xce\xbc\xce\xb5"),
	/* valid text, then an invalid byte, then valid text */
	U8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited"),
};

/* Incomplete: valid so far, but the text ends inside a sequence. */
static const struct u8case incomplete[] = {
	U8("\xc2"), U8("\xdf"), U8("\xe0"), U8("\xe0\xa0"), U8("\xe1\x80"),
	U8("\xed"), U8("\xed\x9f"), U8("\xef\xbf"), U8("\xf0"),
	U8("\xf0\x90"), U8("\xf0\x90\x80"), U8("\xf1\x80\x80"),
	U8("\xf4"), U8("\xf4\x8f"), U8("\xf4\x8f\xbf"),
	U8("hello\xe2\x82"),
	U8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce"),
};

/*
 * The shortest prefixes that can no longer become valid: the validator
 * must say REJECT as soon as it has seen them (fail fast).
 */
static const struct u8case reject_early[] = {
	U8("\xc0"), U8("\xc1"), U8("\xf5"), U8("\xf6"), U8("\xf7"),
	U8("\xf8"), U8("\xf9"), U8("\xfa"), U8("\xfb"), U8("\xfc"),
	U8("\xfd"), U8("\xfe"), U8("\xff"), U8("\x80"), U8("\xbf"),
	U8("\xe0\x80"), U8("\xe0\x9f"), U8("\xed\xa0"), U8("\xed\xbf"),
	U8("\xf0\x80"), U8("\xf0\x8f"), U8("\xf4\x90"), U8("\xf4\xbf"),
	U8("\xc2\x41"), U8("\xe1\x41"), U8("\xe1\x80\x41"),
	U8("\xf1\x80\x80\x41"), U8("abc\xc0"),
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum verdict { V_ACCEPT, V_REJECT, V_INCOMPLETE };

static enum verdict
verdict(uint32_t st)
{
	if (st == WS_UTF8_ACCEPT)
		return V_ACCEPT;
	if (st == WS_UTF8_REJECT)
		return V_REJECT;
	return V_INCOMPLETE;
}

static const char *
vname(enum verdict v)
{
	return v == V_ACCEPT ? "ACCEPT" : v == V_REJECT ? "REJECT" :
	    "incomplete";
}

/* Validate p[0..n) from state st in a guarded copy at alignment align. */
static uint32_t
gvalidate(uint32_t st, const void *p, size_t n, size_t align)
{
	uint8_t *tmp, *g;
	uint32_t r;

	tmp = malloc(align + n + 1);
	ck_assert_ptr_nonnull(tmp);
	memset(tmp, 'A', align);
	if (n > 0)
		memcpy(tmp + align, p, n);
	g = tu_guard_copy(tmp, align + n);
	r = ws_utf8_validate(st, g + align, n);
	/* The input is not changed. */
	ck_assert_msg(n == 0 || memcmp(g + align, p, n) == 0,
	    "ws_utf8_validate changed its input");
	tu_guard_free(g, align + n);
	free(tmp);
	return r;
}

static void
hexdump(char *out, size_t outlen, const struct u8case *c)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < c->len && o + 4 < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%02x ",
		    (unsigned)(uint8_t)c->s[i]);
}

static void
expect_verdict(const struct u8case *c, enum verdict want)
{
	char hex[128];
	size_t a;
	uint32_t st;

	hexdump(hex, sizeof(hex), c);
	for (a = 0; a < 8; a++) {
		st = gvalidate(WS_UTF8_ACCEPT, c->s, c->len, a);
		ck_assert_msg(verdict(st) == want,
		    "[%s] align %zu: %s (state %u), want %s", hex, a,
		    vname(verdict(st)), (unsigned)st, vname(want));
	}
}

/* xorshift32 */
static uint32_t
rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void
ref_mask(uint8_t *p, size_t n, const uint8_t key[4], size_t offset)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] ^= key[(offset + i) % 4];
}

/* ------------------------------------------------------ the validator */

START_TEST(valid_cases)
{
	expect_verdict(&valid[_i], V_ACCEPT);
}
END_TEST

START_TEST(invalid_cases)
{
	expect_verdict(&invalid[_i], V_REJECT);
}
END_TEST

START_TEST(incomplete_cases)
{
	expect_verdict(&incomplete[_i], V_INCOMPLETE);
}
END_TEST

START_TEST(reject_as_soon_as_invalid)
{
	expect_verdict(&reject_early[_i], V_REJECT);
}
END_TEST

START_TEST(empty_input)
{
	uint8_t *g = tu_guard_copy("", 0);

	ck_assert_uint_eq(ws_utf8_validate(WS_UTF8_ACCEPT, g, 0),
	    WS_UTF8_ACCEPT);
	ck_assert_uint_eq(ws_utf8_validate(WS_UTF8_REJECT, g, 0),
	    WS_UTF8_REJECT);
	tu_guard_free(g, 0);
}
END_TEST

START_TEST(ascii_every_length)
{
	uint8_t buf[128];
	size_t n, a, i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i & 0x7f);	/* every ASCII value */
	for (n = 0; n <= 100; n++)
		for (a = 0; a < 8; a++)
			ck_assert_msg(gvalidate(WS_UTF8_ACCEPT, buf, n, a) ==
			    WS_UTF8_ACCEPT, "ASCII length %zu align %zu", n,
			    a);
	ck_assert_uint_eq(gvalidate(WS_UTF8_ACCEPT, buf, 128, 0),
	    WS_UTF8_ACCEPT);
}
END_TEST

/* Every 2-byte code point and every 3-byte lead with its whole range. */
START_TEST(exhaustive_small)
{
	uint8_t b[4];
	unsigned cp, b0, b1, b2;

	for (cp = 0x80; cp < 0x800; cp++) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		ck_assert_msg(ws_utf8_validate(WS_UTF8_ACCEPT, b, 2) ==
		    WS_UTF8_ACCEPT, "U+%04X", cp);
	}
	for (cp = 0x800; cp < 0x10000; cp++) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		ck_assert_msg(ws_utf8_validate(WS_UTF8_ACCEPT, b, 3) ==
		    (cp >= 0xd800 && cp <= 0xdfff ? WS_UTF8_REJECT :
		    WS_UTF8_ACCEPT), "U+%04X", cp);
	}
	/* Every two-byte string: valid exactly when it is ASCII + ASCII
	   or one 2-byte sequence. */
	for (b0 = 0; b0 < 256; b0++)
		for (b1 = 0; b1 < 256; b1++) {
			uint32_t st;
			int ok;

			b[0] = (uint8_t)b0;
			b[1] = (uint8_t)b1;
			st = ws_utf8_validate(WS_UTF8_ACCEPT, b, 2);
			ok = (b0 < 0x80 && b1 < 0x80) ||
			    (b0 >= 0xc2 && b0 <= 0xdf && b1 >= 0x80 &&
			    b1 <= 0xbf);
			if (ok)
				ck_assert_msg(st == WS_UTF8_ACCEPT,
				    "%02x %02x", b0, b1);
			else
				ck_assert_msg(st != WS_UTF8_ACCEPT,
				    "%02x %02x accepted", b0, b1);
		}
	/* Every surrogate is rejected, whatever the third byte. */
	for (b1 = 0xa0; b1 <= 0xbf; b1++)
		for (b2 = 0; b2 < 256; b2++) {
			b[0] = 0xed;
			b[1] = (uint8_t)b1;
			b[2] = (uint8_t)b2;
			ck_assert_msg(ws_utf8_validate(WS_UTF8_ACCEPT, b, 3) ==
			    WS_UTF8_REJECT, "ed %02x %02x", b1, b2);
		}
}
END_TEST

START_TEST(invalid_after_ascii_run)
{
	static const size_t pos[] = {
		0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 65, 127, 128, 200
	};
	static const struct u8case bad[] = {
		U8("\xff"), U8("\x80"), U8("\xc0\xaf"), U8("\xed\xa0\x80"),
		U8("\xf4\x90\x80\x80"), U8("\xc2\x41"),
	};
	static const struct u8case good[] = {
		U8("\xc3\xa9"), U8("\xe2\x82\xac"), U8("\xf0\x9d\x84\x9e"),
	};
	static const size_t tails[] = { 0, 1, 7, 64 };
	uint8_t buf[512];
	size_t p, b, t, a, n;
	uint32_t st;

	for (p = 0; p < NELEM(pos); p++)
	for (t = 0; t < NELEM(tails); t++)
	for (a = 0; a < 8; a += 3) {
		for (b = 0; b < NELEM(bad); b++) {
			memset(buf, 'x', sizeof(buf));
			memcpy(buf + pos[p], bad[b].s, bad[b].len);
			n = pos[p] + bad[b].len + tails[t];
			st = gvalidate(WS_UTF8_ACCEPT, buf, n, a);
			ck_assert_msg(st == WS_UTF8_REJECT,
			    "bad %zu at %zu, tail %zu, align %zu: %u", b,
			    pos[p], tails[t], a, (unsigned)st);
		}
		for (b = 0; b < NELEM(good); b++) {
			memset(buf, 'x', sizeof(buf));
			memcpy(buf + pos[p], good[b].s, good[b].len);
			n = pos[p] + good[b].len + tails[t];
			st = gvalidate(WS_UTF8_ACCEPT, buf, n, a);
			ck_assert_msg(st == WS_UTF8_ACCEPT,
			    "good %zu at %zu, tail %zu, align %zu: %u", b,
			    pos[p], tails[t], a, (unsigned)st);
			/* Cut inside the sequence: incomplete. */
			n = pos[p] + good[b].len - 1;
			st = gvalidate(WS_UTF8_ACCEPT, buf, n, a);
			ck_assert_msg(verdict(st) == V_INCOMPLETE,
			    "good %zu cut at %zu, align %zu: %u", b, n, a,
			    (unsigned)st);
		}
	}
}
END_TEST

/* A high bit in any byte of a long run must be noticed. */
START_TEST(high_bit_any_lane)
{
	uint8_t buf[96];
	size_t i, a;

	for (i = 0; i < sizeof(buf); i++)
	for (a = 0; a < 8; a += 1) {
		memset(buf, 'q', sizeof(buf));
		buf[i] = 0x80 | (uint8_t)i;
		if (buf[i] >= 0xc0)
			buf[i] = 0x80;
		ck_assert_msg(gvalidate(WS_UTF8_ACCEPT, buf, sizeof(buf), a) ==
		    WS_UTF8_REJECT, "continuation byte at %zu, align %zu", i,
		    a);
	}
}
END_TEST

/* ---------------------------------------------------------- incremental */

static void
check_incremental(const struct u8case *c)
{
	const uint8_t *p = (const uint8_t *)c->s;
	uint32_t whole, st;
	size_t cut, i;
	char hex[128];

	hexdump(hex, sizeof(hex), c);
	whole = ws_utf8_validate(WS_UTF8_ACCEPT, p, c->len);
	for (cut = 0; cut <= c->len; cut++) {
		st = gvalidate(WS_UTF8_ACCEPT, p, cut, cut % 4);
		st = gvalidate(st, p + cut, c->len - cut, 0);
		ck_assert_msg(verdict(st) == verdict(whole),
		    "[%s] cut at %zu: %s, one call: %s", hex, cut,
		    vname(verdict(st)), vname(verdict(whole)));
	}
	st = WS_UTF8_ACCEPT;
	for (i = 0; i < c->len; i++)
		st = gvalidate(st, p + i, 1, 0);
	ck_assert_msg(verdict(st) == verdict(whole),
	    "[%s] byte at a time: %s, one call: %s", hex, vname(verdict(st)),
	    vname(verdict(whole)));
}

START_TEST(incremental_valid)
{
	check_incremental(&valid[_i]);
	ck_assert_uint_eq(ws_utf8_validate(WS_UTF8_ACCEPT,
	    (const uint8_t *)valid[_i].s, valid[_i].len), WS_UTF8_ACCEPT);
}
END_TEST

START_TEST(incremental_invalid)
{
	check_incremental(&invalid[_i]);
	ck_assert_uint_eq(ws_utf8_validate(WS_UTF8_ACCEPT,
	    (const uint8_t *)invalid[_i].s, invalid[_i].len), WS_UTF8_REJECT);
}
END_TEST

START_TEST(incremental_incomplete)
{
	const struct u8case *c = &incomplete[_i];
	uint32_t st;

	check_incremental(c);
	/* Completing the sequence makes it valid, once it can be. */
	st = ws_utf8_validate(WS_UTF8_ACCEPT, (const uint8_t *)c->s, c->len);
	ck_assert(verdict(st) == V_INCOMPLETE);
	/* An ASCII byte where a continuation is due is invalid. */
	ck_assert_uint_eq(ws_utf8_validate(st, (const uint8_t *)"a", 1),
	    WS_UTF8_REJECT);
}
END_TEST

/* Sequences completed in a second call. */
START_TEST(incremental_completion)
{
	static const struct {
		const char *a, *b;
	} pairs[] = {
		{ "\xc2", "\x80" }, { "\xe0", "\xa0\x80" },
		{ "\xe0\xa0", "\x80" },
		{ "\xf0", "\x90\x80\x80" }, { "\xf0\x90", "\x80\x80" },
		{ "\xf0\x90\x80", "\x80" }, { "\xf4\x8f\xbf", "\xbf" },
		{ "\xed", "\x9f\xbf" }, { "\xed\x9f", "\xbf" },
	};
	static const struct {
		const char *a, *b;
	} badpairs[] = {
		{ "\xe0", "\x80\x80" }, { "\xed", "\xa0\x80" },
		{ "\xf0", "\x8f\xbf\xbf" }, { "\xf4", "\x90\x80\x80" },
		{ "\xc2", "\xc2\x80" }, { "\xe1\x80", "\x41" },
	};
	size_t i;
	uint32_t st;

	for (i = 0; i < NELEM(pairs); i++) {
		st = ws_utf8_validate(WS_UTF8_ACCEPT,
		    (const uint8_t *)pairs[i].a, strlen(pairs[i].a));
		ck_assert_msg(verdict(st) == V_INCOMPLETE, "pair %zu a", i);
		st = ws_utf8_validate(st, (const uint8_t *)pairs[i].b,
		    strlen(pairs[i].b));
		ck_assert_msg(st == WS_UTF8_ACCEPT, "pair %zu", i);
	}
	for (i = 0; i < NELEM(badpairs); i++) {
		st = ws_utf8_validate(WS_UTF8_ACCEPT,
		    (const uint8_t *)badpairs[i].a, strlen(badpairs[i].a));
		ck_assert_msg(verdict(st) == V_INCOMPLETE, "badpair %zu a", i);
		st = ws_utf8_validate(st, (const uint8_t *)badpairs[i].b,
		    strlen(badpairs[i].b));
		ck_assert_msg(st == WS_UTF8_REJECT, "badpair %zu", i);
	}
}
END_TEST

START_TEST(reject_is_sticky)
{
	uint8_t ascii[100];
	size_t i;

	memset(ascii, 'a', sizeof(ascii));
	for (i = 0; i <= sizeof(ascii); i++)
		ck_assert_uint_eq(gvalidate(WS_UTF8_REJECT, ascii, i, i % 8),
		    WS_UTF8_REJECT);
	for (i = 0; i < NELEM(valid); i++)
		ck_assert_uint_eq(gvalidate(WS_UTF8_REJECT, valid[i].s,
		    valid[i].len, 0), WS_UTF8_REJECT);
	/* Once rejected, valid text after the bad byte changes nothing. */
	{
		uint8_t buf[200];
		uint32_t st;

		memset(buf, 'b', sizeof(buf));
		buf[3] = 0xff;
		st = ws_utf8_validate(WS_UTF8_ACCEPT, buf, 4);
		ck_assert_uint_eq(st, WS_UTF8_REJECT);
		st = ws_utf8_validate(st, buf + 4, sizeof(buf) - 4);
		ck_assert_uint_eq(st, WS_UTF8_REJECT);
		st = ws_utf8_validate(st, (const uint8_t *)"\xc3\xa9", 2);
		ck_assert_uint_eq(st, WS_UTF8_REJECT);
	}
}
END_TEST

/* ------------------------------------------------------- ws_unmask_utf8 */

/* n bytes of valid UTF-8 (possibly cut inside the last sequence). */
static void
gen_text(uint8_t *out, size_t n, uint32_t seed, int nonascii_from)
{
	static const char *const chars[] = {
		"\xc3\xa9", "\xdf\xbf", "\xe2\x82\xac", "\xef\xbf\xbd",
		"\xed\x9f\xbf", "\xee\x80\x80", "\xf0\x9f\x98\x80",
		"\xf4\x8f\xbf\xbf", "\xc2\x80",
	};
	uint32_t x = seed * 2654435761u + 1;
	size_t o = 0, k, run;
	const char *c;

	while (o < n) {
		if ((int)o < nonascii_from) {
			out[o] = (uint8_t)(0x20 + o % 90);
			o++;
			continue;
		}
		if (rnd(&x) % 3 == 0) {
			run = rnd(&x) % 20;
			for (k = 0; k < run && o < n; k++)
				out[o++] = (uint8_t)(0x20 + rnd(&x) % 95);
		}
		c = chars[rnd(&x) % NELEM(chars)];
		for (k = 0; c[k] != '\0' && o < n; k++)
			out[o++] = (uint8_t)c[k];
	}
}

static void
check_unmask(const uint8_t *plain, size_t n, size_t offset, size_t align,
    const uint8_t key[4], uint32_t st0, const char *what)
{
	uint8_t *tmp, *g;
	uint32_t want, got;

	tmp = malloc(align + n + 1);
	ck_assert_ptr_nonnull(tmp);
	memset(tmp, 0x5a, align);
	if (n > 0)
		memcpy(tmp + align, plain, n);
	ref_mask(tmp + align, n, key, offset);
	g = tu_guard_copy(tmp, align + n);

	want = ws_utf8_validate(st0, plain, n);
	got = ws_unmask_utf8(g + align, n, key, offset, st0);
	ck_assert_msg(n == 0 || memcmp(g + align, plain, n) == 0,
	    "%s: n %zu offset %zu align %zu: bytes differ from ws_mask", what,
	    n, offset, align);
	ck_assert_msg(memcmp(g, tmp, align) == 0,
	    "%s: bytes before p were changed", what);
	ck_assert_msg(got == want,
	    "%s: n %zu offset %zu align %zu state0 %u: state %u, want %u",
	    what, n, offset, align, (unsigned)st0, (unsigned)got,
	    (unsigned)want);
	tu_guard_free(g, align + n);
	free(tmp);
}

static const uint8_t keys[][4] = {
	{ 0x37, 0xfa, 0x21, 0x3d }, { 0x00, 0x00, 0x00, 0x00 },
	{ 0x80, 0x80, 0x80, 0x80 }, { 0x01, 0xff, 0x7f, 0xc3 },
};

/* Lengths 0..72 (every word and block tail), then around 96, 128, 256. */
static const size_t unmask_lens[] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
	20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37,
	38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
	56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72,
	95, 96, 97, 127, 128, 129, 255, 256, 257,
};

START_TEST(unmask_utf8_matches)
{
	static const size_t aligns[] = { 0, 1, 3 };
	uint8_t plain[260];
	size_t n = unmask_lens[_i], off, a, k;
	uint32_t st_mid;

	st_mid = ws_utf8_validate(WS_UTF8_ACCEPT,
	    (const uint8_t *)"\xf0\x9f", 2);
	for (k = 0; k < NELEM(keys); k++)
	for (off = 0; off < 8; off++)
	for (a = 0; a < NELEM(aligns); a++) {
		gen_text(plain, n, (uint32_t)(n * 8 + off), 0);
		check_unmask(plain, n, off, aligns[a], keys[k],
		    WS_UTF8_ACCEPT, "text");
		memset(plain, 'z', n);
		check_unmask(plain, n, off, aligns[a], keys[k],
		    WS_UTF8_ACCEPT, "ascii");
		/* Non-ASCII starting at every alignment. */
		gen_text(plain, n, (uint32_t)(n + off * 3 + a),
		    (int)((off + a * 8) % (n + 1)));
		check_unmask(plain, n, off, aligns[a], keys[k],
		    WS_UTF8_ACCEPT, "late non-ASCII");
		/* Random bytes: usually invalid somewhere. */
		{
			uint32_t x = (uint32_t)(n * 31 + off + 7);
			size_t i;

			for (i = 0; i < n; i++)
				plain[i] = (uint8_t)rnd(&x);
		}
		check_unmask(plain, n, off, aligns[a], keys[k],
		    WS_UTF8_ACCEPT, "random");
		/* Valid text with one bad byte in the middle. */
		gen_text(plain, n, (uint32_t)(n * 5 + off), 0);
		if (n > 0)
			plain[n / 2] = 0xff;
		check_unmask(plain, n, off, aligns[a], keys[k],
		    WS_UTF8_ACCEPT, "bad middle");
		/* Starting inside a sequence (U+1F600 split 2/2). */
		plain[0] = 0x98;
		plain[1] = 0x80;
		if (n >= 2) {
			gen_text(plain + 2, n - 2, (uint32_t)(n + off), 0);
			plain[0] = 0x98;
			plain[1] = 0x80;
		}
		check_unmask(plain, n, off, aligns[a], keys[k], st_mid,
		    "mid-sequence start");
		/* Starting rejected. */
		gen_text(plain, n, (uint32_t)(n * 3 + off), 0);
		check_unmask(plain, n, off, aligns[a], keys[k],
		    WS_UTF8_REJECT, "rejected start");
	}
}
END_TEST

START_TEST(unmask_utf8_large)
{
	static const size_t lens[] = { 127, 128, 129, 1000, 4099, 65537 };
	uint8_t *plain;
	size_t l, off, a;

	plain = malloc(65537);
	ck_assert_ptr_nonnull(plain);
	for (l = 0; l < NELEM(lens); l++)
	for (off = 0; off < 4; off++)
	for (a = 0; a < 4; a += 3) {
		gen_text(plain, lens[l], (uint32_t)(l + off), 0);
		check_unmask(plain, lens[l], off, a, keys[0], WS_UTF8_ACCEPT,
		    "large text");
		memset(plain, 'q', lens[l]);
		check_unmask(plain, lens[l], off, a, keys[3], WS_UTF8_ACCEPT,
		    "large ascii");
		plain[lens[l] - 1] = 0xc3;
		check_unmask(plain, lens[l], off, a, keys[3], WS_UTF8_ACCEPT,
		    "large ascii, cut at the end");
		plain[lens[l] / 2] = 0x80;
		check_unmask(plain, lens[l], off, a, keys[3], WS_UTF8_ACCEPT,
		    "large ascii, bad middle");
	}
	free(plain);
}
END_TEST

/* Unmasking a text in pieces with the running offset and state. */
START_TEST(unmask_utf8_split)
{
	uint8_t plain[300], buf[300];
	size_t cut, off, i, o;
	uint32_t st;

	/* Whole valid texts back to back, padded with ASCII. */
	for (i = 0, o = 0; o < sizeof(plain); i++) {
		const struct u8case *c = &valid[i % NELEM(valid)];

		if (o + c->len > sizeof(plain))
			break;
		memcpy(plain + o, c->s, c->len);
		o += c->len;
	}
	memset(plain + o, 'e', sizeof(plain) - o);
	ck_assert_uint_eq(ws_utf8_validate(WS_UTF8_ACCEPT, plain,
	    sizeof(plain)), WS_UTF8_ACCEPT);
	for (off = 0; off < 4; off++)
	for (cut = 0; cut <= sizeof(plain); cut++) {
		memcpy(buf, plain, sizeof(buf));
		ref_mask(buf, sizeof(buf), keys[0], off);
		st = ws_unmask_utf8(buf, cut, keys[0], off, WS_UTF8_ACCEPT);
		ck_assert_msg(st != WS_UTF8_REJECT, "cut %zu", cut);
		st = ws_unmask_utf8(buf + cut, sizeof(buf) - cut, keys[0],
		    off + cut, st);
		ck_assert_msg(st == WS_UTF8_ACCEPT, "cut %zu offset %zu", cut,
		    off);
		ck_assert_mem_eq(buf, plain, sizeof(buf));
	}
}
END_TEST

/* ---------------------------------------------------- through ws_conn */

static void
check_close_output(struct ws_conn *c, uint16_t code)
{
	uint8_t *out;
	size_t n, o = 0;
	struct ws_frame f;
	int h;

	ck_assert_uint_eq(ws_close_code_sent(c), code);
	ck_assert_int_eq(ws_close_expected(c), 1);
	out = tu_drain(c, &n);
	ck_assert_msg(n >= 4, "no close frame queued (%zu bytes)", n);
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
	ck_assert_uint_eq(f.opcode, WS_OP_CLOSE);
	ck_assert_uint_eq(f.masked, 0);
	ck_assert(f.len >= 2);
	ck_assert_uint_eq((size_t)h + f.len, n);
	ck_assert_uint_eq(((unsigned)out[h] << 8) | out[h + 1], code);
	free(out);
}

/* Feed to a fresh server, expect status and close code, no text event. */
static void
expect_fail(const uint8_t *data, size_t len, size_t chunk, int status,
    uint16_t code)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	size_t i;

	tu_feed(s, data, len, chunk, &r, 0);
	ck_assert_msg(r.status == status, "chunk %zu: status %d, want %d",
	    chunk, r.status, status);
	for (i = 0; i < r.n; i++)
		ck_assert_int_ne(r.ev[i].type, WS_EV_TEXT);
	check_close_output(s, code);
	tu_rec_reset(&r);
	ws_conn_free(s);
}

START_TEST(conn_invalid_text)
{
	uint8_t buf[64];
	size_t n, chunk;

	for (chunk = 0; chunk <= 3; chunk++) {
		n = tu_client_frame(buf, 0x81, invalid[_i].s, invalid[_i].len);
		expect_fail(buf, n, chunk, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
	}
}
END_TEST

START_TEST(conn_binary_not_checked)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	uint8_t buf[64];
	size_t n = 0;

	n += tu_client_frame(buf + n, 0x82, "\xff\xc0\x80", 3);
	n += tu_client_frame(buf + n, 0x89, "\xed\xa0\x80", 3);
	ck_assert_uint_eq(tu_feed(s, buf, n, 0, &r, 0), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_int_eq(r.ev[0].type, WS_EV_BINARY);
	ck_assert_mem_eq(r.ev[0].data, "\xff\xc0\x80", 3);
	ck_assert_int_eq(r.ev[1].type, WS_EV_PING);
	ck_assert_uint_eq(ws_close_code_sent(s), 0);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

START_TEST(conn_fail_fast)
{
	uint8_t payload[1000], buf[1100];
	size_t n, chunk;

	memset(payload, 'a', sizeof(payload));
	payload[10] = 0xff;
	n = tu_client_frame(buf, 0x81, payload, sizeof(payload));
	ck_assert_uint_eq(n, 8 + sizeof(payload));
	/* Only the header and 20 payload bytes. */
	for (chunk = 0; chunk <= 7; chunk++)
		expect_fail(buf, 8 + 20, chunk, WS_E_UTF8,
		    WS_CLOSE_INVALID_DATA);
	/* A sequence that cannot become valid fails as soon as it is seen. */
	memset(payload, 'a', sizeof(payload));
	payload[10] = 0xed;
	payload[11] = 0xa0;
	n = tu_client_frame(buf, 0x81, payload, sizeof(payload));
	expect_fail(buf, 8 + 12, 0, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
	/* A lead byte that never occurs fails on its own. */
	payload[10] = 0xc0;
	n = tu_client_frame(buf, 0x81, payload, sizeof(payload));
	expect_fail(buf, 8 + 11, 0, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
}
END_TEST

/* An invalid fragment fails before the message ends. */
START_TEST(conn_fail_fast_fragments)
{
	uint8_t buf[256];
	size_t n;

	n = tu_client_frame(buf, 0x01, "ab\xff", 3);
	expect_fail(buf, n, 0, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
	expect_fail(buf, n, 1, WS_E_UTF8, WS_CLOSE_INVALID_DATA);

	n = tu_client_frame(buf, 0x01, "a\xe2", 2);
	n += tu_client_frame(buf + n, 0x00, "\x41", 1);
	expect_fail(buf, n, 0, WS_E_UTF8, WS_CLOSE_INVALID_DATA);

	/* A ping between fragments does not reset the validation. */
	n = tu_client_frame(buf, 0x01, "a\xe2\x82", 3);
	n += tu_client_frame(buf + n, 0x89, "", 0);
	n += tu_client_frame(buf + n, 0x00, "b", 1);
	expect_fail(buf, n, 0, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
}
END_TEST

static void
feed_fragments(const uint8_t *text, size_t len, const size_t *cuts,
    size_t ncuts, size_t chunk)
{
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	uint8_t *buf;
	size_t n = 0, i, from = 0, to;

	buf = malloc(len + 16 * (ncuts + 1));
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts ? cuts[i] : len;
		n += tu_client_frame(buf + n, (uint8_t)((i == ncuts ? 0x80 :
		    0) | (i == 0 ? WS_OP_TEXT : WS_OP_CONT)), text + from,
		    to - from);
		from = to;
	}
	ck_assert_uint_eq(tu_feed(s, buf, n, chunk, &r, 0), 0);
	ck_assert_msg(r.status == 0, "status %d, %zu fragments", r.status,
	    ncuts + 1);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_TEXT);
	ck_assert_uint_eq(r.ev[0].len, len);
	ck_assert_mem_eq(r.ev[0].data, text, len);
	ck_assert_uint_eq(ws_close_code_sent(s), 0);
	tu_rec_reset(&r);
	ws_conn_free(s);
	free(buf);
}

START_TEST(conn_sequence_straddles_fragments)
{
	static const char text[] = "a\xe2\x82\xac" "b\xf0\x9d\x84\x9e"
	    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
	size_t len = sizeof(text) - 1, cut, i;
	size_t cuts[64];

	/* Two fragments, cut at every position (empty ones included). */
	for (cut = 0; cut <= len; cut++) {
		feed_fragments((const uint8_t *)text, len, &cut, 1, 0);
		feed_fragments((const uint8_t *)text, len, &cut, 1, 5);
	}
	/* One byte per fragment. */
	for (i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	feed_fragments((const uint8_t *)text, len, cuts, len - 1, 0);
	feed_fragments((const uint8_t *)text, len, cuts, len - 1, 1);
}
END_TEST

START_TEST(conn_message_ends_inside_sequence)
{
	uint8_t buf[128];
	size_t n;

	n = tu_client_frame(buf, 0x81, "a\xe2\x82", 3);
	expect_fail(buf, n, 0, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
	expect_fail(buf, n, 1, WS_E_UTF8, WS_CLOSE_INVALID_DATA);

	n = tu_client_frame(buf, 0x01, "a\xe2", 2);
	n += tu_client_frame(buf + n, 0x80, "\x82", 1);
	expect_fail(buf, n, 0, WS_E_UTF8, WS_CLOSE_INVALID_DATA);

	n = tu_client_frame(buf, 0x01, "\xf0\x9d", 2);
	n += tu_client_frame(buf + n, 0x00, "\x84", 1);
	n += tu_client_frame(buf + n, 0x80, "", 0);
	expect_fail(buf, n, 0, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
	expect_fail(buf, n, 2, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
}
END_TEST

START_TEST(conn_close_reason_utf8)
{
	static const struct u8case bad[] = {
		U8("\x03\xe8\xff"), U8("\x03\xe8\xc3"),
		U8("\x03\xe8" "ok\xed\xa0\x80"), U8("\x03\xe8\xc0\x80"),
	};
	static const char good[] = "\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce"
	    "\xbc\xce\xb5";
	struct ws_conn *s;
	struct tu_rec r = { 0 };
	uint8_t buf[64];
	size_t i, n;

	for (i = 0; i < NELEM(bad); i++) {
		n = tu_client_frame(buf, 0x88, bad[i].s, bad[i].len);
		expect_fail(buf, n, 0, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
		expect_fail(buf, n, 1, WS_E_UTF8, WS_CLOSE_INVALID_DATA);
	}

	/* A valid UTF-8 reason is delivered. */
	s = tu_server_open(NULL, NULL);
	n = tu_client_frame(buf, 0x88, good, sizeof(good) - 1);
	tu_feed(s, buf, n, 0, &r, 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_CLOSE);
	ck_assert_uint_eq(r.ev[0].code, 1000);
	ck_assert_uint_eq(r.ev[0].len, sizeof(good) - 3);
	ck_assert_mem_eq(r.ev[0].data, good + 2, sizeof(good) - 3);
	ck_assert_uint_ne(ws_close_code_sent(s), WS_CLOSE_INVALID_DATA);
	ck_assert_uint_ne(ws_close_code_sent(s), WS_CLOSE_PROTOCOL);
	tu_rec_reset(&r);
	ws_conn_free(s);
}
END_TEST

/* Every valid text as one frame, fed in every chunk size. */
START_TEST(conn_valid_every_chunking)
{
	const struct u8case *c = &valid[_i];
	struct ws_conn *s = tu_server_open(NULL, NULL);
	struct tu_rec r = { 0 };
	uint8_t buf[256];
	size_t n, chunk;

	n = tu_client_frame(buf, 0x81, c->s, c->len);
	for (chunk = 1; chunk <= n; chunk++) {
		ck_assert_uint_eq(tu_feed(s, buf, n, chunk, &r, 0), 0);
		ck_assert_msg(r.status == 0, "chunk %zu: status %d", chunk,
		    r.status);
		ck_assert_uint_eq(r.n, 1);
		ck_assert_int_eq(r.ev[0].type, WS_EV_TEXT);
		ck_assert_uint_eq(r.ev[0].len, c->len);
		if (c->len > 0)
			ck_assert_mem_eq(r.ev[0].data, c->s, c->len);
		ck_assert_uint_eq(r.consumed, n);
		tu_rec_reset(&r);
	}
	ck_assert_uint_eq(ws_close_code_sent(s), 0);
	ws_conn_free(s);
}
END_TEST

static Suite *
utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc;

	tc = tcase_create("validate");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, valid_cases, 0, (int)NELEM(valid));
	tcase_add_loop_test(tc, invalid_cases, 0, (int)NELEM(invalid));
	tcase_add_loop_test(tc, incomplete_cases, 0, (int)NELEM(incomplete));
	tcase_add_loop_test(tc, reject_as_soon_as_invalid, 0,
	    (int)NELEM(reject_early));
	tcase_add_test(tc, empty_input);
	tcase_add_test(tc, ascii_every_length);
	tcase_add_test(tc, exhaustive_small);
	tcase_add_test(tc, invalid_after_ascii_run);
	tcase_add_test(tc, high_bit_any_lane);
	suite_add_tcase(s, tc);

	tc = tcase_create("incremental");
	tcase_add_loop_test(tc, incremental_valid, 0, (int)NELEM(valid));
	tcase_add_loop_test(tc, incremental_invalid, 0, (int)NELEM(invalid));
	tcase_add_loop_test(tc, incremental_incomplete, 0,
	    (int)NELEM(incomplete));
	tcase_add_test(tc, incremental_completion);
	tcase_add_test(tc, reject_is_sticky);
	suite_add_tcase(s, tc);

	tc = tcase_create("unmask");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, unmask_utf8_matches, 0,
	    (int)NELEM(unmask_lens));
	tcase_add_test(tc, unmask_utf8_large);
	tcase_add_test(tc, unmask_utf8_split);
	suite_add_tcase(s, tc);

	tc = tcase_create("conn");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, conn_invalid_text, 0, (int)NELEM(invalid));
	tcase_add_test(tc, conn_binary_not_checked);
	tcase_add_test(tc, conn_fail_fast);
	tcase_add_test(tc, conn_fail_fast_fragments);
	tcase_add_test(tc, conn_sequence_straddles_fragments);
	tcase_add_test(tc, conn_message_ends_inside_sequence);
	tcase_add_test(tc, conn_close_reason_utf8);
	tcase_add_loop_test(tc, conn_valid_every_chunking, 0,
	    (int)NELEM(valid));
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(utf8_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
