"""test_wsrelay.py - the wsrelay command-line client against test servers.

Run by tests/client/run.sh with Debian's /usr/bin/python3 and its
python3-websockets (10.x, asyncio API); standard library otherwise.
WSRELAY names the client binary.

Each test starts its own servers on free 127.0.0.1 ports, in a background
thread with its own event loop:

  * a websockets server, one handler per path (/echo, /close4000, ...);
    refused handshakes (/forbidden: 403, unknown paths: 404) come from
    process_request;
  * a raw asyncio TCP server that answers the upgrade itself and then sends
    what websockets will not (a masked frame, a reserved opcode, an empty
    close frame), or never answers at all.

The client runs under subprocess; every run and every wait is bounded.
"""
import asyncio
import base64
import hashlib
import http
import json
import os
import queue
import random
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import websockets
import websockets.legacy.server

# The daemon suite's helpers, shared.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "daemon"))
from daemonutil import PKI, free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WSRELAY = os.path.abspath(os.environ.get("WSRELAY") or
                          os.path.join(HERE, "..", "..", "build", "wsrelay"))
if not os.access(WSRELAY, os.X_OK):
    # Fail loudly: a missing client is never a skip.
    raise RuntimeError("no wsrelay binary at %s (set WSRELAY)" % WSRELAY)

RUN_TIMEOUT = 20.0      # one client run, start to exit
IO_TIMEOUT = 10.0       # one wait for the client or the server
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xa


def ws_frame(opcode, payload=b"", fin=True, mask=False, rsv=0):
    """One RFC 6455 frame."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


async def read_ws_frame(reader, keys=None):
    """(opcode, fin, masked, payload) of one frame, unmasked; the mask key,
    if any, is appended to keys."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    masked = bool(b1 & 0x80)
    key = await reader.readexactly(4) if masked else None
    if key is not None and keys is not None:
        keys.append(key)
    data = await reader.readexactly(n)
    if masked:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return b0 & 0x0f, bool(b0 & 0x80), masked, data


# Raw server paths: what the server sends right after its 101 response.
# Each is a protocol error by the server (RFC 6455 5.2, 5.4, 5.5, 7.4.1).
RAW_SENDS = {
    "/err/cont-first": ws_frame(OP_CONT, b"hello"),
    "/err/text-in-text": ws_frame(OP_TEXT, b"hel", fin=False) +
    ws_frame(OP_TEXT, b"lo"),
    "/err/fragmented-ping": ws_frame(OP_PING, b"p", fin=False),
    "/err/long-ping": ws_frame(OP_PING, b"p" * 126),
    "/err/close-1-byte": ws_frame(OP_CLOSE, b"\x03"),
    "/err/close-code-999": ws_frame(OP_CLOSE, struct.pack("!H", 999)),
    "/err/close-code-1005": ws_frame(OP_CLOSE, struct.pack("!H", 1005)),
    "/err/close-code-1006": ws_frame(OP_CLOSE, struct.pack("!H", 1006)),
    "/err/close-reason-not-utf8": ws_frame(
        OP_CLOSE, struct.pack("!H", 1000) + b"\xff"),
    "/err/reserved-control-opcode": ws_frame(0xb, b""),
}


