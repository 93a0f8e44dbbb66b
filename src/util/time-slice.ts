import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/**
 * A budget for synchronous work between turns of the event loop. Thousands of tiny file calls (stat, link,
 * a small read or write) cost several times more sent one by one to the thread pool and back than made
 * synchronously; made synchronously a slice at a time, they never hold timers and I/O (lease renewals,
 * health checks) for longer than the slice.
 */
export class TimeSlice {
  private start = performance.now();

  /** @param ms How long synchronous work may hold the event loop at a time. */
  constructor(private readonly ms = 5) {}

  /** Lets timers and I/O in once the current slice is used up; call it before each piece of work. */
  async yieldIfDue(): Promise<void> {
    if (performance.now() - this.start < this.ms) return;
    await yieldToEventLoop();
    this.start = performance.now();
  }
}
