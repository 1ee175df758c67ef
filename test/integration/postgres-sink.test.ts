import { withSnapshot } from '../../src/engine/snapshot.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { computeDelta } from '../../src/core/delta.js';
import { PermanentError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import type { Doc } from '../../src/core/types.js';
import type { Sink, SinkItem, Source, SourceBatch, SourceState } from '../../src/connectors/contract.js';
import { postgresConnector } from '../../src/connectors/postgres/postgres-connector.js';
import { isSkipped } from '../../src/connectors/sql/sql-sink-common.js';
import { needService, PG_URL, tempDir, uniqueName, waitFor } from '../helpers/services.js';

const skip = await needService('postgres');
const schema = uniqueName('pgsink');
const tmp = tempDir();
let admin: pg.Client;
const sinks: Sink[] = [];

before(async () => {
  if (skip) return;
  admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`CREATE TABLE ${schema}.permit (id int PRIMARY KEY, status text, amount numeric(12,2), version int, meta jsonb, tags text[], "odd ""name" text)`);
  await admin.query(`CREATE TABLE ${schema}.nokey (id int, status text)`);
});

after(async () => {
  if (skip) return;
  for (const s of sinks) await s.close();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  tmp.cleanup();
});

function sink(options: Record<string, unknown> = {}): Sink {
  const s = postgresConnector.createSink!({ system: 'portal', systemConfig: { url: PG_URL, schema }, collection: 'permit', options, keyFields: ['id'], logger: silentLogger(), workDir: tmp.dir }) as Sink;
  sinks.push(s);
  return s;
}

let jobSeq = 0;
function item(before: Doc | null, after: Doc | null, collection = 'permit'): SinkItem {
  const key = String((after ?? before)!.id);
  const delta = computeDelta(key, before, after)!;
  jobSeq++;
  return { jobId: String(jobSeq), version: 1, idempotencyKey: `p:${jobSeq}:1`, pipeline: 'p', collection, keyFields: ['id'], delta };
}

async function rows(): Promise<Doc[]> {
  return (await admin.query(`SELECT id, status, amount::text AS amount, version, meta, tags, "odd ""name" AS odd FROM ${schema}.permit ORDER BY id`)).rows as Doc[];
}

test('batched upserts and deletes; identifiers with quotes; json and arrays', { skip }, async () => {
  const s = sink();
  const res = await s.write([
    item(null, { id: 1, status: 'new', amount: '10.50', version: 1, meta: { a: [1] }, tags: ['x', 'y'], 'odd "name': 'q' }),
    item(null, { id: 2, status: 'new', amount: '3', version: 1, meta: null, tags: [], 'odd "name': null }),
    item(null, { id: 3, status: 'new', amount: null, version: 1, meta: [1, 2], tags: null, 'odd "name': null }),
  ], new AbortController().signal);
  assert.deepEqual(res, [{ ok: true }, { ok: true }, { ok: true }]);
  const res2 = await s.write([
    item({ id: 1, status: 'new', version: 1 }, { id: 1, status: 'approved', version: 2 }),
    item({ id: 3, status: 'new' }, null),
  ], new AbortController().signal);
  assert.deepEqual(res2, [{ ok: true }, { ok: true }]);
  assert.deepEqual(await rows(), [
    { id: 1, status: 'approved', amount: '10.50', version: 2, meta: { a: [1] }, tags: ['x', 'y'], odd: 'q' },
    { id: 2, status: 'new', amount: '3.00', version: 1, meta: null, tags: [], odd: null },
  ]);
});

