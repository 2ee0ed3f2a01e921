import { Writable } from "node:stream";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { createLogger, Observability } from "../../src/server/observability";
import { authHeader, futureStartSec, rest, seedSlots, startTestServer, type TestServer } from "../support/test-server";

/** A pino destination that keeps every line, parsed. */
function captureLines() {
  const lines: any[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}

const slot = { merchant_id: "obs", service_id: "s", start_sec: String(futureStartSec), duration_sec: "3600" };
const user = { user_id: "obs-user", given_name: "O", family_name: "B", telephone: "+1 555", email: "secret-person@example.com" };

describe("logs and metrics", () => {
  let server: TestServer;
  const log = captureLines();
  beforeAll(async () => {
    server = await startTestServer({
      observability: (store) => new Observability(createLogger({ level: "info", destination: log.destination }), store, () => 0),
      metricsToken: "scrape-me",
    });
    await seedSlots(server.store, [{ merchantId: "obs", serviceId: "s", startSec: futureStartSec, spotsTotal: 1 }]);
  });
  afterAll(() => server.close());

  const metrics = async () => {
    const response = await fetch(`${server.baseUrl}/metrics`, { headers: { Authorization: "Bearer scrape-me" } });
    expect(response.status).toBe(200);
    return response.text();
  };

  test("when calls are answered, then /metrics counts them by method, protocol, outcome and failure cause", async () => {
    const booked = await rest(server, "CreateBooking", { slot, idempotency_token: "obs-1", user_information: user });
    expect(booked.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    await rest(server, "CreateBooking", { slot, idempotency_token: "obs-2", user_information: { ...user, user_id: "u2", email: "b@example.com" } });
    await rest(server, "CreateBooking", { slot }); // invalid: no token
    const grpc = createClient(BookingService, createGrpcTransport({ baseUrl: server.baseUrl }));
    await grpc.healthCheck({}, { headers: { authorization: authHeader } });

    const text = await metrics();
    expect(text).toContain('booking_calls_total{method="CreateBooking",protocol="rest",outcome="ok"} 1');
    expect(text).toContain('booking_calls_total{method="CreateBooking",protocol="rest",outcome="booking_failure"} 1');
    expect(text).toContain('booking_calls_total{method="CreateBooking",protocol="rest",outcome="invalid_argument"} 1');
    expect(text).toContain('booking_failures_total{method="CreateBooking",cause="SLOT_UNAVAILABLE"} 1');
    expect(text).toContain('booking_calls_total{method="HealthCheck",protocol="grpc",outcome="ok"} 1');
    expect(text).toMatch(/booking_call_duration_seconds_bucket\{le="0.1",method="CreateBooking",protocol="rest"\} 3/);
    expect(text).toMatch(/booking_outbox_pending \d+/);
    expect(text).toMatch(/booking_outbox_oldest_pending_age_seconds \d+/);
    expect(text).toContain("booking_outbox_dead 0");
    expect(text).toContain("nodejs_eventloop_lag_seconds");
  });

  test("when /metrics is asked without the metrics token, then it answers 401", async () => {
    const response = await fetch(`${server.baseUrl}/metrics`);
    expect(response.status).toBe(401);
  });

  test("when a call is logged, then the line has request id, method, protocol, outcome and latency but no personal data", async () => {
    await rest(server, "CreateBooking", { slot, idempotency_token: "obs-3", user_information: { ...user, user_id: "u3", email: "c@example.com" } });
    const line = log.lines.filter((l) => l.msg === "call" && l.method === "CreateBooking").pop();
    expect(line).toMatchObject({ method: "CreateBooking", protocol: "rest", outcome: expect.any(String), requestId: expect.any(String) });
    expect(typeof line.latencyMs).toBe("number");
    expect(JSON.stringify(log.lines)).not.toContain("secret-person@example.com");
  });

  test("when authentication is refused, then the address is logged and the secret is not", async () => {
    await rest(server, "HealthCheck", {}, { auth: `Basic ${Buffer.from("google:wrong-password-xyz").toString("base64")}` });
    const refused = log.lines.find((l) => l.msg === "authentication refused");
    expect(refused).toMatchObject({ scheme: "Basic", address: expect.any(String) });
    expect(JSON.stringify(log.lines)).not.toContain("wrong-password-xyz");
  });

  test("when something logs a user's email, phone or payment token, then pino redacts it", () => {
    const capture = captureLines();
    const logger = createLogger({ destination: capture.destination });
    logger.info({ user: { email: "a@b.c", telephone: "+1" }, params: { unparsed_payment_method_token: "tok_123" } }, "x");
    expect(capture.lines[0].user).toEqual({ email: "[redacted]", telephone: "[redacted]" });
    expect(capture.lines[0].params.unparsed_payment_method_token).toBe("[redacted]");
  });
});
