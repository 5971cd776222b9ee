/*
 * ws.h - the WebSocket protocol (RFC 6455), both roles, without I/O.
 *
 * A struct ws_conn is one end of one WebSocket connection, server or client.
 * It never touches a socket: the caller feeds it the bytes it read
 * (ws_recv), handles the events it hands back, and writes what ws_output()
 * returns.  The module has no global state; all memory comes from the
 * allocator given to ws_conn_new().
 *
 * The receive loop of a caller (network layer, test, fuzzer) is:
 *
 *	for (;;) {
 *		n = ws_recv(c, p, len, &ev);
 *		if (n == WS_AGAIN)
 *			break;			keep p[0..len), read more
 *		if (n < 0)
 *			break;			failed: flush output, then close
 *		p += n; len -= n;
 *		handle(&ev);			ev may point into p's old bytes
 *	}
 *	flush ws_output(); if ws_close_expected(c), close the transport.
 *
 * Return codes: a count of bytes (>= 0), WS_AGAIN, or a negative WS_E_*
 * grouped by class (see enum ws_status and ws_status_class()).
 */
#ifndef WS_WS_H
#define WS_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ws_conn;

enum ws_role {
	WS_ROLE_SERVER,
	WS_ROLE_CLIENT
};

enum ws_state {
	WS_CONNECTING,		/* opening handshake not finished */
	WS_OPEN,
	WS_CLOSING,		/* a close frame was sent or received, not both */
	WS_CLOSED		/* closing handshake done, or connection failed */
};

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa
};

/* Close codes (RFC 6455 section 7.4.1, and the IANA registry). */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005,	/* never on the wire */
	WS_CLOSE_ABNORMAL = 1006,	/* never on the wire */
	WS_CLOSE_INVALID_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_MANDATORY_EXT = 1010,
	WS_CLOSE_INTERNAL = 1011,
	WS_CLOSE_RESTART = 1012,
	WS_CLOSE_TRY_AGAIN = 1013,
	WS_CLOSE_BAD_GATEWAY = 1014,
	WS_CLOSE_TLS = 1015		/* never on the wire */
};

/*
 * Status codes.  Classes (ws_status_class()):
 *   WS_AGAIN           need more input; nothing was consumed.  Present the
 *                      same bytes again, with more after them.
 *   usage    (-10..)   the call was wrong for the state or its arguments;
 *                      nothing changed.  A bug in the caller.
 *   resource (-20..)   an allocation failed.  The connection is failed:
 *                      flush ws_output() (a 1011 close, if there was room)
 *                      and close the transport.
 *   handshake (-30..)  the opening handshake failed.  Server: an HTTP error
 *                      response is queued (ws_http_status()); flush it and
 *                      close.  Client: the response was refused
 *                      (ws_http_status(), ws_error()); close.
 *   protocol (-40..)   the peer broke RFC 6455.  A close frame with the
 *                      code the RFC names is queued (ws_close_code_sent());
 *                      flush it and close.
 *   closed   (-50)     bytes arrived after the connection was closed
 *                      (ws_recv) or the transport was lost (ws_recv_eof);
 *                      nothing more is read.  On a closed connection,
 *                      ws_recv() with no bytes returns WS_AGAIN, so the
 *                      receive loop ends normally after a clean close.
 */
enum ws_status {
	WS_OK = 0,
	WS_AGAIN = -1,

	WS_E_STATE = -10,	/* not allowed in this state */
	WS_E_INVAL = -11,	/* bad argument */

	WS_E_NOMEM = -20,	/* allocation failed */

	WS_E_HTTP = -30,	/* malformed HTTP head (400) */
	WS_E_HTTP_TOO_LARGE = -31, /* head or header count over limit (431) */
	WS_E_HANDSHAKE = -32,	/* well-formed HTTP, not a valid handshake */

	WS_E_PROTOCOL = -40,	/* 1002 */
	WS_E_UTF8 = -41,	/* 1007 */
	WS_E_TOO_BIG = -42,	/* 1009 */
	WS_E_INFLATE = -43,	/* 1007: compressed data that does not inflate */

