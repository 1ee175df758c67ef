/**
 * Records of a dropped file -> ChangeEvents and shadow rows. In both modes the shadow
 * (last fingerprint and state per key) decides insert vs update and drops unchanged records,
 * so processing a file a second time (after a crash before its ack) produces no duplicates.
 */
import { canonicalKey, fingerprint } from '../../core/delta.js';
import { errorMessage } from '../../core/errors.js';
import type { ChangeEvent, Doc } from '../../core/types.js';
import type { ShadowDelete, ShadowRow } from '../../store/store.js';
import type { SourceState } from '../contract.js';
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

export interface BuiltBatch {
  events: ChangeEvent[];
  shadow: Array<ShadowRow | ShadowDelete>;
}

/** Events and shadow rows for a chunk of records, diffed against the stored shadow. */
export async function buildChangeBatch(
  recs: ValidRecord[],
  ctx: { system: string; collection: string; state: SourceState },
  ts: number,
): Promise<BuiltBatch> {
  const scope = ctx.state.scope;
  const stored = recs.length ? await ctx.state.getShadow([...new Set(recs.map((r) => r.key))]) : new Map<string, ShadowRow>();
  // Latest state per key within this chunk (a changes file may touch a key several times).
  const local = new Map<string, ShadowRow | null>();
  const events: ChangeEvent[] = [];
  for (const r of recs) {
    const prev = local.has(r.key) ? local.get(r.key)! : stored.get(r.key) ?? null;
    const base = { system: ctx.system, collection: ctx.collection, key: r.key, ts };
    if (r.op === 'delete') {
      events.push({ ...base, op: 'delete', before: prev?.doc ?? null, after: null });
      local.set(r.key, null);
      continue;
    }
    const fp = fingerprint(r.doc);
    if (prev && prev.fingerprint === fp) continue;
    events.push({ ...base, op: prev ? 'update' : 'insert', before: prev?.doc ?? null, after: r.doc });
    local.set(r.key, { scope, key: r.key, fingerprint: fp, doc: r.doc });
  }
  const shadow: Array<ShadowRow | ShadowDelete> = [];
  for (const [key, row] of local) shadow.push(row ?? { scope, key, delete: true });
  return { events, shadow };
}

/** Keys in the shadow that a snapshot did not contain (keys only: the memory bound). */
export async function missingKeys(state: SourceState, seen: Set<string>): Promise<string[]> {
  const gone: string[] = [];
  for await (const row of state.listShadow()) if (!seen.has(row.key)) gone.push(row.key);
  return gone;
}

/** Delete events and shadow deletes for keys a snapshot no longer contains. */
export async function buildDeleteBatch(
  keys: string[],
  ctx: { system: string; collection: string; state: SourceState },
  ts: number,
): Promise<BuiltBatch> {
  const stored = await ctx.state.getShadow(keys);
  const scope = ctx.state.scope;
  return {
    events: keys.map((key) => ({ system: ctx.system, collection: ctx.collection, key, op: 'delete' as const, before: stored.get(key)?.doc ?? null, after: null, ts })),
    shadow: keys.map((key) => ({ scope, key, delete: true as const })),
  };
}
