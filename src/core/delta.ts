/**
 * Keys, fingerprints, diffs and delta merging: pure functions, no I/O.
 */
import crypto, { createHash } from 'node:crypto';
import { ValidationError } from './errors.js';
import type { Delta, Doc } from './types.js';
import { sameAcrossTypes } from './normalize.js';

/**
 * Documents nested deeper than this are refused (a {@link DocumentTooDeepError} naming where):
 * fingerprinting, the store's JSON and every mapping walk a document recursively, and a runaway
 * nesting (a 10,000-deep SOAP response) would otherwise end in a bare stack overflow.
 */
export const MAX_DOC_DEPTH = 200;

/** A document nested deeper than {@link MAX_DOC_DEPTH}: the record is dead-lettered, the others go on. */
export class DocumentTooDeepError extends ValidationError {
  constructor(readonly path: string) {
    super(`the record is nested deeper than ${MAX_DOC_DEPTH} levels (at ${path}); hms-sync does not read documents this deep. Fix the record at the source (or map the deep part away with an expression) and replay it`, { details: { path, maxDepth: MAX_DOC_DEPTH } });
  }
}

/** JSON with object keys sorted at every depth, so equal documents serialise equally. */
export function stableStringify(value: unknown): string {
  try {
    return stable(value, 0);
  } catch (err) {
    if (err instanceof DepthExceeded) throw new DocumentTooDeepError(deepPath(value));
    throw err;
  }
}

class DepthExceeded extends Error {}

function stable(value: unknown, depth: number): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return JSON.stringify(value.toString());
    return JSON.stringify(value);
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('base64'));
  if (depth >= MAX_DOC_DEPTH) throw new DepthExceeded();
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + stable(value[i], depth + 1);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  // A loop instead of filter/map/join, and scalars serialised inline: fingerprints are computed
  // for every captured row (a backfill does it a million times), the output is the same.
  let out = '';
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    if (v === undefined) continue;
    const t = typeof v;
    out += (out === '' ? '{' : ',') + jsonKey(k) + (t === 'string' || t === 'number' || t === 'boolean' ? JSON.stringify(v) : stable(v, depth + 1));
  }
  return out === '' ? '{}' : `${out}}`;
}

/**
 * Where a document first goes deeper than {@link MAX_DOC_DEPTH}: the path of its first levels and
 * how deep it goes (walked without recursion, so any depth is measured).
 */
export function deepPath(value: unknown): string {
  let deepest = 0;
  let found: string[] | null = null;
  const stack: Array<{ v: unknown; d: number; p: string[] }> = [{ v: value, d: 0, p: [] }];
  while (stack.length) {
    const { v, d, p } = stack.pop()!;
    if (d > deepest) deepest = d;
    if (v === null || typeof v !== 'object' || v instanceof Date || v instanceof Uint8Array) continue;
    if (d >= MAX_DOC_DEPTH && found === null) found = p;
    const entries: Array<[string, unknown]> = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v as Record<string, unknown>);
    // the first 8 names of the path are kept; deeper levels only count
    for (let i = entries.length - 1; i >= 0; i--) stack.push({ v: entries[i]![1], d: d + 1, p: p.length < 8 ? [...p, entries[i]![0]] : p });
  }
  const shown = (found ?? []).slice(0, 6).join('.');
  return `${shown || '(top)'}${(found ?? []).length > 6 ? '...' : ''}, ${deepest} levels deep`;
}

/**
 * A fingerprint of a document of any depth (walked without recursion), for the shadow row of a
 * record refused as too deep: the same record read again is recognised and not dead-lettered twice.
 */
export function deepFingerprint(value: unknown): string {
  const h = createHash('sha1');
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || v instanceof Date || v instanceof Uint8Array) {
      h.update(v === undefined ? 'null' : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : typeof v === 'bigint' ? v.toString() : JSON.stringify(v) ?? 'null');
      h.update('\u0000');
      continue;
    }
    const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v).sort();
    h.update(Array.isArray(v) ? `[${keys.length}` : `{${keys.length}`);
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]!;
      stack.push((v as Record<string | number, unknown>)[k]);
      if (!Array.isArray(v)) stack.push(String(k));
    }
  }
  return `!${h.digest('base64url')}`;
}

/** A copy of a document cut at `maxDepth` levels (deeper parts replaced by a note), for a dead letter. */
export function cutDepth(value: unknown, maxDepth = 16): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Date || value instanceof Uint8Array) return value;
  if (maxDepth <= 0) return `[cut: nested deeper than shown]`;
  if (Array.isArray(value)) return value.map((v) => cutDepth(v, maxDepth - 1));
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, cutDepth(v, maxDepth - 1)]));
}

/** `"name":` of an object key; field names repeat on every row, so they are kept (a bounded number). */
const jsonKeys = new Map<string, string>();
function jsonKey(k: string): string {
  let s = jsonKeys.get(k);
  if (s === undefined) {
    s = `${JSON.stringify(k)}:`;
    if (jsonKeys.size < 10_000) jsonKeys.set(k, s);
  }
  return s;
}

/** Per-row fingerprint: sha1 of the stable JSON of the row (null/absent row -> ''). */
export function fingerprint(doc: Doc | null | undefined): string {
  if (doc == null) return '';
  // crypto.hash (one shot, Node >= 20.12) costs a third of createHash().update().digest() for a row.
  return oneShotHash ? oneShotHash('sha1', stableStringify(doc), 'base64url') : createHash('sha1').update(stableStringify(doc)).digest('base64url');
}