	WS_E_CLOSED = -50
};

enum ws_status_class {
	WS_CLASS_OK,
	WS_CLASS_AGAIN,
	WS_CLASS_USAGE,
	WS_CLASS_RESOURCE,
	WS_CLASS_HANDSHAKE,
	WS_CLASS_PROTOCOL,
	WS_CLASS_CLOSED
};

enum ws_status_class ws_status_class(int status);
const char *ws_strstatus(int status);

/* A borrowed string: points into a buffer the caller owns. */
struct ws_str {
	const char *p;
	size_t len;
};

struct ws_header {
	struct ws_str name;
	struct ws_str value;
};

/*
 * Limits on what the peer controls.  The object is read, not copied, by
 * ws_conn_new(): it must outlive every connection that uses it (the daemon
 * keeps one per route).
 */
struct ws_limits {
	size_t max_head_bytes;		/* HTTP head, default 8192 */
	size_t max_headers;		/* header lines, default 100 */
	uint64_t max_message_size;	/* reassembled message, default 1 MiB */
	uint64_t max_frame_size;	/* one frame's payload, default 1 MiB */
};

#define WS_DEFAULT_MAX_HEAD_BYTES 8192
#define WS_DEFAULT_MAX_HEADERS 100
#define WS_DEFAULT_MAX_MESSAGE_SIZE (1024 * 1024)

void ws_limits_default(struct ws_limits *l);

/*
 * A pluggable allocator (nghttp2_mem style).  realloc(ptr, 0) is never
 * called.  The object must outlive the connections that use it.
 */
struct ws_allocator {
	void *(*malloc)(size_t size, void *ud);
	void *(*realloc)(void *ptr, size_t size, void *ud);
	void (*free)(void *ptr, void *ud);
	void *ud;
};

/* A source of random bytes for client keys and masks; 0 on success. */
typedef int (*ws_random_fn)(uint8_t *buf, size_t len, void *ud);

/*
 * Create a connection in state WS_CONNECTING.  limits and alloc may be
 * NULL for the defaults (libc).  Returns NULL when allocation fails.
 */
struct ws_conn *ws_conn_new(enum ws_role role, const struct ws_limits *limits,
    const struct ws_allocator *alloc);
void ws_conn_free(struct ws_conn *c);

/*
 * Use other limits from now on (a server learns its route's limits once it
 * has parsed the request).  The same lifetime rule applies.
 */
void ws_conn_set_limits(struct ws_conn *c, const struct ws_limits *limits);

/*
 * In-place mode, for callers that keep a frame's bytes contiguous: a data
 * frame that is a whole message of at most max bytes (header included)
 * is not copied piece by piece into the connection's buffer.  Until all
 * of it is there, ws_recv() unmasks and validates the new bytes in place
 * (so invalid UTF-8 still fails at once) and returns WS_AGAIN; the caller
 * must then present the same bytes again, as they are now, with more
 * after them.  0 (the default) turns it off.
 */
void ws_conn_set_inplace(struct ws_conn *c, size_t max);

/*
 * After WS_AGAIN: how many bytes the unit ws_recv() waits for needs in
 * all, counted from the start of the buffer it was given; 0 if unknown.
 */
size_t ws_recv_hint(const struct ws_conn *c);

/*
 * Give back the buffers that hold nothing now (output queue, message
 * reassembly), so that an idle connection holds only the object itself.
 * They are made again when needed; call it when the connection goes
 * quiet, not after every message.
 */
void ws_conn_shrink(struct ws_conn *c);

/*
 * Data frames that arrive after this end sent its close frame are
 * discarded by default.  A client that closes when its input ends may
 * still want the replies in flight: with on = 1 they are delivered until
 * the peer's close frame arrives.
 */
void ws_conn_set_keep_data(struct ws_conn *c, int on);

/* Replace the random source (default: OpenSSL RAND_bytes).  For tests. */
void ws_conn_set_random(struct ws_conn *c, ws_random_fn fn, void *ud);

