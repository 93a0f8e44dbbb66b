// Trigger latency and throughput (issue 13 "Tests and figures"): from a change to data (the file_upload
// event's `occurred`) to the triggered invocation's record existing in Queued, with 100 triggers in the
// org; and trigger evaluations per second over a burst of events.
//
// Everything is real: Redis under a private key prefix (deleted afterwards), `serve` in this process
// (startApiServer on 127.0.0.1, its trigger event consumer inside it, the default concurrency), the SQLite
// data store in a temporary directory. The org has one action and 100 triggers on file_upload: 99 whose
// required_inputs never match (each evaluated and skipped, no_matching_files) and 1 that matches every
// upload (`**/*.bag`, for_each dataset: one invocation per upload). Each upload one at a time is what
// `datasets import` does: a folder's files put through the data store (importFolder) with their
// file_upload event written into the store's outbox in the same transaction (its `occurred` is the
// commit), then handed on to the TriggerEventQueue by the import's own relay. The burst's events are
// emitted on the queue directly, all at once (it measures the evaluations, not the relay). Nobody consumes
// the invocation queue, so every triggered invocation stays Queued.
//
// The moment the record exists in Queued is taken in process: the evaluator's InvocationControl is wrapped,
// and the time is read when its submit (the record created Queued, then the job enqueued) resolves; each
// record's status is checked afterwards.
//
// Usage: node --import tsx bench/trigger-latency.ts [uploads one at a time] [events in the burst]
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { TriggerEventQueue } from '../src/adapters/bullmq/trigger-event-queue.js';
import { createActionFromFile, openActionStore } from '../src/app/actions.js';
import { startApiServer } from '../src/app/api-server.js';
import { ChangeRelay } from '../src/app/change-relay.js';
import { importFolder } from '../src/app/dataset-transfer.js';
import { invocationControl } from '../src/app/invocations.js';
import { openTenancyStore } from '../src/app/tenancy.js';
import { TriggerEvaluator, openTriggerEvaluationStore } from '../src/app/trigger-evaluator.js';
import { createTriggerFromFile, openTriggerStore } from '../src/app/triggers.js';
import { WorkerSettings } from '../src/config/worker-settings.js';
import { InvocationStatus } from '../src/domain/invocation-status.js';
import type { TriggerEvent } from '../src/domain/trigger-event.js';
import type { DataStore } from '../src/ports/data-store.js';

const uploads = Number(process.argv[2] ?? 200);
const burst = Number(process.argv[3] ?? 100);
const TRIGGERS = 100;
const redisUrl = process.env.ACTION_WORKER_REDIS_URL ?? 'redis://127.0.0.1:6379';
const keyPrefix = `action-worker-bench-triggers-${process.pid}-${Date.now()}`;

/** What the wrapped submit saw: when each dataset's invocation was Queued, and with what status. */
const queuedAt = new Map<string, { at: number; status: InvocationStatus }>();
const waiters = new Map<string, () => void>();
/** When the consumer started handling each event (its pickup from the event queue). */
const pickedAt = new Map<string, number>();
const seen = new Map<string, TriggerEvent>();
/** When each event's handling (all 100 evaluations) ended. */
const handledAt = new Map<string, number>();
const handledWaiters = new Map<string, () => void>();

