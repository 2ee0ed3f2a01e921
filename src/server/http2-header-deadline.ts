import type { Http2Session } from "node:http2";

/**
 * The header deadline of HTTP/1.1 (`headersTimeoutMs`), applied to HTTP/2
 * sessions: a client that opens a header block (HEADERS without END_HEADERS)
 * and dribbles CONTINUATION frames is cut off, while an idle session (no
 * header block pending, perhaps sending PINGs) is left to the idle timeout.
 *
 * Node reads HTTP/2 frames natively and says nothing until a header block is
 * complete, and relaying every byte through JavaScript to watch the frames
 * cost a third to a half of the gRPC throughput. So the watch works from what
 * Node does tell:
 * - bytes the session has read (`socket.bytesRead`) past those accounted for
 *   by the last event that proves no header block is pending (a complete
 *   header block, a PING or SETTINGS from the client, the answer to ours);
 * - for such unaccounted bytes, a PING: a client in the middle of a header
 *   block cannot answer it (any frame but CONTINUATION there is a protocol
 *   error, RFC 9113 §6.10), every other client does at once. A session whose
 *   bytes stay unaccounted for `headersTimeoutMs` is destroyed.
 * Busy sessions cost one listener call per stream; idle ones nothing.
 *
 * What this misses: bytes are counted per read, so a client that sends the
 * start of a header block in the same read as a complete one (or as its PING
 * answer) and then stays silent is only cut by the idle timeout, like any
 * silent connection. Trickling more of the block brings new bytes and is cut.
 */
export interface Http2HeaderDeadline {
  /** Starts watching a new session (until it closes). */
  watch(session: Http2Session): void;
}

/** How often sessions are looked at, as a fraction of the deadline: a session is cut within 1.25x headersTimeoutMs. */
const checksPerDeadline = 4;

interface Watched {
  /** `bytesRead` when the session last proved it had no header block pending. */
  accountedBytes: number;
  /** When unaccounted bytes were first seen (at a check); undefined while there are none. */
  unaccountedSinceMs: number | undefined;
  /** A PING of ours is waiting for its answer. */
  probing: boolean;
}

/** One check timer for every session of a server, running only while some are open. */
export function http2HeaderDeadline(headersTimeoutMs: number): Http2HeaderDeadline {
  const watched = new Map<Http2Session, Watched>();
  let checker: NodeJS.Timeout | undefined;

  const check = () => {
    const now = Date.now();
    for (const [session, state] of watched) {
      if (session.destroyed) continue;
      const read = session.socket?.bytesRead ?? state.accountedBytes;
      if (read <= state.accountedBytes) {
        state.unaccountedSinceMs = undefined;
        continue;
      }
      state.unaccountedSinceMs ??= now;
      if (now - state.unaccountedSinceMs >= headersTimeoutMs) {
        session.destroy();
        continue;
      }
      if (!state.probing) {
        state.probing = true;
        const sent = session.ping((error) => {
          state.probing = false;
          if (!error) accounted(session, state);
        });
        if (!sent) state.probing = false;
      }
    }
  };

  return {
    watch(session) {
      const state: Watched = { accountedBytes: 0, unaccountedSinceMs: undefined, probing: false };
      watched.set(session, state);
      const onProgress = () => accounted(session, state);
      session.on("stream", onProgress);
      session.on("ping", onProgress);
      session.on("remoteSettings", onProgress);
      session.on("localSettings", onProgress);
      session.once("close", () => {
        watched.delete(session);
        if (watched.size === 0) {
          clearInterval(checker);
          checker = undefined;
        }
      });
      if (!checker) {
        checker = setInterval(check, Math.max(10, Math.floor(headersTimeoutMs / checksPerDeadline)));
        checker.unref();
      }
    },
  };
}

function accounted(session: Http2Session, state: Watched): void {
  // After close the socket is gone; nothing is left to account for.
  state.accountedBytes = session.socket?.bytesRead ?? state.accountedBytes;
  state.unaccountedSinceMs = undefined;
}
