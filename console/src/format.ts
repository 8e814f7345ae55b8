/** Dates and numbers as the console shows them (the browser's locale, the viewer's time zone). */

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const time = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const number = new Intl.NumberFormat();

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

export function formatTime(iso: string | number): string {
  return time.format(new Date(iso));
}

export function formatNumber(n: number): string {
  return number.format(n);
}

export function formatRate(n: number, digits = 1): string {
  return n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/**
 * A short form of an id: its last 8 characters. Roster's ids are UUIDv7, whose first characters are a
 * timestamp shared by every id made in the same minutes, so the end is what tells them apart.
 */
export function shortId(id: string): string {
  return id.length > 12 ? `…${id.slice(-8)}` : id;
}

/** A readable label of an audit actor (`admin:<id>`, `token:<id>`, `cli`…). */
export function actorLabel(actor: string): string {
  const [kind, id] = actor.split(':', 2);
  return id ? `${kind} ${shortId(id)}` : actor;
}

/** A duration in words, coarse: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}
