/**
 * Nothing lost under crashes: a real child process runs `hms-sync run` while this test writes
 * thousands of changes into a legacy SQLite table, and SIGKILLs the child at random moments,
 * many times. Afterwards every key's final state must have reached the (real HTTP) target,
 * per-key order must hold, and a repeated delivery must be a redelivery of the same job
 * version (same idempotency key). Runs on both stores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import pg from 'pg';
import { needService, PG_URL, tempDir, uniqueName, waitFor } from '../helpers/services.js';
import { RunChild } from '../helpers/cli.js';
import { Receiver } from '../helpers/receiver.js';

const KILLS = Number(process.env.HMS_CRASH_KILLS ?? 8);
const CHANGES = Number(process.env.HMS_CRASH_CHANGES ?? 3000);
const KEYS = 150;
const stores = (process.env.HMS_TEST_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim());



for (const dialect of stores) {
  test(`SIGKILL ${KILLS} times during ${CHANGES} changes loses nothing (${dialect} store)`, { timeout: 180_000, skip: dialect === 'postgres' ? await needService('postgres') : false }, async () => {
    const tmp = tempDir();
    const receiver = new Receiver();
    await receiver.start();
    let storeUrl = `sqlite:${path.join(tmp.dir, 'state.db')}`;
    const schema = uniqueName('crash');
    if (dialect === 'postgres') storeUrl = `${PG_URL}?schema=${schema}`;
    const srcFile = path.join(tmp.dir, 'legacy.db');
    const src = openDatabase(srcFile);
    src.pragma('journal_mode = WAL');
    src.exec('CREATE TABLE ITEMS (ID TEXT PRIMARY KEY, SEQ INTEGER NOT NULL, NAME TEXT NOT NULL)');
    const config = path.join(tmp.dir, 'hms-sync.yaml');
    writeFileSync(config, `store: ${storeUrl}
stateDir: ${tmp.dir}
systems:
  legacy: { driver: sqlite, path: ${srcFile} }
  target: { driver: http, url: ${receiver.url}, timeout: 2s }
pipelines:
  items:
    from: { system: legacy, collection: ITEMS, poll: 50ms }
    to: { system: target, collection: items, path: "/items/{key}", body: state }
    key: ID
    delivery: { maxAttempts: 1000, backoff: "exponential 20ms..300ms", lease: 1s, timeout: 400ms, batchSize: 50 }
`);
    const run = new RunChild(config);
    try {
      // the writer: inserts, updates and deletes; SEQ grows with every change so states are unique and ordered
      let seq = 0;
      let kills = 0;
      let nextKillAt = Date.now() + 300 + Math.random() * 900;
      const upsert = src.prepare('INSERT INTO ITEMS (ID, SEQ, NAME) VALUES (?, ?, ?) ON CONFLICT(ID) DO UPDATE SET SEQ = excluded.SEQ, NAME = excluded.NAME');
      const del = src.prepare('DELETE FROM ITEMS WHERE ID = ?');
      for (let i = 0; i < CHANGES; i++) {
        const id = `K${String(Math.floor(Math.random() * KEYS)).padStart(4, '0')}`;
        seq++;
        if (Math.random() < 0.04) del.run(id);
        else upsert.run(id, seq, `name ${seq}`);
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 20));
        if (Date.now() >= nextKillAt && kills < KILLS) {
          kills++;
          await run.restart();
          nextKillAt = Date.now() + 300 + Math.random() * 900;
        }
      }
      while (kills < KILLS) {
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 600));
        kills++;
        await run.restart();
      }
      const rows = src.prepare('SELECT ID, SEQ FROM ITEMS').all() as Array<{ ID: string; SEQ: number }>;
      const expected = new Map(rows.map((r) => [r.ID, r.SEQ]));
      // the target converges: every live key has its final SEQ, every deleted key's last request is a DELETE
      const lastByKey = () => {
        const m = new Map<string, { method: string; seq: number | null }>();
        for (const r of receiver.requests) {
          const key = decodeURIComponent(r.url.split('/').pop()!);
          m.set(key, { method: r.method, seq: r.method === 'DELETE' ? null : Number(r.body?.SEQ) });
        }
        return m;
      };
      await waitFor(() => {
        const last = lastByKey();
        for (const [k, s] of expected) if (last.get(k)?.seq !== s) return false;
        for (const [k, v] of last) if (!expected.has(k) && v.method !== 'DELETE') return false;
        return true;
      }, { timeoutMs: 60_000, intervalMs: 100, what: `target to converge (child stderr: ${run.stderr})` });
      assert.equal(kills, KILLS);

      // per-key order: the states a key receives never go backwards
      const perKey = new Map<string, Array<{ seq: number | null; idem: string }>>();
      for (const r of receiver.requests) {
        const key = decodeURIComponent(r.url.split('/').pop()!);
        const list = perKey.get(key) ?? [];
        list.push({ seq: r.method === 'DELETE' ? null : Number(r.body?.SEQ), idem: String(r.headers['idempotency-key']) });
        perKey.set(key, list);
      }
      let redeliveries = 0;
      for (const [key, list] of perKey) {
        let max = 0;
        const idemBySeq = new Map<number, string>();
        for (const d of list) {
          if (d.seq === null) continue;
          assert.ok(d.seq >= max, `key ${key} went backwards: ${list.map((x) => x.seq).join(',')}`);
          max = d.seq;
          // the same state delivered twice must be the same job version (an at-least-once redelivery)
          const prev = idemBySeq.get(d.seq);
          if (prev !== undefined) {
            assert.equal(d.idem, prev, `key ${key} state ${d.seq} was delivered by two different job versions`);
            redeliveries++;
          }
          idemBySeq.set(d.seq, d.idem);
        }
      }
      assert.ok(receiver.requests.length >= expected.size, 'every live key was delivered at least once');
      // a clean shutdown on SIGTERM (once the last restarted process is up: a signal during start-up
      // ends a process the default way, before any handler exists)
      assert.equal(await run.terminate(), 0, `hms-sync run exits 0 after SIGTERM (stderr: ${run.stderr})`);
      void redeliveries;
    } finally {
      await run.kill();
      src.close();
      await receiver.stop();
      if (dialect === 'postgres') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
      tmp.cleanup();
    }
  });
}
