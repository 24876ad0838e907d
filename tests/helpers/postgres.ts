/**
 * PostgreSQL for tests: every store opened here gets a schema of its own (the conformance
 * cases expect an empty database), named after this test file's process so parallel runs
 * never collide; `afterAll` drops them all.
 */
import pg from 'pg';
import { afterAll } from 'vitest';
import { PostgresStore } from '../../server/store/postgres-store.ts';
import type { Sequencing } from '../../server/store/postgres-sequencing.ts';

/** The test database (trust auth on 127.0.0.1; `.ci/run` starts the server). */
export const PG_URL = process.env.SKEIN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Registers the cleanup and returns `freshSchema()` / `openStore()` for this test file. */
export function postgresSchemas() {
  const prefix = `skein_t_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const schemas: string[] = [];
  afterAll(async () => {
    if (schemas.length === 0) return;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    } finally {
      await client.end();
    }
  });
  const freshSchema = () => {
    const name = `${prefix}_${schemas.length}`;
    schemas.push(name);
    return name;
  };
  return {
    freshSchema,
    /** A store on a new, empty schema. */
    openStore: (schema = freshSchema(), sequencing?: Sequencing) => PostgresStore.open({ connectionString: PG_URL, schema, ...(sequencing ? { sequencing } : {}) }),
  };
}
