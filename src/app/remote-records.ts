import { ApiClient } from '../adapters/http/api-client.js';
import { UsageError } from '../domain/errors.js';
import type { LogRecordWire } from '../domain/invocation-log-records.js';
import { type InvocationStatus, isTerminal, statusName } from '../domain/invocation-status.js';
import type { InvocationRecordWire } from '../domain/invocation-wire.js';
import type { DatasetRecord, FileRecord } from '../domain/records.js';
import { type WaitOptions, pollInvocation } from './invocation-wait.js';

/** The environment variables the API token is read from, in order (never a flag: shell history, `ps`). */
export const TOKEN_VARIABLES = ['ACTION_WORKER_API_TOKEN', 'ROBOTO_API_KEY'] as const;

/** The token for `--endpoint`, from the environment only; one clear usage error when there is none. */
export function apiTokenFrom(env: NodeJS.ProcessEnv): string {
  for (const name of TOKEN_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return value.trim();
  }
  throw new UsageError(`--endpoint needs an API token in ${TOKEN_VARIABLES.join(' or ')}`, 'E_USAGE');
}

/** A page of a QuerySpecification query (spec §1.9). */
interface Page<T> {
  items: T[];
  next_token: string | null;
}

/** What I9 answers: the lines after the cursor and where to go on from. */
export interface LogStreamPage {
  items: LogRecordWire[];
  has_next: boolean;
  last_read: string | null;
}

const QUERY_PAGE = 1000;
/** I1 polling of `invocations wait --endpoint`: gentler on a shared server than the 500 ms on Redis. */
const REMOTE_POLL_MS = 1_000;
const id = (value: string) => encodeURIComponent(value);

/**
 * The records the read commands show, read through the HTTP API instead of Redis (`--endpoint`): the
 * caller's org only, as the server scopes them. Records are handed back as the API answered them.
 */
export class RemoteRecords {
  constructor(private readonly client: ApiClient) {}

  /** I1; a 404 (missing, or another org's) is the client's UsageError. */
  getInvocation(invocationId: string): Promise<InvocationRecordWire> {
    return this.client.call({ method: 'GET', path: `/v1/actions/invocations/${id(invocationId)}` });
  }

  /** I2, newest first, following `next_token` until `limit` records; `status` is a condition on last_status. */
  async listInvocations(options: {
    limit: number;
    status?: InvocationStatus;
  }): Promise<InvocationRecordWire[]> {
    const records: InvocationRecordWire[] = [];
    let after: string | null = null;
    do {
      const page: Page<InvocationRecordWire> = await this.client.call({
        method: 'POST',
        path: '/v1/actions/invocations/query',
        body: {
          ...(options.status === undefined
            ? {}
            : { condition: { field: 'last_status', comparator: 'EQUALS', value: options.status } }),
          sort_by: 'created',
          sort_direction: 'DESC',
          limit: Math.min(QUERY_PAGE, options.limit - records.length),
          ...(after === null ? {} : { after }),
        },
      });
      records.push(...page.items);
      after = page.next_token;
    } while (after && records.length < options.limit);
    return records.slice(0, options.limit);
  }

  /** I8: every log line so far, oldest first, a page at a time. */
  async *logLines(invocationId: string): AsyncGenerator<LogRecordWire> {
    let token: string | null = null;
    do {
      const page: Page<LogRecordWire> = await this.client.call({
        method: 'GET',
        path: `/v1/actions/invocations/${id(invocationId)}/logs`,
        ...(token === null ? {} : { query: { page_token: token } }),
      });
      yield* page.items;
      token = page.next_token;
    } while (token);
  }

  /** I9: the lines after `cursor` (none: from the start). */
  streamLogs(invocationId: string, cursor: string | null): Promise<LogStreamPage> {
    return this.client.call({
      method: 'GET',
      path: `/v1/actions/invocations/${id(invocationId)}/logs/stream`,
      ...(cursor === null ? {} : { query: { last_read: cursor } }),
    });
  }

  /**
   * I1 until the status is terminal (as the Roboto SDK waits: Failed ends the wait, although the workers
   * may still retry it — the wire record does not say).
   */
  waitForInvocation(
    invocationId: string,
    options: WaitOptions<InvocationRecordWire>,
  ): Promise<InvocationRecordWire> {
    return pollInvocation(
      invocationId,
      () => this.getInvocation(invocationId),
      (record) => isRemoteFinished(record),
      (record) => statusName(record.last_status as InvocationStatus),
      { pollMs: REMOTE_POLL_MS, ...options },
    );
  }

  /** D5: the caller's org's datasets, every page. */
  async listDatasets(): Promise<DatasetRecord[]> {
    const records: DatasetRecord[] = [];
    let after: string | null = null;
    do {
      const page: Page<DatasetRecord> = await this.client.call({
        method: 'POST',
        path: '/v1/datasets/query',
        body: { limit: QUERY_PAGE, ...(after === null ? {} : { after }) },
      });
      records.push(...page.items);
      after = page.next_token;
    } while (after);
    return records;
  }

  /** D2. */
  getDataset(datasetId: string): Promise<DatasetRecord> {
    return this.client.call({ method: 'GET', path: `/v1/datasets/${id(datasetId)}` });
  }

  /** D6: every file of the dataset, the page token sent both ways as the SDK does (spec §1.9). */
  async datasetFiles(datasetId: string): Promise<FileRecord[]> {
    const records: FileRecord[] = [];
    let token: string | null = null;
    do {
      const page: Page<FileRecord> = await this.client.call({
        method: 'POST',
        path: `/v1/datasets/${id(datasetId)}/files/query`,
        ...(token === null ? {} : { query: { page_token: token } }),
        body: { page_token: token, include_patterns: null, exclude_patterns: null },
      });
      records.push(...page.items);
      token = page.next_token;
    } while (token);
    return records;
  }

  /** A6: the latest version of each of the org's actions, every page. */
  async listActions(orgId: string): Promise<unknown[]> {
    const records: unknown[] = [];
    let after: string | null = null;
    do {
      const page: Page<unknown> = await this.client.call({
        method: 'POST',
        path: '/v1/actions/query',
        ownerOrgId: orgId,
        body: { limit: QUERY_PAGE, ...(after === null ? {} : { after }) },
      });
      records.push(...page.items);
      after = page.next_token;
    } while (after);
    return records;
  }

  /** A2: the action's latest version, or the one with `digest`. */
  showAction(orgId: string, name: string, digest?: string): Promise<unknown> {
    return this.client.call({
      method: 'GET',
      path: `/v1/actions/${id(name)}`,
      ownerOrgId: orgId,
      ...(digest === undefined ? {} : { query: { digest } }),
    });
  }
}

/** Whether a wire record's status is terminal (Completed, Cancelled, Failed, Deadly). */
export function isRemoteFinished(record: Pick<InvocationRecordWire, 'last_status'>): boolean {
  return isTerminal(record.last_status as InvocationStatus);
}

/** The records behind `url`, with the token from the environment. */
export function remoteRecords(url: string, env: NodeJS.ProcessEnv): RemoteRecords {
  return new RemoteRecords(new ApiClient({ url, token: apiTokenFrom(env) }));
}
