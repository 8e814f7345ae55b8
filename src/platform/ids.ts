import { randomBytes } from './random.js';

/**
 * UUID version 7 (RFC 9562 §5.7): 48-bit millisecond time then random bits, so ids sort by creation time
 * and serve as stable paging keys. Monotonic within one process even when the clock stands still.
 */
let lastMs = 0;
let lastSeq = 0;

export function newId(now: number = Date.now()): string {
  let ms = now;
  if (ms <= lastMs) {
    ms = lastMs;
    lastSeq = (lastSeq + 1) & 0xfff;
    if (lastSeq === 0) ms = ++lastMs;
  } else {
    lastSeq = randomBytes(2).readUInt16BE(0) & 0x7ff;
  }
  lastMs = ms;
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (lastSeq >> 8);
  b[7] = lastSeq & 0xff;
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isId(value: string): boolean {
  return UUID.test(value);
}
