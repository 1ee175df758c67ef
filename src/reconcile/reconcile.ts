/**
 * Reconciliation: read both sides of a pipeline through their Readers, bring them into the target's
 * field space (source rows through the pipeline's own mapping), normalise (core/normalize.ts) and
 * hash each row, compare, confirm every candidate difference with a fresh read after the settle
 * window, and store what persists in the review queue (store/review-store.ts).
 *
 * The streamed engine: each side is scanned once, page by page, and spilled as (comparison key,
 * own key, row hash) into a temporary SQLite file, whose primary keys also find duplicate keys.
 * The two spills are joined in key order there, so neither side needs to order its keys the way
 * the other does (numbers vs text, collations, a SOAP list with no order at all), and memory
 * stays bounded whatever the table sizes. Only the keys that differ are read again, with
 * `getByKeys`, for the confirm step and for the field-level difference.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { canonicalKey } from '../core/delta.js';
import { errorMessage, HmsError, NotConnectedError, NotFoundError, ConfigError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { canonicalToken, equivalent, type NormalizeOptions } from '../core/normalize.js';
import { compileMapping } from '../core/mapping.js';
import type { Doc } from '../core/types.js';
import type { ResolvedConfig, ResolvedPipeline } from '../config/schema.js';
import type { Reader } from '../connectors/contract.js';
import { getConnector } from '../connectors/registry.js';
import { openDatabase, type SqliteDatabase } from '../store/sqlite/sqlite-driver.js';
import type { Store } from '../store/store.js';
import type { DiscrepancyClass, DiscrepancyInput, FieldDiff } from '../store/review-store.js';
import { sleep } from '../core/sleep.js';
import { chooseEngine, type ReconcileEngine } from './pushdown/choose.js';
import { runPushdown, type PushdownStats } from './pushdown/pushdown.js';

export interface ReconcileOptions {
  config: ResolvedConfig;
  store: Store;
  pipeline: string;
  logger: Logger;
  /** Only these source keys (canonical); the run then closes only their records. */
  keys?: string[];
  /** More target fields to leave out of the comparison (added to the pipeline's `reconcile.ignore`). */
  ignore?: string[];
  /** Wait this long before confirming a key that is changing (default: debounce + 2 x p99 delivery time, 1 s..5 min). */
  settleMs?: number;
  /** Empty text counts as null (default false). */
  emptyIsNull?: boolean;
  /** Rows per page read from each side (default 1000). */
  pageSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: ReconcileProgress) => void;
  /** Clock and sleep (tests inject them). */
  now?: () => number;
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Readers to use instead of the connectors' (tests, SDK). */
  readers?: { source: Reader; target: Reader };
  /** `auto` (default): SQL pushdown when both sides are SQL and the mapping has a SQL form, else streamed (reconcile/pushdown/). */
  engine?: ReconcileEngine;
}

export interface ReconcileProgress {
  phase: 'source' | 'target' | 'compare' | 'confirm';
  sourceRows: number;
  targetRows: number;
  /** Rows on the side being read, when it can count. */
  total: number | null;
  candidates: number;
  elapsedMs: number;
}

export interface ReconcileSummary {
  pipeline: string;
  runId: string;
  /** Every row of both sides was read and every candidate confirmed (a failed run throws instead). */
  complete: true;
  sourceRows: number;
  targetRows: number;
  /** Target fields compared. */
  fields: string[];
  counts: Record<DiscrepancyClass, number>;
  /** Differences per field among `different` rows. */
  fieldCounts: Record<string, number>;
  /** Candidates that were in flight and settled (not discrepancies). */
  settled: number;
  /** Keys still being changed after the settle window: not reported, re-checked next run. */
  unsettled: string[];
  opened: number;
  updated: number;
  closed: number;
  /** Found again while ignored by a person. */
  ignored: number;
  /** Discrepancies found by this run (ignored ones included). */
  discrepancies: number;
  /** Found and not ignored: what a person has to look at. */
  open: number;
  durationMs: number;
  rowsPerSecond: number;
  /** The engine that compared the sides; with `stream` under `auto`, `engineNote` says why it was not pushed down. */
  engine: 'stream' | 'pushdown';
  engineNote?: string;
  pushdown?: PushdownStats;
}

