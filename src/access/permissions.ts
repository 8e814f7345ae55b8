/**
 * The permission catalogue and the built-in roles (docs/permissions.md). One permission per API action; a
 * route names the one it needs in its config (`permission`), and the HTTP layer refuses a caller whose roles
 * do not grant it with 403 `auth.forbidden`, naming the permission. Role grants (`RoleGrant`) are in model.ts.
 */

export { parseGrants, type RoleGrant, rolesInForce } from './model.js';

export const PERMISSIONS = {
  // Platform (never part of a tenant's role).
  'tenants:manage': 'Create and list tenants',
  'tenants:act': 'Act on any tenant by naming it in the Roster-Tenant header',
  'keys:read': 'Read key state: providers, versions, rotation jobs',
  'keys:manage': 'Rotate KEKs and tenant keys; destroy retired KEK versions',
  'metrics:read': 'Read Prometheus metrics',
  // A tenant's own.
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
} as const;

export type Permission = keyof typeof PERMISSIONS;

export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

/** Permissions that only platform credentials can hold: no tenant role may contain them. */
export const PLATFORM_PERMISSIONS: ReadonlySet<Permission> = new Set([
  'tenants:manage',
  'tenants:act',
  'keys:read',
  'keys:manage',
  'metrics:read',
]);

export const TENANT_PERMISSIONS = ALL_PERMISSIONS.filter((p) => !PLATFORM_PERMISSIONS.has(p));

const READ_ONLY: readonly Permission[] = [
  'tenants:read',
  'users:read',
  'groups:read',
  'licenses:read',
  'pools:read',
];

/** The built-in roles: their names cannot be taken by custom roles, their permissions cannot change. */
export const BUILT_IN_ROLES = {
  'platform-admin': {
    description: 'Everything, on the platform and on any tenant it names',
    permissions: ALL_PERMISSIONS,
  },
  'tenant-admin': {
    description: 'Everything within its tenant',
    permissions: TENANT_PERMISSIONS,
  },
  helpdesk: {
    description: "Reads users, groups and seats; changes a user's status; no pools, tokens, roles or audit",
    permissions: [...READ_ONLY, 'users:status'],
  },
  auditor: {
    description: 'Reads the audit log and produces compliance reports; nothing else',
    permissions: ['tenants:read', 'audit:read', 'reports:read'],
  },
  provisioner: {
    description: 'SCIM provisioning and onboarding/offboarding only (for an identity provider or HR tool)',
    permissions: ['scim:provision', 'onboarding:run', 'users:offboard'],
  },
  viewer: {
    description: 'Reads users, groups, seats, products and pools',
    permissions: READ_ONLY,
  },
} as const satisfies Record<string, { description: string; permissions: readonly Permission[] }>;

export type BuiltInRole = keyof typeof BUILT_IN_ROLES;

export function isBuiltInRole(name: string): name is BuiltInRole {
  return Object.hasOwn(BUILT_IN_ROLES, name);
}

export function isPermission(name: string): name is Permission {
  return Object.hasOwn(PERMISSIONS, name);
}

/**
 * The permissions that `roles` grant: built-in roles from the catalogue, others from `custom` (the
 * tenant's custom roles by name). Unknown names grant nothing. A tenant-bound credential never holds a
 * platform permission, whatever its roles say.
 */
export function permissionsOf(
  roles: readonly string[],
  custom: ReadonlyMap<string, readonly Permission[]>,
  platform: boolean,
): Set<Permission> {
  const out = new Set<Permission>();
  for (const role of roles) {
    const granted = isBuiltInRole(role) ? BUILT_IN_ROLES[role].permissions : custom.get(role);
    for (const p of granted ?? []) if (platform || !PLATFORM_PERMISSIONS.has(p)) out.add(p);
  }
  return out;
}
