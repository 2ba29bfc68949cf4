import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * The embedded database is a set of files that only one process may open. This pid file turns a second
 * Parley on the same DATA_DIR into a clear error instead of a corrupted database.
 */
export class DataDirLock {
  private constructor(private readonly path: string) {}

  static acquire(path: string): DataDirLock {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
    } catch {
      const holder = Number(readFileSync(path, 'utf8'));
      if (holder && holder !== process.pid && isAlive(holder)) {
        throw new Error(
          `DATA_DIR is in use by another Parley process (pid ${holder}); stop it, or set DATA_DIR or DATABASE_URL`,
        );
      }
      writeFileSync(path, String(process.pid));
    }
    return new DataDirLock(path);
  }

  release(): void {
    try {
      if (readFileSync(this.path, 'utf8') === String(process.pid)) rmSync(this.path);
    } catch {
      // already gone
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
