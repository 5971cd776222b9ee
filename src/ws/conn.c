/*
 * conn.c - struct ws_conn: its life, the receiving state machine (frames,
 * messages, control frames, the closing handshake) and sending.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "frame.h"
#include "utf8.h"
#include "ws_int.h"

/* Buffers larger than this are given back once a message is done. */
#define WS_KEEP_BUF (16 * 1024)

static const struct ws_limits default_limits = {
	WS_DEFAULT_MAX_HEAD_BYTES,
	WS_DEFAULT_MAX_HEADERS,
	WS_DEFAULT_MAX_MESSAGE_SIZE,
	WS_DEFAULT_MAX_MESSAGE_SIZE
};

static void *
libc_malloc(size_t n, void *ud)
{
	(void)ud;
	return malloc(n);
}

static void *
libc_realloc(void *p, size_t n, void *ud)
{
	(void)ud;
	return realloc(p, n);
}

static void
libc_free(void *p, void *ud)
{
	(void)ud;
	free(p);
}

static const struct ws_allocator libc_allocator = {
	libc_malloc, libc_realloc, libc_free, NULL
};

void
ws_limits_default(struct ws_limits *l)
{
	*l = default_limits;
}

void *
ws__alloc(struct ws_conn *c, size_t n)
{
	return c->alloc->malloc(n, c->alloc->ud);
}

void
ws__free(struct ws_conn *c, void *p)
{
	if (p != NULL)
		c->alloc->free(p, c->alloc->ud);
}

static void
buf_release(struct ws_conn *c, struct ws_buf *b)
{
	ws__free(c, b->p);
	memset(b, 0, sizeof(*b));
}

/*
 * Make room for n more bytes after b->len; the capacity doubles, but not
 * past limit if that is enough (0: no limit).
 */
static int
buf_reserve_max(struct ws_conn *c, struct ws_buf *b, size_t n, uint64_t limit)
{
	size_t cap;
	uint8_t *p;

	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= n)
		return 0;
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return 0;
	}
	if (n > SIZE_MAX / 2 - b->len)
		return -1;
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap - b->len < n)
		cap *= 2;
	if (limit > 0 && cap > limit && limit >= b->len + n)
		cap = (size_t)limit;
	p = c->alloc->realloc(b->p, cap, c->alloc->ud);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int
buf_reserve(struct ws_conn *c, struct ws_buf *b, size_t n)
{
	return buf_reserve_max(c, b, n, 0);
}

int
ws__out_reserve(struct ws_conn *c, size_t n)
{
	return buf_reserve(c, &c->out, n);
}

int
ws__msg_reserve(struct ws_conn *c, size_t n)
{
	return buf_reserve_max(c, &c->msg, n, c->limits->max_message_size);
}

int
ws__out_append(struct ws_conn *c, const void *p, size_t n)
{
	if (buf_reserve(c, &c->out, n) != 0)
		return -1;
	memcpy(c->out.p + c->out.len, p, n);
	c->out.len += n;
	return 0;
}

void
ws__hs_free(struct ws_conn *c)
{
	if (c->hs == NULL)
		return;
	ws__free(c, c->hs->offered);
	ws__free(c, c->hs);
	c->hs = NULL;
}

