/*
 * tlsecho.c - a small WebSocket echo load generator, cleartext or TLS,
 * for bench/tls.sh: the same client drives both, so their ratio is the
 * cost of TLS in the server (wsload, the yardstick, has no TLS).
 *
 *	tlsecho [-T] [-c conns] [-k inflight] [-s size] [-d seconds] port
 *
 * Opens conns connections to 127.0.0.1:port/echo (over TLS with -T,
 * without verifying the certificate), keeps inflight binary messages of
 * size bytes in flight on each, checks every echoed byte, and prints one
 * line: messages per second and payload MB/s after a second of warm-up,
 * and the messages of the whole run (total=, for the server's CPU time
 * per message).  Exit 1 on any error.
 * Frames are masked with a zero key: the server unmasks as always.
 * One thread, epoll; replies to one read go out in one write, as a
 * careful client would: over TLS, its records are made into memory (a
 * BIO of our own) and written together.  A read stops when the socket is
 * drained (a short read) or, over TLS, when OpenSSL holds nothing more
 * (it reads ahead, up to four records per read()): epoll says when more
 * comes, so no read() ends in EAGAIN.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct conn {
	int fd;
	SSL *ssl;
	uint8_t *in, *out;
	size_t ilen, icap, olen, ocap;
	uint8_t *rec;		/* TLS: records not written yet */
	size_t roff, rlen, rcap;
	int want_out;
};

static size_t msg_size;
static uint8_t *payload;
static unsigned long long received;

