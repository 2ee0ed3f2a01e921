/**
 * Connection limits against a real in-process server with small values: an
 * oversized header block, a client dribbling its headers (HTTP/1.1, and
 * HTTP/2 frames over h2c and TLS), a body that never ends, too many HTTP/2
 * streams on one connection, the connection cap, and mutual TLS.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect as http2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseServeConfig } from "../../src/config";
import { createBookingServer } from "../../src/server/booking-server";
import type { ConnectionLimits, TlsFiles } from "../../src/server/single-port-listener";
import { capConnections, defaultMaxConnections, fallbackMaxConnections } from "../../src/server/connection-cap";
import { openSqliteStore } from "../../src/store/sqlite-store";
import { sleep } from "../support/operations";
import { authHeader, credentials, startTestServer, type TestServer } from "../support/test-server";

const limits = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 300,
  requestTimeoutMs: 300,
  idleTimeoutMs: 5_000,
  maxConcurrentStreams: 2,
};

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ limits });
});
afterAll(() => server.close());

/**
 * Watches `socket` until it closes or fails (`closedAt`: the Date.now() of that) or
 * `giveUpMs` pass (`closedAt`: undefined); either way the socket is destroyed
 * then, and `settled()` says so from then on.
 */
function watchClose(socket: Socket, giveUpMs: number): { closedAt: Promise<number | undefined>; settled: () => boolean } {
  let done = false;
  const closedAt = new Promise<number | undefined>((resolve) => {
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(giveUp);
      socket.destroy();
      resolve(closed ? Date.now() : undefined);
    };
    const giveUp = setTimeout(() => finish(false), giveUpMs);
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
  });
  return { closedAt, settled: () => done };
}

/** A raw HTTP/1.1 exchange: what the server sent and when the socket closed. */
async function rawExchange(
  port: number,
  drive: (write: (text: string) => boolean) => void | Promise<void>,
  giveUpMs = 8_000,
): Promise<{ received: string; closedAfterMs: number | undefined }> {
  const started = Date.now();
  const socket = netConnect(port, "127.0.0.1");
  let received = "";
  socket.on("data", (chunk) => (received += chunk.toString()));
  const { closedAt } = watchClose(socket, giveUpMs);
  socket.on("connect", () => void drive((text) => !socket.destroyed && socket.write(text)));
  const at = await closedAt;
  return { received, closedAfterMs: at === undefined ? undefined : at - started };
}

async function healthz(target: TestServer): Promise<number> {
  return (await fetch(`${target.baseUrl}/healthz`)).status;
}

test("when a request carries a 20 KiB header, then 431 and the server keeps serving", async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port: server.port, path: "/v3/HealthCheck", headers: { Authorization: authHeader, "X-Big": "x".repeat(20 * 1024) } },
      (res) => {
        res.resume();
        resolve(res.statusCode!);
      },
    );
    req.on("error", reject);
    req.end();
  });
  expect(status).toBe(431);
  expect(await healthz(server)).toBe(200);
});

test("when a client dribbles its headers, then it is cut off soon after headersTimeoutMs", async () => {
  const { received, closedAfterMs } = await rawExchange(server.port, async (write) => {
    write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n");
    // One header byte every 100 ms, never the blank line.
    for (let i = 0; i < 80; i++) {
      if (!write("X")) return;
      await sleep(100);
    }
  }, 3_000);
  console.log(`slow headers (headersTimeoutMs ${limits.headersTimeoutMs}): closed after ${closedAfterMs} ms, got ${JSON.stringify(received.split("\r\n")[0])}`);
  expect(closedAfterMs).toBeDefined();
  expect(closedAfterMs!).toBeLessThan(limits.headersTimeoutMs + 2_000);
  expect(await healthz(server)).toBe(200);
}, 15_000);

