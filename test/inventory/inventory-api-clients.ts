/**
 * InventoryService clients for the inventory API's server tests: the same
 * calls over Connect JSON, gRPC (the generated grpc-js stub) and gRPC-Web,
 * each speaking proto3 JSON to the test and reporting failures as `RpcError`
 * with the gRPC status code, so one test body runs on every protocol.
 */
import { fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { credentials as grpcCredentials, type ServiceError } from "@grpc/grpc-js";
import { InventoryService } from "../../gen/es/partner/inventory/v1/inventory_service_pb";
import * as grpcMessages from "../../gen/grpc/partner/inventory/v1/inventory_service";
import { InventoryServiceClient, type MessageFns } from "../../gen/grpc/partner/inventory/v1/inventory_service";
import { grpcMetadata, grpcUnary, RpcError, type JsonMessage } from "../support/rpc-clients";

export type InventoryMethod = keyof typeof InventoryService.method;

export interface InventoryClient {
  /** Calls `method` with the bearer token (none for `null`). */
  call(method: InventoryMethod, request: JsonMessage, token: string | null): Promise<JsonMessage>;
  close(): void;
}

export interface InventoryProtocol {
  name: string;
  connect(baseUrl: string): InventoryClient;
}

const timeoutMs = 5000;

export const connectJson: InventoryProtocol = {
  name: "Connect JSON over HTTP/1.1",
  connect: (baseUrl) => connectClient(createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })),
};

export const grpcJs: InventoryProtocol = { name: "gRPC (grpc-js, h2c)", connect: grpcJsClient };

export const grpcWeb: InventoryProtocol = {
  name: "gRPC-Web over HTTP/1.1",
  connect: (baseUrl) => connectClient(createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })),
};

function connectClient(transport: Transport): InventoryClient {
  const client = createClient(InventoryService, transport);
  return {
    async call(method, request, token) {
      const { input, output } = InventoryService.method[method];
      const invoke = client[method] as (request: unknown, options: object) => Promise<never>;
      try {
        const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
        return toJson(output, await invoke(fromJson(input, request as JsonObject), { headers, timeoutMs })) as JsonMessage;
      } catch (error) {
        if (!(error instanceof ConnectError)) throw error;
        throw new RpcError(error.code, error.rawMessage);
      }
    },
    close: () => {},
  };
}

function grpcJsClient(baseUrl: string): InventoryClient {
  const client = new InventoryServiceClient(new URL(baseUrl).host, grpcCredentials.createInsecure());
  const codecs = grpcMessages as unknown as Record<string, MessageFns<unknown>>;
  return {
    async call(method, request, token) {
      const { input, output } = InventoryService.method[method];
      const stub = (client[method] as Parameters<typeof grpcUnary>[0]).bind(client);
      try {
        const response = await grpcUnary(stub, codecs[input.name].fromJSON(request), grpcMetadata(token === null ? null : `Bearer ${token}`));
        return codecs[output.name].toJSON(response) as JsonMessage;
      } catch (error) {
        const serviceError = error as ServiceError;
        if (typeof serviceError.code !== "number") throw error;
        // grpc-js decodes grpc-message with decodeURI, which leaves reserved characters (":", ",") percent-encoded.
        throw new RpcError(serviceError.code as number, decodeURIComponent(serviceError.details));
      }
    },
    close: () => client.close(),
  };
}
