/**
 * Whether a pipeline can be reconciled by SQL pushdown, and the SQL if it can: both sides
 * PostgreSQL, one integer key column with a unique index on each side, the target key a rename
 * of the source key, and every compared field's mapping rule expressible in SQL (a rename, a code
 * table as CASE, a default, `trim`/`trimStart`/`trimEnd`, `date:yyyyMMdd`). Anything else is a
 * reason, which the summary reports as `engineNote` when the streamed engine runs instead.
 */
import pg from 'pg';
import { errorMessage, NotConnectedError } from '../../core/errors.js';
import type { NormalizeOptions } from '../../core/normalize.js';
import type { FieldRuleObject, MappingSpec } from '../../core/mapping.js';
import type { ResolvedConfig, ResolvedPipeline } from '../../config/schema.js';
import { readerTableSpec, type TableSpec } from '../../connectors/sql/sql-reader.js';
import { quoteQualifiedWith } from '../../connectors/sql/sql-dialect.js';
import { createPool, type PostgresSystem } from '../../connectors/postgres/pg-connection.js';
import { columnTok, JS_WHITESPACE, literalTok, pgKindOf, qi, rowHashSql, rowTextSql, textTok, uncertainSql, type PgKind, type Tok } from './pg-canon.js';

/** One side's SQL: the table, its key column, and the per-row hash and uncertainty expressions. */
export interface SideSql {
  role: 'source' | 'target';
  pool: pg.Pool;
  /** Quoted, possibly schema-qualified. */
  table: string;
  /** Quoted key column. */
  key: string;
  /** Trusted `where` of the pipeline end, or null. */
  where: string | null;
  hash: string;
  uncertain: string;
}

export interface PushdownPlan {
  /** Target fields compared (sorted, as the streamed engine compares them). */
  fields: string[];
  source: SideSql;
  target: SideSql;
  close(): Promise<void>;
}

export type PlanResult = { plan: PushdownPlan; note?: undefined } | { plan?: undefined; note: string };

const SQL_DRIVERS = new Set(['postgres']);
const INT_TYPES = new Set(['int2', 'int4', 'int8']);
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;
const WS = lit(JS_WHITESPACE);

interface Column { name: string; type: string }

async function columnsOf(pool: pg.Pool, table: string): Promise<Column[] | null> {
  const r = await pool.query<{ c: string; t: string }>(
    'SELECT a.attname AS c, t.typname AS t FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum', [table]);
  return r.rows.length ? r.rows.map((x) => ({ name: x.c, type: x.t })) : null;
}

/** Whether a single-column unique index (without predicate) covers the column. */
async function uniqueIndexed(pool: pg.Pool, table: string, column: string): Promise<boolean> {
  const r = await pool.query(
    `SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
     WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = $2`, [table, column]);
  return r.rows.length > 0;
}

/** The value of a source field inside SQL, as the mapping sees it (a JS value of a kind). */
interface Val {
  /** `str`: a JS string computed in SQL (text, NULL = null); `isodate`: a YYYY-MM-DD text. */
  kind: PgKind | 'str' | 'isodate';
  sql: string;
  /** The SQL text equals the JS string exactly (false for padded CHAR(n), whose ::text drops the padding). */
  exactText: boolean;
  unc: string[];
}

class NotExpressible extends Error {}

function tokOf(v: Val, norm: NormalizeOptions): Tok {
  if (v.kind === 'str') return textTok(v.sql, norm);
  if (v.kind === 'isodate') return { sql: `CASE WHEN ${v.sql} IS NULL THEN 'null' ELSE 's:' || ${v.sql} END`, unc: null };
  return columnTok(v.sql, v.kind, norm);
}

