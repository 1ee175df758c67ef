/**
 * Shared pieces of the SQL sinks (PostgreSQL, MariaDB/MySQL, SQLite): turning sink items into
 * rows, grouping them into batched statements, and building dialect-specific upsert/delete SQL
 * with optional VERSION FENCING.
 *
 * Version fencing (`versionField: 'version'` or `'updated_at'`): a row is written only when the
 * incoming version is newer than the stored one, so a replay or a late retry never moves a row
 * backwards. The comparison happens inside the database, in the column's own type:
 * - postgres: `INSERT ... ON CONFLICT (k) DO UPDATE SET ... WHERE t.v IS NULL OR t.v < EXCLUDED.v RETURNING k`
 *   (rows missing from RETURNING were skipped as stale);
 * The shapes live in each database's dialect object (`dialect.upsert`); this file only assembles them.
 * - sqlite:   same shape (`excluded.v`), `RETURNING` needs SQLite >= 3.35;
 * - mariadb:  `INSERT ... ON DUPLICATE KEY UPDATE c = IF(<newer>, VALUES(c), c), ..., v = IF(<newer>, VALUES(v), v)`
 *   (the version column is assigned LAST, because MariaDB/MySQL evaluate assignments left to
 *   right and later ones see the already-updated values). Per-row skip detection is not
 *   available in a multi-row statement there: run one row per statement and read affectedRows
 *   (0 = skipped or identical, 1 = inserted, 2 = updated) when it is needed.
 * A fenced delete removes the row only when the stored version is not newer than the delete's
 * version (taken from `delta.before[versionField]` when known; unknown means unconditional).
 *
 * @example
 * const plan = planSqlWrites(items, { versionField: 'version' });
 * for (const g of plan.groups) {
 *   const { sql, params } = g.kind === 'delete'
 *     ? buildDeleteSql(postgresDialect, { table, keyFields, versionField, rows: g.rows })
 *     : buildUpsertSql(postgresDialect, { table, keyFields, columns: g.columns, updateColumns: g.updateColumns, versionField, rows: g.rows, returning: true });
 * }
 */
import { keyValues } from '../../core/delta.js';
import { PermanentError } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import { isStale, staleResult, type SinkItem, type SinkResult } from '../contract.js';
import type { SqlDialect } from './sql-dialect.js';

/** Quote one identifier with the dialect; a NUL in a name is a permanent error (the data will not change). */
export function quoteIdentFor(dialect: Pick<SqlDialect, 'quoteIdent'>, name: string): string {
  try {
    return dialect.quoteIdent(name);
  } catch (err) {
    throw new PermanentError(`identifier ${JSON.stringify(name)} contains a NUL character`, { cause: err });
  }
}

/** A possibly schema-qualified table name (`legacy.INSPECTIONS`), each part quoted. */
export function quoteTableFor(dialect: Pick<SqlDialect, 'quoteIdent'>, table: string): string {
  return table.split('.').map((p) => quoteIdentFor(dialect, p)).join('.');
}

/** One row to write: the item's index in the batch, the key values and the column values. */
export interface PlannedRow {
  index: number;
  /** Canonical key string (the delta's key). */
  key: string;
  /** Column -> value, keys included (for a delete: only keys, plus the version when fenced). */
  values: Doc;
}

/** One batched statement's worth of rows sharing the same shape. */
export interface WriteGroup {
  kind: 'upsert' | 'delete';
  /** Columns written (keys first, then the others in a stable order). Deletes: key fields. */
  columns: string[];
  /** Non-key columns set when the row exists (upserts only). */
  updateColumns: string[];
  rows: PlannedRow[];
  /** Delete groups: whether the rows carry a version to fence on. */
  fenced?: boolean;
}

export interface PlanOptions {
  /** Column holding the row version (number or timestamp); enables fencing. */
  versionField?: string;
  /** `changed` (default): an update sets only the changed columns; `all`: every column of the new state. */
  updateColumns?: 'changed' | 'all';
  /** Largest number of rows per statement (default 500). */
  maxRows?: number;
}

export interface WritePlan {
  groups: WriteGroup[];
  /** Items that could not be planned (e.g. the version field missing), by index. */
  failed: Map<number, Error>;
}

