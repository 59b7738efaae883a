// Reconnect delays: exponential growth with "equal jitter" (half fixed, half random), so clients
// dropped together do not come back together, and no retry is ever immediate.

export interface BackoffPolicy {
  /** Delay before the first retry, before jitter. */
  baseMs: number;
  /** Upper bound on any delay. */
  maxMs: number;
  /** Growth per failed attempt. */
  factor: number;
}

export const defaultPolicy: BackoffPolicy = { baseMs: 500, maxMs: 30_000, factor: 2 };

/** Delay before retry number `attempt` (0 for the first retry); `random` returns [0, 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy = defaultPolicy, random: () => number = Math.random): number {
  if (!Number.isFinite(attempt) || attempt < 0) throw new RangeError(`attempt must be >= 0, got ${attempt}`);
  const ceiling = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.min(attempt, 52));
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `task`, made again after a backoff while it fails with an error `retryable` accepts: at most
 * `tries` times in all (about 7 s for 5 with the default policy); then its last error is thrown. */
export async function retried<T>(
  task: () => Promise<T>,
  retryable: (error: unknown) => boolean,
  tries = 5,
  policy: BackoffPolicy = defaultPolicy,
  sleep: (ms: number) => Promise<void> = pause,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await task();
    } catch (error) {
      if (attempt + 1 >= tries || !retryable(error)) throw error;
      await sleep(backoffDelay(attempt, policy));
    }
  }
}