/** The text of a JS string value in SQL (the code of a code table, a converter's input). */
function textOf(v: Val, what: string): string {
  switch (v.kind) {
    case 'str': case 'isodate': case 'text': case 'textlike': case 'numeric': return `${v.sql}::text`;
    case 'bpchar': if (!v.exactText) throw new NotExpressible(`${what}: CHAR(n) values keep their padding in the mapping; add convert: trim`); return `${v.sql}::text`;
    case 'int': return `${v.sql}::text`;
    case 'bool': return `CASE WHEN ${v.sql} THEN 'true' ELSE 'false' END`;
    case 'instant': throw new NotExpressible(`${what}: a timestamp is not used as text in SQL`);
  }
}

const isTextual = (k: Val['kind']) => k === 'str' || k === 'text' || k === 'textlike' || k === 'bpchar' || k === 'numeric' || k === 'isodate';

function convert(v: Val, spec: string, where: string): Val {
  const [name, args = ''] = spec.split(/:(.*)/s, 2) as [string, string?];
  if (name === 'trim' || name === 'trimStart' || name === 'trimEnd') {
    if (!isTextual(v.kind)) return v; // non-text passes through these converters
    const fn = name === 'trim' ? 'btrim' : name === 'trimStart' ? 'ltrim' : 'rtrim';
    const exact = v.kind !== 'bpchar' || name !== 'trimStart';
    return { kind: 'str', sql: `${fn}(${v.sql}::text, ${WS})`, exactText: exact, unc: v.unc };
  }
  if (name === 'date' && (args === '' || args === 'yyyyMMdd')) {
    if (!isTextual(v.kind) || v.kind === 'numeric') throw new NotExpressible(`${where}: converter "${spec}" on a non-text column`);
    // date:yyyyMMdd: trimmed; blank, all-zero and all-nine digits mean no date; else 8 digits of a real date;
    // anything else (an error, or a year below 100, which Date.UTC reads as 19yy) is left to TypeScript
    const s = `btrim(${v.sql}::text, ${WS})`;
    const y = `substr(${s}, 1, 4)::int`;
    const m = `substr(${s}, 5, 2)::int`;
    const d = `substr(${s}, 7, 2)::int`;
    const leap = `((${y} % 4 = 0 AND ${y} % 100 <> 0) OR ${y} % 400 = 0)`;
    const dim = `CASE WHEN ${m} IN (4, 6, 9, 11) THEN 30 WHEN ${m} = 2 THEN CASE WHEN ${leap} THEN 29 ELSE 28 END ELSE 31 END`;
    const blank = `(${s} = '' OR regexp_replace(${s}, '[^0-9]', '', 'g') ~ '^(0+|9+)$')`;
    const ok = `(${s} ~ '^[0-9]{8}$' AND ${y} >= 100 AND ${m} BETWEEN 1 AND 12 AND ${d} BETWEEN 1 AND ${dim})`;
    const sql = `(CASE WHEN ${v.sql} IS NULL OR ${blank} THEN NULL WHEN ${ok} THEN substr(${s}, 1, 4) || '-' || substr(${s}, 5, 2) || '-' || substr(${s}, 7, 2) END)`;
    return { kind: 'isodate', sql, exactText: true, unc: [...v.unc, `(${v.sql} IS NOT NULL AND NOT ${blank} AND NOT ${ok})`] };
  }
  throw new NotExpressible(`${where}: converter "${spec}" has no SQL form in the pushdown engine`);
}

