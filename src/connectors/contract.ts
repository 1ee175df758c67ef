/**
 * The connector contract. Every technology folder under src/connectors/ exports ONE
 * {@link ConnectorDescriptor}; src/connectors/registry.ts lists them all. Adding a system
 * never means editing switches elsewhere.
 *
 * Sources yield batches of ChangeEvents; the engine maps, diffs and commits each batch
 * (jobs + shadow rows + position) in one store transaction, then calls `batch.ack()`.
 * Sinks receive claimed jobs and return one result per item; errors steer control flow by
 * type (RetryableError with retryAfterMs, PermanentError, NotConnectedError) — see core/errors.ts.
 */
import type { z } from 'zod';
import type { ChangeEvent, Doc, SinkDelta } from '../core/types.js';
import type { Logger } from '../core/log.js';
import type { ShadowDelete, ShadowRow } from '../store/store.js';
import type { TriggerDb } from './triggers/trigger-db.js';

/** One record as a source has it: its canonical key and the row, or `doc: null` when the source reports it deleted. */
export interface SnapshotRecord {
  key: string;
  doc: Doc | null;
}

/** Events and the shadow rows to yield with them in one batch (see SourceState.diff). */
export interface SnapshotDiff {
  events: ChangeEvent[];
  shadow: Array<ShadowRow | ShadowDelete>;
}

export interface SnapshotDiffOptions {
  /** Epoch ms when the read that produced the records began (polling reads; echo suppression uses it). */
  readAt?: number;
  /**
   * Sources that report deletes themselves (webhooks, REST feeds) keep a tombstone (fingerprint '')
   * so a delete reported again is not passed on twice. Snapshot sources (full scans) delete the
   * shadow row instead; their deletes come from `sweepDeletes`.
   */
  tombstones?: boolean;
  /** Keep only the fingerprint in the shadow, not the row (events then have no `before`). */
  fingerprintOnly?: boolean;
}

/**
 * A source's own durable state (shadow rows and last committed position), and the engine's one
 * snapshot diff over it (src/engine/snapshot.ts): a connector hands over the records it read or
 * received and yields what comes back; it never compares fingerprints itself.
 */
export interface SourceState {
  /** Scope of this source's shadow rows, e.g. `poll:legacy:INSPECTIONS`. */
  readonly scope: string;
  getPosition(): Promise<string | null>;
  getShadow(keys: string[]): Promise<Map<string, ShadowRow>>;
  listShadow(): AsyncIterable<ShadowRow>;
  /** Compare records with the shadow: changed and new ones become events (each record hashed once). */
  diff(records: readonly SnapshotRecord[], opts?: SnapshotDiffOptions): Promise<SnapshotDiff>;
  /**
   * Deletes: every shadow key that `exists` no longer finds, asked a page of keys at a time (bounded
   * memory; `rows` are the shadow rows of those keys, whose docs hold typed key values); yielded
   * after the shadow listing ends.
   */
  sweepDeletes(exists: (keys: string[], rows: ShadowRow[]) => Promise<Set<string>>, opts?: { pageSize?: number; signal?: AbortSignal }): AsyncIterable<SnapshotDiff>;
  /**
   * Which of these delivery ids (a webhook-id) this source has already taken: ids are remembered
   * through `SourceBatch.remember`, in the batch's commit. Absent on a state without a store.
   */
  seenIds?(ids: string[]): Promise<Set<string>>;
  /** Forget delivery ids taken before `before` (epoch ms); returns how many. */
  forgetIds?(before: number): Promise<number>;
}

export interface SourceContext<S = unknown, O = unknown> {
  /** Name of the system in the config (`mainframe`). */
  system: string;
  systemConfig: S;
  collection: string;
  /** Per-pipeline source options (the extra keys of the pipeline's `from:` block). */
  options: O;
  /** Key fields in the source's naming. */
  keyFields: string[];
  state: SourceState;
  logger: Logger;
  /** Directory for files the connector may keep (stateDir/<sourceId>). */
  workDir: string;
  /** Directory relative paths in the system config resolve against (the config file's folder). */
  baseDir?: string;
  /**
   * Where a source that retries internally (a polling loop) reports each read: `ok()` after a
   * successful read (even one that found nothing new), `failed(err)` after a failed one. The engine
   * records the source's state from it (`hms-sync status`); errors a source throws out of
   * `stream()` are seen by the engine without it.
   */
  health?: { ok(): void; failed(err: unknown): void };
}

