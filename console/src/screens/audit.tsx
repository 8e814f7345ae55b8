import { useState } from 'react';
import { api, asApiError, type Page } from '../api';
import { PageTitle } from '../app';
import { Pager, useCursorPager } from '../components/pager';
import { Field, ProblemAlert } from '../components/problem';
import { actorLabel, formatDateTime } from '../format';
import { useLoad } from '../load';
import { navigate } from '../router';
import { useSession } from '../session';
import type { AuditEntry, Checkpoint, InclusionProof } from '../types';
import {
  equalBytes,
  fromBase64,
  leafHash,
  leafOf,
  openCheckpoint,
  rootFromInclusion,
  type Step,
  toBase64,
} from '../verify';
import { TargetLink } from './dashboard';

const FILTERS = ['actor', 'action', 'targetType', 'targetId', 'since', 'until'] as const;
type Filter = (typeof FILTERS)[number];

/**
 * The audit log of the tenant acted on (or the platform's): filters by actor, action, target and time
 * (the API's), cursor paging in sequence order, each entry's before/after, the latest signed checkpoint,
 * and a check of an entry's inclusion in the signed log done in the browser.
 */
export function Audit(props: { query: URLSearchParams }) {
  const s = useSession();
  const filters: Partial<Record<Filter, string>> = {};
  for (const f of FILTERS) {
    const v = props.query.get(f);
    if (v) filters[f] = v;
  }
  const key = JSON.stringify(filters);
  return (
    <>
      <PageTitle>Audit log</PageTitle>
      <p className="muted">
        {s.tenantId ? `Entries of ${s.tenantName ?? 'this tenant'}` : 'Platform entries'}, oldest first.
      </p>
      <AuditFilters key={key} filters={filters} />
      <EntryList key={`${key}:${s.tenantId}`} filters={filters} />
      <LatestCheckpoint />
    </>
  );
}

function toLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function AuditFilters(props: { filters: Partial<Record<Filter, string>> }) {
  const f = props.filters;
  const [actor, setActor] = useState(f.actor ?? '');
  const [action, setAction] = useState(f.action ?? '');
  const [targetType, setTargetType] = useState(f.targetType ?? '');
  const [targetId, setTargetId] = useState(f.targetId ?? '');
  const [since, setSince] = useState(toLocalInput(f.since));
  const [until, setUntil] = useState(toLocalInput(f.until));
  return (
    <search aria-label="Filter the audit log">
      <form
        className="search"
        onSubmit={(e) => {
          e.preventDefault();
          navigate('audit', {
            actor: actor.trim(),
            action: action.trim(),
            targetType: targetType.trim(),
            targetId: targetId.trim(),
            since: since ? new Date(since).toISOString() : undefined,
            until: until ? new Date(until).toISOString() : undefined,
          });
        }}
      >
        <Field id="audit-action" label="Action" hint="e.g. user.onboarded">
          {(a) => (
            <input
              {...a}
              value={action}
              onChange={(e) => setAction(e.target.value)}
              data-testid="audit-action"
            />
          )}
        </Field>
        <Field id="audit-actor" label="Actor" hint="e.g. admin:<id>, token:<id>">
          {(a) => <input {...a} value={actor} onChange={(e) => setActor(e.target.value)} />}
        </Field>
        <Field id="audit-target-type" label="Target type" hint="user, group, pool…">
          {(a) => <input {...a} value={targetType} onChange={(e) => setTargetType(e.target.value)} />}
        </Field>
        <Field id="audit-target-id" label="Target id">
          {(a) => <input {...a} value={targetId} onChange={(e) => setTargetId(e.target.value)} />}
        </Field>
        <Field id="audit-since" label="From" hint="Your local time">
          {(a) => (
            <input {...a} type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
          )}
        </Field>
        <Field id="audit-until" label="Until (exclusive)">
          {(a) => (
            <input {...a} type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
          )}
        </Field>
        <div className="search-actions">
          <button type="submit" className="button button-primary" data-testid="audit-filter">
            Filter
          </button>
          <a className="button" href="#/audit">
            Clear
          </a>
        </div>
      </form>
    </search>
  );
}

