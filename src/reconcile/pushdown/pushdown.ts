/**
 * The SQL pushdown engine: instead of reading every row of both sides, each database computes,
 * per key range, a digest of its rows (count, XOR of a 64-bit row hash of the normalised compared
 * fields, count of rows the SQL cannot normalise exactly); both sides are queried at once. Only
 * ranges whose digests differ are split further (into 16 sub-ranges per level), and once the
 * differing ranges hold few rows, their (key, hash) pairs are read and compared one by one. The
 * keys that differ are the same candidates the streamed engine produces, and go through the same
 * confirm step (reconcile.ts `confirmBatch`). Rows flagged uncertain are compared in TypeScript
 * with the streamed engine's own hash (getByKeys on both sides, the pipeline's mapping).
 *
 * Key ranges are numeric ranges of an integer key: both databases agree on that order.
 */
import { errorMessage, HmsError, NotConnectedError } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import type { NormalizeOptions } from '../../core/normalize.js';
import type { Reader } from '../../connectors/contract.js';
import type { DiscrepancyInput } from '../../store/review-store.js';
import type { PushdownPlan, SideSql } from './plan.js';
import { rowHashSql, rowTextSql, UNCERTAIN } from './pg-canon.js';

export interface PushdownCandidate {
  ck: string;
  skey: string | null;
  tkey: string | null;
  kind: 'missing' | 'extra' | 'different';
}

export interface PushdownStats {
  /** Digest queries per side, level by level (ranges asked). */
  levels: number[];
  /** Rows read one by one (both sides). */
  leafRows: number;
  /** Rows compared in TypeScript because the SQL could not normalise them exactly. */
  uncertainRows: number;
}

export interface PushdownResult {
  sourceRows: number;
  targetRows: number;
  candidates: PushdownCandidate[];
  /** Rows whose mapping failed (found among the uncertain rows). */
  found: DiscrepancyInput[];
  stats: PushdownStats;
}

export interface PushdownInput {
  plan: PushdownPlan;
  readers: { source: Reader; target: Reader };
  /** The pipeline's mapping (the uncertain rows are mapped in TypeScript). */
  apply: (doc: Doc) => Promise<Doc>;
  /** The streamed engine's row hash (reconcile.ts rowHash). */
  rowHash: (doc: Doc, fields: readonly string[], norm: NormalizeOptions) => string;
  norm: NormalizeOptions;
  signal?: AbortSignal;
  onLevel?: (level: number, ranges: number) => void;
  /** Sizes (tests make them small to exercise every level). */
  tuning?: Partial<typeof TUNING>;
}

const TUNING = {
  /** Rows per bucket aimed at by the first level. */
  firstBucketRows: 32,
  /** Sub-ranges per differing range at the next level. */
  fanOut: 16,
  /** Differing ranges holding at most this many rows are read row by row. */
  leafRows: 40_000,
  /** Ranges per digest or leaf query. */
  rangesPerQuery: 2000,
};

interface Digest { n: number; x: bigint; u: number }
interface Range { a: bigint; z: bigint }

function whereOf(s: SideSql): string {
  return `${s.key} IS NOT NULL${s.where ? ` AND ${s.where}` : ''}`;
}

/**
 * Per row: the key `k` and the row text `rt`, in levels each computed once per row (OFFSET 0
 * keeps the planner from inlining a level into the next, which would evaluate it again per use):
 * the values after the mapping's converters, then the tokens. `join` restricts to key ranges.
 */
export function rowsSql(s: SideSql, join = ''): string {
  const values = s.values.map((v, i) => `, ${v} AS v${i}`).join('');
  const prep = s.prep.map(([name, e]) => `, ${e} AS ${name}`).join('');
  const a = `SELECT ${s.key} AS k${values} FROM ${s.table}${join} WHERE ${whereOf(s)} OFFSET 0`;
  const b = prep ? `SELECT *${prep} FROM (${a}) a OFFSET 0` : a;
  return `SELECT k, ${rowTextSql(`'n:' || k::text`, s.toks)} AS rt FROM (${b}) b OFFSET 0`;
}

