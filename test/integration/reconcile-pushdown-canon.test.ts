/**
 * Conformance of the pushdown engine's SQL normaliser (src/reconcile/pushdown/pg-canon.ts) with
 * core/normalize.ts, on a real PostgreSQL: golden rows of every supported type are hashed by the
 * database (the engine's own SQL, from planPushdown) and in TypeScript (the row as the PostgreSQL
 * Reader reads it, through `pushdownRowHash`), and the two must be equal for every row the SQL
 * does not flag as uncertain; the rows it flags are exactly those it cannot canonicalise exactly.
 * A second table goes through a mapping (renames, a code table, date:yyyyMMdd, trim, a default):
 * the database's hash of the source row equals TypeScript's hash of the mapped row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import pg from 'pg';
import { configError, parseConfig } from '../../src/config/load-config.js';
import type { ResolvedConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/log.js';
import { compileMapping } from '../../src/core/mapping.js';
import { canonicalToken } from '../../src/core/normalize.js';
import type { Doc } from '../../src/core/types.js';
import { getConnector } from '../../src/connectors/registry.js';
import { planPushdown, type PushdownPlan } from '../../src/reconcile/pushdown/plan.js';
import { hashBytesExtended, pushdownRowHash } from '../../src/reconcile/pushdown/pg-canon.js';
import { rowHashesSql } from '../../src/reconcile/pushdown/pushdown.js';
import { needService, PG_URL, tempDir, uniqueName } from '../helpers/services.js';

function config(yaml: string, file: string): ResolvedConfig {
  const { config: c, issues } = parseConfig(yaml, { file, env: process.env });
  if (!c) throw configError(issues);
  return c;
}

async function readAll(cfg: ResolvedConfig, system: string, collection: string, key: string): Promise<Map<string, Doc>> {
  const sys = cfg.systems[system]!;
  const reader = await getConnector(sys.driver).createReader!({ system, systemConfig: sys.config, collection, options: {}, keyFields: [key], logger: silentLogger(), baseDir: cfg.baseDir });
  const out = new Map<string, Doc>();
  try {
    for await (const page of reader.scan({ limit: 100 })) for (const r of page.rows) out.set(r.key, r.doc);
  } finally {
    await reader.close();
  }
  return out;
}

async function sqlHashes(plan: PushdownPlan, side: 'source' | 'target'): Promise<Map<string, { h: bigint; u: number }>> {
  const s = plan[side];
  const r = await s.pool.query<{ k: string; h: string; u: number }>(rowHashesSql(s));
  return new Map(r.rows.map((x) => [x.k, { h: BigInt(x.h), u: Number(x.u) }]));
}

// golden rows: [k, i, big, n, n2, tz, ts, d, t, c, v, bo, u]
const GOLDEN = `
(1, 1, 9007199254740993, 1.10, 1.10, '2026-12-04 10:00:00+01', '2026-12-04 09:00:00', '2026-12-04', 'abc   ', 'AB', 'x ', true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
(2, -7, -9007199254740993, 1.1, 1.1, '2026-12-04 09:00:00Z', '1969-12-31 23:59:59.9995', '1900-02-28', '', '', '', false, NULL),
(3, 0, 0, -0.0, -0.00, '2026-12-04 09:00:00.123456+05:30', '1900-01-01 00:00:00.000001', NULL, NULL, NULL, NULL, NULL, NULL),
(4, 2147483647, 9223372036854775807, 12345678901234567890.123456789000, 99999999.99, '1969-12-31 23:59:59.0005-03', '2026-06-30 23:59:59.999999', '0044-03-15 BC', ' 007.50 ', '  LEAD', 'true', true, NULL),
(5, NULL, NULL, 'NaN', NULL, 'infinity', '-infinity', 'infinity', '2026-12-04T10:00:00+01:00', 'Z', 'false', false, NULL),
(6, 10, 10, 1e20, 1.00, '2026-03-29 01:30:00 Europe/Paris', '2026-03-29 02:30:00', '2024-02-29', '1e5', '1.50', ' -0.0 ', NULL, NULL),
(7, 3, 3, 0.000001, 0.01, '2026-10-25 02:30:00 Europe/Paris', '2026-10-25 02:30:00', '2026-01-01', E'tab\\t\\n', 'x', E'nbsp\\u00a0', true, NULL),
(8, 4, 4, -123.4500, -0.50, '2026-12-04 10:00:00.5+14', '2026-12-04 10:00:00.5', '2026-12-31', '1e9999', 'TRUE', 'café ☃ "q" ''s''', false, NULL),
(9, 5, 5, 7, 7, '2026-12-04 10:00:00-09:30', '2026-12-04 10:00:00', '2026-12-04', '2026-12-04 10:00', '007', '+.5', true, NULL),
(10, 6, 6, 1e-20, 0, '2000-01-01 00:00:00Z', '2000-01-01 00:00:00', '2000-01-01', E'\\u0001sep', 'n:1', 'null', NULL, NULL),
(11, 7, 7, 100, 100, '2000-01-01 00:00:00.000001Z', '2000-01-01 00:00:00.001', '2000-01-01', 'true  ', 'éa', '~x~', NULL, NULL),
(12, 8, 8, -1, -1, '2000-01-01 00:00:00Z', '2000-01-01 00:00:00', '2000-01-01', '  false', ' false', 'Zed ', NULL, NULL),
(13, 9, 9, 0, 0, '9999-12-31 23:59:59.999999Z', '9999-12-31 23:59:59.999999', '9999-12-31', 'x', 'x', 'x', NULL, NULL),
(14, 9, 9, 0, 0, '0001-01-01 00:00:00Z', '0001-01-01 00:00:00', '0001-01-01', 'x', 'x', 'x', NULL, NULL),
(16, 9, 9, 0, 0, '0100-01-01 00:00:00Z', '0100-01-01 00:00:00', '0100-01-01', 'x', 'x', 'x', NULL, NULL),
(15, 9, 9, 0, 0, '10000-01-01 00:00:00Z', '2000-01-01 00:00:00', '2000-01-01', 'x', 'x', 'x', NULL, NULL)`;
/**
 * The rows whose text the SQL must flag: a date-time text (5, 9), a number with a huge exponent
 * (8), text ending in white space other than the space (7: a tab, a no-break space) or starting
 * with a control character (10), a timestamp in year 0001 (14: canonicalToken's Date.UTC reads
 * years below 100 as 19yy) or after year 9999 (15).
 */
