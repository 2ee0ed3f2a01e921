import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import pino, { type Logger } from "pino";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { BookingFailure_Cause } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { StoreBusyError, type Store } from "../store/repositories.js";
import { needsLogging, publicError } from "./domain-errors.js";
import type { NodeResponse } from "./rest-gateway.js";

/**
 * One answered call, as logs and metrics see it. Logged without redaction (a
 * redaction pass cost ~10 us per call, ~5% of a booking): never add personal
 * data or secrets here.
 */
export interface CallRecord {
  requestId: string;
  /** RPC method name, e.g. "CreateBooking". */
  method: string;
  /** "rest", "connect", "grpc" or "grpc-web". */
  protocol: string;
  /** "ok", "booking_failure", or the error code (e.g. "invalid_argument"). */
  outcome: string;
  /** BookingFailure cause name when the outcome is a booking_failure. */
  cause?: string;
  latencyMs: number;
}

/**
 * Paths whose values are never logged: personal data and secrets, wherever
 * they sit in a logged object.
 */
const redactedPaths = [
  "*.email",
  "*.telephone",
  "*.authorization",
  "*.password",
  "*.token",
  "*.unparsedPaymentMethodToken",
  "*.unparsed_payment_method_token",
  "*.paymentMethodToken",
  "*.payment_method_token",
];

export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    { level: options.level ?? "info", redact: { paths: redactedPaths, censor: "[redacted]" } },
    options.destination,
  );
}

/** A background job that keeps failing is logged once in this many ms (and counted every time). */
const jobFailureLogIntervalMs = 60_000;

/**
 * Structured logs (pino) and Prometheus metrics (prom-client) for the
 * server: one record per answered call, plus gauges read at scrape time.
 */
export class Observability {
  readonly registry = new Registry();
  private readonly callDuration: Histogram<"method" | "protocol">;
  private readonly calls: Counter<"method" | "protocol" | "outcome">;
  private readonly bookingFailures: Counter<"method" | "cause">;
  private readonly deliveryFailures: Counter<"kind" | "reason">;
  private readonly storeBusy: Counter;
  private readonly storeReruns: Counter;
  private readonly jobFailures: Counter<"job">;
  private readonly jobFailureLogged = new Map<string, { atMs: number; suppressed: number }>();
  private readonly callLog: Logger;

