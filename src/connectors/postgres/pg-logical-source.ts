/**
 * PostgreSQL logical replication source (pgoutput, protocol version 1).
 *
 * At start it checks wal_level, the table and its replica identity, creates or validates the
 * publication and the durable slot, then streams from the last committed position (an LSN
 * string; the server never goes behind the slot's confirmed LSN). Changes are assembled per
 * transaction: a batch holds one or more WHOLE transactions, its position is the end LSN of
 * the last commit, and the slot's confirmed LSN moves only in `batch.ack()` (after the engine
 * committed the jobs) — so a kill at any moment loses nothing; what was not acked comes again.
 *
 * While nothing is pending (no open transaction, no batch waiting for its ack) a primary
 * keepalive's WAL end is confirmed too, so an idle slot does not pin WAL written for other
 * tables or databases. Standby status updates go out every `statusInterval` and whenever
 * the server asks. Unchanged TOASTed columns are taken from the old tuple (REPLICA IDENTITY
 * FULL) or fetched from the table (`unchangedToast: fetch`, default) or left out (`omit`).
 * A Relation message with different columns than last seen is a schema change: logged as a
 * warning and attached to the next event of the table as `schemaChange`.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { canonicalKey } from '../../core/delta.js';
import { errorMessage, NotConnectedError } from '../../core/errors.js';
import type { ChangeEvent, Doc } from '../../core/types.js';
import type { BackfillCapable, BackfillSupport, SourceContext, WatermarkedBatch } from '../contract.js';
import { poolQueryPort } from './pg-connection.js';
import pg from 'pg';
import { durationSchema, parseDuration } from '../sql/duration.js';
import { formatLsn, parseLsn } from './pg-lsn.js';
import { checkWalLevel, defaultSlotName, describeTable, ensurePublication, ensureSlot, quoteIdent, quoteTable, replicaIdentityProblems, SLOT_NAME_RE, tableRef, type TableRef } from './pg-setup.js';
import { decodePgOutput, pgTimeToMs, type RelationMessage, type TupleValue } from './pgoutput-decoder.js';
import { pgDocTypes, textParserFor, type TextParser } from './pg-types-map.js';
import { ReplicationConnection } from './replication-connection.js';

export const pgLogicalOptionsSchema = z.strictObject({
  mode: z.literal('logical').describe('Capture by logical replication (pgoutput); needs wal_level = logical.'),
  slot: z.string().regex(SLOT_NAME_RE, 'expected 1-63 lower-case letters, digits and underscores').optional().describe('Replication slot name (default hms_<system>_<table>).'),
  publication: z.string().min(1).optional().describe('Publication name (default: the slot name).'),
  createPublication: z.boolean().default(true).describe('Create the publication, or add the table to it, when needed (default true).'),
  statusInterval: durationSchema.default('10s').describe('How often the confirmed LSN is sent to the server (default 10s).'),
  maxBatchEvents: z.number().int().min(1).max(1_000_000).default(5000).describe('Whole transactions are gathered into a batch up to this many events (default 5000).'),
  unchangedToast: z.enum(['fetch', 'omit']).default('fetch').describe('Unchanged TOASTed columns: fetch the current value (default) or leave them out of the event.'),
  maxTransactionEvents: z.number().int().min(1000).max(10_000_000).default(200_000).describe('A transaction with more changes is delivered in several batches (memory bound); the position still moves only at its commit (default 200000).'),
});

export type PgLogicalOptions = z.input<typeof pgLogicalOptionsSchema>;

/** A column set change of the captured table, attached to the next event. */
export interface SchemaChange {
  table: string;
  added: string[];
  dropped: string[];
  /** Columns whose type changed. */
  retyped: string[];
  columns: string[];
}

/** A change event with PostgreSQL extras. */
export interface PgChangeEvent extends ChangeEvent {
  schemaChange?: SchemaChange;
}

interface PendingEvent {
  event: PgChangeEvent;
  /** Columns whose unchanged TOASTed value is still to be filled in. */
  unresolved?: string[];
}

interface Txn {
  events: PendingEvent[];
  /** End LSN of the commit; -1 for the leading part of a transaction too big for one batch. */
  endLsn: bigint;
  /** Backfill watermark written in this transaction (pg_logical_emit_message). */
  watermark?: string;
  /** The known columns (JSON) as of this commit, when a Relation message changed them. */
  known?: string;
}

interface KnownColumns {
  [table: string]: Array<{ name: string; typeOid: number }>;
}

