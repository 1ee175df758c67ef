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
import { clientConfig, type PostgresSystem } from '../../connectors/postgres/pg-connection.js';
import { columnTok, literalTok, oddAt, pgKindOf, qi, textPrep, textTok, UNCERTAIN, yyyyMMddPrep, yyyyMMddTok, type PgKind } from './pg-canon.js';

/** One side's SQL: the table, its key column, the values per compared field (after the mapping's converters) and their tokens. */
export interface SideSql {
  role: 'source' | 'target';
  pool: pg.Pool;
  /** Quoted, possibly schema-qualified. */
  table: string;
  /** Quoted key column. */
  key: string;
  /** Trusted `where` of the pipeline end, or null. */
  where: string | null;
  /** Per compared field: the value expression over the table's columns (selected as v0, v1...). */
  values: string[];
  /** Per compared field: the token expression over its value column (v0, v1...). */
  toks: string[];
  /** Derived columns (name, expression over v0, v1...) the tokens read. */
  prep: Array<[string, string]>;
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
  /** `str`: a JS string computed in SQL (text, NULL = null); `isodate`: a YYYY-MM-DD text. Either may be the UNCERTAIN marker. */
  kind: PgKind | 'str' | 'isodate';
  sql: string;
  /** The SQL text equals the JS string exactly (false for padded CHAR(n), whose ::text drops the padding). */
  exactText: boolean;
  /** A cheaper expression with the same canonical token, where only the token is used (not a code). */
  forToken?: string;
}

/** A compared field: its value expression (level A), the derived columns its token reads (level A2), and its token over the value column (level B). */
interface FieldSql {
  value: string;
  prep: (ref: string) => Array<[string, string]>;
  tok: (ref: string) => string;
}

class NotExpressible extends Error {}

function tokOf(v: Pick<Val, 'kind'>, ref: string, norm: NormalizeOptions, nullTok = "'null'"): string {
  if (v.kind === 'isodate') return yyyyMMddTok(ref, nullTok);
  const t = v.kind === 'str' ? textTok(ref, norm) : columnTok(ref, v.kind, norm);
  return nullTok === "'null'" ? t : `CASE WHEN ${ref} IS NULL THEN ${nullTok} ELSE ${t} END`;
}

const prepOf = (k: Val['kind']) => (ref: string): Array<[string, string]> => (k === 'str' || k === 'text' || k === 'bpchar' ? textPrep(ref) : k === 'isodate' ? yyyyMMddPrep(ref) : []);

/** The text of a JS string value in SQL (the code of a code table). */
function textOf(v: Pick<Val, 'kind' | 'exactText'>, ref: string, what: string): string {
  switch (v.kind) {
    case 'str': case 'isodate': case 'text': case 'printed': case 'numeric': case 'int': return `${ref}::text`;
    case 'bpchar': if (!v.exactText) throw new NotExpressible(`${what}: CHAR(n) values keep their padding in the mapping; add convert: trim`); return `${ref}::text`;
    case 'bool': return `CASE WHEN ${ref} THEN 'true' ELSE 'false' END`;
    case 'instant': throw new NotExpressible(`${what}: a timestamp is not used as text in SQL`);
  }
}

const isTextual = (k: Val['kind']) => k === 'str' || k === 'text' || k === 'printed' || k === 'bpchar' || k === 'numeric' || k === 'isodate';

