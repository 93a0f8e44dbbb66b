import { appendFile, mkdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/adapters/local/blob-store.js';
import type { SqlDatabase } from '../../src/adapters/sql/database.js';
import {
  type BlobContents,
  SqlDataStore,
  type SqlDataStoreOptions,
} from '../../src/adapters/sql/sql-data-store.js';
import { importFolder } from '../../src/app/dataset-transfer.js';
import type { TransferObserver } from '../../src/ports/transfer-observer.js';

export interface SqlDataStoreFixture {
  store: SqlDataStore;
  /** The store's database, to look at its rows. */
  database: SqlDatabase;
  scratch: string;
  /** Another store over the same database and blobs, on its own connection. */
  open: (options?: SqlDataStoreOptions) => Promise<SqlDataStore>;
}

const signal = new AbortController().signal;
const key = (invocationId: string, attempt = 1) => ({ invocationId, attempt });

/** Bytes an observer was told were stored. */
function byteCounter(): TransferObserver & { uploaded: number } {
  const counter = {
    uploaded: 0,
    moved(direction: string, bytes: number) {
      if (direction === 'upload') counter.uploaded += bytes;
    },
  };
  return counter;
}

/**
 * What the SQL store does beyond the port's contract, on either dialect: the version history it keeps in
 * `file_versions`, and the unchanged-file shortcut of an import.
 */
export function describeSqlDataStore(name: string, fixture: () => Promise<SqlDataStoreFixture>): void {
  // Real databases, several connections and processes at once on a loaded 2-core machine: a margin, not a
  // performance bound.
  describe(`SqlDataStore: ${name}`, { timeout: 60_000 }, () => {
    async function versionsOf(database: SqlDatabase, fileId: string) {
      const rows = await database.db
        .selectFrom('file_versions')
        .select(['version', 'sha256'])
        .where('file_id', '=', fileId)
        .orderBy('version')
        .execute();
      return rows;
    }

    it('keeps versions 1..N of every path, in file_versions too, when two stores write at once', async () => {
      const { store, database, scratch, open } = await fixture();
      const other = await open();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const paths = Array.from({ length: 20 }, (_, i) => `p/${i}.txt`);
      const rounds = 5;
      const writer = async (writing: SqlDataStore, writerName: string) => {
        for (let round = 0; round < rounds; round += 1) {
          const files = await Promise.all(
            paths.map(async (relativePath, i) => {
              const sourcePath = path.join(scratch, `${writerName}-${round}-${i}`);
              await writeFile(sourcePath, `${writerName} ${round} ${i}`);
              return { relativePath, sourcePath };
            }),
          );
          await writing.putFiles(datasetId, files, {
            writeKey: key(`iv_${writerName}_${round}`),
            origination: writerName,
            signal,
          });
        }
      };
      await Promise.all([writer(store, 'alpha'), writer(other, 'beta')]);
      const files = await store.listFiles(datasetId);
      expect(files).toHaveLength(paths.length);
      for (const file of files) {
        expect(file.record.version).toBe(2 * rounds);
        const versions = await versionsOf(database, file.record.file_id);
        expect(versions.map((row) => row.version)).toEqual(
          Array.from({ length: 2 * rounds }, (_, i) => i + 1),
        );
        expect(versions.at(-1)?.sha256).toBe(file.sha256);
      }
    });

    it('leaves one version per path, replaced, when an attempt is retried', async () => {
      const { store, database, scratch } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const put = async (content: string, attempt: number) => {
        const sourcePath = path.join(scratch, `retry-${attempt}`);
        await writeFile(sourcePath, content);
        return (
          await store.putFiles(datasetId, [{ relativePath: 'out.txt', sourcePath }], {
            writeKey: key('iv_retried', attempt),
            origination: 'test',
            signal,
          })
        )[0]!;
      };
      await put('first attempt', 1);
      const second = await put('second attempt', 2);
      const stored = await store.getFile(second.file_id);
      expect(second.version).toBe(1);
      expect(await versionsOf(database, second.file_id)).toEqual([{ version: 1, sha256: stored?.sha256 }]);
      expect(await readFile(await store.contentPath(stored!), 'utf8')).toBe('second attempt');
    });

    it('writes more files than one batch holds, each once', async () => {
      const { database, scratch, open } = await fixture();
      const store = await open({ recordBatch: 8 });
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const sourcePath = path.join(scratch, 'shared');
      await writeFile(sourcePath, 'same bytes');
      const files = Array.from({ length: 21 }, (_, i) => ({ relativePath: `f/${i}`, sourcePath }));
      const records = await store.putFiles(datasetId, files, {
        writeKey: key('iv_many'),
        origination: 't',
        signal,
      });
      expect(records.map((record) => record.relative_path)).toEqual(files.map((file) => file.relativePath));
      expect(await store.listFiles(datasetId)).toHaveLength(files.length);
      const { count } = await database.db
        .selectFrom('file_versions')
        .select((eb) => eb.fn.countAll<number | string>().as('count'))
        .executeTakeFirstOrThrow();
      expect(Number(count)).toBe(files.length);
    });

    it('re-imports an unchanged folder without reading a file, and reads a touched one again', async () => {
      const { store, database, scratch } = await fixture();
      const folder = path.join(scratch, 'folder');
      await mkdir(path.join(folder, 'sub'), { recursive: true });
      await writeFile(path.join(folder, 'a.txt'), 'alpha');
      await writeFile(path.join(folder, 'sub', 'b.txt'), 'bravo');
      await writeFile(path.join(folder, 'c.txt'), 'charlie');
      const reimport = async () => {
        const counter = byteCounter();
        const { dataset, files } = await importFolder(store, folder, {
          orgId: 'og_1',
          signal,
          transfers: counter,
        });
        return { datasetId: dataset.dataset_id, files, uploaded: counter.uploaded };
      };
      const versionCount = async () =>
        Number(
          (
            await database.db
              .selectFrom('file_versions')
              .select((eb) => eb.fn.countAll<number | string>().as('count'))
              .executeTakeFirstOrThrow()
          ).count,
        );

      const first = await reimport();
      expect(first.uploaded).toBe('alpha'.length + 'bravo'.length + 'charlie'.length);
      expect(await versionCount()).toBe(3);

      // Unchanged: nothing read, nothing stored.
      const again = await reimport();
      expect(again.uploaded).toBe(0);
      expect(again.files).toEqual(first.files);
      expect(await versionCount()).toBe(3);

      // Changed content: read, and a new version.
      await appendFile(path.join(folder, 'a.txt'), ' and more');
      const changed = await reimport();
      expect(changed.uploaded).toBe('alpha and more'.length);
      expect(changed.files.find((file) => file.relative_path === 'a.txt')?.version).toBe(2);
      expect(await versionCount()).toBe(4);

      // Same content, a new modification time: read again, but no new version.
      const bravo = path.join(folder, 'sub', 'b.txt');
      const before = await stat(bravo);
      await utimes(bravo, before.atime, new Date(before.mtimeMs + 5_000));
      const touched = await reimport();
      expect(touched.uploaded).toBe('bravo'.length);
      expect(touched.files.find((file) => file.relative_path === 'sub/b.txt')?.version).toBe(1);
      expect(await versionCount()).toBe(4);
      // …and its new stat is remembered: the next import reads nothing.
      expect((await reimport()).uploaded).toBe(0);
    });

    it('reads a file recognised by its stat after all when its path was written meanwhile', async () => {
      const { store, database, scratch } = await fixture();
      const folder = path.join(scratch, 'raced');
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, 'kept.txt'), 'kept');
      await writeFile(path.join(folder, 'changed.txt'), 'before');
      const { dataset } = await importFolder(store, folder, { orgId: 'og_1', signal });
      await writeFile(path.join(folder, 'changed.txt'), 'after');

      // While the import copies changed.txt (after kept.txt was recognised by its stat, before the records
      // are written), an action's output replaces kept.txt in the dataset.
      const blobs = new BlobStore(path.join(scratch, 'store', 'blobs'), path.join(scratch, 'store', 'tmp'));
      const output = path.join(scratch, 'output');
      await writeFile(output, 'an output');
      let raced = false;
      const racing: BlobContents = {
        pathOf: (sha256) => blobs.pathOf(sha256),
        putMany: async (sources, putOptions) => {
          if (!raced) {
            raced = true;
            await store.putFiles(dataset.dataset_id, [{ relativePath: 'kept.txt', sourcePath: output }], {
              writeKey: key('iv_output'),
              origination: 'action',
              signal,
            });
          }
          return blobs.putMany(sources, putOptions);
        },
      };
      const importing = new SqlDataStore(database, racing);
      const counter = byteCounter();
      const { files } = await importFolder(importing, folder, {
        orgId: 'og_1',
        datasetId: dataset.dataset_id,
        signal,
        transfers: counter,
      });
      expect(raced).toBe(true);
      // kept.txt was read after all: the dataset holds the folder's content again, as a new version.
      expect(counter.uploaded).toBe('after'.length + 'kept'.length);
      const kept = files.find((file) => file.relative_path === 'kept.txt');
      expect(kept?.version).toBe(3);
      const stored = await store.getFile(kept!.file_id);
      expect(await readFile(await store.contentPath(stored!), 'utf8')).toBe('kept');
    });

    it('reads again a file changed with its size and modification time kept: a new ctime, or a new inode', async () => {
      const { store, scratch } = await fixture();
      const folder = path.join(scratch, 'same-size');
      await mkdir(folder, { recursive: true });
      const file = path.join(folder, 'data.bin');
      await writeFile(file, 'AAAA');
      const reimport = async () => {
        const counter = byteCounter();
        const { files } = await importFolder(store, folder, { orgId: 'og_1', signal, transfers: counter });
        return { version: files[0]?.version, uploaded: counter.uploaded };
      };
      expect(await reimport()).toEqual({ version: 1, uploaded: 4 });

      // Rewritten in place, same size, its modification time put back: only the ctime tells.
      const before = await stat(file);
      await writeFile(file, 'BBBB');
      await utimes(file, before.atime, before.mtime);
      expect(await reimport()).toEqual({ version: 2, uploaded: 4 });

      // Replaced by another file (a rename over it), same size and modification time: a new inode.
      const kept = await stat(file);
      const replacement = path.join(scratch, 'replacement');
      await writeFile(replacement, 'CCCC');
      await utimes(replacement, kept.atime, kept.mtime);
      await rename(replacement, file);
      expect(await reimport()).toEqual({ version: 3, uploaded: 4 });
      expect(await reimport()).toEqual({ version: 3, uploaded: 0 });
    });

    it('records a source stat for imported writes only, and reads a path an output wrote', async () => {
      const { store, database, scratch } = await fixture();
      const folder = path.join(scratch, 'imported');
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, 'x.txt'), 'imported');
      const { dataset } = await importFolder(store, folder, { orgId: 'og_1', signal });
      const statOf = async () =>
        (
          await database.db
            .selectFrom('files')
            .select('source_stat')
            .where('dataset_id', '=', dataset.dataset_id)
            .where('relative_path', '=', 'x.txt')
            .executeTakeFirstOrThrow()
        ).source_stat;
      const { size, ino } = await stat(path.join(folder, 'x.txt'), { bigint: true });
      expect(await statOf()).toMatch(new RegExp(`^${size}:\\d+:${ino}:\\d+$`));

      // An output (no source stat) over the same path: the stat recorded before no longer describes it.
      const output = path.join(scratch, 'output');
      await writeFile(output, 'written by an action');
      await store.putFiles(dataset.dataset_id, [{ relativePath: 'x.txt', sourcePath: output }], {
        writeKey: key('iv_output'),
        origination: 'action',
        signal,
      });
      expect(await statOf()).toBeNull();

      // The folder's file is unchanged, but the dataset's is not what it holds: read, and a new version.
      const counter = byteCounter();
      const reimported = await importFolder(store, folder, {
        orgId: 'og_1',
        datasetId: dataset.dataset_id,
        signal,
        transfers: counter,
      });
      expect(counter.uploaded).toBe('imported'.length);
      expect(reimported.files[0]?.version).toBe(3);
      expect(await statOf()).not.toBeNull();
    });
  });
}
