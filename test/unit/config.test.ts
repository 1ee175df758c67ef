import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { registerConnector } from '../../src/connectors/registry.js';
import { configError, formatConfigIssue, loadConfig, parseConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/core/errors.js';
import type { ConfigIssue } from '../../src/config/schema.js';
import { tempDir } from '../helpers/services.js';

const never = () => {
  throw new Error('not used in these tests');
};
registerConnector({
  driver: 'test-db',
  description: 'test source and sink',
  systemSchema: z.strictObject({ url: z.string().describe('url'), password: z.string().optional() }),
  sourceSchema: z.strictObject({ poll: z.string().optional(), incremental: z.string().optional() }),
  createSource: never,
  createSink: never,
  testConnection: async () => {},
});
registerConnector({
  driver: 'test-hook',
  description: 'test sink only, no sink options',
  systemSchema: z.strictObject({ url: z.string(), retries: z.number().int().default(3) }),
  createSink: never,
  testConnection: async () => {},
});

const tmp = tempDir();
after(() => tmp.cleanup());

const GOOD = `# bridge inspections
systems:
  mainframe: { driver: test-db, url: "sqlite:./legacy.db" }
  dashboard: { driver: test-hook, url: http://127.0.0.1:3000/hooks }
pipelines:
  bridge-schedule:
    from: { system: mainframe, collection: INSPECTIONS, poll: 5s }
    to:   { system: dashboard, collection: bridges }
    key: BRG_ID
    map:
      bridgeId: BRG_ID
      nextDate: { from: NEXT_INSP_DT, convert: "date:yyyyMMdd" }
      status:   { from: CODE_STS, values: { A: active, C: closed, P: pending } }
    debounce: 3s
`;

function issuesOf(text: string, env: Record<string, string> = {}): ConfigIssue[] {
  const r = parseConfig(text, { file: 'hms.yaml', env });
  assert.equal(r.config, null, 'an invalid config resolves to null');
  assert.ok(r.issues.length > 0);
  return r.issues;
}

function findIssue(issues: ConfigIssue[], p: string): ConfigIssue {
  const i = issues.find((x) => x.path === p);
  assert.ok(i, `no issue at ${p}; got:\n${issues.map(formatConfigIssue).join('\n')}`);
  assert.equal(i.file, 'hms.yaml');
  return i;
}

test('a valid config resolves with every default filled in', () => {
  const file = path.join(tmp.dir, 'conf', 'hms.yaml');
  const { config, issues } = parseConfig(GOOD, { file, env: {} });
  assert.deepEqual(issues, []);
  assert.ok(config);
  const dir = path.dirname(file);
  assert.equal(config.file, file);
  assert.equal(config.baseDir, dir);
  assert.equal(config.store, `sqlite:${path.join(dir, '.hms-sync', 'state.db')}`);
  assert.equal(config.stateDir, path.join(dir, '.hms-sync'));
  assert.equal(config.logLevel, 'info');
  assert.deepEqual(config.server, { enabled: false, host: '127.0.0.1', port: 8750 });
  assert.deepEqual(config.systems.mainframe, { name: 'mainframe', driver: 'test-db', config: { url: 'sqlite:./legacy.db' } });
  assert.deepEqual(config.systems.dashboard!.config, { url: 'http://127.0.0.1:3000/hooks', retries: 3 }, 'driver schema defaults apply');
  const p = config.pipelines['bridge-schedule']!;
  assert.equal(p.name, 'bridge-schedule');
  assert.equal(p.enabled, true);
  assert.deepEqual(p.from, { system: 'mainframe', collection: 'INSPECTIONS', options: { poll: '5s' } });
  assert.deepEqual(p.to, { system: 'dashboard', collection: 'bridges', options: {} });
  assert.deepEqual(p.key, ['BRG_ID']);
  assert.deepEqual(p.targetKey, ['bridgeId'], 'the target key is the mapped name of the key field');
  assert.equal(p.debounceMs, 3000);
  assert.equal(p.maxWaitMs, 30_000, 'maxWait defaults to 10 x debounce');
  assert.equal(p.lingerMs, 5, 'linger defaults to 5 ms');
  assert.deepEqual(p.delivery, { maxAttempts: 20, backoff: { initialMs: 1000, maxMs: 600_000, factor: 2 }, batchSize: 100, leaseMs: 10_000, timeoutMs: 30_000, concurrency: 1 });
  assert.deepEqual(Object.keys(p.map!), ['bridgeId', 'nextDate', 'status']);
});

test('explicit settings override the defaults', () => {
  const text = `
store: postgres://hms@db.example/hms
stateDir: /var/lib/hms
log: { level: debug }
server: { enabled: true, port: 9000 }
systems:
  a: { driver: test-db, url: x }
pipelines:
  copy:
    enabled: false
    from: { system: a, collection: T1 }
    to: { system: a, collection: T2 }
    key: [K1, K2]
    debounce: 250
    maxWait: 1m
    delivery: { maxAttempts: 3, backoff: { initial: 100ms, max: 5s, factor: 3 }, batchSize: 10, lease: 1m, timeout: 5s, concurrency: 4 }
`;
  const { config, issues } = parseConfig(text, { env: {}, baseDir: '/srv' });
  assert.deepEqual(issues, []);
  assert.ok(config);
  assert.equal(config.store, 'postgres://hms@db.example/hms');
  assert.equal(config.stateDir, '/var/lib/hms');
  assert.equal(config.logLevel, 'debug');
  assert.deepEqual(config.server, { enabled: true, host: '127.0.0.1', port: 9000 });
  const p = config.pipelines.copy!;
  assert.equal(p.enabled, false);
  assert.deepEqual(p.key, ['K1', 'K2']);
  assert.deepEqual(p.targetKey, ['K1', 'K2'], 'no map: identity, target key = source key');
  assert.equal(p.map, null);
  assert.equal(p.debounceMs, 250);
  assert.equal(p.maxWaitMs, 60_000);
  assert.deepEqual(p.delivery, { maxAttempts: 3, backoff: { initialMs: 100, maxMs: 5000, factor: 3 }, batchSize: 10, leaseMs: 60_000, timeoutMs: 5000, concurrency: 4 });
  assert.equal(parseConfig('store: "sqlite::memory:"', { env: {} }).config?.store, 'sqlite::memory:');
  assert.equal(parseConfig('', { env: {}, baseDir: '/srv' }).config?.store, 'sqlite:/srv/.hms-sync/state.db', 'an empty file is all defaults');
});

test('unknown top-level key: file, line, column, path and the valid keys', () => {
  const i = findIssue(issuesOf(`${GOOD}stor: sqlite:x.db\n`), 'stor');
  assert.deepEqual([i.line, i.column], [15, 1]);
  assert.match(i.message, /^unknown key "stor" \(did you mean "store"\?\); valid keys are \$schema, plugins, store, stateDir, sourceFailAfter, log, server, systems, pipelines$/);
  assert.equal(formatConfigIssue(i), `hms.yaml:15:1 stor: ${i.message}`);
});

test('unknown pipeline key', () => {
  const i = findIssue(issuesOf(GOOD.replace('    debounce: 3s', '    debounce: 3s\n    retries: 5')), 'pipelines.bridge-schedule.retries');
  assert.deepEqual([i.line, i.column], [15, 5]);
  assert.match(i.message, /unknown key "retries"; valid keys are description, enabled, from, to, key, targetKey, map, debounce, maxWait, linger, delivery/);
});

test('wrong types quote the value and say what is expected', () => {
  const issues = issuesOf(`${GOOD}server: { port: "eighty" }\nlog: { level: loud }\n`);
  const port = findIssue(issues, 'server.port');
  assert.deepEqual([port.line, port.column], [15, 17]);
  assert.equal(port.message, 'expected a number, got "eighty"');
  assert.match(findIssue(issues, 'log.level').message, /expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"/);
  const d = findIssue(issuesOf(GOOD.replace('key: BRG_ID', 'key: 5')), 'pipelines.bridge-schedule.key');
  assert.match(d.message, /expected text or a list, got 5/);
  const m = findIssue(issuesOf(GOOD.replace('bridgeId: BRG_ID', 'bridgeId: 12')), 'pipelines.bridge-schedule.map.bridgeId');
  assert.match(m.message, /expected text or an object \(key: value\), got 12/);
  assert.equal(m.line, 11);
});

test('missing required keys point at their parent', () => {
  const i = findIssue(issuesOf(GOOD.replace('to:   { system: dashboard, collection: bridges }', 'to:   { system: dashboard }')), 'pipelines.bridge-schedule.to.collection');
  assert.equal(i.line, 8);
  assert.match(i.message, /"collection" is required \(text\)/);
  const k = findIssue(issuesOf(GOOD.replace('    key: BRG_ID\n', '')), 'pipelines.bridge-schedule.key');
  assert.equal(k.message, '"key" is required (text or a list)');
});

test('unknown system lists the defined systems', () => {
  const i = findIssue(issuesOf(GOOD.replace('system: dashboard,', 'system: dashbaord,')), 'pipelines.bridge-schedule.to.system');
  assert.deepEqual([i.line, i.column], [8, 21]);
  assert.equal(i.message, 'unknown system "dashbaord" (did you mean "dashboard"?); defined systems are mainframe, dashboard');
});

test('unknown driver lists the registered drivers', () => {
  const i = findIssue(issuesOf(GOOD.replace('driver: test-hook', 'driver: webhook')), 'systems.dashboard.driver');
  assert.deepEqual([i.line, i.column], [4, 24]);
  assert.match(i.message, /^unknown driver "webhook"; registered drivers are .*test-db, test-hook/);
  assert.match(findIssue(issuesOf(GOOD.replace('driver: test-hook', 'driver: test-hok')), 'systems.dashboard.driver').message, /unknown driver "test-hok" \(did you mean "test-hook"\?\)/);
});

test('driver keys are validated by the connector schemas', () => {
  const issues = issuesOf(GOOD.replace('url: "sqlite:./legacy.db"', 'uri: x').replace('poll: 5s', 'poll: 5s, pol: 1'));
  assert.match(findIssue(issues, 'systems.mainframe.uri').message, /unknown key "uri" \(did you mean "url"\?\); valid keys are url, password/);
  assert.match(findIssue(issues, 'systems.mainframe.url').message, /"url" is required/);
  const pol = findIssue(issues, 'pipelines.bridge-schedule.from.pol');
  assert.equal(pol.line, 7);
  assert.match(pol.message, /unknown key "pol" \(did you mean "poll"\?\); valid keys are poll, incremental/);
  const sinkOpt = findIssue(issuesOf(GOOD.replace('collection: bridges', 'collection: bridges, method: PUT')), 'pipelines.bridge-schedule.to.method');
  assert.match(sinkOpt.message, /unknown key "method"; driver "test-hook" has no sink options \(valid keys are system, collection\)/);
});

test('a driver that cannot play the role is an error', () => {
  const i = findIssue(issuesOf(GOOD.replace('from: { system: mainframe, collection: INSPECTIONS, poll: 5s }', 'from: { system: dashboard, collection: x }')), 'pipelines.bridge-schedule.from.system');
  assert.match(i.message, /system "dashboard" \(driver "test-hook"\) cannot be a source; drivers that can: .*test-db/);
});

test('env substitution, defaults and typed values; unquoted references work in flow maps', () => {
  const text = `
server: { port: \${env:PORT}, host: "\${env:HOST:-0.0.0.0}" }
systems:
  a: { driver: test-db, url: \${env:DB_URL}, password: \${env:DB_PASS} }
  b:
    driver: test-db
    url: postgres://u:\${env:DB_PASS}@h/db
    password: $\${env:LITERAL}
`;
  const { config, issues } = parseConfig(text, { env: { PORT: '9100', DB_URL: 'sqlite:x.db', DB_PASS: 's3cret' } });
  assert.deepEqual(issues, []);
  assert.ok(config);
  assert.deepEqual(config.server, { enabled: false, host: '0.0.0.0', port: 9100 });
  assert.deepEqual(config.systems.a!.config, { url: 'sqlite:x.db', password: 's3cret' });
  assert.deepEqual(config.systems.b!.config, { url: 'postgres://u:s3cret@h/db', password: '${env:LITERAL}' });
});

test('a missing env variable is an error with its line; env values stay out of messages', () => {
  const text = `${GOOD}server:\n  port: \${env:HMS_PORT}\n  host: \${env:HMS_HOST}\n`;
  const issues = issuesOf(text, { HMS_HOST: 'secret-host-value' });
  const i = findIssue(issues, 'server.port');
  assert.deepEqual([i.line, i.column], [16, 9]);
  assert.equal(i.message, 'environment variable "HMS_PORT" is not set (write ${env:HMS_PORT:-default} to give a default)');
  assert.equal(issues.filter((x) => x.path === 'server.port').length, 1, 'one error for an unset variable, not a second one for its empty value');
  const secret = issuesOf(`${GOOD}server: { port: \${env:HMS_PORT} }\n`, { HMS_PORT: 'hunter2' });
  assert.match(findIssue(secret, 'server.port').message, /expected a number, got \[redacted\]/);
  assert.ok(!secret.map(formatConfigIssue).join('\n').includes('hunter2'));
});

test('a bad duration names the value and the accepted forms', () => {
  const i = findIssue(issuesOf(GOOD.replace('debounce: 3s', 'debounce: 3 parsecs')), 'pipelines.bridge-schedule.debounce');
  assert.deepEqual([i.line, i.column], [14, 15]);
  assert.match(i.message, /^invalid duration "3 parsecs"; use milliseconds as a number or a number with a unit ms, s, m, h or d/);
  const b = findIssue(issuesOf(`${GOOD}    delivery: { backoff: linear }\n`), 'pipelines.bridge-schedule.delivery.backoff');
  assert.match(b.message, /invalid backoff "linear"/);
  const w = findIssue(issuesOf(`${GOOD}    maxWait: 1s\n`), 'pipelines.bridge-schedule.maxWait');
  assert.match(w.message, /maxWait \(1000 ms\) is shorter than debounce \(3000 ms\)/);
});

test('mapping problems are reported with the line of the field', () => {
  const issues = issuesOf(GOOD.replace('"date:yyyyMMdd"', '"dat:yyyyMMdd"').replace('bridgeId: BRG_ID', 'bridgeId: { expr: "$substring(" }'));
  const c = findIssue(issues, 'pipelines.bridge-schedule.map.nextDate.convert');
  assert.deepEqual([c.line, c.column], [12, 48]);
  assert.match(c.message, /unknown converter "dat" \(did you mean "date"\?\); known converters are date, /);
  const e = findIssue(issues, 'pipelines.bridge-schedule.map.bridgeId.expr');
  assert.equal(e.line, 11);
  assert.match(e.message, /invalid JSONata expression/);
  const k = findIssue(issuesOf(GOOD.replace('bridgeId: BRG_ID', 'bridgeId: ID')), 'pipelines.bridge-schedule.key');
  assert.match(k.message, /key field "BRG_ID" is not mapped to any target field .*set targetKey/);
  const t = findIssue(issuesOf(GOOD.replace('key: BRG_ID', 'key: BRG_ID\n    targetKey: [a, b]')), 'pipelines.bridge-schedule.targetKey');
  assert.match(t.message, /targetKey has 2 field\(s\) but key has 1/);
});

test('every issue is collected, not just the first, in line order', () => {
  const text = GOOD.replace('driver: test-hook', 'driver: nope').replace('debounce: 3s', 'debounce: soon').replace('"date:yyyyMMdd"', '"x"') + 'extra: 1\nstore: mysql://x\n';
  const issues = issuesOf(text);
  const paths = issues.map((i) => i.path);
  for (const p of ['systems.dashboard.driver', 'pipelines.bridge-schedule.map.nextDate.convert', 'pipelines.bridge-schedule.debounce', 'extra', 'store']) assert.ok(paths.includes(p), p);
  const lines = issues.map((i) => i.line ?? 0);
  assert.deepEqual(lines, [...lines].sort((a, b) => a - b));
  assert.match(findIssue(issues, 'store').message, /unknown store "mysql:\/\/x"; use sqlite:<path>/);
});

test('YAML syntax errors carry their line', () => {
  const issues = issuesOf('systems:\n  a: { driver: x\npipelines: {}\n');
  assert.ok(issues[0]!.line! >= 2);
  assert.match(issues[0]!.message, /^YAML syntax error: /);
  const dup = issuesOf('store: a\nstore: b\n');
  assert.equal(dup[0]!.line, 2);
  assert.match(dup[0]!.message, /YAML syntax error: Map keys must be unique/);
});

test('loadConfig reads a file and throws one ConfigError listing every issue', async () => {
  const good = path.join(tmp.dir, 'good.yaml');
  writeFileSync(good, GOOD);
  const config = await loadConfig(good, { env: {} });
  assert.equal(config.pipelines['bridge-schedule']!.targetKey[0], 'bridgeId');
  const bad = path.join(tmp.dir, 'bad.yaml');
  writeFileSync(bad, `${GOOD}stor: x\nlog: { level: 3 }\n`);
  await assert.rejects(loadConfig(bad, { env: {} }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    const lines = (e as Error).message.split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:15:1 stor: unknown key "stor"`));
    assert.match(lines[1]!, /:16:15 log\.level: expected one of/);
    assert.equal(((e as ConfigError).details?.issues as unknown[]).length, 2);
    return true;
  });
  await assert.rejects(loadConfig(path.join(tmp.dir, 'missing.yaml')), /config file .*missing\.yaml not found/);
  assert.match(configError([{ path: 'a', message: 'm' }]).message, /^config a: m$/);
});

test('a connector schema that cannot be parsed synchronously is reported, not a crash', () => {
  registerConnector({
    driver: 'test-async',
    description: 'schema with an async check',
    systemSchema: z.strictObject({ url: z.string() }).refine(async () => true),
    createSink: never,
    testConnection: async () => {},
  });
  const i = findIssue(issuesOf('systems:\n  s: { driver: test-async, url: x }\n'), 'systems.s');
  assert.match(i.message, /driver "test-async" failed to validate its keys: /);
});

test('a malformed env reference is an error, not silently kept', () => {
  const i = findIssue(issuesOf('stateDir: "${env:1BAD}/state"\n'), 'stateDir');
  assert.equal(i.line, 1);
  assert.match(i.message, /malformed environment reference in "\$\{env:1BAD\}\/state"; write \$\{env:NAME\}/);
});
