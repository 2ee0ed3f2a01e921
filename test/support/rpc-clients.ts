import { fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  credentials as grpcCredentials,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import * as grpcMessages from "../../gen/grpc/ext/maps/booking/partner/v3/booking_service.js";
import { BookingServiceClient, type MessageFns } from "../../gen/grpc/ext/maps/booking/partner/v3/booking_service.js";
import { authHeader } from "./test-server.js";

/** A BookingService method by its local name: `healthCheck`, `createBooking`, ... */
export type MethodName = keyof typeof BookingService.method;

/** Proto3 JSON (lowerCamelCase, int64 as strings, enums by name), as both codecs write it. */
export type JsonMessage = Record<string, any>;

export interface RpcCallOptions {
  /** The `authorization` header/metadata; Google's credentials unless told otherwise, `null` for none. */
  authorization?: string | null;
}

/**
 * An RPC failure as the client library reported it. `code` is the library's
 * own number: grpc-js `ServiceError.code` (a gRPC status) or
 * `ConnectError.code`. Connect's `Code` enum uses the gRPC status numbers, so
 * `Code.InvalidArgument` (3) is also what grpc-js must report.
 */
export class RpcError extends Error {
  constructor(
    readonly code: Code,
    /** The server's message, without any "[code]" prefix. */
    readonly rawMessage: string,
  ) {
    super(`[${Code[code] ?? code}] ${rawMessage}`);
    this.name = "RpcError";
  }
}

/** One protocol's BookingService client, speaking proto3 JSON to the test. */
export interface RpcClient {
  call(method: MethodName, request: JsonMessage, options?: RpcCallOptions): Promise<JsonMessage>;
  close(): void;
}

export interface RpcProtocol {
  /** Shown in test names. */
  name: string;
  /** Short name, usable in ids. */
  key: string;
  connect(baseUrl: string): RpcClient;
}

const timeoutMs = 5000;

/** Every protocol the server speaks to a generated client. */
export const rpcProtocols: RpcProtocol[] = [
  { name: "gRPC (grpc-js, h2c)", key: "grpcjs", connect: (baseUrl) => grpcJsClient(baseUrl) },
  {
    name: "Connect JSON over HTTP/1.1",
    key: "connectjson",
    connect: (baseUrl) =>
      connectClient(createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })),
  },
  {
    name: "Connect binary over HTTP/2",
    key: "connectbin",
    connect: (baseUrl) => {
      const sessionManager = new Http2SessionManager(baseUrl);
      const transport = createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager });
      return connectClient(transport, () => sessionManager.abort());
    },
  },
  {
    name: "gRPC-Web over HTTP/1.1",
    key: "grpcweb",
    connect: (baseUrl) => connectClient(createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })),
  },
];

/** The `authorization` metadata of a call, as every client takes it. */
function authorizationOf(options: RpcCallOptions | undefined): string | null {
  return options?.authorization === undefined ? authHeader : options.authorization;
}

// ---------------------------------------------------------------- grpc-js

/** The callback form of a ts-proto grpc-js stub method (its last overload). */
type GrpcUnaryMethod<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Response) => void,
) => ClientUnaryCall;

/** Promisifies one grpc-js unary call: `grpcUnary(client.healthCheck.bind(client), {}, metadata)`. */
export function grpcUnary<Request, Response>(
  method: GrpcUnaryMethod<Request, Response>,
  request: Request,
  metadata: Metadata = new Metadata(),
): Promise<Response> {
  return new Promise((resolve, reject) => {
    method(request, metadata, { deadline: Date.now() + timeoutMs }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

/** grpc-js metadata carrying `authorization` (or nothing for `null`). */
export function grpcMetadata(authorization: string | null = authHeader): Metadata {
  const metadata = new Metadata();
  if (authorization !== null) metadata.set("authorization", authorization);
  return metadata;
}

/** The generated ts-proto grpc-js client for a plaintext (h2c) or TLS address. */
export function grpcJsStub(baseUrl: string, channel: ChannelCredentials = grpcCredentials.createInsecure()) {
  return new BookingServiceClient(new URL(baseUrl).host, channel);
}

function grpcJsClient(baseUrl: string): RpcClient {
  const client = grpcJsStub(baseUrl);
  const codecs = grpcMessages as unknown as Record<string, MessageFns<unknown>>;
  return {
    async call(method, request, options) {
      const { input, output } = BookingService.method[method];
      const stub = (client[method] as GrpcUnaryMethod<unknown, unknown>).bind(client);
      try {
        const response = await grpcUnary(stub, codecs[input.name].fromJSON(request), grpcMetadata(authorizationOf(options)));
        return codecs[output.name].toJSON(response) as JsonMessage;
      } catch (error) {
        const serviceError = error as ServiceError;
        if (typeof serviceError.code !== "number") throw error;
        throw new RpcError(serviceError.code as number as Code, serviceError.details);
      }
    },
    close: () => client.close(),
  };
}

// ---------------------------------------------------------------- Connect

function connectClient(transport: Transport, onClose: () => void = () => {}): RpcClient {
  const client = createClient(BookingService, transport);
  return {
    async call(method, request, options) {
      const { input, output } = BookingService.method[method];
      const authorization = authorizationOf(options);
      const headers: Record<string, string> = authorization === null ? {} : { authorization };
      const invoke = client[method] as (request: unknown, options: object) => Promise<never>;
      try {
        const response = await invoke(fromJson(input, request as JsonObject), { headers, timeoutMs });
        return toJson(output, response) as JsonMessage;
      } catch (error) {
        if (!(error instanceof ConnectError)) throw error;
        throw new RpcError(error.code, error.rawMessage);
      }
    },
    close: onClose,
  };
}

// ---------------------------------------------------------------- raw HTTP

export interface RawResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** POSTs a Connect unary JSON request with fetch, the way a hand-written client would. */
export async function connectJsonPost(
  baseUrl: string,
  methodName: string,
  body: unknown,
  options: RpcCallOptions = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  const authorization = authorizationOf(options);
  if (authorization !== null) headers.Authorization = authorization;
  const response = await fetch(`${baseUrl}/${BookingService.typeName}/${methodName}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}