/** Per row: key, row hash and whether the row holds a value the SQL left to TypeScript (the conformance test reads it). */
export function rowHashesSql(s: SideSql, join = ''): string {
  return `SELECT k::text AS k, ${rowHashSql('rt')}::text AS h, (strpos(rt, ${UNCERTAIN}) > 0)::int AS u FROM (${rowsSql(s, join)}) r`;
}

// ranges are [a, z); bound as [a, z - 1] so that a range ending at the largest bigint binds
const RANGES_JOIN = (s: SideSql, from: number) => ` JOIN unnest($${from}::bigint[], $${from + 1}::bigint[]) AS r(a, y) ON ${s.key} >= r.a AND ${s.key} <= r.y`;
const MAX_INT8 = (1n << 63n) - 1n;
const lastOf = (x: Range) => (x.z - 1n > MAX_INT8 ? MAX_INT8 : x.z - 1n).toString();

/** The key bounds (from the index) and the planner's row estimate (only the bucket width depends on it; -1: never analysed). */
async function bounds(s: SideSql): Promise<{ lo: bigint; hi: bigint; n: number } | null> {
  const r = await s.pool.query<{ lo: string | null; hi: string | null; n: string | null }>(
    `SELECT (SELECT min(${s.key}) FROM ${s.table} WHERE ${whereOf(s)})::text AS lo, (SELECT max(${s.key}) FROM ${s.table} WHERE ${whereOf(s)})::text AS hi, (SELECT reltuples FROM pg_class WHERE oid = to_regclass($1))::text AS n`,
    [s.table]);
  const row = r.rows[0];
  if (!row || row.lo === null || row.hi === null) return null;
  const lo = BigInt(row.lo);
  const hi = BigInt(row.hi);
  const est = Number(row.n ?? -1);
  // not analysed: as if the keys were dense
  const n = est >= 1 ? est : Number(hi - lo + 1n > 100_000_000n ? 100_000_000n : hi - lo + 1n);
  return { lo, hi, n };
}

/** Digests per bucket of width `w` (buckets numbered from `lo`), over the whole table or within ranges. */
async function digests(s: SideSql, lo: bigint, w: bigint, ranges: Range[] | null, wide: boolean, per: number): Promise<Map<string, Digest>> {
  const out = new Map<string, Digest>();
  // k - lo overflows a bigint when the keys span more than 2^63: numeric arithmetic then
  const bucket = wide ? 'floor((k::numeric - $1::numeric) / $2::numeric)::text' : '((k::bigint - $1::bigint) / $2::bigint)::text';
  const run = async (join: string, params: unknown[]) => {
    const sql = `SELECT ${bucket} AS b, count(*)::text AS n, bit_xor(${rowHashSql('rt')})::text AS x, count(*) FILTER (WHERE strpos(rt, ${UNCERTAIN}) > 0)::text AS u FROM (${rowsSql(s, join)}) r GROUP BY 1`;
    const r = await s.pool.query<{ b: string; n: string; x: string; u: string }>(sql, params);
    // (defensive: a bucket lies within one merged range, so within one query; parts would combine)
    for (const row of r.rows) {
      const had = out.get(row.b);
      const d = { n: Number(row.n), x: BigInt(row.x), u: Number(row.u) };
      out.set(row.b, had ? { n: had.n + d.n, x: had.x ^ d.x, u: had.u + d.u } : d);
    }
  };
  if (!ranges) {
    await run('', [lo.toString(), w.toString()]);
    return out;
  }
  for (let i = 0; i < ranges.length; i += per) {
    const part = ranges.slice(i, i + per);
    await run(RANGES_JOIN(s, 3), [lo.toString(), w.toString(), part.map((x) => x.a.toString()), part.map(lastOf)]);
  }
  return out;
}

