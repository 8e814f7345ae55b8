import { describe, expect, it } from 'vitest';
import { randomBytes } from '../../../src/platform/random.js';

describe('randomBytes (pooled CSPRNG draws)', () => {
  it('hands out each byte once: draws across many pool refills never repeat and are never the zeroed pool', () => {
    const seen = new Set<string>();
    // 12-byte draws over 3 pools of 4 KiB, so the refill and the draw that straddles it are both exercised.
    for (let i = 0; i < 1100; i++) {
      const b = randomBytes(12);
      expect(b.length).toBe(12);
      const hex = b.toString('hex');
      expect(hex).not.toBe('0'.repeat(24));
      seen.add(hex);
    }
    expect(seen.size).toBe(1100);
  });

  it('a draw is a copy: zeroing it later leaves the next draws random', () => {
    const a = randomBytes(32);
    const copy = Buffer.from(a);
    a.fill(0);
    expect(copy.equals(Buffer.alloc(32))).toBe(false);
    expect(randomBytes(32).equals(Buffer.alloc(32))).toBe(false);
  });

  it('large draws come straight from the CSPRNG, of the length asked for', () => {
    const big = randomBytes(5000);
    expect(big.length).toBe(5000);
    expect(big.equals(Buffer.alloc(5000))).toBe(false);
    expect(randomBytes(0).length).toBe(0);
  });
});
