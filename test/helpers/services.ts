/**
 * Real services for integration tests. A test that needs a service it cannot reach FAILS
 * when CI=true and is skipped with a clear message elsewhere.
 */
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const SERVICES = {
  postgres: { host: '127.0.0.1', port: 5432, start: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' },
  mariadb: { host: '127.0.0.1', port: 3306, start: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd' },
  redis: { host: '127.0.0.1', port: 6379, start: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no' },
  rabbitmq: { host: '127.0.0.1', port: 5672, start: 'rabbitmq-server -detached' },
  mqtt: { host: '127.0.0.1', port: 1883, start: 'mosquitto -d -c /etc/mosquitto/mosquitto.conf' },
  nats: { host: '127.0.0.1', port: 4222, start: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server' },
} as const;

export type ServiceName = keyof typeof SERVICES;

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Returns `false` (a reason string for `skip`) when the service is reachable; in CI an
 * unreachable service throws so the test fails. Use: `test('x', { skip: await needService('postgres') }, ...)`.
 */
export async function needService(name: ServiceName): Promise<string | false> {
  const s = SERVICES[name];
  if (await canConnect(s.host, s.port)) return false;
  const msg = `${name} is not reachable on ${s.host}:${s.port}; start it with: ${s.start}`;
  if (IN_CI) throw new Error(`CI=true and ${msg}`);
  return msg;
}

/** Same contract for a local command (php, cobc, chromium...). */
export async function needCommand(cmd: string, installHint: string): Promise<string | false> {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status === 0) return false;
  const msg = `${cmd} is not installed; install it with: ${installHint}`;
  if (IN_CI) throw new Error(`CI=true and ${msg}`);
  return msg;
}

export const PG_URL = process.env.HMS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MARIADB_URL = process.env.HMS_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'hms-sync-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A unique PostgreSQL schema name per test file / run (isolation without new databases). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Wait for a condition with a deadline (no fixed sleeps in tests). */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
  throw new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${opts.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
}
