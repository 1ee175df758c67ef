/**
 * The file operations the drop-directory source and the file sink need, over a local
 * directory or an SFTP server. Paths are relative to the system's `dir`, with `/` separators.
 */
import type { Readable } from 'node:stream';

/** One directory entry. */
export interface FileEntry {
  name: string;
  size: number;
  mtimeMs: number;
  isFile: boolean;
}

export interface FileTransport {
  readonly kind: 'local' | 'sftp';
  /** Human-readable location for messages (`/data/drop`, `sftp://user@host:22/in`); never a secret. */
  readonly where: string;
  connect(): Promise<void>;
  /** Entries of a directory (relative path, '' for the root); [] when it does not exist. */
  list(dir: string): Promise<FileEntry[]>;
  exists(rel: string): Promise<boolean>;
  /** A byte stream of a file. */
  read(rel: string): Promise<Readable>;
  /** Rename; replaces an existing target. */
  rename(from: string, to: string): Promise<void>;
  mkdirp(rel: string): Promise<void>;
  /** Write a small file (reason files, trigger files) atomically enough: temp name, then rename. */
  writeFile(rel: string, data: Buffer | string): Promise<void>;
  /** Copy a local file to `rel` (temporary name first, then rename). */
  upload(localPath: string, rel: string): Promise<void>;
  remove(rel: string): Promise<void>;
  /** Optional change notification (local fs.watch); returns a function that stops watching. */
  watch?(onChange: () => void): () => void;
  close(): Promise<void>;
}

/** Join relative path segments with `/`, dropping empty ones. */
export function joinRel(...parts: string[]): string {
  return parts.filter((p) => p !== '' && p !== '.').join('/');
}
