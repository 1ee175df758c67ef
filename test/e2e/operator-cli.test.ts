/**
 * Operator commands as an operator meets them (issue 11, items 11 and 13): `status`, `jobs` and
 * `dlq` need only the store (an unset delivery secret does not stop them), `dlq` takes the config
 * as an argument, bad job ids are usage errors, table cells are not cut mid-word, a replayed and
 * delivered job no longer shows its old error, `hms-sync` alone prints help on stdout, and
 * `new` refuses a built-in driver's name. Every command runs as a child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDatabase, type SqliteDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { runCli, startRun } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/services.js';
import { Receiver } from '../helpers/receiver.js';

interface Job { id: string; key: string; state: string; version: number; createdAt: number; lastError: string | null; pipeline: string }

/** A SQLite "legacy" table delivered to a real HTTP receiver that rejects STATUS=BAD with 422. */
async function fixture(opts: { secretVar: string; longError?: boolean }) {
  const tmp = tempDir('hms-op-cli-');
  const receiver = new Receiver();
  await receiver.start();
  receiver.respond = (r) => (r.body?.state?.STATUS === 'BAD' ? 422 : 200);
  if (opts.longError) receiver.errorBody = '{"error":"the permit cannot be approved while the inspection of its bridge is still open"}';
  const src = path.join(tmp.dir, 'legacy.db');
  const db: SqliteDatabase = openDatabase(src);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE PERMITS (ID TEXT PRIMARY KEY, STATUS TEXT)');
  const config = path.join(tmp.dir, 'ops.yaml');
  writeFileSync(config, `store: sqlite:./state.db
stateDir: ./state
systems:
  county: { driver: sqlite, path: ${src} }
  web:
    driver: http
    url: ${receiver.url}
    headers: { authorization: "Bearer \${env:${opts.secretVar}}" }
pipelines:
  permits:
    from: { system: county, collection: PERMITS, poll: 50ms }
    to: { system: web, collection: permits, path: "/permits/{key}", body: delta }
    key: ID
    delivery: { backoff: "fixed 100ms" }
`);
  return {
    tmp, receiver, db, config,
    async cleanup() {
      db.close();
      await receiver.stop();
      tmp.cleanup();
    },
  };
}

test('status, jobs and dlq work while a delivery secret\'s variable is unset; run still names it; dlq takes the config as an argument', async () => {
  const secretVar = `HMS_TEST_TOKEN_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  assert.equal(process.env[secretVar], undefined);
  const f = await fixture({ secretVar });
  const run = startRun(f.config, { env: { [secretVar]: 's3cret-token' } });
  try {
    f.db.prepare('INSERT INTO PERMITS VALUES (?, ?)').run('1', 'BAD');
    f.db.prepare('INSERT INTO PERMITS VALUES (?, ?)').run('2', 'OK');
    await waitFor(() => f.receiver.requests.filter((r) => r.url.startsWith('/permits/')).length >= 2, { what: 'both permits sent', timeoutMs: 30_000 });
    assert.ok(f.receiver.requests.every((r) => r.headers.authorization === 'Bearer s3cret-token'), 'run resolved the secret');

    // the operator's shell does not have the delivery secret
    const env = { [secretVar]: undefined as unknown as string };
    const status = await waitFor(async () => {
      const r = await runCli(['status', f.config, '--json'], { env, cwd: f.tmp.dir });
      return r.code === 1 ? r : null;
    }, { what: 'status reports the dead letter', timeoutMs: 20_000 });
    assert.equal(JSON.parse(status.stdout)[0].dead, 1, status.stdout);
    assert.doesNotMatch(status.stderr, new RegExp(secretVar));

    const jobs = await runCli(['jobs', f.config, '--json'], { env });
    assert.equal(jobs.code, 0, jobs.stderr);
    assert.equal((JSON.parse(jobs.stdout) as Job[]).length, 2);

    for (const args of [['dlq', 'list', f.config, '--json'], ['dlq', 'list', '--config', f.config, '--json'], ['dlq', 'list', '-c', f.config, f.config, '--json']]) {
      const r = await runCli(args, { env });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      const list = JSON.parse(r.stdout) as Job[];
      assert.deepEqual(list.map((j) => j.key), ['1'], args.join(' '));
    }
    const list = JSON.parse((await runCli(['dlq', 'list', f.config, '--json'], { env })).stdout) as Job[];
    const id = list[0]!.id;
    const show = await runCli(['dlq', 'show', id, f.config], { env });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /last error: .*422/);
    const swapped = await runCli(['dlq', 'show', f.config, id, '--json'], { env });
    assert.equal(swapped.code, 0, `config first, id second works too: ${swapped.stderr}`);
    assert.equal(JSON.parse(swapped.stdout).id, id);
    const audit = await runCli(['dlq', 'audit', f.config, '--json'], { env });
    assert.equal(audit.code, 0, audit.stderr);
    const review = await runCli(['review', 'list', f.config, '--json'], { env });
    assert.equal(review.code, 0, `the review queue needs only the store too: ${review.stderr}`);
    assert.deepEqual(JSON.parse(review.stdout), []);
    const two = await runCli(['dlq', 'list', f.config, '--config', path.join(f.tmp.dir, 'other.yaml')], { env });
    assert.equal(two.code, 2, 'two different configs is a usage error');
    assert.match(two.stderr, /two configuration files given/);

    // the secret is still required where it is used
    const runNoSecret = await runCli(['run', f.config], { env, timeoutMs: 30_000 });
    assert.equal(runNoSecret.code, 3, runNoSecret.stderr);
    assert.match(runNoSecret.stderr, new RegExp(`environment variable "${secretVar}" is not set`));
    const validate = await runCli(['validate', f.config, '--no-connect'], { env });
    assert.equal(validate.code, 3, validate.stderr);

    // a store that itself comes from an unset variable is still an error, with the line
    const storeFromEnv = path.join(f.tmp.dir, 'store-env.yaml');
    writeFileSync(storeFromEnv, `# store from the environment\nstore: \${env:${secretVar}_STORE}\n`);
    const noStore = await runCli(['status', storeFromEnv], { env });
    assert.equal(noStore.code, 3, noStore.stderr);
    assert.match(noStore.stderr, new RegExp(`store-env\\.yaml:2 store: environment variable "${secretVar}_STORE" is not set`));
  } finally {
    run.kill('SIGKILL');
    await f.cleanup();
  }
});

