import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { loadConfig } from '../../src/config/load-config.js';
import { silentLogger } from '../../src/core/log.js';
import { createEngine } from '../../src/engine/engine.js';
import { tempDir, waitFor } from '../helpers/services.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const CLI = path.join(import.meta.dirname, '../helpers/run-cli.ts');
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });

test('hms-sync triggers install|uninstall (--dry-run, --json) and a mode: triggers pipeline end to end', async () => {
  const src = path.join(tmp.dir, 'legacy.db');
  const dst = path.join(tmp.dir, 'modern.db');
  const s = openDatabase(src);
  s.exec('CREATE TABLE "BRIDGES" ("BRG_ID" TEXT PRIMARY KEY, "NAME" TEXT, "SPAN" REAL)');
  const d = openDatabase(dst);
  d.exec('CREATE TABLE bridges ("BRG_ID" TEXT PRIMARY KEY, "NAME" TEXT, "SPAN" REAL)');
  d.close();
  const cfg = path.join(tmp.dir, 'hms-sync.yaml');
  writeFileSync(cfg, `store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${path.join(tmp.dir, 'state')}
systems:
  legacy: { driver: sqlite, path: ${src} }
  modern: { driver: sqlite, path: ${dst} }
pipelines:
  bridges:
    from: { system: legacy, collection: BRIDGES, mode: triggers, poll: 20ms }
    to: { system: modern, collection: bridges }
    key: BRG_ID
    debounce: 0ms
`);
  const dry = cli('triggers', 'install', 'bridges', cfg, '--dry-run');
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /CREATE TABLE IF NOT EXISTS "hms_sync_changelog"/);
  assert.match(dry.stdout, /AFTER UPDATE ON "BRIDGES"/);
  assert.equal((s.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger'").get() as { n: number }).n, 0, 'dry run creates nothing');
  for (let i = 0; i < 2; i++) {
    const r = cli('triggers', 'install', 'bridges', cfg, '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { triggers: string[]; changelog: string };
    assert.equal(out.triggers.length, 3);
    assert.equal(out.changelog, i === 0 ? 'created' : 'kept');
  }
  const bad = cli('triggers', 'install', 'nope', cfg);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /pipeline "nope" is not defined; defined pipelines are: bridges/);

  const engine = createEngine({ config: await loadConfig(cfg), logger: silentLogger(), idlePollMs: 20 });
  await engine.start();
  try {
    s.prepare('INSERT INTO "BRIDGES" VALUES (?, ?, ?)').run('B-1', 'Old Mill', 41.5);
    s.prepare('INSERT INTO "BRIDGES" VALUES (?, ?, ?)').run('B-2', 'Ferry', 12);
    s.prepare('UPDATE "BRIDGES" SET "NAME" = ? WHERE "BRG_ID" = ?').run('Old Mill Road', 'B-1');
    s.prepare('DELETE FROM "BRIDGES" WHERE "BRG_ID" = ?').run('B-2');
    const t = openDatabase(dst, { readonly: true });
    try {
      await waitFor(() => JSON.stringify(t.prepare('SELECT * FROM bridges').all()) === JSON.stringify([{ BRG_ID: 'B-1', NAME: 'Old Mill Road', SPAN: 41.5 }]), { what: 'target follows the source' });
    } finally {
      t.close();
    }
  } finally {
    await engine.stop();
  }
  const un = cli('triggers', 'uninstall', 'bridges', cfg);
  assert.equal(un.status, 0, un.stderr);
  assert.match(un.stdout, /removed triggers .* change-log dropped/);
  assert.equal((s.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name LIKE 'hms_sync%'").get() as { n: number }).n, 0);
  s.close();
});
