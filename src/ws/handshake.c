/*
 * handshake.c - the opening handshake (RFC 6455 section 4): the server's
 * checks of the request, its 101 or error response; the client's request
 * and its checks of the response.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws_int.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void
ws_accept_key(const char *key, size_t keylen, char out[29])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	unsigned char in[64 + sizeof(WS_GUID)];

	/* Keys are 24 bytes; anything longer was refused before. */
	if (keylen > 64)
		keylen = 64;
	memcpy(in, key, keylen);
	memcpy(in + keylen, WS_GUID, sizeof(WS_GUID) - 1);
	SHA1(in, keylen + sizeof(WS_GUID) - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
	out[28] = '\0';
}

static int
b64_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

/* A key is 16 bytes in base64: 22 characters and "==". */
static int
key_valid(struct ws_str k)
{
	size_t i;

	if (k.len != 24 || k.p[22] != '=' || k.p[23] != '=')
		return 0;
	for (i = 0; i < 22; i++)
		if (!b64_char((unsigned char)k.p[i]))
			return 0;
	return 1;
}

/* 1 if s may go into a header value or request target as it is. */
static int
field_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return 0;
	return 1;
}

int
ws_token_valid(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    strchr("\"(),/:;<=>?@[\\]{}", *s) != NULL)
			return 0;
	return 1;
}

/* An extra header given as "Name: value". */
static int
header_line_ok(const char *s)
{
	const char *colon = strchr(s, ':');
	const char *p;

	if (colon == NULL || colon == s || !field_ok(s))
		return 0;
	for (p = s; p < colon; p++)
		if ((unsigned char)*p <= 0x20 || strchr("\"(),/:;<=>?@[\\]{}",
		    *p) != NULL)
			return 0;
	return 1;
}

/* Append formatted text to the output; -1 when out of memory. */
static int
out_str(struct ws_conn *c, const char *s)
{
	return ws__out_append(c, s, strlen(s));
}

static int
out_header(struct ws_conn *c, const char *name, const char *value)
{
	if (out_str(c, name) != 0 || out_str(c, ": ") != 0 ||
	    out_str(c, value) != 0 || out_str(c, "\r\n") != 0)
		return -1;
	return 0;
}

/* Store the elements of a subprotocol list, NUL-separated. */
static int
store_offered(struct ws_conn *c, const struct ws_str *v, size_t n)
{
	size_t i, total = 0;
	char *p;

	for (i = 0; i < n; i++)
		total += v[i].len + 1;
	if (total == 0)
		return 0;
	if ((p = ws__alloc(c, total)) == NULL)
		return -1;
	c->hs->offered = p;
	c->hs->noffered = n;
	for (i = 0; i < n; i++) {
		memcpy(p, v[i].p, v[i].len);
		p[v[i].len] = '\0';
		p += v[i].len + 1;
	}
	return 0;
}

static int
offered(const struct ws_hs *hs, const char *proto, size_t len)
{
	const char *p = hs->offered;
	size_t i;

	for (i = 0; i < hs->noffered; i++) {
		if (strlen(p) == len && memcmp(p, proto, len) == 0)
			return 1;
		p += strlen(p) + 1;
	}
	return 0;
}

/* 1 if any header called name holds token in its comma list. */
static int
headers_have(const struct ws_header *h, size_t n, const char *name,
    const char *token)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ws_str_ieq(h[i].name, name) &&
		    ws_http_list_has(h[i].value, token))
			return 1;
	return 0;
}

static size_t
count_headers(const struct ws_header *h, size_t n, const char *name)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (ws_str_ieq(h[i].name, name))
			k++;
	return k;
}

static struct ws_hs *
hs_new(struct ws_conn *c)
{
	size_t n = c->limits->max_headers;
	struct ws_hs *hs;

	hs = ws__alloc(c, sizeof(*hs) + n * sizeof(hs->headers[0]));
	if (hs != NULL)
		memset(hs, 0, sizeof(*hs));
	return c->hs = hs;
}

/* ------------------------------------------------------------- server */

