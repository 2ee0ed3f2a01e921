import { fromJson, ScalarType, type DescField, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";

/**
 * The strict reading of a booking server's answer, the way Google's client
 * reads it: proto field names (snake_case), int64 as JSON strings, enums by
 * name, and nothing the v3 message does not declare.
 *
 * protobuf-es' `fromJson` (with `ignoreUnknownFields: false`) catches unknown
 * fields, wrong types and unknown enum names, but it also accepts what proto3
 * JSON allows a parser to accept and Google's samples never send: lowerCamelCase
 * names, enum numbers, int64 as JSON numbers. `shapeProblems` walks the
 * descriptor first to name those.
 */

/** An answer whose shape is not Google's; the message lists every problem found. */
export class ShapeError extends Error {
  constructor(
    what: string,
    readonly problems: string[],
  ) {
    super(`${what} is not v3 JSON as Google reads it: ${problems.join("; ")}`);
    this.name = "ShapeError";
  }
}

const int64Types: ReadonlySet<ScalarType> = new Set([
  ScalarType.INT64,
  ScalarType.UINT64,
  ScalarType.SINT64,
  ScalarType.FIXED64,
  ScalarType.SFIXED64,
]);

/** Where in the answer a problem is, e.g. `booking.slot.start_sec`. */
function at(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

/**
 * What in `json` is not the proto3 JSON Google's client expects for `desc`,
 * each problem naming its path; empty when the answer is in shape.
 */
export function shapeProblems(desc: DescMessage, json: unknown, path = ""): string[] {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return [`${path || "the answer"} must be a JSON object (${desc.name})`];
  }
  const problems: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((candidate) => candidate.name === key);
    if (field) {
      if (value !== null) problems.push(...valueProblems(field, value, at(path, key)));
      continue;
    }
    const camel = desc.fields.find((candidate) => candidate.jsonName === key);
    problems.push(
      camel
        ? `${at(path, key)} is a lowerCamelCase name: Google reads proto field names ("${camel.name}")`
        : `${at(path, key)} is not a field of ${desc.name}`,
    );
  }
  return problems;
}

function valueProblems(field: DescField, value: unknown, path: string): string[] {
  switch (field.fieldKind) {
    case "scalar":
      return scalarProblems(field.scalar, value, path);
    case "enum":
      return enumProblems(value, path);
    case "message":
      return shapeProblems(field.message, value, path);
    case "list": {
      if (!Array.isArray(value)) return [`${path} must be a JSON array`];
      return value.flatMap((item, index) => {
        const itemPath = `${path}[${index}]`;
        if (field.listKind === "message") return shapeProblems(field.message, item, itemPath);
        if (field.listKind === "enum") return enumProblems(item, itemPath);
        return scalarProblems(field.scalar, item, itemPath);
      });
    }
    case "map": {
      if (typeof value !== "object" || Array.isArray(value)) return [`${path} must be a JSON object`];
      return Object.entries(value as Record<string, unknown>).flatMap(([key, item]) => {
        const itemPath = `${path}["${key}"]`;
        if (field.mapKind === "message") return shapeProblems(field.message, item, itemPath);
        if (field.mapKind === "enum") return enumProblems(item, itemPath);
        return scalarProblems(field.scalar, item, itemPath);
      });
    }
  }
}

function scalarProblems(type: ScalarType, value: unknown, path: string): string[] {
  if (int64Types.has(type) && typeof value !== "string") {
    return [`${path} is a 64-bit integer written as ${JSON.stringify(value)}: Google reads int64 as a JSON string`];
  }
  return [];
}

function enumProblems(value: unknown, path: string): string[] {
  return typeof value === "string" ? [] : [`${path} is an enum given as ${JSON.stringify(value)}: Google reads enum names`];
}

/**
 * The answer as a `desc` message, read strictly; throws a `ShapeError`
 * naming `what` (e.g. "the CreateBooking answer") when it is not in shape.
 */
export function decodeStrict<Desc extends DescMessage>(desc: Desc, json: unknown, what: string): MessageShape<Desc> {
  const problems = shapeProblems(desc, json);
  if (problems.length > 0) throw new ShapeError(what, problems);
  try {
    return fromJson(desc, json as JsonValue, { ignoreUnknownFields: false });
  } catch (error) {
    throw new ShapeError(what, [(error as Error).message]);
  }
}
