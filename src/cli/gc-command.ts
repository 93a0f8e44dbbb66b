import type { Command } from '@commander-js/extra-typings';
import { cliSettings } from './settings.js';

export function registerGcCommand(program: Command): void {
  program
    .command('gc')
    .description(
      'Remove the action containers, workspaces and secrets files left behind by runs whose process is gone, ' +
        'and temporary files a crash left in the store and the input cache (untouched for an hour), and report them.',
    )
    .option('--dry-run', 'only report what would be removed', false)
    .option('--json', 'print the report as JSON', false)
    .action(async (options) => {
      const [settings, { collectGarbage, isLiveLocalProcess, temporaryDirsOf }, { openContainerRuntime }] =
        await Promise.all([
          cliSettings(),
          import('../app/garbage-collector.js'),
          import('../app/local-adapters.js'),
        ]);
      const report = await collectGarbage({
        runtime: openContainerRuntime(),
        workspaceDir: settings.workspaceDir,
        secretsDir: settings.secretsTmpfsDir,
        temporaryDirs: temporaryDirsOf(settings),
        isLive: isLiveLocalProcess,
        dryRun: options.dryRun,
      });
      if (options.json) {
        console.log(JSON.stringify(report, null, 2));
        return;
      }
      const verb = options.dryRun ? 'would remove' : 'removed';
      for (const container of report.removedContainers) {
        console.log(`${verb} container ${container.name} (invocation ${container.invocationId})`);
      }
      for (const workspace of report.removedWorkspaces) console.log(`${verb} workspace ${workspace}`);
      for (const secrets of report.removedSecrets) console.log(`${verb} secrets ${secrets}`);
      for (const file of report.removedTemporaryFiles) console.log(`${verb} temporary file ${file}`);
      for (const kept of report.kept) console.log(`kept ${kept.what}: ${kept.why}`);
      console.log(
        `${verb} ${report.removedContainers.length} container(s), ${report.removedWorkspaces.length} workspace(s), ` +
          `${report.removedSecrets.length} secrets file(s) and ${report.removedTemporaryFiles.length} temporary file(s)`,
      );
    });
}
