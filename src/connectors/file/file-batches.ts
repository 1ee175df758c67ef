/**
 * Records of a dropped file, checked one by one before they reach the engine's snapshot diff
 * (src/engine/snapshot.ts), which decides insert vs update against the shadow and drops unchanged
 * records, so processing a file a second time (after a crash before its ack) produces no duplicates.
 */
import { canonicalKey } from '../../core/delta.js';
import { errorMessage } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import type { OpValues } from './file-options.js';

/** A record that passed validation: its key, its document (op field removed) and its op. */
export interface ValidRecord {
  no: number;
  key: string;
  doc: Doc;
  /** 'upsert' lets the shadow decide between insert and update. */
  op: 'upsert' | 'delete';
}

export interface RecordRules {
  mode: 'snapshot' | 'changes';
  keyFields: string[];
  opField?: string;
  opValues: OpValues;
}

/**
 * Check one decoded record: key present, op value known, no duplicate key in a snapshot.
 * Returns the valid record or the reason it is rejected. `seen` collects snapshot keys.
 */
export function validateRecord(no: number, doc: Doc, rules: RecordRules, seen: Set<string> | null): ValidRecord | string {
  let op: ValidRecord['op'] = 'upsert';
  let data = doc;
  if (rules.opField !== undefined && rules.mode === 'changes') {
    const raw = doc[rules.opField];
    const v = typeof raw === 'string' ? raw.trim() : raw == null ? '' : String(raw);
    if (v === rules.opValues.delete) op = 'delete';
    else if (v !== '' && v !== rules.opValues.insert && v !== rules.opValues.update) {
      return `op field "${rules.opField}" has value ${JSON.stringify(raw)}; expected ${rules.opValues.insert} (insert), ${rules.opValues.update} (update), ${rules.opValues.delete} (delete) or empty (upsert)`;
    }
    data = { ...doc };
    delete data[rules.opField];
  }
  let key: string;
  try {
    key = canonicalKey(data, rules.keyFields);
  } catch (e) {
    return errorMessage(e);
  }
  if (seen) {
    if (seen.has(key)) return `duplicate key ${JSON.stringify(key)} in a snapshot file (each key may appear once)`;
    seen.add(key);
  }
  return { no, key, doc: data, op };
}
