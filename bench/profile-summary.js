// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function, self time per area (package
// or Roster module; native frames are charged to the area that called them), and inclusive time of Roster's
// own functions and of each package on the stack.
// Usage: node bench/profile-summary.js <file.cpuprofile> [top] [fromUs toUs]
// (fromUs/toUs: a window on CLOCK_MONOTONIC in microseconds, the profile's own clock; run.js passes the
// measured window so that start-up, set-up and warm-up are left out.)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SPECIAL = new Set(['(idle)', '(garbage collector)', '(program)', '(root)']);

/** The area a script URL belongs to: a package, a Roster module (dist/<module>), node itself, or bench. */
export function areaOf(url) {
  if (!url) return undefined;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = /\/dist\/([^/]+)\/(?:([^/]+)\/)?/.exec(url);
  if (dist) return dist[1] === 'platform' && dist[2] ? `roster:platform/${dist[2]}` : `roster:${dist[1]}`;
  if (/\/dist\/[^/]+\.js$/.test(url)) return 'roster:main';
  if (url.startsWith('node:')) {
    if (/crypto/.test(url)) return 'node:crypto';
    if (/_http|http_|\/http|net|stream|tls|dns|socket/.test(url)) return 'node:http/net/streams';
    if (/timers|process\/task_queues|promises|async_hooks/.test(url)) return 'node:timers/promises';
    return 'node:other';
  }
  if (url.includes('/bin/')) return 'roster:bin';
  return 'other';
}

function shortUrl(url) {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

/**
 * Reads a profile and sums sample time. Each sample's time is its time delta (the gap to the previous
 * sample), charged to the sampled node (self) and to every distinct function or area on its stack
 * (inclusive).
 */
export function summariseProfile(file, top = 25, window = undefined) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfByFn = new Map();
  const selfByArea = new Map();
  const inclRoster = new Map();
  const inclArea = new Map();
  const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);
  let total = 0;
  let idle = 0;
  const areaCache = new Map();
  // The area of a node: its own, or for a native frame (no URL) the nearest caller's.
  const nodeArea = (id) => {
    if (areaCache.has(id)) return areaCache.get(id);
    const n = nodes.get(id);
    let area;
    const name = n.callFrame.functionName;
    if (SPECIAL.has(name)) area = name;
    else if (n.callFrame.url) area = areaOf(n.callFrame.url);
    else {
      const p = parent.get(id);
      const pa = p === undefined ? undefined : nodeArea(p);
      area = pa && !SPECIAL.has(pa) ? (pa.endsWith(' (native)') ? pa : `${pa} (native)`) : '(native)';
    }
    areaCache.set(id, area);
    return area;
  };
  let at = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    at += prof.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = prof.samples[i];
    const dt = (prof.timeDeltas[i] ?? 0) / 1000;
    const n = nodes.get(id);
    if (!n) continue;
    total += dt;
    const cf = n.callFrame;
    if (cf.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    const key = `${cf.functionName || '(anonymous)'}  ${shortUrl(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    add(selfByFn, key, dt);
    add(selfByArea, nodeArea(id), dt);
    const seenFn = new Set();
    const seenArea = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const f = nodes.get(cur).callFrame;
      const area = nodeArea(cur);
      if (area && !seenArea.has(area)) {
        seenArea.add(area);
        add(inclArea, area, dt);
      }
      if (f.url.includes('/dist/') && !f.url.includes('/node_modules/')) {
        const fk = `${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}:${f.lineNumber + 1}`;
        if (!seenFn.has(fk)) {
          seenFn.add(fk);
          add(inclRoster, fk, dt);
        }
      }
    }
  }
  const busy = total - idle;
  const list = (m, n) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ name, ms, pctBusy: (ms / busy) * 100 }));
  return {
    file,
    window,
    totalMs: total,
    idleMs: idle,
    busyMs: busy,
    topSelf: list(selfByFn, top),
    selfByArea: list(selfByArea, 40),
    inclusiveRoster: list(inclRoster, top),
    inclusiveByArea: list(inclArea, 40),
  };
}

/** Markdown tables of a summary. */
export function profileMarkdown(s, title) {
  const rows = (items) =>
    items.map((r) => `| ${r.name.replace(/\|/g, '\\|')} | ${r.ms.toFixed(0)} | ${r.pctBusy.toFixed(1)}% |`);
  return [
    `#### ${title}`,
    '',
    `Profile ${s.file}${s.window ? ' (measured window only)' : ''}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${((s.busyMs / s.totalMs) * 100).toFixed(0)}% of it busy (not idle). Percentages are of busy time.`,
    '',
    '| Self time by area (natives charged to their caller) | ms | % |',
    '|---|---:|---:|',
    ...rows(s.selfByArea.slice(0, 20)),
    '',
    '| Top functions by self time | ms | % |',
    '|---|---:|---:|',
    ...rows(s.topSelf),
    '',
    '| Roster functions by inclusive time | ms | % |',
    '|---|---:|---:|',
    ...rows(s.inclusiveRoster),
    '',
    '| Areas by inclusive time (on the stack) | ms | % |',
    '|---|---:|---:|',
    ...rows(s.inclusiveByArea.slice(0, 20)),
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top, fromUs, toUs] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node bench/profile-summary.js <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const window = fromUs && toUs ? { fromUs: Number(fromUs), toUs: Number(toUs) } : undefined;
  process.stdout.write(profileMarkdown(summariseProfile(file, Number(top ?? 25), window), file));
}
