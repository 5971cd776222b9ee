/*
 * test_http.c - the HTTP head parser (http.h) and the header helpers of
 * ws.h, tested against their documented contract.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "http.h"
#include "testutil.h"

#define BIG		8192
#define NHDRS		32

enum kind {
	REQ,
	RESP
};

static int
parse(enum kind k, const void *buf, size_t len, size_t max_bytes,
    struct ws_http_head *h, struct ws_header *hdrs, size_t max_headers)
{
	memset(h, 0, sizeof(*h));
	if (k == REQ)
		return ws_http_parse_request(buf, len, max_bytes, h, hdrs,
		    max_headers);
	return ws_http_parse_response(buf, len, max_bytes, h, hdrs,
	    max_headers);
}

/*
 * Parse data[0..len) placed right before an inaccessible page, with the
 * header array placed the same way, so that reading past the input or
 * writing past max_headers entries faults.
 */
static int
parse_guarded(enum kind k, const void *data, size_t len, size_t max_bytes,
    size_t max_headers)
{
	struct ws_http_head h;
	struct ws_header *hdrs;
	uint8_t *buf, *hbuf;
	size_t hlen = max_headers * sizeof(struct ws_header);
	int rv;

	buf = tu_guard_copy(data, len);
	hbuf = calloc(1, hlen + 1);
	ck_assert_ptr_nonnull(hbuf);
	hdrs = (struct ws_header *)(void *)tu_guard_copy(hbuf, hlen);
	free(hbuf);
	rv = parse(k, buf, len, max_bytes, &h, hdrs, max_headers);
	if (rv >= 0)
		ck_assert_uint_le(h.nheaders, max_headers);
	tu_guard_free((uint8_t *)hdrs, hlen);
	tu_guard_free(buf, len);
	return rv;
}

/*
 * A valid head: the full parse (guarded) returns its length, and every
 * strict prefix returns WS_AGAIN, each also guarded.
 */
static void
check_all_prefixes(enum kind k, const char *s, size_t len)
{
	size_t i;
	int rv;

	for (i = 0; i < len; i++) {
		rv = parse_guarded(k, s, i, BIG, NHDRS);
		ck_assert_msg(rv == WS_AGAIN,
		    "prefix %zu of %zu: got %d, want WS_AGAIN", i, len, rv);
	}
	rv = parse_guarded(k, s, len, BIG, NHDRS);
	ck_assert_int_eq(rv, (int)len);
}

static int
str_eq(struct ws_str s, const char *lit)
{
	return s.len == strlen(lit) && (s.len == 0 ||
	    memcmp(s.p, lit, s.len) == 0);
}

#define ck_assert_str_is(s, lit) \
	ck_assert_msg(str_eq((s), (lit)), "got \"%.*s\", want \"%s\"", \
	    (int)(s).len, (s).p != NULL ? (s).p : "", (lit))

static struct ws_str
mkstr(const char *s)
{
	struct ws_str r;

	r.p = s;
	r.len = strlen(s);
	return r;
}

static void
expect_req(const char *s, int want)
{
	int rv = parse_guarded(REQ, s, strlen(s), BIG, NHDRS);

	ck_assert_msg(rv == want, "input \"%s\": got %d, want %d", s, rv,
	    want);
}

static void
expect_req_n(const char *s, size_t len, int want)
{
	int rv = parse_guarded(REQ, s, len, BIG, NHDRS);

	ck_assert_msg(rv == want, "input of %zu bytes: got %d, want %d",
	    len, rv, want);
}

static void
expect_resp(const char *s, int want)
{
	int rv = parse_guarded(RESP, s, strlen(s), BIG, NHDRS);

	ck_assert_msg(rv == want, "input \"%s\": got %d, want %d", s, rv,
	    want);
}

/* ------------------------------------------------------------ requests */

static const char req1[] =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host:   example.com:8080 \t\r\n"
    "Upgrade:websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "X-Empty:\r\n"
    "X-Blank: \t \r\n"
    "X-Inner: a  b\tc\r\n"
    "\r\n";

