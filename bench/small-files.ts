// Thousands of small files at disk speed (issue 14): a folder of many small files in nested folders and one
// big file, each operation side by side with `cp -r` of the same folder, in the same run.
// Usage: node --import tsx bench/small-files.ts [files] [big GiB] [runs|no-runs|bytes]
//   runs     everything, and a real `action-worker run` without and with the inputs (npm run bench:files:
//            3000 files, no big file: the folder store's records make 15,000 take several minutes)
//   no-runs  the same without `action-worker run`
//   bytes    only what moves bytes, with no record store: the blob store (as putFiles and import use it),
//            staging from its blobs, outputs collected and stored as blobs, the big file (npm run
//            bench:files:bytes: 15,000 files and 2 GiB in about a minute)
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BlobStore } from '../src/adapters/local/blob-store.js';
import { importFolder } from '../src/app/dataset-transfer.js';
import { openDataStore } from '../src/app/local-adapters.js';
import { workspaceLayout } from '../src/domain/workspace-layout.js';
import type { FileRecord } from '../src/domain/records.js';
import type { DataStore } from '../src/ports/data-store.js';
import type { ResolvedInput } from '../src/ports/input-resolver.js';
import { FileCache } from '../src/stages/file-cache.js';
import { collectOutputs } from '../src/stages/output.js';
import { placeInputs } from '../src/stages/setup.js';
import { StoreInputResolver } from '../src/stages/store-input-resolver.js';
import { StoreOutputTarget } from '../src/stages/store-output-target.js';
import { createLogger } from '../src/observability/logger.js';

const GIB = 1024 ** 3;
const KIB = 1024;
const fileCount = Number(process.argv[2] ?? 15_000);
const bigGiB = Number(process.argv[3] ?? 2);
const mode = process.argv[4] ?? 'runs';
if (!['runs', 'no-runs', 'bytes'].includes(mode))
  throw new Error(`unknown mode ${mode}: runs, no-runs or bytes`);
const signal = new AbortController().signal;
const repo = path.join(import.meta.dirname, '..');
/** The local busybox image with `true` as its command (as bench/cli-startup.ts builds it). */
const NOOP_IMAGE = 'action-worker/bench-noop:latest';

/**
 * A realistic mix of sizes, about 20 KiB on average: mostly a few KiB (per-message CSV rows, small JSON),
 * a quarter of frames of 16–48 KiB, one in twenty of 48–160 KiB.
 */
function sizeOf(index: number): number {
  const r = (index * 2654435761) % 100;
  const within = ((index * 40503) % 1000) / 1000;
  if (r < 70) return Math.floor(KIB + within * 15 * KIB);
  if (r < 95) return Math.floor(16 * KIB + within * 32 * KIB);
  return Math.floor(48 * KIB + within * 112 * KIB);
}

/** `count` files in 30 × 10 nested folders, distinct contents; returns the bytes written. */
async function makeSmallFiles(dir: string, count: number, seed: string): Promise<number> {
  const block = randomBytes(256 * KIB);
  let total = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const size = sizeOf(index);
      const folder = path.join(dir, `run-${index % 30}`, `topic-${Math.floor(index / 30) % 10}`);
      await mkdir(folder, { recursive: true });
      const head = Buffer.from(`${seed}-${index}-`);
      const offset = (index * 7919) % (block.length - size);
      const content = Buffer.concat([head, block.subarray(offset, offset + size - head.length)]);
      await writeFile(path.join(folder, `frame-${String(index).padStart(6, '0')}.bin`), content);
      total += content.length;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return total;
}