/** The token of one target field computed from the source row, through its mapping rule. */
function sourceFieldTok(target: string, rule: string | FieldRuleObject, cols: Map<string, Column>, norm: NormalizeOptions): Tok {
  const where = `mapping rule ${target}`;
  const r: FieldRuleObject = typeof rule === 'string' ? { from: rule } : rule;
  if (r.expr !== undefined) throw new NotExpressible(`${where} has an expression`);
  if (r.omitIfNull) throw new NotExpressible(`${where} has omitIfNull (the compared field set then depends on the data)`);
  const from = r.from ?? target;
  const col = cols.get(from);
  let v: Val;
  if (!col) v = { kind: 'str', sql: 'NULL::text', exactText: true, unc: [] };
  else {
    const kind = pgKindOf(col.type);
    if (!kind) throw new NotExpressible(`${where}: source column ${from} has type ${col.type}, which the SQL normaliser does not handle`);
    v = { kind, sql: qi(col.name), exactText: kind !== 'bpchar', unc: [] };
  }
  for (const spec of r.convert === undefined ? [] : typeof r.convert === 'string' ? [r.convert] : r.convert) v = convert(v, spec, where);
  const hasDefault = Object.hasOwn(r, 'default');
  const unc = [...v.unc];
  const nullTok = hasDefault ? literalTok(r.default ?? null, norm) : "'null'";
  if (r.required && !hasDefault) unc.push(`(${v.sql} IS NULL)`);
  let valueTok: string;
  if (r.values !== undefined) {
    const code = textOf(v, where);
    const whens = Object.entries(r.values).map(([k, out]) => `WHEN ${lit(k)} THEN ${out === null || out === undefined ? nullTok : literalTok(out, norm)}`);
    const policy = r.unknown ?? 'error';
    const known = Object.keys(r.values).map(lit).join(', ');
    let otherwise: string;
    if (policy === 'pass') {
      const t = tokOf(v, norm);
      if (t.unc) unc.push(`(${v.sql} IS NOT NULL AND ${code} NOT IN (${known}) AND ${t.unc})`);
      otherwise = t.sql;
    } else if (policy === 'default') otherwise = nullTok;
    else {
      // an unknown code is a mapping error: TypeScript reports the row as unmappable
      unc.push(known ? `(${v.sql} IS NOT NULL AND ${code} NOT IN (${known}))` : `(${v.sql} IS NOT NULL)`);
      otherwise = "'null'";
    }
    valueTok = whens.length ? `CASE ${code} ${whens.join(' ')} ELSE ${otherwise} END` : otherwise;
  } else {
    const t = tokOf(v, norm);
    if (t.unc) unc.push(t.unc);
    valueTok = t.sql;
  }
  return { sql: `(CASE WHEN ${v.sql} IS NULL THEN ${nullTok} ELSE ${valueTok} END)`, unc: unc.length ? unc.join(' OR ') : null };
}

function targetFieldTok(field: string, cols: Map<string, Column>, norm: NormalizeOptions): Tok {
  const col = cols.get(field);
  if (!col) return { sql: "'null'", unc: null };
  const kind = pgKindOf(col.type);
  if (!kind) throw new NotExpressible(`target column ${field} has type ${col.type}, which the SQL normaliser does not handle`);
  return columnTok(qi(col.name), kind, norm);
}

/** The columns a Reader of this spec reads (its doc fields). */
function readColumns(spec: TableSpec, all: Column[]): Map<string, Column> {
  if (!spec.columns || spec.columns.length === 0) return new Map(all.map((c) => [c.name, c]));
  const want = new Set([...spec.columns, ...spec.keyFields, ...(spec.extraColumns ?? [])]);
  return new Map(all.filter((c) => want.has(c.name)).map((c) => [c.name, c]));
}

/**
 * Plan the pushdown of a pipeline, or say why it cannot be pushed down. Opens one small pool per
 * side (closed by `plan.close()`, or here when there is no plan).
 */
