import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";

/**
 * A feed file's bytes as a stream, gunzipped when the file is gzip: Google
 * takes feeds gzipped, and a partner's `.json` may well be one. The format is
 * told by the file's first bytes (gzip's magic number, 1f 8b), not by its
 * name; valid JSON never starts with them.
 */

const gzipMagic = [0x1f, 0x8b] as const;

/** Whether `file` starts with gzip's magic number; rejects when it cannot be read. */
export async function isGzipFile(file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(gzipMagic.length), 0, gzipMagic.length, 0);
    return bytesRead === gzipMagic.length && gzipMagic.every((byte, i) => buffer[i] === byte);
  } finally {
    await handle.close();
  }
}

/** The streams a feed is read through: `file` is the file's own (destroy it to stop), `bytes` what to parse. */
export interface FeedFileStream {
  file: Readable;
  bytes: Readable;
  /** Set when the file is gzip: its errors are the file's content's, not the file system's. */
  gunzip?: Readable;
}

/**
 * Opens `file` for reading in reads of `highWaterMark` bytes, gunzipped
 * when it is gzip (`isGzipFile`).
 */
export async function openFeedFile(file: string, highWaterMark: number): Promise<FeedFileStream> {
  const gzipped = await isGzipFile(file);
  const input = createReadStream(file, { highWaterMark });
  if (!gzipped) return { file: input, bytes: input };
  const gunzip = createGunzip({ chunkSize: highWaterMark });
  return { file: input, bytes: input.pipe(gunzip), gunzip };
}
