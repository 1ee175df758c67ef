/**
 * The trigger drain source: reads `hms_sync_changelog` rows of one table in id order, a batch
 * at a time, turns the row images into change events, and deletes the rows it emitted only in
 * the batch's ack() (after the engine committed the jobs). A crash between commit and prune
 * re-emits that batch once (at-least-once; the same images again).
 *
 * Rows are read in id order but not filtered by id: on PostgreSQL and MariaDB a transaction
 * can commit after one with a higher id; such a row is read on a later drain instead of being
 * skipped. Changes of one key are serialized by the row lock, so per-key order holds.
 * The position recorded is the highest id emitted (for status; the table itself is the cursor).
 */
import { z } from 'zod';
import { canonicalKey } from '../../core/delta.js';
import { ConfigError, errorMessage } from '../../core/errors.js';
import type { ChangeEvent, Doc } from '../../core/types.js';
import type { BackfillCapable, BackfillSupport, SourceContext, WatermarkedBatch } from '../contract.js';
import { durationSchema, parseDuration, sleep } from '../sql/duration.js';
import { CHANGELOG_TABLE, changelogExists, SQLITE_BLOB_MARKER, tableColumnTypes } from './trigger-ddl.js';
import { parseJsonLossless } from '../../formats/json/lossless-json.js';
import type { TriggerDb } from './trigger-db.js';

export const triggerSourceOptionsSchema = z.strictObject({
  mode: z.literal('triggers').describe('Read the change-log filled by triggers (install them with `hms-sync triggers install <pipeline>`).'),
  poll: durationSchema.default('500ms').describe('Pause when the change-log is empty (default 500ms).'),
  batchSize: z.number().int().min(1).max(10_000).default(500).describe('Change-log rows per batch (default 500).'),
});

export type TriggerSourceOptions = z.input<typeof triggerSourceOptionsSchema>;

/** A source options schema that also accepts `mode: triggers`. */
export function withTriggerMode<T extends z.ZodType>(schema: T): z.ZodType<z.input<T> | TriggerSourceOptions> {
  return z.union([triggerSourceOptionsSchema, schema]) as unknown as z.ZodType<z.input<T> | TriggerSourceOptions>;
}

/** True when a pipeline's source options select trigger capture. */
export function isTriggerMode(options: unknown): options is TriggerSourceOptions {
  return !!options && typeof options === 'object' && (options as { mode?: unknown }).mode === 'triggers';
}

function parseImage(v: unknown): Doc | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return parseJsonLossless(v) as Doc;
  if (Buffer.isBuffer(v)) return parseJsonLossless(v.toString('utf8')) as Doc;
  return v as Doc;
}

