import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { UsageError } from '../domain/errors.js';
import { CliExitCode } from './exit-codes.js';
import { cliSettings } from './settings.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'Serve the Roboto-compatible HTTP API until SIGTERM/SIGINT (requests in flight finish within the grace).',
    )
    .option('--host <H>', 'address to listen on (default: api.host, 127.0.0.1)')
    .option('--port <P>', 'port to listen on, 0 for any free one (default: api.port, 8080)')
    .addOption(
      new Option('--log-level <LEVEL>', 'server log level')
        .choices(['error', 'warn', 'info', 'debug'] as const)
        .default('info' as const),
    )
    .action(async (options) => {
      const api: Record<string, unknown> = {};
      if (options.host !== undefined) api.host = options.host;
      if (options.port !== undefined) {
        const port = Number(options.port);
        if (!/^\d+$/.test(options.port) || port > 65_535) {
          throw new UsageError(`--port "${options.port}" must be a whole number from 0 to 65535`);
        }
        api.port = port;
      }
      const settings = await cliSettings(Object.keys(api).length > 0 ? { api } : undefined);
      // Fastify, the store and Redis are loaded only when the server starts.
      const [{ serveApi }, { createLogger }] = await Promise.all([
        import('../app/api-server.js'),
        import('../observability/logger.js'),
      ]);
      await serveApi(settings, {
        logger: createLogger(options.logLevel),
        signals: process,
        exit: () => process.exit(CliExitCode.internal),
      });
    });
}
