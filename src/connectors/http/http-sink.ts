/**
 * HTTP sink: one JSON request per item (POST / PUT / DELETE by default) with an
 * `Idempotency-Key` header and, when the system has a signing secret, Standard Webhooks
 * signature headers (webhook-id = the idempotency key, so a redelivery carries the same id).
 * Results per item; classification in http-client.ts.
 *
 * Batch mode (`batch:`): many items per request, body `{ "items": [...] }`, one element per item
 * carrying its own idempotency key as `id`. A 2xx answer acknowledges every item unless its JSON
 * body holds `results` (one entry per item, in order: `{ "status": 422, "error": "..." }` or
 * `{ "ok": false, "error": "...", "retryable": true }`), which is then applied item by item.
 */
import { createHash } from 'node:crypto';
import type { Agent } from 'undici';
import { keyValues } from '../../core/delta.js';
import { abortReason } from '../abort.js';
import { ConfigError, PermanentError, RetryableError } from '../../core/errors.js';
import { redactUrl } from '../../core/log.js';
import type { Sink, SinkItem, SinkResult } from '../contract.js';
import { baseHeaders, classifyResponse, createAgent, DEFAULT_MAX_RESPONSE_BYTES, httpCall, joinUrl, secretsOf, snippet, type HttpResponse } from './http-client.js';
import type { HttpSinkOptions, HttpSystem } from './http-schemas.js';
import { httpSinkSchema } from './http-schemas.js';
import { decodeSigningSecret, webhookHeaders } from './webhook-signature.js';

/**
 * Fill a path template: `{key}`, `{collection}`, `{op}` or a key/state field; values URL-encoded.
 * @example renderPath('/bridges/{key}', item) // => '/bridges/007'
 */
export function renderPath(template: string, item: SinkItem): string {
  const { delta } = item;
  const fields = { ...keyValues(delta.key, item.keyFields), ...(delta.state ?? {}) };
  return template.replace(/\{([^{}]+)\}/g, (_m, name: string) => {
    let v: unknown;
    if (name === 'key') v = delta.key;
    else if (name === 'collection') v = item.collection;
    else if (name === 'op') v = delta.op;
    else v = fields[name];
    if (v === undefined || v === null || (typeof v === 'object')) {
      throw new PermanentError(`path template ${JSON.stringify(template)} names {${name}}, which is not a key or state field of key ${JSON.stringify(delta.key)} (use {key}, {collection}, {op} or a field name)`, { details: { template, placeholder: name } });
    }
    return encodeURIComponent(String(v));
  });
}

/** The JSON body of one item, or undefined for none (a delete in `state` mode). */
export function renderBody(mode: 'state' | 'delta' | 'envelope', item: SinkItem): string | undefined {
  const { delta } = item;
  if (mode === 'state') return delta.state === null ? undefined : JSON.stringify(delta.state);
  const data = { op: delta.op, key: delta.key, changed: delta.changed, state: delta.state };
  if (mode === 'delta') return JSON.stringify(data);
  return JSON.stringify({ id: item.idempotencyKey, type: `${item.collection}.${delta.op}`, timestamp: new Date(delta.sourceTs || Date.now()).toISOString(), data });
}

/**
 * One element of a batch request: the item's own idempotency key as `id`, then what `body` would
 * send alone (state: `{ id, op, key, state }`; delta: `{ id, op, key, changed, state }`;
 * envelope: the envelope itself, whose `id` already is the idempotency key).
 */
export function renderBatchElement(mode: 'state' | 'delta' | 'envelope', item: SinkItem): string {
  const { delta } = item;
  if (mode === 'envelope') return renderBody('envelope', item)!;
  if (mode === 'state') return JSON.stringify({ id: item.idempotencyKey, op: delta.op, key: delta.key, state: delta.state });
  return JSON.stringify({ id: item.idempotencyKey, op: delta.op, key: delta.key, changed: delta.changed, state: delta.state });
}

/** Placeholders a batch path may use: one request carries many keys. */
function checkBatchPath(template: string): void {
  for (const m of template.matchAll(/\{([^{}]+)\}/g)) {
    if (m[1] !== 'collection') {
      throw new ConfigError(`http sink: with batch, one request carries many items, so path ${JSON.stringify(template)} may use {collection} only, not {${m[1]}}`, { path: 'to.path' });
    }
  }
}

