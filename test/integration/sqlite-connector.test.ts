import { sourceStateFor } from '../../src/engine/snapshot.js';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Writable } from 'node:stream';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { PermanentError, RetryableError } from '../../src/core/errors.js';
import { computeDelta } from '../../src/core/delta.js';
import { createLogger, silentLogger } from '../../src/core/log.js';
import type { ChangeEvent, Delta } from '../../src/core/types.js';
import type { Sink, SinkItem, Source, SourceBatch, SourceState } from '../../src/connectors/contract.js';
import type { ShadowRow, Store } from '../../src/store/store.js';
import { openStore } from '../../src/store/open-store.js';
import { sqliteConnector } from '../../src/connectors/sqlite/sqlite-connector.js';
import { tempDir, waitFor } from '../helpers/services.js';

/** The source's durable state in the real store, committed per batch as the engine does. */
class StoreState implements SourceState {
  readonly diff: SourceState['diff'];
  readonly sweepDeletes: SourceState['sweepDeletes'];
  constructor(readonly store: Store, readonly scope: string) {
    const snap = sourceStateFor(store, scope, { system: 'legacy', collection: 'legacy' });
    this.diff = (records, opts) => snap.diff(records, opts);
    this.sweepDeletes = (exists, opts) => snap.sweepDeletes(exists, opts);
  }
  getPosition() { return this.store.getPosition(this.scope); }
  getShadow(keys: string[]) { return this.store.getShadow(this.scope, keys); }
  listShadow() { return this.store.listShadow(this.scope); }
  async commit(b: SourceBatch) {
    await this.store.commit({ jobs: [], shadow: b.shadow, position: b.position !== undefined ? { source: this.scope, position: b.position } : undefined });
  }
  async shadowRows() {
    const rows = new Map<string, ShadowRow>();
    for await (const r of this.listShadow()) rows.set(r.key, r);
    return rows;
  }
}

const stores: Store[] = [];
after(async () => { for (const s of stores) await s.close(); });

async function newState(dir: string, scope: string): Promise<StoreState> {
  const store = await openStore('sqlite:' + path.join(dir, 'state.db'));
  stores.push(store);
  return new StoreState(store, scope);
}

function run(source: Source, state: StoreState) {
  const ac = new AbortController();
  const events: ChangeEvent[] = [];
  const batches: SourceBatch[] = [];
  const done = (async () => {
    for await (const b of source.stream(ac.signal)) {
      batches.push(b);
      await state.commit(b);
      events.push(...b.events);
      await b.ack?.();
    }
  })();
  return { events, batches, polls: () => (source as Source & { polls: number }).polls, stop: async () => { ac.abort(); await done; await source.close(); } };
}

function makeSource(file: string, state: StoreState, options: Record<string, unknown>, keyFields = ['BRG_ID'], logger = silentLogger(), collection = 'INSPECTIONS') {
  return sqliteConnector.createSource!({ system: 'legacy', systemConfig: { path: file }, collection, options: { poll: '30ms', ...options }, keyFields, state, logger, workDir: path.dirname(file) }) as Source;
}

