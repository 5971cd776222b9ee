/*
 * bench.c - "wsrelay bench": a WebSocket load generator on the client role
 * of src/ws, in the style of h2load and redis-benchmark.
 *
 * Modes:
 *   echo       N connections, K messages in flight on each, every echoed
 *              byte checked against what was sent; latency per message
 *   broadcast  one sender and N receivers in one room: delivery rate,
 *              fan-out latency, loss and reordering
 *   connect    open and hold N connections: handshake rate
 * One epoll loop per thread (-t), edge-triggered, each connection
 * registered once for reading and writing; connections are spread over
 * the threads.  The I/O follows the daemon's: one read buffer per thread, a connection keeps
 * only what a read leaves unparsed, whole frames are parsed in place, and
 * what a read produces is written once.
 *
 * Every frame received goes through ws_recv(), which checks it as the
 * client does (UTF-8 of text included).  The handshake and control frames
 * (pongs, close replies) are sent by the module too; the data frames, all
 * whole messages of one known shape, are built here with the module's frame
 * codec (frame.h), a batch at a time into the connection's own send buffer:
 * header, a mask key from a per-thread pool of RAND_bytes, masked payload.
 * That buffer is written after the module's output, never inside a frame
 * of it (conn_flush).
 *
 * Output: a progress line per second on a terminal (stderr), then one
 * summary line of key=value pairs on stdout.  The exit status is 1 when a
 * connection failed or a message was wrong, lost or out of order.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "client/bench.h"
#include "client/url.h"
#include "frame.h"
#include "ws.h"

enum mode { M_ECHO, M_BROADCAST, M_CONNECT };

#define READ_BUF (256 * 1024)
#define SEQ_LEN 16		/* hex sequence number + send time prefix */
#define KEY_POOL 16384		/* mask key bytes drawn at a time */

/* Latency histogram: 64 sub-buckets for each power of two of ns. */
#define HB 64
#define HSLOTS (64 * HB)

struct hist {
	uint64_t n[HSLOTS];
	uint64_t count;
	uint64_t max;
};

struct opts {
	enum mode mode;
	int conns;
	int depth;
	size_t size;
	int binary;
	double duration;
	double warmup;
	long long count;
	int threads;
	int addrs;
	int inflight_hs;
	const char *proto;
	int quiet;
	int compress;		/* offer permessage-deflate */
	struct ws_limits limits;	/* messages of -s bytes fit */
	struct ws_url url;
	struct sockaddr_storage ss;
	socklen_t sslen;
};

struct worker;

struct conn {
	struct worker *w;
	struct ws_conn *ws;
	int fd;
	int connected;		/* the TCP connect finished */
	int id;
	int role;		/* 0 echo/receiver/idle, 1 broadcast sender */
	int open;
	int deflate;		/* permessage-deflate agreed */
	uint8_t *in;		/* unparsed input */
	size_t ilen;
	size_t icap;
	uint64_t next_seq;	/* echo: next to send; receiver: next due */
	uint64_t ack_seq;	/* echo: next expected back */
	uint64_t *sent_at;	/* echo: send times, ring of w->ring */
	uint8_t tx_hex[SEQ_LEN];	/* next_seq in hex (sender) */
	uint8_t rx_hex[SEQ_LEN];	/* the next due back, in hex */
	uint8_t *ob;		/* data frames built here, sent after the */
	size_t olen;		/* module's output: bytes [ooff, olen) */
	size_t ooff;
	size_t ocap;
};

struct stats {
	uint64_t sent;
	uint64_t msgs;		/* received and counted */
	uint64_t done;		/* received or lost, warm-up included (-n) */
	uint64_t bytes;
	uint64_t estab;
	uint64_t cfail;
	uint64_t closed;
	uint64_t bad;
	uint64_t lost;
	uint64_t reordered;
	uint64_t proto_err;
	uint64_t deflated;	/* connections with permessage-deflate */
	struct hist lat;
};

