"use strict";
// A small closed-loop load generator: `connections` workers, each sending its
// next request as soon as the previous answer is in, for `durationMs`.
// HTTP/1.1 over keep-alive node:http agents (one socket per worker) and gRPC
// over @grpc/grpc-js (one channel, hence one HTTP/2 connection, per worker).
const http = require("node:http");

/** Latency percentile (ms) of a sorted array of ms. */
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Runs `call(worker, i)` (a function returning a Promise<boolean>: ok or not,
 * or Promise<{ ok, kind }> to also get latencies per kind of request; a
 * rejection is an error) from `connections` workers for `durationMs`, or
 * until the promise `until` settles (e.g. while another process runs).
 * `atStart` and `atEnd` are called when the measured window (after the
 * warm-up) opens and closes, e.g. to read the processes' CPU time.
 */
async function runLoop({ connections, durationMs, until, warmupMs = 1000, atStart, atEnd, call }) {
  const latencies = [];
  const latenciesByKind = {};
  let errors = 0;
  let failures = 0; // answered, but not what the scenario expected (e.g. SLOT_UNAVAILABLE)
  let firstError;
  let measuring = false;
  let stop = false;
  let seq = 0;
  const worker = async (w) => {
    while (!stop) {
      const i = seq++;
      const t0 = process.hrtime.bigint();
      try {
        const answer = await call(w, i);
        const ok = typeof answer === "object" ? answer.ok : answer;
        if (measuring) {
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          latencies.push(ms);
          if (typeof answer === "object") (latenciesByKind[answer.kind] ??= []).push(ms);
          if (!ok) failures++;
        }
      } catch (error) {
        if (measuring) errors++;
        firstError ??= error;
        // A failing target must not turn this loop into a microtask spin that starves the timers.
        await new Promise((r) => setTimeout(r, measuring ? 1 : 10));
      }
    }
  };
  const workers = Array.from({ length: connections }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  atStart?.();
  const started = process.hrtime.bigint();
  await (until ? until.catch(() => undefined) : new Promise((r) => setTimeout(r, durationMs)));
  measuring = false;
  atEnd?.();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  stop = true;
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  const byKind = Object.fromEntries(
    Object.entries(latenciesByKind).sort(([a], [b]) => a.localeCompare(b)).map(([kind, ms]) => {
      ms.sort((a, b) => a - b);
      return [kind, { requests: ms.length, p50_ms: round(percentile(ms, 50)), p99_ms: round(percentile(ms, 99)) }];
    }),
  );
  return {
    requests: latencies.length + errors,
    rps: Math.round((latencies.length + errors) / seconds),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    errors,
    failures,
    first_error: firstError ? String(firstError.message || firstError).slice(0, 200) : undefined,
    ...(Object.keys(byKind).length ? { by_kind: byKind } : {}),
  };
}

const round = (x) => Math.round(x * 100) / 100;

/**
 * HTTP/1.1 POST of JSON bodies (and GET); an answer other than 200 rejects with "HTTP <status> on <path>: <body>".
 * With `ports` (several servers), worker w talks to ports[w % ports.length]: the load split evenly across them.
 */
function httpPoster({ port, ports = [port], connections, headers = {} }) {
  const agents = Array.from({ length: connections }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const send = (w, method, path, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
      const req = http.request(
        {
          host: "127.0.0.1", port: ports[w % ports.length], path, method, agent: agents[w],
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...headers },
        },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode} on ${path}: ${text.slice(0, 150)}`));
            try {
              resolve(JSON.parse(text));
            } catch (e) {
              reject(e);
            }
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  return {
    post: (w, path, body) => send(w, "POST", path, body),
    get: (w, path) => send(w, "GET", path),
    close: () => agents.forEach((a) => a.destroy()),
  };
}

/** gRPC clients of the ts-proto stub (dist/gen/grpc), one channel per worker. */
function grpcClients({ port, connections }) {
  const grpc = require("@grpc/grpc-js");
  const stub = require("../dist/gen/grpc/ext/maps/booking/partner/v3/booking_service.js");
  const clients = Array.from(
    { length: connections },
    () => new stub.BookingServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
  );
  const unary = (w, method, request) =>
    new Promise((resolve, reject) => clients[w][method](request, (error, response) => (error ? reject(error) : resolve(response))));
  return { stub, unary, close: () => clients.forEach((c) => c.close()) };
}

module.exports = { runLoop, httpPoster, grpcClients };
