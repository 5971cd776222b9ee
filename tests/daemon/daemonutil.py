"""daemonutil.py - helpers for the wsrelayd daemon tests (test_daemon.py).

A Daemon runs one wsrelayd in the foreground on a free loopback port with
its own configuration in a temporary directory; its log (stderr) goes to a
file there.  Raw-socket helpers speak just enough HTTP and RFC 6455 framing
to send what a real client library refuses to send.

Standard library only: this is run by Debian's /usr/bin/python3.
"""
import asyncio
import base64
import hashlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
WSRELAYD = os.path.abspath(os.environ.get("WSRELAYD") or
                           os.path.join(TOP_SRCDIR, "build", "wsrelayd"))

# Every wait is bounded by one of these (seconds).  They bound waiting
# only: no test asserts that anything happens quickly.
START_TIMEOUT = 5.0      # daemon accepting and its signals watched
STOP_TIMEOUT = 15.0      # daemon exit after SIGTERM
IO_TIMEOUT = 10.0        # one network operation
LOG_TIMEOUT = 5.0        # a line to appear in the daemon's log

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_until(pred, timeout, what, interval=0.02):
    """Poll pred() until it returns a true value (returned), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def config_text(port, routes, limits="", log_level="info", tls=None):
    """A whole configuration: one listener on 127.0.0.1:port, with the
    text of a tls group ("certificate = ...; key = ...;") if tls."""
    listener = "address = \"127.0.0.1\"; port = %d;" % port
    if tls is not None:
        listener += " tls = { %s };" % tls
    return ("log = { level = \"%s\"; target = \"stderr\"; };\n"
            "listen = ( { %s } );\n"
            "limits = { %s };\n"
            "routes = (\n%s\n);\n" % (log_level, listener, limits, routes))


class PKI:
    """Test certificates, made with the openssl command in a temporary
    folder: a CA (or several) and certificates it signs.  Elliptic-curve
    keys, valid for two days.  cleanup() removes the folder."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="wsrelayd-pki-")
        self.dir = self.tmp.name

    def path(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, *args):
        p = subprocess.run(["openssl"] + list(args), cwd=self.dir,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=IO_TIMEOUT, text=True)
        if p.returncode != 0:
            raise AssertionError("openssl %s failed: %s"
                                 % (" ".join(args), p.stderr))

    def ca(self, name):
        """A self-signed CA: name.pem and name.key; the .pem path."""
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", name + ".key", "-out", name + ".pem",
                      "-days", "2", "-subj", "/CN=wsrelayd test %s" % name,
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return self.path(name + ".pem")

    def issue(self, name, ca, cn, dns=(), ips=(), client=False):
        """A certificate for cn signed by CA ca (its name): (pem, key)."""
        sans = ["DNS:%s" % d for d in dns] + ["IP:%s" % i for i in ips]
        with open(self.path(name + ".ext"), "w") as f:
            if sans:
                f.write("subjectAltName=%s\n" % ",".join(sans))
            f.write("extendedKeyUsage=%s\n"
                    % ("clientAuth" if client else "serverAuth"))
            f.write("basicConstraints=CA:FALSE\n")
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", name + ".key", "-out", name + ".csr",
                      "-subj", "/CN=%s" % cn)
        self._openssl("x509", "-req", "-in", name + ".csr",
                      "-CA", ca + ".pem", "-CAkey", ca + ".key",
                      "-CAcreateserial", "-days", "2", "-out", name + ".pem",
                      "-extfile", name + ".ext")
        return self.path(name + ".pem"), self.path(name + ".key")

    def cleanup(self):
        self.tmp.cleanup()


def tls_conf(cert, key, extra=""):
    """The inside of a tls group with one certificate."""
    return 'certificate = "%s"; key = "%s"; %s' % (cert, key, extra)