function convert(v: Val, spec: string, where: string): Val {
  const [name, args = ''] = spec.split(/:(.*)/s, 2) as [string, string?];
  if (v.kind === 'isodate') throw new NotExpressible(`${where}: converter "${spec}" after a date converter`);
  if (name === 'trim' || name === 'trimStart' || name === 'trimEnd') {
    if (!isTextual(v.kind)) return v; // non-text passes through these converters
    const fn = name === 'trim' ? 'btrim' : name === 'trimStart' ? 'ltrim' : 'rtrim';
    const b = `${fn}(${v.sql}::text)`;
    // white space JavaScript trims but the space-only trim leaves: uncertain
    const ends = name === 'trim' ? `${oddAt(b)} OR ${oddAt(`right(${b}, 1)`)}` : name === 'trimStart' ? oddAt(b) : oddAt(`right(${b}, 1)`);
    const sql = `(CASE WHEN ${v.sql} IS NULL THEN NULL WHEN ${b} <> '' AND (${ends}) THEN ${UNCERTAIN} ELSE ${b} END)`;
    // for the token alone: the token right-trims, and flags white space other than spaces at either end
    const forToken = name === 'trimEnd' ? `${v.sql}::text` : `ltrim(${v.sql}::text)`;
    return { kind: 'str', sql, exactText: v.kind !== 'bpchar' || name !== 'trimStart', forToken };
  }
  if (name === 'date' && (args === '' || args === 'yyyyMMdd')) {
    if (!isTextual(v.kind) || v.kind === 'numeric') throw new NotExpressible(`${where}: converter "${spec}" on a non-text column`);
    // date:yyyyMMdd trims its input (white space other than spaces: the token finds no 8 digits, uncertain); the token does the rest
    return { kind: 'isodate', sql: `btrim(${v.sql}::text)`, exactText: true };
  }
  throw new NotExpressible(`${where}: converter "${spec}" has no SQL form in the pushdown engine`);
}

/** The value and token of one target field computed from the source row, through its mapping rule. */
function sourceField(target: string, rule: string | FieldRuleObject, cols: Map<string, Column>, norm: NormalizeOptions): FieldSql {
  const where = `mapping rule ${target}`;
  const r: FieldRuleObject = typeof rule === 'string' ? { from: rule } : rule;
  if (r.expr !== undefined) throw new NotExpressible(`${where} has an expression`);
  if (r.omitIfNull) throw new NotExpressible(`${where} has omitIfNull (the compared field set then depends on the data)`);
  const from = r.from ?? target;
  const col = cols.get(from);
  let v: Val;
  if (!col) v = { kind: 'str', sql: 'NULL::text', exactText: true };
  else {
    const kind = pgKindOf(col.type);
    if (!kind) throw new NotExpressible(`${where}: source column ${from} has type ${col.type}, which the SQL normaliser does not handle`);
    v = { kind, sql: qi(col.name), exactText: kind !== 'bpchar' };
  }
  for (const spec of r.convert === undefined ? [] : typeof r.convert === 'string' ? [r.convert] : r.convert) v = convert(v, spec, where);
  const hasDefault = Object.hasOwn(r, 'default');
  const nullTok = hasDefault ? literalTok(r.default ?? null, norm) : r.required ? UNCERTAIN : "'null'";
  const val = v;
  if (r.values !== undefined) {
    const values = r.values;
    if (val.kind === 'isodate') throw new NotExpressible(`${where}: a code table after a date converter`);
    textOf(val, 'v', where); // refuses what has no exact text
    return {
      value: val.sql,
      prep: prepOf(val.kind),
      tok: (ref) => {
        const code = textOf(val, ref, where);
        const whens = Object.entries(values).map(([k, out]) => `WHEN ${lit(k)} THEN ${out === null || out === undefined ? nullTok : literalTok(out, norm)}`);
        const policy = r.unknown ?? 'error';
        // an unknown code is a mapping error: TypeScript reports the row as unmappable
        const otherwise = policy === 'pass' ? tokOf(val, ref, norm) : policy === 'default' ? nullTok : UNCERTAIN;
        const marked = val.kind === 'str' ? `WHEN strpos(${ref}, ${UNCERTAIN}) > 0 THEN ${UNCERTAIN} ` : '';
        return `CASE WHEN ${ref} IS NULL THEN ${nullTok} ${marked}ELSE CASE ${code} ${whens.join(' ')} ELSE ${otherwise} END END`;
      },
    };
  }
  return { value: val.forToken ?? val.sql, prep: prepOf(val.kind), tok: (ref) => tokOf(val, ref, norm, nullTok) };
}