/*
 * permessage-deflate (RFC 7692).  The names follow the RFC's parameters;
 * what each setting means depends on the role:
 *
 *   server_max_window_bits  server: the most our compressor uses (the
 *                           answer is the smaller of this and the offer);
 *                           client: < 15 asks the server for at most this.
 *   client_max_window_bits  server: the most we let the client use, when
 *                           its offer allows us to say so (a client that
 *                           does not offer the parameter may use 15);
 *                           client: the most our compressor uses.
 *   server_no_context_takeover  server: reset our compressor after each
 *                           message; client: ask the server to.
 *   client_no_context_takeover  server: ask the client to reset its
 *                           compressor; client: reset ours.
 *   mem_level, level        our compressor's zlib memLevel (1..9) and
 *                           level (-1 for zlib's default, 0..9).
 *   min_size                messages shorter than this are sent
 *                           uncompressed.
 *
 * Window bits are 8..15.  Memory per connection, in zlib's terms: the
 * compressor 2^(bits+2) + 2^(mem_level+9) bytes, the inflater 2^bits +
 * about 7 KiB; each is made when first needed.
 */
struct ws_deflate {
	uint8_t server_max_window_bits;
	uint8_t client_max_window_bits;
	uint8_t server_no_context_takeover;
	uint8_t client_no_context_takeover;
	uint8_t mem_level;
	int8_t level;
	size_t min_size;
};

/* 15 and 15 bits, context takeover both ways, memLevel 8, level -1,
   min_size 0. */
void ws_deflate_default(struct ws_deflate *d);

/*
 * Offer (client, before ws_connect()) or accept (server, before
 * ws_accept()) permessage-deflate with these settings (copied); NULL
 * turns it off.  A server answers the first acceptable offer of the
 * request; offers it cannot accept (unknown or repeated parameters, bad
 * values) are declined and the connection runs uncompressed.  A client
 * fails the handshake on a malformed answer or one that refuses what it
 * asked for.  WS_E_STATE once negotiated, WS_E_INVAL for a setting out of
 * range, WS_E_NOMEM.
 */
int ws_conn_set_deflate(struct ws_conn *c, const struct ws_deflate *d);

/* 1 if ws_send() would compress a message of len bytes. */
int ws_conn_deflate(const struct ws_conn *c, size_t len);

/* 1 and the agreed parameters (in the RFC's terms) if permessage-deflate
   is in force; 0 if not. */
int ws_conn_deflate_params(const struct ws_conn *c, struct ws_deflate *out);

enum ws_role ws_conn_role(const struct ws_conn *c);
enum ws_state ws_conn_state(const struct ws_conn *c);

/* ---------------------------------------------------------------- input */

enum ws_event_type {
	WS_EV_NONE,
	WS_EV_REQUEST,		/* server: a valid upgrade request; see
				   ws_conn_request(), then ws_accept() or
				   ws_reject() */
	WS_EV_RESPONSE,		/* client: the 101 was accepted; OPEN */
	WS_EV_TEXT,		/* a whole message, valid UTF-8 */
	WS_EV_BINARY,		/* a whole message */
	WS_EV_PING,		/* a ping; the pong is already queued */
	WS_EV_PONG,
	WS_EV_CLOSE		/* the peer's close frame; the reply, if one
				   is due, is already queued */
};

struct ws_event {
	enum ws_event_type type;
	const uint8_t *data;	/* payload, close reason, or the HTTP head
				   for REQUEST/RESPONSE */
	size_t len;
	uint16_t code;		/* WS_EV_CLOSE: the code, 1005 if none */
};

/*
 * Feed bytes read from the peer.  Consumes a prefix of buf and produces at
 * most one event in *ev (WS_EV_NONE if that prefix yielded none).  buf is
 * modified in place (payloads are unmasked there) and ev->data may point
 * into it, or into the connection's own buffer: it is valid until the next
 * call on c or until the caller reuses buf, whichever is first.
 *
 * Returns the number of bytes consumed (>= 0), WS_AGAIN when buf holds
 * only part of the next unit (HTTP head, frame header, control frame;
 * call again with the same bytes and more after them), or a negative
 * status of another class (see enum ws_status) saying what to do next.
 * While a server waits for ws_accept()/ws_reject() after WS_EV_REQUEST,
 * it returns WS_AGAIN and consumes nothing.
 */
