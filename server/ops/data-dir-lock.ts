/**
 * One relay process per data directory. Two relays on one directory would each start the
 * embedded PDS over the other's files and share a SQLite file that assumes one writer
 * process (outbox claims are released on open). The lock is an exclusive SQLite lock on
 * `<dataDir>/relay.lock`: the operating system drops it when the process dies, even on
 * SIGKILL, so a crashed relay never leaves a stale lock behind.
 */
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/config.ts';

export interface DataDirLock {
  release(): void;
}

/** Takes the lock or throws a ConfigError naming the process that holds it. */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'relay.lock');
  const pidFile = join(dataDir, 'relay.pid');
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch {
    db.close();
    let holder = '';
    try {
      holder = ` (pid ${Number.parseInt(readFileSync(pidFile, 'utf8'), 10)})`;
    } catch {
      // no pid file yet: the other relay is just starting
    }
    throw new ConfigError('SKEIN_DATA_DIR', `${dataDir} is in use by another running relay${holder}; stop it or choose another data directory`);
  }
  writeFileSync(pidFile, String(process.pid));
  return {
    release() {
      if (db.open) db.close();
    },
  };
}
