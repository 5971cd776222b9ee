/*
 * server.c - listeners, and one pump per connection between its socket
 * and its protocol object (src/ws), with the deadlines, the routing, the
 * backpressure and the single teardown path.
 *
 * I/O: every read goes into one buffer all connections share, and is
 * parsed there; only what a read leaves unparsed (part of a frame) moves
 * to the connection's own buffer, so an idle connection holds none.  A
 * frame that is a whole message is delivered where it lies (src/ws
 * in-place mode).  What the events produce is written at the end of the
 * read, or of the loop iteration for output caused by other connections;
 * the write event is armed only while the socket is full.
 *
 * TLS: a session on a TLS listener has an SSL object over the same
 * socket, and the few places that read or write go through io_read(),
 * io_write() and io_writev(), which take OpenSSL's path when s->ssl is
 * set (one predictable test on the cleartext path).  The handshake
 * happens inside the first reads, under the handshake timeout.  The
 * output a read produces is staged and written with one SSL_write, so
 * small messages share a record; each SSL_write sends one record at
 * most (SSL_MODE_ENABLE_PARTIAL_WRITE), and a record refused by a full
 * socket is retried from the output queue, which starts with the same
 * bytes (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).  The records of one write
 * go to the socket with one write() (tls_bio_write()).
 *
 * A session moves through phases:
 *   HANDSHAKE  reading the upgrade request
 *   PENDING    routed; the handler decides (e.g. a backend connects)
 *   OPEN       messages flow
 *   CLOSING    we sent a close frame; still reading for the reply
 *   FLUSH      the protocol is done: write what is queued, then close
 *   DEAD       ended; freed by the reaper outside any callback
 * session_end() is the only way to DEAD; it logs the connection's line.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "frame.h"
#include "handler/handler.h"
#include "log.h"
#include "net/net_int.h"
#include "net/server.h"
#include "net/session.h"
#include "net/tls.h"
#include "ws.h"

enum phase {
	PH_HANDSHAKE,
	PH_PENDING,
	PH_OPEN,
	PH_CLOSING,
	PH_FLUSH,
	PH_DEAD
};

/* Reasons to stop reading a peer (bits of session.paused). */
#define PAUSE_OUTPUT	0x100	/* its own output is above the high mark */
#define PAUSE_PENDING	0x200	/* the handler has not answered yet */

/* The read buffer all connections share; what a read leaves unparsed
   moves to the connection's own buffer. */
#define READ_BUF (256 * 1024)
/* What a connection writes while its input is parsed is gathered here
   and written once at the end; only what the socket refuses is queued. */
#define WRITE_BUF (64 * 1024)
/* Growth step of a connection's own input buffer. */
#define INPUT_STEP (16 * 1024)
/* In-place frames (src/ws) up to this size are never copied. */
#define INPLACE_MAX (1024 * 1024 + WS_FRAME_HEADER_MAX)
/*
 * A shared frame up to this size is copied into each receiver's output
 * (a memcpy into space the output has); a larger one is referenced, never
 * copied.  A reference costs a chain allocation per receiver.
 */
#define SHARED_COPY_MAX 512
/* Longest a handler may take to answer a handshake. */
#define PENDING_MAX 3600
/* Payloads from this size are written at once when nothing is queued. */
#define DIRECT_WRITE (8 * 1024)
/* The largest TLS record's payload: what one SSL_write sends at most. */
#define TLS_RECORD (16 * 1024)
/* TLS: records gathered for one write(), up to this many bytes. */
#define TLS_GATHER (8 * (TLS_RECORD + 256))
/* TLS: plaintext passed to OpenSSL at once from the output queue. */
#define TLS_CHUNK (4 * TLS_RECORD)

/* session.tls_failed */
#define TLS_FAILED		1
#define TLS_PLAIN_HTTP		2	/* an HTTP request on a TLS port */

struct listener {
	TAILQ_ENTRY(listener) entry;
	struct server *srv;
	struct evconnlistener *ev;
	struct event *retry;
	char *address;
	long long port;
	char *path;
	SSL_CTX *tls;		/* NULL: cleartext */
	SSL_CTX *next_tls;	/* server_reload(): the new one */
	char name[128];
};

struct session {
	TAILQ_ENTRY(session) entry;
	TAILQ_ENTRY(session) flush_entry;
	struct server *srv;
	struct ws_conn *ws;
	struct config *cfg;
	const struct route *route;
	void *hdata;
	struct event rev;	/* readable; persistent while reading */
	struct event *wev;	/* writable; made when first needed */
	struct evbuffer *out;	/* made when first needed */
	struct evbuffer *tout;	/* TLS: records the socket refused */
	uint8_t *in;		/* unparsed input, [ioff, ilen) */
	size_t ioff;
	size_t ilen;
	size_t icap;
	char *path;
	const char *reason;
	const char *subprotocol;	/* chosen; points into the route */
	struct timespec start;
	long long last_rx;	/* any bytes from the peer */
	long long last_msg;	/* a data message from the peer */
	long long ping_sent;	/* 0: no ping outstanding */
	long long deadline;	/* handshake, closing: end of the wait */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t msgs_in;
	uint64_t msgs_out;
	uint64_t dropped;
	int fd;
	SSL *ssl;		/* NULL: cleartext */
	unsigned paused;
	uint8_t phase;
	uint8_t reading;	/* rev is added */
	uint8_t writing;	/* wev is added */
	uint8_t queued;		/* on the server's flush queue */
	uint8_t above_low;	/* output went over the low watermark */
	uint8_t counted;	/* in srv->nactive */
	uint8_t started;	/* the handler's start() ran */
	uint8_t ended;		/* ... and its end() */
	uint8_t by_peer;	/* the peer started the close */
	uint8_t shut;		/* FLUSH: our side is shut down */
	uint8_t peer_eof;	/* FLUSH: the peer's side is */
	uint8_t tls_rw;		/* TLS_READ_WANTS_WRITE, ... */
	uint8_t tls_up;		/* the TLS handshake is done */
	uint8_t tls_drained;	/* the last read() from the socket was short */
	uint8_t tls_failed;	/* TLS_FAILED, TLS_PLAIN_HTTP; s->reason
				   says why (a static string) */
	char peer[64];
};

TAILQ_HEAD(session_list, session);

struct server {
	struct event_base *base;
	struct config *cfg;
	TAILQ_HEAD(, listener) listeners;
	struct session_list sessions;
	struct session_list dead;
	struct session_list flushq;
	struct event *reaper;
	struct event *flusher;
	struct event *tick;
	struct event *shutdown_timer;
	uint8_t *rbuf;
	uint8_t *wbuf;		/* output of the session being read */
	uint8_t *tlsbuf;	/* TLS: a record gathered from pieces */
	uint8_t *gbuf;		/* TLS: records gathered for one write() */
	size_t glen;
	struct session *gather;	/* the session whose records go to gbuf */
	size_t wlen;
	struct session *cur;	/* the session being read, or NULL */
	long long now;		/* mono_now(), refreshed per read and tick */
	size_t nsessions;
	size_t nactive;
	int shutting_down;
	void (*done)(void *);
	void *done_arg;
	struct server_stats stats;
};

struct shared_frame {
	unsigned refs;
	uint8_t binary;
	uint8_t hlen;		/* header bytes before the payload */
	size_t len;
	uint8_t data[];
};

static void session_end(struct session *s, const char *reason);
static void begin_flush(struct session *s, const char *reason);
static void pump(struct session *s, uint8_t *buf, size_t len,
    size_t *used);
static void flush(struct session *s);
static void note_output(struct session *s);
static void want_flush(struct session *s);
static void drop_input(struct session *s);
static void on_io_read(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);

long long
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec;
}

/* ------------------------------------------------------- shared frames */

struct shared_frame *
shared_frame_new(int binary, const void *payload, size_t len)
{
	struct shared_frame *f;
	size_t h;

	f = malloc(sizeof(*f) + WS_FRAME_HEADER_MAX + len);
	if (f == NULL)
		return NULL;
	f->refs = 1;
	f->binary = binary != 0;
	h = ws_frame_header(f->data, binary ? WS_OP_BINARY : WS_OP_TEXT, 1, 0,
	    len, NULL);
	f->hlen = (uint8_t)h;
	if (len > 0)
		memcpy(f->data + h, payload, len);
	f->len = h + len;
	return f;
}

void
shared_frame_unref(struct shared_frame *f)
{
	if (f != NULL && --f->refs == 0)
		free(f);
}

size_t
shared_frame_len(const struct shared_frame *f)
{
	return f->len;
}