struct ws_conn *
ws_conn_new(enum ws_role role, const struct ws_limits *limits,
    const struct ws_allocator *alloc)
{
	struct ws_conn *c;
	size_t size = sizeof(*c);

	if (alloc == NULL)
		alloc = &libc_allocator;
	if (limits == NULL)
		limits = &default_limits;
	if (role == WS_ROLE_CLIENT)
		size += WS_POOL_SIZE;
	if ((c = alloc->malloc(size, alloc->ud)) == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->alloc = alloc;
	c->limits = limits;
	c->role = role;
	c->state = WS_CONNECTING;
	c->err = "";
	c->pool_pos = WS_POOL_SIZE;
	return c;
}

void
ws_conn_free(struct ws_conn *c)
{
	if (c == NULL)
		return;
	ws__hs_free(c);
	ws__pmd_free(c);
	buf_release(c, &c->msg);
	buf_release(c, &c->out);
	ws__free(c, c->subprotocol);
	c->alloc->free(c, c->alloc->ud);
}

void
ws_conn_set_limits(struct ws_conn *c, const struct ws_limits *limits)
{
	c->limits = limits != NULL ? limits : &default_limits;
}

void
ws_conn_set_inplace(struct ws_conn *c, size_t max)
{
	c->inplace_max = max > UINT32_MAX ? UINT32_MAX : (uint32_t)max;
}

void
ws_conn_set_keep_data(struct ws_conn *c, int on)
{
	if (on)
		c->flags |= WS_F_KEEP_DATA;
	else
		c->flags &= ~WS_F_KEEP_DATA;
}

void
ws_conn_shrink(struct ws_conn *c)
{
	if (c->out.off == c->out.len)
		buf_release(c, &c->out);
	if (c->msg_op == 0 && !(c->flags & WS_F_IN_FRAME))
		buf_release(c, &c->msg);
	ws__pmd_shrink(c, c->msg_op == 0 && !(c->flags & WS_F_IN_FRAME),
	    !(c->flags & WS_F_SEND_FRAG));
}

size_t
ws_recv_hint(const struct ws_conn *c)
{
	return c->hint;
}

void
ws_conn_set_random(struct ws_conn *c, ws_random_fn fn, void *ud)
{
	c->random = fn;
	c->random_ud = ud;
	c->pool_pos = WS_POOL_SIZE;
}

/* Random bytes for keys (any length) and masks (4 bytes, pooled). */
int
ws__random(struct ws_conn *c, uint8_t *buf, size_t len)
{
	if (c->random != NULL)
		return c->random(buf, len, c->random_ud);
	if (len == 4 && c->role == WS_ROLE_CLIENT) {
		if (c->pool_pos + 4 > WS_POOL_SIZE) {
			if (RAND_bytes(c->pool, WS_POOL_SIZE) != 1)
				return -1;
			c->pool_pos = 0;
		}
		memcpy(buf, c->pool + c->pool_pos, 4);
		c->pool_pos += 4;
		return 0;
	}
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

enum ws_role
ws_conn_role(const struct ws_conn *c)
{
	return c->role;
}

enum ws_state
ws_conn_state(const struct ws_conn *c)
{
	return c->state;
}

int
ws_http_status(const struct ws_conn *c)
{
	return c->http_status;
}

const char *
ws_error(const struct ws_conn *c)
{
	return c->err;
}

const char *
ws_conn_subprotocol(const struct ws_conn *c)
{
	return c->subprotocol;
}

uint16_t
ws_close_code_sent(const struct ws_conn *c)
{
	return c->close_sent;
}

uint16_t
ws_close_code_received(const struct ws_conn *c)
{
	return c->close_rcvd;
}

int
ws_close_expected(const struct ws_conn *c)
{
	return c->state == WS_CLOSED;
}

int
ws_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1014) ||
	    (code >= 3000 && code <= 4999);
}

enum ws_status_class
ws_status_class(int s)
{
	if (s >= 0)
		return WS_CLASS_OK;
	if (s == WS_AGAIN)
		return WS_CLASS_AGAIN;
	if (s <= -10 && s > -20)
		return WS_CLASS_USAGE;
	if (s <= -20 && s > -30)
		return WS_CLASS_RESOURCE;
	if (s <= -30 && s > -40)
		return WS_CLASS_HANDSHAKE;
	if (s <= -40 && s > -50)
		return WS_CLASS_PROTOCOL;
	return WS_CLASS_CLOSED;
}

