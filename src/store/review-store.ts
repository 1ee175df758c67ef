/**
 * The review queue (store role): discrepancies found by reconciliation, one open record per
 * (pipeline, key), with both sides' values and the field-level difference; a person (or the
 * auto-repair) ignores, assigns or repairs them, and every action is audited. A discrepancy that is
 * not found again by a later run closes itself.
 *
 * One implementation over a tiny SQL port: each statement is one call, and a run's bookkeeping is
 * one transaction (`tx`), synchronous on SQLite (no other write of the process can slip into it),
 * on one client on PostgreSQL.
 */
import type { Doc } from '../core/types.js';
import { NotFoundError } from '../core/errors.js';

export type DiscrepancyClass = 'missing' | 'extra' | 'different' | 'duplicate' | 'unmappable';
export const DISCREPANCY_CLASSES: readonly DiscrepancyClass[] = ['missing', 'extra', 'different', 'duplicate', 'unmappable'];
/** open: to review; ignored: a person said so (with a reason), stays ignored while it persists; repairing: a repair job is queued; closed: gone. */
export type DiscrepancyStatus = 'open' | 'ignored' | 'repairing' | 'closed';
export const DISCREPANCY_STATUSES: readonly DiscrepancyStatus[] = ['open', 'ignored', 'repairing', 'closed'];

export interface FieldDiff {
  field: string;
  /** The source's value brought into the target's field space (mapped). */
  source: unknown;
  target: unknown;
}

export interface DiscrepancyInput {
  /** Target key (canonical). */
  key: string;
  /** Source key (canonical), when known. */
  sourceKey: string | null;
  class: DiscrepancyClass;
  fields: FieldDiff[];
  /** The source row mapped into the target's field space (null when missing there). */
  source: Doc | null;
  target: Doc | null;
  /** Why (duplicate key, mapping error). */
  error?: string | null;
}

export interface Discrepancy extends DiscrepancyInput {
  id: string;
  pipeline: string;
  status: DiscrepancyStatus;
  firstSeen: number;
  lastSeen: number;
  closedAt: number | null;
  runId: string;
  assignee: string | null;
  reason: string | null;
  repairJob: string | null;
}

export interface ListDiscrepanciesOptions {
  pipeline?: string;
  status?: DiscrepancyStatus | DiscrepancyStatus[];
  class?: DiscrepancyClass;
  /** Only these target keys. */
  keys?: string[];
  /** Ids greater than this (cursor pagination). */
  afterId?: string;
  limit?: number;
}

export interface RecordRunInput {
  pipeline: string;
  runId: string;
  at: number;
  found: DiscrepancyInput[];
  /** The run compared only these target keys: only their records may close. Omitted: a full run. */
  keys?: string[];
}

export interface RecordRunResult {
  opened: number;
  /** Known records found again (ignored ones included). */
  updated: number;
  closed: number;
  /** Found again while ignored by a person: not counted as open. */
  ignored: number;
}

export interface ReviewStore {
  /** Store a run's findings (open new records, refresh known ones) and close what it no longer finds. */
  recordRun(input: RecordRunInput): Promise<RecordRunResult>;
  listDiscrepancies(opts?: ListDiscrepanciesOptions): Promise<Discrepancy[]>;
  getDiscrepancy(id: string): Promise<Discrepancy | null>;
  /**
   * Which of these source keys have a job of the pipeline that is pending or running (a change in
   * flight), or, with `since`, one that finished at or after it (a change that just landed).
   */
  keysInFlight(pipeline: string, keys: string[], since?: number): Promise<Set<string>>;
  /** Change status / assignee / reason / repair job; audited with the actor. */
  updateDiscrepancy(id: string, patch: { status?: DiscrepancyStatus; assignee?: string | null; reason?: string | null; repairJob?: string | null }, opts: { actor: string; action: string; details?: Record<string, unknown> }): Promise<Discrepancy>;
}

/** The SQL port: `?` placeholders (the PostgreSQL side numbers them). */
export interface ReviewSql<R> {
  all(sql: string, params: unknown[]): R extends 'sync' ? Row[] : Promise<Row[]>;
  run(sql: string, params: unknown[]): R extends 'sync' ? void : Promise<void>;
}

export type Row = Record<string, unknown>;

const COLS = 'id, pipeline, key, source_key, class, status, fields, source_doc, target_doc, error, first_seen, last_seen, closed_at, run_id, assignee, reason, repair_job';
const LIVE = "('open', 'ignored', 'repairing')";

function json<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

export function discrepancyFromRow(r: Row): Discrepancy {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: String(r.id), pipeline: String(r.pipeline), key: String(r.key), sourceKey: (r.source_key as string | null) ?? null,
    class: r.class as DiscrepancyClass, status: r.status as DiscrepancyStatus,
    fields: json<FieldDiff[]>(r.fields ?? '[]'), source: r.source_doc == null ? null : json<Doc>(r.source_doc), target: r.target_doc == null ? null : json<Doc>(r.target_doc),
    error: (r.error as string | null) ?? null, firstSeen: Number(r.first_seen), lastSeen: Number(r.last_seen), closedAt: n(r.closed_at),
    runId: String(r.run_id), assignee: (r.assignee as string | null) ?? null, reason: (r.reason as string | null) ?? null, repairJob: (r.repair_job as string | null) ?? null,
  };
}