interface Side {
  reader: Reader;
  system: string;
  role: 'source' | 'target';
}

/**
 * Candidates confirmed per getByKeys call: a reader that cannot look keys up (a file, a SOAP list)
 * answers each call with a scan, so it gets few large calls.
 */
const CANDIDATE_BATCH = 500;
const CANDIDATE_BATCH_UNORDERED = 20_000;

/** Reconcile one pipeline; throws NotConnectedError (exit 4) when a side cannot be read to the end. */
export async function runReconcile(opts: ReconcileOptions): Promise<ReconcileSummary> {
  const now = opts.now ?? Date.now;
  const wait = opts.wait ?? sleep;
  const started = now();
  const p = opts.config.pipelines[opts.pipeline];
  if (!p) throw new NotFoundError(`pipeline "${opts.pipeline}" is not defined; defined pipelines are: ${Object.keys(opts.config.pipelines).join(', ') || '(none)'}`);
  const mapping = p.map ? compileMapping(p.map, { pipeline: p.name }) : null;
  const apply = async (doc: Doc): Promise<Doc> => (mapping ? mapping.apply(doc) : { ...doc });
  const norm: NormalizeOptions = { emptyIsNull: opts.emptyIsNull ?? reconcileOptionsOf(p).emptyIsNull ?? false };
  const ignore = new Set([...(reconcileOptionsOf(p).ignore ?? []), ...(opts.ignore ?? [])]);
  const pageSize = opts.pageSize ?? 1000;
  const { source, target } = opts.readers ? { source: { reader: opts.readers.source, system: p.from.system, role: 'source' as const }, target: { reader: opts.readers.target, system: p.to.system, role: 'target' as const } } : await openReaders(opts.config, p, opts.logger);
  const workDir = path.join(opts.config.stateDir, 'work', 'reconcile');
  mkdirSync(workDir, { recursive: true });
  const runId = randomUUID();
  const spillFile = path.join(workDir, `${p.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${runId}.db`);
  const spill = openSpill(spillFile);
  const progress: ReconcileProgress = { phase: 'source', sourceRows: 0, targetRows: 0, total: null, candidates: 0, elapsedMs: 0 };
  const report = () => opts.onProgress?.({ ...progress, elapsedMs: now() - started });
  const found: DiscrepancyInput[] = [];
  const keyOnly = opts.keys ? new Set(opts.keys) : null;
  let closePlan: (() => Promise<void>) | undefined;
  try {
    // the pushdown engine (when it applies) replaces the two scans and the spill join below
    const chosen = await chooseEngine({ engine: opts.engine, keys: opts.keys, injectedReaders: !!opts.readers, config: opts.config, p, norm, ignore });
    closePlan = chosen.plan?.close;
    const pushed = chosen.plan ? await runPushdown({ plan: chosen.plan, readers: { source: source.reader, target: target.reader }, apply, rowHash, norm, signal: opts.signal }) : null;
    if (pushed) {
      found.push(...pushed.found);
      progress.sourceRows = pushed.sourceRows;
      progress.targetRows = pushed.targetRows;
    }
    // 1. the source, mapped into the target's field space; the compared fields are those the mapping writes
    // with a mapping, the compared fields are its target fields and each row is hashed as it is
    // read; without one (identity) they are known only once the source has been read: rows are
    // staged, hashed after the scan
    const fields = new Set<string>();
    const staticFields = p.map ? Object.keys(p.map).filter((f) => !ignore.has(f) && !p.targetKey.includes(f)).sort() : null;
    progress.total = pushed ? null : await countOf(source.reader, opts.signal);
    report();
    for await (const page of readAll(source, pageSize, pushed ? [] : opts.keys, opts.signal)) {
      for (const row of page) {
        let mapped: Doc;
        try {
          mapped = await apply(row.doc);
        } catch (err) {
          found.push({ key: row.key, sourceKey: row.key, class: 'unmappable', fields: [], source: null, target: null, error: errorMessage(err) });
          continue;
        }
        let tkey: string;
        try {
          tkey = canonicalKey(mapped, p.targetKey);
        } catch (err) {
          found.push({ key: row.key, sourceKey: row.key, class: 'unmappable', fields: [], source: mapped, target: null, error: errorMessage(err) });
          continue;
        }
        if (staticFields) {
          spill.insertSource({ ck: compareKey(mapped, p.targetKey, norm), skey: row.key, tkey, h: rowHash(mapped, staticFields, norm) }, (ck, key) => found.push(duplicate(ck, key, 'source')));
          continue;
        }
        for (const f of Object.keys(mapped)) fields.add(f);
        spill.stageSource({ ck: compareKey(mapped, p.targetKey, norm), skey: row.key, tkey, doc: mapped });
      }
      progress.sourceRows += page.length;
      report();
    }
    const compared = chosen.plan ? chosen.plan.fields : staticFields ?? [...fields].filter((f) => !ignore.has(f) && !p.targetKey.includes(f)).sort();
    spill.hashStagedSource(compared, norm, (ck, key) => found.push(duplicate(ck, key, 'source')));

    // 2. the target, as read, the same fields
    progress.phase = 'target';
    progress.total = pushed ? null : await countOf(target.reader, opts.signal);
    report();
    const targetKeys = keyOnly ? spill.tkeysOf([...keyOnly]) : undefined;
    for await (const page of readAll(target, pageSize, pushed ? [] : targetKeys, opts.signal)) {
      spill.insertTarget(page.map((r) => ({ ck: compareKey(r.doc, p.targetKey, norm), tkey: r.key, h: rowHash(r.doc, compared, norm) })), (ck, key) => found.push(duplicate(ck, key, 'target')));
      progress.targetRows += page.length;
      report();
    }

    // 3. candidates, confirmed with a fresh read of both sides
    progress.phase = 'compare';
    progress.total = null;
    const candidates = pushed ? pushed.candidates : spill.candidates();
    progress.candidates = candidates.length;
    report();
    progress.phase = 'confirm';
    // Every candidate is read again twice: now, and once more after the settle window. A change on
    // its way (captured or not yet, queued, being delivered) reaches the other side within the window;
    // only a difference that is there both times, and whose key is not changing the second time,
    // is a discrepancy. A key still changing then is not reported (the next run looks again).
    const settleMs = opts.settleMs ?? reconcileOptionsOf(p).settleMs ?? (await defaultSettleMs(opts.store, p));
    const confirm = async (batch: Candidate[], final: boolean) => confirmBatch({ p, source, target, apply, targetFieldFor: mapping ? (f) => mapping.targetFieldFor(f) : null, compared, norm, store: opts.store, batch, now: now(), settleMs, final, signal: opts.signal });
    const second: Candidate[] = [];
    let settled = 0;
    const per = source.reader.order === 'none' || target.reader.order === 'none' ? CANDIDATE_BATCH_UNORDERED : CANDIDATE_BATCH;
    for (let i = 0; i < candidates.length; i += per) {
      const r = await confirm(candidates.slice(i, i + per), false);
      found.push(...r.found); // rows the mapping rejects: no second look
      second.push(...r.deferred);
      settled += r.settled;
    }
    const unsettled: string[] = [];
    if (second.length) {
      await wait(settleMs, opts.signal);
      for (let i = 0; i < second.length; i += per) {
        const r = await confirm(second.slice(i, i + per), true);
        found.push(...r.found);
        settled += r.settled;
        unsettled.push(...r.deferred.map((c) => c.tkey ?? c.skey ?? c.ck));
      }
    }
    const at = now();
    const recorded = await opts.store.review.recordRun({ pipeline: p.name, runId, at, found, keys: opts.keys ? recordKeysFor(spill, opts.keys, found) : undefined });
    const counts: Record<DiscrepancyClass, number> = { missing: 0, extra: 0, different: 0, duplicate: 0, unmappable: 0 };
    const fieldCounts: Record<string, number> = {};
    for (const f of found) {
      counts[f.class]++;
      for (const d of f.fields) fieldCounts[d.field] = (fieldCounts[d.field] ?? 0) + 1;
    }
    const durationMs = Math.max(1, at - started);
    return {
      pipeline: p.name, runId, complete: true, sourceRows: progress.sourceRows, targetRows: progress.targetRows, fields: compared, counts, fieldCounts,
      settled, unsettled, ...recorded, discrepancies: found.length, open: found.length - recorded.ignored, durationMs, rowsPerSecond: Math.round(((progress.sourceRows + progress.targetRows) * 1000) / durationMs),
      engine: pushed ? 'pushdown' : 'stream', engineNote: chosen.note, ...(pushed ? { pushdown: pushed.stats } : {}),
    };
  } finally {
    await closePlan?.();
    spill.close();
    rmSync(spillFile, { force: true });
    rmSync(`${spillFile}-journal`, { force: true });
    if (!opts.readers) {
      await source.reader.close().catch(() => {});
      await target.reader.close().catch(() => {});
    }
  }
}

