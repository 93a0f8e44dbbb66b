import type { Command } from '@commander-js/extra-typings';
import { cliSettingsWithSource } from './settings.js';

export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('The configuration action-worker runs with.');
  config
    .command('check')
    .description(
      'Validate the configuration (defaults < --config FILE < environment) and print the effective settings, secrets redacted.',
    )
    .action(async () => {
      const [{ settings, configFile }, { redactSettings }, { stringify }] = await Promise.all([
        cliSettingsWithSource(),
        import('../config/load-settings.js'),
        import('yaml'),
      ]);
      process.stdout.write(
        `# action-worker configuration: defaults < ${configFile ?? '(no file)'} < environment\n${stringify(redactSettings(settings))}`,
      );
    });
}