class Daemon:
    """One wsrelayd -f -c <tmp>/wsrelayd.conf.

    make_config(port) returns the configuration text.
    """

    def __init__(self, make_config, name="wsrelayd"):
        self.tmp = tempfile.TemporaryDirectory(prefix="wsrelayd-test-")
        self.dir = self.tmp.name
        self.conf = os.path.join(self.dir, "wsrelayd.conf")
        self.logpath = os.path.join(self.dir, "wsrelayd.log")
        self.port = free_port()
        self.name = name
        self.proc = None
        self.logf = None
        self.term_sent = False
        self.write_config(make_config(self.port))

    def write_config(self, text):
        tmp = self.conf + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf)

    def url(self, path, scheme="ws"):
        return "%s://127.0.0.1:%d%s" % (scheme, self.port, path)

    def log(self):
        try:
            with open(self.logpath, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        if not os.access(WSRELAYD, os.X_OK):
            raise AssertionError("no wsrelayd binary at %s (set WSRELAYD)"
                                 % WSRELAYD)
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen([WSRELAYD, "-f", "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf)
        try:
            wait_until(self._ready, START_TIMEOUT, "%s to start" % self.name)
        except BaseException:
            self.kill()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with status %s while starting"
                                 % (self.name, self.proc.returncode))
        # The "started" line comes once the signals are watched.
        if " started: " not in self.log():
            return False
        try:
            socket.create_connection(("127.0.0.1", self.port), 1).close()
        except OSError:
            return False
        return True

    def signal(self, sig):
        if sig == signal.SIGTERM:
            self.term_sent = True
        self.proc.send_signal(sig)

    def wait_log(self, pattern, start=0, timeout=LOG_TIMEOUT):
        """The first match of regex pattern in the log after offset start."""
        rx = re.compile(pattern, re.M)

        def find():
            return rx.search(self.log(), start)
        return wait_until(find, timeout, "log line /%s/" % pattern)

    def stats(self):
        """Send SIGUSR1 and parse the stats line it logs into a dict."""
        start = len(self.log())
        self.signal(signal.SIGUSR1)
        m = self.wait_log(r"^.* info: stats: (.*)$", start)
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}

    def terminate(self, timeout=STOP_TIMEOUT):
        """SIGTERM this daemon (once) and return its exit status (bounded).

        Only one SIGTERM is sent: once the daemon has left its event loop
        the signal is no longer watched, and a second one would kill it.
        """
        if self.proc.poll() is None and not self.term_sent:
            self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %.0fs of SIGTERM"
                                 % (self.name, timeout))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        """Teardown: SIGTERM, require exit status 0, clean up."""
        try:
            if self.proc is not None:
                st = self.terminate()
                if st != 0:
                    raise AssertionError("%s exited with status %s"
                                         % (self.name, st))
        finally:
            self.kill()
            if self.logf is not None:
                self.logf.close()

    def cleanup(self):
        self.tmp.cleanup()


class DaemonTestCase(unittest.TestCase):
    """Dumps the log of every daemon in self.daemons() when a test fails."""

    maxDiff = 2000

    def daemons(self):
        ds = []
        d = getattr(type(self), "d", None)
        if d is not None:
            ds.append(d)
        ds.extend(getattr(self, "own_daemons", []))
        return ds

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            if len(result.failures) + len(result.errors) > before:
                for d in self.daemons():
                    sys.stderr.write("\n----- %s log (%s) for %s -----\n%s"
                                     "----- end of log -----\n"
                                     % (d.name, d.logpath, self.id(),
                                        d.log()))
            for d in getattr(self, "own_daemons", []):
                d.cleanup()

    def start_daemon(self, make_config, name="wsrelayd"):
        """A daemon for this test only, stopped (exit 0 required) after."""
        if not hasattr(self, "own_daemons"):
            self.own_daemons = []
        d = Daemon(make_config, name)
        self.own_daemons.append(d)
        d.start()
        self.addCleanup(d.stop)
        return d


def start_class_daemon(cls, make_config):
    cls.d = Daemon(make_config, cls.__name__)
    try:
        cls.d.start()
    except BaseException:
        sys.stderr.write("\n----- %s log -----\n%s----- end -----\n"
                         % (cls.__name__, cls.d.log()))
        cls.d.cleanup()
        raise


def stop_class_daemon(cls):
    try:
        cls.d.stop()
    except BaseException:
        sys.stderr.write("\n----- %s log -----\n%s----- end -----\n"
                         % (cls.__name__, cls.d.log()))
        raise
    finally:
        cls.d.cleanup()


