import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import type { FolderStoreReport } from '../app/folder-store-upgrade.js';
import { CliExitCode } from './exit-codes.js';
import { cliSettings } from './settings.js';

/** The folder store's state and what to do next, as lines for a person. */
function statusLines(report: FolderStoreReport): string[] {
  const lines = [`store:        ${report.storeDir}`, `database:     ${report.database}`];
  const progress = report.progress;
  switch (report.state) {
    case 'none':
      lines.push('folder store: none (nothing to migrate)');
      break;
    case 'pending':
      lines.push(
        progress === undefined
          ? 'folder store: not migrated yet'
          : `folder store: migration started ${progress.started}, not finished: ` +
              `${progress.datasetsDone} dataset(s), ${progress.filesDone} file(s) copied so far`,
        `kept:         ${report.storeDir}/{datasets,index,locks}, untouched`,
        'next:         action-worker store migrate (the worker also does it when it starts)',
      );
      break;
    case 'verified':
      lines.push(
        `folder store: migrated and verified ${progress?.verified ?? ''}: ` +
          `${progress?.datasetsDone ?? 0} dataset(s), ${progress?.filesDone ?? 0} file(s)`,
        `kept:         ${report.storeDir}/{datasets,index,locks}, untouched until you confirm`,
        `next:         action-worker store migrate --confirm (moves them into ${report.migratedDir})`,
      );
      break;
    case 'confirmed':
      lines.push(
        `folder store: migrated, verified ${progress?.verified ?? ''} and confirmed: ` +
          `${progress?.datasetsDone ?? 0} dataset(s), ${progress?.filesDone ?? 0} file(s)`,
        `kept:         ${report.migratedDir} (the old folder store: remove it when you no longer need it)`,
      );
      break;
  }
  return lines;
}

export function registerStoreCommand(program: Command): void {
  const store = program
    .command('store')
    .description(
      'The dataset store itself: upgrading a folder store from before into the metadata database.',
    );

  store
    .command('status')
    .description(
      'Say whether a folder store from before is migrated, verified or confirmed, and what is next.',
    )
    .action(async () => {
      const [{ folderStoreStatus }, settings] = await Promise.all([
        import('../app/folder-store-upgrade.js'),
        cliSettings(),
      ]);
      for (const line of statusLines(await folderStoreStatus(settings))) console.log(line);
    });

  store
    .command('migrate')
    .description(
      'Copy a folder store from before into the metadata database and verify every record (resuming a ' +
        'migration that stopped); the folder store is kept until --confirm.',
    )
    .option(
      '--confirm',
      'once verified, move the old folder store aside (into folder-store.migrated/)',
      false,
    )
    .addOption(
      new Option('--log-level <LEVEL>', 'progress log level')
        .choices(['error', 'warn', 'info', 'debug'] as const)
        .default('info' as const),
    )
    .action(async (options) => {
      const [{ upgradeFolderStore }, { installSignalLadder }, { createLogger }, settings] = await Promise.all(
        [
          import('../app/folder-store-upgrade.js'),
          import('../app/signal-ladder.js'),
          import('../observability/logger.js'),
          cliSettings(),
        ],
      );
      const logger = createLogger(options.logLevel, { pretty: true });
      const controller = new AbortController();
      // First Ctrl-C: stop after the dataset being copied (what is copied stays; the next run resumes).
      // Second: leave at once, which is safe too (a dataset is copied in one transaction).
      const uninstall = installSignalLadder(process, {
        graceful: () => {
          process.stderr.write('\naction-worker: stopping after this dataset (Ctrl-C again to quit now)\n');
          controller.abort();
        },
        force: () => process.exit(CliExitCode.cancelled),
        exit: () => process.exit(CliExitCode.cancelled),
      });
      let report: FolderStoreReport;
      try {
        report = await upgradeFolderStore(settings, {
          logger,
          signal: controller.signal,
          confirm: options.confirm,
        });
      } finally {
        uninstall();
      }
      const { migration } = report;
      if (report.state === 'none') {
        console.log(`no folder store in ${report.storeDir}: nothing to migrate`);
      } else if (migration?.alreadyDone) {
        console.log('already migrated and verified: nothing to copy');
      } else if (migration !== undefined) {
        console.log(
          `migrated and verified ${migration.datasets} dataset(s), ${migration.files} file(s) and ` +
            `${migration.topics ?? 0} topic(s): every record read back equal, every blob present`,
        );
      }
      if (report.moved !== undefined) {
        console.log(
          report.moved.length === 0
            ? `nothing left to move: the old folder store is in ${report.migratedDir}`
            : `moved ${report.moved.join(', ')} into ${report.migratedDir}`,
        );
      }
      for (const line of statusLines(report)) console.log(line);
    });
}
