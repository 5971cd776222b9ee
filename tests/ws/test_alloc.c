/*
 * test_alloc.c - allocation failure injected at each allocation in turn
 * (nghttp2 failmalloc style).  A scripted scenario is run once to count
 * the allocations, then once for each k with the k-th allocation failing:
 * every call must return success or a documented status, a failed
 * connection must stay failed, and nothing may leak.
 */
#include <check.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "frame.h"
#include "testutil.h"

#define FIN	0x80
#define OP_TEXT	0x1
#define OP_BIN	0x2
#define OP_CLOSE 0x8
#define OP_PING	0x9
#define OP_PONG	0xa

#define MSG_LEN (100 * 1024)	/* fragmented message received */
#define REPLY_LEN (70 * 1024)	/* message sent */

/* One run of a scenario. */
struct run {
	struct tu_failalloc f;
	struct ws_conn *c;
	int strict;		/* go on with a failed connection */
	int broken;		/* ... which is not in the failed state */
	int failed;		/* a call returned WS_E_NOMEM */
	uint16_t close_sent;	/* code of a close we sent before failing */
	int nomem_recv;
	int nomem_send;
	int nomem_other;
	int conn_null;
	struct tu_rec r;
};

/* What all the runs of one scenario add up to. */
struct totals {
	long runs;
	int nomem_recv;
	int nomem_send;
	int nomem_other;
	int conn_null;
	int failed_runs;
};


static uint8_t msg[MSG_LEN];
static uint8_t reply[REPLY_LEN];

static void
fill_text(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)('a' + (i * 7 + seed) % 26);
}

static void
init_data(void)
{
	size_t i;

	fill_text(msg, sizeof(msg), 1);
	/* Some multi-byte characters, one split by the fragment borders. */
	for (i = 1000; i + 3 <= sizeof(msg); i += 4001) {
		msg[i] = 0xe2;
		msg[i + 1] = 0x98;
		msg[i + 2] = 0x83;
	}
	msg[40000 - 1] = 0xc3;
	msg[40000] = 0xa9;
	for (i = 0; i < sizeof(reply); i++)
		reply[i] = (uint8_t)(i * 37 + (i >> 10));
}


static void
run_start(struct run *x, long fail_at, int strict)
{
	memset(x, 0, sizeof(*x));
	x->strict = strict;
	tu_failalloc_init(&x->f, fail_at);
}

/*
 * Whether the scenario stops here: a caller that follows the contract
 * closes the transport (and frees the connection) after WS_E_NOMEM.  In
 * strict runs it goes on, to check that the failed connection refuses
 * everything.
 */
static int
run_stop(const struct run *x)
{
	return x->failed && (!x->strict || x->broken);
}

/*
 * Failed connections that are not in the failed state, collected over all
 * the runs of a strict test so that it reports every call at fault.
 */
static char violations[4096];
static int nviolations;

static void
violation(struct run *x, const char *what, const char *how)
{
	size_t n = strlen(violations);

	nviolations++;
	x->broken = 1;
	snprintf(violations + n, sizeof(violations) - n,
	    "\n  fail_at %ld: WS_E_NOMEM from %s, then %s", x->f.fail_at,
	    what, how);
}

/* A call returned WS_E_NOMEM: the connection is failed from now on. */
static void
run_failed(struct run *x, int *counter, const char *what)
{
	uint16_t sent = ws_close_code_sent(x->c);
	char how[64];

	(*counter)++;
	x->failed = 1;
	ck_assert_int_eq(ws_status_class(WS_E_NOMEM), WS_CLASS_RESOURCE);
	if (!x->strict)
		return;
	if (ws_conn_state(x->c) != WS_CLOSED) {
		snprintf(how, sizeof(how), "state %d, not WS_CLOSED",
		    (int)ws_conn_state(x->c));
		violation(x, what, how);
	}
	if (ws_close_expected(x->c) != 1)
		violation(x, what, "ws_close_expected() 0");
	/* A 1011 close, if there was room (and no close was sent before). */
	if (x->close_sent != 0 ? sent != x->close_sent :
	    sent != 0 && sent != 1011) {
		snprintf(how, sizeof(how), "close code %u sent",
		    (unsigned)sent);
		violation(x, what, how);
	}
}

