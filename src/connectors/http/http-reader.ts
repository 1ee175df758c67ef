/**
 * The http Reader over a REST list endpoint: `scan` follows the REST poll source's paging (the
 * same `path`, `query`, `cursorParam`, `nextField` / `cursorField`, `itemsField`, from
 * `initialCursor` or the top), and `getByKeys` GETs one record per key from the `get.path`
 * URL template (404 and 410 mean the key is missing).
 *
 * Order: `none`. A REST list pages in whatever order the service chose (insertion, updated_at,
 * its own ids); hms-sync cannot know that it is the key order of the pipeline. The cursor is
 * `{ cursor, skip }`: the service cursor of the page to request and how many of its items were
 * already handed out, so reader pages need not match the service's page size. Items marked
 * deleted by `opField` are tombstones, not rows, and are left out. Memory is one service page.
 *
 * Without `get`, `getByKeys` scans the list (stops once every key was found). No `count`.
 */
import { canonicalKey, keyValues } from '../../core/delta.js';
import { ConfigError, FormatError, ValidationError, errorMessage } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import type { Reader, ReaderContext, ScanOptions, ScanPage } from '../contract.js';
import { cutToLimit, getByKeysVia, type ServicePage } from '../paged-list.js';
import { parseJsonLossless } from '../../formats/json/lossless-json.js';
import type { Agent } from 'undici';
import { baseHeaders, classifyResponse, createAgent, DEFAULT_MAX_RESPONSE_BYTES, httpCall, joinUrl, secretsOf } from './http-client.js';
import { getPath, opFromValue, restPollSourceSchema, type HttpSystem, type RestPollSourceOptions } from './http-schemas.js';
import { keyFieldsOf, recordKey } from './record-diff.js';

type ListOptions = ReturnType<typeof restPollSourceSchema.parse>;

/** One page of a REST list: its items and the cursor it names for the next page (null: none). */
export interface ListPage {
  items: unknown[];
  next: string | null;
  /** There is a page after this one: the page had items and the cursor moved. */
  more: boolean;
}

/**
 * GET one page of the list endpoint at `cursor` (null: the first page without a cursor) and
 * find its items and next cursor (from `nextField`, or `cursorField` of the last item). Shared
 * by the REST poll source and the reader.
 */
export async function fetchListPage(sys: HttpSystem & { url: string }, o: ListOptions, cursor: string | null, http: { agent: Agent; timeoutMs: number; signal?: AbortSignal }): Promise<ListPage> {
  const u = new URL(joinUrl(sys.url, o.path));
  for (const [k, v] of Object.entries(o.query ?? {})) u.searchParams.set(k, v);
  if (cursor !== null) u.searchParams.set(o.cursorParam, cursor);
  const url = u.toString();
  const res = await httpCall({ method: 'GET', url, headers: { ...baseHeaders(sys), accept: 'application/json' }, timeoutMs: http.timeoutMs, signal: http.signal, dispatcher: http.agent });
  const bad = classifyResponse('GET', url, res, secretsOf(sys));
  if (bad) throw bad;
  if (res.truncated) throw new FormatError(`GET ${o.path} returned more than ${DEFAULT_MAX_RESPONSE_BYTES} bytes; ask the service for smaller pages`);
  let body: unknown;
  try {
    body = parseJsonLossless(res.text);
  } catch (err) {
    throw new FormatError(`GET ${o.path} returned a body that is not JSON: ${errorMessage(err)}`, { cause: err });
  }
  const items = getPath(body, o.itemsField);
  if (!Array.isArray(items)) throw new FormatError(`GET ${o.path}: ${o.itemsField ? `field "${o.itemsField}"` : 'the response'} is not an array (option itemsField)`);
  const nextRaw = o.nextField ? getPath(body, o.nextField) : items.length ? getPath(items[items.length - 1], o.cursorField) : undefined;
  const next = nextRaw === undefined || nextRaw === null || nextRaw === '' ? null : String(nextRaw);
  return { items, next, more: next !== null && next !== cursor && items.length > 0 };
}

/** True when an item of the list is a tombstone (its `opField` says delete). */
export function isDeletedItem(o: ListOptions, item: unknown): boolean {
  return !!o.opField && opFromValue(getPath(item, o.opField)) === 'delete';
}

const PLACEHOLDER = /\{([^{}]+)\}/g;

/**
 * The URL path of one record from a `get.path` template: `{key}` (the canonical key) or a key
 * field (`{id}`, `{region}`), each URL-encoded.
 * @example recordPath('/permits/{id}', 'P-1', ['id']) // => '/permits/P-1'
 */
export function recordPath(template: string, key: string, keyFields: string[]): string {
  const values = keyValues(key, keyFields);
  return template.replace(PLACEHOLDER, (_m, name: string) => encodeURIComponent(String(name === 'key' ? key : values[name])));
}

export const HTTP_ORDER_NOTE = 'a REST list pages in the order the service chose (insertion, updated_at, its own ids); hms-sync cannot rely on it being the key order';

