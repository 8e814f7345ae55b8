/**
 * Attack: hostile input on every write route of the route table (generated: a write route the suite cannot
 * call fails the coverage test). Oversized bodies (413), nesting over 32 levels, invalid UTF-8, prototype
 * pollution keys, an empty body (400), foreign content types (415): each answered as problem+json (under
 * /scim/v2: the SCIM error schema, `invalidSyntax` for what is no JSON), never a 5xx, with nothing changed in the
 * store and Object.prototype untouched. SCIM's /Bulk takes bodies up to the `bulk.maxPayloadSize` it
 * advertises (RFC 7644 §3.7.4: 413 past it), the other routes up to ROSTER_BODY_LIMIT.
 */
import { describe, expect, it } from 'vitest';
import type { RouteEntry } from '../../src/platform/http/server.js';
import { type TestApp, useTestApp } from '../support/app.js';
import { loadRouteTable, routeKey, routeName } from '../support/routes.js';
import { expectScimType, isScim } from '../support/scim-routes.js';
import { describeEachStore } from '../support/stores.js';
import {
  APP_OPTIONS,
  callerOf,
  ENV,
  expectError,
  expectEveryWriteCovered,
  fillUrl,
  fingerprint,
  JSON_CT,
  lazyWorld,
  sendRaw,
  type World,
  WRITES,
  writeRoutes,
} from './support.js';

const ROUTES = await loadRouteTable();
const WRITE_ROUTES = writeRoutes(ROUTES);
const BODY_LIMIT = 8_192;

