import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * The change outbox (issue 13): a change's trigger event, written in the change's own transaction and
 * deleted once a relay has handed it on to the trigger event queue. `claimed_until` (epoch milliseconds) is
 * a relay's lease on a row — or the hold of a write still under way, whose batches add their files to
 * `change_outbox_files` — : another relay claims it only after it has run out.
 */
export function changeOutboxSchema(dialect: Dialect) {
  const json = dialect === 'postgres' ? 'jsonb' : 'text';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('change_outbox')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event', json, (c) => c.notNull())
        .addColumn('claimed_until', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex('change_outbox_claimed_until')
        .on('change_outbox')
        .columns(['claimed_until', 'seq'])
        .execute();
      await db.schema.createIndex('change_outbox_event_id').on('change_outbox').column('event_id').execute();
      // The files of an event written over several transactions (a write's batches), in their order.
      await db.schema
        .createTable('change_outbox_files')
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('n', 'integer', (c) => c.notNull())
        .addColumn('file_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('change_outbox_files_pk', ['seq', 'file_id'])
        .execute();
    },
  };
}
