/**
 * Operator actions on the review queue: repair, ignore, assign, one by one or in bulk by filter
 * (with a dry run). They take a store and plain data and return data; the CLI (`hms-sync review`)
 * and the HTTP server only parse arguments and print.
 *
 * Repair never writes around the pipeline: it re-reads the row from the system of record (the
 * pipeline's source) and enqueues it as a job of the pipeline, marked `repair` with the
 * discrepancy's id, so the mapping, retries, dead letters and the audit log apply as to any change.
 * A row that is extra in the target is deleted through the pipeline's delete path. Every action is
 * audited with the actor.
 */
import { fingerprint } from '../core/delta.js';
import { ConfigError, errorMessage, NotFoundError, RefusedError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Delta } from '../core/types.js';
import type { ResolvedConfig } from '../config/schema.js';
import { getConnector } from '../connectors/registry.js';
import type { Reader } from '../connectors/contract.js';
import type { Store } from '../store/store.js';
import type { Discrepancy, DiscrepancyClass, DiscrepancyStatus } from '../store/review-store.js';

export interface ReviewFilter {
  pipeline?: string;
  class?: DiscrepancyClass;
  status?: DiscrepancyStatus | DiscrepancyStatus[];
  keys?: string[];
  limit?: number;
}

export interface RepairOutcome {
  id: string;
  pipeline: string;
  key: string;
  class: DiscrepancyClass;
  /** What was queued: the source row as an upsert, a delete of the extra target row, or nothing. */
  action: 'upsert' | 'delete' | 'none';
  detail: string;
}

/** One discrepancy; NotFoundError when the id does not exist. */
export async function showDiscrepancy(store: Store, id: string): Promise<Discrepancy> {
  const d = await store.review.getDiscrepancy(id);
  if (!d) throw new NotFoundError(`discrepancy ${id} does not exist; \`hms-sync review list\` shows the open ones`, { details: { id } });
  return d;
}

/** Every discrepancy matching the filter (open ones by default), oldest first, in pages. */
export async function listDiscrepancies(store: Store, filter: ReviewFilter = {}): Promise<Discrepancy[]> {
  const limit = filter.limit ?? 100;
  const out: Discrepancy[] = [];
  let afterId: string | undefined;
  while (out.length < limit) {
    const page = await store.review.listDiscrepancies({ pipeline: filter.pipeline, class: filter.class, status: filter.status ?? 'open', keys: filter.keys, afterId, limit: Math.min(500, limit - out.length) });
    out.push(...page);
    if (page.length === 0 || page.length < Math.min(500, limit - out.length + page.length)) break;
    afterId = page[page.length - 1]!.id;
  }
  return out;
}

/**
 * Repair discrepancies: re-read each from the source and enqueue it through the pipeline (or a
 * delete for a row extra in the target). With `dryRun`, say what would be queued and change nothing.
 */
export async function repairDiscrepancies(input: { store: Store; config: ResolvedConfig; ids: string[]; actor: string; logger: Logger; dryRun?: boolean; auto?: boolean }): Promise<RepairOutcome[]> {
  const { store, config } = input;
  const found = await Promise.all(input.ids.map((id) => showDiscrepancy(store, id)));
  const out: RepairOutcome[] = [];
  const readers = new Map<string, Reader>();
  try {
    for (const d of found) {
      if (d.status === 'closed') throw new RefusedError(`discrepancy ${d.id} is closed (the two sides agreed on a later run); nothing to repair`);
      const p = config.pipelines[d.pipeline];
      if (!p) throw new ConfigError(`discrepancy ${d.id} belongs to pipeline "${d.pipeline}", which the configuration does not define; repair needs the pipeline to deliver through`);
      if (d.class === 'duplicate' || d.class === 'unmappable') {
        out.push({ id: d.id, pipeline: d.pipeline, key: d.key, class: d.class, action: 'none', detail: d.class === 'duplicate' ? `a duplicate key cannot be repaired by a sync: make the key unique on that side (${d.error ?? ''})` : `fix the mapping or the source row first (${d.error ?? ''}), then reconcile again` });
        continue;
      }
      if (d.sourceKey === null) {
        out.push({ id: d.id, pipeline: d.pipeline, key: d.key, class: d.class, action: 'none', detail: 'the source key of this target row cannot be derived from the mapping (map the source key fields to the target key by name); delete it by hand' });
        continue;
      }
      let reader = readers.get(d.pipeline);
      if (!reader) {
        const sys = config.systems[p.from.system]!;
        const connector = getConnector(sys.driver);
        if (!connector.createReader) throw new ConfigError(`pipeline "${p.name}": system "${p.from.system}" cannot be read, so a repair cannot re-read the row from it`);
        reader = await connector.createReader({ system: p.from.system, systemConfig: sys.config, collection: p.from.collection, options: p.from.options, keyFields: p.key, logger: input.logger, baseDir: config.baseDir });
        readers.set(d.pipeline, reader);
      }
      const now = Date.now();
      const row = (await reader.getByKeys([d.sourceKey])).get(d.sourceKey) ?? null;
      let payload: Delta;
      let action: RepairOutcome['action'];
      if (row) {
        // the full current row: the sink writes every mapped field, whatever the target holds now
        payload = { op: d.class === 'missing' ? 'insert' : 'update', key: d.sourceKey, changed: { ...row }, state: row, before: null, base: null, fingerprint: fingerprint(row), sourceTs: now, repair: d.id };
        action = 'upsert';
      } else {
        payload = { op: 'delete', key: d.sourceKey, changed: {}, state: null, before: null, base: null, fingerprint: '', sourceTs: now, repair: d.id };
        action = 'delete';
      }
      const detail = row ? `queued the source row (${d.class === 'missing' ? 'insert' : 'update'} of every mapped field) as a repair job of ${p.name}` : `the source has no row ${d.sourceKey}: queued a delete of the target row through ${p.name}`;
      if (!input.dryRun) {
        await store.enqueue([{ pipeline: p.name, target: p.to.system, key: d.sourceKey, payload, runAt: now, maxRunAt: now, maxAttempts: p.delivery.maxAttempts, coalesce: false }]);
        await store.review.updateDiscrepancy(d.id, { status: 'repairing' }, { actor: input.actor, action: input.auto ? 'auto-repair' : 'repair', details: { op: payload.op } });
      }
      out.push({ id: d.id, pipeline: d.pipeline, key: d.key, class: d.class, action, detail: input.dryRun ? `would have ${detail.replace(/^queued/, 'queued')}` : detail });
    }
  } catch (err) {
    input.logger.warn({ err: errorMessage(err) }, 'repair stopped');
    throw err;
  } finally {
    for (const r of readers.values()) await r.close().catch(() => {});
  }
  return out;
}

/** Ignore a discrepancy (a reason is required); it stays ignored while it persists and closes when it disappears. */
export async function ignoreDiscrepancy(store: Store, id: string, opts: { actor: string; reason: string }): Promise<Discrepancy> {
  if (!opts.reason.trim()) throw new RefusedError('ignoring a discrepancy needs a reason (--reason "..."): it goes into the audit log');
  await showDiscrepancy(store, id);
  return store.review.updateDiscrepancy(id, { status: 'ignored', reason: opts.reason }, { actor: opts.actor, action: 'ignore' });
}

/** Assign a discrepancy to a person (null: unassign). */
export async function assignDiscrepancy(store: Store, id: string, opts: { actor: string; assignee: string | null }): Promise<Discrepancy> {
  await showDiscrepancy(store, id);
  return store.review.updateDiscrepancy(id, { assignee: opts.assignee }, { actor: opts.actor, action: 'assign' });
}
