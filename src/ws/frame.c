/*
 * frame.c - RFC 6455 section 5.2 frame headers, and masking.
 */
#include <string.h>

#include "frame.h"

int
ws_frame_parse(const uint8_t *p, size_t n, struct ws_frame *f)
{
	size_t h = 2;
	uint64_t len;
	int i;

	if (n < 2)
		return WS_AGAIN;
	f->fin = p[0] >> 7;
	f->rsv = (p[0] >> 4) & 0x7;
	f->opcode = p[0] & 0xf;
	f->masked = p[1] >> 7;
	len = p[1] & 0x7f;
	if (len == 126) {
		if (n < 4)
			return WS_AGAIN;
		len = (uint64_t)p[2] << 8 | p[3];
		h = 4;
	} else if (len == 127) {
		if (n < 10)
			return WS_AGAIN;
		len = 0;
		for (i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		if (len >> 63)
			return WS_E_PROTOCOL;
		h = 10;
	}
	if (f->masked) {
		if (n < h + 4)
			return WS_AGAIN;
		memcpy(f->mask, p + h, 4);
		h += 4;
	} else
		memset(f->mask, 0, 4);
	f->len = len;
	return (int)h;
}

size_t
ws_frame_header_len(uint64_t len, int masked)
{
	size_t h = len < 126 ? 2 : len < 65536 ? 4 : 10;

	return h + (masked ? 4 : 0);
}

size_t
ws_frame_header(uint8_t *out, unsigned opcode, int fin, unsigned rsv,
    uint64_t len, const uint8_t *mask)
{
	size_t h = 2;
	uint8_t m = mask != NULL ? 0x80 : 0;
	int i;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv & 7) << 4 | (opcode & 0xf));
	if (len < 126)
		out[1] = (uint8_t)(m | len);
	else if (len < 65536) {
		out[1] = m | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		h = 4;
	} else {
		out[1] = m | 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		h = 10;
	}
	if (mask != NULL) {
		memcpy(out + h, mask, 4);
		h += 4;
	}
	return h;
}

void
ws_mask(uint8_t *p, size_t n, const uint8_t key[4], size_t offset)
{
	uint8_t k[4];
	uint32_t k32;
	uint64_t k64, a, b, c, d;
	unsigned rot = (unsigned)(offset & 3) * 8;
	size_t i;

	/* The key from byte offset on, built as a word: four byte stores
	   read back as one word would stall the load. */
	memcpy(&k32, key, 4);
	if (rot != 0)
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		k32 = k32 << rot | k32 >> (32 - rot);
#else
		k32 = k32 >> rot | k32 << (32 - rot);
#endif
	memcpy(k, &k32, 4);
	k64 = (uint64_t)k32 << 32 | k32;	/* same bytes in either order */
	while (n >= 32) {
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		memcpy(&c, p + 16, 8);
		memcpy(&d, p + 24, 8);
		a ^= k64;
		b ^= k64;
		c ^= k64;
		d ^= k64;
		memcpy(p, &a, 8);
		memcpy(p + 8, &b, 8);
		memcpy(p + 16, &c, 8);
		memcpy(p + 24, &d, 8);
		p += 32;
		n -= 32;
	}
	while (n >= 8) {
		memcpy(&a, p, 8);
		a ^= k64;
		memcpy(p, &a, 8);
		p += 8;
		n -= 8;
	}
	for (i = 0; i < n; i++)
		p[i] ^= k[i & 3];
}

int
ws_opcode_valid(unsigned op)
{
	return op <= 2 || (op >= 8 && op <= 10);
}
