import { type ReactNode, useRef, useState } from 'react';
import { api, fetchAll, type Page } from '../api';
import { PageTitle } from '../app';
import { ConfirmDialog } from '../components/dialog';
import { Pager, useCursorPager } from '../components/pager';
import { Field, ProblemAlert, Status } from '../components/problem';
import { type RoleRow, RolesEditor, rolesPatch } from '../components/roles-editor';
import { actorLabel, formatDateTime, shortId } from '../format';
import { useAction, useLoad } from '../load';
import { href } from '../router';
import { useSession } from '../session';
import {
  type Assignment,
  type AuditEntry,
  type Group,
  type MultiValue,
  type Product,
  USER_KINDS,
  USER_STATUSES,
  type User,
} from '../types';
import { StatusBadge, userLabel } from './users';

type Confirm =
  | { kind: 'offboard' }
  | { kind: 'release'; sku: string }
  | { kind: 'assign'; sku: string }
  | { kind: 'save'; patch: Record<string, unknown> };

/**
 * A user: profile, status, licenses (seat and pool, or waitlist position), groups and the audit trail;
 * actions edit (merge patch with If-Match), assign and release licenses, offboard, each confirmed first.
 */
export function UserPage(props: { id: string }) {
  const s = useSession();
  const { id } = props;
  const user = useLoad(async () => {
    const a = await api.request<User>('GET', `/api/v1/users/${encodeURIComponent(id)}`);
    return { user: a.data, etag: a.etag };
  }, [id, s.tenantId]);
  const licenses = useLoad(
    async () =>
      s.can('licenses:read')
        ? (await api.get<{ items: Assignment[] }>(`/api/v1/users/${encodeURIComponent(id)}/licenses`)).items
        : null,
    [id, s.tenantId],
  );
  const groups = useLoad(
    async () => (await api.get<{ items: Group[] }>(`/api/v1/users/${encodeURIComponent(id)}/groups`)).items,
    [id, s.tenantId],
  );
  const [editing, setEditing] = useState(false);
  const [confirm, setConfirm] = useState<Confirm | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const action = useAction();
  const [saveError, setSaveError] = useState<typeof action.error>(null);

  const u = user.data?.user;
  const canEdit = s.can('users:write') || s.can('users:status');

  const perform = async (c: Confirm, who: User): Promise<string | null> => {
    const path = `/api/v1/users/${encodeURIComponent(id)}`;
    switch (c.kind) {
      case 'offboard': {
        const r = await action.run(() =>
          api.post<{ user: User; released: Assignment[] }>(`${path}/offboard`),
        );
        if (!r.ok) return null;
        const released = r.value.released.map((a) => a.product);
        return `${who.userName} is offboarded${released.length > 0 ? `; released ${released.join(', ')}` : ''}.`;
      }
      case 'release': {
        const r = await action.run(() => api.delete(`${path}/licenses/${encodeURIComponent(c.sku)}`));
        return r.ok ? `Released ${c.sku}.` : null;
      }
      case 'assign': {
        const r = await action.run(() => api.post<Assignment>(`${path}/licenses`, { product: c.sku }));
        if (!r.ok) return null;
        return r.value.state === 'active'
          ? `${c.sku}: a seat in ${r.value.pool?.name ?? 'a pool'}.`
          : `${c.sku}: waitlisted at position ${r.value.waitlistPosition ?? '?'}.`;
      }
      case 'save': {
        const r = await action.run(() =>
          api.request<User>('PATCH', path, {
            body: c.patch,
            contentType: 'application/merge-patch+json',
            ...(user.data?.etag ? { ifMatch: user.data.etag } : {}),
          }),
        );
        if (!r.ok) {
          // Field errors belong next to the fields: the dialog closes and the form shows them.
          setSaveError(r.error);
          setConfirm(null);
          return null;
        }
        setEditing(false);
        setSaveError(null);
        return 'Changes saved.';
      }
    }
  };

  const run = async () => {
    if (!confirm || !u) return;
    const done = await perform(confirm, u);
    if (done === null) return;
    setConfirm(null);
    // The message comes once the page shows the new state, so what it announces is what is on screen.
    await Promise.all([user.reload(), licenses.reload()]);
    setMessage(done);
  };

  if (user.error && !u) {
    return (
      <>
        <PageTitle>User</PageTitle>
        <ProblemAlert error={user.error} />
        <p>
          <a href={href('users')}>Back to users</a>
        </p>
      </>
    );
  }
  if (!u) return <p role="status">Loading…</p>;

  return (
    <>
      <PageTitle
        actions={
          <>
            {canEdit && !editing ? (
              <button
                type="button"
                className="button"
                onClick={() => setEditing(true)}
                data-testid="edit-button"
              >
                Edit
              </button>
            ) : null}
            {s.can('users:offboard') ? (
              <button
                type="button"
                className="button button-danger"
                disabled={u.status === 'deprovisioned' && (licenses.data?.length ?? 0) === 0}
                onClick={() => {
                  action.clear();
                  setConfirm({ kind: 'offboard' });
                }}
                data-testid="offboard-button"
              >
                Offboard
              </button>
            ) : null}
          </>
        }
      >
        {u.userName}
      </PageTitle>
      <p>
        <a href={href('users')}>← Users</a>
      </p>
      <Status message={message} testId="user-status-message" />

      {editing ? (
        <EditForm
          user={u}
          full={s.can('users:write')}
          error={saveError}
          onCancel={() => {
            setEditing(false);
            setSaveError(null);
          }}
          onSave={(patch) => {
            action.clear();
            setConfirm({ kind: 'save', patch });
          }}
        />
      ) : (
        <section className="panel" aria-labelledby="profile-heading">
          <h2 id="profile-heading">Profile</h2>
          <dl className="profile" data-testid="profile">
            <Item label="Name">{userLabel(u)}</Item>
            <Item label="Status">
              <StatusBadge status={u.status} />
            </Item>
            <Item label="E-mail">{u.emails.map((e) => e.value).join(', ') || '—'}</Item>
            <Item label="Phone">{u.phoneNumbers.map((e) => e.value).join(', ') || '—'}</Item>
            <Item label="Title">{u.title ?? '—'}</Item>
            <Item label="Department">{u.department ?? '—'}</Item>
            <Item label="Roles">
              <RoleList roles={u.roles} />
            </Item>
            <Item label="Site">{u.location?.site ?? '—'}</Item>
            <Item label="Country">{u.location?.country?.toUpperCase() ?? '—'}</Item>
            <Item label="Kind">{u.kind}</Item>
            <Item label="Manager">
              {u.manager ? <a href={href(`users/${u.manager}`)}>{shortId(u.manager)}</a> : '—'}
            </Item>
            <Item label="External id">{u.externalId ?? '—'}</Item>
            <Item label="Created">{formatDateTime(u.createdAt)}</Item>
            <Item label="Updated">{formatDateTime(u.updatedAt)}</Item>
            <Item label="Version">{String(u.version)}</Item>
          </dl>
        </section>
      )}

      <section className="panel" aria-labelledby="licenses-heading">
        <h2 id="licenses-heading">Licenses</h2>
        {licenses.data === null ? (
          <p className="muted small">Not available to your account (needs licenses:read).</p>
        ) : (
          <>
            <ProblemAlert error={licenses.error} />
            <LicenseTable
              assignments={licenses.data ?? []}
              canRelease={s.can('licenses:assign')}
              onRelease={(sku) => {
                action.clear();
                setConfirm({ kind: 'release', sku });
              }}
            />
            {s.can('licenses:assign') ? (
              <AssignForm
                held={(licenses.data ?? []).map((a) => a.product)}
                canList={s.can('pools:read')}
                disabled={u.status !== 'active'}
                onAssign={(sku) => {
                  action.clear();
                  setConfirm({ kind: 'assign', sku });
                }}
              />
            ) : null}
          </>
        )}
      </section>

      <section className="panel" aria-labelledby="groups-heading">
        <h2 id="groups-heading">Groups</h2>
        <ProblemAlert error={groups.error} />
        {groups.data && groups.data.length === 0 ? <p className="muted">In no group.</p> : null}
        <ul className="plain-list" data-testid="user-groups">
          {groups.data?.map((g) => (
            <li key={g.id}>
              {s.can('groups:read') ? <a href={href(`groups/${g.id}`)}>{g.displayName}</a> : g.displayName}
            </li>
          ))}
        </ul>
      </section>

      <section className="panel" aria-labelledby="trail-heading">
        <h2 id="trail-heading">Audit trail</h2>
        {s.can('audit:read') ? (
          <AuditTrail targetId={id} />
        ) : (
          <p className="muted small">Not available to your account (needs audit:read).</p>
        )}
      </section>

      <ConfirmDialog
        open={confirm !== null}
        title={confirmTitle(confirm, u)}
        confirmLabel={
          confirm?.kind === 'offboard'
            ? 'Offboard'
            : confirm?.kind === 'release'
              ? 'Release'
              : confirm?.kind === 'assign'
                ? 'Assign'
                : 'Save'
        }
        danger={confirm?.kind === 'offboard' || confirm?.kind === 'release'}
        busy={action.busy}
        error={confirm?.kind === 'save' ? null : action.error}
        onCancel={() => setConfirm(null)}
        onConfirm={() => void run()}
      >
        {confirmBody(confirm, u)}
      </ConfirmDialog>
    </>
  );
}

