import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { PermanentError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/log.js';
import { runCapture } from '../../src/engine/capture.js';
import { TypedEmitter, type EngineEvents } from '../../src/engine/events.js';
import type { Source, SourceBatch } from '../../src/connectors/contract.js';
import type { Store } from '../../src/store/store.js';

test('a source that keeps failing with the same permanent error is logged in full once, then briefly, and retried slowly', async () => {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } }) });
  let starts = 0;
  // a Source whose server refuses it every time (the engine's own contract, no external service)
  const source: Source = {
    // eslint-disable-next-line require-yield
    async *stream(): AsyncGenerator<SourceBatch> {
      starts++;
      throw new PermanentError('PostgreSQL runs with wal_level = replica, but logical replication needs wal_level = logical');
    },
    async close() {},
  };
  const events = new TypedEmitter<EngineEvents>();
  const errors: Error[] = [];
  events.on('source:error', ({ error }) => errors.push(error));
  const ac = new AbortController();
  const run = runCapture({ name: 'p', target: 't', sourceId: 's', source, debounceMs: 0, maxWaitMs: 0, maxAttempts: 1, echoReader: null, hooks: () => [] }, { store: {} as Store, logger, events }, ac.signal);
  await new Promise((r) => setTimeout(r, 2000));
  ac.abort();
  await run;
  assert.ok(starts >= 2 && starts <= 3, `permanent errors back off (500 ms, 1 s, ...): ${starts} starts in 2 s`);
  assert.equal(errors.length, starts, 'every failure is an event');
  const full = lines.filter((l) => l.level === 50);
  assert.equal(full.length, 1, 'the full error is logged once');
  assert.match(full[0]!.msg, /cannot start until this is fixed/);
  const repeats = lines.filter((l) => l.level === 40);
  assert.equal(repeats.length, starts - 1);
  assert.match(repeats[0]!.msg, /still failing with the same error: PostgreSQL runs with wal_level = replica/);
});
