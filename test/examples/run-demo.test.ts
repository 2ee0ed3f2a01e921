/**
 * `make run` (examples/run-demo.sh) as a new user meets it: the credentials it
 * prints keep working after a restart, they are kept private next to the
 * database, the environment's own credentials win, and it listens on loopback
 * unless HOST says otherwise.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { basic } from "../support/rest-helpers";
import { bearerCall, exportedValues, freePort, startDemo, type Running } from "./demo-processes";

let dir: string;
let running: Running | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "run-demo-"));
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `make run`'s script on `dir`/data/booking.db and waits until it serves; what it printed to paste. */
async function startAndRead(port: number, env: Record<string, string> = {}) {
  running = startDemo(join(dir, "data", "booking.db"), port, env);
  await running.waitFor(/listening on http:\/\/\S+/);
  return exportedValues(running.output());
}

const healthStatus = async (values: Record<string, string>, auth = values.AUTH) => {
  const [username, password] = [auth.slice(0, auth.indexOf(":")), auth.slice(auth.indexOf(":") + 1)];
  return (await fetch(`${values.B}/v3/HealthCheck`, { headers: { Authorization: basic(username, password) } })).status;
};

test("when make run is started, stopped and started again, then it prints the same export line both times, and every credential in it works after the restart", async () => {
  const port = await freePort();
  const first = await startAndRead(port);
  expect(Object.keys(first)).toEqual(["B", "AUTH", "MERCHANT_TOKEN", "ADMIN_TOKEN"]);
  expect(first.B).toBe(`http://127.0.0.1:${port}`);
  expect(first.AUTH).toMatch(/^demo:[\w-]{16}$/);
  expect(await running!.stop()).toBe(0);

  const second = await startAndRead(port);
  expect(second).toEqual(first);
  expect(await healthStatus(second)).toBe(200);
  const bookings = await bearerCall(second.B, "partner.merchant.v1.MerchantService/ListBookings", second.MERCHANT_TOKEN, {
    merchantId: "demo-restaurant",
  });
  expect(bookings.status).toBe(200);
  const outbox = await bearerCall(second.B, "partner.admin.v1.AdminService/GetOutboxStatus", second.ADMIN_TOKEN, {});
  expect(outbox.status).toBe(200);
});

test("when make run has made up the credentials, then they are kept next to the database, readable by their owner only", async () => {
  const values = await startAndRead(await freePort());
  const data = join(dir, "data");
  const kept = {
    basic: readFileSync(join(data, "demo-basic-credentials"), "utf8"),
    admin: readFileSync(join(data, "demo-admin-token"), "utf8"),
    merchants: JSON.parse(readFileSync(join(data, "demo-merchant-tokens.json"), "utf8")),
  };
  expect(kept.basic).toBe(`${values.AUTH}\n`);
  expect(kept.admin).toBe(`${values.ADMIN_TOKEN}\n`);
  expect(kept.merchants["demo-restaurant"]).toBe(values.MERCHANT_TOKEN);
  for (const name of ["demo-basic-credentials", "demo-admin-token", "demo-merchant-tokens.json"]) {
    expect((statSync(join(data, name)).mode & 0o777).toString(8)).toBe("600");
  }
});

test("when credentials are given in the environment, then they win over the kept ones, and the kept ones stay as they were", async () => {
  const port = await freePort();
  const made = await startAndRead(port);
  await running!.stop();
  const keptBefore = readFileSync(join(dir, "data", "demo-basic-credentials"), "utf8");

  const given = await startAndRead(port, { BOOKING_AUTH_USERNAME: "google", BOOKING_AUTH_PASSWORD: "given-password", ADMIN_TOKEN: "given-admin" });
  expect(given.AUTH).toBe("google:given-password");
  expect(given.ADMIN_TOKEN).toBe("given-admin");
  expect(given.MERCHANT_TOKEN).toBe(made.MERCHANT_TOKEN);
  expect(await healthStatus(given)).toBe(200);
  expect(await healthStatus(given, made.AUTH)).toBe(401);
  expect((await bearerCall(given.B, "partner.admin.v1.AdminService/GetOutboxStatus", "given-admin", {})).status).toBe(200);
  expect(readFileSync(join(dir, "data", "demo-basic-credentials"), "utf8")).toBe(keptBefore);
});

test("when HOST is given, then make run listens there and B says how to reach it from this machine", async () => {
  const port = await freePort();
  const values = await startAndRead(port, { HOST: "0.0.0.0" });
  expect(running!.output()).toContain(`listening on http://0.0.0.0:${port}`);
  expect(values.B).toBe(`http://127.0.0.1:${port}`);
  expect(await healthStatus(values)).toBe(200);
});

test("when make run's port is taken, then it says so in one sentence and exits 2, without a stack trace", async () => {
  const taken: Server = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    running = startDemo(join(dir, "data", "booking.db"), port);
    expect(await running.exit).toBe(2);
    const errors = running.output().split("\n").filter((line) => line.startsWith("booking-server:") || /^\s+at /.test(line));
    expect(errors).toEqual([
      `booking-server: cannot listen on 127.0.0.1:${port}: another process is listening there; stop it or choose another port (--port / PORT)`,
    ]);
  } finally {
    taken.close();
  }
});
