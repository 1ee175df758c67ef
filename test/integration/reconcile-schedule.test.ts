/**
 * `reconcile.schedule` fires at its cron time inside a running engine (an injected clock stands in
 * for the wall clock; the databases, the store, the engine and its sink are real), and
 * `reconcile.autoRepair` repairs through the pipeline below the guard and refuses above it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { configError, parseConfig } from '../../src/config/load-config.js';
import { createEngine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/core/log.js';
import type { ScheduleClock, ScheduledRun } from '../../src/reconcile/schedule.js';
import { autoRepairLimit } from '../../src/reconcile/schedule.js';
import { listDiscrepancies } from '../../src/reconcile/review.js';
import { tempDir, waitFor } from '../helpers/services.js';

/** A clock whose time moves only when the test says so; timers fire in time order. */
class FakeClock implements ScheduleClock {
  private timers: Array<{ at: number; fn: () => void; dead: boolean }> = [];
  constructor(public t: number) {}
  now() { return this.t; }
  setTimeout(fn: () => void, ms: number) { const h = { at: this.t + ms, fn, dead: false }; this.timers.push(h); return h; }
  clearTimeout(h: unknown) { (h as { dead: boolean }).dead = true; }
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => !x.dead && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.dead = true;
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
}

function tables(dir: string, name: string, rows: number, differ: number): [string, string] {
  const files: [string, string] = [path.join(dir, `${name}-a.db`), path.join(dir, `${name}-b.db`)];
  for (const f of files) {
    const db = openDatabase(f);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const ins = db.prepare('INSERT INTO t VALUES (?, ?)');
    db.exec('BEGIN');
    for (let i = 1; i <= rows; i++) ins.run(i, `v${i}`);
    db.exec('COMMIT');
    if (f === files[1]) db.prepare('UPDATE t SET v = ? WHERE id <= ?').run('drift', differ);
    db.close();
  }
  return files;
}

test('cron schedule fires at 02:00; auto-repair repairs 3 of 1000 rows through the pipeline and refuses 20 of 100', async () => {
  const tmp = tempDir();
  try {
    const [a1, b1] = tables(tmp.dir, 'small-drift', 1000, 3);
    const [a2, b2] = tables(tmp.dir, 'big-drift', 100, 20);
    const { config, issues } = parseConfig(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  a1: { driver: sqlite, path: ${a1} }
  b1: { driver: sqlite, path: ${b1} }
  a2: { driver: sqlite, path: ${a2} }
  b2: { driver: sqlite, path: ${b2} }
pipelines:
  small:
    from: { system: a1, collection: t }
    to: { system: b1, collection: t }
    key: id
    delivery: { backoff: "exponential 20ms..100ms" }
    reconcile: { schedule: "0 2 * * *", timezone: UTC, autoRepair: true, settle: 10ms }
  big:
    from: { system: a2, collection: t }
    to: { system: b2, collection: t }
    key: id
    reconcile: { schedule: "0 2 * * *", timezone: UTC, autoRepair: true, settle: 10ms }
`, { file: path.join(tmp.dir, 'hms-sync.yaml'), env: process.env });
    if (!config) throw configError(issues);
    const clock = new FakeClock(Date.parse('2026-12-04T01:59:00Z'));
    const runs: ScheduledRun[] = [];
    const engine = createEngine({ config, logger: silentLogger(), idlePollMs: 50, capture: false, schedule: true, clock });
    engine.on('reconcile:run', (r) => runs.push(r));
    await engine.start();
    try {
      clock.advance(59_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(runs.length, 0, 'nothing runs before 02:00');
      clock.advance(1_000);
      await waitFor(() => runs.length === 2, { what: 'both scheduled runs' });
      for (const r of runs) assert.equal(new Date(r.slot).toISOString(), '2026-12-04T02:00:00.000Z');
      const small = runs.find((r) => r.pipeline === 'small')!;
      const big = runs.find((r) => r.pipeline === 'big')!;
      assert.equal(small.error, undefined);
      assert.equal(small.summary!.counts.different, 3);
      assert.deepEqual(small.autoRepair, { repaired: 3, refused: null, limit: 10 });
      assert.equal(big.summary!.counts.different, 20);
      assert.equal(big.autoRepair!.repaired, 0);
      assert.match(big.autoRepair!.refused!, /20 of 100 rows differ, more than maxAutoRepair allows \(1, 1%\): nothing was repaired/);
      // the repairs are delivered by the running engine through the real sink
      const target = openDatabase(b1);
      try {
        await waitFor(() => (target.prepare("SELECT count(*) AS n FROM t WHERE v = 'drift'").get() as { n: number }).n === 0, { what: 'the auto-repairs to be delivered' });
      } finally {
        target.close();
      }
      const bigTarget = openDatabase(b2);
      assert.deepEqual(bigTarget.prepare("SELECT count(*) AS n FROM t WHERE v = 'drift'").get(), { n: 20 }, 'the guard repaired nothing');
      bigTarget.close();
      assert.equal((await listDiscrepancies(engine.store, { pipeline: 'big' })).length, 20, 'they wait for a person');
      const audit = await engine.store.listAudit(50);
      assert.equal(audit.filter((x) => x.action === 'auto-repair').length, 3);
      // the next slot is tomorrow 02:00
      clock.advance(60 * 60_000);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(runs.length, 2, 'one run per slot');
    } finally {
      await engine.stop();
    }
  } finally {
    tmp.cleanup();
  }
});

test('autoRepairLimit: a percentage of the larger side or a number of rows', () => {
  assert.equal(autoRepairLimit('1%', 1_000_000), 10_000);
  assert.equal(autoRepairLimit('0.5%', 999), 4);
  assert.equal(autoRepairLimit(25, 10), 25);
});

test('a schedule that is not a cron expression is a config error with the line', () => {
  const { config, issues } = parseConfig(`systems:
  a: { driver: sqlite, path: ./a.db }
pipelines:
  p:
    from: { system: a, collection: t }
    to: { system: a, collection: u }
    key: id
    reconcile: { schedule: "every night" }
`, { env: {} });
  assert.equal(config, null);
  const issue = issues.find((i) => /reconcile\.schedule/.test(i.path ?? ''))!;
  assert.ok(issue, JSON.stringify(issues));
  assert.equal(issue.line, 8);
  assert.match(issue.message, /not a cron expression/);
});

test('a scheduled reconciliation of a system that cannot be read is a config error', async () => {
  const { registerConnector } = await import('../../src/connectors/registry.js');
  const { z } = await import('zod');
  registerConnector({
    driver: 'write-only-test', description: 'a sink without a Reader (test)', systemSchema: z.strictObject({}), sinkSchema: z.strictObject({}),
    createSink: () => ({ write: async (items) => items.map(() => ({ ok: true as const })), close: async () => {} }),
    testConnection: async () => {},
  });
  const { config, issues } = parseConfig(`systems:
  a: { driver: sqlite, path: ./a.db }
  w: { driver: write-only-test }
pipelines:
  p:
    from: { system: a, collection: t }
    to: { system: w, collection: u }
    key: id
    reconcile: { schedule: "0 2 * * *" }
`, { env: {} });
  assert.equal(config, null);
  const issue = issues.find((i) => i.path === 'pipelines.p.reconcile.schedule');
  assert.ok(issue, JSON.stringify(issues));
  assert.match(issue.message, /the target system "w" \(driver "write-only-test"\) cannot be read/);
  assert.equal(issue.line, 9);
});