int
ws_reject(struct ws_conn *c, int status, const char *reason,
    const char *body, const char *const *headers)
{
	char line[64];
	size_t i, mark;

	if (c->role != WS_ROLE_SERVER || c->state != WS_CONNECTING)
		return WS_E_STATE;
	if (status < 400 || status > 599)
		return WS_E_INVAL;
	if (reason == NULL)
		reason = ws_http_reason(status);
	if (!field_ok(reason))
		return WS_E_INVAL;
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		if (!header_line_ok(headers[i]))
			return WS_E_INVAL;
	if (body == NULL)
		body = "";
	mark = c->out.len;
	snprintf(line, sizeof(line), "HTTP/1.1 %03d ", status);
	if (out_str(c, line) != 0 || out_str(c, reason) != 0 ||
	    out_str(c, "\r\n") != 0)
		goto nomem;
	snprintf(line, sizeof(line), "%zu", strlen(body));
	if (out_header(c, "Content-Type", "text/plain; charset=utf-8") != 0 ||
	    out_header(c, "Content-Length", line) != 0 ||
	    out_header(c, "Connection", "close") != 0)
		goto nomem;
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		if (out_str(c, headers[i]) != 0 || out_str(c, "\r\n") != 0)
			goto nomem;
	if (out_str(c, "\r\n") != 0 || out_str(c, body) != 0)
		goto nomem;
	c->http_status = (uint16_t)status;
	c->state = WS_CLOSED;
	ws__hs_free(c);
	return WS_OK;
nomem:
	c->out.len = mark;
	return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
}

/* Refuse the request being parsed: queue the response, fail with status. */
static ssize_t
refuse(struct ws_conn *c, int status, int http, const char *why,
    const char *const *headers)
{
	char body[160];

	snprintf(body, sizeof(body), "%s: %s\n", ws_http_reason(http), why);
	if (ws_reject(c, http, NULL, body, headers) != WS_OK)
		return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
	return ws__fail(c, status, 0, why);
}

static ssize_t
recv_request(struct ws_conn *c, uint8_t *buf, size_t len, struct ws_event *ev,
    struct ws_header *hdrs)
{
	static const char *const allow[] = { "Allow: GET", NULL };
	static const char *const version[] = { "Sec-WebSocket-Version: 13",
	    NULL };
	struct ws_http_head h;
	struct ws_request *req;
	const struct ws_str *v;
	struct ws_str protos[64];
	size_t nprotos;
	const char *q;
	int n;

	n = ws_http_parse_request((const char *)buf, len,
	    c->limits->max_head_bytes, &h, hdrs, c->limits->max_headers);
	if (n == WS_AGAIN)
		return WS_AGAIN;
	if (n == WS_E_HTTP_TOO_LARGE)
		return refuse(c, n, 431, "request head too large", NULL);
	if (n < 0)
		return refuse(c, WS_E_HTTP, 400, "malformed HTTP request",
		    NULL);
	if (h.method.len != 3 || memcmp(h.method.p, "GET", 3) != 0)
		return refuse(c, WS_E_HANDSHAKE, 405,
		    "a WebSocket handshake is a GET request", allow);
	if (h.minor_version < 1)
		return refuse(c, WS_E_HANDSHAKE, 400, "HTTP/1.1 is required",
		    NULL);
	if (count_headers(h.headers, h.nheaders, "Host") != 1)
		return refuse(c, WS_E_HANDSHAKE, 400,
		    "exactly one Host header is required", NULL);
	if (!headers_have(h.headers, h.nheaders, "Upgrade", "websocket"))
		return refuse(c, WS_E_HANDSHAKE, 400,
		    "missing Upgrade: websocket", NULL);
	if (!headers_have(h.headers, h.nheaders, "Connection", "upgrade"))
		return refuse(c, WS_E_HANDSHAKE, 400,
		    "missing Connection: Upgrade", NULL);
	if (count_headers(h.headers, h.nheaders, "Sec-WebSocket-Version") > 1)
		return refuse(c, WS_E_HANDSHAKE, 400,
		    "more than one Sec-WebSocket-Version", NULL);
	v = ws_header_get(h.headers, h.nheaders, "Sec-WebSocket-Version");
	if (v == NULL || !ws_str_ieq(*v, "13"))
		return refuse(c, WS_E_HANDSHAKE, 426,
		    "Sec-WebSocket-Version 13 is required", version);
	v = ws_header_get(h.headers, h.nheaders, "Sec-WebSocket-Key");
	if (count_headers(h.headers, h.nheaders, "Sec-WebSocket-Key") != 1 ||
	    !key_valid(*v))
		return refuse(c, WS_E_HANDSHAKE, 400,
		    "Sec-WebSocket-Key must be 16 bytes in base64", NULL);
	nprotos = ws_header_list(h.headers, h.nheaders,
	    "Sec-WebSocket-Protocol", protos, 64);
	if (nprotos > 64)
		return refuse(c, WS_E_HANDSHAKE, 400,
		    "too many subprotocols offered", NULL);
	/* Keep the headers, as many as there are, for ws_conn_request(). */
	c->hs = ws__alloc(c, sizeof(*c->hs) + h.nheaders * sizeof(*hdrs));
	if (c->hs == NULL)
		return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
	memset(c->hs, 0, sizeof(*c->hs));
	memcpy(c->hs->headers, hdrs, h.nheaders * sizeof(*hdrs));
	h.headers = c->hs->headers;
	v = ws_header_get(h.headers, h.nheaders, "Sec-WebSocket-Key");
	if (store_offered(c, protos, nprotos) != 0)
		return ws__fail(c, WS_E_NOMEM, 0, "out of memory");