ssize_t ws_recv(struct ws_conn *c, uint8_t *buf, size_t len,
    struct ws_event *ev);

/*
 * The transport reached end of file.  Returns WS_OK if the closing
 * handshake had finished, else WS_E_CLOSED and the connection is CLOSED
 * with code 1006 (ws_close_code_received()).
 */
int ws_recv_eof(struct ws_conn *c);

/* --------------------------------------------------------------- output */

/*
 * Bytes queued to send: handshake, replies, frames built by ws_send*().
 * Returns a pointer to *len bytes, or NULL with *len 0 when nothing is
 * queued.  The caller writes some or all of them and reports how many with
 * ws_output_consume().  The pointer is valid until the next call on c.
 */
const uint8_t *ws_output(struct ws_conn *c, size_t *len);
void ws_output_consume(struct ws_conn *c, size_t n);

/*
 * 1 when the protocol is done with the transport: once the output is
 * flushed, a server closes it now; a client waits a bounded time for the
 * server to close first (RFC 6455 section 7.1.1), then closes it.
 */
int ws_close_expected(const struct ws_conn *c);

/* ------------------------------------------------------ server handshake */

/* The parsed upgrade request.  Every ws_str borrows from the buffer given
   to ws_recv(); valid while that buffer is, until ws_accept()/ws_reject(). */
struct ws_request {
	struct ws_str method;
	struct ws_str target;		/* path and query as sent */
	struct ws_str path;		/* target without the query */
	struct ws_str query;		/* after '?', without it; len 0 if none */
	int minor_version;		/* HTTP/1.x */
	struct ws_str host;
	struct ws_str origin;		/* len 0 if absent */
	struct ws_str key;
	const struct ws_header *headers;
	size_t nheaders;
};

/* NULL unless a WS_EV_REQUEST is waiting for ws_accept()/ws_reject(). */
const struct ws_request *ws_conn_request(const struct ws_conn *c);

/*
 * Split every header called name (case-insensitive) as a comma-separated
 * list: the offered subprotocols (Sec-WebSocket-Protocol) or extension
 * offers (Sec-WebSocket-Extensions).  Elements are trimmed and empty ones
 * skipped.  Fills up to max elements and returns how many there are in all
 * (which may exceed max).
 */
size_t ws_header_list(const struct ws_header *h, size_t n, const char *name,
    struct ws_str *out, size_t max);
/* First value of header name, or NULL. */
const struct ws_str *ws_header_get(const struct ws_header *h, size_t n,
    const char *name);

#define WS_RESPONSE_MAX_HEADERS 16

/* The 101 response, a value the caller may change before ws_accept(). */
struct ws_response {
	const char *subprotocol;	/* NULL: none chosen */
	const char *extensions;		/* NULL: none */
	struct {
		const char *name;
		const char *value;
	} headers[WS_RESPONSE_MAX_HEADERS];
	size_t nheaders;
};

void ws_response_init(struct ws_response *r);
/* WS_E_INVAL if full or if name or value could split the head. */
int ws_response_add_header(struct ws_response *r, const char *name,
    const char *value);

/*
 * Queue the 101 response and enter WS_OPEN.  WS_E_STATE unless a request
 * is waiting, WS_E_INVAL for a subprotocol the client did not offer or a
 * header that could split the head, WS_E_NOMEM.
 */
int ws_accept(struct ws_conn *c, const struct ws_response *r);

/*
 * Queue an HTTP error response (status 400..599, reason phrase or NULL for
 * the standard one, a plain-text body or NULL) with Connection: close,
 * and enter WS_CLOSED.  Allowed while CONNECTING.  Extra headers (e.g.
 * Sec-WebSocket-Version for 426) may be passed as a NULL-terminated array
 * of "Name: value" strings, or NULL.
 */
int ws_reject(struct ws_conn *c, int status, const char *reason,
    const char *body, const char *const *headers);

/* ------------------------------------------------------ client handshake */

