import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterEcho } from '../../src/engine/echo.js';
import { deltaForEvent } from '../../src/engine/capture.js';
import type { ChangeEvent, Doc } from '../../src/core/types.js';
import type { EchoIntent } from '../../src/store/store.js';

let nextId = 1;
const intent = (fields: Doc | null, state: Doc | null = fields): EchoIntent => ({ id: String(nextId++), reader: 'county-to-hms', key: '123', writer: 'hms-to-county', fields, state, at: Date.now(), landedAt: null });
const ev = (before: Doc | null, after: Doc | null, op?: ChangeEvent['op']): ChangeEvent => ({ system: 'county', collection: 'PERMITS', key: '123', op: op ?? (after ? (before ? 'update' : 'insert') : 'delete'), before, after, ts: 0 });
const run = (e: ChangeEvent, intents: EchoIntent[]) => filterEcho(e, deltaForEvent(e), intents);

test('regression: we write STATUS while a person changes OWNER: STATUS is our echo, OWNER flows on', () => {
  const before = { ID: '123', STATUS: 'PENDING', OWNER: 'ann' };
  const after = { ID: '123', STATUS: 'APPROVED', OWNER: 'bob' };
  const r = run(ev(before, after), [intent({ STATUS: 'APPROVED' }, { ID: '123', STATUS: 'APPROVED', OWNER: 'ann' })]);
  assert.ok(r.delta, 'the change is not dropped');
  assert.deepEqual(r.delta.changed, { OWNER: 'bob' });
  assert.deepEqual(r.suppressed, ['STATUS']);
  assert.deepEqual(r.delta.state, after, 'the full new state travels');
  assert.equal(r.delta.before?.STATUS, 'APPROVED', 'the mapping at delivery sees STATUS as unchanged');
  assert.equal(r.delta.before?.OWNER, 'ann');
  assert.deepEqual(r.updates, [{ id: r.updates[0]!.id, delete: true }], 'the intent is consumed');
});

test('the same without a before image (a change stream that sends only the new row)', () => {
  const after = { ID: '123', STATUS: 'APPROVED', OWNER: 'bob' };
  const r = run(ev(null, after, 'update'), [intent({ STATUS: 'APPROVED' }, { ID: '123', STATUS: 'APPROVED', OWNER: 'ann' })]);
  assert.deepEqual(r.delta?.changed, { OWNER: 'bob' }, 'ID still holds what we wrote; STATUS is ours; OWNER is the person\'s');
  assert.deepEqual(r.suppressed.sort(), ['ID', 'STATUS']);
});

test('a change that shows only our own write is dropped and consumes the intent', () => {
  const r = run(ev({ ID: '123', STATUS: 'PENDING' }, { ID: '123', STATUS: 'APPROVED' }), [intent({ STATUS: 'APPROVED' })]);
  assert.equal(r.delta, null);
  assert.equal(r.remaining.length, 0);
});

test('the watcher seeing an older write first: echo, and only the newer intent remains', () => {
  const older = intent({ STATUS: 'PENDING' });
  const newer = intent({ STATUS: 'APPROVED' });
  const r = run(ev({ STATUS: 'NEW' }, { STATUS: 'PENDING' }), [older, newer]);
  assert.equal(r.delta, null);
  assert.deepEqual(r.remaining.map((i) => i.id), [newer.id]);
});

test('a value no intent wrote flows, and consumes the claims on that field (a later return to our value is a person\'s)', () => {
  const i = intent({ STATUS: 'APPROVED', FEE: 12 });
  const r1 = run(ev({ STATUS: 'PENDING', FEE: 12 }, { STATUS: 'REVOKED', FEE: 12 }), [i]);
  assert.deepEqual(r1.delta?.changed, { STATUS: 'REVOKED' });
  assert.deepEqual(r1.remaining.map((x) => x.fields), [{ FEE: 12 }], 'the claim on STATUS is gone, FEE still awaited');
  const r2 = run(ev({ STATUS: 'REVOKED', FEE: 12 }, { STATUS: 'APPROVED', FEE: 12 }), r1.remaining);
  assert.deepEqual(r2.delta?.changed, { STATUS: 'APPROVED' }, 'the person setting APPROVED again is not our echo');
});

