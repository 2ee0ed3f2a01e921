import { basicAuthChallenge } from "../../src/server/basic-auth";
import {
  at,
  basic,
  bookingRequest,
  countAvailable,
  newUser,
  refusedAuthorizations,
  request,
  seedMerchant,
} from "../support/rest-helpers";
import { credentials, rest, startTestServer, type TestServer } from "../support/test-server";

describe("HealthCheck", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  test("when GET /v3/HealthCheck carries Google's credentials, then it answers 200", async () => {
    const response = await request(server, "/v3/HealthCheck");
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toEqual({ status: "SERVING" });
  });

  test("when the path has a trailing slash, then it answers 200", async () => {
    expect((await request(server, "/v3/HealthCheck/")).status).toBe(200);
  });

  test("when the method name is in another case (/v3/healthcheck), then it answers 200", async () => {
    expect((await request(server, "/v3/healthcheck")).status).toBe(200);
    expect((await request(server, "/v3/HEALTHCHECK/")).status).toBe(200);
  });

  test("when a query string is appended, then it answers 200", async () => {
    expect((await request(server, "/v3/HealthCheck?probe=1")).status).toBe(200);
  });

  test("when it is POSTed, then it answers 405 allowing GET", async () => {
    const response = await request(server, "/v3/HealthCheck", { method: "POST", body: "{}" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET");
  });

  test("when the method does not exist (/v3/NoSuchMethod), then it answers 404 not_found", async () => {
    for (const method of ["GET", "POST"]) {
      const response = await request(server, "/v3/NoSuchMethod", { method, body: method === "POST" ? "{}" : undefined });
      expect(response.status).toBe(404);
      expect(JSON.parse(response.text)).toMatchObject({ code: "not_found" });
    }
  });

  test("when the path is outside /v3 (/nothing), then it answers 404", async () => {
    expect((await request(server, "/nothing")).status).toBe(404);
    expect((await request(server, "/v3")).status).toBe(404);
  });
});

describe("HTTP Basic auth on REST", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  test.each(refusedAuthorizations)("when %s on HealthCheck, then 401 with a WWW-Authenticate challenge", async (_, auth) => {
    const response = await request(server, "/v3/HealthCheck", { auth });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(basicAuthChallenge);
    expect(JSON.parse(response.text)).toMatchObject({ code: "unauthenticated" });
  });

  test.each(refusedAuthorizations)(
    "when %s on CreateBooking, then 401 with a WWW-Authenticate challenge and the slot keeps its spots",
    async (_, auth) => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
      const user = newUser();
      const response = await rest(server, "CreateBooking", bookingRequest(slots[0], user), { auth });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(basicAuthChallenge);
      expect(response.body).toMatchObject({ code: "unauthenticated" });
      expect(response.body.booking).toBeUndefined();
      expect(await countAvailable(server, slots[0])).toBe(2);
      expect((await rest(server, "ListBookings", { user_id: user.user_id })).status).toBe(404);
    },
  );

  test("when the credentials are right with a lower-case scheme, then the call is served", async () => {
    const auth = basic(credentials.username, credentials.password).replace(/^Basic/, "basic");
    expect((await request(server, "/v3/HealthCheck", { auth })).status).toBe(200);
  });

  test("when the server runs without credentials (open), then calls without Authorization are served", async () => {
    const open = await startTestServer({ open: true });
    try {
      expect((await request(open, "/v3/HealthCheck", { auth: null })).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});
