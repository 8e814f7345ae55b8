import { RosterError } from './errors.js';

/** Versions as entity tags (weak: the representation may vary by serialisation, the version does not). */
export function etagOf(version: number): string {
  return `W/"${version}"`;
}

/** Whether an `If-Match` header value matches a version: `*`, `"3"`, `W/"3"`, or a list of them. */
export function matchesVersion(ifMatch: string, version: number): boolean {
  return ifMatch
    .split(',')
    .map((t) => t.trim())
    .some((t) => t === '*' || t.replace(/^W\//, '') === `"${version}"`);
}

/** Enforces an optional `If-Match` against the current version. @throws request.precondition_failed */
export function checkIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch !== undefined && !matchesVersion(ifMatch, version))
    throw new RosterError('request.precondition_failed');
}
