/*
 * net_int.h - shared by the files of src/net only.
 */
#ifndef WSR_NET_INT_H
#define WSR_NET_INT_H

#include <sys/socket.h>

struct session;
struct event_base;

struct event_base *session_event_base(const struct session *s);

/* Monotonic seconds. */
long long mono_now(void);

#endif /* WSR_NET_INT_H */
