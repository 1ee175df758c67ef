/**
 * The subset of a SQL driver the polling source needs. SQLite, PostgreSQL and MariaDB each
 * provide one (`fromBetterSqlite3`, a pg pool, a mysql pool); the source never sees the vendor type.
 */
export interface SqlQueryPort {
  /** `sqlite`, `postgres`, `mariadb`... (for messages and dialect quirks). */
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
export function quoteIdentAnsi(name: string): string {
  if (name.includes('\u0000')) throw new TypeError(`identifier ${JSON.stringify(name)} contains a NUL character`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** A possibly schema-qualified name (`main.INSPECTIONS`), each part quoted. */
export function quoteQualified(port: Pick<SqlQueryPort, 'quoteIdent'>, name: string): string {
  return name.split('.').map((p) => port.quoteIdent(p)).join('.');
}

/**
 * A driver value as a JSON-compatible doc value, keeping legacy values as read:
 * strings stay strings ("007"), exact 64-bit integers beyond 2^53 become decimal strings,
 * binary becomes base64, dates become ISO strings.
 */
export function normalizeSqlValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (v === undefined) return null;
  return v;
}

/** {@link normalizeSqlValue} over every column of a row. */
export function normalizeSqlRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = normalizeSqlValue(v);
  return out;
}