/*
 * Check the status st of a call that may allocate: ok, or WS_E_NOMEM; once
 * the connection has failed, exactly closed_st.  Returns 1 if it succeeded.
 */
static int
check_call(struct run *x, int st, int ok, int closed_st, int *counter,
    const char *what)
{
	if (x->failed) {
		ck_assert_msg(st == closed_st,
		    "fail_at %ld: %s on a failed connection returned %d (%s), "
		    "want %d", x->f.fail_at, what, st, ws_strstatus(st),
		    closed_st);
		return 0;
	}
	if (st == WS_E_NOMEM) {
		run_failed(x, counter, what);
		return 0;
	}
	ck_assert_msg(st == ok, "fail_at %ld: %s returned %d (%s), want %d",
	    x->f.fail_at, what, st, ws_strstatus(st), ok);
	return 1;
}

/* Feed bytes as a network layer does; returns 1 if all went well. */
static int
feed(struct run *x, const void *data, size_t len, size_t chunk)
{
	size_t left;

	tu_rec_reset(&x->r);
	left = tu_feed(x->c, data, len, chunk, &x->r, 0);
	if (x->failed) {
		ck_assert_msg(x->r.status == WS_E_CLOSED,
		    "fail_at %ld: ws_recv on a failed connection returned "
		    "%d (%s)", x->f.fail_at, x->r.status,
		    ws_strstatus(x->r.status));
		ck_assert_uint_eq(x->r.n, 0);
		return 0;
	}
	if (x->r.status == WS_E_NOMEM) {
		run_failed(x, &x->nomem_recv, "ws_recv");
		return 0;
	}
	ck_assert_msg(x->r.status == 0, "fail_at %ld: ws_recv returned %d (%s)",
	    x->f.fail_at, x->r.status, ws_strstatus(x->r.status));
	ck_assert_uint_eq(left, 0);
	return 1;
}

static void
expect_one(const struct run *x, enum ws_event_type type, const void *data,
    size_t len)
{
	ck_assert_msg(x->r.n == 1, "fail_at %ld: %zu events", x->f.fail_at,
	    x->r.n);
	ck_assert_int_eq(x->r.ev[0].type, type);
	ck_assert_uint_eq(x->r.ev[0].len, len);
	ck_assert(len == 0 || memcmp(x->r.ev[0].data, data, len) == 0);
}

/* The end of every run: flush, EOF, free, no leak. */
static void
run_finish(struct run *x, struct totals *t)
{
	uint8_t *out;
	size_t n;
	int st;

	out = tu_drain(x->c, &n);
	free(out);
	if (!run_stop(x)) {
		st = ws_recv_eof(x->c);
		ck_assert_msg(st == (x->failed ? WS_E_CLOSED : WS_OK),
		    "fail_at %ld: ws_recv_eof returned %d", x->f.fail_at, st);
		ck_assert_int_eq(ws_conn_state(x->c), WS_CLOSED);
	}
	ws_conn_free(x->c);
	x->c = NULL;
	tu_rec_reset(&x->r);
	ck_assert_msg(x->f.live == 0, "fail_at %ld: %ld blocks leaked",
	    x->f.fail_at, x->f.live);
	t->runs++;
	t->nomem_recv += x->nomem_recv;
	t->nomem_send += x->nomem_send;
	t->nomem_other += x->nomem_other;
	t->failed_runs += x->failed;
}

/* ws_conn_new() under injection: NULL is allowed, and must not leak. */
static int
run_new(struct run *x, enum ws_role role, struct totals *t)
{
	x->c = ws_conn_new(role, NULL, &x->f.a);
	if (x->c == NULL) {
		ck_assert_msg(x->f.fail_at > 0 && x->f.calls >= x->f.fail_at,
		    "ws_conn_new returned NULL with no failed allocation");
		ck_assert_msg(x->f.live == 0,
		    "fail_at %ld: ws_conn_new leaked %ld blocks",
		    x->f.fail_at, x->f.live);
		t->runs++;
		t->conn_null++;
		return 0;
	}
	/* All memory comes from the allocator. */
	ck_assert_int_gt(x->f.live, 0);
	ck_assert_int_eq(ws_conn_state(x->c), WS_CONNECTING);
	ck_assert_int_eq(ws_conn_role(x->c), role);
	return 1;
}

/* ------------------------------------------------------------ server */