class RecordingProtocol(websockets.legacy.server.WebSocketServerProtocol):
    """Records the opcode of every frame the client sends, control frames
    included (websockets answers pings by itself, so this is the only way
    to see them)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.opcodes = []
        self.wire_bytes = 0

    def data_received(self, data):
        self.wire_bytes += len(data)
        super().data_received(data)

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        self.opcodes.append(int(frame.opcode))
        return frame


class Servers:
    """The websockets server and the raw server, in one background thread
    with its own event loop.  Each finished connection leaves a record
    (a dict) in self.records; every handshake request's path is appended to
    self.requests."""

    def __init__(self, compression=None, ssl=None):
        self.compression = compression
        self.ssl = ssl              # the websockets server over TLS
        self.records = queue.Queue()
        self.requests = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(IO_TIMEOUT):
            raise RuntimeError("test servers did not start")
        if self.error:
            raise self.error

    # ----------------------------------------------------------- control
    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except Exception as e:      # reported to the constructor
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    async def _start(self):
        self.ws_server = await websockets.serve(
            self._ws_handler, "127.0.0.1", 0,
            create_protocol=RecordingProtocol,
            process_request=self._process_request,
            subprotocols=["chat", "superchat"],
            # The first of the server's list that the client offered.
            select_subprotocol=lambda client, server: next(
                (p for p in server if p in client), None),
            compression=self.compression, max_size=None, max_queue=None,
            ping_interval=None, close_timeout=5, ssl=self.ssl)
        self.port = self.ws_server.sockets[0].getsockname()[1]
        self.raw_server = await asyncio.start_server(
            self._raw_handler, "127.0.0.1", 0)
        self.raw_port = self.raw_server.sockets[0].getsockname()[1]
        self.raw_writers = set()

    def stop(self):
        async def _stop():
            self.ws_server.close()
            self.raw_server.close()
            for w in list(self.raw_writers):
                w.transport.abort()
            await asyncio.wait_for(self.ws_server.wait_closed(), IO_TIMEOUT)
            await asyncio.wait_for(self.raw_server.wait_closed(), IO_TIMEOUT)
        try:
            asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(
                IO_TIMEOUT + 5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(IO_TIMEOUT)
            if not self.thread.is_alive():
                self.loop.close()

    def url(self, path, host="127.0.0.1"):
        return "%s://%s:%d%s" % ("wss" if self.ssl else "ws", host,
                                 self.port, path)

    def raw_url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.raw_port, path)

    def record(self, timeout=IO_TIMEOUT):
        """The next finished connection's record."""
        try:
            return self.records.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no finished connection on the test "
                                 "server within %.0fs" % timeout)

    # ------------------------------------------------- websockets server
    HANDLED = ("/echo", "/close4000", "/close1011", "/drop", "/silent",
               "/subproto", "/headers", "/ping", "/fragments", "/bye",
               "/room", "/roomcorrupt", "/roomskip")

    def _process_request(self, path, request_headers):
        self.requests.append(path)
        if path == "/forbidden":
            return (http.HTTPStatus.FORBIDDEN, [], b"forbidden\n")
        if path not in self.HANDLED:
            return (http.HTTPStatus.NOT_FOUND, [], b"not found\n")
        return None

    async def _ws_handler(self, ws, *unused):
        rec = {"path": ws.path, "messages": [],
               "headers": list(ws.request_headers.raw_items()),
               "subprotocol": ws.subprotocol}
        try:
            handler = getattr(self, "_h_" + ws.path.strip("/"))
            await handler(ws, rec)
        except websockets.ConnectionClosed:
            pass
        finally:
            try:
                await asyncio.wait_for(ws.wait_closed(), IO_TIMEOUT)
            except asyncio.TimeoutError:
                ws.transport.abort()
            rec["close_code"] = ws.close_code
            rec["close_reason"] = ws.close_reason
            rec["opcodes"] = list(ws.opcodes)
            rec["wire_bytes"] = ws.wire_bytes
            rec["extensions"] = [e.name for e in ws.extensions]
            self.records.put(rec)

    async def _echo(self, ws, rec):
        async for msg in ws:
            rec["messages"].append(msg)
            await ws.send(msg)

    async def _h_echo(self, ws, rec):
        await self._echo(ws, rec)

    async def _h_subproto(self, ws, rec):
        await self._echo(ws, rec)

    async def _first_then(self, ws, rec):
        rec["messages"].append(await ws.recv())

    async def _h_close4000(self, ws, rec):
        await self._first_then(ws, rec)
        await ws.close(4000, "custom")

    async def _h_close1011(self, ws, rec):
        await self._first_then(ws, rec)
        await ws.close(1011, "internal")

    async def _h_bye(self, ws, rec):
        await self._first_then(ws, rec)
        await ws.close(1000, "bye")

    async def _h_drop(self, ws, rec):
        await self._first_then(ws, rec)
        ws.transport.abort()

    async def _h_silent(self, ws, rec):
        async for msg in ws:
            rec["messages"].append(msg)

    async def _h_headers(self, ws, rec):
        await ws.send(json.dumps(rec["headers"]))
        await self._echo(ws, rec)

    async def _h_ping(self, ws, rec):
        waiter = await ws.ping(b"wsr-test-ping")
        try:
            await asyncio.wait_for(waiter, 5)
            rec["pong"] = True
            await ws.send("pong-ok")
        except asyncio.TimeoutError:
            rec["pong"] = False
            await ws.send("pong-missing")
        await self._echo(ws, rec)

    async def _h_fragments(self, ws, rec):
        await self._first_then(ws, rec)
        await ws.send(["hel", "lo ", "w\u00f6rld"])
        await ws.send([b"\x01\x02", b"", b"\xff"])
        await self._echo(ws, rec)

    async def _room(self, ws, rec, change):
        """A broadcast room: every message to every other member;
        change(n, msg) may alter or (None) drop the n-th (from 1)."""
        room = self.__dict__.setdefault("room", set())
        room.add(ws)
        try:
            async for msg in ws:
                rec["messages"].append(msg)
                msg = change(len(rec["messages"]), msg)
                for other in list(room):
                    if other is not ws and msg is not None:
                        try:
                            await other.send(msg)
                        except websockets.ConnectionClosed:
                            pass
        finally:
            room.discard(ws)

    async def _h_room(self, ws, rec):
        await self._room(ws, rec, lambda n, msg: msg)

    async def _h_roomcorrupt(self, ws, rec):
        # The 5th message's send time, one hex digit changed.
        def change(n, msg):
            if n != 5:
                return msg
            return msg[:31] + ("1" if msg[31] != "1" else "2") + msg[32:]
        await self._room(ws, rec, change)

    async def _h_roomskip(self, ws, rec):
        await self._room(ws, rec, lambda n, msg: None if n == 5 else msg)

    # -------------------------------------------------------- raw server
    async def _raw_handler(self, reader, writer):
        self.raw_writers.add(writer)
        rec = {"raw": True, "frames": [], "close_payload": None}
        try:
            await asyncio.wait_for(self._raw(reader, writer, rec), 15)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError,
                ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.raw_writers.discard(writer)
            if not writer.transport.is_closing():
                writer.transport.abort()
            self.records.put(rec)

    async def _raw(self, reader, writer, rec):
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode("latin-1")
        rec["path"] = path
        self.requests.append(path)
        if path == "/nohandshake":
            await reader.read()         # until the client gives up
            return
        m = re.search(rb"(?im)^sec-websocket-key:[ \t]*(\S+)[ \t]*\r?$", head)
        accept = base64.b64encode(hashlib.sha1(m.group(1) + GUID).digest())
        if path == "/badaccept":
            accept = base64.b64encode(hashlib.sha1(b"x" + GUID).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\n"
                     b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        if path.startswith("/bench-"):
            await self._raw_bench(path, reader, writer, rec)
            return
        if path == "/masked":
            # Servers must not mask (RFC 6455 5.1).
            writer.write(ws_frame(OP_TEXT, b"hello", mask=True))
        elif path == "/badopcode":
            writer.write(ws_frame(0x3, b"hello"))
        elif path == "/rsv1":
            writer.write(ws_frame(OP_TEXT, b"hello", rsv=4))
        elif path == "/unmasked":
            writer.write(ws_frame(OP_TEXT, b"hello"))
        elif path == "/badutf8":
            writer.write(ws_frame(OP_TEXT, b"bad \xff\xfe text"))
        elif path == "/splitutf8":
            # "w\u00f6rld" with the two bytes of the o-umlaut in two frames
            writer.write(ws_frame(OP_TEXT, b"w\xc3", fin=False) +
                         ws_frame(OP_CONT, b"\xb6rld"))
        elif path in RAW_SENDS:
            writer.write(RAW_SENDS[path])
        elif path == "/fragping":
            # a ping between the fragments of a message
            writer.write(ws_frame(OP_TEXT, b"hel", fin=False) +
                         ws_frame(OP_PING, b"mid") +
                         ws_frame(OP_CONT, b"lo"))
        await writer.drain()
        close_sent = False
        while True:
            op, fin, masked, data = await read_ws_frame(reader)
            rec["frames"].append((op, fin, masked, data))
            if op == OP_CLOSE and path == "/noclosereply":
                rec["close_payload"] = data
                await reader.read()     # never answers the close
                return
            if op == OP_CLOSE:
                rec["close_payload"] = data
                if not close_sent:
                    writer.write(ws_frame(OP_CLOSE, data))
                # Graceful: a reset could discard the close frame.
                writer.close()
                await writer.wait_closed()
                return
            if path == "/close1005" and op in (OP_TEXT, OP_BINARY) \
                    and not close_sent:
                writer.write(b"\x88\x00")   # close, no status code
                close_sent = True
                await writer.drain()


    async def _raw_bench(self, path, reader, writer, rec):
        """An echo server for wsrelay bench that breaks the 3rd message:
        a ping before its echo (/bench-ping), one byte changed
        (/bench-corrupt), invalid UTF-8 (/bench-badutf8), masked
        (/bench-masked).  rec["keys"]: the client's mask keys."""
        rec["keys"] = []
        n = 0
        while True:
            op, fin, masked, data = await read_ws_frame(reader, rec["keys"])
            rec["frames"].append((op, fin, masked, data))
            if op == OP_CLOSE:
                rec["close_payload"] = data
                writer.write(ws_frame(OP_CLOSE, data))
                writer.close()
                await writer.wait_closed()
                return
            if op not in (OP_TEXT, OP_BINARY):
                continue
            n += 1
            frame = ws_frame(op, data)
            if n == 3 and path == "/bench-ping":
                writer.write(ws_frame(OP_PING, b"bench-ping"))
            elif n == 3 and path == "/bench-corrupt":
                frame = ws_frame(op, data[:-1] + bytes([data[-1] ^ 1]))
            elif n == 3 and path == "/bench-badutf8":
                frame = ws_frame(op, b"\xff" * len(data))
            elif n == 3 and path == "/bench-masked":
                frame = ws_frame(op, data, mask=True)
            writer.write(frame)
            await writer.drain()


class Run:
    """A finished client run: status, stdout (bytes), stderr (str)."""

    def __init__(self, status, out, err, elapsed):
        self.status, self.out, self.err = status, out, err
        self.elapsed = elapsed

    @property
    def text(self):
        return self.out.decode("utf-8")

    def __repr__(self):
        return "<exit %r, stdout %r, stderr %r>" % (
            self.status, self.out[:300], self.err[:1500])


class Interactive:
    """A client whose stdin stays open until the test closes it."""

    def __init__(self, args):
        self.err = tempfile.TemporaryFile()
        self.start = time.monotonic()
        self.p = subprocess.Popen([WSRELAY] + args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err)
        self.buf = b""

    def write(self, data):
        try:
            self.p.stdin.write(data)
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def read_lines(self, n, timeout=IO_TIMEOUT):
        """Wait for n complete stdout lines; all of stdout read so far."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while self.buf.count(b"\n") < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("waited %.0fs for %d stdout lines, got "
                                     "%r" % (timeout, n, self.buf))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(
                        "stdout closed after %r (exit %r, stderr %r)"
                        % (self.buf, self.p.wait(IO_TIMEOUT), self._err()))
                self.buf += chunk
        return self.buf

    def _err(self):
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def finish(self, close_stdin, timeout=RUN_TIMEOUT):
        """Wait for the exit (closing stdin first if asked): a Run."""
        if close_stdin:
            self._close_stdin()
        try:
            rest = self._read_rest(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError(
                "wsrelay did not exit within %.0fs (stdin %s); stdout %r, "
                "stderr %r" % (timeout, "closed" if close_stdin else "open",
                               self.buf, self._err()))
        status = self.p.wait()
        self._close_stdin()
        return Run(status, self.buf + rest, self._err(),
                   time.monotonic() - self.start)

    def _close_stdin(self):
        try:
            self.p.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    def _read_rest(self, timeout):
        """Read stdout to EOF without closing stdin."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        rest = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.p.args, timeout)
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                rest += chunk
        try:
            self.p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise subprocess.TimeoutExpired(self.p.args, timeout)
        return rest

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for f in (self.p.stdin, self.p.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        self.err.close()


class ClientTestCase(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.srv = Servers()
        self.addCleanup(self.srv.stop)

    def run_client(self, args, input=b"", timeout=RUN_TIMEOUT):
        """Run wsrelay to its exit with stdin from input (then EOF)."""
        if isinstance(input, str):
            input = input.encode("utf-8")
        start = time.monotonic()
        try:
            p = subprocess.run([WSRELAY] + args, input=input,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(
                "wsrelay %s did not exit within %.0fs; stdout %r, stderr %r"
                % (" ".join(args), timeout, (e.stdout or b"")[:300],
                   (e.stderr or b"")[:1500]))
        return Run(p.returncode, p.stdout, p.stderr.decode("utf-8",
                                                             "replace"),
                   time.monotonic() - start)

    def interactive(self, args):
        proc = Interactive(args)
        self.addCleanup(proc.kill)
        return proc

    def assertStatus(self, run, status):
        self.assertEqual(run.status, status, "wrong exit status: %r" % run)


# ====================================================================== data
class TestTextAndBinary(ClientTestCase):

    def test_text_round_trip(self):
        """Lines become text messages (CR stripped, empty line = empty
        message, last line without LF); each echo printed + LF; EOF
        closes with 1000."""
        lines = ["hello", "w\u00f6rld \u00fcn\u00efcode \u2713 \U0001f600",
                 "", "crlf", "  spaced  ", "last"]
        stdin = "hello\nw\u00f6rld \u00fcn\u00efcode \u2713 \U0001f600\n" \
                "\ncrlf\r\n  spaced  \nlast"
        r = self.run_client([self.srv.url("/echo")], stdin)
        self.assertStatus(r, 0)
        self.assertEqual(r.text, "".join(s + "\n" for s in lines))
        rec = self.srv.record()
        self.assertEqual(rec["messages"], lines)  # str: text messages
        self.assertEqual(rec["close_code"], 1000)

    def test_only_empty_lines(self):
        r = self.run_client([self.srv.url("/echo")], "\n\n")
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"\n\n")
        self.assertEqual(self.srv.record()["messages"], ["", ""])

    def test_empty_stdin_closes_normally(self):
        r = self.run_client([self.srv.url("/echo")], b"")
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"")
        rec = self.srv.record()
        self.assertEqual(rec["messages"], [])
        self.assertEqual(rec["close_code"], 1000)

    def test_many_lines(self):
        """20000 lines: the client reads echoes while it still writes (a
        client that only writes would stall once the socket buffers are
        full; the run is bounded)."""
        lines = ["line %d \u00e9 %s" % (i, "x" * (i % 200))
                 for i in range(20000)]
        data = "".join(l + "\n" for l in lines)
        r = self.run_client([self.srv.url("/echo")], data)
        self.assertStatus(r, 0)
        self.assertTrue(r.text == data, "stdout differs from stdin")
        rec = self.srv.record()
        self.assertEqual(len(rec["messages"]), len(lines))
        self.assertEqual(rec["close_code"], 1000)

    def test_large_text_line(self):
        """One 200 KiB line with multi-byte characters (64-bit lengths,
        characters across read boundaries)."""
        unit = "abc\u00e9\u20ac\U0001f600xyz"
        line = (unit * (200 * 1024 // len(unit.encode()) + 1))
        while len(line.encode()) > 200 * 1024:
            line = line[:-1]
        self.assertGreater(len(line.encode()), 200 * 1024 - 8)
        r = self.run_client([self.srv.url("/echo")], line + "\n")
        self.assertStatus(r, 0)
        self.assertEqual(r.out, (line + "\n").encode())
        self.assertEqual(self.srv.record()["messages"], [line])

    def test_binary_lines_hex(self):
        lines = [b"abc", b"\x00\x01\xfe\xff", b"hello world", b"\xab\xcd"]
        r = self.run_client(["-b", "-o", "hex", self.srv.url("/echo")],
                            b"".join(l + b"\n" for l in lines))
        self.assertStatus(r, 0)
        self.assertEqual(r.text, "616263\n0001feff\n68656c6c6f20776f726c64\n"
                                 "abcd\n")
        self.assertEqual(self.srv.record()["messages"], lines)  # bytes

    def test_binary_out_default_is_hex(self):
        r = self.run_client(["--binary", self.srv.url("/echo")],
                            b"\xde\xad\xbe\xef\n")
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"deadbeef\n")
        self.assertEqual(self.srv.record()["messages"], [b"\xde\xad\xbe\xef"])

    def test_binary_lines_base64(self):
        rng = random.Random(1)
        alphabet = [b for b in range(256) if b not in (0x0a, 0x0d)]
        lines = [bytes(rng.choice(alphabet) for _ in range(n))
                 for n in (1, 2, 3, 4, 57, 58, 100, 300, 1000, 5000)]
        r = self.run_client(["-b", "--binary-out", "base64",
                             self.srv.url("/echo")],
                            b"".join(l + b"\n" for l in lines))
        self.assertStatus(r, 0)
        got = r.out.split(b"\n")
        self.assertEqual(got[-1], b"", "output must end with a newline")
        self.assertEqual([base64.b64decode(g, validate=True)
                          for g in got[:-1]], lines)
        self.assertEqual(self.srv.record()["messages"], lines)

    def test_raw_1mib(self):
        """--raw: stdin bytes as binary messages of at most N bytes;
        -o raw: the echoes concatenated are stdin."""
        data = os.urandom(1 << 20)
        r = self.run_client(["-r", "65536", "-o", "raw",
                             self.srv.url("/echo")], data)
        self.assertStatus(r, 0)
        self.assertEqual(len(r.out), len(data))
        self.assertTrue(r.out == data, "stdout differs from stdin")
        msgs = self.srv.record()["messages"]
        self.assertTrue(all(isinstance(m, bytes) for m in msgs))
        self.assertLessEqual(max(len(m) for m in msgs), 65536)
        self.assertEqual(b"".join(msgs), data)

    def test_raw_small_chunks(self):
        data = bytes(range(256)) + b"\n\r\n\x00" * 10
        r = self.run_client(["--raw", "7", "--binary-out", "raw",
                             self.srv.url("/echo")], data)
        self.assertStatus(r, 0)
        self.assertEqual(r.out, data)
        msgs = self.srv.record()["messages"]
        self.assertGreaterEqual(len(msgs), len(data) // 7)
        self.assertLessEqual(max(len(m) for m in msgs), 7)
        self.assertEqual(b"".join(msgs), data)

    def test_fragmented_messages_from_server(self):
        """Fragmented text and binary messages are printed reassembled,
        once each."""
        p = self.interactive([self.srv.url("/fragments")])
        p.write(b"go\n")
        out = p.read_lines(2)
        r = p.finish(close_stdin=True)
        self.assertStatus(r, 0)
        self.assertEqual(out.decode("utf-8"), "hello w\u00f6rld\n0102ff\n")
        self.assertEqual(r.out, out)


# ==================================================================== --once
class TestOnce(ClientTestCase):

    def test_once(self):
        r = self.run_client(["-1", "hello \u00e9", self.srv.url("/echo")],
                            b"not sent\n")
        self.assertStatus(r, 0)
        self.assertEqual(r.text, "hello \u00e9\n")
        rec = self.srv.record()
        self.assertEqual(rec["messages"], ["hello \u00e9"])
        self.assertEqual(rec["close_code"], 1000)

    def test_once_long_option_prints_first_message_only(self):
        """/headers sends its JSON first: that is what --once prints."""
        r = self.run_client(["--once", "x", self.srv.url("/headers")])
        self.assertStatus(r, 0)
        self.assertEqual(r.out.count(b"\n"), 1, r)
        self.assertIsInstance(json.loads(r.text), list)
        self.assertEqual(self.srv.record()["close_code"], 1000)


# ======================================================= permessage-deflate
class TestCompress(ClientTestCase):
    """--compress against python3-websockets with compression="deflate"."""

    def setUp(self):
        self.srv = Servers(compression="deflate")
        self.addCleanup(self.srv.stop)

    def test_compressed_round_trip(self):
        text = ("compressible line of text, " * 400)[:10000]
        r = self.run_client(["-z", "-v", self.srv.url("/echo")],
                            (text + "\n") * 5 + "\u00e9t\u00e9\n")
        self.assertStatus(r, 0)
        self.assertEqual(r.text, (text + "\n") * 5 + "\u00e9t\u00e9\n")
        self.assertIn("permessage-deflate: on", r.err)
        self.assertIn("Sec-WebSocket-Extensions: permessage-deflate", r.err)
        rec = self.srv.record()
        self.assertEqual(rec["extensions"], ["permessage-deflate"])
        self.assertEqual(rec["messages"], [text] * 5 + ["\u00e9t\u00e9"])
        # 50 kB of text reached the server in far fewer bytes.
        self.assertLess(rec["wire_bytes"], 5000)

    def test_binary_compressed(self):
        data = bytes(range(256)) * 64
        r = self.run_client(["--compress", "-r", "16384", "-o", "raw",
                             self.srv.url("/echo")], data)
        self.assertStatus(r, 0)
        self.assertEqual(r.out, data)
        rec = self.srv.record()
        self.assertEqual(b"".join(rec["messages"]), data)
        self.assertLess(rec["wire_bytes"], len(data) // 4)

    def test_without_option_no_extension(self):
        r = self.run_client(["-1", "x" * 5000, self.srv.url("/echo")])
        self.assertStatus(r, 0)
        rec = self.srv.record()
        self.assertEqual(rec["extensions"], [])
        self.assertGreater(rec["wire_bytes"], 5000)

    def test_server_declines(self):
        # A server without compression: the connection runs plain.
        plain = Servers()
        self.addCleanup(plain.stop)
        r = self.run_client(["-z", "-v", "-1", "hi", plain.url("/echo")])
        self.assertStatus(r, 0)
        self.assertEqual(r.text, "hi\n")
        self.assertIn("permessage-deflate: declined", r.err)


# ============================================================== negotiation
class TestHandshake(ClientTestCase):

    def _headers(self, args):
        r = self.run_client(args + ["-1", "x", self.srv.url("/headers")])
        self.assertStatus(r, 0)
        return r, json.loads(r.text)

    def test_headers_and_origin(self):
        r, hdrs = self._headers(["-H", "X-Test: hello world",
                                 "-H", "X-Other:42",
                                 "-H", "X-Multi: a", "-H", "X-Multi: b",
                                 "--origin", "http://example.test"])
        low = [(k.lower(), v) for k, v in hdrs]
        self.assertIn(("x-test", "hello world"), low)
        self.assertIn(("x-other", "42"), low)
        self.assertIn(("x-multi", "a"), low)
        self.assertIn(("x-multi", "b"), low)
        self.assertIn(("origin", "http://example.test"), low)
        self.assertIn(("host", "127.0.0.1:%d" % self.srv.port), low)
        self.assertIn(("sec-websocket-version", "13"), low)

    def test_no_origin_unless_asked(self):
        r, hdrs = self._headers([])
        self.assertNotIn("origin", [k.lower() for k, v in hdrs])

    def test_subprotocol(self):
        """The server takes the first of ITS list ["chat", "superchat"]
        that the client offered: chat."""
        r = self.run_client(["-v", "-p", "superchat", "--subprotocol",
                             "chat", self.srv.url("/subproto")], "hi\n")
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"hi\n")
        self.assertIn("wsrelay: subprotocol: chat", r.err)
        self.assertNotIn("wsrelay: subprotocol: superchat", r.err)
        rec = self.srv.record()
        self.assertEqual(rec["subprotocol"], "chat")
        offered = [v for k, v in rec["headers"]
                   if k.lower() == "sec-websocket-protocol"]
        names = [p.strip() for v in offered for p in v.split(",")]
        self.assertEqual(names, ["superchat", "chat"])

    def test_subprotocol_superchat_only(self):
        r = self.run_client(["--verbose", "-p", "superchat",
                             self.srv.url("/subproto")], "hi\n")
        self.assertStatus(r, 0)
        self.assertIn("wsrelay: subprotocol: superchat", r.err)
        self.assertEqual(self.srv.record()["subprotocol"], "superchat")

    def test_verbose_heads_and_close(self):
        r = self.run_client(["-v", self.srv.url("/echo")], "a\n")
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"a\n")
        self.assertIn("GET /echo HTTP/1.1", r.err)
        self.assertRegex(r.err, r"(?i)upgrade: websocket")
        self.assertRegex(r.err, r"(?i)sec-websocket-key: ")
        self.assertIn("HTTP/1.1 101", r.err)
        self.assertRegex(r.err, r"(?i)sec-websocket-accept: ")
        self.assertIn("wsrelay: closed: 1000", r.err)
        # the request head comes before the response head, the close last
        self.assertLess(r.err.index("GET /echo"), r.err.index("HTTP/1.1 101"))
        self.assertLess(r.err.index("HTTP/1.1 101"),
                        r.err.index("wsrelay: closed: 1000"))


# ===================================================================== pings
class TestPings(ClientTestCase):

    def test_server_ping_answered_once(self):
        r = self.run_client(["-1", "hello", self.srv.url("/ping")])
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"pong-ok\n")
        self.assertTrue(self.srv.record()["pong"])

    def test_server_ping_answered_while_idle(self):
        """Stdin open and silent: the client still answers a ping."""
        p = self.interactive([self.srv.url("/ping")])
        out = p.read_lines(1)
        self.assertEqual(out, b"pong-ok\n")
        r = p.finish(close_stdin=True)
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"pong-ok\n")
        rec = self.srv.record()
        self.assertTrue(rec["pong"])
        self.assertIn(OP_PONG, rec["opcodes"])

    def test_ping_interval(self):
        """--ping-interval 1 with stdin idle for 4 s: the server sees client
        pings (recorded by RecordingProtocol.read_frame); the pongs it
        sends back print nothing."""
        p = self.interactive(["--ping-interval", "1", self.srv.url("/echo")])
        time.sleep(4.0)
        self.assertIsNone(p.p.poll(), "client exited while idle")
        r = p.finish(close_stdin=True)
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"")
        rec = self.srv.record()
        self.assertGreaterEqual(rec["opcodes"].count(OP_PING), 2, rec)
        self.assertEqual(rec["close_code"], 1000)


