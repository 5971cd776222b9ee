// tests/browser/ws_client.mjs - Node's "ws" client (npm ws@8) against
// wsrelayd: what a browser cannot send (fragments, pings, a custom close
// code, messages over the limits).
//
// Usage: node ws_client.mjs WS_MODULE_DIR BASE_URL
//   WS_MODULE_DIR  the installed package, e.g. <tmp>/node_modules/ws
//                  (installed by run.sh or test_browser.py into a temporary
//                  folder, never into the repository)
//   BASE_URL       ws://127.0.0.1:PORT of a daemon with the routes of
//                  test_browser.py (/echo 2 MiB limits, /small 1 MiB)
//
// Prints one line of JSON: {"done":true, <step>: {...}, ...}.  A step that
// fails or times out records {"error": "..."}; the other steps still run.
// Every wait is bounded.  test_browser.py asserts the fields.
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import path from "node:path";

const STEP_MS = 15000;
const [wsDir, BASE] = process.argv.slice(2);
if (!wsDir || !BASE) {
  process.stderr.write("usage: node ws_client.mjs WS_MODULE_DIR BASE_URL\n");
  process.exit(2);
}
const require = createRequire(import.meta.url);
const WebSocket = require(path.resolve(wsDir));

const TEXT = "h\u00e9llo \u2713 \ud83d\ude80";      // "héllo ✓ 🚀"
const MIB = 1048576;
const result = { wsVersion: require(path.join(path.resolve(wsDir),
                                              "package.json")).version,
                 node: process.version, errors: [] };

// Whatever happens, print what we have before a bounded exit.
const guard = setTimeout(() => {
  result.errors.push("ws_client.mjs: overall timeout");
  finish(3);
}, 100000);

function finish(status) {
  clearTimeout(guard);
  process.stdout.write(JSON.stringify(result) + "\n", () =>
    process.exit(status));
}

function sha256(buf) {
  return createHash("sha256").update(buf).digest("hex");
}

function pattern(n, mul, add) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++)
    b[i] = (i * mul + add) & 0xff;
  return b;
}

function bounded(p, what, ms) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error("timed out waiting for " + what)),
                   ms || STEP_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

// A ws client with queues of messages and pongs and a promise of its close.
class Conn {
  constructor(p) {
    this.url = BASE + p;
    // perMessageDeflate is offered (ws's default): the daemon must decline.
    this.ws = new WebSocket(this.url, { perMessageDeflate: true });
    this.messages = [];
    this.pongs = [];
    this.waiters = { message: [], pong: [] };
    this.errorsSeen = [];
    this.upgradeHeaders = null;
    this.ws.on("upgrade", (res) => {
      this.upgradeHeaders = res.headers;
    });
    this.ws.on("error", (e) => {
      this.errorsSeen.push(String(e.message || e));
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
      this.ws.once("close", () => reject(new Error("closed before open")));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString("utf8") };
        resolve(this.closeInfo);
        for (const k of ["message", "pong"])
          for (const w of this.waiters[k].splice(0))
            w.reject(new Error("closed (" + code + ") while waiting for a "
                               + k));
      });
    });
    this.ws.on("message", (data, isBinary) =>
      this.push("message", this.messages, { data: Buffer.from(data),
                                            isBinary }));
    this.ws.on("pong", (data) =>
      this.push("pong", this.pongs, Buffer.from(data)));
  }

  push(kind, queue, item) {
    const w = this.waiters[kind].shift();
    if (w)
      w.resolve(item);
    else
      queue.push(item);
  }

  next(kind, queue, what) {
    if (queue.length > 0)
      return Promise.resolve(queue.shift());
    if (this.closeInfo)
      return Promise.reject(new Error("closed before " + what));
    const p = new Promise((resolve, reject) =>
      this.waiters[kind].push({ resolve, reject }));
    return bounded(p, what);
  }

  open() { return bounded(this.opened, "open of " + this.url); }
  recv(what) { return this.next("message", this.messages, what); }
  pong(what) { return this.next("pong", this.pongs, what); }
  waitClose(what) { return bounded(this.closed, what); }

  send(data, opts) {
    return new Promise((resolve, reject) =>
      this.ws.send(data, opts || {}, (err) => err ? reject(err) : resolve()));
  }
}

function msgInfo(m) {
  return { isBinary: m.isBinary, length: m.data.length,
           hex: m.data.length <= 4096 ? m.data.toString("hex") : null,
           sha256: sha256(m.data) };
}

async function step(name, fn) {
  try {
    result[name] = await fn();
  } catch (e) {
    result[name] = { error: String((e && e.message) || e) };
  }
}

