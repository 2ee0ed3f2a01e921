/**
 * Credentials: Basic pairs from BOOKING_AUTH_CREDENTIALS_FILE reloaded on SIGHUP
 * (rotation without downtime; a malformed file keeps the previous set, and no
 * password ever reaches the log), and the per-address limit on failed
 * authentications (429 + Retry-After, even for correct credentials) over REST,
 * Connect, and MerchantService's bearer tokens.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { basic, sleep } from "../support/operations";
import { killHard, startServerProcess, type ServerProcess } from "../support/server-process";
import { authHeader, credentials, startTestServer } from "../support/test-server";

describe("rotation through BOOKING_AUTH_CREDENTIALS_FILE and SIGHUP (server process)", () => {
  const oldPair = { username: "google-2026a", password: "old-Secret-7f3a9c" };
  const newPair = { username: "google-2026b", password: "new-Secret-b81e24" };
  const line = (pair: { username: string; password: string }) => `${pair.username}:${pair.password}`;
  let dir: string;
  let file: string;
  let server: ServerProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "booking-credentials-"));
    file = join(dir, "credentials");
    writeFileSync(file, `# Google's Basic credentials\n${line(oldPair)}\n`);
    server = await startServerProcess(["--db", join(dir, "booking.db")], {
      BOOKING_AUTH_USERNAME: "",
      BOOKING_AUTH_PASSWORD: "",
      BOOKING_AUTH_CREDENTIALS_FILE: file,
    });
    // The SIGHUP handler is installed after the "listening" line; a SIGHUP before it would end the process.
    const started = Date.now();
    while (!/SIGHUP reloads them/.test(server.output())) {
      if (Date.now() - started > 5_000) throw new Error(`no startup summary after 5 s:\n${server.output()}`);
      await sleep(20);
    }
  });
  afterAll(async () => {
    if (server.child.exitCode === null && server.child.signalCode === null) await killHard(server);
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async (pair: { username: string; password: string }) =>
    (await fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { Authorization: basic(pair.username, pair.password) } })).status;

  /** Sends SIGHUP and waits for the server's answer line (the `count`-th SIGHUP line). */
  async function sighup(count: number): Promise<string> {
    server.child.kill("SIGHUP");
    const started = Date.now();
    for (;;) {
      const lines = server.output().split("\n").filter((l) => l.startsWith("SIGHUP:"));
      if (lines.length >= count) return lines[count - 1];
      if (Date.now() - started > 5_000) throw new Error(`no SIGHUP line after 5 s:\n${server.output()}`);
      await sleep(20);
    }
  }

  test("when the new pair is added and the old one removed, each with SIGHUP, then both work in between and only the new one after", async () => {
    expect(server.output()).toMatch(/accepts 1 Basic credential\(s\); SIGHUP reloads them/);
    expect(await status(oldPair)).toBe(200);
    expect(await status(newPair)).toBe(401);

    writeFileSync(file, `${line(oldPair)}\n${line(newPair)}\n`);
    expect(await sighup(1)).toBe("SIGHUP: now accepting 2 Basic credential(s)");
    expect(await status(oldPair)).toBe(200);
    expect(await status(newPair)).toBe(200);

    writeFileSync(file, `${line(newPair)}\n`);
    expect(await sighup(2)).toBe("SIGHUP: now accepting 1 Basic credential(s)");
    expect(await status(oldPair)).toBe(401);
    expect(await status(newPair)).toBe(200);
  });

  test("when the file is malformed and SIGHUP arrives, then the previous set stays and the log says so without a password", async () => {
    const leaked = "leaked-Secret-0d9e";
    writeFileSync(file, `${line(newPair)}\nsomeone-${leaked}\n`);
    const answer = await sighup(3);
    console.log(`malformed credentials file: ${answer}`);
    expect(answer).toMatch(/^SIGHUP: credentials kept as they were: .*line 2 is not "username:password"/);
    expect(await status(newPair)).toBe(200);
    expect(await status(oldPair)).toBe(401);

    // An unreadable file too.
    rmSync(file);
    expect(await sighup(4)).toMatch(/^SIGHUP: credentials kept as they were: cannot read/);
    expect(await status(newPair)).toBe(200);

    const output = server.output();
    for (const secret of [oldPair.password, newPair.password, leaked]) expect(output).not.toContain(secret);
    // The refusals above were logged, with the scheme and the address.
    const refusals = output.split("\n").filter((l) => /authentication refused/.test(l));
    expect(refusals.length).toBeGreaterThanOrEqual(3);
    for (const refusal of refusals) {
      expect(refusal).toMatch(/Basic/);
      expect(refusal).toMatch(/127\.0\.0\.1/);
    }
  });
});

