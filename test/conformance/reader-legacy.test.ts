/**
 * The Reader conformance suite (reader-suite.ts) on the legacy connectors, against real peers:
 * file (real CSV files and EBCDIC copybook records in a temporary directory), SOAP (the PHP
 * SOAP server helper) and HTTP (a real local HTTP server). Plus the file reader's own rules:
 * newest snapshot, processed/ fallback, a cursor that follows the file into processed/, bad
 * records per onError, changes mode refused.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { silentLogger } from '../../src/core/log.js';
import type { Doc } from '../../src/core/types.js';
import type { Reader } from '../../src/connectors/contract.js';
import { fileConnector } from '../../src/connectors/file/file-connector.js';
import { fileSourceSchema } from '../../src/connectors/file/file-options.js';
import { createCsvEncoder } from '../../src/connectors/file/csv-format.js';
import { createFixedEncoder } from '../../src/connectors/file/fixed-width-format.js';
import type { FileEncoder } from '../../src/connectors/file/file-sink.js';
import { tempDir } from '../helpers/services.js';
import { startPhpSoapServer, type PermitStore, type StoredPermit } from '../helpers/php-soap-server.js';
import { soapConnector } from '../../src/connectors/soap/soap-connector.js';
import { soapSourceSchema, soapSystemSchema } from '../../src/connectors/soap/soap-options.js';
import { httpConnector } from '../../src/connectors/http/http-connector.js';
import { restPollSourceSchema } from '../../src/connectors/http/http-schemas.js';
import { canonicalKey } from '../../src/core/delta.js';
import { readerConformance, type CollectionSpec, type FixtureCollection } from './reader-suite.js';

const dir = tempDir('hms-reader-legacy-');
after(() => dir.cleanup());

function openFileReader(drop: string, collection: string, keyFields: string[], options: Record<string, unknown>): Promise<Reader> {
  const parsed = fileSourceSchema.parse({ mode: 'snapshot', ...options });
  return Promise.resolve(fileConnector.createReader!({ system: 'county', systemConfig: { transport: 'local', dir: drop }, collection, options: parsed, keyFields, logger: silentLogger(), baseDir: dir.dir }));
}

/** Write `rows` as a file with this encoder (streamed, with backpressure). */
async function writeFile(file: string, enc: FileEncoder, rows: Iterable<Doc>): Promise<void> {
  const out = createWriteStream(file);
  const write = async (b: Buffer) => { if (b.length && !out.write(b)) await once(out, 'drain'); };
  await write(enc.header({}));
  let batch: Buffer[] = [];
  for (const r of rows) {
    batch.push(enc.record(r));
    if (batch.length >= 1000) {
      await write(enc.frame ? enc.frame(batch) : Buffer.concat(batch));
      batch = [];
    }
  }
  if (batch.length) await write(enc.frame ? enc.frame(batch) : Buffer.concat(batch));
  out.end();
  await once(out, 'close');
}

/**
 * A file collection: each version of the data is a new snapshot file `<name>.<seq>.<ext>` in its
 * own drop directory (as an extract job drops them); insert/remove write the next snapshot.
 * `names` maps the suite's field names to the file's (copybook fields are upper case), and the
 * opened reader's docs are mapped back (keys are unchanged: they are built from values only).
 */
