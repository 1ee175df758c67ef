/**
 * The demo's step 4 ("your turn"): an edit the mapping cannot translate (CODE_STS=Z, not in the
 * A/C/P code table) is dead-lettered, and the demo says so on its own output instead of staying
 * silent; `dlq list <demo.yaml>` shows it. The demo runs as a real child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/services.js';

test('demo step 4: a dead-lettered edit is shown with its job id and how to replay it', async () => {
  const tmp = tempDir('hms-demo-dl-');
  const dir = path.join(tmp.dir, 'demo');
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.resolve('test/helpers/run-cli.ts'), 'demo', '--dir', dir], {
    cwd: tmp.dir, env: { ...process.env, HMS_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(() => out.includes('Press Ctrl-C to stop.'), { what: `step 4 (output so far: ${out} ${err})`, timeoutMs: 90_000, intervalMs: 100 });
    assert.match(out, /try CODE_STS=Z/);
    const edit = await runCli(['demo', 'edit', 'B-0042', 'CODE_STS=Z', '--dir', dir]);
    assert.equal(edit.code, 0, edit.stderr);
    await waitFor(() => /bridge B-0042 NOT delivered, dead-lettered as job \d+/.test(out), { what: `the dead letter on the demo's output: ${out}`, timeoutMs: 30_000, intervalMs: 100 });
    const line = out.split('\n').find((l) => l.includes('NOT delivered'))!;
    assert.match(line, /mapping of field "status"/, line);
    const id = /as job (\d+)/.exec(line)![1]!;
    assert.match(out, new RegExp(`npx hms-sync dlq replay ${id} demo/demo\\.yaml --set CODE_STS=A`));
    const list = await runCli(['dlq', 'list', path.join(dir, 'demo.yaml'), '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as Array<{ id: string; key: string }>).map((j) => [j.id, j.key]), [[id, 'B-0042']]);
    child.kill('SIGINT');
    assert.equal(await exited, 0, err);
    assert.match(out, /stopped cleanly/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    tmp.cleanup();
  }
});
