/**
 * MariaDB / MySQL sink: one transaction per batch; rows of the same shape go in one multi-row
 * `INSERT ... ON DUPLICATE KEY UPDATE` (or `DELETE ... WHERE`), built by the shared
 * ../sql/sql-sink-common.ts. With `versionField`, every assignment is wrapped in
 * `IF(stored IS NULL OR stored < incoming, incoming, stored)` (version column assigned last),
 * so a replay or a late retry never moves a row backwards; fenced upserts run a row per
 * statement so a stale write is reported as ok-but-skipped (affectedRows 0).
 *
 * A multi-row statement that fails on data is retried row by row (each in a savepoint) so only
 * the bad items fail, as PermanentErrors naming the column; lost connections, deadlocks and
 * lock timeouts fail the batch as retryable.
 */
import type mysql from 'mysql2/promise';
import { errorMessage, NotConnectedError, PermanentError, RetryableError } from '../../core/errors.js';
import type { Sink, SinkItem, SinkResult } from '../contract.js';
import { abortReason } from '../abort.js';
import { buildDeleteSql, buildUpsertSql, guardQueries, missingColumns, planSqlWrites, skippedResult, type PlannedRow, type WriteGroup } from '../sql/sql-sink-common.js';
import { mariadbDialect } from './mariadb-dialect.js';

export interface MariadbSinkOptions {
  mode?: 'upsert' | 'insert';
  versionField?: string;
  updateColumns?: 'changed' | 'all';
  maxRows?: number;
}

interface ColumnInfo { type: string; dataType: string }

/** Server errors that mean "try the whole batch again later". */
/** 1317: query interrupted (our own KILL QUERY of a timed-out call). */
const RETRYABLE_ERRNO = new Set([1205, 1213, 1040, 1053, 2002, 2003, 2006, 2013, 1927, 1317]);

function isConnectionError(err: unknown): boolean {
  if (err instanceof RetryableError) return true; // a cancelled call (guardQueries): end the batch
  const e = err as { fatal?: boolean; errno?: number; code?: string } | null;
  if (!e) return false;
  if (e.fatal) return true;
  if (typeof e.errno === 'number' && RETRYABLE_ERRNO.has(e.errno)) return true;
  return typeof e.code === 'string' && /^(ECONN|ETIMEDOUT|EPIPE|PROTOCOL_CONNECTION_LOST|EHOSTUNREACH)/.test(e.code);
}

/** `2024-01-02T03:04:05.678Z` -> `2024-01-02 03:04:05.678` (UTC; the session time zone is UTC). */
export function isoToMariadbDateTime(v: string): string {
  const t = Date.parse(v);
  if (!/^\d{4}-\d\d-\d\dT/.test(v) || Number.isNaN(t)) return v;
  const m = /\.(\d+)/.exec(v);
  const base = new Date(t).toISOString().slice(0, 19).replace('T', ' ');
  // keep microseconds as written when there is no offset to apply
  return m && /Z$/i.test(v) ? `${base}.${m[1]}` : base + (m ? `.${String(t % 1000).padStart(3, '0')}` : '');
}

const BINARY_TYPES = /^(tinyblob|blob|mediumblob|longblob|binary|varbinary|bit)$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A doc value as a mysql2 parameter for a column of `dataType` (base64 strings to BLOB/BINARY as bytes). */
export function toMariadbParam(v: unknown, info: ColumnInfo | undefined): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && info && (info.dataType === 'datetime' || info.dataType === 'timestamp')) return isoToMariadbDateTime(v);
  // bytes travel as base64 (what every source gives for binary values); other text is written as is
  if (typeof v === 'string' && info && BINARY_TYPES.test(info.dataType) && BASE64.test(v)) return Buffer.from(v, 'base64');
  if (typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Date)) return JSON.stringify(v);
  return v;
}

