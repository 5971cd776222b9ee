/*
 * session.h - what the network layer offers handlers: one WebSocket
 * connection, seen as messages.  A session is never freed during a call
 * into a handler; after session_close() or an error, sends are dropped
 * and the handler's end() is called exactly once.
 */
#ifndef WSR_SESSION_H
#define WSR_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct route;

/* A frame serialised once and shared by many sessions' output. */
struct shared_frame;
struct shared_frame *shared_frame_new(int binary, const void *payload,
    size_t len);
void shared_frame_unref(struct shared_frame *f);
size_t shared_frame_len(const struct shared_frame *f);

void *session_data(struct session *s);
void session_set_data(struct session *s, void *data);
const struct route *session_route(const struct session *s);
/* The request path, without the query. */
const char *session_path(const struct session *s);
const char *session_peer(const struct session *s);
/* The subprotocol chosen for the session (the route's spelling), or NULL. */
const char *session_subprotocol(const struct session *s);

/* Answer a HANDLER_PENDING handshake. */
void session_accept(struct session *s);
void session_reject(struct session *s, int status, const char *body);

/*
 * Send a message (a copy is queued).  trusted_utf8: text this daemon has
 * already validated.  0, or -1 if the session cannot send (closing).
 */
int session_send(struct session *s, int binary, const void *data,
    size_t len, int trusted_utf8);
/* Queue a reference to f (no copy).  0 or -1 as session_send(). */
int session_send_shared(struct session *s, struct shared_frame *f);
/* Bytes queued for the peer and not yet written to the socket. */
size_t session_output_pending(const struct session *s);
/* 1 if the session is open for messages. */
int session_is_open(const struct session *s);

/* Start the closing handshake with code and reason. */
void session_close(struct session *s, uint16_t code, const char *reason);

/* Stop / resume reading the peer; reasons are bits, reading resumes when
   none is left.  SESSION_PAUSE_HANDLER is the handlers' bit. */
#define SESSION_PAUSE_HANDLER 0x1
void session_pause(struct session *s, unsigned why);
void session_resume(struct session *s, unsigned why);

/* Counters for ops (see server.c). */
void session_count_dropped(struct session *s, size_t messages);
void session_count_slow_closed(struct session *s);

#endif /* WSR_SESSION_H */
