import type { ReadRecord } from "./record-importer.js";

/**
 * One file's chunks on their way to the store, imported in the order they
 * were added, one `importChunk` at a time; after a failure the chunks still
 * queued are dropped and the failure is kept, for `throwIfFailed` and `drain`.
 *
 * Memory stays bounded although the stream cannot be paused from its
 * callback: staging waits for a turn of the event loop (the store runs it
 * between its transactions), and in one turn the stream parses a whole read
 * of the file (1 MiB, see json-stream.ts), several chunks' worth. One chunk
 * staged per turn would fall further behind with every read (a 200,000-slot
 * file had 177 of its 200 chunks waiting at once); so whenever the store is
 * done with a call, every chunk queued meanwhile goes in the next one. What is
 * held is then at most the records of about two reads of the file: those
 * being staged, and those parsed while they are (a few thousand each, ~16,000
 * for the smallest valid slot records).
 */
export class ChunkQueue {
  private queued: { records: readonly ReadRecord[]; stage: boolean }[] = [];
  /** The loop importing what is queued, while it runs. */
  private running: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(private readonly importChunk: (records: readonly ReadRecord[], stage: boolean) => Promise<void>) {}

  /** Queues `records` to be checked and, when `stage`, staged. */
  add(records: readonly ReadRecord[], stage: boolean): void {
    if (this.failure !== undefined) return;
    this.queued.push({ records, stage });
    this.running ??= this.run();
  }

  private async run(): Promise<void> {
    try {
      while (this.queued.length > 0 && this.failure === undefined) {
        // Every chunk queued since the last call (those with the same `stage`: only a file's last chunk may be check-only).
        const { stage } = this.queued[0];
        const end = this.queued.findIndex((entry) => entry.stage !== stage);
        const taken = this.queued.splice(0, end === -1 ? this.queued.length : end);
        try {
          await this.importChunk(taken.length === 1 ? taken[0].records : taken.flatMap((entry) => entry.records), stage);
        } catch (error) {
          this.failure = { error };
          this.queued = [];
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  /** Throws the error of a chunk that has failed, if one has. */
  throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }

  /** Resolves once every queued chunk is done; rejects with the first failure. */
  async drain(): Promise<void> {
    await this.running;
    this.throwIfFailed();
  }
}
