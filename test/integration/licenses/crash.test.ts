/**
 * A Roster server killed with SIGKILL in the middle of a concurrent onboarding load, then restarted on the
 * same store: every acknowledged onboarding is there with its seat and audit trail, the seat invariants
 * hold, and re-sending every unanswered request with its idempotency key settles it exactly once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Db } from '../../../src/platform/db/index.js';
import { createTestStore, describeEachStore, type TestStore } from '../../support/stores.js';
import { assertBuilt, type HttpAnswer, killAllRoster, type Loose } from '../cli/process.js';
import {
  activeCount,
  mapLimit,
  type Outcome,
  onboardingBody,
  postOnboarding,
  presented,
  type Seats,
  type Snapshot,
  seatViolations,
  setUpSeats,
  snapshot,
  startNode,
} from './processes.js';

const N = 500;
const SEATS = [60, 40];
const CAPACITY = SEATS.reduce((a, b) => a + b, 0);
/** The server is killed as soon as this many onboardings have been answered 201. */
const KILL_AFTER = 60;

beforeAll(assertBuilt);
afterAll(killAllRoster);

/**
 * What must hold of the store whatever the crash cut off: the seat invariants, and every user of the
 * tenant is a whole onboarding (one assignment of the product, the audit entries, the idempotency record).
 */
function wholeOnboardingViolations(s: Snapshot, seats: Seats): string[] {
  const out = seatViolations(s);
  const created = new Set(s.audit.get('user.created') ?? []);
  const onboarded = new Set(s.audit.get('user.onboarded') ?? []);
  const licensed = new Set([
    ...(s.audit.get('license.assigned') ?? []),
    ...(s.audit.get('license.waitlisted') ?? []),
  ]);
  for (const id of s.users.keys()) {
    const mine = s.assignments.filter((a) => a.userId === id && a.productId === seats.productId);
    if (mine.length !== 1) out.push(`user ${id} has ${mine.length} assignments of ${seats.sku}`);
    if (!created.has(id)) out.push(`user ${id} has no user.created audit entry`);
    if (!onboarded.has(id)) out.push(`user ${id} has no user.onboarded audit entry`);
    if (!licensed.has(id)) out.push(`user ${id} has no license.assigned/waitlisted audit entry`);
  }
  if (s.idempotencyKeys.size !== s.users.size) {
    out.push(`${s.users.size} users but ${s.idempotencyKeys.size} idempotency records`);
  }
  for (const p of s.pools.values()) if (p.used > p.capacity) out.push(`pool ${p.id} over capacity`);
  return out;
}

/** Answers whose user or assignment is not in the store as answered. */
function answerMismatches(s: Snapshot, seats: Seats, answers: ReadonlyMap<string, HttpAnswer>): string[] {
  const out: string[] = [];
  for (const [key, a] of answers) {
    const id = a.body?.user?.id as string | undefined;
    if (id === undefined || !s.users.has(id)) {
      out.push(`${key}: answered user ${id} is not in the store`);
      continue;
    }
    if (s.users.get(id)?.status !== 'active') out.push(`${key}: user ${id} is ${s.users.get(id)?.status}`);
    if (!s.idempotencyKeys.has(key)) out.push(`${key}: no idempotency record`);
    const stored = presented(s, seats, id);
    if (JSON.stringify(stored) !== JSON.stringify(a.body.assignments)) {
      out.push(`${key}: answered ${JSON.stringify(a.body.assignments)}, stored ${JSON.stringify(stored)}`);
    }
  }
  return out;
}

