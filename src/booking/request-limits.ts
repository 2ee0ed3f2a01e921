import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "./errors.js";

/**
 * A limit for the request fields whose proto name matches `fields`: the
 * longest string (in characters, i.e. Unicode code points) or the most
 * entries of a repeated or map field.
 */
export interface FieldLimit {
  fields: RegExp;
  max: number;
  /** Why this limit fits every real request (shown in README's "Request limits"). */
  why: string;
}

/**
 * The longest string a request field may hold; the first row whose pattern
 * matches the field's proto name applies, and the last row matches every
 * name, so a field added to the protos is limited by its name alone.
 */
export const stringLimits: readonly FieldLimit[] = [
  {
    fields: /^(unparsed_payment_method_token|payment_method_token|pa_response|fraud_signals)$/,
    max: 16 * 1024,
    why: "processor payment tokens, 3-D Secure results and fraud signals are JSON or base64 blobs of 1-6 KiB",
  },
  { fields: /^email$/, max: 320, why: "RFC 5321: a 64-character local part, @ and a 255-character domain" },
  { fields: /^telephone$/, max: 64, why: "E.164 numbers have at most 15 digits; room for separators and an extension" },
  { fields: /_name$/, max: 256, why: "Google's proto caps given and family names at 40 characters" },
  {
    fields: /(_id|_token|_tag|_reference|_code)$/,
    max: 255,
    why: "ids, idempotency and page tokens, availability tags and ISO codes are short opaque keys",
  },
  { fields: /(?:)/, max: 4096, why: "free text (additional_request, descriptions, addresses, URLs) and every other string" },
];

/** The most entries a repeated or map field may have (first match applies, the last row matches every name). */
export const countLimits: readonly FieldLimit[] = [
  {
    fields: /^slot_time$/,
    max: 5000,
    why: "a page-load BatchAvailabilityLookup asks for a merchant's slots over days: hundreds, not thousands",
  },
  { fields: /(?:)/, max: 100, why: "statuses, card networks and tokenization parameters are a handful each" },
];

/** Map keys are names (e.g. tokenization_parameter's `gateway`): the identifier limit. */
const mapKeyLimit = 255;

type Check = (message: Record<string, unknown>, path: string) => void;

const checksByMessage = new Map<DescMessage, Check[]>();

/**
 * Refuses a request whose strings or repeated fields are longer than the
 * limits above, naming the first such field by its proto path, e.g.
 * `user_information.given_name: is 102400 characters, at most 256`.
 * Walks only the fields that are set, with a check list compiled once per
 * message type: about a microsecond for a CreateBooking.
 */
export function checkRequestLimits(schema: DescMessage, message: object): void {
  checkMessage(schema, message as Record<string, unknown>, "");
}

function checkMessage(schema: DescMessage, message: Record<string, unknown>, path: string): void {
  for (const check of checksOf(schema)) check(message, path);
}

function checksOf(schema: DescMessage): Check[] {
  let checks = checksByMessage.get(schema);
  if (!checks) {
    // Compiled lazily per message, so a self-referencing message type compiles once.
    checks = schema.fields.flatMap(fieldCheck);
    checksByMessage.set(schema, checks);
  }
  return checks;
}

function fieldCheck(field: DescField): Check[] {
  const read = reader(field);
  const name = field.name;
  switch (field.fieldKind) {
    case "scalar": {
      if (field.scalar !== ScalarType.STRING) return [];
      const max = limitFor(stringLimits, name);
      return [(message, path) => checkString(read(message) as string | undefined, max, join(path, name))];
    }
    case "message":
      return [
        (message, path) => {
          const value = read(message) as Record<string, unknown> | undefined;
          if (value !== undefined) checkMessage(field.message, value, join(path, name));
        },
      ];
    case "list": {
      const maxCount = limitFor(countLimits, name);
      const maxString = field.listKind === "scalar" && field.scalar === ScalarType.STRING ? limitFor(stringLimits, name) : undefined;
      return [
        (message, path) => {
          const items = read(message) as unknown[];
          if (items.length === 0) return;
          const at = join(path, name);
          checkCount(items.length, maxCount, at);
          if (field.listKind === "message") items.forEach((item, i) => checkMessage(field.message, item as Record<string, unknown>, `${at}[${i}]`));
          else if (maxString !== undefined) items.forEach((item, i) => checkString(item as string, maxString, `${at}[${i}]`));
        },
      ];
    }
    case "map": {
      const maxCount = limitFor(countLimits, name);
      const maxString = field.mapKind === "scalar" && field.scalar === ScalarType.STRING ? limitFor(stringLimits, name) : undefined;
      return [
        (message, path) => {
          const entries = Object.entries(read(message) as Record<string, unknown>);
          if (entries.length === 0) return;
          const at = join(path, name);
          checkCount(entries.length, maxCount, at);
          for (const [key, value] of entries) {
            checkString(key, mapKeyLimit, `${at} key`);
            const entryPath = `${at}[${JSON.stringify(key)}]`;
            if (field.mapKind === "message") checkMessage(field.message, value as Record<string, unknown>, entryPath);
            else if (maxString !== undefined) checkString(value as string, maxString, entryPath);
          }
        },
      ];
    }
    default:
      return [];
  }
}

/** How a field's value is read from a message: a oneof member lives under its oneof's name. */
function reader(field: DescField): (message: Record<string, unknown>) => unknown {
  const oneof = field.oneof;
  if (oneof) {
    return (message) => {
      const selected = message[oneof.localName] as { case: string | undefined; value?: unknown };
      return selected.case === field.localName ? selected.value : undefined;
    };
  }
  return (message) => message[field.localName];
}

function checkString(value: string | undefined, max: number, path: string): void {
  // UTF-16 length is at least the number of characters: only longer strings are counted.
  if (value === undefined || value.length <= max) return;
  let characters = 0;
  for (const _ of value) characters += 1;
  if (characters > max) throw new InvalidArgumentError(path, `is ${characters} characters, at most ${max}`);
}

function checkCount(count: number, max: number, path: string): void {
  if (count > max) throw new InvalidArgumentError(path, `has ${count} entries, at most ${max}`);
}

function limitFor(limits: readonly FieldLimit[], name: string): number {
  return limits.find((limit) => limit.fields.test(name))!.max;
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}
