/**
 * Shared checks of trigger capture on one dialect: install (idempotent), drain through the
 * real store like the engine (commit, then ack prunes), exact row images, uninstall.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { silentLogger } from '../../src/core/log.js';
import type { ChangeEvent } from '../../src/core/types.js';
import type { SourceState } from '../../src/connectors/contract.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { changelogExists, CHANGELOG_TABLE, installTriggers, listCaptureTriggers, uninstallTriggers } from '../../src/connectors/triggers/trigger-ddl.js';
import type { TriggerDb } from '../../src/connectors/triggers/trigger-db.js';
import { createTriggerSource } from '../../src/connectors/triggers/trigger-source.js';
import { waitFor } from '../helpers/services.js';
import { getConnector, openTriggerDb } from '../../src/connectors/registry.js';
import type { Source } from '../../src/connectors/contract.js';

export function stateOf(store: Store, scope: string): SourceState {
  return { scope, getPosition: () => store.getPosition(scope), getShadow: (k) => store.getShadow(scope, k), listShadow: () => store.listShadow(scope) };
}

/** `?` placeholders to `$n` on PostgreSQL. */
export function sql(db: TriggerDb, text: string): string {
  let i = 0;
  return db.dialect === 'postgres' ? text.replace(/\?/g, () => `$${++i}`) : text;
}

export async function changelogCount(db: TriggerDb, table: string): Promise<number> {
  const r = await db.query(sql(db, `SELECT count(*) AS n FROM ${CHANGELOG_TABLE} WHERE tbl = ?`), [table]);
  return Number(r[0]!.n);
}

/**
 * Runs the scenario on `db` where `table` exists as (id INT PK, name text, amount DECIMAL(20,4), at date-time).
 * `driver` and `systemConfig` open the source as a connector would.
 */
export async function triggerScenario(opts: { db: TriggerDb; driver: string; systemConfig: Record<string, unknown>; table: string; dir: string }): Promise<void> {
  const { db, table } = opts;
  const first = await installTriggers(db, table, ['id']);
  assert.equal(first.dialect, db.dialect);
  await installTriggers(db, table, ['id']); // idempotent
  const names = await listCaptureTriggers(db);
  assert.equal(names.length, db.dialect === 'postgres' ? 1 : 3, `capture triggers after two installs: ${names.join(', ')}`);

  const store = await openStore(`sqlite:${path.join(opts.dir, `state-${db.dialect}.db`)}`);
  await store.migrate();
  const source = createTriggerSource({
    system: 'legacy', systemConfig: opts.systemConfig, collection: table, options: { mode: 'triggers', poll: '20ms', batchSize: 2 },
    keyFields: ['id'], state: stateOf(store, 'pipeline:t'), logger: silentLogger(), workDir: opts.dir,
  }, () => openTriggerDb(opts.driver, opts.systemConfig as Record<string, unknown>));
  const events: ChangeEvent[] = [];
  const ac = new AbortController();
  const loop = (async () => {
    for await (const b of source.stream(ac.signal)) {
      await store.commit({ jobs: [], position: b.position ? { source: 'pipeline:t', position: b.position } : undefined });
      events.push(...b.events);
      await b.ack?.();
    }
  })();
  try {
    await db.exec(sql(db, `INSERT INTO ${table} (id, name, amount, at) VALUES (?, ?, ?, ?)`), [1, "O'Brien", '12345678901234.5678', db.dialect === 'mariadb' ? '2026-01-02 03:04:05.678' : '2026-01-02T03:04:05.678Z']);
    await db.exec(sql(db, `INSERT INTO ${table} (id, name, amount) VALUES (?, ?, ?)`), [2, 'b', '1.5000']);
    await db.exec(sql(db, `UPDATE ${table} SET name = ? WHERE id = ?`), ['b2', 2]);
    await db.exec(sql(db, `DELETE FROM ${table} WHERE id = ?`), [1]);
    await db.exec(sql(db, `UPDATE ${table} SET id = ? WHERE id = ?`), [3, 2]);
    await waitFor(() => events.length >= 6, { what: `6 events (got ${events.length})` });
    await waitFor(async () => (await changelogCount(db, table)) === 0, { what: 'change-log pruned after commit' });
    assert.deepEqual(events.map((e) => `${e.op}:${e.key}`), ['insert:1', 'insert:2', 'update:2', 'delete:1', 'delete:2', 'insert:3']);
    assert.equal(events[0]!.after!.name, "O'Brien");
    assert.equal(String(events[0]!.after!.amount).replace(/0+$/, ''), '12345678901234.5678', 'decimal kept exact');
    if (db.dialect !== 'sqlite') assert.equal(events[1]!.after!.amount, '1.5000', 'DECIMAL as text with its scale');
    assert.equal(events[0]!.after!.at, '2026-01-02T03:04:05.678Z', 'date-time as ISO-8601 UTC');
    assert.equal(events[2]!.before!.name, 'b');
    assert.equal(events[2]!.after!.name, 'b2');
    assert.equal(events[3]!.before!.name, "O'Brien");
    const pos = JSON.parse((await store.getPosition('pipeline:t'))!) as { id: number };
    assert.ok(pos.id >= 5, `position records the last change-log id (${pos.id})`);
  } finally {
    ac.abort();
    await loop;
    await source.close();
    await store.close();
  }
  const dry = await uninstallTriggers(db, table, { dryRun: true });
  assert.ok(dry.statements.every((s) => s.startsWith('DROP')), 'dry run lists DROP statements');
  assert.equal((await listCaptureTriggers(db)).length, names.length, 'dry run changes nothing');
  const un = await uninstallTriggers(db, table);
  assert.equal(un.changelog, 'dropped');
  assert.deepEqual(await listCaptureTriggers(db), []);
  assert.equal(await changelogExists(db), false);
  await db.exec(sql(db, `INSERT INTO ${table} (id, name, amount) VALUES (?, ?, ?)`), [9, 'after uninstall', '0']); // no trigger left to fail
}