const char *
ws_strstatus(int s)
{
	switch (s) {
	case WS_OK: return "ok";
	case WS_AGAIN: return "need more input";
	case WS_E_STATE: return "not allowed in this state";
	case WS_E_INVAL: return "invalid argument";
	case WS_E_NOMEM: return "out of memory";
	case WS_E_HTTP: return "malformed HTTP";
	case WS_E_HTTP_TOO_LARGE: return "HTTP head too large";
	case WS_E_HANDSHAKE: return "handshake failed";
	case WS_E_PROTOCOL: return "protocol error";
	case WS_E_UTF8: return "invalid UTF-8";
	case WS_E_TOO_BIG: return "message too big";
	case WS_E_INFLATE: return "compressed data does not inflate";
	case WS_E_CLOSED: return "connection closed";
	default: return s >= 0 ? "ok" : "unknown status";
	}
}

/* ------------------------------------------------------------- sending */

static int
queue_frame(struct ws_conn *c, unsigned op, int fin, const void *data,
    size_t len)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX], key[4];
	int client = c->role == WS_ROLE_CLIENT;
	size_t h;
	uint8_t *p;

	if (client && ws__random(c, key, 4) != 0)
		return WS_E_NOMEM;
	h = ws_frame_header(hdr, op, fin, 0, len, client ? key : NULL);
	if (buf_reserve(c, &c->out, h + len) != 0)
		return WS_E_NOMEM;
	p = c->out.p + c->out.len;
	memcpy(p, hdr, h);
	if (len > 0)
		memcpy(p + h, data, len);
	if (client)
		ws_mask(p + h, len, key, 0);
	c->out.len += h + len;
	return WS_OK;
}

/* A data frame of a compressed message: compress, then frame. */
static int
queue_deflated(struct ws_conn *c, unsigned op, int fin, const void *data,
    size_t len)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX], key[4];
	int client = c->role == WS_ROLE_CLIENT, r;
	size_t h, clen, at;
	uint8_t *p;

	if (client && ws__random(c, key, 4) != 0)
		return WS_E_NOMEM;
	if ((r = ws__pmd_deflate(c, data, len, fin, &clen)) != WS_OK)
		return r;
	at = c->out.len;
	h = ws_frame_header(hdr, op, fin, op != WS_OP_CONT ? WS_RSV1 : 0,
	    clen, client ? key : NULL);
	p = c->out.p + at;
	memmove(p + h, p + WS_FRAME_HEADER_MAX, clen);
	memcpy(p, hdr, h);
	if (client)
		ws_mask(p + h, clen, key, 0);
	c->out.len = at + h + clen;
	return WS_OK;
}

static int
queue_close(struct ws_conn *c, uint16_t code, const char *reason, size_t len)
{
	uint8_t payload[125] = { 0 };
	int r;

	if (code != 0) {
		payload[0] = (uint8_t)(code >> 8);
		payload[1] = (uint8_t)code;
		if (len > 0)
			memcpy(payload + 2, reason, len);
	}
	r = queue_frame(c, WS_OP_CLOSE, 1, payload, code != 0 ? len + 2 : 0);
	if (r == WS_OK) {
		c->flags |= WS_F_CLOSE_SENT;
		c->close_sent = code != 0 ? code : WS_CLOSE_NO_STATUS;
	}
	return r;
}

int
ws__fail(struct ws_conn *c, int status, uint16_t code, const char *why)
{
	c->err = why;
	if (code != 0 && c->state != WS_CONNECTING &&
	    !(c->flags & WS_F_CLOSE_SENT))
		(void)queue_close(c, code, why, strlen(why) <= 123 ?
		    strlen(why) : 0);
	c->state = WS_CLOSED;
	c->flags &= ~WS_F_IN_FRAME;
	ws__hs_free(c);
	return status;
}

/*
 * Check that a data frame may be sent now; *utf8 gets the validation
 * state after it.
 */