# ============================================================== exit status
class TestExitStatus(ClientTestCase):

    # ---------------------------------------------------------------- 0
    def test_server_close_1000_while_stdin_open(self):
        p = self.interactive([self.srv.url("/bye")])
        p.write(b"hi\n")
        r = p.finish(close_stdin=False)
        self.assertStatus(r, 0)
        self.assertEqual(self.srv.record()["messages"], ["hi"])

    def test_close_without_status_is_normal(self):
        """An empty close frame (1005 in the API) is a normal close."""
        p = self.interactive([self.srv.raw_url("/close1005")])
        p.write(b"hi\n")
        r = p.finish(close_stdin=False)
        self.assertStatus(r, 0)
        rec = self.srv.record()
        self.assertEqual([(op, d) for op, fin, m, d in rec["frames"]][0],
                         (OP_TEXT, b"hi"))

    def test_raw_server_control(self):
        """The raw server's handshake is right: an unmasked frame from it
        is printed; every client frame is masked; the client closes 1000."""
        r = self.run_client(["-1", "hi", self.srv.raw_url("/unmasked")])
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"hello\n")
        rec = self.srv.record()
        self.assertTrue(rec["frames"])
        self.assertTrue(all(m for op, fin, m, d in rec["frames"]),
                        "unmasked client frame: %r" % rec["frames"])
        self.assertEqual(rec["frames"][0][0], OP_TEXT)
        self.assertEqual(rec["frames"][0][3], b"hi")
        self.assertEqual(rec["close_payload"][:2], struct.pack("!H", 1000))

    def test_utf8_split_across_fragments(self):
        """A character split between two fragments is valid."""
        r = self.run_client(["-1", "hi", self.srv.raw_url("/splitutf8")])
        self.assertStatus(r, 0)
        self.assertEqual(r.out, "w\u00f6rld\n".encode())

    def test_ping_between_fragments(self):
        """A ping inside a fragmented message is answered (pong with the
        same payload) and the message is printed whole."""
        r = self.run_client(["-1", "hi", self.srv.raw_url("/fragping")])
        self.assertStatus(r, 0)
        self.assertEqual(r.out, b"hello\n")
        rec = self.srv.record()
        self.assertIn((OP_PONG, b"mid"),
                      [(op, d) for op, fin, m, d in rec["frames"]])

    def test_sigint_closes_normally(self):
        """SIGINT closes as the end of stdin does (man page): 1000, exit 0."""
        p = self.interactive([self.srv.url("/echo")])
        p.write(b"one\n")
        self.assertEqual(p.read_lines(1), b"one\n")
        p.p.send_signal(signal.SIGINT)
        r = p.finish(close_stdin=False)
        self.assertStatus(r, 0)
        rec = self.srv.record()
        self.assertEqual(rec["messages"], ["one"])
        self.assertEqual(rec["close_code"], 1000)

    # ---------------------------------------------------------------- 1
    def test_exit1_nothing_listening(self):
        port = free_port()
        r = self.run_client(["ws://127.0.0.1:%d/echo" % port], "hi\n")
        self.assertStatus(r, 1)
        self.assertEqual(r.out, b"")
        self.assertTrue(r.err.strip())

    # ---------------------------------------------------------------- 2
    def _usage(self, args, stdin=b""):
        r = self.run_client(args, stdin)
        self.assertStatus(r, 2)
        self.assertTrue(r.err.strip(), "no message for a usage error")
        self.assertEqual(self.srv.requests, [], "connected anyway")
        return r

    def test_exit2_bad_option(self):
        self._usage(["--no-such-option", self.srv.url("/echo")])

    def test_exit2_no_url(self):
        self._usage([])

    def test_exit2_two_urls(self):
        self._usage([self.srv.url("/echo"), self.srv.url("/echo")])

    def test_exit2_missing_option_argument(self):
        self._usage([self.srv.url("/echo"), "-1"])

    def test_exit2_bad_url_scheme(self):
        self._usage(["http://127.0.0.1:%d/echo" % self.srv.port])

    def test_exit2_bad_url_no_host(self):
        self._usage(["ws:///echo"])

    def test_exit2_bad_binary_out(self):
        self._usage(["-o", "octal", self.srv.url("/echo")])

    def test_exit2_raw_zero(self):
        self._usage(["-r", "0", self.srv.url("/echo")])

    def test_exit2_bad_timeout(self):
        self._usage(["-t", "soon", self.srv.url("/echo")])

    def test_exit2_header_without_colon(self):
        self._usage(["-H", "NoColon", self.srv.url("/echo")])

    def test_exit2_header_injection(self):
        """A CR LF inside -H would smuggle a second header line."""
        self._usage(["-H", "X-A: a\r\nX-B: b", self.srv.url("/echo")])

    # ---------------------------------------------------------------- 3
    def test_exit3_forbidden(self):
        r = self.run_client([self.srv.url("/forbidden")], "hi\n")
        self.assertStatus(r, 3)
        self.assertEqual(r.out, b"")
        self.assertIn("wsrelay: handshake refused: HTTP 403", r.err)

    def test_exit3_not_found(self):
        r = self.run_client([self.srv.url("/no/such/path")], "hi\n")
        self.assertStatus(r, 3)
        self.assertIn("wsrelay: handshake refused: HTTP 404", r.err)

    def test_exit3_wrong_accept(self):
        """A 101 whose Sec-WebSocket-Accept does not match the key is not a
        WebSocket connection (man page: "handshake failed", status 3)."""
        r = self.run_client(["-1", "hi", self.srv.raw_url("/badaccept")])
        self.assertStatus(r, 3)
        self.assertIn("wsrelay: handshake failed", r.err)
        self.assertEqual(r.out, b"")
        self.assertEqual(self.srv.record()["frames"], [],
                         "the client sent frames on a failed handshake")

    # ---------------------------------------------------------------- 4
    def _protocol_error(self, path):
        r = self.run_client(["-1", "hi", self.srv.raw_url(path)])
        self.assertStatus(r, 4)
        self.assertIn("protocol error", r.err)
        self.assertNotIn(b"hello", r.out)

    def test_exit4_masked_frame(self):
        self._protocol_error("/masked")

    def test_exit4_reserved_opcode(self):
        self._protocol_error("/badopcode")

    def test_exit4_rsv1_without_extension(self):
        self._protocol_error("/rsv1")

    def test_exit4_invalid_utf8_text(self):
        """A text message that is not UTF-8 (RFC 6455 8.1) fails the
        connection: exit 4, nothing printed."""
        r = self.run_client(["-1", "hi", self.srv.raw_url("/badutf8")])
        self.assertStatus(r, 4)
        self.assertNotIn(b"bad", r.out)

    def test_exit4_other_protocol_errors(self):
        for path in sorted(RAW_SENDS):
            with self.subTest(path=path):
                r = self.run_client(["-1", "hi", self.srv.raw_url(path)])
                self.assertStatus(r, 4)
                self.assertIn("protocol error", r.err)
                self.assertNotIn(b"hello", r.out)

    # ---------------------------------------------------------------- 5
    def test_exit5_once_silent(self):
        # -t 1: well before the 10 s default, so 9 s bounds the run.
        r = self.run_client(["-t", "1", "-1", "hi", self.srv.url("/silent")],
                            timeout=9)
        self.assertStatus(r, 5)
        self.assertTrue(r.err.startswith("wsrelay: timeout"), r)
        self.assertEqual(r.out, b"")

    def test_exit5_handshake_never_answered(self):
        """Interpretation: -t also bounds the opening handshake."""
        r = self.run_client(["--timeout", "1", self.srv.raw_url(
            "/nohandshake")], "hi\n", timeout=9)
        self.assertStatus(r, 5)
        self.assertTrue(r.err.startswith("wsrelay: timeout"), r)

    def test_exit5_close_never_answered(self):
        """-t bounds the closing handshake too: after EOF the client sends
        its close; the server never answers it."""
        r = self.run_client(["-t", "1", self.srv.raw_url("/noclosereply")],
                            "hi\n", timeout=9)
        self.assertStatus(r, 5)
        self.assertTrue(r.err.startswith("wsrelay: timeout"), r)
        rec = self.srv.record()
        self.assertEqual(rec["frames"][0][3], b"hi")
        self.assertEqual(rec["close_payload"][:2], struct.pack("!H", 1000))

    def test_idle_session_outlives_timeout(self):
        """-t bounds connecting, the --once reply and the closing handshake,
        not an idle session: stdin silent for 2.5 s with -t 1, then a line
        still goes through."""
        p = self.interactive(["-t", "1", self.srv.url("/echo")])
        time.sleep(2.5)
        self.assertIsNone(p.p.poll(), "client exited while idle")
        p.write(b"still here\n")
        self.assertEqual(p.read_lines(1), b"still here\n")
        r = p.finish(close_stdin=True)
        self.assertStatus(r, 0)
        self.assertEqual(self.srv.record()["messages"], ["still here"])

    # ---------------------------------------------------------------- 6
    def _abnormal(self, path, want_err):
        p = self.interactive([self.srv.url(path)])
        p.write(b"hi\n")
        r = p.finish(close_stdin=False)
        self.assertStatus(r, 6)
        self.assertIn(want_err, r.err)
        self.assertEqual(self.srv.record()["messages"], ["hi"])
        return r

    def test_exit6_close4000(self):
        self._abnormal("/close4000", "wsrelay: closed: 4000 custom")

    def test_exit6_close1011(self):
        r = self._abnormal("/close1011", "wsrelay: closed: 1011")
        self.assertIn("internal", r.err)

    def test_exit6_drop(self):
        self._abnormal("/drop", "connection lost (1006)")

    def test_exit6_close4000_once(self):
        r = self.run_client(["-1", "hi", self.srv.url("/close4000")])
        self.assertStatus(r, 6)
        # The client words it "closed before a reply: 4000 custom" here.
        self.assertRegex(r.err, r"(?m)^wsrelay: closed\b.*: 4000 custom$")
        self.assertEqual(r.out, b"")


