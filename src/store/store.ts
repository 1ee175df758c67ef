/**
 * The store port: everything the engine keeps durably (queue, shadow, source positions,
 * dead letters, audit log) behind one interface with two dialects (SQLite, PostgreSQL).
 * The engine depends on this shape only; tests run the same suite over both dialects.
 */
import type { ReviewStore } from './review-store.js';
import type { Delta, Job, JobState } from '../core/types.js';

export interface EnqueueInput {
  pipeline: string;
  target: string;
  key: string;
  payload: Delta;
  /** Earliest delivery time (epoch ms): now + debounce window. */
  runAt: number;
  /**
   * Latest time a coalesced job may be pushed back to by further merges (trailing debounce cap).
   * Defaults to runAt.
   */
  maxRunAt?: number;
  maxAttempts: number;
  /**
   * Merge into the key's newest job when that job is still pending (default true).
   * `false` always inserts a new job (per-key FIFO still holds); used by benchmarks and by
   * callers that must deliver every intermediate state.
   */
  coalesce?: boolean;
}

/** Last state seen for a key on one side of a pipeline (or by one source). */
export interface ShadowRow {
  /** Scope: a source id (`poll:<system>:<collection>`) or `<pipeline>:target`. */
  scope: string;
  key: string;
  fingerprint: string;
  /** The state itself when the scope keeps it (needed for diffs); null when only the fingerprint is kept. */
  doc: Record<string, unknown> | null;
  /** Epoch ms. */
  updatedAt?: number;
}

export interface ShadowDelete {
  scope: string;
  key: string;
  delete: true;
}

/**
 * A write the engine is about to make into a collection that another pipeline (the reader)
 * watches: when that reader's source sees these fields with these values, they are our own echo.
 */
export interface EchoIntentInput {
  /** The pipeline whose source watches the written collection. */
  reader: string;
  /** The key as the reader's source computes it. */
  key: string;
  /** The pipeline that writes. */
  writer: string;
  /** The fields written and their values (target field names); null for a delete. */
  fields: Record<string, unknown> | null;
  /** The full state written (null for a delete): compared when a change arrives without a before image. */
  state: Record<string, unknown> | null;
  /** Epoch ms. */
  at: number;
}

export interface EchoIntent extends EchoIntentInput {
  id: string;
  /** Epoch ms when the sink acknowledged the write; null while in flight (or when it failed). */
  landedAt: number | null;
}

/** Consume (part of) an intent: the fields still to be seen back, or delete it. */
export type EchoIntentUpdate = { id: string; fields: Record<string, unknown> } | { id: string; delete: true };

/** One atomic commit: a source position together with the jobs and shadow rows it produced (outbox). */
export interface CommitInput {
  jobs: EnqueueInput[];
  shadow?: Array<ShadowRow | ShadowDelete>;
  /** Echo intents consumed by the changes of this commit. */
  intents?: EchoIntentUpdate[];
  /** Delivery ids taken by this commit (webhook-id): remembered only if the commit lands. */
  remember?: Array<{ scope: string; id: string; at: number }>;
  position?: { source: string; position: string };
}

export interface ClaimOptions {
  workerId: string;
  limit: number;
  leaseMs: number;
  /** Only claim jobs of these pipelines (all when omitted). */
  pipelines?: string[];
}

export interface FailInput {
  id: string;
  version: number;
  error: string;
  /** Epoch ms of the next attempt; null dead-letters the job now. */
  retryAt: number | null;
  /** The worker that claimed the job: when given, a job re-claimed by another worker since (lease expired) is not touched. */
  workerId?: string;
}

/** One delivered job to acknowledge. */
export interface CompleteInput {
  id: string;
  version: number;
  /**
   * The worker that claimed the job. When given, the ack only applies while this worker still
   * holds the job: a worker whose lease expired (and whose job another worker re-claimed) cannot
   * mark it done, so the key's next job waits for the current holder and per-key order holds.
   */
  workerId?: string;
}

export interface QueueStats {
  pipeline: string;
  target: string;
  /** Pending jobs waiting for their first attempt (attempts = 0). */
  pending: number;
  running: number;
  /** Pending jobs waiting for a retry (attempts > 0); disjoint from `pending`. */
  retrying: number;
  dead: number;
  done: number;
  /** Age in ms of the oldest pending job, null when none. */
  oldestPendingAgeMs: number | null;
  lastError: string | null;
}

/** Unfinished jobs of one pipeline, from {@link OperationsStore.backlog}. */
export interface BacklogStats {
  pipeline: string;
  /** Pending jobs (first attempt or retry, due or not). */
  pending: number;
  running: number;
  /** Age in ms of the oldest pending job, null when none: how far behind the target is. */
  oldestPendingAgeMs: number | null;
}

