import { useEffect, useRef } from 'react';
import type { ApiError } from '../api';
import type { MultiValue } from '../types';
import { Field } from './problem';

/** A role as the form edits it: `key` stays with the row when others are added or removed. */
export interface RoleRow {
  readonly key: number;
  readonly value: string;
  readonly type: string;
  readonly primary: boolean;
  /** The role as the user held it, when the row started as one of theirs (its `display` is kept). */
  readonly original?: MultiValue;
}

export const MAX_ROLES = 50;

/**
 * The `roles` to send for the rows (trimmed; rows left wholly empty dropped), whether they differ from what the
 * user holds, and the row key of each value sent.
 */
export function rolesPatch(
  held: readonly MultiValue[],
  rows: readonly RoleRow[],
): { changed: boolean; roles: MultiValue[]; keys: number[] } {
  const sent = rows.filter((r) => r.value.trim() !== '' || r.type.trim() !== '');
  const roles = sent.map((r): MultiValue => {
    const value = r.value.trim();
    const type = r.type.trim();
    const display = r.original?.display;
    return {
      value,
      ...(type ? { type } : {}),
      ...(r.primary ? { primary: true } : {}),
      // A display name belongs to its value: it goes when the value is changed.
      ...(display !== undefined && value === r.original?.value ? { display } : {}),
    };
  });
  const norm = (list: readonly MultiValue[]) =>
    JSON.stringify(list.map((v) => [v.value, v.type ?? null, v.primary === true, v.display ?? null]));
  return { changed: norm(roles) !== norm(held), roles, keys: sent.map((r) => r.key) };
}

/** Merge-patch schemas answer a value or null: for one bad value the `null` alternative adds these. */
const SCHEMA_NOISE = /^(must be null|must match a schema in anyOf|must match exactly one schema in oneOf)$/;

/**
 * The errors under `/roles` that no row's field shows, as text: the list's own (at most one primary, more than
 * 50), and members other than value and type of a row still there ("Role 2: …"). Errors of a row removed
 * since are dropped, and so is the merge-patch schema's noise when a real reason is there.
 */
function roleListErrors(
  error: ApiError | null,
  rows: readonly RoleRow[],
  sent: readonly number[],
  base: string,
): string[] {
  const all = (error?.problem.errors ?? []).filter(
    (e) => e.pointer === base || e.pointer.startsWith(`${base}/`),
  );
  const out: { detail: string; noise: boolean }[] = [];
  for (const e of all) {
    const noise = SCHEMA_NOISE.test(e.detail);
    const m = /^\/(\d+)(\/[^/]+)?/.exec(e.pointer.slice(base.length));
    if (!m) {
      out.push({ detail: e.detail, noise });
      continue;
    }
    const key = sent[Number(m[1])];
    const row = key === undefined ? -1 : rows.findIndex((r) => r.key === key);
    if (row < 0) continue;
    if (m[2] === '/value' || m[2] === '/type') {
      // Shown at the row's field; still real, so the list's noise stays out.
      out.push({ detail: '', noise: false });
      continue;
    }
    out.push({ detail: `Role ${row + 1}: ${e.detail}`, noise });
  }
  const real = out.some((x) => !x.noise);
  return [...new Set(out.filter((x) => x.detail !== '' && (!real || !x.noise)).map((x) => x.detail))];
}

/**
 * The roles of a user form (the user page's edit form, the onboard form): one row per role with its value, optional type, a "primary" mark
 * (at most one: marking a row unmarks the others) and Remove; "Add a role" appends a row and moves the focus
 * to it. A field error at `/roles/<i>/value` or `/type` shows at the field of the row sent at position i; any
 * other error under `/roles` (at most one primary, more than 50) above the rows.
 */
