import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { runCli } from "../support/server-process";

/**
 * `export-feeds --upload` end to end against Debian's OpenSSH server
 * (packages openssh-server and openssh-sftp-server), started here on a
 * loopback port with its own host key, one authorized key and the sftp
 * subsystem: the feeds land in the remote directory byte for byte. Needs
 * dist/ and /usr/sbin/sshd (skipped, saying so, without it).
 */

const sshd = "/usr/sbin/sshd";
const haveSshd = existsSync(sshd) && spawnSync("ssh-keygen", ["-?"]).error === undefined;
if (!haveSshd) console.warn("feed-upload: /usr/sbin/sshd or ssh-keygen missing (apt-get install openssh-server openssh-sftp-server): skipped");
const describeWithSshd = haveSshd ? describe : describe.skip;

const repoRoot = join(__dirname, "..", "..");
const demoFeeds = ["merchants.json", "services.json", "availability.json"].map((name) => join(repoRoot, "examples", "feeds", name));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not listen on ${port}: ${output()}`);
}

function keygen(file: string): string {
  const made = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`ssh-keygen: ${made.stderr}`);
  return readFileSync(`${file}.pub`, "utf8");
}

/** `SHA256:...` of a public key file, as ssh-keygen prints it. */
function fingerprint(publicKeyFile: string): string {
  return spawnSync("ssh-keygen", ["-lf", publicKeyFile], { encoding: "utf8" }).stdout.split(" ")[1];
}

describeWithSshd("export-feeds --upload to an OpenSSH SFTP server", () => {
  let dir: string;
  let port: number;
  let server: ChildProcess;
  let serverOutput = "";
  let dbPath: string;
  const user = userInfo().username;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "feed-upload-"));
    keygen(join(dir, "host_key"));
    writeFileSync(join(dir, "authorized_keys"), keygen(join(dir, "partner_key")));
    keygen(join(dir, "stranger_key"));
    mkdirSync(join(dir, "dropbox"));
    port = await freePort();
    const config = join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${join(dir, "host_key")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        // The temporary directory is not a home directory's private one.
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "Subsystem sftp internal-sftp",
      ].join("\n") + "\n",
    );
    // sshd's privilege separation directory (made by the package's service, which is not running here).
    mkdirSync("/run/sshd", { recursive: true });
    server = spawn(sshd, ["-D", "-e", "-f", config], { stdio: ["ignore", "pipe", "pipe"] });
    server.stdout!.on("data", (chunk) => (serverOutput += chunk));
    server.stderr!.on("data", (chunk) => (serverOutput += chunk));
    await waitForPort(port, server, () => serverOutput);

    dbPath = join(dir, "booking.db");
    expect(runCli(["import", "--db", dbPath, ...demoFeeds]).status).toBe(0);
  }, 60_000);

  afterAll(() => {
    server?.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });

  const url = () => `sftp://${user}@127.0.0.1:${port}${join(dir, "dropbox")}`;

  test("when export-feeds uploads with the partner's key and the server's fingerprint, then every file arrives whole", () => {
    const out = join(dir, "out-1");
    const hostKey = fingerprint(join(dir, "host_key.pub"));

    const result = runCli([
      "export-feeds", "--db", dbPath, "--out", out, "--gzip", "--upload", url(), "--identity", join(dir, "partner_key"), "--host-key", hostKey,
    ]);

    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`uploaded 3 file(s) to ${user}@127.0.0.1:${port}${join(dir, "dropbox")} (host key ${hostKey})`);
    const written = readdirSync(out).sort();
    expect(written).toHaveLength(3);
    expect(readdirSync(join(dir, "dropbox")).sort()).toEqual(written);
    for (const name of written) expect(readFileSync(join(dir, "dropbox", name))).toEqual(readFileSync(join(out, name)));
  }, 60_000);

  test("when the server presents another host key than the one given, then nothing is uploaded", () => {
    const out = join(dir, "out-2");
    const before = readdirSync(join(dir, "dropbox"));

    const result = runCli([
      "export-feeds", "--db", dbPath, "--out", out, "--upload", url(), "--identity", join(dir, "partner_key"),
      "--host-key", fingerprint(join(dir, "stranger_key.pub")),
    ]);

    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toMatch(new RegExp(`^booking-server: 127\\.0\\.0\\.1:${port} presented host key SHA256:\\S+, not SHA256:\\S+: nothing uploaded$`));
    expect(readdirSync(join(dir, "dropbox"))).toEqual(before);
  }, 60_000);

  test("when the key is not one the server knows, then the upload fails saying it could not connect", () => {
    const result = runCli(["export-feeds", "--db", dbPath, "--out", join(dir, "out-3"), "--upload", url(), "--identity", join(dir, "stranger_key")]);

    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`booking-server: cannot connect to ${user}@127.0.0.1:${port}: `);
  }, 60_000);

  test("when --upload has no user or no --identity, then export-feeds refuses before writing anything", () => {
    const noUser = runCli(["export-feeds", "--db", dbPath, "--out", join(dir, "out-4"), "--upload", `sftp://127.0.0.1:${port}/dropbox`, "--identity", "k"]);
    const noIdentity = runCli(["export-feeds", "--db", dbPath, "--out", join(dir, "out-4"), "--upload", url()]);

    expect([noUser.status, noUser.stderr.trim()]).toEqual([2, `booking-server: --upload needs the user: sftp://user@127.0.0.1:${port}/dropbox`]);
    expect([noIdentity.status, noIdentity.stderr.trim()]).toEqual([2, "booking-server: --upload needs --identity KEY_FILE: the private key the SFTP server knows"]);
    expect(existsSync(join(dir, "out-4"))).toBe(false);
  });
});