struct server_input {
	uint8_t *frag;		/* the fragmented text message */
	size_t fraglen;
	uint8_t ping[64];
	size_t pinglen;
	uint8_t close[64];
	size_t closelen;
};

static void
server_input(struct server_input *in)
{
	size_t n = 0;

	in->frag = malloc(MSG_LEN + 3 * 14);
	ck_assert_ptr_nonnull(in->frag);
	n += tu_client_frame(in->frag + n, OP_TEXT, msg, 40000);
	n += tu_client_frame(in->frag + n, 0x00, msg + 40000, 40000);
	n += tu_client_frame(in->frag + n, FIN | 0x00, msg + 80000,
	    MSG_LEN - 80000);
	in->fraglen = n;
	in->pinglen = tu_client_frame(in->ping, FIN | OP_PING, "ping?", 5);
	in->closelen = tu_client_frame(in->close, FIN | OP_CLOSE,
	    "\x03\xe8" "done", 6);
}

/* tu_request with subprotocols offered, so that ws_accept() keeps one. */
static const char request[] =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: localhost\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Origin: http://localhost\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Protocol: superchat, chat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

/* Returns the number of allocation calls made. */
static long
run_server(long fail_at, int strict, const struct server_input *in,
    struct totals *t)
{
	struct run x;
	struct ws_response resp;
	struct tu_frame f[8];
	uint8_t *out;
	size_t n, nf;
	long calls;

	run_start(&x, fail_at, strict);
	if (!run_new(&x, WS_ROLE_SERVER, t))
		return x.f.calls;

	/* The opening handshake. */
	if (feed(&x, request, strlen(request), 0)) {
		ck_assert_uint_eq(x.r.n, 1);
		ck_assert_int_eq(x.r.ev[0].type, WS_EV_REQUEST);
		ck_assert_ptr_nonnull(ws_conn_request(x.c));
		ws_response_init(&resp);
		resp.subprotocol = "chat";
		ck_assert_int_eq(ws_response_add_header(&resp, "X-Relay",
		    "wsrelayd"), WS_OK);
		check_call(&x, ws_accept(x.c, &resp), WS_OK, WS_E_STATE,
		    &x.nomem_other, "ws_accept");
	}
	if (run_stop(&x))
		goto done;
	out = tu_drain(x.c, &n);
	if (!x.failed) {
		ck_assert(n > 12 && memcmp(out, "HTTP/1.1 101", 12) == 0);
		ck_assert_int_eq(ws_conn_state(x.c), WS_OPEN);
		ck_assert_ptr_nonnull(ws_conn_subprotocol(x.c));
		ck_assert_str_eq(ws_conn_subprotocol(x.c), "chat");
	}
	free(out);

	/* A fragmented 100 KiB text message, then a ping. */
	if (feed(&x, in->frag, in->fraglen, 4096))
		expect_one(&x, WS_EV_TEXT, msg, MSG_LEN);
	if (run_stop(&x))
		goto done;
	if (feed(&x, in->ping, in->pinglen, 0))
		expect_one(&x, WS_EV_PING, "ping?", 5);
	if (run_stop(&x))
		goto done;

	/* A 70 KiB reply. */
	check_call(&x, ws_send(x.c, WS_OP_BINARY, reply, REPLY_LEN), WS_OK,
	    WS_E_STATE, &x.nomem_send, "ws_send");
	if (run_stop(&x))
		goto done;
	if (x.failed)
		ck_assert_int_eq(ws_can_send(x.c), 0);

	/* The client closes. */
	if (feed(&x, in->close, in->closelen, 0)) {
		expect_one(&x, WS_EV_CLOSE, "done", 4);
		ck_assert_uint_eq(x.r.ev[0].code, 1000);
		ck_assert_int_eq(ws_conn_state(x.c), WS_CLOSED);
		ck_assert_int_eq(ws_close_expected(x.c), 1);
	}
	if (run_stop(&x))
		goto done;

