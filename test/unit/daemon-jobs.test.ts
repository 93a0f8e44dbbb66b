import { Writable } from 'node:stream';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/poll.js';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { StaticSecretStore } from '../../src/adapters/local/static-secret-store.js';
import { Daemon } from '../../src/app/daemon/daemon.js';
import { WorkerSettings, type WorkerSettingsInput } from '../../src/config/worker-settings.js';
import { newInvocationRequest } from '../../src/domain/invocation-request.js';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import { type FakeBehaviour, FakeContainerRuntime } from '../support/fake-container-runtime.js';
import { FakeJobQueue, FakeJobSource, type FakeLeasedJob } from '../support/fake-job-source.js';
import { MemoryInvocationStore } from '../support/memory-invocation-store.js';
import { removeTempDirs, tempDir, tmpfsTempDir } from '../support/temp-dirs.js';

const IMAGE = 'fake/action:1';

interface Rig {
  daemon: Daemon;
  runtime: FakeContainerRuntime;
  store: MemoryInvocationStore;
  source: FakeJobSource;
  /** The daemon's log lines, parsed. */
  lines: { msg: string; [key: string]: unknown }[];
  /** A new Queued invocation of the fake action, its job in the source. */
  enqueue: (overrides?: { vCPU: number; memory: number }) => Promise<string>;
}

const daemons: Daemon[] = [];

/** A daemon over fakes only: no Docker, no Redis. Settings as given, over small defaults for tests. */
async function rig(settings: WorkerSettingsInput = {}): Promise<Rig> {
  const dir = await tempDir('daemon-jobs');
  const parsed = WorkerSettings.parse({
    storeDir: path.join(dir, 'store'),
    cache: { dir: path.join(dir, 'cache') },
    secretsTmpfsDir: await tmpfsTempDir('daemon-jobs-secrets'),
    logs: { dir: path.join(dir, 'logs') },
    workspaceDir: path.join(dir, 'ws'),
    ...settings,
    container: { stopGraceMs: 300, ...settings.container },
    daemon: { lockDurationMs: 3_000, heartbeatIntervalMs: 200, fetchBlockMs: 1_000, ...settings.daemon },
  });
  const runtime = new FakeContainerRuntime([IMAGE]);
  const store = new MemoryInvocationStore();
  const source = new FakeJobSource(50);
  const lines: Rig['lines'] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line) lines.push(JSON.parse(line) as Rig['lines'][number]);
        callback();
      },
    }),
  );
  const daemon = new Daemon({
    settings: parsed,
    workerId: 'w_unit',
    runtime,
    store,
    queue: new FakeJobQueue(undefined, source),
    source,
    dataStore: new LocalDataStore(parsed.storeDir),
    secrets: new StaticSecretStore(new Map()),
    logger,
  });
  daemons.push(daemon);
  const enqueue = async (overrides?: { vCPU: number; memory: number }): Promise<string> => {
    const { record } = await store.create(
      newInvocationRequest({
        action: { image: IMAGE, config: { name: 'fake-action' } },
        org_id: 'og_1',
        ...(overrides ? { compute_requirement_overrides: overrides } : {}),
      }),
    );
    source.add(record.invocation_id);
    return record.invocation_id;
  };
  return { daemon, runtime, store, source, lines, enqueue };
}

/** Polls until `value` gives something other than undefined, with a deadline. */
/** The `index`-th job fetched for the invocation, once it has ended. */
function ended(source: FakeJobSource, invocationId: string, index = 0): Promise<FakeLeasedJob> {
  return eventually(
    () => {
      const job = source.leasesOf(invocationId)[index];
      return job?.ending === undefined ? undefined : job;
    },
    15_000,
    `job ${invocationId} #${index + 1} ended`,
    10,
  );
}

async function statusesOf(store: MemoryInvocationStore, invocationId: string): Promise<string[]> {
  const record = await store.get(invocationId);
  return (record?.status ?? []).map((entry) => statusName(entry.status));
}

afterEach(async () => {
  // A test that failed half-way leaves nothing running.
  for (const daemon of daemons.splice(0)) {
    if (daemon.state !== 'stopped') await daemon.shutdown().then(() => daemon.shutdown());
  }
});
afterAll(removeTempDirs);

