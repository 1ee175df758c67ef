/**
 * DDL of trigger-based capture, per dialect: the shared change-log table
 * `hms_sync_changelog (id, tbl, op, pk, row_data, old_data, ts)` and AFTER INSERT / UPDATE /
 * DELETE triggers on one table that append the row images as JSON. op is I, U, D, or W for a
 * backfill watermark. Install is idempotent (drop-if-exists then create); uninstall drops the
 * table's triggers and its pending change-log rows, and the change-log itself once no table
 * uses it any more.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../../core/errors.js';
import { quoteLiteralMariadb } from '../mariadb/mariadb-port.js';
import type { TriggerDb, TriggerDialect } from './trigger-db.js';

export const CHANGELOG_TABLE = 'hms_sync_changelog';
export const TRIGGER_PREFIX = 'hms_sync_';

/** `INSPECTIONS` -> `hms_sync_inspections_1a2b3c` style names (bounded length, unique per table). */
export function triggerBaseName(table: string): string {
  const slug = table.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30);
  const hash = createHash('sha1').update(table).digest('hex').slice(0, 6);
  return `${TRIGGER_PREFIX}${slug}_${hash}`;
}

function lit(dialect: TriggerDialect, s: string): string {
  return dialect === 'mariadb' ? quoteLiteralMariadb(s) : `'${s.replaceAll("'", "''")}'`;
}

/** The schema-qualified parts of a table name: `sales.orders` -> [sales, orders]. */
function split(table: string): { schema: string | null; name: string } {
  const i = table.lastIndexOf('.');
  return i < 0 ? { schema: null, name: table } : { schema: table.slice(0, i), name: table.slice(i + 1) };
}

/**
 * Columns of a table (name and lower-case type), in table order; a clear error when it does
 * not exist. PostgreSQL arrays are typed by their udt_name (`_numeric`, `_text`...).
 */
export async function tableColumnTypes(db: TriggerDb, table: string): Promise<Array<{ name: string; type: string }>> {
  const { schema, name } = split(table);
  let rows: Record<string, unknown>[];
  if (db.dialect === 'sqlite') rows = await db.query('SELECT name AS c, type AS t FROM pragma_table_info(?) ORDER BY cid', [name]);
  else if (db.dialect === 'postgres') {
    // arrays by their element type (`_numeric`, `_int4`...), other columns by data_type
    rows = await db.query(`SELECT column_name AS c, CASE WHEN data_type = 'ARRAY' THEN udt_name ELSE data_type END AS t FROM information_schema.columns WHERE table_name = $1 AND table_schema = ${schema ? '$2' : 'current_schema()'} ORDER BY ordinal_position`, schema ? [name, schema] : [name]);
  } else {
    rows = await db.query(`SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = ? AND table_schema = ${schema ? '?' : 'DATABASE()'} ORDER BY ordinal_position`, schema ? [name, schema] : [name]);
  }
  const cols = rows.map((r) => ({ name: String(r.c ?? r.C ?? r.COLUMN_NAME), type: String(r.t ?? r.T ?? r.DATA_TYPE ?? '').toLowerCase() }));
  if (cols.length === 0) throw new ConfigError(`table ${JSON.stringify(table)} does not exist in the ${db.dialect} database (or has no columns); create it before installing triggers`);
  return cols;
}

/** Column names of a table, in table order. */
export async function tableColumns(db: TriggerDb, table: string): Promise<string[]> {
  return (await tableColumnTypes(db, table)).map((c) => c.name);
}

/** DECIMAL/NUMERIC columns travel as text in the row images, exactly as the other modes carry them. */
function isExactDecimal(type: string): boolean {
  return /^(decimal|numeric)/.test(type);
}

/** PostgreSQL numeric arrays: to_jsonb would turn `{1.10}` into `[1.1]`; they travel as their text form. */
function isNumericArray(type: string): boolean {
  return type === '_numeric';
}

/**
 * MariaDB columns whose values are bytes: JSON_OBJECT cannot hold them (the row image would not
 * be valid utf8mb4 and the application's own write would fail), so they travel as base64, as
 * the polling and binlog modes carry them.
 */
