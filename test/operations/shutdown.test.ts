/**
 * Graceful shutdown of a real server process: requests under way when SIGTERM
 * arrives (HTTP/1.1 keep-alive, raw HTTP/2 streams, Connect over HTTP/2) are
 * all answered, new connections are refused, the process says it stopped and
 * exits 0 within the bound, and the database holds exactly the bookings that
 * were acknowledged. In-process: /readyz is 503 while the server drains.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import Database from "better-sqlite3";
import { Agent, request as httpRequest } from "node:http";
import { connect as http2Connect } from "node:http2";
import { connect as netConnect } from "node:net";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import {
  bookingOutcome,
  createBookingJson,
  createBookingMessage,
  fullHttp1,
  heldHttp1,
  opsServerEnv,
  sleep,
  useOpsDatabase,
  type Outcome,
} from "../support/operations";
import { startServerProcess } from "../support/server-process";
import { authHeader, startTestServer } from "../support/test-server";

const ops = useOpsDatabase("booking-shutdown-");

/** A CreateBooking over a raw HTTP/2 stream (REST path), body held back as heldHttp1 holds it. */
function heldHttp2(session: ReturnType<typeof http2Connect>, token: string) {
  const body = JSON.stringify(createBookingJson(token));
  const half = Math.floor(body.length / 2);
  const stream = session.request({
    ":method": "POST",
    ":path": "/v3/CreateBooking",
    authorization: authHeader,
    "content-type": "application/json",
  });
  stream.write(body.slice(0, half));
  const outcome = new Promise<Outcome>((resolve) => {
    let status = 0;
    let text = "";
    stream.on("response", (headers) => (status = Number(headers[":status"])));
    stream.on("data", (chunk) => (text += chunk));
    stream.on("end", () => resolve(bookingOutcome(token, "http2-held", status, text)));
    stream.on("error", (e: NodeJS.ErrnoException) => resolve({ token, via: "http2-held", error: `${e.code} ${e.message}` }));
  });
  return { outcome, finish: () => stream.end(body.slice(half)) };
}

