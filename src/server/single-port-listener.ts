import { createServer as createHttp1Server, type RequestListener, type Server as Http1Server } from "node:http";
import {
  createSecureServer,
  createServer as createHttp2Server,
  type Http2Server,
  type Http2Session,
  type SecureServerOptions,
} from "node:http2";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { capConnections, defaultMaxConnections } from "./connection-cap.js";
import { http2HeaderDeadline } from "./http2-header-deadline.js";
import type { NodeRequest, NodeResponse } from "./rest-gateway.js";

export type NodeHandler = (req: NodeRequest, res: NodeResponse) => void;

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** CA that client certificates must chain to: with it, every client must present one (mutual TLS). */
  clientCa?: Buffer;
}

/** Protection against oversized and slow clients; the defaults suit Google's calls. */
export interface ConnectionLimits {
  /** Largest request header block, in bytes (default 16 KiB). */
  maxHeaderBytes: number;
  /**
   * Time a client has to send its request headers, in ms (default 10 s); for
   * HTTP/2, the time a header block may stay incomplete (see `http2HeaderDeadline`).
   */
  headersTimeoutMs: number;
  /** Time a request may take from its first byte to the end of its answer, in ms (default 30 s). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection or HTTP/2 session is closed after this, in ms (default 60 s). */
  idleTimeoutMs: number;
  /** Streams one HTTP/2 connection may have open at once (default 100). */
  maxConcurrentStreams: number;
  /**
   * Connections open at once; past it a new one is closed on accept (default
   * `defaultMaxConnections()`: the descriptor limit less room for the database,
   * logs and the notifier). Lower it to share the machine; raise the descriptor
   * limit (`ulimit -n`) rather than this.
   */
  maxConnections?: number;
}

export const defaultConnectionLimits: ConnectionLimits = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  maxConcurrentStreams: 100,
  maxConnections: defaultMaxConnections(),
};

export interface SinglePortServer {
  /** The listening socket (call `listen` on it). */
  server: Server;
  /**
   * Stops accepting connections, lets requests under way finish (HTTP/1.1
   * connections close when idle, HTTP/2 sessions get a GOAWAY), and destroys
   * whatever is still open after `graceMs`.
   */
  shutdown(graceMs: number): Promise<void>;
}

/** How long an idle HTTP/1.1 connection may still bring a request once shutdown starts. */
const idleCloseDelayMs = 300;

/** What every HTTP/2 connection opens with (RFC 9113 §3.4). */
const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * One listening socket for every protocol. With TLS, ALPN picks h2 or
 * http/1.1. Without TLS, Node's HTTP/2 server refuses HTTP/1.1 (allowHTTP1
 * only works with TLS), so each connection is routed by its first bytes: the
 * HTTP/2 preface (prior knowledge, as gRPC clients send it) goes to the HTTP/2
 * server, anything else to the HTTP/1.1 server.
 */
