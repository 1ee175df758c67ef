/**
 * The engine end to end over both stores: a real SQLite "legacy" table polled with per-row
 * fingerprints, mapping, debounce and coalescing, a real HTTP receiver as the target,
 * retries, per-key blocking, dead letters with the field path, replay, and echo suppression.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDatabase, type SqliteDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { needService, tempDir, waitFor } from '../helpers/services.js';
import { Receiver } from '../helpers/receiver.js';
import { engineFromYaml, STORES, storeUrl } from '../helpers/engine-harness.js';

function legacyDb(file: string) {
  const db = openDatabase(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE INSPECTIONS (BRG_ID TEXT PRIMARY KEY, NEXT_INSP_DT TEXT, CODE_STS TEXT)');
  return db;
}

function bridgeYaml(o: { store: string; dir: string; src: string; url: string; debounce?: string; maxAttempts?: number }) {
  return `store: ${o.store}
stateDir: ${o.dir}
systems:
  mainframe: { driver: sqlite, path: ${o.src} }
  dashboard: { driver: http, url: ${o.url} }
pipelines:
  bridges:
    from: { system: mainframe, collection: INSPECTIONS, poll: 50ms }
    to: { system: dashboard, collection: bridges, path: "/bridges/{key}", body: delta }
    key: BRG_ID
    map:
      bridgeId: BRG_ID
      nextDate: { from: NEXT_INSP_DT, convert: "date:yyyyMMdd" }
      status: { from: CODE_STS, values: { A: active, C: closed, P: pending } }
    debounce: ${o.debounce ?? '0ms'}
    delivery: { maxAttempts: ${o.maxAttempts ?? 5}, backoff: "exponential 20ms..100ms", timeout: 2s }
`;
}

for (const dialect of STORES) {
  describe(`engine on the ${dialect} store`, { skip: dialect === 'postgres' ? await needService('postgres') : false }, () => {
    let tmp: ReturnType<typeof tempDir>;
    let receiver: Receiver;
    before(async () => {
      tmp = tempDir();
      receiver = new Receiver();
      await receiver.start();
    });
    after(async () => {
      await receiver.stop();
      tmp.cleanup();
    });

    test('maps, debounces two edits into one delta, and delivers in order per key', async () => {
      const src = path.join(tmp.dir, `a-${dialect}.db`);
      const db = legacyDb(src);
      const st = storeUrl(dialect, tmp.dir);
      receiver.requests.length = 0;
      receiver.respond = () => 200;
      db.prepare('INSERT INTO INSPECTIONS VALUES (?, ?, ?)').run('B-1', '20261201', 'A');
      const engine = engineFromYaml(bridgeYaml({ store: st.url, dir: tmp.dir, src, url: receiver.url, debounce: '600ms' }));
      await engine.start();
      try {
        await waitFor(() => receiver.requests.length === 1, { what: 'initial insert' });
        assert.deepEqual(receiver.requests[0]!.body.state, { bridgeId: 'B-1', nextDate: '2026-12-01', status: 'active' });
        db.prepare('UPDATE INSPECTIONS SET NEXT_INSP_DT = ? WHERE BRG_ID = ?').run('20270301', 'B-1');
        await waitFor(async () => (await engine.store.stats()).some((s) => s.pending === 1), { what: 'first edit queued' });
        db.prepare('UPDATE INSPECTIONS SET CODE_STS = ? WHERE BRG_ID = ?').run('C', 'B-1');
        await waitFor(() => receiver.requests.length === 2, { what: 'coalesced update' });
        const r = receiver.requests[1]!;
        assert.equal(r.method, 'PUT');
        assert.deepEqual(r.body.changed, { nextDate: '2027-03-01', status: 'closed' }, 'one delta carries both edits');
        assert.ok(r.headers['idempotency-key'], 'idempotency key header');
        db.prepare('DELETE FROM INSPECTIONS WHERE BRG_ID = ?').run('B-1');
        await waitFor(() => receiver.requests.length === 3, { what: 'delete' });
        assert.equal(receiver.requests[2]!.method, 'DELETE');
        assert.equal(receiver.requests[2]!.url, '/bridges/B-1');
      } finally {
        await engine.stop();
        db.close();
        await st.cleanup();
      }
    });

    test('four delivery loops with a linger and a batching HTTP sink: bursts after idle spells all arrive, in order per key', async () => {
      const src = path.join(tmp.dir, `loops-${dialect}.db`);
      const db = openDatabase(src);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE ITEMS (ID INTEGER PRIMARY KEY, ROUND INTEGER)');
      const st = storeUrl(dialect, tmp.dir);
      receiver.requests.length = 0;
      receiver.respond = () => 200;
      const KEYS = 200;
      const setRound = db.transaction((round: number) => {
        const up = db.prepare('INSERT INTO ITEMS VALUES (?, ?) ON CONFLICT (ID) DO UPDATE SET ROUND = excluded.ROUND');
        for (let k = 1; k <= KEYS; k++) up.run(k, round);
      });
      const engine = engineFromYaml(`store: ${st.url}
stateDir: ${tmp.dir}
systems:
  legacy: { driver: sqlite, path: ${src} }
  web: { driver: http, url: ${receiver.url} }
pipelines:
  items:
    from: { system: legacy, collection: ITEMS, poll: 20ms }
    to: { system: web, collection: items, path: /items/batch, body: state, batch: { maxItems: 10 } }
    key: ID
    linger: 10ms
    delivery: { concurrency: 4, batchSize: 25, timeout: 2s }
`);
      const seen = new Map<number, number[]>();
      const collect = () => {
        seen.clear();
        for (const r of receiver.requests) for (const it of r.body.items as Array<{ key: string; state: { ID: number; ROUND: number } }>) {
          const list = seen.get(it.state.ID) ?? [];
          list.push(it.state.ROUND);
          seen.set(it.state.ID, list);
        }
      };
      await engine.start();
      try {
        for (const round of [1, 2, 3]) {
          setRound(round);
          await waitFor(() => {
            collect();
            return seen.size === KEYS && [...seen.values()].every((l) => l.at(-1) === round);
          }, { what: `round ${round} delivered for all ${KEYS} keys`, timeoutMs: 20_000 });
          await new Promise((r) => setTimeout(r, 300)); // an idle spell: every loop parks
        }
        collect();
        for (const [id, rounds] of seen) assert.deepEqual(rounds, [...rounds].sort((a, b) => a - b), `key ${id} received rounds out of order: ${rounds.join(',')}`);
        assert.ok(receiver.requests.every((r) => r.url === '/items/batch' && r.body.items.length <= 10));
        assert.ok(receiver.requests.length < KEYS * 3, 'batched: fewer requests than changes');
        const stats = await engine.store.stats();
        assert.equal(stats.reduce((n, s) => n + s.pending + s.running + s.retrying + s.dead, 0), 0, 'nothing left pending, running, retrying or dead');
      } finally {
        await engine.stop();
        db.close();
        await st.cleanup();
      }
    });

    test('a failing key blocks only itself; a permanent error and a mapping error dead-letter at once', async () => {
      const src = path.join(tmp.dir, `b-${dialect}.db`);
      const db = legacyDb(src);
      const st = storeUrl(dialect, tmp.dir);
      receiver.requests.length = 0;
      // B-2 is refused with 503 until told otherwise; B-3 gets 422 (permanent)
      let b2Down = true;
      receiver.respond = (r) => (r.url.endsWith('/B-2') && b2Down ? 503 : r.url.endsWith('/B-3') ? 422 : 200);
      const ins = db.prepare('INSERT INTO INSPECTIONS VALUES (?, ?, ?)');
      ins.run('B-1', '20261201', 'A');
      ins.run('B-2', '20261202', 'A');
      ins.run('B-3', '20261203', 'A');
      ins.run('B-4', '20261204', 'X'); // unknown code: mapping error
      const engine = engineFromYaml(bridgeYaml({ store: st.url, dir: tmp.dir, src, url: receiver.url, maxAttempts: 1000 }));
      await engine.start();
      try {
        await waitFor(() => receiver.requests.some((r) => r.url.endsWith('/B-1')), { what: 'B-1 delivered' });
        db.prepare('UPDATE INSPECTIONS SET CODE_STS = ? WHERE BRG_ID = ?').run('C', 'B-2'); // queued behind the failing job
        db.prepare('UPDATE INSPECTIONS SET CODE_STS = ? WHERE BRG_ID = ?').run('C', 'B-1'); // other keys keep flowing
        await waitFor(() => receiver.requests.filter((r) => r.url.endsWith('/B-1')).length === 2, { what: 'B-1 update while B-2 retries' });
        const dead = await waitFor(async () => {
          const d = await engine.store.listJobs({ state: 'dead' });
          return d.length === 2 ? d : null;
        }, { what: 'two dead letters' });
        const b3 = dead.find((j) => j.key === 'B-3')!;
        const b4 = dead.find((j) => j.key === 'B-4')!;
        assert.equal(b3.attempts, 1, 'a 4xx dead-letters at the first attempt');
        assert.match(b3.lastError ?? '', /422/);
        assert.match(b4.lastError ?? '', /status/, 'mapping error names the field');
        assert.match(b4.lastError ?? '', /"X"/, 'and the bad value');
        const b2Head = await waitFor(async () => (await engine.store.listJobs({ pipeline: 'bridges', state: 'pending' })).find((j) => j.key === 'B-2' && j.attempts >= 2), { what: 'B-2 retrying' });
        assert.match(b2Head.lastError ?? '', /503/, 'last error recorded');
        const stats = (await engine.store.stats()).find((s) => s.pipeline === 'bridges')!;
        assert.equal(stats.dead, 2);
        // B-2 recovers. The update made while its insert was failing either merged into that job
        // (waiting for a retry: one POST with the newest state) or, when the insert was in flight at
        // that moment, queued behind it (POST active, then PUT closed): in order either way.
        b2Down = false;
        const recoveredAt = receiver.requests.length;
        await waitFor(() => receiver.requests.slice(recoveredAt).some((r) => r.url.endsWith('/B-2') && r.body.state?.status === 'closed'), { what: 'B-2 catches up' });
        const b2 = receiver.requests.slice(recoveredAt).filter((r) => r.url.endsWith('/B-2')).map((r) => `${r.method} ${r.body.state.status}`);
        assert.ok(['POST closed', 'POST active,PUT closed'].includes(b2.join(',')), `B-2 deliveries in order: ${b2.join(', ')}`);
        // replay the mapping failure with a fixed payload
        const fixed = { ...b4.payload, state: { ...b4.payload.state, CODE_STS: 'P' }, changed: { ...b4.payload.changed, CODE_STS: 'P' } };
        await engine.store.replay(b4.id, { actor: 'test', payload: fixed });
        await waitFor(() => receiver.requests.some((r) => r.url.endsWith('/B-4') && r.body.state?.status === 'pending'), { what: 'replayed B-4' });
        const audit = await engine.store.listAudit(10);
        assert.ok(audit.some((a) => a.action === 'replay' && a.jobId === b4.id && a.actor === 'test'), 'replay is audited');
      } finally {
        await engine.stop();
        db.close();
        await st.cleanup();
      }
    });

    test('a transient error is retried with backoff and dead-lettered after maxAttempts, with the attempts and the error', async () => {
      const src = path.join(tmp.dir, `m-${dialect}.db`);
      const db = legacyDb(src);
      const st = storeUrl(dialect, tmp.dir);
      receiver.requests.length = 0;
      receiver.respond = (r) => (r.url.endsWith('/M-1') ? 503 : 200);
      db.prepare('INSERT INTO INSPECTIONS VALUES (?, ?, ?)').run('M-1', '20261201', 'A');
      const engine = engineFromYaml(bridgeYaml({ store: st.url, dir: tmp.dir, src, url: receiver.url, maxAttempts: 3 }));
      await engine.start();
      try {
        const dead = await waitFor(async () => (await engine.store.listJobs({ state: 'dead' })).find((j) => j.key === 'M-1'), { what: 'M-1 dead-lettered' });
        assert.equal(dead.attempts, 3);
        assert.equal(dead.maxAttempts, 3);
        assert.match(dead.lastError ?? '', /^gave up after 3 attempts: .*HTTP 503/);
        const tries = receiver.requests.filter((r) => r.url.endsWith('/M-1'));
        assert.equal(tries.length, 3, 'one request per attempt');
        for (let i = 1; i < tries.length; i++) assert.ok(tries[i]!.at > tries[i - 1]!.at, 'attempts are spaced by the backoff');
        assert.equal(new Set(tries.map((r) => r.headers['idempotency-key'])).size, 1, 'every retry of one job version carries the same idempotency key');
      } finally {
        await engine.stop();
        db.close();
        await st.cleanup();
      }
    });

    test('bidirectional link: our own writes are not echoed back, but a chained pipeline still relays them', async () => {
      const [a, b] = twoSides(tmp.dir, `echo-${dialect}`, 'CREATE TABLE PERMITS (ID TEXT PRIMARY KEY, STATUS TEXT)');
      const st = storeUrl(dialect, tmp.dir);
      const engine = engineFromYaml(`store: ${st.url}
stateDir: ${tmp.dir}
systems:
  county: { driver: sqlite, path: ${a} }
  hms: { driver: sqlite, path: ${b} }
pipelines:
  to-hms: { from: { system: county, collection: PERMITS, poll: 50ms }, to: { system: hms, collection: PERMITS }, key: ID, delivery: { backoff: "exponential 20ms..100ms" } }
  to-county: { from: { system: hms, collection: PERMITS, poll: 50ms }, to: { system: county, collection: PERMITS }, key: ID, delivery: { backoff: "exponential 20ms..100ms" } }
  to-dashboard: { from: { system: hms, collection: PERMITS, poll: 50ms }, to: { system: dashboard, collection: permits, path: "/permits/{key}", body: state }, key: ID, delivery: { backoff: "exponential 20ms..100ms" } }
`.replace('systems:\n', `systems:\n  dashboard: { driver: http, url: ${receiver.url} }\n`));
      receiver.requests.length = 0;
      receiver.respond = () => 200;
      let toCounty = 0;
      let echoes = 0;
      engine.on('job:done', ({ job }) => { if (job.pipeline === 'to-county') toCounty++; });
      engine.on('source:batch', (b) => { if (b.pipeline === 'to-county') echoes += b.suppressed; });
      await engine.start();
      const dbA = openDatabase(a);
      const dbB = openDatabase(b);
      try {
        dbA.prepare('INSERT INTO PERMITS VALUES (?, ?)').run('123', 'PENDING');
        await waitFor(() => dbB.prepare('SELECT STATUS FROM PERMITS WHERE ID = ?').get('123'), { what: 'county -> hms' });
        dbA.prepare('UPDATE PERMITS SET STATUS = ? WHERE ID = ?').run('APPROVED', '123');
        await waitFor(() => (dbB.prepare('SELECT STATUS FROM PERMITS WHERE ID = ?').get('123') as { STATUS: string }).STATUS === 'APPROVED', { what: 'update reaches hms' });
        // the reverse pipeline either saw the written row and dropped it as an echo (consuming the
        // intent), or the acknowledged write reached its shadow first and it saw no change at all
        await waitFor(async () => {
          const live = (await engine.store.getIntents('to-county', ['123'], 0)).get('123') ?? [];
          return live.every((i) => i.landedAt !== null);
        }, { what: 'the write intents to be landed or consumed' });
        const seen = await engine.store.getShadow('pipeline:to-county', ['123']);
        assert.ok(echoes >= 1 || seen.get('123')?.doc?.STATUS === 'APPROVED', 'the echo was suppressed or the write is in the watcher\'s shadow');
        await new Promise((r) => setTimeout(r, 300)); // several polls of the reverse pipeline
        assert.equal(toCounty, 0, 'nothing was sent back to the county');
        const jobs = await engine.store.listJobs({ pipeline: 'to-county' });
        assert.equal(jobs.length, 0, 'no job was queued for the county');
        // the chained pipeline hms -> dashboard relays what county -> hms wrote (it is not an echo for it)
        await waitFor(() => receiver.requests.some((r) => r.url === '/permits/123' && r.body?.STATUS === 'APPROVED'), { what: 'county -> hms -> dashboard' });
        // a genuine change on the modern side flows back
        dbB.prepare('UPDATE PERMITS SET STATUS = ? WHERE ID = ?').run('REVOKED', '123');
        await waitFor(() => (dbA.prepare('SELECT STATUS FROM PERMITS WHERE ID = ?').get('123') as { STATUS: string }).STATUS === 'REVOKED', { what: 'hms -> county' });
        await waitFor(() => toCounty === 1, { what: 'the genuine change counted once' });
      } finally {
        await engine.stop();
        dbA.close();
        dbB.close();
        await st.cleanup();
      }
    });

    test('bidirectional link: two pipelines each write one field into a collection that two pipelines watch: nothing is sent back', async () => {
      const keys = Array.from({ length: 12 }, (_, i) => `K${i}`);
      const [a, b] = twoSides(tmp.dir, `echo3-${dialect}`, 'CREATE TABLE PERMITS (ID TEXT PRIMARY KEY, STATUS TEXT, OWNER TEXT)', (db) => {
        for (const k of keys) db.prepare('INSERT INTO PERMITS VALUES (?, ?, ?)').run(k, 'PENDING', 'ann');
      });
      const st = storeUrl(dialect, tmp.dir);
      const engine = engineFromYaml(`store: ${st.url}
stateDir: ${tmp.dir}
systems:
  county: { driver: sqlite, path: ${a} }
  hms: { driver: sqlite, path: ${b} }
pipelines:
  status-to-hms: { from: { system: county, collection: PERMITS, poll: 40ms }, to: { system: hms, collection: PERMITS }, key: ID, map: { ID: ID, STATUS: STATUS }, delivery: { backoff: "exponential 20ms..100ms" } }
  owner-to-hms: { from: { system: county, collection: PERMITS, poll: 70ms }, to: { system: hms, collection: PERMITS }, key: ID, map: { ID: ID, OWNER: OWNER }, delivery: { backoff: "exponential 20ms..100ms" } }
  status-to-county: { from: { system: hms, collection: PERMITS, poll: 30ms }, to: { system: county, collection: PERMITS }, key: ID, map: { ID: ID, STATUS: STATUS }, delivery: { backoff: "exponential 20ms..100ms" } }
  owner-to-county: { from: { system: hms, collection: PERMITS, poll: 50ms }, to: { system: county, collection: PERMITS }, key: ID, map: { ID: ID, OWNER: OWNER }, delivery: { backoff: "exponential 20ms..100ms" } }
`);
      const sentBack: Array<Record<string, unknown>> = [];
      engine.on('job:done', ({ job, skipped }) => { if (job.pipeline.endsWith('-to-county') && !skipped) sentBack.push({ pipeline: job.pipeline, ...job.payload.changed }); });
      await engine.start();
      const dbA = openDatabase(a);
      const dbB = openDatabase(b);
      try {
        await waitFor(async () => (await engine.store.stats()).every((s) => s.pending + s.running + s.retrying === 0) && (await engine.store.getShadow('pipeline:owner-to-county', keys)).size === keys.length, { what: 'the initial sync to settle' });
        sentBack.length = 0;
        const t0 = Date.now();
        for (const k of keys) dbA.prepare('UPDATE PERMITS SET STATUS = ?, OWNER = ? WHERE ID = ?').run('APPROVED', `owner-${k}`, k);
        await waitFor(() => keys.every((k) => {
          const r = dbB.prepare('SELECT STATUS, OWNER FROM PERMITS WHERE ID = ?').get(k) as { STATUS: string; OWNER: string };
          return r.STATUS === 'APPROVED' && r.OWNER === `owner-${k}`;
        }), { what: 'both fields of every row to reach hms', timeoutMs: 20_000 }).catch((err: Error) => {
          const rows = dbB.prepare('SELECT * FROM PERMITS ORDER BY ID').all();
          const county = dbA.prepare('SELECT * FROM PERMITS ORDER BY ID').all();
          throw new Error(`${err.message}\nhms: ${JSON.stringify(rows)}\ncounty: ${JSON.stringify(county)}\nsent back: ${JSON.stringify(sentBack)}`);
        });
        await new Promise((r) => setTimeout(r, 400)); // several polls of the reverse pipeline
        assert.deepEqual(sentBack, [], 'nothing of our own writes was sent back to the county');
        for (const pipeline of ['status-to-county', 'owner-to-county']) {
          assert.deepEqual((await engine.store.listJobs({ pipeline })).filter((j) => j.createdAt >= t0).map((j) => j.payload.changed), [], `no job was queued for the county by ${pipeline}`);
        }
      } finally {
        await engine.stop();
        dbA.close();
        dbB.close();
        await st.cleanup();
      }
    });

    test('bidirectional link: a person changes OWNER while we write STATUS: OWNER reaches the other side, STATUS is not sent back', async () => {
      const [a, b] = twoSides(tmp.dir, `echo2-${dialect}`, "CREATE TABLE PERMITS (ID TEXT PRIMARY KEY, STATUS TEXT, OWNER TEXT); INSERT INTO PERMITS VALUES ('123', 'PENDING', 'ann')");
      // the person's edit lands in the very transaction of our write (a trigger stands in for them),
      // so no poll can see one without the other
      const hmsDb = openDatabase(b);
      hmsDb.exec("CREATE TRIGGER person AFTER UPDATE OF STATUS ON PERMITS WHEN NEW.STATUS = 'APPROVED' AND OLD.OWNER = 'ann' BEGIN UPDATE PERMITS SET OWNER = 'bob' WHERE ID = NEW.ID; END");
      hmsDb.close();
      const st = storeUrl(dialect, tmp.dir);
      const engine = engineFromYaml(`store: ${st.url}
stateDir: ${tmp.dir}
systems:
  county: { driver: sqlite, path: ${a} }
  hms: { driver: sqlite, path: ${b} }
pipelines:
  to-hms: { from: { system: county, collection: PERMITS, poll: 50ms }, to: { system: hms, collection: PERMITS }, key: ID, delivery: { backoff: "exponential 20ms..100ms" } }
  to-county: { from: { system: hms, collection: PERMITS, poll: 50ms }, to: { system: county, collection: PERMITS }, key: ID, delivery: { backoff: "exponential 20ms..100ms" } }
`);
      const sentBack: Array<Record<string, unknown>> = [];
      engine.on('job:done', ({ job }) => { if (job.pipeline === 'to-county') sentBack.push(job.payload.changed); });
      await engine.start();
      const dbA = openDatabase(a);
      try {
        // both sides start in step (the initial rows are synced both ways and recognised)
        await waitFor(async () => (await engine.store.stats()).every((s) => s.pending + s.running + s.retrying === 0) && (await engine.store.getShadow('pipeline:to-county', ['123'])).size === 1, { what: 'the initial sync to settle' });
        sentBack.length = 0;
        dbA.prepare('UPDATE PERMITS SET STATUS = ? WHERE ID = ?').run('APPROVED', '123');
        await waitFor(() => (dbA.prepare('SELECT OWNER FROM PERMITS WHERE ID = ?').get('123') as { OWNER: string }).OWNER === 'bob', { what: "the person's OWNER edit to reach the county" });
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((dbA.prepare('SELECT STATUS FROM PERMITS WHERE ID = ?').get('123') as { STATUS: string }).STATUS, 'APPROVED');
        assert.ok(sentBack.length >= 1);
        for (const changed of sentBack) assert.ok(!('STATUS' in changed), `our own STATUS write was sent back: ${JSON.stringify(changed)}`);
      } finally {
        await engine.stop();
        dbA.close();
        await st.cleanup();
      }
    });
  });
}

test('a locked state store while results are recorded does not stop the engine: the job is delivered again after its lease', async () => {
  const tmp = tempDir();
  const receiver = new Receiver();
  await receiver.start();
  const stateFile = path.join(tmp.dir, 'state.db');
  const src = path.join(tmp.dir, 'legacy.db');
  const db = legacyDb(src);
  db.prepare('INSERT INTO INSPECTIONS VALUES (?, ?, ?)').run('B-9', '20261201', 'A');
  const { openStore } = await import('../../src/store/open-store.js');
  const store = await openStore(`sqlite:${stateFile}`, { busyTimeoutMs: 100 });
  const { parseConfig } = await import('../../src/config/load-config.js');
  const { createEngine } = await import('../../src/engine/engine.js');
  const { silentLogger } = await import('../../src/core/log.js');
  const { config } = parseConfig(bridgeYaml({ store: `sqlite:${stateFile}`, dir: tmp.dir, src, url: receiver.url }).replace('timeout: 2s }', 'timeout: 300ms, lease: 600ms }'), { env: process.env });
  const engine = createEngine({ config: config!, store, logger: silentLogger(), idlePollMs: 50 });
  const locker = openDatabase(stateFile);
  let locked = false;
  receiver.respond = () => {
    if (!locked) {
      // another process takes the store's write lock just as the delivery succeeds
      locked = true;
      locker.exec('BEGIN EXCLUSIVE');
      setTimeout(() => locker.exec('COMMIT'), 700);
    }
    return 200;
  };
  let workerErrors = 0;
  engine.on('worker:error', () => workerErrors++);
  await engine.start();
  try {
    await waitFor(() => workerErrors >= 1, { what: 'the failed ack to be reported' });
    await waitFor(async () => (await engine.store.stats()).some((s) => s.done === 1), { what: 'the job to be delivered again and acked' });
    assert.ok(receiver.requests.length >= 2, 'delivered again after the lease expired');
    const keys = new Set(receiver.requests.map((r) => r.headers['idempotency-key']));
    assert.equal(keys.size, 1, 'the redelivery carries the same idempotency key');
  } finally {
    await engine.stop();
    await store.close();
    locker.close();
    db.close();
    await receiver.stop();
    tmp.cleanup();
  }
});

/** Two SQLite files (both sides of a link) with the same schema (and rows). */
function twoSides(dir: string, name: string, ddl: string, fill?: (db: SqliteDatabase) => void): [string, string] {
  const files: [string, string] = [path.join(dir, `${name}-a.db`), path.join(dir, `${name}-b.db`)];
  for (const f of files) {
    const db = openDatabase(f);
    db.pragma('journal_mode = WAL');
    db.exec(ddl);
    fill?.(db);
    db.close();
  }
  return files;
}