/** The pipeline's `reconcile:` block (a pipeline built by hand may lack it). */
export function reconcileOptionsOf(p: ResolvedPipeline): Partial<ResolvedPipeline['reconcile']> {
  return p.reconcile ?? {};
}

function duplicate(ck: string, key: string, side: 'source' | 'target'): DiscrepancyInput {
  return { key, sourceKey: side === 'source' ? key : null, class: 'duplicate', fields: [], source: null, target: null, error: `the key ${JSON.stringify(key)} is not unique on the ${side} side (compared as ${ck})` };
}

async function openReaders(config: ResolvedConfig, p: ResolvedPipeline, logger: Logger): Promise<{ source: Side; target: Side }> {
  const open = async (role: 'source' | 'target'): Promise<Side> => {
    const end = role === 'source' ? p.from : p.to;
    const sys = config.systems[end.system]!;
    const connector = getConnector(sys.driver);
    if (!connector.createReader) throw new ConfigError(`pipeline "${p.name}": the ${role} system "${end.system}" (driver ${sys.driver}) cannot be read, and reconciliation reads both sides; reconcile a pipeline whose systems have a Reader (sqlite, postgres, mariadb, file snapshots, soap and http lists)`, { path: `pipelines.${p.name}.${role === 'source' ? 'from' : 'to'}.system` });
    const reader = await connector.createReader({
      system: end.system, systemConfig: sys.config, collection: end.collection, options: end.options,
      keyFields: role === 'source' ? p.key : p.targetKey, logger: logger.child({ pipeline: p.name, role: `reconcile-${role}` }), baseDir: config.baseDir,
    });
    return { reader, system: end.system, role };
  };
  const source = await open('source');
  try {
    return { source, target: await open('target') };
  } catch (err) {
    await source.reader.close().catch(() => {});
    throw err;
  }
}

