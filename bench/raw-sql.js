// The database ceiling: the rows of one onboarding written as raw SQL, without Roster (no HTTP, no Kysely,
// no crypto, no reads): a user row, its e-mail index row, an assignment, a pool counter update (the same
// conditional `used < capacity` update Roster uses), three audit rows (user.created, license.assigned,
// user.onboarded) and the idempotency record, in Roster's own tables (created by Roster's migrations from
// dist/). Blobs are random bytes of the sizes Roster's sealed columns have.
//
// Usage: node bench/raw-sql.js --store sqlite|postgres --mode tx|batch [--writers N] [--batch 100]
//          [--pools 8] [--duration 10] [--warmup 1] [--dist <compiled Roster, default dist/>]
//   tx:    one transaction per onboarding (PostgreSQL: --writers concurrent connections; SQLite: sequential)
//   batch: --batch onboardings per transaction, one statement per row (PostgreSQL: --writers connections)
//   bulk:  --batch onboardings per transaction as one multi-row insert per table and one conditional
//          `used = used + n` update per pool (the fewest round trips the same rows can take)
// Within a transaction the inserts come first and the pool updates last, in pool order, so that row locks
// on the pool counters are held as briefly as possible and never taken in conflicting orders.
// Prints one JSON line with the result.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { CpuMeter, checkStore, newStore, PG_URL, quantile, ROOT } from './lib.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    mode: { type: 'string', default: 'tx' },
    writers: { type: 'string', default: '1' },
    batch: { type: 'string', default: '100' },
    pools: { type: 'string', default: '8' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    dist: { type: 'string', default: join(ROOT, 'dist') },
  },
});
// Roster's compiled code (run.js passes its snapshot of dist/): migrations and the UUIDv7 id generator.
const load = (path) => import(pathToFileURL(join(values.dist, path)).href);
const { openDatabase } = await load('platform/db/index.js');
const { migrateToLatest } = await load('platform/db/migrations.js');
const { newId } = await load('platform/ids.js');
const kind = values.store;
const mode = values.mode;
const perTx = mode === 'tx' ? 1 : Number(values.batch);
const writers = kind === 'sqlite' ? 1 : Number(values.writers);
const poolCount = Number(values.pools);
const duration = Number(values.duration);
const warmup = Number(values.warmup);

// Sizes of Roster's sealed values for the benchmark's request (header 17 + JSON + tag 16 bytes).
const SIZES = { userName: 62, givenName: 38, familyName: 43, emails: 113, response: 900 };
const AUDIT_USER = JSON.stringify({
  id: '00000000-0000-7000-8000-000000000000',
  userName: '***',
  externalId: null,
  name: { givenName: '***', familyName: '***' },
  displayName: null,
  emails: ['***'],
  phoneNumbers: [],
  addresses: [],
  title: null,
  department: 'Engineering',
  location: { site: 's0', country: 'DE' },
  kind: 'employee',
  manager: null,
  active: true,
  status: 'active',
  version: 1,
});

const store = newStore(kind);
const tenantId = newId();
const productId = newId();
const pools = [];

async function setUp() {
  const db = await openDatabase(store.url);
  try {
    await migrateToLatest(db);
    const now = new Date().toISOString();
    await db.kysely
      .insertInto('tenants')
      .values({ id: tenantId, name: 'raw', name_key: 'raw', created_at: now })
      .execute();
    await db.kysely
      .insertInto('products')
      .values({
        id: productId,
        tenant_id: tenantId,
        sku: 'BENCH-SEAT',
        sku_key: 'BENCH-SEAT',
        name: 'Bench seat',
        waitlist_seq: 0,
        created_at: now,
      })
      .execute();
    for (let i = 0; i < poolCount; i++) {
      const id = newId();
      pools.push({ id, name: `site s${i}`, site: `s${i}` });
      await db.kysely
        .insertInto('pools')
        .values({
          id,
          tenant_id: tenantId,
          product_id: productId,
          name: `site s${i}`,
          name_key: `site s${i}`,
          capacity: 10_000_000,
          used: 0,
          site: poolCount > 1 ? `s${i}` : null,
          country: null,
          priority: 100,
          version: 1,
          created_at: now,
          updated_at: now,
        })
        .execute();
    }
  } finally {
    await db.close();
  }
}