/**
 * Split a batch of sink items into statement groups. Items of the same key are kept in
 * separate groups in their batch order (a multi-row upsert cannot touch a row twice); rows
 * with the same operation and column shape share a group, up to `maxRows`.
 */
export function planSqlWrites(items: SinkItem[], opts: PlanOptions = {}): WritePlan {
  const maxRows = opts.maxRows ?? 500;
  const groups: WriteGroup[] = [];
  const failed = new Map<number, Error>();
  const open = new Map<string, WriteGroup>();
  // A later item for a key already written earlier in this batch must come after it: close
  // every open group so the rest of the batch starts new groups behind it.
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const { delta, keyFields } = item;
    if (seen.has(delta.key)) {
      open.clear();
      seen.clear();
    }
    seen.add(delta.key);
    let keyDoc: Doc;
    try {
      keyDoc = keyValues(delta.key, keyFields);
    } catch (err) {
      failed.set(index, new PermanentError(`key ${JSON.stringify(delta.key)} does not match the key fields ${keyFields.join(', ')} of "${item.collection}"`, { cause: err }));
      return;
    }
    let group: WriteGroup;
    let values: Doc;
    if (delta.op === 'delete') {
      values = { ...keyDoc };
      const v = opts.versionField ? delta.before?.[opts.versionField] : undefined;
      const fenced = v !== undefined && v !== null;
      if (fenced) values[opts.versionField!] = v;
      const sig = `D|${fenced ? 1 : 0}|${keyFields.join('\u0001')}`;
      group = take(sig, () => ({ kind: 'delete', columns: [...keyFields], updateColumns: [], rows: [], fenced }));
    } else {
      const row: Doc = { ...keyDoc, ...(delta.state ?? delta.changed) };
      for (const [k, v] of Object.entries(delta.changed)) if (!(k in row)) row[k] = v;
      for (const k of Object.keys(row)) if (row[k] === undefined) delete row[k];
      if (opts.versionField && (row[opts.versionField] === undefined || row[opts.versionField] === null)) {
        failed.set(index, new PermanentError(`version field "${opts.versionField}" is missing in the ${delta.op} of key ${JSON.stringify(delta.key)} for "${item.collection}"; version fencing needs it in every written row (or remove versionField)`, { details: { column: opts.versionField, key: delta.key } }));
        return;
      }
      const others = Object.keys(row).filter((f) => !keyFields.includes(f)).sort();
      const columns = [...keyFields, ...others];
      const changed = Object.keys(delta.changed);
      let update = (opts.updateColumns === 'all' || delta.op === 'insert' || changed.length === 0 ? others : others.filter((f) => changed.includes(f)));
      if (opts.versionField && !update.includes(opts.versionField) && others.includes(opts.versionField)) update = [...update, opts.versionField].sort();
      const sig = `U|${columns.join('\u0001')}|${update.join('\u0001')}`;
      group = take(sig, () => ({ kind: 'upsert', columns, updateColumns: update, rows: [] }));
      values = row;
    }
    group.rows.push({ index, key: delta.key, values });
  });
  return { groups, failed };

  function take(sig: string, make: () => WriteGroup): WriteGroup {
    let g = open.get(sig);
    if (!g || g.rows.length >= maxRows) {
      g = make();
      groups.push(g);
      open.set(sig, g);
    }
    return g;
  }
}

export interface UpsertSqlInput {
  table: string;
  keyFields: string[];
  columns: string[];
  updateColumns: string[];
  rows: PlannedRow[];
  versionField?: string;
  /** postgres/sqlite: add `RETURNING <keys as text>` so skipped (stale) rows can be told apart. */
  returning?: boolean;
  /** `insert`: a plain INSERT (append-only tables); default `upsert`. */
  mode?: 'upsert' | 'insert';
  /** Converts a doc value to a bindable parameter (dialect driver specifics). */
  toParam?: (value: unknown, column: string) => unknown;
}

export interface BuiltSql {
  sql: string;
  params: unknown[];
}

/** Alias of the target table inside upsert statements (PostgreSQL and SQLite). */
const T = 'hms_t';

