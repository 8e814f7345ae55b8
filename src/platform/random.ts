import { randomFillSync } from 'node:crypto';

/** Bytes drawn from the CSPRNG at a time. */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `n` bytes from the operating system's CSPRNG, as `crypto.randomBytes(n)` gives them, drawn from a pool
 * filled 4 KiB at a time: every onboarding takes a dozen small draws (nonces, a data key, ids), and each
 * `randomBytes` call costs several microseconds of the event loop where a copy from the pool costs a tenth
 * of that (bench/RESULTS.md). Bytes handed out are zeroed in the pool, so no key or nonce stays behind in it;
 * the ones not yet handed out are secrets in this process's memory like the keys themselves.
 */
export function randomBytes(n: number): Buffer {
  if (n > POOL_BYTES / 4) return randomFillSync(Buffer.alloc(n));
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  // Memory of its own (not a slice of Node's shared buffer pool): a key must not share its backing store.
  const out = Buffer.allocUnsafeSlow(n);
  pool.copy(out, 0, offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
