/** The command line as users meet it: demo, new, validate, status, dlq, --help. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/services.js';
import { Receiver } from '../helpers/receiver.js';
import { engineFromYaml } from '../helpers/engine-harness.js';
import { main } from '../../src/cli/main.js';
import { openStore } from '../../src/store/open-store.js';

test('demo --once: initial sync, two edits in the debounce window arrive as one delta, nothing lost during an outage', async () => {
  const tmp = tempDir();
  try {
    const r = await runCli(['demo', '--once', '--dir', path.join(tmp.dir, 'demo')], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /bridge B-0042: bridgeId="B-0042", name="MILL CREEK OVERPASS", nextDate="2026-12-01", status="active"/);
    assert.match(r.stdout, /-> 1 delivery for two edits/);
    assert.match(r.stdout, /bridge B-0042: nextDate="2027-03-01", status="pending"/);
    assert.match(r.stdout, /delivery of B-0107 failed \(attempt 1\).*ECONNREFUSED/);
    assert.match(r.stdout, /bridge B-0107: status="closed"/);
    assert.match(r.stdout, /Queue: 5 delivered, 0 pending, 0 dead\./);
    assert.ok(existsSync(path.join(tmp.dir, 'demo', 'demo.yaml')), 'the demo leaves its config for `hms-sync run`');
  } finally {
    tmp.cleanup();
  }
});

/** Runs main() in this process, capturing what it writes (help output needs no child process). */
async function mainInProcess(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => { out += String(chunk); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => { out += String(chunk); return true; }) as typeof process.stderr.write;
  try {
    return { code: await main(args), out };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

test('every command has --help and exits 0; an unknown command exits 2', async () => {
  const commands = [[], ['demo'], ['demo', 'edit'], ['run'], ['validate'], ['status'], ['jobs'], ['prune'], ['dlq'], ['dlq', 'list'], ['dlq', 'show'], ['dlq', 'replay'], ['dlq', 'discard'], ['dlq', 'audit'], ['new'], ['copybook'], ['copybook', 'layout'], ['copybook', 'decode'], ['copybook', 'encode']];
  for (const c of commands) {
    const r = await mainInProcess([...c, '--help']);
    assert.equal(r.code, 0, `${c.join(' ')} --help: ${r.out}`);
    assert.match(r.out, new RegExp(`Usage: hms-sync${c.length ? ` ${c.join(' ')}` : ''}`), c.join(' '));
  }
  const bad = await mainInProcess(['no-such-command']);
  assert.equal(bad.code, 2, 'unknown command is a usage error');
  assert.match(bad.out, /unknown command/);
});

test('new <system> scaffolds a translator plug-in whose test passes', async () => {
  const tmp = tempDir();
  try {
    const r = await runCli(['new', 'county-housing', '--json'], { cwd: tmp.dir });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.files.length, 4);
    const t = spawnSync(process.execPath, ['--test', '--test-reporter=tap', path.join(tmp.dir, 'connectors', 'county-housing', 'translate.test.mjs')], { encoding: 'utf8', env: { ...process.env, NODE_TEST_CONTEXT: undefined } });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    assert.match(t.stdout, /# pass 2/);
    const again = await runCli(['new', 'county-housing'], { cwd: tmp.dir });
    assert.equal(again.code, 2, 'refuses to overwrite');
    const badName = await runCli(['new', 'County_Housing'], { cwd: tmp.dir });
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /kebab-case/);
  } finally {
    tmp.cleanup();
  }
});

test('validate names file, line and field path of every error, and tests connections', async () => {
  const tmp = tempDir();
  try {
    const file = path.join(tmp.dir, 'bad.yaml');
    writeFileSync(file, `systems:
  legacy: { driver: sqlite, path: ${path.join(tmp.dir, 'x.db')} }
pipelines:
  p1:
    from: { system: legacy, collection: T }
    to: { system: nowhere, collection: U }
    key: ID
    debounse: 3s
`);
    const r = await runCli(['validate', file, '--json']);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.valid, false);
    const unknownSystem = out.issues.find((i: { path: string }) => i.path === 'pipelines.p1.to.system');
    assert.ok(unknownSystem, JSON.stringify(out.issues));
    assert.equal(unknownSystem.line, 6);
    assert.match(unknownSystem.message, /legacy/, 'lists the defined systems');
    assert.ok(out.issues.some((i: { path: string; line: number }) => /debounse/.test(i.path + JSON.stringify(i)) && i.line === 8), 'unknown key with its line');
    const human = await runCli(['validate', file]);
    assert.match(human.stdout, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:6:\\d+ pipelines\\.p1\\.to\\.system`));

    const good = path.join(tmp.dir, 'good.yaml');
    openDatabase(path.join(tmp.dir, 'x.db')).close();
    writeFileSync(good, `systems:
  legacy: { driver: sqlite, path: ${path.join(tmp.dir, 'x.db')} }
  web: { driver: http, url: http://127.0.0.1:9 }
pipelines:
  p1:
    from: { system: legacy, collection: T }
    to: { system: web, collection: U }
    key: ID
`);
    const ok = await runCli(['validate', good, '--no-connect']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const conn = await runCli(['validate', good, '--json']);
    const c = JSON.parse(conn.stdout);
    assert.equal(c.valid, true);
    assert.equal(c.systems.find((s: { name: string }) => s.name === 'web').ok, false, 'nothing listens on port 9');
    assert.equal(conn.code, 4, 'an unreachable system exits 4');
  } finally {
    tmp.cleanup();
  }
});

test('status and dlq: list, show, replay with an edit, discard, audit', async () => {
  const tmp = tempDir();
  const receiver = new Receiver();
  await receiver.start();
  receiver.respond = (r) => (r.body?.state?.STATUS === 'BAD' ? 422 : 200);
  const src = path.join(tmp.dir, 'legacy.db');
  const db = openDatabase(src);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE PERMITS (ID TEXT PRIMARY KEY, STATUS TEXT)');
  db.prepare('INSERT INTO PERMITS VALUES (?, ?)').run('1', 'BAD');
  db.prepare('INSERT INTO PERMITS VALUES (?, ?)').run('2', 'BAD');
  const store = `sqlite:${path.join(tmp.dir, 'state.db')}`;
  const config = path.join(tmp.dir, 'hms-sync.yaml');
  const yaml = `store: ${store}
stateDir: ${tmp.dir}
systems:
  county: { driver: sqlite, path: ${src} }
  web: { driver: http, url: ${receiver.url} }
pipelines:
  permits:
    from: { system: county, collection: PERMITS, poll: 50ms }
    to: { system: web, collection: permits, path: "/permits/{key}", body: delta }
    key: ID
`;
  writeFileSync(config, yaml);
  const engine = engineFromYaml(yaml);
  await engine.start();
  try {
    await waitFor(async () => (await engine.store.listJobs({ state: 'dead' })).length === 2, { what: 'two dead letters' });
    const status = await runCli(['status', config, '--json']);
    assert.equal(status.code, 1, 'dead letters exist: exit 1');
    const s = JSON.parse(status.stdout).find((x: { pipeline: string }) => x.pipeline === 'permits');
    assert.equal(s.dead, 2);
    assert.match(s.lastError, /422/);
    const jobs = JSON.parse((await runCli(['jobs', config, '--state', 'dead', '--json'])).stdout) as Array<{ attempts: number; lastError: string; runAt: number }>;
    assert.equal(jobs.length, 2);
    assert.ok(jobs.every((j) => j.attempts === 1 && /422/.test(j.lastError) && typeof j.runAt === 'number'), 'attempts, last error and next run are visible');
    const badState = await runCli(['jobs', config, '--state', 'sleeping']);
    assert.equal(badState.code, 2);
    assert.match(badState.stderr, /valid states are pending, running, done, dead/);
    const list = JSON.parse((await runCli(['dlq', 'list', '--config', config, '--json'])).stdout);
    assert.equal(list.length, 2);
    const id1 = list.find((j: { key: string }) => j.key === '1').id;
    const id2 = list.find((j: { key: string }) => j.key === '2').id;
    const show = await runCli(['dlq', 'show', id1, '--store', store]);
    assert.match(show.stdout, /last error: .*422/);
    const replay = await runCli(['dlq', 'replay', id1, '--config', config, '--set', 'STATUS=APPROVED'], { env: { HMS_SYNC_ACTOR: 'rosa' } });
    assert.equal(replay.code, 0, replay.stderr);
    await waitFor(() => receiver.requests.some((r) => r.url === '/permits/1' && r.body.state.STATUS === 'APPROVED'), { what: 'replayed job delivered with the edit' });
    const discard = await runCli(['dlq', 'discard', id2, '--config', config, '--reason', 'duplicate permit'], { env: { HMS_SYNC_ACTOR: 'rosa' } });
    assert.equal(discard.code, 0, discard.stderr);
    const again = await runCli(['dlq', 'replay', id2, '--config', config]);
    assert.notEqual(again.code, 0, 'a discarded job cannot be replayed');
    const missing = await runCli(['dlq', 'show', '999999', '--config', config]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /job 999999 does not exist/);
    await waitFor(async () => (await engine.store.stats()).some((x) => x.done >= 1), { what: 'a done job' });
    const pruneNone = JSON.parse((await runCli(['prune', config, '--older-than', '1h', '--json'])).stdout);
    assert.equal(pruneNone.deleted, 0, 'nothing is an hour old');
    const pruned = JSON.parse((await runCli(['prune', config, '--older-than', '0ms', '--json'])).stdout);
    assert.ok(pruned.deleted >= 1, 'done jobs are pruned');
    assert.equal((await engine.store.listJobs({ state: 'dead' })).length, 0, 'no dead letters remain (one replayed, one discarded)');
    const audit = JSON.parse((await runCli(['dlq', 'audit', '--config', config, '--json'])).stdout) as Array<{ actor: string; action: string; jobId: string }>;
    assert.ok(audit.some((a) => a.actor === 'rosa' && a.action === 'replay' && a.jobId === id1), JSON.stringify(audit));
    assert.ok(audit.some((a) => a.actor === 'rosa' && a.action === 'discard' && a.jobId === id2), JSON.stringify(audit));
  } finally {
    await engine.stop();
    db.close();
    await receiver.stop();
    tmp.cleanup();
  }
});

test('bad arguments and missing files are one-line errors with meaningful exit codes, never internal errors', async () => {
  const tmp = tempDir();
  try {
    const missingConfig = await runCli(['validate', path.join(tmp.dir, 'nope.yaml')]);
    assert.equal(missingConfig.code, 3, missingConfig.stderr);
    assert.match(missingConfig.stderr, /config file .*nope\.yaml not found/);

    const badLevel = await runCli(['run', path.join(tmp.dir, 'nope.yaml'), '--log-level', 'loud']);
    assert.equal(badLevel.code, 2, badLevel.stderr);
    assert.match(badLevel.stderr, /loud.*Allowed choices are fatal, error, warn, info, debug, trace, silent/s);

    const missingStore = path.join(tmp.dir, 'typo', 'state.db');
    const status = await runCli(['status', '--store', `sqlite:${missingStore}`]);
    assert.equal(status.code, 1, status.stderr);
    assert.match(status.stderr, /no state store at .*typo.*state\.db/);
    assert.equal(existsSync(path.dirname(missingStore)), false, 'a reading command does not create a store');

    const unreachable = await runCli(['status', '--store', 'postgres://postgres@127.0.0.1:1/test']);
    assert.equal(unreachable.code, 4, unreachable.stderr);
    assert.match(unreachable.stderr, /^hms-sync: cannot open the state store postgres:\/\/postgres@127\.0\.0\.1:1\/test .*ECONNREFUSED/);
    assert.doesNotMatch(unreachable.stderr, /internal error|\n\s+at /);

    const store = `sqlite:${path.join(tmp.dir, 'state.db')}`;
    await (await openStore(store)).close();
    const limit = await runCli(['dlq', 'list', '--store', store, '--limit', 'ten']);
    assert.equal(limit.code, 2, limit.stderr);
    assert.match(limit.stderr, /--limit "ten" is not valid; give a positive whole number/);

    const jsonErr = await runCli(['status', '--store', `sqlite:${missingStore}`, '--json']);
    assert.equal(jsonErr.code, 1, jsonErr.stderr);
    const parsed = JSON.parse(jsonErr.stdout) as { error: { code: string; message: string; exitCode: number } };
    assert.equal(parsed.error.exitCode, 1);
    assert.match(parsed.error.code, /^HMS_ERR_/);
    assert.match(parsed.error.message, /no state store at .*typo.*state\.db/, 'with --json the error is JSON on stdout too');

    const empty = await runCli(['status', '--store', store, '--json']);
    assert.equal(empty.code, 0, empty.stderr);
    assert.deepEqual(JSON.parse(empty.stdout), []);

    const config = path.join(tmp.dir, 'ok.yaml');
    writeFileSync(config, `store: ${store}\n`);
    const badEnvLevel = await runCli(['run', config], { env: { HMS_LOG_LEVEL: 'chatty' } });
    assert.equal(badEnvLevel.code, 3, badEnvLevel.stderr);
    assert.match(badEnvLevel.stderr, /log level "chatty" \(from \$HMS_LOG_LEVEL\) is not valid/);
    const nothing = await runCli(['run', config], { timeoutMs: 20_000 });
    assert.equal(nothing.code, 3, 'a config without pipelines does not sit idle forever');
    assert.match(nothing.stderr, /ok\.yaml has no pipelines: nothing to run/);
  } finally {
    tmp.cleanup();
  }
});