static void
shared_frame_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	shared_frame_unref(arg);
}

/* ------------------------------------------------------------ sessions */

void *
session_data(struct session *s)
{
	return s->hdata;
}

void
session_set_data(struct session *s, void *data)
{
	s->hdata = data;
}

const struct route *
session_route(const struct session *s)
{
	return s->route;
}

const char *
session_path(const struct session *s)
{
	return s->path != NULL ? s->path : "";
}

const char *
session_peer(const struct session *s)
{
	return s->peer;
}

const char *
session_subprotocol(const struct session *s)
{
	return s->subprotocol;
}

struct event_base *
session_event_base(const struct session *s)
{
	return s->srv->base;
}

int
session_is_open(const struct session *s)
{
	return s->phase == PH_OPEN;
}

/* ----------------------------------------------------------- transport */

/*
 * TLS sessions read and write their socket through a socket BIO whose
 * read also notes whether read() drained the socket (s->tls_drained), so
 * tls_read() stops without a last read() that only says EAGAIN.
 *
 * Its write gathers: while tls_write() runs (srv->gather), the records
 * OpenSSL makes are appended to srv->gbuf and written with one write() at
 * the end, not a write() each.  What the socket refuses of them is kept
 * in s->tout, written before anything else, and while any is left the
 * BIO refuses records as a full socket would (OpenSSL retries them).
 */
static BIO_METHOD *tls_bio;
static int (*sock_bread)(BIO *, char *, int);
static int (*sock_bwrite)(BIO *, const char *, int);

static size_t
tls_backlog(const struct session *s)
{
	return s->tout != NULL ? evbuffer_get_length(s->tout) : 0;
}