static int
check_data(struct ws_conn *c, enum ws_opcode op, int fin, const void *data,
    size_t len, int trusted, uint32_t *utf8)
{
	int text;

	if (c->state != WS_OPEN)
		return WS_E_STATE;
	if (op == WS_OP_TEXT || op == WS_OP_BINARY) {
		if (c->flags & WS_F_SEND_FRAG)
			return WS_E_STATE;
		text = op == WS_OP_TEXT;
		*utf8 = WS_UTF8_ACCEPT;
	} else if (op == WS_OP_CONT) {
		if (!(c->flags & WS_F_SEND_FRAG))
			return WS_E_STATE;
		text = (c->flags & WS_F_SEND_TEXT) != 0;
		*utf8 = c->utf8_out;
	} else
		return WS_E_INVAL;
	if (text && !trusted) {
		*utf8 = ws_utf8_validate(*utf8, data, len);
		if (*utf8 == WS_UTF8_REJECT ||
		    (fin && *utf8 != WS_UTF8_ACCEPT))
			return WS_E_INVAL;
	}
	return WS_OK;
}

static void
commit_data(struct ws_conn *c, enum ws_opcode op, int fin, uint32_t utf8,
    int deflated)
{
	if (fin)
		c->flags &= ~(WS_F_SEND_FRAG | WS_F_SEND_TEXT |
		    WS_F_SEND_DEFLATE);
	else if (op != WS_OP_CONT) {
		c->flags |= WS_F_SEND_FRAG;
		if (op == WS_OP_TEXT)
			c->flags |= WS_F_SEND_TEXT;
		if (deflated)
			c->flags |= WS_F_SEND_DEFLATE;
	}
	c->utf8_out = utf8;
}

int
ws_send_frame(struct ws_conn *c, enum ws_opcode op, int fin,
    const void *data, size_t len)
{
	uint32_t utf8;
	int r, z;

	if ((r = check_data(c, op, fin, data, len, 0, &utf8)) != WS_OK)
		return r;
	z = op == WS_OP_CONT ? (c->flags & WS_F_SEND_DEFLATE) != 0 :
	    ws_conn_deflate(c, len);
	r = z ? queue_deflated(c, op, fin, data, len) :
	    queue_frame(c, op, fin, data, len);
	if (r != WS_OK)
		return ws__fail(c, r, 0, "out of memory");
	commit_data(c, op, fin, utf8, z);
	return WS_OK;
}

int
ws_send(struct ws_conn *c, enum ws_opcode op, const void *data, size_t len)
{
	switch (op) {
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		return ws_send_frame(c, op, 1, data, len);
	case WS_OP_PING:
	case WS_OP_PONG:
		if (c->state != WS_OPEN && !(c->state == WS_CLOSING &&
		    !(c->flags & WS_F_CLOSE_SENT)))
			return WS_E_STATE;
		if (len > 125)
			return WS_E_INVAL;
		if (queue_frame(c, op, 1, data, len) != WS_OK)
			return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
		return WS_OK;
	default:
		return WS_E_INVAL;
	}
}

int
ws_send_header(struct ws_conn *c, enum ws_opcode op, int fin,
    const void *data, size_t len, int trusted_utf8, uint8_t *hdr)
{
	uint32_t utf8;
	int r;

	if (c->role != WS_ROLE_SERVER ||
	    (op == WS_OP_CONT && (c->flags & WS_F_SEND_DEFLATE)))
		return WS_E_STATE;
	r = check_data(c, op, fin, data, len, trusted_utf8, &utf8);
	if (r != WS_OK)
		return r;
	commit_data(c, op, fin, utf8, 0);
	return (int)ws_frame_header(hdr, op, fin, 0, len, NULL);
}

int
ws_can_send(const struct ws_conn *c)
{
	return c->state == WS_OPEN && !(c->flags & WS_F_SEND_FRAG);
}

