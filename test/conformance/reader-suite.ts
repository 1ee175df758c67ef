/**
 * The Reader conformance suite: every connector that offers `createReader` runs it with a
 * fixture that creates collections in the real system.
 *
 * @example
 * readerConformance('sqlite', () => ({
 *   async createCollection(spec, rows) { ...create the table, insert rows...; return { insert, remove, openReader, drop }; },
 * }), { skip: false });
 *
 * What it checks: pages ascend by key when `order: 'key'` (and `orderNote` is set when 'none');
 * resuming with `after` (the previous page's cursor) yields every row exactly once; `range`
 * (order 'key' only); `getByKeys` with present and missing keys; compound keys; `count`
 * (when offered); rows added and removed between scans; and a scan of a collection larger
 * than a memory budget (heap retained after GC stays bounded while every row is seen once).
 *
 * Values the suite uses sort the same as text and as numbers (fixed-width keys `k000001`,
 * three-digit sequence numbers), so the expected order does not depend on the system's
 * collation or column types. Field values are compared as text (`String(v)`), so a system
 * that reads everything as strings (CSV) passes too.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { canonicalKey, keyValues } from '../../src/core/delta.js';
import type { Doc } from '../../src/core/types.js';
import type { ReadRow, Reader, ScanOptions } from '../../src/connectors/contract.js';

/** A field of a fixture collection: `text` or `int` (the system's nearest column types). */
export interface FieldSpec {
  name: string;
  type: 'text' | 'int';
}

export interface CollectionSpec {
  /** Unique per test run (the suite adds a random suffix); safe as an unquoted identifier. */
  name: string;
  fields: FieldSpec[];
  keyFields: string[];
}

/** A collection the fixture created; the suite drops it when done. */
export interface FixtureCollection {
  /** Add rows (the suite never adds a key twice). */
  insert(rows: Iterable<Doc>): Promise<void>;
  /** Remove the rows with these key values (each doc holds only the key fields). */
  remove(keys: Doc[]): Promise<void>;
  /** Open a Reader on the collection (the suite closes it). */
  openReader(): Promise<Reader>;
  drop(): Promise<void>;
}

export interface ReaderSetup {
  /**
   * Create the collection with these rows. `rows` may be large (the memory test passes a
   * generator of {@link ReaderSuiteOptions.largeRows} rows): insert them in chunks.
   */
  createCollection(spec: CollectionSpec, rows: Iterable<Doc>): Promise<FixtureCollection>;
  /** Called once after every test of the suite. */
  close?(): Promise<void>;
}

export interface ReaderSuiteOptions {
  /** A reason to skip the suite (e.g. the result of `needService`), or false. */
  skip?: string | false;
  /** Rows of the memory test's collection (default 200,000; env HMS_READER_LARGE_ROWS overrides). */
  largeRows?: number;
  /** Page size of the memory test (default 1,000). */
  largeLimit?: number;
  /** Largest heap growth retained (after GC) during the memory test, in MiB (default 24). */
  memoryBudgetMb?: number;
  /** Missing keys added to the large getByKeys call (default 1,200; lower for a system that fetches key by key). */
  manyKeys?: number;
}

/** Split an iterable into arrays of at most `n` items (for fixtures inserting large inputs). */
export function* chunked<T>(items: Iterable<T>, n: number): Generator<T[]> {
  let buf: T[] = [];
  for (const it of items) {
    buf.push(it);
    if (buf.length >= n) {
      yield buf;
      buf = [];
    }
  }
  if (buf.length) yield buf;
}

const pad = (i: number, w = 6) => String(i).padStart(w, '0');
const suffix = () => `${process.pid}_${Math.random().toString(36).slice(2, 7)}`;