/** Split item indexes into requests of at most maxItems elements and maxBytes of body (a single larger element goes alone). */
export function planBatches(sizes: number[], maxItems: number, maxBytes: number): number[][] {
  const groups: number[][] = [];
  const overhead = '{"items":[]}'.length;
  let cur: number[] = [];
  let bytes = overhead;
  sizes.forEach((size, i) => {
    if (cur.length && (cur.length >= maxItems || bytes + size + 1 > maxBytes)) {
      groups.push(cur);
      cur = [];
      bytes = overhead;
    }
    cur.push(i);
    bytes += size + 1;
  });
  if (cur.length) groups.push(cur);
  return groups;
}

export class HttpSink implements Sink {
  private readonly options: ReturnType<typeof httpSinkSchema.parse>;
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;
  private readonly secrets: string[];
  private readonly signingKey: Buffer | null;

  constructor(private readonly sys: HttpSystem & { url: string }, options: HttpSinkOptions, private readonly timeoutMs: number) {
    this.options = httpSinkSchema.parse(options ?? {});
    this.signingKey = sys.signingSecret ? decodeSigningSecret(sys.signingSecret) : null; // fails at start, not per request
    this.agent = createAgent(timeoutMs);
    this.headers = baseHeaders(sys);
    this.secrets = secretsOf(sys);
    if (this.options.batch) checkBatchPath(this.options.path);
  }