int
ws_close(struct ws_conn *c, uint16_t code, const char *reason, size_t len)
{
	int r;

	if (c->state == WS_CONNECTING || c->state == WS_CLOSED ||
	    (c->flags & WS_F_CLOSE_SENT))
		return WS_E_STATE;
	if ((code == 0 && len > 0) || (code != 0 && !ws_close_code_valid(code)) ||
	    len > 123 || (len > 0 && ws_utf8_validate(WS_UTF8_ACCEPT,
	    (const uint8_t *)reason, len) != WS_UTF8_ACCEPT))
		return WS_E_INVAL;
	if ((r = queue_close(c, code, reason, len)) != WS_OK)
		return ws__fail(c, r, 0, "out of memory");
	c->state = (c->flags & WS_F_CLOSE_RCVD) ? WS_CLOSED : WS_CLOSING;
	return WS_OK;
}

const uint8_t *
ws_output(struct ws_conn *c, size_t *len)
{
	*len = c->out.len - c->out.off;
	return *len > 0 ? c->out.p + c->out.off : NULL;
}

void
ws_output_consume(struct ws_conn *c, size_t n)
{
	if (n > c->out.len - c->out.off)
		n = c->out.len - c->out.off;
	c->out.off += n;
	if (c->out.off == c->out.len) {
		c->out.off = c->out.len = 0;
		if (c->out.cap > WS_KEEP_BUF)
			buf_release(c, &c->out);
	}
}

/* ----------------------------------------------------------- receiving */

static ssize_t
recv_control(struct ws_conn *c, unsigned op, uint8_t *p, size_t n,
    struct ws_event *ev)
{
	uint16_t code = WS_CLOSE_NO_STATUS;

	ev->data = p;
	ev->len = n;
	switch (op) {
	case WS_OP_PING:
		ev->type = WS_EV_PING;
		if (!(c->flags & WS_F_CLOSE_SENT) &&
		    queue_frame(c, WS_OP_PONG, 1, p, n) != WS_OK)
			return ws__fail(c, WS_E_NOMEM, WS_CLOSE_INTERNAL,
			    "out of memory");
		return WS_OK;
	case WS_OP_PONG:
		ev->type = WS_EV_PONG;
		return WS_OK;
	default:
		break;
	}
	if (n == 1)
		return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
		    "close frame with a 1-byte payload");
	if (n >= 2) {
		code = (uint16_t)(p[0] << 8 | p[1]);
		if (!ws_close_code_valid(code))
			return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
			    "invalid close code");
		if (ws_utf8_validate(WS_UTF8_ACCEPT, p + 2, n - 2) !=
		    WS_UTF8_ACCEPT)
			return ws__fail(c, WS_E_UTF8, WS_CLOSE_INVALID_DATA,
			    "close reason is not valid UTF-8");
		ev->data = p + 2;
		ev->len = n - 2;
	} else
		ev->len = 0;
	ev->type = WS_EV_CLOSE;
	ev->code = code;
	c->close_rcvd = code;
	c->flags |= WS_F_CLOSE_RCVD;
	if (!(c->flags & WS_F_CLOSE_SENT))
		(void)queue_close(c, code == WS_CLOSE_NO_STATUS ? 0 : code,
		    NULL, 0);
	c->state = WS_CLOSED;
	return WS_OK;
}

/* Deliver the message that was reassembled in c->msg. */
static ssize_t
deliver_msg(struct ws_conn *c, ssize_t used, struct ws_event *ev)
{
	if (c->msg_op == WS_OP_TEXT && c->utf8_in != WS_UTF8_ACCEPT)
		return ws__fail(c, WS_E_UTF8, WS_CLOSE_INVALID_DATA,
		    "text message ends inside a UTF-8 sequence");
	ev->type = c->msg_op == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
	ev->data = c->msg.p;
	ev->len = c->msg.len;
	c->msg_op = 0;
	c->flags &= ~WS_F_INFLATE;
	return used;
}

/* take payload bytes of a compressed message, unmasked here, inflated
   into c->msg. */
static ssize_t
recv_deflated(struct ws_conn *c, uint8_t *p, size_t take, size_t used,
    struct ws_event *ev)
{
	int r, end;

