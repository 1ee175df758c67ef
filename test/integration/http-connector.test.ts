import { sourceStateFor } from '../../src/engine/snapshot.js';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PermanentError, RetryableError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import type { Delta } from '../../src/core/types.js';
import type { Sink, SinkItem, SinkResult, Source, SourceBatch, SourceState } from '../../src/connectors/contract.js';
import { httpConnector, webhookHeaders, type WebhookSource, type RestPollSource } from '../../src/connectors/http/index.js';
import { httpCall } from '../../src/connectors/http/http-client.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { tempDir, waitFor } from '../helpers/services.js';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { formatConfigIssue, parseConfig } from '../../src/config/load-config.js';
import { createEngine } from '../../src/engine/engine.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const closers: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of closers.reverse()) {
    try { await c(); } catch {}
  }
});

interface Got { method: string; url: string; headers: http.IncomingHttpHeaders; raw: string }

/** A real receiver on loopback; `reply` decides each answer (or never answers). */
async function receiver(reply: (g: Got, res: http.ServerResponse) => void) {
  const got: Got[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const g = { method: req.method!, url: req.url!, headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') };
      got.push(g);
      reply(g, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
  return { got, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function item(delta: Partial<Delta> & Pick<Delta, 'op' | 'key'>, version = 1): SinkItem {
  return { jobId: `job-${delta.key}`, version, idempotencyKey: `bridges:job-${delta.key}:${version}`, pipeline: 'bridges', collection: 'bridges', keyFields: ['bridgeId'], delta: { changed: {}, state: null, base: null, fingerprint: '', sourceTs: 1_700_000_000_000, ...delta } };
}

async function sink(systemConfig: Record<string, unknown>, options: Record<string, unknown> = {}): Promise<Sink> {
  const s = await httpConnector.createSink!({ system: 'dashboard', systemConfig, collection: 'bridges', options, keyFields: ['bridgeId'], logger: silentLogger(), workDir: '.' });
  closers.push(() => s.close());
  return s;
}

const signal = new AbortController().signal;
const errOf = (r: SinkResult) => (r.ok ? assert.fail('expected a failure') : r.error) as Error;

test('sink: signed JSON with idempotency key, REST paths and methods; the signature verifies independently', async () => {
  const rx = await receiver((_g, res) => res.writeHead(200).end('{}'));
  const s = await sink({ url: `${rx.url}/api`, signingSecret: secret, auth: { bearer: 'tok-123456' }, headers: { 'X-Tenant': 'county' } }, { path: '/bridges/{key}' });
  const res = await s.write([
    item({ op: 'insert', key: '007', changed: { bridgeId: '007', status: 'ok' }, state: { bridgeId: '007', status: 'ok' } }),
    item({ op: 'update', key: '012', changed: { status: 'closed' }, state: { bridgeId: '012', status: 'closed' } }, 3),
    item({ op: 'delete', key: '100' }),
  ], signal);
  assert.deepEqual(res, [{ ok: true }, { ok: true }, { ok: true }]);
  const by = (k: string) => rx.got.find((g) => g.url.endsWith(k))!;
  assert.equal(by('/api/bridges/007').method, 'POST');
  assert.equal(by('/api/bridges/012').method, 'PUT');
  assert.equal(by('/api/bridges/100').method, 'DELETE');
  const g = by('/api/bridges/012');
  assert.equal(g.headers['idempotency-key'], 'bridges:job-012:3');
  assert.equal(g.headers['webhook-id'], 'bridges:job-012:3');
  assert.equal(g.headers.authorization, 'Bearer tok-123456');
  assert.equal(g.headers['x-tenant'], 'county');
  assert.equal(g.headers['content-type'], 'application/json');
  const body = JSON.parse(g.raw);
  assert.deepEqual(body.data, { op: 'update', key: '012', changed: { status: 'closed' }, state: { bridgeId: '012', status: 'closed' } });
  assert.equal(body.type, 'bridges.update');
  // verify as a receiver would, with node:crypto only
  const ts = Number(g.headers['webhook-timestamp']);
  assert.ok(Math.abs(ts - Date.now() / 1000) < 60);
  const expected = createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(`${g.headers['webhook-id']}.${ts}.${g.raw}`).digest('base64');
  assert.equal(g.headers['webhook-signature'], `v1,${expected}`);
});

test('sink: status classification — 404 on DELETE ok, 400 permanent with snippet, 429 Retry-After, 500 retryable', async () => {
  const rx = await receiver((g, res) => {
    const key = g.url.split('/').pop();
    if (key === 'gone') return res.writeHead(404).end('not found');
    if (key === 'bad') return res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"status must be one of ok, closed"}');
    if (key === 'slow') return res.writeHead(429, { 'retry-after': '30' }).end();
    if (key === 'dated') return res.writeHead(503, { 'retry-after': new Date(Date.now() + 120_000).toUTCString() }).end();
    if (key === 'boom') return res.writeHead(500).end('Internal error');
    if (key === 'missing') return res.writeHead(404).end('no such bridge');
    res.writeHead(204).end();
  });
  const s = await sink({ url: rx.url, auth: { basic: { username: 'u', password: 'p4ssw0rd-secret' } } }, { path: '/b/{key}', body: 'state' });
  const [gone, bad, slow, dated, boom, missing] = await s.write([
    item({ op: 'delete', key: 'gone' }),
    item({ op: 'insert', key: 'bad', state: { bridgeId: 'bad', status: 'weird' } }),
    item({ op: 'insert', key: 'slow', state: { bridgeId: 'slow' } }),
    item({ op: 'insert', key: 'dated', state: { bridgeId: 'dated' } }),
    item({ op: 'update', key: 'boom', state: { bridgeId: 'boom' }, changed: { x: 1 } }),
    item({ op: 'update', key: 'missing', state: { bridgeId: 'missing' }, changed: { x: 1 } }),
  ], signal);
  assert.deepEqual(gone, { ok: true });
  const e400 = errOf(bad!);
  assert.ok(e400 instanceof PermanentError);
  assert.match(e400.message, /POST http:\/\/127\.0\.0\.1:\d+\/b\/bad answered HTTP 400: \{"error":"status must be one of ok, closed"\}/);
  const e429 = errOf(slow!);
  assert.ok(e429 instanceof RetryableError);
  assert.equal((e429 as RetryableError).retryAfterMs, 30_000);
  const e503 = errOf(dated!) as RetryableError;
  assert.ok(e503 instanceof RetryableError && e503.retryAfterMs! > 100_000 && e503.retryAfterMs! <= 120_000);
  assert.ok(errOf(boom!) instanceof RetryableError);
  assert.ok(errOf(missing!) instanceof PermanentError, '404 on PUT is permanent');
  for (const r of [bad, slow, dated, boom, missing]) assert.ok(!errOf(r!).message.includes('p4ssw0rd'), 'no secret in messages');
  assert.equal(rx.got.find((g) => g.url === '/b/gone')!.raw, '', 'a delete in state mode has no body');
});

test('sink batch mode: many items per signed request, split by maxItems and maxBytes, per-item ids', async () => {
  const rx = await receiver((_g, res) => res.writeHead(200).end('{"received":true}'));
  const s = await sink({ url: `${rx.url}/api`, signingSecret: secret }, { path: '/{collection}/batch', body: 'state', batch: { maxItems: 3, maxBytes: 4096 } });
  const items = Array.from({ length: 7 }, (_, i) => item({ op: i === 6 ? 'delete' : 'update', key: `k${i}`, changed: { n: i }, state: i === 6 ? null : { bridgeId: `k${i}`, n: i } }));
  const res = await s.write(items, signal);
  assert.deepEqual(res, items.map(() => ({ ok: true })));
  assert.equal(rx.got.length, 3, '7 items at 3 per request');
  const bodies = rx.got.map((g) => JSON.parse(g.raw) as { items: Array<{ id: string; op: string; key: string; state: unknown }> });
  assert.deepEqual(bodies.map((b) => b.items.length).sort(), [1, 3, 3]);
  const all = bodies.flatMap((b) => b.items).sort((a, b) => a.key.localeCompare(b.key));
  assert.deepEqual(all[0], { id: 'bridges:job-k0:1', op: 'update', key: 'k0', state: { bridgeId: 'k0', n: 0 } });
  assert.deepEqual(all[6], { id: 'bridges:job-k6:1', op: 'delete', key: 'k6', state: null });
  for (const g of rx.got) {
    assert.equal(g.method, 'POST');
    assert.equal(g.url, '/api/bridges/batch');
    assert.match(String(g.headers['idempotency-key']), /^batch_[0-9a-f]{32}$/);
    const ts = Number(g.headers['webhook-timestamp']);
    const expected = createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(`${g.headers['webhook-id']}.${ts}.${g.raw}`).digest('base64');
    assert.equal(g.headers['webhook-signature'], `v1,${expected}`);
  }
  // the same items again carry the same batch id (a receiver can drop a redelivered batch)
  const before = rx.got.map((g) => g.headers['idempotency-key']).sort();
  await s.write(items, signal);
  assert.deepEqual(rx.got.slice(3).map((g) => g.headers['idempotency-key']).sort(), before);
  // maxBytes: elements of ~300 bytes, 1 KiB per request => at most 3 per request
  const big = Array.from({ length: 6 }, (_, i) => item({ op: 'update', key: `b${i}`, state: { bridgeId: `b${i}`, pad: 'x'.repeat(280) } }));
  const s2 = await sink({ url: rx.url }, { body: 'state', batch: { maxItems: 100, maxBytes: 1024 } });
  const n0 = rx.got.length;
  assert.deepEqual(await s2.write(big, signal), big.map(() => ({ ok: true })));
  const sent = rx.got.slice(n0);
  assert.ok(sent.length >= 2, `1 KiB per request must split 6 x 300 bytes, got ${sent.length} request(s)`);
  for (const g of sent) assert.ok(Buffer.byteLength(g.raw) <= 1024, `body of ${Buffer.byteLength(g.raw)} bytes exceeds maxBytes`);
});

test('sink batch mode: per-item results (status or ok/retryable), whole-batch failures, bad results answered clearly', async () => {
  let mode = 'per-item';
  const rx = await receiver((g, res) => {
    const body = JSON.parse(g.raw) as { items: Array<{ key: string; op: string }> };
    if (mode === 'per-item') {
      const results = body.items.map((it) => {
        if (it.key === 'bad') return { status: 422, error: 'status must be one of ok, closed' };
        if (it.key === 'busy') return { status: 503 };
        if (it.key === 'gone') return { status: 404 };
        if (it.key === 'missing') return { status: 404 };
        if (it.key === 'flaky') return { ok: false, error: 'lock timeout', retryable: true };
        if (it.key === 'nope') return { ok: false, error: 'unknown district' };
        return { ok: true };
      });
      return res.writeHead(207, { 'content-type': 'application/json' }).end(JSON.stringify({ results }));
    }
    if (mode === '503') return res.writeHead(503, { 'retry-after': '7' }).end();
    if (mode === '400') return res.writeHead(400).end('{"error":"items[0].state.status is required"}');
    if (mode === 'short') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"ok":true}]}');
    if (mode === '207-empty') return res.writeHead(207).end('');
    if (mode === 'bare-array') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body.items.map(() => ({ status: 500 }))));
    res.writeHead(200).end();
  });
  const s = await sink({ url: rx.url }, { path: '/sync', body: 'delta', batch: {} });
  const keys = ['fine', 'bad', 'busy', 'gone', 'missing', 'flaky', 'nope'];
  const items = keys.map((k) => item({ op: k === 'gone' ? 'delete' : 'update', key: k, changed: { x: 1 }, state: k === 'gone' ? null : { bridgeId: k } }));
  const r = await s.write(items, signal);
  assert.equal(rx.got.length, 1, 'default maxItems 100: one request');
  const by = Object.fromEntries(keys.map((k, i) => [k, r[i]!]));
  assert.deepEqual(by.fine, { ok: true });
  assert.deepEqual(by.gone, { ok: true }, '404 for a delete item means already gone');
  const e422 = errOf(by.bad!);
  assert.ok(e422 instanceof PermanentError);
  assert.match(e422.message, /POST http:\/\/127\.0\.0\.1:\d+\/sync item 1 \(key "bad"\) answered HTTP 422: status must be one of ok, closed/);
  assert.ok(errOf(by.busy!) instanceof RetryableError);
  assert.ok(errOf(by.missing!) instanceof PermanentError, '404 for an update item is permanent');
  assert.ok(errOf(by.flaky!) instanceof RetryableError);
  assert.match(errOf(by.flaky!).message, /item 5 \(key "flaky"\) failed: lock timeout/);
  assert.ok(errOf(by.nope!) instanceof PermanentError);

  mode = '503';
  const r503 = await s.write(items.slice(0, 2), signal);
  for (const x of r503) assert.equal((errOf(x) as RetryableError).retryAfterMs, 7000);
  mode = '400';
  for (const x of await s.write(items.slice(0, 2), signal)) {
    assert.ok(errOf(x) instanceof PermanentError);
    assert.match(errOf(x).message, /answered HTTP 400: \{"error":"items\[0\]\.state\.status is required"\}/);
  }
  mode = 'short';
  for (const x of await s.write(items.slice(0, 2), signal)) assert.match(errOf(x).message, /"results" with 1 entries for 2 items/);
  mode = '207-empty';
  for (const x of await s.write(items.slice(0, 2), signal)) assert.match(errOf(x).message, /207 without a JSON "results" array/);
  mode = 'bare-array';
  for (const x of await s.write(items.slice(0, 2), signal)) assert.match(errOf(x).message, /answered a top-level JSON array; per-item results must be wrapped as \{ "results": \[\.\.\.\] \}/);
});

