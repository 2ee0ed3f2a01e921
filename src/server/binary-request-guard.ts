import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createAsyncIterable,
  encodeEnvelope,
  type UniversalHandler,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";

type WireProtocol = "connect" | "grpc" | "grpc-web";

function binaryProtocolOf(contentType: string | null): WireProtocol | undefined {
  const type = contentType?.split(";")[0].trim().toLowerCase();
  if (type === "application/proto") return "connect";
  if (type === "application/grpc" || type === "application/grpc+proto") return "grpc";
  if (type === "application/grpc-web" || type === "application/grpc-web+proto") return "grpc-web";
  return undefined;
}

/**
 * connect-es 2.1 answers a protobuf request body that does not parse with
 * `internal` (HTTP 500 / gRPC 13); a malformed request is the client's fault
 * and must be `invalid_argument`. This wraps a unary handler: a binary body is
 * read first (bounded by `readMaxBytes`), decoded once to check it, and
 * answered with `invalid_argument` in the caller's protocol when it does not
 * parse; otherwise the handler gets the same bytes. Compressed bodies, JSON
 * and framing errors are left to connect-es, which answers them correctly.
 */
export function guardBinaryRequests(handler: UniversalHandler, readMaxBytes: number): UniversalHandler {
  const guarded = async (request: Parameters<UniversalHandler>[0]): Promise<UniversalServerResponse> => {
    const protocol = binaryProtocolOf(request.header.get("content-type"));
    const compressed = request.header.has("content-encoding") || request.header.has("connect-content-encoding");
    if (!protocol || compressed || !isByteStream(request.body)) return handler(request);
    const body = await readUpTo(request.body, readMaxBytes + 1);
    const messages = protocol === "connect" ? [body] : uncompressedEnvelopes(body);
    if (body.length <= readMaxBytes) {
      try {
        for (const message of messages) fromBinary(handler.method.input, message);
      } catch (error) {
        const invalid = new ConnectError(`cannot parse the request: ${(error as Error).message}`, Code.InvalidArgument);
        return errorResponse(protocol, request.header.get("content-type")!, invalid);
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
 * The messages of the complete, uncompressed gRPC envelopes at the start of a
 * body (framing errors and compressed envelopes are left to connect-es).
 */
function uncompressedEnvelopes(body: Uint8Array): Uint8Array[] {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.length);
  const messages: Uint8Array[] = [];
  for (let offset = 0; offset + 5 <= bytes.length; ) {
    const length = bytes.readUInt32BE(offset + 1);
    if (bytes[offset] !== 0 || offset + 5 + length > bytes.length) break;
    messages.push(bytes.subarray(offset + 5, offset + 5 + length));
    offset += 5 + length;
  }
  return messages;
}

function errorResponse(protocol: WireProtocol, contentType: string, error: ConnectError): UniversalServerResponse {
  if (protocol === "connect") {
    return {
      status: 400,
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