	if (c->role == WS_ROLE_SERVER)
		ws_mask(p, take, c->mask, (size_t)c->fpos);
	c->remain -= take;
	c->fpos += take;
	c->msg_size += take;
	end = c->remain == 0 && c->fin;
	if ((r = ws__pmd_inflate(c, p, take, end)) != WS_OK)
		return r;
	if (c->remain > 0)
		return (ssize_t)(used + take);
	c->flags &= ~WS_F_IN_FRAME;
	if (!end)
		return (ssize_t)(used + take);
	return deliver_msg(c, (ssize_t)(used + take), ev);
}

/*
 * Take payload bytes of the current data frame from p[0..n); used bytes
 * before p (the frame header) count in the return value.
 */
static ssize_t
recv_payload(struct ws_conn *c, uint8_t *p, size_t n, size_t used,
    struct ws_event *ev)
{
	size_t take = n < c->remain ? n : (size_t)c->remain;
	int whole;

	if (take == 0 && c->remain > 0)
		return used > 0 ? (ssize_t)used : WS_AGAIN;
	if (c->flags & WS_F_DISCARD) {
		c->remain -= take;
		if (c->remain == 0) {
			c->flags &= ~(WS_F_IN_FRAME | WS_F_DISCARD);
			if (c->fin) {
				c->msg_op = 0;
				c->flags &= ~WS_F_INFLATE;
			}
		}
		return (ssize_t)(used + take);
	}
	if (c->flags & WS_F_INFLATE)
		return recv_deflated(c, p, take, used, ev);
	/* The whole message is here, in one frame: deliver it in place. */
	whole = c->fin && c->fpos == 0 && take == c->remain && c->msg.len == 0;
	if (c->msg_op == WS_OP_TEXT) {
		if (c->role == WS_ROLE_SERVER)
			c->utf8_in = ws_unmask_utf8(p, take, c->mask,
			    (size_t)c->fpos, c->utf8_in);
		else
			c->utf8_in = ws_utf8_validate(c->utf8_in, p, take);
		if (c->utf8_in == WS_UTF8_REJECT)
			return ws__fail(c, WS_E_UTF8, WS_CLOSE_INVALID_DATA,
			    "text message is not valid UTF-8");
	} else if (c->role == WS_ROLE_SERVER)
		ws_mask(p, take, c->mask, (size_t)c->fpos);
	c->remain -= take;
	c->fpos += take;
	c->msg_size += take;
	if (!whole && take > 0) {
		if (ws__msg_reserve(c, take) != 0)
			return ws__fail(c, WS_E_NOMEM, WS_CLOSE_INTERNAL,
			    "out of memory");
		memcpy(c->msg.p + c->msg.len, p, take);
		c->msg.len += take;
	}
	if (c->remain > 0)
		return (ssize_t)(used + take);
	c->flags &= ~WS_F_IN_FRAME;
	if (!c->fin)
		return (ssize_t)(used + take);
	if (!whole)
		return deliver_msg(c, (ssize_t)(used + take), ev);
	if (c->msg_op == WS_OP_TEXT && c->utf8_in != WS_UTF8_ACCEPT)
		return ws__fail(c, WS_E_UTF8, WS_CLOSE_INVALID_DATA,
		    "text message ends inside a UTF-8 sequence");
	ev->type = c->msg_op == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
	ev->data = p;
	ev->len = take;
	c->msg_op = 0;
	return (ssize_t)(used + take);
}

/*
 * In-place mode: a whole-message frame is not all here yet.  Unmask and
 * validate the bytes not seen before, and wait for the rest.
 */