/** The first batch's events of a source (its stream aborted right after). */
async function firstEvents(source: { stream(signal: AbortSignal): AsyncIterable<{ events: ChangeEvent[]; ack?: () => Promise<void> }>; close(): Promise<void> }, wanted: number): Promise<ChangeEvent[]> {
  const ac = new AbortController();
  const out: ChangeEvent[] = [];
  const timer = setTimeout(() => ac.abort(), 15_000);
  try {
    for await (const b of source.stream(ac.signal)) {
      out.push(...b.events);
      await b.ack?.();
      if (out.length >= wanted) break;
    }
  } finally {
    clearTimeout(timer);
    await source.close();
  }
  assert.ok(out.length >= wanted, `${wanted} events (got ${out.length})`);
  return out;
}

/**
 * Trigger capture must never break the application's own writes, whatever the column types
 * (bytes, numeric arrays...) and whichever connection writes (another search_path on
 * PostgreSQL), and its row images must equal what the polling source reads for the same row.
 * `write` runs on the APPLICATION's connection, not hms-sync's.
 */
export async function triggerImagesMatchPolling(opts: {
  db: TriggerDb; driver: string; systemConfig: Record<string, unknown>; table: string; dir: string;
  write: (sql: string, params: unknown[]) => Promise<void>;
  /** INSERT of row id 1 and an UPDATE of it, in the application's terms. */
  insert: [string, unknown[]];
  update: [string, unknown[]];
}): Promise<void> {
  const { db, table } = opts;
  await installTriggers(db, table, ['id']);
  try {
    await opts.write(...opts.insert);
    await opts.write(...opts.update);
    const ctx = { system: 'legacy', systemConfig: opts.systemConfig, collection: table, keyFields: ['id'], logger: silentLogger(), workDir: opts.dir };
    const state: SourceState = { scope: 's', getPosition: async () => null, getShadow: async () => new Map(), async *listShadow() {} };
    const trig = await firstEvents(createTriggerSource({ ...ctx, state, options: { mode: 'triggers', poll: '20ms' } }, () => openTriggerDb(opts.driver, opts.systemConfig as Record<string, unknown>)), 2);
    assert.deepEqual(trig.map((e) => e.op), ['insert', 'update']);
    const poll = await firstEvents(await getConnector(opts.driver).createSource!({ ...ctx, state, options: { poll: '20ms' } }) as Source, 1);
    assert.deepEqual(trig[1]!.after, poll[0]!.after, 'the trigger image of the updated row equals what the polling source reads');
    const before = { ...trig[1]!.before };
    for (const [k, v] of Object.entries(trig[0]!.after!)) assert.deepEqual(before[k], v, `the update's before image of ${k} equals the inserted value`);
  } finally {
    await uninstallTriggers(db, table);
  }
}