const nested = (depth: number) => `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;

/** Payloads the JSON parser must refuse with 400 before any handler, whatever the route. */
const MALFORMED: [string, string | Buffer][] = [
  ['nesting of 33 levels', nested(33)],
  ['nesting of 4000 levels (just under the size limit)', nested(4_000)],
  [
    'invalid UTF-8',
    Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]),
  ],
  [
    'an overlong UTF-8 encoding',
    Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]),
  ],
  [
    'a lone surrogate half in UTF-8',
    Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
  ],
  ['__proto__ at the top', '{"__proto__":{"polluted":"yes"}}'],
  ['__proto__ nested', '{"name":{"x":[{"__proto__":{"polluted":"yes"}}]}}'],
  ['__proto__ escaped', '{"\\u005f_proto__":{"polluted":"yes"}}'],
  ['constructor.prototype at the top', '{"constructor":{"prototype":{"polluted":"yes"}}}'],
  ['constructor.prototype nested', '{"user":{"constructor":{"prototype":{"polluted":"yes"}}}}'],
  ['an empty body', ''],
  ['whitespace only', ' \n\t '],
  ['not JSON', 'name=x&polluted=yes'],
];

/** Keys that are merely names: refused by the schemas (or the parser), never polluting, never a 5xx. */
const ODD_KEYS: [string, string][] = [
  ['a constructor key', '{"constructor":"yes"}'],
  ['a prototype key', '{"prototype":{"polluted":"yes"}}'],
  ['constructor nested without prototype', '{"name":{"constructor":{"polluted":"yes"}}}'],
];

const FOREIGN_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/xml',
  'multipart/form-data; boundary=x',
];

/** Object.prototype as it was when the file loaded: nothing may add to it. */
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

function expectPrototypeClean(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTO_KEYS);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
}

/**
 * Waits for the key job at `location` (GET /api/v1/keys/jobs/{id}) to stop rewriting: `done`, or `draining`
 * (a tenant key whose old version still seals a stored onboarding answer retires only when that expires).
 */
async function jobDone(t: TestApp, location: string): Promise<void> {
  expect(location).toMatch(/^\/api\/v1\/keys\/jobs\//);
  await expect
    .poll(async () => (await t.admin.get(location)).body.state, { timeout: 30_000, interval: 50 })
    .toMatch(/^(done|draining)$/);
}

describeEachStore('attack: hostile input on every write route (generated from the route table)', (kind) => {
  const t = useTestApp(kind, { ...ENV, ROSTER_BODY_LIMIT: String(BODY_LIMIT) }, APP_OPTIONS);
  const world = lazyWorld(t, 'input');

  /** The most a route takes: SCIM's /Bulk its advertised maxPayloadSize, any other ROSTER_BODY_LIMIT. */
  async function bodyLimitOf(r: RouteEntry, w: World): Promise<number> {
    if (routeKey(r) !== 'POST /scim/v2/Bulk') return BODY_LIMIT;
    const config = await w.api.get('/scim/v2/ServiceProviderConfig');
    expect(config.status, config.raw).toBe(200);
    expect(config.body.bulk.supported).toBe(true);
    const advertised = config.body.bulk.maxPayloadSize;
    expect(Number.isInteger(advertised) && advertised > 0, String(advertised)).toBe(true);
    return advertised;
  }

  it('every write route can be called (the coverage of this suite)', () => {
    expectEveryWriteCovered(WRITE_ROUTES);
  });

  for (const r of WRITE_ROUTES) {
    describe(routeName(r), () => {
      /** Sends `payload` with `headers` and checks the answer is the problem `status` and nothing changed. */
      async function attack(
        what: string,
        payload: string | Buffer,
        headers: Record<string, string>,
        status: number[],
      ) {
        const w = await world();
        const before = await fingerprint(t());
        const headersOf = WRITES[routeKey(r)]?.(w).headers ?? {};
        const res = await sendRaw(callerOf(t(), r, w), r, fillUrl(r, w), payload, {
          ...headersOf,
          ...headers,
        });
        expect(status, `${what}: ${res.status} ${res.raw.slice(0, 300)}`).toContain(res.status);
        expectError(r.url, res, res.status, undefined, what);
        expect(res.raw.includes('polluted'), `${what}: echoed`).toBe(false);
        expect(await fingerprint(t()), `${what}: the store changed`).toEqual(before);
        expectPrototypeClean();
        return res;
      }

      it(`a body over ROSTER_BODY_LIMIT (SCIM /Bulk: its maxPayloadSize) answers 413`, async () => {
        const big = JSON.stringify({ name: 'x'.repeat(await bodyLimitOf(r, await world())) });
        const res = await attack('oversized', big, JSON_CT, [413]);
        expect(res.body.code).toBe('request.body_too_large');
        // Also when the client does not say how long it is (chunked).
        const chunked = await attack(
          'oversized, chunked',
          big,
          { ...JSON_CT, 'transfer-encoding': 'chunked' },
          [413],
        );
        expect(chunked.body.code).toBe('request.body_too_large');
      });

      for (const [what, payload] of MALFORMED) {
        it(`${what} answers 400 request.malformed_json`, async () => {
          const res = await attack(what, payload, JSON_CT, [400]);
          expect(res.body.code).toBe('request.malformed_json');
          if (isScim(r.url)) expectScimType(res, 'invalidSyntax', what);
        });
      }

      it('constructor and prototype keys that pollute nothing are refused without a 5xx', async () => {
        for (const [what, payload] of ODD_KEYS) {
          // 422 where the schema knows no such field (400 under SCIM, which has no 422); a route without a body
          // schema may ignore it (2xx).
          const w = await world();
          const before = await fingerprint(t());
          const res = await sendRaw(callerOf(t(), r, w), r, fillUrl(r, w), payload, {
            ...(WRITES[routeKey(r)]?.(w).headers ?? {}),
          });
          expect(res.status, `${what}: ${res.raw.slice(0, 300)}`).toBeLessThan(500);
          // A taken key rotation runs on in the background: let it finish, or its entries land in a later test.
          if (res.status === 202) await jobDone(t(), String(res.headers.location));
          if (res.status >= 400) {
            expectError(r.url, res, res.status, undefined, what);
            expect(await fingerprint(t()), what).toEqual(before);
          }
          expectPrototypeClean();
        }
      });

      for (const type of FOREIGN_TYPES) {
        it(`Content-Type ${type} answers 415`, async () => {
          const res = await attack(type, '{"name":"x"}', { 'content-type': type }, [415]);
          expect(res.body.code).toBe('request.unsupported_media_type');
        });
      }
    });
  }
});
