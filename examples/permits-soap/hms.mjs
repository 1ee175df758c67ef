#!/usr/bin/env node
// The "modern platform" of the example: a SQLite table of building permits.
//   node hms.mjs init                      create ./hms.db with three permits
//   node hms.mjs set <permit_no> <field> <value>   edit a permit (status, address, valuation, parcel_id)
//   node hms.mjs add <permit_no> <status> <address>
//   node hms.mjs delete <permit_no>
//   node hms.mjs list
import Database from '#better-sqlite3';

const db = new Database(process.env.HMS_DB ?? './hms.db');
const [cmd, ...args] = process.argv.slice(2);
const FIELDS = ['status', 'address', 'valuation', 'parcel_id'];

switch (cmd) {
  case 'init':
    db.exec(`CREATE TABLE IF NOT EXISTS permits (
      permit_no TEXT PRIMARY KEY, status TEXT, address TEXT, valuation TEXT, parcel_id TEXT)`);
    db.prepare('INSERT OR IGNORE INTO permits VALUES (?, ?, ?, ?, ?)').run('007', 'PENDING', '12 Elm St', '185000.00', '9007199254740993');
    db.prepare('INSERT OR IGNORE INTO permits VALUES (?, ?, ?, ?, ?)').run('123', 'PENDING', '4 Oak Ave', '12345678901234567890.123456789', '42');
    db.prepare('INSERT OR IGNORE INTO permits VALUES (?, ?, ?, ?, ?)').run('124', 'REVIEW', '9 Pine Rd & Annex', null, null);
    break;
  case 'set': {
    const [no, field, value] = args;
    if (!FIELDS.includes(field)) throw new Error(`field must be one of ${FIELDS.join(', ')}, got "${field}"`);
    const r = db.prepare(`UPDATE permits SET ${field} = ? WHERE permit_no = ?`).run(value, no);
    if (r.changes === 0) throw new Error(`no permit "${no}"`);
    break;
  }
  case 'add':
    db.prepare('INSERT INTO permits (permit_no, status, address) VALUES (?, ?, ?)').run(args[0], args[1], args[2] ?? null);
    break;
  case 'delete':
    db.prepare('DELETE FROM permits WHERE permit_no = ?').run(args[0]);
    break;
  case 'list':
    break;
  default:
    console.error('usage: node hms.mjs init | set <permit_no> <field> <value> | add <permit_no> <status> [address] | delete <permit_no> | list');
    process.exitCode = 2;
}
if (cmd) console.table(db.prepare('SELECT * FROM permits ORDER BY permit_no').all());
db.close();
