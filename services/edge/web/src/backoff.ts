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