static void
die(const char *what)
{
	fprintf(stderr, "tlsecho: %s: %s\n", what, errno ? strerror(errno) :
	    ERR_reason_error_string(ERR_get_error()));
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append one masked binary frame (zero key) of msg_size bytes. */
static void
add_frame(struct conn *c)
{
	size_t h = 2;
	uint8_t *p;

	if (c->olen + msg_size + 14 > c->ocap) {
		c->ocap = (c->olen + msg_size + 14) * 2;
		if ((c->out = realloc(c->out, c->ocap)) == NULL)
			die("realloc");
	}
	p = c->out + c->olen;
	p[0] = 0x82;
	if (msg_size < 126)
		p[1] = 0x80 | (uint8_t)msg_size;
	else if (msg_size < 65536) {
		p[1] = 0x80 | 126;
		p[2] = (uint8_t)(msg_size >> 8);
		p[3] = (uint8_t)msg_size;
		h = 4;
	} else {
		int i;

		p[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			p[2 + i] = (uint8_t)((uint64_t)msg_size >> (56 - 8 * i));
		h = 10;
	}
	memset(p + h, 0, 4);
	memcpy(p + h + 4, payload, msg_size);
	c->olen += h + 4 + msg_size;
}

/* What SSL_read_ex()/SSL_write_ex() returned, as read()/write() would. */
static ssize_t
ssl_result(struct conn *c, int ok, const size_t *n, const char *what)
{
	if (ok == 1)
		return (ssize_t)*n;
	switch (SSL_get_error(c->ssl, 0)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	default:
		errno = 0;
		die(what);
	}
	return -1;
}

static ssize_t
io_read(struct conn *c, void *buf, size_t len)
{
	size_t n;

	if (c->ssl == NULL)
		return read(c->fd, buf, len);
	return ssl_result(c, SSL_read_ex(c->ssl, buf, len, &n), &n,
	    "SSL_read");
}

static ssize_t
io_write(struct conn *c, const void *buf, size_t len)
{
	size_t n;

	if (c->ssl == NULL)
		return write(c->fd, buf, len);
	return ssl_result(c, SSL_write_ex(c->ssl, buf, len, &n), &n,
	    "SSL_write");
}

/* The BIO records are written to once connected: appended to c->rec. */
static int
rec_write(BIO *b, const char *p, int len)
{
	struct conn *c = BIO_get_data(b);

	if (c->rlen + (size_t)len > c->rcap) {
		if (c->roff > 0) {
			memmove(c->rec, c->rec + c->roff, c->rlen - c->roff);
			c->rlen -= c->roff;
			c->roff = 0;
		}
		if (c->rlen + (size_t)len > c->rcap) {
			c->rcap = (c->rlen + (size_t)len) * 2;
			if ((c->rec = realloc(c->rec, c->rcap)) == NULL)
				die("realloc");
		}
	}
	memcpy(c->rec + c->rlen, p, (size_t)len);
	c->rlen += (size_t)len;
	return len;
}

static long
rec_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH;
}

static void
rec_bio(struct conn *c)
{
	static BIO_METHOD *m;
	BIO *b;

	if (m == NULL && ((m = BIO_meth_new(BIO_TYPE_SOURCE_SINK,
	    "records")) == NULL || !BIO_meth_set_write(m, rec_write) ||
	    !BIO_meth_set_ctrl(m, rec_ctrl)))
		die("BIO_meth_new");
	if ((b = BIO_new(m)) == NULL)
		die("BIO_new");
	BIO_set_data(b, c);
	BIO_set_init(b, 1);
	SSL_set0_wbio(c->ssl, b);
}

/* TLS: all the output into records, and as many as the socket takes. */
static void
flush_tls(struct conn *c)
{
	size_t off = 0, n;
	ssize_t w;

	while (off < c->olen) {
		if (SSL_write_ex(c->ssl, c->out + off, c->olen - off, &n) != 1) {
			errno = 0;
			die("SSL_write");
		}
		off += n;
	}
	c->olen = 0;
	while (c->roff < c->rlen) {
		w = write(c->fd, c->rec + c->roff, c->rlen - c->roff);
		if (w < 0) {
			if (errno == EAGAIN)
				break;
			die("write");
		}
		c->roff += (size_t)w;
	}
	if (c->roff == c->rlen)
		c->roff = c->rlen = 0;
	c->want_out = c->rlen > 0;
}

static void
flush(struct conn *c)
{
	ssize_t w;
	size_t off = 0;

	if (c->ssl != NULL && c->rec != NULL) {
		flush_tls(c);
		return;
	}
	while (off < c->olen) {
		w = io_write(c, c->out + off, c->olen - off);
		if (w < 0) {
			if (errno == EAGAIN)
				break;
			die("write");
		}
		off += (size_t)w;
	}
	memmove(c->out, c->out + off, c->olen - off);
	c->olen -= off;
	c->want_out = c->olen > 0;
}

/* Parse whole frames from c->in; each one echoed asks for another. */
static void
parse(struct conn *c)
{
	size_t off = 0, h, n;
	uint8_t *p;

	for (;;) {
		p = c->in + off;
		if (c->ilen - off < 2)
			break;
		if (p[0] != 0x82 || (p[1] & 0x80)) {
			errno = EPROTO;
			die("unexpected frame");
		}
		n = p[1] & 0x7f;
		h = 2;
		if (n == 126) {
			if (c->ilen - off < 4)
				break;
			n = (size_t)p[2] << 8 | p[3];
			h = 4;
		} else if (n == 127) {
			int i;

			if (c->ilen - off < 10)
				break;
			for (n = 0, i = 0; i < 8; i++)
				n = n << 8 | p[2 + i];
			h = 10;
		}
		if (c->ilen - off < h + n)
			break;
		if (n != msg_size || memcmp(p + h, payload, n) != 0) {
			errno = EPROTO;
			die("echo differs");
		}
		off += h + n;
		received++;
		add_frame(c);
	}
	memmove(c->in, c->in + off, c->ilen - off);
	c->ilen -= off;
}

static void
on_readable(struct conn *c)
{
	size_t room;
	ssize_t n;

	for (;;) {
		if (c->icap - c->ilen < 16384) {
			c->icap *= 2;
			if ((c->in = realloc(c->in, c->icap)) == NULL)
				die("realloc");
		}
		room = c->icap - c->ilen;
		n = io_read(c, c->in + c->ilen, room);
		if (n == 0) {
			errno = ECONNRESET;
			die("server closed");
		}
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			die("read");
		}
		c->ilen += (size_t)n;
		parse(c);
		if (c->ssl != NULL ? !SSL_has_pending(c->ssl) :
		    (size_t)n < room)
			break;
	}
	flush(c);
}

