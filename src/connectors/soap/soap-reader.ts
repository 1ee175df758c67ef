/**
 * The soap Reader: the pipeline's list operation (`from.operation`, paged with `{{page}}` and
 * `nextPagePath` when the service pages) read as a full scan, and `from.getByKey` (one call per
 * key) for `getByKeys`.
 *
 * Order: `none`. A SOAP list answers in the service's own order (often insertion or sequence
 * order) and has no standard way to ask for a key order or "after this key". The cursor is
 * `{ page, skip }`: the service page to call and how many of its records were already handed
 * out, so a page of the reader (`limit`) need not match the service's page size. Like any
 * offset paging, rows added or removed between two calls of a scan can shift records across
 * service pages (a record may be read twice or not at all in that scan); a full scan is
 * consistent only when the service's list is. Memory is one service page.
 *
 * Without `getByKey`, `getByKeys` scans the list (stops once every key was found). No `count`.
 */
import { canonicalKey, keyValues } from '../../core/delta.js';
import { ConfigError, FormatError, ValidationError, errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Doc } from '../../core/types.js';
import type { ReadRow, Reader, ReaderContext, ScanOptions, ScanPage } from '../contract.js';
import { cutToLimit, getByKeysVia, type ServicePage } from '../paged-list.js';
import { openWsdlClient, type WsdlClient } from './soap-client.js';
import { compileInput } from './soap-input.js';
import { resolveSystemPaths, type SoapSourceOptions, type SoapSystemConfig } from './soap-options.js';
import { lookup } from './soap-template.js';
import { createSoapTransport, type SoapTransport } from './soap-transport.js';

const dotted = (p: string): string[] => p.split('.');

/** The records at `rowsPath` of a list response, as a list (one element or none is common in XML). */
export function listRows(result: unknown, rowsPath: string): unknown[] {
  const v = lookup(result, dotted(rowsPath));
  if (v === undefined || v === null || v === '') return [];
  return Array.isArray(v) ? v : [v];
}

/** The next page value of a list response, or null when this was the last page. */
export function nextPage(result: unknown, o: Pick<SoapSourceOptions, 'nextPagePath'>, rowCount: number): string | null {
  if (!o.nextPagePath || rowCount === 0) return null;
  const next = lookup(result, dotted(o.nextPagePath));
  return next === undefined || next === null || next === '' ? null : String(next);
}

/**
 * A WSDL client loaded once (and again after a failure), checking that the configured
 * operations exist in the WSDL.
 */
export function wsdlSession(cfg: SoapSystemConfig, system: string, transport: SoapTransport, operations: Array<[where: string, op: string | undefined]>): () => Promise<WsdlClient> {
  let client: Promise<WsdlClient> | null = null;
  return () => (client ??= (async () => {
    const c = await openWsdlClient(cfg, transport, system);
    for (const [where, op] of operations) {
      if (op !== undefined && !c.operations.includes(op)) throw new ConfigError(`${where}: "${op}" is not in the WSDL of system "${system}"; it declares: ${c.operations.join(', ')}`, { path: where });
    }
    return c;
  })().catch((e: unknown) => { client = null; throw e; }));
}

/** Read one record with the getByKey operation; null when the answer holds none at rowPath. */
export function byKeyReader(o: SoapSourceOptions, keyFields: string[], collection: string, ready: () => Promise<WsdlClient>): ((key: string, signal?: AbortSignal) => Promise<Doc | null>) | undefined {
  const g = o.getByKey;
  if (!g) return undefined;
  const input = compileInput(g.input, 'from.getByKey.input', ['key', 'keys', 'collection']);
  return async (key, signal) => {
    const { result } = await (await ready()).call(g.operation, input({ key, keys: keyValues(key, keyFields), collection }), { signal });
    const row = lookup(result, dotted(g.rowPath));
    return row !== null && typeof row === 'object' && !Array.isArray(row) ? (row as Doc) : null;
  };
}

/** True when the XML holds an empty element of this local name (`<ns:Permits/>`, `<Permits></Permits>`). */
export function emptyElementIn(xml: string, name: string): boolean {
  const n = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`<(?:[\\w.-]+:)?${n}(?:\\s[^>]*)?(?:/>|>\\s*</(?:[\\w.-]+:)?${n}\\s*>)`).test(xml);
}

interface SoapCursor { page: string; skip: number }

/** The valid records of one list response with their keys (bad ones logged and left out). */
function keyedRows(rows: unknown[], keyFields: string[], log: Logger, where: Record<string, unknown>): Array<ReadRow | null> {
  return rows.map((row, i) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      log.warn({ ...where, record: i }, `record ${i} of the list is not an element with fields; skipped`);
      return null;
    }
    try {
      return { key: canonicalKey(row as Doc, keyFields), doc: row as Doc };
    } catch (e) {
      log.warn({ ...where, record: i }, `record ${i} of the list skipped: ${errorMessage(e)}`);
      return null;
    }
  });
}

