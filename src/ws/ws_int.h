/*
 * ws_int.h - the definition of struct ws_conn, private to src/ws.
 */
#ifndef WS_INT_H
#define WS_INT_H

#include <zlib.h>

#include "ws.h"
#include "http.h"

/* A byte queue: bytes [off, len) are pending. */
struct ws_buf {
	uint8_t *p;
	size_t off;
	size_t len;
	size_t cap;
};

/* What only the opening handshake needs; freed when it ends. */
struct ws_hs {
	char accept[29];	/* server: ours; client: the one expected */
	int have_request;	/* server: waiting for accept/reject */
	int sent;		/* client: request queued */
	struct ws_request req;
	char *offered;		/* subprotocols offered, ", " joined */
	size_t noffered;
	struct ws_header headers[];	/* limits->max_headers */
};

enum {
	WS_F_CLOSE_SENT = 0x01,
	WS_F_CLOSE_RCVD = 0x02,
	WS_F_IN_FRAME = 0x04,	/* inside a data frame's payload */
	WS_F_SEND_FRAG = 0x08,	/* a fragmented send is open */
	WS_F_SEND_TEXT = 0x10,	/* ... and it is text */
	WS_F_DISCARD = 0x20,	/* the current frame is skipped */
	WS_F_PEEK = 0x40,	/* in-place: waiting for the rest of a frame */
	WS_F_KEEP_DATA = 0x80,	/* deliver data after our close */
	WS_F_INFLATE = 0x100,	/* the message being received is compressed */
	WS_F_SEND_DEFLATE = 0x200 /* the fragmented send is compressed */
};

/* permessage-deflate: the configuration, then what was agreed. */
struct ws_pmd {
	struct ws_deflate conf;
	uint8_t on;		/* negotiated */
	uint8_t tx_bits;	/* window bits of our compressor */
	uint8_t rx_bits;	/* ... and of the peer's */
	uint8_t tx_reset;	/* no context takeover: ours */
	uint8_t rx_reset;	/* ... the peer's */
	uint8_t tx_live;	/* zlib stream made */
	uint8_t rx_live;
	uint8_t rx_end;		/* the peer's stream ended (BFINAL) */
	z_stream tx;
	z_stream rx;
};

struct ws_conn {
	const struct ws_allocator *alloc;
	const struct ws_limits *limits;
	uint8_t role;
	uint8_t state;
	uint16_t flags;
	uint8_t msg_op;		/* message being received: TEXT, BINARY or 0 */
	uint8_t fin;		/* of the current data frame */
	uint8_t mask[4];	/* of the current data frame */
	uint16_t close_sent;
	uint16_t close_rcvd;
	uint16_t http_status;
	uint32_t utf8_in;	/* validation state of the incoming text */
	uint32_t utf8_out;	/* ... and of a fragmented outgoing text */
	uint64_t remain;	/* payload bytes left in the current frame */
	uint64_t fpos;		/* payload bytes of it already consumed */
	uint64_t msg_size;	/* bytes of the current message so far */
	uint32_t inplace_max;	/* 0: off */
	uint32_t peeked;	/* in-place: payload bytes already unmasked */
	uint32_t hint;		/* bytes wanted after WS_AGAIN */
	const char *err;
	struct ws_buf msg;	/* reassembly of messages that need it */
	struct ws_buf out;
	struct ws_hs *hs;
	char *subprotocol;
	struct ws_pmd *pmd;	/* NULL: no permessage-deflate */
	ws_random_fn random;	/* NULL: RAND_bytes through pool[] */
	void *random_ud;
	uint16_t pool_pos;	/* client: bytes of pool[] used */
	uint8_t pool[];		/* client: random bytes for masks */
};

#define WS_POOL_SIZE 1024

/* conn.c */
void *ws__alloc(struct ws_conn *c, size_t n);
void ws__free(struct ws_conn *c, void *p);
int ws__out_reserve(struct ws_conn *c, size_t n);
int ws__out_append(struct ws_conn *c, const void *p, size_t n);
int ws__msg_reserve(struct ws_conn *c, size_t n);
int ws__fail(struct ws_conn *c, int status, uint16_t code, const char *why);
void ws__hs_free(struct ws_conn *c);
int ws__random(struct ws_conn *c, uint8_t *buf, size_t len);

/* deflate.c */
void ws__pmd_free(struct ws_conn *c);
int ws__pmd_answer(struct ws_conn *c, const struct ws_header *h, size_t nh,
    char *buf, size_t cap);
int ws__pmd_offer(const struct ws_conn *c, char *buf, size_t cap);
const char *ws__pmd_check(struct ws_conn *c, const struct ws_header *h,
    size_t nh);
void ws__pmd_shrink(struct ws_conn *c, int rx_idle, int tx_idle);
int ws__pmd_deflate(struct ws_conn *c, const uint8_t *data, size_t len,
    int fin, size_t *clen);
int ws__pmd_inflate(struct ws_conn *c, const uint8_t *p, size_t n, int end);

/* handshake.c */
ssize_t ws__recv_request(struct ws_conn *c, uint8_t *buf, size_t len,
    struct ws_event *ev);
ssize_t ws__recv_response(struct ws_conn *c, uint8_t *buf, size_t len,
    struct ws_event *ev);

#endif /* WS_INT_H */