function fileSetup(kind: 'csv' | 'fixed') {
  return () => ({
    async createCollection(spec: CollectionSpec, rows: Iterable<Doc>): Promise<FixtureCollection> {
      const drop = path.join(dir.dir, spec.name);
      mkdirSync(drop, { recursive: true });
      const ext = kind === 'csv' ? 'csv' : 'dat';
      const upper = kind === 'fixed';
      const toFile = (d: Doc): Doc => (upper ? Object.fromEntries(Object.entries(d).map(([k, v]) => [k.toUpperCase(), v])) : d);
      const fromFile = (d: Doc): Doc => (upper ? Object.fromEntries(Object.entries(d).map(([k, v]) => [k.toLowerCase(), v])) : d);
      let options: Record<string, unknown>;
      let enc: FileEncoder;
      if (kind === 'csv') {
        options = { format: 'csv', pattern: `${spec.name}.*.csv` };
        const csv = createCsvEncoder({ delimiter: ',', quote: '"', header: true, encoding: 'utf8', neutraliseFormulas: false }, spec.fields.map((f) => f.name));
        enc = { header: () => csv.header(), record: (d) => csv.rows([d]) };
      } else {
        const copybook = path.join(drop, `${spec.name}.cpy`);
        const pic = (f: CollectionSpec['fields'][number]) => (f.type === 'int' ? 'PIC S9(5) COMP-3' : f.name === 'label' ? 'PIC X(140)' : 'PIC X(8)');
        writeFileSync(copybook, `       01 REC.\n${spec.fields.map((f) => `          05 ${f.name.toUpperCase()} ${pic(f)}.\n`).join('')}`);
        options = { format: 'fixed', pattern: `${spec.name}.*.dat`, copybook, codePage: 'cp037', recordFormat: 'F' };
        enc = await createFixedEncoder({ copybook, codePage: 'cp037', recordFormat: 'F' });
      }
      // the current rows, for insert/remove (small collections only: the memory test never edits)
      let current: Map<string, Doc> | null = new Map();
      const keyOf = (d: Doc) => spec.keyFields.map((k) => String(d[k])).join('\u0001');
      let seq = 1;
      const snapshot = async (list: Iterable<Doc>) => {
        const name = path.join(drop, `${spec.name}.${String(seq++).padStart(6, '0')}.${ext}`);
        await writeFile(`${name}.tmp`, enc, list);
        renameSync(`${name}.tmp`, name);
      };
      const tracked = function* (list: Iterable<Doc>) {
        for (const d of list) {
          if (current) {
            current.set(keyOf(d), d);
            if (current.size > 10_000) current = null;
          }
          yield toFile(d);
        }
      };
      await snapshot(tracked(rows));
      return {
        async insert(list) {
          if (!current) throw new Error('this fixture edits small collections only');
          for (const d of list) current.set(keyOf(d), d);
          await snapshot([...current.values()].map(toFile));
        },
        async remove(keys) {
          if (!current) throw new Error('this fixture edits small collections only');
          for (const k of keys) current.delete(keyOf(k));
          await snapshot([...current.values()].map(toFile));
        },
        async openReader() {
          const r = await openFileReader(drop, spec.name, spec.keyFields.map((k) => (upper ? k.toUpperCase() : k)), options);
          if (!upper) return r;
          return {
            order: r.order, orderNote: r.orderNote,
            async *scan(o) { for await (const p of r.scan(o)) yield { ...p, rows: p.rows.map((x) => ({ key: x.key, doc: fromFile(x.doc) })) }; },
            async getByKeys(keys, signal) { return new Map([...(await r.getByKeys(keys, signal))].map(([k, d]) => [k, fromFile(d)])); },
            close: () => r.close(),
          } satisfies Reader;
        },
        async drop() { rmSync(drop, { recursive: true, force: true }); },
      };
    },
  });
}

readerConformance('file (CSV)', fileSetup('csv'));
readerConformance('file (copybook records, EBCDIC)', fileSetup('fixed'), { largeRows: Number(process.env.HMS_READER_LARGE_ROWS ?? 100_000) });

/** Renames the fields of a reader's docs (keys are unchanged: they are built from values only). */
function renamed(r: Reader, rename: (d: Doc) => Doc): Reader {
  return {
    order: r.order, orderNote: r.orderNote,
    async *scan(o) { for await (const p of r.scan(o)) yield { ...p, rows: p.rows.map((x) => ({ key: x.key, doc: rename(x.doc) })) }; },
    async getByKeys(keys, signal) { return new Map([...(await r.getByKeys(keys, signal))].map(([k, d]) => [k, rename(d)])); },
    close: () => r.close(),
  };
}

/**
 * SOAP: one county permit system (the PHP SoapServer peer) per collection. The suite's fields
 * live in the WSDL's Permit fields: simple rows as PermitNumber (id), Address (label), ParcelId
 * (qty); compound rows as Status (region), ParcelId (seq), Address (label), with PermitNumber
 * `<region>-<seq>` (the service's own key, which GetPermit takes). Rows are loaded into the
 * peer's storage file (permits.json, the file the PHP service reads on every call); the reader
 * reads them through GetPermits (PageSize 40: service pages and reader pages differ) and
 * GetPermit.
 */
