/**
 * Spawning the real `roster` command (bin/roster.js -> dist/) and talking to it over real sockets, for the
 * process-level tests. Every process started here is tracked so that `killAllRoster()` (called from
 * afterEach/afterAll) can SIGKILL whatever a failed test left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';
import { createTestStore, type StoreKind, type TestStore } from '../../support/stores.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const ROSTER_BIN = join(REPO_ROOT, 'bin', 'roster.js');

/** A platform token of our own (passes the 32-character rule and the Bearer syntax). */
export const ADMIN_TOKEN = 'proc-test-admin-token-7f3c9a1e5b2d4680aa11bb22cc33dd44';

/**
 * The tests run the compiled command: fails when dist/ has no build at all, and warns when dist/ is older
 * than src/ (a stale build would test old code; `npm test` builds first through `pretest`).
 */
export function assertBuilt(): void {
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/cli/main.js is missing: run `npm run build` (or `npm test`, which builds first)');
  }
  const src = join(REPO_ROOT, 'src');
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const out = join(REPO_ROOT, 'dist', relative(src, path)).replace(/\.ts$/, '.js');
        if (!existsSync(out) || statSync(out).mtimeMs < statSync(path).mtimeMs)
          stale.push(relative(REPO_ROOT, path));
      }
    }
  };
  walk(src);
  if (stale.length > 0) {
    console.warn(
      `[roster process tests] dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', ...' : ''}: ` +
        'these tests run the last build; run `npm run build` to test the current sources',
    );
  }
}

/** The environment of a child: ours without any ROSTER_* setting or NODE_OPTIONS, plus `extra`. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('ROSTER_') && k !== 'NODE_OPTIONS') env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const running = new Set<RosterProcess>();

/** One `node bin/roster.js ...` child with its whole stdout and stderr captured. */
export class RosterProcess {
  readonly child: ChildProcess;
  readonly args: readonly string[];
  #stdout = '';
  #stderr = '';
  #exit: Exit | undefined;
  readonly #listeners = new Set<() => void>();
  readonly exited: Promise<Exit>;