export function singlePortServer(
  handler: NodeHandler,
  tls: TlsFiles | undefined,
  limits: ConnectionLimits = defaultConnectionLimits,
  onConnectionsRefused: (refused: number, maxConnections: number) => void = () => {},
): SinglePortServer {
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  // HTTP/1.1 connections with requests under way; the others are idle. (Node's
  // own idle tracking and header timeout only work for a server that listens
  // itself, and ours is handed its connections.)
  const busy = new Map<Socket, number>();
  // A connection must bring a request's headers within headersTimeoutMs of
  // opening or of its previous answer; one that dribbles is cut off.
  const headerDeadlines = new Map<Socket, NodeJS.Timeout>();
  const expectHeaders = (socket: Socket) => {
    clearTimeout(headerDeadlines.get(socket));
    const deadline = setTimeout(() => {
      headerDeadlines.delete(socket);
      if (!busy.has(socket)) socket.destroy();
    }, limits.headersTimeoutMs);
    deadline.unref();
    headerDeadlines.set(socket, deadline);
  };
  let draining = false;
  // HTTP/2 connections close through their session's GOAWAY instead.
  const http2Sockets = new WeakSet<Socket>();
  const isHttp2 = (socket: Socket) => http2Sockets.has(socket) || (socket as TLSSocket).alpnProtocol === "h2";
  const closeIfIdle = (socket: Socket) => {
    if (!busy.has(socket) && !isHttp2(socket)) socket.destroy();
  };
  const withDeadline = requestDeadline((req, res) => {
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as Socket;
      clearTimeout(headerDeadlines.get(socket));
      busy.set(socket, (busy.get(socket) ?? 0) + 1);
      if (draining) res.setHeader("Connection", "close");
      res.once("close", () => {
        const left = (busy.get(socket) ?? 1) - 1;
        if (left > 0) return void busy.set(socket, left);
        busy.delete(socket);
        if (socket.destroyed) return;
        expectHeaders(socket);
        // Answered while stopping: give a request already on its way a moment, then close.
        if (draining) setTimeout(() => closeIfIdle(socket), idleCloseDelayMs).unref();
      });
    }
    handler(req, res);
  }, limits.requestTimeoutMs);
  const http2Options = {
    maxSendHeaderBlockLength: limits.maxHeaderBytes,
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes },
  };
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      clearTimeout(headerDeadlines.get(socket));
      headerDeadlines.delete(socket);
    });
  };
  const headerDeadline = http2HeaderDeadline(limits.headersTimeoutMs);
  const trackSessions = (http2: Http2Server) => {
    http2.setTimeout(limits.idleTimeoutMs);
    http2.on("session", (session: Http2Session) => {
      sessions.add(session);
      headerDeadline.watch(session);
      session.once("close", () => sessions.delete(session));
    });
  };

  let server: Server;
  let http1: Http1Server | undefined;
  if (tls) {
    const secureOptions: SecureServerOptions = {
      cert: tls.cert,
      key: tls.key,
      allowHTTP1: true,
      ...http2Options,
      ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    };
    const secure = createSecureServer(secureOptions, withDeadline);
    trackSessions(secure);
    secure.on("secureConnection", track);
    server = secure;
  } else {
    http1 = createHttp1Server(
      {
        maxHeaderSize: limits.maxHeaderBytes,
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: 5_000,
      },
      withDeadline as RequestListener,
    );
    http1.setTimeout(limits.idleTimeoutMs);
    const http2 = createHttp2Server(http2Options, withDeadline);
    trackSessions(http2);
    const plain = createNetServer((socket) => {
      track(socket);
      expectHeaders(socket);
      routeByPreface(socket, http1!, http2, () => {
        http2Sockets.add(socket);
        clearTimeout(headerDeadlines.get(socket));
      });
    });
    plain.on("close", () => {
      http1!.close();
      http2.close();
    });
    server = plain;
  }
  const maxConnections = limits.maxConnections ?? defaultMaxConnections();
  capConnections(server, maxConnections, (refused) => onConnectionsRefused(refused, maxConnections));

  return {
    server,
    shutdown: async (graceMs) => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      // An idle keep-alive connection may have a request on its way: it gets a
      // moment to start one (answered with Connection: close) before it is closed.
      const quietPeriod = setTimeout(() => {
        for (const socket of sockets) closeIfIdle(socket);
      }, Math.min(idleCloseDelayMs, graceMs));
      quietPeriod.unref();
      const drained = new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (sockets.size === 0) {
            clearInterval(check);
            resolve();
          }
        }, 20);
        setTimeout(() => {
          clearInterval(check);
          clearTimeout(quietPeriod);
          for (const socket of sockets) socket.destroy();
          resolve();
        }, graceMs).unref();
      });
      await drained;
      await closed;
    },
  };
}

/**
 * Ends a request that is not answered within `timeoutMs` of its arrival
 * (a slow body, or a stuck handler): 408 if nothing was sent yet, then the
 * connection or stream is closed.
 */
function requestDeadline(handler: NodeHandler, timeoutMs: number): NodeHandler {
  return (req, res) => {
    const timer = setTimeout(() => {
      if (!res.headersSent) {
        res.statusCode = 408;
        res.setHeader("Content-Type", "application/json");
        if (req.httpVersionMajor === 1) res.setHeader("Connection", "close");
        res.end(JSON.stringify({ code: "deadline_exceeded", message: `request not completed within ${timeoutMs} ms` }));
      }
      setTimeout(() => req.destroy(), 100).unref();
    }, timeoutMs);
    timer.unref();
    res.once("close", () => clearTimeout(timer));
    res.once("finish", () => clearTimeout(timer));
    handler(req, res);
  };
}

function routeByPreface(socket: Socket, http1: Server, http2: Server, onHttp2: () => void): void {
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
      onHttp2();
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