/* Write s->tout: 0 once it is empty, else -1 and errno (EAGAIN...). */
static int
tls_write_backlog(struct session *s)
{
	size_t left;
	int n;

	while ((left = tls_backlog(s)) > 0) {
		if ((n = evbuffer_write(s->tout, s->fd)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if ((size_t)n < left) {
			errno = EAGAIN;
			return -1;
		}
	}
	return 0;
}

/* Write the gathered records; keep what the socket refuses. */
static int
tls_write_gathered(struct session *s)
{
	struct server *srv = s->srv;
	size_t len = srv->glen;
	ssize_t w;

	srv->glen = 0;
	if (len == 0)
		return 0;
	do
		w = write(s->fd, srv->gbuf, len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		w = 0;	/* writing the backlog meets real errors again */
	if ((size_t)w == len)
		return 0;
	if ((s->tout == NULL && (s->tout = evbuffer_new()) == NULL) ||
	    evbuffer_add(s->tout, srv->gbuf + w, len - (size_t)w) != 0) {
		errno = ENOMEM;
		return -1;
	}
	/* The caller counts these bytes as written: flush() arms the write
	   event for them. */
	want_flush(s);
	return 0;
}

static int
tls_bio_write(BIO *b, const char *p, int len)
{
	struct session *s = BIO_get_data(b);
	struct server *srv = s->srv;

	BIO_clear_retry_flags(b);
	if (tls_backlog(s) > 0 && tls_write_backlog(s) != 0)
		goto refused;
	if (srv->gather != s)
		return sock_bwrite(b, p, len);
	if ((size_t)len > TLS_GATHER - srv->glen) {
		if (tls_write_gathered(s) != 0)
			return -1;
		if (tls_backlog(s) > 0) {
			errno = EAGAIN;
			goto refused;
		}
		if ((size_t)len > TLS_GATHER)
			return sock_bwrite(b, p, len);
	}
	memcpy(srv->gbuf + srv->glen, p, (size_t)len);
	srv->glen += (size_t)len;
	return len;
refused:
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		BIO_set_retry_write(b);
	return -1;
}

static int
tls_bio_read(BIO *b, char *buf, int len)
{
	struct session *s = BIO_get_data(b);
	int r = sock_bread(b, buf, len);

	s->tls_drained = r < len;
	return r;
}

static const BIO_METHOD *
tls_bio_method(void)
{
	const BIO_METHOD *m = BIO_s_socket();
	BIO_METHOD *t;

	if (tls_bio != NULL)
		return tls_bio;
	if ((t = BIO_meth_new(BIO_TYPE_SOCKET, "wsrelayd socket")) == NULL)
		return NULL;
	sock_bread = BIO_meth_get_read(m);
	sock_bwrite = BIO_meth_get_write(m);
	if (!BIO_meth_set_write(t, tls_bio_write) ||
	    !BIO_meth_set_read(t, tls_bio_read) ||
	    !BIO_meth_set_puts(t, BIO_meth_get_puts(m)) ||
	    !BIO_meth_set_ctrl(t, BIO_meth_get_ctrl(m)) ||
	    !BIO_meth_set_create(t, BIO_meth_get_create(m)) ||
	    !BIO_meth_set_destroy(t, BIO_meth_get_destroy(m))) {
		BIO_meth_free(t);
		return NULL;
	}
	return tls_bio = t;
}

/* s->ssl's BIO: its socket, not closed with it. */
static int
tls_set_bio(struct session *s)
{
	const BIO_METHOD *m = tls_bio_method();
	BIO *b;

	if (m == NULL || (b = BIO_new(m)) == NULL)
		return -1;
	BIO_set_fd(b, s->fd, BIO_NOCLOSE);
	BIO_set_data(b, s);
	SSL_set_bio(s->ssl, b, b);
	return 0;
}

/*
 * An SSL call on s made no progress: tls_stalled(), and after a TLS
 * error, why in s->reason (a static string) and s->tls_failed.
 */
static ssize_t
tls_stall(struct session *s, int writing)
{
	unsigned long e;
	ssize_t r;
	long v;
	int rw = s->tls_rw;

	r = tls_stalled(s->ssl, writing, &rw);
	s->tls_rw = (uint8_t)rw;
	if (r == 0 || errno != EPROTO)
		return r;
	e = ERR_peek_error();
	s->tls_failed = TLS_FAILED;
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    (ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST ||
	    ERR_GET_REASON(e) == SSL_R_HTTPS_PROXY_REQUEST))
		s->tls_failed = TLS_PLAIN_HTTP;
	else if (s->reason == NULL) {
		v = SSL_get_verify_result(s->ssl);
		s->reason = v != X509_V_OK ? X509_verify_cert_error_string(v) :
		    ERR_reason_error_string(e);
		if (s->reason == NULL)
			s->reason = "unknown error";
	}
	ERR_clear_error();
	errno = EPROTO;
	return -1;
}

/* Read what the socket and OpenSSL hold, up to len bytes. */
static ssize_t
tls_read(struct session *s, uint8_t *buf, size_t len)
{
	size_t got = 0, n;
	ssize_t r = 0;

	if (s->tls_failed) {
		errno = EPROTO;
		return -1;
	}
	s->tls_rw &= ~TLS_READ_WANTS_WRITE;
	while (got < len) {
		if (SSL_read_ex(s->ssl, buf + got, len - got, &n) != 1) {
			r = tls_stall(s, 0);
			break;
		}
		got += n;
		/* All OpenSSL held is read, and so is the socket: done (an
		   event comes for more). */
		if (s->tls_drained && !SSL_has_pending(s->ssl))
			break;
	}
	if (!s->tls_up && SSL_is_init_finished(s->ssl)) {
		s->tls_up = 1;
		s->srv->stats.tls_handshakes++;
	}
	/* What was read comes first; an end or an error comes again. */
	return got > 0 ? (ssize_t)got : r;
}

/* Write len bytes of p, a record at a time, as far as the socket takes. */
static ssize_t
tls_write_records(struct session *s, const void *p, size_t len)
{
	size_t done = 0, n;

	if (s->tls_failed) {
		errno = EPROTO;
		return -1;
	}
	s->tls_rw &= ~TLS_WRITE_WANTS_READ;
	while (done < len) {
		if (SSL_write_ex(s->ssl, (const uint8_t *)p + done, len - done,
		    &n) != 1) {
			if (done == 0)
				return tls_stall(s, 1);
			(void)tls_stall(s, 1);
			break;
		}
		done += n;
	}
	return (ssize_t)done;
}

/* Gather what OpenSSL writes until tls_gather_end(). */
static void
tls_gather_begin(struct session *s)
{
	s->srv->gather = s;
}

/* Write what was gathered; r is what the writes returned. */
static ssize_t
tls_gather_end(struct session *s, ssize_t r)
{
	int err = errno;

	s->srv->gather = NULL;
	if (tls_write_gathered(s) != 0) {
		/* Records OpenSSL counts as sent are lost: the stream is. */
		s->tls_failed = TLS_FAILED;
		if (s->reason == NULL)
			s->reason = "out of memory";
	}
	errno = err;
	return r;
}

static ssize_t
tls_write(struct session *s, const void *p, size_t len)
{
	tls_gather_begin(s);
	return tls_gather_end(s, tls_write_records(s, p, len));
}

/*
 * writev() of a frame header and its payload: the header goes in the
 * same record as the start of the payload.  A record refused by the
 * socket is retried with the same first bytes from the output queue.
 */
static ssize_t
tls_writev(struct session *s, const struct iovec *iov)
{
	size_t h = iov[0].iov_len, k;
	ssize_t w, w2;

	k = iov[1].iov_len < TLS_RECORD - h ? iov[1].iov_len : TLS_RECORD - h;
	memcpy(s->srv->tlsbuf, iov[0].iov_base, h);
	memcpy(s->srv->tlsbuf + h, iov[1].iov_base, k);
	tls_gather_begin(s);
	if ((w = tls_write_records(s, s->srv->tlsbuf, h + k)) <
	    (ssize_t)(h + k) || k == iov[1].iov_len)
		return tls_gather_end(s, w);
	w2 = tls_write_records(s, (const uint8_t *)iov[1].iov_base + k,
	    iov[1].iov_len - k);
	return tls_gather_end(s, w2 > 0 ? w + w2 : w);
}

/* read(), write(), writev() of 2 pieces: for both kinds of session. */
static inline ssize_t
io_read(struct session *s, uint8_t *buf, size_t len)
{
	if (s->ssl == NULL)
		return read(s->fd, buf, len);
	return tls_read(s, buf, len);
}

static inline ssize_t
io_write(struct session *s, const void *p, size_t len)
{
	if (s->ssl == NULL)
		return write(s->fd, p, len);
	return tls_write(s, p, len);
}

static inline ssize_t
io_writev(struct session *s, const struct iovec *iov)
{
	if (s->ssl == NULL)
		return writev(s->fd, iov, 2);
	return tls_writev(s, iov);
}

/*
 * TLS: write the queue.  Each call passes at least a record's worth (or
 * all that is queued), gathered if the queue is in small pieces, so a
 * retried record finds its bytes at the start.  Returns what
 * evbuffer_write() would.
 */
static int
tls_flush_out(struct session *s)
{
	struct evbuffer_iovec v;
	size_t left = evbuffer_get_length(s->out), want;
	const uint8_t *p;
	ssize_t n;

	want = left < TLS_CHUNK ? left : TLS_CHUNK;
	if (evbuffer_peek(s->out, -1, NULL, &v, 1) < 1)
		return 0;
	if (v.iov_len >= want) {
		p = v.iov_base;
		want = v.iov_len;
	} else if ((p = evbuffer_pullup(s->out, (ssize_t)want)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if ((n = tls_write(s, p, want)) > 0)
		evbuffer_drain(s->out, (size_t)n);
	return (int)n;
}

/* Bytes of s's output in the write-through buffer. */
static size_t
staged(const struct session *s)
{
	return s->srv->cur == s ? s->srv->wlen : 0;
}

size_t
session_output_pending(const struct session *s)
{
	return (s->out != NULL ? evbuffer_get_length(s->out) : 0) + staged(s) +
	    tls_backlog(s);
}

void
session_count_dropped(struct session *s, size_t messages)
{
	s->dropped += messages;
	s->srv->stats.dropped_messages += messages;
}

void
session_count_slow_closed(struct session *s)
{
	s->srv->stats.slow_closed++;
}

static int
out_ready(struct session *s)
{
	if (s->out == NULL && (s->out = evbuffer_new()) == NULL)
		return -1;
	return 0;
}

/* Output was added: write it when the current callbacks are done. */
static void
want_flush(struct session *s)
{
	if (s->queued || s->phase == PH_DEAD)
		return;
	s->queued = 1;
	TAILQ_INSERT_TAIL(&s->srv->flushq, s, flush_entry);
	event_active(s->srv->flusher, EV_TIMEOUT, 0);
}

/* Move the staged bytes into the queue, before anything else goes there. */
static int
unstage(struct session *s)
{
	struct server *srv = s->srv;

	if (srv->cur != s || srv->wlen == 0)
		return 0;
	if (out_ready(s) != 0 || evbuffer_add(s->out, srv->wbuf, srv->wlen) != 0)
		return -1;
	srv->wlen = 0;
	return 0;
}

/* Queue n bytes for the peer: staged if s is being read and may be. */
static int
emit(struct session *s, const void *p, size_t n)
{
	struct server *srv = s->srv;

	if (srv->cur == s && (s->out == NULL ||
	    evbuffer_get_length(s->out) == 0) && n <= WRITE_BUF - srv->wlen) {
		memcpy(srv->wbuf + srv->wlen, p, n);
		srv->wlen += n;
		return 0;
	}
	if (unstage(s) != 0 || out_ready(s) != 0 ||
	    evbuffer_add(s->out, p, n) != 0)
		return -1;
	note_output(s);
	want_flush(s);
	return 0;
}

/* The end of a read: write what was staged, queue what is refused. */
static void
write_staged(struct session *s)
{
	struct server *srv = s->srv;
	size_t len = srv->wlen;
	ssize_t w = 0;

	srv->cur = NULL;
	srv->wlen = 0;
	if (len == 0 || s->phase == PH_DEAD)
		return;
	if (s->out == NULL || evbuffer_get_length(s->out) == 0) {
		w = io_write(s, srv->wbuf, len);
		if (w < 0)
			w = 0;	/* flush() meets and reports real errors */
	}
	if ((size_t)w < len && (out_ready(s) != 0 ||
	    evbuffer_add(s->out, srv->wbuf + w, len - (size_t)w) != 0))
		session_end(s, "out of memory");
	else if ((size_t)w < len)
		note_output(s);
}

/*
 * Move what the protocol object queued (handshake responses, pongs, close
 * frames) into the output.  With nothing queued before it, it is written
 * to the socket at once: a connection that only did a handshake never
 * needs an output buffer.
 */
static int
flush_ws(struct session *s)
{
	const uint8_t *p;
	size_t n;
	ssize_t w;

	while ((p = ws_output(s->ws, &n)) != NULL) {
		if (s->srv->cur != s && session_output_pending(s) == 0 &&
		    (w = io_write(s, p, n)) > 0) {
			ws_output_consume(s->ws, (size_t)w);
			s->bytes_out += (size_t)w;
			continue;
		}
		if (emit(s, p, n) != 0) {
			session_end(s, "out of memory");
			return -1;
		}
		ws_output_consume(s->ws, n);
		s->bytes_out += n;
	}
	return 0;
}

static void
reading(struct session *s, int on)
{
	if (on && !s->reading && s->phase <= PH_FLUSH) {
		event_add(&s->rev, NULL);
		s->reading = 1;
	} else if (!on && s->reading) {
		event_del(&s->rev);
		s->reading = 0;
	}
}

void
session_pause(struct session *s, unsigned why)
{
	s->paused |= why;
	reading(s, 0);
}

void
session_resume(struct session *s, unsigned why)
{
	if (!(s->paused & why))
		return;
	s->paused &= ~why;
	if (s->paused != 0 || s->phase >= PH_FLUSH)
		return;
	reading(s, 1);
	/* Input may wait in the buffer already: parse it soon, from the
	   event loop rather than from inside the caller. */
	if (s->ilen > s->ioff || (s->ssl != NULL && SSL_has_pending(s->ssl)))
		event_active(&s->rev, EV_READ, 0);
}

static void
note_output(struct session *s)
{
	if (s->route != NULL && s->out != NULL && evbuffer_get_length(s->out) >
	    (size_t)s->route->limits.output_low)
		s->above_low = 1;
}

int
session_send(struct session *s, int binary, const void *data, size_t len,
    int trusted_utf8)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	struct iovec iov[2];
	ssize_t w = 0;
	int h;

	if (s->phase != PH_OPEN)
		return -1;
	if (ws_conn_deflate(s->ws, len)) {
		/* permessage-deflate: the module compresses into its own
		   output. */
		h = ws_send(s->ws, binary ? WS_OP_BINARY : WS_OP_TEXT, data,
		    len);
		if (h == WS_E_NOMEM)
			goto nomem;
		if (h != WS_OK)
			return -1;
		s->msgs_out++;
		s->last_msg = s->srv->now;
		return flush_ws(s);
	}
	h = ws_send_header(s->ws, binary ? WS_OP_BINARY : WS_OP_TEXT, 1, data,
	    len, trusted_utf8, hdr);
	if (h < 0)
		return -1;
	s->bytes_out += (size_t)h + len;
	s->msgs_out++;
	s->last_msg = s->srv->now;
	if (len >= DIRECT_WRITE && session_output_pending(s) == 0) {
		/* Nothing queued: write it now and copy only what is left. */
		iov[0].iov_base = hdr;
		iov[0].iov_len = (size_t)h;
		iov[1].iov_base = (void *)(uintptr_t)data;
		iov[1].iov_len = len;
		w = io_writev(s, iov);
		if (w < 0)
			w = 0;	/* the write event reports real errors */
		if ((size_t)w == (size_t)h + len)
			return 0;
	}
	if ((size_t)w < (size_t)h &&
	    emit(s, hdr + w, (size_t)h - (size_t)w) != 0)
		goto nomem;
	w = (size_t)w > (size_t)h ? w - h : 0;
	if (emit(s, (const uint8_t *)data + w, len - (size_t)w) != 0)
		goto nomem;
	return 0;
nomem:
	begin_flush(s, "out of memory");
	return -1;
}

int
session_send_shared(struct session *s, struct shared_frame *f)
{
	if (s->phase != PH_OPEN || !ws_can_send(s->ws) || out_ready(s) != 0)
		return -1;
	if (ws_conn_deflate(s->ws, f->len - f->hlen))
		return session_send(s, f->binary, f->data + f->hlen,
		    f->len - f->hlen, 1);
	if (f->len <= SHARED_COPY_MAX) {
		/* Cheaper to copy a few bytes into the output's last chain
		   than to allocate a chain that references them. */
		if (emit(s, f->data, f->len) != 0) {
			begin_flush(s, "out of memory");
			return -1;
		}
	} else {
		if (unstage(s) != 0) {
			begin_flush(s, "out of memory");
			return -1;
		}
		f->refs++;
		if (evbuffer_add_reference(s->out, f->data, f->len,
		    shared_frame_cleanup, f) != 0) {
			f->refs--;
			begin_flush(s, "out of memory");
			return -1;
		}
	}
	s->bytes_out += f->len;
	s->msgs_out++;
	s->last_msg = s->srv->now;
	note_output(s);
	want_flush(s);
	return 0;
}

/* The handler is done with this session (it can no longer send). */
static void
end_handler(struct session *s)
{
	if (s->ended)
		return;
	s->ended = 1;
	if (s->started && s->route->handler->end != NULL)
		s->route->handler->end(s);
	if (s->counted) {
		s->counted = 0;
		s->srv->nactive--;
	}
}

void
session_close(struct session *s, uint16_t code, const char *reason)
{
	if (s->phase != PH_OPEN)
		return;
	if (reason == NULL)
		reason = "";
	(void)ws_close(s->ws, code, reason, strlen(reason) <= 123 ?
	    strlen(reason) : 0);
	if (s->reason == NULL)
		s->reason = reason;
	s->phase = PH_CLOSING;
	s->deadline = mono_now() + s->cfg->limits.close_timeout;
	if (flush_ws(s) != 0)
		return;
	end_handler(s);
	want_flush(s);
}

/*
 * The protocol is done: write what is queued, then end our side of the
 * stream (FIN) and read until the peer ends its own, discarding what it
 * still sends, for close_timeout at most.  Closing at once instead would
 * make the kernel answer the peer's unread data with a reset, and a peer
 * still sending (a message too big, a refused request) would lose the
 * close frame or the HTTP response before reading it.
 */
static void
begin_flush(struct session *s, const char *reason)
{
	if (s->phase >= PH_FLUSH)
		return;
	if (s->reason == NULL)
		s->reason = reason;
	s->phase = PH_FLUSH;
	s->deadline = mono_now() + s->cfg->limits.close_timeout;
	end_handler(s);
	s->paused = 0;
	reading(s, 1);
	want_flush(s);
}

/* FLUSH: the output is all written; half-close once. */
static void
linger(struct session *s)
{
	if (s->shut)
		return;
	s->shut = 1;
	/* close_notify, if the socket takes it now; WebSocket's own close
	   came before, so nothing depends on it. */
	if (s->ssl != NULL && s->tls_up && !s->tls_failed) {
		(void)SSL_shutdown(s->ssl);
		ERR_clear_error();
	}
	if (shutdown(s->fd, SHUT_WR) != 0)
		session_end(s, NULL);
}

/* FLUSH: read and drop what the peer still sends; end at its EOF. */
static void
drain_input(struct session *s)
{
	ssize_t n;

	drop_input(s);
	for (;;) {
		n = io_read(s, s->srv->rbuf, READ_BUF);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0 && session_output_pending(s) > 0) {
			/* It may still read: finish writing first. */
			s->peer_eof = 1;
			reading(s, 0);
			return;
		}
		session_end(s, NULL);	/* EOF, or a reset: done */
		return;
	}
}

void
session_reject(struct session *s, int status, const char *body)
{
	char text[256];

	if (s->phase > PH_PENDING)
		return;
	if (body == NULL) {
		snprintf(text, sizeof(text), "%s\n", status == 404 ?
		    "No WebSocket route for this path." : status == 503 ?
		    "Too many connections; try again later." : "Refused.");
		body = text;
	}
	if (ws_reject(s->ws, status, NULL, body, NULL) != WS_OK) {
		session_end(s, "out of memory");
		return;
	}
	s->srv->stats.refused_http++;
	if (status == 503)
		s->srv->stats.refused_full++;
	if (flush_ws(s) != 0)
		return;
	begin_flush(s, status == 404 ? "refused: 404 no route" :
	    status == 503 ? "refused: 503" : "refused by handler");
}

void
session_accept(struct session *s)
{
	struct ws_response resp;

	if (s->phase > PH_PENDING)
		return;
	ws_response_init(&resp);
	resp.subprotocol = s->subprotocol;
	if (ws_accept(s->ws, &resp) != WS_OK) {
		session_end(s, "out of memory");
		return;
	}
	if (flush_ws(s) != 0)
		return;
	want_flush(s);
	s->phase = PH_OPEN;
	s->srv->stats.opened++;
	s->last_rx = s->last_msg = mono_now();
	session_resume(s, PAUSE_PENDING);
}

/*
 * The first subprotocol in the client's list that the route speaks
 * (RFC 6455 section 4.2.2: the client lists them by preference).
 */
static const char *
choose_subprotocol(const struct route *r, const struct ws_request *req)
{
	struct ws_str offered[64];
	size_t n, i, j;

	if (r->subprotocols.n == 0)
		return NULL;
	n = ws_header_list(req->headers, req->nheaders,
	    "Sec-WebSocket-Protocol", offered, 64);
	if (n > 64)
		n = 64;
	for (i = 0; i < n; i++)
		for (j = 0; j < r->subprotocols.n; j++)
			if (strlen(r->subprotocols.v[j]) == offered[i].len &&
			    memcmp(r->subprotocols.v[j], offered[i].p,
			    offered[i].len) == 0)
				return r->subprotocols.v[j];
	return NULL;
}

static int
ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/*
 * Origin "scheme://host[:port]" against a pattern: "https://example.com"
 * (exact), "example.com" (any scheme), or a host starting with "*." with
 * or without a scheme (any subdomain, not the domain itself).  A port must
 * be written to match; case does not matter.
 */
static int
origin_match(const char *pat, struct ws_str o)
{
	const char *sep = memmem(o.p, o.len, "://", 3), *psep, *prest, *rest;
	size_t rlen, plen;

	if (sep == NULL)		/* "null", or something odd */
		return ieq(pat, strlen(pat), o.p, o.len);
	rest = sep + 3;
	rlen = o.len - (size_t)(rest - o.p);
	if ((psep = strstr(pat, "://")) != NULL) {
		if (!ieq(pat, (size_t)(psep - pat), o.p, (size_t)(sep - o.p)))
			return 0;
		prest = psep + 3;
	} else
		prest = pat;
	plen = strlen(prest);
	if (plen > 2 && prest[0] == '*' && prest[1] == '.') {
		/* ".example.com" must end rest, after at least one byte. */
		plen--;
		return rlen > plen && strncasecmp(rest + rlen - plen,
		    prest + 1, plen) == 0 && memchr(rest, '/', rlen) == NULL;
	}
	return ieq(prest, plen, rest, rlen);
}

static int
origin_allowed(const struct route *r, struct ws_str origin)
{
	size_t i;

	if (origin.len == 0)
		return r->allow_missing_origin;
	if (r->origins.n == 0)
		return 1;
	for (i = 0; i < r->origins.n; i++)
		if (origin_match(r->origins.v[i], origin))
			return 1;
	return 0;
}

static void
on_request(struct session *s)
{
	const struct ws_request *req = ws_conn_request(s->ws);
	struct server *srv = s->srv;
	const struct route *r;
	int h;

	if (srv->shutting_down) {
		session_reject(s, 503, "The server is shutting down.\n");
		return;
	}
	r = config_route(s->cfg, req->path.p, req->path.len);
	s->path = strndup(req->path.p, req->path.len);
	if (s->path == NULL) {
		session_end(s, "out of memory");
		return;
	}
	if (r == NULL) {
		session_reject(s, 404, NULL);
		return;
	}
	s->route = r;
	if (!origin_allowed(r, req->origin)) {
		s->reason = req->origin.len > 0 ? "refused: 403 origin" :
		    "refused: 403 no Origin";
		session_reject(s, 403, req->origin.len > 0 ?
		    "This Origin may not use this route.\n" :
		    "This route needs an Origin header.\n");
		return;
	}
	s->subprotocol = choose_subprotocol(r, req);
	if (s->subprotocol == NULL && r->require_subprotocol) {
		char body[512];
		size_t i, n;

		n = (size_t)snprintf(body, sizeof(body), "None of the offered "
		    "subprotocols is spoken here; this route speaks:");
		for (i = 0; i < r->subprotocols.n && n < sizeof(body); i++)
			n += (size_t)snprintf(body + n, sizeof(body) - n,
			    " %s", r->subprotocols.v[i]);
		if (n < sizeof(body) - 1)
			snprintf(body + n, sizeof(body) - n, "\n");
		s->reason = "refused: 400 no subprotocol";
		session_reject(s, 400, body);
		return;
	}
	if (srv->nactive >= (size_t)s->cfg->limits.max_connections) {
		session_reject(s, 503, NULL);
		return;
	}
	srv->nactive++;
	s->counted = 1;
	ws_conn_set_limits(s->ws, &r->ws);
	if (r->compression && ws_conn_set_deflate(s->ws, &r->deflate) !=
	    WS_OK) {
		session_end(s, "out of memory");
		return;
	}
	ws_conn_set_inplace(s->ws, r->ws.max_frame_size + WS_FRAME_HEADER_MAX <
	    INPLACE_MAX ? r->ws.max_frame_size + WS_FRAME_HEADER_MAX :
	    INPLACE_MAX);
	s->started = 1;
	h = r->handler->start(s);
	if (s->phase != PH_HANDSHAKE)
		return;		/* the handler answered already */
	if (h == HANDLER_ACCEPT)
		session_accept(s);
	else if (h == HANDLER_PENDING) {
		/* The handler bounds its own wait (a backend's
		   connect_timeout); this is only a safety net. */
		s->phase = PH_PENDING;
		s->deadline = mono_now() + PENDING_MAX;
		session_pause(s, PAUSE_PENDING);
	} else
		session_reject(s, h, NULL);
}

static void
dispatch(struct session *s, const struct ws_event *ev)
{
	switch (ev->type) {
	case WS_EV_REQUEST:
		on_request(s);
		break;
	case WS_EV_TEXT:
	case WS_EV_BINARY:
		s->msgs_in++;
		s->last_msg = s->last_rx;
		if (s->phase == PH_OPEN)
			s->route->handler->message(s, ev->type == WS_EV_BINARY,
			    ev->data, ev->len);
		break;
	case WS_EV_PONG:
		s->ping_sent = 0;
		break;
	case WS_EV_CLOSE:
		if (s->phase == PH_OPEN)
			s->by_peer = 1;
		break;
	default:
		break;
	}
}

/* ws_recv() failed with status st: everything to send is queued. */
static void
fail(struct session *s, int st)
{
	struct server_stats *stats = &s->srv->stats;

	switch (ws_status_class(st)) {
	case WS_CLASS_HANDSHAKE:
		stats->refused_http++;
		break;
	case WS_CLASS_PROTOCOL:
		stats->protocol_errors++;
		break;
	default:
		break;
	}
	begin_flush(s, ws_error(s->ws)[0] != '\0' ? ws_error(s->ws) :
	    ws_strstatus(st));
}

/*
 * Parse buf[0..len): deliver its events, queue what they produce.  *used
 * gets the bytes consumed; it stops early when the session is paused or
 * done, and at a unit that is not all there yet.
 */
static void
pump(struct session *s, uint8_t *buf, size_t len, size_t *used)
{
	struct ws_event ev;
	size_t off = 0;
	ssize_t n;

	while (s->phase < PH_FLUSH && s->paused == 0 && off < len) {
		n = ws_recv(s->ws, buf + off, len - off, &ev);
		if (n == WS_AGAIN)
			break;
		if (flush_ws(s) != 0)
			break;
		if (n < 0) {
			fail(s, (int)n);
			break;
		}
		off += (size_t)n;
		s->bytes_in += (size_t)n;
		if (ev.type != WS_EV_NONE)
			dispatch(s, &ev);
	}
	*used = off;
	if (s->phase >= PH_FLUSH)
		return;
	if (ws_close_expected(s->ws)) {
		begin_flush(s, s->by_peer ? "closed by peer" :
		    "closing handshake done");
		return;
	}
	if (s->route != NULL && s->phase == PH_OPEN && s->out != NULL &&
	    evbuffer_get_length(s->out) > (size_t)s->route->limits.output_high)
		session_pause(s, PAUSE_OUTPUT);
}

/* Keep buf[0..len) as the session's unparsed input. */
static int
keep_input(struct session *s, const uint8_t *buf, size_t len)
{
	size_t want = len > ws_recv_hint(s->ws) ? len : ws_recv_hint(s->ws);

	if (want < INPUT_STEP)
		want = INPUT_STEP;
	if (s->icap < want) {
		uint8_t *p = realloc(s->in, want);

		if (p == NULL)
			return -1;
		s->in = p;
		s->icap = want;
	}
	memmove(s->in, buf, len);
	s->ioff = 0;
	s->ilen = len;
	return 0;
}

static void
drop_input(struct session *s)
{
	free(s->in);
	s->in = NULL;
	s->ioff = s->ilen = s->icap = 0;
}

/* Parse what the session's own buffer holds. */
static void
pump_kept(struct session *s)
{
	size_t used;

	pump(s, s->in + s->ioff, s->ilen - s->ioff, &used);
	s->ioff += used;
	if (s->ioff == s->ilen)
		drop_input(s);
	else if (s->phase < PH_FLUSH && keep_input(s, s->in + s->ioff,
	    s->ilen - s->ioff) != 0)
		session_end(s, "out of memory");
}

static void
on_eof(struct session *s)
{
	if (s->phase == PH_FLUSH || ws_recv_eof(s->ws) == WS_OK) {
		session_end(s, NULL);
		return;
	}
	session_end(s, s->ssl != NULL && !s->tls_up ?
	    "peer left during the TLS handshake" :
	    s->phase == PH_HANDSHAKE ? "peer left during the handshake" :
	    "peer closed the connection without a close frame");
}

/*
 * The TLS layer failed (s->tls_failed).  A plain HTTP request gets a
 * plain 400, as nginx answers it, and the connection closes like a
 * refused handshake; any other failure ends the session (OpenSSL sent
 * its alert).  Either is logged with the peer and the reason.
 */
static void
tls_failure(struct session *s)
{
	static const char resp[] = "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: 38\r\n"
	    "Connection: close\r\n\r\n"
	    "plain HTTP request sent to a TLS port\n";

	(void)ws_recv_eof(s->ws);
	if (s->tls_failed != TLS_PLAIN_HTTP) {
		if (!s->tls_up)
			s->srv->stats.tls_handshake_failures++;
		session_end(s, "TLS error");
		return;
	}
	s->srv->stats.tls_plain_http++;
	SSL_free(s->ssl);
	s->ssl = NULL;
	s->reason = "plain HTTP request sent to a TLS port";
	if (emit(s, resp, sizeof(resp) - 1) != 0) {
		session_end(s, "out of memory");
		return;
	}
	begin_flush(s, NULL);
}

static void
on_io_read(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	uint8_t *buf;
	size_t room, used, hint;
	ssize_t n;
	int rounds;

	(void)fd;
	(void)what;
	if (s->tls_rw & TLS_WRITE_WANTS_READ) {
		/* SSL_write reads what it waits for itself. */
		flush(s);
		if (s->phase == PH_DEAD || (s->paused != 0 &&
		    s->phase < PH_FLUSH))
			return;
	}
	if (s->phase == PH_FLUSH) {
		drain_input(s);
		return;
	}
	s->srv->cur = s;
	if (s->ilen > s->ioff)
		pump_kept(s);
	for (rounds = 0; rounds < 4; rounds++) {
		if (s->phase >= PH_FLUSH || s->paused != 0)
			break;
		if (s->ilen == 0) {
			buf = s->srv->rbuf;
			room = READ_BUF;
		} else {
			hint = ws_recv_hint(s->ws);
			if (s->icap - s->ilen < INPUT_STEP / 4 || hint > s->icap) {
				size_t want = s->icap + INPUT_STEP;
				uint8_t *p;

				if (hint > want)
					want = hint;
				if ((p = realloc(s->in, want)) == NULL) {
					session_end(s, "out of memory");
					goto out;
				}
				s->in = p;
				s->icap = want;
			}
			buf = s->in + s->ilen;
			room = s->icap - s->ilen;
		}
		n = io_read(s, buf, room);
		if (n == 0) {
			on_eof(s);
			goto out;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (s->tls_failed) {
				tls_failure(s);
				goto out;
			}
			s->reason = strerror(errno);
			(void)ws_recv_eof(s->ws);
			session_end(s, "read error");
			goto out;
		}
		s->last_rx = s->srv->now = mono_now();
		if (s->ilen == 0) {
			pump(s, buf, (size_t)n, &used);
			if (used < (size_t)n && s->phase < PH_FLUSH &&
			    keep_input(s, buf + used, (size_t)n - used) != 0) {
				session_end(s, "out of memory");
				goto out;
			}
		} else {
			s->ilen += (size_t)n;
			pump_kept(s);
		}
		if ((size_t)n < room)
			break;		/* the socket is drained */
	}
	/* Four full buffers: OpenSSL may hold more, which no event
	   announces. */
	if (rounds == 4 && s->ssl != NULL && s->reading &&
	    SSL_has_pending(s->ssl))
		event_active(&s->rev, EV_READ, 0);
out:
	write_staged(s);
	flush(s);
}

/* Write what is queued; arm the write event if the socket is full. */
static void
flush(struct session *s)
{
	size_t left;
	int n;

	if (s->queued) {
		s->queued = 0;
		TAILQ_REMOVE(&s->srv->flushq, s, flush_entry);
	}
	if (s->phase == PH_DEAD)
		return;
	if (tls_backlog(s) > 0 && tls_write_backlog(s) != 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK) {
		(void)ws_recv_eof(s->ws);
		session_end(s, "write error");
		return;
	}
	while (tls_backlog(s) == 0 && s->out != NULL &&
	    (left = evbuffer_get_length(s->out)) > 0) {
		n = s->ssl == NULL ? evbuffer_write(s->out, s->fd) :
		    tls_flush_out(s);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (s->tls_failed) {
				tls_failure(s);
				return;
			}
			(void)ws_recv_eof(s->ws);
			session_end(s, "write error");
			return;
		}
		if ((size_t)n < left && s->ssl == NULL)
			break;
	}
	left = (s->out != NULL ? evbuffer_get_length(s->out) : 0) +
	    tls_backlog(s);
	if (s->ssl != NULL && (s->tls_rw & TLS_WRITE_WANTS_READ)) {
		/* Waiting to read, not to write: a write event would spin. */
		if (s->writing) {
			event_del(s->wev);
			s->writing = 0;
		}
		if (!s->reading && s->phase < PH_DEAD) {
			event_add(&s->rev, NULL);
			s->reading = 1;
		}
		return;
	}
	if ((left > 0 || (s->tls_rw & TLS_READ_WANTS_WRITE)) && !s->writing) {
		if (s->wev == NULL)
			s->wev = event_new(s->srv->base, s->fd,
			    EV_WRITE | EV_PERSIST, on_writable, s);
		if (s->wev == NULL) {
			session_end(s, "out of memory");
			return;
		}
		event_add(s->wev, NULL);
		s->writing = 1;
	} else if (left == 0 && s->writing &&
	    !(s->tls_rw & TLS_READ_WANTS_WRITE)) {
		event_del(s->wev);
		s->writing = 0;
	}
	if (left == 0 && s->phase == PH_FLUSH) {
		if (s->peer_eof)
			session_end(s, NULL);
		else
			linger(s);
		return;
	}
	if (s->above_low && s->route != NULL &&
	    left <= (size_t)s->route->limits.output_low) {
		s->above_low = 0;
		session_resume(s, PAUSE_OUTPUT);
		if (s->phase == PH_OPEN && s->route->handler->drained != NULL)
			s->route->handler->drained(s);
	}
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)what;
	if (s->tls_rw & TLS_READ_WANTS_WRITE) {
		/* SSL_read had something to send (a handshake flight, a
		   ticket): read again, which sends it.  A paused session
		   sends it with its next read or write. */
		s->tls_rw &= ~TLS_READ_WANTS_WRITE;
		on_io_read(fd, EV_READ, s);
		return;
	}
	flush(s);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s;

	(void)fd;
	(void)what;
	while ((s = TAILQ_FIRST(&srv->flushq)) != NULL)
		flush(s);
}

