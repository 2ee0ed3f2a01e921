import { toJson, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { BookingHandlers } from "./booking-handlers.js";
import { bookingFailureCause, codeName, type CallRecord } from "./observability.js";
import { needsLogging, publicError } from "./domain-errors.js";
import { decodeRestBody } from "./rest-json.js";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

export interface RestGatewayOptions {
  handlers: BookingHandlers;
  /** Admits the request or throws a ConnectError (unauthenticated, 429); absent when the server runs open. */
  authenticate?: (req: NodeRequest) => void;
  /** Largest request body accepted, in bytes. */
  readMaxBytes: number;
  /** Told of every answered call (logs and metrics). */
  observe?: (call: CallRecord) => void;
  /** Told of every call answered only generically (`internal`, `unavailable`), with the underlying error as `cause`. */
  logFailure?: (requestId: string, method: string, answered: ConnectError) => void;
  newRequestId: () => string;
}

/** `/v3/<Method>` with or without a trailing slash; the method name in any case. */
const restPath = /^\/v3\/([A-Za-z]+)\/?$/;

const methodsByLowerName = new Map<string, DescMethod>(
  BookingService.methods.map((method) => [method.name.toLowerCase(), method]),
);

export function isRestPath(url: string): boolean {
  return url.startsWith("/v3/");
}

/**
 * Google's REST mapping of the BookingService: `GET /v3/HealthCheck` and
 * `POST /v3/<Method>` with proto3 JSON bodies. Requests are decoded with the
 * generated types' JSON codec (snake_case or lowerCamelCase, int64 as string
 * or number, enums by name or number; unknown keys ignored, unknown enum names
 * rejected) and answered with proto field names,
 * int64 as strings and enums as names, the way Google's client parses them.
 */
export function restGateway(options: RestGatewayOptions) {
  return async (req: NodeRequest, res: NodeResponse): Promise<void> => {
    const started = performance.now();
    const requestId = options.newRequestId();
    res.setHeader("X-Request-Id", requestId);
    let methodName = "unknown";
    const observe = (outcome: string, cause?: string) =>
      options.observe?.({
        requestId,
        method: methodName,
        protocol: "rest",
        outcome,
        cause,
        latencyMs: performance.now() - started,
      });
    try {
      const method = methodsByLowerName.get(restPath.exec(pathOf(req.url ?? ""))?.[1]?.toLowerCase() ?? "");
      if (!method) throw new ConnectError(`no such method: ${req.url}`, Code.NotFound);
      methodName = method.name;
      options.authenticate?.(req);
      const expectedVerb = method.localName === "healthCheck" ? "GET" : "POST";
      if (req.method !== expectedVerb) {
        res.setHeader("Allow", expectedVerb);
        sendJson(res, 405, { code: "unimplemented", message: `use ${expectedVerb} for ${method.name}` });
        return observe("method_not_allowed");
      }
      const request = expectedVerb === "GET" ? {} : await readJsonBody(req, options.readMaxBytes);
      const input = decode(method, request);
      const handler = options.handlers[method.localName as keyof BookingHandlers] as (
        request: unknown,
      ) => Promise<Parameters<typeof toJson>[1]>;
      const output = await handler(input);
      sendJson(res, 200, toJson(method.output, output, { useProtoFieldName: true }));
      const cause = bookingFailureCause(output);
      observe(cause ? "booking_failure" : "ok", cause);
    } catch (error) {
      const answered = sendError(res, error);
      if (needsLogging(answered)) options.logFailure?.(requestId, methodName, answered);
      observe(codeName(answered.code));
    }
  };
}

function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

function decode(method: DescMethod, body: JsonValue) {
  try {
    return decodeRestBody(method.input, body);
  } catch (error) {
    if (error instanceof ConnectError) throw error;
    throw new ConnectError(`invalid ${method.input.name}: ${(error as Error).message}`, Code.InvalidArgument);
  }
}

async function readJsonBody(req: NodeRequest, readMaxBytes: number): Promise<JsonValue> {
  const contentType = req.headers["content-type"] ?? "application/json";
  if (!/^application\/json\b/i.test(contentType)) {
    throw new ConnectError(`content-type must be application/json, got ${contentType}`, Code.InvalidArgument);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > readMaxBytes) throw new PayloadTooLargeError(`request body larger than ${readMaxBytes} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof PayloadTooLargeError) throw error;
    // The client went away (or was cut off) before its body was complete.
    throw new ConnectError(`request body not received: ${(error as Error).message}`, Code.Canceled);
  }
  let text: string;
  try {
    text = strictUtf8.decode(Buffer.concat(chunks));
  } catch {
    throw new ConnectError("request body is not valid UTF-8", Code.InvalidArgument);
  }
  if (text.trim() === "") throw new ConnectError("request body is empty: a JSON object is required", Code.InvalidArgument);
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new ConnectError(`malformed JSON: ${(error as Error).message}`, Code.InvalidArgument);
  }
}

/**
 * A body over the limit: HTTP 413 with code `resource_exhausted`. (Not a
 * ConnectError subclass: ConnectError's instanceof matches any Connect error.)
 */
class PayloadTooLargeError extends Error {}

/** Invalid UTF-8 is refused, not silently turned into U+FFFD and stored. */
export const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Answers the error (see `publicError`: internals never reach the caller) and returns what was answered. */
function sendError(res: NodeResponse, error: unknown): ConnectError {
  const connectError =
    error instanceof PayloadTooLargeError ? new ConnectError(error.message, Code.ResourceExhausted) : publicError(error);
  const status = error instanceof PayloadTooLargeError ? 413 : codeToHttpStatus(connectError.code);
  if (!res.headersSent) connectError.metadata.forEach((value, name) => res.setHeader(name, value));
  sendJson(res, status, errorToJson(connectError, undefined));
  return connectError;
}

function sendJson(res: NodeResponse, status: number, body: JsonValue): void {
  if (res.headersSent) return void res.end();
  const payload = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json");
  res.setHeader("Content-Length", Buffer.byteLength(payload));
  res.end(payload);
}
