/**
 * examples/permits-cobol end to end: `hms-sync run` turns the sample JSON lines changes into
 * a fixed-width PERMITS file (ASCII, for GnuCOBOL), and READPERMITS.cbl, compiled with cobc,
 * reads and DISPLAYs exactly the records we expect. A second check decodes the EBCDIC
 * (cp037) variant with the codec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { needCommand, tempDir, waitFor } from '../helpers/services.js';
import { createCodec, parseCopybook, readRecords } from '../../src/formats/copybook/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'permits-cobol');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');
/** tsx by absolute URL: the child runs in a temporary directory outside the package. */
const TSX = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** Run the example's config in `dir` until the sample file is delivered, then stop it gracefully. */
async function runExample(dir: string, codePage: string): Promise<string> {
  for (const f of ['hms-sync.yaml', 'PERMIT.cpy']) copyFileSync(path.join(EXAMPLE, f), path.join(dir, f));
  mkdirSync(path.join(dir, 'inbox'));
  const script = `const m = await import(${JSON.stringify(MAIN)}); process.exitCode = await m.main(['run', 'hms-sync.yaml', '--log-level', 'warn']);`;
  const child = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', script], {
    cwd: dir, env: { ...process.env, PERMIT_CODE_PAGE: codePage }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    copyFileSync(path.join(EXAMPLE, 'sample', 'permits-0001.jsonl'), path.join(dir, 'inbox', 'permits-0001.jsonl'));
    const outbox = path.join(dir, 'outbox');
    // 3 records of 70 bytes: 0001 (insert+update coalesced), the delete of 0002, 0003.
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`hms-sync run exited early with code ${child.exitCode}: ${stderr}`);
      return existsSync(outbox) && readdirSync(outbox).some((f) => f.endsWith('.DAT.tmp') && readFileSync(path.join(outbox, f)).length === 210);
    }, { timeoutMs: 30_000, what: 'the three delivered records' });
  } finally {
    child.kill('SIGTERM'); // graceful: the sink closes the open file under its final name
  }
  assert.equal(await exited, 0, stderr);
  const files = readdirSync(path.join(dir, 'outbox')).sort();
  assert.equal(files.length, 2, files.join(' '));
  assert.match(files[0]!, /^PERMITS\.\d{14}\.0001\.DAT$/);
  assert.equal(files[1], `${files[0]}.TRG`);
  assert.ok(existsSync(path.join(dir, 'inbox', 'processed', 'permits-0001.jsonl')));
  return path.join(dir, 'outbox', files[0]!);
}

test('permits example: JSON lines in, ASCII PERMIT records out, read by the GnuCOBOL program', { skip: await needCommand('cobc', 'apt-get install -y gnucobol3') }, async () => {
  const t = tempDir();
  try {
    const dat = await runExample(t.dir, 'ascii');
    const build = path.join(t.dir, 'build');
    cpSync(EXAMPLE, build, { recursive: true });
    const cobc = spawnSync('cobc', ['-x', '-I', build, '-o', path.join(build, 'READPERMITS'), path.join(build, 'READPERMITS.cbl')], { encoding: 'utf8' });
    assert.equal(cobc.status, 0, cobc.stderr);
    const run = spawnSync(path.join(build, 'READPERMITS'), [dat], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.stdout.trimEnd().split('\n').map((l) => l.replace(/\s+/g, ' ').trim()), [
      'I BP-2026-0001 114-22-031 Rosa Diaz A 1250.00 20260115 2',
      'D BP-2026-0002 0.00 00000000 0',
      'I BP-2026-0003 201-07-118 Smith & Sons LLC P -75.25 20260117 0',
      'READPERMITS: 000003 records',
    ]);
  } finally {
    t.cleanup();
  }
});

test('permits example: the default EBCDIC (cp037) file decodes back with the copybook', async () => {
  const t = tempDir();
  try {
    const dat = await runExample(t.dir, 'cp037');
    const bytes = readFileSync(dat);
    assert.equal(bytes[0], 0xc9, 'EBCDIC I');
    const codec = createCodec(parseCopybook(readFileSync(path.join(EXAMPLE, 'PERMIT.cpy'), 'utf8'), { fileName: 'PERMIT.cpy' }), { codePage: 'cp037' });
    const docs = [];
    for await (const r of readRecords([bytes], { format: 'F', recordLength: codec.recordSize })) docs.push(codec.decode(r.record));
    assert.deepEqual(docs.map((d) => [d.ACTION, d.PERMIT_NO, d.OWNER_NAME, d.STATUS_CODE, d.FEE_AMOUNT, d.ISSUED_DATE, d.INSPECTIONS]), [
      ['I', 'BP-2026-0001', 'Rosa Diaz', 'A', '1250.00', 20260115, 2],
      ['D', 'BP-2026-0002', '', '', '0.00', 0, 0],
      ['I', 'BP-2026-0003', 'Smith & Sons LLC', 'P', '-75.25', 20260117, 0],
    ]);
  } finally {
    t.cleanup();
  }
});