test('version fencing: an older version never overwrites a newer row and is reported as skipped', { skip }, async () => {
  await admin.query(`DELETE FROM ${schema}.permit`);
  const s = sink({ versionField: 'version' });
  await s.write([item(null, { id: 10, status: 'v5', version: 5 })], new AbortController().signal);
  const res = await s.write([
    item({ id: 10, status: 'v5', version: 5 }, { id: 10, status: 'v3', version: 3 }), // late retry of an old version
    item(null, { id: 11, status: 'fresh', version: 1 }),
  ], new AbortController().signal);
  assert.equal(res.length, 2);
  assert.ok(res[0]!.ok && isSkipped(res[0]!), 'the stale write is ok-but-skipped');
  assert.ok(res[1]!.ok && !isSkipped(res[1]!));
  const equal = await s.write([item({ id: 10, status: 'v5', version: 5 }, { id: 10, status: 'same version', version: 5 })], new AbortController().signal);
  assert.ok(isSkipped(equal[0]!), 'an equal version is not newer');
  const newer = await s.write([item({ id: 10, status: 'v5', version: 5 }, { id: 10, status: 'v6', version: 6 })], new AbortController().signal);
  assert.deepEqual(newer, [{ ok: true }]);
  // a fenced delete of version 5 leaves the row at version 6 alone
  await s.write([item({ id: 10, version: 5 }, null)], new AbortController().signal);
  const r = await admin.query(`SELECT id, status, version FROM ${schema}.permit ORDER BY id`);
  assert.deepEqual(r.rows, [{ id: 10, status: 'v6', version: 6 }, { id: 11, status: 'fresh', version: 1 }]);
  const missing = await s.write([item(null, { id: 12, status: 'no version' })], new AbortController().signal);
  assert.ok(!missing[0]!.ok && /version field "version" is missing/.test(String((missing[0] as { error: unknown }).error)));
});

test('type and key mismatches fail only their item, as permanent errors naming the column', { skip }, async () => {
  const s = sink();
  const res = await s.write([
    item(null, { id: 20, status: 'ok', amount: '1.00' }),
    item(null, { id: 21, status: 'bad', amount: 'twelve' }),
    item(null, { id: 22, status: 'x', nope: 1 }),
    item(null, { id: 23, status: 'ok too' }),
  ], new AbortController().signal);
  assert.deepEqual(res[0], { ok: true });
  assert.deepEqual(res[3], { ok: true });
  const e1 = (res[1] as { error: unknown }).error;
  assert.ok(e1 instanceof PermanentError);
  assert.match(e1.message, /column "amount" \(numeric\(12,2\)\) with value "twelve"/);
  const e2 = (res[2] as { error: unknown }).error;
  assert.ok(e2 instanceof PermanentError);
  assert.match(e2.message, /column "nope" does not exist in table "permit"/);
  const ids = (await admin.query(`SELECT id FROM ${schema}.permit WHERE id >= 20 ORDER BY id`)).rows.map((r: { id: number }) => r.id);
  assert.deepEqual(ids, [20, 23]);
  const badKey = await s.write([item(null, { id: 'abc', status: 'x' })], new AbortController().signal);
  assert.match(String((badKey[0] as { error: unknown }).error), /failed at column "id" \(integer\) with value "abc"/, 'a key of the wrong type names the key column');
  const noKey = await sink().write([item(null, { id: 1, status: 'x' }, 'nokey')], new AbortController().signal);
  assert.match(String((noKey[0] as { error: unknown }).error), /has no primary key or unique index on \(id\)/);
});

test('bytea: base64 is written as bytes, other text as bytea input (not decoded as base64 into garbage)', { skip }, async () => {
  await admin.query(`CREATE TABLE ${schema}.blobs (id int PRIMARY KEY, raw bytea)`);
  const s = postgresConnector.createSink!({ system: 'portal', systemConfig: { url: PG_URL, schema }, collection: 'blobs', options: {}, keyFields: ['id'], logger: silentLogger(), workDir: tmp.dir }) as Sink;
  sinks.push(s);
  const res = await s.write([item(null, { id: 1, raw: 'AP8Q' }, 'blobs'), item(null, { id: 2, raw: '\\x0102' }, 'blobs'), item(null, { id: 3, raw: 'hello world' }, 'blobs')], new AbortController().signal);
  assert.deepEqual(res, [{ ok: true }, { ok: true }, { ok: true }]);
  const rows = (await admin.query(`SELECT id, encode(raw, 'hex') AS hex FROM ${schema}.blobs ORDER BY id`)).rows;
  assert.deepEqual(rows, [{ id: 1, hex: '00ff10' }, { id: 2, hex: '0102' }, { id: 3, hex: Buffer.from('hello world').toString('hex') }]);
});

test('testConnection and fromUrl', { skip }, async () => {
  await postgresConnector.testConnection({ url: PG_URL }, { logger: silentLogger(), system: 'portal' });
  await assert.rejects(postgresConnector.testConnection({ url: 'postgres://postgres@127.0.0.1:1/test' }, { logger: silentLogger(), system: 'portal' }),
    /cannot connect to PostgreSQL 127.0.0.1:1\/test of system "portal"/);
  assert.deepEqual(postgresConnector.fromUrl!('postgres://u:p@db:5432/app?schema=permits&sslmode=require'), { url: 'postgres://u:p@db:5432/app?sslmode=require', schema: 'permits' });
});