describeEachStore('onboarding load with the server killed by SIGKILL', (kind) => {
  let store: TestStore | undefined;
  let db: Db | undefined;

  beforeEach(() => {
    store = createTestStore(kind);
  });
  afterEach(async () => {
    await killAllRoster();
    await db?.close();
    db = undefined;
    await store?.drop();
    store = undefined;
  });

  it('every acknowledged onboarding survives, the invariants hold, and unanswered requests settle once on retry', async () => {
    const st = store as TestStore;
    const first = await startNode(st);
    const seats = await setUpSeats(first.baseUrl, `crash-${kind}-${randomUUID()}`, 'C', SEATS);
    const bodies = Array.from({ length: N }, (_, i) => onboardingBody('crash', i, 'C'));
    const keys = bodies.map((_, i) => `crash-${i}-${randomUUID()}`);

    // The whole load at once; SIGKILL the moment the KILL_AFTER-th 201 arrives.
    let ok = 0;
    let settled = 0;
    let settledAtKill = -1;
    const load = bodies.map((body, i) =>
      postOnboarding(first.baseUrl, seats.token, keys[i] as string, body).then((o) => {
        settled++;
        if (o.answer?.status === 201 && ++ok === KILL_AFTER) {
          settledAtKill = settled;
          first.proc.signal('SIGKILL');
        }
        return o;
      }),
    );
    const outcomes: Outcome[] = await Promise.all(load);
    const exit = await first.proc.waitForExit(10_000);
    expect(exit.signal, 'the server died of the SIGKILL').toBe('SIGKILL');
    expect(settledAtKill, 'the load reached the kill threshold').toBeGreaterThan(0);

    const answered = new Map<string, HttpAnswer>();
    const unanswered: number[] = [];
    const notCreated: string[] = [];
    outcomes.forEach((o, i) => {
      if (o.error) unanswered.push(i);
      else if (o.answer.status === 201) answered.set(keys[i] as string, o.answer);
      else notCreated.push(`#${i}: ${o.answer.status} ${o.answer.raw}`);
    });
    expect(notCreated, 'onboardings answered before the kill with other than 201').toEqual([]);
    // The kill must have landed in the middle of the load, or this test proves nothing.
    expect(answered.size).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(unanswered.length, 'requests cut off by the kill').toBeGreaterThan(0);

    // Restart on the same store.
    const second = await startNode(st);
    db = await st.open();
    const afterCrash = await snapshot(db, seats.tenantId);
    expect(wholeOnboardingViolations(afterCrash, seats), 'store after the crash').toEqual([]);
    expect(answerMismatches(afterCrash, seats, answered), 'acknowledged onboardings after the crash').toEqual(
      [],
    );
    expect(afterCrash.users.size).toBeGreaterThanOrEqual(answered.size);
    expect(afterCrash.users.size).toBeLessThanOrEqual(N);
    const committedUnanswered = [...afterCrash.idempotencyKeys].filter((k) => !answered.has(k));

    // Acknowledged requests replay their first answer byte for byte.
    const replays = await mapLimit([...answered.keys()], 32, (key) =>
      postOnboarding(second.baseUrl, seats.token, key, bodies[keys.indexOf(key)]),
    );
    const badReplays = replays.flatMap((o, i) => {
      const key = [...answered.keys()][i] as string;
      const a = o.answer;
      return a?.status === 201 &&
        a.raw === answered.get(key)?.raw &&
        a.headers['idempotency-replayed'] === 'true'
        ? []
        : [
            `${key}: ${a ? `${a.status} replayed=${a.headers['idempotency-replayed']} ${a.raw}` : o.error?.message}`,
          ];
    });
    expect(badReplays, 'replays of acknowledged onboardings after the restart').toEqual([]);

    // Unanswered requests, re-sent with their keys: each succeeds (fresh, or as a replay of a commit whose
    // answer was lost), and sending it once more replays that answer.
    const retried = await mapLimit(unanswered, 32, async (i) => {
      const key = keys[i] as string;
      const once = await postOnboarding(second.baseUrl, seats.token, key, bodies[i]);
      const twice = await postOnboarding(second.baseUrl, seats.token, key, bodies[i]);
      return { i, key, once, twice };
    });
    const badRetries: string[] = [];
    const final = new Map(answered);
    let replayedRetries = 0;
    for (const { i, key, once, twice } of retried) {
      const a = once.answer;
      const b = twice.answer;
      if (a?.status !== 201) {
        badRetries.push(`#${i} retry: ${a ? `${a.status} ${a.raw}` : once.error?.message}`);
        continue;
      }
      final.set(key, a);
      const id = a.body.user.id as string;
      const wasCommitted = afterCrash.idempotencyKeys.has(key);
      if (a.headers['idempotency-replayed'] === 'true') {
        replayedRetries++;
        if (!wasCommitted) badRetries.push(`#${i} retry: replayed an answer that was never committed`);
        if (!afterCrash.users.has(id)) badRetries.push(`#${i} retry: replayed user ${id} did not exist`);
      } else if (wasCommitted) badRetries.push(`#${i} retry: committed before the crash, yet created anew`);
      if (b?.status !== 201 || b.raw !== a.raw || b.headers['idempotency-replayed'] !== 'true') {
        badRetries.push(`#${i} second retry: ${b ? `${b.status} ${b.raw}` : twice.error?.message}`);
      }
      if (a.body.user.userName !== (bodies[i] as Loose).user.userName) {
        badRetries.push(`#${i} retry: answered for ${a.body.user.userName}`);
      }
    }
    expect(badRetries, 'retries of the unanswered requests').toEqual([]);
    expect(replayedRetries, 'retries answered from a commit made before the crash').toBe(
      committedUnanswered.length,
    );

    // In the end: one user per key, the seats full, everything as answered.
    const end = await snapshot(db, seats.tenantId);
    expect(wholeOnboardingViolations(end, seats), 'store after the retries').toEqual([]);
    expect(answerMismatches(end, seats, final), 'every answered onboarding').toEqual([]);
    expect(final.size).toBe(N);
    const userIds = [...final.values()].map((a) => a.body.user.id as string);
    expect(new Set(userIds).size, 'distinct users over all keys').toBe(N);
    expect([...end.users.keys()].sort(), 'the users of the tenant are the answered ones').toEqual(
      userIds.sort(),
    );
    expect(end.idempotencyKeys).toEqual(new Set(keys));
    expect(activeCount(end), 'seats in use').toBe(CAPACITY);
    expect(end.assignments.filter((a) => a.state === 'waitlisted').length).toBe(N - CAPACITY);
    for (const p of seats.pools) expect(end.pools.get(p.id)).toMatchObject({ used: p.capacity });
    const audited = end.audit.get('user.created') ?? [];
    expect(audited.length, 'user.created entries: one per user').toBe(N);
  }, 240_000);
});