const SIMPLE: Omit<CollectionSpec, 'name'> = {
  fields: [{ name: 'id', type: 'text' }, { name: 'label', type: 'text' }, { name: 'qty', type: 'int' }],
  keyFields: ['id'],
};
const simpleRow = (i: number): Doc => ({ id: `k${pad(i)}`, label: `row ${i}`, qty: i % 1000 });

const COMPOUND: Omit<CollectionSpec, 'name'> = {
  fields: [{ name: 'region', type: 'text' }, { name: 'seq', type: 'int' }, { name: 'label', type: 'text' }],
  keyFields: ['region', 'seq'],
};
const compoundRow = (r: number, s: number): Doc => ({ region: `r${r}`, seq: 100 + s, label: `r${r}/${100 + s}` });

/** The key of a read row as comparable text parts (tolerant of text vs number key values). */
function keyParts(key: string, keyFields: string[]): string[] {
  const v = keyValues(key, keyFields);
  return keyFields.map((f) => String(v[f]));
}

/** The expected key text of a fixture row. */
function expectedParts(doc: Doc, keyFields: string[]): string[] {
  return keyFields.map((f) => String(doc[f]));
}

function compareParts(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
}

/** Read every page; checks page sizes, order (for 'key' readers) and the cursor chain. */
async function scanAll(reader: Reader, keyFields: string[], opts: Omit<ScanOptions, 'after'> & { after?: string | null }): Promise<{ rows: ReadRow[]; pages: number }> {
  const rows: ReadRow[] = [];
  let pages = 0;
  let last: string[] | null = null;
  for await (const page of reader.scan(opts)) {
    pages++;
    assert.ok(page.rows.length <= opts.limit, `a page holds ${page.rows.length} rows, more than the limit ${opts.limit}`);
    for (const r of page.rows) {
      assert.equal(typeof r.key, 'string');
      assert.equal(r.key, canonicalKey(r.doc, keyFields), `the row key ${JSON.stringify(r.key)} is not the canonical key of its doc ${JSON.stringify(r.doc)}`);
      if (reader.order === 'key') {
        const p = keyParts(r.key, keyFields);
        if (last) assert.ok(compareParts(last, p) < 0, `order 'key' but ${JSON.stringify(r.key)} came after ${JSON.stringify(last)}`);
        last = p;
      }
      rows.push(r);
    }
    if (page.cursor === null) break;
    if (reader.order === 'key' && page.rows.length) assert.equal(page.cursor, page.rows[page.rows.length - 1]!.key, 'the cursor of an ordered page is the key of its last row');
  }
  return { rows, pages };
}

/** Read page by page, opening a new scan with `after` = the previous cursor each time (resume). */
async function scanResuming(reader: Reader, limit: number, range?: ScanOptions['range']): Promise<ReadRow[]> {
  const rows: ReadRow[] = [];
  let after: string | null = null;
  for (let guard = 0; guard < 100_000; guard++) {
    let cursor: string | null = null;
    let got = false;
    for await (const page of reader.scan({ after, limit, ...(range ? { range } : {}) })) {
      rows.push(...page.rows);
      cursor = page.cursor;
      got = true;
      break; // one page per scan: the next scan resumes from its cursor
    }
    if (!got || cursor === null) return rows;
    after = cursor;
  }
  throw new Error('scan did not end after 100,000 resumed pages');
}

/** A GC function when the runtime can expose one (node's `--expose-gc`, set at run time). */
export function gcFunction(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    return null;
  }
}

