/**
 * Request-rate limits with the generic cell rate algorithm (GCRA): each key may make `rate` requests per
 * second with a burst of one second's worth. One number per key (its theoretical arrival time), no timers.
 * This store is in-process, so each node enforces its own limits; a Redis-backed store for limits shared
 * between nodes (ROSTER_REDIS_URL) is planned with the access-control work.
 */
export interface RateLimiter {
  /** Takes one request from `key`'s allowance; when refused, says how long to wait. */
  take(
    key: string,
    ratePerSecond: number,
    now?: number,
  ): { allowed: true } | { allowed: false; retryAfterMs: number };
}

export class MemoryRateLimiter implements RateLimiter {
  readonly #tat = new Map<string, number>();

  take(key: string, ratePerSecond: number, now: number = Date.now()) {
    const interval = 1000 / ratePerSecond;
    const burst = Math.max(1, Math.ceil(ratePerSecond));
    const tolerance = interval * (burst - 1);
    const tat = Math.max(this.#tat.get(key) ?? now, now);
    if (tat - now > tolerance) return { allowed: false as const, retryAfterMs: tat - now - tolerance };
    this.#tat.set(key, tat + interval);
    if (this.#tat.size > 10_000) this.#sweep(now);
    return { allowed: true as const };
  }

  #sweep(now: number): void {
    for (const [k, tat] of this.#tat) if (tat < now) this.#tat.delete(k);
  }
}
