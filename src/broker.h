/*
 * broker.h - the room registry behind broadcast.  A broker maps room
 * names to members and fans a message out to them; the local broker does
 * it in this process.  Other brokers (worker threads, Redis across nodes)
 * implement the same operations, and handlers do not change.
 */
#ifndef WSR_BROKER_H
#define WSR_BROKER_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct member;

/* What a member wants done when its output is over its cap. */
enum slow_policy {
	SLOW_DROP,		/* skip the message for it, and count it */
	SLOW_CLOSE		/* close it with 1008 */
};

struct member_opts {
	int include_self;	/* receive its own messages */
	size_t max_output;	/* bytes queued before the policy applies */
	enum slow_policy policy;
};

struct broker_ops {
	const char *name;
	struct member *(*join)(const char *room, struct session *s,
	    const struct member_opts *o);
	void (*leave)(struct member *m);
	/* Deliver to every member of m's room (m itself if include_self). */
	void (*publish)(struct member *m, int binary, const uint8_t *data,
	    size_t len);
	size_t (*room_size)(const struct member *m);
};

extern const struct broker_ops broker_local;

#endif /* WSR_BROKER_H */
