/**
 * PostgreSQL sink: one transaction per batch, rows of the same shape written by one multi-row
 * `INSERT ... ON CONFLICT (key) DO UPDATE` (or `DELETE ... WHERE key IN`), built by the shared
 * sql-sink-common.ts. With `versionField` the update only happens when the incoming version
 * is newer (`WHERE t.v IS NULL OR t.v < EXCLUDED.v`): a stale write is an ok-but-skipped
 * result (`{ ok: true, outcome: 'stale', reason: 'stale-version' }`), never a row moved backwards.
 *
 * When a multi-row statement fails on data, its rows are retried one by one (each in a
 * savepoint) so only the bad items fail, as PermanentErrors naming the column; a lost
 * connection or a server shutting down fails the whole batch as retryable.
 */
import pg from 'pg';
import { errorMessage, NotConnectedError, PermanentError, RetryableError } from '../../core/errors.js';
import type { Sink, SinkItem, SinkResult } from '../contract.js';
import { abortReason } from '../abort.js';
import { buildDeleteSql, buildUpsertSql, guardQueries, planSqlWrites, plannedRowKey, returnedRowKey, skippedResult, type PlannedRow, type WriteGroup } from '../sql/sql-sink-common.js';
import { postgresDialect } from './postgres-dialect.js';
import { quoteIdent } from './pg-setup.js';

export interface PostgresSinkOptions {
  mode?: 'upsert' | 'insert';
  versionField?: string;
  updateColumns?: 'changed' | 'all';
  /** Rows per statement (default 500). */
  maxRows?: number;
}

interface ColumnInfo {
  /** format_type(): `integer`, `numeric(12,2)`, `jsonb`, `text[]`... */
  type: string;
  json: boolean;
  bytea: boolean;
  array: boolean;
}

/** 57014: statement cancelled (our own cancel of a timed-out call, or a statement_timeout). */
const RETRYABLE_SQLSTATE = /^(08|53|57P|57014|40001|40P01|55P03)/;

