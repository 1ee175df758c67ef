import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from '#better-sqlite3';
import { computeDelta } from '../../src/core/delta.js';
import { silentLogger } from '../../src/core/log.js';
import type { Doc } from '../../src/core/types.js';
import type { Sink, SinkItem } from '../../src/connectors/contract.js';
import { sqliteConnector } from '../../src/connectors/sqlite/sqlite-connector.js';
import { isSkipped } from '../../src/connectors/sql/sql-sink-common.js';
import { tempDir, waitFor } from '../helpers/services.js';
import { engineFromYaml } from '../helpers/engine-harness.js';

const tmp = tempDir();
const file = path.join(tmp.dir, 'target.db');
const db = new Database(file);
db.exec('CREATE TABLE permit (id TEXT PRIMARY KEY, status TEXT, version INTEGER)');
const sink = sqliteConnector.createSink!({ system: 't', systemConfig: { path: file }, collection: 'permit', options: { versionField: 'version' }, keyFields: ['id'], logger: silentLogger(), workDir: tmp.dir }) as Sink;

after(async () => {
  await sink.close();
  db.close();
  tmp.cleanup();
});

function item(before: Doc | null, after: Doc | null): SinkItem {
  const key = String((after ?? before)!.id);
  return { jobId: key, version: 1, idempotencyKey: `p:${key}:1`, pipeline: 'p', collection: 'permit', keyFields: ['id'], delta: computeDelta(key, before, after)! };
}

test('SQLite sink version fencing: stale writes are ok-but-skipped, rows never move backwards', async () => {
  const signal = new AbortController().signal;
  assert.deepEqual(await sink.write([item(null, { id: 'a', status: 'v5', version: 5 })], signal), [{ ok: true }]);
  const res = await sink.write([
    item({ id: 'a', status: 'v5', version: 5 }, { id: 'a', status: 'v4', version: 4 }),
    item({ id: 'a', status: 'v5', version: 5 }, { id: 'a', status: 'v5 again', version: 5 }),
    item({ id: 'a', status: 'v5', version: 5 }, { id: 'a', status: 'v7', version: 7 }),
  ], signal);
  assert.deepEqual(res.map((r) => r.ok && isSkipped(r)), [true, true, false]);
  await sink.write([item({ id: 'a', version: 6 }, null)], signal); // a delete of an older version
  assert.deepEqual(db.prepare('SELECT * FROM permit').all(), [{ id: 'a', status: 'v7', version: 7 }]);
  await sink.write([item({ id: 'a', version: 7 }, null)], signal);
  assert.deepEqual(db.prepare('SELECT * FROM permit').all(), []);
  const missing = await sink.write([item(null, { id: 'b', status: 'x' })], signal);
  assert.match(String((missing[0] as { error: unknown }).error), /version field "version" is missing/);
});

test('the engine counts a stale write (the target holds a newer version) as done and stale, and reports it', async () => {
  const src = path.join(tmp.dir, 'src.db');
  const dst = path.join(tmp.dir, 'dst.db');
  const s = new Database(src);
  s.exec("CREATE TABLE permit (id TEXT PRIMARY KEY, status TEXT, version INTEGER); INSERT INTO permit VALUES ('a', 'old', 3), ('b', 'new', 2)");
  s.close();
  const d = new Database(dst);
  d.exec("CREATE TABLE permit (id TEXT PRIMARY KEY, status TEXT, version INTEGER); INSERT INTO permit VALUES ('a', 'newer', 9)");
  d.close();
  const engine = engineFromYaml(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  legacy: { driver: sqlite, path: ${src} }
  modern: { driver: sqlite, path: ${dst} }
pipelines:
  permits: { from: { system: legacy, collection: permit, poll: 50ms }, to: { system: modern, collection: permit, versionField: version }, key: id, debounce: 0s }
`);
  const outcomes: string[] = [];
  engine.on('job:done', ({ job, outcome }) => outcomes.push(`${job.key}:${outcome}`));
  await engine.start();
  try {
    await waitFor(() => outcomes.length === 2, { what: 'both jobs to finish' });
    assert.deepEqual(outcomes.sort(), ['a:stale', 'b:written']);
    assert.deepEqual(engine.outcomes.get('permits'), { written: 1, stale: 1, unchanged: 0 });
    const t = new Database(dst);
    assert.deepEqual(t.prepare('SELECT * FROM permit ORDER BY id').all(), [{ id: 'a', status: 'newer', version: 9 }, { id: 'b', status: 'new', version: 2 }], 'the newer row was not moved backwards');
    t.close();
  } finally {
    await engine.stop();
  }
});
