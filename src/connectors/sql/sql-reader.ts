/**
 * The SQL kit's Reader: the page, get-by-keys and count queries of a table, written ONCE over a
 * {@link SqlDialect} (quoting, placeholders, row-value support) and run on a {@link SqlQueryPort}.
 *
 * Pages are keyset-paginated in key order, never OFFSET:
 * `SELECT ... WHERE k1 IS NOT NULL AND (k1, k2) > (?, ?) ORDER BY k1, k2 LIMIT n`
 * (expanded to `k1 > ? OR (k1 = ? AND k2 > ?)` where the dialect has no row values). A range
 * adds `(k1, k2) >= (from)` and `(k1, k2) < (to)`. Rows are normalised as the polling source
 * normalises them (`dialect.normalizeValue`), so a Reader row and a polled row of the same record
 * have the same fingerprint. Rows whose key columns are NULL are skipped, as the polling source
 * skips them.
 *
 * @example
 * const reader = createSqlReader({ dialect: sqliteDialect, port: () => port, table: 'INSPECTIONS', keyFields: ['BRG_ID'] });
 * for await (const page of reader.scan({ limit: 1000 })) for (const row of page.rows) console.log(row.key);
 */
import { canonicalKey, keyValues } from '../../core/delta.js';
import type { Doc } from '../../core/types.js';
import type { ReadRow, Reader, ScanOptions, ScanPage } from '../contract.js';
import { quoteQualifiedWith, type SqlDialect } from './sql-dialect.js';
import type { SqlQueryPort } from './sql-query-port.js';

export interface BuiltQuery {
  sql: string;
  params: unknown[];
}

/** Collects bound parameters and hands out the dialect's placeholders. */
export class SqlParams {
  readonly values: unknown[] = [];
  constructor(private readonly dialect: Pick<SqlDialect, 'placeholder'>) {}
  add(v: unknown): string {
    this.values.push(v);
    return this.dialect.placeholder(this.values.length);
  }
}

/**
 * `cols` compared with `values` in lexicographic order: `>` (strict) or `>=`, `<`.
 * Row values `(a, b) > (?, ?)` where the dialect serves them; otherwise the expanded form.
 */
export function keysetCondition(dialect: Pick<SqlDialect, 'rowValues'>, cols: string[], values: unknown[], op: '>' | '>=' | '<', p: SqlParams): string {
  if (cols.length === 1) return `${cols[0]} ${op} ${p.add(values[0])}`;
  if (dialect.rowValues) return `(${cols.join(', ')}) ${op} (${values.map((v) => p.add(v)).join(', ')})`;
  const strict = op === '>=' ? '>' : op;
  const ors: string[] = [];
  for (let i = 0; i < cols.length; i++) {
    const ands: string[] = [];
    for (let j = 0; j < i; j++) ands.push(`${cols[j]} = ${p.add(values[j])}`);
    ands.push(`${cols[i]} ${i === cols.length - 1 ? op : strict} ${p.add(values[i])}`);
    ors.push(ands.length === 1 ? ands[0]! : `(${ands.join(' AND ')})`);
  }
  return `(${ors.join(' OR ')})`;
}

export interface TableSpec {
  table: string;
  keyFields: string[];
  /** Columns to read (`*` when omitted); key fields and `extraColumns` are added. */
  columns?: string[];
  extraColumns?: string[];
  /** Trusted SQL condition from the config, wrapped in parentheses. */
  where?: string;
}

/** Key values to bind, per key field, for a range bound or a resume point. */
export interface KeyBounds {
  after?: unknown[] | null;
  from?: unknown[] | null;
  to?: unknown[] | null;
}

function selectList(dialect: SqlDialect, spec: TableSpec): string {
  if (!spec.columns || spec.columns.length === 0) return '*';
  const cols = [...spec.columns];
  for (const k of [...spec.keyFields, ...(spec.extraColumns ?? [])]) if (!cols.includes(k)) cols.push(k);
  return cols.map((c) => dialect.quoteIdent(c)).join(', ');
}

