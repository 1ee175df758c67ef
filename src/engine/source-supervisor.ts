/**
 * Source supervision: one reader per source (a lease in the store), and each source's health
 * (running, retrying since T with error E, failed) recorded in the store for `hms-sync status`.
 *
 * The lease is a row per source with holder (engine id, host, pid), heartbeat and expiry. The
 * holder renews it every {@link SOURCE_LEASE_MS}/3; a process that finds the source held by a
 * live process does not read it (it still delivers) and tries again now and then: when the
 * holder stops cleanly it releases the lease, when it dies the lease expires (at once when the
 * holder is a process of this host that no longer exists). Scale-out failover builds on this.
 */
import { hostname } from 'node:os';
import { errorMessage, HmsError, PermanentError, ConfigError, RefusedError, SourceFailedError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { sleep } from '../core/sleep.js';
import type { SourceHealthState, SourceHolder, SourceStore } from '../store/store.js';
import type { EngineEvents, TypedEmitter } from './events.js';

/** A permanent error this soon after the engine started, before any successful read, is a failure to start. */
const START_WINDOW_MS = 60_000;

/** A lease not renewed for this long is free. */
export const SOURCE_LEASE_MS = 15_000;

/** What a capture loop (and a source, through SourceContext.health) reports. */
export interface SourceHealthReporter {
  /** A stream (re)started. */
  streaming(): void;
  /** The source read successfully (a batch committed, or a poll that found nothing new). */
  ok(): void;
  /** The source failed (it is retried). */
  failed(err: unknown): void;
}

/** Driver codes of problems that retrying does not fix: an operator must change something. */
const PERMANENT_CODES = new Set([
  // PostgreSQL: bad password, no such role/authorisation, no such database, no such table/column, permission denied
  '28P01', '28000', '3D000', '42P01', '42703', '42501',
  // MariaDB / MySQL
  'ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_TABLEACCESS_DENIED_ERROR', 'ER_BAD_DB_ERROR', 'ER_NO_SUCH_TABLE', 'ER_BAD_FIELD_ERROR',
  // a listening source: the address is taken or not ours
  'EADDRINUSE', 'EADDRNOTAVAIL',
]);

const HINTS: Record<string, string> = {
  '28P01': 'the server refused the password: check the system\'s user and password (url)',
  '28000': 'the server refused the login: check the system\'s user (and pg_hba.conf)',
  '3D000': 'the database does not exist: check the system\'s database (url)',
  '42P01': 'check the pipeline\'s collection (and the system\'s schema)',
  '42501': 'grant the system\'s user the rights it needs (SELECT on the table)',
  ER_ACCESS_DENIED_ERROR: 'the server refused the login: check the system\'s user and password (url)',
  ER_BAD_DB_ERROR: 'the database does not exist: check the system\'s database (url)',
  ER_NO_SUCH_TABLE: 'check the pipeline\'s collection (and the system\'s database)',
  EADDRINUSE: 'another process listens there: stop it or choose another port',
};

function codes(err: unknown): string[] {
  const out: string[] = [];
  for (let e: unknown = err, n = 0; e && n < 5; e = (e as { cause?: unknown }).cause, n++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string') out.push(c);
  }
  return out;
}

/** Is this error one an operator must fix (retrying does not help)? */
export function isPermanentSourceError(err: unknown): boolean {
  if (err instanceof PermanentError || err instanceof ConfigError || err instanceof SourceFailedError) return true;
  if (codes(err).some((c) => PERMANENT_CODES.has(c))) return true;
  // SQLite: the table or column named by the pipeline does not exist
  return /\bno such (table|column)\b/i.test(errorMessage(err));
}

/** An expected error (an HmsError or a driver's coded error) is logged as one line, without a stack. */
export function isExpectedError(err: unknown): boolean {
  return err instanceof HmsError || codes(err).length > 0;
}

/** The one-line description of a source failure, with what to do when known. */
export function describeSourceError(err: unknown, where: { pipeline: string; system: string; collection: string }): string {
  const msg = err instanceof HmsError ? err.message : errorMessage(err);
  const hint = codes(err).map((c) => HINTS[c]).find((h) => h) ?? (/\bno such table\b/i.test(msg) ? 'check the pipeline\'s collection' : undefined);
  const advised = hint === undefined || msg.includes(hint) || /\bcheck |hms-sync \w+/.test(msg);
  return `pipeline "${where.pipeline}": source ${where.system}/${where.collection}: ${msg}${advised ? '' : `; ${hint}`}`;
}

export interface SourceMonitorOptions {
  pipeline: string;
  sourceId: string;
  system: string;
  collection: string;
  holder: string;
  store: Pick<SourceStore, 'setSourceState'>;
  logger: Logger;
  events: TypedEmitter<EngineEvents>;
  failAfterMs: number;
  /** Called once when a permanent error comes before the source ever read successfully. */
  onFatal?: (error: SourceFailedError) => void;
}

/** Tracks one source's health and records every change of it in the store (best effort). */
export class SourceMonitor implements SourceHealthReporter {
  state: SourceHealthState = 'starting';
  since = Date.now();
  error: string | null = null;
  private everOk = false;
  private readonly createdAt = Date.now();
  private fatalSent = false;
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly o: SourceMonitorOptions) {}

  /** A new lease: the store row says `starting` again. */
  reset(): void {
    this.state = 'starting';
    this.since = Date.now();
    this.error = null;
  }

  streaming(): void {
    if (this.state === 'starting') this.set('running', null, Date.now());
  }

  ok(): void {
    this.everOk = true;
    if (this.state !== 'running') this.set('running', null, Date.now());
  }

  failed(err: unknown): void {
    const permanent = isPermanentSourceError(err);
    const message = describeSourceError(err, this.o);
    // "at start": before the source ever read, and within its first minute (a change stream that
    // has been up a while without a batch has started fine)
    if (permanent && !this.everOk && Date.now() - this.createdAt < START_WINDOW_MS && !this.fatalSent && this.o.onFatal) {
      this.fatalSent = true;
      this.o.onFatal(new SourceFailedError(message, { cause: err }));
    }
    const now = Date.now();
    const since = this.state === 'retrying' || this.state === 'failed' ? this.since : now;
    const state: SourceHealthState = permanent || now - since >= this.o.failAfterMs ? 'failed' : 'retrying';
    if (state !== this.state || message !== this.error) this.set(state, message, since);
  }

  /** Settles when the state writes issued so far are done. */
  flush(): Promise<void> {
    return this.writes;
  }

  private set(state: SourceHealthState, error: string | null, since: number): void {
    this.state = state;
    this.error = error;
    this.since = since;
    this.o.events.emit('source:state', { pipeline: this.o.pipeline, state, since, error });
    const row = { state, since, error, failAfterMs: this.o.failAfterMs };
    this.writes = this.writes
      .then(() => this.o.store.setSourceState(this.o.sourceId, this.o.holder, row))
      .catch((e: unknown) => this.o.logger.debug({ pipeline: this.o.pipeline, error: errorMessage(e) }, 'could not record the source state'));
  }
}