async function countOf(reader: Reader, signal?: AbortSignal): Promise<number | null> {
  if (!reader.count) return null;
  try {
    return await reader.count({ signal });
  } catch {
    return null;
  }
}

/** Every row of one side, page by page (or only the given keys); a read failure names the side. */
async function* readAll(side: Side, limit: number, keys: string[] | undefined, signal?: AbortSignal): AsyncGenerator<Array<{ key: string; doc: Doc }>> {
  try {
    if (keys) {
      for (let i = 0; i < keys.length; i += limit) {
        const got = await side.reader.getByKeys(keys.slice(i, i + limit), signal);
        yield [...got].map(([key, doc]) => ({ key, doc }));
      }
      return;
    }
    for await (const page of side.reader.scan({ limit, signal })) {
      if (signal?.aborted) throw new HmsError('HMS_ERR_USAGE', 'reconciliation interrupted');
      yield page.rows;
    }
  } catch (err) {
    throw unreachable(side, err);
  }
}

function unreachable(side: Side, err: unknown): Error {
  if (err instanceof HmsError && err.code === 'HMS_ERR_USAGE') return err;
  return new NotConnectedError(`cannot read the ${side.role} side (system "${side.system}") to the end: ${errorMessage(err)}; no report was written (a partial comparison is never reported as complete)`, { cause: err });
}

