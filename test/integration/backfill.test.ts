import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import Database from '#better-sqlite3';
import { loadConfig } from '../../src/config/load-config.js';
import { silentLogger } from '../../src/core/log.js';
import { createEngine } from '../../src/engine/engine.js';
import { backfillSourceId, runBackfill } from '../../src/engine/backfill.js';
import { installTriggers } from '../../src/connectors/triggers/trigger-ddl.js';
import { openTriggerDb } from '../../src/connectors/registry.js';
import { openStore } from '../../src/store/open-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { writeSqliteTriggersConfig } from '../helpers/sqlite-triggers-config.js';
import { tempDir, waitFor } from '../helpers/services.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const ROWS = 3000;

test('backfill interleaves with concurrent changes (DBLog watermarks), survives SIGKILL, and the target ends identical', async () => {
  const src = path.join(tmp.dir, 'legacy.db');
  const dst = path.join(tmp.dir, 'target.db');
  const s = new Database(src);
  s.pragma('journal_mode = WAL');
  s.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, note TEXT)');
  const ins = s.prepare('INSERT INTO items VALUES (?, ?, ?)');
  s.transaction(() => { for (let i = 1; i <= ROWS; i++) ins.run(i, 0, `n${i}`); })();
  const d = new Database(dst);
  d.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, note TEXT)');
  d.close();
  const cfgFile = writeSqliteTriggersConfig({ dir: tmp.dir, name: 'hms-sync', state: 'state', src, dst, from: 'poll: 20ms, batchSize: 300' });
  const tdb = openTriggerDb('sqlite', { path: src });
  await installTriggers(tdb, 'items', ['id']);
  await tdb.close();

  // concurrent writer: updates (v increases per key), inserts and deletes, all the time
  let writing = true;
  let n = 0;
  const writer = (async () => {
    const upd = s.prepare('UPDATE items SET v = v + 1, note = ? WHERE id = ?');
    const del = s.prepare('DELETE FROM items WHERE id = ?');
    while (writing) {
      n++;
      upd.run(`u${n}`, 1 + ((n * 7919) % ROWS));
      if (n % 50 === 0) ins.run(ROWS + n, n, 'new');
      if (n % 70 === 0) del.run(1 + ((n * 104729) % ROWS));
      await new Promise((r) => setTimeout(r, 1));
    }
  })();

  try {
    // 1) the CLI, SIGKILLed in the middle of the backfill
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../helpers/run-cli.ts'), 'backfill', 'items', cfgFile, '--chunk-size', '200'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const store = await openStore(`sqlite:${path.join(tmp.dir, 'state.db')}`);
    try {
      await waitFor(async () => {
        const c = await store.getPosition(backfillSourceId('items')).catch(() => null);
        return c !== null && (JSON.parse(c) as { rows: number }).rows >= 600;
      }, { timeoutMs: 30_000, what: `backfill progress before the kill (${stderr})` });
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const at = JSON.parse((await store.getPosition(backfillSourceId('items')))!) as { rows: number; done: boolean };
      assert.equal(at.done, false, 'killed mid-backfill');

      writing = false;
      await writer;
      // 2) resume in-process to the end; between each chunk's select and its high watermark,
      // change two rows of the chunk: the chunk's stale copies must lose to these changes.
      // Chunks of 1,200 rows: commits of 1,000 jobs and more go through the store's bulk writer
      // thread (handed back to the store's connection when a key of the chunk has a pending job).
      const config = await loadConfig(cfgFile);
      const race = s.prepare("UPDATE items SET v = v + 1000, note = 'raced' WHERE id = ?");
      let raced = 0;
      const sum = await runBackfill({
        config, pipeline: 'items', store, logger: silentLogger(), chunkSize: 1200,
        onChunkRead: (rows) => {
          for (const r of [rows[0], rows[rows.length - 1]]) if (r) raced += race.run(r.id as number).changes;
        },
      });
      assert.ok(raced >= 2, 'changes raced with chunk reads');
      assert.ok(sum.superseded >= raced / 2, `raced rows superseded the chunk's copies (${sum.superseded} of ${raced})`);
      assert.equal(sum.resumed, true);
      assert.ok(sum.rows >= ROWS, `all rows read (${sum.rows})`);
      assert.ok(sum.streamEvents > 0, 'live changes were committed during the backfill');
      assert.ok(store instanceof SqliteStore && store.bulkStats.committed + store.bulkStats.handedBack >= 1, `large chunks went to the bulk writer (${JSON.stringify((store as SqliteStore).bulkStats)})`);
    } finally {
      await store.close();
    }
    // 3) deliver everything (and the changes after the backfill) and compare row by row
    const config = await loadConfig(cfgFile);
    const engine = createEngine({ config, logger: silentLogger(), idlePollMs: 20 });
    await engine.start();
    try {
      const t = new Database(dst, { readonly: true });
      const snap = (db: Database.Database) => JSON.stringify(db.prepare('SELECT id, v, note FROM items ORDER BY id').all());
      try {
        await waitFor(() => snap(t) === snap(s), { timeoutMs: 60_000, intervalMs: 200, what: 'target identical to source' });
      } finally {
        t.close();
      }
    } finally {
      await engine.stop();
    }
    assert.equal((s.prepare('SELECT count(*) AS n FROM hms_sync_changelog').get() as { n: number }).n, 0, 'change-log drained and pruned');
  } finally {
    writing = false;
    await writer;
    s.close();
  }
});

