import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyError, PermanentError, RetryableError, MappingError, ERROR_CODES } from '../../src/core/errors.js';

test('errors are classified by type, not message text', () => {
  assert.equal(classifyError(new PermanentError('HTTP 400 retry later')).retryable, false);
  const r = classifyError(new RetryableError('HTTP 429', { retryAfterMs: 5000 }));
  assert.deepEqual([r.retryable, r.retryAfterMs], [true, 5000]);
  assert.equal(classifyError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })).retryable, true);
  const m = new MappingError('status', 'unknown code "X"; valid codes are A, C, P');
  assert.equal(classifyError(m).retryable, false);
  assert.equal(m.field, 'status');
  assert.ok(m.code in ERROR_CODES);
});
