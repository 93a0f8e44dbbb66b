// No-op invocations through the daemon, side by side in one run with a plain `docker run --rm` loop of the
// same image (the physical limit on this host), at concurrency 1, 2 and 4; and the pickup latency of an
// idle worker. Usage: node --import tsx bench/daemon-throughput.ts [invocations per level] [idle samples]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { InvocationQueue, recordPrefix, redisOptions } from '../src/adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../src/adapters/redis/redis-invocation-store.js';
import { submitInvocation } from '../src/app/invocations.js';
import { InvocationRequest } from '../src/domain/invocation-request.js';
import { InvocationStatus } from '../src/domain/invocation-status.js';

const IMAGE = 'action-worker/busybox:latest';
const perLevel = Number(process.argv[2] ?? 40);
const idleSamples = Number(process.argv[3] ?? 20);
const levels = [1, 2, 4];
const cli = path.join(import.meta.dirname, '..', 'bin', 'action-worker.js');
const redisUrl = process.env.ACTION_WORKER_REDIS_URL ?? 'redis://127.0.0.1:6379';

const request = InvocationRequest.parse({
  action: {
    image: IMAGE,
    config: { name: 'noop', container_parameters: { entry_point: ['true'] } },
  },
  org_id: 'og_bench',
});

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const percentile = (values: number[], p: number): number =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))] ?? NaN;

/** `count` runs of `docker run --rm IMAGE true`, `concurrency` at a time. */
async function dockerRunLoop(count: number, concurrency: number): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        await execa('docker', ['run', '--rm', '--entrypoint', 'true', IMAGE]);
      }
    }),
  );
  return seconds(start);
}