test('sink batch mode: a results answer cut at the 16 MiB read limit retries the batch (it is not taken as all ok)', async () => {
  // each item's entry echoes a long error, so the answer for 2,000 items exceeds the read limit
  const long = 'x'.repeat(9000);
  const rx = await receiver((g, res) => {
    const body = JSON.parse(g.raw) as { items: unknown[] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: body.items.map(() => ({ status: 422, error: long })) }));
  });
  const s = await sink({ url: rx.url }, { path: '/sync', body: 'delta', batch: { maxItems: 10_000, maxBytes: 64 * 1_048_576 } });
  const items = Array.from({ length: 2000 }, (_, i) => item({ op: 'update', key: `k${i}`, changed: { x: 1 }, state: { bridgeId: `k${i}` } }));
  const r = await s.write(items, signal);
  assert.equal(rx.got.length, 1);
  assert.equal(r.filter((x) => x.ok).length, 0, 'no item counts as delivered');
  assert.ok(errOf(r[0]!) instanceof RetryableError);
  assert.match(errOf(r[0]!).message, /more than 16 MiB/);
});

test('sink batch mode: a path naming a per-item field is refused at start', async () => {
  await assert.rejects(() => sink({ url: 'http://127.0.0.1:9' }, { path: '/b/{key}', batch: {} }), /with batch, one request carries many items, so path "\/b\/\{key\}" may use \{collection\} only, not \{key\}/);
});

