import { stat } from 'node:fs/promises';
import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliSettings } from './settings.js';
import { endpointOption, remoteRecordsAt } from './endpoint.js';
import { parseDurationMs } from '../domain/duration.js';
import { UsageError } from '../domain/errors.js';
import {
  ALL_STATUSES,
  InvocationStatus,
  isTerminal,
  parseStatus,
  statusName,
} from '../domain/invocation-status.js';
import type { InvocationRecordWire } from '../domain/invocation-wire.js';
import type { InvocationRecord } from '../ports/invocation-store.js';
import type { ControlPlane } from '../app/control-plane.js';
import type { RemoteRecords } from '../app/remote-records.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import type { ActionStore } from '../ports/action-store.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Exit codes of `invoke --wait` and `invocations wait`, documented in the README. */
export const WaitExitCode = {
  completed: 0,
  failed: 1,
  deadly: 70,
  stillRunning: 75,
  cancelled: 130,
} as const;

function exitCodeFor(record: { last_status: number }): number {
  switch (record.last_status) {
    case InvocationStatus.Completed:
      return WaitExitCode.completed;
    case InvocationStatus.Cancelled:
      return WaitExitCode.cancelled;
    case InvocationStatus.Deadly:
      return WaitExitCode.deadly;
    default:
      return WaitExitCode.failed;
  }
}

/** The invocation use cases; loaded when a command runs, as they bring the pipeline's modules along. */
const invocationsApp = () => import('../app/invocations.js');

/** Runs `use` against the queue and the records the settings locate; the Redis clients load only now. */
async function withControlPlane<T>(use: (plane: ControlPlane) => Promise<T>): Promise<T> {
  const [{ usingControlPlane }, settings] = await Promise.all([
    import('../app/control-plane.js'),
    cliSettings(),
  ]);
  return usingControlPlane(settings, use);
}

/** Whether `invoke`'s argument names a directory (today's ACTION_DIR), rather than a registered action. */
async function isDirectory(text: string): Promise<boolean> {
  try {
    return (await stat(text)).isDirectory();
  } catch {
    return false;
  }
}

/** Runs `use` against the registered actions (Redis, beside the records); the clients load only now. */
async function withRegisteredActions<T>(
  use: (actions: ActionStore, settings: WorkerSettings) => Promise<T>,
): Promise<T> {
  const [{ usingActions }, settings] = await Promise.all([import('../app/actions.js'), cliSettings()]);
  return usingActions(settings, (actions) => use(actions, settings));
}

/** A status's name; a value this version does not know (from another server) as its number. */
function nameOf(status: number): string {
  const known = parseStatus(status);
  return known === undefined ? String(status) : statusName(known);
}

/** What the Redis record and the API's wire record both have to show. */
interface StatusHistory {
  last_status: number;
  status: readonly { status: number; detail?: string | null; timestamp: string }[];
}

function statusLine(record: StatusHistory): string {
  const last = record.status[record.status.length - 1];
  const status = nameOf(last ? last.status : record.last_status);
  return `${status}${last?.detail ? ` (${last.detail})` : ''}`;
}

/** The waits of `invocations wait` and `invoke --wait`: on the store, or over the API (`--endpoint`). */
type Wait = (options: {
  timeoutMs?: number;
  onStatus: (record: StatusHistory) => void;
}) => Promise<StatusHistory>;

const storeWait =
  (plane: ControlPlane, invocationId: string): Wait =>
  async (options) =>
    (await invocationsApp()).waitForInvocation(plane.store, invocationId, options);

const remoteWait =
  (remote: RemoteRecords, invocationId: string): Wait =>
  (options) =>
    remote.waitForInvocation(invocationId, options);

/** Follows to the end, printing each status on stderr; sets the exit code from the final status. */
async function follow(wait: Wait, invocationId: string, timeoutMs: number | undefined): Promise<void> {
  const { WaitTimeoutError } = await import('../app/invocation-wait.js');
  try {
    const record = await wait({
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      onStatus: (partial) => {
        process.stderr.write(`action-worker: ${invocationId} ${statusLine(partial)}\n`);
      },
    });
    process.exitCode = exitCodeFor(record);
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    process.stderr.write(`action-worker: ${error.message}\n`);
    process.exitCode = WaitExitCode.stillRunning;
  }
}

