/**
 * Starts the county permit system (test/peers/php-soap/router.php) with `php -S` on a free
 * loopback port, with its own storage directory, and waits until it answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, waitFor } from './services.js';

const ROUTER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../peers/php-soap');

/** One permit as the PHP system stores it (every value a string, null when cleared). */
export interface StoredPermit {
  PermitNumber: string;
  Status?: string | null;
  Address?: string | null;
  Valuation?: string | null;
  ParcelId?: string | null;
  Seq: string;
  [field: string]: string | null | undefined;
}

export interface PermitStore {
  seq: number;
  permits: StoredPermit[];
  calls: Array<{ op: string; PermitNumber: string; fields?: Record<string, string>; auth?: string | null }>;
}

export interface PhpSoapServer {
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** The storage directory (permits.json lives there). */
  dataDir: string;
  /** The current storage, read from disk. */
  readStore(): PermitStore;
  /** Stops the server (all of its workers) and removes the storage directory. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start a fresh county permit system.
 * @param opts.slowSeconds how long `/slow` sleeps before answering (default 30)
 * @param opts.port listen on this port (default: a free one), e.g. to bring a stopped system back
 */
export async function startPhpSoapServer(opts: { slowSeconds?: number; port?: number } = {}): Promise<PhpSoapServer> {
  const tmp = tempDir('hms-php-soap-');
  const port = opts.port ?? await freePort();
  const child: ChildProcess = spawn('php', ['-S', `127.0.0.1:${port}`, 'router.php'], {
    cwd: ROUTER_DIR,
    // Its own process group, so close() can stop the worker processes php -S forks too.
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      PERMITS_DATA_DIR: tmp.dir,
      PERMITS_SLOW_SECONDS: String(opts.slowSeconds ?? 30),
      // Several workers, so a hanging /slow request does not block the other tests' calls.
      PHP_CLI_SERVER_WORKERS: '4',
    },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* already gone */ }
      await exited;
    }
    tmp.cleanup();
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`php exited with ${child.exitCode}: ${stderr}`);
      const res = await fetch(`${baseUrl}/health`);
      return res.ok && (await res.text()) === 'ok';
    }, { timeoutMs: 10_000, what: `php -S on port ${port} to answer /health` });
  } catch (e) {
    await close();
    throw e;
  }
  return {
    baseUrl,
    dataDir: tmp.dir,
    readStore(): PermitStore {
      const file = path.join(tmp.dir, 'permits.json');
      if (!existsSync(file)) return { seq: 0, permits: [], calls: [] };
      return JSON.parse(readFileSync(file, 'utf8')) as PermitStore;
    },
    close,
  };
}
