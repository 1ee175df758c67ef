import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from '#better-sqlite3';
import mysql from 'mysql2/promise';
import { loadConfig } from '../../src/config/load-config.js';
import { silentLogger } from '../../src/core/log.js';
import { createEngine } from '../../src/engine/engine.js';
import { runBackfill } from '../../src/engine/backfill.js';
import { installTriggers } from '../../src/connectors/triggers/trigger-ddl.js';
import { openTriggerDb } from '../../src/connectors/registry.js';
import { openStore } from '../../src/store/open-store.js';
import { MARIADB_URL, needService, tempDir, uniqueName, waitFor } from '../helpers/services.js';
import { needMariadbBinaries, startBinlogServer } from '../helpers/mariadb-binlog.js';

const tmp = tempDir();
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  tmp.cleanup();
});
const ROWS = 1500;
// decided before any test starts (the binlog server's setup blocks the event loop for a while)
const skipMariadb = await needService('mariadb');
const skipBinlog = needMariadbBinaries();

/** Backfill with a concurrent writer and raced chunks, then deliver and compare row by row. */
async function scenario(serverUrl: string, mode: 'triggers' | 'binlog'): Promise<void> {
  const database = uniqueName(`bf_${mode}`);
  const admin = await mysql.createConnection(serverUrl);
  cleanups.push(async () => {
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => {});
    await admin.end();
  });
  await admin.query(`CREATE DATABASE \`${database}\``);
  await admin.query(`CREATE TABLE \`${database}\`.items (id INT PRIMARY KEY, v INT NOT NULL, amount DECIMAL(20,4) NOT NULL, note VARCHAR(40))`);
  const values = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 0, ${i + 1}.0001, 'n${i + 1}')`).join(',');
  await admin.query(`INSERT INTO \`${database}\`.items VALUES ${values}`);
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  const url = u.toString();
  const dir = path.join(tmp.dir, mode);
  const dst = path.join(tmp.dir, `${mode}-target.db`);
  const d = new Database(dst);
  d.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, amount TEXT NOT NULL, note TEXT)');
  d.close();
  const cfgFile = path.join(tmp.dir, `${mode}.yaml`);
  writeFileSync(cfgFile, `store: sqlite:${path.join(tmp.dir, `${mode}-state.db`)}
stateDir: ${dir}
systems:
  legacy: { driver: mariadb, url: "${url}" }
  modern: { driver: sqlite, path: ${dst} }
pipelines:
  items:
    from: { system: legacy, collection: items, mode: ${mode}${mode === 'triggers' ? ', poll: 20ms' : ', idle: 20ms'} }
    to: { system: modern, collection: items }
    key: id
    debounce: 0ms
`);
  if (mode === 'triggers') {
    const tdb = openTriggerDb('mariadb', { url });
    await installTriggers(tdb, 'items', ['id']);
    await tdb.close();
  }
  const w = await mysql.createConnection(url);
  let writing = true;
  let n = 0;
  const writer = (async () => {
    while (writing) {
      n++;
      await w.query('UPDATE items SET v = v + 1, note = ? WHERE id = ?', [`u${n}`, 1 + ((n * 7919) % ROWS)]);
      if (n % 25 === 0) await w.query('INSERT INTO items VALUES (?, ?, ?, ?)', [ROWS + n, n, '7.5000', 'new']);
      if (n % 40 === 0) await w.query('DELETE FROM items WHERE id = ?', [1 + ((n * 104729) % ROWS)]);
    }
  })();
  const config = await loadConfig(cfgFile);
  const store = await openStore(config.store);
  await store.migrate();
  let raced = 0;
  try {
    const sum = await runBackfill({
      config, pipeline: 'items', store, logger: silentLogger(), chunkSize: 200,
      onChunkRead: async (rows) => {
        const first = rows[0];
        if (first) raced += ((await admin.query(`UPDATE \`${database}\`.items SET v = v + 1000, note = 'raced' WHERE id = ?`, [first.id]))[0] as { affectedRows: number }).affectedRows;
      },
    });
    assert.ok(sum.rows >= ROWS, `all rows read (${sum.rows})`);
    assert.ok(raced > 0 && sum.superseded >= raced, `raced rows superseded the chunk's copies (${sum.superseded} >= ${raced})`);
  } finally {
    writing = false;
    await writer;
    await w.end();
    await store.close();
  }
  const engine = createEngine({ config, logger: silentLogger(), idlePollMs: 20 });
  await engine.start();
  try {
    const t = new Database(dst, { readonly: true });
    try {
      const target = () => JSON.stringify(t.prepare('SELECT id, v, amount, note FROM items ORDER BY id').all());
      const source = async () => JSON.stringify(((await admin.query(`SELECT id, v, CAST(amount AS CHAR) AS amount, note FROM \`${database}\`.items ORDER BY id`))[0] as unknown[]));
      await waitFor(async () => target() === (await source()), { timeoutMs: 30_000, intervalMs: 200, what: `${mode}: target identical to source` });
    } finally {
      t.close();
    }
  } finally {
    await engine.stop();
  }
}

test('backfill over MariaDB trigger capture: concurrent writes, raced chunks, target identical', { skip: skipMariadb }, async () => {
  await scenario(MARIADB_URL, 'triggers');
});

test('backfill over the MariaDB binlog: concurrent writes, raced chunks, target identical', { skip: skipBinlog }, async () => {
  const server = await startBinlogServer();
  cleanups.unshift(() => server.stop());
  await scenario(server.url, 'binlog');
});