struct worker {
	int id;
	const struct opts *o;
	int ep;			/* epoll */
	struct conn *c;
	int n;
	uint8_t *rbuf;
	uint8_t *payload;	/* template of a message */
	uint8_t *zmsg;		/* -z: a message, built for ws_send() */
	uint8_t *frame;		/* ... as a frame, a zero mask key */
	size_t flen;
	size_t hlen;		/* its header, without the mask key */
	uint8_t thex[SEQ_LEN];	/* broadcast: send time of the batch */
	uint64_t ring;		/* echo send times, broadcast send times:
				   slots, a power of two >= depth */
	uint8_t keys[KEY_POOL];	/* mask keys */
	size_t kpos;
	int started;		/* connections started */
	int connecting;		/* handshakes in progress */
	volatile int measuring;	/* set by the main thread */
	volatile int stop;
	struct stats st;	/* written by this thread only */
	pthread_t tid;
	/* broadcast: the sender's view of the receivers */
	struct conn *sender;
	uint64_t low;		/* next_seq of the slowest receiver */
	int at_low;		/* receivers at it; 0: scan again */
	int total;		/* connections of this worker that must open */
	uint64_t *bsent;	/* broadcast: send time of seq, ring */
	uint64_t now;		/* the time of the read being parsed */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
hist_add(struct hist *h, uint64_t v)
{
	int e = 0;
	uint64_t m = v;

	if (m >= HB) {
		/* Keep the top 6 bits: HB sub-buckets per power of two. */
		e = 63 - __builtin_clzll(m) - 5;
		m >>= e;
	}
	h->n[e * HB + (int)m]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

static void
hist_merge(struct hist *to, const struct hist *from)
{
	int i;

	for (i = 0; i < HSLOTS; i++)
		to->n[i] += from->n[i];
	to->count += from->count;
	if (from->max > to->max)
		to->max = from->max;
}

/* The q-quantile in microseconds. */
static double
hist_q(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	int i;

	if (h->count == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)h->count);
	if (want == 0)
		want = 1;
	for (i = 0; i < HSLOTS; i++) {
		seen += h->n[i];
		if (seen >= want) {
			int e = i / HB, m = i % HB;

			return (double)((uint64_t)m << e) / 1e3;
		}
	}
	return (double)h->max / 1e3;
}

/* ------------------------------------------------------------ messages */

/*
 * A message: 16 hex digits of sequence number, in broadcast mode 16 of
 * send time (ns), then the template's bytes.  Text is all ASCII, so it
 * stays valid UTF-8.
 */

/* The 8 nibbles of x as lowercase hex digits, most significant first in
   memory (a word at a time). */
static uint64_t
hex8(uint32_t x)
{
	uint64_t y = x, m;

	/* nibble i to byte i */
	y = (y | y << 16) & 0x0000ffff0000ffffULL;
	y = (y | y << 8) & 0x00ff00ff00ff00ffULL;
	y = (y | y << 4) & 0x0f0f0f0f0f0f0f0fULL;
	/* 0..9 -> '0'..'9', 10..15 -> 'a'..'f' */
	m = ((y + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
	y += 0x3030303030303030ULL + m * ('a' - '0' - 10);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	y = __builtin_bswap64(y);
#endif
	return y;
}

/* v in hex, XORed with k64 (a mask key twice, or 0). */
static void
put_hex(uint8_t *p, uint64_t v, uint64_t k64)
{
	uint64_t a = hex8((uint32_t)(v >> 32)) ^ k64;
	uint64_t b = hex8((uint32_t)v) ^ k64;

	memcpy(p, &a, 8);
	memcpy(p + 8, &b, 8);
}

/* Add 1 to the number put_hex() wrote: one digit, most of the time. */
static void
hex_inc(uint8_t *h)
{
	int i;

	for (i = SEQ_LEN - 1; i >= 0; i--) {
		if (h[i] == '9') {
			h[i] = 'a';
			return;
		}
		if (h[i] != 'f') {
			h[i]++;
			return;
		}
		h[i] = '0';
	}
}

/* p[0..SEQ_LEN) XORed with k64 to q. */
static void
put_masked(uint8_t *q, const uint8_t *p, uint64_t k64)
{
	uint64_t a, b;

	memcpy(&a, p, 8);
	memcpy(&b, p + 8, 8);
	a ^= k64;
	b ^= k64;
	memcpy(q, &a, 8);
	memcpy(q + 8, &b, 8);
}

static int
get_hex(const uint8_t *p, uint64_t *v)
{
	uint64_t x = 0;
	unsigned bad = 0;
	int i;

	for (i = 0; i < 16; i++) {
		unsigned ch = p[i], d;

		/* '0'..'9' -> 0..9, 'a'..'f' -> 10..15, else flagged */
		d = ch - '0';
		if (d > 9) {
			d = (ch | 0x20) - 'a' + 10;
			bad |= (unsigned)(d < 10 || d > 15);
		}
		x = x << 4 | (d & 0xf);
	}
	*v = x;
	return bad ? -1 : 0;
}

static void conn_fail(struct conn *c, const char *why);
static void conn_flush(struct conn *c);

/* Room for n more bytes in c's send buffer. */
static int
out_reserve(struct conn *c, size_t n)
{
	size_t cap;
	uint8_t *q;

	if (c->ooff > 0) {
		memmove(c->ob, c->ob + c->ooff, c->olen - c->ooff);
		c->olen -= c->ooff;
		c->ooff = 0;
		if (c->ocap - c->olen >= n)
			return 0;
	}
	cap = c->ocap < 256 ? 256 : c->ocap;
	while (cap - c->olen < n)
		cap *= 2;
	if ((q = realloc(c->ob, cap)) == NULL)
		return -1;
	c->ob = q;
	c->ocap = cap;
	return 0;
}

/* A fresh mask key, from a pool refilled a block at a time. */
static int
mask_key(struct worker *w, uint8_t *key)
{
	if (w->kpos + 4 > KEY_POOL) {
		if (RAND_bytes(w->keys, KEY_POOL) != 1)
			return -1;
		w->kpos = 0;
	}
	memcpy(key, w->keys + w->kpos, 4);
	w->kpos += 4;
	return 0;
}

/*
 * Append the next message, one masked frame, to c's send buffer: the
 * frame's template, a fresh mask key, masked in place, and the masked
 * number (and broadcast send time, w->thex) over it, stores only: no load
 * of bytes just stored (a stall).  An echo message is timed from the read
 * that prompted it, w->now: it goes out in the write that follows the
 * parse of that read (conn_read), so its latency is overstated by at most
 * that parse, not understated.  The connection is OPEN: it fails as soon
 * as the module reports a close or an error.
 */
static void
send_msg(struct conn *c)
{
	struct worker *w = c->w;
	size_t size = w->o->size, n = w->flen;
	uint32_t k32;
	uint64_t k64;
	uint8_t *p;

	if (c->deflate) {
		/* Compressed: the module builds the frame. */
		memcpy(w->zmsg, w->payload, size);
		if (size >= SEQ_LEN)
			memcpy(w->zmsg, c->tx_hex, SEQ_LEN);
		if (w->o->mode == M_BROADCAST)
			memcpy(w->zmsg + SEQ_LEN, w->thex, SEQ_LEN);
		if (ws_send(c->ws, w->o->binary ? WS_OP_BINARY : WS_OP_TEXT,
		    w->zmsg, size) != WS_OK) {
			conn_fail(c, "cannot send");
			return;
		}
		goto sent;
	}
	if (c->ocap - c->olen < n && out_reserve(c, n) != 0) {
		conn_fail(c, "out of memory");
		return;
	}
	p = c->ob + c->olen;
	memcpy(p, w->frame, n);
	p += w->hlen;
	if (mask_key(w, p) != 0) {
		conn_fail(c, "no random bytes for a mask");
		return;
	}
	memcpy(&k32, p, 4);
	k64 = (uint64_t)k32 << 32 | k32;
	ws_mask(p + 4, size, p, 0);
	if (size >= SEQ_LEN)
		put_masked(p + 4, c->tx_hex, k64);
	if (w->o->mode == M_BROADCAST)
		put_masked(p + 4 + SEQ_LEN, w->thex, k64);
	c->olen += n;
sent:
	hex_inc(c->tx_hex);
	if (c->sent_at != NULL)
		c->sent_at[c->next_seq & (w->ring - 1)] = w->now;
	c->next_seq++;
	if (w->measuring)
		w->st.sent++;
}

/* An echo came back: check it, time it, send the next. */
static void
on_echo(struct conn *c, const uint8_t *data, size_t len)
{
	struct worker *w = c->w;
	const struct opts *o = w->o;
	int ok = len == o->size;

	if (ok && o->size >= SEQ_LEN)
		ok = memcmp(data, c->rx_hex, SEQ_LEN) == 0 &&
		    memcmp(data + SEQ_LEN, w->payload + SEQ_LEN,
		    len - SEQ_LEN) == 0;
	else if (ok)
		ok = memcmp(data, w->payload, len) == 0;
	hex_inc(c->rx_hex);
	if (!ok)
		w->st.bad++;	/* in the warm-up too, as lost, reordered */
	if (w->measuring) {
		w->st.msgs++;
		w->st.bytes += len;
		hist_add(&w->st.lat, w->now -
		    c->sent_at[c->ack_seq & (w->ring - 1)]);
	}
	c->ack_seq++;
	w->st.done++;
	if (!w->stop && (o->count == 0 || (long long)c->next_seq < o->count))
		send_msg(c);
}

/*
 * A broadcast delivery: in order, intact, with the send time the sender
 * gave it.  Messages from the slowest receiver's next one on are in the
 * sender's window, so their send times are still in w->bsent.  One whose
 * number is right but whose bytes are not counts as bad, not as lost.
 */
static void
on_delivery(struct conn *c, const uint8_t *data, size_t len)
{
	struct worker *w = c->w;
	uint64_t seq, sent;
	uint8_t hex[SEQ_LEN];
	int ok, due;

	due = len == w->o->size && memcmp(data, c->rx_hex, SEQ_LEN) == 0;
	if (due)
		seq = c->next_seq;
	else if (len != w->o->size || get_hex(data, &seq) != 0 ||
	    seq >= w->sender->next_seq) {
		w->st.bad++;	/* in the warm-up too, as lost, reordered */
		return;
	} else if (seq < c->next_seq) {
		w->st.reordered++;
		return;
	}
	sent = w->bsent[seq & (w->ring - 1)];
	put_hex(hex, sent, 0);
	ok = memcmp(data + SEQ_LEN, hex, SEQ_LEN) == 0 &&
	    memcmp(data + 2 * SEQ_LEN, w->payload + 2 * SEQ_LEN,
	    len - 2 * SEQ_LEN) == 0;
	if (!ok)
		w->st.bad++;
	w->st.lost += seq - c->next_seq;
	if (w->measuring) {
		w->st.msgs++;
		w->st.bytes += len;
		if (ok)
			hist_add(&w->st.lat, w->now - sent);
	}
	w->st.done += seq + 1 - c->next_seq;	/* the lost ones too */
	if (c->next_seq == w->low)
		w->at_low--;
	c->next_seq = seq + 1;
	if (due)
		hex_inc(c->rx_hex);
	else
		put_hex(c->rx_hex, c->next_seq, 0);
}

/* The slowest receiver's next_seq, scanned only when it moved on. */
static uint64_t
slowest(struct worker *w)
{
	int i;

	if (w->at_low > 0)
		return w->low;
	w->low = UINT64_MAX;
	for (i = 0; i < w->n; i++) {
		const struct conn *c = &w->c[i];

		if (c->role != 0 || c->fd < 0)
			continue;
		if (c->next_seq < w->low) {
			w->low = c->next_seq;
			w->at_low = 1;
		} else if (c->next_seq == w->low)
			w->at_low++;
	}
	return w->low;
}

/*
 * The sender keeps at most depth messages ahead of the slowest receiver;
 * it starts once every receiver is in the room.  A batch carries one send
 * time, taken right before it is written.
 */
static void
sender_pump(struct worker *w)
{
	struct conn *s = w->sender;
	uint64_t low, t;

	if (s == NULL || !s->open || w->stop ||
	    w->st.estab < (uint64_t)w->total)
		return;
	if ((low = slowest(w)) == UINT64_MAX)
		return;
	if (s->next_seq >= low + (uint64_t)w->o->depth)
		return;
	t = now_ns();
	put_hex(w->thex, t, 0);
	while (s->fd >= 0 && s->next_seq < low + (uint64_t)w->o->depth &&
	    (w->o->count == 0 || (long long)s->next_seq < w->o->count)) {
		w->bsent[s->next_seq & (w->ring - 1)] = t;
		send_msg(s);
	}
	if (s->fd >= 0)
		conn_flush(s);
}

/* ---------------------------------------------------------- connections */

static void
conn_close_fd(struct conn *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);		/* leaves the epoll set too */
	c->fd = -1;
	c->open = 0;
	c->w->at_low = 0;	/* the slowest receiver may be gone */
}

static void
conn_fail(struct conn *c, const char *why)
{
	struct worker *w = c->w;

	if (c->fd < 0)
		return;
	if (!c->open) {
		w->st.cfail++;
		w->connecting--;
	} else if (!w->stop)
		w->st.closed++;
	if (!w->o->quiet && !w->stop)
		fprintf(stderr, "wsrelay bench: connection %d: %s%s%s\n",
		    c->id, why, ws_error(c->ws)[0] ? ": " : "",
		    ws_error(c->ws));
	conn_close_fd(c);
}

/*
 * Write the module's output and then the data frames built here; an
 * EPOLLOUT edge resumes it.  The two never interleave inside a frame: the
 * module's output waits while a batch of ours is half written, and ours
 * waits for the module's to be all written.
 */
static void
conn_flush(struct conn *c)
{
	const uint8_t *p;
	size_t n;
	ssize_t k;
	int own;

	for (;;) {
		if (c->ooff == 0 && (p = ws_output(c->ws, &n)) != NULL)
			own = 0;
		else if (c->olen > 0) {
			own = 1;
			p = c->ob + c->ooff;
			n = c->olen - c->ooff;
		} else
			break;
		k = send(c->fd, p, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_fail(c, strerror(errno));
			return;
		}
		if (!own)
			ws_output_consume(c->ws, (size_t)k);
		else if ((c->ooff += (size_t)k) == c->olen) {
			c->ooff = c->olen = 0;
			break;	/* nothing was queued meanwhile */
		}
	}
}

static void start_more(struct worker *w);

static void
on_open(struct conn *c)
{
	struct worker *w = c->w;
	const struct opts *o = w->o;
	int i;

	c->open = 1;
	w->connecting--;
	w->st.estab++;
	ws_conn_set_inplace(c->ws, o->size + WS_FRAME_HEADER_MAX + 16);
	if ((c->deflate = ws_conn_deflate(c->ws, 0)))
		w->st.deflated++;
	switch (o->mode) {
	case M_ECHO:
		for (i = 0; i < o->depth; i++)
			if (o->count == 0 || (long long)c->next_seq < o->count)
				send_msg(c);
		break;
	case M_BROADCAST:
		sender_pump(w);
		break;
	default:
		break;
	}
	start_more(w);
}

/* Parse p[0..len); returns how much was consumed. */
static size_t
conn_parse(struct conn *c, uint8_t *p, size_t len)
{
	struct ws_event ev;
	size_t off = 0;
	ssize_t n;

	/* No bytes, no event: the last call of a read would find none. */
	while (c->fd >= 0 && off < len) {
		n = ws_recv(c->ws, p + off, len - off, &ev);
		if (n == WS_AGAIN)
			break;
		if (n < 0) {
			if (ws_status_class((int)n) == WS_CLASS_PROTOCOL)
				c->w->st.proto_err++;
			conn_flush(c);
			conn_fail(c, ws_strstatus((int)n));
			break;
		}
		off += (size_t)n;
		switch (ev.type) {
		case WS_EV_RESPONSE:
			on_open(c);
			break;
		case WS_EV_TEXT:
		case WS_EV_BINARY:
			if (c->w->o->mode == M_ECHO)
				on_echo(c, ev.data, ev.len);
			else if (c->role == 0)
				on_delivery(c, ev.data, ev.len);
			break;
		case WS_EV_CLOSE:
			conn_flush(c);
			conn_fail(c, "closed by the server");
			break;
		default:
			break;
		}
	}
	return off;
}

/* Readable: read until a short read (edge-triggered). */
static void
conn_read(struct conn *c)
{
	struct worker *w = c->w;
	uint8_t *buf;
	size_t room, used;
	ssize_t n;

	for (;;) {
		if (c->ilen == 0) {
			buf = w->rbuf;
			room = READ_BUF;
		} else {
			size_t want = ws_recv_hint(c->ws);

			if (want < c->ilen + 16384)
				want = c->ilen + 16384;
			if (want > c->icap) {
				uint8_t *q = realloc(c->in, want);

				if (q == NULL) {
					conn_fail(c, "out of memory");
					return;
				}
				c->in = q;
				c->icap = want;
			}
			buf = c->in + c->ilen;
			room = c->icap - c->ilen;
		}
		/* recv() and send(), not read() and write(): the socket
		   calls skip the VFS layer, some 2% of a message's cost. */
		n = recv(c->fd, buf, room, 0);
		w->now = now_ns();
		if (n == 0) {
			(void)ws_recv_eof(c->ws);
			conn_fail(c, "connection closed");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_fail(c, strerror(errno));
			break;
		}
		if (c->ilen == 0) {
			used = conn_parse(c, buf, (size_t)n);
			if (c->fd >= 0 && used < (size_t)n) {
				size_t left = (size_t)n - used;

				if (c->icap < left) {
					uint8_t *q = realloc(c->in, left +
					    16384);

					if (q == NULL) {
						conn_fail(c, "out of memory");
						return;
					}
					c->in = q;
					c->icap = left + 16384;
				}
				memcpy(c->in, buf + used, left);
				c->ilen = left;
			}
		} else {
			c->ilen += (size_t)n;
			used = conn_parse(c, c->in, c->ilen);
			if (c->fd >= 0) {
				memmove(c->in, c->in + used, c->ilen - used);
				c->ilen -= used;
			}
		}
		if (c->fd < 0 || (size_t)n < room)
			break;
	}
	if (c->fd < 0)
		return;
	conn_flush(c);
}

/* The TCP connect finished: send the upgrade request. */
static void
conn_connected(struct conn *c)
{
	const struct opts *o = c->w->o;
	struct ws_client_request req;
	const char *protos[1];
	int err = 0;
	socklen_t len = sizeof(err);

	c->connected = 1;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
	    err != 0) {
		conn_fail(c, strerror(err ? err : errno));
		return;
	}
	memset(&req, 0, sizeof(req));
	req.host = o->url.hostport;
	req.target = o->url.target;
	if (o->proto != NULL) {
		protos[0] = o->proto;
		req.subprotocols = protos;
		req.nsubprotocols = 1;
	}
	if (ws_connect(c->ws, &req) != WS_OK) {
		conn_fail(c, "cannot build the request");
		return;
	}
	conn_flush(c);
}

/* One epoll event for c. */
static void
conn_event(struct conn *c, uint32_t ev)
{
	if (c->fd < 0)
		return;
	if (!c->connected) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		conn_connected(c);
		if (c->fd < 0)
			return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_read(c);		/* and writes what it produced */
	else if (ev & EPOLLOUT)
		conn_flush(c);
}

static int
conn_start(struct conn *c)
{
	const struct opts *o = c->w->o;
	struct sockaddr_in src;
	struct epoll_event ev;
	int one = 1;

	c->ws = ws_conn_new(WS_ROLE_CLIENT, &o->limits, NULL);
	if (c->ws != NULL && o->compress) {
		struct ws_deflate d;

		ws_deflate_default(&d);
		if (ws_conn_set_deflate(c->ws, &d) != WS_OK)
			return -1;
	}
	c->fd = socket(o->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->ws == NULL || c->fd < 0)
		return -1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->addrs > 1 && o->ss.ss_family == AF_INET) {
		/* Spread over 127.0.0.1..127.0.0.A to pass 64k ports. */
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000001 + (uint32_t)(c->id %
		    o->addrs));
		(void)setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
#ifdef IP_BIND_ADDRESS_NO_PORT
		/* Choose the port at connect(), by the whole 4-tuple: bind()
		   alone must find a port free of every TIME_WAIT socket. */
		(void)setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT,
		    &one, sizeof(one));
