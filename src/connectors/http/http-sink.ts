/**
 * HTTP sink: one JSON request per item (POST / PUT / DELETE by default) with an
 * `Idempotency-Key` header and, when the system has a signing secret, Standard Webhooks
 * signature headers (webhook-id = the idempotency key, so a redelivery carries the same id).
 * Results per item; classification in http-client.ts.
 */
import type { Agent } from 'undici';
import { keyValues } from '../../core/delta.js';
import { PermanentError, RetryableError } from '../../core/errors.js';
import type { Sink, SinkItem, SinkResult } from '../contract.js';
import { baseHeaders, classifyResponse, createAgent, httpCall, joinUrl, secretsOf } from './http-client.js';
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
  }

  async write(items: SinkItem[], signal: AbortSignal): Promise<SinkResult[]> {
    const results: SinkResult[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        if (signal.aborted) {
          results[i] = { ok: false, error: new RetryableError('delivery aborted by shutdown before the request was sent') };
          continue;
        }
        try {
          await this.send(items[i]!, signal);
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

  async close(): Promise<void> {
    if (!this.agent.closed && !this.agent.destroyed) await this.agent.close();
  }
}
