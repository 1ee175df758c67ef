/**
 * Issue 11 items 1 and 8: `hms-sync validate` checks every connector's source cheaply (SQLite,
 * PostgreSQL and MariaDB tables and columns, the MariaDB binlog for mode: binlog, drop folders),
 * the state store, and every mapped / key / expression field name against the source's real
 * fields with a did-you-mean; an empty file gets the same verdict as `run`; "configuration is
 * valid" is never printed after a failure. Real processes, real databases (unique table names).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { runCli } from '../helpers/cli.js';
import { MARIADB_URL, needService, PG_URL, tempDir, uniqueName } from '../helpers/services.js';

const tmp = tempDir('hms-validate-');
// not after(): tests registered after a top-level await (the service probes) may run after it
process.on('exit', () => tmp.cleanup());

interface Out {
  ok: boolean;
  valid: boolean;
  issues: Array<{ path: string; message: string; line?: number }>;
  store: { ok: boolean; message: string } | null;
  systems: Array<{ name: string; ok: boolean; error?: string }>;
  sources: Array<{ pipeline: string; ok: boolean; error?: string; warnings: string[]; fieldsFrom?: string }>;
  fields: Array<{ pipeline: string; path: string; field: string; severity: string; message: string; line?: number }>;
}

function write(name: string, text: string): string {
  const file = path.join(tmp.dir, name);
  writeFileSync(file, text);
  return file;
}

async function validate(file: string): Promise<{ code: number | null; out: Out; human: string }> {
  const r = await runCli(['validate', file, '--json']);
  const h = await runCli(['validate', file]);
  assert.equal(h.code, r.code, 'the same verdict with and without --json');
  return { code: r.code, out: JSON.parse(r.stdout) as Out, human: h.stdout + h.stderr };
}

const sinkSystem = `  out: { driver: file, transport: local, dir: ${JSON.stringify(path.join(tmp.dir, 'out'))} }\n`;
mkdirSync(path.join(tmp.dir, 'out'), { recursive: true });

test('SQLite: a misspelt from, rename, expression field and key are errors with line and did-you-mean; optional ones warnings; exit 3', async () => {
  const db = path.join(tmp.dir, 'legacy.db');
  const d = openDatabase(db);
  d.exec('CREATE TABLE BRIDGES (BRG_ID TEXT PRIMARY KEY, CODE_STS TEXT, BRG_NAME TEXT)');
  d.close();
  const file = write('sqlite.yaml', `systems:
  legacy: { driver: sqlite, path: ${JSON.stringify(db)} }
${sinkSystem}pipelines:
  bridges:
    from: { system: legacy, collection: BRIDGES }
    to: { system: out, collection: b, format: jsonl }
    key: BRG_ID
    map:
      id: BRG_ID
      status: { from: CODE_STSS, values: { A: active } }
      name: BRG_NAMEE
      label: { expr: "BRG_NAME & ' ' & CODE_STZ" }
      extra: { from: EXTRA, optional: true }
  good:
    from: { system: legacy, collection: BRIDGES, columns: [CODE_STS] }
    to: { system: out, collection: g, format: jsonl }
    key: BRG_ID
    map: { id: BRG_ID, status: CODE_STS, name: { from: BRG_NAME, optional: true } }
`);
  const { code, out, human } = await validate(file);
  assert.equal(code, 3, human);
  assert.equal(out.valid, true, 'the file itself is well-formed');
  assert.equal(out.ok, false);
  const by = (p: string) => out.fields.find((f) => f.path === p);
  assert.equal(by('pipelines.bridges.map.status.from')?.severity, 'error');
  assert.equal(by('pipelines.bridges.map.status.from')?.line, 11);
  assert.match(by('pipelines.bridges.map.status.from')!.message, /"CODE_STSS", which is not in the columns of table "BRIDGES".*\(did you mean "CODE_STS"\?\); the fields are BRG_ID, CODE_STS, BRG_NAME/);
  assert.match(by('pipelines.bridges.map.name')!.message, /did you mean "BRG_NAME"/);
  assert.match(by('pipelines.bridges.map.label.expr')!.message, /the expression reads "CODE_STZ".*did you mean "CODE_STS"/);
  assert.equal(by('pipelines.bridges.map.extra.from')?.severity, 'warning', 'optional: a warning');
  // `columns:` narrows the record: BRG_NAME is not read, so the optional rule gets a warning
  assert.deepEqual(out.fields.filter((f) => f.pipeline === 'good').map((f) => [f.path, f.severity]), [['pipelines.good.map.name.from', 'warning']]);
  assert.equal(out.fields.filter((f) => f.severity === 'error').length, 3);
  assert.match(human, /FAILED +\S+sqlite\.yaml:11:\d+ pipelines\.bridges\.map\.status\.from: /);
  assert.doesNotMatch(human, /configuration is valid/, 'never "valid" after a failure');
  assert.match(human, /but 3 mapping or key fields the source does not have/);
});

test('SQLite: a missing table, a misspelt key and a missing columns entry fail the source (exit 4) with did-you-mean', async () => {
  const db = path.join(tmp.dir, 'legacy2.db');
  const d = openDatabase(db);
  d.exec('CREATE TABLE PERMITS (PERMIT_NO TEXT PRIMARY KEY, STATUS TEXT)');
  d.close();
  const file = write('sqlite-missing.yaml', `systems:
  legacy: { driver: sqlite, path: ${JSON.stringify(db)} }
${sinkSystem}pipelines:
  table:
    from: { system: legacy, collection: PERMIT }
    to: { system: out, collection: a, format: jsonl }
    key: PERMIT_NO
  key:
    from: { system: legacy, collection: PERMITS, columns: [STATUSS] }
    to: { system: out, collection: b, format: jsonl }
    key: PERMIT_N
    map: { PERMIT_N: PERMIT_N }
`);
  const { code, out, human } = await validate(file);
  assert.equal(code, 4, human);
  const src = Object.fromEntries(out.sources.map((s) => [s.pipeline, s]));
  assert.equal(src.table!.ok, false);
  assert.match(src.table!.error!, /table "PERMIT" of .* does not exist \(did you mean "PERMITS"\?\)/);
  assert.equal(src.key!.ok, false);
  assert.match(src.key!.error!, /key field "PERMIT_N" is not a column of table "PERMITS".*\(did you mean "PERMIT_NO"\?\); from\.columns entry "STATUSS" is not a column .*\(did you mean "STATUS"\?\)/);
  assert.doesNotMatch(human, /configuration is valid/);
});

test('PostgreSQL: the poll source\'s table columns are checked; a misspelt from is an error, a good mapping passes', { skip: await needService('postgres') }, async () => {
  const table = uniqueName('vchk');
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE TABLE public.${table} (id int PRIMARY KEY, code_sts text, name text)`);
    const file = write('pg.yaml', `systems:
  legacy: { driver: postgres, url: ${JSON.stringify(PG_URL)} }
${sinkSystem}pipelines:
  typo:
    from: { system: legacy, collection: ${table} }
    to: { system: out, collection: a, format: jsonl }
    key: id
    map: { id: id, status: { from: code_stss } }
  good:
    from: { system: legacy, collection: ${table} }
    to: { system: out, collection: b, format: jsonl }
    key: id
    map: { id: id, status: code_sts, label: { expr: "name & '!'" } }
  badcol:
    from: { system: legacy, collection: ${table}, incremental: { column: updated_att } }
    to: { system: out, collection: c, format: jsonl }
    key: id
`);
    const { code, out, human } = await validate(file);
    assert.equal(code, 3, `a mapped field the table lacks is a configuration error, and it wins over the failed source (4): ${human}`);
    const src = Object.fromEntries(out.sources.map((s) => [s.pipeline, s]));
    assert.equal(src.typo!.ok, true);
    assert.match(src.typo!.fieldsFrom!, new RegExp(`the columns of table "public"\\."${table}"`));
    assert.equal(src.badcol!.ok, false);
    assert.match(src.badcol!.error!, /from\.incremental\.column "updated_att" is not a column/);
    assert.deepEqual(out.fields.map((f) => [f.pipeline, f.path, f.severity]), [['typo', 'pipelines.typo.map.status.from', 'error']]);
    assert.match(out.fields[0]!.message, /did you mean "code_sts"/);
  } finally {
    await admin.query(`DROP TABLE IF EXISTS public.${table}`);
    await admin.end();
  }
});

test('MariaDB: table and columns are checked; mode: binlog checks log_bin and binlog_format against the server', { skip: await needService('mariadb') }, async () => {
  const table = uniqueName('vchk');
  const admin = await mysql.createConnection(MARIADB_URL);
  try {
    await admin.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, code_sts VARCHAR(5))`);
    const [rows] = await admin.query('SELECT @@log_bin AS b, @@binlog_format AS f');
    const server = (rows as Array<{ b: number; f: string }>)[0]!;
    const binlogUsable = Number(server.b) === 1 && String(server.f).toUpperCase() === 'ROW';
    const file = write('maria.yaml', `systems:
  shop: { driver: mariadb, url: ${JSON.stringify(MARIADB_URL)} }
${sinkSystem}pipelines:
  polled:
    from: { system: shop, collection: ${table} }
    to: { system: out, collection: a, format: jsonl }
    key: id
    map: { id: id, status: code_stz }
  binlog:
    from: { system: shop, collection: ${table}, mode: binlog }
    to: { system: out, collection: b, format: jsonl }
    key: id
  missing:
    from: { system: shop, collection: ${table}_nope }
    to: { system: out, collection: c, format: jsonl }
    key: id
`);
    const { code, out, human } = await validate(file);
    const src = Object.fromEntries(out.sources.map((s) => [s.pipeline, s]));
    assert.equal(src.polled!.ok, true, human);
    assert.equal(src.missing!.ok, false);
    assert.match(src.missing!.error!, new RegExp(`table \`test\`\\.\`${table}_nope\` does not exist \\(system "shop"\\); the database's tables are .*${table}`));
    assert.equal(src.binlog!.ok, binlogUsable, `the server has log_bin=${server.b}, binlog_format=${server.f}: ${src.binlog!.error ?? 'ok'}`);
    if (!binlogUsable) assert.match(src.binlog!.error!, Number(server.b) === 1 ? /binlog_format is \w+ on MariaDB .*needs ROW/ : /the binlog is off on MariaDB .*--log-bin/);
    assert.deepEqual(out.fields.map((f) => f.path), ['pipelines.polled.map.status']);
    assert.match(out.fields[0]!.message, /"code_stz".*did you mean "code_sts"/);
    assert.equal(code, 3, 'the misspelt field is a configuration error (and the missing table fails its source)');
  } finally {
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.end();
  }
});

test('file sources: the drop folder must exist and be a folder; CSV headers and copybook fields are checked', async () => {
  const drop = path.join(tmp.dir, 'drop');
  mkdirSync(drop, { recursive: true });
  writeFileSync(path.join(drop, 'permits-1.csv'), 'PERMIT_NO,STATUS,OWNER\nP1,A,x\n');
  writeFileSync(path.join(tmp.dir, 'plain-file'), 'not a folder');
  writeFileSync(path.join(tmp.dir, 'PERMIT.cpy'), `       01  PERMIT-REC.
           05  PERMIT-NO      PIC X(8).
           05  PERMIT-STATUS  PIC X.
           05  FILLER         PIC X(3).
`);
  const file = write('files.yaml', `systems:
  drop: { driver: file, transport: local, dir: ./drop }
  gone: { driver: file, transport: local, dir: ./drop/nope }
  notdir: { driver: file, transport: local, dir: ./plain-file }
${sinkSystem}pipelines:
  csv:
    from: { system: drop, collection: "permits-*.csv", format: csv }
    to: { system: out, collection: a, format: jsonl }
    key: PERMIT_NO
    map: { id: PERMIT_NO, status: STATSU, owner: OWNER }
  cobol:
    from: { system: drop, collection: "*.dat", format: fixed, copybook: ./PERMIT.cpy, codePage: ascii }
    to: { system: out, collection: b, format: jsonl }
    key: PERMIT_NUM
    map: { PERMIT_NUM: PERMIT_NUM, status: PERMIT_STATUS }
  gone:
    from: { system: gone, collection: "*.csv", format: csv }
    to: { system: out, collection: c, format: jsonl }
    key: X
  notdir:
    from: { system: notdir, collection: "*.csv", format: csv }
    to: { system: out, collection: d, format: jsonl }
    key: X
`);
  const { code, out, human } = await validate(file);
  assert.equal(code, 3, human);
  const src = Object.fromEntries(out.sources.map((s) => [s.pipeline, s]));
  assert.equal(src.gone!.ok, false, 'a missing drop folder fails its source');
  assert.match(src.gone!.error!, /the drop folder .*drop\/nope of system "gone" does not exist/);
  assert.equal(existsSync(path.join(drop, 'nope')), false, 'validate did not create the missing folder');
  const notdir = out.systems.find((s) => s.name === 'notdir')!;
  assert.equal(notdir.ok, false, 'a file is not a folder');
  assert.match(notdir.error!, /cannot use the directory .*plain-file of system "notdir": .*plain-file is not a directory/);
  assert.match(src.csv!.fieldsFrom!, /the header of .*permits-1\.csv/);
  assert.match(src.cobol!.fieldsFrom!, /the fields of the copybook/);
  const f = Object.fromEntries(out.fields.map((x) => [x.path, x]));
  assert.match(f['pipelines.csv.map.status']!.message, /"STATSU".*did you mean "STATUS"/);
  assert.match(f['pipelines.cobol.key']!.message, /the key field is "PERMIT_NUM", which is not in the fields of the copybook .*\(did you mean "PERMIT_NO"\?\); the fields are PERMIT_NO, PERMIT_STATUS$/);
  assert.equal(out.fields.length, 3, JSON.stringify(out.fields));
});

test('the store: a path under a regular file and a schema newer than this hms-sync fail (exit 4); a fresh one passes', async () => {
  const db = path.join(tmp.dir, 'st.db');
  const d = openDatabase(db);
  d.exec('CREATE TABLE T (ID TEXT PRIMARY KEY)');
  d.close();
  writeFileSync(path.join(tmp.dir, 'regular'), 'x');
  const newer = path.join(tmp.dir, 'newer.db');
  const n = openDatabase(newer);
  n.exec('CREATE TABLE hms_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL); INSERT INTO hms_migrations VALUES (999, \'future\', 0)');
  n.close();
  const body = (store: string) => `store: ${JSON.stringify(store)}
systems:
  legacy: { driver: sqlite, path: ${JSON.stringify(db)} }
${sinkSystem}pipelines:
  p:
    from: { system: legacy, collection: T }
    to: { system: out, collection: a, format: jsonl }
    key: ID
`;
  const under = await validate(write('store-under.yaml', body('sqlite:./regular/state.db')));
  assert.equal(under.code, 4, under.human);
  assert.equal(under.out.store!.ok, false);
  assert.match(under.out.store!.message, /cannot be created: .*regular is a file, not a folder/);
  assert.match(under.human, /FAILED +store: /);
  assert.doesNotMatch(under.human, /configuration is valid/);
  const future = await validate(write('store-newer.yaml', body(`sqlite:${newer}`)));
  assert.equal(future.code, 4);
  assert.match(future.out.store!.message, /schema version 999, newer than this hms-sync supports/);
  const fresh = await validate(write('store-fresh.yaml', body('sqlite:./state/fresh.db')));
  assert.equal(fresh.code, 0, fresh.human);
  assert.match(fresh.out.store!.message, /does not exist yet; run creates it and its folder/);
  assert.match(fresh.human, /configuration is valid \(1 pipelines, 2 systems\)/);
  const pgDown = await validate(write('store-pg-down.yaml', body('postgres://nobody@127.0.0.1:1/none')));
  assert.equal(pgDown.code, 4);
  assert.match(pgDown.out.store!.message, /cannot connect to the PostgreSQL store postgres:\/\/nobody@127\.0\.0\.1:1\/none .*ECONNREFUSED/);
});

test('the PostgreSQL store: reachable and writable, schema version reported', { skip: await needService('postgres') }, async () => {
  const db = path.join(tmp.dir, 'pgstore.db');
  openDatabase(db).exec('CREATE TABLE T (ID TEXT PRIMARY KEY)');
  const schema = uniqueName('vstore');
  const file = write('store-pg.yaml', `store: ${JSON.stringify(`${PG_URL}?schema=${schema}`)}
systems:
  legacy: { driver: sqlite, path: ${JSON.stringify(db)} }
${sinkSystem}pipelines:
  p:
    from: { system: legacy, collection: T }
    to: { system: out, collection: a, format: jsonl }
    key: ID
`);
  const r = await validate(file);
  assert.equal(r.code, 0, r.human);
  assert.match(r.out.store!.message, new RegExp(`schema ${schema}\\) is reachable and writable; it has no hms-sync tables yet`));
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  await admin.end();
  assert.equal(exists.rowCount, 0, 'validate changes nothing: the schema was not created');
});

test('an empty file and a file without pipelines: validate and run give the same verdict (exit 3, same message)', async () => {
  for (const [name, text] of [['empty.yaml', ''], ['nopipes.yaml', 'systems: {}\n']] as const) {
    const file = write(name, text);
    const v = await runCli(['validate', file]);
    const r = await runCli(['run', file]);
    assert.equal(v.code, 3, v.stdout + v.stderr);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const message = /has no pipelines: nothing to run/;
    assert.match(v.stdout, message);
    assert.match(r.stderr, message);
    assert.doesNotMatch(v.stdout, /configuration is valid/);
  }
});

test('HTTP targets whose host does not resolve and SOAP systems whose WSDL does not load fail their system (exit 4)', async () => {
  const db = path.join(tmp.dir, 'net.db');
  openDatabase(db).exec('CREATE TABLE T (ID TEXT PRIMARY KEY)');
  const file = write('net.yaml', `systems:
  legacy: { driver: sqlite, path: ${JSON.stringify(db)} }
  web: { driver: http, url: "http://no-such-host.invalid/api", timeout: 5s }
  county: { driver: soap, wsdl: ./missing.wsdl }
pipelines:
  web:
    from: { system: legacy, collection: T }
    to: { system: web, collection: t }
    key: ID
  county:
    from: { system: legacy, collection: T }
    to: { system: county, collection: t, operations: { upsert: { operation: UpdatePermit, input: { Id: "{{key}}" } } } }
    key: ID
`);
  const { code, out, human } = await validate(file);
  assert.equal(code, 4, human);
  const sys = Object.fromEntries(out.systems.map((s) => [s.name, s]));
  assert.equal(sys.legacy!.ok, true);
  assert.equal(sys.web!.ok, false);
  assert.match(sys.web!.error!, /system "web" cannot be reached: .*(ENOTFOUND|EAI_AGAIN).*no-such-host\.invalid/);
  assert.equal(sys.county!.ok, false);
  assert.match(sys.county!.error!, /missing\.wsdl/);
  assert.doesNotMatch(human, /configuration is valid/);
});

test('SOAP sources: the list operation, rowsPath and positionField are checked against the WSDL, and the mapping against its record type', async () => {
  const wsdl = path.resolve('test/peers/php-soap/permits.wsdl');
  const file = write('soap.yaml', `systems:
  county: { driver: soap, wsdl: ${JSON.stringify(wsdl)} }
${sinkSystem}pipelines:
  good:
    from: { system: county, collection: permits, operation: GetPermits, rowsPath: Permits.Permit, positionField: Seq }
    to: { system: out, collection: a, format: jsonl }
    key: PermitNumber
    map: { id: PermitNumber, status: Statsu, seq: Seq }
  op:
    from: { system: county, collection: permits, operation: GetPremits, rowsPath: Permits.Permit }
    to: { system: out, collection: b, format: jsonl }
    key: PermitNumber
  rows:
    from: { system: county, collection: permits, operation: GetPermits, rowsPath: Permits.Permitt }
    to: { system: out, collection: c, format: jsonl }
    key: PermitNumber
`);
  const { code, out, human } = await validate(file);
  assert.equal(code, 3, human);
  const src = Object.fromEntries(out.sources.map((s) => [s.pipeline, s]));
  assert.equal(src.good!.ok, true, human);
  assert.match(src.good!.fieldsFrom!, /the Permits\.Permit elements of GetPermits in the WSDL/);
  assert.equal(src.op!.ok, false);
  assert.match(src.op!.error!, /from\.operation: "GetPremits" is not an operation of the WSDL .*\(did you mean "GetPermits"\?\)/);
  assert.equal(src.rows!.ok, false);
  assert.match(src.rows!.error!, /from\.rowsPath "Permits\.Permitt": the output of GetPermits .* has no element "Permitt" under Permits \(did you mean "Permit"\?\); it has Permit/);
  assert.deepEqual(out.fields.map((f) => f.path), ['pipelines.good.map.status']);
  assert.match(out.fields[0]!.message, /"Statsu".*did you mean "Status"/);
});
