/**
 * Dialect-agnostic polling source for SQL tables with per-row fingerprints.
 *
 * Each poll reads the table in key order, page by page (keyset pagination: memory bounded by
 * `batchSize`), and compares every row's fingerprint with its shadow row: no shadow row is an
 * insert, a different fingerprint an update. After a FULL scan, the shadow keys are probed
 * against the table in pages; a key that no longer exists (or no longer matches `where`) is a
 * delete. With `incremental`, regular polls read only rows whose column is >= the last position
 * (the last value is re-read so rows committed late with the same value are not missed;
 * unchanged rows are dropped by their fingerprint), and a full scan runs every `fullScanEvery`
 * and once at start.
 *
 * The source never writes its shadow itself: each SourceBatch carries the shadow upserts and
 * deletes (with the row doc, so `before` is available) and the position, which the engine
 * commits atomically with the jobs. It assumes the engine commits a batch before pulling the next.
 */
import { canonicalKey, keyValues } from '../../core/delta.js';
import { errorMessage } from '../../core/errors.js';
import type { ShadowRow } from '../../store/store.js';
import type { SnapshotDiff, Source, SourceBatch, SourceContext } from '../contract.js';
import { parseDuration, sleep } from './duration.js';
import { FailureLog } from './failure-log.js';
import { buildExistsQuery, buildPageQuery } from './poll-query-builder.js';
import { sqlPollOptionsSchema, type SqlPollOptions } from './sql-poll-options.js';
import { normalizeSqlRow, normalizeSqlValue, type SqlQueryPort } from './sql-query-port.js';
import type { SqlDialect } from './sql-dialect.js';

type Row = Record<string, unknown>;

interface Position {
  /** Highest incremental column value committed (JSON form). */
  v: unknown;
  /** Type to restore before binding: a driver Date (bound as the driver binds dates) or a 64-bit integer. */
  t?: 'date' | 'bigint';
}

/** The position of a raw column value, keeping enough type to bind it back exactly. */
export function toPollPosition(raw: unknown): Position {
  if (raw instanceof Date) return { v: raw.toISOString(), t: 'date' };
  const v = normalizeSqlValue(raw);
  if (typeof raw === 'bigint' && typeof v === 'string') return { v, t: 'bigint' };
  return { v };
}

/** The value to bind for a position (inverse of {@link toPollPosition}). */
export function positionValue(p: Position | null): unknown {
  if (!p || p.v === null || p.v === undefined) return null;
  if (p.t === 'date') return new Date(String(p.v));
  if (p.t === 'bigint') return BigInt(String(p.v));
  return p.v;
}

/** Parsed position string (`{"v":...}`), or null when absent or unreadable. */
export function parsePollPosition(raw: string | null): Position | null {
  if (!raw) return null;
  try {
    const p = JSON.parse(raw) as unknown;
    if (p && typeof p === 'object' && 'v' in p) return p as Position;
  } catch {}
  return null;
}

export interface SqlPollSourceInit {
  ctx: SourceContext<unknown, SqlPollOptions>;
  /**
   * The database's dialect object: page and probe queries are built with it (row-value keysets
   * where the database serves them). Without it the port's quoting and placeholders are used.
   */
  dialect?: SqlDialect;
  /** Opens (or returns) the query port; called at each poll so a lost connection is reopened. */
  port: () => Promise<SqlQueryPort> | SqlQueryPort;
  /** Called after a failed poll, e.g. to drop a broken connection. */
  onPollError?: (err: unknown) => void | Promise<void>;
  close?: () => Promise<void>;
}

/** A SQL polling {@link Source}; see the module comment. */
export class SqlPollSource implements Source {
  readonly options: ReturnType<typeof sqlPollOptionsSchema.parse>;
  readonly intervalMs: number;
  readonly fullScanEveryMs: number;
  private readonly ctx: SourceContext<unknown, SqlPollOptions>;
  private lastFullScanAt = 0;
  private position: Position | null = null;
  /** Polls completed (full or incremental); for tests and status. */
  polls = 0;
  private readonly failures: FailureLog;

  /** Failed polls in the current run of failures (0 when the last poll worked). */
  get failedPolls(): number {
    return this.failures.count;
  }

  constructor(private readonly init: SqlPollSourceInit) {
    this.ctx = init.ctx;
    this.options = sqlPollOptionsSchema.parse(init.ctx.options ?? {});
    this.intervalMs = parseDuration(this.options.poll, 'poll');
    this.fullScanEveryMs = this.options.incremental ? parseDuration(this.options.incremental.fullScanEvery, 'incremental.fullScanEvery') : 0;
    this.failures = new FailureLog(this.ctx.logger, `poll of ${this.ctx.system}.${this.ctx.collection}`, { system: this.ctx.system, collection: this.ctx.collection }, this.intervalMs, this.ctx.health);
    if (this.ctx.keyFields.length === 0) throw new TypeError(`SQL polling source for "${this.ctx.collection}" needs at least one key field`);
  }

  async *stream(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    this.position = parsePollPosition(await this.ctx.state.getPosition());
    while (!signal.aborted) {
      const started = Date.now();
      const full = !this.options.incremental || this.position === null || this.lastFullScanAt === 0 || started - this.lastFullScanAt >= this.fullScanEveryMs;
      try {
        const port = await this.init.port();
        yield* full ? this.fullScan(port, signal) : this.incrementalScan(port, signal);
        if (signal.aborted) return;
        if (full) this.lastFullScanAt = started;
        this.polls++;
        this.failures.succeeded();
      } catch (err) {
        if (signal.aborted) return;
        this.failures.failed(err);
        try { await this.init.onPollError?.(err); } catch {}
      }
      await sleep(this.intervalMs, signal);
    }
  }

