import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, api } from './api';
import { isBuiltInRole, permissionsOf, rolesInForce } from './permissions';
import type { Role, SessionView, Tenant } from './types';

const TENANT_KEY = 'roster.console.tenant';

export interface SessionState {
  readonly session: SessionView;
  /** Permissions the account holds for the tenant it acts on. */
  readonly permissions: ReadonlySet<string>;
  /**
   * True when the account holds a custom role whose permissions could not be read (it lacks roles:read):
   * actions are then shown, and the API refuses what the account may not do.
   */
  readonly uncertain: boolean;
  readonly isPlatform: boolean;
  /** The tenant acted on: the account's own, or the one a platform account chose (null: platform scope). */
  readonly tenantId: string | null;
  readonly tenantName: string | null;
  /** Platform accounts: the tenants they may choose from (empty when they cannot list them). */
  readonly tenants: readonly Tenant[];
  chooseTenant(id: string | null): void;
  can(permission: string): boolean;
  logout(): Promise<void>;
}

const Ctx = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const s = useContext(Ctx);
  if (!s) throw new Error('useSession outside a signed-in console');
  return s;
}

/** True when the account may do `permission` (see SessionState.uncertain). */
export function useCan(): (permission: string) => boolean {
  return useSession().can;
}

export function SessionProvider(props: {
  session: SessionView;
  onLoggedOut: () => void;
  children: ReactNode;
}): ReactNode {
  const { session, onLoggedOut } = props;
  const isPlatform = session.admin.tenantId === null;
  const roles = useMemo(
    () => rolesInForce(session.admin.roleGrants, session.admin.roles, new Date()),
    [session.admin.roleGrants, session.admin.roles],
  );
  const [custom, setCustom] = useState<ReadonlyMap<string, readonly string[]>>(new Map());
  const [tenants, setTenants] = useState<readonly Tenant[]>([]);
  const [tenantId, setTenantId] = useState<string | null>(() => {
    if (!isPlatform) return session.admin.tenantId;
    return sessionStorage.getItem(TENANT_KEY);
  });
  const [tenantName, setTenantName] = useState<string | null>(null);
  api.setTenant(isPlatform ? tenantId : null);

  const builtIn = useMemo(() => permissionsOf(roles, new Map(), isPlatform), [roles, isPlatform]);
  const customNames = useMemo(() => roles.filter((r) => !isBuiltInRole(r)), [roles]);

  // Custom roles: their permissions come from the API, when the account may read roles.
  useEffect(() => {
    if (customNames.length === 0 || !builtIn.has('roles:read') || (isPlatform && !tenantId)) return;
    let live = true;
    void (async () => {
      const found = new Map<string, readonly string[]>();
      for (const name of customNames) {
        try {
          const role = await api.get<Role>(`/api/v1/roles/${encodeURIComponent(name)}`);
          found.set(name, role.permissions);
        } catch {
          // Deleted meanwhile, or unreadable: it grants nothing we can see.
        }
      }
      if (live) setCustom(found);
    })();
    return () => {
      live = false;
    };
  }, [customNames, builtIn, isPlatform, tenantId]);

  useEffect(() => {
    let live = true;
    if (isPlatform && builtIn.has('tenants:manage')) {
      void api
        .get<{ items: Tenant[] }>('/api/v1/tenants', { limit: 200 })
        .then((page) => {
          if (live) setTenants(page.items);
        })
        .catch(() => undefined);
    }
    return () => {
      live = false;
    };
  }, [isPlatform, builtIn]);

  useEffect(() => {
    let live = true;
    setTenantName(null);
    if (!tenantId) return;
    const known = tenants.find((t) => t.id === tenantId);
    if (known) {
      setTenantName(known.name);
      return;
    }
    if (!builtIn.has('tenants:read')) return;
    void api
      .get<Tenant>(`/api/v1/tenants/${tenantId}`)
      .then((t) => {
        if (live) setTenantName(t.name);
      })
      .catch((err: unknown) => {
        // A chosen tenant that no longer exists: back to the platform scope.
        if (live && isPlatform && err instanceof ApiError && err.status === 404) {
          sessionStorage.removeItem(TENANT_KEY);
          setTenantId(null);
        }
      });
    return () => {
      live = false;
    };
  }, [tenantId, tenants, builtIn, isPlatform]);

  const permissions = useMemo(() => permissionsOf(roles, custom, isPlatform), [roles, custom, isPlatform]);
  const uncertain = customNames.some((n) => !custom.has(n));

  const chooseTenant = useCallback((id: string | null) => {
    if (id) sessionStorage.setItem(TENANT_KEY, id);
    else sessionStorage.removeItem(TENANT_KEY);
    api.setTenant(id);
    setTenantId(id);
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.request('POST', '/api/v1/auth/logout', { sessionRequired: false });
    } catch {
      // The session may have ended already: the cookie is gone either way once the server answers.
    }
    api.setCsrf(null);
    api.setTenant(null);
    onLoggedOut();
  }, [onLoggedOut]);

  const value = useMemo<SessionState>(
    () => ({
      session,
      permissions,
      uncertain,
      isPlatform,
      tenantId,
      tenantName,
      tenants,
      chooseTenant,
      can: (p) => uncertain || permissions.has(p),
      logout,
    }),
    [session, permissions, uncertain, isPlatform, tenantId, tenantName, tenants, chooseTenant, logout],
  );
  return <Ctx.Provider value={value}>{props.children}</Ctx.Provider>;
}
