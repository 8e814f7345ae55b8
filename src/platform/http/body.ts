import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { RosterError } from '../errors.js';

/** Deepest nesting of arrays and objects a request body may have. */
export const MAX_JSON_DEPTH = 32;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** The JSON pointer of the first string (value or key) holding U+0000, if any. */
function nulAt(value: unknown, pointer = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? pointer : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const here = `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (k.includes('\u0000')) return here;
    const found = nulAt(v, here);
    if (found !== undefined) return found;
  }
  return undefined;
}

function depthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (d > limit) return true;
    for (const child of Object.values(v))
      if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
  }
  return false;
}

/**
 * Parses a JSON body strictly: invalid UTF-8, `__proto__` / `constructor.prototype` keys and nesting deeper
 * than MAX_JSON_DEPTH are rejected with 400 before any handler sees the body.
 */
export function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) throw new RosterError('request.malformed_json', { detail: 'The body is empty' });
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new RosterError('request.malformed_json', { detail: 'The body is not valid UTF-8' });
  }
  let value: unknown;
  try {
    value = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw new RosterError('request.malformed_json', {
      detail: 'The body is not valid JSON, or uses a forbidden key (__proto__, constructor.prototype)',
    });
  }
  if (depthExceeds(value, MAX_JSON_DEPTH)) {
    throw new RosterError('request.malformed_json', {
      detail: `The body nests deeper than ${MAX_JSON_DEPTH} levels`,
    });
  }
  // Checked after the depth limit, so the walk below is bounded.
  const nul = nulAt(value);
  if (nul !== undefined) {
    throw new RosterError('request.validation_failed', {
      errors: [{ pointer: nul, detail: 'must not contain the NUL character (U+0000)' }],
    });
  }
  return value;
}

/** Replaces Fastify's body parsers: JSON media types only (others get 415). */
export function registerJsonParsers(app: FastifyInstance, mediaTypes: readonly string[]): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...mediaTypes], { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
