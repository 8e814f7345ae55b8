import type { Pool } from './types';

/**
 * Utilisation history, sampled by the console itself each time it reads the pools (every 5 s on the
 * dashboard and licenses screens). Roster keeps no history of pool usage that the API serves, so this one
 * lives in the page's memory only: it starts empty at every load and holds the last hour.
 */
export interface UsageSample {
  readonly at: number;
  readonly used: number;
  readonly capacity: number;
  readonly waitlisted: number;
}

const MAX_SAMPLES = 720;
const MIN_GAP_MS = 2_000;
const samples = new Map<string, UsageSample[]>();

export function recordPools(pools: readonly Pool[], at = Date.now()): void {
  for (const p of pools) {
    const list = samples.get(p.id) ?? [];
    const last = list[list.length - 1];
    if (last && at - last.at < MIN_GAP_MS) list[list.length - 1] = sample(p, at);
    else list.push(sample(p, at));
    if (list.length > MAX_SAMPLES) list.splice(0, list.length - MAX_SAMPLES);
    samples.set(p.id, list);
  }
}

function sample(p: Pool, at: number): UsageSample {
  return { at, used: p.used, capacity: p.capacity, waitlisted: p.waitlisted };
}

export function historyOf(poolId: string): readonly UsageSample[] {
  return samples.get(poolId) ?? [];
}
