import { useId } from 'react';

/**
 * Seat utilisation of one pool as a horizontal bar (inline SVG): seats used (solid) against capacity (the
 * marked line), then the waitlisted demand (hatched), which may reach past capacity.
 */
export function UtilisationBar(props: { used: number; capacity: number; waitlisted: number; label: string }) {
  const { used, capacity, waitlisted } = props;
  const patternId = useId();
  const scale = Math.max(capacity, used + waitlisted, 1);
  const w = (n: number) => (n / scale) * 100;
  const pct = capacity > 0 ? Math.round((used / capacity) * 100) : used > 0 ? 100 : 0;
  const level = pct >= 100 ? 'full' : pct >= 85 ? 'high' : 'ok';
  return (
    <svg
      className={`bar bar-${level}`}
      viewBox="0 0 100 10"
      preserveAspectRatio="none"
      role="img"
      aria-label={`${props.label}: ${used} of ${capacity} seats used (${pct} %), ${waitlisted} waitlisted`}
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

export interface Series {
  readonly name: string;
  /** [time in ms, value 0..1] */
  readonly points: readonly (readonly [number, number])[];
}

/** Utilisation (0–100 %) over time, one line per series, with a 100 % line. */
export function LineChart(props: { series: readonly Series[]; label: string; from: number; to: number }) {
  const span = Math.max(1, props.to - props.from);
  const x = (t: number) => ((t - props.from) / span) * 100;
  const y = (v: number) => 38 - Math.min(1.1, Math.max(0, v)) * 30;
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
      {props.series.map((s, i) => (
        <polyline
          key={s.name}
          className={`line line-${i % 6}`}
          vectorEffect="non-scaling-stroke"
          points={s.points.map(([t, v]) => `${x(t).toFixed(2)},${y(v).toFixed(2)}`).join(' ')}
        />
      ))}
    </svg>
  );
}
