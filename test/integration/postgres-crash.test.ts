/**
 * Nothing lost, nothing moved backwards, under crashes, with logical replication and with trigger
 * capture: a child `hms-sync run` captures a PostgreSQL table (pgoutput, or the change-log filled by
 * `hms-sync triggers install`'s triggers) into a
 * PostgreSQL table (version-fenced sink), while this test drives a heavy stream of updates,
 * inserts and deletes, and SIGKILLs the child at random moments, many times. Afterwards the
 * target equals the source row by row, and a trigger on the target proves that no row's
 * version ever went backwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { needLogicalPg } from '../helpers/pg-logical.js';
import { tempDir, uniqueName, waitFor } from '../helpers/services.js';

import { RunChild } from '../helpers/cli.js';
import { installTriggers } from '../../src/connectors/triggers/trigger-ddl.js';
import { openTriggerDb } from '../../src/connectors/registry.js';
const KILLS = Number(process.env.HMS_CRASH_KILLS ?? 8);
const CHANGES = Number(process.env.HMS_CRASH_CHANGES ?? 4000);
const KEYS = 200;
const { url, skip } = await needLogicalPg();



for (const mode of ['logical', 'triggers'] as const) {
  test(`${mode === 'logical' ? 'logical replication' : 'trigger capture'} -> PostgreSQL sink: SIGKILL ${KILLS} times during ${CHANGES} changes loses nothing and never moves a row backwards`, { skip, timeout: 240_000 }, async () => {
    const tmp = tempDir();
    const schema = uniqueName('pgcrash');
    const slot = uniqueName('hms_crash');
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`CREATE TABLE ${schema}.items (id text PRIMARY KEY, seq bigint NOT NULL, name text NOT NULL, amount numeric(12,2))`);
    await db.query(`ALTER TABLE ${schema}.items REPLICA IDENTITY FULL`);
    await db.query(`CREATE TABLE ${schema}.items_copy (id text PRIMARY KEY, seq bigint NOT NULL, name text NOT NULL, amount numeric(12,2))`);
    await db.query(`CREATE TABLE ${schema}.backwards (id text, old_seq bigint, new_seq bigint)`);
    await db.query(`CREATE FUNCTION ${schema}.watch() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.seq < OLD.seq THEN INSERT INTO ${schema}.backwards VALUES (OLD.id, OLD.seq, NEW.seq); END IF; RETURN NEW; END $$`);
    await db.query(`CREATE TRIGGER watch BEFORE UPDATE ON ${schema}.items_copy FOR EACH ROW EXECUTE FUNCTION ${schema}.watch()`);
    if (mode === 'triggers') {
      const t = openTriggerDb('postgres', { url, schema });
      await installTriggers(t, 'items', ['id']);
      await t.close();
    }
    const config = path.join(tmp.dir, 'hms-sync.yaml');
    writeFileSync(config, `store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  legacy: { driver: postgres, url: "${url}", schema: ${schema} }
  portal: { driver: postgres, url: "${url}", schema: ${schema} }
pipelines:
  items:
    from: { system: legacy, collection: items, ${mode === 'logical' ? `mode: logical, slot: ${slot}, statusInterval: 1s` : 'mode: triggers, poll: 20ms'} }
    to: { system: portal, collection: items_copy, versionField: seq }
    key: id
    delivery: { maxAttempts: 1000, backoff: "exponential 20ms..300ms", lease: 1s, timeout: 2s, batchSize: 200 }
`);
    const run = new RunChild(config);
    try {
      // the slot exists once the first child is streaming; changes before that are not captured
      // (triggers record every change from their installation on)
      if (mode === 'logical') await waitFor(async () => (await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])).rowCount === 1, { timeoutMs: 30_000, what: `the slot to be active (stderr: ${run.stderr})` });
      let seq = 0;
      let kills = 0;
      let nextKillAt = Date.now() + 200 + Math.random() * 800;
      for (let i = 0; i < CHANGES;) {
        // a transaction of 1-5 changes; seq grows with every change so each state is unique and ordered
        const n = 1 + Math.floor(Math.random() * 5);
        await db.query('BEGIN');
        for (let j = 0; j < n; j++, i++) {
          const id = `K${String(Math.floor(Math.random() * KEYS)).padStart(4, '0')}`;
          seq++;
          if (Math.random() < 0.03) await db.query(`DELETE FROM ${schema}.items WHERE id = $1`, [id]);
          else {
            await db.query(`INSERT INTO ${schema}.items (id, seq, name, amount) VALUES ($1, $2, $3, $4)
              ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, name = EXCLUDED.name, amount = EXCLUDED.amount`, [id, seq, `name ${seq}`, `${seq}.${seq % 100}`]);
          }
        }
        await db.query('COMMIT');
        if (Date.now() >= nextKillAt && kills < KILLS) {
          kills++;
          await run.restart();
          nextKillAt = Date.now() + 200 + Math.random() * 800;
        }
      }
      while (kills < KILLS) {
        await new Promise((r) => setTimeout(r, 200 + Math.random() * 500));
        kills++;
        await run.restart();
      }
      const diff = async () => (await db.query(
        `SELECT coalesce(s.id, t.id) AS id, s.seq AS src, t.seq AS dst FROM ${schema}.items s FULL JOIN ${schema}.items_copy t ON s.id = t.id
         WHERE s.id IS NULL OR t.id IS NULL OR s.seq <> t.seq OR s.name <> t.name OR s.amount IS DISTINCT FROM t.amount`)).rows;
      await waitFor(async () => (await diff()).length === 0, { timeoutMs: 90_000, intervalMs: 200, what: `the target to equal the source (stderr: ${run.stderr})` }).catch(async (err: Error) => {
        throw new Error(`${err.message}; differing rows: ${JSON.stringify((await diff()).slice(0, 10))}`);
      });
      assert.equal(kills, KILLS);
      const src = (await db.query(`SELECT count(*)::int AS n FROM ${schema}.items`)).rows[0].n as number;
      assert.ok(src > KEYS / 2, `the source has rows (${src})`);
      const back = (await db.query(`SELECT * FROM ${schema}.backwards`)).rows;
      assert.deepEqual(back, [], 'no row of the target ever went backwards');
      // clean shutdown on SIGTERM (once the last restarted process is up), then the slot is idle
      assert.equal(await run.terminate(), 0, `hms-sync run exits 0 after SIGTERM (stderr: ${run.stderr})`);
    } finally {
      await run.kill();
      await waitFor(async () => (await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])).rowCount === 0, { timeoutMs: 20_000, what: 'slot inactive' }).catch(() => {});
      await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => {});
      await db.query(`DROP PUBLICATION IF EXISTS ${slot}`);
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.end();
      tmp.cleanup();
    }
  });
}