export function RolesEditor(props: {
  /** Prefix of the ids and test ids: `edit` on the user page, `onboard` on the onboard form. */
  prefix: string;
  /** Where the roles sit in the request body, as a JSON pointer: `/roles`, or `/user/roles`. */
  base: string;
  rows: readonly RoleRow[];
  onChange: (rows: readonly RoleRow[]) => void;
  newKey: () => number;
  /** Row keys of the roles last sent, in order. */
  sent: readonly number[];
  error: ApiError | null;
}) {
  const { rows, sent, error, prefix, base } = props;
  const addRef = useRef<HTMLButtonElement>(null);
  // Where the focus goes once the rows have rendered: a row's value field (by key), or "Add a role".
  const focusNext = useRef<number | 'add' | null>(null);
  useEffect(() => {
    const target = focusNext.current;
    focusNext.current = null;
    if (target === null) return;
    const i = target === 'add' ? -1 : rows.findIndex((r) => r.key === target);
    if (i < 0) addRef.current?.focus();
    else document.getElementById(`${prefix}-role-value-${i}`)?.focus();
  }, [rows, prefix]);

  const pointerOf = (key: number, member: 'value' | 'type'): string | undefined => {
    const i = sent.indexOf(key);
    return i < 0 ? undefined : `${base}/${i}/${member}`;
  };
  const update = (key: number, change: Partial<Omit<RoleRow, 'key'>>) =>
    props.onChange(rows.map((r) => (r.key === key ? { ...r, ...change } : r)));
  const add = () => {
    const key = props.newKey();
    focusNext.current = key;
    props.onChange([...rows, { key, value: '', type: '', primary: false }]);
  };
  const remove = (i: number) => {
    const next = rows[i + 1] ?? rows[i - 1];
    focusNext.current = next ? next.key : 'add';
    props.onChange(rows.filter((_, j) => j !== i));
  };

  const listErrors = roleListErrors(error, rows, sent, base);

  return (
    <fieldset
      className="checks full role-editor"
      aria-describedby={
        listErrors.length > 0 ? `${prefix}-roles-hint ${prefix}-roles-error` : `${prefix}-roles-hint`
      }
      data-testid={`${prefix}-roles`}
    >
      <legend>Roles</legend>
      <p className="hint" id={`${prefix}-roles-hint`}>
        Job or business roles from the directory (SCIM roles), such as "Nurse". They grant nothing in Roster:
        access comes from the roles of admin accounts and tokens.
      </p>
      {listErrors.length > 0 ? (
        <p className="field-error" id={`${prefix}-roles-error`} data-testid={`${prefix}-roles-error`}>
          {listErrors.join('; ')}
        </p>
      ) : null}
      {rows.length === 0 ? <p className="muted small">No role.</p> : null}
      <div className="role-rows">
        {rows.map((r, i) => (
          <fieldset key={r.key} className="role-row" data-testid={`${prefix}-role-${i}`}>
            <legend className="visually-hidden">Role {i + 1}</legend>
            <Field
              id={`${prefix}-role-value-${i}`}
              label="Role"
              pointer={pointerOf(r.key, 'value')}
              error={error}
            >
              {(a) => (
                <input
                  {...a}
                  value={r.value}
                  maxLength={256}
                  autoComplete="off"
                  onChange={(e) => update(r.key, { value: e.target.value })}
                  data-testid={`${prefix}-role-value-${i}`}
                />
              )}
            </Field>
            <Field
              id={`${prefix}-role-type-${i}`}
              label="Type (optional)"
              pointer={pointerOf(r.key, 'type')}
              error={error}
            >
              {(a) => (
                <input
                  {...a}
                  value={r.type}
                  maxLength={64}
                  autoComplete="off"
                  onChange={(e) => update(r.key, { type: e.target.value })}
                  data-testid={`${prefix}-role-type-${i}`}
                />
              )}
            </Field>
            <div className="role-actions">
              <label className="check">
                <input
                  type="checkbox"
                  checked={r.primary}
                  onChange={(e) =>
                    props.onChange(
                      rows.map((x) => ({ ...x, primary: x.key === r.key ? e.target.checked : false })),
                    )
                  }
                  data-testid={`${prefix}-role-primary-${i}`}
                />
                Primary
              </label>
              <button
                type="button"
                className="button button-small"
                onClick={() => remove(i)}
                aria-label={`Remove role ${r.value.trim() || i + 1}`}
                data-testid={`${prefix}-role-remove-${i}`}
              >
                Remove
              </button>
            </div>
          </fieldset>
        ))}
      </div>
      <button
        ref={addRef}
        type="button"
        className="button"
        onClick={add}
        disabled={rows.length >= MAX_ROLES}
        data-testid={`${prefix}-role-add`}
      >
        Add a role
      </button>
    </fieldset>
  );
}
