// Staging a 2 GiB input set into a workspace (cold cache, warm cache by hard link, warm cache by copy) and
// storing a 2 GiB output set, side by side with `cp -r` of the same data, in the same run.
// Usage: node --import tsx bench/store-transfer.ts [GiB] [files] [rounds]
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { LocalDataStore } from '../src/adapters/local/local-data-store.js';
import { importFolder } from '../src/app/dataset-transfer.js';
import { workspaceLayout } from '../src/domain/workspace-layout.js';
import { FileCache } from '../src/stages/file-cache.js';
import { type InputStaging, placeInputs } from '../src/stages/setup.js';
import { StoreInputResolver } from '../src/stages/store-input-resolver.js';
import { createLogger } from '../src/observability/logger.js';

const GIB = 1024 ** 3;
const totalGiB = Number(process.argv[2] ?? 2);
const fileCount = Number(process.argv[3] ?? 16);
const rounds = Number(process.argv[4] ?? 3);
const signal = new AbortController().signal;

async function makeDataset(dir: string, seed: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const fileBytes = Math.floor((totalGiB * GIB) / fileCount);
  const block = randomBytes(8 * 1024 * 1024);
  for (let i = 0; i < fileCount; i += 1) {
    // Distinct content per file and per set (a prefix), without generating 2 GiB of randomness.
    const chunks: Buffer[] = [Buffer.from(`${seed}-${i}-`)];
    let size = chunks[0]!.length;
    while (size < fileBytes) {
      const part = block.subarray(0, Math.min(block.length, fileBytes - size));
      chunks.push(part);
      size += part.length;
    }
    await writeFile(path.join(dir, `part-${String(i).padStart(3, '0')}.bin`), Buffer.concat(chunks));
  }
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'aw-bench-'));
  try {
    const inputs = path.join(root, 'inputs');
    const outputs = path.join(root, 'outputs');
    await makeDataset(inputs, 'in');
    await makeDataset(outputs, 'out');
    const store = new LocalDataStore(path.join(root, 'store'));
    const logger = createLogger('error', { pretty: false });
    const hitsAndCopies: Record<string, [number, number]> = {};
    const results: Record<string, number[]> = {
      cp: [],
      cpSync: [],
      importInputs: [],
      stageCold: [],
      stageWarm: [],
      stageWarmCopy: [],
      storeOutputs: [],
    };

    for (let round = 0; round < rounds; round += 1) {
      const cpTarget = path.join(root, `cp-${round}`);
      results.cp!.push(await timed(() => execa('cp', ['-r', inputs, cpTarget])));
      await rm(cpTarget, { recursive: true, force: true });
      await execa('sync');
      // The same copy made durable, as the store's writes are.
      results.cpSync!.push(await timed(() => execa('sh', ['-c', `cp -r "${inputs}" "${cpTarget}" && sync`])));
      await rm(cpTarget, { recursive: true, force: true });
      await execa('sync');

      const importStore = new LocalDataStore(path.join(root, `import-store-${round}`));
      results.importInputs!.push(
        await timed(() => importFolder(importStore, inputs, { orgId: 'og_bench', signal })),
      );
      await rm(path.join(root, `import-store-${round}`), { recursive: true, force: true });

      const { dataset } = await importFolder(store, inputs, { orgId: 'og_bench', signal });
      const resolved = await new StoreInputResolver(store, logger).resolve(
        {
          files: [{ dataset_id: dataset.dataset_id, paths: ['**/*'], query: null, ids: null, names: null }],
          topics: null,
        },
        'og_bench',
        signal,
      );
      const cacheDir = path.join(root, `cache-${round}`);
      const cache = new FileCache(cacheDir, 100 * GIB);
      // The pipeline's own staging: placeInputs into a fresh workspace, hard links or copies.
      const stage = async (workspace: string, staging: InputStaging) => {
        const layout = workspaceLayout(workspace);
        await mkdir(layout.inputDir, { recursive: true });
        await placeInputs(resolved, layout, layout, true, cache, staging, signal);
      };
      const counted = async (name: keyof typeof results, workspace: string, staging: InputStaging) => {
        const before = { ...cache.stats };
        results[name]!.push(await timed(() => stage(path.join(root, workspace), staging)));
        const after = cache.stats;
        hitsAndCopies[name] = [after.hits - before.hits, after.copies - before.copies];
        // A removed workspace unlinks every hard link: the next run must still find the entries intact
        // (the old inode+ctime seal did not, and copied everything again).
        await rm(path.join(root, workspace), { recursive: true, force: true });
      };
      await execa('sync');
      await counted('stageCold', `ws-cold-${round}`, 'link');
      await counted('stageWarm', `ws-warm-${round}`, 'link');
      await counted('stageWarmCopy', `ws-copy-${round}`, 'copy');
      const entry = path.join(cacheDir, resolved.files[0]!.sha256!.slice(0, 2), resolved.files[0]!.sha256!);
      if ((await stat(entry)).nlink !== 1) throw new Error('a workspace link outlived its workspace');
      await rm(cacheDir, { recursive: true, force: true });

      await execa('sync');
      const outputStore = new LocalDataStore(path.join(root, `output-store-${round}`));
      const target = await outputStore.createDataset({ orgId: 'og_bench' });
      const files = (await import('node:fs/promises')).readdir(outputs);
      results.storeOutputs!.push(
        await timed(async () =>
          outputStore.putFiles(
            target.dataset_id,
            (await files).map((name) => ({ relativePath: name, sourcePath: path.join(outputs, name) })),
            { writeKey: { invocationId: `iv_bench_${round}`, attempt: 1 }, origination: 'bench', signal },
          ),
        ),
      );
      await rm(path.join(root, `output-store-${round}`), { recursive: true, force: true });
    }

    const cp = median(results.cp!);
    const cpSync = median(results.cpSync!);
    const rows = [
      ['cp -r of the input set (baseline)', cp],
      ['cp -r && sync (the durable baseline)', cpSync],
      ['import the input folder into the store (copy + sha256)', median(results.importInputs!)],
      ['stage inputs into a workspace, cold cache (copy + verify + hard link)', median(results.stageCold!)],
      ['stage inputs into a workspace, warm cache (hard links: non-root action)', median(results.stageWarm!)],
      [
        'stage inputs into a workspace, warm cache (private copies: root action or non-root worker)',
        median(results.stageWarmCopy!),
      ],
      ['store the output set in a dataset (copy + sha256 + records)', median(results.storeOutputs!)],
    ] as const;
    console.log(
      `${totalGiB} GiB in ${fileCount} files, median of ${rounds} rounds, ${new Date().toISOString()}`,
    );
    console.log(
      `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${Math.round(os.totalmem() / GIB)} GiB, node ${process.version}`,
    );
    console.log(
      `cache, last round (hits/copies): cold ${hitsAndCopies.stageCold?.join('/')}, ` +
        `warm ${hitsAndCopies.stageWarm?.join('/')}, warm copy ${hitsAndCopies.stageWarmCopy?.join('/')}`,
    );
    console.log('| operation | seconds | MiB/s | × cp -r | × cp -r && sync |');
    console.log('|---|---|---|---|---|');
    for (const [name, seconds] of rows) {
      const rate = (totalGiB * 1024) / seconds;
      console.log(
        `| ${name} | ${seconds.toFixed(3)} | ${seconds < 0.01 ? '—' : rate.toFixed(0)} | ${(seconds / cp).toFixed(2)} | ${(seconds / cpSync).toFixed(2)} |`,
      );
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
