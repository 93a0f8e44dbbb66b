import type { TriggerEvent } from '../domain/trigger-event.js';

/**
 * Where changes to data are announced for trigger evaluation: durably (once `emit` resolves, a crash does
 * not lose the event) and deduplicated by `event_id` (emitting the same event again is a no-op).
 */
export interface TriggerEventSink {
  emit(event: TriggerEvent): Promise<void>;
}

/**
 * What processes an event: evaluates the org's triggers against it. Called at least once per event (again
 * after a crash or a failure), so it must be idempotent by `event_id`; it throws to have the event retried.
 */
export interface TriggerEventHandler {
  handle(event: TriggerEvent): Promise<void>;
}
