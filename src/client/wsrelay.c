/*
 * wsrelay.c - a command-line WebSocket client, and "wsrelay bench".
 *
 * One connection, driven by libevent: a nonblocking TCP connect to each
 * address of the URL's host in turn, then the client role of src/ws for
 * everything on the wire.  A wss:// URL puts TLS between them: the
 * server's certificate is verified against the system's CA store (or
 * --cacert) and the URL's host, unless --insecure; the handshake happens
 * within the first writes and reads, under the connect timeout.  Lines of standard input (or chunks, with
 * --raw) become messages; received messages go to standard output.
 *
 * The connection moves through phases:
 *   CONNECT    TCP connect in progress (the upgrade request is queued)
 *   HANDSHAKE  request sent, waiting for the 101
 *   OPEN       messages flow
 *   DRAIN      standard input ended: a ping was sent, and the close waits
 *              for its pong and then for a moment without messages, so
 *              that the replies to the last messages are read first
 *              (src/ws drops data that arrives after our close frame)
 *   CLOSING    our close frame was sent; waiting for the server's
 *   LINGER     the closing handshake is done; waiting, a bounded time,
 *              for the server to close TCP first (RFC 6455 7.1.1)
 *   FAILED     an error: writing what is queued (a close frame), then out
 *   DONE       finish() ran: the event loop is stopped
 * finish() is the only way to DONE.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "client/bench.h"
#include "client/url.h"
#include "net/tls.h"
#include "ws.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define MAX_HEADERS	32
#define MAX_PROTOCOLS	64		/* what ws_connect() accepts */
#define MAX_RAW		(16 * 1024 * 1024)
#define MAX_LINE	(16 * 1024 * 1024)
#define MAX_MESSAGE	(16 * 1024 * 1024)	/* received */
#define READ_SIZE	(64 * 1024)	/* socket reads */
#define IBUF_SIZE	(READ_SIZE + 16 * 1024)	/* + an unparsed head */
#define STDIN_CHUNK	(64 * 1024)
#define HIGH_MARK	(1024 * 1024)	/* queued for the socket: pause stdin */
#define LOW_MARK	(256 * 1024)	/* ... and resume below this */
#define CLOSE_TIMEOUT	10		/* closing handshake with -t 0 */
#define BARRIER		"wsrelay: end of input"
#define QUIET		0.1		/* DRAIN: seconds without messages */

enum out_format {
	OUT_HEX,
	OUT_BASE64,
	OUT_RAW
};

enum phase {
	PH_CONNECT,
	PH_HANDSHAKE,
	PH_OPEN,
	PH_DRAIN,
	PH_CLOSING,
	PH_LINGER,
	PH_FAILED,
	PH_DONE
};

/* Exit statuses (wsrelay(1), EXIT STATUS). */
enum {
	EX_NORMAL = 0,
	EX_IO = 1,
	EX_USAGE = 2,
	EX_HANDSHAKE = 3,
	EX_PROTOCOL = 4,
	EX_TIMEOUT = 5,
	EX_ABNORMAL = 6,
	EX_INTERRUPT = 130
};

struct options {
	const char *once;
	int binary;
	size_t raw;			/* 0: lines */
	enum out_format out;
	const char *headers[MAX_HEADERS];
	size_t nheaders;
	const char *origin;
	const char *protocols[MAX_PROTOCOLS];
	size_t nprotocols;
	double ping_interval;
	double timeout;
	int verbose;
	int compress;
	const char *cacert;		/* wss://: trust these CAs */
	int insecure;			/* wss://: verify nothing */
};

struct client {
	const struct options *opt;
	struct ws_url url;
	struct ws_limits limits;
	struct event_base *base;
	struct ws_conn *ws;
	struct addrinfo *res;		/* addresses of the host */
	struct addrinfo *ai;		/* the one being tried */
	int fd;
	SSL_CTX *tls_ctx;		/* wss:// */
	SSL *ssl;			/* wss://, once TCP is connected */
	int tls_rw;			/* what a stalled SSL call waits for */
	char tls_why[256];		/* why TLS failed (EPROTO) */
	int connect_errno;
	struct event *rev;		/* socket readable, persistent */
	struct event *wev;		/* socket writable (and connected) */
	struct event *inev;		/* stdin readable, or its chunk timer */
	struct event *timer;		/* the deadline of the phase */
	struct event *pinger;
	struct event *sigint;
	enum phase phase;
	uint8_t *ibuf;			/* socket input, [0, ilen) unparsed */
	size_t ilen;
	uint8_t *sbuf;			/* a read from stdin */
	size_t ssize;
	char *line;			/* a line not yet ended */
	size_t llen;
	size_t lcap;
	unsigned long long lineno;
	int in_watch;			/* stdin can be polled */
	int in_on;			/* inev is added */
	int in_paused;			/* output above HIGH_MARK */
	int in_done;			/* stdin ended or is no longer read */
	int writing;			/* wev is added */
	int by_client;			/* we sent the first close frame */
	int got_reply;			/* --once */
	int got_pong;			/* DRAIN: the barrier was answered */
	double drain_end;		/* DRAIN: close by then anyway */
	double close_end;		/* ... and be closed by then */
	int nsigint;
	int status;			/* -1 until decided */
	char reason[128];		/* of the server's close frame */
};

static void finish(struct client *c);
static void start_close(struct client *c);
static void send_close(struct client *c);
static void conclude(struct client *c);
static void flush_out(struct client *c);
static void stdin_start(struct client *c);
static void stdin_stop(struct client *c);
static void on_read(evutil_socket_t fd, short what, void *arg);

