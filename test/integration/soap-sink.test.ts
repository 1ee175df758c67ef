/**
 * The soap sink against a real PHP SoapServer (test/peers/php-soap): WSDL mode over SOAP 1.1
 * and 1.2, exact numbers, fault classification, timeouts, XML safety, template mode escaping,
 * WS-Security and basic auth.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError, PermanentError, RetryableError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import type { Delta } from '../../src/core/types.js';
import type { Sink, SinkItem, SinkResult } from '../../src/connectors/contract.js';
import { soapSinkSchema, soapSystemSchema } from '../../src/connectors/soap/soap-options.js';
import { createSoapSink } from '../../src/connectors/soap/soap-sink.js';
import { needCommand } from '../helpers/services.js';
import { startPhpSoapServer, type PhpSoapServer } from '../helpers/php-soap-server.js';

const skip = await needCommand('php', 'apt-get install -y php-cli php-soap');

let php: PhpSoapServer;
const sinks: Sink[] = [];

async function sink(system: Record<string, unknown>, options: Record<string, unknown>): Promise<Sink> {
  const s = await createSoapSink({
    system: 'county',
    systemConfig: soapSystemSchema.parse(system),
    collection: 'permits',
    options: soapSinkSchema.parse(options),
    keyFields: ['PermitNumber'],
    logger: silentLogger(),
    workDir: php.dataDir,
  });
  sinks.push(s);
  return s;
}

let jobSeq = 0;
function item(op: Delta['op'], key: string, changed: Record<string, unknown>, state: Record<string, unknown> | null = null): SinkItem {
  jobSeq++;
  return {
    jobId: `job-${jobSeq}`, version: 1, idempotencyKey: `p:job-${jobSeq}:1`, pipeline: 'permits-to-county', collection: 'permits', keyFields: ['PermitNumber'],
    delta: { op, key, changed, state: op === 'delete' ? null : (state ?? { PermitNumber: key, ...changed }), base: null, fingerprint: 'fp', sourceTs: Date.now() },
  };
}

async function writeOne(s: Sink, it: SinkItem): Promise<SinkResult> {
  const [r] = await s.write([it], new AbortController().signal);
  return r!;
}

function failure(r: SinkResult): Error {
  assert.equal(r.ok, false, 'expected the call to fail');
  return (r as { error: Error }).error;
}

const WSDL_OPS = {
  insert: { operation: 'InsertPermit', wrap: 'Permit' },
  update: { operation: 'UpdatePermit', input: { PermitNumber: '{{key}}', Status: '{{changed.Status}}', Address: '{{changed.Address}}', Valuation: '{{changed.Valuation}}', ParcelId: '{{changed.ParcelId}}' } },
  delete: { operation: 'DeletePermit' },
};

describe('soap sink against the PHP county permit system', { skip }, () => {
  before(async () => { php = await startPhpSoapServer({ slowSeconds: 5 }); });
  after(async () => {
    for (const s of sinks) await s.close();
    await php?.close();
  });

  test('WSDL mode, SOAP 1.1: insert, update (only changed fields), delete change the PHP system state', async () => {
    const s = await sink({ wsdl: `${php.baseUrl}/permits?wsdl` }, { operations: WSDL_OPS });
    const results = await s.write([
      item('insert', '007', { PermitNumber: '007', Status: 'PENDING', Address: '1 Main St' }),
      item('update', '007', { Status: 'APPROVED' }),
      item('insert', '123', { PermitNumber: '123', Status: 'PENDING' }),
    ], new AbortController().signal);
    assert.deepEqual(results, [{ ok: true }, { ok: true }, { ok: true }]);
    let store = php.readStore();
    const p007 = store.permits.find((p) => p.PermitNumber === '007');
    assert.equal(p007?.Status, 'APPROVED');
    assert.equal(p007?.Address, '1 Main St', 'an update sends only the changed fields');
    assert.deepEqual(await s.write([item('delete', '123', {})], new AbortController().signal), [{ ok: true }]);
    store = php.readStore();
    assert.deepEqual(store.permits.map((p) => p.PermitNumber), ['007']);
    assert.deepEqual(store.calls.map((c) => c.op), ['InsertPermit', 'UpdatePermit', 'InsertPermit', 'DeletePermit']);
  });

  test('WSDL mode: attributes and repeated elements in the input (the seed\'s PermitUpdate through the WSDL)', async () => {
    const s = await sink({ wsdl: `${php.baseUrl}/permits?wsdl` }, { operations: { upsert: { operation: 'PermitUpdate', input: {
      PermitNumber: '{{key}}',
      Field: [{ attributes: { name: 'Status' }, $value: '{{changed.Status}}' }, { attributes: { name: 'Address' }, $value: '{{changed.Address}}' }],
    } } } });
    assert.deepEqual(await writeOne(s, item('update', 'ATTR-1', { Status: 'APPROVED', Address: '5 "Quoted" & <Co>' })), { ok: true });
    const call = php.readStore().calls.find((c) => c.PermitNumber === 'ATTR-1');
    assert.deepEqual(call?.fields, { Status: 'APPROVED', Address: '5 "Quoted" & <Co>' });
  });

  test('WSDL mode, SOAP 1.2 endpoint', async () => {
    const s = await sink({ wsdl: `${php.baseUrl}/permits12?wsdl`, soapVersion: '1.2' }, { operations: WSDL_OPS });
    assert.deepEqual(await writeOne(s, item('insert', 'S12', { PermitNumber: 'S12', Status: 'NEW' })), { ok: true });
    assert.equal(php.readStore().permits.find((p) => p.PermitNumber === 'S12')?.Status, 'NEW');
    // A 1.2 fault (Code/Value = Sender) proves the exchange really was SOAP 1.2.
    const f = await sink({ wsdl: `${php.baseUrl}/faults12?wsdl`, soapVersion: '1.2' }, { operations: WSDL_OPS });
    const err = failure(await writeOne(f, item('update', 'CLIENT-9', { Status: 'X' })));
    assert.ok(err instanceof PermanentError, String(err));
    assert.match(err.message, /Sender/);
  });

  test('xsd:long and xsd:decimal arrive exactly', async () => {
    const s = await sink({ wsdl: `${php.baseUrl}/permits?wsdl` }, { operations: WSDL_OPS });
    const r = await writeOne(s, item('insert', 'BIG-1', { PermitNumber: 'BIG-1', ParcelId: '9007199254740993', Valuation: '12345678901234567890.123456789' }));
    assert.deepEqual(r, { ok: true });
    const p = php.readStore().permits.find((x) => x.PermitNumber === 'BIG-1');
    assert.equal(p?.ParcelId, '9007199254740993');
    assert.equal(p?.Valuation, '12345678901234567890.123456789');
  });

  test('faults: Client is permanent, Server retryable, rules override; the fault text is in the error', async () => {
    const s = await sink({ wsdl: `${php.baseUrl}/faults?wsdl` }, { operations: WSDL_OPS });
    const client = failure(await writeOne(s, item('update', 'CLIENT-1', { Status: 'X' })));
    assert.ok(client instanceof PermanentError, String(client));
    assert.match(client.message, /Client: permit number CLIENT-1 is not valid for this county/);
    const server = failure(await writeOne(s, item('update', 'SERVER-1', { Status: 'X' })));
    assert.ok(server instanceof RetryableError, String(server));
    assert.match(server.message, /Server: COBOL region CICS-3 unavailable <try later> & retry/);
    const lockedDefault = failure(await writeOne(s, item('update', 'LOCKED-1', { Status: 'X' })));
    assert.ok(lockedDefault instanceof PermanentError, 'a Client fault is permanent without a rule');

    const ruled = await sink({ wsdl: `${php.baseUrl}/faults?wsdl`, faults: [{ match: { faultcode: 'Server' }, retry: false }] }, {
      operations: WSDL_OPS,
      faults: [{ match: { faultstring: 'LOCKED' }, retry: true, retryAfter: '2m' }],
    });
    const locked = failure(await writeOne(ruled, item('update', 'LOCKED-1', { Status: 'X' })));
    assert.ok(locked instanceof RetryableError, String(locked));
    assert.equal(locked.retryAfterMs, 120_000);
    assert.match(locked.message, /RECORD LOCKED by batch job NIGHTLY-07/);
    const serverPermanent = failure(await writeOne(ruled, item('update', 'SERVER-2', { Status: 'X' })));
    assert.ok(serverPermanent instanceof PermanentError, 'system-level rule turns Server faults permanent');
  });

  test('a hanging endpoint times out (retryable); a closed port is retryable', async () => {
    const s = await sink({ wsdl: `${php.baseUrl}/permits?wsdl`, url: `${php.baseUrl}/slow`, timeout: '300ms' }, { operations: WSDL_OPS });
    const err = failure(await writeOne(s, item('update', '007', { Status: 'SLOW' })));
    assert.ok(err instanceof RetryableError, String(err));
    assert.match(err.message, /within 300 ms \(timeout\)/);
    // /slow answers successfully after 5 s, so the timeout error itself proves the deadline cut
    // the call; no wall-clock bound (on a loaded machine a tight one fails spuriously).

    const dead = await sink({ wsdl: `${php.baseUrl}/permits?wsdl`, url: 'http://127.0.0.1:9/permits' }, { operations: WSDL_OPS });
    const refused = failure(await writeOne(dead, item('update', '007', { Status: 'X' })));
    assert.ok(refused instanceof RetryableError, String(refused));
    assert.match(refused.message, /cannot reach/);
  });

  test('a service that is down at start: the sink starts, items fail retryably, and it recovers when the service is back', async () => {
    const down = await startPhpSoapServer();
    const port = Number(new URL(down.baseUrl).port);
    await down.close();
    const s = await sink({ wsdl: `${down.baseUrl}/permits?wsdl` }, { operations: WSDL_OPS });
    const err = failure(await writeOne(s, item('insert', 'LATE-1', { PermitNumber: 'LATE-1', Status: 'NEW' })));
    assert.ok(err instanceof RetryableError, String(err));
    assert.match(err.message, /cannot reach WSDL http:\/\/127\.0\.0\.1:\d+\/permits\?wsdl of system "county": .*ECONNREFUSED/);
    const back = await startPhpSoapServer({ port });
    try {
      assert.deepEqual(await writeOne(s, item('insert', 'LATE-1', { PermitNumber: 'LATE-1', Status: 'NEW' })), { ok: true });
      assert.equal(back.readStore().permits[0]?.PermitNumber, 'LATE-1');
    } finally {
      await back.close();
    }
  });

  test('XML safety: DOCTYPE refused, size limit, malformed and HTML error pages classified, never a crash', async () => {
    const at = (kind: string, extra: Record<string, unknown> = {}) => sink({ wsdl: `${php.baseUrl}/permits?wsdl`, url: `${php.baseUrl}/misbehave?kind=${kind}`, ...extra }, { operations: WSDL_OPS });
    const doctype = failure(await writeOne(await at('doctype'), item('update', '007', { Status: 'X' })));
    assert.ok(doctype instanceof FormatError, String(doctype));
    assert.match(doctype.message, /<!DOCTYPE.*refused/);
    const entity = failure(await writeOne(await at('entity'), item('update', '007', { Status: 'X' })));
    assert.ok(entity instanceof RetryableError, String(entity));
    assert.match(entity.message, /undeclared entity reference "&xxe;"/);
    const huge = failure(await writeOne(await at('huge', { maxResponseBytes: 1024 * 1024 }), item('update', '007', { Status: 'X' })));
    assert.ok(huge instanceof FormatError, String(huge));
    assert.match(huge.message, /too large.*maxResponseBytes = 1048576/);
    const malformed = failure(await writeOne(await at('malformed'), item('update', '007', { Status: 'X' })));
    assert.ok(malformed instanceof RetryableError, String(malformed));
    assert.match(malformed.message, /malformed XML response.*line 1/);
    const html = failure(await writeOne(await at('html500'), item('update', '007', { Status: 'X' })));
    assert.ok(html instanceof RetryableError, String(html));
    assert.match(html.message, /HTTP 502/);
    const empty = failure(await writeOne(await at('empty'), item('update', '007', { Status: 'X' })));
    assert.ok(empty instanceof RetryableError, String(empty));
  });

  test('template mode: the seed\'s PermitUpdate, every value escaped; control characters are permanent', async () => {
    const template = '<PermitUpdate xmlns="urn:county:permits"><PermitNumber>{{key}}</PermitNumber>{{#each changed}}<Field name="{{@name}}">{{@value}}</Field>{{/each}}</PermitUpdate>';
    for (const [version, path] of [['1.1', '/permits'], ['1.2', '/permits12']] as const) {
      const s = await sink({ url: `${php.baseUrl}${path}`, soapVersion: version }, { operations: { upsert: { template, soapAction: 'urn:county:permits#PermitUpdate' } } });
      const nasty = `a < b & c > d "double" 'single' ]]> ${version}`;
      assert.deepEqual(await writeOne(s, item('update', `T&${version}`, { status: 'APPROVED', note: nasty })), { ok: true });
      const p = php.readStore().permits.find((x) => x.PermitNumber === `T&${version}`);
      assert.equal(p?.status, 'APPROVED');
      assert.equal(p?.note, nasty);
    }
    const s = await sink({ url: `${php.baseUrl}/permits` }, { operations: { upsert: { template, soapAction: 'urn:county:permits#PermitUpdate' } } });
    const callsBefore = php.readStore().calls.length;
    const bad = failure(await writeOne(s, item('update', 'T-CTRL', { note: 'bell\u0007here' })));
    assert.ok(bad instanceof PermanentError, String(bad));
    assert.match(bad.message, /changed\.note contains U\+0007 at character 4/);
    assert.equal(php.readStore().calls.length, callsBefore, 'nothing was sent');
    const noOp = failure(await writeOne(s, item('delete', 'T-CTRL', {})));
    assert.ok(noOp instanceof PermanentError);
    assert.match(noOp.message, /no SOAP operation configured for delete/);
  });

  test('WSDL mode refuses control characters too', async () => {
    const s = await sink({ wsdl: `${php.baseUrl}/permits?wsdl` }, { operations: WSDL_OPS });
    const bad = failure(await writeOne(s, item('update', '007', { Status: 'OK\u0000' })));
    assert.ok(bad instanceof PermanentError, String(bad));
    assert.match(bad.message, /U\+0000/);
  });

  test('HTTP basic auth and WS-Security UsernameToken (text and digest)', async () => {
    const base = { wsdl: `${php.baseUrl}/permits?wsdl`, url: `${php.baseUrl}/secure` };
    const noAuth = await sink(base, { operations: WSDL_OPS });
    const unauth = failure(await writeOne(noAuth, item('insert', 'SEC-0', { PermitNumber: 'SEC-0' })));
    assert.ok(unauth instanceof PermanentError, String(unauth));
    assert.match(unauth.message, /HTTP 401/);
    for (const passwordType of ['text', 'digest'] as const) {
      const s = await sink({ ...base, basicAuth: { username: 'county', password: 's3cret' }, wsSecurity: { username: 'clerk', password: 'pa55word', passwordType } }, { operations: WSDL_OPS });
      assert.deepEqual(await writeOne(s, item('insert', `SEC-${passwordType}`, { PermitNumber: `SEC-${passwordType}`, Status: 'OK' })), { ok: true });
      const wrong = await sink({ ...base, basicAuth: { username: 'county', password: 's3cret' }, wsSecurity: { username: 'clerk', password: 'nope', passwordType } }, { operations: WSDL_OPS });
      const denied = failure(await writeOne(wrong, item('insert', `SEC-x-${passwordType}`, { PermitNumber: `SEC-x-${passwordType}` })));
      assert.ok(denied instanceof PermanentError, String(denied));
      assert.match(denied.message, /WS-Security: bad password/);
    }
    const calls = php.readStore().calls.filter((c) => c.PermitNumber === 'SEC-text' || c.PermitNumber === 'SEC-digest');
    assert.deepEqual(calls.map((c) => [c.PermitNumber, c.auth]), [['SEC-text', 'text'], ['SEC-digest', 'digest']]);
  });
});
