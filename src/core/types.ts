/** Core vocabulary (see docs/concepts.md). Pure data types: no I/O here. */

export type Op = 'insert' | 'update' | 'delete';

/** A record as JSON. Values are JSON-compatible; exact decimals travel as strings. */
export type Doc = Record<string, unknown>;

/**
 * One change seen by a source watcher, in the source's own field names.
 * `key` is the canonical key string (see `canonicalKey`).
 */
export interface ChangeEvent {
  system: string;
  collection: string;
  key: string;
  op: Op;
  before?: Doc | null;
  after?: Doc | null;
  /** Source position (LSN, cursor, file offset...) after this event, if the source has one. */
  position?: string;
  /** Milliseconds since epoch when the change happened (or was seen). */
  ts: number;
  /** Who made the change, when known (used for echo suppression). */
  origin?: string;
  /**
   * Polling sources: epoch ms (this process's clock) when the read that saw `after` began. Writes
   * acknowledged before it are reflected in `after` (echo suppression uses it to tell a person's
   * edit from a late echo). Absent for change streams, whose events show a point in the past.
   */
  readAt?: number;
  /**
   * The record could not be read (nested deeper than hms-sync reads, say): the capture dead-letters
   * it with this error (its `after` is a cut copy for the operator), and the other records go on.
   */
  rejected?: string;
}

/**
 * What every delta holds: the minimal change for one key. `changed` holds only the fields that
 * differ from the last state the engine saw (for an insert: all fields; for a delete: empty).
 * `state` is the full new state (null for a delete), so a sink that needs a full row (an upsert)
 * has it.
 */
export interface DeltaCore {
  op: Op;
  key: string;
  changed: Doc;
  state: Doc | null;
  /** The full state before the change, when known (polling sources keep it in the shadow). */
  before?: Doc | null;
  /** Fingerprint of the state this delta was computed against (null when unknown or insert). */
  base: string | null;
  /** Fingerprint of `state` (of null for a delete). */
  fingerprint: string;
  /** Source position / timestamp the delta came from (newest wins on merge). */
  sourceTs: number;
}

/**
 * The delta a source queues (a job's payload): in the SOURCE's field names, keyed by the source
 * key, not mapped yet. Mapping happens at delivery time (a mapping error dead-letters only its job
 * and a replay after a config fix maps again), which turns it into a {@link SinkDelta}.
 */
export interface Delta extends DeltaCore {
  /**
   * True when `state` holds only some fields to set (a delta enqueued by hand, e.g. from an
   * onChange hook), not the full record. Merges overlay a partial state on the other one.
   */
  partial?: boolean;
  /**
   * Set on a record the source could not read (policy dead-letter): the job is dead-lettered at its
   * first claim with this error, without calling the sink. Editing the payload on replay clears it.
   */
  rejected?: string;
  /** A repair queued from the review queue: the id of the discrepancy it repairs (audit, trace). */
  repair?: string;
}

/** Another name for {@link Delta}: what a source queues, in source field names. */
export type SourceDelta = Delta;

/**
 * The delta a sink receives (`SinkItem.delta`): in the TARGET's field names, after mapping, keyed
 * by the target key; `changed` is recomputed from the mapped `before` and `state`, so it lists only
 * target fields whose value changed.
 */
export type SinkDelta = DeltaCore;

export type JobState = 'pending' | 'running' | 'done' | 'dead';

/** One queued delta for (pipeline, key). */
export interface Job {
  id: string;
  pipeline: string;
  /** The target system name. */
  target: string;
  key: string;
  /** Bumped every time a newer delta is merged in; (id, version) identifies one delivery payload. */
  version: number;
  state: JobState;
  payload: Delta;
  attempts: number;
  maxAttempts: number;
  /** Epoch ms. */
  runAt: number;
  createdAt: number;
  updatedAt: number;
  lastError: string | null;
  leaseUntil: number | null;
  lockedBy: string | null;
}

/**
 * The idempotency key a sink sends with a job: the same for every redelivery of one job version,
 * different for every other. The creation time is part of it, so a reset store (job ids counting
 * from 1 again) never reuses a key a receiver has already seen.
 */
export function idempotencyKey(job: Pick<Job, 'id' | 'version' | 'pipeline' | 'createdAt'>): string {
  return `${job.pipeline}:${job.id}.${job.version}:${job.createdAt.toString(36)}`;
}
