/*
 * utf8.c - incremental UTF-8 validation.
 *
 * The states name what the next byte must be (Unicode 15, table 3-7):
 * a lead byte, or a continuation in one of the ranges that rule out
 * overlong forms, surrogates and code points above U+10FFFF.  Runs of
 * ASCII are skipped 32 bytes at a time.
 */
#include <string.h>

#include "frame.h"
#include "utf8.h"

enum {
	S_ACCEPT = WS_UTF8_ACCEPT,
	S_REJECT = WS_UTF8_REJECT,
	S_1,		/* one more 80..BF */
	S_2,		/* two more 80..BF */
	S_E0,		/* A0..BF, then S_1 */
	S_ED,		/* 80..9F, then S_1 */
	S_3,		/* three more 80..BF */
	S_F0,		/* 90..BF, then S_2 */
	S_F4		/* 80..8F, then S_2 */
};

#define HIGH_BITS 0x8080808080808080ULL

/* Length of the leading run of ASCII in p[0..n). */
static size_t
ascii_run(const uint8_t *p, size_t n)
{
	size_t i = 0;
	uint64_t a, b, c, d;

	while (n - i >= 32) {
		memcpy(&a, p + i, 8);
		memcpy(&b, p + i + 8, 8);
		memcpy(&c, p + i + 16, 8);
		memcpy(&d, p + i + 24, 8);
		if ((a | b | c | d) & HIGH_BITS)
			break;
		i += 32;
	}
	while (n - i >= 8) {
		memcpy(&a, p + i, 8);
		if ((a &= HIGH_BITS) != 0) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)__builtin_ctzll(a) / 8;
#else
			break;
#endif
		}
		i += 8;
	}
	while (i < n && p[i] < 0x80)
		i++;
	return i;
}

static int
cont(uint8_t b)
{
	return (b & 0xc0) == 0x80;
}

/*
 * Length of the whole, valid sequence at p (a non-ASCII lead byte) when
 * all of it is within n bytes; 0 when it is not, or is invalid: the byte
 * by byte path then decides.
 */
static size_t
sequence(const uint8_t *p, size_t n)
{
	uint8_t b = p[0];

	if (b >= 0xc2 && b <= 0xdf)
		return n >= 2 && cont(p[1]) ? 2 : 0;
	if (b >= 0xe0 && b <= 0xef) {
		if (n < 3 || !cont(p[1]) || !cont(p[2]) ||
		    (b == 0xe0 && p[1] < 0xa0) || (b == 0xed && p[1] > 0x9f))
			return 0;
		return 3;
	}
	if (b >= 0xf0 && b <= 0xf4) {
		if (n < 4 || !cont(p[1]) || !cont(p[2]) || !cont(p[3]) ||
		    (b == 0xf0 && p[1] < 0x90) || (b == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

static uint32_t
step(uint32_t s, uint8_t b)
{
	switch (s) {
	case S_ACCEPT:
		if (b < 0x80)
			return S_ACCEPT;
		if (b < 0xc2)
			return S_REJECT;
		if (b < 0xe0)
			return S_1;
		if (b == 0xe0)
			return S_E0;
		if (b == 0xed)
			return S_ED;
		if (b < 0xf0)
			return S_2;
		if (b == 0xf0)
			return S_F0;
		if (b < 0xf4)
			return S_3;
		if (b == 0xf4)
			return S_F4;
		return S_REJECT;
	case S_1:
		return (b & 0xc0) == 0x80 ? S_ACCEPT : S_REJECT;
	case S_2:
		return (b & 0xc0) == 0x80 ? S_1 : S_REJECT;
	case S_E0:
		return b >= 0xa0 && b <= 0xbf ? S_1 : S_REJECT;
	case S_ED:
		return b >= 0x80 && b <= 0x9f ? S_1 : S_REJECT;
	case S_3:
		return (b & 0xc0) == 0x80 ? S_2 : S_REJECT;
	case S_F0:
		return b >= 0x90 && b <= 0xbf ? S_2 : S_REJECT;
	case S_F4:
		return b >= 0x80 && b <= 0x8f ? S_2 : S_REJECT;
	default:
		return S_REJECT;
	}
}

uint32_t
ws_utf8_validate(uint32_t s, const uint8_t *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if (s == S_ACCEPT) {
			i += ascii_run(p + i, n - i);
			if (i == n)
				break;
			if ((k = sequence(p + i, n - i)) > 0) {
				i += k;
				continue;
			}
		}
		s = step(s, p[i++]);
		if (s == S_REJECT)
			break;
	}
	return s;
}

/* Blocks small enough to stay in L1 between the two passes. */
#define FUSE_BLOCK 4096

uint32_t
ws_unmask_utf8(uint8_t *p, size_t n, const uint8_t key[4], size_t offset,
    uint32_t s)
{
	while (n > 0) {
		size_t k = n < FUSE_BLOCK ? n : FUSE_BLOCK;

		ws_mask(p, k, key, offset);
		if (s != S_REJECT)
			s = ws_utf8_validate(s, p, k);
		p += k;
		n -= k;
		offset += k;
	}
	return s;
}