export async function planPushdown(config: ResolvedConfig, p: ResolvedPipeline, norm: NormalizeOptions, ignore: Set<string>): Promise<PlanResult> {
  const sSys = config.systems[p.from.system]!;
  const tSys = config.systems[p.to.system]!;
  if (!SQL_DRIVERS.has(sSys.driver) || !SQL_DRIVERS.has(tSys.driver)) {
    const sql = ['postgres', 'mariadb', 'sqlite'];
    return { note: sql.includes(sSys.driver) && sql.includes(tSys.driver) ? `pushdown is implemented for PostgreSQL <-> PostgreSQL only (this pipeline: ${sSys.driver} -> ${tSys.driver})` : `not both sides are SQL (${sSys.driver} -> ${tSys.driver})` };
  }
  if (p.key.length !== 1 || p.targetKey.length !== 1) return { note: 'a composite key (pushdown needs one integer key column per side)' };
  const spec: MappingSpec | null = p.map;
  const [skey] = p.key as [string];
  const [tkey] = p.targetKey as [string];
  if (spec) {
    const kr = spec[tkey];
    const from = typeof kr === 'string' ? kr : kr && kr.expr === undefined && kr.convert === undefined && kr.values === undefined && !Object.hasOwn(kr, 'default') ? kr.from ?? tkey : undefined;
    if (from !== skey) return { note: `the target key ${tkey} is not a plain rename of the source key ${skey}` };
  } else if (skey !== tkey) return { note: `the target key ${tkey} is not the source key ${skey}` };
  const sSpec = readerTableSpec(p.from.collection, p.key, p.from.options);
  const tSpec = readerTableSpec(p.to.collection, p.targetKey, p.to.options);
  const sPool = createPool(sSys.config as PostgresSystem, { max: 2, baseDir: config.baseDir });
  const tPool = createPool(tSys.config as PostgresSystem, { max: 2, baseDir: config.baseDir });
  const close = async () => { await Promise.all([sPool.end().catch(() => {}), tPool.end().catch(() => {})]); };
  try {
    const sTable = quoteQualifiedWith(qi, sSpec.table);
    const tTable = quoteQualifiedWith(qi, tSpec.table);
    const reach = <T>(role: 'source' | 'target', system: string, q: Promise<T>) => q.catch((err: unknown) => {
      throw new NotConnectedError(`cannot read the ${role} side (system "${system}"): ${errorMessage(err)}; no report was written`, { cause: err });
    });
    const [sAll, tAll] = await Promise.all([reach('source', p.from.system, columnsOf(sPool, sTable)), reach('target', p.to.system, columnsOf(tPool, tTable))]);
    if (!sAll || !tAll) { await close(); return { note: `table ${!sAll ? sSpec.table : tSpec.table} not found in the catalogue` }; }
    const sCols = readColumns(sSpec, sAll);
    const tCols = readColumns(tSpec, tAll);
    const sk = sCols.get(skey);
    const tk = tCols.get(tkey);
    if (!sk || !tk || !INT_TYPES.has(sk.type) || !INT_TYPES.has(tk.type)) {
      await close();
      return { note: `the key columns are not both integers (${skey}: ${sk?.type ?? 'missing'}, ${tkey}: ${tk?.type ?? 'missing'}); text key ranges are not pushed down yet` };
    }
    const [sUnique, tUnique] = await Promise.all([uniqueIndexed(sPool, sTable, skey), uniqueIndexed(tPool, tTable, tkey)]);
    if (!sUnique || !tUnique) { await close(); return { note: `the key column ${!sUnique ? skey : tkey} has no unique index (duplicate keys are found by the streamed engine)` }; }
    const all = spec ? Object.keys(spec) : [...sCols.keys()];
    const fields = all.filter((f) => !ignore.has(f) && f !== tkey).sort();
    const sToks: Tok[] = [];
    const tToks: Tok[] = [];
    try {
      for (const f of fields) {
        sToks.push(spec ? sourceFieldTok(f, spec[f]!, sCols, norm) : targetFieldTok(f, sCols, norm));
        tToks.push(targetFieldTok(f, tCols, norm));
      }
    } catch (err) {
      await close();
      if (err instanceof NotExpressible) return { note: err.message };
      throw err;
    }
    const side = (role: 'source' | 'target', pool: pg.Pool, table: string, key: string, where: string | undefined, toks: Tok[]): SideSql => {
      const k = qi(key);
      return { role, pool, table, key: k, where: where && where.trim() ? `(${where})` : null, hash: rowHashSql(rowTextSql(`'n:' || ${k}::text`, toks)), uncertain: uncertainSql(toks) };
    };
    return {
      plan: {
        fields,
        source: side('source', sPool, sTable, skey, sSpec.where, sToks),
        target: side('target', tPool, tTable, tkey, tSpec.where, tToks),
        close,
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