export function isMariadbBinary(type: string): boolean {
  return /^(tinyblob|blob|mediumblob|longblob|binary|varbinary|bit|geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|geometrycollection)$/.test(type);
}

/** Marker object of a SQLite BLOB in a row image (`json_object` refuses BLOBs): hex digits. */
export const SQLITE_BLOB_MARKER = '$hms_blob';

function changelogDdl(db: TriggerDb): string[] {
  const t = db.quoteIdent(CHANGELOG_TABLE);
  if (db.dialect === 'postgres') {
    return [
      `CREATE TABLE IF NOT EXISTS ${t} (id bigserial PRIMARY KEY, tbl text NOT NULL, op char(1) NOT NULL, pk jsonb, row_data jsonb, old_data jsonb, ts timestamptz NOT NULL DEFAULT clock_timestamp())`,
      `CREATE INDEX IF NOT EXISTS ${db.quoteIdent(`${CHANGELOG_TABLE}_tbl_id`)} ON ${t} (tbl, id)`,
    ];
  }
  if (db.dialect === 'mariadb') {
    return [`CREATE TABLE IF NOT EXISTS ${t} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, tbl VARCHAR(255) NOT NULL, op CHAR(1) NOT NULL, pk LONGTEXT NULL, row_data LONGTEXT NULL, old_data LONGTEXT NULL, ts TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), KEY ${db.quoteIdent(`${CHANGELOG_TABLE}_tbl_id`)} (tbl, id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`];
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, pk TEXT, row_data TEXT, old_data TEXT, ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`,
    `CREATE INDEX IF NOT EXISTS ${db.quoteIdent(`${CHANGELOG_TABLE}_tbl_id`)} ON ${t} (tbl, id)`,
  ];
}

/**
 * `json_object('a', NEW."a", ...)` / `JSON_OBJECT(...)` for MariaDB and SQLite: DECIMAL as text
 * and bytes as base64 on MariaDB; on SQLite a BLOB value (any column may hold one) as
 * `{"$hms_blob": "<hex>"}`, turned into base64 when drained.
 */
function jsonObject(db: TriggerDb, rowRef: 'NEW' | 'OLD', cols: Array<{ name: string; type: string }>): string {
  const fn = db.dialect === 'mariadb' ? 'JSON_OBJECT' : 'json_object';
  const val = (c: { name: string; type: string }) => {
    const ref = `${rowRef}.${db.quoteIdent(c.name)}`;
    if (db.dialect === 'sqlite') return `CASE WHEN typeof(${ref}) = 'blob' THEN json_object('${SQLITE_BLOB_MARKER}', hex(${ref})) ELSE ${ref} END`;
    if (isExactDecimal(c.type)) return `CAST(${ref} AS CHAR)`;
    if (isMariadbBinary(c.type)) return `TO_BASE64(${ref})`; // its line breaks (every 76) are removed when drained
    // TIMESTAMP reads in the writing session's time zone: record it in UTC
    if (c.type === 'timestamp') return `CONVERT_TZ(${ref}, @@session.time_zone, '+00:00')`;
    return ref;
  };
  return `${fn}(${cols.map((c) => `${lit(db.dialect, c.name)}, ${val(c)}`).join(', ')})`;
}

export interface TriggerPlan {
  install: string[];
  uninstall: string[];
}

/** The statements that install and uninstall capture for `table` with key `keyFields`. */
export async function planTriggers(db: TriggerDb, table: string, keyFields: string[]): Promise<TriggerPlan> {
  const typed = await tableColumnTypes(db, table);
  const cols = typed.map((c) => c.name);
  for (const k of keyFields) {
    if (!cols.includes(k)) throw new ConfigError(`key field "${k}" is not a column of table ${JSON.stringify(table)}; its columns are: ${cols.join(', ')}`);
  }
  const base = triggerBaseName(table);
  let cl = db.quoteIdent(CHANGELOG_TABLE);
  const qt = table.split('.').map((p) => db.quoteIdent(p)).join('.');
  const tl = lit(db.dialect, table);
  if (db.dialect === 'postgres') {
    // The function runs with the search_path of whoever writes the table (the legacy
    // application), so it names the change-log by the schema it is created in.
    const cs = await db.query('SELECT current_schema() AS s', []);
    const schema = cs[0]?.s;
    if (typeof schema !== 'string' || !schema) throw new ConfigError('the PostgreSQL connection has no current schema (empty search_path); set the system\'s schema option');
    cl = `${db.quoteIdent(schema)}.${cl}`;
    const fn = db.quoteIdent(`${base}_fn`);
    const trg = db.quoteIdent(`${base}_trg`);
    const pk = (ref: string) => `jsonb_build_object(${keyFields.map((k) => `${lit('postgres', k)}, ${ref}.${db.quoteIdent(k)}`).join(', ')})`;
    // numeric columns and numeric arrays as text (as the other modes carry them); at most 50 per jsonb_build_object
    const numeric = typed.filter((c) => isExactDecimal(c.type) || isNumericArray(c.type));
    const img = (ref: string) => {
      let out = `to_jsonb(${ref})`;
      for (let i = 0; i < numeric.length; i += 50) out += ` || jsonb_build_object(${numeric.slice(i, i + 50).map((c) => `${lit('postgres', c.name)}, ${ref}.${db.quoteIdent(c.name)}::text`).join(', ')})`;
      return out;
    };
    return {
      install: [
        ...changelogDdl(db),
        `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $hms$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO ${cl} (tbl, op, pk, row_data) VALUES (${tl}, 'I', ${pk('NEW')}, ${img('NEW')});
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO ${cl} (tbl, op, pk, row_data, old_data) VALUES (${tl}, 'U', ${pk('NEW')}, ${img('NEW')}, ${img('OLD')});
  ELSE
    INSERT INTO ${cl} (tbl, op, pk, old_data) VALUES (${tl}, 'D', ${pk('OLD')}, ${img('OLD')});
  END IF;
  RETURN NULL;
END
$hms$`,
        `DROP TRIGGER IF EXISTS ${trg} ON ${qt}`,
        `CREATE TRIGGER ${trg} AFTER INSERT OR UPDATE OR DELETE ON ${qt} FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
      ],
      uninstall: [
        `DROP TRIGGER IF EXISTS ${trg} ON ${qt}`,
        `DROP FUNCTION IF EXISTS ${fn}()`,
      ],
    };
  }
  const pk = (ref: 'NEW' | 'OLD') => jsonObject(db, ref, keyFields.map((k) => typed.find((c) => c.name === k)!));
  const names = { I: db.quoteIdent(`${base}_ai`), U: db.quoteIdent(`${base}_au`), D: db.quoteIdent(`${base}_ad`) };
  const body = {
    I: `INSERT INTO ${cl} (tbl, op, pk, row_data) VALUES (${tl}, 'I', ${pk('NEW')}, ${jsonObject(db, 'NEW', typed)})`,
    U: `INSERT INTO ${cl} (tbl, op, pk, row_data, old_data) VALUES (${tl}, 'U', ${pk('NEW')}, ${jsonObject(db, 'NEW', typed)}, ${jsonObject(db, 'OLD', typed)})`,
    D: `INSERT INTO ${cl} (tbl, op, pk, old_data) VALUES (${tl}, 'D', ${pk('OLD')}, ${jsonObject(db, 'OLD', typed)})`,
  };
  const event = { I: 'INSERT', U: 'UPDATE', D: 'DELETE' } as const;
  const drops = (['I', 'U', 'D'] as const).map((o) => `DROP TRIGGER IF EXISTS ${names[o]}`);
  const creates = (['I', 'U', 'D'] as const).map((o) => db.dialect === 'mariadb'
    ? `CREATE TRIGGER ${names[o]} AFTER ${event[o]} ON ${qt} FOR EACH ROW ${body[o]}`
    : `CREATE TRIGGER ${names[o]} AFTER ${event[o]} ON ${qt} FOR EACH ROW BEGIN ${body[o]}; END`);
  return { install: [...changelogDdl(db), ...drops, ...creates], uninstall: drops };
}

