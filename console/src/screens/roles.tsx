import { useState } from 'react';
import { api } from '../api';
import { PageTitle } from '../app';
import { ConfirmDialog } from '../components/dialog';
import { Field, ProblemAlert, Status } from '../components/problem';
import { useAction, useLoad } from '../load';
import { ALL_PERMISSIONS, PERMISSIONS, PLATFORM_PERMISSIONS } from '../permissions';
import { useSession } from '../session';
import type { Role } from '../types';

/** Permissions a custom role may hold: the catalogue less the platform-only ones. */
const ROLE_PERMISSIONS = ALL_PERMISSIONS.filter((p) => !PLATFORM_PERMISSIONS.has(p));

/**
 * Roles: the built-in roles and the tenant's custom roles with their permissions; with roles:manage,
 * define, change and delete custom roles from the permission catalogue (only permissions the account holds).
 */
export function Roles() {
  const s = useSession();
  const manage = s.can('roles:manage');
  const list = useLoad(async () => (await api.get<{ items: Role[] }>('/api/v1/roles')).items, [s.tenantId]);
  const [editing, setEditing] = useState<Role | null>(null);
  const [deleting, setDeleting] = useState<Role | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const action = useAction();

  const remove = async () => {
    if (!deleting) return;
    const r = await action.run(() =>
      api.delete(
        `/api/v1/roles/${encodeURIComponent(deleting.name)}`,
        deleting.version ? `W/"${deleting.version}"` : undefined,
      ),
    );
    if (!r.ok) return;
    setMessage(`Role ${deleting.name} deleted.`);
    setDeleting(null);
    await list.reload();
  };

  return (
    <>
      <PageTitle>Roles</PageTitle>
      <Status message={message} />
      <ProblemAlert error={list.error} />
      <div className="roles">
        {list.data?.map((r) => (
          <section
            key={r.name}
            className="panel role"
            aria-labelledby={`role-${r.name}`}
            data-testid={`role-${r.name}`}
          >
            <div className="role-head">
              <h2 id={`role-${r.name}`}>
                {r.name}{' '}
                <span className={`badge ${r.builtIn ? 'badge-builtin' : 'badge-custom'}`}>
                  {r.builtIn ? 'built-in' : 'custom'}
                </span>
              </h2>
              {manage && !r.builtIn ? (
                <div className="row">
                  <button
                    type="button"
                    className="button button-small"
                    onClick={() => setEditing(r)}
                    aria-label={`Edit ${r.name}`}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    className="button button-small"
                    onClick={() => {
                      action.clear();
                      setDeleting(r);
                    }}
                    aria-label={`Delete ${r.name}`}
                    data-testid={`delete-role-${r.name}`}
                  >
                    Delete
                  </button>
                </div>
              ) : null}
            </div>
            {r.description ? <p>{r.description}</p> : null}
            <ul className="chips" aria-label={`Permissions of ${r.name}`}>
              {r.permissions.map((p) => (
                <li key={p} className="chip" title={PERMISSIONS[p]}>
                  {p}
                </li>
              ))}
              {r.permissions.length === 0 ? <li className="muted">no permission</li> : null}
            </ul>
          </section>
        ))}
      </div>
      {manage ? (
        <RoleForm
          key={editing?.name ?? 'new'}
          role={editing}
          onDone={(name, created) => {
            setEditing(null);
            setMessage(created ? `Role ${name} created.` : `Role ${name} changed.`);
            void list.reload();
          }}
          onCancel={() => setEditing(null)}
        />
      ) : null}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete role ${deleting?.name ?? ''}?`}
        confirmLabel="Delete"
        danger
        busy={action.busy}
        error={action.error}
        onCancel={() => setDeleting(null)}
        onConfirm={() => void remove()}
      >
        <p>Only a role that no live token or admin account holds can be deleted.</p>
      </ConfirmDialog>
    </>
  );
}

function RoleForm(props: {
  role: Role | null;
  onDone: (name: string, created: boolean) => void;
  onCancel: () => void;
}) {
  const s = useSession();
  const editing = props.role;
  const [name, setName] = useState(editing?.name ?? '');
  const [description, setDescription] = useState(editing?.description ?? '');
  const [chosen, setChosen] = useState<readonly string[]>(editing?.permissions ?? []);
  const action = useAction();
  return (
    <section className="panel" aria-labelledby="role-form-heading">
      <h2 id="role-form-heading">{editing ? `Change ${editing.name}` : 'New custom role'}</h2>
      <form
        data-testid="role-form"
        onSubmit={(e) => {
          e.preventDefault();
          const body = { description: description.trim() || undefined, permissions: chosen };
          void action
            .run(() =>
              editing
                ? api.request('PATCH', `/api/v1/roles/${encodeURIComponent(editing.name)}`, {
                    body,
                    ...(editing.version ? { ifMatch: `W/"${editing.version}"` } : {}),
                  })
                : api.post('/api/v1/roles', { name: name.trim(), ...body }),
            )
            .then((r) => {
              if (r.ok) props.onDone(editing?.name ?? name.trim(), !editing);
            });
        }}
      >
        {editing ? null : (
          <Field
            id="role-name"
            label="Name"
            pointer="/name"
            error={action.error}
            hint="Lower case: letters, digits and : . _ -"
          >
            {(a) => (
              <input
                {...a}
                required
                value={name}
                onChange={(e) => setName(e.target.value)}
                data-testid="role-name"
              />
            )}
          </Field>
        )}
        <Field id="role-description" label="Description" pointer="/description" error={action.error}>
          {(a) => <input {...a} value={description} onChange={(e) => setDescription(e.target.value)} />}
        </Field>
        <fieldset className="checks permissions">
          <legend>Permissions</legend>
          {ROLE_PERMISSIONS.map((p) => {
            const held = s.can(p);
            return (
              <label key={p} className={`check${held ? '' : ' check-disabled'}`}>
                <input
                  type="checkbox"
                  disabled={!held && !chosen.includes(p)}
                  checked={chosen.includes(p)}
                  onChange={(e) =>
                    setChosen((c) => (e.target.checked ? [...c, p] : c.filter((x) => x !== p)))
                  }
                  data-testid={`role-permission-${p}`}
                />
                <code>{p}</code> <span className="muted small">{PERMISSIONS[p]}</span>
              </label>
            );
          })}
          <p className="hint">You can grant only permissions you hold yourself.</p>
        </fieldset>
        <ProblemAlert error={action.error} handled={['/name', '/description']} />
        <div className="actions">
          <button
            type="submit"
            className="button button-primary"
            disabled={action.busy}
            data-testid="role-save"
          >
            {editing ? 'Save changes' : 'Create role'}
          </button>
          {editing ? (
            <button type="button" className="button" onClick={props.onCancel}>
              Cancel
            </button>
          ) : null}
        </div>
      </form>
    </section>
  );
}