/* Once a second: deadlines, keepalive pings, idle buffers. */
static void
tick_session(struct session *s, long long now)
{
	const struct route_limits *l;

	switch (s->phase) {
	case PH_HANDSHAKE:
	case PH_PENDING:
		/* Whole seconds: "after" the deadline means never early, at
		   most a second late. */
		if (now > s->deadline) {
			s->srv->stats.handshake_timeouts++;
			session_end(s, "handshake timeout");
		}
		return;
	case PH_CLOSING:
	case PH_FLUSH:
		if (now > s->deadline)
			session_end(s, "close timeout");
		return;
	case PH_OPEN:
		break;
	default:
		return;
	}
	/* Quiet: give back the buffers that hold nothing. */
	if (!s->writing && session_output_pending(s) == 0) {
		if (s->out != NULL) {
			evbuffer_free(s->out);
			s->out = NULL;
		}
		ws_conn_shrink(s->ws);
	}
	l = &s->route->limits;
	if (l->idle_timeout > 0 && now - s->last_msg > l->idle_timeout) {
		s->srv->stats.idle_timeouts++;
		session_close(s, WS_CLOSE_GOING_AWAY, "idle timeout");
		return;
	}
	if (l->ping_interval > 0) {
		if (s->ping_sent && now - s->ping_sent > l->pong_timeout) {
			s->srv->stats.ping_timeouts++;
			session_close(s, WS_CLOSE_INTERNAL, "ping timeout");
			return;
		}
		if (!s->ping_sent && now - s->last_rx >= l->ping_interval &&
		    ws_send(s->ws, WS_OP_PING, "", 0) == WS_OK &&
		    flush_ws(s) == 0) {
			s->ping_sent = now;
			want_flush(s);
		}
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s, *next;
	long long now = srv->now = mono_now();

	(void)fd;
	(void)what;
	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		tick_session(s, now);
	}
}