START_TEST(test_request_valid)
{
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];
	size_t len = strlen(req1);
	int rv;

	rv = parse(REQ, req1, len, BIG, &h, hdrs, NHDRS);
	ck_assert_int_eq(rv, (int)len);
	ck_assert_str_is(h.method, "GET");
	ck_assert_str_is(h.target, "/chat?room=1");
	ck_assert_int_eq(h.minor_version, 1);
	ck_assert_ptr_eq(h.headers, hdrs);
	ck_assert_uint_eq(h.nheaders, 6);
	ck_assert_str_is(hdrs[0].name, "Host");
	ck_assert_str_is(hdrs[0].value, "example.com:8080");
	ck_assert_str_is(hdrs[1].name, "Upgrade");
	ck_assert_str_is(hdrs[1].value, "websocket");
	ck_assert_str_is(hdrs[2].name, "Connection");
	ck_assert_str_is(hdrs[2].value, "keep-alive, Upgrade");
	ck_assert_str_is(hdrs[3].name, "X-Empty");
	ck_assert_uint_eq(hdrs[3].value.len, 0);
	ck_assert_str_is(hdrs[4].name, "X-Blank");
	ck_assert_uint_eq(hdrs[4].value.len, 0);
	ck_assert_str_is(hdrs[5].name, "X-Inner");
	ck_assert_str_is(hdrs[5].value, "a  b\tc");
	/* The results borrow from the input. */
	ck_assert(h.method.p == req1);
	ck_assert(hdrs[0].name.p > req1 && hdrs[0].name.p < req1 + len);
}
END_TEST

START_TEST(test_request_valid_prefixes)
{
	check_all_prefixes(REQ, req1, strlen(req1));
	check_all_prefixes(REQ, tu_request, strlen(tu_request));
}
END_TEST

START_TEST(test_request_minimal)
{
	static const char s[] = "GET / HTTP/1.0\r\n\r\n";
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];

	ck_assert_int_eq(parse(REQ, s, strlen(s), BIG, &h, hdrs, NHDRS),
	    (int)strlen(s));
	ck_assert_str_is(h.method, "GET");
	ck_assert_str_is(h.target, "/");
	ck_assert_int_eq(h.minor_version, 0);
	ck_assert_uint_eq(h.nheaders, 0);
	check_all_prefixes(REQ, s, strlen(s));
}
END_TEST

START_TEST(test_request_trailing_bytes)
{
	char buf[512];
	uint8_t frame[32];
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];
	size_t hl = strlen(tu_request), fl;
	int rv;

	fl = tu_client_frame(frame, 0x81, "hi", 2);
	memcpy(buf, tu_request, hl);
	memcpy(buf + hl, frame, fl);
	rv = parse(REQ, buf, hl + fl, BIG, &h, hdrs, NHDRS);
	ck_assert_int_eq(rv, (int)hl);
	ck_assert_ptr_eq(buf + rv, buf + hl);
	ck_assert_uint_eq((uint8_t)buf[rv], 0x81);
	ck_assert_uint_eq(h.nheaders, 5);
	ck_assert_int_eq(parse_guarded(REQ, buf, hl + fl, BIG, NHDRS),
	    (int)hl);

	/* What follows the head is not looked at, even a NUL or junk. */
	memcpy(buf, tu_request, hl);
	memcpy(buf + hl, "\0\r\n \x01garbage", 12);
	ck_assert_int_eq(parse_guarded(REQ, buf, hl + 12, BIG, NHDRS),
	    (int)hl);
	/* A second head right after the first is not part of it. */
	memcpy(buf + hl, tu_request, hl);
	ck_assert_int_eq(parse_guarded(REQ, buf, 2 * hl, BIG, NHDRS),
	    (int)hl);
}
END_TEST

static const char req_lf[] =
    "GET /lf HTTP/1.1\n"
    "Host: a\n"
    "sec-websocket-KEY: k1\n"
    "\n";

START_TEST(test_request_lf_only)
{
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];
	const struct ws_str *v;
	size_t len = strlen(req_lf);

	ck_assert_int_eq(parse(REQ, req_lf, len, BIG, &h, hdrs, NHDRS),
	    (int)len);
	ck_assert_str_is(h.target, "/lf");
	ck_assert_uint_eq(h.nheaders, 2);
	ck_assert_str_is(hdrs[0].value, "a");
	ck_assert_str_is(hdrs[1].value, "k1");
	v = ws_header_get(h.headers, h.nheaders, "Sec-WebSocket-Key");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "k1");
	check_all_prefixes(REQ, req_lf, len);
}
END_TEST