struct ws_client_request {
	const char *host;		/* Host header, with :port if not default */
	const char *target;		/* path and query; NULL means "/" */
	const char *origin;		/* NULL: no Origin */
	const char *const *subprotocols;
	size_t nsubprotocols;
	const char *extensions;		/* offer, or NULL */
	const char *const *headers;	/* "Name: value" lines */
	size_t nheaders;
};

/*
 * Queue the upgrade request (with a fresh random key).  Client role,
 * CONNECTING, once.  WS_E_INVAL for a missing host or a field that could
 * split the head; WS_E_NOMEM.
 */
int ws_connect(struct ws_conn *c, const struct ws_client_request *r);

/* The subprotocol in force once OPEN, or NULL. */
const char *ws_conn_subprotocol(const struct ws_conn *c);

/*
 * HTTP status of the handshake: the status received (client) or sent
 * (server), 0 before there is one.
 */
int ws_http_status(const struct ws_conn *c);

/* A short English reason for the last failure, or "". */
const char *ws_error(const struct ws_conn *c);

/* -------------------------------------------------------------- sending */

/*
 * Queue a whole message or control frame (client frames are masked with a
 * fresh key; with permessage-deflate in force, messages of at least
 * min_size bytes are compressed).  op: TEXT (data must be valid UTF-8, else WS_E_INVAL),
 * BINARY, PING, PONG (payload <= 125).  WS_E_STATE unless OPEN (or, for
 * PING/PONG, CLOSING after receiving the peer's close) and not inside a
 * fragmented send.  WS_E_NOMEM.
 */
int ws_send(struct ws_conn *c, enum ws_opcode op, const void *data,
    size_t len);

/*
 * Queue one fragment of a message: op TEXT or BINARY for the first, CONT
 * for the rest, fin 1 on the last.  The first fragment's length decides
 * whether the message is compressed (see ws_conn_deflate()).  Text is validated across fragments
 * (a fragment may end inside a UTF-8 sequence; the message may not).
 * Control frames may be sent between fragments.
 */
int ws_send_frame(struct ws_conn *c, enum ws_opcode op, int fin,
    const void *data, size_t len);

/*
 * Start the closing handshake: queue a close frame with code (0 for none;
 * else 1000-1003, 1007-1014 or 3000-4999) and a UTF-8 reason of at most
 * 123 bytes.  WS_E_STATE if a close was already sent.
 */
int ws_close(struct ws_conn *c, uint16_t code, const char *reason,
    size_t len);

/*
 * Zero-copy sending (server role): check the state and the payload as
 * ws_send_frame() would, and write only the frame header (at most
 * WS_FRAME_HEADER_MAX bytes) into hdr; the caller sends hdr and then the
 * payload itself, after flushing ws_output().  trusted_utf8 skips the
 * validation of text the caller knows to be valid (e.g. a text message
 * this module delivered).  The message goes uncompressed, which
 * permessage-deflate allows; WS_E_STATE for a continuation of a
 * compressed fragmented send.  Returns the header length, or a status.
 */
#define WS_FRAME_HEADER_MAX 14
int ws_send_header(struct ws_conn *c, enum ws_opcode op, int fin,
    const void *data, size_t len, int trusted_utf8, uint8_t *hdr);

/* 1 if a data message could be started now (OPEN, no fragmented send). */
int ws_can_send(const struct ws_conn *c);

/* ---------------------------------------------------------------- close */

/* Codes of the close frames sent and received: 0 if none yet; received is
   1005 for a close without a code and 1006 for a lost transport. */
uint16_t ws_close_code_sent(const struct ws_conn *c);
uint16_t ws_close_code_received(const struct ws_conn *c);

/* 1 if code may appear in a close frame on the wire. */
int ws_close_code_valid(unsigned code);

/* ------------------------------------------------------------ utilities */

/* 1 if s is an HTTP token (RFC 9110 section 5.6.2), as a subprotocol
   name must be. */
int ws_token_valid(const char *s);

/* Sec-WebSocket-Accept for a key: 28 characters and a NUL into out. */
void ws_accept_key(const char *key, size_t keylen, char out[29]);

#endif /* WS_WS_H */