static void
log_session(struct session *s)
{
	struct timespec now;
	double secs;

	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - s->start.tv_sec) +
	    (double)(now.tv_nsec - s->start.tv_nsec) / 1e9;
	if (s->tls_failed == TLS_FAILED) {
		log_info("%s %s: TLS %s: %s after %.3fs", s->peer,
		    s->path ? s->path : "-", s->tls_up ? "error" :
		    "handshake failed", s->reason ? s->reason : "unknown",
		    secs);
		return;
	}
	if (s->tls_failed == TLS_PLAIN_HTTP) {
		log_info("%s -: %s after %.3fs, HTTP 400", s->peer, s->reason,
		    secs);
		return;
	}
	if (ws_http_status(s->ws) >= 400 || (s->phase < PH_OPEN &&
	    !s->started)) {
		if (ws_http_status(s->ws) != 0)
			log_info("%s %s: %s after %.3fs, HTTP %d", s->peer,
			    s->path ? s->path : "-", s->reason ? s->reason :
			    "closed", secs, ws_http_status(s->ws));
		else
			log_info("%s %s: %s after %.3fs", s->peer,
			    s->path ? s->path : "-", s->reason ? s->reason :
			    "closed", secs);
		return;
	}
	log_info("%s %s route=%s %.3fs in=%llu msgs/%llu B out=%llu msgs/"
	    "%llu B%s%.0llu close=%u/%u by %s%s%s", s->peer,
	    s->path ? s->path : "-", s->route ? s->route->path : "-", secs,
	    (unsigned long long)s->msgs_in, (unsigned long long)s->bytes_in,
	    (unsigned long long)s->msgs_out, (unsigned long long)s->bytes_out,
	    s->dropped ? " dropped=" : "", (unsigned long long)s->dropped,
	    ws_close_code_sent(s->ws), ws_close_code_received(s->ws),
	    s->by_peer ? "peer" : "server", s->reason ? ": " : "",
	    s->reason ? s->reason : "");
}

