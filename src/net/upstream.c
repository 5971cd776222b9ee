/*
 * upstream.c - connections to backends.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/net_int.h"
#include "net/tls.h"
#include "net/upstream.h"

/* Time given to a closed upstream to write what it still holds. */
#define LINGER_SECONDS 5

struct upstream {
	struct bufferevent *bev;
	const struct upstream_cbs *cbs;
	void *arg;
	int connected;
	int closing;
	int tls;
};

int
upstream_addr_parse(const char *spec, struct upstream_addr *a, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res;
	char host[256];
	const char *port;
	size_t hlen;
	int r;

	memset(a, 0, sizeof(*a));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (void *)&a->ss;

		if (spec[5] != '/' || strlen(spec + 5) >=
		    sizeof(sun->sun_path)) {
			snprintf(err, errlen, "\"%s\": a Unix socket is "
			    "\"unix:/absolute/path\"", spec);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, spec + 5);
		a->len = sizeof(*sun);
		snprintf(a->name, sizeof(a->name), "%s", spec);
		return 0;
	}
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (end == NULL || end[1] != ':') {
			snprintf(err, errlen, "\"%s\": expected [address]:port",
			    spec);
			return -1;
		}
		hlen = (size_t)(end - spec - 1);
		memcpy(host, spec + 1, hlen < sizeof(host) ? hlen : 0);
		port = end + 2;
	} else {
		port = strrchr(spec, ':');
		if (port == NULL || strchr(spec, ':') != port) {
			snprintf(err, errlen, "\"%s\": expected host:port, "
			    "[address]:port or unix:/path", spec);
			return -1;
		}
		hlen = (size_t)(port - spec);
		port++;
		memcpy(host, spec, hlen < sizeof(host) ? hlen : 0);
	}
	if (hlen == 0 || hlen >= sizeof(host) || *port == '\0') {
		snprintf(err, errlen, "\"%s\": expected host:port", spec);
		return -1;
	}
	{
		char *end;
		long pn;

		errno = 0;
		pn = strtol(port, &end, 10);
		if (*port < '0' || *port > '9' || *end != '\0' ||
		    errno != 0 || pn < 1 || pn > 65535) {
			snprintf(err, errlen, "\"%s\": the port must be a "
			    "number from 1 to 65535", spec);
			return -1;
		}
	}
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "\"%s\": %s", spec, gai_strerror(r));
		return -1;
	}
	memcpy(a->host, host, hlen + 1);
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(a->name, sizeof(a->name), "%s", spec);
	return 0;
}

/* Free u; over TLS, send close_notify first if the socket takes it. */
static void
upstream_free(struct upstream *u)
{
	if (u->tls && u->connected) {
		(void)SSL_shutdown(bufferevent_openssl_get_ssl(u->bev));
		ERR_clear_error();
	}
	bufferevent_free(u->bev);
	free(u);
}

/* Why bev failed: TLS (the certificate's verification, else OpenSSL's
   reason), or the socket. */
static const char *
failure(struct upstream *u, char *buf, size_t len)
{
	unsigned long e;
	long v;

	if (!u->tls)
		return evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
	v = SSL_get_verify_result(bufferevent_openssl_get_ssl(u->bev));
	if (v != X509_V_OK)
		snprintf(buf, len, "TLS: certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
	else if ((e = bufferevent_get_openssl_error(u->bev)) != 0)
		snprintf(buf, len, "TLS: %s", ERR_reason_error_string(e) ?
		    ERR_reason_error_string(e) : "unknown error");
	else
		return evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
	while (bufferevent_get_openssl_error(u->bev) != 0)
		;
	return buf;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct upstream *u = arg;

	(void)bev;
	if (!u->closing && u->cbs->readable != NULL)
		u->cbs->readable(u->arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct upstream *u = arg;

	if (u->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			upstream_free(u);
		return;
	}
	if (u->cbs->drained != NULL)
		u->cbs->drained(u->arg);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct upstream *u = arg;
	char why[256];
	int one = 1;

	if (u->closing) {
		if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR |
		    BEV_EVENT_TIMEOUT)) {
			u->connected = 0;	/* no close_notify now */
			upstream_free(u);
		}
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		u->connected = 1;
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof(one));
		bufferevent_set_timeouts(bev, NULL, NULL);
		bufferevent_enable(bev, EV_READ);
		u->cbs->connected(u->arg);
	} else if (what & BEV_EVENT_EOF) {
		u->cbs->eof(u->arg);
	} else if (what & BEV_EVENT_TIMEOUT) {
		u->cbs->error(u->arg, !u->connected, 1, "timed out");
	} else if (what & BEV_EVENT_ERROR) {
		u->cbs->error(u->arg, !u->connected, 0, failure(u, why,
		    sizeof(why)));
	}
}