/** Registers the conformance tests of one connector's Reader (see the module comment). */
export function readerConformance(name: string, setup: () => ReaderSetup | Promise<ReaderSetup>, options: ReaderSuiteOptions = {}): void {
  const largeRows = Number(process.env.HMS_READER_LARGE_ROWS ?? options.largeRows ?? 200_000);
  const largeLimit = options.largeLimit ?? 1000;
  const budget = (options.memoryBudgetMb ?? 24) * 1024 * 1024;
  const manyKeys = options.manyKeys ?? 1200;

  describe(`${name} reader conformance`, { skip: options.skip || false }, () => {
    let fixture: ReaderSetup;
    const collections: FixtureCollection[] = [];
    const readers: Reader[] = [];

    before(async () => {
      fixture = await setup();
    });
    after(async () => {
      for (const r of readers) await r.close().catch(() => {});
      for (const c of collections) await c.drop().catch(() => {});
      await fixture?.close?.();
    });

    async function collection(kind: 'simple' | 'compound', rows: Iterable<Doc>) {
      const spec = kind === 'simple' ? SIMPLE : COMPOUND;
      const c = await fixture.createCollection({ name: `rc_${kind}_${suffix()}`, ...spec }, rows);
      collections.push(c);
      const reader = await c.openReader();
      readers.push(reader);
      return { c, reader, keyFields: spec.keyFields };
    }

    test('declares its order; pages ascend by key and stay within the limit; every row once', async () => {
      const n = 257;
      const src = Array.from({ length: n }, (_, i) => simpleRow(n - i)); // inserted in reverse
      const { reader, keyFields } = await collection('simple', src);
      assert.ok(reader.order === 'key' || reader.order === 'none', `order is ${String(reader.order)}`);
      if (reader.order === 'none') assert.ok(reader.orderNote && reader.orderNote.length > 0, "order 'none' must say why in orderNote");
      const { rows, pages } = await scanAll(reader, keyFields, { limit: 50 });
      assert.equal(rows.length, n);
      assert.ok(pages >= Math.ceil(n / 50), `expected at least ${Math.ceil(n / 50)} pages, got ${pages}`);
      const seen = new Set(rows.map((r) => r.key));
      assert.equal(seen.size, n, 'a row was read twice');
      const expected = src.map((d) => expectedParts(d, keyFields).join('\u0001')).sort();
      assert.deepEqual(rows.map((r) => keyParts(r.key, keyFields).join('\u0001')).sort(), expected);
      const byId = new Map(rows.map((r) => [String(r.doc.id), r.doc]));
      for (const d of src) {
        const got = byId.get(String(d.id))!;
        for (const f of SIMPLE.fields) assert.equal(String(got[f.name]), String(d[f.name]), `field ${f.name} of ${String(d.id)}`);
      }
    });

    test('an empty collection scans to nothing and counts 0', async () => {
      const { reader, keyFields } = await collection('simple', []);
      const { rows } = await scanAll(reader, keyFields, { limit: 10 });
      assert.equal(rows.length, 0);
      if (reader.count) assert.equal(await reader.count(), 0);
      assert.equal((await reader.getByKeys([])).size, 0);
    });

    test('resuming with after = the previous cursor yields every row exactly once', async () => {
      const n = 101;
      const { reader, keyFields } = await collection('simple', Array.from({ length: n }, (_, i) => simpleRow(i + 1)));
      for (const limit of [1, 7, 100, 101, 500]) {
        const rows = await scanResuming(reader, limit);
        assert.equal(rows.length, n, `limit ${limit}: ${rows.length} rows`);
        assert.equal(new Set(rows.map((r) => r.key)).size, n, `limit ${limit}: a row was read twice`);
      }
      if (reader.order === 'key') {
        // a key taken from a first scan resumes right after it
        const all = (await scanAll(reader, keyFields, { limit: 1000 })).rows;
        const mid = all[49]!.key;
        const rest = (await scanAll(reader, keyFields, { limit: 13, after: mid })).rows;
        assert.deepEqual(rest.map((r) => r.key), all.slice(50).map((r) => r.key));
      }
    });

    test('rows added and removed between scans are seen by the next scan', async () => {
      const { c, reader, keyFields } = await collection('simple', Array.from({ length: 30 }, (_, i) => simpleRow(i * 2)));
      await c.insert([simpleRow(1), simpleRow(59), simpleRow(1001)]);
      await c.remove([{ id: simpleRow(0).id }, { id: simpleRow(20).id }]);
      const rows = (await scanAll(reader, keyFields, { limit: 8 })).rows;
      const ids = new Set(rows.map((r) => String(r.doc.id)));
      assert.equal(rows.length, 31);
      for (const i of [1, 59, 1001]) assert.ok(ids.has(`k${pad(i)}`), `added row ${i} missing`);
      for (const i of [0, 20]) assert.ok(!ids.has(`k${pad(i)}`), `removed row ${i} still read`);
      if (reader.count) assert.equal(await reader.count(), 31);
    });

    test('range [from, to) on ordered readers; refused with a clear error by unordered ones', async () => {
      const { reader, keyFields } = await collection('simple', Array.from({ length: 60 }, (_, i) => simpleRow(i)));
      if (reader.order !== 'key') {
        await assert.rejects(async () => {
          for await (const _ of reader.scan({ limit: 10, range: { from: 'k00010' } })) break;
        }, (err: Error) => /cannot scan a key range/.test(err.message) && err.message.includes(reader.orderNote ?? '\u0000'), 'an unordered reader refuses a range, saying why');
        return;
      }
      const all = (await scanAll(reader, keyFields, { limit: 1000 })).rows.map((r) => r.key);
      const from = all[10]!;
      const to = all[25]!;
      const mid = (await scanAll(reader, keyFields, { limit: 4, range: { from, to } })).rows.map((r) => r.key);
      assert.deepEqual(mid, all.slice(10, 25));
      assert.deepEqual((await scanResuming(reader, 4, { from, to })).map((r) => r.key), all.slice(10, 25));
      assert.deepEqual((await scanAll(reader, keyFields, { limit: 7, range: { from: all[50] } })).rows.map((r) => r.key), all.slice(50));
      assert.deepEqual((await scanAll(reader, keyFields, { limit: 7, range: { to: all[5] } })).rows.map((r) => r.key), all.slice(0, 5));
      assert.deepEqual((await scanAll(reader, keyFields, { limit: 7, range: { from: all[12], to: all[12] } })).rows, []);
      // after inside a range: resumes within it
      assert.deepEqual((await scanAll(reader, keyFields, { limit: 3, after: all[20], range: { from, to } })).rows.map((r) => r.key), all.slice(21, 25));
      if (reader.count) {
        assert.equal(await reader.count({ range: { from, to } }), 15);
        assert.equal(await reader.count({ range: { from: all[50] } }), 10);
      }
    });

    test('getByKeys returns the rows that exist and leaves out missing keys', async () => {
      const { c, reader, keyFields } = await collection('simple', Array.from({ length: 40 }, (_, i) => simpleRow(i)));
      const all = (await scanAll(reader, keyFields, { limit: 1000 })).rows;
      const present = [all[0]!, all[17]!, all[39]!];
      await c.remove([{ id: all[17]!.doc.id }]);
      const missing = canonicalKey({ ...all[3]!.doc, id: 'zz-never-there' }, keyFields);
      const got = await reader.getByKeys([present[0]!.key, present[1]!.key, missing, present[2]!.key]);
      assert.deepEqual([...got.keys()].sort(), [present[0]!.key, present[2]!.key].sort());
      assert.deepEqual(got.get(present[0]!.key), present[0]!.doc);
      assert.deepEqual(got.get(present[2]!.key), present[2]!.doc);
      // many keys at once (beyond one statement's worth of parameters in some systems)
      const many = all.map((r) => r.key).concat(Array.from({ length: manyKeys }, (_, i) => canonicalKey({ ...all[0]!.doc, id: `zz${pad(i)}` }, keyFields)));
      assert.equal((await reader.getByKeys(many)).size, 39);
    });

    test('compound keys: order, resume, range, getByKeys, count', async () => {
      const src: Doc[] = [];
      for (let r = 3; r >= 1; r--) for (let s = 0; s < 25; s++) src.push(compoundRow(r, (s * 7) % 25));
      const { reader, keyFields } = await collection('compound', src);
      const { rows } = await scanAll(reader, keyFields, { limit: 9 });
      assert.equal(rows.length, 75);
      assert.equal(new Set(rows.map((r) => r.key)).size, 75);
      if (reader.order === 'key') {
        const expected = src.map((d) => expectedParts(d, keyFields)).sort(compareParts).map((p) => p.join('/'));
        assert.deepEqual(rows.map((r) => keyParts(r.key, keyFields).join('/')), expected);
        // region boundary: resuming after the last row of r1 continues with r2
        const lastOfR1 = rows[24]!.key;
        const next = (await scanAll(reader, keyFields, { limit: 5, after: lastOfR1 })).rows;
        assert.deepEqual(keyParts(next[0]!.key, keyFields), ['r2', '100']);
        assert.equal(next.length, 50);
        const range = { from: rows[20]!.key, to: rows[30]!.key };
        assert.deepEqual((await scanAll(reader, keyFields, { limit: 3, range })).rows.map((r) => r.key), rows.slice(20, 30).map((r) => r.key));
        if (reader.count) assert.equal(await reader.count({ range }), 10);
      }
      assert.equal((await scanResuming(reader, 11)).length, 75);
      const want = [rows[0]!, rows[40]!, rows[74]!];
      const missing = canonicalKey({ ...rows[5]!.doc, region: 'r9' }, keyFields);
      const got = await reader.getByKeys([...want.map((r) => r.key), missing]);
      assert.equal(got.size, 3);
      for (const r of want) assert.deepEqual(got.get(r.key), r.doc);
      if (reader.count) assert.equal(await reader.count(), 75);
    });

    test('a collection larger than the memory budget scans with bounded memory, every row once', { timeout: 300_000 }, async () => {
      const n = largeRows;
      const filler = 'x'.repeat(120);
      const rows = function* () {
        for (let i = 0; i < n; i++) yield { id: `k${pad(i, 7)}`, label: `${filler}${i}`, qty: i % 1000 };
      };
      const spec = { name: `rc_large_${suffix()}`, ...SIMPLE };
      const c = await fixture.createCollection(spec, rows());
      collections.push(c);
      const reader = await c.openReader();
      readers.push(reader);
      const gc = gcFunction();
      assert.ok(gc, 'the memory check needs a GC function (node --expose-gc, or v8.setFlagsFromString)');
      gc();
      const base = process.memoryUsage().heapUsed;
      let peak = 0;
      const seen = new Uint8Array(n);
      let count = 0;
      let pages = 0;
      let last = '';
      for await (const page of reader.scan({ limit: largeLimit })) {
        pages++;
        assert.ok(page.rows.length <= largeLimit);
        for (const r of page.rows) {
          const id = String(r.doc.id);
          const i = Number(id.slice(1));
          assert.ok(Number.isInteger(i) && i >= 0 && i < n, `unexpected row ${id}`);
          assert.equal(seen[i], 0, `row ${id} read twice`);
          seen[i] = 1;
          count++;
          if (reader.order === 'key') {
            assert.ok(id > last, `order 'key' but ${id} came after ${last}`);
            last = id;
          }
        }
        if (pages % 25 === 0) {
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed - base);
        }
      }
      gc();
      peak = Math.max(peak, process.memoryUsage().heapUsed - base);
      assert.equal(count, n, `read ${count} of ${n} rows`);
      assert.ok(pages >= Math.ceil(n / largeLimit));
      // all rows at once would retain well over 100 MiB; a streaming scan retains about one page
      assert.ok(peak < budget, `heap retained grew by ${(peak / 1048576).toFixed(1)} MiB during the scan (budget ${(budget / 1048576).toFixed(0)} MiB)`);
      if (reader.count) assert.equal(await reader.count(), n);
    });
  });
}