START_TEST(test_request_mixed_endings)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\n";
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];

	ck_assert_int_eq(parse(REQ, s, strlen(s), BIG, &h, hdrs, NHDRS),
	    (int)strlen(s));
	ck_assert_uint_eq(h.nheaders, 2);
	ck_assert_str_is(hdrs[1].value, "b");
	check_all_prefixes(REQ, s, strlen(s));
}
END_TEST

START_TEST(test_header_get)
{
	static const char s[] =
	    "GET / HTTP/1.1\r\n"
	    "Host: first\r\n"
	    "X-Dup: one\r\n"
	    "x-dup: two\r\n"
	    "\r\n";
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];
	const struct ws_str *v;

	ck_assert_int_eq(parse(REQ, s, strlen(s), BIG, &h, hdrs, NHDRS),
	    (int)strlen(s));
	v = ws_header_get(h.headers, h.nheaders, "HOST");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "first");
	v = ws_header_get(h.headers, h.nheaders, "host");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "first");
	v = ws_header_get(h.headers, h.nheaders, "X-DUP");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "one");
	ck_assert_ptr_null(ws_header_get(h.headers, h.nheaders, "Hos"));
	ck_assert_ptr_null(ws_header_get(h.headers, h.nheaders, "Hostx"));
	ck_assert_ptr_null(ws_header_get(h.headers, h.nheaders, "Origin"));
	ck_assert_ptr_null(ws_header_get(h.headers, 0, "Host"));
}
END_TEST

START_TEST(test_request_utf8_value)
{
	static const char s[] = "GET / HTTP/1.1\r\nX-Name: caf\xc3\xa9\r\n\r\n";
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];

	/* obs-text (bytes >= 0x80) is not a control byte. */
	ck_assert_int_eq(parse(REQ, s, strlen(s), BIG, &h, hdrs, NHDRS),
	    (int)strlen(s));
	ck_assert_str_is(hdrs[0].value, "caf\xc3\xa9");
}
END_TEST

START_TEST(test_request_token_chars)
{
	static const char s[] =
	    "M-SEARCH * HTTP/1.1\r\n"
	    "X!#$%&'*+-.^_`|~09az: v\r\n"
	    "\r\n";
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];

	/* Any token is a method or a header name. */
	ck_assert_int_eq(parse(REQ, s, strlen(s), BIG, &h, hdrs, NHDRS),
	    (int)strlen(s));
	ck_assert_str_is(h.method, "M-SEARCH");
	ck_assert_str_is(h.target, "*");
	ck_assert_uint_eq(h.nheaders, 1);
	ck_assert_str_is(hdrs[0].name, "X!#$%&'*+-.^_`|~09az");
	ck_assert_str_is(hdrs[0].value, "v");
	check_all_prefixes(REQ, s, strlen(s));
}
END_TEST

/* ------------------------------------------------------------ refusals */

START_TEST(test_refuse_folded)
{
	expect_req("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\nHost: a\n  b\n\n", WS_E_HTTP);
	/* A first header line that starts with whitespace. */
	expect_req("GET / HTTP/1.1\r\n Host: a\r\n\r\n", WS_E_HTTP);
}
END_TEST