test('dlq show abc exits 2; lastError cells end at a word; a replayed, delivered job shows no old error; hms-sync alone prints help on stdout', async () => {
  const secretVar = `HMS_TEST_TOKEN_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const f = await fixture({ secretVar, longError: true });
  const run = startRun(f.config, { env: { [secretVar]: 't' } });
  try {
    for (const args of [['dlq', 'show', 'abc', f.config], ['dlq', 'replay', '0', f.config], ['dlq', 'discard', '1.5', '--config', f.config]]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /job id ".*" is not valid; a job id is a positive whole number/);
    }

    f.db.prepare('INSERT INTO PERMITS VALUES (?, ?)').run('P-1', 'BAD');
    const dead = await waitFor(async () => {
      const r = await runCli(['dlq', 'list', f.config, '--json']);
      const l = r.code === 0 ? (JSON.parse(r.stdout) as Job[]) : [];
      return l.length === 1 ? l[0] : null;
    }, { what: 'a dead letter', timeoutMs: 30_000 });
    const full = dead.lastError!;
    assert.ok(full.length > 90, `the error is long enough to be shortened: ${full}`);

    // every table that shows the error cuts it between words, marked with an ellipsis
    for (const args of [['dlq', 'list', f.config], ['jobs', f.config], ['status', f.config]]) {
      const r = await runCli(args);
      const line = r.stdout.split('\n').find((l) => l.includes('answered'));
      assert.ok(line, `${args.join(' ')} shows the error: ${r.stdout}`);
      const cell = line.slice(line.indexOf(full.slice(0, 10)));
      assert.ok(cell.endsWith('…'), `${args.join(' ')}: shortened with an ellipsis: ${cell}`);
      const kept = cell.slice(0, -1);
      assert.ok(full.startsWith(kept), `${args.join(' ')}: a prefix of the error: ${cell}`);
      assert.match(full.slice(kept.length), /^[\s,;:.-]/, `${args.join(' ')}: cut between words, not inside one: "${cell}" of "${full}"`);
    }

    // replay with a fix: once delivered, the job carries no last error (the audit keeps it)
    const replay = await runCli(['dlq', 'replay', dead.id, f.config, '--set', 'STATUS=OK'], { env: { HMS_SYNC_ACTOR: 'op-test' } });
    assert.equal(replay.code, 0, replay.stderr);
    const done = await waitFor(async () => {
      const jobs = JSON.parse((await runCli(['jobs', f.config, '--json'])).stdout) as Job[];
      const j = jobs.find((x) => x.id === dead.id);
      return j?.state === 'done' ? j : null;
    }, { what: 'the replayed job delivered', timeoutMs: 30_000 });
    assert.equal(done.lastError, null, 'a delivered job does not show the error of its dead attempt as current');
    const table = await runCli(['jobs', f.config]);
    assert.doesNotMatch(table.stdout, /422/, table.stdout);
    const audit = JSON.parse((await runCli(['dlq', 'audit', f.config, '--json'])).stdout) as Array<{ action: string; jobId: string; details: { lastError?: string } }>;
    assert.match(audit.find((a) => a.action === 'replay' && a.jobId === dead.id)?.details.lastError ?? '', /422/, 'the audit log keeps the old error');
    const status = await runCli(['status', f.config, '--json']);
    assert.equal(status.code, 0, status.stdout);
    assert.equal(JSON.parse(status.stdout)[0].lastError, null);
  } finally {
    run.kill('SIGKILL');
    await f.cleanup();
  }

  const help = await runCli([]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: hms-sync \[options\] \[command\]/);
  assert.match(help.stdout, /\bstatus\b.*\n[\s\S]*\bdlq\b/);
  assert.equal(help.stderr, '');
});

test('new refuses the name of a built-in driver, and a plug-in cannot replace one', async () => {
  const tmp = tempDir('hms-op-new-');
  try {
    for (const name of ['sqlite', 'http', 'postgres']) {
      const r = await runCli(['new', name], { cwd: tmp.dir });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`"${name}" is a built-in driver .* would shadow it.*county-${name}`));
      assert.equal(existsSync(path.join(tmp.dir, 'connectors', name)), false, 'nothing written');
    }
    const ok = await runCli(['new', 'county-sqlite'], { cwd: tmp.dir });
    assert.equal(ok.code, 0, ok.stderr);

    // a plug-in that registers a built-in driver's name: a config error, not a silent takeover
    writeFileSync(path.join(tmp.dir, 'fake-http.mjs'), "export default { driver: 'http', description: 'not the real one', testConnection: async () => {} };\n");
    writeFileSync(path.join(tmp.dir, 'c.yaml'), 'plugins: [./fake-http.mjs]\n');
    const v = await runCli(['validate', path.join(tmp.dir, 'c.yaml'), '--no-connect'], { cwd: tmp.dir });
    assert.equal(v.code, 3, v.stderr);
    assert.match(v.stderr, /registers driver "http", which is built in/);
  } finally {
    tmp.cleanup();
  }
});