static ssize_t
peek_frame(struct ws_conn *c, uint8_t *buf, size_t len, size_t h,
    const struct ws_frame *f)
{
	uint8_t *p = buf + h + c->peeked;
	size_t n = len - h - c->peeked;

	if (!(c->flags & WS_F_PEEK)) {
		c->flags |= WS_F_PEEK;
		c->peeked = 0;
		c->utf8_in = WS_UTF8_ACCEPT;
		p = buf + h;
		n = len - h;
	}
	if (f->opcode == WS_OP_TEXT) {
		if (c->role == WS_ROLE_SERVER)
			c->utf8_in = ws_unmask_utf8(p, n, f->mask, c->peeked,
			    c->utf8_in);
		else
			c->utf8_in = ws_utf8_validate(c->utf8_in, p, n);
		if (c->utf8_in == WS_UTF8_REJECT)
			return ws__fail(c, WS_E_UTF8, WS_CLOSE_INVALID_DATA,
			    "text message is not valid UTF-8");
	} else if (c->role == WS_ROLE_SERVER)
		ws_mask(p, n, f->mask, c->peeked);
	c->peeked += (uint32_t)n;
	c->hint = (uint32_t)(h + f->len);
	return WS_AGAIN;
}

/* The whole frame is here and its first c->peeked bytes are done. */
static ssize_t
recv_peeked(struct ws_conn *c, uint8_t *p, size_t used, struct ws_event *ev)
{
	size_t done = c->peeked, n = (size_t)c->remain - done;

	if (c->msg_op == WS_OP_TEXT) {
		if (c->role == WS_ROLE_SERVER)
			c->utf8_in = ws_unmask_utf8(p + done, n, c->mask, done,
			    c->utf8_in);
		else
			c->utf8_in = ws_utf8_validate(c->utf8_in, p + done, n);
		if (c->utf8_in == WS_UTF8_REJECT)
			return ws__fail(c, WS_E_UTF8, WS_CLOSE_INVALID_DATA,
			    "text message is not valid UTF-8");
	} else if (c->role == WS_ROLE_SERVER)
		ws_mask(p + done, n, c->mask, done);
	n += done;
	c->peeked = 0;
	c->remain = 0;
	c->flags &= ~WS_F_IN_FRAME;
	if (c->msg_op == WS_OP_TEXT && c->utf8_in != WS_UTF8_ACCEPT)
		return ws__fail(c, WS_E_UTF8, WS_CLOSE_INVALID_DATA,
		    "text message ends inside a UTF-8 sequence");
	ev->type = c->msg_op == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
	ev->data = p;
	ev->len = n;
	c->msg_size = n;
	c->msg_op = 0;
	return (ssize_t)(used + n);
}

