/*
 * deflate.c - permessage-deflate (RFC 7692): negotiation for both roles,
 * and the zlib streams that compress what we send and inflate what we
 * receive.
 *
 * Window bits.  Our compressor never runs zlib with 8 window bits: raw
 * deflate refuses 8 since zlib 1.2.9.  It uses 9 instead, which is safe
 * for a peer that asked for 8: zlib's longest match distance is the
 * window size less 262 bytes (MIN_LOOKAHEAD), 250 bytes for a 512-byte
 * window, so every distance it emits fits a 256-byte window.
 *
 * Memory.  The streams are made when the first compressed message is sent
 * or received, from the connection's allocator.  A compressor takes about
 * 2^(bits+2) + 2^(memLevel+9) bytes (zlib's doc/zlib.h), an inflater
 * 2^bits plus about 7 KiB; ws_conn_shrink() frees a stream that keeps no
 * context between messages.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"
#include "ws_int.h"

/* The four bytes that end every Z_SYNC_FLUSH (RFC 7692 section 7.2.1). */
static const uint8_t pmd_tail[4] = { 0x00, 0x00, 0xff, 0xff };

#define PMD_NAME "permessage-deflate"

void
ws_deflate_default(struct ws_deflate *d)
{
	memset(d, 0, sizeof(*d));
	d->server_max_window_bits = 15;
	d->client_max_window_bits = 15;
	d->mem_level = 8;
	d->level = -1;
}

static int
deflate_conf_ok(const struct ws_deflate *d)
{
	return d->server_max_window_bits >= 8 &&
	    d->server_max_window_bits <= 15 &&
	    d->client_max_window_bits >= 8 &&
	    d->client_max_window_bits <= 15 &&
	    d->mem_level >= 1 && d->mem_level <= 9 &&
	    d->level >= -1 && d->level <= 9 &&
	    d->server_no_context_takeover <= 1 &&
	    d->client_no_context_takeover <= 1;
}

void
ws__pmd_free(struct ws_conn *c)
{
	struct ws_pmd *d = c->pmd;

	if (d == NULL)
		return;
	if (d->tx_live)
		deflateEnd(&d->tx);
	if (d->rx_live)
		inflateEnd(&d->rx);
	ws__free(c, d);
	c->pmd = NULL;
}

int
ws_conn_set_deflate(struct ws_conn *c, const struct ws_deflate *d)
{
	if (c->state != WS_CONNECTING || (c->hs != NULL && c->hs->sent))
		return WS_E_STATE;
	if (d == NULL) {
		ws__pmd_free(c);
		return WS_OK;
	}
	if (!deflate_conf_ok(d))
		return WS_E_INVAL;
	if (c->pmd == NULL) {
		if ((c->pmd = ws__alloc(c, sizeof(*c->pmd))) == NULL)
			return WS_E_NOMEM;
	} else if (c->pmd->on)
		return WS_E_STATE;
	memset(c->pmd, 0, sizeof(*c->pmd));
	c->pmd->conf = *d;
	return WS_OK;
}

int
ws_conn_deflate(const struct ws_conn *c, size_t len)
{
	return c->pmd != NULL && c->pmd->on && len >= c->pmd->conf.min_size;
}

int
ws_conn_deflate_params(const struct ws_conn *c, struct ws_deflate *out)
{
	const struct ws_pmd *d = c->pmd;
	int server = c->role == WS_ROLE_SERVER;

	if (d == NULL || !d->on)
		return 0;
	*out = d->conf;
	out->server_max_window_bits = server ? d->tx_bits : d->rx_bits;
	out->client_max_window_bits = server ? d->rx_bits : d->tx_bits;
	out->server_no_context_takeover = server ? d->tx_reset : d->rx_reset;
	out->client_no_context_takeover = server ? d->rx_reset : d->tx_reset;
	return 1;
}

/* ---------------------------------------------------------- negotiation */

/* One permessage-deflate element of Sec-WebSocket-Extensions. */
struct pmd_params {
	uint8_t snct;		/* server_no_context_takeover */
	uint8_t cnct;		/* client_no_context_takeover */
	int8_t smwb;		/* server_max_window_bits: 0 absent */
	int8_t cmwb;		/* client_max_window_bits: 0 absent, -1 no value */
};

static int
tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static size_t
skip_ows(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i;
}

static size_t
token_end(const char *p, size_t i, size_t n)
{
	while (i < n && tchar((unsigned char)p[i]))
		i++;
	return i;
}

