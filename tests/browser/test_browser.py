"""test_browser.py - wsrelayd against WebSocket stacks written elsewhere.

Run by tests/browser/run.sh with Debian's /usr/bin/python3 and its
python3-websockets (10.x), which here only drives Chromium through the
Chrome DevTools Protocol.  Two real clients talk to a real daemon:

  ChromiumTest  headless Chromium (Debian package chromium) loads page.html
                from a local http.server; the page's script uses the
                browser's own WebSocket and leaves its findings in
                window.__result, which is read with Runtime.evaluate.
  NodeWsTest    Node's "ws" package (npm ws@8) runs ws_client.mjs, which
                prints its findings as one JSON line: fragments, pings,
                custom close codes and the size limits, which a browser
                cannot exercise.

Each class starts its own daemon on a free loopback port.  All traffic
stays on 127.0.0.1; every wait is bounded; no assertion is about time.
A missing browser, node, npm or ws package is an error, never a skip.

Environment: WSRELAYD (the binary); CHROMIUM (default /usr/bin/chromium);
WSRELAYD_TEST_WS_DIR, the installed ws package (run.sh installs it into a
temporary folder; without it this module installs ws@8 into one itself).
"""
import asyncio
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))

import websockets  # noqa: E402  (Debian's python3-websockets)

from daemonutil import (IO_TIMEOUT, DaemonTestCase, arun,  # noqa: E402
                        bounded, config_text, start_class_daemon,
                        stop_class_daemon, wait_until)

CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"

# Bounds of the waits (seconds); none of them is asserted.
BROWSER_START_TIMEOUT = 30.0   # the "DevTools listening" line
BROWSER_STOP_TIMEOUT = 10.0    # the browser's process group gone on SIGTERM
PAGE_TIMEOUT = 60.0            # page.html finished (each step: 10 s)
NODE_TIMEOUT = 120.0           # ws_client.mjs (its own bound: 100 s)
NPM_TIMEOUT = 180.0            # npm install ws@8

MIB = 1048576
TEXT = "h\u00e9llo \u2713 \U0001f680"            # "héllo ✓ 🚀"
BIG_TEXT = "h\u00e9llo \u2713 \U0001f680 " * (MIB // 16)  # 1 MiB of UTF-8

# /echo and /chat/* take 2 MiB messages (a browser's 1 MiB one, with room);
# /idle closes an idle session after 1 s (1001); /small keeps 1 MiB limits.
ROUTES = """
  { path = "/echo"; handler = "echo";
    limits = { max_message_size = 2097152; max_frame_size = 2097152; }; },
  { path = "/chat/*"; handler = "broadcast"; room = "path";
    include_sender = false;
    limits = { max_message_size = 2097152; max_frame_size = 2097152; }; },
  { path = "/idle"; handler = "echo"; limits = { idle_timeout = 1; }; },
  { path = "/small"; handler = "echo";
    limits = { max_message_size = 1048576; max_frame_size = 1048576; }; },
  { path = "/zecho"; handler = "echo"; compression = true;
    limits = { max_message_size = 2097152; max_frame_size = 2097152; }; }
"""


def make_config(port):
    return config_text(port, ROUTES)


def pattern(n, mul, add):
    return bytes((i * mul + add) & 0xff for i in range(n))


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def brief(v, n=600):
    s = json.dumps(v)
    return s if len(s) <= n else s[:n] + "..."


# ------------------------------------------------------------- page server

class PageServer:
    """Serves page.html only, on a free port of 127.0.0.1, in a thread."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?", 1)[0] != "/page.html":
                self.send_error(404)
                return
            with open(os.path.join(HERE, "page.html"), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     self.Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def url(self, query):
        return "http://127.0.0.1:%d/page.html?%s" % (self.port, query)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


# ---------------------------------------------------------------- chromium

class Chromium:
    """Headless Chromium in a process group of its own, a new profile."""

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-quic",
             "--remote-debugging-port=0"]

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="wsrelayd-chromium-")
        self.profile = os.path.join(self.tmp.name, "profile")
        self.errpath = os.path.join(self.tmp.name, "chromium.log")
        self.proc = None
        self.errf = None

    def log(self):
        try:
            with open(self.errpath, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError("no Chromium at %s: apt-get install "
                                 "chromium (or set CHROMIUM)" % CHROMIUM)
        os.mkdir(self.profile)
        self.errf = open(self.errpath, "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM] + self.FLAGS + ["--user-data-dir=" + self.profile,
                                       "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.errf, stderr=self.errf,
            start_new_session=True)
        self.pgid = self.proc.pid
        rx = re.compile(r"DevTools listening on (ws://127\.0\.0\.1:\d+/\S+)")

        def listening():
            m = rx.search(self.log())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise AssertionError("chromium exited with status %s:\n%s"
                                     % (self.proc.returncode, self.log()))
            return None
        try:
            self.devtools_url = wait_until(listening, BROWSER_START_TIMEOUT,
                                           "chromium's DevTools line",
                                           interval=0.05)
        except BaseException:
            self.stop()
            raise

    def _group_alive(self):
        self.proc.poll()          # reap the leader once it has exited
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self):
        """SIGTERM the browser's process group (only it), then SIGKILL."""
        try:
            if self.proc is None:
                return
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not self._group_alive():
                    break
                try:
                    os.killpg(self.pgid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + BROWSER_STOP_TIMEOUT
                while self._group_alive() and time.monotonic() < deadline:
                    time.sleep(0.05)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        finally:
            if self.errf is not None:
                self.errf.close()
                self.errf = None

    def cleanup(self):
        self.tmp.cleanup()


class CDPError(Exception):
    pass


class CDP:
    """A Chrome DevTools Protocol connection (flat sessions)."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events = []

    async def call(self, method, params=None, session=None,
                   timeout=IO_TIMEOUT):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        await bounded(self.ws.send(json.dumps(msg)), timeout)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no DevTools answer to %s" % method)
            m = json.loads(await bounded(self.ws.recv(), left))
            if m.get("id") == mid:
                if "error" in m:
                    raise CDPError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def page_messages(self):
        """Console lines and uncaught exceptions of the page."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled":
                out.append("console.%s: %s" % (p.get("type"), " ".join(
                    str(a.get("value", a.get("description")))
                    for a in p.get("args", []))))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s" % d.get("exception", {}).get(
                    "description", d.get("text")))
        return out


