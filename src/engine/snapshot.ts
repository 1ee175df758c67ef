/**
 * The one snapshot diff: rows read from any Reader (or a batch of records a webhook, file drop or
 * SOAP poll received) compared with the source's shadow by fingerprint, giving insert / update /
 * delete events and the shadow rows to commit with them; and the delete sweep, which walks the
 * shadow a page at a time and asks the system which of those keys still exist (bounded memory: one
 * page of keys, never a Set of every key).
 *
 * Each record is hashed once and diffed once. Pure over two small ports (the shadow and an
 * existence check), so it runs the same for every connector.
 */
import { cutDepth, deepFingerprint, DocumentTooDeepError, fingerprint } from '../core/delta.js';
import type { ChangeEvent, Doc } from '../core/types.js';
import type { Reader, SnapshotDiff, SnapshotDiffOptions, SnapshotRecord, SourceBatch, SourceState } from '../connectors/contract.js';
import type { ShadowDelete, ShadowRow, StateStore } from '../store/store.js';

/** The shadow of one source, as the snapshot diff needs it. */
export interface SnapshotShadow {
  readonly scope: string;
  getShadow(keys: string[]): Promise<Map<string, ShadowRow>>;
  /** Every shadow row of the scope, in key order, a page at a time (keyset paging). */
  listShadow(): AsyncIterable<ShadowRow>;
}

export interface SnapshotContext {
  system: string;
  collection: string;
}

export type { SnapshotDiff, SnapshotRecord };
export type DiffOptions = SnapshotDiffOptions;

/**
 * The SourceState the engine hands a connector: the store's shadow and position of `scope`, and
 * the snapshot diff over them. The one place a source's state is built (engine, backfill, SDK).
 */
export function sourceStateFor(store: StateStore, scope: string, ctx: SnapshotContext): SourceState {
  return {
    ...withSnapshot({ scope, getPosition: () => store.getPosition(scope), getShadow: (keys) => store.getShadow(scope, keys), listShadow: () => store.listShadow(scope) }, ctx),
    seenIds: (ids) => store.seenIds(scope, ids),
    forgetIds: (before) => store.forgetIds(scope, before),
  };
}

/** A SourceState over any shadow and position (an in-memory one in tests and benchmarks, say). */
export function withSnapshot(base: SnapshotShadow & Pick<SourceState, 'getPosition'>, ctx: SnapshotContext): SourceState {
  return {
    scope: base.scope,
    getPosition: () => base.getPosition(),
    getShadow: (keys) => base.getShadow(keys),
    listShadow: () => base.listShadow(),
    diff: (records, opts) => diffSnapshot(base, ctx, records, opts),
    sweepDeletes: (exists, opts) => sweepDeletes(base, ctx, exists, opts),
  };
}

/** Compare records with the shadow: changed and new records become events; unchanged ones are dropped by fingerprint. */
export async function diffSnapshot(shadow: SnapshotShadow, ctx: SnapshotContext, records: readonly SnapshotRecord[], opts: DiffOptions = {}): Promise<SnapshotDiff> {
  const known = records.length ? await shadow.getShadow([...new Set(records.map((r) => r.key))]) : new Map<string, ShadowRow>();
  const events: ChangeEvent[] = [];
  const rows: Array<ShadowRow | ShadowDelete> = [];
  const now = Date.now();
  const scope = shadow.scope;
  const readAt = opts.readAt !== undefined ? { readAt: opts.readAt } : {};
  // the state after the records seen so far in this batch (a key may appear twice)
  const current = new Map<string, { fingerprint: string; doc: Doc | null } | null>();
  for (const r of records) {
    const found = current.has(r.key) ? current.get(r.key)! : known.get(r.key) ?? null;
    const prev = found && found.fingerprint !== '' ? found : null; // '' is a tombstone
    if (r.doc === null) {
      // with tombstones: a delete reported again is dropped; one of a key never seen is passed on
      // (the target may have it). Without: only a key the shadow knows can be deleted.
      if (opts.tombstones ? found && !prev : !prev) continue;
      events.push({ system: ctx.system, collection: ctx.collection, key: r.key, op: 'delete', before: prev?.doc ?? null, after: null, ts: now, ...readAt });
      rows.push(opts.tombstones ? { scope, key: r.key, fingerprint: '', doc: null, updatedAt: now } : { scope, key: r.key, delete: true });
      current.set(r.key, opts.tombstones ? { fingerprint: '', doc: null } : null);
      continue;
    }
    let fp: string;
    try {
      fp = fingerprint(r.doc);
    } catch (err) {
      if (!(err instanceof DocumentTooDeepError)) throw err;
      // this record is dead-lettered (once: its shadow row recognises it when read again); the rest go on
      const tooDeep = deepFingerprint(r.doc);
      if (found && found.fingerprint === tooDeep) continue;
      events.push({ system: ctx.system, collection: ctx.collection, key: r.key, op: 'insert', before: null, after: cutDepth(r.doc) as Doc, ts: now, rejected: `record ${JSON.stringify(r.key)}: ${err.message}`, ...readAt });
      rows.push({ scope, key: r.key, fingerprint: tooDeep, doc: null, updatedAt: now });
      current.set(r.key, { fingerprint: tooDeep, doc: null });
      continue;
    }
    if (prev && prev.fingerprint === fp) continue;
    events.push({ system: ctx.system, collection: ctx.collection, key: r.key, op: prev ? 'update' : 'insert', before: prev?.doc ?? null, after: r.doc, ts: now, ...readAt });
    const doc = opts.fingerprintOnly ? null : r.doc;
    rows.push({ scope, key: r.key, fingerprint: fp, doc, updatedAt: now });
    current.set(r.key, { fingerprint: fp, doc });
  }
  return { events, shadow: rows };
}

