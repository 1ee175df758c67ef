#!/usr/bin/env node
// Runs the test files under the given folders (default: test/) with node's test runner and
// tsx, so TypeScript runs as written. Ends with node's summary (tests / pass / fail lines).
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('-'));
const files = [];
function walk(p) {
  const st = statSync(p);
  if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(path.join(p, e));
  else if (/\.test\.ts$/.test(p)) files.push(p);
}
for (const r of roots.length ? roots : ['test']) walk(r);
if (!files.length) {
  console.error('no test files found under', roots.join(' ') || 'test');
  process.exit(1);
}
const reporter = process.env.HMS_TEST_REPORTER ?? (process.stdout.isTTY ? 'spec' : 'spec');
const args = ['--import', 'tsx', '--test', `--test-reporter=${reporter}`, '--test-concurrency=2', ...passthrough, ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, HMS_LOG_LEVEL: process.env.HMS_LOG_LEVEL ?? 'silent' } });
process.exit(r.status ?? 1);
