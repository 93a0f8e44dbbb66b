import type { FastifyBaseLogger } from 'fastify';
import type { TriggerEvent } from '../domain/trigger-event.js';
import type { TriggerEventSink } from '../ports/trigger-events.js';

/**
 * Announces a committed change for trigger evaluation (issue 13), when the server has a sink (`run`'s own
 * API has none). The change is made and stays made: a sink that fails is logged, never the request's error.
 */
export async function announce(
  sink: TriggerEventSink | undefined,
  log: FastifyBaseLogger,
  event: TriggerEvent,
): Promise<void> {
  if (sink === undefined) return;
  try {
    await sink.emit(event);
  } catch (error) {
    log.error({ err: error, event_id: event.event_id, cause: event.cause }, 'trigger.event_lost');
  }
}

/** Whether two JSON-like values differ (key order of objects ignored). */
export function differs(a: unknown, b: unknown): boolean {
  return canonical(a) !== canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y)),
        )
      : v,
  );
}
