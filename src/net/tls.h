/*
 * tls.h - OpenSSL contexts: a listener's (its certificates chosen by SNI,
 * ALPN, client certificates) and a client's (the backend handler, wsrelay).
 * The per-connection I/O is the pump's (server.c) or libevent's
 * (upstream.c); this file only builds and describes contexts.
 */
#ifndef WSR_TLS_H
#define WSR_TLS_H

#include <sys/types.h>

#include <stddef.h>

#include <openssl/ssl.h>

struct tls_conf;
struct config;

/*
 * The context of a listener with settings t, read from the configuration
 * file: its default certificate's, with the SNI table of the others
 * attached (freed with it, when the last connection that uses it is
 * gone).  NULL with "file:line: message" in err, the message naming the
 * file at fault and OpenSSL's reason.
 */
SSL_CTX *tls_server_ctx(const struct tls_conf *t, const char *file,
    char *err, size_t errlen);

/* Build and free every listener's context: wsrelayd -n.  0, or -1. */
int tls_check_config(const struct config *cfg, char *err, size_t errlen);

/*
 * A client context that verifies the peer against cafile (NULL: the
 * system's store) unless verify is 0.  NULL with a message in err.
 */
SSL_CTX *tls_client_ctx(const char *cafile, int verify, char *err,
    size_t errlen);

/*
 * Set up ssl to connect to name: SNI when name is a host name, and, with
 * verify, a check of the certificate against it (a host name or an IP
 * address).  0, or -1.
 */
int tls_client_name(SSL *ssl, const char *name, int verify);

/* What a stalled SSL call waits for, as bits of the caller's int. */
#define TLS_READ_WANTS_WRITE	0x1	/* SSL_read: the socket writable */
#define TLS_WRITE_WANTS_READ	0x2	/* SSL_write: the socket readable */

/*
 * An SSL_read_ex() (writing 0) or SSL_write_ex() (writing 1) on ssl made
 * no progress: -1 with errno EAGAIN (and the wait noted in *rw), EPIPE
 * (a write after the peer's end), EPROTO (a TLS error: the thread's error
 * queue says which, and the caller must clear it) or the socket's own;
 * or 0, a read at the peer's end of the stream.
 */
ssize_t tls_stalled(SSL *ssl, int writing, int *rw);

/*
 * Why the last TLS operation on ssl (may be NULL) failed: the certificate
 * verification result if that failed, else OpenSSL's reason.  Clears the
 * thread's error queue.  Returns buf.
 */
const char *tls_error(SSL *ssl, char *buf, size_t len);

#endif /* WSR_TLS_H */
