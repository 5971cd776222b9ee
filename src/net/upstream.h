/*
 * upstream.h - a connection from the daemon to a backend service (TCP or
 * Unix socket), for the backend handler.  Handlers see bytes and
 * callbacks, not sockets or libevent.
 */
#ifndef WSR_UPSTREAM_H
#define WSR_UPSTREAM_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

struct session;
struct upstream;
struct ssl_ctx_st;

struct upstream_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char name[128];
	char host[256];		/* as written, without brackets; "" for unix: */
};

/* TLS to the backend: the context (src/net/tls.h), the name to send as
   SNI and, with verify, to check the certificate against. */
struct upstream_tls {
	struct ssl_ctx_st *ctx;
	const char *name;
	int verify;
};

/* "host:port", "[v6]:port" or "unix:/path" (numeric or resolved once,
   now).  0, or -1 with err. */
int upstream_addr_parse(const char *spec, struct upstream_addr *a,
    char *err, size_t errlen);

struct upstream_cbs {
	void (*connected)(void *arg);
	void (*readable)(void *arg);	/* bytes wait: upstream_peek() */
	void (*eof)(void *arg);		/* after the last readable() */
	/* connecting: 1 if it never connected; timeout: 1 if it timed out. */
	void (*error)(void *arg, int connecting, int timeout, const char *why);
	void (*drained)(void *arg);	/* output fell below low */
};

/*
 * Start connecting, over TLS if tls is not NULL; the callbacks report the
 * outcome (connected: after the TLS handshake, which timeout bounds too).
 * NULL and err if it cannot even start.
 */
struct upstream *upstream_connect(struct session *s,
    const struct upstream_addr *a, const struct upstream_tls *tls,
    int timeout, size_t low, const struct upstream_cbs *cbs, void *arg,
    char *err, size_t errlen);

int upstream_write(struct upstream *u, const void *data, size_t len);
size_t upstream_output_pending(const struct upstream *u);
/* At most max contiguous bytes of input (fewer if fewer are there). */
const uint8_t *upstream_peek(struct upstream *u, size_t max, size_t *len);
/* Offset of byte c within the first max bytes of input, or -1. */
long upstream_find(struct upstream *u, uint8_t c, size_t max);
size_t upstream_input_length(const struct upstream *u);
void upstream_drain(struct upstream *u, size_t n);
void upstream_pause(struct upstream *u);
void upstream_resume(struct upstream *u);
/*
 * Stop using u: no more callbacks.  What is queued for the backend is
 * still written (for a bounded time), then the connection is closed.
 */
void upstream_close(struct upstream *u);

#endif /* WSR_UPSTREAM_H */
