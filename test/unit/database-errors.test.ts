import { describe, expect, it } from 'vitest';
import { storeError } from '../../src/adapters/sql/database-errors.js';
import { UsageError } from '../../src/domain/errors.js';

const coded = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('storeError', () => {
  it('makes a failure that may pass a retryable E_IO error, keeping the driver error as its cause', () => {
    for (const [error, dialect] of [
      [coded('57P01', 'terminating connection due to administrator command'), 'postgres'],
      [coded('08006'), 'postgres'],
      [coded('40P01', 'deadlock detected'), 'postgres'],
      [coded('53300', 'too many connections'), 'postgres'],
      [coded('ECONNREFUSED'), 'postgres'],
      [new Error('Connection terminated unexpectedly'), 'postgres'],
      [coded('SQLITE_BUSY', 'database is locked'), 'sqlite'],
      [coded('SQLITE_IOERR_FSYNC'), 'sqlite'],
      [coded('SQLITE_FULL'), 'sqlite'],
    ] as const) {
      const translated = storeError(error, dialect);
      expect(translated, error.message).toMatchObject({ code: 'E_IO', retryable: true, cause: error });
      expect((translated as Error).message).toContain(error.message);
    }
  });

  it('leaves every other error as it is', () => {
    for (const [error, dialect] of [
      [coded('23505', 'duplicate key value violates unique constraint'), 'postgres'],
      [coded('42P01', 'relation does not exist'), 'postgres'],
      [new TypeError('x is not a function'), 'postgres'],
      [coded('SQLITE_CONSTRAINT_PRIMARYKEY'), 'sqlite'],
      [new Error('plain'), 'sqlite'],
      [new UsageError('unknown dataset "ds_x"', 'E_INVALID_INPUT'), 'postgres'],
    ] as const) {
      expect(storeError(error, dialect)).toBe(error);
    }
  });
});