async def evaluate(cdp, session, expression):
    r = await cdp.call("Runtime.evaluate",
                       {"expression": expression, "returnByValue": True},
                       session=session)
    if "exceptionDetails" in r:
        raise CDPError("evaluate %r: %s" % (expression,
                                            r["exceptionDetails"]))
    return r.get("result", {}).get("value")


async def run_page(devtools_url, page_url):
    """Load page_url in a new tab; its window.__result and page messages."""
    async with websockets.connect(devtools_url, max_size=None,
                                  ping_interval=None, compression=None,
                                  open_timeout=IO_TIMEOUT,
                                  close_timeout=5) as ws:
        cdp = CDP(ws)
        t = await cdp.call("Target.createTarget", {"url": "about:blank"})
        a = await cdp.call("Target.attachToTarget",
                           {"targetId": t["targetId"], "flatten": True})
        sid = a["sessionId"]
        await cdp.call("Runtime.enable", session=sid)
        await cdp.call("Page.enable", session=sid)
        nav = await cdp.call("Page.navigate", {"url": page_url},
                             session=sid)
        if nav.get("errorText"):
            raise AssertionError("navigation to %s failed: %s"
                                 % (page_url, nav["errorText"]))
        deadline = time.monotonic() + PAGE_TIMEOUT
        while True:
            try:
                v = await evaluate(
                    cdp, sid, "window.__result && window.location.pathname"
                    " === '/page.html' ? JSON.stringify(window.__result)"
                    " : ''")
            except CDPError:
                v = None          # e.g. the context changing on navigation
            if v:
                return json.loads(v), cdp.page_messages()
            if time.monotonic() >= deadline:
                try:
                    partial = await evaluate(
                        cdp, sid, "JSON.stringify(window.__partial || null)"
                        " + '\\n' + (document.getElementById('log') || "
                        "{textContent: ''}).textContent")
                except CDPError as e:
                    partial = str(e)
                raise AssertionError(
                    "page.html did not finish within %.0fs; partial result "
                    "and page log:\n%s\npage messages: %s"
                    % (PAGE_TIMEOUT, partial, cdp.page_messages()))
            await asyncio.sleep(0.1)


