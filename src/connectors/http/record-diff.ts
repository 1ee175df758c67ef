/**
 * Records received from an HTTP peer (webhook bodies, REST pages) compared with the source's
 * shadow rows: unchanged records are dropped by fingerprint, the rest become ChangeEvents with
 * `before` from the shadow, plus the shadow rows the engine commits with them. A delete leaves a
 * tombstone (fingerprint '') so a delete reported again (a REST page re-read) is not repeated.
 */
import { canonicalKey, fingerprint } from '../../core/delta.js';
import { ValidationError } from '../../core/errors.js';
import type { ChangeEvent, Doc } from '../../core/types.js';
import type { ShadowRow } from '../../store/store.js';
import type { SourceState } from '../contract.js';

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

export async function diffRecords(input: { state: SourceState; system: string; collection: string; keyFields: string[]; records: RecordIn[]; ts?: number }): Promise<{ events: ChangeEvent[]; shadow: ShadowRow[] }> {
  const keyed = input.records.map((r, i) => ({ ...r, key: recordKey(r.doc, input.keyFields, i) }));
  const current = await input.state.getShadow([...new Set(keyed.map((r) => r.key))]);
  const seen = new Map<string, { fingerprint: string; doc: Doc | null } | null>();
  for (const [k, v] of current) seen.set(k, v);
  const events: ChangeEvent[] = [];
  const shadow: ShadowRow[] = [];
  const ts = input.ts ?? Date.now();
  const scope = input.state.scope;
  for (const r of keyed) {
    const found = seen.get(r.key) ?? null;
    // a tombstone (fingerprint '') remembers a delete already passed on
    const prev = found && found.fingerprint !== '' ? found : null;
    if (r.op === 'delete') {
      if (found && !prev) continue; // reported again: already deleted
      // a delete of a key we never saw is still passed on: the target may have it
      events.push({ system: input.system, collection: input.collection, key: r.key, op: 'delete', before: prev?.doc ?? null, after: null, ts });
      shadow.push({ scope, key: r.key, fingerprint: '', doc: null, updatedAt: ts });
      seen.set(r.key, { fingerprint: '', doc: null });
      continue;
    }
    const fp = fingerprint(r.doc);
    if (prev && prev.fingerprint === fp) continue;
    events.push({ system: input.system, collection: input.collection, key: r.key, op: prev ? 'update' : 'insert', before: prev?.doc ?? null, after: r.doc, ts });
    shadow.push({ scope, key: r.key, fingerprint: fp, doc: r.doc, updatedAt: ts });
    seen.set(r.key, { fingerprint: fp, doc: r.doc });
  }
  return { events, shadow };
}

/** Key fields from a `keyField` option, else the pipeline's. */
export function keyFieldsOf(opt: string | string[] | undefined, fallback: string[]): string[] {
  if (opt === undefined) return fallback;
  return Array.isArray(opt) ? opt : [opt];
}
