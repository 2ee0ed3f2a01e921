import { fromJson, type DescField, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { checkJsonIntegers } from "./check-json-integers.js";

/**
 * Decodes a REST body (proto3 JSON) into a message of `desc`. Keys the schema
 * does not know are dropped at every level, so Google may add fields; the rest
 * is parsed strictly, so a wrong type or an unknown enum name is an invalid
 * argument that names the field path (e.g. `slot.confirmation_mode`), and so
 * is an integer given as a string that is not decimal (`checkJsonIntegers`).
 *
 * (protobuf-es's `ignoreUnknownFields` is not used: besides unknown keys it
 * also drops unknown enum names silently, turning a malformed request into a
 * request with the enum's default.)
 */
export function decodeRestBody(desc: DescMessage, json: JsonValue) {
  checkJsonIntegers(desc, json);
  try {
    // Most requests have no key the schema does not know: one strict pass.
    return fromJson(desc, json);
  } catch {
    // Unknown keys, or malformed: drop the unknown keys and parse again.
  }
  const known = knownFields(desc, json, "", false);
  try {
    return fromJson(desc, known);
  } catch (error) {
    // Only a malformed request pays for finding which field is wrong.
    knownFields(desc, json, "", true);
    throw invalid("request body", (error as Error).message);
  }
}

/**
 * The JSON object without the keys `desc` does not know. With `checkScalars`,
 * each scalar and enum is also decoded alone, to name the first malformed one.
 */
function knownFields(desc: DescMessage, json: JsonValue, path: string, checkScalars: boolean): JsonObject {
  if (!isObject(json)) throw invalid(path || "request body", `must be a JSON object, got ${kindOf(json)}`);
  const known: JsonObject = {};
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((candidate) => candidate.name === key || candidate.jsonName === key);
    if (!field) continue;
    const fieldPath = path ? `${path}.${field.name}` : field.name;
    known[key] = value === null ? null : knownValue(desc, field, key, value, fieldPath, checkScalars);
  }
  return known;
}

function knownValue(
  desc: DescMessage,
  field: DescField,
  key: string,
  value: JsonValue,
  path: string,
  checkScalars: boolean,
): JsonValue {
  switch (field.fieldKind) {
    case "message":
      return knownFields(field.message, value, path, checkScalars);
    case "list":
      if (!Array.isArray(value)) throw invalid(path, `must be a JSON array, got ${kindOf(value)}`);
      if (field.listKind === "message") return value.map((item, i) => knownFields(field.message, item, `${path}[${i}]`, checkScalars));
      break;
    case "map":
      if (!isObject(value)) throw invalid(path, `must be a JSON object, got ${kindOf(value)}`);
      if (field.mapKind === "message") {
        return Object.fromEntries(
          Object.entries(value).map(([k, v]) => [k, knownFields(field.message, v, `${path}[${JSON.stringify(k)}]`, checkScalars)]),
        );
      }
      break;
  }
  if (checkScalars) {
    try {
      fromJson(desc, { [key]: value });
    } catch (error) {
      throw invalid(path, (error as Error).message);
    }
  }
  return value;
}

function isObject(json: JsonValue): json is JsonObject {
  return typeof json === "object" && json !== null && !Array.isArray(json);
}

function kindOf(json: JsonValue): string {
  if (json === null) return "null";
  return Array.isArray(json) ? "an array" : `a ${typeof json}`;
}

function invalid(path: string, reason: string): ConnectError {
  return new ConnectError(`${path}: ${reason}`, Code.InvalidArgument);
}
