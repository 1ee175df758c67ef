/**
 * A queue of input chunks read on demand from an (async) iterable: the record readers ask for
 * n bytes, take them (zero-copy when they lie in one chunk), and never hold more than one record
 * plus one chunk.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // read position inside chunks[0]
  private total = 0;
  private done = false;
  private readonly it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;

  constructor(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.it = Symbol.asyncIterator in input
      ? (input as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
      : (input as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  /** Bytes buffered and not yet taken. */
  get length(): number {
    return this.total;
  }

  /** Reads chunks until at least n bytes are buffered; false when the input ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.total < n) {
      if (!(await this.pull())) return false;
    }
    return true;
  }

  private async pull(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const v = r.value;
    if (typeof v === 'string') throw new TypeError('record input must yield bytes (Uint8Array), not strings: open the file without an encoding');
    if (v.length === 0) return true;
    this.chunks.push(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    this.total += v.length;
    return true;
  }

  /** Removes and returns the next n bytes (n <= length). */
  take(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first && first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      this.total -= n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const c = this.chunks[0]!;
      const k = Math.min(n - written, c.length - this.head);
      c.copy(out, written, this.head, this.head + k);
      written += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.total -= n;
    return out;
  }

  /** Position of the first `byte` among the bytes already buffered, or -1 (no reading). */
  findBuffered(byte: number): number {
    let scanned = 0;
    for (let ci = 0; ci < this.chunks.length; ci++) {
      const c = this.chunks[ci]!;
      const pos = ci === 0 ? this.head : 0;
      const at = c.indexOf(byte, pos);
      if (at >= 0) return scanned + (at - pos);
      scanned += c.length - pos;
    }
    return -1;
  }

  /**
   * Position (relative to the next unread byte) of the first `byte`, reading more input as needed;
   * -1 when the input ends without it or `limit` bytes are buffered without it.
   */
  async findByte(byte: number, limit: number): Promise<number> {
    let scanned = 0;
    let ci = 0;
    let pos = this.head;
    while (true) {
      while (ci < this.chunks.length) {
        const c = this.chunks[ci]!;
        const at = c.indexOf(byte, pos);
        if (at >= 0) return scanned + (at - pos);
        scanned += c.length - pos;
        ci++;
        pos = 0;
      }
      if (scanned >= limit) return -1;
      if (!(await this.pull())) return -1;
    }
  }

  /** Stops the input early (closes a file stream when the consumer breaks out). */
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.();
    }
  }
}