async function main() {
  let echo = null;

  await step("handshake", async () => {
    echo = new Conn("/echo");
    await echo.open();
    const h = echo.upgradeHeaders || {};
    return { protocol: echo.ws.protocol, extensions: echo.ws.extensions,
             responseExtensions: h["sec-websocket-extensions"] || null,
             responseProtocol: h["sec-websocket-protocol"] || null };
  });
  if (echo === null || echo.ws.readyState !== WebSocket.OPEN)
    return;

  await step("echo_text", async () => {
    await echo.send(TEXT);
    return msgInfo(await echo.recv("the text echo"));
  });

  await step("echo_binary", async () => {
    await echo.send(pattern(256, 1, 0));
    return msgInfo(await echo.recv("the binary echo"));
  });

  // One text message in three frames; "✓" (e2 9c 93) is split between
  // the first two, so the daemon must check UTF-8 across fragments.
  await step("fragmented_text", async () => {
    const whole = Buffer.from("frag-one \u2713 frag-two " + TEXT, "utf8");
    const cut1 = whole.indexOf(0x9c);          // inside "✓"
    const cut2 = cut1 + 12;
    await echo.send(whole.subarray(0, cut1), { binary: false, fin: false });
    await echo.send(whole.subarray(cut1, cut2), { binary: false, fin: false });
    await echo.send(whole.subarray(cut2), { binary: false, fin: true });
    return Object.assign(msgInfo(await echo.recv("the fragmented text")),
                         { sentHex: whole.toString("hex") });
  });

  await step("fragmented_binary", async () => {
    const parts = [pattern(1000, 3, 1), pattern(1, 0, 0x42),
                   pattern(70000, 5, 9), pattern(0, 1, 0)];
    for (let i = 0; i < parts.length; i++)
      await echo.send(parts[i], { binary: true,
                                  fin: i === parts.length - 1 });
    const whole = Buffer.concat(parts);
    return Object.assign(msgInfo(await echo.recv("the fragmented binary")),
                         { sentLength: whole.length,
                           sentSha256: sha256(whole) });
  });

  // A ping between the fragments of a message (RFC 6455 5.4: control
  // frames may be injected in the middle of a fragmented message).
  await step("ping_between_fragments", async () => {
    await echo.send(Buffer.from("before-ping "), { binary: false,
                                                   fin: false });
    await new Promise((resolve, reject) =>
      echo.ws.ping(Buffer.from("mid-message"), true,
                   (err) => err ? reject(err) : resolve()));
    await echo.send(Buffer.from("after-ping"), { binary: false, fin: true });
    const pong = await echo.pong("the pong between fragments");
    const m = await echo.recv("the message around the ping");
    return { pong: pong.toString("utf8"), message: m.data.toString("utf8"),
             isBinary: m.isBinary };
  });

  await step("ping_payloads", async () => {
    const payloads = [Buffer.from("ping-payload \u2713", "utf8"),
                      Buffer.alloc(0), pattern(125, 7, 3)];
    const out = [];
    for (const p of payloads) {
      await new Promise((resolve, reject) =>
        echo.ws.ping(p, true, (err) => err ? reject(err) : resolve()));
      const pong = await echo.pong("the pong of a " + p.length +
                                   "-byte ping");
      out.push({ sentHex: p.toString("hex"), pongHex: pong.toString("hex") });
    }
    return out;
  });

  // Exactly max_message_size (= max_frame_size) of /echo: allowed.
  await step("echo_2mib_limit", async () => {
    const b = pattern(2 * MIB, 31, 7);
    await echo.send(b, { binary: true });
    return Object.assign(msgInfo(await echo.recv("the 2 MiB echo")),
                         { sentSha256: sha256(b) });
  });

  await step("close_custom", async () => {
    echo.ws.close(4000, "custom");
    const c = await echo.waitClose("the close of /echo");
    return Object.assign({ errors: echo.errorsSeen,
                           messagesLeft: echo.messages.length }, c);
  });

  // One 3 MiB frame to a route whose limits are 1 MiB: close 1009.
  await step("too_big_frame", async () => {
    const c = new Conn("/small");
    await c.open();
    c.ws.send(pattern(3 * MIB, 13, 5), { binary: true }, () => {});
    const info = await c.waitClose("the 1009 close of /small");
    return Object.assign({ errors: c.errorsSeen,
                           messages: c.messages.length }, info);
  });

  // Three 512 KiB frames, each under max_frame_size, making a 1.5 MiB
  // message over max_message_size: close 1009.
  await step("too_big_fragmented", async () => {
    const c = new Conn("/small");
    await c.open();
    const part = pattern(MIB / 2, 17, 1);
    for (let i = 0; i < 3; i++)
      c.ws.send(part, { binary: true, fin: i === 2 }, () => {});
    const info = await c.waitClose("the 1009 close of /small");
    return Object.assign({ errors: c.errorsSeen,
                           messages: c.messages.length }, info);
  });
}

main().catch((e) => {
  result.errors.push("main: " + String((e && e.stack) || e));
}).finally(() => {
  result.done = true;
  finish(0);
});
