/*
 * server.h - listeners and connections: the only code (with upstream.c)
 * that touches sockets and libevent.
 */
#ifndef WSR_SERVER_H
#define WSR_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct config;
struct server;

/* Counters for what was refused or dropped, and totals. */
struct server_stats {
	uint64_t accepted;		/* TCP connections */
	uint64_t opened;		/* WebSocket sessions */
	uint64_t refused_http;		/* handshakes answered with an error */
	uint64_t refused_full;		/* ... of which 503 */
	uint64_t handshake_timeouts;
	uint64_t protocol_errors;	/* peers closed for violations */
	uint64_t idle_timeouts;
	uint64_t ping_timeouts;
	uint64_t slow_closed;		/* closed as slow consumers */
	uint64_t dropped_messages;	/* skipped for slow consumers */
	uint64_t accept_errors;
	uint64_t tls_handshakes;	/* TLS handshakes completed */
	uint64_t tls_handshake_failures;	/* incl. client certificates */
	uint64_t tls_plain_http;	/* plain HTTP on a TLS port: 400 */
};

/*
 * Open the listeners of cfg and serve.  On failure returns NULL with a
 * message in err.  The server takes a reference to cfg.
 */
struct server *server_new(struct event_base *base, struct config *cfg,
    char *err, size_t errlen);

/*
 * Serve new connections with cfg: opens listeners it adds, closes the
 * ones it drops.  Live connections keep the config they started with.
 * Certificates and keys are read again: new TLS handshakes use the new
 * ones.  On failure (a listener cannot be opened, a certificate or a key
 * cannot be used) nothing changes: -1 and err.
 */
int server_reload(struct server *srv, struct config *cfg, char *err,
    size_t errlen);

/* Stop accepting, close every session with 1001, and call done() when
   the last one is gone (or the shutdown timeout passes). */
void server_shutdown(struct server *srv, void (*done)(void *), void *arg);
void server_free(struct server *srv);

const struct server_stats *server_stats(const struct server *srv);
size_t server_sessions(const struct server *srv);
void server_log_stats(const struct server *srv);

#endif /* WSR_SERVER_H */