START_TEST(test_refuse_nul)
{
	static const char s[] =
	    "GET /chat HTTP/1.1\r\nHost: localhost\r\nX: v\r\n\r\n";
	size_t len = strlen(s), i, end;
	char buf[128];

	/*
	 * A NUL in place of any byte before the final blank line, except
	 * the LF ending the last header line, without which the head would
	 * have no end.
	 */
	end = len - 2;
	for (i = 0; i < end; i++) {
		int rv;

		if (i == len - 3)
			continue;
		memcpy(buf, s, len);
		buf[i] = '\0';
		rv = parse_guarded(REQ, buf, len, BIG, NHDRS);
		ck_assert_msg(rv == WS_E_HTTP,
		    "NUL at %zu: got %d, want WS_E_HTTP", i, rv);
	}
	/* And inserted, not replacing. */
	expect_req_n("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 27, WS_E_HTTP);
	expect_req_n("GET / HTTP/1.1\r\nX\0: ab\r\n\r\n", 27, WS_E_HTTP);
	expect_req_n("GET /\0 HTTP/1.1\r\nX: ab\r\n\r\n", 27, WS_E_HTTP);
}
END_TEST

START_TEST(test_refuse_control_in_value)
{
	expect_req("GET / HTTP/1.1\r\nX: a\x01" "b\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nX: a\x1f" "b\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nX: a\x7f" "b\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nX: a\x0b" "b\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nX: \x1b[0m\r\n\r\n", WS_E_HTTP);
	/* Control bytes in the request line too. */
	expect_req("GET /a\x01 HTTP/1.1\r\nX: b\r\n\r\n", WS_E_HTTP);
}
END_TEST

START_TEST(test_refuse_bad_header_line)
{
	/* no colon */
	expect_req("GET / HTTP/1.1\r\nHost localhost\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nHost\r\n\r\n", WS_E_HTTP);
	/* empty name */
	expect_req("GET / HTTP/1.1\r\n: value\r\n\r\n", WS_E_HTTP);
	/* whitespace before the colon */
	expect_req("GET / HTTP/1.1\r\nHost : localhost\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nHost\t: localhost\r\n\r\n", WS_E_HTTP);
	/* not a token */
	expect_req("GET / HTTP/1.1\r\nHo st: localhost\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nX-A@b: c\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nX(a): c\r\n\r\n", WS_E_HTTP);
}
END_TEST

START_TEST(test_refuse_bad_request_line)
{
	expect_req("GET /chat\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat \r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat HTTP/2.0\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat HTTP/0.9\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat HTTP/1.x\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat HTTP/1.\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat HTTP/1\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat http/1.1\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat HTTPS/1.1\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET  /chat HTTP/1.1\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat  HTTP/1.1\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat HTTP/1.1 \r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /chat HTTP/1.1x\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET\t/chat HTTP/1.1\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req(" /chat HTTP/1.1\r\nHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", WS_E_HTTP);
}
END_TEST

START_TEST(test_refuse_bare_cr)
{
	expect_req("GET / HTTP/1.1\rHost: a\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nHost: lo\rcal\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", WS_E_HTTP);
	expect_req("GET / HTTP/1.1\r\nHost: a\r\n\rX: b\r\n\r\n", WS_E_HTTP);
	expect_req("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", WS_E_HTTP);
}
END_TEST

/*
 * A valid request head of exactly n bytes (n >= 64), padded in one header.
 */
static char *
make_head(size_t n)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	static const char post[] = "\r\n\r\n";
	size_t pl = strlen(pre), ql = strlen(post);
	char *s;

	ck_assert_uint_ge(n, pl + ql + 1);
	s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, pre, pl);
	memset(s + pl, 'p', n - pl - ql);
	memcpy(s + n - ql, post, ql);
	s[n] = '\0';
	return s;
}

START_TEST(test_too_large_bytes)
{
	static const size_t sizes[] = { 64, 100, 1000, 8192 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		char *s = make_head(n);
		int rv;

		/* Exactly at the limit: accepted. */
		rv = parse_guarded(REQ, s, n, n, NHDRS);
		ck_assert_msg(rv == (int)n, "head %zu, max %zu: got %d",
		    n, n, rv);
		/* Under the limit: accepted. */
		rv = parse_guarded(REQ, s, n, n + 1, NHDRS);
		ck_assert_int_eq(rv, (int)n);
		/* One byte over: no head ends within max_bytes. */
		rv = parse_guarded(REQ, s, n, n - 1, NHDRS);
		ck_assert_msg(rv == WS_E_HTTP_TOO_LARGE,
		    "head %zu, max %zu: got %d", n, n - 1, rv);
		/* Truncated to the limit, the end not there yet. */
		rv = parse_guarded(REQ, s, n - 1, n - 1, NHDRS);
		ck_assert_int_eq(rv, WS_E_HTTP_TOO_LARGE);
		/* Truncated below the limit: wait for more. */
		rv = parse_guarded(REQ, s, n - 2, n - 1, NHDRS);
		ck_assert_int_eq(rv, WS_AGAIN);
		rv = parse_guarded(REQ, s, n - 1, n, NHDRS);
		ck_assert_int_eq(rv, WS_AGAIN);
		/* At the limit with more bytes after it: still accepted. */
		s = realloc(s, n + 16);
		ck_assert_ptr_nonnull(s);
		memset(s + n, 'j', 16);
		rv = parse_guarded(REQ, s, n + 16, n, NHDRS);
		ck_assert_int_eq(rv, (int)n);
		free(s);
	}
}
END_TEST