test('numbers and strings compare loosely; deletes match delete intents only', () => {
  assert.equal(run(ev({ FEE: '11' }, { FEE: '12' }), [intent({ FEE: 12 })]).delta, null);
  assert.equal(run(ev({ FEE: 1 }, null), [intent(null)]).delta, null, 'our delete comes back as a delete');
  const r = run(ev({ FEE: 1 }, null), [intent({ FEE: 2 })]);
  assert.equal(r.delta?.op, 'delete', 'someone else\'s delete flows');
  assert.equal(r.remaining.length, 0, 'the row is gone: every intent is consumed');
});

test('intents written by several pipelines (one field each) are matched per field, whichever wrote them', () => {
  const status = { ...intent({ STATUS: 'APPROVED' }), writer: 'status-to-county' };
  const owner = { ...intent({ OWNER: 'bob' }), writer: 'owner-to-county' };
  const r = run(ev({ STATUS: 'PENDING', OWNER: 'ann', FEE: 1 }, { STATUS: 'APPROVED', OWNER: 'bob', FEE: 2 }), [status, owner]);
  assert.deepEqual(r.delta?.changed, { FEE: 2 });
  assert.equal(r.remaining.length, 0);
  // only the older pipeline's write has landed: it is suppressed, the newer intent stays
  const s2 = { ...intent({ STATUS: 'APPROVED' }), writer: 'status-to-county' };
  const o2 = { ...intent({ OWNER: 'bob' }), writer: 'owner-to-county' };
  const r2 = run(ev({ STATUS: 'PENDING', OWNER: 'ann' }, { STATUS: 'APPROVED', OWNER: 'ann' }), [s2, o2]);
  assert.equal(r2.delta, null);
  assert.deepEqual(r2.remaining.map((i) => i.id), [o2.id]);
});

// ---- property: random interleavings of our writes and people's edits never lose a person's edit ----

/** Small seeded PRNG (mulberry32), so a failure prints a seed that reproduces it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIELDS = ['STATUS', 'OWNER', 'FEE'];
const VALUES = ['a', 'b', 'c'];

/**
 * One link X <-> Y for one key. X's edits are written into Y by the engine (an intent is recorded
 * when the write starts; writes land in order, later). People edit Y. Y's watcher either sees every
 * change in order (a change stream: mode 'stream') or polls now and then, seeing only the current
 * row (mode 'poll'; an acknowledged write goes into its shadow); what it lets through is applied to X. At the end every write lands and the
 * watcher catches up. A field whose last writer in Y was a person must then hold the same value in X,
 * unless both sides changed that field since the last sync (the person edited it while one of our
 * writes of it was in flight, or X changed it while the person's edit was not yet seen): that is a
 * conflict, which echo suppression cannot settle and conflict detection must surface (issue 13);
 * such fields are left out of the check, and the test asserts that enough fields were checked.
 */
