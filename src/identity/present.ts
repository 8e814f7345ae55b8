import { maskFields } from '../audit/model.js';
import { type Group, type Tenant, USER_PII_FIELDS, type User } from './model.js';

/** The API shape of a user (for callers allowed to read the tenant's users). */
export function presentUser(u: User) {
  return {
    id: u.id,
    userName: u.userName,
    externalId: u.externalId,
    name: u.name,
    displayName: u.displayName,
    emails: u.emails,
    phoneNumbers: u.phoneNumbers,
    addresses: u.addresses,
    title: u.title,
    department: u.department,
    roles: u.roles,
    location: u.location,
    kind: u.kind,
    manager: u.manager,
    active: u.status === 'active',
    status: u.status,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    version: u.version,
  };
}

/** The audit form of a user: every PII field masked. */
export function auditUser(u: User): Record<string, unknown> {
  const { createdAt: _c, updatedAt: _u, ...view } = presentUser(u);
  return maskFields(view, USER_PII_FIELDS);
}

export function presentGroup(g: Group) {
  return {
    id: g.id,
    displayName: g.displayName,
    externalId: g.externalId,
    description: g.description,
    memberCount: g.memberCount,
    createdAt: g.createdAt,
    updatedAt: g.updatedAt,
    version: g.version,
  };
}

export function auditGroup(g: Group): Record<string, unknown> {
  const { createdAt: _c, updatedAt: _u, ...view } = presentGroup(g);
  return view;
}

export function presentTenant(t: Tenant) {
  return { id: t.id, name: t.name, createdAt: t.createdAt };
}