function targetField(field: string, cols: Map<string, Column>, norm: NormalizeOptions): FieldSql {
  const col = cols.get(field);
  if (!col) return { value: 'NULL::text', prep: () => [], tok: () => "'null'" };
  const kind = pgKindOf(col.type);
  if (!kind) throw new NotExpressible(`column ${field} has type ${col.type}, which the SQL normaliser does not handle`);
  return { value: qi(col.name), prep: prepOf(kind), tok: (ref) => columnTok(ref, kind, norm) };
}

/** The columns a Reader of this spec reads (its doc fields). */
function readColumns(spec: TableSpec, all: Column[]): Map<string, Column> {
  if (!spec.columns || spec.columns.length === 0) return new Map(all.map((c) => [c.name, c]));
  const want = new Set([...spec.columns, ...spec.keyFields, ...(spec.extraColumns ?? [])]);
  return new Map(all.filter((c) => want.has(c.name)).map((c) => [c.name, c]));
}

/**
 * A small pool of the system's connection settings, without JIT: the range queries' row
 * estimates (unnest x index range) are far too high and would have PostgreSQL compile for half a
 * second a query that reads a few thousand rows.
 */
function openPool(cfg: PostgresSystem, baseDir: string): pg.Pool {
  const base = clientConfig(cfg, baseDir);
  const pool = new pg.Pool({ ...base, options: [base.options, '-c jit=off'].filter(Boolean).join(' '), max: 2, idleTimeoutMillis: 30_000 });
  pool.on('error', () => {});
  return pool;
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
  const sPool = openPool(sSys.config as PostgresSystem, config.baseDir);
  const tPool = openPool(tSys.config as PostgresSystem, config.baseDir);
  const close = async () => { await Promise.all([sPool.end().catch(() => {}), tPool.end().catch(() => {})]); };
  try {
    const sTable = quoteQualifiedWith(qi, sSpec.table);
    const tTable = quoteQualifiedWith(qi, tSpec.table);
    const reach = <T>(role: 'source' | 'target', system: string, q: Promise<T>) => q.catch((err: unknown) => {
      throw new NotConnectedError(`cannot read the ${role} side (system "${system}"): ${errorMessage(err)}; no report was written`, { cause: err });
    });
    const [sAll, tAll] = await Promise.all([reach('source', p.from.system, columnsOf(sPool, sTable)), reach('target', p.to.system, columnsOf(tPool, tTable))]);
    if (!sAll || !tAll) { await close(); return { note: `table ${!sAll ? sSpec.table : tSpec.table} not found in the catalogue` }; }
    // bit_xor (14), trim_scale (13)
    const versions = await Promise.all([sPool, tPool].map(async (pool) => Number((await pool.query<{ v: string }>('SELECT current_setting(\'server_version_num\') AS v')).rows[0]?.v ?? 0)));
    if (versions.some((v) => v < 140000)) { await close(); return { note: `pushdown needs PostgreSQL 14 or later on both sides (server_version_num ${versions.join(' and ')})` }; }
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
    const sFields: FieldSql[] = [];
    const tFields: FieldSql[] = [];
    try {
      for (const f of fields) {
        sFields.push(spec ? sourceField(f, spec[f]!, sCols, norm) : targetField(f, sCols, norm));
        tFields.push(targetField(f, tCols, norm));
      }
    } catch (err) {
      await close();
      if (err instanceof NotExpressible) return { note: err.message };
      throw err;
    }
    const side = (role: 'source' | 'target', pool: pg.Pool, table: string, key: string, where: string | undefined, fs: FieldSql[]): SideSql => ({
      role, pool, table, key: qi(key), where: where && where.trim() ? `(${where})` : null, values: fs.map((f) => f.value), toks: fs.map((f, i) => f.tok(`v${i}`)), prep: fs.flatMap((f, i) => f.prep(`v${i}`)),
    });
    return {
      plan: {
        fields,
        source: side('source', sPool, sTable, skey, sSpec.where, sFields),
        target: side('target', tPool, tTable, tkey, tSpec.where, tFields),
        close,
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
