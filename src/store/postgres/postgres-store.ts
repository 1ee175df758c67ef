/**
 * The PostgreSQL dialect of the store: for several worker processes on several machines
 * sharing one queue. Claims use `FOR UPDATE SKIP LOCKED`; enqueues wake workers with
 * LISTEN/NOTIFY; every table lives in one schema (default `hms_sync`).
 */
import pg from 'pg';
import { asyncReviewStore, type ReviewStore, type Row } from '../review-store.js';
import { ConfigError, HmsError } from '../../core/errors.js';
import type { Delta, Job } from '../../core/types.js';
import { checkDelta, checkEnqueueInput, dedupeShadow, planCommit, tailKey, type PlannedInsert, type TailJob } from '../commit-plan.js';
import { auditFromRow, byId, intentFromRow, jobFromRow, shadowFromRow, type AuditRowLike, type IntentRowLike, type JobRowLike, type ShadowRowLike } from '../job-row.js';
import { latestVersion } from '../migrations/migration.js';
import { POSTGRES_MIGRATIONS } from '../migrations/postgres-migrations.js';
import { checkJobId, checkReplayNotStale, DEFAULT_LIST_LIMIT, foldStats, requireDead, SHADOW_PAGE, type NewerDoneRow, type StatsRow } from '../store-common.js';
import type { AcquireResult, AuditEntry, ClaimOptions, CommitInput, CompleteInput, EchoIntent, EchoIntentInput, EnqueueInput, FailInput, ListJobsOptions, QueueStats, ShadowPatch, ShadowRow, SourceHealthState, SourceHolder, SourceStatus, Store } from '../store.js';
import { STALE_FINGERPRINT } from '../store.js';
import type { BacklogStats } from '../store.js';
import { foldBacklog, type BacklogRow } from '../store-common.js';
import { fingerprint } from '../../core/delta.js';
import { PostgresWaker } from './postgres-waker.js';
import { postgresSql, type PostgresSql } from './postgres-sql.js';
import { PostgresSources } from './postgres-sources.js';

type TailRow = JobRowLike & { max_run_at: string };

/** `$1` of insertJobs / insertUnlessPending: the planned jobs as one JSON array (see postgres-sql.ts). */
function insertJson(inserts: readonly PlannedInsert[]): string {
  return JSON.stringify(inserts.map((x) => [x.pipeline, x.target, x.key, x.payload, x.maxAttempts, x.runAt, x.maxRunAt, x.coalesce]));
}

/** Session settings of the worker pool (see the constructor). */
const WORK_SESSION_OPTIONS = '-c synchronous_commit=off -c enable_sort=off -c enable_bitmapscan=off -c enable_seqscan=off';

/** Attempts of a statement or transaction aborted by a deadlock or serialization failure. */
const CONFLICT_ATTEMPTS = 6;

/** Job and intent ids are bigint sequences: compare them as numbers (string order puts 10 before 9). */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function sortIds(ids: readonly string[]): string[] {
  return [...ids].sort(compareIds);
}

/** Expired leases are looked for at most this often per store (a lease is typically 10 s or more). */
const RECLAIM_EVERY_MS = 1000;

export interface PostgresStoreOptions {
  connectionString: string;
  /** Schema holding the tables (created by migrate). Default `hms_sync`. */
  schema?: string;
  /** Pool size. Default 10. */
  poolSize?: number;
}

