/**
 * The ingest lease on PostgreSQL: a session-level advisory lock per schema, held on a
 * connection of its own. PostgreSQL frees it when that session ends, so an instance that
 * crashes or loses its database connection hands over without any timeout of ours.
 */
import type pg from 'pg';
import type { IngestLease } from './ingest-lease.ts';

/** One lock per schema: test runs and tenants in other schemas never contend. */
const LOCK = "pg_try_advisory_lock(hashtext(current_schema() || ':skein-ingest'))";

export class PostgresIngestLease implements IngestLease {
  private session: pg.PoolClient | null = null;

  constructor(private readonly pool: pg.Pool) {}

  async tryAcquire(): Promise<boolean> {
    if (this.session) {
      try {
        await this.session.query('SELECT 1');
        return true;
      } catch {
        this.drop(); // the session (and with it the lock) is gone
        return false;
      }
    }
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch {
      return false;
    }
    try {
      const { rows } = await c.query<{ held: boolean }>(`SELECT ${LOCK} AS held`);
      if (!rows[0]?.held) {
        c.release();
        return false;
      }
      c.on('error', () => this.drop());
      this.session = c;
      return true;
    } catch {
      c.release(true);
      return false;
    }
  }

  async release(): Promise<void> {
    this.drop();
  }

  /** Closes the session rather than returning it to the pool: that frees the lock for sure. */
  private drop(): void {
    this.session?.release(true);
    this.session = null;
  }
}
