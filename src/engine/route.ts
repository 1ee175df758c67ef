/**
 * A route is what a worker needs to deliver one pipeline's jobs: the mapping, the target
 * key, the sink and the delivery policy. Mapping runs at delivery time, so a mapping error
 * dead-letters only its job (with the field path) and a replay after a config fix re-maps.
 */
import { canonicalKey, fingerprint, keyValues, makeDiff } from '../core/delta.js';
import { MappingError } from '../core/errors.js';
import type { Doc, Job, SinkDelta } from '../core/types.js';
import { idempotencyKey } from '../core/types.js';
import type { Sink, SinkItem } from '../connectors/contract.js';
import type { BackoffPolicy } from '../core/backoff.js';

export interface RouteMapping {
  apply(doc: Doc): Promise<Doc>;
  targetFieldFor(sourceField: string): string | undefined;
}

export interface Route {
  pipeline: string;
  target: string;
  collection: string;
  /** Source key fields. */
  key: string[];
  /** Target key fields. */
  targetKey: string[];
  mapping: RouteMapping;
  sink: Sink;
  delivery: { maxAttempts: number; backoff: BackoffPolicy; batchSize: number; leaseMs: number; timeoutMs: number; concurrency: number };
  /**
   * The pipelines that watch this route's target collection and carry changes back to its source
   * (bidirectional link), with their key fields: each gets an echo intent for every write.
   */
  echoReaders: Array<{ name: string; key: string[]; /** the reader's shadow scope (its source id) */ scope: string }>;
}

/** Identity mapping (no `map:` in the pipeline). */
export const identityMapping: RouteMapping = {
  apply: async (doc) => ({ ...doc }),
  targetFieldFor: (f) => f,
};

/**
 * Turn a claimed job (source-side delta) into the target-side item a sink writes,
 * or null when the change touches no mapped field (nothing for the target to do).
 */
export async function toSinkItem(route: Route, job: Job): Promise<SinkItem | null> {
  const d = job.payload;
  const state = d.state ? await route.mapping.apply(d.state) : null;
  let before: Doc | null = null;
  if (d.before) {
    try {
      before = await route.mapping.apply(d.before);
    } catch {
      before = null; // an old state the current mapping rejects: send the full new state
    }
  }
  let changed: Doc;
  if (d.op === 'delete') changed = {};
  else if (d.op === 'insert' || !before) changed = { ...state };
  else changed = makeDiff(before, state);
  if (d.op === 'update' && before && Object.keys(changed).length === 0) return null;
  const keyDoc = state ?? before ?? (await keyDocFromSourceKey(route, job.key));
  const targetKey = canonicalKey(keyDoc, route.targetKey);
  const delta: SinkDelta = {
    op: d.op,
    key: targetKey,
    changed,
    state,
    before,
    base: before ? fingerprint(before) : null,
    fingerprint: fingerprint(state),
    sourceTs: d.sourceTs,
  };
  return {
    jobId: job.id,
    version: job.version,
    idempotencyKey: idempotencyKey(job),
    pipeline: job.pipeline,
    collection: route.collection,
    keyFields: route.targetKey,
    delta,
  };
}

async function keyDocFromSourceKey(route: Route, key: string): Promise<Doc> {
  const src = keyValues(key, route.key);
  const out: Doc = {};
  for (const [f, v] of Object.entries(src)) {
    const t = route.mapping.targetFieldFor(f);
    if (t) out[t] = v;
  }
  for (const f of route.targetKey) {
    if (!(f in out)) throw new MappingError(f, `cannot derive target key field "${f}" for a delete of source key ${JSON.stringify(key)}; map the source key fields (${route.key.join(', ')}) to the target key`);
  }
  return out;
}
