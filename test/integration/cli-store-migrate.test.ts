import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlDatabase } from '../../src/adapters/sql/open-database.js';
import {
  FIXTURE_DATASETS,
  buildFolderStore,
  expectSameContents,
  folderStoreContents,
} from '../support/folder-store-fixture.js';
import { removeTempDirs, runCli, tempDir } from '../support/harness.js';

async function folderStore() {
  const dir = await tempDir('cli-migrate');
  const storeDir = path.join(dir, 'store');
  await mkdir(path.join(dir, 'scratch'));
  const store = await buildFolderStore(storeDir, path.join(dir, 'scratch'));
  return { store, storeDir, env: { ACTION_WORKER_STORE_DIR: storeDir } };
}

describe('action-worker store migrate / status', () => {
  afterAll(removeTempDirs);

  it('migrates automatically on the first command that opens the store after an upgrade', async () => {
    const { store, storeDir, env } = await folderStore();
    const { files } = await folderStoreContents(store);

    // Any command that opens the store: here `datasets list`, which sees every dataset it saw before.
    const listed = await runCli(['datasets', 'list'], { env });
    expect(listed.exitCode, listed.stderr).toBe(0);
    for (const datasetId of FIXTURE_DATASETS) expect(listed.stdout).toContain(datasetId);
    const database = await openSqlDatabase({
      dialect: 'sqlite',
      file: path.join(storeDir, 'metadata.sqlite3'),
    });
    try {
      await expectSameContents(store, database);
    } finally {
      await database.close();
    }
    const status = await runCli(['store', 'status'], { env });
    expect(status.stdout).toMatch(/folder store: migrated and verified \d{4}-\d\d-\d\dT/);
    expect(status.stdout).toContain(`${FIXTURE_DATASETS.length} dataset(s), ${files.length} file(s)`);
    // Kept until confirmed.
    expect((await readdir(storeDir)).sort()).toEqual(expect.arrayContaining(['datasets', 'index']));
  });

  it('migrates, says what is kept and what is next, and confirms', async () => {
    const { store, storeDir, env } = await folderStore();
    const { files, topics } = await folderStoreContents(store);

    const before = await runCli(['store', 'status'], { env });
    expect(before.exitCode, before.stderr).toBe(0);
    expect(before.stdout).toContain(`store:        ${storeDir}`);
    expect(before.stdout).toContain(`database:     ${path.join(storeDir, 'metadata.sqlite3')}`);
    expect(before.stdout).toContain('folder store: not migrated yet');
    expect(before.stdout).toContain('next:         action-worker store migrate');

    const migrated = await runCli(['store', 'migrate'], { env });
    expect(migrated.exitCode, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain(
      `migrated and verified ${FIXTURE_DATASETS.length} dataset(s), ${files.length} file(s) and ${topics.length} topic(s)`,
    );
    expect(migrated.stdout).toContain(
      `kept:         ${storeDir}/{datasets,index,locks}, untouched until you confirm`,
    );
    expect(migrated.stdout).toContain('next:         action-worker store migrate --confirm');
    // Progress on stderr, a line per dataset.
    expect(migrated.stderr.match(/store\.migration\.dataset/g)).toHaveLength(FIXTURE_DATASETS.length);
    const database = await openSqlDatabase({
      dialect: 'sqlite',
      file: path.join(storeDir, 'metadata.sqlite3'),
    });
    try {
      await expectSameContents(store, database);
    } finally {
      await database.close();
    }

    const verified = await runCli(['store', 'status'], { env });
    expect(verified.stdout).toMatch(/folder store: migrated and verified \d{4}-\d\d-\d\dT/);
    expect(verified.stdout).toContain(`${FIXTURE_DATASETS.length} dataset(s), ${files.length} file(s)`);

    const confirmed = await runCli(['store', 'migrate', '--confirm'], { env });
    expect(confirmed.exitCode, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toContain('already migrated and verified: nothing to copy');
    expect(confirmed.stdout).toContain(
      `moved datasets, index, locks into ${path.join(storeDir, 'folder-store.migrated')}`,
    );
    const left = await readdir(storeDir);
    expect(left).toContain('folder-store.migrated');
    expect(left).toContain('blobs');
    expect(left.filter((name) => ['datasets', 'index', 'locks'].includes(name))).toEqual([]);

    const after = await runCli(['store', 'status'], { env });
    expect(after.stdout).toContain('folder store: migrated, verified');
    expect(after.stdout).toContain(
      `kept:         ${path.join(storeDir, 'folder-store.migrated')} (the old folder store`,
    );
    const again = await runCli(['store', 'migrate', '--confirm'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain('already migrated and verified');
    expect(again.stdout).toContain('nothing left to move');
  });

  it('exits 65 naming a corrupt record, and the folder store stays unverified', async () => {
    const { storeDir, env } = await folderStore();
    const dir = path.join(storeDir, 'datasets', 'ds_b_versions');
    await writeFile(
      path.join(dir, 'dataset.json'),
      (await readFile(path.join(dir, 'dataset.json'), 'utf8')).slice(0, 20),
    );

    const result = await runCli(['store', 'migrate'], { env });
    expect(result.exitCode).toBe(65);
    expect(result.stderr).toContain(
      `folder store record ${path.join(dir, 'dataset.json')} is not valid JSON`,
    );
    const status = await runCli(['store', 'status'], { env });
    expect(status.stdout).toContain('folder store: migration started');
    expect(status.stdout).toContain('not finished: 1 dataset(s)');
  });

  it('says there is nothing to migrate in a store without a folder store', async () => {
    const result = await runCli(['store', 'migrate', '--confirm'], {
      env: { ACTION_WORKER_STORE_DIR: await tempDir('cli-migrate-none') },
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('nothing to migrate');
    expect(result.stdout).toContain('folder store: none');
  });
});