export function registerInvokeCommand(program: Command): void {
  program
    .command('invoke')
    .description('Queue an invocation for the daemons and print its id.')
    .argument(
      '[ACTION_DIR|NAME[@DIGEST]]',
      'directory holding action.json (its image_uri is the image unless --image), else a registered action of the org (its latest version, or the one with that digest)',
    )
    .option('--image <REF>', 'the image the workers run (pulled, or found on their engine)')
    .option('--dataset <ID>', 'input dataset (repeatable; the first is ROBOTO_DATASET_ID)', collect, [])
    .option(
      '--files <GLOB>',
      'only input files matching this gitignore-style pattern (repeatable)',
      collect,
      [],
    )
    .option('--query <QUERY>', 'input files matching this RoboQL query')
    .option('--file-id <ID>', 'an input file by id (repeatable)', collect, [])
    .option('--param <NAME=VALUE>', 'parameter value (repeatable)', collect, [])
    .option('--params-file <FILE>', 'JSON object of parameter values, overridden by --param')
    .option(
      '--secret <NAME=KEY>',
      "secret parameter: KEY names a secret in the workers' secret store (repeatable)",
      collect,
      [],
    )
    .option(
      '--upload-to <ID>',
      'the dataset outputs go to (default: the single input dataset, else a new dataset)',
    )
    .option(
      '--timeout <DURATION>',
      'e.g. 90s, 5m, 1h (default: action.json timeout, else the workers’ default)',
    )
    .option('--idempotency-id <ID>', 'a second invoke with the same id returns the first invocation')
    .option('--org-id <ID>', 'the org (default: ROBOTO_ORG_ID, else og_local)')
    .option('--dry-run', 'ROBOTO_DRY_RUN=true: the action runs, its outputs are not uploaded', false)
    .addOption(
      new Option('--log-level <LEVEL>', 'ROBOTO_LOG_LEVEL in the container')
        .choices(['ERROR', 'WARNING', 'INFO', 'DEBUG'] as const)
        .default('INFO' as const),
    )
    .option('--wait', 'follow the invocation to its end; exit 0 only when it Completed', false)
    .option('--json', 'print the invocation record as JSON', false)
    .action(async (actionDirOrName, options) => {
      const { buildInvocationRequest, buildRegisteredInvocationRequest, submitInvocation } =
        await invocationsApp();
      const given = {
        ...(options.image === undefined ? {} : { image: options.image }),
        datasets: options.dataset,
        files: options.files,
        ...(options.query === undefined ? {} : { query: options.query }),
        fileIds: options.fileId,
        params: options.param,
        ...(options.paramsFile === undefined ? {} : { paramsFile: options.paramsFile }),
        secrets: options.secret,
        ...(options.uploadTo === undefined ? {} : { uploadTo: options.uploadTo }),
        ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
        ...(options.idempotencyId === undefined ? {} : { idempotencyId: options.idempotencyId }),
        ...(options.orgId === undefined ? {} : { orgId: options.orgId }),
        dryRun: options.dryRun,
        logLevel: options.logLevel,
      };
      const request =
        actionDirOrName === undefined || (await isDirectory(actionDirOrName))
          ? await buildInvocationRequest(
              { ...given, ...(actionDirOrName === undefined ? {} : { actionDir: actionDirOrName }) },
              process.env,
            )
          : await withRegisteredActions((actions, settings) =>
              buildRegisteredInvocationRequest(actions, actionDirOrName, given, {
                env: process.env,
                defaultTimeoutMinutes: settings.defaultTimeoutMinutes,
              }),
            );
      await withControlPlane(async (plane) => {
        const { record, isNew } = await submitInvocation(plane.store, plane.queue, request);
        if (!isNew) {
          process.stderr.write(
            `action-worker: idempotency id "${request.idempotency_id ?? ''}" was used before: invocation ${record.invocation_id} (${statusName(record.last_status)})\n`,
          );
        }
        console.log(options.json ? JSON.stringify(record, null, 2) : record.invocation_id);
        if (options.wait)
          await follow(storeWait(plane, record.invocation_id), record.invocation_id, undefined);
      });
    });
}

function parseStatusName(text: string): InvocationStatus {
  const found = ALL_STATUSES.find((status) => statusName(status).toLowerCase() === text.toLowerCase());
  if (found === undefined) {
    throw new UsageError(`--status "${text}" must be one of ${ALL_STATUSES.map(statusName).join(', ')}`);
  }
  return found;
}

function parseCreatedBefore(text: string): Date {
  if (/^\d+(\.\d+)?\s*[a-z]*$/i.test(text))
    return new Date(Date.now() - parseDurationMs(text, '--created-before'));
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    throw new UsageError(`--created-before "${text}" must be a time (2026-11-23T10:00:00Z) or an age (2h)`);
  }
  return date;
}

