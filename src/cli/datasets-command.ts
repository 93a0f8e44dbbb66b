import type { Command } from '@commander-js/extra-typings';
import { endpointOption, remoteRecordsAt } from './endpoint.js';
import { cliSettings } from './settings.js';
import { UsageError } from '../domain/errors.js';
import type { DataStore, DatasetRecord } from '../ports/data-store.js';
import type { FileRecord } from '../domain/records.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * Runs `work` on the store the settings locate, closed afterwards; its modules are loaded only by the
 * commands that use it.
 */
async function withStore<T>(work: (store: DataStore) => Promise<T>): Promise<T> {
  const [{ openDataStore }, settings] = await Promise.all([
    import('../app/local-adapters.js'),
    cliSettings(),
  ]);
  const opened = await openDataStore(settings);
  try {
    return await work(opened);
  } finally {
    await opened.close();
  }
}

/** Copying folders in and out of the store, loaded by `import` and `export` only. */
const transfers = () => import('../app/dataset-transfer.js');

async function requireDataset(datasets: DataStore, id: string): Promise<DatasetRecord> {
  const dataset = await datasets.getDataset(id);
  if (dataset === undefined) throw new UsageError(`unknown dataset "${id}"`, 'E_INVALID_INPUT');
  return dataset;
}

function printDataset(dataset: DatasetRecord, fileCount?: number): void {
  console.log(`${dataset.dataset_id}  ${dataset.name ?? ''}`.trimEnd());
  if (dataset.description) console.log(`  description: ${dataset.description}`);
  console.log(`  created:     ${dataset.created} by ${dataset.created_by}`);
  if (fileCount !== undefined) console.log(`  files:       ${fileCount}`);
  if (dataset.tags.length > 0) console.log(`  tags:        ${dataset.tags.join(', ')}`);
  if (Object.keys(dataset.metadata).length > 0)
    console.log(`  metadata:    ${JSON.stringify(dataset.metadata)}`);
}

/** A file's line, from the store's record or the API's (the same fields). */
function printFile({ record }: { record: FileRecord }): void {
  const extras = [
    record.tags.length > 0 ? `tags ${record.tags.join(',')}` : '',
    Object.keys(record.metadata).length > 0 ? `metadata ${JSON.stringify(record.metadata)}` : '',
    record.description ? `"${record.description}"` : '',
  ].filter(Boolean);
  console.log(
    `${record.file_id}  v${record.version}  ${String(record.size).padStart(12)}  ${record.relative_path}  ${extras.join('  ')}`.trimEnd(),
  );
}

