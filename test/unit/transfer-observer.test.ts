import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { importFolder } from '../../src/app/dataset-transfer.js';
import { transferProgress } from '../../src/cli/transfer-progress.js';
import { createLogger } from '../../src/observability/logger.js';
import type { ResolvedInput } from '../../src/ports/input-resolver.js';
import type { TransferDirection, TransferObserver } from '../../src/ports/transfer-observer.js';
import { FileCache } from '../../src/stages/file-cache.js';
import { applyOutputs } from '../../src/stages/output.js';
import { placeInputs } from '../../src/stages/setup.js';
import { StoreOutputTarget } from '../../src/stages/store-output-target.js';
import { createWorkspace } from '../../src/stages/workspace.js';
import { outputFixture } from '../support/output-fixture.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const MIB = 1024 * 1024;
const signal = new AbortController().signal;
const logger = createLogger('error', { pretty: false });

/** Sizes bigger than one copy chunk (4 MiB) and not a multiple of it, beside a small one. */
const FILES: Record<string, number> = { 'a.txt': 12, 'big.bin': 9 * MIB + 12_345, 'sub/c.bin': 4 * MIB };
const TOTAL_BYTES = Object.values(FILES).reduce((sum, size) => sum + size, 0);

/** Records what an observer is told. */
function recorder() {
  const planned: [TransferDirection, number][] = [];
  const moved: [TransferDirection, number][] = [];
  const observer: TransferObserver = {
    planned: (direction, totalBytes) => planned.push([direction, totalBytes]),
    moved: (direction, bytes) => moved.push([direction, bytes]),
  };
  const sum = (direction: TransferDirection) =>
    moved.filter(([d]) => d === direction).reduce((total, [, bytes]) => total + bytes, 0);
  return { observer, planned, moved, sum };
}

async function writeFiles(dir: string): Promise<void> {
  for (const [relativePath, size] of Object.entries(FILES)) {
    const target = path.join(dir, ...relativePath.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, randomBytes(size));
  }
}

describe('transfers reported from the store through the pipeline: bytes added, per direction', () => {
  afterAll(removeTempDirs);

  it('an import is an upload: its total first, then increments adding up to exactly it', async () => {
    const dir = await tempDir('transfers-import');
    await writeFiles(path.join(dir, 'folder'));
    const store = new LocalDataStore(path.join(dir, 'store'));
    const seen = recorder();
    await importFolder(store, path.join(dir, 'folder'), { orgId: 'og_1', signal, transfers: seen.observer });
    expect(seen.planned).toEqual([['upload', TOTAL_BYTES]]);
    expect(seen.sum('upload')).toBe(TOTAL_BYTES);
    expect(seen.sum('download')).toBe(0);
    // Increments, not a running total: none is bigger than the biggest file.
    expect(Math.max(...seen.moved.map(([, bytes]) => bytes))).toBeLessThanOrEqual(FILES['big.bin'] ?? 0);
    expect(seen.moved.length).toBeGreaterThan(Object.keys(FILES).length);
  });

  it('staging inputs is a download, the same bytes whether copied or found in the cache', async () => {
    const dir = await tempDir('transfers-inputs');
    await writeFiles(path.join(dir, 'folder'));
    const store = new LocalDataStore(path.join(dir, 'store'));
    const { dataset } = await importFolder(store, path.join(dir, 'folder'), { orgId: 'og_1', signal });
    const resolved: ResolvedInput = {
      files: await Promise.all(
        (await store.listFiles(dataset.dataset_id)).map(async (file) => ({
          record: file.record,
          sourcePath: await store.contentPath(file),
          sha256: file.sha256,
        })),
      ),
      topics: [],
    };
    const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
    for (const attempt of [1, 2]) {
      const layout = await createWorkspace(path.join(dir, 'ws'), 'iv_inputs', attempt, {
        host: 'h',
        pid: 1,
        workerId: 'w',
      });
      const seen = recorder();
      await placeInputs(resolved, layout, layout, true, cache, 'copy', signal, seen.observer);
      expect(seen.planned).toEqual([['download', TOTAL_BYTES]]);
      expect(seen.sum('download')).toBe(TOTAL_BYTES);
      expect(seen.sum('upload')).toBe(0);
    }
    expect(cache.stats).toMatchObject({ copies: 3, hits: 3 });
  });

  it('storing outputs is an upload of exactly their bytes', async () => {
    const { layout, store, plan } = await outputFixture('iv_transfers');
    await writeFiles(layout.outputDir);
    const seen = recorder();
    const result = await applyOutputs(
      plan,
      layout,
      { files: [], topics: [] },
      new StoreOutputTarget(store, { invocationId: plan.invocationId, attempt: plan.attempt }, 't'),
      logger,
      signal,
      { transfers: seen.observer },
    );
    expect(result.uploaded).toHaveLength(3);
    expect(seen.planned).toEqual([['upload', TOTAL_BYTES]]);
    expect(seen.sum('upload')).toBe(TOTAL_BYTES);
    expect(seen.sum('download')).toBe(0);
  });

  it('drives the CLI progress: one bar per planned transfer, counting only its direction', () => {
    const written: string[] = [];
    const stream = {
      isTTY: false,
      write: (text: string) => written.push(text) > 0,
    } as unknown as NodeJS.WriteStream;
    const progress = transferProgress(stream, MIB);
    const importing = progress.labelled('import');
    importing.planned?.('upload', 2 * MIB);
    progress.moved('download', MIB);
    importing.moved('upload', MIB);
    progress.moved('upload', MIB);
    progress.planned('download', 3 * MIB);
    progress.moved('download', 3 * MIB);
    expect(written).toHaveLength(3);
    expect(written[0]).toMatch(/^action-worker: import 1\/2 MiB/);
    expect(written[1]).toMatch(/^action-worker: import 2\/2 MiB/);
    expect(written[2]).toMatch(/^action-worker: download 3\/3 MiB/);
  });
});
