/** The source-lease role of the SQLite store (see SourceStore in ../store.ts); the clock is this host's. */
import type { AcquireResult, SourceHealthState, SourceHolder, SourceStatus } from '../store.js';
import type { SqliteDatabase } from './sqlite-driver.js';
import { sourceFromRow, type SourceRowLike } from '../job-row.js';

const ACQUIRE = `
INSERT INTO sources (source, pipeline, holder, holder_host, holder_pid, acquired_at, heartbeat_at, expires_at, state, state_since, error, updated_at)
VALUES (@source, @pipeline, @holder, @host, @pid, @now, @now, @expires, 'starting', @now, NULL, @now)
ON CONFLICT (source) DO UPDATE SET
  pipeline = excluded.pipeline, holder = excluded.holder, holder_host = excluded.holder_host, holder_pid = excluded.holder_pid,
  acquired_at = CASE WHEN sources.holder IS excluded.holder THEN sources.acquired_at ELSE excluded.acquired_at END,
  heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
  state = 'starting', state_since = excluded.state_since, error = NULL, updated_at = excluded.updated_at
WHERE sources.holder IS NULL OR sources.holder = excluded.holder OR sources.expires_at IS NULL OR sources.expires_at < @now OR sources.holder = @replace`;

/** SQLite hands back numbers. */
interface SourceRow extends SourceRowLike {
  holder_pid: number | null; heartbeat_at: number | null; expires_at: number | null; state_since: number | null; fail_after_ms: number | null;
}

export class SqliteSources {
  constructor(private readonly db: () => SqliteDatabase) {}

  private tx<T>(fn: () => T): T {
    return this.db().transaction(fn).immediate();
  }

  acquire(input: { source: string; pipeline: string; holder: SourceHolder; ttlMs: number; replace?: string }): AcquireResult {
    const db = this.db();
    return this.tx(() => {
      const now = Date.now();
      const r = db.prepare(ACQUIRE).run({ source: input.source, pipeline: input.pipeline, holder: input.holder.holder, host: input.holder.host, pid: input.holder.pid, now, expires: now + input.ttlMs, replace: input.replace ?? null });
      if (r.changes > 0) return { acquired: true } as const;
      const row = db.prepare('SELECT holder, holder_host, holder_pid, heartbeat_at, expires_at FROM sources WHERE source = ?').get(input.source) as SourceRow;
      return { acquired: false, heldBy: { holder: row.holder ?? '?', host: row.holder_host ?? '?', pid: Number(row.holder_pid ?? 0), heartbeatAt: row.heartbeat_at, expiresAt: row.expires_at } } as const;
    });
  }

  renew(holder: string, sources: string[], ttlMs: number): string[] {
    if (!sources.length) return [];
    const now = Date.now();
    const rows = this.db().prepare('UPDATE sources SET heartbeat_at = ?, expires_at = ? WHERE holder = ? AND source IN (SELECT value FROM json_each(?)) RETURNING source')
      .all(now, now + ttlMs, holder, JSON.stringify(sources)) as Array<{ source: string }>;
    return rows.map((r) => r.source);
  }

  release(holder: string, sources: string[]): void {
    if (!sources.length) return;
    const now = Date.now();
    this.db().prepare(`UPDATE sources SET holder = NULL, holder_host = NULL, holder_pid = NULL, expires_at = NULL, updated_at = ?,
      state = CASE WHEN state = 'failed' THEN state ELSE 'stopped' END, state_since = CASE WHEN state = 'failed' THEN state_since ELSE ? END
      WHERE holder = ? AND source IN (SELECT value FROM json_each(?))`).run(now, now, holder, JSON.stringify(sources));
  }

  setState(source: string, holder: string, s: { state: SourceHealthState; since: number; error: string | null; failAfterMs: number | null }): void {
    this.db().prepare('UPDATE sources SET state = ?, state_since = ?, error = ?, fail_after_ms = ?, updated_at = ? WHERE source = ? AND holder = ?')
      .run(s.state, s.since, s.error, s.failAfterMs, Date.now(), source, holder);
  }

  list(): SourceStatus[] {
    const now = Date.now();
    return (this.db().prepare('SELECT * FROM sources ORDER BY pipeline, source').all() as SourceRow[]).map((r) => sourceFromRow(r, now));
  }

  probe(writer: string): void {
    this.tx(() => {
      // a few pages (randomblob: not compressible, overflow pages) so a file system without room for them fails the probe
      this.db().prepare('INSERT INTO store_probe (id, written_at, writer) VALUES (1, ?, ? || hex(randomblob(8192))) ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at, writer = excluded.writer').run(Date.now(), writer);
    });
  }
}