async function leafRows(s: SideSql, ranges: Range[], per: number): Promise<Map<string, { h: string; u: number }>> {
  const out = new Map<string, { h: string; u: number }>();
  for (let i = 0; i < ranges.length; i += per) {
    const part = ranges.slice(i, i + per);
    const r = await s.pool.query<{ k: string; h: string; u: number }>(rowHashesSql(s, RANGES_JOIN(s, 1)), [part.map((x) => x.a.toString()), part.map(lastOf)]);
    for (const row of r.rows) out.set(row.k, { h: row.h, u: Number(row.u) });
  }
  return out;
}

/** Adjacent ranges merged (fewer bounds to send; the ranges are disjoint by construction). */
function merge(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && last.z >= r.a) { if (r.z > last.z) last.z = r.z; } else out.push({ ...r });
  }
  return out;
}

const same = (a: Digest | undefined, b: Digest | undefined) => (a?.n ?? 0) === (b?.n ?? 0) && (a?.x ?? null) === (b?.x ?? null) && !a?.u && !b?.u;

function wrap(role: string, err: unknown): Error {
  if (err instanceof HmsError) return err;
  return new NotConnectedError(`cannot read the ${role} side to the end (pushdown digest query): ${errorMessage(err)}; no report was written (a partial comparison is never reported as complete)`, { cause: err });
}

/** Run the pushdown comparison; candidates are keys (canonical, as the Readers give them). */
export async function runPushdown(input: PushdownInput): Promise<PushdownResult> {
  const { plan } = input;
  const both = <T>(f: (s: SideSql) => Promise<T>): Promise<[T, T]> => Promise.all([
    f(plan.source).catch((e: unknown) => { throw wrap('source', e); }),
    f(plan.target).catch((e: unknown) => { throw wrap('target', e); }),
  ]);
  const tune = { ...TUNING, ...input.tuning };
  const FIRST_BUCKET_ROWS = BigInt(tune.firstBucketRows);
  const FAN_OUT = BigInt(tune.fanOut);
  const LEAF_ROWS = tune.leafRows;
  const stats: PushdownStats = { levels: [], leafRows: 0, uncertainRows: 0 };
  const [sb, tb] = await both(bounds);
  const result: PushdownResult = { sourceRows: 0, targetRows: 0, candidates: [], found: [], stats };
  if (!sb && !tb) return result;
  const lo = sb && tb ? (sb.lo < tb.lo ? sb.lo : tb.lo) : (sb ?? tb)!.lo;
  const hi = sb && tb ? (sb.hi > tb.hi ? sb.hi : tb.hi) : (sb ?? tb)!.hi;
  const rows = BigInt(Math.round(Math.max(sb?.n ?? 0, tb?.n ?? 0)));
  const span = hi - lo + 1n;
  let w = span / (rows / FIRST_BUCKET_ROWS + 1n) + 1n;
  // level 0: the whole of both tables, at once
  input.onLevel?.(0, 1);
  stats.levels.push(1);
  const wide = span >= 1n << 62n;
  let [sd, td] = await both((s) => digests(s, lo, w, null, wide, tune.rangesPerQuery));
  for (const d of sd.values()) result.sourceRows += d.n;
  for (const d of td.values()) result.targetRows += d.n;
  let ranges: Range[] = [];
  let pending = 0;
  const differing = (width: bigint) => {
    const out: Range[] = [];
    let n = 0;
    for (const b of new Set([...sd.keys(), ...td.keys()])) {
      const x = sd.get(b);
      const y = td.get(b);
      if (same(x, y)) continue;
      const a = lo + BigInt(b) * width;
      out.push({ a, z: a + width });
      n += Math.max(x?.n ?? 0, y?.n ?? 0);
    }
    return { out, n };
  };
  ({ out: ranges, n: pending } = differing(w));
  for (let level = 1; ranges.length && pending > LEAF_ROWS && w > 16n; level++) {
    if (input.signal?.aborted) throw new HmsError('HMS_ERR_USAGE', 'reconciliation interrupted');
    w = w / FAN_OUT + 1n;
    const merged = merge(ranges);
    input.onLevel?.(level, merged.length);
    stats.levels.push(merged.length);
    [sd, td] = await both((s) => digests(s, lo, w, merged, wide, tune.rangesPerQuery));
    // a sub-bucket may reach past its parent range: only the parents' rows were digested on both sides
    ({ out: ranges, n: pending } = differing(w));
    ranges = ranges.map((r) => clip(r, merged)).filter((r): r is Range => r !== null);
  }
  if (!ranges.length) return result;
  const merged = merge(ranges);
  const [sr, tr] = await both((s) => leafRows(s, merged, tune.rangesPerQuery));
  stats.leafRows = sr.size + tr.size;
  const uncertain: string[] = [];
  for (const [k, s] of sr) {
    const t = tr.get(k);
    if (s.u || t?.u) { uncertain.push(k); continue; }
    if (!t) result.candidates.push({ ck: `n:${k}`, skey: k, tkey: null, kind: 'missing' });
    else if (t.h !== s.h) result.candidates.push({ ck: `n:${k}`, skey: k, tkey: k, kind: 'different' });
  }
  for (const k of tr.keys()) if (!sr.has(k)) result.candidates.push({ ck: `n:${k}`, skey: null, tkey: k, kind: 'extra' });
  stats.uncertainRows = uncertain.length;
  if (uncertain.length) await compareInTypeScript(input, uncertain, tr, result);
  return result;
}