function waitFor(map: Map<string, unknown>, waitMap: Map<string, () => void>, key: string): Promise<void> {
  if (map.has(key)) return Promise.resolve();
  return new Promise((resolve) => waitMap.set(key, resolve));
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-triggers-'));
  const settings = WorkerSettings.parse({
    storeDir: path.join(dir, 'store'),
    redis: { url: redisUrl, queue: 'bench-triggers', keyPrefix },
    api: { host: '127.0.0.1', port: 0 },
  });
  const logger = pino({ level: 'warn' });
  const evaluationStore = openTriggerEvaluationStore(settings);
  const registry = new Registry();
  let dataStore: DataStore | undefined;
  const api = await startApiServer(settings, {
    logger,
    triggerEventHandler: (backends) => {
      dataStore = backends.store;
      const control = invocationControl(backends.invocations, backends.queue);
      const evaluator = new TriggerEvaluator({
        triggers: backends.triggers,
        evaluations: evaluationStore,
        data: backends.store,
        invocations: backends.invocations,
        actions: backends.actions,
        control: {
          ...control,
          submit: async (request) => {
            const submitted = await control.submit(request);
            const key = request.data_source_id;
            queuedAt.set(key, { at: Date.now(), status: submitted.record.last_status });
            waiters.get(key)?.();
            return submitted;
          },
        },
        defaultTimeoutMinutes: settings.defaultTimeoutMinutes,
        logger: backends.logger,
        registry,
      });
      return {
        handle: async (event: TriggerEvent) => {
          pickedAt.set(event.event_id, Date.now());
          seen.set(event.event_id, event);
          await evaluator.handle(event);
          handledAt.set(event.event_id, Date.now());
          handledWaiters.get(event.event_id)?.();
        },
      };
    },
  });
  const events = new TriggerEventQueue(settings.redis);
  const tenancy = openTenancyStore(settings);
  const actions = openActionStore(settings);
  const triggers = openTriggerStore(settings);
  try {
    if (dataStore === undefined) throw new Error('serve did not make the trigger event handler');
    const store = dataStore;
    const org = await tenancy.createOrg({ name: 'bench-triggers' });
    const orgId = org.org_id;
    await createActionFromFile(actions, tenancy, {
      orgId,
      subject: 'bench action',
      text: JSON.stringify({
        name: 'tag-bags',
        image_uri: 'busybox:latest',
        container_parameters: { entry_point: ['sh', '-c'], command: ['true'] },
      }),
    });
    for (let i = 0; i < TRIGGERS; i += 1) {
      const matches = i === TRIGGERS - 1;
      await createTriggerFromFile(triggers, actions, tenancy, {
        orgId,
        subject: `trigger ${i}`,
        text: JSON.stringify({
          name: matches ? 'gather-bags' : `never-${i}`,
          action_name: 'tag-bags',
          required_inputs: matches ? ['**/*.bag'] : [`**/*.never-${i}`],
          for_each: 'dataset',
        }),
      });
    }

    let folderCount = 0;
    // The import's own relay, as `datasets import` runs one (serve's relay polls the same store too).
    const relay = new ChangeRelay(store, events, pino({ level: 'silent' }));
    /**
     * One upload as `datasets import` makes it: a new folder's files into the store; its event unsent (the
     * burst), or (`announce`) written into the outbox with the files, for the relay to hand on.
     */
    async function prepareUpload(announce = false): Promise<TriggerEvent> {
      folderCount += 1;
      const folder = path.join(dir, 'uploads', `drive-${folderCount}`);
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, 'drive.bag'), `bag ${folderCount}`);
      await writeFile(path.join(folder, 'notes.txt'), `notes ${folderCount}`);
      const imported = await importFolder(store, folder, {
        orgId,
        signal: AbortSignal.timeout(60_000),
        announce,
      });
      return {
        event_id: imported.importId,
        org_id: orgId,
        dataset_id: imported.dataset.dataset_id,
        cause: 'file_upload',
        transaction_id: imported.importId,
        file_ids: imported.changed.map((file) => file.file_id),
        source_invocation_id: null,
        occurred: '',
      };
    }
    async function emit(event: TriggerEvent): Promise<TriggerEvent> {
      const sent = { ...event, occurred: new Date().toISOString() };
      await events.emit(sent);
      return sent;
    }
    const latencyOf = (event: TriggerEvent): number =>
      (queuedAt.get(event.dataset_id)?.at ?? Number.NaN) - Date.parse(event.occurred);

    /** One upload through the outbox: stored with its event, handed on, evaluated; the event as handled. */
    async function uploadThroughOutbox(): Promise<TriggerEvent> {
      const stored = await prepareUpload(true);
      await relay.drain();
      await waitFor(handledAt, handledWaiters, stored.event_id);
      const handled = seen.get(stored.event_id);
      if (handled === undefined) throw new Error(`event ${stored.event_id} was not handled`);
      return handled;
    }

    // Warm-up: a few uploads not counted (JIT, connections, SQLite caches).
    for (let i = 0; i < 5; i += 1) await uploadThroughOutbox();

    // 1. One upload at a time: stored with its event, handed on by the relay, evaluated until Queued.
    const single: number[] = [];
    const sentOne: TriggerEvent[] = [];
    for (let i = 0; i < uploads; i += 1) {
      const sent = await uploadThroughOutbox();
      await waitFor(queuedAt, waiters, sent.dataset_id);
      single.push(latencyOf(sent));
      sentOne.push(sent);
    }

    // 2. A burst: `burst` uploads stored first, their events emitted all at once.
    const prepared: TriggerEvent[] = [];
    for (let i = 0; i < burst; i += 1) prepared.push(await prepareUpload());
    const start = Date.now();
    const sentBurst = await Promise.all(prepared.map((event) => emit(event)));
    await Promise.all(sentBurst.map((event) => waitFor(handledAt, handledWaiters, event.event_id)));
    const end = Math.max(...sentBurst.map((event) => handledAt.get(event.event_id) ?? Number.NaN));
    const burstSeconds = (end - start) / 1000;
    const burstLatencies = sentBurst.map(latencyOf);

    // Every triggered invocation was written Queued, one per upload, and the evaluations are counted.
    const notQueued = [...sentOne, ...sentBurst].filter(
      (event) => queuedAt.get(event.dataset_id)?.status !== InvocationStatus.Queued,
    );
    if (notQueued.length > 0) throw new Error(`${notQueued.length} uploads without a Queued invocation`);
    const counted = (await registry.getSingleMetric('action_worker_trigger_evaluations_total')?.get())
      ?.values;
    const byOutcome = new Map<string, number>();
    for (const value of counted ?? []) {
      const key = `${String(value.labels.outcome)}/${String(value.labels.reason ?? '')}`;
      byOutcome.set(key, (byOutcome.get(key) ?? 0) + value.value);
    }

    const rows: [string, string][] = [];
    const describe = (name: string, values: number[]): void => {
      const sorted = [...values].sort((a, b) => a - b);
      rows.push([
        `${name}: p50 / p99 / max (ms)`,
        `${percentile(sorted, 50)} / ${percentile(sorted, 99)} / ${sorted.at(-1)}`,
      ]);
    };
    describe(`upload → Queued, one at a time (${uploads} uploads)`, single);
    describe(
      'of which commit → relay → consumer picked the event up, one at a time',
      sentOne.map((event) => (pickedAt.get(event.event_id) ?? Number.NaN) - Date.parse(event.occurred)),
    );
    describe(
      'of which picked up → Queued (the evaluations), one at a time',
      sentOne.map(
        (event) =>
          (queuedAt.get(event.dataset_id)?.at ?? Number.NaN) - (pickedAt.get(event.event_id) ?? Number.NaN),
      ),
    );
    describe(`upload → Queued, in a burst of ${burst}`, burstLatencies);
    rows.push([
      `evaluations per second, burst (${burst} events × ${TRIGGERS} triggers)`,
      `${Math.round((burst * TRIGGERS) / burstSeconds)} (${burstSeconds.toFixed(2)} s)`,
    ]);
    rows.push([
      'evaluations ended, by outcome/reason',
      [...byOutcome].map(([k, v]) => `${k}: ${v}`).join(', '),
    ]);
    const p99 = percentile(
      [...single].sort((a, b) => a - b),
      99,
    );
    rows.push(['target p99 < 100 ms (one at a time)', p99 < 100 ? `met (${p99} ms)` : `missed (${p99} ms)`]);
    rows.push([
      'load average (1/5/15 min) at the end',
      os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' / '),
    ]);
    rows.push(['serve trigger consumer concurrency', String(settings.triggers.concurrency)]);
    const width = Math.max(...rows.map(([name]) => name.length));
    console.log(`| ${'measure'.padEnd(width)} | value |`);
    console.log(`| ${'-'.repeat(width)} | ----- |`);
    for (const [name, value] of rows) console.log(`| ${name.padEnd(width)} | ${value} |`);
  } finally {
    await events.close();
    await api.stop();
    await Promise.allSettled([tenancy.close(), actions.close(), triggers.close(), evaluationStore.close()]);
    const redis = new Redis(redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(
  `trigger latency bench: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')} at the start, ${new Date().toISOString()}`,
);
await main();
