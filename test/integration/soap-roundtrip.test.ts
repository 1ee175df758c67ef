/**
 * The permits-soap example end to end, with the real engine: HMS (SQLite) -> county SOAP
 * service (PHP SoapServer) and back. A change goes in through the sink, the PHP system's
 * state changes, the county poll sees it, and it is not echoed back; a county-side change
 * reaches HMS and is not echoed to the county either.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from '#better-sqlite3';
import { parseConfig, formatConfigIssue } from '../../src/config/load-config.js';
import { silentLogger } from '../../src/core/log.js';
import { createEngine, type Engine } from '../../src/engine/engine.js';
import { needCommand, tempDir, waitFor } from '../helpers/services.js';
import { startPhpSoapServer, type PhpSoapServer } from '../helpers/php-soap-server.js';

const skip = await needCommand('php', 'apt-get install -y php-cli php-soap');
const EXAMPLE = path.resolve('examples/permits-soap');

let php: PhpSoapServer;
let tmp: { dir: string; cleanup: () => void };
let engine: Engine | undefined;

function hms(): Database.Database {
  return new Database(path.join(tmp.dir, 'hms.db'));
}

function hmsRow(no: string): Record<string, unknown> | undefined {
  const db = hms();
  try {
    return db.prepare('SELECT * FROM permits WHERE permit_no = ?').get(no) as Record<string, unknown> | undefined;
  } finally {
    db.close();
  }
}

describe('permits-soap example: HMS <-> county SOAP service through the engine', { skip }, () => {
  before(async () => {
    tmp = tempDir('hms-permits-soap-');
    php = await startPhpSoapServer();
    const init = spawnSync(process.execPath, ['hms.mjs', 'init'], { cwd: EXAMPLE, env: { ...process.env, HMS_DB: path.join(tmp.dir, 'hms.db') }, encoding: 'utf8' });
    assert.equal(init.status, 0, init.stderr);
  });
  after(async () => {
    await engine?.stop();
    await php?.close();
    tmp?.cleanup();
  });

  /** Every write intent for the reader landed or consumed, then several polls: an echo would have been sent by now. */
  async function settled(reader: string): Promise<void> {
    await waitFor(async () => {
      const keys = ['007', '123', '124'];
      const live = await engine!.store.getIntents(reader, keys, 0);
      return [...live.values()].flat().every((i) => i.landedAt !== null);
    }, { what: `the writes read back by ${reader} to be acknowledged`, timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 600));
  }

  test('edits flow both ways, exactly once, with no echo', async () => {
    // The example as shipped, with faster polls so the test takes seconds.
    const text = readFileSync(path.join(EXAMPLE, 'hms-sync.yaml'), 'utf8').replace(/poll: \d+s/g, 'poll: 100ms').replace(/debounce: \d+ms/, 'debounce: 0s');
    const { config, issues } = parseConfig(text, { baseDir: tmp.dir, env: { COUNTY_WSDL: `${php.baseUrl}/permits?wsdl`, HMS_DB: path.join(tmp.dir, 'hms.db') } });
    assert.ok(config, issues.map(formatConfigIssue).join('\n'));
    engine = createEngine({ config, logger: silentLogger(), idlePollMs: 50 });
    const suppressed: Record<string, number> = {};
    const problems: string[] = [];
    engine.on('source:batch', (b) => { suppressed[b.pipeline] = (suppressed[b.pipeline] ?? 0) + b.suppressed; });
    engine.on('job:dead', ({ error }) => problems.push(`dead: ${error}`));
    engine.on('source:error', ({ pipeline, error }) => problems.push(`${pipeline}: ${error.message}`));
    await engine.start();

    // 1. The three HMS permits arrive in the county system, numbers exact.
    await waitFor(() => php.readStore().permits.length === 3, { what: 'three permits in the county system', timeoutMs: 15_000 });
    const county = Object.fromEntries(php.readStore().permits.map((p) => [p.PermitNumber, p]));
    assert.equal(county['007']?.ParcelId, '9007199254740993');
    assert.equal(county['123']?.Valuation, '12345678901234567890.123456789');
    assert.equal(county['124']?.Address, '9 Pine Rd & Annex');

    // 2. Rosa approves permit 007 in HMS: one UpdatePermit carrying only the status.
    const db = hms();
    db.prepare("UPDATE permits SET status = 'APPROVED' WHERE permit_no = '007'").run();
    db.close();
    await waitFor(() => php.readStore().permits.find((p) => p.PermitNumber === '007')?.Status === 'APPROVED', { what: 'APPROVED in the county system', timeoutMs: 15_000 });
    // The county poll sees our own writes come back and drops them.
    const seq = String(php.readStore().seq);
    await waitFor(async () => (await engine!.store.getPosition('pipeline:county-to-hms')) === seq, { what: `county-to-hms to poll up to Seq ${seq}`, timeoutMs: 15_000 });
    // (either it saw them and dropped them as echoes, or the acknowledged writes reached its shadow first)
    await settled('county-to-hms');

    // 3. A clerk at the county puts permit 123 on hold through the county's own SOAP service.
    const res = await fetch(`${php.baseUrl}/permits`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '"urn:county:permits#UpdatePermit"' },
      body: '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><UpdatePermit xmlns="urn:county:permits"><PermitNumber>123</PermitNumber><Status>ON HOLD</Status></UpdatePermit></soap:Body></soap:Envelope>',
    });
    assert.equal(res.status, 200, await res.text());
    await waitFor(() => hmsRow('123')?.status === 'ON HOLD', { what: 'ON HOLD in HMS', timeoutMs: 15_000 });
    // HMS's poll sees the engine's write and does not send it back to the county.
    await settled('permits-to-county');

    const writes = php.readStore().calls.map((c) => `${c.op} ${c.PermitNumber}`);
    assert.deepEqual(writes.sort(), ['InsertPermit 007', 'InsertPermit 123', 'InsertPermit 124', 'UpdatePermit 007', 'UpdatePermit 123'].sort(), 'each change crossed once; nothing echoed');
    assert.deepEqual(problems, []);
    assert.equal(hmsRow('007')?.status, 'APPROVED');
  });
});