/** The key both sides are matched by: the target key fields, each normalised (7 and '7' are one key). */
function compareKey(doc: Doc, fields: string[], norm: NormalizeOptions): string {
  return fields.map((f) => canonicalToken(doc[f], norm)).join('\u0001');
}

/** The row hash over the compared fields, normalised. */
export function rowHash(doc: Doc, fields: readonly string[], norm: NormalizeOptions = {}): string {
  let s = '';
  for (const f of fields) s += `${canonicalToken(doc[f], norm)}\u0001`;
  return createHash('sha1').update(s).digest('base64url').slice(0, 16);
}

/** The field-level difference of two rows in the target's field space. */
export function fieldDiff(source: Doc, target: Doc, fields: readonly string[], norm: NormalizeOptions = {}): FieldDiff[] {
  const out: FieldDiff[] = [];
  for (const f of fields) if (!equivalent(source[f], target[f], norm)) out.push({ field: f, source: source[f] ?? null, target: target[f] ?? null });
  return out;
}

interface Candidate {
  ck: string;
  skey: string | null;
  tkey: string | null;
  kind: 'missing' | 'extra' | 'different';
}

interface Spill {
  stageSource(row: { ck: string; skey: string; tkey: string; doc: Doc }): void;
  hashStagedSource(fields: string[], norm: NormalizeOptions, dup: (ck: string, key: string) => void): void;
  /** A source row already hashed (the compared fields known up front). */
  insertSource(row: { ck: string; skey: string; tkey: string; h: string }, dup: (ck: string, key: string) => void): void;
  insertTarget(rows: Array<{ ck: string; tkey: string; h: string }>, dup: (ck: string, key: string) => void): void;
  candidates(): Candidate[];
  tkeysOf(skeys: string[]): string[];
  close(): void;
}

/**
 * The spill: a throwaway SQLite file (no journal, no fsync). Source rows are staged with their
 * mapped doc until the compared field set is known, then hashed in one pass.
 */
