import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Client, useTestApp } from '../../support/app.js';
import { dumpAllTables, piiOf, type Row, SEALED_USER_COLUMNS } from '../../support/pii.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * Invariant: user PII (userName, name, displayName, e-mails, phone numbers, addresses) is stored only as
 * ciphertext. Every column of every row of every table is read back raw and searched for each PII string,
 * as text and as UTF-8 bytes, case-insensitively.
 */

// Distinctive values that cannot occur by chance in ids, times, digests or ciphertext.
const ALICE = {
  userName: 'Zephyrine.Quillfeather@PiiProbe.example',
  name: {
    givenName: 'Zephyrine',
    familyName: 'Quillfeather-Ørnsvik',
    formatted: 'Dr. Zephyrine Wilhelmina Quillfeather-Ørnsvik',
  },
  displayName: 'Zeph the Quillmaster',
  emails: [
    { value: 'zephyrine.work@quillprobe.example', type: 'work', primary: true },
    { value: 'z.quill.home@hushmail-probe.example', type: 'home' },
    { value: 'ZQ.Billing@Quillprobe-Accounts.example', type: 'other', display: 'Billing Quillbox' },
  ],
  phoneNumbers: [
    { value: '+49 30 5550 917364', type: 'work', primary: true },
    { value: '+1-202-555-0199-x8842', type: 'mobile' },
  ],
  addresses: [
    {
      type: 'home',
      streetAddress: '17 Marzipanweg Hinterhaus',
      locality: 'Kleinbuxtehudingen',
      region: 'Niedersachsenprobe',
      postalCode: 'QZ-90817',
      country: 'Frobnitzland',
      formatted: '17 Marzipanweg Hinterhaus, QZ-90817 Kleinbuxtehudingen',
      primary: true,
    },
  ],
  // Not PII: stored in clear on purpose (filters), so chosen to be harmless.
  title: 'Engineer',
  department: 'Research',
  location: { site: 'ber-1', country: 'de' },
};

const BOB = {
  userName: 'Barnabus_Kettleworth',
  name: { givenName: 'Barnabus', familyName: 'Kettleworth' },
  displayName: 'Barney Kettlewhistle',
  emails: [{ value: 'barnabus.kettleworth@teapotprobe.example', type: 'work' }],
  phoneNumbers: [{ value: '+44 20 7946 0321', type: 'work' }],
  addresses: [{ streetAddress: '221C Gingerbread Mews', locality: 'Crumpetford', postalCode: 'CRX1 9XQ' }],
};

/** Values set by a later PATCH: they, and the values they replace, must not be stored either. */
const ALICE_PATCH = {
  displayName: 'Quillmaster Supreme Zephyr',
  emails: [...ALICE.emails, { value: 'zephyr.extra@quillprobe-new.example', type: 'other' }],
  phoneNumbers: [{ value: '+33 1 7025 88431', type: 'work' }],
};

/** A user created and then deleted: not even the audit of the deletion may keep PII. */
const CAROL = {
  userName: 'Clementine.Vandersnoot',
  name: { givenName: 'Clementine', familyName: 'Vandersnoot' },
  emails: [{ value: 'clementine.vandersnoot@deletedprobe.example' }],
  phoneNumbers: [{ value: '+31 20 555 7788 14' }],
};

const PII = [...new Set([...piiOf(ALICE), ...piiOf(BOB), ...piiOf(ALICE_PATCH), ...piiOf(CAROL)])];

describe('PII probe values', () => {
  it('are long and distinctive enough that a chance match is impossible', () => {
    for (const p of PII) expect(p.length, p).toBeGreaterThanOrEqual(8);
    expect(PII.length).toBeGreaterThanOrEqual(30);
  });
});

/** Every textual form of a stored value: text as is, binary as UTF-8 and Latin-1 text. */
function textForms(v: unknown): string[] {
  if (v === null || v === undefined) return [];
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    const b = Buffer.from(v);
    return [b.toString('utf8'), b.toString('latin1')];
  }
  if (typeof v === 'object') return [JSON.stringify(v)];
  return [String(v)];
}

function bytesOf(v: unknown): Buffer | undefined {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v);
  return undefined;
}

/** Where a PII string occurs in the dump: `table.column` and the PII, for a readable failure. */
function findPii(dump: Map<string, Row[]>, pii: readonly string[]): string[] {
  const hits: string[] = [];
  const needles = pii.map((p) => ({ p, lower: p.toLowerCase(), bytes: Buffer.from(p, 'utf8') }));
  for (const [table, rows] of dump) {
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        const forms = textForms(value).map((f) => f.toLowerCase());
        const bytes = bytesOf(value);
        for (const n of needles) {
          if (forms.some((f) => f.includes(n.lower)) || bytes?.includes(n.bytes)) {
            hits.push(`${table}.${column}: ${n.p}`);
          }
        }
      }
    }
  }
  return hits;
}

