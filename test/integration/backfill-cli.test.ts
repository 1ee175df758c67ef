/**
 * `hms-sync backfill` as a user runs it: plain progress lines when stderr is not a terminal, a
 * progress bar (rows, rate, ETA) when it is, a summary on stdout, `--json`, "already
 * completed" on a second run and `--restart`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { writeSqliteTriggersConfig } from '../helpers/sqlite-triggers-config.js';
import { tempDir } from '../helpers/services.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const CLI = path.join(import.meta.dirname, '../helpers/run-cli.ts');
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', env: { ...process.env, HMS_LOG_LEVEL: 'silent' } });
const ROWS = 2500;
const ESC = String.fromCharCode(27);

function setup(): string {
  const src = path.join(tmp.dir, 'legacy.db');
  const s = openDatabase(src);
  s.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)');
  const ins = s.prepare('INSERT INTO items VALUES (?, ?)');
  s.transaction(() => { for (let i = 1; i <= ROWS; i++) ins.run(i, `v${i}`); })();
  s.close();
  const dst = path.join(tmp.dir, 'modern.db');
  openDatabase(dst).exec('CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)');
  const cfg = writeSqliteTriggersConfig({ dir: tmp.dir, name: 'hms-sync', state: 'state', src, dst });
  const inst = cli('triggers', 'install', 'items', cfg);
  assert.equal(inst.status, 0, inst.stderr);
  return cfg;
}

test('backfill CLI: plain progress lines off a terminal, summary, --json, already completed, --restart', () => {
  const cfg = setup();
  const first = cli('backfill', 'items', cfg, '--chunk-size', '500');
  assert.equal(first.status, 0, first.stderr);
  const lines = first.stderr.trim().split('\n');
  for (const l of lines) assert.match(l, /^backfill: \d+\/2500 rows, \d+ rows\/s, ETA (\?|\d+s|\d+m\d\ds), \d+ chunks, \d+ superseded by live changes$/);
  assert.match(lines.at(-1)!, /^backfill: 2500\/2500 rows, \d+ rows\/s, ETA 0s, /);
  assert.ok(!first.stderr.includes(`${ESC}[`), 'no terminal escapes when stderr is not a terminal');
  assert.match(first.stdout, /^backfill of items: 2500 rows in \d+ chunks, 0 superseded by live changes, \d+ rows\/s\n$/);

  const again = cli('backfill', 'items', cfg, '--json');
  assert.equal(again.status, 0, again.stderr);
  const s = JSON.parse(again.stdout) as { alreadyDone: boolean; rows: number; total: number | null; rowsPerSecond: number };
  assert.equal(s.alreadyDone, true);
  assert.equal(s.total, s.rows, 'an already completed backfill reports its total');
  assert.equal(s.rowsPerSecond, 0, 'nothing was copied by this run');
  assert.equal(s.rows, ROWS);
  assert.match(cli('backfill', 'items', cfg).stdout, /already completed \(2500 rows\); use --restart to run it again/);

  const restart = cli('backfill', 'items', cfg, '--restart', '--json', '--chunk-size', '1000');
  assert.equal(restart.status, 0, restart.stderr);
  const r = JSON.parse(restart.stdout) as { alreadyDone: boolean; rows: number; chunks: number; resumed: boolean };
  assert.deepEqual([r.alreadyDone, r.resumed, r.rows, r.chunks], [false, false, ROWS, 3]);
});

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

test('backfill CLI on a terminal: a progress bar with rows, percentage, rate and ETA', { skip: hasScript ? false : 'needs script(1) for a pseudo-terminal' }, () => {
  const cfg = path.join(tmp.dir, 'hms-sync.yaml');
  const cmd = [process.execPath, '--import', 'tsx', CLI, 'backfill', 'items', cfg, '--restart', '--chunk-size', '200'].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, HMS_LOG_LEVEL: 'silent' } });
  assert.equal(r.status, 0, r.stdout);
  const frames = r.stdout.replaceAll(`${ESC}[1G`, '\r').split('\r').filter((f) => f.includes('backfill ['));
  assert.ok(frames.length >= 2, `bar frames drawn (${JSON.stringify(r.stdout.slice(0, 300))})`);
  for (const f of frames) assert.match(f, /backfill \[[█░]+\] \d+% \| \d+\/2500 rows \| \d+ rows\/s \| ETA (\?|\d+s|\d+m\d\ds) \| superseded \d+/);
  assert.match(frames[0]!, /\| 0\/2500 rows \| 0 rows\/s \| ETA \? \|/, 'no ETA before there is a rate');
  assert.match(frames.at(-1)!, /100% \| 2500\/2500 rows/);
  assert.match(r.stdout, /backfill of items: 2500 rows in 13 chunks/);
});