/* ------------------------------------------------------------ messages */

static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("wsrelay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Decide the exit status, once: the first failure is the one reported. */
static void __attribute__((format(printf, 3, 4)))
set_status(struct client *c, int status, const char *fmt, ...)
{
	va_list ap;

	if (c->status >= 0)
		return;
	c->status = status;
	if (fmt == NULL)
		return;
	fflush(stdout);
	fputs("wsrelay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* An HTTP head to stderr, a line at a time, without its CRs. */
static void
print_head(const char *prefix, const uint8_t *p, size_t len)
{
	const uint8_t *e, *end = p + len;
	size_t n;

	while (p < end) {
		e = memchr(p, '\n', (size_t)(end - p));
		n = (e != NULL ? e : end) - p;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;		/* the blank line that ends the head */
		fprintf(stderr, "%s%.*s\n", prefix, (int)n, (const char *)p);
		if (e == NULL)
			break;
		p = e + 1;
	}
}

/* Length of the HTTP head at p (through its blank line), 0 if partial. */
static size_t
head_len(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 3 < len; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			return i + 4;
	return 0;
}

static const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 200 ? "Informational" : status < 300 ?
	    "Success" : status < 400 ? "Redirection" : status < 500 ?
	    "Client Error" : "Server Error";
	}
}

/* ------------------------------------------------------------- output */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
put_base64(const uint8_t *p, size_t len)
{
	char q[4];
	uint32_t v;
	size_t i;

	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = b64[(v >> 6) & 63];
		q[3] = b64[v & 63];
		fwrite(q, 1, 4, stdout);
	}
	if (len - i > 0) {
		v = (uint32_t)p[i] << 16;
		if (len - i == 2)
			v |= (uint32_t)p[i + 1] << 8;
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = len - i == 2 ? b64[(v >> 6) & 63] : '=';
		q[3] = '=';
		fwrite(q, 1, 4, stdout);
	}
}

static void
put_hex(const uint8_t *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char q[512];
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		q[n++] = hex[p[i] >> 4];
		q[n++] = hex[p[i] & 15];
		if (n == sizeof(q)) {
			fwrite(q, 1, n, stdout);
			n = 0;
		}
	}
	fwrite(q, 1, n, stdout);
}

/* A received message to stdout; -1 if stdout failed. */
static int
print_message(const struct client *c, int binary, const uint8_t *p,
    size_t len)
{
	if (!binary || c->opt->out == OUT_RAW)
		fwrite(p, 1, len, stdout);
	else if (c->opt->out == OUT_HEX)
		put_hex(p, len);
	else
		put_base64(p, len);
	if (!binary || c->opt->out != OUT_RAW)
		putchar('\n');
	if (fflush(stdout) != 0 || ferror(stdout))
		return -1;
	return 0;
}

/* ------------------------------------------------------------- timers */

static void
set_timer(struct client *c, double seconds)
{
	struct timeval tv;

	if (seconds <= 0) {
		evtimer_del(c->timer);
		return;
	}
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(c->timer, &tv);
}

