import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, api } from './api';
import { href, type Route, useRoute } from './router';
import { Audit } from './screens/audit';
import { Dashboard } from './screens/dashboard';
import { GroupPage, Groups } from './screens/groups';
import { Licenses } from './screens/licenses';
import { Login } from './screens/login';
import { Onboard } from './screens/onboard';
import { Roles } from './screens/roles';
import { Tokens } from './screens/tokens';
import { UserPage } from './screens/user';
import { Users } from './screens/users';
import { SessionProvider, useSession } from './session';
import type { SessionView } from './types';

type Phase = { kind: 'loading' } | { kind: 'login'; ended: boolean } | { kind: 'in'; session: SessionView };

/**
 * Set while this browser believes it has a session (the cookie itself is HttpOnly). Without it the console
 * shows the login at once instead of asking GET /auth/session for a 401; with it, a 401 means the session
 * has ended since.
 */
const SIGNED_IN = 'roster.console.signedIn';

function markSignedIn(on: boolean): void {
  try {
    if (on) localStorage.setItem(SIGNED_IN, '1');
    else localStorage.removeItem(SIGNED_IN);
  } catch {
    // Storage may be off: the console then asks the server every time.
  }
}

function believesSignedIn(): boolean {
  try {
    return localStorage.getItem(SIGNED_IN) !== null;
  } catch {
    return true;
  }
}

/** The console: asks for the session, then shows the login or the signed-in shell. */
export function App() {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });

  useEffect(() => {
    // Any request that needs the session and answers 401: back to the login, saying why.
    api.onSessionEnded(() => {
      api.setCsrf(null);
      markSignedIn(false);
      setPhase((p) => (p.kind === 'in' ? { kind: 'login', ended: true } : p));
    });
    let live = true;
    if (!believesSignedIn()) {
      setPhase({ kind: 'login', ended: false });
      return () => {
        live = false;
        api.onSessionEnded(undefined);
      };
    }
    void api
      .request<SessionView>('GET', '/api/v1/auth/session', { sessionRequired: false })
      .then(({ data }) => {
        api.setCsrf(data.csrfToken);
        if (live) setPhase({ kind: 'in', session: data });
      })
      .catch((err: unknown) => {
        if (!live) return;
        // 401: the session this browser had has ended. Anything else (server down) also lands on the login,
        // which says so when it is used.
        const ended = err instanceof ApiError && err.status === 401;
        if (ended) markSignedIn(false);
        setPhase({ kind: 'login', ended });
      });
    return () => {
      live = false;
      api.onSessionEnded(undefined);
    };
  }, []);

  const onLoggedOut = useCallback(() => {
    markSignedIn(false);
    setPhase({ kind: 'login', ended: false });
  }, []);

  if (phase.kind === 'loading') {
    return (
      <main id="main" className="login">
        <p role="status">Loading…</p>
      </main>
    );
  }
  if (phase.kind === 'login') {
    return (
      <Login
        ended={phase.ended}
        onSignedIn={(session) => {
          markSignedIn(true);
          setPhase({ kind: 'in', session });
        }}
      />
    );
  }
  return (
    <SessionProvider session={phase.session} onLoggedOut={onLoggedOut}>
      <Shell />
    </SessionProvider>
  );
}

interface NavEntry {
  readonly path: string;
  readonly label: string;
  readonly permission: string | null;
  /** True when the screen acts on a tenant (a platform account must choose one). */
  readonly tenant: boolean;
}

const NAV: readonly NavEntry[] = [
  { path: 'dashboard', label: 'Dashboard', permission: null, tenant: false },
  { path: 'users', label: 'Users', permission: 'users:read', tenant: true },
  { path: 'licenses', label: 'Licenses', permission: 'pools:read', tenant: true },
  { path: 'groups', label: 'Groups', permission: 'groups:read', tenant: true },
  { path: 'tokens', label: 'Tokens', permission: 'tokens:manage', tenant: false },
  { path: 'roles', label: 'Roles', permission: 'roles:read', tenant: true },
  { path: 'audit', label: 'Audit', permission: 'audit:read', tenant: false },
];

