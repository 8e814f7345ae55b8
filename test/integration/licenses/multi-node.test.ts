/**
 * Several Roster processes on one PostgreSQL schema: concurrent onboardings spread over three nodes must
 * never oversubscribe a pool, offboardings must hand freed seats to the head of the waitlist, and one
 * idempotency key sent to every node at once must create exactly one user and one answer.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Db } from '../../../src/platform/db/index.js';
import { createTestStore, type TestStore } from '../../support/stores.js';
import { assertBuilt, killAllRoster, type Loose, type Server } from '../cli/process.js';
import {
  activeCount,
  attempt,
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

const NODES = 3;

/** Requests that got no HTTP answer at all, or a 5xx, or anything but `status`, described for the failure. */
function misfits(outcomes: readonly Outcome[], status: number) {
  const noAnswer: string[] = [];
  const serverErrors: string[] = [];
  const other: string[] = [];
  outcomes.forEach((o, i) => {
    const node = i % NODES;
    if (o.error) noAnswer.push(`#${i} (node ${node}): ${o.error.message}`);
    else if (o.answer.status >= 500)
      serverErrors.push(`#${i} (node ${node}): ${o.answer.status} ${o.answer.raw}`);
    else if (o.answer.status !== status)
      other.push(`#${i} (node ${node}): ${o.answer.status} ${o.answer.raw}`);
  });
  return { noAnswer, serverErrors, other };
}

const pgAvailable = inject('pgAvailable');

