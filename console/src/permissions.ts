/**
 * The permission catalogue and the built-in roles, as the server has them in src/access/permissions.ts
 * (test/unit/console/catalogue.test.ts fails when the two differ). The console needs them to know what the
 * signed-in account may do: GET /api/v1/auth/session answers roles only, and GET /api/v1/roles (which lists
 * the permissions of every role) needs roles:read, which helpdesk, auditor, provisioner and viewer lack.
 * Custom roles are read from the API when the account may (docs/console.md, "Permissions").
 *
 * This file imports nothing: the server's tests import it as it is.
 */

export const PERMISSIONS: Readonly<Record<string, string>> = {
  'tenants:manage': 'Create and list tenants',
  'tenants:act': 'Act on any tenant by naming it in the Roster-Tenant header',
  'keys:read': 'Read key state: providers, versions, rotation jobs',
  'keys:manage': 'Rotate KEKs and tenant keys; destroy retired KEK versions',
  'metrics:read': 'Read Prometheus metrics',
  'tenants:read': "Read the caller's tenant",
  'users:read': 'Read and search users and their groups',
  'users:write': 'Create users and change any of their attributes',
  'users:status': "Change a user's status (active, suspended) and nothing else",
  'users:delete': 'Delete users',
  'users:erase': 'Erase users (crypto-shredding) and read erasure requests',
  'users:offboard': 'Offboard users (deactivate and release every seat)',
  'onboarding:run': 'Onboard people (user and seats in one request)',
  'groups:read': 'Read groups and their members',
  'groups:write': 'Create, change and delete groups and their members',
  'licenses:read': "Read users' license assignments",
  'licenses:assign': 'Assign and release license seats',
  'pools:read': 'Read products and license pools',
  'pools:manage': 'Create products; create, resize and delete pools',
  'audit:read': 'Read the audit log: checkpoints, proofs, current holders',
  'reports:read': 'Produce compliance reports (CSV, PDF)',
  'tokens:manage': 'Mint, list and revoke API tokens',
  'roles:read': 'Read roles (built-in and custom)',
  'roles:manage': 'Create, change and delete custom roles',
  'admins:read': 'Read admin accounts',
  'admins:manage': 'Create, change and disable admin accounts; reset their second factor',
  'scim:provision': 'Provision users and groups through SCIM 2.0 (/scim/v2)',
};

export const ALL_PERMISSIONS: readonly string[] = Object.keys(PERMISSIONS);

/** Only platform accounts hold these; a tenant role never grants them. */
export const PLATFORM_PERMISSIONS: ReadonlySet<string> = new Set([
  'tenants:manage',
  'tenants:act',
  'keys:read',
  'keys:manage',
  'metrics:read',
]);

const TENANT_PERMISSIONS = ALL_PERMISSIONS.filter((p) => !PLATFORM_PERMISSIONS.has(p));
const READ_ONLY = ['tenants:read', 'users:read', 'groups:read', 'licenses:read', 'pools:read'];

export const BUILT_IN_ROLES: Readonly<Record<string, readonly string[]>> = {
  'platform-admin': ALL_PERMISSIONS,
  'tenant-admin': TENANT_PERMISSIONS,
  helpdesk: [...READ_ONLY, 'users:status'],
  auditor: ['tenants:read', 'audit:read', 'reports:read'],
  provisioner: ['scim:provision', 'onboarding:run', 'users:offboard'],
  viewer: READ_ONLY,
};

export function isBuiltInRole(name: string): boolean {
  return Object.hasOwn(BUILT_IN_ROLES, name);
}

/**
 * What `roles` grant (as the server's permissionsOf): built-in roles from the table above, custom ones from
 * `custom`; a tenant-bound account never holds a platform permission.
 */
export function permissionsOf(
  roles: readonly string[],
  custom: ReadonlyMap<string, readonly string[]>,
  platform: boolean,
): Set<string> {
  const out = new Set<string>();
  for (const role of roles) {
    const granted = isBuiltInRole(role) ? BUILT_IN_ROLES[role] : custom.get(role);
    for (const p of granted ?? []) if (platform || !PLATFORM_PERMISSIONS.has(p)) out.add(p);
  }
  return out;
}

/** The role names of `grants` still in force at `now` (expired grants count for nothing). */
export function rolesInForce(
  grants: readonly { role: string; expiresAt: string | null }[] | undefined,
  fallback: readonly string[],
  now: Date,
): string[] {
  if (!grants) return [...fallback];
  const at = now.toISOString();
  return [...new Set(grants.filter((g) => g.expiresAt === null || g.expiresAt > at).map((g) => g.role))];
}
