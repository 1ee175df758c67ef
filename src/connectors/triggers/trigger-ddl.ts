/**
 * DDL of trigger-based capture: the shared change-log table
 * `hms_sync_changelog (id, tbl, op, pk, row_data, old_data, ts)` and AFTER INSERT / UPDATE /
 * DELETE triggers on one table that append the row images as JSON. op is I, U, D, or W for a
 * backfill watermark. Install is idempotent (drop-if-exists then create); uninstall drops the
 * table's triggers and its pending change-log rows, and the change-log itself once no table
 * uses it any more. The statements of each database come from its dialect object
 * (`db.sql.triggers`); this file only runs them.
 */
import { ConfigError } from '../../core/errors.js';
import { CHANGELOG_TABLE, TRIGGER_PREFIX, triggerBaseName } from './capture-names.js';
import type { TriggerDb, TriggerDialect } from './trigger-db.js';

export { CHANGELOG_TABLE, SQLITE_BLOB_MARKER, TRIGGER_PREFIX, triggerBaseName } from './capture-names.js';

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
  const q = db.sql.triggers.columnsQuery(name, schema);
  const rows = await db.query(q.sql, q.params);
  const cols = rows.map((r) => ({ name: String(r.c ?? r.C ?? r.COLUMN_NAME), type: String(r.t ?? r.T ?? r.DATA_TYPE ?? '').toLowerCase() }));
  if (cols.length === 0) throw new ConfigError(`table ${JSON.stringify(table)} does not exist in the ${db.dialect} database (or has no columns); create it before installing triggers`);
  return cols;
}

/** Column names of a table, in table order. */
export async function tableColumns(db: TriggerDb, table: string): Promise<string[]> {
  return (await tableColumnTypes(db, table)).map((c) => c.name);
}

function changelogDdl(db: TriggerDb): string[] {
  return db.sql.triggers.changelogDdl(db.quoteIdent(CHANGELOG_TABLE), db.quoteIdent(`${CHANGELOG_TABLE}_tbl_id`));
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
  const qt = table.split('.').map((p) => db.quoteIdent(p)).join('.');
  const capture = await db.sql.triggers.captureStatements(db, { table, qualifiedTable: qt, changelog: db.quoteIdent(CHANGELOG_TABLE), base, keyFields, columns: typed });
  return { install: [...changelogDdl(db), ...capture], uninstall: db.sql.triggers.uninstallStatements(base, qt, true) };
}

/** Names of the hms-sync capture triggers that write to this database's (PostgreSQL: this schema's) change-log. */
export async function listCaptureTriggers(db: TriggerDb): Promise<string[]> {
  const q = db.sql.triggers.triggersQuery(`${TRIGGER_PREFIX}%`);
  const rows = await db.query(q.sql, q.params);
  return rows.map((r) => String(r.n));
}

/** True when the change-log table exists. */
export async function changelogExists(db: TriggerDb): Promise<boolean> {
  const q = db.sql.triggers.tableExistsQuery(CHANGELOG_TABLE);
  const rows = await db.query(q.sql, q.params);
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
  return { dialect: db.dialect, table, triggers: db.sql.triggers.triggerNames(base), changelog: existed ? 'kept' : 'created', statements: plan.install };
}

/** Remove capture for one table; drops the change-log when no capture trigger remains. */
export async function uninstallTriggers(db: TriggerDb, table: string, opts: { dryRun?: boolean } = {}): Promise<TriggerActionResult> {
  const base = triggerBaseName(table);
  const qt = table.split('.').map((p) => db.quoteIdent(p)).join('.');
  const triggers = db.sql.triggers.triggerNames(base);
  const statements = db.sql.triggers.uninstallStatements(base, qt, true);
  const exists = await changelogExists(db);
  if (opts.dryRun) return { dialect: db.dialect, table, triggers, changelog: exists ? 'kept' : 'absent', statements };
  // the table may be gone already (PostgreSQL cannot drop a trigger ON a missing table): check first
  const check = db.sql.triggers.tableCheck?.(qt);
  const tableThere = check ? !!(await db.query(check.sql, check.params))[0]?.r : true;
  await db.transaction(tableThere ? statements : db.sql.triggers.uninstallStatements(base, qt, false));
  let prunedRows = 0;
  let changelog: TriggerActionResult['changelog'] = 'absent';
  if (exists) {
    const ph = db.sql.placeholder(1);
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
