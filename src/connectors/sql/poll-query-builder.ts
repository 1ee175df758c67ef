/**
 * Pure SQL text builders for the polling source: keyset-paginated page queries (full scan in
 * key order, incremental scan in (column, key) order) and the existence probe used to find
 * deleted rows. Identifiers are quoted by the port; values are always bound parameters.
 */
import type { SqlQueryPort } from './sql-query-port.js';
import { quoteQualified } from './sql-query-port.js';

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

export interface BuiltQuery {
  sql: string;
  params: unknown[];
}

class Params {
  readonly values: unknown[] = [];
  constructor(private readonly port: Pick<SqlQueryPort, 'placeholder'>) {}
  add(v: unknown): string {
    this.values.push(v);
    return this.port.placeholder ? this.port.placeholder(this.values.length) : '?';
  }
}

/** `(k1 > ?) OR (k1 = ? AND k2 > ?) ...`: strictly after `values` in the order of `cols`. */
function keysetAfter(cols: string[], values: unknown[], p: Params): string {
  const ors: string[] = [];
  for (let i = 0; i < cols.length; i++) {
    const ands: string[] = [];
    for (let j = 0; j < i; j++) ands.push(`${cols[j]} = ${p.add(values[j])}`);
    ands.push(`${cols[i]} > ${p.add(values[i])}`);
    ors.push(ands.length === 1 ? ands[0]! : `(${ands.join(' AND ')})`);
  }
  return ors.length === 1 ? ors[0]! : `(${ors.join(' OR ')})`;
}

function selectList(port: Pick<SqlQueryPort, 'quoteIdent'>, input: { columns?: string[]; keyFields: string[]; extra: string[] }): string {
  if (!input.columns || input.columns.length === 0) return '*';
  const cols = [...input.columns];
  for (const k of [...input.keyFields, ...input.extra]) if (!cols.includes(k)) cols.push(k);
  return cols.map((c) => port.quoteIdent(c)).join(', ');
}

/** One page of a full scan (key order) or of an incremental scan ((column, key) order). */
export function buildPageQuery(port: Pick<SqlQueryPort, 'quoteIdent' | 'placeholder'>, input: PageQueryInput): BuiltQuery {
  const p = new Params(port);
  const keys = input.keyFields.map((k) => port.quoteIdent(k));
  const conds: string[] = [];
  if (input.where && input.where.trim()) conds.push(`(${input.where})`);
  for (const k of keys) conds.push(`${k} IS NOT NULL`);
  let order = keys;
  if (input.incremental) {
    const col = port.quoteIdent(input.incremental.column);
    conds.push(`${col} IS NOT NULL`);
    order = [col, ...keys];
    const after = input.incremental.after;
    if (after) conds.push(keysetAfter(order, [after.value, ...after.key], p));
    else if (input.incremental.from !== undefined && input.incremental.from !== null) conds.push(`${col} >= ${p.add(input.incremental.from)}`);
  } else if (input.afterKey) {
    conds.push(keysetAfter(keys, input.afterKey, p));
  }
  const extra = [...(input.extraColumns ?? []), ...(input.incremental ? [input.incremental.column] : [])];
  const select = selectList(port, { columns: input.columns, keyFields: input.keyFields, extra });
  const sql = `SELECT ${select} FROM ${quoteQualified(port, input.table)}${conds.length ? ` WHERE ${conds.join(' AND ')}` : ''} ORDER BY ${order.join(', ')} LIMIT ${p.add(input.limit)}`;
  return { sql, params: p.values };
}

/** Which of these keys still exist (and still match `where`): selects only the key columns. */
export function buildExistsQuery(port: Pick<SqlQueryPort, 'quoteIdent' | 'placeholder'>, input: { table: string; keyFields: string[]; where?: string; keys: unknown[][] }): BuiltQuery {
  const p = new Params(port);
  const cols = input.keyFields.map((k) => port.quoteIdent(k));
  let match: string;
  if (cols.length === 1) match = `${cols[0]} IN (${input.keys.map((k) => p.add(k[0])).join(', ')})`;
  else match = `(${input.keys.map((k) => `(${cols.map((c, i) => `${c} = ${p.add(k[i])}`).join(' AND ')})`).join(' OR ')})`;
  const where = input.where && input.where.trim() ? `(${input.where}) AND ` : '';
  return { sql: `SELECT ${cols.join(', ')} FROM ${quoteQualified(port, input.table)} WHERE ${where}${match}`, params: p.values };
}
