/**
 * REST polling source: GET a list endpoint page by page following a cursor (a response field
 * such as next_cursor, or an item field such as updated_at), compare each item with its shadow
 * row, and record the cursor as the source position. A failing poll is logged and retried at the
 * next interval. The cursor only moves forward once the page that produced it is committed.
 */
import type { Source, SourceBatch, SourceContext } from '../contract.js';
import { parseDuration, sleep } from '../sql/duration.js';
import { FailureLog } from '../sql/failure-log.js';
import type { Agent } from 'undici';
import { createAgent } from './http-client.js';
import { restPollSourceSchema, type HttpSystem, type RestPollSourceOptions } from './http-schemas.js';
import { fetchListPage, isDeletedItem } from './http-reader.js';
import { diffRecords, keyFieldsOf, type RecordIn } from './record-diff.js';
import type { Doc } from '../../core/types.js';

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
    this.failures = new FailureLog(ctx.logger, `REST poll of ${ctx.system} ${this.options.path}`, { system: ctx.system, collection: ctx.collection }, this.intervalMs, ctx.health);
  }

  async *stream(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    let cursor = (await this.ctx.state.getPosition()) ?? this.options.initialCursor ?? null;
    while (!signal.aborted) {
      try {
        for (let page = 0; page < this.options.maxPages && !signal.aborted; page++) {
          const { items, next } = await fetchListPage(this.ctx.systemConfig, this.options, cursor, { agent: this.agent, timeoutMs: this.timeoutMs, signal });
          const records: RecordIn[] = items.map((doc: unknown) => ({ doc: doc as Doc, op: isDeletedItem(this.options, doc) ? 'delete' : 'upsert' }));
          const { events, shadow } = await diffRecords({ state: this.ctx.state, keyFields: this.keyFields, records });
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