export interface SourceBatch {
  events: ChangeEvent[];
  /** Position to record atomically with the jobs of this batch. */
  position?: string;
  /** Shadow rows (fingerprints) to store atomically with the jobs of this batch. */
  shadow?: Array<ShadowRow | ShadowDelete>;
  /** Delivery ids (webhook-id) this batch takes: remembered in its commit, so a redelivery is recognised. */
  remember?: string[];
  /**
   * Records the source could not read, to dead-letter (policy `onError: dead-letter`): each becomes
   * a dead job in the same commit, with its error, for an operator to fix and replay. `key` must be
   * unique per record (e.g. `file#record`).
   */
  rejected?: Array<{ key: string; record: Record<string, unknown>; error: string }>;
  /** Called after the batch is durably committed (e.g. confirm an LSN, move a file to processed/). */
  ack?(): Promise<void>;
}

export interface Source {
  /** Yields batches until the signal aborts; must end promptly after abort. */
  stream(signal: AbortSignal): AsyncIterable<SourceBatch>;
  close(): Promise<void>;
}

/**
 * Read access to a system's collection (not only watching it): reconciliation, backfill, the
 * snapshot diff of polling sources and conflict checks read through this seam.
 *
 * Order: a reader with `order: 'key'` yields rows ascending by its key fields in the system's own
 * order (SQL: ORDER BY the key columns), and `after` (the last canonical key seen) resumes a scan
 * with a keyset condition, never an OFFSET. Two systems may order the same keys differently
 * (numbers vs text, collations): a comparison of two readers must not assume one order. A reader with `order: 'none'` (a SOAP list, a paged HTTP API without sort) says why in
 * `orderNote`; `after` is then an opaque cursor, and ranges are not supported.
 */
export interface ScanOptions {
  /**
   * Resume after this point: for `order: 'key'` the canonical key of the last row already seen
   * (exclusive); for `order: 'none'` the `cursor` of the previous page. Omitted: from the start.
   */
  after?: string | null;
  /** Rows per page (upper bound). */
  limit: number;
  /** Only keys in [from, to) (canonical keys; `order: 'key'` readers only). */
  range?: { from?: string | null; to?: string | null };
  signal?: AbortSignal;
}

/** One row read from a system, in the system's own field names. */
export interface ReadRow {
  /** Canonical key (see `canonicalKey`). */
  key: string;
  doc: Doc;
}

export interface ScanPage {
  rows: ReadRow[];
  /** Pass as `after` to read the next page; null when this was the last page. */
  cursor: string | null;
}

/**
 * What a source offers so `hms-sync backfill` can interleave a snapshot (read through the
 * connector's Reader) with its change stream by the DBLog watermark method (see
 * src/engine/backfill.ts and docs/backfill.md).
 *
 * A source that supports it implements {@link BackfillCapable}. Its stream must report a
 * watermark it sees in the log by ending the batch there and setting `watermark` on that batch
 * (every event of the batch happened before the watermark). Watermarks are only reported after
 * `enableWatermarks()`; otherwise the source drops them.
 */
export interface WatermarkedBatch extends SourceBatch {
  /** Id of the watermark seen right after this batch's events. */
  watermark?: string;
}

export interface BackfillSupport {
  /** Write a watermark into the source database so that the stream reports it (committed on return). */
  writeWatermark(id: string): Promise<void>;
  close(): Promise<void>;
}

export interface BackfillCapable extends Source {
  /** Start reporting watermarks in the stream. */
  enableWatermarks(): void;
  /** Open what the backfill needs on the source database (the snapshot itself is read by the Reader). */
  openBackfill(): Promise<BackfillSupport>;
}

/** Whether a source can take part in a watermark backfill. */
export function isBackfillCapable(s: Source): s is BackfillCapable {
  return typeof (s as Partial<BackfillCapable>).openBackfill === 'function' && typeof (s as Partial<BackfillCapable>).enableWatermarks === 'function';
}

export interface Reader {
  /** `key`: pages ascend by key and `after` / `range` use keys. `none`: the system cannot order. */
  readonly order: 'key' | 'none';
  /** Why the reader cannot order (shown to users), when `order` is `none`. */
  readonly orderNote?: string;
  /** Pages of rows, each at most `limit` long, until the collection (or range) is exhausted. */
  scan(opts: ScanOptions): AsyncIterable<ScanPage>;
  /** The rows of these keys that exist; missing keys are absent from the map. */
  getByKeys(keys: string[], signal?: AbortSignal): Promise<Map<string, Doc>>;
  /** Number of rows (in the range), when the system can count cheaply. */
  count?(opts?: { range?: ScanOptions['range']; signal?: AbortSignal }): Promise<number>;
  close(): Promise<void>;
}

export interface ReaderContext<S = unknown, O = unknown> {
  system: string;
  systemConfig: S;
  collection: string;
  /** The pipeline's `from:` options for this collection (what the source reads, e.g. a SOAP list operation). */
  options: O;
  keyFields: string[];
  logger: Logger;
  /** Directory relative paths in the system config resolve against (the config file's folder). */
  baseDir?: string;
}

