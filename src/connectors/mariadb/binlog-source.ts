/**
 * MariaDB / MySQL binlog source (ROW format) over @vlasky/zongji (maintained, mysql2-based,
 * MariaDB GTID positions supported). Row events are grouped by transaction (ended by the XID
 * event), so a transaction's changes stay in one batch; each batch carries the position after
 * its last commit: `{"gtid":"0-1-42","file":"mysql-bin.000003","pos":1234}`. The engine commits
 * it with the jobs, so the position never moves before the changes are durable. On resume the
 * GTID position wins (it survives binlog rotation and purge); file+pos is the fallback.
 *
 * First start with no position: capture starts at the server's current position, which is
 * recorded at once (so changes made while hms-sync is down are not skipped later); existing
 * rows come from `hms-sync backfill`. Memory is bounded: the replication socket is paused while
 * more than `maxBuffered` row changes wait to be committed.
 */
import ZongJi from '@vlasky/zongji';
import { z } from 'zod';
import { canonicalKey } from '../../core/delta.js';
import { errorMessage, NotConnectedError, PermanentError } from '../../core/errors.js';
import type { ChangeEvent, Doc } from '../../core/types.js';
import type { BackfillCapable, BackfillSupport, SourceContext, WatermarkedBatch } from '../contract.js';
import { durationSchema, parseDuration } from '../sql/duration.js';
import { normalizeSqlValue } from '../sql/sql-query-port.js';
import { connectionOptions, fromMariadbPool, mariadbDateTimeToIso, openMariadbPool, type MariadbSystem } from './mariadb-port.js';
import { jsonColumnsOf, parseJsonColumn } from './mariadb-json.js';

export const WATERMARK_TABLE = 'hms_sync_watermark';

export const binlogOptionsSchema = z.strictObject({
  mode: z.literal('binlog').describe('Capture from the binlog (needs log_bin, binlog_format=ROW, REPLICATION SLAVE + REPLICATION CLIENT grants).'),
  batchSize: z.number().int().min(1).max(100_000).default(1000).describe('Row changes per batch at most; a transaction is never split (default 1000).'),
  maxBuffered: z.number().int().min(100).max(1_000_000).default(20_000).describe('Row changes held in memory before the replication stream is paused (default 20000).'),
  idle: durationSchema.default('200ms').describe('How long to wait for more changes when none are buffered (default 200ms).'),
  positionEvery: durationSchema.default('5s').describe('While only other tables change, record the log position this often (default 5s).'),
});

export type BinlogOptions = z.input<typeof binlogOptionsSchema>;

/**
 * What stops a binlog source on a server, from `SELECT @@log_bin AS b, @@binlog_format AS f`
 * (null when the binlog is on in ROW format); `system` names the system in the message.
 */
export function binlogSettingsProblem(rows: Array<Record<string, unknown>>, system: string): string | null {
  if (!Number(rows[0]?.b)) return `the binlog is off on ${system}: start the server with --log-bin --binlog-format=ROW (log_bin is not dynamic; set it in my.cnf [mysqld] and restart), or use mode: poll`;
  if (String(rows[0]?.f).toUpperCase() !== 'ROW') return `binlog_format is ${String(rows[0]?.f)} on ${system}; the binlog source needs ROW: SET GLOBAL binlog_format = 'ROW' and binlog_format=ROW in my.cnf`;
  return null;
}

export interface BinlogPosition { gtid?: string; file?: string; pos?: number }

interface Txn { events: ChangeEvent[]; position: BinlogPosition; watermark?: string }

/** A binlog value as a doc value: exact numbers, ISO date-times, JSON parsed, binary base64. */
function docValue(v: unknown, type: string | undefined, json: boolean): unknown {
  if (json) return parseJsonColumn(Buffer.isBuffer(v) ? v.toString('utf8') : v);
  if (typeof v === 'string' && type && /^(datetime|timestamp)/.test(type)) return mariadbDateTimeToIso(v);
  return normalizeSqlValue(v);
}

