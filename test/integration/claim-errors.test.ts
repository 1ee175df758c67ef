/**
 * A store that fails every claim (here a real SQLite store that has been closed) is logged once per
 * distinct error, without a stack, not once a second; the loop keeps trying and stops on abort.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/core/log.js';
import { runDelivery, WakeGroup } from '../../src/engine/delivery.js';
import { TypedEmitter, type EngineEvents } from '../../src/engine/events.js';
import { openStore } from '../../src/store/open-store.js';
import { tempDir } from '../helpers/services.js';

test('a claim that keeps failing is logged once, with its message and no stack', async () => {
  const tmp = tempDir();
  const store = await openStore(`sqlite:${path.join(tmp.dir, 'state.db')}`);
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  const logger = createLogger({ level: 'info', destination: out, format: 'json' });
  const group = new WakeGroup(store);
  await store.close(); // every claim now fails with "store is closed"
  const ac = new AbortController();
  const errors: string[] = [];
  const events = new TypedEmitter<EngineEvents>();
  events.on('worker:error', ({ error }) => errors.push(error.message));
  const loop = runDelivery({ store, logger, events, routes: new Map(), workerId: 'w1' }, { pipelines: ['p'], batchSize: 10, leaseMs: 1000, idlePollMs: 50, group }, ac.signal, new AbortController().signal);
  await new Promise((r) => setTimeout(r, 3300));
  ac.abort();
  await loop;
  tmp.cleanup();
  const lines = text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; err?: unknown; error?: string });
  const claimLines = lines.filter((l) => /claiming jobs from the store failed/.test(l.msg));
  assert.ok(errors.length >= 3, `the loop kept trying (${errors.length} attempts)`);
  assert.equal(claimLines.length, 1, text);
  assert.match(claimLines[0]!.msg, /is closed/);
  assert.equal(claimLines[0]!.err, undefined, 'no error object with a stack');
});
