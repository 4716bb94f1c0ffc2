// Retry with exponential backoff, for answers that say "not now" (a VM lock held by a backup or
// another worker, a config-file flock timeout) and for reads whose connection dropped.

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** A backup can hold a VM lock for minutes; 8 attempts over ~1 minute cover a short one. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseDelayMs: 500, maxDelayMs: 15_000 };

export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}

export async function withRetry<T>(
  policy: RetryPolicy,
  retryable: (e: unknown) => boolean,
  fn: (attempt: number) => Promise<T>,
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= policy.attempts || !retryable(e)) throw e;
      const delay = backoffDelay(policy, attempt);
      onRetry?.(e, attempt, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