/** The part of a sub-bucket inside one of its parent ranges (a sub-bucket never spans two disjoint parents' rows on only one side). */
function clip(r: Range, parents: Range[]): Range | null {
  let a: bigint | null = null;
  let z: bigint | null = null;
  for (const p of parents) {
    if (p.z <= r.a || p.a >= r.z) continue;
    const pa = p.a > r.a ? p.a : r.a;
    const pz = p.z < r.z ? p.z : r.z;
    a = a === null || pa < a ? pa : a;
    z = z === null || pz > z ? pz : z;
  }
  return a === null || z === null ? null : { a, z };
}

/** Rows the SQL flagged: mapped and hashed in TypeScript, exactly as the streamed engine does. */
async function compareInTypeScript(input: PushdownInput, keys: string[], targetRows: Map<string, unknown>, result: PushdownResult): Promise<void> {
  const fields = input.plan.fields;
  for (let i = 0; i < keys.length; i += 500) {
    const part = keys.slice(i, i + 500);
    const [sDocs, tDocs] = await Promise.all([input.readers.source.getByKeys(part, input.signal), input.readers.target.getByKeys(part.filter((k) => targetRows.has(k)), input.signal)]);
    for (const k of part) {
      const raw = sDocs.get(k);
      const there = tDocs.get(k);
      if (!raw) {
        // gone since the digest: the confirm step looks at it again
        result.candidates.push({ ck: `n:${k}`, skey: k, tkey: there ? k : null, kind: there ? 'different' : 'missing' });
        continue;
      }
      let mapped: Doc;
      try {
        mapped = await input.apply(raw);
      } catch (err) {
        result.found.push({ key: k, sourceKey: k, class: 'unmappable', fields: [], source: null, target: null, error: errorMessage(err) });
        continue;
      }
      if (!there) result.candidates.push({ ck: `n:${k}`, skey: k, tkey: null, kind: 'missing' });
      else if (input.rowHash(mapped, fields, input.norm) !== input.rowHash(there, fields, input.norm)) result.candidates.push({ ck: `n:${k}`, skey: k, tkey: k, kind: 'different' });
    }
  }
}
