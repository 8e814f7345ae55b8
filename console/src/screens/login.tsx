import { useEffect, useRef, useState } from 'react';
import { api } from '../api';
import { CopyButton } from '../components/copy';
import { Field, ProblemAlert } from '../components/problem';
import { useAction } from '../load';
import type { AdminAccount, PasswordStep, SessionView } from '../types';

const TENANT_KEY = 'roster.console.loginTenant';

type Step =
  | { kind: 'password' }
  | { kind: 'totp'; challenge: string; recovery: boolean }
  | { kind: 'enrol'; challenge: string; otpauthUri: string; secret: string }
  | { kind: 'recovery-codes'; codes: readonly string[]; session: SessionView };

interface SessionAnswer {
  csrfToken: string;
  expiresAt: string;
  admin: AdminAccount;
  recoveryCodes?: string[];
}

/**
 * The admin login: password (and tenant), then the second factor: a TOTP code or a recovery code, or on
 * the first login the enrolment of a TOTP secret, after which the recovery codes are shown once.
 */
export function Login(props: { ended: boolean; onSignedIn: (s: SessionView) => void }) {
  const [step, setStep] = useState<Step>({ kind: 'password' });
  const [tenant, setTenant] = useState(() => localStorage.getItem(TENANT_KEY) ?? '');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const action = useAction();
  const heading = useRef<HTMLHeadingElement>(null);

  // Each step moves focus to its heading, so keyboard and screen-reader users know where they are.
  // biome-ignore lint/correctness/useExhaustiveDependencies: on step change only
  useEffect(() => {
    if (step.kind === 'password')
      document.getElementById(tenant ? 'login-username' : 'login-tenant')?.focus();
    else heading.current?.focus();
  }, [step.kind]);

  const start = () => {
    setStep({ kind: 'password' });
    setCode('');
    setPassword('');
    action.clear();
  };

  const submitPassword = async () => {
    const answer = await action.run(
      async () =>
        (
          await api.request<PasswordStep>('POST', '/api/v1/auth/login', {
            body: {
              ...(tenant.trim() ? { tenant: tenant.trim() } : {}),
              username: username.trim(),
              password,
            },
            sessionRequired: false,
          })
        ).data,
    );
    if (!answer.ok) return;
    const step1 = answer.value;
    if (tenant.trim()) localStorage.setItem(TENANT_KEY, tenant.trim());
    else localStorage.removeItem(TENANT_KEY);
    setPassword('');
    setCode('');
    if (step1.mfa === 'enrolment_required') {
      setStep({
        kind: 'enrol',
        challenge: step1.challenge,
        otpauthUri: step1.otpauthUri ?? '',
        secret: step1.secret ?? '',
      });
    } else {
      setStep({ kind: 'totp', challenge: step1.challenge, recovery: false });
    }
  };

  const finish = (s: SessionAnswer) => {
    api.setCsrf(s.csrfToken);
    props.onSignedIn({ csrfToken: s.csrfToken, expiresAt: s.expiresAt, admin: s.admin });
  };

  const submitSecondFactor = async (challenge: string, recovery: boolean) => {
    const s = await action.run(
      async () =>
        (
          await api.request<SessionAnswer>('POST', '/api/v1/auth/login/totp', {
            body: recovery ? { challenge, recoveryCode: code.trim() } : { challenge, code: code.trim() },
            sessionRequired: false,
          })
        ).data,
    );
    if (s.ok) finish(s.value);
  };

  const submitEnrolment = async (challenge: string) => {
    const s = await action.run(
      async () =>
        (
          await api.request<SessionAnswer>('POST', '/api/v1/auth/totp/enrol', {
            body: { challenge, code: code.trim() },
            sessionRequired: false,
          })
        ).data,
    );
    if (!s.ok) return;
    const e = s.value;
    api.setCsrf(e.csrfToken);
    setStep({
      kind: 'recovery-codes',
      codes: e.recoveryCodes ?? [],
      session: { csrfToken: e.csrfToken, expiresAt: e.expiresAt, admin: e.admin },
    });
  };

  return (
    <main id="main" className="login">
      <div className="login-card">
        <p className="brand brand-login" aria-hidden="true">
          Roster
        </p>
        {props.ended && step.kind === 'password' ? (
          <div className="alert alert-info" role="status" data-testid="session-expired">
            Your session has ended. Please sign in again.
          </div>
        ) : null}

        {step.kind === 'password' ? (
          <form
            aria-labelledby="login-heading"
            onSubmit={(e) => {
              e.preventDefault();
              void submitPassword();
            }}
            data-testid="login-form"
          >
            <h1 id="login-heading" ref={heading} tabIndex={-1}>
              Sign in to the Roster console
            </h1>
            <Field
              id="login-tenant"
              label="Tenant"
              hint="Name or id of your tenant; leave empty for a platform account."
            >
              {(a) => (
                <input
                  {...a}
                  name="tenant"
                  autoComplete="organization"
                  value={tenant}
                  onChange={(e) => setTenant(e.target.value)}
                  data-testid="login-tenant"
                />
              )}
            </Field>
            <Field id="login-username" label="Username" pointer="/username" error={action.error}>
              {(a) => (
                <input
                  {...a}
                  name="username"
                  autoComplete="username"
                  required
                  value={username}
                  onChange={(e) => setUsername(e.target.value)}
                  data-testid="login-username"
                />
              )}
            </Field>
            <Field id="login-password" label="Password" pointer="/password" error={action.error}>
              {(a) => (
                <input
                  {...a}
                  name="password"
                  type="password"
                  autoComplete="current-password"
                  required
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                  data-testid="login-password"
                />
              )}
            </Field>
            <ProblemAlert error={action.error} handled={['/username', '/password']} testId="login-error" />
            <button
              type="submit"
              className="button button-primary"
              disabled={action.busy}
              data-testid="login-submit"
            >
              {action.busy ? 'Signing in…' : 'Continue'}
            </button>
          </form>
        ) : null}

        {step.kind === 'totp' ? (
          <form
            aria-labelledby="totp-heading"
            onSubmit={(e) => {
              e.preventDefault();
              void submitSecondFactor(step.challenge, step.recovery);
            }}
            data-testid="totp-form"
          >
            <h1 id="totp-heading" ref={heading} tabIndex={-1}>
              {step.recovery ? 'Enter a recovery code' : 'Enter your authenticator code'}
            </h1>
            {step.recovery ? (
              <Field
                id="recovery-code"
                label="Recovery code"
                pointer="/recoveryCode"
                error={action.error}
                hint="Each recovery code works once."
              >
                {(a) => (
                  <input
                    {...a}
                    name="recoveryCode"
                    autoComplete="off"
                    required
                    value={code}
                    onChange={(e) => setCode(e.target.value)}
                    data-testid="recovery-code"
                  />
                )}
              </Field>
            ) : (
              <Field id="totp-code" label="6-digit code" pointer="/code" error={action.error}>
                {(a) => (
                  <input
                    {...a}
                    name="code"
                    inputMode="numeric"
                    autoComplete="one-time-code"
                    pattern="[0-9]{6}"
                    maxLength={6}
                    required
                    value={code}
                    onChange={(e) => setCode(e.target.value.replace(/\s/g, ''))}
                    data-testid="totp-code"
                  />
                )}
              </Field>
            )}
            <ProblemAlert error={action.error} handled={['/code', '/recoveryCode']} testId="login-error" />
            <button
              type="submit"
              className="button button-primary"
              disabled={action.busy}
              data-testid="totp-submit"
            >
              {action.busy ? 'Checking…' : 'Sign in'}
            </button>
            <div className="row">
              <button
                type="button"
                className="link-button"
                onClick={() => {
                  setCode('');
                  action.clear();
                  setStep({ ...step, recovery: !step.recovery });
                }}
                data-testid="toggle-recovery"
              >
                {step.recovery ? 'Use an authenticator code' : 'Use a recovery code instead'}
              </button>
              <button type="button" className="link-button" onClick={start}>
                Start again
              </button>
            </div>
          </form>
        ) : null}

        {step.kind === 'enrol' ? (
          <form
            aria-labelledby="enrol-heading"
            onSubmit={(e) => {
              e.preventDefault();
              void submitEnrolment(step.challenge);
            }}
            data-testid="enrol-form"
          >
            <h1 id="enrol-heading" ref={heading} tabIndex={-1}>
              Set up your second factor
            </h1>
            <p>
              Your account needs an authenticator app (TOTP: 6 digits, 30 seconds). Add this key to the app,
              by its URI or by typing the secret, then enter the code it shows.
            </p>
            <dl className="secret-list">
              <dt>Secret</dt>
              <dd>
                <code data-testid="enrol-secret">{step.secret}</code>{' '}
                <CopyButton text={step.secret} label="Copy secret" />
              </dd>
              <dt>URI</dt>
              <dd>
                <code className="wrap" data-testid="enrol-uri">
                  {step.otpauthUri}
                </code>{' '}
                <CopyButton text={step.otpauthUri} label="Copy URI" />
              </dd>
            </dl>
            <Field id="enrol-code" label="6-digit code from the app" pointer="/code" error={action.error}>
              {(a) => (
                <input
                  {...a}
                  name="code"
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  pattern="[0-9]{6}"
                  maxLength={6}
                  required
                  value={code}
                  onChange={(e) => setCode(e.target.value.replace(/\s/g, ''))}
                  data-testid="enrol-code"
                />
              )}
            </Field>
            <ProblemAlert error={action.error} handled={['/code']} testId="login-error" />
            <button
              type="submit"
              className="button button-primary"
              disabled={action.busy}
              data-testid="enrol-submit"
            >
              {action.busy ? 'Checking…' : 'Confirm and sign in'}
            </button>
            <button type="button" className="link-button" onClick={start}>
              Start again
            </button>
          </form>
        ) : null}

        {step.kind === 'recovery-codes' ? (
          <section aria-labelledby="codes-heading" data-testid="recovery-codes-step">
            <h1 id="codes-heading" ref={heading} tabIndex={-1}>
              Save your recovery codes
            </h1>
            <p>
              Each code signs you in once if you lose your authenticator. They are shown{' '}
              <strong>only now</strong>: store them somewhere safe.
            </p>
            <ol className="codes" data-testid="recovery-codes">
              {step.codes.map((c) => (
                <li key={c}>
                  <code>{c}</code>
                </li>
              ))}
            </ol>
            <p>
              <CopyButton text={step.codes.join('\n')} label="Copy all codes" />
            </p>
            <button
              type="button"
              className="button button-primary"
              onClick={() => props.onSignedIn(step.session)}
              data-testid="recovery-continue"
            >
              I have saved them: continue
            </button>
          </section>
        ) : null}
      </div>
    </main>
  );
}
