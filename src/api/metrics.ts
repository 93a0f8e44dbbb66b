import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The server's Prometheus metrics, on a registry of its own (the daemon's has its own). */
export function createApiMetrics(): {
  registry: Registry;
  observe: (labels: { route: string; method: string; status: number }, seconds: number) => void;
} {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'action_worker_api_requests_total',
    help: 'API requests answered, by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'action_worker_api_request_duration_seconds',
    help: 'Time from a request arriving to its answer, by route pattern and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    registry,
    observe: ({ route, method, status }, seconds) => {
      requests.inc({ route, method, status: String(status) });
      latency.observe({ route, method }, seconds);
    },
  };
}
