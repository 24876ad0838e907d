/** SKEIN_DATABASE_URL / SKEIN_DATABASE_SCHEMA selection and validation (issue #13). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config/config.ts';

const base = () => ({ SKEIN_DATA_DIR: mkdtempSync(join(tmpdir(), 'skein-config-')) });
const load = (env: Record<string, string>) => loadConfig({ ...base(), ...env }, { requireAuth: false });

describe('SKEIN_DATABASE_URL', () => {
  it('is off by default: SQLite', () => {
    expect(load({}).databaseUrl).toBeNull();
    expect(load({ SKEIN_DATABASE_URL: ' ' }).databaseUrl).toBeNull();
  });

  it('accepts postgres:// and postgresql:// URLs', () => {
    expect(load({ SKEIN_DATABASE_URL: 'postgres://u:p@db:5432/skein' }).databaseUrl).toBe('postgres://u:p@db:5432/skein');
    expect(load({ SKEIN_DATABASE_URL: 'postgresql://db/skein' }).databaseUrl).toBe('postgresql://db/skein');
  });

  it('refuses other schemes and non-URLs without echoing the value (it may hold a password)', () => {
    for (const v of ['mysql://u:s3cret@db/x', 'u:s3cret@db', 'sqlite:///tmp/x.db']) {
      let err: unknown;
      try {
        load({ SKEIN_DATABASE_URL: v });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const msg = (err as ConfigError).message;
      expect(msg).toMatch(/^SKEIN_DATABASE_URL: /);
      expect(msg).not.toContain('s3cret');
    }
  });
});

describe('SKEIN_DATABASE_SCHEMA', () => {
  it('names a schema (lower-case identifier) and only applies with SKEIN_DATABASE_URL', () => {
    expect(load({ SKEIN_DATABASE_URL: 'postgres://db/x', SKEIN_DATABASE_SCHEMA: 'skein_a' }).databaseSchema).toBe('skein_a');
    expect(load({ SKEIN_DATABASE_URL: 'postgres://db/x' }).databaseSchema).toBeNull();
    expect(() => load({ SKEIN_DATABASE_URL: 'postgres://db/x', SKEIN_DATABASE_SCHEMA: 'Bad-Name' })).toThrow(/SKEIN_DATABASE_SCHEMA/);
    expect(() => load({ SKEIN_DATABASE_SCHEMA: 'skein_a' })).toThrow(/SKEIN_DATABASE_SCHEMA: only applies with SKEIN_DATABASE_URL/);
  });
});
