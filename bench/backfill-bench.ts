/**
 * `npm run bench:backfill [-- --db pg|mariadb|sqlite --rows 1000000 --chunk 10000 --store sqlite|pg]`
 *
 * Backfill throughput (rows/s) of a table of `--rows` rows through the DBLog watermark
 * backfill over trigger capture: chunks read by keyset pagination, watermarks through the
 * change-log, every row committed as a job into the store. Prints the figure next to the
 * 50,000 rows/s target. Creates and drops its own schema / database / files.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from '#better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { loadConfig } from '../src/config/load-config.js';
import { silentLogger } from '../src/core/log.js';
import { runBackfill } from '../src/engine/backfill.js';
import { installTriggers } from '../src/connectors/triggers/trigger-ddl.js';
import { openTriggerDb } from '../src/connectors/registry.js';
import { openStore } from '../src/store/open-store.js';

const { values: args } = parseArgs({
  options: {
    db: { type: 'string', default: 'pg' },
    rows: { type: 'string', default: '1000000' },
    chunk: { type: 'string', default: '10000' },
    store: { type: 'string', default: 'sqlite' },
  },
});
const ROWS = Number(args.rows);
const CHUNK = Number(args.chunk);
const PG_URL = process.env.HMS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MARIADB_URL = process.env.HMS_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';
const TARGET = 50_000;

const dir = mkdtempSync(path.join(tmpdir(), 'hms-bf-bench-'));
const name = `bfbench_${process.pid}`;
const cleanups: Array<() => Promise<void>> = [];

async function setupSource(): Promise<{ driver: string; system: string }> {
  const t0 = Date.now();
  let out: { driver: string; system: string };
  if (args.db === 'pg') {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`CREATE SCHEMA ${name}`);
    await c.query(`CREATE TABLE ${name}.items (id bigint PRIMARY KEY, v int NOT NULL, amount numeric(20,4) NOT NULL, note text, at timestamptz NOT NULL DEFAULT now())`);
    await c.query(`INSERT INTO ${name}.items (id, v, amount, note) SELECT g, g % 1000, g / 7.0, 'note ' || g FROM generate_series(1, $1) g`, [ROWS]);
    await c.query(`ANALYZE ${name}.items`);
    await c.end();
    cleanups.push(async () => {
      const d = new pg.Client({ connectionString: PG_URL });
      await d.connect();
      await d.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      await d.end();
    });
    out = { driver: 'postgres', system: `{ driver: postgres, url: "${PG_URL}", schema: ${name} }` };
  } else if (args.db === 'mariadb') {
    const c = await mysql.createConnection(MARIADB_URL);
    await c.query(`CREATE DATABASE ${name}`);
    await c.query(`CREATE TABLE ${name}.items (id BIGINT PRIMARY KEY, v INT NOT NULL, amount DECIMAL(20,4) NOT NULL, note VARCHAR(40), at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`);
    await c.query(`INSERT INTO ${name}.items (id, v, amount, note) SELECT seq, seq % 1000, seq / 7.0, CONCAT('note ', seq) FROM seq_1_to_${ROWS}`);
    await c.end();
    cleanups.push(async () => {
      const d = await mysql.createConnection(MARIADB_URL);
      await d.query(`DROP DATABASE IF EXISTS ${name}`);
      await d.end();
    });
    const u = new URL(MARIADB_URL);
    u.pathname = `/${name}`;
    out = { driver: 'mariadb', system: `{ driver: mariadb, url: "${u.toString()}" }` };
  } else {
    const file = path.join(dir, 'legacy.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, amount TEXT NOT NULL, note TEXT, at TEXT NOT NULL)');
    db.prepare("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?) INSERT INTO items SELECT i, i % 1000, printf('%.4f', i / 7.0), 'note ' || i, strftime('%Y-%m-%dT%H:%M:%fZ','now') FROM g").run(ROWS);
    db.close();
    out = { driver: 'sqlite', system: `{ driver: sqlite, path: ${file} }` };
  }
  process.stdout.write(`source: ${ROWS} rows in ${args.db} (created in ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  return out;
}

async function main(): Promise<void> {
  const src = await setupSource();
  let storeUrl = `sqlite:${path.join(dir, 'state.db')}`;
  if (args.store === 'pg') {
    storeUrl = `${PG_URL}?schema=${name}_store`;
    cleanups.push(async () => {
      const d = new pg.Client({ connectionString: PG_URL });
      await d.connect();
      await d.query(`DROP SCHEMA IF EXISTS ${name}_store CASCADE`);
      await d.end();
    });
  }
  const cfgFile = path.join(dir, 'hms-sync.yaml');
  writeFileSync(cfgFile, `store: ${storeUrl}
stateDir: ${path.join(dir, 'state')}
systems:
  legacy: ${src.system}
  sink: { driver: sqlite, path: ${path.join(dir, 'target.db')} }
pipelines:
  items:
    from: { system: legacy, collection: items, mode: triggers, poll: 20ms, batchSize: 1000 }
    to: { system: sink, collection: items }
    key: id
    debounce: 0ms
`);
  const config = await loadConfig(cfgFile);
  const tdb = openTriggerDb(src.driver, config.systems.legacy!.config as Record<string, unknown>, dir);
  await installTriggers(tdb, 'items', ['id']);
  await tdb.close();
  const store = await openStore(config.store);
  await store.migrate();
  const t0 = Date.now();
  let last = t0;
  const s = await runBackfill({
    config, pipeline: 'items', store, logger: silentLogger(), chunkSize: CHUNK,
    onProgress: (p) => {
      const now = Date.now();
      if (now - last >= 2000) {
        last = now;
        process.stdout.write(`  ${p.rows}/${p.total} rows, ${Math.round((p.rows * 1000) / (now - t0))} rows/s\n`);
      }
    },
  });
  const secs = (Date.now() - t0) / 1000;
  const stats = await store.stats();
  await store.close();
  const rate = Math.round(s.rows / secs);
  process.stdout.write(`\nbackfill of ${s.rows} rows from ${args.db} (trigger capture, chunk ${CHUNK}, store ${args.store}): ${secs.toFixed(1)} s, ${rate} rows/s (target ${TARGET}: ${rate >= TARGET ? 'met' : 'NOT met'})\n`);
  process.stdout.write(`jobs pending in the store: ${stats.reduce((a, x) => a + x.pending, 0)}\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'backfill', db: args.db, store: args.store, rows: s.rows, chunk: CHUNK, seconds: secs, rowsPerSecond: rate, target: TARGET })}\n`);
}

try {
  await main();
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
