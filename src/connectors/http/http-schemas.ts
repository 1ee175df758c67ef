/** Config schemas of the `http` connector: system, sink options, webhook and REST polling source options. */
import { z } from 'zod';
import { durationSchema } from '../sql/duration.js';

export const httpSystemSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).optional().describe('Base URL of the peer (http or https); required for a sink or a REST polling source.'),
  headers: z.record(z.string(), z.string()).optional().describe('Extra request headers sent with every request.'),
  timeout: durationSchema.default('10s').describe('Time allowed for one request, from connect to the end of the response (default 10s).'),
  signingSecret: z.string().min(1).optional().describe('Standard Webhooks secret (whsec_<base64>): outgoing requests are signed, incoming webhooks must be.'),
  auth: z.union([
    z.strictObject({ bearer: z.string().min(1).describe('Bearer token (Authorization: Bearer ...).') }),
    z.strictObject({ basic: z.strictObject({ username: z.string(), password: z.string() }).describe('HTTP basic credentials.') }),
  ]).optional().describe('Authentication sent with every request.'),
});
export type HttpSystem = z.input<typeof httpSystemSchema>;

const methodSchema = z.enum(['POST', 'PUT', 'PATCH', 'DELETE']);

export const httpSinkSchema = z.strictObject({
  path: z.string().default('').describe('Path appended to the base URL; a template: {key}, {collection}, {op} or any key/state field, e.g. /bridges/{key} (default: the base URL).'),
  method: z.strictObject({
    insert: methodSchema.default('POST'),
    update: methodSchema.default('PUT'),
    delete: methodSchema.default('DELETE'),
  }).partial().default({}).describe('HTTP method per operation (default POST / PUT / DELETE).'),
  body: z.enum(['state', 'delta', 'envelope']).default('envelope').describe('state: the full new record; delta: { op, key, changed, state }; envelope (default): { id, type, timestamp, data: delta }.'),
  concurrency: z.number().int().min(1).max(64).default(8).describe('Requests in flight per batch (distinct keys only; default 8).'),
  batch: z.strictObject({
    maxItems: z.number().int().min(1).max(10_000).default(100).describe('Most items in one request (default 100).'),
    maxBytes: z.number().int().min(1024).max(64 * 1_048_576).default(1_048_576).describe('Largest request body in bytes (default 1 MiB); an item alone larger than this still goes, alone.'),
    method: methodSchema.default('POST').describe('Method of the batch request (default POST).'),
  }).optional().describe('Send many items per request: one JSON body { "items": [...] } to `path` (which may use {collection} only); see docs/connectors/http.md for per-item results.'),
});
export type HttpSinkOptions = z.input<typeof httpSinkSchema>;

export const webhookSourceSchema = z.strictObject({
  listen: z.strictObject({
    host: z.string().default('127.0.0.1').describe('Interface to listen on (default 127.0.0.1).'),
    port: z.number().int().min(0).max(65535).describe('TCP port (0 picks a free one).'),
  }),
  path: z.string().startsWith('/').describe('Request path the sender posts to, e.g. /hooks/permits.'),
  keyField: z.union([z.string(), z.array(z.string()).min(1)]).optional().describe('Field(s) of the record holding its key (default: the pipeline key).'),
  opField: z.string().optional().describe('Field giving the operation (insert/create(d), update(d)/upsert, delete(d)/remove(d)); default: from the method (DELETE is a delete, anything else an upsert).'),
  dataField: z.string().optional().describe('Field holding the record (or an array of records) in the body, e.g. data; default: the body itself.'),
  tolerance: durationSchema.default('5m').describe('Allowed age (and clock skew) of webhook-timestamp (default 5m).'),
  ackTimeout: durationSchema.default('10s').describe('How long a request waits for the durable commit before it is answered 503 (default 10s).'),
  maxBodyBytes: z.number().int().min(1).default(1_048_576).describe('Largest accepted body (default 1 MiB); larger ones get 413.'),
  dedupeFor: durationSchema.default('7d').describe('How long webhook-ids are remembered to drop redeliveries (default 7d).'),
  allowUnsigned: z.boolean().default(false).describe('Accept unsigned requests when the system has no signingSecret (default false: refuse to start).'),
});
export type WebhookSourceOptions = z.input<typeof webhookSourceSchema>;

export const restPollSourceSchema = z.strictObject({
  poll: durationSchema.default('10s').describe('Time between polls (default 10s).'),
  path: z.string().describe('Path of the list endpoint, appended to the base URL.'),
  query: z.record(z.string(), z.string()).optional().describe('Extra query parameters sent with every page request.'),
  cursorParam: z.string().min(1).describe('Query parameter carrying the cursor, e.g. since or cursor.'),
  cursorField: z.string().optional().describe('Field of an item whose value (of the last item of a page) is the next cursor, e.g. updated_at.'),
  nextField: z.string().optional().describe('Field of the response holding the next cursor, e.g. next_cursor (preferred over cursorField when both are set).'),
  itemsField: z.string().optional().describe('Field of the response holding the items array (dot path); default: the response is the array.'),
  keyField: z.union([z.string(), z.array(z.string()).min(1)]).optional().describe('Field(s) of an item holding its key (default: the pipeline key).'),
  opField: z.string().optional().describe('Field of an item giving the operation (e.g. a deleted flag or "delete"); default: upsert.'),
  initialCursor: z.string().optional().describe('Cursor of the very first request (default: none, the whole list).'),
  maxPages: z.number().int().min(1).default(1000).describe('Pages followed per poll at most (default 1000).'),
  get: z.strictObject({
    path: z.string().regex(/\{[^{}]+\}/, 'get.path must name the key, e.g. /permits/{key} or /permits/{id} ({key} or a key field)')
      .describe('URL template of one record, appended to the base URL: {key} (the key) or {<key field>}, URL-encoded, e.g. /permits/{id}. 404 or 410 means the key is missing.'),
    itemField: z.string().optional().describe('Field of the response holding the record (dot path); default: the body.'),
  }).optional().describe('Reading one record by key (the Reader\'s getByKeys: reconciliation, conflict checks); without it getByKeys scans the list.'),
}).refine((o) => o.cursorField !== undefined || o.nextField !== undefined, { message: 'set cursorField (an item field) or nextField (a response field) so the poll can move on' });
export type RestPollSourceOptions = z.input<typeof restPollSourceSchema>;

/** Webhook source when `listen` is present, REST polling otherwise. */
export const httpSourceSchema = z.union([webhookSourceSchema, restPollSourceSchema]);
export type HttpSourceOptions = WebhookSourceOptions | RestPollSourceOptions;

/** Value at a dot path (`data.items`), undefined when absent. */
export function getPath(obj: unknown, path: string | undefined): unknown {
  if (!path) return obj;
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Operation from a field value (`insert`/`created`/`update`/`upsert`/`delete`/`deleted`/true...), null when unknown. */
export function opFromValue(v: unknown): 'insert' | 'update' | 'delete' | null {
  if (v === true) return 'delete';
  if (v === false || v === undefined || v === null) return 'update';
  const s = String(v).toLowerCase();
  if (['insert', 'create', 'created', 'new'].includes(s)) return 'insert';
  if (['update', 'updated', 'upsert', 'change', 'changed', 'modify', 'modified', 'put', 'patch', 'post'].includes(s)) return 'update';
  if (['delete', 'deleted', 'remove', 'removed', 'destroy', 'destroyed'].includes(s)) return 'delete';
  return null;
}
