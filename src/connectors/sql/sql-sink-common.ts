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
 *     ? buildDeleteSql('postgres', { table, keyFields, versionField, rows: g.rows })
 *     : buildUpsertSql('postgres', { table, keyFields, columns: g.columns, updateColumns: g.updateColumns, versionField, rows: g.rows, returning: true });
 * }
 */
import { keyValues } from '../../core/delta.js';
import { PermanentError } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import { isStale, staleResult, type SinkItem, type SinkResult } from '../contract.js';

export type SqlDialect = 'postgres' | 'mariadb' | 'sqlite';

/** Quote one identifier for a dialect (`"a""b"` for PostgreSQL/SQLite, `` `a``b` `` for MariaDB); NUL refused. */
export function quoteIdentFor(dialect: SqlDialect, name: string): string {
  if (name.includes('\u0000')) throw new PermanentError(`identifier ${JSON.stringify(name)} contains a NUL character`);
  if (dialect === 'mariadb') return `\`${name.replaceAll('`', '``')}\``;
  return `"${name.replaceAll('"', '""')}"`;
}

/** A possibly schema-qualified table name (`legacy.INSPECTIONS`), each part quoted. */
export function quoteTableFor(dialect: SqlDialect, table: string): string {
  return table.split('.').map((p) => quoteIdentFor(dialect, p)).join('.');
}

/** The n-th (1-based) bound-parameter placeholder of a dialect. */
export function placeholderFor(dialect: SqlDialect, n: number): string {
  return dialect === 'postgres' ? `$${n}` : '?';
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

/** A multi-row upsert (or plain insert) of `rows` with optional version fencing. */
export function buildUpsertSql(dialect: SqlDialect, input: UpsertSqlInput): BuiltSql {
  const q = (n: string) => quoteIdentFor(dialect, n);
  const conv = input.toParam ?? ((v: unknown) => v);
  const params: unknown[] = [];
  const tuples = input.rows.map((r) => `(${input.columns.map((c) => {
    params.push(conv(r.values[c] ?? null, c));
    return placeholderFor(dialect, params.length);
  }).join(', ')})`);
  const cols = input.columns.map(q).join(', ');
  const table = quoteTableFor(dialect, input.table);
  const vf = input.versionField;
  if (input.mode === 'insert') return { sql: `INSERT INTO ${table} (${cols}) VALUES ${tuples.join(', ')}`, params };
  const keys = input.keyFields.map(q).join(', ');
  if (dialect === 'mariadb') {
    const newer = vf ? `(${q(vf)} IS NULL OR ${q(vf)} < VALUES(${q(vf)}))` : null;
    const sets = input.updateColumns.filter((c) => c !== vf).map((c) => `${q(c)} = ${newer ? `IF(${newer}, VALUES(${q(c)}), ${q(c)})` : `VALUES(${q(c)})`}`);
    if (vf && input.columns.includes(vf)) sets.push(`${q(vf)} = IF(${newer}, VALUES(${q(vf)}), ${q(vf)})`);
    // a no-op assignment keeps "insert or ignore" semantics when nothing is to be updated
    const update = sets.length ? sets.join(', ') : `${q(input.keyFields[0]!)} = ${q(input.keyFields[0]!)}`;
    return { sql: `INSERT INTO ${table} (${cols}) VALUES ${tuples.join(', ')} ON DUPLICATE KEY UPDATE ${update}`, params };
  }
  const ex = dialect === 'postgres' ? 'EXCLUDED' : 'excluded';
  const sets = input.updateColumns.map((c) => `${q(c)} = ${ex}.${q(c)}`);
  let action = sets.length ? `DO UPDATE SET ${sets.join(', ')}` : 'DO NOTHING';
  if (sets.length && vf) action += ` WHERE ${T}.${q(vf)} IS NULL OR ${T}.${q(vf)} < ${ex}.${q(vf)}`;
  let sql = `INSERT INTO ${table} AS ${T} (${cols}) VALUES ${tuples.join(', ')} ON CONFLICT (${keys}) ${action}`;
  if (input.returning) sql += ` RETURNING ${returningKeys(dialect, input.keyFields)}`;
  return { sql, params };
}

/** `RETURNING` list giving each key column as text (`k0`, `k1`...), for {@link rowKeyOf}. */
function returningKeys(dialect: SqlDialect, keyFields: string[]): string {
  const q = (n: string) => quoteIdentFor(dialect, n);
  return keyFields.map((k, i) => (dialect === 'postgres' ? `${T}.${q(k)}::text AS k${i}` : `CAST(${q(k)} AS TEXT) AS k${i}`)).join(', ');
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
    return placeholderFor(dialect, params.length);
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