function soapSetup(opts: { getByKey: boolean }) {
  return () => ({
    async createCollection(spec: CollectionSpec, rows: Iterable<Doc>): Promise<FixtureCollection> {
      const php = await startPhpSoapServer();
      const compound = spec.keyFields.length > 1;
      const toPermit = (d: Doc): StoredPermit => (compound
        ? { PermitNumber: `${String(d.region)}-${String(d.seq)}`, Status: String(d.region), ParcelId: String(d.seq), Address: String(d.label), Seq: '' }
        : { PermitNumber: String(d.id), Address: String(d.label), ParcelId: String(d.qty), Seq: '' });
      const fromPermit = (p: Doc): Doc => {
        const { PermitNumber, Status, Address, ParcelId, ...rest } = p;
        return compound ? { ...rest, PermitNumber, region: Status, seq: ParcelId, label: Address } : { ...rest, id: PermitNumber, label: Address, qty: ParcelId };
      };
      const file = path.join(php.dataDir, 'permits.json');
      const save = (db: PermitStore) => {
        writeFileSync(`${file}.tmp`, JSON.stringify(db));
        renameSync(`${file}.tmp`, file);
      };
      const db: PermitStore = { seq: 0, permits: [], calls: [] };
      for (const d of rows) db.permits.push({ ...toPermit(d), Seq: String(++db.seq) });
      save(db);
      const keyFields = compound ? ['Status', 'ParcelId'] : ['PermitNumber'];
      const pageSize = db.permits.length > 10_000 ? '1000' : '40';
      const options = soapSourceSchema.parse({
        operation: 'GetPermits', input: { Page: '{{page}}', PageSize: pageSize }, rowsPath: 'Permits.Permit', nextPagePath: 'NextPage',
        ...(opts.getByKey ? { getByKey: { operation: 'GetPermit', input: { PermitNumber: compound ? '{{keys.Status}}-{{keys.ParcelId}}' : '{{key}}' }, rowPath: 'Permit' } } : {}),
      });
      return {
        async insert(list) {
          const cur = php.readStore();
          for (const d of list) cur.permits.push({ ...toPermit(d), Seq: String(++cur.seq) });
          save(cur);
        },
        async remove(keys) {
          const cur = php.readStore();
          const gone = new Set(keys.map((k) => toPermit({ label: '', qty: 0, ...k }).PermitNumber));
          cur.permits = cur.permits.filter((p) => !gone.has(p.PermitNumber));
          save(cur);
        },
        async openReader() {
          const r = await soapConnector.createReader!({ system: 'county', systemConfig: soapSystemSchema.parse({ wsdl: `${php.baseUrl}/permits?wsdl` }), collection: 'permits', options, keyFields, logger: silentLogger() });
          return renamed(r, fromPermit);
        },
        drop: () => php.close(),
      };
    },
  });
}

const soapLarge = Number(process.env.HMS_READER_LARGE_ROWS ?? 50_000);
readerConformance('soap (GetPermits + GetPermit)', soapSetup({ getByKey: true }), { largeRows: soapLarge });
readerConformance('soap (GetPermits only: getByKeys scans)', soapSetup({ getByKey: false }), { largeRows: 2_000 });

/**
 * HTTP: a real local HTTP server holding the collections in memory, with a REST list
 * (`GET /c/<name>?cursor=<offset>` -> `{ items, next_cursor }`, in insertion order, 30 items a
 * page or 1,000 for large collections; items with `deleted: true` are tombstones) and one record
 * by key (`GET /c/<name>/items/<key field values...>` -> `{ data }` or 404).
 */