export class BinlogSource implements BackfillCapable {
  private readonly opts: ReturnType<typeof binlogOptionsSchema.parse>;
  private zongji: ZongJi | null = null;
  private queue: Txn[] = [];
  private current: ChangeEvent[] = [];
  private currentWatermark: string | undefined;
  private buffered = 0;
  private paused = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private file: string | undefined;
  private watermarks = false;
  private readonly table: { schema: string; name: string };
  private jsonCols = new Set<string>();
  private colTypes = new Map<string, string>();
  /** Column types from the latest table map of the captured table. */
  private mapTypes: { schemas: unknown; types: Map<string, string> } | null = null;
  /** Position after the last transaction of other tables, while none of ours is queued. */
  private idlePosition: BinlogPosition | null = null;
  private lastYield = 0;

  constructor(private readonly ctx: SourceContext<MariadbSystem, BinlogOptions>) {
    this.opts = binlogOptionsSchema.parse(ctx.options);
    const c = connectionOptions(ctx.systemConfig);
    const i = ctx.collection.lastIndexOf('.');
    this.table = i < 0 ? { schema: c.database ?? '', name: ctx.collection } : { schema: ctx.collection.slice(0, i), name: ctx.collection.slice(i + 1) };
    if (!this.table.schema) throw new NotConnectedError(`binlog source for "${ctx.collection}" needs a database: set database (or a /database path in url) on system "${ctx.system}", or qualify the collection as db.table`);
  }

  enableWatermarks(): void {
    this.watermarks = true;
  }

  async openBackfill(): Promise<BackfillSupport> {
    const port = fromMariadbPool(openMariadbPool(this.ctx.systemConfig, { connectionLimit: 2 }));
    const wt = `${port.quoteIdent(this.table.schema)}.${port.quoteIdent(WATERMARK_TABLE)}`;
    await port.exec(`CREATE TABLE IF NOT EXISTS ${wt} (tbl VARCHAR(255) NOT NULL PRIMARY KEY, watermark VARCHAR(64) NOT NULL, ts TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`);
    const table = this.ctx.collection;
    return {
      async writeWatermark(id) {
        await port.exec(`INSERT INTO ${wt} (tbl, watermark) VALUES (?, ?) ON DUPLICATE KEY UPDATE watermark = VALUES(watermark)`, [table, id]);
      },
      close: () => port.close(),
    };
  }

  private async startPosition(): Promise<BinlogPosition & { fresh: boolean }> {
    const raw = await this.ctx.state.getPosition();
    if (raw) {
      try {
        const p = JSON.parse(raw) as BinlogPosition;
        if (p.gtid || (p.file && p.pos)) return { ...p, fresh: false };
      } catch {}
    }
    const port = fromMariadbPool(openMariadbPool(this.ctx.systemConfig, { connectionLimit: 1 }));
    try {
      const problem = binlogSettingsProblem(await port.query('SELECT @@log_bin AS b, @@binlog_format AS f', []), this.ctx.system);
      if (problem) throw new PermanentError(problem);
      let gtid: string | undefined;
      try {
        const g = await port.query('SELECT @@gtid_binlog_pos AS g', []);
        gtid = String(g[0]?.g ?? '');
      } catch {}
      const st = await port.query('SHOW MASTER STATUS', []);
      const file = st[0] ? String(st[0].File) : undefined;
      const pos = st[0] ? Number(st[0].Position) : undefined;
      return { ...(gtid ? { gtid } : {}), file, pos, fresh: true };
    } finally {
      await port.close();
    }
  }

  private async loadColumns(): Promise<void> {
    const port = fromMariadbPool(openMariadbPool(this.ctx.systemConfig, { connectionLimit: 1 }));
    try {
      this.jsonCols = await jsonColumnsOf(port, `${this.table.schema}.${this.table.name}`);
      const rows = await port.query('SELECT COLUMN_NAME AS c, DATA_TYPE AS t FROM information_schema.columns WHERE table_schema = ? AND table_name = ?', [this.table.schema, this.table.name]);
      this.colTypes = new Map(rows.map((r) => [String(r.c), String(r.t).toLowerCase()]));
    } finally {
      await port.close();
    }
  }

  private doc(row: Record<string, unknown>, types: Map<string, string>): Doc {
    const out: Doc = {};
    for (const [k, v] of Object.entries(row)) out[k] = docValue(v, types.get(k), this.jsonCols.has(k));
    return out;
  }

