/**
 * A private mariadbd with the binlog on (ROW format) for binlog tests. log_bin is not dynamic,
 * so rather than restarting the shared server this starts a SECOND server on a spare port with
 * its own temporary datadir and socket, and removes it afterwards.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { IN_CI, canConnect, tempDir, waitFor } from './services.js';

export interface BinlogServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** `false` when mariadbd and mariadb-install-db exist; a skip reason otherwise (a failure under CI). */
export function needMariadbBinaries(): string | false {
  const r = spawnSync('sh', ['-c', 'command -v mariadbd || test -x /usr/sbin/mariadbd; command -v mariadb-install-db'], { encoding: 'utf8' });
  if (r.status === 0) return false;
  const msg = 'mariadbd / mariadb-install-db are not installed; install them with: apt-get install -y mariadb-server';
  if (IN_CI) throw new Error(`CI=true and ${msg}`);
  return msg;
}

/** Start a binlog-enabled mariadbd (ROW format, GTIDs) in a temp dir; creates database `test`. */
export async function startBinlogServer(): Promise<BinlogServer> {
  const tmp = tempDir('hms-binlog-');
  const datadir = path.join(tmp.dir, 'data');
  const socket = path.join(tmp.dir, 'mysqld.sock');
  const user = process.getuid?.() === 0 ? ['--user=root'] : [];
  // its own temp dir: in the shared /tmp another process's cleanup can remove the bootstrap's
  // temporary tables (seen in CI: "Error on delete of '/tmp/#sql-temptable-...'")
  const tmpdir = path.join(tmp.dir, 'tmp');
  mkdirSync(tmpdir, { recursive: true });
  const inst = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db', `--tmpdir=${tmpdir}`, ...user], { encoding: 'utf8' });
  if (inst.status !== 0) throw new Error(`mariadb-install-db failed: ${inst.stderr || inst.stdout}`);
  const port = await freePort();
  const child: ChildProcess = spawn('/usr/sbin/mariadbd', [
    '--no-defaults', `--datadir=${datadir}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1',
    '--log-bin=mysql-bin', '--binlog-format=ROW', '--server-id=1', `--pid-file=${path.join(tmp.dir, 'mysqld.pid')}`, `--tmpdir=${tmpdir}`,
    '--innodb-buffer-pool-size=32M', '--skip-name-resolve', '--log-error=' + path.join(tmp.dir, 'error.log'), ...user,
  ], { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => { exited = true; });
  await waitFor(async () => exited || canConnect('127.0.0.1', port, 200), { timeoutMs: 30_000, what: 'binlog mariadbd to listen' });
  if (exited) throw new Error(`mariadbd exited at start; see ${path.join(tmp.dir, 'error.log')}`);
  const r = spawnSync('mariadb', [`--socket=${socket}`, '-uroot', '-e', 'CREATE DATABASE IF NOT EXISTS test'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot create database test: ${r.stderr}`);
  return {
    url: `mysql://root@127.0.0.1:${port}/test`,
    port,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await waitFor(() => exited, { timeoutMs: 30_000, what: 'binlog mariadbd to stop' });
      }
      tmp.cleanup();
    },
  };
}