function baseConditions(dialect: SqlDialect, spec: TableSpec, bounds: KeyBounds, p: SqlParams): string[] {
  const keys = spec.keyFields.map((k) => dialect.quoteIdent(k));
  const conds: string[] = [];
  if (spec.where && spec.where.trim()) conds.push(`(${spec.where})`);
  for (const k of keys) conds.push(`${k} IS NOT NULL`);
  if (bounds.from) conds.push(keysetCondition(dialect, keys, bounds.from, '>=', p));
  if (bounds.after) conds.push(keysetCondition(dialect, keys, bounds.after, '>', p));
  if (bounds.to) conds.push(keysetCondition(dialect, keys, bounds.to, '<', p));
  return conds;
}

/** One page in key order after `bounds.after`, within [from, to). */
export function buildScanQuery(dialect: SqlDialect, spec: TableSpec & { limit: number } & KeyBounds): BuiltQuery {
  const p = new SqlParams(dialect);
  const conds = baseConditions(dialect, spec, spec, p);
  const order = spec.keyFields.map((k) => dialect.quoteIdent(k)).join(', ');
  const sql = `SELECT ${selectList(dialect, spec)} FROM ${quoteQualifiedWith(dialect.quoteIdent, spec.table)} WHERE ${conds.join(' AND ')} ORDER BY ${order} LIMIT ${p.add(spec.limit)}`;
  return { sql, params: p.values };
}

/** `count(*)` of the rows a scan would read (within [from, to)). */
export function buildCountQuery(dialect: SqlDialect, spec: TableSpec & KeyBounds): BuiltQuery {
  const p = new SqlParams(dialect);
  const conds = baseConditions(dialect, { ...spec, columns: undefined }, { from: spec.from, to: spec.to }, p);
  return { sql: `SELECT count(*) AS n FROM ${quoteQualifiedWith(dialect.quoteIdent, spec.table)} WHERE ${conds.join(' AND ')}`, params: p.values };
}

/**
 * The rows with these key values (that still match `where`). `select: 'keys'` reads only the key
 * columns (the polling source's existence probe).
 */
export function buildKeysQuery(dialect: SqlDialect, spec: TableSpec & { keys: unknown[][]; select?: 'row' | 'keys' }): BuiltQuery {
  const p = new SqlParams(dialect);
  const cols = spec.keyFields.map((k) => dialect.quoteIdent(k));
  let match: string;
  if (cols.length === 1) match = `${cols[0]} IN (${spec.keys.map((k) => p.add(k[0])).join(', ')})`;
  else if (dialect.rowValues) match = `(${cols.join(', ')}) IN (${spec.keys.map((k) => `(${cols.map((_, i) => p.add(k[i])).join(', ')})`).join(', ')})`;
  else match = `(${spec.keys.map((k) => `(${cols.map((c, i) => `${c} = ${p.add(k[i])}`).join(' AND ')})`).join(' OR ')})`;
  const where = spec.where && spec.where.trim() ? `(${spec.where}) AND ` : '';
  const select = spec.select === 'keys' ? cols.join(', ') : selectList(dialect, spec);
  return { sql: `SELECT ${select} FROM ${quoteQualifiedWith(dialect.quoteIdent, spec.table)} WHERE ${where}${match}`, params: p.values };
}

/** A driver row as doc values (the polling source's normalisation). */
export function normalizeRow(dialect: Pick<SqlDialect, 'normalizeValue'>, row: Record<string, unknown>): Doc {
  const out: Doc = {};
  for (const k of Object.keys(row)) out[k] = dialect.normalizeValue(row[k]);
  return out;
}

/**
 * What a Reader of a pipeline's source reads: in poll mode the same columns and `where` as the
 * polling source (plus its incremental column, as its full scan reads it), so both produce the
 * same rows; in other modes (logical, binlog, triggers) the whole table.
 */
export function readerTableSpec(collection: string, keyFields: string[], options: unknown): TableSpec {
  const o = (options ?? {}) as { mode?: string; columns?: string[]; where?: string; incremental?: { column: string } };
  const poll = o.mode === undefined || o.mode === 'poll';
  if (!poll) return { table: collection, keyFields };
  return { table: collection, keyFields, columns: o.columns, where: o.where, extraColumns: o.incremental ? [o.incremental.column] : [] };
}