/** The column a MariaDB data error names (`... for column `db`.`t`.`c` at row 1`, `Column 'c' cannot be null`). */
export function columnOfError(message: string): string | undefined {
  const m = /for column [`'"]?(?:[^`'"]*[`'"]?\.[`'"]?)*([^`'".]+)[`'"]? at row/i.exec(message) ?? /Column '([^']+)' cannot be null/i.exec(message) ?? /Unknown column '([^']+)'/i.exec(message) ?? /for column '([^']+)'/i.exec(message);
  return m?.[1];
}

/**
 * Every sink connection runs in UTC (TIMESTAMP values are written as the UTC wall-clock time
 * the ISO strings carry, whatever the server's time zone) and in strict mode (a value that
 * does not fit its column is an error naming the column, never silently truncated or zeroed
 * because the server runs with a lax sql_mode).
 */
export const SINK_SESSION_SQL = "SET time_zone = '+00:00', sql_mode = CONCAT_WS(',', NULLIF(@@session.sql_mode, ''), 'STRICT_ALL_TABLES')";

export class MariadbSink implements Sink {
  private readonly columns = new Map<string, Map<string, ColumnInfo>>();
  /** Table + key fields known to have a unique index within the key. */
  private readonly keyed = new Set<string>();
  /** Items skipped as stale by version fencing. */
  skipped = 0;

  /**
   * `killQuery` stops the statement a connection (by thread id) runs now, from a connection of
   * its own (`KILL QUERY`); without it a cancelled call waits for its statement to end.
   */
  constructor(private readonly pool: mysql.Pool, private readonly opts: MariadbSinkOptions = {}, private readonly label = 'mariadb', private readonly killQuery?: (threadId: number) => Promise<void>) {
    pool.on('connection', (conn) => {
      // queued before the connection's first query; a failure there surfaces on that query
      const r = (conn as unknown as { query(sql: string): unknown }).query(SINK_SESSION_SQL);
      if (r instanceof Promise) r.catch(() => {});
    });
  }

  /**
   * One transaction per batch. When `signal` aborts (the delivery's time limit, shutdown) before
   * COMMIT is sent, the running statement is killed (`KILL QUERY`), no further statement is sent
   * and the transaction is rolled back: nothing of the batch lands later. An abort after COMMIT
   * was sent waits for the COMMIT's answer.
   */
  async write(items: SinkItem[], signal: AbortSignal): Promise<SinkResult[]> {
    if (items.length === 0) return [];
    const cancelled = () => new RetryableError(`write to MariaDB ${this.label} was cancelled (${abortReason(signal)}); its transaction was rolled back, nothing of the batch was written`);
    if (signal.aborted) throw cancelled();
    const results = new Array<SinkResult | undefined>(items.length);
    const plan = planSqlWrites(items, { versionField: this.opts.versionField, updateColumns: this.opts.updateColumns, maxRows: this.opts.maxRows });
    for (const [i, err] of plan.failed) results[i] = { ok: false, error: err };
    let conn: mysql.PoolConnection;
    try {
      conn = await this.pool.getConnection();
    } catch (err) {
      throw new NotConnectedError(`cannot connect to MariaDB ${this.label}: ${errorMessage(err)}`, { cause: err });
    }
    let broken = false;
    let committing = false;
    let cancelling: Promise<void> | null = null;
    const raw = conn;
    const onAbort = () => {
      if (committing || !this.killQuery) return;
      cancelling = this.killQuery(raw.threadId).catch(() => {});
    };
    signal.addEventListener('abort', onAbort, { once: true });
    conn = guardQueries(raw, signal, cancelled);
    try {
      await conn.query('START TRANSACTION');
      for (const group of plan.groups) {
        const first = items[group.rows[0]!.index]!;
        let cols: Map<string, ColumnInfo>;
        try {
          cols = await this.tableColumns(conn, first.collection, [...group.columns, ...(group.fenced && this.opts.versionField ? [this.opts.versionField] : [])]);
        } catch (err) {
          if (isConnectionError(err)) throw err;
          for (const r of group.rows) results[r.index] = { ok: false, error: err };
          continue;
        }
        if (group.kind === 'upsert' && this.opts.mode !== 'insert') {
          const problem = await this.keyProblem(conn, first.collection, first.keyFields);
          if (problem) {
            for (const r of group.rows) results[r.index] = { ok: false, error: problem };
            continue;
          }
        }
        await this.runGroup(conn, first.collection, first.keyFields, group, cols, results, items);
      }
      if (signal.aborted) throw cancelled();
      committing = true;
      await raw.query('COMMIT');
    } catch (err) {
      broken = isConnectionError(err);
      // a KILL on its way must not hit the ROLLBACK (or the connection's next user)
      signal.removeEventListener('abort', onAbort);
      if (cancelling) await cancelling;
      try { await raw.query('ROLLBACK'); } catch { broken = true; }
      if (signal.aborted && !committing) throw cancelled();
      if (err instanceof RetryableError) throw err;
      throw new RetryableError(`write to MariaDB ${this.label} failed: ${errorMessage(err)}; the batch will be retried`, { cause: err });
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (cancelling) await cancelling;
      if (broken) raw.destroy();
      else raw.release();
    }
    return results.map((r) => r ?? { ok: true });
  }

  private async runGroup(conn: mysql.PoolConnection, table: string, keyFields: string[], group: WriteGroup, cols: Map<string, ColumnInfo>, results: Array<SinkResult | undefined>, items: SinkItem[]): Promise<void> {
    const fenced = group.kind === 'upsert' && !!this.opts.versionField && this.opts.mode !== 'insert';
    if (!fenced) {
      await conn.query('SAVEPOINT hms_group');
      try {
        await this.execute(conn, table, keyFields, group, group.rows, cols, results);
        await conn.query('RELEASE SAVEPOINT hms_group');
        return;
      } catch (err) {
        if (isConnectionError(err)) throw err;
        await conn.query('ROLLBACK TO SAVEPOINT hms_group');
        if (group.rows.length === 1) {
          results[group.rows[0]!.index] = { ok: false, error: this.itemError(table, items[group.rows[0]!.index]!, group.rows[0]!, cols, err) };
          return;
        }
      }
    }
    for (const row of group.rows) {
      await conn.query('SAVEPOINT hms_row');
      try {
        await this.execute(conn, table, keyFields, group, [row], cols, results);
        await conn.query('RELEASE SAVEPOINT hms_row');
      } catch (err) {
        if (isConnectionError(err)) throw err;
        await conn.query('ROLLBACK TO SAVEPOINT hms_row');
        results[row.index] = { ok: false, error: this.itemError(table, items[row.index]!, row, cols, err) };
      }
    }
  }

  private async execute(conn: mysql.PoolConnection, table: string, keyFields: string[], group: WriteGroup, rows: PlannedRow[], cols: Map<string, ColumnInfo>, results: Array<SinkResult | undefined>): Promise<void> {
    const toParam = (v: unknown, c: string) => toMariadbParam(v, cols.get(c));
    const vf = this.opts.versionField;
    const q = group.kind === 'delete'
      ? buildDeleteSql(mariadbDialect, { table, keyFields, rows, versionField: vf, fenced: group.fenced, toParam })
      : buildUpsertSql(mariadbDialect, { table, keyFields, columns: group.columns, updateColumns: group.updateColumns, rows, versionField: vf, mode: this.opts.mode, toParam });
    const [res] = await conn.query(q.sql, q.params);
    const affected = (res as { affectedRows?: number }).affectedRows ?? 0;
    for (const r of rows) results[r.index] = { ok: true };
    if (group.kind === 'upsert' && vf && rows.length === 1 && affected === 0 && this.opts.mode !== 'insert') {
      results[rows[0]!.index] = skippedResult();
      this.skipped++;
    }
  }

  private itemError(table: string, item: SinkItem, row: PlannedRow, cols: Map<string, ColumnInfo>, err: unknown): Error {
    if (err instanceof PermanentError) return err;
    const what = `${item.delta.op} of key ${JSON.stringify(item.delta.key)} into table "${table}"`;
    const msg = errorMessage(err);
    const column = [...cols.keys()].find((c) => msg.includes(`\`${c}\` at row`) || msg.includes(`Column '${c}'`)) ?? columnOfError(msg);
    if (column) {
      const info = cols.get(column);
      return new PermanentError(`${what} failed at column "${column}"${info ? ` (${info.type})` : ''} with value ${JSON.stringify(row.values[column])?.slice(0, 80)}: ${msg}`, { cause: err, details: { table, column, key: item.delta.key } });
    }
    return new PermanentError(`${what} failed: ${msg}`, { cause: err, details: { table, key: item.delta.key } });
  }

  /**
   * Without a PRIMARY KEY or UNIQUE index within the key columns, `ON DUPLICATE KEY UPDATE`
   * never fires: every update would silently add another row. That is reported per item,
   * naming the table and the key columns (checked once per table while it is fine).
   */
  private async keyProblem(conn: mysql.PoolConnection, table: string, keyFields: string[]): Promise<PermanentError | null> {
    const sig = `${table}\u0000${keyFields.join('\u0001')}`;
    if (this.keyed.has(sig)) return null;
    const i = table.lastIndexOf('.');
    const [schema, name] = i < 0 ? [null, table] : [table.slice(0, i), table.slice(i + 1)];
    const [rows] = await conn.query(
      `SELECT INDEX_NAME AS i, COLUMN_NAME AS c FROM information_schema.statistics WHERE NON_UNIQUE = 0 AND table_name = ? AND table_schema = ${schema ? '?' : 'DATABASE()'}`,
      schema ? [name, schema] : [name],
    );
    const indexes = new Map<string, string[]>();
    for (const r of rows as Array<{ i: string; c: string }>) indexes.set(r.i, [...(indexes.get(r.i) ?? []), r.c]);
    if ([...indexes.values()].some((cols) => cols.every((c) => keyFields.includes(c)))) {
      this.keyed.add(sig);
      return null;
    }
    const have = [...indexes].map(([n, cols]) => `${n} (${cols.join(', ')})`).join(', ');
    return new PermanentError(`table "${table}" of MariaDB ${this.label} has no primary key or unique index on (${keyFields.join(', ')}), which an upsert needs: without it ON DUPLICATE KEY UPDATE would add a second row instead of updating; add one (ALTER TABLE ... ADD PRIMARY KEY (${keyFields.join(', ')})), change the pipeline's key, or use mode: insert${have ? `; its unique indexes are: ${have}` : ''}`, { details: { table, columns: keyFields } });
  }

  /** Column types of a table (cached; re-read when a field is missing); unknown names are PermanentErrors. */
  private async tableColumns(conn: mysql.PoolConnection, table: string, fields: string[]): Promise<Map<string, ColumnInfo>> {
    let cols = this.columns.get(table);
    if (cols && missingColumns(fields, new Set(cols.keys())).length === 0) return cols;
    const i = table.lastIndexOf('.');
    const [schema, name] = i < 0 ? [null, table] : [table.slice(0, i), table.slice(i + 1)];
    const [rows] = await conn.query(
      `SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t, DATA_TYPE AS d FROM information_schema.columns WHERE table_name = ? AND table_schema = ${schema ? '?' : 'DATABASE()'} ORDER BY ordinal_position`,
      schema ? [name, schema] : [name],
    );
    cols = new Map((rows as Array<{ c: string; t: string; d: string }>).map((r) => [r.c, { type: String(r.t), dataType: String(r.d).toLowerCase() }]));
    this.columns.set(table, cols);
    if (cols.size === 0) throw new PermanentError(`table "${table}" does not exist in MariaDB ${this.label}`, { details: { table } });
    const missing = missingColumns(fields, new Set(cols.keys()));
    if (missing.length) throw new PermanentError(`column "${missing[0]}" does not exist in table "${table}" of MariaDB ${this.label}; its columns are: ${[...cols.keys()].join(', ')}`, { details: { table, column: missing[0] } });
    return cols;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
