/**
 * SQLite sink: one transaction per batch, one savepoint per item, per-item results.
 * insert/update -> `INSERT ... ON CONFLICT(key) DO UPDATE` (an update sets only the changed
 * fields when the row exists, and inserts the full state when it does not); delete -> `DELETE`
 * by key (a missing row is success). Unknown tables and columns are permanent errors naming
 * them; SQLITE_BUSY / SQLITE_LOCKED fail the whole batch as retryable.
 */
import type { SqliteDatabase, SqliteStatement } from '../../store/sqlite/sqlite-driver.js';
import { keyValues } from '../../core/delta.js';
import { errorMessage, PermanentError, RetryableError } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import type { Sink, SinkItem, SinkResult } from '../contract.js';
import { skippedResult } from '../sql/sql-sink-common.js';
import { abortReason } from '../abort.js';
import { sqliteDialect } from './sqlite-dialect.js';

export interface SqliteSinkOptions {
  /** `upsert` (default) or `insert` (plain INSERT: for append-only tables). */
  mode?: 'upsert' | 'insert';
  /** Version fencing: write only when this column's incoming value is newer than the stored one. */
  versionField?: string;
}

const q = sqliteDialect.quoteIdent;

/** A column as pragma_table_info gives it: declared type (may be empty) and primary-key position. */
interface ColumnInfo { type: string; pk: number }

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function sqliteCode(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

function isBusy(err: unknown): boolean {
  const c = sqliteCode(err);
  return c.startsWith('SQLITE_BUSY') || c.startsWith('SQLITE_LOCKED');
}

/** A JSON doc value as something better-sqlite3 can bind. */
export function toSqliteValue(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'bigint' || Buffer.isBuffer(v)) return v;
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

/** A {@link Sink} writing deltas into SQLite tables. */
export class SqliteSink implements Sink {
  private readonly columns = new Map<string, Map<string, ColumnInfo>>();
  private readonly stmts = new Map<string, SqliteStatement>();

  constructor(private readonly db: SqliteDatabase, private readonly opts: SqliteSinkOptions = {}, private readonly label = 'sqlite') {}

  /**
   * Synchronous (better-sqlite3): the call has ended, committed or rolled back, before anything
   * else runs, so a cancelled call can never land later; a busy database blocks for up to the
   * system's busyTimeout (keep it well below delivery.lease: the lease heartbeat waits too).
   */
  async write(items: SinkItem[], signal: AbortSignal): Promise<SinkResult[]> {
    if (items.length === 0) return [];
    if (signal.aborted) throw new RetryableError(`write to SQLite database ${this.label} was cancelled (${abortReason(signal)}) before it started`);
    const results: SinkResult[] = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      throw this.batchError(err);
    }
    try {
      for (const item of items) {
        this.db.exec('SAVEPOINT hms_item');
        try {
          const written = this.apply(item);
          this.db.exec('RELEASE hms_item');
          results.push(written ? { ok: true } : skippedResult());
        } catch (err) {
          this.db.exec('ROLLBACK TO hms_item');
          this.db.exec('RELEASE hms_item');
          if (isBusy(err)) throw err;
          results.push({ ok: false, error: this.itemError(item, err) });
        }
      }
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) {
        try { this.db.exec('ROLLBACK'); } catch {}
      }
      throw this.batchError(err);
    }
    return results;
  }

  async close(): Promise<void> {
    this.stmts.clear();
    if (this.db.open) this.db.close();
  }

  private batchError(err: unknown): Error {
    if (err instanceof PermanentError || err instanceof RetryableError) return err;
    if (isBusy(err)) return new RetryableError(`SQLite database ${this.label} is busy (${sqliteCode(err)}); the batch will be retried`, { cause: err });
    return new RetryableError(`SQLite write to ${this.label} failed: ${errorMessage(err)}`, { cause: err });
  }

  private itemError(item: SinkItem, err: unknown): Error {
    if (err instanceof PermanentError || err instanceof RetryableError) return err;
    const code = sqliteCode(err);
    const table = item.collection;
    const what = `${item.delta.op} of key ${JSON.stringify(item.delta.key)} into table "${table}"`;
    const msg = errorMessage(err);
    if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN') return new RetryableError(`${what} failed: ${msg}`, { cause: err });
    if (/ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint/i.test(msg)) {
      return new PermanentError(`${what} failed: table "${table}" has no primary key or unique index on (${item.keyFields.join(', ')}), which an upsert needs; add one, change the pipeline's key, or use mode: insert (${msg})`, { cause: err, details: { table, columns: item.keyFields } });
    }
    const cols = this.tableColumns(table);
    // the column the error is about: named in NOT NULL / STRICT messages (`t.c`); a datatype
    // mismatch is the INTEGER PRIMARY KEY (rowid) column getting a value that is not an integer
    const named = /(?:NOT NULL constraint failed:|column) [^\s.]+\.(\S+)/.exec(msg)?.[1];
    let column = named && cols.has(named) ? named : undefined;
    if (!column && code === 'SQLITE_MISMATCH') column = [...cols].find(([, c]) => c.pk > 0 && c.type.toUpperCase() === 'INTEGER')?.[0];
    if (column) {
      const info = cols.get(column)!;
      const row = { ...keyValues(item.delta.key, item.keyFields), ...(item.delta.state ?? item.delta.changed) };
      const type = `${info.type || 'no type'}${info.pk && info.type.toUpperCase() === 'INTEGER' ? ' PRIMARY KEY' : ''}`;
      return new PermanentError(`${what} failed at column "${column}" (${type}) with value ${JSON.stringify(row[column] ?? null)?.slice(0, 80)}: ${msg}`, { cause: err, details: { table, column, key: item.delta.key } });
    }
    return new PermanentError(`${what} failed: ${msg}`, { cause: err, details: { table, key: item.delta.key } });
  }

  private tableColumns(table: string, refresh = false): Map<string, ColumnInfo> {
    let cols = this.columns.get(table);
    if (!cols || refresh) {
      const rows = this.db.prepare('SELECT name, type, pk FROM pragma_table_info(?)').all(table) as Array<{ name: string; type: string; pk: number }>;
      cols = new Map(rows.map((r) => [r.name, { type: r.type ?? '', pk: Number(r.pk) }]));
      this.columns.set(table, cols);
    }
    return cols;
  }

  /** A doc value for a column: base64 into a BLOB-typed column as bytes, the rest as {@link toSqliteValue}. */
  private param(table: string, column: string, v: unknown): unknown {
    if (typeof v === 'string' && BASE64.test(v) && /BLOB/i.test(this.columns.get(table)?.get(column)?.type ?? '')) return Buffer.from(v, 'base64');
    return toSqliteValue(v);
  }

  private checkColumns(table: string, fields: string[]): void {
    let cols = this.tableColumns(table);
    if (fields.every((f) => cols.has(f))) return;
    cols = this.tableColumns(table, true); // the table may have been altered since we looked
    if (cols.size === 0) throw new PermanentError(`table "${table}" does not exist in SQLite database ${this.label}`, { details: { table } });
    const missing = fields.find((f) => !cols.has(f));
    if (missing !== undefined) {
      throw new PermanentError(`column "${missing}" does not exist in table "${table}" of SQLite database ${this.label}; its columns are: ${[...cols.keys()].join(', ')}`, { details: { table, column: missing } });
    }
  }

  private stmt(sql: string): SqliteStatement {
    let stmt = this.stmts.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      if (this.stmts.size > 200) this.stmts.clear();
      this.stmts.set(sql, stmt);
    }
    return stmt;
  }

  private run(sql: string, params: unknown[]): void {
    this.stmt(sql).run(...params);
  }

  /** Applies one item; false when version fencing skipped it as stale. */
  private apply(item: SinkItem): boolean {
    const { delta, keyFields } = item;
    const table = item.collection;
    const keyDoc = keyValues(delta.key, keyFields);
    const vf = this.opts.versionField;
    if (delta.op === 'delete') {
      this.checkColumns(table, keyFields);
      let where = keyFields.map((k) => `${q(k)} = ?`).join(' AND ');
      const params = keyFields.map((k) => toSqliteValue(keyDoc[k]));
      const v = vf ? delta.before?.[vf] : undefined;
      if (vf && v !== undefined && v !== null) {
        // a fenced delete leaves a row that is already newer than the deleted version
        this.checkColumns(table, [vf]);
        where += ` AND (${q(vf)} IS NULL OR ${q(vf)} <= ?)`;
        params.push(toSqliteValue(v));
      }
      this.run(`DELETE FROM ${q(table)} WHERE ${where}`, params);
      return true;
    }
    const row: Doc = { ...keyDoc, ...(delta.state ?? delta.changed) };
    for (const [k, v] of Object.entries(delta.changed)) if (!(k in row)) row[k] = v;
    const fields = Object.keys(row).filter((f) => row[f] !== undefined);
    if (vf && (row[vf] === undefined || row[vf] === null)) {
      throw new PermanentError(`version field "${vf}" is missing in the ${delta.op} of key ${JSON.stringify(delta.key)} for table "${table}"; version fencing needs it in every written row (or remove versionField)`, { details: { table, column: vf, key: delta.key } });
    }
    this.checkColumns(table, fields);
    const cols = fields.map(q).join(', ');
    const values = fields.map(() => '?').join(', ');
    const params = fields.map((f) => this.param(table, f, row[f]));
    if (this.opts.mode === 'insert') {
      this.run(`INSERT INTO ${q(table)} (${cols}) VALUES (${values})`, params);
      return true;
    }
    const changed = Object.keys(delta.changed);
    const updateFields = (delta.op === 'update' && changed.length ? changed : fields).filter((f) => !keyFields.includes(f) && fields.includes(f));
    if (vf && !updateFields.includes(vf) && fields.includes(vf)) updateFields.push(vf);
    const fenced = !!vf && updateFields.length > 0;
    const clause = sqliteDialect.upsert.clause({ keyFields, updateColumns: updateFields, columns: fields, versionField: fenced ? vf : undefined, target: 'hms_t' });
    if (!fenced) {
      this.run(`INSERT INTO ${q(table)} (${cols}) VALUES (${values}) ${clause}`, params);
      return true;
    }
    // fenced: the update only happens when the stored version is older; RETURNING tells whether it did
    const sql = `INSERT INTO ${q(table)} AS hms_t (${cols}) VALUES (${values}) ${clause} RETURNING 1 AS written`;
    return this.stmt(sql).all(...params).length > 0;
  }
}
