/**
 * On a real server at wal_level = replica, a logical-replication pipeline stops with a message
 * naming the setting, its value and what to run, both from the source and from the CLI.
 */
import { withSnapshot } from '../../src/engine/snapshot.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { PermanentError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import type { Source } from '../../src/connectors/contract.js';
import { postgresConnector } from '../../src/connectors/postgres/postgres-connector.js';
import { runCli } from '../helpers/cli.js';
import { startReplicaCluster, type ReplicaCluster } from '../helpers/pg-replica.js';
import { tempDir } from '../helpers/services.js';

const started = await startReplicaCluster();
const skip = started.skip;
const cluster: ReplicaCluster | null = started.cluster;
const tmp = tempDir();
const WANTED = /PostgreSQL at 127\.0\.0\.1:\d+\/test runs with wal_level = replica, but logical replication needs wal_level = logical\. As a superuser run: ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL .*max_replication_slots \(now 3\) and max_wal_senders \(now 3\).*or use mode: poll/;

before(async () => {
  if (!cluster) return;
  const c = new pg.Client({ connectionString: cluster.url });
  await c.connect();
  await c.query('CREATE TABLE permit (id int PRIMARY KEY, v text)');
  await c.end();
});
after(async () => {
  await cluster?.stop();
  tmp.cleanup();
});

/** A config file in tmp with its own store, the replica-level server as system `legacy`, and the given systems and pipelines. */
function configFile(name: string, systems: string, pipelines: string): string {
  const file = path.join(tmp.dir, `${name}.yaml`);
  writeFileSync(file, `store: sqlite:${path.join(tmp.dir, `${name}-state.db`)}
stateDir: ${path.join(tmp.dir, `${name}-state`)}
systems:
  legacy: { driver: postgres, url: "${cluster!.url}" }
${systems}pipelines:
${pipelines}`);
  return file;
}

test('wal_level = replica: the logical source stops with the setting to change and how', { skip }, async () => {
  const src = postgresConnector.createSource!({
    system: 'legacy', systemConfig: { url: cluster!.url }, collection: 'permit', keyFields: ['id'],
    state: withSnapshot({ scope: 's', getPosition: async () => null, getShadow: async () => new Map(), async *listShadow() {} }, { system: 'legacy', collection: 'permit' }),
    options: { mode: 'logical' }, logger: silentLogger(), workDir: tmp.dir,
  }) as Source;
  try {
    await assert.rejects(async () => { for await (const _ of src.stream(new AbortController().signal)) break; }, (err: Error) => {
      assert.ok(err instanceof PermanentError, String(err));
      assert.match(err.message, WANTED);
      return true;
    });
  } finally {
    await src.close();
  }
  // nothing was created on the server
  const c = new pg.Client({ connectionString: cluster!.url });
  await c.connect();
  try {
    assert.equal((await c.query('SELECT 1 FROM pg_publication')).rowCount, 0);
  } finally {
    await c.end();
  }
});

test('wal_level = replica: hms-sync backfill of a logical pipeline prints the same message', { skip }, async () => {
  const cfg = configFile('hms-sync', '', `  permits:
    from: { system: legacy, collection: permit, mode: logical }
    to: { system: legacy, collection: permit }
    key: id
`);
  const r = await runCli(['backfill', 'permits', cfg]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, WANTED);
});

test('wal_level = replica: hms-sync validate says the logical source cannot start (exit 4) and checks the tables of the others', { skip }, async () => {
  const cfg = configFile('validate', '  web: { driver: http, url: "http://127.0.0.1:9" }\n', `  logical:
    from: { system: legacy, collection: permit, mode: logical }
    to: { system: web, collection: permits }
    key: id
  polled:
    from: { system: legacy, collection: permit }
    to: { system: web, collection: permits }
    key: id
  missing:
    from: { system: legacy, collection: no_such_table }
    to: { system: web, collection: permits }
    key: id
`);
  const r = await runCli(['validate', cfg, '--json']);
  assert.equal(r.code, 4, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { valid: boolean; sources: Array<{ pipeline: string; ok: boolean; error?: string }> };
  assert.equal(out.valid, true, 'the file itself is valid');
  const by = Object.fromEntries(out.sources.map((s) => [s.pipeline, s]));
  assert.equal(by.logical!.ok, false);
  assert.match(by.logical!.error!, WANTED);
  assert.equal(by.polled!.ok, true, 'polling needs no wal_level');
  assert.equal(by.missing!.ok, false);
  assert.match(by.missing!.error!, /table "public"\."no_such_table" does not exist/);
  const plain = await runCli(['validate', cfg]);
  assert.equal(plain.code, 4);
  assert.match(plain.stdout, /FAILED +source of pipeline logical \(system legacy\): (HMS_ERR_\w+: )?PostgreSQL at .* runs with wal_level = replica/);
  assert.match(plain.stdout, /ok +source of pipeline polled \(system legacy\)/);
});
