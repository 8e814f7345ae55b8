/**
 * Graceful shutdown of the real `roster serve` process: SIGTERM while hundreds of writes are in flight,
 * with a request in flight on a keep-alive connection, with idle keep-alive connections, and SIGINT.
 */
import http from 'node:http';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../src/platform/db/index.js';
import { describeEachStore } from '../support/stores.js';
import {
  ADMIN_TOKEN,
  assertBuilt,
  killAllRoster,
  type Loose,
  listAll,
  logLines,
  newTenant,
  type RosterProcess,
  request,
  type Server,
  startServer,
  storeEnv,
  useStore,
} from './cli/process.js';

beforeAll(assertBuilt);
afterEach(killAllRoster);
afterAll(killAllRoster);

/** How long a SIGTERMed server may take to exit. In-flight requests here take milliseconds. */
const EXIT_DEADLINE_MS = 10_000;

interface Outcome {
  readonly i: number;
  readonly userName: string;
  readonly status?: number;
  readonly body?: Loose;
  /** The socket error when no answer came: ECONNREFUSED, ECONNRESET, EPIPE, ... */
  readonly error?: string;
  /** Whether the answer (or error) arrived after SIGTERM was sent. */
  readonly afterSignal: boolean;
}

const NO_RATE_LIMITS = { ROSTER_RATE_LIMIT_TENANT: '0', ROSTER_RATE_LIMIT_GLOBAL: '0' };