function sqlState(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

function isConnectionError(err: unknown): boolean {
  if (err instanceof RetryableError) return true; // a cancelled call (guardQueries): end the batch
  const c = sqlState(err);
  if (RETRYABLE_SQLSTATE.test(c)) return true;
  if (/^E[A-Z]+$/.test(c)) return true; // ECONNREFUSED, ECONNRESET...
  const m = errorMessage(err);
  return /Connection terminated|connection is closed|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(m);
}

/** A {@link Sink} writing deltas into PostgreSQL tables. */
export class PostgresSink implements Sink {
  private readonly columns = new Map<string, Map<string, ColumnInfo>>();
  /** Items skipped as stale by version fencing (for status and tests). */
  skipped = 0;

  constructor(private readonly pool: pg.Pool, private readonly opts: PostgresSinkOptions = {}, private readonly label = 'postgres') {}

  /**
   * One transaction per batch. When `signal` aborts (the delivery's time limit, shutdown) before
   * COMMIT is sent, the running statement is cancelled (pg_cancel_backend from a separate
   * connection), no further statement is sent and the transaction is rolled back: nothing of the
   * batch lands later. An abort after COMMIT was sent waits for the COMMIT's answer.
   */
  async write(items: SinkItem[], signal: AbortSignal): Promise<SinkResult[]> {
    if (items.length === 0) return [];
    const cancelled = () => new RetryableError(`write to PostgreSQL ${this.label} was cancelled (${abortReason(signal)}); its transaction was rolled back, nothing of the batch was written`);
    if (signal.aborted) throw cancelled();
    const results: Array<SinkResult | undefined> = new Array<SinkResult | undefined>(items.length);
    const plan = planSqlWrites(items, { versionField: this.opts.versionField, updateColumns: this.opts.updateColumns, maxRows: this.opts.maxRows });
    for (const [i, err] of plan.failed) results[i] = { ok: false, error: err };
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw new NotConnectedError(`cannot connect to PostgreSQL ${this.label}: ${errorMessage(err)}`, { cause: err });
    }
    let broken = false;
    let committing = false;
    let cancelling: Promise<void> | null = null;
    const onAbort = () => { if (!committing) cancelling = this.cancelBackend(client); };
    signal.addEventListener('abort', onAbort, { once: true });
    const raw = client;
    client = guardQueries(raw, signal, cancelled);
    try {
      await client.query('BEGIN');
      for (const group of plan.groups) {
        const table = items[group.rows[0]!.index]!.collection;
        const keyFields = items[group.rows[0]!.index]!.keyFields;
        let cols: Map<string, ColumnInfo>;
        try {
          cols = await this.tableColumns(client, table, [...group.columns, ...(group.fenced && this.opts.versionField ? [this.opts.versionField] : [])]);
        } catch (err) {
          if (isConnectionError(err)) throw err;
          for (const r of group.rows) results[r.index] = { ok: false, error: err };
          continue;
        }
        await this.runGroup(client, table, keyFields, group, cols, results, items);
      }
      if (signal.aborted) throw cancelled();
      committing = true;
      await raw.query('COMMIT');
    } catch (err) {
      broken = isConnectionError(err);
      // a cancel on its way must not hit the ROLLBACK (or the connection's next user)
      signal.removeEventListener('abort', onAbort);
      if (cancelling) await cancelling;
      try { await raw.query('ROLLBACK'); } catch { broken = true; }
      if (signal.aborted && !committing) throw cancelled();
      if (err instanceof RetryableError) throw err;
      if (isConnectionError(err)) throw new RetryableError(`PostgreSQL ${this.label} failed during a write: ${errorMessage(err)}; the batch will be retried`, { cause: err });
      throw new RetryableError(`write to PostgreSQL ${this.label} failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (cancelling) await cancelling;
      raw.release(broken);
    }
    return results.map((r) => r ?? { ok: true });
  }

  /** Cancel what the backend of `client` runs now, from a connection of its own (the pool may be busy). */
  private async cancelBackend(client: pg.PoolClient): Promise<void> {
    const pid = (client as unknown as { processID?: number }).processID;
    if (!pid) return;
    const c = new pg.Client((this.pool as unknown as { options: pg.ClientConfig }).options);
    c.on('error', () => {});
    try {
      await c.connect();
      await c.query('SELECT pg_cancel_backend($1)', [pid]);
    } catch {
      // the statement then runs to its end; the guard still keeps the COMMIT from being sent
    } finally {
      await c.end().catch(() => {});
    }
  }

  private async runGroup(client: pg.PoolClient, table: string, keyFields: string[], group: WriteGroup, cols: Map<string, ColumnInfo>, results: Array<SinkResult | undefined>, items: SinkItem[]): Promise<void> {
    await client.query('SAVEPOINT hms_group');
    try {
      await this.execute(client, table, keyFields, group, group.rows, cols, results);
      await client.query('RELEASE SAVEPOINT hms_group');
      return;
    } catch (err) {
      if (isConnectionError(err)) throw err;
      await client.query('ROLLBACK TO SAVEPOINT hms_group');
      await client.query('RELEASE SAVEPOINT hms_group');
      if (group.rows.length === 1) {
        results[group.rows[0]!.index] = { ok: false, error: await this.itemError(client, table, items[group.rows[0]!.index]!, group.rows[0]!, cols, err) };
        return;
      }
    }
    // pinpoint the failing rows: one savepoint each
    for (const row of group.rows) {
      await client.query('SAVEPOINT hms_row');
      try {
        await this.execute(client, table, keyFields, group, [row], cols, results);
        await client.query('RELEASE SAVEPOINT hms_row');
      } catch (err) {
        if (isConnectionError(err)) throw err;
        await client.query('ROLLBACK TO SAVEPOINT hms_row');
        await client.query('RELEASE SAVEPOINT hms_row');
        results[row.index] = { ok: false, error: await this.itemError(client, table, items[row.index]!, row, cols, err) };
      }
    }
  }

  private async execute(client: pg.PoolClient, table: string, keyFields: string[], group: WriteGroup, rows: PlannedRow[], cols: Map<string, ColumnInfo>, results: Array<SinkResult | undefined>): Promise<void> {
    const toParam = (v: unknown, c: string) => toPgParam(v, cols.get(c));
    const vf = this.opts.versionField;
    if (group.kind === 'delete') {
      const q = buildDeleteSql(postgresDialect, { table, keyFields, rows, versionField: vf, fenced: group.fenced, toParam });
      await client.query(q.sql, q.params);
      for (const r of rows) results[r.index] = { ok: true };
      return;
    }
    const fenced = !!vf && this.opts.mode !== 'insert' && group.updateColumns.length > 0;
    const q = buildUpsertSql(postgresDialect, { table, keyFields, columns: group.columns, updateColumns: group.updateColumns, rows, versionField: vf, returning: fenced, mode: this.opts.mode, toParam });
    const res = await client.query(q.sql, q.params);
    if (!fenced) {
      for (const r of rows) results[r.index] = { ok: true };
      return;
    }
    const written = new Set(res.rows.map((r: Record<string, unknown>) => returnedRowKey(r, keyFields)));
    for (const r of rows) {
      if (written.has(plannedRowKey(r, keyFields))) results[r.index] = { ok: true };
      else {
        results[r.index] = skippedResult();
        this.skipped++;
      }
    }
  }

  /** A per-item error: names the column when it can be found (type mismatch, not null...). */
  private async itemError(client: pg.PoolClient, table: string, item: SinkItem, row: PlannedRow, cols: Map<string, ColumnInfo>, err: unknown): Promise<Error> {
    const what = `${item.delta.op} of key ${JSON.stringify(item.delta.key)} into table "${table}"`;
    const e = err as { code?: string; column?: string; constraint?: string };
    const code = sqlState(err);
    if (code === '42P10') return new PermanentError(`${what} failed: table "${table}" has no primary key or unique index on (${item.keyFields.join(', ')}), which an upsert needs; add one or change the pipeline's key`, { cause: err, details: { table } });
    let column = e.column;
    if (!column && code.startsWith('22')) column = await this.findBadColumn(client, row, cols);
    if (column) {
      const value = row.values[column];
      const type = cols.get(column)?.type;
      return new PermanentError(`${what} failed at column "${column}"${type ? ` (${type})` : ''} with value ${JSON.stringify(value)?.slice(0, 80)}: ${errorMessage(err)}`, { cause: err, details: { table, column, key: item.delta.key } });
    }
    return new PermanentError(`${what} failed: ${errorMessage(err)}`, { cause: err, details: { table, key: item.delta.key, constraint: e.constraint } });
  }

  /** Cast each value to its column type (in savepoints) to name the column a data error came from. */
  private async findBadColumn(client: pg.PoolClient, row: PlannedRow, cols: Map<string, ColumnInfo>): Promise<string | undefined> {
    for (const [name, v] of Object.entries(row.values)) {
      const info = cols.get(name);
      if (!info || v === null || v === undefined) continue;
      await client.query('SAVEPOINT hms_probe');
      try {
        await client.query(`SELECT $1::text::${info.type}`, [toPgParam(v, info)]);
        await client.query('RELEASE SAVEPOINT hms_probe');
      } catch {
        await client.query('ROLLBACK TO SAVEPOINT hms_probe');
        await client.query('RELEASE SAVEPOINT hms_probe');
        return name;
      }
    }
    return undefined;
  }

  /** Column types of a table (cached; re-read when a column is missing); unknown names are PermanentErrors. */
  private async tableColumns(client: pg.PoolClient, table: string, fields: string[]): Promise<Map<string, ColumnInfo>> {
    let cols = this.columns.get(table);
    if (cols && fields.every((f) => cols!.has(f))) return cols;
    const qualified = table.split('.').map(quoteIdent).join('.');
    const r = await client.query<{ attname: string; type: string; typcategory: string; typname: string }>(
      `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, t.typcategory, t.typname
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, [qualified]);
    cols = new Map(r.rows.map((c) => [c.attname, { type: c.type, json: c.typname === 'json' || c.typname === 'jsonb', bytea: c.typname === 'bytea', array: c.typcategory === 'A' }]));
    if (cols.size === 0) throw new PermanentError(`table "${table}" does not exist in PostgreSQL ${this.label} (or has no columns); create it or fix the pipeline's collection`, { details: { table } });
    this.columns.set(table, cols);
    const missing = fields.find((f) => !cols!.has(f));
    if (missing !== undefined) throw new PermanentError(`column "${missing}" does not exist in table "${table}" of PostgreSQL ${this.label}; its columns are: ${[...cols.keys()].join(', ')}`, { details: { table, column: missing } });
    return cols;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A doc value as a node-postgres parameter for a column (json as text, base64 -> bytea...). */
export function toPgParam(v: unknown, col: ColumnInfo | undefined): unknown {
  if (v === undefined || v === null) return null;
  if (col?.json) return JSON.stringify(v);
  // bytes travel as base64; any other text goes as bytea input (`\x00ff` hex, or the text's own bytes)
  if (col?.bytea && typeof v === 'string') return BASE64.test(v) ? Buffer.from(v, 'base64') : v;
  if (Array.isArray(v)) return col?.array ? v : JSON.stringify(v);
  if (typeof v === 'object' && !(v instanceof Date) && !Buffer.isBuffer(v)) return JSON.stringify(v);
  return v;
}
