"""test_tls.py - wsrelayd's TLS listeners (wss://), end to end.

Run by tests/daemon/run.sh like test_daemon.py.  The certificates are
made at test time with the openssl command, in a temporary folder
(daemonutil.PKI): a CA "ca" that signs the daemon's certificates and the
good client certificate, and a CA "other" that the daemon does not know.
Clients are Debian's python3-websockets and Python's ssl module, always
verifying the daemon's certificate unless a test says otherwise.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest

import websockets

from daemonutil import (IO_TIMEOUT, PKI, WSRELAYD, DaemonTestCase, arun,
                        bounded, config_text, http_exchange,
                        start_class_daemon, stop_class_daemon, tls_conf,
                        until_eof, upgrade_request)
from test_daemon import (ECHO, BackendsTestCase, check_backpressure,
                         close_all, connect, echo_once, recv)


def client_ctx(pki, ca="ca", cert=None):
    """A verifying client context trusting CA ca; cert: (pem, key)."""
    ctx = ssl.create_default_context(cafile=pki.path(ca + ".pem"))
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def peer_names(port, ctx, server_name=None, alpn=None):
    """TLS handshake only: the subjectAltName DNS names of the daemon's
    certificate, and the ALPN protocol it chose."""
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), IO_TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name or
                             "127.0.0.1") as s:
            cert = s.getpeercert()
            names = sorted(v for k, v in cert.get("subjectAltName", ())
                           if k == "DNS")
            return names, s.selected_alpn_protocol()


async def wss_echo(port, ctx, msg, server_name=None):
    ws = await connect("wss://127.0.0.1:%d/echo" % port, ssl=ctx,
                       server_hostname=server_name)
    await bounded(ws.send(msg))
    got = await recv(ws)
    await close_all(ws)
    return got


def make_pki(cls):
    """A PKI for the class: a.test (also 127.0.0.1), b.test and
    *.wild.test from "ca"; a client certificate from "ca" and one from
    "other"."""
    cls.pki = p = PKI()
    p.ca("ca")
    p.ca("other")
    cls.a = p.issue("a", "ca", "a.test", dns=["a.test"], ips=["127.0.0.1"])
    cls.b = p.issue("b", "ca", "b.test", dns=["b.test", "*.wild.test"])
    cls.client = p.issue("client", "ca", "client one", client=True)
    cls.stranger = p.issue("stranger", "other", "stranger", client=True)


class TlsTestCase(DaemonTestCase):
    """make_pki() for the class, and its daemon if it has one."""

    make_pki = classmethod(make_pki)

    @classmethod
    def tearDownClass(cls):
        try:
            if getattr(cls, "d", None) is not None:
                stop_class_daemon(cls)
        finally:
            cls.pki.cleanup()


class TlsEchoTest(TlsTestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_pki()
        extra = ('certificates = ( { certificate = "%s"; key = "%s"; } );'
                 % cls.b)
        start_class_daemon(cls, lambda port: config_text(
            port, ECHO + ',\n  { path = "/z"; handler = "echo"; '
            'compression = true; deflate_min_size = 0; }',
            tls=tls_conf(*cls.a, extra=extra)))

    def test_echo_verified(self):
        ctx = client_ctx(self.pki)
        self.assertEqual(arun(wss_echo(self.d.port, ctx, "h\u00e9llo")),
                         "h\u00e9llo")
        big = bytes(range(256)) * 4096      # 1 MiB: many records
        self.assertEqual(arun(wss_echo(self.d.port, ctx, big)), big)

    def test_echo_compressed(self):
        """permessage-deflate over TLS: the module compresses, the pump
        ciphers what it wrote."""
        async def go():
            ws = await connect("wss://127.0.0.1:%d/z" % self.d.port,
                               ssl=client_ctx(self.pki),
                               compression="deflate")
            try:
                out = []
                for m in ("x" * 100000, bytes(range(256)) * 1000, "\u00e9"):
                    await bounded(ws.send(m))
                    out.append(await recv(ws) == m)
                return [e.name for e in ws.extensions], out
            finally:
                await close_all(ws)
        ext, ok = arun(go())
        self.assertEqual(ext, ["permessage-deflate"])
        self.assertEqual(ok, [True, True, True])

    def test_wrong_ca_fails(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            arun(wss_echo(self.d.port, client_ctx(self.pki, "other"), "x"))
        # A client that says why: the daemon logs it, with the peer.
        with self.assertRaises(ssl.SSLCertVerificationError):
            peer_names(self.d.port, client_ctx(self.pki, "other"))
        self.d.wait_log(r"127\.0\.0\.1:\d+ -: TLS handshake failed: "
                        r"tlsv1 alert unknown ca")

    def test_hostname_checked(self):
        # The default certificate is for a.test and 127.0.0.1 only.
        with self.assertRaises(ssl.SSLCertVerificationError):
            peer_names(self.d.port, client_ctx(self.pki), "c.test")

    def test_sni_chooses_certificate(self):
        ctx = client_ctx(self.pki)
        self.assertEqual(peer_names(self.d.port, ctx)[0], ["a.test"])
        self.assertEqual(peer_names(self.d.port, ctx, "a.test")[0],
                         ["a.test"])
        self.assertEqual(peer_names(self.d.port, ctx, "b.test")[0],
                         ["*.wild.test", "b.test"])
        self.assertEqual(peer_names(self.d.port, ctx, "x.wild.test")[0],
                         ["*.wild.test", "b.test"])
        self.assertEqual(arun(wss_echo(self.d.port, ctx, "sni", "b.test")),
                         "sni")

    def test_alpn(self):
        names, alpn = peer_names(self.d.port, client_ctx(self.pki),
                                 alpn=["h2", "http/1.1"])
        self.assertEqual(alpn, "http/1.1")
        with self.assertRaisesRegex(ssl.SSLError, "NO_APPLICATION_PROTOCOL"
                                    "|no application protocol"):
            peer_names(self.d.port, client_ctx(self.pki), alpn=["h2"])

    def test_plain_http_gets_400(self):
        before = self.d.stats()
        status, _, body, closed = http_exchange(
            self.d.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual((status, body, closed),
                         (400, b"plain HTTP request sent to a TLS port\n",
                          True))
        after = self.d.stats()
        self.assertEqual(after["tls_plain_http"],
                         before["tls_plain_http"] + 1)
        self.assertEqual(arun(wss_echo(self.d.port, client_ctx(self.pki),
                                       "alive")), "alive")

    def test_garbage_and_half_handshakes_spare_others(self):
        before = self.d.stats()["tls_handshake_failures"]

        async def go():
            ws = await connect("wss://127.0.0.1:%d/echo" % self.d.port,
                               ssl=client_ctx(self.pki))
            await bounded(ws.send("one"))
            first = await recv(ws)
            # A record header then garbage: the daemon answers with an
            # alert (or nothing) and closes.
            got = until_eof(self.d.port,
                            b"\x16\x03\x01\x00\x20" + b"\xee" * 32)
            # Half a ClientHello, left open.
            h = socket.create_connection(("127.0.0.1", self.d.port),
                                         IO_TIMEOUT)
            h.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            await bounded(ws.send("two"))
            second = await recv(ws)
            h.close()
            await close_all(ws)
            return first, second, got
        first, second, got = arun(go())
        self.assertEqual((first, second), ("one", "two"))
        self.assertTrue(got == b"" or got.startswith(b"\x15\x03"), got)
        self.assertEqual(self.d.stats()["tls_handshake_failures"],
                         before + 1)

    def test_backpressure(self):
        check_backpressure(self, self.d.port, client_ctx(self.pki),
                           "a.test")


class TlsHandshakeTimeoutTest(TlsTestCase):
    def setUp(self):
        self.make_pki()
        self.addCleanup(self.pki.cleanup)

    def test_timeout_covers_tls_handshake(self):
        d = self.start_daemon(lambda port: config_text(
            port, ECHO, limits="handshake_timeout = 1;",
            tls=tls_conf(*self.a)))
        # A ClientHello never finished.
        self.assertEqual(until_eof(d.port, b"\x16\x03\x01\x02\x00\x01"),
                         b"")
        self.assertEqual(d.stats()["handshake_timeouts"], 1)


class ClientCertificateTest(TlsTestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_pki()
        start_class_daemon(cls, lambda port: config_text(
            port, ECHO, tls=tls_conf(*cls.a, extra='client_ca = "%s";'
                                     % cls.pki.path("ca.pem"))))

    def refused(self, ctx):
        """A handshake the daemon must refuse; the error the client saw.
        With TLS 1.3 the client may finish first and learn of it when
        it reads."""
        with self.assertRaises((ssl.SSLError, ConnectionError, EOFError,
                                websockets.InvalidHandshake,
                                websockets.ConnectionClosed)) as cm:
            arun(wss_echo(self.d.port, ctx, "x"))
        return cm.exception

    def test_good_certificate(self):
        ctx = client_ctx(self.pki, cert=self.client)
        self.assertEqual(arun(wss_echo(self.d.port, ctx, "mine")), "mine")

    def test_no_certificate_refused(self):
        before = self.d.stats()["tls_handshake_failures"]
        self.refused(client_ctx(self.pki))
        self.d.wait_log(r"TLS handshake failed: peer did not return a "
                        r"certificate")
        self.assertEqual(self.d.stats()["tls_handshake_failures"],
                         before + 1)

    def test_unknown_issuer_refused(self):
        self.refused(client_ctx(self.pki, cert=self.stranger))
        self.d.wait_log(r"TLS handshake failed: unable to get local issuer "
                        r"certificate")


class OptionalClientCertificateTest(TlsTestCase):
    def setUp(self):
        self.make_pki()
        self.addCleanup(self.pki.cleanup)

    def test_optional(self):
        d = self.start_daemon(lambda port: config_text(
            port, ECHO, tls=tls_conf(*self.a, extra='client_ca = "%s"; '
                                     'verify_client = "optional";'
                                     % self.pki.path("ca.pem"))))
        self.assertEqual(arun(wss_echo(d.port, client_ctx(self.pki), "a")),
                         "a")
        ctx = client_ctx(self.pki, cert=self.client)
        self.assertEqual(arun(wss_echo(d.port, ctx, "b")), "b")
        with self.assertRaises((ssl.SSLError, ConnectionError, EOFError,
                                websockets.InvalidHandshake,
                                websockets.ConnectionClosed)):
            arun(wss_echo(d.port, client_ctx(self.pki, cert=self.stranger),
                          "c"))


class TlsReloadTest(TlsTestCase):
    def setUp(self):
        self.make_pki()
        self.addCleanup(self.pki.cleanup)

    def sighup(self, d):
        start = len(d.log())
        d.signal(signal.SIGHUP)
        return d.wait_log(r"^.*(reloaded |reload refused).*$",
                          start).group(0)

    def test_reload_certificates(self):
        # The daemon reads its certificate from fixed paths; a reload
        # reads them again.
        cert = os.path.join(self.pki.dir, "live.pem")
        key = os.path.join(self.pki.dir, "live.key")
        shutil.copy(self.a[0], cert)
        shutil.copy(self.a[1], key)
        d = self.start_daemon(lambda port: config_text(
            port, ECHO, tls=tls_conf(cert, key)))
        ctx = client_ctx(self.pki)

        async def go():
            old = await connect(d.url("/echo", "wss"), ssl=ctx,
                                server_hostname="a.test")
            await bounded(old.send("before"))
            self.assertEqual(await recv(old), "before")
            # b.test's certificate and key at the same paths.
            shutil.copy(self.b[0], cert)
            shutil.copy(self.b[1], key)
            self.assertIn("reloaded", self.sighup(d))
            await bounded(old.send("after"))
            self.assertEqual(await recv(old), "after")
            self.assertEqual(peer_names(d.port, ctx, "b.test")[0],
                             ["*.wild.test", "b.test"])
            # A broken key: the reload is refused, naming the file and
            # OpenSSL's reason; the running certificate stays.
            with open(key, "w") as f:
                f.write("-----BEGIN PRIVATE KEY-----\nbroken\n"
                        "-----END PRIVATE KEY-----\n")
            line = self.sighup(d)
            self.assertIn("reload refused", line)
            self.assertIn('key "%s": ' % key, line)
            self.assertEqual(peer_names(d.port, ctx, "b.test")[0],
                             ["*.wild.test", "b.test"])
            await bounded(old.send("still"))
            self.assertEqual(await recv(old), "still")
            await close_all(old)
        arun(go())


class BackendTlsTest(BackendsTestCase):
    """The backend handler over TLS, to a Python ssl echo service with
    a.test's certificate (also valid for 127.0.0.1)."""

    @classmethod
    def setUpClass(cls):
        p = PKI()
        p.ca("ca")
        p.ca("other")
        cls.pki = p
        cls.sni = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*p.issue("a", "ca", "a.test", dns=["a.test"],
                                     ips=["127.0.0.1"]))
        ctx.sni_callback = lambda sock, name, c: cls.sni.append(name)
        ca, other = p.path("ca.pem"), p.path("other.pem")

        def routes(ports):
            route = ('{ path = "%%s"; handler = "backend"; '
                     'backend = "127.0.0.1:%d"; tls = true; %%s }'
                     % ports["tlsecho"])
            text = ",\n".join(route % (path, extra) for path, extra in (
                ("/ip", 'tls_ca = "%s";' % ca),
                ("/name", 'tls_ca = "%s"; tls_server_name = "a.test";'
                 % ca),
                ("/wrongname", 'tls_ca = "%s"; tls_server_name = "b.test";'
                 % ca),
                ("/wrongca", 'tls_ca = "%s";' % other),
                ("/noverify", 'tls_ca = "%s"; tls_verify = false;' % other),
                ("/system", "")))
            return text + (',\n{ path = "/plain"; handler = "backend"; '
                           'backend = "127.0.0.1:%d"; tls = true; '
                           'tls_ca = "%s"; }' % (ports["echo"], ca))
        try:
            cls.start_with_backends(routes, ctx)
        except BaseException:
            p.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.pki.cleanup()

    def echo(self, path):
        return arun(echo_once(self.d.url(path), b"\x00binary\xff"))

    def refused(self, path):
        async def go():
            with self.assertRaises(websockets.InvalidStatusCode) as cm:
                await connect(self.d.url(path))
            return cm.exception.status_code
        return arun(go())

    def test_verified_by_ip(self):
        self.assertEqual(self.echo("/ip"), b"\x00binary\xff")

    def test_verified_by_name_with_sni(self):
        self.assertEqual(self.echo("/name"), b"\x00binary\xff")
        self.assertIn("a.test", self.sni)

    def test_large_message(self):
        # Binary mode keeps no boundaries: the bytes come back in pieces.
        big = bytes(range(256)) * 4096

        async def go():
            ws = await connect(self.d.url("/name"))
            await bounded(ws.send(big))
            got = b""
            while len(got) < len(big):
                got += await recv(ws)
            await close_all(ws)
            return got
        self.assertEqual(arun(go()), big)

    def test_wrong_name_502(self):
        self.assertEqual(self.refused("/wrongname"), 502)

    def test_wrong_ca_502(self):
        status, _, body, _ = http_exchange(
            self.d.port, upgrade_request(self.d.port, "/wrongca")[0])
        self.assertEqual(status, 502)
        self.assertIn(b"TLS: certificate verify failed", body)

    def test_system_store_does_not_know_the_test_ca(self):
        self.assertEqual(self.refused("/system"), 502)

    def test_no_verify(self):
        self.assertEqual(self.echo("/noverify"), b"\x00binary\xff")

    def test_cleartext_backend_502(self):
        self.assertEqual(self.refused("/plain"), 502)


