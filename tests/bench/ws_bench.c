/*
 * ws_bench - server-role parsing of masked frames (parse, unmask, UTF-8
 * validation of text, event delivery) against memcpy of the same buffers.
 *
 * For each payload size a buffer of back-to-back masked frames (about
 * 8 MiB, at least 4 frames) is built once.  Each round copies it into a
 * work buffer (timed: the memcpy figure) and feeds the copy to ws_recv()
 * (timed: the parse figure).  The best round of several is reported.
 * Not part of "make check": run "make bench".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "ws.h"

static const char request[] =
    "GET /bench HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct ws_conn *
open_server(const struct ws_limits *l)
{
	struct ws_conn *c = ws_conn_new(WS_ROLE_SERVER, l, NULL);
	struct ws_response resp;
	struct ws_event ev;
	uint8_t buf[sizeof(request)];
	size_t n;

	memcpy(buf, request, sizeof(request) - 1);
	if (c == NULL || ws_recv(c, buf, sizeof(request) - 1, &ev) !=
	    (ssize_t)sizeof(request) - 1 || ev.type != WS_EV_REQUEST) {
		fprintf(stderr, "ws_bench: handshake failed\n");
		exit(1);
	}
	ws_response_init(&resp);
	if (ws_accept(c, &resp) != WS_OK) {
		fprintf(stderr, "ws_bench: accept failed\n");
		exit(1);
	}
	ws_output(c, &n);
	ws_output_consume(c, n);
	return c;
}

/* Fill p with text: ASCII, or 1 in 8 characters two-byte (U+00E9). */
static void
fill(uint8_t *p, size_t n, int mixed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (mixed && i % 16 == 8 && i + 1 < n) {
			p[i++] = 0xc3;
			p[i] = 0xa9;
		} else
			p[i] = (uint8_t)('a' + i % 26);
	}
}

struct point {
	size_t size;
	int op;
	int mixed;
	const char *what;
};

static int
run(const struct point *pt, int rounds)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	struct ws_limits l;
	size_t target = 8 << 20, nframes, flen, total, i, off;
	uint8_t *src, *work, *payload;
	double best_parse = 1e9, best_copy = 1e9, t0, t1, t2;
	unsigned long long events = 0, bytes = 0;
	int r;

	ws_limits_default(&l);
	l.max_message_size = l.max_frame_size = 2 << 20;
	flen = ws_frame_header_len(pt->size, 1) + pt->size;
	nframes = target / flen < 4 ? 4 : target / flen;
	total = nframes * flen;
	src = malloc(total);
	work = malloc(total);
	payload = malloc(pt->size);
	if (src == NULL || work == NULL || payload == NULL)
		return -1;
	fill(payload, pt->size, pt->mixed);
	for (i = 0, off = 0; i < nframes; i++) {
		off += ws_frame_header(src + off, (unsigned)pt->op, 1, 0,
		    pt->size, key);
		memcpy(src + off, payload, pt->size);
		ws_mask(src + off, pt->size, key, 0);
		off += pt->size;
	}
	for (r = 0; r < rounds; r++) {
		struct ws_conn *c = open_server(&l);
		uint8_t *p = work;
		size_t left = total;

		t0 = now();
		memcpy(work, src, total);
		t1 = now();
		while (left > 0) {
			struct ws_event ev;
			ssize_t n = ws_recv(c, p, left, &ev);

			if (n < 0) {
				fprintf(stderr, "ws_bench: ws_recv: %s\n",
				    ws_strstatus((int)n));
				return -1;
			}
			p += n;
			left -= (size_t)n;
			if (ev.type == WS_EV_TEXT || ev.type == WS_EV_BINARY) {
				events++;
				bytes += ev.len;
			}
		}
		t2 = now();
		ws_conn_free(c);
		if (t1 - t0 < best_copy)
			best_copy = t1 - t0;
		if (t2 - t1 < best_parse)
			best_parse = t2 - t1;
	}
	if (events != (unsigned long long)nframes * (unsigned)rounds ||
	    bytes != events * pt->size) {
		fprintf(stderr, "ws_bench: lost frames\n");
		return -1;
	}
	printf("%8zu  %-12s %9.0f %12.0f %11.0f %7.2f\n", pt->size, pt->what,
	    (double)total / best_parse / 1e6, (double)nframes / best_parse,
	    (double)total / best_copy / 1e6, best_copy / best_parse);
	free(src);
	free(work);
	free(payload);
	return 0;
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 32, 1024, 65536, 1 << 20 };
	int rounds = argc > 1 ? atoi(argv[1]) : 15;
	size_t i;
	struct point pt;

	printf("server-role parse of masked frames, ~8 MiB of frames per "
	    "round, best of %d rounds\n", rounds);
	printf("%8s  %-12s %9s %12s %11s %7s\n", "payload", "type",
	    "parse MB/s", "frames/s", "memcpy MB/s", "ratio");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		pt.size = sizes[i];
		pt.op = WS_OP_TEXT;
		pt.mixed = 0;
		pt.what = "text ascii";
		if (run(&pt, rounds) != 0)
			return 1;
		pt.mixed = 1;
		pt.what = "text mixed";
		if (run(&pt, rounds) != 0)
			return 1;
		pt.op = WS_OP_BINARY;
		pt.mixed = 0;
		pt.what = "binary";
		if (run(&pt, rounds) != 0)
			return 1;
	}
	return 0;
}
