import { stat, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { outputFixture } from '../support/output-fixture.js';
import { removeTempDirs } from '../support/temp-dirs.js';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  foldFileChangeset,
  foldFileChangesetInSlices,
  parseDatasetChangeset,
  parseDatasetChangesetInSlices,
} from '../../src/domain/file-changeset.js';
import { type MetadataChangeset, combineChangesets } from '../../src/domain/metadata-changeset.js';
import { textMasker } from '../../src/domain/secret-masker.js';
import { type OutputOptions, applyOutputs } from '../../src/stages/output.js';
import { StorageExceededError } from '../../src/stages/storage-guard.js';
import { StoreOutputTarget } from '../../src/stages/store-output-target.js';

const signal = new AbortController().signal;
const SECRET = 'tök3n-hunter2-päss';

/** A logger whose lines are kept, parsed. */
function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString().split('\n')) {
        if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

async function setUp(uploadTo: 'dataset' | 'none' = 'dataset') {
  const { layout, store, datasetId, plan } = await outputFixture('iv_limits', uploadTo);
  const { logger, lines } = capturingLogger();
  const collect = (options: OutputOptions = {}, attempt = 1) =>
    applyOutputs(
      { ...plan, attempt },
      layout,
      { files: [], topics: [] },
      new StoreOutputTarget(store, { invocationId: plan.invocationId, attempt }, 't'),
      logger,
      signal,
      options,
    );
  return { layout, store, datasetId, collect, lines };
}

const missingLines = (count: number): string =>
  Array.from(
    { length: count },
    (_, index) =>
      `${JSON.stringify({ relative_path: `missing/${index}.txt`, update: { metadata_changeset: { put_tags: ['t'] } } })}\n`,
  ).join('');

describe('the output stage, against an action that floods or overflows it', () => {
  afterAll(removeTempDirs);

  it('logs one summary, not a line per entry, for a changeset naming 100,000 missing files', async () => {
    const { layout, collect, lines } = await setUp();
    await writeFile(path.join(layout.outputDir, 'kept.txt'), 'k');
    await writeFile(layout.fileChangesetFile, missingLines(100_000));
    const result = await collect();
    expect(result.uploaded).toHaveLength(1);
    expect(lines.length).toBeLessThan(10);
    const summary = lines.find((line) => line.msg === 'output.file_changeset.no_such_output');
    expect(summary).toMatchObject({ count: 100_000 });
    expect(summary?.paths).toEqual([0, 1, 2, 3, 4].map((index) => `missing/${index}.txt`));
  });

  it('logs one line for thousands of refused outputs, naming the first few', async () => {
    const { layout, collect, lines } = await setUp();
    for (let index = 0; index < 2000; index += 1) {
      await symlink('/etc/passwd', path.join(layout.outputDir, `link-${String(index).padStart(4, '0')}`));
    }
    const result = await collect();
    expect(result.refused).toHaveLength(2000);
    const refusedLines = lines.filter((line) => line.msg === 'output.refused');
    expect(refusedLines).toHaveLength(1);
    expect(refusedLines[0]).toMatchObject({
      count: 2000,
      refused: [0, 1, 2, 3, 4].map((index) => ({
        relativePath: `link-000${index}`,
        reason: 'symbolic links are not uploaded',
      })),
    });
  });

  it('masks the paths of thousands of refused outputs without blocking the event loop', async () => {
    const { layout, collect, lines } = await setUp();
    const count = 3000;
    for (let index = 0; index < count; index += 1) {
      await symlink(
        '/etc/passwd',
        path.join(layout.outputDir, `${String(index).padStart(4, '0')}-${SECRET}`),
      );
    }
    // The most mask calls in one turn of the event loop: a million paths masked in one go blocked it for
    // seconds, lease renewals included.
    const mask = textMasker([SECRET]);
    let callsThisTurn = 0;
    let mostCallsInOneTurn = 0;
    let isDone = false;
    const countTurns = (): void => {
      callsThisTurn = 0;
      if (!isDone) setImmediate(countTurns);
    };
    setImmediate(countTurns);
    const result = await collect({
      mask: (text) => {
        callsThisTurn += 1;
        mostCallsInOneTurn = Math.max(mostCallsInOneTurn, callsThisTurn);
        return mask(text);
      },
    }).finally(() => {
      isDone = true;
    });
    expect(mostCallsInOneTurn).toBeLessThanOrEqual(1000);
    expect(result.refused).toHaveLength(count);
    expect(JSON.stringify(result.refused)).not.toContain(SECRET);
    expect(result.refused[count - 1]).toEqual({
      relativePath: `${count - 1}-***`,
      reason: 'symbolic links are not uploaded',
    });
    const refusedLine = lines.find((line) => line.msg === 'output.refused');
    expect(refusedLine).toMatchObject({ count });
    expect((refusedLine?.refused as { relativePath: string }[]).map((entry) => entry.relativePath)).toEqual(
      ['0000', '0001', '0002', '0003', '0004'].map((prefix) => `${prefix}-***`),
    );
    expect(JSON.stringify(lines)).not.toContain(SECRET);
  });

  it('lets timers run while it folds a large changeset', async () => {
    const text = missingLines(50_000);
    let isDone = false;
    let firedWhileFolding: boolean | undefined;
    setTimeout(() => {
      firedWhileFolding = !isDone;
    }, 0);
    const fold = await foldFileChangesetInSlices(text, () => yieldToEventLoop());
    isDone = true;
    expect(fold.ok).toBe(true);
    // The fold takes far longer than a millisecond: a timer due meanwhile has had its turn.
    expect(firedWhileFolding).toBe(true);
    expect(fold).toEqual(foldFileChangeset(text));
  });

  it('lets timers run while it parses a large dataset changeset of JSON Lines', async () => {
    const text = Array.from({ length: 20_000 }, (_, index) => `{"put_tags":["t${index}"]}\n`).join('');
    let isDone = false;
    let firedWhileParsing: boolean | undefined;
    setTimeout(() => {
      firedWhileParsing = !isDone;
    }, 0);
    const parsed = await parseDatasetChangesetInSlices(text, () => yieldToEventLoop());
    isDone = true;
    expect(firedWhileParsing).toBe(true);
    expect(parsed).toEqual(parseDatasetChangeset(text));
  });

  it('combines 50,000 changesets for one path, or for the dataset, in linear time', () => {
    // Combining pairwise copied the growing result every time: 10,000 lines took seconds, 50,000 minutes.
    const changesets = Array.from({ length: 50_000 }, (_, index) => ({
      put_tags: [`t${index}`],
      put_fields: { [`k${index % 100}`]: index },
      remove_tags: index % 7 === 0 ? [`t${index - 1}`] : null,
    }));
    const fileLines = changesets
      .map((changeset) =>
        JSON.stringify({ relative_path: 'a.txt', update: { metadata_changeset: changeset } }),
      )
      .join('\n');
    const fold = foldFileChangeset(fileLines);
    const dataset = parseDatasetChangeset(
      changesets.map((changeset) => JSON.stringify(changeset)).join('\n'),
    );
    // The same result as combining pairwise, checked on a prefix small enough for that.
    const full = (changeset: object): MetadataChangeset => ({
      put_tags: null,
      remove_tags: null,
      put_fields: null,
      remove_fields: null,
      replace_all: false,
      ...changeset,
    });
    const pairwise = changesets
      .slice(0, 300)
      .map(full)
      .reduce((a, b) => combineChangesets(a, b));
    expect(foldFileChangeset(fileLines.split('\n').slice(0, 300).join('\n'))).toEqual({
      ok: true,
      updates: new Map([['a.txt', { metadataChangeset: pairwise }]]),
    });
    expect(fold.ok && fold.updates.get('a.txt')?.metadataChangeset?.put_tags).toHaveLength(50_000);
    expect(dataset.ok && dataset.changeset?.put_fields).toEqual(
      Object.fromEntries(Array.from({ length: 100 }, (_, key) => [`k${key}`, 49_900 + key])),
    );
  }, 60_000);

  it('never puts the content of a malformed line, or a secret the action wrote, in a log line', async () => {
    const { layout, collect, lines } = await setUp();
    await writeFile(path.join(layout.outputDir, 'kept.txt'), 'k');
    await writeFile(path.join(layout.outputDir, `${SECRET}.txt`), 's');
    // A line that is not JSON, holding the secret (an action printing its config into the changeset).
    await writeFile(layout.fileChangesetFile, `{"relative_path": "kept.txt", "token": ${SECRET}}\n`);
    await writeFile(layout.datasetChangesetFile, `{"put_tags": ["${SECRET}"\n`);
    await collect({ mask: textMasker([SECRET]) });
    // A changeset that cannot apply names the field: the action's own key, here the secret's JSON escape.
    await writeFile(
      layout.fileChangesetFile,
      `${JSON.stringify({
        relative_path: 'kept.txt',
        update: { metadata_changeset: { put_fields: { a: 'x', [`a.${SECRET}`]: 1 } } },
      })}\n${JSON.stringify({ relative_path: `gone/${SECRET}`, update: {} })}\n`,
    );
    await writeFile(layout.datasetChangesetFile, '');
    await collect({ mask: textMasker([SECRET]) }, 2);
    const logged = lines.map((line) => JSON.stringify(line)).join('\n');
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining([
        'output.file_changeset.malformed',
        'output.dataset_changeset.malformed',
        'output.changeset.not_applicable',
        'output.file_changeset.no_such_output',
      ]),
    );
    expect(logged).toContain('***');
    expect(logged).not.toContain(SECRET);
    expect(logged).not.toContain(JSON.stringify(SECRET).slice(1, -1));
    expect(logged).not.toContain('tök3n');
  });

  it('refuses outputs whose apparent size is over the storage limit, naming both, before storing any', async () => {
    const { layout, store, datasetId, collect } = await setUp();
    await writeFile(path.join(layout.outputDir, 'small.txt'), 'k');
    // 3 GiB that take no blocks on disk.
    await writeFile(path.join(layout.outputDir, 'sparse.bin'), '');
    await truncate(path.join(layout.outputDir, 'sparse.bin'), 3 * 1024 ** 3);
    const refusal = collect({ storageLimitBytes: 2 * 1024 ** 3 });
    await expect(refusal).rejects.toBeInstanceOf(StorageExceededError);
    await expect(refusal).rejects.toMatchObject({
      code: 'E_STORAGE_EXCEEDED',
      retryable: false,
      message: 'storage exceeded: the output files add up to 3.0 GiB, the limit is 2.0 GiB',
    });
    expect(await store.listFiles(datasetId)).toEqual([]);
  });

  it('stores a sparse output within the limit without inflating it', async () => {
    const { layout, store, datasetId, collect } = await setUp();
    const sparse = path.join(layout.outputDir, 'sparse.bin');
    await writeFile(sparse, 'head');
    await truncate(sparse, 256 * 1024 ** 2);
    await writeFile(path.join(layout.outputDir, 'tail.bin'), Buffer.alloc(1));
    const result = await collect({ storageLimitBytes: 1024 ** 3 });
    expect(result.uploaded.map((record) => record.size)).toEqual([256 * 1024 ** 2, 1]);
    const stored = (await store.listFiles(datasetId)).find(
      (file) => file.record.relative_path === 'sparse.bin',
    );
    const blob = await stat(await store.contentPath(stored!));
    expect(blob.size).toBe(256 * 1024 ** 2);
    // A few blocks for "head", never the 256 MiB of zeros.
    expect(blob.blocks * 512).toBeLessThan(1024 ** 2);
  });

  it('puts outputs with nowhere to go in a new dataset, the same one for every attempt', async () => {
    const { layout, store, collect } = await setUp('none');
    await writeFile(path.join(layout.outputDir, 'report.csv'), 'a,b\n');
    const first = await collect();
    expect(first.isNewDataset).toBe(true);
    expect(first.uploadDatasetId).toMatch(/^ds_/);
    expect(first.uploaded.map((record) => record.association_id)).toEqual([first.uploadDatasetId]);
    const dataset = await store.getDataset(first.uploadDatasetId!);
    expect(dataset).toMatchObject({ org_id: 'og_1', name: 'a outputs' });
    const retried = await collect({}, 2);
    expect(retried.uploadDatasetId).toBe(first.uploadDatasetId);
    expect((await store.listFiles(first.uploadDatasetId!)).map((file) => file.record.relative_path)).toEqual([
      'report.csv',
    ]);
  });

  it('makes no dataset when there is nothing to store', async () => {
    const { store, collect } = await setUp('none');
    const before = (await store.listDatasets()).length;
    const result = await collect();
    expect(result).toMatchObject({ uploadDatasetId: null, isNewDataset: false, uploaded: [] });
    expect(await store.listDatasets()).toHaveLength(before);
  });
});