START_TEST(test_too_large_no_end)
{
	size_t total = BIG + 100, i;
	char *s = malloc(total);

	ck_assert_ptr_nonnull(s);
	/* Well-formed header lines, but no blank line. */
	memcpy(s, "GET / HTTP/1.1\r\n", 16);
	for (i = 16; i + 12 <= total; i += 12)
		memcpy(s + i, "X-Abc: def\r\n", 12);
	while (i < total)
		s[i++] = 'a';
	ck_assert_int_eq(parse_guarded(REQ, s, BIG, BIG, 1000),
	    WS_E_HTTP_TOO_LARGE);
	ck_assert_int_eq(parse_guarded(REQ, s, total, BIG, 1000),
	    WS_E_HTTP_TOO_LARGE);
	ck_assert_int_eq(parse_guarded(REQ, s, BIG - 1, BIG, 1000), WS_AGAIN);
	/* The request line alone, longer than the limit. */
	memset(s, 'a', total);
	memcpy(s, "GET /", 5);
	ck_assert_int_eq(parse_guarded(REQ, s, 200, 100, NHDRS),
	    WS_E_HTTP_TOO_LARGE);
	ck_assert_int_eq(parse_guarded(REQ, s, 100, 100, NHDRS),
	    WS_E_HTTP_TOO_LARGE);
	ck_assert_int_eq(parse_guarded(REQ, s, 99, 100, NHDRS), WS_AGAIN);
	free(s);
}
END_TEST

static char *
make_nheaders(size_t n)
{
	char *s = malloc(64 + n * 32);
	size_t off, i;

	ck_assert_ptr_nonnull(s);
	off = (size_t)sprintf(s, "GET / HTTP/1.1\r\n");
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(s + off, "X-H%zu: v%zu\r\n", i, i);
	off += (size_t)sprintf(s + off, "\r\n");
	return s;
}

START_TEST(test_too_many_headers)
{
	static const size_t maxes[] = { 1, 3, 100 };
	struct ws_http_head h;
	struct ws_header hdrs[101];
	char name[16];
	size_t i;

	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		size_t m = maxes[i];
		char *s = make_nheaders(m);
		char *t = make_nheaders(m + 1);

		ck_assert_int_eq(parse_guarded(REQ, s, strlen(s), BIG, m),
		    (int)strlen(s));
		ck_assert_int_eq(parse(REQ, s, strlen(s), BIG, &h, hdrs, m),
		    (int)strlen(s));
		ck_assert_uint_eq(h.nheaders, m);
		snprintf(name, sizeof(name), "X-H%zu", m - 1);
		ck_assert_str_is(hdrs[m - 1].name, name);
		ck_assert_int_eq(parse_guarded(REQ, t, strlen(t), BIG, m),
		    WS_E_HTTP_TOO_LARGE);
		free(s);
		free(t);
	}
}
END_TEST

START_TEST(test_header_names_values)
{
	struct ws_http_head h;
	struct ws_header hdrs[4];
	char *s = make_nheaders(3);

	ck_assert_int_eq(parse(REQ, s, strlen(s), BIG, &h, hdrs, 4),
	    (int)strlen(s));
	ck_assert_uint_eq(h.nheaders, 3);
	ck_assert_str_is(hdrs[0].name, "X-H0");
	ck_assert_str_is(hdrs[0].value, "v0");
	ck_assert_str_is(hdrs[2].name, "X-H2");
	ck_assert_str_is(hdrs[2].value, "v2");
	free(s);
}
END_TEST

/* ----------------------------------------------------------- responses */

