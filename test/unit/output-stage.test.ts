import { mkdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { outputFixture } from '../support/output-fixture.js';
import { removeTempDirs } from '../support/temp-dirs.js';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import type { WorkspaceLayout } from '../../src/domain/workspace-layout.js';
import { createLogger } from '../../src/observability/logger.js';
import type { InvocationPlan } from '../../src/stages/invocation-plan.js';
import { applyOutputs } from '../../src/stages/output.js';
import { placeInputs } from '../../src/stages/setup.js';
import { FileCache } from '../../src/stages/file-cache.js';
import { StoreOutputTarget } from '../../src/stages/store-output-target.js';

const signal = new AbortController().signal;
const logger = createLogger('error', { pretty: false });

const setUp = () => outputFixture('iv_test');

/** The output stage into the store, for an invocation without inputs. */
const collect = ({
  layout,
  store,
  plan,
}: {
  layout: WorkspaceLayout;
  store: LocalDataStore;
  plan: InvocationPlan;
}) =>
  applyOutputs(
    plan,
    layout,
    { files: [], topics: [] },
    new StoreOutputTarget(store, { invocationId: plan.invocationId, attempt: plan.attempt }, 't'),
    logger,
    signal,
  );

const line = (relativePath: string, changeset: unknown) =>
  JSON.stringify({ relative_path: relativePath, update: { metadata_changeset: changeset } });

describe('the output stage with what a hostile or careless action leaves', () => {
  afterAll(removeTempDirs);

  it('skips a file changeset that cannot apply, and still applies the others and the dataset changeset', async () => {
    const { layout, store, datasetId, plan } = await setUp();
    await writeFile(path.join(layout.outputDir, 'good.txt'), 'g');
    await writeFile(path.join(layout.outputDir, 'bad.txt'), 'b');
    await writeFile(path.join(layout.outputDir, 'fine.txt'), 'f');
    await writeFile(
      layout.fileChangesetFile,
      [
        line('bad.txt', { put_fields: { text: 'string' } }),
        line('bad.txt', { put_fields: { 'text.inner': 1 } }),
        line('good.txt', { put_tags: ['ok'] }),
        line('good.txt', { put_fields: { '__proto__.polluted': true } }),
        line('fine.txt', { put_tags: ['applied'], put_fields: { 'a.b': 1 } }),
      ].join('\n'),
    );
    await writeFile(layout.datasetChangesetFile, '{"put_tags": ["done"]}');
    const result = await collect({ layout, store, plan });
    expect(result.uploaded.map((record) => record.relative_path)).toEqual([
      'bad.txt',
      'fine.txt',
      'good.txt',
    ]);
    const files = await store.listFiles(datasetId);
    // bad.txt: "text" is a string, "text.inner" cannot apply. good.txt: the __proto__ path is refused.
    expect(files.map(({ record }) => [record.relative_path, record.tags, record.metadata])).toEqual([
      ['bad.txt', [], {}],
      ['fine.txt', ['applied'], { a: { b: 1 } }],
      ['good.txt', [], {}],
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await store.getDataset(datasetId))?.tags).toEqual(['done']);
  });

  it('refuses a changeset file that is a symlink or too large, and names with a backslash', async () => {
    const { layout, store, datasetId, plan, dir } = await setUp();
    await writeFile(path.join(layout.outputDir, 'kept.txt'), 'k');
    await writeFile(path.join(layout.outputDir, '..\\escape.txt'), 'e');
    const secretish = path.join(dir, 'host-file.json');
    await writeFile(secretish, line('kept.txt', { put_tags: ['from-the-host'] }));
    // The action replaces its changeset file with a link to a file of the host.
    await rm(layout.fileChangesetFile);
    await symlink(secretish, layout.fileChangesetFile);
    await writeFile(layout.datasetChangesetFile, '');
    await truncate(layout.datasetChangesetFile, 65 * 1024 * 1024);
    const result = await collect({ layout, store, plan });
    expect(result.refused).toEqual([
      { relativePath: '..\\escape.txt', reason: 'a name with a backslash is not uploaded' },
    ]);
    expect(result.uploaded.map((record) => record.relative_path)).toEqual(['kept.txt']);
    expect((await store.listFiles(datasetId))[0]?.record.tags).toEqual([]);
    expect(result.fileChangesetApplied).toBe(false);
    expect(result.datasetChangesetApplied).toBe(false);
  });
});

describe('placing inputs', () => {
  afterAll(removeTempDirs);

  it('refuses two inputs where one path is a directory of the other, as bad input', async () => {
    const { layout, dir } = await setUp();
    await mkdir(path.join(dir, 'src'), { recursive: true });
    const source = path.join(dir, 'src', 'f');
    await writeFile(source, 'x');
    const record = (relative: string, id: string) =>
      ({ association_id: 'ds_1', file_id: id, relative_path: relative, size: 1 }) as never;
    const placing = placeInputs(
      {
        files: [
          { record: record('a', 'fl_1'), sourcePath: source },
          { record: record('a/b', 'fl_2'), sourcePath: source },
        ],
        topics: [],
      },
      layout,
      layout,
      true,
      new FileCache(path.join(dir, 'cache'), 1024 ** 3),
      'link',
      signal,
    );
    await expect(placing).rejects.toMatchObject({
      code: 'E_INVALID_INPUT',
      message: expect.stringContaining('one is a directory of the other'),
    });
  });
});
