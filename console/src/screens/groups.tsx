import { useState } from 'react';
import { ApiError, api, type Page } from '../api';
import { PageTitle } from '../app';
import { ConfirmDialog } from '../components/dialog';
import { Pager, useCursorPager } from '../components/pager';
import { Field, ProblemAlert, Status } from '../components/problem';
import { formatDateTime } from '../format';
import { useAction, useLoad } from '../load';
import { href, navigate } from '../router';
import { useSession } from '../session';
import type { Group, Member, User } from '../types';

/** Groups: a paged list with a name filter, and (groups:write) a form to create one. */
export function Groups() {
  const s = useSession();
  const [filter, setFilter] = useState('');
  const [applied, setApplied] = useState('');
  const pager = useCursorPager();
  const list = useLoad(
    () => api.get<Page<Group>>('/api/v1/groups', { displayName: applied, limit: 50, cursor: pager.cursor }),
    [applied, pager.cursor, s.tenantId],
  );
  return (
    <>
      <PageTitle>Groups</PageTitle>
      <search aria-label="Find groups">
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            pager.reset();
            setApplied(filter.trim());
          }}
        >
          <Field id="group-filter" label="Display name (exact, any case)">
            {(a) => <input {...a} type="search" value={filter} onChange={(e) => setFilter(e.target.value)} />}
          </Field>
          <button type="submit" className="button">
            Find
          </button>
        </form>
      </search>
      <ProblemAlert error={list.error} />
      <div className="table-wrap">
        <table data-testid="groups-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Description</th>
              <th scope="col">External id</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.items.map((g) => (
              <tr key={g.id} data-testid={`group-row-${g.displayName}`}>
                <td>
                  <a href={href(`groups/${g.id}`)}>{g.displayName}</a>
                </td>
                <td>{g.description ?? '—'}</td>
                <td>{g.externalId ?? '—'}</td>
                <td>{formatDateTime(g.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data?.items.length === 0 ? <p className="muted">No group.</p> : null}
      <Pager
        label="Groups"
        page={pager.page}
        hasPrev={pager.hasPrev}
        nextCursor={list.data?.nextCursor}
        onPrev={pager.prev}
        onNext={pager.next}
      />
      {s.can('groups:write') ? <CreateGroup onCreated={(g) => navigate(`groups/${g.id}`)} /> : null}
    </>
  );
}

function CreateGroup(props: { onCreated: (g: Group) => void }) {
  const [displayName, setDisplayName] = useState('');
  const [description, setDescription] = useState('');
  const [externalId, setExternalId] = useState('');
  const action = useAction();
  return (
    <section className="panel" aria-labelledby="new-group-heading">
      <h2 id="new-group-heading">New group</h2>
      <form
        className="form-grid"
        data-testid="create-group-form"
        onSubmit={(e) => {
          e.preventDefault();
          const body = {
            displayName: displayName.trim(),
            ...(description.trim() ? { description: description.trim() } : {}),
            ...(externalId.trim() ? { externalId: externalId.trim() } : {}),
          };
          void action
            .run(() => api.post<Group>('/api/v1/groups', body))
            .then((r) => {
              if (r.ok) props.onCreated(r.value);
            });
        }}
      >
        <Field id="group-name" label="Display name" pointer="/displayName" error={action.error}>
          {(a) => (
            <input
              {...a}
              required
              value={displayName}
              onChange={(e) => setDisplayName(e.target.value)}
              data-testid="group-name"
            />
          )}
        </Field>
        <Field id="group-description" label="Description" pointer="/description" error={action.error}>
          {(a) => <input {...a} value={description} onChange={(e) => setDescription(e.target.value)} />}
        </Field>
        <Field id="group-external-id" label="External id" pointer="/externalId" error={action.error}>
          {(a) => <input {...a} value={externalId} onChange={(e) => setExternalId(e.target.value)} />}
        </Field>
        <ProblemAlert error={action.error} handled={['/displayName', '/description', '/externalId']} />
        <div className="actions full">
          <button
            type="submit"
            className="button button-primary"
            disabled={action.busy}
            data-testid="create-group"
          >
            Create group
          </button>
        </div>
      </form>
    </section>
  );
}

type Confirm = { kind: 'remove'; userId: string; label: string } | { kind: 'delete' } | null;

/** A group: its details and members (paged; names read per page), add and remove members, delete. */
export function GroupPage(props: { id: string }) {
  const s = useSession();
  const write = s.can('groups:write');
  const group = useLoad(async () => {
    const a = await api.request<Group>('GET', `/api/v1/groups/${encodeURIComponent(props.id)}`);
    return { group: a.data, etag: a.etag };
  }, [props.id, s.tenantId]);
  const pager = useCursorPager();
  const members = useLoad(async () => {
    const page = await api.get<Page<Member>>(`/api/v1/groups/${encodeURIComponent(props.id)}/members`, {
      limit: 50,
      cursor: pager.cursor,
    });
    // Names for this page only: a member list can be long.
    const users = s.can('users:read')
      ? await Promise.all(page.items.map((m) => api.get<User>(`/api/v1/users/${m.userId}`).catch(() => null)))
      : page.items.map(() => null);
    return { ...page, users };
  }, [props.id, pager.cursor, s.tenantId]);
  const [confirm, setConfirm] = useState<Confirm>(null);
  const [message, setMessage] = useState<string | null>(null);
  const action = useAction();

  const g = group.data?.group;
  if (group.error && !g) {
    return (
      <>
        <PageTitle>Group</PageTitle>
        <ProblemAlert error={group.error} />
      </>
    );
  }
  if (!g) return <p role="status">Loading…</p>;

  const run = async () => {
    if (!confirm) return;
    if (confirm.kind === 'remove') {
      const r = await action.run(() => api.delete(`/api/v1/groups/${g.id}/members/${confirm.userId}`));
      if (!r.ok) return;
      setMessage(`${confirm.label} removed from ${g.displayName}.`);
      setConfirm(null);
      await Promise.all([members.reload(), group.reload()]);
    } else {
      const r = await action.run(() => api.delete(`/api/v1/groups/${g.id}`, group.data?.etag));
      if (!r.ok) return;
      setConfirm(null);
      navigate('groups');
    }
  };

  return (
    <>
      <PageTitle
        actions={
          write ? (
            <button
              type="button"
              className="button button-danger"
              onClick={() => {
                action.clear();
                setConfirm({ kind: 'delete' });
              }}
              data-testid="delete-group"
            >
              Delete group
            </button>
          ) : null
        }
      >
        {g.displayName}
      </PageTitle>
      <p>
        <a href={href('groups')}>← Groups</a>
      </p>
      <Status message={message} />
      <dl className="profile">
        <div className="profile-item">
          <dt>Description</dt>
          <dd>{g.description ?? '—'}</dd>
        </div>
        <div className="profile-item">
          <dt>External id</dt>
          <dd>{g.externalId ?? '—'}</dd>
        </div>
        <div className="profile-item">
          <dt>Members</dt>
          <dd data-testid="group-member-count">{g.memberCount ?? '—'}</dd>
        </div>
      </dl>
      <section className="panel" aria-labelledby="members-heading">
        <h2 id="members-heading">Members</h2>
        <ProblemAlert error={members.error} />
        {members.data?.items.length === 0 ? <p className="muted">No member.</p> : null}
        <ul className="plain-list members" data-testid="group-members">
          {members.data?.items.map((m, i) => {
            const u = members.data?.users[i];
            const label = u?.userName ?? m.userId;
            return (
              <li key={m.userId}>
                <a href={href(`users/${m.userId}`)}>{label}</a>{' '}
                <span className="muted small">since {formatDateTime(m.addedAt)}</span>{' '}
                {write ? (
                  <button
                    type="button"
                    className="button button-small"
                    aria-label={`Remove ${label}`}
                    onClick={() => {
                      action.clear();
                      setConfirm({ kind: 'remove', userId: m.userId, label });
                    }}
                  >
                    Remove
                  </button>
                ) : null}
              </li>
            );
          })}
        </ul>
        <Pager
          label="Members"
          page={pager.page}
          hasPrev={pager.hasPrev}
          nextCursor={members.data?.nextCursor}
          onPrev={pager.prev}
          onNext={pager.next}
        />
        {write ? (
          <AddMember
            groupId={g.id}
            onAdded={(name) => {
              setMessage(`${name} added to ${g.displayName}.`);
              void members.reload();
              void group.reload();
            }}
          />
        ) : null}
      </section>
      <ConfirmDialog
        open={confirm !== null}
        title={confirm?.kind === 'remove' ? `Remove ${confirm.label}?` : `Delete ${g.displayName}?`}
        confirmLabel={confirm?.kind === 'remove' ? 'Remove' : 'Delete'}
        danger
        busy={action.busy}
        error={action.error}
        onCancel={() => setConfirm(null)}
        onConfirm={() => void run()}
      >
        <p>
          {confirm?.kind === 'remove'
            ? `${confirm.label} stops being a member of ${g.displayName}.`
            : 'The group and all its memberships are deleted. The users stay.'}
        </p>
      </ConfirmDialog>
    </>
  );
}

function AddMember(props: { groupId: string; onAdded: (name: string) => void }) {
  const [userName, setUserName] = useState('');
  const action = useAction();
  return (
    <form
      className="inline-form"
      aria-label="Add a member"
      onSubmit={(e) => {
        e.preventDefault();
        const name = userName.trim();
        void action
          .run(async () => {
            const found = await api.get<Page<User>>('/api/v1/users', { userName: name, limit: 1 });
            const u = found.items[0];
            if (!u) {
              throw new ApiError({
                title: 'No such user',
                status: 404,
                detail: `No user has the user name ${name}.`,
              });
            }
            await api.request('PUT', `/api/v1/groups/${props.groupId}/members/${u.id}`);
            return u;
          })
          .then((r) => {
            if (!r.ok) return;
            setUserName('');
            props.onAdded(r.value.userName);
          });
      }}
    >
      <Field id="add-member" label="Add a member by user name">
        {(a) => (
          <input
            {...a}
            required
            value={userName}
            onChange={(e) => setUserName(e.target.value)}
            data-testid="add-member"
          />
        )}
      </Field>
      <button type="submit" className="button" disabled={action.busy} data-testid="add-member-submit">
        Add
      </button>
      <ProblemAlert error={action.error} />
    </form>
  );
}
