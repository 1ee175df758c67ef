/**
 * The streaming replication protocol over node-postgres: a `replication: 'database'`
 * connection, START_REPLICATION ... LOGICAL in CopyBoth mode, XLogData / primary keepalive
 * messages in, standby status updates out. node-postgres parses the CopyBothResponse
 * ('replicationStart') and CopyData messages; this file drives them through a submittable
 * query object, so no extra dependency is needed.
 */
import pg from 'pg';
import { formatLsn } from './pg-lsn.js';
import { msToPgTime } from './pgoutput-decoder.js';

export interface ReplicationHandlers {
  /** One WAL record payload (a pgoutput message) starting at `walStart`. */
  onData(walStart: bigint, walEnd: bigint, payload: Buffer): void;
  /** Primary keepalive: the server's WAL end; answer at once when `replyRequested`. */
  onKeepalive(walEnd: bigint, replyRequested: boolean): void;
  /** The stream ended (error or server closed); called once. */
  onEnd(err: Error | null): void;
}

interface PgConnectionInternals {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: { pause(): void; resume(): void; destroy(): void };
  on(event: string, fn: (...a: unknown[]) => void): void;
  once(event: string, fn: (...a: unknown[]) => void): void;
}

/** One replication connection; call {@link start} once. */
export class ReplicationConnection {
  private readonly client: pg.Client;
  private ended = false;
  private handlers: ReplicationHandlers | null = null;

  constructor(config: pg.ClientConfig) {
    this.client = new pg.Client({ ...config, replication: 'database' } as pg.ClientConfig);
    this.client.on('error', (err) => this.finish(err));
    this.client.on('end', () => this.finish(new Error('the replication connection was closed by the server')));
  }

  private get conn(): PgConnectionInternals {
    return (this.client as unknown as { connection: PgConnectionInternals }).connection;
  }

  async connect(): Promise<void> {
    await this.client.connect();
  }

  /** Server facts (`IDENTIFY_SYSTEM`): system id, timeline, current WAL position. */
  async identify(): Promise<{ systemid: string; timeline: number; xlogpos: string }> {
    const r = await this.client.query<{ systemid: string; timeline: number; xlogpos: string }>('IDENTIFY_SYSTEM');
    return r.rows[0]!;
  }

  /**
   * START_REPLICATION SLOT <slot> LOGICAL <lsn> (<options>); resolves once the server is
   * streaming (CopyBoth), rejects with the server's error (e.g. the slot is in use).
   */
  start(slot: string, startLsn: bigint, options: Record<string, string>, handlers: ReplicationHandlers): Promise<void> {
    this.handlers = handlers;
    const opts = Object.entries(options).map(([k, v]) => `"${k.replaceAll('"', '""')}" '${v.replaceAll("'", "''")}'`).join(', ');
    const text = `START_REPLICATION SLOT "${slot.replaceAll('"', '""')}" LOGICAL ${formatLsn(startLsn)}${opts ? ` (${opts})` : ''}`;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      this.conn.once('replicationStart', () => {
        started = true;
        resolve();
      });
      const onCopyData = (msg: { chunk: Buffer }) => {
        const b = msg.chunk;
        const kind = b[0];
        if (kind === 0x77 /* w */) {
          this.handlers?.onData(b.readBigUInt64BE(1), b.readBigUInt64BE(9), b.subarray(25));
        } else if (kind === 0x6b /* k */) {
          this.handlers?.onKeepalive(b.readBigUInt64BE(1), b[17] === 1);
        }
      };
      const query = {
        text,
        callback: undefined as unknown,
        submit: (connection: { query(text: string): void }) => { connection.query(text); },
        handleRowDescription() {},
        handleDataRow() {},
        handlePortalSuspended() {},
        handleEmptyQuery() {},
        handleCommandComplete() {},
        handleCopyInResponse() {},
        handleCopyData: onCopyData,
        handleError: (err: Error) => {
          if (!started) reject(err);
          this.finish(err);
        },
        handleReadyForQuery: () => {
          if (!started) reject(new Error(`START_REPLICATION ended without streaming (${text})`));
          this.finish(null);
        },
      };
      this.client.query(query as unknown as pg.QueryConfig);
    });
  }

  /** Standby status update: what we have written/flushed/applied (flushed = confirmed LSN). */
  sendStatus(flushed: bigint, replyRequested = false): void {
    if (this.ended) return;
    const b = Buffer.alloc(34);
    b[0] = 0x72; // r
    b.writeBigUInt64BE(flushed, 1);
    b.writeBigUInt64BE(flushed, 9);
    b.writeBigUInt64BE(flushed, 17);
    b.writeBigInt64BE(msToPgTime(Date.now()), 25);
    b[33] = replyRequested ? 1 : 0;
    try {
      this.conn.sendCopyFromChunk(b);
    } catch (err) {
      this.finish(err as Error);
    }
  }

  /** Stop reading from the socket (backpressure); the server buffers, then waits. */
  pause(): void {
    this.conn.stream.pause();
  }

  resume(): void {
    this.conn.stream.resume();
  }

  private finish(err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers?.onEnd(err);
  }

  async close(): Promise<void> {
    const wasEnded = this.ended;
    this.ended = true;
    if (!wasEnded) {
      try { this.conn.endCopyFrom(); } catch {}
    }
    try {
      this.conn.stream.resume();
    } catch {}
    await Promise.race([
      this.client.end().catch(() => {}),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
    try { this.conn.stream.destroy(); } catch {}
  }
}
