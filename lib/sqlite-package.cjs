'use strict';
// Which better-sqlite3 build the running Node needs (one place, used by the loader shim
// lib/better-sqlite3.cjs and by the install step lib/install-sqlite.mjs).
//
// Version 12 (node::ObjectWrap) aborts the process on Node >= 24.19 when a prepared statement
// is garbage collected ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook,
// nodejs/node#65446); version 13 (Node-API, ships prebuilt binaries for Linux, macOS and
// Windows on x64 and arm64) fixes that but needs Node >= 22 and crashes on Node 20.
// package.json installs 12 as `better-sqlite3` and 13 as the optional alias
// `better-sqlite3-napi` (engines >= 22, so npm skips it on Node 20).
function sqlitePackage(nodeVersion = process.versions.node) {
  const major = Number(nodeVersion.split('.')[0]);
  return major >= 22 ? 'better-sqlite3-napi' : 'better-sqlite3';
}
module.exports = { sqlitePackage };
