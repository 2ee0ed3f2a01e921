import { createServer as createHttp1Server, type RequestListener } from "node:http";
import { createSecureServer, createServer as createHttp2Server } from "node:http2";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import type { NodeRequest, NodeResponse } from "./rest-gateway.js";

export type NodeHandler = (req: NodeRequest, res: NodeResponse) => void;

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

/** What every HTTP/2 connection opens with (RFC 9113 §3.4). */
const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * One listening socket for every protocol. With TLS, ALPN picks h2 or
 * http/1.1. Without TLS, Node's HTTP/2 server refuses HTTP/1.1 (allowHTTP1
 * only works with TLS), so each connection is routed by its first bytes: the
 * HTTP/2 preface (prior knowledge, as gRPC clients send it) goes to the HTTP/2
 * server, anything else to the HTTP/1.1 server.
 */
export function singlePortServer(handler: NodeHandler, tls?: TlsFiles): Server {
  if (tls) return createSecureServer({ ...tls, allowHTTP1: true }, handler);
  const http1 = createHttp1Server(handler as RequestListener);
  const http2 = createHttp2Server(handler);
  const server = createNetServer((socket) => routeByPreface(socket, http1, http2));
  // Closing the listener must also stop the servers that own its connections.
  server.on("close", () => {
    http1.close();
    http2.close();
  });
  return server;
}

function routeByPreface(socket: Socket, http1: Server, http2: Server): void {
  let received = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const compared = Math.min(received.length, http2Preface.length);
    const mayBeHttp2 = received.subarray(0, compared).equals(http2Preface.subarray(0, compared));
    if (mayBeHttp2 && received.length < http2Preface.length) return;
    socket.off("data", onData);
    socket.pause();
    socket.unshift(received);
    if (mayBeHttp2) {
      // The HTTP/2 session reads what is buffered, then the socket's handle
      // directly; resuming here would steal its bytes.
      http2.emit("connection", socket);
    } else {
      http1.emit("connection", socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}