export interface SqlReaderInit extends TableSpec {
  dialect: SqlDialect;
  /** Opens (or returns) the query port; called per query so a lost connection can be reopened. */
  port: () => Promise<SqlQueryPort> | SqlQueryPort;
  /** Called after a failed query (e.g. to drop a broken connection). */
  onError?: (err: unknown) => void | Promise<void>;
  close?: () => Promise<void>;
}

/** A {@link Reader} over one SQL table; see the module comment. */
export class SqlReader implements Reader {
  readonly order = 'key' as const;
  private readonly dialect: SqlDialect;

  constructor(private readonly init: SqlReaderInit) {
    this.dialect = init.dialect;
    if (init.keyFields.length === 0) throw new TypeError(`a SQL reader of "${init.table}" needs at least one key field`);
  }

  private async query(q: BuiltQuery): Promise<Record<string, unknown>[]> {
    try {
      const port = await this.init.port();
      return await port.query(q.sql, q.params);
    } catch (err) {
      try { await this.init.onError?.(err); } catch {}
      throw err;
    }
  }

  /** Key values of a canonical key, to bind. */
  private bind(key: string | null | undefined): unknown[] | null {
    if (key === null || key === undefined) return null;
    const v = keyValues(key, this.init.keyFields);
    return this.init.keyFields.map((f) => v[f]);
  }

  private toRows(raw: Record<string, unknown>[]): ReadRow[] {
    const rows: ReadRow[] = [];
    for (const r of raw) {
      const doc = normalizeRow(this.dialect, r);
      // key columns are NOT NULL in the query; an empty text key is not a key (canonicalKey refuses it)
      let key: string;
      try {
        key = canonicalKey(doc, this.init.keyFields);
      } catch {
        continue;
      }
      rows.push({ key, doc });
    }
    return rows;
  }

  async *scan(opts: ScanOptions): AsyncGenerator<ScanPage> {
    const limit = Math.max(1, Math.floor(opts.limit));
    const from = this.bind(opts.range?.from);
    const to = this.bind(opts.range?.to);
    // the next page binds the previous page's last row as the driver returned it (exact types)
    let after: unknown[] | null = this.bind(opts.after);
    for (;;) {
      if (opts.signal?.aborted) return;
      const raw = await this.query(buildScanQuery(this.dialect, { ...this.init, limit, after, from, to }));
      const rows = this.toRows(raw);
      const full = raw.length >= limit;
      const cursor = full && rows.length ? rows[rows.length - 1]!.key : null;
      if (rows.length || !full) yield { rows, cursor };
      if (!full) return;
      const last = raw[raw.length - 1]!;
      after = this.init.keyFields.map((k) => last[k]);
    }
  }

  async getByKeys(keys: string[], signal?: AbortSignal): Promise<Map<string, Doc>> {
    const out = new Map<string, Doc>();
    const unique = [...new Set(keys)];
    const per = Math.max(1, Math.min(500, Math.floor(this.dialect.maxParams / this.init.keyFields.length) - 10));
    for (let i = 0; i < unique.length; i += per) {
      if (signal?.aborted) break;
      const part: unknown[][] = [];
      for (const k of unique.slice(i, i + per)) {
        try {
          part.push(this.bind(k)!);
        } catch {} // not a key of this table's shape: it cannot exist
      }
      if (!part.length) continue;
      for (const r of this.toRows(await this.query(buildKeysQuery(this.dialect, { ...this.init, keys: part })))) out.set(r.key, r.doc);
    }
    return out;
  }

  async count(opts: { range?: ScanOptions['range']; signal?: AbortSignal } = {}): Promise<number> {
    const rows = await this.query(buildCountQuery(this.dialect, { ...this.init, from: this.bind(opts.range?.from), to: this.bind(opts.range?.to) }));
    return Number(rows[0]?.n ?? 0);
  }

  async close(): Promise<void> {
    await this.init.close?.();
  }
}

/** Factory used by the sqlite, postgres and mariadb connectors' `createReader`. */
export function createSqlReader(init: SqlReaderInit): SqlReader {
  return new SqlReader(init);
}
