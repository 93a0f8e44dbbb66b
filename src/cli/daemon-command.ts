import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { DockerContainerRuntime } from '../adapters/docker/docker-container-runtime.js';
import { DirectorySecretStore } from '../adapters/local/directory-secret-store.js';
import { LocalDataStore } from '../adapters/local/local-data-store.js';
import { Daemon } from '../app/daemon/daemon.js';
import { startHttpServer } from '../app/daemon/http-server.js';
import { cliSettings } from './settings.js';
import { UsageError } from '../domain/errors.js';
import { createLogger } from '../observability/logger.js';
import { CliExitCode } from './exit-codes.js';
import { openControlPlane } from './control-plane.js';

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
      const settings = cliSettings(flags);
      const logger = createLogger(options.logLevel);
      const runtime = new DockerContainerRuntime({ dockerConfigDir: settings.images.dockerConfigDir });
      const plane = openControlPlane(settings, {
        patience: 'wait',
        onError: (error) => {
          logger.warn({ err: error }, 'redis.connection_error');
        },
      });
      const daemon = new Daemon({
        settings,
        runtime,
        store: plane.store,
        queue: plane.queue,
        dataStore: new LocalDataStore(settings.storeDir),
        secrets: new DirectorySecretStore(settings.secretsDir),
        logger,
      });
      const http = await startHttpServer({
        host: settings.daemon.httpHost,
        port: settings.daemon.httpPort,
        registry: daemon.metrics.registry,
        checks: {
          redis: () => plane.queue.ping(),
          docker: () => runtime.ping(),
          fetching: () => daemon.isFetching(),
          draining: () => daemon.isStopping(),
        },
        logger,
      });
      logger.info({ port: http.port, host: http.address }, 'http.listening');

      let signals = 0;
      let stopped: Promise<void> | undefined;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals += 1;
        logger.warn({ signal, count: signals }, 'daemon.signal');
        if (signals >= 3) process.exit(CliExitCode.internal);
        if (signals === 1) stopped = daemon.shutdown();
        else void daemon.shutdown();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      try {
        await daemon.start();
        await new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (stopped !== undefined) {
              clearInterval(check);
              resolve();
            }
          }, 100);
        });
        await stopped;
      } finally {
        // Also when start-up failed: nothing is left open to keep the process alive.
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        await http.close();
        await plane.close();
      }
    });
}
