/** What `Store.readiness` answers. */
export type Readiness = { ready: true } | { ready: false; reason: string };

/**
 * How long a "ready" answer is reused: /readyz needs no credentials, so a
 * flood of probes must not become a flood of writes (at most one a second
 * while ready; while not ready, the next probe looks again at once).
 */
const readyReuseMs = 1_000;

/**
 * `probe` (a backend's proof that it takes writes) as `Store.readiness`:
 * probes that arrive together share one answer, and a "ready" answer is
 * reused for a second.
 */
export function sharedReadiness(probe: () => Promise<Readiness>, nowMs: () => number): () => Promise<Readiness> {
  let last: { atMs: number; answer: Promise<Readiness>; settled?: Readiness } | undefined;
  return () => {
    const now = nowMs();
    const reusable = last && (!last.settled || (last.settled.ready && now - last.atMs < readyReuseMs));
    if (!reusable) {
      const current: NonNullable<typeof last> = { atMs: now, answer: probe() };
      void current.answer.then((readiness) => (current.settled = readiness));
      last = current;
    }
    return last!.answer;
  };
}
