// Preloaded (`node --import`) into a Roster server by `npm run bench` for the "encryption off" variant only:
// replaces sealing, opening and blind indexes with identity functions, so the benchmark can set the cost
// of encryption against the same workload without it. Never used outside the benchmark.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.env.BENCH_DIST;
if (!dist) throw new Error('BENCH_DIST must name the dist folder of the Roster under test');
const model = await import(pathToFileURL(join(dist, 'crypto/model.js')).href);
model.useIdentityCipherForBenchmarks();
