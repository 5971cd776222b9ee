/*
 * broker.c - the local broker: rooms in a hash table, members in a list
 * per room, each message serialised once and referenced by every
 * receiver's output.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "log.h"
#include "net/session.h"

struct room;

struct member {
	TAILQ_ENTRY(member) entry;
	struct room *room;
	struct session *s;
	struct member_opts o;
};

struct room {
	struct room *next;	/* hash chain */
	TAILQ_HEAD(, member) members;
	size_t n;
	uint32_t hash;
	char name[];
};

#define NBUCKETS 1024

/* The broker's table: the daemon has one event loop, one broker. */
static struct room *buckets[NBUCKETS];

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static struct room *
room_get(const char *name, int create)
{
	uint32_t h = hash(name);
	struct room *r;
	size_t len;

	for (r = buckets[h % NBUCKETS]; r != NULL; r = r->next)
		if (r->hash == h && strcmp(r->name, name) == 0)
			return r;
	if (!create)
		return NULL;
	len = strlen(name);
	if ((r = malloc(sizeof(*r) + len + 1)) == NULL)
		return NULL;
	memcpy(r->name, name, len + 1);
	r->hash = h;
	r->n = 0;
	TAILQ_INIT(&r->members);
	r->next = buckets[h % NBUCKETS];
	buckets[h % NBUCKETS] = r;
	return r;
}

static void
room_free(struct room *r)
{
	struct room **pp;

	for (pp = &buckets[r->hash % NBUCKETS]; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	free(r);
}

static struct member *
local_join(const char *name, struct session *s, const struct member_opts *o)
{
	struct room *r = room_get(name, 1);
	struct member *m;

	if (r == NULL || (m = calloc(1, sizeof(*m))) == NULL) {
		if (r != NULL && r->n == 0)
			room_free(r);
		return NULL;
	}
	m->room = r;
	m->s = s;
	m->o = *o;
	TAILQ_INSERT_TAIL(&r->members, m, entry);
	r->n++;
	return m;
}

static void
local_leave(struct member *m)
{
	struct room *r = m->room;

	TAILQ_REMOVE(&r->members, m, entry);
	free(m);
	if (--r->n == 0)
		room_free(r);
}

static void
local_publish(struct member *from, int binary, const uint8_t *data,
    size_t len)
{
	struct room *r = from->room;
	struct shared_frame *f;
	struct member *m, *next;

	if (r->n == 1 && !from->o.include_self)
		return;
	if ((f = shared_frame_new(binary, data, len)) == NULL) {
		log_warnx("broadcast %s: out of memory", r->name);
		return;
	}
	/* A member closed here leaves the room from its end(): take next
	   first. */
	for (m = TAILQ_FIRST(&r->members); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (m == from && !m->o.include_self)
			continue;
		if (session_output_pending(m->s) + shared_frame_len(f) >
		    m->o.max_output) {
			if (m->o.policy == SLOW_DROP)
				session_count_dropped(m->s, 1);
			else {
				session_count_slow_closed(m->s);
				session_close(m->s, 1008,
				    "slow consumer: output over its limit");
			}
			continue;
		}
		(void)session_send_shared(m->s, f);
	}
	shared_frame_unref(f);
}

static size_t
local_room_size(const struct member *m)
{
	return m->room->n;
}

const struct broker_ops broker_local = {
	"local", local_join, local_leave, local_publish, local_room_size
};
