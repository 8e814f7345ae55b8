/**
 * Request-rate limits with the generic cell rate algorithm (GCRA): each key may make `rate` requests per
 * second with a burst of one second's worth. One number per key (its theoretical arrival time, TAT), no
 * timers. Two stores of that number:
 * - `MemoryRateLimiter`, in process: each node enforces its own limits;
 * - `RedisRateLimiter`, in Redis (ROSTER_REDIS_URL): every node shares one TAT per key, updated atomically by
 *   one Lua script that reads Redis's own clock, so nodes with skewed clocks agree. When Redis cannot answer,
 *   the node falls back to its own in-process limiter until Redis is back (fail-open, docs/security.md).
 */
import { Redis, type Result } from 'ioredis';
import type { Logger } from 'pino';

export type RateVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface RateLimiter {
  /** Takes one request from `key`'s allowance; when refused, says how long to wait. */
  take(key: string, ratePerSecond: number, now?: number): RateVerdict | Promise<RateVerdict>;
}

/** A limiter the composition root opens at start and closes at shutdown. */
export interface ClosableRateLimiter extends RateLimiter {
  close(): Promise<void>;
}

/** The GCRA parameters of a rate, in milliseconds: the emission interval and the burst tolerance. */
function gcra(ratePerSecond: number): { interval: number; tolerance: number } {
  const interval = 1000 / ratePerSecond;
  const burst = Math.max(1, Math.ceil(ratePerSecond));
  return { interval, tolerance: interval * (burst - 1) };
}

const ALLOWED: RateVerdict = { allowed: true };

export class MemoryRateLimiter implements ClosableRateLimiter {
  readonly #tat = new Map<string, number>();

