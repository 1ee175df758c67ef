/**
 * The soap source against the real PHP county permit system: paging, since-position,
 * per-row fingerprints in the store's shadow, insert/update/delete events (deletes on full
 * scans only), exact xsd:long / xsd:decimal, get-by-key, and the building block of echo
 * suppression: what the sink wrote comes back equal to what it wrote.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { RetryableError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import type { ChangeEvent, Delta } from '../../src/core/types.js';
import type { Sink, SourceState } from '../../src/connectors/contract.js';
import { soapSinkSchema, soapSourceSchema, soapSystemSchema } from '../../src/connectors/soap/soap-options.js';
import { createSoapSink } from '../../src/connectors/soap/soap-sink.js';
import { createSoapSource, type SoapSource } from '../../src/connectors/soap/soap-source.js';
import { filterEcho } from '../../src/engine/echo.js';
import { deltaForEvent } from '../../src/engine/capture.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { needCommand, tempDir } from '../helpers/services.js';
import { startPhpSoapServer, type PhpSoapServer } from '../helpers/php-soap-server.js';

const skip = await needCommand('php', 'apt-get install -y php-cli php-soap');

let php: PhpSoapServer;
let store: Store;
let sink: Sink;
let tmp: { dir: string; cleanup: () => void };
const SOURCE_ID = 'pipeline:county-permits-to-hms';

function state(): SourceState {
  return {
    scope: SOURCE_ID,
    getPosition: () => store.getPosition(SOURCE_ID),
    getShadow: (keys) => store.getShadow(SOURCE_ID, keys),
    listShadow: () => store.listShadow(SOURCE_ID),
  };
}

const INCREMENTAL = {
  poll: '30ms', operation: 'GetPermits', input: { Since: '{{position}}', Page: '{{page}}', PageSize: '2' },
  rowsPath: 'Permits.Permit', nextPagePath: 'NextPage', positionField: 'Seq',
  getByKey: { operation: 'GetPermit', input: { PermitNumber: '{{key}}' }, rowPath: 'Permit' },
};
const FULL_SCAN = { poll: '30ms', operation: 'GetPermits', input: { Page: '{{page}}', PageSize: '2' }, rowsPath: 'Permits.Permit', nextPagePath: 'NextPage' };

async function source(options: Record<string, unknown>): Promise<SoapSource> {
  return createSoapSource({
    system: 'county', systemConfig: soapSystemSchema.parse({ wsdl: `${php.baseUrl}/permits?wsdl` }), collection: 'permits',
    options: soapSourceSchema.parse(options), keyFields: ['PermitNumber'], state: state(), logger: silentLogger(), workDir: tmp.dir,
  });
}

/**
 * Run a source like the engine does (commit shadow + position per batch, then continue) until
 * `done(events)` holds; returns every event seen.
 */
