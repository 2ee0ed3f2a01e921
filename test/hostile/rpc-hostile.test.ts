/** @jest-environment ./test/support/hostile-environment.js */
import { fromJson, toBinary, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";
import type { ClientHttp2Session } from "node:http2";
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
  jsonVerdict,
  methods,
  mutatedRequest,
  prober,
  restHeaders,
  runs,
  seedWorld,
  servicePath,
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

  beforeAll(async () => {
    watch = watchProcess();
    expect(watch.real).toBe(true);
    server = await startTestServer();
    world = seedWorld(server);
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

  describe("findings, fixed (each was seen before src/server/binary-request-guard.ts)", () => {
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