export function registerDatasetsCommand(program: Command): void {
  const datasets = program
    .command('datasets')
    .description('The embedded dataset store: put data in, see what actions produced and how it was tagged.');

  datasets
    .command('create')
    .description('Create an empty dataset and print its id.')
    .option('--name <NAME>')
    .option('--description <TEXT>')
    .option('--tag <TAG>', 'a tag (repeatable)', collect, [])
    .option('--org-id <ID>', 'owning org', 'og_local')
    .action(async (options) => {
      const dataset = await withStore((datasetStore) =>
        datasetStore.createDataset({
          orgId: options.orgId,
          ...(options.name === undefined ? {} : { name: options.name }),
          ...(options.description === undefined ? {} : { description: options.description }),
          tags: options.tag,
        }),
      );
      console.log(dataset.dataset_id);
    });

  datasets
    .command('import')
    .description(
      'Import a folder: new files are added, changed ones get a new version. Prints the dataset id.',
    )
    .argument('<DIR>')
    .option('--dataset <ID>', 'into this dataset (default: the one that belongs to the folder)')
    .option('--org-id <ID>', 'owning org of a new dataset', 'og_local')
    .option(
      '--no-trigger-events',
      'do not announce the import for trigger evaluation (by default: one event, stored with the files and handed to the Redis of the settings)',
    )
    .action(async (dir, options) => {
      const [{ importFolder }, { transferProgress }] = await Promise.all([
        transfers(),
        import('./transfer-progress.js'),
      ]);
      const progress = transferProgress(process.stderr);
      let warning: string | undefined;
      const imported = await withStore(async (datasetStore) => {
        const done = await importFolder(datasetStore, dir, {
          ...(options.dataset === undefined ? {} : { datasetId: options.dataset }),
          orgId: options.orgId,
          signal: new AbortController().signal,
          transfers: progress.labelled('import'),
          announce: options.triggerEvents,
        });
        if (options.triggerEvents && done.changed.length > 0) {
          // The event is stored with the files; an unreachable Redis is a warning, never a failed import.
          const [{ handOnImportEvent }, settings] = await Promise.all([
            import('../app/import-events.js'),
            cliSettings(),
          ]);
          await handOnImportEvent(settings, datasetStore, done.importId).catch((error: unknown) => {
            warning = `the import is stored and announced, but not yet evaluated by triggers: ${error instanceof Error ? error.message : String(error)}`;
          });
        }
        return done;
      });
      progress.finish();
      console.error(
        `imported ${imported.files.length} file(s) into ${imported.isNew ? 'new ' : ''}dataset ${imported.dataset.dataset_id}`,
      );
      if (warning !== undefined) console.error(`warning: ${warning}`);
      console.log(imported.dataset.dataset_id);
    });

  datasets
    .command('upload')
    .description(
      "Upload a file or a folder's files into a dataset through the API (serve's upload transactions, " +
        '500 files per transaction); prints each dataset path uploaded.',
    )
    .argument('<DATASET_ID>')
    .argument('<PATH>', 'a file (uploaded under its name) or a folder (its files under their paths in it)')
    .option(
      '--exclude <PATTERN>',
      'leave out the files this gitignore-style pattern matches (repeatable)',
      collect,
      [],
    )
    .option('--org <ORG_ID>', 'act for this org (X-Roboto-Org-Id); by default the token’s')
    .addOption(endpointOption())
    .action(async (datasetId, source, options) => {
      if (options.endpoint === undefined || options.endpoint.trim() === '') {
        throw new UsageError('datasets upload needs --endpoint URL: uploads go through the API', 'E_USAGE');
      }
      const { uploadClient, uploadFiles, uploadSources } = await import('../app/dataset-upload.js');
      const client = uploadClient(options.endpoint, process.env);
      const sources = await uploadSources(source, options.exclude);
      let files = 0;
      await uploadFiles(client, datasetId, sources, {
        ...(options.org === undefined ? {} : { orgId: options.org }),
        origination: `action-worker datasets upload of ${source}`,
        signal: new AbortController().signal,
        onBatch: (batch) => {
          files += batch.files.length;
          const bytes = batch.files.reduce((sum, file) => sum + file.sizeBytes, 0);
          for (const file of batch.files) console.log(file.relativePath);
          console.error(
            `uploaded ${batch.files.length} file(s), ${bytes} bytes, in transaction ${batch.transactionId}`,
          );
        },
      });
      console.error(`uploaded ${files} file(s) into dataset ${datasetId}`);
    });

  datasets
    .command('list')
    .description('List the datasets.')
    .option('--json', 'print JSON', false)
    .addOption(endpointOption())
    .action(async (options) => {
      const remote = await remoteRecordsAt(options.endpoint);
      const all =
        remote === undefined
          ? await withStore((datasetStore) => datasetStore.listDatasets())
          : await remote.listDatasets();
      if (options.json) console.log(JSON.stringify(all, null, 2));
      else
        for (const dataset of all)
          console.log(
            `${dataset.dataset_id}  ${dataset.tags.join(',').padEnd(20)}  ${dataset.name ?? ''}`.trimEnd(),
          );
    });

  datasets
    .command('show')
    .description('Show a dataset: description, tags, metadata, file count.')
    .argument('<ID>')
    .option('--json', 'print JSON', false)
    .addOption(endpointOption())
    .action(async (id, options) => {
      const remote = await remoteRecordsAt(options.endpoint);
      const { dataset, files } =
        remote === undefined
          ? await withStore(async (datasetStore) => ({
              dataset: await requireDataset(datasetStore, id),
              files: await datasetStore.listFiles(id),
            }))
          : { dataset: await remote.getDataset(id), files: await remote.datasetFiles(id) };
      if (options.json) console.log(JSON.stringify({ ...dataset, file_count: files.length }, null, 2));
      else printDataset(dataset, files.length);
    });

  datasets
    .command('files')
    .description("List a dataset's files with their version, size, tags, metadata and description.")
    .argument('<ID>')
    .option('--json', 'print the file records as JSON', false)
    .addOption(endpointOption())
    .action(async (id, options) => {
      const remote = await remoteRecordsAt(options.endpoint);
      if (remote !== undefined) {
        const records = await remote.datasetFiles(id);
        if (options.json) console.log(JSON.stringify(records, null, 2));
        else for (const record of records) printFile({ record });
        return;
      }
      const files = await withStore((datasetStore) => datasetStore.listFiles(id));
      if (options.json)
        console.log(
          JSON.stringify(
            files.map((file) => ({ ...file.record, sha256: file.sha256 })),
            null,
            2,
          ),
        );
      else for (const file of files) printFile(file);
    });

  datasets
    .command('export')
    .description(
      "Copy a dataset's files to an empty folder, with their metadata in .metadata/action-worker.json.",
    )
    .argument('<ID>')
    .argument('<DIR>')
    .action(async (id, dir) => {
      const { assertEmptyOrMissing, exportFiles } = await transfers();
      const { files, summary } = await withStore(async (datasetStore) => {
        await requireDataset(datasetStore, id);
        await assertEmptyOrMissing(dir, 'DIR');
        const all = await datasetStore.listFiles(id);
        return {
          files: all,
          summary: await exportFiles(
            datasetStore,
            all.map((file) => file.record.file_id),
            id,
            dir,
          ),
        };
      });
      console.error(`exported ${files.length} file(s); metadata in ${summary}`);
    });

  datasets
    .command('add-topic')
    .description('Register a topic on a file, so topic selectors can find it.')
    .argument('<FILE_ID>')
    .argument('<TOPIC_NAME>')
    .option('--schema <NAME>', 'schema name, e.g. sensor_msgs/msg/Imu')
    .option('--message-count <N>', 'number of messages')
    .option('--start-time <NS>', 'time of the first message, in nanoseconds since the epoch')
    .option('--end-time <NS>', 'time of the last message, in nanoseconds since the epoch')
    .action(async (fileId, topicName, options) => {
      const whole = (value: string | undefined, flag: string): number | null => {
        if (value === undefined) return null;
        if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a whole number`);
        return Number(value);
      };
      const topic = {
        topicName,
        schemaName: options.schema ?? null,
        messageCount: whole(options.messageCount, '--message-count'),
        startTime: whole(options.startTime, '--start-time'),
        endTime: whole(options.endTime, '--end-time'),
      };
      const added = await withStore((datasetStore) => datasetStore.addTopic(fileId, topic));
      console.log(added.topic_id);
    });
}