const collections = new Map<string, { keyFields: string[]; rows: Doc[] }>();
const server = http.createServer((req, res) => {
  const u = new URL(req.url ?? '/', 'http://x');
  const parts = u.pathname.split('/').slice(1).map(decodeURIComponent);
  const c = parts[0] === 'c' ? collections.get(parts[1] ?? '') : undefined;
  const send = (status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)); };
  if (!c) return send(404, { error: 'no such collection' });
  if (parts.length === 2) {
    const size = c.rows.length > 10_000 ? 1000 : 30;
    const off = Number(u.searchParams.get('cursor') ?? 0);
    return send(200, { items: c.rows.slice(off, off + size), next_cursor: off + size < c.rows.length ? String(off + size) : null });
  }
  if (parts[2] === 'items') {
    const want = parts.slice(3);
    const row = c.rows.find((r) => c.keyFields.every((f, i) => String(r[f]) === want[i]));
    return row ? send(200, { data: row }) : send(404, { error: 'not found' });
  }
  send(404, { error: 'no such path' });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

function openHttpReader(name: string, keyFields: string[], options: Record<string, unknown>): Promise<Reader> {
  return Promise.resolve(httpConnector.createReader!({ system: 'platform', systemConfig: { url: httpBase }, collection: name, options: restPollSourceSchema.parse(options), keyFields, logger: silentLogger() }));
}

function httpSetup(opts: { get: boolean }) {
  return () => ({
    async createCollection(spec: CollectionSpec, rows: Iterable<Doc>): Promise<FixtureCollection> {
      const c = { keyFields: spec.keyFields, rows: [...rows] };
      collections.set(spec.name, c);
      const keyOf = (d: Doc) => spec.keyFields.map((f) => String(d[f])).join('\u0001');
      const options = {
        path: `/c/${spec.name}`, cursorParam: 'cursor', nextField: 'next_cursor', itemsField: 'items', opField: 'deleted',
        ...(opts.get ? { get: { path: `/c/${spec.name}/items/${spec.keyFields.map((f) => `{${f}}`).join('/')}`, itemField: 'data' } } : {}),
      };
      return {
        async insert(list) { c.rows.push(...list); },
        async remove(keys) {
          const gone = new Set(keys.map(keyOf));
          c.rows = c.rows.filter((r) => !gone.has(keyOf(r)));
        },
        openReader: () => openHttpReader(spec.name, spec.keyFields, options),
        async drop() { collections.delete(spec.name); },
      };
    },
  });
}

readerConformance('http (REST list + get by key)', httpSetup({ get: true }));
readerConformance('http (REST list only: getByKeys scans)', httpSetup({ get: false }), { largeRows: 2_000 });

describe('http reader rules', () => {
  test('tombstones are left out; a get answered 404 is a missing key; get.path must name the key', async () => {
    collections.set('rules', { keyFields: ['id'], rows: [{ id: 'a', v: 1 }, { id: 'b', v: 2, deleted: true }, { id: 'c', v: 3 }] });
    const options = { path: '/c/rules', cursorParam: 'cursor', nextField: 'next_cursor', itemsField: 'items', opField: 'deleted', get: { path: '/c/rules/items/{key}', itemField: 'data' } };
    const r = await openHttpReader('rules', ['id'], options);
    try {
      const rows: Doc[] = [];
      for await (const p of r.scan({ limit: 10 })) rows.push(...p.rows.map((x) => x.doc));
      assert.deepEqual(rows.map((d) => d.id), ['a', 'c']);
      const got = await r.getByKeys(['a', 'b', 'zz', canonicalKey({ id: 'c' }, ['id'])]);
      assert.deepEqual([...got.keys()].sort(), ['a', 'c'], 'b is a tombstone, zz answers 404');
    } finally {
      await r.close();
      collections.delete('rules');
    }
    assert.throws(() => restPollSourceSchema.parse({ ...options, get: { path: '/c/rules/items' } }), /get\.path must name the key/);
    await assert.rejects(async () => openHttpReader('rules', ['id'], { ...options, get: { path: '/c/rules/items/{ID}' } }), /names \{ID\}, which is not the key; use \{key\} or a key field \(\{id\}\)/);
    await assert.rejects(Promise.resolve().then(() => httpConnector.createReader!({ system: 'platform', systemConfig: { url: httpBase }, collection: 'x', options: { listen: { port: 0 }, path: '/hook' } as never, keyFields: ['id'], logger: silentLogger() })), /a webhook source only receives records/);
  });
});