describe("failed authentications are limited per client address (in-process, burst 5)", () => {
  const wrong = basic(credentials.username, "wrong-password-Zq81");

  test("when REST sees 5 wrong passwords, then the 6th attempt gets 429 with Retry-After even with the right password", async () => {
    const logged: Array<{ scheme: string; address: string; limited: boolean }> = [];
    const server = await startTestServer({ authFailureBurst: 5, logAuthFailure: (f) => logged.push(f) });
    try {
      const get = (authorization: string) => fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { Authorization: authorization } });
      for (let i = 0; i < 5; i++) {
        const refused = await get(wrong);
        expect(refused.status).toBe(401);
        expect(refused.headers.get("www-authenticate")).toMatch(/^Basic/);
      }
      const limited = await get(authHeader);
      expect(limited.status).toBe(429);
      const retryAfter = Number(limited.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      console.log(`REST after 5 failures: ${limited.status}, Retry-After ${retryAfter} s, ${await limited.text()}`);
      // Health probes for the orchestrator are not behind authentication, so they still answer.
      expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);

      expect(logged).toHaveLength(6);
      expect(logged.slice(0, 5).every((f) => f.scheme === "Basic" && !f.limited)).toBe(true);
      expect(logged[5]).toMatchObject({ scheme: "Basic", limited: true });
      expect(logged[0].address).toMatch(/127\.0\.0\.1/);
      const text = JSON.stringify(logged);
      for (const secret of ["wrong-password-Zq81", credentials.password, wrong, authHeader]) expect(text).not.toContain(secret);
    } finally {
      await server.close();
    }
  });

  test("when Connect sees 5 wrong passwords, then the 6th call is resource_exhausted even with the right password", async () => {
    const server = await startTestServer({ authFailureBurst: 5 });
    try {
      const client = createClient(BookingService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
      const codeOf = (authorization: string) =>
        client.healthCheck({}, { headers: { authorization } }).then(
          () => "ok",
          (e: unknown) => Code[ConnectError.from(e).code],
        );
      for (let i = 0; i < 5; i++) expect(await codeOf(wrong)).toBe("Unauthenticated");
      expect(await codeOf(authHeader)).toBe("ResourceExhausted");
    } finally {
      await server.close();
    }
  });

  test("when MerchantService sees 5 wrong bearer tokens, then the 6th call is resource_exhausted even with a valid token, and the log has no token", async () => {
    const logged: Array<{ scheme: string; address: string; limited: boolean }> = [];
    const token = "merchant-token-Kx93";
    const server = await startTestServer({
      authFailureBurst: 5,
      merchantAuth: { merchantTokens: new Map([["m1", token]]) },
      logAuthFailure: (f) => logged.push(f),
    });
    try {
      const merchant = createClient(MerchantService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
      const codeOf = (bearer: string) =>
        merchant.confirmBooking({ bookingId: "no-such-booking" }, { headers: { authorization: `Bearer ${bearer}` } }).then(
          () => "ok",
          (e: unknown) => Code[ConnectError.from(e).code],
        );
      expect(await codeOf(token)).toBe("NotFound");
      for (let i = 0; i < 5; i++) expect(await codeOf("guessed-token-Pw55")).toBe("Unauthenticated");
      expect(await codeOf(token)).toBe("ResourceExhausted");
      expect(logged).toHaveLength(6);
      expect(logged[5]).toMatchObject({ limited: true });
      console.log(`bearer failures logged as: ${JSON.stringify(logged[0])}`);
      expect(logged[0].scheme).toMatch(/bearer/i);
      const text = JSON.stringify(logged);
      expect(text).not.toContain("guessed-token-Pw55");
      expect(text).not.toContain(token);
    } finally {
      await server.close();
    }
  });
});