export interface AuditEntry {
  id: string;
  at: number;
  actor: string;
  action: string;
  jobId: string | null;
  details: Record<string, unknown>;
}

export interface ListJobsOptions {
  state?: JobState;
  pipeline?: string;
  limit?: number;
}

/** Echo write intents (store role): recorded before a write, consumed by the reader's commits. */
export interface EchoIntentStore {
  /** Record intents (and drop intents older than `expireBefore`, epoch ms, when given); returns their ids in order. */
  recordIntents(rows: EchoIntentInput[], expireBefore?: number): Promise<string[]>;
  /** Mark the writes of these intents acknowledged by the sink at `at` (epoch ms). */
  landIntents(ids: string[], at: number): Promise<void>;
  /** The live intents (created at or after `since`) of a reader for these keys, oldest first per key. */
  getIntents(reader: string, keys: string[], since: number): Promise<Map<string, EchoIntent[]>>;
}

/**
 * Store roles. The engine and the operator layer each depend on the role they use; the two
 * dialects implement them all (`Store`). A new role (review queue, conflicts, leases) is a new
 * interface here and new role-named statements in each dialect, not a longer list in one place.
 */

/** Schema: numbered migrations and the recorded version. */
export interface SchemaStore {
  readonly dialect: 'sqlite' | 'postgres';
  /** Apply numbered migrations; idempotent and safe to run from several processes. */
  migrate(): Promise<void>;
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

/** The sync queue: enqueue with coalescing, claim with per-key order, ack / retry / dead-letter. */
export interface QueueStore {
  /** Atomically enqueue (with coalescing), update shadow rows, consume echo intents and record a source position. */
  commit(input: CommitInput): Promise<{ inserted: number; merged: number }>;
  /** Shorthand for commit({ jobs }). */
  enqueue(jobs: EnqueueInput[]): Promise<{ inserted: number; merged: number }>;
  /**
   * Claim up to `limit` runnable jobs: pending, runAt <= now, and the oldest unfinished job
   * of their (pipeline, key). Claimed jobs become running with a lease and attempts + 1.
   * Jobs whose lease expired (a crashed worker) are claimable again.
   */
  claim(opts: ClaimOptions): Promise<Job[]>;
  /** Mark delivered. A job whose version changed since the claim is not touched. */
  complete(done: CompleteInput[]): Promise<void>;
  /** Record a failure: schedule a retry at `retryAt`, or dead-letter when retryAt is null. */
  fail(failures: FailInput[]): Promise<void>;
  /**
   * Extend the lease of jobs a worker still holds (the delivery heartbeat); returns how many of
   * them it still holds (fewer than `ids.length`: a lease expired and the job was reclaimed).
   */
  extendLease(ids: string[], workerId: string, leaseMs: number): Promise<number>;
  /** Epoch ms of the earliest pending runAt (to sleep until), or null when the queue is empty. */
  nextRunAt(pipelines?: string[]): Promise<number | null>;
  /** Called when jobs may have become runnable (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite). */
  onWake(listener: () => void): () => void;
  /**
   * Resolves once wake-ups are live: every enqueue committed after this wakes the onWake
   * listeners (PostgreSQL: the LISTEN connection is up). Optional; SQLite resolves at once.
   */
  wakeReady?(): Promise<void>;
}

/** A fingerprint no row has: a shadow row marked with it differs from whatever is read next ('' is a tombstone). */
export const STALE_FINGERPRINT = '~stale';

/** Fields to merge into the shadow doc of one key (see StateStore.patchShadow). */
export interface ShadowPatch {
  scope: string;
  key: string;
  fields: Record<string, unknown>;
}

/** What sources and links remember: positions, shadow rows (echo intents: {@link EchoIntentStore}). */
export interface StateStore {
  /**
   * Merge fields into existing shadow docs, atomically per row against the row as it is now (a
   * concurrent commit of the same row is never reverted); the fingerprint is recomputed. A row
   * without a doc is marked stale ({@link STALE_FINGERPRINT}); a missing row is left alone.
   */
  patchShadow(patches: ShadowPatch[]): Promise<void>;
  /** Which of these delivery ids (webhook-id) the scope has already taken (see CommitInput.remember). */
  seenIds(scope: string, ids: string[]): Promise<Set<string>>;
  /** Forget the scope's delivery ids taken before `before` (epoch ms); returns how many. */
  forgetIds(scope: string, before: number): Promise<number>;
  getPosition(source: string): Promise<string | null>;
  getShadow(scope: string, keys: string[]): Promise<Map<string, ShadowRow>>;
  /** All shadow rows of a scope (for full scans that must detect deletes). */
  listShadow(scope: string): AsyncIterable<ShadowRow>;
}

/** What operators (CLI, server) read and do: stats, job lookup, dead letters, audit, pruning. */
export interface OperationsStore {
  stats(): Promise<QueueStats[]>;
  /** Pending and running jobs per pipeline; cheap (reads only unfinished jobs), for periodic logging. Pipelines with none are left out. */
  backlog(): Promise<BacklogStats[]>;
  getJob(id: string): Promise<Job | null>;
  listJobs(opts: ListJobsOptions): Promise<Job[]>;
  /**
   * Dead letter back to pending (optionally with an edited payload); audited. Refused with a
   * RefusedError naming the newer job when a newer job of the same pipeline and key has been
   * delivered (is done) since: replaying would write older state over it. `force` replays anyway
   * (the audit entry records it).
   */
  replay(id: string, opts: { actor: string; payload?: Delta; force?: boolean }): Promise<Job>;
  /** Remove a dead letter for good; audited. */
  discard(id: string, opts: { actor: string; reason?: string }): Promise<void>;
  audit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void>;
  /** Audit entries, newest first (default limit 100). */
  listAudit(limit?: number): Promise<AuditEntry[]>;
  /** Delete done jobs older than `olderThanMs`. */
  prune(olderThanMs: number): Promise<number>;
}

/** The process that holds a source's lease: its engine id (workerId), host name and pid. */
export interface SourceHolder {
  holder: string;
  host: string;
  pid: number;
}

/**
 * A source's health as its reader records it: `starting` (lease taken, not read yet), `running`,
 * `retrying` (failing since `since` with `error`, retried with backoff), `failed` (a permanent
 * problem, or retrying longer than `sourceFailAfter`), `stopped` (released by a clean stop).
 */
export type SourceHealthState = 'starting' | 'running' | 'retrying' | 'failed' | 'stopped';

export interface SourceStatus {
  /** `pipeline:<name>` */
  source: string;
  pipeline: string;
  state: SourceHealthState;
  /** Epoch ms the state was entered (for `retrying`: the first failure of the run of failures). */
  since: number | null;
  error: string | null;
  /** The lease holder, or null when released. */
  holder: SourceHolder | null;
  heartbeatAt: number | null;
  expiresAt: number | null;
  /** The lease is held and not expired (in the store's clock): a live process reads the source. */
  live: boolean;
  /** The holder's `sourceFailAfter` (ms), when it recorded one. */
  failAfterMs: number | null;
  /** Epoch ms of the store's clock when this was read. */
  now: number;
}

export type AcquireResult = { acquired: true } | { acquired: false; heldBy: SourceHolder & { heartbeatAt: number | null; expiresAt: number | null } };

/**
 * Source leases (store role): one reader per source. A lease is a row with holder, heartbeat and
 * expiry; the holder renews it while it reads, releases it on a clean stop, and loses it when it
 * stops heartbeating for `ttlMs`. A process that is refused retries later (a standby).
 */
export interface SourceStore {
  /**
   * Take the lease of `source` for `holder`: granted when free, expired, already ours, or held by
   * `replace` (a holder the caller knows is dead, e.g. a pid gone on this host). Resets the state to `starting`.
   */
  acquireSource(input: { source: string; pipeline: string; holder: SourceHolder; ttlMs: number; replace?: string }): Promise<AcquireResult>;
  /** Extend the leases `holder` still holds among `sources`; returns those (a lease lost since is missing). */
  renewSources(holder: string, sources: string[], ttlMs: number): Promise<string[]>;
  /** Release leases on a clean stop (state `stopped`, except `failed`, which stays for `status`). */
  releaseSources(holder: string, sources: string[]): Promise<void>;
  /** Record a source's health; only while `holder` holds its lease. */
  setSourceState(source: string, holder: string, s: { state: SourceHealthState; since: number; error: string | null; failAfterMs: number | null }): Promise<void>;
  listSources(): Promise<SourceStatus[]>;
  /** Commit a tiny write (one row of `store_probe`): throws when the store cannot write (full, read-only). */
  probeWrite(writer: string): Promise<void>;
}

export interface Store extends SchemaStore, QueueStore, StateStore, EchoIntentStore, OperationsStore, SourceStore {
  /** The review queue of reconciliation (src/store/review-store.ts). */
  readonly review: ReviewStore;
}
