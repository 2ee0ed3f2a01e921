import { ScalarType, type DescField, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * proto3 JSON carries integers as numbers or as decimal strings. protobuf-es
 * reads 64-bit strings with `BigInt()` and 32-bit ones with `Number()`, which
 * also take hex (`"0x6b5328a0"`), octal, binary and surrounding whitespace
 * (`" 0o5214 "`): a request Google would never send, read as a time. A 64-bit
 * string must be a decimal integer (`-` allowed); a 32-bit one may also use
 * the fraction and exponent of a JSON number (`"1e3"`), as protobuf-es
 * accepts. Numbers (not strings) are left to the decoder.
 */
const decimal64 = /^-?\d+$/;
const decimal32 = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

const patterns = new Map<ScalarType, RegExp>([
  [ScalarType.INT64, decimal64],
  [ScalarType.UINT64, decimal64],
  [ScalarType.SINT64, decimal64],
  [ScalarType.FIXED64, decimal64],
  [ScalarType.SFIXED64, decimal64],
  [ScalarType.INT32, decimal32],
  [ScalarType.UINT32, decimal32],
  [ScalarType.SINT32, decimal32],
  [ScalarType.FIXED32, decimal32],
  [ScalarType.SFIXED32, decimal32],
]);

/** A message's fields by proto name and JSON name, built once per message type. */
const fieldsByMessage = new Map<DescMessage, Map<string, DescField>>();

/**
 * Refuses a proto3 JSON request (parsed, not yet decoded) that carries an
 * integer field as a string other than a decimal number, with
 * `invalid_argument` naming the field's proto path, e.g.
 * `slot.start_sec: must be a decimal integer, got "0x6b5328a0"`. Anything
 * else that is wrong (types, unknown enum names) is left to the decoder.
 */
export function checkJsonIntegers(schema: DescMessage, json: JsonValue): void {
  if (isObject(json)) checkObject(schema, json, "");
}

function checkObject(schema: DescMessage, json: JsonObject, path: string): void {
  const fields = fieldsOf(schema);
  for (const key in json) {
    const field = fields.get(key);
    const value = json[key];
    if (!field || value === null) continue;
    const at = path ? `${path}.${field.name}` : field.name;
    switch (field.fieldKind) {
      case "scalar":
        checkScalar(field.scalar, value, at);
        break;
      case "message":
        if (isObject(value)) checkObject(field.message, value, at);
        break;
      case "list":
        if (!Array.isArray(value)) break;
        if (field.listKind === "message") value.forEach((item, i) => isObject(item) && checkObject(field.message, item, `${at}[${i}]`));
        else if (field.listKind === "scalar") value.forEach((item, i) => checkScalar(field.scalar, item, `${at}[${i}]`));
        break;
      case "map":
        if (!isObject(value)) break;
        for (const entryKey in value) {
          const entry = value[entryKey];
          const entryPath = `${at}[${JSON.stringify(entryKey)}]`;
          if (field.mapKind === "message") isObject(entry) && checkObject(field.message, entry, entryPath);
          else if (field.mapKind === "scalar") checkScalar(field.scalar, entry, entryPath);
        }
        break;
    }
  }
}

function checkScalar(scalar: ScalarType, value: JsonValue, path: string): void {
  if (typeof value !== "string") return;
  const pattern = patterns.get(scalar);
  if (pattern && !pattern.test(value)) {
    const expected = pattern === decimal64 ? "a decimal integer" : "a decimal number";
    throw new ConnectError(`${path}: must be ${expected}, got ${JSON.stringify(value.slice(0, 40))}`, Code.InvalidArgument);
  }
}

function fieldsOf(schema: DescMessage): Map<string, DescField> {
  let fields = fieldsByMessage.get(schema);
  if (!fields) {
    fields = new Map(schema.fields.flatMap((field) => [[field.name, field], [field.jsonName, field]] as const));
    fieldsByMessage.set(schema, fields);
  }
  return fields;
}

function isObject(json: JsonValue): json is JsonObject {
  return typeof json === "object" && json !== null && !Array.isArray(json);
}