function connectionRefused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = netConnect(port, "127.0.0.1");
    socket.on("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

test("when SIGTERM arrives with requests under way over HTTP/1.1 and HTTP/2, then every accepted one is answered, the process exits 0 and the database holds exactly the acknowledged bookings", async () => {
  const server = (ops.server = await startServerProcess(["--db", ops.dbPath], opsServerEnv));
  const { port, baseUrl } = server;
  const agent = new Agent({ keepAlive: true, maxSockets: 100 });
  const rawSession = http2Connect(baseUrl);
  rawSession.on("error", () => {});
  const sessionManager = new Http2SessionManager(baseUrl);
  const client = createClient(BookingService, createConnectTransport({ baseUrl, httpVersion: "2", sessionManager }));
  const rpcOutcome = (token: string): Promise<Outcome> =>
    client.createBooking(createBookingMessage(token), { headers: { authorization: authHeader }, timeoutMs: 14_000 }).then(
      (response) => ({ token, via: "connect-h2", bookingId: response.booking?.bookingId }),
      (e: Error) => ({ token, via: "connect-h2", error: e.message }),
    );

  // Warm up every connection, so the requests below go over connections the server already accepted.
  const warm = await Promise.all([
    ...Array.from({ length: 50 }, (_, i) => fullHttp1(port, agent, `warm-h1-${i}`)),
    rpcOutcome("warm-rpc"),
  ]);
  const heldOpen = heldHttp2(rawSession, "warm-h2");
  heldOpen.finish();
  warm.push(await heldOpen.outcome);
  expect(warm.filter((o) => o.error)).toEqual([]);

  // Surely under way: headers and half the body sent, the rest only after SIGTERM.
  const held = [
    ...Array.from({ length: 20 }, (_, i) => heldHttp1(port, agent, `held-h1-${i}`)),
    ...Array.from({ length: 20 }, (_, i) => heldHttp2(rawSession, `held-h2-${i}`)),
  ];
  await sleep(300);
  // Fired right before SIGTERM, over the warm keep-alive sockets and the warm HTTP/2 session.
  const fired = [
    ...Array.from({ length: 50 }, (_, i) => fullHttp1(port, agent, `fired-h1-${i}`)),
    ...Array.from({ length: 50 }, (_, i) => rpcOutcome(`fired-rpc-${i}`)),
  ];
  const signalledAt = Date.now();
  const exited = new Promise<{ code: number | null; afterMs: number }>((resolve) =>
    server.child.once("exit", (code) => resolve({ code, afterMs: Date.now() - signalledAt })),
  );
  server.child.kill("SIGTERM");

  // Once the server has taken the signal, nobody new gets in.
  while (!/SIGTERM: finishing/.test(server.output()) && Date.now() - signalledAt < 5_000) await sleep(10);
  const newConnection = await connectionRefused(port);
  await sleep(300);
  for (const request of held) request.finish();

  const heldOutcomes = await Promise.all(held.map((h) => h.outcome));
  const heldDoneMs = Date.now() - signalledAt;
  const firedOutcomes = await Promise.all(fired);
  const answersDoneMs = Date.now() - signalledAt;
  const { code, afterMs } = await exited;
  rawSession.destroy();
  sessionManager.abort();
  agent.destroy();

  const all = [...warm, ...heldOutcomes, ...firedOutcomes];
  const acknowledged = all.filter((o) => o.bookingId).map((o) => o.bookingId!);
  const failures = all.filter((o) => o.error);
  const errorKinds = new Map<string, number>();
  for (const f of failures) errorKinds.set(`${f.via}: ${f.error}`, (errorKinds.get(`${f.via}: ${f.error}`) ?? 0) + 1);
  console.log(
    `shutdown: ${heldOutcomes.filter((o) => o.bookingId).length}/${held.length} held requests and ` +
      `${firedOutcomes.filter((o) => o.bookingId).length}/${fired.length} fired requests answered during the drain; ` +
      `last held answer ${heldDoneMs} ms, last answer ${answersDoneMs} ms, exit ${code} ${afterMs} ms after SIGTERM; new connection after SIGTERM: ${newConnection}; ` +
      `failures: ${JSON.stringify([...errorKinds])}`,
  );

  const db = new Database(ops.dbPath, { readonly: true });
  try {
    const stored = (db.prepare("SELECT booking_id FROM bookings").all() as Array<{ booking_id: string }>).map((r) => r.booking_id);
    const acked = new Set(acknowledged);
    const storedUnacknowledged = stored.filter((id) => !acked.has(id));
    console.log(`database after the stop: ${stored.length} bookings, ${acknowledged.length} acknowledged, ${storedUnacknowledged.length} stored but never acknowledged`);
    expect(new Set(stored)).toEqual(new Set(acknowledged));
    expect(stored.length).toBe(acknowledged.length);
  } finally {
    db.close();
  }

  expect(newConnection).toBe("ECONNREFUSED");
  // Requests the server had surely received: all answered, none hung up.
  expect(heldOutcomes.filter((o) => o.error)).toEqual([]);
  // Requests fired at the last moment: answered, or refused before the server took them (REFUSED_STREAM,
  // ECONNREFUSED). HTTP/1.1 ones written on warm keep-alive sockets may currently be hung up (see the
  // test.failing below); the database check above proves none of those was booked behind the client's back.
  for (const failure of failures) {
    // A request written to a keep-alive socket the server closed after its quiet period: not taken.
    if (failure.via === "http1" && /socket hang up|ECONNRESET/.test(failure.error!)) continue;
    expect(failure.error).toMatch(/ECONNREFUSED|REFUSED_STREAM/);
  }
  expect(code).toBe(0);
  expect(afterMs).toBeLessThan(15_000);
  // Idle keep-alive connections do not hold the process once the last answer is out.
  expect(afterMs - answersDoneMs).toBeLessThan(3_000);
  expect(server.output()).toMatch(/^stopped$/m);

}, 25_000);

test("when the server starts draining, then /readyz answers 503 on a connection that was already open", async () => {
  const inProcess = await startTestServer({ shutdownGraceMs: 5_000 });
  try {
    const { received } = await new Promise<{ received: string }>((resolve) => {
      const socket = netConnect(inProcess.port, "127.0.0.1");
      let received = "";
      socket.on("data", (chunk) => (received += chunk));
      socket.on("close", () => resolve({ received }));
      socket.on("connect", async () => {
        const body = JSON.stringify({ booking_id: "no-such-booking" });
        socket.write(
          `POST /v3/GetBookingStatus HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${authHeader}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
        );
        await sleep(100);
        void inProcess.stopServer();
        await sleep(50);
        // The rest of the request under way, and a readiness probe pipelined behind it.
        socket.write(`${body.slice(5)}GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      });
    });
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    console.log(`during the drain: request under way -> ${statuses[0]}, pipelined /readyz -> ${statuses[1]} ${received.slice(received.lastIndexOf("\r\n\r\n") + 4)}`);
    expect(statuses[0]).toBe(404);
    expect(statuses[1]).toBe(503);
    expect(received).toContain('"status":"stopping"');
  } finally {
    await inProcess.close();
  }
});

// Regression: the plaintext HTTP/1.1 server never listens itself, so Node's
// closeIdleConnections() did nothing and an idle keep-alive connection held the drain
// until keepAliveTimeout (stop took 6.0 s here, the process exited 6.4 s after SIGTERM
// though its last answer went out at 0.4 s). single-port-listener.ts now tracks busy
// HTTP/1.1 sockets itself and closes the idle ones on shutdown.
test("when an idle HTTP/1.1 keep-alive connection is open, then a stop does not wait for it", async () => {
  const inProcess = await startTestServer({ shutdownGraceMs: 8_000 });
  const agent = new Agent({ keepAlive: true });
  try {
    const status = await new Promise<number>((resolve, reject) => {
      httpRequest({ host: "127.0.0.1", port: inProcess.port, path: "/healthz", agent }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      })
        .on("error", reject)
        .end();
    });
    expect(status).toBe(200);
    const started = Date.now();
    await inProcess.stopServer();
    const stopMs = Date.now() - started;
    console.log(`stop with one idle keep-alive connection open: ${stopMs} ms`);
    expect(stopMs).toBeLessThan(1_000);
  } finally {
    agent.destroy();
    await inProcess.close();
  }
}, 15_000);

// BUG (src/server/single-port-listener.ts, the uncommitted drain change): shutdown() destroys
// every HTTP/1.1 socket without a request in its handler ("idle"), including one whose next
// request has already arrived and sits unread in the socket buffer. The client gets
// "socket hang up" (ECONNRESET) for a request it had sent before the stop began. With the
// server process: 30 of 50 CreateBookings written on warm keep-alive sockets just before
// SIGTERM were hung up (none was booked); before this change all 30 were answered (but an
// idle keep-alive connection then held the exit for ~6 s). Possible fix: on drain, end idle
// sockets only after a short quiet period, or treat a socket that has unread bytes
// (socket.bytesRead grown since its last response) as busy and answer with Connection: close.
test("when a request has reached an idle keep-alive connection just as the stop begins, then it is answered, not hung up", async () => {
  const inProcess = await startTestServer({ shutdownGraceMs: 3_000 });
  try {
    const received = await new Promise<string>((resolve) => {
      const socket = netConnect(inProcess.port, "127.0.0.1");
      let text = "";
      let answered = 0;
      socket.on("error", (e) => resolve(`${text}\n${(e as NodeJS.ErrnoException).code}`));
      socket.on("close", () => resolve(text));
      socket.on("data", (chunk) => {
        text += chunk;
        if (++answered === 1 && /\r\n\r\n\{"status":"ok"\}/.test(text)) {
          // The connection is idle now; the next request goes out and the stop begins in the same tick.
          socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
          void inProcess.stopServer();
        }
      });
      socket.on("connect", () => socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    });
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    console.log(`request sent on an idle keep-alive connection as the stop began: answers ${JSON.stringify(statuses)} ${received.endsWith("ECONNRESET") ? "then ECONNRESET" : ""}`);
    expect(statuses).toEqual(["200", "200"]);
  } finally {
    await inProcess.close();
  }
});
