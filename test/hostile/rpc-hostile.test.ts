/** @jest-environment ./test/support/hostile-environment.js */
import { fromJson, toBinary, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";
import type { ClientHttp2Session } from "node:http2";
import { gzipSync } from "node:zlib";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import {
  asJsonText,
  binaryVerdict,
  deeplyNested,
  grpcFrame,
  grpcRaw,
  grpcVerdict,
  grpcWebAnswerProblem,
  http1,
  http2Session,
  integerFields,
  jsonVerdict,
  methods,
  mutatedRequest,
  nonDecimalIntegers,
  nonIntegerStrings,
  prober,
  restHeaders,
  runs,
  seedWorld,
  servicePath,
  stringLimitCases,
  tooLong,
  validWith,
  watchProcess,
  type HostileWorld,
  type Prober,
} from "../support/hostile";
import { startTestServer, type TestServer } from "../support/test-server";

/**
 * Hostile input on `/ext.maps.booking.partner.v3.BookingService/<Method>`:
 * Connect JSON, Connect binary, gRPC (raw HTTP/2 with hand-made frames) and
 * gRPC-Web. Errors are 4xx JSON (Connect) or a gRPC status other than
 * OK/UNKNOWN/INTERNAL, and change nothing; the server never crashes.
 */
describe("Connect, gRPC and gRPC-Web under hostile input", () => {
  let server: TestServer;
  let world: HostileWorld;
  let p: Prober;
  let session: ClientHttp2Session;
  let watch: ReturnType<typeof watchProcess>;
  const merchantId = "hostile-rpc-merchant";
  const merchantToken = "hostile-rpc-merchant-token";

  beforeAll(async () => {
    watch = watchProcess();
    expect(watch.real).toBe(true);
    server = await startTestServer({ merchantAuth: { merchantTokens: new Map([[merchantId, merchantToken]]) } });
    world = await seedWorld(server);
    p = prober(server);
    session = http2Session(server);
  });
  afterAll(async () => {
    p.tally.print("rpc-hostile");
    p.close();
    session.close();
    watch.stop();
    await server.close();
  });
  afterEach(() => expect(watch.errors).toEqual([]));

  /** A valid request of the method in the protobuf binary encoding. */
  const validBinary = (method: DescMethod) => Buffer.from(toBinary(method.input, fromJson(method.input, world.valid[method.name] as JsonValue)));

  /** Random bytes, or a valid binary request with some bytes changed, cut short or extended. */
  const hostileBytes = (method: DescMethod): fc.Arbitrary<Buffer> =>
    fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc
        .tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), fc.uint8Array({ maxLength: 20 }))
        .map(([flips, cut, tail]) => {
          const bytes = validBinary(method);
          for (const [at, value] of flips) if (bytes.length) bytes[at % bytes.length] = value;
          return Buffer.concat([bytes.subarray(0, bytes.length - (cut % (bytes.length + 1)) * Number(tail.length % 2 === 0)), Buffer.from(tail)]);
        }),
      // Fields with wire types and lengths that lie: e.g. a length-delimited field claiming 2^32 bytes.
      fc.constantFrom(
        Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        Buffer.from([0x0b]),
        Buffer.from([0x0c]),
        Buffer.from([0x0f, 0x00]),
        Buffer.from([0x00]),
        Buffer.from([0x0a, 0x02, 0xff, 0xfe]), // string field holding invalid UTF-8
        Buffer.alloc(0),
      ),
    );

  const anyMethod = fc.constantFrom(...methods);
  const jsonBodies = (method: DescMethod) =>
    fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.anything({ withBigInt: false }).map(asJsonText),
      mutatedRequest(world.valid[method.name]).map((v) => JSON.stringify(v)),
      fc.constantFrom(deeplyNested(100_000, "array"), deeplyNested(100_000, "object"), "", " ", "{", "null", '"x"'),
    );

  describe("findings, fixed (each was seen before src/server/request-body-guard.ts)", () => {
    // fast-check's minimal counterexample: the single byte 0x00 (field number 0) as the request of any method.
    const healthCheck = () => methods.find((m) => m.name === "HealthCheck")!;
    const zeroByte = Buffer.from([0]);

    test("Connect binary: a protobuf body that does not parse is a 4xx invalid_argument, not HTTP 500 internal", async () => {
      const answer = await http1(server, servicePath(healthCheck()), { headers: restHeaders("application/proto"), body: zeroByte });
      // Seen: HTTP 500 {"code":"internal","message":"parse binary: illegal tag: field no 0 wire type 0"}
      expect({ status: answer.status, code: JSON.parse(answer.body.toString()).code }).toEqual({ status: 400, code: "invalid_argument" });
    });

    test("gRPC: a framed message that does not parse is INVALID_ARGUMENT, not INTERNAL", async () => {
      const answer = await grpcRaw(session, servicePath(healthCheck()), grpcFrame(zeroByte));
      // Seen: grpc-status 13 "parse binary: illegal tag: field no 0 wire type 0"
      expect(answer.grpcStatus).toBe(3);
    });

    test("gRPC-Web: a framed message that does not parse is INVALID_ARGUMENT, not INTERNAL", async () => {
      const answer = await http1(server, servicePath(healthCheck()), {
        headers: { ...restHeaders("application/grpc-web+proto"), "x-grpc-web": "1" },
        body: grpcFrame(zeroByte),
      });
      // Seen: HTTP 200, grpc-status 13
      expect(grpcWebAnswerProblem(answer).code).toBe(3);
    });

    test("gRPC: a message flagged compressed without grpc-encoding, or that does not decompress, is INVALID_ARGUMENT, not INTERNAL", async () => {
      const valid = validBinary(healthCheck());
      // Seen: grpc-status 13 "received compressed envelope, but do not know how to decompress"
      expect((await grpcRaw(session, servicePath(healthCheck()), grpcFrame(valid, true))).grpcStatus).toBe(3);
      // Seen: grpc-status 13 "decompression failed"
      const garbage = await grpcRaw(session, servicePath(healthCheck()), grpcFrame(Buffer.from("not gzip"), true), { "grpc-encoding": "gzip" });
      expect(garbage.grpcStatus).toBe(3);
    });

    test("gRPC-Web: a message flagged compressed without grpc-encoding is INVALID_ARGUMENT, not INTERNAL", async () => {
      const answer = await http1(server, servicePath(healthCheck()), {
        headers: { ...restHeaders("application/grpc-web+proto"), "x-grpc-web": "1" },
        body: grpcFrame(validBinary(healthCheck()), true),
      });
      // Seen: HTTP 200, grpc-status 13 "received compressed envelope, but do not know how to decompress"
      expect(grpcWebAnswerProblem(answer).code).toBe(3);
    });

    test("gRPC: a compressed message is decompressed and checked like any other", async () => {
      const createBooking = methods.find((m) => m.name === "CreateBooking")!;
      const overLong = validWith(world, "CreateBooking", ["user_information", "given_name"], "x".repeat(257));
      const compressed = gzipSync(Buffer.from(toBinary(createBooking.input, fromJson(createBooking.input, overLong))));
      await p.probe("gRPC", async () => {
        const answer = await grpcRaw(session, servicePath(createBooking), grpcFrame(compressed, true), { "grpc-encoding": "gzip" });
        expect({ code: answer.grpcStatus, message: answer.grpcMessage }).toEqual({
          code: 3,
          message: "user_information.given_name: is 257 characters, at most 256",
        });
        return grpcVerdict(createBooking, answer);
      });
      const valid = gzipSync(validBinary(methods.find((m) => m.name === "CheckAvailability")!));
      const answer = await grpcRaw(session, servicePath(methods.find((m) => m.name === "CheckAvailability")!), grpcFrame(valid, true), {
        "grpc-encoding": "gzip",
      });
      expect(answer.grpcStatus).toBe(0);
    });
  });

  describe("field limits (src/booking/request-limits.ts) on every protocol", () => {
    const grpcWebHeaders = { ...restHeaders("application/grpc-web+proto"), "x-grpc-web": "1" };
    const binaryOf = (method: DescMethod, json: JsonValue) => Buffer.from(toBinary(method.input, fromJson(method.input, json)));

    test("a string one character past its limit is invalid_argument naming the field over Connect JSON and binary, gRPC and gRPC-Web", async () => {
      for (const limit of stringLimitCases(world)) {
        const path = servicePath(limit.method);
        const over = limit.request("x".repeat(limit.max + 1));
        const message = tooLong(limit, limit.max + 1);
        await p.probe("Connect JSON", async () => {
          const answer = await http1(server, path, { headers: restHeaders("application/json"), body: JSON.stringify(over) });
          expect({ status: answer.status, body: JSON.parse(answer.body.toString()) }).toEqual({ status: 400, body: { code: "invalid_argument", message } });
          return jsonVerdict(limit.method, answer);
        });
        await p.probe("Connect binary", async () => {
          const answer = await http1(server, path, { headers: restHeaders("application/proto"), body: binaryOf(limit.method, over) });
          expect({ status: answer.status, body: JSON.parse(answer.body.toString()) }).toEqual({ status: 400, body: { code: "invalid_argument", message } });
          return binaryVerdict(limit.method, answer);
        });
        await p.probe("gRPC", async () => {
          const answer = await grpcRaw(session, path, grpcFrame(binaryOf(limit.method, over)));
          expect({ code: answer.grpcStatus, message: answer.grpcMessage }).toEqual({ code: 3, message });
          return grpcVerdict(limit.method, answer);
        });
        await p.probe("gRPC-Web", async () => {
          const answer = await http1(server, path, { headers: grpcWebHeaders, body: grpcFrame(binaryOf(limit.method, over)) });
          const { problem, code, message: seen } = grpcWebAnswerProblem(answer);
          expect({ code, seen }).toEqual({ code: 3, seen: message });
          return { problem, error: true, seen };
        });
        const atLimit = await grpcRaw(session, path, grpcFrame(binaryOf(limit.method, limit.request("x".repeat(limit.max)))));
        expect({ field: limit.field, code: atLimit.grpcStatus }).not.toEqual({ field: limit.field, code: 3 });
      }
    });

    test("MerchantService: an over-long booking_id or description is invalid_argument naming the field, changing nothing", async () => {
      const failBooking = MerchantService.method.failBooking;
      const headers = { "Content-Type": "application/json", Authorization: `Bearer ${merchantToken}` };
      const cases: Array<[JsonValue, string]> = [
        [{ booking_id: "b".repeat(256) }, "booking_id: is 256 characters, at most 255"],
        [{ booking_id: "no-such-booking", description: "d".repeat(4097) }, "description: is 4097 characters, at most 4096"],
      ];
      for (const [body, message] of cases) {
        await p.probe("Connect JSON", async () => {
          const answer = await http1(server, `/${MerchantService.typeName}/${failBooking.name}`, { headers, body: JSON.stringify(body) });
          expect({ status: answer.status, body: JSON.parse(answer.body.toString()) }).toEqual({ status: 400, body: { code: "invalid_argument", message } });
          return jsonVerdict(failBooking, answer);
        });
      }
    });
  });

  test("Connect JSON, gRPC-Web JSON and compressed Connect JSON: integers as non-decimal strings are invalid_argument naming the field", async () => {
    for (const [methodName, fieldPath, field, is64Bit] of integerFields) {
      const method = methods.find((m) => m.name === methodName)!;
      for (const text of [...nonDecimalIntegers, ...(is64Bit ? nonIntegerStrings : [])]) {
        const body = JSON.stringify(validWith(world, methodName, fieldPath, text));
        await p.probe("Connect JSON", async () => {
          const answer = await http1(server, servicePath(method), { headers: restHeaders("application/json"), body });
          expect({ status: answer.status, message: JSON.parse(answer.body.toString()).message }).toEqual({
            status: 400,
            message: expect.stringContaining(`${field}: must be a decimal`),
          });
          return jsonVerdict(method, answer);
        });
        await p.probe("Connect JSON", async () => {
          const answer = await http1(server, servicePath(method), {
            headers: { ...restHeaders("application/json"), "Content-Encoding": "gzip" },
            body: gzipSync(body),
          });
          expect(answer.status).toBe(400);
          return jsonVerdict(method, answer);
        });
        await p.probe("gRPC-Web", async () => {
          const answer = await http1(server, servicePath(method), {
            headers: { ...restHeaders("application/grpc-web+json"), "x-grpc-web": "1" },
            body: grpcFrame(Buffer.from(body)),
          });
          const { problem, code, message } = grpcWebAnswerProblem(answer);
          expect({ code, message }).toEqual({ code: 3, message: expect.stringContaining(`${field}: must be a decimal`) });
          return { problem, error: true, seen: message };
        });
      }
    }
    const decimal = await http1(server, servicePath(methods.find((m) => m.name === "CheckAvailability")!), {
      headers: restHeaders("application/json"),
      body: JSON.stringify(validWith(world, "CheckAvailability", ["slot", "start_sec"], String(world.startSec))),
    });
    expect(decimal.status).toBe(200);
  });

  test("Connect JSON: random and mutated JSON at every method", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyMethod.chain((method) => fc.tuple(fc.constant(method), jsonBodies(method))),
        async ([method, body]) => {
          const answer = await http1(server, servicePath(method), { headers: restHeaders("application/json"), body });
          await p.probe("Connect JSON", async () => jsonVerdict(method, answer));
        },
      ),
      runs(250),
    );
  });

  test("Connect JSON: invalid UTF-8 bytes and odd content types", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyMethod,
        fc.uint8Array({ maxLength: 200 }),
        fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain", "application/x-thrift", "application/grpc+json", ""),
        async (method, bytes, contentType) => {
          const answer = await http1(server, servicePath(method), { headers: restHeaders(contentType), body: Buffer.from(bytes) });
          await p.probe("Connect JSON", async () => jsonVerdict(method, answer));
        },
      ),
      runs(150),
    );
  });

  test("Connect binary: random protobuf bytes at every method", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyMethod.chain((method) => fc.tuple(fc.constant(method), hostileBytes(method))),
        async ([method, bytes]) => {
          const answer = await http1(server, servicePath(method), { headers: restHeaders("application/proto"), body: bytes });
          await p.probe("Connect binary", async () => binaryVerdict(method, answer));
        },
      ),
      runs(300),
    );
  });

  test("Connect: bodies over 4 MiB are refused (resource_exhausted), JSON and binary", async () => {
    for (const contentType of ["application/json", "application/proto"]) {
      const method = methods.find((m) => m.name === "CreateBooking")!;
      const answer = await http1(server, servicePath(method), { headers: restHeaders(contentType), body: Buffer.alloc(5 * 1024 * 1024, 0x20) });
      await p.probe(contentType === "application/json" ? "Connect JSON" : "Connect binary", async () => {
        expect(answer.status).toBeGreaterThanOrEqual(400);
        expect(answer.status).toBeLessThan(500);
        return jsonVerdict(method, answer);
      });
    }
  });

  test("gRPC: random bytes in a well-formed gRPC frame at every method", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyMethod.chain((method) => fc.tuple(fc.constant(method), hostileBytes(method))),
        async ([method, bytes]) => {
          const answer = await grpcRaw(session, servicePath(method), grpcFrame(bytes));
          await p.probe("gRPC", async () => grpcVerdict(method, answer));
        },
      ),
      runs(300),
    );
  });

  test("gRPC: broken framing (unframed bytes, lying lengths, compressed flag without encoding, two messages)", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyMethod,
        fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b)),
        fc.constantFrom("unframed", "longer", "shorter", "huge", "compressed", "gzip-garbage", "two", "trailing"),
        async (method, bytes, how) => {
          const valid = validBinary(method);
          const body = {
            unframed: bytes,
            longer: grpcFrame(bytes, false, bytes.length + 10),
            shorter: grpcFrame(bytes, false, Math.max(0, bytes.length - 1)),
            huge: grpcFrame(bytes, false, 0xffffffff),
            compressed: grpcFrame(valid, true),
            "gzip-garbage": grpcFrame(bytes, true),
            two: Buffer.concat([grpcFrame(valid), grpcFrame(bytes)]),
            trailing: Buffer.concat([grpcFrame(valid), bytes.subarray(0, 4)]),
          }[how];
          const headers: Record<string, string> = how === "gzip-garbage" ? { "grpc-encoding": "gzip" } : {};
          const answer = await grpcRaw(session, servicePath(method), body, headers);
          await p.probe("gRPC", async () => grpcVerdict(method, answer));
        },
      ),
      runs(200),
    );
  });

  test("gRPC: messages over 4 MiB get a gRPC status (resource_exhausted), not a crash", async () => {
    const method = methods.find((m) => m.name === "CreateBooking")!;
    const answer = await grpcRaw(session, servicePath(method), grpcFrame(Buffer.alloc(5 * 1024 * 1024, 0)));
    await p.probe("gRPC", async () => {
      expect(answer.grpcStatus).toBe(8);
      return grpcVerdict(method, answer);
    });
  });

  test("gRPC-Web over HTTP/1.1: random bytes in a gRPC-Web frame", async () => {
    await fc.assert(
      fc.asyncProperty(
        anyMethod.chain((method) => fc.tuple(fc.constant(method), hostileBytes(method), fc.boolean())),
        async ([method, bytes, framed]) => {
          const answer = await http1(server, servicePath(method), {
            headers: { ...restHeaders("application/grpc-web+proto"), "x-grpc-web": "1" },
            body: framed ? grpcFrame(bytes) : bytes,
          });
          await p.probe("gRPC-Web", async () => {
            // gRPC-Web answers HTTP 200 with grpc-status in the headers (trailers-only) or in a trailer frame.
            const { problem, code, message } = grpcWebAnswerProblem(answer);
            return { problem, error: code !== 0, seen: `HTTP ${answer.status} grpc-status ${code} ${message}` };
          });
        },
      ),
      runs(150),
    );
  });
});