/** Names of the hms-sync capture triggers that write to this database's (PostgreSQL: this schema's) change-log. */
export async function listCaptureTriggers(db: TriggerDb): Promise<string[]> {
  let rows: Record<string, unknown>[];
  const like = `${TRIGGER_PREFIX}%`;
  if (db.dialect === 'sqlite') rows = await db.query("SELECT name AS n FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?", [like]);
  // those writing to this schema's change-log: their functions live in the current schema
  else if (db.dialect === 'postgres') rows = await db.query('SELECT t.tgname AS n FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal AND t.tgname LIKE $1 AND p.pronamespace = current_schema()::regnamespace', [like]);
  else rows = await db.query('SELECT trigger_name AS n FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND trigger_name LIKE ?', [like]);
  return rows.map((r) => String(r.n));
}

/** True when the change-log table exists. */
export async function changelogExists(db: TriggerDb): Promise<boolean> {
  let rows: Record<string, unknown>[];
  if (db.dialect === 'sqlite') rows = await db.query("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?", [CHANGELOG_TABLE]);
  else if (db.dialect === 'postgres') rows = await db.query('SELECT 1 AS x FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1', [CHANGELOG_TABLE]);
  else rows = await db.query('SELECT 1 AS x FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [CHANGELOG_TABLE]);
  return rows.length > 0;
}

export interface TriggerActionResult {
  dialect: TriggerDialect;
  table: string;
  triggers: string[];
  changelog: 'created' | 'kept' | 'dropped' | 'absent';
  statements: string[];
  /** Change-log rows of this table removed by uninstall. */
  prunedRows?: number;
}

/** Install capture for one table (idempotent). With `dryRun`, only returns the statements. */
export async function installTriggers(db: TriggerDb, table: string, keyFields: string[], opts: { dryRun?: boolean } = {}): Promise<TriggerActionResult> {
  const plan = await planTriggers(db, table, keyFields);
  const existed = await changelogExists(db);
  if (!opts.dryRun) await db.transaction(plan.install);
  const base = triggerBaseName(table);
  return { dialect: db.dialect, table, triggers: db.dialect === 'postgres' ? [`${base}_trg`] : [`${base}_ai`, `${base}_au`, `${base}_ad`], changelog: existed ? 'kept' : 'created', statements: plan.install };
}

/** Remove capture for one table; drops the change-log when no capture trigger remains. */
export async function uninstallTriggers(db: TriggerDb, table: string, opts: { dryRun?: boolean } = {}): Promise<TriggerActionResult> {
  const base = triggerBaseName(table);
  const qt = table.split('.').map((p) => db.quoteIdent(p)).join('.');
  const triggers = db.dialect === 'postgres' ? [`${base}_trg`] : [`${base}_ai`, `${base}_au`, `${base}_ad`];
  const statements = db.dialect === 'postgres'
    ? [`DROP TRIGGER IF EXISTS ${db.quoteIdent(`${base}_trg`)} ON ${qt}`, `DROP FUNCTION IF EXISTS ${db.quoteIdent(`${base}_fn`)}()`]
    : triggers.map((t) => `DROP TRIGGER IF EXISTS ${db.quoteIdent(t)}`);
  const exists = await changelogExists(db);
  if (opts.dryRun) return { dialect: db.dialect, table, triggers, changelog: exists ? 'kept' : 'absent', statements };
  if (db.dialect === 'postgres') {
    // the table may be gone already: DROP TRIGGER ... ON a missing table fails, so check first
    const t = await db.query('SELECT to_regclass($1) AS r', [qt]);
    await db.transaction(t[0]?.r ? statements : statements.slice(1));
  } else await db.transaction(statements);
  let prunedRows = 0;
  let changelog: TriggerActionResult['changelog'] = 'absent';
  if (exists) {
    const ph = db.placeholder ? db.placeholder(1) : '?';
    const n = await db.query(`SELECT count(*) AS n FROM ${db.quoteIdent(CHANGELOG_TABLE)} WHERE tbl = ${ph}`, [table]);
    prunedRows = Number(n[0]?.n ?? 0);
    await db.exec(`DELETE FROM ${db.quoteIdent(CHANGELOG_TABLE)} WHERE tbl = ${ph}`, [table]);
    const left = await listCaptureTriggers(db);
    if (left.length === 0) {
      await db.exec(`DROP TABLE IF EXISTS ${db.quoteIdent(CHANGELOG_TABLE)}`);
      changelog = 'dropped';
    } else changelog = 'kept';
  }
  return { dialect: db.dialect, table, triggers, changelog, statements, prunedRows };
}
