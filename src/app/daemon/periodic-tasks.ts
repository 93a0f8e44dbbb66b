import type { Logger } from 'pino';

/**
 * The daemon's timed tasks: each runs on its own unref'd timer, never twice at once, and a failure is
 * logged (`daemon.task_failed`) rather than thrown. All of them stop together.
 */
export class PeriodicTasks {
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly logger: Logger) {}

  /** Runs `task` every `ms`; a run still going when the next is due makes that one skip. */
  every(ms: number, task: () => Promise<void> | void): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void Promise.resolve()
        .then(task)
        .catch((error: unknown) => {
          this.logger.error({ err: error }, 'daemon.task_failed');
        })
        .finally(() => {
          busy = false;
        });
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Runs `task` once, in `ms`. */
  once(ms: number, task: () => Promise<void>): void {
    const timer = setTimeout(() => {
      task().catch((error: unknown) => {
        this.logger.error({ err: error }, 'daemon.task_failed');
      });
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  stopAll(): void {
    for (const timer of this.timers) clearInterval(timer);
  }
}
