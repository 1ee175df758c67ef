/**
 * Inbound webhook source: an HTTP server that verifies Standard Webhooks signatures and turns
 * each accepted request into one SourceBatch. The request is answered 2xx only when the engine
 * calls `batch.ack()`, i.e. after the change is durably committed to the queue; if that does not
 * happen within `ackTimeout` the sender gets 503 and retries. Requests are handled one at a time
 * (in arrival order) and deduplicated by webhook-id, which the engine remembers in the store's
 * dedupe table in the same commit as the batch's jobs.
 *
 * Answers: 401 missing/bad/stale signature, 400 bad JSON or record, 404 other paths,
 * 405 other methods, 413 too large, 503 not committed in time / shutting down / overloaded.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, errorMessage } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import type { Source, SourceBatch, SourceContext, SourceState } from '../contract.js';
import { parseDuration } from '../sql/duration.js';
import { getPath, opFromValue, webhookSourceSchema, type HttpSystem, type WebhookSourceOptions } from './http-schemas.js';
import { diffRecords, keyFieldsOf, type RecordIn } from './record-diff.js';
import { decodeSigningSecret, verifyWebhook } from './webhook-signature.js';
import { parseJsonLossless } from '../../formats/json/lossless-json.js';

const MAX_QUEUED = 1000;
/** Remembered webhook-ids older than `dedupeFor` are forgotten at start and then hourly. */
const PRUNE_EVERY_MS = 3_600_000;

interface Pending {
  method: string;
  body: unknown;
  id: string | null;
  res: http.ServerResponse;
  settled: boolean;
  timer?: NodeJS.Timeout;
}

export class WebhookSource implements Source {
  readonly options: ReturnType<typeof webhookSourceSchema.parse>;
  private readonly secret: string | undefined;
  private readonly toleranceSec: number;
  private readonly ackTimeoutMs: number;
  private readonly dedupeForMs: number;
  private lastPrune = 0;
  private readonly keyFields: string[];
  private server: http.Server | null = null;
  private started: Promise<AddressInfo> | null = null;
  private startedResolve!: (a: AddressInfo) => void;
  private queue: Pending[] = [];
  private inflight = new Set<Pending>();
  private wake: (() => void) | null = null;
  private stopping = false;

  constructor(private readonly ctx: SourceContext<HttpSystem, WebhookSourceOptions>) {
    this.options = webhookSourceSchema.parse(ctx.options);
    this.secret = ctx.systemConfig.signingSecret;
    if (this.secret) decodeSigningSecret(this.secret);
    else if (!this.options.allowUnsigned) {
      throw new ConfigError(`webhook source of system "${ctx.system}" has no signingSecret; set one (whsec_...) or allowUnsigned: true to accept unsigned requests`, { path: `systems.${ctx.system}.signingSecret` });
    }
    this.toleranceSec = Math.round(parseDuration(this.options.tolerance, 'tolerance') / 1000);
    this.ackTimeoutMs = parseDuration(this.options.ackTimeout, 'ackTimeout');
    this.dedupeForMs = parseDuration(this.options.dedupeFor, 'dedupeFor');
    this.keyFields = keyFieldsOf(this.options.keyField, ctx.keyFields);
    this.resetStarted();
  }

  private resetStarted(): void {
    this.started = new Promise((resolve) => { this.startedResolve = resolve; });
  }

  /** The listening address (resolves once `stream()` has started the server). */
  address(): Promise<AddressInfo> {
    return this.started!;
  }