test('backfill says what is wrong: triggers not installed, or another process draining the stream', async () => {
  const src = path.join(tmp.dir, 'other.db');
  const s = new Database(src);
  s.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER)');
  s.prepare('INSERT INTO items VALUES (1, 1)').run();
  const cfgFile = writeSqliteTriggersConfig({ dir: tmp.dir, name: 'other', src, dst: path.join(tmp.dir, 'other-target.db'), from: 'poll: 10ms' });
  const config = await loadConfig(cfgFile);
  const store = await openStore(config.store);
  await store.migrate();
  try {
    await assert.rejects(runBackfill({ config, pipeline: 'items', store, logger: silentLogger() }), /install trigger capture first: hms-sync triggers install/);
    const tdb = openTriggerDb('sqlite', { path: src });
    await installTriggers(tdb, 'items', ['id']);
    await tdb.close();
    // something else eating the watermarks (another process draining the same change-log):
    // the backfill gives up with a clear message instead of waiting forever
    s.exec("CREATE TRIGGER eat_watermarks AFTER INSERT ON hms_sync_changelog WHEN NEW.op = 'W' BEGIN DELETE FROM hms_sync_changelog WHERE id = NEW.id; END");
    await assert.rejects(runBackfill({ config, pipeline: 'items', store, logger: silentLogger(), watermarkTimeoutMs: 300 }), /is another process \(hms-sync run\) capturing this pipeline/);
  } finally {
    await store.close();
    s.close();
  }
});

test('a backfill SIGKILLed again and again during large chunk commits (bulk writer thread) loses no row and ends with one job per row', async () => {
  const N = 30_000;
  const src = path.join(tmp.dir, 'big.db');
  const s = new Database(src);
  s.pragma('journal_mode = WAL');
  s.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, note TEXT)');
  const ins = s.prepare('INSERT INTO items VALUES (?, ?, ?)');
  s.transaction(() => { for (let i = 1; i <= N; i++) ins.run(i, i % 97, `note ${i}`); })();
  s.close();
  const stateDb = path.join(tmp.dir, 'big-state.db');
  const cfgFile = writeSqliteTriggersConfig({ dir: tmp.dir, name: 'big', src, dst: path.join(tmp.dir, 'big-target.db'), from: 'poll: 10ms' });
  const tdb = openTriggerDb('sqlite', { path: src });
  await installTriggers(tdb, 'items', ['id']);
  await tdb.close();
  const store = await openStore(`sqlite:${stateDb}`);
  try {
    const cursor = async () => {
      const c = await store.getPosition(backfillSourceId('items')).catch(() => null);
      return c ? (JSON.parse(c) as { rows: number; done: boolean }) : null;
    };
    // kill at increasing progress; each kill lands while chunks of 2,500 rows are being read or
    // committed on the bulk writer thread
    for (const atLeast of [2500, 10_000, 17_500]) {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../helpers/run-cli.ts'), 'backfill', 'items', cfgFile, '--chunk-size', '2500'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      const exited = new Promise((r) => child.once('exit', r));
      await waitFor(async () => ((await cursor())?.rows ?? 0) >= atLeast, { timeoutMs: 60_000, intervalMs: 5, what: `backfill past ${atLeast} rows (${stderr})` });
      child.kill('SIGKILL');
      await exited;
      assert.equal((await cursor())!.done, false, `killed before the end (at ${atLeast})`);
    }
    const config = await loadConfig(cfgFile);
    const sum = await runBackfill({ config, pipeline: 'items', store, logger: silentLogger(), chunkSize: 2500 });
    assert.equal(sum.resumed, true);
    const end = (await cursor())!;
    assert.equal(end.done, true);
    assert.ok(end.rows >= N, `every row read (${end.rows})`);
    const pending = await store.listJobs({ state: 'pending', pipeline: 'items', limit: N * 2 });
    const keys = new Set(pending.map((j) => j.key));
    assert.equal(keys.size, N, 'a job for every row');
    assert.equal(pending.length, N, 'one job per row, none twice');
    const j = pending.find((x) => x.key === '12345')!;
    assert.deepEqual(j.payload.state, { id: 12345, v: 12345 % 97, note: 'note 12345' });
    assert.ok(store instanceof SqliteStore && store.bulkStats.committed + store.bulkStats.handedBack >= 1);
  } finally {
    await store.close();
  }
});
