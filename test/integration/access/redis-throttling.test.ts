/**
 * Rate limits shared between nodes through Redis (ROSTER_REDIS_URL), against the real Redis on
 * 127.0.0.1:6379 (ROSTER_TEST_REDIS_URL to change it):
 * - `RedisRateLimiter` alone: the GCRA burst and refusal, Retry-After values, two limiters (two nodes) on one
 *   key, keys that expire once idle, and fail-open to the in-process limiter when Redis is unreachable, goes
 *   away, hangs, and comes back;
 * - Roster processes: two `roster serve` on one PostgreSQL schema and one Redis database enforce one tenant
 *   limit and one global limit between them; two without Redis enforce one each; one whose Redis is
 *   unreachable still serves, limiting in process.
 * Each run uses a Redis database that was empty when the run began (and a key prefix of its own for the
 * limiter tests); it deletes its keys at the end. Under CI a Redis that does not answer fails the file;
 * elsewhere it is skipped with a warning.
 */
import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisRateLimiter, type RedisRateLimiterOptions } from '../../../src/platform/http/rate-limit.js';
import { createTestStore, IN_CI, type TestStore } from '../../support/stores.js';
import {
  ADMIN_TOKEN,
  assertBuilt,
  freePort,
  type HttpAnswer,
  killAllRoster,
  logLines,
  newTenant,
  request,
  type Server,
  startServer,
} from '../cli/process.js';
import { nodeEnv } from '../licenses/processes.js';

const REDIS_URL = process.env.ROSTER_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Long enough for any bucket of >= 1 r/s to be full again. */
const REFILL_MS = 1_200;