/* The one teardown path. */
static void
session_end(struct session *s, const char *reason)
{
	struct server *srv = s->srv;

	if (s->phase == PH_DEAD)
		return;
	if (s->reason == NULL)
		s->reason = reason;
	end_handler(s);
	log_session(s);
	s->phase = PH_DEAD;
	reading(s, 0);
	if (s->writing) {
		event_del(s->wev);
		s->writing = 0;
	}
	if (s->queued) {
		s->queued = 0;
		TAILQ_REMOVE(&srv->flushq, s, flush_entry);
	}
	TAILQ_REMOVE(&srv->sessions, s, entry);
	TAILQ_INSERT_TAIL(&srv->dead, s, entry);
	event_active(srv->reaper, EV_TIMEOUT, 0);
}

static void
session_free(struct session *s)
{
	if (s->wev != NULL)
		event_free(s->wev);
	if (s->out != NULL)
		evbuffer_free(s->out);
	if (s->tout != NULL)
		evbuffer_free(s->tout);
	if (s->ssl != NULL)
		SSL_free(s->ssl);
	evutil_closesocket(s->fd);
	ws_conn_free(s->ws);
	config_unref(s->cfg);
	free(s->in);
	free(s->path);
	free(s);
}

static void
check_done(struct server *srv)
{
	void (*done)(void *) = srv->done;

	if (srv->shutting_down && srv->done != NULL && srv->nsessions == 0) {
		srv->done = NULL;
		done(srv->done_arg);
	}
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s;

	(void)fd;
	(void)what;
	while ((s = TAILQ_FIRST(&srv->dead)) != NULL) {
		TAILQ_REMOVE(&srv->dead, s, entry);
		srv->nsessions--;
		session_free(s);
	}
	check_done(srv);
}

