// Fixture for test/e2e/run-tests-leftovers.test.ts (not a test of the suite: the name does not
// end in .test.ts): a test that passes but leaves a server running in its own process group.
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

test('starts a server and forgets to stop it', async () => {
  const c = spawn(process.execPath, ['-e', "require('node:net').createServer().listen(0, '127.0.0.1'); setInterval(() => {}, 1000)"], { detached: true, stdio: 'ignore' });
  c.unref();
  await new Promise((r) => setTimeout(r, 500));
  writeFileSync(process.env.LEFTOVER_PID_FILE!, String(c.pid));
  if (process.env.FIXTURE_HANG === '1') await new Promise(() => setInterval(() => {}, 1000)); // until the run is interrupted
});
