import { withSnapshot } from '../../src/engine/snapshot.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pg from 'pg';
import { createLogger } from '../../src/core/log.js';
import type { Source, SourceBatch, SourceState } from '../../src/connectors/contract.js';
import { postgresConnector } from '../../src/connectors/postgres/postgres-connector.js';
import type { PgChangeEvent } from '../../src/connectors/postgres/pg-logical-source.js';
import { needLogicalPg } from '../helpers/pg-logical.js';
import { tempDir, uniqueName, waitFor } from '../helpers/services.js';

/** Decoding walks all the WAL written since the slot's start, also by tests running in parallel: allow a minute. */
/**
 * The slot is created (its consistent point reached: confirmed_flush_lsn set) and streaming. While
 * pg_create_logical_replication_slot still waits for older transactions to end, the slot already
 * shows as active, and a change committed then would not be decoded.
 */
const SLOT_READY = 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active AND confirmed_flush_lsn IS NOT NULL';
const waitLong: typeof waitFor = (cond, opts = {}) => waitFor(cond, { timeoutMs: 60_000, ...opts });

const { url, skip } = await needLogicalPg();
const schema = uniqueName('pgl');
const tmp = tempDir();
let admin: pg.Client;
const slots: string[] = [];
const running: Array<() => Promise<void>> = [];

before(async () => {
  if (skip) return;
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
});

async function dropSlot(s: string): Promise<void> {
  await waitLong(async () => (await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [s])).rowCount === 0, { what: `slot ${s} inactive` });
  await admin.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [s]);
  await admin.query(`DROP PUBLICATION IF EXISTS ${s}`);
}

/** Stops the test's sources and drops its slot at once (slots are a scarce server resource). */
async function finish(slot: string): Promise<void> {
  for (const stop of running.splice(0)) await stop();
  await dropSlot(slot);
  slots.splice(slots.indexOf(slot), 1);
}

after(async () => {
  if (skip) return;
  for (const stop of running) await stop().catch(() => {});
  for (const s of slots) await dropSlot(s).catch(() => {});
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  tmp.cleanup();
});

class MemState implements SourceState {
  position: string | null = null;
  constructor(readonly scope: string) {}
  private readonly snap = withSnapshot(this, { system: 'legacy', collection: 'legacy' });
  diff: SourceState['diff'] = (records, opts) => this.snap.diff(records, opts);
  sweepDeletes: SourceState['sweepDeletes'] = (exists, opts) => this.snap.sweepDeletes(exists, opts);
  async getPosition() { return this.position; }
  async getShadow() { return new Map(); }
  async *listShadow() {}
}

interface Captured {
  lines: Array<Record<string, unknown>>;
}

