import { useState } from 'react';
import { api, type Page } from '../api';
import { PageTitle } from '../app';
import { Pager, useCursorPager } from '../components/pager';
import { Field, ProblemAlert } from '../components/problem';
import { useLoad } from '../load';
import { href, navigate } from '../router';
import { useSession } from '../session';
import { USER_KINDS, USER_STATUSES, type User } from '../types';

const PAGE_SIZE = 50;
/** Search filters of GET /api/v1/users that the form offers (exact, case-insensitive). */
const FILTERS = [
  'userName',
  'email',
  'externalId',
  'department',
  'role',
  'status',
  'kind',
  'site',
  'country',
] as const;
type Filter = (typeof FILTERS)[number];
const BY = [
  { key: 'userName', label: 'User name' },
  { key: 'email', label: 'E-mail' },
  { key: 'externalId', label: 'External id' },
] as const;

export function userLabel(u: User): string {
  return u.displayName ?? ([u.name?.givenName, u.name?.familyName].filter(Boolean).join(' ') || u.userName);
}

/**
 * Users: a server-side paged list (cursor paging) with the API's search filters, kept in the address
 * (`#/users?department=…`) so that a reload or Back shows the same search.
 */
export function Users(props: { query: URLSearchParams }) {
  const s = useSession();
  const filters: Partial<Record<Filter, string>> = {};
  for (const f of FILTERS) {
    const v = props.query.get(f);
    if (v) filters[f] = v;
  }
  const key = JSON.stringify(filters);
  return (
    <>
      <PageTitle
        actions={
          s.can('onboarding:run') ? (
            <a className="button button-primary" href={href('users/new')} data-testid="onboard-button">
              Onboard a person
            </a>
          ) : null
        }
      >
        Users
      </PageTitle>
      <SearchForm key={key} filters={filters} />
      <UserList key={`${key}:${s.tenantId}`} filters={filters} />
    </>
  );
}

/** One search's results: a new search (another key) starts again at page 1. */
function UserList(props: { filters: Partial<Record<Filter, string>> }) {
  const pager = useCursorPager();
  const list = useLoad(
    () => api.get<Page<User>>('/api/v1/users', { ...props.filters, limit: PAGE_SIZE, cursor: pager.cursor }),
    [pager.cursor],
  );
  return (
    <>
      <ProblemAlert error={list.error} />
      <div className="table-wrap" aria-busy={list.loading}>
        <table data-testid="users-table">
          <caption className="visually-hidden">Users, {PAGE_SIZE} a page</caption>
          <thead>
            <tr>
              <th scope="col">User name</th>
              <th scope="col">Name</th>
              <th scope="col">Department</th>
              <th scope="col">Roles</th>
              <th scope="col">Location</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.items.map((u) => (
              <tr key={u.id} data-testid={`user-row-${u.userName}`}>
                <td>
                  <a href={href(`users/${u.id}`)}>{u.userName}</a>
                </td>
                <td>{userLabel(u)}</td>
                <td>{u.department ?? '—'}</td>
                <td>{roleSummary(u)}</td>
                <td>
                  {[u.location?.site, u.location?.country?.toUpperCase()].filter(Boolean).join(', ') || '—'}
                </td>
                <td>{u.kind}</td>
                <td>
                  <StatusBadge status={u.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data && list.data.items.length === 0 ? (
        <p className="muted" role="status">
          No user matches.
        </p>
      ) : null}
      {list.loading && !list.data ? <p role="status">Loading…</p> : null}
      <Pager
        label="Users"
        page={pager.page}
        hasPrev={pager.hasPrev}
        nextCursor={list.data?.nextCursor}
        onPrev={pager.prev}
        onNext={pager.next}
      />
    </>
  );
}

/** A user's role values for a table cell: the first three, then how many more. */
function roleSummary(u: User): string {
  const values = u.roles.map((r) => r.value);
  if (values.length === 0) return '—';
  const more = values.length - 3;
  return `${values.slice(0, 3).join(', ')}${more > 0 ? ` +${more} more` : ''}`;
}

export function StatusBadge(props: { status: string }) {
  return (
    <span className={`badge badge-${props.status}`} data-testid="user-status">
      {props.status}
    </span>
  );
}

function SearchForm(props: { filters: Partial<Record<Filter, string>> }) {
  const f = props.filters;
  const initialBy = BY.find((b) => f[b.key])?.key ?? 'userName';
  const [by, setBy] = useState<(typeof BY)[number]['key']>(initialBy);
  const [term, setTerm] = useState(f[initialBy] ?? '');
  const [department, setDepartment] = useState(f.department ?? '');
  const [role, setRole] = useState(f.role ?? '');
  const [status, setStatus] = useState(f.status ?? '');
  const [kind, setKind] = useState(f.kind ?? '');
  const [site, setSite] = useState(f.site ?? '');
  const [country, setCountry] = useState(f.country ?? '');
  return (
    <search aria-label="Search users">
      <form
        className="search"
        onSubmit={(e) => {
          e.preventDefault();
          navigate('users', {
            [by]: term.trim(),
            department: department.trim(),
            role: role.trim(),
            status,
            kind,
            site: site.trim(),
            country: country.trim(),
          });
        }}
      >
        <Field id="search-by" label="Find by">
          {(a) => (
            <select {...a} value={by} onChange={(e) => setBy(e.target.value as typeof by)}>
              {BY.map((b) => (
                <option key={b.key} value={b.key}>
                  {b.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="search-term" label="Exact value" hint="Whole value, any case">
          {(a) => (
            <input
              {...a}
              type="search"
              value={term}
              onChange={(e) => setTerm(e.target.value)}
              data-testid="search-term"
            />
          )}
        </Field>
        <Field id="search-department" label="Department">
          {(a) => <input {...a} value={department} onChange={(e) => setDepartment(e.target.value)} />}
        </Field>
        <Field id="search-role" label="Role" hint="A business role, any case">
          {(a) => (
            <input
              {...a}
              type="search"
              value={role}
              onChange={(e) => setRole(e.target.value)}
              data-testid="search-role"
            />
          )}
        </Field>
        <Field id="search-status" label="Status">
          {(a) => (
            <select
              {...a}
              value={status}
              onChange={(e) => setStatus(e.target.value)}
              data-testid="search-status"
            >
              <option value="">Any</option>
              {USER_STATUSES.map((st) => (
                <option key={st} value={st}>
                  {st}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="search-kind" label="Kind">
          {(a) => (
            <select {...a} value={kind} onChange={(e) => setKind(e.target.value)}>
              <option value="">Any</option>
              {USER_KINDS.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="search-site" label="Site">
          {(a) => <input {...a} value={site} onChange={(e) => setSite(e.target.value)} />}
        </Field>
        <Field id="search-country" label="Country" hint="2 letters">
          {(a) => <input {...a} value={country} maxLength={2} onChange={(e) => setCountry(e.target.value)} />}
        </Field>
        <div className="search-actions">
          <button type="submit" className="button button-primary" data-testid="search-submit">
            Search
          </button>
          <a className="button" href={href('users')}>
            Clear
          </a>
        </div>
      </form>
    </search>
  );
}
