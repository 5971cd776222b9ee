/*
 * broadcast.c - every message to the other clients of the same room.  A
 * room is the route, or with room = "path" each distinct request path
 * under it.  Slow consumers are handled per member by the broker.
 */
#include <stdlib.h>

#include "broker.h"
#include "handler/handler.h"
#include "net/session.h"

struct broadcast_conf {
	int room;		/* 0 "route", 1 "path" */
	int include_sender;
	long long max_output;
	int slow_policy;	/* 0 "drop", 1 "close" */
};

static const char *const room_choices[] = { "route", "path", NULL };
static const char *const policy_choices[] = { "drop", "close", NULL };

#define BC(f) offsetof(struct broadcast_conf, f)
static const struct opt broadcast_opts[] = {
	{ "room", OPT_ENUM, 0, 0, 0, NULL, room_choices, BC(room), 0, NULL },
	{ "include_sender", OPT_BOOL, 0, 1, 0, NULL, NULL,
	    BC(include_sender), 0, NULL },
	{ "max_output", OPT_INT, 1024, 1LL << 30, 1 << 20, NULL, NULL,
	    BC(max_output), 0, "bytes" },
	{ "slow_policy", OPT_ENUM, 0, 0, 0, NULL, policy_choices,
	    BC(slow_policy), 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, NULL }
};

static const struct broker_ops *broker = &broker_local;

static int
broadcast_start(struct session *s)
{
	const struct route *r = session_route(s);
	const struct broadcast_conf *c = r->hconf;
	struct member_opts o;
	struct member *m;

	o.include_self = c->include_sender;
	o.max_output = (size_t)c->max_output;
	o.policy = c->slow_policy ? SLOW_CLOSE : SLOW_DROP;
	m = broker->join(c->room ? session_path(s) : r->path, s, &o);
	if (m == NULL)
		return 503;
	session_set_data(s, m);
	return HANDLER_ACCEPT;
}

static void
broadcast_message(struct session *s, int binary, const uint8_t *data,
    size_t len)
{
	broker->publish(session_data(s), binary, data, len);
}

static void
broadcast_end(struct session *s)
{
	struct member *m = session_data(s);

	if (m != NULL) {
		broker->leave(m);
		session_set_data(s, NULL);
	}
}

const struct handler handler_broadcast = {
	"broadcast", broadcast_opts, sizeof(struct broadcast_conf), NULL, NULL,
	broadcast_start, broadcast_message, NULL, broadcast_end
};
