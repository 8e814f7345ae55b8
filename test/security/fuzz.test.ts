/**
 * Attack: 1,000 random bodies per write route of the route table (fast-check, fixed seed): arbitrary JSON,
 * bodies shaped like the route's valid body with wrong types, huge strings, unicode, nulls and extra keys,
 * and raw bytes. Sent as the tenant admin (the platform admin on platform routes, nobody on public ones):
 * never a 5xx, and a refused request (4xx) changes nothing in the store (fingerprint read after each one).
 * The SCIM routes (/scim/v2) too: their refusals in the SCIM error schema, and a /Bulk request whose operations
 * all fail (200, each failure in the BulkResponse) changing nothing either.
 * A failure names the seed and the failing body: `fc.assert` replays it with `{ seed, path }`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { loadRouteTable, routeKey, routeName } from '../support/routes.js';
import { isScim, SCIM_ERROR } from '../support/scim-routes.js';
import { describeEachStore } from '../support/stores.js';
import {
  APP_OPTIONS,
  callerOf,
  ENV,
  expectEveryWriteCovered,
  fillUrl,
  fingerprint,
  JSON_CT,
  lastAuditSeq,
  lazyWorld,
  sendRaw,
  WRITES,
  writeRoutes,
} from './support.js';

const ROUTES = await loadRouteTable();
const WRITE_ROUTES = writeRoutes(ROUTES);
const SEED = 20_261_203;
const RUNS = 1_000;
/** Requests between two full fingerprints. */
const BLOCK = 25;

/** A value of the wrong kind for almost any field. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 0, 2 ** 53, -(2 ** 31), 1e308),
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    'x'.repeat(4_000),
    '😀'.repeat(300),
    '\u0000',
    'a\u0000b',
    '\u202e\u200b',
    '../../etc/passwd',
    "' or 1=1 --",
    '01900000-0000-7000-8000-000000000001',
    'platform-admin',
    '2020-01-01T00:00:00Z',
  ),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

/** Bodies shaped like `valid`: each field kept, dropped or replaced by a hostile value, plus extra keys. */
function shaped(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  const fields = Object.fromEntries(
    Object.entries(valid).map(([k, v]) => [k, fc.oneof(fc.constant(v), hostileValue, shapedValue(v))]),
  );
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      fc.dictionary(
        fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('tenantId', 'id', 'roles', 'version', 'meta')),
        hostileValue,
        { maxKeys: 2 },
      ),
    )
    .map(([known, extra]) => ({ ...extra, ...known }));
}

/** A nested valid value, itself shaped (objects and arrays of objects). */
function shapedValue(v: unknown): fc.Arbitrary<unknown> {
  if (Array.isArray(v)) return fc.array(v.length > 0 ? shapedValue(v[0]) : hostileValue, { maxLength: 3 });
  if (v !== null && typeof v === 'object') return shaped(v as Record<string, unknown>);
  return hostileValue;
}

/** What is sent: a JSON text (arbitrary, or shaped like the valid body), or raw bytes. */
function payloads(valid: unknown): fc.Arbitrary<string | Buffer> {
  const base = valid !== null && typeof valid === 'object' && !Array.isArray(valid) ? valid : {};
  return fc.oneof(
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)) },
    { weight: 6, arbitrary: shaped(base as Record<string, unknown>).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  );
}

