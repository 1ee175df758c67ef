'use strict';
// Loads the better-sqlite3 build that fits the running Node (see lib/sqlite-package.cjs).
const { sqlitePackage } = require('./sqlite-package.cjs');
const name = sqlitePackage();
try {
  module.exports = require(name);
} catch (e) {
  // A native binding that was never built (install scripts skipped: --ignore-scripts, or a
  // project whose allowScripts policy blocked ours) fails here, not at install time.
  const hint = `hms-sync: cannot load the SQLite driver ${name} for Node ${process.versions.node}: ${e && e.message}\n`
    + `Build it with: node ${require('node:path').join(__dirname, 'install-sqlite.mjs')}`;
  const err = new Error(hint, { cause: e });
  err.code = e && e.code;
  throw err;
}