function simulate(seed: number, mode: 'stream' | 'poll', steps: number, checked: { fields: number }): string | null {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const X: Doc = { ID: '1', STATUS: 'a', OWNER: 'a', FEE: 'a' };
  const Y: Doc = { ...X };
  let seen: Doc = { ...Y }; // the watcher's shadow
  const lastWriter: Record<string, 'engine' | 'person'> = {};
  const inFlight: Array<{ fields: Doc; intent: EchoIntent }> = [];
  let clock = 0;
  const conflicted = new Set<string>();
  const unobserved = new Set<string>(); // fields a person changed that the watcher has not seen yet
  let intents: EchoIntent[] = [];
  const log: string[] = [];
  const observe = () => {
    if (JSON.stringify(seen) === JSON.stringify(Y)) return;
    const e: ChangeEvent = { system: 'Y', collection: 'T', key: '1', op: 'update', before: { ...seen }, after: { ...Y }, ts: 0, ...(mode === 'poll' ? { readAt: ++clock } : {}) };
    const out = filterEcho(e, deltaForEvent(e), intents);
    intents = out.remaining;
    seen = { ...Y };
    unobserved.clear();
    log.push(`observe ${JSON.stringify(e.after)} -> ${JSON.stringify(out.delta?.changed ?? null)}`);
    if (out.delta) Object.assign(X, out.delta.changed); // the reverse pipeline writes it into X (its own echo is suppressed there)
  };
  const yChanged = () => { if (mode === 'stream') observe(); };
  const land = (w: { fields: Doc; intent: EchoIntent }) => {
    for (const [f, v] of Object.entries(w.fields)) if (Y[f] !== v) { Y[f] = v; lastWriter[f] = 'engine'; }
    // the sink acknowledged: the store marks the intent landed (the copy the watcher holds too)
    const landedAt = ++clock;
    w.intent.landedAt = landedAt;
    for (const i of intents) if (i.id === w.intent.id) i.landedAt = landedAt;
    // ... and writes the fields into the polling watcher's shadow (delivery.ts rememberWritten)
    if (mode === 'poll') seen = { ...seen, ...w.fields };
  };
  for (let s = 0; s < steps; s++) {
    const roll = r();
    if (roll < 0.3) {
      // X changes a field; the engine starts writing it into Y
      const f = pick(FIELDS);
      const v = pick(VALUES);
      if (X[f] === v) continue;
      X[f] = v;
      if (unobserved.has(f)) conflicted.add(f); // both sides changed f since the last sync
      const i = intent({ [f]: v }, { ...X });
      inFlight.push({ fields: { [f]: v }, intent: i });
      intents.push(i);
      log.push(`X ${f}=${v} (write starts)`);
    } else if (roll < 0.55 && inFlight.length) {
      land(inFlight.shift()!);
      log.push('write lands');
      yChanged();
    } else if (roll < 0.8) {
      const f = pick(FIELDS);
      const v = pick(VALUES);
      if (Y[f] === v) continue;
      Y[f] = v;
      lastWriter[f] = 'person';
      unobserved.add(f);
      if (inFlight.some((w) => Object.prototype.hasOwnProperty.call(w.fields, f))) conflicted.add(f);
      log.push(`person Y ${f}=${v}`);
      yChanged();
    } else observe();
  }
  while (inFlight.length) {
    land(inFlight.shift()!);
    yChanged();
  }
  observe();
  for (const f of FIELDS) {
    if (lastWriter[f] !== 'person' || conflicted.has(f)) continue;
    checked.fields++;
    if (X[f] !== Y[f]) return `seed ${seed} (${mode}): a person's ${f}=${String(Y[f])} never reached X (X has ${String(X[f])})\n  ${log.join('\n  ')}`;
  }
  return null;
}

test('property: random interleavings of our writes and people\'s edits on a link never lose a person\'s edit (change stream)', () => {
  const checked = { fields: 0 };
  for (let seed = 1; seed <= 3000; seed++) {
    const bad = simulate(seed, 'stream', 40, checked);
    if (bad) assert.fail(bad);
  }
  assert.ok(checked.fields > 1000, `enough person edits checked (${checked.fields})`);
});

test('property: the same with a polling watcher that sees only the current row now and then', () => {
  const checked = { fields: 0 };
  for (let seed = 1; seed <= 3000; seed++) {
    const bad = simulate(seed, 'poll', 40, checked);
    if (bad) assert.fail(bad);
  }
  assert.ok(checked.fields > 1000, `enough person edits checked (${checked.fields})`);
});

test('a polling read that began after our newer write was acknowledged: an older value is a person\'s', () => {
  const older = { ...intent({ FEE: 'c' }), landedAt: 10 };
  const newer = { ...intent({ FEE: 'b' }), landedAt: 20 };
  const e = { ...ev({ FEE: 'a' }, { FEE: 'c' }), readAt: 25 };
  assert.deepEqual(filterEcho(e, deltaForEvent(e), [older, newer]).delta?.changed, { FEE: 'c' });
  const early = { ...ev({ FEE: 'a' }, { FEE: 'c' }), readAt: 15 };
  assert.equal(filterEcho(early, deltaForEvent(early), [older, newer]).delta, null, 'read before the newer write landed: our older write');
});