describeEachStore(`attack: ${RUNS} random bodies per write route (fast-check seed ${SEED})`, (kind) => {
  const t = useTestApp(kind, ENV, APP_OPTIONS);
  const world = lazyWorld(t, 'fuzz');

  it('every write route can be called (the coverage of this suite)', () => {
    expectEveryWriteCovered(WRITE_ROUTES);
  });

  describe('never a 5xx; a refused body changes nothing', () => {
    for (const r of WRITE_ROUTES) {
      it(`${routeName(r)}: ${RUNS} bodies (seed ${SEED})`, { timeout: 120_000 }, async () => {
        const w = await world();
        const call = WRITES[routeKey(r)]?.(w) ?? {};
        const caller = callerOf(t(), r, w);
        const url = fillUrl(r, w);
        // Every refusal: no audit entry may follow it (one indexed read). Every BLOCK requests: the full
        // fingerprint (8 ms on PostgreSQL, too dear for each of 30,000 requests), compared when only refusals
        // came since the last one; a block with an accepted request starts a new baseline (its change is its own).
        let baseline = await fingerprint(t());
        let seq = await lastAuditSeq(t());
        let onlyRefused = true;
        let sinceFull = 0;
        let n = 0;
        const statuses = new Map<number, number>();
        const fullCheck = async (why: string) => {
          const now = await fingerprint(t());
          if (onlyRefused)
            expect(now, `after ${sinceFull} refusals (${why}) the store changed`).toEqual(baseline);
          baseline = now;
          onlyRefused = true;
          sinceFull = 0;
        };
        await fc.assert(
          fc.asyncProperty(payloads(call.body), async (payload) => {
            // A fresh key each time: a replayed onboarding would answer its first result.
            const headers: Record<string, string> = { ...(call.headers ?? {}), ...JSON_CT };
            if (headers['idempotency-key']) headers['idempotency-key'] = `fuzz-${++n}`;
            const res = await sendRaw(caller, r, url, payload, headers);
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            expect(res.status, res.raw.slice(0, 300)).toBeLessThan(500);
            sinceFull++;
            // /Bulk answers 200 with each operation's own status (RFC 7644 §3.7.3): none may be a 5xx either.
            const bulkOps =
              routeKey(r) === 'POST /scim/v2/Bulk' && res.status === 200
                ? (res.body?.Operations as { status: string; response?: { schemas?: unknown } }[])
                : undefined;
            for (const o of bulkOps ?? []) {
              expect(Number(o.status), JSON.stringify(o).slice(0, 300)).toBeLessThan(500);
              if (Number(o.status) >= 400)
                expect(o.response?.schemas, JSON.stringify(o)).toEqual([SCIM_ERROR]);
            }
            const bulkFailed = bulkOps?.every((o) => Number(o.status) >= 400) === true;
            if (res.status >= 400) {
              if (isScim(r.url)) {
                expect(String(res.headers['content-type'])).toMatch(/^application\/scim\+json/);
                expect(res.body?.schemas, res.raw.slice(0, 300)).toEqual([SCIM_ERROR]);
                expect(res.body?.status).toBe(String(res.status));
              } else expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
              expect(
                await lastAuditSeq(t()),
                `refused with ${res.status} ${res.body?.code}, yet audited`,
              ).toBe(seq);
              if (sinceFull >= BLOCK) await fullCheck(`the last ${res.status} ${res.body?.code}`);
            } else if (bulkFailed) {
              // Every operation failed: nothing may have changed, as for a refusal.
              expect(
                await lastAuditSeq(t()),
                'a /Bulk request whose operations all failed, yet audited',
              ).toBe(seq);
              if (sinceFull >= BLOCK) await fullCheck('the last /Bulk whose operations all failed');
            } else {
              // Accepted: a key rotation goes on in the background; let it end before anything is compared.
              await t().app.services.rotation.settle();
              onlyRefused = false;
              seq = await lastAuditSeq(t());
            }
          }),
          { seed: SEED, numRuns: RUNS, endOnFailure: true },
        );
        await fullCheck('the end');
        const refused = [...statuses].filter(([s]) => s >= 400).reduce((sum, [, c]) => sum + c, 0);
        // Not vacuous: a route with a body schema refuses most bodies; one without refuses at least the bytes.
        expect(refused, JSON.stringify([...statuses])).toBeGreaterThan(
          call.body === undefined ? RUNS / 20 : RUNS / 2,
        );
      });
    }
  });
});