test('sink: a hanging receiver times out and a refused connection is retryable', async () => {
  const rx = await receiver(() => { /* never answers */ });
  const s = await sink({ url: rx.url, timeout: '200ms' });
  const t0 = Date.now();
  const [hung] = await s.write([item({ op: 'insert', key: '1', state: { bridgeId: '1' } })], signal);
  const e = errOf(hung!);
  assert.ok(e instanceof RetryableError);
  assert.match(e.message, /timed out after 200 ms/);
  assert.ok(Date.now() - t0 < 20_000, 'the call was abandoned at the deadline (generous bound for a loaded machine)');

  const dead = http.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const port = (dead.address() as AddressInfo).port;
  await new Promise((r) => dead.close(r));
  const s2 = await sink({ url: `http://127.0.0.1:${port}` });
  const [refused] = await s2.write([item({ op: 'insert', key: '1', state: { bridgeId: '1' } })], signal);
  const e2 = errOf(refused!);
  assert.ok(e2 instanceof RetryableError);
  assert.match(e2.message, /ECONNREFUSED/);
  await assert.rejects(httpConnector.testConnection({ url: `http://127.0.0.1:${port}` }, { logger: silentLogger(), system: 'dashboard' }), /system "dashboard" cannot be reached: .*ECONNREFUSED/);
});

