/**
 * {@link FileTransport} over a local directory (node:fs). Renames are atomic on one file
 * system; written files and their directory are fsynced.
 */
import { createReadStream, watch as fsWatch, type FSWatcher } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FileEntry, FileTransport } from './file-transport.js';

/** fsync a directory so a rename or create inside it survives a crash (no-op where unsupported). */
export async function fsyncDir(dir: string): Promise<void> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(dir, 'r');
    await h.sync();
  } catch {
    // Some file systems (and Windows) cannot fsync a directory; the rename is still atomic.
  } finally {
    await h?.close();
  }
}

/** Write a file durably: temp name, fsync, rename, fsync the directory. */
export async function writeFileDurable(file: string, data: Buffer | string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const h = await fs.open(tmp, 'w');
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

export function createLocalTransport(dir: string): FileTransport {
  const root = path.resolve(dir);
  const abs = (rel: string) => (rel ? path.join(root, ...rel.split('/')) : root);
  return {
    kind: 'local',
    where: root,
    async connect() {
      await fs.mkdir(root, { recursive: true });
    },
    async list(rel) {
      let dirents;
      try {
        dirents = await fs.readdir(abs(rel), { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw e;
      }
      const out: FileEntry[] = [];
      for (const d of dirents) {
        try {
          const st = await fs.stat(path.join(abs(rel), d.name));
          out.push({ name: d.name, size: st.size, mtimeMs: st.mtimeMs, isFile: st.isFile() });
        } catch {
          // vanished between readdir and stat
        }
      }
      return out;
    },
    async exists(rel) {
      try {
        await fs.stat(abs(rel));
        return true;
      } catch {
        return false;
      }
    },
    async read(rel): Promise<Readable> {
      await fs.access(abs(rel));
      return createReadStream(abs(rel));
    },
    async rename(from, to) {
      await fs.rename(abs(from), abs(to));
      await fsyncDir(path.dirname(abs(to)));
    },
    async mkdirp(rel) {
      await fs.mkdir(abs(rel), { recursive: true });
    },
    async writeFile(rel, data) {
      await writeFileDurable(abs(rel), data);
    },
    async upload(localPath, rel) {
      const tmp = `${abs(rel)}.tmp`;
      await fs.copyFile(localPath, tmp);
      const h = await fs.open(tmp, 'r+');
      try {
        await h.sync();
      } finally {
        await h.close();
      }
      await fs.rename(tmp, abs(rel));
      await fsyncDir(path.dirname(abs(rel)));
    },
    async remove(rel) {
      await fs.rm(abs(rel), { force: true });
    },
    watch(onChange) {
      let w: FSWatcher | undefined;
      try {
        w = fsWatch(root, { persistent: false }, () => onChange());
        w.on('error', () => { /* the periodic scan covers for a broken watcher */ });
      } catch {
        // fs.watch unsupported here (some network file systems): the periodic scan still runs.
      }
      return () => w?.close();
    },
    async close() {},
  };
}
