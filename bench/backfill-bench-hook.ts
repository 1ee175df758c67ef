/**
 * Backfill hook of `npm run bench:cdc` (HMS_BENCH_BACKFILL_MODULE=bench/backfill-bench-hook.ts):
 * backfills a generated table of 1,000,000 rows (100,000 with `quick`) over LOGICAL
 * REPLICATION (DBLog watermarks as logical decoding messages through the slot) into the store,
 * and returns the rows and seconds. Creates and drops its own table, slot and publication.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config/load-config.js';
import { silentLogger } from '../src/core/log.js';
import { runBackfill } from '../src/engine/backfill.js';
import { openStore } from '../src/store/open-store.js';

export async function backfillBench(o: { url: string; schema: string; quick: boolean; chunk?: number }): Promise<{ rows: number; seconds: number }> {
  const rows = o.quick ? 100_000 : 1_000_000;
  const dir = mkdtempSync(path.join(tmpdir(), 'hms-bf-hook-'));
  const slot = `hms_bfbench_${process.pid}`;
  const admin = new pg.Client({ connectionString: o.url });
  await admin.connect();
  try {
    await admin.query(`CREATE TABLE ${o.schema}.bf_items (id bigint PRIMARY KEY, v int NOT NULL, amount numeric(20,4) NOT NULL, note text, at timestamptz NOT NULL DEFAULT now())`);
    await admin.query(`INSERT INTO ${o.schema}.bf_items (id, v, amount, note) SELECT g, g % 1000, g / 7.0, 'note ' || g FROM generate_series(1, $1) g`, [rows]);
    await admin.query(`ANALYZE ${o.schema}.bf_items`);
    const cfgFile = path.join(dir, 'hms-sync.yaml');
    writeFileSync(cfgFile, `store: sqlite:${path.join(dir, 'state.db')}
stateDir: ${path.join(dir, 'state')}
systems:
  legacy: { driver: postgres, url: "${o.url}", schema: ${o.schema} }
  sink: { driver: sqlite, path: ${path.join(dir, 'target.db')} }
pipelines:
  items:
    from: { system: legacy, collection: bf_items, mode: logical, slot: ${slot} }
    to: { system: sink, collection: items }
    key: id
    debounce: 0ms
`);
    const config = await loadConfig(cfgFile);
    const store = await openStore(config.store);
    await store.migrate();
    try {
      const t0 = Date.now();
      const s = await runBackfill({ config, pipeline: 'items', store, logger: silentLogger(), chunkSize: o.chunk ?? 10_000 });
      return { rows: s.rows, seconds: (Date.now() - t0) / 1000 };
    } finally {
      await store.close();
    }
  } finally {
    await admin.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => {});
    await admin.query(`DROP PUBLICATION IF EXISTS ${slot}`).catch(() => {});
    await admin.query(`DROP TABLE IF EXISTS ${o.schema}.bf_items`).catch(() => {});
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}
