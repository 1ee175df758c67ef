/** The SQL the SQLite store runs, prepared once per connection (better-sqlite3 caches nothing itself). */
import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';

/**
 * The claim rule: a pending job whose time has come and that is the head of its key (no older
 * unfinished job of the same pipeline+key, and no job of that key running, which covers a
 * replayed old dead letter while a newer job is in flight). Scans `jobs_pending_run_at` in
 * order and stops after `limit` heads; each candidate costs two probes of small partial indexes.
 */
const CLAIM = `
UPDATE jobs SET state = 'running', locked_by = @worker, lease_until = @leaseUntil, attempts = attempts + 1, updated_at = @now
WHERE id IN (
  SELECT j.id FROM jobs j INDEXED BY jobs_pending_run_at
  WHERE j.state = 'pending' AND j.run_at <= @now
    AND (@pipelines IS NULL OR j.pipeline IN (SELECT value FROM json_each(@pipelines)))
    AND NOT EXISTS (SELECT 1 FROM jobs h WHERE h.pipeline = j.pipeline AND h.key = j.key AND h.state IN ('pending', 'running') AND h.id < j.id)
    AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.pipeline = j.pipeline AND r.key = j.key AND r.state = 'running')
  ORDER BY j.run_at, j.id
  LIMIT @limit
)
RETURNING *`;

const NEXT_RUN_AT = `
SELECT min(t) AS t FROM (
  SELECT (SELECT j.run_at FROM jobs j INDEXED BY jobs_pending_run_at
    WHERE j.state = 'pending'
      AND (@pipelines IS NULL OR j.pipeline IN (SELECT value FROM json_each(@pipelines)))
      AND NOT EXISTS (SELECT 1 FROM jobs h WHERE h.pipeline = j.pipeline AND h.key = j.key AND h.state IN ('pending', 'running') AND h.id < j.id)
      AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.pipeline = j.pipeline AND r.key = j.key AND r.state = 'running')
    ORDER BY j.run_at, j.id LIMIT 1) AS t
  UNION ALL
  SELECT min(lease_until) FROM jobs WHERE state = 'running'
    AND (@pipelines IS NULL OR pipeline IN (SELECT value FROM json_each(@pipelines)))
)`;

/** Positional parameters of one row of `insertJob(s)`: pipeline, target, key, payload, max_attempts, run_at, max_run_at, created_at, updated_at. */
const INSERT_ROW = "(?, ?, ?, 1, 'pending', ?, 0, ?, ?, ?, ?, ?)";
/** Parameters per row of {@link INSERT_ROW}. */
export const INSERT_PARAMS = 9;
/**
 * Rows per multi-row INSERT (`insertJobs`): one statement step per 64 jobs instead of one per
 * job (64 x 9 = 576 parameters, far below SQLite's limit). Rows are inserted in VALUES order,
 * so ids follow input order.
 */
export const INSERT_BATCH = 64;

