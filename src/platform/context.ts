/** Who acts: an API token, an admin account (session), the ROSTER_ADMIN_TOKEN, the CLI operator, or Roster. */
export interface Actor {
  readonly type: 'token' | 'admin' | 'admin-token' | 'cli' | 'system';
  /** Token id for `token`, admin account id for `admin`; a fixed name otherwise. */
  readonly id: string;
  /** The tenant the credential is bound to; null for platform-wide credentials. */
  readonly tenantId: string | null;
  readonly roles: readonly string[];
}

/** What every use case receives besides its input: who acts, on which tenant, under which request. */
export interface Context {
  readonly actor: Actor;
  readonly requestId: string | undefined;
}

/** The context of a use case that acts on one tenant. */
export interface TenantContext extends Context {
  readonly tenantId: string;
}

export function isPlatformActor(actor: Actor): boolean {
  return actor.tenantId === null;
}

/** The audit form of an actor: `token:<id>`, `admin:<id>`, `admin-token`, `cli`, `system`. */
export function actorRef(actor: Actor): string {
  return actor.type === 'token' || actor.type === 'admin' ? `${actor.type}:${actor.id}` : actor.type;
}

export const SYSTEM_ACTOR: Actor = Object.freeze({ type: 'system', id: 'system', tenantId: null, roles: [] });
export const CLI_ACTOR: Actor = Object.freeze({
  type: 'cli',
  id: 'cli',
  tenantId: null,
  roles: ['platform-admin'],
});