  take(key: string, ratePerSecond: number, now: number = Date.now()): RateVerdict {
    const { interval, tolerance } = gcra(ratePerSecond);
    const tat = Math.max(this.#tat.get(key) ?? now, now);
    if (tat - now > tolerance) return { allowed: false, retryAfterMs: tat - now - tolerance };
    this.#tat.set(key, tat + interval);
    if (this.#tat.size > 10_000) this.#sweep(now);
    return ALLOWED;
  }

  async close(): Promise<void> {}

  #sweep(now: number): void {
    for (const [k, tat] of this.#tat) if (tat < now) this.#tat.delete(k);
  }
}

/**
 * The same GCRA as `MemoryRateLimiter.take`, in microseconds of Redis's clock (`TIME`), on one key.
 * ARGV: the interval and the tolerance in microseconds. Returns 0 when the request is allowed, otherwise the
 * microseconds to wait. The TAT is written as an integer (`%.0f`: Lua's `tostring` would round a 16-digit
 * number to 14 digits) and expires when it is reached, since a key whose TAT has passed means "full burst",
 * exactly as a missing key does. Scripts replicate by their effects (Redis 5 and later), so reading `TIME`
 * before writing is allowed.
 */
const GCRA_SCRIPT = `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - now - tolerance
if wait > 0 then return math.ceil(wait) end
local nextTat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', nextTat), 'PX', math.ceil((nextTat - now) / 1000))
return 0
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    rosterGcra(key: string, intervalUs: string, toleranceUs: string): Result<number, Context>;
  }
}

export interface RedisRateLimiterOptions {
  /** A redis:// or rediss:// URL (a secret: it may hold a password; never logged). */
  readonly url: string;
  /** Prepended to every key (default `roster:rl:`). */
  readonly prefix?: string;
  /** How long one limiter command may take before the node decides in process instead (default 250 ms). */
  readonly commandTimeoutMs?: number;
  /** How long to wait for the first connection in `open()` and for each reconnection (default 2000 ms). */
  readonly connectTimeoutMs?: number;
  /** After a failed or timed-out command, how long to decide in process before asking Redis again (1000 ms). */
  readonly retryAfterFailureMs?: number;
  readonly logger?: Pick<Logger, 'warn' | 'info'>;
  /** Called for every decision taken in process because Redis could not answer (a metric). */
  readonly onFallback?: () => void;
}

/**
 * GCRA limits shared by every node that uses the same Redis. Commands are never queued while disconnected
 * nor retried (a retried script would take two requests' worth): a command that cannot be sent, fails or
 * takes longer than the command timeout sends the decision to the node's own `MemoryRateLimiter`, and so do
 * the requests of the next `retryAfterFailureMs` (so a hanging Redis does not add its timeout to every
 * request). The first failure of an outage is logged as a warning, the first success after it as info.
 */
export class RedisRateLimiter implements ClosableRateLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #fallback = new MemoryRateLimiter();
  readonly #retryAfterFailureMs: number;
  readonly #logger: Pick<Logger, 'warn' | 'info'> | undefined;
  readonly #onFallback: (() => void) | undefined;
  readonly #connectTimeoutMs: number;
  /** Until when (Date.now()) decisions stay in process after a failure. */
  #skipUntil = 0;
  #outage = false;

  constructor(options: RedisRateLimiterOptions) {
    this.#prefix = options.prefix ?? 'roster:rl:';
    this.#retryAfterFailureMs = options.retryAfterFailureMs ?? 1000;
    this.#logger = options.logger;
    this.#onFallback = options.onFallback;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    this.#redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 250,
      connectTimeout: this.#connectTimeoutMs,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      connectionName: 'roster-rate-limits',
    });
    this.#redis.defineCommand('rosterGcra', { lua: GCRA_SCRIPT, numberOfKeys: 1 });
    // Connection errors arrive here too (ioredis reconnects by itself); one warning per outage.
    this.#redis.on('error', (err: Error) => this.#failed(err));
  }

  /**
   * Connects (or gives up after the connect timeout: the node then starts with in-process limits and keeps
   * reconnecting in the background).
   */
  async open(): Promise<this> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('no answer within the connect timeout')),
        this.#connectTimeoutMs,
      );
    });
    try {
      await Promise.race([this.#redis.connect(), deadline]);
    } catch (err) {
      this.#failed(err as Error);
    } finally {
      clearTimeout(timer);
    }
    return this;
  }

  /** Takes one request from `key`'s shared allowance. `now` is ignored: Redis's clock decides. */
  async take(key: string, ratePerSecond: number): Promise<RateVerdict> {
    if (this.#redis.status !== 'ready' || Date.now() < this.#skipUntil)
      return this.#decideLocally(key, ratePerSecond);
    const { interval, tolerance } = gcra(ratePerSecond);
    let waitUs: number;
    try {
      waitUs = await this.#redis.rosterGcra(
        this.#prefix + key,
        (interval * 1000).toFixed(3),
        (tolerance * 1000).toFixed(3),
      );
    } catch (err) {
      this.#failed(err as Error);
      return this.#decideLocally(key, ratePerSecond);
    }
    if (this.#outage) {
      this.#outage = false;
      this.#logger?.info('rate limits: Redis answers again, limits are shared between nodes again');
    }
    return waitUs > 0 ? { allowed: false, retryAfterMs: waitUs / 1000 } : ALLOWED;
  }

  async close(): Promise<void> {
    if (this.#redis.status === 'ready') {
      try {
        await this.#redis.quit();
        return;
      } catch {
        // fall through: drop the connection
      }
    }
    this.#redis.disconnect();
  }

  #decideLocally(key: string, ratePerSecond: number): RateVerdict {
    this.#onFallback?.();
    return this.#fallback.take(key, ratePerSecond);
  }

  #failed(err: Error): void {
    this.#skipUntil = Date.now() + this.#retryAfterFailureMs;
    if (this.#outage) return;
    this.#outage = true;
    // The message names host and port at most, never the URL (which may hold a password).
    this.#logger?.warn(
      { reason: err.message },
      'rate limits: Redis unreachable, this node limits requests in process until it answers again',
    );
  }
}

/**
 * The limiter the configuration asks for: shared through Redis when `redisUrl` is set (connected before
 * this returns, or given up on after the connect timeout), in process otherwise.
 */
export async function openRateLimiter(
  config: { readonly redisUrl: string | undefined },
  logger: Pick<Logger, 'warn' | 'info'>,
  metrics?: { readonly rateLimitFallbacks: { inc(): void } },
): Promise<ClosableRateLimiter> {
  if (config.redisUrl === undefined) return new MemoryRateLimiter();
  const fallbacks = metrics?.rateLimitFallbacks;
  return new RedisRateLimiter({
    url: config.redisUrl,
    logger,
    ...(fallbacks ? { onFallback: () => fallbacks.inc() } : {}),
  }).open();
}
