import { fromBinary, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createAsyncIterable,
  encodeEnvelope,
  type Compression,
  type UniversalHandler,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { checkJsonIntegers } from "./check-json-integers.js";
import { strictUtf8 } from "./rest-gateway.js";

type WireProtocol = "connect" | "grpc" | "grpc-web";

interface Wire {
  protocol: WireProtocol;
  codec: "binary" | "json";
}

const wiresByContentType = new Map<string, Wire>([
  ["application/proto", { protocol: "connect", codec: "binary" }],
  ["application/json", { protocol: "connect", codec: "json" }],
  ["application/grpc", { protocol: "grpc", codec: "binary" }],
  ["application/grpc+proto", { protocol: "grpc", codec: "binary" }],
  ["application/grpc+json", { protocol: "grpc", codec: "json" }],
  ["application/grpc-web", { protocol: "grpc-web", codec: "binary" }],
  ["application/grpc-web+proto", { protocol: "grpc-web", codec: "binary" }],
  ["application/grpc-web+json", { protocol: "grpc-web", codec: "json" }],
]);

/** The gRPC message header's flag for a compressed message. */
const compressedFlag = 0x01;

export interface RequestBodyGuardOptions {
  /** Largest request body, in bytes, before and after decompression. */
  readMaxBytes: number;
  /** The compressions the router accepts (the same list). */
  acceptCompression: readonly Compression[];
}

/**
 * connect-es 2.1 answers several malformed request bodies with `internal`
 * (HTTP 500 / gRPC 13): a protobuf body that does not parse, a gRPC or
 * gRPC-Web message flagged compressed without a `grpc-encoding`, compressed
 * bytes that do not decompress. A malformed request is the client's fault
 * and must be `invalid_argument`. And protobuf-es reads a JSON integer given
 * as `"0x10"` or `" 12 "` as a number, where proto3 JSON wants decimal.
 *
 * This wraps a unary handler: the body is read first (bounded by
 * `readMaxBytes`), its messages are decompressed and decoded once to check
 * them (binary: it parses; JSON: `checkJsonIntegers`), and a bad one is
 * answered with `invalid_argument` in the caller's protocol; otherwise the
 * handler gets the same bytes. Bodies over the limit, unknown encodings,
 * framing errors and JSON that does not parse are left to connect-es, which
 * answers them correctly.
 */
export function guardRequestBodies(handler: UniversalHandler, options: RequestBodyGuardOptions): UniversalHandler {
  const guarded = async (request: Parameters<UniversalHandler>[0]): Promise<UniversalServerResponse> => {
    const contentType = request.header.get("content-type");
    const wire = wiresByContentType.get(contentType?.split(";")[0].trim().toLowerCase() ?? "");
    if (!wire || !isByteStream(request.body)) return handler(request);
    const body = await readUpTo(request.body, options.readMaxBytes + 1);
    if (body.length <= options.readMaxBytes) {
      try {
        const messages = await messagesOf(wire, request.header, body, options);
        for (const message of messages ?? []) checkMessage(wire, handler.method.input, message);
      } catch (error) {
        return errorResponse(wire.protocol, contentType!, asClientError(error));
      }
    }
    return handler({ ...request, body: createAsyncIterable([body]) });
  };
  return Object.assign(guarded, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

async function readUpTo(body: AsyncIterable<Uint8Array>, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks);
}

/**
 * The request's messages, decompressed; undefined when its encoding is not
 * one the router accepts (connect-es answers `unimplemented`).
 */
async function messagesOf(
  wire: Wire,
  header: Headers,
  body: Uint8Array,
  options: RequestBodyGuardOptions,
): Promise<Uint8Array[] | undefined> {
  if (wire.protocol === "connect") {
    const compression = compressionOf(header.get("content-encoding"), options);
    if (compression === undefined) return undefined;
    return [compression ? await compression.decompress(body, options.readMaxBytes) : body];
  }
  const compression = compressionOf(header.get("grpc-encoding"), options);
  const messages: Uint8Array[] = [];
  for (const envelope of completeEnvelopes(body)) {
    if (envelope.flags === 0) messages.push(envelope.data);
    else if (envelope.flags !== compressedFlag) break; // not a request message: connect-es answers it
    else if (compression === null) {
      throw new ConnectError("a message is flagged compressed, but the request has no grpc-encoding", Code.InvalidArgument);
    } else if (compression === undefined) return undefined;
    else messages.push(await compression.decompress(envelope.data, options.readMaxBytes));
  }
  return messages;
}

/** null: not compressed (no header, or identity); undefined: an encoding the router does not accept. */
function compressionOf(encoding: string | null, options: RequestBodyGuardOptions): Compression | null | undefined {
  if (encoding === null || encoding === "identity") return null;
  return options.acceptCompression.find((compression) => compression.name === encoding);
}

/** The complete gRPC envelopes at the start of a body (a cut-off one is left to connect-es). */
function* completeEnvelopes(body: Uint8Array): Generator<{ flags: number; data: Uint8Array }> {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.length);
  for (let offset = 0; offset + 5 <= bytes.length; ) {
    const length = bytes.readUInt32BE(offset + 1);
    if (offset + 5 + length > bytes.length) return;
    yield { flags: bytes[offset], data: bytes.subarray(offset + 5, offset + 5 + length) };
    offset += 5 + length;
  }
}

function checkMessage(wire: Wire, schema: DescMessage, message: Uint8Array): void {
  if (wire.codec === "binary") {
    try {
      fromBinary(schema, message);
    } catch (error) {
      throw new ConnectError(`cannot parse the request: ${(error as Error).message}`, Code.InvalidArgument);
    }
    return;
  }
  let json: JsonValue;
  try {
    json = JSON.parse(strictUtf8.decode(message)) as JsonValue;
  } catch {
    return; // not JSON: connect-es answers invalid_argument
  }
  checkJsonIntegers(schema, json);
}

/** A message over the size limit stays `resource_exhausted`; anything else wrong with it is the client's. */
function asClientError(error: unknown): ConnectError {
  const connectError = ConnectError.from(error);
  if (connectError.code === Code.ResourceExhausted || connectError.code === Code.InvalidArgument) return connectError;
  return new ConnectError(`cannot decompress the request: ${connectError.rawMessage}`, Code.InvalidArgument);
}

function errorResponse(protocol: WireProtocol, contentType: string, error: ConnectError): UniversalServerResponse {
  if (protocol === "connect") {
    return {
      status: codeToHttpStatus(error.code),
      header: new Headers({ "Content-Type": "application/json" }),
      body: createAsyncIterable([errorToJsonBytes(error, undefined)]),
    };
  }
  const trailer = setTrailerStatus(new Headers(), error);
  if (protocol === "grpc") {
    return { status: 200, header: new Headers({ "Content-Type": contentType }), body: createAsyncIterable([]), trailer };
  }
  // gRPC-Web carries its trailers in the body, as a flagged envelope.
  return {
    status: 200,
    header: new Headers({ "Content-Type": contentType }),
    body: createAsyncIterable([encodeEnvelope(trailerFlag, trailerSerialize(trailer))]),
  };
}