	out = tu_drain(x.c, &n);
	if (!x.failed) {
		nf = tu_parse_frames(out, n, f, 8);
		ck_assert_uint_eq(nf, 3);
		ck_assert_int_eq(f[0].op, OP_PONG);
		ck_assert_uint_eq(f[0].len, 5);
		ck_assert_mem_eq(f[0].data, "ping?", 5);
		ck_assert_int_eq(f[1].op, OP_BIN);
		ck_assert_int_eq(f[1].fin, 1);
		ck_assert_uint_eq(f[1].len, REPLY_LEN);
		ck_assert(memcmp(f[1].data, reply, REPLY_LEN) == 0);
		ck_assert_int_eq(f[2].op, OP_CLOSE);
		ck_assert_uint_ge(f[2].len, 2);
		ck_assert_uint_eq((unsigned)f[2].data[0] << 8 | f[2].data[1],
		    1000);
		tu_free_frames(f, nf);
	}
	free(out);
	/* Everything is refused on a failed connection. */
	if (x.failed) {
		check_call(&x, ws_send(x.c, WS_OP_TEXT, "x", 1), WS_OK,
		    WS_E_STATE, &x.nomem_send, "ws_send");
		check_call(&x, ws_close(x.c, 1000, "", 0), WS_OK, WS_E_STATE,
		    &x.nomem_send, "ws_close");
		feed(&x, in->ping, in->pinglen, 0);
	}
done:
	calls = x.f.calls;
	run_finish(&x, t);
	return calls;
}

/* ------------------------------------------------------------ client */

struct rng {
	uint32_t s;
};

static int
det_random(uint8_t *buf, size_t len, void *ud)
{
	struct rng *r = ud;
	size_t i;

	for (i = 0; i < len; i++) {
		r->s = r->s * 1103515245u + 12345u;
		buf[i] = (uint8_t)(r->s >> 16);
	}
	return 0;
}

/* The value of header name in an HTTP head, or 0. */
static size_t
header_value(const uint8_t *p, size_t n, const char *name, char *out,
    size_t max)
{
	size_t nl = strlen(name), i = 0, j, k;

	while (i < n) {
		for (j = i; j < n && p[j] != '\r'; j++)
			;
		if (j == i)
			break;		/* end of head */
		if (j - i > nl && p[i + nl] == ':') {
			for (k = 0; k < nl; k++)
				if (tolower(p[i + k]) !=
				    tolower((unsigned char)name[k]))
					break;
			if (k == nl) {
				k = i + nl + 1;
				while (k < j && (p[k] == ' ' || p[k] == '\t'))
					k++;
				while (j > k && (p[j - 1] == ' ' ||
				    p[j - 1] == '\t'))
					j--;
				ck_assert_uint_lt(j - k, max);
				memcpy(out, p + k, j - k);
				out[j - k] = '\0';
				return j - k;
			}
		}
		i = j + 2;
	}
	return 0;
}

struct client_input {
	uint8_t *frag;
	size_t fraglen;
	uint8_t ping[64];
	size_t pinglen;
	uint8_t close[64];
	size_t closelen;
};

static void
client_input(struct client_input *in)
{
	size_t n = 0;

	in->frag = malloc(MSG_LEN + 4 * 14);
	ck_assert_ptr_nonnull(in->frag);
	n += tu_server_frame(in->frag + n, OP_TEXT, msg, 30000);
	n += tu_server_frame(in->frag + n, 0x00, msg + 30000, 10000);
	n += tu_server_frame(in->frag + n, 0x00, msg + 40000, 0);
	n += tu_server_frame(in->frag + n, FIN | 0x00, msg + 40000,
	    MSG_LEN - 40000);
	in->fraglen = n;
	in->pinglen = tu_server_frame(in->ping, FIN | OP_PING, "srv", 3);
	in->closelen = tu_server_frame(in->close, FIN | OP_CLOSE,
	    "\x03\xe8" "bye", 5);
}

static long
run_client(long fail_at, int strict, const struct client_input *in,
    struct totals *t)
{
	static const char *const protos[] = { "chat" };
	struct ws_client_request req;
	struct run x;
	struct rng rng = { 12345 };
	struct tu_frame f[8];
	char key[64], accept[29], resp[512];
	uint8_t *out;
	size_t n, nf;
	long calls;
	int len;

	run_start(&x, fail_at, strict);
	if (!run_new(&x, WS_ROLE_CLIENT, t))
		return x.f.calls;
	ws_conn_set_random(x.c, det_random, &rng);