function legacyDb(file: string) {
  const db = openDatabase(file);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE INSPECTIONS (BRG_ID TEXT PRIMARY KEY, NEXT_INSP_DT TEXT, CODE_STS TEXT, UPDATED_AT INTEGER)`);
  const ins = db.prepare('INSERT INTO INSPECTIONS VALUES (?, ?, ?, ?)');
  ins.run('007', '20250301', 'P', 1);
  ins.run('012', '20250415', 'A', 2);
  ins.run('100', '20251231', 'C', 3);
  return db;
}

const byKey = (evs: ChangeEvent[], op: string) => evs.filter((e) => e.op === op).map((e) => e.key).sort();

test('full-scan polling detects each insert, update and delete per row, keeping legacy values as read', async () => {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'legacy.db');
  const db = legacyDb(file);
  const state = await newState(dir, 'poll:legacy:INSPECTIONS');
  const r = run(makeSource(file, state, { batchSize: 2 }), state);
  try {
    await waitFor(() => r.events.length === 3, { what: 'initial inserts' });
    assert.deepEqual(byKey(r.events, 'insert'), ['007', '012', '100']);
    const e007 = r.events.find((e) => e.key === '007')!;
    assert.deepEqual(e007.after, { BRG_ID: '007', NEXT_INSP_DT: '20250301', CODE_STS: 'P', UPDATED_AT: 1 });
    assert.equal(e007.before, null);
    const rows = await state.shadowRows();
    assert.equal(rows.size, 3);
    assert.deepEqual(rows.get('007')!.doc, e007.after, 'the shadow keeps the row doc');

    r.events.length = 0;
    db.prepare("UPDATE INSPECTIONS SET CODE_STS = 'A' WHERE BRG_ID = '007'").run();
    db.prepare("DELETE FROM INSPECTIONS WHERE BRG_ID = '012'").run();
    db.prepare("INSERT INTO INSPECTIONS VALUES ('200', '20260101', 'P', 4)").run();
    await waitFor(() => r.events.length === 3, { what: 'one update, one delete, one insert' });
    const upd = r.events.find((e) => e.op === 'update')!;
    assert.equal(upd.key, '007');
    assert.equal((upd.before as Record<string, unknown>).CODE_STS, 'P');
    assert.equal((upd.after as Record<string, unknown>).CODE_STS, 'A');
    assert.deepEqual(computeDelta(upd.key, upd.before, upd.after)!.changed, { CODE_STS: 'A' });
    const del = r.events.find((e) => e.op === 'delete')!;
    assert.equal(del.key, '012');
    assert.equal((del.before as Record<string, unknown>).NEXT_INSP_DT, '20250415');
    assert.equal(del.after, null);
    assert.deepEqual(byKey(r.events, 'insert'), ['200']);
    assert.ok(!(await state.shadowRows()).has('012'));
    // nothing else changes: two more full polls, no more events
    const polls = r.polls();
    await waitFor(() => r.polls() >= polls + 2, { what: 'two more polls' });
    assert.equal(r.events.length, 3);
  } finally {
    await r.stop();
    db.close();
    cleanup();
  }
});

test('compound keys, column lists and a where filter (a row leaving the filter counts as deleted)', async () => {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'c.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE "odd ""name""" (region TEXT, n INTEGER, val TEXT, secret TEXT, active INTEGER, PRIMARY KEY (region, n))');
  const ins = db.prepare('INSERT INTO "odd ""name""" VALUES (?, ?, ?, ?, ?)');
  for (let i = 0; i < 7; i++) ins.run(i % 2 ? 'north' : 'south', i, `v${i}`, 'x', 1);
  ins.run('north', 9007199254740993n, 'big', 'x', 1);
  const state = await newState(dir, 's');
  const r = run(makeSource(file, state, { batchSize: 3, columns: ['val'], where: 'active = 1' }, ['region', 'n'], silentLogger(), 'odd "name"'), state);
  try {
    await waitFor(() => r.events.length === 8, { what: '8 inserts' });
    const big = r.events.find((e) => (e.after as Record<string, unknown>).val === 'big')!;
    assert.deepEqual(big.after, { val: 'big', region: 'north', n: '9007199254740993' }, 'only the listed columns plus keys; 64-bit ids stay exact');
    db.prepare("UPDATE \"odd \"\"name\"\"\" SET active = 0 WHERE n = 3").run();
    db.prepare("UPDATE \"odd \"\"name\"\"\" SET secret = 'y' WHERE n = 4").run();
    await waitFor(() => r.events.length === 9, { what: 'filtered-out row deleted' });
    assert.equal(r.events[8]!.op, 'delete');
    assert.deepEqual(r.events[8]!.before, { val: 'v3', region: 'north', n: 3 });
    assert.ok(r.batches.every((b) => b.events.length <= 3), 'pages bounded by batchSize');
  } finally {
    await r.stop();
    db.close();
    cleanup();
  }
});

test('incremental mode reads only rows past the position, re-reads the last value, and sees deletes on full scans', async () => {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'legacy.db');
  const db = legacyDb(file);
  const state = await newState(dir, 'inc');
  const r = run(makeSource(file, state, { incremental: { column: 'UPDATED_AT', fullScanEvery: '1h' } }), state);
  try {
    await waitFor(async () => r.events.length === 3 && (await state.getPosition()) !== null, { what: 'initial full scan' });
    assert.deepEqual(JSON.parse((await state.getPosition())!), { v: 3 });
    // an update that bumps the column is seen by the incremental read
    db.prepare("UPDATE INSPECTIONS SET CODE_STS = 'X', UPDATED_AT = 5 WHERE BRG_ID = '012'").run();
    await waitFor(() => r.events.length === 4, { what: 'incremental update' });
    assert.equal(r.events[3]!.op, 'update');
    assert.equal(r.events[3]!.key, '012');
    assert.deepEqual(JSON.parse((await state.getPosition())!), { v: 5 });
    // a row committed late with the same column value as the position is still seen
    db.prepare("INSERT INTO INSPECTIONS VALUES ('300', '20270101', 'P', 5)").run();
    await waitFor(() => r.events.length === 5, { what: 'late row with equal column value' });
    assert.equal(r.events[4]!.key, '300');
    // an update that does not bump the column, and a delete, are invisible to incremental polls
    const pollsBefore = r.polls();
    db.prepare("UPDATE INSPECTIONS SET CODE_STS = 'Z' WHERE BRG_ID = '100'").run();
    db.prepare("DELETE FROM INSPECTIONS WHERE BRG_ID = '007'").run();
    db.prepare("UPDATE INSPECTIONS SET CODE_STS = 'Q', UPDATED_AT = 6 WHERE BRG_ID = '300'").run();
    await waitFor(() => r.events.length === 6, { what: 'next incremental update' });
    assert.equal(r.events[5]!.key, '300');
    assert.ok(r.polls() > pollsBefore);
    assert.ok(!r.events.some((e) => e.op === 'delete'), 'no full scan yet');
  } finally {
    await r.stop();
  }
  // restart: the first poll of a new instance is a full scan and finds the delete and the silent update
  const r2 = run(makeSource(file, state, { incremental: { column: 'UPDATED_AT', fullScanEvery: '1h' } }), state);
  try {
    await waitFor(() => r2.events.length === 2, { what: 'delete + silent update after restart' });
    assert.deepEqual(r2.events.map((e) => `${e.op}:${e.key}`).sort(), ['delete:007', 'update:100']);
  } finally {
    await r2.stop();
    db.close();
    cleanup();
  }
});

test('a second source instance over the same state sees no spurious changes', async () => {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'legacy.db');
  const db = legacyDb(file);
  const state = await newState(dir, 'restart');
  const r1 = run(makeSource(file, state, {}), state);
  await waitFor(() => r1.events.length === 3);
  await r1.stop();
  const r2 = run(makeSource(file, state, {}), state);
  try {
    await waitFor(() => r2.polls() >= 3, { what: 'three polls of the second instance' });
    assert.equal(r2.events.length, 0);
    db.prepare("UPDATE INSPECTIONS SET NEXT_INSP_DT = '20250302' WHERE BRG_ID = '007'").run();
    await waitFor(() => r2.events.length === 1);
    assert.deepEqual(r2.events[0]!.before, { BRG_ID: '007', NEXT_INSP_DT: '20250301', CODE_STS: 'P', UPDATED_AT: 1 });
  } finally {
    await r2.stop();
    db.close();
    cleanup();
  }
});

test('a missing file or a failing poll is logged (once, not every poll) and retried; abort ends the stream promptly', async () => {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'later.db');
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }) });
  const state = await newState(dir, 'missing');
  const src = makeSource(file, state, {}, ['BRG_ID'], logger) as Source & { failedPolls: number };
  const r = run(src, state);
  try {
    await waitFor(() => src.failedPolls >= 5, { what: 'five failed polls' });
    const failed = lines.filter((l) => l.includes('failed; retrying'));
    assert.equal(failed.length, 1, 'the same failure is logged once');
    assert.match(failed[0]!, /poll of legacy\.INSPECTIONS failed; retrying every 30 ms: .*later\.db/);
    const db = legacyDb(file);
    await waitFor(() => r.events.length === 3, { what: 'events once the file exists' });
    await waitFor(() => lines.some((l) => /works again after \d+ failed attempt/.test(l)), { what: 'recovery logged' });
    db.close();
  } finally {
    const t0 = Date.now();
    await r.stop();
    assert.ok(Date.now() - t0 < 1000, 'stream ended promptly after abort');
    cleanup();
  }
});

function item(collection: string, delta: Partial<Delta> & Pick<Delta, 'op' | 'key'>, keyFields = ['id']): SinkItem {
  return { jobId: 'j', version: 1, idempotencyKey: 'p:j:1', pipeline: 'p', collection, keyFields, delta: { changed: {}, state: null, base: null, fingerprint: '', sourceTs: 0, ...delta } };
}

test('sink: upsert inserts full state, updates only changed fields, deletes by key (missing row is success)', async () => {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'target.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE bridges (id TEXT PRIMARY KEY, status TEXT, nextInspection TEXT, note TEXT, flag INTEGER, meta TEXT)');
  const sink = await sqliteConnector.createSink!({ system: 'modern', systemConfig: { path: file }, collection: 'bridges', options: {}, keyFields: ['id'], logger: silentLogger(), workDir: dir }) as Sink;
  const signal = new AbortController().signal;
  try {
    let res = await sink.write([
      item('bridges', { op: 'insert', key: '007', state: { id: '007', status: 'pending', nextInspection: '2025-03-01', flag: true, meta: { a: 1 } }, changed: {} }),
      item('bridges', { op: 'insert', key: '012', state: { id: '012', status: 'active' } }),
    ], signal);
    assert.deepEqual(res, [{ ok: true }, { ok: true }]);
    assert.deepEqual(db.prepare("SELECT * FROM bridges WHERE id = '007'").get(), { id: '007', status: 'pending', nextInspection: '2025-03-01', note: null, flag: 1, meta: '{"a":1}' });
    // someone edits note in the target; an update of status must not overwrite it
    db.prepare("UPDATE bridges SET note = 'target edit' WHERE id = '007'").run();
    res = await sink.write([
      item('bridges', { op: 'update', key: '007', changed: { status: 'approved' }, state: { id: '007', status: 'approved', nextInspection: '2025-03-01', note: null } }),
      item('bridges', { op: 'update', key: '999', changed: { status: 'new' }, state: { id: '999', status: 'new' } }),
      item('bridges', { op: 'delete', key: '012' }),
      item('bridges', { op: 'delete', key: 'nope' }),
    ], signal);
    assert.deepEqual(res, [{ ok: true }, { ok: true }, { ok: true }, { ok: true }]);
    assert.deepEqual(db.prepare("SELECT status, note FROM bridges WHERE id = '007'").get(), { status: 'approved', note: 'target edit' });
    assert.deepEqual(db.prepare("SELECT status FROM bridges WHERE id = '999'").get(), { status: 'new' }, 'update of a missing row inserts it');
    assert.equal((db.prepare("SELECT count(*) AS n FROM bridges WHERE id = '012'").get() as { n: number }).n, 0);
  } finally {
    await sink.close();
    db.close();
    cleanup();
  }
});

test('sink: an unknown column is a permanent error naming column and table, other items still commit; a lock is retryable', async () => {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'target.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)');
  const sink = await sqliteConnector.createSink!({ system: 'modern', systemConfig: { path: file, busyTimeout: 0 }, collection: 't', options: {}, keyFields: ['id'], logger: silentLogger(), workDir: dir }) as Sink;
  const signal = new AbortController().signal;
  try {
    const res = await sink.write([
      item('t', { op: 'insert', key: '1', state: { id: 1, name: 'a' } }),
      item('t', { op: 'insert', key: '2', state: { id: 2, name: 'b', colour: 'red' } }),
      item('missing_table', { op: 'insert', key: '3', state: { id: 3 } }),
      item('t', { op: 'delete', key: '1' }),
    ], signal);
    assert.deepEqual(res[0], { ok: true });
    assert.equal(res[1]!.ok, false);
    const err = (res[1] as { error: unknown }).error;
    assert.ok(err instanceof PermanentError);
    assert.match((err as Error).message, /column "colour" does not exist in table "t"/);
    assert.ok((res[2] as { error: unknown }).error instanceof PermanentError);
    assert.match(((res[2] as { error: Error }).error).message, /table "missing_table" does not exist/);
    assert.deepEqual(res[3], { ok: true }, 'delete by a string key of an INTEGER column');
    assert.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 0);

    db.exec('BEGIN IMMEDIATE'); // another writer holds the lock
    await assert.rejects(sink.write([item('t', { op: 'insert', key: '5', state: { id: 5 } })], signal), (e: unknown) => e instanceof RetryableError && /busy/.test((e as Error).message));
    db.exec('ROLLBACK');
    assert.deepEqual(await sink.write([item('t', { op: 'insert', key: '5', state: { id: 5 } })], signal), [{ ok: true }]);
  } finally {
    await sink.close();
    db.close();
    cleanup();
  }
});

test('sink: key and type mismatches name the column; no unique index on the key is said plainly; base64 goes into BLOB columns as bytes', async () => {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'target.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE k (id INTEGER PRIMARY KEY, name TEXT NOT NULL, raw BLOB); CREATE TABLE st (id INTEGER PRIMARY KEY, qty INTEGER) STRICT; CREATE TABLE nokey (id INTEGER, name TEXT)');
  const open = (table: string) => sqliteConnector.createSink!({ system: 'modern', systemConfig: { path: file }, collection: table, options: {}, keyFields: ['id'], logger: silentLogger(), workDir: dir }) as Promise<Sink>;
  const signal = new AbortController().signal;
  const k = await open('k');
  const st = await open('st');
  const nokey = await open('nokey');
  const message = (r: Awaited<ReturnType<Sink['write']>>[number]) => {
    assert.equal(r.ok, false);
    const e = (r as { error: unknown }).error;
    assert.ok(e instanceof PermanentError, String(e));
    return e.message;
  };
  try {
    const res = await k.write([
      item('k', { op: 'insert', key: 'abc', state: { id: 'abc', name: 'x' } }),
      item('k', { op: 'insert', key: '2', state: { id: 2, name: null } }),
      item('k', { op: 'insert', key: '3', state: { id: 3, name: 'bytes', raw: Buffer.from([0, 255, 16]).toString('base64') } }),
    ], signal);
    assert.match(message(res[0]!), /failed at column "id" \(INTEGER PRIMARY KEY\) with value "abc"/);
    assert.match(message(res[1]!), /failed at column "name" \(TEXT\) with value null: .*NOT NULL/);
    assert.deepEqual(res[2], { ok: true });
    assert.deepEqual(db.prepare('SELECT hex(raw) AS h, typeof(raw) AS t FROM k WHERE id = 3').get(), { h: '00FF10', t: 'blob' });
    assert.match(message((await st.write([item('st', { op: 'insert', key: '1', state: { id: 1, qty: 'many' } })], signal))[0]!), /failed at column "qty" \(INTEGER\) with value "many"/);
    assert.match(message((await nokey.write([item('nokey', { op: 'insert', key: '1', state: { id: 1, name: 'x' } })], signal))[0]!), /table "nokey" has no primary key or unique index on \(id\), which an upsert needs/);
  } finally {
    await k.close();
    await st.close();
    await nokey.close();
    db.close();
    cleanup();
  }
});

test('testConnection names the file when it cannot be opened; a read-only system refuses to be a sink', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await assert.rejects(sqliteConnector.testConnection({ path: path.join(dir, 'nope.db') }, { logger: silentLogger(), system: 'legacy' }), /cannot open SQLite database ".*nope\.db" of system "legacy"/);
    assert.throws(() => sqliteConnector.createSink!({ system: 'legacy', systemConfig: { path: path.join(dir, 'x.db'), readonly: true }, collection: 't', options: {}, keyFields: ['id'], logger: silentLogger(), workDir: dir }), /read-only/);
    assert.throws(() => sqliteConnector.createSink!({ system: 'modern', systemConfig: { path: 'typo.db' }, collection: 't', options: {}, keyFields: ['id'], logger: silentLogger(), workDir: dir, baseDir: dir }), /cannot open SQLite database ".*typo\.db" of system "modern" for writing/);
  } finally {
    cleanup();
  }
});