// Fakes only, so each takes well under a second; the margin is for a loaded machine.
describe('Daemon over a fake job source, store and container runtime', { timeout: 30_000 }, () => {
  it('runs a fetched job to Completed and completes the job', async () => {
    const { daemon, runtime, store, source, enqueue } = await rig();
    runtime.scriptNext({ output: [{ stream: 'stdout', text: 'hello\n' }] });
    const invocationId = await enqueue();
    await daemon.start();
    expect(daemon.state).toBe('running');

    const job = await ended(source, invocationId);
    expect(job.attempt).toBe(1);
    expect(job.ending).toEqual({
      kind: 'complete',
      summary: expect.objectContaining({ status: 'Completed' }),
    });
    expect(job.isReleased).toBe(true);
    const record = await store.get(invocationId);
    expect(record?.last_status).toBe(InvocationStatus.Completed);
    expect(record?.is_finished).toBe(true);
    expect(record?.handbacks).toBe(0);
    expect(await store.getLog(invocationId)).toContain('hello');
    expect(runtime.liveContainers).toEqual([]);

    await daemon.shutdown();
    expect(daemon.state).toBe('stopped');
    expect(source.isClosed).toBe(true);
  });

  it('stores the log and the image before the final status: whoever sees Completed finds them', async () => {
    const { daemon, runtime, store, source, enqueue } = await rig();
    runtime.scriptNext({ output: [{ stream: 'stdout', text: 'before-the-end\n' }] });
    // What a client polling the record would read at the moment the final status lands.
    const seenAtFinal: { log: string; image: unknown }[] = [];
    const transition = store.transition.bind(store);
    store.transition = async (invocationId, to, detail, options) => {
      if (to === InvocationStatus.Completed) {
        seenAtFinal.push({
          log: await store.getLog(invocationId),
          image: (await store.get(invocationId))?.image,
        });
      }
      return transition(invocationId, to, detail, options);
    };
    const invocationId = await enqueue();
    await daemon.start();
    await ended(source, invocationId);
    expect(seenAtFinal).toEqual([
      {
        log: expect.stringContaining('before-the-end') as string,
        image: expect.objectContaining({ reference: IMAGE }),
      },
    ]);
  });

  it('is forced by a second shutdown: the running container is killed at once and its job handed back', async () => {
    // A container that ignores SIGTERM, with a grace no test would wait for, and a long drain window: only
    // the second shutdown can end it in time.
    const { daemon, runtime, store, source, lines, enqueue } = await rig({
      container: { stopGraceMs: 600_000 },
      daemon: { drainWindowMs: 600_000 },
    });
    runtime.scriptNext({ runMs: Infinity, ignores: ['SIGTERM'] } satisfies FakeBehaviour);
    const invocationId = await enqueue();
    await daemon.start();
    await runtime.started();

    const draining = daemon.shutdown();
    await eventually(() => daemon.state === 'draining' || undefined, 15_000, 'draining', 10);
    await daemon.shutdown();
    await draining;

    expect(daemon.state).toBe('stopped');
    expect(lines.map((line) => line.msg)).toContain('daemon.forced');
    expect(runtime.methods).toContain('kill SIGKILL');
    expect(runtime.liveContainers).toEqual([]);
    const job = await ended(source, invocationId);
    expect(job.ending).toEqual({ kind: 'hand-back' });
    const record = await store.get(invocationId);
    // Handed back unspent: back to Queued, counted as a hand-back, not finished.
    expect(record?.last_status).toBe(InvocationStatus.Queued);
    expect(record?.handbacks).toBe(1);
    expect(record?.is_finished).toBe(false);
  });

  it('fails an unreadable job for good, with the reason, and goes on with the next one', async () => {
    const { daemon, source, store, lines, enqueue } = await rig();
    source.add('iv_unreadable01', { unreadable: 'its data is not JSON (9 bytes)' });
    const good = await enqueue();
    await daemon.start();

    const rejected = await ended(source, 'iv_unreadable01');
    expect(rejected.ending).toEqual({ kind: 'fail', reason: 'rejected: its data is not JSON (9 bytes)' });
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'queue.job_rejected',
        jobId: 'iv_unreadable01',
        reason: 'its data is not JSON (9 bytes)',
      }),
    );
    const next = await ended(source, good);
    expect(next.ending).toEqual({
      kind: 'complete',
      summary: expect.objectContaining({ status: 'Completed' }),
    });
    expect((await store.get(good))?.last_status).toBe(InvocationStatus.Completed);
    // Failed for good: never fetched again.
    expect(source.leasesOf('iv_unreadable01')).toHaveLength(1);
    await daemon.shutdown();
  });

  it('hands back a job that fits the host but not beside what runs, without spending an attempt', async () => {
    // Room for one vCPU and 2 GiB: the first job takes all of it; the second (half of it) fits the host.
    const { daemon, runtime, store, source, lines, enqueue } = await rig({
      capacity: { vcpu: 1024, memoryMiB: 2048 },
      daemon: { concurrency: 2 },
    });
    runtime.scriptNext({ runMs: Infinity });
    const big = await enqueue({ vCPU: 1024, memory: 2048 });
    await daemon.start();
    await runtime.started();
    const small = await enqueue();

    const first = await ended(source, small);
    expect(first.ending).toEqual({ kind: 'hand-back' });
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'invocation.no_room_yet', invocationId: small }),
    );
    let record = await store.get(small);
    expect(record?.handbacks).toBe(1);
    expect(record?.last_status).toBe(InvocationStatus.Queued);
    // Nothing of it ran: only the first job's container was ever created.
    expect(runtime.calls.filter((call) => call.method === 'create')).toHaveLength(1);

    // Room given back (the big one is cancelled): it is fetched again and runs.
    await store.requestCancel(big);
    expect((await ended(source, big)).ending).toEqual({
      kind: 'complete',
      summary: expect.objectContaining({ status: 'Cancelled' }),
    });
    const second = await ended(source, small, 1);
    expect(second.attempt).toBe(2);
    expect(second.ending).toEqual({
      kind: 'complete',
      summary: expect.objectContaining({ status: 'Completed' }),
    });
    record = await store.get(small);
    // Two attempts started, one handed back: one spent.
    expect(record?.attempt).toBe(2);
    expect(record?.handbacks).toBe(1);
    expect(await statusesOf(store, small)).toEqual([
      'Queued',
      'Scheduled',
      'Downloading',
      'Processing',
      'Uploading',
      'Completed',
    ]);
    await daemon.shutdown();
  });
});