function Shell() {
  const s = useSession();
  const route = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  const [loggingOut, setLoggingOut] = useState(false);
  const section = route.parts[0] ?? 'dashboard';
  const visible = NAV.filter((n) => n.permission === null || s.can(n.permission));

  // A new screen closes the phone menu.
  // biome-ignore lint/correctness/useExhaustiveDependencies: on navigation only
  useEffect(() => setMenuOpen(false), [section, route.parts[1]]);

  return (
    <div className="shell">
      <button type="button" className="skip-link" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header className="topbar">
        <a className="brand" href={href('dashboard')}>
          Roster <span className="brand-sub">console</span>
        </a>
        <button
          type="button"
          className="menu-button"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen((o) => !o)}
          data-testid="menu-toggle"
        >
          Menu
        </button>
        <div className="account">
          <TenantBadge />
          <span className="who" data-testid="account-name">
            {s.session.admin.username}
          </span>
          <button
            type="button"
            className="button button-small"
            disabled={loggingOut}
            onClick={() => {
              setLoggingOut(true);
              void s.logout();
            }}
            data-testid="logout"
          >
            Sign out
          </button>
        </div>
      </header>
      <div className="layout">
        <nav id="main-nav" className={`sidenav${menuOpen ? ' open' : ''}`} aria-label="Main">
          <ul>
            {visible.map((n) => (
              <li key={n.path}>
                <a
                  href={href(n.path)}
                  aria-current={section === n.path ? 'page' : undefined}
                  data-testid={`nav-${n.path}`}
                >
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
          {s.uncertain ? (
            <p className="hint nav-note">
              Some of your roles could not be read: every screen is shown and the server refuses what you may
              not do.
            </p>
          ) : null}
        </nav>
        <main id="main" className="content" tabIndex={-1}>
          <Screen route={route} />
        </main>
      </div>
    </div>
  );
}

function TenantBadge() {
  const s = useSession();
  if (!s.isPlatform) {
    return (
      <span className="tenant" data-testid="tenant-name">
        {s.tenantName ?? 'Tenant'}
      </span>
    );
  }
  if (s.tenants.length === 0 && !s.tenantId) return <span className="tenant">Platform</span>;
  return (
    <label className="tenant-picker">
      <span className="visually-hidden">Acting on tenant</span>
      <select
        value={s.tenantId ?? ''}
        onChange={(e) => s.chooseTenant(e.target.value || null)}
        data-testid="tenant-picker"
      >
        <option value="">Platform (no tenant)</option>
        {s.tenantId && !s.tenants.some((t) => t.id === s.tenantId) ? (
          <option value={s.tenantId}>{s.tenantName ?? s.tenantId}</option>
        ) : null}
        {s.tenants.map((t) => (
          <option key={t.id} value={t.id}>
            {t.name}
          </option>
        ))}
      </select>
    </label>
  );
}

function Screen(props: { route: Route }) {
  const s = useSession();
  const [section = 'dashboard', id] = props.route.parts;
  const entry = NAV.find((n) => n.path === section);
  if (!entry) return <NotFound />;
  if (entry.permission && !s.can(entry.permission)) return <Forbidden permission={entry.permission} />;
  if (entry.tenant && !s.tenantId) return <ChooseTenant />;
  switch (section) {
    case 'dashboard':
      return <Dashboard />;
    case 'users':
      if (id === 'new') return <Onboard />;
      return id ? <UserPage id={id} /> : <Users query={props.route.query} />;
    case 'licenses':
      return <Licenses />;
    case 'groups':
      return id ? <GroupPage id={id} /> : <Groups />;
    case 'tokens':
      return <Tokens />;
    case 'roles':
      return <Roles />;
    case 'audit':
      return <Audit query={props.route.query} />;
    default:
      return <NotFound />;
  }
}

/** A screen's heading: sets the document title and takes focus when the screen opens. */
export function PageTitle(props: { children: string; actions?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.children} · Roster console`;
  }, [props.children]);
  useEffect(() => {
    ref.current?.focus({ preventScroll: true });
  }, []);
  return (
    <div className="page-head">
      <h1 tabIndex={-1} ref={ref}>
        {props.children}
      </h1>
      {props.actions ? <div className="page-actions">{props.actions}</div> : null}
    </div>
  );
}

function NotFound() {
  return (
    <>
      <PageTitle>Not found</PageTitle>
      <p>
        There is no such screen. <a href={href('dashboard')}>Go to the dashboard</a>.
      </p>
    </>
  );
}

export function Forbidden(props: { permission: string }) {
  return (
    <>
      <PageTitle>Not available</PageTitle>
      <div className="alert alert-error" role="alert" data-testid="forbidden">
        Your account lacks the permission <code>{props.permission}</code> that this screen needs.
      </div>
    </>
  );
}

function ChooseTenant() {
  const s = useSession();
  return (
    <>
      <PageTitle>Choose a tenant</PageTitle>
      <p>This screen shows one tenant's data. As a platform account, choose the tenant to act on:</p>
      {s.tenants.length > 0 ? (
        <ul className="plain-list">
          {s.tenants.map((t) => (
            <li key={t.id}>
              <button type="button" className="button" onClick={() => s.chooseTenant(t.id)}>
                {t.name}
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No tenant can be listed with your permissions.</p>
      )}
    </>
  );
}
