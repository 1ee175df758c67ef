import { test } from 'node:test';
import assert from 'node:assert/strict';
import { walLevelProblem, defaultSlotName, replicaIdentityProblems } from '../../src/connectors/postgres/pg-setup.js';
import { decodePgOutput, pgTimeToMs } from '../../src/connectors/postgres/pgoutput-decoder.js';
import { parseArrayLiteral, textParserFor, timestamptzToIso } from '../../src/connectors/postgres/pg-types-map.js';
import { formatLsn, parseLsn } from '../../src/connectors/postgres/pg-lsn.js';

test('wal_level replica: the error says exactly what to change', () => {
  assert.equal(walLevelProblem('logical'), null);
  const err = walLevelProblem('replica', { server: 'db:5432/app', maxReplicationSlots: 10, maxWalSenders: 10 })!;
  assert.equal(err.name, 'PermanentError');
  assert.match(err.message, /PostgreSQL at db:5432\/app runs with wal_level = replica, but logical replication needs wal_level = logical/);
  assert.match(err.message, /ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL/);
  assert.match(err.message, /max_replication_slots \(now 10\) and max_wal_senders \(now 10\)/);
});

test('LSN text <-> bigint', () => {
  assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
  assert.equal(formatLsn(parseLsn('0/1A2B')), '0/1A2B');
  assert.throws(() => parseLsn('12345'), /is not a PostgreSQL LSN/);
});

test('slot names and replica identity checks', () => {
  assert.equal(defaultSlotName('Legacy-DB', { schema: 'public', name: 'Permits' }), 'hms_legacy_db_permits');
  assert.equal(defaultSlotName('x', { schema: 'app', name: 't' }), 'hms_x_app_t');
  const facts = { oid: 1, partitioned: false, replicaIdentity: 'd', columns: ['id', 'code'], identityColumns: ['id'] };
  assert.deepEqual(replicaIdentityProblems({ schema: 'public', name: 't' }, facts, ['id']), []);
  assert.match(replicaIdentityProblems({ schema: 'public', name: 't' }, facts, ['code'])[0]!, /key field\(s\) "code" of "public"."t" are not in its replica identity \(id\).*REPLICA IDENTITY FULL/);
});

function cstr(s: string): Buffer { return Buffer.concat([Buffer.from(s), Buffer.from([0])]); }
function i16(n: number): Buffer { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; }
function i32(n: number): Buffer { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; }
function u64(n: bigint): Buffer { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b; }
function text(s: string): Buffer { const v = Buffer.from(s); return Buffer.concat([Buffer.from('t'), i32(v.length), v]); }

test('pgoutput messages decode: relation, begin/commit, insert, update with old tuple and unchanged TOAST, delete', () => {
  const rel = decodePgOutput(Buffer.concat([Buffer.from('R'), i32(16384), cstr('public'), cstr('t'), Buffer.from('d'), i16(2),
    Buffer.from([1]), cstr('id'), i32(23), i32(-1), Buffer.from([0]), cstr('body'), i32(25), i32(-1)]));
  assert.deepEqual(rel, { tag: 'relation', oid: 16384, schema: 'public', name: 't', replicaIdentity: 'd', columns: [
    { name: 'id', typeOid: 23, typeMod: -1, isKey: true }, { name: 'body', typeOid: 25, typeMod: -1, isKey: false }] });
  const begin = decodePgOutput(Buffer.concat([Buffer.from('B'), u64(0x100n), u64(0n), i32(42)]));
  assert.deepEqual(begin, { tag: 'begin', finalLsn: 0x100n, commitTime: 0n, xid: 42 });
  assert.equal(pgTimeToMs(0n), Date.UTC(2000, 0, 1));
  const commit = decodePgOutput(Buffer.concat([Buffer.from('C'), Buffer.from([0]), u64(0x100n), u64(0x130n), u64(1_000_000n)]));
  assert.deepEqual(commit, { tag: 'commit', flags: 0, commitLsn: 0x100n, endLsn: 0x130n, commitTime: 1_000_000n });
  const ins = decodePgOutput(Buffer.concat([Buffer.from('I'), i32(16384), Buffer.from('N'), i16(2), text('1'), Buffer.from('n')]));
  assert.deepEqual(ins, { tag: 'insert', relation: 16384, newTuple: [{ kind: 'text', text: '1' }, { kind: 'null' }] });
  const upd = decodePgOutput(Buffer.concat([Buffer.from('U'), i32(16384), Buffer.from('K'), i16(2), text('1'), Buffer.from('n'), Buffer.from('N'), i16(2), text('2'), Buffer.from('u')]));
  assert.deepEqual(upd, { tag: 'update', relation: 16384, oldKind: 'K', oldTuple: [{ kind: 'text', text: '1' }, { kind: 'null' }], newTuple: [{ kind: 'text', text: '2' }, { kind: 'unchanged' }] });
  const del = decodePgOutput(Buffer.concat([Buffer.from('D'), i32(16384), Buffer.from('O'), i16(1), text('9')]));
  assert.deepEqual(del, { tag: 'delete', relation: 16384, oldKind: 'O', oldTuple: [{ kind: 'text', text: '9' }] });
});

test('types map exactly: numeric, int8, timestamptz, json, arrays, bytea', () => {
  assert.equal(textParserFor(1700)('12345678901234567890.000100'), '12345678901234567890.000100');
  assert.equal(textParserFor(20)('9007199254740993'), '9007199254740993');
  assert.equal(textParserFor(20)('-42'), -42);
  assert.equal(textParserFor(16)('f'), false);
  assert.equal(textParserFor(701)('NaN'), 'NaN');
  assert.equal(timestamptzToIso('2024-05-01 00:30:00-05:30'), '2024-05-01T06:00:00.000Z');
  assert.equal(timestamptzToIso('2024-05-01 12:00:00.000001+00'), '2024-05-01T12:00:00.000001Z');
  assert.equal(timestamptzToIso('infinity'), 'infinity');
  assert.equal(textParserFor(1114)('2024-05-01 12:00:00'), '2024-05-01T12:00:00.000');
  assert.deepEqual(textParserFor(3802)('{"a": 1.5}'), { a: 1.5 });
  assert.deepEqual(textParserFor(114)('{"n": 12345678901234567890, "d": 0.10000000000000000001, "s": [1, 2.5]}'), { n: '12345678901234567890', d: '0.10000000000000000001', s: [1, 2.5] }, 'no float loss inside JSON');
  assert.deepEqual(textParserFor(1007)('{{1,2},{3,NULL}}'), [[1, 2], [3, null]]);
  assert.deepEqual(textParserFor(1009)('{"a,b","c\\"d",NULL,"NULL"}'), ['a,b', 'c"d', null, 'NULL']);
  assert.deepEqual(parseArrayLiteral('[0:1]={7,8}', Number), [7, 8]);
  assert.equal(textParserFor(17)('\\x00ff'), 'AP8=');
  assert.equal(textParserFor(2950)('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
});
