/**
 * The SQLite dialect of the store (better-sqlite3, behind ./sqlite-driver.ts): the embedded default, one file
 * (`./.hms-sync/state.db`). WAL journal, every write in a `BEGIN IMMEDIATE` transaction, so
 * several processes on one file are safe (they serialise on the write lock and poll `nextRunAt`).
 */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { HmsError } from '../../core/errors.js';
import type { Delta, Job } from '../../core/types.js';
import { checkDelta, checkEnqueueInput, dedupeShadow, planCommit, tailKey, type PlannedInsert, type TailJob } from '../commit-plan.js';
import { syncReviewStore, type ReviewStore, type Row } from '../review-store.js';
import { auditFromRow, intentFromRow, jobFromRow, shadowFromRow, type AuditRowLike, type IntentRowLike, type JobRowLike, type ShadowRowLike } from '../job-row.js';
import { latestVersion } from '../migrations/migration.js';
import { SQLITE_MIGRATIONS } from '../migrations/sqlite-migrations.js';
import { checkJobId, checkReplayNotStale, DEFAULT_LIST_LIMIT, foldStats, requireDead, SHADOW_PAGE, type NewerDoneRow, type StatsRow } from '../store-common.js';
import type { AcquireResult, AuditEntry, ClaimOptions, CommitInput, CompleteInput, EchoIntent, EchoIntentInput, EnqueueInput, FailInput, ListJobsOptions, QueueStats, ShadowPatch, ShadowRow, SourceHealthState, SourceHolder, SourceStatus, Store } from '../store.js';
import { STALE_FINGERPRINT } from '../store.js';
import type { BacklogStats } from '../store.js';
import { foldBacklog, type BacklogRow } from '../store-common.js';
import { fingerprint } from '../../core/delta.js';
import { SqliteBulkWriter } from './sqlite-bulk-writer.js';
import { SqliteSources } from './sqlite-sources.js';
import { openDatabase, type SqliteDatabase } from './sqlite-driver.js';
import { INSERT_BATCH, INSERT_PARAMS, prepareStatements, type SqliteStatements } from './sqlite-statements.js';

/** From this many keys of one pipeline in a commit on, tails are found with one probing statement instead of a lookup per key. */
const PROBE_MIN_KEYS = 16;

/** From this many jobs on (and no shadow rows), a commit of a file store runs on the bulk writer thread. */
const BULK_MIN_JOBS = 1000;

export interface SqliteStoreOptions {
  /** Database file, or `:memory:`. Default `./.hms-sync/state.db` (its folder is created). */
  file?: string;
  /**
   * `NORMAL` (default): in WAL mode a commit survives a process crash (SIGKILL); an OS crash or
   * power cut may roll back the last commits, atomically (a source position and its jobs vanish
   * together, so the source re-reads them). `FULL` also survives power loss, at one fsync per commit.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long a write waits for another process's lock before failing. Default 5000 ms. */
  busyTimeoutMs?: number;
}

/** The INSERT_PARAMS positional values of one job row of `insertJob(s)`, written into `out` at `at`. */
function insertRow(ins: PlannedInsert, out: unknown[], at: number, now: number): void {
  out[at] = ins.pipeline;
  out[at + 1] = ins.target;
  out[at + 2] = ins.key;
  out[at + 3] = JSON.stringify(ins.payload);
  out[at + 4] = ins.maxAttempts;
  out[at + 5] = ins.runAt;
  out[at + 6] = ins.maxRunAt;
  out[at + 7] = now;
  out[at + 8] = now;
}

/** Wake-up emitters per database file, shared by every open store instance of this process (with a count of users). */
const wakers = new Map<string, { emitter: EventEmitter; users: number }>();