function openSpill(file: string): Spill {
  const db: SqliteDatabase = openDatabase(file);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -32768');
  db.exec(`CREATE TABLE staged (seq INTEGER PRIMARY KEY, ck TEXT NOT NULL, skey TEXT NOT NULL, tkey TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE s (ck TEXT PRIMARY KEY, skey TEXT NOT NULL, tkey TEXT NOT NULL, h TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE t (ck TEXT PRIMARY KEY, tkey TEXT NOT NULL, h TEXT NOT NULL) WITHOUT ROWID;`);
  const stage = db.prepare('INSERT INTO staged (ck, skey, tkey, doc) VALUES (?, ?, ?, ?)');
  const insS = db.prepare('INSERT OR IGNORE INTO s (ck, skey, tkey, h) VALUES (?, ?, ?, ?)');
  const insT = db.prepare('INSERT OR IGNORE INTO t (ck, tkey, h) VALUES (?, ?, ?)');
  let open = false;
  let staged = 0;
  const begin = () => { if (!open) { db.exec('BEGIN'); open = true; } };
  const commit = () => { if (open) { db.exec('COMMIT'); open = false; } };
  return {
    stageSource(row) {
      begin();
      stage.run(row.ck, row.skey, row.tkey, JSON.stringify(row.doc));
      if (++staged % 5000 === 0) commit();
    },
    insertSource(row, dup) {
      begin();
      if (insS.run(row.ck, row.skey, row.tkey, row.h).changes === 0) dup(row.ck, row.skey);
      if (++staged % 5000 === 0) commit();
    },
    hashStagedSource(fields, norm, dup) {
      commit();
      // a chunk of staged rows at a time, on this one connection (a second reader would hold a
      // lock this journal-less file cannot write past)
      const chunk = db.prepare('SELECT seq, ck, skey, tkey, doc FROM staged WHERE seq > ? ORDER BY seq LIMIT 5000');
      let after = 0;
      for (;;) {
        const rows = chunk.all(after) as Array<{ seq: number; ck: string; skey: string; tkey: string; doc: string }>;
        if (!rows.length) break;
        begin();
        for (const r of rows) {
          const h = rowHash(JSON.parse(r.doc) as Doc, fields, norm);
          if (insS.run(r.ck, r.skey, r.tkey, h).changes === 0) dup(r.ck, r.skey);
        }
        commit();
        after = rows[rows.length - 1]!.seq;
      }
      db.exec('DELETE FROM staged');
    },
    insertTarget(rows, dup) {
      begin();
      for (const r of rows) if (insT.run(r.ck, r.tkey, r.h).changes === 0) dup(r.ck, r.tkey);
      commit();
    },
    candidates() {
      commit();
      const out: Candidate[] = [];
      for (const r of db.prepare('SELECT s.ck, s.skey, t.tkey, CASE WHEN t.ck IS NULL THEN 1 ELSE 0 END AS gone FROM s LEFT JOIN t ON t.ck = s.ck WHERE t.ck IS NULL OR t.h <> s.h ORDER BY s.ck').iterate() as IterableIterator<{ ck: string; skey: string; tkey: string | null; gone: number }>) {
        out.push({ ck: r.ck, skey: r.skey, tkey: r.tkey, kind: r.gone ? 'missing' : 'different' });
      }
      for (const r of db.prepare('SELECT t.ck, t.tkey FROM t LEFT JOIN s ON s.ck = t.ck WHERE s.ck IS NULL ORDER BY t.ck').iterate() as IterableIterator<{ ck: string; tkey: string }>) {
        out.push({ ck: r.ck, skey: null, tkey: r.tkey, kind: 'extra' });
      }
      return out;
    },
    tkeysOf(skeys) {
      const q = db.prepare('SELECT tkey FROM s WHERE skey = ?');
      return skeys.map((k) => (q.get(k) as { tkey: string } | undefined)?.tkey).filter((k): k is string => k !== undefined);
    },
    close() {
      try { commit(); } catch {}
      db.close();
    },
  };
}

/** With `--keys`, the records that may close: the target keys of the given source keys, and the source keys themselves (unmappable rows). */
function recordKeysFor(spill: Spill, skeys: string[], found: DiscrepancyInput[]): string[] {
  return [...new Set([...spill.tkeysOf(skeys), ...skeys, ...found.map((f) => f.key)])];
}

/** Debounce + 2 x the p99 time from due to done of the pipeline's recent deliveries, within 1 s..5 min. */
async function defaultSettleMs(store: Store, p: ResolvedPipeline): Promise<number> {
  const done = await store.listJobs({ state: 'done', pipeline: p.name, limit: 1000 });
  const times = done.map((j) => Math.max(0, j.updatedAt - j.runAt)).sort((a, b) => a - b);
  const p99 = times.length ? times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]! : 0;
  return Math.min(300_000, Math.max(1000, p.debounceMs + 2 * p99));
}

/**
 * Confirm candidates with a fresh read of both sides: a key whose difference is gone is nothing.
 * On the first look every other candidate is deferred (looked at again after the settle window);
 * on the second, a key with a job of the pipeline pending, running or finished within the window is
 * still changing and deferred (not reported), and what persists is a discrepancy, with its
 * field-level difference.
 */
