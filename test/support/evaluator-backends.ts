import { pino } from 'pino';
import { Registry } from 'prom-client';
import { InvocationQueue } from '../../src/adapters/bullmq/invocation-queue.js';
import type { RedisActionStore } from '../../src/adapters/redis/redis-action-store.js';
import { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import type { RedisTriggerEvaluationStore } from '../../src/adapters/redis/redis-trigger-evaluation-store.js';
import type { RedisTriggerStore } from '../../src/adapters/redis/redis-trigger-store.js';
import { openActionStore } from '../../src/app/actions.js';
import { redisStoreOptions } from '../../src/app/control-plane.js';
import { invocationControl } from '../../src/app/invocations.js';
import { openDataStore } from '../../src/app/local-adapters.js';
import { TriggerEvaluator, openTriggerEvaluationStore } from '../../src/app/trigger-evaluator.js';
import { openTriggerStore } from '../../src/app/triggers.js';
import type { WorkerSettings } from '../../src/config/worker-settings.js';
import type { DataStore } from '../../src/ports/data-store.js';
import type { InvocationControl } from '../../src/ports/invocation-control.js';

/** The stores a trigger evaluator works on, opened as serve opens them, and an evaluator on them. */
export interface EvaluatorBackends {
  data: DataStore;
  invocations: RedisInvocationStore;
  queue: InvocationQueue;
  actions: RedisActionStore;
  triggers: RedisTriggerStore;
  evaluations: RedisTriggerEvaluationStore;
  /** The evaluator's metrics. */
  registry: Registry;
  evaluator: TriggerEvaluator;
  /** Another evaluator on the same stores submitting through `control` (its own metrics registry). */
  evaluatorWith(control: InvocationControl): TriggerEvaluator;
  /** Closes every store (the Redis keys are the caller's to delete). */
  close(): Promise<void>;
}

export async function openEvaluatorBackends(
  settings: WorkerSettings,
  options: { defaultTimeoutMinutes?: number } = {},
): Promise<EvaluatorBackends> {
  const data = await openDataStore(settings);
  const invocations = new RedisInvocationStore(redisStoreOptions(settings));
  const queue = new InvocationQueue(settings.redis);
  const actions = openActionStore(settings);
  const triggers = openTriggerStore(settings);
  const evaluations = openTriggerEvaluationStore(settings);
  const evaluatorWith = (control: InvocationControl, registry = new Registry()) =>
    new TriggerEvaluator({
      triggers,
      evaluations,
      data,
      invocations,
      actions,
      control,
      defaultTimeoutMinutes: options.defaultTimeoutMinutes ?? settings.defaultTimeoutMinutes,
      logger: pino({ level: 'silent' }),
      registry,
    });
  const registry = new Registry();
  return {
    data,
    invocations,
    queue,
    actions,
    triggers,
    evaluations,
    registry,
    evaluator: evaluatorWith(invocationControl(invocations, queue), registry),
    evaluatorWith: (control) => evaluatorWith(control),
    close: async () => {
      await Promise.allSettled([
        data.close(),
        invocations.close(),
        queue.close(),
        actions.close(),
        triggers.close(),
        evaluations.close(),
      ]);
    },
  };
}
