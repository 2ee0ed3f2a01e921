import { BlockList, isIP, isIPv4 } from "node:net";

/** How many `TrustedProxies.includes` answers are remembered (a few hundred KB at most). */
const maxRememberedAnswers = 4_096;

/** A TRUSTED_PROXIES entry that is neither an IPv4/IPv6 address nor a CIDR. */
export class TrustedProxyError extends Error {}

/**
 * The reverse proxies and TLS terminators (TRUSTED_PROXIES) whose
 * X-Forwarded-For and Forwarded headers are believed: addresses and CIDRs of
 * both families. Nobody else's are, or any caller could name itself a fresh
 * address with every request and never be limited.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  /**
   * Answers already given, by address as asked: `BlockList.check` costs ~3 us
   * (it builds a SocketAddress each time), a Map lookup ~0.05 us, and a
   * request behind a proxy asks two or three times. Emptied when full, so a
   * caller inventing addresses cannot grow it.
   */
  private readonly answers = new Map<string, boolean>();

  /** Throws TrustedProxyError naming the first entry that is not an address or a CIDR. */
  constructor(readonly entries: readonly string[]) {
    entries.forEach((entry, index) => {
      if (entry === "") throw new TrustedProxyError(`entry ${index + 1} is empty (a comma too many?)`);
      this.add(entry);
    });
  }

  /** Parses a comma-separated list, e.g. `127.0.0.1,10.0.0.0/8,::1,fd00::/8` (spaces around entries allowed). */
  static parse(list: string): TrustedProxies {
    return new TrustedProxies(list.split(",").map((entry) => entry.trim()));
  }

  /** Whether the address (any textual form, IPv4-mapped IPv6 included) is one of the proxies. */
  includes(address: string): boolean {
    let answer = this.answers.get(address);
    if (answer === undefined) {
      const canonical = canonicalAddress(address);
      answer = canonical !== undefined && this.list.check(canonical, isIPv4(canonical) ? "ipv4" : "ipv6");
      if (this.answers.size >= maxRememberedAnswers) this.answers.clear();
      this.answers.set(address, answer);
    }
    return answer;
  }

  private add(entry: string): void {
    const invalid = () =>
      new TrustedProxyError(`${JSON.stringify(entry)} is not an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, fd00::/8)`);
    const [address, prefix, ...rest] = entry.split("/");
    const canonical = canonicalAddress(address);
    if (canonical === undefined || rest.length > 0 || canonical.includes("%")) throw invalid();
    const family = isIPv4(canonical) ? "ipv4" : "ipv6";
    if (prefix === undefined) return void this.list.addAddress(canonical, family);
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits <= (family === "ipv4" ? 32 : 128))) throw invalid();
    this.list.addSubnet(canonical, bits, family);
  }
}

/**
 * The client's address: the socket peer, unless the peer is a trusted proxy;
 * then the right-most entry of X-Forwarded-For that is not itself a trusted
 * proxy (entries to its right were appended by proxies we trust, the ones to
 * its left by whoever the client is, so only it can be believed), or, without
 * X-Forwarded-For, the same from the `for=` parameters of RFC 7239
 * `Forwarded`. A header that cannot be read falls back to the peer: never an
 * address the client could have chosen. Addresses are canonical (IPv4-mapped
 * IPv6 as IPv4, IPv6 compressed and lower case), so one client is one key.
 */
export function clientAddressOf(
  peer: string | undefined,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  trustedProxies: TrustedProxies | undefined,
): string {
  const peerAddress = (peer && canonicalAddress(peer)) || peer || "unknown";
  if (!trustedProxies || !trustedProxies.includes(peerAddress)) return peerAddress;
  const forwardedFor = joined(headers["x-forwarded-for"]);
  const chain = forwardedFor !== undefined ? forwardedForChain(forwardedFor) : forwardedChain(joined(headers.forwarded));
  return (chain && rightmostUntrusted(chain, trustedProxies)) ?? peerAddress;
}

