/**
 * examples/google-stand-in.js (`make google-stand-in`) as the README uses it:
 * answering 200, failing on purpose for a while (STAND_IN_FAIL,
 * STAND_IN_FAIL_FOR_SEC), refusing a taken port in one sentence, and the
 * README's walk through dead notifications: a booking's update Google refuses
 * is dead, the admin calls show it, and requeued once Google answers again it
 * is delivered.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { opsServerEnv, sleep } from "../support/operations";
import { killIfRunning, startServerProcess, type ServerProcess } from "../support/server-process";
import { authHeader } from "../support/test-server";
import { bearerCall, examplesDir, freePort, importDemoInventory, startExample, type Running } from "./demo-processes";

const standInScript = join(examplesDir, "google-stand-in.js");
const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((process) => process.stop()));
});

async function startStandIn(env: Record<string, string>): Promise<{ standIn: Running; url: string }> {
  const standIn = startExample(process.execPath, [standInScript], env);
  running.push(standIn);
  const [, url] = await standIn.waitFor(/Google stand-in listening on (\S+)/);
  return { standIn, url };
}

/** The first of `read`'s answers (polled every 50 ms, for up to 15 s) that is `done`; the last one when none is. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  let value = await read();
  while (!done(value) && Date.now() < deadline) value = (await sleep(50), await read());
  return value;
}

const patch = (url: string) => fetch(`${url}/v1alpha/notification/partners/p/bookings/b1?updateMask=status`, { method: "PATCH", body: '{"status":"CONFIRMED"}' });

test("when STAND_IN_FAIL=503 and STAND_IN_FAIL_FOR_SEC=1, then it answers 503 at first and 200 after a second, printing each answer", async () => {
  const { standIn, url } = await startStandIn({ STAND_IN_PORT: String(await freePort()), STAND_IN_FAIL: "503", STAND_IN_FAIL_FOR_SEC: "1" });
  // Its own line, after the listening one: it may reach us in a later chunk.
  await standIn.waitFor(/answering 503 to every request for the first 1 s, then 200/);
  const failed = await patch(url);
  expect(failed.status).toBe(503);
  expect(await failed.json()).toEqual({ error: { code: 503, message: "failing on purpose (STAND_IN_FAIL)" } });
  await sleep(1_100);
  const accepted = await patch(url);
  expect(accepted.status).toBe(200);
  expect(await accepted.text()).toBe('{"status":"CONFIRMED"}');
  await standIn.waitFor(/PATCH \/v1alpha\/notification\/partners\/p\/bookings\/b1\?updateMask=status -> 200/);
  expect(standIn.output()).toContain("PATCH /v1alpha/notification/partners/p/bookings/b1?updateMask=status -> 503");
});

test("when STAND_IN_FAIL is not an HTTP error status, then it refuses in one sentence and exits 2", async () => {
  const standIn = startExample(process.execPath, [standInScript], { STAND_IN_PORT: "0", STAND_IN_FAIL: "200" });
  expect(await standIn.exit).toBe(2);
  expect(standIn.output().trim()).toBe('google-stand-in: STAND_IN_FAIL must be an HTTP status from 400 to 599, got "200"');
});

test("when its port is taken, then it says so in one sentence and exits 2, without a stack trace", async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    const standIn = startExample(process.execPath, [standInScript, String(port)], {});
    expect(await standIn.exit).toBe(2);
    expect(standIn.output().trim()).toBe(
      `google-stand-in: port ${port} is in use by another process: stop it (another stand-in?) or pick another port (STAND_IN_PORT=9091 or an argument)`,
    );
  } finally {
    taken.close();
  }
});

describe("dead notifications, seen and requeued with the admin calls (the README's walk-through)", () => {
  let dir: string;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await killIfRunning(server);
    rmSync(dir, { recursive: true, force: true });
  });

  test("when the stand-in is restarted to answer 400 for a while, then a booking's update is dead, listed with Google's answer, and delivered once requeued", async () => {
    dir = mkdtempSync(join(tmpdir(), "dead-notifications-"));
    const dbPath = join(dir, "booking.db");
    importDemoInventory(dbPath);
    const standInPort = String(await freePort());
    // As the README has it: the stand-in first answers 200, and the server sends whatever it has queued.
    const healthy = await startStandIn({ STAND_IN_PORT: standInPort });
    server = await startServerProcess(["--db", dbPath], {
      ...opsServerEnv,
      ADMIN_TOKEN: "admin-token",
      NOTIFICATION_API_URL: `http://127.0.0.1:${standInPort}`,
      NOTIFICATION_PARTNER_ID: "demo-partner",
      NOTIFICATION_BEARER_TOKEN: "demo",
    });
    const admin = (method: string, body: unknown) => bearerCall(server!.baseUrl, `partner.admin.v1.AdminService/${method}`, "admin-token", body);
    const outboxStatus = async () => (await admin("GetOutboxStatus", {})).body;
    expect(await until(outboxStatus, (body) => Object.keys(body).length === 0)).toEqual({});
    await healthy.standIn.stop();

    const { standIn } = await startStandIn({ STAND_IN_PORT: standInPort, STAND_IN_FAIL: "400", STAND_IN_FAIL_FOR_SEC: "3" });
    const failingUntil = Date.now() + 3_000;
    const booked = await fetch(`${server.baseUrl}/v3/CreateBooking`, {
      method: "POST",
      headers: { Authorization: authHeader, "Content-Type": "application/json" },
      body: JSON.stringify({
        idempotency_token: "dead-1",
        slot: { merchant_id: "demo-restaurant", service_id: "dinner", start_sec: "1800039600", duration_sec: "7200", resources: { party_size: 2 } },
        user_information: { user_id: "user-4", given_name: "Ada", family_name: "Lovelace", telephone: "+44 20 7946 0000", email: "ada@example.com" },
      }),
    });
    expect(booked.status).toBe(200);
    await standIn.waitFor(/POST \/v1alpha\/inventory\/partners\/demo-partner\/availability:replace -> 400/);
    expect(await until(outboxStatus, (body) => body.deadCount !== undefined)).toEqual({ deadCount: "1" });

    const dead = await admin("ListDeadNotifications", { pageSize: 50 });
    expect(dead.body.deadNotifications).toHaveLength(1);
    const [notification] = dead.body.deadNotifications;
    expect(notification).toMatchObject({ kind: "availability_replace", lastStatus: 400 });
    expect(notification.lastError).toContain("failing on purpose (STAND_IN_FAIL)");

    await sleep(Math.max(0, failingUntil - Date.now()) + 100);
    expect(await admin("RequeueNotification", { id: notification.id })).toEqual({ status: 200, body: {} });
    await standIn.waitFor(/POST \/v1alpha\/inventory\/partners\/demo-partner\/availability:replace -> 200/);
    expect(await until(outboxStatus, (body) => Object.keys(body).length === 0)).toEqual({});
  });
});
