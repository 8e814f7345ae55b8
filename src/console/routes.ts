import { readFile, stat } from 'node:fs/promises';
import { extname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { RosterError } from '../platform/errors.js';

/**
 * Where `npm run build` puts the console (vite build into console/dist). Both src/console/routes.ts (tests)
 * and its compiled form dist/console/routes.js sit two folders below the repository root.
 */
export const CONSOLE_DIST = fileURLToPath(new URL('../../console/dist/', import.meta.url));

/** The URL prefix the console is served under (Vite's `base` in console/vite.config.ts). */
export const CONSOLE_PREFIX = '/console';

/**
 * The console's pages: scripts, styles and images only from Roster itself, no inline script or style
 * element, data only from the same origin (the REST API), never framed. React sets element styles through
 * the CSSOM, which style-src does not govern, so no 'unsafe-inline' is needed.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Vite names built assets `<name>-<hash>.<ext>` under assets/: their content never changes. */
const HASHED = /^assets\/[^/]+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;
/** What a file path under the console may hold (no dot files, no backslashes, no control characters). */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._~-]*$/;

export interface ConsoleOptions {
  /** The built console: a folder with index.html and assets/ (usually CONSOLE_DIST). */
  readonly root: string;
}

/**
 * Serves the built admin console at /console: its static files (immutable caching for hashed assets) and
 * index.html for /console, /console/ and any other path below it that names no file (client routes). The
 * routes are public (the files hold no data: everything behind them needs the admin session) and hidden
 * from the OpenAPI document. Without a built console, /console answers 404 saying how to build it.
 */
export function consoleRoutes(app: FastifyInstance, opts: ConsoleOptions): void {
  const root = resolve(opts.root);
  const route = { config: { auth: 'public' as const }, schema: { hide: true } };

  app.get(CONSOLE_PREFIX, route, (_req, reply) => sendFile(reply, root, 'index.html', true));
  app.get<{ Params: { '*': string } }>(`${CONSOLE_PREFIX}/*`, route, (req, reply) =>
    serve(reply, root, req.params['*'] ?? ''),
  );
}

async function serve(reply: FastifyReply, root: string, path: string): Promise<FastifyReply> {
  if (path === '' || path === 'index.html') return sendFile(reply, root, 'index.html', true);
  const segments = path.split('/');
  const trailing = segments[segments.length - 1] === '';
  if (trailing) segments.pop();
  if (!segments.every((s) => SEGMENT.test(s))) {
    // `..`, dot files, encoded separators and the like never name a console file.
    throw new RosterError('request.not_found');
  }
  const rel = segments.join('/');
  const file = resolve(root, rel);
  if (relative(root, file).startsWith('..') || !file.startsWith(root + sep))
    throw new RosterError('request.not_found');
  if (!trailing && (await isFile(file))) return sendFile(reply, root, rel, false);
  // A path that looks like a file (an extension, or under assets/) and is not there: a real 404, so a
  // stale page asking for an old asset is told so rather than handed HTML as a script.
  if (rel.startsWith('assets/') || extname(rel) !== '') throw new RosterError('request.not_found');
  // Anything else is a client-side route: the app decides what to show.
  return sendFile(reply, root, 'index.html', true);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function sendFile(
  reply: FastifyReply,
  root: string,
  rel: string,
  page: boolean,
): Promise<FastifyReply> {
  let body: Buffer;
  try {
    body = await readFile(resolve(root, rel));
  } catch (err) {
    if (page) {
      throw new RosterError('request.not_found', {
        detail: 'The admin console is not built: run `npm run build` (it builds console/ into console/dist)',
        cause: err,
      });
    }
    throw new RosterError('request.not_found', { cause: err });
  }
  void reply
    .header('content-type', TYPES[extname(rel).toLowerCase()] ?? 'application/octet-stream')
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header(
      'cache-control',
      HASHED.test(rel) ? 'public, max-age=31536000, immutable' : page ? 'no-cache' : 'public, max-age=300',
    );
  return reply.send(body);
}
