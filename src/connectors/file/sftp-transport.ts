/**
 * {@link FileTransport} over SFTP (ssh2-sftp-client). Renames use the OpenSSH
 * posix-rename extension when the server has it (atomic replace), plain rename otherwise.
 * A lost connection surfaces as NotConnectedError; the next call reconnects.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import SftpClient from 'ssh2-sftp-client';
import { NotConnectedError, errorMessage } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import type { SftpSystemConfig } from './file-options.js';
import type { FileEntry, FileTransport } from './file-transport.js';

const CONNECTION_LOST = /no sftp connection|not connected|econnreset|socket|channel|ended|closed/i;

/** `SHA256:<base64, no padding>` of a raw host key, as `ssh-keygen -lf` prints it. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

export function createSftpTransport(cfg: SftpSystemConfig): FileTransport {
  const where = `sftp://${cfg.username}@${cfg.host}:${cfg.port}/${cfg.dir.replace(/^\//, '')}`;
  let client: SftpClient | null = null;
  let connecting: Promise<SftpClient> | null = null;
  const abs = (rel: string) => (rel ? path.posix.join(cfg.dir, rel) : cfg.dir);

  async function open(): Promise<SftpClient> {
    // Own event callbacks: the library's defaults print to stdout; a lost connection just drops the client.
    const drop = () => { if (client === c) client = null; };
    const c: SftpClient = new SftpClient('hms-sync-file', { error: drop, end: drop, close: drop });
    const privateKey = cfg.privateKey ? await readFile(cfg.privateKey) : undefined;
    try {
      await c.connect({
        host: cfg.host,
        port: cfg.port,
        username: cfg.username,
        ...(privateKey ? { privateKey } : {}),
        ...(cfg.passphrase ? { passphrase: cfg.passphrase } : {}),
        ...(cfg.password ? { password: cfg.password } : {}),
        readyTimeout: parseDuration(cfg.readyTimeout),
        ...(cfg.hostFingerprint ? { hostVerifier: (key: Buffer) => hostKeyFingerprint(key) === cfg.hostFingerprint!.replace(/=+$/, '') } : {}),
      });
    } catch (e) {
      throw new NotConnectedError(`cannot connect to ${where}: ${errorMessage(e)}`, { cause: e });
    }
    return c;
  }

  async function ensure(): Promise<SftpClient> {
    if (client) return client;
    connecting ??= open().then((c) => { client = c; return c; }).finally(() => { connecting = null; });
    return connecting;
  }

  /** Run an operation; a connection-level failure drops the client and becomes NotConnectedError. */
  async function op<T>(what: string, fn: (c: SftpClient) => Promise<T>): Promise<T> {
    const c = await ensure();
    try {
      return await fn(c);
    } catch (e) {
      if (CONNECTION_LOST.test(errorMessage(e))) {
        client = null;
        void c.end().catch(() => {});
        throw new NotConnectedError(`${what} on ${where} failed: ${errorMessage(e)}`, { cause: e });
      }
      throw e;
    }
  }

  async function renameReplace(c: SftpClient, from: string, to: string): Promise<void> {
    try {
      await c.posixRename(from, to);
    } catch {
      // Server without the posix-rename extension: remove the target, then rename.
      if (await c.exists(to)) await c.delete(to, true);
      await c.rename(from, to);
    }
  }

  return {
    kind: 'sftp',
    where,
    async connect() {
      await ensure();
      await op('mkdir', async (c) => { if (!(await c.exists(cfg.dir))) await c.mkdir(cfg.dir, true); });
    },
    list: (rel) => op('list', async (c) => {
      if (!(await c.exists(abs(rel)))) return [];
      const entries = await c.list(abs(rel));
      return entries.map((e): FileEntry => ({ name: e.name, size: e.size, mtimeMs: e.modifyTime, isFile: e.type === '-' }));
    }),
    exists: (rel) => op('exists', async (c) => (await c.exists(abs(rel))) !== false),
    read: (rel) => op('read', async (c) => {
      if (!(await c.exists(abs(rel)))) throw Object.assign(new Error(`no such file ${abs(rel)} on ${where}`), { code: 'ENOENT' });
      return c.createReadStream(abs(rel)) as unknown as Readable;
    }),
    rename: (from, to) => op('rename', (c) => renameReplace(c, abs(from), abs(to))),
    mkdirp: (rel) => op('mkdir', async (c) => { if (!(await c.exists(abs(rel)))) await c.mkdir(abs(rel), true); }),
    writeFile: (rel, data) => op('write', async (c) => {
      const tmp = `${abs(rel)}.tmp`;
      await c.put(Buffer.isBuffer(data) ? data : Buffer.from(data), tmp);
      await renameReplace(c, tmp, abs(rel));
    }),
    upload: (localPath, rel) => op('upload', async (c) => {
      const tmp = `${abs(rel)}.tmp`;
      await c.fastPut(localPath, tmp);
      await renameReplace(c, tmp, abs(rel));
    }),
    remove: (rel) => op('remove', async (c) => { await c.delete(abs(rel), true); }),
    async close() {
      const c = client;
      client = null;
      if (c) await c.end().catch(() => {});
    },
  };
}