	ws_accept_key(v->p, v->len, c->hs->accept);
	req = &c->hs->req;
	req->method = h.method;
	req->target = h.target;
	req->path = h.target;
	req->query.p = NULL;
	req->query.len = 0;
	if ((q = memchr(h.target.p, '?', h.target.len)) != NULL) {
		req->path.len = (size_t)(q - h.target.p);
		req->query.p = q + 1;
		req->query.len = h.target.len - req->path.len - 1;
	}
	req->minor_version = h.minor_version;
	req->host = *ws_header_get(h.headers, h.nheaders, "Host");
	req->key = *v;
	v = ws_header_get(h.headers, h.nheaders, "Origin");
	req->origin.p = v != NULL ? v->p : NULL;
	req->origin.len = v != NULL ? v->len : 0;
	req->headers = h.headers;
	req->nheaders = h.nheaders;
	c->hs->have_request = 1;
	ev->type = WS_EV_REQUEST;
	ev->data = buf;
	ev->len = (size_t)n;
	return n;
}

/* Headers parsed on the stack up to this many; more come from the heap. */
#define STACK_HEADERS 128

ssize_t
ws__recv_request(struct ws_conn *c, uint8_t *buf, size_t len,
    struct ws_event *ev)
{
	struct ws_header local[STACK_HEADERS], *hdrs = local;
	ssize_t r;

	if (c->hs != NULL && c->hs->have_request)
		return WS_AGAIN;
	if (c->limits->max_headers > STACK_HEADERS) {
		hdrs = ws__alloc(c, c->limits->max_headers * sizeof(*hdrs));
		if (hdrs == NULL)
			return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
	}
	r = recv_request(c, buf, len, ev, hdrs);
	if (hdrs != local)
		ws__free(c, hdrs);
	return r;
}

const struct ws_request *
ws_conn_request(const struct ws_conn *c)
{
	if (c->state != WS_CONNECTING || c->hs == NULL ||
	    !c->hs->have_request)
		return NULL;
	return &c->hs->req;
}

void
ws_response_init(struct ws_response *r)
{
	memset(r, 0, sizeof(*r));
}

int
ws_response_add_header(struct ws_response *r, const char *name,
    const char *value)
{
	if (r->nheaders == WS_RESPONSE_MAX_HEADERS || !ws_token_valid(name) ||
	    !field_ok(value))
		return WS_E_INVAL;
	r->headers[r->nheaders].name = name;
	r->headers[r->nheaders].value = value;
	r->nheaders++;
	return WS_OK;
}