/** A multi-row upsert (or plain insert) of `rows` with optional version fencing, in the dialect's upsert shape. */
export function buildUpsertSql(dialect: SqlDialect, input: UpsertSqlInput): BuiltSql {
  const q = (n: string) => quoteIdentFor(dialect, n);
  const conv = input.toParam ?? ((v: unknown) => v);
  const params: unknown[] = [];
  const tuples = input.rows.map((r) => `(${input.columns.map((c) => {
    params.push(conv(r.values[c] ?? null, c));
    return dialect.placeholder(params.length);
  }).join(', ')})`);
  const cols = input.columns.map(q).join(', ');
  const table = quoteTableFor(dialect, input.table);
  if (input.mode === 'insert') return { sql: `INSERT INTO ${table} (${cols}) VALUES ${tuples.join(', ')}`, params };
  for (const c of [...input.keyFields, ...input.updateColumns]) q(c); // a NUL in a name fails here, permanently
  const shape = dialect.upsert;
  const clause = shape.clause({ keyFields: input.keyFields, updateColumns: input.updateColumns, columns: input.columns, versionField: input.versionField, target: T });
  let sql = `INSERT INTO ${table}${shape.aliasTarget ? ` AS ${T}` : ''} (${cols}) VALUES ${tuples.join(', ')} ${clause}`;
  const returning = input.returning ? shape.returningKeys(input.keyFields, T) : null;
  if (returning) sql += ` RETURNING ${returning}`;
  return { sql, params };
}

/** Comparable key of a RETURNING row (`k0`, `k1`...) or of a planned row. */
export function rowKeyOf(values: unknown[]): string {
  return values.map((v) => (v === null || v === undefined ? '\u0000' : typeof v === 'object' ? JSON.stringify(v) : String(v))).join('\u0001');
}

/** The comparable key of a planned row (same format as the RETURNING rows give). */
export function plannedRowKey(row: PlannedRow, keyFields: string[]): string {
  return rowKeyOf(keyFields.map((k) => row.values[k]));
}

/** The comparable key of a RETURNING row built by {@link buildUpsertSql} with `returning`. */
export function returnedRowKey(row: Record<string, unknown>, keyFields: string[]): string {
  return rowKeyOf(keyFields.map((_, i) => row[`k${i}`]));
}

export interface DeleteSqlInput {
  table: string;
  keyFields: string[];
  rows: PlannedRow[];
  /** With fencing: delete only where the stored version is not newer than the row's version. */
  versionField?: string;
  fenced?: boolean;
  toParam?: (value: unknown, column: string) => unknown;
}

/** A batched delete by key (`WHERE (k1 = ? AND k2 = ?) OR ...`), optionally version fenced. */
export function buildDeleteSql(dialect: SqlDialect, input: DeleteSqlInput): BuiltSql {
  const q = (n: string) => quoteIdentFor(dialect, n);
  const conv = input.toParam ?? ((v: unknown) => v);
  const params: unknown[] = [];
  const add = (v: unknown, c: string) => {
    params.push(conv(v ?? null, c));
    return dialect.placeholder(params.length);
  };
  const fence = input.fenced && input.versionField ? input.versionField : null;
  const conds = input.rows.map((r) => {
    const parts = input.keyFields.map((k) => `${q(k)} = ${add(r.values[k], k)}`);
    if (fence) parts.push(`(${q(fence)} IS NULL OR ${q(fence)} <= ${add(r.values[fence], fence)})`);
    return parts.length === 1 ? parts[0]! : `(${parts.join(' AND ')})`;
  });
  return { sql: `DELETE FROM ${quoteTableFor(dialect, input.table)} WHERE ${conds.join(' OR ')}`, params };
}

/** A `stale` result for a write skipped by version fencing (the stored row is newer or equal). */
export const skippedResult = (reason = 'stale-version'): SinkResult => staleResult(reason);

/** Whether a sink result is a write skipped as stale. */
export const isSkipped = (r: SinkResult): boolean => isStale(r);

/** Columns of `fields` missing from `columns` (to report the first by name). */
export function missingColumns(fields: string[], columns: ReadonlySet<string>): string[] {
  return fields.filter((f) => !columns.has(f));
}

/**
 * A view of a connection whose `query` refuses to start once `signal` aborted (rejecting with
 * `aborted()`): a cancelled sink call sends no further statement, and above all no COMMIT.
 * Everything else is the connection itself.
 */
export function guardQueries<C extends object>(conn: C, signal: AbortSignal, aborted: () => Error): C {
  return new Proxy(conn, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      if (prop !== 'query') return (v as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => (signal.aborted ? Promise.reject(aborted()) : (v as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
}

