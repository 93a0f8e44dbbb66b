import { readFileSync } from 'node:fs';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { ActionWorkerError } from '../domain/errors.js';
import { CliExitCode, exitCodeForError } from './exit-codes.js';
import { registerDatasetsCommand } from './datasets-command.js';
import { registerGcCommand } from './gc-command.js';
import { registerStoreCommand } from './store-command.js';
import { registerRunCommand } from './run-command.js';
import { registerConfigCommand } from './config-command.js';
import { useConfigFile } from './settings.js';
import { registerDaemonCommand } from './daemon-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerInvocationsCommand, registerInvokeCommand } from './invocation-commands.js';
import { registerOrgsCommand, registerTokensCommand } from './tenancy-commands.js';
import { registerActionsCommand } from './actions-command.js';
import { registerTriggersCommand } from './triggers-command.js';

function version(): string {
  const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return packageJson.version;
}

export function buildProgram(): Command {
  const program = new Command()
    .name('action-worker')
    .description('An open, self-hostable executor for Roboto-style actions.')
    .version(version())
    .option(
      '--config <FILE>',
      'YAML configuration file (default: $ACTION_WORKER_CONFIG); the environment overrides it',
    )
    .showHelpAfterError()
    .exitOverride()
    .hook('preAction', (_program, action) => {
      const { config } = action.optsWithGlobals() as { config?: string };
      useConfigFile(config);
    });
  registerRunCommand(program);
  registerGcCommand(program);
  registerDatasetsCommand(program);
  registerStoreCommand(program);
  registerInvokeCommand(program);
  registerInvocationsCommand(program);
  registerDaemonCommand(program);
  registerServeCommand(program);
  registerConfigCommand(program);
  registerOrgsCommand(program);
  registerTokensCommand(program);
  registerActionsCommand(program);
  registerTriggersCommand(program);
  return program;
}

/** The CLI entry point: parses argv, runs the command, turns errors into one message and an exit code. */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : CliExitCode.usage;
      return;
    }
    const message =
      error instanceof ActionWorkerError ? error.message : ((error as Error).stack ?? String(error));
    process.stderr.write(`action-worker: ${message}\n`);
    process.exitCode = exitCodeForError(error);
  }
}