describeEachStore('PII at rest', (kind) => {
  const t = useTestApp(kind);
  let api: Client;
  let tenantId: string;
  const ids: Record<string, string> = {};
  let dump: Map<string, Row[]>;

  beforeAll(async () => {
    ({ api, tenantId } = await t().newTenant());
    const alice = await api.post('/api/v1/users', ALICE);
    expect(alice.status, alice.raw).toBe(201);
    ids.alice = alice.body.id;
    const bob = await api.post('/api/v1/users', { ...BOB, manager: ids.alice });
    expect(bob.status, bob.raw).toBe(201);
    ids.bob = bob.body.id;
    const carol = await api.post('/api/v1/users', CAROL);
    expect(carol.status, carol.raw).toBe(201);
    ids.carol = carol.body.id;

    const group = await api.post('/api/v1/groups', {
      displayName: 'Probe Group One',
      description: 'members of the PII probe',
      members: [ids.alice, ids.bob, ids.carol],
    });
    expect(group.status, group.raw).toBe(201);
    ids.group = group.body.id;

    const patched = await api.patch(`/api/v1/users/${ids.alice}`, ALICE_PATCH, {
      'content-type': 'application/merge-patch+json',
    });
    expect(patched.status, patched.raw).toBe(200);
    // Lookups by PII go through blind indexes: the query values must not be stored anywhere either.
    const byEmail = await api.get(`/api/v1/users?email=${encodeURIComponent(ALICE.emails[1]?.value ?? '')}`);
    expect(byEmail.body.items.map((u: { id: string }) => u.id)).toEqual([ids.alice]);
    const byName = await api.get(`/api/v1/users?userName=${encodeURIComponent(BOB.userName.toUpperCase())}`);
    expect(byName.body.items.map((u: { id: string }) => u.id)).toEqual([ids.bob]);
    // A rejected duplicate must not leave PII behind (in a rolled-back row or an audit entry).
    const dup = await api.post('/api/v1/users', { userName: ALICE.userName.toLowerCase() });
    expect(dup.status).toBe(409);
    const removed = await api.delete(`/api/v1/users/${ids.carol}`);
    expect(removed.status, removed.raw).toBe(204);
    dump = await dumpAllTables(t().app.db);
  });

  it('reads every table of the store, including users and the audit trail', () => {
    for (const table of [
      'tenants',
      'tenant_keys',
      'api_tokens',
      'users',
      'user_emails',
      'groups',
      'group_members',
      'audit_entries',
    ]) {
      expect([...dump.keys()], table).toContain(table);
    }
    const users = (dump.get('users') ?? []).filter((r) => r.tenant_id === tenantId);
    expect(users.map((r) => r.id).sort()).toEqual([ids.alice, ids.bob].sort());
    // The sealed columns are present (binary), so the search below really covers the ciphertext.
    const alice = users.find((r) => r.id === ids.alice) as Row;
    for (const col of SEALED_USER_COLUMNS) {
      expect(bytesOf(alice[col]), col).toBeInstanceOf(Buffer);
      expect((bytesOf(alice[col]) as Buffer).length, col).toBeGreaterThan(33);
    }
    expect((dump.get('user_emails') ?? []).filter((r) => r.user_id === ids.alice)).toHaveLength(4);
    const audit = (dump.get('audit_entries') ?? []).filter((r) => r.tenant_id === tenantId);
    expect(audit.map((r) => r.action)).toEqual(
      expect.arrayContaining(['user.created', 'user.updated', 'user.deleted', 'group.created']),
    );
  });

  it('the search finds PII when it is present (the check can fail)', () => {
    const planted = new Map<string, Row[]>([
      ['probe', [{ a: `xx${ALICE.name.familyName.toUpperCase()}yy`, b: null }]],
      [
        'probe_bin',
        [{ a: Buffer.concat([randomBytes(40), Buffer.from(`${BOB.phoneNumbers[0]?.value}`, 'utf8')]) }],
      ],
      ['probe_json', [{ a: { nested: [ALICE.addresses[0]?.locality.toLowerCase()] } }]],
    ]);
    expect(findPii(planted, PII)).toEqual([
      `probe.a: ${ALICE.name.familyName}`,
      `probe_bin.a: ${BOB.phoneNumbers[0]?.value}`,
      `probe_json.a: ${ALICE.addresses[0]?.locality}`,
    ]);
  });

  it('no PII string appears in any column of any row of any table', () => {
    expect(findPii(dump, PII)).toEqual([]);
  });

  it('the audit entries record the changes with PII masked', () => {
    const audit = (dump.get('audit_entries') ?? []).filter((r) => r.tenant_id === tenantId);
    const created = audit.find((r) => r.action === 'user.created' && r.target_id === ids.alice) as Row;
    const after = JSON.parse(String(created.after));
    expect(after.userName).toBe('***');
    expect(after.emails).toEqual(['***', '***', '***']);
    expect(after.name).toEqual({ givenName: '***', familyName: '***', formatted: '***' });
    expect(after.department).toBe('Research');
  });

  it('the PII comes back decrypted through the API', async () => {
    const alice = await api.get(`/api/v1/users/${ids.alice}`);
    expect(alice.status, alice.raw).toBe(200);
    expect(alice.body).toMatchObject({
      userName: ALICE.userName,
      name: ALICE.name,
      displayName: ALICE_PATCH.displayName,
      emails: ALICE_PATCH.emails,
      phoneNumbers: ALICE_PATCH.phoneNumbers,
      addresses: ALICE.addresses,
      location: { site: 'ber-1', country: 'DE' },
    });
    const bob = await api.get(`/api/v1/users/${ids.bob}`);
    expect(bob.status, bob.raw).toBe(200);
    expect(bob.body).toMatchObject({ ...BOB, manager: ids.alice });
    const list = await api.get('/api/v1/users');
    expect(list.status).toBe(200);
    expect(list.body.items.map((u: { userName: string }) => u.userName).sort()).toEqual(
      [ALICE.userName, BOB.userName].sort(),
    );
    expect((await api.get(`/api/v1/users/${ids.carol}`)).status).toBe(404);
  });

  it('the audit API does not reveal PII either', async () => {
    const entries = await api.get('/api/v1/audit/entries?limit=200');
    expect(entries.status, entries.raw).toBe(200);
    expect(entries.body.items.length).toBeGreaterThanOrEqual(5);
    const lower = entries.raw.toLowerCase();
    expect(PII.filter((p) => lower.includes(p.toLowerCase()))).toEqual([]);
  });
});
