/*
 * http.h - a bounded, non-allocating HTTP/1.1 head parser for the
 * WebSocket opening handshake (picohttpparser style: the results borrow
 * from the caller's buffer).
 */
#ifndef WS_HTTP_H
#define WS_HTTP_H

#include "ws.h"

struct ws_http_head {
	struct ws_str method;		/* request */
	struct ws_str target;		/* request */
	int status;			/* response */
	struct ws_str reason;		/* response */
	int minor_version;		/* HTTP/1.x; any other major is refused */
	struct ws_header *headers;	/* caller's array */
	size_t nheaders;
};

/*
 * Parse a request (or response) head from buf[0..len).  hdrs has room for
 * max_headers entries.  Returns the length of the head, through the blank
 * line (the bytes after it are not looked at); WS_AGAIN when the head is
 * incomplete and len < max_bytes; WS_E_HTTP_TOO_LARGE when no head ends
 * within max_bytes or it has more than max_headers headers; WS_E_HTTP when
 * it is malformed (bad request or status line, a header line without a
 * colon or with a bad name, folded lines, NUL or other control bytes, a
 * bare CR).  Lines end with CRLF or LF.
 */
int ws_http_parse_request(const char *buf, size_t len, size_t max_bytes,
    struct ws_http_head *h, struct ws_header *hdrs, size_t max_headers);
int ws_http_parse_response(const char *buf, size_t len, size_t max_bytes,
    struct ws_http_head *h, struct ws_header *hdrs, size_t max_headers);

/* 1 if the comma-separated list v holds token (case-insensitive). */
int ws_http_list_has(struct ws_str v, const char *token);

/* Case-insensitive comparison of s with a NUL-terminated string. */
int ws_str_ieq(struct ws_str s, const char *lit);

/* Standard reason phrase for an HTTP status, or "Error". */
const char *ws_http_reason(int status);

#endif /* WS_HTTP_H */
