/**
 * A throwaway PostgreSQL cluster at wal_level = replica, to see what a logical-replication
 * source says on a server that is not set up for it. Created with initdb in a temporary
 * directory on a free port, stopped and removed by `stop()`. Null with a reason when the
 * PostgreSQL binaries are not installed.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pgBin, runPg } from './pg-logical.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ReplicaCluster { url: string; stop(): Promise<void> }

/** Start the cluster (a few seconds); `{ skip }` names why it could not be started. */
export async function startReplicaCluster(): Promise<{ cluster: ReplicaCluster; skip: false } | { cluster: null; skip: string }> {
  const initdb = pgBin('initdb');
  const pgCtl = pgBin('pg_ctl');
  if (!initdb || !pgCtl) return { cluster: null, skip: 'initdb/pg_ctl not found under /usr/lib/postgresql' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hms-pg-replica-'));
  if (process.getuid?.() === 0) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) return { cluster: null, skip: 'running as root without a postgres OS user' };
    chownSync(dir, Number(id.stdout), Number(gid.stdout));
  }
  const data = path.join(dir, 'data');
  const init = runPg([initdb, '-D', data, '-U', 'postgres', '-A', 'trust']);
  if (!init.ok) return { cluster: null, skip: `initdb failed: ${init.out.trim()}` };
  const port = await freePort();
  const start = runPg([pgCtl, '-D', data, '-l', path.join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c wal_level=replica -c max_wal_senders=3 -c max_replication_slots=3`, 'start']);
  const stop = async () => {
    runPg([pgCtl, '-D', data, '-m', 'immediate', '-w', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  };
  if (!start.ok) {
    await stop();
    return { cluster: null, skip: `pg_ctl start failed: ${start.out.trim()}` };
  }
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('CREATE DATABASE test');
  await admin.end();
  return { cluster: { url: `postgres://postgres@127.0.0.1:${port}/test`, stop }, skip: false };
}
