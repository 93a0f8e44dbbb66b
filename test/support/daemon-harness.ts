import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ResultPromise, execa } from 'execa';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { InvocationQueue, recordPrefix, redisOptions } from '../../src/adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import type { InvocationRecord } from '../../src/ports/invocation-store.js';
import { BASE_IMAGE, projectRoot } from './paths.js';
import { eventually, removeTempDirs, tempDir, tmpfsTempDir } from './harness.js';

const cliPath = path.join(projectRoot, 'bin', 'action-worker.js');
export const TEST_REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export interface LogLine {
  msg: string;
  level: number;
  [key: string]: unknown;
}

/** A daemon process of the built CLI, its JSON log lines collected as they come. */
export class DaemonProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<{ exitCode: number | undefined; signal: string | undefined }>;
  private partial = '';

  constructor(readonly child: ResultPromise) {
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = this.partial + chunk.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ msg: 'raw', level: 30, text: line });
        }
      }
    });
    this.exited = child.then(
      (result) => ({ exitCode: result.exitCode, signal: result.signal }),
      (error: unknown) => {
        const failed = error as { exitCode?: number; signal?: string };
        return { exitCode: failed.exitCode, signal: failed.signal };
      },
    );
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  async waitForLog(
    msg: string,
    predicate: (line: LogLine) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<LogLine> {
    return await eventually(
      () => Promise.resolve(this.lines.find((line) => line.msg === msg && predicate(line))),
      timeoutMs,
      `daemon log "${msg}"`,
    );
  }

  async port(): Promise<number> {
    return Number((await this.waitForLog('http.listening')).port);
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  dump(): string {
    return this.lines.map((line) => JSON.stringify(line)).join('\n');
  }
}

/**
 * One test's own queue, key prefix and directories on the shared redis-server and dockerd; fast lease,
 * stall and fetch timings so lost workers are found out in seconds.
 */
export class TestQueue {
  readonly daemons: DaemonProcess[] = [];
  private readonly opened: { close: () => Promise<void> }[] = [];

  private constructor(readonly env: Record<string, string>) {}

  static async create(overrides: Record<string, string> = {}): Promise<TestQueue> {
    const id = `t${process.pid}x${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    return new TestQueue({
      ACTION_WORKER_REDIS_URL: TEST_REDIS_URL,
      ACTION_WORKER_QUEUE: `q-${id}`,
      ACTION_WORKER_KEY_PREFIX: `awtest-${id}`,
      ACTION_WORKER_STORE_DIR: await tempDir('d-store'),
      ACTION_WORKER_WORKSPACE_DIR: await tempDir('d-ws'),
      ACTION_WORKER_CACHE_DIR: await tempDir('d-cache'),
      ACTION_WORKER_LOG_DIR: await tempDir('d-logs'),
      ACTION_WORKER_SECRETS_TMPFS_DIR: await tmpfsTempDir('d-secrets'),
      ACTION_WORKER_HTTP_PORT: '0',
      ACTION_WORKER_HTTP_HOST: '127.0.0.1',
      ACTION_WORKER_LOCK_DURATION: '4s',
      ACTION_WORKER_STALLED_INTERVAL: '1s',
      ACTION_WORKER_HEARTBEAT_INTERVAL: '1s',
      ACTION_WORKER_FETCH_BLOCK: '1s',
      ACTION_WORKER_RETRY_BACKOFF: '200ms',
      ACTION_WORKER_STOP_GRACE: '2s',
      ...overrides,
    });
  }

  startDaemon(env: Record<string, string> = {}, args: string[] = []): DaemonProcess {
    const daemon = new DaemonProcess(
      execa('node', [cliPath, 'daemon', ...args], {
        cwd: projectRoot,
        env: { ...this.env, ...env },
        extendEnv: true,
        reject: false,
        stdout: 'ignore',
        // Signals are the test's to send: no SIGKILL behind a SIGTERM.
        forceKillAfterDelay: false,
      }),
    );
    this.daemons.push(daemon);
    return daemon;
  }

  async cli(args: string[], env: Record<string, string> = {}) {
    return await execa('node', [cliPath, ...args], {
      cwd: projectRoot,
      env: { ...this.env, ...env },
      extendEnv: true,
      reject: false,
      timeout: 120_000,
    });
  }

  /** `invoke`, returning the invocation id. */
  async invoke(args: string[]): Promise<string> {
    const result = await this.cli(['invoke', ...args]);
    if (result.exitCode !== 0) throw new Error(`invoke failed (${result.exitCode}): ${result.stderr}`);
    return result.stdout.trim();
  }

  store(): RedisInvocationStore {
    const location = this.location();
    const store = new RedisInvocationStore({
      redis: redisOptions(location.url),
      prefix: recordPrefix(location),
    });
    this.opened.push(store);
    return store;
  }

  queue(): InvocationQueue {
    const queue = new InvocationQueue(this.location());
    this.opened.push(queue);
    return queue;
  }

  location(): { url: string; queue: string; keyPrefix: string } {
    return {
      url: this.env.ACTION_WORKER_REDIS_URL ?? TEST_REDIS_URL,
      queue: this.env.ACTION_WORKER_QUEUE ?? '',
      keyPrefix: this.env.ACTION_WORKER_KEY_PREFIX ?? '',
    };
  }

  async waitFinished(invocationId: string, timeoutMs = 60_000): Promise<InvocationRecord> {
    const store = this.store();
    return await eventually(
      async () => {
        const record = await store.get(invocationId);
        return record?.is_finished ? record : undefined;
      },
      timeoutMs,
      `invocation ${invocationId} to finish`,
    );
  }

  async waitStatus(invocationId: string, statusName: number, timeoutMs = 60_000): Promise<InvocationRecord> {
    const store = this.store();
    return await eventually(
      async () => {
        const record = await store.get(invocationId);
        return record?.last_status === statusName ? record : undefined;
      },
      timeoutMs,
      `invocation ${invocationId} to reach status ${statusName}`,
    );
  }

  /** Stops every daemon (SIGKILL if SIGTERM is not enough), closes connections, deletes this test's keys. */
  async cleanup(): Promise<void> {
    for (const daemon of this.daemons) {
      daemon.kill('SIGTERM');
      const done = await Promise.race([
        daemon.exited.then(() => true),
        new Promise((r) =>
          setTimeout(() => {
            r(false);
          }, 20_000),
        ),
      ]);
      if (!done) daemon.kill('SIGKILL');
      await daemon.exited;
    }
    for (const each of this.opened.splice(0)) await each.close().catch(() => undefined);
    // A Redis that is away (a failed test left it down) fails this within seconds instead of hanging.
    const redis = new Redis(this.location().url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
    const keys = await redis.keys(`${this.location().keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
}

/** An action directory running the base image with a shell script (no build: invoke needs an image). */
export async function shellAction(
  name: string,
  script: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const dir = await tempDir(`action-${name}`);
  await writeFile(
    path.join(dir, 'action.json'),
    JSON.stringify({
      name,
      image_uri: BASE_IMAGE,
      container_parameters: { entry_point: ['sh', '-c'], command: [script] },
      ...extra,
    }),
  );
  return dir;
}

/**
 * A TestQueue for the enclosing describe block: made before its tests, cleaned up after them (daemons
 * stopped, keys deleted, temporary directories removed). Call the result to get it.
 */
export function useTestQueue(overrides: Record<string, string> = {}): () => TestQueue {
  let queue: TestQueue | undefined;
  beforeAll(async () => {
    queue = await TestQueue.create(overrides);
  });
  afterAll(async () => {
    try {
      await queue?.cleanup();
    } finally {
      await removeTempDirs();
    }
  });
  return () => {
    if (queue === undefined) throw new Error('the test queue is made before the tests run');
    return queue;
  };
}