/**
 * One invocation as `invocations show/list` print it, from the Redis record or the API's wire record; the
 * wire record has no attempt count or cancel flag, so those lines are the Redis record's only.
 */
interface InvocationView extends StatusHistory {
  invocation_id: string;
  org_id: string;
  created: string;
  finished: boolean;
  image: string;
  /** The attempt and how many times it was handed back. */
  attempt?: { number: number; handbacks: number };
  heartbeat: string | null;
  cancelRequested?: boolean;
}

function storedView(record: InvocationRecord): InvocationView {
  return {
    ...record,
    finished: record.is_finished,
    image: `${record.request.action.image}${record.image ? ` (${record.image.id}${record.image.digest ? `, ${record.image.digest}` : ''})` : ''}`,
    attempt: { number: record.attempt, handbacks: record.handbacks },
    heartbeat: record.last_heartbeat,
    cancelRequested: record.is_cancel_requested,
  };
}

function wireView(record: InvocationRecordWire): InvocationView {
  const { container_image_uri: uri, container_image_digest: digest } = record.provenance.executable;
  return {
    ...record,
    finished: isTerminal(record.last_status as InvocationStatus),
    image: `${uri ?? '-'}${digest ? ` (${digest})` : ''}`,
    heartbeat: record.last_heartbeat,
  };
}

function describe(view: InvocationView): string {
  const lines = [
    `invocation  ${view.invocation_id}`,
    `status      ${statusLine(view)}${view.finished ? '' : ' (not finished)'}`,
    `org         ${view.org_id}`,
    `created     ${view.created}`,
    `image       ${view.image}`,
    ...(view.attempt === undefined
      ? []
      : [
          `attempt     ${view.attempt.number}${view.attempt.handbacks > 0 ? ` (${view.attempt.handbacks} handed back)` : ''}`,
        ]),
    `heartbeat   ${view.heartbeat ?? '-'}`,
    ...(view.cancelRequested ? ['cancel      requested'] : []),
    'history',
    ...view.status.map(
      (entry) => `  ${entry.timestamp}  ${nameOf(entry.status)}${entry.detail ? `  ${entry.detail}` : ''}`,
    ),
  ];
  return lines.join('\n');
}

function listLine(view: InvocationView): string {
  return [
    view.invocation_id,
    nameOf(view.last_status).padEnd(11),
    ...(view.attempt === undefined ? [] : [`attempt ${view.attempt.number}`]),
    view.created,
    view.image,
  ].join('  ');
}

/** `invocations logs` over the API: the lines so far (I8), or with `follow` the stream (I9) to the end. */
async function remoteLogs(remote: RemoteRecords, invocationId: string, follow: boolean): Promise<void> {
  if (!follow) {
    for await (const line of remote.logLines(invocationId)) process.stdout.write(`${line.log}\n`);
    return;
  }
  let cursor: string | null = null;
  for (;;) {
    // Read before draining: whatever the invocation wrote before it ended is in the stream that follows.
    const finished = isTerminal((await remote.getInvocation(invocationId)).last_status as InvocationStatus);
    for (;;) {
      const page = await remote.streamLogs(invocationId, cursor);
      for (const line of page.items) process.stdout.write(`${line.log}\n`);
      cursor = page.last_read ?? cursor;
      if (!(page.has_next && page.last_read)) break;
    }
    if (finished) return;
    await sleep(2_000);
  }
}