static ssize_t
recv_frame(struct ws_conn *c, uint8_t *buf, size_t len, struct ws_event *ev)
{
	struct ws_frame f;
	int h = ws_frame_parse(buf, len, &f);
	ssize_t r;

	if (h == WS_AGAIN) {
		c->hint = WS_FRAME_HEADER_MAX;
		return WS_AGAIN;
	}
	if (h < 0)
		return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
		    "frame length with the high bit set");
	if (f.rsv != 0 && (f.rsv != WS_RSV1 || c->pmd == NULL ||
	    !c->pmd->on || f.opcode == WS_OP_CONT || f.opcode >= 8))
		return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
		    f.rsv == WS_RSV1 && c->pmd != NULL && c->pmd->on ?
		    "RSV1 set on a control or continuation frame" :
		    "reserved bits set");
	if (!ws_opcode_valid(f.opcode))
		return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
		    "reserved opcode");
	if (f.masked != (c->role == WS_ROLE_SERVER))
		return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
		    f.masked ? "masked frame from the server" :
		    "unmasked frame from the client");
	if (f.opcode >= 8) {
		if (!f.fin)
			return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
			    "fragmented control frame");
		if (f.len > 125)
			return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
			    "control frame over 125 bytes");
		if (len - (size_t)h < f.len) {
			c->hint = (uint32_t)(h + f.len);
			return WS_AGAIN;
		}
		if (f.masked)
			ws_mask(buf + h, (size_t)f.len, f.mask, 0);
		r = recv_control(c, f.opcode, buf + h, (size_t)f.len, ev);
		return r < 0 ? r : (ssize_t)(h + f.len);
	}
	if (f.opcode == WS_OP_CONT && c->msg_op == 0)
		return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
		    "continuation frame without a message");
	if (f.opcode != WS_OP_CONT && c->msg_op != 0)
		return ws__fail(c, WS_E_PROTOCOL, WS_CLOSE_PROTOCOL,
		    "new message inside a fragmented one");
	if (f.len > c->limits->max_frame_size)
		return ws__fail(c, WS_E_TOO_BIG, WS_CLOSE_TOO_BIG,
		    "frame too big");
	if (c->inplace_max > 0 && f.opcode != WS_OP_CONT && f.fin && !f.rsv &&
	    !(c->flags & WS_F_CLOSE_RCVD) && (!(c->flags & WS_F_CLOSE_SENT) ||
	    (c->flags & WS_F_KEEP_DATA)) &&
	    h + f.len <= c->inplace_max && len - (size_t)h < f.len &&
	    f.len <= c->limits->max_message_size)
		return peek_frame(c, buf, len, (size_t)h, &f);
	if (f.opcode != WS_OP_CONT) {
		c->msg_op = f.opcode;
		c->msg_size = 0;
		if (!(c->flags & WS_F_PEEK))
			c->utf8_in = WS_UTF8_ACCEPT;
		c->msg.len = c->msg.off = 0;
		if (c->msg.cap > WS_KEEP_BUF)
			buf_release(c, &c->msg);
		if (f.rsv)
			c->flags |= WS_F_INFLATE;
	}
	if ((c->flags & WS_F_CLOSE_RCVD) || ((c->flags & WS_F_CLOSE_SENT) &&
	    !(c->flags & WS_F_KEEP_DATA)))
		c->flags |= WS_F_DISCARD;
	else if (f.len > c->limits->max_message_size - c->msg_size)
		return ws__fail(c, WS_E_TOO_BIG, WS_CLOSE_TOO_BIG,
		    "message too big");
	c->fin = f.fin;
	memcpy(c->mask, f.mask, 4);
	c->remain = f.len;
	c->fpos = 0;
	c->flags |= WS_F_IN_FRAME;
	if (c->flags & WS_F_PEEK) {
		/* The first bytes were unmasked and validated already. */
		c->flags &= ~WS_F_PEEK;
		return recv_peeked(c, buf + h, (size_t)h, ev);
	}
	return recv_payload(c, buf + h, len - (size_t)h, (size_t)h, ev);
}

ssize_t
ws_recv(struct ws_conn *c, uint8_t *buf, size_t len, struct ws_event *ev)
{
	ev->type = WS_EV_NONE;
	ev->data = NULL;
	ev->len = 0;
	ev->code = 0;
	switch (c->state) {
	case WS_CONNECTING:
		return c->role == WS_ROLE_SERVER ?
		    ws__recv_request(c, buf, len, ev) :
		    ws__recv_response(c, buf, len, ev);
	case WS_CLOSED:
		return len == 0 ? WS_AGAIN : WS_E_CLOSED;
	default:
		break;
	}
	if (c->flags & WS_F_IN_FRAME)
		return recv_payload(c, buf, len, 0, ev);
	return recv_frame(c, buf, len, ev);
}

int
ws_recv_eof(struct ws_conn *c)
{
	if ((c->flags & (WS_F_CLOSE_SENT | WS_F_CLOSE_RCVD)) ==
	    (WS_F_CLOSE_SENT | WS_F_CLOSE_RCVD))
		return WS_OK;
	if (c->close_rcvd == 0)
		c->close_rcvd = WS_CLOSE_ABNORMAL;
	c->state = WS_CLOSED;
	c->flags &= ~WS_F_IN_FRAME;
	ws__hs_free(c);
	return WS_E_CLOSED;
}
