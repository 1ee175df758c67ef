/**
 * Operator actions on dead letters: list, show, replay (optionally with an edited payload),
 * discard, and the audit log. They take a store and plain data and return data; the CLI
 * (`hms-sync dlq`) and the HTTP server call them and only parse arguments and print. Every
 * change goes through the store, which writes the audit entry with the actor in the same
 * transaction.
 *
 * @example
 * const jobs = await listDeadLetters(store, { pipeline: 'permits', limit: 20 });
 * const payload = applySets(jobs[0].payload, ['STATUS=APPROVED']);
 * await replayDeadLetter(store, jobs[0].id, { actor: 'ann', payload });
 */
import { fingerprint } from '../core/delta.js';
import { NotFoundError, UsageError, ValidationError } from '../core/errors.js';
import type { Delta, Job } from '../core/types.js';
import type { AuditEntry, Store } from '../store/store.js';

/** Dead letters, oldest first (by job id; default limit 100). */
export async function listDeadLetters(store: Store, opts: { pipeline?: string; limit?: number } = {}): Promise<Job[]> {
  return store.listJobs({ state: 'dead', pipeline: opts.pipeline, limit: opts.limit ?? 100 });
}

/** One job with its payload and last error; NotFoundError when the id does not exist. */
export async function showDeadLetter(store: Store, id: string): Promise<Job> {
  const job = await store.getJob(id);
  if (!job) throw new NotFoundError(`job ${id} does not exist; \`hms-sync dlq list\` shows the dead letters`, { details: { jobId: id } });
  return job;
}

export interface ReplayOptions {
  /** Who replays (kept in the audit log). */
  actor: string;
  /** Replace the payload with this delta (e.g. from {@link parseDeltaPayload} or {@link applySets}). */
  payload?: Delta;
  /** Replay even when a newer job of the key was delivered since (default false: RefusedError). */
  force?: boolean;
}

/**
 * Put a dead letter back in the queue. Refused (RefusedError, HMS_ERR_REFUSED) when a newer job
 * of its pipeline and key was delivered since, unless `force`; the audit entry records the force.
 */
export async function replayDeadLetter(store: Store, id: string, opts: ReplayOptions): Promise<Job> {
  await showDeadLetter(store, id);
  return store.replay(id, { actor: opts.actor, payload: opts.payload, force: opts.force === true });
}

/** Remove a dead letter for good; the reason goes into the audit log. */
export async function discardDeadLetter(store: Store, id: string, opts: { actor: string; reason?: string }): Promise<{ id: string; discarded: true }> {
  await showDeadLetter(store, id);
  await store.discard(id, { actor: opts.actor, reason: opts.reason });
  return { id, discarded: true };
}

/** The audit log of operator actions, newest first (default limit 50). */
export async function listAudit(store: Store, opts: { limit?: number } = {}): Promise<AuditEntry[]> {
  return store.listAudit(opts.limit ?? 50);
}

/**
 * Apply `field=value` edits to the payload's new state (each value parsed as JSON when it
 * parses, else kept as text) and recompute its fingerprint. A delete has no state to edit.
 * @example applySets(delta, ['STATUS="A"', 'QTY=3'])
 */
export function applySets(payload: Delta, sets: string[]): Delta {
  if (!sets.length) return payload;
  if (payload.op === 'delete') throw new UsageError(`--set edits fields of the new state, but this job is a delete (it has none); use --payload or --edit to change the whole delta`);
  const state = { ...(payload.state ?? {}) };
  const changed = { ...payload.changed };
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set "${s}" is not field=value (e.g. --set status=APPROVED)`);
    const field = s.slice(0, eq);
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    state[field] = value;
    changed[field] = value;
  }
  const edited: Delta = { ...payload, state, changed, fingerprint: fingerprint(state) };
  delete edited.rejected; // the operator fixed the record the source could not read
  return edited;
}

/**
 * A delta given by an operator as JSON text (a file, stdin, an edited copy, an HTTP body):
 * checked for op, key, changed; base, fingerprint, sourceTs and state filled when absent.
 * `where` names the input in error messages.
 */
export function parseDeltaPayload(text: string, where: string): Delta {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  const d = v as Partial<Delta>;
  if (!d || typeof d !== 'object' || !['insert', 'update', 'delete'].includes(d.op as string) || typeof d.key !== 'string' || typeof d.changed !== 'object') {
    throw new ValidationError(`${where} must be a delta object with op (insert, update or delete), key (string), changed (object) and state (object or null)`);
  }
  const delta = { base: null, fingerprint: fingerprint(d.state ?? null), sourceTs: Date.now(), state: null, ...d } as Delta;
  delete delta.rejected; // an edited payload is the operator's fix of a record the source could not read
  return delta;
}