/** Whether a process of this host with this pid exists (signal 0 checks without sending). */
function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ago(at: number | null): string {
  if (at === null) return 'never';
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  return `${s} s ago`;
}

/** Engine ids of the engines running in this process (a lease held by another id of our pid is a dead engine's). */
export const liveEngines = new Set<string>();

/** Whether the holder is known to be gone: a process of this host that no longer exists, or an engine of this process that stopped without releasing. */
function holderIsDead(h: SourceHolder, self: SourceHolder): boolean {
  if (h.host !== self.host) return false;
  if (h.pid === process.pid) return h.holder !== self.holder && !liveEngines.has(h.holder);
  return !pidAlive(h.pid);
}

export interface LeaseLoopOptions {
  pipeline: string;
  sourceId: string;
  store: Pick<SourceStore, 'acquireSource'>;
  holder: SourceHolder;
  logger: Logger;
  events: TypedEmitter<EngineEvents>;
  /** A store that allows one reader process only (SQLite): being refused is fatal (`onRefused`). */
  onRefused?: (error: RefusedError) => void;
  ttlMs?: number;
}

/**
 * Until the signal aborts: take the source's lease, run `read` (with a signal that also aborts
 * when `lost` is called for this source), and when refused wait as a standby, retrying.
 */
export async function leaseLoop(o: LeaseLoopOptions, read: (signal: AbortSignal) => Promise<void>, register: (sourceId: string, ac: AbortController | null) => void, signal: AbortSignal): Promise<void> {
  const ttlMs = o.ttlMs ?? SOURCE_LEASE_MS;
  let lastHolder: string | null = null;
  let storeProblem: string | null = null;
  while (!signal.aborted) {
    let acquired = false;
    try {
      let r = await o.store.acquireSource({ source: o.sourceId, pipeline: o.pipeline, holder: o.holder, ttlMs });
      if (!r.acquired && holderIsDead(r.heldBy, o.holder)) {
        o.logger.info({ pipeline: o.pipeline, holder: r.heldBy }, `the source of pipeline "${o.pipeline}" was read by ${r.heldBy.pid === process.pid ? `engine ${r.heldBy.holder} of this process, which stopped without releasing it` : `process ${r.heldBy.pid} of this host, which no longer exists`}; taking it over`);
        r = await o.store.acquireSource({ source: o.sourceId, pipeline: o.pipeline, holder: o.holder, ttlMs, replace: r.heldBy.holder });
      }
      if (storeProblem && r.acquired) o.logger.info({ pipeline: o.pipeline }, `the state store answers again: pipeline "${o.pipeline}" reads its source again`);
      storeProblem = null;
      if (r.acquired) acquired = true;
      else if (r.heldBy.holder !== lastHolder) {
        lastHolder = r.heldBy.holder;
        const who = `host ${r.heldBy.host}, pid ${r.heldBy.pid}, engine ${r.heldBy.holder}, last heartbeat ${ago(r.heldBy.heartbeatAt)}`;
        if (o.onRefused) {
          o.onRefused(new RefusedError(`pipeline "${o.pipeline}": its source is already read by another hms-sync process on this store (${who}); an SQLite store serves one process: stop that one first, run this one with --no-capture, or use a PostgreSQL store to run several`, { details: { holder: r.heldBy } }));
        }
        o.logger.warn({ pipeline: o.pipeline, holder: r.heldBy }, `pipeline "${o.pipeline}": its source is read by another hms-sync process (${who}); this process does not read it and only delivers; it takes over when that process stops (its lease expires ${Math.round(ttlMs / 1000)} s after its last heartbeat)`);
        o.events.emit('source:standby', { pipeline: o.pipeline, holder: r.heldBy });
      }
    } catch (e) {
      const msg = errorMessage(e);
      if (msg !== storeProblem) o.logger.warn({ pipeline: o.pipeline, error: msg }, `cannot take the lease of pipeline "${o.pipeline}"'s source from the store; trying again: ${msg}`);
      storeProblem = msg;
    }
    if (signal.aborted) break;
    if (!acquired) {
      await sleep(storeProblem ? 250 : ttlMs / 3, signal);
      continue;
    }
    if (lastHolder) o.logger.info({ pipeline: o.pipeline }, `pipeline "${o.pipeline}": took over reading its source`);
    lastHolder = null;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    register(o.sourceId, ac);
    try {
      await read(ac.signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
      register(o.sourceId, null);
    }
  }
}

export function thisHolder(workerId: string): SourceHolder {
  return { holder: workerId, host: hostname(), pid: process.pid };
}