  async write(items: SinkItem[], signal: AbortSignal): Promise<SinkResult[]> {
    if (this.options.batch) return this.writeBatched(items, signal, this.options.batch);
    const results: SinkResult[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        if (signal.aborted) {
          results[i] = { ok: false, error: notSent(signal) };
          continue;
        }
        try {
          // not cut by `signal`: see the note at notSent
          await this.send(items[i]!);
          results[i] = { ok: true };
        } catch (error) {
          results[i] = { ok: false, error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, items.length) }, worker));
    return results;
  }

  /** Deliver one item; throws RetryableError / PermanentError. */
  async send(item: SinkItem, signal?: AbortSignal): Promise<void> {
    const method = this.options.method[item.delta.op] ?? ({ insert: 'POST', update: 'PUT', delete: 'DELETE' } as const)[item.delta.op];
    const url = joinUrl(this.sys.url, renderPath(this.options.path, item));
    const body = renderBody(this.options.body, item);
    const headers: Record<string, string> = { ...this.headers, 'idempotency-key': item.idempotencyKey };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.signingKey) Object.assign(headers, webhookHeaders({ id: item.idempotencyKey, body: body ?? '', key: this.signingKey }));
    const res = await httpCall({ method, url, headers, body, timeoutMs: this.timeoutMs, signal, dispatcher: this.agent });
    const err = classifyResponse(method, url, res, this.secrets);
    if (err) throw err;
  }

  private async writeBatched(items: SinkItem[], signal: AbortSignal, opts: { maxItems: number; maxBytes: number; method: string }): Promise<SinkResult[]> {
    const results: SinkResult[] = new Array(items.length);
    const elements = items.map((item) => renderBatchElement(this.options.body, item));
    const groups = planBatches(elements.map((e) => Buffer.byteLength(e)), opts.maxItems, opts.maxBytes);
    let next = 0;
    const worker = async () => {
      while (next < groups.length) {
        const group = groups[next++]!;
        if (signal.aborted) {
          for (const i of group) results[i] = { ok: false, error: notSent(signal) };
          continue;
        }
        const outcome = await this.sendBatch(group.map((i) => items[i]!), group.map((i) => elements[i]!), opts.method);
        group.forEach((i, k) => { results[i] = outcome[k]!; });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, groups.length) }, worker));
    return results;
  }

  /** One batch request; one result per item. */
  private async sendBatch(items: SinkItem[], elements: string[], method: string): Promise<SinkResult[]> {
    const url = joinUrl(this.sys.url, renderPath(this.options.path, items[0]!));
    const body = `{"items":[${elements.join(',')}]}`;
    const id = `batch_${createHash('sha256').update(items.map((i) => i.idempotencyKey).join('\n')).digest('hex').slice(0, 32)}`;
    const headers: Record<string, string> = { ...this.headers, 'idempotency-key': id, 'content-type': 'application/json' };
    if (this.signingKey) Object.assign(headers, webhookHeaders({ id, body, key: this.signingKey }));
    let res: HttpResponse;
    try {
      res = await httpCall({ method, url, headers, body, timeoutMs: this.timeoutMs, dispatcher: this.agent });
    } catch (error) {
      return items.map(() => ({ ok: false, error }));
    }
    const err = classifyResponse(method, url, res, this.secrets);
    if (err) return items.map(() => ({ ok: false, error: err }));
    return this.perItemResults(items, method, url, res);
  }

  /** Apply a 2xx answer: all ok, or the `results` array item by item. */
  private perItemResults(items: SinkItem[], method: string, url: string, res: HttpResponse): SinkResult[] {
    const where = `${method} ${redactUrl(url)}`;
    let parsed: unknown;
    try {
      parsed = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      // a JSON answer cut at the read limit may hold per-item failures we cannot see: not "all ok"
      if (res.truncated && res.text.trimStart().startsWith('{')) {
        const error = new RetryableError(`${where} answered with more than ${DEFAULT_MAX_RESPONSE_BYTES / 1_048_576} MiB, so its per-item results could not be read; lower batch.maxItems or shorten the per-item errors`);
        return items.map(() => ({ ok: false, error }));
      }
      parsed = undefined;
    }
    if (Array.isArray(parsed)) {
      // per-item answers without the { "results": [...] } wrapper: never read them as "all ok"
      const error = new RetryableError(`${where} answered a top-level JSON array; per-item results must be wrapped as { "results": [...] } (one entry per item, in order)`);
      return items.map(() => ({ ok: false, error }));
    }
    const list = parsed && typeof parsed === 'object' ? (parsed as { results?: unknown }).results : undefined;
    if (list === undefined) {
      if (res.status !== 207) return items.map(() => ({ ok: true }));
      const error = new RetryableError(`${where} answered 207 without a JSON "results" array (one entry per item, in order): ${snippet(res.text, this.secrets) || 'empty body'}`);
      return items.map(() => ({ ok: false, error }));
    }
    if (!Array.isArray(list) || list.length !== items.length) {
      const error = new RetryableError(`${where} answered "results" with ${Array.isArray(list) ? list.length : 'a non-array'} entries for ${items.length} items (one entry per item, in order, is required)`);
      return items.map(() => ({ ok: false, error }));
    }
    return items.map((item, k): SinkResult => {
      const entry = list[k] as { status?: unknown; ok?: unknown; error?: unknown; retryable?: unknown } | null;
      const label = `${where} item ${k} (key ${JSON.stringify(item.delta.key)})`;
      const text = typeof entry?.error === 'string' ? entry.error : '';
      if (entry && typeof entry.status === 'number') {
        // the item's own method decides whether 404/410 means done (a delete of something already gone)
        const itemMethod = item.delta.op === 'delete' ? 'DELETE' : method;
        const e = classifyResponse(itemMethod, url, { status: entry.status, headers: {}, text }, this.secrets);
        if (!e) return { ok: true };
        e.message = e.message.replace(`${itemMethod} ${redactUrl(url)}`, label);
        return { ok: false, error: e };
      }
      if (entry && typeof entry.ok === 'boolean') {
        if (entry.ok) return { ok: true };
        const msg = `${label} failed: ${snippet(text, this.secrets) || 'no error given'}`;
        return { ok: false, error: entry.retryable === true ? new RetryableError(msg) : new PermanentError(msg) };
      }
      return { ok: false, error: new RetryableError(`${label}: result entry ${JSON.stringify(entry)} has neither a numeric "status" nor a boolean "ok"`) };
    });
  }

  async close(): Promise<void> {
    if (!this.agent.closed && !this.agent.destroyed) await this.agent.close();
  }
}

/**
 * The result of an item not sent because the call was cancelled (the delivery's time limit, or
 * shutdown). A request already on its way is NOT cut when the call is cancelled: a peer keeps
 * working on a request whose client went away and may apply it later, after a newer write of the
 * same key. Instead the call ends once that request is answered (or reaches the system's own
 * `timeout`), so the engine knows the request can no longer land when it retries the key.
 */
function notSent(signal: AbortSignal): RetryableError {
  return new RetryableError(`not sent: the delivery was cancelled (${abortReason(signal)}) before this request started`);
}