let counter = 0;
/** The values of one onboarding, in statement order. */
function onboarding() {
  const i = counter++;
  const pool = pools[i % pools.length];
  const userId = newId();
  const now = new Date();
  const at = now.toISOString();
  const expires = new Date(now.getTime() + 25 * 3600_000).toISOString();
  const blob = randomBytes(
    SIZES.userName + SIZES.givenName + SIZES.familyName + SIZES.emails + SIZES.response,
  );
  let o = 0;
  const slice = (n) => {
    o += n;
    return blob.subarray(o - n, o);
  };
  const requestId = newId();
  return {
    pool,
    user: [
      userId,
      tenantId,
      randomBytes(32).toString('hex'),
      slice(SIZES.userName),
      slice(SIZES.givenName),
      slice(SIZES.familyName),
      slice(SIZES.emails),
      'Engineering',
      pool.site,
      'DE',
      at,
      at,
    ],
    email: [tenantId, randomBytes(32).toString('hex'), userId],
    auditCreated: [tenantId, at, 'token:bench', 'user.created', 'user', userId, AUDIT_USER, requestId],
    assignment: [newId(), tenantId, userId, productId, pool.id, pool.site, 'DE', at, at],
    auditAssigned: [
      tenantId,
      at,
      'token:bench',
      'license.assigned',
      'user',
      userId,
      JSON.stringify({
        product: 'BENCH-SEAT',
        state: 'active',
        source: 'direct',
        pool: { id: pool.id, name: pool.name },
        waitlistPosition: null,
      }),
      requestId,
    ],
    auditOnboarded: [
      tenantId,
      at,
      'token:bench',
      'user.onboarded',
      'user',
      userId,
      JSON.stringify({ products: [{ product: 'BENCH-SEAT', state: 'active' }] }),
      requestId,
    ],
    idempotency: [tenantId, `raw-${i}`, randomBytes(32).toString('hex'), slice(SIZES.response), at, expires],
    seat: [pool.id],
  };
}

/** The inserts as a head and a row template (`$` marks a parameter; numbered when a statement is built). */
const TABLES = {
  user: [
    `insert into users (id, tenant_id, version, user_name_bidx, user_name_enc, external_id, given_name_enc,
       family_name_enc, formatted_name_enc, display_name_enc, emails_enc, phone_numbers_enc, addresses_enc,
       title, department, site, country, kind, manager_id, status, created_at, updated_at) values `,
    "($, $, 1, $, $, null, $, $, null, null, $, null, null, null, $, $, $, 'employee', null, 'active', $, $)",
  ],
  email: ['insert into user_emails (tenant_id, email_bidx, user_id) values ', '($, $, $)'],
  audit: [
    `insert into audit_entries (tenant_id, at, actor, action, target_type, target_id, before, after,
       request_id) values `,
    '($, $, $, $, $, $, null, $, $)',
  ],
  assignment: [
    `insert into assignments (id, tenant_id, user_id, product_id, pool_id, state, source, waitlist_position,
       user_site, user_country, created_at, updated_at) values `,
    "($, $, $, $, $, 'active', 'direct', null, $, $, $, $)",
  ],
  idempotency: [
    `insert into idempotency_keys (tenant_id, key, request_hash, status, response_enc, created_at,
       expires_at) values `,
    '($, $, $, 201, $, $, $)',
  ],
};

/** An insert of `rows` rows of a table, with `$1`, `$2`, ... placeholders (`?` for SQLite). */
function insertSql(table, rows, dialect) {
  const [head, row] = TABLES[table];
  let n = 0;
  const values = Array.from({ length: rows }, () =>
    row.replace(/\$/g, () => (dialect === 'sqlite' ? '?' : `$${++n}`)),
  );
  return head + values.join(', ');
}

/** The statements of the one-row-per-statement modes. */
const sqlFor = (dialect) => ({
  user: insertSql('user', 1, dialect),
  email: insertSql('email', 1, dialect),
  audit: insertSql('audit', 1, dialect),
  assignment: insertSql('assignment', 1, dialect),
  idempotency: insertSql('idempotency', 1, dialect),
  seat:
    dialect === 'sqlite'
      ? 'update pools set used = used + 1 where id = ? and used < capacity'
      : 'update pools set used = used + 1 where id = $1 and used < capacity',
  seats:
    dialect === 'sqlite'
      ? 'update pools set used = used + ? where id = ? and used + ? <= capacity'
      : 'update pools set used = used + $1 where id = $2 and used + $1 <= capacity',
});

const INSERTS = [
  ['user', 'user'],
  ['email', 'email'],
  ['audit', 'auditCreated'],
  ['assignment', 'assignment'],
  ['audit', 'auditAssigned'],
  ['audit', 'auditOnboarded'],
  ['idempotency', 'idempotency'],
];

/** Bulk mode: the rows of a batch as one multi-row insert per table, in the same order as above. */
function bulkStatements(items, dialect) {
  const rows = (fields) => items.flatMap((it) => fields.flatMap((f) => it[f]));
  return [
    [insertSql('user', items.length, dialect), rows(['user'])],
    [insertSql('email', items.length, dialect), rows(['email'])],
    [insertSql('assignment', items.length, dialect), rows(['assignment'])],
    [
      insertSql('audit', items.length * 3, dialect),
      rows(['auditCreated', 'auditAssigned', 'auditOnboarded']),
    ],
    [insertSql('idempotency', items.length, dialect), rows(['idempotency'])],
  ];
}

