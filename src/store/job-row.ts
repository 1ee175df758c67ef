/** Row <-> domain mapping shared by both dialects (column names are the same in both schemas). */
import type { Delta, Job, JobState } from '../core/types.js';
import type { AuditEntry, EchoIntent, ShadowRow, SourceHealthState, SourceStatus } from './store.js';

/** A `jobs` row as either driver returns it (PostgreSQL bigints arrive as strings, JSON as objects). */
export interface JobRowLike {
  id: number | string | bigint;
  pipeline: string;
  target: string;
  key: string;
  version: number | string;
  state: string;
  payload: string | Delta;
  attempts: number | string;
  max_attempts: number | string;
  run_at: number | string;
  max_run_at?: number | string;
  created_at: number | string;
  updated_at: number | string;
  last_error: string | null;
  lease_until: number | string | null;
  locked_by: string | null;
}

function num(v: number | string | bigint): number {
  return typeof v === 'number' ? v : Number(v);
}

function json<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

export function jobFromRow(r: JobRowLike): Job {
  return {
    id: String(r.id),
    pipeline: r.pipeline,
    target: r.target,
    key: r.key,
    version: num(r.version),
    state: r.state as JobState,
    payload: json<Delta>(r.payload),
    attempts: num(r.attempts),
    maxAttempts: num(r.max_attempts),
    runAt: num(r.run_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    lastError: r.last_error,
    leaseUntil: r.lease_until === null ? null : num(r.lease_until),
    lockedBy: r.locked_by,
  };
}

export interface ShadowRowLike {
  scope: string;
  key: string;
  fingerprint: string;
  doc: string | Record<string, unknown> | null;
  updated_at: number | string;
}

export function shadowFromRow(r: ShadowRowLike): ShadowRow {
  return { scope: r.scope, key: r.key, fingerprint: r.fingerprint, doc: r.doc === null ? null : json<Record<string, unknown>>(r.doc), updatedAt: num(r.updated_at) };
}

export interface IntentRowLike {
  id: number | string | bigint;
  reader: string;
  key: string;
  writer: string;
  fields: string | Record<string, unknown> | null;
  state: string | Record<string, unknown> | null;
  created_at: number | string;
  landed_at: number | string | null;
}

export function intentFromRow(r: IntentRowLike): EchoIntent {
  return {
    id: String(r.id), reader: r.reader, key: r.key, writer: r.writer,
    fields: r.fields === null ? null : json<Record<string, unknown>>(r.fields),
    state: r.state === null ? null : json<Record<string, unknown>>(r.state),
    at: num(r.created_at),
    landedAt: r.landed_at === null || r.landed_at === undefined ? null : num(r.landed_at),
  };
}

export interface AuditRowLike {
  id: number | string;
  at: number | string;
  actor: string;
  action: string;
  job_id: string | null;
  details: string | Record<string, unknown>;
}

export function auditFromRow(r: AuditRowLike): AuditEntry {
  return { id: String(r.id), at: num(r.at), actor: r.actor, action: r.action, jobId: r.job_id, details: json<Record<string, unknown>>(r.details) };
}

/** Sort jobs by id numerically (ids are decimal strings). */
export function byId(a: Job, b: Job): number {
  return a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** A `sources` row as either driver returns it (PostgreSQL bigints arrive as strings). */
export interface SourceRowLike {
  source: string; pipeline: string; holder: string | null; holder_host: string | null; holder_pid: number | string | null;
  heartbeat_at: number | string | null; expires_at: number | string | null; state: string; state_since: number | string | null; error: string | null; fail_after_ms: number | string | null;
}

/** A source's lease and health; `now` is the clock the lease is judged by (the store's). */
export function sourceFromRow(r: SourceRowLike, now: number): SourceStatus {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const expiresAt = n(r.expires_at);
  return {
    source: r.source,
    pipeline: r.pipeline,
    state: r.state as SourceHealthState,
    since: n(r.state_since),
    error: r.error,
    holder: r.holder ? { holder: r.holder, host: r.holder_host ?? '?', pid: Number(r.holder_pid ?? 0) } : null,
    heartbeatAt: n(r.heartbeat_at),
    expiresAt,
    live: r.holder !== null && expiresAt !== null && expiresAt >= now,
    failAfterMs: n(r.fail_after_ms),
    now,
  };
}
