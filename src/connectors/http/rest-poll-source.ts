/**
 * REST polling source: GET a list endpoint page by page following a cursor (a response field
 * such as next_cursor, or an item field such as updated_at), compare each item with its shadow
 * row, and record the cursor as the source position. A failing poll is logged and retried at the
 * next interval. The cursor only moves forward once the page that produced it is committed.
 */
import { errorMessage, FormatError } from '../../core/errors.js';
import type { Source, SourceBatch, SourceContext } from '../contract.js';
import { parseDuration, sleep } from '../sql/duration.js';
import { FailureLog } from '../sql/failure-log.js';
import type { Agent } from 'undici';
import { baseHeaders, classifyResponse, createAgent, DEFAULT_MAX_RESPONSE_BYTES, httpCall, joinUrl, secretsOf } from './http-client.js';
import { getPath, opFromValue, restPollSourceSchema, type HttpSystem, type RestPollSourceOptions } from './http-schemas.js';
import { diffRecords, keyFieldsOf, type RecordIn } from './record-diff.js';
import type { Doc } from '../../core/types.js';
import { parseJsonLossless } from '../../formats/json/lossless-json.js';

export class RestPollSource implements Source {
  readonly options: ReturnType<typeof restPollSourceSchema.parse>;
  readonly intervalMs: number;
  private readonly keyFields: string[];
  private readonly agent: Agent;
  private readonly failures: FailureLog;
  /** Polls completed; for tests and status. */
  polls = 0;

  constructor(private readonly ctx: SourceContext<HttpSystem & { url: string }, RestPollSourceOptions>, private readonly timeoutMs: number) {
    this.options = restPollSourceSchema.parse(ctx.options);
    this.intervalMs = parseDuration(this.options.poll, 'poll');
    this.keyFields = keyFieldsOf(this.options.keyField, ctx.keyFields);
    this.agent = createAgent(timeoutMs);
    this.failures = new FailureLog(ctx.logger, `REST poll of ${ctx.system} ${this.options.path}`, { system: ctx.system, collection: ctx.collection }, this.intervalMs);
  }

  private pageUrl(cursor: string | null): string {
    const u = new URL(joinUrl(this.ctx.systemConfig.url, this.options.path));
    for (const [k, v] of Object.entries(this.options.query ?? {})) u.searchParams.set(k, v);
    if (cursor !== null) u.searchParams.set(this.options.cursorParam, cursor);
    return u.toString();
  }

  async *stream(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    let cursor = (await this.ctx.state.getPosition()) ?? this.options.initialCursor ?? null;
    const headers = { ...baseHeaders(this.ctx.systemConfig), accept: 'application/json' };
    while (!signal.aborted) {
      try {
        for (let page = 0; page < this.options.maxPages && !signal.aborted; page++) {
          const url = this.pageUrl(cursor);
          const res = await httpCall({ method: 'GET', url, headers, timeoutMs: this.timeoutMs, signal, dispatcher: this.agent });
          const bad = classifyResponse('GET', url, res, secretsOf(this.ctx.systemConfig));
          if (bad) throw bad;
          if (res.truncated) throw new FormatError(`GET ${this.options.path} returned more than ${DEFAULT_MAX_RESPONSE_BYTES} bytes; ask the service for smaller pages`);
          let body: unknown;
          try {
            body = parseJsonLossless(res.text);
          } catch (err) {
            throw new FormatError(`GET ${this.options.path} returned a body that is not JSON: ${errorMessage(err)}`, { cause: err });
          }
          const items = getPath(body, this.options.itemsField);
          if (!Array.isArray(items)) throw new FormatError(`GET ${this.options.path}: ${this.options.itemsField ? `field "${this.options.itemsField}"` : 'the response'} is not an array (option itemsField)`);
          const records: RecordIn[] = items.map((doc: unknown) => ({ doc: doc as Doc, op: this.options.opField && opFromValue(getPath(doc, this.options.opField)) === 'delete' ? 'delete' : 'upsert' }));
          const { events, shadow } = await diffRecords({ state: this.ctx.state, system: this.ctx.system, collection: this.ctx.collection, keyFields: this.keyFields, records });
          const nextRaw = this.options.nextField ? getPath(body, this.options.nextField) : items.length ? getPath(items[items.length - 1], this.options.cursorField) : undefined;
          const next = nextRaw === undefined || nextRaw === null || nextRaw === '' ? null : String(nextRaw);
          const advanced = next !== null && next !== cursor;
          if (events.length || advanced) yield { events, shadow, ...(advanced ? { position: next } : {}) };
          if (!advanced || items.length === 0) break;
          cursor = next;
        }
        this.polls++;
        this.failures.succeeded();
      } catch (err) {
        if (signal.aborted) return;
        this.failures.failed(err);
      }
      await sleep(this.intervalMs, signal);
    }
  }

  async close(): Promise<void> {
    if (!this.agent.closed && !this.agent.destroyed) await this.agent.close();
  }
}
