import { useRef, useState } from 'react';
import { api, fetchAll, randomId } from '../api';
import { PageTitle } from '../app';
import { ConfirmDialog } from '../components/dialog';
import { Field, ProblemAlert, Status } from '../components/problem';
import { type RoleRow, RolesEditor, rolesPatch } from '../components/roles-editor';
import { useAction, useLoad } from '../load';
import { href } from '../router';
import { useSession } from '../session';
import { type Assignment, type Product, USER_KINDS, type User } from '../types';

interface Onboarded {
  readonly user: User;
  readonly assignments: readonly Assignment[];
}

const HANDLED = [
  '/user/userName',
  '/user/name',
  '/user/displayName',
  '/user/emails',
  '/user/title',
  '/user/department',
  '/user/roles',
  '/user/location/site',
  '/user/location/country',
  '/user/kind',
  '/products',
];

/**
 * Onboarding: one form, one POST /api/v1/onboardings (the user and a seat or waitlist place per product in
 * one transaction), with an Idempotency-Key. The key is kept while the body stays the same, so sending the
 * same form again after a lost answer replays the first answer instead of creating twice; a changed form
 * gets a new key.
 */
export function Onboard() {
  const s = useSession();
  const products = useLoad(
    async () => (s.can('pools:read') ? fetchAll<Product>('/api/v1/products') : null),
    [s.tenantId],
  );
  const [userName, setUserName] = useState('');
  const [givenName, setGivenName] = useState('');
  const [familyName, setFamilyName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [email, setEmail] = useState('');
  const [title, setTitle] = useState('');
  const [department, setDepartment] = useState('');
  const nextRoleKey = useRef(0);
  const [roles, setRoles] = useState<readonly RoleRow[]>([]);
  const [sentRoles, setSentRoles] = useState<readonly number[]>([]);
  const [site, setSite] = useState('');
  const [country, setCountry] = useState('');
  const [kind, setKind] = useState('');
  const [chosen, setChosen] = useState<readonly string[]>([]);
  const [skuText, setSkuText] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [result, setResult] = useState<Onboarded | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const action = useAction();
  const lastAttempt = useRef<{ key: string; body: string } | null>(null);

  if (!s.can('onboarding:run')) {
    return (
      <>
        <PageTitle>Onboard a person</PageTitle>
        <div className="alert alert-error" role="alert" data-testid="forbidden">
          Your account lacks the permission <code>onboarding:run</code>.
        </div>
      </>
    );
  }

  const skus =
    products.data === null
      ? skuText
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : chosen;

  // The rows with a value or a type, trimmed, and the row key of each (to show a field error at its row).
  const typedRoles = rolesPatch([], roles);
  const roleValues = typedRoles.roles.map((r) => r.value).filter(Boolean);

  const body = () => {
    const user: Record<string, unknown> = { userName: userName.trim() };
    const name: Record<string, string> = {};
    if (givenName.trim()) name.givenName = givenName.trim();
    if (familyName.trim()) name.familyName = familyName.trim();
    if (Object.keys(name).length > 0) user.name = name;
    if (displayName.trim()) user.displayName = displayName.trim();
    if (email.trim()) user.emails = [{ value: email.trim(), type: 'work', primary: true }];
    if (title.trim()) user.title = title.trim();
    if (department.trim()) user.department = department.trim();
    if (typedRoles.roles.length > 0) user.roles = typedRoles.roles;
    const location: Record<string, string> = {};
    if (site.trim()) location.site = site.trim();
    if (country.trim()) location.country = country.trim();
    if (Object.keys(location).length > 0) user.location = location;
    if (kind) user.kind = kind;
    return { user, products: skus };
  };

  const submit = async () => {
    const b = body();
    const text = JSON.stringify(b);
    const key = lastAttempt.current?.body === text ? lastAttempt.current.key : randomId();
    lastAttempt.current = { key, body: text };
    setSentRoles(typedRoles.keys);
    const answer = await action.run(() =>
      api.post<Onboarded>('/api/v1/onboardings', b, { 'idempotency-key': key }),
    );
    setConfirming(false);
    if (!answer.ok) return;
    lastAttempt.current = null;
    setResult(answer.value);
    setMessage(`${answer.value.user.userName} is onboarded.`);
  };

  if (result) {
    return (
      <>
        <PageTitle>Onboarded</PageTitle>
        <Status message={message} />
        <section className="panel" data-testid="onboard-result">
          <p>
            <a href={href(`users/${result.user.id}`)} data-testid="onboard-result-user">
              {result.user.userName}
            </a>{' '}
            was created{result.assignments.length > 0 ? ' with:' : ', with no product.'}
          </p>
          {result.assignments.length > 0 ? (
            <ul>
              {result.assignments.map((a) => (
                <li key={a.product}>
                  <strong>{a.product}</strong>:{' '}
                  {a.state === 'active'
                    ? `a seat in ${a.pool?.name ?? 'a pool'}`
                    : `waitlisted, position ${a.waitlistPosition ?? '?'}`}
                </li>
              ))}
            </ul>
          ) : null}
          <div className="actions">
            <a className="button button-primary" href={href(`users/${result.user.id}`)}>
              Open the user
            </a>
            <button
              type="button"
              className="button"
              onClick={() => {
                setResult(null);
                setMessage(null);
                setUserName('');
                setGivenName('');
                setFamilyName('');
                setDisplayName('');
                setEmail('');
                setChosen([]);
              }}
            >
              Onboard another person
            </button>
          </div>
        </section>
      </>
    );
  }

  const err = confirming ? null : action.error;
  return (
    <>
      <PageTitle>Onboard a person</PageTitle>
      <p className="muted">
        Creates the user and, in the same step, a seat (or a waitlist place) for each product.
      </p>
      <form
        className="form-grid"
        data-testid="onboard-form"
        aria-label="Onboard a person"
        onSubmit={(e) => {
          e.preventDefault();
          action.clear();
          setConfirming(true);
        }}
      >
        <Field
          id="onboard-username"
          label="User name (required)"
          pointer="/user/userName"
          error={err}
          hint="Unique in the tenant, often the e-mail address"
        >
          {(a) => (
            <input
              {...a}
              required
              value={userName}
              onChange={(e) => setUserName(e.target.value)}
              data-testid="onboard-username"
            />
          )}
        </Field>
        <Field id="onboard-given-name" label="Given name" pointer="/user/name/givenName" error={err}>
          {(a) => (
            <input
              {...a}
              autoComplete="off"
              value={givenName}
              onChange={(e) => setGivenName(e.target.value)}
              data-testid="onboard-given-name"
            />
          )}
        </Field>
        <Field id="onboard-family-name" label="Family name" pointer="/user/name/familyName" error={err}>
          {(a) => (
            <input
              {...a}
              autoComplete="off"
              value={familyName}
              onChange={(e) => setFamilyName(e.target.value)}
              data-testid="onboard-family-name"
            />
          )}
        </Field>
        <Field id="onboard-display-name" label="Display name" pointer="/user/displayName" error={err}>
          {(a) => <input {...a} value={displayName} onChange={(e) => setDisplayName(e.target.value)} />}
        </Field>
        <Field id="onboard-email" label="Work e-mail" pointer="/user/emails" error={err}>
          {(a) => (
            <input
              {...a}
              type="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              data-testid="onboard-email"
            />
          )}
        </Field>
        <Field id="onboard-title" label="Job title" pointer="/user/title" error={err}>
          {(a) => <input {...a} value={title} onChange={(e) => setTitle(e.target.value)} />}
        </Field>
        <Field id="onboard-department" label="Department" pointer="/user/department" error={err}>
          {(a) => (
            <input
              {...a}
              value={department}
              onChange={(e) => setDepartment(e.target.value)}
              data-testid="onboard-department"
            />
          )}
        </Field>
        <RolesEditor
          prefix="onboard"
          base="/user/roles"
          rows={roles}
          onChange={setRoles}
          newKey={() => nextRoleKey.current++}
          sent={sentRoles}
          error={err}
        />
        <Field
          id="onboard-site"
          label="Site"
          pointer="/user/location/site"
          error={err}
          hint="Site code, e.g. lon-1: pools scoped to a site serve it"
        >
          {(a) => (
            <input {...a} value={site} onChange={(e) => setSite(e.target.value)} data-testid="onboard-site" />
          )}
        </Field>
        <Field
          id="onboard-country"
          label="Country"
          pointer="/user/location/country"
          error={err}
          hint="ISO code, 2 letters"
        >
          {(a) => (
            <input
              {...a}
              value={country}
              maxLength={2}
              onChange={(e) => setCountry(e.target.value)}
              data-testid="onboard-country"
            />
          )}
        </Field>
        <Field id="onboard-kind" label="Kind" pointer="/user/kind" error={err}>
          {(a) => (
            <select {...a} value={kind} onChange={(e) => setKind(e.target.value)}>
              <option value="">(default: employee)</option>
              {USER_KINDS.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          )}
        </Field>
        {products.data === null ? (
          <Field
            id="onboard-skus"
            label="Products (SKUs, comma separated)"
            pointer="/products"
            error={err}
            hint="Your account cannot list products (pools:read)"
          >
            {(a) => (
              <input
                {...a}
                value={skuText}
                onChange={(e) => setSkuText(e.target.value)}
                data-testid="onboard-skus"
              />
            )}
          </Field>
        ) : (
          <fieldset className="checks full">
            <legend>Products</legend>
            {products.loading && !products.data ? <p className="muted">Loading products…</p> : null}
            {products.data?.length === 0 ? <p className="muted">No product exists yet.</p> : null}
            {products.data?.map((p) => (
              <label key={p.id} className="check">
                <input
                  type="checkbox"
                  checked={chosen.includes(p.sku)}
                  onChange={(e) =>
                    setChosen((c) => (e.target.checked ? [...c, p.sku] : c.filter((x) => x !== p.sku)))
                  }
                  data-testid={`onboard-product-${p.sku}`}
                />
                {p.name} <span className="muted small">{p.sku}</span>
              </label>
            ))}
            <ProblemAlert error={products.error} />
          </fieldset>
        )}
        <ProblemAlert error={err} handled={HANDLED} testId="onboard-error" />
        <div className="actions full">
          <button type="submit" className="button button-primary" data-testid="onboard-submit">
            Onboard…
          </button>
          <a className="button" href={href('users')}>
            Cancel
          </a>
        </div>
      </form>
      <ConfirmDialog
        open={confirming}
        title="Onboard this person?"
        confirmLabel="Onboard"
        busy={action.busy}
        error={null}
        onCancel={() => setConfirming(false)}
        onConfirm={() => void submit()}
      >
        <p>
          Create <strong>{userName.trim() || '(no user name)'}</strong>
          {roleValues.length > 0 ? <> (roles {roleValues.join(', ')})</> : null}
          {skus.length > 0 ? (
            <>
              {' '}
              and give them <strong>{skus.join(', ')}</strong> (a seat, or a waitlist place when no pool has
              room)
            </>
          ) : (
            ' without any product'
          )}
          .
        </p>
      </ConfirmDialog>
    </>
  );
}
