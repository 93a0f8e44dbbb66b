import type { Logger } from 'pino';
import type { TriggerEvent } from '../domain/trigger-event.js';
import type { TriggerEventSink } from '../ports/trigger-events.js';
import { TIMED_OUT, withTimeout } from '../util/with-timeout.js';

export interface AfterChangeEmitterOptions {
  /** How long the change's caller waits for the event to be durable before going on without it. */
  boundMs?: number;
  /** Attempts of the inner emit that fail outright (an error, not a wait). */
  attempts?: number;
  /** The wait after the first failed attempt; doubled after each. */
  backoffMs?: number;
}

/**
 * Emits the event of a change that is already committed: the change never fails because of its event.
 * Retries a failing emit a few times; the caller waits at most `boundMs` (normally the event is durable by
 * then), after which the emit goes on in the background — the queue's connection holds it until Redis is
 * back. The window: a change committed while Redis is away, in a process that ends before Redis comes back,
 * has no event (logged as `trigger.event_lost` when the attempts run out; a later change of the same data
 * evaluates its triggers again).
 */
export class AfterChangeEmitter implements TriggerEventSink {
  private readonly boundMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(
    private readonly inner: TriggerEventSink,
    private readonly logger: Logger,
    options: AfterChangeEmitterOptions = {},
  ) {
    this.boundMs = options.boundMs ?? 5_000;
    this.attempts = options.attempts ?? 3;
    this.backoffMs = options.backoffMs ?? 200;
  }

  async emit(event: TriggerEvent): Promise<void> {
    const about = {
      event_id: event.event_id,
      cause: event.cause,
      org_id: event.org_id,
      dataset_id: event.dataset_id,
    };
    const trying = this.tryEmit(event).then(
      () => true,
      (error: unknown) => {
        this.logger.error({ err: error, ...about }, 'trigger.event_lost');
        return false;
      },
    );
    const outcome = await withTimeout(trying, this.boundMs);
    if (outcome === TIMED_OUT) this.logger.warn({ ...about, boundMs: this.boundMs }, 'trigger.event_delayed');
    else if (outcome) this.logger.debug(about, 'trigger.event_emitted');
  }

  private async tryEmit(event: TriggerEvent): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.inner.emit(event);
        return;
      } catch (error) {
        if (attempt >= this.attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.backoffMs * 2 ** (attempt - 1)));
      }
    }
  }
}
