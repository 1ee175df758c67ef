/**
 * The checks `hms-sync validate` runs on a SQL source's table (shared by the sqlite, postgres
 * and mariadb connectors): the table exists, and the key, `columns` and `incremental` columns
 * are among its columns; the fields a record of the source holds (for mapping checks).
 */
import { PermanentError } from '../../core/errors.js';
import { didYouMean } from '../../core/suggest.js';
import type { SourceDescription } from '../contract.js';

/** The options of a SQL source that name columns (polling options; other modes have none of them). */
interface ColumnOptions {
  mode?: string;
  columns?: string[];
  incremental?: { column: string };
}

/**
 * Throws a PermanentError naming every key / `columns` / `incremental.column` field the table lacks,
 * with a did-you-mean. `table` is the name shown in the message.
 */
export function checkSqlColumns(table: string, columns: readonly string[], keyFields: readonly string[], options: unknown): void {
  const o = (options ?? {}) as ColumnOptions;
  const problems: string[] = [];
  const missing = (what: string, name: string) => {
    if (!columns.includes(name)) problems.push(`${what} "${name}" is not a column of ${table}${didYouMean(name, columns)}`);
  };
  for (const k of keyFields) missing('key field', k);
  for (const c of o.columns ?? []) missing('from.columns entry', c);
  if (o.incremental) missing('from.incremental.column', o.incremental.column);
  if (problems.length) {
    throw new PermanentError(`${problems.join('; ')}; its columns are ${columns.join(', ')}`, { details: { table, columns: [...columns] } });
  }
}

/** The fields of a record the source yields: the `columns` it selects (with key and incremental columns), else every column. */
export function sqlSourceFields(table: string, columns: readonly string[], keyFields: readonly string[], options: unknown): SourceDescription {
  const o = (options ?? {}) as ColumnOptions;
  const poll = o.mode === undefined || o.mode === 'poll';
  if (poll && o.columns) {
    const selected = new Set([...keyFields, ...o.columns, ...(o.incremental ? [o.incremental.column] : [])]);
    return { fields: columns.filter((c) => selected.has(c)), from: `the columns ${table} selects (from.columns)` };
  }
  return { fields: [...columns], from: `the columns of ${table}` };
}
