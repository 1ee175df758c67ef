/**
 * A fresh clone's `npm install` (issue 11, item 15): it must not rewrite package-lock.json, and
 * must not print EBADENGINE on any Node the package supports.
 *
 * - Static: every package a fresh clone installs that is not optional (npm skips an optional one
 *   whose engines do not match, without a warning) accepts every Node our `engines` range admits
 *   (semver.subset), so no supported Node gets EBADENGINE, not only the one running the test.
 * - Real: package.json and package-lock.json alone in a temporary folder, `npm install
 *   --ignore-scripts` from the npm cache (network only for what is not cached): the lockfile npm
 *   writes is byte for byte the committed one, and npm printed no EBADENGINE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { IN_CI, tempDir } from '../helpers/services.js';

const semver = createRequire(import.meta.url)('semver') as { subset(a: string, b: string): boolean; satisfies(v: string, r: string): boolean };
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string }; scripts: Record<string, string> };
const lockText = readFileSync('package-lock.json', 'utf8');
const lock = JSON.parse(lockText) as { packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean; dev?: boolean; hasInstallScript?: boolean }> };

test('the engines range covers the Node versions we support and every installed package accepts all of them', () => {
  const range = pkg.engines.node;
  for (const v of ['20.19.0', '22.13.0', '24.0.0', '26.0.0', process.versions.node]) assert.ok(semver.satisfies(v, range), `Node ${v} is supported (${range})`);
  for (const v of ['20.18.3', '18.20.0']) assert.ok(!semver.satisfies(v, range), `Node ${v} is below the floor`);
  const offenders: string[] = [];
  for (const [where, p] of Object.entries(lock.packages)) {
    if (!where || p.optional) continue;
    const node = Array.isArray(p.engines) ? undefined : p.engines?.node;
    if (node && !semver.subset(range, node)) offenders.push(`${where} wants node ${node}${p.dev ? ' (dev)' : ''}`);
  }
  assert.deepEqual(offenders, [], `these would print EBADENGINE on a Node that package.json says is supported (${range})`);
  assert.equal(lock.packages['']!.hasInstallScript === true, ['preinstall', 'install', 'postinstall'].some((s) => s in pkg.scripts), 'the lockfile knows about the install script (npm adds hasInstallScript otherwise)');
});

test('npm install on a fresh copy leaves package-lock.json unchanged and prints no EBADENGINE', { timeout: 240_000 }, async (t) => {
  const tmp = tempDir('hms-npm-install-');
  try {
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(f, path.join(tmp.dir, f));
    const npm = (extra: string) => spawnSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', extra], { cwd: tmp.dir, encoding: 'utf8', timeout: 200_000, env: { ...process.env, npm_config_loglevel: 'warn', NODE_TEST_CONTEXT: undefined } });
    let r = npm('--offline');
    if (r.status !== 0 && /ENOTCACHED/.test(r.stderr)) r = npm('--prefer-offline'); // a cold cache: fetch what is missing
    if (r.status !== 0 && /ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ENETUNREACH/.test(r.stderr)) {
      const why = `the npm registry is not reachable and the npm cache lacks some packages: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`;
      if (IN_CI) throw new Error(`CI=true and ${why}`);
      return t.skip(why);
    }
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /EBADENGINE/, `npm warned about engines on Node ${process.versions.node}`);
    const after = readFileSync(path.join(tmp.dir, 'package-lock.json'), 'utf8');
    if (after !== lockText) {
      const a = JSON.parse(after) as typeof lock;
      const changed = [...new Set([...Object.keys(a.packages), ...Object.keys(lock.packages)])].filter((k) => JSON.stringify(a.packages[k]) !== JSON.stringify(lock.packages[k]));
      assert.fail(`npm install rewrote package-lock.json; changed entries: ${changed.slice(0, 10).map((k) => `"${k}": ${JSON.stringify(lock.packages[k] ?? null)} -> ${JSON.stringify(a.packages[k] ?? null)}`).join('; ') || '(formatting only)'}`);
    }
    // the optional better-sqlite3 13 is installed only where it can run (Node >= 22)
    assert.equal(existsSync(path.join(tmp.dir, 'node_modules', 'better-sqlite3-napi')), Number(process.versions.node.split('.')[0]) >= 22);
  } finally {
    tmp.cleanup();
  }
});
