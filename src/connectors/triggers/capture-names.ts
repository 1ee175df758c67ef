/**
 * Names and value rules every dialect's trigger DDL shares (the dialect objects import these;
 * this folder never imports the dialect folders).
 */
import { createHash } from 'node:crypto';

export const CHANGELOG_TABLE = 'hms_sync_changelog';
export const TRIGGER_PREFIX = 'hms_sync_';

/** Marker object of a SQLite BLOB in a row image (`json_object` refuses BLOBs): hex digits. */
export const SQLITE_BLOB_MARKER = '$hms_blob';

/** `INSPECTIONS` -> `hms_sync_inspections_1a2b3c` style names (bounded length, unique per table). */
export function triggerBaseName(table: string): string {
  const slug = table.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30);
  const hash = createHash('sha1').update(table).digest('hex').slice(0, 6);
  return `${TRIGGER_PREFIX}${slug}_${hash}`;
}

/** DECIMAL/NUMERIC columns travel as text in the row images, exactly as the other modes carry them. */
export function isExactDecimal(type: string): boolean {
  return /^(decimal|numeric)/.test(type);
}

/** What a dialect's capture DDL is built from. */
export interface CaptureInput {
  /** The table as configured (`sales.orders`), for the change-log's `tbl` column. */
  table: string;
  /** The table, quoted and qualified. */
  qualifiedTable: string;
  /** The change-log table, quoted. */
  changelog: string;
  /** Base name of the triggers (and function) of this table, see {@link triggerBaseName}. */
  base: string;
  keyFields: string[];
  /** Every column with its lower-case type, in table order. */
  columns: Array<{ name: string; type: string }>;
}

/** The part of a port the capture DDL may query (PostgreSQL asks for its current schema). */
export interface CaptureQueryPort {
  query(sql: string, params: unknown[]): Promise<Record<string, unknown>[]>;
}
