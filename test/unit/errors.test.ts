import { readFileSync } from 'node:fs';
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

test('docs/errors.md documents every code of the catalogue, and only those', () => {
  const text = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...text.matchAll(/^## `(HMS_ERR_[A-Z_]+)`$/gm)].map((m) => m[1]!);
  const catalogue = Object.keys(ERROR_CODES);
  assert.deepEqual(documented.filter((c) => !catalogue.includes(c)), [], 'documented in docs/errors.md but not in ERROR_CODES');
  assert.deepEqual(catalogue.filter((c) => !documented.includes(c)), [], 'in ERROR_CODES but without a "## `CODE`" section in docs/errors.md');
  assert.equal(new Set(documented).size, documented.length, 'a code has two sections in docs/errors.md');
  // every section says what the code means and what to do
  for (const section of text.split(/^## /m).slice(1)) {
    assert.match(section, /\*\*Meaning\.\*\*/, `section ${section.split('\n')[0]} has no **Meaning.**`);
    assert.match(section, /\*\*What to do\.\*\*/, `section ${section.split('\n')[0]} has no **What to do.**`);
  }
});