/** Every statement of the SQLite store, by name. */
export const SQL = {
  tail: `SELECT id, target, state, version, payload, attempts, run_at, max_run_at FROM jobs
    WHERE pipeline = ? AND key = ? AND state IN ('pending', 'running') ORDER BY id DESC LIMIT 1`,
  /** Which of the keys (a JSON array) of one pipeline have an unfinished job: one statement, an index probe per key. */
  unfinishedKeys: `SELECT k.value AS key FROM json_each(?) k
    WHERE EXISTS (SELECT 1 FROM jobs x WHERE x.pipeline = ? AND x.key = k.value AND x.state IN ('pending', 'running'))`,
  /**
   * Whether any of the keys (a JSON array) of one pipeline has a pending job (the bulk writer's
   * fast-path check). The IN term lets the partial index jobs_key_unfinished serve the probe.
   */
  pendingKey: `SELECT 1 AS blocked FROM json_each(?) k
    WHERE EXISTS (SELECT 1 FROM jobs x WHERE x.pipeline = ? AND x.key = k.value AND x.state IN ('pending', 'running') AND x.state = 'pending')
    LIMIT 1`,
  insertJob: `INSERT INTO jobs (pipeline, target, key, version, state, payload, attempts, max_attempts, run_at, max_run_at, created_at, updated_at)
    VALUES ${INSERT_ROW}`,
  insertJobs: `INSERT INTO jobs (pipeline, target, key, version, state, payload, attempts, max_attempts, run_at, max_run_at, created_at, updated_at)
    VALUES ${Array.from({ length: INSERT_BATCH }, () => INSERT_ROW).join(', ')}`,
  mergeJob: `UPDATE jobs SET payload = @payload, version = @version, run_at = @runAt, updated_at = @now
    WHERE id = @id AND version = @fromVersion AND state = 'pending'`,
  upsertShadow: `INSERT INTO shadow (scope, key, fingerprint, doc, updated_at) VALUES (@scope, @key, @fingerprint, @doc, @updatedAt)
    ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, doc = excluded.doc, updated_at = excluded.updated_at`,
  deleteShadow: 'DELETE FROM shadow WHERE scope = ? AND key = ?',
  upsertPosition: `INSERT INTO positions (source, position, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (source) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
  reclaimExpired: `UPDATE jobs SET state = 'pending', locked_by = NULL, lease_until = NULL, updated_at = @now
    WHERE state = 'running' AND lease_until <= @now`,
  claim: CLAIM,
  complete: `UPDATE jobs SET state = 'done', locked_by = NULL, lease_until = NULL, updated_at = @now
    WHERE id = @id AND version = @version AND state = 'running' AND (@worker IS NULL OR locked_by = @worker)`,
  retry: `UPDATE jobs SET state = 'pending', run_at = @retryAt, last_error = @error, locked_by = NULL, lease_until = NULL, updated_at = @now
    WHERE id = @id AND version = @version AND state = 'running' AND (@worker IS NULL OR locked_by = @worker)`,
  kill: `UPDATE jobs SET state = 'dead', last_error = @error, locked_by = NULL, lease_until = NULL, updated_at = @now
    WHERE id = @id AND version = @version AND state = 'running' AND (@worker IS NULL OR locked_by = @worker)`,
  extendLease: `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND locked_by = ? AND state = 'running'`,
  nextRunAt: NEXT_RUN_AT,
  getPosition: 'SELECT position FROM positions WHERE source = ?',
  getShadow: 'SELECT scope, key, fingerprint, doc, updated_at FROM shadow WHERE scope = ? AND key IN (SELECT value FROM json_each(?))',
  shadowFirstPage: 'SELECT scope, key, fingerprint, doc, updated_at FROM shadow WHERE scope = ? AND key >= ? ORDER BY key LIMIT ?',
  shadowPage: 'SELECT scope, key, fingerprint, doc, updated_at FROM shadow WHERE scope = ? AND key > ? ORDER BY key LIMIT ?',
  statsCounts: `SELECT pipeline, target, state, attempts > 0 AS retried, count(*) AS n, min(created_at) AS oldest
    FROM jobs GROUP BY pipeline, target, state, retried`,
  /** Unfinished jobs per pipeline (the log's periodic delivery line): reads the partial index of unfinished jobs, not the done ones. */
  backlog: `SELECT pipeline, sum(state = 'pending') AS pending, sum(state = 'running') AS running,
    min(CASE WHEN state = 'pending' THEN created_at END) AS oldest FROM jobs WHERE state IN ('pending', 'running') GROUP BY pipeline`,
  statsErrors: `SELECT pipeline, target, last_error, max(updated_at) AS at FROM jobs
    WHERE state <> 'done' AND last_error IS NOT NULL GROUP BY pipeline, target`,
  getJob: 'SELECT * FROM jobs WHERE id = ?',
  listJobs: `SELECT * FROM jobs WHERE (@state IS NULL OR state = @state) AND (@pipeline IS NULL OR pipeline = @pipeline)
    ORDER BY id LIMIT @limit`,
  replay: `UPDATE jobs SET state = 'pending', attempts = 0, version = version + 1, run_at = @now, payload = @payload, last_error = NULL,
    locked_by = NULL, lease_until = NULL, updated_at = @now WHERE id = @id AND state = 'dead' RETURNING *`,
  /** The newest delivered job of a pipeline and key newer than a dead letter (replay guard): walks ids down from the newest. */
  newerDone: `SELECT id, target, updated_at FROM jobs WHERE pipeline = ? AND key = ? AND id > ? AND state = 'done' ORDER BY id DESC LIMIT 1`,
  discard: `DELETE FROM jobs WHERE id = ? AND state = 'dead'`,
  audit: 'INSERT INTO audit (at, actor, action, job_id, details) VALUES (?, ?, ?, ?, ?)',
  listAudit: 'SELECT * FROM audit ORDER BY id DESC LIMIT ?',
  prune: `DELETE FROM jobs WHERE state = 'done' AND updated_at < ?`,
  rememberId: 'INSERT INTO dedupe_ids (scope, id, seen_at) VALUES (?, ?, ?) ON CONFLICT (scope, id) DO NOTHING',
  seenIds: 'SELECT id FROM dedupe_ids WHERE scope = ? AND id IN (SELECT value FROM json_each(?))',
  forgetIds: 'DELETE FROM dedupe_ids WHERE scope = ? AND seen_at < ?',
  insertIntent: 'INSERT INTO echo_intents (reader, key, writer, fields, state, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  landIntents: 'UPDATE echo_intents SET landed_at = ? WHERE id IN (SELECT value FROM json_each(?))',
  expireIntents: 'DELETE FROM echo_intents WHERE created_at < ?',
  getIntents: `SELECT id, reader, key, writer, fields, state, created_at, landed_at FROM echo_intents
    WHERE reader = ? AND key IN (SELECT value FROM json_each(?)) AND created_at >= ? ORDER BY id`,
  updateIntent: 'UPDATE echo_intents SET fields = ? WHERE id = ?',
  deleteIntent: 'DELETE FROM echo_intents WHERE id = ?',
};

export type SqliteStatements = { readonly [K in keyof typeof SQL]: SqliteStatement };

/** Prepare every statement of the store once (call after migrations, when the tables exist). */
export function prepareStatements(db: SqliteDatabase): SqliteStatements {
  return Object.fromEntries(Object.entries(SQL).map(([k, sql]) => [k, db.prepare(sql)])) as SqliteStatements;
}
