import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Observability } from "./observability.js";

/**
 * A listener of its own for Prometheus' scrapes (METRICS_PORT): GET /metrics
 * without authentication, on an address only the scraper should reach
 * (default loopback), so the public port never shows them.
 */
export async function listenForMetrics(observability: Observability, port: number, host: string): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/metrics") return void observability.serveMetrics(res);
    res.statusCode = 404;
    res.end();
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.unref();
  return { server, address: server.address() as AddressInfo };
}