test("when a request body never completes, then 408 after requestTimeoutMs and the connection is closed", async () => {
  const body = JSON.stringify({ booking_id: "never-finished" });
  const { received, closedAfterMs } = await rawExchange(server.port, (write) => {
    write(
      `POST /v3/GetBookingStatus HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${authHeader}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length + 100}\r\n\r\n${body}`,
    );
  });
  console.log(`unfinished body (requestTimeoutMs ${limits.requestTimeoutMs}): ${JSON.stringify(received.split("\r\n")[0])}, closed after ${closedAfterMs} ms`);
  expect(received).toMatch(/^HTTP\/1\.1 408 /);
  expect(received).toContain("deadline_exceeded");
  expect(closedAfterMs).toBeDefined();
  expect(closedAfterMs!).toBeLessThan(limits.requestTimeoutMs + 2_000);
  expect(await healthz(server)).toBe(200);
});

test("when one HTTP/2 connection opens more streams than maxConcurrentStreams, then the extra ones are refused and the server stays healthy", async () => {
  const session = http2Connect(server.baseUrl);
  session.on("error", () => {});
  // Opened before the server's SETTINGS arrive, so the client cannot hold them back itself.
  const streams = Array.from({ length: 5 }, () =>
    session.request({ ":method": "POST", ":path": "/v3/GetBookingStatus", authorization: authHeader, "content-type": "application/json" }),
  );
  const outcomes = await Promise.all(
    streams.map(
      (stream) =>
        new Promise<string>((resolve) => {
          stream.on("response", (headers) => resolve(`status ${headers[":status"]}`));
          stream.on("error", (error: NodeJS.ErrnoException) => resolve(`error ${error.code} ${error.message}`));
          stream.on("close", () => resolve(`closed rst=${stream.rstCode}`));
          // The accepted ones stay open (no body end) until the request deadline answers them.
          stream.write("{");
        }),
    ),
  );
  console.log(`5 streams with maxConcurrentStreams 2: ${JSON.stringify(outcomes)}`);
  const refused = outcomes.filter((o) => /REFUSED_STREAM|ENHANCE_YOUR_CALM|rst=(7|11)\b/.test(o));
  expect(refused.length).toBeGreaterThanOrEqual(3);
  session.destroy();
  expect(await healthz(server)).toBe(200);
  const fresh = http2Connect(server.baseUrl);
  const status = await new Promise((resolve, reject) => {
    const stream = fresh.request({ ":path": "/healthz" });
    stream.on("response", (headers) => resolve(headers[":status"]));
    stream.on("error", reject);
    stream.end();
  });
  fresh.close();
  expect(status).toBe(200);
});

/** Whether openssl is here to make test certificates (the TLS suites are skipped without it). */
const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** A booking server over TLS on a fresh database in `dir`. */
async function startTlsServer(dir: string, tls: TlsFiles, limits?: ConnectionLimits): Promise<{ port: number; close: () => Promise<void> }> {
  const store = openSqliteStore(join(dir, "booking.db"));
  const tlsServer = createBookingServer({ store, credentials, tls, limits, logAuthFailure: () => {} });
  const { port } = await tlsServer.listen(0, "127.0.0.1");
  return {
    port,
    close: async () => {
      await tlsServer.close();
      store.close();
    },
  };
}

