/** The time source every service receives, so that time-based rules are testable without sleeping. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** ISO-8601 UTC with milliseconds: the one time format stored and served. */
export function isoTime(clock: Clock): string {
  return clock.now().toISOString();
}
