/**
 * Readers over a service's own list pages (a SOAP list operation, a REST list): the service's page
 * size is not the caller's `limit`, so pages are cut to `limit` rows with a cursor that says which
 * service page to ask for and how many of its rows were already handed out; and getByKeys either
 * calls a one-key operation a few keys at a time or scans the list. Shared by the soap and http
 * readers.
 */
import type { Doc } from '../core/types.js';
import type { ReadRow, ScanPage } from './contract.js';

/** One page as the service answered it: its rows (null = a row the reader skipped), its own position and the next one. */
export interface ServicePage<P> {
  at: P;
  rows: Array<ReadRow | null>;
  next: P | null;
}

/**
 * Scan pages of at most `limit` rows over the service's pages, from `start` (a service page and
 * the rows of it already read). `cursor(at, skip)` renders the resume point of a page.
 */
export async function* cutToLimit<P>(pages: AsyncIterable<ServicePage<P>>, start: { skip: number }, limit: number, cursor: (at: P, skip: number) => string): AsyncGenerator<ScanPage> {
  const n = Math.max(1, Math.floor(limit));
  let out: ReadRow[] = [];
  let skip = start.skip;
  for await (const sp of pages) {
    // rows of this service page already handed out (a resumed scan)
    for (let i = skip; i < sp.rows.length; i++) {
      const r = sp.rows[i];
      if (r) out.push(r);
      if (out.length >= n) {
        const done = i + 1 >= sp.rows.length;
        if (done && sp.next === null) break; // the last row: the final page below says so
        yield { rows: out, cursor: done ? cursor(sp.next!, 0) : cursor(sp.at, i + 1) };
        out = [];
      }
    }
    skip = 0;
  }
  yield { rows: out, cursor: null };
}

/**
 * The rows of these keys: through `one` (a get-by-key call), at most `parallel` at a time (old
 * services rarely take many parallel requests well), or, without it, by scanning the list until
 * every key is found.
 */
export async function getByKeysVia(keys: string[], opts: { one?: (key: string) => Promise<Doc | null>; parallel: number; scan: () => AsyncIterable<{ rows: Array<ReadRow | null> }> }): Promise<Map<string, Doc>> {
  const out = new Map<string, Doc>();
  const wanted = [...new Set(keys)];
  if (!wanted.length) return out;
  if (opts.one) {
    const one = opts.one;
    let next = 0;
    const worker = async () => {
      while (next < wanted.length) {
        const key = wanted[next++]!;
        const doc = await one(key);
        if (doc) out.set(key, doc);
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.parallel, wanted.length) }, worker));
    return out;
  }
  const want = new Set(wanted);
  for await (const sp of opts.scan()) {
    for (const r of sp.rows) if (r && want.has(r.key) && !out.has(r.key)) out.set(r.key, r.doc);
    if (out.size === want.size) break;
  }
  return out;
}
