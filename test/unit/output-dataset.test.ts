import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { stableId } from '../../src/domain/ids.js';
import { StoreOutputTarget } from '../../src/stages/store-output-target.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const signal = new AbortController().signal;

async function freshStore(): Promise<{ store: LocalDataStore; root: string; scratch: string }> {
  const scratch = await tempDir('output-dataset');
  const root = path.join(scratch, 'store');
  return { store: new LocalDataStore(root), root, scratch };
}

const outputDataset = (datasetId: string, orgId = 'og_1') => ({
  datasetId,
  orgId,
  name: 'a outputs',
  description: 'outputs of a',
});

describe('the dataset made for outputs that have nowhere else to go', () => {
  afterAll(removeTempDirs);

  it('is made after all by the next attempt when a crash left its directory without dataset.json', async () => {
    const { store, root, scratch } = await freshStore();
    const datasetId = stableId('ds', 'outputs', 'iv_crashed');
    // The crash: mkdir of the dataset's directory happened, writing dataset.json did not.
    await mkdir(path.join(root, 'datasets', datasetId), { recursive: true });
    expect(await store.getDataset(datasetId)).toBeUndefined();

    const target = new StoreOutputTarget(store, { invocationId: 'iv_crashed', attempt: 2 }, 't');
    await target.ensureDataset(outputDataset(datasetId));
    expect(await store.getDataset(datasetId)).toMatchObject({
      dataset_id: datasetId,
      org_id: 'og_1',
      name: 'a outputs',
    });
    const source = path.join(scratch, 'report.csv');
    await writeFile(source, 'a,b\n');
    const stored = await target.upload(
      datasetId,
      [{ relativePath: 'report.csv', hostPath: source, sizeBytes: 4 }],
      { signal },
    );
    expect(stored.map((record) => record.relative_path)).toEqual(['report.csv']);
    // Again (a later retry): the dataset exists and is simply used.
    await target.ensureDataset(outputDataset(datasetId));
  });

  it('completes a half-created dataset in the store itself, and still refuses a duplicate of a whole one', async () => {
    const { store, root } = await freshStore();
    await mkdir(path.join(root, 'datasets', 'ds_half'), { recursive: true });
    const created = await store.createDataset({ orgId: 'og_1', datasetId: 'ds_half' });
    expect(await store.getDataset('ds_half')).toEqual(created);
    await expect(store.createDataset({ orgId: 'og_1', datasetId: 'ds_half' })).rejects.toMatchObject({
      code: 'E_USAGE',
      retryable: false,
    });
  });

  it("never receives outputs when it already exists as another org's dataset", async () => {
    const { store } = await freshStore();
    const datasetId = stableId('ds', 'outputs', 'iv_other');
    await store.createDataset({ orgId: 'og_other', datasetId });
    const target = new StoreOutputTarget(store, { invocationId: 'iv_other', attempt: 1 }, 't');
    const refused = target.ensureDataset(outputDataset(datasetId, 'og_mine'));
    await expect(refused).rejects.toMatchObject({ code: 'E_OUTPUT_REFUSED', retryable: false });
    await expect(refused).rejects.toThrow(/belongs to org og_other, not og_mine/);
    expect(await store.getDataset(datasetId)).toMatchObject({ org_id: 'og_other' });
  });
});
