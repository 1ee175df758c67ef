/**
 * The pushdown engine end to end on a real PostgreSQL: a legacy table (codes, yyyyMMdd dates as
 * text, CHAR-padded names, numeric amounts) against a modern table (renamed columns, a code
 * table, a date column, numeric(12,2)), both read by the database. Every class is found, exactly,
 * representation differences (1.10 vs 1.1, padding) are not, the result is the streamed engine's
 * on the same data, and a mapping the SQL cannot express falls back to the streamed engine with
 * the reason in the summary.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import pg from 'pg';
import { configError, parseConfig } from '../../src/config/load-config.js';
import type { ResolvedConfig } from '../../src/config/schema.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { silentLogger } from '../../src/core/log.js';
import { NotConnectedError } from '../../src/core/errors.js';
import { runReconcile } from '../../src/reconcile/reconcile.js';
import { listDiscrepancies } from '../../src/reconcile/review.js';
import { needService, PG_URL, tempDir, uniqueName } from '../helpers/services.js';

function config(yaml: string, file: string): ResolvedConfig {
  const { config: c, issues } = parseConfig(yaml, { file, env: process.env });
  if (!c) throw configError(issues);
  return c;
}

const N = 20_000;
const skip = await needService('postgres');

describe('reconcile pushdown: PostgreSQL legacy schema against PostgreSQL modern schema', { skip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let client: pg.Client;
  let store: Store;
  const schema = uniqueName('pdrec');
  const yaml = (o: { url?: string; name?: string } = {}) => `store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  legacy: { driver: postgres, url: "${o.url ?? PG_URL}", schema: ${schema} }
  modern: { driver: postgres, url: "${PG_URL}", schema: ${schema} }
pipelines:
  bridges:
    from: { system: legacy, collection: inspections }
    to: { system: modern, collection: bridges }
    key: brg_id
    targetKey: bridge_id
    map:
      bridge_id: brg_id
      status: { from: code_sts, values: { A: active, C: closed, P: pending } }
      next_date: { from: next_insp_dt, convert: "date:yyyyMMdd" }
      amount: amt
      name: ${o.name ?? '{ from: name, convert: trim }'}
    reconcile: { settle: 10ms }
`;
  let cfg: ResolvedConfig;
  before(async () => {
    tmp = tempDir();
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
    await client.query(`CREATE TABLE inspections (brg_id int8 PRIMARY KEY, code_sts text, next_insp_dt varchar(8), amt numeric(12,3), name char(24))`);
    await client.query(`INSERT INTO inspections SELECT g, (ARRAY['A','C','P'])[1 + g % 3], to_char(date '2020-01-01' + (g % 2000), 'YYYYMMDD'), (g % 1000) / 10.0, 'BRIDGE ' || g FROM generate_series(1, ${N}) g`);
    await client.query(`CREATE TABLE bridges (bridge_id int PRIMARY KEY, status text, next_date date, amount numeric(12,2), name text, updated_by text)`);
    await client.query(`INSERT INTO bridges SELECT brg_id, CASE code_sts WHEN 'A' THEN 'active' WHEN 'C' THEN 'closed' ELSE 'pending' END, to_date(next_insp_dt, 'YYYYMMDD'), amt, rtrim(name), 'sync' FROM inspections`);
    cfg = config(yaml(), path.join(tmp.dir, 'hms-sync.yaml'));
    store = await openStore(cfg.store);
  });
  after(async () => {
    await store?.close();
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
    tmp.cleanup();
  });

  const reconcile = (extra: Partial<Parameters<typeof runReconcile>[0]> = {}) => runReconcile({ config: cfg, store, pipeline: 'bridges', logger: silentLogger(), wait: async () => {}, ...extra });
  const open = async () => Object.fromEntries((await listDiscrepancies(store, { pipeline: 'bridges' })).map((d) => [d.key, d.class]));

  test('equal sides up to representation: pushdown chosen, nothing found, every row counted', async () => {
    const s = await reconcile();
    assert.equal(s.engine, 'pushdown', s.engineNote);
    assert.equal(s.sourceRows, N);
    assert.equal(s.targetRows, N);
    assert.deepEqual(s.fields, ['amount', 'name', 'next_date', 'status']);
    assert.equal(s.discrepancies, 0, JSON.stringify(await listDiscrepancies(store)));
    assert.equal(s.pushdown!.leafRows, 0, 'no range differs, so no row is read');
  });

  test('each class is found, exactly, and the streamed engine finds the same', async () => {
    await client.query(`UPDATE bridges SET status = 'closed' WHERE bridge_id IN (10, 11)`); // 10 is C already... 11 is P
    await client.query(`UPDATE bridges SET amount = amount + 0.01 WHERE bridge_id = 500`);
    await client.query(`UPDATE bridges SET next_date = next_date + 1 WHERE bridge_id = 7777`);
    await client.query(`UPDATE bridges SET name = 'RENAMED' WHERE bridge_id = ${N}`);
    await client.query(`UPDATE bridges SET updated_by = 'ann' WHERE bridge_id = 12`); // not a compared field
    await client.query(`DELETE FROM bridges WHERE bridge_id IN (1, 9000)`); // missing
    await client.query(`INSERT INTO bridges VALUES (${N + 5}, 'active', '2026-01-01', 1, 'GHOST', 'x'), (-3, 'active', NULL, NULL, NULL, 'x')`); // extra
    await client.query(`UPDATE inspections SET code_sts = 'Z' WHERE brg_id = 4242`); // unmappable
    // text that reads as a date-time: the SQL leaves it to TypeScript, which finds it equal (13) or not (14)
    await client.query(`UPDATE inspections SET name = '2026-12-04 10:00' WHERE brg_id IN (13, 14)`);
    await client.query(`UPDATE bridges SET name = '2026-12-04T10:00:00Z' WHERE bridge_id = 13`);
    await client.query(`UPDATE bridges SET name = '2026-12-04T11:00:00Z' WHERE bridge_id = 14`);
    const want = { '1': 'missing', '9000': 'missing', [String(N + 5)]: 'extra', '-3': 'extra', '11': 'different', '500': 'different', '7777': 'different', [String(N)]: 'different', '14': 'different', '4242': 'unmappable' };
    const s = await reconcile();
    assert.equal(s.engine, 'pushdown', s.engineNote);
    assert.deepEqual(s.counts, { missing: 2, extra: 2, different: 5, duplicate: 0, unmappable: 1 });
    assert.deepEqual(s.fieldCounts, { status: 1, amount: 1, next_date: 1, name: 2 });
    assert.deepEqual(await open(), want);
    assert.equal(s.pushdown!.uncertainRows, 3, 'rows 13 and 14 (date-time text) and 4242 (unknown code) were compared in TypeScript');
    assert.ok(s.pushdown!.leafRows < N / 10, `only differing ranges are read row by row (${s.pushdown!.leafRows} rows)`);
    const t = await reconcile({ engine: 'stream' });
    assert.equal(t.engine, 'stream');
    // the streamed engine counts the unmappable row twice in its summary (at the scan, and again when the
    // target row with its key is confirmed as extra); the open records are one per key on both engines
    assert.deepEqual({ ...t.counts, unmappable: 1 }, s.counts);
    assert.deepEqual(t.fieldCounts, s.fieldCounts);
    assert.deepEqual(await open(), want);
  });

  test('a discrepancy repaired by hand disappears from the next pushdown run', async () => {
    await client.query(`UPDATE bridges SET amount = amount - 0.01 WHERE bridge_id = 500`);
    const s = await reconcile();
    assert.equal(s.counts.different, 4);
    assert.equal((await open())['500'], undefined);
  });

  test('a key whose change is in flight (a pending job) is not reported by the pushdown engine: looked at again after the settle window, left unsettled', async () => {
    await client.query(`UPDATE bridges SET name = 'BEING CHANGED' WHERE bridge_id = 600`);
    await store.enqueue([{ pipeline: 'bridges', target: 'modern', key: '600', payload: { op: 'update', key: '600', changed: { name: 'BRIDGE 600' }, state: { brg_id: 600, name: 'BRIDGE 600' }, base: null, fingerprint: '', sourceTs: Date.now() }, runAt: Date.now() + 60_000, maxRunAt: Date.now() + 60_000, maxAttempts: 3 }]);
    let waited = 0;
    const s = await reconcile({ wait: async (ms) => { waited += ms; } });
    assert.equal(s.engine, 'pushdown');
    assert.equal(waited, 10, 'the in-flight key was looked at again after the settle window');
    assert.deepEqual(s.unsettled, ['600']);
    assert.equal((await open())['600'], undefined);
    assert.equal(s.counts.different, 4);
  });

  test('a mapping rule the SQL cannot express: the streamed engine runs, and the summary says why; engine: pushdown refuses it', async () => {
    const c2 = config(yaml({ name: '{ expr: "$trim(name)" }' }), path.join(tmp.dir, 'hms-sync.yaml'));
    const s = await runReconcile({ config: c2, store, pipeline: 'bridges', logger: silentLogger(), wait: async () => {} });
    assert.equal(s.engine, 'stream');
    assert.equal(s.engineNote, 'mapping rule name has an expression');
    assert.equal(s.counts.different, 4);
    await assert.rejects(runReconcile({ config: c2, store, pipeline: 'bridges', logger: silentLogger(), engine: 'pushdown' }), /the pushdown engine cannot reconcile it: mapping rule name has an expression/);
  });

  test('a side that cannot be reached is a NotConnectedError (exit 4), no report', async () => {
    const bad = config(yaml({ url: 'postgres://postgres@127.0.0.1:9/test' }), path.join(tmp.dir, 'hms-sync.yaml'));
    await assert.rejects(runReconcile({ config: bad, store, pipeline: 'bridges', logger: silentLogger() }), (e: unknown) => e instanceof NotConnectedError && /source side \(system "legacy"\).*no report was written/.test(e.message));
  });
});

test('reconcile pushdown: bigint keys at both ends of the range (the key span exceeds 2^63), identity mapping', { skip }, async () => {
  const tmp = tempDir();
  const schema = uniqueName('pdwide');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
    for (const t of ['a', 'b']) await client.query(`CREATE TABLE ${t} (id int8 PRIMARY KEY, v text, n numeric)`);
    const rows = `(-9223372036854775808, 'min', 1.10), (-5, 'neg', 2), (0, 'zero', 0), (9007199254740993, 'big', 3), (9223372036854775806, 'near', 4), (9223372036854775807, 'max', 5)`;
    await client.query(`INSERT INTO a VALUES ${rows}`);
    await client.query(`INSERT INTO b VALUES ${rows}`);
    await client.query(`UPDATE b SET n = 1.1 WHERE id = -9223372036854775808`); // same value
    await client.query(`UPDATE b SET v = 'MAX' WHERE id = 9223372036854775807`);
    await client.query(`UPDATE b SET v = 'MIN' WHERE id = -5`);
    await client.query(`DELETE FROM b WHERE id = 9007199254740993`);
    const cfg = config(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  pg: { driver: postgres, url: "${PG_URL}", schema: ${schema} }
pipelines:
  w:
    from: { system: pg, collection: a }
    to: { system: pg, collection: b }
    key: id
    reconcile: { settle: 10ms }
`, path.join(tmp.dir, 'hms-sync.yaml'));
    const store = await openStore(cfg.store);
    try {
      const s = await runReconcile({ config: cfg, store, pipeline: 'w', logger: silentLogger(), wait: async () => {} });
      assert.equal(s.engine, 'pushdown', s.engineNote);
      assert.deepEqual(s.fields, ['n', 'v']);
      const got = Object.fromEntries((await listDiscrepancies(store)).map((d) => [d.key, d.class]));
      assert.deepEqual(got, { '9223372036854775807': 'different', '-5': 'different', '9007199254740993': 'missing' });
    } finally {
      await store.close();
    }
  } finally {
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
    tmp.cleanup();
  }
});

test('reconcile pushdown: bisection over several levels, ranges split over several queries, finds exactly the differing keys', { skip }, async () => {
  const { planPushdown } = await import('../../src/reconcile/pushdown/plan.js');
  const { runPushdown } = await import('../../src/reconcile/pushdown/pushdown.js');
  const { rowHash } = await import('../../src/reconcile/reconcile.js');
  const tmp = tempDir();
  const schema = uniqueName('pdlvl');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
    // sparse keys (gaps of 1..7), so buckets are not rows
    await client.query(`CREATE TABLE a AS SELECT g * 7 - (g % 7) AS id, 'v' || g AS v, g % 97 AS n FROM generate_series(1, 30000) g`);
    await client.query(`ALTER TABLE a ADD PRIMARY KEY (id)`);
    await client.query(`CREATE TABLE b AS SELECT * FROM a`);
    await client.query(`ALTER TABLE b ADD PRIMARY KEY (id)`);
    // a random 2% of the keys differ, in each class
    const ids = (await client.query<{ id: number }>(`SELECT id FROM a WHERE random() < 0.02`)).rows.map((r) => r.id);
    const want = new Map<string, string>();
    ids.forEach((id, i) => want.set(String(id), ['different', 'missing', 'extra'][i % 3]!));
    const of = (k: string) => ids.filter((_, i) => i % 3 === k.length % 3);
    await client.query(`UPDATE b SET n = n + 1 WHERE id = ANY($1)`, [of('')]);
    await client.query(`DELETE FROM b WHERE id = ANY($1)`, [of('x')]);
    await client.query(`DELETE FROM a WHERE id = ANY($1)`, [of('xx')]);
    await client.query(`INSERT INTO b VALUES (-100, 'before', 1), (1000000, 'after', 1)`);
    want.set('-100', 'extra');
    want.set('1000000', 'extra');
    const cfg = config(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  pg: { driver: postgres, url: "${PG_URL}", schema: ${schema} }
pipelines:
  w:
    from: { system: pg, collection: a }
    to: { system: pg, collection: b }
    key: id
`, path.join(tmp.dir, 'hms-sync.yaml'));
    const r = await planPushdown(cfg, cfg.pipelines.w!, {}, new Set());
    assert.ok(r.plan, r.note);
    try {
      const res = await runPushdown({ plan: r.plan, readers: null as never, apply: async (d) => d, rowHash, norm: {}, tuning: { firstBucketRows: 2000, fanOut: 3, leafRows: 50, rangesPerQuery: 1 } });
      assert.ok(res.stats.levels.length >= 3, `several levels: ${JSON.stringify(res.stats)}`);
      const got = new Map(res.candidates.map((c) => [c.skey ?? c.tkey!, c.kind]));
      assert.deepEqual([...got].sort(), [...want].sort());
      assert.equal(res.sourceRows, 30000 - of('xx').length);
      assert.equal(res.targetRows, 30000 - of('x').length + 2);
    } finally {
      await r.plan.close();
    }
  } finally {
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
    tmp.cleanup();
  }
});