#endif
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) != 0)
			return -1;
	}
	if (connect(c->fd, (const struct sockaddr *)&o->ss, o->sslen) != 0 &&
	    errno != EINPROGRESS)
		return -1;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	return epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Start connections while fewer than -C handshakes are in progress. */
static void
start_more(struct worker *w)
{
	while (w->started < w->n && w->connecting < w->o->inflight_hs) {
		struct conn *c = &w->c[w->started++];

		w->connecting++;
		if (conn_start(c) != 0) {
			w->st.cfail++;
			w->connecting--;
			if (c->fd >= 0) {
				close(c->fd);
				c->fd = -1;
			}
		}
	}
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[512];
	int i, n;

	while (!w->stop) {
		start_more(w);
		n = epoll_wait(w->ep, evs, 512, 20);
		for (i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
		/* Broadcast: one batch for what the receivers read. */
		if (w->sender != NULL)
			sender_pump(w);
	}
	return NULL;
}

/* ---------------------------------------------------------------- main */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: wsrelay bench [-bhqz] [-m mode] [-c conns] [-k depth] "
	    "[-s size]\n"
	    "                     [-d seconds] [-n count] [-w seconds] "
	    "[-t threads]\n"
	    "                     [-a addrs] [-C handshakes] [-p protocol] "
	    "ws://host:port/path\n"
	    "  -m MODE   echo, broadcast or connect                [echo]\n"
	    "  -c N      connections (broadcast: receivers)        [1]\n"
	    "  -k K      echo: messages in flight per connection;\n"
	    "            broadcast: how far the sender may run ahead [1]\n"
	    "  -s S      payload bytes (broadcast: at least 32)    [32]\n"
	    "  -b        binary messages (default: text)\n"
	    "  -d SEC    measured duration; connect: hold time     [10]\n"
	    "  -n COUNT  echo/broadcast: stop after COUNT messages per\n"
	    "            connection (sender) instead of a duration\n"
	    "  -w SEC    warm-up before measuring                  [1]\n"
	    "  -t T      threads, one event loop each              [1]\n"
	    "  -a A      source addresses 127.0.0.1..127.0.0.A     [1]\n"
	    "  -C P      handshakes in progress at most            [256]\n"
	    "  -p PROTO  offer this subprotocol\n"
	    "  -q        no progress line, no per-connection errors\n"
	    "  -z        offer permessage-deflate; messages are compressed\n"
	    "            where the server agrees (deflate= in the summary)\n");
}

