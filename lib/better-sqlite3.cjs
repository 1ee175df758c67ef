'use strict';
// Which better-sqlite3 to load. Version 12 (node::ObjectWrap) aborts the process on Node >= 24.19
// when a prepared statement is garbage collected ("Assertion failed: (env) != nullptr" in
// RemoveEnvironmentCleanupHook, nodejs/node#65446); version 13 (Node-API) fixes that but needs
// Node >= 22 and crashes on Node 20. Both are installed; the running Node picks. Same API.
const major = Number(process.versions.node.split('.')[0]);
module.exports = require(major >= 22 ? 'better-sqlite3-napi' : 'better-sqlite3');
