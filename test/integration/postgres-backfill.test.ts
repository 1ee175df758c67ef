/**
 * Backfill over logical replication: the DBLog watermarks are transactional logical decoding
 * messages (pg_logical_emit_message) that come back through the slot in commit order. Rows
 * that existed before the slot are copied; changes racing the chunk reads win over the chunk's
 * stale copies; the target ends identical to the source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../src/config/load-config.js';
import { silentLogger } from '../../src/core/log.js';
import { createEngine } from '../../src/engine/engine.js';
import { runBackfill } from '../../src/engine/backfill.js';
import { openStore } from '../../src/store/open-store.js';
import { needLogicalPg } from '../helpers/pg-logical.js';
import { tempDir, uniqueName, waitFor } from '../helpers/services.js';

const { url, skip } = await needLogicalPg();
const ROWS = 3000;

test('backfill on a logical replication source: watermarks through the slot, racing changes win, target identical', { skip, timeout: 120_000 }, async () => {
  const tmp = tempDir();
  const schema = uniqueName('pgbf');
  const slot = uniqueName('hms_bf');
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  await db.query(`CREATE SCHEMA ${schema}`);
  await db.query(`CREATE TABLE ${schema}.items (id int PRIMARY KEY, v int NOT NULL, note text)`);
  await db.query(`INSERT INTO ${schema}.items SELECT g, 0, 'n' || g FROM generate_series(1, ${ROWS}) g`);
  await db.query(`CREATE TABLE ${schema}.items_copy (id int PRIMARY KEY, v int NOT NULL, note text)`);
  const cfgFile = path.join(tmp.dir, 'hms-sync.yaml');
  writeFileSync(cfgFile, `store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${path.join(tmp.dir, 'state')}
systems:
  legacy: { driver: postgres, url: "${url}", schema: ${schema} }
  modern: { driver: postgres, url: "${url}", schema: ${schema} }
pipelines:
  items:
    from: { system: legacy, collection: items, mode: logical, slot: ${slot} }
    to: { system: modern, collection: items_copy, versionField: v }
    key: id
`);
  let writing = true;
  const writerDb = new pg.Client({ connectionString: url });
  await writerDb.connect();
  let n = 0;
  const writer = (async () => {
    while (writing) {
      n++;
      await writerDb.query(`UPDATE ${schema}.items SET v = v + 1, note = $1 WHERE id = $2`, [`u${n}`, 1 + ((n * 7919) % ROWS)]);
      if (n % 50 === 0) await writerDb.query(`INSERT INTO ${schema}.items VALUES ($1, $2, 'new')`, [ROWS + n, n]);
      if (n % 70 === 0) await writerDb.query(`DELETE FROM ${schema}.items WHERE id = $1`, [1 + ((n * 104729) % ROWS)]);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const store = await openStore(`sqlite:${path.join(tmp.dir, 'state.db')}`);
  try {
    const config = await loadConfig(cfgFile);
    let raced = 0;
    const sum = await runBackfill({
      config, pipeline: 'items', store, logger: silentLogger(), chunkSize: 400,
      onChunkRead: async (rows) => {
        for (const r of [rows[0], rows[rows.length - 1]]) {
          if (r) raced += (await db.query(`UPDATE ${schema}.items SET v = v + 1000, note = 'raced' WHERE id = $1`, [r.id])).rowCount ?? 0;
        }
      },
    });
    writing = false;
    await writer;
    assert.ok(raced >= 2, 'changes raced with chunk reads');
    assert.ok(sum.superseded >= raced / 2, `raced rows superseded the chunk's copies (${sum.superseded} of ${raced})`);
    assert.ok(sum.rows >= ROWS - 100, `all rows read (${sum.rows})`);
    assert.ok(sum.streamEvents > 0, 'live changes were committed during the backfill');
    await store.close();

    const engine = createEngine({ config, logger: silentLogger(), idlePollMs: 20 });
    await engine.start();
    try {
      const diff = async () => (await db.query(
        `SELECT coalesce(s.id, t.id) AS id FROM ${schema}.items s FULL JOIN ${schema}.items_copy t ON s.id = t.id
         WHERE s.id IS NULL OR t.id IS NULL OR s.v <> t.v OR s.note IS DISTINCT FROM t.note`)).rowCount;
      await waitFor(async () => (await diff()) === 0, { timeoutMs: 60_000, intervalMs: 200, what: 'target identical to source' });
    } finally {
      await engine.stop();
    }
  } finally {
    writing = false;
    await writer;
    await writerDb.end();
    await store.close().catch(() => {});
    await waitFor(async () => (await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])).rowCount === 0, { what: 'slot inactive' }).catch(() => {});
    await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => {});
    await db.query(`DROP PUBLICATION IF EXISTS ${slot}`);
    await db.query(`DROP SCHEMA ${schema} CASCADE`);
    await db.end();
    tmp.cleanup();
  }
});