function logger(c: Captured) {
  return createLogger({ level: 'info', destination: new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n')) if (l) c.lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } }) });
}

function source(table: string, slot: string, state: MemState, cap: Captured, extra: Record<string, unknown> = {}, keyFields = ['id']): Source {
  if (!slots.includes(slot)) slots.push(slot);
  return postgresConnector.createSource!({
    system: 'legacy', systemConfig: { url, schema }, collection: table, keyFields, state,
    options: { mode: 'logical', slot, statusInterval: '200ms', ...extra }, logger: logger(cap), workDir: `${tmp.dir}/${slot}`,
  }) as Source;
}

/** Runs a source; `ack` decides per batch whether it is committed (position saved, ack called). */
function run(src: Source, state: MemState, ack = true) {
  const ac = new AbortController();
  const batches: SourceBatch[] = [];
  const events: PgChangeEvent[] = [];
  let error: unknown = null;
  const done = (async () => {
    try {
      for await (const b of src.stream(ac.signal)) {
        batches.push(b);
        events.push(...(b.events as PgChangeEvent[]));
        if (ack) {
          state.position = b.position ?? state.position;
          await b.ack?.();
        }
      }
    } catch (err) {
      error = err;
    }
  })();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    ac.abort();
    await done;
    await src.close();
  };
  running.push(stop);
  return { batches, events, error: () => error, stop };
}


test('creates publication and slot; insert/update/delete with exact types; transactions stay together', { skip }, async () => {
  const t = `${schema}.items`;
  await admin.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, price numeric(20,6), big int8, qty int4, ok boolean, at timestamptz, local timestamp, day date,
    doc jsonb, tags text[], nums numeric[], raw bytea, f float8, note text)`);
  const slot = uniqueName('hms_t1');
  const cap: Captured = { lines: [] };
  const state = new MemState('s');
  const r = run(source('items', slot, state, cap), state);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active' });
  const pub = await admin.query('SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3', [slot, schema, 'items']);
  assert.equal(pub.rowCount, 1);

  await admin.query(`INSERT INTO ${t} VALUES (1, 12345678901234.123456, 9007199254740993, 7, true, '2024-05-01 12:00:00.123456+02', '2024-05-01 12:00:00.5', '2024-05-01',
    '{"a": [1, "x"], "b": null, "big": 12345678901234567890}', '{"x","y z",NULL}', '{1.10,2.20}', '\\x00ff10', 1.5, 'hi')`);
  await admin.query('BEGIN');
  await admin.query(`UPDATE ${t} SET qty = 8, note = 'updated' WHERE id = 1`);
  await admin.query(`INSERT INTO ${t} (id, qty) VALUES (2, 1), (3, 1)`);
  await admin.query(`DELETE FROM ${t} WHERE id = 3`);
  await admin.query('COMMIT');
  await waitLong(() => r.events.length >= 5, { what: 'five events' });
  const [ins, upd, i2, i3, del] = r.events;
  assert.equal(ins!.op, 'insert');
  assert.equal(ins!.key, '1');
  assert.deepEqual(ins!.after, {
    id: 1, price: '12345678901234.123456', big: '9007199254740993', qty: 7, ok: true, at: '2024-05-01T10:00:00.123456Z', local: '2024-05-01T12:00:00.500', day: '2024-05-01',
    doc: { a: [1, 'x'], b: null, big: '12345678901234567890' }, tags: ['x', 'y z', null], nums: ['1.10', '2.20'], raw: Buffer.from([0, 255, 16]).toString('base64'), f: 1.5, note: 'hi',
  });
  assert.equal(upd!.op, 'update');
  assert.equal(upd!.after!.qty, 8);
  assert.equal(upd!.after!.note, 'updated');
  assert.deepEqual([i2!.op, i2!.key, i3!.op, i3!.key, del!.op, del!.key], ['insert', '2', 'insert', '3', 'delete', '3']);
  assert.deepEqual(del!.before, { id: 3 });
  // the four changes of the transaction arrived in one batch (possibly with earlier whole
  // transactions), with the commit LSN as position
  const txBatch = r.batches.find((b) => b.events.includes(upd!))!;
  for (const e of [upd, i2, i3, del]) assert.ok(txBatch.events.includes(e!), `${e!.op} ${e!.key} is in the transaction's batch`);
  assert.equal(txBatch.events.at(-1), del);
  assert.match(txBatch.position!, /^[0-9A-F]+\/[0-9A-F]+$/);
  assert.equal(upd!.position, txBatch.position);
  await waitLong(async () => (await admin.query('SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1', [slot, txBatch.position])).rows[0]?.ok === true, { what: 'slot confirmed at the batch position' });
  await r.stop();
  assert.equal(r.error(), null);
  await finish(slot);
});