/** Repeated headers as one comma-separated list, the way a list-valued header combines. */
function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(",") : value;
}

function rightmostUntrusted(chain: string[], trustedProxies: TrustedProxies): string | undefined {
  for (let index = chain.length - 1; index >= 0; index--) {
    const address = nodeAddress(chain[index]);
    // An entry we cannot read breaks the chain: nothing to its left can be trusted either.
    if (address === undefined) return undefined;
    // When every entry is a trusted proxy, the farthest one is the client.
    if (index === 0 || !trustedProxies.includes(address)) return address;
  }
  return undefined;
}

/** `X-Forwarded-For: client, proxy1, proxy2`; `undefined` when any entry is empty. */
function forwardedForChain(header: string): string[] | undefined {
  const chain = header.split(",").map((entry) => entry.trim());
  return chain.some((entry) => entry === "") ? undefined : chain;
}

const token = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const forwardedPair = new RegExp(`^(${token})=(?:(${token})|"((?:[^"\\\\]|\\\\.)*)")$`);

/**
 * The `for=` value of each element of RFC 7239 `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`;
 * `undefined` (fall back to the peer) for a missing header, a pair that is not
 * `token=value`, or an element without exactly one `for=`.
 */
function forwardedChain(header: string | undefined): string[] | undefined {
  if (header === undefined) return undefined;
  const chain: string[] = [];
  for (const element of splitOutsideQuotes(header, ",")) {
    if (element.trim() === "") continue; // the list syntax allows empty elements
    const forValues: string[] = [];
    for (const pair of splitOutsideQuotes(element, ";")) {
      if (pair.trim() === "") continue;
      const match = forwardedPair.exec(pair.trim());
      if (!match) return undefined;
      if (match[1].toLowerCase() === "for") forValues.push(match[2] ?? match[3].replace(/\\(.)/g, "$1"));
    }
    if (forValues.length !== 1) return undefined;
    chain.push(forValues[0]);
  }
  return chain.length > 0 ? chain : undefined;
}

/** Splits on `separator` where it is not inside a quoted string (a quoted value may hold `,` or `;`). */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quoted && char === "\\") index++;
    else if (char === '"') quoted = !quoted;
    else if (!quoted && char === separator) {
      parts.push(text.slice(start, index));
      start = index + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/**
 * One hop's address, with or without a port: `192.0.2.60`, `192.0.2.60:4711`,
 * `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:4711`; `undefined` for
 * anything else (`unknown`, obfuscated `_hidden` names, garbage).
 */
function nodeAddress(node: string): string | undefined {
  const match = /^(?:\[([^\]]+)\]|(\d{1,3}(?:\.\d{1,3}){3}))(?::\d{1,5})?$/.exec(node);
  const address = match ? (match[1] ?? match[2]) : node;
  // Brackets are for IPv6 only; a zone id names our interface, never a remote client.
  if (match?.[1] !== undefined && isIPv4(address)) return undefined;
  const canonical = canonicalAddress(address);
  return canonical === undefined || canonical.includes("%") ? undefined : canonical;
}

/**
 * The canonical text of an IP address: IPv4 as is, IPv4-mapped IPv6
 * (`::ffff:127.0.0.1`) as the IPv4 address, other IPv6 compressed and in
 * lower case (`2001:DB8:0::1` → `2001:db8::1`), a zone id kept; `undefined`
 * when it is not an address.
 */
export function canonicalAddress(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return address;
  // The common case first: an IPv4 client of a dual-stack listener.
  if (address.startsWith("::ffff:") && isIPv4(address.slice(7))) return address.slice(7);
  if (family !== 6) return undefined;
  const zone = address.indexOf("%");
  const base = zone < 0 ? address : address.slice(0, zone);
  // The URL parser writes IPv6 in the RFC 5952 form; mapped IPv4 comes out as two hex groups.
  const compressed = new URL(`http://[${base}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
  if (mapped) {
    const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return zone < 0 ? compressed : compressed + address.slice(zone);
}