async function redisReachable(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

const redisUp = await redisReachable();
if (!redisUp && IN_CI) {
  throw new Error(`Redis is not reachable at ${REDIS_URL}; CI requires it (.ci/run starts it)`);
}
if (!redisUp) {
  console.warn(
    `\n[roster tests] Redis unreachable at ${REDIS_URL}: the Redis throttling tests are SKIPPED\n`,
  );
}

/** A Redis database of this run's own: the first of 1..15 (from a random start) that holds no key. */
async function claimDatabase(): Promise<number> {
  const start = randomInt(15);
  for (let i = 0; i < 15; i++) {
    const db = 1 + ((start + i) % 15);
    const client = new Redis(`${REDIS_URL}/${db}`, { maxRetriesPerRequest: 0 });
    try {
      if ((await client.dbsize()) === 0) return db;
    } finally {
      client.disconnect();
    }
  }
  throw new Error('no empty Redis database among 1..15 for the test run');
}

/** Deletes every key under `pattern` in the database of `client`. */
async function deleteKeys(client: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

type LogRecord = { level: 'warn' | 'info'; msg: string; reason?: string };

/** A logger that records what the limiter says. */
function recordingLogger(): { logger: NonNullable<RedisRateLimiterOptions['logger']>; lines: LogRecord[] } {
  const lines: LogRecord[] = [];
  const log =
    (level: LogRecord['level']) =>
    (objOrMsg: unknown, msg?: string): void => {
      if (typeof objOrMsg === 'string') lines.push({ level, msg: objOrMsg });
      else lines.push({ level, msg: msg ?? '', ...(objOrMsg as { reason?: string }) });
    };
  return {
    logger: { warn: log('warn'), info: log('info') } as RedisRateLimiterOptions['logger'] & object,
    lines,
  };
}

/**
 * A TCP proxy in front of Redis, to take Redis away (stop), bring it back on the same port (start), or make
 * it hang (freeze: what the client sends is held back, in order, until thaw).
 */
class RedisProxy {
  port = 0;
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  #frozen = false;
  readonly #held: (() => void)[] = [];

  async start(): Promise<void> {
    const target = new URL(REDIS_URL);
    this.#server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => {
        if (this.#frozen) this.#held.push(() => upstream.write(chunk));
        else upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => client.write(chunk));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    const server = this.#server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  freeze(): void {
    this.#frozen = true;
  }

  thaw(): void {
    this.#frozen = false;
    for (const send of this.#held.splice(0)) send();
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
}

/** Polls `check` every 50 ms until it holds, for at most `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

function expectThrottled(res: HttpAnswer): void {
  expect(res.status, res.raw).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status: 429, code: 'request.rate_limited' });
  expect(res.headers['retry-after'], 'Retry-After header').toMatch(/^\d+$/);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

const count = (answers: readonly HttpAnswer[], status: number) =>
  answers.filter((a) => a.status === status).length;

/** `count` for each of two nodes that were sent the answers' requests in turn. */
const perNode = (answers: readonly HttpAnswer[], status: number) =>
  [0, 1].map((node) =>
    count(
      answers.filter((_, i) => i % 2 === node),
      status,
    ),
  );

(redisUp ? describe : describe.skip)('rate limits shared through Redis', () => {
  let db = 0;
  let admin: Redis;
  const limiters: RedisRateLimiter[] = [];
  const proxies: RedisProxy[] = [];
  const runPrefix = `roster:rl:test-${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    db = await claimDatabase();
    admin = new Redis(`${REDIS_URL}/${db}`, { maxRetriesPerRequest: 0 });
  });

  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await Promise.all(proxies.map((p) => p.stop()));
    if (admin) {
      await deleteKeys(admin, 'roster:rl:*');
      admin.disconnect();
    }
  });

  /** A limiter on this run's database; `prefix` keeps each test's keys apart. */
  async function limiter(options: Partial<RedisRateLimiterOptions> & { prefix: string }) {
    const l = await new RedisRateLimiter({ url: `${REDIS_URL}/${db}`, ...options }).open();
    limiters.push(l);
    return l;
  }

  /** A limiter at `url` whose log lines and decisions taken in process the test reads. */
  async function observed(url: string, options: Partial<RedisRateLimiterOptions> = {}) {
    const { logger, lines } = recordingLogger();
    let fallbacks = 0;
    const l = await new RedisRateLimiter({ url, logger, onFallback: () => fallbacks++, ...options }).open();
    limiters.push(l);
    return { limiter: l, lines, fallbacks: () => fallbacks };
  }

  /** As `observed`, on this run's database through a proxy the test can stop, restart and freeze. */
  async function behindProxy(options: Partial<RedisRateLimiterOptions>) {
    const proxy = new RedisProxy();
    proxies.push(proxy);
    await proxy.start();
    return { proxy, ...(await observed(`${proxy.url}/${db}`, options)) };
  }

  describe('RedisRateLimiter against the real Redis', () => {
    it('allows a burst of one second’s worth, then refuses with the time until the next request', async () => {
      const l = await limiter({ prefix: `${runPrefix}burst:` });
      const verdicts = [];
      for (let i = 0; i < 8; i++) verdicts.push(await l.take('k', 5));
      expect(verdicts.slice(0, 5).every((v) => v.allowed)).toBe(true);
      for (const v of verdicts.slice(5)) {
        expect(v.allowed).toBe(false);
        // 5 r/s: one request every 200 ms; the 6th may come 200 ms after the first, less the time spent since.
        if (!v.allowed) {
          expect(v.retryAfterMs).toBeGreaterThan(100);
          expect(v.retryAfterMs).toBeLessThanOrEqual(200);
        }
      }
    });

    it('retry-after values follow the rate, fractional rates included, and waiting them is enough', async () => {
      const l = await limiter({ prefix: `${runPrefix}retry:` });
      // 2 r/s: a burst of 2, then one every 500 ms.
      expect(await l.take('two', 2)).toEqual({ allowed: true });
      expect(await l.take('two', 2)).toEqual({ allowed: true });
      const refused = await l.take('two', 2);
      expect(refused.allowed).toBe(false);
      const wait = refused.allowed ? 0 : refused.retryAfterMs;
      expect(wait).toBeGreaterThan(400);
      expect(wait).toBeLessThanOrEqual(500);
      await sleep(wait + 20);
      expect(await l.take('two', 2)).toEqual({ allowed: true });
      expect((await l.take('two', 2)).allowed).toBe(false);
      // 0.5 r/s: a burst of 1, then one every 2 s.
      expect(await l.take('half', 0.5)).toEqual({ allowed: true });
      const slow = await l.take('half', 0.5);
      expect(slow.allowed).toBe(false);
      if (!slow.allowed) {
        expect(slow.retryAfterMs).toBeGreaterThan(1900);
        expect(slow.retryAfterMs).toBeLessThanOrEqual(2000);
      }
    });

    it('two limiters (two nodes) share one allowance per key, other keys stay apart', async () => {
      const prefix = `${runPrefix}shared:`;
      const a = await limiter({ prefix });
      const b = await limiter({ prefix });
      const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).take('t', 4)));
      const allowed = verdicts.filter((v) => v.allowed).length;
      // One allowance of 4 (plus at most one refilled meanwhile), not 4 each.
      expect(allowed).toBeGreaterThanOrEqual(4);
      expect(allowed).toBeLessThanOrEqual(5);
      expect(await b.take('other', 4)).toEqual({ allowed: true });
      expect(await admin.exists(`${prefix}t`, `${prefix}other`)).toBe(2);
    });

    it('stores the theoretical arrival time in whole microseconds and lets an idle key expire', async () => {
      const prefix = `${runPrefix}expiry:`;
      const l = await limiter({ prefix });
      // 10 r/s: one request pushes the TAT 100 ms ahead, so the key lives at most 100 ms.
      await l.take('idle', 10);
      const ttl = await admin.pttl(`${prefix}idle`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(100);
      expect(await admin.get(`${prefix}idle`)).toMatch(/^\d{16,}$/);
      // A full burst pushes it a second ahead.
      for (let i = 0; i < 9; i++) await l.take('busy', 10);
      expect(await admin.pttl(`${prefix}busy`)).toBeGreaterThan(800);
      await sleep(150);
      expect(await admin.exists(`${prefix}idle`)).toBe(0);
      await eventually(
        async () => (await admin.exists(`${prefix}busy`)) === 0,
        1500,
        'the busy key to expire',
      );
      // Gone means a full burst again.
      const again = [];
      for (let i = 0; i < 10; i++) again.push(await l.take('busy', 10));
      expect(again.every((v) => v.allowed)).toBe(true);
    });

    it('an unreachable Redis: opening gives up quickly, decisions are taken in process, one warning', async () => {
      const started = performance.now();
      const { limiter: l, lines, fallbacks } = await observed(`redis://127.0.0.1:${await freePort()}`);
      expect(performance.now() - started).toBeLessThan(2500);
      const verdicts = [];
      for (let i = 0; i < 5; i++) verdicts.push(await l.take('k', 3));
      // The node's own GCRA: a burst of 3, then refusals with a retry-after.
      expect(verdicts.map((v) => v.allowed)).toEqual([true, true, true, false, false]);
      const last = verdicts[4];
      if (last && !last.allowed) expect(last.retryAfterMs).toBeGreaterThan(200);
      expect(fallbacks()).toBe(5);
      // Reconnection attempts go on in the background; still one warning for the one outage.
      await sleep(700);
      expect(lines.filter((x) => x.level === 'warn')).toHaveLength(1);
      expect(lines[0]?.msg).toMatch(/Redis unreachable/);
      expect(lines[0]?.reason).toMatch(/ECONNREFUSED/);
    });

    it('Redis going away and coming back: in process meanwhile, shared again after, one warning and one notice', async () => {
      const prefix = `${runPrefix}outage:`;
      const { proxy, limiter: l, lines, fallbacks } = await behindProxy({ prefix, retryAfterFailureMs: 100 });
      expect(await l.take('k', 100)).toEqual({ allowed: true });
      expect(await admin.exists(`${prefix}k`)).toBe(1);
      expect(fallbacks()).toBe(0);

      await proxy.stop();
      await eventually(
        async () => {
          await l.take('k', 100);
          return fallbacks() > 0;
        },
        2000,
        'a decision in process',
      );
      for (let i = 0; i < 20; i++) expect((await l.take('down', 1000)).allowed).toBe(true);
      await sleep(500);
      expect(lines.filter((x) => x.level === 'warn')).toHaveLength(1);

      await proxy.start();
      await eventually(
        async () => {
          await l.take('back', 100);
          return lines.some((x) => x.level === 'info');
        },
        6000,
        'Redis to answer again',
      );
      expect(await admin.exists(`${prefix}back`)).toBe(1);
      const before = fallbacks();
      await l.take('back', 100);
      expect(fallbacks()).toBe(before);
      expect(lines.map((x) => x.level)).toEqual(['warn', 'info']);
      expect(lines[1]?.msg).toMatch(/answers again/);
    });

    it('a hanging Redis costs one command timeout, then decisions stay in process for a while', async () => {
      const prefix = `${runPrefix}hang:`;
      const {
        proxy,
        limiter: l,
        lines,
        fallbacks,
      } = await behindProxy({
        prefix,
        commandTimeoutMs: 150,
        retryAfterFailureMs: 500,
      });
      expect(await l.take('k', 100)).toEqual({ allowed: true });
      proxy.freeze();
      let started = performance.now();
      expect(await l.take('k', 100)).toEqual({ allowed: true });
      const first = performance.now() - started;
      expect(first).toBeGreaterThanOrEqual(140);
      expect(first).toBeLessThan(600);
      expect(lines[0]).toMatchObject({ level: 'warn', reason: expect.stringMatching(/timed out/i) });
      // Within the retry window nothing waits on Redis.
      started = performance.now();
      for (let i = 0; i < 10; i++) await l.take('k', 100);
      expect(performance.now() - started).toBeLessThan(100);
      expect(fallbacks()).toBe(11);
      // Redis answers again (late replies to the timed-out command included): shared again.
      proxy.thaw();
      await sleep(550);
      await l.take('after', 100);
      expect(fallbacks()).toBe(11);
      expect(await admin.exists(`${prefix}after`)).toBe(1);
      expect(lines.map((x) => x.level)).toEqual(['warn', 'info']);
    });
  });

  const pgAvailable = inject('pgAvailable');

  (pgAvailable ? describe : describe.skip)('two Roster processes', () => {
    let store: TestStore | undefined;
    const shared: Server[] = [];
    const separate: Server[] = [];
    let deadRedis: Server | undefined;

    async function start(extra: Record<string, string>): Promise<Server> {
      if (!store) throw new Error('no store');
      const port = await freePort();
      return startServer(['serve'], {
        cwd: store.dir,
        env: { ...nodeEnv(store, port), ...extra },
        baseUrl: `http://127.0.0.1:${port}`,
        timeoutMs: 30_000,
      });
    }

    beforeAll(async () => {
      assertBuilt();
      store = createTestStore('postgres');
      const withRedis = {
        ROSTER_REDIS_URL: `${REDIS_URL}/${db}`,
        ROSTER_RATE_LIMIT_TENANT: '5',
        ROSTER_RATE_LIMIT_GLOBAL: '12',
      };
      // The first node migrates the schema and creates the key file; the others join it.
      shared.push(await start(withRedis));
      const others = await Promise.all([
        start(withRedis),
        start({ ROSTER_RATE_LIMIT_TENANT: '5', ROSTER_RATE_LIMIT_GLOBAL: '0' }),
        start({ ROSTER_RATE_LIMIT_TENANT: '5', ROSTER_RATE_LIMIT_GLOBAL: '0' }),
        start({
          ROSTER_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
          ROSTER_RATE_LIMIT_TENANT: '5',
          ROSTER_RATE_LIMIT_GLOBAL: '0',
        }),
      ]);
      shared.push(others[0] as Server);
      separate.push(others[1] as Server, others[2] as Server);
      deadRedis = others[3];
    }, 120_000);

    afterAll(async () => {
      await killAllRoster();
      await store?.drop();
    });

    /** A tenant and its token, made through `node` (waiting out the platform scope's own limit if need be). */
    async function tenant(node: Server, name: string): Promise<{ tenantId: string; token: string }> {
      for (let attempt = 0; ; attempt++) {
        try {
          return await newTenant(node.baseUrl, ADMIN_TOKEN, `${name}-${randomBytes(3).toString('hex')}`);
        } catch (err) {
          if (attempt >= 10 || !/ 429 /.test((err as Error).message)) throw err;
          await sleep(REFILL_MS);
        }
      }
    }

    /** `n` GETs at once for `token`, spread round-robin over `nodes`; answers in order, and the seconds taken. */
    async function burst(nodes: readonly Server[], token: string, n: number) {
      const started = performance.now();
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          request((nodes[i % nodes.length] as Server).baseUrl, 'GET', '/api/v1/products', { token }),
        ),
      );
      return { answers, seconds: (performance.now() - started) / 1000 };
    }

    function expectOkOrThrottled(answers: readonly HttpAnswer[]): void {
      for (const a of answers) if (a.status !== 200) expectThrottled(a);
    }

    it('with Redis, one tenant’s requests over both nodes get one tenant limit between them, not one each', async () => {
      const { tenantId, token } = await tenant(shared[0] as Server, 'shared');
      await sleep(REFILL_MS);
      const { answers, seconds } = await burst(shared, token, 30);
      expectOkOrThrottled(answers);
      const ok = count(answers, 200);
      console.info(
        `[redis throttling] shared tenant limit 5 r/s, 2 nodes: ${ok}/30 accepted in ${seconds.toFixed(3)} s`,
      );
      // One second's worth (5) in a burst, plus what refills while the burst is served; without sharing
      // each node would accept 5.
      expect(ok).toBeGreaterThanOrEqual(5);
      expect(ok).toBeLessThanOrEqual(5 + Math.ceil(5 * seconds) + 1);
      // Both nodes refuse: each sees the allowance the other used.
      expect(Math.min(...perNode(answers, 429))).toBeGreaterThan(0);
      expect(await admin.exists(`roster:rl:tenant:${tenantId}`)).toBe(1);
      // A throttled client that waits Retry-After is served again, by either node.
      const refused = answers.find((a) => a.status === 429) as HttpAnswer;
      await sleep(Number(refused.headers['retry-after']) * 1000);
      const again = await request((shared[1] as Server).baseUrl, 'GET', '/api/v1/products', { token });
      expect(again.status, again.raw).toBe(200);
    });

    it('with Redis, the global limit is one for both nodes: tenants within their own limits are throttled together', async () => {
      const tenants = [];
      for (let i = 0; i < 6; i++) tenants.push(await tenant(shared[i % 2] as Server, `global-${i}`));
      await sleep(REFILL_MS);
      // Six tenants, four requests each (within 5 r/s), over both nodes: 24 requests against one 12 r/s.
      const started = performance.now();
      const bursts = await Promise.all(tenants.map((t) => burst(shared, t.token, 4)));
      const seconds = (performance.now() - started) / 1000;
      const answers = bursts.flatMap((b) => b.answers);
      expectOkOrThrottled(answers);
      const ok = count(answers, 200);
      console.info(
        `[redis throttling] shared global limit 12 r/s, 2 nodes: ${ok}/24 accepted in ${seconds.toFixed(3)} s`,
      );
      for (const a of answers) if (a.status === 429) expect(a.body.detail).toMatch(/global/);
      expect(ok).toBeGreaterThanOrEqual(12);
      expect(ok).toBeLessThanOrEqual(12 + Math.ceil(12 * seconds) + 1);
    });

    it('without Redis, each node enforces its own limit: the same tenant gets up to one limit per node', async () => {
      const { token } = await tenant(separate[0] as Server, 'separate');
      await sleep(REFILL_MS);
      const { answers, seconds } = await burst(separate, token, 30);
      expectOkOrThrottled(answers);
      const ok = count(answers, 200);
      console.info(
        `[redis throttling] per-node tenant limit 5 r/s, 2 nodes: ${ok}/30 accepted in ${seconds.toFixed(3)} s`,
      );
      // Each node's own burst of 5, plus each node's refill.
      expect(ok).toBeGreaterThanOrEqual(10);
      expect(ok).toBeLessThanOrEqual(2 * (5 + Math.ceil(5 * seconds) + 1));
      expect(Math.min(...perNode(answers, 200))).toBeGreaterThanOrEqual(5);
    });

    it('a node whose Redis is unreachable still serves, limiting in process, and says so once', async () => {
      const node = deadRedis as Server;
      const { token } = await tenant(node, 'dead-redis');
      await sleep(REFILL_MS);
      const { answers, seconds } = await burst([node], token, 20);
      expectOkOrThrottled(answers);
      const ok = count(answers, 200);
      expect(ok).toBeGreaterThanOrEqual(5);
      expect(ok).toBeLessThanOrEqual(5 + Math.ceil(5 * seconds) + 1);
      const warnings = logLines(node.proc.stdout).filter((l) => /Redis unreachable/.test(String(l.msg)));
      expect(warnings).toHaveLength(1);
      // The URL (a secret) is never logged.
      expect(node.proc.stdout).not.toContain('redis://');
      await sleep(REFILL_MS);
      const metrics = await request(node.baseUrl, 'GET', '/metrics', { token: ADMIN_TOKEN });
      expect(metrics.status).toBe(200);
      const line = /^roster_rate_limit_fallbacks_total (\d+)/m.exec(metrics.raw);
      expect(Number(line?.[1])).toBeGreaterThanOrEqual(20);
    });
  });
});
