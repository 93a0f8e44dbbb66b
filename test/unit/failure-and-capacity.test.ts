import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { ComputeRequirements, assertFitsCapacity } from '../../src/domain/compute-requirements.js';
import { failureReasonFor, isRetryable } from '../../src/domain/failure.js';
import { StorageExceededError, directorySize, watchWorkspaceSize } from '../../src/stages/storage-guard.js';

describe('failure taxonomy', () => {
  it('retries infrastructure trouble and never the action or its input', () => {
    for (const code of ['E_DOCKER', 'E_IO', 'E_IMAGE_PULL', 'E_WORKER_SHUTDOWN', 'E_LEASE_LOST'] as const) {
      expect(isRetryable(failureReasonFor(code))).toBe(true);
    }
    for (const code of [
      'E_ACTION_EXIT',
      'E_OOM',
      'E_TIMEOUT',
      'E_IMAGE_NOT_FOUND',
      'E_IMAGE_UNAUTHORIZED',
      'E_INVALID_PARAMETER',
      'E_USAGE',
      'E_CANCELLED',
    ] as const) {
      expect(isRetryable(failureReasonFor(code))).toBe(false);
    }
    expect(failureReasonFor('E_INVALID_ACTION_CONFIG')).toBe('bad_input');
  });
});

describe('assertFitsCapacity', () => {
  const capacity = { vcpu: 2048, memoryMiB: 4096 };

  it('accepts what fits and refuses what never can, saying why', () => {
    expect(() => {
      assertFitsCapacity(ComputeRequirements.parse({ vCPU: 2048, memory: 4096 }), capacity);
    }).not.toThrow();
    expect(() => {
      assertFitsCapacity(ComputeRequirements.parse({ vCPU: 4096, memory: 8192 }), capacity);
    }).toThrow(/needs 4 vCPU \(this host offers 2\) and 8192 MiB of memory \(this host offers 4096 MiB\)/);
  });
});

describe('the workspace storage guard', () => {
  afterAll(removeTempDirs);

  it('measures files below a directory without following links', async () => {
    const dir = await tempDir('size');
    await mkdir(path.join(dir, 'a', 'b'), { recursive: true });
    await writeFile(path.join(dir, 'a', 'one'), Buffer.alloc(1000));
    await writeFile(path.join(dir, 'a', 'b', 'two'), Buffer.alloc(24));
    expect(await directorySize(dir)).toBe(1024);
  });

  it('reports once when the workspace grows past the limit', async () => {
    const dir = await tempDir('guard');
    const reports: StorageExceededError[] = [];
    const stop = watchWorkspaceSize(dir, 500, 20, (error) => reports.push(error));
    await writeFile(path.join(dir, 'big'), Buffer.alloc(1000));
    const deadline = Date.now() + 5_000;
    while (reports.length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    // Five more intervals with the workspace still too big: a second report would have come by now.
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop();
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({
      code: 'E_STORAGE_EXCEEDED',
      usedBytes: 1000,
      limitBytes: 500,
      retryable: false,
    });
  });
});
