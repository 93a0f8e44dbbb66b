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

/**
 * Told that a change with an announcement has committed (its event is in the store's outbox), so that the
 * event is handed on now rather than at the relay's next poll. Whoever holds one announces its changes.
 */
export interface ChangeNotifier {
  changed(): void;
}