static char *
dup_str(struct ws_conn *c, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ws__alloc(c, n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

int
ws_accept(struct ws_conn *c, const struct ws_response *r)
{
	char *proto = NULL, pmd[160];
	size_t i, mark;
	int z;

	if (c->role != WS_ROLE_SERVER || c->state != WS_CONNECTING ||
	    c->hs == NULL || !c->hs->have_request)
		return WS_E_STATE;
	if (r->subprotocol != NULL && !offered(c->hs, r->subprotocol,
	    strlen(r->subprotocol)))
		return WS_E_INVAL;
	if (r->extensions != NULL && !field_ok(r->extensions))
		return WS_E_INVAL;
	if (r->nheaders > WS_RESPONSE_MAX_HEADERS)
		return WS_E_INVAL;
	for (i = 0; i < r->nheaders; i++)
		if (!ws_token_valid(r->headers[i].name) ||
		    !field_ok(r->headers[i].value))
			return WS_E_INVAL;
	if (r->subprotocol != NULL &&
	    (proto = dup_str(c, r->subprotocol)) == NULL)
		return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
	z = ws__pmd_answer(c, c->hs->req.headers, c->hs->req.nheaders, pmd,
	    sizeof(pmd));
	mark = c->out.len;
	if (out_str(c, "HTTP/1.1 101 Switching Protocols\r\n") != 0 ||
	    out_header(c, "Upgrade", "websocket") != 0 ||
	    out_header(c, "Connection", "Upgrade") != 0 ||
	    out_header(c, "Sec-WebSocket-Accept", c->hs->accept) != 0 ||
	    (proto != NULL &&
	    out_header(c, "Sec-WebSocket-Protocol", proto) != 0) ||
	    (z > 0 && out_header(c, "Sec-WebSocket-Extensions", pmd) != 0) ||
	    (r->extensions != NULL &&
	    out_header(c, "Sec-WebSocket-Extensions", r->extensions) != 0))
		goto nomem;
	for (i = 0; i < r->nheaders; i++)
		if (out_header(c, r->headers[i].name,
		    r->headers[i].value) != 0)
			goto nomem;
	if (out_str(c, "\r\n") != 0)
		goto nomem;
	c->subprotocol = proto;
	c->http_status = 101;
	c->state = WS_OPEN;
	ws__hs_free(c);
	return WS_OK;
nomem:
	c->out.len = mark;
	ws__free(c, proto);
	return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
}

/* ------------------------------------------------------------- client */

int
ws_connect(struct ws_conn *c, const struct ws_client_request *r)
{
	uint8_t raw[16];
	char key[25], line[32], pmd[160];
	const char *target = r->target != NULL ? r->target : "/";
	size_t i, mark;

	if (c->role != WS_ROLE_CLIENT || c->state != WS_CONNECTING ||
	    c->hs != NULL)
		return WS_E_STATE;
	if (r->host == NULL || *r->host == '\0' || !field_ok(r->host) ||
	    *target != '/' || strpbrk(target, " \t") != NULL ||
	    !field_ok(target) ||
	    (r->origin != NULL && !field_ok(r->origin)) ||
	    (r->extensions != NULL && !field_ok(r->extensions)))
		return WS_E_INVAL;
	for (i = 0; i < r->nsubprotocols; i++)
		if (!ws_token_valid(r->subprotocols[i]))
			return WS_E_INVAL;
	for (i = 0; i < r->nheaders; i++)
		if (!header_line_ok(r->headers[i]))
			return WS_E_INVAL;
	if (ws__random(c, raw, sizeof(raw)) != 0)
		return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	if (hs_new(c) == NULL)
		return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
	ws_accept_key(key, 24, c->hs->accept);
	if (r->nsubprotocols > 0) {
		struct ws_str v[64];

		if (r->nsubprotocols > 64) {
			ws__hs_free(c);
			return WS_E_INVAL;
		}
		for (i = 0; i < r->nsubprotocols; i++) {
			v[i].p = r->subprotocols[i];
			v[i].len = strlen(r->subprotocols[i]);
		}
		if (store_offered(c, v, r->nsubprotocols) != 0) {
			ws__hs_free(c);
			return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
		}
	}
	mark = c->out.len;
	if (out_str(c, "GET ") != 0 || out_str(c, target) != 0 ||
	    out_str(c, " HTTP/1.1\r\n") != 0 ||
	    out_header(c, "Host", r->host) != 0 ||
	    out_header(c, "Upgrade", "websocket") != 0 ||
	    out_header(c, "Connection", "Upgrade") != 0 ||
	    out_header(c, "Sec-WebSocket-Key", key) != 0 ||
	    out_header(c, "Sec-WebSocket-Version", "13") != 0)
		goto nomem;
	if (r->origin != NULL && out_header(c, "Origin", r->origin) != 0)
		goto nomem;
	for (i = 0; i < r->nsubprotocols; i++) {
		snprintf(line, sizeof(line), "%s", i == 0 ?
		    "Sec-WebSocket-Protocol: " : ", ");
		if (out_str(c, line) != 0 ||
		    out_str(c, r->subprotocols[i]) != 0)
			goto nomem;
	}
	if (r->nsubprotocols > 0 && out_str(c, "\r\n") != 0)
		goto nomem;
	if (c->pmd != NULL && (ws__pmd_offer(c, pmd, sizeof(pmd)) != 0 ||
	    out_header(c, "Sec-WebSocket-Extensions", pmd) != 0))
		goto nomem;
	if (r->extensions != NULL &&
	    out_header(c, "Sec-WebSocket-Extensions", r->extensions) != 0)
		goto nomem;
	for (i = 0; i < r->nheaders; i++)
		if (out_str(c, r->headers[i]) != 0 || out_str(c, "\r\n") != 0)
			goto nomem;
	if (out_str(c, "\r\n") != 0)
		goto nomem;
	c->hs->sent = 1;
	return WS_OK;
nomem:
	c->out.len = mark;
	ws__hs_free(c);
	return ws__fail(c, WS_E_NOMEM, 0, "out of memory");
}

ssize_t
ws__recv_response(struct ws_conn *c, uint8_t *buf, size_t len,
    struct ws_event *ev)
{
	struct ws_http_head h;
	const struct ws_str *v;
	struct ws_str proto;
	const char *why;
	int n;

	if (c->hs == NULL || !c->hs->sent)
		return WS_E_STATE;
	n = ws_http_parse_response((const char *)buf, len,
	    c->limits->max_head_bytes, &h, c->hs->headers,
	    c->limits->max_headers);
	if (n == WS_AGAIN)
		return WS_AGAIN;
	if (n == WS_E_HTTP_TOO_LARGE)
		return ws__fail(c, n, 0, "response head too large");
	if (n < 0)
		return ws__fail(c, WS_E_HTTP, 0, "malformed HTTP response");
	c->http_status = (uint16_t)h.status;
	if (h.status != 101)
		return ws__fail(c, WS_E_HANDSHAKE, 0,
		    "the server refused the WebSocket handshake");
	if (!headers_have(h.headers, h.nheaders, "Upgrade", "websocket"))
		return ws__fail(c, WS_E_HANDSHAKE, 0,
		    "response lacks Upgrade: websocket");
	if (!headers_have(h.headers, h.nheaders, "Connection", "upgrade"))
		return ws__fail(c, WS_E_HANDSHAKE, 0,
		    "response lacks Connection: Upgrade");
	v = ws_header_get(h.headers, h.nheaders, "Sec-WebSocket-Accept");
	if (v == NULL ||
	    count_headers(h.headers, h.nheaders, "Sec-WebSocket-Accept") != 1 ||
	    v->len != 28 || memcmp(v->p, c->hs->accept, 28) != 0)
		return ws__fail(c, WS_E_HANDSHAKE, 0,
		    "wrong Sec-WebSocket-Accept");
	if ((why = ws__pmd_check(c, h.headers, h.nheaders)) != NULL)
		return ws__fail(c, WS_E_HANDSHAKE, 0, why);
	switch (ws_header_list(h.headers, h.nheaders,
	    "Sec-WebSocket-Protocol", &proto, 1)) {
	case 0:
		break;
	case 1:
		if (offered(c->hs, proto.p, proto.len)) {
			c->subprotocol = ws__alloc(c, proto.len + 1);
			if (c->subprotocol == NULL)
				return ws__fail(c, WS_E_NOMEM, 0,
				    "out of memory");
			memcpy(c->subprotocol, proto.p, proto.len);
			c->subprotocol[proto.len] = '\0';
			break;
		}
		/* FALLTHROUGH */
	default:
		return ws__fail(c, WS_E_HANDSHAKE, 0,
		    "the server chose a subprotocol that was not offered");
	}
	c->state = WS_OPEN;
	ws__hs_free(c);
	ev->type = WS_EV_RESPONSE;
	ev->data = buf;
	ev->len = (size_t)n;
	return n;
}