class ChromiumTest(DaemonTestCase):
    """Chromium's own WebSocket: handshake, echo, broadcast, closes."""

    @classmethod
    def setUpClass(cls):
        start_class_daemon(cls, make_config)
        server = None
        browser = Chromium()
        try:
            server = PageServer()
            browser.start()
            room = "room-%d" % os.getpid()
            url = server.url("port=%d&room=%s" % (cls.d.port, room))
            cls.result, cls.page_messages = arun(
                run_page(browser.devtools_url, url), PAGE_TIMEOUT + 30)
        except BaseException:
            sys.stderr.write("\n----- chromium log -----\n%s----- end -----\n"
                             % browser.log())
            browser.stop()
            try:
                stop_class_daemon(cls)
            except BaseException:
                pass        # it wrote its log; the first error is the one
            raise
        finally:
            browser.stop()
            browser.cleanup()
            if server is not None:
                server.stop()

    @classmethod
    def tearDownClass(cls):
        stop_class_daemon(cls)

    def field(self, name):
        v = self.result.get(name)
        self.assertIsInstance(v, dict, "page result %s: %s"
                              % (name, brief(v)))
        self.assertNotIn("error", v, "page step %s failed: %s"
                         % (name, v.get("error")))
        return v

    def test_page_ran(self):
        self.assertTrue(self.result.get("done"), brief(self.result))
        self.assertEqual(self.result.get("errors"), [],
                         "page errors; page messages: %s"
                         % self.page_messages)
        self.assertTrue(self.result.get("secureContext"),
                        "crypto.subtle needs a secure context")

    def test_handshake(self):
        v = self.field("handshake")
        self.assertEqual(v["readyState"], 1)           # OPEN
        self.assertEqual(v["url"], self.d.url("/echo"))
        # Chromium offers permessage-deflate; the daemon must decline it.
        self.assertEqual(v["extensions"], "")
        self.assertEqual(v["protocol"], "")

    def test_echo_text(self):
        v = self.field("echo_text")
        self.assertEqual(v["type"], "string")
        self.assertEqual(v["utf8Hex"], TEXT.encode("utf-8").hex())
        self.assertIs(v["equal"], True)

    def test_echo_binary(self):
        v = self.field("echo_binary")
        self.assertIs(v["isArrayBuffer"], True, brief(v))
        self.assertEqual(v["length"], 256)
        self.assertEqual(v["hex"], bytes(range(256)).hex())

    def test_echo_binary_1mib(self):
        v = self.field("echo_binary_1mib")
        self.assertIs(v["isArrayBuffer"], True, brief(v))
        self.assertEqual(v["length"], MIB)
        self.assertEqual(v["firstMismatch"], -1)
        self.assertEqual(v["sha256"], sha256(pattern(MIB, 31, 7)))

    def test_echo_text_1mib(self):
        v = self.field("echo_text_1mib")
        self.assertEqual(v["type"], "string")
        self.assertEqual(v["utf8Length"], MIB)
        self.assertEqual(v["sha256"], sha256(BIG_TEXT.encode("utf-8")))
        self.assertIs(v["equal"], True)

    def test_deflate(self):
        """Chromium's permessage-deflate offer is taken on /zecho; 2 MiB of
        compressible messages go both ways in far fewer bytes."""
        v = self.field("deflate")
        self.assertTrue(v["extensions"].startswith("permessage-deflate"),
                        brief(v))
        self.assertIs(v["textEqual"], True)
        self.assertEqual(v["binaryLength"], MIB)
        self.assertEqual(v["binaryMismatch"], -1)
        self.assertEqual(v["close"]["code"], 1000, brief(v))
        # The daemon's log line for it: two messages each way, and the
        # bytes on the wire (compressed) far below the 2 MiB they carry.
        # (It is written when the TCP connection ends: wait for it.)
        deadline = time.monotonic() + 10
        while True:
            with open(self.d.logpath) as f:
                lines = [l for l in f if " /zecho " in l and " in=" in l]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(lines), 1, lines)
        m = re.search(r"in=(\d+) msgs/(\d+) B out=(\d+) msgs/(\d+) B",
                      lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual((m.group(1), m.group(3)), ("2", "2"))
        self.assertLess(int(m.group(2)), MIB // 4)
        self.assertLess(int(m.group(4)), MIB // 4)

    def test_broadcast(self):
        v = self.field("broadcast")
        sent = "from a: " + TEXT
        self.assertEqual(v["bTextUtf8Hex"], sent.encode("utf-8").hex())
        self.assertEqual(v["bText"], sent)
        self.assertIs(v["bBinaryIsArrayBuffer"], True)
        self.assertEqual(v["bBinaryHex"],
                         bytes(255 - i for i in range(256)).hex())
        # include_sender = false: a's first message is b's answer, not
        # its own text coming back.
        self.assertEqual(v["aFirst"], "from b")
        self.assertEqual(v["aQueuedAfter"], 0)
        self.assertEqual(v["bQueuedAfter"], 0)
        for who in ("closeA", "closeB"):
            self.assertEqual(v[who]["code"], 1000, brief(v[who]))
            self.assertIs(v[who]["wasClean"], True, brief(v[who]))

    def test_page_close(self):
        """close(1000, "bye") from the page: a clean close with 1000."""
        v = self.field("page_close")
        self.assertEqual(v["code"], 1000, brief(v))
        self.assertIs(v["wasClean"], True, brief(v))
        self.assertEqual(v["readyState"], 3)           # CLOSED

    def test_server_close(self):
        """The daemon's idle timeout (1 s): a clean close with 1001."""
        v = self.field("server_close")
        self.assertEqual(v["code"], 1001, brief(v))
        self.assertIs(v["wasClean"], True, brief(v))
        self.assertEqual(v["readyState"], 3)
        self.assertEqual(v["messages"], 0)

    def test_too_big(self):
        """3 MiB from the page to a 1 MiB route: the page sees 1009.

        Chromium sends a big message as several frames (the daemon's
        reason is "message too big"), so this is max_message_size."""
        v = self.field("too_big")
        self.assertEqual(v["code"], 1009, brief(v))
        self.assertEqual(v["messages"], 0)


# --------------------------------------------------------------- node "ws"

def node_tools():
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise AssertionError("node and npm are needed (Node.js 20 with npm)"
                             ": node=%s npm=%s" % (node, npm))
    return node, npm


def install_ws(npm, prefix):
    """npm install ws@8 into prefix (a temporary folder): the package dir."""
    cmd = [npm, "install", "--prefix", prefix, "ws@8", "--no-audit",
           "--no-fund", "--no-update-notifier"]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s: no answer within %.0fs (npm registry "
                             "unreachable?)" % (" ".join(cmd), NPM_TIMEOUT))
    if p.returncode != 0:
        raise AssertionError("%s failed (status %d; npm registry "
                             "unreachable?):\n%s"
                             % (" ".join(cmd), p.returncode,
                                p.stdout.decode(errors="replace")))
    return os.path.join(prefix, "node_modules", "ws")


class NodeWsTest(DaemonTestCase):
    """Node's ws@8: fragments, pings, custom close codes, size limits."""

    @classmethod
    def setUpClass(cls):
        node, npm = node_tools()
        tmp = None
        wsdir = os.environ.get("WSRELAYD_TEST_WS_DIR")
        if not wsdir:
            tmp = tempfile.TemporaryDirectory(prefix="wsrelayd-npm-")
            wsdir = install_ws(npm, tmp.name)
        try:
            if not os.path.isfile(os.path.join(wsdir, "package.json")):
                raise AssertionError("no ws package at %s" % wsdir)
            start_class_daemon(cls, make_config)
            try:
                cls.result = cls.run_client(node, wsdir)
            except BaseException:
                stop_class_daemon(cls)
                raise
        finally:
            if tmp is not None:
                tmp.cleanup()

    @classmethod
    def run_client(cls, node, wsdir):
        cmd = [node, os.path.join(HERE, "ws_client.mjs"), wsdir,
               "ws://127.0.0.1:%d" % cls.d.port]
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=NODE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError("ws_client.mjs did not finish within %.0fs"
                                 % NODE_TIMEOUT)
        out = p.stdout.decode(errors="replace").strip().splitlines()
        err = p.stderr.decode(errors="replace")
        if p.returncode != 0 or not out:
            raise AssertionError("ws_client.mjs exited with %d\nstdout: %s\n"
                                 "stderr: %s" % (p.returncode, out, err))
        return json.loads(out[-1])

    @classmethod
    def tearDownClass(cls):
        stop_class_daemon(cls)

    def field(self, name):
        v = self.result.get(name)
        self.assertIsNotNone(v, "no %s in %s" % (name, brief(self.result)))
        if isinstance(v, dict):
            self.assertNotIn("error", v, "client step %s failed: %s"
                             % (name, v.get("error")))
        return v

    def test_client_ran(self):
        self.assertTrue(self.result.get("done"), brief(self.result))
        self.assertEqual(self.result.get("errors"), [])
        self.assertTrue(self.result.get("wsVersion", "").startswith("8."),
                        self.result.get("wsVersion"))

    def test_handshake(self):
        """ws offers permessage-deflate; no extension or protocol back."""
        v = self.field("handshake")
        self.assertEqual(v["extensions"], "")
        self.assertEqual(v["protocol"], "")
        self.assertIsNone(v["responseExtensions"])
        self.assertIsNone(v["responseProtocol"])

    def test_echo_text(self):
        v = self.field("echo_text")
        self.assertIs(v["isBinary"], False)
        self.assertEqual(v["hex"], TEXT.encode("utf-8").hex())

    def test_echo_binary(self):
        v = self.field("echo_binary")
        self.assertIs(v["isBinary"], True)
        self.assertEqual(v["hex"], bytes(range(256)).hex())

    def test_fragmented_text(self):
        """Three text frames, a UTF-8 character split between two."""
        v = self.field("fragmented_text")
        self.assertIs(v["isBinary"], False)
        expect = ("frag-one \u2713 frag-two " + TEXT).encode("utf-8")
        self.assertEqual(v["sentHex"], expect.hex())
        self.assertEqual(v["hex"], expect.hex())

    def test_fragmented_binary(self):
        """Four binary frames (the last one empty): one message back."""
        v = self.field("fragmented_binary")
        self.assertIs(v["isBinary"], True)
        whole = (pattern(1000, 3, 1) + pattern(1, 0, 0x42) +
                 pattern(70000, 5, 9))
        self.assertEqual(v["sentSha256"], sha256(whole))
        self.assertEqual(v["length"], len(whole))
        self.assertEqual(v["sha256"], sha256(whole))

    def test_ping_between_fragments(self):
        v = self.field("ping_between_fragments")
        self.assertEqual(v["pong"], "mid-message")
        self.assertEqual(v["message"], "before-ping after-ping")
        self.assertIs(v["isBinary"], False)

    def test_ping_payloads(self):
        """Pongs carry the ping's payload: some UTF-8, none, 125 bytes."""
        v = self.field("ping_payloads")
        self.assertIsInstance(v, list, brief(v))
        self.assertEqual([p["sentHex"] for p in v],
                         ["ping-payload \u2713".encode("utf-8").hex(), "",
                          pattern(125, 7, 3).hex()])
        for p in v:
            self.assertEqual(p["pongHex"], p["sentHex"])

    def test_echo_2mib_limit(self):
        """A message of exactly max_message_size = max_frame_size."""
        v = self.field("echo_2mib_limit")
        self.assertIs(v["isBinary"], True)
        self.assertEqual(v["length"], 2 * MIB)
        self.assertEqual(v["sentSha256"], sha256(pattern(2 * MIB, 31, 7)))
        self.assertEqual(v["sha256"], v["sentSha256"])

    def test_close_custom(self):
        """close(4000, "custom"): the daemon answers with 4000."""
        v = self.field("close_custom")
        self.assertEqual(v["code"], 4000, brief(v))
        self.assertEqual(v["errors"], [])
        self.assertEqual(v["messagesLeft"], 0)

    def test_too_big_frame(self):
        """A 3 MiB frame to a 1 MiB route: close 1009."""
        v = self.field("too_big_frame")
        self.assertEqual(v["code"], 1009, brief(v))
        self.assertEqual(v["messages"], 0)

    def test_too_big_fragmented(self):
        """3 x 512 KiB frames (each allowed), 1.5 MiB message: 1009."""
        v = self.field("too_big_fragmented")
        self.assertEqual(v["code"], 1009, brief(v))
        self.assertEqual(v["messages"], 0)


if __name__ == "__main__":
    unittest.main()