/** Answers a request may get from a server that is shutting down, besides 201. */
const REFUSALS = new Set(['503', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

function userBody(i: number, run: string) {
  return {
    userName: `load-${run}-${i}`,
    displayName: `Load User ${i}`,
    department: `dept-${i % 7}`,
    emails: [{ value: `load-${run}-${i}@shutdown.example`, type: 'work', primary: true }],
  };
}

function lineIndex(proc: RosterProcess, predicate: (l: Loose) => boolean): number {
  return logLines(proc.stdout).findIndex(predicate);
}

describeEachStore('graceful shutdown', (kind) => {
  const store = useStore(kind);

  function serve(extra: Record<string, string> = {}): Promise<Server> {
    return startServer(['serve'], {
      cwd: store().dir,
      env: { ...storeEnv(store()), ROSTER_PORT: '0', ROSTER_ADMIN_TOKEN: ADMIN_TOKEN, ...extra },
    });
  }

  it('SIGTERM under load: exit 0, every acknowledged user stored whole with one audit entry, nothing else stored', async () => {
    // Rate limits off: this test is about shutdown, and every refusal must come from the shutdown.
    const server = await serve(NO_RATE_LIMITS);
    const { tenantId, token } = await newTenant(server.baseUrl, ADMIN_TOKEN, 'Shutdown Load Inc');
    const run = Math.random().toString(36).slice(2, 8);
    const TOTAL = 400;
    const SIGNAL_AFTER = 80;
    // Two keep-alive pools, 24 requests in flight at once; the rest wait in the pools' queues.
    const agents = [0, 1].map(() => new http.Agent({ keepAlive: true, maxSockets: 12 }));
    let settled = 0;
    let signalled = false;
    let outcomes: Outcome[];
    try {
      outcomes = await Promise.all(
        Array.from({ length: TOTAL }, async (_, i): Promise<Outcome> => {
          const body = userBody(i, run);
          let outcome: Outcome;
          try {
            const res = await request(server.baseUrl, 'POST', '/api/v1/users', {
              token,
              body,
              agent: agents[i % agents.length],
              timeoutMs: 30_000,
            });
            outcome = {
              i,
              userName: body.userName,
              status: res.status,
              body: res.body,
              afterSignal: signalled,
            };
          } catch (err) {
            const e = err as NodeJS.ErrnoException;
            outcome = { i, userName: body.userName, error: e.code ?? e.message, afterSignal: signalled };
          }
          if (++settled === SIGNAL_AFTER) {
            signalled = true;
            server.proc.signal('SIGTERM');
          }
          return outcome;
        }),
      );
      // The clients keep their idle keep-alive sockets open, as connection pools do; the server must
      // exit all the same.
      const exit = await server.proc.exitWithin(EXIT_DEADLINE_MS);
      expect
        .soft(exit, `no exit within ${EXIT_DEADLINE_MS} ms after SIGTERM\n${server.proc.describe()}`)
        .toEqual({
          code: 0,
          signal: null,
        });
      if (exit === 'timeout') await server.proc.kill();
    } finally {
      for (const agent of agents) agent.destroy();
    }

    const created = outcomes.filter((o) => o.status === 201);
    const refused = outcomes.filter((o) => o.status !== 201);
    const tally: Record<string, number> = {};
    for (const o of refused)
      tally[o.error ?? String(o.status)] = (tally[o.error ?? String(o.status)] ?? 0) + 1;
    const summary = `201: ${created.length} (${created.filter((o) => o.afterSignal).length} after SIGTERM); refused: ${JSON.stringify(tally)}`;
    // Each request either committed and was answered 201, or was refused before any work: a 503, or a
    // socket error (refused connection, or a keep-alive socket closed while idle). Never a 500 from a store
    // closed under a running request, never a client timeout.
    const unexpected = refused.filter((o) => !REFUSALS.has(o.error ?? String(o.status)));
    expect(unexpected, summary).toEqual([]);
    // The first answers, all before SIGTERM, were all successes; the signal did land mid-run.
    const beforeSignal = outcomes.filter((o) => !o.afterSignal);
    expect(beforeSignal).toHaveLength(SIGNAL_AFTER);
    expect(beforeSignal.filter((o) => o.status !== 201)).toEqual([]);
    expect(refused.length, 'SIGTERM came too late to cut the run short').toBeGreaterThan(0);
    // The server logged the shutdown, then its end.
    const shutdownAt = lineIndex(server.proc, (l) => l.signal === 'SIGTERM');
    expect(shutdownAt, server.proc.stdout).toBeGreaterThan(-1);
    expect(lineIndex(server.proc, (l) => l.msg === 'stopped')).toBeGreaterThan(shutdownAt);

    // Reopen the store through a new server on the same store and key file.
    const again = await serve(NO_RATE_LIMITS);
    const users = await listAll(again.baseUrl, '/api/v1/users', { token });
    const audit = await listAll(again.baseUrl, '/api/v1/audit/entries', { token });
    again.proc.signal('SIGTERM');
    expect(await again.proc.waitForExit(EXIT_DEADLINE_MS)).toEqual({ code: 0, signal: null });

    // What we assert: the users stored are exactly the users acknowledged with 201. A 201 without a stored
    // user is a lost write. A stored user without a 201 is a write the server committed but never answered:
    // a graceful shutdown finishes the requests it is running and closes only idle connections, and our
    // clients never give up on a request, so that must not happen either (a request refused with 503 or a
    // socket error never reached the handler).
    const byName = new Map(users.map((u: Loose) => [u.userName, u]));
    expect(users).toHaveLength(created.length);
    expect([...byName.keys()].sort()).toEqual(created.map((o) => o.userName).sort());
    for (const o of created) {
      const sent = userBody(o.i, run);
      const stored = byName.get(o.userName);
      expect(stored?.id).toBe(o.body.id);
      expect(stored).toMatchObject({
        userName: sent.userName,
        displayName: sent.displayName,
        department: sent.department,
        emails: sent.emails,
        version: 1,
        status: 'active',
      });
    }
    // Exactly one user.created audit entry per stored user, and none for anything else.
    const createdEntries = audit.filter((e: Loose) => e.action === 'user.created');
    const entriesPerUser = new Map<string, number>();
    for (const e of createdEntries)
      entriesPerUser.set(e.target.id, (entriesPerUser.get(e.target.id) ?? 0) + 1);
    expect(createdEntries).toHaveLength(created.length);
    expect([...entriesPerUser.keys()].sort()).toEqual(created.map((o) => o.body.id).sort());
    expect([...entriesPerUser.values()].every((n) => n === 1)).toBe(true);

    // The raw rows agree: no user without its e-mail index, no stray rows, an intact database file.
    const db = await openDatabase(storeEnv(store()).ROSTER_DATABASE_URL);
    try {
      const count = async (table: 'users' | 'user_emails') =>
        Number(
          (
            await db.kysely
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('tenant_id', '=', tenantId)
              .executeTakeFirstOrThrow()
          ).n,
        );
      expect(await count('users')).toBe(created.length);
      expect(await count('user_emails')).toBe(created.length);
      const auditRows = await db.kysely
        .selectFrom('audit_entries')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('tenant_id', '=', tenantId)
        .where('action', '=', 'user.created')
        .executeTakeFirstOrThrow();
      expect(Number(auditRows.n)).toBe(created.length);
      if (kind === 'sqlite') {
        const check = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(db.kysely);
        expect(check.rows).toEqual([{ integrity_check: 'ok' }]);
      }
    } finally {
      await db.close();
    }
  }, 120_000);

  it('a request in flight on a keep-alive connection at SIGTERM is answered, and the process still exits promptly', async () => {
    // At debug level the server logs each request as it starts: that tells us it is in flight.
    const server = await serve({ ROSTER_LOG_LEVEL: 'debug' });
    const { token } = await newTenant(server.baseUrl, ADMIN_TOKEN, 'In Flight Oy');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const payload = Buffer.from(JSON.stringify(userBody(1, 'inflight')));
      const logsBefore = logLines(server.proc.stdout).length;
      let req: http.ClientRequest | undefined;
      const answer = new Promise<{ status: number; body: string; connection: string | undefined }>(
        (resolve, reject) => {
          req = http.request(
            new URL('/api/v1/users', server.baseUrl),
            {
              method: 'POST',
              agent,
              headers: {
                authorization: `Bearer ${token}`,
                'content-type': 'application/json',
                'content-length': String(payload.length),
              },
            },
            (res) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (c: string) => {
                body += c;
              });
              res.on('end', () =>
                resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }),
              );
            },
          );
          req.on('error', reject);
          // Headers and half of the body: the server starts the request and waits for the rest.
          req.write(payload.subarray(0, 10));
        },
      );
      await server.proc.waitFor(
        () =>
          logLines(server.proc.stdout)
            .slice(logsBefore)
            .find((l) => l.msg === 'request' && l.method === 'POST' && l.route === '/api/v1/users'),
        'the POST to start',
      );
      server.proc.signal('SIGTERM');
      await server.proc.waitFor(
        () => logLines(server.proc.stdout).find((l) => l.signal === 'SIGTERM'),
        'the shutdown to begin',
      );
      req?.end(payload.subarray(10));
      const res = await answer;
      expect(res.status, res.body).toBe(201);
      const id = JSON.parse(res.body).id as string;

      // The client keeps its keep-alive socket, idle, in its pool: the server must not wait for it.
      const exit = await server.proc.exitWithin(EXIT_DEADLINE_MS);
      expect
        .soft(
          exit,
          `no exit within ${EXIT_DEADLINE_MS} ms (answer had Connection: ${res.connection})\n${server.proc.describe()}`,
        )
        .toEqual({ code: 0, signal: null });
      if (exit === 'timeout') await server.proc.kill();

      const again = await serve();
      const read = await request(again.baseUrl, 'GET', `/api/v1/users/${id}`, { token });
      expect(read.status, read.raw).toBe(200);
      expect(read.body.userName).toBe('load-inflight-1');
    } finally {
      agent.destroy();
    }
  }, 120_000);

  it('idle keep-alive connections do not hold up the exit', async () => {
    const server = await serve();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      // Four sockets, each left idle in the pool after its answer.
      const answers = await Promise.all(
        [0, 1, 2, 3].map(() =>
          request(server.baseUrl, 'GET', '/api/v1/tenants', { token: ADMIN_TOKEN, agent }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      expect(answers.every((a) => a.headers.connection === 'keep-alive')).toBe(true);
      server.proc.signal('SIGTERM');
      expect(await server.proc.waitForExit(EXIT_DEADLINE_MS)).toEqual({ code: 0, signal: null });
      expect(logLines(server.proc.stdout).map((l) => l.msg)).toContain('stopped');
    } finally {
      agent.destroy();
    }
  });

  it('SIGINT stops the server the same way', async () => {
    const server = await serve();
    expect((await request(server.baseUrl, 'GET', '/readyz')).status).toBe(200);
    server.proc.signal('SIGINT');
    expect(await server.proc.waitForExit(EXIT_DEADLINE_MS)).toEqual({ code: 0, signal: null });
    const lines = logLines(server.proc.stdout);
    expect(lines.find((l) => l.signal === 'SIGINT')?.msg).toMatch(/shutting down/);
    expect(lines.map((l) => l.msg)).toContain('stopped');
  });
});