static void
peer_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else
		snprintf(buf, len, "unix");
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener *ls = arg;
	struct server *srv = ls->srv;
	struct session *s;

	(void)l;
	(void)salen;
	srv->stats.accepted++;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ws = ws_conn_new(WS_ROLE_SERVER, &srv->cfg->ws, NULL)) ==
	    NULL) {
		free(s);
		evutil_closesocket(fd);
		srv->stats.accept_errors++;
		log_warnx("%s: out of memory for a new connection", ls->name);
		return;
	}
	s->srv = srv;
	s->fd = fd;
	if (ls->tls != NULL) {
		if ((s->ssl = SSL_new(ls->tls)) == NULL ||
		    tls_set_bio(s) != 0) {
			ERR_clear_error();
			if (s->ssl != NULL)
				SSL_free(s->ssl);
			ws_conn_free(s->ws);
			free(s);
			evutil_closesocket(fd);
			srv->stats.accept_errors++;
			log_warnx("%s: out of memory for a new connection",
			    ls->name);
			return;
		}
		SSL_set_accept_state(s->ssl);
	}
	s->cfg = srv->cfg;
	config_ref(s->cfg);
	peer_name(sa, s->peer, sizeof(s->peer));
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	s->last_rx = mono_now();
	s->deadline = s->last_rx + srv->cfg->limits.handshake_timeout;
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);
	srv->nsessions++;
	event_assign(&s->rev, srv->base, fd, EV_READ | EV_PERSIST, on_io_read,
	    s);
	reading(s, 1);
	/* With TCP_DEFER_ACCEPT the request is usually here already. */
	on_io_read(fd, EV_READ, s);
}

/* ----------------------------------------------------------- listeners */

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct listener *ls = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(ls->ev);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct listener *ls = arg;
	struct timeval tv = { 1, 0 };

	ls->srv->stats.accept_errors++;
	/* EMFILE and friends: stop for a second instead of spinning. */
	log_warn("%s: accept", ls->name);
	evconnlistener_disable(l);
	evtimer_add(ls->retry, &tv);
}

static void
listener_free(struct listener *ls)
{
	if (ls->ev != NULL)
		evconnlistener_free(ls->ev);
	if (ls->retry != NULL)
		event_free(ls->retry);
	if (ls->path != NULL)
		(void)unlink(ls->path);
	SSL_CTX_free(ls->tls);
	SSL_CTX_free(ls->next_tls);
	free(ls->address);
	free(ls->path);
	free(ls);
}

/*
 * Open one listening socket (anet style: fills err, does not log).
 */
