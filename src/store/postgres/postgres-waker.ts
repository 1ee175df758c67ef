/**
 * LISTEN/NOTIFY for one store: a dedicated connection (not from the pool) listens on the
 * schema's channel and calls every registered listener on each notification. It reconnects
 * after a lost connection and then wakes everyone once, since notifications sent meanwhile are lost.
 *
 * Sending: `notify()` after a commit wakes this process's listeners at once and sends one
 * NOTIFY in its own tiny transaction, coalesced (at most one in flight, one more queued). Not
 * inside the data transaction: PostgreSQL serialises every NOTIFY-ing transaction through its
 * commit (a database-wide lock), which at hundreds of commits per second would queue each
 * commit's WAL flush behind the previous one instead of letting them share a group commit.
 */
import pg from 'pg';

const RECONNECT_MS = [100, 500, 1000, 2000, 5000];

export class PostgresWaker {
  private readonly listeners = new Set<() => void>();
  private client: pg.Client | null = null;
  private starting: Promise<void> | null = null;
  private closed = false;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;

  private sending = false;
  private again = false;

  constructor(
    private readonly connectionString: string,
    private readonly channel: string,
    private readonly send: (sql: string, values: unknown[]) => Promise<unknown>,
  ) {}

  /** Jobs were committed: wake local listeners now and other processes through one coalesced NOTIFY. */
  notify(): void {
    this.emit();
    this.sendNotify();
  }

  private sendNotify(): void {
    if (this.closed) return;
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    void this.send('SELECT pg_notify($1, \'\')', [this.channel])
      .catch(() => undefined) // workers also poll nextRunAt: a lost wake-up only delays
      .finally(() => {
        this.sending = false;
        if (this.again) {
          this.again = false;
          this.sendNotify();
        }
      });
  }

  /** Register a listener; the first one opens the LISTEN connection. Returns the unsubscribe function. */
  add(listener: () => void): () => void {
    this.listeners.add(listener);
    if (!this.client && !this.starting && !this.closed) this.starting = this.start().finally(() => { this.starting = null; });
    return () => { this.listeners.delete(listener); };
  }

  /** Resolves once the LISTEN is in place (or failed and a reconnect is scheduled). */
  ready(): Promise<void> {
    return this.starting ?? Promise.resolve();
  }

  private emit(): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch {
        // A listener's failure is its own business; the others still get woken.
      }
    }
  }

  private async start(): Promise<void> {
    const c = new pg.Client({ connectionString: this.connectionString });
    c.on('notification', () => this.emit());
    c.on('error', () => this.lost(c));
    c.on('end', () => this.lost(c));
    try {
      await c.connect();
      await c.query(`LISTEN "${this.channel}"`);
      if (this.closed) {
        await c.end().catch(() => undefined);
        return;
      }
      this.client = c;
      if (this.failures > 0) this.emit();
      this.failures = 0;
    } catch {
      await c.end().catch(() => undefined);
      this.lost(null);
    }
  }

  private lost(c: pg.Client | null): void {
    if (c && this.client !== c) return;
    this.client = null;
    if (this.closed || this.timer) return;
    const delay = RECONNECT_MS[Math.min(this.failures, RECONNECT_MS.length - 1)]!;
    this.failures++;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed && this.listeners.size) this.starting = this.start().finally(() => { this.starting = null; });
    }, delay);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.again = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.starting?.catch(() => undefined);
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => undefined);
  }
}
