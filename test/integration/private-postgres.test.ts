import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openSqlDatabase } from '../../src/adapters/sql/open-database.js';
import { PrivatePostgres } from '../support/private-postgres.js';

let server: PrivatePostgres;
beforeAll(async () => {
  server = await PrivatePostgres.create();
});
afterAll(async () => {
  await server.stop();
});

describe('the metadata database on PostgreSQL', () => {
  it('applies the schema at start-up, once, however many processes open it together', async () => {
    const url = await server.database();
    const opened = await Promise.all([1, 2, 3].map(() => openSqlDatabase({ dialect: 'postgres', url })));
    try {
      const { db } = opened[0]!;
      const applied = await sql<{ name: string }>`SELECT name FROM schema_migrations`.execute(db);
      expect(applied.rows.map((row) => row.name)).toEqual(['0001-initial', '0002-change-outbox']);
      expect(await db.selectFrom('files').selectAll().execute()).toEqual([]);
    } finally {
      await Promise.all(opened.map((database) => database.close()));
    }
  });

  it('names the server it could not reach', async () => {
    await expect(
      openSqlDatabase({ dialect: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none' }),
    ).rejects.toThrow(/could not reach the PostgreSQL metadata database/);
  });
});
