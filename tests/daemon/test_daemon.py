"""test_daemon.py - wsrelayd end to end: a real daemon, real sockets.

Run by tests/daemon/run.sh with Debian's /usr/bin/python3 and its
python3-websockets (10.x, asyncio API).  WSRELAYD names the binary.  Each
test class (or test) starts its own daemon on a free loopback port; every
wait is bounded and no assertion is about time.
"""
import asyncio
import base64
import os
import re
import signal
import socket
import ssl
import stat
import struct
import subprocess
import tempfile
import threading
import unittest
import zlib

import websockets

from daemonutil import (IO_TIMEOUT, TOP_SRCDIR, WSRELAYD, DaemonTestCase,
                        RawWS, arun, bounded, config_text, frame, free_port,
                        http_exchange, start_class_daemon, stop_class_daemon,
                        until_eof, upgrade_request)

CLOSE = 0x8
PING = 0x9
PONG = 0xa
TEXT = 0x1
BINARY = 0x2
CONT = 0x0


async def connect(url, **kw):
    """A websockets client: no compression, no pings, no size limit."""
    opts = dict(compression=None, ping_interval=None, max_size=None,
                close_timeout=5, open_timeout=IO_TIMEOUT)
    opts.update(kw)
    return await bounded(websockets.connect(url, **opts))


async def recv(ws, timeout=IO_TIMEOUT):
    return await bounded(ws.recv(), timeout)


async def close_code(ws):
    """Wait for the connection to end; the close code the server sent."""
    try:
        while True:
            await recv(ws)
    except websockets.ConnectionClosed:
        pass
    await bounded(ws.wait_closed())
    return ws.close_code


async def close_all(*conns):
    for ws in conns:
        await bounded(ws.close())