START_TEST(test_response_valid)
{
	static const char s[] =
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	    "\r\n";
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];
	const struct ws_str *v;

	ck_assert_int_eq(parse(RESP, s, strlen(s), BIG, &h, hdrs, NHDRS),
	    (int)strlen(s));
	ck_assert_int_eq(h.status, 101);
	ck_assert_int_eq(h.minor_version, 1);
	ck_assert_str_is(h.reason, "Switching Protocols");
	ck_assert_uint_eq(h.nheaders, 3);
	v = ws_header_get(h.headers, h.nheaders, "sec-websocket-accept");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_is(*v, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	check_all_prefixes(RESP, s, strlen(s));
}
END_TEST

START_TEST(test_response_other)
{
	static const char s[] = "HTTP/1.0 403 Forbidden Here\nX: y\n\n";
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];

	ck_assert_int_eq(parse(RESP, s, strlen(s), BIG, &h, hdrs, NHDRS),
	    (int)strlen(s));
	ck_assert_int_eq(h.status, 403);
	ck_assert_int_eq(h.minor_version, 0);
	ck_assert_str_is(h.reason, "Forbidden Here");
	check_all_prefixes(RESP, s, strlen(s));
}
END_TEST

START_TEST(test_response_empty_reason)
{
	static const char s[] = "HTTP/1.1 101 \r\nUpgrade: websocket\r\n\r\n";
	static const char t[] = "HTTP/1.1 101\r\nUpgrade: websocket\r\n\r\n";
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];
	int rv;

	/* status-code SP [ reason-phrase ]: valid. */
	ck_assert_int_eq(parse(RESP, s, strlen(s), BIG, &h, hdrs, NHDRS),
	    (int)strlen(s));
	ck_assert_int_eq(h.status, 101);
	ck_assert_uint_eq(h.reason.len, 0);
	ck_assert_uint_eq(h.nheaders, 1);
	check_all_prefixes(RESP, s, strlen(s));

	/* Without the space the contract leaves open: either accepted as
	   101 with no reason, or refused as malformed. */
	rv = parse(RESP, t, strlen(t), BIG, &h, hdrs, NHDRS);
	ck_assert_msg(rv == (int)strlen(t) || rv == WS_E_HTTP,
	    "got %d", rv);
	if (rv >= 0) {
		ck_assert_int_eq(h.status, 101);
		ck_assert_uint_eq(h.reason.len, 0);
		ck_assert_uint_eq(h.nheaders, 1);
		check_all_prefixes(RESP, t, strlen(t));
	}
}
END_TEST

START_TEST(test_response_bad_status)
{
	expect_resp("HTTP/1.1 10 OK\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.1 1011 OK\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.1 abc OK\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.1 1a1 OK\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.1 -01 OK\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.1  101 OK\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.1\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/2.0 101 OK\r\n\r\n", WS_E_HTTP);
	expect_resp("http/1.1 101 OK\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.x 101 OK\r\n\r\n", WS_E_HTTP);
	expect_resp("GET / HTTP/1.1\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.1 101 OK\r\nNo-Colon\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.1 101 OK\r\nX: a\r\n b\r\n\r\n", WS_E_HTTP);
	expect_resp("HTTP/1.1 101 O\x01K\r\n\r\n", WS_E_HTTP);
}
END_TEST

START_TEST(test_response_limits)
{
	static const char s[] = "HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\n\r\n";
	size_t len = strlen(s);

	ck_assert_int_eq(parse_guarded(RESP, s, len, len, 2), (int)len);
	ck_assert_int_eq(parse_guarded(RESP, s, len, len - 1, 2),
	    WS_E_HTTP_TOO_LARGE);
	ck_assert_int_eq(parse_guarded(RESP, s, len, len, 1),
	    WS_E_HTTP_TOO_LARGE);
}
END_TEST

START_TEST(test_request_is_not_response)
{
	expect_req("HTTP/1.1 101 Switching Protocols\r\n\r\n", WS_E_HTTP);
}
END_TEST

/* --------------------------------------------------------- token lists */

