import { useState } from 'react';
import { api, type Page } from '../api';
import { PageTitle } from '../app';
import { CopyButton } from '../components/copy';
import { ConfirmDialog } from '../components/dialog';
import { Pager, useCursorPager } from '../components/pager';
import { Field, ProblemAlert, Status } from '../components/problem';
import { formatDateTime, shortId } from '../format';
import { useAction, useLoad } from '../load';
import { BUILT_IN_ROLES, PLATFORM_PERMISSIONS } from '../permissions';
import { useSession } from '../session';
import type { ApiToken, Role } from '../types';

interface Created extends ApiToken {
  readonly token: string;
}

/**
 * API tokens of the tenant acted on (or, for a platform account without a tenant, the platform's): list,
 * mint with roles (the secret is shown once, with a copy button), revoke.
 */
export function Tokens() {
  const s = useSession();
  const pager = useCursorPager();
  const list = useLoad(
    () => api.get<Page<ApiToken>>('/api/v1/tokens', { limit: 50, cursor: pager.cursor }),
    [pager.cursor, s.tenantId],
  );
  const [created, setCreated] = useState<Created | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const action = useAction();

  const revoke = async () => {
    if (!revoking) return;
    const r = await action.run(() => api.delete<ApiToken>(`/api/v1/tokens/${revoking.id}`));
    if (!r.ok) return;
    setMessage(`Token ${revoking.name} revoked.`);
    setRevoking(null);
    await list.reload();
  };

  return (
    <>
      <PageTitle>API tokens</PageTitle>
      <p className="muted">
        {s.tenantId
          ? `Tokens of ${s.tenantName ?? 'this tenant'}.`
          : 'Platform scope: every token, platform-wide ones included.'}
      </p>
      <Status message={message} />
      {created ? (
        <section
          className="panel panel-highlight"
          aria-labelledby="secret-heading"
          data-testid="token-created"
        >
          <h2 id="secret-heading">Token {created.name} created</h2>
          <p>
            Copy the secret now: it is shown <strong>only this once</strong>. Roster keeps only its hash.
          </p>
          <p className="secret">
            <code data-testid="token-secret">{created.token}</code>
          </p>
          <p>
            <CopyButton text={created.token} label="Copy token" testId="copy-token" />{' '}
            <button
              type="button"
              className="button button-small"
              onClick={() => setCreated(null)}
              data-testid="token-done"
            >
              Done: hide it
            </button>
          </p>
        </section>
      ) : null}
      <ProblemAlert error={list.error} />
      <div className="table-wrap">
        <table data-testid="tokens-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Roles</th>
              {s.tenantId ? null : <th scope="col">Tenant</th>}
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">State</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data?.items.map((t) => (
              <tr key={t.id} data-testid={`token-row-${t.name}`}>
                <td>{t.name}</td>
                <td>{t.roles.join(', ') || '—'}</td>
                {s.tenantId ? null : <td>{t.tenantId ? shortId(t.tenantId) : 'platform'}</td>}
                <td>{formatDateTime(t.createdAt)}</td>
                <td>{formatDateTime(t.expiresAt)}</td>
                <td>{formatDateTime(t.lastUsedAt)}</td>
                <td>
                  {t.revokedAt ? (
                    <span className="badge badge-suspended">revoked</span>
                  ) : t.expiresAt && Date.parse(t.expiresAt) < Date.now() ? (
                    <span className="badge badge-suspended">expired</span>
                  ) : (
                    <span className="badge badge-active">live</span>
                  )}
                </td>
                <td>
                  {t.revokedAt ? null : (
                    <button
                      type="button"
                      className="button button-small"
                      aria-label={`Revoke ${t.name}`}
                      onClick={() => {
                        action.clear();
                        setRevoking(t);
                      }}
                      data-testid={`revoke-${t.name}`}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data?.items.length === 0 ? <p className="muted">No token.</p> : null}
      <Pager
        label="Tokens"
        page={pager.page}
        hasPrev={pager.hasPrev}
        nextCursor={list.data?.nextCursor}
        onPrev={pager.prev}
        onNext={pager.next}
      />
      <CreateToken
        onCreated={(t) => {
          setCreated(t);
          setMessage(`Token ${t.name} created.`);
          void list.reload();
        }}
      />
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? ''}?`}
        confirmLabel="Revoke"
        danger
        busy={action.busy}
        error={action.error}
        onCancel={() => setRevoking(null)}
        onConfirm={() => void revoke()}
      >
        <p>
          Programs using this token are refused from now on (on other nodes within 2 seconds). This cannot be
          undone.
        </p>
      </ConfirmDialog>
    </>
  );
}

function CreateToken(props: { onCreated: (t: Created) => void }) {
  const s = useSession();
  const roles = useLoad(async () => {
    if (s.tenantId && s.can('roles:read')) {
      return (await api.get<{ items: Role[] }>('/api/v1/roles')).items;
    }
    // Without roles:read (or in the platform scope): the built-in roles, as the console knows them.
    return Object.entries(BUILT_IN_ROLES).map(
      ([name, permissions]) => ({ name, permissions, builtIn: true }) as Role,
    );
  }, [s.tenantId]);
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<readonly string[]>([]);
  const [expiresAt, setExpiresAt] = useState('');
  const action = useAction();
  // Nobody grants what they do not hold; a token bound to a tenant never gets platform-admin, and platform
  // permissions count for nothing in it.
  const bound = s.tenantId !== null;
  const grantable = (r: Role) =>
    !(bound && r.name === 'platform-admin') &&
    r.permissions.filter((p) => !(bound && PLATFORM_PERMISSIONS.has(p))).every((p) => s.can(p));
  return (
    <section className="panel" aria-labelledby="new-token-heading">
      <h2 id="new-token-heading">New token</h2>
      <form
        className="form-grid"
        data-testid="create-token-form"
        onSubmit={(e) => {
          e.preventDefault();
          const body = {
            name: name.trim(),
            roles: chosen,
            ...(expiresAt ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
          };
          void action
            .run(() => api.post<Created>('/api/v1/tokens', body))
            .then((r) => {
              if (!r.ok) return;
              setName('');
              setChosen([]);
              setExpiresAt('');
              props.onCreated(r.value);
            });
        }}
      >
        <Field
          id="token-name"
          label="Name"
          pointer="/name"
          error={action.error}
          hint="What uses it, e.g. hr-sync"
        >
          {(a) => (
            <input
              {...a}
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
              data-testid="token-name"
            />
          )}
        </Field>
        <Field
          id="token-expires"
          label="Expires (optional)"
          pointer="/expiresAt"
          error={action.error}
          hint="Your local time"
        >
          {(a) => (
            <input
              {...a}
              type="datetime-local"
              value={expiresAt}
              onChange={(e) => setExpiresAt(e.target.value)}
            />
          )}
        </Field>
        <fieldset className="checks full">
          <legend>Roles</legend>
          <ProblemAlert error={roles.error} />
          {roles.data?.map((r) => {
            const ok = grantable(r);
            return (
              <label key={r.name} className={`check${ok ? '' : ' check-disabled'}`}>
                <input
                  type="checkbox"
                  disabled={!ok}
                  checked={chosen.includes(r.name)}
                  onChange={(e) =>
                    setChosen((c) => (e.target.checked ? [...c, r.name] : c.filter((x) => x !== r.name)))
                  }
                  data-testid={`token-role-${r.name}`}
                />
                {r.name}
                {r.builtIn ? null : <span className="muted small"> (custom)</span>}
                {ok ? null : <span className="muted small"> — grants permissions you do not hold</span>}
              </label>
            );
          })}
          <p className="hint">A token without roles can do nothing.</p>
        </fieldset>
        <ProblemAlert error={action.error} handled={['/name', '/expiresAt']} />
        <div className="actions full">
          <button
            type="submit"
            className="button button-primary"
            disabled={action.busy}
            data-testid="create-token"
          >
            Create token
          </button>
        </div>
      </form>
    </section>
  );
}
