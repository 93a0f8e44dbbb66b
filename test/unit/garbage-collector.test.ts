import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { collectGarbage, temporaryDirsOf } from '../../src/app/garbage-collector.js';
import { HelperPurpose, Labels, helperLabels } from '../../src/domain/container-labels.js';
import type { ContainerRuntime, LabelledContainer } from '../../src/ports/container-runtime.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const noContainers = { listLabelledContainers: () => Promise.resolve([]) } as unknown as ContainerRuntime;
const signal = new AbortController().signal;

describe('the sweep of what a crash leaves', () => {
  afterAll(removeTempDirs);

  it('removes temporary blobs and cache copies nobody has written to for an hour, and keeps younger ones', async () => {
    const dir = await tempDir('gc-tmp');
    const settings = { storeDir: path.join(dir, 'store'), cache: { dir: path.join(dir, 'cache') } };
    const [storeTmp, cacheTmp] = temporaryDirsOf(settings);
    // A store in use: its own files are never temporary files.
    const store = new LocalDataStore(settings.storeDir);
    const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
    await writeFile(path.join(dir, 'kept.txt'), 'kept');
    await store.putFiles(datasetId, [{ relativePath: 'kept.txt', sourcePath: path.join(dir, 'kept.txt') }], {
      writeKey: { invocationId: 'iv_1', attempt: 1 },
      origination: 'test',
      signal,
    });
    await mkdir(cacheTmp!, { recursive: true });
    const stale = [path.join(storeTmp!, 'blob.123.abcdef'), path.join(cacheTmp!, '123.abcdef')];
    const live = path.join(storeTmp!, 'blob.456.fedcba');
    for (const file of [...stale, live]) await writeFile(file, 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60_000);
    for (const file of stale) await utimes(file, twoHoursAgo, twoHoursAgo);

    const dry = await collectGarbage({
      runtime: noContainers,
      workspaceDir: path.join(dir, 'ws'),
      temporaryDirs: [storeTmp!, cacheTmp!],
      isLive: () => Promise.resolve(false),
      dryRun: true,
    });
    expect(dry.removedTemporaryFiles.sort()).toEqual([...stale].sort());
    expect(await readdir(storeTmp!)).toHaveLength(2);

    const report = await collectGarbage({
      runtime: noContainers,
      workspaceDir: path.join(dir, 'ws'),
      temporaryDirs: [storeTmp!, cacheTmp!],
      isLive: () => Promise.resolve(false),
    });
    expect(report.removedTemporaryFiles.sort()).toEqual([...stale].sort());
    expect(report.kept).toContainEqual({
      what: `temporary file ${live}`,
      why: 'it may still be being written',
    });
    expect(await readdir(storeTmp!)).toEqual(['blob.456.fedcba']);
    expect(await readdir(cacheTmp!)).toEqual([]);
    expect((await store.listFiles(datasetId)).map((file) => file.record.relative_path)).toEqual(['kept.txt']);
  });

  it('removes the secrets directories whose owner is gone, and keeps the live ones', async () => {
    const dir = await tempDir('gc-secrets');
    const owner = (pid: number, invocationId: string) =>
      JSON.stringify({ host: os.hostname(), pid, workerId: 'w', invocationId, attempt: 1 });
    for (const [name, pid] of [
      ['iv_dead-1', 1],
      ['iv_live-1', 2],
    ] as const) {
      await mkdir(path.join(dir, name));
      await writeFile(path.join(dir, name, 'secrets.json'), '{}');
      await writeFile(path.join(dir, `${name}.owner.json`), owner(pid, name.slice(0, -2)));
    }
    const report = await collectGarbage({
      runtime: noContainers,
      workspaceDir: path.join(dir, 'no-workspaces'),
      secretsDir: dir,
      isLive: (o) => Promise.resolve(o.pid === 2),
    });
    expect(report.removedSecrets).toEqual([path.join(dir, 'iv_dead-1')]);
    expect((await readdir(dir)).sort()).toEqual(['iv_live-1', 'iv_live-1.owner.json']);
  });

  it('judges a helper container by its attempt and owner, like the action container, and says it is a helper', async () => {
    const owner = (pid: number) => ({ host: os.hostname(), pid, workerId: 'w' });
    const helper = (invocationId: string, pid: number): LabelledContainer => ({
      id: invocationId,
      name: invocationId,
      labels: helperLabels(
        HelperPurpose.imageUser,
        { workerId: 'w', invocationId, attempt: 1, actionName: 'a' },
        owner(pid),
      ),
      isRunning: false,
    });
    const containers: LabelledContainer[] = [
      helper('iv_dead', 1),
      helper('iv_live', 2),
      // Managed, with owner marks, but no attempt: not provably anyone's, so kept.
      {
        id: 'unmarked',
        name: 'unmarked',
        labels: { [Labels.managed]: 'true', [Labels.ownerHost]: os.hostname(), [Labels.ownerPid]: '1' },
        isRunning: false,
      },
    ];
    const removed: string[] = [];
    const runtime = {
      listLabelledContainers: () => Promise.resolve(containers),
      removeContainer: (id: string) => {
        removed.push(id);
        return Promise.resolve();
      },
    } as unknown as ContainerRuntime;
    const report = await collectGarbage({
      runtime,
      workspaceDir: path.join(await tempDir('gc-helpers'), 'ws'),
      isLive: (o) => Promise.resolve(o.pid === 2),
    });
    expect(removed).toEqual(['iv_dead']);
    expect(report.removedContainers).toEqual([
      { id: 'iv_dead', name: 'iv_dead', invocationId: 'iv_dead', helper: HelperPurpose.imageUser },
    ]);
    expect(report.kept).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ what: 'container iv_live' }),
        { what: 'container unmarked', why: 'it carries no owner labels', foreign: true },
      ]),
    );
  });
});
