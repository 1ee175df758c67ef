import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { decodeSigningSecret, parseRetryAfter, signWebhook, verifyWebhook, webhookHeaders } from '../../src/connectors/http/index.js';
import { classifyResponse } from '../../src/connectors/http/http-client.js';
import { renderBody, renderPath } from '../../src/connectors/http/http-sink.js';
import { PermanentError, RetryableError } from '../../src/core/errors.js';
import type { SinkItem } from '../../src/connectors/contract.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;

/** Independent implementation of the Standard Webhooks signature, from the spec's wording. */
function referenceSignature(id: string, ts: number, body: string, sec: string): string {
  const key = Buffer.from(sec.split('_')[1]!, 'base64');
  return 'v1,' + createHmac('sha256', key).update(`${id}.${ts}.${body}`, 'utf8').digest('base64');
}

test('signWebhook matches an independent HMAC and the published Standard Webhooks example', () => {
  const body = JSON.stringify({ bridgeId: '007', status: 'ok', name: 'Brücke' });
  assert.equal(signWebhook({ id: 'msg_1', timestamp: 1_700_000_000, body, secret }), referenceSignature('msg_1', 1_700_000_000, body, secret));
  // example from the Standard Webhooks reference libraries' test suites
  assert.equal(
    signWebhook({ id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body: '{"test": 2432232314}', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  );
});

test('verifyWebhook accepts good signatures (also among several) and explains every refusal', () => {
  const now = 1_700_000_000;
  const body = '{"a":1}';
  const h = webhookHeaders({ id: 'msg_2', timestamp: now, body, secret });
  assert.deepEqual(verifyWebhook({ headers: h, body, secret, nowSec: now }), { ok: true, id: 'msg_2', timestamp: now });
  const rotated = { ...h, 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')} ${h['webhook-signature']}` };
  assert.equal(verifyWebhook({ headers: rotated, body, secret, nowSec: now }).ok, true);

  const reason = (r: ReturnType<typeof verifyWebhook>) => (r.ok ? 'ok' : r.reason);
  assert.match(reason(verifyWebhook({ headers: { ...h, 'webhook-signature': undefined }, body, secret, nowSec: now })), /missing webhook-signature header/);
  assert.match(reason(verifyWebhook({ headers: h, body: '{"a":2}', secret, nowSec: now })), /does not match/);
  const other = `whsec_${randomBytes(32).toString('base64')}`;
  assert.match(reason(verifyWebhook({ headers: h, body, secret: other, nowSec: now })), /does not match/);
  assert.match(reason(verifyWebhook({ headers: h, body, secret, nowSec: now + 301 })), /301 s old, beyond the 300 s tolerance/);
  assert.match(reason(verifyWebhook({ headers: h, body, secret, nowSec: now - 400, toleranceSec: 60 })), /400 s in the future/);
  assert.match(reason(verifyWebhook({ headers: { ...h, 'webhook-timestamp': 'yesterday' }, body, secret, nowSec: now })), /not Unix seconds/);
  // the reason never leaks the secret or the expected signature
  const r = reason(verifyWebhook({ headers: h, body: 'x', secret, nowSec: now }));
  assert.ok(!r.includes(secret.slice(6, 20)) && !r.includes(signWebhook({ id: 'msg_2', timestamp: now, body: 'x', secret }).slice(3, 20)));
});

test('decodeSigningSecret refuses short or non-base64 secrets without echoing them', () => {
  assert.equal(decodeSigningSecret(secret).length, 32);
  assert.throws(() => decodeSigningSecret('whsec_c2hvcnQ='), (e: Error) => /at least 16/.test(e.message) && !e.message.includes('c2hvcnQ'));
  assert.throws(() => decodeSigningSecret('not base64 at all!!'), /whsec_/);
});

test('parseRetryAfter reads seconds and HTTP dates', () => {
  assert.equal(parseRetryAfter('120'), 120_000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT')), 60_000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 08:00:00 GMT')), 0);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
});

test('classifyResponse: 2xx ok, 404 on DELETE ok, 429/5xx retryable, other 4xx permanent with a masked snippet', () => {
  const url = 'http://user:pw@h/x?token=abc';
  const res = (status: number, text = '', headers: Record<string, string> = {}) => ({ status, text, headers });
  assert.equal(classifyResponse('POST', url, res(204)), null);
  assert.equal(classifyResponse('DELETE', url, res(404)), null);
  assert.ok(classifyResponse('PUT', url, res(404)) instanceof PermanentError);
  const r429 = classifyResponse('POST', url, res(429, '', { 'retry-after': '7' }));
  assert.ok(r429 instanceof RetryableError);
  assert.equal(r429.retryAfterMs, 7000);
  assert.ok(classifyResponse('POST', url, res(503)) instanceof RetryableError);
  assert.ok(classifyResponse('POST', url, res(408)) instanceof RetryableError);
  const p = classifyResponse('POST', url, res(400, 'bad field status; your token s3cr3t-token was wrong'), ['s3cr3t-token'])!;
  assert.ok(p instanceof PermanentError);
  assert.match(p.message, /answered HTTP 400: bad field status; your token \*\*\* was wrong/);
  assert.ok(!p.message.includes('pw@') && !p.message.includes('abc'), p.message);
});

test('renderPath fills key and fields URL-encoded; renderBody shapes', () => {
  const item: SinkItem = { jobId: 'j', version: 2, idempotencyKey: 'p:j:2', pipeline: 'p', collection: 'bridges', keyFields: ['bridgeId'], delta: { op: 'update', key: 'A/7', changed: { status: 'ok' }, state: { bridgeId: 'A/7', status: 'ok', county: 'Cook' }, base: null, fingerprint: 'f', sourceTs: 0 } };
  assert.equal(renderPath('/bridges/{key}', item), '/bridges/A%2F7');
  assert.equal(renderPath('/{collection}/{county}/{bridgeId}?op={op}', item), '/bridges/Cook/A%2F7?op=update');
  assert.throws(() => renderPath('/x/{nope}', item), /names \{nope\}/);
  assert.deepEqual(JSON.parse(renderBody('state', item)!), item.delta.state);
  assert.deepEqual(JSON.parse(renderBody('delta', item)!), { op: 'update', key: 'A/7', changed: { status: 'ok' }, state: item.delta.state });
  const env = JSON.parse(renderBody('envelope', item)!);
  assert.equal(env.type, 'bridges.update');
  assert.equal(env.id, 'p:j:2');
  assert.equal(renderBody('state', { ...item, delta: { ...item.delta, op: 'delete', state: null } }), undefined);
});