START_TEST(test_list_has)
{
	ck_assert_int_eq(ws_http_list_has(mkstr("keep-alive, Upgrade"),
	    "upgrade"), 1);
	ck_assert_int_eq(ws_http_list_has(mkstr("upgrade"), "upgrade"), 1);
	ck_assert_int_eq(ws_http_list_has(mkstr("UPGRADE"), "Upgrade"), 1);
	ck_assert_int_eq(ws_http_list_has(mkstr(" Upgrade ,foo"), "upgrade"),
	    1);
	ck_assert_int_eq(ws_http_list_has(mkstr("foo,\tupgrade\t"),
	    "upgrade"), 1);
	ck_assert_int_eq(ws_http_list_has(mkstr("a,,upgrade,"), "upgrade"),
	    1);
	ck_assert_int_eq(ws_http_list_has(mkstr("upgraded"), "upgrade"), 0);
	ck_assert_int_eq(ws_http_list_has(mkstr("xupgrade"), "upgrade"), 0);
	ck_assert_int_eq(ws_http_list_has(mkstr("upgrad"), "upgrade"), 0);
	ck_assert_int_eq(ws_http_list_has(mkstr("keep-alive"), "upgrade"),
	    0);
	ck_assert_int_eq(ws_http_list_has(mkstr("keep-alive, upgraded"),
	    "upgrade"), 0);
	ck_assert_int_eq(ws_http_list_has(mkstr("up grade"), "upgrade"), 0);
	ck_assert_int_eq(ws_http_list_has(mkstr(""), "upgrade"), 0);
	ck_assert_int_eq(ws_http_list_has(mkstr(" , ,"), "upgrade"), 0);
}
END_TEST

START_TEST(test_list_has_bounded)
{
	/* The value is a counted string: bytes after len are not in it. */
	static const char v[] = "keep-alive, upgradeXYZ";
	struct ws_str s;
	uint8_t *g;

	s.p = v;
	s.len = strlen("keep-alive, upgrade");
	ck_assert_int_eq(ws_http_list_has(s, "upgrade"), 1);
	s.len = strlen("keep-alive, upgra");
	ck_assert_int_eq(ws_http_list_has(s, "upgrade"), 0);

	g = tu_guard_copy("a, upgrade", 10);
	s.p = (const char *)g;
	s.len = 10;
	ck_assert_int_eq(ws_http_list_has(s, "upgrade"), 1);
	ck_assert_int_eq(ws_http_list_has(s, "upgradex"), 0);
	tu_guard_free(g, 10);
}
END_TEST

START_TEST(test_str_ieq)
{
	struct ws_str s;

	ck_assert_int_eq(ws_str_ieq(mkstr("WebSocket"), "websocket"), 1);
	ck_assert_int_eq(ws_str_ieq(mkstr("websocket"), "WEBSOCKET"), 1);
	ck_assert_int_eq(ws_str_ieq(mkstr("websockets"), "websocket"), 0);
	ck_assert_int_eq(ws_str_ieq(mkstr("websocket"), "websockets"), 0);
	ck_assert_int_eq(ws_str_ieq(mkstr("websockex"), "websocket"), 0);
	ck_assert_int_eq(ws_str_ieq(mkstr(""), ""), 1);
	ck_assert_int_eq(ws_str_ieq(mkstr(""), "a"), 0);
	s.p = "websocketXX";
	s.len = 9;
	ck_assert_int_eq(ws_str_ieq(s, "WebSocket"), 1);
}
END_TEST

