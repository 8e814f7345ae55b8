/**
 * The console keeps its own copy of the permission catalogue and the built-in roles (it cannot ask the API
 * for them without roles:read): it must stay equal to the server's, so that what the console hides is what
 * the server refuses. Also the console's reader of /metrics.
 */
import { describe, expect, it } from 'vitest';
import * as consoleSide from '../../../console/src/permissions.js';
import { parsePrometheus, rate, sumOf } from '../../../console/src/prometheus.js';
import * as serverSide from '../../../src/access/permissions.js';

describe('console permission catalogue', () => {
  it('has the server catalogue, with the same descriptions', () => {
    expect(consoleSide.PERMISSIONS).toEqual(serverSide.PERMISSIONS);
    expect([...consoleSide.PLATFORM_PERMISSIONS].sort()).toEqual([...serverSide.PLATFORM_PERMISSIONS].sort());
  });

  it('has the built-in roles with the same permissions', () => {
    const server = Object.fromEntries(
      Object.entries(serverSide.BUILT_IN_ROLES).map(([name, r]) => [name, [...r.permissions].sort()]),
    );
    const mine = Object.fromEntries(
      Object.entries(consoleSide.BUILT_IN_ROLES).map(([name, ps]) => [name, [...ps].sort()]),
    );
    expect(mine).toEqual(server);
  });

  it('resolves roles to permissions as the server does', () => {
    const custom = new Map([['seat-clerk', ['licenses:assign', 'pools:read', 'keys:read']]]);
    for (const roles of [
      ['helpdesk'],
      ['auditor', 'viewer'],
      ['tenant-admin'],
      ['seat-clerk'],
      ['platform-admin'],
    ]) {
      for (const platform of [true, false]) {
        const server = serverSide.permissionsOf(roles, custom as never, platform);
        expect([...consoleSide.permissionsOf(roles, custom, platform)].sort(), roles.join()).toEqual(
          [...server].sort(),
        );
      }
    }
    expect(consoleSide.permissionsOf(['helpdesk'], new Map(), false).has('pools:manage')).toBe(false);
  });

  it('drops expired grants', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const grants = [
      { role: 'helpdesk', expiresAt: null },
      { role: 'tenant-admin', expiresAt: '2025-12-31T00:00:00.000Z' },
      { role: 'auditor', expiresAt: '2026-02-01T00:00:00.000Z' },
    ];
    expect(consoleSide.rolesInForce(grants, [], now)).toEqual(['helpdesk', 'auditor']);
    expect(consoleSide.rolesInForce(undefined, ['viewer'], now)).toEqual(['viewer']);
  });
});

describe('console /metrics reader', () => {
  const text = [
    '# HELP roster_onboardings_total Onboardings',
    '# TYPE roster_onboardings_total counter',
    'roster_onboardings_total{outcome="created"} 12',
    'roster_onboardings_total{outcome="failed"} 1',
    'roster_http_request_duration_seconds_count{route="/api/v1/users",method="GET",status="2xx"} 40',
    'roster_http_request_duration_seconds_count{route="/api/v1/users",method="POST",status="4xx"} 3',
    'roster_http_request_duration_seconds_count{route="/x \\"q\\"",method="GET",status="5xx"} 2',
    'roster_audit_integration_lag_seconds 0.25',
    'roster_process_start_time_seconds 1.7e9 1700000000000',
  ].join('\n');

  it('sums samples by label', () => {
    const s = parsePrometheus(text);
    expect(sumOf(s, 'roster_onboardings_total')).toBe(13);
    expect(sumOf(s, 'roster_onboardings_total', { outcome: 'created' })).toBe(12);
    expect(sumOf(s, 'roster_http_request_duration_seconds_count', { status: '5xx' })).toBe(2);
    expect(sumOf(s, 'roster_http_request_duration_seconds_count')).toBe(45);
    expect(sumOf(s, 'roster_audit_integration_lag_seconds')).toBe(0.25);
    expect(sumOf(s, 'roster_process_start_time_seconds')).toBe(1.7e9);
    expect(s.find((x) => x.labels.status === '5xx')?.labels.route).toBe('/x "q"');
  });

  it('gives no rate for a restarted counter or no time', () => {
    expect(rate(10, 20, 5)).toBe(2);
    expect(rate(20, 10, 5)).toBeNull();
    expect(rate(1, 2, 0)).toBeNull();
  });
});