test('httpCall reads at most maxResponseBytes of a body and says it truncated; a successful delivery with a huge answer is still ok', async () => {
  const big = 'x'.repeat(3 * 1024 * 1024);
  const rx = await receiver((_g, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(big));
  const res = await httpCall({ method: 'GET', url: `${rx.url}/huge`, headers: {}, timeoutMs: 10_000, maxResponseBytes: 1000 });
  assert.equal(res.status, 200);
  assert.equal(res.text.length, 1000);
  assert.equal(res.truncated, true);
  const small = await httpCall({ method: 'GET', url: `${rx.url}/huge`, headers: {}, timeoutMs: 10_000 });
  assert.equal(small.text.length, big.length);
  assert.equal(small.truncated, undefined);
  const s = await sink({ url: rx.url });
  assert.deepEqual(await s.write([item({ op: 'insert', key: '1', state: { bridgeId: '1' } })], signal), [{ ok: true }]);
});

/** Source state in the real store; batches are committed (and acked) as the engine does. */
async function storeState(scope: string): Promise<{ store: Store; state: SourceState }> {
  const { dir, cleanup } = tempDir();
  const store = await openStore('sqlite:' + path.join(dir, 'state.db'));
  closers.push(async () => { await store.close(); cleanup(); });
  return { store, state: sourceStateFor(store, scope, { system: 'api', collection: 'items' }) };
}

function consume(source: Source, store: Store, scope: string, gate?: () => Promise<void>) {
  const ac = new AbortController();
  const batches: SourceBatch[] = [];
  const done = (async () => {
    for await (const b of source.stream(ac.signal)) {
      batches.push(b);
      if (gate) await gate();
      await store.commit({ jobs: [], shadow: b.shadow, position: b.position !== undefined ? { source: scope, position: b.position } : undefined, remember: b.remember?.map((id) => ({ scope, id, at: Date.now() })) });
      await b.ack?.();
    }
  })();
  let stopped: Promise<void> | null = null;
  const stop = () => (stopped ??= (async () => { ac.abort(); await done; await source.close(); })());
  closers.push(stop);
  return { batches, events: () => batches.flatMap((b) => b.events), stop };
}

async function post(url: string, body: string, headers: Record<string, string>, method = 'POST') {
  const res = await fetch(url, { method, body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('webhook source: refuses missing, bad and stale signatures and bad JSON; answers 200 only after the commit; dedupes by webhook-id', async () => {
  const scope = 'webhook:permits';
  const { store, state } = await storeState(scope);
  const src = (await httpConnector.createSource!({ system: 'county', systemConfig: { signingSecret: secret }, collection: 'permits', options: { listen: { host: '127.0.0.1', port: 0 }, path: '/hooks/permits', dataField: 'data', ackTimeout: '60s' }, keyFields: ['permitNumber'], state, logger: silentLogger(), workDir: '.' })) as WebhookSource;
  let release!: () => void;
  let gateOpen = false;
  const c = consume(src, store, scope, () => (gateOpen ? Promise.resolve() : new Promise<void>((r) => { release = r; })));
  const { port } = await src.address();
  const url = `http://127.0.0.1:${port}/hooks/permits`;
  const body = JSON.stringify({ type: 'permit.updated', data: { permitNumber: '0123', status: 'APPROVED' } });

  let r = await post(url, body, {});
  assert.equal(r.status, 401);
  assert.match(String(r.body.error), /missing webhook-id, webhook-timestamp, webhook-signature headers/);
  r = await post(url, body, { ...webhookHeaders({ id: 'm1', body, secret }), 'webhook-signature': 'v1,AAAA' });
  assert.equal(r.status, 401);
  assert.match(String(r.body.error), /does not match/);
  r = await post(url, body, webhookHeaders({ id: 'm1', body, secret, timestamp: Math.floor(Date.now() / 1000) - 3600 }));
  assert.equal(r.status, 401);
  assert.match(String(r.body.error), /3600 s old, beyond the 300 s tolerance/);
  r = await post(url, '{not json', webhookHeaders({ id: 'm0', body: '{not json', secret }));
  assert.equal(r.status, 400);
  assert.match(String(r.body.error), /not valid JSON/);
  r = await post(`http://127.0.0.1:${port}/elsewhere`, body, webhookHeaders({ id: 'm1', body, secret }));
  assert.equal(r.status, 404);

  // a good request waits until the (gated) commit happened (ackTimeout is long, so a slow
  // machine cannot turn this into a 503; the 503 path has its own test below)
  let answered: { status: number } | null = null;
  const pending = post(url, body, webhookHeaders({ id: 'm1', body, secret })).then((x) => (answered = x));
  await waitFor(() => c.batches.length === 1, { what: 'batch yielded' });
  assert.equal(answered, null, 'no answer before the commit');
  assert.equal((await store.getShadow(scope, ['0123'])).size, 0);
  gateOpen = true;
  release();
  const ok = await pending;
  assert.equal(ok.status, 200);
  assert.equal((await store.getShadow(scope, ['0123'])).get('0123')!.doc!.status, 'APPROVED', 'committed before the 200');
  assert.deepEqual(c.events().map((e) => [e.op, e.key, e.before]), [['insert', '0123', null]]);

  // redelivery of the same webhook-id: 200, no new batch
  const again = await post(url, body, webhookHeaders({ id: 'm1', body, secret }));
  assert.deepEqual([again.status, again.body.duplicate], [200, true]);
  assert.equal(c.batches.length, 1);

  // an update carries the previous doc as before; DELETE method deletes
  const b2 = '{"data":{"permitNumber":"0123","status":"REVOKED","parcel":9007199254740993}}';
  assert.equal((await post(url, b2, webhookHeaders({ id: 'm2', body: b2, secret }))).status, 200);
  const b3 = JSON.stringify({ data: { permitNumber: '0123' } });
  assert.equal((await post(url, b3, webhookHeaders({ id: 'm3', body: b3, secret }), 'DELETE')).status, 200);
  const evs = c.events();
  assert.deepEqual(evs.slice(1).map((e) => [e.op, e.before?.status, e.after?.status]), [['update', 'APPROVED', 'REVOKED'], ['delete', 'REVOKED', undefined]]);
  assert.equal(evs[1]!.after!.parcel, '9007199254740993', 'a number beyond 2^53 is kept exact (as text), not rounded');
  const bad = JSON.stringify({ data: { status: 'no key' } });
  const rb = await post(url, bad, webhookHeaders({ id: 'm4', body: bad, secret }));
  assert.equal(rb.status, 400);
  assert.match(String(rb.body.error), /key field "permitNumber" is missing/);
  await c.stop();
  assert.deepEqual([...(await store.seenIds(scope, ['m1', 'm2', 'm3', 'm4']))].sort(), ['m1', 'm2', 'm3'], 'webhook-ids are remembered (in the commit of their batch; the refused m4 is not)');
  assert.equal((await store.getShadow(scope, ['#webhook-id:m1'])).size, 0, 'no longer mixed into the shadow');

  // a restarted source forgets webhook-ids older than dedupeFor (and still knows the records)
  const src2 = (await httpConnector.createSource!({ system: 'county', systemConfig: { signingSecret: secret }, collection: 'permits', options: { listen: { port: 0 }, path: '/hooks/permits', dedupeFor: '1ms' }, keyFields: ['permitNumber'], state, logger: silentLogger(), workDir: '.' })) as WebhookSource;
  const c2 = consume(src2, store, scope);
  await waitFor(async () => (await store.seenIds(scope, ['m1', 'm2', 'm3'])).size === 0, { what: 'old webhook-ids pruned' });
  assert.equal((await store.getShadow(scope, ['0123'])).size, 1, 'the records are still known');
  assert.equal(c2.events().length, 0);
  await c2.stop();
});

test('webhook source: 503 when the engine does not commit within ackTimeout; refuses to start unsigned', async () => {
  const scope = 'webhook:slow';
  const { store, state } = await storeState(scope);
  const src = (await httpConnector.createSource!({ system: 'county', systemConfig: { signingSecret: secret }, collection: 'permits', options: { listen: { port: 0 }, path: '/h', ackTimeout: '150ms' }, keyFields: ['id'], state, logger: silentLogger(), workDir: '.' })) as WebhookSource;
  let release!: () => void;
  const c = consume(src, store, scope, () => new Promise<void>((r) => { release = r; }));
  const { port } = await src.address();
  const body = JSON.stringify({ id: 1 });
  const r = await post(`http://127.0.0.1:${port}/h`, body, webhookHeaders({ id: 'x1', body, secret }));
  assert.equal(r.status, 503);
  assert.match(String(r.body.error), /not committed within 150 ms/);
  release();
  await c.stop();
  assert.throws(() => httpConnector.createSource!({ system: 'county', systemConfig: {}, collection: 'p', options: { listen: { port: 0 }, path: '/h' }, keyFields: ['id'], state, logger: silentLogger(), workDir: '.' }), /has no signingSecret/);
});

test('REST polling source follows the cursor, records it as the position, and resumes from it', async () => {
  const items = Array.from({ length: 5 }, (_, i) => ({ id: `00${i}`, v: i, seq: i + 1 }));
  const seen: string[] = [];
  const rx = await receiver((g, res) => {
    const u = new URL(g.url, 'http://x');
    seen.push(u.search);
    assert.equal(g.headers.authorization, 'Bearer poll-token');
    const after = Number(u.searchParams.get('after') ?? 0);
    const page = items.filter((it) => it.seq > after).sort((a, b) => a.seq - b.seq).slice(0, 2);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: { rows: page } }));
  });
  const scope = 'rest:things';
  const { store, state } = await storeState(scope);
  const mk = () => httpConnector.createSource!({ system: 'api', systemConfig: { url: rx.url, auth: { bearer: 'poll-token' } }, collection: 'things', options: { poll: '30ms', path: '/things', query: { limit: '2' }, cursorParam: 'after', cursorField: 'seq', itemsField: 'result.rows' }, keyFields: ['id'], state, logger: silentLogger(), workDir: '.' }) as RestPollSource;
  const src = mk();
  const c = consume(src, store, scope);
  await waitFor(() => c.events().length === 5, { what: 'five inserts over three pages' });
  assert.deepEqual(c.events().map((e) => e.key), ['000', '001', '002', '003', '004']);
  assert.equal(c.events()[0]!.after!.id, '000', 'legacy string keys stay strings');
  await waitFor(async () => (await store.getPosition(scope)) === '5');
  assert.ok(seen.includes('?limit=2&after=2') && seen.includes('?limit=2&after=4'));
  await c.stop();

  items.push({ id: '005', v: 5, seq: 6 });
  items[1]!.seq = 7;
  items[1]!.v = 99;
  const src2 = mk();
  const c2 = consume(src2, store, scope);
  await waitFor(() => c2.events().length === 2, { what: 'new and changed items after restart' });
  assert.deepEqual(c2.events().map((e) => [e.op, e.key]), [['insert', '005'], ['update', '001']]);
  assert.equal(c2.events()[1]!.before!.v, 1);
  const polls = src2.polls;
  await waitFor(() => src2.polls >= polls + 2);
  assert.equal(c2.events().length, 2, 'no spurious events from re-reads');
  await c2.stop();
});

test('engine end to end: signed webhook in -> SQLite table; SQLite table polled -> signed webhook out', async () => {
  const { dir, cleanup } = tempDir();
  closers.push(cleanup);
  const hms = openDatabase(path.join(dir, 'hms.db'));
  hms.exec('CREATE TABLE permits (permitNumber TEXT PRIMARY KEY, status TEXT); CREATE TABLE notices (permitNumber TEXT PRIMARY KEY, status TEXT)');
  closers.push(() => hms.close());
  const rx = await receiver((_g, res) => res.writeHead(200).end());
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const yaml = `
store: sqlite:state.db
stateDir: .
systems:
  county: { driver: http, signingSecret: "${secret}" }
  hms: { driver: sqlite, path: hms.db }
  dashboard: { driver: http, url: "${rx.url}", signingSecret: "${secret}" }
pipelines:
  inbound:
    from: { system: county, collection: permits, listen: { port: ${port} }, path: /hooks/permits, dataField: data }
    to: { system: hms, collection: permits }
    key: permitNumber
  outbound:
    from: { system: hms, collection: notices, poll: 50ms }
    to: { system: dashboard, collection: permits, path: "/permits/{key}", body: state }
    key: permitNumber
`;
  const { config, issues } = parseConfig(yaml, { file: path.join(dir, 'hms-sync.yaml') });
  assert.ok(config, issues.map(formatConfigIssue).join('\n'));
  const engine = createEngine({ config, logger: silentLogger(), idlePollMs: 50 });
  const problems: string[] = [];
  engine.on('job:dead', ({ error }) => problems.push(`dead: ${error}`));
  engine.on('source:error', ({ pipeline, error }) => problems.push(`${pipeline}: ${error.message}`));
  await engine.start();
  closers.push(() => engine.stop());
  const body = JSON.stringify({ type: 'permit.updated', data: { permitNumber: '0123', status: 'APPROVED' } });
  const url = `http://127.0.0.1:${port}/hooks/permits`;
  await waitFor(async () => (await fetch(url, { method: 'POST', body: '{}' }).then((r) => r.status).catch(() => 0)) === 401, { what: 'webhook source listening' });
  const r = await post(url, body, webhookHeaders({ id: 'evt_1', body, secret }));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await waitFor(() => (hms.prepare('SELECT count(*) AS n FROM permits').get() as { n: number }).n === 1, { what: 'the webhook change written to SQLite' });
  hms.prepare("INSERT INTO notices VALUES ('0123', 'APPROVED')").run();
  await waitFor(() => rx.got.length >= 1, { what: 'delivery to the dashboard' }).catch(async (e) => { throw new Error(`${e.message}; problems: ${problems.join(' | ')}; rows: ${JSON.stringify(hms.prepare('SELECT * FROM permits').all())}; stats: ${JSON.stringify(await engine.store.stats())}`); });
  assert.deepEqual(hms.prepare('SELECT * FROM permits').all(), [{ permitNumber: '0123', status: 'APPROVED' }]);
  const g = rx.got[0]!;
  assert.equal(g.url, '/permits/0123');
  assert.deepEqual(JSON.parse(g.raw), { permitNumber: '0123', status: 'APPROVED' });
  const ts = Number(g.headers['webhook-timestamp']);
  const expected = createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(`${g.headers['webhook-id']}.${ts}.${g.raw}`).digest('base64');
  assert.equal(g.headers['webhook-signature'], `v1,${expected}`);
  assert.equal(g.headers['idempotency-key'], g.headers['webhook-id']);
  assert.deepEqual(problems, []);
});

test('REST polling source follows a response cursor (nextField) and turns a deleted flag into a delete', async () => {
  const pages: Record<string, unknown> = {
    '': { items: [{ id: 'a', n: 1 }, { id: 'b', n: 2 }], next: 'p2' },
    p2: { items: [{ id: 'c', n: 3 }], next: null },
  };
  const rx = await receiver((g, res) => {
    const c = new URL(g.url, 'http://x').searchParams.get('cursor') ?? '';
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(pages[c] ?? { items: [], next: null }));
  });
  const scope = 'rest:next';
  const { store, state } = await storeState(scope);
  const src = httpConnector.createSource!({ system: 'api', systemConfig: { url: rx.url }, collection: 'things', options: { poll: '30ms', path: '/list', cursorParam: 'cursor', nextField: 'next', itemsField: 'items', opField: 'deleted' }, keyFields: ['id'], state, logger: silentLogger(), workDir: '.' }) as RestPollSource;
  const c = consume(src, store, scope);
  await waitFor(() => c.events().length === 3, { what: 'three inserts over two pages' });
  assert.equal(await store.getPosition(scope), 'p2', 'the last cursor is kept when the API says there is no next page');
  pages.p2 = { items: [{ id: 'c', n: 3 }, { id: 'a', deleted: true }], next: null };
  await waitFor(() => c.events().length === 4, { what: 'the delete' });
  assert.deepEqual([c.events()[3]!.op, c.events()[3]!.key, c.events()[3]!.before], ['delete', 'a', { id: 'a', n: 1 }]);
  const polls = src.polls;
  await waitFor(() => src.polls >= polls + 2);
  assert.equal(c.events().length, 4, 'a delete the API keeps reporting is passed on once');
  pages.p2 = { items: [{ id: 'c', n: 3 }, { id: 'a', n: 9 }], next: null };
  await waitFor(() => c.events().length === 5, { what: 'the key coming back' });
  assert.deepEqual([c.events()[4]!.op, c.events()[4]!.before], ['insert', null]);
  await c.stop();
});
