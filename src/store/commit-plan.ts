/**
 * Coalescing, planned in memory and shared by both dialects: given the jobs of one commit and
 * the newest unfinished job of each (pipeline, key) they touch, decide which inputs become new
 * jobs and which merge into an existing pending job. Pure: no I/O.
 */
import { mergeDeltas } from '../core/delta.js';
import { ValidationError } from '../core/errors.js';
import type { Delta } from '../core/types.js';
import type { EnqueueInput } from './store.js';

/** The newest unfinished (pending or running) job of one (pipeline, key), as read by the store. */
export interface TailJob {
  id: string;
  target: string;
  state: 'pending' | 'running';
  version: number;
  payload: Delta;
  attempts: number;
  runAt: number;
  maxRunAt: number;
}

/** A job to insert (several inputs may have merged into it before it was ever written). */
export interface PlannedInsert {
  pipeline: string;
  target: string;
  key: string;
  payload: Delta;
  runAt: number;
  maxRunAt: number;
  maxAttempts: number;
  /** Whether the input that created it allowed coalescing (then an existing pending job of the key would have absorbed it). */
  coalesce: boolean;
}

/** An existing pending job to rewrite with a merged payload (its version was bumped once). */
export interface PlannedUpdate {
  id: string;
  /** The version read (the UPDATE is guarded by it). */
  fromVersion: number;
  version: number;
  payload: Delta;
  runAt: number;
}

export interface CommitPlan {
  inserts: PlannedInsert[];
  updates: PlannedUpdate[];
  inserted: number;
  merged: number;
}

/** Map key of a (pipeline, key) pair. */
export function tailKey(pipeline: string, key: string): string {
  return `${pipeline}\u0000${key}`;
}

/**
 * The debounced run time after a merge: trailing debounce (`max` of both runAts) capped by the
 * job's own `maxRunAt` (fixed when the job was created, so a stream of edits cannot postpone it
 * forever). A retrying job (attempts > 0) keeps its backoff time.
 */
export function mergedRunAt(existing: { runAt: number; maxRunAt: number; attempts: number }, newRunAt: number): number {
  if (existing.attempts > 0) return existing.runAt;
  return Math.min(Math.max(existing.runAt, newRunAt), Math.max(existing.maxRunAt, existing.runAt));
}

/** Throws a ValidationError naming the bad field of job input number `i`. */
export function checkEnqueueInput(job: EnqueueInput, i: number): void {
  const where = `job input #${i + 1}`;
  for (const f of ['pipeline', 'target', 'key'] as const) {
    if (typeof job[f] !== 'string' || job[f] === '') throw new ValidationError(`${where}: "${f}" must be a non-empty string, got ${JSON.stringify(job[f])}`, { details: { field: f } });
  }
  if (!Number.isFinite(job.runAt)) throw new ValidationError(`${where}: "runAt" must be epoch milliseconds, got ${JSON.stringify(job.runAt)}`, { details: { field: 'runAt' } });
  if (job.maxRunAt !== undefined && !Number.isFinite(job.maxRunAt)) throw new ValidationError(`${where}: "maxRunAt" must be epoch milliseconds, got ${JSON.stringify(job.maxRunAt)}`, { details: { field: 'maxRunAt' } });
  if (!Number.isInteger(job.maxAttempts) || job.maxAttempts < 1) throw new ValidationError(`${where}: "maxAttempts" must be an integer >= 1, got ${JSON.stringify(job.maxAttempts)}`, { details: { field: 'maxAttempts' } });
  checkDelta(job.payload, `${where} payload`);
}

/** Throws a ValidationError when `d` is not a Delta. */
export function checkDelta(d: unknown, where: string): asserts d is Delta {
  const p = d as Partial<Delta> | null;
  if (p === null || typeof p !== 'object') throw new ValidationError(`${where}: must be a delta object, got ${JSON.stringify(d)}`);
  if (p.op !== 'insert' && p.op !== 'update' && p.op !== 'delete') throw new ValidationError(`${where}: "op" must be insert, update or delete, got ${JSON.stringify(p.op)}`, { details: { field: 'op' } });
  if (typeof p.key !== 'string') throw new ValidationError(`${where}: "key" must be a string, got ${JSON.stringify(p.key)}`, { details: { field: 'key' } });
  if (p.changed === null || typeof p.changed !== 'object') throw new ValidationError(`${where}: "changed" must be an object, got ${JSON.stringify(p.changed)}`, { details: { field: 'changed' } });
}

/**
 * Plan one commit. `tails` holds the newest unfinished job per `tailKey(pipeline, key)` for
 * every key the inputs touch (absent when the key has none). Inputs are applied in order, so
 * two deltas for one key in the same commit merge with each other.
 */
export function planCommit(inputs: readonly EnqueueInput[], tails: ReadonlyMap<string, TailJob>): CommitPlan {
  type Slot = { kind: 'existing'; tail: TailJob; update?: PlannedUpdate } | { kind: 'new'; insert: PlannedInsert };
  const slots = new Map<string, Slot>();
  const plan: CommitPlan = { inserts: [], updates: [], inserted: 0, merged: 0 };
  for (const input of inputs) {
    const k = tailKey(input.pipeline, input.key);
    let slot = slots.get(k);
    if (!slot) {
      const tail = tails.get(k);
      if (tail) {
        slot = { kind: 'existing', tail };
        slots.set(k, slot);
      }
    }
    const coalesce = input.coalesce !== false;
    if (coalesce && slot?.kind === 'new' && slot.insert.target === input.target) {
      const ins = slot.insert;
      ins.payload = mergeDeltas(ins.payload, input.payload);
      ins.runAt = mergedRunAt({ runAt: ins.runAt, maxRunAt: ins.maxRunAt, attempts: 0 }, input.runAt);
      plan.merged++;
      continue;
    }
    if (coalesce && slot?.kind === 'existing' && slot.tail.state === 'pending' && slot.tail.target === input.target) {
      const t = slot.tail;
      const cur = slot.update ?? { id: t.id, fromVersion: t.version, version: t.version + 1, payload: t.payload, runAt: t.runAt };
      cur.payload = mergeDeltas(cur.payload, input.payload);
      cur.runAt = mergedRunAt({ runAt: cur.runAt, maxRunAt: t.maxRunAt, attempts: t.attempts }, input.runAt);
      if (!slot.update) {
        slot.update = cur;
        plan.updates.push(cur);
      }
      plan.merged++;
      continue;
    }
    const insert: PlannedInsert = {
      pipeline: input.pipeline,
      target: input.target,
      key: input.key,
      payload: input.payload,
      runAt: input.runAt,
      maxRunAt: Math.max(input.maxRunAt ?? input.runAt, input.runAt),
      maxAttempts: input.maxAttempts,
      coalesce,
    };
    plan.inserts.push(insert);
    plan.inserted++;
    slots.set(k, { kind: 'new', insert });
  }
  return plan;
}

/** Keep the last shadow operation per (scope, key), in first-seen order (a batch upsert may touch a row once). */
export function dedupeShadow<T extends { scope: string; key: string }>(ops: readonly T[]): T[] {
  const last = new Map<string, T>();
  for (const op of ops) {
    const k = tailKey(op.scope, op.key);
    last.delete(k);
    last.set(k, op);
  }
  return [...last.values()];
}
