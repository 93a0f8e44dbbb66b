import { stat } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { makeAction, removeTempDirs, runInProcess } from '../support/harness.js';

/** An action that writes sparse files (apparent size, no blocks) with busybox's truncate, and exits 0. */
async function sparseWriter(name: string, script: string): Promise<string> {
  return makeAction(
    name,
    { container_parameters: { entry_point: ['/bin/sh', '-c'], command: [script] } },
    [],
  );
}

// No network needed; and the machine's bridge must not be required for this.
const settings = { container: { networkMode: 'none' } } as const;

describe('sparse outputs', () => {
  afterAll(removeTempDirs);

  it('fails an action whose outputs add up to more than its storage, naming the size and the limit', async () => {
    // 30 GiB apparent, no blocks: past the 21 GiB default storage, though the workspace holds nothing.
    const actionDir = await sparseWriter(
      'sparse-huge',
      'truncate -s 30G "$ROBOTO_OUTPUT_DIR/huge.bin" && echo small > "$ROBOTO_OUTPUT_DIR/small.txt"',
    );
    const run = await runInProcess({ actionDir }, { settings });
    expect(run.result.outcome.status, run.stderr).toBe(998);
    expect(run.result.outcome.detail).toBe(
      'output failed: storage exceeded: the output files add up to 30.0 GiB, the limit is 21.0 GiB',
    );
    expect(run.result.outcome.failure).toMatchObject({ code: 'E_STORAGE_EXCEEDED', retryable: false });
    expect(run.result.outcome.uploaded).toEqual([]);
    const datasets = await run.store.listDatasets();
    for (const dataset of datasets) expect(await run.store.listFiles(dataset.dataset_id)).toEqual([]);
  });

  it('stores a sparse output within the storage without taking its apparent size on disk', async () => {
    const actionDir = await sparseWriter(
      'sparse-gig',
      'echo start > "$ROBOTO_OUTPUT_DIR/sparse.bin" && truncate -s 1G "$ROBOTO_OUTPUT_DIR/sparse.bin"',
    );
    const run = await runInProcess({ actionDir }, { settings });
    expect(run.result.outcome.status, run.stderr).toBe(5);
    const [record] = run.result.outcome.uploaded;
    expect(record?.size).toBe(1024 ** 3);
    const stored = await run.store.getFile(record!.file_id);
    const blob = await stat(await run.store.contentPath(stored!));
    expect(blob.size).toBe(1024 ** 3);
    expect(blob.blocks * 512).toBeLessThan(1024 ** 2);
  });
});
