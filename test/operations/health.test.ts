/**
 * /healthz and /readyz for an orchestrator: no credentials needed; readiness
 * follows whether the database takes a durable write (another writer holding
 * the lock makes it 503 with a reason, after group commit's bounded retries,
 * which wait off the event loop) and the server's own stop.
 */
import Database from "better-sqlite3";
import { sleep } from "../support/operations";
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

test("when another writer holds the database lock, then /readyz is 503 with a reason until it lets go, and /healthz answers meanwhile (no wait on the event loop)", async () => {
  await sleep(1_100); // past the reuse of the last "ready" answer
  const other = new Database(server.dbPath);
  try {
    other.pragma("busy_timeout = 0");
    other.exec("BEGIN IMMEDIATE");
    const started = Date.now();
    const answeredAt: Record<string, number> = {};
    const [readyz, healthz] = await Promise.all([
      request(server, "/readyz", { auth: null }).then((answer) => ((answeredAt.readyz = Date.now() - started), answer)),
      // Issued at the same time: the probe's write waits for the lock off the event loop, so this answers first.
      request(server, "/healthz", { auth: null }).then((answer) => ((answeredAt.healthz = Date.now() - started), answer)),
    ]);
    console.log(`with the database locked: readyz ${readyz.status} ${readyz.text} after ${answeredAt.readyz} ms, healthz after ${answeredAt.healthz} ms`);
    expect(readyz.status).toBe(503);
    const body = JSON.parse(readyz.text);
    expect(body.status).toBe("not ready");
    expect(body.reason).toBe("the database does not take writes (SQLITE_BUSY)");
    expect(healthz.status).toBe(200);
    expect(answeredAt.healthz).toBeLessThan(answeredAt.readyz);
  } finally {
    if (other.inTransaction) other.exec("ROLLBACK");
    other.close();
  }
  const again = await request(server, "/readyz", { auth: null });
  expect(again.status).toBe(200);
  expect(JSON.parse(again.text)).toEqual({ status: "ready" });
}, 20_000);