/** Bulk mode: seats taken per pool, one conditional update per pool, in pool order. */
function seatsPerPool(items) {
  const counts = new Map();
  for (const it of items) counts.set(it.pool.id, (counts.get(it.pool.id) ?? 0) + 1);
  return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const byPool = (a, b) => (a.pool.id < b.pool.id ? -1 : a.pool.id > b.pool.id ? 1 : 0);

async function runSqlite(seconds, meter) {
  const { default: SQLite } = await import('better-sqlite3');
  const db = new SQLite(store.file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const SQL = sqlFor('sqlite');
  const stmts = Object.fromEntries(Object.entries(SQL).map(([k, text]) => [k, db.prepare(text)]));
  const bulk = new Map();
  const prepared = (text) => {
    let st = bulk.get(text);
    if (!st) {
      st = db.prepare(text);
      bulk.set(text, st);
    }
    return st;
  };
  const write = db.transaction((items) => {
    if (mode === 'bulk') {
      for (const [text, params] of bulkStatements(items, 'sqlite')) prepared(text).run(params);
      for (const [poolId, n] of seatsPerPool(items)) {
        if (stmts.seats.run(n, poolId, n).changes !== 1) throw new Error('pool full');
      }
      return;
    }
    for (const it of items) for (const [stmt, field] of INSERTS) stmts[stmt].run(it[field]);
    for (const it of [...items].sort(byPool)) {
      if (stmts.seat.run(it.seat).changes !== 1) throw new Error('pool full');
    }
  });
  const lat = [];
  let done = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  while (performance.now() < deadline) {
    const items = Array.from({ length: perTx }, onboarding);
    const t0 = performance.now();
    write(items);
    lat.push(performance.now() - t0);
    done += items.length;
  }
  const elapsed = (performance.now() - start) / 1000;
  const usage = meter?.read();
  db.close();
  return { done, elapsed, lat, usage };
}

async function runPostgres(seconds, meter) {
  const pgPool = new pg.Pool({
    connectionString: PG_URL,
    max: writers,
    options: `-c search_path=${store.schema}`,
  });
  const clients = await Promise.all(Array.from({ length: writers }, () => pgPool.connect()));
  const lat = [];
  let done = 0;
  let deadlocks = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const SQL = sqlFor('postgres');
  const q = (client, name, values) => client.query({ name, text: SQL[name], values });
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < deadline) {
        const items = Array.from({ length: perTx }, onboarding);
        const t0 = performance.now();
        try {
          await client.query('begin');
          if (mode === 'bulk') {
            for (const [text, values] of bulkStatements(items, 'postgres')) await client.query(text, values);
            for (const [poolId, n] of seatsPerPool(items)) {
              if ((await q(client, 'seats', [n, poolId])).rowCount !== 1) throw new Error('pool full');
            }
          } else {
            for (const it of items) for (const [stmt, field] of INSERTS) await q(client, stmt, it[field]);
            for (const it of [...items].sort(byPool)) {
              if ((await q(client, 'seat', it.seat)).rowCount !== 1) throw new Error('pool full');
            }
          }
          await client.query('commit');
        } catch (err) {
          await client.query('rollback');
          if (err.code === '40P01') {
            deadlocks++;
            continue;
          }
          throw err;
        }
        lat.push(performance.now() - t0);
        done += items.length;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  // Read CPU before the connections close: an exited backend's CPU time can no longer be read.
  const usage = meter?.read();
  for (const c of clients) c.release();
  await pgPool.end();
  return { done, elapsed, lat, deadlocks, usage };
}

try {
  await setUp();
  const run = kind === 'sqlite' ? runSqlite : runPostgres;
  if (warmup > 0) await run(warmup);
  const r = await run(duration, new CpuMeter([]));
  const usage = r.usage;
  r.lat.sort((a, b) => a - b);
  const check = await checkStore(store);
  process.stdout.write(
    `${JSON.stringify({
      store: kind,
      mode,
      writers,
      perTx,
      pools: poolCount,
      onboardings: r.done,
      seconds: r.elapsed,
      rate: r.done / r.elapsed,
      txP50: quantile(r.lat, 0.5),
      txP99: quantile(r.lat, 0.99),
      deadlocks: r.deadlocks ?? 0,
      cpu: { writer: usage.loadgen, postgres: usage.postgres, machine: usage.machine },
      check: { ok: check.ok, violations: check.violations, counts: check.counts },
    })}\n`,
  );
} finally {
  await store.drop();
}