struct upstream *
upstream_connect(struct session *s, const struct upstream_addr *a,
    const struct upstream_tls *tls, int timeout, size_t low,
    const struct upstream_cbs *cbs, void *arg, char *err, size_t errlen)
{
	struct upstream *u;
	struct timeval tv = { timeout, 0 };
	SSL *ssl = NULL;

	if ((u = calloc(1, sizeof(*u))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	u->cbs = cbs;
	u->arg = arg;
	if (tls != NULL) {
		u->tls = 1;
		char why[256];

		if ((ssl = SSL_new(tls->ctx)) == NULL ||
		    tls_client_name(ssl, tls->name, tls->verify) != 0) {
			snprintf(err, errlen, "%s: TLS: %s", a->name,
			    tls_error(NULL, why, sizeof(why)));
			SSL_free(ssl);
			free(u);
			return NULL;
		}
		/* The bufferevent owns ssl once it exists. */
		u->bev = bufferevent_openssl_socket_new(session_event_base(s),
		    -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (u->bev != NULL)
			/* The backend may end without close_notify: an end
			   like any other. */
			bufferevent_openssl_set_allow_dirty_shutdown(u->bev, 1);
		else
			SSL_free(ssl);
	} else
		u->bev = bufferevent_socket_new(session_event_base(s), -1,
		    BEV_OPT_CLOSE_ON_FREE);
	if (u->bev == NULL) {
		snprintf(err, errlen, "out of memory");
		free(u);
		return NULL;
	}
	bufferevent_setcb(u->bev, on_read, on_write, on_event, u);
	bufferevent_setwatermark(u->bev, EV_WRITE, low, 0);
	bufferevent_set_timeouts(u->bev, &tv, &tv);
	if (bufferevent_socket_connect(u->bev, (const struct sockaddr *)&a->ss,
	    (int)a->len) != 0) {
		snprintf(err, errlen, "%s: %s", a->name, strerror(errno));
		bufferevent_free(u->bev);
		free(u);
		return NULL;
	}
	return u;
}

int
upstream_write(struct upstream *u, const void *data, size_t len)
{
	return evbuffer_add(bufferevent_get_output(u->bev), data, len);
}

size_t
upstream_output_pending(const struct upstream *u)
{
	return evbuffer_get_length(bufferevent_get_output(u->bev));
}

size_t
upstream_input_length(const struct upstream *u)
{
	return evbuffer_get_length(bufferevent_get_input(u->bev));
}

const uint8_t *
upstream_peek(struct upstream *u, size_t max, size_t *len)
{
	struct evbuffer *in = bufferevent_get_input(u->bev);
	struct evbuffer_iovec v;
	size_t total = evbuffer_get_length(in);

	*len = 0;
	if (total == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return NULL;
	if (v.iov_len < max && v.iov_len < total) {
		size_t want = total < max ? total : max;

		if (evbuffer_pullup(in, (ssize_t)want) == NULL)
			return NULL;
		evbuffer_peek(in, -1, NULL, &v, 1);
	}
	*len = v.iov_len < max ? v.iov_len : max;
	return v.iov_base;
}

long
upstream_find(struct upstream *u, uint8_t c, size_t max)
{
	struct evbuffer *in = bufferevent_get_input(u->bev);
	struct evbuffer_ptr p;
	char s[2] = { (char)c, '\0' };

	p = evbuffer_search(in, s, 1, NULL);
	if (p.pos < 0 || (size_t)p.pos >= max)
		return -1;
	return (long)p.pos;
}

void
upstream_drain(struct upstream *u, size_t n)
{
	evbuffer_drain(bufferevent_get_input(u->bev), n);
}

void
upstream_pause(struct upstream *u)
{
	bufferevent_disable(u->bev, EV_READ);
}

void
upstream_resume(struct upstream *u)
{
	if (!u->connected || u->closing)
		return;
	bufferevent_enable(u->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(u->bev)) > 0)
		bufferevent_trigger(u->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void
upstream_close(struct upstream *u)
{
	struct timeval tv = { LINGER_SECONDS, 0 };

	if (u == NULL)
		return;
	u->closing = 1;
	bufferevent_disable(u->bev, EV_READ);
	if (!u->connected ||
	    evbuffer_get_length(bufferevent_get_output(u->bev)) == 0) {
		upstream_free(u);
		return;
	}
	bufferevent_setwatermark(u->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(u->bev, NULL, &tv);
}