  constructor(args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd: string }) {
    this.args = args;
    this.child = spawn(process.execPath, [ROSTER_BIN, ...args], {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this);
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => {
      this.#stdout += chunk;
      this.#notify();
    });
    this.child.stderr?.on('data', (chunk: string) => {
      this.#stderr += chunk;
      this.#notify();
    });
    this.exited = new Promise<Exit>((resolveExit) => {
      // 'close' comes after 'exit' and after both pipes are drained: the output is complete by then.
      this.child.once('close', (code, signal) => {
        this.#exit = { code, signal };
        running.delete(this);
        this.#notify();
        resolveExit(this.#exit);
      });
      this.child.once('error', (err) => {
        this.#stderr += `\n[spawn error] ${err.message}\n`;
        this.#exit ??= { code: null, signal: null };
        running.delete(this);
        this.#notify();
        resolveExit(this.#exit);
      });
    });
  }

  get stdout(): string {
    return this.#stdout;
  }
  get stderr(): string {
    return this.#stderr;
  }
  /** The exit, once the process has ended and its output is complete. */
  get exit(): Exit | undefined {
    return this.#exit;
  }

  /** Everything the process wrote, for failure messages. */
  describe(): string {
    return `roster ${this.args.join(' ')}\n--- stdout ---\n${this.#stdout}\n--- stderr ---\n${this.#stderr}`;
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  /**
   * Resolves with the first defined value of `probe`, re-evaluated whenever output arrives; rejects when the
   * process ends first or the deadline passes.
   */
  waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
    return new Promise<T>((resolveWait, rejectWait) => {
      const check = () => {
        let value: T | undefined;
        try {
          value = probe();
        } catch (err) {
          done();
          rejectWait(err);
          return;
        }
        if (value !== undefined) {
          done();
          resolveWait(value);
        } else if (this.#exit) {
          done();
          rejectWait(
            new Error(`process ended (${JSON.stringify(this.#exit)}) before ${what}\n${this.describe()}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        rejectWait(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** The address of the "roster listening" log line, e.g. http://127.0.0.1:41234. */
  waitForListening(timeoutMs = 20_000): Promise<string> {
    return this.waitFor(
      () => {
        const line = logLines(this.#stdout).find((l) => l.msg === 'roster listening');
        return typeof line?.address === 'string' ? line.address : undefined;
      },
      '"roster listening"',
      timeoutMs,
    );
  }

  /** The exit, or 'timeout' when the process still runs after `timeoutMs` (it is left running). */
  async exitWithin(timeoutMs: number): Promise<Exit | 'timeout'> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.exited, deadline]);
    clearTimeout(timer);
    return result;
  }

  /** Waits for the end of the process, with a deadline (the process is killed when it passes). */
  async waitForExit(timeoutMs = 20_000): Promise<Exit> {
    const result = await this.exitWithin(timeoutMs);
    if (result === 'timeout') {
      await this.kill();
      throw new Error(`process did not exit within ${timeoutMs} ms\n${this.describe()}`);
    }
    return result;
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.#exit) this.child.kill(sig);
  }

  /** SIGKILLs the process if it still runs, and waits for it to be gone. */
  async kill(): Promise<void> {
    if (this.#exit) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Kills every roster process still running (afterEach/afterAll). */
export async function killAllRoster(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>;
  readonly cwd: string;
  readonly timeoutMs?: number;
}

export interface RunResult extends Exit {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a one-shot command (migrate, tenant create, ...) to its end. */
export async function runRoster(args: readonly string[], options: RunOptions): Promise<RunResult> {
  const p = new RosterProcess(args, { env: childEnv(options.env), cwd: options.cwd });
  const exit = await p.waitForExit(options.timeoutMs ?? 30_000);
  return { ...exit, stdout: p.stdout, stderr: p.stderr };
}

export interface Server {
  readonly proc: RosterProcess;
  readonly baseUrl: string;
}

/** The store settings of a test store: SQLite in a nested folder that does not exist yet; a key file too. */
export function storeEnv(store: TestStore): { ROSTER_DATABASE_URL: string; ROSTER_KEY_FILE: string } {
  return {
    ROSTER_DATABASE_URL:
      store.kind === 'sqlite' ? `sqlite:${join(store.dir, 'nested', 'deeper', 'roster.db')}` : store.url,
    ROSTER_KEY_FILE: join(store.dir, 'keys', 'roster.key'),
  };
}

/** A fresh store per test; every roster process is killed before the store is dropped. */
export function useStore(kind: StoreKind): () => TestStore {
  let store: TestStore | undefined;
  beforeEach(() => {
    store = createTestStore(kind);
  });
  afterEach(async () => {
    await killAllRoster();
    await store?.drop();
    store = undefined;
  });
  return () => {
    if (!store) throw new Error('no store');
    return store;
  };
}

/**
 * Starts `roster <args>` (serve by default), waits for its "roster listening" line, then polls /healthz
 * until it answers 200.
 */
export async function startServer(
  args: readonly string[],
  options: {
    env?: Record<string, string | undefined>;
    cwd: string;
    timeoutMs?: number;
    /** Where the server will listen, when its log may not say (log level above info). */
    baseUrl?: string;
  },
): Promise<Server> {
  const proc = new RosterProcess(args, { env: childEnv(options.env), cwd: options.cwd });
  const timeoutMs = options.timeoutMs ?? 20_000;
  const baseUrl = options.baseUrl ?? (await proc.waitForListening(timeoutMs));
  await waitForHealthy(baseUrl, proc, timeoutMs);
  return { proc, baseUrl };
}

/** Polls GET /healthz until 200, failing early when the process ends. */
export async function waitForHealthy(
  baseUrl: string,
  proc: RosterProcess,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc.exit) throw new Error(`server ended before /healthz answered\n${proc.describe()}`);
    try {
      const res = await request(baseUrl, 'GET', '/healthz');
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`/healthz did not answer 200 within ${timeoutMs} ms (${last})\n${proc.describe()}`);
}

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, rejectPort) => {
    const srv = net.createServer();
    srv.once('error', rejectPort);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

// biome-ignore lint/suspicious/noExplicitAny: log lines and answers are inspected loosely
export type Loose = any;

/** The JSON (pino) lines of an output; other lines are skipped. */
export function logLines(output: string): Loose[] {
  const out: Loose[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a partial line still being written
    }
  }
  return out;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Loose;
  readonly raw: string;
}

export interface RequestOptions {
  readonly token?: string;
  readonly body?: unknown;
  /** A raw JSON payload (e.g. malformed), sent as application/json instead of `body`. */
  readonly raw?: string;
  readonly headers?: Record<string, string>;
  readonly agent?: http.Agent;
  /** Destroys the request when no answer came within this time (the error says 'client timeout'). */
  readonly timeoutMs?: number;
}

/** One HTTP request; rejects with the socket error (ECONNREFUSED, ECONNRESET, ...) when there is no answer. */
export function request(
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<HttpAnswer> {
  const payload =
    options.raw !== undefined
      ? Buffer.from(options.raw)
      : options.body === undefined
        ? undefined
        : Buffer.from(JSON.stringify(options.body));
  const headers: Record<string, string> = {
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
    ...options.headers,
  };
  return new Promise((resolveReq, rejectReq) => {
    const req = http.request(
      new URL(path, baseUrl),
      { method, headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', rejectReq);
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = raw === '' ? undefined : JSON.parse(raw);
          } catch {
            body = undefined;
          }
          resolveReq({ status: res.statusCode ?? 0, headers: res.headers, body, raw });
        });
      },
    );
    req.on('error', rejectReq);
    if (options.timeoutMs !== undefined) {
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error('client timeout')));
    }
    req.end(payload);
  });
}

/** A tenant and a tenant-admin token for it, made through the API with a platform token. */
export async function newTenant(
  baseUrl: string,
  platformToken: string,
  name: string,
): Promise<{ tenantId: string; token: string }> {
  const tenant = await request(baseUrl, 'POST', '/api/v1/tenants', { token: platformToken, body: { name } });
  if (tenant.status !== 201) throw new Error(`tenant create failed: ${tenant.status} ${tenant.raw}`);
  const tok = await request(baseUrl, 'POST', '/api/v1/tokens', {
    token: platformToken,
    body: { tenantId: tenant.body.id, name: 'test', roles: ['tenant-admin'] },
  });
  if (tok.status !== 201) throw new Error(`token create failed: ${tok.status} ${tok.raw}`);
  return { tenantId: tenant.body.id, token: tok.body.token };
}

/** Every item of a paged list (`?limit=200&cursor=...`). */
export async function listAll(
  baseUrl: string,
  path: string,
  options: Omit<RequestOptions, 'body' | 'raw'> = {},
): Promise<Loose[]> {
  const items: Loose[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await request(
      baseUrl,
      'GET',
      `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      options,
    );
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${res.raw}`);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error(`GET ${path}: too many pages`);
}