test('the slot advances only on ack: un-acked changes come again after a restart', { skip }, async () => {
  const t = `${schema}.acks`;
  await admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v int)`);
  const slot = uniqueName('hms_t2');
  const cap: Captured = { lines: [] };
  const state = new MemState('s');
  const first = run(source('acks', slot, state, cap), state);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active' });
  await admin.query(`INSERT INTO ${t} VALUES (1, 1)`);
  await waitLong(() => first.events.length === 1, { what: 'first insert' });
  await first.stop();
  // confirmed at (or, after an idle keepalive, past) the acked batch's position
  await waitLong(async () => (await admin.query('SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1', [slot, state.position])).rows[0]?.ok === true, { what: 'slot confirmed at the acked position' });

  // a run that never acks: it sees the change, but the slot stays where it was
  const noAck = run(source('acks', slot, new MemState('s'), cap), new MemState('s'), false);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active again' });
  await admin.query(`UPDATE ${t} SET v = 2 WHERE id = 1`);
  await waitLong(() => noAck.events.length === 1, { what: 'update seen' });
  await noAck.stop();
  const unacked = noAck.batches[0]!.position!;
  const r = await admin.query('SELECT confirmed_flush_lsn < $2::pg_lsn AS behind FROM pg_replication_slots WHERE slot_name = $1', [slot, unacked]);
  assert.equal(r.rows[0].behind, true, `the slot must not be confirmed at ${unacked}, the commit that was never acked`);

  // restart (from the slot, as after a crash): the un-acked update is delivered again
  const again = run(source('acks', slot, new MemState('s'), cap), new MemState('s'));
  await waitLong(() => again.events.length >= 1, { what: 'replayed update' });
  assert.equal(again.events[0]!.op, 'update');
  assert.equal(again.events[0]!.after!.v, 2);
  await again.stop();
  await finish(slot);
});

test('unchanged TOASTed columns are fetched (DEFAULT) or taken from the old tuple (FULL); schema changes are reported', { skip }, async () => {
  const t = `${schema}.docs`;
  await admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, body text, n int)`);
  await admin.query(`ALTER TABLE ${t} ALTER COLUMN body SET STORAGE EXTERNAL`);
  const big = 'x'.repeat(100_000);
  await admin.query(`INSERT INTO ${t} VALUES (1, $1, 0)`, [big]);
  const slot = uniqueName('hms_t3');
  const cap: Captured = { lines: [] };
  const state = new MemState('s');
  const r = run(source('docs', slot, state, cap), state);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active' });
  await admin.query(`UPDATE ${t} SET n = 1 WHERE id = 1`);
  await waitLong(() => r.events.length === 1, { what: 'update' });
  assert.ok(r.events[0]!.after!.body === big, 'the unchanged TOASTed body is fetched');
  assert.equal(r.events[0]!.after!.n, 1);

  await admin.query(`ALTER TABLE ${t} REPLICA IDENTITY FULL`);
  await admin.query(`UPDATE ${t} SET n = 2 WHERE id = 1`);
  await waitLong(() => r.events.length === 2, { what: 'update with FULL identity' });
  assert.ok(r.events[1]!.after!.body === big, 'the unchanged TOASTed body comes from the old tuple');
  assert.equal(r.events[1]!.before!.n, 1);

  await admin.query(`ALTER TABLE ${t} ADD COLUMN extra text`);
  await admin.query(`ALTER TABLE ${t} DROP COLUMN n`);
  await admin.query(`UPDATE ${t} SET extra = 'e' WHERE id = 1`);
  await waitLong(() => r.events.length === 3, { what: 'update after schema change' });
  const ev = r.events[2]!;
  assert.deepEqual(ev.schemaChange, { table: `${schema}.docs`, added: ['extra'], dropped: ['n'], retyped: [], columns: ['id', 'body', 'extra'] });
  assert.equal(ev.after!.extra, 'e');
  assert.ok(cap.lines.some((l) => l.level === 40 && /schema change of .*added extra; dropped n/.test(String(l.msg))), 'a warning is logged');
  await r.stop();
  await finish(slot);
});

test('a key change becomes a delete of the old key and an insert of the new one', { skip }, async () => {
  const t = `${schema}.rekey`;
  await admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
  await admin.query(`INSERT INTO ${t} VALUES (1, 'a')`);
  const slot = uniqueName('hms_t4');
  const cap: Captured = { lines: [] };
  const state = new MemState('s');
  const r = run(source('rekey', slot, state, cap), state);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active' });
  await admin.query(`UPDATE ${t} SET id = 2 WHERE id = 1`);
  await waitLong(() => r.events.length === 2, { what: 'rekey events' });
  assert.deepEqual(r.events.map((e) => [e.op, e.key]), [['delete', '1'], ['insert', '2']]);
  assert.deepEqual(r.events[1]!.after, { id: 2, v: 'a' });
  await r.stop();
  await finish(slot);
});

