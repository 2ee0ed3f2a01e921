import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";

/**
 * The database, its WAL and shared-memory files and its backups hold guests'
 * names, phones and emails: they are readable by their owner only (0600), in
 * a directory only the owner can enter when we create it (0700), whatever the
 * process's umask. (SQLite creates the WAL and SHM files with the database
 * file's own mode, so a private database file makes them private too.)
 */
const privateFileMode = 0o600;
const privateDirectoryMode = 0o700;

/**
 * Makes `path`'s directory (0700 when created here; an existing directory is
 * the operator's and left as it is) and the file itself (created empty and
 * 0600 if missing; an existing one, and its -wal and -shm files, made 0600).
 */
export function preparePrivateDatabaseFile(path: string): void {
  ensurePrivateDirectory(dirname(path));
  createPrivateFile(path, { exclusive: false });
  for (const companion of [`${path}-wal`, `${path}-shm`]) restrictToOwner(companion);
}

/** Creates `directory` (and its parents) 0700 if missing; an existing one is the operator's and left as it is. */
export function ensurePrivateDirectory(directory: string): void {
  if (existsSync(directory)) return;
  mkdirSync(directory, { recursive: true, mode: privateDirectoryMode });
  chmodSync(directory, privateDirectoryMode);
}

/**
 * Creates `path` empty with mode 0600 (a database, a backup destination), so
 * its content is never readable by others, even for a moment. With
 * `exclusive`, an existing file is an error (EEXIST); without, it is only
 * made private.
 */
export function createPrivateFile(path: string, options: { exclusive: boolean }): void {
  if (!options.exclusive && existsSync(path)) return restrictToOwner(path);
  closeSync(openSync(path, "wx", privateFileMode));
  restrictToOwner(path);
}

function restrictToOwner(path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return; // not there (yet): SQLite creates it later with the database file's mode
  }
  if (mode === privateFileMode) return;
  try {
    chmodSync(path, privateFileMode);
  } catch (error) {
    // A read-only file system: the server still serves reads (see readiness), so this is no reason to stop.
    if ((error as NodeJS.ErrnoException).code !== "EROFS") throw error;
  }
}
