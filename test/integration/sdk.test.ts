/** The seeds' API as users write it: onChange / makeDiff / enqueue / start, and Connector.open().stream(). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDatabase } from '../../src/store/sqlite/sqlite-driver.js';
import { onChange, enqueue, makeDiff, start, stop, Connector } from '../../src/index.js';
import { tempDir, waitFor } from '../helpers/services.js';
import { Receiver } from '../helpers/receiver.js';
import { writeFileSync } from 'node:fs';

test('onChange + makeDiff + enqueue, as in the seed (key taken from the change)', async () => {
  const tmp = tempDir();
  const receiver = new Receiver();
  await receiver.start();
  const src = path.join(tmp.dir, 'permits.db');
  const db = openDatabase(src);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE permits (id TEXT PRIMARY KEY, status TEXT, owner TEXT)');
  db.prepare('INSERT INTO permits VALUES (?, ?, ?)').run('123', 'PENDING', 'Rosa');
  const file = path.join(tmp.dir, 'hms-sync.yaml');
  // the pipeline delivers to county-cobol; the watcher hook adds its own delta, which coalesces with it
  writeFileSync(file, `store: sqlite:${path.join(tmp.dir, 'state.db')}
stateDir: ${tmp.dir}
systems:
  permit-svc: { driver: sqlite, path: ${src} }
  county-cobol: { driver: http, url: ${receiver.url} }
pipelines:
  permits-to-county:
    from: { system: permit-svc, collection: permits, poll: 50ms }
    to: { system: county-cobol, collection: permits, path: "/permits/{key}", body: delta }
    key: id
    debounce: 300ms
`);
  const seen: unknown[] = [];
  onChange('permits', async (oldDoc, newDoc) => {
    const diff = makeDiff(oldDoc, newDoc);
    seen.push(diff);
    await enqueue('county-cobol', { ...diff, audited: true });
  });
  await start(file, { idlePollMs: 50 });
  try {
    await waitFor(() => receiver.requests.length === 1, { what: 'initial insert' });
    db.prepare('UPDATE permits SET status = ? WHERE id = ?').run('APPROVED', '123');
    await waitFor(() => receiver.requests.length === 2, { what: 'the update' });
    const r = receiver.requests[1]!;
    assert.equal(r.url, '/permits/123');
    assert.deepEqual(seen.at(-1), { status: 'APPROVED' }, 'makeDiff gives only the changed field');
    assert.equal(r.body.changed.status, 'APPROVED');
    assert.equal(r.body.changed.audited, true, "the hook's delta merged into the pipeline's job for the same key");
  } finally {
    await stop();
    db.close();
    await receiver.stop();
    tmp.cleanup();
  }
});

test('Connector.open({name, driver, url}) and for await ... of connector.stream({table})', async () => {
  const tmp = tempDir();
  const src = path.join(tmp.dir, 'calendar.db');
  const db = openDatabase(src);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE INSPECTIONS (BRG_ID TEXT PRIMARY KEY, NEXT_INSP_DT TEXT, CODE_STS TEXT)');
  db.prepare('INSERT INTO INSPECTIONS VALUES (?, ?, ?)').run('007', '20261201', 'A');
  const north = await Connector.open({ name: 'mainframe_calendar', driver: 'sqlite', url: src });
  const ac = new AbortController();
  const got: string[] = [];
  try {
    for await (const change of north.stream({ table: 'INSPECTIONS', key: 'BRG_ID', poll: '50ms' }, ac.signal)) {
      const event = { bridgeId: change.after?.BRG_ID, nextDate: change.after?.NEXT_INSP_DT, status: change.after?.CODE_STS };
      got.push(`${change.op} ${event.bridgeId} ${event.nextDate} ${event.status}`);
      if (got.length === 1) db.prepare('UPDATE INSPECTIONS SET NEXT_INSP_DT = ? WHERE BRG_ID = ?').run('20270101', '007');
      if (got.length === 2) db.prepare('DELETE FROM INSPECTIONS WHERE BRG_ID = ?').run('007');
      if (got.length === 3) ac.abort();
    }
    assert.deepEqual(got, ['insert 007 20261201 A', 'update 007 20270101 A', 'delete undefined undefined undefined']);
  } finally {
    await north.close();
    db.close();
    tmp.cleanup();
  }
});
