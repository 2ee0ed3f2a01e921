/**
 * A local HTTP server playing Google's Booking Notification API
 * (`PATCH /v1alpha/notification/partners/{partner}/bookings/{booking}`) and the
 * availability updates: the tests' stand-in and, through
 * examples/google-stand-in.js (`make google-stand-in`), the one to try the
 * server with locally. Plain CommonJS so that script runs it on plain Node; the
 * TypeScript tests get its types from google-stand-in.d.ts, where every member
 * is described.
 *
 * It records every request it receives (even those it then fails), and answers
 * as told: per booking from a script, else through `policy`, else 200 echoing
 * the body back as Google does.
 */
"use strict";

const { createServer } = require("node:http");

const notificationPath = /^\/v1alpha\/notification\/partners\/([^/]+)\/bookings\/([^/]+)$/;
const accepted = (request) => typeof request.answer === "number" && request.answer >= 200 && request.answer < 300;

class GoogleStandIn {
  constructor() {
    /** @type {import("./google-stand-in").RecordedRequest[]} */
    this.requests = [];
    /** @type {import("./google-stand-in").Flood[]} */
    this.floods = [];
    /** @type {(request: import("./google-stand-in").RecordedRequest) => import("./google-stand-in").StandInAction} */
    this.policy = () => ({ status: 200 });
    /** @type {((request: import("./google-stand-in").RecordedRequest) => void) | undefined} */
    this.onRequest = undefined;
    this.baseUrl = "";
    this.scripts = new Map();
    this.hanging = new Set();
    this.sockets = new Set();
    this.server = createServer((req, res) => {
      const chunks = [];
      req.on("data", (chunk) => chunks.push(chunk));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const text = Buffer.concat(chunks).toString("utf8");
        const match = notificationPath.exec(url.pathname);
        let body;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = text;
        }
        const recorded = {
          method: req.method ?? "",
          url: req.url ?? "/",
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          text,
          body,
          partnerId: match ? decodeURIComponent(match[1]) : "",
          bookingId: match ? decodeURIComponent(match[2]) : "",
          atMs: Date.now(),
          answer: 200,
        };
        this.requests.push(recorded);
        this.onRequest?.(recorded);
        const action = this.scripts.get(recorded.bookingId)?.shift() ?? this.policy(recorded);
        if (action === "drop") {
          recorded.answer = "drop";
          req.socket.destroy();
        } else if (action === "hang") {
          recorded.answer = "hang";
          this.hanging.add(res);
          res.on("close", () => this.hanging.delete(res));
        } else if ("floodBytes" in action) {
          recorded.answer = action.status;
          this.flood(res, action.status, action.floodBytes);
        } else {
          recorded.answer = action.status;
          res.writeHead(action.status, { "content-type": "application/json", ...action.headers });
          res.end(action.body ?? (action.status < 300 ? text : JSON.stringify({ error: { code: action.status } })));
        }
      });
    });
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  /** A body of `bytes` bytes, written as fast as the client takes it (recorded in `floods`). */
  flood(res, status, bytes) {
    const flood = { written: 0, closed: false };
    this.floods.push(flood);
    res.on("close", () => (flood.closed = true));
    res.writeHead(status, { "content-type": "application/json" });
    const chunk = Buffer.alloc(64 * 1024, "x");
    const pump = () => {
      while (!res.destroyed && flood.written < bytes) {
        flood.written += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }

  script(bookingId, ...actions) {
    this.scripts.set(bookingId, [...(this.scripts.get(bookingId) ?? []), ...actions]);
  }

  healthy() {
    this.scripts.clear();
    this.policy = () => ({ status: 200 });
  }

  for(bookingId) {
    return this.requests.filter((request) => request.bookingId === bookingId);
  }

  accepted(bookingId) {
    return this.requests.filter((request) => (bookingId === undefined || request.bookingId === bookingId) && accepted(request));
  }

  async waitFor(condition, timeoutMs = 5000, what = "condition") {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) {
        throw new Error(
          `stand-in: timed out after ${timeoutMs} ms waiting for ${what}; received:\n` +
            this.requests.map((r) => `  ${r.method} ${r.path} ${JSON.stringify(r.query)} -> ${r.answer}`).join("\n"),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async listen(port = 0, host = "127.0.0.1") {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.baseUrl = `http://${host}:${this.server.address().port}`;
  }

  async close() {
    for (const res of this.hanging) res.destroy();
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}

module.exports = { GoogleStandIn };