def arun(coro, timeout=60):
    """Run a coroutine in a fresh event loop, bounded."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def bounded(aw, timeout=IO_TIMEOUT):
    return await asyncio.wait_for(aw, timeout)


# ------------------------------------------------------------ raw sockets

def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()
                            ).decode()


def upgrade_request(port, path="/echo", version="13", key=True,
                    extra=""):
    """The bytes of an upgrade request, and the key it carries."""
    k = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path,
             "Host: 127.0.0.1:%d" % port,
             "Upgrade: websocket",
             "Connection: Upgrade"]
    if key:
        lines.append("Sec-WebSocket-Key: %s" % k)
    if version is not None:
        lines.append("Sec-WebSocket-Version: %s" % version)
    head = "\r\n".join(lines) + "\r\n" + extra + "\r\n"
    return head.encode(), k


def connect_raw(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(IO_TIMEOUT)
    s.connect(("127.0.0.1", port))
    return s


def until_eof(port, data):
    """Send data on a new connection and read until the server ends it
    (EOF or reset, each wait bounded): the bytes read."""
    s = connect_raw(port)
    got = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    finally:
        s.close()
    return got


def parse_http_head(data):
    """(status, {lower-case name: value}, rest) of an HTTP response."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError("no complete HTTP head in %r" % data[:300])
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0] + " ")
    if m is None:
        raise AssertionError("bad status line %r" % lines[0])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(m.group(1)), headers, rest


def http_exchange(port, request):
    """Send request bytes; read the response until the server closes.

    Returns (status, headers, body, closed): closed is True when the
    server ended the connection (EOF or reset) after its response.
    """
    s = connect_raw(port)
    try:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        closed = False
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
        status, headers, body = parse_http_head(data)
        return status, headers, body, closed
    finally:
        s.close()


def frame(opcode, payload=b"", fin=True, mask=True, length=None, rsv=0):
    """One client frame; length overrides the payload length field."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + mask_bytes(payload, key)


def mask_bytes(payload, key):
    """payload XOR the repeated 4-byte key (RFC 6455 5.3)."""
    n = len(payload)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")
            ).to_bytes(n, "big")


class RawWS:
    """A WebSocket client on a plain socket, for what libraries refuse."""

    def __init__(self, port, path="/echo", rcvbuf=None, extra=""):
        self.sock = connect_raw(port, rcvbuf)
        req, key = upgrade_request(port, path, extra=extra)
        self.sock.sendall(req)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("connection closed during the "
                                     "handshake: %r" % data)
            data += chunk
        status, headers, self.buf = parse_http_head(data)
        self.headers = headers
        self.rsv = 0
        if status != 101:
            raise AssertionError("handshake answered %d: %r"
                                 % (status, data))
        if headers.get("sec-websocket-accept") != accept_key(key):
            raise AssertionError("bad Sec-WebSocket-Accept in %r" % data)

    def send(self, data):
        self.sock.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("EOF inside a frame (%d of %d bytes)"
                               % (len(self.buf), n))
            self.buf += chunk

    def read_frame(self):
        """(fin, opcode, payload) of the next server frame; its RSV bits
        go in self.rsv."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        self.rsv = (b0 >> 4) & 7
        if b1 & 0x80:
            raise AssertionError("masked frame from the server")
        n = b1 & 0x7f
        pos = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            pos = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            pos = 10
        self._need(pos + n)
        payload = self.buf[pos:pos + n]
        self.buf = self.buf[pos + n:]
        return bool(b0 & 0x80), b0 & 0x0f, payload

    def read_close(self):
        """Skip data frames up to the server's close frame: its code."""
        while True:
            fin, op, payload = self.read_frame()
            if op == 8:
                if len(payload) < 2:
                    raise AssertionError("close frame without a code: %r"
                                         % payload)
                return struct.unpack("!H", payload[:2])[0]

    def at_eof(self):
        """True when the server closed the connection (EOF or reset)."""
        if self.buf:
            raise AssertionError("unexpected bytes: %r" % self.buf[:100])
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        if chunk:
            raise AssertionError("unexpected bytes: %r" % chunk[:100])
        return True

    def close(self):
        self.sock.close()
