/*
 * testutil.h - helpers shared by the unit tests: input placed right before
 * an inaccessible page, chunked feeding with an event recorder, and an
 * allocator that fails on demand.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ws.h"

/*
 * A copy of data[0..len) that ends exactly where a PROT_NONE page starts,
 * so that reading one byte past it faults.  Writable.  Free with
 * tu_guard_free().
 */
uint8_t *tu_guard_copy(const void *data, size_t len);
void tu_guard_free(uint8_t *p, size_t len);

/* One recorded event, with its payload copied. */
struct tu_event {
	enum ws_event_type type;
	uint8_t *data;
	size_t len;
	uint16_t code;
};

struct tu_rec {
	struct tu_event ev[256];
	size_t n;
	int status;		/* first negative non-AGAIN status, else 0 */
	size_t consumed;	/* bytes consumed in all */
};

void tu_rec_reset(struct tu_rec *r);

/*
 * Feed data to c the way a network layer does: chunk bytes at a time
 * (0 = all at once) appended to a pending buffer, ws_recv() in a loop,
 * unconsumed bytes kept for the next round.  Every call sees its input in
 * a guarded buffer.  Events are recorded in r; a WS_EV_REQUEST is
 * answered with ws_accept() and a default response when accept is set.
 * Stops at the first error status (recorded in r->status).  Returns the
 * number of bytes left unconsumed at the end.
 */
size_t tu_feed(struct ws_conn *c, const void *data, size_t len, size_t chunk,
    struct tu_rec *r, int accept);

/* Take all of c's output into a malloc'd buffer (*len bytes). */
uint8_t *tu_drain(struct ws_conn *c, size_t *len);

/* A valid client upgrade request for Host localhost, path /chat. */
extern const char tu_request[];

/*
 * A server connection that has accepted tu_request (output drained) and a
 * client connection opened against it by a full handshake, both OPEN.
 */
struct ws_conn *tu_server_open(const struct ws_limits *l,
    const struct ws_allocator *a);
void tu_pair_open(struct ws_conn **client, struct ws_conn **server,
    const struct ws_limits *l);

/* Move all output of from into to; events recorded in r (chunk as tu_feed). */
void tu_pump(struct ws_conn *from, struct ws_conn *to, struct tu_rec *r,
    size_t chunk);

/*
 * Build a masked client frame (as a client would send it) with mask key
 * 0x37 0xfa 0x21 0x3d into out; returns its length.  first is the first
 * header byte (FIN|RSV|opcode).  For tests that hand-craft frames.
 */
size_t tu_client_frame(uint8_t *out, uint8_t first, const void *payload,
    size_t len);
/* The same without mask (as a server sends). */
size_t tu_server_frame(uint8_t *out, uint8_t first, const void *payload,
    size_t len);

/* A frame parsed back from a connection's output. */
struct tu_frame {
	int fin;
	int rsv;
	int op;
	int masked;
	size_t len;
	uint8_t *data;		/* unmasked copy, NUL-terminated */
};
/*
 * Parse p[0..n), which must hold whole frames only, checking the minimal
 * length encoding (RFC 6455 5.2); unmasked copies of the payloads go in
 * f[].  Returns the number of frames.
 */
size_t tu_parse_frames(const uint8_t *p, size_t n, struct tu_frame *f,
    size_t max);
void tu_free_frames(struct tu_frame *f, size_t n);

/* An allocator that fails the fail_at-th allocation (1-based; 0 never)
   and counts live blocks. */
struct tu_failalloc {
	long calls;
	long fail_at;
	long live;
	struct ws_allocator a;
};
void tu_failalloc_init(struct tu_failalloc *f, long fail_at);

#endif /* TESTUTIL_H */
