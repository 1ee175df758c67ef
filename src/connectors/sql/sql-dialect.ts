/**
 * What the SQL kit (sql-reader.ts, poll-query-builder.ts, sql-sink-common.ts) and trigger capture
 * (../triggers/) need to know about one database, as ONE object per database:
 * `sqliteDialect` (../sqlite/sqlite-dialect.ts), `postgresDialect` (../postgres/postgres-dialect.ts),
 * `mariadbDialect` (../mariadb/mariadb-dialect.ts). The kit calls these members instead of
 * switching on a dialect name; adding a database means writing one more object.
 *
 * @example
 * const q = buildScanQuery(postgresDialect, { table: 'permit', keyFields: ['id'], limit: 500, after: ['P-7'] });
 * // SELECT * FROM "permit" WHERE "id" IS NOT NULL AND "id" > $1 ORDER BY "id" LIMIT $2
 */
import type { CaptureInput, CaptureQueryPort } from '../triggers/capture-names.js';

export type SqlDialectName = 'sqlite' | 'postgres' | 'mariadb';

/** A column of a table as the catalogue describes it (lower-case type). */
export interface ColumnType {
  name: string;
  type: string;
}

/** The trigger-capture pieces of a dialect (used by ../triggers/trigger-ddl.ts and trigger-source.ts). */
export interface TriggerDialectPieces {
  /** Statements (after the change-log DDL) that create capture on one table: function and/or triggers. */
  captureStatements(db: CaptureQueryPort, input: CaptureInput): Promise<string[]>;
  /** Statements that drop capture on one table (`tableExists` false: the table is already gone). */
  uninstallStatements(base: string, qualifiedTable: string, tableExists: boolean): string[];
  /** A query giving one row with a non-null `r` when the table exists, where dropping capture needs to know. */
  tableCheck?(qualifiedTable: string): { sql: string; params: unknown[] };
  /** Delete change-log rows by id: statements for a list of ids. */
  pruneStatements(changelog: string, ids: number[]): Array<{ sql: string; params: unknown[] }>;
  /** `CREATE TABLE IF NOT EXISTS` (and index) of the change-log table, already quoted name `table`. */
  changelogDdl(table: string, indexName: string): string[];
  /** Query listing the columns of a table: `{ c, t }` rows in table order; `schema` null = the current one. */
  columnsQuery(name: string, schema: string | null): { sql: string; params: unknown[] };
  /** Query listing the hms-sync capture triggers (`n` column) whose names match `like`. */
  triggersQuery(like: string): { sql: string; params: unknown[] };
  /** Query giving one row when the change-log table `name` exists. */
  tableExistsQuery(name: string): { sql: string; params: unknown[] };
  /** Names of the triggers capture creates for a table, given its base name. */
  triggerNames(base: string): string[];
  /** How a change-log image column is selected (`pk::text AS pk` where the driver would parse JSON itself). */
  selectImage(column: string): string;
  /**
   * Converter of a text value in a row image for a column of this type, so trigger images read as
   * the polling source reads rows (date-times as ISO-8601, bytes as base64...); null = keep as is.
   */
  imageConverter(type: string): ((v: string) => unknown) | null;
  /** Whether row images may hold the BLOB marker object (SQLite). */
  readonly blobMarkers: boolean;
}

/** One database's SQL: quoting, placeholders, comparisons, upsert shape, value normalisation. */
export interface SqlDialect {
  readonly name: SqlDialectName;
  /** Quote one identifier (`"a""b"` or `` `a``b` ``); throws on a NUL character. */
  quoteIdent(name: string): string;
  /** A string literal, safe in this database's default modes. */
  quoteLiteral(value: string): string;
  /** The n-th (1-based) bound-parameter placeholder: `?` or `$n`. */
  placeholder(n: number): string;
  /**
   * Whether `(a, b) > (?, ?)` row-value comparisons are supported AND served by the key index.
   * When false the kit expands them (`a > ? OR (a = ? AND b > ?)`).
   */
  readonly rowValues: boolean;
  /** Bound parameters one statement may carry safely (the kit chunks key lists below this). */
  readonly maxParams: number;
  /** A driver value as the doc value hms-sync carries (the polling source's normalisation). */
  normalizeValue(v: unknown): unknown;
  /**
   * Upsert conflict clause for `INSERT ... VALUES ...` given the quoted target alias (`hms_t`) and
   * what to set; the version-fencing condition `newer` compares the stored and incoming version.
   */
  readonly upsert: UpsertShape;
  /** Trigger capture DDL and catalogue queries. */
  readonly triggers: TriggerDialectPieces;
}

