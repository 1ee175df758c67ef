/**
 * A real OpenSSH SFTP server on loopback for integration tests: a non-daemon sshd on a free
 * port with a temporary host key, a temporary user key and its own sshd_config (internal-sftp,
 * key login for the current user only). Needs Debian's openssh-server (`/usr/sbin/sshd`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { canConnect, needCommand, tempDir, waitFor } from './services.js';

export const SSHD = '/usr/sbin/sshd';

export interface SftpServer {
  host: string;
  port: number;
  username: string;
  /** Path of the user's private key (no passphrase). */
  privateKey: string;
  /** A fresh directory for the test's files (absolute: internal-sftp is not chrooted). */
  root: string;
  /** `SHA256:...` fingerprint of the server's host key (ssh-keygen -lf). */
  hostFingerprint: string;
  /** Stop sshd and remove the temporary files. */
  stop(): Promise<void>;
}

/** `false` when sshd is installed; a skip reason otherwise (throws when CI=true). */
export function needSshd(): Promise<string | false> {
  return needCommand(SSHD, 'apt-get install -y openssh-server');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function keygen(file: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'hms-sync-test', '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
}

/** Start sshd; resolves once it accepts TCP connections. */
export async function startSftpServer(): Promise<SftpServer> {
  const tmp = tempDir('hms-sftp-');
  const hostKey = path.join(tmp.dir, 'host_ed25519');
  const userKey = path.join(tmp.dir, 'user_ed25519');
  keygen(hostKey);
  keygen(userKey);
  const authorized = path.join(tmp.dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${userKey}.pub`), { mode: 0o600 });
  const root = path.join(tmp.dir, 'files');
  mkdirSync(root);
  // sshd running as root insists on its privilege-separation directory.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const username = os.userInfo().username;
  const port = await freePort();
  const config = path.join(tmp.dir, 'sshd_config');
  writeFileSync(config, [
    `ListenAddress 127.0.0.1`,
    `HostKey ${hostKey}`,
    `PidFile ${path.join(tmp.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorized}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin yes',
    'StrictModes no',
    'UsePAM no',
    `AllowUsers ${username}`,
    'Subsystem sftp internal-sftp',
    'LogLevel ERROR',
    '',
  ].join('\n'));
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  let exited: number | null = null;
  child.once('exit', (code) => { exited = code ?? -1; });
  try {
    await waitFor(async () => {
      if (exited !== null) throw new Error(`sshd exited with code ${exited}: ${stderr.trim()}`);
      return canConnect('127.0.0.1', port, 200);
    }, { timeoutMs: 10_000, what: `sshd on 127.0.0.1:${port}` });
  } catch (e) {
    child.kill('SIGTERM');
    tmp.cleanup();
    throw new Error(`could not start sshd (${String(e)}); stderr: ${stderr.trim()}`);
  }
  const fp = spawnSync('ssh-keygen', ['-lf', `${hostKey}.pub`], { encoding: 'utf8' }).stdout.split(' ')[1] ?? '';
  return {
    hostFingerprint: fp,
    host: '127.0.0.1',
    port,
    username,
    privateKey: userKey,
    root,
    async stop() {
      if (exited === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      tmp.cleanup();
    },
  };
}
