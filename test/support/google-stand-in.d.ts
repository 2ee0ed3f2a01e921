/**
 * The types of google-stand-in.js (plain CommonJS: examples/google-stand-in.js
 * runs the same stand-in on plain Node for `make google-stand-in`).
 *
 * A local HTTP server playing Google's Booking Notification API
 * (`PATCH /v1alpha/notification/partners/{partner}/bookings/{booking}`).
 * It records every request it receives (even those it then fails), and answers
 * as told: per booking from a script, else through `policy`, else 200 echoing
 * the body back as Google does.
 */
import type { IncomingMessage } from "node:http";

/** What the stand-in does with one request. */
export type StandInAction =
  | { status: number; body?: string; headers?: Record<string, string> }
  | { status: number; floodBytes: number } // a body this long, written as fast as the client takes it
  | "drop" // destroys the socket without answering (a dropped connection)
  | "hang"; // reads the request and never answers (a timeout)

export interface RecordedRequest {
  method: string;
  /** The request target as sent: path and query. */
  url: string;
  /** Path without the query. */
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage["headers"];
  /** The body as received. */
  text: string;
  /** Parsed JSON body (undefined when empty; the text itself when it is not JSON). */
  body: any;
  /** From a notification path; "" for any other path. */
  partnerId: string;
  bookingId: string;
  /** Date.now() when the request was fully received. */
  atMs: number;
  /** What the stand-in answered: a status, "drop" or "hang". */
  answer: number | "drop" | "hang";
}

/** How much of a flooding answer the stand-in got rid of before the client went away. */
export interface Flood {
  /** Bytes handed to the socket (what the client read, plus the kernel's buffers). */
  written: number;
  closed: boolean;
}

export declare class GoogleStandIn {
  readonly requests: RecordedRequest[];
  /** One per `floodBytes` answer, in the order they were given. */
  readonly floods: Flood[];
  /** Fallback decision when no script entry applies; default: 200. */
  policy: (request: RecordedRequest) => StandInAction;
  /** Called with every request once it is recorded, before it is answered. */
  onRequest: ((request: RecordedRequest) => void) | undefined;
  baseUrl: string;

  /** Answers the next requests for `bookingId` with these actions, in order. */
  script(bookingId: string, ...actions: StandInAction[]): void;
  /** Back to answering 200 to everything (scripts and policy cleared; hanging requests stay hung). */
  healthy(): void;
  /** Every request about one booking, in arrival order. */
  for(bookingId: string): RecordedRequest[];
  /** Requests about one booking (any booking when omitted) that were answered 2xx: the notifications Google accepted. */
  accepted(bookingId?: string): RecordedRequest[];
  /** Waits until `condition` holds (polling every 10 ms); throws after `timeoutMs`. */
  waitFor(condition: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /**
   * Listens on `host` (default 127.0.0.1) at `port` (default 0: any free one) and sets `baseUrl`;
   * rejects with the listen error (e.g. `code: "EADDRINUSE"`) when it cannot.
   */
  listen(port?: number, host?: string): Promise<void>;
  /** Ends hanging answers, destroys every connection and stops listening. */
  close(): Promise<void>;
}
