/**
 * The SQL the PostgreSQL store runs, built once per schema. Batches travel as arrays
 * (`unnest`), so one statement handles a whole batch of enqueues, claims, acks or failures.
 */

/**
 * Conditions that make pending job `j` the head of its (pipeline, key): see docs/store.md.
 * `OFFSET 0` keeps each NOT EXISTS a per-row index probe (a SubPlan) instead of letting the
 * planner turn it into an anti join, which with stale statistics may scan every running job
 * for every candidate; the probe costs O(log n) whatever the statistics say.
 */
const HEAD = (s: string) => `
    AND NOT EXISTS (SELECT 1 FROM ${s}.jobs h WHERE h.pipeline = j.pipeline AND h.key = j.key AND h.state IN ('pending', 'running') AND h.id < j.id OFFSET 0)
    AND NOT EXISTS (SELECT 1 FROM ${s}.jobs r WHERE r.pipeline = j.pipeline AND r.key = j.key AND r.state = 'running' OFFSET 0)`;

/**
 * Lock order: every statement that may WAIT for a job row lock takes its locks in id order
 * (this CTE: the rows of the ids in array `param`, sorted, locked before anything is updated), so
 * two transactions never wait for each other in a cycle; the claim and the lease reclaim never
 * wait (SKIP LOCKED). MATERIALIZED keeps the CTE one locking scan run before the update.
 */
const LOCK_JOBS = (s: string, param: string) => `l AS MATERIALIZED (SELECT id FROM ${s}.jobs WHERE id = ANY(${param}::bigint[]) ORDER BY id FOR UPDATE)`;