def backpressure_count():
    """16 KiB messages: several times what the sockets can buffer (the
    client's small buffers, the daemon's socket buffers: on loopback about
    5 MB with tcp_wmem's maximum at 4 MB)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 << 20
    return max(1500, 6 * wmem_max // 16384)


def pattern_text(n):
    return "".join(chr(0x61 + (i * 7) % 26) for i in range(n))


def pattern_bytes(n):
    return bytes((i * 31 + 7) & 0xff for i in range(n))


def check_backpressure(tc, port, ssl=None, server_hostname=None):
    """The client sends far more than any buffers hold and reads nothing:
    the daemon must stop reading it (its own output is over the high
    watermark) instead of queueing without bound; once the client reads,
    every message comes back, in order.  ssl: over TLS with that context.
    """
    n, size = backpressure_count(), 16384

    async def go():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.settimeout(IO_TIMEOUT)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        r, w = await bounded(asyncio.open_connection(
            sock=sock, ssl=ssl, server_hostname=server_hostname))
        req, _ = upgrade_request(port, "/echo")
        w.write(req)
        head = await bounded(r.readuntil(b"\r\n\r\n"))
        tc.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)

        async def writer():
            for i in range(n):
                w.write(frame(BINARY, struct.pack("!I", i) +
                              pattern_bytes(size - 4)))
                await w.drain()
        wt = asyncio.ensure_future(writer())
        # With backpressure the writer cannot finish until we read, so
        # this wait can only make the test pass wrongly (on a machine so
        # slow the writer is still busy), never fail wrongly.
        done, _ = await asyncio.wait([wt], timeout=1.0)
        blocked = wt not in done
        body = pattern_bytes(size - 4)
        for i in range(n):
            hdr = await bounded(r.readexactly(4))
            tc.assertEqual(hdr[:2], b"\x82\x7e")
            ln = struct.unpack("!H", hdr[2:])[0]
            tc.assertEqual(ln, size)
            payload = await bounded(r.readexactly(ln))
            tc.assertEqual(struct.unpack("!I", payload[:4])[0], i)
            tc.assertTrue(payload[4:] == body)
        await bounded(wt)
        w.write(frame(CLOSE, struct.pack("!H", 1000)))
        closing = await bounded(r.readexactly(4))
        tc.assertEqual(closing, b"\x88\x02\x03\xe8")
        w.close()
        return blocked
    tc.assertTrue(arun(go()), "the writer was never held back")


# ------------------------------------------------------------------- echo

class EchoTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        start_class_daemon(cls, lambda port: config_text(
            port, '{ path = "/echo"; handler = "echo"; }'))

    @classmethod
    def tearDownClass(cls):
        stop_class_daemon(cls)

    def roundtrip(self, messages):
        async def go():
            ws = await connect(self.d.url("/echo"))
            got = []
            for m in messages:
                await bounded(ws.send(m))
                got.append(await recv(ws))
            await close_all(ws)
            return got
        got = arun(go())
        for m, g in zip(messages, got):
            self.assertIs(type(g), type(m))
            self.assertEqual(len(g), len(m))
            self.assertEqual(g, m)

    def test_text(self):
        self.roundtrip(["hello", "h\u00e9llo w\u00f6rld \u20ac \U0001f600"])

    def test_binary(self):
        self.roundtrip([b"\x00\x01\x02\xff", bytes(range(256))])

    def test_empty_text(self):
        self.roundtrip([""])

    def test_empty_binary(self):
        self.roundtrip([b""])

    def test_lengths_7_16_64_bit(self):
        for n in (125, 126, 127, 65535, 65536, 1024 * 1024 - 1):
            with self.subTest(length=n):
                self.roundtrip([pattern_bytes(n), pattern_text(n)])

    def test_fragmented_list(self):
        async def go():
            ws = await connect(self.d.url("/echo"))
            await bounded(ws.send(["hel", "lo ", "", "w\u00f6rld"]))
            t = await recv(ws)
            await bounded(ws.send([b"\x00\x01", b"", b"\x02" * 70000]))
            b = await recv(ws)
            await close_all(ws)
            return t, b
        t, b = arun(go())
        self.assertEqual(t, "hello w\u00f6rld")
        self.assertEqual(b, b"\x00\x01" + b"\x02" * 70000)

    def test_fragmented_async_iterator(self):
        async def frags():
            for i in range(10):
                yield pattern_bytes(1000 + i)

        async def go():
            ws = await connect(self.d.url("/echo"))
            await bounded(ws.send(frags()))
            b = await recv(ws)
            await close_all(ws)
            return b
        b = arun(go())
        self.assertEqual(b, b"".join(pattern_bytes(1000 + i)
                                     for i in range(10)))

    def test_fragmented_raw_utf8_split(self):
        # A UTF-8 sequence split across fragments is fine (RFC 6455 5.6).
        raw = RawWS(self.d.port, "/echo")
        try:
            e = "\u20ac".encode()
            raw.send(frame(TEXT, b"a" + e[:1], fin=False))
            raw.send(frame(PING, b"mid"))   # control between fragments
            raw.send(frame(CONT, e[1:] + b"b", fin=True))
            self.assertEqual(raw.read_frame(), (True, PONG, b"mid"))
            self.assertEqual(raw.read_frame(), (True, TEXT, b"a" + e + b"b"))
            raw.send(frame(CLOSE, struct.pack("!H", 1000)))
            fin, op, payload = raw.read_frame()
            self.assertEqual((op, payload[:2]), (CLOSE, b"\x03\xe8"))
            self.assertTrue(raw.at_eof())
        finally:
            raw.close()

    def test_100_messages_in_order(self):
        async def go():
            ws = await connect(self.d.url("/echo"))
            for i in range(100):
                await bounded(ws.send("message %d" % i if i % 2 else
                                      b"message %d" % i))
            got = [await recv(ws) for _ in range(100)]
            await close_all(ws)
            return got
        got = arun(go())
        self.assertEqual(got, ["message %d" % i if i % 2 else
                               b"message %d" % i for i in range(100)])

    def test_exactly_max_message_size(self):
        self.roundtrip([pattern_bytes(1024 * 1024)])

    def test_over_max_message_size_1009(self):
        # Default limits: 1 MiB.  Only the header of 1 MiB + 1 (64-bit
        # length) is sent; the close comes before any payload.
        raw = RawWS(self.d.port, "/echo")
        try:
            raw.send(frame(BINARY, length=1024 * 1024 + 1)[:14])
            fin, op, payload = raw.read_frame()
            self.assertEqual((fin, op), (True, CLOSE))
            self.assertEqual(struct.unpack("!H", payload[:2])[0], 1009)
            self.assertTrue(raw.at_eof())
        finally:
            raw.close()

    def test_backpressure(self):
        check_backpressure(self, self.d.port)

    def test_close_handshake(self):
        async def go():
            ws = await connect(self.d.url("/echo"))
            await bounded(ws.close(1000, "bye"))
            return ws.close_code
        self.assertEqual(arun(go()), 1000)


# -------------------------------------------------------------- broadcast

BROADCAST_ROUTES = '''
  { path = "/chat/*"; handler = "broadcast"; room = "path";
    include_sender = false; },
  { path = "/all/*"; handler = "broadcast"; room = "path";
    include_sender = true; },
  { path = "/one/*"; handler = "broadcast"; }
'''


class BroadcastTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        start_class_daemon(cls, lambda port: config_text(
            port, BROADCAST_ROUTES))

    @classmethod
    def tearDownClass(cls):
        stop_class_daemon(cls)

    def rooms(self, hello, mark_a, mark_b, from_a2, from_b2):
        async def go():
            a1, a2, a3 = [await connect(self.d.url("/chat/a"))
                          for _ in range(3)]
            b1, b2 = [await connect(self.d.url("/chat/b"))
                      for _ in range(2)]
            await bounded(a1.send(hello))
            r = {"a2": [await recv(a2)], "a3": [await recv(a3)]}
            await bounded(b1.send(mark_b))
            r["b2"] = [await recv(b2)]
            await bounded(a1.send(mark_a))
            # The next thing /chat/a sees is mark_a: nothing from /chat/b
            # came in between.
            r["a2"].append(await recv(a2))
            r["a3"].append(await recv(a3))
            # Had a sender got its own messages, they would come first.
            await bounded(a2.send(from_a2))
            r["a1"] = [await recv(a1)]
            r["a3"].append(await recv(a3))
            await bounded(b2.send(from_b2))
            r["b1"] = [await recv(b1)]
            await close_all(a1, a2, a3, b1, b2)
            return r
        r = arun(go())
        self.assertEqual(r["a2"], [hello, mark_a])
        self.assertEqual(r["a3"], [hello, mark_a, from_a2])
        self.assertEqual(r["b2"], [mark_b])
        self.assertEqual(r["a1"], [from_a2])
        self.assertEqual(r["b1"], [from_b2])
        for k, v in r.items():
            for m in v:
                self.assertIs(type(m), type(hello), k)

    def test_rooms_by_path_text(self):
        self.rooms("hello", "mark-a", "mark-b", "from-a2", "from-b2")

    def test_rooms_by_path_binary(self):
        self.rooms(b"\x00hello\xff", b"mark-a", b"mark-b", b"from-a2",
                   b"from-b2")

    def test_include_sender(self):
        async def go():
            c1 = await connect(self.d.url("/all/x"))
            c2 = await connect(self.d.url("/all/x"))
            await bounded(c1.send("t\u00e9xt"))
            got = [await recv(c1), await recv(c2)]
            await bounded(c2.send(b"\x01\x02"))
            got += [await recv(c1), await recv(c2)]
            await close_all(c1, c2)
            return got
        got = arun(go())
        self.assertEqual(got, ["t\u00e9xt", "t\u00e9xt", b"\x01\x02",
                               b"\x01\x02"])

    def test_include_sender_alone(self):
        async def go():
            c1 = await connect(self.d.url("/all/alone"))
            await bounded(c1.send("me"))
            got = await recv(c1)
            await close_all(c1)
            return got
        self.assertEqual(arun(go()), "me")

    def test_room_route_spans_paths(self):
        # room = "route" (the default): /one/x and /one/y are one room.
        async def go():
            c1 = await connect(self.d.url("/one/x"))
            c2 = await connect(self.d.url("/one/y"))
            await bounded(c1.send("across"))
            got = await recv(c2)
            await close_all(c1, c2)
            return got
        self.assertEqual(arun(go()), "across")

    def test_large_message(self):
        async def go():
            c1 = await connect(self.d.url("/chat/big"))
            c2 = await connect(self.d.url("/chat/big"))
            msg = pattern_bytes(300000)
            await bounded(c1.send(msg))
            got = await recv(c2)
            await close_all(c1, c2)
            return msg, got
        msg, got = arun(go())
        self.assertEqual(got, msg)


# ---------------------------------------------------------- slow consumer

MSG_SIZE = 4096
WINDOW = 8              # WINDOW * MSG_SIZE is well below max_output
MAX_OUTPUT = 65536
SLOW_RCVBUF = 4096


def slow_count():
    """Messages enough to overflow whatever the kernel can buffer for the
    client that never reads (its receive buffer, the daemon's socket send
    buffer, at most tcp_wmem's maximum) and the daemon's max_output, twice
    over: that client must then miss messages."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 << 20
    absorb = wmem_max + 4 * SLOW_RCVBUF + MAX_OUTPUT
    return max(2000, 2 * absorb // MSG_SIZE + 1)


N_SLOW = slow_count()


def slow_message(i):
    return "%08d:" % i + "x" * (MSG_SIZE - 9)


def slow_config(policy):
    return lambda port: config_text(port, '''
  { path = "/slow"; handler = "broadcast"; include_sender = false;
    max_output = %d; slow_policy = "%s";
    limits = { output_high_watermark = 65536;
               output_low_watermark = 16384; }; }
''' % (MAX_OUTPUT, policy),
        limits="close_timeout = 60; shutdown_timeout = 5;")


async def fast_feed(d):
    """A sender and a fast receiver in /slow: N_SLOW messages.

    The sender stays at most WINDOW messages ahead of the fast receiver,
    so the fast receiver's queue in the daemon stays far below max_output
    whatever the scheduling: it must get every message.
    """
    sender = await connect(d.url("/slow"))
    fast = await connect(d.url("/slow"), max_queue=None)
    got = []
    for base in range(0, N_SLOW, WINDOW):
        batch = [slow_message(i)
                 for i in range(base, min(base + WINDOW, N_SLOW))]
        for m in batch:
            await bounded(sender.send(m))
        for m in batch:
            got.append(await recv(fast))
    await close_all(sender, fast)
    return got


def slow_frames(raw, n):
    """Read n data frames from the slow client: their message numbers."""
    seen = []
    for _ in range(n):
        fin, op, payload = raw.read_frame()
        if (fin, op) != (True, TEXT):
            raise AssertionError("frame %d: fin %s opcode %d %r"
                                 % (len(seen), fin, op, payload[:40]))
        if payload != slow_message(int(payload[:8])).encode():
            raise AssertionError("frame %d: bad payload %r"
                                 % (len(seen), payload[:40]))
        seen.append(int(payload[:8]))
    return seen


class SlowConsumerDropTest(DaemonTestCase):
    def test_drop(self):
        d = self.start_daemon(slow_config("drop"), "wsrelayd-drop")
        slow = RawWS(d.port, "/slow", rcvbuf=SLOW_RCVBUF)   # never reads
        try:
            got = arun(fast_feed(d))
            self.assertEqual(len(got), N_SLOW)
            self.assertTrue(got == [slow_message(i) for i in range(N_SLOW)],
                            "the fast receiver lost or reordered messages")
            st = d.stats()
            dropped = st["dropped_messages"]
            self.assertGreater(dropped, 0, st)
            self.assertLess(dropped, N_SLOW, st)
            self.assertEqual(st["slow_closed"], 0, st)
            # Every message was either queued to the slow client or
            # dropped: it now reads the others, whole and in order.
            seen = slow_frames(slow, N_SLOW - dropped)
            self.assertEqual(seen, sorted(set(seen)))
            self.assertEqual(seen[:10], list(range(10)))
        finally:
            slow.close()


class SlowConsumerCloseTest(DaemonTestCase):
    def test_close(self):
        d = self.start_daemon(slow_config("close"), "wsrelayd-close")
        slow = RawWS(d.port, "/slow", rcvbuf=SLOW_RCVBUF)   # never reads
        try:
            got = arun(fast_feed(d))
            self.assertEqual(len(got), N_SLOW)
            self.assertTrue(got == [slow_message(i) for i in range(N_SLOW)],
                            "the fast receiver lost or reordered messages")
            st = d.stats()
            self.assertEqual(st["slow_closed"], 1, st)
            self.assertEqual(st["dropped_messages"], 0, st)
            # Now read: the messages queued before the limit, in order and
            # none missing, then a close frame with 1008 (or a reset, had
            # the daemon given up).
            seen = []
            code = None
            try:
                while True:
                    fin, op, payload = slow.read_frame()
                    if op == CLOSE:
                        code = struct.unpack("!H", payload[:2])[0]
                        break
                    self.assertEqual((fin, op), (True, TEXT))
                    seen.append(int(payload[:8]))
            except ConnectionResetError:
                pass
            self.assertEqual(seen, list(range(len(seen))))
            self.assertLess(len(seen), N_SLOW)
            if code is not None:
                self.assertEqual(code, 1008)
                slow.send(frame(CLOSE, struct.pack("!H", 1008)))
                self.assertTrue(slow.at_eof())
        finally:
            slow.close()


# ---------------------------------------------------------------- backend

class Backends:
    """TCP services for the backend handler, on a thread's event loop.
    With an ssl context, "tlsecho" is the echo service over TLS."""

    def __init__(self, ssl=None):
        self.ssl = ssl
        self.names = ["echo", "line", "closer", "reset", "junk"]
        if ssl is not None:
            self.names.append("tlsecho")
        self.ports = {k: free_port() for k in self.names}
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(IO_TIMEOUT) or self.error is not None:
            raise AssertionError("backends did not start: %r" % self.error)

    async def _echo(self, r, w):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                w.write(data)
                await w.drain()
        finally:
            w.close()

    async def _line(self, r, w):
        try:
            while True:
                line = await r.readline()
                if not line:
                    break
                if line == b"two\n":
                    w.write(b"ONE\r\nTWO\n")   # two lines, one write
                else:
                    w.write(line.upper())
                await w.drain()
        finally:
            w.close()

    async def _closer(self, r, w):
        w.close()

    async def _reset(self, r, w):
        # After the first bytes: reset the connection (RST, not FIN).
        await r.read(1)
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        w.transport.abort()

    async def _junk(self, r, w):
        # Bytes that are not UTF-8, then a line too long.
        line = await r.readline()
        if line == b"bad\n":
            w.write(b"\xff\xfe\n")
        else:
            w.write(b"y" * 5000)
        await w.drain()
        await r.read(1)
        w.close()

    @staticmethod
    def quiet(service):
        """The daemon may reset a backend connection: not an error here."""
        async def run(r, w):
            try:
                await service(r, w)
            except (ConnectionError, ssl.SSLError):
                w.close()
        return run

    async def _start(self):
        self.servers = []
        for name in self.names:
            tls = name.startswith("tls")
            self.servers.append(await asyncio.start_server(
                self.quiet(getattr(self, "_" + name[3 if tls else 0:])),
                "127.0.0.1", self.ports[name],
                ssl=self.ssl if tls else None))

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except Exception as e:   # reported by __init__
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        for s in self.servers:
            s.close()
        self.loop.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(IO_TIMEOUT)


class BackendsTestCase(DaemonTestCase):
    """A class daemon whose routes lead to test services: cls.b."""

    @classmethod
    def start_with_backends(cls, make_routes, ssl=None):
        """make_routes(ports) is the routes' text."""
        cls.b = Backends(ssl)
        try:
            routes = make_routes(cls.b.ports)
            start_class_daemon(cls, lambda port: config_text(port, routes))
        except BaseException:
            cls.b.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            stop_class_daemon(cls)
        finally:
            cls.b.stop()


class BackendTest(BackendsTestCase):
    @classmethod
    def setUpClass(cls):
        dead = free_port()   # nothing listens there
        cls.start_with_backends(lambda ports: '''
  { path = "/bin"; handler = "backend"; backend = "127.0.0.1:%(echo)d";
    mode = "binary"; },
  { path = "/text"; handler = "backend"; backend = "127.0.0.1:%(echo)d";
    mode = "text"; },
  { path = "/line"; handler = "backend"; backend = "127.0.0.1:%(line)d";
    mode = "line"; },
  { path = "/closer"; handler = "backend";
    backend = "127.0.0.1:%(closer)d"; },
  { path = "/dead"; handler = "backend"; backend = "127.0.0.1:%(dead)d";
    connect_timeout = 5; },
  { path = "/reset"; handler = "backend"; backend = "127.0.0.1:%(reset)d";
  },
  { path = "/junktext"; handler = "backend";
    backend = "127.0.0.1:%(junk)d"; mode = "text"; },
  { path = "/junkline"; handler = "backend";
    backend = "127.0.0.1:%(junk)d"; mode = "line"; max_line = 1000; }
''' % dict(ports, dead=dead))

    async def collect(self, ws, total):
        """Messages until their payloads add up to total bytes/chars."""
        msgs, n = [], 0
        while n < total:
            m = await recv(ws)
            msgs.append(m)
            n += len(m)
        return msgs

    def test_binary_roundtrip(self):
        data = os.urandom(200000)

        async def go():
            ws = await connect(self.d.url("/bin"))
            await bounded(ws.send(b"\x00abc\xff"))
            first = await self.collect(ws, 5)
            await bounded(ws.send(data))
            msgs = await self.collect(ws, len(data))
            await close_all(ws)
            return first, msgs
        first, msgs = arun(go())
        self.assertEqual(b"".join(first), b"\x00abc\xff")
        self.assertEqual(b"".join(msgs), data)
        for m in first + msgs:
            self.assertIs(type(m), bytes)

    def test_text_roundtrip(self):
        # Multi-byte characters across the daemon's reads: each message
        # must hold whole UTF-8 sequences (else the client fails 1007).
        text = "h\u00e9llo \u20ac\U0001f600" * 15000

        async def go():
            ws = await connect(self.d.url("/text"))
            await bounded(ws.send("hello"))
            first = await self.collect(ws, 5)
            await bounded(ws.send(text))
            msgs = await self.collect(ws, len(text))
            await close_all(ws)
            return first, msgs
        first, msgs = arun(go())
        self.assertEqual("".join(first), "hello")
        self.assertEqual("".join(msgs), text)
        for m in first + msgs:
            self.assertIs(type(m), str)

    def test_line_mode(self):
        async def go():
            ws = await connect(self.d.url("/line"))
            await bounded(ws.send("hello"))
            a = await recv(ws)
            await bounded(ws.send("two"))
            b = [await recv(ws), await recv(ws)]
            await bounded(ws.send(b"bytes too"))
            c = await recv(ws)
            await close_all(ws)
            return a, b, c
        a, b, c = arun(go())
        self.assertEqual(a, "HELLO")
        self.assertEqual(b, ["ONE", "TWO"])
        self.assertEqual(c, "BYTES TOO")

    def test_line_mode_newline_in_message(self):
        async def go():
            ws = await connect(self.d.url("/line"))
            await bounded(ws.send("a\nb"))
            return await close_code(ws)
        self.assertEqual(arun(go()), 1003)

    def test_backend_closes(self):
        async def go():
            ws = await connect(self.d.url("/closer"))
            return await close_code(ws)
        self.assertEqual(arun(go()), 1000)

    def test_backend_reset_1011(self):
        async def go():
            ws = await connect(self.d.url("/reset"))
            await bounded(ws.send(b"x"))
            return await close_code(ws)
        self.assertEqual(arun(go()), 1011)

    def test_text_mode_invalid_utf8_1014(self):
        async def go():
            ws = await connect(self.d.url("/junktext"))
            await bounded(ws.send("bad\n"))
            return await close_code(ws)
        self.assertEqual(arun(go()), 1014)

    def test_line_mode_invalid_utf8_1014(self):
        async def go():
            ws = await connect(self.d.url("/junkline"))
            await bounded(ws.send("bad"))
            return await close_code(ws)
        self.assertEqual(arun(go()), 1014)

    def test_line_mode_line_too_long_1009(self):
        async def go():
            ws = await connect(self.d.url("/junkline"))
            await bounded(ws.send("long"))
            return await close_code(ws)
        self.assertEqual(arun(go()), 1009)

    def test_backend_refused_502(self):
        async def go():
            try:
                ws = await connect(self.d.url("/dead"))
            except websockets.InvalidStatusCode as e:
                return e.status_code
            await close_all(ws)
            return 101
        self.assertEqual(arun(go()), 502)


# ------------------------------------------------------------- handshakes


class BackendModeBySubprotocolTest(BackendsTestCase):
    """mode = "subprotocol": websockify's binary and base64, chosen by the
    client's subprotocol."""

    @classmethod
    def setUpClass(cls):
        cls.start_with_backends(lambda ports: '''
  { path = "/vnc"; handler = "backend"; backend = "127.0.0.1:%(echo)d";
    mode = "subprotocol"; subprotocols = [ "binary", "base64" ];
    require_subprotocol = true; },
  { path = "/b64"; handler = "backend"; backend = "127.0.0.1:%(echo)d";
    mode = "base64"; }
''' % ports)

    def roundtrip(self, path, offer, chunks, encode):
        async def go():
            ws = await asyncio.wait_for(websockets.connect(
                self.d.url(path), subprotocols=offer), 10)
            try:
                for c in chunks:
                    await asyncio.wait_for(
                        ws.send(base64.b64encode(c).decode() if encode
                                else c), 10)
                want = sum(len(c) for c in chunks)
                got, types = b"", set()
                while len(got) < want:
                    m = await asyncio.wait_for(ws.recv(), 10)
                    types.add(type(m))
                    got += base64.b64decode(m) if isinstance(m, str) else m
                return ws.subprotocol, got, types
            finally:
                await asyncio.wait_for(ws.close(), 10)
        return arun(go())

    def test_base64_by_subprotocol(self):
        chunks = [os.urandom(n) for n in (1, 2, 3, 1000, 70001)]
        sp, got, types = self.roundtrip("/vnc", ["base64"], chunks, True)
        self.assertEqual(sp, "base64")
        self.assertEqual(got, b"".join(chunks))
        self.assertEqual(types, {str})

    def test_binary_by_subprotocol(self):
        chunks = [os.urandom(n) for n in (1, 5000)]
        sp, got, types = self.roundtrip("/vnc", ["binary", "base64"],
                                        chunks, False)
        self.assertEqual(sp, "binary")
        self.assertEqual(got, b"".join(chunks))
        self.assertEqual(types, {bytes})

    def test_base64_mode_refuses_bad_input(self):
        async def go(msg):
            ws = await asyncio.wait_for(websockets.connect(
                self.d.url("/b64")), 10)
            await asyncio.wait_for(ws.send(msg), 10)
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None
            return None
        self.assertEqual(arun(go("abc")), 1007)       # not 4k long
        self.assertEqual(arun(go("ab!?")), 1007)      # not base64
        self.assertEqual(arun(go(b"\x00\x01")), 1003)  # binary

class HandshakeTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        start_class_daemon(cls, lambda port: config_text(port, '''
  { path = "/echo"; handler = "echo"; },
  { path = "/pre/*"; handler = "echo"; }
''', limits="max_connections = 2;"))

    @classmethod
    def tearDownClass(cls):
        stop_class_daemon(cls)

    def status(self, path="/echo", **kw):
        req, _ = upgrade_request(self.d.port, path, **kw)
        st, headers, body, closed = http_exchange(self.d.port, req)
        return st, headers, closed

    def test_routing(self):
        for path, want in (("/echo", 101), ("/echo?x=1", 101),
                           ("/nope", 404), ("/echo/x", 404), ("/ech", 404),
                           ("/pre/", 101), ("/pre/a/b", 101),
                           ("/pre", 404), ("/", 404)):
            with self.subTest(path=path):
                if want == 101:
                    RawWS(self.d.port, path).close()
                else:
                    st, headers, closed = self.status(path)
                    self.assertEqual(st, want)
                    self.assertTrue(closed)

    def test_404(self):
        st, headers, closed = self.status("/unknown")
        self.assertEqual(st, 404)
        self.assertTrue(closed)

    def test_version_8_426(self):
        st, headers, closed = self.status(version="8")
        self.assertEqual(st, 426)
        self.assertEqual(headers.get("sec-websocket-version"), "13")
        self.assertTrue(closed)

    def test_missing_key_400(self):
        st, headers, closed = self.status(key=False)
        self.assertEqual(st, 400)
        self.assertTrue(closed)

    def test_head_too_large_431(self):
        st, headers, closed = self.status(
            extra="X-Big: %s\r\n" % ("a" * 9000))
        self.assertEqual(st, 431)
        self.assertTrue(closed)

    def test_post_405(self):
        req, _ = upgrade_request(self.d.port, "/echo")
        st, headers, body, closed = http_exchange(
            self.d.port, req.replace(b"GET ", b"POST ", 1))
        self.assertEqual(st, 405)
        self.assertEqual(headers.get("allow"), "GET")
        self.assertTrue(closed)

    def test_http_1_0_400(self):
        req, _ = upgrade_request(self.d.port, "/echo")
        st, headers, body, closed = http_exchange(
            self.d.port, req.replace(b"HTTP/1.1", b"HTTP/1.0", 1))
        self.assertEqual(st, 400)
        self.assertTrue(closed)

    def test_no_upgrade_header_400(self):
        req, _ = upgrade_request(self.d.port, "/echo")
        st, headers, body, closed = http_exchange(
            self.d.port, req.replace(b"Upgrade: websocket\r\n", b""))
        self.assertEqual(st, 400)
        self.assertTrue(closed)

    def test_bad_key_400(self):
        req, _ = upgrade_request(self.d.port, "/echo", key=False,
                                 extra="Sec-WebSocket-Key: c2hvcnQ=\r\n")
        st, headers, body, closed = http_exchange(self.d.port, req)
        self.assertEqual(st, 400)

    def test_too_many_headers_431(self):
        st, headers, closed = self.status(
            extra="".join("X-H%d: v\r\n" % i for i in range(101)))
        self.assertEqual(st, 431)
        self.assertTrue(closed)

    def test_max_connections_503(self):
        async def go():
            c1 = await connect(self.d.url("/echo"))
            c2 = await connect(self.d.url("/echo"))
            try:
                c3 = await connect(self.d.url("/echo"))
            except websockets.InvalidStatusCode as e:
                third = e.status_code
            else:
                third = 101
                await close_all(c3)
            # The open ones still work; once one leaves there is room.
            await bounded(c1.send("still"))
            still = await recv(c1)
            await close_all(c2)
            c4 = await connect(self.d.url("/echo"))
            await bounded(c4.send("room"))
            room = await recv(c4)
            await close_all(c1, c4)
            return third, still, room
        self.assertEqual(arun(go()), (503, "still", "room"))


# ----------------------------------------------------- protocol violations

class ProtocolTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        start_class_daemon(cls, lambda port: config_text(
            port, '{ path = "/echo"; handler = "echo"; }',
            limits="max_message_size = 1000;"))

    @classmethod
    def tearDownClass(cls):
        stop_class_daemon(cls)

    def violation(self, *frames):
        raw = RawWS(self.d.port, "/echo")
        try:
            for f in frames:
                raw.send(f)
            fin, op, payload = raw.read_frame()
            self.assertEqual((fin, op), (True, CLOSE),
                             "expected a close frame, got %r" % payload)
            self.assertGreaterEqual(len(payload), 2)
            code = struct.unpack("!H", payload[:2])[0]
            self.assertTrue(raw.at_eof())
            return code
        finally:
            raw.close()

    def test_unmasked_1002(self):
        self.assertEqual(self.violation(frame(TEXT, b"hi", mask=False)),
                         1002)

    def test_reserved_bits_1002(self):
        self.assertEqual(self.violation(frame(TEXT, b"hi", rsv=4)), 1002)

    def test_invalid_utf8_1007(self):
        self.assertEqual(self.violation(frame(TEXT, b"\xff")), 1007)

    def test_too_big_1009_before_payload(self):
        # Only the header (and mask) claiming 2000 bytes: the close must
        # come without the payload ever being sent.
        self.assertEqual(self.violation(frame(BINARY, length=2000)[:8]),
                         1009)

    def test_fragments_too_big_1009(self):
        self.assertEqual(self.violation(
            frame(BINARY, b"a" * 600, fin=False),
            frame(CONT, b"b" * 600, fin=True)), 1009)

    def test_ping_pong_and_limit_ok(self):
        raw = RawWS(self.d.port, "/echo")
        try:
            raw.send(frame(PING, b"abc"))
            self.assertEqual(raw.read_frame(), (True, PONG, b"abc"))
            raw.send(frame(BINARY, b"z" * 1000))   # exactly the limit
            self.assertEqual(raw.read_frame(), (True, BINARY, b"z" * 1000))
            raw.send(frame(CLOSE, struct.pack("!H", 1000) + b"done"))
            fin, op, payload = raw.read_frame()
            self.assertEqual(op, CLOSE)
            self.assertEqual(struct.unpack("!H", payload[:2])[0], 1000)
            self.assertTrue(raw.at_eof())
        finally:
            raw.close()


# --------------------------------------------------------------- timeouts

class TimeoutTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        start_class_daemon(cls, lambda port: config_text(port, '''
  { path = "/idle"; handler = "echo";
    limits = { idle_timeout = 1; ping_interval = 0; }; },
  { path = "/ping"; handler = "echo";
    limits = { idle_timeout = 0; ping_interval = 1; pong_timeout = 1; }; }
''', limits="handshake_timeout = 1; close_timeout = 1;"))

    @classmethod
    def tearDownClass(cls):
        stop_class_daemon(cls)

    def test_handshake_timeout(self):
        before = self.d.stats()["handshake_timeouts"]
        req, _ = upgrade_request(self.d.port, "/idle")
        # A request never finished.
        self.assertEqual(until_eof(self.d.port, req[:20]), b"")
        self.assertEqual(self.d.stats()["handshake_timeouts"], before + 1)

    def test_idle_timeout_1001(self):
        async def go():
            ws = await connect(self.d.url("/idle"))
            await bounded(ws.send("x"))
            self.assertEqual(await recv(ws), "x")
            return await close_code(ws)
        self.assertEqual(arun(go()), 1001)

    def test_close_timeout(self):
        # The daemon's close (1001, idle) is never answered: the daemon
        # still ends the connection, after close_timeout.
        raw = RawWS(self.d.port, "/idle")
        try:
            fin, op, payload = raw.read_frame()
            self.assertEqual((fin, op), (True, CLOSE))
            self.assertEqual(struct.unpack("!H", payload[:2])[0], 1001)
            self.assertTrue(raw.at_eof())
        finally:
            raw.close()

    def test_ping_pong_timeout_1011(self):
        raw = RawWS(self.d.port, "/ping")
        try:
            fin, op, payload = raw.read_frame()
            self.assertEqual((fin, op), (True, PING))
            raw.send(frame(PONG, payload))
            # Answered: the connection lives on and is pinged again.
            fin, op, payload = raw.read_frame()
            self.assertEqual((fin, op), (True, PING))
            # Not answered: closed with 1011.
            fin, op, payload = raw.read_frame()
            self.assertEqual((fin, op), (True, CLOSE))
            self.assertEqual(struct.unpack("!H", payload[:2])[0], 1011)
            raw.send(frame(CLOSE, payload[:2]))
            self.assertTrue(raw.at_eof())
        finally:
            raw.close()


class UnixListenerTest(DaemonTestCase):
    def test_unix_socket(self):
        t = tempfile.TemporaryDirectory(prefix="wsrelayd-unix-")
        self.addCleanup(t.cleanup)
        path = os.path.join(t.name, "ws.sock")
        self.start_daemon(lambda port: config_text(port, ECHO).replace(
            "listen = (", 'listen = ( { path = "%s"; mode = "0600"; },'
            % path), "wsrelayd-unix")
        st = os.stat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)

        async def go():
            ws = await bounded(websockets.unix_connect(
                path, "ws://localhost/echo", compression=None,
                ping_interval=None))
            await bounded(ws.send("over unix"))
            got = await recv(ws)
            await close_all(ws)
            return got
        self.assertEqual(arun(go()), "over unix")


# ------------------------------------------------------------------ SIGHUP

def reload_config(routes):
    return lambda port: config_text(port, routes)


ECHO = '{ path = "/echo"; handler = "echo"; }'
ECHO2 = '{ path = "/echo"; handler = "echo"; },\n' \
        '  { path = "/echo2"; handler = "echo"; }'


async def echo_once(url, msg):
    ws = await connect(url)
    await bounded(ws.send(msg))
    got = await recv(ws)
    await close_all(ws)
    return got



class SubprotocolOriginTest(DaemonTestCase):
    """Per-route subprotocol choice (RFC 6455 4.2.2) and Origin checks."""

    @classmethod
    def setUpClass(cls):
        start_class_daemon(cls, lambda port: config_text(port, '''
  { path = "/sp"; handler = "echo";
    subprotocols = [ "chat", "superchat" ]; require_subprotocol = true; },
  { path = "/opt"; handler = "echo"; subprotocols = [ "binary" ]; },
  { path = "/origin"; handler = "echo";
    origins = [ "https://example.com", "*.good.test", "http://x.test:8000" ];
    allow_missing_origin = false; }
'''))

    @classmethod
    def tearDownClass(cls):
        stop_class_daemon(cls)

    def status(self, path, extra=""):
        req, _ = upgrade_request(self.d.port, path, extra=extra)
        st, headers, body, closed = http_exchange(self.d.port, req)
        return st, body, closed

    def chosen(self, path, offer, origin=None):
        async def go():
            ws = await asyncio.wait_for(websockets.connect(
                self.d.url(path), subprotocols=offer, origin=origin), 10)
            try:
                await asyncio.wait_for(ws.send("x"), 10)
                echo = await asyncio.wait_for(ws.recv(), 10)
                return ws.subprotocol, echo
            finally:
                await asyncio.wait_for(ws.close(), 10)
        return arun(go())

    def test_client_preference_wins(self):
        # The client's order decides among the protocols the route speaks.
        self.assertEqual(self.chosen("/sp", ["superchat", "chat"]),
                         ("superchat", "x"))
        self.assertEqual(self.chosen("/sp", ["nope", "chat", "superchat"]),
                         ("chat", "x"))

    def test_required_subprotocol_refused(self):
        for extra in ("", "Sec-WebSocket-Protocol: nope, other\r\n"):
            with self.subTest(extra=extra):
                st, body, closed = self.status("/sp", extra)
                self.assertEqual(st, 400)
                self.assertIn(b"chat superchat", body)
                self.assertTrue(closed)

    def test_optional_subprotocol(self):
        self.assertEqual(self.chosen("/opt", ["binary"]), ("binary", "x"))
        self.assertEqual(self.chosen("/opt", ["other"]), (None, "x"))
        self.assertEqual(self.chosen("/opt", None), (None, "x"))

    def test_origins_allowed(self):
        for origin in ("https://example.com", "HTTPS://EXAMPLE.COM",
                       "http://a.good.test", "https://a.b.good.test",
                       "http://x.test:8000"):
            with self.subTest(origin=origin):
                self.assertEqual(self.chosen("/origin", None, origin),
                                 (None, "x"))

    def test_origins_refused(self):
        for origin in ("https://evil.com", "http://example.com",
                       "https://example.com:8443", "https://good.test",
                       "https://evilgood.test", "http://x.test",
                       "null"):
            with self.subTest(origin=origin):
                st, body, closed = self.status(
                    "/origin", "Origin: %s\r\n" % origin)
                self.assertEqual(st, 403)
                self.assertTrue(closed)

    def test_missing_origin_refused(self):
        st, body, closed = self.status("/origin")
        self.assertEqual(st, 403)
        self.assertIn(b"Origin", body)
        self.assertTrue(closed)

class CompressionTest(DaemonTestCase):
    """permessage-deflate (RFC 7692) against python3-websockets."""

    @classmethod
    def setUpClass(cls):
        start_class_daemon(cls, lambda port: config_text(port, '''
  { path = "/z"; handler = "echo"; compression = true;
    deflate_min_size = 0; },
  { path = "/znct"; handler = "echo"; compression = true;
    deflate_no_context_takeover = true;
    deflate_client_no_context_takeover = true; },
  { path = "/zsmall"; handler = "echo"; compression = true;
    deflate_window_bits = 9; deflate_client_window_bits = 9;
    deflate_mem_level = 1; deflate_min_size = 0; },
  { path = "/zthreshold"; handler = "echo"; compression = true;
    deflate_min_size = 1000; },
  { path = "/zbomb"; handler = "echo"; compression = true;
    limits = { max_message_size = 1048576; }; },
  { path = "/zroom/*"; handler = "broadcast"; room = "path";
    compression = true; deflate_min_size = 0; },
  { path = "/plain"; handler = "echo"; }
''', limits="max_message_size = 16777216; max_frame_size = 16777216;"))

    @classmethod
    def tearDownClass(cls):
        stop_class_daemon(cls)

    @staticmethod
    def factory(**kw):
        from websockets.extensions.permessage_deflate import (
            ClientPerMessageDeflateFactory)
        return ClientPerMessageDeflateFactory(**kw)

    def echo_all(self, path, messages, **kw):
        """Echo each message with a compressing client; the extension
        parameters agreed."""
        ext = [self.factory(**kw)] if kw else None

        async def go():
            ws = await connect(self.d.url(path), compression="deflate",
                               extensions=ext)
            try:
                agreed = ws.extensions
                for m in messages:
                    await bounded(ws.send(m))
                    self.assertEqual(await recv(ws), m)
                return agreed
            finally:
                await bounded(ws.close())
        return arun(go())

    @staticmethod
    def text(n, seed=0):
        words = ["relay", "socket", "frame", "deflate", "\u00e9t\u00e9",
                 "\u20ac", "\U0001f600", "window"]
        out, i, size = [], seed, 0
        while size < n:
            i = (i * 1103515245 + 12345) & 0x7fffffff
            out.append(words[(i >> 16) % len(words)])
            size += len(out[-1]) + 1
        return " ".join(out)[:n]

    def test_roundtrip_both_directions(self):
        msgs = [self.text(n, n) for n in (0, 1, 200, 5000, 70000)]
        msgs += [os.urandom(n) for n in (1, 300, 100000)]
        msgs += [b"\0" * 3000000, self.text(1000000, 7)]
        agreed = self.echo_all("/z", msgs)
        self.assertEqual(len(agreed), 1)
        self.assertEqual(agreed[0].name, "permessage-deflate")

    def test_context_takeover_and_small_windows(self):
        msgs = [self.text(n, n) for n in (100, 2000, 2000, 60000)]
        for path, kw in (("/z", {}),
                         ("/z", dict(server_no_context_takeover=True,
                                     client_no_context_takeover=True)),
                         ("/z", dict(server_max_window_bits=10,
                                     client_max_window_bits=9)),
                         # Python's zlib cannot compress with 8 bits;
                         # ours uses 9, whose matches fit 8 (250 bytes).
                         ("/z", dict(server_max_window_bits=8,
                                     client_max_window_bits=9)),
                         ("/znct", {}),
                         ("/zsmall", {})):
            with self.subTest(path=path, kw=kw):
                agreed = self.echo_all(path, msgs, **kw)
                self.assertEqual(len(agreed), 1)
                pmd = agreed[0]
                if path == "/znct" or kw.get("server_no_context_takeover"):
                    self.assertTrue(pmd.remote_no_context_takeover)
                else:
                    self.assertFalse(pmd.remote_no_context_takeover)
                if path == "/znct":
                    self.assertTrue(pmd.local_no_context_takeover)
                if path == "/zsmall":
                    self.assertEqual(pmd.remote_max_window_bits, 9)
                    self.assertEqual(pmd.local_max_window_bits, 9)
                if "server_max_window_bits" in kw:
                    self.assertEqual(pmd.remote_max_window_bits,
                                     kw["server_max_window_bits"])

    def raw(self, path, offer="permessage-deflate"):
        return RawWS(self.d.port, path,
                     extra="Sec-WebSocket-Extensions: %s\r\n" % offer)

    def test_server_compresses(self):
        # The server's frames carry RSV1 and are smaller than the text.
        msg = (self.text(20000, 3)).encode()
        w = self.raw("/z")
        try:
            self.assertEqual(w.headers.get("sec-websocket-extensions"),
                             "permessage-deflate")
            z = zlib.compressobj(6, zlib.DEFLATED, -15)
            body = z.compress(msg) + z.flush(zlib.Z_SYNC_FLUSH)
            w.send(frame(TEXT, body[:-4], rsv=4))
            fin, op, payload = w.read_frame()
            self.assertEqual((fin, op, w.rsv), (True, TEXT, 4))
            self.assertLess(len(payload), len(msg) // 2)
            d = zlib.decompressobj(-15)
            self.assertEqual(d.decompress(payload + b"\0\0\xff\xff"), msg)
            # An uncompressed message is fine too, and control frames
            # never carry RSV1.
            w.send(frame(BINARY, b"plain"))
            fin, op, payload = w.read_frame()
            self.assertEqual(op, BINARY)
            self.assertEqual(d.decompress(payload + b"\0\0\xff\xff"),
                             b"plain")
            w.send(frame(PING, b"p"))
            fin, op, payload = w.read_frame()
            self.assertEqual((op, w.rsv, payload), (PONG, 0, b"p"))
        finally:
            w.close()

    def test_threshold(self):
        w = self.raw("/zthreshold")
        try:
            w.send(frame(TEXT, b"short"))
            fin, op, payload = w.read_frame()
            self.assertEqual((w.rsv, payload), (0, b"short"))
            w.send(frame(TEXT, b"a" * 1000))
            fin, op, payload = w.read_frame()
            self.assertEqual(w.rsv, 4)
            self.assertLess(len(payload), 100)
        finally:
            w.close()

    def test_zip_bomb_1009(self):
        # 64 MiB of zeros in about 64 KiB: refused with 1009 once the
        # inflated size passes the route's 1 MiB, and the daemon lives.
        z = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = b"".join(z.compress(b"\0" * (1 << 20)) for _ in range(64))
        body += z.flush(zlib.Z_SYNC_FLUSH)
        self.assertLess(len(body), 1 << 17)
        w = self.raw("/zbomb")
        try:
            w.send(frame(BINARY, body[:-4], rsv=4))
            self.assertEqual(w.read_close(), 1009)
        finally:
            w.close()
        self.assertEqual(self.echo_all("/zbomb", ["still here"]) != [], True)

    def test_bad_compressed_data_1007(self):
        w = self.raw("/z")
        try:
            w.send(frame(BINARY, b"\xff\xff\xff", rsv=4))
            self.assertEqual(w.read_close(), 1007)
        finally:
            w.close()

    def test_rsv1_rules_1002(self):
        for offer, frames in (
                # Not negotiated: RSV1 is reserved.
                ("x-none", [frame(TEXT, b"\xf2\x48\x05\x00", rsv=4)]),
                # On a control frame.
                ("permessage-deflate", [frame(PING, b"\x00", rsv=4)]),
                # On a continuation frame.
                ("permessage-deflate",
                 [frame(TEXT, b"\xf2\x48", fin=False, rsv=4),
                  frame(CONT, b"\x05\x00", rsv=4)])):
            with self.subTest(offer=offer):
                w = self.raw("/z", offer)
                try:
                    for f in frames:
                        w.send(f)
                    self.assertEqual(w.read_close(), 1002)
                finally:
                    w.close()

    def test_malformed_offer_declined(self):
        for offer in ("permessage-deflate; server_max_window_bits=7",
                      "permessage-deflate; foo=1",
                      "permessage-deflate; client_no_context_takeover; "
                      "client_no_context_takeover"):
            with self.subTest(offer=offer):
                w = self.raw("/z", offer)
                try:
                    self.assertNotIn("sec-websocket-extensions", w.headers)
                    w.send(frame(TEXT, b"x" * 200))
                    fin, op, payload = w.read_frame()
                    self.assertEqual((w.rsv, payload), (0, b"x" * 200))
                finally:
                    w.close()
        w = self.raw("/z", "permessage-deflate; foo, permessage-deflate; "
                     "server_max_window_bits=10")
        try:
            self.assertEqual(w.headers.get("sec-websocket-extensions"),
                             "permessage-deflate; server_max_window_bits=10")
        finally:
            w.close()

    def test_route_without_compression(self):
        agreed = self.echo_all("/plain", ["abc" * 100])
        self.assertEqual(agreed, [])

    def test_broadcast_compresses_per_receiver(self):
        async def go():
            url = self.d.url("/zroom/a")
            a = await connect(url, compression="deflate")
            b = await connect(url, compression="deflate")
            c = await connect(url)      # no compression
            try:
                msgs = [self.text(n, n) for n in (10, 3000, 50000)]
                for m in msgs:
                    await bounded(a.send(m))
                    self.assertEqual(await recv(b), m)
                    self.assertEqual(await recv(c), m)
                return b.extensions, c.extensions
            finally:
                await close_all(a, b, c)
        eb, ec = arun(go())
        self.assertEqual(len(eb), 1)
        self.assertEqual(ec, [])


class ReloadTest(DaemonTestCase):
    def sighup(self, d):
        """SIGHUP, then the log line that tells how the reload went."""
        start = len(d.log())
        d.signal(signal.SIGHUP)
        m = d.wait_log(r"^.*(reloaded |reload refused).*$", start)
        return m.group(0)

    def test_reload_adds_route(self):
        d = self.start_daemon(reload_config(ECHO))

        async def go():
            old = await connect(d.url("/echo"))
            await bounded(old.send("before"))
            before = await recv(old)
            try:
                await connect(d.url("/echo2"))
                pre = 101
            except websockets.InvalidStatusCode as e:
                pre = e.status_code
            d.write_config(reload_config(ECHO2)(d.port))
            logline = self.sighup(d)
            self.assertIn("reloaded %s: 2 routes" % d.conf, logline)
            new = await echo_once(d.url("/echo2"), "new")
            await bounded(old.send("after"))
            after = await recv(old)
            again = await echo_once(d.url("/echo"), "again")
            await close_all(old)
            return before, pre, new, after, again
        self.assertEqual(arun(go()),
                         ("before", 404, "new", "after", "again"))

    def broken_reload(self, broken_config, line, message):
        d = self.start_daemon(reload_config(ECHO2))

        async def go():
            old = await connect(d.url("/echo"))
            d.write_config(broken_config(d.port))
            logline = self.sighup(d)
            self.assertIn("reload refused", logline)
            self.assertIn("%s:%d: " % (d.conf, line), logline)
            self.assertIn(message, logline)
            got = [await echo_once(d.url("/echo"), "one"),
                   await echo_once(d.url("/echo2"), "two")]
            await bounded(old.send("old"))
            got.append(await recv(old))
            await close_all(old)
            return got
        self.assertEqual(arun(go()), ["one", "two", "old"])

    def test_reload_unknown_key(self):
        def broken(port):
            lines = config_text(port, ECHO2).split("\n")
            lines.insert(2, "bogus_setting = 1;")     # line 3
            return "\n".join(lines)
        self.broken_reload(broken, 3, "unknown setting 'bogus_setting'")

    def test_reload_syntax_error(self):
        def broken(port):
            lines = config_text(port, ECHO2).split("\n")
            lines.insert(3, "this is not libconfig")  # line 4
            return "\n".join(lines)
        self.broken_reload(broken, 4, "syntax error")

    def test_reload_bad_value_keeps_listener(self):
        # A route error on reload: nothing changes, the port still serves.
        d = self.start_daemon(reload_config(ECHO))
        text = config_text(d.port, ECHO + ',\n  { path = "/x"; '
                           'handler = "nosuch"; }')
        d.write_config(text)
        logline = self.sighup(d)
        self.assertIn("reload refused", logline)
        self.assertIn("%s:6: " % d.conf, logline)
        self.assertIn('unknown handler "nosuch"', logline)
        self.assertEqual(arun(echo_once(d.url("/echo"), "ok")), "ok")


# ----------------------------------------------------------------- SIGTERM

class ShutdownTest(DaemonTestCase):
    def test_sigterm_closes_1001_and_exits_0(self):
        d = self.start_daemon(lambda port: config_text(port, '''
  { path = "/echo"; handler = "echo"; },
  { path = "/chat/*"; handler = "broadcast"; }
'''), "wsrelayd-term")

        async def go():
            clients = [await connect(d.url("/echo")),
                       await connect(d.url("/chat/r")),
                       await connect(d.url("/chat/r"))]
            await bounded(clients[0].send("up"))
            self.assertEqual(await recv(clients[0]), "up")
            await bounded(clients[1].send("up"))
            self.assertEqual(await recv(clients[2]), "up")
            d.signal(signal.SIGTERM)
            return [await close_code(c) for c in clients]
        self.assertEqual(arun(go()), [1001, 1001, 1001])
        self.assertEqual(d.terminate(), 0)   # waits; no second SIGTERM
        self.assertIn("exiting", d.log())

    def test_sigterm_unresponsive_clients(self):
        # A client that never answers the close and one that never ends
        # its handshake do not keep the daemon from exiting 0.
        d = self.start_daemon(lambda port: config_text(
            port, ECHO, limits="close_timeout = 1; shutdown_timeout = 3;"),
            "wsrelayd-term2")
        mute = RawWS(d.port, "/echo")
        half = socket.create_connection(("127.0.0.1", d.port), IO_TIMEOUT)
        try:
            half.sendall(b"GET /echo HTTP/1.1\r\n")
            mute.send(frame(TEXT, b"hi"))
            self.assertEqual(mute.read_frame(), (True, TEXT, b"hi"))
            d.signal(signal.SIGTERM)
            self.assertEqual(d.terminate(), 0)
            fin, op, payload = mute.read_frame()
            self.assertEqual((fin, op), (True, CLOSE))
            self.assertEqual(struct.unpack("!H", payload[:2])[0], 1001)
            self.assertTrue(mute.at_eof())
        finally:
            mute.close()
            half.close()

    def test_sigterm_idle_exits_0(self):
        d = self.start_daemon(lambda port: config_text(port, ECHO),
                              "wsrelayd-idle")
        self.assertEqual(d.terminate(), 0)


# ---------------------------------------------------------------------- -n

class CheckConfigTest(DaemonTestCase):
    def check(self, text):
        d = os.path.join(self.tmp, "c%d.conf" % len(os.listdir(self.tmp)))
        with open(d, "w") as f:
            f.write(text)
        p = subprocess.run([WSRELAYD, "-n", "-c", d],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=IO_TIMEOUT, text=True)
        return d, p

    def setUp(self):
        t = tempfile.TemporaryDirectory(prefix="wsrelayd-check-")
        self.addCleanup(t.cleanup)
        self.tmp = t.name

    def test_good(self):
        path, p = self.check(config_text(free_port(), ECHO2))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("configuration OK", p.stdout)
        self.assertEqual(p.stderr, "")

    def test_shipped_example(self):
        conf = os.path.join(TOP_SRCDIR, "etc", "wsrelayd.conf")
        p = subprocess.run([WSRELAYD, "-n", "-c", conf],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=IO_TIMEOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def bad(self, text, line, message):
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r"(?m)^wsrelayd: %s:%d: "
                         % (re.escape(path), line))
        self.assertIn(message, p.stderr)

    def test_syntax_error(self):
        lines = config_text(1234, ECHO).split("\n")
        lines.insert(1, "garbage here")
        self.bad("\n".join(lines), 2, "syntax error")

    def test_unknown_key(self):
        lines = config_text(1234, ECHO).split("\n")
        lines.insert(1, "frobnicate = true;")
        self.bad("\n".join(lines), 2, "unknown setting 'frobnicate'")

    def test_out_of_range(self):
        self.bad(config_text(1234, ECHO, limits="\n max_connections = 0;"),
                 4, "'max_connections' must be between 1 and 1000000")

    def test_bad_enum(self):
        self.bad(config_text(1234, '{ path = "/c"; handler = "broadcast";'
                             '\n slow_policy = "maybe"; }'),
                 6, "'slow_policy' must be one of: drop, close")

    def test_bad_route_path(self):
        self.bad(config_text(1234, '{ path = "/a*"; handler = "echo"; }'),
                 5, "bad route path")

    def test_watermarks(self):
        self.bad(config_text(1234, ECHO, limits="output_high_watermark = "
                             "2048; output_low_watermark = 4096;"),
                 3, "output_low_watermark must be below")

    def test_missing_file(self):
        p = subprocess.run([WSRELAYD, "-n", "-c",
                            os.path.join(self.tmp, "absent.conf")],
                           capture_output=True, timeout=IO_TIMEOUT,
                           text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot read the file", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
