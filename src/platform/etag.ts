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
