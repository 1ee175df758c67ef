/** PostgreSQL log sequence numbers: the `X/Y` text form <-> 64-bit bigint. */

/** Parse `16/B374D848` into a bigint; throws on anything else. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new TypeError(`${JSON.stringify(text)} is not a PostgreSQL LSN; expected two hex numbers like "16/B374D848"`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** Format a bigint LSN as `X/Y` (upper-case hex, as PostgreSQL prints it). */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