/** All statements for one schema (`s` is the quoted schema name). */
export function postgresSql(s: string) {
  return {
    /**
     * Newest unfinished job per (pipeline, key), locked in id order (the order every statement
     * that waits for job row locks takes them in, so none of them deadlock): a concurrent ack of
     * it waits for this commit (and vice versa). $1: JSON array of [pipeline, key].
     */
    tails: `
SELECT j.id, j.pipeline, j.key, j.target, j.state, j.version, j.payload, j.attempts, j.run_at, j.max_run_at
FROM ${s}.jobs j
WHERE j.id IN (
  SELECT (SELECT max(x.id) FROM ${s}.jobs x WHERE x.pipeline = t.v->>0 AND x.key = t.v->>1 AND x.state IN ('pending', 'running'))
  FROM jsonb_array_elements($1::jsonb) AS t(v))
ORDER BY j.id
FOR UPDATE OF j`,
    /**
     * The fast path of a commit without shadow rows: insert the planned batch (and record the
     * source position, $3/$4 when not null) unless one of its coalescing keys already has a
     * pending job; then nothing is written, `blocked` is true, and the caller takes the locking
     * path that merges. One statement, so no explicit transaction. $1: see insertJobs.
     */
    insertUnlessPending: `
WITH u AS (
  SELECT e.v, e.ord FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(v, ord)
), blocked AS (
  SELECT 1 FROM u WHERE (u.v->>7)::boolean AND EXISTS (SELECT 1 FROM ${s}.jobs x WHERE x.pipeline = u.v->>0 AND x.key = u.v->>2 AND x.state = 'pending') LIMIT 1
), ins AS (
  INSERT INTO ${s}.jobs (pipeline, target, key, version, state, payload, attempts, max_attempts, run_at, max_run_at, created_at, updated_at)
  SELECT u.v->>0, u.v->>1, u.v->>2, 1, 'pending', u.v->3, 0, (u.v->>4)::int, (u.v->>5)::bigint, (u.v->>6)::bigint, $2, $2 FROM u
  WHERE NOT EXISTS (SELECT 1 FROM blocked)
  ORDER BY u.ord
  RETURNING 1
), pos AS (
  INSERT INTO ${s}.positions (source, position, updated_at)
  SELECT $3::text, $4::text, $2 WHERE $3::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM blocked)
  ON CONFLICT (source) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::int AS n, EXISTS (SELECT 1 FROM blocked) AS blocked, (SELECT count(*) FROM pos)::int AS pos`,
    /**
     * Insert a batch in order (ids follow input order). $1 is ONE JSON array of
     * [pipeline, target, key, payload, maxAttempts, runAt, maxRunAt, coalesce]: serialised by
     * JSON.stringify and parsed once by PostgreSQL, where text arrays cost the client about
     * 30 us per job (element escaping and garbage) on a 10,000-job batch.
     */
    insertJobs: `
WITH ins AS (
INSERT INTO ${s}.jobs (pipeline, target, key, version, state, payload, attempts, max_attempts, run_at, max_run_at, created_at, updated_at)
SELECT e.v->>0, e.v->>1, e.v->>2, 1, 'pending', e.v->3, 0, (e.v->>4)::int, (e.v->>5)::bigint, (e.v->>6)::bigint, $2, $2
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(v, ord)
ORDER BY e.ord
RETURNING 1)
SELECT count(*) AS n FROM ins`,
    /** $1: JSON array of [id, fromVersion, version, payload, runAt]; $2: now. */
    mergeJobs: `
WITH upd AS (
UPDATE ${s}.jobs j SET payload = u.v->3, version = (u.v->>2)::int, run_at = (u.v->>4)::bigint, updated_at = $2
FROM jsonb_array_elements($1::jsonb) AS u(v)
WHERE j.id = (u.v->>0)::bigint AND j.version = (u.v->>1)::int AND j.state = 'pending'
RETURNING 1)
SELECT count(*) AS n FROM upd`,
    /** $1: JSON array of [scope, key, fingerprint, doc (null: none), updatedAt]. */
    upsertShadow: `
INSERT INTO ${s}.shadow (scope, key, fingerprint, doc, updated_at)
SELECT u.v->>0, u.v->>1, u.v->>2, CASE WHEN jsonb_typeof(u.v->3) = 'null' THEN NULL ELSE u.v->3 END, (u.v->>4)::bigint
FROM jsonb_array_elements($1::jsonb) AS u(v)
ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, doc = excluded.doc, updated_at = excluded.updated_at`,
    deleteShadow: `
DELETE FROM ${s}.shadow x USING unnest($1::text[], $2::text[]) AS u(sc, k) WHERE x.scope = u.sc AND x.key = u.k`,
    upsertPosition: `
INSERT INTO ${s}.positions (source, position, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (source) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
    /**
     * Hand jobs whose lease expired (a crashed or stalled worker) back to pending; claimable by
     * the next claim. Run at most once a second per store (see PostgresStore.claim). SKIP LOCKED:
     * a job being acknowledged right now is left to its ack (and nothing waits, so no deadlock).
     */
    reclaimExpired: `
WITH l AS MATERIALIZED (SELECT id FROM ${s}.jobs WHERE state = 'running' AND lease_until <= $1 ORDER BY lease_until LIMIT 1000 FOR UPDATE SKIP LOCKED)
UPDATE ${s}.jobs j SET state = 'pending', locked_by = NULL, lease_until = NULL, updated_at = $1
FROM l WHERE j.id = l.id AND j.state = 'running' AND j.lease_until <= $1`,
    /**
     * One statement: lock up to $4 heads with SKIP LOCKED (concurrent claimers take different
     * rows, nobody waits) and mark them running. The head check runs on this statement's
     * snapshot, in which a job another claimer is taking right now is still pending, so its
     * successors stay blocked.
     */
    claim: `
WITH cand AS (
  SELECT j.id FROM ${s}.jobs j
  WHERE j.state = 'pending' AND j.run_at <= $1
    AND ($5::text[] IS NULL OR j.pipeline = ANY($5::text[]))${HEAD(s)}
  ORDER BY j.run_at, j.id
  LIMIT $4
  FOR UPDATE OF j SKIP LOCKED
)
UPDATE ${s}.jobs j SET state = 'running', locked_by = $2, lease_until = $3, attempts = j.attempts + 1, updated_at = $1
FROM cand WHERE j.id = cand.id AND j.state = 'pending'
RETURNING j.*`,
    /** Ack. The rows are locked first, in id order ({@link LOCK_JOBS}), then updated. */
    complete: `
WITH ${LOCK_JOBS(s, '$1')}
UPDATE ${s}.jobs j SET state = 'done', locked_by = NULL, lease_until = NULL, updated_at = $3
FROM unnest($1::bigint[], $2::int[], $4::text[]) AS u(id, v, w), l
WHERE j.id = u.id AND l.id = j.id AND j.version = u.v AND j.state = 'running' AND (u.w IS NULL OR j.locked_by = u.w)`,
    fail: `
WITH ${LOCK_JOBS(s, '$1')}
UPDATE ${s}.jobs j SET state = CASE WHEN u.ra IS NULL THEN 'dead' ELSE 'pending' END, run_at = coalesce(u.ra, j.run_at),
  last_error = u.err, locked_by = NULL, lease_until = NULL, updated_at = $5
FROM unnest($1::bigint[], $2::int[], $3::text[], $4::bigint[], $6::text[]) AS u(id, v, err, ra, w), l
WHERE j.id = u.id AND l.id = j.id AND j.version = u.v AND j.state = 'running' AND (u.w IS NULL OR j.locked_by = u.w)`,
    extendLease: `
WITH ${LOCK_JOBS(s, '$1')}
UPDATE ${s}.jobs j SET lease_until = $3, updated_at = $4 FROM l WHERE j.id = l.id AND j.locked_by = $2 AND j.state = 'running'`,
    nextRunAt: `
SELECT least(
  (SELECT j.run_at FROM ${s}.jobs j WHERE j.state = 'pending' AND ($1::text[] IS NULL OR j.pipeline = ANY($1::text[]))${HEAD(s)}
   ORDER BY j.run_at, j.id LIMIT 1),
  (SELECT min(lease_until) FROM ${s}.jobs WHERE state = 'running' AND ($1::text[] IS NULL OR pipeline = ANY($1::text[])))
) AS t`,
    getPosition: `SELECT position FROM ${s}.positions WHERE source = $1`,
    getShadow: `SELECT scope, key, fingerprint, doc, updated_at FROM ${s}.shadow WHERE scope = $1 AND key = ANY($2::text[])`,
    lockShadow: `SELECT scope, key, fingerprint, doc, updated_at FROM ${s}.shadow WHERE scope = $1 AND key = ANY($2::text[]) ORDER BY key FOR UPDATE`,
    shadowPage: `SELECT scope, key, fingerprint, doc, updated_at FROM ${s}.shadow WHERE scope = $1 AND key > $2 ORDER BY key LIMIT $3`,
    shadowFirstPage: `SELECT scope, key, fingerprint, doc, updated_at FROM ${s}.shadow WHERE scope = $1 AND key >= $2 ORDER BY key LIMIT $3`,
    statsCounts: `
SELECT pipeline, target, state, attempts > 0 AS retried, count(*) AS n, min(created_at) AS oldest
FROM ${s}.jobs GROUP BY pipeline, target, state, retried`,
    /** Unfinished jobs per pipeline (the log's periodic delivery line). */
    backlog: `
SELECT pipeline, count(*) FILTER (WHERE state = 'pending')::int AS pending, count(*) FILTER (WHERE state = 'running')::int AS running,
  min(created_at) FILTER (WHERE state = 'pending') AS oldest FROM ${s}.jobs WHERE state IN ('pending', 'running') GROUP BY pipeline`,
    statsErrors: `
SELECT DISTINCT ON (pipeline, target) pipeline, target, last_error FROM ${s}.jobs
WHERE state <> 'done' AND last_error IS NOT NULL ORDER BY pipeline, target, updated_at DESC, id DESC`,
    getJob: `SELECT * FROM ${s}.jobs WHERE id = $1`,
    getJobForUpdate: `SELECT * FROM ${s}.jobs WHERE id = $1 FOR UPDATE`,
    listJobs: `
SELECT * FROM ${s}.jobs WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR pipeline = $2) ORDER BY id LIMIT $3`,
    replay: `
UPDATE ${s}.jobs SET state = 'pending', attempts = 0, version = version + 1, run_at = $2, payload = $3::jsonb, last_error = NULL,
  locked_by = NULL, lease_until = NULL, updated_at = $2 WHERE id = $1 AND state = 'dead' RETURNING *`,
    /** The newest delivered job of a pipeline and key newer than a dead letter (replay guard): walks the primary key down from the newest id. */
    newerDone: `SELECT id, target, updated_at FROM ${s}.jobs WHERE pipeline = $1 AND key = $2 AND id > $3 AND state = 'done' ORDER BY id DESC LIMIT 1`,
    discard: `DELETE FROM ${s}.jobs WHERE id = $1 AND state = 'dead'`,
    audit: `INSERT INTO ${s}.audit (at, actor, action, job_id, details) VALUES ($1, $2, $3, $4, $5::jsonb)`,
    listAudit: `SELECT * FROM ${s}.audit ORDER BY id DESC LIMIT $1`,
    prune: `DELETE FROM ${s}.jobs WHERE state = 'done' AND updated_at < $1`,
    rememberIds: `INSERT INTO ${s}.dedupe_ids (scope, id, seen_at) SELECT x->>0, x->>1, (x->>2)::bigint FROM jsonb_array_elements($1::jsonb) AS x ON CONFLICT (scope, id) DO NOTHING`,
    seenIds: `SELECT id FROM ${s}.dedupe_ids WHERE scope = $1 AND id = ANY($2::text[])`,
    forgetIds: `DELETE FROM ${s}.dedupe_ids WHERE scope = $1 AND seen_at < $2`,
    insertIntents: `INSERT INTO ${s}.echo_intents (reader, key, writer, fields, state, created_at)
      SELECT x->>0, x->>1, x->>2, NULLIF(x->3, 'null'::jsonb), NULLIF(x->4, 'null'::jsonb), (x->>5)::bigint FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(x, n) ORDER BY n
      RETURNING id`,
    landIntents: `WITH l AS MATERIALIZED (SELECT id FROM ${s}.echo_intents WHERE id = ANY($2::bigint[]) ORDER BY id FOR UPDATE)
      UPDATE ${s}.echo_intents x SET landed_at = $1 FROM l WHERE x.id = l.id`,
    /** Expired intents; one being consumed or landed right now is left for the next time (nothing waits). */
    expireIntents: `DELETE FROM ${s}.echo_intents WHERE id IN (SELECT id FROM ${s}.echo_intents WHERE created_at < $1 FOR UPDATE SKIP LOCKED)`,
    /** The intents a commit consumes, locked in id order before they are updated or deleted. */
    lockIntents: `SELECT id FROM ${s}.echo_intents WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE`,
    getIntents: `SELECT id, reader, key, writer, fields, state, created_at, landed_at FROM ${s}.echo_intents
      WHERE reader = $1 AND key = ANY($2::text[]) AND created_at >= $3 ORDER BY id`,
    updateIntents: `UPDATE ${s}.echo_intents x SET fields = u.f FROM (SELECT (e->>0)::bigint AS id, e->1 AS f FROM jsonb_array_elements($1::jsonb) AS e) u WHERE x.id = u.id`,
    deleteIntents: `DELETE FROM ${s}.echo_intents WHERE id = ANY($1::bigint[])`,
  };
}

export type PostgresSql = ReturnType<typeof postgresSql>;