/* Window bits as RFC 7692 writes them: 8..15, no leading zero. */
static int
window_bits(const char *p, size_t n)
{
	if (n == 1 && p[0] == '8')
		return 8;
	if (n == 1 && p[0] == '9')
		return 9;
	if (n == 2 && p[0] == '1' && p[1] >= '0' && p[1] <= '5')
		return 10 + (p[1] - '0');
	return -1;
}

/*
 * Parse one element ("name; param; param=value").  Returns 1 for a valid
 * permessage-deflate element, 0 for another extension, -1 for a
 * permessage-deflate element that breaks the grammar or RFC 7692
 * section 7.1 (unknown or repeated parameter, bad value).  response
 * applies the rules for a server's answer instead of an offer.
 */
static int
pmd_parse(const char *p, size_t n, int response, struct pmd_params *o)
{
	size_t i, j, k, vs, ve;
	int bits;

	memset(o, 0, sizeof(*o));
	i = token_end(p, 0, n);
	if (i != sizeof(PMD_NAME) - 1 ||
	    strncasecmp(p, PMD_NAME, sizeof(PMD_NAME) - 1) != 0)
		return 0;
	for (;;) {
		i = skip_ows(p, i, n);
		if (i == n)
			return 1;
		if (p[i] != ';')
			return -1;
		i = skip_ows(p, i + 1, n);
		j = token_end(p, i, n);
		if (j == i)
			return -1;
		k = skip_ows(p, j, n);
		vs = ve = 0;
		if (k < n && p[k] == '=') {
			k = skip_ows(p, k + 1, n);
			if (k < n && p[k] == '"') {
				vs = k + 1;
				ve = token_end(p, vs, n);
				if (ve == n || p[ve] != '"')
					return -1;
				k = ve + 1;
			} else {
				vs = k;
				ve = k = token_end(p, k, n);
			}
			if (ve == vs)
				return -1;
		}
		bits = ve > vs ? window_bits(p + vs, ve - vs) : 0;
		if (j - i == 26 &&
		    strncasecmp(p + i, "server_no_context_takeover", 26) == 0) {
			if (o->snct || ve > vs)
				return -1;
			o->snct = 1;
		} else if (j - i == 26 && strncasecmp(p + i,
		    "client_no_context_takeover", 26) == 0) {
			if (o->cnct || ve > vs)
				return -1;
			o->cnct = 1;
		} else if (j - i == 22 && strncasecmp(p + i,
		    "server_max_window_bits", 22) == 0) {
			if (o->smwb != 0 || bits < 0 || ve == vs)
				return -1;
			o->smwb = (int8_t)bits;
		} else if (j - i == 22 && strncasecmp(p + i,
		    "client_max_window_bits", 22) == 0) {
			if (o->cmwb != 0 || bits < 0 || (response && ve == vs))
				return -1;
			o->cmwb = ve > vs ? (int8_t)bits : -1;
		} else
			return -1;
		i = k;
	}
}