	memset(&req, 0, sizeof(req));
	req.host = "example.com:8080";
	req.target = "/chat?room=1";
	req.origin = "http://example.com";
	req.subprotocols = protos;
	req.nsubprotocols = 1;
	check_call(&x, ws_connect(x.c, &req), WS_OK, WS_E_STATE,
	    &x.nomem_other, "ws_connect");
	if (run_stop(&x))
		goto done;
	out = tu_drain(x.c, &n);
	strcpy(accept, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	if (!x.failed) {
		ck_assert(n > 4 && memcmp(out, "GET ", 4) == 0);
		ck_assert(header_value(out, n, "Sec-WebSocket-Key", key,
		    sizeof(key)) == 24);
		ws_accept_key(key, strlen(key), accept);
	}
	free(out);
	len = snprintf(resp, sizeof(resp),
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: chat\r\n"
	    "\r\n", accept);
	ck_assert(len > 0 && (size_t)len < sizeof(resp));

	if (feed(&x, resp, (size_t)len, 0)) {
		ck_assert_uint_eq(x.r.n, 1);
		ck_assert_int_eq(x.r.ev[0].type, WS_EV_RESPONSE);
		ck_assert_int_eq(ws_conn_state(x.c), WS_OPEN);
		ck_assert_int_eq(ws_http_status(x.c), 101);
		ck_assert_ptr_nonnull(ws_conn_subprotocol(x.c));
		ck_assert_str_eq(ws_conn_subprotocol(x.c), "chat");
	}
	if (run_stop(&x))
		goto done;
	if (feed(&x, in->frag, in->fraglen, 4096))
		expect_one(&x, WS_EV_TEXT, msg, MSG_LEN);
	if (run_stop(&x))
		goto done;
	if (feed(&x, in->ping, in->pinglen, 0))
		expect_one(&x, WS_EV_PING, "srv", 3);
	if (run_stop(&x))
		goto done;
	check_call(&x, ws_send(x.c, WS_OP_TEXT, msg, REPLY_LEN), WS_OK,
	    WS_E_STATE, &x.nomem_send, "ws_send");
	if (run_stop(&x))
		goto done;
	if (check_call(&x, ws_close(x.c, 1000, "bye", 3), WS_OK, WS_E_STATE,
	    &x.nomem_send, "ws_close")) {
		x.close_sent = 1000;
		ck_assert_int_eq(ws_conn_state(x.c), WS_CLOSING);
	}
	if (run_stop(&x))
		goto done;
	if (feed(&x, in->close, in->closelen, 0)) {
		expect_one(&x, WS_EV_CLOSE, "bye", 3);
		ck_assert_uint_eq(x.r.ev[0].code, 1000);
		ck_assert_int_eq(ws_conn_state(x.c), WS_CLOSED);
		ck_assert_int_eq(ws_close_expected(x.c), 1);
	}
	if (run_stop(&x))
		goto done;

	out = tu_drain(x.c, &n);
	if (!x.failed) {
		/* The request head was drained before: frames only. */
		nf = tu_parse_frames(out, n, f, 8);
		ck_assert_uint_eq(nf, 3);
		ck_assert_int_eq(f[0].op, OP_PONG);
		ck_assert_int_eq(f[0].masked, 1);
		ck_assert_mem_eq(f[0].data, "srv", 3);
		ck_assert_int_eq(f[1].op, OP_TEXT);
		ck_assert_int_eq(f[1].masked, 1);
		ck_assert_uint_eq(f[1].len, REPLY_LEN);
		ck_assert(memcmp(f[1].data, msg, REPLY_LEN) == 0);
		ck_assert_int_eq(f[2].op, OP_CLOSE);
		ck_assert_int_eq(f[2].masked, 1);
		ck_assert_uint_eq(f[2].len, 5);
		ck_assert_mem_eq(f[2].data, "\x03\xe8" "bye", 5);
		tu_free_frames(f, nf);
	}
	free(out);
	if (x.failed) {
		check_call(&x, ws_send(x.c, WS_OP_BINARY, "x", 1), WS_OK,
		    WS_E_STATE, &x.nomem_send, "ws_send");
		feed(&x, in->ping, in->pinglen, 0);
	}
done:
	calls = x.f.calls;
	run_finish(&x, t);
	return calls;
}

/* ------------------------------------------------------------- tests */

typedef long (*scenario_fn)(long, int, const void *, struct totals *);

static long
server_scenario(long fail_at, int strict, const void *in, struct totals *t)
{
	return run_server(fail_at, strict, in, t);
}

static long
client_scenario(long fail_at, int strict, const void *in, struct totals *t)
{
	return run_client(fail_at, strict, in, t);
}

/* Run a scenario with each allocation in turn failing. */
static void
every_allocation(scenario_fn fn, const void *in, int strict, const char *name)
{
	struct totals t;
	long n, k, calls;

	memset(&t, 0, sizeof(t));
	violations[0] = '\0';
	nviolations = 0;
	n = fn(0, strict, in, &t);
	ck_assert_int_eq(t.failed_runs, 0);
	ck_assert_int_gt(n, 0);
	for (k = 1; k <= n + 1; k++) {
		calls = fn(k, strict, in, &t);
		/* The runs are deterministic up to the failure. */
		if (k <= n)
			ck_assert_msg(calls >= k, "fail_at %ld: only %ld calls",
			    k, calls);
		else
			ck_assert_int_eq(calls, n);
	}
	fprintf(stderr, "%s%s: %ld allocations; WS_E_NOMEM from ws_recv %d, "
	    "ws_send/ws_close %d, handshake %d; ws_conn_new NULL %d\n", name,
	    strict ? " (strict)" : "", n, t.nomem_recv, t.nomem_send,
	    t.nomem_other, t.conn_null);
	ck_assert_msg(nviolations == 0, "%s: %d times the connection was not "
	    "failed after WS_E_NOMEM:%s", name, nviolations, violations);
	ck_assert_int_eq(t.runs, n + 2);
	/* The injection reached the message paths. */
	ck_assert_int_gt(t.nomem_recv + t.nomem_send, 0);
	/* ws_conn_new cannot go on without the connection's own memory. */
	ck_assert_int_gt(t.conn_null, 0);
}

/* A caller that follows the contract: no crash, no leak. */
START_TEST(test_alloc_server)
{
	struct server_input in;

	init_data();
	server_input(&in);
	every_allocation(server_scenario, &in, 0, "server");
	free(in.frag);
}
END_TEST

START_TEST(test_alloc_client)
{
	struct client_input in;

	init_data();
	client_input(&in);
	every_allocation(client_scenario, &in, 0, "client");
	free(in.frag);
}
END_TEST

/*
 * The same, going on after WS_E_NOMEM: the connection must be failed
 * (CLOSED, close expected, at most a 1011 close queued) and refuse
 * everything afterwards (ws.h, resource class).
 */
START_TEST(test_alloc_server_failed_state)
{
	struct server_input in;

	init_data();
	server_input(&in);
	every_allocation(server_scenario, &in, 1, "server");
	free(in.frag);
}
END_TEST

START_TEST(test_alloc_client_failed_state)
{
	struct client_input in;

	init_data();
	client_input(&in);
	every_allocation(client_scenario, &in, 1, "client");
	free(in.frag);
}
END_TEST

/* With the allocator but no failure, the scenario is the plain one. */
START_TEST(test_alloc_no_failure)
{
	struct server_input sin;
	struct client_input cin;
	struct totals t;
	long a, b;

	init_data();
	server_input(&sin);
	client_input(&cin);
	memset(&t, 0, sizeof(t));
	a = run_server(0, 1, &sin, &t);
	b = run_server(0, 1, &sin, &t);
	ck_assert_int_eq(a, b);
	a = run_client(0, 1, &cin, &t);
	b = run_client(0, 1, &cin, &t);
	ck_assert_int_eq(a, b);
	ck_assert_int_eq(t.runs, 4);
	ck_assert_int_eq(t.failed_runs, 0);
	ck_assert_int_eq(t.nomem_recv + t.nomem_send + t.nomem_other, 0);
	free(sin.frag);
	free(cin.frag);
}
END_TEST

static Suite *
alloc_suite(void)
{
	Suite *su = suite_create("ws_alloc");
	TCase *tc;

	tc = tcase_create("failmalloc");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_alloc_no_failure);
	tcase_add_test(tc, test_alloc_server);
	tcase_add_test(tc, test_alloc_client);
	tcase_add_test(tc, test_alloc_server_failed_state);
	tcase_add_test(tc, test_alloc_client_failed_state);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	SRunner *sr = srunner_create(alloc_suite());
	int nfailed;

	srunner_run_all(sr, CK_NORMAL);
	nfailed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