  async *stream(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    await this.start();
    const onAbort = () => this.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        if (Date.now() - this.lastPrune >= PRUNE_EVERY_MS) {
          this.lastPrune = Date.now();
          await this.pruneIds();
          continue;
        }
        const p = this.queue.shift();
        if (!p) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, PRUNE_EVERY_MS);
            this.wake = () => { clearTimeout(t); resolve(); };
          });
          this.wake = null;
          continue;
        }
        if (p.settled) continue; // timed out while queued
        let batch: SourceBatch | null;
        try {
          batch = await this.toBatch(p);
        } catch (err) {
          this.settle(p, 400, { error: errorMessage(err) });
          continue;
        }
        if (batch) yield batch;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await this.stop();
    }
  }

  async close(): Promise<void> {
    await this.stop();
  }

  /** Forget webhook-ids older than `dedupeFor` (an indexed delete in the store's dedupe table). */
  private async pruneIds(): Promise<void> {
    try {
      const n = await this.dedupe().forgetIds(Date.now() - this.dedupeForMs);
      if (n) this.ctx.logger.debug({ forgotten: n }, 'forgot old webhook-ids');
    } catch (err) {
      this.ctx.logger.warn({ err: errorMessage(err) }, 'could not forget old webhook-ids; will retry');
    }
  }

  /** The state's delivery-id memory; a state without one cannot deduplicate, which must be loud. */
  private dedupe(): Required<Pick<SourceState, 'seenIds' | 'forgetIds'>> {
    const { seenIds, forgetIds } = this.ctx.state;
    if (!seenIds || !forgetIds) throw new Error('the webhook source needs a state that remembers delivery ids (seenIds/forgetIds); create it with sourceStateFor(store, ...)');
    return { seenIds: seenIds.bind(this.ctx.state), forgetIds: forgetIds.bind(this.ctx.state) };
  }

  private async toBatch(p: Pending): Promise<SourceBatch | null> {
    if (p.id) {
      const seen = await this.dedupe().seenIds([p.id]);
      if (seen.size) {
        this.settle(p, 200, { ok: true, duplicate: true });
        return null;
      }
    }
    const data = getPath(p.body, this.options.dataField);
    if (data === undefined) throw new Error(`the body has no field "${this.options.dataField}" (option dataField)`);
    const docs = Array.isArray(data) ? data : [data];
    const records: RecordIn[] = docs.map((doc: unknown, i) => {
      let op: 'delete' | 'upsert' = p.method === 'DELETE' ? 'delete' : 'upsert';
      if (this.options.opField) {
        const raw = getPath(doc, this.options.opField);
        const o = opFromValue(raw);
        if (o === null) throw new Error(`record ${i + 1}: field "${this.options.opField}" is ${JSON.stringify(raw)}; expected insert, update, upsert or delete`);
        op = o === 'delete' ? 'delete' : 'upsert';
      }
      return { doc: doc as Doc, op };
    });
    const { events, shadow } = await diffRecords({ state: this.ctx.state, keyFields: this.keyFields, records });
    this.inflight.add(p);
    return {
      events,
      shadow,
      ...(p.id ? { remember: [p.id] } : {}),
      ack: async () => {
        this.inflight.delete(p);
        this.settle(p, 200, { ok: true, events: events.length });
      },
    };
  }

  private settle(p: Pending, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
    if (p.settled) return;
    p.settled = true;
    if (p.timer) clearTimeout(p.timer);
    this.inflight.delete(p);
    respond(p.res, status, body, headers);
  }

  private async start(): Promise<void> {
    if (this.server) return;
    this.stopping = false;
    const server = http.createServer((req, res) => this.onRequest(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listen.port, this.options.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err) => {
      this.server = null;
      throw new ConfigError(`webhook source of system "${this.ctx.system}" cannot listen on ${this.options.listen.host}:${this.options.listen.port}: ${errorMessage(err)}`, { cause: err });
    });
    server.on('error', (err) => this.ctx.logger.error({ err: errorMessage(err) }, 'webhook server error'));
    this.startedResolve(server.address() as AddressInfo);
    this.ctx.logger.info({ system: this.ctx.system, path: this.options.path, address: server.address() }, 'webhook source listening');
  }

  private async stop(): Promise<void> {
    this.stopping = true;
    for (const p of [...this.queue, ...this.inflight]) this.settle(p, 503, { error: 'the receiver is shutting down; retry later' }, { 'retry-after': '5' });
    this.queue = [];
    this.wake?.();
    const server = this.server;
    this.server = null;
    if (!server) return;
    this.resetStarted();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== this.options.path) return respond(res, 404, { error: `no webhook at ${url.pathname}; this receiver listens on ${this.options.path}` });
    const method = req.method ?? 'GET';
    if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) return respond(res, 405, { error: `method ${method} is not accepted; use POST, PUT, PATCH or DELETE` }, { allow: 'POST, PUT, PATCH, DELETE' });
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > this.options.maxBodyBytes) {
        if (!tooBig) respond(res, 413, { error: `body larger than ${this.options.maxBodyBytes} bytes (option maxBodyBytes)` }, { connection: 'close' });
        tooBig = true;
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      if (tooBig) return;
      const raw = Buffer.concat(chunks);
      let id: string | null = null;
      if (this.secret) {
        const v = verifyWebhook({ headers: req.headers, body: raw, secret: this.secret, toleranceSec: this.toleranceSec });
        if (!v.ok) {
          this.ctx.logger.warn({ system: this.ctx.system, reason: v.reason }, 'webhook refused');
          return respond(res, 401, { error: v.reason });
        }
        id = v.id;
      } else {
        const h = req.headers['webhook-id'];
        id = typeof h === 'string' && h ? h : null;
      }
      let body: unknown;
      try {
        body = parseJsonLossless(raw.toString('utf8'));
      } catch (err) {
        return respond(res, 400, { error: `body is not valid JSON: ${errorMessage(err)}` });
      }
      if (this.stopping) return respond(res, 503, { error: 'the receiver is shutting down; retry later' }, { 'retry-after': '5' });
      if (this.queue.length >= MAX_QUEUED) return respond(res, 503, { error: 'too many requests waiting for commit; retry later' }, { 'retry-after': '1' });
      const p: Pending = { method, body, id, res, settled: false };
      p.timer = setTimeout(() => {
        const i = this.queue.indexOf(p);
        if (i >= 0) this.queue.splice(i, 1);
        this.settle(p, 503, { error: `the change was not committed within ${this.ackTimeoutMs} ms; retry later` }, { 'retry-after': '5' });
      }, this.ackTimeoutMs);
      res.on('close', () => { if (!res.writableFinished && p.timer) clearTimeout(p.timer); });
      this.queue.push(p);
      this.wake?.();
    });
  }
}

function respond(res: http.ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
