import { normalizeSqlValue, quoteIdentDouble } from './sql-dialect.js';

/**
 * The subset of a SQL driver the polling source needs. SQLite, PostgreSQL and MariaDB each
 * provide one (`fromBetterSqlite3`, a pg pool, a mysql pool); the source never sees the vendor type.
 */
export interface SqlQueryPort {
  /** `sqlite`, `postgres`, `mariadb`... (for messages; what differs between databases lives in their dialect objects). */
  readonly dialect: string;
  /** Run a read-only query; rows as plain objects keyed by column name, values as the driver returns them. */
  query(sql: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  /** Quote one identifier safely (`"A""B"` for SQLite/PostgreSQL, `` `a` `` for MariaDB). */
  quoteIdent(name: string): string;
  /** Placeholder of the n-th parameter (1-based): `?` (default) or `$n` for PostgreSQL. */
  placeholder?(index: number): string;
  close?(): Promise<void>;
}

/** Standard SQL identifier quoting (double quotes, embedded quotes doubled; NUL refused). */
export const quoteIdentAnsi = quoteIdentDouble;

/** A possibly schema-qualified name (`main.INSPECTIONS`), each part quoted. */
export function quoteQualified(port: Pick<SqlQueryPort, 'quoteIdent'>, name: string): string {
  return name.split('.').map((p) => port.quoteIdent(p)).join('.');
}

export { normalizeSqlValue };

/** {@link normalizeSqlValue} over every column of a row. */
export function normalizeSqlRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = normalizeSqlValue(v);
  return out;
}
