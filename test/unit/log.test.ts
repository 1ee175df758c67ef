import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, redactUrl } from '../../src/core/log.js';

test('secrets never reach the logs', async () => {
  const lines: string[] = [];
  const dest = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const log = createLogger({ level: 'info', destination: dest });
  log.info({ system: { url: 'postgres://app:hunter2@db/x', password: 'hunter2', signingSecret: 'whsec_abc' }, headers: { authorization: 'Bearer t0k3n' } }, 'connecting');
  log.flush?.();
  await new Promise((r) => setImmediate(r));
  const out = lines.join('');
  assert.match(out, /connecting/);
  for (const secret of ['hunter2', 'whsec_abc', 't0k3n']) assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
});

test('redactUrl hides passwords and secret query parameters', () => {
  assert.equal(redactUrl('postgres://app:hunter2@db:5432/x?sslmode=require&password=p'), 'postgres://app:***@db:5432/x?sslmode=require&password=***');
  assert.equal(redactUrl('http://example.org/a'), 'http://example.org/a');
});
