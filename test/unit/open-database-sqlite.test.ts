import path from 'node:path';
import { execa } from 'execa';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlDatabase } from '../../src/adapters/sql/open-database.js';
import { projectRoot } from '../support/paths.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

afterAll(removeTempDirs);

describe('the metadata database on SQLite', () => {
  it(
    'applies the schema once when several processes open a new file at once',
    { timeout: 120_000 },
    async () => {
      const file = path.join(await tempDir('sqlite-open'), 'store', 'metadata.sqlite3');
      const opener = () =>
        execa(
          'node',
          ['--import', 'tsx', path.join(projectRoot, 'test', 'support', 'sqlite-opener.ts'), file],
          {
            cwd: projectRoot,
            reject: false,
          },
        );
      const results = await Promise.all([opener(), opener(), opener(), opener()]);
      for (const result of results) expect(result.exitCode, result.stderr).toBe(0);
      const database = await openSqlDatabase({ dialect: 'sqlite', file });
      try {
        const applied = await sql<{ name: string }>`SELECT name FROM schema_migrations`.execute(database.db);
        expect(applied.rows.map((row) => row.name)).toEqual(['0001-initial', '0002-change-outbox']);
      } finally {
        await database.close();
      }
    },
  );
});