  constructor(
    readonly logger: Logger,
    store: Store,
    nowSec: () => number,
  ) {
    this.callLog = logger.child({}, { redact: { paths: [] } });
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry }); // includes nodejs_eventloop_lag_seconds
    this.callDuration = new Histogram({
      name: "booking_call_duration_seconds",
      help: "Time from request to answer, by method and protocol",
      labelNames: ["method", "protocol"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.calls = new Counter({
      name: "booking_calls_total",
      help: "Answered calls by method, protocol and outcome (ok, booking_failure or an error code)",
      labelNames: ["method", "protocol", "outcome"],
      registers,
    });
    this.bookingFailures = new Counter({
      name: "booking_failures_total",
      help: "Business failures answered in booking_failure, by cause",
      labelNames: ["method", "cause"],
      registers,
    });
    this.deliveryFailures = new Counter({
      name: "booking_notification_delivery_failures_total",
      help: "Failed deliveries to Google's API by kind and reason (retried or dead)",
      labelNames: ["kind", "reason"],
      registers,
    });
    this.jobFailures = new Counter({
      name: "booking_background_job_failures_total",
      help: "Runs of a background job (auto_decline, payment_reconciliation, outbox, lease_expiry, checkpoint) that failed and are retried",
      labelNames: ["job"],
      registers,
    });
    this.storeBusy = new Counter({
      name: "booking_store_busy_total",
      help: "Calls that failed because the database stayed busy (locked by another process) for longer than the store waits",
      registers,
    });
    this.storeReruns = new Counter({
      name: "booking_store_retries_total",
      help: "Units of work the database refused for a conflict with another unit and the store ran again (PostgreSQL's serializable transactions)",
      registers,
    });
    const depth = () => store.read.outbox.depth(nowSec());
    new Gauge({
      name: "booking_outbox_pending",
      help: "Notifications waiting to be delivered",
      registers,
      async collect() {
        this.set((await depth()).pending);
      },
    });
    new Gauge({
      name: "booking_outbox_oldest_pending_age_seconds",
      help: "Age of the oldest notification waiting to be delivered",
      registers,
      async collect() {
        this.set((await depth()).oldestPendingAgeSec);
      },
    });
    new Gauge({
      name: "booking_outbox_dead",
      help: "Notifications Google refused for good (see AdminService)",
      registers,
      async collect() {
        this.set((await depth()).dead);
      },
    });
  }

  recordCall(call: CallRecord): void {
    this.callDuration.observe({ method: call.method, protocol: call.protocol }, call.latencyMs / 1000);
    this.calls.inc({ method: call.method, protocol: call.protocol, outcome: call.outcome });
    if (call.cause) this.bookingFailures.inc({ method: call.method, cause: call.cause });
    const level = call.outcome === "internal" || call.outcome === "unknown" ? "error" : "info";
    this.callLog[level](call, "call");
  }

  /** A unit of work the store ran again after a conflict with another unit (counted in `booking_store_retries_total`). */
  recordStoreRerun(): void {
    this.storeReruns.inc();
  }

  recordDeliveryFailure(kind: string, reason: string): void {
    this.deliveryFailures.inc({ kind, reason });
  }

  /**
   * Logs what a caller was answered only generically (`internal`, `unavailable`):
   * the underlying error, with its message and stack, stays on the server.
   * A busy database (`StoreBusyError`) counts in `booking_store_busy_total`.
   */
  logFailedCall(requestId: string, method: string, answered: ConnectError): void {
    const cause = answered.cause ?? answered;
    if (isStoreBusy(cause)) this.storeBusy.inc();
    this.logger.error({ requestId, method, code: codeName(answered.code), err: cause }, "call failed");
  }

  /**
   * A background job's run (auto-decline, payment reconciliation, the
   * outbox, lease expiry, checkpoints) that failed and will run again at its
   * next tick: counted by job, logged at most once per job every
   * `jobFailureLogIntervalMs` (a full disk fails every tick; the log must not
   * fill what is left of it).
   */
  recordJobFailure(job: string, error: unknown): void {
    this.jobFailures.inc({ job });
    const nowMs = Date.now();
    const last = this.jobFailureLogged.get(job);
    if (last && nowMs - last.atMs < jobFailureLogIntervalMs) return void last.suppressed++;
    this.logger.error({ job, err: error, failuresNotLogged: last?.suppressed ?? 0 }, "background job failed; retried at its next tick");
    this.jobFailureLogged.set(job, { atMs: nowMs, suppressed: 0 });
  }

  /** Answers a scrape; never rejects (a gauge whose database read fails makes it a 503, logged). */
  async serveMetrics(res: NodeResponse): Promise<void> {
    let body: string;
    try {
      body = await this.registry.metrics();
    } catch (error) {
      this.logger.error({ err: error }, "metrics could not be collected");
      res.statusCode = 503;
      return void res.end();
    }
    res.statusCode = 200;
    res.setHeader("Content-Type", this.registry.contentType);
    res.end(body);
  }

  /** Times every RPC and records its outcome; put it first, so refused authentications count too. */
  interceptor(newRequestId: () => string): Interceptor {
    return (next) => async (req) => {
      const started = performance.now();
      const requestId = newRequestId();
      const record = (outcome: string, cause?: string) =>
        this.recordCall({
          requestId,
          method: req.method.name,
          protocol: protocolOf(req.header.get("content-type")),
          outcome,
          cause,
          latencyMs: performance.now() - started,
        });
      try {
        const response = await next(req);
        const cause = response.stream ? undefined : bookingFailureCause(response.message);
        record(cause ? "booking_failure" : "ok", cause);
        response.header.set("X-Request-Id", requestId);
        return response;
      } catch (error) {
        const answered = publicError(error);
        record(codeName(answered.code));
        if (needsLogging(answered)) this.logFailedCall(requestId, req.method.name, answered);
        throw answered;
      }
    };
  }
}

/** Whether `error`, or an error of its cause chain, is the store saying it is busy. */
function isStoreBusy(error: unknown): boolean {
  for (let depth = 0; error instanceof Error && depth < 10; depth++, error = error.cause) {
    if (error instanceof StoreBusyError) return true;
  }
  return false;
}

/** The cause of a response's `booking_failure`, if it has one. */
export function bookingFailureCause(message: unknown): string | undefined {
  const failure = (message as { bookingFailure?: { cause: BookingFailure_Cause } }).bookingFailure;
  return failure ? BookingFailure_Cause[failure.cause] : undefined;
}

export function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

function protocolOf(contentType: string | null): string {
  if (contentType?.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType?.startsWith("application/grpc")) return "grpc";
  return "connect";
}
