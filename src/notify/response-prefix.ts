/**
 * Reading Google's answers without trusting their size.
 *
 * The notifier only needs an answer's status, its Retry-After and enough of
 * its body to show an operator why Google refused a notification. A body of
 * any size used to be read whole (a 1.5 GB answer grew the process from 0.6
 * to 3.2 GB and failed the attempt, on every retry), so only a prefix is read
 * and the transfer is then cancelled.
 */

/**
 * Bytes of an answer's body the notifier reads, success or error, and keeps
 * as the entry's `last_error` (8 KiB). Google's error bodies are a few hundred
 * bytes of JSON; raise it only if a longer one is being cut short.
 */
export const MAX_RESPONSE_BYTES = 8 * 1024;

/**
 * The first `maxBytes` bytes of `response`'s body as text (UTF-8, a character
 * cut at the end replaced), after which the body is cancelled: fetch then
 * closes the connection instead of reading the rest into memory.
 */
export async function readResponsePrefix(response: Response, maxBytes = MAX_RESPONSE_BYTES): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let kept = 0;
  try {
    while (kept < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      const wanted = value.subarray(0, maxBytes - kept);
      chunks.push(wanted);
      kept += wanted.length;
    }
  } finally {
    // Also after an error, so a failed read leaves no transfer running; a body
    // already complete ignores it.
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}