const UNCERTAIN = ['10', '14', '15', '5', '7', '8', '9'];

test('pushdown SQL normaliser = TypeScript canonicalToken on golden rows of every supported PostgreSQL type', { skip: await needService('postgres') }, async () => {
  const tmp = tempDir();
  const schema = uniqueName('pdcanon');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.golden (k int PRIMARY KEY, i int4, big int8, n numeric, n2 numeric(10,2), tz timestamptz, ts timestamp, d date, t text, c char(6), v varchar(40), bo boolean, u uuid)`);
    await client.query(`INSERT INTO ${schema}.golden VALUES ${GOLDEN}`);
    await client.query(`CREATE TABLE ${schema}.other (k int PRIMARY KEY)`);
    for (const emptyIsNull of [false, true]) {
      const cfg = config(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  a: { driver: postgres, url: "${PG_URL}", schema: ${schema} }
pipelines:
  p:
    from: { system: a, collection: golden }
    to: { system: a, collection: other }
    key: k
`, path.join(tmp.dir, 'hms-sync.yaml'));
      const norm = { emptyIsNull };
      const r = await planPushdown(cfg, cfg.pipelines.p!, norm, new Set());
      assert.ok(r.plan, r.note);
      try {
        assert.deepEqual(r.plan.fields, ['big', 'bo', 'c', 'd', 'i', 'n', 'n2', 't', 'ts', 'tz', 'u', 'v']);
        const docs = await readAll(cfg, 'a', 'golden', 'k');
        const sql = await sqlHashes(r.plan, 'source');
        assert.equal(docs.size, 16);
        assert.equal(sql.size, 16);
        const flagged: string[] = [];
        for (const [k, doc] of docs) {
          const got = sql.get(k)!;
          if (got.u) { flagged.push(k); continue; }
          const want = pushdownRowHash(doc, ['k'], r.plan.fields, norm);
          assert.equal(got.h, want, `row ${k} (emptyIsNull ${emptyIsNull}): SQL hash differs from TypeScript's; tokens ${JSON.stringify(Object.fromEntries(r.plan.fields.map((f) => [f, canonicalToken(doc[f], norm)])))}`);
        }
        assert.deepEqual(flagged.sort(), UNCERTAIN);
      } finally {
        await r.plan.close();
      }
    }
    // sanity of the golden data: the corner cases really are corner cases for canonicalToken
    const docs = await readAll(config(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  a: { driver: postgres, url: "${PG_URL}", schema: ${schema} }
pipelines: {}
`, path.join(tmp.dir, 'hms-sync.yaml')), 'a', 'golden', 'k');
    assert.equal(canonicalToken(docs.get('1')!.n), canonicalToken(docs.get('2')!.n), 'numeric 1.10 and 1.1 are one value');
    assert.equal(canonicalToken(docs.get('1')!.tz), canonicalToken(docs.get('2')!.tz), 'the same instant written in two zones');
    assert.equal(canonicalToken(docs.get('3')!.n), 'n:0', 'negative zero');
    assert.notEqual(canonicalToken(docs.get('2')!.t), canonicalToken(docs.get('3')!.t), "'' is not NULL");
  } finally {
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
    tmp.cleanup();
  }
});

const LEGACY = `
(1, 'A', '20261204', 'ELM ST    ', '001.10', 'Y', NULL),
(2, 'C', '  20240229 ', 'OAK', '12', NULL, NULL),
(3, 'P', '00000000', '', '-0', 'N', NULL),
(4, NULL, '99999999', NULL, NULL, 'Y', NULL),
(5, 'A', '', '  x  ', '1e3', 'Y', NULL),
(6, 'Z', '20261204', 'BAD CODE', '1', 'Y', NULL),
(7, 'A', '20230231', 'BAD DATE', '1', 'Y', NULL),
(8, 'A', '2026-12-04', 'BAD WIDTH', '1', 'Y', NULL),
(9, 'A', '00501231', 'YEAR 50', '1', 'Y', NULL),
(10, 'A', '19991231', 'OK', ' 7.50', 'Y', NULL)`;

test('pushdown SQL of a mapping (rename, code table, date:yyyyMMdd, trim, default) = TypeScript mapping + canonicalToken', { skip: await needService('postgres') }, async () => {
  const tmp = tempDir();
  const schema = uniqueName('pdmap');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.legacy (id int8 PRIMARY KEY, sts text, dt varchar(12), name char(10), amt text, flag varchar(1), code char(2))`);
    await client.query(`INSERT INTO ${schema}.legacy VALUES ${LEGACY}`);
    await client.query(`CREATE TABLE ${schema}.modern (bridge_id int PRIMARY KEY)`);
    const cfg = config(`store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  a: { driver: postgres, url: "${PG_URL}", schema: ${schema} }
pipelines:
  p:
    from: { system: a, collection: legacy }
    to: { system: a, collection: modern }
    key: id
    targetKey: bridge_id
    map:
      bridge_id: id
      status: { from: sts, values: { A: active, C: closed, P: 7 }, default: unknown }
      next_date: { from: dt, convert: "date:yyyyMMdd" }
      name: { from: name, convert: trim }
      amount: amt
      flag: { from: flag, values: { Y: true, N: false }, unknown: pass }
      missing_col: { from: nowhere, default: 5 }
`, path.join(tmp.dir, 'hms-sync.yaml'));
    const p = cfg.pipelines.p!;
    const r = await planPushdown(cfg, p, {}, new Set());
    assert.ok(r.plan, r.note);
    try {
      const mapping = compileMapping(p.map, { pipeline: 'p' });
      const docs = await readAll(cfg, 'a', 'legacy', 'id');
      const sql = await sqlHashes(r.plan, 'source');
      const flagged: string[] = [];
      const failed: string[] = [];
      for (const [k, doc] of docs) {
        const got = sql.get(k)!;
        let mapped: Doc | null = null;
        try {
          mapped = await mapping.apply(doc);
        } catch {
          failed.push(k);
        }
        if (got.u) { flagged.push(k); continue; }
        assert.ok(mapped, `row ${k}: the mapping fails in TypeScript but the SQL did not flag it`);
        assert.equal(got.h, pushdownRowHash(mapped, ['bridge_id'], r.plan.fields), `row ${k}: SQL hash differs; mapped ${JSON.stringify(mapped)}`);
      }
      assert.deepEqual(failed.sort(), ['6', '7', '8'], 'unknown code, impossible date, wrong width fail in TypeScript');
      assert.deepEqual(flagged.sort((a, b) => Number(a) - Number(b)), ['6', '7', '8', '9'], 'and the SQL flags them (and year 0050, which Date.UTC reads as 1950)');
    } finally {
      await r.plan.close();
    }
    // a rule the SQL cannot express: the reason is given
    const withExpr = { ...p, map: { ...p.map!, name: { expr: '$uppercase(name)' } } };
    const r2 = await planPushdown(cfg, withExpr, {}, new Set());
    assert.equal(r2.plan, undefined);
    assert.equal(r2.note, 'mapping rule name has an expression');
    const padded = { ...p, map: { ...p.map!, code: { from: 'code', values: { X: 1 } } } };
    assert.match((await planPushdown(cfg, padded, {}, new Set())).note ?? '', /mapping rule code: CHAR\(n\) values keep their padding/);
  } finally {
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
    tmp.cleanup();
  }
});

test('hashBytesExtended = PostgreSQL hashtextextended(text COLLATE "C", 0) for texts of every length 0..40 and multi-byte text', { skip: await needService('postgres') }, async () => {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const texts = Array.from({ length: 41 }, (_, n) => 'n:12\u0002s:abc\u0001t:1796374800000\u0001'.repeat(2).slice(0, n));
    texts.push('café ☃ \u{1F600}', '\u0003', 'a'.repeat(1000));
    const r = await client.query<{ h: string }>('SELECT hashtextextended(t COLLATE "C", 0)::text AS h FROM unnest($1::text[]) WITH ORDINALITY AS x(t, i) ORDER BY i', [texts]);
    assert.deepEqual(r.rows.map((x) => x.h), texts.map((t) => String(hashBytesExtended(Buffer.from(t, 'utf8')))));
  } finally {
    await client.end();
  }
});
