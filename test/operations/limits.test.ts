/**
 * Connection limits against a real in-process server with small values: an
 * oversized header block, a client dribbling its headers, a body that never
 * ends, too many HTTP/2 streams on one connection, and mutual TLS.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect as http2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBookingServer } from "../../src/server/booking-server";
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

/** A raw HTTP/1.1 exchange: what the server sent and when the socket closed. */
function rawExchange(
  port: number,
  drive: (write: (text: string) => boolean) => void | Promise<void>,
  giveUpMs = 8_000,
): Promise<{ received: string; closedAfterMs: number | undefined }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = netConnect(port, "127.0.0.1");
    let received = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ received, closedAfterMs: closed ? Date.now() - started : undefined });
    };
    const giveUp = setTimeout(() => finish(false), giveUpMs);
    socket.on("data", (chunk) => (received += chunk.toString()));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    socket.on("connect", () => void drive((text) => !socket.destroyed && socket.write(text)));
  });
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

// BUG (src/server/single-port-listener.ts): the plaintext HTTP/1.1 server never calls
// listen() (routeByPreface hands it sockets with emit("connection")), and Node sets up the
// connection tracking that enforces headersTimeout/requestTimeout only on "listening". So
// `headersTimeout` is never enforced: a client dribbling header bytes keeps its connection
// (here still open after 3 s with headersTimeoutMs 300; a standalone probe of the same
// setup was still open after 40 s). Even on a listening server, Node checks only every
// connectionsCheckingInterval (30 s default), so pass a smaller one as well.
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

describe("mutual TLS", () => {
  const hasOpenssl = (() => {
    try {
      execFileSync("openssl", ["version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();
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
    const store = openSqliteStore(join(dir, "booking.db"));
    const tlsServer = createBookingServer({
      store,
      credentials,
      tls: { cert: files["server.crt"], key: files["server.key"], clientCa: files["ca.crt"] },
      logAuthFailure: () => {},
    });
    port = (await tlsServer.listen(0, "127.0.0.1")).port;
    close = async () => {
      await tlsServer.close();
      store.close();
    };
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
