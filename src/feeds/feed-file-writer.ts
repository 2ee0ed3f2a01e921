import { createWriteStream, existsSync, type WriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { once } from "node:events";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { createGzip } from "node:zlib";

/**
 * A feed file written as a stream, gzipped when asked: text is gathered into
 * writes of `bufferBytes` and each waits while the stream's buffer is full,
 * so a feed of any size goes to disk with little memory. The file is written
 * under a temporary name next to it and renamed when finished: a reader (an
 * upload, Google's dropbox) never sees half a feed, and an export that fails
 * leaves no file behind.
 */

const bufferBytes = 64 * 1024;

export class FeedFileWriter {
  private buffered: string[] = [];
  private bufferedLength = 0;

  private constructor(
    /** Where the file will be once finished. */
    readonly path: string,
    private readonly partialPath: string,
    private readonly file: WriteStream,
    /** What is written to: the file, or the gzip stream in front of it. */
    private readonly sink: Writable,
  ) {}

  /** Opens `path` (as `path.partial` until `finish`); rejects when the file exists already or cannot be created. */
  static async create(path: string, gzip: boolean): Promise<FeedFileWriter> {
    if (existsSync(path)) throw new Error(`${path} exists already: export into an empty directory, or move the earlier feeds away`);
    const partialPath = `${path}.partial`;
    const file = createWriteStream(partialPath, { flags: "wx" });
    await once(file, "open");
    let sink: Writable = file;
    if (gzip) {
      const compressor = createGzip();
      compressor.pipe(file);
      sink = compressor;
    }
    return new FeedFileWriter(path, partialPath, file, sink);
  }

  /** Adds `text` to the file. */
  async write(text: string): Promise<void> {
    this.buffered.push(text);
    this.bufferedLength += text.length;
    if (this.bufferedLength >= bufferBytes) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffered.length === 0) return;
    const chunk = this.buffered.join("");
    this.buffered = [];
    this.bufferedLength = 0;
    if (!this.sink.write(chunk)) await once(this.sink, "drain");
  }

  /** Writes what is left, closes the file and gives it its name; resolves with its size in bytes. */
  async finish(): Promise<number> {
    await this.flush();
    this.sink.end();
    await finished(this.file);
    await rename(this.partialPath, this.path);
    return (await stat(this.path)).size;
  }

  /** Closes and removes the partial file (after a failure). */
  async abandon(): Promise<void> {
    this.sink.destroy();
    this.file.destroy();
    await rm(this.partialPath, { force: true });
  }
}