START_TEST(test_header_list)
{
	static const char s[] =
	    "GET / HTTP/1.1\r\n"
	    "Sec-WebSocket-Protocol: a, b\r\n"
	    "Host: x\r\n"
	    "sec-websocket-protocol: c\r\n"
	    "\r\n";
	struct ws_http_head h;
	struct ws_header hdrs[NHDRS];
	struct ws_str out[8];
	size_t n;

	ck_assert_int_eq(parse(REQ, s, strlen(s), BIG, &h, hdrs, NHDRS),
	    (int)strlen(s));
	memset(out, 0, sizeof(out));
	n = ws_header_list(h.headers, h.nheaders, "Sec-WebSocket-Protocol",
	    out, 8);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_is(out[0], "a");
	ck_assert_str_is(out[1], "b");
	ck_assert_str_is(out[2], "c");
	ck_assert_ptr_null(out[3].p);

	/* max smaller than the count: fills max, returns the count */
	memset(out, 0, sizeof(out));
	n = ws_header_list(h.headers, h.nheaders, "SEC-WEBSOCKET-PROTOCOL",
	    out, 2);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_is(out[0], "a");
	ck_assert_str_is(out[1], "b");
	ck_assert_ptr_null(out[2].p);
	ck_assert_uint_eq(out[2].len, 0);

	memset(out, 0, sizeof(out));
	n = ws_header_list(h.headers, h.nheaders, "Sec-WebSocket-Protocol",
	    out, 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_null(out[0].p);

	n = ws_header_list(h.headers, h.nheaders, "Sec-WebSocket-Extensions",
	    out, 8);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_header_list_empty_elements)
{
	struct ws_header hdrs[3];
	struct ws_str out[8];
	size_t n;

	hdrs[0].name = mkstr("Sec-WebSocket-Protocol");
	hdrs[0].value = mkstr(",, chat ,\t, superchat,");
	hdrs[1].name = mkstr("Other");
	hdrs[1].value = mkstr("x, y");
	hdrs[2].name = mkstr("sec-WebSocket-protocol");
	hdrs[2].value = mkstr(" ");
	memset(out, 0, sizeof(out));
	n = ws_header_list(hdrs, 3, "sec-websocket-protocol", out, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_is(out[0], "chat");
	ck_assert_str_is(out[1], "superchat");
	ck_assert_ptr_null(out[2].p);

	hdrs[2].value = mkstr("permessage-deflate; client_max_window_bits");
	memset(out, 0, sizeof(out));
	n = ws_header_list(hdrs, 3, "Sec-WebSocket-Protocol", out, 1);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_is(out[0], "chat");
	ck_assert_ptr_null(out[1].p);
}
END_TEST

START_TEST(test_http_reason)
{
	ck_assert_str_eq(ws_http_reason(101), "Switching Protocols");
	ck_assert_str_eq(ws_http_reason(400), "Bad Request");
	ck_assert_str_eq(ws_http_reason(403), "Forbidden");
	ck_assert_str_eq(ws_http_reason(404), "Not Found");
	ck_assert_str_eq(ws_http_reason(405), "Method Not Allowed");
	ck_assert_str_eq(ws_http_reason(426), "Upgrade Required");
	ck_assert_str_eq(ws_http_reason(431),
	    "Request Header Fields Too Large");
	ck_assert_str_eq(ws_http_reason(503), "Service Unavailable");
	ck_assert_str_eq(ws_http_reason(599), "Error");
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = tcase_create("request");
	tcase_add_test(tc, test_request_valid);
	tcase_add_test(tc, test_request_valid_prefixes);
	tcase_add_test(tc, test_request_minimal);
	tcase_add_test(tc, test_request_trailing_bytes);
	tcase_add_test(tc, test_request_lf_only);
	tcase_add_test(tc, test_request_mixed_endings);
	tcase_add_test(tc, test_header_get);
	tcase_add_test(tc, test_request_utf8_value);
	tcase_add_test(tc, test_header_names_values);
	tcase_add_test(tc, test_request_token_chars);
	suite_add_tcase(s, tc);

	tc = tcase_create("refuse");
	tcase_add_test(tc, test_refuse_folded);
	tcase_add_test(tc, test_refuse_nul);
	tcase_add_test(tc, test_refuse_control_in_value);
	tcase_add_test(tc, test_refuse_bad_header_line);
	tcase_add_test(tc, test_refuse_bad_request_line);
	tcase_add_test(tc, test_refuse_bare_cr);
	tcase_add_test(tc, test_request_is_not_response);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_too_large_bytes);
	tcase_add_test(tc, test_too_large_no_end);
	tcase_add_test(tc, test_too_many_headers);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_test(tc, test_response_valid);
	tcase_add_test(tc, test_response_other);
	tcase_add_test(tc, test_response_empty_reason);
	tcase_add_test(tc, test_response_bad_status);
	tcase_add_test(tc, test_response_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("lists");
	tcase_add_test(tc, test_list_has);
	tcase_add_test(tc, test_list_has_bounded);
	tcase_add_test(tc, test_str_ieq);
	tcase_add_test(tc, test_header_list);
	tcase_add_test(tc, test_header_list_empty_elements);
	tcase_add_test(tc, test_http_reason);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