function tsOf(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') {
    const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v.replace(' ', 'T')}Z`);
    if (!Number.isNaN(t)) return t;
  }
  return Date.now();
}

/** Trigger drain source (see the module comment). */
export class TriggerSource implements BackfillCapable {
  private db: TriggerDb | null = null;
  private watermarks = false;
  private converters: Map<string, (v: string) => unknown> | null = null;
  private readonly pollMs: number;
  private readonly batchSize: number;
  /** Drains completed (for tests). */
  drains = 0;

  constructor(private readonly ctx: SourceContext<unknown, TriggerSourceOptions>, private readonly openDb: () => TriggerDb) {
    const o = triggerSourceOptionsSchema.parse(ctx.options);
    this.pollMs = parseDuration(o.poll, 'poll');
    this.batchSize = o.batchSize;
  }

  enableWatermarks(): void {
    this.watermarks = true;
  }

  async openBackfill(): Promise<BackfillSupport> {
    const db = this.openDb();
    if (!(await changelogExists(db))) {
      await db.close();
      throw new ConfigError(`the change-log ${CHANGELOG_TABLE} does not exist in system "${this.ctx.system}"; install trigger capture first: hms-sync triggers install <pipeline>`);
    }
    const ph = (i: number) => db.sql.placeholder(i);
    const table = this.ctx.collection;
    return {
      async writeWatermark(id) {
        await db.exec(`INSERT INTO ${db.quoteIdent(CHANGELOG_TABLE)} (tbl, op, pk) VALUES (${ph(1)}, 'W', ${ph(2)})`, [table, JSON.stringify(id)]);
      },
      close: () => db.close(),
    };
  }

  private conn(): TriggerDb {
    if (!this.db) {
      this.db = this.openDb();
      this.converters = null;
    }
    return this.db;
  }

  /**
   * Per-column converters so values read as the other modes read them: date-times as
   * ISO-8601; MariaDB bytes as one-line base64; on PostgreSQL bytea (`\\x00ff` in to_jsonb) as base64 and numeric arrays (their
   * text form in the image) as arrays of exact decimal strings.
   */
  private async loadConverters(db: TriggerDb): Promise<void> {
    const map = new Map<string, (v: string) => unknown>();
    try {
      for (const c of await tableColumnTypes(db, this.ctx.collection)) {
        const f = db.sql.triggers.imageConverter(c.type);
        if (f) map.set(c.name, f);
      }
    } catch {}
    this.converters = map;
  }

  private convert(doc: Doc | null): Doc | null {
    if (!doc) return doc;
    if (this.blobs) {
      // SQLite images carry a BLOB as {"$hms_blob": "<hex>"}: base64, as the polling source gives it
      for (const [k, v] of Object.entries(doc)) {
        if (v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as Record<string, unknown>)[SQLITE_BLOB_MARKER] === 'string' && Object.keys(v).length === 1) {
          doc[k] = Buffer.from((v as Record<string, string>)[SQLITE_BLOB_MARKER]!, 'hex').toString('base64');
        }
      }
    }
    if (!this.converters?.size) return doc;
    for (const [k, f] of this.converters) if (typeof doc[k] === 'string') doc[k] = f(doc[k] as string);
    return doc;
  }

  /** SQLite row images may hold BLOB markers. */
  private get blobs(): boolean {
    return this.db?.sql.triggers.blobMarkers === true;
  }

  private selectSql(db: TriggerDb): string {
    const img = (c: string) => db.sql.triggers.selectImage(c);
    const ph = (i: number) => db.sql.placeholder(i);
    return `SELECT id, op, ${img('pk')}, ${img('row_data')}, ${img('old_data')}, ts FROM ${db.quoteIdent(CHANGELOG_TABLE)} WHERE tbl = ${ph(1)} ORDER BY id LIMIT ${ph(2)}`;
  }

  async *stream(signal: AbortSignal): AsyncGenerator<WatermarkedBatch> {
    while (!signal.aborted) {
      let rows: Record<string, unknown>[];
      const db = this.conn();
      try {
        rows = await db.query(this.selectSql(db), [this.ctx.collection, this.batchSize]);
        this.ctx.health?.ok();
      } catch (err) {
        if (signal.aborted) return;
        this.ctx.health?.failed(new Error(`reading ${CHANGELOG_TABLE} of ${this.ctx.system} failed (are the triggers installed? run \`hms-sync triggers install <pipeline>\`): ${errorMessage(err)}`, { cause: err }));
        this.ctx.logger.warn({ system: this.ctx.system, err: errorMessage(err) }, `reading ${CHANGELOG_TABLE} of ${this.ctx.system} failed; retrying in ${this.pollMs} ms (are the triggers installed? run \`hms-sync triggers install <pipeline>\`): ${errorMessage(err)}`);
        const d = this.db;
        this.db = null;
        await d?.close().catch(() => {});
        await sleep(Math.max(this.pollMs, 1000), signal);
        continue;
      }
      this.drains++;
      if (rows.length && !this.converters) await this.loadConverters(db);
      if (rows.length === 0) {
        await sleep(this.pollMs, signal);
        continue;
      }
      yield* this.batches(db, rows);
    }
  }

  /** Split the rows at watermarks into batches; each batch prunes its own rows on ack. */
  private *batches(db: TriggerDb, rows: Record<string, unknown>[]): Generator<WatermarkedBatch> {
    let events: ChangeEvent[] = [];
    let ids: number[] = [];
    const cut = (watermark?: string): WatermarkedBatch => {
      const batchIds = ids;
      const b: WatermarkedBatch = {
        events,
        position: JSON.stringify({ id: batchIds[batchIds.length - 1] }),
        ack: () => this.prune(db, batchIds),
        ...(watermark !== undefined ? { watermark } : {}),
      };
      events = [];
      ids = [];
      return b;
    };
    for (const r of rows) {
      const id = Number(r.id);
      ids.push(id);
      const op = String(r.op).trim();
      if (op === 'W') {
        if (this.watermarks) yield cut(String(parseImage(r.pk)));
        continue;
      }
      try {
        events.push(...this.toEvents(op, r));
      } catch (err) {
        this.ctx.logger.warn({ system: this.ctx.system, id, err: errorMessage(err) }, `skipping ${CHANGELOG_TABLE} row ${id} of ${this.ctx.collection}: ${errorMessage(err)}`);
      }
    }
    if (ids.length) yield cut();
  }

  private toEvents(op: string, r: Record<string, unknown>): ChangeEvent[] {
    const after = this.convert(parseImage(r.row_data));
    const before = this.convert(parseImage(r.old_data));
    const base = { system: this.ctx.system, collection: this.ctx.collection, ts: tsOf(r.ts), position: JSON.stringify({ id: Number(r.id) }) };
    const key = (d: Doc) => canonicalKey(d, this.ctx.keyFields);
    if (op === 'I') return [{ ...base, key: key(after!), op: 'insert', before: null, after }];
    if (op === 'D') return [{ ...base, key: key(before!), op: 'delete', before, after: null }];
    if (op === 'U') {
      const k = key(after!);
      const old = before ? key(before) : k;
      if (old !== k) return [{ ...base, key: old, op: 'delete', before, after: null }, { ...base, key: k, op: 'insert', before: null, after }];
      return [{ ...base, key: k, op: 'update', before, after }];
    }
    throw new Error(`unknown op ${JSON.stringify(op)}`);
  }

  private async prune(db: TriggerDb, ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    for (const q of db.sql.triggers.pruneStatements(db.quoteIdent(CHANGELOG_TABLE), ids)) await db.exec(q.sql, q.params);
  }

  async close(): Promise<void> {
    const d = this.db;
    this.db = null;
    await d?.close();
  }
}

/**
 * The trigger source for a connector's `createSource` when `mode: triggers`; `openDb` opens the
 * database's trigger handle (the connector's `openTriggerDb`):
 * `if (isTriggerMode(ctx.options)) return createTriggerSource(ctx, () => openSqliteTriggerDb(ctx.systemConfig, ctx.baseDir));`
 */
export function createTriggerSource(ctx: SourceContext<unknown, unknown>, openDb: () => TriggerDb): TriggerSource {
  return new TriggerSource(ctx as SourceContext<unknown, TriggerSourceOptions>, openDb);
}