export interface SinkItem {
  jobId: string;
  version: number;
  /** Stable across redeliveries of the same job version. */
  idempotencyKey: string;
  pipeline: string;
  /** Target collection (table, endpoint path, file set...). */
  collection: string;
  /** Target key field names. */
  keyFields: string[];
  /** The change in the target's field names, after mapping. */
  delta: SinkDelta;
}

/**
 * What a sink did with one item: `written` (the default when `outcome` is absent); `stale`, nothing
 * written because the target already holds this state or a newer one (version fencing), which the
 * engine counts and reports but does not retry; or a failure, which the error's type classifies
 * (retry, dead-letter).
 */
export type SinkResult =
  | { ok: true; outcome?: 'written' }
  | { ok: true; outcome: 'stale'; reason: string }
  | { ok: false; error: unknown };

/** A `stale` result: the target holds a newer (or the same) version; nothing was written. */
export function staleResult(reason = 'stale-version'): SinkResult {
  return { ok: true, outcome: 'stale', reason };
}

/** Whether a result is a write skipped as stale. */
export function isStale(r: SinkResult): r is { ok: true; outcome: 'stale'; reason: string } {
  return r.ok && r.outcome === 'stale';
}

export interface Sink {
  /** Deliver a batch; one result per item, in order. Throwing fails the whole batch with that error. */
  write(items: SinkItem[], signal: AbortSignal): Promise<SinkResult[]>;
  close(): Promise<void>;
}

/** What a sink is created with: a reader's context (options are the pipeline's `to:` block) and a work directory. */
export interface SinkContext<S = unknown, O = unknown> extends ReaderContext<S, O> {
  workDir: string;
}

export interface ConnectorDescriptor<S = any, SO = any, KO = any> {
  /** The `driver:` value in config (`sqlite`, `http`, `soap`...). */
  driver: string;
  description: string;
  /** Schema of the `systems.<name>` block (without `driver`). Strict. */
  systemSchema: z.ZodType<S>;
  /** Schema of the extra keys of a pipeline's `from:` block (besides system, collection). */
  sourceSchema?: z.ZodType<SO>;
  /** Schema of the extra keys of a pipeline's `to:` block (besides system, collection). */
  sinkSchema?: z.ZodType<KO>;
  createSource?(ctx: SourceContext<S, SO>): Source | Promise<Source>;
  createSink?(ctx: SinkContext<S, KO>): Sink | Promise<Sink>;
  /** Read access to a collection (scan in key order where the system can, get by keys, count). */
  createReader?(ctx: ReaderContext<S, SO>): Reader | Promise<Reader>;
  /**
   * Trigger capture (src/connectors/triggers/): open the database handle that `hms-sync triggers`
   * and `mode: triggers` run on. Only databases that support trigger capture offer it.
   */
  openTriggerDb?(systemConfig: S, baseDir?: string): TriggerDb;
  /**
   * Turn a connection URL into a system config (used by `Connector.open({ driver, url })`).
   * Defaults to `{ url }`.
   */
  fromUrl?(url: string): unknown;
  /** Throws a clear error when the system cannot be reached or authenticated. */
  testConnection(systemConfig: S, ctx: { logger: Logger; system: string; baseDir?: string }): Promise<void>;
  /**
   * Optional, for `hms-sync validate` (and for a start-up check): check cheaply that the system can
   * serve this pipeline's source as configured (the table and the key, `columns` and `incremental`
   * columns exist, the server allows the capture mode, the drop folder is readable...) without
   * changing anything. Throws what would stop the source (a PermanentError or ConfigError for a
   * configuration the system refuses, a NotConnectedError when it cannot be reached); returns
   * warnings for what would only degrade it.
   */
  checkSource?(ctx: SourceCheckContext<S, SO>): Promise<string[]>;
  /**
   * Optional, for `hms-sync validate`: the fields a record of this source has (a table's columns,
   * a CSV header, a copybook's fields), so a mapping's `from`, expression and key field names can
   * be checked against them with a did-you-mean. Null when the source cannot tell (a JSON feed, a
   * drop folder with no file yet). Called only after `checkSource` passed; changes nothing.
   */
  describeSource?(ctx: SourceCheckContext<S, SO>): Promise<SourceDescription | null>;
}

/** What `checkSource` and `describeSource` get: a source's context without state or work folder. */
export type SourceCheckContext<S = unknown, O = unknown> = Omit<SourceContext<S, O>, 'state' | 'workDir'>;

/** The fields of a source's records, as `describeSource` found them. */
export interface SourceDescription {
  /** Top-level field names of a record, in the source's naming. */
  fields: string[];
  /** Where they were read, for messages: `table "public"."permit"`, `the header of drop/a.csv`. */
  from: string;
}

/** Helper so descriptors keep their precise types. */
export function defineConnector<S, SO = unknown, KO = unknown>(d: ConnectorDescriptor<S, SO, KO>): ConnectorDescriptor<S, SO, KO> {
  return d;
}
