/**
 * Who the client is: the socket peer, or, when the peer is a trusted proxy,
 * the right-most untrusted hop of X-Forwarded-For (or RFC 7239 Forwarded);
 * and the TRUSTED_PROXIES list itself (addresses and CIDRs of both families).
 */
import { canonicalAddress, clientAddressOf, TrustedProxies, TrustedProxyError } from "../../src/server/client-address";

const proxies = TrustedProxies.parse("127.0.0.1, 10.0.0.0/8,::1,fd00::/8");

describe("TrustedProxies", () => {
  test.each([
    ["127.0.0.1", true],
    ["127.0.0.2", false],
    ["10.255.0.9", true],
    ["11.0.0.1", false],
    ["::1", true],
    ["0:0:0:0:0:0:0:1", true],
    ["fd12:3456::7", true],
    ["fe80::1", false],
    ["::ffff:127.0.0.1", true],
    ["::ffff:10.1.2.3", true],
    ["::FFFF:7f00:1", true],
    ["not-an-address", false],
  ])("when asked about %s, then the answer is %s", (address, trusted) => {
    expect(proxies.includes(address)).toBe(trusted);
  });

  test("when an entry is an IPv4-mapped IPv6 address, then the IPv4 peer matches it", () => {
    expect(TrustedProxies.parse("::ffff:192.0.2.1").includes("192.0.2.1")).toBe(true);
  });

  test.each(["10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/0x8", "10.0.0.300", "localhost", "fe80::1%eth0", "01.2.3.4"])(
    "when an entry is %j, then parsing refuses it, naming it",
    (entry) => {
      const parse = () => TrustedProxies.parse(`127.0.0.1,${entry}`);
      expect(parse).toThrow(TrustedProxyError);
      expect(parse).toThrow(JSON.stringify(entry));
    },
  );

  test("when an entry is empty, then parsing refuses it, giving its position", () => {
    expect(() => TrustedProxies.parse("127.0.0.1,,::1")).toThrow("entry 2 is empty");
    expect(() => TrustedProxies.parse("127.0.0.1,")).toThrow("entry 2 is empty");
  });
});