class TlsConfigErrorTest(TlsTestCase):
    """Certificates and keys are checked by wsrelayd -n and at start."""

    @classmethod
    def setUpClass(cls):
        cls.make_pki()

    def setUp(self):
        t = tempfile.TemporaryDirectory(prefix="wsrelayd-check-")
        self.addCleanup(t.cleanup)
        self.tmp = t.name

    def run_daemon(self, tls, *args):
        conf = os.path.join(self.tmp, "c.conf")
        with open(conf, "w") as f:
            f.write(config_text(1, ECHO, tls=tls))
        p = subprocess.run([WSRELAYD] + list(args) + ["-c", conf],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=IO_TIMEOUT, text=True)
        return conf, p

    def bad(self, tls, message):
        for args in (["-n"], ["-f"]):
            conf, p = self.run_daemon(tls, *args)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertRegex(p.stderr, r"(?m)^(wsrelayd|.* warn: cannot "
                             r"start): %s:2: " % re.escape(conf))
            self.assertIn(message, p.stderr)

    def test_good(self):
        conf, p = self.run_daemon(tls_conf(*self.a), "-n")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_missing_certificate(self):
        missing = os.path.join(self.tmp, "nope.pem")
        self.bad(tls_conf(missing, self.a[1]),
                 'certificate "%s": No such file or directory' % missing)

    def test_not_a_certificate(self):
        self.bad(tls_conf(self.a[1], self.a[1]),
                 'certificate "%s": no start line' % self.a[1])

    def test_key_mismatch(self):
        self.bad(tls_conf(self.a[0], self.b[1]),
                 'key "%s": key values mismatch' % self.b[1])

    def test_bad_ciphers(self):
        self.bad(tls_conf(*self.a, extra='ciphers = "NOSUCHCIPHER";'),
                 'ciphers "NOSUCHCIPHER": no cipher match')

    def test_missing_client_ca(self):
        missing = os.path.join(self.tmp, "ca.pem")
        self.bad(tls_conf(*self.a, extra='client_ca = "%s";' % missing),
                 'client_ca "%s": No such file or directory' % missing)


if __name__ == "__main__":
    unittest.main(verbosity=2)