/** A Store on one SQLite file. Create with `openStore('sqlite:...')` or `new SqliteStore(opts)` + `migrate()`. */
export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly file: string;
  private readonly db: SqliteDatabase;
  private stmts: SqliteStatements | null = null;
  private readonly waker: EventEmitter;
  private readonly wakeKey: string;
  private closed = false;
  /** Large commits on a second connection in a worker thread (file stores only). */
  private readonly bulk: SqliteBulkWriter | null;
  /** Settles when the bulk commit in flight is done; every write of this store waits for it (commits keep their call order). */
  private inflight: Promise<void> | null = null;
  /** Commits done by the bulk writer, and large commits it handed back because a key had a pending job (for tests). */
  readonly bulkStats = { committed: 0, handedBack: 0 };
  /** The review queue (reconciliation's discrepancies), on this store's connection. */
  readonly review: ReviewStore = syncReviewStore({
    all: (sql, params) => this.db.prepare(sql).all(...params) as Row[],
    run: (sql, params) => { this.db.prepare(sql).run(...params); },
  }, (fn) => this.tx(fn));

  constructor(opts: SqliteStoreOptions = {}) {
    const file = opts.file ?? path.join('.hms-sync', 'state.db');
    this.file = file;
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    try {
      this.db = openDatabase(file);
    } catch (e) {
      throw new HmsError('HMS_ERR_STORE', `cannot open SQLite store ${JSON.stringify(file)}: ${(e as Error).message}`, { cause: e });
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000))}`);
    this.db.pragma('foreign_keys = ON');
    // A page cache of up to 64 MiB (allocated as used): the default 2 MiB thrashes once the queue
    // holds tens of thousands of jobs and halves claim/ack throughput.
    this.db.pragma('cache_size = -65536');
    this.db.pragma('temp_store = MEMORY');
    this.bulk = file === ':memory:' ? null : new SqliteBulkWriter({ file: path.resolve(file), synchronous: opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL', busyTimeoutMs: Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000)) });
    this.wakeKey = file === ':memory:' ? `:memory:${Math.random()}` : path.resolve(file);
    let w = wakers.get(this.wakeKey);
    if (!w) {
      w = { emitter: new EventEmitter(), users: 0 };
      w.emitter.setMaxListeners(0);
      wakers.set(this.wakeKey, w);
    }
    w.users++;
    this.waker = w.emitter;
  }

  /** Run `fn` in a BEGIN IMMEDIATE transaction (takes the write lock up front: no upgrade deadlocks). */
  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  private get s(): SqliteStatements {
    if (this.closed) throw new HmsError('HMS_ERR_STORE', `SQLite store ${JSON.stringify(this.file)} is closed`);
    if (!this.stmts) this.stmts = prepareStatements(this.db);
    return this.stmts;
  }

  async migrate(): Promise<void> {
    this.db.exec('CREATE TABLE IF NOT EXISTS hms_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    this.tx(() => {
      const done = new Set((this.db.prepare('SELECT version FROM hms_migrations').all() as Array<{ version: number }>).map((r) => r.version));
      const latest = Math.max(0, ...done);
      if (latest > latestVersion(SQLITE_MIGRATIONS)) {
        throw new HmsError('HMS_ERR_STORE', `SQLite store ${JSON.stringify(this.file)} has schema version ${latest}, newer than this hms-sync supports (${latestVersion(SQLITE_MIGRATIONS)}); upgrade hms-sync`);
      }
      for (const m of SQLITE_MIGRATIONS) {
        if (done.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO hms_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
      }
    });
  }

  async schemaVersion(): Promise<number> {
    const has = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'hms_migrations'").get();
    if (!has) return 0;
    return (this.db.prepare('SELECT coalesce(max(version), 0) AS v FROM hms_migrations').get() as { v: number }).v;
  }

  async commit(input: CommitInput): Promise<{ inserted: number; merged: number }> {
    const jobs = input.jobs ?? [];
    jobs.forEach(checkEnqueueInput);
    while (this.inflight) await this.inflight;
    if (jobs.length >= BULK_MIN_JOBS && !input.shadow?.length && !input.intents?.length && !input.remember?.length && this.bulk?.usable) return this.commitOnBulkWriter(jobs, input);
    return this.commitHere(jobs, input);
  }

  // Every write waits with `while (this.inflight) await this.inflight;` inline, not through a
  // helper: an async helper adds a tick after the loop, in which another waiter may start a new
  // bulk commit that this write would then overtake.

  /** Commit on this connection: tails read, merges planned, everything in one BEGIN IMMEDIATE. */
  private commitHere(jobs: readonly EnqueueInput[], input: CommitInput): { inserted: number; merged: number } {
    const s = this.s;
    const now = Date.now();
    const result = this.tx(() => {
      const plan = planCommit(jobs, this.readTails(jobs));
      this.insertJobs(plan.inserts, now);
      for (const u of plan.updates) {
        // Inside BEGIN IMMEDIATE nobody else can have claimed the job since we read it.
        s.mergeJob.run({ id: u.id, fromVersion: u.fromVersion, version: u.version, payload: JSON.stringify(u.payload), runAt: u.runAt, now });
      }
      for (const op of dedupeShadow(input.shadow ?? [])) {
        if ('delete' in op && op.delete) s.deleteShadow.run(op.scope, op.key);
        else {
          const row = op as ShadowRow;
          s.upsertShadow.run({ scope: row.scope, key: row.key, fingerprint: row.fingerprint, doc: row.doc === null || row.doc === undefined ? null : JSON.stringify(row.doc), updatedAt: row.updatedAt ?? now });
        }
      }
      for (const r of input.remember ?? []) s.rememberId.run(r.scope, r.id, r.at);
      for (const u of input.intents ?? []) {
        if ('delete' in u) s.deleteIntent.run(Number(u.id));
        else s.updateIntent.run(JSON.stringify(u.fields), Number(u.id));
      }
      if (input.position) s.upsertPosition.run(input.position.source, input.position.position, now);
      return { inserted: plan.inserted, merged: plan.merged };
    });
    if (result.inserted + result.merged > 0) this.wake();
    return result;
  }

  /**
   * A large commit planned as if no key had a pending job (merges within the commit still
   * happen) and written by the bulk writer thread, unless one of its coalescing keys has a
   * pending job: then it is committed here with the full planning. Holds `inflight` throughout,
   * so later writes of this store wait and commits stay in call order.
   */
  private async commitOnBulkWriter(jobs: readonly EnqueueInput[], input: CommitInput): Promise<{ inserted: number; merged: number }> {
    let release!: () => void;
    this.inflight = new Promise<void>((resolve) => { release = resolve; });
    try {
      const now = Date.now();
      const plan = planCommit(jobs, new Map());
      const rows: unknown[] = new Array(plan.inserts.length * INSERT_PARAMS);
      const probeKeys = new Map<string, string[]>();
      plan.inserts.forEach((ins, i) => {
        insertRow(ins, rows, i * INSERT_PARAMS, now);
        if (!ins.coalesce) return;
        let keys = probeKeys.get(ins.pipeline);
        if (!keys) probeKeys.set(ins.pipeline, (keys = []));
        keys.push(ins.key);
      });
      const r = await this.bulk!.commit({
        rows,
        probes: [...probeKeys].map(([pipeline, keys]) => [pipeline, JSON.stringify(keys)]),
        position: input.position ? [input.position.source, input.position.position, now] : null,
      });
      if (r.blocked) {
        this.bulkStats.handedBack++;
        return this.commitHere(jobs, input);
      }
      this.bulkStats.committed++;
      if (plan.inserted + plan.merged > 0) this.wake();
      return { inserted: plan.inserted, merged: plan.merged };
    } finally {
      this.inflight = null;
      release();
    }
  }

  /**
   * The newest unfinished job of every (pipeline, key) the coalescing inputs touch (call inside
   * the write transaction). A large commit first asks, in one statement per pipeline, which of its
   * keys have an unfinished job at all (an index probe each, no row read), and reads the tails of
   * those keys only: a backfill chunk of fresh keys costs one statement instead of a lookup per job.
   */
  private readTails(jobs: readonly EnqueueInput[]): Map<string, TailJob> {
    const s = this.s;
    const tails = new Map<string, TailJob>();
    const byPipeline = new Map<string, Set<string>>();
    for (const j of jobs) {
      if (j.coalesce === false) continue;
      let keys = byPipeline.get(j.pipeline);
      if (!keys) byPipeline.set(j.pipeline, (keys = new Set()));
      keys.add(j.key);
    }
    const readTail = (pipeline: string, key: string) => {
      const r = s.tail.get(pipeline, key) as (JobRowLike & { max_run_at: number }) | undefined;
      if (r) tails.set(tailKey(pipeline, key), { id: String(r.id), target: r.target, state: r.state as TailJob['state'], version: Number(r.version), payload: JSON.parse(r.payload as string) as Delta, attempts: Number(r.attempts), runAt: Number(r.run_at), maxRunAt: Number(r.max_run_at) });
    };
    for (const [pipeline, keys] of byPipeline) {
      if (keys.size < PROBE_MIN_KEYS) {
        for (const key of keys) readTail(pipeline, key);
        continue;
      }
      const found = s.unfinishedKeys.all(JSON.stringify([...keys]), pipeline) as Array<{ key: string }>;
      for (const r of found) readTail(pipeline, r.key);
    }
    return tails;
  }

  /** Insert planned jobs in order (ids follow the order), {@link INSERT_BATCH} rows per statement. */
  private insertJobs(inserts: readonly PlannedInsert[], now: number): void {
    const s = this.s;
    let i = 0;
    if (inserts.length >= INSERT_BATCH) {
      const args: unknown[] = new Array(INSERT_BATCH * INSERT_PARAMS);
      for (; i + INSERT_BATCH <= inserts.length; i += INSERT_BATCH) {
        for (let r = 0; r < INSERT_BATCH; r++) insertRow(inserts[i + r]!, args, r * INSERT_PARAMS, now);
        s.insertJobs.run(args);
      }
    }
    const one: unknown[] = new Array(INSERT_PARAMS);
    for (; i < inserts.length; i++) {
      insertRow(inserts[i]!, one, 0, now);
      s.insertJob.run(one);
    }
  }

  enqueue(jobs: EnqueueInput[]): Promise<{ inserted: number; merged: number }> {
    return this.commit({ jobs });
  }

  async claim(opts: ClaimOptions): Promise<Job[]> {
    while (this.inflight) await this.inflight;
    const s = this.s;
    const now = Date.now();
    const limit = Math.max(0, Math.trunc(opts.limit));
    if (limit === 0) return [];
    const pipelines = opts.pipelines ? JSON.stringify(opts.pipelines) : null;
    const rows = this.tx(() => {
      s.reclaimExpired.run({ now });
      return s.claim.all({ worker: opts.workerId, leaseUntil: now + opts.leaseMs, now, limit, pipelines }) as JobRowLike[];
    });
    return rows.map(jobFromRow).sort((a, b) => Number(a.id) - Number(b.id));
  }

  async complete(done: CompleteInput[]): Promise<void> {
    if (!done.length) return;
    while (this.inflight) await this.inflight;
    const s = this.s;
    const now = Date.now();
    this.tx(() => {
      for (const d of done) s.complete.run({ now, id: d.id, version: d.version, worker: d.workerId ?? null });
    });
  }

  async fail(failures: FailInput[]): Promise<void> {
    if (!failures.length) return;
    while (this.inflight) await this.inflight;
    const s = this.s;
    const now = Date.now();
    this.tx(() => {
      for (const f of failures) {
        const worker = f.workerId ?? null;
        if (f.retryAt === null) s.kill.run({ id: f.id, version: f.version, error: f.error, now, worker });
        else s.retry.run({ id: f.id, version: f.version, error: f.error, retryAt: f.retryAt, now, worker });
      }
    });
  }

  async extendLease(ids: string[], workerId: string, leaseMs: number): Promise<number> {
    if (!ids.length) return 0;
    while (this.inflight) await this.inflight;
    const s = this.s;
    const now = Date.now();
    return this.tx(() => {
      let held = 0;
      for (const id of ids) held += Number(s.extendLease.run(now + leaseMs, now, id, workerId).changes);
      return held;
    });
  }

  async nextRunAt(pipelines?: string[]): Promise<number | null> {
    const r = this.s.nextRunAt.get({ pipelines: pipelines ? JSON.stringify(pipelines) : null }) as { t: number | null };
    return r.t ?? null;
  }

  onWake(listener: () => void): () => void {
    this.waker.on('wake', listener);
    return () => this.waker.off('wake', listener);
  }

  async wakeReady(): Promise<void> {}

  private wake(): void {
    this.waker.emit('wake');
  }

  async getPosition(source: string): Promise<string | null> {
    const r = this.s.getPosition.get(source) as { position: string } | undefined;
    return r?.position ?? null;
  }

  async getShadow(scope: string, keys: string[]): Promise<Map<string, ShadowRow>> {
    const out = new Map<string, ShadowRow>();
    for (let i = 0; i < keys.length; i += SHADOW_PAGE) {
      const rows = this.s.getShadow.all(scope, JSON.stringify(keys.slice(i, i + SHADOW_PAGE))) as ShadowRowLike[];
      for (const r of rows) out.set(r.key, shadowFromRow(r));
    }
    return out;
  }

  async seenIds(scope: string, ids: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < ids.length; i += SHADOW_PAGE) {
      for (const r of this.s.seenIds.all(scope, JSON.stringify(ids.slice(i, i + SHADOW_PAGE))) as Array<{ id: string }>) out.add(r.id);
    }
    return out;
  }

  async forgetIds(scope: string, before: number): Promise<number> {
    while (this.inflight) await this.inflight;
    return this.s.forgetIds.run(scope, before).changes;
  }

  async patchShadow(patches: ShadowPatch[]): Promise<void> {
    if (!patches.length) return;
    while (this.inflight) await this.inflight;
    const s = this.s;
    const now = Date.now();
    this.tx(() => {
      for (const p of patches) {
        const row = (s.getShadow.all(p.scope, JSON.stringify([p.key])) as ShadowRowLike[])[0];
        if (!row) continue;
        const cur = shadowFromRow(row);
        const doc = cur.doc ? { ...cur.doc, ...p.fields } : null;
        s.upsertShadow.run({ scope: p.scope, key: p.key, fingerprint: doc ? fingerprint(doc) : STALE_FINGERPRINT, doc: doc ? JSON.stringify(doc) : null, updatedAt: now });
      }
    });
  }

  async recordIntents(rows: EchoIntentInput[], expireBefore?: number): Promise<string[]> {
    if (!rows.length && expireBefore === undefined) return [];
    while (this.inflight) await this.inflight;
    const s = this.s;
    return this.tx(() => {
      if (expireBefore !== undefined) s.expireIntents.run(expireBefore);
      return rows.map((r) => String(s.insertIntent.run(r.reader, r.key, r.writer, r.fields === null ? null : JSON.stringify(r.fields), r.state === null ? null : JSON.stringify(r.state), r.at).lastInsertRowid));
    });
  }

  async landIntents(ids: string[], at: number): Promise<void> {
    if (!ids.length) return;
    while (this.inflight) await this.inflight;
    this.s.landIntents.run(at, JSON.stringify(ids.map(Number)));
  }

  async getIntents(reader: string, keys: string[], since: number): Promise<Map<string, EchoIntent[]>> {
    const out = new Map<string, EchoIntent[]>();
    for (let i = 0; i < keys.length; i += SHADOW_PAGE) {
      const rows = this.s.getIntents.all(reader, JSON.stringify(keys.slice(i, i + SHADOW_PAGE)), since) as IntentRowLike[];
      for (const r of rows) {
        const intent = intentFromRow(r);
        const list = out.get(intent.key);
        if (list) list.push(intent);
        else out.set(intent.key, [intent]);
      }
    }
    return out;
  }

  async *listShadow(scope: string): AsyncIterable<ShadowRow> {
    let after = '';
    let first = true;
    while (true) {
      // Keyset paging: memory stays bounded by one page however large the scope is.
      const rows = (first ? this.s.shadowFirstPage : this.s.shadowPage).all(scope, after, SHADOW_PAGE) as ShadowRowLike[];
      first = false;
      for (const r of rows) yield shadowFromRow(r);
      if (rows.length < SHADOW_PAGE) return;
      after = rows[rows.length - 1]!.key;
    }
  }

  async stats(): Promise<QueueStats[]> {
    const s = this.s;
    const rows = s.statsCounts.all() as StatsRow[];
    const errors = s.statsErrors.all() as Array<{ pipeline: string; target: string; last_error: string }>;
    return foldStats(rows, errors, Date.now());
  }

  async backlog(): Promise<BacklogStats[]> {
    return foldBacklog(this.s.backlog.all() as BacklogRow[], Date.now());
  }

  async getJob(id: string): Promise<Job | null> {
    checkJobId(id);
    const r = this.s.getJob.get(id) as JobRowLike | undefined;
    return r ? jobFromRow(r) : null;
  }

  async listJobs(opts: ListJobsOptions = {}): Promise<Job[]> {
    const rows = this.s.listJobs.all({ state: opts.state ?? null, pipeline: opts.pipeline ?? null, limit: opts.limit ?? DEFAULT_LIST_LIMIT }) as JobRowLike[];
    return rows.map(jobFromRow);
  }

  async replay(id: string, opts: { actor: string; payload?: Delta; force?: boolean }): Promise<Job> {
    checkJobId(id);
    if (opts.payload !== undefined) checkDelta(opts.payload, `replacement payload for job ${id}`);
    while (this.inflight) await this.inflight;
    const s = this.s;
    const job = this.tx(() => {
      const before = requireDead(this.getJobSync(id), id, 'replay');
      const guard = checkReplayNotStale(before, s.newerDone.get(before.pipeline, before.key, id) as NewerDoneRow | undefined, opts.force === true);
      const now = Date.now();
      const row = s.replay.get({ id, now, payload: JSON.stringify(opts.payload ?? before.payload) }) as JobRowLike;
      s.audit.run(now, opts.actor, 'replay', id, JSON.stringify({ pipeline: before.pipeline, target: before.target, key: before.key, fromVersion: before.version, lastError: before.lastError, payloadEdited: opts.payload !== undefined, ...(opts.payload !== undefined ? { previousPayload: before.payload } : {}), ...(guard.newerDone ? { forced: true, newerDone: guard.newerDone } : {}) }));
      return jobFromRow(row);
    });
    this.wake();
    return job;
  }

  async discard(id: string, opts: { actor: string; reason?: string }): Promise<void> {
    checkJobId(id);
    while (this.inflight) await this.inflight;
    const s = this.s;
    this.tx(() => {
      const before = requireDead(this.getJobSync(id), id, 'discard');
      s.discard.run(id);
      s.audit.run(Date.now(), opts.actor, 'discard', id, JSON.stringify({ pipeline: before.pipeline, target: before.target, key: before.key, version: before.version, reason: opts.reason ?? null, lastError: before.lastError, payload: before.payload }));
    });
  }

  private getJobSync(id: string): Job | null {
    const r = this.s.getJob.get(id) as JobRowLike | undefined;
    return r ? jobFromRow(r) : null;
  }

  async audit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void> {
    while (this.inflight) await this.inflight;
    this.s.audit.run(Date.now(), entry.actor, entry.action, entry.jobId, JSON.stringify(entry.details ?? {}));
  }

  async listAudit(limit = DEFAULT_LIST_LIMIT): Promise<AuditEntry[]> {
    return (this.s.listAudit.all(limit) as AuditRowLike[]).map(auditFromRow);
  }

  async prune(olderThanMs: number): Promise<number> {
    while (this.inflight) await this.inflight;
    return this.s.prune.run(Date.now() - olderThanMs).changes;
  }

  /** The source-lease role (sqlite-sources.ts). */
  private readonly leases = new SqliteSources(() => {
    if (this.closed) throw new HmsError('HMS_ERR_STORE', `SQLite store ${JSON.stringify(this.file)} is closed`);
    return this.db;
  });

  async acquireSource(input: { source: string; pipeline: string; holder: SourceHolder; ttlMs: number; replace?: string }): Promise<AcquireResult> {
    return this.leases.acquire(input);
  }

  async renewSources(holder: string, sources: string[], ttlMs: number): Promise<string[]> {
    return this.leases.renew(holder, sources, ttlMs);
  }

  async releaseSources(holder: string, sources: string[]): Promise<void> {
    this.leases.release(holder, sources);
  }

  async setSourceState(source: string, holder: string, s: { state: SourceHealthState; since: number; error: string | null; failAfterMs: number | null }): Promise<void> {
    this.leases.setState(source, holder, s);
  }

  async listSources(): Promise<SourceStatus[]> {
    return this.leases.list();
  }

  async probeWrite(writer: string): Promise<void> {
    this.leases.probe(writer);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.inflight) await this.inflight;
    if (this.closed) return;
    this.closed = true;
    await this.bulk?.close();
    this.stmts = null;
    this.db.close();
    const w = wakers.get(this.wakeKey);
    if (w && --w.users === 0) wakers.delete(this.wakeKey);
  }
}