/** A Store in one PostgreSQL schema. Create with `openStore('postgres://...')`. */
export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly schema: string;
  private readonly pool: pg.Pool;
  /** Connections with asynchronous commit, for claim/ack/fail/extendLease (see the constructor). */
  private readonly workPool: pg.Pool;
  private readonly sql: PostgresSql;
  private readonly q: string;
  private readonly channel: string;
  private readonly waker: PostgresWaker;
  private closed = false;
  private lastReclaim = 0;

  /** The review queue (reconciliation's discrepancies), in this store's schema. */
  readonly review: ReviewStore = asyncReviewStore(
    { all: async (sql, params) => (await this.query<Row>(this.reviewSql(sql), params)).rows, run: async (sql, params) => { await this.query(this.reviewSql(sql), params); } },
    (fn) => this.withTx((c) => fn({ all: async (sql, params) => (await c.query<Row>(this.reviewSql(sql), params)).rows, run: async (sql, params) => { await c.query(this.reviewSql(sql), params); } })),
  );

  /** The review store's portable SQL in this dialect: schema-qualified tables, numbered parameters. */
  private reviewSql(sql: string): string {
    let n = 0;
    return sql.replace(/\b(discrepancies|audit|jobs)\b(?=\s|\()/g, `${this.q}.$1`).replace(/\?/g, () => `$${++n}`);
  }

  constructor(opts: PostgresStoreOptions) {
    const schema = opts.schema ?? 'hms_sync';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new ConfigError(`PostgreSQL store schema ${JSON.stringify(schema)} is not valid; use letters, digits and underscores (at most 63, not starting with a digit)`);
    }
    this.schema = schema;
    this.q = `"${schema}"`;
    this.sql = postgresSql(this.q);
    this.channel = `hms_sync_wake_${schema}`.slice(0, 63);
    this.pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 10 });
    // Claims, acks, failures and lease extensions commit asynchronously (no wait for the WAL
    // flush): losing one in a PostgreSQL crash only means the job is delivered again (same id and
    // version, so the same idempotency key), never that a change is lost. Enqueues (with their
    // source position), replays and discards stay synchronous on `pool`.
    //
    // The claim must walk jobs_pending_run_at in order and stop after `limit` heads. With stale
    // statistics (a queue that just grew from empty, before autovacuum analysed it) the planner
    // may instead bitmap-scan every pending job and sort: hundreds of ms per claim at 50,000
    // pending. On these connections, which only run the worker statements, sorts, bitmap and
    // sequential scans are priced out, so the ordered index scans are chosen whatever the statistics.
    this.workPool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 10, options: WORK_SESSION_OPTIONS });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
    this.workPool.on('error', () => undefined);
    this.waker = new PostgresWaker(opts.connectionString, this.channel, (sql, values) => this.pool.query(sql, values));
  }

  /**
   * Transactions aborted by a deadlock (40P01) or a serialization failure (40001) since this
   * store was opened, each retried (see {@link retryConflicts}). With every lock taken in one
   * order a deadlock should not happen; a non-zero count is worth a look at the PostgreSQL log.
   */
  readonly conflicts = { deadlock: 0, serialization: 0 };

  /**
   * Runs `fn` (one statement or one whole transaction) again when PostgreSQL aborted it with a
   * deadlock or a serialization failure: nothing of it was kept, so running it again is safe.
   * Up to {@link CONFLICT_ATTEMPTS} attempts, with a short jittered backoff between them.
   */
  private async retryConflicts<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        if (code !== '40P01' && code !== '40001') throw err;
        if (code === '40P01') this.conflicts.deadlock++;
        else this.conflicts.serialization++;
        if (attempt >= CONFLICT_ATTEMPTS || this.closed) {
          throw new HmsError('HMS_ERR_STORE', `PostgreSQL store (schema ${this.schema}): a transaction was aborted ${attempt} times in a row by "${(err as Error).message}" (SQLSTATE ${code}); giving up on it`, { cause: err });
        }
        const base = Math.min(200, 5 * 2 ** attempt);
        await new Promise((r) => setTimeout(r, base / 2 + Math.random() * base));
      }
    }
  }

  private withTx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.retryConflicts(() => this.withTxOnce(fn));
  }

  private async withTxOnce<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new HmsError('HMS_ERR_STORE', `PostgreSQL store (schema ${this.schema}) is closed`);
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  private query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new HmsError('HMS_ERR_STORE', `PostgreSQL store (schema ${this.schema}) is closed`);
    return this.retryConflicts(() => this.pool.query<R>(text, values));
  }

  private work<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new HmsError('HMS_ERR_STORE', `PostgreSQL store (schema ${this.schema}) is closed`);
    return this.retryConflicts(() => this.workPool.query<R>(text, values));
  }

  async migrate(): Promise<void> {
    await this.withTx(async (c) => {
      // One migrator at a time per schema, across processes; the lock ends with the transaction.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`hms-sync:migrate:${this.schema}`]);
      // Only create the schema when missing: CREATE SCHEMA needs CREATE on the database even with IF NOT EXISTS.
      const exists = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schema]);
      if (!exists.rowCount) await c.query(`CREATE SCHEMA ${this.q}`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.q}.hms_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await c.query<{ version: number }>(`SELECT version FROM ${this.q}.hms_migrations`)).rows.map((r) => r.version));
      const latest = Math.max(0, ...done);
      if (latest > latestVersion(POSTGRES_MIGRATIONS)) {
        throw new HmsError('HMS_ERR_STORE', `PostgreSQL store schema ${this.schema} has version ${latest}, newer than this hms-sync supports (${latestVersion(POSTGRES_MIGRATIONS)}); upgrade hms-sync`);
      }
      for (const m of POSTGRES_MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query(m.sql.replaceAll('{{schema}}', this.q));
        await c.query(`INSERT INTO ${this.q}.hms_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      }
    });
  }

  async schemaVersion(): Promise<number> {
    const r = await this.query<{ v: number | null }>(`SELECT CASE WHEN to_regclass($1) IS NULL THEN 0 END AS v`, [`${this.q}.hms_migrations`]);
    if (r.rows[0]!.v === 0) return 0;
    return (await this.query<{ v: number }>(`SELECT coalesce(max(version), 0) AS v FROM ${this.q}.hms_migrations`)).rows[0]!.v;
  }

  async commit(input: CommitInput): Promise<{ inserted: number; merged: number }> {
    const jobs = input.jobs ?? [];
    jobs.forEach(checkEnqueueInput);
    const shadow = dedupeShadow(input.shadow ?? []);
    if (!shadow.length && !input.intents?.length && !input.remember?.length) {
      // Optimistic fast path: with no pending job to merge into, the commit is one statement
      // inserting the batch (planned as if every key were free) and recording the position. A
      // running or absent tail cannot turn into a pending one behind our back except by lease
      // expiry, and then inserting behind it is still correct. When a key has a pending job the
      // statement writes nothing: lock and merge.
      const plan = planCommit(jobs, new Map());
      if (!plan.inserts.length && !input.position) return { inserted: 0, merged: plan.merged };
      const r = await this.query<{ n: number; blocked: boolean }>(this.sql.insertUnlessPending, [insertJson(plan.inserts), Date.now(), input.position?.source ?? null, input.position?.position ?? null]);
      if (!r.rows[0]!.blocked) {
        if (plan.inserted + plan.merged > 0) this.waker.notify();
        return { inserted: plan.inserted, merged: plan.merged };
      }
    }
    const pairs = new Map<string, [string, string]>();
    for (const j of jobs) if (j.coalesce !== false) pairs.set(tailKey(j.pipeline, j.key), [j.pipeline, j.key]);
    const result = await this.withTx(async (c) => {
      const now = Date.now();
      // Lock the tails we may merge into: a claim taking one of them waits for us, or we for it.
      const tails = pairs.size ? this.toTails((await c.query<TailRow>(this.sql.tails, [JSON.stringify([...pairs.values()])])).rows) : new Map<string, TailJob>();
      const plan = planCommit(jobs, tails);
      if (plan.inserts.length) await c.query(this.sql.insertJobs, [insertJson(plan.inserts), now]);
      if (plan.updates.length) {
        await c.query(this.sql.mergeJobs, [JSON.stringify(plan.updates.map((u) => [u.id, u.fromVersion, u.version, u.payload, u.runAt])), now]);
      }
      // in (scope, key) order, the order patchShadow locks rows in: two commits never deadlock on the shadow
      const upserts = shadow.filter((o): o is ShadowRow => !('delete' in o && o.delete)).sort((a, b) => (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const deletes = shadow.filter((o) => 'delete' in o && o.delete);
      if (upserts.length) {
        await c.query(this.sql.upsertShadow, [JSON.stringify(upserts.map((r) => [r.scope, r.key, r.fingerprint, r.doc ?? null, r.updatedAt ?? now]))]);
      }
      if (deletes.length) await c.query(this.sql.deleteShadow, [deletes.map((r) => r.scope), deletes.map((r) => r.key)]);
      if (input.remember?.length) await c.query(this.sql.rememberIds, [JSON.stringify(input.remember.map((r) => [r.scope, r.id, r.at]))]);
      const intents = input.intents ?? [];
      // in id order, before any of them is changed (landIntents locks them in the same order)
      if (intents.length) await c.query(this.sql.lockIntents, [sortIds(intents.map((u) => u.id))]);
      const keep = intents.filter((u): u is { id: string; fields: Record<string, unknown> } => !('delete' in u));
      if (keep.length) await c.query(this.sql.updateIntents, [JSON.stringify(keep.map((u) => [u.id, u.fields]))]);
      const gone = intents.filter((u) => 'delete' in u).map((u) => u.id);
      if (gone.length) await c.query(this.sql.deleteIntents, [gone]);
      if (input.position) await c.query(this.sql.upsertPosition, [input.position.source, input.position.position, now]);
      return { inserted: plan.inserted, merged: plan.merged };
    });
    if (result.inserted + result.merged > 0) this.waker.notify();
    return result;
  }

  private toTails(rows: TailRow[]): Map<string, TailJob> {
    const tails = new Map<string, TailJob>();
    for (const row of rows) {
      if (row.state !== 'pending' && row.state !== 'running') continue; // finished while we waited for its lock
      tails.set(tailKey(row.pipeline, row.key), { id: String(row.id), target: row.target, state: row.state, version: Number(row.version), payload: row.payload as Delta, attempts: Number(row.attempts), runAt: Number(row.run_at), maxRunAt: Number(row.max_run_at) });
    }
    return tails;
  }

  enqueue(jobs: EnqueueInput[]): Promise<{ inserted: number; merged: number }> {
    return this.commit({ jobs });
  }

  async claim(opts: ClaimOptions): Promise<Job[]> {
    const limit = Math.max(0, Math.trunc(opts.limit));
    if (limit === 0) return [];
    const now = Date.now();
    if (now - this.lastReclaim >= RECLAIM_EVERY_MS) {
      this.lastReclaim = now;
      await this.work(this.sql.reclaimExpired, [now]);
    }
    const r = await this.work<JobRowLike>(this.sql.claim, [now, opts.workerId, now + opts.leaseMs, limit, opts.pipelines ?? null]);
    return r.rows.map(jobFromRow).sort(byId);
  }

  async complete(input: CompleteInput[]): Promise<void> {
    if (!input.length) return;
    const done = [...input].sort((a, b) => compareIds(a.id, b.id));
    await this.work(this.sql.complete, [done.map((d) => d.id), done.map((d) => d.version), Date.now(), done.map((d) => d.workerId ?? null)]);
  }

  async fail(input: FailInput[]): Promise<void> {
    if (!input.length) return;
    const failures = [...input].sort((a, b) => compareIds(a.id, b.id));
    await this.work(this.sql.fail, [failures.map((f) => f.id), failures.map((f) => f.version), failures.map((f) => f.error), failures.map((f) => f.retryAt), Date.now(), failures.map((f) => f.workerId ?? null)]);
  }

  async extendLease(ids: string[], workerId: string, leaseMs: number): Promise<number> {
    if (!ids.length) return 0;
    const now = Date.now();
    return (await this.work(this.sql.extendLease, [sortIds(ids), workerId, now + leaseMs, now])).rowCount ?? 0;
  }

  async nextRunAt(pipelines?: string[]): Promise<number | null> {
    const r = await this.work<{ t: string | null }>(this.sql.nextRunAt, [pipelines ?? null]);
    const t = r.rows[0]?.t;
    return t === null || t === undefined ? null : Number(t);
  }

  onWake(listener: () => void): () => void {
    return this.waker.add(listener);
  }

  wakeReady(): Promise<void> {
    return this.waker.ready();
  }

  async getPosition(source: string): Promise<string | null> {
    const r = await this.query<{ position: string }>(this.sql.getPosition, [source]);
    return r.rows[0]?.position ?? null;
  }

  async getShadow(scope: string, keys: string[]): Promise<Map<string, ShadowRow>> {
    const out = new Map<string, ShadowRow>();
    for (let i = 0; i < keys.length; i += 5000) {
      const r = await this.query<ShadowRowLike>(this.sql.getShadow, [scope, keys.slice(i, i + 5000)]);
      for (const row of r.rows) out.set(row.key, shadowFromRow(row));
    }
    return out;
  }

  async seenIds(scope: string, ids: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < ids.length; i += 5000) {
      for (const r of (await this.query<{ id: string }>(this.sql.seenIds, [scope, ids.slice(i, i + 5000)])).rows) out.add(r.id);
    }
    return out;
  }

  async forgetIds(scope: string, before: number): Promise<number> {
    return (await this.query(this.sql.forgetIds, [scope, before])).rowCount ?? 0;
  }

  async patchShadow(patches: ShadowPatch[]): Promise<void> {
    if (!patches.length) return;
    const byScope = new Map<string, Map<string, Record<string, unknown>>>();
    for (const p of patches) {
      let m = byScope.get(p.scope);
      if (!m) byScope.set(p.scope, (m = new Map()));
      m.set(p.key, { ...(m.get(p.key) ?? {}), ...p.fields });
    }
    await this.withTx(async (c) => {
      const now = Date.now();
      for (const [scope, fields] of [...byScope].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        // locked in key order, so two patches never deadlock each other
        const rows = (await c.query<ShadowRowLike>(this.sql.lockShadow, [scope, [...fields.keys()].sort()])).rows.map(shadowFromRow);
        if (!rows.length) continue;
        const out = rows.map((r) => {
          const doc = r.doc ? { ...r.doc, ...fields.get(r.key)! } : null;
          return [scope, r.key, doc ? fingerprint(doc) : STALE_FINGERPRINT, doc, now];
        });
        await c.query(this.sql.upsertShadow, [JSON.stringify(out)]);
      }
    });
  }

  async recordIntents(rows: EchoIntentInput[], expireBefore?: number): Promise<string[]> {
    if (expireBefore !== undefined) await this.query(this.sql.expireIntents, [expireBefore]);
    if (!rows.length) return [];
    const r = await this.query<{ id: string }>(this.sql.insertIntents, [JSON.stringify(rows.map((x) => [x.reader, x.key, x.writer, x.fields, x.state, x.at]))]);
    // ids come from one sequence in insertion order
    return r.rows.map((x) => String(x.id)).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  }

  async landIntents(ids: string[], at: number): Promise<void> {
    if (ids.length) await this.query(this.sql.landIntents, [at, sortIds(ids)]);
  }

  async getIntents(reader: string, keys: string[], since: number): Promise<Map<string, EchoIntent[]>> {
    const out = new Map<string, EchoIntent[]>();
    for (let i = 0; i < keys.length; i += 5000) {
      const r = await this.query<IntentRowLike>(this.sql.getIntents, [reader, keys.slice(i, i + 5000), since]);
      for (const row of r.rows) {
        const intent = intentFromRow(row);
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
      const r = await this.query<ShadowRowLike>(first ? this.sql.shadowFirstPage : this.sql.shadowPage, [scope, after, SHADOW_PAGE]);
      first = false;
      for (const row of r.rows) yield shadowFromRow(row);
      if (r.rows.length < SHADOW_PAGE) return;
      after = r.rows[r.rows.length - 1]!.key;
    }
  }

  async stats(): Promise<QueueStats[]> {
    const [counts, errors] = await Promise.all([
      this.query<StatsRow>(this.sql.statsCounts),
      this.query<{ pipeline: string; target: string; last_error: string }>(this.sql.statsErrors),
    ]);
    return foldStats(counts.rows, errors.rows, Date.now());
  }

  async backlog(): Promise<BacklogStats[]> {
    return foldBacklog((await this.query<BacklogRow>(this.sql.backlog)).rows, Date.now());
  }

  async getJob(id: string): Promise<Job | null> {
    checkJobId(id);
    const r = await this.query<JobRowLike>(this.sql.getJob, [id]);
    return r.rows[0] ? jobFromRow(r.rows[0]) : null;
  }

  async listJobs(opts: ListJobsOptions = {}): Promise<Job[]> {
    const r = await this.query<JobRowLike>(this.sql.listJobs, [opts.state ?? null, opts.pipeline ?? null, opts.limit ?? DEFAULT_LIST_LIMIT]);
    return r.rows.map(jobFromRow);
  }

  async replay(id: string, opts: { actor: string; payload?: Delta; force?: boolean }): Promise<Job> {
    checkJobId(id);
    if (opts.payload !== undefined) checkDelta(opts.payload, `replacement payload for job ${id}`);
    return this.withTx(async (c) => {
      const cur = await c.query<JobRowLike>(this.sql.getJobForUpdate, [id]);
      const before = requireDead(cur.rows[0] ? jobFromRow(cur.rows[0]) : null, id, 'replay');
      const newer = await c.query<NewerDoneRow>(this.sql.newerDone, [before.pipeline, before.key, id]);
      const guard = checkReplayNotStale(before, newer.rows[0], opts.force === true);
      const now = Date.now();
      const r = await c.query<JobRowLike>(this.sql.replay, [id, now, JSON.stringify(opts.payload ?? before.payload)]);
      const details = { pipeline: before.pipeline, target: before.target, key: before.key, fromVersion: before.version, lastError: before.lastError, payloadEdited: opts.payload !== undefined, ...(opts.payload !== undefined ? { previousPayload: before.payload } : {}), ...(guard.newerDone ? { forced: true, newerDone: guard.newerDone } : {}) };
      await c.query(this.sql.audit, [now, opts.actor, 'replay', id, JSON.stringify(details)]);
      return jobFromRow(r.rows[0]!);
    }).then((job) => {
      this.waker.notify();
      return job;
    });
  }

  async discard(id: string, opts: { actor: string; reason?: string }): Promise<void> {
    checkJobId(id);
    await this.withTx(async (c) => {
      const cur = await c.query<JobRowLike>(this.sql.getJobForUpdate, [id]);
      const before = requireDead(cur.rows[0] ? jobFromRow(cur.rows[0]) : null, id, 'discard');
      await c.query(this.sql.discard, [id]);
      const details = { pipeline: before.pipeline, target: before.target, key: before.key, version: before.version, reason: opts.reason ?? null, lastError: before.lastError, payload: before.payload };
      await c.query(this.sql.audit, [Date.now(), opts.actor, 'discard', id, JSON.stringify(details)]);
    });
  }

  async audit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void> {
    await this.query(this.sql.audit, [Date.now(), entry.actor, entry.action, entry.jobId, JSON.stringify(entry.details ?? {})]);
  }

  async listAudit(limit = DEFAULT_LIST_LIMIT): Promise<AuditEntry[]> {
    return (await this.query<AuditRowLike>(this.sql.listAudit, [limit])).rows.map(auditFromRow);
  }

  async prune(olderThanMs: number): Promise<number> {
    return (await this.query(this.sql.prune, [Date.now() - olderThanMs])).rowCount ?? 0;
  }

  /** The source-lease role (postgres-sources.ts). */
  private sourcesRole?: PostgresSources;
  private get leases(): PostgresSources {
    return (this.sourcesRole ??= new PostgresSources(this.q, (text, values) => this.query(text, values)));
  }

  acquireSource(input: { source: string; pipeline: string; holder: SourceHolder; ttlMs: number; replace?: string }): Promise<AcquireResult> {
    return this.leases.acquire(input);
  }

  renewSources(holder: string, sources: string[], ttlMs: number): Promise<string[]> {
    return this.leases.renew(holder, sources, ttlMs);
  }

  releaseSources(holder: string, sources: string[]): Promise<void> {
    return this.leases.release(holder, sources);
  }

  setSourceState(source: string, holder: string, s: { state: SourceHealthState; since: number; error: string | null; failAfterMs: number | null }): Promise<void> {
    return this.leases.setState(source, holder, s);
  }

  listSources(): Promise<SourceStatus[]> {
    return this.leases.list();
  }

  probeWrite(writer: string): Promise<void> {
    return this.leases.probe(writer);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.waker.close();
    await Promise.all([this.pool.end(), this.workPool.end()]);
  }
}
