#!/usr/bin/env node
// The package's `install` script: makes sure the one better-sqlite3 build the running Node
// needs has a working native binding, and builds only that one.
//
// package.json denies better-sqlite3's own install scripts (`allowScripts`, honoured by
// npm >= 11.16), so npm does not compile version 12 on Node 22/24 (where it is never loaded)
// nor run version 13's implicit node-gyp step. This script then, for the build that
// lib/sqlite-package.cjs picks:
//   1. loads it in a child process (a broken binding may abort the process): if that works
//      (version 13's bundled prebuilt binary, or a binding built earlier), nothing to do;
//   2. otherwise builds it from the source npm already unpacked: version 12 as its own install
//      script does (prebuild-install, then node-gyp), version 13 with node-gyp --force_build=1.
// With an npm that does not know allowScripts (npm 10, bundled with Node 20 and 22), npm has
// already run better-sqlite3's scripts and step 1 finds the binding.
// Run it by hand (`node lib/install-sqlite.mjs`) after `npm install --ignore-scripts`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { sqlitePackage } = require('./sqlite-package.cjs');
const name = sqlitePackage();
const log = (msg) => console.log(`hms-sync: ${msg}`);

function packageDir() {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    return null;
  }
}

/** Whether the driver opens a database in a fresh process on this Node. */
function loads() {
  const probe = `const D = require(${JSON.stringify(name)}); new D(':memory:').prepare('select 1').get();`;
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: path.dirname(fileURLToPath(import.meta.url)), stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || `exit ${r.status ?? r.signal}`).trim().split('\n').slice(-3).join(' ');
}

/** npm's own node-gyp (npm sets npm_config_node_gyp for lifecycle scripts), else one on PATH. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const c of candidates) if (c && existsSync(c)) return [process.execPath, c];
  return ['node-gyp'];
}

/** Run a build step; its (long, compiler-warning-laden) output is shown only when it fails. */
function run(cmd, args, cwd) {
  log(`${[cmd, ...args].map((a) => path.basename(a)).join(' ')} (in ${path.relative(process.cwd(), cwd) || '.'})`);
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) + '\n' : ''}`);
  return r.status === 0;
}

const dir = packageDir();
if (!dir) {
  console.error(`hms-sync: ${name} is not installed (it is what Node ${process.versions.node} needs); run npm install without --omit=optional`);
  process.exit(1);
}
const version = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
const before = loads();
if (before === null) {
  log(`SQLite driver ${name} (better-sqlite3 ${version}) loads on Node ${process.versions.node}; nothing to build`);
  process.exit(0);
}
log(`building ${name} (better-sqlite3 ${version}) for Node ${process.versions.node} from source; this takes a minute or two`);
const [gyp, ...gypArgs] = nodeGyp();
let built;
if (Number(version.split('.')[0]) >= 13) {
  built = run(gyp, [...gypArgs, 'rebuild', '--release', '--force_build=1'], dir);
} else {
  let prebuilt = false;
  try {
    const bin = createRequire(path.join(dir, 'package.json')).resolve('prebuild-install/bin.js');
    prebuilt = run(process.execPath, [bin], dir);
  } catch {}
  built = prebuilt || run(gyp, [...gypArgs, 'rebuild', '--release'], dir);
}
const after = built ? loads() : 'build failed';
if (after !== null) {
  console.error(`hms-sync: the SQLite driver ${name} does not load on Node ${process.versions.node}: ${after}`);
  process.exit(1);
}
log(`SQLite driver ${name} built and loads`);
