import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A local HTTP server playing Google's Booking Notification API
 * (`PATCH /v1alpha/notification/partners/{partner}/bookings/{booking}`).
 * It records every request it receives (even those it then fails), and
 * answers as told: per booking from a script, else through `policy`, else 200
 * echoing the body back as Google does.
 */

/** What the stand-in does with one request. */
export type StandInAction =
  | { status: number; body?: string; headers?: Record<string, string> }
  | "drop" // destroys the socket without answering (a dropped connection)
  | "hang"; // reads the request and never answers (a timeout)

export interface RecordedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage["headers"];
  /** Parsed JSON body (undefined when empty). */
  body: any;
  partnerId: string;
  bookingId: string;
  /** Date.now() when the request was fully received. */
  atMs: number;
  /** What the stand-in answered: a status, "drop" or "hang". */
  answer: number | "drop" | "hang";
}

const notificationPath = /^\/v1alpha\/notification\/partners\/([^/]+)\/bookings\/([^/]+)$/;

export class GoogleStandIn {
  readonly requests: RecordedRequest[] = [];
  /** Fallback decision when no script entry applies; default: 200. */
  policy: (request: RecordedRequest) => StandInAction = () => ({ status: 200 });
  baseUrl = "";

  private readonly scripts = new Map<string, StandInAction[]>();
  private readonly server: Server;
  private readonly hanging = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const text = Buffer.concat(chunks).toString("utf8");
        const match = notificationPath.exec(url.pathname);
        let body: any;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = text;
        }
        const recorded: RecordedRequest = {
          method: req.method ?? "",
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          body,
          partnerId: match ? decodeURIComponent(match[1]) : "",
          bookingId: match ? decodeURIComponent(match[2]) : "",
          atMs: Date.now(),
          answer: 200,
        };
        this.requests.push(recorded);
        const action = this.scripts.get(recorded.bookingId)?.shift() ?? this.policy(recorded);
        if (action === "drop") {
          recorded.answer = "drop";
          req.socket.destroy();
        } else if (action === "hang") {
          recorded.answer = "hang";
          this.hanging.add(res);
          res.on("close", () => this.hanging.delete(res));
        } else {
          recorded.answer = action.status;
          res.writeHead(action.status, { "content-type": "application/json", ...action.headers });
          res.end(action.body ?? (action.status < 300 ? text : JSON.stringify({ error: { code: action.status } })));
        }
      });
    });
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  /** Answers the next requests for `bookingId` with these actions, in order. */
  script(bookingId: string, ...actions: StandInAction[]): void {
    this.scripts.set(bookingId, [...(this.scripts.get(bookingId) ?? []), ...actions]);
  }

  /** Back to answering 200 to everything (scripts and policy cleared; hanging requests stay hung). */
  healthy(): void {
    this.scripts.clear();
    this.policy = () => ({ status: 200 });
  }

  /** Every request about one booking, in arrival order. */
  for(bookingId: string): RecordedRequest[] {
    return this.requests.filter((request) => request.bookingId === bookingId);
  }

  /** Requests about one booking that were answered 2xx: the notifications Google accepted. */
  accepted(bookingId?: string): RecordedRequest[] {
    return this.requests.filter(
      (request) =>
        (bookingId === undefined || request.bookingId === bookingId) &&
        typeof request.answer === "number" &&
        request.answer >= 200 &&
        request.answer < 300,
    );
  }

  /** Waits until `condition` holds (polling every 10 ms); throws after `timeoutMs`. */
  async waitFor(condition: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
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

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