test('an idle slot does not pin WAL: writes to other tables move its confirmed LSN', { skip }, async () => {
  const t = `${schema}.quiet`;
  await admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
  await admin.query(`CREATE TABLE ${schema}.busy (id int PRIMARY KEY, v int)`);
  const slot = uniqueName('hms_t5');
  const cap: Captured = { lines: [] };
  const state = new MemState('s');
  const r = run(source('quiet', slot, state, cap), state);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active' });
  const before = (await admin.query<{ l: string }>('SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows[0]!.l;
  for (let i = 0; i < 20; i++) await admin.query(`INSERT INTO ${schema}.busy VALUES ($1, $1)`, [i]);
  const walNow = (await admin.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
  await waitLong(async () => (await admin.query('SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1', [slot, walNow])).rows[0]?.ok === true,
    { timeoutMs: 60_000, what: `confirmed LSN of the idle slot to pass ${walNow} (was ${before})` });
  assert.equal(r.events.length, 0);
  await r.stop();
  await finish(slot);
});

test('a transaction bigger than maxTransactionEvents comes in several batches; only its last carries the position', { skip }, async () => {
  const t = `${schema}.bulk`;
  await admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v int)`);
  const slot = uniqueName('hms_t6');
  const cap: Captured = { lines: [] };
  const state = new MemState('s');
  const r = run(source('bulk', slot, state, cap, { maxTransactionEvents: 1000, maxBatchEvents: 1000 }), state);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active' });
  await admin.query(`INSERT INTO ${t} SELECT g, g FROM generate_series(1, 2500) g`);
  await waitLong(() => r.events.length === 2500, { what: '2500 events' });
  assert.deepEqual(r.batches.map((b) => [b.events.length, b.position !== undefined]), [[1000, false], [1000, false], [500, true]]);
  assert.deepEqual(r.events.map((e) => e.key), Array.from({ length: 2500 }, (_, i) => String(i + 1)));
  await r.stop();
  await finish(slot);
});

test('a dropped replication connection fails the stream as retryable; the next stream resumes without loss', { skip }, async () => {
  const t = `${schema}.drop`;
  await admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v int)`);
  const slot = uniqueName('hms_t7');
  const cap: Captured = { lines: [] };
  const state = new MemState('s');
  const src = source('drop', slot, state, cap);
  const first = run(src, state);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active' });
  await admin.query(`INSERT INTO ${t} VALUES (1, 1)`);
  await waitLong(() => first.events.length === 1, { what: 'first insert' });
  await admin.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  await waitLong(() => first.error() !== null, { what: 'the stream to fail' });
  const err = first.error() as Error;
  assert.equal(err.name, 'NotConnectedError');
  assert.match(err.message, new RegExp(`logical replication from .* \\(slot ${slot}\\) stopped`));
  await admin.query(`INSERT INTO ${t} VALUES (2, 2)`); // committed while nobody streams
  // the engine restarts the same source object; state holds the last committed position
  const again = run(src, state);
  await waitLong(() => again.events.length === 1, { what: 'the change made while disconnected' });
  assert.deepEqual(again.events.map((e) => [e.op, e.key]), [['insert', '2']]);
  await again.stop();
  await first.stop();
  await finish(slot);
});

test('a partitioned table is published through its root: changes in any partition carry the table name', { skip }, async () => {
  const t = `${schema}.parted`;
  await admin.query(`CREATE TABLE ${t} (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`);
  await admin.query(`CREATE TABLE ${schema}.parted_n PARTITION OF ${t} FOR VALUES IN ('n')`);
  await admin.query(`CREATE TABLE ${schema}.parted_s PARTITION OF ${t} FOR VALUES IN ('s')`);
  const slot = uniqueName('hms_t8');
  const cap: Captured = { lines: [] };
  const state = new MemState('s');
  const r = run(source('parted', slot, state, cap, {}, ['id', 'region']), state);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active' });
  await admin.query(`INSERT INTO ${t} VALUES (1, 'n', 1), (2, 's', 2)`);
  await admin.query(`DELETE FROM ${t} WHERE id = 2`);
  await waitLong(() => r.events.length === 3, { what: 'three events' });
  assert.deepEqual(r.events.map((e) => [e.op, e.key]), [['insert', '[1,"n"]'], ['insert', '[2,"s"]'], ['delete', '[2,"s"]']]);
  await r.stop();
  await finish(slot);
});

test('a schema change seen in a batch that was never acked is reported again after a restart', { skip }, async () => {
  const t = `${schema}.evolve`;
  await admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, a text)`);
  const slot = uniqueName('hms_t9');
  const cap: Captured = { lines: [] };
  const state = new MemState('s');
  const first = run(source('evolve', slot, state, cap), state);
  await waitLong(async () => (await admin.query(SLOT_READY, [slot])).rowCount === 1, { what: 'slot active' });
  await admin.query(`INSERT INTO ${t} VALUES (1, 'x')`);
  await waitLong(() => first.events.length === 1, { what: 'insert' });
  await first.stop();
  await admin.query(`ALTER TABLE ${t} ADD COLUMN b int`);
  await admin.query(`INSERT INTO ${t} VALUES (2, 'y', 2)`);
  const noAck = run(source('evolve', slot, state, cap), state, false);
  await waitLong(() => noAck.events.length === 1, { what: 'insert after the change' });
  assert.deepEqual(noAck.events[0]!.schemaChange?.added, ['b']);
  await noAck.stop();
  const again = run(source('evolve', slot, state, cap), state);
  await waitLong(() => again.events.length === 1, { what: 'replayed insert' });
  assert.deepEqual(again.events[0]!.schemaChange?.added, ['b'], 'reported again: the first report was never committed');
  await again.stop();
  await admin.query(`INSERT INTO ${t} VALUES (3, 'z', 3)`);
  const later = run(source('evolve', slot, state, cap), state);
  await waitLong(() => later.events.length === 1, { what: 'next insert' });
  assert.equal(later.events[0]!.schemaChange, undefined, 'once acked, the change is known');
  await later.stop();
  await finish(slot);
});
