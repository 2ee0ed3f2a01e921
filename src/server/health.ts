import { Code, ConnectError } from "@connectrpc/connect";
import type { Store } from "../store/repositories.js";
import type { NodeResponse } from "./rest-gateway.js";

/**
 * Probes for an orchestrator, without authentication (they reveal nothing):
 * `/healthz` answers while the process serves; `/readyz` only while the
 * database takes writes (a real, durable write: see readiness-probe.ts), is
 * the file the server opened, has its schema current, and the server is not
 * shutting down, so traffic moves elsewhere before the process stops.
 * (Google's own probe is `GET /v3/HealthCheck`, with Basic auth.)
 */
export function healthRoutes(options: { store: Store; isStopping: () => boolean }) {
  return {
    handles: (url: string) => url === "/healthz" || url === "/readyz",
    serve(url: string, res: NodeResponse): void {
      if (url === "/healthz") return send(res, 200, { status: "ok" });
      if (options.isStopping()) return send(res, 503, { status: "stopping" });
      void options.store.readiness().then((readiness) => {
        if (readiness.ready) return send(res, 200, { status: "ready" });
        send(res, 503, { status: "not ready", reason: readiness.reason });
      });
    },
  };
}

/**
 * Google's HealthCheck: healthy only while `/readyz` would say ready (the
 * database takes writes), else `unavailable` (HTTP 503), so that Google sees
 * an instance that cannot book as one that is down.
 */
export async function requireReadyStore(store: Store): Promise<void> {
  const readiness = await store.readiness();
  if (!readiness.ready) throw new ConnectError(`not ready: ${readiness.reason}`, Code.Unavailable);
}

function send(res: NodeResponse, status: number, body: object): void {
  const payload = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json");
  res.setHeader("Cache-Control", "no-store");
  res.end(payload);
}