export interface PgLogicalSourceInit {
  ctx: SourceContext<unknown, PgLogicalOptions>;
  /** Pool for setup queries and TOAST fetches (with pgDocTypes). */
  pool: pg.Pool;
  /** Connection settings of the replication connection. */
  connection: pg.ClientConfig;
  defaultSchema?: string;
  /** Text naming the server in messages (host:port/db, no secrets). */
  server: string;
}

/** See the module comment. */
/** Prefix of the logical decoding messages that carry backfill watermarks. */
export const WATERMARK_PREFIX = 'hms-sync-watermark';

export class PgLogicalSource implements BackfillCapable {
  readonly options: z.output<typeof pgLogicalOptionsSchema>;
  readonly table: TableRef;
  readonly slot: string;
  readonly publication: string;
  private readonly ctx: SourceContext<unknown, PgLogicalOptions>;
  private readonly statusMs: number;
  private repl: ReplicationConnection | null = null;
  private confirmed = 0n;
  private known: KnownColumns = {};
  private relations = new Map<number, RelationMessage>();
  /** Value parsers per relation OID, one per column (looked up once per Relation message). */
  private parsers = new Map<number, TextParser[]>();
  private pendingChange: SchemaChange | null = null;
  /** Batches read so far (for tests and status). */
  batches = 0;
  private watermarks = false;

  /** Report backfill watermarks in the stream (see src/engine/backfill.ts). */
  enableWatermarks(): void {
    this.watermarks = true;
  }

  /** A query port on the source database and a watermark writer (a transactional logical message). */
  async openBackfill(): Promise<BackfillSupport> {
    const pool = new pg.Pool({ ...this.init.connection, max: 2, types: pgDocTypes } as pg.PoolConfig);
    pool.on('error', () => {});
    const port = poolQueryPort(pool);
    return {
      writeWatermark: async (id: string) => {
        await pool.query('SELECT pg_logical_emit_message(true, $1, $2)', [WATERMARK_PREFIX, id]);
      },
      close: () => port.close(),
    };
  }

  constructor(private readonly init: PgLogicalSourceInit) {
    this.ctx = init.ctx;
    this.options = pgLogicalOptionsSchema.parse(init.ctx.options);
    this.table = tableRef(this.ctx.collection, init.defaultSchema);
    this.slot = this.options.slot ?? defaultSlotName(this.ctx.system, this.table);
    this.publication = this.options.publication ?? this.slot;
    this.statusMs = parseDuration(this.options.statusInterval, 'statusInterval');
    if (this.ctx.keyFields.length === 0) throw new TypeError(`logical replication source for "${this.ctx.collection}" needs at least one key field`);
  }

  private get tableName(): string {
    return `${this.table.schema}.${this.table.name}`;
  }

