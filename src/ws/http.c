/*
 * http.c - the HTTP/1.1 head of the opening handshake (RFC 9112 syntax,
 * restricted to what an upgrade needs).  Bounded and non-allocating: the
 * results point into the caller's buffer.
 */
#include <string.h>

#include "http.h"

/* tchar (RFC 9110 section 5.6.2) */
static int
is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return 1;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* field-vchar, SP, HTAB, obs-text */
static int
is_value_char(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

struct cursor {
	const char *p;
	const char *end;	/* of the bytes we may look at */
};

/*
 * Find the end of the line at c->p: sets *eol to its last content byte + 1
 * and advances past CRLF or LF.  Returns 1 for a line, 0 if the buffer
 * ends first, -1 for a bare CR or a NUL.
 */
static int
next_line(struct cursor *c, const char **eol)
{
	const char *q;

	for (q = c->p; q < c->end; q++) {
		if (*q == '\n') {
			*eol = q;
			c->p = q + 1;
			return 1;
		}
		if (*q == '\r') {
			if (q + 1 == c->end)
				return 0;
			if (q[1] != '\n')
				return -1;
			*eol = q;
			c->p = q + 2;
			return 1;
		}
		if (*q == '\0')
			return -1;
	}
	return 0;
}

static int
parse_version(const char *p, const char *end, int *minor)
{
	if (end - p != 8 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    p[7] < '0' || p[7] > '9')
		return -1;
	*minor = p[7] - '0';
	return 0;
}

static int
parse_request_line(const char *p, const char *eol, struct ws_http_head *h)
{
	const char *q = p;

	while (q < eol && is_tchar((unsigned char)*q))
		q++;
	if (q == p || q == eol || *q != ' ')
		return -1;
	h->method.p = p;
	h->method.len = (size_t)(q - p);
	p = ++q;
	while (q < eol && (unsigned char)*q > 0x20 && *q != 0x7f)
		q++;
	if (q == p || q == eol || *q != ' ')
		return -1;
	h->target.p = p;
	h->target.len = (size_t)(q - p);
	return parse_version(q + 1, eol, &h->minor_version);
}

static int
parse_status_line(const char *p, const char *eol, struct ws_http_head *h)
{
	const char *q;
	int i;

	if (eol - p < 12 || parse_version(p, p + 8, &h->minor_version) != 0 ||
	    p[8] != ' ')
		return -1;
	h->status = 0;
	for (i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		h->status = h->status * 10 + (p[i] - '0');
	}
	if (h->status < 100)
		return -1;
	q = p + 12;
	if (q < eol && *q++ != ' ')
		return -1;
	h->reason.p = q;
	h->reason.len = (size_t)(eol - q);
	for (; q < eol; q++)
		if (!is_value_char((unsigned char)*q))
			return -1;
	return 0;
}

static int
parse_header(const char *p, const char *eol, struct ws_header *hd)
{
	const char *q = p;

	if (*p == ' ' || *p == '\t')	/* obs-fold */
		return -1;
	while (q < eol && is_tchar((unsigned char)*q))
		q++;
	if (q == p || q == eol || *q != ':')
		return -1;
	hd->name.p = p;
	hd->name.len = (size_t)(q - p);
	for (p = q + 1; p < eol; p++)
		if (!is_value_char((unsigned char)*p))
			return -1;
	p = q + 1;
	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	while (eol > p && (eol[-1] == ' ' || eol[-1] == '\t'))
		eol--;
	hd->value.p = p;
	hd->value.len = (size_t)(eol - p);
	return 0;
}

static int
parse_head(const char *buf, size_t len, size_t max_bytes,
    struct ws_http_head *h, struct ws_header *hdrs, size_t max_headers,
    int request)
{
	struct cursor c;
	const char *line, *eol;
	int r, first = 1;

	memset(h, 0, sizeof(*h));
	h->headers = hdrs;
	c.p = buf;
	c.end = buf + (len < max_bytes ? len : max_bytes);
	for (;;) {
		line = c.p;
		r = next_line(&c, &eol);
		if (r < 0)
			return WS_E_HTTP;
		if (r == 0) {
			/* A line too long or a bad byte still ahead is found
			   as soon as it is seen. */
			for (; line < c.end; line++)
				if (*line == '\0')
					return WS_E_HTTP;
			return len >= max_bytes ? WS_E_HTTP_TOO_LARGE :
			    WS_AGAIN;
		}
		if (first) {
			if (eol == line)
				return WS_E_HTTP;
			if ((request ? parse_request_line(line, eol, h) :
			    parse_status_line(line, eol, h)) != 0)
				return WS_E_HTTP;
			first = 0;
			continue;
		}
		if (eol == line)
			return (int)(c.p - buf);
		if (h->nheaders == max_headers)
			return WS_E_HTTP_TOO_LARGE;
		if (parse_header(line, eol, &hdrs[h->nheaders]) != 0)
			return WS_E_HTTP;
		h->nheaders++;
	}
}

int
ws_http_parse_request(const char *buf, size_t len, size_t max_bytes,
    struct ws_http_head *h, struct ws_header *hdrs, size_t max_headers)
{
	return parse_head(buf, len, max_bytes, h, hdrs, max_headers, 1);
}

int
ws_http_parse_response(const char *buf, size_t len, size_t max_bytes,
    struct ws_http_head *h, struct ws_header *hdrs, size_t max_headers)
{
	return parse_head(buf, len, max_bytes, h, hdrs, max_headers, 0);
}

static int
lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

int
ws_str_ieq(struct ws_str s, const char *lit)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if (lit[i] == '\0' || lower((unsigned char)s.p[i]) !=
		    lower((unsigned char)lit[i]))
			return 0;
	return lit[i] == '\0';
}

/*
 * Take the next element of the comma list at *v: returns 1 and sets *elem
 * (trimmed, possibly empty), 0 at the end of the list.
 */
static int
list_next(struct ws_str *v, struct ws_str *elem)
{
	const char *p = v->p, *end = v->p + v->len, *q;

	if (v->p == NULL)
		return 0;
	q = memchr(p, ',', v->len);
	if (q == NULL)
		q = end;
	v->p = q < end ? q + 1 : NULL;
	v->len = q < end ? (size_t)(end - q - 1) : 0;
	while (p < q && (*p == ' ' || *p == '\t'))
		p++;
	while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
		q--;
	elem->p = p;
	elem->len = (size_t)(q - p);
	return 1;
}

int
ws_http_list_has(struct ws_str v, const char *token)
{
	struct ws_str e;

	while (list_next(&v, &e))
		if (ws_str_ieq(e, token))
			return 1;
	return 0;
}

const struct ws_str *
ws_header_get(const struct ws_header *h, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ws_str_ieq(h[i].name, name))
			return &h[i].value;
	return NULL;
}

size_t
ws_header_list(const struct ws_header *h, size_t n, const char *name,
    struct ws_str *out, size_t max)
{
	size_t i, count = 0;
	struct ws_str v, e;

	for (i = 0; i < n; i++) {
		if (!ws_str_ieq(h[i].name, name))
			continue;
		v = h[i].value;
		if (v.len == 0)
			continue;
		while (list_next(&v, &e)) {
			if (e.len == 0)
				continue;
			if (count < max)
				out[count] = e;
			count++;
		}
	}
	return count;
}

const char *
ws_http_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}
