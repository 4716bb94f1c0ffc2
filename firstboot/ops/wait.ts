// Polling with a bound, on an injectable clock so the stop sequence is testable without sleeping.

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Call `done` every `intervalMs` until it returns true or `timeoutMs` passed.
 * Returns whether it finished in time and how long it took.
 */
export async function waitUntil(
  done: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs: number; clock: Clock },
): Promise<{ ok: boolean; elapsedMs: number }> {
  const start = opts.clock.now();
  for (;;) {
    if (await done()) return { ok: true, elapsedMs: opts.clock.now() - start };
    if (opts.clock.now() - start >= opts.timeoutMs) return { ok: false, elapsedMs: opts.clock.now() - start };
    await opts.clock.sleep(opts.intervalMs);
  }
}