  /** Check wal_level, table, publication and slot; returns the LSN to start from. */
  async prepare(): Promise<bigint> {
    const client = await this.init.pool.connect().catch((err: unknown) => {
      throw new NotConnectedError(`cannot connect to PostgreSQL ${this.init.server} of system "${this.ctx.system}": ${errorMessage(err)}`, { cause: err });
    });
    try {
      await checkWalLevel(client, this.init.server);
      const facts = await describeTable(client, this.table);
      for (const p of replicaIdentityProblems(this.table, facts, this.ctx.keyFields)) this.ctx.logger.warn({ system: this.ctx.system, table: this.tableName }, p);
      const pub = await ensurePublication(client, this.publication, this.table, this.options.createPublication, facts.partitioned);
      if (pub !== 'ok') this.ctx.logger.info({ publication: this.publication, table: this.tableName }, `publication ${pub}`);
      const slot = await ensureSlot(client, this.slot);
      if (slot.created) this.ctx.logger.info({ slot: this.slot, lsn: slot.confirmedLsn === null ? null : formatLsn(slot.confirmedLsn) }, `replication slot ${this.slot} created; changes committed from now on are captured`);
      if (this.known[this.tableName] === undefined) {
        const cols = await client.query<{ attname: string; atttypid: number }>('SELECT attname, atttypid::int AS atttypid FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [facts.oid]);
        this.known[this.tableName] = cols.rows.map((c) => ({ name: c.attname, typeOid: c.atttypid }));
        this.saveKnown();
      }
    } finally {
      client.release();
    }
    const pos = await this.ctx.state.getPosition();
    let start = 0n;
    if (pos) {
      try { start = parseLsn(pos); } catch { this.ctx.logger.warn({ position: pos }, 'ignoring an unreadable stored position; starting at the slot'); }
    }
    return start;
  }

  private knownFile(): string {
    return path.join(this.ctx.workDir, 'pg-relations.json');
  }

  private loadKnown(): void {
    try {
      this.known = JSON.parse(readFileSync(this.knownFile(), 'utf8')) as KnownColumns;
    } catch {
      this.known = {};
    }
  }

  /** Persist the known columns (as of an acked commit), so a restart compares against them. */
  private saveKnown(json = JSON.stringify(this.known)): void {
    try {
      mkdirSync(this.ctx.workDir, { recursive: true });
      const tmp = `${this.knownFile()}.tmp`;
      writeFileSync(tmp, json);
      renameSync(tmp, this.knownFile());
    } catch (err) {
      this.ctx.logger.warn({ err: errorMessage(err) }, 'cannot save the known columns of the captured table');
    }
  }

  async *stream(signal: AbortSignal): AsyncGenerator<WatermarkedBatch> {
    this.loadKnown();
    const start = await this.prepare();
    if (signal.aborted) return;
    const ready: Txn[] = [];
    let queued = 0;
    let open: Txn | null = null;
    let awaitingAck = false;
    let ended: Error | null | undefined;
    let wake: (() => void) | null = null;
    let paused = false;
    const notify = () => { const w = wake; wake = null; w?.(); };
    const highWater = this.options.maxBatchEvents * 4;
    const repl = new ReplicationConnection(this.init.connection);
    this.repl = repl;
    const onAbort = () => notify();
    signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | null = null;
    try {
      await repl.connect().catch((err: unknown) => {
        throw new NotConnectedError(`cannot open a replication connection to PostgreSQL ${this.init.server}: ${errorMessage(err)}`, { cause: err });
      });
      await repl.start(this.slot, start, { proto_version: '1', publication_names: this.publication, ...(this.watermarks ? { messages: 'true' } : {}) }, {
        onData: (_walStart, _walEnd, payload) => {
          const msg = decodePgOutput(payload);
          switch (msg.tag) {
            case 'begin':
              open = { events: [], endLsn: msg.finalLsn };
              return;
            case 'commit': {
              const t: Txn = open ?? { events: [], endLsn: msg.endLsn };
              open = null;
              t.endLsn = msg.endLsn;
              const ts = pgTimeToMs(msg.commitTime);
              const position = formatLsn(msg.endLsn);
              for (const e of t.events) {
                e.event.ts = ts;
                e.event.position = position;
              }
              if (this.knownDirty) {
                t.known = JSON.stringify(this.known);
                this.knownDirty = false;
              }
              ready.push(t);
              queued += t.events.length;
              if (queued > highWater && !paused) {
                paused = true;
                repl.pause();
              }
              notify();
              return;
            }
            case 'relation':
              this.onRelation(msg);
              return;
            case 'insert':
            case 'update':
            case 'delete':
              if (open) {
                this.onRow(msg, open);
                if (open.events.length >= this.options.maxTransactionEvents) {
                  // a huge transaction: hand its first part over without a position (memory bound);
                  // a crash before its commit is acked replays the whole transaction
                  const now = Date.now();
                  for (const e of open.events) e.event.ts = now;
                  ready.push({ events: open.events, endLsn: -1n });
                  queued += open.events.length;
                  open.events = [];
                  if (queued > highWater && !paused) {
                    paused = true;
                    repl.pause();
                  }
                  notify();
                }
              }
              return;
            case 'truncate': {
              const mine = msg.relations.some((oid) => this.isMine(oid));
              if (mine) this.ctx.logger.error({ table: this.tableName }, `TRUNCATE of ${this.tableName} was captured; it cannot be turned into per-row deletes: run a backfill to resynchronise the target`);
              return;
            }
            case 'message':
              if (this.watermarks && msg.prefix === WATERMARK_PREFIX && open) open.watermark = msg.content.toString('utf8');
              return;
            default:
              return;
          }
        },
        onKeepalive: (walEnd, reply) => {
          if (!open && ready.length === 0 && !awaitingAck && walEnd > this.confirmed) this.confirmed = walEnd;
          if (reply) repl.sendStatus(this.confirmed);
        },
        onEnd: (err) => {
          ended = err;
          notify();
        },
      });
      this.ctx.health?.ok(); // set up and streaming: a later problem is not a failure to start
      timer = setInterval(() => repl.sendStatus(this.confirmed), this.statusMs);
      timer.unref();
      repl.sendStatus(this.confirmed);
      for (;;) {
        while (ready.length === 0 && ended === undefined && !signal.aborted) await new Promise<void>((r) => { wake = r; });
        if (signal.aborted) return;
        if (ready.length === 0 && ended !== undefined) {
          throw new NotConnectedError(`logical replication from ${this.init.server} (slot ${this.slot}) stopped: ${ended ? errorMessage(ended) : 'the server ended the stream'}`, { cause: ended ?? undefined });
        }
        const take: Txn[] = [];
        let n = 0;
        while (ready.length && (take.length === 0 || n + ready[0]!.events.length <= this.options.maxBatchEvents)) {
          const t = ready.shift()!;
          take.push(t);
          n += t.events.length;
          if (t.watermark !== undefined) break; // a batch ends at a watermark
        }
        const watermark = take[take.length - 1]!.watermark;
        queued -= n;
        if (paused && queued < highWater / 2) {
          paused = false;
          repl.resume();
        }
        const complete = take.filter((t) => t.endLsn >= 0n);
        const lsn = complete.length ? complete[complete.length - 1]!.endLsn : -1n;
        const pending = take.flatMap((t) => t.events);
        if (pending.length === 0 && lsn >= 0n && watermark === undefined) {
          // transactions without changes of this table: nothing to commit, just move on
          if (lsn > this.confirmed) this.confirmed = lsn;
          const k = take.reduce<string | undefined>((acc, t) => t.known ?? acc, undefined);
          if (k !== undefined) this.saveKnown(k);
          continue;
        }
        awaitingAck = true; // from here the keepalive must not confirm past this batch
        await this.resolveToast(pending);
        const known = take.reduce<string | undefined>((k, t) => t.known ?? k, undefined);
        this.batches++;
        yield {
          events: pending.map((p) => p.event),
          ...(lsn >= 0n ? { position: formatLsn(lsn) } : {}),
          ...(watermark !== undefined ? { watermark } : {}),
          ack: async () => {
            awaitingAck = false;
            if (lsn < 0n) return;
            if (lsn > this.confirmed) this.confirmed = lsn;
            repl.sendStatus(this.confirmed);
            if (known !== undefined) this.saveKnown(known);
          },
        };
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (timer) clearInterval(timer);
      this.repl = null;
      await repl.close();
    }
  }

  /** A Relation message changed the known columns since the last commit. */
  private knownDirty = false;

  private isMine(oid: number): boolean {
    const r = this.relations.get(oid);
    return !!r && r.schema === this.table.schema && r.name === this.table.name;
  }

  private onRelation(msg: RelationMessage): void {
    this.relations.set(msg.oid, msg);
    this.parsers.set(msg.oid, msg.columns.map((c) => textParserFor(c.typeOid)));
    if (msg.schema !== this.table.schema || msg.name !== this.table.name) return;
    const now = msg.columns.map((c) => ({ name: c.name, typeOid: c.typeOid }));
    const before = this.known[this.tableName];
    this.known[this.tableName] = now;
    if (JSON.stringify(before) !== JSON.stringify(now)) this.knownDirty = true;
    if (!before) return;
    const was = new Map(before.map((c) => [c.name, c.typeOid]));
    const is = new Map(now.map((c) => [c.name, c.typeOid]));
    const added = now.filter((c) => !was.has(c.name)).map((c) => c.name);
    const dropped = before.filter((c) => !is.has(c.name)).map((c) => c.name);
    const retyped = now.filter((c) => was.has(c.name) && was.get(c.name) !== c.typeOid).map((c) => c.name);
    if (!added.length && !dropped.length && !retyped.length) return;
    const change: SchemaChange = { table: this.tableName, added, dropped, retyped, columns: now.map((c) => c.name) };
    this.pendingChange = change;
    this.ctx.logger.warn({ system: this.ctx.system, ...change }, `schema change of ${this.tableName}: ${[added.length ? `added ${added.join(', ')}` : '', dropped.length ? `dropped ${dropped.join(', ')}` : '', retyped.length ? `type changed ${retyped.join(', ')}` : ''].filter(Boolean).join('; ')}; check the pipeline's mapping`);
  }

  private tupleDoc(rel: RelationMessage, tuple: TupleValue[], old?: TupleValue[] | null): { doc: Doc; unresolved: string[] } {
    const doc: Doc = {};
    const unresolved: string[] = [];
    const parsers = this.parsers.get(rel.oid)!;
    const cols = rel.columns;
    for (let i = 0; i < cols.length; i++) {
      const name = cols[i]!.name;
      let v = tuple[i];
      if (v?.kind === 'unchanged' && old?.[i]?.kind === 'text') v = old[i];
      if (!v || v.kind === 'null') doc[name] = null;
      else if (v.kind === 'unchanged') unresolved.push(name);
      else doc[name] = parsers[i]!(v.text);
    }
    return { doc, unresolved };
  }

  private onRow(msg: Extract<ReturnType<typeof decodePgOutput>, { tag: 'insert' | 'update' | 'delete' }>, txn: Txn): void {
    if (!this.isMine(msg.relation)) return;
    const rel = this.relations.get(msg.relation)!;
    const base = { system: this.ctx.system, collection: this.ctx.collection, ts: 0 };
    const push = (e: PgChangeEvent, unresolved?: string[]) => {
      if (this.pendingChange) {
        e.schemaChange = this.pendingChange;
        this.pendingChange = null;
      }
      txn.events.push(unresolved && unresolved.length ? { event: e, unresolved } : { event: e });
    };
    const keyOf = (doc: Doc, what: string): string | null => {
      try {
        return canonicalKey(doc, this.ctx.keyFields);
      } catch (err) {
        this.ctx.logger.error({ table: this.tableName, err: errorMessage(err) }, `cannot capture a ${what} of ${this.tableName}: ${errorMessage(err)}; the key fields must be in the replica identity (primary key, or ALTER TABLE ${quoteTable(this.table)} REPLICA IDENTITY FULL)`);
        return null;
      }
    };
    if (msg.tag === 'insert') {
      const { doc, unresolved } = this.tupleDoc(rel, msg.newTuple);
      const key = keyOf(doc, 'insert');
      if (key !== null) push({ ...base, key, op: 'insert', before: null, after: doc }, unresolved);
      return;
    }
    if (msg.tag === 'delete') {
      const { doc } = this.tupleDoc(rel, msg.oldTuple);
      const key = keyOf(doc, 'delete');
      if (key !== null) push({ ...base, key, op: 'delete', before: msg.oldKind === 'O' ? doc : onlyKeys(doc, this.ctx.keyFields), after: null });
      return;
    }
    const { doc, unresolved } = this.tupleDoc(rel, msg.newTuple, msg.oldKind === 'O' ? msg.oldTuple : null);
    const key = keyOf(doc, 'update');
    if (key === null) return;
    let before: Doc | null = null;
    if (msg.oldTuple) {
      const old = this.tupleDoc(rel, msg.oldTuple).doc;
      let oldKey: string | null = null;
      try { oldKey = canonicalKey(old, this.ctx.keyFields); } catch {}
      if (oldKey !== null && oldKey !== key) {
        // the key itself changed: the old row is gone, a new one exists
        push({ ...base, key: oldKey, op: 'delete', before: msg.oldKind === 'O' ? old : onlyKeys(old, this.ctx.keyFields), after: null });
        push({ ...base, key, op: 'insert', before: null, after: doc }, unresolved);
        return;
      }
      if (msg.oldKind === 'O') before = old;
    }
    push({ ...base, key, op: 'update', before, after: doc }, unresolved);
  }

  /** Fill in unchanged TOASTed columns (fetch) or drop them from the event (omit). */
  private async resolveToast(pending: PendingEvent[]): Promise<void> {
    const need = pending.filter((p) => p.unresolved?.length);
    if (!need.length) return;
    if (this.options.unchangedToast === 'fetch') {
      const cols = [...new Set(need.flatMap((p) => p.unresolved!))];
      const keys = this.ctx.keyFields;
      const byKey = new Map<string, Doc>();
      for (let i = 0; i < need.length; i += 500) {
        const chunk = need.slice(i, i + 500);
        const params: unknown[] = [];
        const conds = chunk.map((p) => `(${keys.map((k) => { params.push(p.event.after![k]); return `${quoteIdent(k)} = $${params.length}`; }).join(' AND ')})`);
        const sql = `SELECT ${[...keys, ...cols.filter((c) => !keys.includes(c))].map(quoteIdent).join(', ')} FROM ${quoteTable(this.table)} WHERE ${conds.join(' OR ')}`;
        const r = await this.init.pool.query(sql, params.map((v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : v)));
        for (const row of r.rows as Doc[]) byKey.set(canonicalKey(row, keys), row);
      }
      for (const p of need) {
        const row = byKey.get(p.event.key);
        for (const c of p.unresolved!) if (row && c in row) p.event.after![c] = row[c];
        delete p.unresolved;
      }
      return;
    }
    for (const p of need) delete p.unresolved;
  }

  async close(): Promise<void> {
    await this.repl?.close();
    await this.init.pool.end().catch(() => {});
  }
}

function onlyKeys(doc: Doc, keys: string[]): Doc {
  return Object.fromEntries(keys.map((k) => [k, doc[k]]));
}