describe("mutual TLS", () => {
  if (!hasOpenssl) {
    test.skip("openssl is missing: mutual TLS not tested", () => {});
    return;
  }

  let dir: string;
  const files: Record<string, Buffer> = {};
  let port: number;
  let close: () => Promise<void>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "booking-mtls-"));
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Test CA");
    writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    for (const name of ["server", "client", "stranger"]) {
      ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    }
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext");
    ssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt", "-days", "2");
    // A self-signed client certificate: not from the CA.
    ssl("x509", "-req", "-in", "stranger.csr", "-signkey", "stranger.key", "-out", "stranger.crt", "-days", "2");
    for (const name of ["ca.crt", "server.crt", "server.key", "client.crt", "client.key", "stranger.crt", "stranger.key"]) {
      files[name] = readFileSync(join(dir, name));
    }
    ({ port, close } = await startTlsServer(dir, { cert: files["server.crt"], key: files["server.key"], clientCa: files["ca.crt"] }));
  }, 20_000);
  afterAll(async () => {
    await close?.();
    rmSync(dir, { recursive: true, force: true });
  });

  function healthCheck(clientCert?: { cert: Buffer; key: Buffer }): Promise<{ status?: number; error?: string }> {
    return new Promise((resolve) => {
      const req = httpsRequest(
        { host: "127.0.0.1", port, path: "/v3/HealthCheck", ca: files["ca.crt"], headers: { Authorization: authHeader }, ...clientCert },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode }));
        },
      );
      req.on("error", (error: NodeJS.ErrnoException) => resolve({ error: `${error.code ?? ""} ${error.message}` }));
      req.end();
    });
  }

  test("when a client has no certificate, then the handshake is refused", async () => {
    const outcome = await healthCheck();
    console.log(`mTLS without a client certificate: ${JSON.stringify(outcome)}`);
    expect(outcome.status).toBeUndefined();
    expect(outcome.error).toBeDefined();
  });

  test("when a client's certificate is not from the CA, then the handshake is refused", async () => {
    const outcome = await healthCheck({ cert: files["stranger.crt"], key: files["stranger.key"] });
    console.log(`mTLS with a self-signed client certificate: ${JSON.stringify(outcome)}`);
    expect(outcome.status).toBeUndefined();
  });

  test("when a client presents a certificate signed by the CA, then HealthCheck answers 200", async () => {
    expect(await healthCheck({ cert: files["client.crt"], key: files["client.key"] })).toEqual({ status: 200 });
  });

  test("when an HTTP/2 client presents the CA's certificate, then the h2 session works too", async () => {
    const session = http2Connect(`https://127.0.0.1:${port}`, { ca: files["ca.crt"], cert: files["client.crt"], key: files["client.key"] });
    const status = await new Promise((resolve, reject) => {
      const stream = session.request({ ":path": "/v3/HealthCheck", authorization: authHeader });
      stream.on("response", (headers) => resolve(headers[":status"]));
      stream.on("error", reject);
      stream.resume();
      stream.end();
    });
    session.close();
    expect(status).toBe(200);
  });
});

/** One HTTP/2 frame (RFC 9113 §4.1). */
function http2Frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;

/**
 * A header block that never ends: `:method GET`, `:scheme http`, `:path /healthz`
 * (HPACK static table and a literal), then a literal `x-slow` header whose 100-byte
 * value comes one byte per CONTINUATION.
 */
const trickledBlockStart = Buffer.concat([
  Buffer.from([0x82, 0x86, 0x04, 0x08]),
  Buffer.from("/healthz"),
  Buffer.from([0x00, 0x06]),
  Buffer.from("x-slow"),
  Buffer.from([100]),
]);

/**
 * Opens an HTTP/2 connection by hand (preface, empty SETTINGS), sends HEADERS
 * without END_HEADERS, then a 1-byte CONTINUATION every 100 ms (six of them:
 * nghttp2 itself gives up after eight), then nothing. Resolves with how long
 * after the HEADERS frame the server closed the connection (undefined: still
 * open after `giveUpMs`).
 */
async function trickleHttp2Headers(socket: Socket, giveUpMs: number): Promise<number | undefined> {
  let headersSentAt = 0;
  socket.on("data", () => {});
  const { closedAt, settled } = watchClose(socket, giveUpMs);
  void (async () => {
    socket.write(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    socket.write(http2Frame(SETTINGS, 0, 0, Buffer.alloc(0)));
    await sleep(50);
    headersSentAt = Date.now();
    socket.write(http2Frame(HEADERS, END_STREAM, 1, trickledBlockStart));
    for (let i = 0; i < 6 && !settled(); i++) {
      await sleep(100);
      if (!socket.destroyed) socket.write(http2Frame(CONTINUATION, 0, 1, Buffer.from("x")));
    }
  })();
  const at = await closedAt;
  return at === undefined ? undefined : at - headersSentAt;
}

/** An HTTP/2 GET through a client session; the status. */
function http2Get(session: ReturnType<typeof http2Connect>, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path });
    stream.on("response", (headers) => resolve(headers[":status"]));
    stream.on("error", reject);
    stream.resume();
    stream.end();
  });
}

