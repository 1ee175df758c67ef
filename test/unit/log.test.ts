import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, formatLogLine, redactUrl } from '../../src/core/log.js';

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

test('pretty format: one readable line per entry, same redactions, fields the message already says are not repeated', async () => {
  const lines: string[] = [];
  const dest = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const log = createLogger({ level: 'debug', destination: dest, format: 'pretty' });
  log.info({ pipeline: 'permits', delivered: 12, failed: 0, pending: 3, captured: 15, note: 'two words' }, 'delivered 12, failed 0, pending 3, lag 1.2s');
  log.warn({ system: { password: 'hunter2' }, err: Object.assign(new Error('boom'), { code: 'HMS_ERR_RETRYABLE' }) }, 'source failed');
  log.error({ err: new TypeError('a bug') }, 'unexpected');
  await new Promise((r) => setImmediate(r));
  const [info, warn, error] = lines;
  assert.match(info!, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[permits\] delivered 12, failed 0, pending 3, lag 1\.2s {2}captured=15 note="two words"\n$/);
  assert.match(warn!, /^\d\d:\d\d:\d\d\.\d{3} WARN {2}source failed {2}system=\{"password":"\[redacted\]"\} err=boom\n$/, 'an expected error shows its message, no stack');
  assert.ok(!lines.join('').includes('hunter2'));
  assert.match(error!, /ERROR unexpected {2}err="a bug"\n {4}TypeError: a bug\n {8}at /, 'an unexpected error keeps its stack for the bug report');
  assert.equal(formatLogLine('not json'), 'not json\n');
});

test('an unknown log format is a configuration error naming where it came from', () => {
  assert.throws(() => createLogger({ format: 'fancy' }), /log format "fancy" is not valid; use one of auto, json, pretty/);
  const saved = process.env.HMS_LOG_FORMAT;
  process.env.HMS_LOG_FORMAT = 'xml';
  try {
    assert.throws(() => createLogger({}), /log format "xml" \(from \$HMS_LOG_FORMAT\) is not valid/);
  } finally {
    if (saved === undefined) delete process.env.HMS_LOG_FORMAT;
    else process.env.HMS_LOG_FORMAT = saved;
  }
});
