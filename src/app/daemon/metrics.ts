import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { InvocationStatus, type StatusRecord, statusName } from '../../domain/invocation-status.js';

const STAGES: [from: InvocationStatus, to: InvocationStatus | 'end', stage: string][] = [
  [InvocationStatus.Scheduled, InvocationStatus.Processing, 'setup'],
  [InvocationStatus.Processing, InvocationStatus.Uploading, 'run'],
  [InvocationStatus.Uploading, 'end', 'output'],
];

/** The daemon's Prometheus metrics, on their own registry. */
export class DaemonMetrics {
  readonly registry = new Registry();
  readonly invocations: Counter<'status' | 'reason'>;
  readonly stageSeconds: Histogram<'stage'>;
  readonly queueToStartSeconds: Histogram<'until'>;
  readonly bytes: Counter<'direction'>;
  readonly leaseLost: Counter;
  readonly watchdogRestarts: Counter;
  readonly fetches: Counter<'result'>;

  constructor(collect: {
    running: () => number;
    capacity: () => { slots: number; vcpu: number; memoryMiB: number };
    queueDepth: () => Promise<Record<string, number>>;
  }) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry, prefix: 'action_worker_' });
    this.invocations = new Counter({
      name: 'action_worker_invocations_total',
      help: 'Attempts finished by this worker, by resulting status and failure reason',
      labelNames: ['status', 'reason'],
      registers: [registry],
    });
    this.stageSeconds = new Histogram({
      name: 'action_worker_stage_duration_seconds',
      help: 'Time spent in each stage of an attempt',
      labelNames: ['stage'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400],
      registers: [registry],
    });
    this.queueToStartSeconds = new Histogram({
      name: 'action_worker_queue_to_start_seconds',
      help: 'From enqueue to pickup (until="pickup") and to the container starting (until="container")',
      labelNames: ['until'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    });
    this.bytes = new Counter({
      name: 'action_worker_transfer_bytes_total',
      help: 'Bytes staged for actions (download) and stored from them (upload)',
      labelNames: ['direction'],
      registers: [registry],
    });
    this.leaseLost = new Counter({
      name: 'action_worker_lease_lost_total',
      help: 'Attempts fenced off because their lease was lost',
      registers: [registry],
    });
    this.watchdogRestarts = new Counter({
      name: 'action_worker_watchdog_restarts_total',
      help: 'Times the fetch watchdog recreated a worker that had stopped fetching',
      registers: [registry],
    });
    this.fetches = new Counter({
      name: 'action_worker_fetches_total',
      help: 'Fetches from the queue, by result',
      labelNames: ['result'],
      registers: [registry],
    });
    new Gauge({
      name: 'action_worker_running_invocations',
      help: 'Invocations running on this worker (each has at most one container)',
      registers: [registry],
      collect() {
        this.set(collect.running());
      },
    });
    new Gauge({
      name: 'action_worker_capacity_used',
      help: 'Capacity in use: slots, vcpu (1024 = one vCPU) and memory_mib',
      labelNames: ['resource'],
      registers: [registry],
      collect() {
        const used = collect.capacity();
        this.set({ resource: 'slots' }, used.slots);
        this.set({ resource: 'vcpu' }, used.vcpu);
        this.set({ resource: 'memory_mib' }, used.memoryMiB);
      },
    });
    new Gauge({
      name: 'action_worker_queue_jobs',
      help: 'Jobs in the queue, by state (shared by every worker of the queue)',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        for (const [state, count] of Object.entries(await collect.queueDepth())) this.set({ state }, count);
      },
    });
  }

  /** One finished attempt: its outcome, and its stage durations from the status history. */
  recordAttempt(
    status: InvocationStatus,
    reason: string | undefined,
    history: readonly StatusRecord[],
  ): void {
    this.invocations.inc({ status: statusName(status), reason: reason ?? '' });
    const at = (wanted: InvocationStatus): number | undefined => {
      const entry = history.find((record) => record.status === wanted);
      return entry === undefined ? undefined : Date.parse(entry.timestamp);
    };
    const endAt = history.length > 0 ? Date.parse(history[history.length - 1]?.timestamp ?? '') : undefined;
    for (const [from, to, stage] of STAGES) {
      const start = at(from);
      const end = to === 'end' ? endAt : at(to);
      if (start !== undefined && end !== undefined && end >= start) {
        this.stageSeconds.observe({ stage }, (end - start) / 1000);
      }
    }
  }
}
