/**
 * SQL text builders of the polling source, on the SQL kit (sql-reader.ts): a full-scan page is
 * the Reader's keyset page; an incremental page orders by (column, key) with the same keyset
 * condition; the existence probe that finds deleted rows is the Reader's get-by-keys query
 * reading only the key columns. Identifiers are quoted by the dialect; values are always
 * bound parameters.
 */
import type { SqlDialect } from './sql-dialect.js';
import { quoteQualifiedWith } from './sql-dialect.js';
import { buildKeysQuery, buildScanQuery, keysetCondition, SqlParams, type BuiltQuery } from './sql-reader.js';

export type { BuiltQuery } from './sql-reader.js';

/**
 * What the builders need of a dialect. A bare port (`quoteIdent`, optional `placeholder`) also
 * fits: then placeholders are `?` and compound keysets are expanded (no row values).
 */
export interface DialectLike {
  quoteIdent(name: string): string;
  placeholder?(n: number): string;
  rowValues?: boolean;
}

function asDialect(d: DialectLike): SqlDialect {
  return { rowValues: false, ...d, placeholder: d.placeholder ? (n: number) => d.placeholder!(n) : () => '?' } as SqlDialect;
}

export interface PageQueryInput {
  table: string;
  /** Columns to select (`*` when omitted). Key fields (and the incremental column) are added. */
  columns?: string[];
  keyFields: string[];
  /** Raw SQL condition from the config (trusted), wrapped in parentheses. */
  where?: string;
  limit: number;
  /** Extra columns always read (e.g. the incremental column during a full scan). */
  extraColumns?: string[];
  /** Key values of the last row of the previous page (raw driver values), null for the first page. */
  afterKey: unknown[] | null;
  /** Incremental scan: order by this column first. */
  incremental?: {
    column: string;
    /** First page: rows with column >= from (re-reads the last value to catch late commits). */
    from: unknown;
    /** Later pages: the (column value, key values) of the last row read. */
    after?: { value: unknown; key: unknown[] } | null;
  };
}

/** One page of a full scan (key order) or of an incremental scan ((column, key) order). */
export function buildPageQuery(dialectLike: DialectLike, input: PageQueryInput): BuiltQuery {
  const dialect = asDialect(dialectLike);
  if (!input.incremental) {
    return buildScanQuery(dialect, { table: input.table, keyFields: input.keyFields, columns: input.columns, extraColumns: input.extraColumns, where: input.where, limit: input.limit, after: input.afterKey });
  }
  const p = new SqlParams(dialect);
  const keys = input.keyFields.map((k) => dialect.quoteIdent(k));
  const col = dialect.quoteIdent(input.incremental.column);
  const conds: string[] = [];
  if (input.where && input.where.trim()) conds.push(`(${input.where})`);
  for (const k of keys) conds.push(`${k} IS NOT NULL`);
  conds.push(`${col} IS NOT NULL`);
  const order = [col, ...keys];
  const after = input.incremental.after;
  if (after) conds.push(keysetCondition(dialect, order, [after.value, ...after.key], '>', p));
  else if (input.incremental.from !== undefined && input.incremental.from !== null) conds.push(`${col} >= ${p.add(input.incremental.from)}`);
  const extra = [...(input.extraColumns ?? []), input.incremental.column];
  let select = '*';
  if (input.columns && input.columns.length) {
    const cols = [...input.columns];
    for (const k of [...input.keyFields, ...extra]) if (!cols.includes(k)) cols.push(k);
    select = cols.map((c) => dialect.quoteIdent(c)).join(', ');
  }
  const sql = `SELECT ${select} FROM ${quoteQualifiedWith(dialect.quoteIdent, input.table)} WHERE ${conds.join(' AND ')} ORDER BY ${order.join(', ')} LIMIT ${p.add(input.limit)}`;
  return { sql, params: p.values };
}

/** Which of these keys still exist (and still match `where`): selects only the key columns. */
export function buildExistsQuery(dialectLike: DialectLike, input: { table: string; keyFields: string[]; where?: string; keys: unknown[][] }): BuiltQuery {
  return buildKeysQuery(asDialect(dialectLike), { ...input, select: 'keys' });
}
