/**
 * The source-lease role of the PostgreSQL store (see SourceStore in ../store.ts). Times come from
 * the server's clock (`clock_timestamp()`), so processes on several machines agree on expiry.
 */
import type pg from 'pg';
import { sourceFromRow, type SourceRowLike } from '../job-row.js';
import type { AcquireResult, SourceHealthState, SourceHolder, SourceStatus } from '../store.js';

const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

type SourceRow = SourceRowLike & { now: string };
const fromRow = (r: SourceRow): SourceStatus => sourceFromRow(r, Number(r.now));

type Query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>;

export class PostgresSources {
  constructor(private readonly q: string, private readonly query: Query) {}

  async acquire(input: { source: string; pipeline: string; holder: SourceHolder; ttlMs: number; replace?: string }): Promise<AcquireResult> {
    const t = `${this.q}.sources`;
    const r = await this.query<{ source: string }>(`
INSERT INTO ${t} AS s (source, pipeline, holder, holder_host, holder_pid, acquired_at, heartbeat_at, expires_at, state, state_since, error, updated_at)
VALUES ($1, $2, $3, $4, $5, ${NOW_MS}, ${NOW_MS}, ${NOW_MS} + $6::bigint, 'starting', ${NOW_MS}, NULL, ${NOW_MS})
ON CONFLICT (source) DO UPDATE SET
  pipeline = excluded.pipeline, holder = excluded.holder, holder_host = excluded.holder_host, holder_pid = excluded.holder_pid,
  acquired_at = CASE WHEN s.holder IS NOT DISTINCT FROM excluded.holder THEN s.acquired_at ELSE excluded.acquired_at END,
  heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
  state = 'starting', state_since = excluded.state_since, error = NULL, updated_at = excluded.updated_at
WHERE s.holder IS NULL OR s.holder = excluded.holder OR s.expires_at IS NULL OR s.expires_at < ${NOW_MS} OR s.holder = $7
RETURNING source`, [input.source, input.pipeline, input.holder.holder, input.holder.host, input.holder.pid, input.ttlMs, input.replace ?? null]);
    if (r.rowCount) return { acquired: true };
    const h = (await this.query<SourceRow>(`SELECT holder, holder_host, holder_pid, heartbeat_at, expires_at FROM ${t} WHERE source = $1`, [input.source])).rows[0];
    return { acquired: false, heldBy: { holder: h?.holder ?? '?', host: h?.holder_host ?? '?', pid: Number(h?.holder_pid ?? 0), heartbeatAt: h?.heartbeat_at == null ? null : Number(h.heartbeat_at), expiresAt: h?.expires_at == null ? null : Number(h.expires_at) } };
  }

  async renew(holder: string, sources: string[], ttlMs: number): Promise<string[]> {
    if (!sources.length) return [];
    const r = await this.query<{ source: string }>(`UPDATE ${this.q}.sources SET heartbeat_at = ${NOW_MS}, expires_at = ${NOW_MS} + $3::bigint WHERE holder = $1 AND source = ANY($2::text[]) RETURNING source`, [holder, sources, ttlMs]);
    return r.rows.map((x) => x.source);
  }

  async release(holder: string, sources: string[]): Promise<void> {
    if (!sources.length) return;
    await this.query(`UPDATE ${this.q}.sources SET holder = NULL, holder_host = NULL, holder_pid = NULL, expires_at = NULL, updated_at = ${NOW_MS},
      state = CASE WHEN state = 'failed' THEN state ELSE 'stopped' END, state_since = CASE WHEN state = 'failed' THEN state_since ELSE ${NOW_MS} END
      WHERE holder = $1 AND source = ANY($2::text[])`, [holder, sources]);
  }

  async setState(source: string, holder: string, s: { state: SourceHealthState; since: number; error: string | null; failAfterMs: number | null }): Promise<void> {
    await this.query(`UPDATE ${this.q}.sources SET state = $3, state_since = $4, error = $5, fail_after_ms = $6, updated_at = ${NOW_MS} WHERE source = $1 AND holder = $2`,
      [source, holder, s.state, s.since, s.error, s.failAfterMs]);
  }

  async list(): Promise<SourceStatus[]> {
    return (await this.query<SourceRow>(`SELECT *, ${NOW_MS} AS now FROM ${this.q}.sources ORDER BY pipeline, source`)).rows.map(fromRow);
  }

  async probe(writer: string): Promise<void> {
    await this.query(`INSERT INTO ${this.q}.store_probe (id, written_at, writer) VALUES (1, ${NOW_MS}, $1) ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at, writer = excluded.writer`, [writer]);
  }
}