function EntryList(props: { filters: Partial<Record<Filter, string>> }) {
  const pager = useCursorPager();
  const page = useLoad(
    () =>
      api.get<Page<AuditEntry>>('/api/v1/audit/entries', {
        ...props.filters,
        limit: 50,
        cursor: pager.cursor,
      }),
    [pager.cursor],
  );
  return (
    <>
      <ProblemAlert error={page.error} />
      <div className="table-wrap">
        <table className="audit-table" data-testid="audit-table">
          <caption className="visually-hidden">Audit entries, 50 a page, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Time</th>
              <th scope="col">Action</th>
              <th scope="col">Actor</th>
              <th scope="col">Target</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {page.data?.items.map((e) => (
              <tr key={e.seq}>
                <td>{e.seq}</td>
                <td>{formatDateTime(e.time)}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td title={e.actor}>{actorLabel(e.actor)}</td>
                <td>
                  <TargetLink entry={e} />
                </td>
                <td>
                  <EntryDetails entry={e} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {page.data?.items.length === 0 ? <p className="muted">No entry matches.</p> : null}
      <Pager
        label="Audit entries"
        page={pager.page}
        hasPrev={pager.hasPrev}
        nextCursor={page.data?.nextCursor}
        onPrev={pager.prev}
        onNext={pager.next}
      />
    </>
  );
}

function EntryDetails(props: { entry: AuditEntry }) {
  const e = props.entry;
  return (
    <details>
      <summary>Show</summary>
      <dl className="entry-details">
        <dt>Actor</dt>
        <dd>
          <code>{e.actor}</code>
        </dd>
        <dt>Request</dt>
        <dd>{e.requestId ?? '—'}</dd>
        <dt>Leaf index</dt>
        <dd>{e.leafIndex ?? 'not integrated yet'}</dd>
        <dt>Before</dt>
        <dd>
          <pre>{e.before ? JSON.stringify(e.before, null, 2) : 'null'}</pre>
        </dd>
        <dt>After</dt>
        <dd>
          <pre>{e.after ? JSON.stringify(e.after, null, 2) : 'null'}</pre>
        </dd>
      </dl>
      <VerifyEntry entry={e} />
    </details>
  );
}

/** Verifies, in this browser, that the entry is in the latest signed checkpoint. */
function VerifyEntry(props: { entry: AuditEntry }) {
  const [steps, setSteps] = useState<Step[] | null>(null);
  const [busy, setBusy] = useState(false);
  const e = props.entry;
  const run = async () => {
    setBusy(true);
    const out: Step[] = [];
    const push = (st: Step) => {
      out.push(st);
      setSteps([...out]);
    };
    try {
      if (!globalThis.crypto?.subtle) {
        push({ label: 'Web Crypto', ok: false, detail: 'needs a secure context (https or localhost)' });
        return;
      }
      if (e.leafIndex === null) {
        push({
          label: 'Entry in the log',
          ok: null,
          detail: 'not integrated yet: try again in a few seconds',
        });
        return;
      }
      const [cp, key] = await Promise.all([
        api.get<Checkpoint>('/api/v1/audit/checkpoints/latest'),
        api.request<string>('GET', '/api/v1/audit/public-key', { text: true }).then((a) => a.data),
      ]);
      const opened = await openCheckpoint(cp.note, key);
      push({
        label: `Checkpoint signed by the log key (tree size ${opened.size})`,
        ok: opened.signed,
        ...(opened.why ? { detail: opened.why } : {}),
      });
      if (opened.signed === false) return;
      if (e.leafIndex >= opened.size) {
        push({
          label: 'Entry in the checkpoint',
          ok: null,
          detail: 'newer than the latest checkpoint: try again in a few seconds',
        });
        return;
      }
      const proof = await api.get<InclusionProof>('/api/v1/audit/proofs/inclusion', {
        index: e.leafIndex,
        treeSize: opened.size,
      });
      const leaf = await leafHash(leafOf(e, e.leafIndex));
      push({
        label: 'Leaf hash computed here from the entry',
        ok: equalBytes(leaf, fromBase64(proof.leafHash)),
        detail: toBase64(leaf),
      });
      const root = await rootFromInclusion(leaf, e.leafIndex, opened.size, proof.hashes.map(fromBase64));
      push({
        label: 'Inclusion proof leads to the signed root',
        ok: root !== null && equalBytes(root, opened.rootHash),
        detail: root ? toBase64(root) : 'the proof has the wrong shape',
      });
    } catch (err) {
      push({ label: 'Verification', ok: false, detail: asApiError(err).message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="verify">
      <button
        type="button"
        className="button button-small"
        disabled={busy}
        onClick={() => void run()}
        data-testid={`verify-${e.seq}`}
      >
        {busy ? 'Verifying…' : 'Verify inclusion in the signed log'}
      </button>
      {steps ? (
        <ol className="steps" aria-live="polite" data-testid={`verify-result-${e.seq}`}>
          {steps.map((st) => (
            <li
              key={st.label}
              className={st.ok === true ? 'step-ok' : st.ok === false ? 'step-fail' : 'step-unknown'}
            >
              <span aria-hidden="true">{st.ok === true ? '✓' : st.ok === false ? '✗' : '?'}</span>{' '}
              <span className="visually-hidden">
                {st.ok === true ? 'passed:' : st.ok === false ? 'failed:' : 'not checked:'}
              </span>
              {st.label}
              {st.detail ? <span className="muted small wrap"> — {st.detail}</span> : null}
            </li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}

function LatestCheckpoint() {
  const cp = useLoad(() => api.get<Checkpoint>('/api/v1/audit/checkpoints/latest'), []);
  return (
    <section className="panel" aria-labelledby="checkpoint-heading">
      <h2 id="checkpoint-heading">Latest signed checkpoint</h2>
      {cp.error?.problem.code === 'audit.no_checkpoint' ? (
        <p className="muted">
          No signed checkpoint yet: the log signs one within seconds of its first entries.
        </p>
      ) : (
        <ProblemAlert error={cp.error} />
      )}
      {cp.data ? (
        <dl className="profile" data-testid="checkpoint">
          <div className="profile-item">
            <dt>Origin</dt>
            <dd>
              <code>{cp.data.origin}</code>
            </dd>
          </div>
          <div className="profile-item">
            <dt>Tree size</dt>
            <dd>{cp.data.treeSize}</dd>
          </div>
          <div className="profile-item">
            <dt>Root hash</dt>
            <dd>
              <code className="wrap">{cp.data.rootHash}</code>
            </dd>
          </div>
          <div className="profile-item">
            <dt>Signed</dt>
            <dd>{formatDateTime(cp.data.time)}</dd>
          </div>
        </dl>
      ) : null}
      <p className="muted small">
        Open an entry's details to check its inclusion proof against this checkpoint.
      </p>
    </section>
  );
}
