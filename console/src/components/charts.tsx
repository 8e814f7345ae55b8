import { useId } from 'react';

/** The default utilisation cap of a pool (percent of capacity), as the API defaults it. */
export const DEFAULT_CAP = 90;

/** How full a pool is: `full` at capacity, `high` at or above its utilisation cap, else `ok`. */
export function utilisationLevel(used: number, capacity: number, cap: number): 'ok' | 'high' | 'full' {
  const pct = capacity > 0 ? (used / capacity) * 100 : used > 0 ? 100 : 0;
  if (pct >= 100) return 'full';
  return capacity > 0 && pct >= cap ? 'high' : 'ok';
}

/**
 * Seat utilisation of one pool as a horizontal bar (inline SVG): seats used (solid) against capacity (the
 * marked line), then the waitlisted demand (hatched), which may reach past capacity. A dashed marker stands
 * at the pool's utilisation cap (`cap` percent of capacity); the bar turns amber from the cap on and red when
 * the pool is full.
 */
export function UtilisationBar(props: {
  used: number;
  capacity: number;
  waitlisted: number;
  label: string;
  /** Percent of capacity (default 90). */
  cap?: number;
  /** data-testid of the cap marker. */
  capTestId?: string;
}) {
  const { used, capacity, waitlisted } = props;
  const cap = props.cap ?? DEFAULT_CAP;
  const patternId = useId();
  const scale = Math.max(capacity, used + waitlisted, 1);
  const w = (n: number) => (n / scale) * 100;
  const pct = capacity > 0 ? Math.round((used / capacity) * 100) : used > 0 ? 100 : 0;
  const level = utilisationLevel(used, capacity, cap);
  const capAt = w((capacity * cap) / 100);
  return (
    <svg
      className={`bar bar-${level}`}
      viewBox="0 0 100 10"
      preserveAspectRatio="none"
      role="img"
      aria-label={`${props.label}: ${used} of ${capacity} seats used (${pct} %), cap ${cap} %, ${waitlisted} waitlisted`}
    >
      <defs>
        <pattern
          id={patternId}
          width="2"
          height="2"
          patternUnits="userSpaceOnUse"
          patternTransform="rotate(45)"
        >
          <rect width="1" height="2" className="bar-hatch" />
        </pattern>
      </defs>
      <rect x="0" y="0" width={w(capacity)} height="10" className="bar-track" />
      <rect x="0" y="0" width={w(used)} height="10" className="bar-used" />
      {waitlisted > 0 ? (
        <rect x={w(used)} y="0" width={w(waitlisted)} height="10" fill={`url(#${patternId})`} />
      ) : null}
      <line
        x1={w(capacity)}
        x2={w(capacity)}
        y1="0"
        y2="10"
        className="bar-cap"
        vectorEffect="non-scaling-stroke"
      />
      <g data-testid={props.capTestId} data-cap={cap}>
        <title>{`Utilisation cap: ${cap} % of capacity`}</title>
        {/* A hover target (and a box with a width, so the marker counts as visible). */}
        <rect x={capAt - 1} y="0" width="2" height="10" fill="transparent" />
        <line
          x1={capAt}
          x2={capAt}
          y1="-1"
          y2="11"
          stroke="#1a202c"
          strokeWidth="1.5"
          strokeDasharray="2 1.5"
          vectorEffect="non-scaling-stroke"
        />
      </g>
    </svg>
  );
}

/** Counts per time bucket as columns (onboardings per minute). */
export function ColumnChart(props: { values: readonly number[]; label: string; labels?: readonly string[] }) {
  const max = Math.max(1, ...props.values);
  const n = Math.max(1, props.values.length);
  const bw = 100 / n;
  return (
    <svg
      className="columns"
      viewBox="0 0 100 30"
      preserveAspectRatio="none"
      role="img"
      aria-label={props.label}
    >
      {props.values.map((v, i) => {
        const h = (v / max) * 28;
        return (
          <rect
            // biome-ignore lint/suspicious/noArrayIndexKey: buckets are positions in time
            key={i}
            x={i * bw + bw * 0.1}
            y={30 - h}
            width={bw * 0.8}
            height={h}
            className="column"
          >
            <title>{`${props.labels?.[i] ?? ''} ${v}`.trim()}</title>
          </rect>
        );
      })}
    </svg>
  );
}

export interface StepSeries {
  readonly name: string;
  /** [time in ms, utilisation 0..1], in time order: each value holds until the next point. */
  readonly points: readonly (readonly [number, number])[];
}

/**
 * Utilisation (0–100 %) over time as step lines (a value holds until the next one; the last until `to`),
 * one per series, with the 100 % line and a dashed line at each utilisation cap (`caps`, percent).
 */
export function StepChart(props: {
  series: readonly StepSeries[];
  caps: readonly number[];
  label: string;
  from: number;
  to: number;
}) {
  const span = Math.max(1, props.to - props.from);
  const x = (t: number) => ((Math.min(props.to, Math.max(props.from, t)) - props.from) / span) * 100;
  const y = (v: number) => 38 - Math.min(1.1, Math.max(0, v)) * 30;
  const steps = (points: StepSeries['points']): string => {
    const out: string[] = [];
    points.forEach(([t, v], i) => {
      const next = points[i + 1]?.[0] ?? props.to;
      out.push(`${x(t).toFixed(2)},${y(v).toFixed(2)}`, `${x(next).toFixed(2)},${y(v).toFixed(2)}`);
    });
    return out.join(' ');
  };
  return (
    <svg
      className="lines"
      viewBox="0 0 100 40"
      preserveAspectRatio="none"
      role="img"
      aria-label={props.label}
    >
      <line x1="0" x2="100" y1={y(1)} y2={y(1)} className="line-cap" vectorEffect="non-scaling-stroke" />
      <line x1="0" x2="100" y1={y(0)} y2={y(0)} className="line-axis" vectorEffect="non-scaling-stroke" />
      {[...new Set(props.caps)].map((cap) => (
        <line
          key={cap}
          x1="0"
          x2="100"
          y1={y(cap / 100)}
          y2={y(cap / 100)}
          stroke="#b7791f"
          strokeWidth="1"
          strokeDasharray="2 3"
          vectorEffect="non-scaling-stroke"
          data-cap={cap}
        >
          <title>{`Utilisation cap ${cap} %`}</title>
        </line>
      ))}
      {props.series.map((s, i) =>
        s.points.length > 0 ? (
          <polyline
            key={s.name}
            className={`line line-${i % 6}`}
            vectorEffect="non-scaling-stroke"
            points={steps(s.points)}
          >
            <title>{s.name}</title>
          </polyline>
        ) : null,
      )}
    </svg>
  );
}
