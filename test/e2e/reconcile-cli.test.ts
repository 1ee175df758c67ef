/**
 * `hms-sync reconcile` and `hms-sync review` as a user runs them (spawned CLI, real SQLite files):
 * exit 0 when the sides agree, 1 with discrepancies, 4 when a side cannot be read; the HTML
 * report; review list / show / ignore / repair --dry-run; ignored discrepancies do not fail the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/services.js';

test('reconcile and review from the command line', async () => {
  const tmp = tempDir();
  try {
    const a = path.join(tmp.dir, 'a.db');
    const b = path.join(tmp.dir, 'b.db');
    for (const f of [a, b]) {
      const db = openDatabase(f);
      db.exec('CREATE TABLE permits (id TEXT PRIMARY KEY, status TEXT, owner TEXT)');
      db.prepare('INSERT INTO permits VALUES (?, ?, ?), (?, ?, ?)').run('P1', 'OPEN', 'ann', 'P2', 'CLOSED', 'bob');
      db.close();
    }
    const cfg = path.join(tmp.dir, 'hms-sync.yaml');
    const yaml = (target: string) => `systems:
  county: { driver: sqlite, path: ./a.db }
  portal: ${target}
pipelines:
  permits:
    from: { system: county, collection: permits }
    to: { system: portal, collection: permits }
    key: id
    reconcile: { settle: 10ms }
`;
    writeFileSync(cfg, yaml('{ driver: sqlite, path: ./b.db }'));
    const clean = await runCli(['reconcile', 'permits', cfg]);
    assert.equal(clean.code, 0, clean.stderr + clean.stdout);
    assert.match(clean.stdout, /reconcile permits: 2 source rows, 2 target rows, 2 fields compared/);
    assert.match(clean.stdout, /the two sides agree/);
    assert.match(clean.stdout, /engine: streamed \(.+\)/, 'the engine used and why is printed');

    const db = openDatabase(b);
    db.prepare('UPDATE permits SET owner = ? WHERE id = ?').run('<script>eve</script>', 'P2');
    db.close();
    const report = path.join(tmp.dir, 'report.html');
    const dirty = await runCli(['reconcile', 'permits', cfg, '--json', '--report', report]);
    assert.equal(dirty.code, 1, dirty.stderr + dirty.stdout);
    const summary = JSON.parse(dirty.stdout) as { counts: Record<string, number>; fieldCounts: Record<string, number>; open: number; complete: boolean };
    assert.equal(summary.complete, true);
    assert.equal(summary.counts.different, 1);
    assert.deepEqual(summary.fieldCounts, { owner: 1 });
    const html = readFileSync(report, 'utf8');
    assert.match(html, /<h2>different: 1<\/h2>/);
    assert.ok(html.includes('&lt;script&gt;eve&lt;/script&gt;') && !html.includes('<script>'), 'values are escaped; the report has no script');

    const list = await runCli(['review', 'list', cfg, '--json']);
    assert.equal(list.code, 0, list.stderr);
    const [d] = JSON.parse(list.stdout) as Array<{ id: string; key: string; fields: Array<{ field: string; source: unknown; target: unknown }> }>;
    assert.equal(d!.key, 'P2');
    assert.deepEqual(d!.fields, [{ field: 'owner', source: 'bob', target: '<script>eve</script>' }]);
    const show = await runCli(['review', 'show', d!.id, cfg]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /discrepancy \d+: different \(open\) in permits, key P2/);
    assert.match(show.stdout, /owner/);
    const badId = await runCli(['review', 'show', 'abc', cfg]);
    assert.equal(badId.code, 2, 'a bad id is a usage error');
    const dry = await runCli(['review', 'repair', d!.id, '-c', cfg, '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal((JSON.parse(dry.stdout) as { repairs: Array<{ action: string }> }).repairs[0]!.action, 'upsert');
    const status = await runCli(['status', cfg, '--json']);
    assert.equal(status.code, 1, 'an open discrepancy makes status exit 1');
    assert.deepEqual((JSON.parse(status.stdout) as Array<{ pipeline: string; review: Record<string, number> }>).find((r) => r.pipeline === 'permits')?.review, { different: 1 });
    const statusText = await runCli(['status', cfg]);
    assert.match(statusText.stdout, /review queue of permits: 1 open discrepancies \(1 different\)/);
    const noReason = await runCli(['review', 'ignore', d!.id, '-c', cfg]);
    assert.equal(noReason.code, 2, 'ignore without --reason is a usage error');
    const ign = await runCli(['review', 'ignore', d!.id, '-c', cfg, '--reason', 'eve is testing']);
    assert.equal(ign.code, 0, ign.stderr);
    const again = await runCli(['reconcile', 'permits', cfg]);
    assert.equal(again.code, 0, `an ignored discrepancy does not fail the run: ${again.stdout}`);
    assert.match(again.stdout, /1 ignored/);
    assert.equal((await runCli(['status', cfg])).code, 0, 'an ignored discrepancy is not a problem for status');

    writeFileSync(cfg, yaml('{ driver: postgres, url: "postgres://nobody@127.0.0.1:9/none" }'));
    const down = await runCli(['reconcile', 'permits', cfg]);
    assert.equal(down.code, 4, down.stderr + down.stdout);
    assert.match(down.stderr, /cannot read the target side \(system "portal"\) to the end/);
    assert.doesNotMatch(down.stdout, /agree/);
  } finally {
    tmp.cleanup();
  }
});