  /**
   * Column types as of this row event: zongji reads the table's columns again after a schema
   * change (its table map), so a column added later is converted by its own type too. A change
   * of the column set is reported once, as a warning naming the added and dropped columns.
   */
  private typesOf(map: { columnSchemas?: Array<{ COLUMN_NAME: string; COLUMN_TYPE: string }> }): Map<string, string> {
    const schemas = map.columnSchemas;
    if (!schemas?.length) return this.colTypes;
    if (this.mapTypes?.schemas === schemas) return this.mapTypes.types;
    const types = new Map(schemas.map((c) => [String(c.COLUMN_NAME), String(c.COLUMN_TYPE).toLowerCase()]));
    const before = this.mapTypes?.types ?? this.colTypes;
    const added = [...types.keys()].filter((c) => !before.has(c));
    const dropped = [...before.keys()].filter((c) => !types.has(c));
    if (before.size && (added.length || dropped.length)) {
      this.ctx.logger.warn({ system: this.ctx.system, table: `${this.table.schema}.${this.table.name}`, added, dropped }, `schema change of ${this.table.schema}.${this.table.name}: ${[added.length ? `added ${added.join(', ')}` : '', dropped.length ? `dropped ${dropped.join(', ')}` : ''].filter(Boolean).join('; ')}; check the pipeline's mapping`);
    }
    this.mapTypes = { schemas, types };
    return types;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private onBinlog(evt: { getEventName(): string; [k: string]: unknown }): void {
    const name = evt.getEventName();
    if (name === 'rotate') {
      this.file = String(evt.binlogName);
      return;
    }
    if (name === 'writerows' || name === 'updaterows' || name === 'deleterows') {
      const map = (evt.tableMap as Record<number, { parentSchema: string; tableName: string; columnSchemas?: Array<{ COLUMN_NAME: string; COLUMN_TYPE: string }> }>)[evt.tableId as number];
      if (!map) return;
      const rows = evt.rows as Array<Record<string, unknown>>;
      if (map.tableName === WATERMARK_TABLE) {
        for (const r of rows) {
          const img = (name === 'updaterows' ? (r.after as Record<string, unknown>) : r);
          if (name !== 'deleterows' && String(img.tbl) === this.ctx.collection && this.watermarks) this.currentWatermark = String(img.watermark);
        }
        return;
      }
      if (map.parentSchema !== this.table.schema || map.tableName !== this.table.name) return;
      const ts = Number(evt.timestamp) || Date.now();
      const base = { system: this.ctx.system, collection: this.ctx.collection, ts };
      const key = (d: Doc) => canonicalKey(d, this.ctx.keyFields);
      const types = this.typesOf(map);
      for (const r of rows) {
        try {
          if (name === 'writerows') {
            const after = this.doc(r, types);
            this.current.push({ ...base, key: key(after), op: 'insert', before: null, after });
          } else if (name === 'deleterows') {
            const before = this.doc(r, types);
            this.current.push({ ...base, key: key(before), op: 'delete', before, after: null });
          } else {
            const before = this.doc(r.before as Record<string, unknown>, types);
            const after = this.doc(r.after as Record<string, unknown>, types);
            const k = key(after);
            const old = key(before);
            if (k !== old) this.current.push({ ...base, key: old, op: 'delete', before, after: null }, { ...base, key: k, op: 'insert', before: null, after });
            else this.current.push({ ...base, key: k, op: 'update', before, after });
          }
        } catch (err) {
          this.ctx.logger.warn({ err: errorMessage(err) }, `skipping a binlog row of ${this.ctx.collection}: ${errorMessage(err)}`);
        }
      }
      return;
    }
    if (name === 'xid' || (name === 'query' && /^\s*COMMIT/i.test(String(evt.query)))) {
      const z = this.zongji;
      const position: BinlogPosition = { ...(z?.gtidSet ? { gtid: z.gtidSet } : {}), file: this.file ?? z?.options.filename, pos: Number(evt.nextPosition) };
      if (this.current.length === 0 && this.currentWatermark === undefined) {
        // another table's transaction: remember how far the log has gone (committed when idle)
        if (this.queue.length === 0) this.idlePosition = position;
        return;
      }
      this.idlePosition = null;
      this.queue.push({ events: this.current, position, ...(this.currentWatermark !== undefined ? { watermark: this.currentWatermark } : {}) });
      this.buffered += this.current.length;
      this.current = [];
      this.currentWatermark = undefined;
      if (this.buffered > this.opts.maxBuffered && !this.paused) {
        this.paused = true;
        (z as unknown as { connection?: { pause?(): void } })?.connection?.pause?.();
      }
      this.notify();
    }
  }

  private async connect(start: BinlogPosition): Promise<void> {
    await this.loadColumns();
    const c = connectionOptions(this.ctx.systemConfig);
    // timezone 'Z': TIMESTAMP values (epoch seconds in the binlog) render in UTC, not in this process's time zone
    const z = new ZongJi({ ...c, dateStrings: true, timezone: 'Z', supportBigNumbers: true, bigNumberStrings: false } as never);
    this.zongji = z;
    this.file = start.file;
    z.on('binlog', (evt: unknown) => {
      try { this.onBinlog(evt as never); } catch (err) { this.failure = err as Error; this.notify(); }
    });
    z.on('error', (err: Error) => {
      this.failure = new NotConnectedError(`binlog stream of ${this.ctx.system} failed: ${errorMessage(err)}`, { cause: err });
      this.notify();
    });
    const serverId = this.ctx.systemConfig.serverId ?? 1000 + (hash(`${this.ctx.system}/${this.ctx.collection}`) % 1_000_000);
    const includeSchema: Record<string, string[]> = { [this.table.schema]: [this.table.name, WATERMARK_TABLE] };
    const startOpts = start.gtid
      ? { gtidSet: start.gtid }
      : start.file && start.pos ? { filename: start.file, position: start.pos } : { startAtEnd: true };
    await new Promise<void>((resolve, reject) => {
      z.once('ready', () => resolve());
      z.once('error', reject);
      z.start({ serverId, includeEvents: ['rotate', 'tablemap', 'writerows', 'updaterows', 'deleterows', 'xid', 'query'], includeSchema, ...startOpts });
    });
  }

  async *stream(signal: AbortSignal): AsyncGenerator<WatermarkedBatch> {
    const start = await this.startPosition();
    if (start.fresh) yield { events: [], position: JSON.stringify({ gtid: start.gtid, file: start.file, pos: start.pos }) };
    this.failure = null;
    await this.connect(start);
    const onAbort = () => this.notify();
    signal.addEventListener('abort', onAbort);
    const idleMs = parseDuration(this.opts.idle, 'idle');
    const positionEveryMs = parseDuration(this.opts.positionEvery, 'positionEvery');
    try {
      while (!signal.aborted) {
        if (this.failure) throw this.failure;
        if (this.queue.length === 0 && this.idlePosition && Date.now() - this.lastYield >= positionEveryMs) {
          // keep the committed position moving while only other tables change, so a restart
          // does not re-read (or find purged) a long stretch of log
          const position = this.idlePosition;
          this.idlePosition = null;
          this.lastYield = Date.now();
          yield { events: [], position: JSON.stringify(position) };
          continue;
        }
        if (this.queue.length === 0) {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              this.wake = null;
              resolve();
            };
            const timer = setTimeout(done, idleMs);
            this.wake = done;
          });
          continue;
        }
        const events: ChangeEvent[] = [];
        let position: BinlogPosition | undefined;
        let watermark: string | undefined;
        while (this.queue.length && (events.length === 0 || events.length + this.queue[0]!.events.length <= this.opts.batchSize)) {
          const t = this.queue.shift()!;
          events.push(...t.events);
          this.buffered -= t.events.length;
          position = t.position;
          if (t.watermark !== undefined) {
            watermark = t.watermark;
            break;
          }
        }
        if (this.paused && this.buffered < this.opts.maxBuffered / 2) {
          this.paused = false;
          (this.zongji as unknown as { connection?: { resume?(): void } })?.connection?.resume?.();
        }
        this.lastYield = Date.now();
        yield { events, position: JSON.stringify(position), ...(watermark !== undefined ? { watermark } : {}) };
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.stopZongji();
    }
  }

  private stopZongji(): void {
    const z = this.zongji;
    this.zongji = null;
    this.queue = [];
    this.current = [];
    this.buffered = 0;
    this.paused = false;
    this.idlePosition = null;
    try { z?.stop(); } catch {}
  }

  async close(): Promise<void> {
    this.stopZongji();
  }
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}

export function createBinlogSource(ctx: SourceContext<MariadbSystem, unknown>): BinlogSource {
  return new BinlogSource(ctx as SourceContext<MariadbSystem, BinlogOptions>);
}