# ======================================================================= wss
class TestTls(ClientTestCase):
    """wss:// against a python3-websockets server whose certificate (for
    a.test and 127.0.0.1) comes from a CA made by the test."""

    def setUp(self):
        self.pki = PKI()
        self.addCleanup(self.pki.cleanup)
        self.ca = self.pki.ca("ca")
        self.pki.ca("other")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.pki.issue("srv", "ca", "a.test",
                                            dns=["a.test"],
                                            ips=["127.0.0.1"]))
        self.srv = Servers(ssl=ctx)
        self.addCleanup(self.srv.stop)

    def test_cacert(self):
        r = self.run_client(["--cacert", self.ca, self.srv.url("/echo")],
                            "hello\nw\u00f6rld\n")
        self.assertStatus(r, 0)
        self.assertEqual(r.text, "hello\nw\u00f6rld\n")
        self.assertEqual(self.srv.record()["messages"],
                         ["hello", "w\u00f6rld"])

    def test_large_raw(self):
        data = os.urandom(1 << 20)
        r = self.run_client(["--cacert", self.ca, "-r", "65536", "-o", "raw",
                             self.srv.url("/echo")], data)
        self.assertStatus(r, 0)
        self.assertEqual(r.out, data)

    def test_verbose_names_tls(self):
        r = self.run_client(["-v", "--cacert", self.ca,
                             self.srv.url("/echo")], "x\n")
        self.assertStatus(r, 0)
        self.assertRegex(r.err, r"wsrelay: TLS: TLSv1\.[23], ")

    def test_system_store_refuses(self):
        r = self.run_client([self.srv.url("/echo")], "hello\n")
        self.assertStatus(r, 1)
        self.assertIn("TLS: certificate verify failed", r.err)
        self.assertEqual(r.out, b"")

    def test_wrong_ca_refuses(self):
        r = self.run_client(["--cacert", self.pki.path("other.pem"),
                             self.srv.url("/echo")], "hello\n")
        self.assertStatus(r, 1)
        self.assertIn("TLS: certificate verify failed: unable to get local "
                      "issuer certificate", r.err)

    def test_hostname_checked(self):
        # The certificate is for a.test and 127.0.0.1, not localhost.
        r = self.run_client(["--cacert", self.ca,
                             self.srv.url("/echo", "localhost")], "hi\n")
        self.assertStatus(r, 1)
        self.assertIn("TLS: certificate verify failed: hostname mismatch",
                      r.err)

    def test_insecure(self):
        r = self.run_client(["--insecure", self.srv.url("/echo")], "hi\n")
        self.assertStatus(r, 0)
        self.assertEqual(r.text, "hi\n")
        r = self.run_client(["-k", self.srv.url("/echo", "localhost")],
                            "hi\n")
        self.assertStatus(r, 0)

    def test_cacert_unreadable(self):
        missing = os.path.join(self.pki.dir, "nope.pem")
        r = self.run_client(["--cacert", missing, self.srv.url("/echo")],
                            "hi\n")
        self.assertStatus(r, 1)
        self.assertIn('"%s": No such file or directory' % missing, r.err)

    def test_plain_server_is_not_tls(self):
        plain = Servers()
        self.addCleanup(plain.stop)
        r = self.run_client(["--cacert", self.ca, "wss://127.0.0.1:%d/echo"
                             % plain.port], "hi\n")
        self.assertStatus(r, 1)
        self.assertIn("TLS: ", r.err)