function confirmTitle(c: Confirm | null, u: User): string {
  switch (c?.kind) {
    case 'offboard':
      return `Offboard ${u.userName}?`;
    case 'release':
      return `Release ${c.sku}?`;
    case 'assign':
      return `Assign ${c.sku}?`;
    case 'save':
      return `Save changes to ${u.userName}?`;
    default:
      return '';
  }
}

function confirmBody(c: Confirm | null, u: User): ReactNode {
  switch (c?.kind) {
    case 'offboard':
      return (
        <p>
          {u.userName} becomes <strong>deprovisioned</strong> and every seat and waitlist place they hold is
          released at once (freed seats go to the waitlist).
        </p>
      );
    case 'release':
      return (
        <p>
          {u.userName} loses their {c.sku} seat or waitlist place; a freed seat goes to the first person
          waiting.
        </p>
      );
    case 'assign':
      return (
        <p>
          {u.userName} gets a {c.sku} seat from the first eligible pool with room, or a waitlist place.
        </p>
      );
    case 'save':
      return (
        <>
          <p>These fields change:</p>
          <ul>
            {Object.keys(c.patch).map((k) => (
              <li key={k}>
                <code>{k}</code>
              </li>
            ))}
          </ul>
        </>
      );
    default:
      return null;
  }
}

