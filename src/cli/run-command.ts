import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { cliSettings } from './settings.js';
import { InvocationStatus, statusName } from '../domain/invocation-status.js';
import { CliExitCode, exitCodeForOutcome } from './exit-codes.js';
import { writeWithBackpressure } from './terminal.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run one action against a local folder, exactly as the platform would run it.')
    .argument('[ACTION_DIR]', 'directory holding action.json and, optionally, a Dockerfile to build')
    .option('--image <REF>', 'use this local image instead of building ACTION_DIR')
    .option(
      '--input <DIR>',
      'folder imported into the store as the input dataset (same folder, same dataset)',
    )
    .option('--dataset <ID>', 'a dataset in the store whose files are inputs (repeatable)', collect, [])
    .option(
      '--files <GLOB>',
      'only input files matching this gitignore-style pattern (repeatable)',
      collect,
      [],
    )
    .option(
      '--output <DIR>',
      'also export the outputs, with their metadata and the action log, to this empty folder',
    )
    .option(
      '--query <QUERY>',
      'input files matching this RoboQL query, e.g. \'path LIKE "%.bag" AND size > 0\'',
    )
    .option('--file-id <ID>', 'an input file by id (repeatable)', collect, [])
    .option('--topic <NAME>', 'an input topic by name (repeatable)', collect, [])
    .option(
      '--upload-to <ID>',
      'the dataset outputs go to (default: the single input dataset, else a new one)',
    )
    .option('--param <NAME=VALUE>', 'parameter value (repeatable)', collect, [])
    .option('--params-file <FILE>', 'JSON object of parameter values (--param wins)')
    .option(
      '--secret <NAME=SOURCE>',
      'secret parameter; SOURCE is a value, env:VAR, file:PATH or literal:VALUE (repeatable)',
      collect,
      [],
    )
    .option('--dataset-id <ID>', 'ROBOTO_DATASET_ID (default: an id derived from the --input folder)')
    .option('--org-id <ID>', 'ROBOTO_ORG_ID (default: $ROBOTO_ORG_ID or og_local)')
    .option(
      '--timeout <DURATION>',
      'e.g. 90s, 5m, 1h; a bare number is minutes (default: action.json timeout, else 720 min)',
    )
    .option('--keep-workspace', 'keep the invocation workspace and print where it is', false)
    .option('--dry-run', 'set ROBOTO_DRY_RUN=true and skip uploading outputs', false)
    .addOption(
      new Option('--log-level <LEVEL>', 'worker log level, also ROBOTO_LOG_LEVEL in the container')
        .choices(['error', 'warning', 'info', 'debug'] as const)
        .default('info' as const),
    )
    .action(async (actionDir, options) => {
      // What does the work is loaded only now, so that `--help` and the other commands do not pay for it.
      const [
        { openContainerRuntime, openDataStore },
        { runLocal },
        { installSignalLadder },
        { transferProgress },
        { createLogger },
        settings,
      ] = await Promise.all([
        import('../app/local-adapters.js'),
        import('../app/local-run.js'),
        import('../app/signal-ladder.js'),
        import('./transfer-progress.js'),
        import('../observability/logger.js'),
        cliSettings(),
      ]);
      // A person reads the local run's log: always the readable form.
      const logger = createLogger(options.logLevel === 'warning' ? 'warn' : options.logLevel, {
        pretty: true,
      });
      const controller = new AbortController();
      const force = new AbortController();
      const progress = transferProgress(process.stderr);
      // First Ctrl-C: stop gracefully (STOPSIGNAL, grace, SIGKILL). Second: SIGKILL now, still cleaning up.
      // Third: leave at once.
      const uninstall = installSignalLadder(process, {
        graceful: () => {
          process.stderr.write('\naction-worker: cancelling (Ctrl-C again to force)\n');
          controller.abort();
        },
        force: () => {
          process.stderr.write('\naction-worker: forcing (Ctrl-C again to quit without cleaning up)\n');
          force.abort();
        },
        exit: () => process.exit(CliExitCode.cancelled),
      });
      let store: Awaited<ReturnType<typeof openDataStore>> | undefined;
      try {
        store = await openDataStore(settings, { logger, signal: controller.signal });
        const result = await runLocal(
          {
            ...(actionDir === undefined ? {} : { actionDir }),
            ...(options.image === undefined ? {} : { image: options.image }),
            ...(options.input === undefined ? {} : { inputDir: options.input }),
            ...(options.output === undefined ? {} : { outputDir: options.output }),
            datasets: options.dataset,
            files: options.files,
            ...(options.query === undefined ? {} : { query: options.query }),
            fileIds: options.fileId,
            topics: options.topic,
            ...(options.uploadTo === undefined ? {} : { uploadTo: options.uploadTo }),
            params: options.param,
            ...(options.paramsFile === undefined ? {} : { paramsFile: options.paramsFile }),
            secrets: options.secret,
            ...(options.datasetId === undefined ? {} : { datasetId: options.datasetId }),
            ...(options.orgId === undefined ? {} : { orgId: options.orgId }),
            ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
            keepWorkspace: options.keepWorkspace,
            dryRun: options.dryRun,
            logLevel: options.logLevel,
          },
          {
            runtime: openContainerRuntime({ dockerConfigDir: settings.images.dockerConfigDir }),
            store,
            settings,
            logger,
            env: process.env,
            cwd: process.cwd(),
          },
          {
            writeOutput: (stream, chunk) =>
              writeWithBackpressure(stream === 'stdout' ? process.stdout : process.stderr, chunk),
            onStatus: (status, detail) => {
              process.stderr.write(`action-worker: ${statusName(status)}${detail ? ` (${detail})` : ''}\n`);
            },
            forceSignal: force.signal,
            importTransfers: progress.labelled('import'),
            transfers: progress,
          },
          controller.signal,
        );
        progress.finish();
        const { outcome } = result;
        if (outcome.workspaceDir)
          process.stderr.write(`action-worker: workspace kept at ${outcome.workspaceDir}\n`);
        for (const refused of outcome.refused) {
          process.stderr.write(
            `action-worker: output ${refused.relativePath} not collected: ${refused.reason}\n`,
          );
        }
        if (outcome.status === InvocationStatus.Completed && outcome.uploadDatasetId) {
          process.stderr.write(
            `action-worker: ${outcome.uploaded.length} output file(s) in dataset ${outcome.uploadDatasetId} ` +
              `(action-worker datasets files ${outcome.uploadDatasetId})\n`,
          );
        }
        if (result.summaryFile) {
          process.stderr.write(
            `action-worker: outputs exported to ${result.outputDir ?? ''}\naction-worker: metadata in ${result.summaryFile}\n`,
          );
        }
        process.stderr.write(`action-worker: log in ${result.logFile}\n`);
        process.exitCode = exitCodeForOutcome(outcome);
      } finally {
        uninstall();
        await store?.close();
      }
    });
}
