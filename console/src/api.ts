/**
 * The console's only way to the server: Roster's REST API under /api/v1 (and /metrics), same origin, with the
 * admin session cookie. Writes carry the session's CSRF token; a platform account acting on a tenant names it
 * in Roster-Tenant. Every error answer is an RFC 9457 problem, surfaced as an ApiError.
 */

export interface FieldError {
  readonly pointer: string;
  readonly detail: string;
}

export interface Problem {
  readonly type?: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly code?: string;
  readonly requestId?: string;
  readonly errors?: readonly FieldError[];
  /** On 403 auth.forbidden: the permission the account lacks. */
  readonly permission?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  /** Seconds, from Retry-After (429). */
  readonly retryAfter: number | undefined;

  constructor(problem: Problem, retryAfter?: number) {
    super(problem.detail ?? problem.title);
    this.name = 'ApiError';
    this.status = problem.status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** A failure that never reached Roster (network down, server stopped). */
export function networkProblem(): Problem {
  return {
    title: 'Roster cannot be reached',
    status: 0,
    detail: 'The request did not reach the server. Check the connection and try again.',
  };
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

export interface Answer<T> {
  readonly data: T;
  readonly status: number;
  readonly etag: string | undefined;
  readonly headers: Headers;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  /** Sent as If-Match. */
  readonly ifMatch?: string;
  readonly headers?: Record<string, string>;
  readonly contentType?: string;
  /** False for the login steps: their 401 is a wrong password, not an ended session. */
  readonly sessionRequired?: boolean;
  /** Answer text instead of JSON (/metrics). */
  readonly text?: boolean;
  readonly signal?: AbortSignal;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

export class Api {
  #csrf: string | null = null;
  #tenant: string | null = null;
  #onSessionEnded: (() => void) | undefined;

  setCsrf(token: string | null): void {
    this.#csrf = token;
  }

  /** The tenant a platform account acts on (Roster-Tenant), or null for the platform scope. */
  setTenant(tenantId: string | null): void {
    this.#tenant = tenantId;
  }

  get tenant(): string | null {
    return this.#tenant;
  }

  /** Called when a request that needs the session answers 401: the session has ended. */
  onSessionEnded(fn: (() => void) | undefined): void {
    this.#onSessionEnded = fn;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<Answer<T>> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    if (!SAFE.has(method) && this.#csrf) headers['x-csrf-token'] = this.#csrf;
    if (this.#tenant && path.startsWith('/api/v1/') && !path.startsWith('/api/v1/auth/')) {
      headers['roster-tenant'] = this.#tenant;
    }
    if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
    Object.assign(headers, opts.headers);
    let res: Response;
    try {
      res = await fetch(`${path}${queryString(opts.query)}`, {
        method,
        headers,
        credentials: 'same-origin',
        cache: 'no-store',
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err;
      throw new ApiError(networkProblem());
    }
    noteServerTime(res.headers.get('date'));
    if (!res.ok) {
      const problem = await readProblem(res);
      const retry = Number(res.headers.get('retry-after'));
      if (res.status === 401 && opts.sessionRequired !== false) this.#onSessionEnded?.();
      throw new ApiError(problem, Number.isFinite(retry) && retry > 0 ? retry : undefined);
    }
    let data: unknown;
    if (res.status === 204) data = undefined;
    else if (opts.text) data = await res.text();
    else {
      const raw = await res.text();
      data = raw === '' ? undefined : JSON.parse(raw);
    }
    return {
      data: data as T,
      status: res.status,
      etag: res.headers.get('etag') ?? undefined,
      headers: res.headers,
    };
  }

  async get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return (
      await this.request<T>('GET', path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) })
    ).data;
  }

  async post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return (await this.request<T>('POST', path, { body: body ?? {}, ...(headers ? { headers } : {}) })).data;
  }

  async delete<T = undefined>(path: string, ifMatch?: string): Promise<T> {
    return (await this.request<T>('DELETE', path, ifMatch ? { ifMatch } : {})).data;
  }
}

async function readProblem(res: Response): Promise<Problem> {
  const fallback: Problem = { title: res.statusText || `HTTP ${res.status}`, status: res.status };
  try {
    const body = (await res.json()) as Partial<Problem>;
    if (body && typeof body === 'object' && typeof body.title === 'string') {
      return { ...body, title: body.title, status: res.status };
    }
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  return fallback;
}

export const api = new Api();

let clockOffsetMs = 0;

/** Learns how far the server's clock (its Date header, whole seconds) is from this browser's. */
function noteServerTime(date: string | null): void {
  const server = date ? Date.parse(date) : Number.NaN;
  if (Number.isNaN(server)) return;
  const offset = server + 500 - Date.now();
  // A Date header has whole seconds: only a difference above that is a clock that differs.
  clockOffsetMs = Math.abs(offset) > 1_500 ? offset : 0;
}

/** The server's time now, as well as its Date headers tell: audit windows are asked in its time. */
export function serverNow(): number {
  return Date.now() + clockOffsetMs;
}

/** Every page of a list, up to `maxPages` pages of `limit` (the console's lists of products and pools). */
export async function fetchAll<T>(path: string, query: Query = {}, maxPages = 20, limit = 200): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const page = await api.get<Page<T>>(path, { ...query, limit, cursor });
    out.push(...page.items);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return out;
}

/** A random UUID, also where crypto.randomUUID is missing (plain http on a host other than localhost). */
export function randomId(): string {
  if (typeof crypto.randomUUID === 'function' && globalThis.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Field errors of a problem whose pointer is `pointer` or lies below it. */
export function errorsAt(problem: Problem | null | undefined, pointer: string): string[] {
  if (!problem?.errors) return [];
  return problem.errors
    .filter((e) => e.pointer === pointer || e.pointer.startsWith(`${pointer}/`))
    .map((e) => e.detail);
}

export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError({ title: 'Something went wrong', status: 0, detail: String(err) });
}