  async close(): Promise<void> {
    await this.init.close?.();
  }

  private keyOf(doc: Row): string {
    return canonicalKey(doc, this.ctx.keyFields);
  }

  /** One page of rows through the engine's snapshot diff: events plus shadow upserts. */
  private async diffPage(rows: Row[], readAt: number): Promise<SnapshotDiff> {
    const records: Array<{ key: string; doc: Row }> = [];
    for (const doc of rows.map(normalizeSqlRow)) {
      try {
        records.push({ key: this.keyOf(doc), doc });
      } catch (err) {
        this.ctx.logger.warn({ collection: this.ctx.collection, err: errorMessage(err) }, `skipping a row of ${this.ctx.collection}: ${errorMessage(err)}`);
      }
    }
    return this.ctx.state.diff(records, { readAt });
  }

  private async *fullScan(port: SqlQueryPort, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const { batchSize, columns, where, incremental } = this.options;
    let afterKey: unknown[] | null = null;
    let max: Position | null = this.position;
    for (;;) {
      if (signal.aborted) return;
      const q = buildPageQuery(this.init.dialect ?? port, { table: this.ctx.collection, columns, keyFields: this.ctx.keyFields, where, limit: batchSize, afterKey, extraColumns: incremental ? [incremental.column] : [] });
      const readAt = Date.now();
      const rows = await port.query(q.sql, q.params);
      if (rows.length === 0) break;
      if (incremental) for (const r of rows) max = maxOf(max, r[incremental.column]);
      const { events, shadow } = await this.diffPage(rows, readAt);
      if (events.length) yield { events, shadow };
      if (rows.length < batchSize) break;
      const last = rows[rows.length - 1]!;
      afterKey = this.ctx.keyFields.map((k) => last[k]);
    }
    yield* this.findDeletes(port, signal);
    if (signal.aborted) return;
    if (incremental && max !== null && !samePosition(max, this.position)) {
      this.position = max;
      yield { events: [], position: JSON.stringify(this.position) };
    }
  }

  /** The engine's delete sweep: the shadow keys probed against the table a page at a time; missing rows become deletes. */
  private async *findDeletes(port: SqlQueryPort, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const { batchSize, where } = this.options;
    const exists = async (_keys: string[], rows: ShadowRow[]) => {
      const keyVals = rows.map((s) => (s.doc ? this.ctx.keyFields.map((f) => s.doc![f] ?? null) : Object.values(keyValues(s.key, this.ctx.keyFields))));
      const q = buildExistsQuery(this.init.dialect ?? port, { table: this.ctx.collection, keyFields: this.ctx.keyFields, where, keys: keyVals });
      const found = new Set<string>();
      for (const r of await port.query(q.sql, q.params)) {
        try { found.add(this.keyOf(normalizeSqlRow(r))); } catch {}
      }
      return found;
    };
    // stay well below bound-parameter limits
    yield* this.ctx.state.sweepDeletes(exists, { pageSize: Math.min(batchSize, 500), signal });
  }

  private async *incrementalScan(port: SqlQueryPort, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const { batchSize, columns, where } = this.options;
    const column = this.options.incremental!.column;
    let after: { value: unknown; key: unknown[] } | null = null;
    for (;;) {
      if (signal.aborted) return;
      const q = buildPageQuery(this.init.dialect ?? port, { table: this.ctx.collection, columns, keyFields: this.ctx.keyFields, where, limit: batchSize, afterKey: null, incremental: { column, from: positionValue(this.position), after } });
      const readAt = Date.now();
      const rows = await port.query(q.sql, q.params);
      if (rows.length === 0) break;
      const last = rows[rows.length - 1]!;
      const lastPos = last[column] === null || last[column] === undefined ? this.position : toPollPosition(last[column]);
      const { events, shadow } = await this.diffPage(rows, readAt);
      const moved = lastPos !== null && !samePosition(lastPos, this.position);
      if (moved) this.position = lastPos;
      if (events.length || moved) yield { events, shadow, ...(moved ? { position: JSON.stringify(this.position) } : {}) };
      if (rows.length < batchSize) break;
      after = { value: last[column], key: this.ctx.keyFields.map((k) => last[k]) };
    }
  }
}

function samePosition(a: Position | null, b: Position | null): boolean {
  return JSON.stringify(a?.v ?? null) === JSON.stringify(b?.v ?? null);
}

/** The larger of a position and a raw column value (numbers and 64-bit integers numerically, anything else as text). */
function maxOf(cur: Position | null, raw: unknown): Position | null {
  if (raw === null || raw === undefined) return cur;
  const next = toPollPosition(raw);
  if (!cur || cur.v === null || cur.v === undefined) return next;
  const a = positionValue(cur);
  const b = positionValue(next);
  const numeric = (x: unknown) => typeof x === 'number' || typeof x === 'bigint';
  if (typeof a === 'number' && typeof b === 'number') return b > a ? next : cur;
  if (numeric(a) && numeric(b)) return toBig(b) > toBig(a) ? next : cur;
  return String(next.v) > String(cur.v) ? next : cur;
}

function toBig(x: unknown): bigint {
  return typeof x === 'bigint' ? x : BigInt(Math.trunc(Number(x)));
}

/** Factory used by the SQLite (and later PostgreSQL / MariaDB) connectors. */
export function createSqlPollSource(init: SqlPollSourceInit): SqlPollSource {
  return new SqlPollSource(init);
}