test('an unreachable server fails the batch as retryable', { skip }, async () => {
  const s = postgresConnector.createSink!({ system: 'portal', systemConfig: { url: 'postgres://postgres@127.0.0.1:1/test' }, collection: 'permit', options: {}, keyFields: ['id'], logger: silentLogger(), workDir: tmp.dir }) as Sink;
  sinks.push(s);
  await assert.rejects(s.write([item(null, { id: 1 })], new AbortController().signal), (err: Error) => err.name === 'NotConnectedError' && /cannot connect to PostgreSQL 127.0.0.1:1\/test/.test(err.message));
});

class MemState implements SourceState {
  position: string | null = null;
  shadow = new Map<string, { scope: string; key: string; fingerprint: string; doc: Doc | null; updatedAt: number }>();
  constructor(readonly scope: string) {}
  private readonly snap = withSnapshot(this, { system: 'legacy', collection: 'legacy' });
  diff: SourceState['diff'] = (records, opts) => this.snap.diff(records, opts);
  sweepDeletes: SourceState['sweepDeletes'] = (exists, opts) => this.snap.sweepDeletes(exists, opts);
  async getPosition() { return this.position; }
  async getShadow(keys: string[]) { return new Map(keys.filter((k) => this.shadow.has(k)).map((k) => [k, this.shadow.get(k)!])); }
  async *listShadow() { yield* [...this.shadow.values()]; }
  apply(b: SourceBatch) {
    for (const s of b.shadow ?? []) {
      if ('delete' in s) this.shadow.delete(s.key);
      else this.shadow.set(s.key, s as never);
    }
    if (b.position !== undefined) this.position = b.position;
  }
}

test('poll mode: the shared SQL polling source on PostgreSQL sees inserts, updates and deletes with exact values', { skip }, async () => {
  await admin.query(`CREATE TABLE ${schema}.legacy (brg_id text PRIMARY KEY, amount numeric(14,4), at timestamptz, n int8)`);
  await admin.query(`INSERT INTO ${schema}.legacy VALUES ('007', 1.2300, '2024-01-01 00:00:00.000001+00', 9007199254740993), ('008', 2, NULL, 1)`);
  const state = new MemState('poll');
  const src = postgresConnector.createSource!({ system: 'legacy', systemConfig: { url: PG_URL, schema }, collection: 'legacy', keyFields: ['brg_id'], state, options: { poll: '30ms' }, logger: silentLogger(), workDir: tmp.dir }) as Source;
  const ac = new AbortController();
  const events: Array<{ op: string; key: string; after?: Doc | null }> = [];
  const done = (async () => {
    for await (const b of src.stream(ac.signal)) {
      state.apply(b);
      events.push(...b.events);
    }
  })();
  try {
    await waitFor(() => events.length === 2, { what: 'initial rows' });
    assert.deepEqual(events[0]!.after, { brg_id: '007', amount: '1.2300', at: '2024-01-01T00:00:00.000001Z', n: '9007199254740993' });
    await admin.query(`UPDATE ${schema}.legacy SET amount = 5 WHERE brg_id = '007'`);
    await admin.query(`DELETE FROM ${schema}.legacy WHERE brg_id = '008'`);
    await waitFor(() => events.length === 4, { what: 'update and delete' });
    assert.deepEqual(events.slice(2).map((e) => [e.op, e.key]), [['update', '007'], ['delete', '008']]);
    assert.equal(events[2]!.after!.amount, '5.0000');
  } finally {
    ac.abort();
    await done;
    await src.close();
  }
});

test('checkWalLevel against a real server: passes at logical, otherwise says exactly what to change', { skip }, async () => {
  const { checkWalLevel } = await import('../../src/connectors/postgres/pg-setup.js');
  const level = (await admin.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
  if (level === 'logical') await checkWalLevel(admin, '127.0.0.1:5432/test');
  else await assert.rejects(checkWalLevel(admin, '127.0.0.1:5432/test'), new RegExp(`runs with wal_level = ${level}, but logical replication needs wal_level = logical.*ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL`));
});