static int
out_param(char *buf, size_t cap, size_t *len, const char *name, int value)
{
	int n;

	if (value > 0)
		n = snprintf(buf + *len, cap - *len, "; %s=%d", name, value);
	else
		n = snprintf(buf + *len, cap - *len, "; %s", name);
	if (n < 0 || (size_t)n >= cap - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

#define MAX_OFFERS 16

/*
 * Server: choose the first acceptable offer in the request and write the
 * answer into buf.  Returns 1 if one was accepted, 0 if none (the
 * connection then runs uncompressed), -1 if buf is too small.
 */
int
ws__pmd_answer(struct ws_conn *c, const struct ws_header *h, size_t nh,
    char *buf, size_t cap)
{
	struct ws_pmd *d = c->pmd;
	struct ws_str el[MAX_OFFERS];
	struct pmd_params o;
	size_t i, n, len;
	int want;

	if (d == NULL)
		return 0;
	n = ws_header_list(h, nh, "Sec-WebSocket-Extensions", el, MAX_OFFERS);
	if (n > MAX_OFFERS)
		n = MAX_OFFERS;
	for (i = 0; i < n; i++)
		if (pmd_parse(el[i].p, el[i].len, 0, &o) == 1)
			break;
	if (i == n) {
		ws__pmd_free(c);
		return 0;
	}
	d->tx_reset = o.snct || d->conf.server_no_context_takeover;
	/* The client's client_no_context_takeover is only a hint (7.1.1.2)
	   until the answer says it back; say it, so that the inflater need
	   not keep a window between messages. */
	d->rx_reset = o.cnct || d->conf.client_no_context_takeover;
	d->tx_bits = d->conf.server_max_window_bits;
	if (o.smwb > 0 && o.smwb < d->tx_bits)
		d->tx_bits = (uint8_t)o.smwb;
	/* A client that did not offer client_max_window_bits cannot be
	   told a smaller window: it may use 15 bits. */
	d->rx_bits = 15;
	want = 0;
	if (o.cmwb != 0) {
		d->rx_bits = o.cmwb > 0 ? (uint8_t)o.cmwb : 15;
		if (d->conf.client_max_window_bits < d->rx_bits) {
			d->rx_bits = d->conf.client_max_window_bits;
			want = 1;
		}
	}
	len = 0;
	if (snprintf(buf, cap, "%s", PMD_NAME) >= (int)cap)
		return -1;
	len = sizeof(PMD_NAME) - 1;
	if ((d->tx_reset &&
	    out_param(buf, cap, &len, "server_no_context_takeover", 0) != 0) ||
	    (d->rx_reset &&
	    out_param(buf, cap, &len, "client_no_context_takeover", 0) != 0) ||
	    ((o.smwb > 0 || d->tx_bits < 15) &&
	    out_param(buf, cap, &len, "server_max_window_bits",
	    d->tx_bits) != 0) ||
	    (want && out_param(buf, cap, &len, "client_max_window_bits",
	    d->rx_bits) != 0))
		return -1;
	d->on = 1;
	return 1;
}

/* Client: the offer for the request, from the configuration. */
int
ws__pmd_offer(const struct ws_conn *c, char *buf, size_t cap)
{
	const struct ws_deflate *f = &c->pmd->conf;
	size_t len = sizeof(PMD_NAME) - 1;

	if (snprintf(buf, cap, "%s", PMD_NAME) >= (int)cap)
		return -1;
	if (out_param(buf, cap, &len, "client_max_window_bits",
	    f->client_max_window_bits < 15 ? f->client_max_window_bits : 0) ||
	    (f->server_max_window_bits < 15 &&
	    out_param(buf, cap, &len, "server_max_window_bits",
	    f->server_max_window_bits) != 0) ||
	    (f->server_no_context_takeover &&
	    out_param(buf, cap, &len, "server_no_context_takeover", 0) != 0) ||
	    (f->client_no_context_takeover &&
	    out_param(buf, cap, &len, "client_no_context_takeover", 0) != 0))
		return -1;
	return 0;
}

/*
 * Client: check the server's Sec-WebSocket-Extensions.  NULL on success,
 * else why the handshake fails.
 */
const char *
ws__pmd_check(struct ws_conn *c, const struct ws_header *h, size_t nh)
{
	struct ws_pmd *d = c->pmd;
	const struct ws_deflate *f;
	struct ws_str el[2];
	struct pmd_params o;
	size_t n;

	n = ws_header_list(h, nh, "Sec-WebSocket-Extensions", el, 2);
	if (n == 0) {
		ws__pmd_free(c);
		return NULL;
	}
	if (d == NULL)
		return "the server chose an extension that was not offered";
	if (n > 1)
		return "the server chose more than one extension";
	switch (pmd_parse(el[0].p, el[0].len, 1, &o)) {
	case 0:
		return "the server chose an extension that was not offered";
	case -1:
		return "malformed permessage-deflate response";
	default:
		break;
	}
	f = &d->conf;
	if (f->server_no_context_takeover && !o.snct)
		return "the server refused server_no_context_takeover";
	if (f->server_max_window_bits < 15 &&
	    (o.smwb == 0 || o.smwb > f->server_max_window_bits))
		return "the server refused server_max_window_bits";
	d->rx_reset = o.snct;
	d->tx_reset = o.cnct || f->client_no_context_takeover;
	d->rx_bits = o.smwb > 0 ? (uint8_t)o.smwb : 15;
	d->tx_bits = f->client_max_window_bits;
	if (o.cmwb > 0 && o.cmwb < d->tx_bits)
		d->tx_bits = (uint8_t)o.cmwb;
	d->on = 1;
	return NULL;
}

/* ---------------------------------------------------------------- zlib */

static voidpf
z_alloc(voidpf ud, uInt items, uInt size)
{
	struct ws_conn *c = ud;

	if (size != 0 && items > SIZE_MAX / size)
		return Z_NULL;
	return ws__alloc(c, (size_t)items * size);
}

static void
z_free(voidpf ud, voidpf p)
{
	ws__free(ud, p);
}

static int
tx_open(struct ws_conn *c)
{
	struct ws_pmd *d = c->pmd;
	int bits = d->tx_bits < 9 ? 9 : d->tx_bits;

	if (d->tx_live)
		return 0;
	memset(&d->tx, 0, sizeof(d->tx));
	d->tx.zalloc = z_alloc;
	d->tx.zfree = z_free;
	d->tx.opaque = c;
	if (deflateInit2(&d->tx, d->conf.level, Z_DEFLATED, -bits,
	    d->conf.mem_level, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	d->tx_live = 1;
	return 0;
}

static int
rx_open(struct ws_conn *c)
{
	struct ws_pmd *d = c->pmd;

	if (d->rx_live)
		return 0;
	memset(&d->rx, 0, sizeof(d->rx));
	d->rx.zalloc = z_alloc;
	d->rx.zfree = z_free;
	d->rx.opaque = c;
	if (inflateInit2(&d->rx, -(int)d->rx_bits) != Z_OK)
		return -1;
	d->rx_live = 1;
	return 0;
}

void
ws__pmd_shrink(struct ws_conn *c, int rx_idle, int tx_idle)
{
	struct ws_pmd *d = c->pmd;

	if (d == NULL)
		return;
	if (tx_idle && d->tx_live && d->tx_reset) {
		deflateEnd(&d->tx);
		d->tx_live = 0;
	}
	if (rx_idle && d->rx_live && d->rx_reset) {
		inflateEnd(&d->rx);
		d->rx_live = 0;
	}
}

/*
 * Compress data into c->out after room for the largest frame header, as
 * one fragment; fin strips the sync-flush tail.  *clen gets the length
 * of the compressed payload, which starts WS_FRAME_HEADER_MAX bytes after
 * the old end of c->out.
 */
int
ws__pmd_deflate(struct ws_conn *c, const uint8_t *data, size_t len, int fin,
    size_t *clen)
{
	struct ws_pmd *d = c->pmd;
	z_stream *z = &d->tx;
	size_t start, done = 0, chunk;
	int r;

	if (tx_open(c) != 0)
		return WS_E_NOMEM;
	if (ws__out_reserve(c, WS_FRAME_HEADER_MAX +
	    deflateBound(z, len > UINT32_MAX ? UINT32_MAX : (uLong)len) +
	    16) != 0)
		return WS_E_NOMEM;
	/* c->out may move (and its pending bytes with it) when it grows;
	   the payload goes after them, so start is taken anew each time. */
	z->next_in = (Bytef *)(uintptr_t)data;
	for (;;) {
		start = c->out.len + WS_FRAME_HEADER_MAX;
		chunk = len - (size_t)(z->next_in - (const Bytef *)data);
		z->avail_in = chunk > UINT32_MAX ? UINT32_MAX : (uInt)chunk;
		if (c->out.cap - start - done < 64 && ws__out_reserve(c,
		    WS_FRAME_HEADER_MAX + done + c->out.cap / 2) != 0)
			return WS_E_NOMEM;
		start = c->out.len + WS_FRAME_HEADER_MAX;
		chunk = c->out.cap - start - done;
		z->next_out = c->out.p + start + done;
		z->avail_out = chunk > UINT32_MAX ? UINT32_MAX : (uInt)chunk;
		r = deflate(z, Z_SYNC_FLUSH);
		done += chunk - z->avail_out;
		if (r != Z_OK && r != Z_BUF_ERROR)
			return WS_E_NOMEM;
		if (z->avail_out > 0 && (size_t)(z->next_in -
		    (const Bytef *)data) == len)
			break;
	}
	if (fin) {
		/* Z_SYNC_FLUSH ends with an empty stored block.  With no
		   input since the last flush, zlib writes nothing at all; the
		   message is then a lone empty stored block's first byte
		   (RFC 7692 section 7.2.3.6). */
		if (done >= 4 && memcmp(c->out.p + start + done - 4,
		    pmd_tail, 4) == 0)
			done -= 4;
		else if (done == 0)
			c->out.p[start + done++] = 0x00;
		if (d->tx_reset)
			deflateReset(z);
	}
	*clen = done;
	return WS_OK;
}

/*
 * The peer's stream ended with a BFINAL block.  Keep its window as the
 * dictionary of the next message unless the peer resets anyway.
 */
static int
rx_restart(struct ws_conn *c)
{
	struct ws_pmd *d = c->pmd;
	uInt n = 0;
	Bytef *dict;

	if (d->rx_reset)
		return inflateReset(&d->rx) == Z_OK ? 0 : -1;
	if ((dict = ws__alloc(c, (size_t)1 << d->rx_bits)) == NULL)
		return -1;
	if (inflateGetDictionary(&d->rx, dict, &n) != Z_OK ||
	    inflateReset(&d->rx) != Z_OK ||
	    (n > 0 && inflateSetDictionary(&d->rx, dict, n) != Z_OK)) {
		ws__free(c, dict);
		return -1;
	}
	ws__free(c, dict);
	return 0;
}

static int
inflate_some(struct ws_conn *c, const uint8_t *in, size_t n, int text)
{
	struct ws_pmd *d = c->pmd;
	z_stream *z = &d->rx;
	uint64_t max = c->limits->max_message_size;
	uint8_t probe, *out;
	size_t room, grow;
	int r;

	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = 0;
	for (;;) {
		if (z->avail_in == 0 && n > 0) {
			z->avail_in = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
			n -= z->avail_in;
		}
		if (c->msg.len >= max) {
			/* At the limit: one more byte says it is over,
			   without a buffer for it. */
			out = &probe;
			room = 1;
		} else {
			if (c->msg.cap - c->msg.len < 256) {
				grow = c->msg.len < 4096 ? 4096 : c->msg.len;
				if (grow > max - c->msg.len)
					grow = (size_t)(max - c->msg.len);
				if (ws__msg_reserve(c, grow) != 0)
					return ws__fail(c, WS_E_NOMEM,
					    WS_CLOSE_INTERNAL, "out of memory");
			}
			out = c->msg.p + c->msg.len;
			room = c->msg.cap - c->msg.len;
			if (room > max - c->msg.len)
				room = (size_t)(max - c->msg.len);
			if (room > UINT32_MAX)
				room = UINT32_MAX;
		}
		z->next_out = out;
		z->avail_out = (uInt)room;
		r = inflate(z, Z_SYNC_FLUSH);
		room -= z->avail_out;
		if (out == &probe && room > 0)
			return ws__fail(c, WS_E_TOO_BIG, WS_CLOSE_TOO_BIG,
			    "message too big once inflated");
		if (text && room > 0) {
			c->utf8_in = ws_utf8_validate(c->utf8_in, out, room);
			if (c->utf8_in == WS_UTF8_REJECT)
				return ws__fail(c, WS_E_UTF8,
				    WS_CLOSE_INVALID_DATA,
				    "text message is not valid UTF-8");
		}
		c->msg.len += room;
		switch (r) {
		case Z_STREAM_END:
			if (rx_restart(c) != 0)
				return ws__fail(c, WS_E_NOMEM,
				    WS_CLOSE_INTERNAL, "out of memory");
			d->rx_end = 1;
			return WS_OK;
		case Z_OK:
		case Z_BUF_ERROR:
			break;
		case Z_MEM_ERROR:
			return ws__fail(c, WS_E_NOMEM, WS_CLOSE_INTERNAL,
			    "out of memory");
		default:
			return ws__fail(c, WS_E_INFLATE, WS_CLOSE_INVALID_DATA,
			    "compressed data does not inflate");
		}
		/* All input taken and all output given: done. */
		if (z->avail_in == 0 && n == 0 && z->avail_out > 0)
			return WS_OK;
	}
}

/*
 * Inflate n payload bytes of the current compressed message into c->msg;
 * end: they are its last, so the tail goes in after them.
 */
int
ws__pmd_inflate(struct ws_conn *c, const uint8_t *p, size_t n, int end)
{
	struct ws_pmd *d = c->pmd;
	int text = c->msg_op == WS_OP_TEXT, r;

	if (rx_open(c) != 0)
		return ws__fail(c, WS_E_NOMEM, WS_CLOSE_INTERNAL,
		    "out of memory");
	if (!d->rx_end && n > 0 && (r = inflate_some(c, p, n, text)) != WS_OK)
		return r;
	if (!end)
		return WS_OK;
	if (!d->rx_end && (r = inflate_some(c, pmd_tail, 4, text)) != WS_OK)
		return r;
	d->rx_end = 0;
	if (d->rx_reset && inflateReset(&d->rx) != Z_OK)
		return ws__fail(c, WS_E_NOMEM, WS_CLOSE_INTERNAL,
		    "out of memory");
	return WS_OK;
}
