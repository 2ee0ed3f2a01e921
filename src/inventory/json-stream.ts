import { parser } from "stream-json";
import { openFeedFile, type FeedFileStream } from "../feeds/feed-file-stream.js";

/**
 * Streaming access to large JSON feed files with stream-json: the file is
 * tokenized chunk by chunk and only one record at a time is built as a value,
 * so memory stays flat whatever the file size.
 *
 * Tokens are handled synchronously in the parser's "data" events (no promise
 * per token or record), which is what keeps a million-record import fast.
 */

/** A stream-json token with packed values (`packValues: true, streamValues: false`). */
export interface JsonToken {
  name:
    | "startObject"
    | "endObject"
    | "startArray"
    | "endArray"
    | "keyValue"
    | "stringValue"
    | "numberValue"
    | "nullValue"
    | "trueValue"
    | "falseValue";
  /** The key, the string, or a number's source text. */
  value?: string;
}

/** The file could not be read, is not valid JSON, or its structure is not the expected one. */
export class JsonStreamError extends Error {
  constructor(
    readonly reason: "read" | "syntax" | "shape",
    message: string,
  ) {
    super(message);
    this.name = "JsonStreamError";
  }
}

/**
 * Feeds every token of `file` (gunzipped when it is gzip, see
 * feed-file-stream.ts) to `onToken` until the end, or until `onToken` returns
 * true (the rest of the file is then not read). An error thrown by `onToken`
 * stops the stream and rejects with that same error.
 */
export async function streamJsonTokens(file: string, onToken: (token: JsonToken) => boolean | void): Promise<void> {
  let opened: FeedFileStream;
  try {
    opened = await openFeedFile(file, 1 << 20);
  } catch (error) {
    throw new JsonStreamError("read", `cannot read file: ${(error as Error).message}`);
  }
  const { file: input, bytes, gunzip } = opened;
  return new Promise((resolve, reject) => {
    const tokens = parser({ packValues: true, streamValues: false });
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      bytes.unpipe(tokens);
      input.destroy();
      gunzip?.destroy();
      tokens.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
    input.on("error", (error) => finish(new JsonStreamError("read", `cannot read file: ${error.message}`)));
    gunzip?.on("error", (error) => finish(new JsonStreamError("read", `cannot decompress the gzip file: ${error.message}`)));
    tokens.on("error", (error) => finish(new JsonStreamError("syntax", `invalid JSON: ${error.message}`)));
    tokens.on("data", (token: JsonToken) => {
      if (settled) return;
      try {
        if (onToken(token) === true) finish();
      } catch (error) {
        finish(error);
      }
    });
    tokens.on("end", () => finish());
    bytes.pipe(tokens);
  });
}

/**
 * Builds one JSON value from its tokens. Numbers become JS numbers (int64
 * fields beyond 2^53 must be written as strings, as proto3 JSON does anyway).
 */
export class ValueBuilder {
  private readonly containers: (Record<string, unknown> | unknown[])[] = [];
  private readonly keys: (string | null)[] = [];
  private key: string | null = null;
  private root: unknown = undefined;

  /** Consumes one token; returns true when the value is complete (then read `take()`). */
  push(token: JsonToken): boolean {
    switch (token.name) {
      case "startObject":
        this.open({});
        return false;
      case "startArray":
        this.open([]);
        return false;
      case "endObject":
      case "endArray":
        this.containers.pop();
        this.key = this.keys.pop() ?? null;
        return this.containers.length === 0;
      case "keyValue":
        this.key = token.value!;
        return false;
      case "stringValue":
        return this.add(token.value!);
      case "numberValue":
        return this.add(Number(token.value));
      case "nullValue":
        return this.add(null);
      case "trueValue":
        return this.add(true);
      case "falseValue":
        return this.add(false);
    }
  }

  /** The completed value; the builder is ready for the next one. */
  take(): unknown {
    const value = this.root;
    this.root = undefined;
    this.key = null;
    return value;
  }

  private open(container: Record<string, unknown> | unknown[]): void {
    if (this.containers.length === 0) this.root = container;
    else this.attach(container);
    this.keys.push(this.key);
    this.key = null;
    this.containers.push(container);
  }

  private add(value: unknown): boolean {
    if (this.containers.length === 0) {
      this.root = value;
      return true;
    }
    this.attach(value);
    return false;
  }

