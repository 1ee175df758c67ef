/** `hms-sync copybook layout|decode|encode` through the real entry point, in a child process. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/services.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

function run(args: string[], input?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then(async m=>process.exitCode=await m.main(process.argv.slice(1)))", ...args], { cwd: ROOT, env: { ...process.env, HMS_LOG_LEVEL: 'silent' } });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    if (input) child.stdin.end(input); else child.stdin.end();
  });
}

const COPYBOOK = [
  '       01  PERMIT.',
  '           05  PERMIT-ID      PIC 9(6) COMP-3.',
  '           05  OWNER          PIC X(10).',
  '           05  FEE            PIC S9(5)V99 COMP-3.',
  '           05  UNITS          PIC S9(4) COMP.',
  '',
].join('\n');

describe('hms-sync copybook', () => {
  const tmp = tempDir('hms-copybook-cli-');
  after(() => tmp.cleanup());
  const cpy = path.join(tmp.dir, 'permit.cpy');
  writeFileSync(cpy, COPYBOOK);

  it('layout prints the cobrix-style report and JSON', async () => {
    const [r, j] = await Promise.all([run(['copybook', 'layout', cpy]), run(['copybook', 'layout', cpy, '--json'])]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.toString().split('\n');
    assert.match(lines[0]!, /LENGTH {2}TYPE$/);
    assert.match(lines[2]!, /^1 PERMIT\s+1\s+1\s+20\s+20 {2}group$/);
    assert.match(lines[4]!, /^ {2}5 OWNER\s+3\s+5\s+14\s+10 {2}X\(10\)$/);
    assert.ok(lines.some((l) => / {2}S9\(5\)V99 COMP-3$/.test(l)), 'the COMP-3 field shows its PICTURE and USAGE');
    const parsed = JSON.parse(j.stdout.toString()) as { recordSize: number; fields: Array<{ path: string; offset: number; size: number; type: string }> };
    assert.equal(parsed.recordSize, 20);
    assert.deepEqual(parsed.fields.find((f) => f.path === 'PERMIT.FEE'), { path: 'PERMIT.FEE', level: 5, offset: 14, size: 4, type: 'S9(5)V99 COMP-3' });
  });

  it('encode then decode round-trips JSON lines through EBCDIC records (F, V, V and VB little-endian)', async () => {
    const jsonl = path.join(tmp.dir, 'in.jsonl');
    writeFileSync(jsonl, '{"PERMIT_ID":123456,"OWNER":"ADA","FEE":"-12.50","UNITS":-3}\n{"PERMIT_ID":7,"OWNER":"GRACE","FEE":"99999.99","UNITS":12}\n');
    for (const [format, ...extra] of [['F'], ['V'], ['V', '--rdw-byte-order', 'little'], ['VB', '--rdw-byte-order', 'little']] as const) {
      const enc = await run(['copybook', 'encode', cpy, jsonl, '--record-format', format, ...extra]);
      assert.equal(enc.code, 0, enc.stderr);
      assert.equal(enc.stdout.length, { F: 40, V: 48, VB: 52 }[format]);
      if (format === 'V') assert.deepEqual([...enc.stdout.subarray(0, 4)], extra.length ? [24, 0, 0, 0] : [0, 24, 0, 0], 'RDW length 24 (4 + 20) in the asked byte order');
      if (format === 'VB') assert.deepEqual([...enc.stdout.subarray(0, 2)], [52, 0], 'little-endian BDW');
      const data = path.join(tmp.dir, `data.${format}${extra.length}`);
      writeFileSync(data, enc.stdout);
      const dec = await run(['copybook', 'decode', cpy, data, '--record-format', format, ...extra]);
      assert.equal(dec.code, 0, dec.stderr);
      assert.deepEqual(dec.stdout.toString().trim().split('\n').map((l) => JSON.parse(l)), [
        { PERMIT_ID: 123456, OWNER: 'ADA', FEE: '-12.50', UNITS: -3 },
        { PERMIT_ID: 7, OWNER: 'GRACE', FEE: '99999.99', UNITS: 12 },
      ]);
    }
  });

  it('decode --on-error skip reports bad records on stderr, goes on, and exits 1', async () => {
    const good = Buffer.from('0123456F' + 'C1C4C1' + '40'.repeat(7) + '0001250D' + '0001', 'hex');
    const bad = Buffer.from(good);
    bad[14] = 0xa0;
    const data = path.join(tmp.dir, 'mixed.bin');
    writeFileSync(data, Buffer.concat([good, bad, good]));
    const [r, failing] = await Promise.all([run(['copybook', 'decode', cpy, data, '--on-error', 'skip']), run(['copybook', 'decode', cpy, data])]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.toString().trim().split('\n').length, 2);
    assert.match(r.stderr, /skipped record 2 \(byte offset 20\): record 2, field FEE at byte offset 14: invalid packed decimal x'A001250D': byte 0xA0 at \+0 holds a nibble above 9/);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /hms-sync: record 2, field FEE at byte offset 14/);
  });

  it('decodes a multi-segment line sequential ASCII file with --segment-field and --segment', async () => {
    const seg = path.join(tmp.dir, 'seg.cpy');
    writeFileSync(seg, [
      '       01  REC.',
      '           05  KIND        PIC X.',
      '           05  CUSTOMER.',
      '               10  NAME    PIC X(8).',
      '           05  PAYMENT     REDEFINES CUSTOMER.',
      '               10  AMOUNT  PIC S9(5)V99 SIGN TRAILING SEPARATE.',
      '',
    ].join('\n'));
    const data = path.join(tmp.dir, 'seg.txt');
    writeFileSync(data, 'CADA\nP0001250-\n');
    const [r, bad] = await Promise.all([
      run(['copybook', 'decode', seg, data, '--code-page', 'ascii', '--record-format', 'D', '--segment-field', 'KIND', '--segment', 'C=CUSTOMER', '--segment', 'P=PAYMENT']),
      run(['copybook', 'decode', seg, data, '--segment', 'nonsense']),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l)), [
      { KIND: 'C', CUSTOMER: { NAME: 'ADA' } },
      { KIND: 'P', PAYMENT: { AMOUNT: '-12.50' } },
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--segment "nonsense" is not valid; expected id=REDEFINES-NAME/);
  });

  it('reports a copybook error with file:line and bad arguments with exit code 2', async () => {
    const badCpy = path.join(tmp.dir, 'bad.cpy');
    writeFileSync(badCpy, '       01  R.\n           05  A  PIC X(3) COMP-9.\n');
    const [r, usage, dir, choice, help] = await Promise.all([
      run(['copybook', 'layout', badCpy]),
      run(['copybook', 'decode', cpy, path.join(tmp.dir, 'missing.bin')]),
      run(['copybook', 'decode', cpy, tmp.dir]),
      run(['copybook', 'decode', cpy, cpy, '--record-format', 'X']),
      run(['copybook', 'decode', '--help']),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.cpy:2: expected a clause .* found "COMP-9"/);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /cannot read data file .*missing\.bin/);
    assert.equal(dir.code, 2);
    assert.match(dir.stderr, /data file .* is a directory; give the path of a file/);
    assert.equal(choice.code, 2);
    assert.equal(help.code, 0);
    assert.match(help.stdout.toString(), /--code-page <name>/);
    assert.ok(readFileSync(cpy, 'utf8').length > 0);
  });
});
