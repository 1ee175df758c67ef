/**
 * Records received from an HTTP peer (webhook bodies, REST pages) go through the engine's snapshot
 * diff (SourceState.diff): unchanged records are dropped by fingerprint, the rest become
 * ChangeEvents with `before` from the shadow, plus the shadow rows the engine commits with them. A
 * delete leaves a tombstone (fingerprint '') so a delete reported again (a REST page re-read) is
 * not repeated.
 */
import { canonicalKey } from '../../core/delta.js';
import { ValidationError } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import type { SnapshotDiff, SourceState } from '../contract.js';

export interface RecordIn {
  doc: Doc;
  /** 'delete' or 'upsert' (insert vs update is decided by the shadow). */
  op: 'delete' | 'upsert';
}

/** Key of a record; throws ValidationError naming the record number. */
export function recordKey(doc: unknown, keyFields: string[], index: number): string {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ValidationError(`record ${index + 1} is ${Array.isArray(doc) ? 'an array' : JSON.stringify(doc)}, expected a JSON object`);
  try {
    return canonicalKey(doc as Doc, keyFields);
  } catch (err) {
    throw new ValidationError(`record ${index + 1}: ${(err as Error).message}`, { cause: err });
  }
}

/** Records keyed (a bad record throws naming its number), then the engine's snapshot diff with tombstones. */
export async function diffRecords(input: { state: SourceState; keyFields: string[]; records: RecordIn[] }): Promise<SnapshotDiff> {
  const keyed = input.records.map((r, i) => ({ key: recordKey(r.doc, input.keyFields, i), doc: r.op === 'delete' ? null : r.doc }));
  return input.state.diff(keyed, { tombstones: true });
}

/** Key fields from a `keyField` option, else the pipeline's. */
export function keyFieldsOf(opt: string | string[] | undefined, fallback: string[]): string[] {
  if (opt === undefined) return fallback;
  return Array.isArray(opt) ? opt : [opt];
}
