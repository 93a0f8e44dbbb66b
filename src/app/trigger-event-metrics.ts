import { Counter, Histogram, type Registry } from 'prom-client';
import type { TriggerEvent } from '../domain/trigger-event.js';

/** What serve's consumer of trigger events counts, registered on the API's /metrics registry. */
export interface TriggerEventMetrics {
  register(registry: Registry): void;
  handled(event: TriggerEvent, lagSeconds: number): void;
  failed(event: TriggerEvent | undefined, final: boolean): void;
}

export function createTriggerEventMetrics(): TriggerEventMetrics {
  const processed = new Counter({
    name: 'action_worker_trigger_events_processed_total',
    help: 'Trigger events handled, by cause',
    labelNames: ['cause'] as const,
    registers: [],
  });
  const failures = new Counter({
    name: 'action_worker_trigger_events_failed_total',
    help: 'Trigger event handlings that threw, by cause and whether it was the last attempt',
    labelNames: ['cause', 'final'] as const,
    registers: [],
  });
  const lag = new Histogram({
    name: 'action_worker_trigger_event_lag_seconds',
    help: 'Time from a change (the event occurred) to its event handled, by cause',
    labelNames: ['cause'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [],
  });
  return {
    register: (registry) => {
      registry.registerMetric(processed);
      registry.registerMetric(failures);
      registry.registerMetric(lag);
    },
    handled: (event, lagSeconds) => {
      processed.inc({ cause: event.cause });
      lag.observe({ cause: event.cause }, lagSeconds);
    },
    failed: (event, final) => {
      failures.inc({ cause: event?.cause ?? 'unknown', final: String(final) });
    },
  };
}