async function makeBigFile(file: string, gib: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const block = randomBytes(8 * 1024 * 1024);
  const handle = await open(file, 'w');
  try {
    for (let written = 0; written < gib * GIB; written += block.length) {
      block.writeUInt32LE(written / block.length, 0);
      await handle.write(block);
    }
  } finally {
    await handle.close();
  }
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const sync = () => execa('sync');

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'aw-bench-files-'));
  const rows: [string, number, number | null][] = [];
  const notes: string[] = [];
  const logger = createLogger('error', { pretty: false });
  // The store the CLI opens: the SQL store, its metadata in SQLite in the store directory.
  const openStore = (storeDir: string): Promise<DataStore> =>
    openDataStore({ storeDir, store: { database: null } });
  try {
    const small = path.join(root, 'small');
    const bytes = await makeSmallFiles(small, fileCount, 'in');
    const outputs = path.join(root, 'outputs');
    await makeSmallFiles(outputs, fileCount, 'out');
    await sync();
    const load = (await execa('uptime')).stdout.trim();
    console.log(
      `${fileCount} files, ${(bytes / 1024 ** 2).toFixed(0)} MiB; ${new Date().toISOString()}; ${load}`,
    );
    console.log(
      `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${Math.round(os.totalmem() / GIB)} GiB, node ${process.version}`,
    );

    // Baselines: the same folder copied, then copied and made durable (what the store's writes are).
    const cp = await timed(() => execa('cp', ['-r', small, path.join(root, 'cp')]));
    await rm(path.join(root, 'cp'), { recursive: true });
    await sync();
    const cpSync = await timed(() => execa('sh', ['-c', `cp -r "${small}" "${root}/cp" && sync`]));
    await rm(path.join(root, 'cp'), { recursive: true });
    await sync();
    rows.push(['cp -r of the folder (baseline)', cp, cp], ['cp -r && sync (durable baseline)', cpSync, cp]);

    // The bytes alone: every file into a fresh blob store, as putFiles does before any record.
    const blobs = new BlobStore(path.join(root, 'blobs'), path.join(root, 'blobs-tmp'));
    const sources = await listFiles(small);
    rows.push([
      'blob store: all files stored (copy + sha256 + durable)',
      await timed(() => blobs.putMany(sources, { signal })),
      cp,
    ]);
    await rm(path.join(root, 'blobs'), { recursive: true });
    await sync();

    const cache = new FileCache(path.join(root, 'cache'), 100 * GIB);
    const stage = async (label: string, input: ResolvedInput, baseline = cp): Promise<void> => {
      const layout = workspaceLayout(path.join(root, 'ws'));
      await mkdir(layout.inputDir, { recursive: true });
      const before = { ...cache.stats };
      rows.push([
        label,
        await timed(() => placeInputs(input, layout, layout, true, cache, 'link', signal)),
        baseline,
      ]);
      notes.push(
        `${label}: ${cache.stats.hits - before.hits} hits, ${cache.stats.copies - before.copies} copies`,
      );
      // Removing the workspace unlinks every hard link: the next staging must still hit.
      await rm(path.join(root, 'ws'), { recursive: true });
    };

    if (mode === 'bytes') {
      await bytesOnly(root, small, outputs, cp, rows, stage);
    } else {
      // `datasets import`, then again with nothing changed.
      const store = await openStore(path.join(root, 'store'));
      const imported = await timed(() => importFolder(store, small, { orgId: 'og_bench', signal }));
      rows.push(['`datasets import` of the folder (importFolder)', imported, cp]);
      const again = await timed(() => importFolder(store, small, { orgId: 'og_bench', signal }));
      rows.push(['re-import of the unchanged folder', again, cp]);
      await sync();

      // Staging the files into a workspace the way the pipeline does, from a cold then a warm cache.
      const { dataset } = await importFolder(store, small, { orgId: 'og_bench', signal });
      const resolve = (datasetId: string) =>
        new StoreInputResolver(store, logger).resolve(
          {
            files: [{ dataset_id: datasetId, paths: ['**/*'], query: null, ids: null, names: null }],
            topics: null,
          },
          'og_bench',
          signal,
        );
      const resolving = process.hrtime.bigint();
      const resolved = await resolve(dataset.dataset_id);
      notes.push(
        `resolving the ${resolved.files.length} inputs: ${(Number(process.hrtime.bigint() - resolving) / 1e9).toFixed(3)} s`,
      );
      await stage('staging the inputs, cold cache (placeInputs)', resolved);
      await stage('staging the inputs, warm cache (placeInputs, hard links)', resolved);

      // An action's outputs stored the way the output stage does: one walk, one upload of the list.
      await sync();
      const outputStore = await openStore(path.join(root, 'output-store'));
      const target = await outputStore.createDataset({ orgId: 'og_bench' });
      const storeTarget = new StoreOutputTarget(
        outputStore,
        { invocationId: 'iv_bench', attempt: 1 },
        'bench',
      );
      rows.push([
        'storing the outputs (collectOutputs + upload)',
        await timed(async () => {
          const collected = await collectOutputs(outputs);
          await storeTarget.upload(target.dataset_id, collected.files, { signal });
        }),
        cp,
      ]);

      let big: { datasetId: string; cp: number } | undefined;
      if (bigGiB > 0) {
        const bigDir = path.join(root, 'big');
        await makeBigFile(path.join(bigDir, 'recording.bag'), bigGiB);
        await sync();
        const bigCp = await timed(() => execa('cp', ['-r', bigDir, path.join(root, 'cp-big')]));
        await rm(path.join(root, 'cp-big'), { recursive: true });
        rows.push([`cp -r of one ${bigGiB} GiB file (baseline)`, bigCp, bigCp]);
        const { dataset: bigDataset } = await importFolder(store, bigDir, { orgId: 'og_bench', signal });
        const bigResolved = await resolve(bigDataset.dataset_id);
        await stage(`staging one ${bigGiB} GiB input, cold cache`, bigResolved, bigCp);
        await stage(`staging one ${bigGiB} GiB input, warm cache`, bigResolved, bigCp);
        big = { datasetId: bigDataset.dataset_id, cp: bigCp };
      }

      if (mode === 'runs') {
        await runs(root, path.join(root, 'store'), dataset.dataset_id, big?.datasetId, rows);
      }
    }

    console.log('\n| operation | seconds | × baseline |');
    console.log('|---|---|---|');
    for (const [name, seconds, baseline] of rows) {
      console.log(
        `| ${name} | ${seconds.toFixed(3)} | ${baseline === null ? '—' : (seconds / baseline).toFixed(2)} |`,
      );
    }
    for (const note of notes) console.log(`- ${note}`);
    console.log(`load at the end: ${(await execa('uptime')).stdout.trim()}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * The bytes paths alone, with no record store: the blob store as putFiles and import use it, staging from
 * its blobs (as the resolver would hand them over), the outputs collected and stored as blobs, and the big
 * file staged cold and warm.
 */
async function bytesOnly(
  root: string,
  small: string,
  outputs: string,
  cp: number,
  rows: [string, number, number | null][],
  stage: (label: string, input: ResolvedInput, baseline?: number) => Promise<void>,
): Promise<void> {
  const blobs = new BlobStore(path.join(root, 'blobs'), path.join(root, 'blobs-tmp'));
  const toInput = async (dir: string): Promise<ResolvedInput> => {
    const sources = await listFiles(dir);
    const stored = await blobs.putMany(sources, { signal });
    return {
      files: stored.map((blob, index) => ({
        record: {
          association_id: 'ds_bench',
          file_id: `fl_${index}`,
          relative_path: path.relative(dir, sources[index]?.sourcePath ?? ''),
          size: blob.sizeBytes,
        } as FileRecord,
        sourcePath: blob.path,
        sha256: blob.sha256,
      })),
      topics: [],
    };
  };
  const inputs = await toInput(small);
  await sync();
  await stage('staging the inputs, cold cache (placeInputs)', inputs);
  await stage('staging the inputs, warm cache (placeInputs, hard links)', inputs);
  await sync();
  rows.push([
    'storing the outputs as blobs (collectOutputs + putMany)',
    await timed(async () => {
      const collected = await collectOutputs(outputs);
      await blobs.putMany(
        collected.files.map((file) => ({ sourcePath: file.hostPath })),
        { signal },
      );
    }),
    cp,
  ]);
  if (bigGiB > 0) {
    const bigDir = path.join(root, 'big');
    await makeBigFile(path.join(bigDir, 'recording.bag'), bigGiB);
    await sync();
    const bigCp = await timed(() => execa('cp', ['-r', bigDir, path.join(root, 'cp-big')]));
    await rm(path.join(root, 'cp-big'), { recursive: true });
    await sync();
    rows.push([`cp -r of one ${bigGiB} GiB file (baseline)`, bigCp, bigCp]);
    let big: ResolvedInput | undefined;
    rows.push([
      `blob store: one ${bigGiB} GiB file stored`,
      await timed(async () => (big = await toInput(bigDir))),
      bigCp,
    ]);
    if (big !== undefined) {
      await stage(`staging one ${bigGiB} GiB input, cold cache`, big, bigCp);
      await stage(`staging one ${bigGiB} GiB input, warm cache`, big, bigCp);
    }
  }
}

/** Every regular file below `dir`, as blob sources. */
async function listFiles(dir: string): Promise<{ sourcePath: string }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => ({ sourcePath: path.join(entry.parentPath, entry.name) }));
}

/**
 * A real `action-worker run` of the no-op image (built dist/, as bench/cli-startup.ts runs it) with no
 * inputs, then with the imported folder as inputs from a cold then a warm cache (and the big file, warm).
 */
async function runs(
  root: string,
  storeDir: string,
  datasetId: string,
  bigDatasetId: string | undefined,
  rows: [string, number, number | null][],
): Promise<void> {
  await execa('npm', ['run', 'build'], { cwd: repo });
  await execa('docker', ['build', '--quiet', '--tag', NOOP_IMAGE, '-'], {
    input: 'FROM action-worker/busybox:latest\nCMD ["true"]\n',
  });
  const secrets = await mkdtemp(
    path.join(os.platform() === 'linux' ? '/dev/shm' : os.tmpdir(), 'aw-bench-files-'),
  );
  const env = {
    ...process.env,
    ACTION_WORKER_WORKSPACE_DIR: path.join(root, 'run-ws'),
    ACTION_WORKER_STORE_DIR: storeDir,
    ACTION_WORKER_CACHE_DIR: path.join(root, 'run-cache'),
    ACTION_WORKER_LOG_DIR: path.join(root, 'run-logs'),
    ACTION_WORKER_SECRETS_TMPFS_DIR: secrets,
    ACTION_WORKER_PULL_POLICY: 'never',
  };
  const bin = path.join(repo, 'bin', 'action-worker.js');
  const run = (extra: string[]) =>
    timed(() =>
      execa('node', [bin, 'run', '--image', NOOP_IMAGE, '--log-level', 'error', '--dry-run', ...extra], {
        env,
        stdout: 'ignore',
      }),
    );
  try {
    await run([]); // warm-up: module and image caches
    const none = await run([]);
    rows.push(['`action-worker run`, no inputs (baseline)', none, none]);
    rows.push([
      `\`action-worker run\`, ${fileCount} inputs, cold cache`,
      await run(['--dataset', datasetId]),
      none,
    ]);
    rows.push([
      `\`action-worker run\`, ${fileCount} inputs, warm cache`,
      await run(['--dataset', datasetId]),
      none,
    ]);
    if (bigDatasetId !== undefined) {
      await run(['--dataset', bigDatasetId]);
      rows.push([
        `\`action-worker run\`, one ${bigGiB} GiB input, warm cache`,
        await run(['--dataset', bigDatasetId]),
        none,
      ]);
    }
  } finally {
    await rm(secrets, { recursive: true, force: true });
  }
}

await main();
