/** @jest-environment ./test/support/hostile-environment.js */
import type { DescMethod, JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";
import type { ClientHttp2Session } from "node:http2";
import {
  asJsonText,
  countLimitCases,
  deeplyNested,
  entries,
  integerFields,
  http1,
  http2Request,
  http2Session,
  jsonVerdict,
  methods,
  mutatedRequest,
  nonDecimalIntegers,
  nonIntegerStrings,
  prober,
  restHeaders,
  runs,
  seedWorld,
  stringLimitCases,
  tooLong,
  validWith,
  watchProcess,
  type HostileWorld,
  type Prober,
} from "../support/hostile";
import { startTestServer, type TestServer } from "../support/test-server";

/**
 * Hostile input on Google's REST paths (`/v3/<Method>`): every answer is a 4xx
 * JSON error (changing nothing) or a 200 that is the method's response; no 5xx,
 * no crash, HealthCheck still answers.
 */
describe("REST /v3/<Method> under hostile input", () => {
  let server: TestServer;
  let world: HostileWorld;
  let p: Prober;
  let watch: ReturnType<typeof watchProcess>;
  const postMethods = methods.filter((m) => m.name !== "HealthCheck");

  beforeAll(async () => {
    watch = watchProcess();
    expect(watch.real).toBe(true);
    server = await startTestServer();
    world = await seedWorld(server);
    p = prober(server);
  });
  afterAll(async () => {
    p.tally.print("rest-hostile");
    p.close();
    watch.stop();
    await server.close();
  });
  afterEach(() => expect(watch.errors).toEqual([]));

  const post = (method: DescMethod | string, body: Buffer | string, contentType: string | null = "application/json") =>
    http1(server, `/v3/${typeof method === "string" ? method : method.name}`, { headers: restHeaders(contentType), body });
  const sendJson = (method: DescMethod, text: string) =>
    p.probe("REST", async () => jsonVerdict(method, await post(method, text)));

  test("random JSON values (and anything JSON.stringify makes of fast-check values) at every method", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...methods),
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.anything({ withBigInt: false, withNullPrototype: true, withObjectString: true }).map(asJsonText),
          fc.json(),
        ),
        async (method, text) => sendJson(method, text),
      ),
      runs(250),
    );
  });

  test("random objects whose keys are the method's own field names (snake and camel) with hostile values", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...postMethods),
        fc.infiniteStream(fc.nat()),
        fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }),
        async (method, picks, values) => {
          const names = method.input.fields.flatMap((f) => [f.name, f.jsonName]);
          const it = picks[Symbol.iterator]();
          const body = Object.fromEntries(values.map((v) => [names[it.next().value % names.length], v]));
          await sendJson(method, JSON.stringify(body));
        },
      ),
      runs(200),
    );
  });

  test("mutated valid requests: dropped fields, wrong types, random enum names, overflowing int64s", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...postMethods).chain((method) => fc.tuple(fc.constant(method), mutatedRequest(world.valid[method.name]))),
        async ([method, body]) => sendJson(method, JSON.stringify(body)),
      ),
      runs(300),
    );
  });

  test("absurd party sizes and times on every slot-carrying method", async () => {
    const sizes: JsonValue[] = [2 ** 31 - 1, 2 ** 31, -5, -1, 0, 1e9, "2147483648", 4294967297, 1.5];
    const times: JsonValue[] = [0, -1, 2 ** 53 + 1, "9007199254740993", 32503680000, "32503680000", "-9223372036854775808", "9223372036854775807", 1e19];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("CheckAvailability", "CreateLease", "CreateBooking", "BatchAvailabilityLookup", "UpdateBooking"),
        fc.constantFrom(...sizes),
        fc.constantFrom(...times),
        fc.constantFrom(...times, "3600"),
        fc.string({ maxLength: 8 }),
        async (name, partySize, startSec, durationSec, suffix) => {
          const method = methods.find((m) => m.name === name)!;
          const slot = {
            merchant_id: world.merchantId,
            service_id: world.serviceId,
            start_sec: startSec,
            duration_sec: durationSec,
            resources: { party_size: partySize },
          };
          const body: Record<string, JsonValue> = {
            CheckAvailability: { slot },
            CreateLease: { lease: { user_reference: `absurd-${suffix}`, slot } },
            CreateBooking: {
              slot,
              user_information: { user_id: `absurd-${suffix}` },
              idempotency_token: `absurd-${suffix}-${String(startSec)}-${String(partySize)}`,
            },
            BatchAvailabilityLookup: {
              merchant_id: world.merchantId,
              slot_time: [{ service_id: world.serviceId, start_sec: startSec, duration_sec: durationSec, resource_ids: { party_size: partySize } }],
            },
            UpdateBooking: { booking: { booking_id: `absurd-${suffix}`, slot: { start_sec: startSec, duration_sec: durationSec, resources: { party_size: partySize } } } },
          };
          await sendJson(method, JSON.stringify(body[name]));
        },
      ),
      runs(200),
    );
  });

  test("1 MB strings in any field of a valid request", async () => {
    const huge = "x".repeat(1024 * 1024);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...postMethods).chain((method) =>
          fc.tuple(
            fc.constant(method),
            mutatedRequest(world.valid[method.name]),
            fc.constantFrom(huge, "é".repeat(512 * 1024), "\u{1F600}".repeat(256 * 1024)),
            fc.nat(),
          ),
        ),
        async ([method, mutated, big, which]) => {
          // Put the huge string in place of one string value of the (mutated) request (or add one).
          const strings = JSON.stringify(mutated).match(/"(?:[^"\\]|\\.)*"\s*(?=[,}\]])/g)?.length ?? 0;
          let seen = 0;
          const text = JSON.stringify(mutated, (key, value) =>
            typeof value === "string" && key !== "" && seen++ === which % Math.max(strings, 1) ? big : value,
          );
          const answer = await post(method, text.length < 1024 * 1024 ? JSON.stringify({ ...(mutated as object), idempotency_token: big }) : text);
          await p.probe("REST", async () => jsonVerdict(method, answer));
        },
      ),
      runs(30),
    );
  });

  describe("field limits (src/booking/request-limits.ts)", () => {
    const refusedWith = (answer: { status: number; body: Buffer }, message: string) =>
      expect({ status: answer.status, body: JSON.parse(answer.body.toString()) }).toEqual({
        status: 400,
        body: { code: "invalid_argument", message },
      });
    const notRefused = (answer: { status: number; body: Buffer }) => expect(JSON.parse(answer.body.toString()).code).not.toBe("invalid_argument");

    test("a string one character past its field's limit is 400 naming the field, changing nothing; at the limit it is accepted", async () => {
      for (const limit of stringLimitCases(world)) {
        await p.probe("REST", async () => {
          const answer = await post(limit.method, JSON.stringify(limit.request("x".repeat(limit.max + 1))));
          refusedWith(answer, tooLong(limit, limit.max + 1));
          return jsonVerdict(limit.method, answer);
        });
        await p.probe("REST", async () => {
          const answer = await post(limit.method, JSON.stringify(limit.request("x".repeat(limit.max))));
          notRefused(answer);
          return jsonVerdict(limit.method, answer);
        });
      }
    });

    test("limits count characters, not UTF-16 units: 256 emoji are a given_name, 257 are not", async () => {
      const limit = stringLimitCases(world).find((c) => c.field === "user_information.given_name")!;
      await p.probe("REST", async () => {
        const answer = await post(limit.method, JSON.stringify(limit.request("\u{1F600}".repeat(257))));
        refusedWith(answer, tooLong(limit, 257));
        return jsonVerdict(limit.method, answer);
      });
      const accepted = await post(limit.method, JSON.stringify(limit.request("\u{1F600}".repeat(256))));
      notRefused(accepted);
    });

    test("a repeated or map field one entry past its limit is 400 naming the field, changing nothing; at the limit it is accepted", async () => {
      for (const limit of countLimitCases(world)) {
        await p.probe("REST", async () => {
          const answer = await post(limit.method, JSON.stringify(limit.request(entries(world, limit, limit.max + 1))));
          refusedWith(answer, `${limit.field}: has ${limit.max + 1} entries, at most ${limit.max}`);
          return jsonVerdict(limit.method, answer);
        });
        const accepted = await post(limit.method, JSON.stringify(limit.request(entries(world, limit, limit.max))));
        expect(accepted.status).toBe(200);
      }
    });
  });

  test("integers given as strings that are not decimal (hex, octal, binary, whitespace, exponents for int64) are 400 naming the field", async () => {
    for (const [methodName, path, field, is64Bit] of integerFields) {
      const method = methods.find((m) => m.name === methodName)!;
      for (const text of [...nonDecimalIntegers, ...(is64Bit ? nonIntegerStrings : [])]) {
        await p.probe("REST", async () => {
          const answer = await post(method, JSON.stringify(validWith(world, methodName, path, text)));
          expect(answer.status).toBe(400);
          expect(JSON.parse(answer.body.toString()).message).toContain(`${field}: must be a decimal`);
          return jsonVerdict(method, answer);
        });
      }
    }
    // What proto3 JSON does allow: decimal strings, an exponent for 32-bit fields, and JSON numbers in any form.
    const [, startPath] = integerFields[0];
    const accepted = [
      ["CreateBooking", startPath, String(world.startSec)],
      ["CreateBooking", startPath, world.startSec],
      ["CheckAvailability", ["slot", "resources", "party_size"], "0e0"],
      ["CheckAvailability", ["slot", "duration_sec"], 3.6e3],
    ] as const;
    for (const [methodName, path, value] of accepted) {
      const answer = await post(methodName, JSON.stringify(validWith(world, methodName, [...path], value)));
      expect({ value, status: answer.status }).toEqual({ value, status: 200 });
    }
  });

  test("deeply nested arrays and objects (JSON.parse may throw RangeError)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...postMethods),
        fc.constantFrom(10_000, 100_000, 500_000),
        fc.constantFrom("array" as const, "object" as const),
        fc.constantFrom("slot", "lease", "booking", "slot_time", "user_information", "not_a_field"),
        async (method, depth, kind, inside) => sendJson(method, deeplyNested(depth, kind, inside)),
      ),
      runs(30),
    );
  });

  test("random bytes and invalid UTF-8 in the body", async () => {
    const invalidUtf8 = fc.constantFrom(
      Buffer.from([0xff]),
      Buffer.from([0xc0, 0x80]),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from([0xf4, 0x90, 0x80, 0x80]),
      Buffer.from([0xe2, 0x82]),
      Buffer.from([0x80, 0x80, 0x80]),
      Buffer.from([0xfe, 0xff, 0x00]),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...postMethods),
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)),
          // A valid request with invalid UTF-8 spliced into a string value.
          fc.tuple(fc.nat(), invalidUtf8).map(([at, bad]) => ({ at, bad })),
        ),
        async (method, body) => {
          let bytes: Buffer;
          if (Buffer.isBuffer(body)) bytes = body;
          else {
            const text = Buffer.from(JSON.stringify(world.valid[method.name]));
            const quotes = [...text.entries()].filter(([, b]) => b === 0x22).map(([i]) => i);
            const where = quotes.length ? quotes[body.at % quotes.length] + 1 : 0;
            bytes = Buffer.concat([text.subarray(0, where), body.bad, text.subarray(where)]);
          }
          await p.probe("REST", async () => jsonVerdict(method, await post(method, bytes)));
        },
      ),
      runs(200),
    );
  });

  test("wrong, odd and missing content types", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...postMethods),
        fc.oneof(
          fc.constantFrom(
            null,
            "text/plain",
            "application/proto",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "application/json; charset=utf-16",
            "application/json; charset=latin1",
            "APPLICATION/JSON",
            "application/grpc",
            "application/connect+json",
            "",
            "*/*",
          ),
          fc.string({ maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
        ),
        async (method, contentType) => {
          const answer = await post(method, JSON.stringify(world.valid[method.name]), contentType);
          await p.probe("REST", async () => jsonVerdict(method, answer));
        },
      ),
      runs(150),
    );
  });

  test("empty and blank bodies", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...postMethods), fc.stringMatching(/^[ \t\r\n]{0,20}$/), async (method, blank) => {
        const answer = await post(method, blank);
        expect(answer.status).toBe(400);
        await p.probe("REST", async () => jsonVerdict(method, answer));
      }),
      runs(50),
    );
  });

  test("bodies over 4 MiB are refused with 413, with or without Content-Length", async () => {
    for (const size of [4 * 1024 * 1024 + 1, 6 * 1024 * 1024]) {
      for (const method of postMethods) {
        const body = Buffer.alloc(size, 0x20);
        body.write('{"a":"', 0);
        for (const chunked of [false, true]) {
          await p.probe("REST", async () => {
            const answer = chunked
              ? await http1(server, `/v3/${method.name}`, { headers: { ...restHeaders(), "Transfer-Encoding": "chunked" }, body })
              : await post(method, body);
            expect(answer.status).toBe(413);
            return jsonVerdict(method, answer);
          });
        }
      }
    }
  });

  test("REST over HTTP/2 (h2c): random, mutated and broken bodies", async () => {
    const session: ClientHttp2Session = http2Session(server);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...postMethods).chain((method) =>
            fc.tuple(
              fc.constant(method),
              fc.oneof(
                mutatedRequest(world.valid[method.name]).map((v) => JSON.stringify(v)),
                fc.jsonValue().map((v) => JSON.stringify(v)),
                fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
                fc.constantFrom("", deeplyNested(100_000, "array")),
              ),
              fc.constantFrom("application/json", "text/plain", "application/proto"),
            ),
          ),
          async ([method, body, contentType]) => {
            const answer = await http2Request(session, `/v3/${method.name}`, restHeaders(contentType), body);
            await p.probe("REST over HTTP/2", async () => jsonVerdict(method, answer));
          },
        ),
        runs(150),
      );
    } finally {
      session.close();
    }
  });

  test("random paths, verbs and methods under /v3/", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(...methods.map((m) => m.name), "healthcheck", "CREATEBOOKING", "CreateBooking/", "CreateBooking//", "CreateBooking?x=1"),
          fc.webSegment(),
        ),
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"),
        fc.jsonValue({ maxDepth: 2 }),
        async (path, verb, body) => {
          const name = path.replace(/[/?].*$/, "").toLowerCase();
          const method = methods.find((m) => m.name.toLowerCase() === name);
          const answer = await http1(server, `/v3/${path}`, {
            method: verb,
            headers: restHeaders(),
            body: verb === "GET" ? undefined : JSON.stringify(body),
          });
          await p.probe("REST", async () => jsonVerdict(method, answer));
        },
      ),
      runs(150),
    );
  });
});