async function confirmBatch(input: {
  p: ResolvedPipeline; source: Side; target: Side; apply: (d: Doc) => Promise<Doc>;
  /** The pipeline's mapping's target field of a source field (null: identity). */
  targetFieldFor: ((sourceField: string) => string | undefined) | null;
  compared: string[]; norm: NormalizeOptions;
  store: Store; batch: Candidate[]; now: number; settleMs: number; final: boolean; signal?: AbortSignal;
}): Promise<{ found: DiscrepancyInput[]; deferred: Candidate[]; settled: number }> {
  const { p, source, target, apply, compared, norm, store, batch } = input;
  // an extra target row: the source key it would have, from the key fields the mapping renames
  const skeyFromTarget = (doc: Doc | undefined): string | null => {
    if (!doc || !input.targetFieldFor) return doc ? safeKey(doc, p.key) : null;
    const src: Doc = {};
    for (const f of p.key) {
      const tf = input.targetFieldFor(f);
      if (tf === undefined || !(tf in doc)) return null;
      src[f] = doc[tf];
    }
    return safeKey(src, p.key);
  };
  const tkeys = batch.map((c) => c.tkey).filter((k): k is string => k !== null);
  let targetDocs: Map<string, Doc>;
  try {
    targetDocs = await target.reader.getByKeys([...new Set(tkeys)], input.signal);
  } catch (err) {
    throw unreachable(target, err);
  }
  for (const c of batch) if (c.skey === null) c.skey = skeyFromTarget(c.tkey ? targetDocs.get(c.tkey) : undefined);
  const skeys = [...new Set(batch.map((c) => c.skey).filter((k): k is string => k !== null))];
  let sourceDocs: Map<string, Doc>;
  try {
    sourceDocs = await source.reader.getByKeys(skeys, input.signal);
  } catch (err) {
    throw unreachable(source, err);
  }
  const inFlight = await store.review.keysInFlight(p.name, skeys, input.now - input.settleMs);
  const found: DiscrepancyInput[] = [];
  const deferred: Candidate[] = [];
  let settled = 0;
  for (const c of batch) {
    const raw = c.skey !== null ? sourceDocs.get(c.skey) : undefined;
    let mapped: Doc | null = null;
    if (raw) {
      try {
        mapped = await apply(raw);
      } catch (err) {
        found.push({ key: c.skey!, sourceKey: c.skey, class: 'unmappable', fields: [], source: null, target: null, error: errorMessage(err) });
        continue;
      }
    }
    const tkey = mapped ? safeKey(mapped, p.targetKey) ?? c.tkey : c.tkey;
    const there = tkey ? targetDocs.get(tkey) ?? (tkey !== c.tkey ? (await target.reader.getByKeys([tkey], input.signal)).get(tkey) : undefined) : undefined;
    let d: DiscrepancyInput | null = null;
    if (mapped && !there) d = { key: tkey ?? c.ck, sourceKey: c.skey, class: 'missing', fields: [], source: mapped, target: null };
    else if (!mapped && there) d = { key: tkey!, sourceKey: c.skey, class: 'extra', fields: [], source: null, target: pick(there, compared, p.targetKey) };
    else if (mapped && there) {
      const diff = fieldDiff(mapped, there, compared, norm);
      if (diff.length) d = { key: tkey!, sourceKey: c.skey, class: 'different', fields: diff, source: pick(mapped, compared, p.targetKey), target: pick(there, compared, p.targetKey) };
    }
    if (!d) {
      settled++; // the difference was a change on its way (or gone by now)
      continue;
    }
    // first look: every remaining difference is looked at again after the settle window; second
    // look: a key with a change in flight or just landed is still changing and is not reported
    if (!input.final || (c.skey !== null && inFlight.has(c.skey))) {
      deferred.push(c);
      continue;
    }
    found.push(d);
  }
  return { found, deferred, settled };
}

function safeKey(doc: Doc, fields: string[]): string | null {
  try {
    return canonicalKey(doc, fields);
  } catch {
    return null;
  }
}

function pick(doc: Doc, fields: string[], keyFields: string[]): Doc {
  const out: Doc = {};
  for (const f of [...keyFields, ...fields]) if (f in doc) out[f] = doc[f];
  return out;
}