export interface SweepOptions {
  /** Shadow keys checked per existence query (default 500: below every bound-parameter limit). */
  pageSize?: number;
  signal?: AbortSignal;
}

/**
 * Every shadow key the system no longer has becomes a delete. Walks the shadow a page at a time and
 * asks `exists` for that page; memory holds one page of keys and the deletes found (which are
 * yielded only after the listing ends, so the listing never reads the shadow while the engine
 * commits our own deletes into it). Tombstones (fingerprint '') are skipped.
 */
export async function* sweepDeletes(shadow: SnapshotShadow, ctx: SnapshotContext, exists: (keys: string[], rows: ShadowRow[]) => Promise<Set<string>>, opts: SweepOptions = {}): AsyncGenerator<SnapshotDiff> {
  const size = Math.max(1, opts.pageSize ?? 500);
  const found: SnapshotDiff[] = [];
  let page: ShadowRow[] = [];
  const flush = async () => {
    const rows = page;
    page = [];
    const there = await exists(rows.map((r) => r.key), rows);
    const now = Date.now();
    const diff: SnapshotDiff = { events: [], shadow: [] };
    for (const r of rows) {
      if (there.has(r.key)) continue;
      diff.events.push({ system: ctx.system, collection: ctx.collection, key: r.key, op: 'delete', before: r.doc, after: null, ts: now });
      diff.shadow.push({ scope: shadow.scope, key: r.key, delete: true });
    }
    if (diff.events.length) found.push(diff);
  };
  for await (const r of shadow.listShadow()) {
    if (opts.signal?.aborted) return;
    if (r.fingerprint === '') continue;
    page.push(r);
    if (page.length >= size) await flush();
  }
  if (page.length) await flush();
  for (const d of found) {
    if (opts.signal?.aborted) return;
    yield d;
  }
}

/**
 * A full scan of a Reader against the shadow: one batch per page that changed anything, then the
 * delete sweep (existence checked with `getByKeys`). What a polling source built on a Reader yields.
 */
export async function* scanSnapshot(reader: Reader, shadow: SnapshotShadow, ctx: SnapshotContext, opts: { limit: number; signal?: AbortSignal; fingerprintOnly?: boolean }): AsyncGenerator<SourceBatch> {
  let readAt = Date.now();
  for await (const page of reader.scan({ limit: opts.limit, signal: opts.signal })) {
    if (opts.signal?.aborted) return;
    const diff = await diffSnapshot(shadow, ctx, page.rows.map((r) => ({ key: r.key, doc: r.doc })), { readAt, fingerprintOnly: opts.fingerprintOnly });
    if (diff.events.length) yield diff;
    readAt = Date.now();
  }
  yield* sweepDeletes(shadow, ctx, async (keys) => new Set((await reader.getByKeys(keys, opts.signal)).keys()), { pageSize: Math.min(opts.limit, 500), signal: opts.signal });
}