function listQuery(opts: ListDiscrepanciesOptions): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.pipeline) { where.push('pipeline = ?'); params.push(opts.pipeline); }
  const statuses = opts.status === undefined ? [] : Array.isArray(opts.status) ? opts.status : [opts.status];
  if (statuses.length) { where.push(`status IN (${statuses.map(() => '?').join(', ')})`); params.push(...statuses); }
  if (opts.class) { where.push('class = ?'); params.push(opts.class); }
  if (opts.keys?.length) { where.push(`key IN (${opts.keys.map(() => '?').join(', ')})`); params.push(...opts.keys); }
  if (opts.afterId) { where.push('id > ?'); params.push(Number(opts.afterId)); }
  params.push(opts.limit ?? 100);
  return { sql: `SELECT ${COLS} FROM discrepancies${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`, params };
}

/**
 * The bookkeeping of one run, written once as a generator of statements: the SQLite side runs it
 * synchronously inside one transaction, the PostgreSQL side awaits each statement on one client.
 */
type Step = { all: string; params: unknown[] } | { run: string; params: unknown[] };
function* recordRunSteps(input: RecordRunInput): Generator<Step, RecordRunResult, Row[] | undefined> {
  let opened = 0;
  let updated = 0;
  let ignored = 0;
  const { pipeline, runId, at } = input;
  // the newest record per key wins when a run reports a key twice (a duplicate and a difference)
  const byKey = new Map<string, DiscrepancyInput>();
  for (const f of input.found) byKey.set(f.key, f);
  const keys = [...byKey.keys()];
  const live = new Map<string, Row>();
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const rows = (yield { all: `SELECT id, key, status FROM discrepancies WHERE pipeline = ? AND status IN ${LIVE} AND key IN (${chunk.map(() => '?').join(', ')})`, params: [pipeline, ...chunk] }) ?? [];
    for (const r of rows) live.set(String(r.key), r);
  }
  for (const f of byKey.values()) {
    const docs = [f.sourceKey, f.class, JSON.stringify(f.fields), f.source === null ? null : JSON.stringify(f.source), f.target === null ? null : JSON.stringify(f.target), f.error ?? null];
    const known = live.get(f.key);
    if (known) {
      // an ignored discrepancy stays ignored while it persists; a repaired one that is still there is open again
      yield { run: `UPDATE discrepancies SET source_key = ?, class = ?, fields = ?, source_doc = ?, target_doc = ?, error = ?, last_seen = ?, run_id = ?, status = CASE WHEN status = 'ignored' THEN 'ignored' ELSE 'open' END WHERE id = ?`, params: [...docs, at, runId, Number(known.id)] };
      updated++;
      if (known.status === 'ignored') ignored++;
    } else {
      yield { run: `INSERT INTO discrepancies (pipeline, key, source_key, class, fields, source_doc, target_doc, error, status, first_seen, last_seen, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)`, params: [pipeline, f.key, ...docs, at, at, runId] };
      opened++;
    }
  }
  let closed = 0;
  const closeSql = `UPDATE discrepancies SET status = 'closed', closed_at = ? WHERE pipeline = ? AND status IN ${LIVE} AND run_id <> ?`;
  if (input.keys) {
    for (let i = 0; i < input.keys.length; i += 500) {
      const chunk = input.keys.slice(i, i + 500);
      const n = (yield { all: `SELECT count(*) AS n FROM discrepancies WHERE pipeline = ? AND status IN ${LIVE} AND run_id <> ? AND key IN (${chunk.map(() => '?').join(', ')})`, params: [pipeline, runId, ...chunk] }) ?? [];
      closed += Number(n[0]?.n ?? 0);
      yield { run: `${closeSql} AND key IN (${chunk.map(() => '?').join(', ')})`, params: [at, pipeline, runId, ...chunk] };
    }
  } else {
    const n = (yield { all: `SELECT count(*) AS n FROM discrepancies WHERE pipeline = ? AND status IN ${LIVE} AND run_id <> ?`, params: [pipeline, runId] }) ?? [];
    closed = Number(n[0]?.n ?? 0);
    yield { run: closeSql, params: [at, pipeline, runId] };
  }
  return { opened, updated, closed, ignored };
}

