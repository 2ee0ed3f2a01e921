import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A real file system of its own (tmpfs), so a test can fill it or remount it
 * read-only under a running server. Needs root (CI and `make test` here run
 * as root); elsewhere `mountSmallFilesystem` returns undefined and the tests
 * that need one are skipped, saying why.
 */
export interface SmallFilesystem {
  dir: string;
  /** Writes a file until the file system has no byte left. */
  fill(): void;
  remountReadOnly(): void;
  unmount(): void;
}

export function mountSmallFilesystem(sizeBytes: number): SmallFilesystem | undefined {
  const dir = mkdtempSync(join(tmpdir(), "small-fs-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir]);
  if (mounted.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const run = (command: string, args: string[]) => {
    const result = spawnSync(command, args, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${result.stderr}`);
  };
  return {
    dir,
    fill: () => {
      const filler = Buffer.alloc(4096);
      const path = join(dir, "filler");
      try {
        for (;;) writeFileSync(path, filler, { flag: "a" });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      }
      // What is left is smaller than a page: fill it byte by byte.
      try {
        for (;;) writeFileSync(path, Buffer.alloc(1), { flag: "a" });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      }
    },
    remountReadOnly: () => run("mount", ["-o", "remount,ro", dir]),
    unmount: () => {
      spawnSync("umount", ["-l", dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether this process may mount one (probed once). */
export const canMountSmallFilesystem = (() => {
  const probe = mountSmallFilesystem(64 * 1024);
  probe?.unmount();
  return probe !== undefined;
})();
