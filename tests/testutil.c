#include <sys/mman.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

const char tu_request[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: localhost\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

static size_t
pagesize(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

uint8_t *
tu_guard_copy(const void *data, size_t len)
{
	size_t ps = pagesize();
	size_t span = (len + ps - 1) / ps * ps;
	uint8_t *base;

	if (span == 0)
		span = ps;
	base = mmap(NULL, span + ps, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	ck_assert_int_eq(mprotect(base + span, ps, PROT_NONE), 0);
	if (len > 0)
		memcpy(base + span - len, data, len);
	return base + span - len;
}

void
tu_guard_free(uint8_t *p, size_t len)
{
	size_t ps = pagesize();
	size_t span = (len + ps - 1) / ps * ps;

	if (span == 0)
		span = ps;
	munmap(p + len - span, span + ps);
}

void
tu_rec_reset(struct tu_rec *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->ev[i].data);
	memset(r, 0, sizeof(*r));
}

/*
 * A reusable guarded region for tu_feed(): data is placed at its end, so
 * the byte after it is the first of a PROT_NONE page.  Grown on demand.
 */
static uint8_t *feed_base;
static size_t feed_span;

static uint8_t *
feed_place(const uint8_t *data, size_t len)
{
	size_t ps = pagesize();

	if (len > feed_span || feed_base == NULL) {
		if (feed_base != NULL)
			munmap(feed_base, feed_span + ps);
		feed_span = (len + ps - 1) / ps * ps;
		if (feed_span == 0)
			feed_span = ps;
		feed_base = mmap(NULL, feed_span + ps, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert_ptr_ne(feed_base, MAP_FAILED);
		ck_assert_int_eq(mprotect(feed_base + feed_span, ps,
		    PROT_NONE), 0);
	}
	if (len > 0)
		memcpy(feed_base + feed_span - len, data, len);
	return feed_base + feed_span - len;
}

static void
record(struct tu_rec *r, const struct ws_event *ev)
{
	struct tu_event *e;

	ck_assert_uint_lt(r->n, sizeof(r->ev) / sizeof(r->ev[0]));
	e = &r->ev[r->n++];
	e->type = ev->type;
	e->len = ev->len;
	e->code = ev->code;
	e->data = malloc(ev->len + 1);
	ck_assert_ptr_nonnull(e->data);
	if (ev->len > 0)
		memcpy(e->data, ev->data, ev->len);
	e->data[ev->len] = '\0';
}

size_t
tu_feed(struct ws_conn *c, const void *data, size_t len, size_t chunk,
    struct tu_rec *r, int accept)
{
	const uint8_t *src = data;
	uint8_t *pending = NULL;
	size_t npending = 0, off = 0;

	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	while (off < len || npending > 0) {
		size_t take = len - off < chunk ? len - off : chunk;
		uint8_t *buf, *p;
		size_t n;
		int progress = 0;

		pending = realloc(pending, npending + take + 1);
		ck_assert_ptr_nonnull(pending);
		memcpy(pending + npending, src + off, take);
		npending += take;
		off += take;

		buf = feed_place(pending, npending);
		p = buf;
		n = npending;
		for (;;) {
			struct ws_event ev;
			ssize_t k = ws_recv(c, p, n, &ev);

			if (k == WS_AGAIN)
				break;
			if (k < 0) {
				r->status = (int)k;
				free(pending);
				return n;
			}
			ck_assert_uint_le((size_t)k, n);
			if (k > 0 || ev.type != WS_EV_NONE)
				progress = 1;
			p += k;
			n -= (size_t)k;
			r->consumed += (size_t)k;
			if (ev.type != WS_EV_NONE)
				record(r, &ev);
			if (ev.type == WS_EV_REQUEST && accept) {
				struct ws_response resp;

				ws_response_init(&resp);
				ck_assert_int_eq(ws_accept(c, &resp), WS_OK);
			}
		}
		memmove(pending, p, n);
		npending = n;
		if (off >= len && !progress)
			break;
	}
	free(pending);
	return npending;
}

uint8_t *
tu_drain(struct ws_conn *c, size_t *len)
{
	uint8_t *out = NULL;
	size_t n = 0, k;
	const uint8_t *p;

	while ((p = ws_output(c, &k)) != NULL && k > 0) {
		out = realloc(out, n + k + 1);
		ck_assert_ptr_nonnull(out);
		memcpy(out + n, p, k);
		n += k;
		ws_output_consume(c, k);
	}
	if (out == NULL)
		out = calloc(1, 1);
	*len = n;
	return out;
}

struct ws_conn *
tu_server_open(const struct ws_limits *l, const struct ws_allocator *a)
{
	struct ws_conn *s = ws_conn_new(WS_ROLE_SERVER, l, a);
	struct tu_rec r = { 0 };
	size_t n;
	uint8_t *out;

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(tu_feed(s, tu_request, strlen(tu_request), 0, &r, 1),
	    0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_REQUEST);
	ck_assert_int_eq(ws_conn_state(s), WS_OPEN);
	out = tu_drain(s, &n);
	ck_assert(n > 12 && memcmp(out, "HTTP/1.1 101", 12) == 0);
	free(out);
	tu_rec_reset(&r);
	return s;
}

void
tu_pump(struct ws_conn *from, struct ws_conn *to, struct tu_rec *r,
    size_t chunk)
{
	size_t n;
	uint8_t *out = tu_drain(from, &n);

	tu_feed(to, out, n, chunk, r, 1);
	free(out);
}

void
tu_pair_open(struct ws_conn **client, struct ws_conn **server,
    const struct ws_limits *l)
{
	struct ws_client_request req = { 0 };
	struct tu_rec r = { 0 };

	*client = ws_conn_new(WS_ROLE_CLIENT, l, NULL);
	*server = ws_conn_new(WS_ROLE_SERVER, l, NULL);
	ck_assert_ptr_nonnull(*client);
	ck_assert_ptr_nonnull(*server);
	req.host = "localhost";
	req.target = "/chat";
	ck_assert_int_eq(ws_connect(*client, &req), WS_OK);
	tu_pump(*client, *server, &r, 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_REQUEST);
	tu_rec_reset(&r);
	tu_pump(*server, *client, &r, 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].type, WS_EV_RESPONSE);
	tu_rec_reset(&r);
	ck_assert_int_eq(ws_conn_state(*client), WS_OPEN);
	ck_assert_int_eq(ws_conn_state(*server), WS_OPEN);
}

static size_t
frame(uint8_t *out, uint8_t first, const void *payload, size_t len,
    int masked)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	const uint8_t *src = payload;
	size_t h = 0, i;

	out[h++] = first;
	if (len < 126)
		out[h++] = (uint8_t)((masked ? 0x80 : 0) | len);
	else if (len < 65536) {
		out[h++] = (uint8_t)((masked ? 0x80 : 0) | 126);
		out[h++] = (uint8_t)(len >> 8);
		out[h++] = (uint8_t)len;
	} else {
		out[h++] = (uint8_t)((masked ? 0x80 : 0) | 127);
		for (i = 0; i < 8; i++)
			out[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	if (masked) {
		memcpy(out + h, key, 4);
		h += 4;
	}
	for (i = 0; i < len; i++)
		out[h + i] = (uint8_t)(src[i] ^ (masked ? key[i % 4] : 0));
	return h + len;
}

size_t
tu_client_frame(uint8_t *out, uint8_t first, const void *payload, size_t len)
{
	return frame(out, first, payload, len, 1);
}

size_t
tu_server_frame(uint8_t *out, uint8_t first, const void *payload, size_t len)
{
	return frame(out, first, payload, len, 0);
}

static void *
fa_malloc(size_t size, void *ud)
{
	struct tu_failalloc *f = ud;
	void *p;

	if (++f->calls == f->fail_at)
		return NULL;
	if ((p = malloc(size)) != NULL)
		f->live++;
	return p;
}

static void *
fa_realloc(void *ptr, size_t size, void *ud)
{
	struct tu_failalloc *f = ud;
	void *p;

	if (++f->calls == f->fail_at)
		return NULL;
	p = realloc(ptr, size);
	if (p != NULL && ptr == NULL)
		f->live++;
	return p;
}

static void
fa_free(void *ptr, void *ud)
{
	struct tu_failalloc *f = ud;

	if (ptr != NULL)
		f->live--;
	free(ptr);
}

void
tu_failalloc_init(struct tu_failalloc *f, long fail_at)
{
	memset(f, 0, sizeof(*f));
	f->fail_at = fail_at;
	f->a.malloc = fa_malloc;
	f->a.realloc = fa_realloc;
	f->a.free = fa_free;
	f->a.ud = f;
}

/*
 * Parse p[0..n), which must hold whole frames only, checking the minimal
 * length encoding (RFC 6455 5.2).  Returns the number of frames.
 */
size_t
tu_parse_frames(const uint8_t *p, size_t n, struct tu_frame *f, size_t max)
{
	size_t off = 0, nf = 0, i;

	while (off < n) {
		uint8_t key[4] = { 0, 0, 0, 0 };
		uint64_t len;

		ck_assert_uint_lt(nf, max);
		ck_assert_uint_ge(n - off, 2);
		f[nf].fin = p[off] >> 7;
		f[nf].rsv = (p[off] >> 4) & 7;
		f[nf].op = p[off] & 0xf;
		f[nf].masked = p[off + 1] >> 7;
		len = p[off + 1] & 0x7f;
		off += 2;
		if (len == 126) {
			ck_assert_uint_ge(n - off, 2);
			len = (uint64_t)p[off] << 8 | p[off + 1];
			ck_assert_uint_ge(len, 126);
			off += 2;
		} else if (len == 127) {
			ck_assert_uint_ge(n - off, 8);
			len = 0;
			for (i = 0; i < 8; i++)
				len = len << 8 | p[off + i];
			ck_assert_uint_ge(len, 65536);
			off += 8;
		}
		if (f[nf].masked) {
			ck_assert_uint_ge(n - off, 4);
			memcpy(key, p + off, 4);
			off += 4;
		}
		ck_assert_uint_le(len, n - off);
		f[nf].len = (size_t)len;
		f[nf].data = malloc(f[nf].len + 1);
		ck_assert_ptr_nonnull(f[nf].data);
		for (i = 0; i < f[nf].len; i++)
			f[nf].data[i] = p[off + i] ^ key[i % 4];
		f[nf].data[f[nf].len] = '\0';
		off += f[nf].len;
		nf++;
	}
	return nf;
}

void
tu_free_frames(struct tu_frame *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(f[i].data);
}
