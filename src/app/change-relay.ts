import type { Logger } from 'pino';
import type { DataStore } from '../ports/data-store.js';
import type { ChangeNotifier, TriggerEventSink } from '../ports/trigger-events.js';

export interface ChangeRelayOptions {
  /** How often the outbox is looked at without being told of a change (events of other processes, of a crash). */
  pollMs?: number;
  /** Events claimed at once. */
  batch?: number;
  /** A claim's lease: an event claimed and not settled (a relay that died) is claimed again after it. */
  leaseMs?: number;
}

/**
 * Hands the events of committed changes from the data store's outbox to the trigger event queue (issue 13):
 * the store wrote each event in its change's transaction, so a change that committed has its event even if
 * its process died the next instant; any relay over the same store (every `serve` and daemon runs one)
 * hands it on. An event is deleted from the outbox only once the queue has it; the queue deduplicates by
 * event id, so an event handed on twice (two relays, a lease run out mid-emit) is one evaluation.
 */
export class ChangeRelay implements ChangeNotifier {
  private readonly pollMs: number;
  private readonly batch: number;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private again = false;
  private closed = false;
  /** Why the last drain left events in the outbox (the queue or the store failed); undefined: it did not. */
  lastFailure: unknown = undefined;

  constructor(
    private readonly store: Pick<
      DataStore,
      'claimOutboxEvents' | 'settleOutboxEvents' | 'releaseOutboxEvents'
    >,
    private readonly sink: TriggerEventSink,
    private readonly logger: Logger,
    options: ChangeRelayOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 1_000;
    this.batch = options.batch ?? 100;
    this.leaseMs = options.leaseMs ?? 30_000;
  }

  /** Looks at the outbox every `pollMs` from now on (and once now) until closed. */
  start(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.changed();
    }, this.pollMs);
    this.timer.unref();
    this.changed();
  }

  /** A change with an announcement committed: its event is handed on now (after a drain under way). */
  changed(): void {
    if (this.closed) return;
    void this.drain().catch(() => undefined);
  }

  /**
   * Hands on every event in the outbox, a batch at a time, until it is empty or the queue fails (the rest
   * waits for the next drain). One drain at a time: asked again meanwhile, it runs once more afterwards.
   * Resolves to how many events it handed on.
   */
  drain(): Promise<number> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    const run = (async () => {
      let total = await this.drainOnce();
      while (this.askedAgain() && !this.closed) total += await this.drainOnce();
      return total;
    })();
    this.running = run;
    void run.finally(() => {
      if (this.running === run) this.running = undefined;
    });
    return run;
  }

  /** Stops polling and waits for a drain under way; what is left stays in the outbox for another relay. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Whether a drain was asked for while one ran (and forgets it). */
  private askedAgain(): boolean {
    const asked = this.again;
    this.again = false;
    return asked;
  }

  private async drainOnce(): Promise<number> {
    this.lastFailure = undefined;
    let total = 0;
    for (;;) {
      let claimed;
      try {
        claimed = await this.store.claimOutboxEvents(this.batch, this.leaseMs);
      } catch (error) {
        this.lastFailure = error;
        this.logger.warn({ err: error }, 'trigger.outbox_unreadable');
        return total;
      }
      if (claimed.length === 0) return total;
      const outcomes = await Promise.allSettled(claimed.map(({ event }) => this.sink.emit(event)));
      const handedOn = claimed.filter((_entry, i) => outcomes[i]?.status === 'fulfilled');
      if (handedOn.length > 0) {
        await this.store.settleOutboxEvents(handedOn.map((entry) => entry.seq)).catch((error: unknown) => {
          // Handed on but still in the outbox: handed on again after the lease, and deduplicated then.
          this.logger.warn({ err: error }, 'trigger.outbox_unsettled');
        });
      }
      for (const { event } of handedOn) {
        this.logger.debug({ event_id: event.event_id, cause: event.cause }, 'trigger.event_emitted');
      }
      total += handedOn.length;
      const failure = outcomes.find((outcome) => outcome.status === 'rejected');
      if (failure !== undefined) {
        this.lastFailure = failure.reason;
        // Given back, for the next drain of any relay (else they would wait for the lease to run out).
        const unsent = claimed.filter((_entry, i) => outcomes[i]?.status === 'rejected');
        await this.store.releaseOutboxEvents(unsent.map((entry) => entry.seq)).catch(() => undefined);
        this.logger.warn(
          { err: failure.reason, pending: claimed.length - handedOn.length },
          'trigger.event_delayed',
        );
        return total;
      }
      if (claimed.length < this.batch) return total;
    }
  }
}