/**
 * The person's roles (SCIM `roles`: who they are, such as "Nurse"), each with its type and a "primary" mark;
 * not Roster's access roles, and the hint says so.
 */
function RoleList(props: { roles: readonly MultiValue[] }) {
  if (props.roles.length === 0) return <span data-testid="user-roles">—</span>;
  return (
    <>
      <ul className="role-values" data-testid="user-roles">
        {props.roles.map((r) => (
          <li key={r.value} data-testid={`user-role-${r.value}`}>
            {r.value}
            {r.display && r.display !== r.value ? <span> — {r.display}</span> : null}
            {r.type ? <span className="muted small"> · {r.type}</span> : null}
            {r.primary ? <span className="badge badge-primary">primary</span> : null}
          </li>
        ))}
      </ul>
      <span className="hint">Job or business roles (SCIM roles)</span>
    </>
  );
}

function Item(props: { label: string; children: ReactNode }) {
  return (
    <div className="profile-item">
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

function LicenseTable(props: {
  assignments: readonly Assignment[];
  canRelease: boolean;
  onRelease: (sku: string) => void;
}) {
  if (props.assignments.length === 0) return <p className="muted">No license.</p>;
  return (
    <div className="table-wrap">
      <table data-testid="user-licenses">
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">State</th>
            <th scope="col">Pool</th>
            <th scope="col">Waitlist position</th>
            <th scope="col">Source</th>
            {props.canRelease ? (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            ) : null}
          </tr>
        </thead>
        <tbody>
          {props.assignments.map((a) => (
            <tr key={a.product} data-testid={`license-${a.product}`}>
              <td>{a.product}</td>
              <td>
                <span className={`badge badge-${a.state}`}>{a.state}</span>
              </td>
              <td>{a.pool?.name ?? '—'}</td>
              <td>{a.waitlistPosition ?? '—'}</td>
              <td>{a.source}</td>
              {props.canRelease ? (
                <td>
                  <button
                    type="button"
                    className="button button-small"
                    onClick={() => props.onRelease(a.product)}
                    aria-label={`Release ${a.product}`}
                    data-testid={`release-${a.product}`}
                  >
                    Release
                  </button>
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AssignForm(props: {
  held: readonly string[];
  canList: boolean;
  disabled: boolean;
  onAssign: (sku: string) => void;
}) {
  const products = useLoad(
    async () => (props.canList ? fetchAll<Product>('/api/v1/products') : null),
    [props.canList],
  );
  const [sku, setSku] = useState('');
  const free = (products.data ?? []).filter(
    (p) => !props.held.some((h) => h.toLowerCase() === p.sku.toLowerCase()),
  );
  return (
    <form
      className="inline-form"
      aria-label="Assign a license"
      onSubmit={(e) => {
        e.preventDefault();
        if (sku.trim()) props.onAssign(sku.trim());
      }}
    >
      <Field
        id="assign-product"
        label="Assign a product"
        hint={props.disabled ? 'Only an active user can get a seat' : undefined}
      >
        {(a) =>
          products.data === null ? (
            <input
              {...a}
              value={sku}
              onChange={(e) => setSku(e.target.value)}
              placeholder="SKU"
              data-testid="assign-product"
            />
          ) : (
            <select {...a} value={sku} onChange={(e) => setSku(e.target.value)} data-testid="assign-product">
              <option value="">Choose a product</option>
              {free.map((p) => (
                <option key={p.id} value={p.sku}>
                  {p.name} ({p.sku})
                </option>
              ))}
            </select>
          )
        }
      </Field>
      <button type="submit" className="button" disabled={!sku || props.disabled} data-testid="assign-submit">
        Assign…
      </button>
    </form>
  );
}

function EditForm(props: {
  user: User;
  /** users:write: every field; else (users:status) the status alone. */
  full: boolean;
  error: ReturnType<typeof useAction>['error'];
  onCancel: () => void;
  onSave: (patch: Record<string, unknown>) => void;
}) {
  const u = props.user;
  const [givenName, setGivenName] = useState(u.name?.givenName ?? '');
  const [familyName, setFamilyName] = useState(u.name?.familyName ?? '');
  const [displayName, setDisplayName] = useState(u.displayName ?? '');
  const [title, setTitle] = useState(u.title ?? '');
  const [department, setDepartment] = useState(u.department ?? '');
  const [site, setSite] = useState(u.location?.site ?? '');
  const [country, setCountry] = useState(u.location?.country ?? '');
  const [kind, setKind] = useState(u.kind);
  const [status, setStatus] = useState<string>(u.status);
  const nextKey = useRef(0);
  const newKey = () => nextKey.current++;
  const [roles, setRoles] = useState<readonly RoleRow[]>(() =>
    u.roles.map((r) => ({
      key: newKey(),
      value: r.value,
      type: r.type ?? '',
      primary: r.primary === true,
      original: r,
    })),
  );
  /** The rows behind the `roles` last sent, in order: a field error at `/roles/<i>` belongs to the i-th. */
  const [sentRoles, setSentRoles] = useState<readonly number[]>([]);
  const [noChange, setNoChange] = useState(false);

  const patch = () => {
    const p: Record<string, unknown> = {};
    const str = (v: string) => (v.trim() === '' ? null : v.trim());
    if (status !== u.status) p.status = status;
    if (!props.full) return p;
    const name: Record<string, unknown> = {};
    if (str(givenName) !== (u.name?.givenName ?? null)) name.givenName = str(givenName);
    if (str(familyName) !== (u.name?.familyName ?? null)) name.familyName = str(familyName);
    if (Object.keys(name).length > 0) p.name = name;
    if (str(displayName) !== u.displayName) p.displayName = str(displayName);
    if (str(title) !== u.title) p.title = str(title);
    if (str(department) !== u.department) p.department = str(department);
    const loc: Record<string, unknown> = {};
    if (str(site) !== (u.location?.site ?? null)) loc.site = str(site);
    if (
      str(country)?.toLowerCase() !== (u.location?.country?.toLowerCase() ?? undefined) &&
      !(str(country) === null && !u.location?.country)
    )
      loc.country = str(country);
    if (Object.keys(loc).length > 0) p.location = loc;
    if (kind !== u.kind) p.kind = kind;
    const r = rolesPatch(u.roles, roles);
    if (r.changed) p.roles = r.roles.length > 0 ? r.roles : null;
    return p;
  };

  const err = props.error;
  const conflict = err?.status === 412;
  return (
    <section className="panel" aria-labelledby="edit-heading">
      <h2 id="edit-heading">Edit {u.userName}</h2>
      {!props.full ? (
        <p className="muted small">Your account may change the status only (users:status).</p>
      ) : null}
      <form
        className="form-grid"
        data-testid="edit-form"
        onSubmit={(e) => {
          e.preventDefault();
          const p = patch();
          setSentRoles(rolesPatch(u.roles, roles).keys);
          if (Object.keys(p).length === 0) {
            setNoChange(true);
            return;
          }
          setNoChange(false);
          props.onSave(p);
        }}
      >
        <Field id="edit-status" label="Status" pointer={['/status', '/active']} error={err}>
          {(a) => (
            <select
              {...a}
              value={status}
              onChange={(e) => setStatus(e.target.value)}
              data-testid="edit-status"
            >
              {USER_STATUSES.map((st) => (
                <option key={st} value={st}>
                  {st}
                </option>
              ))}
            </select>
          )}
        </Field>
        {props.full ? (
          <>
            <Field id="edit-given-name" label="Given name" pointer="/name/givenName" error={err}>
              {(a) => <input {...a} value={givenName} onChange={(e) => setGivenName(e.target.value)} />}
            </Field>
            <Field id="edit-family-name" label="Family name" pointer="/name/familyName" error={err}>
              {(a) => <input {...a} value={familyName} onChange={(e) => setFamilyName(e.target.value)} />}
            </Field>
            <Field id="edit-display-name" label="Display name" pointer="/displayName" error={err}>
              {(a) => <input {...a} value={displayName} onChange={(e) => setDisplayName(e.target.value)} />}
            </Field>
            <Field id="edit-title" label="Job title" pointer="/title" error={err}>
              {(a) => <input {...a} value={title} onChange={(e) => setTitle(e.target.value)} />}
            </Field>
            <Field id="edit-department" label="Department" pointer="/department" error={err}>
              {(a) => (
                <input
                  {...a}
                  value={department}
                  onChange={(e) => setDepartment(e.target.value)}
                  data-testid="edit-department"
                />
              )}
            </Field>
            <Field id="edit-site" label="Site" pointer="/location/site" error={err}>
              {(a) => <input {...a} value={site} onChange={(e) => setSite(e.target.value)} />}
            </Field>
            <Field id="edit-country" label="Country" pointer="/location/country" error={err}>
              {(a) => (
                <input {...a} value={country} maxLength={2} onChange={(e) => setCountry(e.target.value)} />
              )}
            </Field>
            <Field id="edit-kind" label="Kind" pointer="/kind" error={err}>
              {(a) => (
                <select {...a} value={kind} onChange={(e) => setKind(e.target.value)}>
                  {USER_KINDS.map((k) => (
                    <option key={k} value={k}>
                      {k}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <RolesEditor
              prefix="edit"
              base="/roles"
              rows={roles}
              onChange={setRoles}
              newKey={newKey}
              sent={sentRoles}
              error={err}
            />
          </>
        ) : null}
        {conflict ? (
          <div className="alert alert-error full" role="alert">
            Someone changed this user since you opened it. Cancel and open the user again to see their
            changes.
          </div>
        ) : (
          <ProblemAlert
            error={err}
            handled={[
              '/status',
              '/active',
              '/name',
              '/displayName',
              '/title',
              '/department',
              '/location',
              '/kind',
              // RolesEditor shows every error under /roles: at its row's field, or above the rows.
              ...(props.full ? ['/roles'] : []),
            ]}
            testId="edit-error"
          />
        )}
        {noChange ? (
          <p className="full" role="status">
            Nothing changed.
          </p>
        ) : null}
        <div className="actions full">
          <button type="submit" className="button button-primary" data-testid="edit-save">
            Save…
          </button>
          <button type="button" className="button" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

/** The user's audit trail: entries whose target is the user (GET /api/v1/audit/entries?targetId=), oldest first. */
function AuditTrail(props: { targetId: string }) {
  const pager = useCursorPager();
  const page = useLoad(
    () =>
      api.get<Page<AuditEntry>>('/api/v1/audit/entries', {
        targetId: props.targetId,
        limit: 20,
        cursor: pager.cursor,
      }),
    [props.targetId, pager.cursor],
  );
  return (
    <>
      <ProblemAlert error={page.error} />
      {page.data && page.data.items.length === 0 ? <p className="muted">No entry.</p> : null}
      {page.data && page.data.items.length > 0 ? (
        <div className="table-wrap">
          <table data-testid="user-audit">
            <caption className="visually-hidden">Audit entries about this user, oldest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Request</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((e) => (
                <tr key={e.seq}>
                  <td>{formatDateTime(e.time)}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{actorLabel(e.actor)}</td>
                  <td className="small muted">{e.requestId ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <Pager
        label="Audit trail"
        page={pager.page}
        hasPrev={pager.hasPrev}
        nextCursor={page.data?.nextCursor}
        onPrev={pager.prev}
        onNext={pager.next}
      />
    </>
  );
}
