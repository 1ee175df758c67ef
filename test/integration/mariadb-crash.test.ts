/**
 * Nothing lost, nothing moved backwards under crashes, for binlog and trigger capture: a child
 * `hms-sync run` copies a MariaDB table into another MariaDB table (version-fenced sink) while
 * this test updates it continuously and SIGKILLs the child at random moments, several times.
 * The target is sampled throughout (a key's version never goes down) and must end identical
 * to the source, row by row.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { openStore } from '../../src/store/open-store.js';
import { installTriggers } from '../../src/connectors/triggers/trigger-ddl.js';
import { openTriggerDb } from '../../src/connectors/registry.js';
import { MARIADB_URL, needService, tempDir, uniqueName, waitFor } from '../helpers/services.js';
import { needMariadbBinaries, startBinlogServer } from '../helpers/mariadb-binlog.js';

// decided before any test starts (the binlog server's setup blocks the event loop for a while)
import { sigkill, startRun } from '../helpers/cli.js';
const skipMariadb = await needService('mariadb');
const skipBinlog = needMariadbBinaries() || skipMariadb;
const KILLS = Number(process.env.HMS_CRASH_KILLS ?? 4);
const CHANGES = Number(process.env.HMS_CRASH_CHANGES ?? 1500);
const KEYS = 80;
const tmp = tempDir();
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  tmp.cleanup();
});

function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}



async function scenario(sourceServer: string, mode: 'binlog' | 'triggers'): Promise<void> {
  const srcDb = uniqueName(`crash_src_${mode}`);
  const dstDb = uniqueName(`crash_dst_${mode}`);
  const src = await mysql.createConnection(sourceServer);
  const dst = await mysql.createConnection(MARIADB_URL);
  cleanups.push(async () => {
    await src.query(`DROP DATABASE IF EXISTS \`${srcDb}\``).catch(() => {});
    await dst.query(`DROP DATABASE IF EXISTS \`${dstDb}\``).catch(() => {});
    await src.end();
    await dst.end();
  });
  await src.query(`CREATE DATABASE \`${srcDb}\``);
  await src.query(`CREATE TABLE \`${srcDb}\`.items (id INT PRIMARY KEY, seq BIGINT NOT NULL, name VARCHAR(40) NOT NULL)`);
  await dst.query(`CREATE DATABASE \`${dstDb}\``);
  await dst.query(`CREATE TABLE \`${dstDb}\`.items (id INT PRIMARY KEY, seq BIGINT NOT NULL, name VARCHAR(40) NOT NULL)`);
  const srcUrl = withDb(sourceServer, srcDb);
  if (mode === 'triggers') {
    const t = openTriggerDb('mariadb', { url: srcUrl });
    await installTriggers(t, 'items', ['id']);
    await t.close();
  }
  const config = path.join(tmp.dir, `${mode}.yaml`);
  writeFileSync(config, `store: sqlite:${path.join(tmp.dir, `${mode}-state.db`)}
stateDir: ${path.join(tmp.dir, mode)}
systems:
  legacy: { driver: mariadb, url: "${srcUrl}" }
  modern: { driver: mariadb, url: "${withDb(MARIADB_URL, dstDb)}" }
pipelines:
  items:
    from: { system: legacy, collection: items, mode: ${mode}${mode === 'binlog' ? ', idle: 20ms' : ', poll: 20ms'} }
    to: { system: modern, collection: items, versionField: seq }
    key: id
    debounce: 0ms
    delivery: { maxAttempts: 1000, backoff: "exponential 20ms..200ms", lease: 1s, timeout: 2s, batchSize: 100 }
`);
  // the binlog reader starts at the current position: start it before the first row
  let child = startRun(config, { stderr: 'ignore' });
  const w = await mysql.createConnection(srcUrl);
  const highest = new Map<number, number>();
  let backwards = '';
  const sample = async () => {
    const [rows] = await dst.query(`SELECT id, seq FROM \`${dstDb}\`.items`);
    for (const r of rows as Array<{ id: number; seq: number }>) {
      const seq = Number(r.seq);
      if (seq < (highest.get(r.id) ?? -1)) backwards ||= `key ${r.id} went back from ${highest.get(r.id)} to ${seq}`;
      highest.set(r.id, Math.max(seq, highest.get(r.id) ?? -1));
    }
  };
  try {
    // the binlog reader records its start position before the first change is made
    const store = await openStore(`sqlite:${path.join(tmp.dir, `${mode}-state.db`)}`);
    try {
      if (mode === 'binlog') await waitFor(async () => (await store.getPosition('pipeline:items').catch(() => null)) !== null, { timeoutMs: 30_000, what: 'start position recorded' });
    } finally {
      await store.close();
    }
    let seq = 0;
    for (let id = 1; id <= KEYS; id++) await w.query('INSERT INTO items VALUES (?, ?, ?)', [id, ++seq, `v${seq}`]);
    let kills = 0;
    let nextKill = Date.now() + 200 + Math.random() * 500;
    let lastSample = 0;
    while (seq < CHANGES || kills < KILLS) {
      const id = 1 + Math.floor(Math.random() * KEYS);
      await w.query('UPDATE items SET seq = ?, name = ? WHERE id = ?', [++seq, `v${seq}`, id]);
      if (Date.now() - lastSample > 100) {
        lastSample = Date.now();
        await sample();
      }
      if (Date.now() >= nextKill && kills < KILLS) {
        await sigkill(child);
        kills++;
        child = startRun(config, { stderr: 'ignore' });
        nextKill = Date.now() + 400 + Math.random() * 800;
      }
    }
    const source = async () => JSON.stringify((await w.query('SELECT id, seq, name FROM items ORDER BY id'))[0]);
    const target = async () => JSON.stringify((await dst.query(`SELECT id, seq, name FROM \`${dstDb}\`.items ORDER BY id`))[0]);
    const want = await source();
    await waitFor(async () => {
      await sample();
      return (await target()) === want;
    }, { timeoutMs: 60_000, intervalMs: 200, what: `${mode}: target identical to source after ${KILLS} SIGKILLs` });
    assert.equal(backwards, '', 'no row moved backwards');
  } finally {
    await sigkill(child);
    await w.end();
  }
}

test(`binlog capture: SIGKILL ${KILLS} times during ${CHANGES} changes, nothing lost or moved backwards`, { timeout: 180_000, skip: skipBinlog }, async () => {
  const server = await startBinlogServer();
  cleanups.unshift(() => server.stop());
  await scenario(server.url, 'binlog');
});

test(`trigger capture: SIGKILL ${KILLS} times during ${CHANGES} changes, nothing lost or moved backwards`, { timeout: 180_000, skip: skipMariadb }, async () => {
  await scenario(MARIADB_URL, 'triggers');
});
