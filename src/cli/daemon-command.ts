import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { cliSettings } from './settings.js';
import { UsageError } from '../domain/errors.js';
import { CliExitCode } from './exit-codes.js';

export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description(
      'Take invocations from the queue and run them, until SIGTERM (drain) or a second signal (force).',
    )
    .option('--concurrency <N>', 'invocations at once, at most (default: ACTION_WORKER_CONCURRENCY, else 2)')
    .addOption(
      new Option('--log-level <LEVEL>', 'worker log level')
        .choices(['error', 'warn', 'info', 'debug'] as const)
        .default('info' as const),
    )
    .action(async (options) => {
      let flags: Record<string, unknown> | undefined;
      if (options.concurrency !== undefined) {
        const concurrency = Number(options.concurrency);
        if (!Number.isInteger(concurrency) || concurrency <= 0) {
          throw new UsageError(`--concurrency "${options.concurrency}" must be a positive whole number`);
        }
        flags = { daemon: { concurrency } };
      }
      const settings = await cliSettings(flags);
      // The queue, Redis and Docker clients are loaded only when the daemon starts.
      const [{ composeDaemon }, { installSignalLadder }, { createLogger }] = await Promise.all([
        import('../app/daemon/compose-daemon.js'),
        import('../app/signal-ladder.js'),
        import('../observability/logger.js'),
      ]);
      const logger = createLogger(options.logLevel);
      const { daemon, close } = await composeDaemon(settings, logger);

      let stopped: Promise<void> | undefined;
      let onStopRequested: () => void = () => undefined;
      const stopRequested = new Promise<void>((resolve) => {
        onStopRequested = resolve;
      });
      const uninstall = installSignalLadder(process, {
        onSignal: (signal, count) => {
          logger.warn({ signal, count }, 'daemon.signal');
        },
        // First: drain. Second: stop the running actions now (the daemon's own ladder). Third: leave.
        graceful: () => {
          stopped = daemon.shutdown();
          onStopRequested();
        },
        force: () => void daemon.shutdown(),
        exit: () => process.exit(CliExitCode.internal),
      });
      try {
        await daemon.start();
        await stopRequested;
        await stopped;
      } finally {
        // Also when start-up failed: nothing is left open to keep the process alive.
        uninstall();
        await close();
      }
    });
}
