/** Small pieces both dialects share: stats folding, operator-action checks, option defaults. */
import { NotFoundError, RefusedError, ValidationError } from '../core/errors.js';
import type { Job } from '../core/types.js';
import type { BacklogStats, QueueStats } from './store.js';

/** One row of `GROUP BY pipeline, target, state, retried`. */
export interface StatsRow {
  pipeline: string;
  target: string;
  state: string;
  retried: number | string | boolean;
  n: number | string;
  oldest: number | string | null;
}

/** Fold grouped counts (and the newest error per pipeline+target) into QueueStats rows, sorted. */
export function foldStats(rows: readonly StatsRow[], errors: ReadonlyArray<{ pipeline: string; target: string; last_error: string }>, now: number): QueueStats[] {
  const out = new Map<string, QueueStats>();
  const get = (pipeline: string, target: string): QueueStats => {
    const k = `${pipeline}\u0000${target}`;
    let s = out.get(k);
    if (!s) {
      s = { pipeline, target, pending: 0, running: 0, retrying: 0, dead: 0, done: 0, oldestPendingAgeMs: null, lastError: null };
      out.set(k, s);
    }
    return s;
  };
  for (const r of rows) {
    const s = get(r.pipeline, r.target);
    const n = Number(r.n);
    const retried = r.retried === true || Number(r.retried) === 1;
    if (r.state === 'pending') {
      if (retried) s.retrying += n;
      else s.pending += n;
      if (r.oldest !== null) {
        const age = Math.max(0, now - Number(r.oldest));
        s.oldestPendingAgeMs = Math.max(s.oldestPendingAgeMs ?? 0, age);
      }
    } else if (r.state === 'running') s.running += n;
    else if (r.state === 'dead') s.dead += n;
    else if (r.state === 'done') s.done += n;
  }
  for (const e of errors) get(e.pipeline, e.target).lastError = e.last_error;
  return [...out.values()].sort((a, b) => (a.pipeline === b.pipeline ? (a.target < b.target ? -1 : 1) : a.pipeline < b.pipeline ? -1 : 1));
}

/** Job ids are decimal strings; anything else is a clear ValidationError. */
export function checkJobId(id: string): void {
  if (typeof id !== 'string' || !/^[1-9][0-9]{0,18}$/.test(id)) throw new ValidationError(`job id ${JSON.stringify(id)} is not valid; a job id is a positive integer such as "42"`, { details: { id } });
}

/** Replay and discard act on dead letters only. */
export function requireDead(job: Job | null, id: string, action: 'replay' | 'discard'): Job {
  if (!job) throw new NotFoundError(`job ${id} does not exist (it may have been discarded or pruned); list dead letters with: hms-sync dlq list`, { details: { id } });
  if (job.state !== 'dead') throw new ValidationError(`job ${id} is ${job.state}, not dead; only dead letters can be ${action === 'replay' ? 'replayed' : 'discarded'}`, { details: { id, state: job.state } });
  return job;
}

/** The newest done job of a dead letter's pipeline and key, newer than the dead letter (as the stores read it). */
export interface NewerDoneRow {
  id: number | string;
  target: string;
  updated_at: number | string;
}

/**
 * Replay guard: refuse to replay `dead` when a newer job of its pipeline and key was delivered
 * since (its state would overwrite the newer one), unless forced. Returns what the audit entry
 * records about it.
 */
export function checkReplayNotStale(dead: Job, newer: NewerDoneRow | undefined, force: boolean): { newerDone?: { id: string; target: string; deliveredAt: number } } {
  if (!newer) return {};
  const n = { id: String(newer.id), target: newer.target, deliveredAt: Number(newer.updated_at) };
  if (force) return { newerDone: n };
  throw new RefusedError(
    `job ${dead.id} was not replayed: job ${n.id}, a newer job of pipeline "${dead.pipeline}" key ${JSON.stringify(dead.key)} (target "${n.target}"), was delivered at ${new Date(n.deliveredAt).toISOString()}, after job ${dead.id} was created (${new Date(dead.createdAt).toISOString()}); replaying would write the older state over it. Compare with \`hms-sync dlq show ${dead.id}\` and the target, then replay with --force (store: force: true) to deliver it anyway, or discard it`,
    { details: { id: dead.id, newerJobId: n.id, newerTarget: n.target, deliveredAt: n.deliveredAt } },
  );
}

export const DEFAULT_LIST_LIMIT = 100;
/** Rows per page when streaming a shadow scope (bounded memory). */
export const SHADOW_PAGE = 500;

/** A row of the dialects' `backlog` statement (counts may come back as text or bigint). */
export interface BacklogRow { pipeline: string; pending: number | string; running: number | string; oldest: number | string | null }

export function foldBacklog(rows: readonly BacklogRow[], now: number): BacklogStats[] {
  return rows.map((r) => ({
    pipeline: r.pipeline,
    pending: Number(r.pending),
    running: Number(r.running),
    oldestPendingAgeMs: r.oldest === null ? null : Math.max(0, now - Number(r.oldest)),
  })).sort((a, b) => (a.pipeline < b.pipeline ? -1 : a.pipeline > b.pipeline ? 1 : 0));
}
