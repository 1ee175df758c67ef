/**
 * Issue 11 item 2: a target that normalises a value must not bounce it back. The legacy side is a
 * real PostgreSQL table holding amounts as text (`'007.50'`, as a COBOL DISPLAY field writes them);
 * the modern side is a real SQLite table whose REAL column stores the same amount as 7.5. Both are
 * polled; the pipeline back into PostgreSQL writes every column of the new state
 * (`updateColumns: all`), so a person's edit of another field carries the normalised amount along.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import pg from 'pg';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { needService, PG_URL, tempDir, uniqueName, waitFor } from '../helpers/services.js';
import { engineFromYaml } from '../helpers/engine-harness.js';

const skip = await needService('postgres');

test('a value the target stores in another representation is not sent back, and a later edit of another field does not rewrite it', { skip }, async () => {
  const tmp = tempDir();
  const schema = uniqueName('repr');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.permits (id text PRIMARY KEY, amt text, owner text)`);
  await client.query(`INSERT INTO ${schema}.permits VALUES ('1', '007.50', 'ann'), ('2', '0012.00', 'cy')`);
  const liteFile = path.join(tmp.dir, 'portal.db');
  const lite = openDatabase(liteFile);
  lite.pragma('journal_mode = WAL');
  lite.exec('CREATE TABLE permits (id TEXT PRIMARY KEY, amt REAL, owner TEXT)');
  const engine = engineFromYaml(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  legacy: { driver: postgres, url: "${PG_URL}", schema: ${schema} }
  portal: { driver: sqlite, path: ${liteFile} }
pipelines:
  to-portal: { from: { system: legacy, collection: permits, poll: 50ms }, to: { system: portal, collection: permits }, key: id, delivery: { backoff: "exponential 20ms..100ms" } }
  to-legacy: { from: { system: portal, collection: permits, poll: 50ms }, to: { system: legacy, collection: permits, updateColumns: all }, key: id, delivery: { backoff: "exponential 20ms..100ms" } }
`);
  const back: Array<{ outcome: string; changed: Record<string, unknown> }> = [];
  engine.on('job:done', ({ job, outcome }) => { if (job.pipeline === 'to-legacy') back.push({ outcome, changed: job.payload.changed }); });
  const legacyRow = async (id: string) => (await client.query(`SELECT amt, owner FROM ${schema}.permits WHERE id = $1`, [id])).rows[0] as { amt: string; owner: string };
  await engine.start();
  try {
    await waitFor(() => (lite.prepare('SELECT count(*) AS n FROM permits').get() as { n: number }).n === 2, { what: 'both rows to reach the portal' });
    // the portal really normalised the amounts
    assert.deepEqual(lite.prepare('SELECT amt FROM permits ORDER BY id').all(), [{ amt: 7.5 }, { amt: 12 }]);
    await waitFor(async () => (await engine.store.stats()).every((s) => s.pending + s.running + s.retrying === 0) && (await engine.store.getShadow('pipeline:to-legacy', ['1', '2'])).size === 2, { what: 'the portal rows to be seen by the reverse pipeline' });
    await new Promise((r) => setTimeout(r, 300));
    for (const b of back) assert.ok(!('amt' in b.changed) || b.outcome === 'unchanged', `the normalised amount was sent back: ${JSON.stringify(b)}`);
    assert.deepEqual(await legacyRow('1'), { amt: '007.50', owner: 'ann' });
    assert.deepEqual(await legacyRow('2'), { amt: '0012.00', owner: 'cy' });

    // a person edits another field on the portal: the owner goes back, the amount keeps its form
    lite.prepare('UPDATE permits SET owner = ? WHERE id = ?').run('bob', '1');
    await waitFor(async () => (await legacyRow('1')).owner === 'bob', { what: "the person's owner edit to reach the legacy side" });
    assert.deepEqual(await legacyRow('1'), { amt: '007.50', owner: 'bob' });

    // a real change of the amount on the portal is a change and is written
    lite.prepare('UPDATE permits SET amt = ? WHERE id = ?').run(13.25, '2');
    await waitFor(async () => (await legacyRow('2')).amt === '13.25', { what: 'the amount edit to reach the legacy side' });
    await new Promise((r) => setTimeout(r, 300));
    // and no bounce of it either
    assert.deepEqual(lite.prepare('SELECT amt FROM permits WHERE id = ?').get('2'), { amt: 13.25 });
    assert.deepEqual(await legacyRow('2'), { amt: '13.25', owner: 'cy' });
  } finally {
    await engine.stop();
    lite.close();
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
    tmp.cleanup();
  }
});