static void
open_conn(struct conn *c, int port, SSL_CTX *ctx)
{
	static const char req[] = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	struct sockaddr_in sin;
	char resp[1024];
	size_t got = 0;
	ssize_t n;
	int one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die("connect");
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ctx != NULL) {
		if ((c->ssl = SSL_new(ctx)) == NULL ||
		    !SSL_set_fd(c->ssl, c->fd) || SSL_connect(c->ssl) != 1) {
			errno = 0;
			die("TLS handshake");
		}
	}
	if (io_write(c, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		die("request");
	while (got < 4 || memcmp(resp + got - 4, "\r\n\r\n", 4) != 0) {
		if (got == sizeof(resp) || (n = io_read(c, resp + got, 1)) <= 0)
			die("response");
		got += (size_t)n;
	}
	if (strncmp(resp, "HTTP/1.1 101 ", 13) != 0) {
		errno = EPROTO;
		die("handshake refused");
	}
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0)
		die("fcntl");
	if (c->ssl != NULL) {
		c->rcap = msg_size * 2 + 65536;
		if ((c->rec = malloc(c->rcap)) == NULL)
			die("malloc");
		rec_bio(c);
	}
	c->icap = msg_size * 2 + 65536;
	if ((c->in = malloc(c->icap)) == NULL)
		die("malloc");
}

int
main(int argc, char **argv)
{
	struct epoll_event ev, evs[256];
	int conns = 100, inflight = 16, secs = 5, tls = 0, port, ch, i, j, n;
	struct conn *cs;
	SSL_CTX *ctx = NULL;
	double start, t;
	unsigned long long base;
	int ep;

	msg_size = 32;
	while ((ch = getopt(argc, argv, "Tc:k:s:d:")) != -1) {
		switch (ch) {
		case 'T': tls = 1; break;
		case 'c': conns = atoi(optarg); break;
		case 'k': inflight = atoi(optarg); break;
		case 's': msg_size = (size_t)atol(optarg); break;
		case 'd': secs = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: tlsecho [-T] [-c conns] "
			    "[-k inflight] [-s size] [-d seconds] port\n");
			return 2;
		}
	}
	if (optind + 1 != argc || conns < 1 || inflight < 1 || secs < 1)
		return 2;
	port = atoi(argv[optind]);
	if ((payload = malloc(msg_size + 1)) == NULL)
		die("malloc");
	for (i = 0; i < (int)msg_size; i++)
		payload[i] = (uint8_t)(i * 31 + 7);
	if (tls && ((ctx = SSL_CTX_new(TLS_client_method())) == NULL))
		die("SSL_CTX_new");
	if (ctx != NULL) {
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_CTX_set_read_ahead(ctx, 1);
		SSL_CTX_set_default_read_buffer_len(ctx,
		    4 * (SSL3_RT_MAX_PLAIN_LENGTH +
		    SSL3_RT_MAX_ENCRYPTED_OVERHEAD));
	}
	if ((cs = calloc((size_t)conns, sizeof(*cs))) == NULL ||
	    (ep = epoll_create1(0)) < 0)
		die("setup");
	for (i = 0; i < conns; i++) {
		open_conn(&cs[i], port, ctx);
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0)
			die("epoll_ctl");
		for (j = 0; j < inflight; j++)
			add_frame(&cs[i]);
		flush(&cs[i]);
	}
	/* A second of warm-up, then the measured run. */
	start = now();
	base = 0;
	for (;;) {
		t = now();
		if (base == 0 && t - start >= 1) {
			base = received ? received : 1;
			start = t;
		} else if (base != 0 && t - start >= secs)
			break;
		n = epoll_wait(ep, evs, 256, 1000);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			int had = c->want_out;

			if (evs[i].events & EPOLLOUT)
				flush(c);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(c);
			if (had != c->want_out) {
				ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
				ev.data.ptr = c;
				(void)epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
		}
	}
	t = now() - start;
	printf("%s conns=%d inflight=%d size=%zu msgs_per_s=%.0f MB_per_s=%.1f "
	    "total=%llu\n", tls ? "tls" : "plain", conns, inflight, msg_size,
	    (double)(received - base) / t,
	    (double)(received - base) * (double)msg_size / t / 1e6, received);
	return 0;
}
