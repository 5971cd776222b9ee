/*
 * handler.h - what a route does with its connections.  A handler is a
 * table of functions, chosen once when a connection is routed, and a
 * table of settings parsed into its own struct.  Handlers see messages
 * (struct session, net/session.h), never the wire format or a socket.
 */
#ifndef WSR_HANDLER_H
#define WSR_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct session;

enum {
	HANDLER_ACCEPT = 0,	/* answer the handshake with 101 now */
	HANDLER_PENDING = 1	/* the handler calls session_accept() or
				   session_reject() later */
	/* >= 400: refuse the handshake with that HTTP status */
};

struct handler {
	const char *name;
	const struct opt *opts;		/* its settings in a route */
	size_t conf_size;
	/*
	 * Check what the table cannot: 0 if fine, else -1 with a message in
	 * err and, in *key, the setting it is about (for its line number).
	 */
	int (*conf_check)(void *conf, char *err, size_t errlen,
	    const char **key);
	void (*conf_free)(void *conf);

	int (*start)(struct session *s);
	void (*message)(struct session *s, int binary, const uint8_t *data,
	    size_t len);
	/* The session's output fell below its low watermark. */
	void (*drained)(struct session *s);
	/* The session is over, for any reason: release what it holds. */
	void (*end)(struct session *s);
};

extern const struct handler handler_echo;
extern const struct handler handler_broadcast;
extern const struct handler handler_backend;

const struct handler *handler_find(const char *name);
/* All handlers, NULL-terminated. */
extern const struct handler *const handlers[];

#endif /* WSR_HANDLER_H */