# ===================================================================== bench
def bench_text(size):
    """wsrelay bench's text template: a, b, c, ... over size bytes."""
    return "".join(chr(ord("a") + j % 26) for j in range(size))


def bench_binary(size):
    return bytes((j * 31 + 7) & 0xff for j in range(size))


class TestBench(ClientTestCase):
    """wsrelay bench: what it sends, what it checks.  Every run is bounded
    by a message count (-n); the duration (-d 600) is far past the run's
    time limit, so a run that did not stop at its count fails."""

    def bench(self, args, status):
        r = self.run_client(["bench", "-q", "-w", "0", "-d", "600"] + args)
        self.assertStatus(r, status)
        lines = r.text.splitlines()
        self.assertEqual(len(lines), 1, r)
        summary = dict(kv.split("=", 1) for kv in lines[0].split())
        self.assertLess(float(summary["dur_s"]), 600, r)
        return summary

    def expected(self, n, size, text=True):
        tmpl = bench_text(size) if text else bench_binary(size)
        head = ["%016x" % i for i in range(n)]
        if text:
            return [h + tmpl[16:] for h in head]
        return [h.encode("ascii") + tmpl[16:] for h in head]

    def test_echo_messages_on_the_wire(self):
        s = self.bench(["-n", "30", "-c", "2", "-k", "4", "-s", "40",
                        self.srv.url("/echo")], 0)
        self.assertEqual((s["estab"], s["bad"], s["proto_err"]),
                         ("2", "0", "0"))
        for _ in range(2):
            rec = self.srv.record()
            self.assertEqual(rec["messages"], self.expected(30, 40))
            self.assertEqual(set(rec["opcodes"]), {OP_TEXT})

    def test_echo_compressed(self):
        """-z: permessage-deflate where the server takes it, and every
        echo still checked."""
        z = Servers(compression="deflate")
        self.addCleanup(z.stop)
        s = self.bench(["-z", "-n", "25", "-c", "2", "-k", "4", "-s", "300",
                        z.url("/echo")], 0)
        self.assertEqual((s["estab"], s["deflate"], s["bad"], s["lost"]),
                         ("2", "2", "0", "0"))
        for _ in range(2):
            rec = z.record()
            self.assertEqual(rec["extensions"], ["permessage-deflate"])
            self.assertEqual(rec["messages"], self.expected(25, 300))
            # 25 messages of 300 bytes, compressed on the wire.
            self.assertLess(rec["wire_bytes"], 25 * 300 // 2)
        # A server that declines: plain frames, deflate=0.
        s = self.bench(["-z", "-n", "5", "-s", "40", self.srv.url("/echo")],
                       0)
        self.assertEqual((s["deflate"], s["bad"]), ("0", "0"))

    def test_echo_binary(self):
        s = self.bench(["-b", "-n", "20", "-k", "3", "-s", "21",
                        self.srv.url("/echo")], 0)
        self.assertEqual((s["type"], s["bad"]), ("binary", "0"))
        self.assertEqual(self.srv.record()["messages"],
                         self.expected(20, 21, text=False))

    def test_echo_without_sequence_numbers(self):
        # Under 16 bytes there is no room for the sequence number.
        s = self.bench(["-n", "10", "-k", "2", "-s", "7",
                        self.srv.url("/echo")], 0)
        self.assertEqual(s["bad"], "0")
        self.assertEqual(self.srv.record()["messages"], [bench_text(7)] * 10)

    def test_echo_large_messages(self):
        s = self.bench(["-n", "4", "-k", "2", "-s", "200000",
                        self.srv.url("/echo")], 0)
        self.assertEqual(s["bad"], "0")
        self.assertEqual(self.srv.record()["messages"],
                         self.expected(4, 200000))

    def test_echo_over_one_mib(self):
        # Messages bigger than the module's default 1 MiB limit.
        size = 3 * 1048576 // 2
        s = self.bench(["-n", "2", "-s", str(size), self.srv.url("/echo")],
                       0)
        self.assertEqual((s["bad"], s["proto_err"], s["msgs"]),
                         ("0", "0", "2"))
        self.assertEqual(self.srv.record()["messages"],
                         self.expected(2, size))

    def test_ping_between_echoes_is_answered(self):
        self.bench(["-n", "12", "-k", "4", "-s", "32",
                    self.srv.raw_url("/bench-ping")], 0)
        rec = self.srv.record()
        frames = rec["frames"]
        self.assertTrue(all(masked for _, _, masked, _ in frames), frames)
        self.assertEqual([f[3] for f in frames if f[0] == OP_PONG],
                         [b"bench-ping"])
        self.assertEqual([f[3].decode() for f in frames if f[0] == OP_TEXT],
                         self.expected(12, 32))
        # A fresh mask key for every frame (the odds of a repeat among
        # 13 random keys are about 2e-8).
        self.assertEqual(len(rec["keys"]), 13)
        self.assertEqual(len(set(rec["keys"])), 13)

    def test_changed_echo_is_bad(self):
        s = self.bench(["-n", "8", "-k", "2", "-s", "32",
                        self.srv.raw_url("/bench-corrupt")], 1)
        self.assertEqual((s["bad"], s["proto_err"], s["closed"]),
                         ("1", "0", "0"))

    def _protocol_error(self, path, code):
        s = self.bench(["-n", "8", "-k", "2", "-s", "32",
                        self.srv.raw_url(path)], 1)
        self.assertEqual((s["proto_err"], s["closed"]), ("1", "1"))
        rec = self.srv.record()
        self.assertEqual(rec["close_payload"][:2], struct.pack("!H", code))

    def test_invalid_utf8_echo_is_a_protocol_error(self):
        self._protocol_error("/bench-badutf8", 1007)

    def test_masked_echo_is_a_protocol_error(self):
        self._protocol_error("/bench-masked", 1002)

    def test_broadcast(self):
        s = self.bench(["-m", "broadcast", "-n", "60", "-c", "3", "-k", "8",
                        "-s", "40", self.srv.url("/room")], 0)
        self.assertEqual((s["estab"], s["bad"], s["lost"], s["reordered"]),
                         ("4", "0", "0", "0"))
        sent = [m for m in (self.srv.record()["messages"] for _ in range(4))
                if m]
        self.assertEqual(len(sent), 1, "one sender")
        self.assertEqual([m[:16] for m in sent[0]],
                         ["%016x" % i for i in range(60)])
        self.assertEqual({m[32:] for m in sent[0]}, {bench_text(40)[32:]})

    def test_broadcast_changed_send_time_is_bad(self):
        s = self.bench(["-m", "broadcast", "-n", "20", "-c", "3", "-k", "4",
                        "-s", "32", self.srv.url("/roomcorrupt")], 1)
        self.assertEqual((s["bad"], s["lost"]), ("3", "0"))

    def test_broadcast_lost_message(self):
        s = self.bench(["-m", "broadcast", "-n", "20", "-c", "3", "-k", "4",
                        "-s", "32", self.srv.url("/roomskip")], 1)
        self.assertEqual((s["bad"], s["lost"], s["reordered"]),
                         ("0", "3", "0"))


if __name__ == "__main__":
    unittest.main()
