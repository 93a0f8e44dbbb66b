import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApi } from '../../src/app/api-server.js';
import { ActionRecord } from '../../src/domain/action-record.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { InvocationRecordWire } from '../../src/domain/invocation-wire.js';
import type { TestOrg } from '../support/api-test-server.js';
import { BASE_IMAGE } from '../support/paths.js';
import { eventually } from '../support/poll.js';
import { invokeBody } from '../support/sdk-bodies.js';
import { type ServeWithDaemon, serveWithDaemon } from '../support/serve-with-daemon.js';

/** Small log pages, so the numbered lines span several; one invocation per cancel-all call. */
const LOG_PAGE_SIZE = 4;
const CANCEL_ALL_BATCH = 1;
const LINES = 25;

/**
 * The whole path through `serve` alone: a real API server and a real daemon on one private Redis prefix,
 * queue and store; an org and its token made as `orgs create` / `tokens create` make them; then nothing
 * but HTTP calls with that bearer token, as the SDK makes them.
 */
describe('serve and a daemon, end to end through HTTP only', () => {
  let setup: ServeWithDaemon;
  let api: RunningApi;
  let token = '';
  let otherToken = '';
  let orgId = '';

  beforeAll(async () => {
    setup = await serveWithDaemon({
      name: 'e2e',
      orgs: [
        { name: 'e2e', tokenName: 'e2e' },
        { name: 'e2e-other', tokenName: 'other' },
      ],
      server: { invocationTuning: { logPageSize: LOG_PAGE_SIZE, cancelAllBatch: CANCEL_ALL_BATCH } },
    });
    ({ api } = setup.server);
    const [own, other] = setup.server.orgs as [TestOrg, TestOrg];
    ({ orgId, token } = own);
    otherToken = other.token;
  });

  afterAll(async () => {
    await setup.close();
  });

  async function call(
    path: string,
    init: { body?: unknown; bearer?: string } = {},
  ): Promise<{ status: number; data: Record<string, unknown>; error: unknown }> {
    const answer = await setup.server.request(path, {
      token: init.bearer ?? token,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const json = JSON.parse(answer.text) as { data: Record<string, unknown>; error: unknown };
    return { status: answer.status, data: json.data, error: json.error };
  }

  async function ok(path: string, body?: unknown): Promise<Record<string, unknown>> {
    const answer = await call(path, body === undefined ? {} : { body });
    expect(answer.status, `${path}: ${JSON.stringify(answer.error)}`).toBe(200);
    return answer.data;
  }

  async function createAction(name: string, script: string): Promise<ActionRecord> {
    return ActionRecord.parse(
      await ok('/v1/actions', {
        name,
        uri: BASE_IMAGE,
        container_parameters: { entry_point: ['sh', '-c'], command: [script] },
      }),
    );
  }

  /** The SDK's `action.invoke()` body (spec A8), with these keys changed. */
  async function invoke(
    action: ActionRecord,
    extra: Record<string, unknown> = {},
    options: { latest?: boolean } = {},
  ): Promise<InvocationRecordWire> {
    const query = options.latest ? '' : `?digest=${action.digest}`;
    return InvocationRecordWire.parse(
      await ok(`/v1/actions/${action.name}/invoke${query}`, invokeBody(extra)),
    );
  }

  const get = async (invocationId: string) =>
    InvocationRecordWire.parse(await ok(`/v1/actions/invocations/${invocationId}`));

  /** Polls GET …/{id} until the status is `status`, as the SDK's wait_for_terminal_status polls. */
  const waitForStatus = (invocationId: string, status: number, timeoutMs = 90_000) =>
    eventually(
      async () => {
        const record = await get(invocationId);
        return record.last_status === status ? record : undefined;
      },
      timeoutMs,
      `invocation ${invocationId} to reach status ${status}`,
      250,
    );

  it('runs a registered action to Completed: its log page by page and by cursor, its output uploaded', async () => {
    const script = [
      `i=1; while [ $i -le ${LINES} ]; do echo "line $i"; i=$((i+1)); done`,
      'echo "made by e2e" > "$ROBOTO_OUTPUT_DIR/result.txt"',
    ].join('\n');
    const action = await createAction('numbered-lines', script);
    const destination = await ok('/v1/datasets', { name: 'e2e-outputs' });
    const datasetId = destination.dataset_id as string;

    const invoked = await invoke(action, {
      upload_destination: { destination_type: 'Dataset', destination_id: datasetId },
    });
    expect(invoked.last_status).toBe(InvocationStatus.Queued);
    expect(invoked.provenance.action).toEqual({ name: action.name, org_id: orgId, digest: action.digest });
    const id = invoked.invocation_id;
    // Another org's token: as if there were no such invocation.
    expect((await call(`/v1/actions/invocations/${id}`, { bearer: otherToken })).status).toBe(404);

    const done = await waitForStatus(id, InvocationStatus.Completed);
    expect(done.status.map((entry) => entry.status)).toContain(InvocationStatus.Processing);

    // GET …/logs, following next_token until null: every line once, in order.
    const paged: string[] = [];
    const pageSizes: number[] = [];
    let pageToken: string | null = null;
    do {
      const page = await ok(
        `/v1/actions/invocations/${id}/logs${pageToken === null ? '' : `?page_token=${encodeURIComponent(pageToken)}`}`,
      );
      const items = page.items as { log: string }[];
      pageSizes.push(items.length);
      paged.push(...items.map((item) => item.log));
      pageToken = page.next_token as string | null;
    } while (pageToken !== null);
    const numbered = paged.filter((line) => /^line \d+$/.test(line));
    expect(numbered).toEqual(Array.from({ length: LINES }, (_, index) => `line ${index + 1}`));
    expect(pageSizes.length).toBeGreaterThan(2);
    expect(pageSizes.slice(0, -1).every((size) => size === LOG_PAGE_SIZE)).toBe(true);

    // GET …/logs/stream: from no cursor to the end, the same lines; past the end, the cursor comes back.
    const streamed: string[] = [];
    let cursor: string | null = null;
    for (;;) {
      const read = await ok(
        `/v1/actions/invocations/${id}/logs/stream${cursor === null ? '' : `?last_read=${encodeURIComponent(cursor)}`}`,
      );
      streamed.push(...(read.items as { log: string }[]).map((item) => item.log));
      cursor = read.last_read as string | null;
      expect(cursor).not.toBeNull();
      if (read.has_next !== true) break;
    }
    expect(streamed).toEqual(paged);
    const after = await ok(
      `/v1/actions/invocations/${id}/logs/stream?last_read=${encodeURIComponent(cursor ?? '')}`,
    );
    expect(after).toEqual({ items: [], has_next: false, last_read: cursor });
    expect((await call(`/v1/actions/invocations/${id}/logs`, { bearer: otherToken })).status).toBe(404);

    // The output: in the destination dataset, which the API shows to its org only.
    expect((await ok(`/v1/datasets/${datasetId}`)).dataset_id).toBe(datasetId);
    expect((await call(`/v1/datasets/${datasetId}`, { bearer: otherToken })).status).toBe(404);
    // Its file, by path (D7), then its bytes through a signed URL (F4), which needs no token.
    const byPath = `/v1/files/record/path/result.txt/association/${datasetId}`;
    const file = await ok(byPath);
    expect(file).toMatchObject({ relative_path: 'result.txt', association_id: datasetId, org_id: orgId });
    expect((await call(byPath, { bearer: otherToken })).status).toBe(404);
    const fileId = file.file_id as string;
    expect((await call(`/v1/files/${fileId}/signed-url`, { bearer: otherToken })).status).toBe(404);
    const { url } = (await ok(`/v1/files/${fileId}/signed-url`)) as { url: string };
    expect(new URL(url).origin).toBe(api.url);
    const download = await fetch(url);
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('made by e2e\n');
  });

  it('cancels a running invocation: Processing, then Cancelled', async () => {
    const action = await createAction('sleeper', 'echo started; sleep 300');
    // By name alone: the latest version.
    const invoked = await invoke(action, {}, { latest: true });
    expect(invoked.provenance.action.digest).toBe(action.digest);
    const id = invoked.invocation_id;
    await waitForStatus(id, InvocationStatus.Processing);
    // Another org's token cannot cancel it: it answers as if there were no such invocation.
    expect(
      (await call(`/v1/actions/invocations/${id}/cancel`, { body: {}, bearer: otherToken })).status,
    ).toBe(404);
    expect((await get(id)).last_status).toBe(InvocationStatus.Processing);
    await ok(`/v1/actions/invocations/${id}/cancel`, {});
    const cancelled = await waitForStatus(id, InvocationStatus.Cancelled);
    expect(cancelled.status.map((entry) => entry.status)).toContain(InvocationStatus.Processing);
  });

  it('cancels every active invocation created before now, a batch per call, until has_more is false', async () => {
    const action = await createAction('sleeper-too', 'echo started; sleep 300');
    const first = await invoke(action);
    const second = await invoke(action);
    const latest = Math.max(Date.parse(first.created), Date.parse(second.created));
    // "Before now" must include both: wait (no fixed sleep) for the clock to pass their creation.
    await eventually(() => Date.now() > latest || undefined, 5_000, 'the clock to pass the creations', 5);
    const createdBefore = new Date().toISOString();

    // Another org's cancel-all touches none of ours.
    const foreign = await call('/v1/actions/invocations/cancel/all', {
      body: { created_before: createdBefore },
      bearer: otherToken,
    });
    expect(foreign.data).toEqual({ success_count: 0, failure_count: 0, has_more: false });

    let success = 0;
    let failure = 0;
    let calls = 0;
    for (;;) {
      const batch = await ok('/v1/actions/invocations/cancel/all', { created_before: createdBefore });
      calls += 1;
      success += batch.success_count as number;
      failure += batch.failure_count as number;
      if (batch.has_more !== true) break;
      expect(calls).toBeLessThan(10);
    }
    expect({ success, failure }).toEqual({ success: 2, failure: 0 });
    expect(calls).toBe(2);
    await waitForStatus(first.invocation_id, InvocationStatus.Cancelled);
    await waitForStatus(second.invocation_id, InvocationStatus.Cancelled);
    expect(
      await ok('/v1/actions/invocations/cancel/all', { created_before: new Date().toISOString() }),
    ).toEqual({
      success_count: 0,
      failure_count: 0,
      has_more: false,
    });
  });
});
