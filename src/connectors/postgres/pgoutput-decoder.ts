/**
 * Decoder of the pgoutput logical replication messages (protocol version 1), pure: a Buffer
 * in, a typed message out. Column values stay in PostgreSQL's text form here; see
 * pg-types-map.ts for turning them into doc values by type OID.
 *
 * Reference: PostgreSQL docs, "Logical Replication Message Formats".
 */

/** Microseconds between the Unix epoch and the PostgreSQL epoch (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000n;

/** PostgreSQL timestamp (microseconds since 2000-01-01) -> Unix milliseconds. */
export function pgTimeToMs(us: bigint): number {
  return Number((us + PG_EPOCH_US) / 1000n);
}

/** Unix milliseconds -> PostgreSQL timestamp (microseconds since 2000-01-01). */
export function msToPgTime(ms: number): bigint {
  return BigInt(Math.round(ms)) * 1000n - PG_EPOCH_US;
}

export interface RelationColumn {
  name: string;
  typeOid: number;
  typeMod: number;
  /** Part of the replica identity (the key sent with updates/deletes). */
  isKey: boolean;
}

export interface RelationMessage {
  tag: 'relation';
  oid: number;
  schema: string;
  name: string;
  /** d = default (primary key), n = nothing, f = full, i = index. */
  replicaIdentity: string;
  columns: RelationColumn[];
}

/** One column of a tuple: null, unchanged TOASTed value (not sent), or the text value. */
export type TupleValue = { kind: 'null' } | { kind: 'unchanged' } | { kind: 'text'; text: string };

export type PgOutputMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTime: bigint; xid: number }
  | { tag: 'commit'; flags: number; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { tag: 'origin'; originLsn: bigint; name: string }
  | RelationMessage
  | { tag: 'type'; oid: number; schema: string; name: string }
  | { tag: 'insert'; relation: number; newTuple: TupleValue[] }
  | { tag: 'update'; relation: number; oldKind: 'K' | 'O' | null; oldTuple: TupleValue[] | null; newTuple: TupleValue[] }
  | { tag: 'delete'; relation: number; oldKind: 'K' | 'O'; oldTuple: TupleValue[] }
  | { tag: 'truncate'; relations: number[]; options: number }
  | { tag: 'message'; flags: number; lsn: bigint; prefix: string; content: Buffer }
  | { tag: 'unknown'; code: string };

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  u8(): number { return this.buf.readUInt8(this.pos++); }
  i16(): number { const v = this.buf.readInt16BE(this.pos); this.pos += 2; return v; }
  i32(): number { const v = this.buf.readInt32BE(this.pos); this.pos += 4; return v; }
  u32(): number { const v = this.buf.readUInt32BE(this.pos); this.pos += 4; return v; }
  u64(): bigint { const v = this.buf.readBigUInt64BE(this.pos); this.pos += 8; return v; }
  i64(): bigint { const v = this.buf.readBigInt64BE(this.pos); this.pos += 8; return v; }
  char(): string { return String.fromCharCode(this.u8()); }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new RangeError(`unterminated string at byte ${this.pos}`);
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Buffer { const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
}

function readTuple(r: Reader): TupleValue[] {
  const n = r.i16();
  const out: TupleValue[] = new Array<TupleValue>(n);
  for (let i = 0; i < n; i++) {
    const kind = r.char();
    if (kind === 'n') out[i] = { kind: 'null' };
    else if (kind === 'u') out[i] = { kind: 'unchanged' };
    else if (kind === 't' || kind === 'b') {
      const len = r.i32();
      out[i] = { kind: 'text', text: r.bytes(len).toString('utf8') };
    } else throw new RangeError(`unknown tuple column kind ${JSON.stringify(kind)} at byte ${r.pos - 1}`);
  }
  return out;
}

/** Decode one pgoutput message (the payload of an XLogData message). */
export function decodePgOutput(buf: Buffer): PgOutputMessage {
  const r = new Reader(buf);
  const code = r.char();
  switch (code) {
    case 'B': return { tag: 'begin', finalLsn: r.u64(), commitTime: r.i64(), xid: r.u32() };
    case 'C': return { tag: 'commit', flags: r.u8(), commitLsn: r.u64(), endLsn: r.u64(), commitTime: r.i64() };
    case 'O': return { tag: 'origin', originLsn: r.u64(), name: r.cstring() };
    case 'R': {
      const oid = r.u32();
      const schema = r.cstring();
      const name = r.cstring();
      const replicaIdentity = r.char();
      const n = r.i16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.u8();
        columns.push({ name: r.cstring(), typeOid: r.u32(), typeMod: r.i32(), isKey: (flags & 1) === 1 });
      }
      return { tag: 'relation', oid, schema, name, replicaIdentity, columns };
    }
    case 'Y': return { tag: 'type', oid: r.u32(), schema: r.cstring(), name: r.cstring() };
    case 'I': {
      const relation = r.u32();
      r.char(); // 'N'
      return { tag: 'insert', relation, newTuple: readTuple(r) };
    }
    case 'U': {
      const relation = r.u32();
      let kind = r.char();
      let oldKind: 'K' | 'O' | null = null;
      let oldTuple: TupleValue[] | null = null;
      if (kind === 'K' || kind === 'O') {
        oldKind = kind;
        oldTuple = readTuple(r);
        kind = r.char();
      }
      return { tag: 'update', relation, oldKind, oldTuple, newTuple: readTuple(r) };
    }
    case 'D': {
      const relation = r.u32();
      const kind = r.char() as 'K' | 'O';
      return { tag: 'delete', relation, oldKind: kind, oldTuple: readTuple(r) };
    }
    case 'T': {
      const n = r.i32();
      const options = r.u8();
      const relations: number[] = [];
      for (let i = 0; i < n; i++) relations.push(r.u32());
      return { tag: 'truncate', relations, options };
    }
    case 'M': {
      const flags = r.u8();
      const lsn = r.u64();
      const prefix = r.cstring();
      const len = r.i32();
      return { tag: 'message', flags, lsn, prefix, content: Buffer.from(r.bytes(len)) };
    }
    default: return { tag: 'unknown', code };
  }
}