interface HttpCursor { cursor: string | null; skip: number }

export function createHttpReader(ctx: ReaderContext<HttpSystem & { url: string }, RestPollSourceOptions>, timeoutMs: number): Reader {
  const o = restPollSourceSchema.parse(ctx.options);
  const sys = ctx.systemConfig;
  const keyFields = keyFieldsOf(o.keyField, ctx.keyFields);
  if (keyFields.length === 0) throw new ConfigError(`the http reader of system "${ctx.system}" needs key fields (the pipeline's key or from.keyField)`, { path: 'from.keyField' });
  if (o.get) {
    for (const m of o.get.path.matchAll(PLACEHOLDER)) {
      if (m[1] !== 'key' && !keyFields.includes(m[1]!)) {
        throw new ConfigError(`from.get.path ${JSON.stringify(o.get.path)} names {${m[1]}}, which is not the key; use {key} or a key field (${keyFields.map((f) => `{${f}}`).join(', ')})`, { path: 'from.get.path' });
      }
    }
  }
  const agent = createAgent(timeoutMs);

  function parseCursor(text: string): HttpCursor {
    try {
      const c = JSON.parse(text) as HttpCursor;
      if ((c.cursor === null || typeof c.cursor === 'string') && Number.isInteger(c.skip) && c.skip >= 0) return c;
    } catch { /* reported below */ }
    throw new ValidationError(`${JSON.stringify(text)} is not a cursor of the http reader; pass the cursor of a previous page, or no after to start from the top`);
  }

  /** Service pages from `cursor` on, their items keyed (tombstones as null). */
  async function* servicePages(cursor: string | null, signal?: AbortSignal): AsyncGenerator<ServicePage<string | null>> {
    for (let n = 1; ; n++) {
      if (n > o.maxPages) throw new FormatError(`GET ${o.path} of system "${ctx.system}" still had a next page after maxPages = ${o.maxPages} pages; raise maxPages`);
      signal?.throwIfAborted();
      const page = await fetchListPage(sys, o, cursor, { agent, timeoutMs, signal });
      const rows = page.items.map((item, i) => (isDeletedItem(o, item) ? null : { key: recordKey(item, keyFields, i), doc: item as Doc }));
      const next = page.more ? page.next : null;
      yield { at: cursor, rows, next };
      if (next === null) return;
      cursor = next;
    }
  }

  async function getOne(key: string, signal?: AbortSignal): Promise<Doc | null> {
    const g = o.get!;
    const url = joinUrl(sys.url, recordPath(g.path, key, keyFields));
    const res = await httpCall({ method: 'GET', url, headers: { ...baseHeaders(sys), accept: 'application/json' }, timeoutMs, signal, dispatcher: agent });
    if (res.status === 404 || res.status === 410) return null;
    const bad = classifyResponse('GET', url, res, secretsOf(sys));
    if (bad) throw bad;
    let body: unknown;
    try {
      body = parseJsonLossless(res.text);
    } catch (err) {
      throw new FormatError(`GET ${g.path} for key ${JSON.stringify(key)} returned a body that is not JSON: ${errorMessage(err)}`, { cause: err });
    }
    const doc = getPath(body, g.itemField);
    if (doc === undefined || doc === null) return null;
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new FormatError(`GET ${g.path} for key ${JSON.stringify(key)}: ${g.itemField ? `field "${g.itemField}"` : 'the response'} is not a JSON object (option get.itemField)`);
    if (isDeletedItem(o, doc)) return null;
    let got: string;
    try {
      got = canonicalKey(doc as Doc, keyFields);
    } catch (e) {
      throw new FormatError(`GET ${g.path} for key ${JSON.stringify(key)} answered a record without its key: ${errorMessage(e)}`);
    }
    if (got !== key) throw new FormatError(`GET ${g.path} for key ${JSON.stringify(key)} answered the record of key ${JSON.stringify(got)}; check from.get.path`);
    return doc as Doc;
  }

  return {
    order: 'none',
    orderNote: HTTP_ORDER_NOTE,

    async *scan(so: ScanOptions): AsyncIterable<ScanPage> {
      if (so.range && (so.range.from != null || so.range.to != null)) throw new ValidationError(`the http reader cannot scan a key range (order 'none': ${HTTP_ORDER_NOTE})`);
      const start = so.after ? parseCursor(so.after) : { cursor: o.initialCursor ?? null, skip: 0 };
      yield* cutToLimit(servicePages(start.cursor, so.signal), start, so.limit, (at, skip) => JSON.stringify({ cursor: at, skip } satisfies HttpCursor));
    },

    getByKeys(keys: string[], signal?: AbortSignal): Promise<Map<string, Doc>> {
      return getByKeysVia(keys, { one: o.get ? (key) => getOne(key, signal) : undefined, parallel: 8, scan: () => servicePages(o.initialCursor ?? null, signal) });
    },

    async close() {
      if (!agent.closed && !agent.destroyed) await agent.close();
    },
  };
}
