/*
 * frame.h - the RFC 6455 frame codec, shared by both roles.
 */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include "ws.h"

#define WS_RSV1 0x4		/* permessage-deflate: a compressed message */

struct ws_frame {
	uint8_t fin;		/* 0 or 1 */
	uint8_t rsv;		/* RSV1..3 as bits 0x4, 0x2, 0x1 */
	uint8_t opcode;		/* 0..15, reserved ones included */
	uint8_t masked;		/* 0 or 1 */
	uint8_t mask[4];
	uint64_t len;		/* payload length */
};

/*
 * Parse a frame header from p[0..n).  Returns its length (2..14),
 * WS_AGAIN if n is too short, or WS_E_PROTOCOL for a 64-bit length with
 * the most significant bit set.  Nothing else is judged here.
 */
int ws_frame_parse(const uint8_t *p, size_t n, struct ws_frame *f);

/*
 * Write a frame header for a payload of len bytes; mask NULL for none.
 * Returns its length (2..14); out needs WS_FRAME_HEADER_MAX bytes.
 */
size_t ws_frame_header(uint8_t *out, unsigned opcode, int fin, unsigned rsv,
    uint64_t len, const uint8_t *mask);

/* Header length for a payload of len bytes. */
size_t ws_frame_header_len(uint64_t len, int masked);

/*
 * XOR p[0..n) with key, starting at byte offset (mod 4) of the key: the
 * same call masks and unmasks.  Works a machine word at a time.
 */
void ws_mask(uint8_t *p, size_t n, const uint8_t key[4], size_t offset);

/* 1 for the opcodes RFC 6455 defines. */
int ws_opcode_valid(unsigned op);

#endif /* WS_FRAME_H */
