import type { ReactNode } from 'react';
import { type ApiError, errorsAt, type Problem } from '../api';

/**
 * An API error, as a person reads it: its title and detail; for 403 the permission the account lacks; for
 * 429 when to try again; and the field errors that no form field shows next to itself (`handled`).
 */
export function ProblemAlert(props: {
  error: ApiError | null;
  handled?: readonly string[];
  testId?: string;
}) {
  const { error } = props;
  if (!error) return null;
  const p = error.problem;
  const handled = props.handled ?? [];
  const rest = (p.errors ?? []).filter(
    (e) => !handled.some((h) => e.pointer === h || e.pointer.startsWith(`${h}/`)),
  );
  return (
    <div className="alert alert-error" role="alert" data-testid={props.testId ?? 'problem'}>
      <p className="alert-title">{titleOf(p)}</p>
      {p.detail && p.detail !== p.title ? <p>{p.detail}</p> : null}
      {p.status === 403 && p.permission ? (
        <p data-testid="missing-permission">
          Your account lacks the permission <code>{p.permission}</code>.
        </p>
      ) : null}
      {p.status === 429 && error.retryAfter ? <p>Try again in {error.retryAfter} s.</p> : null}
      {rest.length > 0 ? (
        <ul>
          {rest.map((e) => (
            <li key={`${e.pointer}:${e.detail}`}>
              {e.pointer ? <code>{e.pointer}</code> : null} {e.detail}
            </li>
          ))}
        </ul>
      ) : null}
      {p.requestId ? <p className="muted small">Request id: {p.requestId}</p> : null}
    </div>
  );
}

function titleOf(p: Problem): string {
  if (p.status === 403 && p.code === 'auth.forbidden') return 'Not allowed';
  return p.title;
}

export interface FieldProps {
  readonly id: string;
  readonly label: string;
  /** JSON pointer(s) of the body member this field edits: their errors are shown here. */
  readonly pointer?: string | readonly string[];
  readonly error?: ApiError | null;
  readonly hint?: string;
  readonly children: (a11y: {
    id: string;
    'aria-invalid': boolean;
    'aria-describedby': string | undefined;
  }) => ReactNode;
}

/** A labelled form control with its hint and its field errors (from the problem's `errors`). */
export function Field(props: FieldProps) {
  const pointers =
    props.pointer === undefined ? [] : typeof props.pointer === 'string' ? [props.pointer] : props.pointer;
  const errors = readable(pointers.flatMap((ptr) => errorsAt(props.error?.problem, ptr)));
  const hintId = props.hint ? `${props.id}-hint` : undefined;
  const errId = errors.length > 0 ? `${props.id}-error` : undefined;
  const describedBy = [hintId, errId].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${errors.length > 0 ? ' field-invalid' : ''}`}>
      <label htmlFor={props.id}>{props.label}</label>
      {props.children({ id: props.id, 'aria-invalid': errors.length > 0, 'aria-describedby': describedBy })}
      {props.hint ? (
        <p className="hint" id={hintId}>
          {props.hint}
        </p>
      ) : null}
      {errors.length > 0 ? (
        <p className="field-error" id={errId} data-testid={`${props.id}-error`}>
          {errors.join('; ')}
        </p>
      ) : null}
    </div>
  );
}

/** A {@link Field} holding a whole number: a number input stepping by one, its value kept as typed. */
export function WholeNumberField(
  props: Omit<FieldProps, 'children'> & {
    readonly value: string;
    readonly onChange: (value: string) => void;
    readonly min?: number;
    readonly max?: number;
    readonly required?: boolean;
    readonly testId?: string;
  },
) {
  const { value, onChange, min, max, required, testId, ...field } = props;
  return (
    <Field {...field}>
      {(a) => (
        <input
          {...a}
          type="number"
          step={1}
          min={min}
          max={max}
          required={required}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          data-testid={testId}
        />
      )}
    </Field>
  );
}

/**
 * Merge-patch bodies accept a value or null (`anyOf`), so one bad value gets three messages; the
 * alternatives that did not apply ("must be null", "must match a schema in anyOf") say nothing useful when a
 * real reason is there.
 */
function readable(errors: string[]): string[] {
  const noise = /^(must be null|must match a schema in anyOf|must match exactly one schema in oneOf)$/;
  const real = errors.filter((e) => !noise.test(e));
  return [...new Set(real.length > 0 ? real : errors)];
}

/** A polite live region: short status messages ("User onboarded") that screen readers announce. */
export function Status(props: { message: string | null; testId?: string }) {
  return (
    <p className="status" role="status" aria-live="polite" data-testid={props.testId ?? 'status'}>
      {props.message ?? ''}
    </p>
  );
}