/** How a dialect writes "insert, or update when the key exists". */
export interface UpsertShape {
  /** `INSERT INTO t AS hms_t` (true) or `INSERT INTO t` (false: the table name itself is the alias). */
  readonly aliasTarget: boolean;
  /**
   * The clause after `VALUES (...)`: `ON CONFLICT (keys) DO UPDATE SET ... WHERE ...` or
   * `ON DUPLICATE KEY UPDATE ...`. `q` quotes identifiers; `target` is the alias of the stored row.
   */
  clause(input: { keyFields: string[]; updateColumns: string[]; columns: string[]; versionField?: string; target: string }): string;
  /** `RETURNING` list of the key columns as text (`k0`, `k1`...), or null when the dialect has no RETURNING. */
  returningKeys(keyFields: string[], target: string): string | null;
}

/** Standard SQL identifier quoting (double quotes, embedded quotes doubled; NUL refused). */
export function quoteIdentDouble(name: string): string {
  if (name.includes('\u0000')) throw new TypeError(`identifier ${JSON.stringify(name)} contains a NUL character`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** Standard SQL string literal (single quotes doubled). */
export function quoteLiteralStandard(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
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

/** A possibly schema-qualified name (`main.INSPECTIONS`), each part quoted. */
export function quoteQualifiedWith(quote: (name: string) => string, name: string): string {
  return name.split('.').map(quote).join('.');
}

/** `ON CONFLICT (k) DO UPDATE SET c = EXCLUDED.c ... [WHERE fence]` (PostgreSQL and SQLite). */
export function onConflictClause(quote: (n: string) => string, excluded: string, input: { keyFields: string[]; updateColumns: string[]; versionField?: string; target: string }): string {
  const sets = input.updateColumns.map((c) => `${quote(c)} = ${excluded}.${quote(c)}`);
  let action = sets.length ? `DO UPDATE SET ${sets.join(', ')}` : 'DO NOTHING';
  const vf = input.versionField;
  if (sets.length && vf) action += ` WHERE ${input.target}.${quote(vf)} IS NULL OR ${input.target}.${quote(vf)} < ${excluded}.${quote(vf)}`;
  return `ON CONFLICT (${input.keyFields.map(quote).join(', ')}) ${action}`;
}

/** `DELETE FROM log WHERE id IN (?, ...)` in chunks of 500 ids. */
export function pruneByIdList(dialect: Pick<SqlDialect, 'placeholder'>, changelog: string, ids: number[]): Array<{ sql: string; params: unknown[] }> {
  const out: Array<{ sql: string; params: unknown[] }> = [];
  for (let i = 0; i < ids.length; i += 500) {
    const part = ids.slice(i, i + 500);
    out.push({ sql: `DELETE FROM ${changelog} WHERE id IN (${part.map((_, j) => dialect.placeholder(j + 1)).join(', ')})`, params: part });
  }
  return out;
}

/**
 * The three AFTER INSERT / UPDATE / DELETE triggers of SQLite and MariaDB, appending row images
 * built by `image(ref, columns)` (`json_object(...)` / `JSON_OBJECT(...)`).
 */
export function rowTriggerStatements(input: CaptureInput, opts: { quote: (n: string) => string; literal: (s: string) => string; image: (ref: 'NEW' | 'OLD', cols: CaptureInput['columns']) => string; body: (stmt: string) => string }): string[] {
  const { changelog: cl, base, qualifiedTable: qt } = input;
  const tl = opts.literal(input.table);
  const keyCols = input.keyFields.map((k) => input.columns.find((c) => c.name === k)!);
  const pk = (ref: 'NEW' | 'OLD') => opts.image(ref, keyCols);
  const names = { I: opts.quote(`${base}_ai`), U: opts.quote(`${base}_au`), D: opts.quote(`${base}_ad`) };
  const body = {
    I: `INSERT INTO ${cl} (tbl, op, pk, row_data) VALUES (${tl}, 'I', ${pk('NEW')}, ${opts.image('NEW', input.columns)})`,
    U: `INSERT INTO ${cl} (tbl, op, pk, row_data, old_data) VALUES (${tl}, 'U', ${pk('NEW')}, ${opts.image('NEW', input.columns)}, ${opts.image('OLD', input.columns)})`,
    D: `INSERT INTO ${cl} (tbl, op, pk, old_data) VALUES (${tl}, 'D', ${pk('OLD')}, ${opts.image('OLD', input.columns)})`,
  };
  const event = { I: 'INSERT', U: 'UPDATE', D: 'DELETE' } as const;
  const ops = ['I', 'U', 'D'] as const;
  return [...ops.map((o) => `DROP TRIGGER IF EXISTS ${names[o]}`), ...ops.map((o) => `CREATE TRIGGER ${names[o]} AFTER ${event[o]} ON ${qt} FOR EACH ROW ${opts.body(body[o])}`)];
}
