/**
 * Preconditions of logical replication, checked (and created) before streaming:
 * wal_level, the table and its replica identity, the publication, the durable slot.
 * Every failure says exactly what to change.
 */
import type pg from 'pg';
import { ConfigError, PermanentError } from '../../core/errors.js';
import { parseLsn } from './pg-lsn.js';

export interface TableRef {
  schema: string;
  name: string;
}

/** `"s"."t"` */
export function quoteTable(t: TableRef): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

export function quoteIdent(name: string): string {
  if (name.includes('\u0000')) throw new PermanentError(`identifier ${JSON.stringify(name)} contains a NUL character`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** `legacy.INSPECTIONS` or `INSPECTIONS` (+ default schema) -> {schema, name}. */
export function tableRef(collection: string, defaultSchema = 'public'): TableRef {
  const dot = collection.indexOf('.');
  return dot > 0 ? { schema: collection.slice(0, dot), name: collection.slice(dot + 1) } : { schema: defaultSchema, name: collection };
}

/**
 * The error for a server whose wal_level is not `logical` (null when it is). Pure, so the
 * message can be tested without reconfiguring a server.
 */
export function walLevelProblem(walLevel: string, facts: { server?: string; maxReplicationSlots?: number; maxWalSenders?: number } = {}): PermanentError | null {
  if (walLevel === 'logical') return null;
  const where = facts.server ? ` at ${facts.server}` : '';
  const slots = facts.maxReplicationSlots !== undefined ? ` (now ${facts.maxReplicationSlots})` : '';
  const senders = facts.maxWalSenders !== undefined ? ` (now ${facts.maxWalSenders})` : '';
  return new PermanentError(
    `PostgreSQL${where} runs with wal_level = ${walLevel}, but logical replication needs wal_level = logical. ` +
    'As a superuser run: ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL (e.g. pg_ctlcluster <version> main restart, or systemctl restart postgresql); ' +
    `also keep max_replication_slots${slots} and max_wal_senders${senders} at least one above the slots and replication connections in use (each hms-sync logical source uses one of each); ` +
    'or use mode: poll (no server change needed).',
    { details: { setting: 'wal_level', value: walLevel } },
  );
}

/** Throws {@link walLevelProblem} when the server is not at wal_level=logical. */
export async function checkWalLevel(client: pg.ClientBase, server?: string): Promise<void> {
  const r = await client.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders')");
  const s = Object.fromEntries(r.rows.map((x) => [x.name, x.setting]));
  const err = walLevelProblem(s.wal_level ?? 'unknown', { server, maxReplicationSlots: Number(s.max_replication_slots), maxWalSenders: Number(s.max_wal_senders) });
  if (err) throw err;
}

export interface TableFacts {
  oid: number;
  /** A partitioned table (its rows live in partitions). */
  partitioned: boolean;
  /** d default (primary key), n nothing, f full, i index. */
  replicaIdentity: string;
  columns: string[];
  /** Columns of the replica identity (primary key or chosen index); all columns for FULL. */
  identityColumns: string[];
}

/** Look the table up; throws a clear error when it does not exist. */
export async function describeTable(client: pg.ClientBase, t: TableRef): Promise<TableFacts> {
  const r = await client.query<{ oid: number; relreplident: string; relkind: string }>(
    'SELECT c.oid::int AS oid, c.relreplident, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN (\'r\', \'p\')', [t.schema, t.name]);
  const row = r.rows[0];
  if (!row) throw new PermanentError(`table ${quoteTable(t)} does not exist (schema ${JSON.stringify(t.schema)}, table ${JSON.stringify(t.name)}); check the pipeline's collection and the system's schema`, { details: { table: `${t.schema}.${t.name}` } });
  const cols = await client.query<{ attname: string }>('SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [row.oid]);
  const columns = cols.rows.map((c) => c.attname);
  let identityColumns: string[] = [];
  if (row.relreplident === 'f') identityColumns = columns;
  else if (row.relreplident === 'd' || row.relreplident === 'i') {
    const idx = await client.query<{ attname: string }>(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
       WHERE i.indrelid = $1 AND ${row.relreplident === 'd' ? 'i.indisprimary' : 'i.indisreplident'}`, [row.oid]);
    identityColumns = idx.rows.map((c) => c.attname);
  }
  return { oid: row.oid, partitioned: row.relkind === 'p', replicaIdentity: row.relreplident, columns, identityColumns };
}

/**
 * Problems of the table's replica identity for capturing by `keyFields` (empty when fine):
 * without an identity covering the key, updates/deletes cannot name the row.
 */
export function replicaIdentityProblems(t: TableRef, facts: TableFacts, keyFields: string[]): string[] {
  const out: string[] = [];
  const name = quoteTable(t);
  if (facts.replicaIdentity === 'n' || facts.identityColumns.length === 0) {
    out.push(`table ${name} has no replica identity (no primary key, or REPLICA IDENTITY NOTHING): PostgreSQL refuses UPDATE and DELETE on it once it is published; add a primary key or run ALTER TABLE ${name} REPLICA IDENTITY FULL`);
    return out;
  }
  const missing = keyFields.filter((k) => !facts.identityColumns.includes(k));
  if (missing.length) out.push(`key field(s) ${missing.map((m) => JSON.stringify(m)).join(', ')} of ${name} are not in its replica identity (${facts.identityColumns.join(', ')}): deletes would not carry them; make them the primary key or run ALTER TABLE ${name} REPLICA IDENTITY FULL`);
  return out;
}

/**
 * Create the publication for the table, or check (and extend) an existing one. A partitioned
 * table is published through its root (`publish_via_partition_root`), so changes carry its name.
 */
export async function ensurePublication(client: pg.ClientBase, publication: string, t: TableRef, create: boolean, partitioned = false): Promise<'created' | 'extended' | 'ok'> {
  const pub = await client.query<{ puballtables: boolean; pubinsert: boolean; pubupdate: boolean; pubdelete: boolean; pubviaroot: boolean }>('SELECT puballtables, pubinsert, pubupdate, pubdelete, pubviaroot FROM pg_publication WHERE pubname = $1', [publication]);
  const row = pub.rows[0];
  const via = partitioned ? ' WITH (publish_via_partition_root = true)' : '';
  if (!row) {
    if (!create) throw new PermanentError(`publication ${JSON.stringify(publication)} does not exist; create it with CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${quoteTable(t)}${via}; or set createPublication: true`, { details: { publication } });
    try {
      await client.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${quoteTable(t)}${via}`);
      return 'created';
    } catch (err) {
      if ((err as { code?: string }).code !== '42710') throw err; // created concurrently
      return ensurePublication(client, publication, t, create, partitioned);
    }
  }
  if (partitioned && !row.pubviaroot) throw new PermanentError(`table ${quoteTable(t)} is partitioned but publication ${JSON.stringify(publication)} publishes changes under the partitions' names; run ALTER PUBLICATION ${quoteIdent(publication)} SET (publish_via_partition_root = true)`, { details: { publication } });
  const ops = (['insert', 'update', 'delete'] as const).filter((op) => !row[`pub${op}`]);
  if (ops.length) throw new PermanentError(`publication ${JSON.stringify(publication)} does not publish ${ops.join(', ')}; run ALTER PUBLICATION ${quoteIdent(publication)} SET (publish = 'insert, update, delete')`, { details: { publication } });
  if (row.puballtables) return 'ok';
  const has = await client.query('SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3', [publication, t.schema, t.name]);
  if (has.rowCount) return 'ok';
  if (!create) throw new PermanentError(`publication ${JSON.stringify(publication)} does not include table ${quoteTable(t)}; run ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${quoteTable(t)}; or set createPublication: true`, { details: { publication } });
  await client.query(`ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${quoteTable(t)}`);
  return 'extended';
}

/** Slot names PostgreSQL accepts. */
export const SLOT_NAME_RE = /^[a-z0-9_]{1,63}$/;

/** A valid default slot name from the system and table names. */
export function defaultSlotName(system: string, t: TableRef): string {
  const raw = `hms_${system}_${t.schema === 'public' ? '' : `${t.schema}_`}${t.name}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return raw.slice(0, 63);
}

/** Create the durable pgoutput slot, or check the existing one; returns its confirmed LSN. */
export async function ensureSlot(client: pg.ClientBase, slot: string): Promise<{ created: boolean; confirmedLsn: bigint | null }> {
  if (!SLOT_NAME_RE.test(slot)) throw new ConfigError(`replication slot name ${JSON.stringify(slot)} is invalid; use 1-63 lower-case letters, digits and underscores`, { path: 'slot' });
  const r = await client.query<{ plugin: string | null; slot_type: string; database: string | null; confirmed_flush_lsn: string | null; current_db: string }>(
    'SELECT plugin, slot_type, database, confirmed_flush_lsn::text AS confirmed_flush_lsn, current_database() AS current_db FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  const row = r.rows[0];
  if (row) {
    if (row.slot_type !== 'logical' || row.plugin !== 'pgoutput') throw new PermanentError(`replication slot ${JSON.stringify(slot)} exists but is a ${row.slot_type} slot with plugin ${JSON.stringify(row.plugin)}; hms-sync needs a logical pgoutput slot: drop it (SELECT pg_drop_replication_slot('${slot}')) or choose another slot name`, { details: { slot } });
    if (row.database !== row.current_db) throw new PermanentError(`replication slot ${JSON.stringify(slot)} belongs to database ${JSON.stringify(row.database)}, not ${JSON.stringify(row.current_db)}; choose another slot name`, { details: { slot } });
    return { created: false, confirmedLsn: row.confirmed_flush_lsn ? parseLsn(row.confirmed_flush_lsn) : null };
  }
  try {
    const c = await client.query<{ lsn: string }>("SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    return { created: true, confirmedLsn: parseLsn(c.rows[0]!.lsn) };
  } catch (err) {
    if ((err as { code?: string }).code === '42710') return ensureSlot(client, slot);
    throw err;
  }
}