describe('file reader rules', () => {
  const drop = path.join(dir.dir, 'rules');
  const csv = (rows: string[]) => `PERMIT_NO,STATUS\n${rows.join('\n')}\n`;
  const open = (options: Record<string, unknown> = {}) => openFileReader(drop, 'PERMITS.*.csv', ['PERMIT_NO'], { format: 'csv', ...options });
  const scanAll = async (r: Reader, after?: string | null) => {
    const out: Doc[] = [];
    for await (const p of r.scan({ limit: 2, after })) out.push(...p.rows.map((x) => x.doc));
    return out;
  };

  test('reads the newest snapshot by name; processed/ when the drop directory has none; a cursor follows its file into processed/', async () => {
    mkdirSync(path.join(drop, 'processed'), { recursive: true });
    writeFileSync(path.join(drop, 'processed', 'PERMITS.001.csv'), csv(['P1,A']));
    const r = await open();
    try {
      assert.deepEqual(await scanAll(r), [{ PERMIT_NO: 'P1', STATUS: 'A' }]);
      writeFileSync(path.join(drop, 'PERMITS.002.csv'), csv(['P1,C', 'P2,A', 'P3,A']));
      writeFileSync(path.join(drop, 'PERMITS.003.csv.tmp'), csv(['P9,X']));
      let cursor: string | null = null;
      for await (const p of r.scan({ limit: 2 })) { cursor = p.cursor; break; }
      assert.ok(cursor);
      // the source applies the file and moves it; a newer snapshot arrives; the scan stays in its file
      renameSync(path.join(drop, 'PERMITS.002.csv'), path.join(drop, 'processed', 'PERMITS.002.csv'));
      writeFileSync(path.join(drop, 'PERMITS.004.csv'), csv(['P4,A']));
      assert.deepEqual(await scanAll(r, cursor), [{ PERMIT_NO: 'P3', STATUS: 'A' }]);
      assert.deepEqual(await scanAll(r), [{ PERMIT_NO: 'P4', STATUS: 'A' }]);
      assert.deepEqual([...(await r.getByKeys(['P4', 'P1'])).keys()], ['P4']);
      rmSync(path.join(drop, 'processed', 'PERMITS.002.csv'));
      await assert.rejects(scanAll(r, cursor), /no longer in .*start the scan again without after/);
      await assert.rejects(scanAll(r, 'nonsense'), /not a cursor of the file reader/);
      await assert.rejects(async () => { for await (const _ of r.scan({ limit: 1, range: { from: 'P1' } })) void _; }, /cannot scan a key range/);
    } finally {
      await r.close();
    }
  });

  test('with a trigger suffix, only files whose trigger file exists count', async () => {
    writeFileSync(path.join(drop, 'PERMITS.005.csv'), csv(['P5,A']));
    const r = await open({ trigger: '.done' });
    try {
      assert.deepEqual(await scanAll(r), [], 'no file has its trigger yet: processed/ has none either that counts');
      writeFileSync(path.join(drop, 'PERMITS.005.csv.done'), '');
      assert.deepEqual(await scanAll(r), [{ PERMIT_NO: 'P5', STATUS: 'A' }]);
    } finally {
      await r.close();
    }
  });

  test('a bad record fails the scan with onError: fail and is skipped otherwise', async () => {
    writeFileSync(path.join(drop, 'PERMITS.006.csv'), csv(['P6,A', ',B', 'P7,A']));
    const strict = await open();
    const lenient = await open({ onError: 'skip' });
    try {
      await assert.rejects(scanAll(strict), (e: Error & { code?: string }) => e.code === 'HMS_ERR_FORMAT' && /PERMITS\.006\.csv: record 2/.test(e.message));
      assert.deepEqual((await scanAll(lenient)).map((d) => d.PERMIT_NO), ['P6', 'P7']);
    } finally {
      await strict.close();
      await lenient.close();
    }
  });

  test('a changes-mode collection cannot be read', async () => {
    await assert.rejects(openFileReader(drop, 'PERMITS.*.csv', ['PERMIT_NO'], { format: 'csv', mode: 'changes' }), /reads snapshot files \(mode: snapshot\)/);
  });
});