describe("HTTP/2 header deadline", () => {
  test("when an h2c client trickles CONTINUATION frames, then the connection is closed soon after headersTimeoutMs", async () => {
    const socket = netConnect(server.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const closedAfterMs = await trickleHttp2Headers(socket, 3_000);
    console.log(`h2c trickled headers (headersTimeoutMs ${limits.headersTimeoutMs}, idle ${limits.idleTimeoutMs}): closed ${closedAfterMs} ms after HEADERS`);
    expect(closedAfterMs).toBeDefined();
    expect(closedAfterMs!).toBeGreaterThanOrEqual(limits.headersTimeoutMs - 50);
    expect(closedAfterMs!).toBeLessThan(limits.headersTimeoutMs + 2_000);
    expect(await healthz(server)).toBe(200);
  }, 15_000);

  test("when an h2c session is idle (no header block pending, PINGs now and then) past headersTimeoutMs, then it stays open", async () => {
    const session = http2Connect(server.baseUrl);
    let closed = false;
    session.on("close", () => (closed = true));
    session.on("error", () => {});
    expect(await http2Get(session, "/healthz")).toBe(200);
    // Five deadlines: idle, with a PING from the client now and then.
    for (let i = 0; i < 5; i++) {
      await sleep(limits.headersTimeoutMs);
      if (i % 2 === 0) await new Promise((resolve) => session.ping(resolve));
    }
    expect(closed).toBe(false);
    expect(await http2Get(session, "/healthz")).toBe(200);
    session.close();
  }, 15_000);

  test("when an h2c session sends DATA frames without a new header block, then it answers the server's PING and is not cut", async () => {
    const session = http2Connect(server.baseUrl);
    session.on("error", () => {});
    let closed = false;
    session.on("close", () => (closed = true));
    // A body dribbled until just before requestTimeoutMs (which answers it 408): bytes that no
    // event accounts for, as a header block's would be, but this client answers PINGs.
    const stream = session.request({ ":method": "POST", ":path": "/v3/GetBookingStatus", authorization: authHeader, "content-type": "application/json" });
    stream.on("error", () => {});
    stream.resume();
    stream.write("{");
    for (let elapsed = 0; elapsed < limits.requestTimeoutMs - 50; elapsed += 50) {
      await sleep(50);
      stream.write(" ");
    }
    await sleep(limits.headersTimeoutMs * 2);
    expect(closed).toBe(false);
    expect(await http2Get(session, "/healthz")).toBe(200);
    session.close();
  }, 15_000);
});

describe("connection cap", () => {
  let capped: TestServer;
  beforeAll(async () => {
    capped = await startTestServer({ limits: { ...limits, maxConnections: 5 } });
  });
  afterAll(() => capped.close());

  /** An HTTP/1.1 keep-alive connection that has answered one HealthCheck; resolves with the socket, or undefined when closed first. */
  function openWorkingConnection(): Promise<{ socket: Socket; answered: boolean }> {
    return new Promise((resolve) => {
      const socket = netConnect(capped.port, "127.0.0.1");
      socket.on("error", () => {});
      socket.once("close", () => resolve({ socket, answered: false }));
      socket.once("connect", () => socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
      socket.once("data", (chunk) => resolve({ socket, answered: chunk.toString().startsWith("HTTP/1.1 200") }));
    });
  }

  test("when 5 connections are open and the cap is 5, then the 6th is closed at once and the first 5 keep working", async () => {
    const first = await Promise.all(Array.from({ length: 5 }, openWorkingConnection));
    expect(first.map((c) => c.answered)).toEqual([true, true, true, true, true]);
    const started = Date.now();
    const sixth = await openWorkingConnection();
    console.log(`6th connection with maxConnections 5: answered=${sixth.answered}, closed after ${Date.now() - started} ms`);
    expect(sixth.answered).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
    // The first five still answer.
    for (const { socket } of first) {
      const answer = await new Promise<string>((resolve) => {
        socket.once("data", (chunk) => resolve(chunk.toString()));
        socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
      });
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    }
    // One closes: there is room for a new one.
    first[0].socket.destroy();
    await sleep(100);
    const again = await openWorkingConnection();
    expect(again.answered).toBe(true);
    for (const { socket } of [...first, again]) socket.destroy();
  });

  test("refused connections are reported at the first, then gathered once per interval", async () => {
    const listener = createNetServer((socket) => socket.on("error", () => {}));
    const reports: number[] = [];
    capConnections(listener, 1, (refused) => reports.push(refused), 300);
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as AddressInfo).port;
    const connect = () =>
      new Promise<Socket>((resolve) => {
        const socket = netConnect(port, "127.0.0.1", () => resolve(socket));
        socket.on("error", () => {});
      });
    const kept = await connect();
    const refused = [];
    for (let i = 0; i < 20; i++) refused.push(await connect());
    await sleep(100);
    expect(reports).toEqual([1]);
    await sleep(400);
    expect(reports).toEqual([1, 19]);
    for (const socket of [kept, ...refused]) socket.destroy();
    await new Promise((resolve) => listener.close(resolve));
  });

  test("the default cap is the descriptor limit less room for the database, logs and the notifier", () => {
    const limitsText = (soft: string) => `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 1048576              files\n`;
    expect(defaultMaxConnections(limitsText("1024"))).toBe(768);
    expect(defaultMaxConnections(limitsText("65536"))).toBe(65280);
    expect(defaultMaxConnections(limitsText("256"))).toBe(128);
    expect(defaultMaxConnections(limitsText("unlimited"))).toBe(fallbackMaxConnections);
    expect(defaultMaxConnections("")).toBe(fallbackMaxConnections); // unreadable
    console.log(`default maxConnections here: ${defaultMaxConnections()}`);
  });

  test("serve takes the cap from --max-connections, then MAX_CONNECTIONS, else the default", () => {
    const parse = (args: string[], env: Record<string, string> = {}) => parseServeConfig(["--insecure-no-auth", ...args], env).maxConnections;
    expect(parse(["--max-connections", "5"], { MAX_CONNECTIONS: "7" })).toBe(5);
    expect(parse([], { MAX_CONNECTIONS: "7" })).toBe(7);
    expect(parse([])).toBe(defaultMaxConnections());
    expect(() => parse([], { MAX_CONNECTIONS: "0" })).toThrow(/MAX_CONNECTIONS must be a positive number/);
    expect(() => parse(["--max-connections", "many"])).toThrow(ConfigError);
  });
});

describe("HTTP/2 header deadline over TLS", () => {
  if (!hasOpenssl) {
    test.skip("openssl is missing: TLS not tested", () => {});
    return;
  }

  let dir: string;
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "booking-h2tls-"));
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost"],
      { cwd: dir, stdio: "pipe" },
    );
    ({ port, close } = await startTlsServer(dir, { cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")) }, limits));
  }, 20_000);
  afterAll(async () => {
    await close?.();
    rmSync(dir, { recursive: true, force: true });
  });

  test("when a TLS h2 client trickles CONTINUATION frames, then the connection is closed soon after headersTimeoutMs", async () => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ALPNProtocols: ["h2"], rejectUnauthorized: false });
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    expect(socket.alpnProtocol).toBe("h2");
    const closedAfterMs = await trickleHttp2Headers(socket, 3_000);
    console.log(`TLS h2 trickled headers (headersTimeoutMs ${limits.headersTimeoutMs}): closed ${closedAfterMs} ms after HEADERS`);
    expect(closedAfterMs).toBeDefined();
    expect(closedAfterMs!).toBeLessThan(limits.headersTimeoutMs + 2_000);
  }, 15_000);

  test("when a TLS h2 session is idle past headersTimeoutMs, then it stays open", async () => {
    const session = http2Connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    let closed = false;
    session.on("close", () => (closed = true));
    session.on("error", () => {});
    expect(await http2Get(session, "/healthz")).toBe(200);
    await sleep(limits.headersTimeoutMs * 5);
    expect(closed).toBe(false);
    expect(await http2Get(session, "/healthz")).toBe(200);
    session.close();
  }, 15_000);
});