const oneShotHash = typeof crypto.hash === 'function' ? crypto.hash : null;

/** Deep equality by value (key order ignored). */
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a == null || b == null) return (a ?? null) === (b ?? null);
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  return stableStringify(a) === stableStringify(b);
}

/**
 * The canonical key string of a record: the value itself for a one-field key, a JSON array
 * of the values for a compound key. Throws when a key field is missing.
 */
export function canonicalKey(doc: Doc, fields: readonly string[]): string {
  if (fields.length === 1) {
    const v = doc[fields[0]!];
    if (v === undefined || v === null || v === '') throw new ValidationError(`key field "${fields[0]}" is missing or empty in record ${preview(doc)}`, { details: { field: fields[0] } });
    return typeof v === 'string' ? v : stableStringify(v);
  }
  const parts = fields.map((f) => {
    const v = doc[f];
    if (v === undefined || v === null) throw new ValidationError(`key field "${f}" is missing in record ${preview(doc)}`, { details: { field: f } });
    return v;
  });
  return stableStringify(parts);
}

/** Split a canonical key back into field values (inverse of canonicalKey). */
export function keyValues(key: string, fields: readonly string[]): Doc {
  if (fields.length === 1) return { [fields[0]!]: key };
  const parts = JSON.parse(key) as unknown[];
  return Object.fromEntries(fields.map((f, i) => [f, parts[i]]));
}

function preview(doc: Doc): string {
  const s = JSON.stringify(doc);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/**
 * The fields of `newDoc` that differ from `oldDoc` (the seeds' makeDiff, done properly:
 * deep comparison, and a field that disappeared is reported as null). A value that differs only in
 * representation across types (`7.5` and `'7.50'`, a `Date` and its ISO text, `true` and `1`, text
 * and the same text padded with spaces) is no change (core/normalize.ts `sameAcrossTypes`).
 * @example makeDiff({ status: 'P', n: 1 }, { status: 'A', n: 1 }) // => { status: 'A' }
 */
export function makeDiff(oldDoc: Doc | null | undefined, newDoc: Doc | null | undefined): Doc {
  const diff: Doc = {};
  const a = oldDoc ?? {};
  const b = newDoc ?? {};
  for (const k of Object.keys(b)) if (!valuesEqual(a[k], b[k]) && !sameAcrossTypes(a[k], b[k])) diff[k] = b[k];
  for (const k of Object.keys(a)) if (!(k in b) && a[k] !== undefined && a[k] !== null) diff[k] = null;
  return diff;
}

/** The minimal delta from `prev` to `next` (either may be null), or null when nothing changed. */
export function computeDelta(key: string, prev: Doc | null | undefined, next: Doc | null | undefined, sourceTs = Date.now()): Delta | null {
  const base = prev ? fingerprint(prev) : null;
  if (!next) {
    if (!prev) return null;
    return { op: 'delete', key, changed: {}, state: null, before: prev, base, fingerprint: '', sourceTs };
  }
  const fp = fingerprint(next);
  if (!prev) return { op: 'insert', key, changed: { ...next }, state: next, before: null, base: null, fingerprint: fp, sourceTs };
  if (base === fp) return null;
  const changed = makeDiff(prev, next);
  if (Object.keys(changed).length === 0) return null;
  return { op: 'update', key, changed, state: next, before: prev, base, fingerprint: fp, sourceTs };
}

/**
 * Coalesce a newer delta into an older one for the same key that has not been delivered.
 * The result carries the newest state once; `changed` covers every field either changed.
 */
export function mergeDeltas(older: Delta, newer: Delta): Delta {
  const merged = mergeOps(older, newer);
  if (older.before !== undefined) merged.before = older.before;
  else delete merged.before;
  // a hand-made partial delta overlays the other state instead of replacing it
  if (merged.op !== 'delete' && (older.partial || newer.partial) && older.state && newer.state) {
    merged.state = { ...older.state, ...newer.state };
    merged.fingerprint = fingerprint(merged.state);
  }
  if (older.partial && newer.partial) merged.partial = true;
  else delete merged.partial;
  return merged;
}

function mergeOps(older: Delta, newer: Delta): Delta {
  const sourceTs = Math.max(older.sourceTs, newer.sourceTs);
  if (newer.op === 'delete') return { ...newer, base: older.base, sourceTs };
  if (older.op === 'delete') {
    // Target still has the row from before the delete: send the full new state as an update.
    return { op: 'update', key: newer.key, changed: { ...(newer.state ?? newer.changed) }, state: newer.state, base: older.base, fingerprint: newer.fingerprint, sourceTs };
  }
  if (newer.op === 'insert') {
    // insert after insert/update without a delete in between: full state replaces.
    return { op: older.op, key: newer.key, changed: { ...older.changed, ...(newer.state ?? newer.changed) }, state: newer.state, base: older.base, fingerprint: newer.fingerprint, sourceTs };
  }
  return { op: older.op, key: newer.key, changed: { ...older.changed, ...newer.changed }, state: newer.state, base: older.base, fingerprint: newer.fingerprint, sourceTs };
}
