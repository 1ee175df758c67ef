/**
 * The soap source: polls a list operation (e.g. GetPermits with Since / Page), follows the
 * pages, hands the records to the engine's snapshot diff (SourceState.diff) and yields insert /
 * update events (and deletes after a full scan) together with the shadow rows to store.
 * It never writes the shadow itself: the engine commits each batch atomically.
 */
import { canonicalKey } from '../../core/delta.js';
import { ConfigError, FormatError, RetryableError, errorMessage } from '../../core/errors.js';
import type { Doc } from '../../core/types.js';
import type { Source, SourceBatch, SourceContext } from '../contract.js';
import { compileInput } from './soap-input.js';
import { resolveSystemPaths, type SoapSourceOptions, type SoapSystemConfig } from './soap-options.js';
import { lookup } from './soap-template.js';
import { createSoapTransport } from './soap-transport.js';
import { byKeyReader, listRows, nextPage, wsdlSession } from './soap-reader.js';

/** A soap source; `getByKey` is there when the pipeline configures `getByKey`. */
export interface SoapSource extends Source {
  /** Read one record by its canonical key (reconciliation, conflict checks); null when absent. */
  getByKey?(key: string, signal?: AbortSignal): Promise<Doc | null>;
}

const dotted = (p: string): string[] => p.split('.');

/** Compare positions: integers numerically (beyond 2^53 too), anything else as text (ISO dates). */
export function comparePositions(a: string, b: string): number {
  if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

async function hasAnyShadow(state: { listShadow(): AsyncIterable<unknown> }): Promise<boolean> {
  for await (const _ of state.listShadow()) return true;
  return false;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Create the source of one pipeline. */
export async function createSoapSource(ctx: SourceContext<SoapSystemConfig, SoapSourceOptions>): Promise<SoapSource> {
  const cfg = resolveSystemPaths(ctx.systemConfig, ctx.baseDir);
  const o = ctx.options;
  if (!cfg.wsdl) throw new ConfigError(`system "${ctx.system}" has no wsdl; the soap source calls a WSDL operation, so give systems.${ctx.system}.wsdl`, { path: `systems.${ctx.system}.wsdl` });
  if (ctx.keyFields.length === 0) throw new ConfigError(`the soap source of system "${ctx.system}" needs key fields (the pipeline's key)`, { path: 'key' });
  const transport = createSoapTransport(cfg);
  /** Load the WSDL once; a service that is down at start makes the first poll fail (retried by the engine). */
  const ready = wsdlSession(cfg, ctx.system, transport, [['from.operation', o.operation], ['from.getByKey.operation', o.getByKey?.operation]]);
  try {
    await ready();
  } catch (e) {
    if (!(e instanceof RetryableError)) {
      await transport.close();
      throw e;
    }
    ctx.logger.warn({ system: ctx.system, err: e }, `WSDL of system "${ctx.system}" not loaded yet (${e.message}); retrying at the first poll`);
  }
  const input = compileInput(o.input, 'from.input', ['position', 'page', 'collection']);
  const getByKey = byKeyReader(o, ctx.keyFields, ctx.collection, ready);
  let lastFullScan = 0;

  /** One scan (all pages); yields batches and returns the new position. */
  async function* scan(full: boolean, position: string | null, signal: AbortSignal): AsyncGenerator<SourceBatch, string | null> {
    const seen = full ? new Set<string>() : null;
    let best = position;
    let page: string = o.firstPage;
    for (let n = 1; ; n++) {
      if (n > o.maxPages) throw new FormatError(`${o.operation} of system "${ctx.system}" still had a next page after maxPages = ${o.maxPages} pages; check nextPagePath or raise maxPages`);
      const args = input({ position: full ? undefined : position ?? undefined, page, collection: ctx.collection });
      const readAt = Date.now();
      const { result } = await (await ready()).call(o.operation, args, { signal });
      const rowsPath = dotted(o.rowsPath);
      const rows = listRows(result, o.rowsPath);
      if (full && rows.length === 0 && !o.emptyListMayBeMissing) {
        // A full scan that finds nothing turns every known row into a delete: only believe it when
        // the response really holds the (empty) list, not when the list element is missing
        // (a typo in rowsPath, or a glitch answered with an empty body).
        const container = rowsPath.length > 1 ? lookup(result, rowsPath.slice(0, -1)) : result;
        if ((container === undefined || container === null) && (await hasAnyShadow(ctx.state))) {
          throw new FormatError(`${o.operation} of system "${ctx.system}" answered without ${rowsPath.length > 1 ? `the element ${rowsPath.slice(0, -1).join('.')}` : 'a body'} (rowsPath "${o.rowsPath}"); a full scan refuses to read that as "every record deleted": check rowsPath, or set emptyListMayBeMissing: true if the service leaves out an empty list`);
        }
      }
      const byKey = new Map<string, Doc>();
      rows.forEach((row, i) => {
        if (row === null || typeof row !== 'object' || Array.isArray(row)) {
          ctx.logger.warn({ system: ctx.system, operation: o.operation, page, record: i }, `record ${i} of page ${page} at ${o.rowsPath} is not an element with fields; skipped`);
          return;
        }
        const doc = row as Doc;
        let key: string;
        try {
          key = canonicalKey(doc, ctx.keyFields);
        } catch (e) {
          ctx.logger.warn({ system: ctx.system, operation: o.operation, page, record: i }, `record ${i} of page ${page} skipped: ${errorMessage(e)}`);
          return;
        }
        byKey.set(key, doc);
        if (o.positionField !== undefined) {
          const v = doc[o.positionField];
          if (typeof v === 'string' && v !== '' && (best === null || comparePositions(v, best) > 0)) best = v;
        }
      });
      if (seen) for (const key of byKey.keys()) seen.add(key);
      // the engine's snapshot diff; readAt: when this page's call began (echo suppression)
      const { events, shadow } = await ctx.state.diff([...byKey].map(([key, doc]) => ({ key, doc })), { readAt });
      const next = nextPage(result, o, rows.length);
      if (next !== null) {
        if (events.length) yield { events, shadow };
        page = next;
        continue;
      }
      if (seen) {
        // the keys of this full scan are held in memory: a service list cannot be asked for a page of keys
        for await (const d of ctx.state.sweepDeletes(async (keys) => new Set(keys.filter((k) => seen.has(k))), { signal })) {
          events.push(...d.events);
          shadow.push(...d.shadow);
        }
      }
      const moved = best !== null && best !== position;
      if (events.length || moved) yield { events, shadow, ...(best !== null ? { position: best } : {}) };
      return best;
    }
  }

  const source: SoapSource = {
    async *stream(signal: AbortSignal): AsyncIterable<SourceBatch> {
      let position = await ctx.state.getPosition();
      while (!signal.aborted) {
        const full = o.positionField === undefined || position === null || (o.fullScanEvery !== undefined && Date.now() - lastFullScan >= o.fullScanEvery);
        try {
          position = yield* scan(full, position, signal);
        } catch (e) {
          if (signal.aborted) return;
          throw e;
        }
        if (full) lastFullScan = Date.now();
        await abortableSleep(o.poll, signal);
      }
    },
    close: () => transport.close(),
  };
  if (getByKey) source.getByKey = getByKey;
  return source;
}