export const SOAP_ORDER_NOTE = 'a SOAP list operation answers in the service\'s own order and cannot be asked for key order or "after this key"; pages follow the service\'s paging';

export function createSoapReader(ctx: ReaderContext<SoapSystemConfig, SoapSourceOptions>): Reader {
  const cfg = resolveSystemPaths(ctx.systemConfig, ctx.baseDir);
  const o = ctx.options;
  if (!cfg.wsdl) throw new ConfigError(`system "${ctx.system}" has no wsdl; the soap reader calls WSDL operations, so give systems.${ctx.system}.wsdl`, { path: `systems.${ctx.system}.wsdl` });
  if (ctx.keyFields.length === 0) throw new ConfigError(`the soap reader of system "${ctx.system}" needs key fields (the pipeline's key)`, { path: 'key' });
  const transport = createSoapTransport(cfg);
  const ready = wsdlSession(cfg, ctx.system, transport, [['from.operation', o.operation], ['from.getByKey.operation', o.getByKey?.operation]]);
  const input = compileInput(o.input, 'from.input', ['position', 'page', 'collection']);
  const getOne = byKeyReader(o, ctx.keyFields, ctx.collection, ready);

  function parseCursor(text: string): SoapCursor {
    try {
      const c = JSON.parse(text) as SoapCursor;
      if (typeof c.page === 'string' && Number.isInteger(c.skip) && c.skip >= 0) return c;
    } catch { /* reported below */ }
    throw new ValidationError(`${JSON.stringify(text)} is not a cursor of the soap reader; pass the cursor of a previous page, or no after to start from the top`);
  }

  /** Service pages from `page` on: the valid rows and the next page value. */
  async function* servicePages(page: string, signal?: AbortSignal): AsyncGenerator<ServicePage<string>> {
    for (let n = 1; ; n++) {
      if (n > o.maxPages) throw new FormatError(`${o.operation} of system "${ctx.system}" still had a next page after maxPages = ${o.maxPages} pages; check nextPagePath or raise maxPages`);
      signal?.throwIfAborted();
      const { result, raw: xml } = await (await ready()).call(o.operation, input({ position: undefined, page, collection: ctx.collection }), { signal });
      const raw = listRows(result, o.rowsPath);
      if (n === 1 && raw.length === 0 && !o.emptyListMayBeMissing) {
        // An empty answer read by a snapshot diff deletes every record: believe it only when the
        // response holds the list element, empty (`<Permits/>`, which the parser reads as null),
        // not when it is missing or has other content (a typo in rowsPath).
        const path = dotted(o.rowsPath);
        const container = path.length > 1 ? lookup(result, path.slice(0, -1)) : result;
        if ((container === undefined || container === null) && !(path.length > 1 && emptyElementIn(xml, path[path.length - 2]!))) {
          throw new FormatError(`${o.operation} of system "${ctx.system}" answered without ${path.length > 1 ? `the element ${path.slice(0, -1).join('.')}` : 'a body'} (rowsPath "${o.rowsPath}"); the reader refuses to read that as an empty collection: check rowsPath, or set emptyListMayBeMissing: true if the service leaves out an empty list`);
        }
      }
      const next = nextPage(result, o, raw.length);
      yield { at: page, rows: keyedRows(raw, ctx.keyFields, ctx.logger, { system: ctx.system, operation: o.operation, page }), next };
      if (next === null) return;
      page = next;
    }
  }

  return {
    order: 'none',
    orderNote: SOAP_ORDER_NOTE,

    async *scan(so: ScanOptions): AsyncIterable<ScanPage> {
      if (so.range && (so.range.from != null || so.range.to != null)) throw new ValidationError(`the soap reader cannot scan a key range (order 'none': ${SOAP_ORDER_NOTE})`);
      const start = so.after ? parseCursor(so.after) : { page: o.firstPage, skip: 0 };
      yield* cutToLimit(servicePages(start.page, so.signal), start, so.limit, (at, skip) => JSON.stringify({ page: at, skip } satisfies SoapCursor));
    },

    getByKeys(keys: string[], signal?: AbortSignal): Promise<Map<string, Doc>> {
      const one = getOne
        ? async (key: string) => {
          const doc = await getOne(key, signal);
          if (!doc) return null;
          let got: string;
          try {
            got = canonicalKey(doc, ctx.keyFields);
          } catch (e) {
            throw new FormatError(`${o.getByKey!.operation} of system "${ctx.system}" answered key ${JSON.stringify(key)} with a record without its key: ${errorMessage(e)}`);
          }
          if (got !== key) throw new FormatError(`${o.getByKey!.operation} of system "${ctx.system}" answered key ${JSON.stringify(key)} with the record of key ${JSON.stringify(got)}; check from.getByKey.input`);
          return doc;
        }
        : undefined;
      return getByKeysVia(keys, { one, parallel: 4, scan: () => servicePages(o.firstPage, signal) });
    },

    close: () => transport.close(),
  };
}