static double
close_timeout(const struct client *c)
{
	return c->opt->timeout > 0 ? c->opt->timeout : CLOSE_TIMEOUT;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* DRAIN after the pong: close after QUIET seconds without messages. */
static void
quiet_timer(struct client *c)
{
	double left = c->drain_end - now();

	set_timer(c, left < QUIET ? (left > 0 ? left : 1e-6) : QUIET);
}

/* --------------------------------------------------------- the socket */

/* An SSL call made no progress: tls_stalled(), with why in c->tls_why. */
static ssize_t
tls_stall(struct client *c, int writing)
{
	ssize_t r = tls_stalled(c->ssl, writing, &c->tls_rw);

	if (r < 0 && errno == EPROTO) {
		tls_error(c->ssl, c->tls_why, sizeof(c->tls_why));
		errno = EPROTO;
	}
	return r;
}

static ssize_t
sock_read(struct client *c, void *buf, size_t len)
{
	size_t n;

	if (c->ssl == NULL)
		return read(c->fd, buf, len);
	c->tls_rw &= ~TLS_READ_WANTS_WRITE;
	if (SSL_read_ex(c->ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	return tls_stall(c, 0);
}

static ssize_t
sock_write(struct client *c, const void *buf, size_t len)
{
	size_t n;

	if (c->ssl == NULL)
		return send(c->fd, buf, len, MSG_NOSIGNAL);
	c->tls_rw &= ~TLS_WRITE_WANTS_READ;
	if (SSL_write_ex(c->ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	return tls_stall(c, 1);
}

static void
writing(struct client *c, int on)
{
	if (on && !c->writing) {
		event_add(c->wev, NULL);
		c->writing = 1;
	} else if (!on && c->writing) {
		event_del(c->wev);
		c->writing = 0;
	}
}

/*
 * The transport is gone or errored: a reset or a broken pipe is a lost
 * connection, as is end of file (err 0).
 */
static void
transport_end(struct client *c, int err)
{
	if (c->phase == PH_DONE)
		return;
	if (err == EPROTO && c->tls_why[0] != '\0') {
		set_status(c, EX_IO, "%s port %s: TLS: %s", c->url.host,
		    c->url.port, c->tls_why);
		finish(c);
		return;
	}
	if (c->phase == PH_CONNECT || c->phase == PH_HANDSHAKE) {
		if (err != 0)
			set_status(c, EX_IO, "%s port %s: %s", c->url.host,
			    c->url.port, strerror(err));
		else if (c->ilen > 0)
			set_status(c, EX_HANDSHAKE, "handshake failed: "
			    "incomplete HTTP response");
		else
			set_status(c, EX_IO, "%s port %s: the server closed "
			    "the connection during the opening handshake",
			    c->url.host, c->url.port);
		finish(c);
		return;
	}
	if (c->phase == PH_FAILED) {
		finish(c);
		return;
	}
	(void)ws_recv_eof(c->ws);
	conclude(c);
}

/* Write what the protocol has queued; arm the write event if it waits. */
static void
flush_out(struct client *c)
{
	const uint8_t *p;
	size_t n;
	ssize_t w;

	if (c->phase == PH_CONNECT || c->phase == PH_DONE)
		return;
	while ((p = ws_output(c->ws, &n)) != NULL) {
		w = sock_write(c, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			transport_end(c, errno);
			return;
		}
		ws_output_consume(c->ws, (size_t)w);
	}
	/* A TLS write waiting to read waits for the read event. */
	writing(c, (p != NULL && !(c->tls_rw & TLS_WRITE_WANTS_READ)) ||
	    (c->tls_rw & TLS_READ_WANTS_WRITE));
	if (p == NULL && c->phase == PH_FAILED) {
		finish(c);
		return;
	}
	if (!c->in_paused && n > HIGH_MARK) {
		c->in_paused = 1;
		stdin_stop(c);
	} else if (c->in_paused && n <= LOW_MARK) {
		c->in_paused = 0;
		stdin_start(c);
	}
}

/* Stop with status, after writing what is queued (a close frame). */
static void
fail(struct client *c)
{
	if (c->phase >= PH_FAILED)
		return;
	c->phase = PH_FAILED;
	stdin_stop(c);
	if (c->pinger != NULL)
		evtimer_del(c->pinger);
	if (c->rev != NULL)
		event_del(c->rev);
	set_timer(c, close_timeout(c));
	flush_out(c);
}

/*
 * The transport has ended after the handshake: decide the status from
 * the close frames, unless a failure decided it already.
 */
static void
conclude(struct client *c)
{
	uint16_t rcvd = ws_close_code_received(c->ws);
	uint16_t code = rcvd != 0 ? rcvd : ws_close_code_sent(c->ws);
	const char *sp = c->reason[0] != '\0' ? " " : "";

	if (c->opt->verbose && code != 0)
		fprintf(stderr, "wsrelay: closed: %u%s%s (by %s)\n", code, sp,
		    c->reason, c->by_client ? "client" : "server");
	if (rcvd == 0 || rcvd == WS_CLOSE_ABNORMAL)
		set_status(c, EX_ABNORMAL, "connection lost (1006)");
	else if (c->opt->once != NULL && !c->got_reply && !c->by_client)
		set_status(c, EX_ABNORMAL, "closed before a reply: %u%s%s",
		    rcvd, sp, c->reason);
	else if (c->by_client || rcvd == WS_CLOSE_NORMAL ||
	    rcvd == WS_CLOSE_NO_STATUS)
		set_status(c, EX_NORMAL, NULL);
	else
		set_status(c, EX_ABNORMAL, "closed: %u%s%s", rcvd, sp,
		    c->reason);
	finish(c);
}

/* The closing handshake is done: wait for the server to close TCP. */
static void
linger(struct client *c)
{
	c->phase = PH_LINGER;
	stdin_stop(c);
	if (c->pinger != NULL)
		evtimer_del(c->pinger);
	set_timer(c, close_timeout(c));
}

/* ws_recv() failed with status st. */
static void
recv_failed(struct client *c, ssize_t st)
{
	const uint8_t *p = c->ibuf, *e;
	int status = ws_http_status(c->ws);
	size_t n;

	switch (ws_status_class((int)st)) {
	case WS_CLASS_HANDSHAKE:
		if (c->opt->verbose && head_len(p, c->ilen) > 0)
			print_head("< ", p, head_len(p, c->ilen));
		if (status != 0 && status != 101) {
			/* "HTTP/1.1 404 Not Found": the reason follows the
			   second space. */
			e = memchr(p, '\n', c->ilen);
			n = e != NULL ? (size_t)(e - p) : 0;
			if (n > 0 && p[n - 1] == '\r')
				n--;
			if (n > 13 && p[12] == ' ') {
				p += 13;
				n -= 13;
			} else
				n = 0;
			if (n > 0)
				set_status(c, EX_HANDSHAKE, "handshake "
				    "refused: HTTP %d %.*s", status, (int)n,
				    (const char *)p);
			else
				set_status(c, EX_HANDSHAKE, "handshake "
				    "refused: HTTP %d %s", status,
				    http_reason(status));
		} else
			set_status(c, EX_HANDSHAKE, "handshake failed: %s",
			    ws_error(c->ws));
		finish(c);
		return;
	case WS_CLASS_PROTOCOL:
		if (!(c->phase == PH_CLOSING || c->phase == PH_LINGER))
			c->by_client = 1;
		set_status(c, EX_PROTOCOL, "protocol error: %s (sent close %u)",
		    ws_error(c->ws), ws_close_code_sent(c->ws));
		fail(c);
		return;
	case WS_CLASS_CLOSED:
		/* Bytes after the server's close frame: ignored. */
		return;
	case WS_CLASS_RESOURCE:
		set_status(c, EX_IO, "out of memory");
		fail(c);
		return;
	default:
		set_status(c, EX_IO, "internal error: %s", ws_strstatus((int)st));
		fail(c);
		return;
	}
}

static void
on_response(struct client *c, const struct ws_event *ev)
{
	const char *proto = ws_conn_subprotocol(c->ws);
	const struct options *o = c->opt;
	struct timeval tv;

	if (o->verbose) {
		if (c->ssl != NULL)
			fprintf(stderr, "wsrelay: TLS: %s, %s\n",
			    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
		print_head("< ", ev->data, ev->len);
		if (proto != NULL)
			fprintf(stderr, "wsrelay: subprotocol: %s\n", proto);
		if (o->compress)
			fprintf(stderr, "wsrelay: permessage-deflate: %s\n",
			    ws_conn_deflate(c->ws, 0) ? "on" : "declined");
	}
	c->phase = PH_OPEN;
	set_timer(c, 0);
	if (o->ping_interval > 0) {
		tv.tv_sec = (time_t)o->ping_interval;
		tv.tv_usec = (suseconds_t)((o->ping_interval -
		    (double)tv.tv_sec) * 1e6);
		evtimer_add(c->pinger, &tv);
	}
	if (o->once != NULL) {
		if (ws_send(c->ws, o->binary ? WS_OP_BINARY : WS_OP_TEXT,
		    o->once, strlen(o->once)) != WS_OK) {
			set_status(c, EX_IO, "--once: %s", ws_error(c->ws));
			send_close(c);
			return;
		}
		set_timer(c, o->timeout);
		return;
	}
	stdin_start(c);
}

static void
dispatch(struct client *c, const struct ws_event *ev)
{
	switch (ev->type) {
	case WS_EV_RESPONSE:
		on_response(c, ev);
		break;
	case WS_EV_TEXT:
	case WS_EV_BINARY:
		if (c->opt->once != NULL && c->got_reply)
			break;
		if (print_message(c, ev->type == WS_EV_BINARY, ev->data,
		    ev->len) != 0) {
			set_status(c, EX_IO, "stdout: %s", strerror(errno));
			start_close(c);
			break;
		}
		if (c->opt->once != NULL) {
			c->got_reply = 1;
			send_close(c);
		} else if (c->phase == PH_DRAIN && c->got_pong)
			quiet_timer(c);
		break;
	case WS_EV_PONG:
		if (c->phase == PH_DRAIN && ev->len == strlen(BARRIER) &&
		    memcmp(ev->data, BARRIER, ev->len) == 0) {
			c->got_pong = 1;
			quiet_timer(c);
		}
		break;
	case WS_EV_CLOSE:
		snprintf(c->reason, sizeof(c->reason), "%.*s", (int)ev->len,
		    (const char *)ev->data);
		break;
	default:
		break;
	}
}

/* Parse what ibuf holds, deliver its events, write what they produce. */
static void
pump(struct client *c)
{
	struct ws_event ev;
	size_t off = 0;
	ssize_t n;

	while (off < c->ilen && c->phase < PH_LINGER) {
		n = ws_recv(c->ws, c->ibuf + off, c->ilen - off, &ev);
		if (n == WS_AGAIN)
			break;
		if (n < 0) {
			recv_failed(c, n);
			if (c->phase == PH_DONE)
				return;
			off = c->ilen;
			break;
		}
		off += (size_t)n;
		if (ev.type != WS_EV_NONE)
			dispatch(c, &ev);
		if (c->phase == PH_DONE)
			return;
	}
	if (c->phase >= PH_LINGER)
		off = c->ilen;		/* nothing more is read */
	memmove(c->ibuf, c->ibuf + off, c->ilen - off);
	c->ilen -= off;
	if (c->phase >= PH_OPEN && c->phase < PH_LINGER &&
	    ws_close_expected(c->ws))
		linger(c);
	flush_out(c);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	ssize_t n;

	(void)what;
	(void)fd;
	do {
		if (c->ilen >= IBUF_SIZE) {
			/* A head the parser neither takes nor refuses: cannot
			   be with a limit below IBUF_SIZE. */
			set_status(c, EX_IO, "internal error: input buffer "
			    "full");
			finish(c);
			return;
		}
		n = sock_read(c, c->ibuf + c->ilen, IBUF_SIZE - c->ilen);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK) {
				/* TLS: the handshake may have moved on, and
				   a write wait for it. */
				if (c->ssl != NULL)
					flush_out(c);
				return;
			}
			transport_end(c, errno);
			return;
		}
		if (n == 0) {
			transport_end(c, 0);
			return;
		}
		c->ilen += (size_t)n;
		pump(c);
		/* What OpenSSL decrypted and kept is announced by no event. */
	} while (c->ssl != NULL && c->phase < PH_DONE &&
	    SSL_pending(c->ssl) > 0);
}

static void
connected(struct client *c)
{
	const uint8_t *p;
	size_t n;
	int on = 1;

	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (c->tls_ctx != NULL) {
		static const unsigned char alpn[] = "\x08http/1.1";

		if ((c->ssl = SSL_new(c->tls_ctx)) == NULL ||
		    !SSL_set_fd(c->ssl, c->fd) ||
		    tls_client_name(c->ssl, c->url.host,
		    !c->opt->insecure) != 0 ||
		    SSL_set_alpn_protos(c->ssl, alpn, sizeof(alpn) - 1) != 0) {
			set_status(c, EX_IO, "TLS: %s", tls_error(NULL,
			    c->tls_why, sizeof(c->tls_why)));
			finish(c);
			return;
		}
		SSL_set_connect_state(c->ssl);
	}
	c->phase = PH_HANDSHAKE;
	if (c->opt->verbose && (p = ws_output(c->ws, &n)) != NULL)
		print_head("> ", p, n);
	event_add(c->rev, NULL);
	flush_out(c);
}

static void try_connect(struct client *c);

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	(void)what;
	c->writing = 0;		/* wev is not persistent */
	if (c->tls_rw & TLS_READ_WANTS_WRITE) {
		c->tls_rw &= ~TLS_READ_WANTS_WRITE;
		on_read(fd, EV_READ, c);
		return;
	}
	if (c->phase != PH_CONNECT) {
		flush_out(c);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0) {
		connected(c);
		return;
	}
	c->connect_errno = err;
	c->ai = c->ai->ai_next;
	try_connect(c);
}

static void
drop_socket(struct client *c)
{
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	c->rev = c->wev = NULL;
	c->writing = 0;
	if (c->ssl != NULL) {
		/* close_notify, if the socket takes it now. */
		if (SSL_is_init_finished(c->ssl) && c->tls_why[0] == '\0')
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
		c->ssl = NULL;
	}
	c->tls_rw = 0;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

/* Connect to c->ai, or the next address that does not fail at once. */
static void
try_connect(struct client *c)
{
	char addr[INET6_ADDRSTRLEN];

	drop_socket(c);
	for (; c->ai != NULL; c->ai = c->ai->ai_next) {
		if (c->opt->verbose && getnameinfo(c->ai->ai_addr,
		    c->ai->ai_addrlen, addr, sizeof(addr), NULL, 0,
		    NI_NUMERICHOST) == 0)
			fprintf(stderr, "wsrelay: connecting to %s port %s\n",
			    addr, c->url.port);
		c->fd = socket(c->ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, c->ai->ai_protocol);
		if (c->fd == -1) {
			c->connect_errno = errno;
			continue;
		}
		c->rev = event_new(c->base, c->fd, EV_READ | EV_PERSIST,
		    on_read, c);
		c->wev = event_new(c->base, c->fd, EV_WRITE, on_write, c);
		if (c->rev == NULL || c->wev == NULL) {
			set_status(c, EX_IO, "out of memory");
			finish(c);
			return;
		}
		if (connect(c->fd, c->ai->ai_addr, c->ai->ai_addrlen) == 0) {
			connected(c);
			return;
		}
		if (errno == EINPROGRESS) {
			writing(c, 1);
			return;
		}
		c->connect_errno = errno;
		drop_socket(c);
	}
	set_status(c, EX_IO, "cannot connect to %s port %s: %s", c->url.host,
	    c->url.port, strerror(c->connect_errno));
	finish(c);
}

/* -------------------------------------------------------------- closing */

/* Send our close frame (code 1000) and wait for the server's. */
static void
send_close(struct client *c)
{
	double left;

	if (c->phase != PH_OPEN && c->phase != PH_DRAIN)
		return;
	stdin_stop(c);
	c->in_done = 1;
	if (c->pinger != NULL)
		evtimer_del(c->pinger);
	if (ws_close(c->ws, WS_CLOSE_NORMAL, NULL, 0) != WS_OK) {
		set_status(c, EX_IO, "close: %s", ws_error(c->ws));
		fail(c);
		return;
	}
	c->by_client = 1;
	/* From DRAIN, the closing handshake has what is left of the time
	   the end of input started. */
	left = c->phase == PH_DRAIN ? c->close_end - now() : close_timeout(c);
	c->phase = PH_CLOSING;
	set_timer(c, left > 0 ? left : 1e-6);
	flush_out(c);
}

/*
 * End of input (stdin, SIGINT): make sure the server has answered what
 * was sent, with a ping it must answer after it, then close.
 */
static void
start_close(struct client *c)
{
	if (c->phase != PH_OPEN)
		return;
	stdin_stop(c);
	c->in_done = 1;
	if (ws_send(c->ws, WS_OP_PING, BARRIER, strlen(BARRIER)) != WS_OK) {
		send_close(c);
		return;
	}
	/* Half the time for the pong and the replies, half for the close. */
	c->phase = PH_DRAIN;
	c->close_end = now() + close_timeout(c);
	c->drain_end = c->close_end - close_timeout(c) / 2;
	set_timer(c, close_timeout(c) / 2);
	flush_out(c);
}

/* The one way out of the event loop. */
static void
finish(struct client *c)
{
	if (c->phase == PH_DONE)
		return;
	c->phase = PH_DONE;
	if (c->status < 0)
		c->status = EX_IO;
	event_base_loopbreak(c->base);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	switch (c->phase) {
	case PH_CONNECT:
		set_status(c, EX_TIMEOUT, "timeout: connecting to %s port %s",
		    c->url.host, c->url.port);
		finish(c);
		break;
	case PH_HANDSHAKE:
		set_status(c, EX_TIMEOUT, "timeout: opening handshake");
		finish(c);
		break;
	case PH_OPEN:		/* --once */
		set_status(c, EX_TIMEOUT, "timeout: no reply within %g "
		    "seconds", c->opt->timeout);
		send_close(c);
		break;
	case PH_DRAIN:		/* quiet after the pong, or no pong */
		send_close(c);
		break;
	case PH_CLOSING:
		set_status(c, EX_TIMEOUT, "timeout: closing handshake");
		finish(c);
		break;
	case PH_LINGER:		/* the server did not close TCP: we do */
		conclude(c);
		break;
	default:
		finish(c);
		break;
	}
}

static void
on_ping(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	if (c->phase != PH_OPEN)
		return;
	if (ws_send(c->ws, WS_OP_PING, NULL, 0) != WS_OK) {
		set_status(c, EX_IO, "ping: %s", ws_error(c->ws));
		fail(c);
		return;
	}
	flush_out(c);
}

static void
on_sigint(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	/* Before the handshake there is nothing to close; after the first
	   SIGINT or the end of input, a SIGINT stops waiting. */
	if (++c->nsigint > 1 || c->phase != PH_OPEN)
		_exit(EX_INTERRUPT);
	start_close(c);
}

/* ---------------------------------------------------------------- stdin */

static void
send_data(struct client *c, const void *p, size_t len)
{
	int r;

	r = ws_send(c->ws, c->opt->binary || c->opt->raw > 0 ? WS_OP_BINARY :
	    WS_OP_TEXT, p, len);
	if (r == WS_E_INVAL) {
		say("stdin: line %llu is not valid UTF-8 (not sent; "
		    "-b sends binary messages)", c->lineno);
		return;
	}
	if (r != WS_OK) {
		set_status(c, EX_IO, "send: %s", ws_error(c->ws)[0] != '\0' ?
		    ws_error(c->ws) : ws_strstatus(r));
		fail(c);
	}
}

static void
send_line(struct client *c, const char *p, size_t len)
{
	c->lineno++;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	send_data(c, p, len);
}

/* Keep p[0..len) as the start of a line; -1 if the line is too long. */
static int
keep_line(struct client *c, const char *p, size_t len)
{
	size_t cap;
	char *q;

	if (len > MAX_LINE - c->llen)
		return -1;
	if (c->lcap - c->llen < len) {
		cap = c->lcap > 0 ? c->lcap : 4096;
		while (cap - c->llen < len)
			cap *= 2;
		if ((q = realloc(c->line, cap)) == NULL)
			return -1;
		c->line = q;
		c->lcap = cap;
	}
	memcpy(c->line + c->llen, p, len);
	c->llen += len;
	return 0;
}

/* Split a read from stdin into lines and send them. */
static void
stdin_lines(struct client *c, const char *p, size_t len)
{
	const char *end = p + len, *nl;

	while (c->phase == PH_OPEN &&
	    (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (c->llen > 0) {
			if (keep_line(c, p, (size_t)(nl - p)) != 0)
				goto toolong;
			send_line(c, c->line, c->llen);
			c->llen = 0;
		} else
			send_line(c, p, (size_t)(nl - p));
		p = nl + 1;
	}
	if (c->phase == PH_OPEN && p < end && keep_line(c, p,
	    (size_t)(end - p)) != 0)
		goto toolong;
	return;
toolong:
	set_status(c, EX_IO, "stdin: line %llu is longer than %d bytes, or "
	    "out of memory", c->lineno + 1, MAX_LINE);
	start_close(c);
}

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct timeval now = { 0, 0 };
	ssize_t n;

	(void)what;
	(void)fd;
	if (!c->in_watch)
		c->in_on = 0;	/* a one-shot timer */
	if (c->phase != PH_OPEN || c->in_done)
		return;
	n = read(STDIN_FILENO, c->sbuf, c->ssize);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			goto again;
		set_status(c, EX_IO, "stdin: %s", strerror(errno));
		start_close(c);
		return;
	}
	if (n == 0) {
		if (c->llen > 0) {
			send_line(c, c->line, c->llen);
			c->llen = 0;
		}
		c->in_done = 1;
		flush_out(c);
		start_close(c);
		return;
	}
	if (c->opt->raw > 0)
		send_data(c, c->sbuf, (size_t)n);
	else
		stdin_lines(c, (const char *)c->sbuf, (size_t)n);
	flush_out(c);
again:
	/* A file that cannot be polled: read on after the next poll. */
	if (!c->in_watch && !c->in_on && c->phase == PH_OPEN &&
	    !c->in_paused && !c->in_done) {
		evtimer_add(c->inev, &now);
		c->in_on = 1;
	}
}

static void
stdin_start(struct client *c)
{
	struct timeval now = { 0, 0 };

	if (c->in_on || c->in_done || c->in_paused || c->phase != PH_OPEN ||
	    c->opt->once != NULL)
		return;
	if (c->in_watch)
		event_add(c->inev, NULL);
	else
		evtimer_add(c->inev, &now);
	c->in_on = 1;
}

static void
stdin_stop(struct client *c)
{
	if (!c->in_on)
		return;
	event_del(c->inev);
	c->in_on = 0;
}

/* --------------------------------------------------------------- setup */

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f,
"usage: wsrelay [options] ws://host[:port]/path\n"
"       wsrelay bench [options] ...   (see wsrelay bench -h)\n");
	if (status != 0)
		exit(status);
	fprintf(f, "\n"
"  -1, --once MESSAGE        send one message, print the first reply, close\n"
"  -b, --binary              send binary messages instead of text\n"
"  -r, --raw N               stdin is a byte stream: binary messages of at\n"
"                            most N bytes (1..16777216) as data arrives\n"
"  -o, --binary-out FORMAT   print binary messages as hex (default), base64\n"
"                            or raw\n"
"  -H, --header 'Name: value'  extra request header (at most 32)\n"
"      --origin ORIGIN       send an Origin header\n"
"  -p, --subprotocol NAME    offer a subprotocol (repeatable)\n"
"      --ping-interval SECONDS  send a ping every SECONDS (default 0: none)\n"
"  -t, --timeout SECONDS     bound on connecting and the handshake, on the\n"
"                            --once reply and on the closing handshake\n"
"                            (default 10; 0: none, but closing keeps 10)\n"
"      --cacert FILE         wss://: trust the CA certificates in FILE (PEM)\n"
"                            instead of the system's\n"
"  -k, --insecure            wss://: do not verify the server's certificate\n"
"  -v, --verbose             print the handshake and the close on stderr\n"
"  -z, --compress            offer permessage-deflate (RFC 7692)\n"
"  -h, --help                print this help\n"
"  -V, --version             print the version\n"
"\n"
"Each line of stdin is sent as a message; each message received is printed\n"
"on a line of stdout.  Exit status: 0 normal close, 1 connection or I/O\n"
"error, 2 usage, 3 handshake refused, 4 protocol error, 5 timeout,\n"
"6 abnormal close.\n");
	exit(0);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("wsrelay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(EX_USAGE);
}

static double
parse_seconds(const char *opt, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < 0 || v > 31536000)
		usage_error("%s: \"%s\" is not a number of seconds "
		    "(0 to 31536000)", opt, s);
	return v;
}

/* Check one part of the request with a scratch connection. */
static int
request_ok(const struct ws_client_request *r)
{
	struct ws_conn *w;
	int ok;

	if ((w = ws_conn_new(WS_ROLE_CLIENT, NULL, NULL)) == NULL)
		return 1;	/* the real ws_connect() will say */
	ok = ws_connect(w, r) != WS_E_INVAL;
	ws_conn_free(w);
	return ok;
}

/* A small UTF-8 check for --once, so that a bad message is a usage error. */
static int
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned cp;
	int n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			n = 1;
			cp = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			n = 2;
			cp = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 3;
			cp = *p & 0x07;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 &&
		    cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 ||
		    cp > 0x10ffff)))
			return 0;
		p += n + 1;
	}
	return 1;
}