interface Daemon {
  store: RedisInvocationStore;
  queue: InvocationQueue;
  /** CPU seconds (user + system) the daemon process has used so far. */
  cpuSeconds: () => Promise<number>;
  stop: () => Promise<void>;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const CLOCK_TICKS = Number((await execa('getconf', ['CLK_TCK'])).stdout.trim()) || 100;

/** utime + stime of a process, from /proc/PID/stat (fields 14 and 15, after the command's parentheses). */
async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function startDaemon(concurrency: number, dir: string): Promise<Daemon> {
  const id = `bench-${process.pid}-${concurrency}-${Date.now().toString(36)}`;
  const location = { url: redisUrl, queue: id, keyPrefix: id };
  const child = execa('node', [cli, 'daemon', '--concurrency', String(concurrency), '--log-level', 'warn'], {
    env: {
      ACTION_WORKER_REDIS_URL: redisUrl,
      ACTION_WORKER_QUEUE: id,
      ACTION_WORKER_KEY_PREFIX: id,
      ACTION_WORKER_HTTP_PORT: '0',
      ACTION_WORKER_WORKSPACE_DIR: path.join(dir, 'ws'),
      ACTION_WORKER_STORE_DIR: path.join(dir, 'store'),
      ACTION_WORKER_CACHE_DIR: path.join(dir, 'cache'),
      ACTION_WORKER_CAPACITY_VCPU: String(concurrency * 512),
    },
    reject: false,
    stdout: 'ignore',
    stderr: 'inherit',
    forceKillAfterDelay: false,
  });
  const store = new RedisInvocationStore({ redis: redisOptions(redisUrl), prefix: recordPrefix(location) });
  const queue = new InvocationQueue(location);
  // Ready once a first invocation has gone through (the daemon is up and fetching).
  await runBatch(store, queue, 1);
  const pid = child.pid;
  if (pid === undefined) throw new Error('the daemon did not start');
  return {
    store,
    queue,
    cpuSeconds: () => processCpuSeconds(pid),
    stop: async () => {
      child.kill('SIGTERM');
      await child;
      await store.close();
      await queue.close();
      const redis = new Redis(redisUrl);
      const keys = await redis.keys(`${id}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  };
}

/** Submits `count` invocations at once and waits for all to finish; seconds from first submit to last end. */
async function runBatch(store: RedisInvocationStore, queue: InvocationQueue, count: number): Promise<number> {
  const start = process.hrtime.bigint();
  const ids = await Promise.all(
    Array.from(
      { length: count },
      async () => (await submitInvocation(store, queue, request)).record.invocation_id,
    ),
  );
  const pending = new Set(ids);
  while (pending.size > 0) {
    for (const id of [...pending]) {
      const record = await store.get(id);
      if (record?.is_finished) {
        if (record.last_status !== InvocationStatus.Completed) throw new Error(`${id} did not complete`);
        pending.delete(id);
      }
    }
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return seconds(start);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aw-bench-'));
  try {
    await dockerRunLoop(2, 1); // warm the engine
    const rows: string[] = [];
    for (const concurrency of levels) {
      const daemon = await startDaemon(concurrency, dir);
      try {
        // Alternate the two, so drift in the machine's speed lands on both.
        // The daemon's own CPU is counted over its batches only (it idles in a blocking fetch meanwhile).
        const dockerSeconds = (await dockerRunLoop(perLevel / 2, concurrency)) + 0;
        const cpuBeforeFirst = await daemon.cpuSeconds();
        const daemonFirst = await runBatch(daemon.store, daemon.queue, perLevel / 2);
        const cpuFirst = (await daemon.cpuSeconds()) - cpuBeforeFirst;
        const dockerSecond = await dockerRunLoop(perLevel / 2, concurrency);
        const cpuBeforeSecond = await daemon.cpuSeconds();
        const daemonSecond = await runBatch(daemon.store, daemon.queue, perLevel / 2);
        const cpuSecond = (await daemon.cpuSeconds()) - cpuBeforeSecond;
        const plain = (dockerSeconds + dockerSecond) / perLevel;
        const ours = (daemonFirst + daemonSecond) / perLevel;
        const cpuMs = ((cpuFirst + cpuSecond) / perLevel) * 1000;
        rows.push(
          `| ${concurrency} | ${plain.toFixed(3)} | ${(60 / plain).toFixed(0)} | ${ours.toFixed(3)} | ${(60 / ours).toFixed(0)} | ${(ours / plain).toFixed(2)} | ${cpuMs.toFixed(0)} |`,
        );
        console.error(rows[rows.length - 1]);
      } finally {
        await daemon.stop();
      }
    }

    // Idle pickup: one invocation at a time on an idle worker.
    const daemon = await startDaemon(1, dir);
    const pickup: number[] = [];
    const toContainer: number[] = [];
    try {
      for (let i = 0; i < idleSamples; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const { record } = await submitInvocation(daemon.store, daemon.queue, request);
        await runUntilFinished(daemon.store, record.invocation_id);
        const job = await daemon.queue.queue.getJob(record.invocation_id);
        const finished = await daemon.store.get(record.invocation_id);
        if (job?.processedOn !== undefined) pickup.push(job.processedOn - job.timestamp);
        const processing = finished?.status.find((entry) => entry.status === InvocationStatus.Processing);
        if (processing) toContainer.push(Date.parse(processing.timestamp) - Date.parse(record.created));
      }
    } finally {
      await daemon.stop();
    }
    console.log(`\n${perLevel} no-op invocations per level; seconds are wall time per invocation\n`);
    console.log(
      '| concurrency | docker run --rm s | per min | daemon s | per min | × docker run | daemon CPU ms/invocation |',
    );
    console.log(
      '| ----------- | ----------------- | ------- | -------- | ------- | ------------ | ------------------------ |',
    );
    for (const row of rows) console.log(row);
    console.log(
      `\nidle pickup (enqueue → job active), ${idleSamples} samples: median ${median(pickup)} ms, p95 ${percentile(pickup, 0.95)} ms`,
    );
    console.log(
      `enqueue → Processing (container about to start): median ${median(toContainer)} ms, p95 ${percentile(toContainer, 0.95)} ms`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runUntilFinished(store: RedisInvocationStore, id: string): Promise<void> {
  for (;;) {
    if ((await store.get(id))?.is_finished) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

await main();
process.exit(0);