  private attach(value: unknown): void {
    const parent = this.containers[this.containers.length - 1];
    if (Array.isArray(parent)) {
      parent.push(value);
    } else if (this.key === "__proto__") {
      // As JSON.parse does: an own property, never the prototype.
      Object.defineProperty(parent, "__proto__", { value, enumerable: true, writable: true, configurable: true });
    } else {
      parent[this.key!] = value;
    }
  }
}

const isStart = (token: JsonToken) => token.name === "startObject" || token.name === "startArray";
const isEnd = (token: JsonToken) => token.name === "endObject" || token.name === "endArray";

/**
 * Returns the first top-level key of `file`'s object that is in `keys`, or
 * null when there is none; stops reading at that key. Throws
 * `JsonStreamError` when the top level is not an object.
 */
export async function findTopLevelKey(file: string, keys: ReadonlySet<string>): Promise<string | null> {
  let depth = 0;
  let found: string | null = null;
  await streamJsonTokens(file, (token) => {
    if (depth === 0 && token.name !== "startObject") {
      throw new JsonStreamError("shape", "the top level must be a JSON object");
    }
    if (isStart(token)) depth++;
    else if (isEnd(token)) depth--;
    else if (depth === 1 && token.name === "keyValue" && keys.has(token.value!)) {
      found = token.value!;
      return true;
    }
    return false;
  });
  return found;
}

/** Where a record was found. */
export interface RecordPosition {
  /** 0-based index among all records of the file. */
  index: number;
  /** The array index at each level of the record path, e.g. [2, 5] for service_availability[2].availability[5]. */
  arrayIndexes: readonly number[];
}

/**
 * Streams the records found under `recordPath` in `file`: `["availability"]`
 * means the elements of the top-level `availability` array;
 * `["service_availability", "availability"]` the elements of the
 * `availability` array of every element of the top-level
 * `service_availability` array. Everything else is skipped (the parser still
 * checks its syntax). `onTopLevelKey` sees each top-level key. Resolves with
 * the number of records.
 */
export async function streamRecords(
  file: string,
  recordPath: readonly string[],
  onRecord: (record: unknown, position: RecordPosition) => void,
  onTopLevelKey?: (key: string) => void,
): Promise<number> {
  const last = recordPath.length - 1;
  const builder = new ValueBuilder();
  const arrayIndexes = recordPath.map(() => -1);
  let records = 0;
  let building = false;
  /** Depth of a skipped container still open (0: not skipping). */
  let skipping = 0;
  /**
   * How many containers on the record path are open. Odd n: the innermost is
   * the object of level (n-1)/2 (the top-level object is level 0); even n:
   * the array under recordPath[(n-2)/2].
   */
  let open = 0;
  /** Set by a key of the innermost (on-path) object: its value must be that level's array. */
  let pathKeyPending = false;

  const emit = () => {
    building = false;
    onRecord(builder.take(), { index: records++, arrayIndexes });
  };
  const where = (level: number) => recordPath.slice(0, level + 1).map((key, i) => (i < level ? `${key}[]` : key)).join(".");

  await streamJsonTokens(file, (token) => {
    if (building) {
      if (builder.push(token)) emit();
      return;
    }
    if (skipping > 0) {
      if (isStart(token)) skipping++;
      else if (isEnd(token)) skipping--;
      return;
    }
    if (open === 0) {
      if (token.name !== "startObject") throw new JsonStreamError("shape", "the top level must be a JSON object");
      open = 1;
      return;
    }
    if (token.name === "keyValue") {
      const level = (open - 1) / 2;
      if (level === 0) onTopLevelKey?.(token.value!);
      pathKeyPending = token.value === recordPath[level];
      return;
    }
    if (isEnd(token)) {
      open--;
      pathKeyPending = false;
      return;
    }
    if (open % 2 === 1) {
      // The value of a key of an on-path object.
      if (pathKeyPending) {
        pathKeyPending = false;
        const level = (open - 1) / 2;
        if (token.name !== "startArray") throw new JsonStreamError("shape", `"${where(level)}" must be an array`);
        arrayIndexes[level] = -1;
        open++;
      } else if (isStart(token)) {
        skipping = 1;
      }
      return;
    }
    // An element of an on-path array.
    const level = (open - 2) / 2;
    arrayIndexes[level]++;
    if (level === last) {
      building = true;
      if (builder.push(token)) emit();
    } else if (token.name === "startObject") {
      open++;
    } else {
      throw new JsonStreamError("shape", `each element of "${where(level)}" must be an object`);
    }
  });
  return records;
}