static void
parse_options(int argc, char **argv, struct options *o, struct ws_url *u)
{
	static const struct option longopts[] = {
		{ "once",		required_argument,	NULL, '1' },
		{ "binary",		no_argument,		NULL, 'b' },
		{ "raw",		required_argument,	NULL, 'r' },
		{ "binary-out",		required_argument,	NULL, 'o' },
		{ "header",		required_argument,	NULL, 'H' },
		{ "origin",		required_argument,	NULL, 'O' },
		{ "subprotocol",	required_argument,	NULL, 'p' },
		{ "ping-interval",	required_argument,	NULL, 'P' },
		{ "timeout",		required_argument,	NULL, 't' },
		{ "verbose",		no_argument,		NULL, 'v' },
		{ "cacert",		required_argument,	NULL, 'C' },
		{ "insecure",		no_argument,		NULL, 'k' },
		{ "compress",		no_argument,		NULL, 'z' },
		{ "help",		no_argument,		NULL, 'h' },
		{ "version",		no_argument,		NULL, 'V' },
		{ NULL,			0,			NULL, 0 }
	};
	struct ws_client_request r;
	char err[2400], *end;
	unsigned long long n;
	size_t i;
	int ch;

	memset(o, 0, sizeof(*o));
	o->out = OUT_HEX;
	o->timeout = 10;
	while ((ch = getopt_long(argc, argv, "1:br:o:H:p:t:kvzhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case '1':
			o->once = optarg;
			break;
		case 'b':
			o->binary = 1;
			break;
		case 'r':
			errno = 0;
			n = strtoull(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
			    errno != 0 || n < 1 || n > MAX_RAW)
				usage_error("--raw: \"%s\" is not a size from "
				    "1 to %d", optarg, MAX_RAW);
			o->raw = (size_t)n;
			break;
		case 'o':
			if (strcmp(optarg, "hex") == 0)
				o->out = OUT_HEX;
			else if (strcmp(optarg, "base64") == 0)
				o->out = OUT_BASE64;
			else if (strcmp(optarg, "raw") == 0)
				o->out = OUT_RAW;
			else
				usage_error("--binary-out: \"%s\": expected "
				    "hex, base64 or raw", optarg);
			break;
		case 'H':
			if (o->nheaders == MAX_HEADERS)
				usage_error("--header: at most %d headers",
				    MAX_HEADERS);
			o->headers[o->nheaders++] = optarg;
			break;
		case 'O':
			o->origin = optarg;
			break;
		case 'p':
			if (o->nprotocols == MAX_PROTOCOLS)
				usage_error("--subprotocol: at most %d",
				    MAX_PROTOCOLS);
			o->protocols[o->nprotocols++] = optarg;
			break;
		case 'P':
			o->ping_interval = parse_seconds("--ping-interval",
			    optarg);
			break;
		case 't':
			o->timeout = parse_seconds("--timeout", optarg);
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'z':
			o->compress = 1;
			break;
		case 'C':
			o->cacert = optarg;
			break;
		case 'k':
			o->insecure = 1;
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("wsrelay %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage(EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage_error("%s", argc == 0 ? "no URL" : "one URL only");
	if (ws_url_parse(argv[0], u, err, sizeof(err)) != 0)
		usage_error("%s", err);
	if (o->once != NULL && o->raw > 0)
		usage_error("--once and --raw cannot be used together");
	if (o->once != NULL && !o->binary && !utf8_ok(o->once))
		usage_error("--once: the message is not valid UTF-8 (-b sends "
		    "it as binary)");

	/* Check each part of the request, to name the one at fault. */
	memset(&r, 0, sizeof(r));
	r.host = u->hostport;
	if (!request_ok(&r))
		usage_error("%s: the host cannot be sent", argv[0]);
	r.target = u->target;
	if (!request_ok(&r))
		usage_error("%s: the path cannot be sent", argv[0]);
	r.origin = o->origin;
	if (!request_ok(&r))
		usage_error("--origin: invalid value \"%s\"", o->origin);
	r.origin = NULL;
	r.nsubprotocols = 1;
	for (i = 0; i < o->nprotocols; i++) {
		r.subprotocols = &o->protocols[i];
		if (!request_ok(&r))
			usage_error("--subprotocol: \"%s\" is not a token",
			    o->protocols[i]);
	}
	r.nsubprotocols = 0;
	r.nheaders = 1;
	for (i = 0; i < o->nheaders; i++) {
		r.headers = &o->headers[i];
		if (!request_ok(&r))
			usage_error("--header: \"%s\" is not a header line "
			    "'Name: value'", o->headers[i]);
	}
}

/* Can stdin be polled, or must it be read from a timer (files)? */
static int
stdin_pollable(void)
{
	struct stat st;

	if (fstat(STDIN_FILENO, &st) != 0)
		return 0;
	return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
	    isatty(STDIN_FILENO);
}

static int
client_main(int argc, char **argv)
{
	struct ws_client_request req;
	struct addrinfo hints;
	struct options opt;
	struct client cl, *c = &cl;
	int r;

	memset(c, 0, sizeof(*c));
	parse_options(argc, argv, &opt, &c->url);
	c->opt = &opt;
	c->fd = -1;
	c->status = -1;
	signal(SIGPIPE, SIG_IGN);

	ws_limits_default(&c->limits);
	c->limits.max_message_size = MAX_MESSAGE;
	c->limits.max_frame_size = MAX_MESSAGE;
	c->ssize = opt.raw > 0 ? opt.raw : STDIN_CHUNK;
	c->in_watch = stdin_pollable();
	if ((c->ws = ws_conn_new(WS_ROLE_CLIENT, &c->limits, NULL)) == NULL ||
	    (c->ibuf = malloc(IBUF_SIZE)) == NULL ||
	    (opt.once == NULL && (c->sbuf = malloc(c->ssize)) == NULL) ||
	    (c->base = event_base_new()) == NULL) {
		say("out of memory");
		c->status = EX_IO;
		goto out;
	}
	/* Replies still in flight when we close are printed, not lost. */
	ws_conn_set_keep_data(c->ws, 1);
	if (opt.compress) {
		struct ws_deflate d;

		ws_deflate_default(&d);
		if (ws_conn_set_deflate(c->ws, &d) != WS_OK) {
			say("out of memory");
			c->status = EX_IO;
			goto out;
		}
	}
	memset(&req, 0, sizeof(req));
	req.host = c->url.hostport;
	req.target = c->url.target;
	req.origin = opt.origin;
	req.subprotocols = opt.protocols;
	req.nsubprotocols = opt.nprotocols;
	req.headers = opt.headers;
	req.nheaders = opt.nheaders;
	if ((r = ws_connect(c->ws, &req)) != WS_OK) {
		say("cannot build the request: %s", ws_strstatus(r));
		c->status = r == WS_E_INVAL ? EX_USAGE : EX_IO;
		goto out;
	}

	c->timer = evtimer_new(c->base, on_timer, c);
	c->pinger = event_new(c->base, -1, EV_PERSIST, on_ping, c);
	c->sigint = evsignal_new(c->base, SIGINT, on_sigint, c);
	c->inev = c->in_watch ? event_new(c->base, STDIN_FILENO,
	    EV_READ | EV_PERSIST, on_stdin, c) : evtimer_new(c->base,
	    on_stdin, c);
	if (c->timer == NULL || c->pinger == NULL || c->sigint == NULL ||
	    c->inev == NULL || evsignal_add(c->sigint, NULL) != 0) {
		say("cannot set up the event loop");
		c->status = EX_IO;
		goto out;
	}

	if (c->url.tls) {
		char err[512];

		if ((c->tls_ctx = tls_client_ctx(opt.cacert, !opt.insecure,
		    err, sizeof(err))) == NULL) {
			say("TLS: %s", err);
			c->status = EX_IO;
			goto out;
		}
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(c->url.host, c->url.port, &hints,
	    &c->res)) != 0) {
		say("%s: %s", c->url.host, r == EAI_SYSTEM ?
		    strerror(errno) : gai_strerror(r));
		c->status = EX_IO;
		goto out;
	}
	c->ai = c->res;
	c->connect_errno = ECONNREFUSED;
	set_timer(c, opt.timeout);
	try_connect(c);
	if (c->phase != PH_DONE)
		event_base_dispatch(c->base);
	if (c->status < 0)
		c->status = EX_IO;
out:
	drop_socket(c);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->pinger != NULL)
		event_free(c->pinger);
	if (c->sigint != NULL)
		event_free(c->sigint);
	if (c->inev != NULL)
		event_free(c->inev);
	if (c->base != NULL)
		event_base_free(c->base);
	if (c->res != NULL)
		freeaddrinfo(c->res);
	SSL_CTX_free(c->tls_ctx);
	ws_conn_free(c->ws);
	free(c->ibuf);
	free(c->sbuf);
	free(c->line);
	if (fflush(stdout) != 0 && c->status == EX_NORMAL)
		c->status = EX_IO;
	return c->status;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return bench_main(argc - 1, argv + 1);
	return client_main(argc, argv);
}
