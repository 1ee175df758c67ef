/**
 * What a source offers so `hms-sync backfill` can interleave a snapshot with its change stream
 * by the DBLog watermark method (see src/engine/backfill.ts and docs/backfill.md).
 *
 * A source that supports it implements {@link BackfillCapable}. Its stream must report a
 * watermark it sees in the log by ending the batch there and setting `watermark` on that batch
 * (every event of the batch happened before the watermark). Watermarks are only reported after
 * `enableWatermarks()`; otherwise the source drops them.
 */
import type { Source, SourceBatch } from '../contract.js';
import type { SqlQueryPort } from '../sql/sql-query-port.js';

/** A source batch that may end at a watermark. */
export interface WatermarkedBatch extends SourceBatch {
  /** Id of the watermark seen right after this batch's events. */
  watermark?: string;
}

export interface BackfillSupport {
  /** Port on the source database: chunks are read through it with keyset pagination. */
  port: SqlQueryPort;
  /** Write a watermark into the source database so that the stream reports it (committed on return). */
  writeWatermark(id: string): Promise<void>;
  close(): Promise<void>;
}

export interface BackfillCapable extends Source {
  /** Start reporting watermarks in the stream. */
  enableWatermarks(): void;
  /** Open what the backfill needs on the source database. */
  openBackfill(): Promise<BackfillSupport>;
}

export function isBackfillCapable(s: Source): s is BackfillCapable {
  return typeof (s as Partial<BackfillCapable>).openBackfill === 'function' && typeof (s as Partial<BackfillCapable>).enableWatermarks === 'function';
}