static int
parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
resolve(struct opts *o, char *err, size_t errlen)
{
	struct addrinfo hints, *res;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(o->url.host, o->url.port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", o->url.host, gai_strerror(r));
		return -1;
	}
	memcpy(&o->ss, res->ai_addr, res->ai_addrlen);
	o->sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void
sum_stats(struct worker *ws, int nw, struct stats *t)
{
	int i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < nw; i++) {
		const struct stats *s = &ws[i].st;

		t->sent += s->sent;
		t->msgs += s->msgs;
		t->done += s->done;
		t->bytes += s->bytes;
		t->estab += s->estab;
		t->cfail += s->cfail;
		t->closed += s->closed;
		t->bad += s->bad;
		t->lost += s->lost;
		t->reordered += s->reordered;
		t->proto_err += s->proto_err;
		t->deflated += s->deflated;
		hist_merge(&t->lat, &s->lat);
	}
}

static double
seconds(void)
{
	return (double)now_ns() / 1e9;
}

/* User and system time of the whole process (every thread). */
static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
nap(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
bench_main(int argc, char **argv)
{
	static const char *const modes[] = { "echo", "broadcast", "connect" };
	struct opts o;
	struct worker *ws;
	struct stats t;
	double v, t0, t_est = 0, t_meas, t_end, t_shown, now, hs_s;
	double cpu0, cpu;
	char err[512];
	int ch, i, total, tty, failed;
	uint64_t last = 0;

	memset(&o, 0, sizeof(o));
	o.conns = 1;
	o.depth = 1;
	o.size = 32;
	o.duration = 10;
	o.warmup = 1;
	o.threads = 1;
	o.addrs = 1;
	o.inflight_hs = 256;
	optind = 1;
	while ((ch = getopt(argc, argv, "a:bC:c:d:hk:m:n:p:qs:t:w:z")) != -1) {
		switch (ch) {
		case 'a':
			if (parse_num(optarg, 1, 250, &v) != 0)
				goto bad;
			o.addrs = (int)v;
			break;
		case 'b':
			o.binary = 1;
			break;
		case 'C':
			if (parse_num(optarg, 1, 100000, &v) != 0)
				goto bad;
			o.inflight_hs = (int)v;
			break;
		case 'c':
			if (parse_num(optarg, 1, 1000000, &v) != 0)
				goto bad;
			o.conns = (int)v;
			break;
		case 'd':
			if (parse_num(optarg, 0.1, 86400, &o.duration) != 0)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'k':
			if (parse_num(optarg, 1, 65536, &v) != 0)
				goto bad;
			o.depth = (int)v;
			break;
		case 'm':
			for (i = 0; i < 3; i++)
				if (strcmp(optarg, modes[i]) == 0)
					break;
			if (i == 3)
				goto bad;
			o.mode = (enum mode)i;
			break;
		case 'n':
			if (parse_num(optarg, 1, 1e15, &v) != 0)
				goto bad;
			o.count = (long long)v;
			break;
		case 'p':
			o.proto = optarg;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 's':
			if (parse_num(optarg, 0, 64 << 20, &v) != 0)
				goto bad;
			o.size = (size_t)v;
			break;
		case 't':
			if (parse_num(optarg, 1, 256, &v) != 0)
				goto bad;
			o.threads = (int)v;
			break;
		case 'w':
			if (parse_num(optarg, 0, 3600, &o.warmup) != 0)
				goto bad;
			break;
		case 'z':
			o.compress = 1;
			break;
		default:
			goto bad;
		}
	}
	ws_limits_default(&o.limits);
	if (o.size > o.limits.max_message_size)
		o.limits.max_message_size = o.limits.max_frame_size = o.size;
	if (optind != argc - 1)
		goto bad;
	if (ws_url_parse(argv[optind], &o.url, err, sizeof(err)) != 0) {
		fprintf(stderr, "wsrelay bench: %s\n", err);
		return 2;
	}
	if (o.url.tls) {
		fprintf(stderr, "wsrelay bench: wss:// is not supported yet\n");
		return 2;
	}
	if (o.mode == M_BROADCAST && o.size < 2 * SEQ_LEN) {
		fprintf(stderr, "wsrelay bench: broadcast needs -s 32 or "
		    "more\n");
		return 2;
	}
	if (resolve(&o, err, sizeof(err)) != 0) {
		fprintf(stderr, "wsrelay bench: %s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	/* Connections, round-robin over threads; the broadcast sender is
	   on thread 0, connection 0. */
	total = o.conns + (o.mode == M_BROADCAST ? 1 : 0);
	if (o.mode == M_BROADCAST)
		o.threads = 1;	/* the sender needs every receiver's view */
	if (o.threads > total)
		o.threads = total;
	ws = calloc((size_t)o.threads, sizeof(*ws));
	if (ws == NULL)
		return 1;
	for (i = 0; i < o.threads; i++) {
		struct worker *w = &ws[i];
		static const uint8_t nokey[4];
		int j;

		w->id = i;
		w->o = &o;
		w->n = total / o.threads + (i < total % o.threads);
		w->total = w->n;
		w->c = calloc((size_t)w->n, sizeof(*w->c));
		w->rbuf = malloc(READ_BUF);
		w->payload = malloc(o.size + 1);
		w->zmsg = malloc(o.size + 1);
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		if (w->c == NULL || w->rbuf == NULL || w->payload == NULL ||
		    w->zmsg == NULL ||
		    w->ep < 0)
			return 1;
		for (j = 0; (size_t)j < o.size; j++)
			w->payload[j] = o.binary ? (uint8_t)(j * 31 + 7) :
			    (uint8_t)('a' + j % 26);
		w->flen = ws_frame_header_len(o.size, 1) + o.size;
		if ((w->frame = malloc(w->flen)) == NULL)
			return 1;
		w->hlen = ws_frame_header(w->frame, o.binary ? WS_OP_BINARY :
		    WS_OP_TEXT, 1, 0, o.size, nokey) - 4;
		memcpy(w->frame + w->hlen + 4, w->payload, o.size);
		w->kpos = KEY_POOL;
		for (w->ring = 1; w->ring < (uint64_t)o.depth; w->ring *= 2)
			;
		if (o.mode == M_BROADCAST &&
		    (w->bsent = calloc(w->ring, sizeof(uint64_t))) == NULL)
			return 1;
		for (j = 0; j < w->n; j++) {
			struct conn *c = &w->c[j];

			c->w = w;
			c->fd = -1;
			c->id = j * o.threads + i;
			put_hex(c->tx_hex, 0, 0);
			put_hex(c->rx_hex, 0, 0);
			if (o.mode == M_ECHO) {
				c->sent_at = calloc(w->ring,
				    sizeof(uint64_t));
				if (c->sent_at == NULL)
					return 1;
			}
		}
		if (o.mode == M_BROADCAST) {
			w->c[0].role = 1;
			w->sender = &w->c[0];
		}
	}
	for (i = 0; i < o.threads; i++)
		if (pthread_create(&ws[i].tid, NULL, worker_run, &ws[i]) != 0)
			return 1;

	tty = !o.quiet && isatty(STDERR_FILENO);
	t0 = seconds();
	/* Wait for every connection to be up or failed (bounded). */
	for (;;) {
		sum_stats(ws, o.threads, &t);
		if (t.estab + t.cfail >= (uint64_t)total)
			break;
		if (seconds() - t0 > 60) {
			fprintf(stderr, "wsrelay bench: connections still "
			    "pending after 60 s\n");
			break;
		}
		nap(0.002);
	}
	t_est = seconds() - t0;
	nap(o.mode == M_CONNECT ? 0 : o.warmup);
	for (i = 0; i < o.threads; i++)
		ws[i].measuring = 1;
	t_meas = seconds();
	cpu0 = cpu_seconds();
	t_end = t_meas + o.duration;
	t_shown = t_meas;
	while ((now = seconds()) < t_end) {
		/* With -n, see every 10 ms whether the count is done. */
		double step = o.count > 0 ? 0.01 : 0.1;

		nap(t_end - now < step ? t_end - now : step);
		now = seconds();
		sum_stats(ws, o.threads, &t);
		if (tty && o.mode != M_CONNECT && now - t_shown >= 0.999) {
			fprintf(stderr, "\r%.0fs: %llu msgs/s, p50 %.1f us, "
			    "bad %llu   ", now - t_meas,
			    (unsigned long long)((double)(t.msgs - last) /
			    (now - t_shown)), hist_q(&t.lat, 0.5),
			    (unsigned long long)t.bad);
			last = t.msgs;
			t_shown = now;
		}
		if (o.count > 0 && o.mode != M_CONNECT &&
		    t.done >= (uint64_t)o.count * (uint64_t)o.conns)
			break;
		if (t.closed + t.cfail >= (uint64_t)total)
			break;		/* no connection left */
	}
	for (i = 0; i < o.threads; i++)
		ws[i].measuring = 0;
	t_end = seconds();
	cpu = cpu_seconds() - cpu0;
	for (i = 0; i < o.threads; i++)
		ws[i].stop = 1;
	for (i = 0; i < o.threads; i++)
		pthread_join(ws[i].tid, NULL);
	if (tty)
		fprintf(stderr, "\n");
	sum_stats(ws, o.threads, &t);
	hs_s = t_est > 0 ? (double)t.estab / t_est : 0;
	printf("mode=%s target=ws://%s%s conns=%d depth=%d size=%zu type=%s "
	    "threads=%d estab=%llu cfail=%llu closed=%llu hs_s=%.3f "
	    "hs_per_s=%.0f dur_s=%.2f sent=%llu msgs=%llu msgs_per_s=%.0f "
	    "mbytes_per_s=%.2f lat_p50_us=%.1f lat_p99_us=%.1f "
	    "lat_p999_us=%.1f lat_max_us=%.1f bad=%llu lost=%llu "
	    "reordered=%llu proto_err=%llu deflate=%llu cpu_pct=%.1f\n",
	    modes[o.mode], o.url.hostport, o.url.target, o.conns, o.depth,
	    o.size, o.binary ? "binary" : "text", o.threads,
	    (unsigned long long)t.estab, (unsigned long long)t.cfail,
	    (unsigned long long)t.closed, t_est, hs_s, t_end - t_meas,
	    (unsigned long long)t.sent, (unsigned long long)t.msgs,
	    (double)t.msgs / (t_end - t_meas),
	    (double)t.bytes / (t_end - t_meas) / 1e6, hist_q(&t.lat, 0.5),
	    hist_q(&t.lat, 0.99), hist_q(&t.lat, 0.999),
	    (double)t.lat.max / 1e3, (unsigned long long)t.bad,
	    (unsigned long long)t.lost, (unsigned long long)t.reordered,
	    (unsigned long long)t.proto_err, (unsigned long long)t.deflated,
	    100 * cpu / (t_end - t_meas));
	fflush(stdout);
	failed = t.cfail > 0 || t.closed > 0 || t.bad > 0 || t.lost > 0 ||
	    t.reordered > 0 || t.proto_err > 0 ||
	    (o.mode != M_CONNECT && t.done == 0);
	for (i = 0; i < o.threads; i++) {
		int j;

		for (j = 0; j < ws[i].n; j++) {
			struct conn *c = &ws[i].c[j];

			if (c->fd >= 0)
				close(c->fd);
			ws_conn_free(c->ws);
			free(c->in);
			free(c->ob);
			free(c->sent_at);
		}
		close(ws[i].ep);
		free(ws[i].c);
		free(ws[i].rbuf);
		free(ws[i].payload);
		free(ws[i].zmsg);
		free(ws[i].frame);
		free(ws[i].bsent);
	}
	free(ws);
	return failed ? 1 : 0;
bad:
	usage(stderr);
	return 2;
}