static struct listener *
listener_open(struct server *srv, const struct listen_conf *lc, char *err,
    size_t errlen)
{
	struct listener *ls;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd = -1, one = 1;

	if ((ls = calloc(1, sizeof(*ls))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ls->srv = srv;
	ls->port = lc->port;
	memset(&ss, 0, sizeof(ss));
	if (lc->path != NULL) {
		struct sockaddr_un *sun = (void *)&ss;
		struct stat st;

		snprintf(ls->name, sizeof(ls->name), "unix:%s", lc->path);
		if (strlen(lc->path) >= sizeof(sun->sun_path)) {
			snprintf(err, errlen, "%s: path too long", ls->name);
			goto fail;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, lc->path);
		sslen = sizeof(*sun);
		/* A stale socket from an earlier run is replaced. */
		if (lstat(lc->path, &st) == 0 && S_ISSOCK(st.st_mode))
			(void)unlink(lc->path);
		ls->path = strdup(lc->path);
	} else {
		struct sockaddr_in *in = (void *)&ss;
		struct sockaddr_in6 *in6 = (void *)&ss;

		snprintf(ls->name, sizeof(ls->name), strchr(lc->address, ':') ?
		    "[%s]:%lld" : "%s:%lld", lc->address, lc->port);
		if (inet_pton(AF_INET, lc->address, &in->sin_addr) == 1) {
			in->sin_family = AF_INET;
			in->sin_port = htons((uint16_t)lc->port);
			sslen = sizeof(*in);
		} else if (inet_pton(AF_INET6, lc->address,
		    &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons((uint16_t)lc->port);
			sslen = sizeof(*in6);
		} else {
			snprintf(err, errlen, "%s: not a numeric IPv4 or IPv6 "
			    "address", ls->name);
			goto fail;
		}
		ls->address = strdup(lc->address);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		goto syserr;
	if (ss.ss_family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto syserr;
	/* "::" means IPv6 only, so that "0.0.0.0" can be listed beside it. */
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto syserr;
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1)
		goto syserr;
	if (ss.ss_family == AF_UNIX && chmod(lc->path, (mode_t)lc->mode) == -1)
		goto syserr;
	/* Accepted sockets inherit TCP_NODELAY (Linux): one system call
	   less per connection. */
	if (ss.ss_family != AF_UNIX &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		goto syserr;
	if (listen(fd, (int)lc->backlog) == -1)
		goto syserr;
#ifdef TCP_DEFER_ACCEPT
	/* Wake up for a connection when its request arrives, not before. */
	if (ss.ss_family != AF_UNIX) {
		int secs = (int)srv->cfg->limits.handshake_timeout;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
		    sizeof(secs));
	}
#endif
	ls->ev = evconnlistener_new(srv->base, on_accept, ls,
	    LEV_OPT_CLOSE_ON_FREE, 0, fd);
	ls->retry = evtimer_new(srv->base, on_retry, ls);
	if (ls->ev == NULL || ls->retry == NULL) {
		snprintf(err, errlen, "%s: cannot listen", ls->name);
		if (ls->ev == NULL)
			close(fd);
		listener_free(ls);
		return NULL;
	}
	evconnlistener_set_error_cb(ls->ev, on_accept_error);
	return ls;
syserr:
	snprintf(err, errlen, "%s: %s", ls->name, strerror(errno));
	if (fd != -1)
		close(fd);
fail:
	free(ls->address);
	free(ls->path);
	free(ls);
	return NULL;
}

static int
listener_is(const struct listener *ls, const struct listen_conf *lc)
{
	if (lc->path != NULL)
		return ls->path != NULL && strcmp(ls->path, lc->path) == 0;
	return ls->address != NULL && strcmp(ls->address, lc->address) == 0 &&
	    ls->port == lc->port;
}

static void
free_ctxs(SSL_CTX **ctxs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		SSL_CTX_free(ctxs[i]);
	free(ctxs);
}

int
server_reload(struct server *srv, struct config *cfg, char *err,
    size_t errlen)
{
	TAILQ_HEAD(, listener) keep, added;
	struct listener *ls, *next;
	SSL_CTX **ctxs;
	size_t i;

	/* Every certificate and key first: one that fails refuses the
	   whole reload, and the running contexts stay. */
	if ((ctxs = calloc(cfg->nlisteners + 1, sizeof(*ctxs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].tls != NULL &&
		    (ctxs[i] = tls_server_ctx(cfg->listeners[i].tls,
		    cfg->file, err, errlen)) == NULL) {
			free_ctxs(ctxs, i);
			return -1;
		}
	TAILQ_INIT(&keep);
	TAILQ_INIT(&added);
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct listen_conf *lc = &cfg->listeners[i];

		TAILQ_FOREACH(ls, &srv->listeners, entry)
			if (listener_is(ls, lc))
				break;
		if (ls != NULL) {
			TAILQ_REMOVE(&srv->listeners, ls, entry);
			TAILQ_INSERT_TAIL(&keep, ls, entry);
			ls->next_tls = ctxs[i];
			ctxs[i] = NULL;
			continue;
		}
		TAILQ_FOREACH(ls, &keep, entry)
			if (listener_is(ls, lc))
				break;
		if (ls != NULL)
			continue;	/* listed twice */
		if ((ls = listener_open(srv, lc, err, errlen)) == NULL) {
			/* Undo: the old set stays as it was. */
			while ((ls = TAILQ_FIRST(&added)) != NULL) {
				TAILQ_REMOVE(&added, ls, entry);
				listener_free(ls);
			}
			while ((ls = TAILQ_FIRST(&keep)) != NULL) {
				TAILQ_REMOVE(&keep, ls, entry);
				SSL_CTX_free(ls->next_tls);
				ls->next_tls = NULL;
				TAILQ_INSERT_TAIL(&srv->listeners, ls, entry);
			}
			free_ctxs(ctxs, cfg->nlisteners);
			return -1;
		}
		ls->next_tls = ctxs[i];
		ctxs[i] = NULL;
		TAILQ_INSERT_TAIL(&added, ls, entry);
		log_info("listening on %s%s", ls->name, ls->next_tls != NULL ?
		    " (TLS)" : "");
	}
	free_ctxs(ctxs, cfg->nlisteners);
	for (ls = TAILQ_FIRST(&srv->listeners); ls != NULL; ls = next) {
		next = TAILQ_NEXT(ls, entry);
		log_info("no longer listening on %s", ls->name);
		TAILQ_REMOVE(&srv->listeners, ls, entry);
		listener_free(ls);
	}
	TAILQ_CONCAT(&srv->listeners, &keep, entry);
	TAILQ_CONCAT(&srv->listeners, &added, entry);
	/* New handshakes use the new contexts; a connection keeps the one
	   it started with (SSL objects hold a reference). */
	TAILQ_FOREACH(ls, &srv->listeners, entry) {
		SSL_CTX_free(ls->tls);
		ls->tls = ls->next_tls;
		ls->next_tls = NULL;
	}
	config_ref(cfg);
	config_unref(srv->cfg);
	srv->cfg = cfg;
	return 0;
}

/* The timers and buffers of srv, and srv itself; any may be missing. */
static void
server_release(struct server *srv)
{
	if (srv->shutdown_timer != NULL)
		event_free(srv->shutdown_timer);
	if (srv->reaper != NULL)
		event_free(srv->reaper);
	if (srv->flusher != NULL)
		event_free(srv->flusher);
	if (srv->tick != NULL)
		event_free(srv->tick);
	free(srv->rbuf);
	free(srv->wbuf);
	free(srv->tlsbuf);
	free(srv->gbuf);
	free(srv);
}

struct server *
server_new(struct event_base *base, struct config *cfg, char *err,
    size_t errlen)
{
	struct server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->base = base;
	TAILQ_INIT(&srv->listeners);
	TAILQ_INIT(&srv->sessions);
	TAILQ_INIT(&srv->dead);
	TAILQ_INIT(&srv->flushq);
	srv->reaper = event_new(base, -1, 0, on_reap, srv);
	srv->flusher = event_new(base, -1, 0, on_flush, srv);
	srv->tick = event_new(base, -1, EV_PERSIST, on_tick, srv);
	srv->rbuf = malloc(READ_BUF);
	srv->wbuf = malloc(WRITE_BUF);
	srv->tlsbuf = malloc(TLS_RECORD);
	srv->gbuf = malloc(TLS_GATHER);
	if (srv->reaper == NULL || srv->flusher == NULL || srv->tick == NULL ||
	    srv->rbuf == NULL || srv->wbuf == NULL || srv->tlsbuf == NULL ||
	    srv->gbuf == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	{
		struct timeval second = { 1, 0 };

		evtimer_add(srv->tick, &second);
	}
	/* server_reload() swaps srv->cfg for cfg, taking a reference to the
	   new one and dropping the old: give it one to drop. */
	config_ref(cfg);
	srv->cfg = cfg;
	if (server_reload(srv, cfg, err, errlen) != 0) {
		config_unref(cfg);
		goto fail;
	}
	return srv;
fail:
	server_release(srv);
	return NULL;
}

static void
on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s, *next;

	(void)fd;
	(void)what;
	if (srv->nsessions > 0)
		log_warnx("shutdown timeout: dropping %zu connections",
		    srv->nsessions);
	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_end(s, "shutdown timeout");
	}
	on_reap(-1, 0, srv);
}

void
server_shutdown(struct server *srv, void (*done)(void *), void *arg)
{
	struct listener *ls;
	struct session *s, *next;
	struct timeval tv;

	srv->shutting_down = 1;
	srv->done = done;
	srv->done_arg = arg;
	while ((ls = TAILQ_FIRST(&srv->listeners)) != NULL) {
		TAILQ_REMOVE(&srv->listeners, ls, entry);
		listener_free(ls);
	}
	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		switch (s->phase) {
		case PH_HANDSHAKE:
			session_end(s, "server shutting down");
			break;
		case PH_PENDING:
			session_reject(s, 503, "The server is shutting down.\n");
			break;
		case PH_OPEN:
			session_close(s, WS_CLOSE_GOING_AWAY,
			    "server shutting down");
			break;
		default:
			break;
		}
	}
	tv.tv_sec = (time_t)srv->cfg->limits.shutdown_timeout;
	tv.tv_usec = 0;
	srv->shutdown_timer = evtimer_new(srv->base, on_shutdown_timeout, srv);
	if (srv->shutdown_timer != NULL)
		evtimer_add(srv->shutdown_timer, &tv);
	event_active(srv->reaper, EV_TIMEOUT, 0);
}

void
server_free(struct server *srv)
{
	struct listener *ls;
	struct session *s;

	while ((ls = TAILQ_FIRST(&srv->listeners)) != NULL) {
		TAILQ_REMOVE(&srv->listeners, ls, entry);
		listener_free(ls);
	}
	while ((s = TAILQ_FIRST(&srv->sessions)) != NULL)
		session_end(s, "server exiting");
	srv->done = NULL;
	on_reap(-1, 0, srv);
	config_unref(srv->cfg);
	server_release(srv);
}

const struct server_stats *
server_stats(const struct server *srv)
{
	return &srv->stats;
}

size_t
server_sessions(const struct server *srv)
{
	return srv->nsessions;
}

void
server_log_stats(const struct server *srv)
{
	const struct server_stats *st = &srv->stats;

	log_info("stats: connections=%zu active=%zu accepted=%llu opened=%llu "
	    "refused_http=%llu refused_full=%llu handshake_timeouts=%llu "
	    "protocol_errors=%llu idle_timeouts=%llu ping_timeouts=%llu "
	    "slow_closed=%llu dropped_messages=%llu accept_errors=%llu "
	    "tls_handshakes=%llu tls_handshake_failures=%llu "
	    "tls_plain_http=%llu",
	    srv->nsessions, srv->nactive,
	    (unsigned long long)st->accepted, (unsigned long long)st->opened,
	    (unsigned long long)st->refused_http,
	    (unsigned long long)st->refused_full,
	    (unsigned long long)st->handshake_timeouts,
	    (unsigned long long)st->protocol_errors,
	    (unsigned long long)st->idle_timeouts,
	    (unsigned long long)st->ping_timeouts,
	    (unsigned long long)st->slow_closed,
	    (unsigned long long)st->dropped_messages,
	    (unsigned long long)st->accept_errors,
	    (unsigned long long)st->tls_handshakes,
	    (unsigned long long)st->tls_handshake_failures,
	    (unsigned long long)st->tls_plain_http);
}
