/**
 * /healthz and /readyz for an orchestrator: no credentials needed; readiness
 * follows whether the database takes writes (another writer holding the lock
 * makes it 503 with a reason, after SQLite's 5 s busy_timeout) and the
 * server's own stop.
 */
import Database from "better-sqlite3";
import { request } from "../support/rest-helpers";
import { startTestServer, type TestServer } from "../support/test-server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

test("when an orchestrator probes without credentials, then /healthz and /readyz answer 200", async () => {
  const healthz = await request(server, "/healthz", { auth: null });
  expect(healthz.status).toBe(200);
  expect(JSON.parse(healthz.text)).toEqual({ status: "ok" });
  expect(healthz.headers.get("cache-control")).toBe("no-store");
  const readyz = await request(server, "/readyz", { auth: null });
  expect(readyz.status).toBe(200);
  expect(JSON.parse(readyz.text)).toEqual({ status: "ready" });
  // Google's own probe still wants credentials.
  expect((await request(server, "/v3/HealthCheck", { auth: null })).status).toBe(401);
});

test("when another writer holds the database lock, then /readyz is 503 with a reason until it lets go, while /healthz stays 200", async () => {
  const other = new Database(server.dbPath);
  try {
    other.pragma("busy_timeout = 0");
    other.exec("BEGIN IMMEDIATE");
    const started = Date.now();
    const [readyz, healthz] = await Promise.all([
      request(server, "/readyz", { auth: null }),
      // Issued at the same time: the event loop is blocked by the busy wait, so it answers afterwards.
      request(server, "/healthz", { auth: null }),
    ]);
    const waitedMs = Date.now() - started;
    console.log(`readyz with the database locked: ${readyz.status} ${readyz.text} after ${waitedMs} ms`);
    expect(readyz.status).toBe(503);
    const body = JSON.parse(readyz.text);
    expect(body.status).toBe("not ready");
    expect(body.reason).toMatch(/locked|busy/i);
    expect(healthz.status).toBe(200);
  } finally {
    if (other.inTransaction) other.exec("ROLLBACK");
    other.close();
  }
  const again = await request(server, "/readyz", { auth: null });
  expect(again.status).toBe(200);
  expect(JSON.parse(again.text)).toEqual({ status: "ready" });
}, 20_000);