(pgAvailable ? describe : describe.skip)(
  'license seats with three Roster nodes on one PostgreSQL schema',
  () => {
    let store: TestStore | undefined;
    let db: Db | undefined;
    const nodes: Server[] = [];

    beforeAll(async () => {
      assertBuilt();
      store = createTestStore('postgres');
      // The first node migrates the schema and creates the shared key file; the others join it.
      nodes.push(await startNode(store));
      const s = store;
      nodes.push(...(await Promise.all(Array.from({ length: NODES - 1 }, () => startNode(s)))));
      db = await store.open();
    }, 120_000);

    afterAll(async () => {
      await killAllRoster();
      await db?.close();
      await store?.drop();
    });

    const node = (i: number) => (nodes[i % NODES] as Server).baseUrl;

    /** Checks the pools as every node's API shows them against the store. */
    async function expectPoolsAsStored(seats: Seats, s: Snapshot): Promise<void> {
      const waitlisted = s.assignments.filter((a) => a.state === 'waitlisted').length;
      for (let i = 0; i < NODES; i++) {
        const res = await attempt(node(i), 'GET', `/api/v1/pools?product=${seats.sku}`, {
          token: seats.token,
        });
        expect(res.answer?.status, res.answer?.raw ?? res.error?.message).toBe(200);
        const items = (res.answer?.body.items ?? []) as Loose[];
        expect(
          items.map((p) => ({ id: p.id, used: p.used, capacity: p.capacity, waitlisted: p.waitlisted })),
          `GET /api/v1/pools on node ${i}`,
        ).toEqual(
          [...seats.pools]
            .sort((a, b) => (a.id < b.id ? -1 : 1))
            .map((p) => ({ id: p.id, used: activeCount(s, p.id), capacity: p.capacity, waitlisted })),
        );
      }
    }

    it('1,000 concurrent onboardings over three nodes fill 250 seats exactly; 100 offboardings promote the 100 first waiting', async () => {
      const seats = await setUpSeats(node(0), `multi-node-${randomUUID()}`, 'P', [100, 90, 60]);
      const N = 1000;
      const bodies = Array.from({ length: N }, (_, i) => onboardingBody('mn', i, 'P'));
      const keys = bodies.map((_, i) => `mn-${i}-${randomUUID()}`);

      // All 1,000 at once, round-robin over the nodes.
      const outcomes = await Promise.all(
        bodies.map((body, i) => postOnboarding(node(i), seats.token, keys[i] as string, body)),
      );
      const bad = misfits(outcomes, 201);
      expect(bad.noAnswer, 'onboardings without any answer').toEqual([]);
      expect(bad.serverErrors, 'onboardings answered 5xx').toEqual([]);
      expect(bad.other, 'onboardings answered other than 201').toEqual([]);

      const answers = outcomes.map((o) => o.answer?.body as Loose);
      const userIds = answers.map((a) => a.user.id as string);
      expect(new Set(userIds).size).toBe(N);
      const answeredStates = answers.map((a) => a.assignments[0]?.state);
      expect(answeredStates.filter((st) => st === 'active').length, 'answers with an active seat').toBe(250);
      expect(answeredStates.filter((st) => st === 'waitlisted').length, 'answers with a waitlist place').toBe(
        750,
      );

      // The store agrees with the answers.
      const s = await snapshot(db as Db, seats.tenantId);
      expect(seatViolations(s)).toEqual([]);
      expect(s.users.size).toBe(N);
      expect(s.assignments.length).toBe(N);
      expect(activeCount(s)).toBe(250);
      expect(s.assignments.filter((a) => a.state === 'waitlisted').length).toBe(750);
      for (const p of seats.pools) expect(s.pools.get(p.id)).toMatchObject({ used: p.capacity });
      const mismatched = answers.flatMap((a, i) => {
        const stored = presented(s, seats, a.user.id);
        return JSON.stringify(stored) === JSON.stringify(a.assignments)
          ? []
          : [`#${i}: answered ${JSON.stringify(a.assignments)}, stored ${JSON.stringify(stored)}`];
      });
      expect(mismatched, 'answers whose assignment differs from the store').toEqual([]);

      // Every node's API shows the same seats: used equals the active count per pool.
      await expectPoolsAsStored(seats, s);
      const licenses = await mapLimit(userIds, 24, (id, i) =>
        attempt(node(i), 'GET', `/api/v1/users/${id}/licenses`, { token: seats.token }),
      );
      const licenseMismatch = licenses.flatMap((o, i) => {
        const id = userIds[i] as string;
        const expected = JSON.stringify({ items: presented(s, seats, id) });
        return o.answer?.status === 200 && JSON.stringify(o.answer.body) === expected
          ? []
          : [
              `${id}: ${o.answer ? `${o.answer.status} ${o.answer.raw}` : o.error?.message}, expected ${expected}`,
            ];
      });
      expect(licenseMismatch, 'GET /users/{id}/licenses differing from the store').toEqual([]);

      // Offboard 100 seat holders, spread over the nodes, all at once.
      const holders = s.assignments
        .filter((a) => a.state === 'active')
        .map((a) => a.userId)
        .sort();
      const leavers = holders.filter((_, i) => i % 2 === 0).slice(0, 100);
      expect(leavers.length).toBe(100);
      const queue = s.assignments
        .filter((a) => a.state === 'waitlisted')
        .sort((a, b) => (a.waitlistPosition as number) - (b.waitlistPosition as number));
      const firstWaiting = queue.slice(0, 100).map((a) => a.userId);
      const stillWaiting = queue.slice(100).map((a) => a.userId);

      const offs = await Promise.all(
        leavers.map((id, i) =>
          attempt(node(i), 'POST', `/api/v1/users/${id}/offboard`, { token: seats.token }),
        ),
      );
      const badOffs = misfits(offs, 200);
      expect(badOffs.noAnswer, 'offboardings without any answer').toEqual([]);
      expect(badOffs.serverErrors, 'offboardings answered 5xx').toEqual([]);
      expect(badOffs.other, 'offboardings answered other than 200').toEqual([]);
      for (const o of offs) {
        expect(o.answer?.body.user.status).toBe('deprovisioned');
        expect(o.answer?.body.released).toEqual([
          expect.objectContaining({ product: 'P', state: 'active', source: 'direct' }),
        ]);
      }

      const after = await snapshot(db as Db, seats.tenantId);
      expect(seatViolations(after)).toEqual([]);
      expect(activeCount(after), 'seats in use after the offboardings').toBe(250);
      expect(after.assignments.filter((a) => a.state === 'waitlisted').length).toBe(650);
      for (const p of seats.pools) expect(after.pools.get(p.id)).toMatchObject({ used: p.capacity });
      for (const id of leavers) {
        expect(after.users.get(id)?.status).toBe('deprovisioned');
        expect(after.assignments.filter((a) => a.userId === id)).toEqual([]);
      }
      const wasWaiting = new Set(queue.map((a) => a.userId));
      const promoted = after.assignments
        .filter((a) => a.state === 'active' && wasWaiting.has(a.userId))
        .map((a) => a.userId)
        .sort();
      expect(promoted.length, 'waitlisted assignments that became active').toBe(100);
      expect(promoted, 'the promoted are the 100 lowest waitlist positions').toEqual(
        [...firstWaiting].sort(),
      );
      expect(
        after.assignments
          .filter((a) => a.state === 'waitlisted')
          .map((a) => a.userId)
          .sort(),
      ).toEqual([...stillWaiting].sort());
      // Those who kept their seat kept it in the same pool.
      for (const a of s.assignments.filter((x) => x.state === 'active' && !leavers.includes(x.userId))) {
        expect(after.assignments.find((x) => x.userId === a.userId)).toMatchObject({
          state: 'active',
          poolId: a.poolId,
        });
      }
      await expectPoolsAsStored(seats, after);
    }, 300_000);

    it('a user without a location is onboarded into an unscoped pool on every node', async () => {
      const seats = await setUpSeats(node(2), `multi-node-noloc-${randomUUID()}`, 'R', [2, 2]);
      const outcomes: Outcome[] = [];
      for (let i = 0; i < NODES; i++) {
        outcomes.push(
          await postOnboarding(
            node(i),
            seats.token,
            `noloc-${i}-${randomUUID()}`,
            onboardingBody('noloc', i, 'R', false),
          ),
        );
      }
      const bad = misfits(outcomes, 201);
      expect(bad.noAnswer).toEqual([]);
      expect(bad.serverErrors, 'onboardings of users without a location answered 5xx').toEqual([]);
      expect(bad.other).toEqual([]);
      for (const o of outcomes) {
        expect(o.answer?.body.assignments).toEqual([
          expect.objectContaining({ product: 'R', state: 'active', source: 'direct' }),
        ]);
      }
      const s = await snapshot(db as Db, seats.tenantId);
      expect(seatViolations(s)).toEqual([]);
      expect(activeCount(s)).toBe(NODES);
    }, 60_000);

    it('one idempotency key sent to all three nodes at once creates exactly one user, and every answer is the same', async () => {
      const seats = await setUpSeats(node(1), `multi-node-idem-${randomUUID()}`, 'Q', [3]);
      const ROUNDS = 5;
      const PER_ROUND = 30;
      const users: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const key = `same-${round}-${randomUUID()}`;
        const body = onboardingBody('same', round, 'Q');
        const outcomes = await Promise.all(
          Array.from({ length: PER_ROUND }, (_, i) => postOnboarding(node(i), seats.token, key, body)),
        );
        const bad = misfits(outcomes, 201);
        expect(bad.noAnswer, `round ${round}: requests without any answer`).toEqual([]);
        expect(bad.serverErrors, `round ${round}: requests answered 5xx`).toEqual([]);
        const distinct = new Map<string, number[]>();
        outcomes.forEach((o, i) => {
          const k = `${o.answer?.status} ${o.answer?.raw}`;
          distinct.set(k, [...(distinct.get(k) ?? []), i]);
        });
        const described = [...distinct].map(([answer, who]) => `${answer}  <- requests ${who.join(',')}`);
        expect(
          described.length,
          `round ${round}: the distinct answers to one key:\n${described.join('\n')}`,
        ).toBe(1);
        const first = outcomes[0]?.answer;
        expect(first?.status).toBe(201);
        expect(first?.body.user.userName).toBe(body.user.userName);
        users.push(first?.body.user.id);
      }

      const s = await snapshot(db as Db, seats.tenantId);
      expect([...s.users.keys()].sort(), 'users of the tenant: one per key').toEqual([...users].sort());
      expect(s.idempotencyKeys.size).toBe(ROUNDS);
      expect(s.assignments.length).toBe(ROUNDS);
      expect(seatViolations(s)).toEqual([]);
      expect(activeCount(s)).toBe(3);
      expect([...(s.audit.get('user.created') ?? [])].sort()).toEqual([...users].sort());
      expect([...(s.audit.get('user.onboarded') ?? [])].sort()).toEqual([...users].sort());
    }, 120_000);
  },
);
