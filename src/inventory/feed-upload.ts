import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, posix } from "node:path";
import SftpClient from "ssh2-sftp-client";

/**
 * Puts exported feed files on an SFTP server: Google's dropbox for a
 * partner's feeds (its host, user and key come from the Partner Portal).
 * Through ssh2-sftp-client, on ssh2 (pure JavaScript, maintained, used by
 * millions of installs): each file streams from disk, one after the other.
 */

/** Where feeds go: `sftp://user@host[:port]/dir`. */
export interface SftpTarget {
  username: string;
  host: string;
  port: number;
  /** The remote directory (absolute, or relative to the user's home when it starts with `/~/`). */
  dir: string;
}

/** A target or an upload the caller got wrong, in one sentence (the CLI prints it without a stack). */
export class UploadError extends Error {
  override name = "UploadError";
}

/** Parses `sftp://user@host[:port]/dir`; throws an `UploadError` saying what is missing. */
export function sftpTarget(text: string): SftpTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UploadError(`--upload must be an sftp://user@host[:port]/dir URL, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== "sftp:") throw new UploadError(`--upload must be an sftp:// URL, got ${JSON.stringify(text)}`);
  if (!url.username) throw new UploadError(`--upload needs the user: sftp://user@${url.host}${url.pathname}`);
  const dir = decodeURIComponent(url.pathname);
  if (dir === "" || dir === "/") throw new UploadError(`--upload needs the directory: sftp://${url.username}@${url.host}/dir`);
  return {
    username: decodeURIComponent(url.username),
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : 22,
    dir: dir.startsWith("/~/") ? dir.slice(3) : dir,
  };
}

/** OpenSSH's form of a host key's fingerprint (`ssh-keygen -l`): `SHA256:` and the unpadded base64 of its hash. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

export interface UploadOptions {
  /** The private key file (OpenSSH or PEM format, unencrypted). */
  identityFile: string;
  /**
   * The server's host key fingerprint (`SHA256:...`, as `ssh-keygen -lf` or
   * `ssh-keyscan | ssh-keygen -lf -` print it): any other key is refused
   * before the key is offered. Without it the key seen is reported, not checked.
   */
  hostKeySha256?: string;
  /** Gives up connecting after this long (ms). */
  readyTimeoutMs?: number;
}

/** Uploads `files` into the target's directory under their own names; resolves with the host key fingerprint seen. */
export async function uploadFeeds(files: readonly string[], target: SftpTarget, options: UploadOptions): Promise<{ hostKey: string }> {
  let privateKey: Buffer;
  try {
    privateKey = readFileSync(options.identityFile);
  } catch (error) {
    throw new UploadError(`cannot read the identity file ${options.identityFile}: ${(error as Error).message}`);
  }
  let hostKey = "";
  const client = new SftpClient("booking-server");
  try {
    await client.connect({
      host: target.host,
      port: target.port,
      username: target.username,
      privateKey,
      readyTimeout: options.readyTimeoutMs ?? 20_000,
      hostVerifier: (key: Buffer) => {
        hostKey = hostKeyFingerprint(key);
        return options.hostKeySha256 === undefined || hostKey === options.hostKeySha256;
      },
    });
  } catch (error) {
    const refused = options.hostKeySha256 !== undefined && hostKey !== "" && hostKey !== options.hostKeySha256;
    throw new UploadError(
      refused
        ? `${target.host}:${target.port} presented host key ${hostKey}, not ${options.hostKeySha256}: nothing uploaded`
        : `cannot connect to ${target.username}@${target.host}:${target.port}: ${(error as Error).message}`,
    );
  }
  try {
    for (const file of files) {
      const remote = posix.join(target.dir, basename(file));
      try {
        await client.put(file, remote);
      } catch (error) {
        throw new UploadError(`cannot upload ${file} to ${remote}: ${(error as Error).message}`);
      }
    }
  } finally {
    await client.end();
  }
  return { hostKey };
}