describe("clientAddressOf", () => {
  const resolve = (peer: string | undefined, headers: Record<string, string | string[]> = {}) =>
    clientAddressOf(peer, headers, proxies);

  test("when the peer is not a trusted proxy, then X-Forwarded-For and Forwarded are ignored", () => {
    expect(resolve("203.0.113.9", { "x-forwarded-for": "198.51.100.1" })).toBe("203.0.113.9");
    expect(resolve("203.0.113.9", { forwarded: "for=198.51.100.1" })).toBe("203.0.113.9");
    expect(clientAddressOf("127.0.0.1", { "x-forwarded-for": "198.51.100.1" }, undefined)).toBe("127.0.0.1");
  });

  test("when the peer is trusted, then the right-most X-Forwarded-For entry that is not a proxy is the client", () => {
    expect(resolve("127.0.0.1", { "x-forwarded-for": "198.51.100.1" })).toBe("198.51.100.1");
    // What the client wrote itself (left of the hop our proxy appended) is not believed.
    expect(resolve("127.0.0.1", { "x-forwarded-for": "1.1.1.1, 198.51.100.1" })).toBe("198.51.100.1");
    expect(resolve("127.0.0.1", { "x-forwarded-for": "spoofed, 198.51.100.1, 10.0.0.5" })).toBe("198.51.100.1");
    expect(resolve("::1", { "x-forwarded-for": "198.51.100.1,10.1.1.1, fd00::2" })).toBe("198.51.100.1");
  });

  test("when every X-Forwarded-For entry is a trusted proxy, then the left-most one is the client", () => {
    expect(resolve("127.0.0.1", { "x-forwarded-for": "10.0.0.7, 10.0.0.5" })).toBe("10.0.0.7");
  });

  test("when X-Forwarded-For entries carry ports, brackets or mapped forms, then the address is canonical", () => {
    expect(resolve("127.0.0.1", { "x-forwarded-for": "198.51.100.1:4711" })).toBe("198.51.100.1");
    expect(resolve("127.0.0.1", { "x-forwarded-for": "[2001:DB8:0::1]:4711" })).toBe("2001:db8::1");
    expect(resolve("127.0.0.1", { "x-forwarded-for": "2001:db8::1" })).toBe("2001:db8::1");
    expect(resolve("127.0.0.1", { "x-forwarded-for": "::ffff:198.51.100.1" })).toBe("198.51.100.1");
    expect(resolve("127.0.0.1", { "x-forwarded-for": "[::ffff:198.51.100.1]" })).toBe("198.51.100.1");
  });

  test("when X-Forwarded-For arrived in several headers, then they form one chain", () => {
    expect(resolve("127.0.0.1", { "x-forwarded-for": ["1.1.1.1", "198.51.100.1"] })).toBe("198.51.100.1");
  });

  test.each(["", "198.51.100.1,", "198.51.100.1,,10.0.0.5", "garbage", "198.51.100.1, unknown", "[198.51.100.1]", "198.51.100.1:port", "fe80::1%eth0"])(
    "when the peer is trusted and X-Forwarded-For is %j, then the peer is the client",
    (header) => {
      expect(resolve("127.0.0.1", { "x-forwarded-for": header, forwarded: "for=192.0.2.1" })).toBe("127.0.0.1");
    },
  );

  test("when there is no X-Forwarded-For, then the right-most untrusted for= of Forwarded is the client", () => {
    expect(resolve("127.0.0.1", { forwarded: "for=192.0.2.60;proto=http;by=203.0.113.43" })).toBe("192.0.2.60");
    expect(resolve("127.0.0.1", { forwarded: 'for=1.1.1.1, for="[2001:db8:cafe::17]:4711"' })).toBe("2001:db8:cafe::17");
    expect(resolve("127.0.0.1", { forwarded: 'For="192.0.2.60:4711", for=10.0.0.5;proto=https' })).toBe("192.0.2.60");
    expect(resolve("127.0.0.1", { forwarded: 'for=192.0.2.60;by="a,b;c", for=10.0.0.5' })).toBe("192.0.2.60");
    expect(resolve("127.0.0.1", { forwarded: "for=192.0.2.60, , for=10.0.0.5" })).toBe("192.0.2.60");
    expect(resolve("127.0.0.1", { forwarded: ["for=1.1.1.1", "for=192.0.2.60"] })).toBe("192.0.2.60");
  });

  test.each([
    "for=unknown",
    "for=_hidden",
    "for=2001:db8::1",
    'for="[2001:db8::1"',
    "proto=https",
    "for=192.0.2.60;for=192.0.2.61",
    "for 192.0.2.60",
    'for="192.0.2.60',
    "for=192.0.2.60;=x",
    "",
  ])("when the peer is trusted and Forwarded is %j, then the peer is the client", (header) => {
    expect(resolve("127.0.0.1", { forwarded: header })).toBe("127.0.0.1");
  });

  test("when the peer is an IPv4-mapped IPv6 address, then it is given as IPv4", () => {
    expect(resolve("::ffff:203.0.113.9")).toBe("203.0.113.9");
    expect(resolve("::ffff:127.0.0.1", { "x-forwarded-for": "198.51.100.1" })).toBe("198.51.100.1");
  });

  test("when the peer is unknown (a closed socket), then the client is unknown", () => {
    expect(resolve(undefined, { "x-forwarded-for": "198.51.100.1" })).toBe("unknown");
  });
});

describe("canonicalAddress", () => {
  test.each([
    ["192.0.2.1", "192.0.2.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::ffff:c000:201", "192.0.2.1"],
    ["2001:0DB8:0000::0001", "2001:db8::1"],
    ["fe80::1%eth0", "fe80::1%eth0"],
    ["::", "::"],
  ])("when given %s, then it answers %s", (address, canonical) => {
    expect(canonicalAddress(address)).toBe(canonical);
  });

  test.each(["", "192.0.2", "192.0.2.01", "example.com", "[::1]", "::1:80:x"])("when given %j, then it is not an address", (text) => {
    expect(canonicalAddress(text)).toBeUndefined();
  });
});