function* updateSteps(id: string, patch: Parameters<ReviewStore['updateDiscrepancy']>[1], opts: Parameters<ReviewStore['updateDiscrepancy']>[2]): Generator<Step, Discrepancy, Row[] | undefined> {
  {
    const before = /^\d+$/.test(id) ? (yield { all: `SELECT ${COLS} FROM discrepancies WHERE id = ?`, params: [Number(id)] }) ?? [] : [];
    if (!before.length) throw new NotFoundError(`discrepancy ${id} does not exist; \`hms-sync review list\` shows the open ones`, { details: { id } });
    const sets: string[] = [];
    const params: unknown[] = [];
    if (patch.status !== undefined) { sets.push('status = ?', 'closed_at = ?'); params.push(patch.status, patch.status === 'closed' ? Date.now() : null); }
    if (patch.assignee !== undefined) { sets.push('assignee = ?'); params.push(patch.assignee); }
    if (patch.reason !== undefined) { sets.push('reason = ?'); params.push(patch.reason); }
    if (patch.repairJob !== undefined) { sets.push('repair_job = ?'); params.push(patch.repairJob); }
    if (sets.length) yield { run: `UPDATE discrepancies SET ${sets.join(', ')} WHERE id = ?`, params: [...params, Number(id)] };
    const d = discrepancyFromRow(before[0]!);
    yield { run: 'INSERT INTO audit (at, actor, action, job_id, details) VALUES (?, ?, ?, ?, ?)', params: [Date.now(), opts.actor, opts.action, d.repairJob ?? patch.repairJob ?? null, JSON.stringify({ discrepancy: d.id, pipeline: d.pipeline, key: d.key, class: d.class, from: d.status, ...patch, ...opts.details })] };
    const after = (yield { all: `SELECT ${COLS} FROM discrepancies WHERE id = ?`, params: [Number(id)] }) ?? [];
    return discrepancyFromRow(after[0]!);
  }
}

function inFlightSql(n: number): string {
  return `SELECT DISTINCT key FROM jobs WHERE pipeline = ? AND (state IN ('pending', 'running') OR updated_at >= ?) AND key IN (${Array.from({ length: n }, () => '?').join(', ')})`;
}

/** Run a generator of steps synchronously (SQLite: inside one `tx`). */
function runSync<T>(gen: Generator<Step, T, Row[] | undefined>, sql: ReviewSql<'sync'>): T {
  let next = gen.next();
  while (!next.done) {
    const s = next.value;
    next = 'all' in s ? gen.next(sql.all(s.all, s.params)) : (sql.run(s.run, s.params), gen.next(undefined));
  }
  return next.value;
}

async function runAsync<T>(gen: Generator<Step, T, Row[] | undefined>, sql: ReviewSql<'async'>): Promise<T> {
  let next = gen.next();
  while (!next.done) {
    const s = next.value;
    next = 'all' in s ? gen.next(await sql.all(s.all, s.params)) : (await sql.run(s.run, s.params), gen.next(undefined));
  }
  return next.value;
}

/** The review store over a synchronous SQL port whose `tx` runs a function in one transaction (SQLite). */
export function syncReviewStore(sql: ReviewSql<'sync'>, tx: <T>(fn: () => T) => T): ReviewStore {
  return {
    recordRun: async (input) => tx(() => runSync(recordRunSteps(input), sql)),
    listDiscrepancies: async (opts = {}) => { const q = listQuery(opts); return sql.all(q.sql, q.params).map(discrepancyFromRow); },
    getDiscrepancy: async (id) => (/^\d+$/.test(id) ? sql.all(`SELECT ${COLS} FROM discrepancies WHERE id = ?`, [Number(id)]).map(discrepancyFromRow)[0] ?? null : null),
    updateDiscrepancy: async (id, patch, opts) => tx(() => runSync(updateSteps(id, patch, opts), sql)),
    keysInFlight: async (pipeline, keys, since) => {
      const out = new Set<string>();
      for (let i = 0; i < keys.length; i += 500) for (const r of sql.all(inFlightSql(keys.slice(i, i + 500).length), [pipeline, since ?? Number.MAX_SAFE_INTEGER, ...keys.slice(i, i + 500)])) out.add(String(r.key));
      return out;
    },
  };
}

/** The review store over an asynchronous SQL port; `tx` hands a port bound to one transaction (PostgreSQL). */
export function asyncReviewStore(sql: ReviewSql<'async'>, tx: <T>(fn: (q: ReviewSql<'async'>) => Promise<T>) => Promise<T>): ReviewStore {
  return {
    recordRun: (input) => tx((q) => runAsync(recordRunSteps(input), q)),
    listDiscrepancies: async (opts = {}) => { const q = listQuery(opts); return (await sql.all(q.sql, q.params)).map(discrepancyFromRow); },
    getDiscrepancy: async (id) => (/^\d+$/.test(id) ? (await sql.all(`SELECT ${COLS} FROM discrepancies WHERE id = ?`, [Number(id)])).map(discrepancyFromRow)[0] ?? null : null),
    updateDiscrepancy: (id, patch, opts) => tx((q) => runAsync(updateSteps(id, patch, opts), q)),
    keysInFlight: async (pipeline, keys, since) => {
      const out = new Set<string>();
      for (let i = 0; i < keys.length; i += 500) for (const r of await sql.all(inFlightSql(keys.slice(i, i + 500).length), [pipeline, since ?? Number.MAX_SAFE_INTEGER, ...keys.slice(i, i + 500)])) out.add(String(r.key));
      return out;
    },
  };
}