export function registerInvocationsCommand(program: Command): void {
  const invocations = program.command('invocations').description('Look at, follow and cancel invocations.');

  invocations
    .command('list')
    .description('Invocations, newest first.')
    .option('--status <STATUS>', 'only those whose current status is this (e.g. Processing)')
    .option('--limit <N>', 'at most this many', '20')
    .option('--json', 'print the records as JSON', false)
    .addOption(endpointOption())
    .action(async (options) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit <= 0)
        throw new UsageError(`--limit "${options.limit}" must be a positive whole number`);
      const status = options.status === undefined ? undefined : parseStatusName(options.status);
      const query = { limit, ...(status === undefined ? {} : { status }) };
      const print = <R>(records: R[], view: (record: R) => InvocationView) => {
        if (options.json) console.log(JSON.stringify(records, null, 2));
        else for (const record of records) console.log(listLine(view(record)));
      };
      const remote = await remoteRecordsAt(options.endpoint);
      if (remote !== undefined) {
        print(await remote.listInvocations(query), wireView);
        return;
      }
      await withControlPlane(async (plane) => {
        print(await plane.store.list(query), storedView);
      });
    });

  invocations
    .command('show')
    .description('One invocation: its request, status history, attempt, heartbeat and image.')
    .argument('<ID>')
    .option('--json', 'print the record as JSON', false)
    .addOption(endpointOption())
    .action(async (invocationId, options) => {
      const remote = await remoteRecordsAt(options.endpoint);
      if (remote !== undefined) {
        const record = await remote.getInvocation(invocationId);
        console.log(options.json ? JSON.stringify(record, null, 2) : describe(wireView(record)));
        return;
      }
      await withControlPlane(async (plane) => {
        const record = await plane.store.get(invocationId);
        if (record === undefined) throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
        console.log(options.json ? JSON.stringify(record, null, 2) : describe(storedView(record)));
      });
    });

  invocations
    .command('logs')
    .description(
      "The action's output (secrets masked): the stored log, or what a running attempt has written.",
    )
    .argument('<ID>')
    .option('--follow', 'keep printing until the invocation is finished', false)
    .addOption(endpointOption())
    .action(async (invocationId, options) => {
      const remote = await remoteRecordsAt(options.endpoint);
      if (remote !== undefined) {
        await remoteLogs(remote, invocationId, options.follow);
        return;
      }
      await withControlPlane(async (plane) => {
        const record = await plane.store.get(invocationId);
        if (record === undefined) throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
        if (!options.follow && record.is_finished) {
          process.stdout.write(await plane.store.getLog(invocationId));
          return;
        }
        let cursor = '0';
        let attempt: number | undefined;
        for (;;) {
          const finished = (await plane.store.get(invocationId))?.is_finished ?? true;
          const read = await plane.store.readLiveLog(
            invocationId,
            cursor,
            options.follow && !finished ? 2_000 : 0,
          );
          cursor = read.cursor;
          if (finished && attempt === undefined && read.entries.length === 0) {
            // Nothing live left of a finished invocation (its stream expired): its stored log is the output.
            process.stdout.write(await plane.store.getLog(invocationId));
            return;
          }
          for (const entry of read.entries) {
            if (attempt !== undefined && entry.attempt !== attempt)
              process.stdout.write(`\n--- attempt ${entry.attempt} ---\n`);
            attempt = entry.attempt;
            process.stdout.write(entry.text);
          }
          if (!options.follow || (finished && read.entries.length === 0)) return;
        }
      });
    });

  invocations
    .command('cancel')
    .description('Cancel an invocation, queued or running, from any host.')
    .argument('[ID]')
    .option('--all-active', 'cancel every invocation not finished yet', false)
    .option('--created-before <TIME>', 'with --all-active: only those created before this time or age (2h)')
    .action(async (invocationId, options) => {
      if ((invocationId === undefined) === !options.allActive) {
        throw new UsageError('give an invocation id or --all-active (not both)');
      }
      const createdBefore =
        options.createdBefore === undefined ? undefined : parseCreatedBefore(options.createdBefore);
      const { activeInvocations, cancelInvocation } = await invocationsApp();
      await withControlPlane(async (plane) => {
        const ids =
          invocationId === undefined
            ? (await activeInvocations(plane.store, createdBefore)).map((record) => record.invocation_id)
            : [invocationId];
        for (const id of ids) {
          const result = await cancelInvocation(plane.store, plane.queue, id);
          console.log(`${id} ${result === 'requested' ? 'cancel requested (its worker stops it)' : result}`);
        }
        if (invocationId === undefined) console.log(`${ids.length} invocation(s)`);
      });
    });

  invocations
    .command('wait')
    .description('Wait for an invocation to finish; exit 0 only when it Completed.')
    .argument('<ID>')
    .option('--timeout <DURATION>', 'give up waiting after this long (exit 75)')
    .addOption(endpointOption())
    .action(async (invocationId, options) => {
      const timeoutMs =
        options.timeout === undefined ? undefined : parseDurationMs(options.timeout, '--timeout');
      const remote = await remoteRecordsAt(options.endpoint);
      if (remote !== undefined) {
        await follow(remoteWait(remote, invocationId), invocationId, timeoutMs);
        return;
      }
      await withControlPlane(async (plane) => {
        await follow(storeWait(plane, invocationId), invocationId, timeoutMs);
      });
    });
}