async function run(src: SoapSource, done: (events: ChangeEvent[]) => boolean): Promise<{ events: ChangeEvent[]; batches: number }> {
  const ac = new AbortController();
  const events: ChangeEvent[] = [];
  let batches = 0;
  const timer = setTimeout(() => ac.abort(), 10_000);
  try {
    for await (const batch of src.stream(ac.signal)) {
      await store.commit({ jobs: [], shadow: batch.shadow, position: batch.position !== undefined ? { source: SOURCE_ID, position: batch.position } : undefined });
      events.push(...batch.events);
      batches++;
      if (done(events)) break;
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  assert.ok(done(events), `the source stopped before the expected events arrived; saw ${JSON.stringify(events.map((e) => [e.op, e.key]))}`);
  return { events, batches };
}

let jobSeq = 0;
async function write(op: Delta['op'], key: string, changed: Record<string, unknown>): Promise<Delta> {
  const delta: Delta = { op, key, changed, state: op === 'delete' ? null : { PermitNumber: key, ...changed }, base: null, fingerprint: '', sourceTs: Date.now() };
  jobSeq++;
  const [r] = await sink.write([{ jobId: `j${jobSeq}`, version: 1, idempotencyKey: `k${jobSeq}`, pipeline: 'hms-to-county', collection: 'permits', keyFields: ['PermitNumber'], delta }], new AbortController().signal);
  assert.deepEqual(r, { ok: true });
  return delta;
}

describe('soap source polling the PHP county permit system', { skip }, () => {
  before(async () => {
    tmp = tempDir('hms-soap-source-');
    php = await startPhpSoapServer();
    store = await openStore(`sqlite:${path.join(tmp.dir, 'state.db')}`);
    sink = await createSoapSink({
      system: 'county', systemConfig: soapSystemSchema.parse({ wsdl: `${php.baseUrl}/permits?wsdl` }), collection: 'permits',
      options: soapSinkSchema.parse({ operations: {
        insert: { operation: 'InsertPermit', wrap: 'Permit' },
        update: { operation: 'UpdatePermit' },
        delete: { operation: 'DeletePermit' },
      } }),
      keyFields: ['PermitNumber'], logger: silentLogger(), workDir: tmp.dir,
    });
  });
  after(async () => {
    await sink?.close();
    await store?.close();
    await php?.close();
    tmp?.cleanup();
  });

  test('first poll: every record is an insert, across pages; values stay exact strings', async () => {
    for (const n of ['001', '002', '003', '004']) await write('insert', n, { Status: 'PENDING', Address: `${n} Elm St` });
    await write('insert', '007', { Status: 'PENDING', ParcelId: '9007199254740993', Valuation: '12345678901234567890.123456789' });
    const src = await source(INCREMENTAL);
    try {
      const { events, batches } = await run(src, (evs) => evs.length >= 5);
      assert.deepEqual(events.map((e) => [e.op, e.key]), [['insert', '001'], ['insert', '002'], ['insert', '003'], ['insert', '004'], ['insert', '007']]);
      assert.ok(batches >= 3, `pages of 2 records were followed (${batches} batches)`);
      const p007 = events.find((e) => e.key === '007')!.after!;
      assert.equal(p007.PermitNumber, '007');
      assert.equal(p007.ParcelId, '9007199254740993');
      assert.equal(p007.Valuation, '12345678901234567890.123456789');
      assert.equal(await store.getPosition(SOURCE_ID), '5');
      assert.equal((await store.getShadow(SOURCE_ID, ['007'])).get('007')?.doc?.ParcelId, '9007199254740993');
      assert.deepEqual(await src.getByKey!('007'), p007);
      assert.equal(await src.getByKey!('999'), null);
    } finally {
      await src.close();
    }
  });

  test('later polls: only what changed since the position, updates carry the before state; deletes wait for a full scan', async () => {
    const src = await source(INCREMENTAL);
    try {
      await write('update', '002', { Status: 'APPROVED' });
      await write('insert', '008', { Status: 'PENDING' });
      const first = await run(src, (evs) => evs.length >= 2);
      assert.deepEqual(first.events.map((e) => [e.op, e.key]), [['update', '002'], ['insert', '008']]);
      assert.equal(first.events[0]!.before?.Status, 'PENDING');
      assert.equal(first.events[0]!.after?.Status, 'APPROVED');

      await write('delete', '003', {});
      await write('update', '004', { Status: 'REVOKED' });
      const second = await run(src, (evs) => evs.some((e) => e.key === '004'));
      assert.deepEqual(second.events.map((e) => [e.op, e.key]), [['update', '004']], 'an incremental poll cannot see deletes');
    } finally {
      await src.close();
    }
    const full = await source(FULL_SCAN);
    try {
      const { events } = await run(full, (evs) => evs.length >= 1);
      assert.deepEqual(events.map((e) => [e.op, e.key]), [['delete', '003']], 'the full scan finds the delete and nothing else');
      assert.equal(events[0]!.before?.Address, '003 Elm St');
      assert.equal((await store.getShadow(SOURCE_ID, ['003'])).size, 0);
    } finally {
      await full.close();
    }
  });

  test('a full scan whose response lacks the list element (a rowsPath typo) is an error, not "everything deleted"', async () => {
    const typo = await source({ ...FULL_SCAN, rowsPath: 'Permitz.Permit' });
    const ac = new AbortController();
    try {
      await assert.rejects(async () => {
        for await (const batch of typo.stream(ac.signal)) assert.equal(batch.events.filter((e) => e.op === 'delete').length, 0, 'no deletes');
      }, /answered without the element Permitz .*check rowsPath/);
    } finally {
      ac.abort();
      await typo.close();
    }
    assert.ok((await store.getShadow(SOURCE_ID, ['001'])).size === 1, 'the known records are still known');
  });

  test('a service that is down at start: the source is created and its first poll fails retryably (the engine restarts it)', async () => {
    const src = await createSoapSource({
      system: 'county', systemConfig: soapSystemSchema.parse({ wsdl: 'http://127.0.0.1:9/permits?wsdl', timeout: '2s' }), collection: 'permits',
      options: soapSourceSchema.parse(INCREMENTAL), keyFields: ['PermitNumber'], state: state(), logger: silentLogger(), workDir: tmp.dir,
    });
    try {
      const it = src.stream(new AbortController().signal)[Symbol.asyncIterator]();
      await assert.rejects(it.next(), (e: unknown) => e instanceof RetryableError && /cannot reach WSDL .* of system "county"/.test(e.message));
    } finally {
      await src.close();
    }
  });

  test('round trip building block: what the sink wrote comes back through the poll and is recognised as our own write', async () => {
    const src = await source(INCREMENTAL);
    try {
      const written = await write('update', '001', { Status: 'APPROVED', Address: '1 Elm St & Co <rear>' });
      const { events } = await run(src, (evs) => evs.some((e) => e.key === '001'));
      const ev = events.find((e) => e.key === '001')!;
      assert.equal(ev.op, 'update');
      assert.equal(ev.after?.Address, '1 Elm St & Co <rear>');
      // The engine records what it wrote as an echo intent and drops an incoming change that only repeats it;
      // a field showing another value than the one written flows on.
      const intent = (fields: Record<string, unknown>) => ({ id: '1', reader: 'r', key: '001', writer: 'w', fields, state: written.state, at: Date.now(), landedAt: null });
      // what we wrote is taken out; the service's own sequence column changed with our write and is not ours
      assert.deepEqual(Object.keys(filterEcho(ev, deltaForEvent(ev), [intent(written.state!)]).delta?.changed ?? {}), ['Seq']);
      const other = filterEcho(ev, deltaForEvent(ev), [intent({ ...written.state, Address: '2 Oak St' })]).delta;
      assert.equal(other?.changed.Address, '1 Elm St & Co <rear>', 'the address differs from what we wrote: it flows');
    } finally {
      await src.close();
    }
  });
});
